//! Shared infrastructure for hull's integration tests.
//!
//! The tests drive a runtime BINARY through its command line only: `HULL_TEST_RUNTIME` when set
//! (e.g. `/usr/sbin/runc`, to prove a test against the reference runtime), else the `hull` binary
//! cargo built. Every call uses `--root /run/hull-test`; every bundle uses the absolute
//! `linux.cgroupsPath` `/hull-test/<id>`; every test ends with `Test::finish`, which deletes its
//! containers and asserts that no state dir, cgroup or mount is left behind.
//!
//! Concurrency: tests run in parallel threads and several test binaries may run at once. Ids and
//! scratch dirs contain the test name and the pid. Each `Test` holds a shared `flock` on
//! `target/hull-test.lock`; whoever releases it last (and then gets it exclusively) removes the
//! empty `/hull-test` cgroup parents and the empty state root.
//!
//! Run: `cargo test --tests` as root (skips with a printed reason otherwise), or against runc:
//! `HULL_TEST_RUNTIME=/usr/sbin/runc cargo test --tests`. Preferably under `tini -s --` so exited
//! container inits are reaped at once; the tests also work without it.
//!
//! A test looks like:
//! ```ignore
//! let Some(t) = setup("my_test") else { return };   // root check, rootfs, lock
//! let mut b = t.bundle();                             // base config for id `my_test-<pid>`
//! b.sh("echo hi").set("/process/cwd", json!("/etc"));
//! assert_eq!(t.run_ok(&b).trim(), "hi");
//! t.finish();                                         // delete --force + assert nothing left
//! ```
#![allow(dead_code)]

mod bundle;
mod parse;
pub use bundle::*;
#[allow(unused_imports)]
pub use parse::*;

use serde_json::Value;
use std::cell::{Cell, RefCell};
use std::fs::{self, File};
use std::os::unix::io::AsRawFd;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const STATE_ROOT: &str = "/run/hull-test";
pub const CG_PREFIX: &str = "hull-test";
pub const CG_ROOT: &str = "/sys/fs/cgroup";
/// A runtime command that takes longer than this is hung: it is killed and the test fails.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(120);
/// Generous: tests must not fail because a machine is slow.
pub const WAIT_TIMEOUT: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// The runtime under test

pub fn runtime() -> PathBuf {
    match std::env::var_os("HULL_TEST_RUNTIME") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_hull")),
    }
}

pub fn runtime_name() -> String {
    runtime().file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// True when the binary under test is hull (not runc): gates the few hull-only assertions where
/// runc 1.1.5 legitimately differs from CONTRACT.md.
pub fn is_hull() -> bool {
    runtime_name().starts_with("hull")
}

// ---------------------------------------------------------------------------------------------
// Command output

#[derive(Debug)]
pub struct Out {
    pub cmd: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
    pub fn show(&self) -> String {
        format!(
            "command: {}\nexit: {:?} signal: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.cmd, self.code, self.signal, self.stdout, self.stderr
        )
    }
    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert!(self.ok(), "expected success\n{}", self.show());
        self
    }
    /// stderr with each runc-shaped log line (`time="..." level=error msg="..."`) replaced by
    /// its message, unquoted: what the user is told.
    pub fn error_text(&self) -> String {
        self.stderr.lines().map(|l| log_line_msg(l).unwrap_or_else(|| l.to_string())).collect::<Vec<_>>().join("\n")
    }
    /// Exit status 1 and `needle` (case-insensitive) in the error (stderr, with the `msg` of a
    /// runc-shaped log line unquoted).
    #[track_caller]
    pub fn assert_err(&self, needle: &str) -> &Self {
        assert_eq!(self.code, Some(1), "expected exit status 1\n{}", self.show());
        assert!(
            self.error_text().to_lowercase().contains(&needle.to_lowercase()),
            "expected stderr to mention {needle:?}\n{}",
            self.show()
        );
        self
    }
}

