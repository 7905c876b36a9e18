//! `checkpoint`: dump a running container's processes to images with CRIU (runc's semantics).
//! The container is frozen through its cgroup while CRIU dumps it; afterwards it is gone (CRIU
//! ends its processes and hull deletes it), unless `--leave-running` or `--pre-dump`. A failed
//! dump leaves it running: CRIU thaws what it froze.

use std::os::fd::AsRawFd;
use std::path::PathBuf;

use oci_spec::runtime::LinuxNamespaceType;
use rust_criu::rust_criu_protobuf::rpc::{Criu_opts, Criu_page_server_info, Criu_req, Criu_req_type, Ext_mount_map};

use super::{Common, Swrk};
use crate::container::{self, ContainerDir, Status};
use crate::error::{Error, Result};

#[derive(Debug, Default)]
pub struct Options {
    pub common: Common,
    pub leave_running: bool,
    pub pre_dump: bool,
    /// Images of an earlier pre-dump, relative to the image directory (CRIU's parent link).
    pub parent_path: Option<String>,
    pub status_fd: Option<i32>,
    pub lazy_pages: bool,
    /// ADDRESS:PORT of a CRIU page server that receives the memory pages.
    pub page_server: Option<String>,
}

pub fn checkpoint(root: &std::path::Path, id: &str, o: &Options) -> Result<()> {
    if o.lazy_pages {
        return Err(Error::Usage(
            "--lazy-pages is not supported by hull: it needs a lazy-pages daemon serving the pages on restore, which hull does not run; dump the pages to the images, or send them to a page server with --page-server".into(),
        ));
    }
    let dir = ContainerDir::open(root, id)?;
    let state = dir.load()?;
    match dir.status(&state) {
        Status::Running => {}
        other => {
            return Err(Error::WrongState(format!("cannot checkpoint container {id}: it is {}, not running", other.as_str())));
        }
    }
    let criu = super::ready("checkpoint")?;
    let images = o.common.image_dir()?;
    let images_fd = super::open_dir(&images, true)?;
    let work = o.common.work_path.clone().unwrap_or_else(|| images.clone());
    let work_fd = super::open_dir(&work, true)?;
    // The init's stdio, for restore to reconnect (pipes) from its own.
    let descriptors: Vec<String> = (0..3)
        .map(|fd| std::fs::read_link(format!("/proc/{}/fd/{fd}", state.pid)).map(|p| p.to_string_lossy().into_owned()).unwrap_or_default())
        .collect();
    let json = serde_json::to_vec(&descriptors).map_err(|e| Error::Other(e.to_string()))?;
    container::write_atomic(&images.join(super::DESCRIPTORS), &json, 0o600)?;

    let mut opts = Criu_opts::new();
    o.common.fill(&mut opts)?;
    opts.set_images_dir_fd(images_fd.as_raw_fd());
    opts.set_work_dir_fd(work_fd.as_raw_fd());
    opts.set_log_level(4);
    let log = if o.pre_dump { "pre-dump.log" } else { "dump.log" };
    opts.set_log_file(log.into());
    opts.set_pid(state.pid);
    opts.set_root(state.rootfs.to_string_lossy().into_owned());
    opts.set_manage_cgroups(true);
    opts.set_notify_scripts(true);
    opts.set_orphan_pts_master(true);
    opts.set_leave_running(o.leave_running || o.pre_dump);
    if o.pre_dump || o.parent_path.is_some() {
        // Memory changes are tracked from a pre-dump on, so the next dump writes only them.
        opts.set_track_mem(true);
    }
    if let Some(p) = &o.parent_path {
        opts.set_parent_img(p.clone());
    }
    if let Some(fd) = o.status_fd {
        opts.set_status_fd(fd);
    }
    if let Some(ps) = &o.page_server {
        let (addr, port) = ps.rsplit_once(':').ok_or_else(|| Error::Usage(format!("--page-server {ps:?}: expected ADDRESS:PORT")))?;
        let port: i32 = port.parse().map_err(|_| Error::Usage(format!("--page-server {ps:?}: the port is not a number")))?;
        let mut info = Criu_page_server_info::new();
        info.set_address(addr.trim_matches(|c| c == '[' || c == ']').to_string());
        info.set_port(port);
        opts.ps = Some(info).into();
    }
    if let Some(f) = crate::cgroups::freezer_dir(&state.cgroup) {
        opts.set_freeze_cgroup(f.to_string_lossy().into_owned());
    }
    // Mounts from outside the container: CRIU records them by their destination, and restore
    // names their source again.
    let bundle = crate::bundle::Bundle::load(&state.bundle)?;
    for dest in external_mounts(&bundle.spec) {
        let mut m = Ext_mount_map::new();
        m.set_key(dest.clone());
        m.set_val(dest);
        opts.ext_mnt.push(m);
    }
    // Namespaces joined by path belong to someone else: CRIU records them as external.
    for (t, key) in [(LinuxNamespaceType::Network, "extRootNetNS"), (LinuxNamespaceType::Pid, "extRootPidNS")] {
        if let Some(ino) = joined_ns_inode(&bundle.spec, t, state.pid) {
            let kind = if t == LinuxNamespaceType::Network { "net" } else { "pid" };
            opts.external.push(format!("{kind}[{ino}]:{key}"));
        }
    }

    let mut req = Criu_req::new();
    req.set_type(if o.pre_dump { Criu_req_type::PRE_DUMP } else { Criu_req_type::DUMP });
    req.opts = Some(opts).into();
    let mut inherit = vec![images_fd.as_raw_fd(), work_fd.as_raw_fd()];
    inherit.extend(o.status_fd);
    crate::log::debug(format!("checkpoint: criu {:?} of pid {} into {}", req.type_(), state.pid, images.display()));
    Swrk::start(&criu, &inherit)?
        .call(req, |_, _| Ok(()))
        .map_err(|e| Error::Other(format!("checkpoint of container {id}: {e}; {}", super::log_hint(&work, log))))?;
    if o.leave_running || o.pre_dump {
        return Ok(());
    }
    // CRIU ended the container's processes: what remains is deleted, as runc does.
    container::destroy(&dir, &state)
}

/// Destinations of the config's mounts whose source is outside the container.
fn external_mounts(spec: &oci_spec::runtime::Spec) -> Vec<String> {
    spec.mounts().as_deref().unwrap_or(&[]).iter().filter(|m| is_external(m)).map(|m| m.destination().to_string_lossy().into_owned()).collect()
}

/// A mount CRIU records as external: a bind, or the cgroup filesystem (which CRIU cannot dump
/// inside a cgroup namespace).
pub fn is_external(m: &oci_spec::runtime::Mount) -> bool {
    let bind = m.options().as_deref().unwrap_or(&[]).iter().any(|o| o == "bind" || o == "rbind") || m.typ().as_deref() == Some("bind");
    bind || matches!(m.typ().as_deref(), Some("cgroup" | "cgroup2"))
}

/// The inode of a namespace of type `t` that the config joins by path (the one the init is in).
fn joined_ns_inode(spec: &oci_spec::runtime::Spec, t: LinuxNamespaceType, pid: i32) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    let joined = spec.linux().as_ref()?.namespaces().as_ref()?.iter().any(|n| n.typ() == t && n.path().is_some());
    if !joined {
        return None;
    }
    let name = if t == LinuxNamespaceType::Network { "net" } else { "pid" };
    std::fs::metadata(PathBuf::from(format!("/proc/{pid}/ns/{name}"))).ok().map(|m| m.ino())
}
