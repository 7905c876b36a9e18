use std::path::PathBuf;

use clap::Args;

use super::Globals;
use crate::error::Result;
use crate::launch::{self, CreateOpts};

#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Container id
    pub id: String,
    /// Path to the bundle directory
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Unix socket that receives the pty master of a terminal container
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Unix socket that receives a pidfd of the container's init
    #[arg(long)]
    pub pidfd_socket: Option<PathBuf>,
    /// File to write the container's init pid to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Use move + chroot instead of pivot_root
    #[arg(long)]
    pub no_pivot: bool,
    /// Do not create a new session keyring
    #[arg(long)]
    pub no_new_keyring: bool,
    /// Pass N extra file descriptors (3..3+N-1) to the container
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
}

impl CreateArgs {
    pub fn opts<'a>(&'a self, g: &'a Globals) -> CreateOpts<'a> {
        CreateOpts {
            root: &g.root,
            id: &self.id,
            bundle: &self.bundle,
            pid_file: self.pid_file.as_deref(),
            no_pivot: self.no_pivot,
            no_new_keyring: self.no_new_keyring,
            preserve_fds: self.preserve_fds,
            systemd_cgroup: g.systemd_cgroup,
            rootless: g.rootless,
            console_socket: self.console_socket.as_deref(),
            console_fd: None,
            start_at_once: false,
        }
    }
}

pub fn run(g: &Globals, a: CreateArgs) -> Result<()> {
    let (dir, state) = launch::create(&a.opts(g))?;
    a.send_pidfd(&dir, &state)
}

impl CreateArgs {
    /// `--pidfd-socket`; a failure undoes the create.
    pub fn send_pidfd(&self, dir: &crate::container::ContainerDir, state: &crate::container::State) -> Result<()> {
        let Some(path) = &self.pidfd_socket else { return Ok(()) };
        crate::linux::console::send_pidfd(path, state.pid).inspect_err(|_| {
            let _ = crate::container::destroy(dir, state);
        })
    }
}
