//! The container side of `create`: runs in the cloned init, builds the container, reports ready
//! and blocks on the exec fifo until `start`, then execs the user process.

use std::os::fd::{AsFd, RawFd};
use std::path::Path;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::unistd::{close, setresgid, setresuid, sethostname, setsid, write, Gid, Uid};
use oci_spec::runtime::Spec;

use super::process;
use super::sync::{Channel, Msg};
use crate::error::{Context, Error, Result};
use crate::hooks::{self, Phase};
use crate::linux::devices;
use crate::linux::mounts::{mount_entry, parse_propagation, MountCtx};
use crate::linux::namespaces::{self, NsPlan};
use crate::linux::safe_path::{create_in_root, Kind};
use crate::linux::{console, rootfs};

pub struct InitCtx<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub plan: &'a NsPlan,
    pub chan: &'a Channel,
    pub fifo_fd: RawFd,
    pub lock_fd: RawFd,
    /// The container's cgroup (v2), open for CLONE_INTO_CGROUP; closed by the init at once.
    pub cgroup_fd: Option<RawFd>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    /// Environment added to the process's (socket activation's LISTEN_FDS and LISTEN_PID,
    /// NOTIFY_SOCKET).
    pub extra_env: Vec<String>,
    /// sd_notify: the state dir's notify directory, bound at /run/notify in the container.
    pub notify_dir: Option<std::path::PathBuf>,
    /// Connected console socket: allocate a pty and send its master there.
    pub console: Option<RawFd>,
    pub cgroup_path: &'a Path,
    pub id: &'a str,
    /// The container's state as create will record it (pid still unknown): the init builds the
    /// state its own hooks get from it, with the pid as the container sees it.
    pub state: &'a crate::container::State,
    /// Set once the runtime side has reported `Placed`.
    pub placed: std::cell::Cell<bool>,
    /// Set once the runtime side has reported `Applied`.
    pub applied: std::cell::Cell<bool>,
    /// The init is in a v1 devices cgroup, whose rules the runtime writes one by one (deny all,
    /// then each allowed device): device nodes are made only once they are all in place.
    pub v1_device_rules: bool,
    /// Set once the init is in its cgroup namespace (when it has one of its own).
    pub cgroup_ns_entered: std::cell::Cell<bool>,
    /// The init makes its network namespace itself (unshare), first thing after `Go`, instead
    /// of clone making it: see `create::net_by_unshare`.
    pub unshare_net: bool,
    /// The host's cgroup hierarchies, once the runtime side has sent them (`Msg::Hierarchies`).
    pub hierarchies: std::cell::RefCell<Option<Vec<rootfs::Hierarchy>>>,
}

/// Entry point of the cloned init. Never returns: it execs the user process or exits 1 after
/// reporting the error to the runtime side.
pub fn run(ctx: &InitCtx) -> ! {
    let err = match setup(ctx) {
        Ok(e) => e,
        Err(e) => e,
    };
    let _ = ctx.chan.send(&Msg::Error(err.to_string()));
    // SAFETY: _exit ends the forked init without running destructors shared with the parent.
    unsafe { libc::_exit(1) }
}

