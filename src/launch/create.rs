//! The runtime side of `create`.

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sys::signal::{kill, Signal};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::{mkfifo, Pid};

use super::init::{self, InitCtx};
use super::sync::{Channel, Msg};
use crate::bundle::Bundle;
use crate::cgroups::{self, Cgroup};
use crate::container::{process_start_time, write_atomic, ContainerDir, State};
use crate::error::{Context, Error, Result};
use crate::hooks::{self, Phase};
use crate::linux::clone::fork_with_flags;
use crate::linux::{console, host_root, idmap, netdev};
use crate::linux::namespaces::{self, NsPlan};

pub struct CreateOpts<'a> {
    pub root: &'a Path,
    pub id: &'a str,
    pub bundle: &'a Path,
    pub pid_file: Option<&'a Path>,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub systemd_cgroup: bool,
    /// Rootless: without a cgroup hierarchy this user may write, the container runs without a
    /// cgroup when its config asks for no limits (as runc).
    pub rootless: bool,
    pub console_socket: Option<&'a Path>,
    /// `run` in the foreground: a connected socket that receives the pty master in place of a
    /// console socket path, so `run` can relay the caller's terminal.
    pub console_fd: Option<std::os::fd::RawFd>,
    /// `run`: the exec fifo is opened for reading before the init exists, so the init's open
    /// for writing does not wait for `start` and the init goes on into its process as soon as
    /// it is ready (the startContainer hooks, the final seccomp filter and execve), while
    /// `create` finishes; `start` then reads the init's byte from that end. Not with sd_notify
    /// (NOTIFY_SOCKET), whose socket `start` binds before the process may run.
    pub start_at_once: bool,
}

/// What a failed create must undo, in reverse order of making it.
struct Undo {
    dir: Option<ContainerDir>,
    cgroup: Option<Cgroup>,
    init_pid: Option<i32>,
    /// Set once the init exists: the container was created far enough that the lifecycle's
    /// destroy step, with its poststop hooks, applies (runtime.md#lifecycle steps 12-13).
    poststop: Option<(Option<oci_spec::runtime::Hooks>, String)>,
    /// Network devices moved into the init's network namespace, put back before it is killed.
    netdevs: Option<netdev::MovedDevices>,
    /// The rootfs bind in the runtime's mount namespace (no mount namespace of its own).
    host_root: Option<(PathBuf, u64)>,
}

