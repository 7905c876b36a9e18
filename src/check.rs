//! `hull check`: is this host ready for containers, and for which of hull's features? Each probe
//! asks the kernel (or the file it exposes) directly, the way hull itself would use the feature,
//! and says in one phrase what its absence costs. In the lineage of LXC's `lxc-checkconfig`.

use std::fs;
use std::path::Path;

use nix::errno::Errno;
use serde::Serialize;

#[derive(Serialize, Clone, Copy, PartialEq, Eq, Debug)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Ok,
    Degraded,
    Missing,
}

#[derive(Serialize, Debug)]
pub struct Finding {
    pub name: &'static str,
    pub status: Level,
    /// What was found.
    pub detail: String,
    /// What the absence (or the degradation) costs; empty when ok.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub affects: String,
    /// Every container needs it: `hull check` fails when it is missing.
    pub essential: bool,
}

fn found(name: &'static str, status: Level, detail: impl Into<String>, affects: &str, essential: bool) -> Finding {
    let affects = if status == Level::Ok { String::new() } else { affects.to_string() };
    Finding { name, status, detail: detail.into(), affects, essential }
}

/// The kernel release, e.g. "6.18.44".
pub fn kernel_release() -> String {
    nix::sys::utsname::uname().map(|u| u.release().to_string_lossy().into_owned()).unwrap_or_default()
}

/// Every finding, in the order `hull check` prints them.
pub fn run_all() -> Vec<Finding> {
    let mut v = vec![namespaces(), user_namespaces()];
    v.extend(cgroups());
    v.extend([
        systemd(),
        seccomp(),
        seccomp_notify(),
        device_filter(),
        clone_into_cgroup(),
        pidfd(),
        openat2(),
        mount_api(),
        overlayfs(),
        sealing(),
        lsm(),
        criu(),
        id_helpers(),
        cgroup_kill(),
    ]);
    v
}

fn namespaces() -> Finding {
    let want = ["mnt", "pid", "uts", "ipc", "net", "cgroup", "user", "time"];
    let missing: Vec<&str> = want.iter().copied().filter(|n| !Path::new("/proc/self/ns").join(n).exists()).collect();
    let essential_missing = missing.iter().any(|n| ["mnt", "pid", "uts", "ipc", "net"].contains(n));
    match (missing.is_empty(), essential_missing) {
        (true, _) => found("namespaces", Level::Ok, want.join(" "), "", true),
        (false, true) => found("namespaces", Level::Missing, format!("missing: {}", missing.join(" ")), "containers cannot be isolated", true),
        (false, false) => found("namespaces", Level::Degraded, format!("missing: {}", missing.join(" ")), "configs asking for these namespaces fail", true),
    }
}

fn read_trim(p: &str) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_string())
}

fn user_namespaces() -> Finding {
    let max = read_trim("/proc/sys/user/max_user_namespaces").and_then(|s| s.parse::<u64>().ok());
    let unpriv = read_trim("/proc/sys/kernel/unprivileged_userns_clone");
    let restricted = read_trim("/proc/sys/kernel/apparmor_restrict_unprivileged_userns");
    match max {
        None | Some(0) => found("user namespaces", Level::Missing, "user.max_user_namespaces is 0 or absent", "no user-namespaced or rootless containers", false),
        Some(_) if unpriv.as_deref() == Some("0") => found(
            "user namespaces",
            Level::Degraded,
            "root only: kernel.unprivileged_userns_clone is 0",
            "rootless containers cannot run",
            false,
        ),
        Some(_) if restricted.as_deref() == Some("1") => found(
            "user namespaces",
            Level::Degraded,
            "AppArmor restricts them for unprivileged users",
            "rootless containers need an AppArmor profile that allows them",
            false,
        ),
        Some(n) => found("user namespaces", Level::Ok, format!("for root and unprivileged users (max {n})"), "", false),
    }
}

