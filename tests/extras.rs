//! Assorted runc/podman compatibility features: tmpcopyup, exec's oomScoreAdj, the name=systemd
//! v1 hierarchy, additionalGids de-duplication, socket activation (LISTEN_FDS), LSM labels on a
//! host without an LSM, process.scheduler / ioPriority / linux.personality. Recursive mount
//! attributes, `features` and `--pidfd-socket` are in tests/extras_mounts.rs.
mod common;

use common::*;
use serde_json::json;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};

/// Run `sh -c script` on the host (cwd: scratch; stdout/stderr to files) with `$RT` set to
/// `<runtime> --root /run/hull-test`, so the script can prepare its own state then `exec $RT ...`.
fn host_sh(t: &Test, tag: &str, script: &str) -> Out {
    let so = t.scratch.join(format!("sh-{tag}.stdout"));
    let se = t.scratch.join(format!("sh-{tag}.stderr"));
    let rt = format!("{} --root {STATE_ROOT}", runtime().display());
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg(script)
        .env("RT", &rt)
        .env_remove("LISTEN_FDS")
        .env_remove("LISTEN_PID")
        .env_remove("LISTEN_FDNAMES")
        .stdin(Stdio::null())
        .stdout(File::create(&so).unwrap())
        .stderr(File::create(&se).unwrap())
        .current_dir(&t.scratch);
    let desc = format!("sh -c {script:?} (RT={rt})");
    let mut child = c.spawn().unwrap();
    let st = wait_child(&mut child, CMD_TIMEOUT, &desc);
    use std::os::unix::process::ExitStatusExt;
    Out {
        cmd: desc,
        code: st.code(),
        signal: st.signal(),
        stdout: fs::read_to_string(&so).unwrap_or_default(),
        stderr: fs::read_to_string(&se).unwrap_or_default(),
    }
}

/// 1. `tmpcopyup` (podman puts it on its tmpfs mounts): the tmpfs is seeded with what the rootfs
/// had at the destination, even with a read-only root; without it the tmpfs is empty.
#[test]
fn tmpcopyup_seeds_tmpfs_from_rootfs() {
    let Some(t) = setup("extras_tmpcopyup") else { return };
    let passwd = fs::read_to_string(rootfs().join("etc/passwd")).unwrap();
    assert!(!passwd.is_empty());
    let script = "cat /etc/passwd; echo --; ls -A /etc; echo --; cat /proc/self/mountinfo; echo --; \
                  touch /etc/new && echo writable=yes";
    for (suffix, opts) in [("copy", json!(["tmpcopyup"])), ("plain", json!([]))] {
        let id = t.id_with(suffix);
        let mut b = t.bundle_for(&id);
        assert_eq!(b.config["root"]["readonly"], true);
        b.add_mount(json!({"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": opts}));
        b.sh(script);
        let out = t.run(&b, &[]);
        let parts: Vec<&str> = out.stdout.split("--\n").collect();
        assert_eq!(parts.len(), 4, "{}", out.show());
        let mi = parse_mountinfo(parts[2]);
        let etc = mount_at(&mi, "/etc").unwrap_or_else(|| panic!("no mount at /etc\n{}", out.show()));
        assert_eq!(etc.fstype, "tmpfs", "{}", out.show());
        assert!(parts[3].contains("writable=yes"), "the tmpfs at /etc must be writable\n{}", out.show());
        if suffix == "copy" {
            out.assert_ok();
            assert_eq!(parts[0], passwd, "tmpcopyup: /etc/passwd inside must be the rootfs's\n{}", out.show());
            let names: Vec<&str> = parts[1].lines().collect();
            for n in ["passwd", "group", "hosts"] {
                assert!(names.contains(&n), "tmpcopyup must copy /etc/{n}\n{}", out.show());
            }
        } else {
            assert_eq!(parts[0], "", "without tmpcopyup /etc/passwd must not exist\n{}", out.show());
            assert_eq!(parts[1], "", "without tmpcopyup the tmpfs is empty\n{}", out.show());
        }
    }
    // The rootfs itself was not written to.
    assert!(!rootfs().join("etc/new").exists(), "the write went to the shared rootfs");
    t.finish();
}

