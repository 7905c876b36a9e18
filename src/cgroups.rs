//! The one adapter around libcgroups: create a container's cgroup, apply resources, place a
//! process, freeze, list pids and remove what hull created.
//!
//! On hybrid hosts (v1 controllers plus cgroup2 at /sys/fs/cgroup/unified) libcgroups drives the
//! v1 controllers and hull also places the process in the unified tree, as runc does.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libcgroups::common::{
    create_cgroup_manager, get_cgroup_setup, AnyCgroupManager, CgroupConfig, CgroupManager, CgroupSetup,
    ControllerOpt, FreezerState,
};
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use crate::container::CgroupRecord;
use crate::error::{Error, Result};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const UNIFIED_HYBRID: &str = "/sys/fs/cgroup/unified";

/// The cgroup of one container, ready to use.
pub struct Cgroup {
    pub record: CgroupRecord,
    manager: AnyCgroupManager,
    setup: CgroupSetup,
}

/// Resolve `linux.cgroupsPath`: absolute paths are taken as they are; relative (and empty, which
/// means `<id>`) are joined to the runtime's own cgroup as the unified hierarchy (`0::`) reports it.
pub fn resolve_path(config: Option<&Path>, id: &str) -> Result<PathBuf> {
    let p = match config {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from(id),
    };
    if p.is_absolute() {
        return Ok(p);
    }
    let own = fs::read_to_string("/proc/self/cgroup").map_err(|e| Error::io("read", "/proc/self/cgroup", e))?;
    let base = own
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    Ok(base.join(p))
}

fn setup() -> Result<CgroupSetup> {
    get_cgroup_setup().map_err(|e| Error::Cgroup { path: CGROUP_ROOT.into(), msg: e.to_string() })
}

impl Cgroup {
    /// Prepare the manager for a new container at `path`. Records, per hierarchy, every
    /// directory that does not exist yet, so delete removes exactly what create made.
    pub fn new_for_create(path: PathBuf, id: &str) -> Result<Cgroup> {
        let setup = setup()?;
        let rel = path.strip_prefix("/").unwrap_or(&path).to_path_buf();
        let mut created_dirs = Vec::new();
        for base in hierarchy_roots(&setup) {
            let mut cur = rel.clone();
            while !cur.as_os_str().is_empty() && !base.join(&cur).exists() {
                created_dirs.push(base.join(&cur));
                if !cur.pop() {
                    break;
                }
            }
        }
        // Deepest first, the order of removal.
        created_dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
        let record = CgroupRecord { path, created: !created_dirs.is_empty(), created_dirs, systemd: false };
        Self::with_setup(record, setup, id)
    }

    /// The manager of an existing container's cgroup.
    pub fn open(record: &CgroupRecord, id: &str) -> Result<Cgroup> {
        Self::with_setup(record.clone(), setup()?, id)
    }

    fn with_setup(record: CgroupRecord, setup: CgroupSetup, id: &str) -> Result<Cgroup> {
        let manager = create_cgroup_manager(CgroupConfig {
            cgroup_path: record.path.clone(),
            systemd_cgroup: record.systemd,
            container_name: id.to_string(),
        })
        .map_err(|e| Error::Cgroup { path: record.path.clone(), msg: e.to_string() })?;
        Ok(Cgroup { record, manager, setup })
    }

    fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::Cgroup { path: self.record.path.clone(), msg: msg.to_string() }
    }

    fn unified_hybrid_dir(&self) -> Option<PathBuf> {
        match self.setup {
            CgroupSetup::Hybrid => {
                let rel = self.record.path.strip_prefix("/").unwrap_or(&self.record.path);
                Some(Path::new(UNIFIED_HYBRID).join(rel))
            }
            _ => None,
        }
    }

    /// Move `pid` into the cgroup (creating it), and into the unified tree on hybrid hosts.
    pub fn add_task(&self, pid: i32) -> Result<()> {
        self.manager.add_task(Pid::from_raw(pid)).map_err(|e| self.err(format!("add pid {pid}: {e}")))?;
        // libcgroups knows the resource controllers only; like runc, also place the process in
        // the unified tree of a hybrid host and in the name=systemd hierarchy (what systemd in a
        // container looks at).
        let rel = self.record.path.strip_prefix("/").unwrap_or(&self.record.path);
        let named = Path::new(CGROUP_ROOT).join("systemd");
        let extra = [self.unified_hybrid_dir(), (!matches!(self.setup, CgroupSetup::Unified) && named.is_dir()).then(|| named.join(rel))];
        for dir in extra.into_iter().flatten() {
            fs::create_dir_all(&dir).map_err(|e| Error::io("create cgroup", &dir, e))?;
            let procs = dir.join("cgroup.procs");
            fs::write(&procs, pid.to_string()).map_err(|e| Error::io("write", &procs, e))?;
        }
        Ok(())
    }

    /// Apply `linux.resources`. Device access is exactly what `resources.devices` says (in order),
    /// followed by the default devices' rules, as runc: a device listed in `linux.devices` is
    /// created but not implicitly allowed.
    pub fn apply(&self, resources: Option<&LinuxResources>) -> Result<()> {
        let res = resources.cloned().unwrap_or_default();
        self.refuse_unavailable(&res)?;
        let disable_oom_killer = res.memory().as_ref().and_then(|m| m.disable_oom_killer()).unwrap_or(false);
        let opt = ControllerOpt { resources: &res, disable_oom_killer, oom_score_adj: None, freezer_state: None };
        self.manager.apply(&opt).map_err(|e| self.err(format!("apply resources: {e}")))
    }

    /// Resources this host cannot apply are errors, never silently dropped.
    fn refuse_unavailable(&self, res: &LinuxResources) -> Result<()> {
        let v1 = !matches!(self.setup, CgroupSetup::Unified);
        let parent_has = |file: &str| {
            let base = Path::new(CGROUP_ROOT).join(if v1 { "blkio" } else { "" });
            base.join(file).exists()
        };
        if let Some(b) = res.block_io() {
            let weight_file = if v1 { "blkio.weight" } else { "io.weight" };
            // Docker sends `"weight": 0` for "unset", as runc reads it.
            let weight = b.weight().is_some_and(|w| w > 0);
            if (weight || b.weight_device().as_ref().is_some_and(|w| !w.is_empty())) && !parent_has(weight_file) {
                return Err(self.err(format!("linux.resources.blockIO: weights need {weight_file}, which this host does not have")));
            }
            if b.leaf_weight().is_some_and(|w| w > 0) && !parent_has("blkio.leaf_weight") {
                return Err(self.err("linux.resources.blockIO.leafWeight: this host has no blkio.leaf_weight"));
            }
        }
        if res.rdma().as_ref().is_some_and(|r| !r.is_empty()) {
            return Err(self.err("linux.resources.rdma: the rdma controller is not supported by this version of hull"));
        }
        if res.unified().as_ref().is_some_and(|u| !u.is_empty()) && v1 {
            return Err(self.err("linux.resources.unified: needs a cgroup v2 host; this host uses cgroup v1 controllers"));
        }
        Ok(())
    }

    pub fn freeze(&self, frozen: bool) -> Result<()> {
        let st = if frozen { FreezerState::Frozen } else { FreezerState::Thawed };
        self.manager.freeze(st).map_err(|e| self.err(format!("freeze: {e}")))
    }

    pub fn stats(&self) -> Result<libcgroups::stats::Stats> {
        self.manager.stats().map_err(|e| self.err(format!("statistics: {e}")))
    }

    /// Host pids of every process in the cgroup.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let pids = self.manager.get_all_pids().map_err(|e| self.err(format!("list processes: {e}")))?;
        Ok(pids.into_iter().map(|p| p.as_raw()).collect())
    }

    /// Remove the cgroup if hull created it, killing what is left inside, then the empty parents
    /// hull created. A cgroup hull did not create is left alone.
    pub fn remove(&self) -> Result<()> {
        remove(&self.record)
    }
}

/// Remove the directories create made for a container's cgroup, deepest first. A leaf that still
/// has processes (a zombie being released, or processes of a shared pid namespace) has them
/// killed first; a parent another container still uses is left. Nothing that existed before
/// create is touched. Needs no libcgroups manager: this is on the path of every `delete`.
pub fn remove(record: &CgroupRecord) -> Result<()> {
    let rel = record.path.strip_prefix("/").unwrap_or(&record.path);
    for dir in &record.created_dirs {
        match fs::remove_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(_) if dir.ends_with(rel) => {
                let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                    let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                }
                rmdir_retry(dir)?;
            }
            // A parent with another container's cgroup in it.
            Err(_) => {}
        }
    }
    Ok(())
}

/// Every mounted hierarchy root (v1 controllers, unified).
fn hierarchy_roots(setup: &CgroupSetup) -> Vec<PathBuf> {
    let mut v = Vec::new();
    if let (CgroupSetup::Unified, _) | (_, Err(_)) = (setup, fs::read_dir(CGROUP_ROOT)) {
        return vec![PathBuf::from(CGROUP_ROOT)];
    }
    if let Ok(rd) = fs::read_dir(CGROUP_ROOT) {
        for e in rd.flatten() {
            v.push(e.path());
        }
    }
    v
}

fn rmdir_retry(dir: &Path) -> Result<()> {
    for i in 0..50 {
        match fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && i < 49 => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => return Err(Error::io("remove cgroup", dir, e)),
        }
    }
    Ok(())
}

/// Move `pid` into an existing container cgroup (`sub` names a sub-cgroup, as `exec --cgroup`),
/// in every hierarchy where the container has one. Nothing is created.
pub fn join(record: &CgroupRecord, pid: i32, sub: Option<&str>) -> Result<()> {
    let setup = setup()?;
    let rel = record.path.strip_prefix("/").unwrap_or(&record.path);
    let rel = match sub {
        Some(s) => rel.join(s.trim_start_matches('/')),
        None => rel.to_path_buf(),
    };
    let mut joined = false;
    for base in hierarchy_roots(&setup) {
        let dir = base.join(&rel);
        if !dir.is_dir() {
            continue;
        }
        let procs = dir.join("cgroup.procs");
        fs::write(&procs, pid.to_string()).map_err(|e| Error::io("write", &procs, e))?;
        joined = true;
    }
    if !joined {
        return Err(Error::Cgroup { path: Path::new("/").join(&rel), msg: "no such cgroup".into() });
    }
    Ok(())
}

/// True when the container's freezer says frozen. Read directly: this runs for every `state`.
pub fn is_frozen(record: &CgroupRecord) -> bool {
    let rel = record.path.strip_prefix("/").unwrap_or(&record.path);
    let v1 = Path::new(CGROUP_ROOT).join("freezer").join(rel).join("freezer.state");
    if let Ok(s) = fs::read_to_string(&v1) {
        return s.trim() == "FROZEN";
    }
    let v2 = Path::new(CGROUP_ROOT).join(rel).join("cgroup.freeze");
    matches!(fs::read_to_string(v2).as_deref().map(str::trim), Ok("1"))
}
