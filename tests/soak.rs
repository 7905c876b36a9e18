//! Soak and concurrency (issue 11): many lifecycles in a row, and the verbs racing on one id
//! from eight threads. Nothing may leak (state dirs, cgroups, mounts, processes, the runtime's
//! descriptors) and every `state` answer must be a consistent OCI state.
//!
//! `SOAK_N` sets the number of lifecycles (default 40, what `make test` and CI run);
//! `make soak` runs 1,000. `SOAK_RACE_OPS` sets the operations per racing thread (default 40).
mod common;

use common::*;
use std::time::Instant;

fn env_n(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Zombie processes whose parent is `ppid`.
fn zombies_of(ppid: u32) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter(|s| {
            let after = s.rsplit_once(") ").map(|(_, r)| r).unwrap_or("");
            let mut f = after.split(' ');
            f.next() == Some("Z") && f.next().and_then(|p| p.parse::<u32>().ok()) == Some(ppid)
        })
        .count()
}

#[test]
fn lifecycles_in_a_row_leak_nothing() {
    let Some(t) = setup("soak_lifecycles") else { return };
    let n = env_n("SOAK_N", 40);
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    b.write();
    let start = Instant::now();
    let mut run_fds = None;
    for i in 0..n {
        t.rt(&["create", "--bundle", b.dir_str(), &b.id]).assert_ok();
        t.rt(&["start", &b.id]).assert_ok();
        let st = t.state(&b.id).expect("state of a started container");
        assert_eq!(st["status"], "running", "lifecycle {i}: {st}");
        t.rt(&["kill", &b.id, "KILL"]).assert_ok();
        t.wait_stopped(&b.id);
        t.rt(&["delete", &b.id]).assert_ok();
        t.assert_gone(&b.id);
        if i % 10 == 0 {
            // A foreground `run` holds a fixed set of descriptors, whatever came before.
            let id = t.id_with("fg");
            let mut fg = t.bundle_for(&id);
            fg.args(&["sleep", "100000"]);
            fg.write();
            let sp = t.rt_spawn(&["run", "--bundle", fg.dir_str(), &id]);
            t.wait_status(&id, "running");
            let fds = std::fs::read_dir(format!("/proc/{}/fd", sp.pid())).unwrap().count();
            assert!(run_fds.is_none_or(|f| f == fds), "lifecycle {i}: the foreground run holds {fds} fds, earlier {run_fds:?}");
            run_fds = Some(fds);
            t.rt(&["kill", &id, "KILL"]).assert_ok();
            let out = sp.wait();
            assert!(out.signal.is_none(), "the foreground run died of a signal\n{}", out.show());
            // A foreground run (without --keep) deletes its container when it ends.
            t.assert_gone(&id);
        }
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!("{n} lifecycles in {secs:.1} s ({:.1} ms each); foreground run fds: {run_fds:?}", secs * 1000.0 / n as f64);
    wait_for("zombies of the test process to be reaped", || (zombies_of(std::process::id()) == 0).then_some(()));
    t.finish();
}

/// One runtime call from a racing thread, its output in files (a container inherits the
/// runtime's stdio: a pipe would stay open as long as the container runs).
fn race_cmd(scratch: &std::path::Path, k: usize, n: usize, args: &[&str]) -> Out {
    let (so, se) = (scratch.join(format!("race-{k}-{n}.out")), scratch.join(format!("race-{k}-{n}.err")));
    let mut c = std::process::Command::new(runtime());
    c.arg("--root").arg(STATE_ROOT).args(args);
    c.stdin(std::process::Stdio::null()).stdout(std::fs::File::create(&so).unwrap()).stderr(std::fs::File::create(&se).unwrap());
    let cmd = format!("{c:?}");
    let mut child = c.spawn().unwrap();
    let st = wait_child(&mut child, CMD_TIMEOUT, &cmd);
    use std::os::unix::process::ExitStatusExt;
    Out { cmd, code: st.code(), signal: st.signal(), stdout: std::fs::read_to_string(&so).unwrap_or_default(), stderr: std::fs::read_to_string(&se).unwrap_or_default() }
}

/// This test found a leaked container init (about one run in five under load): a create's state
/// dir, between its mkdir and its lock, taken by a concurrent `delete --force` for what a killed
/// create leaves and removed. State dirs now appear under their name already locked.
#[test]
fn verbs_racing_on_one_id_stay_consistent() {
    let Some(t) = setup("soak_race") else { return };
    let ops = env_n("SOAK_RACE_OPS", 40);
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    b.write();
    let (id, dir) = (b.id.clone(), b.dir_str().to_string());
    let scratch = t.scratch.clone();
    let results: Vec<(Vec<String>, [usize; 6])> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|k| {
                let (id, dir, scratch) = (id.clone(), dir.clone(), scratch.clone());
                s.spawn(move || {
                    let rt = |n: usize, args: &[&str]| race_cmd(&scratch, k, n, args);
                    let mut bad = vec![];
                    let mut succeeded = [0usize; 6];
                    for i in 0..ops {
                        let out = match (k + i) % 6 {
                            0 => rt(i, &["create", "--bundle", &dir, &id]),
                            1 => rt(i, &["start", &id]),
                            2 => rt(i, &["kill", &id, "KILL"]),
                            3 => rt(i, &["delete", "--force", &id]),
                            4 => rt(i, &["exec", &id, "true"]),
                            _ => rt(i, &["state", &id]),
                        };
                        if out.ok() {
                            succeeded[(k + i) % 6] += 1;
                        }
                        // Refusals are expected (wrong state, gone, exists); crashes and hangs are not.
                        if out.signal.is_some() || !matches!(out.code, Some(0) | Some(1) | Some(255) | Some(137)) {
                            bad.push(format!("crash or odd status:\n{}", out.show()));
                        }
                        if out.ok() && out.cmd.contains("\"state\"") {
                            match serde_json::from_str::<serde_json::Value>(&out.stdout) {
                                Ok(st) => {
                                    let status = st["status"].as_str().unwrap_or_default();
                                    let pid = st["pid"].as_i64().unwrap_or(-1);
                                    let ok = match status {
                                        "stopped" => pid == 0,
                                        "creating" | "created" | "running" | "paused" => pid > 0,
                                        _ => false,
                                    };
                                    if !ok || st["id"] != id.as_str() {
                                        bad.push(format!("inconsistent state: {st}"));
                                    }
                                }
                                Err(e) => bad.push(format!("state is not JSON ({e}):\n{}", out.show())),
                            }
                        }
                    }
                    (bad, succeeded)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut totals = [0usize; 6];
    for (_, s) in &results {
        for (t, n) in totals.iter_mut().zip(s) {
            *t += n;
        }
    }
    eprintln!("8 threads x {ops} operations; succeeded: create {}, start {}, kill {}, delete {}, exec {}, state {}", totals[0], totals[1], totals[2], totals[3], totals[4], totals[5]);
    let bad: Vec<String> = results.into_iter().flat_map(|(b, _)| b).collect();
    assert!(bad.is_empty(), "{} bad outcomes, first:\n{}", bad.len(), bad[0]);
    t.rt(&["delete", "--force", &id]).assert_ok();
    t.assert_gone(&id);
    wait_for("zombies of the test process to be reaped", || (zombies_of(std::process::id()) == 0).then_some(()));
    t.finish();
}

/// The status of running containers derived over and over while the machine is under CPU and
/// fork load (issue 13: a `kill` once answered "container not running" under load): every
/// `state` says running, and `kill KILL` then succeeds. `SOAK_STATUS_N` sets the number of
/// `state` calls per container (default 300).
#[test]
fn status_of_running_containers_under_load() {
    let Some(t) = setup("soak_status_load") else { return };
    let n = env_n("SOAK_STATUS_N", 300);
    let mut ids = vec![];
    for i in 0..3 {
        let id = t.id_with(&format!("c{i}"));
        let mut b = t.bundle_for(&id);
        b.args(&["sleep", "100000"]);
        t.create_start(&b);
        ids.push(id);
    }
    // Load: two busy loops and a loop that forks short-lived processes, all ours.
    let mut load: Vec<std::process::Child> = ["while :; do :; done", "while :; do :; done", "while :; do /bin/true; done"]
        .iter()
        .map(|s| std::process::Command::new("sh").args(["-c", s]).spawn().unwrap())
        .collect();
    let mut bad = vec![];
    for _ in 0..n {
        for id in &ids {
            match t.state(id) {
                Some(st) if st["status"] == "running" => {}
                other => bad.push(format!("{id}: {other:?}")),
            }
        }
    }
    for id in &ids {
        let out = t.rt(&["kill", id, "KILL"]);
        if !out.ok() {
            bad.push(format!("kill {id}: {}", out.stderr.trim()));
        }
    }
    for c in &mut load {
        let _ = c.kill();
        let _ = c.wait();
    }
    eprintln!("{} state calls under load, {} bad", n * ids.len(), bad.len());
    assert!(bad.is_empty(), "{} bad answers, first: {}", bad.len(), bad[0]);
    t.finish();
}
