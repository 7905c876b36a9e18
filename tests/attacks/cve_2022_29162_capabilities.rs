//! CVE-2022-29162: inheritable (and ambient) capabilities given to container processes that the
//! config did not ask for. A non-root process with inheritable capabilities gains them back on
//! exec of any file with matching file capabilities. The config's sets are applied exactly: no
//! inheritable or ambient set beyond what it lists, for the init and for exec, as root and as a
//! non-root user.

use crate::common::*;
use serde_json::json;

/// The Cap* lines of /proc/self/status as (name, mask).
fn caps(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| l.strip_prefix("Cap"))
        .filter_map(|l| {
            let (k, v) = l.split_once(':')?;
            Some((k.to_string(), u64::from_str_radix(v.trim(), 16).ok()?))
        })
        .collect()
}

fn get(c: &[(String, u64)], k: &str) -> u64 {
    c.iter().find(|(n, _)| n == k).unwrap_or_else(|| panic!("no Cap{k} in {c:?}")).1
}

const AUDIT_WRITE: u64 = 1 << 29;
const KILL: u64 = 1 << 5;
const NET_BIND_SERVICE: u64 = 1 << 10;
const DEFAULT: u64 = AUDIT_WRITE | KILL | NET_BIND_SERVICE;

#[test]
fn no_inheritable_or_ambient_beyond_the_config() {
    let Some(t) = setup("cve_2022_29162_caps") else { return };
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    t.create_start(&b);
    // The init, as root with the default sets (no inheritable, no ambient listed).
    let out = t.rt(&["exec", &b.id, "cat", "/proc/1/status"]);
    let c = caps(&out.assert_ok().stdout);
    assert_eq!((get(&c, "Inh"), get(&c, "Amb")), (0, 0), "init: {c:?}");
    assert_eq!((get(&c, "Prm"), get(&c, "Eff"), get(&c, "Bnd")), (DEFAULT, DEFAULT, DEFAULT), "init: {c:?}");
    // exec as root and as a non-root user.
    let c = caps(&t.rt(&["exec", &b.id, "cat", "/proc/self/status"]).assert_ok().stdout);
    assert_eq!((get(&c, "Inh"), get(&c, "Amb"), get(&c, "Prm")), (0, 0, DEFAULT), "exec as root: {c:?}");
    let c = caps(&t.rt(&["exec", "--user", "1000:1000", &b.id, "cat", "/proc/self/status"]).assert_ok().stdout);
    assert_eq!((get(&c, "Inh"), get(&c, "Amb"), get(&c, "Prm"), get(&c, "Eff")), (0, 0, 0, 0), "exec as uid 1000: {c:?}");
    assert_eq!(get(&c, "Bnd"), DEFAULT, "exec as uid 1000: {c:?}");
    t.finish();
}

/// Ambient capabilities are what the config lists (and the kernel allows: each must also be
/// permitted and inheritable), never more.
#[test]
fn ambient_is_exactly_what_the_config_lists() {
    let Some(t) = setup("cve_2022_29162_ambient") else { return };
    let mut b = t.bundle();
    b.set("/process/user", json!({"uid": 1000, "gid": 1000}));
    b.set("/process/capabilities/inheritable", json!(["CAP_NET_BIND_SERVICE"]));
    b.set("/process/capabilities/ambient", json!(["CAP_NET_BIND_SERVICE"]));
    b.sh("cat /proc/self/status");
    let c = caps(&t.run_ok(&b));
    assert_eq!(get(&c, "Amb"), NET_BIND_SERVICE, "{c:?}");
    assert_eq!(get(&c, "Inh"), NET_BIND_SERVICE, "{c:?}");
    assert_eq!((get(&c, "Prm"), get(&c, "Eff")), (NET_BIND_SERVICE, NET_BIND_SERVICE), "a non-root process keeps only its ambient set: {c:?}");
    t.finish();
}
