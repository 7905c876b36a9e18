//! Lifecycle: create / start / state / kill / delete / run / list, state transitions and the
//! runc error texts clients match (CONTRACT.md §2-3).
mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;

/// A container that writes `started` to /out/marker, then stays running until the host creates
/// `<out>/go`, then exits 0.
fn waiting_bundle(t: &Test, id: &str) -> (Bundle, std::path::PathBuf) {
    let mut b = t.bundle_for(id);
    let out = b.out();
    b.sh("echo started > /out/marker; while [ ! -e /out/go ]; do sleep 0.05; done; exit 0");
    (b, out)
}

/// A container whose init runs until killed with SIGKILL.
fn sleeping_bundle(t: &Test, id: &str) -> Bundle {
    let mut b = t.bundle_for(id);
    b.args(&["sleep", "100000"]);
    b
}

#[test]
fn create_start_state_transitions_and_pid_file() {
    let Some(t) = setup("lc_transitions") else { return };
    let id = t.id();
    let (mut b, out) = waiting_bundle(&t, &id);
    b.set("/annotations", json!({"org.hull.test": "yes"}));
    let pid_file = t.scratch.join("init.pid");
    t.try_create(&b, &["--pid-file", pid_file.to_str().unwrap()]).assert_ok();

    let st = t.state(&id).expect("state after create");
    assert_eq!(st["status"], "created", "{st}");
    assert_eq!(st["id"], id.as_str(), "{st}");
    assert!(st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()), "ociVersion: {st}");
    let pid = st["pid"].as_i64().expect("pid");
    assert!(pid > 0, "pid: {st}");
    assert_eq!(st["bundle"], b.dir_str(), "bundle must be the absolute bundle path: {st}");
    assert_eq!(st["rootfs"], rootfs().to_str().unwrap(), "{st}");
    let created = st["created"].as_str().expect("created");
    assert!(is_rfc3339(created), "created is not RFC 3339: {created}");
    assert_eq!(st["annotations"]["org.hull.test"], "yes", "{st}");
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "init {pid} not alive after create");
    assert!(Path::new(STATE_ROOT).join(&id).is_dir(), "no state dir under --root");

    // Pid file: decimal, no newline, same pid as state.
    let pf = fs::read_to_string(&pid_file).expect("pid file written by create");
    assert!(!pf.is_empty() && pf.bytes().all(|c| c.is_ascii_digit()), "pid file must be bare decimal: {pf:?}");
    assert_eq!(pf.parse::<i64>().unwrap(), pid);

    // The user process has not run yet.
    assert!(!out.join("marker").exists(), "user process ran before start");

    t.start(&id);
    assert_eq!(wait_file(&out.join("marker")).trim(), "started");
    let st = t.state(&id).unwrap();
    assert_eq!(st["status"], "running", "{st}");
    assert_eq!(st["pid"].as_i64(), Some(pid), "init pid changed across start: {st}");
    assert_eq!(st["created"].as_str(), Some(created));

    fs::write(out.join("go"), "").unwrap();
    let st = t.wait_stopped(&id);
    assert_eq!(st["pid"].as_i64(), Some(0), "stopped container must report pid 0: {st}");

    t.rt(&["delete", &id]).assert_ok();
    assert!(t.state(&id).is_none(), "state still works after delete");
    t.assert_gone(&id);
    t.finish();
}

#[test]
fn start_twice_fails() {
    let Some(t) = setup("lc_start_twice") else { return };
    let id = t.id();
    let (b, out) = waiting_bundle(&t, &id);
    t.create_start(&b);
    wait_file(&out.join("marker"));
    t.rt(&["start", &id]).assert_err("");
    assert_eq!(t.status(&id).as_deref(), Some("running"));
    fs::write(out.join("go"), "").unwrap();
    t.wait_stopped(&id);
    fs::remove_file(out.join("marker")).unwrap();
    t.rt(&["start", &id]).assert_err("");
    assert_eq!(t.status(&id).as_deref(), Some("stopped"));
    assert!(!out.join("marker").exists(), "start of a stopped container ran the process again");
    t.rt(&["delete", &id]).assert_ok();
    t.finish();
}

#[test]
fn delete_running_requires_force() {
    let Some(t) = setup("lc_delete_running") else { return };
    let id = t.id();
    let b = sleeping_bundle(&t, &id);
    let pid = t.create_start(&b);
    t.rt(&["delete", &id]).assert_err(&format!("cannot delete container {id} that is not stopped"));
    let st = t.state(&id).unwrap();
    assert_eq!(st["status"], "running", "failed delete changed the container: {st}");
    assert_eq!(st["pid"].as_i64(), Some(pid));
    t.rt(&["delete", "--force", &id]).assert_ok();
    assert!(t.state(&id).is_none());
    t.assert_gone(&id);
    t.finish();
}

