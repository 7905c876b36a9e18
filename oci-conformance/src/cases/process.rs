//! config.md process properties: terminal, rlimits, capabilities,
//! noNewPrivileges, oomScoreAdj, scheduler, ioPriority.

use super::*;
use crate::bundle::caps_mask;
use crate::suite::{c, Outcome, Report};
use crate::unixsock;
use serde_json::json;

const RL: &[(&str, i32, u64, u64)] = &[
    ("RLIMIT_CPU", 0, 3600, 7200),
    ("RLIMIT_FSIZE", 1, 1 << 30, 1 << 31),
    ("RLIMIT_DATA", 2, 1 << 36, 1 << 37),
    ("RLIMIT_STACK", 3, 12 << 20, 16 << 20),
    ("RLIMIT_CORE", 4, 4096, 8192),
    ("RLIMIT_RSS", 5, 1 << 30, 1 << 31),
    ("RLIMIT_NPROC", 6, 4096, 8192),
    ("RLIMIT_NOFILE", 7, 1000, 4000),
    ("RLIMIT_MEMLOCK", 8, 65536, 1 << 20),
    ("RLIMIT_AS", 9, 1 << 40, 1 << 41),
    ("RLIMIT_LOCKS", 10, 1000, 2000),
    ("RLIMIT_SIGPENDING", 11, 1000, 2000),
    ("RLIMIT_MSGQUEUE", 12, 409600, 819200),
    ("RLIMIT_NICE", 13, 5, 10),
    ("RLIMIT_RTPRIO", 14, 1, 2),
    ("RLIMIT_RTTIME", 15, 1_000_000, 2_000_000),
];

