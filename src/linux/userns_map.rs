//! The id maps of a new user namespace (`linux.uidMappings`, `linux.gidMappings`).
//!
//! A runtime with CAP_SETUID and CAP_SETGID in its own user namespace writes /proc/PID/uid_map
//! and gid_map itself. An unprivileged one (rootless) may write only a single line that maps its
//! own effective id, and gid_map only after setgroups(2) is denied for the namespace (the kernel
//! requires it: otherwise the container could drop a group that denies the user access to
//! something). Any other mapping goes through the setuid helpers newuidmap and newgidmap
//! (Debian `uidmap`), which allow the ranges that /etc/subuid and /etc/subgid give the user.

use std::process::Command;

use nix::unistd::{getegid, geteuid, Uid, User};
use oci_spec::runtime::LinuxIdMapping;

use crate::error::{Context, Error, Result};

/// Write uid_map and gid_map of the user namespace of `pid`.
pub fn write(pid: i32, uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<()> {
    let (cap_setuid, cap_setgid) = own_caps();
    write_one(pid, Kind::Uid, uid, cap_setuid)?;
    write_one(pid, Kind::Gid, gid, cap_setgid)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Uid,
    Gid,
}

impl Kind {
    fn file(self) -> &'static str {
        match self {
            Kind::Uid => "uid_map",
            Kind::Gid => "gid_map",
        }
    }
    fn helper(self) -> &'static str {
        match self {
            Kind::Uid => "newuidmap",
            Kind::Gid => "newgidmap",
        }
    }
    fn subid_file(self) -> &'static str {
        match self {
            Kind::Uid => "/etc/subuid",
            Kind::Gid => "/etc/subgid",
        }
    }
    fn field(self) -> &'static str {
        match self {
            Kind::Uid => "linux.uidMappings",
            Kind::Gid => "linux.gidMappings",
        }
    }
    fn own_id(self) -> u32 {
        match self {
            Kind::Uid => geteuid().as_raw(),
            Kind::Gid => getegid().as_raw(),
        }
    }
}

fn map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter().map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size())).collect()
}

fn write_one(pid: i32, kind: Kind, maps: &[LinuxIdMapping], privileged: bool) -> Result<()> {
    let p = format!("/proc/{pid}/{}", kind.file());
    let own_only = matches!(maps, [m] if m.size() == 1 && m.host_id() == kind.own_id());
    if privileged || own_only {
        if !privileged && kind == Kind::Gid {
            let sg = format!("/proc/{pid}/setgroups");
            std::fs::write(&sg, "deny").ctx(|| format!("write {sg} (an unprivileged gid_map needs setgroups denied)"))?;
        }
        return std::fs::write(&p, map_text(maps).as_bytes()).ctx(|| format!("write {p}"));
    }
    helper(pid, kind, maps)
}

/// Map through newuidmap/newgidmap: `<helper> PID ID HOST-ID SIZE...`.
fn helper(pid: i32, kind: Kind, maps: &[LinuxIdMapping]) -> Result<()> {
    let ranges: Vec<String> = maps.iter().map(|m| format!("{}:{}:{}", m.container_id(), m.host_id(), m.size())).collect();
    let what = format!("{} [{}] for an unprivileged user", kind.field(), ranges.join(" "));
    let mut cmd = Command::new(kind.helper());
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([m.container_id().to_string(), m.host_id().to_string(), m.size().to_string()]);
    }
    let out = cmd.output().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Other(format!(
            "{what}: needs {} (Debian package uidmap), which is not installed; only a single mapping of your own id ({}) works without it",
            kind.helper(),
            kind.own_id()
        )),
        _ => Error::io("run", kind.helper(), e),
    })?;
    if out.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&out.stderr).trim().replace('\n', "; ");
    Err(Error::Other(format!(
        "{what}: {} refused it ({said}); {} gives {}: {}",
        kind.helper(),
        kind.subid_file(),
        user_name(),
        allowed_ranges(kind).unwrap_or_else(|| "no range".into())
    )))
}

/// The caller's user name (or uid), as /etc/subuid names it.
fn user_name() -> String {
    let uid = geteuid();
    User::from_uid(Uid::from_raw(uid.as_raw())).ok().flatten().map(|u| u.name).unwrap_or_else(|| uid.to_string())
}

/// The ranges /etc/subuid (/etc/subgid) gives the caller, as `start+count` items.
fn allowed_ranges(kind: Kind) -> Option<String> {
    let text = std::fs::read_to_string(kind.subid_file()).ok()?;
    let (name, uid) = (user_name(), geteuid().to_string());
    let v: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let who = f.next()?;
            (who == name || who == uid).then(|| format!("{}+{}", f.next().unwrap_or("?"), f.next().unwrap_or("?")))
        })
        .collect();
    (!v.is_empty()).then(|| v.join(", "))
}

/// (CAP_SETUID, CAP_SETGID) in this process's effective set: what writing an arbitrary map of a
/// child user namespace takes.
fn own_caps() -> (bool, bool) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    // CAP_SETGID is capability 6, CAP_SETUID 7 (linux/capability.h).
    (eff & (1 << 7) != 0, eff & (1 << 6) != 0)
}
