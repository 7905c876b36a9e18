//! Test rootfs and bundle construction.

use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

pub fn cap_bit(name: &str) -> Option<u32> {
    CAP_NAMES.iter().position(|c| *c == name).map(|p| p as u32)
}

pub fn caps_mask(names: &[&str]) -> u64 {
    names
        .iter()
        .filter_map(|n| cap_bit(n))
        .fold(0u64, |m, b| m | (1u64 << b))
}

/// Build the shared base rootfs from Debian's busybox-static (same layout as
/// bundles/build-rootfs.sh), plus the static checker at /bin/oci-checker.
pub fn build_base_rootfs(dest: &Path, checker: &[u8]) -> Result<(), String> {
    let bb = Path::new("/bin/busybox");
    if !bb.exists() {
        return Err("/bin/busybox missing: apt-get install busybox-static".into());
    }
    let _ = fs::remove_dir_all(dest);
    for d in [
        "bin",
        "sbin",
        "proc",
        "sys",
        "dev",
        "tmp",
        "etc",
        "root",
        "home/user",
        "usr/bin",
        "oci",
    ] {
        fs::create_dir_all(dest.join(d)).map_err(|e| format!("mkdir {}: {}", d, e))?;
    }
    fs::set_permissions(dest.join("tmp"), fs::Permissions::from_mode(0o1777))
        .map_err(|e| e.to_string())?;
    fs::copy(bb, dest.join("bin/busybox")).map_err(|e| format!("copy busybox: {}", e))?;
    fs::write(dest.join("bin/oci-checker"), checker)
        .map_err(|e| format!("write checker: {}", e))?;
    fs::set_permissions(
        dest.join("bin/oci-checker"),
        fs::Permissions::from_mode(0o755),
    )
    .map_err(|e| e.to_string())?;
    let mut cmd = std::process::Command::new(bb);
    cmd.arg("--list");
    let tmp = dest.with_extension("applets");
    let (_, list) = crate::proc::output(cmd, &tmp, std::time::Duration::from_secs(20))
        .map_err(|e| format!("busybox --list: {}", e))?;
    for applet in list.lines() {
        let a = applet.trim();
        if a.is_empty() || a == "busybox" {
            continue;
        }
        let _ = std::os::unix::fs::symlink("busybox", dest.join("bin").join(a));
    }
    fs::write(
        dest.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .map_err(|e| e.to_string())?;
    fs::write(
        dest.join("etc/group"),
        "root:x:0:\nuser:x:1000:\naudio:x:29:user\nnogroup:x:65534:\n",
    )
    .map_err(|e| e.to_string())?;
    fs::write(dest.join("etc/hostname"), "hull\n").map_err(|e| e.to_string())?;
    let _ = std::os::unix::fs::chown(dest.join("home/user"), Some(1000), Some(1000));
    Ok(())
}

/// Replicate the base rootfs: directories are created, regular files hard-linked,
/// symlinks copied.  Cheap (no data copied) and each bundle gets its own tree.
pub fn clone_tree(src: &Path, dst: &Path) -> Result<(), String> {
    let md = fs::symlink_metadata(src).map_err(|e| format!("{}: {}", src.display(), e))?;
    fs::create_dir_all(dst).map_err(|e| format!("mkdir {}: {}", dst.display(), e))?;
    fs::set_permissions(dst, fs::Permissions::from_mode(md.mode() & 0o7777))
        .map_err(|e| e.to_string())?;
    let _ = std::os::unix::fs::chown(dst, Some(md.uid()), Some(md.gid()));
    for e in fs::read_dir(src).map_err(|e| e.to_string())? {
        let e = e.map_err(|e| e.to_string())?;
        let p = e.path();
        let q = dst.join(e.file_name());
        let ft = e.file_type().map_err(|e| e.to_string())?;
        if ft.is_dir() {
            clone_tree(&p, &q)?;
        } else if ft.is_symlink() {
            let t = fs::read_link(&p).map_err(|e| e.to_string())?;
            std::os::unix::fs::symlink(t, &q).map_err(|e| e.to_string())?;
        } else {
            fs::hard_link(&p, &q).map_err(|e| format!("link {}: {}", q.display(), e))?;
        }
    }
    Ok(())
}

pub fn default_mounts() -> Value {
    json!([
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
    ])
}

pub fn ns_list(types: &[&str]) -> Value {
    Value::Array(types.iter().map(|t| json!({ "type": t })).collect())
}

/// A conventional, schema-valid config.json for a busybox rootfs.
pub fn base_config(id: &str, caps: &[&str]) -> Value {
    let caps: Vec<Value> = caps.iter().map(|c| json!(c)).collect();
    json!({
        "ociVersion": "1.0.2",
        "root": {"path": "rootfs", "readonly": false},
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/oci-checker"],
            "env": ["PATH=/bin:/sbin:/usr/bin", "HOME=/root"],
            "cwd": "/",
            "capabilities": {
                "bounding": caps.clone(),
                "effective": caps.clone(),
                "permitted": caps.clone(),
                "inheritable": [],
                "ambient": []
            }
        },
        "mounts": default_mounts(),
        "linux": {
            "cgroupsPath": format!("/{}/{}", crate::suite::CGROUP_PREFIX, id),
            "namespaces": ns_list(&["pid", "network", "ipc", "uts", "mount"])
        }
    })
}

