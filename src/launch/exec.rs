//! `exec`: start another process in a running container. A short-lived helper joins the
//! container's namespaces and clones the process with CLONE_PARENT, so it is a child of `exec`
//! (and of the caller's subreaper once a detached `exec` exits), exactly like an init.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sched::{setns, CloneFlags};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxSeccomp, Process};

use super::process;
use super::sync::{Channel, Msg};
use crate::container::{write_atomic, ContainerDir, Status};
use crate::error::{Context, Error, Result};
use crate::linux::clone::fork_with_flags;
use crate::linux::console;
use crate::linux::cpu_affinity::ExecAffinity;

pub struct ExecOpts<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub process: Process,
    pub detach: bool,
    pub pid_file: Option<&'a Path>,
    pub preserve_fds: u32,
    pub cgroup: Option<&'a str>,
    pub ignore_paused: bool,
    pub console_socket: Option<&'a Path>,
    pub pidfd_socket: Option<&'a Path>,
}

/// Namespace types in the order they are joined: user first, so that the others (owned by it)
/// can be entered with its privileges.
const NAMESPACES: [(&str, CloneFlags); 8] = [
    ("user", CloneFlags::CLONE_NEWUSER),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("time", CloneFlags::from_bits_retain(libc::CLONE_NEWTIME)),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// Open every namespace of `pid` that differs from ours.
fn open_namespaces(pid: i32) -> Result<Vec<(&'static str, CloneFlags, File)>> {
    let mut v = Vec::new();
    for (name, flag) in NAMESPACES {
        let theirs = format!("/proc/{pid}/ns/{name}");
        let Ok(meta) = std::fs::metadata(&theirs) else { continue };
        let ours = std::fs::metadata(format!("/proc/self/ns/{name}")).map(|m| m.ino()).unwrap_or(0);
        if meta.ino() == ours {
            continue;
        }
        let f = File::open(&theirs).map_err(|e| Error::io("open namespace", &theirs, e))?;
        v.push((name, flag, f));
    }
    Ok(v)
}

/// Run the process; returns its exit status when not detached (0 when detached).
pub fn exec(opts: &ExecOpts) -> Result<i32> {
    // The container's lock is held until the process has exec'd, so that a concurrent delete
    // comes before or after, never in between (a process placed while delete removes the cgroup
    // left it behind). In a paused container (--ignore-paused) the process cannot exec before
    // `resume`, which needs the lock: there it is released once the process is in the cgroup.
    let mut lock = Some(ContainerDir::open(opts.root, opts.id)?);
    let (state, paused) = {
        let dir = lock.as_ref().expect("just opened");
        let state = dir.load()?;
        let status = dir.status(&state);
        match status {
            Status::Stopped => return Err(Error::WrongState("cannot exec in a stopped container: container not running".into())),
            Status::Paused if !opts.ignore_paused => {
                return Err(Error::WrongState("cannot exec in a paused container: container paused".into()))
            }
            _ => {}
        }
        (state, status == Status::Paused)
    };
    if opts.process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::config("process.args", "must not be empty"));
    }
    // A process.json without its own lists takes the container's (as crun does).
    let affinity = match (opts.process.exec_cpu_affinity(), &state.process) {
        (None, Some(p)) => ExecAffinity::from_process(p)?,
        _ => ExecAffinity::from_process(&opts.process)?,
    };
    let terminal = opts.process.terminal() == Some(true);
    // A foreground exec without a socket keeps the caller's stdio.
    let console = console::socket_for(terminal, opts.console_socket, !opts.detach)?;
    let namespaces = open_namespaces(state.pid)?;
    // No mount namespace of the container's own: the process is chrooted where the init is.
    let root = match state.host_rootfs_mount {
        Some(_) => {
            let p = format!("/proc/{}/root", state.pid);
            Some(crate::linux::open_fd(p.as_str(), OFlag::O_PATH | OFlag::O_DIRECTORY).ctx(|| format!("open {p}"))?)
        }
        None => None,
    };
    let (parent_ch, child_ch) = Channel::pair()?;
    let signals = if opts.detach { None } else { Some(super::wait::block_signals()?) };

    // The process is cloned straight into the container's v2 cgroup (or the unified tree's), and
    // the helper joins the v1 hierarchies itself before it clones. Not in a paused container:
    // the helper would freeze in its frozen cgroup, so the process is moved there afterwards.
    let cgroup = crate::cgroups::open_for_exec(&state.cgroup, opts.cgroup, !paused);
    let mid = fork_with_flags(0, None).ctx(|| "fork namespace-joining helper".into())?;
    if mid == 0 {
        // The lock's descriptor must not live on in the helper or the process (flock belongs to
        // the open file, which they share until exec).
        drop(lock.take());
        let console = console.as_ref().map(|c| c.as_raw_fd());
        let target = Target {
            namespaces: &namespaces,
            root: root.as_ref(),
            cgroup: cgroup.clone_into.as_ref().map(|f| f.as_raw_fd()),
            cgroup_tasks: &cgroup.tasks,
            personality: state.personality.as_ref(),
        };
        helper(target, &child_ch, &opts.process, state.seccomp.as_ref(), opts.preserve_fds, console, &affinity);
    }
    drop(child_ch);
    drop(namespaces);
    let msg = parent_ch.recv();
    let _ = waitpid(Pid::from_raw(mid), None);
    let pid = match msg? {
        Some(Msg::Pid(p)) => p,
        Some(Msg::Error(e)) => return Err(Error::Init(e)),
        _ => return Err(Error::Init("exec helper exited without starting the process".into())),
    };
    let in_cgroup = cgroup.holds(pid);
    drop(cgroup);
    let started = (|| {
        if state.cgroup.none {
            crate::log::debug("exec: the container has no cgroup (rootless)");
        } else if in_cgroup {
            crate::log::debug("exec: process was cloned into its cgroup");
        } else {
            crate::cgroups::join(&state.cgroup, pid, opts.cgroup)?;
        }
        // As runc: the container's oom_score_adj applies to every process entering it, not the
        // caller's (a shim runs near -998).
        let adj = opts.process.oom_score_adj().or_else(|| state.process.as_ref().and_then(|p| p.oom_score_adj()));
        if let Some(adj) = adj {
            let p = format!("/proc/{pid}/oom_score_adj");
            std::fs::write(&p, adj.to_string()).ctx(|| format!("set oom_score_adj {adj}"))?;
        }
        if paused {
            // Placed: from here on a delete finds the process in the cgroup.
            drop(lock.take());
        }
        parent_ch.send(&Msg::Go)?;
        // While the process prepares itself (the helper that held a copy has exited): closing
        // the view's mount waits for a grace period.
        crate::linux::seal::release_view_mount();
        // The channel is close-on-exec: EOF means the execve succeeded.
        loop {
            match parent_ch.recv()? {
                None => return Ok(()),
                Some(Msg::SeccompFd(fd)) => {
                    // SAFETY: the channel just received this descriptor; nothing else owns it.
                    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                    if let Some(sc) = &state.seccomp {
                        if let Some(path) = sc.listener_path() {
                            let st = state.oci_json("running", state.pid);
                            crate::linux::seccomp::send_to_agent(path, sc.listener_metadata().as_deref(), pid, st, fd.as_raw_fd())?;
                        }
                    }
                    parent_ch.send(&Msg::Go)?;
                }
                Some(Msg::Error(e)) => return Err(Error::Init(e)),
                Some(m) => return Err(Error::Other(format!("exec process sent {m:?}"))),
            }
        }
    })();
    if let Err(e) = started {
        let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(pid), None);
        return Err(e);
    }
    if let Some(p) = opts.pid_file {
        write_atomic(p, pid.to_string().as_bytes(), 0o644)?;
    }
    if let Some(p) = opts.pidfd_socket {
        console::send_pidfd(p, pid)?;
    }
    match signals {
        None => Ok(0),
        Some(set) => Ok(super::wait::forward_until_exit(pid, &set)),
    }
}

