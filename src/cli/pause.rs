//! `pause` and `resume`: the freezer (v1) or cgroup.freeze (v2) of the container's cgroup.

use clap::Args;

use super::Globals;
use crate::cgroups::Cgroup;
use crate::container::{ContainerDir, Status};
use crate::error::{Error, Result};

#[derive(Args, Debug)]
pub struct PauseArgs {
    /// Container id
    pub id: String,
}

pub fn run(g: &Globals, a: PauseArgs, freeze: bool) -> Result<()> {
    let dir = ContainerDir::open(&g.root, &a.id)?;
    let state = dir.load()?;
    match (dir.status(&state), freeze) {
        (Status::Running, true) | (Status::Paused, false) => {}
        (Status::Paused, true) => return Err(Error::WrongState("container already paused".into())),
        (_, true) => return Err(Error::WrongState("container not running".into())),
        (_, false) => return Err(Error::WrongState("container not paused".into())),
    }
    Cgroup::open(&state.cgroup, &state.id)?.freeze(freeze)
}
