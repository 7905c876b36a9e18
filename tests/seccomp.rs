//! Seccomp (config-linux.md "Seccomp"): every outcome observed from inside, syscall by syscall,
//! with busybox applets whose syscalls are known (checked with strace on the host):
//! - `mkdir DIR`            → mkdir(DIR, 0777)
//! - `renice N -p PID`      → setpriority(PRIO_PROCESS=0, PID, N)
//! - `ionice -c C -n N cmd` → ioprio_set(IOPRIO_WHO_PROCESS=1, 0, C<<13 | N)
//! - `sync`                 → sync();  `sync -f /` → syncfs(fd)
//! - `sync FILE`            → fsync(fd); `sync -d FILE` → fdatasync(fd)
//! - `unshare -U true`      → unshare(CLONE_NEWUSER); `mount -t tmpfs ...` → mount(...)
//!
//! A process killed by SIGSYS shows as status 128+31 = 159 (from the shell, and from `run`).
mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;

const SIGSYS_STATUS: i32 = 128 + libc::SIGSYS;

fn tmpfs_tmp(b: &mut Bundle) {
    b.add_mount(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}));
}

fn add_caps(b: &mut Bundle, caps: &[&str]) {
    for set in ["bounding", "effective", "permitted"] {
        let list = b.config["process"]["capabilities"][set].as_array_mut().unwrap();
        for c in caps {
            if !list.iter().any(|x| x == c) {
                list.push(json!(c));
            }
        }
    }
}

/// defaultAction ALLOW plus the given rules.
fn allow_all_but(rules: Value) -> Value {
    json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"], "syscalls": rules})
}

/// `key=value` lines of the output.
fn kv(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in output:\n{out}"))
        .to_string()
}

fn docker_seccomp() -> Value {
    fixture_seccomp("docker-run")
}

fn fixture_seccomp(name: &str) -> Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/client-configs/{name}.json"));
    let c: Value = serde_json::from_slice(&fs::read(&p).unwrap()).unwrap();
    let s = c["linux"]["seccomp"].clone();
    assert_eq!(s["defaultAction"], "SCMP_ACT_ERRNO", "the {name} fixture's profile is a whitelist");
    s
}

/// ERRNO with errnoRet: mkdir fails with ENOSYS, nothing is created, the status shows a filter;
/// the same container without the profile creates the directory (so seccomp made the difference).
#[test]
fn errno_ret_on_mkdir() {
    let Some(t) = setup("sc_errno_mkdir") else { return };
    let script = "mkdir /tmp/x 2>&1; echo rc=$?; [ -d /tmp/x ] && echo dir=yes || echo dir=no; \
                  grep '^Seccomp:' /proc/self/status | tr -d ' \\t'";
    let mut b = t.bundle();
    tmpfs_tmp(&mut b);
    b.set("/linux/seccomp", allow_all_but(json!([
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    ])));
    b.sh(script);
    let out = t.run_ok(&b);
    assert_eq!(kv(&out, "rc"), "1", "{out}");
    assert_eq!(kv(&out, "dir"), "no", "{out}");
    assert!(out.contains("Function not implemented"), "mkdir must fail with ENOSYS:\n{out}");
    assert!(out.lines().any(|l| l == "Seccomp:2"), "no seccomp filter on the process:\n{out}");

    let mut b = t.bundle_for(&t.id_with("control"));
    tmpfs_tmp(&mut b);
    b.sh(script);
    let out = t.run_ok(&b);
    assert_eq!(kv(&out, "rc"), "0", "{out}");
    assert_eq!(kv(&out, "dir"), "yes", "{out}");
    assert!(out.lines().any(|l| l == "Seccomp:0"), "{out}");
    t.finish();
}

