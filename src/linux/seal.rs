//! The runtime's binary, sealed (the CVE-2019-5736 class).
//!
//! hull's init and exec'd processes are clones of the runtime: until their execve they run hull's
//! binary inside the container's PID namespace, where a container process can open
//! `/proc/<pid>/exe` and, once no hull process executes the file any more, write the host's
//! binary through that handle. So the verbs that make such processes (create, run, exec) first
//! move hull onto a view of its binary that nobody can write, and every clone inherits it:
//!
//! - preferred: the binary seen through a read-only overlayfs made for this invocation and never
//!   attached anywhere (fsopen/fsmount: a detached mount). Its lower layers are the binary's
//!   directory and, below it, /dev or else an empty detached tmpfs (overlayfs wants two lower
//!   layers when it has no upper one; the binary's name resolves in the upper of the two). With no upper layer the superblock itself is read-only: no remount can make the
//!   file writable, and opening it for writing fails with EROFS. The cost is a few system calls,
//!   whatever the binary's size, and the page cache is the real file's.
//! - fallback (no overlayfs, or not allowed to mount it): a copy in a memfd sealed against
//!   writes, shrinking and growing. Its cost grows with the binary's size.
//!
//! The process then moves onto that view in place (`exe_swap`: its code mapped from the view,
//! its data moved to anonymous memory, /proc/self/exe pointed at the view), or, where the kernel
//! refuses that, re-executes itself from it.
//!
//! The re-executed process finds `_HULL_SEALED=<dev>:<ino>` (the original binary's identity) in
//! its environment, removes it, checks that its own binary really is sealed and carries on.
//! Sealed processes are also made non-dumpable: /proc/<pid> of a clone waiting in hull's code is
//! then closed to the container's processes without CAP_SYS_PTRACE. execve makes the container's
//! program dumpable again.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::fcntl::OFlag;

use crate::error::{Error, Result};

const MARK: &str = "_HULL_SEALED";
const OVERLAYFS_SUPER_MAGIC: i64 = 0x794c_7630;

/// Device and inode of the binary hull was started from, before sealing.
static ORIGIN: OnceLock<(u64, u64)> = OnceLock::new();

/// The identity (device, inode) of the runtime's binary as installed on the host, whether or not
/// this process runs from a sealed view of it.
pub fn origin() -> Option<(u64, u64)> {
    if let Some(o) = ORIGIN.get() {
        return Some(*o);
    }
    let m = std::fs::metadata("/proc/self/exe").ok()?;
    Some((m.dev(), m.ino()))
}

/// Make sure this process runs from a sealed view of its binary: move onto one in place when it
/// does not, or else re-execute from it (this function then does not return), and make it
/// non-dumpable. Called by the verbs
/// that clone processes into a container, before anything else.
pub fn ensure_sealed(argv: &[OsString]) -> Result<()> {
    if let Some(mark) = std::env::var_os(MARK) {
        std::env::remove_var(MARK);
        let exe = File::open("/proc/self/exe").map_err(|e| Error::io("open", "/proc/self/exe", e))?;
        if !is_sealed(&exe) {
            return Err(Error::Other(format!(
                "{MARK} is set but hull's binary is not sealed; refusing to run the container's processes from a writable binary"
            )));
        }
        if let Some((d, i)) = mark.to_str().and_then(|s| s.split_once(':')) {
            if let (Ok(d), Ok(i)) = (d.parse(), i.parse()) {
                let _ = ORIGIN.set((d, i));
            }
        }
        return make_non_dumpable();
    }
    let exe = File::open("/proc/self/exe").map_err(|e| Error::io("open", "/proc/self/exe", e))?;
    let meta = exe.metadata().map_err(|e| Error::io("stat", "/proc/self/exe", e))?;
    let sealed = match overlay_view(&meta) {
        Ok(f) => f,
        Err(overlay_err) => memfd_copy(&exe).map_err(|memfd_err| {
            Error::Other(format!(
                "cannot seal hull's binary before running container processes: read-only overlayfs view: {overlay_err}; sealed memfd copy: {memfd_err}"
            ))
        })?,
    };
    drop(exe);
    if crate::linux::exe_swap::swap(&sealed).is_ok() {
        let _ = ORIGIN.set((meta.dev(), meta.ino()));
        return make_non_dumpable();
    }
    let errno = reexec(&sealed, argv, (meta.dev(), meta.ino()));
    Err(Error::sys("re-execute hull from its sealed binary", errno))
}

/// How this host seals the binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    Overlay,
    /// The memfd copy, with why the overlayfs view could not be made.
    Memfd(String),
}

