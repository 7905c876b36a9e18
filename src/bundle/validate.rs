//! Semantic checks of a parsed config that its types cannot express. Each error names the JSON
//! path of the offending value.

use std::collections::HashSet;
use std::path::Component;

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{Error, Result};

/// `ociVersion` is SemVer 2.0.0: MAJOR.MINOR.PATCH with optional -pre and +build parts.
fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && (p.len() == 1 || !p.starts_with('0')))
        && v[core.len()..].bytes().all(|b| b.is_ascii_alphanumeric() || b"-+.".contains(&b))
}

pub fn validate(spec: &Spec) -> Result<()> {
    if !is_semver(spec.version()) {
        return Err(Error::config("ociVersion", format!("{:?} is not a SemVer version", spec.version())));
    }
    if spec.annotations().as_ref().is_some_and(|a| a.keys().any(|k| k.is_empty())) {
        return Err(Error::config("annotations", "keys must not be empty"));
    }
    let process = spec.process().as_ref().ok_or_else(|| Error::config("process", "missing: a container needs a process"))?;
    match process.args() {
        Some(a) if !a.is_empty() => {}
        _ => return Err(Error::config("process.args", "must not be empty")),
    }
    if !process.cwd().is_absolute() {
        return Err(Error::config("process.cwd", format!("{:?} is not an absolute path", process.cwd())));
    }
    if let Some(env) = process.env() {
        for (i, e) in env.iter().enumerate() {
            if !e.contains('=') {
                return Err(Error::config(format!("process.env[{i}]"), format!("{e:?} is not of the form KEY=value")));
            }
        }
    }
    // Not applied to the init (config.md: "not applicable to the container's init process"), but
    // it is the default of later `exec`s: a bad list fails here rather than there.
    crate::linux::cpu_affinity::ExecAffinity::from_process(process)?;
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        if !m.destination().is_absolute() {
            // runc's reading, kept for compatibility: relative to the container's "/".
            crate::log::debug(format!("mounts[{i}].destination {:?} is relative: taken as relative to \"/\"", m.destination()));
        }
    }
    for (phase, hooks) in hook_lists(spec) {
        for (i, h) in hooks.iter().enumerate() {
            if h.timeout().is_some_and(|t| t <= 0) {
                return Err(Error::config(format!("hooks.{phase}[{i}].timeout"), "must be greater than zero"));
            }
            if !h.path().is_absolute() {
                return Err(Error::config(format!("hooks.{phase}[{i}].path"), format!("{:?} is not an absolute path", h.path())));
            }
        }
    }
    let linux = spec.linux().as_ref().ok_or_else(|| Error::config("linux", "missing"))?;
    let mut seen = HashSet::new();
    let mut new_ns = HashSet::new();
    // The namespaces that are the container's own: new, or joined and not the runtime's.
    let mut own_ns = HashSet::new();
    for (i, ns) in linux.namespaces().iter().flatten().enumerate() {
        if !seen.insert(ns.typ()) {
            return Err(Error::config(format!("linux.namespaces[{i}].type"), format!("duplicate namespace type \"{}\"", ns_name(ns.typ()))));
        }
        match ns.path() {
            Some(p) if !p.is_absolute() => {
                return Err(Error::config(format!("linux.namespaces[{i}].path"), format!("{p:?} is not an absolute path")));
            }
            Some(p) if !p.exists() => {
                return Err(Error::config(format!("linux.namespaces[{i}].path"), format!("namespace {p:?} does not exist")));
            }
            Some(p) => {
                // A namespace joined by path is the container's unless it is the runtime's own.
                if !crate::linux::namespaces::is_runtime_namespace(p, ns.typ()) {
                    own_ns.insert(ns.typ());
                }
            }
            None => {
                new_ns.insert(ns.typ());
                own_ns.insert(ns.typ());
            }
        }
    }
    for (i, m) in spec.mounts().iter().flatten().enumerate() {
        check_idmapped_mount(i, m, seen.contains(&LinuxNamespaceType::User))?;
    }
    if let Some(devices) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) {
        if !seen.contains(&LinuxNamespaceType::Network) {
            return Err(Error::config("linux.netDevices", "moving network devices needs a network namespace of the container's own (linux.namespaces has none)"));
        }
        for (name, dev) in devices {
            crate::linux::netdev::check_names(name, dev)?;
        }
    }
    if !own_ns.contains(&LinuxNamespaceType::Mount) && own_ns.contains(&LinuxNamespaceType::User) {
        // The rootfs would be built in the runtime's mount namespace, which the container's user
        // namespace has no privilege over.
        return Err(Error::config(
            "linux.namespaces",
            "a container with a user namespace of its own needs a mount namespace of its own: without one its mounts would go into the runtime's mount namespace, where it has no privilege",
        ));
    }
    if spec.hostname().as_deref().is_some_and(|h| !h.is_empty()) && !own_ns.contains(&LinuxNamespaceType::Uts) {
        return Err(Error::config("hostname", "unable to set hostname without a private UTS namespace"));
    }
    if spec.domainname().as_deref().is_some_and(|h| !h.is_empty()) && !own_ns.contains(&LinuxNamespaceType::Uts) {
        return Err(Error::config("domainname", "unable to set domainname without a private UTS namespace"));
    }
    let has_maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    if new_ns.contains(&LinuxNamespaceType::User) {
        if !has_maps || linux.gid_mappings().as_ref().is_none_or(|m| m.is_empty()) {
            return Err(Error::config("linux.uidMappings", "a new user namespace needs uidMappings and gidMappings"));
        }
    } else if has_maps && !seen.contains(&LinuxNamespaceType::User) {
        return Err(Error::config("linux.uidMappings", "user mappings given but no user namespace"));
    }
    if linux.time_offsets().as_ref().is_some_and(|t| !t.is_empty()) && !new_ns.contains(&LinuxNamespaceType::Time) {
        return Err(Error::config("linux.timeOffsets", "time offsets need a new time namespace"));
    }
    if let Some(offsets) = linux.time_offsets() {
        for k in offsets.keys() {
            if k != "monotonic" && k != "boottime" {
                return Err(Error::config(format!("linux.timeOffsets.{k}"), "unknown clock (expected monotonic or boottime)"));
            }
        }
    }
    for key in linux.sysctl().iter().flatten().map(|(k, _)| k) {
        check_sysctl(key, &seen)?;
    }
    // LSM labels: applied where the host has the LSM; a precise error where it does not.
    let apparmor = process.apparmor_profile().as_deref().filter(|s| !s.is_empty());
    if apparmor.is_some() && !std::path::Path::new("/sys/kernel/security/apparmor").exists() {
        return Err(Error::config("process.apparmorProfile", "AppArmor is not enabled on this host"));
    }
    if apparmor.is_some() {
        return Err(Error::config("process.apparmorProfile", "AppArmor profiles are not supported by this version of hull"));
    }
    // SELinux labels on a host without SELinux are ignored with a warning, as crun and youki do,
    // so that a config written on an SELinux host runs where there is none. (An AppArmor
    // profile stays an error: it asks for confinement that the host would silently not give.)
    for (path, label) in [("process.selinuxLabel", process.selinux_label()), ("linux.mountLabel", linux.mount_label())] {
        if let Some(label) = label.as_deref().filter(|s| !s.is_empty()) {
            if selinux_enabled() {
                return Err(Error::config(path, "SELinux labels are not supported by this version of hull"));
            }
            crate::log::warn(format!("{path}: SELinux is not enabled on this host; label {label:?} ignored"));
        }
    }
    if linux.intel_rdt().is_some() && !resctrl_mounted() {
        return Err(Error::config("linux.intelRdt", "Intel RDT needs the resctrl filesystem, which is not mounted on this host"));
    }
    if linux.intel_rdt().is_some() {
        return Err(Error::config("linux.intelRdt", "Intel RDT (resctrl) is not supported by this version of hull"));
    }
    if let Some(p) = linux.cgroups_path() {
        if p.components().any(|c| c == Component::ParentDir) {
            return Err(Error::config("linux.cgroupsPath", format!("{p:?} must not contain \"..\"")));
        }
    }
    Ok(())
}

