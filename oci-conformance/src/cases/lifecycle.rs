//! runtime.md: state, lifecycle, operations and their errors.

use super::*;
use crate::proc;
use crate::suite::{c, clip, Outcome};
use serde_json::json;
use std::fs;

pub fn groups() -> Vec<Group> {
    vec![
        Group {
            name: "lifecycle",
            cases: vec![
                c("create-ok", "runtime#create", "create creates a container that the same caller can query"),
                c("create-no-run", "runtime#create", "process.args is not run by create (lifecycle step 2)"),
                c("st-created", "runtime#state", "status is \"created\" after create"),
                c("st-created-pid", "runtime#state", "pid of a created container is the live container process"),
                c("st-created-schema", "runtime#state", "state of a created container is valid against state-schema.json"),
                c("st-id", "runtime#state", "state id is the container id"),
                c("st-bundle", "runtime#state", "state bundle is the absolute path of the bundle directory"),
                c("st-oci", "runtime#state", "state ociVersion is set"),
                c("st-annotations", "runtime#state", "state annotations are the config annotations"),
                c("config-frozen", "runtime#create", "changes to config.json after create do not affect the container"),
                c("start-runs", "runtime#start", "start runs the user-specified program"),
                c("st-running", "runtime#state", "status is \"running\" after start"),
                c("st-running-pid", "runtime#state", "pid of a running container is the live container process"),
                c("st-running-schema", "runtime#state", "state of a running container is valid against state-schema.json"),
                c("start-twice", "runtime#start", "start of a running container generates an error"),
                c("start-twice-noeffect", "runtime#start", "start of a running container has no effect on it"),
                c("delete-running", "runtime#delete", "delete of a running container generates an error"),
                c("delete-running-noeffect", "runtime#delete", "delete of a running container has no effect on it"),
                c("kill-running", "runtime#kill", "kill sends the signal to a running container's process"),
                c("st-stopped", "runtime#state", "status is \"stopped\" after the container process exited"),
                c("st-stopped-schema", "runtime#state", "state of a stopped container is valid against state-schema.json"),
                c("start-stopped", "runtime#start", "start of a stopped container generates an error"),
                c("kill-stopped", "runtime#kill", "kill of a stopped container generates an error"),
                c("kill-stopped-noeffect", "runtime#kill", "kill of a stopped container has no effect on it"),
                c("delete-stopped", "runtime#delete", "delete of a stopped container succeeds"),
                c("delete-cgroups", "runtime#delete", "delete removes the cgroups that create made"),
                c("state-deleted", "runtime#query-state", "state of a deleted container generates an error"),
                c("delete-deleted", "runtime#delete", "delete of an already deleted container generates an error"),
            ],
            run: lifecycle,
        },
        Group {
            name: "lifecycle-created-ops",
            cases: vec![
                c("delete-created", "runtime#delete", "delete of a created (not stopped) container generates an error"),
                c("delete-created-noeffect", "runtime#delete", "delete of a created container has no effect on it"),
                c("kill-created", "runtime#kill", "kill sends the signal to a created container's process"),
                c("kill-created-stopped", "runtime#state", "a created container whose process was killed reports \"stopped\""),
            ],
            run: created_ops,
        },
        Group {
            name: "lifecycle-signal",
            cases: vec![
                c("kill-usr1", "runtime#kill", "kill delivers the specified signal (USR1) to the container process"),
                c("self-exit-stopped", "runtime#state", "status is \"stopped\" after the process exited on its own"),
                c("stopped-pid", "runtime#state", "pid of a stopped container is not a live container process"),
            ],
            run: signal,
        },
        Group {
            name: "lifecycle-duplicate-id",
            cases: vec![
                c("dup-id", "runtime#create", "create with the id of an existing container generates an error"),
                c("dup-id-noeffect", "runtime#create", "a refused duplicate create leaves the existing container unchanged"),
            ],
            run: duplicate,
        },
        Group {
            name: "lifecycle-errors",
            cases: vec![
                c("state-missing", "runtime#query-state", "state of a container that does not exist generates an error"),
                c("start-missing", "runtime#start", "start of a container that does not exist generates an error"),
                c("kill-missing", "runtime#kill", "kill of a container that does not exist generates an error"),
                c("delete-missing", "runtime#delete", "delete of a container that does not exist generates an error"),
                c("state-noid", "runtime#query-state", "state without a container id generates an error"),
                c("start-noid", "runtime#start", "start without a container id generates an error"),
                c("kill-noid", "runtime#kill", "kill without a container id generates an error"),
                c("delete-noid", "runtime#delete", "delete without a container id generates an error"),
                c("create-noid", "runtime#create", "create without a container id generates an error"),
                c("create-nobundle", "runtime#create", "create without a bundle path (cwd is not a bundle) generates an error"),
            ],
            run: errors,
        },
        Group {
            name: "lifecycle-failed-create",
            cases: vec![
                c("root-missing", "config#root", "a root.path that does not exist makes create generate an error"),
                c("failed-no-container", "runtime#errors", "a failed create leaves no container behind"),
                c("failed-no-cgroup", "runtime#errors", "a failed create leaves no cgroup behind"),
            ],
            run: failed_create,
        },
        Group {
            name: "lifecycle-no-process",
            cases: vec![c("start-no-process", "runtime#start", "start generates an error when process is not set")],
            run: no_process,
        },
        Group {
            name: "delete-foreign-resources",
            cases: vec![
                c("keep-bind-source", "runtime#delete", "delete leaves a bind-mount source (not created by the container) intact"),
                c("keep-precreated-cgroup", "runtime#delete", "delete leaves a cgroup that existed before create (not created by the container)"),
            ],
            run: foreign_resources,
        },
    ]
}