pub struct Bundle {
    pub dir: PathBuf,
    pub id: String,
    pub config: Value,
    /// container pid learnt from `state` after create
    pub pid: Option<i32>,
    /// stdout/stderr of `create`, inherited by the container process
    pub out: PathBuf,
    pub err: PathBuf,
    /// false for configs that are deliberately invalid (skips self-validation)
    pub valid: bool,
    /// set in rootless runs: `write` transforms the config and hands the bundle to the user
    pub rootless: Option<std::sync::Arc<crate::rootless::Rootless>>,
}

impl Bundle {
    pub fn cgroups_path(&self) -> String {
        self.config["linux"]["cgroupsPath"]
            .as_str()
            .unwrap_or("")
            .to_string()
    }
    pub fn args(&mut self, args: &[&str]) {
        self.config["process"]["args"] = json!(args);
    }
    /// Set the process to the checker with the given probe arguments.
    pub fn checker(&mut self, probes: &[&str]) {
        let mut a = vec!["/bin/oci-checker"];
        a.extend_from_slice(probes);
        self.args(&a);
    }
    pub fn sh(&mut self, script: &str) {
        self.args(&["/bin/sh", "-c", script]);
    }
    pub fn add_mount(&mut self, m: Value) {
        if !self.config["mounts"].is_array() {
            self.config["mounts"] = json!([]);
        }
        self.config["mounts"].as_array_mut().unwrap().push(m);
    }
    pub fn set_namespaces(&mut self, types: &[&str]) {
        self.config["linux"]["namespaces"] = ns_list(types);
    }
    pub fn add_namespace(&mut self, ns: Value) {
        self.config["linux"]["namespaces"]
            .as_array_mut()
            .unwrap()
            .push(ns);
    }
    /// Write config.json.  In a rootless run the written config is
    /// `Rootless::transform(config)` (`self.config` stays as the case made it)
    /// and the bundle directory, rootfs included, is given to the user.
    pub fn write(&self) -> Result<(), String> {
        let cfg = match &self.rootless {
            Some(r) => r.transform(&self.config),
            None => self.config.clone(),
        };
        let text = serde_json::to_string_pretty(&cfg).map_err(|e| e.to_string())?;
        fs::write(self.dir.join("config.json"), text)
            .map_err(|e| format!("write config.json: {}", e))?;
        if let Some(r) = &self.rootless {
            r.chown_tree(&self.dir);
        }
        Ok(())
    }
    pub fn output(&self) -> String {
        fs::read(&self.out)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
    pub fn errput(&self) -> String {
        fs::read(&self.err)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}
