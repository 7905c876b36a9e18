//! features.md and features-linux.md: the Features structure and the promises
//! it makes about config.json.  The structure itself is optional (MAY), so a
//! runtime without it skips these cases.

use super::*;
use crate::suite::{c, clip};
use serde_json::{json, Value};
use std::fs;

pub fn groups() -> Vec<Group> {
    vec![
        Group {
            name: "features",
            cases: vec![
                c(
                    "f-schema",
                    "features#features-structure",
                    "features output is valid against features-schema.json",
                ),
                c(
                    "f-versions",
                    "features#specification-version",
                    "ociVersionMin and ociVersionMax are present SemVer versions",
                ),
                c(
                    "f-max-ge-min",
                    "features#specification-version",
                    "ociVersionMax is not less than ociVersionMin",
                ),
                c(
                    "f-known",
                    "features#specification-version",
                    "features contains only properties defined by the specification",
                ),
                c(
                    "f-min-accepted",
                    "features#specification-version",
                    "config.json with ociVersion = ociVersionMin is accepted",
                ),
                c(
                    "f-max-accepted",
                    "features#specification-version",
                    "config.json with ociVersion = ociVersionMax is accepted",
                ),
                c(
                    "f-hooks",
                    "features#hooks",
                    "every listed hook is supported in config.json",
                ),
                c(
                    "f-namespaces",
                    "features-linux#namespaces",
                    "every listed namespace type is recognized in linux.namespaces",
                ),
                c(
                    "f-caps",
                    "features-linux#capabilities",
                    "every listed capability (that this host can grant) is recognized",
                ),
            ],
            run: features,
        },
        Group {
            name: "features-mount-options",
            cases: vec![c(
                "f-mount-options",
                "features#mount-options",
                "every listed mount option is recognized in config.json mounts",
            )],
            run: mount_options,
        },
        Group {
            name: "features-seccomp",
            cases: vec![
                c(
                    "f-sc-actions",
                    "features-linux#seccomp",
                    "every listed seccomp action is recognized",
                ),
                c(
                    "f-sc-operators",
                    "features-linux#seccomp",
                    "every listed seccomp operator is recognized",
                ),
                c(
                    "f-sc-archs",
                    "features-linux#seccomp",
                    "every listed little-endian seccomp architecture is recognized (one filter)",
                ),
                c(
                    "f-sc-flags",
                    "features-linux#seccomp",
                    "every listed supported seccomp flag is recognized and supported",
                ),
            ],
            run: seccomp,
        },
    ]
}

fn get(g: &mut G) -> Option<Value> {
    match g.features() {
        Ok(v) => Some(v),
        Err(e) => {
            let first = e.lines().next().unwrap_or("").to_string();
            g.skip_rest(&format!(
                "the runtime provides no features structure (optional: features.md MAY) [{}]",
                clip(&first, 90)
            ));
            None
        }
    }
}

fn semver(s: &str) -> Option<(u64, u64, u64, String)> {
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) => (c, p.split('+').next().unwrap_or("").to_string()),
        None => (s.split('+').next().unwrap_or(""), String::new()),
    };
    let p: Vec<&str> = core.split('.').collect();
    if p.len() != 3
        || p.iter().any(|x| {
            x.is_empty()
                || !x.bytes().all(|b| b.is_ascii_digit())
                || (x.len() > 1 && x.starts_with('0'))
        })
    {
        return None;
    }
    Some((
        p[0].parse().ok()?,
        p[1].parse().ok()?,
        p[2].parse().ok()?,
        pre,
    ))
}

fn ver_cmp(a: &(u64, u64, u64, String), b: &(u64, u64, u64, String)) -> std::cmp::Ordering {
    (a.0, a.1, a.2)
        .cmp(&(b.0, b.1, b.2))
        .then_with(|| match (a.3.is_empty(), b.3.is_empty()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            (false, false) => a.3.cmp(&b.3),
        })
}

