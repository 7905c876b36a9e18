//! `restore`: make a container from CRIU images, with the id given (the dumped one's or a new
//! one), its state, cgroup and limits as `create` + `start` would leave them, and its processes
//! as they were dumped. A failed restore leaves no state dir, cgroup or mount.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use oci_spec::runtime::LinuxNamespaceType;
use rust_criu::rust_criu_protobuf::rpc::{Cgroup_root, Criu_opts, Criu_req, Criu_req_type, Ext_mount_map, Inherit_fd};

use super::{Common, Swrk};
use crate::bundle::Bundle;
use crate::cgroups::{self, Cgroup};
use crate::container::{self, process_start_time, ContainerDir, State};
use crate::error::{Context, Error, Result};
use crate::hooks::{self, Phase};
use crate::linux::namespaces::NsPlan;

#[derive(Debug, Default)]
pub struct Options<'a> {
    pub common: Common,
    pub id: &'a str,
    pub bundle: PathBuf,
    pub console_socket: Option<PathBuf>,
    pub pid_file: Option<PathBuf>,
    pub systemd_cgroup: bool,
    pub lsm_profile: Option<String>,
    pub lsm_mount_context: Option<String>,
}

/// Restore the container; returns its state (the init is a child of this process).
pub fn restore(root: &Path, o: &Options) -> Result<(ContainerDir, State)> {
    container::validate_id(o.id)?;
    let criu = super::ready("restore")?;
    let bundle = Bundle::load(&o.bundle)?;
    let images = o.common.image_dir()?;
    if !images.join("inventory.img").is_file() {
        return Err(Error::Other(format!("restore: {} holds no checkpoint (no inventory.img)", images.display())));
    }
    let console = crate::linux::console::socket_for(terminal_of(&bundle.spec), o.console_socket.as_deref(), false)?;
    let dir = ContainerDir::create(root, o.id)?;
    let mut cgroup = None;
    let mut pid = None;
    let res = restore_in(&criu, &bundle, &images, &dir, o, console, &mut cgroup, &mut pid);
    if res.is_err() {
        if let Some(p) = pid {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
            let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(p), None);
        }
        if let Some(cg) = cgroup {
            // Whatever CRIU left in it is killed before the cgroup is removed.
            let mut record = cg.record.clone();
            record.shares_pid_ns = true;
            if let Err(e) = cgroups::remove(&record) {
                crate::log::warn(format!("cleanup after failed restore: {e}"));
            }
        }
        let _ = dir.remove();
    }
    res.map(|s| (dir, s))
}

