//! Kernel mechanisms, one concept per file. Everything here is called from the staged start in
//! `launch/`; nothing here knows about the CLI or the state directory.

pub mod bpf;
pub mod capabilities;
pub mod clone;
pub mod console;
pub mod cpu_affinity;
pub mod devices;
pub mod exe_swap;
pub mod exec;
pub mod host_root;
pub mod idmap;
pub mod late_io;
pub mod mounts;
pub mod namespaces;
pub mod procfs;
pub mod netdev;
pub mod netlink;
pub mod rlimits;
pub mod rootfs;
pub mod safe_path;
pub mod scheduling;
pub mod seal;
pub mod seccomp;
pub mod user;
pub mod userns_map;

use std::os::fd::{FromRawFd, OwnedFd};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

/// Parse a list of numbers and inclusive ranges, as CPU and NUMA node lists are written
/// ("0-3,7"), every number below `limit`. The error says which part is wrong.
pub fn parse_ranges(s: &str, limit: usize) -> std::result::Result<Vec<usize>, String> {
    let mut out = Vec::new();
    let num = |n: &str| n.trim().parse::<usize>().map_err(|_| format!("{n:?} is not a number"));
    for part in s.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (num(a)?, num(b)?),
            None => (num(part)?, num(part)?),
        };
        if lo > hi {
            return Err(format!("range {part:?} ends before it starts"));
        }
        if hi >= limit {
            return Err(format!("{hi} is beyond the {limit} this list can hold"));
        }
        out.extend(lo..=hi);
    }
    Ok(out)
}

/// mountinfo's lines as (mount point, filesystem type, superblock options), the fields hull
/// reads (mount points as written there, octal escapes kept).
pub fn mountinfo_entries(info: &str) -> impl Iterator<Item = (&str, &str, &str)> {
    info.lines().filter_map(|line| {
        let (pre, post) = line.split_once(" - ")?;
        let mut p = post.split(' ');
        Some((pre.split(' ').nth(4)?, p.next()?, p.nth(1).unwrap_or("")))
    })
}

/// The whole text of a /proc file (mountinfo, /proc/self/cgroup), read into room for 16 KB:
/// `fs::read_to_string` starts a file whose size reads as 0 with 32-byte reads and doubles.
pub fn read_proc_text(path: &str) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::with_capacity(16 * 1024);
    std::fs::File::from(open_fd(path, OFlag::O_RDONLY)?).read_to_string(&mut text)?;
    Ok(text)
}

/// openat(AT_FDCWD, path, flags | O_CLOEXEC) returning an owned descriptor (nix 0.29's `open`
/// returns a raw one). openat rather than musl's open(): that one makes the older open(2) call,
/// which a seccomp profile may refuse (`late_io`), and adds an fcntl(F_SETFD) after it.
pub fn open_fd<P: ?Sized + nix::NixPath>(path: &P, flags: OFlag) -> Result<OwnedFd, Errno> {
    let fd = nix::fcntl::openat(None, path, flags | OFlag::O_CLOEXEC, Mode::empty())?;
    // SAFETY: openat just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// True when the runtime runs in a user namespace that is not the initial one (its uid_map is
/// not the identity): as root of rootless podman's namespace, or under `unshare -r`. Its root
/// cannot make device nodes, and owns only what its namespace maps. Read once and kept, so the
/// init, a clone of the runtime that has asked already, needs no /proc lookup of its own: the
/// answer stays the runtime's namespace's (an init in a user namespace of the container's own
/// knows that from its config first, launch/init.rs).
pub fn runtime_in_user_namespace() -> bool {
    use std::sync::atomic::{AtomicU8, Ordering};
    /// 0: not read yet; 1: no; 2: yes.
    static ANSWER: AtomicU8 = AtomicU8::new(0);
    match ANSWER.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let yes = std::fs::read_to_string("/proc/self/uid_map")
                .is_ok_and(|m| m.split_whitespace().collect::<Vec<_>>() != ["0", "0", "4294967295"]);
            ANSWER.store(if yes { 2 } else { 1 }, Ordering::Relaxed);
            yes
        }
    }
}
