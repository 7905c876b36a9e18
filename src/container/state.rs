//! What hull persists about a container in `state.json`. The status is not stored: it is derived
//! from the init process and the state directory each time (see `status.rs`).

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{Hooks, LinuxSeccomp, Process};
use serde::{Deserialize, Serialize};

use super::STATE_FILE;
use crate::error::{Error, Result};

#[derive(Serialize, Deserialize, Debug, Clone)]
#[serde(rename_all = "camelCase")]
pub struct State {
    pub oci_version: String,
    pub id: String,
    /// Host pid of the container's init.
    pub pid: i32,
    /// Start time of init (field 22 of /proc/<pid>/stat), to detect pid reuse.
    pub init_start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default, skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    pub owner: String,
    pub cgroup: CgroupRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hooks: Option<Hooks>,
    /// The config's process and seccomp profile: the defaults of `exec`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seccomp: Option<LinuxSeccomp>,
    /// The caller's NOTIFY_SOCKET (sd_notify), to which `start` relays READY=1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_socket: Option<PathBuf>,
    /// Saved while create is still running (the init and its cgroup exist, setup goes on):
    /// status `creating`. A create killed at that point leaves this state for `delete --force`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub creating: bool,
    /// `linux.personality`, which exec'd processes get too (as runc 1.2 and youki do).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personality: Option<oci_spec::runtime::LinuxPersonality>,
    /// No mount namespace of the container's own: the id of the rootfs bind made in the
    /// runtime's mount namespace, detached (with everything below it) by delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_rootfs_mount: Option<u64>,
}

/// state.json's path and bytes, and the uid that owns the file (`list`'s OWNER); a state dir
/// that is a symlink is refused. Open, fstat, one read of the size fstat gave, close: `list`
/// reads one per container. state.json is written whole before it is renamed into place, so
/// the file opened has that size.
fn read_state_file(dir: &Path) -> Result<(PathBuf, Vec<u8>, u32)> {
    if dir.is_symlink() {
        return Err(Error::Other(format!("state dir {dir:?} is a symlink; refusing to use it")));
    }
    let p = dir.join(STATE_FILE);
    match fs::File::open(&p) {
        Ok(f) => read_opened(f, p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::NotExist),
        Err(e) => Err(Error::io("read", &p, e)),
    }
}

/// `read_state_file` of the container `id` under the state root open as `root` (`list`): one
/// openat2 that refuses a symlink anywhere below the root, where a state dir that is a symlink
/// is refused otherwise by a stat of its own. A container without state.json (a create still
/// making it, or one that died) reads as `NotExist`.
fn read_state_file_at(root: std::os::fd::BorrowedFd, root_path: &Path, id: &str) -> Result<(PathBuf, Vec<u8>, u32)> {
    let rel = Path::new(id).join(STATE_FILE);
    let p = root_path.join(&rel);
    let resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS;
    match crate::linux::safe_path::openat2_resolve(root, &rel, libc::O_RDONLY, resolve) {
        Ok(fd) => read_opened(fs::File::from(fd), p),
        Err(nix::errno::Errno::ENOENT) => Err(Error::NotExist),
        // Without openat2 (valgrind does not know it), by path.
        Err(nix::errno::Errno::ENOSYS) => read_state_file(&root_path.join(id)),
        Err(nix::errno::Errno::ELOOP) => Err(Error::Other(format!("state dir {:?} is a symlink; refusing to use it", root_path.join(id)))),
        Err(e) => Err(Error::sys(format!("read {p:?}"), e)),
    }
}

fn read_opened(mut f: fs::File, p: PathBuf) -> Result<(PathBuf, Vec<u8>, u32)> {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let meta = f.metadata().map_err(|e| Error::io("stat", &p, e))?;
    let mut data = vec![0u8; meta.len() as usize];
    f.read_exact(&mut data).map_err(|e| Error::io("read", &p, e))?;
    Ok((p, data, meta.uid()))
}

/// The fields of `State` that `load_summary` reads; serde skips the others.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    oci_version: String,
    id: String,
    pid: i32,
    init_start_time: u64,
    bundle: PathBuf,
    rootfs: PathBuf,
    created: String,
    #[serde(default)]
    annotations: HashMap<String, String>,
    owner: String,
    cgroup: SummaryCgroup,
    #[serde(default)]
    notify_socket: Option<PathBuf>,
    #[serde(default)]
    creating: bool,
    #[serde(default)]
    host_rootfs_mount: Option<u64>,
}

/// `CgroupRecord` without the directories create made (a path per hierarchy and level: most of
/// the record), which only delete needs.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SummaryCgroup {
    path: PathBuf,
    created: bool,
    #[serde(default)]
    systemd: bool,
    #[serde(default)]
    shares_pid_ns: bool,
    #[serde(default)]
    none: bool,
    #[serde(default)]
    unified: Option<PathBuf>,
}

