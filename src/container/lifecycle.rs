//! Lifecycle operations on an existing container: signal it, wait for it, destroy it.

use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::status::init_alive;
use super::{ContainerDir, State, Status};
use crate::cgroups::Cgroup;
use crate::error::{Error, Result};
use crate::hooks::{self, Phase};

/// Send `sig` to the init, or with `all` to every process of the container's cgroup.
pub fn signal(dir: &ContainerDir, state: &State, sig: Signal, all: bool) -> Result<()> {
    let status = dir.status(state);
    // Without a cgroup (rootless) there is no list of the container's processes: the init is
    // signalled, which for SIGKILL ends its pid namespace.
    if all && !state.cgroup.none {
        let cg = Cgroup::open(&state.cgroup, &state.id)?;
        // SIGKILL through cgroup.kill where the kernel has it: one write, no race with forks.
        if sig != Signal::SIGKILL || !crate::cgroups::kill_all(&state.cgroup) {
            for p in cg.pids().unwrap_or_default() {
                let _ = kill(Pid::from_raw(p), sig);
            }
        }
        // A paused container must be thawed for the signal to be acted upon.
        if status == Status::Paused && sig == Signal::SIGKILL {
            let _ = cg.freeze(false);
        }
        return Ok(());
    }
    if status == Status::Stopped {
        return Err(Error::WrongState("container not running".into()));
    }
    match kill(Pid::from_raw(state.pid), sig) {
        Ok(()) => Ok(()),
        Err(Errno::ESRCH) => Err(Error::WrongState("no such process".into())),
        Err(e) => Err(Error::sys(format!("kill pid {} with {sig}", state.pid), e)),
    }
}

/// Wait until the init is gone (a zombie counts as gone), for at most `limit`.
pub fn wait_stopped(state: &State, limit: Duration) -> bool {
    let start = Instant::now();
    let mut pause = Duration::from_micros(200);
    while init_alive(state) {
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
    true
}

/// Kill what is left, remove the cgroup hull created and the state directory.
pub fn destroy(dir: &ContainerDir, state: &State) -> Result<()> {
    if init_alive(state) {
        let _ = kill(Pid::from_raw(state.pid), Signal::SIGKILL);
    }
    if crate::cgroups::is_frozen(&state.cgroup) {
        let cg = Cgroup::open(&state.cgroup, &state.id)?;
        if !crate::cgroups::kill_all(&state.cgroup) {
            for p in cg.pids().unwrap_or_default() {
                let _ = kill(Pid::from_raw(p), Signal::SIGKILL);
            }
        }
        let _ = cg.freeze(false);
    }
    wait_stopped(state, Duration::from_secs(10));
    if let Some(id) = state.host_rootfs_mount {
        if let Err(e) = crate::linux::host_root::detach(&state.rootfs, id) {
            crate::log::warn(format!("delete: {e}"));
        }
    }
    crate::cgroups::remove(&state.cgroup)?;
    dir.remove()?;
    let json = state.oci_json("stopped", 0).to_string();
    // Failures were reported as warnings by `hooks::run`; poststop never fails a delete.
    let _ = hooks::run(&state.hooks, Phase::Poststop, &json);
    Ok(())
}
