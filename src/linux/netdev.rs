//! `linux.netDevices` (config-linux.md "Network Devices"): move host network interfaces into the
//! container's network namespace, optionally renamed, keeping their permanent global addresses,
//! and set them up. Done by the runtime side once the init exists and before the container's
//! process runs.
//!
//! Everything that can be checked is checked before the first device moves (each device exists
//! on the host, no name conflict in the container's namespace). A create that fails after some
//! moved puts them back (name, addresses, up state), so it leaves nothing behind. A container
//! that was created is never touched again: on its end the kernel returns physical devices to
//! the initial namespace and destroys virtual ones, as the spec asks ("MUST NOT attempt to move
//! the interface out of the namespace before deletion").

use std::collections::HashMap;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use nix::errno::Errno;
use oci_spec::runtime::LinuxNetDevice;

use super::netlink::{Addr, Netlink};
use crate::error::{Context, Error, Result};

/// A device this create moved, with what it takes to put it back.
pub struct Moved {
    host_name: String,
    /// Its index in the container's namespace.
    index: i32,
    addrs: Vec<Addr>,
    was_up: bool,
}

fn field(name: &str) -> String {
    format!("linux.netDevices.{name}")
}

/// Check a netDevices entry's names (IFNAMSIZ, no '/', ':' or whitespace).
pub fn check_names(host: &str, dev: &LinuxNetDevice) -> Result<()> {
    for (path, n) in [(field(host), host), (format!("{}.name", field(host)), dev.name().as_deref().unwrap_or(host))] {
        let bad = n.is_empty() || n.len() > 15 || n == "." || n == ".." || n.chars().any(|c| c == '/' || c == ':' || c.is_whitespace());
        if bad {
            return Err(Error::config(path, format!("{n:?} is not a valid network device name (1-15 characters, no '/', ':' or spaces)")));
        }
    }
    Ok(())
}

/// Move `devices` into the network namespace of `pid`. On error, what was moved is back.
pub fn move_into(devices: &HashMap<String, LinuxNetDevice>, pid: i32) -> Result<MovedDevices> {
    let ns_path = format!("/proc/{pid}/ns/net");
    let same = |a: &str, b: &str| std::fs::metadata(a).ok().map(|m| m.ino()) == std::fs::metadata(b).ok().map(|m| m.ino());
    if same(&ns_path, "/proc/self/ns/net") {
        return Err(Error::config("linux.netDevices", "the container shares the runtime's network namespace: devices can only move into a network namespace of its own"));
    }
    let netns = super::open_fd(ns_path.as_str(), nix::fcntl::OFlag::O_RDONLY).ctx(|| format!("open {ns_path}"))?;
    let mut host = Netlink::open().ctx(|| "open a netlink socket in the host's network namespace".into())?;
    let mut inside = Netlink::open_in(netns.as_fd()).ctx(|| "open a netlink socket in the container's network namespace".into())?;
    let mut names: Vec<&String> = devices.keys().collect();
    names.sort();
    let mut plan: Vec<(String, String, super::netlink::Link)> = Vec::new();
    for name in names {
        let target = devices[name].name().clone().unwrap_or_else(|| name.clone());
        if let Some((other, _, _)) = plan.iter().find(|(_, t, _)| *t == target && !t.contains("%d")) {
            return Err(Error::config(format!("{}.name", field(name)), format!("{target:?} is also the name of {}", field(other))));
        }
        let link = host
            .link_by_name(name)
            .ctx(|| format!("{}: look up network device {name:?}", field(name)))?
            .ok_or_else(|| Error::config(field(name), format!("no network device {name:?} on the host")))?;
        let taken = !target.contains("%d")
            && inside.link_by_name(&target).ctx(|| format!("{}: look up {target:?} in the container", field(name)))?.is_some();
        if taken {
            return Err(Error::config(format!("{}.name", field(name)), format!("a network device {target:?} already exists in the container's network namespace")));
        }
        plan.push((name.clone(), target, link));
    }
    let mut moved = MovedDevices { netns, devices: Vec::new() };
    for (name, target, link) in plan {
        match move_one(&mut host, &mut inside, &moved.netns, &name, &target, &link) {
            Ok(m) => moved.devices.push(m),
            Err(e) => {
                move_back(&moved);
                return Err(e);
            }
        }
    }
    Ok(moved)
}

fn move_one(host: &mut Netlink, inside: &mut Netlink, netns: &OwnedFd, name: &str, target: &str, link: &super::netlink::Link) -> Result<Moved> {
    let what = |step: &str| format!("{}: {step} network device {name:?}", field(name));
    let addrs: Vec<Addr> = host.addresses(link.index).ctx(|| what("list the addresses of"))?.into_iter().filter(Addr::is_permanent_global).collect();
    let was_up = link.is_up();
    if let Err(e) = host.move_link(link.index, netns.as_fd(), target) {
        // The kernel moves first and renames after: a failed rename leaves the device inside.
        if let Ok(Some(l)) = inside.link_by_index(link.index) {
            if l.name == name {
                let _ = put_back(inside, &Moved { host_name: name.to_string(), index: l.index, addrs: addrs.clone(), was_up });
            }
        }
        return Err(Error::sys(format!("{} into the container as {target:?}", what("move")), e));
    }
    // The index is kept unless the container's namespace already uses it.
    let found = match inside.link_by_index(link.index) {
        Ok(Some(l)) if target.contains("%d") || l.name == target => Some(l),
        _ => inside.link_by_name(target).ok().flatten(),
    };
    let Some(now) = found else {
        return Err(Error::Other(format!("{}: moved as {target:?} but not found in the container's network namespace", field(name))));
    };
    let m = Moved { host_name: name.to_string(), index: now.index, addrs, was_up };
    let configure = (|| {
        for a in &m.addrs {
            inside.add_address(now.index, a).map_err(|e| (what("restore an address of"), e))?;
        }
        inside.set_up(now.index, true).map_err(|e| (what("set up"), e))
    })();
    if let Err((op, e)) = configure {
        let _ = put_back(inside, &m);
        return Err(Error::sys(op, e));
    }
    Ok(m)
}

/// Devices moved into a container, with its network namespace held open: a create that fails
/// puts them back through it even when the init has already died (its namespace, and every
/// device in it, would otherwise go with it).
pub struct MovedDevices {
    netns: std::os::fd::OwnedFd,
    devices: Vec<Moved>,
}

/// Put devices moved by a create that then failed back into the host's namespace.
pub fn move_back(moved: &MovedDevices) {
    if moved.devices.is_empty() {
        return;
    }
    let res = (|| -> std::result::Result<(), Errno> {
        let mut inside = Netlink::open_in(moved.netns.as_fd())?;
        for m in &moved.devices {
            put_back(&mut inside, m)?;
        }
        Ok(())
    })();
    if let Err(e) = res {
        crate::log::warn(format!("cleanup after failed create: move network devices back to the host: {e}"));
    }
}

fn put_back(inside: &mut Netlink, m: &Moved) -> std::result::Result<(), Errno> {
    let host_ns = super::open_fd("/proc/self/ns/net", nix::fcntl::OFlag::O_RDONLY)?;
    let _ = inside.set_up(m.index, false);
    inside.move_link(m.index, host_ns.as_fd(), &m.host_name)?;
    let mut host = Netlink::open()?;
    let Some(link) = host.link_by_name(&m.host_name)? else { return Err(Errno::ENODEV) };
    for a in &m.addrs {
        host.add_address(link.index, a)?;
    }
    if m.was_up {
        host.set_up(link.index, true)?;
    }
    Ok(())
}