/// The cgroup mode and controllers: one finding for the mode, one for the controllers.
fn cgroups() -> Vec<Finding> {
    const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
    // The magic is an i64 on glibc and a u64 on musl.
    #[allow(clippy::unnecessary_cast)]
    let magic = |p: &str| nix::sys::statfs::statfs(p).map(|s| s.filesystem_type().0 as i64).ok();
    let affects = "containers cannot be given limits or be tracked";
    match magic("/sys/fs/cgroup") {
        Some(CGROUP2_SUPER_MAGIC) => {
            let available = read_trim("/sys/fs/cgroup/cgroup.controllers").unwrap_or_default();
            let delegated = read_trim("/sys/fs/cgroup/cgroup.subtree_control").unwrap_or_default();
            let missing: Vec<&str> = ["cpu", "memory", "pids", "io"].into_iter().filter(|c| !available.split(' ').any(|a| a == *c)).collect();
            let ctl = if missing.is_empty() {
                found("cgroup controllers", Level::Ok, format!("available: {available}; enabled for children: {delegated}"), "", false)
            } else {
                found(
                    "cgroup controllers",
                    Level::Degraded,
                    format!("available: {available}; missing: {}", missing.join(" ")),
                    "limits of the missing controllers are refused",
                    false,
                )
            };
            vec![found("cgroup mode", Level::Ok, "v2 (unified)", affects, true), ctl]
        }
        Some(_) => {
            let mut v1: Vec<String> = fs::read_dir("/sys/fs/cgroup")
                .map(|rd| rd.flatten().filter(|e| !e.path().is_symlink() && e.path().is_dir()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
                .unwrap_or_default();
            v1.sort();
            let hybrid = v1.iter().any(|d| d == "unified") && magic("/sys/fs/cgroup/unified") == Some(CGROUP2_SUPER_MAGIC);
            v1.retain(|d| d != "unified");
            let mode = if hybrid { "v1 hybrid (v1 controllers, cgroup2 at /sys/fs/cgroup/unified)" } else { "v1" };
            let missing: Vec<&str> = ["cpu", "memory", "pids", "devices", "freezer"].into_iter().filter(|c| !v1.iter().any(|a| a == c)).collect();
            let ctl = if missing.is_empty() {
                found("cgroup controllers", Level::Ok, format!("v1 hierarchies: {}", v1.join(" ")), "", false)
            } else {
                found(
                    "cgroup controllers",
                    Level::Degraded,
                    format!("v1 hierarchies: {}; missing: {}", v1.join(" "), missing.join(" ")),
                    "limits of the missing controllers are refused",
                    false,
                )
            };
            vec![found("cgroup mode", Level::Ok, mode, affects, true), ctl]
        }
        None => vec![found("cgroup mode", Level::Missing, "nothing mounted at /sys/fs/cgroup", affects, true)],
    }
}

fn systemd() -> Finding {
    let comm = read_trim("/proc/1/comm").unwrap_or_default();
    if Path::new("/run/systemd/system").is_dir() && Path::new("/run/systemd/private").exists() {
        found("systemd cgroup driver", Level::Ok, format!("systemd is PID 1 ({comm})"), "", false)
    } else {
        found("systemd cgroup driver", Level::Missing, format!("PID 1 is {comm:?}, not systemd"), "--systemd-cgroup cannot be used", false)
    }
}

fn seccomp() -> Finding {
    // SAFETY: PR_GET_SECCOMP takes no pointers.
    let r = unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) };
    if r >= 0 {
        found("seccomp", Level::Ok, "filters available", "", false)
    } else {
        found("seccomp", Level::Missing, format!("prctl(PR_GET_SECCOMP): {}", Errno::last()), "configs with linux.seccomp fail", false)
    }
}

fn seccomp_notify() -> Finding {
    const SECCOMP_GET_ACTION_AVAIL: libc::c_uint = 2;
    const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
    let action = SECCOMP_RET_USER_NOTIF;
    // SAFETY: the kernel reads one u32 through the pointer, which is valid for the call.
    let r = unsafe { libc::syscall(libc::SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action as *const u32) };
    if r == 0 {
        found("seccomp user notification", Level::Ok, "SECCOMP_RET_USER_NOTIF available", "", false)
    } else {
        found("seccomp user notification", Level::Missing, format!("{}", Errno::last()), "profiles with SCMP_ACT_NOTIFY and listenerPath fail", false)
    }
}

