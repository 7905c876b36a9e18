//! `run`: create and start in one call. In the foreground hull is a subreaper, forwards every
//! signal to the init, exits with the container's status and deletes the container.

use clap::Args;

use super::create::CreateArgs;
use super::Globals;
use crate::container::{self, ContainerDir};
use crate::error::{Context, Result};
use crate::launch::wait;

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
    let all = wait::block_signals()?;
    let mut opts = a.create.opts(g);
    opts.foreground = true;
    let (dir, state) = crate::launch::create(&opts)?;
    if let Err(e) = crate::launch::start(&dir, &state) {
        let _ = container::destroy(dir, &state);
        return Err(e);
    }
    drop(dir);
    let code = wait::forward_until_exit(state.pid, &all);
    if !a.keep {
        let dir = ContainerDir::open(&g.root, &state.id)?;
        container::destroy(dir, &state)?;
    }
    Ok(code)
}
