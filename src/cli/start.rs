use clap::Args;

use super::Globals;
use crate::container::ContainerDir;
use crate::error::Result;

#[derive(Args, Debug)]
pub struct StartArgs {
    /// Container id
    pub id: String,
}

pub fn run(g: &Globals, a: StartArgs) -> Result<()> {
    let dir = ContainerDir::open(&g.root, &a.id)?;
    let state = dir.load()?;
    crate::launch::start(&dir, &state)
}
