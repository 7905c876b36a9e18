//! Namespaces: each type really new (inode differs from the host's), really shared when not
//! configured, really joined by path; user namespace mappings and time offsets seen inside.
mod common;

use common::*;
use serde_json::json;

/// (OCI type, /proc/<pid>/ns file)
const TYPES: &[(&str, &str)] = &[
    ("pid", "pid"),
    ("mount", "mnt"),
    ("uts", "uts"),
    ("ipc", "ipc"),
    ("network", "net"),
    ("cgroup", "cgroup"),
];

fn host_ns(ns: &str) -> String {
    ns_link("self", ns)
}

#[test]
fn each_configured_namespace_is_new() {
    let Some(t) = setup("ns_new") else { return };
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    b.add_namespace(json!({"type": "cgroup"}));
    let pid = t.create(&b).to_string();
    for (ty, file) in TYPES {
        let inside = ns_link(&pid, file);
        assert!(inside.starts_with(&format!("{file}:[")), "{inside}");
        assert_ne!(inside, host_ns(file), "{ty} namespace of init is the host's");
    }
    // Still new after start (the process the user sees, not only the runtime's init).
    t.start(&b.id);
    for (ty, file) in TYPES {
        assert_ne!(ns_link(&pid, file), host_ns(file), "{ty} after start");
    }
    t.finish();
}

/// Types not listed stay shared with the host (so the test above is not vacuous).
#[test]
fn unlisted_namespaces_are_shared_with_host() {
    let Some(t) = setup("ns_shared") else { return };
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    b.config["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}]);
    b.remove("/hostname");
    let pid = t.create(&b).to_string();
    for (ty, file) in TYPES {
        let shared = !matches!(*ty, "pid" | "mount");
        assert_eq!(ns_link(&pid, file) == host_ns(file), shared, "{ty}: shared with host = {}", !shared);
    }
    t.finish();
}

#[test]
fn user_namespace_with_mappings() {
    let Some(t) = setup("ns_user") else { return };
    let mut b = t.bundle();
    b.add_namespace(json!({"type": "user"}));
    b.set("/linux/uidMappings", json!([{"containerID": 0, "hostID": 100000, "size": 65536}]));
    b.set("/linux/gidMappings", json!([{"containerID": 0, "hostID": 200000, "size": 1000},
                                      {"containerID": 1000, "hostID": 300000, "size": 10}]));
    b.args(&["sleep", "100000"]);
    let pid = t.create(&b).to_string();
    assert_ne!(ns_link(&pid, "user"), host_ns("user"), "user namespace not new");
    // The runtime wrote the maps; seen from the host they translate the same way.
    let uid_map: Vec<String> = read_trim(format!("/proc/{pid}/uid_map")).lines().map(norm).collect();
    assert_eq!(uid_map, ["0 100000 65536"]);
    let status = read_trim(format!("/proc/{pid}/status"));
    let uids: Vec<&str> = status_field(&status, "Uid").unwrap().split_whitespace().collect();
    assert_eq!(uids[0], "100000", "container root must be host uid 100000: {uids:?}");
    t.rt(&["delete", "--force", &b.id]).assert_ok();

    // And from inside, via `run`.
    b.sh("cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; id -u; id -g");
    let out = t.run_ok(&b);
    let parts: Vec<Vec<String>> =
        out.split("--").map(|p| p.trim().lines().map(norm).filter(|l| !l.is_empty()).collect()).collect();
    assert_eq!(parts[0], ["0 100000 65536"], "uid_map inside:\n{out}");
    assert_eq!(parts[1], ["0 200000 1000", "1000 300000 10"], "gid_map inside:\n{out}");
    assert_eq!(parts[2], ["0", "0"], "id inside:\n{out}");
    t.finish();
}

/// A new network namespace is the container's own from the start of its setup: sysfs, mounted
/// during create, shows its devices only (sysfs shows the network namespace of whoever mounts
/// it), and with a user namespace it belongs to that one (the container's root may configure
/// it). The runtime makes it in the init rather than in the clone, so both depend on the order.
#[test]
fn the_network_namespace_is_the_containers_before_sysfs_and_in_its_user_namespace() {
    let Some(t) = setup("ns_net_owner") else { return };
    let mut b = t.bundle();
    b.sh("ls /sys/class/net");
    let out = t.run_ok(&b);
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["lo"], "sysfs shows other devices:\n{out}");

    let mut b = t.bundle();
    b.add_namespace(json!({"type": "user"}));
    b.set("/linux/uidMappings", json!([{"containerID": 0, "hostID": 100000, "size": 65536}]));
    b.set("/linux/gidMappings", json!([{"containerID": 0, "hostID": 100000, "size": 65536}]));
    b.args(&["sleep", "100000"]);
    let pid = t.create(&b);
    let net = std::fs::File::open(format!("/proc/{pid}/ns/net")).unwrap();
    const NS_GET_USERNS: libc::c_ulong = 0xb701; // ioctl takes a c_ulong request on glibc, a c_int on musl
    // SAFETY: NS_GET_USERNS takes no argument and returns a new descriptor or -1.
    let owner = unsafe { libc::ioctl(std::os::fd::AsRawFd::as_raw_fd(&net), NS_GET_USERNS as _) };
    assert!(owner >= 0, "NS_GET_USERNS: {}", std::io::Error::last_os_error());
    // SAFETY: the ioctl just returned this descriptor.
    let owner = unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(owner) };
    let ino = |f: &std::fs::File| std::os::unix::fs::MetadataExt::ino(&f.metadata().unwrap());
    let user = std::fs::File::open(format!("/proc/{pid}/ns/user")).unwrap();
    assert_eq!(ino(&owner), ino(&user), "the network namespace is not owned by the container's user namespace");
    t.finish();
}