/// 2. `exec` gives the new process the container's process.oomScoreAdj, not the caller's.
#[test]
fn exec_applies_oom_score_adj() {
    let Some(t) = setup("extras_exec_oom") else { return };
    let id = t.id();
    let mut b = t.bundle_for(&id);
    b.set("/process/oomScoreAdj", json!(500));
    b.args(&["sleep", "100000"]);
    let pid = t.create_start(&b);
    assert_eq!(read_trim(format!("/proc/{pid}/oom_score_adj")), "500", "init's oom_score_adj");
    let script = format!("echo 7 > /proc/self/oom_score_adj && cat /proc/self/oom_score_adj >&2 && exec $RT exec {id} cat /proc/self/oom_score_adj");
    let out = host_sh(&t, "exec", &script);
    out.assert_ok();
    assert_eq!(out.stderr.trim(), "7", "the caller's own oom_score_adj must be 7\n{}", out.show());
    assert_eq!(out.stdout.trim(), "500", "exec'd process must get process.oomScoreAdj\n{}", out.show());
    t.finish();
}

/// 3. On this hybrid host the init joins the named `name=systemd` v1 hierarchy too (as runc's
/// cgroupfs driver does), and delete removes that cgroup.
#[test]
fn name_systemd_hierarchy() {
    let Some(t) = setup("extras_systemd_cg") else { return };
    let sysd = Path::new(CG_ROOT).join("systemd");
    let is_named = fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" /sys/fs/cgroup/systemd ") && l.contains("name=systemd"));
    if !is_named {
        eprintln!("SKIP extras_systemd_cg: no name=systemd hierarchy at {}", sysd.display());
        return;
    }
    let id = t.id();
    let mut b = t.bundle_for(&id);
    b.args(&["sleep", "100000"]);
    let pid = t.create_start(&b);
    let dir = cgroup_dir("systemd", &id);
    let procs = fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join("cgroup.procs").display()));
    assert!(procs.lines().any(|l| l == pid.to_string()), "init {pid} not in {}: {procs:?}", dir.display());
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        own.lines().any(|l| l.ends_with(&format!(":name=systemd:/{CG_PREFIX}/{id}"))),
        "init's /proc/pid/cgroup lacks the name=systemd path:\n{own}"
    );
    t.rt(&["delete", "--force", &id]).assert_ok();
    assert!(!dir.exists(), "{} left behind by delete", dir.display());
    t.finish();
}

/// 4. Duplicated additionalGids (and the primary gid repeated in them) are set once each.
#[test]
fn additional_gids_deduplicated() {
    let Some(t) = setup("extras_gids_dedup") else { return };
    let mut b = t.bundle();
    b.set("/process/user", json!({"uid": 1000, "gid": 1000, "additionalGids": [29, 29, 1000]}));
    b.sh("echo G=$(id -G); grep '^Groups:' /proc/self/status");
    let out = t.run(&b, &[]);
    out.assert_ok();
    let g: Vec<&str> = kv(&out.stdout, "G").split_whitespace().collect();
    let uniq: BTreeSet<&str> = g.iter().copied().collect();
    assert_eq!(g.len(), uniq.len(), "`id -G` lists a group twice: {g:?}\n{}", out.show());
    assert_eq!(uniq, BTreeSet::from(["29", "1000"]), "{}", out.show());
    let line = out.stdout.lines().find(|l| l.starts_with("Groups:")).unwrap();
    let groups: Vec<&str> = line["Groups:".len()..].split_whitespace().collect();
    let ug: BTreeSet<&str> = groups.iter().copied().collect();
    assert_eq!(groups.len(), ug.len(), "supplementary groups hold duplicates: {line:?}");
    assert!(ug.contains("29"), "gid 29 missing from {line:?}");
    t.finish();
}

