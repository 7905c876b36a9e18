//! Hooks (config.md "POSIX-platform Hooks", CONTRACT.md §6): the six kinds run in order, each with
//! the state JSON on stdin, its own `args` (argv[0] = args[0]) and exactly its `env`, in the
//! namespaces the spec gives; `timeout` kills a hook; failures fail the verb (poststop: warning).
//!
//! Every hook below is `/bin/sh -c RECORD ...`, which records what it got in a directory the test
//! reads: its stdin, its argv and environ (read from /proc as the kernel has them), its mount
//! namespace, and its kind appended to an `order` file. Host-side hooks write to `<bundle>/out`;
//! the startContainer hook runs inside the container and writes to `/out`, the same directory
//! bind-mounted.
mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// What every recording hook runs. `me` is the hook shell's own pid as seen by the /proc it has
/// (the createContainer hook runs in the container's pid namespace before pivot_root, with the
/// host's /proc: `$$` would be the wrong pid there; the `read` builtin's redirection is opened by
/// the shell itself, so /proc/self is the shell).
const RECORD: &str = r#"set -e
d=$HOOK_OUT; k=$HOOK_KIND
read -r me rest < /proc/self/stat
cat > "$d/$k.state"
cat /proc/$me/cmdline > "$d/$k.cmdline"
cat /proc/$me/environ > "$d/$k.environ"
readlink /proc/$me/ns/mnt > "$d/$k.mnt"
echo "$k" >> "$d/order"
"#;

/// A recording hook. `argv0` becomes the hook's argv[0] (through `args[0]`); the hook is given
/// two more arguments (one with a space, one empty) and three variables.
fn rec_hook(kind: &str, argv0: &str, out: &str) -> Value {
    json!({
        "path": "/bin/sh",
        "args": [argv0, "-c", RECORD, "rec", "arg with space", ""],
        "env": [format!("HOOK_OUT={out}"), format!("HOOK_KIND={kind}"), "HOOK_X=a=b c"],
        "timeout": 30
    })
}

/// The env a `rec_hook` must see, exactly.
fn rec_env(kind: &str, out: &str) -> Vec<String> {
    let mut v = vec![format!("HOOK_OUT={out}"), format!("HOOK_KIND={kind}"), "HOOK_X=a=b c".to_string()];
    v.sort();
    v
}

/// A hook running a one-line shell script on the host.
fn sh_hook(script: &str) -> Value {
    json!({"path": "/bin/sh", "args": ["sh", "-c", script]})
}

fn nul_list(p: &Path) -> Vec<String> {
    let raw = fs::read(p).unwrap_or_else(|e| panic!("{}: {e} (did the hook run?)", p.display()));
    let mut v: Vec<String> = raw.split(|b| *b == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect();
    if v.last().is_some_and(|s| s.is_empty()) {
        v.pop();
    }
    v
}

fn state_of(out: &Path, kind: &str) -> Value {
    let p = out.join(format!("{kind}.state"));
    let text = fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e} (did the {kind} hook run?)", p.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| {
        let head: String = text.chars().take(300).collect();
        panic!("{kind} hook stdin is not the state JSON ({e}; {} bytes): {head:?}...", text.len())
    })
}

fn order(out: &Path) -> Vec<String> {
    fs::read_to_string(out.join("order")).unwrap_or_default().lines().map(String::from).collect()
}

/// The statuses hull sends (CONTRACT.md §6, src/hooks.rs): `creating` to the create-time hooks,
/// as runc 1.1.5 does.
fn expected_status(kind: &str) -> &'static str {
    match kind {
        "prestart.0" | "prestart.1" | "createRuntime" | "createContainer" => "creating",
        "startContainer" => "created",
        // runc 1.1.5 runs poststart during create, and says `created`.
        "poststart" if !is_hull() => "created",
        "poststart" => "running",
        "poststop" => "stopped",
        _ => unreachable!(),
    }
}

