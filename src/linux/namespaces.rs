//! Namespaces: which to create at clone time, which to join by path, and the ones (cgroup, time)
//! that must be created later by the init itself.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::PathBuf;

use nix::sched::{setns, unshare, CloneFlags};
use oci_spec::runtime::{Linux, LinuxNamespaceType};

use crate::bundle::validate::ns_name;
use crate::error::{Context, Error, Result};

/// The namespace plan of a container, derived from `linux.namespaces`.
#[derive(Default, Debug, Clone)]
pub struct NsPlan {
    /// CLONE_NEW* flags for the clone that creates init (pid, mount, uts, ipc, net, user).
    pub clone_flags: u64,
    /// Created by init after it has been placed in its cgroup, so its root is that cgroup.
    pub new_cgroup: bool,
    /// Created by init with unshare + timens_offsets + setns (offsets must be written before any
    /// process is in the namespace).
    pub new_time: bool,
    pub new_user: bool,
    pub new_pid: bool,
    pub new_net: bool,
    /// Namespaces to join, user first.
    pub joins: Vec<(LinuxNamespaceType, PathBuf)>,
    /// No mount namespace of the container's own (none asked for, or the runtime's joined): the
    /// rootfs is built in the runtime's mount namespace (`host_root`).
    pub host_mounts: bool,
}

pub fn clone_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
    }
}

impl NsPlan {
    pub fn from_config(linux: &Linux) -> NsPlan {
        let mut plan = NsPlan::default();
        for ns in linux.namespaces().iter().flatten() {
            let t = ns.typ();
            match ns.path() {
                Some(p) => {
                    if t == LinuxNamespaceType::User {
                        plan.joins.insert(0, (t, p.clone()));
                    } else {
                        plan.joins.push((t, p.clone()));
                    }
                }
                None => match t {
                    LinuxNamespaceType::Cgroup => plan.new_cgroup = true,
                    LinuxNamespaceType::Time => plan.new_time = true,
                    _ => {
                        plan.clone_flags |= clone_flag(t).bits() as u64;
                        plan.new_user |= t == LinuxNamespaceType::User;
                        plan.new_pid |= t == LinuxNamespaceType::Pid;
                        plan.new_net |= t == LinuxNamespaceType::Network;
                    }
                },
            }
        }
        plan.host_mounts = !linux.namespaces().iter().flatten().any(|ns| {
            ns.typ() == LinuxNamespaceType::Mount
                && ns.path().as_deref().is_none_or(|p| !is_runtime_namespace(p, LinuxNamespaceType::Mount))
        });
        plan
    }

    /// True when some namespace is joined by path.
    pub fn has_joins(&self) -> bool {
        !self.joins.is_empty()
    }

    pub fn joins_pid_or_user(&self) -> bool {
        self.joins.iter().any(|(t, _)| matches!(t, LinuxNamespaceType::Pid | LinuxNamespaceType::User))
    }

    pub fn joins_type(&self, t: LinuxNamespaceType) -> bool {
        self.joins.iter().any(|(j, _)| *j == t)
    }
}

/// Open every namespace to join. Opened up front, before any setns, so that a mount namespace
/// join does not change how the later paths resolve.
pub fn open_joins(plan: &NsPlan) -> Result<Vec<(LinuxNamespaceType, PathBuf, File)>> {
    plan.joins
        .iter()
        .map(|(t, p)| {
            let f = File::open(p).map_err(|e| Error::io("open namespace", p, e))?;
            Ok((*t, p.clone(), f))
        })
        .collect()
}

/// Join the opened namespaces (user first). A pid namespace join takes effect for children only.
pub fn join(opened: &[(LinuxNamespaceType, PathBuf, File)]) -> Result<()> {
    for (t, p, f) in opened {
        setns(f.as_fd(), clone_flag(*t)).ctx(|| format!("join {} namespace {p:?}", ns_name(*t)))?;
    }
    Ok(())
}

/// Create a new cgroup namespace rooted at the current cgroup.
pub fn unshare_cgroup() -> Result<()> {
    unshare(CloneFlags::CLONE_NEWCGROUP).ctx(|| "unshare cgroup namespace".into())
}

/// Create a time namespace with the configured offsets and move into it.
pub fn enter_new_time_ns(offsets: &[(String, i64, u32)]) -> Result<()> {
    unshare(CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)).ctx(|| "unshare time namespace".into())?;
    if !offsets.is_empty() {
        let text: String =
            offsets.iter().map(|(clock, secs, nanos)| format!("{clock} {secs} {nanos}\n")).collect();
        std::fs::write("/proc/self/timens_offsets", text.as_bytes())
            .ctx(|| "write /proc/self/timens_offsets".into())?;
    }
    let f = File::open("/proc/self/ns/time_for_children")
        .map_err(|e| Error::io("open", "/proc/self/ns/time_for_children", e))?;
    setns(f.as_fd(), CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)).ctx(|| "enter new time namespace".into())
}

/// True when the namespace file at `path` is the runtime's own namespace of that type.
pub fn is_runtime_namespace(path: &std::path::Path, typ: LinuxNamespaceType) -> bool {
    use std::os::unix::fs::MetadataExt;
    let own = std::path::Path::new("/proc/self/ns").join(match typ {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Network => "net",
        other => ns_name(other),
    });
    match (std::fs::metadata(path), std::fs::metadata(own)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}
