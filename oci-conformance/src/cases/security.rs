//! config-linux.md: masked/readonly paths, rootfs propagation, sysctl,
//! personality, memory policy, Intel RDT, network devices, LSM labels.

use super::*;
use crate::suite::{c, clip, mdesc, moptional, Outcome, Report};
use serde_json::json;
use std::fs;
use std::process::Command;

pub fn groups() -> Vec<Group> {
    vec![
        Group {
            name: "masked-readonly-paths",
            cases: vec![
                c(
                    "masked-proc-file",
                    "config-linux#masked-paths",
                    "a masked /proc file cannot be read (/proc/kcore)",
                ),
                c(
                    "masked-file",
                    "config-linux#masked-paths",
                    "a masked rootfs file cannot be read",
                ),
                c(
                    "masked-dir",
                    "config-linux#masked-paths",
                    "a masked directory's contents cannot be read",
                ),
                c(
                    "masked-sys-dir",
                    "config-linux#masked-paths",
                    "a masked /sys directory's contents cannot be read (/sys/firmware)",
                ),
                c(
                    "ro-proc",
                    "config-linux#readonly-paths",
                    "a readonly /proc path cannot be written (/proc/sys)",
                ),
                c(
                    "ro-dir",
                    "config-linux#readonly-paths",
                    "a readonly rootfs directory cannot be written",
                ),
            ],
            run: masked_readonly,
        },
        Group {
            name: "rootfs-propagation",
            cases: vec![
                c(
                    "prop-shared",
                    "config-linux#rootfs-mount-propagation",
                    "rootfsPropagation shared: the rootfs mount is in a peer group",
                ),
                c(
                    "prop-slave",
                    "config-linux#rootfs-mount-propagation",
                    "rootfsPropagation slave: the rootfs mount is a slave",
                ),
                c(
                    "prop-slave-events",
                    "config-linux#rootfs-mount-propagation",
                    "rootfsPropagation slave: a mount made on the host appears in the container",
                ),
                c(
                    "prop-private",
                    "config-linux#rootfs-mount-propagation",
                    "rootfsPropagation private: the rootfs mount is neither shared nor a slave",
                ),
                c(
                    "prop-private-events",
                    "config-linux#rootfs-mount-propagation",
                    "rootfsPropagation private: a mount made on the host does not appear",
                ),
                c(
                    "prop-unbindable",
                    "config-linux#rootfs-mount-propagation",
                    "rootfsPropagation unbindable: the rootfs mount is unbindable",
                ),
            ],
            run: rootfs_propagation,
        },
        Group {
            name: "sysctl",
            cases: vec![
                c(
                    "sysctl-ipfwd",
                    "config-linux#sysctl",
                    "a network sysctl is applied (net.ipv4.ip_forward)",
                ),
                c(
                    "sysctl-somaxconn",
                    "config-linux#sysctl",
                    "a network sysctl is applied (net.core.somaxconn)",
                ),
                c(
                    "sysctl-msgmax",
                    "config-linux#sysctl",
                    "an ipc sysctl is applied (kernel.msgmax)",
                ),
                c(
                    "sysctl-mqueue",
                    "config-linux#sysctl",
                    "an ipc sysctl is applied (fs.mqueue.queues_max)",
                ),
                c(
                    "sysctl-unknown",
                    "config-linux#sysctl",
                    "a sysctl that cannot be applied (no such key) generates an error",
                ),
            ],
            run: sysctl,
        },
        Group {
            name: "personality",
            cases: vec![
                c(
                    "pers-linux32",
                    "config-linux#personality",
                    "personality LINUX32 is applied (uname reports a 32-bit machine)",
                ),
                c(
                    "pers-linux",
                    "config-linux#personality",
                    "personality LINUX is applied",
                ),
                c(
                    "pers-invalid",
                    "config-linux#personality",
                    "an invalid personality domain generates an error",
                ),
            ],
            run: personality,
        },
        Group {
            name: "memory-policy",
            cases: vec![
                c(
                    "mpol-bind",
                    "config-linux#memory-policy",
                    "memoryPolicy MPOL_BIND with nodes is applied",
                ),
                c(
                    "mpol-invalid",
                    "config-linux#memory-policy",
                    "an invalid memoryPolicy mode generates an error",
                ),
            ],
            run: memory_policy,
        },
        Group {
            name: "intel-rdt",
            cases: vec![c(
                "rdt-nofs",
                "config-linux#intelrdt",
                "intelRdt without a mounted resctrl filesystem generates an error",
            )],
            run: intel_rdt,
        },
        Group {
            name: "net-devices",
            cases: vec![
                c(
                    "netdev-moved",
                    "config-linux#network-devices",
                    "a netDevices entry is moved into the container under its new name",
                ),
                c(
                    "netdev-up",
                    "config-linux#network-devices",
                    "a moved network device is up",
                ),
                c(
                    "netdev-addr",
                    "config-linux#network-devices",
                    "a moved network device keeps its permanent global addresses",
                ),
                c(
                    "netdev-missing",
                    "config-linux#network-devices",
                    "a netDevices entry for a device that does not exist generates an error",
                ),
                c(
                    "netdev-exists",
                    "config-linux#network-devices",
                    "a netDevices name that already exists in the container generates an error",
                ),
            ],
            run: net_devices,
        },
        Group {
            name: "lsm",
            cases: vec![
                c(
                    "apparmor",
                    "config#linux-process",
                    "apparmorProfile is applied",
                ),
                c("selinux", "config#linux-process", "selinuxLabel is applied"),
                c(
                    "mountlabel",
                    "config-linux#mount-label",
                    "mountLabel is applied to the container's mounts",
                ),
                c(
                    "selinux-absent",
                    "config#linux-process",
                    "choice: on a host without SELinux, selinuxLabel and mountLabel are ignored and the container runs, so a config written on an SELinux host runs anywhere (youki, hull; runc 1.1.5 and crun 1.8.1 refuse it)",
                ),
            ],
            run: lsm,
        },
    ]
}