fn device_filter() -> Finding {
    if !crate::cgroups::pure_v2() {
        return found("eBPF device filter", Level::Ok, "not needed: the v1 devices controller enforces device rules", "", false);
    }
    let prog = crate::cgroups::device_filter::program(&crate::cgroups::device_filter::default_rules());
    match crate::linux::bpf::load_device_program(&prog) {
        Ok(_) => found("eBPF device filter", Level::Ok, "BPF_PROG_TYPE_CGROUP_DEVICE programs load", "", true),
        Err((e, _)) => found("eBPF device filter", Level::Missing, format!("bpf(BPF_PROG_LOAD): {e}"), "device rules cannot be enforced on cgroup v2", true),
    }
}

/// (major, minor) of the running kernel.
fn kernel_version() -> (u32, u32) {
    let r = kernel_release();
    let mut it = r.split(|c: char| !c.is_ascii_digit()).filter_map(|p| p.parse::<u32>().ok());
    (it.next().unwrap_or(0), it.next().unwrap_or(0))
}

fn clone_into_cgroup() -> Finding {
    if !crate::cgroups::pure_v2() {
        return found("CLONE_INTO_CGROUP", Level::Ok, "not used: a v1 host moves the init into its cgroups", "", false);
    }
    if kernel_version() >= (5, 7) {
        found("CLONE_INTO_CGROUP", Level::Ok, "Linux 5.7 or later: processes are born in their cgroup", "", false)
    } else {
        found("CLONE_INTO_CGROUP", Level::Degraded, "kernel older than 5.7", "processes are moved into their cgroup after the clone", false)
    }
}

fn pidfd() -> Finding {
    // SAFETY: pidfd_open takes integers and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, std::process::id(), 0) };
    if fd >= 0 {
        // SAFETY: the descriptor was just returned and is closed once.
        unsafe { libc::close(fd as i32) };
        found("pidfd", Level::Ok, "pidfd_open available", "", false)
    } else {
        found("pidfd", Level::Missing, format!("pidfd_open: {}", Errno::last()), "--pidfd-socket cannot be used", false)
    }
}

fn openat2() -> Finding {
    let root = match crate::linux::open_fd("/", nix::fcntl::OFlag::O_PATH | nix::fcntl::OFlag::O_DIRECTORY) {
        Ok(f) => f,
        Err(e) => return found("openat2", Level::Missing, format!("open /: {e}"), "", true),
    };
    match crate::linux::safe_path::open_in_root(std::os::fd::AsFd::as_fd(&root), Path::new("proc")) {
        Ok(_) => found("openat2", Level::Ok, "RESOLVE_IN_ROOT lookups available", "", true),
        Err(e) => found("openat2", Level::Missing, format!("openat2: {e}"), "hull cannot resolve mount destinations safely: no container can be created", true),
    }
}

fn mount_api() -> Finding {
    if crate::linux::idmap::supported() {
        found("mount_setattr and idmapped mounts", Level::Ok, "open_tree and mount_setattr available", "", false)
    } else {
        found("mount_setattr and idmapped mounts", Level::Missing, "kernel older than 5.12", "idmapped mounts (idmap, ridmap, mount uidMappings) and recursive mount attributes are refused", false)
    }
}

fn overlayfs() -> Finding {
    let listed = fs::read_to_string("/proc/filesystems").is_ok_and(|s| s.lines().any(|l| l.split_whitespace().last() == Some("overlay")));
    if listed {
        found("overlayfs", Level::Ok, "in /proc/filesystems", "", false)
    } else {
        found("overlayfs", Level::Degraded, "not in /proc/filesystems (module not loaded?)", "the sealed binary falls back to a memfd copy", false)
    }
}