/// All six kinds, in order, each with the right state, args, env and namespace.
#[test]
fn all_hooks_run_in_order_with_state_args_env() {
    let Some(t) = setup("hooks_all") else { return };
    let id = t.id();
    let mut b = t.bundle();
    let out = b.out();
    let host_out = out.to_str().unwrap().to_string();
    b.set(
        "/hooks",
        json!({
            "prestart": [rec_hook("prestart.0", "hook-prestart-0", &host_out),
                         rec_hook("prestart.1", "hook-prestart-1", &host_out)],
            "createRuntime": [rec_hook("createRuntime", "hook-createRuntime", &host_out)],
            "createContainer": [rec_hook("createContainer", "hook-createContainer", &host_out)],
            // Resolved and run in the container: busybox's sh, which needs argv[0] `sh`.
            "startContainer": [rec_hook("startContainer", "sh", "/out")],
            "poststart": [rec_hook("poststart", "hook-poststart", &host_out)],
            "poststop": [rec_hook("poststop", "hook-poststop", &host_out)],
        }),
    );
    // The user process notes whether the startContainer hook had already run.
    b.sh("if [ -e /out/startContainer.state ]; then echo after > /out/process; else echo before > /out/process; fi; \
          exec sleep 100000");
    let pid = t.create(&b);

    let mut created_kinds = vec!["prestart.0", "prestart.1", "createRuntime", "createContainer"];
    if !is_hull() {
        // runc 1.1.5 runs poststart hooks during `create` (fixed in runc 1.2).
        created_kinds.push("poststart");
    }
    assert_eq!(order(&out), created_kinds, "hooks run by create");
    t.start(&id);
    let mut all = created_kinds.clone();
    all.push("startContainer");
    if is_hull() {
        all.push("poststart");
    }
    assert_eq!(order(&out), all, "hooks run by create + start");
    assert_eq!(wait_file(&out.join("process")).trim(), "after", "startContainer must run before the user process");

    t.rt(&["kill", &id, "KILL"]).assert_ok();
    t.wait_stopped(&id);
    assert_eq!(order(&out), all, "no hook may run when the container stops, before delete");
    t.rt(&["delete", &id]).assert_ok();
    all.push("poststop");
    assert_eq!(order(&out), all, "hooks run by create + start + delete");

    let host_mnt = ns_link("self", "mnt");
    for kind in &all {
        let st = state_of(&out, kind);
        assert_eq!(st["id"], id.as_str(), "{kind}: {st}");
        assert_eq!(st["bundle"], b.dir_str(), "{kind}: {st}");
        assert!(st["ociVersion"].as_str().is_some_and(|v| !v.is_empty()), "{kind}: {st}");
        assert_eq!(st["status"], expected_status(kind), "{kind}: status on stdin: {st}");
        if *kind != "poststop" {
            let p = st["pid"].as_i64().unwrap_or(0);
            assert!(p > 0, "{kind}: pid must be set: {st}");
            if matches!(*kind, "createContainer" | "startContainer") {
                // runtime.md#state: "For hooks executed in the container namespace, it is the pid
                // as seen by the container": the init is 1 in its own pid namespace.
                assert_eq!(p, 1, "{kind}: pid must be the init's pid in the container: {st}");
            } else {
                // "For hooks executed in the runtime namespace, it is the pid as seen by the runtime."
                assert_eq!(p, pid, "{kind}: pid must be the init's host pid: {st}");
            }
        }

        let in_container = *kind == "startContainer";
        let argv = nul_list(&out.join(format!("{kind}.cmdline")));
        let argv0 = if in_container { "sh".to_string() } else { format!("hook-{}", kind.replace('.', "-")) };
        assert_eq!(argv, [argv0.as_str(), "-c", RECORD, "rec", "arg with space", ""], "{kind}: argv");

        let mut env = nul_list(&out.join(format!("{kind}.environ")));
        env.sort();
        let dir = if in_container { "/out" } else { host_out.as_str() };
        assert_eq!(env, rec_env(kind, dir), "{kind}: the env must be exactly the hook's env");

        let mnt = read_trim(out.join(format!("{kind}.mnt")));
        if matches!(*kind, "createContainer" | "startContainer") {
            assert_ne!(mnt, host_mnt, "{kind} must run in the container's mount namespace");
        } else {
            assert_eq!(mnt, host_mnt, "{kind} must run in the runtime's mount namespace");
        }
    }
    t.assert_gone(&id);
    t.finish();
}

