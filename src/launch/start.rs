//! `start`: open the exec fifo, which releases the blocked init into execve.

use std::io::Read;
use std::os::fd::AsFd;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::container::{ContainerDir, State, Status};
use crate::error::{Context, Error, Result};
use crate::hooks;

/// Release a created container. Fails unless the container is `created`.
pub fn start(dir: &ContainerDir, state: &State) -> Result<()> {
    match dir.status(state) {
        Status::Created => release(dir, state),
        Status::Stopped => Err(Error::WrongState("cannot start a container that has stopped".into())),
        Status::Running | Status::Paused => Err(Error::WrongState("cannot start an already running container".into())),
        Status::Creating => Err(Error::WrongState("cannot start a container whose create did not finish".into())),
    }
}

/// Release the container `run` has just created and still holds locked: no status to derive
/// (an init that died meanwhile is found while `release` waits for it).
pub fn start_created(dir: &ContainerDir, state: &State) -> Result<()> {
    release(dir, state)
}

fn release(dir: &ContainerDir, state: &State) -> Result<()> {
    // sd_notify: listen before the process can run, so its READY=1 cannot be missed.
    let notify = match &state.notify_socket {
        Some(_) => Some(bind_notify(dir)?),
        None => None,
    };
    let path = dir.fifo_path();
    // Non-blocking open: a reader may open a fifo without a writer; then wait for the init's
    // byte while checking that the init is still alive, so a dead init cannot hang `start`.
    // (`run` opened it before the init existed.)
    let fd = match dir.fifo_reader.borrow_mut().take() {
        Some(fd) => fd,
        None => crate::linux::open_fd(&path, OFlag::O_RDONLY | OFlag::O_NONBLOCK).ctx(|| format!("open exec fifo {path:?}"))?,
    };
    let mut file = std::fs::File::from(fd);
    loop {
        let mut fds = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(100u16)) {
            Ok(0) | Err(Errno::EINTR) => {
                if !crate::container::status::init_alive(state) {
                    return Err(Error::WrongState("cannot start a container that has stopped".into()));
                }
                continue;
            }
            Ok(_) => break,
            Err(e) => return Err(Error::sys("poll exec fifo", e)),
        }
    }
    let mut buf = [0u8; 4096];
    let n = file.read(&mut buf).map_err(|e| Error::io("read", &path, e))?;
    if n == 0 {
        return Err(Error::WrongState("cannot start a container that has stopped".into()));
    }
    std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
    // A failing startContainer hook (the init wrote its error instead of "0" and exited) or
    // poststart hook: runtime.md#lifecycle says generate an error, stop the container and go on
    // with its destruction (steps 12-13, poststop hooks included).
    let failed = if buf[0] != b'0' {
        Some(Error::Init(String::from_utf8_lossy(&buf[1..n]).into_owned()))
    } else if !hooks::Phase::Poststart.of(&state.hooks).is_empty() {
        let json = state.oci_json("running", state.pid).to_string();
        hooks::run(&state.hooks, hooks::Phase::Poststart, &json).err()
    } else {
        None
    };
    if let Some(e) = failed {
        if let Err(d) = crate::container::destroy(dir, state) {
            crate::log::warn(format!("destroy after a failed start: {d}"));
        }
        return Err(e);
    }
    if let (Some(sock), Some(host)) = (notify, &state.notify_socket) {
        relay_ready(&sock, host, state)?;
    }
    Ok(())
}

/// Bind the container's notify socket in the state dir (seen in the container at
/// /run/notify/notify.sock), writable by any container user.
fn bind_notify(dir: &ContainerDir) -> Result<std::os::unix::net::UnixDatagram> {
    let path = dir.path.join(crate::container::NOTIFY_DIR).join("notify.sock");
    let _ = std::fs::remove_file(&path);
    let sock = std::os::unix::net::UnixDatagram::bind(&path).map_err(|e| Error::io("bind notify socket", &path, e))?;
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o777))
        .map_err(|e| Error::io("chmod", &path, e))?;
    sock.set_read_timeout(Some(std::time::Duration::from_millis(100)))
        .map_err(|e| Error::io("configure notify socket", &path, e))?;
    Ok(sock)
}

/// Wait for the container's READY=1 and pass it on to the caller's NOTIFY_SOCKET with the init's
/// pid as MAINPID, as runc does; `start` returns then (or when the container stops first).
fn relay_ready(sock: &std::os::unix::net::UnixDatagram, host: &std::path::Path, state: &State) -> Result<()> {
    let mut buf = [0u8; 4096];
    loop {
        match sock.recv(&mut buf) {
            Ok(n) => {
                let msg = String::from_utf8_lossy(&buf[..n]);
                if msg.lines().any(|l| l.trim() == "READY=1") {
                    let out = format!("READY=1\nMAINPID={}", state.pid);
                    let client = std::os::unix::net::UnixDatagram::unbound()
                        .map_err(|e| Error::Other(format!("notify relay socket: {e}")))?;
                    client.send_to(out.as_bytes(), host).map_err(|e| Error::io("relay READY=1 to", host, e))?;
                    return Ok(());
                }
            }
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut | std::io::ErrorKind::Interrupted) => {
                if !crate::container::status::init_alive(state) {
                    return Ok(());
                }
            }
            Err(e) => return Err(Error::Other(format!("notify socket: {e}"))),
        }
    }
}