/// Where the exec'd process is born: the container's namespaces to join, and its cgroup on v2
/// (CLONE_INTO_CGROUP).
struct Target<'a> {
    namespaces: &'a [(&'static str, CloneFlags, File)],
    /// The init's root, to chroot into when the container shares the runtime's mount namespace.
    root: Option<&'a std::os::fd::OwnedFd>,
    cgroup: Option<RawFd>,
    /// The container's v1 cgroups, which the helper joins itself (the process inherits them).
    cgroup_tasks: &'a [crate::cgroups::TasksFile],
    /// The container's `linux.personality`: set in the helper, inherited by the process.
    personality: Option<&'a oci_spec::runtime::LinuxPersonality>,
}

/// The forked helper: join the namespaces, clone the process as our parent's child, report its
/// pid and exit. The process waits for `Go` (cgroup joined), prepares itself and execs.
fn helper(
    target: Target,
    chan: &Channel,
    process: &Process,
    seccomp: Option<&LinuxSeccomp>,
    preserve_fds: u32,
    console: Option<RawFd>,
    affinity: &ExecAffinity,
) -> ! {
    let res = (|| {
        crate::linux::seal::release_view_mount();
        // Before the cgroup move (the process inherits it); `final` follows after it.
        affinity.apply_initial()?;
        crate::cgroups::join_self(target.cgroup_tasks)?;
        // The host's cgroup files must not live on into the container's namespaces and the
        // process. (This helper never returns: nothing drops and closes them again.)
        for (_, fd) in target.cgroup_tasks {
            let _ = nix::unistd::close(fd.as_raw_fd());
        }
        for (name, flag, f) in target.namespaces {
            setns(f.as_fd(), *flag).ctx(|| format!("join {name} namespace of the container"))?;
        }
        if let Some(root) = target.root {
            nix::unistd::fchdir(root.as_raw_fd()).ctx(|| "chdir to the container's root".into())?;
            nix::unistd::chroot(".").ctx(|| "chroot into the container's root".into())?;
        }
        if let Some(p) = target.personality {
            crate::linux::scheduling::apply_personality(p)?;
        }
        fork_with_flags(libc::CLONE_PARENT as u64, target.cgroup).ctx(|| "clone exec process".into())
    })();
    match res {
        Ok(0) => {
            let err = match run_process(chan, process, seccomp, preserve_fds, console, affinity) {
                Ok(e) | Err(e) => e,
            };
            let _ = chan.send(&Msg::Error(err.to_string()));
            // SAFETY: _exit ends the forked process without running the parent's destructors.
            unsafe { libc::_exit(255) }
        }
        Ok(pid) => {
            let _ = chan.send(&Msg::Pid(pid));
            // SAFETY: as above.
            unsafe { libc::_exit(0) }
        }
        Err(e) => {
            let _ = chan.send(&Msg::Error(e.to_string()));
            // SAFETY: as above.
            unsafe { libc::_exit(1) }
        }
    }
}

/// In the container: wait to be placed in the cgroup, become the process, exec. Returns only the
/// error that prevented the exec.
fn run_process(
    chan: &Channel,
    process: &Process,
    seccomp: Option<&LinuxSeccomp>,
    preserve_fds: u32,
    console: Option<RawFd>,
    affinity: &ExecAffinity,
) -> Result<Error> {
    match chan.recv()? {
        Some(Msg::Go) => {}
        _ => return Err(Error::Init("exec: runtime went away".into())),
    }
    affinity.apply_final()?;
    if let Some(sock) = console {
        // A controlling terminal needs a session of its own.
        nix::unistd::setsid().ctx(|| "setsid".into())?;
        super::init::setup_console(sock, process, false)?;
    }
    let prepared = process::prepare(process, seccomp, preserve_fds, &[])?;
    if let Some(l) = &prepared.listener {
        // The agent must have the listener before the process makes a notifying call.
        chan.send(&Msg::SeccompFd(l.as_raw_fd()))?;
        match chan.recv()? {
            Some(Msg::Go) => {}
            _ => return Err(Error::Init("exec: runtime went away".into())),
        }
    }
    prepared.install_late_seccomp()?;
    Ok(prepared.exec())
}
