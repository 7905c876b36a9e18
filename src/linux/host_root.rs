//! The rootfs of a container without a mount namespace of its own.
//!
//! Such a container shares the runtime's mount namespace (config-linux.md: a namespace type left
//! out is inherited), so its rootfs and every mount under it land in the host's mount table. The
//! runtime binds the rootfs onto itself and makes that bind private, so nothing mounted below it
//! propagates anywhere; the init builds the container below the bind and chroots into it
//! (pivot_root would move the root of every process on the host); delete detaches the bind with
//! everything below it. The host's mount table is then what it was before create, and the
//! propagation of the host's own mounts is never touched.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::mount::{umount2, MntFlags, MsFlags};

use super::mounts::mount_raw;
use crate::error::{Error, Result};

/// Bind `rootfs` onto itself in the runtime's mount namespace, private and recursive. Returns
/// the new mount's id, which `detach` needs.
pub fn bind(rootfs: &Path) -> Result<u64> {
    mount_raw(Some(rootfs), rootfs, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)
        .map_err(|e| Error::sys(format!("bind mount rootfs {rootfs:?} in the runtime's mount namespace (the config has no mount namespace of its own)"), e))?;
    let id = mount_id(rootfs);
    let private = mount_raw(None, rootfs, None, MsFlags::MS_PRIVATE | MsFlags::MS_REC, None);
    match (id, private) {
        (Ok(id), Ok(())) => Ok(id),
        (id, private) => {
            let _ = umount2(rootfs, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW);
            Err(match (id, private) {
                (Err(e), _) => Error::sys(format!("statx {rootfs:?}"), e),
                (_, Err(e)) => Error::sys(format!("make rootfs bind {rootfs:?} private"), e),
                _ => unreachable!(),
            })
        }
    }
}

/// Detach the bind `bind` made (mount `id` at `rootfs`) and every mount below it, including
/// mounts the container stacked on its own "/". Does nothing when that mount is already gone.
pub fn detach(rootfs: &Path, id: u64) -> Result<()> {
    // Each round detaches the topmost mount at `rootfs`: the bind itself, or a mount stacked on
    // it (whose parent it is). Bounded: a container cannot make this loop forever.
    for _ in 0..64 {
        let Some(at) = mount_point_of_id(id) else { return Ok(()) };
        if at != rootfs {
            return Err(Error::Other(format!(
                "the container's rootfs bind (mount {id}) is now at {at:?}, not {rootfs:?}: left in place"
            )));
        }
        match umount2(rootfs, MntFlags::MNT_DETACH | MntFlags::UMOUNT_NOFOLLOW) {
            Ok(()) | Err(Errno::EINVAL) if mount_point_of_id(id).is_none() => return Ok(()),
            Ok(()) => continue,
            Err(e) => return Err(Error::sys(format!("unmount the container's rootfs bind {rootfs:?}"), e)),
        }
    }
    Err(Error::Other(format!("the container's rootfs bind {rootfs:?} still has mounts stacked on it after 64 unmounts")))
}

/// The mount id of the mount `path` is on (statx STATX_MNT_ID, Linux 5.8).
fn mount_id(path: &Path) -> std::result::Result<u64, Errno> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: an all-zero statx is a valid value of this plain C struct.
    let mut stx: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `stx` is writable; both outlive the call.
    let r = unsafe { libc::statx(libc::AT_FDCWD, c.as_ptr(), libc::AT_SYMLINK_NOFOLLOW, libc::STATX_MNT_ID, &mut stx) };
    if r != 0 {
        return Err(Errno::last());
    }
    if stx.stx_mask & libc::STATX_MNT_ID == 0 {
        return Err(Errno::ENOSYS);
    }
    Ok(stx.stx_mnt_id)
}

/// Where mount `id` is mounted, from /proc/self/mountinfo (octal escapes undone).
fn mount_point_of_id(id: u64) -> Option<std::path::PathBuf> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines().find_map(|l| {
        let mut f = l.split(' ');
        (f.next()?.parse::<u64>().ok()? == id).then(|| unescape(f.nth(3).unwrap_or("")))
    })
}

/// Undo mountinfo's `\ooo` escapes (space, tab, newline, backslash).
fn unescape(s: &str) -> std::path::PathBuf {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    std::path::PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(out))
}