fn masked_readonly(g: &mut G) {
    let mut b = g.bundle("masked");
    let r = b.dir.join("rootfs");
    let _ = fs::create_dir_all(r.join("oci-masked-dir"));
    let _ = fs::write(r.join("oci-masked-dir/secret"), "SECRET-IN-DIR\n");
    let _ = fs::write(r.join("oci-masked-file"), "SECRET-FILE\n");
    let _ = fs::create_dir_all(r.join("oci-ro-dir"));
    b.config["linux"]["maskedPaths"] = json!([
        "/proc/kcore",
        "/sys/firmware",
        "/oci-masked-dir",
        "/oci-masked-file"
    ]);
    b.config["linux"]["readonlyPaths"] = json!(["/proc/sys", "/oci-ro-dir"]);
    // a /proc/sys file the container's root could write if it were not read-only:
    // rootless, kernel.hostname belongs to the host's root (EACCES before EROFS),
    // net.ipv4.ip_forward to the container's own network namespace
    let ro_file = if g.s.rootless.is_some() {
        "/proc/sys/net/ipv4/ip_forward"
    } else {
        "/proc/sys/kernel/hostname"
    };
    let probes = [
        "--read",
        "/proc/kcore",
        "--read",
        "/oci-masked-file",
        "--readdir",
        "/oci-masked-dir",
        "--read",
        "/oci-masked-dir/secret",
        "--readdir",
        "/sys/firmware",
        "--open-w",
        ro_file,
        "--create",
        "/oci-ro-dir/x",
    ];
    let Some(rep) = g.checker_or_fail_rest(&mut b, &probes) else { return };
    let unreadable = |p: &serde_json::Value| p["ok"] == false || p["len"] == 0;
    let kc = rep.probe(0);
    g.check(
        "masked-proc-file",
        ensure(unreadable(kc), || {
            format!("read /proc/kcore: {}", clip(&kc.to_string(), 120))
        }),
    );
    let mf = rep.probe(1);
    g.check(
        "masked-file",
        ensure(
            unreadable(mf) && !mf["data"].as_str().unwrap_or("").contains("SECRET"),
            || format!("read: {}", mf),
        ),
    );
    let (md, ms) = (rep.probe(2), rep.probe(3));
    let listed = md["names"]
        .as_array()
        .map(|a| a.iter().any(|x| x == "secret"))
        .unwrap_or(false);
    g.check(
        "masked-dir",
        ensure(!listed && unreadable(ms), || {
            format!("readdir {}; read secret {}", md, ms)
        }),
    );
    let sf = rep.probe(4);
    g.check(
        "masked-sys-dir",
        ensure(
            sf["ok"] == false
                || sf["names"]
                    .as_array()
                    .map(|a| a.is_empty())
                    .unwrap_or(false),
            || format!("readdir /sys/firmware: {}", clip(&sf.to_string(), 160)),
        ),
    );
    let ph = rep.probe(5);
    g.check(
        "ro-proc",
        ensure(ph["ok"] == false && ph["errno"] == 30, || {
            format!("open {} for writing: {}", ro_file, ph)
        }),
    );
    let cr = rep.probe(6);
    g.check(
        "ro-dir",
        ensure(cr["ok"] == false && cr["errno"] == 30, || {
            format!("create in /oci-ro-dir: {}", cr)
        }),
    );
}