impl Undo {
    fn run(mut self) {
        if let Some(moved) = &self.netdevs {
            netdev::move_back(moved);
        }
        if let Some(pid) = self.init_pid.take() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
        if let Some((rootfs, id)) = self.host_root.take() {
            if let Err(e) = host_root::detach(&rootfs, id) {
                crate::log::warn(format!("cleanup after failed create: {e}"));
            }
        }
        if let Some(cg) = self.cgroup.take() {
            if let Err(e) = cg.remove() {
                crate::log::warn(format!("cleanup after failed create: {e}"));
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = dir.remove();
        }
        if let Some((hooks, json)) = self.poststop.take() {
            // Failures were reported as warnings by `hooks::run`.
            let _ = hooks::run(&hooks, Phase::Poststop, &json);
        }
    }
}

/// Create a container: on success init is set up and blocked on the exec fifo, and the state
/// dir is locked by the returned handle. On failure nothing is left behind.
pub fn create(opts: &CreateOpts) -> Result<(ContainerDir, State)> {
    crate::container::validate_id(opts.id)?;
    let bundle = Bundle::load(opts.bundle)?;
    crate::log::debug("create: config loaded");
    let dir = ContainerDir::create(opts.root, opts.id)?;
    let mut undo = Undo { dir: None, cgroup: None, init_pid: None, poststop: None, netdevs: None, host_root: None };
    let res = crate::fault::point("state-dir", None).and_then(|()| create_in(opts, &bundle, &dir, &mut undo));
    match res {
        Ok(state) => Ok((dir, state)),
        Err(e) => {
            undo.dir = Some(dir);
            undo.run();
            Err(e)
        }
    }
}

fn create_in(opts: &CreateOpts, bundle: &Bundle, dir: &ContainerDir, undo: &mut Undo) -> Result<State> {
    let spec = &bundle.spec;
    let linux = spec.linux().as_ref().ok_or_else(|| Error::config("linux", "missing"))?;
    let fifo = dir.fifo_path();
    mkfifo(&fifo, Mode::from_bits_truncate(0o622)).ctx(|| format!("mkfifo {fifo:?}"))?;
    // The umask may have cleared the write bits that a non-root container user needs.
    std::fs::set_permissions(&fifo, std::os::unix::fs::PermissionsExt::from_mode(0o622))
        .map_err(|e| Error::io("chmod", &fifo, e))?;
    let fifo_fd = crate::linux::open_fd(&fifo, OFlag::O_PATH).ctx(|| format!("open {fifo:?}"))?;

    let cg_path = cgroups::resolve_path(linux.cgroups_path().as_deref(), opts.id, opts.systemd_cgroup)?;
    // Rootless without a cgroup this user may make: none at all, if the config asks for no limit.
    let no_cgroup = opts.rootless && !cgroups::rootless_writable(&cg_path, opts.systemd_cgroup);
    if no_cgroup {
        if let Some(field) = cgroups::limits_asked(linux.resources().as_ref()) {
            return Err(Error::config(
                field,
                format!("rootless: no cgroup hierarchy here is writable by uid {} (cgroup v1, or v2 without a delegated subtree), so this limit cannot be applied; remove it or run as root", nix::unistd::geteuid()),
            ));
        }
        crate::log::debug(format!("create: rootless without a writable cgroup for {cg_path:?}: the container gets none"));
    }
    let plan = NsPlan::from_config(linux);
    let listen_fds = socket_activation_fds();
    let notify_socket = std::env::var_os("NOTIFY_SOCKET").filter(|s| !s.is_empty()).map(PathBuf::from);
    let notify_dir = match &notify_socket {
        Some(_) => {
            let d = dir.path.join(crate::container::NOTIFY_DIR);
            std::fs::create_dir(&d).map_err(|e| Error::io("create", &d, e))?;
            std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o755))
                .map_err(|e| Error::io("chmod", &d, e))?;
            Some(d)
        }
        None => None,
    };
    // Not with sd_notify: `start` must listen on the notify socket before the process runs.
    if opts.start_at_once && notify_socket.is_none() {
        let reader = crate::linux::open_fd(&fifo, OFlag::O_RDONLY | OFlag::O_NONBLOCK).ctx(|| format!("open {fifo:?}"))?;
        *dir.fifo_reader.borrow_mut() = Some(reader);
    }
    let mut extra_env = Vec::new();
    if listen_fds > 0 {
        extra_env.push(format!("LISTEN_FDS={listen_fds}"));
        extra_env.push("LISTEN_PID=1".into());
    }
    if notify_socket.is_some() {
        extra_env.push(format!("NOTIFY_SOCKET={}", crate::container::NOTIFY_SOCKET_IN_CONTAINER));
    }
    // v2 (and the unified tree of a hybrid host): the cgroup exists before the init, which is
    // cloned straight into it.
    let pure_v2 = cgroups::pure_v2();
    let prepared = match no_cgroup {
        true => None,
        false => Cgroup::prepare_for_clone(cg_path.clone(), opts.id, opts.systemd_cgroup)?,
    };
    let cgroup_fd = match prepared {
        Some((mut cg, fd)) => {
            cg.record.shares_pid_ns = !plan.new_pid;
            undo.cgroup = Some(cg);
            Some(fd)
        }
        None => None,
    };
    let (parent_ch, child_ch) = Channel::pair()?;
    let terminal = spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    let console = console::socket_for(terminal, opts.console_socket, opts.console_fd.is_some())?;
    let console_fd = console.as_ref().map(|c| c.as_raw_fd()).or(opts.console_fd.filter(|_| terminal));

    let mut state = State::creating(bundle, opts.id);
    state.notify_socket = notify_socket;
    if plan.host_mounts {
        let id = host_root::bind(&bundle.rootfs)?;
        undo.host_root = Some((bundle.rootfs.clone(), id));
        state.host_rootfs_mount = Some(id);
    }
    let ctx = InitCtx {
        spec,
        bundle: &bundle.dir,
        rootfs: &bundle.rootfs,
        plan: &plan,
        chan: &child_ch,
        fifo_fd: fifo_fd.as_raw_fd(),
        lock_fd: dir.lock_fd(),
        cgroup_fd: cgroup_fd.as_ref().map(|f| f.as_raw_fd()),
        no_pivot: opts.no_pivot,
        no_new_keyring: opts.no_new_keyring,
        preserve_fds: opts.preserve_fds.max(listen_fds),
        extra_env,
        notify_dir,
        console: console_fd,
        cgroup_path: &cg_path,
        id: opts.id,
        placed: Default::default(),
        applied: Default::default(),
        v1_device_rules: !no_cgroup && !pure_v2,
        cgroup_ns_entered: Default::default(),
        state: &state,
        unshare_net: net_by_unshare(&plan, linux),
        hierarchies: Default::default(),
    };
    // An unprivileged runtime (rootless) writes the init's id maps, itself or through newuidmap,
    // and /proc/PID of a non-dumpable process belongs to root: the init is born dumpable. It runs
    // hull's sealed image, which cannot be written through /proc/PID/exe either way.
    let born_dumpable = plan.new_user && !nix::unistd::geteuid().is_root();
    if born_dumpable {
        nix::sys::prctl::set_dumpable(true).ctx(|| "prctl PR_SET_DUMPABLE".into())?;
    }
    crate::log::debug("create: cloning the init");
    let spawned = spawn_init(&ctx, &parent_ch);
    let restored = match born_dumpable {
        true => nix::sys::prctl::set_dumpable(false).ctx(|| "prctl PR_SET_DUMPABLE".into()),
        false => Ok(()),
    };
    let pid = spawned?;
    // Recorded before anything else can fail, so a failed create kills it.
    undo.init_pid = Some(pid);
    let birth_affinity = crate::linux::cpu_affinity::steer_off_this_cpu(pid);
    restored?;
    drop(cgroup_fd);
    crate::log::debug(format!("create: init cloned, pid {pid}"));
    state.pid = pid;
    // Cloned into a cgroup made beforehand: record both before anything else. On a pure v2 host
    // its record does not change when the init is placed, so that save is the only provisional
    // one; on a hybrid host placement adds the v1 directories and saves again.
    let saved_at_clone = undo.cgroup.is_some() && pure_v2;
    if undo.cgroup.is_some() {
        save_creating(dir, &mut state, pid, undo.cgroup.as_ref())?;
    }
    crate::fault::point("after-clone", None)?;
    if !Phase::Poststop.of(&state.hooks).is_empty() {
        undo.poststop = Some((state.hooks.clone(), state.oci_json("stopped", 0).to_string()));
    }
    drop(child_ch);
    let setup = (|| {
        if plan.new_user {
            crate::linux::userns_map::write(pid, linux.uid_mappings().as_deref().unwrap_or(&[]), linux.gid_mappings().as_deref().unwrap_or(&[]))?;
        }
        if let Some(cpus) = &birth_affinity {
            parent_ch.send(&Msg::Affinity(crate::linux::cpu_affinity::to_list(cpus)))?;
        }
        send_idmapped_mounts(spec, &bundle.dir, pid, &plan, &parent_ch)?;
        if let Some(devices) = linux.net_devices().as_ref().filter(|d| !d.is_empty()) {
            undo.netdevs = Some(netdev::move_into(devices, pid)?);
        }
        // The init builds its rootfs while the cgroup is set up here; it waits for `Placed`
        // before it needs the cgroup and for `Applied` before it needs the limits.
        parent_ch.send(&Msg::Go)?;
        // v1 or hybrid: mountinfo once, for the hierarchies to place the init in, libcgroups'
        // manager and the init's cgroup tree. The list reaches the init before it is placed,
        // whenever it gets to it.
        let mountinfo = (!pure_v2 && !no_cgroup).then(|| crate::linux::read_proc_text("/proc/self/mountinfo").unwrap_or_default());
        if let Some(info) = mountinfo.as_deref().filter(|_| mounts_v1_tree(spec)) {
            parent_ch.send(&Msg::Hierarchies(crate::linux::rootfs::hierarchies_in(info)))?;
        }
        // First the cgroup itself, which the init needs for a cgroup namespace or mount (v1: it
        // joins each hierarchy itself, on receipt); then its limits, while the init goes on
        // with its rootfs, and which it waits for before its final steps.
        let tasks = match no_cgroup {
            true => vec![],
            false => make_cgroup(pid, cg_path.clone(), opts.id, opts.systemd_cgroup, !plan.new_pid, mountinfo.as_deref(), undo)?,
        };
        // Recorded before the init joins it, so a create killed from here on leaves what
        // `delete --force` needs to remove it.
        if !saved_at_clone {
            save_creating(dir, &mut state, pid, undo.cgroup.as_ref())?;
        }
        for (path, fd) in &tasks {
            parent_ch.send(&Msg::CgroupTasks(fd.as_raw_fd(), path.clone()))?;
        }
        drop(tasks);
        parent_ch.send(&Msg::Placed)?;
        crate::log::debug("create: init placed in its cgroup");
        if let Some(cg) = undo.cgroup.as_ref() {
            cg.apply(linux.resources().as_ref())?;
        }
        set_oom_score_adj(pid, spec)?;
        crate::log::debug("create: init's cgroup ready");
        crate::fault::point("after-cgroup", None)?;
        parent_ch.send(&Msg::Applied)?;
        // While the init finishes its rootfs: closing the view's mount waits for a grace period.
        crate::linux::seal::release_view_mount();
        loop {
            match parent_ch.recv()? {
                Some(Msg::Ready) => {
                    crate::log::debug("create: init ready");
                    return Ok(());
                }
                Some(Msg::Hooks) => {
                    let json = state.oci_json("creating", pid).to_string();
                    hooks::run(&state.hooks, Phase::Prestart, &json)?;
                    hooks::run(&state.hooks, Phase::CreateRuntime, &json)?;
                    parent_ch.send(&Msg::HooksDone)?;
                }
                Some(Msg::SeccompFd(fd)) => {
                    // SAFETY: the channel just received this descriptor; nothing else owns it.
                    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                    send_listener(linux, pid, state.oci_json("creating", pid), &fd)?;
                }
                Some(Msg::Error(msg)) => return Err(Error::Init(msg)),
                Some(m) => return Err(Error::Other(format!("init sent {m:?} during setup"))),
                None => return Err(Error::Init("container init exited during setup".into())),
            }
        }
    })();
    if let Err(e) = setup {
        // An init that failed meanwhile explains the failure better than what it broke here
        // (a vanished pid, a closed channel).
        return Err(match parent_ch.try_recv() {
            Some(Msg::Error(msg)) => Error::Init(msg),
            _ => e,
        });
    }
    state.cgroup = match undo.cgroup.as_ref() {
        Some(cg) => cg.record.clone(),
        None => crate::container::CgroupRecord { path: cg_path, none: true, ..Default::default() },
    };
    state.creating = false;
    crate::fault::point("before-save", None)?;
    dir.save(&state)?;
    if let Some(p) = opts.pid_file {
        let p = absolute(p);
        write_atomic(&p, pid.to_string().as_bytes(), 0o644)?;
    }
    // Success: the init stays, and so do the cgroup and the state dir.
    undo.init_pid = None;
    undo.cgroup = None;
    undo.poststop = None;
    undo.netdevs = None;
    Ok(state)
}