/// Returns only with the error that prevented the exec.
fn setup(ctx: &InitCtx) -> Result<Error> {
    // The state-dir lock belongs to `create`; holding it here would block `start` forever.
    let _ = close(ctx.lock_fd);
    if let Some(fd) = ctx.cgroup_fd {
        let _ = close(fd);
    }
    let mut idmapped = std::collections::HashMap::new();
    loop {
        match ctx.chan.recv()? {
            Some(Msg::Go) => break,
            Some(Msg::Affinity(cpus)) => crate::linux::cpu_affinity::restore_own(&cpus)?,
            Some(Msg::MountFd(i, fd)) => {
                // SAFETY: the channel just received this descriptor; nothing else owns it.
                idmapped.insert(i as usize, unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
            }
            _ => return Err(Error::Init("runtime went away before setup".into())),
        }
    }
    if ctx.unshare_net {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).ctx(|| "create the network namespace (unshare)".into())?;
    }
    crate::log::debug("init: setting up");
    let spec = ctx.spec;
    let linux = spec.linux().as_ref().ok_or_else(|| Error::config("linux", "missing"))?;
    let process = spec.process().as_ref().ok_or_else(|| Error::config("process", "missing"))?;

    // In a user namespace: the container's own, or the runtime's (rootless podman's).
    let in_userns = ctx.plan.new_user
        || ctx.plan.joins_type(oci_spec::runtime::LinuxNamespaceType::User)
        || crate::linux::runtime_in_user_namespace();
    if in_userns {
        // Become the namespace's root (when mapped) so the setup below runs with its privileges
        // (the host's root is not mapped in it: files it created would fail with EOVERFLOW).
        let _ = setresgid(Gid::from_raw(0), Gid::from_raw(0), Gid::from_raw(0));
        let _ = setresuid(Uid::from_raw(0), Uid::from_raw(0), Uid::from_raw(0));
        // Changing ids made the process non-dumpable, which hides /proc/self from it.
        nix::sys::prctl::set_dumpable(true).ctx(|| "prctl PR_SET_DUMPABLE".into())?;
    }
    if ctx.plan.new_time {
        let offsets: Vec<(String, i64, u32)> = linux
            .time_offsets()
            .iter()
            .flatten()
            .map(|(k, v)| (k.clone(), v.secs().unwrap_or(0), v.nanosecs().unwrap_or(0)))
            .collect();
        namespaces::enter_new_time_ns(&offsets)?;
    }
    setsid().ctx(|| "setsid".into())?;
    if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
        sethostname(h).ctx(|| format!("sethostname {h:?}"))?;
    }
    if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
        // SAFETY: the pointer and length describe `d`'s bytes, which outlive the call.
        if unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) } != 0 {
            return Err(Error::sys(format!("setdomainname {d:?}"), nix::errno::Errno::last()));
        }
    }

    let has_hooks = build_rootfs(ctx, linux, process, in_userns, idmapped)?;

    if !ctx.no_new_keyring {
        join_session_keyring(ctx.id);
    }
    wait_applied(ctx)?;
    if let Some(p) = linux.personality() {
        crate::linux::scheduling::apply_personality(p)?;
    }
    if let Some(p) = linux.memory_policy() {
        crate::linux::scheduling::apply_memory_policy(p)?;
    }
    if let Some(sock) = ctx.console {
        setup_console(sock, process, true)?;
    }
    let prepared = process::prepare(process, linux.seccomp().as_ref(), ctx.preserve_fds, &ctx.extra_env)?;
    if let Some(l) = &prepared.listener {
        ctx.chan.send(&Msg::SeccompFd(std::os::fd::AsRawFd::as_raw_fd(l)))?;
    }
    crate::log::debug("init: ready");
    crate::fault::point("before-ready", None)?;
    ctx.chan.send(&Msg::Ready)?;

    // Blocks until `start` opens the fifo for reading.
    let fifo = crate::linux::open_fd(format!("/proc/self/fd/{}", ctx.fifo_fd).as_str(), OFlag::O_WRONLY)
        .ctx(|| "open exec fifo".into())?;
    // `start` is waiting on the fifo: a failure from here on goes to it as the fifo's content.
    let released = (|| {
        crate::fault::point("before-exec", None)?;
        if has_hooks {
            let json = ctx.state.oci_json("created", nix::unistd::getpid().as_raw()).to_string();
            hooks::run_in_container(ctx.spec.hooks(), Phase::StartContainer, &json, &prepared.env)?;
        }
        // Closest to execve: only the write below and execve run under this filter.
        prepared.install_late_seccomp()
    })();
    if let Err(e) = released {
        let _ = write(fifo.as_fd(), format!("E{e}").as_bytes());
        // SAFETY: ends the init without running destructors shared with the parent.
        unsafe { libc::_exit(1) }
    }
    write(fifo.as_fd(), b"0").ctx(|| "write exec fifo".into())?;
    drop(fifo);
    Ok(prepared.exec())
}

/// Allocate the process's pty inside the container, hand the master to the console socket and
/// make the slave the controlling terminal and stdio. For an init the slave also appears as
/// /dev/console.
pub fn setup_console(sock: RawFd, process: &oci_spec::runtime::Process, is_init: bool) -> Result<()> {
    let pty = console::open_pty(process.console_size())?;
    if is_init {
        // Both ends by descriptor: the pty itself (not whatever /dev/pts/N names by then) onto
        // the /dev/console this process checked (the CVE-2025-52565 class).
        let console = console::open_console_target()?;
        let (src, dst) = (crate::linux::safe_path::fd_path(&pty.slave), crate::linux::safe_path::fd_path(&console));
        crate::linux::mounts::mount_raw(Some(&src), &dst, None, nix::mount::MsFlags::MS_BIND, None)
            .ctx(|| format!("bind {} over /dev/console", pty.name))?;
    }
    console::send_master(sock, &pty)?;
    let _ = close(sock);
    console::become_terminal(&pty.slave, process.user().uid(), process.user().gid())
}