/// config.md: uidMappings and gidMappings come together; an idmap without them needs the
/// container's user namespace. hull idmaps bind mounts only.
fn check_idmapped_mount(i: usize, m: &oci_spec::runtime::Mount, has_userns: bool) -> Result<()> {
    let given = |v: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| v.as_ref().is_some_and(|v| !v.is_empty());
    let (uid, gid) = (given(m.uid_mappings()), given(m.gid_mappings()));
    if uid != gid {
        let (missing, other) = if uid { ("gidMappings", "uidMappings") } else { ("uidMappings", "gidMappings") };
        return Err(Error::config(format!("mounts[{i}].{missing}"), format!("missing: {other} must be given together with {missing}")));
    }
    if !crate::linux::idmap::is_idmapped(m) {
        return Ok(());
    }
    let opts = crate::linux::mounts::parse_options(m.options().as_deref().unwrap_or(&[]))
        .map_err(|msg| Error::config(format!("mounts[{i}].options"), msg))?;
    if !opts.is_bind() && m.typ().as_deref() != Some("bind") {
        return Err(Error::config(format!("mounts[{i}]"), format!("idmapped mount on {:?}: only bind mounts can be idmapped", m.destination())));
    }
    if !uid && !has_userns {
        return Err(Error::config(
            format!("mounts[{i}].options"),
            "idmap without uidMappings and gidMappings uses the container's user namespace mapping, but the container has no user namespace",
        ));
    }
    Ok(())
}

