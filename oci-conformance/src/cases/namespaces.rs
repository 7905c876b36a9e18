//! config-linux.md: namespaces, user namespace mappings, time offsets.

use super::*;
use crate::suite::{c, clip};
use serde_json::json;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

pub fn groups() -> Vec<Group> {
    vec![
        Group {
            name: "ns-new",
            cases: vec![
                c(
                    "new-pid",
                    "config-linux#namespaces",
                    "a pid entry without path creates a new pid namespace",
                ),
                c(
                    "new-net",
                    "config-linux#namespaces",
                    "a network entry without path creates a new network namespace",
                ),
                c(
                    "new-ipc",
                    "config-linux#namespaces",
                    "an ipc entry without path creates a new ipc namespace",
                ),
                c(
                    "new-uts",
                    "config-linux#namespaces",
                    "a uts entry without path creates a new uts namespace",
                ),
                c(
                    "new-mnt",
                    "config-linux#namespaces",
                    "a mount entry without path creates a new mount namespace",
                ),
                c(
                    "new-cgroup",
                    "config-linux#namespaces",
                    "a cgroup entry without path creates a new cgroup namespace",
                ),
                c(
                    "pid1",
                    "config-linux#namespaces",
                    "in a new pid namespace the container process is pid 1",
                ),
            ],
            run: ns_new,
        },
        Group {
            name: "ns-inherit",
            cases: vec![
                c(
                    "inh-pid",
                    "config-linux#namespaces",
                    "without a pid entry the runtime's pid namespace is inherited",
                ),
                c(
                    "inh-net",
                    "config-linux#namespaces",
                    "without a network entry the runtime's network namespace is inherited",
                ),
                c(
                    "inh-ipc",
                    "config-linux#namespaces",
                    "without an ipc entry the runtime's ipc namespace is inherited",
                ),
                c(
                    "inh-uts",
                    "config-linux#namespaces",
                    "without a uts entry the runtime's uts namespace is inherited",
                ),
                c(
                    "inh-cgroup",
                    "config-linux#namespaces",
                    "without a cgroup entry the runtime's cgroup namespace is inherited",
                ),
                c(
                    "inh-user",
                    "config-linux#namespaces",
                    "without a user entry the runtime's user namespace is inherited",
                ),
                c(
                    "inh-time",
                    "config-linux#namespaces",
                    "without a time entry the runtime's time namespace is inherited",
                ),
            ],
            run: ns_inherit,
        },
        Group {
            name: "ns-inherit-mnt",
            cases: vec![
                c(
                    "inh-mnt",
                    "config-linux#namespaces",
                    "without a mount entry the runtime's mount namespace is inherited",
                ),
                c(
                    "inh-mnt-delete",
                    "runtime#delete",
                    "without a mount entry, delete removes every mount create made (the runtime's mount table has none of the bundle's left)",
                ),
            ],
            run: ns_inherit_mnt,
        },
        Group {
            name: "ns-join",
            cases: vec![
                c(
                    "join-net",
                    "config-linux#namespaces",
                    "a network entry with path joins that namespace",
                ),
                c(
                    "join-ipc",
                    "config-linux#namespaces",
                    "an ipc entry with path joins that namespace",
                ),
                c(
                    "join-uts",
                    "config-linux#namespaces",
                    "a uts entry with path joins that namespace",
                ),
                c(
                    "join-uts-hostname",
                    "config#hostname",
                    "hostname is set in a uts namespace joined by path (the container's, not the runtime's)",
                ),
                c(
                    "join-cgroup",
                    "config-linux#namespaces",
                    "a cgroup entry with path joins that namespace",
                ),
                c(
                    "join-pid",
                    "config-linux#namespaces",
                    "a pid entry with path joins that namespace",
                ),
                c(
                    "join-mnt",
                    "config-linux#namespaces",
                    "a mount entry with path joins that namespace",
                ),
                c(
                    "join-time",
                    "config-linux#namespaces",
                    "a time entry with path joins that namespace",
                ),
            ],
            run: ns_join,
        },
        Group {
            name: "ns-join-user",
            cases: vec![c(
                "join-user",
                "config-linux#namespaces",
                "a user entry with path joins that user namespace",
            )],
            run: ns_join_user,
        },
        Group {
            name: "ns-path-errors",
            cases: vec![
                c(
                    "path-wrong-type",
                    "config-linux#namespaces",
                    "a path to a namespace of another type generates an error",
                ),
                c(
                    "path-not-ns",
                    "config-linux#namespaces",
                    "a path that is not a namespace file generates an error",
                ),
            ],
            run: ns_errors,
        },
        Group {
            name: "ns-user",
            cases: vec![
                c(
                    "user-new",
                    "config-linux#namespaces",
                    "a user entry without path creates a new user namespace",
                ),
                c(
                    "uid-map",
                    "config-linux#user-namespace-mappings",
                    "uidMappings are the user namespace uid_map",
                ),
                c(
                    "gid-map",
                    "config-linux#user-namespace-mappings",
                    "gidMappings are the user namespace gid_map",
                ),
                c(
                    "host-uid",
                    "config-linux#user-namespace-mappings",
                    "container uid 0 is hostID on the host",
                ),
                c(
                    "no-chown",
                    "config-linux#user-namespace-mappings",
                    "the rootfs ownership is not changed to realize the mapping (SHOULD NOT)",
                ),
            ],
            run: ns_user,
        },
        Group {
            name: "ns-time",
            cases: vec![
                c(
                    "time-new",
                    "config-linux#namespaces",
                    "a time entry without path creates a new time namespace",
                ),
                c(
                    "time-mono",
                    "config-linux#offset-for-time-namespace",
                    "timeOffsets.monotonic shifts CLOCK_MONOTONIC",
                ),
                c(
                    "time-boot",
                    "config-linux#offset-for-time-namespace",
                    "timeOffsets.boottime shifts CLOCK_BOOTTIME",
                ),
            ],
            run: ns_time,
        },
    ]
}

