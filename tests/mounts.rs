//! The root filesystem: read-only root, config mounts and their flags as seen from inside,
//! mount destinations that try to escape the rootfs, devices, /dev symlinks, --no-pivot, and a
//! failing mount that must leave nothing behind.
mod common;

use common::*;
use serde_json::json;
use std::fs;

#[test]
fn readonly_root() {
    let Some(t) = setup("mnt_ro_root") else { return };
    let mut b = t.bundle();
    let probe = format!("hull-ro-probe-{}", std::process::id());
    b.sh(&format!("touch /{probe} 2>/dev/null && echo writable || echo readonly; cat /proc/self/mountinfo"));
    let out = t.run(&b, &[]);
    let leaked = rootfs().join(&probe).exists();
    let _ = fs::remove_file(rootfs().join(&probe)); // keep the shared rootfs clean for later runs
    assert!(!leaked, "the container wrote into the shared rootfs");
    out.assert_ok();
    let out = out.stdout;
    assert_eq!(out.lines().next(), Some("readonly"), "{out}");
    let mi = parse_mountinfo(&out);
    let root = mount_at(&mi, "/").unwrap_or_else(|| panic!("no / in mountinfo:\n{out}"));
    assert!(root.has_opt("ro"), "/ not mounted ro: {root:?}");
    t.finish();
}

/// `root.readonly: false` on a private copy: writes work and land in that rootfs.
#[test]
fn writable_root_when_not_readonly() {
    let Some(t) = setup("mnt_rw_root") else { return };
    let mut b = t.bundle();
    let private = b.private_rootfs();
    b.set("/root/readonly", json!(false));
    b.sh("echo hi > /hull-rw-probe && echo writable");
    assert_eq!(t.run_ok(&b).trim(), "writable");
    assert_eq!(read_trim(private.join("hull-rw-probe")), "hi");
    t.finish();
}

