//! A minimal rtnetlink client over a raw NETLINK_ROUTE socket: look links up, move and rename
//! them into another network namespace, set them up, list and add addresses. Only what
//! `netdev` needs; messages are built and parsed by hand (netlink(7), rtnetlink(7)).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use nix::errno::Errno;
use nix::sched::{setns, CloneFlags};
use nix::sys::socket::{bind, recv, send, socket, AddressFamily, MsgFlags, NetlinkAddr, SockFlag, SockProtocol, SockType};

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_ACK: u16 = 0x4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_EXCL: u16 = 0x200;
const NLM_F_CREATE: u16 = 0x400;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;
const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;
const IFA_BROADCAST: u16 = 4;
const IFA_FLAGS: u16 = 8;
const IFA_F_PERMANENT: u32 = 0x80;
const RT_SCOPE_UNIVERSE: u8 = 0;
const IFF_UP: u32 = 0x1;
const HDR: usize = 16;

/// An address of a link as RTM_GETADDR reports it (the attributes needed to add it again).
#[derive(Debug, Clone)]
pub struct Addr {
    pub family: u8,
    pub prefixlen: u8,
    pub scope: u8,
    pub flags: u32,
    attrs: Vec<(u16, Vec<u8>)>,
}

impl Addr {
    /// A permanent address of global scope (the ones netDevices must keep).
    pub fn is_permanent_global(&self) -> bool {
        self.flags & IFA_F_PERMANENT != 0 && self.scope == RT_SCOPE_UNIVERSE
    }
}

/// A link: its index, name and IFF_* flags.
#[derive(Debug, Clone)]
pub struct Link {
    pub index: i32,
    pub name: String,
    pub flags: u32,
}

impl Link {
    pub fn is_up(&self) -> bool {
        self.flags & IFF_UP != 0
    }
}

pub struct Netlink {
    fd: OwnedFd,
    seq: u32,
}

fn attr(buf: &mut Vec<u8>, typ: u16, data: &[u8]) {
    let len = 4 + data.len();
    buf.extend_from_slice(&(len as u16).to_ne_bytes());
    buf.extend_from_slice(&typ.to_ne_bytes());
    buf.extend_from_slice(data);
    buf.resize(buf.len() + (4 - len % 4) % 4, 0);
}

fn name_attr(name: &str) -> Vec<u8> {
    let mut v = name.as_bytes().to_vec();
    v.push(0);
    v
}

/// The (type, data) attributes in `b`.
fn attrs(mut b: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let typ = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((typ, b[4..len].to_vec()));
        b = &b[((len + 3) & !3).min(b.len())..];
    }
    out
}

fn ifinfomsg(index: i32, flags: u32, change: u32) -> Vec<u8> {
    let mut v = vec![0u8; 4]; // family, pad, type
    v.extend_from_slice(&index.to_ne_bytes());
    v.extend_from_slice(&flags.to_ne_bytes());
    v.extend_from_slice(&change.to_ne_bytes());
    v
}

fn parse_link(p: &[u8]) -> Option<Link> {
    if p.len() < 16 {
        return None;
    }
    let index = i32::from_ne_bytes([p[4], p[5], p[6], p[7]]);
    let flags = u32::from_ne_bytes([p[8], p[9], p[10], p[11]]);
    let name = attrs(&p[16..]).into_iter().find(|(t, _)| *t == IFLA_IFNAME).map(|(_, d)| {
        String::from_utf8_lossy(d.split(|&c| c == 0).next().unwrap_or(&[])).into_owned()
    })?;
    Some(Link { index, name, flags })
}