/// Save state.json while create still runs (`creating`): the init and its cgroup exist, so a
/// create killed from here on leaves what `delete --force` needs to remove them.
fn save_creating(dir: &ContainerDir, state: &mut State, pid: i32, cgroup: Option<&Cgroup>) -> Result<()> {
    // The start time is what tells this init from a later process with its pid: a state saved
    // without it would make every later status read "stopped".
    state.init_start_time = process_start_time(pid)
        .ok_or_else(|| Error::Init(format!("the container's init (pid {pid}) exited during setup: /proc/{pid}/stat is gone")))?;
    state.cgroup = cgroup.map(|c| c.record.clone()).unwrap_or_default();
    dir.save(state)
}

/// Socket activation (sd_listen_fds): LISTEN_FDS=N passes fds 3..3+N-1 to the container, whose
/// process sees LISTEN_PID=1. Ignored when LISTEN_PID names another process.
fn socket_activation_fds() -> u32 {
    let Some(n) = std::env::var("LISTEN_FDS").ok().and_then(|v| v.parse::<u32>().ok()) else { return 0 };
    match std::env::var("LISTEN_PID").ok().and_then(|v| v.parse::<u32>().ok()) {
        Some(pid) if pid != std::process::id() => 0,
        _ => n,
    }
}

/// Hand a seccomp listener to the agent named by `linux.seccomp.listenerPath`.
pub(super) fn send_listener(linux: &oci_spec::runtime::Linux, pid: i32, state: serde_json::Value, fd: &std::os::fd::OwnedFd) -> Result<()> {
    let Some(sc) = linux.seccomp() else { return Ok(()) };
    let Some(path) = sc.listener_path() else { return Ok(()) };
    crate::linux::seccomp::send_to_agent(path, sc.listener_metadata().as_deref(), pid, state, fd.as_raw_fd())
}

