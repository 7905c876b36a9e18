//! config-linux.md: control groups (cgroupsPath and resources), read from the
//! host side at the cgroupsPath while the container is `created` (create MUST
//! apply everything but process).

use super::*;
use crate::suite::{c, clip, Outcome};
use serde_json::json;
use std::fs;
use std::path::PathBuf;

pub fn groups() -> Vec<Group> {
    vec![
        Group {
            name: "cgroup-memory-pids",
            cases: vec![
                c(
                    "cg-abs",
                    "config-linux#cgroups-path",
                    "an absolute cgroupsPath is taken relative to the cgroup mount point",
                ),
                c(
                    "cg-created",
                    "config-linux#cgroups-path",
                    "cgroups at cgroupsPath are created when they do not exist",
                ),
                c(
                    "mem-limit",
                    "config-linux#memory",
                    "memory.limit is applied (memory.limit_in_bytes)",
                ),
                c(
                    "mem-reservation",
                    "config-linux#memory",
                    "memory.reservation is applied (memory.soft_limit_in_bytes)",
                ),
                c(
                    "mem-swap",
                    "config-linux#memory",
                    "memory.swap is applied (memory.memsw.limit_in_bytes)",
                ),
                c(
                    "mem-swappiness",
                    "config-linux#memory",
                    "memory.swappiness is applied",
                ),
                c(
                    "mem-oom",
                    "config-linux#memory",
                    "memory.disableOOMKiller true disables the OOM killer",
                ),
                c(
                    "mem-hier",
                    "config-linux#memory",
                    "memory.useHierarchy true enables hierarchical accounting",
                ),
                c(
                    "pids-limit",
                    "config-linux#pids",
                    "pids.limit is applied (pids.max)",
                ),
            ],
            run: memory_pids,
        },
        Group {
            name: "cgroup-cpu",
            cases: vec![
                c("cpu-shares", "config-linux#cpu", "cpu.shares is applied"),
                c(
                    "cpu-quota",
                    "config-linux#cpu",
                    "cpu.quota is applied (cpu.cfs_quota_us)",
                ),
                c(
                    "cpu-period",
                    "config-linux#cpu",
                    "cpu.period is applied (cpu.cfs_period_us)",
                ),
                c(
                    "cpu-burst",
                    "config-linux#cpu",
                    "cpu.burst is applied (cpu.cfs_burst_us)",
                ),
                c(
                    "cpuset-cpus",
                    "config-linux#cpu",
                    "cpu.cpus is applied (cpuset.cpus)",
                ),
                c(
                    "cpuset-mems",
                    "config-linux#cpu",
                    "cpu.mems is applied (cpuset.mems)",
                ),
            ],
            run: cpu,
        },
        Group {
            name: "cgroup-unlimited",
            cases: vec![
                c(
                    "mem-unlimited",
                    "config-linux#memory",
                    "memory.limit -1 means unlimited",
                ),
                c(
                    "pids-unlimited",
                    "config-linux#pids",
                    "pids.limit -1 means no limit (max)",
                ),
            ],
            run: unlimited,
        },
        Group {
            name: "cgroup-cpu-rt",
            cases: vec![c(
                "cpu-rt",
                "config-linux#cpu",
                "cpu.realtimePeriod/realtimeRuntime are applied",
            )],
            run: cpu_rt,
        },
        Group {
            name: "cgroup-cpu-idle",
            cases: vec![c(
                "cpu-idle",
                "config-linux#cpu",
                "cpu.idle 1 is applied (cpu.idle)",
            )],
            run: cpu_idle,
        },
        Group {
            name: "cgroup-pids-zero",
            cases: vec![c(
                "pids-zero",
                "config-linux#pids",
                "pids.limit 0 is treated as a limit of 0 (SHOULD)",
            )],
            run: pids_zero,
        },
        Group {
            name: "cgroup-blkio-throttle",
            cases: vec![
                c(
                    "blk-rbps",
                    "config-linux#block-io",
                    "blockIO.throttleReadBpsDevice is applied",
                ),
                c(
                    "blk-wbps",
                    "config-linux#block-io",
                    "blockIO.throttleWriteBpsDevice is applied",
                ),
                c(
                    "blk-riops",
                    "config-linux#block-io",
                    "blockIO.throttleReadIOPSDevice is applied",
                ),
                c(
                    "blk-wiops",
                    "config-linux#block-io",
                    "blockIO.throttleWriteIOPSDevice is applied",
                ),
            ],
            run: blkio_throttle,
        },
        Group {
            name: "cgroup-blkio-weight",
            cases: vec![
                c(
                    "blk-weight",
                    "config-linux#block-io",
                    "blockIO.weight is applied, or an error when it cannot be",
                ),
                c(
                    "blk-leaf",
                    "config-linux#block-io",
                    "blockIO.leafWeight is applied, or an error when it cannot be",
                ),
                c(
                    "blk-wdev",
                    "config-linux#block-io",
                    "blockIO.weightDevice is applied, or an error when it cannot be",
                ),
            ],
            run: blkio_weight,
        },
        Group {
            name: "cgroup-hugetlb",
            cases: vec![c(
                "hugetlb",
                "config-linux#huge-page-limits",
                "hugepageLimits are applied, or an error when they cannot be",
            )],
            run: hugetlb,
        },
        Group {
            name: "cgroup-network",
            cases: vec![
                c(
                    "net-classid",
                    "config-linux#network",
                    "network.classID is applied, or an error when it cannot be",
                ),
                c(
                    "net-prio",
                    "config-linux#network",
                    "network.priorities are applied, or an error when they cannot be",
                ),
            ],
            run: network,
        },
        Group {
            name: "cgroup-rdma",
            cases: vec![c(
                "rdma",
                "config-linux#rdma",
                "rdma limits are applied, or an error when they cannot be",
            )],
            run: rdma,
        },
        Group {
            name: "cgroup-unified",
            cases: vec![
                c(
                    "unified-absent",
                    "config-linux#unified",
                    "unified key for a controller absent from cgroup v2 generates an error",
                ),
                c(
                    "unified-present",
                    "config-linux#unified",
                    "unified key for a cgroup v2 controller is written to that file, or an error",
                ),
            ],
            run: unified,
        },
        Group {
            name: "cgroup-same-path",
            cases: vec![c(
                "cg-same",
                "config-linux#cgroups-path",
                "the same cgroupsPath attaches to the same place in the hierarchy",
            )],
            run: same_path,
        },
        Group {
            name: "cgroup-ownership",
            cases: vec![c(
                "cg-owner-v1",
                "config-linux#cgroup-ownership",
                "cgroup ownership is not changed when cgroup v1 is in use (SHOULD NOT)",
            )],
            run: ownership,
        },
    ]
}