/// The `msg` of a logrus text line (`time="..." level=... msg=...`), with Go's quoting undone.
pub fn log_line_msg(line: &str) -> Option<String> {
    if !line.starts_with("time=\"") {
        return None;
    }
    let rest = &line[line.find(" msg=")? + 5..];
    let Some(q) = rest.strip_prefix('"') else {
        return Some(rest.split(' ').next().unwrap_or("").to_string());
    };
    let mut out = String::new();
    let mut chars = q.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => return Some(out),
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'x' => {
                    let h: String = chars.by_ref().take(2).collect();
                    out.push(u8::from_str_radix(&h, 16).ok()? as char);
                }
                c => out.push(c),
            },
            c => out.push(c),
        }
    }
    None
}

/// Run `cmd` with stdout/stderr going to files (never pipes: a container inherits the runtime's
/// stdio, and a pipe would only reach EOF when the container exits), with a timeout.
fn run_cmd(cmd: Command, scratch: &Path, seq: u32) -> Out {
    run_cmd_with(cmd, scratch, seq, |_| {})
}

/// `run_cmd`, with `adjust` applied last (it may override stdin, the cwd, add `pre_exec`, ...).
fn run_cmd_with(mut cmd: Command, scratch: &Path, seq: u32, adjust: impl FnOnce(&mut Command)) -> Out {
    let so = scratch.join(format!("cmd-{seq}.stdout"));
    let se = scratch.join(format!("cmd-{seq}.stderr"));
    cmd.stdin(Stdio::null())
        .stdout(File::create(&so).unwrap())
        .stderr(File::create(&se).unwrap())
        .current_dir(scratch);
    adjust(&mut cmd);
    let desc = format!("{cmd:?}");
    let mut child = spawn_retrying(&mut cmd).unwrap_or_else(|e| panic!("cannot spawn {desc}: {e}"));
    let status = wait_child(&mut child, CMD_TIMEOUT, &desc);
    let out = Out {
        cmd: desc,
        code: status.code(),
        signal: status.signal(),
        stdout: fs::read_to_string(&so).unwrap_or_default(),
        stderr: fs::read_to_string(&se).unwrap_or_default(),
    };
    let _ = fs::remove_file(&so);
    let _ = fs::remove_file(&se);
    out
}

/// Spawn, retrying while the program is "text file busy": a binary a test has just copied (a
/// private runtime) can still be open for writing in a child another test thread is forking.
pub fn spawn_retrying(cmd: &mut Command) -> std::io::Result<Child> {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            r => return r,
        }
    }
}

