use std::time::Duration;

use clap::Args;
use nix::sys::signal::Signal;

use super::Globals;
use crate::container::{self, ContainerDir, Status};
use crate::error::{Error, Result};

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// Kill a running container before deleting it
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Container id
    pub id: String,
}

pub fn run(g: &Globals, a: DeleteArgs) -> Result<()> {
    let dir = match ContainerDir::open(&g.root, &a.id) {
        Ok(d) => d,
        // A create killed before its first state.json left only the directory.
        Err(Error::NotExist) if a.force => return ContainerDir::remove_orphan(&g.root, &a.id).map(|_| ()),
        Err(e) => return Err(e),
    };
    let state = dir.load()?;
    let status = dir.status(&state);
    match status {
        Status::Stopped | Status::Created => {}
        Status::Running | Status::Paused | Status::Creating if a.force => {
            // As runc: the init, whose death ends a pid namespace of its own and everything in
            // it; every process of the cgroup only when the container shares a pid namespace
            // (or is paused: the kill thaws it). A cgroup shared with another container keeps
            // that container's processes.
            let all = state.cgroup.shares_pid_ns || status == Status::Paused;
            crate::fault::point("delete-before-kill", None)?;
            match container::signal(&dir, &state, Signal::SIGKILL, all) {
                // It stopped by itself between the status above and the kill.
                Ok(()) | Err(Error::WrongState(_)) => {}
                Err(e) => return Err(e),
            }
            container::wait_stopped(&state, Duration::from_secs(10));
        }
        Status::Running | Status::Paused | Status::Creating => {
            return Err(Error::WrongState(format!("cannot delete container {} that is not stopped", a.id)))
        }
    }
    container::destroy(&dir, &state)
}