/// create the container, run `f` while it is `created`, then destroy it.
fn with_created(
    g: &mut G,
    b: &mut Bundle,
    f: impl FnOnce(&mut G, &Bundle, i32),
) -> Result<(), String> {
    b.args(&["/bin/sleep", "600"]);
    let o = g.create(b);
    if !o.ok() {
        let _ = g.delete_force(&b.id);
        return Err(format!("create failed: {}", o.brief()));
    }
    let pid = b.pid.unwrap_or(0);
    f(g, b, pid);
    g.destroy(b);
    Ok(())
}

fn expect_file(g: &G, ctrl: &str, b: &Bundle, file: &str, want: &str) -> Result<(), String> {
    let got = g.cgroup_read(ctrl, b, file)?;
    ensure(got == want, || {
        format!("{} is {:?} (want {:?})", file, clip(&got, 120), want)
    })
}

fn proc_cgroup(pid: i32, ctrl: &str) -> Option<String> {
    fs::read_to_string(format!("/proc/{}/cgroup", pid))
        .ok()?
        .lines()
        .find(|l| {
            l.split(':')
                .nth(1)
                .map(|c| c.split(',').any(|x| x == ctrl))
                .unwrap_or(false)
        })
        .and_then(|l| l.splitn(3, ':').nth(2).map(|s| s.to_string()))
}