/// Wait for a child we spawned; kill it (by its own pid) if it hangs.
pub fn wait_child(child: &mut Child, timeout: Duration, what: &str) -> std::process::ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("timed out after {timeout:?}: {what}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Poll `f` until it returns Some, or panic after WAIT_TIMEOUT.
#[track_caller]
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT_TIMEOUT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {WAIT_TIMEOUT:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Wait until a file holds at least one complete line (containers write them with `echo`; the
/// file can be seen empty between the shell's open and its write) and return its content.
#[track_caller]
pub fn wait_file(path: &Path) -> String {
    wait_for(&format!("a line in {}", path.display()), || {
        fs::read_to_string(path).ok().filter(|s| s.ends_with('\n'))
    })
}

// ---------------------------------------------------------------------------------------------
// Host observations

/// True on a pure cgroup v2 host (/sys/fs/cgroup is a cgroup2 mount), false on a v1 or hybrid
/// host. The cgroup tests run on both: v1 on the host, v2 in the VM lane (`make test-cgroupv2`).
pub fn cgroup_v2() -> bool {
    let c = std::ffi::CString::new(CG_ROOT).unwrap();
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: statfs writes into `st`, which outlives the call.
    unsafe { libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == libc::CGROUP2_SUPER_MAGIC }
}

/// Every cgroup hierarchy directory: the v1 controllers and `unified` under /sys/fs/cgroup on a
/// v1 or hybrid host, /sys/fs/cgroup itself on a v2 host. Only directories with a cgroup.procs
/// file: anything else in the tmpfs that holds the hierarchies (a stray directory) is none.
pub fn cgroup_hierarchies() -> Vec<PathBuf> {
    if cgroup_v2() {
        return vec![PathBuf::from(CG_ROOT)];
    }
    let mut v: Vec<PathBuf> = fs::read_dir(CG_ROOT)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| !p.is_symlink() && p.join("cgroup.procs").is_file())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The container's cgroup directory for controller `ctrl`: `/sys/fs/cgroup/<ctrl>/hull-test/<id>`
/// on v1, `/sys/fs/cgroup/hull-test/<id>` (whatever `ctrl`) on v2.
pub fn cgroup_dir(ctrl: &str, id: &str) -> PathBuf {
    if cgroup_v2() {
        return Path::new(CG_ROOT).join(CG_PREFIX).join(id);
    }
    Path::new(CG_ROOT).join(ctrl).join(CG_PREFIX).join(id)
}

/// The v1 controllers a runtime must use on this hybrid host.
pub const V1_CONTROLLERS: &[&str] =
    &["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "pids", "blkio"];

pub fn read_trim(p: impl AsRef<Path>) -> String {
    let p = p.as_ref();
    fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// Mount points (field 5 of /proc/self/mountinfo) at or under `dir`, and lines mentioning it.
pub fn host_mounts_mentioning(needle: &Path) -> Vec<String> {
    let n = needle.to_string_lossy();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(n.as_ref()))
        .map(String::from)
        .collect()
}

/// The `ns:[inode]` link of a namespace of a process.
pub fn ns_link(pid: &str, ns: &str) -> String {
    let p = format!("/proc/{pid}/ns/{ns}");
    fs::read_link(&p).unwrap_or_else(|e| panic!("readlink {p}: {e}")).to_string_lossy().into_owned()
}

pub fn sanitize(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() || "_.-".contains(c) { c } else { '-' }).collect()
}

// ---------------------------------------------------------------------------------------------
// One test's context

pub struct Test {
    pub name: String,
    base_id: String,
    /// Per-test temp dir (bundles, results, captured output). Removed on drop.
    pub scratch: PathBuf,
    ids: RefCell<Vec<String>>,
    seq: Cell<u32>,
    lock: Option<File>,
    /// A private copy of the runtime this test drives instead of `runtime()` (see `private_runtime`).
    runtime_copy: RefCell<Option<PathBuf>>,
}

/// Start a test. Returns None (after printing why) when not root: the runtime needs root.
/// CI runs as root, where this never skips.
pub fn setup(name: &str) -> Option<Test> {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("SKIP {name}: needs root (containers need namespaces, mounts and cgroups)");
        return None;
    }
    rootfs();
    let lock_path = manifest_dir().join("target/hull-test.lock");
    let lock = File::options().create(true).append(true).open(&lock_path).unwrap();
    assert_eq!(unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_SH) }, 0, "flock {lock_path:?}");
    let base_id = sanitize(&format!("{name}-{}", std::process::id()));
    let scratch = std::env::temp_dir().join(format!("hull-test-{base_id}"));
    if scratch.exists() && host_mounts_mentioning(&scratch).is_empty() {
        let _ = fs::remove_dir_all(&scratch);
    }
    fs::create_dir_all(&scratch).unwrap();
    let scratch = fs::canonicalize(&scratch).unwrap();
    Some(Test {
        name: name.to_string(),
        base_id,
        scratch,
        ids: RefCell::new(Vec::new()),
        seq: Cell::new(0),
        lock: Some(lock),
        runtime_copy: RefCell::new(None),
    })
}

impl Test {
    /// The binary this test drives: its private copy when it made one, else `runtime()`.
    pub fn bin(&self) -> PathBuf {
        self.runtime_copy.borrow().clone().unwrap_or_else(runtime)
    }
    /// Copy the runtime into the scratch dir and drive that copy from now on: attack tests use
    /// it, so that nothing else executes the file they try to overwrite and a successful attack
    /// damages only the copy. Returns the copy's path.
    pub fn private_runtime(&self) -> PathBuf {
        let copy = self.scratch.join(runtime_name());
        fs::copy(runtime(), &copy).unwrap_or_else(|e| panic!("copy the runtime to {copy:?}: {e}"));
        *self.runtime_copy.borrow_mut() = Some(copy.clone());
        copy
    }
    fn next(&self) -> u32 {
        let n = self.seq.get() + 1;
        self.seq.set(n);
        n
    }
    /// The test's main container id (registered for cleanup).
    pub fn id(&self) -> String {
        self.register(self.base_id.clone())
    }
    /// A further container id `<test>-<pid>-<suffix>` (registered for cleanup).
    pub fn id_with(&self, suffix: &str) -> String {
        self.register(format!("{}-{}", self.base_id, sanitize(suffix)))
    }
    fn register(&self, id: String) -> String {
        let mut ids = self.ids.borrow_mut();
        if !ids.contains(&id) {
            ids.push(id.clone());
        }
        id
    }
    /// A fresh bundle dir with the base config for the main id.
    pub fn bundle(&self) -> Bundle {
        let id = self.id();
        self.bundle_for(&id)
    }
    /// A fresh bundle dir with the base config for `id` (get it from `id`/`id_with`).
    pub fn bundle_for(&self, id: &str) -> Bundle {
        let dir = self.scratch.join(format!("bundle-{}-{}", sanitize(id), self.next()));
        fs::create_dir_all(&dir).unwrap();
        Bundle { id: id.to_string(), dir, config: base_config(id) }
    }
    /// A directory in the scratch space.
    pub fn dir(&self, name: &str) -> PathBuf {
        let d = self.scratch.join(name);
        fs::create_dir_all(&d).unwrap();
        d
    }

