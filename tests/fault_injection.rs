//! Fault injection (issue 11): create made to fail, or killed with SIGKILL, at each of its
//! stages (`HULL_FAULT`, honoured by debug builds only: see src/fault.rs). Afterwards — by
//! itself when create could clean up, after `delete --force` when it was killed — nothing of
//! the container may be left: no state dir, cgroup, host mount, or process.
mod common;

use common::*;
use std::process::Command;

/// Processes whose command line names `id` (a runtime process or an init cloned from one).
fn processes_naming(id: &str) -> Vec<String> {
    let mut v = vec![];
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_err() || name == std::process::id().to_string() {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.split(' ').any(|w| w == id) {
            v.push(format!("{name}: {cmd}"));
        }
    }
    v
}

#[track_caller]
fn assert_nothing_left(t: &Test, id: &str, stage: &str) {
    // A killed init may take a moment to be reaped.
    wait_for(&format!("{stage}: processes of {id} to end"), || processes_naming(id).is_empty().then_some(()));
    t.assert_gone(id);
}

fn fault(c: &mut Command, stage: &str) {
    c.env("HULL_FAULT", stage);
}

const STAGES: &[&str] = &["state-dir", "after-clone", "after-mount:0", "after-mount:3", "after-mount:6", "after-cgroup", "after-pivot-root", "before-ready", "before-save"];

/// A bundle whose create reaches every stage: the base config has seven mounts.
fn bundle_for(t: &Test, stage: &str) -> Bundle {
    let id = t.id_with(&stage.replace(':', "-"));
    let mut b = t.bundle_for(&id);
    b.args(&["sleep", "100000"]);
    b.write();
    b
}

#[test]
fn create_failing_at_each_stage_cleans_up_by_itself() {
    let Some(t) = setup("fault_fail") else { return };
    if !is_hull() {
        eprintln!("SKIP: HULL_FAULT is hull's");
        return;
    }
    for stage in STAGES {
        let b = bundle_for(&t, stage);
        let out = t.rt_with(&["create", "--bundle", b.dir_str(), &b.id], |c| fault(c, stage));
        out.assert_err(&format!("fault injected at {stage}"));
        assert_nothing_left(&t, &b.id, stage);
    }
    t.finish();
}

#[test]
fn create_killed_at_each_stage_is_cleaned_by_delete_force() {
    let Some(t) = setup("fault_kill") else { return };
    if !is_hull() {
        eprintln!("SKIP: HULL_FAULT is hull's");
        return;
    }
    for stage in STAGES {
        let b = bundle_for(&t, stage);
        let out = t.rt_with(&["create", "--bundle", b.dir_str(), &b.id], |c| fault(c, &format!("kill:{stage}")));
        assert!(!out.ok(), "create killed at {stage} succeeded\n{}", out.show());
        let del = t.rt(&["delete", "--force", &b.id]);
        assert!(del.ok(), "delete --force after create was killed at {stage}\n{}", del.show());
        assert_nothing_left(&t, &b.id, stage);
    }
    t.finish();
}

/// The last stage, in the init after `start` opened the fifo: start fails, the container is
/// stopped, and delete --force removes it.
#[test]
fn start_failing_before_exec_is_cleaned_by_delete_force() {
    let Some(t) = setup("fault_start") else { return };
    if !is_hull() {
        eprintln!("SKIP: HULL_FAULT is hull's");
        return;
    }
    for how in ["before-exec", "kill:before-exec"] {
        let b = bundle_for(&t, how);
        t.rt_with(&["create", "--bundle", b.dir_str(), &b.id], |c| fault(c, how)).assert_ok();
        let out = t.rt(&["start", &b.id]);
        assert!(!out.ok(), "start with {how} succeeded\n{}", out.show());
        if how == "before-exec" {
            out.assert_err("fault injected at before-exec");
        }
        // The failed start leaves the container stopped, or already removed.
        if let Some(st) = t.status(&b.id) {
            assert_ne!(st, "running", "start failed but the container runs");
        }
        t.rt(&["delete", "--force", &b.id]).assert_ok();
        assert_nothing_left(&t, &b.id, how);
    }
    t.finish();
}