fn norm(l: &str) -> String {
    l.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// hull-only: runc 1.1.5 does not know the time namespace.
#[test]
fn time_namespace_with_offsets() {
    let Some(t) = setup("ns_time") else { return };
    if !is_hull() {
        eprintln!("SKIP time namespace: {} does not support it (hull-only test)", runtime_name());
        return t.finish();
    }
    let mut b = t.bundle();
    b.add_namespace(json!({"type": "time"}));
    b.set("/linux/timeOffsets", json!({"monotonic": {"secs": 86400, "nanosecs": 5},
                                        "boottime": {"secs": 7200, "nanosecs": 0}}));
    b.sh("readlink /proc/self/ns/time; cat /proc/self/timens_offsets");
    let out = t.run_ok(&b);
    let mut lines = out.lines().map(norm);
    assert_ne!(lines.next().unwrap_or_default(), host_ns("time"), "time namespace not new:\n{out}");
    let offsets: Vec<String> = lines.collect();
    assert!(offsets.contains(&"monotonic 86400 5".to_string()), "timens_offsets:\n{out}");
    assert!(offsets.contains(&"boottime 7200 0".to_string()), "timens_offsets:\n{out}");
    t.finish();
}

/// A second container joins the first's namespaces by path (the CRI pod pattern).
#[test]
fn namespaces_joined_by_path() {
    let Some(t) = setup("ns_join") else { return };
    let id1 = t.id_with("sandbox");
    let mut b1 = t.bundle_for(&id1);
    b1.args(&["sleep", "100000"]);
    b1.add_namespace(json!({"type": "cgroup"}));
    let pid1 = t.create_start(&b1).to_string();

    let id2 = t.id_with("member");
    let mut b2 = t.bundle_for(&id2);
    b2.args(&["sleep", "100000"]);
    b2.remove("/hostname");
    let joined = ["pid", "network", "ipc", "uts", "cgroup"];
    let mut nss = vec![json!({"type": "mount"})];
    for ty in joined {
        let file = TYPES.iter().find(|(t, _)| *t == ty).unwrap().1;
        nss.push(json!({"type": ty, "path": format!("/proc/{pid1}/ns/{file}")}));
    }
    b2.config["linux"]["namespaces"] = json!(nss);
    let pid2 = t.create(&b2).to_string();
    t.start(&id2);
    for (ty, file) in TYPES {
        let (a, b) = (ns_link(&pid1, file), ns_link(&pid2, file));
        if joined.contains(ty) {
            assert_eq!(a, b, "{ty} not joined");
        } else {
            assert_ne!(a, b, "{ty} should be new");
        }
        assert_ne!(b, host_ns(file), "{ty} of the member is the host's");
    }
    t.finish();
}

#[test]
fn unknown_namespace_type_is_an_error() {
    let Some(t) = setup("ns_unknown") else { return };
    let mut b = t.bundle();
    b.args(&["true"]);
    b.set("/linux/namespaces/2/type", json!("pidd"));
    let out = t.try_create(&b, &[]);
    out.assert_err("pidd");
    if is_hull() {
        // CONTRACT.md §4: the error names the JSON path.
        out.assert_err("linux.namespaces[2].type");
    }
    assert!(t.state(&b.id).is_none());
    t.assert_gone(&b.id);
    t.finish();
}

/// A rootfs that the container's mapped root cannot reach (under a 0700 directory, as a clone
/// under /root is on Debian) fails with the directory that blocks it and why.
#[test]
fn unreachable_rootfs_names_the_blocking_directory() {
    let Some(t) = setup("userns_unreachable_rootfs") else { return };
    let locked = t.dir("locked");
    std::fs::set_permissions(&locked, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let st = std::process::Command::new("cp").arg("-a").arg(rootfs()).arg(locked.join("rootfs")).status().unwrap();
    assert!(st.success());
    let mut b = t.bundle();
    b.set("/root/path", json!(locked.join("rootfs").to_str().unwrap()));
    b.add_namespace(json!({"type": "user"}));
    b.set("/linux/uidMappings", json!([{"containerID": 0, "hostID": 100000, "size": 65536}]));
    b.set("/linux/gidMappings", json!([{"containerID": 0, "hostID": 100000, "size": 65536}]));
    b.args(&["true"]);
    let out = t.try_create(&b, &[]);
    out.assert_err(&format!("{:?} is mode 0700: uid 100000 (root in the container) cannot search it", locked));
    t.finish();
}

/// A UTS namespace joined by path is the container's (not the runtime's): its hostname is set
/// there, as runc does (issue 13). Joining the runtime's own UTS namespace with a hostname is
/// still refused.
#[test]
fn hostname_in_a_joined_uts_namespace() {
    let Some(t) = setup("uts_join_hostname") else { return };
    let mut a = t.bundle();
    a.args(&["sleep", "100000"]);
    let pid = t.create_start(&a);
    let id2 = t.id_with("joiner");
    let mut b = t.bundle_for(&id2);
    b.add_namespace(json!({"type": "uts", "path": format!("/proc/{pid}/ns/uts")}));
    b.set("/hostname", json!("joined"));
    b.sh("hostname");
    assert_eq!(t.run_ok(&b).trim(), "joined");
    let seen = t.rt(&["exec", &a.id, "hostname"]);
    assert_eq!(seen.stdout.trim(), "joined", "the namespace is shared with the first container\n{}", seen.show());

    let id3 = t.id_with("host-uts");
    let mut c = t.bundle_for(&id3);
    c.add_namespace(json!({"type": "uts", "path": format!("/proc/{}/ns/uts", std::process::id())}));
    c.set("/hostname", json!("nope"));
    c.args(&["true"]);
    t.try_create(&c, &[]).assert_err("unable to set hostname without a private UTS namespace");
    t.finish();
}

/// The host's "/" line of /proc/self/mountinfo without its mount id: its propagation ("shared:N",
/// "master:N") must never change because of a container.
fn host_root_mount() -> String {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = info.lines().find(|l| l.split(' ').nth(4) == Some("/")).expect("a \"/\" mount").to_string();
    line.split(' ').skip(2).collect::<Vec<_>>().join(" ")
}

/// config-linux.md: a namespace type not in the array is inherited. Without a mount namespace the
/// container is built in the host's mount namespace and chrooted (never pivoted) into its rootfs;
/// exec'd processes land in the same root; the host's "/" keeps its propagation; and after
/// delete the host's mount table has nothing of the container left.
#[test]
fn no_mount_namespace_builds_the_container_in_the_hosts_and_leaves_nothing() {
    let Some(t) = setup("ns_nomnt") else { return };
    let mut b = t.bundle();
    // Its own copy: the bind made in the host's mount table is on this path.
    let rootfs = b.private_rootfs();
    std::fs::write(rootfs.join("marker"), "in the container's root\n").unwrap();
    b.remove_namespace("mount");
    b.set("/root/readonly", json!(true));
    b.args(&["sleep", "100000"]);
    let root_before = host_root_mount();
    assert!(host_mounts_mentioning(&rootfs).is_empty());
    let pid = t.create(&b).to_string();
    assert_eq!(ns_link(&pid, "mnt"), host_ns("mnt"), "the init must share the host's mount namespace");
    assert!(!host_mounts_mentioning(&rootfs).is_empty(), "the container's mounts are in the host's table");
    assert_eq!(host_root_mount(), root_before, "the host's \"/\" changed");
    t.start(&b.id);
    assert_eq!(read_trim(format!("/proc/{pid}/root/marker")), "in the container's root");
    let out = t.rt(&["exec", &b.id, "sh", "-c", "cat /marker; readlink /proc/self/ns/mnt; touch /x 2>&1 || echo ro"]);
    out.assert_ok();
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "in the container's root", "{}", out.show());
    assert_eq!(lines[1], host_ns("mnt"), "{}", out.show());
    assert_eq!(lines.last(), Some(&"ro"), "root.readonly must hold for the bind: {}", out.show());
    t.rt(&["delete", "--force", &b.id]).assert_ok();
    assert_eq!(host_mounts_mentioning(&rootfs), Vec::<String>::new(), "mounts left behind");
    assert_eq!(host_root_mount(), root_before, "the host's \"/\" changed");
    t.finish();
}

/// A failed create without a mount namespace leaves no mount in the host's table either.
#[test]
fn no_mount_namespace_failed_create_leaves_no_mount() {
    let Some(t) = setup("ns_nomnt_fail") else { return };
    let mut b = t.bundle();
    let rootfs = b.private_rootfs();
    b.remove_namespace("mount");
    // The last mount fails, after the others are made.
    b.add_mount(json!({"destination": "/mnt", "type": "bind", "source": "/nonexistent-hull-source", "options": ["bind"]}));
    t.try_create(&b, &[]).assert_err("/nonexistent-hull-source");
    t.assert_gone(&b.id);
    assert_eq!(host_mounts_mentioning(&rootfs), Vec::<String>::new(), "mounts left behind");
    t.finish();
}

/// Joining the runtime's own mount namespace by path is the same as not asking for one: the
/// container must not pivot the host's root.
#[test]
fn joining_the_runtimes_mount_namespace_is_treated_as_none() {
    let Some(t) = setup("ns_mnt_own") else { return };
    let mut b = t.bundle();
    let rootfs = b.private_rootfs();
    std::fs::write(rootfs.join("marker"), "joined\n").unwrap();
    b.remove_namespace("mount");
    b.add_namespace(json!({"type": "mount", "path": format!("/proc/{}/ns/mnt", std::process::id())}));
    let root_before = host_root_mount();
    b.sh("cat /marker");
    assert_eq!(t.run_ok(&b).trim(), "joined");
    assert_eq!(host_root_mount(), root_before);
    assert_eq!(host_mounts_mentioning(&rootfs), Vec::<String>::new(), "mounts left behind");
    t.finish();
}

/// A user namespace of the container's own has no privilege over the host's mount namespace:
/// the combination is refused by name, before anything is made.
#[test]
fn user_namespace_without_mount_namespace_is_refused() {
    let Some(t) = setup("ns_user_nomnt") else { return };
    let mut b = t.bundle();
    b.remove_namespace("mount");
    b.add_namespace(json!({"type": "user"}));
    b.set("/linux/uidMappings", json!([{"containerID": 0, "hostID": 100000, "size": 65536}]));
    b.set("/linux/gidMappings", json!([{"containerID": 0, "hostID": 100000, "size": 65536}]));
    t.try_create(&b, &[]).assert_err("needs a mount namespace of its own");
    t.assert_gone(&b.id);
    t.finish();
}
