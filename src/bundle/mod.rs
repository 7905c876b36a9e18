//! A bundle on disk: load `config.json` with errors that name the JSON path, check what the
//! types alone cannot, and resolve the root filesystem.

pub mod validate;

use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;

use crate::error::{Error, Result};

pub use validate::validate;

/// A loaded bundle: its absolute directory, the parsed config and the resolved rootfs.
pub struct Bundle {
    pub dir: PathBuf,
    pub spec: Spec,
    pub rootfs: PathBuf,
}

impl Bundle {
    /// Load and validate `<dir>/config.json`.
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = fs::canonicalize(dir).map_err(|e| Error::io("bundle", dir, e))?;
        if !dir.is_dir() {
            return Err(Error::Other(format!("bundle {dir:?} is not a directory")));
        }
        let path = dir.join("config.json");
        let text = fs::read(&path).map_err(|e| Error::io("read", &path, e))?;
        let spec = parse_config(&text)?;
        validate(&spec)?;
        let rootfs = resolve_rootfs(&dir, &spec)?;
        Ok(Bundle { dir, spec, rootfs })
    }
}

/// Parse config.json text. Errors name the JSON path of the offending value.
pub fn parse_config(text: &[u8]) -> Result<Spec> {
    let mut de = serde_json::Deserializer::from_slice(text);
    match serde_path_to_error::deserialize::<_, Spec>(&mut de) {
        Ok(spec) => Ok(spec),
        Err(e) if is_unknown_capability(e.path()) || e.path().to_string().starts_with("process.scheduler.flags") => {
            // Rare paths: drop capability names this build does not know (runc warns and goes
            // on); accept the spec's scheduler flag names where oci-spec spells them otherwise.
            let mut v: serde_json::Value =
                serde_json::from_slice(text).map_err(|e| Error::config("(document)", e.to_string()))?;
            drop_unknown_capabilities(&mut v);
            if let Some(p) = v.get_mut("process") {
                respell_scheduler_flags(p);
            }
            serde_path_to_error::deserialize::<_, Spec>(v).map_err(config_error)
        }
        Err(e) => Err(config_error(e)),
    }
}

fn config_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> Error {
    let path = e.path().to_string();
    let inner = e.into_inner();
    let msg = friendly_message(&path, &inner.to_string());
    let path = if path == "." { "(document)".to_string() } else { path };
    Error::config(path, msg)
}

fn is_unknown_capability(path: &serde_path_to_error::Path) -> bool {
    path.to_string().starts_with("process.capabilities.")
}

/// config-linux.md names two scheduler flags `SCHED_FLAG_RESET_ON_FORK` and
/// `SCHED_FLAG_DL_OVERRUN`; oci-spec 0.10 calls them `SCHED_RESET_ON_FORK` and
/// `SCHED_FLAG_D_L_OVERRUN`. Rewrite a process object's flags to the crate's names.
pub fn respell_scheduler_flags(process: &mut serde_json::Value) {
    let Some(flags) = process.pointer_mut("/scheduler/flags").and_then(|f| f.as_array_mut()) else { return };
    for f in flags {
        let name = match f.as_str() {
            Some("SCHED_FLAG_RESET_ON_FORK") => "SCHED_RESET_ON_FORK",
            Some("SCHED_FLAG_DL_OVERRUN") => "SCHED_FLAG_D_L_OVERRUN",
            _ => continue,
        };
        *f = serde_json::Value::from(name);
    }
}

fn drop_unknown_capabilities(v: &mut serde_json::Value) {
    let Some(sets) = v.pointer_mut("/process/capabilities").and_then(|c| c.as_object_mut()) else { return };
    for (set, list) in sets.iter_mut() {
        let Some(list) = list.as_array_mut() else { continue };
        list.retain(|name| {
            let known = serde_json::from_value::<oci_spec::runtime::Capability>(name.clone()).is_ok();
            if !known {
                crate::log::warn(format!("process.capabilities.{set}: unknown capability {name} ignored"));
            }
            known
        });
    }
}

/// Rewrite serde's generic texts where a clearer one exists.
fn friendly_message(path: &str, msg: &str) -> String {
    if path.contains("namespaces[") && path.ends_with(".type") {
        if let Some(rest) = msg.strip_prefix("unknown variant `") {
            if let Some(name) = rest.split('`').next() {
                return format!("unknown namespace type {name:?}");
            }
        }
    }
    msg.to_string()
}

/// `root.path` is absolute or relative to the bundle; it must be a directory.
fn resolve_rootfs(dir: &Path, spec: &Spec) -> Result<PathBuf> {
    let root = spec.root().as_ref().ok_or_else(|| Error::config("root", "missing"))?;
    let p = dir.join(root.path());
    let meta = fs::metadata(&p).map_err(|e| Error::config("root.path", format!("rootfs {p:?}: {}", io_err(&e))))?;
    if !meta.is_dir() {
        return Err(Error::config("root.path", format!("rootfs {p:?} is not a directory")));
    }
    fs::canonicalize(&p).map_err(|e| Error::config("root.path", format!("rootfs {p:?}: {}", io_err(&e))))
}

fn io_err(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => crate::error::errno_text(nix::errno::Errno::from_raw(n)),
        None => e.to_string(),
    }
}

/// The config `hull spec` writes: runc's default, so that tools written for runc work unchanged.
pub fn default_spec_json(rootless: bool) -> serde_json::Value {
    // The template is a constant checked by the tests; parsing it cannot fail.
    let mut v: serde_json::Value =
        serde_json::from_str(include_str!("default-spec.json")).expect("default-spec.json is valid JSON");
    v["ociVersion"] = serde_json::Value::from(crate::OCI_VERSION);
    v["hostname"] = serde_json::Value::from("hull");
    if rootless {
        make_rootless(&mut v);
    }
    v
}

fn make_rootless(v: &mut serde_json::Value) {
    use serde_json::json;
    let uid = nix::unistd::geteuid().as_raw();
    let gid = nix::unistd::getegid().as_raw();
    if let Some(mounts) = v["mounts"].as_array_mut() {
        mounts.retain(|m| m["type"] != "cgroup");
        for m in mounts.iter_mut() {
            if m["type"] == "sysfs" {
                *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                            "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
            } else if m["type"] == "devpts" {
                if let Some(o) = m["options"].as_array_mut() {
                    o.retain(|x| x != "gid=5");
                }
            }
        }
        mounts.push(json!({"destination": "/sys/fs/cgroup", "type": "none", "source": "/sys/fs/cgroup",
                           "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}));
    }
    let linux = &mut v["linux"];
    if let Some(o) = linux.as_object_mut() {
        o.remove("resources");
    }
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network");
        ns.push(json!({"type": "user"}));
    }
}
