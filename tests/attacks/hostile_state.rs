//! A hostile command line and state dir: container ids that name other directories, a state
//! dir replaced by a symlink, and a state.json whose pid was edited to name another process
//! (as after pid reuse). None may make the runtime touch anything outside its state dir or
//! signal a process that is not the container's.

use crate::common::*;
use std::path::Path;
use std::process::Command;

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir).map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default();
    v.sort();
    v
}

#[test]
fn ids_that_name_other_directories_are_refused() {
    let Some(t) = setup("hostile_ids") else { return };
    let root = t.dir("root");
    let root_s = root.to_str().unwrap();
    let long = "x".repeat(300);
    let b = t.bundle();
    b.write();
    for id in ["..", ".", "../escape", "a/b", "/abs", "x\ny", long.as_str()] {
        let before = (listing(&t.scratch), listing(&root));
        let out = t.rt_raw(&["--root", root_s, "create", "--bundle", b.dir_str(), id]);
        assert_ne!(out.code, Some(0), "create {id:?} succeeded\n{}", out.show());
        let why = out.stderr.to_lowercase();
        assert!(why.contains("invalid container id") || why.contains("file name too long") || why.contains("unexpected argument"), "create {id:?}: unclear refusal\n{}", out.show());
        assert_eq!((listing(&t.scratch), listing(&root)), before, "create {id:?} left something behind");
        for verb in [&["state"][..], &["delete", "--force"][..], &["kill"][..]] {
            let mut args = vec!["--root", root_s];
            args.extend_from_slice(verb);
            args.push(id);
            let out = t.rt_raw(&args);
            assert_ne!(out.code, Some(0), "{verb:?} {id:?} succeeded\n{}", out.show());
        }
        assert!(t.scratch.join("escape").symlink_metadata().is_err() && Path::new("/abs").symlink_metadata().is_err());
    }
    t.finish();
}

#[test]
fn a_state_dir_replaced_by_a_symlink_is_not_followed() {
    let Some(t) = setup("hostile_state_symlink") else { return };
    let root = t.dir("root");
    // A real container's state dir, copied elsewhere, and a symlink named like a container.
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    b.write();
    let root_s = root.to_str().unwrap();
    t.rt_raw(&["--root", root_s, "create", "--bundle", b.dir_str(), &b.id]).assert_ok();
    let elsewhere = t.dir("elsewhere");
    std::fs::copy(root.join(&b.id).join("state.json"), elsewhere.join("state.json")).unwrap();
    std::fs::write(elsewhere.join("precious"), "keep me").unwrap();
    std::os::unix::fs::symlink(&elsewhere, root.join("planted")).unwrap();
    for verb in [&["state"][..], &["kill"][..], &["delete", "--force"][..], &["delete"][..]] {
        let mut args = vec!["--root", root_s];
        args.extend_from_slice(verb);
        args.push("planted");
        let out = t.rt_raw(&args);
        assert_ne!(out.code, Some(0), "{verb:?} through the symlink succeeded\n{}", out.show());
        assert!(out.stderr.contains("symlink"), "{verb:?}: the refusal must say why\n{}", out.show());
    }
    assert_eq!(listing(&elsewhere), vec!["precious".to_string(), "state.json".to_string()]);
    // The real container is untouched by all this, and `list` still works.
    let st: serde_json::Value = serde_json::from_str(&t.rt_raw(&["--root", root_s, "state", &b.id]).stdout).unwrap();
    assert_eq!(st["status"], "created");
    t.rt_raw(&["--root", root_s, "list"]).assert_ok();
    t.rt_raw(&["--root", root_s, "delete", "--force", &b.id]).assert_ok();
    std::fs::remove_file(root.join("planted")).unwrap();
    t.finish();
}

/// state.json's pid edited to name a process that is not the container's (what pid reuse does
/// after the container's init died): the runtime must see a stopped container and leave the
/// other process alone through `kill`, `kill --all` and `delete --force`.
#[test]
fn a_state_json_pointing_at_another_pid_signals_nothing() {
    let Some(t) = setup("hostile_state_pid") else { return };
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    t.create_start(&b);
    let mut bystander = Command::new("sleep").arg("100000").spawn().unwrap();
    let path = Path::new(STATE_ROOT).join(&b.id).join("state.json");
    let mut state: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let real_pid = state["pid"].as_i64().unwrap();
    state["pid"] = serde_json::json!(bystander.id());
    std::fs::write(&path, state.to_string()).unwrap();
    assert_eq!(t.status(&b.id).as_deref(), Some("stopped"), "a pid whose start time differs must read as stopped");
    let _ = t.rt(&["kill", &b.id, "KILL"]);
    let _ = t.rt(&["kill", "--all", &b.id, "KILL"]);
    let _ = t.rt(&["delete", "--force", &b.id]);
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(bystander.try_wait().unwrap().is_none(), "the runtime signalled a process that was not the container's");
    bystander.kill().unwrap();
    bystander.wait().unwrap();
    // The real init is still the runtime's to clean up (its cgroup still holds it).
    // SAFETY: kill of the container's init, which this test created.
    unsafe { libc::kill(real_pid as i32, libc::SIGKILL) };
    t.finish();
}
