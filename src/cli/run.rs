//! `run`: create and start in one call. In the foreground hull is a subreaper, forwards every
//! signal to the init, exits with the container's status and deletes the container.

use clap::Args;

use super::create::CreateArgs;
use super::Globals;
use crate::container::{self, ContainerDir};
use crate::error::{Context, Result};
use crate::launch::wait;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use nix::sys::socket::{recvmsg, socketpair, AddressFamily, ControlMessageOwned, MsgFlags, SockFlag, SockType};

/// Receive the one fd sent with SCM_RIGHTS on `sock`.
fn receive_fd(sock: &OwnedFd) -> Result<OwnedFd> {
    let mut name = [0u8; 4096];
    let mut iov = [std::io::IoSliceMut::new(&mut name)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let msg = recvmsg::<()>(sock.as_raw_fd(), &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC)
        .ctx(|| "receive the pty master".into())?;
    for c in msg.cmsgs().ctx(|| "receive the pty master".into())? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            if let Some(fd) = fds.first() {
                // SAFETY: the kernel just installed this descriptor for us; nothing else owns it.
                return Ok(unsafe { OwnedFd::from_raw_fd(*fd) });
            }
        }
    }
    Err(crate::error::Error::Init("the container did not send its pty".into()))
}

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
        let opts = crate::launch::CreateOpts { start_at_once: true, ..a.create.opts(g) };
        let (dir, state) = crate::launch::create(&opts)?;
        a.create.send_pidfd(&dir, &state)?;
        if let Err(e) = crate::launch::start_created(&dir, &state) {
            let _ = container::destroy(&dir, &state);
            return Err(e);
        }
        return Ok(0);
    }
    nix::sys::prctl::set_child_subreaper(true).ctx(|| "prctl PR_SET_CHILD_SUBREAPER".into())?;
    // Block every signal before the init exists, so none is lost; the init unblocks them.
    let all = wait::block_signals()?;
    // A terminal container without a console socket gets its pty master over this pair, and
    // `run` relays the caller's terminal to it, as runc does.
    let (ours, theirs) = socketpair(AddressFamily::Unix, SockType::Stream, None, SockFlag::SOCK_CLOEXEC)
        .ctx(|| "socketpair for the console".into())?;
    let mut opts = a.create.opts(g);
    opts.start_at_once = true;
    if opts.console_socket.is_none() {
        opts.console_fd = Some(theirs.as_raw_fd());
    }
    let (dir, state) = crate::launch::create(&opts)?;
    drop(theirs);
    a.create.send_pidfd(&dir, &state)?;
    let terminal = state.process.as_ref().and_then(|p| p.terminal()) == Some(true);
    let master = if terminal && a.create.console_socket.is_none() {
        if let Err(e) = require_terminal() {
            let _ = container::destroy(&dir, &state);
            return Err(e);
        }
        Some(receive_fd(&ours)?)
    } else {
        None
    };
    if let Err(e) = crate::launch::start_created(&dir, &state) {
        let _ = container::destroy(&dir, &state);
        return Err(e);
    }
    crate::log::debug("run: started");
    drop(dir);
    let code = match master {
        Some(m) => wait::relay_until_exit(state.pid, &all, m),
        None => wait::forward_until_exit(state.pid, &all),
    };
    crate::log::debug(format!("run: container exited with {code}"));
    if !a.keep {
        match ContainerDir::open(&g.root, &state.id) {
            Ok(dir) => container::destroy(&dir, &state)?,
            Err(crate::error::Error::NotExist) => crate::log::warn(format!(
                "container {} was deleted by another command while run waited for it; its process ended with status {code}",
                state.id
            )),
            Err(e) => return Err(e),
        }
    }
    crate::log::debug("run: done");
    Ok(code)
}

/// A terminal container run in the foreground relays the caller's terminal: fail at once, as
/// runc does, when the caller has none (none of stdin, stdout and stderr is a terminal: a
/// script, CI, a service), rather than start a shell that nobody can reach.
fn require_terminal() -> Result<()> {
    // SAFETY: isatty only inspects the descriptors.
    if (0..3).any(|fd| unsafe { libc::isatty(fd) } == 1) {
        return Ok(());
    }
    Err(crate::error::Error::Other(
        "process.terminal is true, but run in the foreground has no terminal to relay (none of stdin, stdout and stderr is one); run it from a terminal, set process.terminal to false, or use --detach with --console-socket".into(),
    ))
}
