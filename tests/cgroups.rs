//! Cgroups, the same cases on both versions: on this hybrid host the limits land in the v1 files
//! under /sys/fs/cgroup/<ctrl>/hull-test/<id> (and init is also placed in the unified tree, as
//! runc does); in the pure cgroup v2 VM lane (`make test-cgroupv2`) they land in
//! /sys/fs/cgroup/hull-test/<id>. Each limit is read back from the host's files and from inside
//! the container, and enforced: OOM kill (reported by `events`), a fork bomb stopped at pids.max,
//! device rules, freeze, live update, `kill --all`, and delete removing every cgroup hull made.
mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;
use std::time::Duration;

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
    if !cgroup_v2() {
        for ctrl in V1_CONTROLLERS {
            let (_, path) = cg
                .iter()
                .find(|(c, _)| c.split(',').any(|x| x == *ctrl))
                .unwrap_or_else(|| panic!("no {ctrl} line in\n{text}"));
            assert_eq!(path, &want, "{ctrl} cgroup of init\n{text}");
        }
    }
    let (_, v2) = cg.iter().find(|(c, _)| c.is_empty()).unwrap_or_else(|| panic!("no v2 line in\n{text}"));
    assert_eq!(v2, &want, "init not placed in the cgroup v2 tree\n{text}");
}

