//! The one adapter around libcgroups: create a container's cgroup, apply resources, place a
//! process, freeze, list pids and remove what hull created.
//!
//! On hybrid hosts (v1 controllers plus cgroup2 at /sys/fs/cgroup/unified) libcgroups drives the
//! v1 controllers and hull also places the process in the unified tree, as runc does.

pub mod device_filter;
mod systemd_busy;
mod v2_stats;

use systemd_busy::{while_systemd_busy, SYSTEMD_BUSY_LIMIT};

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use libcgroups::common::{
    create_cgroup_manager, get_cgroup_setup, AnyCgroupManager, CgroupConfig, CgroupManager, CgroupSetup,
    ControllerOpt, FreezerState,
};
use nix::fcntl::OFlag;
use nix::unistd::Pid;
use oci_spec::runtime::LinuxResources;

use crate::container::CgroupRecord;
use crate::error::{Error, Result};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";
const UNIFIED_HYBRID: &str = "/sys/fs/cgroup/unified";

/// The cgroup of one container, ready to use.
pub struct Cgroup {
    pub record: CgroupRecord,
    /// Made on first use: its discovery reads mountinfo, and `create` places the init in v1
    /// hierarchies without it (`place`), so that the discovery overlaps the init's rootfs work.
    manager: std::cell::OnceCell<AnyCgroupManager>,
    /// v1 or hybrid, in `create`: mountinfo's cgroup mount points and /proc/self/cgroup as read
    /// once (`with_v1_tables`), from which the manager is made without reading them again.
    v1_tables: std::cell::OnceCell<(Vec<PathBuf>, Vec<u8>)>,
    /// From the same mountinfo: the mount points whose topmost mount is a v1 hierarchy, each
    /// with whether it has the cpuset controller. `place` takes these as hierarchies without
    /// looking for their cgroup.procs and cpuset.cpus (two path lookups each).
    v1_roots: std::cell::OnceCell<Vec<(PathBuf, bool)>>,
    setup: CgroupSetup,
    id: String,
}

/// A v1 hierarchy's `tasks` file of the container's cgroup, open for writing, with its path for
/// errors: the process that joins writes "0" to it itself (see `place`).
pub type TasksFile = (String, OwnedFd);