/// 5. Socket activation: with LISTEN_FDS=N (and LISTEN_PID the runtime's own pid), fds 3..3+N
/// are passed to the container and it sees LISTEN_FDS=N, LISTEN_PID=1. When LISTEN_PID names
/// another process nothing is passed.
#[test]
fn socket_activation_listen_fds() {
    let Some(t) = setup("extras_listen_fds") else { return };
    fs::write(t.scratch.join("f1"), "first-file\n").unwrap();
    fs::write(t.scratch.join("f2"), "second-file\n").unwrap();
    let script = "echo LISTEN_FDS=${LISTEN_FDS-unset}; echo LISTEN_PID=${LISTEN_PID-unset}; \
                  echo fd3=$(cat <&3 2>/dev/null || echo closed); echo fd4=$(cat <&4 2>/dev/null || echo closed); \
                  echo fd5=$(cat <&5 2>/dev/null || echo closed)";

    // LISTEN_PID = $$ = the runtime's pid after `exec`.
    let id = t.id_with("passed");
    let mut b = t.bundle_for(&id);
    b.sh(script);
    b.write();
    let out = host_sh(
        &t,
        "passed",
        &format!("exec 3<f1 4<f2 5<f1; LISTEN_PID=$$ LISTEN_FDS=2 exec $RT run --bundle {} {id}", b.dir_str()),
    );
    out.assert_ok();
    assert_eq!(kv(&out.stdout, "LISTEN_FDS"), "2", "{}", out.show());
    assert_eq!(kv(&out.stdout, "LISTEN_PID"), "1", "{}", out.show());
    assert_eq!(kv(&out.stdout, "fd3"), "first-file", "{}", out.show());
    assert_eq!(kv(&out.stdout, "fd4"), "second-file", "{}", out.show());
    assert_eq!(kv(&out.stdout, "fd5"), "closed", "only LISTEN_FDS descriptors are passed\n{}", out.show());

    // LISTEN_PID of another process (pid 1 of the host): not for us.
    let id = t.id_with("other");
    let mut b = t.bundle_for(&id);
    b.sh(script);
    b.write();
    let out = host_sh(
        &t,
        "other",
        &format!("exec 3<f1 4<f2; LISTEN_PID=1 LISTEN_FDS=2 exec $RT run --bundle {} {id}", b.dir_str()),
    );
    out.assert_ok();
    assert_eq!(kv(&out.stdout, "LISTEN_FDS"), "unset", "{}", out.show());
    assert_eq!(kv(&out.stdout, "LISTEN_PID"), "unset", "{}", out.show());
    assert_eq!(kv(&out.stdout, "fd3"), "closed", "{}", out.show());
    assert_eq!(kv(&out.stdout, "fd4"), "closed", "{}", out.show());
    t.finish();
}

/// 7. An LSM label on a host without AppArmor/SELinux. An AppArmor profile fails create, naming
/// the field, and leaves nothing behind (it asks for confinement the host cannot give). SELinux
/// labels are ignored with a warning naming the field, as crun and youki do (issue 13: a config
/// written on an SELinux host runs where there is none).
#[test]
fn lsm_labels_without_lsm_fail() {
    let Some(t) = setup("extras_lsm") else { return };
    if !is_hull() {
        eprintln!("SKIP extras_lsm: hull-only (runc 1.1.5 ignores labels it cannot apply)");
        return;
    }
    let apparmor_on = fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y");
    let selinux_on = Path::new("/sys/fs/selinux/enforce").exists();
    if apparmor_on || selinux_on {
        eprintln!("SKIP extras_lsm: this host has an LSM (apparmor {apparmor_on}, selinux {selinux_on})");
        return;
    }
    for (i, (ptr, field)) in [
        ("/process/apparmorProfile", "process.apparmorProfile"),
        ("/process/selinuxLabel", "process.selinuxLabel"),
        ("/linux/mountLabel", "linux.mountLabel"),
    ]
    .into_iter()
    .enumerate()
    {
        let id = t.id_with(&format!("lsm{i}"));
        let mut b = t.bundle_for(&id);
        let label = if field.contains("apparmor") { "x" } else { "system_u:system_r:container_t:s0:c1,c2" };
        b.set(ptr, json!(label));
        b.args(&["true"]);
        if field.contains("selinux") || field.contains("mountLabel") {
            let out = t.run(&b, &[]);
            out.assert_ok();
            assert!(out.stderr.contains(field) && out.stderr.contains("ignored"), "the warning must name the field\n{}", out.show());
            t.assert_gone(&id);
            continue;
        }
        t.try_create(&b, &[]).assert_err(field);
        assert!(t.state(&id).is_none(), "{field}: the failed create left a container");
        t.assert_gone(&id);
        let out = t.run(&b, &[]);
        out.assert_err(field);
        t.assert_gone(&id);
    }
    t.finish();
}