/// The value of `key` in a flat-keyed cgroup file ("key value" lines: pids.events,
/// memory.events, cgroup.events, memory.oom_control).
fn flat(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// A file of the container's cgroup for controller `ctrl` (the controller is ignored on v2).
fn cg_file(ctrl: &str, id: &str, file: &str) -> String {
    read_trim(cgroup_dir(ctrl, id).join(file))
}

/// Where a logical setting lives: (controller, v1 file, v2 file).
struct Knob {
    ctrl: &'static str,
    v1: &'static str,
    v2: &'static str,
}
const MEM_LIMIT: Knob = Knob { ctrl: "memory", v1: "memory.limit_in_bytes", v2: "memory.max" };
const MEM_LOW: Knob = Knob { ctrl: "memory", v1: "memory.soft_limit_in_bytes", v2: "memory.low" };
const PIDS_MAX: Knob = Knob { ctrl: "pids", v1: "pids.max", v2: "pids.max" };
const CPUS: Knob = Knob { ctrl: "cpuset", v1: "cpuset.cpus", v2: "cpuset.cpus" };
const MEMS: Knob = Knob { ctrl: "cpuset", v1: "cpuset.mems", v2: "cpuset.mems" };

fn knob(k: &Knob, id: &str) -> String {
    cg_file(k.ctrl, id, if cgroup_v2() { k.v2 } else { k.v1 })
}

/// The CPU quota and period as one string, "quota period" (v2 cpu.max's shape).
fn cpu_max(id: &str) -> String {
    if cgroup_v2() {
        cg_file("cpu", id, "cpu.max")
    } else {
        format!("{} {}", cg_file("cpu", id, "cpu.cfs_quota_us"), cg_file("cpu", id, "cpu.cfs_period_us"))
    }
}

/// cpu.shares on v1; on v2 the same setting as cpu.weight, by the conversion crun and runc 1.3
/// use (libcgroups too): a quadratic in log2(shares) that maps 2, 1024 and 262144 onto 1, 100 and
/// 10000. (runc 1.1's linear mapping gave weight 39 for the default 1024 shares.)
fn cpu_shares_as_written(shares: u64) -> (&'static str, String) {
    if cgroup_v2() {
        let l = (shares as f64).log2();
        let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
        ("cpu.weight", (10f64.powf(exponent).ceil() as u64).to_string())
    } else {
        ("cpu.shares", shares.to_string())
    }
}

/// A container with its own cgroup namespace, so the cgroup filesystem the base config mounts at
/// /sys/fs/cgroup shows the container's own cgroup and its limits can be read from inside.
fn with_cgroup_view(b: &mut Bundle) {
    b.add_namespace(json!({"type": "cgroup"}));
    assert!(
        b.config["mounts"].as_array().unwrap().iter().any(|m| m["destination"] == "/sys/fs/cgroup"),
        "the base config mounts the cgroup filesystem"
    );
}

/// The path of a controller file as the container sees it through `with_cgroup_view`.
fn inside_path(k: &Knob) -> String {
    if cgroup_v2() {
        format!("/sys/fs/cgroup/{}", k.v2)
    } else {
        format!("/sys/fs/cgroup/{}/{}", k.ctrl, k.v1)
    }
}

#[test]
fn limits_land_in_cgroup_files_and_inside() {
    let Some(t) = setup("cg_limits") else { return };
    let id = t.id();
    let mut b = t.bundle();
    with_cgroup_view(&mut b);
    let out = b.out();
    let knobs = [&MEM_LIMIT, &MEM_LOW, &PIDS_MAX, &CPUS];
    let script: String =
        knobs.iter().map(|k| format!("cat {} >> /out/inside;", inside_path(k))).collect::<String>() + " exec sleep 100000";
    b.sh(&script);
    b.set("/linux/resources/memory", json!({"limit": 64 << 20, "reservation": 32 << 20, "swap": 96 << 20}));
    b.set("/linux/resources/cpu", json!({"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"}));
    b.set("/linux/resources/pids", json!({"limit": 64}));
    let pid = t.create(&b);

    let want = [(64u64 << 20).to_string(), (32u64 << 20).to_string(), "64".into(), "0".into()];
    for (k, w) in knobs.iter().zip(&want) {
        assert_eq!(&knob(k, &id), w, "{} / {}", k.v1, k.v2);
    }
    assert_eq!(knob(&MEMS, &id), "0");
    assert_eq!(cpu_max(&id), "50000 100000");
    let (file, shares) = cpu_shares_as_written(512);
    assert_eq!(cg_file("cpu", &id, file), shares, "{file}");
    // Swap: v1 limits memory+swap together, v2 limits swap alone (swap - limit).
    let memsw = if cgroup_v2() { "memory.swap.max" } else { "memory.memsw.limit_in_bytes" };
    if cgroup_dir("memory", &id).join(memsw).exists() {
        let want = if cgroup_v2() { 32u64 << 20 } else { 96u64 << 20 };
        assert_eq!(cg_file("memory", &id, memsw), want.to_string(), "{memsw}");
    } else {
        eprintln!("note: no {memsw} on this host (no swap accounting); swap not checked");
    }

    // init is already in the cgroup at `created`, before the user process runs.
    assert_in_test_cgroup(&read_trim(format!("/proc/{pid}/cgroup")), &id);
    for ctrl in ["memory", "pids", "cpu"] {
        let procs = cg_file(ctrl, &id, "cgroup.procs");
        assert!(procs.lines().any(|p| p == pid.to_string()), "{pid} not in {ctrl} cgroup.procs: {procs:?}");
    }
    t.start(&id);
    let inside = wait_for("the container's view of its limits", || {
        let s = fs::read_to_string(out.join("inside")).unwrap_or_default();
        (s.lines().count() == knobs.len()).then_some(s)
    });
    assert_eq!(inside.lines().collect::<Vec<_>>(), want, "limits seen inside the container");
    let status = read_trim(format!("/proc/{pid}/status"));
    assert_eq!(status_field(&status, "Cpus_allowed_list"), Some("0"), "cpuset not effective");
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

/// A real fork bomb stops at pids.max (the kernel counts refused forks in pids.events), and
/// `kill --all` then ends every process of the container.
#[test]
fn fork_bomb_stops_at_pids_max_and_kill_all_ends_it() {
    let Some(t) = setup("cg_fork_bomb") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.set("/linux/resources/pids", json!({"limit": 12}));
    b.sh("bomb() { bomb & bomb; }; bomb");
    t.create_start(&b);
    let refused = wait_for("pids.events to count refused forks", || {
        let ev = fs::read_to_string(cgroup_dir("pids", &id).join("pids.events")).unwrap_or_default();
        flat(&ev, "max").filter(|n| *n > 0)
    });
    let current: u64 = cg_file("pids", &id, "pids.current").parse().unwrap();
    assert!(current <= 12, "pids.current {current} above pids.max 12 ({refused} forks refused)");
    t.rt(&["kill", "--all", &id, "KILL"]).assert_ok();
    t.wait_stopped(&id);
    wait_for("every process of the bomb to be gone", || {
        cg_file("pids", &id, "cgroup.procs").is_empty().then_some(())
    });
    t.rt(&["delete", &id]).assert_ok();
    t.assert_gone(&id);
    t.finish();
}

/// `kill --all` signals every process in the container's cgroup, not only the init: an exec'd
/// `sleep` dies of TERM while the init (a pid-namespace init without a handler) ignores it.
#[test]
fn kill_all_signals_every_process() {
    let Some(t) = setup("cg_kill_all") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    let init = t.create_start(&b);
    t.rt(&["exec", "-d", &id, "sleep", "100001"]).assert_ok();
    let others = || -> Vec<String> {
        cg_file("pids", &id, "cgroup.procs").lines().filter(|p| *p != init.to_string()).map(String::from).collect()
    };
    assert_eq!(others().len(), 1, "the exec'd sleep is in the cgroup");
    t.rt(&["kill", "--all", &id, "TERM"]).assert_ok();
    wait_for("the exec'd sleep to end", || others().is_empty().then_some(()));
    assert_eq!(t.status(&id).as_deref(), Some("running"), "the init ignores TERM");
    t.finish();
}

/// Memory over the limit gets the process OOM-killed; the `events` stream reports it, `--stats`
/// shows the limit, and delete removes the cgroup afterwards.
#[test]
fn oom_kill_is_reported_by_events() {
    let Some(t) = setup("cg_oom") else { return };
    let id = t.id();
    let mut b = t.bundle();
    // Memory and swap equal: no swap to escape to.
    b.set("/linux/resources/memory", json!({"limit": 24 << 20, "swap": 24 << 20}));
    let out = b.out();
    // awk doubles a string until the kernel kills it; the shell survives and reports.
    b.sh("sleep 1; awk 'BEGIN { s = \"x\"; while (1) s = s s }'; echo awk-status=$? > /out/r; exec sleep 100000");
    t.create(&b);
    let stats: Value = serde_json::from_str(&t.rt(&["events", "--stats", &id]).assert_ok().stdout).unwrap();
    assert_eq!(stats["type"], "stats", "{stats}");
    assert_eq!(stats["data"]["memory"]["usage"]["limit"], json!(24u64 << 20), "{stats}");
    let events = t.rt_spawn(&["events", "--interval", "1h", &id]);
    t.start(&id);
    let r = wait_file(&out.join("r"));
    assert_eq!(r.trim(), "awk-status=137", "awk was not killed by SIGKILL");
    wait_for("an oom event", || events.stdout_now().contains("\"oom\"").then_some(()));
    let line = events.stdout_now().lines().find(|l| l.contains("\"oom\"")).unwrap().to_string();
    let ev: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
    assert_eq!(ev, json!({"type": "oom", "id": id}));
    let oom_file = if cgroup_v2() { "memory.events" } else { "memory.oom_control" };
    let n = flat(&cg_file("memory", &id, oom_file), "oom_kill").unwrap_or(0);
    assert!(n >= 1, "{oom_file}: oom_kill {n}");
    t.rt(&["kill", &id, "KILL"]).assert_ok();
    let done = events.wait();
    assert!(done.ok(), "events ends with the container\n{}", done.show());
    t.rt(&["delete", &id]).assert_ok();
    t.assert_gone(&id);
    t.finish();
}

/// `update` changes limits of a running container, by flags and by `--resources -`.
#[test]
fn update_changes_limits_live() {
    let Some(t) = setup("cg_update") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    b.set("/linux/resources/memory", json!({"limit": 64 << 20}));
    b.set("/linux/resources/pids", json!({"limit": 64}));
    t.create_start(&b);
    t.rt(&["update", "--memory", "48M", "--cpu-quota", "20000", "--cpu-period", "100000", "--cpu-share", "256",
           "--pids-limit", "20", "--cpuset-cpus", "0", &id])
        .assert_ok();
    assert_eq!(knob(&MEM_LIMIT, &id), (48u64 << 20).to_string());
    assert_eq!(cpu_max(&id), "20000 100000");
    let (file, shares) = cpu_shares_as_written(256);
    assert_eq!(cg_file("cpu", &id, file), shares, "{file}");
    assert_eq!(knob(&PIDS_MAX, &id), "20");
    assert_eq!(knob(&CPUS, &id), "0");

    let res = t.dir("update").join("resources.json");
    fs::write(&res, json!({"pids": {"limit": 30}, "memory": {"limit": 40u64 << 20}}).to_string()).unwrap();
    t.rt_with(&["update", "--resources", "-", &id], |c| {
        c.stdin(fs::File::open(&res).unwrap());
    })
    .assert_ok();
    assert_eq!(knob(&PIDS_MAX, &id), "30");
    assert_eq!(knob(&MEM_LIMIT, &id), (40u64 << 20).to_string());
    // Untouched settings stay.
    assert_eq!(cpu_max(&id), "20000 100000");
    t.finish();
}

/// A limit the kernel rejects is an error naming the cgroup file; the container is unchanged.
#[test]
fn update_below_usage_is_a_clear_error() {
    let Some(t) = setup("cg_update_bad") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    t.create_start(&b);
    let out = t.rt(&["update", "--cpu-quota", "500", "--cpu-period", "100000", &id]);
    // 500 us is below the kernel's 1 ms minimum quota.
    assert!(!out.ok(), "a quota of 500us must be refused\n{}", out.show());
    let file = if cgroup_v2() { "cpu.max" } else { "cpu.cfs_quota_us" };
    assert!(out.stderr.contains(file), "the error names {file}\n{}", out.show());
    assert_eq!(t.status(&id).as_deref(), Some("running"));
    t.finish();
}

fn frozen_in_cgroup(id: &str) -> bool {
    if cgroup_v2() {
        flat(&cg_file("", id, "cgroup.events"), "frozen") == Some(1)
    } else {
        cg_file("freezer", id, "freezer.state") == "FROZEN"
    }
}

/// `pause` freezes the container (a busy loop makes no progress), `state` says paused, `resume`
/// thaws it.
#[test]
fn pause_freezes_and_resume_thaws() {
    let Some(t) = setup("cg_pause") else { return };
    let id = t.id();
    let mut b = t.bundle();
    let out = b.out();
    b.sh("i=0; while :; do i=$((i+1)); echo $i > /out/n.tmp; mv /out/n.tmp /out/n; done");
    t.create_start(&b);
    let n = || fs::read_to_string(out.join("n")).unwrap_or_default().trim().parse::<u64>().unwrap_or(0);
    wait_for("the loop to count", || (n() > 0).then_some(()));
    t.rt(&["pause", &id]).assert_ok();
    assert_eq!(t.status(&id).as_deref(), Some("paused"));
    assert!(frozen_in_cgroup(&id), "the cgroup is not frozen");
    let before = n();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(n(), before, "a paused container made progress");
    t.rt(&["resume", &id]).assert_ok();
    assert_eq!(t.status(&id).as_deref(), Some("running"));
    wait_for("the loop to count again", || (n() > before).then_some(()));
    t.finish();
}

/// `delete --force` of a frozen container kills it and removes its cgroup.
#[test]
fn delete_force_of_paused_container() {
    let Some(t) = setup("cg_delete_paused") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    let pid = t.create_start(&b);
    t.rt(&["pause", &id]).assert_ok();
    t.rt(&["delete", "--force", &id]).assert_ok();
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || read_trim(format!("/proc/{pid}/stat")).contains(") Z "));
    t.assert_gone(&id);
    t.finish();
}

/// `ps` lists the container's processes: JSON host pids, and the host ps table.
#[test]
fn ps_lists_container_processes() {
    let Some(t) = setup("cg_ps") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    let init = t.create_start(&b);
    let pids: Vec<i64> = serde_json::from_str(&t.rt(&["ps", "--format", "json", &id]).assert_ok().stdout).unwrap();
    assert_eq!(pids, vec![init]);
    let table = t.rt(&["ps", &id]).assert_ok().stdout.clone();
    assert!(table.lines().next().is_some_and(|h| h.contains("PID")), "ps table header\n{table}");
    assert!(table.lines().skip(1).any(|l| l.split_whitespace().any(|w| w == init.to_string())), "{table}");
    t.finish();
}

#[test]
fn device_rules_land_in_devices_list() {
    let Some(t) = setup("cg_devices") else { return };
    if cgroup_v2() {
        eprintln!("SKIP: cgroup v2 has no devices.list; the eBPF program is tested by device_rules_enforced_inside");
        return t.finish();
    }
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    b.set("/linux/resources/devices", json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 42, "minor": 42, "access": "r"},
        {"allow": true, "type": "b", "major": 7, "minor": 201, "access": "rw"}
    ]));
    t.create(&b);
    let list = cg_file("devices", &id, "devices.list");
    let lines: Vec<&str> = list.lines().collect();
    assert!(lines.contains(&"c 42:42 r"), "devices.list:\n{list}");
    assert!(lines.contains(&"b 7:201 rw"), "devices.list:\n{list}");
    assert!(!lines.contains(&"a *:* rwm"), "deny-all rule not applied:\n{list}");
    // The default devices stay usable.
    assert!(lines.contains(&"c 1:3 rwm"), "/dev/null not allowed:\n{list}");
    t.finish();
}