pub fn groups() -> Vec<Group> {
    vec![
        Group {
            name: "rlimits",
            cases: vec![
                c("RLIMIT_CPU", "config#posix-process", "rlimits RLIMIT_CPU soft/hard are applied"),
                c("RLIMIT_FSIZE", "config#posix-process", "rlimits RLIMIT_FSIZE soft/hard are applied"),
                c("RLIMIT_DATA", "config#posix-process", "rlimits RLIMIT_DATA soft/hard are applied"),
                c("RLIMIT_STACK", "config#posix-process", "rlimits RLIMIT_STACK soft/hard are applied"),
                c("RLIMIT_CORE", "config#posix-process", "rlimits RLIMIT_CORE soft/hard are applied"),
                c("RLIMIT_RSS", "config#posix-process", "rlimits RLIMIT_RSS soft/hard are applied"),
                c("RLIMIT_NPROC", "config#posix-process", "rlimits RLIMIT_NPROC soft/hard are applied"),
                c("RLIMIT_NOFILE", "config#posix-process", "rlimits RLIMIT_NOFILE soft/hard are applied"),
                c("RLIMIT_MEMLOCK", "config#posix-process", "rlimits RLIMIT_MEMLOCK soft/hard are applied"),
                c("RLIMIT_AS", "config#posix-process", "rlimits RLIMIT_AS soft/hard are applied"),
                c("RLIMIT_LOCKS", "config#posix-process", "rlimits RLIMIT_LOCKS soft/hard are applied"),
                c("RLIMIT_SIGPENDING", "config#posix-process", "rlimits RLIMIT_SIGPENDING soft/hard are applied"),
                c("RLIMIT_MSGQUEUE", "config#posix-process", "rlimits RLIMIT_MSGQUEUE soft/hard are applied"),
                c("RLIMIT_NICE", "config#posix-process", "rlimits RLIMIT_NICE soft/hard are applied"),
                c("RLIMIT_RTPRIO", "config#posix-process", "rlimits RLIMIT_RTPRIO soft/hard are applied"),
                c("RLIMIT_RTTIME", "config#posix-process", "rlimits RLIMIT_RTTIME soft/hard are applied"),
            ],
            run: rlimits,
        },
        Group {
            name: "rlimit-errors",
            cases: vec![
                c("rl-unknown", "config#posix-process", "an rlimit type with no kernel mapping generates an error"),
                c("rl-dup", "config#posix-process", "duplicated rlimit types generate an error"),
                c("rl-raise-hard", "config#posix-process", "a hard limit above the runtime's own (no CAP_SYS_RESOURCE) generates an error"),
            ],
            run: rlimit_errors,
        },
        Group {
            name: "caps-root",
            cases: vec![
                c("bounding", "config#linux-process", "capabilities.bounding is the bounding set"),
                c("inheritable", "config#linux-process", "capabilities.inheritable is the inheritable set"),
                c("root-eff", "config#linux-process", "uid 0 after execve: effective/permitted = bounding | inheritable (capabilities(7))"),
                c("nnp-true", "config#linux-process", "noNewPrivileges true sets no_new_privs"),
            ],
            run: caps_root,
        },
        Group {
            name: "caps-ambient",
            cases: vec![
                c("ambient", "config#linux-process", "capabilities.ambient is the ambient set (non-root user)"),
                c("amb-effective", "config#linux-process", "non-root after execve: effective/permitted = ambient (capabilities(7))"),
                c("amb-inh-bnd", "config#linux-process", "non-root user: inheritable and bounding sets as configured"),
            ],
            run: caps_ambient,
        },
        Group {
            name: "caps-warnings",
            cases: vec![
                c("cap-unknown", "config#linux-process", "an unknown capability name is only a warning: the container runs"),
                c("cap-ungrantable", "config#linux-process", "a capability the runtime cannot grant (CAP_SYS_RESOURCE here) should not fail the container"),
            ],
            run: caps_warnings,
        },
        Group {
            name: "oom-score",
            cases: vec![
                c("oom-unset", "config#linux-process", "oomScoreAdj unset: oom_score_adj is inherited unchanged from the runtime"),
                c("oom-denied", "config#linux-process", "an oomScoreAdj that cannot be set (negative, no CAP_SYS_RESOURCE) generates an error"),
            ],
            run: oom,
        },
        Group {
            name: "scheduler",
            cases: vec![
                c("sched-policy", "config#linux-process", "scheduler.policy SCHED_BATCH is applied"),
                c("sched-nice", "config#linux-process", "scheduler.nice is applied"),
            ],
            run: scheduler,
        },
        Group {
            name: "io-priority",
            cases: vec![c("ioprio", "config#linux-process", "ioPriority class/priority are applied (IOPRIO_CLASS_BE, 6)")],
            run: io_priority,
        },
        Group {
            name: "terminal",
            cases: vec![
                c("terminal", "config#process", "terminal true: stdin, stdout and stderr are a pseudoterminal"),
                c("console-size", "config#process", "consoleSize is applied to the terminal"),
                c("dev-console", "config-linux#default-devices", "/dev/console is the process's pseudoterminal when terminal is true"),
            ],
            run: terminal,
        },
    ]
}

fn rlimits(g: &mut G) {
    let host = g.s.host.rlimits.clone();
    let mut chosen = Vec::new();
    for (name, r, soft, hard) in RL {
        let (cs, ch) = host.get(r).copied().unwrap_or((0, 0));
        let hard2 = (*hard).min(ch);
        let soft2 = (*soft).min(hard2);
        chosen.push((*name, soft2, hard2, (cs, ch)));
    }
    let mut b = g.bundle("rlimits");
    b.config["process"]["rlimits"] = json!(chosen
        .iter()
        .map(|(n, s, h, _)| json!({"type": n, "soft": s, "hard": h}))
        .collect::<Vec<_>>());
    let Some(rep) = g.checker_or_fail_rest(&mut b, &[]) else { return };
    for (name, s, h, (cs, ch)) in chosen {
        let got = &rep.v["rlimits"][name];
        let ok = got[0].as_u64() == Some(s) && got[1].as_u64() == Some(h);
        if ok && s == cs && h == ch {
            g.skip(name, format!("host hard limit {} leaves no value that differs from the inherited one (no CAP_SYS_RESOURCE)", ch));
        } else {
            g.check(
                name,
                ensure(ok, || {
                    format!("getrlimit gives {} (want [{}, {}])", got, s, h)
                }),
            );
        }
    }
}