/// Which mechanism `ensure_sealed` would use here (for `hull check`), and why this process
/// could not move onto it in place (`None`: it did, as create, run and exec will). The
/// overlayfs view is made and used; the memfd copy only when that fails.
pub fn probe() -> std::result::Result<(Mechanism, Option<String>), String> {
    let exe = File::open("/proc/self/exe").map_err(|e| format!("open /proc/self/exe: {e}"))?;
    let meta = exe.metadata().map_err(|e| format!("stat /proc/self/exe: {e}"))?;
    let (view, mechanism) = match overlay_view(&meta) {
        Ok(v) => (v, Mechanism::Overlay),
        Err(o) => (memfd_copy(&exe).map_err(|m| format!("overlayfs: {o}; memfd: {m}"))?, Mechanism::Memfd(o)),
    };
    Ok((mechanism, crate::linux::exe_swap::swap(&view).err()))
}

/// True when the file cannot be written by anyone: a file of a read-only overlayfs, or a memfd
/// sealed against writes.
#[allow(clippy::unnecessary_cast)] // the magic is an i64 on glibc, a u64 on musl
fn is_sealed(f: &File) -> bool {
    if let Ok(fs) = nix::sys::statfs::fstatfs(f.as_fd()) {
        if fs.filesystem_type().0 as i64 == OVERLAYFS_SUPER_MAGIC && fs.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
            return true;
        }
    }
    // SAFETY: fcntl(F_GET_SEALS) only reads the seals of a descriptor we own.
    let seals = unsafe { libc::fcntl(f.as_raw_fd(), libc::F_GET_SEALS) };
    seals >= 0 && seals & libc::F_SEAL_WRITE != 0 && seals & libc::F_SEAL_SEAL != 0
}

fn make_non_dumpable() -> Result<()> {
    // SAFETY: PR_SET_DUMPABLE takes an integer and touches no memory of ours.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } < 0 {
        return Err(Error::sys("prctl(PR_SET_DUMPABLE, 0)", Errno::last()));
    }
    Ok(())
}

/// The binary, opened through a detached read-only overlayfs whose lower layers are the binary's
/// directory and /dev (or an empty tmpfs).
fn overlay_view(meta: &std::fs::Metadata) -> std::result::Result<File, String> {
    view_over(meta, true)
}

/// `overlay_view`, with /dev tried as the second layer or not.
fn view_over(meta: &std::fs::Metadata, dev_layer: bool) -> std::result::Result<File, String> {
    // Tests take the memfd path with HULL_FAULT=seal-overlay (debug builds).
    crate::fault::point("seal-overlay", None).map_err(|e| e.to_string())?;
    let path = std::fs::read_link("/proc/self/exe").map_err(|e| format!("readlink /proc/self/exe: {e}"))?;
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(format!("{path:?} has no directory"));
    };
    let dir = layer_dir(dir, OFlag::empty()).map_err(|e| format!("open {dir:?}: {}", crate::error::errno_text(e)))?;
    let overlay = |second: &OwnedFd| {
        // The layers as descriptors (Linux 6.13 and later). Given as /proc/self/fd paths, each
        // costs a walk through /proc/<pid>, which the kernel looks up afresh for every new
        // process: about 50 us of a create's CPU time.
        new_mount("overlay", &[Opt::Fd("lowerdir+", dir.as_fd()), Opt::Fd("lowerdir+", second.as_fd())]).or_else(|_| {
            let lower = format!("/proc/self/fd/{}:/proc/self/fd/{}", dir.as_raw_fd(), second.as_raw_fd());
            new_mount("overlay", &[Opt::Str("lowerdir", &lower)])
        })
    };
    // The second layer only fills overlayfs' count: the binary's directory lies above it, so
    // its name resolves there whatever the other holds. /dev, which every host has, costs
    // nothing; a new empty tmpfs (a superblock made and torn down, about 40 us) serves where
    // /dev cannot (it overlaps the binary's directory, or is no directory here).
    let dev = layer_dir("/dev", OFlag::O_NOFOLLOW);
    if let Some(ovl) = dev.ok().filter(|_| dev_layer).and_then(|d| overlay(&d).ok()) {
        let file = checked(openat_file(&ovl, name.as_bytes())?, &path, meta)?;
        keep_view_mount(ovl);
        return Ok(file);
    }
    let empty = new_mount("tmpfs", &[Opt::Str("size", "4k"), Opt::Str("mode", "0500")])?;
    let ovl = match overlay(&empty) {
        Ok(o) => o,
        // Kernels before 6.x refuse a layer on a mount outside the caller's mount namespace (a
        // detached one): an empty directory of root's in /run serves as the second layer there.
        // It sits below the binary's directory, so nothing in it can shadow the binary.
        Err(first) => overlay(&attached_empty_dir().map_err(|e| format!("{first}; {e}"))?).map_err(|e| format!("{first}; with {EMPTY_DIR}: {e}"))?,
    };
    let file = checked(openat_file(&ovl, name.as_bytes())?, &path, meta)?;
    keep_view_mount(ovl);
    Ok(file)
}