/// createRuntime runs in the host's namespaces; createContainer in the container's: the very
/// ones the init has (compared with /proc/<init>/ns/* after create).
#[test]
fn create_hooks_namespaces() {
    let Some(t) = setup("hooks_ns") else { return };
    let mut b = t.bundle();
    let out = b.out();
    let o = out.to_str().unwrap();
    let rec = |name: &str| {
        sh_hook(&format!(
            "read -r me rest < /proc/self/stat; for n in mnt net uts ipc pid; do readlink /proc/$me/ns/$n; done > {o}/{name}"
        ))
    };
    b.set("/hooks", json!({"createRuntime": [rec("runtime")], "createContainer": [rec("container")]}));
    b.args(&["sleep", "100000"]);
    let pid = t.create(&b).to_string();
    let runtime: Vec<String> = read_trim(out.join("runtime")).lines().map(String::from).collect();
    let container: Vec<String> = read_trim(out.join("container")).lines().map(String::from).collect();
    let host: Vec<String> = ["mnt", "net", "uts", "ipc", "pid"].iter().map(|n| ns_link("self", n)).collect();
    assert_eq!(runtime, host, "createRuntime hooks run in the runtime's namespaces (mnt net uts ipc pid)");
    let init: Vec<String> = ["mnt", "net", "uts", "ipc", "pid"].iter().map(|n| ns_link(&pid, n)).collect();
    assert_eq!(container, init, "createContainer hooks run in the container's namespaces (mnt net uts ipc pid)");
    for (i, n) in ["mnt", "net", "uts", "ipc", "pid"].iter().enumerate() {
        assert_ne!(init[i], host[i], "the container's {n} namespace is the host's: the test proves nothing");
    }
    t.finish();
}

/// A hook that outlives its `timeout` is killed and the verb fails, saying so, well before the
/// hook would have finished. Nothing is left behind.
#[test]
fn hook_timeout_kills_and_fails_create() {
    let Some(t) = setup("hooks_timeout") else { return };
    let mut b = t.bundle();
    let hook_pid = t.scratch.join("hook.pid");
    let script = format!("echo $$ > {}; exec sleep 60", hook_pid.display());
    b.set("/hooks/createRuntime", json!([{"path": "/bin/sh", "args": ["sh", "-c", script], "timeout": 2}]));
    b.args(&["true"]);
    let t0 = Instant::now();
    let out = t.try_create(&b, &[]);
    let took = t0.elapsed();
    assert_eq!(out.code, Some(1), "create must fail when a hook times out\n{}", out.show());
    let e = out.stderr.to_lowercase();
    assert!(e.contains("timeout") || e.contains("timed out"), "the error must mention the timeout\n{}", out.show());
    assert!(took >= Duration::from_secs(2), "create returned before the timeout: {took:?}");
    assert!(took < Duration::from_secs(40), "the hook was not killed at its timeout: create took {took:?}");
    let hp = read_trim(&hook_pid);
    // Killed and reaped by the runtime (a zombie would keep its /proc entry).
    wait_for(&format!("timed-out hook {hp} to be gone"), || (!Path::new(&format!("/proc/{hp}")).exists()).then_some(()));
    assert!(t.state(&b.id).is_none(), "a failed create left a container");
    t.assert_gone(&b.id);
    t.finish();
}

/// A failing createRuntime hook: create exits 1, the error carries the hook's stderr, nothing is
/// left behind (no state dir, no cgroup, no init).
#[test]
fn failing_create_runtime_hook_fails_create() {
    let Some(t) = setup("hooks_fail_cr") else { return };
    let mut b = t.bundle();
    let out = b.out();
    b.set("/hooks/createRuntime", json!([sh_hook("echo hull-hook-said-no-4711 >&2; exit 3")]));
    // A later hook must not run after a failure.
    b.set("/hooks/createContainer", json!([sh_hook(&format!("echo ran > {}/cc", out.display()))]));
    b.args(&["true"]);
    let r = t.try_create(&b, &[]);
    r.assert_err("hull-hook-said-no-4711");
    assert!(!out.join("cc").exists(), "createContainer ran after createRuntime failed");
    assert!(t.state(&b.id).is_none(), "a failed create left a container");
    t.assert_gone(&b.id);
    t.finish();
}

