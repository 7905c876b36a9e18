//! config-linux.md#seccomp: actions, errno returns, argument operators, default
//! action, the seccomp agent protocol (listenerPath) and error cases.  The
//! checker performs each probe syscall in a forked child and reports its
//! return value, errno, or the signal that killed it.

use super::*;
use crate::suite::{c, clip};
use crate::syscalls::SYSCALLS_X86_64;
use crate::unixsock;
use serde_json::{json, Value};

pub fn groups() -> Vec<Group> {
    vec![
        Group {
            name: "seccomp-actions",
            cases: vec![
                c(
                    "sc-filter",
                    "config-linux#seccomp",
                    "a seccomp filter is installed for the process",
                ),
                c(
                    "sc-errno",
                    "config-linux#seccomp",
                    "SCMP_ACT_ERRNO without errnoRet fails the syscall with EPERM",
                ),
                c(
                    "sc-errnoret",
                    "config-linux#seccomp",
                    "errnoRet is the errno returned by SCMP_ACT_ERRNO",
                ),
                c(
                    "sc-kill",
                    "config-linux#seccomp",
                    "SCMP_ACT_KILL kills the caller (SIGSYS)",
                ),
                c(
                    "sc-kill-process",
                    "config-linux#seccomp",
                    "SCMP_ACT_KILL_PROCESS kills the process (SIGSYS)",
                ),
                c(
                    "sc-kill-thread",
                    "config-linux#seccomp",
                    "SCMP_ACT_KILL_THREAD kills the thread (SIGSYS)",
                ),
                c(
                    "sc-trap",
                    "config-linux#seccomp",
                    "SCMP_ACT_TRAP raises a catchable SIGSYS",
                ),
                c(
                    "sc-log",
                    "config-linux#seccomp",
                    "SCMP_ACT_LOG lets the syscall run",
                ),
                c(
                    "sc-trace",
                    "config-linux#seccomp",
                    "SCMP_ACT_TRACE without a tracer skips the syscall (ENOSYS)",
                ),
                c(
                    "sc-allow-default",
                    "config-linux#seccomp",
                    "syscalls matched by no rule follow defaultAction SCMP_ACT_ALLOW",
                ),
                c(
                    "sc-eq",
                    "config-linux#seccomp",
                    "args op SCMP_CMP_EQ matches only the equal value",
                ),
                c(
                    "sc-ne",
                    "config-linux#seccomp",
                    "args op SCMP_CMP_NE matches only other values",
                ),
                c(
                    "sc-lt",
                    "config-linux#seccomp",
                    "args op SCMP_CMP_LT matches smaller values only",
                ),
                c(
                    "sc-le",
                    "config-linux#seccomp",
                    "args op SCMP_CMP_LE matches smaller or equal values only",
                ),
                c(
                    "sc-gt",
                    "config-linux#seccomp",
                    "args op SCMP_CMP_GT matches greater values only",
                ),
                c(
                    "sc-ge",
                    "config-linux#seccomp",
                    "args op SCMP_CMP_GE matches greater or equal values only",
                ),
                c(
                    "sc-masked-eq",
                    "config-linux#seccomp",
                    "args op SCMP_CMP_MASKED_EQ compares (arg & value) with valueTwo",
                ),
            ],
            run: actions,
        },
        Group {
            name: "seccomp-default",
            cases: vec![
                c(
                    "sc-default-errno",
                    "config-linux#seccomp",
                    "defaultAction SCMP_ACT_ERRNO applies to syscalls matched by no rule",
                ),
                c(
                    "sc-default-errnoret",
                    "config-linux#seccomp",
                    "defaultErrnoRet is the errno of defaultAction SCMP_ACT_ERRNO",
                ),
                c(
                    "sc-default-eperm",
                    "config-linux#seccomp",
                    "defaultAction SCMP_ACT_ERRNO without defaultErrnoRet returns EPERM",
                ),
            ],
            run: default_action,
        },
        Group {
            name: "seccomp-errors",
            cases: vec![
                c(
                    "sc-errnoret-default-unsupported",
                    "config-linux#seccomp",
                    "defaultErrnoRet with a defaultAction that has no errno generates an error",
                ),
                c(
                    "sc-errnoret-unsupported",
                    "config-linux#seccomp",
                    "errnoRet on an action that has no errno (SCMP_ACT_KILL) generates an error",
                ),
                c(
                    "sc-empty-names",
                    "config-linux#seccomp",
                    "a syscalls entry with empty names (at least one REQUIRED) generates an error",
                ),
            ],
            run: errors,
        },
        Group {
            name: "seccomp-flags",
            cases: vec![c(
                "sc-flags",
                "config-linux#seccomp",
                "seccomp flags SECCOMP_FILTER_FLAG_LOG and SPEC_ALLOW are accepted",
            )],
            run: flags,
        },
        Group {
            name: "seccomp-notify",
            cases: vec![
                c(
                    "sc-notify-state",
                    "config-linux#the-container-process-state",
                    "the listener receives the container process state (ociVersion, pid, state)",
                ),
                c(
                    "sc-notify-fds",
                    "config-linux#the-container-process-state",
                    "exactly one seccompFd is sent with SCM_RIGHTS and named in fds",
                ),
                c(
                    "sc-notify-metadata",
                    "config-linux#seccomp",
                    "listenerMetadata is sent as metadata",
                ),
                c(
                    "sc-notify-works",
                    "config-linux#seccomp",
                    "SCMP_ACT_NOTIFY syscalls are delivered to the agent on seccompFd",
                ),
                c(
                    "sc-notify-nosocket",
                    "config-linux#seccomp",
                    "a listenerPath nobody listens on (sending fails) generates an error",
                ),
            ],
            run: notify,
        },
    ]
}