/// Make the init's cgroup. The init is in it on return, except in v1 hierarchies: their `tasks`
/// files are returned for the init to join itself.
fn make_cgroup(pid: i32, path: PathBuf, id: &str, systemd: bool, shares_pid_ns: bool, mountinfo: Option<&str>, undo: &mut Undo) -> Result<Vec<cgroups::TasksFile>> {
    // Made before the clone (v2 or the unified tree of a hybrid host), or made now.
    let cgroup = match undo.cgroup {
        Some(ref mut c) => c,
        None => {
            let mut cg = Cgroup::new_for_create(path, id, systemd)?;
            cg.record.shares_pid_ns = shares_pid_ns;
            undo.cgroup.insert(cg)
        }
    };
    if let Some(info) = mountinfo {
        cgroup.with_v1_tables(info);
    }
    cgroup.place(pid)
}

/// `process.oomScoreAdj`, written for the init. Lowering it needs CAP_SYS_RESOURCE: rootless,
/// a value below the caller's fails, naming that.
fn set_oom_score_adj(pid: i32, spec: &oci_spec::runtime::Spec) -> Result<()> {
    let Some(adj) = spec.process().as_ref().and_then(|p| p.oom_score_adj()) else { return Ok(()) };
    let p = format!("/proc/{pid}/oom_score_adj");
    std::fs::write(&p, adj.to_string()).map_err(|e| match e.raw_os_error() {
        Some(libc::EACCES) | Some(libc::EPERM) => Error::config(
            "process.oomScoreAdj",
            format!("{adj} is below the runtime's own oom_score_adj, and lowering it needs CAP_SYS_RESOURCE, which the runtime does not hold (rootless, or a capability-bounded caller)"),
        ),
        _ => Error::io("set oom_score_adj in", &p, e),
    })
}

