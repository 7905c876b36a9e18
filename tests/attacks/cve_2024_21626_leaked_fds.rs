//! CVE-2024-21626 (and CVE-2016-9962 before it): descriptors of the runtime, or of whoever
//! called it, reaching the container. A cwd of `/proc/self/fd/N` follows such a descriptor to a
//! host directory, and the container's program then starts outside its root; a descriptor that
//! stays open across execve hands the container a host file.
//!
//! Each test gives the runtime a host directory (holding a secret) and a host file as extra
//! inherited descriptors 7 and 8, as a careless caller would, on top of whatever the runtime
//! opens itself, and tries every low descriptor number as the cwd.

use crate::common::*;
use serde_json::json;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

const SECRET: &str = "host-secret-6b1f";

/// A host directory holding `secret` (with SECRET in it) and a host file.
fn host_objects(t: &Test) -> (File, File) {
    let dir = t.dir("host-dir");
    std::fs::write(dir.join("secret"), SECRET).unwrap();
    std::fs::write(t.scratch.join("host-file"), SECRET).unwrap();
    (File::open(&dir).unwrap(), File::open(t.scratch.join("host-file")).unwrap())
}

/// Make the runtime inherit `dir` as fd 7 and `file` as fd 8 (dup2 clears close-on-exec).
fn leak(c: &mut Command, dir: &File, file: &File) {
    let (d, f) = (dir.as_raw_fd(), file.as_raw_fd());
    // SAFETY: dup2 is async-signal-safe; the descriptors stay open in the parent until spawned.
    unsafe {
        c.pre_exec(move || {
            if libc::dup2(d, 7) < 0 || libc::dup2(f, 8) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// The process either failed to start, or started inside the container: it must not have read
/// the secret.
#[track_caller]
fn assert_contained(out: &Out, what: &str) {
    assert!(!out.stdout.contains(SECRET), "{what}: the process started in the host's directory and read the secret\n{}", out.show());
    if out.ok() {
        assert!(out.stdout.contains("contained"), "{what}: ran but did not report\n{}", out.show());
    }
}

const PROBE: &str = "cat secret 2>/dev/null; cat ../../../../../../../../$SCRATCH/host-dir/secret 2>/dev/null; echo contained";

#[test]
fn create_with_cwd_through_proc_self_fd() {
    let Some(t) = setup("cve_2024_21626_create_cwd") else { return };
    let (dir, file) = host_objects(&t);
    for n in 3..=12 {
        let id = t.id_with(&format!("fd{n}"));
        let mut b = t.bundle_for(&id);
        b.set("/process/cwd", json!(format!("/proc/self/fd/{n}")));
        b.set("/process/env", json!(["PATH=/bin", format!("SCRATCH={}", t.scratch.display())]));
        b.sh(PROBE);
        b.write();
        let out = t.rt_with(&["run", "--bundle", b.dir_str(), &id], |c| leak(c, &dir, &file));
        assert_contained(&out, &format!("run with cwd /proc/self/fd/{n}"));
        let _ = t.rt(&["delete", "--force", &id]);
    }
    t.finish();
}

#[test]
fn exec_with_cwd_through_proc_self_fd() {
    let Some(t) = setup("cve_2024_21626_exec_cwd") else { return };
    let (dir, file) = host_objects(&t);
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    t.create_start(&b);
    let scratch = format!("SCRATCH={}", t.scratch.display());
    for n in 3..=12 {
        let cwd = format!("/proc/self/fd/{n}");
        let out = t.rt_with(&["exec", "--cwd", &cwd, "--env", &scratch, &b.id, "sh", "-c", PROBE], |c| leak(c, &dir, &file));
        assert_contained(&out, &format!("exec with cwd {cwd}"));
    }
    t.finish();
}

/// Descriptors of a container process, read from the host: each `fd -> target`.
fn fds_of(pid: i64) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .map(|e| format!("{} -> {}", e.file_name().to_string_lossy(), std::fs::read_link(e.path()).unwrap_or_default().display()))
        .collect();
    v.sort();
    v
}

/// Stdio is the caller's to give (here /dev/null and the test's output files); nothing else.
#[track_caller]
fn assert_only_stdio(fds: &[String], what: &str) {
    for l in fds {
        let fd = l.split(" -> ").next().unwrap_or(l);
        assert!(["0", "1", "2"].contains(&fd), "{what}: the container's process holds descriptor {l}; all: {fds:?}");
    }
}

#[test]
fn no_descriptor_reaches_the_container() {
    let Some(t) = setup("cve_2024_21626_fds") else { return };
    let (dir, file) = host_objects(&t);
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    b.write();
    t.rt_with(&["run", "-d", "--bundle", b.dir_str(), &b.id], |c| leak(c, &dir, &file)).assert_ok();
    let pid = t.state(&b.id).unwrap()["pid"].as_i64().unwrap();
    assert_only_stdio(&fds_of(pid), "run -d");

    let pidfile = t.scratch.join("exec.pid");
    let out = t.rt_with(&["exec", "-d", "--pid-file", pidfile.to_str().unwrap(), &b.id, "sleep", "100000"], |c| leak(c, &dir, &file));
    out.assert_ok();
    let pid: i64 = read_trim(&pidfile).parse().unwrap();
    assert_only_stdio(&fds_of(pid), "exec -d");
    t.finish();
}