/// The rules are enforced (v1 devices controller, v2 eBPF program): of two host device nodes
/// bind-mounted in, only the one with an allow rule can be opened, the default devices work, a
/// read-only rule refuses writing, and mknod follows runc's default `c *:* m` rule while opening
/// such a node is still denied. (Bind mounts, not `linux.devices`: runtimes differ on whether
/// entries of `linux.devices` get an implicit allow rule; runc adds none, hull and crun add one.)
#[test]
fn device_rules_enforced_inside() {
    let Some(t) = setup("cg_devices_enforced") else { return };
    let mut b = t.bundle();
    // /dev/fuse is 10:229, /dev/loop-control 10:237: opening either read-only changes nothing.
    for (host, dest) in [("/dev/fuse", "/dev/hull-fuse"), ("/dev/loop-control", "/dev/hull-lc")] {
        if !Path::new(host).exists() {
            eprintln!("SKIP: {host} missing on this host");
            return t.finish();
        }
        b.add_mount(json!({"destination": dest, "type": "bind", "source": host, "options": ["bind"]}));
    }
    b.set("/linux/resources/devices", json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "r"}
    ]));
    b.add_mount(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]}));
    for set in ["bounding", "effective", "permitted"] {
        b.set(&format!("/process/capabilities/{set}"), json!(["CAP_MKNOD"]));
    }
    b.sh("for d in fuse lc; do (: < /dev/hull-$d) 2>/dev/null && echo $d-open || echo $d-denied; done; \
          (: > /dev/hull-fuse) 2>/dev/null && echo fuse-w-open || echo fuse-w-denied; \
          echo x > /dev/null && head -c 1 /dev/zero > /dev/null && echo null-ok; \
          mknod /tmp/lc c 10 237 && echo mknod-ok || echo mknod-refused; (: < /tmp/lc) 2>/dev/null && echo mknod-open || echo mknod-denied");
    assert_eq!(
        t.run_ok(&b).split_whitespace().collect::<Vec<_>>(),
        ["fuse-open", "lc-denied", "fuse-w-denied", "null-ok", "mknod-ok", "mknod-denied"]
    );
    t.finish();
}

