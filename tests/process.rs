//! The process: hostname, domainname, user and groups, cwd, env, umask, rlimits, capabilities,
//! no_new_privs, oomScoreAdj, args resolution.
mod common;

use common::*;
use serde_json::json;

#[test]
fn hostname_and_domainname() {
    let Some(t) = setup("proc_hostname") else { return };
    let mut b = t.bundle();
    b.set("/hostname", json!("hull-host-7"));
    b.set("/domainname", json!("hull.example"));
    b.sh("hostname; cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname");
    let out = t.run_ok(&b);
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l.first(), Some(&"hull-host-7"), "{out}");
    assert_eq!(l.get(1), Some(&"hull-host-7"), "{out}");
    if is_hull() {
        // runc 1.1.5 parses spec 1.0.2 and ignores `domainname`.
        assert_eq!(l.get(2), Some(&"hull.example"), "{out}");
    }
    let host = read_trim("/proc/sys/kernel/hostname");
    assert_ne!(host, "hull-host-7", "the container changed the host's hostname");
    t.finish();
}

/// The init keeps the CPU affinity it was born with, as any child of the runtime does: create
/// narrows it for a moment so that the init starts on another CPU than the runtime's, and the
/// init takes it back before anything else.
#[test]
fn cpu_affinity_is_the_one_the_init_was_born_with() {
    let Some(t) = setup("proc_affinity") else { return };
    let own = status_of(&std::fs::read_to_string("/proc/self/status").unwrap(), "Cpus_allowed_list");
    if !own.contains([',', '-']) {
        eprintln!("skipped: the test runs on one CPU ({own}), so nothing is narrowed");
        t.finish();
        return;
    }
    let mut b = t.bundle();
    b.sh("grep Cpus_allowed_list /proc/self/status");
    let out = t.run_ok(&b);
    assert_eq!(status_of(&out, "Cpus_allowed_list"), own, "{out}");
    t.finish();
}

fn status_of(out: &str, key: &str) -> String {
    status_field(out, key).unwrap_or_else(|| panic!("no {key} in\n{out}")).to_string()
}

#[test]
fn user_uid_gid_and_additional_groups() {
    let Some(t) = setup("proc_user") else { return };
    let mut b = t.bundle();
    b.set("/process/user", json!({"uid": 1000, "gid": 1000, "additionalGids": [29, 5]}));
    b.sh("grep -E '^(Uid|Gid|Groups):' /proc/self/status; id -un; id -gn");
    let out = t.run_ok(&b);
    let w = |k: &str| status_of(&out, k).split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(w("Uid"), ["1000"; 4], "{out}");
    assert_eq!(w("Gid"), ["1000"; 4], "{out}");
    let mut groups = w("Groups");
    groups.sort();
    assert_eq!(groups, ["29", "5"], "{out}");
    assert!(out.lines().any(|l| l == "user"), "id -un (resolved in the container's /etc/passwd):\n{out}");

    // Non-root user: writing to / is refused even where root could (here: an rw tmpfs owned by root, 0755).
    let mut b = t.bundle_for(&t.id_with("w"));
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    b.add_mount(json!({"destination": "/mnt", "type": "tmpfs", "source": "tmpfs", "options": ["mode=755"]}));
    b.sh("touch /mnt/x 2>/dev/null && echo wrote || echo denied");
    assert_eq!(t.run_ok(&b).trim(), "denied");
    t.finish();
}

#[test]
fn cwd_existing_and_created() {
    let Some(t) = setup("proc_cwd") else { return };
    let mut b = t.bundle();
    b.set("/process/cwd", json!("/etc"));
    b.sh("pwd; ls passwd");
    assert_eq!(t.run_ok(&b).lines().collect::<Vec<_>>(), ["/etc", "passwd"]);

    // A cwd that does not exist yet, inside a tmpfs: the runtime creates it.
    let mut b = t.bundle_for(&t.id_with("new"));
    b.add_mount(json!({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}));
    b.set("/process/cwd", json!("/tmp/work/deeper"));
    b.sh("pwd");
    assert_eq!(t.run_ok(&b).trim(), "/tmp/work/deeper");
    t.finish();
}

#[test]
fn env_is_exactly_the_configured_one() {
    let Some(t) = setup("proc_env") else { return };
    let mut b = t.bundle();
    b.set("/process/env", json!(["PATH=/bin", "HULL_A=1", "HULL_B=x,y z", "HULL_EMPTY="]));
    b.sh("env");
    let out = t.run_ok(&b);
    let lines: Vec<&str> = out.lines().collect();
    for want in ["PATH=/bin", "HULL_A=1", "HULL_B=x,y z", "HULL_EMPTY="] {
        assert!(lines.contains(&want), "{want} missing:\n{out}");
    }
    // Nothing leaks from the runtime's own environment (cargo sets CARGO_* for us).
    assert!(!lines.iter().any(|l| l.starts_with("CARGO")), "host env leaked:\n{out}");
    t.finish();
}