#[test]
fn delete_created_container_without_force() {
    let Some(t) = setup("lc_delete_created") else { return };
    let id = t.id();
    let (b, out) = waiting_bundle(&t, &id);
    t.create(&b);
    t.rt(&["delete", &id]).assert_ok();
    assert!(t.state(&id).is_none());
    t.assert_gone(&id);
    assert!(!out.join("marker").exists(), "deleting a created container ran its process");
    t.finish();
}

#[test]
fn delete_missing_id() {
    let Some(t) = setup("lc_delete_missing") else { return };
    let id = t.id();
    t.rt(&["delete", &id]).assert_err("container does not exist");
    let out = t.rt(&["delete", "--force", &id]);
    assert!(out.ok(), "delete --force of a missing id must exit 0\n{}", out.show());
    t.finish();
}

#[test]
fn state_of_missing_id() {
    let Some(t) = setup("lc_state_missing") else { return };
    let id = t.id();
    t.rt(&["state", &id]).assert_err("container does not exist");
    t.finish();
}

#[test]
fn kill_stopped_container() {
    let Some(t) = setup("lc_kill_stopped") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["true"]);
    t.create_start(&b);
    t.wait_stopped(&id);
    t.rt(&["kill", &id, "KILL"]).assert_err("container not running");
    // CRI sends `kill --all <id> 9` to containers that already exited: exit 0.
    let out = t.rt(&["kill", "--all", &id, "9"]);
    assert!(out.ok(), "kill --all of a stopped container must exit 0\n{}", out.show());
    t.rt(&["delete", &id]).assert_ok();
    t.finish();
}

#[test]
fn kill_sigkill_by_name_and_number() {
    let Some(t) = setup("lc_kill_kill") else { return };
    for (i, sig) in ["KILL", "SIGKILL", "9", "kill"].iter().enumerate() {
        let id = t.id_with(&format!("k{i}"));
        let b = sleeping_bundle(&t, &id);
        t.create_start(&b);
        let out = t.rt(&["kill", &id, sig]);
        assert!(out.ok(), "kill {sig}\n{}", out.show());
        t.wait_stopped(&id);
        t.rt(&["delete", &id]).assert_ok();
        t.assert_gone(&id);
    }
    t.finish();
}

/// Each signal spec must deliver exactly that signal: the container traps TERM, USR1 and HUP and
/// writes the name of the one it got.
#[test]
fn kill_delivers_the_named_signal() {
    let Some(t) = setup("lc_kill_named") else { return };
    let cases: &[(&[&str], &str)] = &[
        (&["sigterm"], "TERM"),
        (&["15"], "TERM"),
        (&["TERM"], "TERM"),
        (&[], "TERM"), // default signal
        (&["SIGUSR1"], "USR1"),
        (&["usr1"], "USR1"),
        (&["HUP"], "HUP"),
        (&["1"], "HUP"),
    ];
    for (i, (sig, want)) in cases.iter().enumerate() {
        let id = t.id_with(&format!("s{i}"));
        let mut b = t.bundle_for(&id);
        let out = b.out();
        b.sh("for s in TERM USR1 HUP; do trap \"echo $s > /out/sig; exit 0\" $s; done; \
              echo > /out/ready; while :; do sleep 0.05; done");
        t.create_start(&b);
        wait_file(&out.join("ready"));
        let mut args = vec!["kill", id.as_str()];
        args.extend_from_slice(sig);
        t.rt(&args).assert_ok();
        assert_eq!(wait_file(&out.join("sig")).trim(), *want, "kill {sig:?}");
        t.wait_stopped(&id);
        t.rt(&["delete", &id]).assert_ok();
    }
    t.finish();
}

/// `kill --all` signals every process of the container, not only init. PID 1 of a pid namespace
/// ignores SIGTERM without a handler, so only the children die, and then init reports it.
#[test]
fn kill_all_signals_every_process() {
    let Some(t) = setup("lc_kill_all") else { return };
    let id = t.id();
    let mut b = t.bundle();
    let out = b.out();
    b.sh("sleep 100000 & sleep 100000 & echo > /out/ready; wait; echo children-gone > /out/done; \
          while :; do sleep 0.05; done");
    t.create_start(&b);
    wait_file(&out.join("ready"));
    t.rt(&["kill", "--all", &id, "TERM"]).assert_ok();
    assert_eq!(wait_file(&out.join("done")).trim(), "children-gone");
    assert_eq!(t.status(&id).as_deref(), Some("running"), "init should have survived SIGTERM");
    t.rt(&["kill", "--all", &id, "KILL"]).assert_ok();
    t.wait_stopped(&id);
    t.rt(&["delete", &id]).assert_ok();
    t.finish();
}

