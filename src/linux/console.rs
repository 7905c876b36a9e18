//! Terminals: the console socket (CONTRACT.md §5) and the pty allocated inside the container.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::socket::{connect, sendmsg, socket, AddressFamily, ControlMessage, MsgFlags, SockFlag, SockType, UnixAddr};
use oci_spec::runtime::Box as ConsoleSize;

use crate::error::{Context, Error, Result};

const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

/// The console socket a process needs: connected when it has a terminal and a socket path; an
/// error (runc's wording, which clients know) for a terminal without a socket when nothing else
/// will take the pty (`relayed`: `run` in the foreground), or a socket without a terminal.
pub fn socket_for(terminal: bool, path: Option<&Path>, relayed: bool) -> Result<Option<OwnedFd>> {
    match (terminal, path) {
        (true, Some(p)) => connect_socket(p).map(Some),
        (true, None) if !relayed => {
            Err(Error::Usage("cannot allocate tty if runc will detach without setting console socket".into()))
        }
        (false, Some(_)) => Err(Error::Usage("cannot use console socket if runc will not detach or allocate tty".into())),
        _ => Ok(None),
    }
}

/// Connect to the caller's console socket.
pub fn connect_socket(path: &Path) -> Result<OwnedFd> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io("console socket", path, e))?;
    if !std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()) {
        return Err(Error::Other(format!("console socket {path:?} is not a unix socket")));
    }
    connect_unix(path)
}

/// Connect a unix stream socket to `path`. Paths longer than a sockaddr_un holds are reached
/// through an O_PATH descriptor of their directory.
pub fn connect_unix(path: &Path) -> Result<OwnedFd> {
    let sock = socket(AddressFamily::Unix, SockType::Stream, SockFlag::SOCK_CLOEXEC, None)
        .ctx(|| "create console socket".into())?;
    let _dir_fd;
    let addr = if path.as_os_str().len() < 100 {
        UnixAddr::new(path)
    } else {
        let dir = path.parent().unwrap_or(Path::new("/"));
        let fd = super::open_fd(dir, OFlag::O_PATH | OFlag::O_DIRECTORY).ctx(|| format!("open {dir:?}"))?;
        let name = path.file_name().map(|n| n.as_bytes()).unwrap_or_default();
        let short = format!("/proc/self/fd/{}/{}", fd.as_raw_fd(), String::from_utf8_lossy(name));
        _dir_fd = fd;
        UnixAddr::new(short.as_str())
    }
    .ctx(|| format!("console socket address {path:?}"))?;
    connect(sock.as_raw_fd(), &addr).ctx(|| format!("connect to {path:?}"))?;
    Ok(sock)
}

/// /dev/console as the mount target for the init's pty: a regular file or a character device,
/// created when missing, never followed if it is a symlink (a symlink planted there would move
/// the bind mount onto whatever it names).
pub fn open_console_target() -> Result<OwnedFd> {
    let path = "/dev/console";
    // SAFETY: the path is a NUL-terminated literal; O_CREAT|O_EXCL|O_NOFOLLOW never follows a
    // symlink and fails if anything exists there.
    let created = unsafe { libc::open(c"/dev/console".as_ptr(), libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_WRONLY, 0o600) };
    if created >= 0 {
        let _ = nix::unistd::close(created);
    } else if Errno::last() != Errno::EEXIST {
        return Err(Error::sys(format!("create {path}"), Errno::last()));
    }
    let fd = super::open_fd(path, OFlag::O_PATH | OFlag::O_NOFOLLOW).ctx(|| format!("open {path}"))?;
    let st = nix::sys::stat::fstat(fd.as_raw_fd()).ctx(|| format!("stat {path}"))?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFREG | libc::S_IFCHR => Ok(fd),
        _ => Err(Error::Other(format!("{path} is not a regular file or a character device (a symlink?); refusing to mount the console over it"))),
    }
}

/// A pty allocated from the container's devpts: the master goes to the caller, the slave
/// becomes the process's terminal.
pub struct Pty {
    pub master: OwnedFd,
    pub slave: OwnedFd,
    pub name: String,
}

