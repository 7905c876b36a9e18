//! Rootless mode (`--rootless`): the runner stays root, but every runtime
//! command runs as an unprivileged test user, the way that user would run the
//! runtime, and every bundle is made usable by that user.
//!
//! * `Rootless::setup` finds or creates the user (`useradd -m`, which gives it
//!   /etc/subuid and /etc/subgid ranges) and its /run/user/<uid>;
//!   `Rootless::teardown` removes what setup created.
//! * `Rootless::command` wraps a runtime command in `setpriv` + `env -i`.
//! * `Rootless::transform` is THE place where a test config becomes a rootless
//!   config (what `runc spec --rootless` does); `Rootless::chown_tree` hands the
//!   bundle to the user.  Both are applied by `Bundle::write`.
//! * `SKIPS` lists the cases an unprivileged user cannot exercise on this host,
//!   each with its reason.

use crate::suite::CaseDef;
use serde_json::{json, Value};
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

pub const DEFAULT_USER: &str = "hullconformance";
pub const PATH_ENV: &str = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

/// Cases that cannot apply to an unprivileged user on this host (cgroup v1
/// hybrid, no writable hierarchy, no AppArmor/SELinux policy).  `cases` empty =
/// the whole group.  A case is listed here only when the spec's requirement
/// cannot be exercised by an unprivileged user, never because a runtime fails it.
pub struct SkipRule {
    pub group: &'static str,
    pub cases: &'static [&'static str],
    pub reason: &'static str,
}

const NO_CGROUP: &str = "no cgroup: on this cgroup v1 host no hierarchy is writable by an unprivileged user (resources and cgroupsPath are removed)";

