//! config.md (root, process basics, hostname, domainname, annotations,
//! extensibility, valid values), runtime-linux.md and the config-linux default
//! filesystems/devices observed by one checker run.

use super::*;
use crate::suite::{c, clip};
use serde_json::json;

pub fn groups() -> Vec<Group> {
    vec![
        Group {
            name: "basic",
            cases: vec![
                c(
                    "hostname",
                    "config#hostname",
                    "hostname is the container's hostname",
                ),
                c(
                    "domainname",
                    "config#domainname",
                    "domainname is the container's domainname",
                ),
                c(
                    "env",
                    "config#process",
                    "env is exactly the process environment",
                ),
                c(
                    "args",
                    "config#process",
                    "args are the process argv, unchanged (spaces, empty strings)",
                ),
                c(
                    "args-path",
                    "config#process",
                    "args[0] without a slash is looked up like execvp (PATH)",
                ),
                c(
                    "cwd",
                    "config#process",
                    "cwd is the working directory of the process",
                ),
                c(
                    "root-relative",
                    "config#root",
                    "a root.path relative to the bundle is used as the root filesystem",
                ),
                c(
                    "root-rw",
                    "config#root",
                    "root.readonly false: the root filesystem is writable",
                ),
                c(
                    "console-ignored",
                    "config#process",
                    "consoleSize is ignored when terminal is false (no tty)",
                ),
                c(
                    "fds",
                    "runtime-linux#file-descriptors",
                    "only stdin, stdout and stderr are open in the container process",
                ),
                c(
                    "dev-fd",
                    "runtime-linux#dev-symbolic-links",
                    "/dev/fd is a symlink to /proc/self/fd",
                ),
                c(
                    "dev-stdin",
                    "runtime-linux#dev-symbolic-links",
                    "/dev/stdin is a symlink to /proc/self/fd/0",
                ),
                c(
                    "dev-stdout",
                    "runtime-linux#dev-symbolic-links",
                    "/dev/stdout is a symlink to /proc/self/fd/1",
                ),
                c(
                    "dev-stderr",
                    "runtime-linux#dev-symbolic-links",
                    "/dev/stderr is a symlink to /proc/self/fd/2",
                ),
                c(
                    "dev-null",
                    "config-linux#default-devices",
                    "/dev/null is supplied (char 1:3)",
                ),
                c(
                    "dev-zero",
                    "config-linux#default-devices",
                    "/dev/zero is supplied (char 1:5)",
                ),
                c(
                    "dev-full",
                    "config-linux#default-devices",
                    "/dev/full is supplied (char 1:7)",
                ),
                c(
                    "dev-random",
                    "config-linux#default-devices",
                    "/dev/random is supplied (char 1:8)",
                ),
                c(
                    "dev-urandom",
                    "config-linux#default-devices",
                    "/dev/urandom is supplied (char 1:9)",
                ),
                c(
                    "dev-tty",
                    "config-linux#default-devices",
                    "/dev/tty is supplied (char 5:0)",
                ),
                c(
                    "dev-ptmx",
                    "config-linux#default-devices",
                    "/dev/ptmx is a symlink to or bind mount of /dev/pts/ptmx",
                ),
                c(
                    "dev-usable",
                    "config-linux#default-devices",
                    "default devices are usable (open read-write; /dev/full gives ENOSPC)",
                ),
                c(
                    "fs-proc",
                    "config-linux#default-filesystems",
                    "/proc is a proc filesystem",
                ),
                c(
                    "fs-sys",
                    "config-linux#default-filesystems",
                    "/sys is a sysfs filesystem",
                ),
                c(
                    "fs-devpts",
                    "config-linux#default-filesystems",
                    "/dev/pts is a devpts filesystem",
                ),
                c(
                    "fs-shm",
                    "config-linux#default-filesystems",
                    "/dev/shm is a tmpfs filesystem",
                ),
                c(
                    "oom-set",
                    "config#linux-process",
                    "oomScoreAdj is written to oom_score_adj",
                ),
                c(
                    "nnp-false",
                    "config#linux-process",
                    "noNewPrivileges false leaves no_new_privs unset",
                ),
            ],
            run: basic,
        },
        Group {
            name: "root-readonly",
            cases: vec![
                c(
                    "root-ro",
                    "config#root",
                    "root.readonly true: the root filesystem is read-only inside the container",
                ),
                c(
                    "root-abs",
                    "config#root",
                    "an absolute root.path is used as the root filesystem",
                ),
            ],
            run: root_readonly,
        },
        Group {
            name: "user",
            cases: vec![
                c(
                    "uid",
                    "config#posix-platform-user",
                    "user.uid is the real, effective and saved uid",
                ),
                c(
                    "gid",
                    "config#posix-platform-user",
                    "user.gid is the real, effective and saved gid",
                ),
                c(
                    "additional-gids",
                    "config#posix-platform-user",
                    "additionalGids are the supplementary groups",
                ),
                c(
                    "umask",
                    "config#posix-platform-user",
                    "user.umask is the process umask",
                ),
            ],
            run: user,
        },
        Group {
            name: "extensibility",
            cases: vec![
                c(
                    "ext-top",
                    "config#extensibility",
                    "an unknown top-level property is ignored",
                ),
                c(
                    "ext-process",
                    "config#extensibility",
                    "an unknown property in process is ignored",
                ),
                c(
                    "ext-linux",
                    "config#extensibility",
                    "an unknown property in linux is ignored",
                ),
                c(
                    "ann-unknown",
                    "config#annotations",
                    "unknown annotation keys are accepted like unknown properties",
                ),
                c(
                    "ann-empty",
                    "config#annotations",
                    "an annotation value may be an empty string",
                ),
            ],
            run: extensibility,
        },
        Group {
            name: "invalid-values",
            cases: vec![
                c(
                    "inv-ociversion",
                    "config#specification-version",
                    "an ociVersion that is not SemVer generates an error (valid values)",
                ),
                c(
                    "inv-cwd",
                    "config#process",
                    "a relative cwd (MUST be absolute) generates an error",
                ),
                c(
                    "inv-args",
                    "config#process",
                    "empty args (at least one entry REQUIRED) generates an error",
                ),
                c(
                    "inv-ns-type",
                    "config-linux#namespaces",
                    "an unknown namespace type generates an error (valid values)",
                ),
                c(
                    "inv-ns-dup",
                    "config-linux#namespaces",
                    "duplicated namespace types generate an error",
                ),
                c(
                    "inv-propagation",
                    "config-linux#rootfs-mount-propagation",
                    "an invalid rootfsPropagation generates an error",
                ),
                c(
                    "inv-device-type",
                    "config-linux#devices",
                    "an invalid device type generates an error",
                ),
                c(
                    "inv-hook-path",
                    "config#posix-platform-hooks",
                    "a relative hook path (MUST be absolute) generates an error",
                ),
                c(
                    "inv-hook-timeout",
                    "config#posix-platform-hooks",
                    "a hook timeout of 0 (MUST be > 0) generates an error",
                ),
                c(
                    "inv-seccomp-action",
                    "config-linux#seccomp",
                    "an unknown seccomp action generates an error",
                ),
                c(
                    "inv-seccomp-arch",
                    "config-linux#seccomp",
                    "an unknown seccomp architecture generates an error",
                ),
                c(
                    "inv-seccomp-op",
                    "config-linux#seccomp",
                    "an unknown seccomp operator generates an error",
                ),
                c(
                    "inv-seccomp-metadata",
                    "config-linux#seccomp",
                    "listenerMetadata without listenerPath (MUST NOT be set) generates an error",
                ),
                c(
                    "inv-cwd-missing",
                    "config#process",
                    "a process without cwd (REQUIRED) generates an error",
                ),
                c(
                    "inv-ns-path-relative",
                    "config-linux#namespaces",
                    "a relative namespace path (MUST be absolute) generates an error",
                ),
                c(
                    "inv-ann-empty-key",
                    "config#annotations",
                    "an empty annotation key (MUST NOT be empty) generates an error",
                ),
                c(
                    "inv-ann-nonstring",
                    "config#annotations",
                    "a non-string annotation value (MUST be a string) generates an error",
                ),
            ],
            run: invalid_values,
        },
    ]
}

