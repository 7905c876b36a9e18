//! Rootless mode (issue 14), as an unprivileged user runs hull: a test user made here (with
//! /etc/subuid and /etc/subgid ranges, removed at the end) writes `hull spec --rootless`, runs,
//! execs into and deletes containers from its own shell, with a rootfs it owns and its state
//! under $XDG_RUNTIME_DIR/hull. Single and multi-range mappings (newuidmap), a range
//! /etc/subuid does not give (clear error), and a limit no writable cgroup can hold (clear error).
mod common;

use common::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

const USER: &str = "hullrootless";

/// The test user, made by `ensure` when missing and then removed (with its home) on drop.
struct RootlessUser {
    uid: u32,
    gid: u32,
    home: PathBuf,
    runtime_dir: PathBuf,
    made: bool,
}

fn id_of(flag: &str) -> Option<u32> {
    let out = Command::new("id").args([flag, USER]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok().filter(|_| out.status.success())
}

impl RootlessUser {
    fn ensure() -> RootlessUser {
        let made = id_of("-u").is_none();
        if made {
            // Debian's useradd gives the new user a 65536-id range in /etc/subuid and /etc/subgid.
            let st = Command::new("useradd").args(["-m", "-s", "/bin/sh", USER]).status().expect("run useradd");
            assert!(st.success(), "useradd {USER}");
        }
        let (uid, gid) = (id_of("-u").unwrap(), id_of("-g").unwrap());
        let home = PathBuf::from(format!("/home/{USER}"));
        let runtime_dir = PathBuf::from(format!("/run/user/{uid}"));
        std::fs::create_dir_all(&runtime_dir).unwrap();
        let st = Command::new("chown").arg(format!("{uid}:{gid}")).arg(&runtime_dir).status().unwrap();
        assert!(st.success());
        std::fs::set_permissions(&runtime_dir, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        for f in ["/etc/subuid", "/etc/subgid"] {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            assert!(text.lines().any(|l| l.starts_with(&format!("{USER}:"))), "{f} has no range for {USER}:\n{text}");
        }
        RootlessUser { uid, gid, home, runtime_dir, made }
    }

    /// The first subordinate id /etc/subuid gives the user.
    fn sub_start(&self, file: &str) -> u32 {
        let text = std::fs::read_to_string(file).unwrap();
        let line = text.lines().find(|l| l.starts_with(&format!("{USER}:"))).unwrap();
        line.split(':').nth(1).unwrap().parse().unwrap()
    }

    /// Run `script` with sh as the user, in its home, with a login's environment and `$HULL`
    /// naming the runtime under test. Returns (success, stdout, stderr).
    fn sh(&self, hull: &std::path::Path, script: &str) -> (bool, String, String) {
        let out = Command::new("setpriv")
            .args(["--reuid", &self.uid.to_string(), "--regid", &self.gid.to_string(), "--init-groups", "env", "-i"])
            .arg(format!("HOME={}", self.home.display()))
            .arg(format!("USER={USER}"))
            .arg(format!("XDG_RUNTIME_DIR={}", self.runtime_dir.display()))
            .arg("PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin")
            .arg(format!("HULL={}", hull.display()))
            .args(["sh", "-c", &format!("cd \"$HOME\" && {script}")])
            .output()
            .expect("run setpriv");
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

impl Drop for RootlessUser {
    fn drop(&mut self) {
        // Containers a failed scenario left: deleted through their state (root may).
        let state = self.runtime_dir.join("hull");
        for e in std::fs::read_dir(&state).into_iter().flatten().flatten() {
            let _ = Command::new(runtime()).arg("--root").arg(&state).args(["delete", "--force"]).arg(e.file_name()).output();
        }
        let _ = std::fs::remove_dir_all(&state);
        if self.made {
            match Command::new("userdel").args(["-r", USER]).output() {
                Ok(o) if o.status.success() || String::from_utf8_lossy(&o.stderr).contains("mail spool") => {}
                Ok(o) => eprintln!("userdel -r {USER}: {}", String::from_utf8_lossy(&o.stderr)),
                Err(e) => eprintln!("userdel -r {USER}: {e}"),
            }
            let _ = std::fs::remove_dir_all(&self.runtime_dir);
        }
    }
}

/// A bundle in the user's home: `hull spec --rootless` written by the user, with a copy of the
/// test rootfs it owns; then `process.args` and `edit` applied to the config.
fn user_bundle(u: &RootlessUser, hull: &std::path::Path, name: &str, args: &[&str], edit: impl FnOnce(&mut Value)) {
    let script = format!("rm -rf {name} && mkdir {name} && cd {name} && cp -a {} rootfs && \"$HULL\" spec --rootless", rootfs().display());
    let (ok, out, err) = u.sh(hull, &script);
    assert!(ok, "make bundle {name}: {out}\n{err}");
    let path = u.home.join(name).join("config.json");
    let mut c: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    c["process"]["terminal"] = json!(false);
    c["process"]["args"] = json!(args);
    edit(&mut c);
    // Rewritten in place: the file stays the user's.
    std::fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
}

/// The msg of a runc-shaped error line, or the text as it is.
fn said(stderr: &str) -> String {
    stderr.lines().map(|l| log_line_msg(l).unwrap_or_else(|| l.to_string())).collect::<Vec<_>>().join("\n")
}

#[test]
fn an_unprivileged_user_runs_execs_and_deletes_containers() {
    let Some(t) = setup("rootless") else { return };
    if !std::path::Path::new("/usr/sbin/useradd").exists() || !std::path::Path::new("/usr/bin/setpriv").exists() {
        // The VM lane's initramfs has neither; there the v2 test below runs.
        eprintln!("SKIP: needs useradd and setpriv to make and become the test user");
        return t.finish();
    }
    // The user must be able to reach the binary: a private copy in the scratch dir (the checkout
    // may be under a 0700 home, as in the fresh-machine lane).
    let hull = t.private_runtime();
    let u = RootlessUser::ensure();
    let (uid, gid) = (u.uid, u.gid);

    // 1. The template `hull spec --rootless` writes runs as it is: root in the container is the
    //    user, the state is under $XDG_RUNTIME_DIR/hull.
    user_bundle(&u, &hull, "b1", &["sh", "-c", "id -u; cat /proc/self/uid_map; cat /proc/self/gid_map"], |_| {});
    let (ok, out, err) = u.sh(&hull, "cd b1 && \"$HULL\" run rl1");
    assert!(ok, "hull run as {USER}: {out}\n{}", said(&err));
    let lines: Vec<String> = out.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(lines, ["0".to_string(), format!("0 {uid} 1"), format!("0 {gid} 1")], "{out}");

    // 2. run -d, exec, ps, kill, delete; the state dir is the user's.
    user_bundle(&u, &hull, "b2", &["sleep", "100"], |_| {});
    let (ok, out, err) = u.sh(
        &hull,
        "cd b2 && \"$HULL\" run -d rl2 && ls -d \"$XDG_RUNTIME_DIR/hull/rl2\" && \"$HULL\" exec rl2 sh -c 'echo exec-as-$(id -u)' && \
         \"$HULL\" ps --format json rl2 && \"$HULL\" kill rl2 KILL && \"$HULL\" delete --force rl2 && echo deleted",
    );
    assert!(ok, "{out}\n{}", said(&err));
    assert!(out.contains(&format!("{}/hull/rl2", u.runtime_dir.display())), "{out}");
    assert!(out.contains("exec-as-0"), "{out}");
    assert!(out.lines().any(|l| l.starts_with('[') && l.len() > 2), "ps lists the init: {out}");
    assert!(out.contains("deleted"), "{out}");
    let (ok, out, _) = u.sh(&hull, "\"$HULL\" list -q");
    assert!(ok && out.trim().is_empty(), "nothing left: {out}");

    // 3. A multi-range mapping goes through newuidmap/newgidmap, within /etc/subuid and /etc/subgid.
    let (su, sg) = (u.sub_start("/etc/subuid"), u.sub_start("/etc/subgid"));
    user_bundle(&u, &hull, "b3", &["sh", "-c", "cat /proc/self/uid_map /proc/self/gid_map"], |c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}, {"containerID": 1, "hostID": su, "size": 1000}]);
        c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}, {"containerID": 1, "hostID": sg, "size": 1000}]);
    });
    let (ok, out, err) = u.sh(&hull, "cd b3 && \"$HULL\" run rl3");
    assert!(ok, "{out}\n{}", said(&err));
    let lines: Vec<String> = out.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(
        lines,
        [format!("0 {uid} 1"), format!("1 {su} 1000"), format!("0 {gid} 1"), format!("1 {sg} 1000")],
        "{out}"
    );

    // 4. A range /etc/subuid does not give: the error names the file, the range and what it gives.
    user_bundle(&u, &hull, "b4", &["true"], |c| {
        c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}, {"containerID": 1, "hostID": su + 70000, "size": 10}]);
    });
    let (ok, out, err) = u.sh(&hull, "cd b4 && \"$HULL\" run rl4");
    let msg = said(&err);
    assert!(!ok, "{out}");
    assert!(msg.contains("/etc/subuid") && msg.contains(&format!("1:{}:10", su + 70000)) && msg.contains(&format!("{su}+")), "{msg}");
    let (_, out, _) = u.sh(&hull, "\"$HULL\" list -q");
    assert!(out.trim().is_empty(), "a failed create leaves nothing: {out}");

    // 5b. Device nodes are the host's, bound in; a fifo is made (anyone may make one).
    user_bundle(&u, &hull, "b6", &["sh", "-c", "test -p /dev/hull-fifo && test -c /dev/null && echo nodes-ok"], |c| {
        c["linux"]["devices"] = json!([{"path": "/dev/hull-fifo", "type": "p", "fileMode": 420}]);
    });
    let (ok, out, err) = u.sh(&hull, "cd b6 && \"$HULL\" run rl6");
    assert!(ok && out.contains("nodes-ok"), "{out}\n{}", said(&err));

    // 5c. A container without a cgroup never reads one: a frozen cgroup of someone else's at the
    //     path its config names does not make it "paused".
    let freezer = std::path::Path::new(CG_ROOT).join("freezer").join(CG_PREFIX).join(format!("rootless-{}", std::process::id()));
    if std::fs::create_dir_all(&freezer).is_ok() {
        std::fs::write(freezer.join("freezer.state"), "FROZEN").unwrap();
        let path = format!("/{CG_PREFIX}/rootless-{}", std::process::id());
        user_bundle(&u, &hull, "b7", &["sleep", "100"], |c| c["linux"]["cgroupsPath"] = json!(path));
        let (ok, out, err) = u.sh(&hull, "cd b7 && \"$HULL\" run -d rl7 && \"$HULL\" state rl7; \"$HULL\" delete --force rl7");
        let _ = std::fs::write(freezer.join("freezer.state"), "THAWED");
        let _ = std::fs::remove_dir(&freezer);
        assert!(ok && out.contains("\"status\": \"running\""), "{out}\n{}", said(&err));
    }

    // 5. A limit where no cgroup is writable by the user (cgroup v1): refused by name.
    if !cgroup_v2() {
        user_bundle(&u, &hull, "b5", &["true"], |c| c["linux"]["resources"] = json!({"memory": {"limit": 64 << 20}}));
        let (ok, _, err) = u.sh(&hull, "cd b5 && \"$HULL\" run rl5");
        let msg = said(&err);
        assert!(!ok && msg.contains("linux.resources.memory") && msg.contains("rootless"), "{msg}");
    }
    drop(u);
    t.finish();
}