#[test]
fn umask() {
    let Some(t) = setup("proc_umask") else { return };
    let mut b = t.bundle();
    b.set("/process/user", json!({"uid": 0, "gid": 0, "umask": 0o027}));
    b.sh("umask");
    assert_eq!(t.run_ok(&b).trim(), "0027");
    let mut b = t.bundle_for(&t.id_with("b"));
    b.set("/process/user", json!({"uid": 0, "gid": 0, "umask": 0o077}));
    b.sh("umask");
    assert_eq!(t.run_ok(&b).trim(), "0077");
    t.finish();
}

#[test]
fn rlimits_applied() {
    let Some(t) = setup("proc_rlimits") else { return };
    let mut b = t.bundle();
    b.set("/process/rlimits", json!([
        {"type": "RLIMIT_NOFILE", "soft": 1234, "hard": 4321},
        {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}
    ]));
    b.sh("ulimit -n; ulimit -H -n; grep -E '^Max (open files|core file size)' /proc/self/limits");
    let out = t.run_ok(&b);
    let l: Vec<String> = out.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    assert_eq!(l[0], "1234", "{out}");
    assert_eq!(l[1], "4321", "{out}");
    assert!(l.iter().any(|x| x.starts_with("Max core file size 0 0")), "{out}");
    t.finish();
}

/// The machine lacks CAP_SYS_RESOURCE: raising a hard limit above the current one must fail
/// clearly, and leave nothing behind.
#[test]
fn rlimit_above_host_hard_limit_fails() {
    let Some(t) = setup("proc_rlimit_raise") else { return };
    let Some(hard) = host_hard_rlimit("RLIMIT_NOFILE") else {
        eprintln!("SKIP: host RLIMIT_NOFILE hard limit is unlimited");
        return t.finish();
    };
    let has_sys_resource = {
        let s = std::fs::read_to_string("/proc/self/status").unwrap();
        u64::from_str_radix(status_field(&s, "CapEff").unwrap(), 16).unwrap() & cap_mask(&["CAP_SYS_RESOURCE"]) != 0
    };
    if has_sys_resource {
        eprintln!("SKIP: this machine has CAP_SYS_RESOURCE, raising limits works");
        return t.finish();
    }
    let mut b = t.bundle();
    b.set("/process/rlimits", json!([{"type": "RLIMIT_NOFILE", "soft": 1024, "hard": hard + 10000}]));
    b.args(&["true"]);
    let out = t.try_create(&b, &[]);
    out.assert_err("rlimit");
    if is_hull() {
        // runc says "error setting rlimit type 7"; CONTRACT asks for the name, and the error
        // names the privilege that is missing (issue 14).
        out.assert_err("RLIMIT_NOFILE");
        out.assert_err("needs CAP_SYS_RESOURCE");
    }
    assert!(t.state(&b.id).is_none());
    t.assert_gone(&b.id);
    t.finish();
}

fn caps_of(out: &str) -> [u64; 5] {
    ["CapEff", "CapBnd", "CapPrm", "CapInh", "CapAmb"]
        .map(|k| u64::from_str_radix(&status_of(out, k), 16).unwrap_or_else(|e| panic!("{k}: {e}\n{out}")))
}

/// Root process with noNewPrivileges: after execve the kernel gives root
/// permitted = (bounding | inheritable), but no_new_privs caps that at the permitted set the
/// runtime configured. So each of the five lists is observable: Bnd = B, Prm = Eff = P (P ⊂ B),
/// Inh = I, Amb = A.
#[test]
fn capabilities_root() {
    let Some(t) = setup("proc_caps_root") else { return };
    let bnd = ["CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID",
               "CAP_SETGID", "CAP_AUDIT_WRITE", "CAP_NET_RAW"];
    let prm = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_AUDIT_WRITE"];
    let inh = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let amb = ["CAP_NET_BIND_SERVICE"];
    let mut b = t.bundle();
    b.set("/process/noNewPrivileges", json!(true));
    b.set("/process/capabilities", json!({"bounding": bnd, "effective": prm, "permitted": prm,
                                           "inheritable": inh, "ambient": amb}));
    b.args(&["cat", "/proc/self/status"]);
    let out = t.run_ok(&b);
    let [eff, bn, pr, ih, am] = caps_of(&out);
    assert_eq!(bn, cap_mask(&bnd), "CapBnd\n{out}");
    assert_eq!(eff, cap_mask(&prm), "CapEff\n{out}");
    assert_eq!(pr, cap_mask(&prm), "CapPrm\n{out}");
    assert_eq!(ih, cap_mask(&inh), "CapInh\n{out}");
    assert_eq!(am, cap_mask(&amb), "CapAmb\n{out}");
    t.finish();
}