fn basic(g: &mut G) {
    let mut b = g.bundle("basic");
    b.config["hostname"] = json!("oci-conformance-host");
    b.config["domainname"] = json!("oci-conformance.test");
    let env = json!([
        "PATH=/bin:/sbin:/usr/bin",
        "HOME=/root",
        "OCI_A=hello world",
        "OCI_EMPTY=",
        "OCI_EQ=a=b=c"
    ]);
    b.config["process"]["env"] = env.clone();
    b.config["process"]["cwd"] = json!("/etc");
    b.config["process"]["consoleSize"] = json!({"height": 33, "width": 111});
    b.config["process"]["oomScoreAdj"] = json!(517);
    b.config["process"]["noNewPrivileges"] = json!(false);
    let devs = [
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
        "/dev/ptmx",
    ];
    let mut args: Vec<&str> = vec![
        "oci-checker",
        "--echo",
        "two words",
        "--echo",
        "",
        "--create",
        "/oci-rw-probe",
    ];
    for l in ["/dev/fd", "/dev/stdin", "/dev/stdout", "/dev/stderr"] {
        args.push("--stat");
        args.push(l);
    }
    for d in devs {
        args.push("--stat");
        args.push(d);
    }
    for d in &devs[..5] {
        args.push("--open-rw");
        args.push(d);
    }
    args.extend_from_slice(&["--read-write", "/dev/full", "--stat", "/dev/pts/ptmx"]);
    b.args(&args);
    let rep = match g.run_process(&mut b) {
        Ok(r) => r,
        Err(e) => {
            g.fail_rest(&e);
            return;
        }
    };
    let v = &rep.v;
    g.check(
        "hostname",
        ensure(v["uname"]["nodename"] == "oci-conformance-host", || {
            format!("hostname is {}", v["uname"]["nodename"])
        }),
    );
    g.check(
        "domainname",
        ensure(v["uname"]["domainname"] == "oci-conformance.test", || {
            format!("domainname is {}", v["uname"]["domainname"])
        }),
    );
    g.check(
        "env",
        ensure(v["env"] == env, || format!("environment is {}", v["env"])),
    );
    let want_args: Vec<&str> = args.clone();
    let argv = rep.str_list("argv");
    g.check(
        "args",
        ensure(
            argv.iter()
                .map(|s| s.as_str())
                .eq(want_args.iter().copied()),
            || format!("argv is {:?}", argv),
        ),
    );
    g.check(
        "args-path",
        ensure(
            v["exe"]
                .as_str()
                .map(|e| e.ends_with("oci-checker"))
                .unwrap_or(false),
            || format!("exe is {}", v["exe"]),
        ),
    );
    g.check(
        "cwd",
        ensure(v["cwd"] == "/etc", || format!("cwd is {}", v["cwd"])),
    );
    g.pass("root-relative");
    let p = rep.probe(0);
    g.check(
        "root-rw",
        ensure(p["ok"] == true, || {
            format!("creating a file in / failed: errno {}", p["errno"])
        }),
    );
    g.check(
        "console-ignored",
        ensure(
            v["tty"]["isatty0"] == false && v["tty"]["isatty1"] == false,
            || format!("tty: {}", v["tty"]),
        ),
    );
    let fds: Vec<i64> = v["fds"]
        .as_array()
        .map(|a| a.iter().filter_map(|f| f["fd"].as_i64()).collect())
        .unwrap_or_default();
    g.check(
        "fds",
        ensure(fds == vec![0, 1, 2], || format!("open fds: {}", v["fds"])),
    );
    for (i, (key, target)) in [
        ("dev-fd", "/proc/self/fd"),
        ("dev-stdin", "/proc/self/fd/0"),
        ("dev-stdout", "/proc/self/fd/1"),
        ("dev-stderr", "/proc/self/fd/2"),
    ]
    .iter()
    .enumerate()
    {
        let p = rep.probe(1 + i);
        g.check(
            key,
            ensure(p["type"] == "l" && p["target"] == *target, || {
                format!("stat: {}", p)
            }),
        );
    }
    for (i, (key, mj, mn)) in [
        ("dev-null", 1, 3),
        ("dev-zero", 1, 5),
        ("dev-full", 1, 7),
        ("dev-random", 1, 8),
        ("dev-urandom", 1, 9),
        ("dev-tty", 5, 0),
    ]
    .iter()
    .enumerate()
    {
        let p = rep.probe(5 + i);
        g.check(
            key,
            ensure(
                p["type"] == "c" && p["major"] == *mj && p["minor"] == *mn,
                || format!("stat: {}", p),
            ),
        );
    }
    let ptmx = rep.probe(11);
    let pts_ptmx = rep.probe(18);
    let ptmx_ok = (ptmx["type"] == "l"
        && (ptmx["target"] == "pts/ptmx" || ptmx["target"] == "/dev/pts/ptmx"))
        || (ptmx["type"] == "c"
            && ptmx["major"] == 5
            && ptmx["minor"] == 2
            && ptmx["ino"] == pts_ptmx["ino"]
            && pts_ptmx["exists"] == true);
    g.check(
        "dev-ptmx",
        ensure(ptmx_ok, || {
            format!("/dev/ptmx: {}; /dev/pts/ptmx: {}", ptmx, pts_ptmx)
        }),
    );
    let mut bad = Vec::new();
    for i in 0..5 {
        let p = rep.probe(12 + i);
        if p["ok"] != true {
            bad.push(format!("{} errno {}", devs[i], p["errno"]));
        }
    }
    let full = rep.probe(17);
    if !(full["ok"] == false && full["errno"] == 28) {
        bad.push(format!("write to /dev/full: {}", full));
    }
    g.check("dev-usable", ensure(bad.is_empty(), || bad.join("; ")));
    for (key, mp, fs) in [
        ("fs-proc", "/proc", "proc"),
        ("fs-sys", "/sys", "sysfs"),
        ("fs-devpts", "/dev/pts", "devpts"),
        ("fs-shm", "/dev/shm", "tmpfs"),
    ] {
        let m = rep.mount(mp);
        g.check(
            key,
            ensure(m.map(|m| m["fstype"] == fs).unwrap_or(false), || {
                format!("mount at {}: {:?}", mp, m.map(crate::suite::mdesc))
            }),
        );
    }
    g.check(
        "oom-set",
        ensure(v["oom_score_adj"] == 517, || {
            format!("oom_score_adj is {}", v["oom_score_adj"])
        }),
    );
    g.check(
        "nnp-false",
        ensure(v["no_new_privs"] == 0, || {
            format!("no_new_privs is {}", v["no_new_privs"])
        }),
    );
}