#[test]
fn config_mounts_and_flags_seen_inside() {
    let Some(t) = setup("mnt_flags") else { return };
    let mut b = t.bundle();
    let host_dir = t.dir("host-data");
    fs::write(host_dir.join("hello"), "from-host").unwrap();
    b.add_mount(json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs",
                       "options": ["nosuid", "nodev", "noexec", "size=1m", "mode=750"]}));
    b.add_mount(json!({"destination": "/data", "type": "bind", "source": host_dir.to_str().unwrap(),
                       "options": ["bind", "ro"]}));
    b.add_mount(json!({"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"]}));
    // (The mode of /mnt is checked in mountinfo: runc chmods a tmpfs to the mount point's mode.)
    b.sh("cat /data/hello; echo; (echo x > /data/new) 2>/dev/null && echo data-writable || echo data-ro; \
          echo --; cat /proc/self/mountinfo");
    let out = t.run_ok(&b);
    let (head, mi_text) = out.split_once("--\n").unwrap();
    let head: Vec<&str> = head.lines().collect();
    assert_eq!(head, ["from-host", "data-ro"], "{out}");
    assert!(!host_dir.join("new").exists());
    let mi = parse_mountinfo(mi_text);
    let at = |mp: &str| mount_at(&mi, mp).unwrap_or_else(|| panic!("no mount at {mp}:\n{mi_text}")).clone();

    let m = at("/mnt");
    assert_eq!(m.fstype, "tmpfs");
    for o in ["nosuid", "nodev", "noexec", "rw"] {
        assert!(m.has_opt(o), "/mnt lacks {o}: {m:?}");
    }
    assert!(m.has_super_opt("size=1024k") && m.has_super_opt("mode=750"), "/mnt data options: {m:?}");

    let m = at("/data");
    assert!(m.has_opt("ro"), "/data not ro: {m:?}");
    assert!(m.root.ends_with("host-data"), "/data is not a bind of the host dir: {m:?}");

    let m = at("/run");
    assert!(m.fstype == "tmpfs" && m.has_opt("rw") && !m.has_opt("nosuid"), "{m:?}");

    assert_eq!(at("/proc").fstype, "proc");
    let m = at("/sys");
    assert!(m.fstype == "sysfs" && m.has_opt("ro") && m.has_opt("nosuid") && m.has_opt("noexec"), "{m:?}");
    let m = at("/dev");
    assert!(m.fstype == "tmpfs" && m.has_opt("nosuid") && m.has_super_opt("mode=755"), "{m:?}");
    let m = at("/dev/pts");
    assert!(m.fstype == "devpts" && m.has_opt("noexec") && m.has_super_opt("gid=5") && m.has_super_opt("mode=620"), "{m:?}");
    assert!(m.has_super_opt("ptmxmode=666"), "{m:?}");
    let m = at("/dev/shm");
    assert!(m.fstype == "tmpfs" && m.has_opt("nodev") && m.has_super_opt("size=65536k"), "{m:?}");
    let m = at("/dev/mqueue");
    assert!(m.fstype == "mqueue" && m.has_opt("nosuid") && m.has_opt("nodev") && m.has_opt("noexec"), "{m:?}");
    assert!(
        mi.iter().any(|m| m.mount_point.starts_with("/sys/fs/cgroup") && m.fstype.starts_with("cgroup")),
        "no cgroup filesystem at /sys/fs/cgroup:\n{mi_text}"
    );
    // v1 or hybrid: every hierarchy the host mounts directly under /sys/fs/cgroup is there, with
    // its controllers (the runtime reads the list and hands it to the init).
    if !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        let host_text = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let host = parse_mountinfo(&host_text);
        let hierarchies: Vec<_> = host
            .iter()
            .filter(|m| m.fstype.starts_with("cgroup") && m.mount_point.strip_prefix("/sys/fs/cgroup/").is_some_and(|n| !n.contains('/')))
            .collect();
        assert!(!hierarchies.is_empty(), "no cgroup hierarchy on the host:\n{host_text}");
        for h in hierarchies {
            let c = at(&h.mount_point);
            assert_eq!(c.fstype, h.fstype, "{c:?} against the host's {h:?}");
            for o in h.super_options.iter().filter(|o| !matches!(o.as_str(), "rw" | "ro")) {
                assert!(c.has_super_opt(o), "{} lacks {o}: {c:?}", h.mount_point);
            }
        }
    }
    // The container sees its own mounts only: nothing of the host's test directories.
    assert!(!mi.iter().any(|m| m.mount_point.starts_with("/work") || m.mount_point.starts_with("/tmp/")), "{mi_text}");
    t.finish();
}

/// A destination with `..` is resolved inside the rootfs: the bind appears at the resolved path
/// inside the container, and the host path it would name if joined naively is never created.
#[test]
fn mount_destination_dotdot_stays_in_rootfs() {
    let Some(t) = setup("mnt_escape_dotdot") else { return };
    let mut b = t.bundle();
    let private = b.private_rootfs();
    let src = t.dir("src");
    fs::write(src.join("marker"), "inside").unwrap();
    let target = t.scratch.join("escape-dotdot/x"); // does not exist on the host
    let dest = format!("/../../../../../../../../../..{}", target.display());
    b.add_mount(json!({"destination": dest, "type": "bind", "source": src.to_str().unwrap(), "options": ["rbind"]}));
    b.args(&["cat", &format!("{}/marker", target.display())]);
    let out = t.run(&b, &[]);
    assert!(!t.scratch.join("escape-dotdot").exists(), "the runtime created {} on the host", target.display());
    out.assert_ok();
    assert_eq!(out.stdout.trim(), "inside");
    let in_rootfs = private.join(target.strip_prefix("/").unwrap());
    assert!(in_rootfs.is_dir(), "mount point should have been created inside the rootfs at {}", in_rootfs.display());
    t.finish();
}

