//! The one error type of hull. Every variant names the step that failed and the object it failed
//! on, so that the message reaching the user reads like
//! `mount "proc" on "/proc": operation not permitted`.

use std::fmt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command line usage.
    #[error("{0}")]
    Usage(String),
    /// config.json is unreadable, malformed or semantically invalid; `path` is the JSON path.
    #[error("config.json: {path}: {msg}")]
    Config { path: String, msg: String },
    #[error("invalid container ID format: {0:?}")]
    InvalidId(String),
    #[error("container does not exist")]
    NotExist,
    #[error("container with given ID already exists")]
    Exists,
    #[error("{0}")]
    WrongState(String),
    /// A system call on a named object failed.
    #[error("{op}: {}", errno_text(*.errno))]
    Sys { op: String, errno: Errno },
    /// A file operation failed.
    #[error("{op} {path:?}: {}", io_text(.source))]
    Io { op: &'static str, path: PathBuf, source: std::io::Error },
    #[error("cgroup {path:?}: {msg}")]
    Cgroup { path: PathBuf, msg: String },
    /// An error reported by the container's init process during setup.
    #[error("{0}")]
    Init(String),
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn sys(op: impl Into<String>, errno: Errno) -> Self {
        Error::Sys { op: op.into(), errno }
    }
    pub fn io(op: &'static str, path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io { op, path: path.as_ref().to_path_buf(), source }
    }
    pub fn config(path: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Config { path: path.into(), msg: msg.into() }
    }
}

/// Lower-case strerror text, as Go prints it ("operation not permitted").
pub fn errno_text(errno: Errno) -> String {
    lower_first(errno.desc())
}

fn io_text(e: &std::io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => errno_text(Errno::from_raw(n)),
        None => e.to_string(),
    }
}

fn lower_first(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Attach an operation description to a nix result.
pub trait Context<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T>;
}

impl<T> Context<T> for std::result::Result<T, Errno> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|errno| Error::Sys { op: f(), errno })
    }
}

impl<T> Context<T> for std::io::Result<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T> {
        self.map_err(|e| match e.raw_os_error() {
            Some(n) => Error::Sys { op: f(), errno: Errno::from_raw(n) },
            None => Error::Other(format!("{}: {}", f(), e)),
        })
    }
}

/// Quote a path the way error messages show it.
pub struct Q<'a>(pub &'a Path);
impl fmt::Display for Q<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}