fn lifecycle(g: &mut G) {
    let mut b = g.bundle("life");
    b.sh("echo OCI-USER-RAN; exec sleep 600");
    b.config["annotations"] =
        json!({"org.example.oci-conformance.case": "lifecycle", "com.example.key2": "value2"});
    let o = g.create(&mut b);
    if !o.ok() {
        g.fail_rest(&format!("create failed: {}", o.brief()));
        return;
    }
    let st = g.state(&b.id);
    let st = match st {
        Ok(s) => {
            g.pass("create-ok");
            s
        }
        Err(e) => {
            g.fail_rest(&format!("state after create failed: {}", e));
            return;
        }
    };
    std::thread::sleep(Duration::from_millis(200));
    g.check(
        "create-no-run",
        ensure(!b.output().contains("OCI-USER-RAN"), || {
            "the user program ran before start".into()
        }),
    );
    g.check(
        "st-created",
        ensure(st["status"] == "created", || {
            format!("status is {}", st["status"])
        }),
    );
    let pid = st["pid"].as_i64().unwrap_or(0) as i32;
    g.check(
        "st-created-pid",
        ensure(pid > 0 && proc::alive(pid), || {
            format!("pid {} is not a live process", st["pid"])
        }),
    );
    g.check("st-created-schema", state_schema(&st));
    g.check(
        "st-id",
        ensure(st["id"] == b.id.as_str(), || format!("id is {}", st["id"])),
    );
    let want_bundle = canon(&b.dir);
    g.check(
        "st-bundle",
        ensure(
            st["bundle"]
                .as_str()
                .map(|s| s.starts_with('/') && canon(Path::new(s)) == want_bundle)
                .unwrap_or(false),
            || format!("bundle is {} (want {})", st["bundle"], want_bundle),
        ),
    );
    g.check(
        "st-oci",
        ensure(
            st["ociVersion"]
                .as_str()
                .map(|s| !s.is_empty())
                .unwrap_or(false),
            || format!("ociVersion is {}", st["ociVersion"]),
        ),
    );
    g.check(
        "st-annotations",
        ensure(st["annotations"] == b.config["annotations"], || {
            format!(
                "annotations are {} (want {})",
                st["annotations"], b.config["annotations"]
            )
        }),
    );

    // modify config.json after create: must not affect the container
    let mut changed = b.config.clone();
    changed["process"]["args"] =
        json!(["/bin/sh", "-c", "echo OCI-CHANGED-CONFIG; exec sleep 600"]);
    let _ = fs::write(
        b.dir.join("config.json"),
        serde_json::to_string_pretty(&changed).unwrap_or_default(),
    );

    let o = g.start(&b.id);
    if !o.ok() {
        g.fail_rest(&format!("start failed: {}", o.brief()));
        g.destroy(&b);
        return;
    }
    let ran = wait_output(&b, "OCI-USER-RAN", Duration::from_secs(5));
    g.check(
        "start-runs",
        ensure(ran, || {
            format!(
                "program output not seen; stdout: {}",
                clip(&b.output(), 200)
            )
        }),
    );
    g.check(
        "config-frozen",
        ensure(ran && !b.output().contains("OCI-CHANGED-CONFIG"), || {
            format!("container stdout: {}", clip(&b.output(), 200))
        }),
    );
    match g.state(&b.id) {
        Ok(st) => {
            g.check(
                "st-running",
                ensure(st["status"] == "running", || {
                    format!("status is {}", st["status"])
                }),
            );
            let p = st["pid"].as_i64().unwrap_or(0) as i32;
            g.check(
                "st-running-pid",
                ensure(p > 0 && proc::alive(p) && p == pid, || {
                    format!("pid {} (created pid {})", st["pid"], pid)
                }),
            );
            g.check("st-running-schema", state_schema(&st));
        }
        Err(e) => g.fail_keys(&["st-running", "st-running-pid", "st-running-schema"], &e),
    }
    let o = g.start(&b.id);
    g.check(
        "start-twice",
        ensure(o.errored(), || format!("second start: {}", o.brief())),
    );
    let st2 = g.state(&b.id);
    g.check(
        "start-twice-noeffect",
        match &st2 {
            Ok(s) => ensure(
                s["status"] == "running"
                    && s["pid"].as_i64() == Some(pid as i64)
                    && proc::alive(pid),
                || format!("state now {}", clip(&s.to_string(), 200)),
            ),
            Err(e) => Err(e.clone()),
        },
    );
    let o = g.delete(&b.id);
    g.check(
        "delete-running",
        ensure(o.errored(), || {
            format!("delete of running container: {}", o.brief())
        }),
    );
    let st3 = g.state(&b.id);
    g.check(
        "delete-running-noeffect",
        match &st3 {
            Ok(s) => ensure(s["status"] == "running" && proc::alive(pid), || {
                format!("state now {}", clip(&s.to_string(), 200))
            }),
            Err(e) => Err(format!("container gone after refused delete: {}", e)),
        },
    );
    if st3.is_err() {
        // the runtime deleted it; nothing more can be checked
        g.fail_rest("container was deleted by a delete that should have been refused");
        return;
    }
    let o = g.kill(&b.id, "KILL");
    let gone = g.wait_exit(&b, Duration::from_secs(10));
    g.check(
        "kill-running",
        ensure(o.ok() && gone.is_ok(), || {
            format!("kill: {}; wait: {:?}", o.brief(), gone)
        }),
    );
    let _ = g.wait_status(&b.id, "stopped", Duration::from_secs(5));
    match g.state(&b.id) {
        Ok(st) => {
            g.check(
                "st-stopped",
                ensure(st["status"] == "stopped", || {
                    format!("status is {}", st["status"])
                }),
            );
            g.check("st-stopped-schema", state_schema(&st));
        }
        Err(e) => g.fail_keys(&["st-stopped", "st-stopped-schema"], &e),
    }
    let o = g.start(&b.id);
    g.check(
        "start-stopped",
        ensure(o.errored(), || {
            format!("start of stopped container: {}", o.brief())
        }),
    );
    let o = g.kill(&b.id, "KILL");
    g.check(
        "kill-stopped",
        ensure(o.errored(), || {
            format!("kill of stopped container: {}", o.brief())
        }),
    );
    let r = match g.state(&b.id) {
        Ok(s) => ensure(s["status"] == "stopped", || {
            format!("status now {}", s["status"])
        }),
        Err(e) => Err(e),
    };
    g.check("kill-stopped-noeffect", r);
    let cg_before: Vec<_> = ["memory", "pids", "cpu", "devices", "freezer"]
        .iter()
        .filter_map(|c| g.cgroup_dir(c, &b))
        .filter(|d| d.exists())
        .collect();
    let o = g.delete(&b.id);
    g.check("delete-stopped", ensure(o.ok(), || o.brief()));
    let left: Vec<String> = cg_before
        .iter()
        .filter(|d| d.exists())
        .map(|d| d.display().to_string())
        .collect();
    g.check(
        "delete-cgroups",
        if cg_before.is_empty() {
            Err("no cgroup existed at the cgroupsPath while the container was stopped".into())
        } else {
            ensure(left.is_empty(), || {
                format!("still present after delete: {}", left.join(", "))
            })
        },
    );
    let o = g.state_out(&b.id);
    g.check(
        "state-deleted",
        ensure(o.errored(), || {
            format!("state after delete: {}", clip(&o.stdout, 200))
        }),
    );
    let o = g.delete(&b.id);
    g.check(
        "delete-deleted",
        ensure(o.errored(), || format!("second delete: {}", o.brief())),
    );
}

