//! All conformance cases, grouped by the container runs that evaluate them.
//! Each group declares its cases up front (key, spec file#section, title) and
//! then sets an outcome for each key.

pub mod config;
pub mod devices;
pub mod features;
pub mod hooks;
pub mod lifecycle;
pub mod mounts;
pub mod namespaces;
pub mod process;
pub mod resources;
pub mod seccomp;
pub mod security;

use crate::bundle::Bundle;
use crate::suite::{Group, G};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

pub fn all() -> Vec<Group> {
    let mut v = Vec::new();
    v.extend(lifecycle::groups());
    v.extend(config::groups());
    v.extend(process::groups());
    v.extend(mounts::groups());
    v.extend(namespaces::groups());
    v.extend(devices::groups());
    v.extend(resources::groups());
    v.extend(security::groups());
    v.extend(seccomp::groups());
    v.extend(hooks::groups());
    v.extend(features::groups());
    v
}

pub fn ensure(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

pub fn wait_output(b: &Bundle, needle: &str, t: Duration) -> bool {
    let end = Instant::now() + t;
    loop {
        if b.output().contains(needle) {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn wait_file(p: &Path, t: Duration) -> bool {
    let end = Instant::now() + t;
    loop {
        if p.exists() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Validate a state document against schema/state-schema.json.
pub fn state_schema(st: &Value) -> Result<(), String> {
    let errs = crate::schema::validate("state-schema.json", st);
    ensure(errs.is_empty(), || {
        format!("state-schema.json violations: {}", errs.join("; "))
    })
}

pub fn canon(p: &Path) -> String {
    std::fs::canonicalize(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// Run one container that cannot be created/started and record the result for `key`.
pub fn expect_error_case(g: &mut G, key: &str, b: &mut Bundle, at_start_ok: bool) {
    let r = g.expect_error(b, at_start_ok);
    g.check(key, r);
}

/// Outcome helper for "applied, or an error was generated" resources.
pub fn unsupported_on_host(g: &mut G, key: &str, b: &mut Bundle, what: &str) {
    let r = g.expect_error(b, false).map_err(|e| {
        format!(
            "{} cannot be applied on this host, so an error is required: {}",
            what, e
        )
    });
    g.check(key, r);
}

/// One independently checkable configuration item: extra mounts (and other
/// config edits), extra checker probes, and a check on the report.  Items are
/// first evaluated together in one container; if that container cannot be run,
/// each item is retried alone so that one unsupported item does not hide the
/// results of the others.
pub struct Item {
    pub key: &'static str,
    pub mounts: Vec<Value>,
    pub edit: Option<Box<dyn Fn(&mut Value)>>,
    pub probes: Vec<String>,
    pub check: Box<dyn Fn(&crate::suite::Report, usize) -> Result<(), String>>,
}

pub fn item(
    key: &'static str,
    mounts: Vec<Value>,
    probes: Vec<String>,
    check: impl Fn(&crate::suite::Report, usize) -> Result<(), String> + 'static,
) -> Item {
    Item {
        key,
        mounts,
        edit: None,
        probes,
        check: Box::new(check),
    }
}

pub fn run_items(g: &mut G, name: &str, items: Vec<Item>, base: &dyn Fn(&mut Bundle)) {
    // items skipped by the rootless table are left out of the containers
    let items: Vec<Item> = items.into_iter().filter(|it| !g.forced_skip(it.key)).collect();
    if items.is_empty() {
        return;
    }
    let run = |g: &mut G, its: &[&Item]| -> Result<(crate::suite::Report, Vec<usize>), String> {
        let mut b = g.bundle(name);
        base(&mut b);
        let mut probes: Vec<String> = Vec::new();
        let mut offs = Vec::new();
        for it in its {
            for m in &it.mounts {
                b.add_mount(m.clone());
            }
            if let Some(e) = &it.edit {
                e(&mut b.config);
            }
            offs.push(probes.len());
            probes.extend(it.probes.iter().cloned());
        }
        let p: Vec<&str> = probes.iter().map(|s| s.as_str()).collect();
        let r = g.run_checker(&mut b, &p)?;
        Ok((r, offs))
    };
    let all: Vec<&Item> = items.iter().collect();
    match run(g, &all) {
        Ok((rep, offs)) => {
            for (it, off) in items.iter().zip(offs) {
                let r = (it.check)(&rep, off);
                g.check(it.key, r);
            }
        }
        Err(first) => {
            for it in &items {
                if g.expired() {
                    g.fail(
                        it.key,
                        "group deadline passed before this item could be run alone",
                    );
                    continue;
                }
                match run(g, &[it]) {
                    Ok((rep, offs)) => {
                        let r = (it.check)(&rep, offs[0]);
                        g.check(it.key, r);
                    }
                    Err(e) => g.fail(it.key, format!("with only this item: {}", e)),
                }
            }
            let _ = first;
        }
    }
}

pub fn tmpfs(dest: &str, opts: &[&str]) -> Value {
    serde_json::json!({"destination": dest, "type": "tmpfs", "source": "tmpfs", "options": opts})
}

pub fn bindm(dest: &str, src: &str, opts: &[&str]) -> Value {
    serde_json::json!({"destination": dest, "type": "none", "source": src, "options": opts})
}
