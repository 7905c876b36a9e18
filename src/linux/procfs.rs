//! Writing to the container's procfs without being redirected (the CVE-2025-52881 class), and
//! keeping config mounts out of it.
//!
//! The runtime writes sysctls under /proc/sys after pivot_root. If a mount could land inside
//! procfs (a config mount whose destination resolves there through a symlink in the image, or a
//! volume swapped by another container while create runs), a write meant for
//! `net.ipv4.ip_forward` could follow a planted symlink to any other proc file, including
//! non-namespaced ones such as `kernel.core_pattern`. So: no config mount may land inside procfs
//! (but the few files lxcfs overmounts, as runc allows), and sysctls are opened from a /proc
//! that is checked to be procfs, with openat2 refusing symlinks and mount crossings.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;

use crate::error::{Context, Error, Result};

const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// The procfs files lxcfs (and similar) overmount with bind mounts: the only mount destinations
/// inside procfs a config may use, other than a proc mount itself.
const OVERMOUNTABLE: &[&str] = &[
    "/proc/cpuinfo",
    "/proc/diskstats",
    "/proc/meminfo",
    "/proc/stat",
    "/proc/swaps",
    "/proc/uptime",
    "/proc/loadavg",
    "/proc/slabinfo",
    "/proc/sys/kernel/ns_last_pid",
];

/// True when `fd` is on a procfs filesystem.
#[allow(clippy::unnecessary_cast)] // the magic is an i64 on glibc, a u64 on musl
pub fn is_procfs(fd: impl AsFd) -> bool {
    nix::sys::statfs::fstatfs(fd).is_ok_and(|s| s.filesystem_type().0 as i64 == PROC_SUPER_MAGIC)
}

/// Refuse a config mount whose resolved target (`target`, an O_PATH fd) lies inside procfs,
/// unless its destination is one of the files lxcfs overmounts.
pub fn check_mount_target(idx: usize, destination: &Path, target: &OwnedFd) -> Result<()> {
    if !is_procfs(target) {
        return Ok(());
    }
    let clean = Path::new("/").join(super::safe_path::clean(destination));
    if OVERMOUNTABLE.iter().any(|p| Path::new(p) == clean) {
        return Ok(());
    }
    Err(Error::Other(format!(
        "mounts[{idx}]: destination {destination:?} resolves inside procfs; nothing but {} may be mounted there",
        OVERMOUNTABLE.join(", ")
    )))
}

/// Write `value` to the sysctl `key` (dots or slashes) of the container's /proc/sys.
pub fn write_sysctl(key: &str, value: &str) -> Result<()> {
    let what = || format!("set sysctl {key}={value:?}");
    let proc = super::open_fd("/proc", OFlag::O_PATH | OFlag::O_DIRECTORY).ctx(|| format!("{}: open /proc", what()))?;
    if !is_procfs(&proc) {
        return Err(Error::Other(format!("{}: /proc is not a procfs mount", what())));
    }
    let rel = Path::new("sys").join(key.replace('.', "/"));
    let resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_NO_XDEV;
    let fd = super::safe_path::openat2_resolve(proc.as_fd(), &rel, libc::O_WRONLY | libc::O_TRUNC, resolve).map_err(|e| match e {
        Errno::ELOOP | Errno::EXDEV => Error::Other(format!(
            "{}: /proc/{} goes through a symlink or another mount; refusing to write through it",
            what(),
            rel.display()
        )),
        e => Error::sys(what(), e),
    })?;
    if !is_procfs(&fd) {
        return Err(Error::Other(format!("{}: /proc/{} is not on procfs", what(), rel.display())));
    }
    nix::unistd::write(&fd, value.as_bytes()).ctx(what)?;
    Ok(())
}
