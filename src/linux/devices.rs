//! /dev inside the container: the default devices, `linux.devices`, and the standard symlinks.

use std::ffi::CString;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::stat::{makedev, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType};

use super::mounts::mount_raw;
use super::safe_path::{create_in_root, fd_path, Kind};
use crate::error::{Error, Result};

/// A device node to create.
#[derive(Debug, Clone)]
pub struct Device {
    pub path: PathBuf,
    pub kind: SFlag,
    pub major: i64,
    pub minor: i64,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The devices every container gets (runtime-linux / config-linux "Default Devices").
pub fn default_devices() -> Vec<Device> {
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]
        .iter()
        .map(|(n, ma, mi)| Device {
            path: PathBuf::from("/dev").join(n),
            kind: SFlag::S_IFCHR,
            major: *ma,
            minor: *mi,
            mode: 0o666,
            uid: 0,
            gid: 0,
        })
        .collect()
}

/// Convert a config device; `idx` names it in errors.
pub fn from_config(idx: usize, d: &LinuxDevice) -> Result<Device> {
    let kind = match d.typ() {
        LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
        LinuxDeviceType::B => SFlag::S_IFBLK,
        LinuxDeviceType::P => SFlag::S_IFIFO,
        LinuxDeviceType::A => {
            return Err(Error::config(format!("linux.devices[{idx}].type"), "type \"a\" is not a device node"))
        }
    };
    if !d.path().is_absolute() {
        return Err(Error::config(format!("linux.devices[{idx}].path"), format!("{:?} is not an absolute path", d.path())));
    }
    Ok(Device {
        path: d.path().clone(),
        kind,
        major: d.major(),
        minor: d.minor(),
        mode: d.file_mode().unwrap_or(0o666) & 0o7777,
        uid: d.uid().unwrap_or(0),
        gid: d.gid().unwrap_or(0),
    })
}

/// Create `dev` inside the root: mknod, or in a user namespace (where mknod is not allowed) a
/// bind mount of the host's node.
fn create(root: BorrowedFd, dev: &Device, in_userns: bool) -> Result<()> {
    let err = |e: Errno| Error::sys(format!("create device {:?}", dev.path), e);
    // A user namespace may not make device nodes: the host's are bound in. A fifo is no device,
    // and anyone may make one.
    if in_userns && dev.kind != SFlag::S_IFIFO {
        let target = create_in_root(root, &dev.path, Kind::File).map_err(err)?;
        return mount_raw(Some(&dev.path), &fd_path(&target), None, MsFlags::MS_BIND, None).map_err(|e| match e {
            Errno::ENOENT => Error::Other(format!(
                "create device {:?}: in a user namespace device nodes are bound from the host, which has no {:?}",
                dev.path, dev.path
            )),
            e => err(e),
        });
    }
    let parent_path = dev.path.parent().unwrap_or(Path::new("/"));
    let parent = create_in_root(root, parent_path, Kind::Dir).map_err(err)?;
    make_node(&parent, dev, false)
}

/// Create `devs` inside the root as `create` does, opening each parent directory once for a
/// run of devices in it, and leaving out the chown and chmod after mknod where they change
/// nothing: the process's umask is 0, the mode has no set-id or sticky bit, the owner is the
/// process's own and the directory does not pass its group on (setgid).
pub fn create_all(root: BorrowedFd, devs: &[&Device], in_userns: bool) -> Result<()> {
    let mask = nix::sys::stat::umask(nix::sys::stat::Mode::empty());
    nix::sys::stat::umask(mask);
    let (uid, gid) = (nix::unistd::geteuid().as_raw(), nix::unistd::getegid().as_raw());
    let mut dir: Option<(PathBuf, std::os::fd::OwnedFd, bool)> = None;
    for dev in devs {
        if in_userns && dev.kind != SFlag::S_IFIFO {
            create(root, dev, in_userns)?;
            continue;
        }
        let err = |e: Errno| Error::sys(format!("create device {:?}", dev.path), e);
        let parent_path = dev.path.parent().unwrap_or(Path::new("/"));
        if dir.as_ref().is_none_or(|(p, _, _)| p != parent_path) {
            let fd = create_in_root(root, parent_path, Kind::Dir).map_err(err)?;
            let st = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(err)?;
            dir = Some((parent_path.to_path_buf(), fd, st.st_mode & libc::S_ISGID != 0));
        }
        let Some((_, parent, setgid)) = dir.as_ref() else { unreachable!("set above") };
        let exact = mask.is_empty() && dev.mode & 0o7000 == 0 && dev.uid == uid && dev.gid == gid && !setgid;
        make_node(parent, dev, exact)?;
    }
    Ok(())
}