/// A destination through a symlink inside the rootfs (absolute `evil -> /`, relative
/// `evil2 -> ../../../..`) is resolved with the rootfs as `/`.
#[test]
fn mount_destination_symlink_stays_in_rootfs() {
    let Some(t) = setup("mnt_escape_symlink") else { return };
    let mut b = t.bundle();
    let private = b.private_rootfs();
    std::os::unix::fs::symlink("/", private.join("evil")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../../..", private.join("evil2")).unwrap();
    let src = t.dir("src");
    fs::write(src.join("marker"), "inside\n").unwrap();
    let t1 = t.scratch.join("escape-abs/x");
    let t2 = t.scratch.join("escape-rel/x");
    for (link, target) in [("evil", &t1), ("evil2", &t2)] {
        b.add_mount(json!({"destination": format!("/{link}{}", target.display()), "type": "bind",
                           "source": src.to_str().unwrap(), "options": ["rbind"]}));
    }
    b.sh(&format!("cat {}/marker {}/marker", t1.display(), t2.display()));
    let out = t.run(&b, &[]);
    for d in ["escape-abs", "escape-rel"] {
        assert!(!t.scratch.join(d).exists(), "the runtime followed a rootfs symlink to the host: {d} created");
    }
    out.assert_ok();
    assert_eq!(out.stdout.split_whitespace().collect::<Vec<_>>(), ["inside", "inside"]);
    assert!(private.join(t1.strip_prefix("/").unwrap()).is_dir());
    t.finish();
}

#[test]
fn default_and_configured_devices() {
    let Some(t) = setup("mnt_devices") else { return };
    let mut b = t.bundle();
    b.set("/linux/devices", json!([
        {"path": "/dev/hull-char", "type": "c", "major": 1, "minor": 3, "fileMode": 0o640, "uid": 1000, "gid": 29},
        {"path": "/dev/hull-blk", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600, "uid": 0, "gid": 0},
        {"path": "/dev/hull-fifo", "type": "p", "fileMode": 0o620, "uid": 1000, "gid": 1000}
    ]));
    let names = ["null", "zero", "full", "random", "urandom", "tty", "hull-char", "hull-blk", "hull-fifo"];
    let paths: Vec<String> = names.iter().map(|n| format!("/dev/{n}")).collect();
    b.sh(&format!("stat -c '%n|%F|%t|%T|%a|%u|%g' {}; echo ok > /dev/null && echo null-writable", paths.join(" ")));
    let out = t.run_ok(&b);
    let rows: Vec<Vec<&str>> = out.lines().filter(|l| l.contains('|')).map(|l| l.split('|').collect()).collect();
    let get = |n: &str| rows.iter().find(|r| r[0] == format!("/dev/{n}")).unwrap_or_else(|| panic!("no /dev/{n}:\n{out}"));
    let hex = |s: &str| u32::from_str_radix(s, 16).unwrap();
    for (n, maj, min) in [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)] {
        let r = get(n);
        assert_eq!(r[1], "character special file", "{r:?}");
        assert_eq!((hex(r[2]), hex(r[3])), (maj, min), "/dev/{n} numbers: {r:?}");
        assert_eq!((r[4], r[5], r[6]), ("666", "0", "0"), "/dev/{n} mode and owner: {r:?}");
    }
    let r = get("hull-char");
    assert_eq!((r[1], hex(r[2]), hex(r[3]), r[4], r[5], r[6]), ("character special file", 1, 3, "640", "1000", "29"), "{r:?}");
    let r = get("hull-blk");
    assert_eq!((r[1], hex(r[2]), hex(r[3]), r[4], r[5], r[6]), ("block special file", 7, 200, "600", "0", "0"), "{r:?}");
    let r = get("hull-fifo");
    assert_eq!((r[1], r[4], r[5], r[6]), ("fifo", "620", "1000", "1000"), "{r:?}");
    assert!(out.contains("null-writable"), "{out}");
    t.finish();
}