/// The view's detached overlayfs mount. Closing its descriptor dissolves the mount, and that
/// waits for an expedited RCU grace period: about 50 us, more when other containers' grace
/// periods queue ahead (a scheduler trace of 100 runs 4 at a time). So it stays open until
/// create and exec wait for their init or process anyway (`release_view_mount`), and their
/// clones close their inherited copy first thing, so that the runtime's close is the last.
static VIEW_MOUNT: std::sync::Mutex<Option<OwnedFd>> = std::sync::Mutex::new(None);

fn keep_view_mount(mount: OwnedFd) {
    if let Ok(mut kept) = VIEW_MOUNT.lock() {
        *kept = Some(mount);
    }
}

/// Close this process's descriptor of the view's mount, if it has one (the view stays: the
/// binary's file holds it).
pub fn release_view_mount() {
    if let Ok(mut kept) = VIEW_MOUNT.lock() {
        kept.take();
    }
}

/// The name could have been replaced since this process was started: run only the same file.
fn checked(file: File, path: &std::path::Path, meta: &std::fs::Metadata) -> std::result::Result<File, String> {
    let m = file.metadata().map_err(|e| format!("stat the overlayfs view: {e}"))?;
    if !m.is_file() || m.len() != meta.len() || m.mtime() != meta.mtime() || m.mtime_nsec() != meta.mtime_nsec() {
        return Err(format!("{path:?} changed since hull started"));
    }
    Ok(file)
}

const EMPTY_DIR: &str = "/run/.hull-seal-layer";

/// `EMPTY_DIR`, made when missing: a directory (not a symlink) owned by root, writable by nobody
/// else.
fn attached_empty_dir() -> std::result::Result<OwnedFd, String> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o500).create(EMPTY_DIR) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(format!("create {EMPTY_DIR}: {e}")),
    }
    let fd = crate::linux::open_fd(EMPTY_DIR, nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_NOFOLLOW)
        .map_err(|e| format!("open {EMPTY_DIR}: {}", crate::error::errno_text(e)))?;
    let st = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(|e| format!("stat {EMPTY_DIR}: {e}"))?;
    if st.st_uid != 0 || st.st_mode & 0o022 != 0 {
        return Err(format!("{EMPTY_DIR} is not root's alone"));
    }
    Ok(fd)
}

/// A directory to be a layer of the view: opened for reading, which a layer given as a
/// descriptor must be (the kernel refuses O_PATH descriptors there), or else with O_PATH, which
/// a layer given by its /proc/self/fd path can be.
fn layer_dir<P: ?Sized + nix::NixPath>(path: &P, flags: OFlag) -> std::result::Result<OwnedFd, Errno> {
    crate::linux::open_fd(path, OFlag::O_RDONLY | OFlag::O_DIRECTORY | flags)
        .or_else(|_| crate::linux::open_fd(path, OFlag::O_PATH | OFlag::O_DIRECTORY | flags))
}

/// An option of a new mount.
enum Opt<'a> {
    /// key=value.
    Str(&'a str, &'a str),
    /// A key whose value is a descriptor (FSCONFIG_SET_FD).
    Fd(&'a str, BorrowedFd<'a>),
}

