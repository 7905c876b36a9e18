//! Suite core: runtime invocation, per-group context, cleanup, result bookkeeping.

use crate::bundle::{self, Bundle};
use crate::proc;
use serde_json::Value;
use std::collections::HashMap;
use std::ffi::{CString, OsString};
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Every container of the suite uses linux.cgroupsPath = /CGROUP_PREFIX/<container-id>.
pub const CGROUP_PREFIX: &str = "hull-conformance";
/// Container ids all start with this prefix (used to recognise leftovers).
pub const ID_PREFIX: &str = "oc-";

#[derive(Clone, Debug)]
pub enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

impl Outcome {
    pub fn from(r: Result<(), String>) -> Outcome {
        match r {
            Ok(()) => Outcome::Pass,
            Err(e) => Outcome::Fail(e),
        }
    }
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Pass => "ok",
            Outcome::Fail(_) => "FAIL",
            Outcome::Skip(_) => "skip",
        }
    }
}

pub struct CaseDef {
    pub key: &'static str,
    pub spec: &'static str,
    pub title: &'static str,
}

pub fn c(key: &'static str, spec: &'static str, title: &'static str) -> CaseDef {
    CaseDef { key, spec, title }
}

impl CaseDef {
    pub fn name(&self) -> String {
        format!("{}: {}", self.spec, self.title)
    }
}

pub struct Group {
    pub name: &'static str,
    pub cases: Vec<CaseDef>,
    pub run: fn(&mut G),
}

pub struct Runtime {
    #[allow(dead_code)]
    pub name: String,
    pub path: PathBuf,
    pub root: PathBuf,
}

pub struct HostInfo {
    pub ns: HashMap<String, u64>,
    pub rlimits: HashMap<i32, (u64, u64)>,
    pub cap_names: Vec<&'static str>,
    pub has_sys_resource: bool,
    /// (mountpoint, fstype, super options) of cgroup and cgroup2 mounts in the runner's namespace
    pub cgroup_mounts: Vec<(PathBuf, String, Vec<String>)>,
    pub block_dev: Option<(u32, u32)>,
    pub oom_score_adj: i32,
}

impl HostInfo {
    pub fn probe() -> HostInfo {
        let mut ns = HashMap::new();
        for n in ["cgroup", "ipc", "mnt", "net", "pid", "time", "user", "uts"] {
            if let Ok(t) = fs::read_link(format!("/proc/self/ns/{}", n)) {
                let t = t.to_string_lossy().into_owned();
                if let Some(i) = t
                    .rsplit('[')
                    .next()
                    .and_then(|x| x.trim_end_matches(']').parse::<u64>().ok())
                {
                    ns.insert(n.to_string(), i);
                }
            }
        }
        let mut rlimits = HashMap::new();
        for r in 0..16 {
            let mut l = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            if unsafe { libc::getrlimit(r as _, &mut l) } == 0 {
                rlimits.insert(r, (l.rlim_cur, l.rlim_max));
            }
        }
        let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
        let bounding = status
            .lines()
            .find(|l| l.starts_with("CapBnd:"))
            .and_then(|l| u64::from_str_radix(l[7..].trim(), 16).ok())
            .unwrap_or(0);
        let last = fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .unwrap_or(40);
        let cap_names: Vec<&'static str> = (0..=last.min(40))
            .filter(|b| bounding & (1u64 << b) != 0)
            .map(|b| bundle::CAP_NAMES[b])
            .collect();
        let has_sys_resource = bounding & (1 << 24) != 0;
        let mut cgroup_mounts = Vec::new();
        for line in fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
        {
            let f: Vec<&str> = line.split(' ').collect();
            if let Some(d) = f.iter().position(|x| *x == "-") {
                let fstype = f.get(d + 1).copied().unwrap_or("");
                if fstype == "cgroup" || fstype == "cgroup2" {
                    let sup = f
                        .get(d + 3)
                        .copied()
                        .unwrap_or("")
                        .split(',')
                        .map(|s| s.to_string())
                        .collect();
                    cgroup_mounts.push((PathBuf::from(f[4]), fstype.to_string(), sup));
                }
            }
        }
        // a whole-disk block device for blkio throttle cases
        let mut block_dev = None;
        if let Ok(rd) = fs::read_dir("/sys/block") {
            let mut names: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            for nme in names
                .iter()
                .filter(|n| {
                    !n.starts_with("loop") && !n.starts_with("ram") && !n.starts_with("zram")
                })
                .chain(names.iter())
            {
                if let Ok(d) = fs::read_to_string(format!("/sys/block/{}/dev", nme)) {
                    if let Some((a, b)) = d.trim().split_once(':') {
                        if let (Ok(a), Ok(b)) = (a.parse(), b.parse()) {
                            block_dev = Some((a, b));
                            break;
                        }
                    }
                }
            }
        }
        let oom_score_adj = fs::read_to_string("/proc/self/oom_score_adj")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        HostInfo {
            ns,
            rlimits,
            cap_names,
            has_sys_resource,
            cgroup_mounts,
            block_dev,
            oom_score_adj,
        }
    }

