//! config.json `mounts`: option parsing and mounting one entry inside the rootfs.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::MsFlags;
use nix::sys::statvfs::{statvfs, FsFlags};
use oci_spec::runtime::Mount;

use super::safe_path::{create_in_root, fd_path, open_in_root, Kind};
use crate::error::{Error, Result};

/// A mount entry's options split into what mount(2) takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountOptions {
    pub flags: MsFlags,
    /// Flags to clear (e.g. `rw`, `suid`), relevant when remounting a bind mount.
    pub clear: MsFlags,
    pub propagation: MsFlags,
    /// Recursive attributes (`rro`, `rnosuid`, ...) applied with mount_setattr(AT_RECURSIVE).
    pub rec_set: u64,
    pub rec_clr: u64,
    /// `tmpcopyup` (podman): fill a new tmpfs with what was under its mount point.
    pub tmpcopyup: bool,
    /// `idmap` (Some(false)) or `ridmap` (Some(true), the idmapping applied to submounts too).
    pub idmap: Option<bool>,
    pub data: Vec<String>,
}

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            clear: MsFlags::empty(),
            propagation: MsFlags::empty(),
            rec_set: 0,
            rec_clr: 0,
            tmpcopyup: false,
            idmap: None,
            data: Vec::new(),
        }
    }
}

impl MountOptions {
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }
}

/// Every option name `parse_options` recognises as a flag (anything else is filesystem data).
pub const KNOWN_OPTIONS: &[&str] = &[
    "defaults", "ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "sync", "async", "dirsync",
    "remount", "mand", "nomand", "atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime",
    "strictatime", "nostrictatime", "silent", "loud", "bind", "rbind", "private", "rprivate", "shared",
    "rshared", "slave", "rslave", "unbindable", "runbindable", "nosymfollow", "symfollow", "iversion",
    "noiversion", "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec", "rnodiratime",
    "rdiratime", "rrelatime", "rnorelatime", "rnoatime", "ratime", "rstrictatime", "rnostrictatime",
    "rnosymfollow", "rsymfollow", "tmpcopyup", "idmap", "ridmap", "lazytime", "nolazytime",
];

// mount_setattr(2) attributes.
const ATTR_RDONLY: u64 = 0x1;
const ATTR_NOSUID: u64 = 0x2;
const ATTR_NODEV: u64 = 0x4;
const ATTR_NOEXEC: u64 = 0x8;
const ATTR_ATIME_MASK: u64 = 0x70;
const ATTR_RELATIME: u64 = 0x0;
const ATTR_NOATIME: u64 = 0x10;
const ATTR_STRICTATIME: u64 = 0x20;
const ATTR_NODIRATIME: u64 = 0x80;
const ATTR_NOSYMFOLLOW: u64 = 0x200000;
const MS_NOSYMFOLLOW: MsFlags = MsFlags::from_bits_retain(256);
const MS_I_VERSION: MsFlags = MsFlags::from_bits_retain(1 << 23);

/// (set, clear) of a recursive mount attribute option.
fn recursive_attr(opt: &str) -> Option<(u64, u64)> {
    Some(match opt {
        "rro" => (ATTR_RDONLY, 0),
        "rrw" => (0, ATTR_RDONLY),
        "rnosuid" => (ATTR_NOSUID, 0),
        "rsuid" => (0, ATTR_NOSUID),
        "rnodev" => (ATTR_NODEV, 0),
        "rdev" => (0, ATTR_NODEV),
        "rnoexec" => (ATTR_NOEXEC, 0),
        "rexec" => (0, ATTR_NOEXEC),
        "rnodiratime" => (ATTR_NODIRATIME, 0),
        "rdiratime" => (0, ATTR_NODIRATIME),
        "rrelatime" => (ATTR_RELATIME, ATTR_ATIME_MASK),
        "rnoatime" => (ATTR_NOATIME, ATTR_ATIME_MASK),
        "rstrictatime" => (ATTR_STRICTATIME, ATTR_ATIME_MASK),
        "ratime" => (ATTR_RELATIME, ATTR_ATIME_MASK),
        // The negations of the other atime modes leave the mode as it is.
        "rnorelatime" | "rnostrictatime" => (0, 0),
        "rnosymfollow" => (ATTR_NOSYMFOLLOW, 0),
        "rsymfollow" => (0, ATTR_NOSYMFOLLOW),
        _ => return None,
    })
}