fn unknown_keys(v: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    let top = [
        "ociVersionMin",
        "ociVersionMax",
        "hooks",
        "mountOptions",
        "linux",
        "annotations",
        "potentiallyUnsafeConfigAnnotations",
    ];
    let linux = [
        "namespaces",
        "capabilities",
        "cgroup",
        "seccomp",
        "apparmor",
        "selinux",
        "intelRdt",
        "mountExtensions",
        "netDevices",
        "memoryPolicy",
    ];
    let sub: &[(&str, &[&str])] = &[
        ("cgroup", &["v1", "v2", "systemd", "systemdUser", "rdma"]),
        (
            "seccomp",
            &[
                "enabled",
                "actions",
                "operators",
                "archs",
                "knownFlags",
                "supportedFlags",
            ],
        ),
        ("apparmor", &["enabled"]),
        ("selinux", &["enabled"]),
        ("intelRdt", &["enabled", "schemata", "monitoring"]),
        ("mountExtensions", &["idmap"]),
        ("netDevices", &["enabled"]),
        ("memoryPolicy", &["modes", "flags"]),
    ];
    if let Some(o) = v.as_object() {
        for k in o.keys() {
            if !top.contains(&k.as_str()) {
                bad.push(k.clone());
            }
        }
    }
    if let Some(o) = v["linux"].as_object() {
        for (k, x) in o {
            if !linux.contains(&k.as_str()) {
                bad.push(format!("linux.{}", k));
                continue;
            }
            if let (Some((_, allowed)), Some(xo)) =
                (sub.iter().find(|(n, _)| n == k), x.as_object())
            {
                for kk in xo.keys() {
                    if !allowed.contains(&kk.as_str()) {
                        bad.push(format!("linux.{}.{}", k, kk));
                    }
                }
            }
        }
    }
    bad
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(|s| s.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn runs(g: &mut G, b: &mut Bundle) -> Result<(), String> {
    g.run_checker(b, &[]).map(|_| ())
}

fn features(g: &mut G) {
    let Some(f) = get(g) else { return };
    let errs = crate::schema::validate("features-schema.json", &f);
    g.check("f-schema", ensure(errs.is_empty(), || errs.join("; ")));
    let min = f["ociVersionMin"].as_str().unwrap_or("").to_string();
    let max = f["ociVersionMax"].as_str().unwrap_or("").to_string();
    let (vmin, vmax) = (semver(&min), semver(&max));
    g.check(
        "f-versions",
        ensure(vmin.is_some() && vmax.is_some(), || {
            format!("ociVersionMin {:?}, ociVersionMax {:?}", min, max)
        }),
    );
    g.check(
        "f-max-ge-min",
        match (&vmin, &vmax) {
            (Some(a), Some(b)) => ensure(ver_cmp(b, a) != std::cmp::Ordering::Less, || {
                format!("{} < {}", max, min)
            }),
            _ => Err("versions are not SemVer".into()),
        },
    );
    let bad = unknown_keys(&f);
    g.check(
        "f-known",
        ensure(bad.is_empty(), || {
            format!("properties not defined by the specification: {:?}", bad)
        }),
    );
    for (key, v) in [
        ("f-min-accepted", min.clone()),
        ("f-max-accepted", max.clone()),
    ] {
        let mut b = g.bundle(key);
        b.config["ociVersion"] = json!(v);
        b.valid = false;
        let r = runs(g, &mut b);
        g.check(key, r);
    }
    // hooks
    let hooks = strs(&f["hooks"]);
    if hooks.is_empty() {
        g.skip("f-hooks", "features lists no hooks");
    } else {
        let mut b = g.bundle("f-hooks");
        let log = b.dir.join("hooklog");
        let _ = fs::create_dir_all(&log);
        let logs = log.to_string_lossy().into_owned();
        b.add_mount(bindm("/oci-hooklog", &logs, &["bind", "rw"]));
        let mut hk = serde_json::Map::new();
        for h in &hooks {
            let in_container = h == "startContainer";
            let target = if in_container {
                format!("/oci-hooklog/{}", h)
            } else {
                format!("{}/{}", logs, h)
            };
            let path = if in_container { "/bin/sh" } else { "/bin/sh" };
            hk.insert(
                h.clone(),
                json!([{"path": path, "args": ["sh", "-c", format!("echo ran > {}", target)]}]),
            );
        }
        b.config["hooks"] = Value::Object(hk);
        b.valid = false;
        let r = runs(g, &mut b).and_then(|_| {
            let missing: Vec<&String> = hooks.iter().filter(|h| !log.join(h).exists()).collect();
            ensure(missing.is_empty(), || {
                format!("listed hooks that did not run: {:?}", missing)
            })
        });
        g.check("f-hooks", r);
    }
    // namespaces
    let nss = strs(&f["linux"]["namespaces"]);
    if nss.is_empty() {
        g.skip("f-namespaces", "features lists no namespaces");
    } else {
        let mut b = g.bundle("f-ns");
        b.config["linux"]["namespaces"] =
            json!(nss.iter().map(|n| json!({"type": n})).collect::<Vec<_>>());
        if nss.iter().any(|n| n == "user") {
            let (umap, gmap) = g.s.userns_mappings();
            b.config["linux"]["uidMappings"] = umap;
            b.config["linux"]["gidMappings"] = gmap;
        }
        b.config["mounts"] = json!([
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]}
        ]);
        b.valid = false;
        let r = runs(g, &mut b).map_err(|e| format!("listed {:?}: {}", nss, e));
        g.check("f-namespaces", r);
    }
    // capabilities
    let caps: Vec<String> = strs(&f["linux"]["capabilities"])
        .into_iter()
        .filter(|c| g.s.host.cap_names.contains(&c.as_str()))
        .collect();
    if caps.is_empty() {
        g.skip("f-caps", "features lists no capabilities");
    } else {
        let mut b = g.bundle("f-caps");
        b.config["process"]["capabilities"] =
            json!({"bounding": caps, "effective": caps, "permitted": caps});
        let r = runs(g, &mut b);
        g.check("f-caps", r);
    }
}

