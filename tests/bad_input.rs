//! Bad input to `create`: each gets a clear error, exit status 1, and leaves no state dir,
//! cgroup or mount behind (the container's cgroupsPath is always /hull-test/<id>, so a runtime
//! that got halfway would leave it there).
mod common;

use common::*;
use serde_json::json;
use std::fs;

/// Run `create` on the bundle dir as-is (no config rewrite), expect exit 1 mentioning `needle`.
#[track_caller]
fn create_fails(t: &Test, dir: &str, id: &str, needle: &str) -> Out {
    let out = t.rt(&["create", "--bundle", dir, id]);
    out.assert_err(needle);
    assert!(t.state(id).is_none(), "a failed create left a container");
    t.assert_gone(id);
    out
}

#[test]
fn missing_bundle_dir() {
    let Some(t) = setup("bad_no_bundle") else { return };
    let id = t.id();
    let dir = t.scratch.join("no-such-bundle");
    create_fails(&t, dir.to_str().unwrap(), &id, dir.to_str().unwrap());
    t.finish();
}

#[test]
fn bundle_is_a_file() {
    let Some(t) = setup("bad_bundle_file") else { return };
    let id = t.id();
    let f = t.scratch.join("bundle-file");
    fs::write(&f, "not a dir").unwrap();
    create_fails(&t, f.to_str().unwrap(), &id, "bundle-file");
    t.finish();
}

#[test]
fn missing_config_json() {
    let Some(t) = setup("bad_no_config") else { return };
    let b = t.bundle(); // not written
    create_fails(&t, b.dir_str(), &b.id, "config.json");
    t.finish();
}

#[test]
fn unreadable_config_json() {
    let Some(t) = setup("bad_config_dir") else { return };
    let b = t.bundle();
    fs::create_dir(b.config_path()).unwrap(); // read fails with EISDIR, even for root
    create_fails(&t, b.dir_str(), &b.id, "config.json");
    t.finish();
}

#[test]
fn malformed_config_json_syntax() {
    let Some(t) = setup("bad_config_syntax") else { return };
    let b = t.bundle();
    let mut text = serde_json::to_string_pretty(&b.config).unwrap();
    text.truncate(text.len() / 2); // cut in the middle: unexpected EOF
    fs::write(b.config_path(), &text).unwrap();
    let out = create_fails(&t, b.dir_str(), &b.id, "");
    assert!(!out.stderr.trim().is_empty());
    if is_hull() {
        // runc only says "unexpected EOF"; CONTRACT.md §4 wants the object named.
        out.assert_err("config.json");
    }

    let b2 = t.bundle_for(&t.id_with("garbage"));
    fs::write(b2.config_path(), "{ this is not json").unwrap();
    let out = create_fails(&t, b2.dir_str(), &b2.id, "");
    if is_hull() {
        out.assert_err("config.json");
    }
    t.finish();
}

#[test]
fn config_type_error_names_the_json_path() {
    let Some(t) = setup("bad_config_type") else { return };
    let mut b = t.bundle();
    b.set("/process/rlimits/0/hard", json!("lots"));
    b.write();
    // runc: "json: cannot unmarshal string into Go struct field POSIXRlimit.process.rlimits.hard"
    let out = create_fails(&t, b.dir_str(), &b.id, "rlimits");
    out.assert_err("hard");
    if is_hull() {
        out.assert_err("process.rlimits[0].hard");
    }

    let mut b = t.bundle_for(&t.id_with("uid"));
    b.set("/process/user/uid", json!(-5));
    b.write();
    let out = create_fails(&t, b.dir_str(), &b.id, "uid");
    if is_hull() {
        out.assert_err("process.user.uid");
    }
    t.finish();
}

#[test]
fn missing_rootfs() {
    let Some(t) = setup("bad_rootfs") else { return };
    let mut b = t.bundle();
    let missing = t.scratch.join("no-such-rootfs");
    b.set("/root/path", json!(missing.to_str().unwrap()));
    b.write();
    create_fails(&t, b.dir_str(), &b.id, "no-such-rootfs");
    t.finish();
}

#[test]
fn empty_args() {
    let Some(t) = setup("bad_empty_args") else { return };
    let mut b = t.bundle();
    b.set("/process/args", json!([]));
    b.write();
    create_fails(&t, b.dir_str(), &b.id, "args");
    t.finish();
}

#[test]
fn negative_oom_score_adj_without_cap_sys_resource() {
    let Some(t) = setup("bad_oom_negative") else { return };
    let s = fs::read_to_string("/proc/self/status").unwrap();
    let eff = u64::from_str_radix(status_field(&s, "CapEff").unwrap(), 16).unwrap();
    if eff & cap_mask(&["CAP_SYS_RESOURCE"]) != 0 {
        eprintln!("SKIP: this machine has CAP_SYS_RESOURCE");
        return t.finish();
    }
    let mut b = t.bundle();
    b.set("/process/oomScoreAdj", json!(-500));
    b.args(&["true"]);
    b.write();
    create_fails(&t, b.dir_str(), &b.id, "oom_score_adj");
    t.finish();
}

/// Without a uts namespace the hostname would be the host's: refuse (runc: "unable to set
/// hostname without a private UTS namespace"), and never rename the host.
#[test]
fn hostname_without_uts_namespace() {
    let Some(t) = setup("bad_hostname_no_uts") else { return };
    let before = read_trim("/proc/sys/kernel/hostname");
    let mut b = t.bundle();
    b.remove_namespace("uts");
    b.set("/hostname", json!("hull-must-not-rename-host"));
    b.args(&["true"]);
    b.write();
    create_fails(&t, b.dir_str(), &b.id, "hostname");
    assert_eq!(read_trim("/proc/sys/kernel/hostname"), before, "the host was renamed");
    t.finish();
}