/// One rootfsPropagation run.  The bundle directory is bind-mounted onto itself
/// on the host; with `host_shared` that mount is made shared (as on hosts whose
/// / is shared), so that there is something to propagate from, and after start
/// a tmpfs with a marker file is mounted below the rootfs on the host.
fn prop_run(
    g: &mut G,
    mode: &str,
    wait_ms: u64,
    host_shared: bool,
) -> Result<(Report, bool), String> {
    let mut b = g.bundle(&format!("prop-{}", mode));
    let rootfs = b.dir.join("rootfs");
    let _ = fs::create_dir_all(rootfs.join("oci-evt"));
    // like a host whose / is shared (systemd): the bundle directory is a mount point
    let bd = b.dir.clone();
    let bs = bd.to_string_lossy().into_owned();
    g.host_mount(&bs, &bd, "", libc::MS_BIND | libc::MS_REC, "")?;
    if host_shared {
        g.host_mount("", &bd, "", libc::MS_SHARED, "")?;
    }
    b.config["linux"]["rootfsPropagation"] = json!(mode);
    let wait = format!("/oci-evt/marker:{}", wait_ms);
    b.checker(&["--wait-path", &wait]);
    let o = g.create(&mut b);
    if !o.ok() {
        let _ = g.delete_force(&b.id);
        return Err(format!("create failed: {}", o.brief()));
    }
    let o = g.start(&b.id);
    if !o.ok() {
        g.destroy(&b);
        return Err(format!("start failed: {}", o.brief()));
    }
    let evt = rootfs.join("oci-evt");
    let mounted = g.host_mount("tmpfs", &evt, "tmpfs", 0, "size=16k").is_ok();
    if mounted {
        let _ = fs::write(evt.join("marker"), "x");
    }
    let _ = g.wait_exit(&b, Duration::from_secs(wait_ms / 1000 + 10));
    let rep = Report::parse(&b.output());
    g.destroy(&b);
    let rep = rep.ok_or_else(|| format!("no checker report: {}", clip(&b.errput(), 200)))?;
    let seen = rep.probe(0)["ok"] == true;
    Ok((rep, seen))
}

fn root_mount(r: &Report) -> Result<&serde_json::Value, String> {
    r.mount("/").ok_or_else(|| "no / in mountinfo".to_string())
}

fn rootfs_propagation(g: &mut G) {
    match prop_run(g, "shared", 100, false) {
        Ok((r, _)) => {
            let res = root_mount(&r).and_then(|m| ensure(moptional(m, "shared:"), || mdesc(m)));
            g.check("prop-shared", res);
        }
        Err(e) => g.fail("prop-shared", e),
    }
    match prop_run(g, "slave", 5000, true) {
        Ok((r, seen)) => {
            let res = root_mount(&r).and_then(|m| {
                ensure(moptional(m, "master:") && !moptional(m, "shared:"), || {
                    mdesc(m)
                })
            });
            g.check("prop-slave", res);
            g.check(
                "prop-slave-events",
                ensure(seen, || {
                    "the host mount did not appear in the container within 5 s".into()
                }),
            );
        }
        Err(e) => g.fail_keys(&["prop-slave", "prop-slave-events"], &e),
    }
    match prop_run(g, "private", 1500, true) {
        Ok((r, seen)) => {
            let res = root_mount(&r).and_then(|m| {
                ensure(!moptional(m, "master:") && !moptional(m, "shared:"), || {
                    mdesc(m)
                })
            });
            g.check("prop-private", res);
            g.check(
                "prop-private-events",
                ensure(!seen, || "the host mount appeared in the container".into()),
            );
        }
        Err(e) => g.fail_keys(&["prop-private", "prop-private-events"], &e),
    }
    match prop_run(g, "unbindable", 100, false) {
        Ok((r, _)) => {
            let res = root_mount(&r).and_then(|m| ensure(moptional(m, "unbindable"), || mdesc(m)));
            g.check("prop-unbindable", res);
        }
        Err(e) => g.fail("prop-unbindable", e),
    }
}