fn ns_ino(path: &str) -> Option<u64> {
    fs::metadata(path).ok().map(|m| m.ino())
}

fn host_clock(id: libc::clockid_t) -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec
}

fn ns_new(g: &mut G) {
    let mut b = g.bundle("ns-new");
    b.set_namespaces(&["pid", "network", "ipc", "uts", "mount", "cgroup"]);
    // learn the runtime's own mount namespace through a runtime-namespace hook
    let f = b.dir.join("rt-mntns");
    b.config["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", format!("stat -L -c %i /proc/self/ns/mnt > {}", f.display())]}]});
    let Some(rep) = g.checker_or_fail_rest(&mut b, &[]) else { return };
    let host = g.s.host.ns.clone();
    let rt_mnt = fs::read_to_string(&f)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    for (key, ns) in [
        ("new-pid", "pid"),
        ("new-net", "net"),
        ("new-ipc", "ipc"),
        ("new-uts", "uts"),
        ("new-cgroup", "cgroup"),
    ] {
        let got = rep.ns(ns);
        g.check(
            key,
            ensure(got.is_some() && got != host.get(ns).copied(), || {
                format!(
                    "{} namespace {:?} is the runtime's ({:?})",
                    ns,
                    got,
                    host.get(ns)
                )
            }),
        );
    }
    let got = rep.ns("mnt");
    g.check(
        "new-mnt",
        ensure(
            got.is_some() && got != host.get("mnt").copied() && got != rt_mnt,
            || {
                format!(
                    "mount namespace {:?}, runner {:?}, runtime hook {:?}",
                    got,
                    host.get("mnt"),
                    rt_mnt
                )
            },
        ),
    );
    g.check(
        "pid1",
        ensure(rep.v["pid"] == 1, || format!("pid is {}", rep.v["pid"])),
    );
}

fn ns_inherit(g: &mut G) {
    let mut b = g.bundle("ns-inherit");
    b.set_namespaces(&["mount"]);
    // without a network namespace sysfs would be the host's; without ipc, mqueue too: keep it minimal
    b.config["mounts"] = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}
    ]);
    let Some(rep) = g.checker_or_fail_rest(&mut b, &[]) else { return };
    let host = g.s.host.ns.clone();
    for (key, ns) in [
        ("inh-pid", "pid"),
        ("inh-net", "net"),
        ("inh-ipc", "ipc"),
        ("inh-uts", "uts"),
        ("inh-cgroup", "cgroup"),
        ("inh-user", "user"),
        ("inh-time", "time"),
    ] {
        let got = rep.ns(ns);
        g.check(
            key,
            ensure(got.is_some() && got == host.get(ns).copied(), || {
                format!("{} namespace {:?}, runtime's {:?}", ns, got, host.get(ns))
            }),
        );
    }
}