impl Netlink {
    /// A NETLINK_ROUTE socket in the caller's network namespace.
    pub fn open() -> Result<Netlink, Errno> {
        let fd = socket(AddressFamily::Netlink, SockType::Raw, SockFlag::SOCK_CLOEXEC, SockProtocol::NetlinkRoute)?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, 0))?;
        Ok(Netlink { fd, seq: 0 })
    }

    /// A socket in the network namespace `netns`: a socket stays bound to the namespace it was
    /// created in, so this enters `netns` only for the socket() call (hull is single-threaded).
    pub fn open_in(netns: BorrowedFd) -> Result<Netlink, Errno> {
        let own = super::open_fd("/proc/thread-self/ns/net", nix::fcntl::OFlag::O_RDONLY)?;
        setns(netns, CloneFlags::CLONE_NEWNET)?;
        let res = Netlink::open();
        // Failing to come back would leave the runtime in the container's namespace.
        setns(own.as_fd(), CloneFlags::CLONE_NEWNET)?;
        res
    }

    /// Send one request and collect the payloads of its answers, up to the ACK (or DONE for a
    /// dump). An error answer is returned as its errno.
    fn request(&mut self, typ: u16, flags: u16, body: &[u8]) -> Result<Vec<(u16, Vec<u8>)>, Errno> {
        self.seq = self.seq.wrapping_add(1);
        let dump = flags & NLM_F_DUMP == NLM_F_DUMP;
        let flags = NLM_F_REQUEST | flags | if dump { 0 } else { NLM_F_ACK };
        let mut msg = Vec::with_capacity(HDR + body.len());
        msg.extend_from_slice(&((HDR + body.len()) as u32).to_ne_bytes());
        msg.extend_from_slice(&typ.to_ne_bytes());
        msg.extend_from_slice(&flags.to_ne_bytes());
        msg.extend_from_slice(&self.seq.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(body);
        send(self.fd.as_raw_fd(), &msg, MsgFlags::empty())?;
        let mut out = Vec::new();
        let mut buf = vec![0u8; 65536];
        loop {
            let n = recv(self.fd.as_raw_fd(), &mut buf, MsgFlags::empty())?;
            let mut b = &buf[..n];
            while b.len() >= HDR {
                let len = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as usize;
                let mtype = u16::from_ne_bytes([b[4], b[5]]);
                let seq = u32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
                if len < HDR || len > b.len() {
                    return Err(Errno::EBADMSG);
                }
                let payload = &b[HDR..len];
                b = &b[((len + 3) & !3).min(b.len())..];
                if seq != self.seq {
                    continue;
                }
                match mtype {
                    NLMSG_DONE => return Ok(out),
                    NLMSG_ERROR => {
                        let code = payload.get(..4).map(|e| i32::from_ne_bytes([e[0], e[1], e[2], e[3]])).unwrap_or(-libc::EBADMSG);
                        return if code == 0 { Ok(out) } else { Err(Errno::from_raw(-code)) };
                    }
                    t => out.push((t, payload.to_vec())),
                }
            }
        }
    }

    /// The link called `name`, if there is one.
    pub fn link_by_name(&mut self, name: &str) -> Result<Option<Link>, Errno> {
        let mut body = ifinfomsg(0, 0, 0);
        attr(&mut body, IFLA_IFNAME, &name_attr(name));
        match self.request(RTM_GETLINK, 0, &body) {
            Ok(v) => Ok(v.iter().find_map(|(_, p)| parse_link(p))),
            Err(Errno::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The link with index `index`, if there is one.
    pub fn link_by_index(&mut self, index: i32) -> Result<Option<Link>, Errno> {
        match self.request(RTM_GETLINK, 0, &ifinfomsg(index, 0, 0)) {
            Ok(v) => Ok(v.iter().find_map(|(_, p)| parse_link(p))),
            Err(Errno::ENODEV) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Move link `index` into the network namespace `netns`, renamed to `name` (a name with
    /// `%d` lets the kernel pick a free one).
    pub fn move_link(&mut self, index: i32, netns: BorrowedFd, name: &str) -> Result<(), Errno> {
        let mut body = ifinfomsg(index, 0, 0);
        attr(&mut body, IFLA_NET_NS_FD, &(netns.as_raw_fd() as u32).to_ne_bytes());
        attr(&mut body, IFLA_IFNAME, &name_attr(name));
        self.request(RTM_NEWLINK, 0, &body).map(|_| ())
    }

    /// Set IFF_UP on link `index` (or clear it).
    pub fn set_up(&mut self, index: i32, up: bool) -> Result<(), Errno> {
        let body = ifinfomsg(index, if up { IFF_UP } else { 0 }, IFF_UP);
        self.request(RTM_NEWLINK, 0, &body).map(|_| ())
    }

    /// Every address of link `index`.
    pub fn addresses(&mut self, index: i32) -> Result<Vec<Addr>, Errno> {
        let body = [0u8; 8];
        let mut out = Vec::new();
        for (t, p) in self.request(RTM_GETADDR, NLM_F_DUMP, &body)? {
            if t != RTM_NEWADDR || p.len() < 8 || u32::from_ne_bytes([p[4], p[5], p[6], p[7]]) as i32 != index {
                continue;
            }
            let all = attrs(&p[8..]);
            let flags = all
                .iter()
                .find(|(t, d)| *t == IFA_FLAGS && d.len() == 4)
                .map(|(_, d)| u32::from_ne_bytes([d[0], d[1], d[2], d[3]]))
                .unwrap_or(p[2] as u32);
            let keep = all.into_iter().filter(|(t, _)| matches!(*t, IFA_ADDRESS | IFA_LOCAL | IFA_BROADCAST)).collect();
            out.push(Addr { family: p[0], prefixlen: p[1], scope: p[3], flags, attrs: keep });
        }
        Ok(out)
    }

    /// Add `addr` to link `index` (an address it already has is not an error).
    pub fn add_address(&mut self, index: i32, addr: &Addr) -> Result<(), Errno> {
        let mut body = vec![addr.family, addr.prefixlen, 0, addr.scope];
        body.extend_from_slice(&(index as u32).to_ne_bytes());
        for (t, d) in &addr.attrs {
            attr(&mut body, *t, d);
        }
        match self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &body) {
            Err(Errno::EEXIST) => Ok(()),
            other => other.map(|_| ()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_parsed_back() {
        let mut b = Vec::new();
        attr(&mut b, IFLA_IFNAME, &name_attr("eth0"));
        attr(&mut b, IFLA_NET_NS_FD, &7u32.to_ne_bytes());
        assert_eq!(b.len() % 4, 0);
        let a = attrs(&b);
        assert_eq!(a, vec![(IFLA_IFNAME, b"eth0\0".to_vec()), (IFLA_NET_NS_FD, 7u32.to_ne_bytes().to_vec())]);
    }

    #[test]
    fn loopback_is_found_by_name_and_index() {
        let Ok(mut nl) = Netlink::open() else { return };
        let lo = nl.link_by_name("lo").unwrap().expect("lo");
        assert_eq!(lo.name, "lo");
        assert_eq!(nl.link_by_index(lo.index).unwrap().map(|l| l.name), Some("lo".to_string()));
        assert!(nl.link_by_name("hull-no-such0").unwrap().is_none());
    }
}