    /// Mount point of the v1 hierarchy that has controller `ctrl`.
    pub fn v1(&self, ctrl: &str) -> Option<&Path> {
        self.cgroup_mounts
            .iter()
            .find(|(_, t, s)| t == "cgroup" && s.iter().any(|o| o == ctrl))
            .map(|(p, _, _)| p.as_path())
    }
    pub fn v2(&self) -> Option<&Path> {
        self.cgroup_mounts
            .iter()
            .find(|(_, t, _)| t == "cgroup2")
            .map(|(p, _, _)| p.as_path())
    }
    pub fn v2_controllers(&self) -> Vec<String> {
        self.v2()
            .and_then(|p| fs::read_to_string(p.join("cgroup.controllers")).ok())
            .map(|s| s.split_whitespace().map(|x| x.to_string()).collect())
            .unwrap_or_default()
    }
}

pub struct Suite {
    pub rt: Runtime,
    pub work: PathBuf,
    pub base_rootfs: PathBuf,
    pub host: HostInfo,
    pub cmd_timeout: Duration,
    pub group_timeout: Duration,
    pub runner_pid: i32,
    /// keep bundles and logs (--keep) for debugging
    pub keep: bool,
    /// --rootless: runtime commands run as this user, bundles are made theirs
    pub rootless: Option<std::sync::Arc<crate::rootless::Rootless>>,
    features: Mutex<Option<Result<Value, String>>>,
    control: Mutex<Option<Result<(), String>>>,
}

impl Suite {
    pub fn new(
        rt: Runtime,
        work: PathBuf,
        base_rootfs: PathBuf,
        cmd_timeout: Duration,
        group_timeout: Duration,
    ) -> Suite {
        Suite {
            rt,
            work,
            base_rootfs,
            host: HostInfo::probe(),
            cmd_timeout,
            group_timeout,
            runner_pid: std::process::id() as i32,
            keep: false,
            rootless: None,
            features: Mutex::new(None),
            control: Mutex::new(None),
        }
    }
}

impl Suite {
    /// Mappings for cases that configure a user namespace themselves: a range
    /// of host ids (100000, 65536), or in a rootless run what the user can map
    /// (own id as 0, subordinate ids from 1).
    pub fn userns_mappings(&self) -> (Value, Value) {
        match &self.rootless {
            Some(r) => r.mappings(true),
            None => {
                let m = serde_json::json!([{"containerID": 0, "hostID": 100000, "size": 65536}]);
                (m.clone(), m)
            }
        }
    }
}

// ------------------------------------------------------------------ command output
pub struct Out {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub spawn_error: Option<String>,
    pub stdout: String,
    pub stderr: String,
    pub argv: String,
    pub elapsed: Duration,
}

impl Out {
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }
    /// The runtime generated an error: it exited with a non-zero status.
    pub fn errored(&self) -> bool {
        matches!(self.code, Some(c) if c != 0)
    }
    pub fn brief(&self) -> String {
        let mut s = if self.timed_out {
            format!(
                "`{}` timed out after {:.1}s",
                self.argv,
                self.elapsed.as_secs_f64()
            )
        } else if let Some(e) = &self.spawn_error {
            format!("`{}` could not be spawned: {}", self.argv, e)
        } else if let Some(c) = self.code {
            format!("`{}` exited {}", self.argv, c)
        } else {
            format!(
                "`{}` killed by signal {}",
                self.argv,
                self.signal.unwrap_or(0)
            )
        };
        let err = tidy_err(&self.stderr);
        if !err.is_empty() {
            s.push_str(": ");
            s.push_str(&clip(&err, 300));
        }
        s
    }
}