pub const SKIPS: &[SkipRule] = &[
    // ---- cgroups: nothing to create, limit or observe
    SkipRule { group: "cgroup-memory-pids", cases: &[], reason: NO_CGROUP },
    SkipRule { group: "cgroup-cpu", cases: &[], reason: NO_CGROUP },
    SkipRule { group: "cgroup-unlimited", cases: &[], reason: NO_CGROUP },
    SkipRule { group: "cgroup-cpu-rt", cases: &[], reason: NO_CGROUP },
    SkipRule { group: "cgroup-cpu-idle", cases: &[], reason: NO_CGROUP },
    SkipRule { group: "cgroup-pids-zero", cases: &[], reason: NO_CGROUP },
    SkipRule { group: "cgroup-blkio-throttle", cases: &[], reason: NO_CGROUP },
    SkipRule { group: "cgroup-blkio-weight", cases: &[], reason: NO_CGROUP },
    SkipRule { group: "cgroup-hugetlb", cases: &[], reason: NO_CGROUP },
    SkipRule { group: "cgroup-network", cases: &[], reason: NO_CGROUP },
    SkipRule { group: "cgroup-rdma", cases: &[], reason: NO_CGROUP },
    SkipRule { group: "cgroup-unified", cases: &[], reason: NO_CGROUP },
    SkipRule { group: "cgroup-same-path", cases: &[], reason: NO_CGROUP },
    SkipRule { group: "cgroup-ownership", cases: &[], reason: NO_CGROUP },
    SkipRule { group: "lifecycle", cases: &["delete-cgroups"], reason: NO_CGROUP },
    SkipRule { group: "lifecycle-failed-create", cases: &["failed-no-cgroup"], reason: NO_CGROUP },
    SkipRule { group: "delete-foreign-resources", cases: &["keep-precreated-cgroup"], reason: NO_CGROUP },
    SkipRule { group: "hooks", cases: &["h-poststop-destroyed"], reason: NO_CGROUP },
    SkipRule {
        group: "device-cgroup",
        cases: &[],
        reason: "no device cgroup: on this cgroup v1 host the devices hierarchy is not writable by an unprivileged user",
    },
    // ---- capabilities
    SkipRule {
        group: "caps-warnings",
        cases: &["cap-ungrantable"],
        reason: "capabilities are granted in the container's own user namespace, where every one can be granted: none is ungrantable",
    },
    // ---- namespaces
    SkipRule {
        group: "ns-inherit",
        cases: &["inh-user"],
        reason: "an unprivileged user's container always has its own user namespace (without one it could mount nothing)",
    },
    SkipRule {
        group: "ns-join",
        cases: &[],
        reason: "the namespaces to join belong to a root process: joining them needs CAP_SYS_ADMIN in the initial user namespace",
    },
    SkipRule {
        group: "ns-join-user",
        cases: &[],
        reason: "the user namespace to join was created by root: joining it needs CAP_SYS_ADMIN in it, which an unprivileged user never has",
    },
    SkipRule {
        group: "ns-inherit-mnt",
        cases: &[],
        reason: "without a mount namespace of its own the container shares the runtime's, owned by the initial user namespace, where an unprivileged user can mount nothing (the case's /proc, /dev)",
    },
    // ---- mounts made by root on the host are locked in the user's mount namespace
    SkipRule {
        group: "mounts",
        cases: &["bind-nonrec"],
        reason: "host submounts are root's and locked in the user's mount namespace: the kernel refuses a non-recursive bind that would uncover them (EINVAL)",
    },
    SkipRule {
        group: "mount-recursive",
        cases: &["rrw", "rsuid", "rdev", "rexec", "ratime", "rdiratime"],
        reason: "the host submount's flags were set by root and are locked in the user's mount namespace: the kernel refuses to clear them (EPERM)",
    },
    SkipRule {
        group: "mount-recursive",
        cases: &["rnoatime", "rnodiratime", "rrelatime", "rstrictatime", "rnostrictatime"],
        reason: "the host submount is root's, so its atime mode is locked in the user's mount namespace: the kernel refuses any change (EPERM)",
    },
    // ---- device nodes
    SkipRule {
        group: "devices",
        cases: &["dev-c", "dev-b", "dev-u", "dev-mode", "dev-owner", "dev-outside"],
        reason: "a char/block device node needs mknod with CAP_MKNOD in the initial user namespace; a bound host node cannot have the configured path, mode or owner",
    },
    // ---- host network devices
    SkipRule {
        group: "net-devices",
        cases: &["netdev-moved", "netdev-up", "netdev-addr", "netdev-exists"],
        reason: "moving a host network device into the container needs CAP_NET_ADMIN in the initial user namespace",
    },
    // ---- id-mapped mounts
    SkipRule {
        group: "idmapped-mounts",
        cases: &["idmap", "ridmap"],
        reason: "id-mapping a host filesystem's mount needs CAP_SYS_ADMIN in the initial user namespace (and the case maps host ids 0 and 1000)",
    },
    SkipRule {
        group: "idmapped-mounts",
        cases: &["idmap-nomap"],
        reason: "the case needs a container without a user namespace; an unprivileged user's container always has one",
    },
    // ---- LSMs
    SkipRule {
        group: "lsm",
        cases: &["apparmor", "selinux", "mountlabel"],
        reason: "loading an AppArmor profile or SELinux policy for a test label needs CAP_MAC_ADMIN in the initial user namespace",
    },
];

/// (case key, reason) of every case of `group` that the table skips.
pub fn skips_for(group: &str, cases: &[CaseDef]) -> Vec<(&'static str, &'static str)> {
    let mut v = Vec::new();
    for c in cases {
        if let Some(r) = SKIPS
            .iter()
            .find(|r| r.group == group && (r.cases.is_empty() || r.cases.contains(&c.key)))
        {
            v.push((c.key, r.reason));
        }
    }
    v
}

pub struct Rootless {
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    pub home: PathBuf,
    pub rundir: PathBuf,
    /// first host id and count of the user's /etc/subuid and /etc/subgid ranges
    pub subuid: Option<(u32, u32)>,
    pub subgid: Option<(u32, u32)>,
    created_user: bool,
    created_rundir: bool,
    torn_down: std::sync::atomic::AtomicBool,
    /// Copies of runtimes the user could not reach where they are (a checkout under a 0700
    /// home): program -> copy, in `bin_dir`.
    copies: std::sync::Mutex<std::collections::HashMap<PathBuf, PathBuf>>,
    bin_dir: PathBuf,
}

