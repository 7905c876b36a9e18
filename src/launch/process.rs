//! The last steps shared by a container's init and by `exec`: limits, seccomp, capabilities, user,
//! umask, cwd, no_new_privs, the program lookup, signals and descriptors, then execve.

use std::path::{Path, PathBuf};

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, SigmaskHow, Signal};
use nix::unistd::chdir;
use oci_spec::runtime::{LinuxSeccomp, Process};

use crate::error::{Context, Error, Result};
use crate::linux::capabilities::{self, CapSets};
use crate::linux::seccomp::{self, Compiled};
use crate::linux::{exec, late_io, rlimits, scheduling, user};

/// A process ready to exec: everything but the final seccomp filter (with no_new_privs it is
/// installed as close to execve as possible) is in place.
pub struct Prepared {
    pub path: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<String>,
    late_seccomp: Option<Compiled>,
    /// The seccomp user-notification listener, for the agent at `listenerPath`.
    pub listener: Option<std::os::fd::OwnedFd>,
}

/// Apply `process` to the calling process, inside the container (after pivot_root or setns).
/// `preserve_fds` extra descriptors after stdio stay open across execve; every other one is
/// marked close-on-exec.
pub fn prepare(process: &Process, seccomp_config: Option<&LinuxSeccomp>, preserve_fds: u32, extra_env: &[String]) -> Result<Prepared> {
    if let Some(r) = process.rlimits() {
        rlimits::apply(r)?;
    }
    // Compiled before anything is dropped so that a bad profile fails the verb.
    let filter = seccomp_config.map(seccomp::compile).transpose()?;
    let nnp = process.no_new_privileges() == Some(true);
    let mut listener = None;
    let late_seccomp = match filter {
        Some(f) if !nnp || f.notify.is_some() => {
            // Without no_new_privs installing a filter needs CAP_SYS_ADMIN: before the caps go.
            // A notifying filter is installed now too: its listener must reach the agent before
            // the process runs.
            listener = seccomp::install(&f)?;
            None
        }
        other => other,
    };
    // Before the capabilities go: real-time policies and classes need CAP_SYS_NICE/ADMIN.
    if let Some(s) = process.scheduler() {
        scheduling::apply_scheduler(s)?;
    }
    if let Some(io) = process.io_priority() {
        scheduling::apply_io_priority(io.class(), io.priority())?;
    }
    let caps = process.capabilities().as_ref().map(|c| CapSets::from_config(Some(c)));
    if let Some(c) = &caps {
        capabilities::apply_bounding(c)?;
    }
    user::switch(process.user(), setgroups_allowed())?;
    if let Some(c) = &caps {
        capabilities::apply_process_sets(c)?;
    }
    user::set_umask(process.user());
    let cwd = process.cwd();
    chdir(cwd).map_err(|e| {
        Error::Init(format!("chdir to cwd ({:?}) set in config.json failed: {}", cwd, crate::error::errno_text(e)))
    })?;
    ensure_cwd_inside_root(cwd)?;
    if nnp {
        nix::sys::prctl::set_no_new_privs().ctx(|| "prctl PR_SET_NO_NEW_PRIVS".into())?;
    }
    let args = process.args().clone().unwrap_or_default();
    let mut env = environment(process, extra_env);
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", home_of(process.user().uid())));
    }
    let first = args.first().ok_or_else(|| Error::config("process.args", "must not be empty"))?;
    let path = exec::lookup(first, &env)?;
    exec::refuse_runtime_binary(&path)?;
    reset_signals();
    close_fds_from(3 + preserve_fds);
    Ok(Prepared { path, args, env, late_seccomp, listener })
}

/// `process.env` with `extra_env` (socket activation, NOTIFY_SOCKET) replacing what it names:
/// the environment of the container's process before HOME is filled in, and what a
/// createContainer hook without `env` gets.
pub fn environment(process: &Process, extra_env: &[String]) -> Vec<String> {
    let mut env = process.env().clone().unwrap_or_default();
    for e in extra_env {
        let key = e.split('=').next().unwrap_or(e);
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    env
}

impl Prepared {
    /// Install the no_new_privs seccomp filter, if any. After this only execve should follow.
    pub fn install_late_seccomp(&self) -> Result<()> {
        match &self.late_seccomp {
            Some(f) => seccomp::install(f).map(|_| ()),
            None => Ok(()),
        }
    }

    /// Replace the process image; returns only the error.
    pub fn exec(&self) -> Error {
        exec::execve(&self.path, &self.args, &self.env)
    }
}

/// Refuse a cwd that is not below the process's root. A path through /proc/self/fd/N (or
/// /proc/<pid>/cwd) follows a descriptor to wherever it points, and a descriptor the caller or
/// the runtime leaked may point at a host directory: the container's program would then start
/// in the host's filesystem (the CVE-2024-21626 class). The kernel's getcwd says so by
/// prefixing "(unreachable)" instead of "/".
fn ensure_cwd_inside_root(cwd: &std::path::Path) -> Result<()> {
    let mut buf = [0u8; libc::PATH_MAX as usize];
    // SAFETY: the raw getcwd system call writes at most `buf.len()` bytes into `buf`.
    let r = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    if r < 0 {
        let e = nix::errno::Errno::last();
        return Err(Error::Init(format!("cwd {cwd:?}: cannot check that it is inside the container: getcwd: {}", crate::error::errno_text(e))));
    }
    if buf[0] != b'/' {
        return Err(Error::Init(format!(
            "cwd {cwd:?} resolves outside the container's root filesystem (through a descriptor the container must not reach); refusing it"
        )));
    }
    Ok(())
}

/// setgroups(2) is refused in a user namespace whose /proc/self/setgroups says "deny".
fn setgroups_allowed() -> bool {
    late_io::read_text(Path::new("/proc/self/setgroups")).map(|s| s.trim() != "deny").unwrap_or(true)
}

/// The home directory of `uid` from the container's /etc/passwd, or "/".
fn home_of(uid: u32) -> String {
    let passwd = late_io::read_text(Path::new("/etc/passwd")).unwrap_or_default();
    passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 6 && f[2].parse::<u32>().ok() == Some(uid))
        .map(|f| f[5].to_string())
        .unwrap_or_else(|| "/".to_string())
}

/// Unblock every signal and restore default dispositions (hull ignores SIGPIPE, as every Rust
/// program does; the container must not inherit that).
fn reset_signals() {
    let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for s in Signal::iterator() {
        if s != Signal::SIGKILL && s != Signal::SIGSTOP {
            // SAFETY: installing SIG_DFL involves no handler code.
            let _ = unsafe { sigaction(s, &dfl) };
        }
    }
}

/// Mark every descriptor from `first` up close-on-exec: nothing of the runtime reaches the
/// container beyond stdio and the preserved fds.
fn close_fds_from(first: u32) {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets flags on descriptors. Called through
    // syscall(2): musl has no wrapper for it.
    unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, libc::CLOSE_RANGE_CLOEXEC) };
}
