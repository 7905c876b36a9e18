//! config.md#posix-platform-hooks and runtime.md#lifecycle: hook order, timing,
//! namespaces, the state on stdin, arguments and environment, failures.

use super::*;
use crate::proc;
use crate::suite::{c, clip, Report};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;

const HOOK_SH: &str = r#"#!/bin/sh
# oci-conformance hook: $1 = name, $2 = log directory, $3 = optional path to test for existence
n="$1"; d="$2"
cat > "$d/$n.state"
echo "$n" >> "$d/order.log"
for t in mnt pid net uts ipc; do printf '%s ' "$(stat -L -c %i /proc/self/ns/$t 2>/dev/null)"; done > "$d/$n.ns"
env > "$d/$n.env"
echo "$0 $*" > "$d/$n.args"
pid=$(sed -n 's/.*"pid"[^0-9]*\([0-9][0-9]*\).*/\1/p' "$d/$n.state" | head -n 1)
if [ -n "$pid" ]; then readlink "/proc/$pid/exe" > "$d/$n.exe" 2>/dev/null; fi
if [ -n "$3" ]; then if [ -e "$3" ]; then echo present; else echo absent; fi > "$d/$n.path"; fi
if [ -n "$HOOK_SLEEP" ]; then exec sleep "$HOOK_SLEEP"; fi
exit "${HOOK_EXIT:-0}"
"#;

pub fn groups() -> Vec<Group> {
    vec![
        Group {
            name: "hooks",
            cases: vec![
                c("h-prestart", "config#prestart", "prestart hooks are called during create"),
                c("h-createruntime", "config#createruntime-hooks", "createRuntime hooks are called during create"),
                c("h-createcontainer", "config#createcontainer-hooks", "createContainer hooks are called during create"),
                c("h-startcontainer", "config#startcontainer-hooks", "startContainer hooks are called during start, not create"),
                c("h-poststart", "config#poststart", "poststart hooks are called during start (not create), before it returns"),
                c("h-poststop", "config#poststop", "poststop hooks are called during delete, before it returns"),
                c("h-listed-order", "config#posix-platform-hooks", "hooks of one kind are called in the listed order"),
                c("h-prestart-first", "config#prestart", "prestart hooks are called before createRuntime hooks"),
                c("h-cc-after-cr", "config#createcontainer-hooks", "createContainer hooks are called after createRuntime hooks"),
                c("h-sc-before-user", "runtime#lifecycle", "startContainer hooks run before the user-specified program"),
                c("h-no-user-at-create", "runtime#lifecycle", "the user-specified program does not run while create-time hooks run"),
                c("h-poststart-after-exec", "config#poststart", "poststart hooks are called after the user-specified process is executed"),
                c("h-state-prestart", "config#posix-platform-hooks", "prestart hooks get the container state on stdin"),
                c("h-state-createruntime", "config#posix-platform-hooks", "createRuntime hooks get the container state on stdin"),
                c("h-state-createcontainer", "config#posix-platform-hooks", "createContainer hooks get the container state on stdin"),
                c("h-state-startcontainer", "config#posix-platform-hooks", "startContainer hooks get the container state on stdin"),
                c("h-state-poststart", "config#posix-platform-hooks", "poststart hooks get the container state on stdin"),
                c("h-state-poststop", "config#posix-platform-hooks", "poststop hooks get the container state on stdin"),
                c("h-status-create", "runtime#state", "create-time hooks see status \"creating\" (runc, hull) or \"created\" (crun; the lifecycle's letter)"),
                c("h-status-startcontainer", "runtime#state", "startContainer hooks see status \"created\""),
                c("h-status-poststart", "runtime#state", "poststart hooks see status \"running\""),
                c("h-status-poststop", "runtime#state", "poststop hooks see status \"stopped\""),
                c("h-pid-runtime", "runtime#state", "hooks in the runtime namespace get the pid as seen by the runtime"),
                c("h-pid-container", "runtime#state", "hooks in the container namespace get the pid as seen by the container"),
                c("h-ns-prestart", "config#prestart", "prestart hooks are executed in the runtime namespace"),
                c("h-ns-createruntime", "config#createruntime-hooks", "createRuntime hooks are executed in the runtime namespace"),
                c("h-ns-createcontainer", "config#createcontainer-hooks", "createContainer hooks are executed in the container namespace"),
                c("h-ns-startcontainer", "config#startcontainer-hooks", "startContainer hooks are executed in the container namespace"),
                c("h-ns-poststart", "config#poststart", "poststart hooks are executed in the runtime namespace"),
                c("h-ns-poststop", "config#poststop", "poststop hooks are executed in the runtime namespace"),
                c("h-cc-path", "config#createcontainer-hooks", "createContainer hook path resolves in the runtime namespace"),
                c("h-sc-path", "config#startcontainer-hooks", "startContainer hook path resolves in the container namespace"),
                c("h-args", "config#posix-platform-hooks", "hook args are passed as argv"),
                c("h-env", "config#posix-platform-hooks", "hook env is the hook's environment"),
                c("h-poststop-destroyed", "runtime#lifecycle", "poststop hooks run after the container is destroyed (cgroup removed)"),
            ],
            run: hooks,
        },
        Group {
            name: "hook-failures-create",
            cases: vec![
                c("hf-prestart", "runtime#lifecycle", "a failing prestart hook makes create generate an error"),
                c("hf-prestart-destroyed", "runtime#lifecycle", "after a failing prestart hook the container is destroyed"),
                c("hf-prestart-poststop", "runtime#lifecycle", "after a failing prestart hook the poststop hooks are called"),
                c("hf-createruntime", "runtime#lifecycle", "a failing createRuntime hook makes create generate an error"),
                c("hf-createruntime-destroyed", "runtime#lifecycle", "after a failing createRuntime hook the container is destroyed"),
                c("hf-createcontainer", "runtime#lifecycle", "a failing createContainer hook makes create generate an error"),
                c("hf-createcontainer-destroyed", "runtime#lifecycle", "after a failing createContainer hook the container is destroyed"),
                c("hf-timeout", "config#posix-platform-hooks", "a hook running past its timeout is aborted and create generates an error"),
            ],
            run: failures_create,
        },
        Group {
            name: "hook-failures-start",
            cases: vec![
                c("hf-startcontainer", "runtime#lifecycle", "a failing startContainer hook makes start generate an error"),
                c("hf-startcontainer-destroyed", "runtime#lifecycle", "after a failing startContainer hook the program never runs and the container is destroyed"),
                c("hf-poststart", "runtime#lifecycle", "a failing poststart hook makes start generate an error"),
                c("hf-poststart-destroyed", "runtime#lifecycle", "after a failing poststart hook the container is stopped and destroyed"),
                c("hf-poststop", "runtime#lifecycle", "a failing poststop hook is only a warning: delete succeeds"),
                c("hf-poststop-rest", "runtime#lifecycle", "after a failing poststop hook the remaining poststop hooks still run"),
            ],
            run: failures_start,
        },
    ]
}