/// Allocate a pty from `/dev/ptmx` of the current root (call after pivot_root or setns) and check
/// that it really belongs to a devpts filesystem.
pub fn open_pty(size: Option<ConsoleSize>) -> Result<Pty> {
    let master = super::open_fd("/dev/ptmx", OFlag::O_RDWR | OFlag::O_NOCTTY).ctx(|| "open /dev/ptmx".into())?;
    let st = nix::sys::statfs::fstatfs(&master).ctx(|| "statfs /dev/ptmx".into())?;
    if st.filesystem_type().0 as i64 != DEVPTS_SUPER_MAGIC {
        return Err(Error::Other("/dev/ptmx is not on a devpts filesystem".into()));
    }
    let fd = master.as_raw_fd();
    let mut unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int through the pointer, which is valid for the call.
    if unsafe { libc::ioctl(fd, libc::TIOCSPTLCK, &mut unlock) } < 0 {
        return Err(Error::sys("unlock pty", Errno::last()));
    }
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes an unsigned int through the pointer.
    if unsafe { libc::ioctl(fd, libc::TIOCGPTN, &mut n) } < 0 {
        return Err(Error::sys("get pty number", Errno::last()));
    }
    // SAFETY: TIOCGPTPEER opens the slave of this master and returns a new fd (or -1).
    let s = unsafe { libc::ioctl(fd, libc::TIOCGPTPEER, libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if s < 0 {
        return Err(Error::sys("open pty slave", Errno::last()));
    }
    // SAFETY: s is a new descriptor owned by nobody else.
    let slave = unsafe { OwnedFd::from_raw_fd(s) };
    if let Some(sz) = size {
        let ws = libc::winsize { ws_row: sz.height() as u16, ws_col: sz.width() as u16, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCSWINSZ reads a winsize through the pointer.
        if unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) } < 0 {
            return Err(Error::sys("set console size", Errno::last()));
        }
    }
    Ok(Pty { master, slave, name: format!("/dev/pts/{n}") })
}

/// Send the pty master over the console socket: one message, the pty's name as payload and
/// exactly one SCM_RIGHTS fd.
pub fn send_master(sock: RawFd, pty: &Pty) -> Result<()> {
    send_fd(sock, &pty.name, pty.master.as_raw_fd()).ctx(|| "send pty master over the console socket".into())
}

/// One message: `name` as payload, `fd` as the only SCM_RIGHTS descriptor.
pub fn send_fd(sock: RawFd, name: &str, fd: RawFd) -> std::result::Result<(), Errno> {
    let fds = [fd];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [std::io::IoSlice::new(name.as_bytes())];
    sendmsg::<()>(sock, &iov, &cmsg, MsgFlags::empty(), None).map(|_| ())
}

/// `--pidfd-socket`: send a pidfd of `pid` over the socket at `path`, framed as the console
/// socket's message.
pub fn send_pidfd(path: &Path, pid: i32) -> Result<()> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Error::sys(format!("pidfd_open {pid}"), Errno::last()));
    }
    // SAFETY: fd is a new descriptor owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let sock = connect_unix(path)?;
    send_fd(sock.as_raw_fd(), "pidfd", fd.as_raw_fd()).ctx(|| format!("send pidfd over {path:?}"))
}

/// Make the slave the controlling terminal and stdio of the calling process (a session leader).
pub fn become_terminal(slave: &OwnedFd, uid: u32, gid: u32) -> Result<()> {
    let fd = slave.as_raw_fd();
    // The process's user owns its terminal.
    // SAFETY: fchown on a descriptor we own.
    if unsafe { libc::fchown(fd, uid, gid) } < 0 {
        return Err(Error::sys("chown pty slave", Errno::last()));
    }
    for target in 0..3 {
        // SAFETY: dup2 onto stdio of the current process.
        if unsafe { libc::dup2(fd, target) } < 0 {
            return Err(Error::sys("dup pty slave onto stdio", Errno::last()));
        }
    }
    // SAFETY: TIOCSCTTY with arg 0 on our own fd: no terminal is stolen.
    if unsafe { libc::ioctl(0, libc::TIOCSCTTY, 0) } < 0 {
        return Err(Error::sys("make pty the controlling terminal", Errno::last()));
    }
    Ok(())
}
