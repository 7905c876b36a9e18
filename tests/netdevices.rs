//! `linux.netDevices` (config-linux.md "Network Devices"): a host interface moved into the
//! container's network namespace, renamed or not, up, with its permanent global address; gone from
//! the host meanwhile; errors naming `linux.netDevices.<name>`; a failed create puts back what it
//! moved. Uses veth pairs this test creates (`ip link add`) with names unique per run.
mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::process::Command;

fn ip(args: &[&str]) -> std::process::Output {
    Command::new("ip").args(args).output().expect("run ip (iproute2)")
}

/// `ip link show <dev>` on the host: the device exists there.
fn on_host(dev: &str) -> bool {
    ip(&["link", "show", dev]).status.success()
}

fn host_addrs(dev: &str) -> String {
    String::from_utf8_lossy(&ip(&["-o", "addr", "show", "dev", dev]).stdout).into_owned()
}

/// A veth pair made for one test, deleted on drop (deleting one end deletes both; a pair whose
/// end died with a container's network namespace is already gone).
struct Veth {
    a: String,
    b: String,
}

impl Veth {
    /// `<tag><pid>a` / `<tag><pid>b`, with `addr` on the `a` end.
    fn new(tag: &str, addr: &str) -> Veth {
        let n = std::process::id() % 100000;
        let v = Veth { a: format!("h{tag}{n}a"), b: format!("h{tag}{n}b") };
        let out = ip(&["link", "add", &v.a, "type", "veth", "peer", "name", &v.b]);
        assert!(out.status.success(), "ip link add {}: {}", v.a, String::from_utf8_lossy(&out.stderr));
        let out = ip(&["addr", "add", addr, "dev", &v.a]);
        assert!(out.status.success(), "ip addr add {addr}: {}", String::from_utf8_lossy(&out.stderr));
        v
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        for d in [&self.a, &self.b] {
            if on_host(d) {
                let _ = ip(&["link", "del", d]);
            }
        }
    }
}

const SCRIPT: &str = "for d in $DEVS; do echo \"$d.flags=$(cat /sys/class/net/$d/flags)\"; \
                      echo \"$d.addr=$(ip -o -4 addr show dev $d | awk '{print $4}')\"; done; \
                      echo \"devs=$(ls /sys/class/net | tr '\\n' ' ')\"";

#[test]
fn moved_renamed_up_with_address() {
    let Some(t) = setup("netdev_move") else { return };
    let renamed = Veth::new("m", "10.199.88.1/24");
    let same = Veth::new("s", "10.199.89.1/24");
    let id = t.id();
    let mut b = t.bundle_for(&id);
    let out = b.out();
    b.set("/linux/netDevices", json!({ renamed.a.clone(): {"name": "ctr0"}, same.a.clone(): {} }));
    b.set("/process/env", json!(["PATH=/bin:/usr/bin", format!("DEVS=ctr0 {}", same.a)]));
    b.sh(&format!("{{ {SCRIPT}; }} > /out/result"));
    t.create(&b);
    // Moved: no longer on the host; the peers stay.
    assert!(!on_host(&renamed.a) && !on_host(&same.a), "devices still on the host after create");
    assert!(on_host(&renamed.b) && on_host(&same.b));
    t.start(&id);
    t.wait_stopped(&id);
    let res = fs::read_to_string(out.join("result")).unwrap();
    let flags = |d: &str| u32::from_str_radix(kv(&res, &format!("{d}.flags")).trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags("ctr0") & 1, 1, "ctr0 must be up\n{res}");
    assert_eq!(flags(&same.a) & 1, 1, "{} must be up\n{res}", same.a);
    assert_eq!(kv(&res, "ctr0.addr"), "10.199.88.1/24", "{res}");
    assert_eq!(kv(&res, &format!("{}.addr", same.a)), "10.199.89.1/24", "{res}");
    assert!(!kv(&res, "devs").contains(&renamed.a), "renamed device under its host name\n{res}");
    t.finish();
}