fn root_readonly(g: &mut G) {
    let mut b = g.bundle("root-ro");
    b.config["root"] = json!({"path": b.dir.join("rootfs").to_string_lossy(), "readonly": true});
    match g.run_checker(
        &mut b,
        &[
            "--statvfs",
            "/",
            "--create",
            "/oci-ro-probe",
            "--create",
            "/etc/oci-ro-probe",
        ],
    ) {
        Ok(rep) => {
            g.pass("root-abs");
            let (sv, c1, c2) = (rep.probe(0), rep.probe(1), rep.probe(2));
            let ro = sv["flag"].as_u64().map(|f| f & 1 == 1).unwrap_or(false)
                && c1["ok"] == false
                && c1["errno"] == 30
                && c2["ok"] == false;
            g.check(
                "root-ro",
                ensure(ro, || {
                    format!(
                        "statvfs(/): {}; create /oci-ro-probe: {}; create /etc/...: {}",
                        sv, c1, c2
                    )
                }),
            );
        }
        Err(e) => g.fail_rest(&e),
    }
}

fn user(g: &mut G) {
    let mut b = g.bundle("user");
    b.config["process"]["user"] =
        json!({"uid": 1000, "gid": 1000, "additionalGids": [29, 4242], "umask": 23});
    b.config["process"]["cwd"] = json!("/home/user");
    match g.run_checker(&mut b, &[]) {
        Ok(rep) => {
            let ids = &rep.v["ids"];
            g.check(
                "uid",
                ensure(ids["uid"] == json!([1000, 1000, 1000]), || {
                    format!("uids (real, effective, saved) {}", ids["uid"])
                }),
            );
            g.check(
                "gid",
                ensure(ids["gid"] == json!([1000, 1000, 1000]), || {
                    format!("gids (real, effective, saved) {}", ids["gid"])
                }),
            );
            let mut groups: Vec<i64> = ids["groups"]
                .as_array()
                .map(|a| a.iter().filter_map(|x| x.as_i64()).collect())
                .unwrap_or_default();
            groups.sort();
            groups.dedup();
            let extra: Vec<i64> = groups.iter().copied().filter(|x| *x != 1000).collect();
            g.check(
                "additional-gids",
                ensure(extra == vec![29, 4242], || {
                    format!("supplementary groups {}", ids["groups"])
                }),
            );
            let um = rep
                .status("Umask")
                .map(|s| s.to_string())
                .unwrap_or_default();
            g.check(
                "umask",
                ensure(
                    u32::from_str_radix(um.trim(), 8).ok() == Some(0o027),
                    || format!("umask is {}", um),
                ),
            );
        }
        Err(e) => g.fail_rest(&e),
    }
}