/// `linux.resources.unified` lands in the named files on v2; on v1 it is refused, naming the field.
#[test]
fn unified_resources() {
    let Some(t) = setup("cg_unified") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    b.set("/linux/resources/unified", json!({"pids.max": "9", "memory.high": "50000000"}));
    if !cgroup_v2() {
        t.try_create(&b, &[]).assert_err("linux.resources.unified");
        t.assert_gone(&id);
        return t.finish();
    }
    t.create(&b);
    assert_eq!(cg_file("", &id, "pids.max"), "9");
    assert_eq!(cg_file("", &id, "memory.high"), "49999872", "memory.high is rounded down to pages");
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
    let hierarchies: Vec<&str> =
        if cgroup_v2() { vec![""] } else { V1_CONTROLLERS.iter().copied().chain(["unified"]).collect() };
    for ctrl in hierarchies {
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

/// A cgroup that existed before create is used but never removed by delete.
#[test]
fn delete_keeps_a_cgroup_it_did_not_create() {
    let Some(t) = setup("cg_preexisting") else { return };
    let id = t.id();
    let dirs: Vec<_> = cgroup_hierarchies().into_iter().map(|h| h.join(CG_PREFIX).join(&id)).collect();
    for d in &dirs {
        fs::create_dir_all(d).unwrap();
    }
    let mut b = t.bundle();
    b.args(&["true"]);
    t.run_ok(&b);
    for d in &dirs {
        assert!(d.is_dir(), "{} existed before create and was removed", d.display());
        fs::remove_dir(d).unwrap();
    }
    t.finish();
}

/// A parent directory create found in place can vanish before the container's own level is made
/// below it: another container's delete removes the parents it made once they are empty. create
/// then makes the parent again, as its own (delete removes it), instead of failing. Made
/// deterministic with a pause between the levels (HULL_FAULT=pause:cgroup-level:2, debug builds)
/// in which the other container is deleted.
#[test]
fn create_makes_again_a_parent_deleted_meanwhile() {
    let Some(t) = setup("cg_vanished_parent") else { return };
    if !is_hull() || !(cgroup_v2() || Path::new("/sys/fs/cgroup/unified/cgroup.procs").exists()) {
        eprintln!("SKIP: hull's fault points, in a v2 hierarchy");
        return t.finish();
    }
    let parent = format!("/{CG_PREFIX}/{}", t.id());
    let a = t.id_with("a");
    let mut ba = t.bundle_for(&a);
    ba.args(&["sleep", "100000"]);
    ba.set("/linux/cgroupsPath", json!(format!("{parent}/a")));
    t.create_start(&ba);
    let b = t.id_with("b");
    let mut bb = t.bundle_for(&b);
    bb.args(&["sleep", "100000"]);
    bb.set("/linux/cgroupsPath", json!(format!("{parent}/b")));
    bb.write();
    // b's create finds the parent (a's, level 1 of hull-test/<parent>/b) and pauses half a
    // second before making its own level (2).
    // (stderr to a file: the init keeps the descriptors create had.)
    let err = t.dir("logs").join("create-b.err");
    let mut creating = std::process::Command::new(t.bin())
        .args(["--root", STATE_ROOT, "create", "--bundle", bb.dir_str(), &b])
        .env("HULL_FAULT", "pause:cgroup-level:2")
        .stdout(std::process::Stdio::null())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    t.rt(&["delete", "--force", &a]).assert_ok();
    let status = creating.wait().unwrap();
    assert!(status.success(), "create after its parent vanished: {}", fs::read_to_string(&err).unwrap_or_default());
    t.rt(&["delete", "--force", &b]).assert_ok();
    for h in cgroup_hierarchies() {
        let d = h.join(&parent[1..]);
        assert!(!d.exists(), "{} left: the parent b made again is b's to remove", d.display());
    }
    t.finish();
}

/// Two containers with pid namespaces of their own sharing one cgroupsPath (the spec allows it):
/// deleting the one that made the cgroup leaves the other running (what is left in the cgroup is
/// the other's), as runc does; the cgroup is left to it with a warning.
#[test]
fn delete_does_not_kill_another_container_sharing_the_cgroup() {
    let Some(t) = setup("cg_shared") else { return };
    let shared = format!("/{CG_PREFIX}/{}", t.id());
    let a = t.id_with("a");
    let b_id = t.id_with("b");
    let mut ba = t.bundle_for(&a);
    ba.args(&["sleep", "100000"]);
    ba.set("/linux/cgroupsPath", json!(shared));
    let mut bb = t.bundle_for(&b_id);
    bb.args(&["sleep", "100000"]);
    bb.set("/linux/cgroupsPath", json!(shared));
    t.create_start(&ba);
    let pid_b = t.create_start(&bb);
    let out = t.rt(&["delete", "--force", &a]);
    out.assert_ok();
    assert_eq!(t.status(&b_id).as_deref(), Some("running"), "the other container was killed\n{}", out.show());
    assert!(Path::new(&format!("/proc/{pid_b}")).exists());
    if is_hull() {
        assert!(out.error_text().contains("another container sharing it"), "{}", out.show());
    }
    t.rt(&["delete", "--force", &b_id]).assert_ok();
    // Made by a, left to b, which did not make it: removed here.
    for h in cgroup_hierarchies() {
        let _ = fs::remove_dir(h.join(&shared[1..]));
    }
    t.finish();
}

/// A limit for a controller the host does not provide is an error naming the config field and
/// the controller, and leaves nothing behind. On this hybrid host, a private cgroup2 mount at
/// /sys/fs/cgroup is a pure v2 view whose controllers are all bound to v1: it has no pids.
#[test]
fn missing_controller_is_a_clear_error() {
    let Some(t) = setup("cg_missing_ctrl") else { return };
    if cgroup_v2() || !Path::new(CG_ROOT).join("unified").is_dir() {
        eprintln!("SKIP: needs a hybrid host (every controller is present on this one)");
        return t.finish();
    }
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["true"]);
    b.set("/linux/resources/pids", json!({"limit": 10}));
    b.write();
    let script = format!(
        "mount -t cgroup2 none {CG_ROOT} && exec \"$0\" --root {STATE_ROOT} create --bundle {} {id}",
        b.dir_str()
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .arg(runtime())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "create must fail without a pids controller");
    assert!(stderr.contains("linux.resources.pids") && stderr.contains("pids controller"), "{stderr}");
    t.assert_gone(&id);
    t.finish();
}

/// A cgroupsPath with `..` would leave the hierarchy: refused naming the field, nothing made.
#[test]
fn cgroups_path_escaping_the_hierarchy_is_refused() {
    let Some(t) = setup("cg_dotdot") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["true"]);
    b.set("/linux/cgroupsPath", json!(format!("/{CG_PREFIX}/../../{id}")));
    t.try_create(&b, &[]).assert_err("linux.cgroupsPath");
    for h in cgroup_hierarchies() {
        assert!(!h.join(&id).exists() && !h.parent().unwrap().join(&id).exists(), "{} made", id);
    }
    t.assert_gone(&id);
    t.finish();
}

fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// The tests that talk to systemd take turns, so that each one's D-Bus calls are its own to
/// explain. (systemd 252's private socket does not dispatch a method call that arrives in the
/// same read as the client's auth BEGIN until more data comes; libcgroups sent the two back to
/// back, and on the loaded VM each connection then waited out a 10 s receive timeout: fixed in
/// third_party/libcgroups, see its PATCHES.md.)
static SYSTEMD_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A test of the systemd driver: the test, its container id, and a bundle running `sleep` in
/// the scope `system.slice:hull-test:<id>`. None (after saying so) without systemd on cgroup v2.
fn systemd_test(name: &str) -> Option<(Test, String, Bundle)> {
    let t = setup(name)?;
    if !systemd_running() || !cgroup_v2() {
        eprintln!("SKIP: needs systemd as PID 1 on a cgroup v2 host (the VM lane boots one)");
        t.finish();
        return None;
    }
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    b.set("/linux/cgroupsPath", json!(format!("system.slice:hull-test:{id}")));
    Some((t, id, b))
}

/// `--systemd-cgroup` needs `slice:prefix:name`, and a running systemd: clear errors otherwise,
/// nothing left behind.
#[test]
fn systemd_driver_bad_input() {
    let _turn = SYSTEMD_TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some(t) = setup("cg_systemd_bad") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["true"]);
    b.set("/linux/cgroupsPath", json!("system.slice/not-a-triple"));
    b.write();
    let create = |b: &Bundle| t.rt(&["--systemd-cgroup", "create", "--bundle", b.dir_str(), &b.id]);
    create(&b).assert_err("slice:prefix:name");
    t.assert_gone(&id);
    if !systemd_running() {
        b.set("/linux/cgroupsPath", json!(format!("system.slice:hull-test:{id}")));
        b.write();
        create(&b).assert_err("systemd is not running");
        t.assert_gone(&id);
    }
    t.finish();
}