/// Wait until the runtime side has made this process's cgroup and it has joined it (it may have
/// said so already, while another message was awaited).
fn wait_placed(ctx: &InitCtx) -> Result<()> {
    while !ctx.placed.get() {
        match recv_cgroup(ctx)? {
            Some(Msg::Placed) => ctx.placed.set(true),
            _ => return Err(Error::Init("runtime went away before placing init in its cgroup".into())),
        }
    }
    Ok(())
}

/// Wait until the runtime side has applied the cgroup's limits (before the final steps: the
/// user process never runs without them).
fn wait_applied(ctx: &InitCtx) -> Result<()> {
    wait_placed(ctx)?;
    while !ctx.applied.get() {
        match recv_cgroup(ctx)? {
            Some(Msg::Applied) => ctx.applied.set(true),
            _ => return Err(Error::Init("runtime went away before applying the cgroup's limits".into())),
        }
    }
    Ok(())
}

/// The next message, after joining the v1 cgroups whose `tasks` files came first (and keeping
/// the hierarchy list that came with them).
fn recv_cgroup(ctx: &InitCtx) -> Result<Option<Msg>> {
    loop {
        match ctx.chan.recv()? {
            Some(Msg::CgroupTasks(fd, path)) => {
                // SAFETY: the channel just received this descriptor; nothing else owns it.
                let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                crate::cgroups::join_self(&[(path, fd)])?;
            }
            Some(Msg::Hierarchies(list)) => *ctx.hierarchies.borrow_mut() = Some(list),
            other => return Ok(other),
        }
    }
}

/// Be placed in the cgroup, then enter the container's own cgroup namespace if it has one: its
/// root is the cgroup the init is in when it is created. Done as late as what needs it (a
/// cgroup mount, the hooks, the pivot), so the mounts before overlap the runtime's cgroup work.
fn enter_cgroup(ctx: &InitCtx) -> Result<()> {
    wait_placed(ctx)?;
    if ctx.plan.new_cgroup && !ctx.cgroup_ns_entered.get() {
        namespaces::unshare_cgroup()?;
        ctx.cgroup_ns_entered.set(true);
    }
    Ok(())
}

/// The next message other than `Placed` and `Applied`, which the runtime sends whenever it is
/// done with the cgroup.
fn recv_after_placed(ctx: &InitCtx) -> Result<Option<Msg>> {
    loop {
        match recv_cgroup(ctx)? {
            Some(Msg::Placed) => ctx.placed.set(true),
            Some(Msg::Applied) => ctx.applied.set(true),
            other => return Ok(other),
        }
    }
}