fn rlimit_errors(g: &mut G) {
    let mut b = g.bundle("rl-unknown");
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_OCI_BOGUS", "soft": 1, "hard": 1}]);
    b.valid = false;
    expect_error_case(g, "rl-unknown", &mut b, true);
    let mut b = g.bundle("rl-dup");
    b.config["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}, {"type": "RLIMIT_NOFILE", "soft": 300, "hard": 400}]);
    expect_error_case(g, "rl-dup", &mut b, true);
    let (_, hard) = g.s.host.rlimits.get(&7).copied().unwrap_or((0, u64::MAX));
    if g.s.host.has_sys_resource || hard == u64::MAX {
        g.skip("rl-raise-hard", "the runner has CAP_SYS_RESOURCE or an unlimited RLIMIT_NOFILE: any hard limit can be set");
    } else {
        let mut b = g.bundle("rl-raise");
        b.config["process"]["rlimits"] =
            json!([{"type": "RLIMIT_NOFILE", "soft": hard + 1, "hard": hard + 1}]);
        expect_error_case(g, "rl-raise-hard", &mut b, true);
    }
}

fn caps_root(g: &mut G) {
    let bnd = [
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FOWNER",
        "CAP_KILL",
        "CAP_SETUID",
        "CAP_SETGID",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_AUDIT_WRITE",
    ];
    let inh = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let mut b = g.bundle("caps-root");
    b.config["process"]["capabilities"] = json!({"bounding": bnd, "effective": bnd, "permitted": bnd, "inheritable": inh, "ambient": []});
    b.config["process"]["noNewPrivileges"] = json!(true);
    let Some(rep) = g.checker_or_fail_rest(&mut b, &[]) else { return };
    let (mb, mi) = (caps_mask(&bnd), caps_mask(&inh));
    let show = |r: &Report| {
        format!(
            "CapBnd {:?} CapInh {:?} CapPrm {:?} CapEff {:?}",
            r.status("CapBnd"),
            r.status("CapInh"),
            r.status("CapPrm"),
            r.status("CapEff")
        )
    };
    g.check(
        "bounding",
        ensure(rep.cap("CapBnd") == Some(mb), || {
            format!("{} (want {:016x})", show(&rep), mb)
        }),
    );
    g.check(
        "inheritable",
        ensure(rep.cap("CapInh") == Some(mi), || {
            format!("{} (want {:016x})", show(&rep), mi)
        }),
    );
    g.check(
        "root-eff",
        ensure(
            rep.cap("CapEff") == Some(mb | mi) && rep.cap("CapPrm") == Some(mb | mi),
            || format!("{} (want {:016x})", show(&rep), mb | mi),
        ),
    );
    g.check(
        "nnp-true",
        ensure(
            rep.v["no_new_privs"] == 1 && rep.status("NoNewPrivs") == Some("1"),
            || format!("no_new_privs {}", rep.v["no_new_privs"]),
        ),
    );
}

fn caps_ambient(g: &mut G) {
    let bnd = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_BIND_SERVICE",
        "CAP_NET_RAW",
        "CAP_SETUID",
    ];
    let prm = ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_NET_RAW"];
    let inh = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let amb = ["CAP_NET_BIND_SERVICE"];
    let eff = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
    let mut b = g.bundle("caps-amb");
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.config["process"]["capabilities"] = json!({"bounding": bnd, "effective": eff, "permitted": prm, "inheritable": inh, "ambient": amb});
    let Some(rep) = g.checker_or_fail_rest(&mut b, &[]) else { return };
    let ma = caps_mask(&amb);
    let show = |r: &Report| {
        format!(
            "CapBnd {:?} CapInh {:?} CapPrm {:?} CapEff {:?} CapAmb {:?}",
            r.status("CapBnd"),
            r.status("CapInh"),
            r.status("CapPrm"),
            r.status("CapEff"),
            r.status("CapAmb")
        )
    };
    g.check(
        "ambient",
        ensure(rep.cap("CapAmb") == Some(ma), || {
            format!("{} (want ambient {:016x})", show(&rep), ma)
        }),
    );
    g.check(
        "amb-effective",
        ensure(
            rep.cap("CapEff") == Some(ma) && rep.cap("CapPrm") == Some(ma),
            || show(&rep),
        ),
    );
    g.check(
        "amb-inh-bnd",
        ensure(
            rep.cap("CapInh") == Some(caps_mask(&inh))
                && rep.cap("CapBnd") == Some(caps_mask(&bnd)),
            || show(&rep),
        ),
    );
}

