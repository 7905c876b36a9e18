//! Recursive mount attributes (rro vs ro on an rbind with a submount), nosymfollow, `features`
//! (its mountOptions all usable in a real container) and `--pidfd-socket` on create and exec.
mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::Duration;

/// 9. `rro` makes an rbind read-only recursively (the submount too); plain `ro` only the top.
#[test]
fn rro_versus_ro_on_rbind() {
    let Some(t) = setup("extras_rro") else { return };
    let src = t.dir("src");
    fs::write(src.join("top-file"), "x").unwrap();
    let sub = HostTmpfs::mount(&src.join("sub"));
    let script = "touch /mnt/a 2>/dev/null; echo top=$?; touch /mnt/sub/a 2>/dev/null; echo sub=$?; \
                  echo --; cat /proc/self/mountinfo";
    for (suffix, opt, want_sub) in [("rro", "rro", "1"), ("ro", "ro", "0")] {
        let id = t.id_with(suffix);
        let mut b = t.bundle_for(&id);
        b.add_mount(json!({"destination": "/mnt", "type": "bind", "source": src.to_str().unwrap(),
                           "options": ["rbind", opt]}));
        b.sh(script);
        let out = t.run(&b, &[]);
        out.assert_ok();
        assert_eq!(kv(&out.stdout, "top"), "1", "{opt}: the bind itself must be read-only\n{}", out.show());
        assert_eq!(kv(&out.stdout, "sub"), want_sub, "{opt}: write to the submount\n{}", out.show());
        let mi = parse_mountinfo(out.stdout.split_once("--\n").unwrap().1);
        let top = mount_at(&mi, "/mnt").unwrap_or_else(|| panic!("no /mnt\n{}", out.show()));
        let subm = mount_at(&mi, "/mnt/sub").unwrap_or_else(|| panic!("rbind lost the submount\n{}", out.show()));
        assert!(top.has_opt("ro"), "{opt}: /mnt {:?}", top.options);
        assert_eq!(subm.fstype, "tmpfs");
        let want = if want_sub == "1" { "ro" } else { "rw" };
        assert!(subm.has_opt(want), "{opt}: /mnt/sub must be {want}: {:?}", subm.options);
    }
    drop(sub);
    assert!(!src.join("sub/a").exists());
    t.finish();
}

/// `nosymfollow` on a tmpfs: shown in mountinfo, and symlinks on it are not followed.
#[test]
fn nosymfollow_tmpfs() {
    let Some(t) = setup("extras_nosymfollow") else { return };
    for (suffix, opts, refused) in [("on", json!(["nosymfollow"]), true), ("off", json!([]), false)] {
        let id = t.id_with(suffix);
        let mut b = t.bundle_for(&id);
        b.add_mount(json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": opts}));
        b.sh("echo data > /mnt/f; ln -s /mnt/f /mnt/l; echo via=$(cat /mnt/l 2>/dev/null || echo refused); \
              grep ' /mnt ' /proc/self/mountinfo");
        let out = t.run(&b, &[]);
        out.assert_ok();
        let line = out.stdout.lines().find(|l| l.contains(" /mnt ")).unwrap_or_else(|| panic!("{}", out.show()));
        let mi = parse_mountinfo(line);
        assert_eq!(mi[0].has_opt("nosymfollow"), refused, "{line}");
        assert_eq!(kv(&out.stdout, "via"), if refused { "refused" } else { "data" }, "{}", out.show());
    }
    t.finish();
}

/// `lazytime` is a mount flag (MS_LAZYTIME): the superblock shows it, `nolazytime` clears it.
#[test]
fn lazytime_tmpfs() {
    let Some(t) = setup("extras_lazytime") else { return };
    for (suffix, opts, want) in [("on", json!(["lazytime"]), true), ("off", json!(["lazytime", "nolazytime"]), false)] {
        let id = t.id_with(suffix);
        let mut b = t.bundle_for(&id);
        b.add_mount(json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": opts}));
        b.sh("grep ' /mnt ' /proc/self/mountinfo");
        let out = t.run(&b, &[]);
        out.assert_ok();
        let mi = parse_mountinfo(out.stdout.trim());
        assert_eq!(mi[0].has_super_opt("lazytime") || mi[0].has_opt("lazytime"), want, "{}", out.stdout);
    }
    t.finish();
}

/// 10. `features`: valid JSON with the version range, SCMP_ACT_NOTIFY, rro and tmpcopyup; and
/// every advertised mount option works on a tmpfs in a real container.
#[test]
fn features_mount_options_all_usable() {
    let Some(t) = setup("extras_features") else { return };
    let out = t.rt_raw(&["features"]);
    out.assert_ok();
    let f: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("features JSON: {e}\n{}", out.show()));
    for k in ["ociVersionMin", "ociVersionMax"] {
        let v = f[k].as_str().unwrap_or_else(|| panic!("{k} missing: {f}"));
        assert!(v.starts_with("1."), "{k}: {v}");
    }
    let actions: Vec<&str> = f["linux"]["seccomp"]["actions"].as_array().expect("linux.seccomp.actions")
        .iter().filter_map(|a| a.as_str()).collect();
    let opts: Vec<&str> = f["mountOptions"].as_array().expect("mountOptions").iter().filter_map(|a| a.as_str()).collect();
    assert!(actions.contains(&"SCMP_ACT_NOTIFY"), "{actions:?}");
    assert!(opts.contains(&"rro"), "{opts:?}");
    assert!(opts.contains(&"tmpcopyup"), "{opts:?}");
    // bind/rbind change the mount's type, remount needs an existing mount: not for a new tmpfs.
    // idmap/ridmap need a bind mount with mappings (tests/idmap_mounts.rs).
    let mut skip = vec!["bind", "rbind", "remount", "idmap", "ridmap"];
    if !is_hull() {
        // runc 1.1.5 advertises "defaults" but passes it to tmpfs as data (EINVAL).
        skip.push("defaults");
    }
    let usable: Vec<&str> = opts.iter().copied().filter(|o| !skip.contains(o)).collect();
    assert!(usable.len() > 20, "{opts:?}");
    let mut b = t.bundle();
    b.add_mount(json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs"}));
    for (i, o) in usable.iter().enumerate() {
        b.add_mount(json!({"destination": format!("/mnt/o{i}"), "type": "tmpfs", "source": "tmpfs", "options": [o]}));
    }
    b.sh("grep -c ' /mnt/o[0-9]* ' /proc/self/mountinfo");
    let out = t.run(&b, &[]);
    out.assert_ok();
    assert_eq!(out.stdout.trim(), usable.len().to_string(), "one tmpfs per option\n{}", out.show());
    t.finish();
}

/// Accept one connection on `l` and read one message: (payload, received fds, control messages).
fn receive(l: &UnixListener) -> (String, Vec<OwnedFd>, usize) {
    l.set_nonblocking(true).unwrap();
    let stream = wait_for("a connection on the pidfd socket", || l.accept().ok().map(|(s, _)| s));
    stream.set_nonblocking(false).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    recv_with_fds(stream.as_raw_fd(), "pidfd socket")
}

/// The `Pid:` of a pidfd, from /proc/self/fdinfo.
fn pidfd_pid(fd: &OwnedFd) -> String {
    let info = fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd())).unwrap();
    status_field(&info, "Pid").unwrap_or_else(|| panic!("not a pidfd (no Pid: line):\n{info}")).to_string()
}

