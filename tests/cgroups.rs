//! Cgroups on this hybrid host: the limits land in the v1 files under
//! /sys/fs/cgroup/<ctrl>/hull-test/<id>, init is placed in them (and in the v2 tree at
//! /sys/fs/cgroup/unified/hull-test/<id>, as runc does) before the user process runs, device
//! rules land in devices.list, and delete removes every directory.
mod common;

use common::*;
use serde_json::json;
use std::path::Path;

/// `/proc/<pid>/cgroup` as (controllers, path) pairs.
fn proc_cgroups(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.splitn(3, ':');
            let _hier = it.next()?;
            Some((it.next()?.to_string(), it.next()?.to_string()))
        })
        .collect()
}

fn assert_in_test_cgroup(text: &str, id: &str) {
    let want = format!("/{CG_PREFIX}/{id}");
    let cg = proc_cgroups(text);
    for ctrl in V1_CONTROLLERS {
        let (_, path) = cg
            .iter()
            .find(|(c, _)| c.split(',').any(|x| x == *ctrl))
            .unwrap_or_else(|| panic!("no {ctrl} line in\n{text}"));
        assert_eq!(path, &want, "{ctrl} cgroup of init\n{text}");
    }
    let (_, v2) = cg.iter().find(|(c, _)| c.is_empty()).unwrap_or_else(|| panic!("no v2 line in\n{text}"));
    assert_eq!(v2, &want, "init not placed in the cgroup v2 tree\n{text}");
}

#[test]
fn limits_land_in_v1_files() {
    let Some(t) = setup("cg_limits") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    b.set("/linux/resources/memory", json!({"limit": 64 << 20, "reservation": 32 << 20}));
    b.set("/linux/resources/cpu", json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"}));
    b.set("/linux/resources/pids", json!({"limit": 64}));
    let pid = t.create(&b);

    let f = |ctrl: &str, file: &str| read_trim(cgroup_dir(ctrl, &id).join(file));
    assert_eq!(f("memory", "memory.limit_in_bytes"), (64u64 << 20).to_string());
    assert_eq!(f("memory", "memory.soft_limit_in_bytes"), (32u64 << 20).to_string());
    assert_eq!(f("cpu", "cpu.shares"), "512");
    assert_eq!(f("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(f("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(f("cpuset", "cpuset.cpus"), "0");
    assert_eq!(f("cpuset", "cpuset.mems"), "0");
    assert_eq!(f("pids", "pids.max"), "64");

    // init is already in every one of them at `created`, before the user process runs.
    assert_in_test_cgroup(&read_trim(format!("/proc/{pid}/cgroup")), &id);
    for ctrl in ["memory", "pids", "cpu"] {
        let procs = read_trim(cgroup_dir(ctrl, &id).join("cgroup.procs"));
        assert!(procs.lines().any(|p| p == pid.to_string()), "{pid} not in {ctrl} cgroup.procs: {procs:?}");
    }
    t.start(&id);
    let threads = read_trim(format!("/proc/{pid}/status"));
    assert_eq!(status_field(&threads, "Cpus_allowed_list"), Some("0"), "cpuset not effective");
    t.rt(&["delete", "--force", &id]).assert_ok();
    t.assert_gone(&id);
    t.finish();
}

/// The user process itself runs in the cgroup (no cgroup namespace here, so paths are absolute).
#[test]
fn user_process_runs_in_the_cgroup() {
    let Some(t) = setup("cg_inside") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["cat", "/proc/self/cgroup"]);
    assert_in_test_cgroup(&t.run_ok(&b), &id);
    t.assert_gone(&id);
    t.finish();
}

#[test]
fn pids_limit_is_enforced() {
    let Some(t) = setup("cg_pids_enforced") else { return };
    let mut b = t.bundle();
    b.set("/linux/resources/pids", json!({"limit": 3}));
    // sh + 2 sleeps = 3 tasks; the third fork must fail (and the shell gives up).
    b.sh("sleep 30 & sleep 30 & echo two-forks; sleep 30 & echo three-forks; kill $(jobs -p)");
    let out = t.run(&b, &[]);
    assert!(out.stdout.contains("two-forks"), "{}", out.show());
    assert!(!out.stdout.contains("three-forks"), "pids.max=3 not enforced\n{}", out.show());
    t.finish();
}

#[test]
fn device_rules_land_in_devices_list() {
    let Some(t) = setup("cg_devices") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    b.set("/linux/resources/devices", json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 42, "minor": 42, "access": "r"},
        {"allow": true, "type": "b", "major": 7, "minor": 201, "access": "rw"}
    ]));
    t.create(&b);
    let list = read_trim(cgroup_dir("devices", &id).join("devices.list"));
    let lines: Vec<&str> = list.lines().collect();
    assert!(lines.contains(&"c 42:42 r"), "devices.list:\n{list}");
    assert!(lines.contains(&"b 7:201 rw"), "devices.list:\n{list}");
    assert!(!lines.contains(&"a *:* rwm"), "deny-all rule not applied:\n{list}");
    // The default devices stay usable.
    assert!(lines.contains(&"c 1:3 rwm"), "/dev/null not allowed:\n{list}");
    t.finish();
}

/// The rules are enforced: of two host device nodes bind-mounted in, only the one with an allow
/// rule can be opened. (Bind mounts, not `linux.devices`: runtimes differ on whether entries of
/// `linux.devices` get an implicit allow rule; runc adds none, hull and crun add one.)
#[test]
fn device_rules_enforced_inside() {
    let Some(t) = setup("cg_devices_enforced") else { return };
    let mut b = t.bundle();
    // /dev/fuse is 10:229, /dev/loop-control 10:237: opening either read-only changes nothing.
    for (host, dest) in [("/dev/fuse", "/dev/hull-fuse"), ("/dev/loop-control", "/dev/hull-lc")] {
        if !std::path::Path::new(host).exists() {
            eprintln!("SKIP: {host} missing on this host");
            return t.finish();
        }
        b.add_mount(json!({"destination": dest, "type": "bind", "source": host, "options": ["bind"]}));
    }
    b.set("/linux/resources/devices", json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "r"}
    ]));
    b.sh("for d in fuse lc; do (: < /dev/hull-$d) 2>/dev/null && echo $d-open || echo $d-denied; done");
    assert_eq!(t.run_ok(&b).split_whitespace().collect::<Vec<_>>(), ["fuse-open", "lc-denied"]);
    t.finish();
}

#[test]
fn delete_removes_every_cgroup_dir() {
    let Some(t) = setup("cg_delete") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    t.create_start(&b);
    let mut present = vec![];
    for ctrl in V1_CONTROLLERS.iter().chain(&["unified"]) {
        let d = cgroup_dir(ctrl, &id);
        assert!(d.is_dir(), "{} not created", d.display());
        present.push(d);
    }
    t.rt(&["kill", &id, "KILL"]).assert_ok();
    t.wait_stopped(&id);
    t.rt(&["delete", &id]).assert_ok();
    for d in &present {
        assert!(!d.exists(), "{} left after delete", d.display());
    }
    for h in cgroup_hierarchies() {
        assert!(!h.join(CG_PREFIX).join(&id).exists(), "{} left after delete", h.display());
    }
    assert!(!Path::new(STATE_ROOT).join(&id).exists());
    t.finish();
}