fn created_ops(g: &mut G) {
    let mut b = g.bundle("created-ops");
    b.sh("echo OCI-USER-RAN; exec sleep 600");
    let o = g.create(&mut b);
    if !o.ok() {
        g.fail_rest(&format!("create failed: {}", o.brief()));
        return;
    }
    let pid = b.pid.unwrap_or(0);
    let o = g.delete(&b.id);
    g.check(
        "delete-created",
        ensure(o.errored(), || {
            format!("delete of a created container: {}", o.brief())
        }),
    );
    let st = g.state(&b.id);
    let still = matches!(&st, Ok(s) if s["status"] == "created") && proc::alive(pid);
    g.check(
        "delete-created-noeffect",
        ensure(still, || match &st {
            Ok(s) => format!("state now {}", clip(&s.to_string(), 160)),
            Err(e) => format!("container gone: {}", e),
        }),
    );
    if !still {
        // the runtime destroyed it; use a fresh container for the kill cases
        let _ = g.delete_force(&b.id);
        b = g.bundle("created-kill");
        b.sh("echo OCI-USER-RAN; exec sleep 600");
        let o = g.create(&mut b);
        if !o.ok() {
            g.fail_rest(&format!("create failed: {}", o.brief()));
            return;
        }
    }
    let o = g.kill(&b.id, "KILL");
    let w = g.wait_exit(&b, Duration::from_secs(10));
    g.check(
        "kill-created",
        ensure(o.ok() && w.is_ok(), || {
            format!("kill: {}; wait: {:?}", o.brief(), w)
        }),
    );
    let r = g.wait_status(&b.id, "stopped", Duration::from_secs(5));
    g.check("kill-created-stopped", r);
    let _ = g.delete(&b.id);
}