fn memory_pids(g: &mut G) {
    let mut b = g.bundle("cg-mem");
    let nested = format!("{}/nested/leaf", b.cgroups_path());
    b.config["linux"]["cgroupsPath"] = json!(nested);
    b.config["linux"]["resources"] = json!({
        "memory": {"limit": 67108864, "reservation": 33554432, "swap": 134217728, "swappiness": 17, "disableOOMKiller": true, "useHierarchy": true},
        "pids": {"limit": 64}
    });
    let r = with_created(g, &mut b, |g, b, pid| {
        let path = b.cgroups_path();
        let in_mem = proc_cgroup(pid, "memory");
        g.check(
            "cg-abs",
            ensure(in_mem.as_deref() == Some(path.as_str()), || {
                format!(
                    "container process in memory cgroup {:?} (want {})",
                    in_mem, path
                )
            }),
        );
        let dirs: Vec<PathBuf> = ["memory", "pids"]
            .iter()
            .filter_map(|c| g.cgroup_dir(c, b))
            .collect();
        g.check(
            "cg-created",
            ensure(dirs.len() == 2 && dirs.iter().all(|d| d.is_dir()), || {
                format!("missing: {:?}", dirs)
            }),
        );
        let r = expect_file(g, "memory", b, "memory.limit_in_bytes", "67108864");
        g.check("mem-limit", r);
        let r = expect_file(g, "memory", b, "memory.soft_limit_in_bytes", "33554432");
        g.check("mem-reservation", r);
        if g.cgroup_dir("memory", b)
            .map(|d| d.join("memory.memsw.limit_in_bytes").exists())
            .unwrap_or(false)
        {
            let r = expect_file(g, "memory", b, "memory.memsw.limit_in_bytes", "134217728");
            g.check("mem-swap", r);
        } else {
            g.skip(
                "mem-swap",
                "no swap accounting (memory.memsw.*) on this host",
            );
        }
        let r = expect_file(g, "memory", b, "memory.swappiness", "17");
        g.check("mem-swappiness", r);
        let oc = g
            .cgroup_read("memory", b, "memory.oom_control")
            .unwrap_or_default();
        g.check(
            "mem-oom",
            ensure(oc.lines().any(|l| l.trim() == "oom_kill_disable 1"), || {
                format!("memory.oom_control: {}", clip(&oc, 120))
            }),
        );
        let r = expect_file(g, "memory", b, "memory.use_hierarchy", "1");
        g.check("mem-hier", r);
        let r = expect_file(g, "pids", b, "pids.max", "64");
        g.check("pids-limit", r);
    });
    if let Err(e) = r {
        g.fail_rest(&e);
    }
}

fn cpu(g: &mut G) {
    let mut b = g.bundle("cg-cpu");
    b.config["linux"]["resources"] = json!({
        "cpu": {"shares": 512, "quota": 50000, "period": 100000, "burst": 10000, "cpus": "0", "mems": "0"}
    });
    let r = with_created(g, &mut b, |g, b, _| {
        for (key, ctrl, file, want) in [
            ("cpu-shares", "cpu", "cpu.shares", "512"),
            ("cpu-quota", "cpu", "cpu.cfs_quota_us", "50000"),
            ("cpu-period", "cpu", "cpu.cfs_period_us", "100000"),
            ("cpu-burst", "cpu", "cpu.cfs_burst_us", "10000"),
            ("cpuset-cpus", "cpuset", "cpuset.cpus", "0"),
            ("cpuset-mems", "cpuset", "cpuset.mems", "0"),
        ] {
            let r = expect_file(g, ctrl, b, file, want);
            g.check(key, r);
        }
    });
    if let Err(e) = r {
        g.fail_rest(&e);
    }
}

fn unlimited(g: &mut G) {
    for (key, ctrl, file, preset, res) in [
        (
            "mem-unlimited",
            "memory",
            "memory.limit_in_bytes",
            "33554432",
            json!({"memory": {"limit": -1}}),
        ),
        (
            "pids-unlimited",
            "pids",
            "pids.max",
            "100",
            json!({"pids": {"limit": -1}}),
        ),
    ] {
        let mut b = g.bundle(key);
        // pre-set a limit so that -1 ("unlimited") is observable
        if let Some(d) = g.cgroup_dir(ctrl, &b) {
            let _ = fs::create_dir_all(&d);
            let _ = fs::write(d.join(file), preset);
        }
        b.config["linux"]["resources"] = res;
        let mut got = Err("not read".to_string());
        let r = with_created(g, &mut b, |g, b, _| got = g.cgroup_read(ctrl, b, file));
        let r = r.and_then(|_| {
            let v = got?;
            let ok = if ctrl == "pids" {
                v == "max"
            } else {
                v.parse::<u64>().map(|n| n >= 1u64 << 62).unwrap_or(false)
            };
            ensure(ok, || {
                format!("{} is {} (pre-set to {} before create)", file, v, preset)
            })
        });
        g.check(key, r);
    }
}