/// Parse `options` of a mount entry. Recursive mount attributes (`rro`, ...) are refused with a
/// clear error rather than passed to the kernel as data it would reject obscurely.
pub fn parse_options(options: &[String]) -> std::result::Result<MountOptions, String> {
    let mut o = MountOptions::default();
    for opt in options {
        let (set, clear, prop) = match opt.as_str() {
            "defaults" => (MsFlags::empty(), MsFlags::empty(), MsFlags::empty()),
            "ro" => (MsFlags::MS_RDONLY, MsFlags::empty(), MsFlags::empty()),
            "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY, MsFlags::empty()),
            "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty(), MsFlags::empty()),
            "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID, MsFlags::empty()),
            "nodev" => (MsFlags::MS_NODEV, MsFlags::empty(), MsFlags::empty()),
            "dev" => (MsFlags::empty(), MsFlags::MS_NODEV, MsFlags::empty()),
            "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty(), MsFlags::empty()),
            "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC, MsFlags::empty()),
            "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty(), MsFlags::empty()),
            "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
            "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty(), MsFlags::empty()),
            "remount" => (MsFlags::MS_REMOUNT, MsFlags::empty(), MsFlags::empty()),
            "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty(), MsFlags::empty()),
            "nomand" => (MsFlags::empty(), MsFlags::MS_MANDLOCK, MsFlags::empty()),
            "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME, MsFlags::empty()),
            "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty(), MsFlags::empty()),
            "diratime" => (MsFlags::empty(), MsFlags::MS_NODIRATIME, MsFlags::empty()),
            "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty(), MsFlags::empty()),
            "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty(), MsFlags::empty()),
            "norelatime" => (MsFlags::empty(), MsFlags::MS_RELATIME, MsFlags::empty()),
            "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty(), MsFlags::empty()),
            "nostrictatime" => (MsFlags::empty(), MsFlags::MS_STRICTATIME, MsFlags::empty()),
            "silent" => (MsFlags::MS_SILENT, MsFlags::empty(), MsFlags::empty()),
            "lazytime" => (MsFlags::MS_LAZYTIME, MsFlags::empty(), MsFlags::empty()),
            "nolazytime" => (MsFlags::empty(), MsFlags::MS_LAZYTIME, MsFlags::empty()),
            "loud" => (MsFlags::empty(), MsFlags::MS_SILENT, MsFlags::empty()),
            "bind" => (MsFlags::MS_BIND, MsFlags::empty(), MsFlags::empty()),
            "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty(), MsFlags::empty()),
            "private" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_PRIVATE),
            "rprivate" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_PRIVATE | MsFlags::MS_REC),
            "shared" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_SHARED),
            "rshared" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_SHARED | MsFlags::MS_REC),
            "slave" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_SLAVE),
            "rslave" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_SLAVE | MsFlags::MS_REC),
            "unbindable" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_UNBINDABLE),
            "runbindable" => (MsFlags::empty(), MsFlags::empty(), MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
            "nosymfollow" => (MS_NOSYMFOLLOW, MsFlags::empty(), MsFlags::empty()),
            "symfollow" => (MsFlags::empty(), MS_NOSYMFOLLOW, MsFlags::empty()),
            "iversion" => (MS_I_VERSION, MsFlags::empty(), MsFlags::empty()),
            "noiversion" => (MsFlags::empty(), MS_I_VERSION, MsFlags::empty()),
            "tmpcopyup" => {
                o.tmpcopyup = true;
                continue;
            }
            "idmap" | "ridmap" => {
                o.idmap = Some(opt == "ridmap");
                continue;
            }
            "copy-symlink" => {
                return Err(format!("mount option {opt:?} is not supported by this version of hull"));
            }
            other if recursive_attr(other).is_some() => {
                let (set, clr) = recursive_attr(other).unwrap_or((0, 0));
                o.rec_set = (o.rec_set & !clr) | set;
                o.rec_clr = (o.rec_clr & !set) | clr;
                continue;
            }
            _ => {
                o.data.push(opt.clone());
                continue;
            }
        };
        o.flags |= set;
        o.flags = without(o.flags, clear);
        o.clear |= clear;
        o.propagation |= prop;
    }
    Ok(o)
}

/// `flags` without `remove`. (`!` on MsFlags would also drop the bits nix has no name for, such
/// as MS_NOSYMFOLLOW.)
pub fn without(flags: MsFlags, remove: MsFlags) -> MsFlags {
    MsFlags::from_bits_retain(flags.bits() & !remove.bits())
}