    // --- runtime invocations -----------------------------------------------------------------

    /// `<runtime> <args>` with nothing added.
    pub fn rt_raw(&self, args: &[&str]) -> Out {
        let mut c = Command::new(self.bin());
        c.args(args);
        run_cmd(c, &self.scratch, self.next())
    }
    /// `<runtime> <args>` with extra environment variables.
    pub fn rt_raw_env(&self, args: &[&str], env: &[(&str, &str)]) -> Out {
        let mut c = Command::new(self.bin());
        c.args(args).envs(env.iter().copied());
        run_cmd(c, &self.scratch, self.next())
    }
    /// `<runtime> --root /run/hull-test <args>`
    pub fn rt(&self, args: &[&str]) -> Out {
        let mut c = Command::new(self.bin());
        c.arg("--root").arg(STATE_ROOT).args(args);
        run_cmd(c, &self.scratch, self.next())
    }
    /// `<runtime> --root /run/hull-test <args>`, with `adjust` applied to the command just before
    /// it is spawned (extra descriptors through `pre_exec`, another cwd, environment, stdin).
    pub fn rt_with(&self, args: &[&str], adjust: impl FnOnce(&mut Command)) -> Out {
        let mut c = Command::new(self.bin());
        c.arg("--root").arg(STATE_ROOT).args(args);
        run_cmd_with(c, &self.scratch, self.next(), adjust)
    }
    /// Spawn `<runtime> --root /run/hull-test <args>` in the background, stdout/stderr to files.
    pub fn rt_spawn(&self, args: &[&str]) -> Spawned {
        let n = self.next();
        let stdout = self.scratch.join(format!("spawn-{n}.stdout"));
        let stderr = self.scratch.join(format!("spawn-{n}.stderr"));
        let mut cmd = Command::new(self.bin());
        cmd.arg("--root")
            .arg(STATE_ROOT)
            .args(args)
            .stdin(Stdio::null())
            .stdout(File::create(&stdout).unwrap())
            .stderr(File::create(&stderr).unwrap())
            .current_dir(&self.scratch);
        let child = spawn_retrying(&mut cmd).unwrap();
        Spawned { child, stdout, stderr }
    }
    /// Write the config and `create --bundle <dir> [extra] <id>`; no assertion.
    pub fn try_create(&self, b: &Bundle, extra: &[&str]) -> Out {
        b.write();
        let mut args = vec!["create", "--bundle", b.dir_str()];
        args.extend_from_slice(extra);
        args.push(&b.id);
        self.rt(&args)
    }
    /// Create (must succeed, status `created`); returns the init pid from `state`.
    #[track_caller]
    pub fn create(&self, b: &Bundle) -> i64 {
        self.try_create(b, &[]).assert_ok();
        let st = self.state(&b.id).expect("state after create");
        assert_eq!(st["status"], "created", "state after create: {st}");
        let pid = st["pid"].as_i64().unwrap();
        assert!(pid > 0, "state pid after create: {st}");
        pid
    }
    #[track_caller]
    pub fn start(&self, id: &str) {
        self.rt(&["start", id]).assert_ok();
    }
    /// create + start; returns the init pid.
    #[track_caller]
    pub fn create_start(&self, b: &Bundle) -> i64 {
        let pid = self.create(b);
        self.start(&b.id);
        pid
    }
    /// Write the config and `run --bundle <dir> [extra] <id>` in the foreground.
    pub fn run(&self, b: &Bundle, extra: &[&str]) -> Out {
        b.write();
        let mut args = vec!["run", "--bundle", b.dir_str()];
        args.extend_from_slice(extra);
        args.push(&b.id);
        self.rt(&args)
    }
    /// `run` that must exit 0; returns the container's stdout.
    #[track_caller]
    pub fn run_ok(&self, b: &Bundle) -> String {
        let out = self.run(b, &[]);
        out.assert_ok();
        out.stdout
    }
    /// The `state` JSON, or None when the runtime says the container does not exist.
    #[track_caller]
    pub fn state(&self, id: &str) -> Option<Value> {
        let out = self.rt(&["state", id]);
        if !out.ok() {
            assert!(
                out.stderr.contains("does not exist"),
                "state failed for another reason than a missing container\n{}",
                out.show()
            );
            return None;
        }
        Some(serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("state JSON: {e}\n{}", out.show())))
    }
    #[track_caller]
    pub fn status(&self, id: &str) -> Option<String> {
        self.state(id).map(|s| s["status"].as_str().unwrap_or_default().to_string())
    }
    #[track_caller]
    pub fn wait_status(&self, id: &str, want: &str) -> Value {
        wait_for(&format!("container {id} to be {want}"), || {
            self.state(id).filter(|s| s["status"] == want)
        })
    }
    #[track_caller]
    pub fn wait_stopped(&self, id: &str) -> Value {
        self.wait_status(id, "stopped")
    }

    // --- clean-up and leftovers --------------------------------------------------------------

    /// Assert the runtime left nothing of `id`: no state dir, no cgroup dir in any hierarchy,
    /// no host mount mentioning this test's scratch dir (bundles) or the shared rootfs.
    #[track_caller]
    pub fn assert_gone(&self, id: &str) {
        let sd = Path::new(STATE_ROOT).join(id);
        assert!(!sd.exists(), "state dir {} left behind", sd.display());
        for h in cgroup_hierarchies() {
            let d = h.join(CG_PREFIX).join(id);
            assert!(!d.exists(), "cgroup {} left behind", d.display());
        }
        let m = host_mounts_mentioning(&self.scratch);
        assert!(m.is_empty(), "host mounts left behind:\n{}", m.join("\n"));
        let m = host_mounts_mentioning(rootfs());
        assert!(m.is_empty(), "host mounts of the shared rootfs:\n{}", m.join("\n"));
    }
    /// End of a test: `delete --force` every container of this test and assert nothing is left.
    #[track_caller]
    pub fn finish(self) {
        let ids = self.ids.borrow().clone();
        for id in ids.iter().rev() {
            let out = self.rt(&["delete", "--force", id]);
            assert!(out.ok(), "delete --force {id}\n{}", out.show());
        }
        for id in &ids {
            self.assert_gone(id);
        }
    }
    fn cleanup(&mut self) {
        // A test's private runtime copy may be the thing an attack broke: clean up with the
        // runtime under test itself.
        self.runtime_copy.borrow_mut().take();
        let ids = self.ids.borrow().clone();
        for id in ids.iter().rev() {
            let out = self.rt(&["delete", "--force", id]);
            if !out.ok() {
                // Last resort for a broken runtime: kill the init pid it reported, retry.
                if let Ok(o) = serde_json::from_str::<Value>(&self.rt(&["state", id]).stdout) {
                    if let Some(pid) = o["pid"].as_i64().filter(|p| *p > 0) {
                        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
                let _ = self.rt(&["delete", "--force", id]);
            }
            for h in cgroup_hierarchies() {
                rmdir_tree(&h.join(CG_PREFIX).join(id));
            }
            let sd = Path::new(STATE_ROOT).join(id);
            if sd.exists() {
                let _ = fs::remove_dir_all(&sd);
            }
        }
        // Host mounts under our scratch dir can only come from a broken runtime: detach them.
        let lines = host_mounts_mentioning(&self.scratch);
        for l in lines.iter().rev() {
            if let Some(mp) = l.split(' ').nth(4) {
                if mp.starts_with(self.scratch.to_str().unwrap()) {
                    let c = std::ffi::CString::new(mp.replace("\\040", " ")).unwrap();
                    unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
                }
            }
        }
        if host_mounts_mentioning(&self.scratch).is_empty() {
            let _ = fs::remove_dir_all(&self.scratch);
        }
    }
}

/// rmdir a cgroup dir and its sub-cgroups, deepest first (only empty cgroups can be removed).
fn rmdir_tree(d: &Path) {
    if !d.is_dir() {
        return;
    }
    if let Ok(rd) = fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                rmdir_tree(&e.path());
            }
        }
    }
    let _ = fs::remove_dir(d);
}