/// ERRNO without errnoRet is EPERM; defaultErrnoRet sets the default action's errno.
#[test]
fn errno_defaults() {
    let Some(t) = setup("sc_errno_default") else { return };
    let mut b = t.bundle();
    tmpfs_tmp(&mut b);
    b.set("/linux/seccomp", allow_all_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}])));
    b.sh("mkdir /tmp/x 2>&1; echo rc=$?");
    let out = t.run_ok(&b);
    assert!(out.contains("Operation not permitted"), "ERRNO without errnoRet must be EPERM:\n{out}");
    assert_eq!(kv(&out, "rc"), "1");

    // A whitelist whose default is ERRNO(EXDEV = 18) via defaultErrnoRet; mkdir is not listed.
    let mut b = t.bundle_for(&t.id_with("default"));
    tmpfs_tmp(&mut b);
    let mut prof = docker_seccomp();
    for r in prof["syscalls"].as_array_mut().unwrap() {
        r["names"].as_array_mut().unwrap().retain(|n| n != "mkdir");
    }
    prof["defaultErrnoRet"] = json!(18);
    b.set("/linux/seccomp", prof);
    b.sh("mkdir /tmp/x 2>&1; echo rc=$?; echo alive");
    let out = t.run_ok(&b);
    assert!(out.contains("Invalid cross-device link"), "defaultErrnoRet 18 (EXDEV) not used:\n{out}");
    assert_eq!(kv(&out, "rc"), "1");
    t.finish();
}

/// The docker whitelist profile: a normal workload runs, while unshare and mount are refused
/// with EPERM although the process has CAP_SYS_ADMIN. Without the profile the very same calls
/// succeed: the difference is the filter.
#[test]
fn docker_whitelist_profile() {
    let Some(t) = setup("sc_docker") else { return };
    let script = "echo workload; ls / >/dev/null && echo ls=ok; wc -l < /etc/passwd | tr -d ' '; \
                  (echo sub; true) | cat; sleep 0.01 && echo sleep=ok; \
                  unshare -U true 2>&1; echo unshare=$?; \
                  mount -t tmpfs none /mnt 2>&1; echo mount=$?";
    for with_profile in [true, false] {
        let id = t.id_with(if with_profile { "profile" } else { "none" });
        let mut b = t.bundle_for(&id);
        add_caps(&mut b, &["CAP_SYS_ADMIN"]);
        if with_profile {
            b.set("/linux/seccomp", docker_seccomp());
        }
        b.sh(script);
        let out = t.run_ok(&b);
        let lines: Vec<&str> = out.lines().collect();
        for want in ["workload", "ls=ok", "3", "sub", "sleep=ok"] {
            assert!(lines.contains(&want), "profile={with_profile}: {want:?} missing:\n{out}");
        }
        if with_profile {
            assert_ne!(kv(&out, "unshare"), "0", "unshare(CLONE_NEWUSER) allowed by the docker profile:\n{out}");
            assert_ne!(kv(&out, "mount"), "0", "mount allowed by the docker profile:\n{out}");
            // EPERM, the profile's default errno: busybox words it differently per applet.
            assert!(out.contains("unshare(0x10000000): Operation not permitted"), "unshare: EPERM\n{out}");
            assert!(out.contains("mount: permission denied"), "mount: EPERM\n{out}");
        } else {
            assert_eq!(kv(&out, "unshare"), "0", "without a profile unshare -U must work:\n{out}");
            assert_eq!(kv(&out, "mount"), "0", "without a profile mount (CAP_SYS_ADMIN) must work:\n{out}");
        }
    }
    t.finish();
}

/// The podman whitelist profile (default ERRNO 38, explicit EPERM rules): a workload runs;
/// sethostname (an explicit EPERM rule) fails although the process has CAP_SYS_ADMIN and its own
/// uts namespace; unshare (allowed) works. Without the profile sethostname works.
#[test]
fn podman_whitelist_profile() {
    let Some(t) = setup("sc_podman") else { return };
    let script = "echo workload; ls / >/dev/null && echo ls=ok; (echo sub; true) | cat; \
                  hostname hull-renamed 2>&1; echo sethostname=$?; unshare -U true 2>&1; echo unshare=$?";
    for with_profile in [true, false] {
        let id = t.id_with(if with_profile { "profile" } else { "none" });
        let mut b = t.bundle_for(&id);
        add_caps(&mut b, &["CAP_SYS_ADMIN"]);
        if with_profile {
            b.set("/linux/seccomp", fixture_seccomp("podman-run"));
        }
        b.sh(script);
        let out = t.run_ok(&b);
        let lines: Vec<&str> = out.lines().collect();
        for want in ["workload", "ls=ok", "sub", "unshare=0"] {
            assert!(lines.contains(&want), "profile={with_profile}: {want:?} missing:\n{out}");
        }
        if with_profile {
            assert_ne!(kv(&out, "sethostname"), "0", "{out}");
            assert!(out.contains("sethostname: Operation not permitted"), "sethostname: the rule's EPERM\n{out}");
        } else {
            assert_eq!(kv(&out, "sethostname"), "0", "{out}");
        }
    }
    t.finish();
}