/// Runtime error output, with logrus-style lines (`time=... level=error msg="..."`)
/// reduced to their message.
pub fn tidy_err(s: &str) -> String {
    s.lines()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .map(|l| match l.find(" msg=\"") {
            Some(i) => {
                let m = &l[i + 6..];
                let end = m.rfind('"').unwrap_or(m.len());
                m[..end].replace("\\\"", "\"")
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

pub fn clip(s: &str, n: usize) -> String {
    let s = s.replace('\n', " | ");
    if s.chars().count() > n {
        format!("{}...", s.chars().take(n).collect::<String>())
    } else {
        s
    }
}

#[derive(Default)]
pub struct Opts<'b> {
    pub stdout: Option<&'b Path>,
    pub stderr: Option<&'b Path>,
    pub stdin: Option<&'b [u8]>,
    pub timeout: Option<Duration>,
    pub oom_adj: Option<i32>,
    pub cwd: Option<&'b Path>,
    pub no_root: bool,
}

// ------------------------------------------------------------------ checker report
pub struct Report {
    pub v: Value,
}

impl Report {
    pub fn parse(text: &str) -> Option<Report> {
        let text = text.replace('\r', "");
        let b = text.find("@@OCI-CHECKER-BEGIN@@\n")? + "@@OCI-CHECKER-BEGIN@@\n".len();
        let e = text[b..].find("\n@@OCI-CHECKER-END@@")? + b;
        serde_json::from_str(&text[b..e]).ok().map(|v| Report { v })
    }
    pub fn probe(&self, i: usize) -> &Value {
        &self.v["probes"][i]["result"]
    }
    pub fn mounts(&self) -> Vec<&Value> {
        self.v["mounts"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    }
    /// The top-most mount at `mp`.
    pub fn mount(&self, mp: &str) -> Option<&Value> {
        self.mounts()
            .into_iter()
            .rev()
            .find(|m| m["mountpoint"] == mp)
    }
    pub fn status(&self, k: &str) -> Option<&str> {
        self.v["status"][k].as_str()
    }
    pub fn cap(&self, k: &str) -> Option<u64> {
        self.status(k).and_then(|h| u64::from_str_radix(h, 16).ok())
    }
    pub fn ns(&self, k: &str) -> Option<u64> {
        self.v["ns"][k].as_u64()
    }
    pub fn str_list(&self, k: &str) -> Vec<String> {
        self.v[k]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(|s| s.to_string()))
                    .collect()
            })
            .unwrap_or_default()
    }
}

pub fn mopt(m: &Value, opt: &str) -> bool {
    m["options"]
        .as_array()
        .map(|a| a.iter().any(|x| x == opt))
        .unwrap_or(false)
}
pub fn msuper(m: &Value, opt: &str) -> bool {
    m["super"]
        .as_array()
        .map(|a| a.iter().any(|x| x == opt))
        .unwrap_or(false)
}
pub fn moptional(m: &Value, prefix: &str) -> bool {
    m["optional"]
        .as_array()
        .map(|a| {
            a.iter()
                .any(|x| x.as_str().map(|s| s.starts_with(prefix)).unwrap_or(false))
        })
        .unwrap_or(false)
}
pub fn mdesc(m: &Value) -> String {
    format!(
        "{} {} opts={} super={} optional={}",
        m["mountpoint"].as_str().unwrap_or("?"),
        m["fstype"].as_str().unwrap_or("?"),
        m["options"],
        m["super"],
        m["optional"]
    )
}

// ------------------------------------------------------------------ group context
pub struct G<'a> {
    pub s: &'a Suite,
    pub gi: usize,
    pub dir: PathBuf,
    pub cases: &'a [CaseDef],
    pub results: HashMap<&'static str, Outcome>,
    pub deadline: Instant,
    /// cases skipped by the rootless table: their outcome is fixed before the group runs
    forced: Vec<&'static str>,
    ids: Vec<String>,
    ctr_pids: Vec<i32>,
    host_mounts: Vec<PathBuf>,
    pids: Vec<i32>,
    netdevs: Vec<String>,
    seq: u32,
    cmdseq: u32,
}