/// Build the root filesystem and switch into it. Returns whether the config has hooks.
fn build_rootfs(
    ctx: &InitCtx,
    linux: &oci_spec::runtime::Linux,
    process: &oci_spec::runtime::Process,
    in_userns: bool,
    idmapped: std::collections::HashMap<usize, std::os::fd::OwnedFd>,
) -> Result<bool> {
    let propagation = match linux.rootfs_propagation().as_deref() {
        None | Some("") => None,
        Some(p) => Some(parse_propagation(p).ok_or_else(|| {
            Error::config("linux.rootfsPropagation", format!("unknown propagation {p:?}"))
        })?),
    };
    // Devices and the cwd are created with exactly the modes asked for.
    nix::sys::stat::umask(Mode::empty());
    let root_fd = rootfs::prepare(ctx.rootfs, propagation, ctx.plan.host_mounts)?;
    let mctx = MountCtx {
        rootfs: root_fd.as_fd(),
        rootfs_path: ctx.rootfs,
        bundle: ctx.bundle,
        in_userns,
        new_netns: ctx.plan.new_net,
        new_cgroupns: ctx.plan.new_cgroup,
        cgroup_path: ctx.cgroup_path,
        hierarchies: &ctx.hierarchies,
        idmapped: idmapped.into(),
        start_dir: crate::linux::open_fd(".", OFlag::O_PATH | OFlag::O_DIRECTORY).ok(),
    };
    let mounts = ctx.spec.mounts().clone().unwrap_or_default();
    for (i, m) in mounts.iter().enumerate() {
        if matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")) {
            // The container's cgroup directories must exist before they can be mounted, and a
            // new cgroup namespace decides what the mount shows.
            enter_cgroup(ctx)?;
        }
        mount_entry(&mctx, i, m)?;
        crate::fault::point("after-mount", Some(i))?;
    }
    let dev_is_bind = mounts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && m.options().iter().flatten().any(|o| o == "bind" || o == "rbind")
    });
    if !dev_is_bind {
        if ctx.v1_device_rules {
            wait_applied(ctx)?;
        }
        let config: Vec<devices::Device> = linux
            .devices()
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, d)| devices::from_config(i, d))
            .collect::<Result<_>>()?;
        let defaults = devices::default_devices();
        let all: Vec<&devices::Device> =
            defaults.iter().filter(|d| !config.iter().any(|c| c.path == d.path)).chain(config.iter()).collect();
        devices::create_all(root_fd.as_fd(), &all, in_userns)?;
        devices::create_symlinks(root_fd.as_fd())?;
    }
    if let Some(d) = &ctx.notify_dir {
        let m = oci_spec::runtime::MountBuilder::default()
            .destination(crate::container::NOTIFY_DIR_IN_CONTAINER)
            .typ("bind")
            .source(d.clone())
            .options(["bind", "nosuid", "nodev", "noexec", "ro"].map(String::from).to_vec())
            .build()
            .map_err(|e| Error::Other(format!("notify socket mount: {e}")))?;
        mount_entry(&mctx, mounts.len(), &m)?;
    }
    // runc creates a missing cwd, as root, before the user switch.
    create_in_root(root_fd.as_fd(), process.cwd(), Kind::Dir)
        .map_err(|e| Error::sys(format!("create cwd {:?}", process.cwd()), e))?;
    drop(mctx);
    drop(root_fd);

    crate::log::debug("init: mounts and devices made");
    // The hooks run in the container's cgroup and cgroup namespace.
    enter_cgroup(ctx)?;
    let has_hooks = hooks::any(ctx.spec.hooks());
    if has_hooks {
        // prestart and createRuntime run on the runtime side; createContainer runs here, in the
        // container's namespaces before pivot_root, where its path resolves on the host.
        ctx.chan.send(&Msg::Hooks)?;
        match recv_after_placed(ctx)? {
            Some(Msg::HooksDone) => {}
            _ => return Err(Error::Init("runtime went away while running hooks".into())),
        }
        let json = ctx.state.oci_json("creating", nix::unistd::getpid().as_raw()).to_string();
        // In the rootfs, as runc runs them.
        nix::unistd::chdir(ctx.rootfs).ctx(|| format!("chdir to rootfs {:?}", ctx.rootfs))?;
        let env = process::environment(process, &ctx.extra_env);
        hooks::run_in_container(ctx.spec.hooks(), Phase::CreateContainer, &json, &env)?;
    }

    if ctx.plan.host_mounts {
        rootfs::chroot_into(ctx.rootfs)?;
    } else if ctx.no_pivot {
        rootfs::move_root(ctx.rootfs)?;
    } else {
        rootfs::pivot(ctx.rootfs)?;
    }
    crate::fault::point("after-pivot-root", None)?;
    crate::log::debug("init: pivoted into the rootfs");
    // Before the read-only paths: /proc/sys is usually one of them.
    for (k, v) in linux.sysctl().iter().flatten() {
        crate::linux::procfs::write_sysctl(k, v)?;
    }
    let masked = linux.masked_paths().as_deref().unwrap_or(&[]);
    // Masked paths need the container's /dev/null; the stdio reopen only uses it when it is
    // there (a container without one, or without /proc, keeps the descriptors it was given).
    let null = if masked.is_empty() {
        rootfs::verified_dev_null().ok()
    } else {
        let null = rootfs::verified_dev_null()?;
        let mut empty = None;
        for p in masked {
            rootfs::mask_path(Path::new(p), &null, &mut empty)?;
        }
        Some(null)
    };
    if let (Some(null), false) = (&null, ctx.plan.host_mounts) {
        if let Err(e) = rootfs::reopen_null_stdio(null) {
            crate::log::debug(format!("init: stdio left as given: {e}"));
        }
    }
    for p in linux.readonly_paths().iter().flatten() {
        rootfs::readonly_path(Path::new(p), in_userns)?;
    }
    if ctx.spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        rootfs::make_root_readonly(in_userns)?;
    }
    if let Some(p) = propagation {
        rootfs::set_root_propagation(p)?;
    }
    nix::sys::stat::umask(Mode::from_bits_truncate(0o022));
    Ok(has_hooks)
}



/// A fresh session keyring per container, so containers do not share the host's keys.
fn join_session_keyring(id: &str) {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let Ok(name) = std::ffi::CString::new(format!("_ses.{id}")) else { return };
    // SAFETY: keyctl reads the NUL-terminated name only during the call.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if r < 0 {
        crate::log::debug(format!("join session keyring: {}", nix::errno::Errno::last()));
    }
}


