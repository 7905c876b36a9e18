//! The shared busybox rootfs, the base config and per-test bundles.

use super::CG_PREFIX;
use serde_json::{json, Value};
use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const ROOTFS_MARKER: &str = ".hull-test-rootfs-v1";

// ---------------------------------------------------------------------------------------------
// The shared busybox rootfs

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Where the shared rootfs lives: /var/tmp/hull-test-rootfs<the checkout's path, '/' as '-'>,
/// outside the checkout so that the mapped users of user-namespace tests can reach it wherever
/// the checkout is (a clone under /root, mode 0700 on Debian, cannot be searched by uid 100000).
/// `tests/vm/run-cgroupv2.sh` computes the same path.
pub fn rootfs_dir() -> PathBuf {
    PathBuf::from(format!("/var/tmp/hull-test-rootfs{}", manifest_dir().to_string_lossy().replace('/', "-")))
}

/// Absolute path of the shared busybox rootfs (`rootfs_dir()`), built once with
/// `bundles/build-rootfs.sh`. Built in a temp dir and renamed into place, so concurrent test
/// binaries never see a half-built rootfs. Tests mount it read-only; mount points that client
/// configs need (/mnt, /out, /data, /run, /etc/hosts, ...) are created here up front so a
/// runtime never has to create them in the shared rootfs.
pub fn rootfs() -> &'static Path {
    static ROOTFS: OnceLock<PathBuf> = OnceLock::new();
    ROOTFS.get_or_init(build_rootfs)
}

fn build_rootfs() -> PathBuf {
    let dest = rootfs_dir();
    let target = dest.parent().unwrap().to_path_buf();
    if dest.join(ROOTFS_MARKER).exists() {
        // /var/tmp is everyone's: use only a real directory of root's.
        let meta = fs::symlink_metadata(&dest).unwrap();
        assert!(meta.is_dir() && std::os::unix::fs::MetadataExt::uid(&meta) == 0, "{} is not root's directory", dest.display());
        return dest;
    }
    let name = dest.file_name().unwrap().to_string_lossy().into_owned();
    let tmp = target.join(format!("{name}.tmp-{}", std::process::id()));
    let script = manifest_dir().join("bundles/build-rootfs.sh");
    let out = Command::new("sh").arg(&script).arg(&tmp).output().expect("run build-rootfs.sh");
    assert!(
        out.status.success(),
        "{} failed: {}{}",
        script.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for d in ["mnt", "out", "data", "run"] {
        fs::create_dir_all(tmp.join(d)).unwrap();
    }
    for f in ["etc/hosts", "etc/resolv.conf", "run/.containerenv"] {
        File::create(tmp.join(f)).unwrap();
    }
    File::create(tmp.join(ROOTFS_MARKER)).unwrap();
    if dest.exists() && !dest.join(ROOTFS_MARKER).exists() {
        // Stale rootfs from an older version of this file: move it aside, then remove it.
        let old = target.join(format!("{name}.old-{}", std::process::id()));
        if fs::rename(&dest, &old).is_ok() {
            let _ = fs::remove_dir_all(&old);
        }
    }
    if let Err(e) = fs::rename(&tmp, &dest) {
        let _ = fs::remove_dir_all(&tmp);
        assert!(dest.join(ROOTFS_MARKER).exists(), "cannot install {}: {e}", dest.display());
    }
    fs::canonicalize(&dest).unwrap()
}

// ---------------------------------------------------------------------------------------------
// Bundles

/// The base config: like `runc spec` output (non-terminal), root read-only on the shared rootfs,
/// cgroupsPath `/hull-test/<id>`.
pub fn base_config(id: &str) -> Value {
    json!({
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": rootfs().to_str().unwrap(), "readonly": true},
        "hostname": "hull",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "cgroupsPath": format!("/{CG_PREFIX}/{id}"),
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

pub struct Bundle {
    pub id: String,
    pub dir: PathBuf,
    pub config: Value,
}

impl Bundle {
    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.json")
    }
    pub fn write(&self) {
        fs::write(self.config_path(), serde_json::to_vec_pretty(&self.config).unwrap()).unwrap();
    }
    pub fn dir_str(&self) -> &str {
        self.dir.to_str().unwrap()
    }
    /// Set a value at a JSON pointer, creating intermediate objects.
    pub fn set(&mut self, ptr: &str, v: Value) -> &mut Self {
        let mut cur = &mut self.config;
        let parts: Vec<&str> = ptr.trim_start_matches('/').split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i == parts.len() - 1;
            cur = match cur {
                Value::Array(a) => {
                    let idx: usize = part.parse().unwrap();
                    if last {
                        a[idx] = v;
                        return self;
                    }
                    &mut a[idx]
                }
                other => {
                    if !other.is_object() {
                        *other = json!({});
                    }
                    let o = other.as_object_mut().unwrap();
                    if last {
                        o.insert(part.to_string(), v);
                        return self;
                    }
                    o.entry(part.to_string()).or_insert_with(|| json!({}))
                }
            };
        }
        self
    }
    pub fn remove(&mut self, ptr: &str) -> &mut Self {
        let (parent, key) = ptr.rsplit_once('/').unwrap();
        if let Some(o) = self.config.pointer_mut(parent).and_then(|p| p.as_object_mut()) {
            o.remove(key);
        }
        self
    }
    pub fn args(&mut self, args: &[&str]) -> &mut Self {
        self.set("/process/args", json!(args))
    }
    pub fn sh(&mut self, script: &str) -> &mut Self {
        self.args(&["sh", "-c", script])
    }
    pub fn add_mount(&mut self, m: Value) -> &mut Self {
        self.config["mounts"].as_array_mut().unwrap().push(m);
        self
    }
    /// A host directory bind-mounted read-write at `/out` for results; returns its host path.
    pub fn out(&mut self) -> PathBuf {
        let out = self.dir.join("out");
        if !out.exists() {
            fs::create_dir(&out).unwrap();
            let src = out.to_str().unwrap().to_string();
            self.add_mount(json!({"destination": "/out", "type": "bind", "source": src,
                                  "options": ["rbind", "rw"]}));
        }
        out
    }
    pub fn namespaces(&mut self) -> &mut Vec<Value> {
        self.config["linux"]["namespaces"].as_array_mut().unwrap()
    }
    pub fn add_namespace(&mut self, ns: Value) -> &mut Self {
        let ty = ns["type"].as_str().unwrap().to_string();
        self.namespaces().retain(|n| n["type"] != ty.as_str());
        self.namespaces().push(ns);
        self
    }
    pub fn remove_namespace(&mut self, ty: &str) -> &mut Self {
        self.namespaces().retain(|n| n["type"] != ty);
        self
    }
    /// Give this bundle its own writable copy of the rootfs (`<bundle>/rootfs`).
    pub fn private_rootfs(&mut self) -> PathBuf {
        let dest = self.dir.join("rootfs");
        let st = Command::new("cp").arg("-a").arg(rootfs()).arg(&dest).status().unwrap();
        assert!(st.success(), "cp -a rootfs failed");
        self.set("/root/path", json!(dest.to_str().unwrap()));
        dest
    }
    /// Write an executable file into the bundle dir (for scripts and hooks).
    pub fn write_exec(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.dir.join(rel);
        if let Some(parent) = p.parent() {
            fs::create_dir_all(parent).unwrap();
        }
        let mut f = File::create(&p).unwrap();
        f.write_all(content.as_bytes()).unwrap();
        drop(f);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o755)).unwrap();
        p
    }
}