/// Parse a propagation name as `rootfsPropagation` spells it.
pub fn parse_propagation(name: &str) -> Option<MsFlags> {
    match parse_options(&[name.to_string()]) {
        Ok(o) if !o.propagation.is_empty() => Some(o.propagation),
        _ => None,
    }
}

/// mount(2) with flags and an optional data string.
pub fn mount_raw(src: Option<&Path>, target: &Path, fstype: Option<&str>, flags: MsFlags, data: Option<&str>) -> std::result::Result<(), Errno> {
    nix::mount::mount(src, target, fstype, flags, data)
}

/// `mount_raw` on what `target` (an fd from a lookup inside the rootfs) is.
pub fn mount_on(ctx: &MountCtx, src: Option<&Path>, target: &OwnedFd, fstype: Option<&str>, flags: MsFlags, data: Option<&str>) -> std::result::Result<(), Errno> {
    at_target(ctx, target, |t| mount_raw(src, t, fstype, flags, data))
}

/// `remount_bind` of the mount `target` (an fd of its root) is.
pub fn remount_bind_on(ctx: &MountCtx, target: &OwnedFd, flags: MsFlags) -> std::result::Result<(), Errno> {
    at_target(ctx, target, |t| remount_bind(t, flags, ctx.in_userns))
}

/// A bind mount of what `src` (an fd) is on `target`, without naming `src` by its /proc/self/fd
/// link (see `at_target`): open_tree(OPEN_TREE_CLONE) of the fd, then move_mount onto the path.
/// Through the link where the kernel lacks those calls (before 5.2).
pub fn bind_fd(src: &OwnedFd, target: &Path) -> std::result::Result<(), Errno> {
    use super::idmap::{MOVE_MOUNT_F_EMPTY_PATH, OPEN_TREE_CLONE};
    let to = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(target.as_os_str())).map_err(|_| Errno::EINVAL)?;
    let flags = OPEN_TREE_CLONE | libc::O_CLOEXEC as u32 | libc::AT_EMPTY_PATH as u32;
    // SAFETY: a valid descriptor and a static empty path.
    let tree = unsafe { libc::syscall(libc::SYS_open_tree, src.as_raw_fd(), c"".as_ptr(), flags) };
    if tree < 0 {
        return match Errno::last() {
            Errno::ENOSYS => mount_raw(Some(&fd_path(src)), target, None, MsFlags::MS_BIND, None),
            e => Err(e),
        };
    }
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    let tree = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(tree as i32) };
    // SAFETY: a valid descriptor, an empty static path and `to`, NUL-terminated and alive.
    let r = unsafe {
        libc::syscall(libc::SYS_move_mount, tree.as_raw_fd(), c"".as_ptr(), libc::AT_FDCWD, to.as_ptr(), MOVE_MOUNT_F_EMPTY_PATH)
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Run `f` with a path naming exactly the file `target` is. A directory becomes the working
/// directory for the call and is named "."; anything else is named by its /proc/self/fd link.
/// The link costs a walk through /proc/<pid>, whose first lookup in a process makes its entries
/// (about 25 us in a fresh init, then about 2 us each): the init mounts on twenty-odd
/// directories. The working directory is put back afterwards (`MountCtx::start_dir`); without
/// it, the link is used.
fn at_target<T>(ctx: &MountCtx, target: &OwnedFd, f: impl FnOnce(&Path) -> std::result::Result<T, Errno>) -> std::result::Result<T, Errno> {
    match &ctx.start_dir {
        Some(start) if nix::unistd::fchdir(target.as_raw_fd()).is_ok() => {
            let r = f(Path::new("."));
            nix::unistd::fchdir(start.as_raw_fd())?;
            r
        }
        _ => f(&fd_path(target)),
    }
}

/// Everything `mount_entry` needs to know about the container being built.
pub struct MountCtx<'a> {
    pub rootfs: BorrowedFd<'a>,
    pub rootfs_path: &'a Path,
    pub bundle: &'a Path,
    pub in_userns: bool,
    pub new_netns: bool,
    pub new_cgroupns: bool,
    pub cgroup_path: &'a Path,
    /// The host's cgroup hierarchies as the runtime side sent them (`Msg::Hierarchies`).
    pub hierarchies: &'a std::cell::RefCell<Option<Vec<super::rootfs::Hierarchy>>>,
    /// Detached idmapped mounts made by the runtime side, by mount index (see `idmap`).
    pub idmapped: std::cell::RefCell<std::collections::HashMap<usize, std::os::fd::OwnedFd>>,
    /// The working directory the init started in (O_PATH), made current again after each mount
    /// on "." (`at_target`): a relative mount source, a block device's path say, is still looked
    /// up from where the runtime was started. A host directory: the context is dropped, and this
    /// closed, before pivot_root and the createContainer hooks.
    pub start_dir: Option<OwnedFd>,
}