fn caps_warnings(g: &mut G) {
    let mut b = g.bundle("cap-unknown");
    let caps = json!(["CAP_KILL", "CAP_OCI_CONFORMANCE_BOGUS", "CAP_CHOWN"]);
    b.config["process"]["capabilities"] =
        json!({"bounding": caps, "effective": caps, "permitted": caps});
    b.valid = false;
    let r = g.run_checker(&mut b, &[]).and_then(|rep| {
        let m = caps_mask(&["CAP_KILL", "CAP_CHOWN"]);
        ensure(rep.cap("CapBnd") == Some(m), || {
            format!("container ran but CapBnd is {:?}", rep.status("CapBnd"))
        })
    });
    g.check("cap-unknown", r);
    if g.s.host.has_sys_resource {
        g.skip(
            "cap-ungrantable",
            "the runner has CAP_SYS_RESOURCE; no capability is ungrantable here",
        );
    } else {
        let mut b = g.bundle("cap-ungrantable");
        let caps = json!(["CAP_KILL", "CAP_SYS_RESOURCE", "CAP_CHOWN"]);
        b.config["process"]["capabilities"] =
            json!({"bounding": caps, "effective": caps, "permitted": caps});
        let r = g.run_checker(&mut b, &[]).map(|_| ());
        g.check("cap-ungrantable", r);
    }
}

fn oom(g: &mut G) {
    let inherited = g.s.host.oom_score_adj.max(0) + 77;
    let mut b = g.bundle("oom-unset");
    b.checker(&[]);
    let o = g.create_opts(&mut b, None, Some(inherited));
    if !o.ok() {
        g.fail("oom-unset", format!("create failed: {}", o.brief()));
        let _ = g.delete_force(&b.id);
    } else {
        let s = g.start_oom(&b.id, Some(inherited));
        let _ = g.wait_exit(&b, Duration::from_secs(10));
        let rep = Report::parse(&b.output());
        let _ = g.delete_force(&b.id);
        g.check(
            "oom-unset",
            match rep {
                Some(r) => ensure(r.v["oom_score_adj"] == inherited, || {
                    format!(
                        "oom_score_adj {} (runtime ran with {})",
                        r.v["oom_score_adj"], inherited
                    )
                }),
                None => Err(format!("no report; start: {}", s.brief())),
            },
        );
    }
    if g.s.host.has_sys_resource || g.s.host.oom_score_adj <= -500 {
        g.skip(
            "oom-denied",
            "the runner may lower oom_score_adj (CAP_SYS_RESOURCE present)",
        );
    } else {
        let mut b = g.bundle("oom-neg");
        b.config["process"]["oomScoreAdj"] = json!(-500);
        expect_error_case(g, "oom-denied", &mut b, true);
    }
}

fn scheduler(g: &mut G) {
    let mut b = g.bundle("sched");
    b.config["process"]["scheduler"] = json!({"policy": "SCHED_BATCH", "nice": 7});
    match g.run_checker(&mut b, &[]) {
        Ok(rep) => {
            let s = &rep.v["sched"];
            g.check(
                "sched-policy",
                ensure(s["policy"] == 3, || {
                    format!("sched_getscheduler = {} (SCHED_BATCH is 3)", s["policy"])
                }),
            );
            g.check(
                "sched-nice",
                ensure(s["nice"] == 7, || format!("nice = {}", s["nice"])),
            );
        }
        Err(e) => g.fail_rest(&e),
    }
}