struct HookEnv {
    script: PathBuf,
    log: PathBuf,
}

fn setup(g: &mut G, b: &Bundle) -> Result<HookEnv, String> {
    let hd = b.dir.join("hooks");
    let log = b.dir.join("hooklog");
    fs::create_dir_all(&hd).map_err(|e| e.to_string())?;
    fs::create_dir_all(&log).map_err(|e| e.to_string())?;
    let script = hd.join("hook.sh");
    fs::write(&script, HOOK_SH).map_err(|e| e.to_string())?;
    let _ = fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755));
    let rd = b.dir.join("rootfs/oci-hooks");
    fs::create_dir_all(&rd).map_err(|e| e.to_string())?;
    fs::write(rd.join("start-hook.sh"), HOOK_SH).map_err(|e| e.to_string())?;
    let _ = fs::set_permissions(
        rd.join("start-hook.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    );
    let _ = g;
    Ok(HookEnv { script, log })
}

fn sh_hook(h: &HookEnv, name: &str, extra: &[&str], env: &[&str]) -> Value {
    let mut args = vec![
        "sh".to_string(),
        h.script.to_string_lossy().into_owned(),
        name.to_string(),
        h.log.to_string_lossy().into_owned(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut v = json!({"path": "/bin/sh", "args": args});
    if !env.is_empty() {
        v["env"] = json!(env);
    }
    v
}

fn read(p: &PathBuf) -> String {
    fs::read_to_string(p).unwrap_or_default()
}

fn order(h: &HookEnv) -> Vec<String> {
    read(&h.log.join("order.log"))
        .lines()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn hooks(g: &mut G) {
    let mut b = g.bundle("hooks");
    let h = match setup(g, &b) {
        Ok(h) => h,
        Err(e) => {
            g.fail_rest(&e);
            return;
        }
    };
    let logs = h.log.to_string_lossy().into_owned();
    b.add_mount(bindm("/oci-hooklog", &logs, &["bind", "rw"]));
    let memcg = g
        .cgroup_dir("memory", &b)
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let env = [
        "OCI_HOOK_VAR=hook value",
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
    ];
    let cc = |n: &str| json!({"path": h.script.to_string_lossy(), "args": ["hook.sh", n, logs.clone()], "env": env});
    let sc = |n: &str| json!({"path": "/oci-hooks/start-hook.sh", "args": ["start-hook.sh", n, "/oci-hooklog"], "env": ["PATH=/bin"]});
    b.config["hooks"] = json!({
        "prestart": [sh_hook(&h, "prestart1", &[], &env), sh_hook(&h, "prestart2", &[], &env)],
        "createRuntime": [sh_hook(&h, "createRuntime1", &[], &env), sh_hook(&h, "createRuntime2", &[], &env)],
        "createContainer": [cc("createContainer1"), cc("createContainer2")],
        "startContainer": [sc("startContainer1"), sc("startContainer2")],
        "poststart": [sh_hook(&h, "poststart1", &[], &env), sh_hook(&h, "poststart2", &[], &env)],
        "poststop": [sh_hook(&h, "poststop1", &[&memcg], &env), sh_hook(&h, "poststop2", &[], &env)]
    });
    b.sh("echo user >> /oci-hooklog/order.log; for t in mnt pid net uts ipc; do printf '%s ' $(stat -L -c %i /proc/self/ns/$t); done > /oci-hooklog/user.ns; echo OCI-USER-RAN; exec sleep 600");
    let o = g.create(&mut b);
    if !o.ok() {
        g.fail_rest(&format!("create failed: {}", o.brief()));
        let _ = g.delete_force(&b.id);
        return;
    }
    let after_create = order(&h);
    let pid = b.pid.unwrap_or(0);
    let has = |v: &Vec<String>, n: &str| v.iter().any(|x| x == n);
    let pos = |v: &Vec<String>, n: &str| v.iter().position(|x| x == n);
    for (key, a, bb) in [
        ("h-prestart", "prestart1", "prestart2"),
        ("h-createruntime", "createRuntime1", "createRuntime2"),
        ("h-createcontainer", "createContainer1", "createContainer2"),
    ] {
        g.check(
            key,
            ensure(has(&after_create, a) && has(&after_create, bb), || {
                format!("hooks run by create: {:?}", after_create)
            }),
        );
    }
    g.check(
        "h-no-user-at-create",
        ensure(
            has(&after_create, "createRuntime1")
                && !has(&after_create, "user")
                && !b.output().contains("OCI-USER-RAN"),
            || format!("after create: {:?}", after_create),
        ),
    );
    let sc_at_create =
        has(&after_create, "startContainer1") || has(&after_create, "startContainer2");
    let o = g.start(&b.id);
    let after_start = order(&h);
    if !o.ok() {
        g.fail_rest(&format!("start failed: {}", o.brief()));
        g.destroy(&b);
        return;
    }
    g.check(
        "h-startcontainer",
        ensure(
            !sc_at_create
                && has(&after_start, "startContainer1")
                && has(&after_start, "startContainer2"),
            || {
                format!(
                    "after create {:?}; after start {:?}",
                    after_create, after_start
                )
            },
        ),
    );
    g.check(
        "h-poststart",
        ensure(
            !has(&after_create, "poststart1")
                && has(&after_start, "poststart1")
                && has(&after_start, "poststart2"),
            || {
                format!(
                    "after create: {:?}; when start returned: {:?}",
                    after_create, after_start
                )
            },
        ),
    );
    let _ = wait_output(&b, "OCI-USER-RAN", Duration::from_secs(5));
    let _ = wait_file(&h.log.join("user.ns"), Duration::from_secs(2));
    let before_delete = order(&h);
    let _ = g.kill(&b.id, "KILL");
    let _ = g.wait_exit(&b, Duration::from_secs(10));
    let _ = g.wait_status(&b.id, "stopped", Duration::from_secs(5));
    let ps_before = has(&order(&h), "poststop1");
    let d = g.delete(&b.id);
    let after_delete = order(&h);
    if !d.ok() {
        let _ = g.delete_force(&b.id);
    }
    g.check(
        "h-poststop",
        ensure(
            d.ok()
                && !ps_before
                && has(&after_delete, "poststop1")
                && has(&after_delete, "poststop2"),
            || {
                format!(
                    "delete: {}; hooks when delete returned: {:?}",
                    d.brief(),
                    after_delete
                )
            },
        ),
    );
    let all = after_delete.clone();
    let listed = [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ]
    .iter()
    .all(
        |k| match (pos(&all, &format!("{}1", k)), pos(&all, &format!("{}2", k))) {
            (Some(a), Some(bb)) => a < bb,
            _ => false,
        },
    );
    g.check(
        "h-listed-order",
        ensure(listed, || format!("order: {:?}", all)),
    );
    g.check(
        "h-prestart-first",
        ensure(matches!((pos(&all, "prestart2"), pos(&all, "createRuntime1")), (Some(a), Some(bb)) if a < bb), || format!("order: {:?}", all)),
    );
    g.check(
        "h-cc-after-cr",
        ensure(matches!((pos(&all, "createRuntime2"), pos(&all, "createContainer1")), (Some(a), Some(bb)) if a < bb), || format!("order: {:?}", all)),
    );
    g.check(
        "h-sc-before-user",
        ensure(matches!((pos(&before_delete, "startContainer2"), pos(&before_delete, "user")), (Some(a), Some(bb)) if a < bb), || format!("order: {:?}", before_delete)),
    );
    let exe = read(&h.log.join("poststart1.exe"));
    g.check(
        "h-poststart-after-exec",
        ensure(exe.trim().ends_with("busybox"), || {
            format!(
                "container process exe while poststart ran: {:?}",
                exe.trim()
            )
        }),
    );

    // state on stdin
    let want_bundle = canon(&b.dir);
    let mut states: HashMap<&str, Value> = HashMap::new();
    for (key, n) in [
        ("h-state-prestart", "prestart1"),
        ("h-state-createruntime", "createRuntime1"),
        ("h-state-createcontainer", "createContainer1"),
        ("h-state-startcontainer", "startContainer1"),
        ("h-state-poststart", "poststart1"),
        ("h-state-poststop", "poststop1"),
    ] {
        let text = read(&h.log.join(format!("{}.state", n)));
        match serde_json::from_str::<Value>(text.trim()) {
            Ok(v) => {
                let r = state_schema(&v).and(ensure(
                    v["id"] == b.id.as_str()
                        && v["bundle"]
                            .as_str()
                            .map(|s| canon(std::path::Path::new(s)) == want_bundle)
                            .unwrap_or(false),
                    || format!("state: {}", clip(&text, 200)),
                ));
                g.check(key, r);
                states.insert(n, v);
            }
            Err(e) => g.fail(
                key,
                format!(
                    "stdin of {} is not a JSON state ({}): {:?}",
                    n,
                    e,
                    clip(&text, 120)
                ),
            ),
        }
    }
    let status = |n: &str| {
        states
            .get(n)
            .map(|v| v["status"].clone())
            .unwrap_or(Value::Null)
    };
    // The choice this suite states (issue 13): runtime.md's lifecycle runs prestart, createRuntime
    // and createContainer as steps 3-5, after step 2 ("created: the runtime has finished the
    // create operation (after step 2)"), so a literal reading gives `created` (crun). runc and
    // youki send `creating`, since the hooks run inside the create command, and hull keeps
    // runc's answer (CONTRACT.md §6: hooks written against runc). Both are accepted here.
    let create_ok = ["prestart1", "createRuntime1", "createContainer1"]
        .iter()
        .all(|n| status(n) == "creating" || status(n) == "created");
    g.check(
        "h-status-create",
        ensure(create_ok, || {
            format!(
                "prestart {} createRuntime {} createContainer {}",
                status("prestart1"),
                status("createRuntime1"),
                status("createContainer1")
            )
        }),
    );
    g.check(
        "h-status-startcontainer",
        ensure(status("startContainer1") == "created", || {
            format!("status {}", status("startContainer1"))
        }),
    );
    g.check(
        "h-status-poststart",
        ensure(status("poststart1") == "running", || {
            format!("status {}", status("poststart1"))
        }),
    );
    g.check(
        "h-status-poststop",
        ensure(status("poststop1") == "stopped", || {
            format!("status {}", status("poststop1"))
        }),
    );
    let spid = |n: &str| states.get(n).and_then(|v| v["pid"].as_i64()).unwrap_or(-1);
    g.check(
        "h-pid-runtime",
        ensure(
            ["prestart1", "createRuntime1", "poststart1"]
                .iter()
                .all(|n| spid(n) == pid as i64),
            || {
                format!(
                    "pids: prestart {} createRuntime {} poststart {} (container pid {})",
                    spid("prestart1"),
                    spid("createRuntime1"),
                    spid("poststart1"),
                    pid
                )
            },
        ),
    );
    g.check(
        "h-pid-container",
        ensure(spid("createContainer1") == 1 && spid("startContainer1") == 1, || {
            format!("pids: createContainer {} startContainer {} (pid 1 in the container's pid namespace)", spid("createContainer1"), spid("startContainer1"))
        }),
    );
    // namespaces: "mnt pid net uts ipc"
    let ns = |n: &str| -> Vec<String> {
        read(&h.log.join(format!("{}.ns", n)))
            .split_whitespace()
            .map(|s| s.to_string())
            .collect()
    };
    let host = &g.s.host.ns;
    let host_v: Vec<String> = ["mnt", "pid", "net", "uts", "ipc"]
        .iter()
        .map(|k| host.get(*k).map(|i| i.to_string()).unwrap_or_default())
        .collect();
    let user_ns = ns("user");
    for (key, n) in [
        ("h-ns-prestart", "prestart1"),
        ("h-ns-createruntime", "createRuntime1"),
        ("h-ns-poststart", "poststart1"),
        ("h-ns-poststop", "poststop1"),
    ] {
        let v = ns(n);
        // the mount namespace is compared only while the container exists: after
        // it is gone its namespace inode number may be reused (poststop)
        let mnt_ok = n == "poststop1" || (user_ns.len() == 5 && v.first() != user_ns.first());
        let r = ensure(v.len() == 5 && v[1..] == host_v[1..] && mnt_ok, || {
            format!(
                "hook ns (mnt pid net uts ipc) {:?}; runtime {:?}; container {:?}",
                v, host_v, user_ns
            )
        });
        g.check(key, r);
    }
    for (key, n) in [
        ("h-ns-createcontainer", "createContainer1"),
        ("h-ns-startcontainer", "startContainer1"),
    ] {
        let v = ns(n);
        g.check(
            key,
            ensure(v.len() == 5 && v == user_ns, || {
                format!(
                    "hook ns (mnt pid net uts ipc) {:?}; container {:?}",
                    v, user_ns
                )
            }),
        );
    }
    g.check(
        "h-cc-path",
        ensure(has(&all, "createContainer1"), || {
            "the createContainer hook (a host-only path) did not run".into()
        }),
    );
    g.check(
        "h-sc-path",
        ensure(has(&all, "startContainer1"), || {
            "the startContainer hook (a path only inside the rootfs) did not run".into()
        }),
    );
    let args = read(&h.log.join("prestart1.args"));
    let want_args = format!("{} prestart1 {}", h.script.display(), h.log.display());
    g.check(
        "h-args",
        ensure(args.trim() == want_args, || {
            format!(
                "argv seen by the hook: {:?} (want {:?})",
                args.trim(),
                want_args
            )
        }),
    );
    let envs: Vec<String> = read(&h.log.join("prestart1.env"))
        .lines()
        .filter(|l| {
            !l.starts_with("PWD=")
                && !l.starts_with("SHLVL=")
                && !l.starts_with("_=")
                && !l.starts_with("OLDPWD=")
        })
        .map(|s| s.to_string())
        .collect();
    let mut want_env: Vec<String> = env.iter().map(|s| s.to_string()).collect();
    let mut got_env = envs.clone();
    want_env.sort();
    got_env.sort();
    g.check(
        "h-env",
        ensure(got_env == want_env, || {
            format!("hook environment {:?}", envs)
        }),
    );
    let p = read(&h.log.join("poststop1.path"));
    g.check(
        "h-poststop-destroyed",
        ensure(!memcg.is_empty() && p.trim() == "absent", || {
            format!(
                "memory cgroup {} was {:?} while poststop ran",
                memcg,
                p.trim()
            )
        }),
    );
}

fn failing(h: &HookEnv, name: &str) -> Value {
    sh_hook(h, name, &[], &["PATH=/usr/bin:/bin", "HOOK_EXIT=1"])
}

/// create with a failing create-time hook; returns (create errored, container gone, poststop ran, program ran)
fn create_failure(g: &mut G, kind: &str) -> Result<(bool, bool, bool), String> {
    let mut b = g.bundle(&format!("hf-{}", kind));
    let h = setup(g, &b)?;
    let fail_hook = if kind == "createContainer" {
        json!({"path": h.script.to_string_lossy(), "args": ["hook.sh", "failing", h.log.to_string_lossy()], "env": ["PATH=/usr/bin:/bin", "HOOK_EXIT=1"]})
    } else {
        failing(&h, "failing")
    };
    b.config["hooks"] = json!({ kind: [fail_hook], "poststop": [sh_hook(&h, "poststop1", &[], &["PATH=/usr/bin:/bin"])] });
    b.checker(&[]);
    let o = g.create(&mut b);
    let st = g.state_out(&b.id);
    let ran = Report::parse(&b.output()).is_some();
    let poststop = order(&h).iter().any(|x| x == "poststop1");
    if o.timed_out {
        return Err(o.brief());
    }
    let _ = g.delete_force(&b.id);
    let _ = ran;
    Ok((o.errored(), !st.ok(), poststop))
}

fn failures_create(g: &mut G) {
    if let Err(e) = g.control() {
        g.fail_rest(&e);
        return;
    }
    for (kind, k1, k2) in [
        ("prestart", "hf-prestart", "hf-prestart-destroyed"),
        (
            "createRuntime",
            "hf-createruntime",
            "hf-createruntime-destroyed",
        ),
        (
            "createContainer",
            "hf-createcontainer",
            "hf-createcontainer-destroyed",
        ),
    ] {
        match create_failure(g, kind) {
            Ok((errored, gone, poststop)) => {
                g.check(
                    k1,
                    ensure(errored, || {
                        format!("create succeeded although a {} hook exited 1", kind)
                    }),
                );
                g.check(
                    k2,
                    ensure(gone, || {
                        "the container still exists after the failed create".into()
                    }),
                );
                if kind == "prestart" {
                    g.check(
                        "hf-prestart-poststop",
                        ensure(poststop, || "poststop hooks were not called".into()),
                    );
                }
            }
            Err(e) => {
                g.fail(k1, e.clone());
                g.fail(k2, e.clone());
                if kind == "prestart" {
                    g.fail("hf-prestart-poststop", e);
                }
            }
        }
    }
    // timeout
    let mut b = g.bundle("hf-timeout");
    let h = match setup(g, &b) {
        Ok(h) => h,
        Err(e) => {
            g.fail("hf-timeout", e);
            return;
        }
    };
    let mut hook = sh_hook(&h, "slow", &[], &["PATH=/usr/bin:/bin", "HOOK_SLEEP=30"]);
    hook["timeout"] = json!(1);
    b.config["hooks"] = json!({"createRuntime": [hook]});
    let t0 = std::time::Instant::now();
    let o = g.create(&mut b);
    let el = t0.elapsed();
    let _ = g.delete_force(&b.id);
    g.check(
        "hf-timeout",
        ensure(o.errored() && el < Duration::from_secs(15), || {
            format!(
                "{} after {:.1}s (hook sleeps 30 s, timeout 1 s)",
                o.brief(),
                el.as_secs_f64()
            )
        }),
    );
}

fn failures_start(g: &mut G) {
    // startContainer failure
    let mut b = g.bundle("hf-sc");
    match setup(g, &b) {
        Ok(h) => {
            let logs = h.log.to_string_lossy().into_owned();
            b.add_mount(bindm("/oci-hooklog", &logs, &["bind", "rw"]));
            b.config["hooks"] = json!({"startContainer": [{"path": "/oci-hooks/start-hook.sh", "args": ["start-hook.sh", "failing", "/oci-hooklog"], "env": ["PATH=/bin", "HOOK_EXIT=1"]}]});
            b.checker(&[]);
            let o = g.create(&mut b);
            if !o.ok() {
                g.fail_keys(
                    &["hf-startcontainer", "hf-startcontainer-destroyed"],
                    &format!("create failed: {}", o.brief()),
                );
            } else {
                let s = g.start(&b.id);
                std::thread::sleep(Duration::from_millis(200));
                let ran = Report::parse(&b.output()).is_some();
                let st = g.state_out(&b.id);
                g.check(
                    "hf-startcontainer",
                    ensure(s.errored(), || format!("start: {}", s.brief())),
                );
                g.check(
                    "hf-startcontainer-destroyed",
                    ensure(!ran && !st.ok(), || {
                        format!(
                            "program ran: {}; state afterwards: {}",
                            ran,
                            clip(st.stdout.trim(), 160)
                        )
                    }),
                );
            }
            let _ = g.delete_force(&b.id);
        }
        Err(e) => g.fail_keys(&["hf-startcontainer", "hf-startcontainer-destroyed"], &e),
    }
    // poststart failure
    let mut b = g.bundle("hf-ps");
    match setup(g, &b) {
        Ok(h) => {
            b.config["hooks"] = json!({"poststart": [failing(&h, "failing")]});
            b.args(&["/bin/sleep", "600"]);
            let o = g.create(&mut b);
            if !o.ok() {
                g.fail_keys(
                    &["hf-poststart", "hf-poststart-destroyed"],
                    &format!("create failed: {}", o.brief()),
                );
            } else {
                let s = g.start(&b.id);
                let gone = b
                    .pid
                    .map(|p| {
                        proc::wait_gone(p, std::time::Instant::now() + Duration::from_secs(5))
                            .is_some()
                    })
                    .unwrap_or(false);
                let st = g.state_out(&b.id);
                g.check(
                    "hf-poststart",
                    ensure(s.errored(), || format!("start: {}", s.brief())),
                );
                g.check(
                    "hf-poststart-destroyed",
                    ensure(gone && !st.ok(), || {
                        format!(
                            "process gone: {}; state afterwards: {}",
                            gone,
                            clip(st.stdout.trim(), 160)
                        )
                    }),
                );
            }
            let _ = g.delete_force(&b.id);
        }
        Err(e) => g.fail_keys(&["hf-poststart", "hf-poststart-destroyed"], &e),
    }
    // poststop failure
    let mut b = g.bundle("hf-pstop");
    match setup(g, &b) {
        Ok(h) => {
            b.config["hooks"] = json!({"poststop": [failing(&h, "failing"), sh_hook(&h, "poststop2", &[], &["PATH=/usr/bin:/bin"])]});
            b.checker(&["--quiet"]);
            let o = g.create(&mut b);
            if !o.ok() {
                g.fail_keys(
                    &["hf-poststop", "hf-poststop-rest"],
                    &format!("create failed: {}", o.brief()),
                );
                let _ = g.delete_force(&b.id);
            } else {
                let _ = g.start(&b.id);
                let _ = g.wait_exit(&b, Duration::from_secs(10));
                let _ = g.wait_status(&b.id, "stopped", Duration::from_secs(5));
                let d = g.delete(&b.id);
                let ord = order(&h);
                g.check(
                    "hf-poststop",
                    ensure(d.ok() && ord.iter().any(|x| x == "failing"), || {
                        format!("delete: {}; hooks run: {:?}", d.brief(), ord)
                    }),
                );
                g.check(
                    "hf-poststop-rest",
                    ensure(ord.iter().any(|x| x == "poststop2"), || {
                        format!("hooks run: {:?}", ord)
                    }),
                );
                if !d.ok() {
                    let _ = g.delete_force(&b.id);
                }
            }
        }
        Err(e) => g.fail_keys(&["hf-poststop", "hf-poststop-rest"], &e),
    }
}