#[test]
fn create_duplicate_id_fails_and_keeps_first() {
    let Some(t) = setup("lc_duplicate") else { return };
    let id = t.id();
    let b1 = sleeping_bundle(&t, &id);
    let pid = t.create(&b1);
    let before = t.state(&id).unwrap();
    let b2 = sleeping_bundle(&t, &id);
    t.try_create(&b2, &[]).assert_err("container with given ID already exists");
    let after = t.state(&id).unwrap();
    assert_eq!(before, after, "failed duplicate create changed the first container");
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "first container's init died");
    assert!(cgroup_dir("memory", &id).is_dir(), "first container's cgroup was removed");
    t.start(&id);
    assert_eq!(t.status(&id).as_deref(), Some("running"));
    t.finish();
}

#[test]
fn invalid_container_ids_rejected() {
    let Some(t) = setup("lc_invalid_id") else { return };
    let id = t.id();
    let b = sleeping_bundle(&t, &id);
    b.write();
    for bad in ["a/b", "..", "../x", "a b", "x:y"] {
        let out = t.rt(&["create", "--bundle", b.dir_str(), bad]);
        out.assert_err("invalid container ID format");
        assert!(!Path::new(STATE_ROOT).join("a").exists(), "state written for {bad:?}");
        assert!(!Path::new("/run/state.json").exists() && !Path::new("/run/x").exists());
    }
    t.rt(&["state", "a/b"]).assert_err("");
    t.assert_gone(&id);
    t.finish();
}

/// `list`, tolerating runc's race: runc 1.1.5 fails with "stat <root>/<id>: no such file or
/// directory" when another test deletes a container between its readdir and its stat. hull must
/// skip containers that vanish meanwhile, so for hull there is no retry.
fn list(t: &Test, args: &[&str]) -> Out {
    let mut full = vec!["list"];
    full.extend_from_slice(args);
    let mut out = t.rt(&full);
    for _ in 0..20 {
        if out.ok() || is_hull() || !out.stderr.contains("no such file or directory") {
            break;
        }
        out = t.rt(&full);
    }
    out
}

#[test]
fn list_table_quiet_and_json() {
    let Some(t) = setup("lc_list") else { return };
    let id = t.id();
    let b = sleeping_bundle(&t, &id);
    let pid = t.create(&b);

    let out = list(&t, &[]);
    out.assert_ok();
    let mut lines = out.stdout.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    assert_eq!(header.first(), Some(&"ID"), "table header\n{}", out.show());
    assert!(header.contains(&"STATUS") && header.contains(&"PID"), "table header\n{}", out.show());
    let row: Vec<&str> = lines
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|r| r.first() == Some(&id.as_str()))
        .unwrap_or_else(|| panic!("no row for {id}\n{}", out.show()));
    assert!(row.contains(&pid.to_string().as_str()) && row.contains(&"created"), "row {row:?}");

    let out = list(&t, &["-q"]);
    out.assert_ok();
    assert!(out.stdout.lines().any(|l| l == id), "list -q\n{}", out.show());
    assert!(!out.stdout.contains("STATUS"), "list -q prints ids only\n{}", out.show());

    let out = list(&t, &["--format", "json"]);
    out.assert_ok();
    let v: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{}", out.show()));
    let me = v
        .as_array()
        .expect("list --format json prints an array")
        .iter()
        .find(|c| c["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{id} missing from {v}"));
    assert_eq!(me["status"], "created");
    assert_eq!(me["pid"].as_i64(), Some(pid));
    assert_eq!(me["bundle"], b.dir_str());
    assert!(me["owner"].is_string(), "owner: {me}");

    // Beside it, a state dir without state.json (a create still making it) and a symlink to
    // its state dir: neither is a container of the table or the JSON, and neither hides it.
    let root = Path::new(STATE_ROOT);
    let (no_state, link) = (format!("{id}-nostate"), format!("{id}-link"));
    std::fs::create_dir(root.join(&no_state)).unwrap();
    std::os::unix::fs::symlink(root.join(&id), root.join(&link)).unwrap();
    let table = list(&t, &[]);
    let json = list(&t, &["--format", "json"]);
    let quiet = list(&t, &["-q"]);
    std::fs::remove_dir(root.join(&no_state)).unwrap();
    std::fs::remove_file(root.join(&link)).unwrap();
    for out in [&table, &json, &quiet] {
        out.assert_ok();
        assert!(out.stdout.contains(id.as_str()), "{id} missing\n{}", out.show());
        assert!(!out.stdout.contains(&no_state) && !out.stdout.contains(&link), "listed\n{}", out.show());
    }
    t.finish();
}