/// 8. process.scheduler, process.ioPriority and linux.personality reach the container's process
/// (hull-only: runc 1.1.5 predates all three).
#[test]
fn scheduler_iopriority_personality() {
    let Some(t) = setup("extras_sched") else { return };
    if !is_hull() {
        eprintln!("SKIP extras_sched: runc 1.1.5 has no process.scheduler/ioPriority/personality");
        return;
    }
    let has_ionice = rootfs().join("bin/ionice").exists();
    let mut b = t.bundle();
    b.set("/process/scheduler", json!({"policy": "SCHED_BATCH", "nice": 5}));
    b.set("/process/ioPriority", json!({"class": "IOPRIO_CLASS_BE", "priority": 6}));
    b.set("/linux/personality", json!({"domain": "LINUX32"}));
    b.sh("echo stat=$(cat /proc/self/stat); echo arch=$(uname -m); \
          if command -v ionice >/dev/null; then echo ionice=$(ionice -p $$); fi");
    let out = t.run(&b, &[]);
    out.assert_ok();
    let stat = kv(&out.stdout, "stat");
    // Fields after the `(comm)`: state is field 3, so field N is index N-3.
    let rest: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    assert_eq!(rest[19 - 3], "5", "nice (field 19) of {stat}");
    assert_eq!(rest[41 - 3], "3", "policy (field 41) must be SCHED_BATCH (3): {stat}");
    let arch = kv(&out.stdout, "arch");
    assert!(["i386", "i486", "i586", "i686"].contains(&arch), "uname -m under LINUX32: {arch}");
    if has_ionice {
        let io = kv(&out.stdout, "ionice");
        assert_eq!(io, "best-effort: prio 6", "{}", out.show());
    } else {
        eprintln!("note: no ionice in the rootfs: process.ioPriority not checked");
    }
    // The scheduler flags as config-linux.md spells them (oci-spec spells two of them otherwise).
    let id = t.id_with("flags");
    let mut b = t.bundle_for(&id);
    b.set("/process/scheduler", json!({"policy": "SCHED_BATCH", "flags": ["SCHED_FLAG_RESET_ON_FORK"]}));
    b.sh("cat /proc/self/stat");
    let stat = t.run_ok(&b);
    let rest: Vec<&str> = stat.trim().rsplit_once(") ").unwrap().1.split(' ').collect();
    assert_eq!(rest[41 - 3], "3", "policy SCHED_BATCH with SCHED_FLAG_RESET_ON_FORK: {stat}");
    // And without them: the defaults (SCHED_OTHER, nice 0, x86_64).
    let id = t.id_with("defaults");
    let mut b = t.bundle_for(&id);
    b.sh("echo stat=$(cat /proc/self/stat); echo arch=$(uname -m)");
    let out = t.run(&b, &[]);
    out.assert_ok();
    let stat = kv(&out.stdout, "stat");
    let rest: Vec<&str> = stat.rsplit_once(") ").unwrap().1.split(' ').collect();
    let me = fs::read_to_string("/proc/self/stat").unwrap();
    let mine: Vec<&str> = me.rsplit_once(") ").unwrap().1.split(' ').collect();
    assert_eq!((rest[19 - 3], rest[41 - 3]), (mine[19 - 3], mine[41 - 3]), "inherited nice/policy: {stat}");
    assert_eq!(kv(&out.stdout, "arch"), std::env::consts::ARCH, "{}", out.show());
    t.finish();
}
