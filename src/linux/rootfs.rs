//! The container's root filesystem: propagation, the rootfs bind, the cgroup filesystem,
//! pivot_root (or move + chroot), the read-only root, masked and read-only paths.

use std::fs;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::mount::{umount2, MntFlags, MsFlags};
use nix::unistd::{chdir, chroot, fchdir, pivot_root};
use oci_spec::runtime::Mount;

use super::mounts::{bind_fd, mount_on, mount_raw, remount_bind, remount_bind_on, without, MountCtx, MountOptions};
use super::safe_path::{create_in_root, open_in_root, Kind};
use crate::error::{Context, Error, Result};

/// Make the mount tree of the new mount namespace stop propagating to the host, then bind the
/// rootfs onto itself so it is a mount point (pivot_root needs one). Returns an O_PATH fd of the
/// bound rootfs, the anchor of every later path resolution.
///
/// With `host_mounts` (no mount namespace of the container's own) the runtime has bound the
/// rootfs already (`host_root::bind`), and the propagation of the runtime's mounts is left alone.
pub fn prepare(rootfs: &Path, propagation: Option<MsFlags>, host_mounts: bool) -> Result<OwnedFd> {
    let open = || super::open_fd(rootfs, OFlag::O_PATH | OFlag::O_DIRECTORY).ctx(|| format!("open rootfs {rootfs:?}"));
    if host_mounts {
        return open();
    }
    // An unbindable "/" could not be bound below: it becomes unbindable after pivot_root.
    let root_prop = match propagation {
        Some(p) if !p.contains(MsFlags::MS_UNBINDABLE) => p | MsFlags::MS_REC,
        _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
    };
    mount_raw(None, Path::new("/"), None, root_prop, None).ctx(|| "set propagation of \"/\"".into())?;
    if root_prop.contains(MsFlags::MS_SHARED) {
        // pivot_root refuses a shared parent mount: make the rootfs's parent mount private.
        if let Some(parent) = mount_point_of(rootfs) {
            mount_raw(None, &parent, None, MsFlags::MS_PRIVATE, None)
                .ctx(|| format!("make parent mount {parent:?} of the rootfs private"))?;
        }
    }
    mount_raw(Some(rootfs), rootfs, None, MsFlags::MS_BIND | MsFlags::MS_REC, None).map_err(|e| match e {
        Errno::EACCES => match unreachable_reason(rootfs) {
            Some(why) => Error::Other(format!("bind mount rootfs {rootfs:?}: permission denied: {why}")),
            None => Error::sys(format!("bind mount rootfs {rootfs:?}"), e),
        },
        e => Error::sys(format!("bind mount rootfs {rootfs:?}"), e),
    })?;
    open()
}

/// Why this process cannot reach `path`: the first directory on the way that it may not search,
/// said in host terms ("\"/root\" is mode 0700: uid 100000 (root in the container) cannot
/// search it"). Meant for the root of a user namespace, whose capabilities do
/// not reach files owned by ids its namespace does not map, so only the mode bits decide.
fn unreachable_reason(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let host = |map: &str, id: u32| -> Option<u32> {
        fs::read_to_string(map).ok()?.lines().find_map(|l| {
            let f: Vec<u32> = l.split_whitespace().filter_map(|x| x.parse().ok()).collect();
            (f.len() == 3 && id >= f[0] && id - f[0] < f[2]).then(|| f[1] + (id - f[0]))
        })
    };
    let (uid, gid) = (nix::unistd::getuid().as_raw(), nix::unistd::getgid().as_raw());
    let host_uid = host("/proc/self/uid_map", uid)?;
    let mut dir = PathBuf::from("/");
    for part in path.components().skip(1) {
        let m = fs::metadata(&dir).ok()?;
        let bits = if m.uid() == uid {
            m.mode() & 0o100
        } else if m.gid() == gid {
            m.mode() & 0o010
        } else {
            m.mode() & 0o001
        };
        if bits == 0 {
            return Some(format!("{dir:?} is mode {:04o}: uid {host_uid} (root in the container) cannot search it", m.mode() & 0o7777));
        }
        dir.push(part);
    }
    None
}

/// The mount point (from /proc/self/mountinfo) that contains `path`.
fn mount_point_of(path: &Path) -> Option<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").ok()?;
    info.lines()
        .filter_map(|l| l.split(' ').nth(4).map(PathBuf::from))
        .filter(|mp| path.starts_with(mp))
        .max_by_key(|mp| mp.as_os_str().len())
}