/// `p` from the current directory when relative (`--pid-file`).
pub fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf())
    }
}

/// Clone the init. Namespaces joined by path are entered in a short-lived intermediate that then
/// clones the init as a sibling (CLONE_PARENT), so init stays a child of this process either way.
fn spawn_init(ctx: &InitCtx, parent_ch: &Channel) -> Result<i32> {
    if !ctx.plan.has_joins() {
        let flags = match ctx.unshare_net {
            true => ctx.plan.clone_flags & !(libc::CLONE_NEWNET as u64),
            false => ctx.plan.clone_flags,
        };
        let pid = fork_with_flags(flags, ctx.cgroup_fd).ctx(|| "clone container init".into())?;
        if pid == 0 {
            drop_runtime_descriptors(parent_ch);
            init::run(ctx);
        }
        return Ok(pid);
    }
    let opened = namespaces::open_joins(ctx.plan)?;
    let mid = fork_with_flags(0, None).ctx(|| "fork namespace-joining helper".into())?;
    if mid == 0 {
        drop_runtime_descriptors(parent_ch);
        let res = namespaces::join(&opened).and_then(|()| {
            fork_with_flags(ctx.plan.clone_flags | libc::CLONE_PARENT as u64, ctx.cgroup_fd).ctx(|| "clone container init".into())
        });
        match res {
            Ok(0) => init::run(ctx),
            Ok(pid) => {
                let _ = ctx.chan.send(&Msg::Pid(pid));
                // SAFETY: _exit ends this forked helper without running the parent's atexit
                // handlers or destructors twice.
                unsafe { libc::_exit(0) }
            }
            Err(e) => {
                let _ = ctx.chan.send(&Msg::Error(e.to_string()));
                // SAFETY: as above.
                unsafe { libc::_exit(1) }
            }
        }
    }
    drop(opened);
    let msg = parent_ch.recv();
    let _ = waitpid(Pid::from_raw(mid), None);
    match msg? {
        Some(Msg::Pid(pid)) => Ok(pid),
        Some(Msg::Error(e)) => Err(Error::Init(e)),
        _ => Err(Error::Init("namespace-joining helper exited without starting init".into())),
    }
}