fn errno_rule(name: &str, op: &str, value: u64, value_two: Option<u64>) -> Value {
    let mut a = json!({"index": 0, "value": value, "op": op});
    if let Some(v2) = value_two {
        a["valueTwo"] = json!(v2);
    }
    json!({"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": 71, "args": [a]})
}

fn probe_errno(p: &Value) -> Option<i64> {
    if p["ret"] == -1 {
        p["errno"].as_i64()
    } else {
        None
    }
}

fn actions(g: &mut G) {
    let mut b = g.bundle("seccomp");
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": [
            {"names": ["getpriority"], "action": "SCMP_ACT_ERRNO"},
            {"names": ["ioprio_get"], "action": "SCMP_ACT_ERRNO", "errnoRet": 42},
            {"names": ["sysinfo"], "action": "SCMP_ACT_KILL"},
            {"names": ["times"], "action": "SCMP_ACT_KILL_PROCESS"},
            {"names": ["getcpu"], "action": "SCMP_ACT_KILL_THREAD"},
            {"names": ["getpgrp"], "action": "SCMP_ACT_TRAP"},
            {"names": ["sched_getscheduler"], "action": "SCMP_ACT_LOG"},
            {"names": ["sched_get_priority_max"], "action": "SCMP_ACT_TRACE"},
            errno_rule("getpgid", "SCMP_CMP_EQ", 424242, None),
            errno_rule("getsid", "SCMP_CMP_NE", 0, None),
            errno_rule("sched_getparam", "SCMP_CMP_LT", 424242, None),
            errno_rule("sched_rr_get_interval", "SCMP_CMP_LE", 424242, None),
            errno_rule("sched_getaffinity", "SCMP_CMP_GT", 424242, None),
            errno_rule("kcmp", "SCMP_CMP_GE", 424242, None),
            errno_rule("get_robust_list", "SCMP_CMP_MASKED_EQ", 0xff0000, Some(0x420000))
        ]
    });
    let probes: Vec<&str> = vec![
        "getpriority:0:0",
        "ioprio_get:1:0",
        "sysinfo:buf",
        "times:buf",
        "getcpu:buf:buf:0",
        "getpgrp",
        "sched_getscheduler:0",
        "sched_get_priority_max:1",
        "getpgid:424242",
        "getpgid:424243",
        "getsid:0",
        "getsid:424242",
        "sched_getparam:424241:buf",
        "sched_getparam:424242:buf",
        "sched_rr_get_interval:424242:buf",
        "sched_rr_get_interval:424243:buf",
        "sched_getaffinity:424243:128:buf",
        "sched_getaffinity:424242:128:buf",
        "kcmp:424242:424242:0:0:0",
        "kcmp:424241:424241:0:0:0",
        "get_robust_list:0x420001:buf:buf",
        "get_robust_list:0x430001:buf:buf",
        "getppid",
    ];
    let mut args = Vec::new();
    for p in &probes {
        args.push("--syscall");
        args.push(p);
    }
    let Some(rep) = g.checker_or_fail_rest(&mut b, &args) else { return };
    let p = |i: usize| rep.probe(i).clone();
    let show = |i: usize| format!("{}: {}", probes[i], rep.probe(i));
    g.check(
        "sc-filter",
        ensure(rep.status("Seccomp") == Some("2"), || {
            format!("Seccomp: {:?}", rep.status("Seccomp"))
        }),
    );
    g.check(
        "sc-errno",
        ensure(probe_errno(&p(0)) == Some(1), || show(0)),
    );
    g.check(
        "sc-errnoret",
        ensure(probe_errno(&p(1)) == Some(42), || show(1)),
    );
    g.check("sc-kill", ensure(p(2)["signal"] == 31, || show(2)));
    g.check("sc-kill-process", ensure(p(3)["signal"] == 31, || show(3)));
    g.check("sc-kill-thread", ensure(p(4)["signal"] == 31, || show(4)));
    g.check("sc-trap", ensure(p(5)["trapped"] == true, || show(5)));
    g.check(
        "sc-log",
        ensure(p(6)["ret"] == 0 && p(6)["exit"] == 0, || show(6)),
    );
    g.check(
        "sc-trace",
        ensure(probe_errno(&p(7)) == Some(38), || show(7)),
    );
    g.check(
        "sc-allow-default",
        ensure(
            p(22)["ret"].as_i64().map(|r| r > 0).unwrap_or(false),
            || show(22),
        ),
    );
    let pair = |m: usize, n: usize| -> Result<(), String> {
        ensure(
            probe_errno(&p(m)) == Some(71) && probe_errno(&p(n)) == Some(3),
            || format!("{}; {} (want errno 71 then ESRCH)", show(m), show(n)),
        )
    };
    g.check("sc-eq", pair(8, 9));
    g.check(
        "sc-ne",
        ensure(
            p(10)["ret"].as_i64().map(|r| r > 0).unwrap_or(false)
                && probe_errno(&p(11)) == Some(71),
            || format!("{}; {}", show(10), show(11)),
        ),
    );
    g.check("sc-lt", pair(12, 13));
    g.check("sc-le", pair(14, 15));
    g.check("sc-gt", pair(16, 17));
    g.check("sc-ge", pair(18, 19));
    g.check("sc-masked-eq", pair(20, 21));
}

