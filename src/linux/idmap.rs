//! Idmapped bind mounts (`mounts[].uidMappings`/`gidMappings`, options `idmap` and `ridmap`).
//!
//! The kernel lets only a process privileged over the source's filesystem (for host paths: the
//! initial user namespace) idmap a mount, and only while the mount is detached. So the runtime
//! side makes each idmapped mount: open_tree(OPEN_TREE_CLONE) of the source (AT_RECURSIVE for
//! `rbind`), mount_setattr(MOUNT_ATTR_IDMAP) with a user namespace holding the mapping
//! (AT_RECURSIVE for `ridmap`), and sends the detached mount to the init over the sync channel;
//! the init attaches it with move_mount on the target it resolved inside the rootfs. That works
//! the same whether or not the container has a user namespace of its own.
//!
//! The mapping's user namespace is the container's own (when the mount gives no mappings, per
//! config.md's "MAY use the container's user namespace mapping") or a fresh one whose uid_map and
//! gid_map are the mount's, owned by a short-lived child: its /proc/PID/ns/user keeps the
//! namespace alive after the child is gone.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxIdMapping, Mount};

use super::mounts::{mount_setattr, parse_options};
use crate::error::{Context, Error, Result};

pub(super) const OPEN_TREE_CLONE: u32 = 1;
const AT_RECURSIVE: u32 = 0x8000;
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;
pub(super) const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;

/// Whether a config mount asks for an idmapping: mappings given, or `idmap`/`ridmap`.
pub fn is_idmapped(m: &Mount) -> bool {
    has_mappings(m) || parse_options(m.options().as_deref().unwrap_or(&[])).is_ok_and(|o| o.idmap.is_some())
}

fn has_mappings(m: &Mount) -> bool {
    m.uid_mappings().as_ref().is_some_and(|v| !v.is_empty()) || m.gid_mappings().as_ref().is_some_and(|v| !v.is_empty())
}

/// Whether this kernel has the system calls of idmapped mounts (Linux 5.12).
pub fn supported() -> bool {
    // Bad descriptors: a kernel with the calls says EBADF or EINVAL, one without says ENOSYS.
    // SAFETY: no pointer is dereferenced for an invalid descriptor and a NULL attribute.
    let r = unsafe { libc::syscall(libc::SYS_mount_setattr, -1, c"".as_ptr(), libc::AT_EMPTY_PATH, std::ptr::null::<u8>(), 0usize) };
    let setattr = r == 0 || Errno::last() != Errno::ENOSYS;
    // SAFETY: as above; a NULL path with a bad descriptor fails before any use.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, -1, std::ptr::null::<u8>(), 0u32) };
    setattr && (r >= 0 || Errno::last() != Errno::ENOSYS)
}

/// Make the detached idmapped mount of every such entry of `mounts`, in order.
/// `container_userns` is the container's user namespace, if it has one (its mapping serves the
/// entries without mappings of their own).
pub fn detached_mounts(mounts: &[Mount], bundle: &Path, container_userns: Option<&Path>) -> Result<Vec<(usize, OwnedFd)>> {
    let mut out = Vec::new();
    for (i, m) in mounts.iter().enumerate().filter(|(_, m)| is_idmapped(m)) {
        let opts = parse_options(m.options().as_deref().unwrap_or(&[]))
            .map_err(|msg| Error::config(format!("mounts[{i}].options"), msg))?;
        let src = source(bundle, m);
        let what = format!("mounts[{i}]: idmapped mount of {:?} on {:?}", src.display().to_string(), m.destination().display().to_string());
        let userns = match (has_mappings(m), container_userns) {
            (true, _) => userns_with_maps(
                m.uid_mappings().as_deref().unwrap_or(&[]),
                m.gid_mappings().as_deref().unwrap_or(&[]),
            )
            .map_err(|e| Error::Other(format!("{what}: {e}")))?,
            (false, Some(p)) => crate::linux::open_fd(p, nix::fcntl::OFlag::O_RDONLY)
                .ctx(|| format!("{what}: open the container's user namespace {p:?}"))?,
            (false, None) => {
                return Err(Error::config(format!("mounts[{i}].options"), "idmap without uidMappings and gidMappings needs a container user namespace"));
            }
        };
        let tree = open_tree(&src, opts.flags.contains(nix::mount::MsFlags::MS_REC)).ctx(|| format!("{what}: open_tree"))?;
        let rec = if opts.idmap == Some(true) { AT_RECURSIVE as i32 } else { 0 };
        mount_setattr(tree.as_fd(), rec, MOUNT_ATTR_IDMAP, 0, userns.as_raw_fd() as u64).map_err(|e| {
            let hint = match e {
                Errno::EINVAL => " (the source's filesystem does not support idmapped mounts)",
                _ => "",
            };
            Error::sys(format!("{what}: mount_setattr MOUNT_ATTR_IDMAP{hint}"), e)
        })?;
        out.push((i, tree));
    }
    Ok(out)
}

/// The source of a bind mount: absolute, or relative to the bundle.
fn source(bundle: &Path, m: &Mount) -> PathBuf {
    let src = m.source().clone().unwrap_or_default();
    if src.is_absolute() {
        src
    } else {
        bundle.join(src)
    }
}

/// Attach a detached mount at `target` (an O_PATH fd resolved inside the rootfs).
pub fn attach(mount: &OwnedFd, target: &OwnedFd) -> std::result::Result<(), Errno> {
    // SAFETY: two valid descriptors and static empty paths; move_mount reads nothing else.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            mount.as_raw_fd(),
            c"".as_ptr(),
            target.as_raw_fd(),
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// open_tree(OPEN_TREE_CLONE): a detached copy of the mount at `path` (its submounts too when
/// `recursive`).
fn open_tree(path: &Path, recursive: bool) -> std::result::Result<OwnedFd, Errno> {
    let c = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str())).map_err(|_| Errno::EINVAL)?;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32 | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    let r = unsafe { libc::syscall(libc::SYS_open_tree, libc::AT_FDCWD, c.as_ptr(), flags) };
    if r < 0 {
        return Err(Errno::last());
    }
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
}

/// The uid_map/gid_map text of `maps`.
/// A new user namespace with these mappings, as an fd of it.
fn userns_with_maps(uid: &[LinuxIdMapping], gid: &[LinuxIdMapping]) -> Result<OwnedFd> {
    let pid = super::clone::fork_with_flags(libc::CLONE_NEWUSER as u64, None).ctx(|| "clone a process in a new user namespace for the mapping".into())?;
    if pid == 0 {
        // Lives only until the runtime has its namespace (killed then, or with the runtime).
        let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
        loop {
            nix::unistd::pause();
        }
    }
    let res = super::userns_map::write(pid, uid, gid).and_then(|()| {
        let p = format!("/proc/{pid}/ns/user");
        crate::linux::open_fd(p.as_str(), nix::fcntl::OFlag::O_RDONLY).ctx(|| format!("open {p}"))
    });
    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    let _ = waitpid(Pid::from_raw(pid), None);
    res
}