/// Runs `renice N -p $$` for N = 1..9 under a setpriority rule; returns the denied values.
fn denied_nice_values(t: &Test, name: &str, args: Value) -> Vec<u32> {
    let id = t.id_with(name);
    let mut b = t.bundle_for(&id);
    add_caps(&mut b, &["CAP_SYS_NICE"]);
    b.set("/linux/seccomp", allow_all_but(json!([
        {"names": ["setpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33, "args": args}
    ])));
    b.sh("for n in 1 2 3 4 5 6 7 8 9; do \
            if renice $n -p $$ >/dev/null 2>&1; then echo \"$n ok\"; else echo \"$n denied\"; fi; \
          done 2>/dev/null; renice 5 -p $$ 2>&1 >/dev/null | head -n1");
    let out = t.run(&b, &[]);
    out.assert_ok();
    let mut denied = vec![];
    for n in 1..=9u32 {
        if out.stdout.lines().any(|l| l == format!("{n} denied")) {
            denied.push(n);
        } else {
            assert!(out.stdout.lines().any(|l| l == format!("{n} ok")), "{name}: no result for {n}\n{}", out.show());
        }
    }
    if denied.contains(&5) {
        assert!(out.stdout.contains("Numerical argument out of domain"), "{name}: errnoRet 33 (EDOM) not used\n{}", out.show());
    }
    denied
}

/// All seven operators on one argument, compared with their definition.
#[test]
fn argument_operators() {
    let Some(t) = setup("sc_ops") else { return };
    let cond = |op: &str| json!([{"index": 2, "value": 5, "op": op}]);
    let cases: &[(&str, Value, Vec<u32>)] = &[
        ("eq", cond("SCMP_CMP_EQ"), vec![5]),
        ("ne", cond("SCMP_CMP_NE"), vec![1, 2, 3, 4, 6, 7, 8, 9]),
        ("lt", cond("SCMP_CMP_LT"), vec![1, 2, 3, 4]),
        ("le", cond("SCMP_CMP_LE"), vec![1, 2, 3, 4, 5]),
        ("gt", cond("SCMP_CMP_GT"), vec![6, 7, 8, 9]),
        ("ge", cond("SCMP_CMP_GE"), vec![5, 6, 7, 8, 9]),
        // (arg & 6) == 2: 2 and 3.
        ("masked", json!([{"index": 2, "value": 6, "valueTwo": 2, "op": "SCMP_CMP_MASKED_EQ"}]), vec![2, 3]),
    ];
    for (name, args, want) in cases {
        assert_eq!(&denied_nice_values(&t, name, args.clone()), want, "operator {name}");
    }
    t.finish();
}

/// Several conditions: on different arguments they all must hold (AND); several on the same
/// argument are alternatives (OR), as libseccomp/runc treat them.
#[test]
fn several_conditions() {
    let Some(t) = setup("sc_conds") else { return };
    // which == PRIO_PROCESS (0) AND prio >= 7
    let and = json!([{"index": 0, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 7, "op": "SCMP_CMP_GE"}]);
    assert_eq!(denied_nice_values(&t, "and", and), [7, 8, 9]);
    // which == PRIO_PGRP (1) AND prio >= 7: never true for `renice -p`.
    let and_never = json!([{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 2, "value": 7, "op": "SCMP_CMP_GE"}]);
    assert_eq!(denied_nice_values(&t, "and-never", and_never), Vec::<u32>::new());
    // prio <= 2 OR prio >= 8
    let or = json!([{"index": 2, "value": 2, "op": "SCMP_CMP_LE"}, {"index": 2, "value": 8, "op": "SCMP_CMP_GE"}]);
    assert_eq!(denied_nice_values(&t, "or", or), [1, 2, 8, 9]);
    t.finish();
}

/// MASKED_EQ on the I/O priority class bits: class best-effort (2) is refused at any level,
/// class idle (3) is allowed.
#[test]
fn masked_eq_on_ioprio_class() {
    let Some(t) = setup("sc_masked") else { return };
    let mut b = t.bundle();
    b.set("/linux/seccomp", allow_all_but(json!([
        {"names": ["ioprio_set"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1,
         "args": [{"index": 2, "value": 0xe000, "valueTwo": 2 << 13, "op": "SCMP_CMP_MASKED_EQ"}]}
    ])));
    b.sh("ionice -c 2 -n 5 true 2>/dev/null; echo be5=$?; ionice -c 2 -n 0 true 2>/dev/null; echo be0=$?; \
          ionice -c 3 true; echo idle=$?");
    let out = t.run_ok(&b);
    assert_ne!(kv(&out, "be5"), "0", "{out}");
    assert_ne!(kv(&out, "be0"), "0", "{out}");
    assert_eq!(kv(&out, "idle"), "0", "{out}");
    t.finish();
}

/// KILL_PROCESS: the process dies of SIGSYS, and `run` reports 159.
#[test]
fn kill_process_action() {
    let Some(t) = setup("sc_kill_process") else { return };
    let mut b = t.bundle();
    b.set("/linux/seccomp", allow_all_but(json!([{"names": ["sync"], "action": "SCMP_ACT_KILL_PROCESS"}])));
    b.args(&["sync"]);
    let out = t.run(&b, &[]);
    assert_eq!(out.code, Some(SIGSYS_STATUS), "sync must be killed by SIGSYS\n{}", out.show());
    assert!(t.state(&b.id).is_none());

    // The control: without the filter sync exits 0.
    let mut b = t.bundle_for(&t.id_with("control"));
    b.args(&["sync"]);
    t.run_ok(&b);
    t.finish();
}

/// One profile, several actions (ERRNO with two errnos, KILL_PROCESS, TRAP, KILL, LOG, TRACE):
/// each call gets exactly its rule's action, the rest is allowed.
#[test]
fn several_actions_in_one_profile() {
    let Some(t) = setup("sc_actions") else { return };
    let mut b = t.bundle();
    tmpfs_tmp(&mut b);
    // Whatever nice value the test runs at, setting 4 must not need privileges.
    add_caps(&mut b, &["CAP_SYS_NICE"]);
    b.set("/linux/seccomp", allow_all_but(json!([
        {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
        {"names": ["setpriority"], "action": "SCMP_ACT_ERRNO", "errnoRet": 33,
         "args": [{"index": 2, "value": 5, "op": "SCMP_CMP_EQ"}]},
        {"names": ["sync"], "action": "SCMP_ACT_KILL_PROCESS"},
        {"names": ["syncfs"], "action": "SCMP_ACT_TRAP"},
        {"names": ["fsync"], "action": "SCMP_ACT_KILL"},
        {"names": ["fdatasync"], "action": "SCMP_ACT_LOG"},
        // No tracer attached: the call fails with ENOSYS.
        {"names": ["rmdir"], "action": "SCMP_ACT_TRACE"}
    ])));
    b.sh("mkdir /tmp/a 2>&1; echo mkdir=$?; \
          renice 4 -p $$ >/dev/null; echo nice4=$?; renice 5 -p $$ 2>&1 >/dev/null; echo nice5=$?; \
          sh -c 'sync'; echo sync=$?; \
          sh -c 'sync -f /'; echo syncfs=$?; \
          sh -c 'sync /etc/passwd'; echo fsync=$?; \
          sh -c 'sync -d /etc/passwd'; echo fdatasync=$?; \
          rmdir /tmp/nope 2>&1; echo rmdir=$?; \
          echo alive");
    let out = t.run(&b, &[]);
    out.assert_ok();
    let o = &out.stdout;
    assert_eq!(kv(o, "mkdir"), "1", "{}", out.show());
    assert!(o.contains("Function not implemented"), "mkdir: ENOSYS\n{}", out.show());
    assert_eq!(kv(o, "nice4"), "0", "setpriority(.., 4) must be allowed\n{}", out.show());
    assert_ne!(kv(o, "nice5"), "0", "setpriority(.., 5) must be denied\n{}", out.show());
    assert!(o.contains("Numerical argument out of domain"), "setpriority: EDOM\n{}", out.show());
    for k in ["sync", "syncfs", "fsync"] {
        assert_eq!(kv(o, k), SIGSYS_STATUS.to_string(), "{k}: must die of SIGSYS\n{}", out.show());
    }
    assert_eq!(kv(o, "fdatasync"), "0", "SCMP_ACT_LOG must allow the call\n{}", out.show());
    assert!(o.lines().any(|l| l.starts_with("rmdir:") && l.contains("Function not implemented")),
            "SCMP_ACT_TRACE without a tracer: ENOSYS (not ENOENT)\n{}", out.show());
    assert!(o.lines().any(|l| l == "alive"), "{}", out.show());
    t.finish();
}

/// The filter is installed as late as possible (noNewPrivileges): a profile refusing what the
/// runtime itself needs to set up the container (mount, pivot_root, sethostname, setgroups,
/// capset, chdir) still lets the container start, and then applies to its process.
#[test]
fn filter_does_not_hit_runtime_setup() {
    let Some(t) = setup("sc_late") else { return };
    let mut b = t.bundle();
    b.set("/process/noNewPrivileges", json!(true));
    b.set("/process/cwd", json!("/etc"));
    b.set("/linux/seccomp", allow_all_but(json!([
        {"names": ["mount", "umount2", "pivot_root", "sethostname", "setgroups", "capset", "chdir", "setresuid", "setresgid"],
         "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
    ])));
    b.sh("pwd; hostname; cd / 2>/dev/null && echo cd=ok || echo cd=denied; \
          hostname other 2>/dev/null && echo sethostname=ok || echo sethostname=denied");
    let out = t.run_ok(&b);
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l.first(), Some(&"/etc"), "{out}");
    assert_eq!(l.get(1), Some(&"hull"), "{out}");
    assert_eq!(kv(&out, "cd"), "denied", "{out}");
    assert_eq!(kv(&out, "sethostname"), "denied", "{out}");
    t.finish();
}

/// Without noNewPrivileges the filter goes in before the capabilities are dropped, so the
/// runtime's own last steps (the user's home from /etc/passwd, the PATH lookup, the exec fifo)
/// run under it. They use openat and newfstatat as glibc and Go programs do: a profile refusing
/// the older open, stat and lstat calls (as one recorded from such programs may) still lets the
/// container start, and applies to its process.
#[test]
fn filter_installed_early_spares_the_runtimes_last_steps() {
    let Some(t) = setup("sc_early") else { return };
    let mut b = t.bundle();
    b.set("/process/noNewPrivileges", json!(false));
    b.set("/linux/seccomp", allow_all_but(json!([
        {"names": ["open", "stat", "lstat", "creat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}
    ])));
    b.sh("echo home=$HOME; echo started");
    let out = t.run_ok(&b);
    assert_eq!(kv(&out, "home"), "/root", "{out}");
    assert!(out.lines().any(|l| l == "started"), "{out}");
    t.finish();
}

/// Syscall names the runtime does not know are skipped; the rest of the rule still applies.
#[test]
fn unknown_syscall_name_is_skipped() {
    let Some(t) = setup("sc_unknown") else { return };
    let mut b = t.bundle();
    tmpfs_tmp(&mut b);
    b.set("/linux/seccomp", allow_all_but(json!([
        {"names": ["hull_no_such_syscall", "mkdir", "another_made_up_call"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    ])));
    b.sh("mkdir /tmp/x 2>&1; echo rc=$?");
    let out = t.run_ok(&b);
    assert_eq!(kv(&out, "rc"), "1", "{out}");
    assert!(out.contains("Function not implemented"), "{out}");
    t.finish();
}

/// SCMP_ACT_NOTIFY is refused at create with an error naming it (hull does not implement user
/// notification; silently ignoring it would run the container unfiltered). Nothing left behind.
#[test]
fn notify_is_refused() {
    let Some(t) = setup("sc_notify") else { return };
    let mut b = t.bundle();
    b.set("/linux/seccomp", allow_all_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}])));
    b.args(&["true"]);
    let out = t.try_create(&b, &[]);
    if is_hull() {
        out.assert_err("SCMP_ACT_NOTIFY");
        assert!(t.state(&b.id).is_none());
        t.assert_gone(&b.id);
    } else {
        eprintln!("note: runc 1.1.5 with SCMP_ACT_NOTIFY and no listenerPath:\n{}", out.show());
    }
    t.finish();
}

/// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV belongs to the filter with the notification listener
/// only (the kernel refuses it elsewhere): a profile without SCMP_ACT_NOTIFY that names it runs.
#[test]
fn wait_killable_recv_flag_without_notify() {
    let Some(t) = setup("sc_wait_killable") else { return };
    let mut b = t.bundle();
    let mut sc = allow_all_but(json!([{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]));
    sc["flags"] = json!(["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV", "SECCOMP_FILTER_FLAG_LOG"]);
    b.set("/linux/seccomp", sc);
    b.sh("mkdir /tmp/x 2>/dev/null; echo rc=$?");
    tmpfs_tmp(&mut b);
    assert_eq!(kv(&t.run_ok(&b), "rc"), "1", "mkdir must be denied by the filter");
    t.finish();
}

/// A tiny static x86_64 ELF that makes the 32-bit x86 `getpid` (int 0x80, eax 20), then exits
/// with the low byte of the result: 1 for pid 1, 256 - errno when denied, SIGSYS when killed.
fn write_i386_getpid_probe(dir: &Path) -> std::path::PathBuf {
    let code: &[u8] = &[
        0xb8, 0x14, 0x00, 0x00, 0x00, // mov eax, 20 (i386 getpid)
        0xcd, 0x80, //                   int 0x80
        0x89, 0xc7, //                   mov edi, eax
        0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (x86_64 exit)
        0x0f, 0x05, //                   syscall
    ];
    let (base, hdr) = (0x40_0000u64, 64u64 + 56);
    let size = hdr + code.len() as u64;
    let mut f = Vec::new();
    f.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    f.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    f.extend_from_slice(&0x3eu16.to_le_bytes()); // EM_X86_64
    f.extend_from_slice(&1u32.to_le_bytes());
    f.extend_from_slice(&(base + hdr).to_le_bytes()); // entry
    f.extend_from_slice(&64u64.to_le_bytes()); // phoff
    f.extend_from_slice(&0u64.to_le_bytes()); // shoff
    f.extend_from_slice(&0u32.to_le_bytes()); // flags
    for v in [64u16, 56, 1, 0, 0, 0] {
        f.extend_from_slice(&v.to_le_bytes()); // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
    }
    f.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    f.extend_from_slice(&5u32.to_le_bytes()); // R + X
    for v in [0u64, base, base, size, size, 0x1000] {
        f.extend_from_slice(&v.to_le_bytes()); // offset, vaddr, paddr, filesz, memsz, align
    }
    f.extend_from_slice(code);
    let p = dir.join("i386-getpid");
    fs::write(&p, f).unwrap();
    fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    p
}

/// 32-bit x86 system calls: judged by their i386 numbers when the profile lists SCMP_ARCH_X86
/// (as libseccomp does; Docker's profile lists it), killed when it does not.
#[test]
fn x86_syscalls_follow_the_profile_when_listed() {
    let Some(t) = setup("sc_x86") else { return };
    let errno_getpid = json!([{"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]);
    let mut docker = docker_seccomp();
    docker["architectures"] = json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]);
    let cases = [
        ("native-only", json!(["SCMP_ARCH_X86_64"]), errno_getpid.clone(), None, Some(libc::SIGSYS)),
        ("x86-denied", json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]), errno_getpid, Some(256 - 38), None),
        ("x86-allowed", json!(["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]), json!([]), Some(1), None),
    ];
    for (suffix, archs, rules, code, signal) in cases {
        let id = t.id_with(suffix);
        let mut b = t.bundle_for(&id);
        let out = b.out();
        write_i386_getpid_probe(&out);
        let mut sc = allow_all_but(rules);
        sc["architectures"] = archs;
        b.set("/linux/seccomp", sc);
        b.args(&["/out/i386-getpid"]);
        let r = t.run(&b, &[]);
        let got = (r.code, r.signal.or(r.code.filter(|c| *c > 128).map(|c| c - 128)));
        match (code, signal) {
            (Some(c), _) => assert_eq!(r.code, Some(c), "{suffix}: {got:?}\n{}", r.show()),
            (_, Some(s)) => assert_eq!(got.1, Some(s), "{suffix}: expected SIGSYS\n{}", r.show()),
            _ => unreachable!(),
        }
    }
    // Docker's profile (which lists SCMP_ARCH_X86) allows getpid to 32-bit programs too.
    let id = t.id_with("docker");
    let mut b = t.bundle_for(&id);
    let out = b.out();
    write_i386_getpid_probe(&out);
    b.set("/linux/seccomp", docker);
    b.args(&["/out/i386-getpid"]);
    assert_eq!(t.run(&b, &[]).code, Some(1), "getpid under Docker's profile, from a 32-bit call");
    t.finish();
}