/// Non-root process: after execve effective = permitted = ambient, which the runtime can only
/// raise when it set permitted and inheritable too.
#[test]
fn capabilities_non_root_ambient() {
    let Some(t) = setup("proc_caps_user") else { return };
    let bnd = ["CAP_CHOWN", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SYS_CHROOT"];
    let set = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let mut b = t.bundle();
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    b.set("/process/capabilities", json!({"bounding": bnd, "effective": set, "permitted": set,
                                           "inheritable": set, "ambient": set}));
    b.args(&["cat", "/proc/self/status"]);
    let out = t.run_ok(&b);
    let [eff, bn, prm, ih, am] = caps_of(&out);
    assert_eq!(bn, cap_mask(&bnd), "CapBnd\n{out}");
    for (name, v) in [("CapEff", eff), ("CapPrm", prm), ("CapInh", ih), ("CapAmb", am)] {
        assert_eq!(v, cap_mask(&set), "{name}\n{out}");
    }
    t.finish();
}

#[test]
fn no_new_privileges() {
    let Some(t) = setup("proc_nnp") else { return };
    let host = std::fs::read_to_string("/proc/self/status").unwrap();
    let inherited = status_field(&host, "NoNewPrivs") == Some("1");
    for (nnp, want) in [(true, "1"), (false, "0")] {
        if !nnp && inherited {
            eprintln!("note: the test harness itself runs with no_new_privs; `false` is not observable");
            continue;
        }
        let id = t.id_with(&nnp.to_string());
        let mut b = t.bundle_for(&id);
        b.set("/process/noNewPrivileges", json!(nnp));
        b.args(&["cat", "/proc/self/status"]);
        let out = t.run_ok(&b);
        assert_eq!(status_of(&out, "NoNewPrivs"), want, "noNewPrivileges={nnp}\n{out}");
    }
    t.finish();
}

#[test]
fn oom_score_adj() {
    let Some(t) = setup("proc_oom") else { return };
    let mut b = t.bundle();
    b.set("/process/oomScoreAdj", json!(345));
    b.args(&["sleep", "100000"]);
    let pid = t.create(&b);
    // Already set on init before the user process runs.
    assert_eq!(read_trim(format!("/proc/{pid}/oom_score_adj")), "345");
    t.rt(&["delete", "--force", &b.id]).assert_ok();
    b.args(&["cat", "/proc/self/oom_score_adj"]);
    assert_eq!(t.run_ok(&b).trim(), "345");
    t.finish();
}

/// args[0] is looked up on the container's PATH, in the container's filesystem.
#[test]
fn args_resolved_on_container_path() {
    let Some(t) = setup("proc_args_path") else { return };
    let mut b = t.bundle();
    b.write_exec("tools/hull-hello", "#!/bin/sh\necho \"hello $1 from $0\"\n");
    let src = b.dir.join("tools");
    b.add_mount(json!({"destination": "/mnt", "type": "bind", "source": src.to_str().unwrap(),
                       "options": ["rbind", "ro"]}));
    b.set("/process/env", json!(["PATH=/usr/bin:/mnt:/bin"]));
    b.args(&["hull-hello", "world"]);
    assert_eq!(t.run_ok(&b).trim(), "hello world from /mnt/hull-hello");
    t.finish();
}

#[test]
fn missing_executable_fails_create() {
    let Some(t) = setup("proc_args_missing") else { return };
    let mut b = t.bundle();
    b.args(&["hull-no-such-cmd", "x"]);
    let out = t.try_create(&b, &[]);
    out.assert_err("hull-no-such-cmd");
    assert!(t.state(&b.id).is_none(), "failed create left a container");
    t.assert_gone(&b.id);

    // An absolute path that does not exist in the rootfs, though it does on the host.
    let mut b = t.bundle_for(&t.id_with("abs"));
    b.args(&["/usr/sbin/runc", "--version"]);
    if std::path::Path::new(&format!("{}/usr/sbin/runc", rootfs().display())).exists() {
        panic!("test rootfs unexpectedly contains /usr/sbin/runc");
    }
    let out = t.try_create(&b, &[]);
    out.assert_err("/usr/sbin/runc");
    assert!(t.state(&b.id).is_none());
    t.assert_gone(&b.id);
    t.finish();
}

/// Stdio that is the host's /dev/null (as conmon gives a container without stdin) is replaced in
/// the init by the container's own /dev/null, as runc does, so that CRIU can checkpoint it: the
/// descriptor's mount is the container's /dev. Other stdio (here: files) is left as given.
#[test]
fn host_dev_null_stdio_becomes_the_containers_own() {
    let Some(t) = setup("process_null_stdio") else { return };
    let mut b = t.bundle();
    b.sh("echo fd0=$(sed -n 's/^mnt_id:[[:space:]]*//p' /proc/$$/fdinfo/0); \
          echo dev=$(awk '$5 == \"/dev\" {print $1}' /proc/self/mountinfo); \
          echo fd1=$(readlink /proc/$$/fd/1)");
    // run_ok gives the runtime (and so the container) stdin /dev/null and stdout a file.
    let out = t.run_ok(&b);
    let (fd0, dev) = (kv(&out, "fd0"), kv(&out, "dev"));
    assert!(!dev.is_empty(), "no /dev mount in the container:\n{out}");
    assert_eq!(fd0, dev, "stdin is not the container's /dev/null:\n{out}");
    assert!(kv(&out, "fd1").ends_with(".stdout"), "stdout must stay the file it was:\n{out}");
    t.finish();
}
