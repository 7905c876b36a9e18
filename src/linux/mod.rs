//! Kernel mechanisms, one concept per file. Everything here is called from the staged start in
//! `launch/`; nothing here knows about the CLI or the state directory.

pub mod bpf;
pub mod capabilities;
pub mod clone;
pub mod console;
pub mod cpu_affinity;
pub mod devices;
pub mod exec;
pub mod idmap;
pub mod mounts;
pub mod namespaces;
pub mod netdev;
pub mod netlink;
pub mod rlimits;
pub mod rootfs;
pub mod safe_path;
pub mod scheduling;
pub mod seccomp;
pub mod user;

use std::os::fd::{FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// open(2) returning an owned descriptor (nix 0.29's `open` returns a raw one).
pub fn open_fd<P: ?Sized + nix::NixPath>(path: &P, flags: OFlag) -> Result<OwnedFd, Errno> {
    let fd = nix::fcntl::open(path, flags | OFlag::O_CLOEXEC, Mode::empty())?;
    // SAFETY: open just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