/// 6. `--pidfd-socket` on create and on `exec -d`: one message "pidfd" with one pidfd of the
/// init / the exec'd process (hull-only: runc 1.1.5 lacks the flag).
#[test]
fn pidfd_socket_create_and_exec() {
    let Some(t) = setup("extras_pidfd") else { return };
    if !is_hull() {
        eprintln!("SKIP extras_pidfd: runc 1.1.5 has no --pidfd-socket");
        return;
    }
    let id = t.id();
    let mut b = t.bundle_for(&id);
    b.args(&["sleep", "100000"]);
    let path = t.scratch.join("pidfd-create.sock");
    let l = UnixListener::bind(&path).unwrap();
    t.try_create(&b, &["--pidfd-socket", path.to_str().unwrap()]).assert_ok();
    let (payload, fds, cmsgs) = receive(&l);
    let pid = t.state(&id).expect("state")["pid"].as_i64().unwrap();
    assert_eq!(payload, "pidfd");
    assert_eq!((cmsgs, fds.len()), (1, 1), "one SCM_RIGHTS message with one fd");
    assert_eq!(pidfd_pid(&fds[0]), pid.to_string(), "the create pidfd must refer to the init");
    t.start(&id);

    let path = t.scratch.join("pidfd-exec.sock");
    let l = UnixListener::bind(&path).unwrap();
    let pf = t.scratch.join("exec.pid");
    t.rt(&["exec", "-d", "--pid-file", pf.to_str().unwrap(), "--pidfd-socket", path.to_str().unwrap(), &id, "sleep", "100000"])
        .assert_ok();
    let (payload, fds, cmsgs) = receive(&l);
    let xpid = read_trim(&pf);
    assert_ne!(xpid, pid.to_string());
    assert_eq!(payload, "pidfd");
    assert_eq!((cmsgs, fds.len()), (1, 1), "one SCM_RIGHTS message with one fd");
    assert_eq!(pidfd_pid(&fds[0]), xpid, "the exec pidfd must refer to the exec'd process");
    // The pidfd is live: signal 0 through it works.
    // SAFETY: pidfd_send_signal(fd, 0, NULL, 0).
    let r = unsafe { libc::syscall(libc::SYS_pidfd_send_signal, fds[0].as_raw_fd(), 0, std::ptr::null::<u8>(), 0) };
    assert_eq!(r, 0, "pidfd_send_signal: {}", std::io::Error::last_os_error());
    t.finish();
}