fn allow_all_but(skip: &[&str]) -> Vec<&'static str> {
    SYSCALLS_X86_64
        .iter()
        .copied()
        .filter(|s| !skip.contains(s))
        .collect()
}

fn default_action(g: &mut G) {
    let names = allow_all_but(&["getpriority"]);
    let mut b = g.bundle("seccomp-default");
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 95,
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]
    });
    match g.run_checker(&mut b, &["--syscall", "getpriority:0:0"]) {
        Ok(rep) => {
            let e = probe_errno(rep.probe(0));
            g.check(
                "sc-default-errno",
                ensure(e.is_some(), || format!("getpriority: {}", rep.probe(0))),
            );
            g.check(
                "sc-default-errnoret",
                ensure(e == Some(95), || format!("getpriority: {}", rep.probe(0))),
            );
        }
        Err(e) => g.fail_keys(&["sc-default-errno", "sc-default-errnoret"], &clip(&e, 400)),
    }
    let mut b = g.bundle("seccomp-default-eperm");
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]
    });
    let r = g
        .run_checker(&mut b, &["--syscall", "getpriority:0:0"])
        .and_then(|rep| {
            ensure(probe_errno(rep.probe(0)) == Some(1), || {
                format!("getpriority: {}", rep.probe(0))
            })
        });
    g.check("sc-default-eperm", r.map_err(|e| clip(&e, 400)));
}

fn errors(g: &mut G) {
    let mut b = g.bundle("sc-err-default");
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 5, "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO"}]});
    expect_error_case(g, "sc-errnoret-default-unsupported", &mut b, false);
    let mut b = g.bundle("sc-err-rule");
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["sysinfo"], "action": "SCMP_ACT_KILL", "errnoRet": 5}]});
    expect_error_case(g, "sc-errnoret-unsupported", &mut b, false);
    let mut b = g.bundle("sc-empty-names");
    b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": [], "action": "SCMP_ACT_ERRNO"}]});
    b.valid = false;
    expect_error_case(g, "sc-empty-names", &mut b, false);
}

fn flags(g: &mut G) {
    let mut b = g.bundle("sc-flags");
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO"}]
    });
    let r = g
        .run_checker(&mut b, &["--syscall", "getpriority:0:0"])
        .and_then(|rep| {
            ensure(probe_errno(rep.probe(0)) == Some(1), || {
                format!("filter not active: {}", rep.probe(0))
            })
        });
    g.check("sc-flags", r);
}

const NOTIF_RECV: u64 = 0xC050_2100;
const NOTIF_SEND: u64 = 0xC018_2101;

struct AgentResult {
    data: Vec<u8>,
    nfds: usize,
    msgs_with_fds: usize,
    notified_nr: Option<i32>,
    error: Option<String>,
}