/// A `cgroup` mount: a tmpfs with one directory per v1 hierarchy, or the cgroup2 filesystem.
/// With a private cgroup namespace the hierarchies are mounted fresh (their root is the
/// container's cgroup); without one the container's own cgroup directories are bind-mounted.
pub fn mount_cgroup(ctx: &MountCtx, m: &Mount, opts: &MountOptions) -> Result<()> {
    let dest = m.destination();
    let err = |what: &str, e: Errno| Error::sys(format!("mount cgroup {what} on {:?}", dest.display().to_string()), e);
    let flags = without(opts.flags, MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
    let target = create_in_root(ctx.rootfs, dest, Kind::Dir).map_err(|e| err("", e))?;
    let rel = ctx.cgroup_path.strip_prefix("/").unwrap_or(ctx.cgroup_path);
    let unified_only = crate::cgroups::pure_v2();
    if unified_only {
        // The init is in its cgroup by now: its own path is the container's, whichever driver
        // named it (a systemd `slice:prefix:name` is no directory).
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let rel = own.lines().find_map(|l| l.strip_prefix("0::/")).map(Path::new).unwrap_or(rel);
        if ctx.new_cgroupns {
            mount_on(ctx, Some(Path::new("cgroup2")), &target, Some("cgroup2"), flags, None)
                .map_err(|e| err("cgroup2", e))?;
        } else {
            let src = Path::new("/sys/fs/cgroup").join(rel);
            mount_on(ctx, Some(&src), &target, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)
                .map_err(|e| err("bind", e))?;
            let mounted = open_in_root(ctx.rootfs, dest).map_err(|e| err("", e))?;
            remount_bind_on(ctx, &mounted, flags).map_err(|e| err("remount", e))?;
        }
        return Ok(());
    }
    // v1 or hybrid: a tmpfs holding every hierarchy the host has mounted under /sys/fs/cgroup.
    let tmpfs_flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    mount_on(ctx, Some(Path::new("tmpfs")), &target, Some("tmpfs"), tmpfs_flags, Some("mode=755"))
        .map_err(|e| err("tmpfs", e))?;
    // The tmpfs just made, seen by this process alone: its directories are made and opened
    // relative to it, without a lookup from the rootfs for each.
    let tree = open_in_root(ctx.rootfs, dest).map_err(|e| err("tmpfs", e))?;
    let given = ctx.hierarchies.borrow().clone();
    for Hierarchy { name, fstype, options } in given.unwrap_or_else(host_hierarchies) {
        let sub = dest.join(&name);
        let t = subdir(&tree, &name).map_err(|e| err(&name, e))?;
        let inner = without(flags, MsFlags::MS_RDONLY);
        if ctx.new_cgroupns {
            let data = if fstype == "cgroup2" { None } else { Some(options.as_str()) };
            mount_on(ctx, Some(Path::new("cgroup")), &t, Some(&fstype), inner | (flags & MsFlags::MS_RDONLY), data)
                .map_err(|e| err(&name, e))?;
        } else {
            let src = Path::new("/sys/fs/cgroup").join(&name).join(rel);
            if !src.exists() {
                continue;
            }
            mount_on(ctx, Some(&src), &t, None, MsFlags::MS_BIND | MsFlags::MS_REC, None)
                .map_err(|e| err(&name, e))?;
            let mounted = open_in_root(ctx.rootfs, &sub).map_err(|e| err(&name, e))?;
            remount_bind_on(ctx, &mounted, flags).map_err(|e| err(&name, e))?;
        }
    }
    if flags.contains(MsFlags::MS_RDONLY) {
        remount_bind_on(ctx, &tree, tmpfs_flags | MsFlags::MS_RDONLY)
            .or_else(|_| mount_on(ctx, None, &tree, None, MsFlags::MS_REMOUNT | tmpfs_flags | MsFlags::MS_RDONLY, Some("mode=755")))
            .map_err(|e| err("read-only remount", e))?;
    }
    Ok(())
}

/// The directory `name` made (mode 0755) in `dir` and opened O_PATH, never through a symlink.
fn subdir(dir: &OwnedFd, name: &str) -> std::result::Result<OwnedFd, Errno> {
    match nix::sys::stat::mkdirat(Some(dir.as_raw_fd()), name, nix::sys::stat::Mode::from_bits_truncate(0o755)) {
        Ok(()) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(e),
    }
    let flags = OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    let fd = nix::fcntl::openat(Some(dir.as_raw_fd()), name, flags, nix::sys::stat::Mode::empty())?;
    // SAFETY: openat just returned this descriptor; nothing else owns it.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

/// A cgroup hierarchy mounted directly under /sys/fs/cgroup on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    /// The directory's name under /sys/fs/cgroup.
    pub name: String,
    /// `cgroup` or `cgroup2`.
    pub fstype: String,
    /// Its superblock options but rw/ro (what a fresh mount of it is given).
    pub options: String,
}

/// The cgroup hierarchies mounted directly under /sys/fs/cgroup, from mountinfo (which the
/// kernel writes out mount by mount: about 0.1 ms here, so `create` reads it and sends it to
/// the init, which reads it itself only when it got none).
pub fn host_hierarchies() -> Vec<Hierarchy> {
    hierarchies_in(&fs::read_to_string("/proc/self/mountinfo").unwrap_or_default())
}

/// `host_hierarchies` in the text of a mountinfo read already.
pub fn hierarchies_in(info: &str) -> Vec<Hierarchy> {
    super::mountinfo_entries(info)
        .filter(|(_, fstype, _)| matches!(*fstype, "cgroup" | "cgroup2"))
        .filter_map(|(mp, fstype, superopts)| {
            let name = mp.strip_prefix("/sys/fs/cgroup/").filter(|n| !n.contains('/'))?;
            let keep: Vec<&str> = superopts.split(',').filter(|o| *o != "rw" && *o != "ro").collect();
            Some(Hierarchy { name: name.to_string(), fstype: fstype.to_string(), options: keep.join(",") })
        })
        .collect()
}

/// Switch the process's root to `rootfs` with pivot_root, detaching the old root.
pub fn pivot(rootfs: &Path) -> Result<()> {
    let old_root = super::open_fd("/", OFlag::O_DIRECTORY | OFlag::O_RDONLY).ctx(|| "open \"/\"".into())?;
    let new_root = super::open_fd(rootfs, OFlag::O_DIRECTORY | OFlag::O_RDONLY)
        .ctx(|| format!("open rootfs {rootfs:?}"))?;
    fchdir(new_root.as_raw_fd()).ctx(|| format!("chdir to rootfs {rootfs:?}"))?;
    // pivot_root(".", ".") stacks the old root on top of the new one; it is then unmounted.
    pivot_root(".", ".").ctx(|| format!("pivot_root into {rootfs:?}"))?;
    // Which of the two "." names afterwards is not promised by the kernel: name the old root.
    fchdir(old_root.as_raw_fd()).ctx(|| "chdir to the old root".into())?;
    // The old root must not propagate the unmount back to the host.
    mount_raw(None, Path::new("."), None, MsFlags::MS_SLAVE | MsFlags::MS_REC, None)
        .ctx(|| "make old root a slave".into())?;
    umount2(".", MntFlags::MNT_DETACH).ctx(|| "unmount old root".into())?;
    chdir("/").ctx(|| "chdir to new root".into())
}

/// `--no-pivot`: move the rootfs mount over "/" and chroot into it.
pub fn move_root(rootfs: &Path) -> Result<()> {
    chdir(rootfs).ctx(|| format!("chdir to rootfs {rootfs:?}"))?;
    mount_raw(Some(rootfs), Path::new("/"), None, MsFlags::MS_MOVE, None)
        .ctx(|| format!("move rootfs {rootfs:?} to \"/\""))?;
    chroot(".").ctx(|| format!("chroot into {rootfs:?}"))?;
    chdir("/").ctx(|| "chdir to new root".into())
}

/// No mount namespace of the container's own: chroot into the rootfs bind. pivot_root or a move
/// over "/" would change the root of every process in the runtime's mount namespace.
pub fn chroot_into(rootfs: &Path) -> Result<()> {
    chdir(rootfs).ctx(|| format!("chdir to rootfs {rootfs:?}"))?;
    chroot(".").ctx(|| format!("chroot into {rootfs:?}"))?;
    chdir("/").ctx(|| "chdir to new root".into())
}

/// Remount "/" read-only (`root.readonly`).
pub fn make_root_readonly(in_userns: bool) -> Result<()> {
    remount_bind(Path::new("/"), MsFlags::MS_RDONLY, in_userns).ctx(|| "remount \"/\" read-only".into())
}

/// Apply `rootfsPropagation` to the new root.
pub fn set_root_propagation(flags: MsFlags) -> Result<()> {
    mount_raw(None, Path::new("/"), None, flags, None).ctx(|| "set rootfsPropagation on \"/\"".into())
}

/// The container's /dev/null, checked to be the null device itself (character device 1:3) and
/// not a symlink or another file put there: masked paths are bind mounts of it, and a /dev/null
/// replaced by a symlink to, say, /proc/sys/kernel/core_pattern would turn each masked path into
/// a writable copy of that file (the CVE-2025-31133 class). The mounts use this descriptor.
pub fn verified_dev_null() -> Result<OwnedFd> {
    let fd = super::open_fd("/dev/null", OFlag::O_PATH | OFlag::O_NOFOLLOW).ctx(|| "open /dev/null to mask paths with".into())?;
    let st = nix::sys::stat::fstat(fd.as_raw_fd()).ctx(|| "stat /dev/null".into())?;
    let is_null = st.st_mode & libc::S_IFMT == libc::S_IFCHR && libc::major(st.st_rdev) == 1 && libc::minor(st.st_rdev) == 3;
    if !is_null {
        return Err(Error::Other("/dev/null in the container is not the null device (1:3); refusing to mask paths with it".into()));
    }
    Ok(fd)
}

/// The init's stdin, stdout and stderr that are the host's null device become the container's
/// own /dev/null (`null`, from `verified_dev_null`), as runc does: conmon hands the container the
/// host's /dev/null as stdin, and CRIU cannot checkpoint a descriptor whose mount is outside the
/// container. /dev/null is opened by name (no /proc needed, which a container may lack) and must
/// be the very node `verified_dev_null` checked.
pub fn reopen_null_stdio(null: &OwnedFd) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let is_null = |st: &libc::stat| st.st_mode & libc::S_IFMT == libc::S_IFCHR && st.st_rdev == libc::makedev(1, 3);
    let checked = nix::sys::stat::fstat(null.as_raw_fd()).ctx(|| "stat /dev/null".into())?;
    let mut ours: Option<std::fs::File> = None;
    for fd in 0..3 {
        let Ok(st) = nix::sys::stat::fstat(fd) else { continue };
        if !is_null(&st) {
            continue;
        }
        let file = match &ours {
            Some(f) => f,
            None => {
                // O_NONBLOCK: opening never waits, whatever was put there meanwhile.
                let f = fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY | libc::O_NONBLOCK)
                    .open("/dev/null")
                    .map_err(|e| Error::io("open", "/dev/null", e))?;
                let st = nix::sys::stat::fstat(f.as_raw_fd()).ctx(|| "stat /dev/null".into())?;
                if (st.st_dev, st.st_ino) != (checked.st_dev, checked.st_ino) {
                    return Err(Error::Other("/dev/null changed after it was checked; stdio left as given".into()));
                }
                nix::fcntl::fcntl(f.as_raw_fd(), nix::fcntl::FcntlArg::F_SETFL(OFlag::O_RDWR)).ctx(|| "fcntl /dev/null".into())?;
                ours.insert(f)
            }
        };
        // Already the container's own: nothing to do.
        if nix::sys::stat::fstat(file.as_raw_fd()).is_ok_and(|o| o.st_dev == st.st_dev && o.st_ino == st.st_ino) {
            continue;
        }
        nix::unistd::dup2(file.as_raw_fd(), fd).ctx(|| format!("replace fd {fd} by the container's /dev/null"))?;
    }
    Ok(())
}