fn signal(g: &mut G) {
    let mut b = g.bundle("signal");
    b.sh("trap 'echo OCI-GOT-USR1; exit 0' USR1; echo OCI-READY; while :; do sleep 0.05; done");
    let o = g.create(&mut b);
    if !o.ok() {
        g.fail_rest(&format!("create failed: {}", o.brief()));
        return;
    }
    let o = g.start(&b.id);
    if !o.ok() || !wait_output(&b, "OCI-READY", Duration::from_secs(5)) {
        g.fail_rest(&format!(
            "start failed or program not running: {}",
            o.brief()
        ));
        g.destroy(&b);
        return;
    }
    let o = g.kill(&b.id, "USR1");
    let got = wait_output(&b, "OCI-GOT-USR1", Duration::from_secs(5));
    g.check(
        "kill-usr1",
        ensure(o.ok() && got, || {
            format!("kill USR1: {}; handler output seen: {}", o.brief(), got)
        }),
    );
    let w = g.wait_exit(&b, Duration::from_secs(5));
    if w.is_err() {
        g.fail_keys(
            &["self-exit-stopped", "stopped-pid"],
            "process did not exit",
        );
        g.destroy(&b);
        return;
    }
    let r = g.wait_status(&b.id, "stopped", Duration::from_secs(5));
    g.check("self-exit-stopped", r);
    match g.state(&b.id) {
        Ok(st) => {
            let p = st["pid"].as_i64().unwrap_or(0) as i32;
            g.check(
                "stopped-pid",
                ensure(p <= 0 || !proc::alive(p) || Some(p) != b.pid, || {
                    format!("stopped state reports live pid {}", p)
                }),
            );
        }
        Err(e) => g.fail("stopped-pid", e),
    }
    let _ = g.delete(&b.id);
}

fn duplicate(g: &mut G) {
    let mut a = g.bundle("dup-a");
    a.sh("exec sleep 600");
    let o = g.create(&mut a);
    if !o.ok() {
        g.fail_rest(&format!("create failed: {}", o.brief()));
        return;
    }
    let before = g.state(&a.id).ok();
    let mut b2 = g.bundle("dup-b");
    b2.id = a.id.clone();
    b2.config["linux"]["cgroupsPath"] = a.config["linux"]["cgroupsPath"].clone();
    b2.sh("echo OCI-SECOND-RAN; exec sleep 600");
    let o = g.create(&mut b2);
    g.check(
        "dup-id",
        ensure(o.errored(), || {
            format!("second create with the same id: {}", o.brief())
        }),
    );
    let after = g.state(&a.id).ok();
    g.check(
        "dup-id-noeffect",
        match (&before, &after) {
            (Some(x), Some(y)) => ensure(
                x["pid"] == y["pid"]
                    && x["bundle"] == y["bundle"]
                    && y["status"] == "created"
                    && a.pid.map(proc::alive).unwrap_or(false),
                || {
                    format!(
                        "before {} after {}",
                        clip(&x.to_string(), 150),
                        clip(&y.to_string(), 150)
                    )
                },
            ),
            _ => Err("state of the original container failed".into()),
        },
    );
    let _ = g.delete_force(&a.id);
}