fn sealing() -> Finding {
    let how = |in_place: Option<String>| match in_place {
        None => ", run in place".to_string(),
        Some(why) => format!(", re-executed (in place: {why})"),
    };
    match crate::linux::seal::probe() {
        Ok((crate::linux::seal::Mechanism::Overlay, in_place)) => {
            found("sealed runtime binary", Level::Ok, format!("read-only overlayfs view{}", how(in_place)), "", true)
        }
        Ok((crate::linux::seal::Mechanism::Memfd(why), in_place)) => found(
            "sealed runtime binary",
            Level::Degraded,
            format!("sealed memfd copy{}; the overlayfs view failed: {why}", how(in_place)),
            "create, run and exec copy hull's binary each time",
            true,
        ),
        Err(e) => found("sealed runtime binary", Level::Missing, e, "create, run and exec refuse to run", true),
    }
}

fn lsm() -> Finding {
    let apparmor = read_trim("/sys/module/apparmor/parameters/enabled").is_some_and(|s| s == "Y");
    let selinux = Path::new("/sys/fs/selinux/enforce").exists();
    match (apparmor, selinux) {
        (true, _) => found("LSM", Level::Ok, "AppArmor enabled", "", false),
        (_, true) => found("LSM", Level::Ok, "SELinux enabled", "", false),
        _ => found("LSM", Level::Missing, "neither AppArmor nor SELinux is enabled", "configs naming an AppArmor profile fail; SELinux labels are refused", false),
    }
}

fn which(cmd: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    std::env::split_paths(&path).map(|d| d.join(cmd)).find(|p| p.is_file())
}

/// CRIU for checkpoint/restore: installed, recent enough, and `criu check` passing here.
fn criu() -> Finding {
    let Ok(p) = crate::criu::find() else {
        return found("CRIU", Level::Missing, "criu not installed", "checkpoint and restore unavailable", false);
    };
    match crate::criu::ready("criu") {
        Ok(_) => found("CRIU", Level::Ok, format!("{} works on this kernel (criu check)", p.display()), "", false),
        Err(e) => found("CRIU", Level::Degraded, e.to_string(), "checkpoint and restore fail", false),
    }
}

/// newuidmap/newgidmap and the calling user's subordinate ranges.
fn id_helpers() -> Finding {
    let uid = nix::unistd::getuid();
    let user = nix::unistd::User::from_uid(uid).ok().flatten().map(|u| u.name).unwrap_or_default();
    let ranges = |file: &str| -> u64 {
        fs::read_to_string(file)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() == 3 && (f[0] == user || f[0] == uid.to_string())).then(|| f[2].parse::<u64>().unwrap_or(0))
            })
            .sum()
    };
    if uid.is_root() {
        return found("newuidmap and subordinate ids", Level::Ok, "root: maps any ids without helpers", "", false);
    }
    let tools = which("newuidmap").is_some() && which("newgidmap").is_some();
    let (subuid, subgid) = (ranges("/etc/subuid"), ranges("/etc/subgid"));
    let who = if user.is_empty() { format!("uid {uid}") } else { user.clone() };
    match (tools, subuid > 0 && subgid > 0) {
        (true, true) => found("newuidmap and subordinate ids", Level::Ok, format!("{who}: {subuid} subordinate uids, {subgid} gids"), "", false),
        (false, _) => found(
            "newuidmap and subordinate ids",
            Level::Missing,
            "newuidmap/newgidmap not installed (Debian: uidmap)",
            "rootless containers cannot use more than one uid",
            false,
        ),
        (true, false) => found(
            "newuidmap and subordinate ids",
            Level::Missing,
            format!("{who} has no range in /etc/subuid or /etc/subgid"),
            "rootless containers cannot use more than one uid",
            false,
        ),
    }
}

fn cgroup_kill() -> Finding {
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let rel = own.lines().find_map(|l| l.strip_prefix("0::")).unwrap_or("/").trim_start_matches('/').to_string();
    let base = if crate::cgroups::pure_v2() { Path::new("/sys/fs/cgroup").to_path_buf() } else { Path::new("/sys/fs/cgroup/unified").to_path_buf() };
    let has = base.join(&rel).join("cgroup.kill").exists() || (kernel_version() >= (5, 14) && base.join("cgroup.controllers").exists());
    if has {
        found("cgroup.kill", Level::Ok, "Linux 5.14 or later with cgroup2", "", false)
    } else {
        found("cgroup.kill", Level::Degraded, "no cgroup.kill", "kill --all signals the processes one by one, racing with forks", false)
    }
}