/// Where the container's cgroup is and whether hull made it (only then is it removed).
#[derive(Serialize, Deserialize, Debug, Clone, Default)]
#[serde(rename_all = "camelCase")]
pub struct CgroupRecord {
    pub path: PathBuf,
    pub created: bool,
    /// Every directory (in every hierarchy) that did not exist before create, deepest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub created_dirs: Vec<PathBuf>,
    #[serde(default)]
    pub systemd: bool,
    /// The container has no pid namespace of its own (inherited or joined): processes left in its
    /// cgroup at delete are its own and are killed, as runc does. With a pid namespace of its own
    /// they died with its init, and what is left belongs to another container sharing the cgroup.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub shares_pid_ns: bool,
    /// No cgroup at all: a rootless container where this user could make none.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub none: bool,
    /// The cgroup's path in the v2 hierarchy when `path` is not one: the scope systemd made for
    /// a `slice:prefix:name` path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unified: Option<PathBuf>,
}

impl CgroupRecord {
    /// The cgroup's directory relative to a hierarchy root (`hull-test/x`, `system.slice/x.scope`).
    pub fn rel(&self) -> &Path {
        let p = self.unified.as_deref().unwrap_or(&self.path);
        p.strip_prefix("/").unwrap_or(p)
    }
}

impl State {
    /// The state of a container being made from `bundle` (create, restore): no init yet.
    pub fn creating(bundle: &crate::bundle::Bundle, id: &str) -> State {
        let spec = &bundle.spec;
        let linux = spec.linux().as_ref();
        State {
            oci_version: spec.version().clone(),
            id: id.to_string(),
            pid: 0,
            init_start_time: 0,
            bundle: bundle.dir.clone(),
            rootfs: bundle.rootfs.clone(),
            created: crate::log::now_rfc3339(),
            annotations: spec.annotations().clone().unwrap_or_default(),
            owner: String::new(),
            cgroup: Default::default(),
            hooks: spec.hooks().clone(),
            process: spec.process().clone(),
            seccomp: linux.and_then(|l| l.seccomp().clone()),
            notify_socket: None,
            creating: true,
            personality: linux.and_then(|l| l.personality().clone()),
            host_rootfs_mount: None,
        }
    }

    pub fn load(dir: &Path) -> Result<State> {
        let (p, data, _) = read_state_file(dir)?;
        State::parse(&data).map_err(|e| Error::Other(format!("state file {p:?} is corrupt: {e}")))
    }

    /// Decode state.json's bytes (what `load` reads).
    pub fn parse(data: &[u8]) -> std::result::Result<State, serde_json::Error> {
        serde_json::from_slice(data)
    }

    /// `load` without the config's hooks, process and seccomp profile (left `None`) and the
    /// cgroup directories create made (left empty), which are most of the file and which
    /// `state` and `list` do not use: serde skips them without building them. For reading
    /// only: never for a verb that changes or removes the container.
    pub fn load_summary(dir: &Path) -> Result<State> {
        let (p, data, _) = read_state_file(dir)?;
        Self::summary_from(&p, &data)
    }

    /// `load_summary` of the container `id` under the state root open as `root`, with the uid
    /// that owns state.json (`list`).
    pub fn load_summary_and_owner(root: std::os::fd::BorrowedFd, root_path: &Path, id: &str) -> Result<(State, u32)> {
        let (p, data, uid) = read_state_file_at(root, root_path, id)?;
        Ok((Self::summary_from(&p, &data)?, uid))
    }

    fn summary_from(p: &Path, data: &[u8]) -> Result<State> {
        let s: Summary = serde_json::from_slice(data).map_err(|e| Error::Other(format!("state file {p:?} is corrupt: {e}")))?;
        Ok(State {
            oci_version: s.oci_version,
            id: s.id,
            pid: s.pid,
            init_start_time: s.init_start_time,
            bundle: s.bundle,
            rootfs: s.rootfs,
            created: s.created,
            annotations: s.annotations,
            owner: s.owner,
            cgroup: CgroupRecord {
                path: s.cgroup.path,
                created: s.cgroup.created,
                created_dirs: vec![],
                systemd: s.cgroup.systemd,
                shares_pid_ns: s.cgroup.shares_pid_ns,
                none: s.cgroup.none,
                unified: s.cgroup.unified,
            },
            hooks: None,
            process: None,
            seccomp: None,
            notify_socket: s.notify_socket,
            creating: s.creating,
            personality: None,
            host_rootfs_mount: s.host_rootfs_mount,
        })
    }

    /// The OCI state object (runtime.md#state) for a given status.
    pub fn oci_json(&self, status: &str, pid: i32) -> serde_json::Value {
        let mut v = serde_json::json!({
            "ociVersion": self.oci_version,
            "id": self.id,
            "pid": pid,
            "status": status,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "owner": self.owner,
        });
        if !self.annotations.is_empty() {
            v["annotations"] = serde_json::to_value(&self.annotations).unwrap_or_default();
        }
        v
    }
}