impl Drop for Test {
    fn drop(&mut self) {
        self.cleanup();
        if let Some(lock) = self.lock.take() {
            let fd = lock.as_raw_fd();
            unsafe { libc::flock(fd, libc::LOCK_UN) };
            // Last one out removes the (empty) shared parents. rmdir only: never recursive.
            if unsafe { libc::flock(fd, libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                for h in cgroup_hierarchies() {
                    let _ = fs::remove_dir(h.join(CG_PREFIX));
                }
                let _ = fs::remove_dir(STATE_ROOT);
                unsafe { libc::flock(fd, libc::LOCK_UN) };
            }
        }
    }
}

pub struct Spawned {
    pub child: Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
}

impl Spawned {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }
    pub fn stdout_now(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }
    /// Wait (with timeout) and collect the output.
    pub fn wait(mut self) -> Out {
        let desc = format!("spawned runtime pid {}", self.child.id());
        let st = wait_child(&mut self.child, CMD_TIMEOUT, &desc);
        Out {
            cmd: desc,
            code: st.code(),
            signal: st.signal(),
            stdout: fs::read_to_string(&self.stdout).unwrap_or_default(),
            stderr: fs::read_to_string(&self.stderr).unwrap_or_default(),
        }
    }
}

/// The value of the `key=value` line in a container's output.
#[track_caller]
pub fn kv<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= line in:\n{text}"))
}