#[test]
fn dev_symlinks() {
    let Some(t) = setup("mnt_dev_links") else { return };
    let mut b = t.bundle();
    b.sh("for l in fd stdin stdout stderr ptmx; do echo \"$l $(readlink /dev/$l)\"; done");
    let out = t.run_ok(&b);
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(
        got,
        ["fd /proc/self/fd", "stdin /proc/self/fd/0", "stdout /proc/self/fd/1", "stderr /proc/self/fd/2", "ptmx pts/ptmx"],
        "{out}"
    );
    t.finish();
}

#[test]
fn no_pivot() {
    let Some(t) = setup("mnt_no_pivot") else { return };
    let mut b = t.bundle();
    let probe = format!("hull-ro-probe-{}", std::process::id());
    b.sh(&format!("cat /etc/hostname; touch /{probe} 2>/dev/null || echo ro; cat /proc/self/mountinfo"));
    let out = t.run(&b, &["--no-pivot"]);
    let leaked = rootfs().join(&probe).exists();
    let _ = fs::remove_file(rootfs().join(&probe));
    assert!(!leaked, "the container wrote into the shared rootfs");
    out.assert_ok();
    let mut l = out.stdout.lines();
    assert_eq!(l.next(), Some("hull"), "root is not the bundle rootfs:\n{}", out.stdout);
    assert!(out.stdout.lines().any(|l| l == "ro"), "root not read-only with --no-pivot:\n{}", out.stdout);
    let mi = parse_mountinfo(&out.stdout);
    assert!(mount_at(&mi, "/").is_some_and(|m| m.has_opt("ro")), "{}", out.stdout);
    assert!(mount_at(&mi, "/proc").is_some_and(|m| m.fstype == "proc"), "{}", out.stdout);
    assert!(t.state(&b.id).is_none());
    t.assert_gone(&b.id);
    t.finish();
}

/// A mount that fails halfway through create: exit 1, an error naming the mount, and nothing
/// left behind (state dir, cgroup, mount, process).
#[test]
fn failing_mount_leaves_nothing_behind() {
    let Some(t) = setup("mnt_fail") else { return };
    let mut b = t.bundle();
    b.add_mount(json!({"destination": "/run", "type": "tmpfs", "source": "tmpfs"}));
    b.add_mount(json!({"destination": "/mnt", "type": "hullbogusfs", "source": "none"}));
    b.args(&["sleep", "100000"]);
    let out = t.try_create(&b, &[]);
    out.assert_err("/mnt");
    assert!(t.state(&b.id).is_none(), "failed create left a container");
    t.assert_gone(&b.id);
    t.finish();
}

/// Masked directories are each an empty, read-only tmpfs at their own place (the runtime makes
/// one and binds it onto the others): nothing of what was there shows, and nothing can be
/// written into any of them.
#[test]
fn masked_directories_are_empty_and_read_only() {
    let Some(t) = setup("mnt_masked_dirs") else { return };
    let mut b = t.bundle();
    let private = b.private_rootfs();
    for d in ["m1", "m2", "m3"] {
        fs::create_dir_all(private.join(d)).unwrap();
        fs::write(private.join(d).join("secret"), "hidden").unwrap();
    }
    b.set("/linux/maskedPaths", json!(["/m1", "/missing", "/m2", "/m3"]));
    b.sh("for d in /m1 /m2 /m3; do echo \"$d:$(ls -A $d | wc -l)\"; (touch $d/x) 2>/dev/null && echo \"$d:writable\"; done; \
          echo --; cat /proc/self/mountinfo");
    let out = t.run_ok(&b);
    let (head, mi_text) = out.split_once("--\n").unwrap();
    assert_eq!(head.trim(), "/m1:0\n/m2:0\n/m3:0", "{out}");
    let mi = parse_mountinfo(mi_text);
    for d in ["/m1", "/m2", "/m3"] {
        let m = mount_at(&mi, d).unwrap_or_else(|| panic!("no mount at {d}:\n{mi_text}"));
        assert!(m.fstype == "tmpfs" && m.has_opt("ro"), "{d}: {m:?}");
    }
    // The host's directories keep what they held.
    assert_eq!(fs::read_to_string(private.join("m2/secret")).unwrap(), "hidden");
    t.finish();
}