/// Same for a failing createContainer hook (it runs inside the init).
#[test]
fn failing_create_container_hook_fails_create() {
    let Some(t) = setup("hooks_fail_cc") else { return };
    let mut b = t.bundle();
    b.set("/hooks/createContainer", json!([sh_hook("echo hull-cc-hook-refused-99 >&2; exit 1")]));
    b.args(&["true"]);
    let r = t.try_create(&b, &[]);
    r.assert_err("hull-cc-hook-refused-99");
    assert!(t.state(&b.id).is_none(), "a failed create left a container");
    t.assert_gone(&b.id);
    t.finish();
}

/// A failing startContainer hook fails `start`, and the user process never runs.
#[test]
fn failing_start_container_hook_fails_start() {
    let Some(t) = setup("hooks_fail_sc") else { return };
    let id = t.id();
    let mut b = t.bundle();
    let out = b.out();
    b.set("/hooks/startContainer", json!([sh_hook("echo hull-sc-hook-refused-17 >&2; exit 2")]));
    b.sh("echo ran > /out/process; exec sleep 100000");
    t.create(&b);
    let r = t.rt(&["start", &id]);
    if is_hull() {
        r.assert_err("hull-sc-hook-refused-17");
    } else {
        // runc 1.1.5 runs startContainer hooks after `start` has released the init: start
        // exits 0 and the init dies on its own.
        eprintln!("note: runc start with a failing startContainer hook:\n{}", r.show());
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(!out.join("process").exists(), "the user process ran although startContainer failed");
    if is_hull() {
        // runtime.md#lifecycle step 7: stop the container and continue at step 12 (destroy).
        t.assert_gone(&id);
    } else {
        let st = t.wait_stopped(&id);
        assert_eq!(st["status"], "stopped");
        t.rt(&["delete", &id]).assert_ok();
    }
    t.rt(&["delete", "--force", &id]).assert_ok();
    t.assert_gone(&id);
    t.finish();
}

/// A failing poststart hook fails `start` with the hook's output; the container is destroyed.
#[test]
fn failing_poststart_hook_fails_start() {
    let Some(t) = setup("hooks_fail_ps") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.set("/hooks/poststart", json!([sh_hook("echo hull-poststart-refused-23 >&2; exit 4")]));
    b.args(&["sleep", "100000"]);
    if !is_hull() {
        // runc 1.1.5 runs poststart hooks during `create`, so it is create that fails.
        t.try_create(&b, &[]).assert_err("hull-poststart-refused-23");
        t.assert_gone(&id);
        return t.finish();
    }
    t.create(&b);
    let r = t.rt(&["start", &id]);
    r.assert_err("hull-poststart-refused-23");
    // runtime.md#lifecycle step 9: the verb fails, the container is stopped and destroyed
    // (step 12); a client's following `delete --force` still succeeds.
    t.assert_gone(&id);
    t.rt(&["delete", "--force", &id]).assert_ok();
    t.finish();
}

/// A failing poststop hook is only a warning: delete exits 0 and the container is gone.
#[test]
fn failing_poststop_hook_is_a_warning() {
    let Some(t) = setup("hooks_fail_pstop") else { return };
    let id = t.id();
    let mut b = t.bundle();
    let out = b.out();
    b.set("/hooks/poststop", json!([sh_hook(&format!(
        "echo ran > {}/poststop; echo hull-poststop-failed-31 >&2; exit 5", out.display()
    ))]));
    b.args(&["true"]);
    t.create_start(&b);
    t.wait_stopped(&id);
    let r = t.rt(&["delete", &id]);
    assert!(r.ok(), "a failing poststop hook must not fail delete\n{}", r.show());
    assert_eq!(read_trim(out.join("poststop")), "ran", "the poststop hook did not run");
    if is_hull() {
        assert!(r.stderr.contains("hull-poststop-failed-31"), "the warning should carry the hook's output\n{}", r.show());
    }
    assert!(t.state(&id).is_none(), "delete must remove the container even when poststop fails");
    t.assert_gone(&id);
    t.finish();
}

/// A hook whose path does not exist fails create clearly (naming the path); nothing left.
#[test]
fn missing_hook_binary_fails_create() {
    let Some(t) = setup("hooks_missing") else { return };
    let mut b = t.bundle();
    b.set("/hooks/createRuntime", json!([{"path": "/nonexistent/hull-hook-bin", "args": ["x"]}]));
    b.args(&["true"]);
    let r = t.try_create(&b, &[]);
    r.assert_err("/nonexistent/hull-hook-bin");
    assert!(t.state(&b.id).is_none());
    t.assert_gone(&b.id);
    t.finish();
}

/// The timeout also holds while the runtime writes the state to a hook that does not read its
/// stdin: with a state larger than a pipe buffer (big annotations, as Kubernetes can set), the
/// write blocks until the hook reads or exits, and must not postpone the timeout.
#[test]
fn hook_timeout_with_large_state_unread() {
    let Some(t) = setup("hooks_timeout_big") else { return };
    let mut b = t.bundle();
    b.set("/annotations", json!({"org.hull.test.big": "x".repeat(256 * 1024)}));
    let hook_pid = t.scratch.join("hook.pid");
    let script = format!("echo $$ > {}; exec sleep 20", hook_pid.display());
    b.set("/hooks/createRuntime", json!([{"path": "/bin/sh", "args": ["sh", "-c", script], "timeout": 2}]));
    b.args(&["true"]);
    let t0 = Instant::now();
    let out = t.try_create(&b, &[]);
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(15), "the 2 s timeout was not enforced: create took {took:?}\n{}", out.show());
    assert_eq!(out.code, Some(1), "create must fail when a hook times out\n{}", out.show());
    let e = out.stderr.to_lowercase();
    assert!(e.contains("timeout") || e.contains("timed out"), "the error must mention the timeout\n{}", out.show());
    assert!(t.state(&b.id).is_none());
    t.assert_gone(&b.id);
    t.finish();
}