fn agent(
    listener: std::os::unix::net::UnixListener,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> AgentResult {
    let mut res = AgentResult {
        data: vec![],
        nfds: 0,
        msgs_with_fds: 0,
        notified_nr: None,
        error: None,
    };
    let conn = match unixsock::accept(&listener, Duration::from_secs(30), &stop) {
        Ok(c) => c,
        Err(e) => {
            res.error = Some(e);
            return res;
        }
    };
    let (data, fds, m) = unixsock::recv_all(conn, Duration::from_secs(10));
    unixsock::close(conn);
    res.data = data;
    res.nfds = fds.len();
    res.msgs_with_fds = m;
    let Some(&nfd) = fds.first() else {
        res.error = Some("no file descriptor received".into());
        return res;
    };
    for f in &fds[1..] {
        unixsock::close(*f);
    }
    // answer the first notification with errno 77
    let mut p = libc::pollfd {
        fd: nfd,
        events: libc::POLLIN,
        revents: 0,
    };
    if unsafe { libc::poll(&mut p, 1, 20_000) } > 0 {
        let mut notif = [0u8; 80];
        if unsafe { libc::ioctl(nfd, NOTIF_RECV as _, notif.as_mut_ptr()) } == 0 {
            let id = u64::from_ne_bytes(notif[0..8].try_into().unwrap_or([0; 8]));
            res.notified_nr = Some(i32::from_ne_bytes(
                notif[16..20].try_into().unwrap_or([0; 4]),
            ));
            let mut resp = [0u8; 24];
            resp[0..8].copy_from_slice(&id.to_ne_bytes());
            resp[16..20].copy_from_slice(&(-77i32).to_ne_bytes());
            unsafe { libc::ioctl(nfd, NOTIF_SEND as _, resp.as_mut_ptr()) };
        } else {
            res.error = Some(format!(
                "SECCOMP_IOCTL_NOTIF_RECV: {}",
                std::io::Error::last_os_error()
            ));
        }
    } else {
        res.error = Some("no seccomp notification arrived".into());
    }
    unixsock::close(nfd);
    res
}

fn notify(g: &mut G) {
    let mut b = g.bundle("sc-notify");
    let sock = b.dir.join("agent.sock");
    let listener = match unixsock::listen(&sock) {
        Ok(l) => l,
        Err(e) => {
            g.fail_rest(&e);
            return;
        }
    };
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": sock.to_string_lossy(),
        "listenerMetadata": "oci-conformance-metadata",
        "syscalls": [{"names": ["getsid"], "action": "SCMP_ACT_NOTIFY"}]
    });
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let th = std::thread::spawn(move || agent(listener, stop2));
    let rep = g.run_checker(&mut b, &["--syscall", "getsid:0"]);
    // the runtime connects during create; once the container is gone nobody will
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let ag = th.join().unwrap_or(AgentResult {
        data: vec![],
        nfds: 0,
        msgs_with_fds: 0,
        notified_nr: None,
        error: Some("agent thread failed".into()),
    });
    let text = String::from_utf8_lossy(&ag.data).into_owned();
    let st: Option<Value> = serde_json::from_str(text.trim()).ok();
    match &st {
        Some(v) => {
            let schema = state_schema(&v["state"]);
            let r = ensure(
                v["ociVersion"].is_string()
                    && v["pid"].as_i64().map(|p| p > 0).unwrap_or(false)
                    && v["state"]["id"] == b.id.as_str(),
                || format!("container process state: {}", clip(&text, 300)),
            )
            .and(schema);
            g.check("sc-notify-state", r);
            g.check(
                "sc-notify-fds",
                ensure(
                    ag.nfds == 1 && ag.msgs_with_fds == 1 && v["fds"] == json!(["seccompFd"]),
                    || {
                        format!(
                            "{} fd(s) in {} message(s); fds {}",
                            ag.nfds, ag.msgs_with_fds, v["fds"]
                        )
                    },
                ),
            );
            g.check(
                "sc-notify-metadata",
                ensure(v["metadata"] == "oci-conformance-metadata", || {
                    format!("metadata {}", v["metadata"])
                }),
            );
        }
        None => {
            let why = format!(
                "no container process state received ({}): {:?}",
                ag.error.clone().unwrap_or_default(),
                clip(&text, 200)
            );
            g.fail_keys(
                &["sc-notify-state", "sc-notify-fds", "sc-notify-metadata"],
                &why,
            );
        }
    }
    let r = match rep {
        Ok(rep) => ensure(
            probe_errno(rep.probe(0)) == Some(77) && ag.notified_nr == Some(124),
            || {
                format!(
                    "getsid: {}; agent saw syscall {:?} ({})",
                    rep.probe(0),
                    ag.notified_nr,
                    ag.error.clone().unwrap_or_default()
                )
            },
        ),
        Err(e) => Err(e),
    };
    g.check("sc-notify-works", r);
    let mut b = g.bundle("sc-notify-nosock");
    let missing = b.dir.join("nobody-listens.sock");
    b.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": missing.to_string_lossy(),
        "syscalls": [{"names": ["getsid"], "action": "SCMP_ACT_NOTIFY"}]
    });
    expect_error_case(g, "sc-notify-nosocket", &mut b, false);
}