fn display(m: &Mount) -> (String, String) {
    let src = m.source().as_ref().map(|s| s.display().to_string()).unwrap_or_else(|| "none".into());
    (src, m.destination().display().to_string())
}

fn mount_err(m: &Mount, e: Errno) -> Error {
    let (src, dst) = display(m);
    Error::sys(format!("mount {src:?} on {dst:?}"), e)
}

/// Mount one config entry at its destination inside the rootfs.
pub fn mount_entry(ctx: &MountCtx, idx: usize, m: &Mount) -> Result<()> {
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]))
        .map_err(|msg| Error::config(format!("mounts[{idx}].options"), msg))?;
    let typ = m.typ().as_deref().unwrap_or("");
    if typ == "cgroup" || typ == "cgroup2" {
        return super::rootfs::mount_cgroup(ctx, m, &opts);
    }
    let dest = m.destination();
    if opts.flags.contains(MsFlags::MS_REMOUNT) {
        // Change a mount made earlier (by a previous entry): nothing new is mounted.
        let target = open_in_root(ctx.rootfs, dest).map_err(|e| mount_err(m, e))?;
        let data = opts.data.join(",");
        let data = (!data.is_empty()).then_some(data.as_str());
        let flags = opts.flags | if opts.is_bind() { MsFlags::MS_BIND } else { MsFlags::empty() };
        mount_on(ctx, None, &target, None, flags, data).map_err(|e| mount_err(m, e))?;
    } else if opts.is_bind() || typ == "bind" {
        let src = bind_source(ctx.bundle, m)?;
        let kind = if src.is_dir() { Kind::Dir } else { Kind::File };
        let target = create_in_root(ctx.rootfs, dest, kind).map_err(|e| mount_err(m, e))?;
        super::procfs::check_mount_target(idx, dest, &target)?;
        match ctx.idmapped.borrow_mut().remove(&idx) {
            Some(detached) => super::idmap::attach(&detached, &target).map_err(|e| {
                let (src, dst) = display(m);
                Error::sys(format!("mounts[{idx}]: attach idmapped mount of {src:?} on {dst:?}"), e)
            })?,
            None if super::idmap::is_idmapped(m) => {
                return Err(Error::Other(format!("mounts[{idx}]: the runtime made no idmapped mount for {:?}", m.destination())));
            }
            None => {
                let flags = MsFlags::MS_BIND | (opts.flags & MsFlags::MS_REC);
                mount_on(ctx, Some(&src), &target, None, flags, None).map_err(|e| mount_err(m, e))?;
            }
        }
        let extra = without(opts.flags, MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !extra.is_empty() {
            let mounted = open_in_root(ctx.rootfs, dest).map_err(|e| mount_err(m, e))?;
            remount_bind_on(ctx, &mounted, extra).map_err(|e| mount_err(m, e))?;
        }
    } else {
        refuse_symlinked_kernel_fs(ctx, idx, m, typ)?;
        let target = create_in_root(ctx.rootfs, dest, Kind::Dir).map_err(|e| mount_err(m, e))?;
        super::procfs::check_mount_target(idx, dest, &target)?;
        // What is under the mount point now, for tmpcopyup: reachable through this fd afterwards.
        let below = match opts.tmpcopyup && typ == "tmpfs" {
            true => Some(super::open_fd(&fd_path(&target), nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_DIRECTORY).map_err(|e| mount_err(m, e))?),
            false => None,
        };
        let src = m.source().clone().unwrap_or_else(|| PathBuf::from(typ));
        let data = opts.data.join(",");
        let data = (!data.is_empty()).then_some(data.as_str());
        let flags = without(opts.flags, MsFlags::MS_REMOUNT);
        match mount_on(ctx, Some(&src), &target, Some(typ), flags, data) {
            Ok(()) => {}
            // sysfs cannot be mounted without a private network namespace: bind the host's, as runc.
            Err(Errno::EPERM) if typ == "sysfs" && !ctx.new_netns => {
                let rec = MsFlags::MS_BIND | MsFlags::MS_REC;
                mount_on(ctx, Some(Path::new("/sys")), &target, None, rec, None).map_err(|e| mount_err(m, e))?;
                let mounted = open_in_root(ctx.rootfs, dest).map_err(|e| mount_err(m, e))?;
                remount_bind_on(ctx, &mounted, flags).map_err(|e| mount_err(m, e))?;
            }
            // A devpts gid= the user namespace does not map (runc's template says gid=5; a
            // rootless mapping of one id has no group 5): without it, as crun does, with a warning.
            Err(Errno::EINVAL) if typ == "devpts" && ctx.in_userns && opts.data.iter().any(|d| d.starts_with("gid=")) => {
                let kept: Vec<&str> = opts.data.iter().map(String::as_str).filter(|d| !d.starts_with("gid=")).collect();
                crate::log::warn(format!(
                    "mounts[{idx}]: devpts on {:?}: the gid= option names a group the user namespace does not map; mounted without it",
                    m.destination()
                ));
                let data = kept.join(",");
                mount_on(ctx, Some(&src), &target, Some(typ), flags, (!data.is_empty()).then_some(data.as_str())).map_err(|e| mount_err(m, e))?;
            }
            Err(e) => return Err(mount_err(m, e)),
        }
        if let Some(below) = below {
            let mounted = open_in_root(ctx.rootfs, dest).map_err(|e| mount_err(m, e))?;
            copy_tree(&fd_path(&below), &fd_path(&mounted))
                .map_err(|e| Error::Other(format!("tmpcopyup into {:?}: {e}", m.destination())))?;
        }
    }
    if !opts.propagation.is_empty() {
        let mounted = open_in_root(ctx.rootfs, dest).map_err(|e| mount_err(m, e))?;
        mount_on(ctx, None, &mounted, None, opts.propagation, None).map_err(|e| mount_err(m, e))?;
    }
    if opts.rec_set != 0 || opts.rec_clr != 0 {
        let mounted = open_in_root(ctx.rootfs, dest).map_err(|e| mount_err(m, e))?;
        set_attr_recursive(&mounted, opts.rec_set, opts.rec_clr).map_err(|e| mount_err(m, e))?;
    }
    Ok(())
}