fn cpu_rt(g: &mut G) {
    let mut b = g.bundle("cg-rt");
    b.config["linux"]["resources"] =
        json!({"cpu": {"realtimePeriod": 500000, "realtimeRuntime": 0}});
    let r = with_created(g, &mut b, |g, b, _| {
        let p = g.cgroup_read("cpu", b, "cpu.rt_period_us");
        let r = g.cgroup_read("cpu", b, "cpu.rt_runtime_us");
        g.check(
            "cpu-rt",
            ensure(
                p.as_deref() == Ok("500000") && r.as_deref() == Ok("0"),
                || format!("cpu.rt_period_us {:?}, cpu.rt_runtime_us {:?}", p, r),
            ),
        );
    });
    if let Err(e) = r {
        g.fail_rest(&e);
    }
}

fn cpu_idle(g: &mut G) {
    let mut b = g.bundle("cg-idle");
    b.config["linux"]["resources"] = json!({"cpu": {"idle": 1}});
    let r = with_created(g, &mut b, |g, b, _| {
        let r = expect_file(g, "cpu", b, "cpu.idle", "1");
        g.check("cpu-idle", r);
    });
    if let Err(e) = r {
        g.fail_rest(&e);
    }
}

fn pids_zero(g: &mut G) {
    let mut b = g.bundle("cg-pids0");
    b.config["linux"]["resources"] = json!({"pids": {"limit": 0}});
    let r = with_created(g, &mut b, |g, b, _| {
        let r = expect_file(g, "pids", b, "pids.max", "0");
        g.check("pids-zero", r);
    });
    if let Err(e) = r {
        g.fail_rest(&e);
    }
}

fn blkio_throttle(g: &mut G) {
    let Some((ma, mi)) = g.s.host.block_dev else {
        g.skip_rest("no block device on this host");
        return;
    };
    let mut b = g.bundle("cg-blk");
    b.config["linux"]["resources"] = json!({"blockIO": {
        "throttleReadBpsDevice": [{"major": ma, "minor": mi, "rate": 1048576}],
        "throttleWriteBpsDevice": [{"major": ma, "minor": mi, "rate": 2097152}],
        "throttleReadIOPSDevice": [{"major": ma, "minor": mi, "rate": 300}],
        "throttleWriteIOPSDevice": [{"major": ma, "minor": mi, "rate": 400}]
    }});
    let r = with_created(g, &mut b, |g, b, _| {
        for (key, file, rate) in [
            ("blk-rbps", "blkio.throttle.read_bps_device", 1048576),
            ("blk-wbps", "blkio.throttle.write_bps_device", 2097152),
            ("blk-riops", "blkio.throttle.read_iops_device", 300),
            ("blk-wiops", "blkio.throttle.write_iops_device", 400),
        ] {
            let want = format!("{}:{} {}", ma, mi, rate);
            let got = g.cgroup_read("blkio", b, file);
            g.check(
                key,
                ensure(
                    got.as_deref()
                        .map(|s| s.lines().any(|l| l.trim() == want))
                        .unwrap_or(false),
                    || format!("{}: {:?} (want {:?})", file, got, want),
                ),
            );
        }
    });
    if let Err(e) = r {
        g.fail_rest(&e);
    }
}

/// A resource that needs `file` in controller `ctrl`: if the host has it, the
/// value must land there; if not, create must fail.
fn applied_or_error(
    g: &mut G,
    key: &str,
    b: &mut Bundle,
    ctrl: &str,
    file: &str,
    check: impl Fn(&str) -> bool,
    what: &str,
) {
    let host_has =
        g.s.host
            .v1(ctrl)
            .map(|m| m.join(file).exists())
            .unwrap_or(false);
    if host_has {
        let mut res = Err("not evaluated".to_string());
        let r = with_created(g, b, |g, b, _| {
            let got = g.cgroup_read(ctrl, b, file);
            res = ensure(got.as_deref().map(&check).unwrap_or(false), || {
                format!("{}: {:?}", file, got)
            });
        });
        g.check(key, r.and(res));
    } else {
        unsupported_on_host(
            g,
            key,
            b,
            &format!("{} (this host has no {} file)", what, file),
        );
    }
}