#[allow(clippy::too_many_arguments)]
fn restore_in(
    criu: &Path,
    bundle: &Bundle,
    images: &Path,
    dir: &ContainerDir,
    o: &Options,
    console: Option<OwnedFd>,
    cgroup: &mut Option<Cgroup>,
    restored_pid: &mut Option<i32>,
) -> Result<State> {
    let spec = &bundle.spec;
    let linux = spec.linux().as_ref().ok_or_else(|| Error::config("linux", "missing"))?;
    let images_fd = super::open_dir(images, false)?;
    let work = o.common.work_path.clone().unwrap_or_else(|| images.to_path_buf());
    let work_fd = super::open_dir(&work, true)?;

    let mut state = State::creating(bundle, o.id);

    // The rootfs must be a mount point for CRIU: a bind of it, in a mount namespace of this
    // process's own, so that nothing is left on the host whatever happens to this process.
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).ctx(|| "unshare the mount namespace for restore".into())?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_SLAVE | MsFlags::MS_REC, None::<&str>).ctx(|| "make / a slave mount".into())?;
    let criu_root = dir.path.join("criu-root");
    std::fs::create_dir(&criu_root).map_err(|e| Error::io("create", &criu_root, e))?;
    mount(Some(&bundle.rootfs), &criu_root, None::<&str>, MsFlags::MS_BIND | MsFlags::MS_REC, None::<&str>)
        .ctx(|| format!("bind the rootfs {} for CRIU", bundle.rootfs.display()))?;
    // Detached on every way out of this function, before anything removes the state dir (whose
    // removal would otherwise descend into the rootfs).
    let _bound = RootBind(criu_root.clone());

    let cg_path = cgroups::resolve_path(linux.cgroups_path().as_deref(), o.id, o.systemd_cgroup)?;
    let mut opts = Criu_opts::new();
    o.common.fill(&mut opts)?;
    opts.set_images_dir_fd(images_fd.as_raw_fd());
    opts.set_work_dir_fd(work_fd.as_raw_fd());
    opts.set_log_level(4);
    opts.set_log_file("restore.log".into());
    opts.set_root(criu_root.to_string_lossy().into_owned());
    // hull makes the cgroup and applies the config's limits, and CRIU runs in it, so what it
    // restores is born there: unless asked otherwise, CRIU leaves cgroups alone (its own
    // management would mount a hierarchy in a scratch tmpfs, a "cgroup yard", first).
    if o.common.manage_cgroups_mode.is_none() {
        opts.set_manage_cgroups_mode(rust_criu::rust_criu_protobuf::rpc::Criu_cg_mode::IGNORE);
    }
    opts.set_manage_cgroups(true);
    opts.set_notify_scripts(true);
    opts.set_rst_sibling(true);
    opts.set_orphan_pts_master(terminal_of(spec));
    if let Some(p) = &o.lsm_profile {
        opts.set_lsm_profile(p.clone());
    }
    if let Some(c) = &o.lsm_mount_context {
        opts.set_lsm_mount_context(c.clone());
    }
    let root_fd = crate::linux::open_fd(&criu_root, nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY)
        .map_err(|e| Error::sys(format!("open {}", criu_root.display()), e))?;
    for (dest, source) in external_sources(spec, &bundle.dir, &cg_path) {
        make_mountpoint(&root_fd, &dest, &source)?;
        let mut m = Ext_mount_map::new();
        m.set_key(dest);
        m.set_val(source.to_string_lossy().into_owned());
        opts.ext_mnt.push(m);
    }
    // Namespaces the config joins by path were recorded as external at checkpoint: the ones
    // the config names now are handed to CRIU under the same keys (kept open until it is done).
    let mut joined = Vec::new();
    for (t, key) in [(LinuxNamespaceType::Network, "extRootNetNS"), (LinuxNamespaceType::Pid, "extRootPidNS")] {
        let path = linux.namespaces().as_deref().unwrap_or(&[]).iter().find(|n| n.typ() == t).and_then(|n| n.path().clone());
        if let Some(path) = path {
            let fd = crate::linux::open_fd(&path, nix::fcntl::OFlag::O_RDONLY).map_err(|e| Error::sys(format!("open the namespace {}", path.display()), e))?;
            let mut i = Inherit_fd::new();
            i.set_key(key.into());
            i.set_fd(fd.as_raw_fd());
            opts.inherit_fd.push(i);
            joined.push(fd);
        }
    }
    // The dumped init's pipes are reconnected to this process's stdio, as runc does.
    let descriptors: Vec<String> = std::fs::read(images.join(super::DESCRIPTORS))
        .ok()
        .and_then(|d| serde_json::from_slice(&d).ok())
        .unwrap_or_default();
    let mut inherit = vec![images_fd.as_raw_fd(), work_fd.as_raw_fd()];
    inherit.extend(joined.iter().map(|f| f.as_raw_fd()));
    for (fd, key) in descriptors.iter().enumerate().take(3) {
        if key.starts_with("pipe:") {
            let mut i = Inherit_fd::new();
            i.set_key(key.clone());
            i.set_fd(fd as i32);
            opts.inherit_fd.push(i);
            inherit.push(fd as i32);
        }
    }

    let swrk = Swrk::start(criu, &inherit)?;
    // The cgroup first, with CRIU in it: what it restores is born there.
    // Made level by level as create makes it (v2: with the controllers enabled on the way), so
    // that delete removes what was made.
    let mut cg = match Cgroup::prepare_for_clone(cg_path.clone(), o.id, o.systemd_cgroup)? {
        Some((cg, _dir)) => cg,
        None => Cgroup::new_for_create(cg_path.clone(), o.id, o.systemd_cgroup)?,
    };
    cg.record.shares_pid_ns = !NsPlan::from_config(linux).new_pid;
    let cg = cgroup.insert(cg);
    if !cg.place(swrk.pid())?.is_empty() {
        // v1: the directories are made; CRIU is moved in from here.
        cgroups::join(&cg.record, swrk.pid(), None)?;
    }
    cg.apply(linux.resources().as_ref())?;
    let own = std::fs::read_to_string(format!("/proc/{}/cgroup", swrk.pid())).unwrap_or_default();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrl, path) = (parts.next(), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let mut r = Cgroup_root::new();
        r.set_ctrl(ctrl.trim_start_matches("name=").to_string());
        r.set_path(path.to_string());
        opts.cg_root.push(r);
    }
    state.cgroup = cg.record.clone();
    dir.save(&state)?;

    let mut req = Criu_req::new();
    req.set_type(Criu_req_type::RESTORE);
    req.opts = Some(opts).into();
    crate::log::debug(format!("restore: criu RESTORE of {} as {}", images.display(), o.id));
    let console_fd = console.as_ref().map(|c| c.as_raw_fd());
    let result = swrk.call(req, |n, fd| {
        match n.script() {
            "setup-namespaces" => {
                let json = state.oci_json("creating", n.pid()).to_string();
                hooks::run(&state.hooks, Phase::Prestart, &json)?;
                hooks::run(&state.hooks, Phase::CreateRuntime, &json)?;
            }
            "post-restore" => *restored_pid = Some(n.pid()),
            "orphan-pts-master" => {
                let (Some(sock), Some(master)) = (console_fd, fd) else {
                    return Err(Error::Other("restore: CRIU sent no pty master, or there is no console socket for it".into()));
                };
                crate::linux::console::send_fd(sock, "restored", master.as_raw_fd())
                    .ctx(|| "send the pty master over the console socket".into())?;
            }
            _ => {}
        }
        Ok(())
    });
    drop(_bound);
    let resp = result.map_err(|e| Error::Other(format!("restore of container {}: {e}; {}", o.id, super::log_hint(&work, "restore.log"))))?;
    let pid = match resp.restore.pid() {
        0 => restored_pid.ok_or_else(|| Error::Other("restore: CRIU reported no pid".into()))?,
        p => p,
    };
    *restored_pid = Some(pid);
    state.pid = pid;
    state.init_start_time = process_start_time(pid).ok_or_else(|| Error::Other(format!("restore: the restored init (pid {pid}) is gone")))?;
    state.creating = false;
    dir.save(&state)?;
    if let Some(p) = &o.pid_file {
        container::write_atomic(&crate::launch::absolute(p), pid.to_string().as_bytes(), 0o644)?;
    }
    let json = state.oci_json("running", pid).to_string();
    let _ = hooks::run(&state.hooks, Phase::Poststart, &json);
    Ok(state)
}