fn sysctl(g: &mut G) {
    let mut b = g.bundle("sysctl");
    b.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "net.core.somaxconn": "1234", "kernel.msgmax": "12345", "fs.mqueue.queues_max": "123"});
    let files = [
        "/proc/sys/net/ipv4/ip_forward",
        "/proc/sys/net/core/somaxconn",
        "/proc/sys/kernel/msgmax",
        "/proc/sys/fs/mqueue/queues_max",
    ];
    let mut probes = Vec::new();
    for f in files {
        probes.push("--read");
        probes.push(f);
    }
    match g.run_checker(&mut b, &probes) {
        Ok(rep) => {
            for (i, (key, want)) in [
                ("sysctl-ipfwd", "1"),
                ("sysctl-somaxconn", "1234"),
                ("sysctl-msgmax", "12345"),
                ("sysctl-mqueue", "123"),
            ]
            .iter()
            .enumerate()
            {
                let p = rep.probe(i);
                g.check(
                    key,
                    ensure(
                        p["data"]
                            .as_str()
                            .map(|d| d.trim() == *want)
                            .unwrap_or(false),
                        || format!("{}: {}", files[i], p),
                    ),
                );
            }
        }
        Err(e) => g.fail_keys(
            &[
                "sysctl-ipfwd",
                "sysctl-somaxconn",
                "sysctl-msgmax",
                "sysctl-mqueue",
            ],
            &e,
        ),
    }
    let mut b = g.bundle("sysctl-unknown");
    b.config["linux"]["sysctl"] = json!({"net.ipv4.oci_conformance_no_such_key": "1"});
    expect_error_case(g, "sysctl-unknown", &mut b, false);
}

fn personality(g: &mut G) {
    let mut b = g.bundle("pers32");
    b.config["linux"]["personality"] = json!({"domain": "LINUX32"});
    let r = g.run_checker(&mut b, &[]).and_then(|rep| {
        let m = rep.v["uname"]["machine"].as_str().unwrap_or("").to_string();
        let p = rep.v["sched"]["personality"].as_i64().unwrap_or(-1);
        ensure((p & 0xff) == 0x0008 && m != "x86_64", || {
            format!("personality {:#x}, uname machine {:?}", p, m)
        })
    });
    g.check("pers-linux32", r);
    let mut b = g.bundle("pers");
    b.config["linux"]["personality"] = json!({"domain": "LINUX"});
    let r = g.run_checker(&mut b, &[]).and_then(|rep| {
        let p = rep.v["sched"]["personality"].as_i64().unwrap_or(-1);
        ensure((p & 0xff) == 0, || format!("personality {:#x}", p))
    });
    g.check("pers-linux", r);
    let mut b = g.bundle("pers-bad");
    b.config["linux"]["personality"] = json!({"domain": "LINUX64-OCI-BOGUS"});
    b.valid = false;
    expect_error_case(g, "pers-invalid", &mut b, false);
}

fn memory_policy(g: &mut G) {
    let mut b = g.bundle("mpol");
    b.config["linux"]["memoryPolicy"] = json!({"mode": "MPOL_BIND", "nodes": "0"});
    b.valid = false;
    let r = g.run_checker(&mut b, &[]).and_then(|rep| {
        let s = &rep.v["sched"];
        ensure(
            s["mempolicy_mode"] == 2
                && s["mempolicy_nodes"]
                    .as_u64()
                    .map(|n| n & 1 == 1)
                    .unwrap_or(false),
            || {
                format!(
                    "get_mempolicy mode {} nodes {} (MPOL_BIND is 2)",
                    s["mempolicy_mode"], s["mempolicy_nodes"]
                )
            },
        )
    });
    g.check("mpol-bind", r);
    let mut b = g.bundle("mpol-bad");
    b.config["linux"]["memoryPolicy"] = json!({"mode": "MPOL_OCI_BOGUS"});
    b.valid = false;
    expect_error_case(g, "mpol-invalid", &mut b, false);
}

fn intel_rdt(g: &mut G) {
    let resctrl_mounted = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .any(|l| l.contains(" - resctrl "));
    if resctrl_mounted {
        g.skip("rdt-nofs", "a resctrl filesystem is mounted on this host");
        return;
    }
    let mut b = g.bundle("rdt");
    b.config["linux"]["intelRdt"] = json!({"closID": "oci-conformance", "l3CacheSchema": "L3:0=f"});
    expect_error_case(g, "rdt-nofs", &mut b, false);
}