/// True when every directory above `p` lets others search it (the user is neither the owner
/// nor in the group of root's directories).
fn reachable_by_others(p: &Path) -> bool {
    p.ancestors().skip(1).all(|d| fs::metadata(d).map(|m| m.permissions().mode() & 0o001 != 0).unwrap_or(false))
}

fn run_quiet(prog: &str, args: &[&str]) -> Result<(), String> {
    // stderr into the captured output: useradd/userdel explain themselves there
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c").arg("exec \"$0\" \"$@\" 2>&1").arg(prog).args(args);
    let tmp = std::env::temp_dir().join(format!("oci-conformance-{}-{}.out", prog, std::process::id()));
    let r = crate::proc::output(cmd, &tmp, Duration::from_secs(60));
    let _ = fs::remove_file(&tmp);
    match r {
        Ok((0, _)) => Ok(()),
        Ok((st, out)) => Err(format!(
            "{} {}: {}: {}",
            prog,
            args.join(" "),
            crate::proc::describe_status(st),
            out.trim()
        )),
        Err(e) => Err(format!("{} {}: {}", prog, args.join(" "), e)),
    }
}

/// uid, gid and home of `name` from /etc/passwd (where useradd puts it; the
/// NSS functions are not used: a static-ish runner and NSS modules do not mix).
fn getpw(name: &str) -> Option<(u32, u32, PathBuf)> {
    let text = fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        if f.len() >= 7 && f[0] == name {
            Some((f[2].parse().ok()?, f[3].parse().ok()?, PathBuf::from(f[5])))
        } else {
            None
        }
    })
}

/// The user's range in /etc/subuid or /etc/subgid (by name or by id).
fn subids(file: &str, name: &str, id: u32) -> Option<(u32, u32)> {
    let text = fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.trim().split(':').collect();
        if f.len() == 3 && (f[0] == name || f[0] == id.to_string()) {
            Some((f[1].parse().ok()?, f[2].parse().ok()?))
        } else {
            None
        }
    })
}

impl Rootless {
    pub fn setup(name: &str) -> Result<Rootless, String> {
        if unsafe { libc::geteuid() } != 0 {
            return Err("--rootless: the runner must run as root (it creates the test user and hands bundles to it)".into());
        }
        let mut created_user = false;
        if getpw(name).is_none() {
            run_quiet("useradd", &["-m", "-s", "/bin/sh", name])?;
            created_user = true;
        }
        let (uid, gid, home) = getpw(name).ok_or_else(|| format!("user {} not found after useradd", name))?;
        if uid == 0 {
            return Err(format!("--rootless-user {} is root", name));
        }
        let rundir = PathBuf::from(format!("/run/user/{}", uid));
        let mut created_rundir = false;
        if !rundir.exists() {
            fs::create_dir_all(&rundir).map_err(|e| format!("{}: {}", rundir.display(), e))?;
            let _ = std::os::unix::fs::chown(&rundir, Some(uid), Some(gid));
            let _ = fs::set_permissions(&rundir, fs::Permissions::from_mode(0o700));
            created_rundir = true;
        }
        let r = Rootless {
            user: name.to_string(),
            uid,
            gid,
            home,
            rundir,
            subuid: subids("/etc/subuid", name, uid),
            subgid: subids("/etc/subgid", name, uid),
            created_user,
            created_rundir,
            torn_down: std::sync::atomic::AtomicBool::new(false),
            copies: Default::default(),
            bin_dir: std::env::temp_dir().join(format!("oci-conformance-rootless-bin-{}", std::process::id())),
        };
        Ok(r)
    }

    /// One line for the TAP header.
    pub fn describe(&self) -> String {
        let sub = |s: &Option<(u32, u32)>| match s {
            Some((a, n)) => format!("{}+{}", a, n),
            None => "none".into(),
        };
        format!(
            "rootless as {} (uid {}, gid {}{}), subuid {}, subgid {}",
            self.user,
            self.uid,
            self.gid,
            if self.created_user { ", created for this run" } else { "" },
            sub(&self.subuid),
            sub(&self.subgid)
        )
    }