/// The rootfs bind CRIU restores into: detached and its mount point removed on drop.
struct RootBind(PathBuf);

impl Drop for RootBind {
    fn drop(&mut self) {
        let _ = umount2(&self.0, MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&self.0);
    }
}

fn terminal_of(spec: &oci_spec::runtime::Spec) -> bool {
    spec.process().as_ref().and_then(|p| p.terminal()) == Some(true)
}

/// The sources of the mounts checkpoint recorded as external, by destination: a bind's source
/// (relative ones from the bundle), and for the cgroup filesystem the container's own cgroup.
fn external_sources(spec: &oci_spec::runtime::Spec, bundle: &Path, cg_path: &Path) -> Vec<(String, PathBuf)> {
    let mut v = Vec::new();
    for m in spec.mounts().as_deref().unwrap_or(&[]).iter().filter(|m| super::checkpoint::is_external(m)) {
        let dest = m.destination().to_string_lossy().into_owned();
        let source = match m.typ().as_deref() {
            Some("cgroup") | Some("cgroup2") => Path::new("/sys/fs/cgroup").join(cg_path.strip_prefix("/").unwrap_or(cg_path)),
            _ => {
                let s = m.source().clone().unwrap_or_default();
                if s.is_absolute() {
                    s
                } else {
                    bundle.join(s)
                }
            }
        };
        v.push((dest, source));
    }
    v
}

/// CRIU binds external mounts onto their mount points in the rootfs: make a missing one, a
/// directory or a file as the source is. Resolved inside the rootfs (openat2 RESOLVE_IN_ROOT):
/// a symlink in the image cannot make hull create anything outside it.
fn make_mountpoint(root: &OwnedFd, dest: &str, source: &Path) -> Result<()> {
    use crate::linux::safe_path::{create_in_root, Kind};
    use std::os::fd::AsFd;
    let kind = if source.is_dir() { Kind::Dir } else { Kind::File };
    create_in_root(root.as_fd(), Path::new(dest), kind).map(drop).map_err(|e| Error::sys(format!("restore: make the mount point {dest:?} in the rootfs"), e))
}