/// procfs and sysfs go on a directory of the rootfs reached without symlinks: an image whose
/// /proc is a symlink would otherwise move procfs where an LSM policy written for /proc does not
/// apply (the CVE-2019-19921 class), as runc refuses too.
fn refuse_symlinked_kernel_fs(ctx: &MountCtx, idx: usize, m: &Mount, typ: &str) -> Result<()> {
    if typ != "proc" && typ != "sysfs" {
        return Ok(());
    }
    let dest = m.destination();
    let resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_SYMLINKS;
    match super::safe_path::openat2_resolve(ctx.rootfs, &super::safe_path::clean(dest), libc::O_PATH, resolve) {
        Err(Errno::ELOOP) => Err(Error::Other(format!(
            "mounts[{idx}]: {dest:?} in the rootfs is a symlink (or lies behind one); {} must be mounted on a directory",
            if typ == "proc" { "procfs" } else { "sysfs" }
        ))),
        _ => Ok(()),
    }
}

/// Copy a directory tree (files, directories, symlinks; modes and owners kept) from `from` into
/// the existing directory `to`.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{lchown, MetadataExt, PermissionsExt};
    let top = std::fs::metadata(from)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(top.mode() & 0o7777))?;
    lchown(to, Some(top.uid()), Some(top.gid()))?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let meta = entry.metadata()?;
        let ft = meta.file_type();
        if ft.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_tree(&src, &dst)?;
            continue;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else if ft.is_file() {
            std::fs::copy(&src, &dst)?;
        } else {
            continue;
        }
        lchown(&dst, Some(meta.uid()), Some(meta.gid()))?;
    }
    Ok(())
}

/// mount_setattr(fd, "", AT_EMPTY_PATH | AT_RECURSIVE): change attributes of a whole mount tree.
fn set_attr_recursive(fd: &std::os::fd::OwnedFd, set: u64, clr: u64) -> std::result::Result<(), Errno> {
    mount_setattr(std::os::fd::AsFd::as_fd(fd), libc::AT_RECURSIVE, set, clr, 0)
}

