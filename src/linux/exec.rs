//! The final step: find the program on the container's PATH and exec it.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::unistd::{access, AccessFlags};

use crate::error::{Error, Result};

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Resolve `arg0` as exec(3p)'s execvp would, with the PATH of the container's environment.
/// Called after pivot_root and the user switch, so the lookup happens inside the container as
/// the container's user.
pub fn lookup(arg0: &str, env: &[String]) -> Result<PathBuf> {
    if arg0.contains('/') {
        let p = PathBuf::from(arg0);
        return match access(&p, AccessFlags::X_OK) {
            Ok(()) if !p.is_dir() => Ok(p),
            Ok(()) => Err(Error::Init(format!("exec: {arg0:?}: is a directory"))),
            Err(e) => Err(Error::Init(format!("exec: {arg0:?}: {}", crate::error::errno_text(e)))),
        };
    }
    let path = env.iter().find_map(|e| e.strip_prefix("PATH=")).unwrap_or(DEFAULT_PATH);
    for dir in path.split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let cand = Path::new(dir).join(arg0);
        if access(&cand, AccessFlags::X_OK).is_ok() && cand.is_file() {
            return Ok(cand);
        }
    }
    Err(Error::Init(format!("exec: {arg0:?}: executable file not found in $PATH")))
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