/// `linux.maskedPaths`: directories get an empty read-only tmpfs, files the null device (`null`,
/// from `verified_dev_null`). Missing paths are skipped. The first masked directory's tmpfs is
/// kept in `empty` and bound onto the next ones (a bind keeps its read-only flag): one
/// superblock to make and tear down, not one per directory.
pub fn mask_path(path: &Path, null: &OwnedFd, empty: &mut Option<OwnedFd>) -> Result<()> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io("stat masked path", path, e)),
    };
    let res = match (meta.is_dir(), empty.as_ref()) {
        (true, Some(first)) => bind_fd(first, path),
        (true, None) => mount_raw(Some(Path::new("tmpfs")), path, Some("tmpfs"), MsFlags::MS_RDONLY, Some("size=0k")).and_then(|()| {
            *empty = Some(super::open_fd(path, OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW)?);
            Ok(())
        }),
        (false, _) => bind_fd(null, path),
    };
    match res {
        Ok(()) | Err(Errno::ENOENT) => Ok(()),
        Err(e) => Err(Error::sys(format!("mask path {path:?}"), e)),
    }
}

/// `linux.readonlyPaths`: bind each path onto itself read-only. Missing paths are skipped.
pub fn readonly_path(path: &Path, in_userns: bool) -> Result<()> {
    match mount_raw(Some(path), path, None, MsFlags::MS_BIND | MsFlags::MS_REC, None) {
        Ok(()) => {}
        Err(Errno::ENOENT) => return Ok(()),
        Err(e) => return Err(Error::sys(format!("bind read-only path {path:?}"), e)),
    }
    remount_bind(path, MsFlags::MS_RDONLY | MsFlags::MS_REC | MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC, in_userns)
        .or_else(|_| remount_bind(path, MsFlags::MS_RDONLY | MsFlags::MS_REC, true))
        .ctx(|| format!("remount read-only path {path:?}"))
}