impl<'a> G<'a> {
    pub fn new(s: &'a Suite, gi: usize, cases: &'a [CaseDef]) -> G<'a> {
        let dir = s.work.join(format!("g{:03}", gi));
        let _ = fs::create_dir_all(&dir);
        G {
            s,
            gi,
            dir,
            cases,
            results: HashMap::new(),
            deadline: Instant::now() + s.group_timeout,
            forced: Vec::new(),
            ids: Vec::new(),
            ctr_pids: Vec::new(),
            host_mounts: Vec::new(),
            pids: Vec::new(),
            netdevs: Vec::new(),
            seq: 0,
            cmdseq: 0,
        }
    }

    // ---------------- results
    fn key(&self, key: &str) -> &'static str {
        match self.cases.iter().find(|c| c.key == key) {
            Some(c) => c.key,
            None => {
                eprintln!(
                    "oci-conformance: internal: group {} sets unknown case key {}",
                    self.gi, key
                );
                "?"
            }
        }
    }
    pub fn set(&mut self, key: &str, o: Outcome) {
        let k = self.key(key);
        if self.forced.contains(&k) {
            return;
        }
        self.results.insert(k, o);
    }
    /// Fix the outcome of these cases as skipped (rootless table); whatever the
    /// group later sets for them is ignored.
    pub fn force_skips(&mut self, skips: &[(&'static str, &'static str)]) {
        for (k, why) in skips {
            let k = self.key(k);
            self.results.insert(k, Outcome::Skip(format!("rootless: {}", why)));
            self.forced.push(k);
        }
    }
    /// Is this case skipped by the rootless table (so its setup can be left out)?
    #[allow(dead_code)]
    pub fn forced_skip(&self, key: &str) -> bool {
        self.forced.iter().any(|k| *k == key)
    }
    pub fn check(&mut self, key: &str, r: Result<(), String>) {
        self.set(key, Outcome::from(r));
    }
    pub fn pass(&mut self, key: &str) {
        self.set(key, Outcome::Pass);
    }
    pub fn fail(&mut self, key: &str, msg: impl Into<String>) {
        self.set(key, Outcome::Fail(msg.into()));
    }
    pub fn skip(&mut self, key: &str, why: impl Into<String>) {
        self.set(key, Outcome::Skip(why.into()));
    }
    /// Mark every case of the group that has no result yet.
    pub fn fail_rest(&mut self, msg: &str) {
        self.set_rest(|| Outcome::Fail(msg.to_string()));
    }
    pub fn skip_rest(&mut self, why: &str) {
        self.set_rest(|| Outcome::Skip(why.to_string()));
    }
    fn set_rest(&mut self, outcome: impl Fn() -> Outcome) {
        let keys: Vec<&'static str> =
            self.cases.iter().map(|c| c.key).filter(|k| !self.results.contains_key(k)).collect();
        for k in keys {
            self.results.insert(k, outcome());
        }
    }
    pub fn fail_keys(&mut self, keys: &[&str], msg: &str) {
        for k in keys {
            self.fail(k, msg.to_string());
        }
    }

    // ---------------- bundles
    pub fn new_id(&mut self) -> String {
        self.seq += 1;
        format!(
            "{}{}-{}-{}",
            ID_PREFIX, self.s.runner_pid, self.gi, self.seq
        )
    }

    pub fn bundle(&mut self, name: &str) -> Bundle {
        let id = self.new_id();
        let dir = self.dir.join(format!("{}-{}", name, self.seq));
        let _ = fs::create_dir_all(&dir);
        if let Err(e) = bundle::clone_tree(&self.s.base_rootfs, &dir.join("rootfs")) {
            eprintln!("oci-conformance: rootfs clone failed: {}", e);
        }
        let config = bundle::base_config(&id, &self.s.host.cap_names);
        Bundle {
            out: dir.join("ctr.out"),
            err: dir.join("ctr.err"),
            dir,
            id,
            config,
            pid: None,
            valid: true,
            rootless: self.s.rootless.clone(),
        }
    }

    pub fn cgroup_dir(&self, ctrl: &str, b: &Bundle) -> Option<PathBuf> {
        let m = if ctrl == "unified" {
            self.s.host.v2()?
        } else {
            self.s.host.v1(ctrl)?
        };
        Some(m.join(b.cgroups_path().trim_start_matches('/')))
    }
    pub fn cgroup_read(&self, ctrl: &str, b: &Bundle, file: &str) -> Result<String, String> {
        let d = self
            .cgroup_dir(ctrl, b)
            .ok_or_else(|| format!("no {} cgroup hierarchy on this host", ctrl))?;
        fs::read_to_string(d.join(file))
            .map(|s| s.trim().to_string())
            .map_err(|e| format!("read {}: {}", d.join(file).display(), e))
    }

    /// The group ran past its deadline: loops should stop starting containers.
    pub fn expired(&self) -> bool {
        Instant::now() > self.deadline
    }

    // ---------------- commands
    fn remaining(&self) -> Duration {
        let now = Instant::now();
        if now >= self.deadline {
            Duration::from_secs(3)
        } else {
            (self.deadline - now).max(Duration::from_secs(3))
        }
    }

    pub fn exec(&mut self, program: &Path, args: &[OsString], o: Opts) -> Out {
        self.cmdseq += 1;
        let n = self.cmdseq;
        // short form for messages: program and verb (the --root value and paths are noise)
        let strs: Vec<String> = args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let rest: &[String] = if strs.first().map(|a| a == "--root").unwrap_or(false) {
            &strs[2.min(strs.len())..]
        } else {
            &strs[..]
        };
        let argv = format!(
            "{} {}",
            program
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            rest.first().cloned().unwrap_or_default()
        );
        let tmp_out = self.dir.join(format!(".cmd{}.out", n));
        let tmp_err = self.dir.join(format!(".cmd{}.err", n));
        let out_path = o
            .stdout
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|| tmp_out.clone());
        let err_path = o
            .stderr
            .map(|p| p.to_path_buf())
            .unwrap_or_else(|| tmp_err.clone());
        let open = |p: &Path| fs::OpenOptions::new().create(true).append(true).open(p);
        let start = Instant::now();
        let mk_err = |e: String| Out {
            code: None,
            signal: None,
            timed_out: false,
            spawn_error: Some(e),
            stdout: String::new(),
            stderr: String::new(),
            argv: argv.clone(),
            elapsed: Duration::ZERO,
        };
        let (fo, fe) = match (open(&out_path), open(&err_path)) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => return mk_err(format!("open output file: {}", e)),
        };
        let stdin = match o.stdin {
            Some(data) => {
                let p = self.dir.join(format!(".cmd{}.in", n));
                if let Err(e) = fs::write(&p, data) {
                    return mk_err(e.to_string());
                }
                match fs::File::open(&p) {
                    Ok(f) => Stdio::from(f),
                    Err(e) => return mk_err(e.to_string()),
                }
            }
            None => Stdio::null(),
        };
        let mut cmd = match &self.s.rootless {
            Some(r) => r.command(program, args),
            None => {
                let mut c = Command::new(program);
                c.args(args);
                c
            }
        };
        cmd.stdin(stdin)
            .stdout(Stdio::from(fo))
            .stderr(Stdio::from(fe))
            .process_group(0);
        if let Some(cwd) = o.cwd {
            cmd.current_dir(cwd);
        }
        if let Some(adj) = o.oom_adj {
            let text = format!("{}\n", adj).into_bytes();
            unsafe {
                cmd.pre_exec(move || {
                    let fd = libc::open(
                        b"/proc/self/oom_score_adj\0".as_ptr() as *const libc::c_char,
                        libc::O_WRONLY,
                    );
                    if fd >= 0 {
                        libc::write(fd, text.as_ptr() as *const libc::c_void, text.len());
                        libc::close(fd);
                    }
                    Ok(())
                });
            }
        }
        let pid = match proc::spawn(&mut cmd) {
            Ok(p) => p,
            Err(e) => return mk_err(e.to_string()),
        };
        let timeout = o
            .timeout
            .unwrap_or(self.s.cmd_timeout)
            .min(self.remaining());
        let mut timed_out = false;
        let st = match proc::wait_until(pid, start + timeout) {
            Some(st) => Some(st),
            None => {
                timed_out = true;
                proc::kill(-pid, libc::SIGKILL);
                proc::kill(pid, libc::SIGKILL);
                proc::wait_until(pid, Instant::now() + Duration::from_secs(5))
            }
        };
        let read = |p: &Path| {
            fs::read(p)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let stdout = read(&out_path);
        let stderr = read(&err_path);
        let _ = fs::remove_file(&tmp_out);
        let _ = fs::remove_file(&tmp_err);
        let _ = fs::remove_file(self.dir.join(format!(".cmd{}.in", n)));
        let (code, signal) = match st {
            Some(st) if libc::WIFEXITED(st) => (Some(libc::WEXITSTATUS(st)), None),
            Some(st) if libc::WIFSIGNALED(st) => (None, Some(libc::WTERMSIG(st))),
            _ => (None, None),
        };
        Out {
            code: if timed_out { None } else { code },
            signal,
            timed_out,
            spawn_error: None,
            stdout,
            stderr,
            argv,
            elapsed: start.elapsed(),
        }
    }

    /// Run the runtime with `--root DIR` before `args`.
    pub fn rt_opts(&mut self, args: &[&str], o: Opts) -> Out {
        let mut a: Vec<OsString> = Vec::new();
        if !o.no_root {
            a.push("--root".into());
            a.push(self.s.rt.root.clone().into_os_string());
        }
        a.extend(args.iter().map(OsString::from));
        let p = self.s.rt.path.clone();
        self.exec(&p, &a, o)
    }
    pub fn rt(&mut self, args: &[&str]) -> Out {
        self.rt_opts(args, Opts::default())
    }

    pub fn create(&mut self, b: &mut Bundle) -> Out {
        self.create_opts(b, None, None)
    }

    pub fn create_opts(
        &mut self,
        b: &mut Bundle,
        console: Option<&Path>,
        oom_adj: Option<i32>,
    ) -> Out {
        if b.valid {
            let errs = crate::schema::validate("config-schema.json", &b.config);
            if !errs.is_empty() {
                eprintln!(
                    "oci-conformance: warning: test config {} is not schema-valid: {}",
                    b.dir.display(),
                    errs.join("; ")
                );
            }
        }
        if let Err(e) = b.write() {
            return Out {
                code: None,
                signal: None,
                timed_out: false,
                spawn_error: Some(e),
                stdout: String::new(),
                stderr: String::new(),
                argv: "create".into(),
                elapsed: Duration::ZERO,
            };
        }
        if !self.ids.contains(&b.id) {
            self.ids.push(b.id.clone());
        }
        let dir = b.dir.to_string_lossy().into_owned();
        let mut args: Vec<String> = vec!["create".into(), "--bundle".into(), dir];
        if let Some(c) = console {
            args.push("--console-socket".into());
            args.push(c.to_string_lossy().into_owned());
        }
        args.push(b.id.clone());
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let (out, err) = (b.out.clone(), b.err.clone());
        let o = self.rt_opts(
            &a,
            Opts {
                stdout: Some(&out),
                stderr: Some(&err),
                oom_adj,
                ..Default::default()
            },
        );
        b.pid = None;
        if o.ok() {
            if let Ok(st) = self.state(&b.id) {
                if let Some(p) = st["pid"].as_i64() {
                    if p > 0 {
                        b.pid = Some(p as i32);
                        if proc::alive(p as i32) {
                            proc::forget(p as i32);
                            self.ctr_pids.push(p as i32);
                        }
                    }
                }
            }
        }
        o
    }

    /// Register an id for cleanup without creating it through `create`.
    pub fn track_id(&mut self, id: &str) {
        if !self.ids.iter().any(|i| i == id) {
            self.ids.push(id.to_string());
        }
    }

    pub fn start(&mut self, id: &str) -> Out {
        self.rt(&["start", id])
    }
    pub fn start_oom(&mut self, id: &str, adj: Option<i32>) -> Out {
        self.rt_opts(
            &["start", id],
            Opts {
                oom_adj: adj,
                ..Default::default()
            },
        )
    }
    pub fn kill(&mut self, id: &str, sig: &str) -> Out {
        self.rt(&["kill", id, sig])
    }
    pub fn delete(&mut self, id: &str) -> Out {
        self.rt(&["delete", id])
    }
    pub fn delete_force(&mut self, id: &str) -> Out {
        self.rt_opts(
            &["delete", "--force", id],
            Opts {
                timeout: Some(Duration::from_secs(20)),
                ..Default::default()
            },
        )
    }
    pub fn state_out(&mut self, id: &str) -> Out {
        self.rt(&["state", id])
    }
    pub fn state(&mut self, id: &str) -> Result<Value, String> {
        let o = self.state_out(id);
        if !o.ok() {
            return Err(o.brief());
        }
        serde_json::from_str(o.stdout.trim())
            .map_err(|e| format!("state output is not JSON ({}): {}", e, clip(&o.stdout, 200)))
    }
    pub fn status_of(&mut self, id: &str) -> Result<String, String> {
        let st = self.state(id)?;
        st["status"]
            .as_str()
            .map(|s| s.to_string())
            .ok_or_else(|| format!("state has no status: {}", clip(&st.to_string(), 200)))
    }

    /// Wait until the container process of `b` is gone.  Returns its raw wait
    /// status when the runner reaped it.
    pub fn wait_exit(&mut self, b: &Bundle, t: Duration) -> Result<Option<i32>, String> {
        let pid = match b.pid {
            Some(p) => p,
            None => {
                // no pid: poll state; give up early when state keeps failing
                let end = Instant::now() + t;
                let mut failing_since: Option<Instant> = None;
                while Instant::now() < end {
                    match self.status_of(&b.id) {
                        Ok(s) if s == "stopped" => return Ok(None),
                        Ok(_) => failing_since = None,
                        Err(e) => {
                            let since = *failing_since.get_or_insert_with(Instant::now);
                            if since.elapsed() > Duration::from_secs(2) {
                                return Err(format!(
                                    "container pid unknown and state fails: {}",
                                    e
                                ));
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                return Err("container did not stop".into());
            }
        };
        match proc::wait_gone(pid, Instant::now() + t.min(self.remaining())) {
            Some(st) => Ok(st),
            None => Err(format!(
                "container process {} still running after {:?}",
                pid, t
            )),
        }
    }

    /// Wait until state reports `want` (the process may be gone before the runtime notices).
    pub fn wait_status(&mut self, id: &str, want: &str, t: Duration) -> Result<(), String> {
        let end = Instant::now() + t;
        let mut last;
        loop {
            match self.status_of(id) {
                Ok(s) if s == want => return Ok(()),
                Ok(s) => last = s,
                Err(e) => last = e,
            }
            if Instant::now() >= end {
                return Err(format!("state never became {:?} (last: {})", want, last));
            }
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// Kill (KILL), wait and delete; falls back to delete --force.
    pub fn destroy(&mut self, b: &Bundle) {
        let _ = self.kill(&b.id, "KILL");
        let _ = self.wait_exit(b, Duration::from_secs(5));
        let d = self.delete(&b.id);
        if !d.ok() {
            let _ = self.delete_force(&b.id);
        }
    }

    /// create + start the checker with `probes`, wait for it to exit, parse its
    /// report and delete the container.
    pub fn run_checker(&mut self, b: &mut Bundle, probes: &[&str]) -> Result<Report, String> {
        b.checker(probes);
        self.run_process(b)
    }
    /// `run_checker`, or every case of the group without a result fails with the error.
    pub fn checker_or_fail_rest(&mut self, b: &mut Bundle, probes: &[&str]) -> Option<Report> {
        match self.run_checker(b, probes) {
            Ok(r) => Some(r),
            Err(e) => {
                self.fail_rest(&e);
                None
            }
        }
    }

    /// Like run_checker but with the process already set in the bundle.
    pub fn run_process(&mut self, b: &mut Bundle) -> Result<Report, String> {
        let o = self.create(b);
        if !o.ok() {
            let _ = self.delete_force(&b.id);
            return Err(format!("create failed: {}", o.brief()));
        }
        let o = self.start(&b.id);
        if !o.ok() {
            self.destroy(b);
            return Err(format!("start failed: {}", o.brief()));
        }
        let w = self.wait_exit(b, Duration::from_secs(20));
        let out = b.output();
        let rep = Report::parse(&out);
        if w.is_err() {
            self.destroy(b);
        } else {
            let d = self.delete(&b.id);
            if !d.ok() {
                let _ = self.delete_force(&b.id);
            }
        }
        rep.ok_or_else(|| {
            format!(
                "no checker report (wait: {}); container stdout: {} stderr: {}",
                match &w {
                    Ok(Some(st)) => proc::describe_status(*st),
                    Ok(None) => "exited".into(),
                    Err(e) => e.clone(),
                },
                clip(out.trim(), 200),
                clip(b.errput().trim(), 300)
            )
        })
    }

    /// create + start a checker that keeps running (--hold) after reporting.
    /// Returns the report and the container pid; the caller calls destroy().
    pub fn hold_checker(
        &mut self,
        b: &mut Bundle,
        probes: &[&str],
    ) -> Result<(Report, i32), String> {
        let mut p: Vec<&str> = probes.to_vec();
        p.push("--hold");
        b.checker(&p);
        let o = self.create(b);
        if !o.ok() {
            let _ = self.delete_force(&b.id);
            return Err(format!("create failed: {}", o.brief()));
        }
        let o = self.start(&b.id);
        if !o.ok() {
            self.destroy(b);
            return Err(format!("start failed: {}", o.brief()));
        }
        let end = Instant::now() + Duration::from_secs(15).min(self.remaining());
        loop {
            if let Some(r) = Report::parse(&b.output()) {
                let pid = b
                    .pid
                    .or_else(|| r.v["pid"].as_i64().map(|p| p as i32))
                    .unwrap_or(0);
                return Ok((r, pid));
            }
            if Instant::now() >= end
                || b.pid.map(|p| !proc::alive(p)).unwrap_or(false)
                || (b.pid.is_none() && Instant::now() + Duration::from_secs(12) > end)
            {
                let out = b.output();
                self.destroy(b);
                return Err(format!(
                    "no checker report; stdout: {} stderr: {}",
                    clip(out.trim(), 200),
                    clip(b.errput().trim(), 300)
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The configuration must be refused.  `at_start_ok`: the error may come from
    /// `start` (process properties MAY be applied by start).  Checks that no
    /// container is left behind when create fails and that the user program
    /// never ran.
    pub fn expect_error(&mut self, b: &mut Bundle, at_start_ok: bool) -> Result<(), String> {
        self.control()?;
        let o = self.create(b);
        if o.timed_out {
            let _ = self.delete_force(&b.id);
            return Err(o.brief());
        }
        if o.errored() {
            let st = self.state_out(&b.id);
            let ran = Report::parse(&b.output()).is_some();
            let _ = self.delete_force(&b.id);
            if st.ok() {
                return Err(format!(
                    "create failed but the container exists afterwards (state: {})",
                    clip(st.stdout.trim(), 160)
                ));
            }
            if ran {
                return Err("create failed but the user program ran".into());
            }
            return Ok(());
        }
        if !at_start_ok {
            self.destroy(b);
            return Err("create succeeded; expected an error".into());
        }
        let s = self.start(&b.id);
        std::thread::sleep(Duration::from_millis(100));
        let ran = Report::parse(&b.output()).is_some();
        self.destroy(b);
        if s.errored() && !ran {
            return Ok(());
        }
        if s.errored() {
            return Err("start failed but the user program ran".into());
        }
        Err("create and start succeeded; expected an error".into())
    }

    // ---------------- host-side helpers (all undone by cleanup)
    pub fn host_mount(
        &mut self,
        src: &str,
        target: &Path,
        fstype: &str,
        flags: libc::c_ulong,
        data: &str,
    ) -> Result<(), String> {
        let s = CString::new(src).unwrap_or_default();
        let t = CString::new(target.to_string_lossy().as_bytes()).map_err(|e| e.to_string())?;
        let f = CString::new(fstype).unwrap_or_default();
        let d = CString::new(data).unwrap_or_default();
        let r = unsafe {
            libc::mount(
                s.as_ptr(),
                t.as_ptr(),
                if fstype.is_empty() {
                    std::ptr::null()
                } else {
                    f.as_ptr()
                },
                flags,
                if data.is_empty() {
                    std::ptr::null()
                } else {
                    d.as_ptr() as *const libc::c_void
                },
            )
        };
        if r != 0 {
            return Err(format!(
                "mount {} on {}: {}",
                src,
                target.display(),
                std::io::Error::last_os_error()
            ));
        }
        if flags
            & (libc::MS_REMOUNT
                | libc::MS_SHARED
                | libc::MS_PRIVATE
                | libc::MS_SLAVE
                | libc::MS_UNBINDABLE)
            == 0
        {
            self.host_mounts.push(target.to_path_buf());
        }
        Ok(())
    }

    /// A host directory containing a file "hello" and a tmpfs submount "sub"
    /// (with file "subfile"); `sub_opts` are flags for the submount.
    pub fn host_tree_with_submount(
        &mut self,
        name: &str,
        sub_flags: libc::c_ulong,
    ) -> Result<PathBuf, String> {
        let d = self.dir.join(name);
        fs::create_dir_all(d.join("sub")).map_err(|e| e.to_string())?;
        fs::write(d.join("hello"), "hello\n").map_err(|e| e.to_string())?;
        self.host_mount("tmpfs", &d.join("sub"), "tmpfs", 0, "size=64k,mode=755")?;
        fs::write(d.join("sub/subfile"), "sub\n").map_err(|e| e.to_string())?;
        if sub_flags != 0 {
            self.host_mount(
                "",
                &d.join("sub"),
                "",
                libc::MS_REMOUNT | libc::MS_BIND | sub_flags,
                "",
            )?;
        }
        Ok(d)
    }

    /// Spawn a long-running process we own (namespace holder etc.).
    pub fn spawn_holder(&mut self, mut cmd: Command) -> Result<i32, String> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let pid = proc::spawn(&mut cmd).map_err(|e| e.to_string())?;
        self.pids.push(pid);
        Ok(pid)
    }
    pub fn track_pid(&mut self, pid: i32) {
        self.pids.push(pid);
    }
    pub fn track_netdev(&mut self, name: &str) {
        self.netdevs.push(name.to_string());
    }

    // ---------------- cached suite-level probes
    /// Positive control for the "must generate an error" cases: a refusal only
    /// means something if the runtime can run a valid container at all.
    pub fn control(&mut self) -> Result<(), String> {
        if let Some(c) = self.s.control.lock().unwrap().clone() {
            return c;
        }
        let mut b = self.bundle("control");
        let r = self
            .run_checker(&mut b, &[])
            .map(|_| ())
            .map_err(|e| format!("the runtime cannot run a valid container (control run: {}), so a refusal proves nothing", clip(&e, 200)));
        *self.s.control.lock().unwrap() = Some(r.clone());
        r
    }

    pub fn features(&mut self) -> Result<Value, String> {
        if let Some(f) = self.s.features.lock().unwrap().clone() {
            return f;
        }
        let o = self.rt_opts(
            &["features"],
            Opts {
                no_root: true,
                ..Default::default()
            },
        );
        let r = if o.ok() {
            serde_json::from_str::<Value>(o.stdout.trim())
                .map_err(|e| format!("features output is not JSON: {}", e))
        } else {
            Err(format!("features operation not provided: {}", o.brief()))
        };
        *self.s.features.lock().unwrap() = Some(r.clone());
        r
    }

    // ---------------- cleanup
    pub fn cleanup(&mut self) {
        let ids: Vec<String> = self.ids.iter().rev().cloned().collect();
        for id in &ids {
            let _ = self.delete_force(id);
        }
        for id in &ids {
            sweep_cgroups(&self.s.host, id);
        }
        // container processes the runtime failed to stop: only those that are
        // still our (re-parented) children, i.e. certainly the ones we started
        let me = self.s.runner_pid;
        for p in self.ctr_pids.drain(..).collect::<Vec<_>>() {
            if proc::alive(p) && proc::ppid(p) == Some(me) {
                proc::kill(p, libc::SIGKILL);
                let _ = proc::wait_until(p, Instant::now() + Duration::from_secs(3));
            }
        }
        for p in self.pids.drain(..).collect::<Vec<_>>() {
            proc::kill(p, libc::SIGKILL);
            let _ = proc::wait_until(p, Instant::now() + Duration::from_secs(3));
        }
        for m in self.host_mounts.drain(..).rev().collect::<Vec<_>>() {
            umount(&m);
        }
        for d in self.netdevs.drain(..).collect::<Vec<_>>() {
            if Path::new("/sys/class/net").join(&d).exists() {
                let mut cmd = Command::new("ip");
                cmd.args(["link", "del", &d]);
                let _ = proc::output(cmd, &self.dir.join(".ipdel"), Duration::from_secs(5));
            }
        }
        if !self.s.keep {
            let d = self.dir.clone();
            safe_remove_dir(&d);
        }
    }
}

pub fn umount(p: &Path) {
    if let Ok(c) = CString::new(p.to_string_lossy().as_bytes()) {
        unsafe {
            libc::umount2(c.as_ptr(), libc::MNT_DETACH);
        }
    }
}

/// Mount points (runner's namespace) at or below `dir`, deepest first.
pub fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let d = dir.to_string_lossy().into_owned();
    let mut v: Vec<PathBuf> = fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(|m| m.replace("\\040", " ")))
        .filter(|m| m == &d || m.starts_with(&format!("{}/", d)))
        .map(PathBuf::from)
        .collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    v
}

/// rm -rf that never crosses into a mount: anything mounted below is detached
/// first, and if that fails the directory is left alone.
pub fn safe_remove_dir(dir: &Path) {
    for m in mounts_under(dir) {
        umount(&m);
    }
    let left = mounts_under(dir);
    if !left.is_empty() {
        eprintln!(
            "oci-conformance: not removing {}: still has mounts {:?}",
            dir.display(),
            left
        );
        return;
    }
    let _ = fs::remove_dir_all(dir);
}

/// Remove /<hierarchy>/CGROUP_PREFIX/<id> in every cgroup hierarchy, deepest first.
/// Processes still inside (the runtime failed to clean up) are container
/// processes this suite started: they are thawed and killed first.
pub fn sweep_cgroups(host: &HostInfo, id: &str) {
    for (mnt, _, _) in &host.cgroup_mounts {
        let top = mnt.join(CGROUP_PREFIX).join(id);
        if !top.is_dir() {
            continue;
        }
        let mut dirs = Vec::new();
        collect_dirs(&top, &mut dirs);
        dirs.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for d in dirs {
            remove_cgroup(&d);
        }
    }
}

fn collect_dirs(d: &Path, out: &mut Vec<PathBuf>) {
    out.push(d.to_path_buf());
    if let Ok(rd) = fs::read_dir(d) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                collect_dirs(&e.path(), out);
            }
        }
    }
}

fn remove_cgroup(d: &Path) {
    for attempt in 0..40 {
        if fs::remove_dir(d).is_ok() || !d.exists() {
            return;
        }
        let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
        if !procs.trim().is_empty() {
            if d.join("freezer.state").exists() {
                let _ = fs::write(d.join("freezer.state"), "THAWED");
            }
            if d.join("cgroup.freeze").exists() {
                let _ = fs::write(d.join("cgroup.freeze"), "0");
            }
            for p in procs
                .split_whitespace()
                .filter_map(|p| p.parse::<i32>().ok())
            {
                proc::kill(p, libc::SIGKILL);
            }
        }
        std::thread::sleep(Duration::from_millis(if attempt < 10 { 20 } else { 100 }));
    }
    eprintln!("oci-conformance: could not remove cgroup {}", d.display());
}

/// Remove CGROUP_PREFIX itself from every hierarchy when it is empty.
pub fn remove_prefix_dirs(host: &HostInfo) {
    for (mnt, _, _) in &host.cgroup_mounts {
        let p = mnt.join(CGROUP_PREFIX);
        if p.is_dir() {
            let _ = fs::remove_dir(&p);
        }
    }
}