/// The systemd driver (pure v2 with systemd as PID 1, the VM lane): systemd makes the scope
/// `<slice>/<prefix>-<name>.scope`, the limits land in it, pause and exec work through it, and
/// delete has systemd remove it.
#[test]
fn systemd_driver_places_limits_and_removes_the_scope() {
    let _turn = SYSTEMD_TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some((t, id, mut b)) = systemd_test("cg_systemd") else { return };
    b.set("/linux/resources/memory", json!({"limit": 64 << 20}));
    b.set("/linux/resources/pids", json!({"limit": 32}));
    b.write();
    t.rt(&["--systemd-cgroup", "create", "--bundle", b.dir_str(), &id]).assert_ok();
    let pid = t.state(&id).unwrap()["pid"].as_i64().unwrap();
    let scope = format!("/system.slice/hull-test-{id}.scope");
    let dir = Path::new(CG_ROOT).join(&scope[1..]);
    assert_eq!(read_trim(format!("/proc/{pid}/cgroup")), format!("0::{scope}"));
    assert_eq!(read_trim(dir.join("memory.max")), (64u64 << 20).to_string());
    assert_eq!(read_trim(dir.join("pids.max")), "32");
    t.start(&id);
    let out = t.rt(&["exec", &id, "cat", "/proc/self/cgroup"]);
    assert_eq!(out.assert_ok().stdout.trim(), format!("0::{scope}"), "exec joins the scope");
    t.rt(&["pause", &id]).assert_ok();
    assert_eq!(t.status(&id).as_deref(), Some("paused"));
    t.rt(&["resume", &id]).assert_ok();
    t.rt(&["update", "--pids-limit", "40", &id]).assert_ok();
    assert_eq!(read_trim(dir.join("pids.max")), "40");
    t.rt(&["delete", "--force", &id]).assert_ok();
    wait_for("systemd to remove the scope", || (!dir.exists()).then_some(()));
    t.finish();
}

