//! Waiting for a foreground process (`run`, `exec` without `--detach`): forward signals to it and
//! reap children until it exits.

use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Context, Result};

/// Block every signal, so that none is lost between the fork and the wait loop. The child
/// restores its mask before execve.
pub fn block_signals() -> Result<SigSet> {
    let all = SigSet::all();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), None).ctx(|| "block signals".into())?;
    Ok(all)
}

/// Forward signals to `pid` and reap children until `pid` exits; returns its shell-style status
/// (the exit code, or 128 + the signal number).
pub fn forward_until_exit(pid: i32, set: &SigSet) -> i32 {
    loop {
        if let Some(code) = reap(pid) {
            return code;
        }
        match set.wait() {
            Ok(Signal::SIGCHLD) => {}
            Ok(sig) => {
                let _ = kill(Pid::from_raw(pid), sig);
            }
            Err(_) => {}
        }
    }
}

/// Reap every exited child; `Some(status)` once `pid` is among them.
fn reap(pid: i32) -> Option<i32> {
    let mut result = None;
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p.as_raw() == pid => result = Some(code),
            Ok(WaitStatus::Signaled(p, sig, _)) if p.as_raw() == pid => result = Some(128 + sig as i32),
            Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return result,
            Ok(_) => {}
            Err(Errno::EINTR) => {}
            Err(_) => return result,
        }
    }
}