fn mount_options(g: &mut G) {
    let Some(f) = get(g) else { return };
    let opts = strs(&f["mountOptions"]);
    if opts.is_empty() {
        g.skip("f-mount-options", "features lists no mount options");
        return;
    }
    let src = g.dir.join("f-src");
    let _ = fs::create_dir_all(&src);
    let srcs = src.to_string_lossy().into_owned();
    // idmap/ridmap need mappings (see the idmapped-mounts cases); everything else on a tmpfs or a bind mount
    let usable: Vec<String> = opts
        .iter()
        .filter(|o| *o != "idmap" && *o != "ridmap")
        .cloned()
        .collect();
    let mounts_for = |i: usize, o: &str| -> Vec<Value> {
        let dest = format!("/oci-f/{}", i);
        match o {
            "bind" | "rbind" => vec![bindm(&dest, &srcs, &[o])],
            "remount" => vec![tmpfs(&dest, &["size=64k"]), tmpfs(&dest, &["remount"])],
            _ => vec![tmpfs(&dest, &[o])],
        }
    };
    let run = |g: &mut G, sel: &[(usize, String)]| -> Result<(), String> {
        let mut b = g.bundle("f-mopts");
        for (i, o) in sel {
            for m in mounts_for(*i, o) {
                b.add_mount(m);
            }
        }
        runs(g, &mut b)
    };
    let all: Vec<(usize, String)> = usable.iter().cloned().enumerate().collect();
    if run(g, &all).is_ok() {
        g.pass("f-mount-options");
        return;
    }
    let mut failed = Vec::new();
    for item in &all {
        if g.expired() {
            failed.push("(group deadline passed; remaining options not tried)".into());
            break;
        }
        if let Err(e) = run(g, std::slice::from_ref(item)) {
            failed.push(format!("{} ({})", item.1, clip(&e, 120)));
        }
    }
    g.check(
        "f-mount-options",
        ensure(failed.is_empty(), || {
            format!("listed options refused in a mount: {}", failed.join("; "))
        }),
    );
}