/// A new detached, read-only, nosuid, nodev mount of `fstype` with `options` (fsopen, fsconfig,
/// fsmount).
fn new_mount(fstype: &str, options: &[Opt]) -> std::result::Result<OwnedFd, String> {
    const FSOPEN_CLOEXEC: u32 = 1;
    const FSCONFIG_SET_STRING: u32 = 1;
    const FSCONFIG_SET_FD: u32 = 5;
    const FSCONFIG_CMD_CREATE: u32 = 6;
    const FSMOUNT_CLOEXEC: u32 = 1;
    const MOUNT_ATTR_RDONLY: u32 = 0x1;
    const MOUNT_ATTR_NOSUID: u32 = 0x2;
    const MOUNT_ATTR_NODEV: u32 = 0x4;
    let c = |s: &str| CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"));
    let cfs = c(fstype)?;
    // SAFETY: fsopen reads the NUL-terminated name and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_fsopen, cfs.as_ptr(), FSOPEN_CLOEXEC) };
    if fd < 0 {
        return Err(format!("fsopen {fstype}: {}", crate::error::errno_text(Errno::last())));
    }
    // SAFETY: fsopen just returned this descriptor; nothing else owns it.
    let ctx = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    for option in options {
        let r = match option {
            Opt::Str(k, v) => {
                let (ck, cv) = (c(k)?, c(v)?);
                // SAFETY: both strings are NUL-terminated and outlive the call.
                unsafe { libc::syscall(libc::SYS_fsconfig, ctx.as_raw_fd(), FSCONFIG_SET_STRING, ck.as_ptr(), cv.as_ptr(), 0) }
            }
            Opt::Fd(k, fd) => {
                let ck = c(k)?;
                // SAFETY: the key is NUL-terminated and outlives the call; the descriptor is
                // borrowed for it.
                unsafe { libc::syscall(libc::SYS_fsconfig, ctx.as_raw_fd(), FSCONFIG_SET_FD, ck.as_ptr(), std::ptr::null::<libc::c_char>(), fd.as_raw_fd()) }
            }
        };
        if r < 0 {
            let (k, v) = match option {
                Opt::Str(k, v) => (*k, v.to_string()),
                Opt::Fd(k, fd) => (*k, format!("descriptor {}", fd.as_raw_fd())),
            };
            return Err(format!("{fstype}: option {k}={v}: {}", crate::error::errno_text(Errno::last())));
        }
    }
    // SAFETY: FSCONFIG_CMD_CREATE takes no pointers.
    let r = unsafe { libc::syscall(libc::SYS_fsconfig, ctx.as_raw_fd(), FSCONFIG_CMD_CREATE, 0usize, 0usize, 0) };
    if r < 0 {
        return Err(format!("create {fstype}: {}", crate::error::errno_text(Errno::last())));
    }
    let attrs = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
    // SAFETY: fsmount takes integers only and returns a new descriptor or -1.
    let m = unsafe { libc::syscall(libc::SYS_fsmount, ctx.as_raw_fd(), FSMOUNT_CLOEXEC, attrs) };
    if m < 0 {
        return Err(format!("fsmount {fstype}: {}", crate::error::errno_text(Errno::last())));
    }
    // SAFETY: fsmount just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(m as i32) })
}

fn openat_file(dir: &OwnedFd, name: &[u8]) -> std::result::Result<File, String> {
    let n = CString::new(name).map_err(|_| "binary name contains a NUL byte".to_string())?;
    // SAFETY: openat reads the NUL-terminated name and returns a new descriptor or -1.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), n.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW) };
    if fd < 0 {
        return Err(format!("open the binary in the overlayfs view: {}", crate::error::errno_text(Errno::last())));
    }
    // SAFETY: openat just returned this descriptor; nothing else owns it.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// A copy of the binary in a memfd, sealed against writing, shrinking and growing.
fn memfd_copy(exe: &File) -> std::result::Result<File, String> {
    const MFD_EXEC: libc::c_uint = 0x10;
    let name = c"hull-sealed";
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: memfd_create reads the NUL-terminated name and returns a new descriptor or -1.
    let mut fd = unsafe { libc::memfd_create(name.as_ptr(), flags | MFD_EXEC) };
    if fd < 0 && Errno::last() == Errno::EINVAL {
        // Kernels before 6.3 know no MFD_EXEC; their memfds are executable anyway.
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(format!("memfd_create: {}", crate::error::errno_text(Errno::last())));
    }
    // SAFETY: memfd_create just returned this descriptor; nothing else owns it.
    let mut copy = unsafe { File::from_raw_fd(fd) };
    let mut src = exe.try_clone().map_err(|e| format!("dup: {e}"))?;
    std::io::copy(&mut src, &mut copy).map_err(|e| format!("copy the binary: {e}"))?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: F_ADD_SEALS takes an integer argument.
    if unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_ADD_SEALS, seals) } < 0 {
        return Err(format!("seal the memfd: {}", crate::error::errno_text(Errno::last())));
    }
    Ok(copy)
}