/// Pure cgroup v2 (the VM lane): a subtree delegated to the user (chowned, as systemd delegates
/// user@UID.service, the user's processes inside it) holds a rootless container's cgroup with
/// the cgroupfs driver: its limits are set and enforced, and pause, update, ps and delete work.
/// A bare uid stands in for the user (no passwd entry needed): a single mapping of its own id.
#[test]
fn rootless_uses_a_delegated_cgroup_v2_subtree() {
    use std::os::unix::process::CommandExt;
    let Some(t) = setup("rootless_v2") else { return };
    if !std::path::Path::new(CG_ROOT).join("cgroup.subtree_control").exists() {
        eprintln!("SKIP: needs a pure cgroup v2 host (the VM lane boots one)");
        return t.finish();
    }
    let (uid, gid) = (23456u32, 23456u32);
    let chown = |p: &std::path::Path, rec: bool| {
        let mut c = Command::new("chown");
        if rec {
            c.arg("-R");
        }
        assert!(c.arg(format!("{uid}:{gid}")).arg(p).status().unwrap().success(), "chown {p:?}");
    };
    // The delegation: a directory under the test prefix, its control files the user's, and a
    // "session" leaf where the user's commands run.
    let prefix = std::path::Path::new(CG_ROOT).join(CG_PREFIX);
    std::fs::create_dir_all(&prefix).unwrap();
    for d in [std::path::Path::new(CG_ROOT), prefix.as_path()] {
        std::fs::write(d.join("cgroup.subtree_control"), "+memory +pids").unwrap();
    }
    let deleg = prefix.join(format!("rootless-{}", std::process::id()));
    let session = deleg.join("session");
    std::fs::create_dir_all(&session).unwrap();
    for f in ["", "cgroup.procs", "cgroup.subtree_control", "cgroup.threads"] {
        chown(&deleg.join(f), false);
    }
    for f in ["", "cgroup.procs", "cgroup.threads"] {
        chown(&session.join(f), false);
    }
    let state_dir = t.dir("state");
    chown(&state_dir, false);
    let mut b = t.bundle();
    let rootfs = b.private_rootfs();
    chown(&b.dir, true);
    let _ = rootfs;
    let rel = format!("/{CG_PREFIX}/rootless-{}/ctr", std::process::id());
    b.remove_namespace("network");
    b.add_namespace(json!({"type": "user"}));
    b.set("/linux/uidMappings", json!([{"containerID": 0, "hostID": uid, "size": 1}]));
    b.set("/linux/gidMappings", json!([{"containerID": 0, "hostID": gid, "size": 1}]));
    b.set("/linux/cgroupsPath", json!(rel));
    b.set("/linux/resources", json!({"memory": {"limit": 32 << 20}, "pids": {"limit": 6}}));
    b.set("/root/readonly", json!(false));
    // No new network namespace: sysfs is bound, as in `hull spec --rootless`; no cgroup mount.
    let mounts: Vec<Value> = b.config["mounts"].as_array().unwrap().iter().filter(|m| m["type"] != "cgroup" && m["type"] != "sysfs").cloned().collect();
    b.config["mounts"] = json!(mounts);
    b.add_mount(json!({"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}));
    b.args(&["sleep", "100000"]);
    b.write();
    chown(&b.dir.join("config.json"), false);
    let procs = session.join("cgroup.procs");
    let hull = t.private_runtime();
    let as_user = |args: &[&str]| -> (bool, String) {
        let mut c = Command::new(&hull);
        c.args(["--root", state_dir.to_str().unwrap()]).args(args).env_clear().env("XDG_RUNTIME_DIR", &state_dir).env("PATH", "/usr/bin:/bin");
        let procs = std::ffi::CString::new(procs.to_str().unwrap()).unwrap();
        // SAFETY: only async-signal-safe calls between fork and exec (open, write, close,
        // setgroups, setgid, setuid), on memory made before the fork.
        unsafe {
            c.pre_exec(move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY);
                if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fd);
                if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        // Files, not pipes: a detached container keeps the runtime's stdio open.
        let log = t.scratch.join("as-user.out");
        let f = std::fs::File::create(&log).unwrap();
        c.stdout(f.try_clone().unwrap()).stderr(f).stdin(std::process::Stdio::null());
        let ok = c.status().unwrap().success();
        (ok, std::fs::read_to_string(&log).unwrap_or_default())
    };
    let (ok, out) = as_user(&["run", "-d", "--bundle", b.dir_str(), &b.id]);
    assert!(ok, "rootless run -d in a delegated subtree: {out}");
    let ctr = std::path::Path::new(CG_ROOT).join(&rel[1..]);
    assert_eq!(read_trim(ctr.join("memory.max")), (32u64 << 20).to_string());
    assert_eq!(read_trim(ctr.join("pids.max")), "6");
    // Enforced: forks beyond pids.max fail, and the kernel counts them.
    let (_, out) = as_user(&["exec", &b.id, "sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; wait"]);
    let refused: u64 = read_trim(ctr.join("pids.events")).split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(refused > 0, "pids.max not enforced: {out}");
    let (ok, out) = as_user(&["pause", &b.id]);
    assert!(ok, "{out}");
    let st = t.rt_raw(&["--root", state_dir.to_str().unwrap(), "state", &b.id]);
    assert!(st.stdout.contains("\"paused\""), "{}", st.show());
    let (ok, out) = as_user(&["resume", &b.id]);
    assert!(ok, "{out}");
    let (ok, out) = as_user(&["update", "--pids-limit", "20", &b.id]);
    assert!(ok, "{out}");
    assert_eq!(read_trim(ctr.join("pids.max")), "20");
    // Statistics of a cgroup with only memory and pids enabled.
    let (ok, out) = as_user(&["events", "--stats", &b.id]);
    assert!(ok && out.contains("\"pids\":{\"current\":"), "{out}");
    assert!(out.contains(&format!("\"limit\":{}", 32u64 << 20)), "memory limit in the statistics: {out}");
    let (ok, out) = as_user(&["ps", "--format", "json", &b.id]);
    assert!(ok && out.starts_with('['), "{out}");
    let (ok, out) = as_user(&["delete", "--force", &b.id]);
    assert!(ok, "{out}");
    assert!(!ctr.exists(), "the container's cgroup is removed");
    let _ = std::fs::remove_dir(&session);
    let _ = std::fs::remove_dir(&deleg);
    t.finish();
}
