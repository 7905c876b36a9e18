//! The channel between the runtime side and the container's init during setup: a
//! SOCK_SEQPACKET socketpair, so each message arrives whole.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use nix::sys::socket::{send, socketpair, AddressFamily, MsgFlags, SockFlag, SockType};

use crate::error::{Context, Error, Result};

#[derive(Debug, PartialEq, Eq)]
pub enum Msg {
    /// Runtime → init: id maps written; go on with setup.
    Go,
    /// Runtime → init, before `Go`: the CPUs the init was born allowed on, which it takes back
    /// at once (`cpu_affinity::steer_off_this_cpu` narrowed them to get it started elsewhere).
    Affinity(Vec<u16>),
    /// Runtime → init: the cgroup exists and init is in it (or joins it on the `CgroupTasks`
    /// sent before).
    Placed,
    /// Runtime → init: the cgroup's resources, device rules and oom_score_adj are applied.
    Applied,
    /// Intermediate → runtime: the pid of init (when namespaces are joined by path).
    Pid(i32),
    /// Init → runtime: mounts are done; run the prestart and createRuntime hooks.
    Hooks,
    /// Runtime → init: those hooks ran.
    HooksDone,
    /// Init → runtime: fully set up; about to block on the exec fifo.
    Ready,
    /// Process → runtime: the seccomp user-notification listener (the fd travels with
    /// SCM_RIGHTS; on receipt this is the new descriptor in the receiving process).
    SeccompFd(RawFd),
    /// Runtime → init, before `Go`: the detached idmapped mount for `mounts[index]` (SCM_RIGHTS,
    /// as `SeccompFd`).
    MountFd(u32, RawFd),
    /// Runtime → init, before `Placed` (cgroup v1): the `tasks` file of one hierarchy's
    /// container cgroup (SCM_RIGHTS, as `SeccompFd`) with its path for errors. The init writes
    /// "0" to it: a thread that moves itself skips the kernel's global threadgroup lock, whose
    /// RCU grace period made every migration from outside take 5-15 ms.
    CgroupTasks(RawFd, String),
    /// Runtime → init, before `Placed` (cgroup v1 or hybrid, with a cgroup mount): the host's
    /// cgroup hierarchies (`rootfs::Hierarchy`), read from mountinfo here, off the init's path.
    Hierarchies(Vec<crate::linux::rootfs::Hierarchy>),
    /// Init → runtime: setup failed with this message.
    Error(String),
}

pub struct Channel {
    fd: OwnedFd,
    /// Where messages are received: grown to the longest message so far (at most `MAX_MESSAGE`),
    /// not made for each one. A buffer of the largest size, zeroed up front, cost each side about
    /// 16 freshly faulted pages for messages that are mostly a byte long.
    buf: std::cell::RefCell<Vec<u8>>,
}

const MAX_MESSAGE: usize = 65536;

