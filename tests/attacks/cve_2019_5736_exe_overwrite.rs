//! CVE-2019-5736: overwriting the runtime's binary from inside a container.
//!
//! A process of the runtime that sits in the container's PID namespace before its execve (the
//! init waiting for `start`, an exec'd process, the init of a container that joins another's PID
//! namespace) shows the runtime's binary as `/proc/<pid>/exe`. The attacker (`tools/exe_attack.c`)
//! keeps O_PATH handles to every such binary and reopens them for writing until the runtime's
//! last process has left the file; on a vulnerable runtime the write succeeds and the host's
//! next runtime call runs the attacker's script as root. Each test drives a private copy of the
//! runtime (so that only this test executes it) and asserts the copy is byte for byte unchanged,
//! that the attacker saw the runtime's processes (it was not a test that could not attack) and
//! that it overwrote nothing.

use crate::common::*;
use crate::support::*;
use serde_json::json;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

struct Report {
    sightings: u32,
    handles: u32,
    overwritten: u32,
    text: String,
}

fn report(out: &Path) -> Report {
    std::fs::write(out.join("stop"), "").unwrap();
    let text = wait_for("the attacker's report", || std::fs::read_to_string(out.join("report")).ok());
    let first = text.lines().next().unwrap_or_default();
    let num = |k: &str| {
        first.split_whitespace().find_map(|w| w.strip_prefix(k)?.strip_prefix('=')?.parse::<u32>().ok())
            .unwrap_or_else(|| panic!("no {k}= in the report: {text}"))
    };
    Report { sightings: num("sightings"), handles: num("handles"), overwritten: num("overwritten"), text: text.clone() }
}

/// The attack must have seen the runtime (a handle, or a refusal to give one), overwritten
/// nothing, and left the binary as it was. With CAP_SYS_PTRACE the attacker gets handles:
/// each must have been refused for writing because the file is read-only.
#[track_caller]
fn assert_defeated(r: &Report, binary: &Path, before: &[u8], ptrace: bool) {
    assert!(r.sightings > 0, "the attacker never saw a runtime process, so nothing was tested:\n{}", r.text);
    assert_eq!(r.overwritten, 0, "the runtime's binary was overwritten from the container:\n{}", r.text);
    assert!(contents(binary) == before, "the runtime's binary {binary:?} changed");
    if ptrace {
        assert!(r.handles > 0, "with CAP_SYS_PTRACE the attacker should get a handle to the (sealed) binary:\n{}", r.text);
        // A read-only overlayfs refuses with EROFS, a sealed memfd (O_TRUNC on a shrink seal) EPERM.
        for l in r.text.lines().skip(1) {
            assert!(l.ends_with("result=EROFS") || l.ends_with("result=EPERM"), "a handle that was not refused: {l}\n{}", r.text);
        }
    }
}

/// The test's private copy of the runtime, and its bytes before the attack.
fn private_runtime(t: &Test) -> (PathBuf, Vec<u8>) {
    let bin = t.private_runtime();
    let before = contents(&bin);
    (bin, before)
}

/// The test's bundle with the attacker at /tools and a results dir at /out (returned).
fn attacker_bundle(t: &Test, ptrace: bool) -> (Bundle, PathBuf) {
    let mut b = t.bundle();
    let out = b.out();
    with_tools(t, &mut b, &["exe_attack"]);
    if ptrace {
        add_caps(&mut b, &["CAP_SYS_PTRACE"]);
    }
    (b, out)
}

/// The container's init is the attacker; the host runs `exec` repeatedly, as every
/// `docker exec`, `kubectl exec` or exec health probe does.
fn exec_race(name: &str, ptrace: bool) {
    let Some(t) = setup(name) else { return };
    let (bin, before) = private_runtime(&t);
    let (mut b, out) = attacker_bundle(&t, ptrace);
    b.args(&["/tools/exe_attack", "/out"]);
    t.create_start(&b);
    let mut n = 0;
    while n < 40 || (!out.join("seen").exists() && n < 400) {
        t.rt(&["exec", &b.id, "/bin/true"]).assert_ok();
        n += 1;
    }
    let r = report(&out);
    eprintln!("{name}: {n} execs; attacker's report:\n{}", r.text);
    assert_defeated(&r, &bin, &before, ptrace);
    t.finish();
}

#[test]
fn exec_race_default_capabilities() {
    exec_race("cve_2019_5736_exec_race", false);
}

#[test]
fn exec_race_with_cap_sys_ptrace() {
    exec_race("cve_2019_5736_exec_race_ptrace", true);
}

/// `create`, then `exec -d` of the attacker into the created container, then `start`: the init
/// waits in the runtime's code as PID 1 the whole time, no race needed. `fault` is HULL_FAULT
/// for create and exec (`seal-overlay`: the memfd copy instead of the overlayfs view).
fn created_init(name: &str, ptrace: bool, fault: &str) {
    let Some(t) = setup(name) else { return };
    let (bin, before) = private_runtime(&t);
    let (mut b, out) = attacker_bundle(&t, ptrace);
    b.args(&["sleep", "100000"]);
    b.write();
    t.rt_with(&["create", "--bundle", b.dir_str(), &b.id], |c| {
        c.env("HULL_FAULT", fault);
    })
    .assert_ok();
    t.rt_with(&["exec", "-d", &b.id, "/tools/exe_attack", "/out"], |c| {
        c.env("HULL_FAULT", fault);
    })
    .assert_ok();
    wait_for("the attacker to see the waiting init", || out.join("seen").exists().then_some(()));
    t.start(&b.id);
    let r = report(&out);
    eprintln!("{name}: attacker's report:\n{}", r.text);
    assert_defeated(&r, &bin, &before, ptrace);
    t.finish();
}

