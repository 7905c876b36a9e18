//! The final step: find the program on the container's PATH and exec it.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::unistd::{access, AccessFlags};

use crate::error::{Error, Result};
use crate::linux::late_io;

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Resolve `arg0` as exec(3p)'s execvp would, with the PATH of the container's environment.
/// Called after pivot_root and the user switch, so the lookup happens inside the container as
/// the container's user.
pub fn lookup(arg0: &str, env: &[String]) -> Result<PathBuf> {
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return match access(&p, AccessFlags::X_OK) {
            Ok(()) if !late_io::is_dir(&p) => Ok(p),
            Ok(()) => Err(Error::Init(format!("exec: {arg0:?}: is a directory"))),
            Err(e) => Err(Error::Init(format!("exec: {arg0:?}: {}", crate::error::errno_text(e)))),
        };
    }
    let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(arg0);
        if access(&cand, AccessFlags::X_OK).is_ok() && late_io::is_file(&cand) {
            return Ok(cand);
        }
    }
    Err(Error::Init(format!("exec: {arg0:?}: executable file not found in $PATH")))
}

/// Refuse to exec anything that is, or is interpreted by, the runtime's own binary: a container
/// whose program is a symlink to /proc/self/exe, or a script with `#!/proc/self/exe` (nested up to
/// the kernel's limit), would otherwise run the host's hull binary inside the container, where a
/// second container process can reopen it through /proc/<pid>/exe for writing and replace it
/// (the CVE-2019-5736 class). Compared by device and inode, so every alias of the binary counts.
pub fn refuse_runtime_binary(path: &Path) -> Result<()> {
    // The binary this process runs (a sealed view of hull's) and the host file it was sealed from.
    let running = late_io::stat(Path::new("/proc/self/exe")).ok().map(|m| (m.st_dev, m.st_ino));
    let installed = crate::linux::seal::origin();
    let mut cur = path.to_path_buf();
    // binfmt_script allows a chain of interpreters; the kernel stops at a depth of 5.
    for _ in 0..6 {
        let Ok(meta) = late_io::stat(&cur) else { return Ok(()) };
        let id = Some((meta.st_dev, meta.st_ino));
        if id == running || id == installed {
            return Err(Error::Init(format!(
                "exec: {path:?} resolves to the container runtime's own binary; refusing to run it in the container"
            )));
        }
        let head = late_io::read_head(&cur, 256).unwrap_or_default();
        let Some(line) = head.strip_prefix(b"#!") else { return Ok(()) };
        let line = line.split(|b| *b == b'\n').next().unwrap_or_default();
        let interp = String::from_utf8_lossy(line);
        let Some(interp) = interp.split_whitespace().next() else { return Ok(()) };
        cur = PathBuf::from(interp);
    }
    Ok(())
}

/// Replace the process image. Only returns on failure.
pub fn execve(path: &Path, args: &[String], env: &[String]) -> Error {
    let to_c = |v: &[String]| -> Option<Vec<CString>> { v.iter().map(|s| CString::new(s.as_bytes()).ok()).collect() };
    let (Some(a), Some(e)) = (to_c(args), to_c(env)) else {
        return Error::Init("exec: argument or environment contains a NUL byte".into());
    };
    let Ok(p) = CString::new(path.as_os_str().as_bytes()) else {
        return Error::Init("exec: path contains a NUL byte".into());
    };
    let errno = nix::unistd::execve(&p, &a, &e).err().unwrap_or(Errno::UnknownErrno);
    Error::Init(format!("exec {:?}: {}", path, crate::error::errno_text(errno)))
}
