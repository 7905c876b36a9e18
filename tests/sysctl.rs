//! `linux.sysctl` (config-linux.md "Sysctl"): namespaced sysctls are set inside the container's
//! own namespaces (read back from /proc/sys inside, the host unchanged); sysctls that are not
//! namespaced, or whose namespace the container does not have, are refused at create and nothing
//! is left behind.
mod common;

use common::*;
use serde_json::json;

fn host_sysctl(key: &str) -> String {
    read_trim(format!("/proc/sys/{}", key.replace('.', "/")))
}

/// Values different from both the host's and a fresh namespace's defaults (checked below with a
/// control container), so only the runtime can have put them there.
const SET: &[(&str, &str)] = &[
    ("net.ipv4.ip_forward", "1"),
    ("net.ipv4.ip_unprivileged_port_start", "123"),
    ("kernel.shmmni", "1234"),
    ("kernel.msgmax", "4321"),
];

fn read_all_script() -> String {
    SET.iter()
        .map(|(k, _)| format!("echo {k}=$(cat /proc/sys/{})", k.replace('.', "/")))
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn namespaced_sysctls_set_inside() {
    let Some(t) = setup("sysctl_set") else { return };
    let before: Vec<String> = SET.iter().map(|(k, _)| host_sysctl(k)).collect();
    for ((k, v), h) in SET.iter().zip(&before) {
        assert_ne!(h, v, "host already has {k}={v}: the test could not tell");
    }
    let mut b = t.bundle();
    let map: serde_json::Map<String, serde_json::Value> = SET.iter().map(|(k, v)| (k.to_string(), json!(v))).collect();
    b.set("/linux/sysctl", json!(map));
    // /proc/sys is read-only for the process (readonlyPaths), even though the runtime wrote it.
    b.sh(&format!("{}; echo 0 > /proc/sys/net/ipv4/ip_forward 2>/dev/null && echo write=ok || echo write=refused", read_all_script()));
    let out = t.run_ok(&b);
    for (k, v) in SET {
        assert!(out.lines().any(|l| l == format!("{k}={v}")), "{k} not {v} inside:\n{out}");
    }
    assert!(out.lines().any(|l| l == "write=refused"), "/proc/sys must stay read-only:\n{out}");
    let after: Vec<String> = SET.iter().map(|(k, _)| host_sysctl(k)).collect();
    assert_eq!(before, after, "the host's sysctls changed");

    // Control: the same container without linux.sysctl does not see those values.
    let mut b = t.bundle_for(&t.id_with("control"));
    b.sh(&read_all_script());
    let out = t.run_ok(&b);
    for (k, v) in SET {
        assert!(!out.lines().any(|l| l == format!("{k}={v}")), "{k}={v} even without linux.sysctl:\n{out}");
    }
    t.finish();
}

/// Create must fail, mentioning `needle` (and `hull_needle` for hull's own wording), leave
/// nothing behind and leave the host's value alone.
fn refused(t: &Test, b: &mut Bundle, key: &str, value: &str, needle: &str, hull_needle: &str) {
    let host = host_sysctl(key);
    b.set("/linux/sysctl", json!({key: value}));
    b.args(&["true"]);
    let out = t.try_create(b, &[]);
    out.assert_err(needle);
    if is_hull() {
        out.assert_err(hull_needle);
    }
    assert!(t.state(&b.id).is_none(), "a refused sysctl left a container");
    t.assert_gone(&b.id);
    assert_eq!(host_sysctl(key), host, "{key} changed on the host");
}

#[test]
fn non_namespaced_sysctl_refused() {
    let Some(t) = setup("sysctl_vm") else { return };
    let host = host_sysctl("vm.swappiness");
    let v = if host == "13" { "14" } else { "13" };
    let mut b = t.bundle();
    refused(&t, &mut b, "vm.swappiness", v, "vm.swappiness", "linux.sysctl.vm.swappiness");
    t.finish();
}

#[test]
fn net_sysctl_without_network_namespace_refused() {
    let Some(t) = setup("sysctl_no_netns") else { return };
    let mut b = t.bundle();
    b.remove_namespace("network");
    refused(&t, &mut b, "net.ipv4.ip_forward", "1", "net.ipv4.ip_forward", "linux.sysctl.net.ipv4.ip_forward");
    t.finish();
}

#[test]
fn ipc_sysctl_without_ipc_namespace_refused() {
    let Some(t) = setup("sysctl_no_ipcns") else { return };
    let mut b = t.bundle();
    b.remove_namespace("ipc");
    refused(&t, &mut b, "kernel.shmmni", "1234", "kernel.shmmni", "linux.sysctl.kernel.shmmni");
    t.finish();
}

/// A namespaced-looking key the kernel does not have: create fails, nothing left.
#[test]
fn unknown_sysctl_fails_create() {
    let Some(t) = setup("sysctl_unknown") else { return };
    let mut b = t.bundle();
    b.set("/linux/sysctl", json!({"net.ipv4.hull_no_such_sysctl": "1"}));
    b.args(&["true"]);
    let out = t.try_create(&b, &[]);
    out.assert_err("hull_no_such_sysctl");
    assert!(t.state(&b.id).is_none());
    t.assert_gone(&b.id);
    t.finish();
}