fn ip(g: &mut G, args: &[&str]) -> Result<String, String> {
    let mut cmd = Command::new("ip");
    cmd.args(args);
    let tmp = g.dir.join(".ip-out");
    let (st, out) = crate::proc::output(cmd, &tmp, Duration::from_secs(10))?;
    if st == 0 {
        Ok(out)
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            crate::proc::describe_status(st)
        ))
    }
}

fn net_devices(g: &mut G) {
    let mut b = g.bundle("netdev-missing");
    b.config["linux"]["netDevices"] = json!({"ocinosuchdev0": {}});
    b.valid = false;
    expect_error_case(g, "netdev-missing", &mut b, false);
    let tag = format!("{}", (g.s.runner_pid % 100000) as u32);
    let (a, peer) = (format!("ocv{}a", tag), format!("ocv{}b", tag));
    g.track_netdev(&a);
    g.track_netdev(&peer);
    if let Err(e) = ip(
        g,
        &["link", "add", &a, "type", "veth", "peer", "name", &peer],
    ) {
        g.skip_rest(&format!("cannot create a veth pair on this host ({})", e));
        return;
    }
    let _ = ip(g, &["addr", "add", "10.199.77.1/24", "dev", &a]);
    let mut b = g.bundle("netdev");
    b.config["linux"]["netDevices"] = json!({ a.clone(): {"name": "oci0"} });
    b.valid = false;
    let r = g.run_checker(
        &mut b,
        &[
            "--read",
            "/sys/class/net/oci0/flags",
            "--read",
            "/proc/net/fib_trie",
            "--readdir",
            "/sys/class/net",
        ],
    );
    match r {
        Ok(rep) => {
            let flags = rep.probe(0);
            g.check(
                "netdev-moved",
                ensure(flags["ok"] == true, || {
                    format!("/sys/class/net in the container: {}", rep.probe(2)["names"])
                }),
            );
            let f = flags["data"]
                .as_str()
                .and_then(|s| u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok())
                .unwrap_or(0);
            g.check(
                "netdev-up",
                ensure(f & 1 == 1, || format!("flags {:?}", flags["data"])),
            );
            let fib = rep.probe(1)["data"].as_str().unwrap_or("").to_string();
            g.check(
                "netdev-addr",
                ensure(fib.contains("10.199.77.1"), || {
                    "10.199.77.1 not among the container's addresses".into()
                }),
            );
        }
        Err(e) => g.fail_keys(&["netdev-moved", "netdev-up", "netdev-addr"], &e),
    }
    // renaming onto a name that exists in the new network namespace ("lo")
    let (a2, peer2) = (format!("ocw{}a", tag), format!("ocw{}b", tag));
    g.track_netdev(&a2);
    g.track_netdev(&peer2);
    if let Err(e) = ip(
        g,
        &["link", "add", &a2, "type", "veth", "peer", "name", &peer2],
    ) {
        g.skip(
            "netdev-exists",
            format!("cannot create a veth pair on this host ({})", e),
        );
        return;
    }
    let mut b = g.bundle("netdev-exists");
    b.config["linux"]["netDevices"] = json!({ a2.clone(): {"name": "lo"} });
    b.valid = false;
    expect_error_case(g, "netdev-exists", &mut b, false);
}

fn lsm(g: &mut G) {
    let aa = fs::read_to_string("/sys/module/apparmor/parameters/enabled")
        .map(|s| s.trim() == "Y")
        .unwrap_or(false);
    if aa {
        g.set(
            "apparmor",
            Outcome::Skip("AppArmor is enabled here but the suite ships no profile to load".into()),
        );
    } else {
        g.skip("apparmor", "no AppArmor on this host");
    }
    let se = std::path::Path::new("/sys/fs/selinux/enforce").exists();
    if se {
        g.skip(
            "selinux",
            "SELinux present but the suite ships no policy for test labels",
        );
        g.skip(
            "mountlabel",
            "SELinux present but the suite ships no policy for test labels",
        );
    } else {
        g.skip("selinux", "no SELinux on this host");
        g.skip("mountlabel", "no SELinux on this host");
    }
    if se {
        g.skip("selinux-absent", "SELinux is enabled on this host");
        return;
    }
    let mut b = g.bundle("selinux-absent");
    b.config["process"]["selinuxLabel"] = json!("system_u:system_r:container_t:s0:c1,c2");
    b.config["linux"]["mountLabel"] = json!("system_u:object_r:container_file_t:s0:c1,c2");
    let r = g.run_checker(&mut b, &[]).map(|_| ());
    g.check("selinux-absent", r);
}