#[test]
fn created_init_default_capabilities() {
    created_init("cve_2019_5736_created", false, "");
}

#[test]
fn created_init_with_cap_sys_ptrace() {
    created_init("cve_2019_5736_created_ptrace", true, "");
}

/// The same through the fallback seal, a memfd copy (where overlayfs cannot be mounted).
#[test]
fn created_init_sealed_in_a_memfd() {
    if !is_hull() {
        return;
    }
    created_init("cve_2019_5736_created_memfd", true, "seal-overlay");
}

/// A pod with a shared PID namespace: the attacker is the init of the first container, and a
/// second container is created into its PID namespace (as the CRI does for
/// `shareProcessNamespace`); the second init waits in the runtime's code where the attacker sees it.
#[test]
fn create_into_a_shared_pid_namespace() {
    let Some(t) = setup("cve_2019_5736_shared_pidns") else { return };
    let (bin, before) = private_runtime(&t);
    let (mut a, out) = attacker_bundle(&t, true);
    a.args(&["/tools/exe_attack", "/out"]);
    let pid = t.create_start(&a);
    let id2 = t.id_with("second");
    let mut b = t.bundle_for(&id2);
    b.add_namespace(json!({"type": "pid", "path": format!("/proc/{pid}/ns/pid")}));
    b.args(&["true"]);
    t.create(&b);
    wait_for("the attacker to see the second container's init", || out.join("seen").exists().then_some(()));
    t.start(&id2);
    t.wait_stopped(&id2);
    let r = report(&out);
    eprintln!("attacker's report:\n{}", r.text);
    assert_defeated(&r, &bin, &before, true);
    t.finish();
}

/// The sealed view's detached mount stays open in `create` until it waits for its init (closing
/// it waits for an RCU grace period), and the init closes its inherited copy first thing: a
/// descriptor of it in a waiting init would reach, through /proc/<pid>/fd, a view of the host's
/// directory that holds hull's binary.
#[test]
fn the_waiting_init_holds_no_descriptor_of_the_view_mount() {
    if !is_hull() {
        return;
    }
    let Some(t) = setup("cve_2019_5736_view_mount") else { return };
    let mut b = t.bundle_for(&t.id_with("waiting"));
    b.args(&["true"]);
    b.write();
    t.rt(&["create", "--bundle", b.dir_str(), &b.id]).assert_ok();
    let pid = t.state(&b.id).expect("state after create")["pid"].as_i64().unwrap();
    let fds: Vec<_> = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(!fds.is_empty(), "the waiting init has no descriptors at all");
    for fd in fds {
        let Ok(fs) = nix::sys::statfs::statfs(&fd) else { continue };
        let target = std::fs::read_link(&fd).unwrap_or_default();
        assert_ne!(fs.filesystem_type().0 as i64, 0x794c_7630, "the waiting init holds {fd:?} -> {target:?}, on overlayfs");
    }
    t.rt(&["delete", "--force", &b.id]).assert_ok();
    t.finish();
}

/// The init waiting for `start` runs hull's sealed view, and got there without executing hull a
/// second time: it moved onto the view in place (no `_HULL_SEALED` mark in the environment an
/// execve would have carried), and no mapping of the process is the host's binary. With the
/// in-place move failing (`seal-in-place`), the re-execution seals it instead.
#[test]
fn the_waiting_init_runs_the_sealed_view_moved_in_place() {
    if !is_hull() {
        return;
    }
    let Some(t) = setup("cve_2019_5736_in_place") else { return };
    let (bin, _) = private_runtime(&t);
    let host = std::fs::metadata(&bin).unwrap();
    let host_dev = format!("{:02x}:{:02x}", libc::major(host.dev()), libc::minor(host.dev()));
    for (fault, in_place) in [("", true), ("seal-in-place", false)] {
        let mut b = t.bundle_for(&t.id_with(if in_place { "in-place" } else { "re-exec" }));
        b.args(&["true"]);
        b.write();
        t.rt_with(&["create", "--bundle", b.dir_str(), &b.id], |c| {
            c.env("HULL_FAULT", fault);
        })
        .assert_ok();
        let pid = t.state(&b.id).expect("state after create")["pid"].as_i64().unwrap();
        let exe = format!("/proc/{pid}/exe");
        let fs = nix::sys::statfs::statfs(exe.as_str()).unwrap();
        assert_eq!(fs.filesystem_type().0 as i64, 0x794c_7630, "{exe} is not on overlayfs");
        assert!(fs.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY), "{exe} is on a writable overlayfs");
        let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
        let marked = environ.split(|&c| c == 0).any(|v| v.starts_with(b"_HULL_SEALED="));
        assert_eq!(marked, !in_place, "fault {fault:?}: the init was {} re-executed", if marked { "" } else { "not" });
        let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
        for l in maps.lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert!(!(f[3] == host_dev && f[4] == host.ino().to_string()), "the init maps the host's binary: {l}");
        }
        t.rt(&["delete", "--force", &b.id]).assert_ok();
    }
    t.finish();
}
