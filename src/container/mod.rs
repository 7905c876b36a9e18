//! A container on disk: its state directory under `--root`, the lock that serializes verbs on one
//! id, the persisted state and the derived status.

mod state;
mod lifecycle;
pub mod status;

use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::error::{Error, Result};

pub use state::{CgroupRecord, State};
pub use lifecycle::{destroy, signal, wait_stopped};
pub use status::{derive_status, process_start_time, Status};

pub const STATE_FILE: &str = "state.json";
pub const EXEC_FIFO: &str = "exec.fifo";
/// Directory in the state dir holding the container's sd_notify socket (bound by `start`).
pub const NOTIFY_DIR: &str = "notify";
/// Where the container sees that directory, and its NOTIFY_SOCKET.
pub const NOTIFY_DIR_IN_CONTAINER: &str = "/run/notify";
pub const NOTIFY_SOCKET_IN_CONTAINER: &str = "/run/notify/notify.sock";

/// Check an id against `[A-Za-z0-9_+.-]+` (and refuse `.`/`..`, which name directories).
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"_+.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

/// An open, locked state directory. The lock lasts until this value is dropped.
pub struct ContainerDir {
    pub id: String,
    pub path: PathBuf,
    lock: File,
    /// `run`'s reading end of the exec fifo, opened before the init was cloned (see
    /// `launch::CreateOpts::start_at_once`).
    pub fifo_reader: std::cell::RefCell<Option<std::os::fd::OwnedFd>>,
}

impl ContainerDir {
    /// Create the state directory of a new container; fails with `Exists` if the id is taken.
    pub fn create(root: &Path, id: &str) -> Result<ContainerDir> {
        validate_id(id)?;
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(root)
            .map_err(|e| Error::io("create state root", root, e))?;
        let path = root.join(id);
        if path.symlink_metadata().is_ok() {
            return Err(Error::Exists);
        }
        // The directory appears under the container's name already locked: made under a
        // temporary name, locked, then renamed into place (RENAME_NOREPLACE: an existing one
        // wins). A directory with that name and no state.json is then always a create that
        // died, which `delete --force` may remove, never one that is starting.
        let tmp = root.join(format!(".{id}.creating.{}", std::process::id()));
        fs::DirBuilder::new().mode(0o711).create(&tmp).map_err(|e| Error::io("create state dir", &tmp, e))?;
        let lock = open_dir(&tmp)?;
        lock_exclusive(&lock, &tmp)?;
        if let Err(e) = renameat2(&tmp, &path, libc::RENAME_NOREPLACE) {
            let _ = fs::remove_dir(&tmp);
            return match e.raw_os_error() {
                Some(libc::EEXIST) => Err(Error::Exists),
                _ => Err(Error::io("create state dir", &path, e)),
            };
        }
        Ok(ContainerDir { id: id.to_string(), path, lock, fifo_reader: Default::default() })
    }

    /// Open and lock the state directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<ContainerDir> {
        validate_id(id)?;
        let path = root.join(id);
        let lock = match open_dir(&path) {
            Ok(f) => f,
            Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(Error::NotExist)
            }
            Err(e) => return Err(e),
        };
        lock_exclusive(&lock, &path)?;
        // The holder before us may have deleted the container while we waited.
        let gone = lock.metadata().map(|m| m.nlink() == 0).unwrap_or(true);
        if gone || !path.join(STATE_FILE).exists() {
            return Err(Error::NotExist);
        }
        Ok(ContainerDir { id: id.to_string(), path, lock, fifo_reader: Default::default() })
    }

    /// Remove the state dir of a create that was killed before it saved any state.json (the
    /// dir's lock is free and it holds no state). Returns whether there was one.
    pub fn remove_orphan(root: &Path, id: &str) -> Result<bool> {
        validate_id(id)?;
        let path = root.join(id);
        let Ok(lock) = open_dir(&path) else { return Ok(false) };
        lock_exclusive(&lock, &path)?;
        let gone = lock.metadata().map(|m| m.nlink() == 0).unwrap_or(true);
        if gone || path.join(STATE_FILE).exists() {
            return Ok(false);
        }
        fs::remove_dir_all(&path).map_err(|e| Error::io("remove state dir", &path, e))?;
        Ok(true)
    }

    /// The raw fd holding the lock: the init process must close it, or the lock would outlive
    /// `create`.
    pub fn lock_fd(&self) -> i32 {
        self.lock.as_raw_fd()
    }

    pub fn load(&self) -> Result<State> {
        State::load(&self.path)
    }

    pub fn save(&self, state: &State) -> Result<()> {
        let data = serde_json::to_vec(state).map_err(|e| Error::Other(format!("encode state: {e}")))?;
        write_atomic(&self.path.join(STATE_FILE), &data, 0o600)
    }

    pub fn fifo_path(&self) -> PathBuf {
        self.path.join(EXEC_FIFO)
    }

    /// Remove the state directory and everything in it (the lock is held until drop).
    pub fn remove(&self) -> Result<()> {
        fs::remove_dir_all(&self.path).map_err(|e| Error::io("remove state dir", &self.path, e))
    }
}

/// Open a container's state dir. O_NOFOLLOW: a symlink planted in the state root under a
/// container's name must not make hull read a state.json, or remove files, somewhere else.
fn open_dir(path: &Path) -> Result<File> {
    fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) | Some(libc::ENOTDIR) if path.is_symlink() => {
                Error::Other(format!("state dir {path:?} is a symlink; refusing to use it"))
            }
            _ => Error::io("open state dir", path, e),
        })
}

