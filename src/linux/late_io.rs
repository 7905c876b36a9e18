//! File access for the last steps of a container's process, which may run under the container's
//! own seccomp filter (without no_new_privs the filter goes in before the capabilities are
//! dropped). Only openat(2) (`linux::open_fd`) and newfstatat(2) here: musl's `open`, `stat` and
//! even `fstatat` on AT_FDCWD (and so Rust's `File::open` and `fs::metadata` on musl) make the
//! older open(2) and stat(2) calls, which a profile written for, or recorded from, glibc and Go
//! programs (runc included) may refuse.

use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::{FileStat, SFlag};

/// newfstatat(AT_FDCWD, path, 0): the file a path names, symlinks followed. Made as a raw
/// system call: musl turns fstatat(AT_FDCWD, path, 0) into stat(2).
pub fn stat(path: &Path) -> Result<FileStat, Errno> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(|_| Errno::EINVAL)?;
    let mut st = std::mem::MaybeUninit::<FileStat>::uninit();
    // SAFETY: newfstatat reads the NUL-terminated path and fills the whole `struct stat` (on
    // x86_64 the kernel's and libc's layouts are the same) when it returns 0; `st` is only read
    // then.
    let r = unsafe { libc::syscall(libc::SYS_newfstatat, libc::AT_FDCWD, c.as_ptr(), st.as_mut_ptr(), 0) };
    if r != 0 {
        return Err(Errno::last());
    }
    // SAFETY: filled by the successful call above.
    Ok(unsafe { st.assume_init() })
}

/// Whether `path` names a directory (false when it cannot be looked up).
pub fn is_dir(path: &Path) -> bool {
    stat(path).is_ok_and(|s| kind(&s) == SFlag::S_IFDIR)
}

/// Whether `path` names a regular file (false when it cannot be looked up).
pub fn is_file(path: &Path) -> bool {
    stat(path).is_ok_and(|s| kind(&s) == SFlag::S_IFREG)
}

fn kind(s: &FileStat) -> SFlag {
    SFlag::from_bits_truncate(s.st_mode) & SFlag::S_IFMT
}

/// Up to `limit` bytes from the start of a file, read in steps of at most 4 KB.
pub fn read_head(path: &Path, limit: usize) -> Result<Vec<u8>, Errno> {
    let fd = super::open_fd(path, OFlag::O_RDONLY)?;
    let mut out = Vec::new();
    let mut chunk = [0u8; 4096];
    while out.len() < limit {
        let want = chunk.len().min(limit - out.len());
        match nix::unistd::read(fd.as_raw_fd(), &mut chunk[..want]) {
            Ok(0) => break,
            Ok(k) => out.extend_from_slice(&chunk[..k]),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// A whole small text file (lossily decoded).
pub fn read_text(path: &Path) -> Result<String, Errno> {
    read_head(path, usize::MAX).map(|b| String::from_utf8_lossy(&b).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_kinds_follow_the_file() {
        let dir = std::env::temp_dir().join(format!("hull-late-io-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("f");
        std::fs::write(&f, b"#!/bin/sh\nline two\n").unwrap();
        assert!(is_file(&f) && !is_dir(&f));
        assert!(is_dir(&dir) && !is_file(&dir));
        assert!(!is_file(&dir.join("missing")) && !is_dir(&dir.join("missing")));
        assert_eq!(read_head(&f, 4).unwrap(), b"#!/b");
        assert_eq!(read_head(&f, 100).unwrap(), b"#!/bin/sh\nline two\n");
        assert_eq!(read_text(&f).unwrap(), "#!/bin/sh\nline two\n");
        assert_eq!(read_text(&dir.join("missing")).unwrap_err(), Errno::ENOENT);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