/// Whether the init makes its new network namespace itself, with unshare once it runs, rather
/// than clone making it. Making one takes about half a millisecond (the loopback device, the
/// per-namespace sysctls), which clone spends before it returns to `create`; the init spends it
/// instead while `create` makes the cgroup, before the init needs it (sysfs shows the network
/// namespace of whoever mounts it, and the hooks look at /proc/PID/ns/net, both later). Not when
/// `create` itself needs the namespace right after the clone: net devices moved into it, or
/// namespaces joined by path (the init is then cloned by a helper).
fn net_by_unshare(plan: &NsPlan, linux: &oci_spec::runtime::Linux) -> bool {
    plan.new_net && !plan.has_joins() && linux.net_devices().as_ref().is_none_or(|d| d.is_empty())
}

/// Whether the config mounts cgroups on a host that is not pure v2: the init then mounts every
/// hierarchy the host has (`rootfs::mount_cgroup`), whose list `create` sends it.
fn mounts_v1_tree(spec: &oci_spec::runtime::Spec) -> bool {
    spec.mounts().iter().flatten().any(|m| matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2")))
}

/// In a process cloned from the runtime, first thing: close its copy of the runtime's end of the
/// channel, so that the channel reads EOF when the runtime goes away (killed mid-create) and the
/// init ends instead of waiting forever; and its copy of the sealed view's mount, so that the
/// runtime's close is the last (`seal::release_view_mount`) and nothing in the container's
/// namespaces holds it.
fn drop_runtime_descriptors(parent_ch: &Channel) {
    let _ = nix::unistd::close(parent_ch.raw());
    crate::linux::seal::release_view_mount();
}

/// Make the config's idmapped mounts here, where the source's filesystem is ours to idmap, and
/// hand them to the init (see `linux::idmap`).
fn send_idmapped_mounts(spec: &oci_spec::runtime::Spec, bundle: &Path, pid: i32, plan: &NsPlan, ch: &Channel) -> Result<()> {
    let mounts = spec.mounts().as_deref().unwrap_or(&[]);
    if !mounts.iter().any(idmap::is_idmapped) {
        return Ok(());
    }
    let in_userns = plan.new_user || plan.joins_type(oci_spec::runtime::LinuxNamespaceType::User);
    let userns = in_userns.then(|| PathBuf::from(format!("/proc/{pid}/ns/user")));
    for (i, fd) in idmap::detached_mounts(mounts, bundle, userns.as_deref())? {
        ch.send(&Msg::MountFd(i as u32, fd.as_raw_fd()))?;
    }
    Ok(())
}