fn ns_inherit_mnt(g: &mut G) {
    let mut b = g.bundle("ns-inherit-mnt");
    b.set_namespaces(&["pid", "ipc", "uts", "network"]);
    // the runtime's own mount namespace, as a runtime-namespace hook sees it
    let f = b.dir.join("rt-mntns");
    b.config["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c", format!("stat -L -c %i /proc/self/ns/mnt > {}", f.display())]}]});
    let rootfs = b.dir.join("rootfs");
    let mounted = |p: &std::path::Path| -> Vec<String> {
        let n = p.to_string_lossy().into_owned();
        fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(n.as_str()))
            .map(String::from)
            .collect()
    };
    let before = mounted(&rootfs);
    let Some(rep) = g.checker_or_fail_rest(&mut b, &[]) else {
        return;
    };
    let rt_mnt = fs::read_to_string(&f)
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok());
    let got = rep.ns("mnt");
    g.check(
        "inh-mnt",
        ensure(got.is_some() && got == rt_mnt, || {
            format!("mount namespace {:?}, the runtime's (hook) {:?}", got, rt_mnt)
        }),
    );
    let after = mounted(&rootfs);
    g.check(
        "inh-mnt-delete",
        ensure(after == before, || {
            format!("left in the mount table: {}", clip(&after.join(" | "), 300))
        }),
    );
}

/// A process we own sitting in fresh namespaces: `sh` unshares
/// net/ipc/uts/cgroup/mnt/pid/time and forks `sleep`, which is pid 1 of the new
/// pid namespace and a member of all of them.  Returns the sleep's host pid.
fn holder(g: &mut G, user: bool) -> Result<i32, String> {
    let pidfile = g.dir.join("holder.pid");
    let _ = fs::remove_file(&pidfile);
    let mut cmd = Command::new("/bin/busybox");
    if user {
        // a bare sleep in a new user namespace; we write its id maps
        cmd.args(["sleep", "3600"]);
    } else {
        cmd.args([
            "sh",
            "-c",
            &format!("sleep 3600 & echo $! > {}; wait", pidfile.display()),
        ]);
    }
    let flags = if user {
        libc::CLONE_NEWUSER
    } else {
        libc::CLONE_NEWNET
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWCGROUP
            | libc::CLONE_NEWNS
            | libc::CLONE_NEWPID
            | 0x80 /* CLONE_NEWTIME */
    };
    unsafe {
        cmd.pre_exec(move || {
            if libc::unshare(flags) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if flags & libc::CLONE_NEWNS != 0 {
                libc::mount(
                    std::ptr::null(),
                    b"/\0".as_ptr() as *const libc::c_char,
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                );
            }
            Ok(())
        });
    }
    let sh = g.spawn_holder(cmd)?;
    if user {
        for f in ["uid_map", "gid_map"] {
            fs::write(format!("/proc/{}/{}", sh, f), "0 200000 65536\n")
                .map_err(|e| format!("write {}: {}", f, e))?;
        }
        return Ok(sh);
    }
    if !wait_file(&pidfile, Duration::from_secs(5)) {
        return Err("namespace holder did not start".into());
    }
    std::thread::sleep(Duration::from_millis(50));
    let pid: i32 = fs::read_to_string(&pidfile)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or("no holder pid")?;
    g.track_pid(pid);
    Ok(pid)
}