#[test]
fn run_passes_exit_status_and_deletes() {
    let Some(t) = setup("lc_run_status") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.sh("echo hello-from-run; exit 3");
    let out = t.run(&b, &[]);
    assert_eq!(out.code, Some(3), "run must exit with the container's status\n{}", out.show());
    assert!(out.stdout.contains("hello-from-run"), "{}", out.show());
    assert!(t.state(&id).is_none(), "run must delete the container");
    t.assert_gone(&id);
    t.finish();
}

/// `run` forwards signals it receives to the container's init.
#[test]
fn run_forwards_signals() {
    let Some(t) = setup("lc_run_signals") else { return };
    for (sig, name, code) in [(libc::SIGTERM, "TERM", 42), (libc::SIGUSR1, "USR1", 43)] {
        let id = t.id_with(name);
        let mut b = t.bundle_for(&id);
        b.sh(&format!("trap 'exit {code}' {name}; echo ready; while :; do sleep 0.05; done"));
        b.write();
        let sp = t.rt_spawn(&["run", "--bundle", b.dir_str(), &id]);
        wait_for("container to print ready", || sp.stdout_now().contains("ready").then_some(()));
        assert_eq!(unsafe { libc::kill(sp.pid(), sig) }, 0);
        let out = sp.wait();
        assert_eq!(out.code, Some(code), "SIG{name} not forwarded\n{}", out.show());
        assert!(t.state(&id).is_none());
        t.assert_gone(&id);
    }
    t.finish();
}

#[test]
fn run_detach_leaves_it_running() {
    let Some(t) = setup("lc_run_detach") else { return };
    let id = t.id();
    let b = sleeping_bundle(&t, &id);
    let out = t.run(&b, &["--detach"]);
    out.assert_ok();
    let st = t.state(&id).unwrap();
    assert_eq!(st["status"], "running", "{st}");
    t.rt(&["kill", &id, "9"]).assert_ok();
    t.wait_stopped(&id);
    t.rt(&["delete", &id]).assert_ok();
    t.assert_gone(&id);
    t.finish();
}

#[test]
fn run_keep_keeps_stopped_container() {
    let Some(t) = setup("lc_run_keep") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.sh("exit 0");
    t.run(&b, &["--keep"]).assert_ok();
    let st = t.state(&id).expect("--keep must keep the container");
    assert_eq!(st["status"], "stopped", "{st}");
    assert!(cgroup_dir("memory", &id).is_dir(), "--keep must keep the cgroup");
    t.rt(&["delete", &id]).assert_ok();
    t.assert_gone(&id);
    t.finish();
}

/// A foreground `run` whose container is deleted by another command says so, with the status
/// its process ended with, instead of a bare "container does not exist".
#[test]
fn foreground_run_of_a_container_deleted_elsewhere_says_so() {
    let Some(t) = setup("run_deleted_elsewhere") else { return };
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    b.write();
    let sp = t.rt_spawn(&["run", "--bundle", b.dir_str(), &b.id]);
    t.wait_status(&b.id, "running");
    t.rt(&["delete", "--force", &b.id]).assert_ok();
    let out = sp.wait();
    assert!(out.stderr.contains("was deleted by another command while run waited"), "{}", out.show());
    assert_eq!(out.code, Some(137), "the status of the killed process\n{}", out.show());
    t.finish();
}

/// `delete --force` of a container whose process exits by itself between delete's status read
/// and its kill succeeds: the kill finds it stopped (the window held open by a fault point).
#[test]
fn delete_force_races_a_process_that_exits_by_itself() {
    let Some(t) = setup("lc_force_race") else { return };
    if !is_hull() {
        return t.finish();
    }
    let mut b = t.bundle();
    b.args(&["sleep", "0.2"]);
    t.create_start(&b);
    let out = t.rt_with(&["delete", "--force", &b.id], |c| {
        c.env("HULL_FAULT", "pause:delete-before-kill");
    });
    out.assert_ok();
    t.assert_gone(&b.id);
    t.finish();
}