/// Resolve `linux.cgroupsPath`: absolute paths are taken as they are; relative (and empty, which
/// means `<id>`) are joined to the runtime's own cgroup as the unified hierarchy (`0::`) reports it.
/// With the systemd driver the path is `[slice]:prefix:name` (empty: `:hull:<id>`, in
/// system.slice), which systemd turns into `<slice>/<prefix>-<name>.scope`.
pub fn resolve_path(config: Option<&Path>, id: &str, systemd: bool) -> Result<PathBuf> {
    let given = config.filter(|p| !p.as_os_str().is_empty());
    if systemd {
        let p = given.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(format!(":hull:{id}")));
        let text = p.to_string_lossy();
        let parts: Vec<&str> = text.split(':').collect();
        let ok = parts.len() == 3
            && !parts[1].is_empty()
            && !parts[2].is_empty()
            && parts.iter().all(|x| !x.contains('/'))
            && (parts[0].is_empty() || parts[0].ends_with(".slice"));
        if !ok {
            return Err(Error::config(
                "linux.cgroupsPath",
                format!("{text:?}: with --systemd-cgroup the path must be \"slice:prefix:name\" (slice empty or ending in .slice)"),
            ));
        }
        return Ok(p);
    }
    let p = given.map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from(id));
    if p.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(Error::config("linux.cgroupsPath", format!("{:?}: \"..\" would leave the cgroup hierarchy", p.display().to_string())));
    }
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
    /// Prepare the cgroup of a new container at `path`. Each directory create makes is recorded
    /// as it is made (`make_levels`), so delete removes exactly what create made.
    pub fn new_for_create(path: PathBuf, id: &str, systemd: bool) -> Result<Cgroup> {
        let setup = setup()?;
        if systemd {
            return Self::new_systemd(path, setup, id);
        }
        // The directories are recorded as they are made (`make_levels`).
        let record = CgroupRecord { path, created: false, created_dirs: vec![], systemd: false, unified: None, none: false, shares_pid_ns: false };
        Self::with_setup(record, setup, id)
    }

    /// The systemd driver: systemd makes (and on delete removes) a transient scope unit for the
    /// container, through its private D-Bus socket.
    fn new_systemd(path: PathBuf, setup: CgroupSetup, id: &str) -> Result<Cgroup> {
        let refuse = |why: &str| Err(Error::Cgroup { path: path.clone(), msg: format!("--systemd-cgroup: {why}") });
        if !Path::new("/run/systemd/system").is_dir() {
            return refuse("systemd is not running on this host (no /run/systemd/system)");
        }
        if !matches!(setup, CgroupSetup::Unified) {
            return refuse("hull's systemd driver needs a pure cgroup v2 host; this one has v1 controllers");
        }
        let record = CgroupRecord { path: path.clone(), created: true, created_dirs: vec![], systemd: true, unified: None, none: false, shares_pid_ns: false };
        Self::with_setup(record, setup, id)
    }

    /// Create the container's cgroup in the v2 hierarchy before the init exists and open it for
    /// CLONE_INTO_CGROUP, so the init skips the migration (whose global lock waits for an RCU
    /// grace period). Pure v2: the cgroup itself (enabling the parents' controllers), so the init
    /// is limited from its first instruction. Hybrid: the unified tree's directory; the v1
    /// hierarchies follow after the clone (`place`). None with the systemd driver and on v1 hosts
    /// without a unified tree.
    pub fn prepare_for_clone(path: PathBuf, id: &str, systemd: bool) -> Result<Option<(Cgroup, OwnedFd)>> {
        if systemd {
            return Ok(None);
        }
        if !pure_v2() {
            if !unified_hybrid() {
                return Ok(None);
            }
            let mut cg = Self::new_for_create(path, id, false)?;
            let made = cg.make_levels(Path::new(UNIFIED_HYBRID), None).and_then(|dir| {
                crate::linux::open_fd(&dir, OFlag::O_PATH | OFlag::O_DIRECTORY)
                    .map_err(|e| Error::sys(format!("open cgroup {}", dir.display()), e))
            });
            return match made {
                Ok(fd) => Ok(Some((cg, fd))),
                Err(e) => {
                    let _ = remove(&cg.record);
                    Err(e)
                }
            };
        }
        let mut cg = Self::new_for_create(path, id, false)?;
        match cg.make_v2_dirs() {
            Ok(fd) => Ok(Some((cg, fd))),
            Err(e) => {
                let _ = remove(&cg.record);
                Err(e)
            }
        }
    }

    /// mkdir the cgroup and the missing parents, with every controller of the root enabled in
    /// each parent's subtree_control; open the leaf.
    fn make_v2_dirs(&mut self) -> Result<OwnedFd> {
        let root = Path::new(CGROUP_ROOT);
        let controllers = fs::read_to_string(root.join("cgroup.controllers"))
            .map_err(|e| Error::io("read", root.join("cgroup.controllers"), e))?;
        let leaf = self.make_levels(root, Some(&controllers))?;
        crate::linux::open_fd(&leaf, OFlag::O_PATH | OFlag::O_DIRECTORY)
            .map_err(|e| Error::sys(format!("open cgroup {}", leaf.display()), e))
    }

    /// True when `pid` is already in the container's cgroup (cloned into it).
    pub fn holds(&self, pid: i32) -> bool {
        holds_pid(&self.record, pid, None)
    }

    /// The manager of an existing container's cgroup, for what its files alone do (freeze, list
    /// processes, statistics, kill). A scope systemd made is used through its directory, as runc
    /// does: no D-Bus call, which a busy systemd can stall for seconds (issue 13).
    pub fn open(record: &CgroupRecord, id: &str) -> Result<Cgroup> {
        if record.none {
            return Err(Error::Cgroup { path: record.path.clone(), msg: NO_CGROUP.into() });
        }
        match (&record.unified, record.systemd) {
            (Some(dir), true) => {
                let files = CgroupRecord { path: dir.clone(), systemd: false, unified: None, ..record.clone() };
                let mut cg = Self::with_setup(files, setup()?, id)?;
                // Made now, from the directory: made later it would follow the record's systemd.
                cg.manager()?;
                cg.record = record.clone();
                Ok(cg)
            }
            _ => Self::with_setup(record.clone(), setup()?, id),
        }
    }

    /// The manager of an existing container's cgroup through systemd when systemd made it: what
    /// changes the unit (`update`'s limits, stopping the scope).
    pub fn open_managed(record: &CgroupRecord, id: &str) -> Result<Cgroup> {
        Self::with_setup(record.clone(), setup()?, id)
    }

    fn with_setup(record: CgroupRecord, setup: CgroupSetup, id: &str) -> Result<Cgroup> {
        Ok(Cgroup { record, manager: std::cell::OnceCell::new(), v1_tables: std::cell::OnceCell::new(), v1_roots: std::cell::OnceCell::new(), setup, id: id.to_string() })
    }

    /// libcgroups' manager of this cgroup, made on first use.
    fn manager(&self) -> Result<&AnyCgroupManager> {
        if let Some(m) = self.manager.get() {
            return Ok(m);
        }
        let make = || {
            if let (Some((mounts, own)), false) = (self.v1_tables.get(), self.record.systemd) {
                return libcgroups::v1::manager::Manager::with_tables(&self.record.path, mounts, own)
                    .map(|m| m.any())
                    .map_err(|e| e.to_string());
            }
            create_cgroup_manager(CgroupConfig {
                cgroup_path: self.record.path.clone(),
                systemd_cgroup: self.record.systemd,
                container_name: self.id.clone(),
            })
            .map_err(|e| e.to_string())
        };
        let manager = match self.record.systemd {
            true => while_systemd_busy(SYSTEMD_BUSY_LIMIT, make),
            false => make(),
        }
        .map_err(|msg| self.err(msg))?;
        Ok(self.manager.get_or_init(|| manager))
    }

    /// v1 or hybrid: make the manager, when it is first needed, from mountinfo's text as the
    /// caller read it (the mount points of its cgroup v1 mounts, in its order, as libcgroups
    /// lists them) and this process's /proc/self/cgroup.
    pub fn with_v1_tables(&self, mountinfo: &str) {
        if matches!(self.setup, CgroupSetup::Unified) || self.record.systemd {
            return;
        }
        let Ok(own) = crate::linux::read_proc_text("/proc/self/cgroup") else { return };
        let mounts = crate::linux::mountinfo_entries(mountinfo)
            .filter(|(_, fstype, _)| *fstype == "cgroup")
            .map(|(mount_point, _, _)| PathBuf::from(mount_point))
            .collect();
        let _ = self.v1_tables.set((mounts, own.into_bytes()));
        let _ = self.v1_roots.set(v1_roots_in(mountinfo));
    }

    fn err(&self, msg: impl std::fmt::Display) -> Error {
        Error::Cgroup { path: self.record.path.clone(), msg: msg.to_string() }
    }

    /// Place the new init `pid` in the cgroup, creating it. On v2 (and with systemd) the
    /// runtime moves it, unless it was cloned into it. On v1 this makes the directory in every
    /// hierarchy and returns their `tasks` files for the init to write "0" to: a thread that
    /// moves itself skips the kernel's global threadgroup lock, which otherwise waits for an RCU
    /// grace period (5-15 ms per create on an idle host). The unified tree of a hybrid host was
    /// made before the clone (`prepare_for_clone`) or is joined here.
    pub fn place(&mut self, pid: i32) -> Result<Vec<TasksFile>> {
        if self.record.systemd || matches!(self.setup, CgroupSetup::Unified) {
            if !self.record.systemd && self.holds(pid) {
                crate::log::debug("create: init was cloned into its cgroup");
                return Ok(vec![]);
            }
            self.manager()?.add_task(Pid::from_raw(pid)).map_err(|e| self.err(format!("add pid {pid}: {e}")))?;
            if self.record.systemd {
                // Where systemd put it: the scope's directory, for everything that reads files.
                let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
                self.record.unified = own.lines().find_map(|l| l.strip_prefix("0::")).map(PathBuf::from);
            }
            return Ok(vec![]);
        }
        let mut tasks = Vec::new();
        // Every mounted hierarchy, as runc joins them all (a directory under /sys/fs/cgroup that is
        // not a cgroup mount has no cgroup.procs).
        let roots = self.v1_roots.take().unwrap_or_default();
        let known = |r: &Path| roots.iter().find(|(p, _)| p == r).map(|(_, cpuset)| *cpuset);
        for root in hierarchy_roots(&self.setup).into_iter().filter(|r| known(r).is_some() || r.join("cgroup.procs").exists()) {
            if root == Path::new(UNIFIED_HYBRID) {
                if self.holds(pid) {
                    crate::log::debug("create: init was cloned into its cgroup (unified tree)");
                } else {
                    let dir = self.make_levels(&root, None)?;
                    let procs = dir.join("cgroup.procs");
                    fs::write(&procs, pid.to_string()).map_err(|e| Error::io("write", &procs, e))?;
                }
                continue;
            }
            let dir = self.make_levels(&root, None)?;
            if known(&root).unwrap_or_else(|| root.join("cpuset.cpus").exists()) {
                fill_cpuset(&root, &dir)?;
            }
            let path = dir.join("tasks");
            let fd = crate::linux::open_fd(&path, OFlag::O_WRONLY).map_err(|e| Error::sys(format!("open {}", path.display()), e))?;
            tasks.push((path.display().to_string(), fd));
        }
        crate::log::debug(format!("create: the init joins its cgroup in {} v1 hierarchies itself", tasks.len()));
        Ok(tasks)
    }

    /// mkdir the container's cgroup below one hierarchy root, level by level, recording each
    /// directory this create made or found missing (delete removes those, once empty). A parent
    /// found in place can vanish before the next level is made under it (another container's
    /// delete removes the parents it made once they are empty): the walk then starts over and
    /// makes it again as ours.
    /// `enable` (v2): the controllers to enable in each parent's subtree_control first, one at a
    /// time and best effort, as libcgroups does (one that cannot be enabled fails later, naming
    /// the limit that needs it).
    fn make_levels(&mut self, root: &Path, enable: Option<&str>) -> Result<PathBuf> {
        let rel = self.record.rel().to_path_buf();
        // A v1 hierarchy whose parent levels exist (the usual case: a container manager's parent
        // cgroup): the container's own directory alone, without a look at each level first.
        if enable.is_none() && root != Path::new(UNIFIED_HYBRID) {
            let leaf = root.join(&rel);
            match fs::create_dir(&leaf) {
                Ok(()) => {
                    if !self.record.created_dirs.contains(&leaf) {
                        self.record.created_dirs.push(leaf.clone());
                    }
                    self.record.created_dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
                    self.record.created = true;
                    return Ok(leaf);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io("create cgroup", &leaf, e)),
            }
        }
        // A level missing when this create looks is claimed even if a concurrent create makes it
        // first: whichever of them is deleted last removes it (rmdir fails while another
        // container's cgroup is below it, which is then left to that one).
        let mut cur = root.to_path_buf();
        for comp in rel.components() {
            cur.push(comp);
            if !cur.exists() && !self.record.created_dirs.contains(&cur) {
                self.record.created_dirs.push(cur.clone());
            }
        }
        let mut tries = 0;
        'walk: loop {
            let mut cur = root.to_path_buf();
            for (level, comp) in rel.components().enumerate() {
                // The first walk of a create (the v2 directory, made before the clone): a window
                // for the fault tests between one level and the next.
                if enable.is_some() || root == Path::new(UNIFIED_HYBRID) {
                    crate::fault::point("cgroup-level", Some(level))?;
                }
                for c in enable.iter().flat_map(|list| list.split_whitespace()) {
                    let _ = fs::write(cur.join("cgroup.subtree_control"), format!("+{c}"));
                }
                cur.push(comp);
                match fs::create_dir(&cur) {
                    Ok(()) => {
                        if !self.record.created_dirs.contains(&cur) {
                            self.record.created_dirs.push(cur.clone());
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound && tries < 5 => {
                        tries += 1;
                        continue 'walk;
                    }
                    Err(e) => return Err(Error::io("create cgroup", &cur, e)),
                }
            }
            // Deepest first, the order of removal.
            self.record.created_dirs.sort_by_key(|d| std::cmp::Reverse(d.components().count()));
            self.record.created = !self.record.created_dirs.is_empty();
            return Ok(cur);
        }
    }

    /// Apply `linux.resources` at create. Device access is exactly what `resources.devices` says
    /// (in order), followed by the default devices' rules, as runc: a device listed in
    /// `linux.devices` is created but not implicitly allowed. v1 has the devices controller; on v2
    /// the rules become an eBPF program (`device_filter`).
    pub fn apply(&self, resources: Option<&LinuxResources>) -> Result<()> {
        let res = resources.cloned().unwrap_or_default();
        self.apply_controllers(&res)?;
        if matches!(self.setup, CgroupSetup::Unified) {
            // Loading a device program needs CAP_BPF and CAP_SYS_ADMIN on the host: a rootless
            // container goes without, as with runc, and its user namespace already keeps it
            // from making device nodes (only host nodes the user may open are bound in).
            if unprivileged() {
                crate::log::debug("rootless: no eBPF device filter (it needs CAP_BPF on the host)");
            } else {
                device_filter::apply(&self.dir(), res.devices().as_ref())?;
            }
        }
        Ok(())
    }

    /// Apply new limits to a running container (`update`). Device rules are not changed, as
    /// runc's update does not change them.
    pub fn update(&self, resources: &LinuxResources) -> Result<()> {
        let mut res = resources.clone();
        res.set_devices(None);
        self.check_before_update(&res)?;
        self.apply_controllers(&res)
    }

    fn apply_controllers(&self, res: &LinuxResources) -> Result<()> {
        self.refuse_unavailable(res)?;
        let disable_oom_killer = res.memory().as_ref().and_then(|m| m.disable_oom_killer()).unwrap_or(false);
        // libcgroups 0.7 converts a v2 io weight in u16 arithmetic, which overflows for weights
        // above 16: hull writes the weight itself.
        let v2_weight = match res.block_io().as_ref().and_then(|b| b.weight()) {
            Some(w) if w > 0 && matches!(self.setup, CgroupSetup::Unified) => Some(w),
            _ => None,
        };
        let mut own = res.clone();
        if let (Some(_), Some(b)) = (v2_weight, own.block_io_mut()) {
            b.set_weight(None);
        }
        let opt = ControllerOpt { resources: &own, disable_oom_killer, oom_score_adj: None, freezer_state: None };
        self.manager()?.apply(&opt).map_err(|e| self.err(format!("apply resources: {e}")))?;
        if let Some(w) = v2_weight {
            self.write_io_weight(w)?;
        }
        self.apply_lone_cpu_burst(res)
    }

    /// `blockIO.weight` (v1's 10-1000) on v2, as runc: BFQ's io.bfq.weight takes it as it is;
    /// io.weight (1-10000) gets the linear conversion 1 + (w - 10) * 9999 / 990.
    fn write_io_weight(&self, w: u16) -> Result<()> {
        let d = self.dir();
        let (f, v) = match d.join("io.bfq.weight") {
            bfq if bfq.exists() => (bfq, u32::from(w)),
            _ => (d.join("io.weight"), 1 + u32::from(w).saturating_sub(10) * 9999 / 990),
        };
        fs::write(&f, format!("default {v}")).map_err(|e| Error::io("write", &f, e))
    }

    /// libcgroups' v1 cpu controller runs only when another cpu setting is present: a burst given
    /// alone is written here.
    fn apply_lone_cpu_burst(&self, res: &LinuxResources) -> Result<()> {
        let Some(cpu) = res.cpu() else { return Ok(()) };
        let others = cpu.shares().is_some()
            || cpu.quota().is_some()
            || cpu.period().is_some()
            || cpu.realtime_runtime().is_some()
            || cpu.realtime_period().is_some()
            || cpu.idle().is_some();
        match cpu.burst() {
            Some(burst) if !others && !matches!(self.setup, CgroupSetup::Unified) => {
                let f = Path::new(CGROUP_ROOT).join("cpu").join(self.record.rel()).join("cpu.cfs_burst_us");
                fs::write(&f, burst.to_string()).map_err(|e| Error::io("write", &f, e))
            }
            _ => Ok(()),
        }
    }

    /// `memory.checkBeforeUpdate`: refuse a new limit below the current usage. v1 refuses it
    /// anyway (EBUSY); v2 would take it and start reclaiming, so hull checks memory.current.
    fn check_before_update(&self, res: &LinuxResources) -> Result<()> {
        let Some(m) = res.memory() else { return Ok(()) };
        let (Some(true), Some(limit)) = (m.check_before_update(), m.limit()) else { return Ok(()) };
        if limit <= 0 || !matches!(self.setup, CgroupSetup::Unified) {
            return Ok(());
        }
        let f = self.dir().join("memory.current");
        let current: i64 = fs::read_to_string(&f).map_err(|e| Error::io("read", &f, e))?.trim().parse().unwrap_or(0);
        if current > limit {
            return Err(self.err(format!(
                "linux.resources.memory.limit: {limit} is below the current usage {current} ({}), and checkBeforeUpdate is set",
                f.display()
            )));
        }
        Ok(())
    }

    /// The container's directory in the unified hierarchy (pure v2, or hybrid's unified tree).
    fn dir(&self) -> PathBuf {
        let rel = self.record.rel();
        match self.setup {
            CgroupSetup::Unified => Path::new(CGROUP_ROOT).join(rel),
            _ => Path::new(UNIFIED_HYBRID).join(rel),
        }
    }

    /// Resources this host cannot apply are errors, never silently dropped.
    fn refuse_unavailable(&self, res: &LinuxResources) -> Result<()> {
        let v1 = !matches!(self.setup, CgroupSetup::Unified);
        self.refuse_missing_controllers(res, v1)?;
        if let Some(m) = res.memory() {
            if m.use_hierarchy() == Some(false) {
                return Err(self.err("linux.resources.memory.useHierarchy: false is not possible: the kernel always accounts memory hierarchically"));
            }
            let v1_only = [
                ("swappiness", m.swappiness().is_some()),
                ("kernel", m.kernel().is_some()),
                ("kernelTCP", m.kernel_tcp().is_some()),
                ("disableOOMKiller", m.disable_oom_killer() == Some(true)),
            ];
            if let Some((field, _)) = v1_only.iter().find(|(_, set)| *set && !v1) {
                return Err(self.err(format!("linux.resources.memory.{field}: cgroup v2 has no such setting (it exists on cgroup v1 only)")));
            }
            if v1 && m.kernel().is_some() {
                crate::log::warn("linux.resources.memory.kernel: this kernel ignores kernel memory limits (memory.kmem.limit_in_bytes is deprecated)");
            }
        }
        // v1: the blkio root has the files its children get; v2: the root has no io.* files, so
        // look in the container's own cgroup (which exists by now), BFQ's name included.
        let parent_has = |file: &str| {
            if v1 {
                Path::new(CGROUP_ROOT).join("blkio").join(file).exists()
            } else {
                let d = self.dir();
                d.join(file).exists() || d.join(file.replace("io.", "io.bfq.")).exists()
            }
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

    /// A limit for a controller the container's cgroup does not have (not mounted on v1, not
    /// available in cgroup.controllers on v2) is an error naming the field and the controller.
    fn refuse_missing_controllers(&self, res: &LinuxResources, v1: bool) -> Result<()> {
        let cpu = res.cpu().as_ref();
        let mem = res.memory().as_ref();
        let wanted = [
            ("linux.resources.memory", "memory", mem.is_some_and(|m| m.limit().is_some() || m.reservation().is_some() || m.swap().is_some())),
            ("linux.resources.cpu", "cpu", cpu.is_some_and(|c| c.shares().is_some() || c.quota().is_some() || c.period().is_some())),
            ("linux.resources.cpu", "cpuset", cpu.is_some_and(|c| c.cpus().is_some() || c.mems().is_some())),
            ("linux.resources.pids", "pids", res.pids().is_some()),
            ("linux.resources.hugepageLimits", "hugetlb", res.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty())),
            ("linux.resources.network.classID", "net_cls", res.network().as_ref().is_some_and(|n| n.class_id().is_some())),
            (
                "linux.resources.network.priorities",
                "net_prio",
                res.network().as_ref().is_some_and(|n| n.priorities().as_ref().is_some_and(|p| !p.is_empty())),
            ),
        ];
        let v2_file = self.dir().join("cgroup.controllers");
        let v2_has = if v1 { String::new() } else { fs::read_to_string(&v2_file).unwrap_or_default() };
        for (field, ctrl, asked) in wanted {
            let present = if v1 {
                Path::new(CGROUP_ROOT).join(ctrl).is_dir()
            } else {
                v2_has.split_whitespace().any(|c| c == ctrl)
            };
            if asked && !present {
                let where_ = if v1 {
                    format!("no {ctrl} hierarchy is mounted under {CGROUP_ROOT}")
                } else {
                    format!("{} lists {:?}", v2_file.display(), v2_has.trim())
                };
                return Err(self.err(format!("{field}: needs the {ctrl} controller, which this host does not provide ({where_})")));
            }
        }
        Ok(())
    }

    pub fn freeze(&self, frozen: bool) -> Result<()> {
        let st = if frozen { FreezerState::Frozen } else { FreezerState::Thawed };
        self.manager()?.freeze(st).map_err(|e| self.err(format!("freeze: {e}")))
    }

    pub fn stats(&self) -> Result<libcgroups::stats::Stats> {
        // On v2, read only the controllers the cgroup has (libcgroups fails on a missing one).
        if matches!(self.setup, CgroupSetup::Unified) {
            return Ok(v2_stats::read(&self.dir()));
        }
        self.manager()?.stats().map_err(|e| self.err(format!("statistics: {e}")))
    }

    /// Host pids of every process in the cgroup.
    pub fn pids(&self) -> Result<Vec<i32>> {
        let pids = self.manager()?.get_all_pids().map_err(|e| self.err(format!("list processes: {e}")))?;
        Ok(pids.into_iter().map(|p| p.as_raw()).collect())
    }

    /// Remove the cgroup if hull created it, killing what is left inside, then the empty parents
    /// hull created. A cgroup hull did not create is left alone.
    pub fn remove(&self) -> Result<()> {
        remove(&self.record)
    }
}

/// Remove the directories create made for a container's cgroup, deepest first. A leaf that still
/// has processes is waited for (a zombie being released); they are killed first only when the
/// container has no pid namespace of its own, so they are its own (as runc). Otherwise they
/// belong to another container sharing the cgroup, and the leaf is left to it with a warning. A
/// parent another container still uses is left. Nothing that existed before create is touched.
/// Needs no libcgroups manager: this is on the path of every `delete`.
pub fn remove(record: &CgroupRecord) -> Result<()> {
    if record.systemd {
        return remove_systemd(record);
    }
    let rel = record.rel();
    let mut left = Vec::new();
    // One grace for all the hierarchies (keeps_live_processes).
    let grace_end = std::time::Instant::now() + Duration::from_millis(500);
    for dir in &record.created_dirs {
        match fs::remove_dir(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            // What is alive there belongs to another container sharing the cgroup: left to it.
            Err(_) if dir.ends_with(rel) && !record.shares_pid_ns && keeps_live_processes(dir, grace_end) => left.push(dir),
            Err(_) if dir.ends_with(rel) => {
                if record.shares_pid_ns && !kill_all(record) {
                    let procs = fs::read_to_string(dir.join("cgroup.procs")).unwrap_or_default();
                    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                        let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                    }
                }
                rmdir_retry(dir)?;
            }
            // A parent with another container's cgroup in it.
            Err(_) => {}
        }
    }
    if let Some(first) = left.first() {
        crate::log::warn(format!(
            "cgroup {} still has processes of another container sharing it ({} hierarch{}): left to it",
            rel.display(),
            left.len(),
            if left.len() == 1 { "y" } else { "ies" }
        ));
        crate::log::debug(format!("left: {first:?} and the rest of {left:?}"));
    }
    Ok(())
}