/// Every hook gets the whole state, however big (Kubernetes allows 256 KiB of annotations): the
/// hooks that run inside the init must not get a truncated state, and create must not fail.
#[test]
fn large_state_reaches_every_hook() {
    let Some(t) = setup("hooks_big_state") else { return };
    for size in [100_000usize, 250_000] {
        let id = t.id_with(&size.to_string());
        let mut b = t.bundle_for(&id);
        let out = b.out();
        let host_out = out.to_str().unwrap().to_string();
        b.set("/annotations", json!({"org.hull.test.big": "y".repeat(size)}));
        b.set("/hooks", json!({
            "createRuntime": [rec_hook("createRuntime", "hook-cr", &host_out)],
            "createContainer": [rec_hook("createContainer", "hook-cc", &host_out)],
            "startContainer": [rec_hook("startContainer", "sh", "/out")],
            "poststart": [rec_hook("poststart", "hook-ps", &host_out)],
            "poststop": [rec_hook("poststop", "hook-pstop", &host_out)],
        }));
        b.args(&["true"]);
        let r = t.try_create(&b, &[]);
        assert!(r.ok(), "create with {size} bytes of annotations and hooks\n{}", r.show());
        t.start(&id);
        t.wait_stopped(&id);
        t.rt(&["delete", &id]).assert_ok();
        for kind in ["createRuntime", "createContainer", "startContainer", "poststart", "poststop"] {
            let st = state_of(&out, kind);
            assert_eq!(st["id"], id.as_str(), "{kind}");
            let got = st["annotations"]["org.hull.test.big"].as_str().map(str::len);
            assert_eq!(got, Some(size), "{kind}: the annotation in the state on stdin");
        }
        t.assert_gone(&id);
    }
    t.finish();
}

/// `run` runs the whole sequence: create-time hooks, startContainer, poststart, and poststop
/// once the process has exited and `run` deletes the container.
#[test]
fn run_runs_every_hook_including_poststop() {
    let Some(t) = setup("hooks_run") else { return };
    let id = t.id();
    let mut b = t.bundle();
    let out = b.out();
    let o = out.to_str().unwrap().to_string();
    b.set("/hooks", json!({
        "createRuntime": [rec_hook("createRuntime", "hook-cr", &o)],
        "createContainer": [rec_hook("createContainer", "hook-cc", &o)],
        "startContainer": [rec_hook("startContainer", "sh", "/out")],
        "poststart": [rec_hook("poststart", "hook-ps", &o)],
        "poststop": [rec_hook("poststop", "hook-pstop", &o)],
    }));
    b.sh("exit 0");
    t.run(&b, &[]).assert_ok();
    let got = order(&out);
    let mut want = vec!["createRuntime", "createContainer"];
    if is_hull() {
        want.extend(["startContainer", "poststart"]);
    } else {
        want.extend(["poststart", "startContainer"]);
    }
    want.push("poststop");
    assert_eq!(got, want, "hooks run by `run`");
    assert_eq!(state_of(&out, "poststop")["status"], "stopped");
    t.assert_gone(&id);
    t.finish();
}

