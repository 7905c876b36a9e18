//! `hull check`: every probe reports, and what it reports matches what this machine has (run
//! on the v1 hybrid host by `make test` and on pure cgroup v2 under systemd by the VM lane).
mod common;

use common::*;
use serde_json::Value;
use std::path::Path;

fn finding<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["checks"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("no {name:?} in {v}"))
}

#[test]
fn check_reports_what_this_host_has() {
    let Some(t) = setup("check_host") else { return };
    if !is_hull() {
        return;
    }
    let out = t.rt_raw(&["check", "--format", "json"]);
    out.assert_ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["ready"], true, "{v}");
    for name in [
        "namespaces", "user namespaces", "cgroup mode", "cgroup controllers", "systemd cgroup driver", "seccomp",
        "seccomp user notification", "eBPF device filter", "CLONE_INTO_CGROUP", "pidfd", "openat2",
        "mount_setattr and idmapped mounts", "overlayfs", "sealed runtime binary", "LSM", "CRIU",
        "newuidmap and subordinate ids", "cgroup.kill",
    ] {
        let f = finding(&v, name);
        let status = f["status"].as_str().unwrap();
        assert!(["ok", "degraded", "missing"].contains(&status), "{f}");
        assert!(status == "ok" || !f["affects"].as_str().unwrap_or_default().is_empty(), "a finding that is not ok must say what it affects: {f}");
    }
    let mode = finding(&v, "cgroup mode")["detail"].as_str().unwrap().to_string();
    if cgroup_v2() {
        assert!(mode.starts_with("v2"), "{mode}");
        assert_eq!(finding(&v, "eBPF device filter")["status"], "ok");
    } else {
        let hybrid = Path::new("/sys/fs/cgroup/unified/cgroup.controllers").exists();
        assert!(mode.starts_with(if hybrid { "v1 hybrid" } else { "v1" }), "{mode}");
    }
    let overlay = std::fs::read_to_string("/proc/filesystems").unwrap().lines().any(|l| l.ends_with("overlay"));
    assert_eq!(finding(&v, "overlayfs")["status"], if overlay { "ok" } else { "degraded" });
    // Kernels before about 6.8 refuse a detached mount as an overlayfs layer: the memfd copy
    // (degraded) then seals the binary. Either way it is sealed.
    let seal = finding(&v, "sealed runtime binary");
    assert!(seal["status"] == "ok" || seal["status"] == "degraded", "{seal}");
    if seal["status"] == "ok" {
        assert!(overlay, "an overlayfs view without overlayfs: {seal}");
    }
    // As root (CAP_SYS_ADMIN), the runtime moves onto the view without executing itself again.
    assert!(seal["detail"].as_str().unwrap().contains(", run in place"), "{seal}");
    let systemd = Path::new("/run/systemd/system").is_dir();
    assert_eq!(finding(&v, "systemd cgroup driver")["status"], if systemd { "ok" } else { "missing" });
    for always in ["openat2", "seccomp", "pidfd", "namespaces"] {
        assert_eq!(finding(&v, always)["status"], "ok", "{always} on a kernel hull runs on");
    }
    // root needs no subordinate ranges.
    assert_eq!(finding(&v, "newuidmap and subordinate ids")["status"], "ok");

    let text = t.rt_raw(&["check"]);
    text.assert_ok();
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert!(lines[0].starts_with("hull check: kernel "), "{}", text.stdout);
    assert_eq!(*lines.last().unwrap(), "ready for containers");
    for l in &lines[1..lines.len() - 1] {
        assert!(l.starts_with("ok ") || l.starts_with("degraded ") || l.starts_with("missing "), "{l}");
    }
    assert_eq!(lines.len() - 2, v["checks"].as_array().unwrap().len());
    t.rt_raw(&["check", "--format", "yaml"]).assert_err("invalid format");
    t.finish();
}