fn errors(g: &mut G) {
    if let Err(e) = g.control() {
        g.fail_rest(&e);
        return;
    }
    let missing = format!("{}-does-not-exist", g.new_id());
    let o = g.state_out(&missing);
    g.check("state-missing", ensure(o.errored(), || o.brief()));
    let o = g.start(&missing);
    g.check("start-missing", ensure(o.errored(), || o.brief()));
    let o = g.kill(&missing, "KILL");
    g.check("kill-missing", ensure(o.errored(), || o.brief()));
    let o = g.delete(&missing);
    g.check("delete-missing", ensure(o.errored(), || o.brief()));
    for (key, verb) in [
        ("state-noid", "state"),
        ("start-noid", "start"),
        ("kill-noid", "kill"),
        ("delete-noid", "delete"),
    ] {
        let o = g.rt(&[verb]);
        g.check(key, ensure(o.errored(), || o.brief()));
    }
    // create without an id
    let b = g.bundle("noid");
    let _ = b.write();
    let dir = b.dir.to_string_lossy().into_owned();
    let o = g.rt(&["create", "--bundle", &dir]);
    g.check("create-noid", ensure(o.errored(), || o.brief()));
    // create without a bundle, from a directory that is not a bundle
    let empty = g.dir.join("not-a-bundle");
    let _ = fs::create_dir_all(&empty);
    let id = g.new_id();
    g.track_id(&id);
    let o = g.rt_opts(
        &["create", &id],
        crate::suite::Opts {
            cwd: Some(&empty),
            ..Default::default()
        },
    );
    let exists = g.state_out(&id).ok();
    g.check(
        "create-nobundle",
        ensure(o.errored() && !exists, || {
            format!("{}; container exists afterwards: {}", o.brief(), exists)
        }),
    );
}

fn failed_create(g: &mut G) {
    let mut b = g.bundle("noroot");
    b.config["root"]["path"] = json!("rootfs-does-not-exist");
    b.valid = true;
    if let Err(e) = g.control() {
        g.fail_rest(&e);
        return;
    }
    let o = g.create(&mut b);
    g.check("root-missing", ensure(o.errored(), || o.brief()));
    if !o.errored() {
        let _ = g.delete_force(&b.id);
    }
    let st = g.state_out(&b.id);
    g.check(
        "failed-no-container",
        ensure(!st.ok(), || {
            format!("state succeeds: {}", clip(&st.stdout, 160))
        }),
    );
    let left: Vec<String> =
        g.s.host
            .cgroup_mounts
            .iter()
            .map(|(m, _, _)| m.join(b.cgroups_path().trim_start_matches('/')))
            .filter(|p| p.exists())
            .map(|p| p.display().to_string())
            .collect();
    g.check(
        "failed-no-cgroup",
        ensure(left.is_empty(), || {
            format!("left behind: {}", left.join(", "))
        }),
    );
}

fn no_process(g: &mut G) {
    if let Err(e) = g.control() {
        g.fail_rest(&e);
        return;
    }
    let mut b = g.bundle("noproc");
    if let Some(o) = b.config.as_object_mut() {
        o.remove("process");
    }
    let o = g.create(&mut b);
    if o.timed_out {
        g.fail("start-no-process", o.brief());
        return;
    }
    if o.errored() {
        // refused before start: the program can never run; the requirement holds
        g.set("start-no-process", Outcome::Pass);
        return;
    }
    let s = g.start(&b.id);
    g.check(
        "start-no-process",
        ensure(s.errored(), || {
            format!("start without process: {}", s.brief())
        }),
    );
    let _ = g.delete_force(&b.id);
}

fn foreign_resources(g: &mut G) {
    let src = g.dir.join("foreign-src");
    let _ = fs::create_dir_all(&src);
    let _ = fs::write(src.join("keep"), "keep\n");
    let mut b = g.bundle("foreign");
    b.add_mount(json!({"destination": "/data", "type": "none", "source": src.to_string_lossy(), "options": ["rbind", "rw"]}));
    b.checker(&["--create", "/data/written-by-container"]);
    let pre = g.cgroup_dir("pids", &b);
    if let Some(p) = &pre {
        let _ = fs::create_dir_all(p);
    }
    let r = g.run_process(&mut b);
    if let Err(e) = r {
        g.fail_rest(&e);
        return;
    }
    g.check(
        "keep-bind-source",
        ensure(src.join("keep").exists(), || {
            "bind source content removed".into()
        }),
    );
    g.check(
        "keep-precreated-cgroup",
        match &pre {
            Some(p) => ensure(p.exists(), || {
                format!("{} was removed by delete", p.display())
            }),
            None => Err("no pids cgroup hierarchy".into()),
        },
    );
}