fn ns_join(g: &mut G) {
    let h = match holder(g, false) {
        Ok(p) => p,
        Err(e) => {
            g.fail_rest(&format!("namespace holder: {}", e));
            return;
        }
    };
    let p = |n: &str| format!("/proc/{}/ns/{}", h, n);
    let mut b = g.bundle("ns-join");
    b.config["linux"]["namespaces"] = json!([
        {"type": "network", "path": p("net")},
        {"type": "ipc", "path": p("ipc")},
        {"type": "uts", "path": p("uts")},
        {"type": "cgroup", "path": p("cgroup")},
        {"type": "pid", "path": p("pid")},
        {"type": "mount", "path": p("mnt")}
    ]);
    match g.run_checker(&mut b, &[]) {
        Ok(rep) => {
            for (key, ns) in [
                ("join-net", "net"),
                ("join-ipc", "ipc"),
                ("join-uts", "uts"),
                ("join-cgroup", "cgroup"),
                ("join-pid", "pid"),
                ("join-mnt", "mnt"),
            ] {
                let want = ns_ino(&p(ns));
                let got = rep.ns(ns);
                g.check(
                    key,
                    ensure(got.is_some() && got == want, || {
                        format!("{} namespace {:?}, holder's {:?}", ns, got, want)
                    }),
                );
            }
        }
        Err(e) => g.fail_keys(
            &[
                "join-net",
                "join-ipc",
                "join-uts",
                "join-cgroup",
                "join-pid",
                "join-mnt",
            ],
            &e,
        ),
    }
    let mut b = g.bundle("ns-join-uts-hostname");
    b.config["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}, {"type": "uts", "path": p("uts")}]);
    b.config["hostname"] = json!("oci-joined-uts");
    let r = g.run_checker(&mut b, &[]).and_then(|rep| {
        let name = rep.v["uname"]["nodename"].as_str().unwrap_or("").to_string();
        ensure(name == "oci-joined-uts" && rep.ns("uts") == ns_ino(&p("uts")), || {
            format!("hostname {:?}, uts namespace {:?} (holder's {:?})", name, rep.ns("uts"), ns_ino(&p("uts")))
        })
    });
    g.check("join-uts-hostname", r);
    let mut b = g.bundle("ns-join-time");
    b.add_namespace(json!({"type": "time", "path": p("time")}));
    match g.run_checker(&mut b, &[]) {
        Ok(rep) => {
            let want = ns_ino(&p("time"));
            g.check(
                "join-time",
                ensure(rep.ns("time").is_some() && rep.ns("time") == want, || {
                    format!("time namespace {:?}, holder's {:?}", rep.ns("time"), want)
                }),
            );
        }
        Err(e) => g.fail("join-time", e),
    }
}

fn ns_join_user(g: &mut G) {
    let h = match holder(g, true) {
        Ok(p) => p,
        Err(e) => {
            g.fail_rest(&format!("user namespace holder: {}", e));
            return;
        }
    };
    let path = format!("/proc/{}/ns/user", h);
    let mut b = g.bundle("ns-join-user");
    b.add_namespace(json!({"type": "user", "path": path}));
    // the mappings of the joined namespace, for runtimes that want them spelled out
    let map = json!([{"containerID": 0, "hostID": 200000, "size": 65536}]);
    b.config["linux"]["uidMappings"] = map.clone();
    b.config["linux"]["gidMappings"] = map;
    b.config["mounts"] = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}
    ]);
    let r = g.run_checker(&mut b, &[]).and_then(|rep| {
        let want = ns_ino(&path);
        ensure(rep.ns("user").is_some() && rep.ns("user") == want, || {
            format!(
                "user namespace {:?}, holder's {:?} (uid_map {})",
                rep.ns("user"),
                want,
                rep.v["uid_map"]
            )
        })
    });
    g.check("join-user", r);
}

fn ns_errors(g: &mut G) {
    let mut b = g.bundle("ns-wrong-type");
    // an ipc namespace file the runtime's caller may open: the runner's, or
    // rootless one of a process of the user (root's would fail for lack of access)
    let owner = match g.s.rootless.clone() {
        None => Ok(g.s.runner_pid),
        Some(r) => g.spawn_holder(r.command(std::path::Path::new("/bin/sleep"), &["3600".into()])),
    };
    match owner {
        Ok(p) => {
            let ipc = format!("/proc/{}/ns/ipc", p);
            b.config["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network", "path": ipc}]);
            expect_error_case(g, "path-wrong-type", &mut b, false);
        }
        Err(e) => g.fail("path-wrong-type", format!("holder process: {}", e)),
    }
    let mut b = g.bundle("ns-not-ns");
    let file = g.dir.join("not-a-namespace");
    let _ = fs::write(&file, "x");
    b.config["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network", "path": file.to_string_lossy()}]);
    expect_error_case(g, "path-not-ns", &mut b, false);
}

