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

/// `run` of a terminal container in the foreground: relay the caller's terminal to the pty
/// master (raw mode, window size, SIGWINCH) while forwarding signals, until `pid` exits.
pub fn relay_until_exit(pid: i32, set: &SigSet, master: std::os::fd::OwnedFd) -> i32 {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    use nix::sys::termios::{cfmakeraw, tcgetattr, tcsetattr, SetArg};
    use std::io::Write;
    use std::os::fd::{AsFd, AsRawFd};

    let Ok(sfd) = SignalFd::with_flags(set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK) else {
        return forward_until_exit(pid, set);
    };
    let stdin = std::io::stdin();
    let saved = tcgetattr(stdin.as_fd()).ok();
    if let Some(t) = &saved {
        let mut raw = t.clone();
        cfmakeraw(&mut raw);
        let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw);
    }
    let resize = || {
        let mut ws: libc::winsize = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCGWINSZ/TIOCSWINSZ read and write a winsize through a valid pointer.
        unsafe {
            if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 {
                libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
            }
        }
    };
    resize();
    let mut stdin_open = true;
    let mut buf = [0u8; 8192];
    let mut out = std::io::stdout();
    let code = 'outer: loop {
        let mut fds = vec![PollFd::new(master.as_fd(), PollFlags::POLLIN), PollFd::new(sfd.as_fd(), PollFlags::POLLIN)];
        if stdin_open {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
        }
        if let Err(e) = poll(&mut fds, PollTimeout::NONE) {
            if e == Errno::EINTR {
                continue;
            }
            break forward_until_exit(pid, set);
        }
        let ready = |i: usize| fds.get(i).and_then(|f| f.revents()).is_some_and(|r| !r.is_empty());
        let (m_ready, s_ready, i_ready) = (ready(0), ready(1), ready(2));
        drop(fds);
        if m_ready {
            match nix::unistd::read(master.as_raw_fd(), &mut buf) {
                Ok(n) if n > 0 => {
                    let _ = out.write_all(&buf[..n]);
                    let _ = out.flush();
                }
                _ => {}
            }
        }
        if i_ready {
            match nix::unistd::read(0, &mut buf) {
                Ok(0) | Err(_) => stdin_open = false,
                Ok(n) => {
                    let _ = nix::unistd::write(master.as_fd(), &buf[..n]);
                }
            }
        }
        if s_ready {
            while let Ok(Some(info)) = sfd.read_signal() {
                match Signal::try_from(info.ssi_signo as i32) {
                    Ok(Signal::SIGCHLD) => {
                        if let Some(code) = reap(pid) {
                            // Drain what the container printed last, without blocking.
                            // SAFETY: fcntl on a descriptor we own.
                            unsafe { libc::fcntl(master.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
                            while let Ok(n @ 1..) = nix::unistd::read(master.as_raw_fd(), &mut buf) {
                                let _ = out.write_all(&buf[..n]);
                            }
                            let _ = out.flush();
                            break 'outer code;
                        }
                    }
                    Ok(Signal::SIGWINCH) => resize(),
                    Ok(sig) => {
                        let _ = kill(Pid::from_raw(pid), sig);
                    }
                    Err(_) => {}
                }
            }
        }
    };
    if let Some(t) = &saved {
        let _ = tcsetattr(stdin.as_fd(), SetArg::TCSANOW, t);
    }
    code
}