/// Remove the container's scope. systemd stops a scope whose processes are all gone and removes
/// its cgroup by itself, so after killing them this only waits for that; a StopUnit over D-Bus
/// (which a busy systemd can stall for a minute: issue 13) is sent only when the scope is still
/// there after a while. Returns with the cgroup gone when systemd removed it.
fn remove_systemd(record: &CgroupRecord) -> Result<()> {
    // The scope's directory is known once the init was placed in it.
    let dir = record.unified.as_ref().map(|_| Path::new(CGROUP_ROOT).join(record.rel()));
    if let Some(d) = &dir {
        if !kill_all(record) {
            for pid in fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default().lines().filter_map(|l| l.trim().parse().ok()) {
                let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            }
        }
        if wait_gone(d, Duration::from_secs(3)) {
            return Ok(());
        }
    }
    let stopped = Cgroup::open_managed(record, "").and_then(|cg| cg.manager()?.remove().map_err(|e| cg.err(format!("stop the systemd scope: {e}"))));
    match &dir {
        // Gone while the stop was under way: systemd got there anyway.
        Some(d) if wait_gone(d, Duration::from_secs(1)) => Ok(()),
        _ => stopped,
    }
}

/// Wait up to `limit` for `dir` to disappear; true when it did.
fn wait_gone(dir: &Path, limit: Duration) -> bool {
    let end = std::time::Instant::now() + limit;
    while dir.exists() {
        if std::time::Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// Not root of the host: a non-root user, or root of a user namespace (rootless podman's).
fn unprivileged() -> bool {
    !nix::unistd::geteuid().is_root() || crate::linux::runtime_in_user_namespace()
}

/// What verbs that need a cgroup say of a container that has none.
pub const NO_CGROUP: &str = "the container has no cgroup: it was created rootless where no cgroup hierarchy was writable by its user";

/// Rootless: whether this user may make the container's cgroup at `path` (cgroupfs driver): in
/// every hierarchy, the deepest directory that exists on the way is writable (a subtree
/// delegated to the user, as systemd delegates on v2). The systemd driver asks the user's own
/// systemd instead, which this host may not have.
pub fn rootless_writable(path: &Path, systemd: bool) -> bool {
    if systemd {
        return true;
    }
    let Ok(setup) = setup() else { return false };
    let rel = path.strip_prefix("/").unwrap_or(path);
    let roots: Vec<PathBuf> = match setup {
        CgroupSetup::Unified => vec![PathBuf::from(CGROUP_ROOT)],
        _ => hierarchy_roots(&setup).into_iter().filter(|r| r.join("cgroup.procs").exists()).collect(),
    };
    !roots.is_empty()
        && roots.iter().all(|root| {
            let mut dir = root.join(rel);
            while !dir.exists() && dir != *root {
                dir.pop();
            }
            nix::unistd::access(&dir, nix::unistd::AccessFlags::W_OK).is_ok()
        })
}

/// The first resource limit `resources` asks for, as its config path (device rules are not
/// limits: without a cgroup the user namespace already keeps devices out of reach).
pub fn limits_asked(resources: Option<&LinuxResources>) -> Option<String> {
    let r = resources?;
    let v = serde_json::to_value(r).ok()?;
    let obj = v.as_object()?;
    obj.iter()
        .filter(|(k, _)| k.as_str() != "devices")
        .find(|(_, v)| !(v.is_null() || v.as_object().is_some_and(|o| o.values().all(|x| x.is_null())) || v.as_array().is_some_and(|a| a.is_empty())))
        .map(|(k, _)| format!("linux.resources.{k}"))
}

/// The mount points in `mountinfo` whose topmost mount is a v1 hierarchy, each with whether it
/// has the cpuset controller. Later lines are mounted later, over earlier ones at the same point.
fn v1_roots_in(mountinfo: &str) -> Vec<(PathBuf, bool)> {
    let mut top: Vec<(&str, bool, bool)> = Vec::new();
    for (mount_point, fstype, superopts) in crate::linux::mountinfo_entries(mountinfo) {
        let entry = (mount_point, fstype == "cgroup", superopts.split(',').any(|o| o == "cpuset"));
        match top.iter_mut().find(|(p, _, _)| *p == mount_point) {
            Some(t) => *t = entry,
            None => top.push(entry),
        }
    }
    top.into_iter().filter(|(_, v1, _)| *v1).map(|(p, _, cpuset)| (PathBuf::from(p), cpuset)).collect()
}

/// Every entry of /sys/fs/cgroup (v1 hierarchies, the unified one, anything else there), or the
/// root alone on a pure v2 host.
fn hierarchy_roots(setup: &CgroupSetup) -> Vec<PathBuf> {
    match (setup, fs::read_dir(CGROUP_ROOT)) {
        (CgroupSetup::Unified, _) | (_, Err(_)) => vec![PathBuf::from(CGROUP_ROOT)],
        (_, Ok(rd)) => rd.flatten().map(|e| e.path()).collect(),
    }
}

/// True when a process listed in the cgroup is still alive at `grace_end`. A process killed a
/// moment before (`kill --all` goes through cgroup.kill, which returns before anything has died)
/// is listed, and not yet a zombie, while it exits: it is the container's own, not another
/// container's.
fn keeps_live_processes(dir: &Path, grace_end: std::time::Instant) -> bool {
    while has_live_processes(dir) {
        if std::time::Instant::now() >= grace_end {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}

/// True when a process listed in the cgroup is alive (not a zombie being released).
fn has_live_processes(dir: &Path) -> bool {
    fs::read_to_string(dir.join("cgroup.procs"))
        .unwrap_or_default()
        .lines()
        .filter_map(|pid| pid.trim().parse().ok())
        .any(|pid| crate::container::status::process_state(pid).is_some_and(|st| st != 'Z' && st != 'X'))
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
    let rel = rel_with(record, sub);
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

/// SIGKILL every process in the container's cgroup at once through `cgroup.kill` (Linux 5.14+,
/// pure v2 or the unified tree of a hybrid host; frozen processes die too). False when the
/// kernel has no cgroup.kill, so the caller signals the processes one by one.
pub fn kill_all(record: &CgroupRecord) -> bool {
    if record.none {
        return false;
    }
    let rel = record.rel();
    [Path::new(UNIFIED_HYBRID).join(rel), Path::new(CGROUP_ROOT).join(rel)]
        .iter()
        .map(|d| d.join("cgroup.kill"))
        .any(|f| f.exists() && fs::write(&f, "1").is_ok())
}

/// True on a pure cgroup v2 host (/sys/fs/cgroup is the unified hierarchy): one stat.
pub fn pure_v2() -> bool {
    Path::new(CGROUP_ROOT).join("cgroup.controllers").exists()
}

/// True when a v1 host also mounts the unified tree (hybrid): one stat.
fn unified_hybrid() -> bool {
    Path::new(UNIFIED_HYBRID).join("cgroup.procs").exists()
}

/// Copy cpuset.cpus and cpuset.mems down from the parent into every level of `dir` below the
/// cpuset hierarchy's `root` that has none: a v1 cpuset without them refuses every task.
fn fill_cpuset(root: &Path, dir: &Path) -> Result<()> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        inherit_cpuset(root, dir, file)?;
    }
    Ok(())
}

/// `file` of the cpuset cgroup `dir`, given its parent's value first when it is empty, and the
/// parent's the same way: from the container's cgroup upwards, stopping at the first level that
/// has one (a cpuset is a subset of its parent's, so every level above has one too). None when
/// `dir`'s file cannot be read (it is then left alone).
fn inherit_cpuset(root: &Path, dir: &Path, file: &str) -> Result<Option<String>> {
    let own = dir.join(file);
    let Some(value) = read_cgroup_text(&own) else { return Ok(None) };
    let value = value.trim();
    let parent = match dir.parent() {
        Some(p) if !value.is_empty() || dir == root || !p.starts_with(root) => return Ok(Some(value.to_string())),
        Some(p) => p,
        None => return Ok(Some(value.to_string())),
    };
    let from = parent.join(file);
    let value = match inherit_cpuset(root, parent, file)? {
        Some(v) => v,
        None => fs::read_to_string(&from).map_err(|e| Error::io("read", &from, e))?.trim().to_string(),
    };
    fs::write(&own, &value).map_err(|e| Error::io("write", &own, e))?;
    Ok(Some(value))
}

/// A cgroup file's text in one open and one read (the kernel gives a small file whole).
fn read_cgroup_text(path: &Path) -> Option<String> {
    String::from_utf8(read_once::<4096>(path)?).ok()
}

/// The container's cgroup, or `sub` below it (`exec --cgroup`), relative to a hierarchy root.
fn rel_with(record: &CgroupRecord, sub: Option<&str>) -> PathBuf {
    let rel = record.rel();
    match sub {
        Some(s) => rel.join(s.trim_start_matches('/')),
        None => rel.to_path_buf(),
    }
}

/// The container's cgroup (or `sub` below it) relative to the v2 root, on a pure v2 host or in
/// the unified tree of a hybrid one; with that tree's root.
fn v2_rel(record: &CgroupRecord, sub: Option<&str>) -> Option<(&'static str, PathBuf)> {
    // A container without a cgroup (rootless) has none to hold or clone into, whatever
    // directory its path might name.
    if record.none {
        return None;
    }
    let rel = rel_with(record, sub);
    match (pure_v2(), unified_hybrid()) {
        (true, _) => Some((CGROUP_ROOT, rel)),
        (false, true) => Some((UNIFIED_HYBRID, rel)),
        _ => None,
    }
}

/// True when `pid` is already in the container's v2 cgroup (or `sub` below it); on a hybrid
/// host, its directory in the unified tree.
fn holds_pid(record: &CgroupRecord, pid: i32, sub: Option<&str>) -> bool {
    let Some((_, rel)) = v2_rel(record, sub) else { return false };
    let want = format!("0::/{}", rel.display());
    fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|s| s.lines().any(|l| l == want))
}

/// Where an exec'd process joins the container's cgroup (or `sub` below it) without being
/// migrated from outside: the v2 directory (pure v2, or the unified tree of a hybrid host), open
/// for CLONE_INTO_CGROUP, and each v1 hierarchy's `tasks` file, for the helper to write "0" to
/// before it clones the process (`place` says why). Either may be missing: the caller then moves
/// the process after the clone (`join`), when `holds` says it is not in.
pub struct ExecCgroup {
    pub clone_into: Option<OwnedFd>,
    pub tasks: Vec<TasksFile>,
    /// The v2 line /proc/PID/cgroup shows once the process is in (None: no v2 hierarchy).
    v2_line: Option<String>,
    /// The v1 hierarchies are joined through `tasks` (or there are none: pure v2).
    v1_joined: bool,
}

impl ExecCgroup {
    /// True when the process `pid`, cloned with this, is in the container's cgroup everywhere.
    pub fn holds(&self, pid: i32) -> bool {
        self.v1_joined
            && self.v2_line.as_ref().is_none_or(|want| {
                fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|s| s.lines().any(|l| l == want))
            })
    }
}

pub fn open_for_exec(record: &CgroupRecord, sub: Option<&str>, v1_tasks: bool) -> ExecCgroup {
    let v2 = v2_rel(record, sub);
    let clone_into = v2
        .as_ref()
        .and_then(|(root, rel)| crate::linux::open_fd(&Path::new(root).join(rel), OFlag::O_PATH | OFlag::O_DIRECTORY).ok());
    let pure = v2.as_ref().is_some_and(|(root, _)| *root == CGROUP_ROOT);
    let mut tasks = Vec::new();
    if v1_tasks && !record.none && !pure {
        let rel = rel_with(record, sub);
        for root in hierarchy_roots(&CgroupSetup::Legacy) {
            let path = root.join(&rel).join("tasks");
            if let Ok(fd) = crate::linux::open_fd(&path, OFlag::O_WRONLY) {
                tasks.push((path.display().to_string(), fd));
            }
        }
    }
    let v1_joined = pure || !tasks.is_empty();
    let v2_line = v2.map(|(_, rel)| format!("0::/{}", rel.display()));
    ExecCgroup { clone_into, tasks, v2_line, v1_joined }
}

/// Write "0" to each `tasks` file: moves the calling thread (the whole process when it has one
/// thread) into those v1 cgroups without the kernel's global threadgroup lock.
pub fn join_self(tasks: &[TasksFile]) -> Result<()> {
    for (path, fd) in tasks {
        nix::unistd::write(fd, b"0").map_err(|e| Error::sys(format!("join cgroup: write 0 to {path}"), e))?;
    }
    Ok(())
}

/// The directory whose freezer CRIU uses to stop the container while it dumps it: the v1
/// freezer hierarchy's, or the v2 cgroup (`cgroup.freeze`). None without a cgroup.
pub fn freezer_dir(record: &CgroupRecord) -> Option<PathBuf> {
    if record.none {
        return None;
    }
    let rel = record.rel();
    let v1 = Path::new(CGROUP_ROOT).join("freezer").join(rel);
    if v1.join("freezer.state").exists() {
        return Some(v1);
    }
    let v2 = Path::new(CGROUP_ROOT).join(rel);
    v2.join("cgroup.freeze").exists().then_some(v2)
}

/// A cgroup file of at most N bytes, in one read (open, read, close: `list` asks every
/// container for one of a few bytes).
fn read_once<const N: usize>(path: &Path) -> Option<Vec<u8>> {
    let mut buf = [0u8; N];
    let n = std::io::Read::read(&mut fs::File::open(path).ok()?, &mut buf).ok()?;
    Some(buf[..n].to_vec())
}

/// True when the container's freezer says frozen. Read directly: this runs for every `state`.
pub fn is_frozen(record: &CgroupRecord) -> bool {
    if record.none {
        return false;
    }
    let rel = record.rel();
    let v1 = Path::new(CGROUP_ROOT).join("freezer").join(rel).join("freezer.state");
    if let Some(s) = read_once::<64>(&v1) {
        return s.trim_ascii() == b"FROZEN";
    }
    let v2 = Path::new(CGROUP_ROOT).join(rel).join("cgroup.freeze");
    read_once::<64>(&v2).is_some_and(|s| s.trim_ascii() == b"1")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    #[test]
    fn v1_roots_are_the_topmost_cgroup_mounts_with_their_cpuset_flag() {
        let info = "\
25 1 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/cpuset rw,nosuid - cgroup cgroup rw,cpuset
28 25 0:25 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct
29 25 0:26 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
30 26 0:27 / /sys/fs/cgroup/unified rw - tmpfs hide rw,size=4k
31 29 0:28 / /sys/fs/cgroup/memory rw - tmpfs over rw
32 25 0:29 / /sys/fs/cgroup/cpusetx rw,nosuid - cgroup cgroup rw,name=cpusetx
";
        let got = super::v1_roots_in(info);
        let want: Vec<(PathBuf, bool)> =
            vec![("/sys/fs/cgroup/cpuset".into(), true), ("/sys/fs/cgroup/cpu,cpuacct".into(), false), ("/sys/fs/cgroup/cpusetx".into(), false)];
        assert_eq!(got, want, "cgroup2 and over-mounted hierarchies are left to the stat checks");
    }
}