    /// Remove the /run/user directory and the user if setup created them.
    pub fn teardown(&self) {
        if self.torn_down.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        if self.created_rundir {
            crate::suite::safe_remove_dir(&self.rundir);
        }
        let _ = fs::remove_dir_all(&self.bin_dir);
        if self.created_user {
            // a runtime process of the user may still be exiting: retry briefly
            let mut last = String::new();
            for _ in 0..10 {
                match run_quiet("userdel", &["-r", &self.user]) {
                    Ok(()) => return,
                    Err(e) => last = e,
                }
                std::thread::sleep(Duration::from_millis(500));
            }
            eprintln!("oci-conformance: could not remove test user {}: {}", self.user, last);
        }
    }

    /// `setpriv ... env -i ... <program> <args>`: the runtime as the user, with
    /// a login-like environment and nothing inherited from the runner.
    pub fn command(&self, program: &Path, args: &[OsString]) -> Command {
        let program = self.reachable(program);
        let mut c = Command::new("/usr/bin/setpriv");
        c.arg("--reuid")
            .arg(self.uid.to_string())
            .arg("--regid")
            .arg(self.gid.to_string())
            .arg("--init-groups")
            .arg("/usr/bin/env")
            .arg("-i")
            .arg(format!("HOME={}", self.home.display()))
            .arg(format!("USER={}", self.user))
            .arg(format!("XDG_RUNTIME_DIR={}", self.rundir.display()))
            .arg(format!("PATH={}", PATH_ENV))
            .arg(program)
            .args(args);
        c
    }

    /// `program`, or a copy of it the user can execute when a directory above it is closed to
    /// others (a checkout under /root).
    fn reachable(&self, program: &Path) -> PathBuf {
        if reachable_by_others(program) {
            return program.to_path_buf();
        }
        let mut copies = self.copies.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = copies.get(program) {
            return c.clone();
        }
        let dir = self.bin_dir.join(copies.len().to_string());
        let copy = dir.join(program.file_name().unwrap_or_default());
        let made = fs::create_dir_all(&dir)
            .and_then(|()| fs::set_permissions(&self.bin_dir, fs::Permissions::from_mode(0o755)))
            .and_then(|()| fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)))
            .and_then(|()| fs::copy(program, &copy).map(|_| ()))
            .and_then(|()| fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)));
        match made {
            Ok(()) => {
                copies.insert(program.to_path_buf(), copy.clone());
                copy
            }
            Err(e) => {
                eprintln!("oci-conformance: copy {} where the test user can run it: {}", program.display(), e);
                program.to_path_buf()
            }
        }
    }

    /// Make a directory the user's (state roots).
    pub fn own_dir(&self, d: &Path) -> Result<(), String> {
        fs::create_dir_all(d).map_err(|e| format!("{}: {}", d.display(), e))?;
        std::os::unix::fs::chown(d, Some(self.uid), Some(self.gid))
            .map_err(|e| format!("chown {}: {}", d.display(), e))?;
        fs::set_permissions(d, fs::Permissions::from_mode(0o700)).map_err(|e| e.to_string())
    }

    /// Recursively give `dir` to the user (lchown: symlinks are not followed;
    /// mount points of other filesystems below are not entered).
    pub fn chown_tree(&self, dir: &Path) {
        let dev = match fs::symlink_metadata(dir) {
            Ok(m) => m.dev(),
            Err(_) => return,
        };
        self.chown_rec(dir, dev);
    }
    fn chown_rec(&self, p: &Path, dev: u64) {
        let Ok(md) = fs::symlink_metadata(p) else { return };
        if md.dev() != dev {
            return;
        }
        if md.uid() != self.uid || md.gid() != self.gid {
            let _ = std::os::unix::fs::lchown(p, Some(self.uid), Some(self.gid));
        }
        if md.is_dir() {
            if let Ok(rd) = fs::read_dir(p) {
                for e in rd.flatten() {
                    self.chown_rec(&e.path(), dev);
                }
            }
        }
    }

    /// The config as the user would run it: what `runc spec --rootless` does to
    /// a config, applied to every test config.  (See README "Rootless mode".)
    pub fn transform(&self, cfg: &Value) -> Value {
        let mut c = cfg.clone();
        if !c["linux"].is_object() {
            c["linux"] = json!({});
        }
        let nss: Vec<Value> = c["linux"]["namespaces"].as_array().cloned().unwrap_or_default();
        let has = |t: &str| nss.iter().any(|n| n["type"] == t);
        // 1. a user namespace mapping the user's own ids to 0 (plus the user's
        //    subordinate ids from 1 on when the config uses other container ids)
        if !has("user") {
            let mut n = nss.clone();
            n.push(json!({"type": "user"}));
            c["linux"]["namespaces"] = Value::Array(n);
            let (u, g) = self.mappings(needs_more_ids(&c));
            c["linux"]["uidMappings"] = u;
            c["linux"]["gidMappings"] = g;
        }
        let (own_net, own_pid, own_ipc) = (has("network"), has("pid"), has("ipc"));
        let host_bind = |m: &Value, src: &str, ro: bool| {
            let mut o = vec!["rbind", "nosuid", "noexec", "nodev"];
            if ro {
                o.push("ro");
            }
            json!({"destination": m["destination"].clone(), "type": "none", "source": src, "options": o})
        };
        if let Some(ms) = c["mounts"].as_array_mut() {
            // 2. no cgroup mount: a user namespace cannot mount cgroup v1 hierarchies
            ms.retain(|m| m["type"] != "cgroup");
            for m in ms.iter_mut() {
                // 3. sysfs only in the container's own network namespace; else the host's, read-only
                if m["type"] == "sysfs" && !own_net {
                    *m = host_bind(m, "/sys", true);
                }
                // likewise proc needs the container's own pid namespace and mqueue its
                // own ipc namespace; without them the user binds the host's
                if m["type"] == "proc" && !own_pid {
                    *m = host_bind(m, "/proc", false);
                }
                if m["type"] == "mqueue" && !own_ipc {
                    *m = host_bind(m, "/dev/mqueue", false);
                }
                // 4. devpts without gid=5 (group 5 is not mapped)
                if m["type"] == "devpts" {
                    if let Some(o) = m["options"].as_array_mut() {
                        o.retain(|x| x != "gid=5");
                    }
                }
            }
        }
        if let Some(l) = c["linux"].as_object_mut() {
            // 5. no cgroup: no resources (but devices, which runtimes also use to
            //    decide what to expose) and no cgroupsPath
            if let Some(r) = l.get("resources").cloned() {
                match r.get("devices") {
                    Some(d) => {
                        l.insert("resources".into(), json!({ "devices": d }));
                    }
                    None => {
                        l.remove("resources");
                    }
                }
            }
            l.remove("cgroupsPath");
        }
        c
    }
}

