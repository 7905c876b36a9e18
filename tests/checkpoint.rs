//! Checkpoint and restore through CRIU. CRIU 3.17 cannot work on this host's kernel (`criu check`
//! fails on the vDSO): here the verbs must say so precisely and leave the container as it was.
//! In the cgroup v2 VM lane (`VM_TESTS=checkpoint make test-cgroupv2`), whose kernel passes
//! `criu check`, containers are really dumped and restored.
mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

/// True when CRIU can checkpoint on this kernel.
fn criu_works() -> bool {
    Command::new("criu").arg("check").stdout(Stdio::null()).stderr(Stdio::null()).status().map(|s| s.success()).unwrap_or(false)
}

/// Start skipping when CRIU cannot work here (the host): these run in the VM lane.
fn needs_criu(name: &str) -> bool {
    if criu_works() {
        return true;
    }
    eprintln!("SKIP {name}: `criu check` fails on this kernel (tests/checkpoint.rs runs these in the cgroup v2 VM lane)");
    false
}

/// Pipes for a runtime's stdio (what the container inherits, as from containerd's shim): the
/// container's ends go to the command, ours are kept while the test runs.
struct Pipes(Vec<OwnedFd>);

impl Pipes {
    fn attach(c: &mut Command) -> Pipes {
        let (r0, w0) = nix::unistd::pipe().unwrap();
        let (r1, w1) = nix::unistd::pipe().unwrap();
        let (r2, w2) = nix::unistd::pipe().unwrap();
        c.stdin(Stdio::from(r0)).stdout(Stdio::from(w1)).stderr(Stdio::from(w2));
        Pipes(vec![w0, r1, r2])
    }
    /// What is in the stderr pipe now (without waiting: a container may hold it open).
    fn stderr_now(&self) -> String {
        use std::io::Read;
        use std::os::fd::AsRawFd;
        let fd = self.0[2].as_raw_fd();
        // SAFETY: fcntl on a descriptor we own.
        unsafe { libc::fcntl(fd, libc::F_SETFL, libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK) };
        let mut f = std::mem::ManuallyDrop::new(unsafe { <fs::File as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        let mut buf = vec![0u8; 65536];
        let n = f.read(&mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

/// `checkpoint ARGS` that must succeed; on failure the panic shows CRIU's whole log too.
#[track_caller]
fn checkpoint(t: &Test, args: &[&str]) {
    let mut a = vec!["checkpoint"];
    a.extend_from_slice(args);
    let out = t.rt(&a);
    if !out.ok() {
        let log = out.stderr.split("the whole log: ").nth(1).and_then(|r| r.split('"').next()).unwrap_or("");
        let text = fs::read_to_string(log).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(60).collect::<Vec<_>>().into_iter().rev().collect();
        panic!("checkpoint failed\n{}\n--- CRIU's log {log} (end) ---\n{}", out.show(), tail.join("\n"));
    }
}

/// A container counting in a shell variable: each value goes to /tmp/count (a tmpfs) and to
/// /out/count (a bind mount of the bundle's `out`), five times a second.
fn counter(t: &Test, id: &str) -> (Bundle, PathBuf) {
    let mut b = t.bundle_for(id);
    let out = b.out();
    b.add_mount(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}));
    b.sh("i=0; while :; do i=$((i+1)); echo $i > /tmp/count; echo $i > /out/count; sleep 0.2; done");
    (b, out)
}

fn count(out: &Path) -> u64 {
    fs::read_to_string(out.join("count")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

/// Wait until the counter in `out` reaches more than `n`; returns the value seen.
#[track_caller]
fn count_above(out: &Path, n: u64) -> u64 {
    wait_for(&format!("{} to count above {n}", out.display()), || Some(count(out)).filter(|v| *v > n))
}

/// A counter container started with `run -d` and counting above `n`: its bundle, its `out`
/// dir, and the stdio pipes to keep.
#[track_caller]
fn running_counter(t: &Test, id: &str, n: u64) -> (Bundle, PathBuf, Pipes) {
    let (b, out) = counter(t, id);
    let p = run_detached(t, &b);
    count_above(&out, n);
    (b, out, p)
}

/// `run -d` with stdio pipes; returns the pipes to keep.
#[track_caller]
fn run_detached(t: &Test, b: &Bundle) -> Pipes {
    b.write();
    let mut keep = None;
    let mut out = t.rt_with(&["run", "-d", "--bundle", b.dir_str(), &b.id], |c| keep = Some(Pipes::attach(c)));
    let keep = keep.unwrap();
    out.stderr = keep.stderr_now();
    out.assert_ok();
    keep
}

/// `restore -d` with stdio pipes and `extra` flags.
fn restore(t: &Test, b: &Bundle, images: &Path, extra: &[&str]) -> (Out, Pipes) {
    b.write();
    let mut args = vec!["restore", "-d", "--image-path", images.to_str().unwrap(), "--bundle", b.dir_str()];
    args.extend_from_slice(extra);
    args.push(&b.id);
    let mut keep = None;
    let mut out = t.rt_with(&args, |c| keep = Some(Pipes::attach(c)));
    let keep = keep.unwrap();
    // The runtime's own stderr is the pipe: its messages are read back from there.
    out.stderr = keep.stderr_now();
    (out, keep)
}

/// The cgroup (v2 line) of a process.
fn cgroup_of(pid: i64) -> String {
    fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default()
}

#[test]
fn counter_continues_after_checkpoint_and_restore() {
    let Some(t) = setup("checkpoint_counter") else { return };
    if !needs_criu(&t.name) {
        return;
    }
    let id = t.id();
    let (b, out, _p) = running_counter(&t, &id, 3);
    let images = t.dir("images");
    checkpoint(&t, &["--image-path", images.to_str().unwrap(), &id]);
    assert!(images.join("inventory.img").exists(), "no images in {}", images.display());
    // The container is gone (as runc leaves it), its processes with it: the counter stops.
    assert_eq!(t.state(&id), None, "the checkpointed container must be deleted");
    t.assert_gone(&id);
    let at_dump = count(&out);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(count(&out), at_dump, "the counter went on after the checkpoint");

    let (r, _p2) = restore(&t, &b, &images, &[]);
    r.assert_ok();
    let st = t.state(&id).expect("state after restore");
    assert_eq!(st["status"], "running", "{st}");
    let pid = st["pid"].as_i64().unwrap();
    assert!(cgroup_of(pid).contains(&format!("/{CG_PREFIX}/{id}")), "restored init not in the container's cgroup: {}", cgroup_of(pid));
    // The shell's variable went on from where it was: the next value is above the dumped one.
    let next = count_above(&out, at_dump);
    assert!(next <= at_dump + 5, "the counter jumped from {at_dump} to {next}");
    // The tmpfs came back with its content, and exec works in the restored container.
    let e = t.rt(&["exec", &id, "cat", "/tmp/count"]);
    e.assert_ok();
    let inside: u64 = e.stdout.trim().parse().unwrap();
    assert!(inside >= at_dump, "/tmp/count in the restored container is {inside}, below {at_dump}");
    t.rt(&["kill", &id, "KILL"]).assert_ok();
    t.wait_stopped(&id);
    t.rt(&["delete", &id]).assert_ok();
    t.finish();
}

#[test]
fn leave_running_then_restore_under_a_new_id() {
    let Some(t) = setup("checkpoint_leave_running") else { return };
    if !needs_criu(&t.name) {
        return;
    }
    let id = t.id();
    let (_b, out, _p) = running_counter(&t, &id, 2);
    let images = t.dir("images");
    checkpoint(&t, &["--leave-running", "--image-path", images.to_str().unwrap(), &id]);
    assert_eq!(t.status(&id).as_deref(), Some("running"));
    let v = count(&out);
    count_above(&out, v);

    // The copy: a new id, its own cgroup, and its /out bound from its own bundle.
    let id2 = t.id_with("copy");
    let (b2, out2) = counter(&t, &id2);
    let (r, _p2) = restore(&t, &b2, &images, &[]);
    r.assert_ok();
    count_above(&out2, 1);
    let (s1, s2) = (t.state(&id).unwrap(), t.state(&id2).unwrap());
    assert_eq!(s2["status"], "running");
    assert_ne!(s1["pid"], s2["pid"]);
    let pid2 = s2["pid"].as_i64().unwrap();
    assert!(cgroup_of(pid2).contains(&format!("/{CG_PREFIX}/{id2}")), "copy not in its own cgroup: {}", cgroup_of(pid2));
    // Both go on counting.
    let (a, c) = (count(&out), count(&out2));
    count_above(&out, a);
    count_above(&out2, c);
    t.finish();
}

#[test]
fn pre_dump_then_dump_with_parent() {
    let Some(t) = setup("checkpoint_pre_dump") else { return };
    if !needs_criu(&t.name) {
        return;
    }
    let id = t.id();
    let (b, out, _p) = running_counter(&t, &id, 2);
    let pre = t.dir("pre");
    let dump = t.dir("dump");
    checkpoint(&t, &["--pre-dump", "--image-path", pre.to_str().unwrap(), &id]);
    assert_eq!(t.status(&id).as_deref(), Some("running"), "a pre-dump leaves the container running");
    assert!(fs::read_dir(&pre).unwrap().any(|e| e.unwrap().file_name().to_string_lossy().starts_with("pages-")), "no pages in the pre-dump");
    let v = count(&out);
    count_above(&out, v);
    checkpoint(&t, &["--image-path", dump.to_str().unwrap(), "--parent-path", "../pre", &id]);
    assert_eq!(fs::read_link(dump.join("parent")).unwrap(), PathBuf::from("../pre"), "the dump links its parent");
    let at_dump = count(&out);
    let (r, _p2) = restore(&t, &b, &dump, &[]);
    r.assert_ok();
    count_above(&out, at_dump);
    t.finish();
}

#[test]
fn terminal_container_restores_onto_a_new_console_socket() {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixListener;
    let Some(t) = setup("checkpoint_terminal") else { return };
    if !needs_criu(&t.name) {
        return;
    }
    let id = t.id();
    let mut b = t.bundle_for(&id);
    b.set("/process/terminal", json!(true));
    b.sh("while read l; do echo got-$l; done");
    // Talk through a pty master received on a console socket: send a line, read its echo.
    let talk = |sock: &UnixListener, line: &str| {
        let (s, _) = sock.accept().unwrap();
        let (_, mut fds, _) = recv_with_fds(s.as_raw_fd(), "console socket");
        let mut m = fs::File::from(fds.remove(0));
        m.write_all(format!("{line}\n").as_bytes()).unwrap();
        let mut seen = String::new();
        let want = format!("got-{line}");
        wait_for(&format!("{want} on the pty"), || {
            let mut buf = [0u8; 1024];
            let n = m.read(&mut buf).unwrap_or(0);
            seen.push_str(&String::from_utf8_lossy(&buf[..n]));
            seen.contains(&want).then_some(())
        });
        m
    };
    let sock1 = UnixListener::bind(t.scratch.join("c1.sock")).unwrap();
    t.try_create(&b, &["--console-socket", t.scratch.join("c1.sock").to_str().unwrap()]).assert_ok();
    t.start(&id);
    let m1 = talk(&sock1, "one");
    let images = t.dir("images");
    checkpoint(&t, &["--image-path", images.to_str().unwrap(), &id]);
    drop(m1);
    let sock2 = UnixListener::bind(t.scratch.join("c2.sock")).unwrap();
    let (r, _p) = restore(&t, &b, &images, &["--console-socket", t.scratch.join("c2.sock").to_str().unwrap()]);
    r.assert_ok();
    let _m2 = talk(&sock2, "two");
    t.finish();
}

#[test]
fn a_failed_restore_leaves_nothing() {
    let Some(t) = setup("checkpoint_failed_restore") else { return };
    if !needs_criu(&t.name) {
        return;
    }
    let id = t.id();
    let (b, _) = counter(&t, &id);
    // Images that are not CRIU's: CRIU fails, after hull made the state dir and the cgroup.
    let images = t.dir("images");
    fs::write(images.join("inventory.img"), b"not an image").unwrap();
    let (r, _p) = restore(&t, &b, &images, &[]);
    r.assert_err("restore of container");
    assert!(r.error_text().contains("restore.log"), "the error names CRIU's log: {}", r.error_text());
    t.assert_gone(&id);
    // No images at all: refused before anything is made.
    let empty = t.dir("empty");
    let (r, _p) = restore(&t, &b, &empty, &[]);
    r.assert_err("holds no checkpoint");
    t.assert_gone(&id);
    t.finish();
}

#[test]
fn checkpoint_refuses_a_container_that_is_not_running() {
    let Some(t) = setup("checkpoint_not_running") else { return };
    if !needs_criu(&t.name) {
        return;
    }
    let id = t.id();
    let (b, _) = counter(&t, &id);
    t.create(&b);
    let images = t.dir("images");
    t.rt(&["checkpoint", "--image-path", images.to_str().unwrap(), &id]).assert_err("it is created, not running");
    assert_eq!(t.status(&id).as_deref(), Some("created"));
    t.rt(&["checkpoint", "--lazy-pages", &id]).assert_err("--lazy-pages is not supported");
    t.finish();
}

/// Where CRIU cannot work (this host's kernel), both verbs say why, naming `criu check`'s own
/// error, and leave everything as it was.
#[test]
fn a_kernel_criu_cannot_work_on_is_named() {
    let Some(t) = setup("checkpoint_kernel") else { return };
    if criu_works() {
        eprintln!("SKIP {}: `criu check` passes here", t.name);
        return;
    }
    let id = t.id();
    let (_b, out, _p) = running_counter(&t, &id, 1);
    let images = t.dir("images");
    let r = t.rt(&["checkpoint", "--image-path", images.to_str().unwrap(), &id]);
    if Command::new("criu").arg("--version").output().is_ok() {
        r.assert_err("`criu check` failed: Error (");
        assert!(r.error_text().contains("CRIU cannot work on this kernel"), "{}", r.error_text());
    } else {
        r.assert_err("criu not found");
    }
    assert_eq!(t.status(&id).as_deref(), Some("running"), "a refused checkpoint leaves the container running");
    count_above(&out, count(&out));
    let id2 = t.id_with("restored");
    let b2 = t.bundle_for(&id2);
    let (r, _p2) = restore(&t, &b2, &images, &[]);
    assert!(!r.ok(), "restore must fail here\n{}", r.show());
    t.assert_gone(&id2);
    t.finish();
}

/// No criu in PATH: named, with what to install.
#[test]
fn missing_criu_is_named() {
    let Some(t) = setup("checkpoint_no_criu") else { return };
    let id = t.id();
    let (_b, _out, _p) = running_counter(&t, &id, 1);
    let no_path = |c: &mut Command| {
        c.env("PATH", "/nonexistent");
    };
    let r = t.rt_with(&["checkpoint", &id], no_path);
    r.assert_err("criu not found");
    assert!(r.error_text().contains("apt-get install criu"), "{}", r.error_text());
    assert_eq!(t.status(&id).as_deref(), Some("running"));
    let id2 = t.id_with("restored");
    let b2 = t.bundle_for(&id2);
    b2.write();
    t.rt_with(&["restore", "--bundle", b2.dir_str(), &id2], no_path).assert_err("criu not found");
    t.assert_gone(&id2);
    t.finish();
}

/// `features` says whether checkpoint/restore can work (runc's annotation): CRIU installed.
#[test]
fn features_report_checkpoint_by_criu_presence() {
    let Some(t) = setup("checkpoint_features") else { return };
    let key = "org.opencontainers.runc.checkpoint.enabled";
    let read = |path: Option<&str>| -> String {
        let out = t.rt_with(&["features"], |c| {
            if let Some(p) = path {
                c.env("PATH", p);
            }
        });
        out.assert_ok();
        let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        v["annotations"][key].as_str().unwrap_or_else(|| panic!("no {key} in {v}")).to_string()
    };
    let installed = Command::new("criu").arg("--version").output().is_ok();
    assert_eq!(read(None), installed.to_string());
    assert_eq!(read(Some("/nonexistent")), "false");
    t.finish();
}

/// A CRIU older than hull needs is named with both versions, before anything is dumped. The
/// stand-in reads the version request from `criu swrk`'s socket and answers as CRIU 3.10.0 would.
#[test]
fn an_old_criu_is_named() {
    use std::os::unix::fs::PermissionsExt;
    let Some(t) = setup("checkpoint_old_criu") else { return };
    let id = t.id();
    let (_b, _out, _p) = running_counter(&t, &id, 1);
    let bin = t.dir("old-criu");
    // criu_resp { type: VERSION (10), success: true, version { major_number: 3, minor_number: 10 } }
    let script = "#!/bin/sh\n[ \"$1\" = swrk ] || exit 1\ndd bs=65536 count=1 <&\"$2\" >/dev/null 2>&1\nprintf '\\010\\012\\020\\001\\122\\004\\010\\003\\020\\012' >&\"$2\"\n";
    fs::write(bin.join("criu"), script).unwrap();
    fs::set_permissions(bin.join("criu"), fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", bin.display());
    let r = t.rt_with(&["checkpoint", "--image-path", t.dir("images").to_str().unwrap(), &id], |c| {
        c.env("PATH", &path);
    });
    r.assert_err("is CRIU 3.10.0, too old: hull needs 3.14.0 or later");
    assert_eq!(t.status(&id).as_deref(), Some("running"));
    t.finish();
}

/// The mount points restore makes for external mounts are resolved inside the rootfs: a
/// symlink in the image pointing at a host path makes nothing there; a dangling one is refused.
#[test]
fn restore_mount_points_stay_inside_the_rootfs() {
    let Some(t) = setup("checkpoint_mountpoint_escape") else { return };
    if !needs_criu(&t.name) {
        return;
    }
    let id = t.id();
    let (_b, _out, _p) = running_counter(&t, &id, 1);
    let images = t.dir("images");
    checkpoint(&t, &["--image-path", images.to_str().unwrap(), &id]);
    // The same container again, from a copy of the rootfs with /evil -> a host path, and a bind
    // mount below it.
    let (mut b2, _) = counter(&t, &id);
    let rootfs = b2.private_rootfs();
    let target = PathBuf::from(format!("/var/tmp/hull-escape-{}", std::process::id()));
    let _ = fs::remove_dir_all(&target);
    std::os::unix::fs::symlink(&target, rootfs.join("evil")).unwrap();
    let src = t.dir("src");
    b2.add_mount(json!({"destination": "/evil/mnt", "type": "bind", "source": src.to_str().unwrap(), "options": ["rbind"]}));
    let (r, _p2) = restore(&t, &b2, &images, &[]);
    assert!(!target.exists(), "restore created {} on the host through a symlink in the rootfs", target.display());
    // The dangling link is refused (as create refuses it), and the failed restore leaves nothing.
    r.assert_err("make the mount point \"/evil/mnt\" in the rootfs");
    t.assert_gone(&id);
    // The clean-up removed the state dir without descending into the rootfs bound in it.
    assert!(rootfs.join("bin/busybox").exists(), "the failed restore damaged the bundle's rootfs");
    t.finish();
}

/// Restore runs the config's hooks as create and start would: prestart and createRuntime once
/// CRIU has made the namespaces, with the restored init's pid in the state on stdin; poststart
/// after. Checkpoint runs none of them, and the delete of a checkpointed container its poststop.
#[test]
fn restore_runs_the_hooks_with_the_restored_pid() {
    let Some(t) = setup("checkpoint_hooks") else { return };
    if !needs_criu(&t.name) {
        return;
    }
    let id = t.id();
    let (mut b, out) = counter(&t, &id);
    let hooks = t.dir("hooks");
    let hook = |kind: &str| json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {}/{kind}.state", hooks.display())]});
    b.set("/hooks", json!({"prestart": [hook("prestart")], "createRuntime": [hook("createRuntime")],
                           "poststart": [hook("poststart")], "poststop": [hook("poststop")]}));
    let _p = run_detached(&t, &b);
    count_above(&out, 1);
    for k in ["prestart", "createRuntime", "poststart"] {
        fs::remove_file(hooks.join(format!("{k}.state"))).unwrap_or_else(|e| panic!("{k} did not run at create: {e}"));
    }
    let images = t.dir("images");
    checkpoint(&t, &["--image-path", images.to_str().unwrap(), &id]);
    let stopped: serde_json::Value = serde_json::from_str(&fs::read_to_string(hooks.join("poststop.state")).unwrap()).unwrap();
    assert_eq!(stopped["status"], "stopped", "poststop after the checkpoint's delete: {stopped}");
    let (r, _p2) = restore(&t, &b, &images, &[]);
    r.assert_ok();
    let pid = t.state(&id).unwrap()["pid"].as_i64().unwrap();
    for (k, status) in [("prestart", "creating"), ("createRuntime", "creating"), ("poststart", "running")] {
        let text = fs::read_to_string(hooks.join(format!("{k}.state"))).unwrap_or_else(|e| panic!("{k} did not run at restore: {e}"));
        let s: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(s["pid"].as_i64(), Some(pid), "{k} state: {s}");
        assert_eq!(s["status"], status, "{k} state: {s}");
        assert_eq!(s["id"], id.as_str());
    }
    t.finish();
}

/// A dump that fails midway (here: no page server at the address given) leaves the container
/// running, as it was: CRIU thaws what it froze.
#[test]
fn a_failed_dump_leaves_the_container_running() {
    let Some(t) = setup("checkpoint_failed_dump") else { return };
    if !needs_criu(&t.name) {
        return;
    }
    let id = t.id();
    let (_b, out, _p) = running_counter(&t, &id, 1);
    let images = t.dir("images");
    let r = t.rt(&["checkpoint", "--image-path", images.to_str().unwrap(), "--page-server", "127.0.0.1:1", &id]);
    r.assert_err("checkpoint of container");
    assert_eq!(t.status(&id).as_deref(), Some("running"));
    count_above(&out, count(&out));
    t.finish();
}

/// A container that joins a network namespace by path is restored into that namespace again
/// (CRIU gets it as an external namespace, under runc's key).
#[test]
fn a_joined_network_namespace_is_joined_again() {
    use std::os::unix::fs::MetadataExt;
    let Some(t) = setup("checkpoint_joined_netns") else { return };
    if !needs_criu(&t.name) {
        return;
    }
    let name = format!("hull-ck-{}", std::process::id());
    assert!(Command::new("ip").args(["netns", "add", &name]).status().unwrap().success(), "ip netns add");
    struct Del(String);
    impl Drop for Del {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _del = Del(name.clone());
    let ns = format!("/run/netns/{name}");
    let id = t.id();
    let (mut b, out) = counter(&t, &id);
    b.add_namespace(json!({"type": "network", "path": ns}));
    let _p = run_detached(&t, &b);
    count_above(&out, 1);
    let images = t.dir("images");
    checkpoint(&t, &["--image-path", images.to_str().unwrap(), &id]);
    let (r, _p2) = restore(&t, &b, &images, &[]);
    r.assert_ok();
    let pid = t.state(&id).unwrap()["pid"].as_i64().unwrap();
    let inode = |p: &str| fs::metadata(p).unwrap().ino();
    assert_eq!(inode(&format!("/proc/{pid}/ns/net")), inode(&ns), "the restored init is not in {ns}");
    count_above(&out, count(&out));
    t.finish();
}

/// podman (4, with conmon) checkpoints and restores a container it runs with hull: `podman
/// container checkpoint` calls `hull checkpoint`, `podman container restore` has conmon call
/// `hull restore`. Private storage and configuration under the test's scratch dir.
#[test]
fn podman_checkpoint_and_restore_with_hull() {
    let Some(t) = setup("checkpoint_podman") else { return };
    if !needs_criu(&t.name) {
        return;
    }
    if Command::new("podman").arg("--version").output().is_err() {
        eprintln!("SKIP {}: podman is not installed", t.name);
        return;
    }
    let pw = t.dir("podman");
    let hull = runtime();
    fs::write(pw.join("containers.conf"), format!(
        "[containers]\ndefault_ulimits = []\n[engine]\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\nevents_logfile_path = \"{0}/events.log\"\nconmon_path = [\"/usr/bin/conmon\"]\ntmp_dir = \"{0}/tmp\"\nstatic_dir = \"{0}/root/libpod\"\nvolume_path = \"{0}/root/volumes\"\nlock_type = \"file\"\nruntime = \"hull\"\nruntime_supports_json = [\"hull\"]\n[engine.runtimes]\nhull = [\"{1}\"]\n",
        pw.display(), hull.display())).unwrap();
    fs::write(pw.join("storage.conf"), format!("[storage]\ndriver = \"vfs\"\ngraphroot = \"{0}/root\"\nrunroot = \"{0}/run\"\n", pw.display())).unwrap();
    fs::write(pw.join("registries.conf"), "").unwrap();
    let podman = |args: &[&str]| -> Out {
        let mut c = Command::new("podman");
        c.args(["--root", &format!("{}/root", pw.display()), "--runroot", &format!("{}/run", pw.display()),
                "--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(args)
            .env("CONTAINERS_CONF", pw.join("containers.conf"))
            .env("CONTAINERS_STORAGE_CONF", pw.join("storage.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", pw.join("registries.conf"))
            .env("TMPDIR", &pw);
        let o = c.output().unwrap();
        Out { cmd: format!("podman {args:?}"), code: o.status.code(), signal: None,
              stdout: String::from_utf8_lossy(&o.stdout).into_owned(), stderr: String::from_utf8_lossy(&o.stderr).into_owned() }
    };
    let tar = pw.join("rootfs.tar");
    assert!(Command::new("tar").arg("-C").arg(rootfs()).arg("-cf").arg(&tar).arg(".").status().unwrap().success());
    podman(&["import", tar.to_str().unwrap(), "localhost/bb"]).assert_ok();
    let name = format!("hull-ck-{}", std::process::id());
    podman(&["run", "-d", "--name", &name, "--network", "none", "--cgroup-parent", &format!("/{CG_PREFIX}"), "localhost/bb",
             "sh", "-c", "i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.2; done"]).assert_ok();
    let read = || podman(&["exec", &name, "cat", "/tmp/count"]).stdout.trim().parse::<u64>().unwrap_or(0);
    let before = wait_for("podman's container to count", || Some(read()).filter(|v| *v > 2));
    let ck = podman(&["container", "checkpoint", &name]);
    let rm = || { let _ = podman(&["rm", "-f", "-t", "0", &name]); };
    if !ck.ok() { rm(); }
    ck.assert_ok();
    assert_eq!(podman(&["inspect", "-f", "{{.State.Status}}", &name]).stdout.trim(), "exited", "after the checkpoint");
    let rs = podman(&["container", "restore", &name]);
    if !rs.ok() { rm(); }
    rs.assert_ok();
    assert_eq!(podman(&["inspect", "-f", "{{.State.Status}}", &name]).stdout.trim(), "running", "after the restore");
    let after = wait_for("the restored container to count on", || Some(read()).filter(|v| *v > before));
    assert!(after < before + 50, "the counter restarted or jumped: {before} then {after}");
    rm();
    let _ = podman(&["rmi", "-af"]);
    t.finish();
}

/// `restore --lsm-mount-context` without its value says "flag needs an argument", as runc does:
/// podman runs exactly that to learn whether the runtime can restore into a pod.
#[test]
fn a_flag_without_its_value_is_named_as_runc_names_it() {
    let Some(t) = setup("checkpoint_flag_value") else { return };
    let r = t.rt(&["restore", "--lsm-mount-context"]);
    assert!(!r.ok());
    assert!(r.stderr.contains("flag needs an argument: -lsm-mount-context"), "{}", r.show());
    t.finish();
}