/// mknod `dev` in `parent`, then set its owner and mode unless `exact` says mknod made them so.
fn make_node(parent: &std::os::fd::OwnedFd, dev: &Device, exact: bool) -> Result<()> {
    let err = |e: Errno| Error::sys(format!("create device {:?}", dev.path), e);
    let name = CString::new(dev.path.file_name().map(|n| n.as_bytes()).unwrap_or_default()).map_err(|_| err(Errno::EINVAL))?;
    let rdev = makedev(dev.major as u64, dev.minor as u64);
    // SAFETY: valid dirfd and NUL-terminated name.
    let r = unsafe { libc::mknodat(parent.as_raw_fd(), name.as_ptr(), dev.kind.bits() | dev.mode, rdev) };
    if r < 0 {
        let e = Errno::last();
        if e == Errno::EEXIST {
            return check_existing(parent.as_raw_fd(), &name, dev);
        }
        return Err(err(e));
    }
    if exact {
        return Ok(());
    }
    // mknod is subject to the umask and sets no owner: set both explicitly.
    // SAFETY: valid dirfd and name; AT_SYMLINK_NOFOLLOW never follows a link.
    let r = unsafe { libc::fchownat(parent.as_raw_fd(), name.as_ptr(), dev.uid, dev.gid, libc::AT_SYMLINK_NOFOLLOW) };
    if r < 0 {
        return Err(err(Errno::last()));
    }
    // SAFETY: valid dirfd and name of the node just created (not a symlink).
    let r = unsafe { libc::fchmodat(parent.as_raw_fd(), name.as_ptr(), dev.mode, 0) };
    if r < 0 {
        return Err(err(Errno::last()));
    }
    Ok(())
}

/// A node already at a device's path must be that device (as runc, an identical node is fine).
fn check_existing(dir: i32, name: &std::ffi::CStr, dev: &Device) -> Result<()> {
    // SAFETY: stat is plain integers; all-zero is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: valid dirfd and name; `st` is a writable stat buffer.
    if unsafe { libc::fstatat(dir, name.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) } < 0 {
        return Err(Error::sys(format!("stat existing {:?}", dev.path), Errno::last()));
    }
    let same_type = st.st_mode & libc::S_IFMT == dev.kind.bits();
    let same_number = dev.kind == SFlag::S_IFIFO
        || (libc::major(st.st_rdev) as i64 == dev.major && libc::minor(st.st_rdev) as i64 == dev.minor);
    if same_type && same_number {
        Ok(())
    } else {
        Err(Error::Other(format!("device {:?}: a different file already exists at that path", dev.path)))
    }
}

/// /dev/fd, /dev/stdin, /dev/stdout, /dev/stderr, and /dev/ptmx pointing at the container's
/// devpts instance.
pub fn create_symlinks(root: BorrowedFd) -> Result<()> {
    let dev = create_in_root(root, Path::new("/dev"), Kind::Dir).map_err(|e| Error::sys("open /dev", e))?;
    let links = [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ];
    for (name, target) in links {
        symlinkat(&dev, name, target, false)?;
    }
    if Path::new("/proc/kcore").exists() {
        symlinkat(&dev, "core", "/proc/kcore", false)?;
    }
    symlinkat(&dev, "ptmx", "pts/ptmx", true)
}

fn symlinkat(dir: &std::os::fd::OwnedFd, name: &str, target: &str, replace: bool) -> Result<()> {
    let err = |e: Errno| Error::sys(format!("symlink /dev/{name} -> {target}"), e);
    let n = CString::new(name).map_err(|_| err(Errno::EINVAL))?;
    let t = CString::new(target).map_err(|_| err(Errno::EINVAL))?;
    if replace {
        // SAFETY: valid dirfd and name.
        let r = unsafe { libc::unlinkat(dir.as_raw_fd(), n.as_ptr(), 0) };
        if r < 0 && Errno::last() != Errno::ENOENT {
            return Err(err(Errno::last()));
        }
    }
    // SAFETY: valid strings and dirfd.
    let r = unsafe { libc::symlinkat(t.as_ptr(), dir.as_raw_fd(), n.as_ptr()) };
    if r < 0 && Errno::last() != Errno::EEXIST {
        return Err(err(Errno::last()));
    }
    Ok(())
}