fn blkio_weight(g: &mut G) {
    let Some((ma, mi)) = g.s.host.block_dev else {
        g.skip_rest("no block device on this host");
        return;
    };
    let mut b = g.bundle("blk-weight");
    b.config["linux"]["resources"] = json!({"blockIO": {"weight": 500}});
    applied_or_error(
        g,
        "blk-weight",
        &mut b,
        "blkio",
        "blkio.weight",
        |s| s.trim() == "500",
        "blockIO.weight",
    );
    let mut b = g.bundle("blk-leaf");
    b.config["linux"]["resources"] = json!({"blockIO": {"leafWeight": 300}});
    applied_or_error(
        g,
        "blk-leaf",
        &mut b,
        "blkio",
        "blkio.leaf_weight",
        |s| s.trim() == "300",
        "blockIO.leafWeight",
    );
    let mut b = g.bundle("blk-wdev");
    b.config["linux"]["resources"] =
        json!({"blockIO": {"weightDevice": [{"major": ma, "minor": mi, "weight": 600}]}});
    let want = format!("{}:{} 600", ma, mi);
    applied_or_error(
        g,
        "blk-wdev",
        &mut b,
        "blkio",
        "blkio.weight_device",
        move |s| s.lines().any(|l| l.trim() == want),
        "blockIO.weightDevice",
    );
}

fn hugetlb(g: &mut G) {
    if let Err(e) = g.control() {
        g.fail_rest(&e);
        return;
    }
    if !std::path::Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists() {
        g.skip_rest("no 2MB huge pages on this host");
        return;
    }
    let mut b = g.bundle("hugetlb");
    b.config["linux"]["resources"] =
        json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]});
    b.args(&["/bin/sleep", "600"]);
    let o = g.create(&mut b);
    if o.errored() {
        // the runtime could not apply it and said so: that is what the spec requires
        let _ = g.delete_force(&b.id);
        g.pass("hugetlb");
        return;
    }
    if !o.ok() {
        let _ = g.delete_force(&b.id);
        g.fail("hugetlb", o.brief());
        return;
    }
    let mut found = Vec::new();
    for ctrl in ["hugetlb", "unified"] {
        for f in [
            "hugetlb.2MB.limit_in_bytes",
            "hugetlb.2MB.rsvd.limit_in_bytes",
            "hugetlb.2MB.max",
            "hugetlb.2MB.rsvd.max",
        ] {
            if let Ok(v) = g.cgroup_read(ctrl, &b, f) {
                found.push(format!("{}={}", f, v));
            }
        }
    }
    g.destroy(&b);
    g.set(
        "hugetlb",
        Outcome::from(ensure(found.iter().any(|f| f.ends_with("=4194304")), || {
            format!("create succeeded but no hugetlb limit of 4194304 at the cgroupsPath (found: {:?})", found)
        })),
    );
}

fn network(g: &mut G) {
    let mut b = g.bundle("net-classid");
    b.config["linux"]["resources"] = json!({"network": {"classID": 1048577}});
    applied_or_error(
        g,
        "net-classid",
        &mut b,
        "net_cls",
        "net_cls.classid",
        |s| s.trim() == "1048577",
        "network.classID",
    );
    let mut b = g.bundle("net-prio");
    b.config["linux"]["resources"] =
        json!({"network": {"priorities": [{"name": "lo", "priority": 7}]}});
    applied_or_error(
        g,
        "net-prio",
        &mut b,
        "net_prio",
        "net_prio.ifpriomap",
        |s| s.lines().any(|l| l.trim() == "lo 7"),
        "network.priorities",
    );
}

