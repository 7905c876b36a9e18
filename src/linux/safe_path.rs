//! Resolving and creating paths inside the container's root filesystem without ever leaving it.
//!
//! Every lookup goes through openat2(RESOLVE_IN_ROOT) relative to an fd of the rootfs, so `..`
//! and symlinks (absolute or relative) are resolved as if the rootfs were `/`: a mount target
//! like `/evil/x` with `evil -> /` lands in `<rootfs>/x`, never on the host. Objects are then
//! mounted through `/proc/self/fd/<n>` of the resolved O_PATH fd.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use nix::errno::Errno;

/// Lexically clean `path` as seen from the root: drop `.`, apply `..` (clamped at the root).
pub fn clean(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

fn openat2(dirfd: BorrowedFd, rel: &Path, flags: i32) -> Result<OwnedFd, Errno> {
    openat2_resolve(dirfd, rel, flags, libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS)
}

/// openat2(2) of `rel` below `dirfd` with the given RESOLVE_* flags (O_CLOEXEC always added).
pub fn openat2_resolve(dirfd: BorrowedFd, rel: &Path, flags: i32, resolve: u64) -> Result<OwnedFd, Errno> {
    let rel = if rel.as_os_str().is_empty() { Path::new(".") } else { rel };
    let c = CString::new(rel.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    // SAFETY: open_how is plain integers; all-zero is its documented "no options" value.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (flags | libc::O_CLOEXEC) as u64;
    how.resolve = resolve;
    // With RESOLVE_IN_ROOT or RESOLVE_BENEATH the kernel answers EAGAIN when a rename or a mount
    // anywhere on the system raced with a ".." step (it cannot then prove the walk stayed
    // inside); openat2(2) says to retry. Other containers being created make that common.
    let mut tries = 0;
    loop {
        // SAFETY: `c` is a valid NUL-terminated string and `how` a fully initialised open_how
        // whose exact size is passed; the returned fd (if any) is owned by nobody else.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd.as_raw_fd(),
                c.as_ptr(),
                &mut how as *mut libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        if r >= 0 {
            // SAFETY: the syscall returned a new, valid fd that nothing else owns.
            return Ok(unsafe { OwnedFd::from_raw_fd(r as i32) });
        }
        match Errno::last() {
            Errno::EAGAIN if tries < 64 => tries += 1,
            e => return Err(e),
        }
    }
}

/// Open `path` inside the root as an O_PATH fd, following symlinks within the root.
pub fn open_in_root(root: BorrowedFd, path: &Path) -> Result<OwnedFd, Errno> {
    openat2(root, &clean(path), libc::O_PATH)
}

/// What to create at the end of a path when it is missing.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Dir,
    File,
}

/// Resolve `path` inside the root, creating missing directories (mode 0755) and, for
/// `Kind::File`, an empty final file. Returns an O_PATH fd of the result.
pub fn create_in_root(root: BorrowedFd, path: &Path, kind: Kind) -> Result<OwnedFd, Errno> {
    let path = clean(path);
    if let Ok(fd) = openat2(root, &path, libc::O_PATH) {
        return Ok(fd);
    }
    let comps: Vec<_> = path.components().collect();
    // The deepest ancestor that exists, looked up from the parent upwards: usually the parent
    // itself (one lookup, where a walk from the root would take one per level).
    let mut start = comps.len().saturating_sub(1);
    let mut parent = loop {
        let prefix: PathBuf = comps[..start].iter().collect();
        match openat2(root, &prefix, libc::O_PATH) {
            Ok(fd) => break fd,
            Err(Errno::ENOENT) if start > 0 => start -= 1,
            Err(e) => return Err(e),
        }
    };
    let mut cur: PathBuf = comps[..start].iter().collect();
    for (i, c) in comps.iter().enumerate().skip(start) {
        cur.push(c);
        let last = i + 1 == comps.len();
        // The first missing level was just looked up above.
        if i > start {
            match openat2(root, &cur, libc::O_PATH) {
                Ok(fd) => {
                    parent = fd;
                    continue;
                }
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
        }
        let name = CString::new(c.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
        if last && kind == Kind::File {
            // SAFETY: valid dirfd and NUL-terminated name; O_NOFOLLOW|O_EXCL never follow a link.
            let r = unsafe {
                libc::openat(
                    parent.as_raw_fd(),
                    name.as_ptr(),
                    libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o644,
                )
            };
            if r < 0 && Errno::last() != Errno::EEXIST {
                return Err(Errno::last());
            }
            if r >= 0 {
                // SAFETY: r is a new fd owned by nobody else; dropping closes it.
                drop(unsafe { OwnedFd::from_raw_fd(r) });
            }
        } else {
            // SAFETY: valid dirfd and NUL-terminated name.
            let r = unsafe { libc::mkdirat(parent.as_raw_fd(), name.as_ptr(), 0o755) };
            if r < 0 && Errno::last() != Errno::EEXIST {
                return Err(Errno::last());
            }
        }
        // A name that exists but does not resolve is a dangling symlink: refuse it rather than
        // create its target somewhere unexpected.
        parent = openat2(root, &cur, libc::O_PATH)?;
    }
    Ok(parent)
}

/// The `/proc/self/fd/<n>` path through which the kernel reaches the object of `fd`.
pub fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}