fn extensibility(g: &mut G) {
    let mut b = g.bundle("ext-top");
    b.config["org.example.oci-conformance.unknown"] = json!({"nested": [1, 2, 3]});
    b.config["annotations"] =
        json!({"org.example.oci-conformance.not-a-known-key": "x", "com.example.empty-value": ""});
    b.valid = false;
    let r = g.run_checker(&mut b, &[]).map(|_| ());
    g.check("ext-top", r.clone());
    g.check("ann-unknown", r.clone());
    g.check("ann-empty", r);
    let mut b = g.bundle("ext-process");
    b.config["process"]["org.example.oci-conformance.unknown"] = json!(true);
    b.valid = false;
    let r = g.run_checker(&mut b, &[]).map(|_| ());
    g.check("ext-process", r);
    let mut b = g.bundle("ext-linux");
    b.config["linux"]["org.example.oci-conformance.unknown"] = json!([1]);
    b.valid = false;
    let r = g.run_checker(&mut b, &[]).map(|_| ());
    g.check("ext-linux", r);
}

fn invalid_values(g: &mut G) {
    type Mutator = fn(&mut serde_json::Value);
    let list: Vec<(&str, bool, Mutator)> = vec![
        ("inv-ociversion", false, |c| {
            c["ociVersion"] = json!("not-a-version")
        }),
        ("inv-cwd", true, |c| {
            c["process"]["cwd"] = json!("relative/dir")
        }),
        ("inv-args", true, |c| c["process"]["args"] = json!([])),
        ("inv-ns-type", false, |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "oci-bogus"}))
        }),
        ("inv-ns-dup", false, |c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "uts"}))
        }),
        ("inv-propagation", false, |c| {
            c["linux"]["rootfsPropagation"] = json!("bogus")
        }),
        (
            "inv-device-type",
            false,
            |c| {
                c["linux"]["devices"] =
                    json!([{"path": "/dev/oci-bad", "type": "x", "major": 1, "minor": 3}])
            },
        ),
        ("inv-hook-path", false, |c| {
            c["hooks"] = json!({"createRuntime": [{"path": "bin/true"}]})
        }),
        (
            "inv-hook-timeout",
            false,
            |c| c["hooks"] = json!({"createRuntime": [{"path": "/bin/true", "timeout": 0}]}),
        ),
        (
            "inv-seccomp-action",
            false,
            |c| c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getsid"], "action": "SCMP_ACT_OCI_BOGUS"}]}),
        ),
        (
            "inv-seccomp-arch",
            false,
            |c| c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_OCI_BOGUS"], "syscalls": [{"names": ["getsid"], "action": "SCMP_ACT_ERRNO"}]}),
        ),
        (
            "inv-seccomp-op",
            false,
            |c| c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["getsid"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_OCI_BOGUS"}]}]}),
        ),
        (
            "inv-seccomp-metadata",
            false,
            |c| c["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "listenerMetadata": "x", "syscalls": [{"names": ["getsid"], "action": "SCMP_ACT_ERRNO"}]}),
        ),
        ("inv-cwd-missing", true, |c| {
            if let Some(p) = c["process"].as_object_mut() {
                p.remove("cwd");
            }
        }),
        ("inv-ns-path-relative", false, |c| {
            c["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network", "path": "proc/1/ns/net"}])
        }),
        ("inv-ann-empty-key", false, |c| {
            c["annotations"] = json!({"": "x"})
        }),
        ("inv-ann-nonstring", false, |c| {
            c["annotations"] = json!({"org.example.number": 42})
        }),
    ];
    for (key, at_start, m) in list {
        if g.expired() {
            g.fail(key, "group deadline passed");
            continue;
        }
        let mut b = g.bundle(key);
        m(&mut b.config);
        b.valid = false;
        let r = g.expect_error(&mut b, at_start);
        g.check(key, r.map_err(|e| clip(&e, 300)));
    }
}