/// Only create and update need systemd's D-Bus: pause, resume, ps, events --stats, kill --all
/// and delete work on the scope's directory (systemd removes an emptied scope itself), so a busy
/// or unreachable systemd cannot stall them (issue 13). Shown with systemd's sockets covered by
/// /dev/null in a private mount namespace for those verbs.
#[test]
fn systemd_scope_verbs_other_than_create_and_update_need_no_dbus() {
    let _turn = SYSTEMD_TURN.lock().unwrap_or_else(|e| e.into_inner());
    let Some((t, id, b)) = systemd_test("cg_systemd_nodbus") else { return };
    b.write();
    t.rt(&["--systemd-cgroup", "run", "-d", "--bundle", b.dir_str(), &id]).assert_ok();
    let dir = Path::new(CG_ROOT).join(format!("system.slice/hull-test-{id}.scope"));
    assert!(dir.is_dir(), "{dir:?}");
    let no_dbus = |args: &[&str]| {
        let script = "for s in /run/systemd/private /run/dbus/system_bus_socket /var/run/dbus/system_bus_socket; do                       [ -S $s ] && mount --bind /dev/null $s; done; exec \"$@\"";
        let mut c = std::process::Command::new("unshare");
        c.args(["-m", "--propagation", "private", "sh", "-c", script, "sh"]).arg(t.bin()).args(["--root", STATE_ROOT]).args(args);
        let out = c.output().unwrap();
        let show = format!("{args:?}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "without D-Bus: {show}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    no_dbus(&["pause", &id]);
    assert_eq!(t.status(&id).as_deref(), Some("paused"));
    no_dbus(&["resume", &id]);
    assert!(no_dbus(&["ps", &id]).contains("PID"));
    // Statistics from the controllers systemd enabled for the scope (not every one).
    assert!(no_dbus(&["events", "--stats", &id]).contains("\"type\":\"stats\""));
    no_dbus(&["kill", "--all", &id, "KILL"]);
    no_dbus(&["delete", "--force", &id]);
    t.assert_gone(&id);
    wait_for("systemd to remove the emptied scope", || (!dir.exists()).then_some(()));
    t.finish();
}

/// The rest of the resources, each where this kernel has it: swappiness and disableOOMKiller
/// (v1), cpu burst and idle, block I/O throttling (on /dev/loop0, 7:0), hugetlb.
#[test]
fn more_limits_land_where_present() {
    let Some(t) = setup("cg_more_limits") else { return };
    let id = t.id();
    let v2 = cgroup_v2();
    let has = |ctrl: &str, file: &str| {
        let root = if v2 { Path::new(CG_ROOT).to_path_buf() } else { Path::new(CG_ROOT).join(ctrl) };
        // Files of a child cgroup that the root lacks: look at the controller list instead.
        root.join(file).exists()
            || (v2 && fs::read_to_string(root.join("cgroup.controllers")).is_ok_and(|c| c.split_whitespace().any(|x| x == ctrl)))
    };
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    let mut checks: Vec<(&str, &str, String)> = vec![];
    if !v2 {
        b.set("/linux/resources/memory", json!({"swappiness": 30, "disableOOMKiller": true}));
        checks.push(("memory", "memory.swappiness", "30".into()));
    }
    b.set("/linux/resources/cpu", json!({"quota": 50000, "period": 100000, "burst": 10000}));
    checks.push(if v2 { ("cpu", "cpu.max.burst", "10000".into()) } else { ("cpu", "cpu.cfs_burst_us", "10000".into()) });
    if has("cpu", "cpu.idle") || v2 {
        b.set("/linux/resources/cpu/idle", json!(1));
        checks.push(("cpu", "cpu.idle", "1".into()));
    }
    if Path::new("/dev/loop0").exists() && has(if v2 { "io" } else { "blkio" }, "blkio.throttle.read_bps_device") {
        b.set("/linux/resources/blockIO", json!({"throttleReadBpsDevice": [{"major": 7, "minor": 0, "rate": 1048576}],
                                                  "throttleWriteIOPSDevice": [{"major": 7, "minor": 0, "rate": 300}]}));
        if v2 {
            checks.push(("io", "io.max", "7:0 rbps=1048576 wbps=max riops=max wiops=300".into()));
        } else {
            checks.push(("blkio", "blkio.throttle.read_bps_device", "7:0 1048576".into()));
            checks.push(("blkio", "blkio.throttle.write_iops_device", "7:0 300".into()));
        }
    } else {
        eprintln!("note: no /dev/loop0 or no throttling here; block I/O not checked");
    }
    // A weight needs a scheduler that honours it (v1 blkio.weight: CFQ/BFQ; v2: io.weight).
    let weight_file = if v2 { "io.weight" } else { "blkio.weight" };
    let weight_here = if v2 { has("io", "io.weight") } else { has("blkio", "blkio.weight") };
    if weight_here {
        b.set("/linux/resources/blockIO/weight", json!(300));
    }
    if has("hugetlb", "hugetlb.2MB.limit_in_bytes") {
        b.set("/linux/resources/hugepageLimits", json!([{"pageSize": "2MB", "limit": 4 << 20}]));
        let file = if v2 { "hugetlb.2MB.max" } else { "hugetlb.2MB.limit_in_bytes" };
        checks.push(("hugetlb", file, (4u64 << 20).to_string()));
    } else {
        eprintln!("note: no hugetlb controller here; hugepageLimits not checked");
    }
    t.create(&b);
    for (ctrl, file, want) in &checks {
        assert_eq!(&cg_file(ctrl, &id, file), want, "{file}");
    }
    if weight_here {
        let d = cgroup_dir(if v2 { "io" } else { "blkio" }, &id);
        if d.join("io.bfq.weight").exists() {
            assert_eq!(read_trim(d.join("io.bfq.weight")).lines().next(), Some("default 300"), "io.bfq.weight");
        } else if v2 {
            // v1's 10-1000 mapped linearly onto io.weight's 1-10000, as runc does.
            let w = read_trim(d.join(weight_file));
            assert_eq!(w.lines().next(), Some(format!("default {}", 1 + (300 - 10) * 9999 / 990).as_str()), "{weight_file}: {w}");
        } else {
            assert_eq!(read_trim(d.join(weight_file)), "300", "{weight_file}");
        }
    } else {
        eprintln!("note: no {weight_file} here; blockIO.weight not checked");
    }
    if !v2 {
        let oom = cg_file("memory", &id, "memory.oom_control");
        assert_eq!(flat(&oom, "oom_kill_disable"), Some(1), "memory.oom_control:\n{oom}");
    }
    t.finish();
}

/// Settings cgroup v2 does not have are refused there, naming the field; `useHierarchy: false`
/// is refused everywhere (the kernel always accounts hierarchically); nothing is left behind.
#[test]
fn impossible_memory_settings_are_refused() {
    let Some(t) = setup("cg_mem_refused") else { return };
    let mut cases = vec![("hier", json!({"useHierarchy": false}), "useHierarchy")];
    if cgroup_v2() {
        cases.push(("swappiness", json!({"swappiness": 10}), "swappiness"));
        cases.push(("kernel", json!({"kernel": 1 << 26}), "memory.kernel"));
        cases.push(("oom", json!({"disableOOMKiller": true}), "disableOOMKiller"));
    }
    for (suffix, memory, field) in cases {
        let id = t.id_with(suffix);
        let mut b = t.bundle_for(&id);
        b.args(&["true"]);
        b.set("/linux/resources/memory", memory);
        t.try_create(&b, &[]).assert_err(field);
        t.assert_gone(&id);
    }
    t.finish();
}

/// A controller the host lacks (net_cls is not mounted here, and does not exist on v2) is named.
#[test]
fn network_class_id_needs_net_cls() {
    let Some(t) = setup("cg_net_cls") else { return };
    if !cgroup_v2() && Path::new(CG_ROOT).join("net_cls").is_dir() {
        eprintln!("SKIP: this host has net_cls");
        return t.finish();
    }
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["true"]);
    b.set("/linux/resources/network", json!({"classID": 1048577}));
    t.try_create(&b, &[]).assert_err("net_cls");
    t.assert_gone(&id);
    t.finish();
}

/// `cpu.burst` given alone lands too.
#[test]
fn cpu_burst_alone() {
    let Some(t) = setup("cg_burst") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    b.set("/linux/resources/cpu", json!({"burst": 20000}));
    t.create(&b);
    let file = if cgroup_v2() { "cpu.max.burst" } else { "cpu.cfs_burst_us" };
    assert_eq!(cg_file("cpu", &id, file), "20000");
    t.finish();
}

/// `memory.checkBeforeUpdate`: an update to a limit below the current usage is refused and the
/// old limit stays (v1's kernel refuses it too; v2's would take it and reclaim or OOM-kill).
#[test]
fn check_before_update_refuses_limit_below_usage() {
    let Some(t) = setup("cg_check_update") else { return };
    let id = t.id();
    let mut b = t.bundle();
    // 24 MiB in a tmpfs: charged to the container, and not reclaimable without swap.
    b.add_mount(json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["size=64m"]}));
    b.sh("dd if=/dev/zero of=/data/fill bs=1M count=24 2>/dev/null; touch /data/done; exec sleep 100000");
    b.set("/linux/resources/memory", json!({"limit": 128 << 20, "swap": 128 << 20}));
    t.create_start(&b);
    wait_for("the container to fill its tmpfs", || {
        t.rt(&["exec", &id, "test", "-e", "/data/done"]).ok().then_some(())
    });
    let res = t.dir("update").join("resources.json");
    fs::write(&res, json!({"memory": {"limit": 8u64 << 20, "swap": 8u64 << 20, "checkBeforeUpdate": true}}).to_string()).unwrap();
    let out = t.rt_with(&["update", "--resources", "-", &id], |c| {
        c.stdin(fs::File::open(&res).unwrap());
    });
    assert!(!out.ok(), "a limit below usage must be refused\n{}", out.show());
    assert!(out.stderr.contains("memory"), "{}", out.show());
    assert_eq!(knob(&MEM_LIMIT, &id), (128u64 << 20).to_string(), "the old limit stays");
    assert_eq!(t.status(&id).as_deref(), Some("running"));
    t.finish();
}