fn lock_exclusive(f: &File, path: &Path) -> Result<()> {
    loop {
        // SAFETY: flock on a descriptor this File owns.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        match Errno::last() {
            Errno::EINTR => continue,
            e => return Err(Error::sys(format!("lock state dir {path:?}"), e)),
        }
    }
}

/// Write a file atomically: a temporary file in the same directory, then rename.
pub fn write_atomic(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}", std::process::id()));
    let res = (|| {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .custom_flags(libc::O_CLOEXEC)
            .open(&tmp)?;
        f.write_all(data)?;
        drop(f);
        // Over an existing file: exchange the two names, then remove the old content, rather
        // than rename over it. ext4 (auto_da_alloc) gives a file renamed over another its blocks
        // at once, so that a crash cannot leave it empty; freeing them when the container is
        // deleted, often milliseconds later, then costs a synchronous discard on a filesystem
        // mounted with `discard` (0.1-0.3 ms in each `run` where the state root is such a
        // disk). What is written here does not outlive a reboot anyway. Only a regular file is
        // exchanged (RENAME_EXCHANGE would as gladly move a directory a --pid-file names out of
        // the way); where the target is anything else, or missing, or the filesystem cannot
        // exchange, a plain rename, which refuses a directory as before.
        let over_file = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file());
        match over_file.then(|| renameat2(&tmp, path, libc::RENAME_EXCHANGE)) {
            Some(Ok(())) => {
                let _ = fs::remove_file(&tmp);
                Ok(())
            }
            _ => fs::rename(&tmp, path),
        }
    })();
    res.map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io("write", path, e)
    })
}

/// renameat2(2) with `flags` (RENAME_NOREPLACE, RENAME_EXCHANGE), both paths from the current
/// directory.
fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> std::io::Result<()> {
    let c = |p: &Path| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput));
    let (cfrom, cto) = (c(from)?, c(to)?);
    // SAFETY: both paths are NUL-terminated and outlive the call. Called through syscall(2):
    // musl has no wrapper for renameat2.
    match unsafe { libc::syscall(libc::SYS_renameat2, libc::AT_FDCWD, cfrom.as_ptr(), libc::AT_FDCWD, cto.as_ptr(), flags) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// All container ids under `root` (directories with a state.json), sorted.
pub fn list_ids(root: &Path) -> Result<Vec<String>> {
    Ok(list_dirs(root)?.into_iter().filter(|id| root.join(id).join(STATE_FILE).exists()).collect())
}

/// Every directory under `root`, sorted: the ids of containers and of creates still making
/// their state.json, for a caller that opens each state.json anyway (and skips those without).
pub fn list_dirs(root: &Path) -> Result<Vec<String>> {
    let rd = match fs::read_dir(root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io("read state root", root, e)),
    };
    let mut ids: Vec<String> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    ids.sort();
    Ok(ids)
}

#[cfg(test)]
mod tests {
    /// Whether any extent of `file` has its blocks on disk already (FIEMAP; an extent of delayed
    /// allocation is not). None where the filesystem cannot tell.
    fn has_allocated_extents(file: &std::path::Path) -> Option<bool> {
        use std::os::fd::AsRawFd;
        const FS_IOC_FIEMAP: libc::c_ulong = 0xC020_660B;
        const FIEMAP_EXTENT_DELALLOC: u32 = 4;
        // struct fiemap (32 bytes: start, length, flags and mapped count, extent count) and room
        // for 4 struct fiemap_extent (56 bytes each, flags in the low half of the sixth u64).
        let mut buf = [0u64; 4 + 4 * 7];
        buf[1] = u64::MAX;
        buf[3] = 4;
        let f = std::fs::File::open(file).ok()?;
        // SAFETY: FS_IOC_FIEMAP reads and writes the fiemap header and at most fm_extent_count
        // extents, all inside `buf`, which outlives the call.
        if unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_FIEMAP as _, buf.as_mut_ptr()) } != 0 {
            return None;
        }
        let mapped = ((buf[2] >> 32) as usize).min(4);
        Some((0..mapped).any(|i| buf[4 + i * 7 + 5] as u32 & FIEMAP_EXTENT_DELALLOC == 0))
    }

    #[test]
    fn write_atomic_replaces_the_content_without_forcing_its_blocks_out() {
        use std::os::unix::fs::MetadataExt;
        let dir = std::env::temp_dir().join(format!("hull-write-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("state.json");
        super::write_atomic(&file, b"first", 0o600).unwrap();
        super::write_atomic(&file, b"second", 0o600).unwrap();
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        let content = std::fs::read(&file).unwrap();
        let mode = std::fs::metadata(&file).unwrap().mode();
        // ext4 with delayed allocation: a file renamed over another gets its blocks at once
        // (auto_da_alloc); one exchanged with it keeps none until writeback, seconds later.
        let allocated = has_allocated_extents(&file);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(names, ["state.json"], "the old content's temporary name is removed");
        assert_eq!(content, b"second");
        assert_eq!(mode & 0o777, 0o600);
        assert_ne!(allocated, Some(true), "the replacing file's blocks are allocated already");
    }

    #[test]
    fn write_atomic_onto_a_directory_fails_and_leaves_it_in_place() {
        let dir = std::env::temp_dir().join(format!("hull-write-atomic-dir-{}", std::process::id()));
        let target = dir.join("pid");
        std::fs::create_dir_all(target.join("inside")).unwrap();
        let res = super::write_atomic(&target, b"42", 0o644);
        let inside = target.join("inside").is_dir();
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(res.is_err(), "a directory is not replaced by a file");
        assert!(inside, "the directory is where it was, with its content");
        assert_eq!(names, ["pid"], "no temporary file left");
    }
}