impl Channel {
    pub fn pair() -> Result<(Channel, Channel)> {
        let (a, b) = socketpair(AddressFamily::Unix, SockType::SeqPacket, None, SockFlag::SOCK_CLOEXEC)
            .ctx(|| "socketpair for init sync".into())?;
        let end = |fd| Channel { fd, buf: Default::default() };
        Ok((end(a), end(b)))
    }

    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, m: &Msg) -> Result<()> {
        let with_fd = match m {
            Msg::SeccompFd(fd) => Some((vec![b'S'], *fd, "the seccomp listener")),
            Msg::MountFd(i, fd) => Some(([&[b'M'][..], &i.to_le_bytes()].concat(), *fd, "an idmapped mount")),
            Msg::CgroupTasks(fd, path) => Some(([&[b'T'][..], path.as_bytes()].concat(), *fd, "a cgroup tasks file")),
            _ => None,
        };
        if let Some((buf, fd, what)) = with_fd {
            let fds = [fd];
            let cmsg = [nix::sys::socket::ControlMessage::ScmRights(&fds)];
            let iov = [std::io::IoSlice::new(&buf)];
            nix::sys::socket::sendmsg::<()>(self.fd.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)
                .ctx(|| format!("send {what} on the init sync channel"))?;
            return Ok(());
        }
        let buf = match m {
            Msg::Go => vec![b'G'],
            Msg::Placed => vec![b'C'],
            Msg::Applied => vec![b'A'],
            Msg::Pid(p) => [&[b'P'][..], &p.to_le_bytes()].concat(),
            Msg::Affinity(cpus) => std::iter::once(b'F').chain(cpus.iter().flat_map(|c| c.to_le_bytes())).collect(),
            Msg::Ready => vec![b'R'],
            Msg::Hooks => vec![b'H'],
            Msg::HooksDone => vec![b'D'],
            Msg::Error(s) => [&[b'E'][..], s.as_bytes()].concat(),
            Msg::Hierarchies(list) => {
                let mut b = vec![b'Y'];
                for h in list {
                    b.extend(format!("{}\t{}\t{}\n", h.name, h.fstype, h.options).bytes());
                }
                b
            }
            Msg::SeccompFd(_) | Msg::MountFd(..) | Msg::CgroupTasks(..) => unreachable!("sent above"),
        };
        loop {
            match send(self.fd.as_raw_fd(), &buf, MsgFlags::MSG_NOSIGNAL) {
                Ok(_) => return Ok(()),
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("send on init sync channel", e)),
            }
        }
    }

    /// Receive one message; `None` when the other side closed the channel.
    pub fn recv(&self) -> Result<Option<Msg>> {
        self.recv_flags(MsgFlags::empty())
    }

    /// A message that has already arrived, without waiting.
    pub fn try_recv(&self) -> Option<Msg> {
        self.recv_flags(MsgFlags::MSG_DONTWAIT).ok().flatten()
    }

    fn recv_flags(&self, flags: MsgFlags) -> Result<Option<Msg>> {
        // The next message's length first (MSG_TRUNC makes a peek report it whole); this is the
        // call that waits for it. A length of 0 is the other side's close: every message has a tag.
        let len = loop {
            match nix::sys::socket::recv(self.fd.as_raw_fd(), &mut [0u8; 1], flags | MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC) {
                Ok(n) => break n,
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("receive on init sync channel", e)),
            }
        };
        if len == 0 {
            return Ok(None);
        }
        let mut buf = self.buf.borrow_mut();
        if buf.len() < len.min(MAX_MESSAGE) {
            buf.resize(len.min(MAX_MESSAGE), 0);
        }
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let (n, fd) = loop {
            let mut iov = [std::io::IoSliceMut::new(&mut buf)];
            let flags = flags | MsgFlags::MSG_CMSG_CLOEXEC;
            match nix::sys::socket::recvmsg::<()>(self.fd.as_raw_fd(), &mut iov, Some(&mut space), flags) {
                Ok(msg) => {
                    let fd = msg.cmsgs().ok().into_iter().flatten().find_map(|c| match c {
                        nix::sys::socket::ControlMessageOwned::ScmRights(fds) => fds.first().copied(),
                        _ => None,
                    });
                    break (msg.bytes, fd);
                }
                Err(Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("receive on init sync channel", e)),
            }
        };
        if n == 0 {
            return Ok(None);
        }
        let body = &buf[1..n];
        Ok(Some(match buf[0] {
            b'G' => Msg::Go,
            b'C' => Msg::Placed,
            b'A' => Msg::Applied,
            b'R' => Msg::Ready,
            b'H' => Msg::Hooks,
            b'D' => Msg::HooksDone,
            b'P' if body.len() == 4 => Msg::Pid(i32::from_le_bytes([body[0], body[1], body[2], body[3]])),
            b'F' if body.len() % 2 == 0 => Msg::Affinity(body.chunks(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect()),
            b'E' => Msg::Error(String::from_utf8_lossy(body).into_owned()),
            b'Y' => Msg::Hierarchies(
                String::from_utf8_lossy(body)
                    .lines()
                    .filter_map(|l| {
                        let mut f = l.splitn(3, '\t');
                        let (name, fstype, options) = (f.next()?, f.next()?, f.next()?);
                        Some(crate::linux::rootfs::Hierarchy { name: name.into(), fstype: fstype.into(), options: options.into() })
                    })
                    .collect(),
            ),
            b'S' if fd.is_some() => Msg::SeccompFd(fd.unwrap_or(-1)),
            b'M' if fd.is_some() && body.len() == 4 => {
                Msg::MountFd(u32::from_le_bytes([body[0], body[1], body[2], body[3]]), fd.unwrap_or(-1))
            }
            b'T' if fd.is_some() => Msg::CgroupTasks(fd.unwrap_or(-1), String::from_utf8_lossy(body).into_owned()),
            t => return Err(Error::Other(format!("init sync channel: unexpected message tag {t}"))),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::{Channel, Msg};

    #[test]
    fn messages_arrive_whole_and_the_buffer_grows_only_to_the_longest() {
        let (a, b) = Channel::pair().unwrap();
        assert_eq!(b.try_recv(), None, "nothing sent yet");
        a.send(&Msg::Go).unwrap();
        assert_eq!(b.recv().unwrap(), Some(Msg::Go));
        assert_eq!(b.buf.borrow().len(), 1, "a one-byte message needs a one-byte buffer");
        let long = "x".repeat(10_000);
        a.send(&Msg::Error(long.clone())).unwrap();
        a.send(&Msg::Pid(42)).unwrap();
        assert_eq!(b.recv().unwrap(), Some(Msg::Error(long)));
        assert_eq!(b.recv().unwrap(), Some(Msg::Pid(42)), "the shorter message after the longer one");
        assert_eq!(b.buf.borrow().len(), 10_001);
        drop(a);
        assert_eq!(b.recv().unwrap(), None, "the other side's close");
    }
}
