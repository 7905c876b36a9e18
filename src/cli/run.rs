//! `run`: create and start in one call. In the foreground hull is a subreaper, forwards every
//! signal to the init, exits with the container's status and deletes the container.

use clap::Args;
use nix::errno::Errno;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::create::CreateArgs;
use super::Globals;
use crate::container::{self, ContainerDir};
use crate::error::{Context, Result};

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Keep the container's state after it exits
    #[arg(long)]
    pub keep: bool,
}

pub fn run(g: &Globals, a: RunArgs) -> Result<i32> {
    if a.detach {
        let (dir, state) = crate::launch::create(&a.create.opts(g))?;
        if let Err(e) = crate::launch::start(&dir, &state) {
            let _ = container::destroy(dir, &state);
            return Err(e);
        }
        return Ok(0);
    }
    nix::sys::prctl::set_child_subreaper(true).ctx(|| "prctl PR_SET_CHILD_SUBREAPER".into())?;
    // Block every signal before the init exists, so none is lost; the init unblocks them.
    let all = SigSet::all();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&all), None).ctx(|| "block signals".into())?;
    let (dir, state) = crate::launch::create(&a.create.opts(g))?;
    if let Err(e) = crate::launch::start(&dir, &state) {
        let _ = container::destroy(dir, &state);
        return Err(e);
    }
    drop(dir);
    let code = forward_until_exit(state.pid, &all);
    if !a.keep {
        let dir = ContainerDir::open(&g.root, &state.id)?;
        container::destroy(dir, &state)?;
    }
    Ok(code)
}

/// Forward signals to `pid` and reap children until `pid` exits; returns its shell-style status.
fn forward_until_exit(pid: i32, set: &SigSet) -> i32 {
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