/// The init and exec'd processes never migrate into the container's cgroup from outside (a
/// migration takes the kernel's global threadgroup lock, which waits for an RCU grace period):
/// on v2, and in the unified tree of a hybrid host, they are cloned straight into it
/// (CLONE_INTO_CGROUP); in each v1 hierarchy the process moves itself by writing "0" to the
/// cgroup's `tasks`, before the exec'd process is cloned. Either way they end up in the
/// container's cgroup in every hierarchy.
#[test]
fn init_and_exec_join_the_cgroup_without_a_migration() {
    let Some(t) = setup("cg_clone_into") else { return };
    if !is_hull() {
        eprintln!("SKIP: how hull places processes");
        return t.finish();
    }
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    b.write();
    let log = t.dir("logs").join("debug.log");
    let log_s = log.to_str().unwrap();
    t.rt(&["--debug", "--log", log_s, "create", "--bundle", b.dir_str(), &id]).assert_ok();
    t.rt(&["start", &id]).assert_ok();
    let pid = t.state(&id).expect("state")["pid"].as_i64().unwrap();
    assert_in_test_cgroup(&fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap(), &id);
    let out = t.rt(&["--debug", "--log", log_s, "exec", &id, "cat", "/proc/self/cgroup"]);
    out.assert_ok();
    assert_in_test_cgroup(&out.stdout, &id);
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.contains("init was cloned into its cgroup"), "create log:\n{text}");
    assert!(text.contains("exec: process was cloned into its cgroup"), "exec log:\n{text}");
    if !cgroup_v2() {
        let n = V1_CONTROLLERS.len();
        let joined = text
            .split("the init joins its cgroup in ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("no v1 self-join in the create log:\n{text}"));
        assert!(joined >= n, "joined {joined} v1 hierarchies, expected at least {n}:\n{text}");
    }
    t.finish();
}

/// cgroup v1: every cpuset level a create makes gets its parent's CPUs and memory nodes (a new
/// v1 cpuset cgroup has none, and no process may join it then), filled from the container's
/// cgroup upwards.
#[test]
fn new_v1_cpuset_levels_get_their_parents_cpus_and_nodes() {
    let Some(t) = setup("cg_cpuset_levels") else { return };
    if cgroup_v2() {
        eprintln!("skipped: cgroup v1 cpusets only");
        return t.finish();
    }
    let id = t.id();
    let mut b = t.bundle();
    let rel = format!("{CG_PREFIX}/{id}-levels/a/b");
    b.set("/linux/cgroupsPath", json!(format!("/{rel}")));
    b.sh("exec sleep 100000");
    t.create(&b);
    let root = std::path::Path::new("/sys/fs/cgroup/cpuset");
    let want = |f: &str| fs::read_to_string(root.join(f)).unwrap().trim().to_string();
    for level in [format!("{CG_PREFIX}/{id}-levels"), format!("{CG_PREFIX}/{id}-levels/a"), rel.clone()] {
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let got = fs::read_to_string(root.join(&level).join(f)).unwrap();
            assert_eq!(got.trim(), want(f), "{level}/{f}");
        }
    }
    let tasks = fs::read_to_string(root.join(&rel).join("tasks")).unwrap();
    assert_eq!(tasks.lines().count(), 1, "the init is in the new cpuset: {tasks:?}");
    t.finish();
}