/// `delete --force` of a running container runs the poststop hooks too.
#[test]
fn delete_force_runs_poststop() {
    let Some(t) = setup("hooks_delete_force") else { return };
    let id = t.id();
    let mut b = t.bundle();
    let out = b.out();
    b.set("/hooks/poststop", json!([rec_hook("poststop", "hook-pstop", out.to_str().unwrap())]));
    b.args(&["sleep", "100000"]);
    t.create_start(&b);
    assert!(order(&out).is_empty());
    t.rt(&["delete", "--force", &id]).assert_ok();
    assert_eq!(order(&out), ["poststop"]);
    let st = state_of(&out, "poststop");
    assert_eq!(st["id"], id.as_str());
    assert_eq!(st["status"], "stopped");
    t.assert_gone(&id);
    t.finish();
}

/// A hook without `env` gets the environment runc gives it (issue 17; Go's exec with a nil Env
/// inherits): the runtime-side phases the runtime's own, the phases in the container's init the
/// process's (startContainer with HOME filled in). A hook with `env` gets exactly that list.
#[test]
fn hooks_without_env_get_runcs_environment() {
    let Some(t) = setup("hooks_env_inherit") else { return };
    let mut b = t.bundle();
    let out = b.out();
    let host_out = out.to_str().unwrap().to_string();
    b.set("/process/env", json!(["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "FROM_CONFIG=1"]));
    // The environ the kernel gave the hook shell (its own pid read through the /proc it has).
    let hook = |file: String, env: Option<&str>| {
        let script = format!("read -r me rest < /proc/self/stat; cat /proc/$me/environ > {file}");
        let mut h = json!({"path": "/bin/sh", "args": ["sh", "-c", script]});
        if let Some(e) = env {
            h["env"] = json!([e]);
        }
        h
    };
    let kinds = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];
    let mut hooks = serde_json::Map::new();
    for kind in kinds {
        let dir = if kind == "startContainer" { "/out" } else { host_out.as_str() };
        let list = vec![hook(format!("{dir}/{kind}.environ"), None), hook(format!("{dir}/{kind}-own.environ"), Some("ONLY=this"))];
        hooks.insert(kind.to_string(), Value::Array(list));
    }
    b.set("/hooks", Value::Object(hooks));
    b.args(&["true"]);
    b.write();
    t.rt_with(&["run", "--bundle", b.dir_str(), &b.id], |c| {
        c.env("HULL_TEST_CALLER", "the shim");
    })
    .assert_ok();
    for kind in kinds {
        let env = nul_list(&out.join(format!("{kind}.environ")));
        let has = |v: &str| env.iter().any(|e| e == v);
        if matches!(kind, "createContainer" | "startContainer") {
            assert!(has("FROM_CONFIG=1") && has("PATH=/usr/sbin:/usr/bin:/sbin:/bin"), "{kind}: the process's environment: {env:?}");
            assert!(!has("HULL_TEST_CALLER=the shim"), "{kind}: not the runtime's: {env:?}");
            assert_eq!(env.iter().any(|e| e.starts_with("HOME=")), kind == "startContainer", "{kind}: HOME only once filled in: {env:?}");
        } else {
            assert!(has("HULL_TEST_CALLER=the shim"), "{kind}: the runtime's environment: {env:?}");
            assert!(!has("FROM_CONFIG=1"), "{kind}: not the process's: {env:?}");
        }
        // Less what busybox's shell (the container's /bin/sh) writes into its own environ.
        let shell_made = |e: &String| {
            kind == "startContainer" && (["SHLVL=", "PWD=", "OLDPWD="].iter().any(|k| e.starts_with(k)) || e == "PATH=/sbin:/usr/sbin:/bin:/usr/bin")
        };
        let own: Vec<String> = nul_list(&out.join(format!("{kind}-own.environ"))).into_iter().filter(|e| !shell_made(e)).collect();
        assert_eq!(own, ["ONLY=this"], "{kind}: a hook with env gets exactly it");
    }
    t.finish();
}