fn seccomp(g: &mut G) {
    let Some(f) = get(g) else { return };
    let sc = f["linux"]["seccomp"].clone();
    if sc.is_null() || sc["enabled"] == false {
        g.skip_rest("features reports no seccomp support");
        return;
    }
    // actions: each on its own otherwise unused syscall
    let syscall_for = |a: &str| -> Option<&'static str> {
        Some(match a {
            "SCMP_ACT_KILL" => "sysinfo",
            "SCMP_ACT_KILL_PROCESS" => "times",
            "SCMP_ACT_KILL_THREAD" => "getcpu",
            "SCMP_ACT_TRAP" => "getpgrp",
            "SCMP_ACT_ERRNO" => "getpriority",
            "SCMP_ACT_TRACE" => "sched_get_priority_max",
            "SCMP_ACT_ALLOW" => "getppid",
            "SCMP_ACT_LOG" => "sched_getscheduler",
            _ => return None,
        })
    };
    let actions = strs(&sc["actions"]);
    let rules: Vec<Value> = actions
        .iter()
        .filter_map(|a| syscall_for(a).map(|s| json!({"names": [s], "action": a})))
        .collect();
    if rules.is_empty() {
        g.skip("f-sc-actions", "features lists no seccomp actions");
    } else {
        let mut b = g.bundle("f-sc-actions");
        b.config["linux"]["seccomp"] =
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules});
        let r = runs(g, &mut b).map_err(|e| {
            format!(
                "actions {:?} (SCMP_ACT_NOTIFY is checked by the seccomp-notify cases): {}",
                actions, e
            )
        });
        g.check("f-sc-actions", r);
    }
    let ops = strs(&sc["operators"]);
    if ops.is_empty() {
        g.skip("f-sc-operators", "features lists no seccomp operators");
    } else {
        let rules: Vec<Value> = ops
            .iter()
            .map(|o| {
                let mut a = json!({"index": 0, "value": 424242, "op": o});
                if o == "SCMP_CMP_MASKED_EQ" {
                    a["valueTwo"] = json!(424242);
                }
                json!({"names": ["getpgid"], "action": "SCMP_ACT_ERRNO", "args": [a]})
            })
            .collect();
        let mut b = g.bundle("f-sc-ops");
        b.config["linux"]["seccomp"] =
            json!({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules});
        let r = runs(g, &mut b).map_err(|e| format!("operators {:?}: {}", ops, e));
        g.check("f-sc-operators", r);
    }
    // one filter can only hold architectures of the native byte order (libseccomp/kernel)
    let little = [
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_ARM",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_MIPSEL",
        "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32",
        "SCMP_ARCH_PPC64LE",
        "SCMP_ARCH_RISCV64",
        "SCMP_ARCH_LOONGARCH64",
        "SCMP_ARCH_SH",
    ];
    let archs: Vec<String> = strs(&sc["archs"])
        .into_iter()
        .filter(|a| little.contains(&a.as_str()))
        .collect();
    if archs.is_empty() {
        g.skip(
            "f-sc-archs",
            "features lists no little-endian seccomp architectures",
        );
    } else {
        let mut b = g.bundle("f-sc-archs");
        b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "architectures": archs, "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO"}]});
        let r = runs(g, &mut b).map_err(|e| format!("architectures {:?}: {}", archs, e));
        g.check("f-sc-archs", r);
    }
    let flags = strs(&sc["supportedFlags"]);
    if flags.is_empty() {
        g.skip("f-sc-flags", "features lists no supported seccomp flags");
    } else {
        let mut b = g.bundle("f-sc-flags");
        b.config["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ALLOW", "flags": flags, "syscalls": [{"names": ["getpriority"], "action": "SCMP_ACT_ERRNO"}]});
        let r = runs(g, &mut b).map_err(|e| format!("flags {:?}: {}", flags, e));
        g.check("f-sc-flags", r);
    }
}