fn resctrl_mounted() -> bool {
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|m| m.lines().any(|l| l.contains(" - resctrl ")))
}

fn hook_lists(spec: &Spec) -> Vec<(&'static str, &[oci_spec::runtime::Hook])> {
    use crate::hooks::Phase;
    [Phase::Prestart, Phase::CreateRuntime, Phase::CreateContainer, Phase::StartContainer, Phase::Poststart, Phase::Poststop]
        .into_iter()
        .map(|p| (p.name(), p.of(spec.hooks())))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn semver() {
        for ok in ["1.0.0", "1.0.2-dev", "1.2.0+build.5", "10.20.30"] {
            assert!(super::is_semver(ok), "{ok}");
        }
        for bad in ["1.0", "v1.0.0", "1.0.0.0", "01.0.0", "", "1.x.0"] {
            assert!(!super::is_semver(bad), "{bad}");
        }
    }
}

/// Only namespaced sysctls may be set, and only when the container has that namespace: anything
/// else would change the host.
fn check_sysctl(key: &str, ns: &HashSet<LinuxNamespaceType>) -> Result<()> {
    let path = format!("linux.sysctl.{key}");
    let ipc = key.starts_with("fs.mqueue.")
        || ["kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem", "kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"]
            .contains(&key);
    let (needed, name) = if ipc {
        (LinuxNamespaceType::Ipc, "ipc")
    } else if key.starts_with("net.") {
        (LinuxNamespaceType::Network, "network")
    } else if key == "kernel.hostname" || key == "kernel.domainname" {
        (LinuxNamespaceType::Uts, "uts")
    } else {
        return Err(Error::config(path, "not a namespaced sysctl: setting it would change the host"));
    };
    if !ns.contains(&needed) {
        return Err(Error::config(path, format!("sysctl needs the container's own {name} namespace")));
    }
    Ok(())
}

/// SELinux is enabled when selinuxfs is mounted.
pub fn selinux_enabled() -> bool {
    std::path::Path::new("/sys/fs/selinux/enforce").exists()
}

/// The name of a namespace type as config.json spells it.
pub fn ns_name(t: LinuxNamespaceType) -> &'static str {
    match t {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}