/// mount_setattr(2) on the mount of `fd` (AT_EMPTY_PATH), with `at_flags` (AT_RECURSIVE) and,
/// for MOUNT_ATTR_IDMAP, the user namespace fd of the mapping.
pub fn mount_setattr(fd: BorrowedFd, at_flags: i32, set: u64, clr: u64, userns_fd: u64) -> std::result::Result<(), Errno> {
    #[repr(C)]
    struct MountAttr {
        attr_set: u64,
        attr_clr: u64,
        propagation: u64,
        userns_fd: u64,
    }
    let attr = MountAttr { attr_set: set, attr_clr: clr, propagation: 0, userns_fd };
    // SAFETY: the path is a static empty C string, `attr` lives across the call and its exact
    // size is passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            std::os::fd::AsRawFd::as_raw_fd(&fd),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH | at_flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// The source of a bind mount: absolute, or relative to the bundle.
fn bind_source(bundle: &Path, m: &Mount) -> Result<PathBuf> {
    let src = m.source().as_ref().ok_or_else(|| {
        Error::Other(format!("bind mount on {:?} has no source", m.destination()))
    })?;
    let src = if src.is_absolute() { src.clone() } else { bundle.join(src) };
    if let Err(e) = std::fs::metadata(&src) {
        let errno = Errno::from_raw(e.raw_os_error().unwrap_or(libc::ENOENT));
        return Err(Error::sys(format!("mount {:?} on {:?}", src.display().to_string(), m.destination().display().to_string()), errno));
    }
    Ok(src)
}

/// Remount a bind mount with `flags`. In a user namespace the flags the kernel locked on the
/// source (nosuid, nodev, noexec, atime) must be kept or the remount fails with EPERM.
pub fn remount_bind(target: &Path, flags: MsFlags, in_userns: bool) -> std::result::Result<(), Errno> {
    let mut flags = flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT;
    if in_userns {
        if let Ok(st) = statvfs(target) {
            let f = st.flags();
            for (fs, ms) in [
                (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
                (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
                (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
                (FsFlags::ST_RDONLY, MsFlags::MS_RDONLY),
                (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
                (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
                // ST_RELATIME (musl's headers do not name it).
                (FsFlags::from_bits_retain(0x1000), MsFlags::MS_RELATIME),
            ] {
                if f.contains(fs) {
                    flags |= ms;
                }
            }
        }
    }
    mount_raw(None, target, None, flags, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(v: &[&str]) -> MountOptions {
        parse_options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn flags_and_data_are_split() {
        let m = o(&["nosuid", "noexec", "mode=755", "size=65536k", "ro"]);
        assert_eq!(m.flags, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY);
        assert_eq!(m.data, vec!["mode=755", "size=65536k"]);
    }

    #[test]
    fn flags_nix_has_no_name_for_survive() {
        assert_eq!(o(&["nosymfollow", "nosuid"]).flags, MS_NOSYMFOLLOW | MsFlags::MS_NOSUID);
        assert_eq!(o(&["iversion", "rw"]).flags, MS_I_VERSION);
        assert_eq!(o(&["nosymfollow", "symfollow"]).flags, MsFlags::empty());
    }

    #[test]
    fn later_options_override_earlier() {
        assert_eq!(o(&["ro", "rw"]).flags, MsFlags::empty());
        assert_eq!(o(&["rbind", "rprivate"]).propagation, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        assert!(o(&["rbind"]).is_bind());
    }

    #[test]
    fn every_known_option_is_a_flag_not_data() {
        for name in KNOWN_OPTIONS.iter().filter(|n| recursive_attr(n).is_none()) {
            let m = parse_options(&[name.to_string()]).unwrap();
            assert!(m.data.is_empty(), "{name} parsed as data");
        }
    }

    #[test]
    fn recursive_attributes_are_collected() {
        let m = o(&["rro", "rnosuid", "rnoatime"]);
        assert_eq!(m.rec_set, ATTR_RDONLY | ATTR_NOSUID | ATTR_NOATIME);
        assert_eq!(m.rec_clr, ATTR_ATIME_MASK);
        assert_eq!(o(&["rro", "rrw"]).rec_set, 0);
        assert_eq!(o(&["rbind", "ridmap"]).idmap, Some(true));
        assert_eq!(o(&["bind", "idmap"]).idmap, Some(false));
        let e = parse_options(&["copy-symlink".to_string()]).unwrap_err();
        assert!(e.contains("\"copy-symlink\""), "{e}");
    }
}
