//! `process.execCPUAffinity` (config.md): `initial` before the move into the container's cgroup,
//! `final` after it, for `exec`; not applied to the init ("not applicable to the container's init
//! process"); bad lists are errors that name the field. The machine needs 2 CPUs (0-1).
mod common;

use common::*;
use serde_json::json;
use std::fs;

fn cpus_allowed(out: &str) -> &str {
    out.lines().find_map(|l| l.strip_prefix("Cpus_allowed_list:")).map(str::trim).unwrap_or("?")
}

fn two_cpus() -> bool {
    let ok = std::thread::available_parallelism().map(|n| n.get() >= 2).unwrap_or(false);
    if !ok {
        eprintln!("skip: execCPUAffinity tests need 2 CPUs");
    }
    ok
}

/// A started container whose init sleeps, with `affinity` as its process's execCPUAffinity.
fn running(t: &Test, affinity: serde_json::Value) -> String {
    let id = t.id();
    let mut b = t.bundle_for(&id);
    b.args(&["sleep", "100000"]).set("/process/execCPUAffinity", affinity);
    t.create_start(&b);
    id
}

fn exec_process(t: &Test, id: &str, name: &str, affinity: serde_json::Value) -> Out {
    let p = t.scratch.join(format!("{name}.json"));
    fs::write(&p, serde_json::to_vec(&json!({
        "user": {"uid": 0, "gid": 0},
        "args": ["grep", "Cpus_allowed_list", "/proc/self/status"],
        "env": ["PATH=/bin:/usr/bin"],
        "cwd": "/",
        "execCPUAffinity": affinity
    })).unwrap()).unwrap();
    t.rt(&["exec", "--process", p.to_str().unwrap(), id])
}

#[test]
fn exec_gets_final_then_initial_affinity() {
    let Some(t) = setup("affinity_exec") else { return };
    if !two_cpus() {
        return;
    }
    // The container's own lists are what a plain `exec` gets (its process is the config's).
    let id = running(&t, json!({"initial": "0", "final": "1"}));
    let out = t.rt(&["exec", &id, "grep", "Cpus_allowed_list", "/proc/self/status"]);
    out.assert_ok();
    assert_eq!(cpus_allowed(&out.stdout), "1", "final applies after the cgroup move\n{}", out.show());
    for (name, affinity, want) in [
        ("final0", json!({"final": "0"}), "0"),
        ("both", json!({"initial": "1", "final": "0-1"}), "0-1"),
        // Without `final` the process keeps what `initial` gave it.
        ("initial-only", json!({"initial": "1"}), "1"),
    ] {
        let out = exec_process(&t, &id, name, affinity);
        out.assert_ok();
        assert_eq!(cpus_allowed(&out.stdout), want, "{name}\n{}", out.show());
    }
    t.finish();
}

#[test]
fn init_is_not_affected() {
    let Some(t) = setup("affinity_init") else { return };
    if !two_cpus() {
        return;
    }
    let own = fs::read_to_string("/proc/self/status").unwrap();
    let mut b = t.bundle();
    b.args(&["grep", "Cpus_allowed_list", "/proc/self/status"])
        .set("/process/execCPUAffinity", json!({"initial": "1", "final": "1"}));
    let out = t.run_ok(&b);
    assert_eq!(cpus_allowed(&out), cpus_allowed(&own), "the init must keep the runtime's affinity");
    t.finish();
}

#[test]
fn bad_lists_are_errors_naming_the_field() {
    let Some(t) = setup("affinity_bad") else { return };
    if !two_cpus() {
        return;
    }
    let mut b = t.bundle();
    b.set("/process/execCPUAffinity", json!({"final": "1-0"}));
    t.try_create(&b, &[]).assert_err("process.execCPUAffinity.final");
    t.assert_gone(&t.id());

    let id = running(&t, json!({}));
    for (name, affinity, field) in [
        ("reversed", json!({"final": "3-1"}), "process.execCPUAffinity.final"),
        // Well-formed, but no such CPU here.
        ("absent", json!({"final": "1000"}), "process.execCPUAffinity.final"),
        ("absent-initial", json!({"initial": "1000"}), "process.execCPUAffinity.initial"),
    ] {
        let out = exec_process(&t, &id, name, affinity);
        assert_eq!(out.code, Some(255), "{name}: exec fails with 255\n{}", out.show());
        assert!(out.stderr.contains(field), "{name}: the error names {field}\n{}", out.show());
    }
    t.finish();
}