impl Rootless {
    /// uid and gid mappings: the user's own id as 0, and with `sub` the user's
    /// subordinate ids from 1 on (what an unprivileged user can map; a runtime
    /// writes those through newuidmap/newgidmap).
    pub fn mappings(&self, sub: bool) -> (Value, Value) {
        let map = |own: u32, subr: Option<(u32, u32)>| {
            let mut m = vec![json!({"containerID": 0, "hostID": own, "size": 1})];
            if let (true, Some((start, count))) = (sub, subr) {
                m.push(json!({"containerID": 1, "hostID": start, "size": count.min(65536)}));
            }
            Value::Array(m)
        };
        (map(self.uid, self.subuid), map(self.gid, self.subgid))
    }
}

/// Does the config use container ids other than 0 (process user, additional
/// groups, device owners)?  Those need the user's subordinate ids mapped.
fn needs_more_ids(c: &Value) -> bool {
    let u = &c["process"]["user"];
    let mut ids: Vec<u64> = vec![];
    for k in ["uid", "gid"] {
        if let Some(x) = u[k].as_u64() {
            ids.push(x);
        }
    }
    if let Some(a) = u["additionalGids"].as_array() {
        ids.extend(a.iter().filter_map(|x| x.as_u64()));
    }
    if let Some(ds) = c["linux"]["devices"].as_array() {
        for d in ds {
            for k in ["uid", "gid"] {
                if let Some(x) = d[k].as_u64() {
                    ids.push(x);
                }
            }
        }
    }
    ids.iter().any(|x| *x != 0)
}

impl Drop for Rootless {
    fn drop(&mut self) {
        self.teardown();
    }
}