/// execveat(fd, "", AT_EMPTY_PATH) with this process's arguments and environment plus the mark.
/// Returns only on failure.
fn reexec(sealed: &File, argv: &[OsString], origin: (u64, u64)) -> Errno {
    let cstrings = |v: Vec<OsString>| -> Vec<CString> { v.into_iter().filter_map(|s| CString::new(s.as_bytes()).ok()).collect() };
    let args = cstrings(argv.to_vec());
    let mut env: Vec<OsString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            kv
        })
        .collect();
    env.push(format!("{MARK}={}:{}", origin.0, origin.1).into());
    let env = cstrings(env);
    nix::unistd::fexecve(sealed.as_raw_fd(), &args, &env).err().unwrap_or(Errno::UnknownErrno)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_file_is_not_sealed() {
        let f = File::open("/proc/self/exe").unwrap();
        assert!(!is_sealed(&f));
    }

    #[test]
    fn a_sealed_memfd_copy_is_sealed_and_refuses_writes() {
        let exe = File::open("/proc/self/exe").unwrap();
        let copy = memfd_copy(&exe).unwrap();
        assert!(is_sealed(&copy));
        let p = format!("/proc/self/fd/{}", copy.as_raw_fd());
        let e = std::fs::OpenOptions::new().write(true).open(&p).and_then(|mut f| std::io::Write::write_all(&mut f, b"x"));
        assert!(e.is_err(), "a write to the sealed copy succeeded");
        assert_eq!(copy.metadata().unwrap().len(), exe.metadata().unwrap().len());
    }

    #[test]
    fn the_overlay_view_is_sealed_and_refuses_writes() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root to mount overlayfs");
            return;
        }
        let exe = File::open("/proc/self/exe").unwrap();
        let view = overlay_view(&exe.metadata().unwrap()).unwrap();
        assert!(is_sealed(&view));
        let p = format!("/proc/self/fd/{}", view.as_raw_fd());
        let e = std::fs::OpenOptions::new().write(true).open(&p).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EROFS));
    }

    /// A file's size and first page: for an ELF binary, its headers and build id.
    fn size_and_first_page(f: &File) -> (u64, Vec<u8>) {
        let mut b = vec![0u8; 4096];
        std::os::unix::fs::FileExt::read_exact_at(f, &mut b, 0).unwrap();
        (f.metadata().unwrap().len(), b)
    }

    /// Linux 6.13 takes overlayfs layers as descriptors (FSCONFIG_SET_FD, "lowerdir+").
    fn kernel_takes_layer_descriptors() -> bool {
        let release = nix::sys::utsname::uname().unwrap().release().to_string_lossy().into_owned();
        let mut v = release.split(|c: char| !c.is_ascii_digit()).filter_map(|n| n.parse::<u32>().ok());
        (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (6, 13)
    }

    #[test]
    fn the_layers_go_to_the_kernel_as_descriptors_where_it_takes_them() {
        if !nix::unistd::geteuid().is_root() || !kernel_takes_layer_descriptors() {
            eprintln!("skipped: needs root and Linux 6.13");
            return;
        }
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        let (dir, dev) = (layer_dir(exe.parent().unwrap(), OFlag::empty()).unwrap(), layer_dir("/dev", OFlag::O_NOFOLLOW).unwrap());
        // The kernel refuses O_PATH descriptors as layers.
        for fd in [&dir, &dev] {
            let flags = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::FcntlArg::F_GETFL).unwrap();
            assert_eq!(flags & libc::O_PATH, 0, "a layer was opened with O_PATH");
        }
        let ovl = new_mount("overlay", &[Opt::Fd("lowerdir+", dir.as_fd()), Opt::Fd("lowerdir+", dev.as_fd())]).unwrap();
        let view = openat_file(&ovl, exe.file_name().unwrap().as_bytes()).unwrap();
        assert!(is_sealed(&view));
        let original = File::open("/proc/self/exe").unwrap();
        assert_eq!(size_and_first_page(&view), size_and_first_page(&original));
    }

    #[test]
    fn the_overlay_view_over_a_tmpfs_is_the_same_binary() {
        if !nix::unistd::geteuid().is_root() {
            eprintln!("skipped: needs root to mount overlayfs");
            return;
        }
        let exe = File::open("/proc/self/exe").unwrap();
        let (over_dev, over_tmpfs) = (view_over(&exe.metadata().unwrap(), true).unwrap(), view_over(&exe.metadata().unwrap(), false).unwrap());
        assert!(is_sealed(&over_tmpfs));
        // Both views show the running binary: its size and its first page (ELF and program
        // headers, build id).
        assert_eq!(size_and_first_page(&over_dev), size_and_first_page(&exe));
        assert_eq!(size_and_first_page(&over_tmpfs), size_and_first_page(&exe));
    }
}