#[test]
fn bad_net_devices_are_errors_and_leave_nothing() {
    let Some(t) = setup("netdev_bad") else { return };
    let v = Veth::new("x", "10.199.90.1/24");
    let w = Veth::new("y", "10.199.91.1/24");
    ip(&["link", "set", &w.a, "up"]);
    let cases = [
        ("missing", json!({"hullnosuchdev0": {}}), "linux.netDevices.hullnosuchdev0"),
        ("conflict", json!({ v.a.clone(): {"name": "lo"} }), &*format!("linux.netDevices.{}.name", v.a)),
        ("bad-name", json!({ v.a.clone(): {"name": "a/b"} }), &*format!("linux.netDevices.{}.name", v.a)),
        ("same-target", json!({ v.a.clone(): {"name": "dup0"}, w.a.clone(): {"name": "dup0"} }), &*format!("linux.netDevices.{}.name", w.a)),
        // The host's loopback cannot change namespace: it fails after the others moved (in name
        // order), and they are put back.
        ("unmovable", json!({ v.a.clone(): {"name": "ctr0"}, w.a.clone(): {}, "lo": {"name": "hostlo0"} }), "linux.netDevices.lo"),
    ];
    for (name, devs, needle) in cases {
        let id = t.id_with(name);
        let mut b = t.bundle_for(&id);
        b.set("/linux/netDevices", devs);
        t.try_create(&b, &[]).assert_err(needle);
        t.assert_gone(&id);
        for (dev, addr) in [(&v.a, "10.199.90.1/24"), (&w.a, "10.199.91.1/24")] {
            assert!(on_host(dev), "{name}: {dev} must be back on the host");
            assert!(host_addrs(dev).contains(addr), "{name}: {dev} lost {addr}: {}", host_addrs(dev));
        }
    }
    let up = String::from_utf8_lossy(&ip(&["-o", "link", "show", &w.a]).stdout).into_owned();
    assert!(up.contains(",UP"), "{} was up before the failed create: {up}", w.a);
    // No network namespace of the container's own.
    let mut b = t.bundle();
    b.remove_namespace("network").set("/linux/netDevices", json!({ v.a.clone(): {} }));
    t.try_create(&b, &[]).assert_err("linux.netDevices");
    assert!(on_host(&v.a));
    t.finish();
}

#[test]
fn features_report_net_devices() {
    let Some(t) = setup("netdev_features") else { return };
    let out = t.rt_raw(&["features"]);
    out.assert_ok();
    let f: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(f["linux"]["netDevices"]["enabled"], true, "{f}");
    t.finish();
}

/// Fault injection (issue 11) with a moved device: a create that fails after the move puts the
/// device back on the host, named and addressed as before; a create killed after the move
/// leaves no device once `delete --force` ran (the veth pair ends with the container's network
/// namespace, as it would with runc).
#[test]
fn failed_or_killed_create_leaves_no_device_behind() {
    let Some(t) = setup("netdev_fault") else { return };
    if !is_hull() {
        return;
    }
    for (i, stage) in ["after-cgroup", "before-ready", "kill:after-cgroup"].iter().enumerate() {
        let v = Veth::new(&format!("f{i}"), "10.213.0.1/24");
        let id = t.id_with(&format!("s{i}"));
        let mut b = t.bundle_for(&id);
        b.set("/linux/netDevices", json!({ v.a.clone(): {"name": "ctr0"} }));
        b.args(&["sleep", "100000"]);
        b.write();
        let out = t.rt_with(&["create", "--bundle", b.dir_str(), &id], |c| {
            c.env("HULL_FAULT", stage);
        });
        assert!(!out.ok(), "create with {stage} succeeded\n{}", out.show());
        t.rt(&["delete", "--force", &id]).assert_ok();
        t.assert_gone(&id);
        if stage.starts_with("kill:") {
            wait_for("the killed container's devices to go", || (!on_host(&v.a) || host_addrs(&v.a).contains("10.213.0.1")).then_some(()));
            assert!(!on_host("ctr0"), "{stage}: a device named ctr0 was left on the host");
        } else {
            assert!(on_host(&v.a), "{stage}: the device was not put back\n{}", out.show());
            assert!(host_addrs(&v.a).contains("10.213.0.1/24"), "{stage}: the address was not put back: {}", host_addrs(&v.a));
        }
    }
    t.finish();
}