/// One message from a unix stream `fd`: (payload, the descriptors sent with SCM_RIGHTS, the
/// number of control messages). Panics if the control data was truncated.
pub fn recv_with_fds(fd: std::os::fd::RawFd, what: &str) -> (String, Vec<std::os::fd::OwnedFd>, usize) {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    use std::os::fd::FromRawFd;
    let mut buf = vec![0u8; 8192];
    let mut cmsg_buf = nix::cmsg_space!([std::os::fd::RawFd; 8]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<()>(fd, &mut iov, Some(&mut cmsg_buf), MsgFlags::MSG_CMSG_CLOEXEC)
        .unwrap_or_else(|e| panic!("recvmsg on the {what}: {e}"));
    assert!(!msg.flags.contains(MsgFlags::MSG_CTRUNC), "{what}: control data truncated");
    let mut fds = vec![];
    let mut cmsgs = 0;
    for c in msg.cmsgs().unwrap() {
        cmsgs += 1;
        if let ControlMessageOwned::ScmRights(v) = c {
            // SAFETY: received descriptors are new and ours.
            fds.extend(v.into_iter().map(|fd| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }));
        }
    }
    let n = msg.bytes;
    (String::from_utf8_lossy(&buf[..n]).into_owned(), fds, cmsgs)
}

/// A tmpfs this test mounted on the host; detached on drop (declare it after the `Test`, so it is
/// dropped first, before the leftover checks).
pub struct HostTmpfs(pub PathBuf);

impl HostTmpfs {
    pub fn mount(at: &Path) -> Self {
        fs::create_dir_all(at).unwrap();
        let c = std::ffi::CString::new(at.to_str().unwrap()).unwrap();
        let ty = std::ffi::CString::new("tmpfs").unwrap();
        // SAFETY: valid C strings; no data.
        let r = unsafe { libc::mount(ty.as_ptr(), c.as_ptr(), ty.as_ptr(), 0, std::ptr::null()) };
        assert_eq!(r, 0, "mount tmpfs on {}: {}", at.display(), std::io::Error::last_os_error());
        HostTmpfs(at.to_path_buf())
    }
}

impl Drop for HostTmpfs {
    fn drop(&mut self) {
        let c = std::ffi::CString::new(self.0.to_str().unwrap()).unwrap();
        // SAFETY: a valid C string.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}