fn io_priority(g: &mut G) {
    let mut b = g.bundle("ioprio");
    b.config["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 6});
    match g.run_checker(&mut b, &[]) {
        Ok(rep) => {
            let want = (2 << 13) | 6;
            g.check(
                "ioprio",
                ensure(rep.v["sched"]["ioprio"] == want, || {
                    format!("ioprio_get = {} (want {})", rep.v["sched"]["ioprio"], want)
                }),
            );
        }
        Err(e) => g.fail_rest(&e),
    }
}

fn terminal(g: &mut G) {
    let mut b = g.bundle("tty");
    b.config["process"]["terminal"] = json!(true);
    b.config["process"]["consoleSize"] = json!({"height": 27, "width": 91});
    b.checker(&["--stat", "/dev/console"]);
    let sock = b.dir.join("console.sock");
    let listener = match unixsock::listen(&sock) {
        Ok(l) => l,
        Err(e) => {
            g.fail_rest(&e);
            return;
        }
    };
    // receive the pty master in a thread while create runs
    let (tx, rx) = std::sync::mpsc::channel();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop2 = stop.clone();
    let th = std::thread::spawn(move || {
        let fd = match unixsock::accept(&listener, Duration::from_secs(20), &stop2) {
            Ok(fd) => fd,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        };
        let (_name, fds, _) = unixsock::recv_all(fd, Duration::from_secs(10));
        unixsock::close(fd);
        match fds.first() {
            None => {
                let _ = tx.send(Err(
                    "no file descriptor received on the console socket".to_string()
                ));
            }
            Some(&m) => {
                for extra in &fds[1..] {
                    unixsock::close(*extra);
                }
                let _ = tx.send(Ok(m));
                let out = unixsock::drain(m, Duration::from_secs(20), |o| {
                    String::from_utf8_lossy(o).contains("@@OCI-CHECKER-END@@")
                });
                unixsock::close(m);
                let _ = tx.send(Err(String::from_utf8_lossy(&out).into_owned()));
            }
        }
    });
    let o = g.create_opts(&mut b, Some(&sock), None);
    if !o.ok() {
        g.fail_rest(&format!("create failed: {}", o.brief()));
        let _ = g.delete_force(&b.id);
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = th.join();
        return;
    }
    // the runtime sends the pty master during create
    let master = rx.recv_timeout(Duration::from_secs(3));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let s = g.start(&b.id);
    let text = match master {
        Ok(Ok(_)) => rx
            .recv_timeout(Duration::from_secs(25))
            .ok()
            .and_then(|r| r.err())
            .unwrap_or_default(),
        Ok(Err(e)) => e,
        Err(_) => "console socket thread did not answer".into(),
    };
    let _ = g.wait_exit(&b, Duration::from_secs(10));
    g.destroy(&b);
    let _ = th.join();
    let rep = match Report::parse(&text) {
        Some(r) => r,
        None => {
            g.fail_rest(&format!(
                "no checker report on the pty (start: {}): {}",
                s.brief(),
                crate::suite::clip(&text, 200)
            ));
            return;
        }
    };
    let t = &rep.v["tty"];
    g.check(
        "terminal",
        ensure(
            t["isatty0"] == true && t["isatty1"] == true && t["isatty2"] == true,
            || format!("tty: {}", t),
        ),
    );
    g.check(
        "console-size",
        ensure(t["rows"] == 27 && t["cols"] == 91, || {
            format!("window size rows {} cols {}", t["rows"], t["cols"])
        }),
    );
    let con = rep.probe(0);
    let pts_n: Option<i64> = t["stdin"]
        .as_str()
        .and_then(|s| s.strip_prefix("/dev/pts/"))
        .and_then(|n| n.parse().ok());
    g.set(
        "dev-console",
        Outcome::from(ensure(
            con["type"] == "c"
                && con["major"] == 136
                && pts_n.is_some()
                && con["minor"].as_i64() == pts_n,
            || format!("/dev/console: {}; stdin: {}", con, t["stdin"]),
        )),
    );
}