fn rdma(g: &mut G) {
    let mut b = g.bundle("rdma");
    b.config["linux"]["resources"] =
        json!({"rdma": {"mlx5_0": {"hcaHandles": 3, "hcaObjects": 100}}});
    let v2_has = g.s.host.v2_controllers().iter().any(|c| c == "rdma");
    if g.s.host.v1("rdma").is_some() || v2_has {
        g.skip(
            "rdma",
            "this host has an rdma controller but no RDMA device to limit",
        );
        return;
    }
    unsupported_on_host(g, "rdma", &mut b, "rdma (no rdma controller on this host)");
}

fn unified(g: &mut G) {
    if let Err(e) = g.control() {
        g.fail_rest(&e);
        return;
    }
    let ctrls = g.s.host.v2_controllers();
    if ctrls.iter().any(|c| c == "memory") {
        g.skip(
            "unified-absent",
            "the memory controller is available in cgroup v2 here",
        );
    } else {
        let mut b = g.bundle("unified-absent");
        b.config["linux"]["resources"] = json!({"unified": {"memory.max": "67108864"}});
        unsupported_on_host(
            g,
            "unified-absent",
            &mut b,
            "unified memory.max (memory is not a cgroup v2 controller here)",
        );
    }
    if !ctrls.iter().any(|c| c == "hugetlb")
        || !std::path::Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists()
    {
        g.skip(
            "unified-present",
            "no hugetlb controller in cgroup v2 on this host",
        );
        return;
    }
    let mut b = g.bundle("unified-present");
    b.config["linux"]["resources"] = json!({"unified": {"hugetlb.2MB.max": "4194304"}});
    b.args(&["/bin/sleep", "600"]);
    let o = g.create(&mut b);
    if !o.ok() {
        let _ = g.delete_force(&b.id);
        // a runtime that cannot write unified keys (e.g. one driving only cgroup v1) must refuse
        g.check("unified-present", ensure(o.errored(), || o.brief()));
        return;
    }
    let got = g.cgroup_read("unified", &b, "hugetlb.2MB.max");
    g.destroy(&b);
    g.check(
        "unified-present",
        ensure(got.as_deref() == Ok("4194304"), || {
            format!("hugetlb.2MB.max at the cgroupsPath: {:?}", got)
        }),
    );
}

fn same_path(g: &mut G) {
    let mut first: Option<String> = None;
    let mut path = String::new();
    for i in 0..2 {
        let mut b = g.bundle(&format!("same-{}", i));
        if i == 0 {
            path = b.cgroups_path();
        } else {
            b.config["linux"]["cgroupsPath"] = json!(path);
        }
        let mut cg = None;
        let r = with_created(g, &mut b, |_, _, pid| {
            cg = fs::read_to_string(format!("/proc/{}/cgroup", pid)).ok();
        });
        if let Err(e) = r {
            g.fail("cg-same", e);
            return;
        }
        match (&first, cg) {
            (None, c2) => first = c2,
            (Some(a), Some(b2)) => {
                g.check(
                    "cg-same",
                    ensure(*a == b2, || {
                        format!("first {:?} second {:?}", clip(a, 200), clip(&b2, 200))
                    }),
                );
                return;
            }
            _ => {}
        }
    }
    g.fail("cg-same", "could not read /proc/<pid>/cgroup");
}

fn ownership(g: &mut G) {
    let mut b = g.bundle("cg-owner");
    b.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    b.add_namespace(json!({"type": "cgroup"}));
    b.add_mount(json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "rw"]}));
    let r = with_created(g, &mut b, |g, b, _| {
        let mut bad = Vec::new();
        let mut seen = 0;
        for ctrl in ["memory", "pids", "cpu"] {
            if let Some(d) = g.cgroup_dir(ctrl, b).filter(|d| d.is_dir()) {
                seen += 1;
                for f in ["", "cgroup.procs", "tasks"] {
                    if let Ok(m) = fs::metadata(d.join(f)) {
                        use std::os::unix::fs::MetadataExt;
                        if m.uid() != 0 {
                            bad.push(format!("{} owned by {}", d.join(f).display(), m.uid()));
                        }
                    }
                }
            }
        }
        if seen == 0 {
            bad.push("no cgroup exists at the cgroupsPath".into());
        }
        g.check("cg-owner-v1", ensure(bad.is_empty(), || bad.join(", ")));
    });
    if let Err(e) = r {
        g.fail_rest(&e);
    }
}