fn ns_user(g: &mut G) {
    let mut b = g.bundle("ns-user");
    b.set_namespaces(&["user", "pid", "network", "ipc", "uts", "mount"]);
    let (umap, gmap) = g.s.userns_mappings();
    b.config["linux"]["uidMappings"] = umap.clone();
    b.config["linux"]["gidMappings"] = gmap.clone();
    // the map files as the kernel prints them, whitespace-normalized
    let want_map = |m: &serde_json::Value| {
        m.as_array()
            .map(|a| {
                a.iter()
                    .map(|e| format!("{} {} {}", e["containerID"], e["hostID"], e["size"]))
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default()
    };
    let (want_uid, want_gid) = (want_map(&umap), want_map(&gmap));
    let root_host = umap[0]["hostID"].to_string();
    b.config["mounts"] = json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}
    ]);
    let rootfs = b.dir.join("rootfs");
    let before: Vec<(u32, u32)> = ["", "bin", "bin/busybox", "etc/passwd"]
        .iter()
        .filter_map(|p| fs::metadata(rootfs.join(p)).ok())
        .map(|m| (m.uid(), m.gid()))
        .collect();
    let (rep, pid) = match g.hold_checker(&mut b, &[]) {
        Ok(x) => x,
        Err(e) => {
            g.fail_rest(&e);
            return;
        }
    };
    let host_status = fs::read_to_string(format!("/proc/{}/status", pid)).unwrap_or_default();
    g.destroy(&b);
    let after: Vec<(u32, u32)> = ["", "bin", "bin/busybox", "etc/passwd"]
        .iter()
        .filter_map(|p| fs::metadata(rootfs.join(p)).ok())
        .map(|m| (m.uid(), m.gid()))
        .collect();
    let host_user = g.s.host.ns.get("user").copied();
    g.check(
        "user-new",
        ensure(
            rep.ns("user").is_some() && rep.ns("user") != host_user,
            || format!("user namespace {:?}", rep.ns("user")),
        ),
    );
    let norm = |s: &serde_json::Value| {
        s.as_str()
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    g.check(
        "uid-map",
        ensure(norm(&rep.v["uid_map"]) == want_uid, || {
            format!("uid_map: {:?}", rep.v["uid_map"])
        }),
    );
    g.check(
        "gid-map",
        ensure(norm(&rep.v["gid_map"]) == want_gid, || {
            format!("gid_map: {:?}", rep.v["gid_map"])
        }),
    );
    let uid_line = host_status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap_or("")
        .to_string();
    g.check(
        "host-uid",
        ensure(
            rep.v["ids"]["uid"][0] == 0
                && uid_line.split_whitespace().nth(1) == Some(root_host.as_str()),
            || {
                format!(
                    "in container uid {}, on host {:?}",
                    rep.v["ids"]["uid"], uid_line
                )
            },
        ),
    );
    g.check(
        "no-chown",
        ensure(before == after && !before.is_empty(), || {
            format!("owners before {:?} after {:?}", before, after)
        }),
    );
}

fn ns_time(g: &mut G) {
    let mut b = g.bundle("ns-time");
    b.add_namespace(json!({"type": "time"}));
    b.config["linux"]["timeOffsets"] = json!({"monotonic": {"secs": 172800, "nanosecs": 0}, "boottime": {"secs": 604800, "nanosecs": 0}});
    let (m0, b0) = (
        host_clock(libc::CLOCK_MONOTONIC),
        host_clock(libc::CLOCK_BOOTTIME),
    );
    let rep = match g.run_checker(&mut b, &[]) {
        Ok(r) => r,
        Err(e) => {
            g.fail_rest(&clip(&e, 400));
            return;
        }
    };
    let (m1, b1) = (
        host_clock(libc::CLOCK_MONOTONIC),
        host_clock(libc::CLOCK_BOOTTIME),
    );
    let host_time = g.s.host.ns.get("time").copied();
    g.check(
        "time-new",
        ensure(
            rep.ns("time").is_some() && rep.ns("time") != host_time,
            || format!("time namespace {:?}", rep.ns("time")),
        ),
    );
    let cm = rep.v["clocks"]["monotonic"].as_i64().unwrap_or(0);
    let cb = rep.v["clocks"]["boottime"].as_i64().unwrap_or(0);
    g.check(
        "time-mono",
        ensure(cm >= m0 + 172800 && cm <= m1 + 172800 + 1, || {
            format!("container CLOCK_MONOTONIC {} s, host {}..{} s", cm, m0, m1)
        }),
    );
    g.check(
        "time-boot",
        ensure(cb >= b0 + 604800 && cb <= b1 + 604800 + 1, || {
            format!("container CLOCK_BOOTTIME {} s, host {}..{} s", cb, b0, b1)
        }),
    );
}
