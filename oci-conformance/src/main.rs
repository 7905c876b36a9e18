//! oci-conformance: a runtime-agnostic OCI runtime-spec conformance suite.
//!
//! Usage:
//!   oci-conformance --runtime [NAME=]PATH [--filter PATTERN] [--root DIR] [--jobs N]
//!                   [--compare-with-runc [RUNC]] [--json FILE]
//!   oci-conformance compare --runtime NAME=PATH [--runtime NAME=PATH ...]
//!                   [--output docs/conformance.md] [--gate NAME] [--filter PATTERN]
//!                   [--with-rootless [--rootless-runtime NAME=PATH ...]]
//!   (either mode) --rootless [--rootless-user NAME]: the runtime runs as an
//!                   unprivileged user (see rootless.rs)
//!   oci-conformance list [--filter PATTERN]
//!   oci-conformance extract-checker PATH
//!
//! Every case is derived from the runtime-spec text and named after the spec
//! file and section it checks (e.g. `config-linux#sysctl: ...`).

mod bundle;
mod cases;
mod proc;
mod rootless;
mod schema;
mod suite;
mod syscalls;
mod unixsock;

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use suite::{Group, Outcome, Runtime, Suite, G};

static CHECKER_STATIC: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/oci-checker-static"));
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

struct Opt {
    runtimes: Vec<(String, PathBuf)>,
    filter: Option<String>,
    root: Option<PathBuf>,
    jobs: usize,
    workdir: Option<PathBuf>,
    checker: Option<PathBuf>,
    cmd_timeout: Duration,
    group_timeout: Duration,
    compare_with_runc: Option<PathBuf>,
    output: Option<PathBuf>,
    gate: Option<String>,
    json: Option<PathBuf>,
    verbose: bool,
    keep: bool,
    /// run the runtime as an unprivileged user
    rootless: bool,
    rootless_user: String,
    /// compare: also run every runtime rootless (extra columns)
    with_rootless: bool,
    /// compare --with-rootless: the binary to use for NAME in the rootless runs
    rootless_runtimes: Vec<(String, PathBuf)>,
}

fn usage() -> ! {
    eprintln!(
        "usage:\n  oci-conformance --runtime [NAME=]PATH [--filter PATTERN] [--root DIR] [--jobs N] [--compare-with-runc [RUNC]]\n  \
         oci-conformance compare --runtime NAME=PATH... [--output FILE] [--gate NAME] [--filter PATTERN]\n    \
         [--with-rootless [--rootless-runtime NAME=PATH...]]\n  \
         oci-conformance list [--filter PATTERN] [--rootless]\n  oci-conformance extract-checker PATH\n\
         other options: --rootless [--rootless-user NAME] --workdir DIR --checker PATH --cmd-timeout SECS \
         --group-timeout SECS --json FILE --verbose --keep"
    );
    std::process::exit(2)
}

fn parse_runtime(s: &str) -> (String, PathBuf) {
    let (name, path) = match s.split_once('=') {
        Some((n, p)) if !n.contains('/') => (n.to_string(), PathBuf::from(p)),
        _ => {
            let p = PathBuf::from(s);
            let n = p
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_else(|| "runtime".into());
            let n = n.trim_end_matches(".sh").to_string();
            (n, p)
        }
    };
    let path = if path.is_relative() {
        std::env::current_dir()
            .map(|c| c.join(&path))
            .unwrap_or(path)
    } else {
        path
    };
    (name, path)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut mode = "run";
    let mut i = 0;
    if let Some(first) = args.first() {
        if ["compare", "list", "extract-checker"].contains(&first.as_str()) {
            mode = match first.as_str() {
                "compare" => "compare",
                "list" => "list",
                _ => "extract",
            };
            i = 1;
        }
    }
    let mut o = Opt {
        runtimes: vec![],
        filter: None,
        root: None,
        jobs: 2,
        workdir: None,
        checker: None,
        cmd_timeout: Duration::from_secs(20),
        group_timeout: Duration::from_secs(120),
        compare_with_runc: None,
        output: None,
        gate: None,
        json: None,
        verbose: false,
        keep: false,
        rootless: false,
        rootless_user: rootless::DEFAULT_USER.to_string(),
        with_rootless: false,
        rootless_runtimes: vec![],
    };
    let mut positional = Vec::new();
    while i < args.len() {
        let a = args[i].clone();
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") && f != "--runtime" && f != "--rootless-runtime" => {
                (f.to_string(), Some(v.to_string()))
            }
            _ => (a.clone(), None),
        };
        let mut val = || -> String {
            if let Some(v) = inline.clone() {
                return v;
            }
            i += 1;
            args.get(i).cloned().unwrap_or_else(|| usage())
        };
        match flag.as_str() {
            "--runtime" => {
                let v = val();
                o.runtimes.push(parse_runtime(&v))
            }
            "--filter" => o.filter = Some(val()),
            "--root" => o.root = Some(PathBuf::from(val())),
            "--jobs" | "-j" => o.jobs = val().parse().unwrap_or(2).max(1),
            "--workdir" => o.workdir = Some(PathBuf::from(val())),
            "--checker" => o.checker = Some(PathBuf::from(val())),
            "--cmd-timeout" => o.cmd_timeout = Duration::from_secs(val().parse().unwrap_or(20)),
            "--group-timeout" => {
                o.group_timeout = Duration::from_secs(val().parse().unwrap_or(120))
            }
            "--output" | "-o" => o.output = Some(PathBuf::from(val())),
            "--gate" => o.gate = Some(val()),
            "--json" => o.json = Some(PathBuf::from(val())),
            "--verbose" | "-v" => o.verbose = true,
            "--keep" => o.keep = true,
            "--rootless" => o.rootless = true,
            "--rootless-user" => o.rootless_user = val(),
            "--with-rootless" => o.with_rootless = true,
            "--rootless-runtime" => {
                let v = val();
                o.rootless_runtimes.push(parse_runtime(&v))
            }
            "--compare-with-runc" => {
                let next = args.get(i + 1).cloned();
                let p = match (&inline, next) {
                    (Some(v), _) => PathBuf::from(v),
                    (None, Some(n)) if !n.starts_with("--") => {
                        i += 1;
                        PathBuf::from(n)
                    }
                    _ => PathBuf::from("/usr/sbin/runc"),
                };
                o.compare_with_runc = Some(p);
            }
            "--help" | "-h" => usage(),
            x if x.starts_with('-') => {
                eprintln!("unknown option {}", x);
                usage()
            }
            _ => positional.push(a.clone()),
        }
        i += 1;
    }

    match mode {
        "list" => {
            let groups = cases::all();
            let mut n = 0;
            for g in &groups {
                let sk = rootless::skips_for(g.name, &g.cases);
                for c in &g.cases {
                    let name = c.name();
                    if selected(&o.filter, &name) {
                        n += 1;
                        match sk.iter().find(|(k, _)| *k == c.key) {
                            Some((_, why)) if o.rootless => {
                                println!("{} - {} # SKIP rootless: {}", n, name, why)
                            }
                            _ => println!("{} - {}", n, name),
                        }
                    }
                }
            }
            println!("{} cases", n);
        }
        "extract" => {
            let p = positional.first().cloned().unwrap_or_else(|| usage());
            if CHECKER_STATIC.is_empty() {
                eprintln!(
                    "the static checker was not embedded at build time (see build.rs warnings)"
                );
                std::process::exit(1);
            }
            fs::write(&p, CHECKER_STATIC).unwrap_or_else(|e| {
                eprintln!("{}: {}", p, e);
                std::process::exit(1)
            });
            let _ = fs::set_permissions(&p, std::os::unix::fs::PermissionsExt::from_mode(0o755));
        }
        "compare" => {
            if o.runtimes.is_empty() {
                usage()
            }
            proc::init();
            install_signals();
            std::process::exit(compare(&o));
        }
        _ => {
            if o.runtimes.len() != 1 {
                usage()
            }
            proc::init();
            install_signals();
            std::process::exit(single(&o));
        }
    }
}

fn install_signals() {
    unsafe {
        libc::signal(libc::SIGINT, on_interrupt as *const () as usize);
        libc::signal(libc::SIGTERM, on_interrupt as *const () as usize);
        libc::signal(libc::SIGHUP, on_interrupt as *const () as usize);
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
    }
}

fn selected(filter: &Option<String>, name: &str) -> bool {
    match filter {
        None => true,
        Some(f) => {
            let n = name.to_lowercase();
            f.split(',')
                .any(|p| !p.trim().is_empty() && n.contains(&p.trim().to_lowercase()))
        }
    }
}

fn checker_bytes(o: &Opt) -> Result<Vec<u8>, String> {
    if let Some(p) = &o.checker {
        return fs::read(p).map_err(|e| format!("--checker {}: {}", p.display(), e));
    }
    if CHECKER_STATIC.is_empty() {
        return Err("no static checker embedded (static link failed at build time); build one and pass --checker PATH".into());
    }
    Ok(CHECKER_STATIC.to_vec())
}

type Results = Vec<(String, Outcome)>;

/// Run the whole (filtered) suite against one runtime.  `tap`: print TAP lines.
/// `rl`: run it rootless, as that user.
fn run_runtime(
    o: &Opt,
    name: &str,
    path: &Path,
    tap: bool,
    rl: Option<Arc<rootless::Rootless>>,
) -> Result<Results, String> {
    let md = fs::metadata(path).map_err(|e| format!("runtime {}: {}", path.display(), e))?;
    if !md.is_file() || std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o111 == 0 {
        return Err(format!(
            "runtime {} is not an executable file",
            path.display()
        ));
    }
    let checker = checker_bytes(o)?;
    let tag = if rl.is_some() {
        format!("{}-rootless", name)
    } else {
        name.to_string()
    };
    let root = o
        .root
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("/run/hull-conformance-{}", tag)));
    let root_existed = root.exists();
    match &rl {
        // the state root must be the user's
        Some(r) => r.own_dir(&root).map_err(|e| format!("--root {}", e))?,
        None => fs::create_dir_all(&root).map_err(|e| format!("--root {}: {}", root.display(), e))?,
    }
    let work = o
        .workdir
        .clone()
        .unwrap_or_else(|| PathBuf::from("/tmp"))
        .join(format!("hull-conformance-{}-{}", tag, std::process::id()));
    fs::create_dir_all(&work).map_err(|e| format!("workdir {}: {}", work.display(), e))?;
    let base = work.join("base-rootfs");
    bundle::build_base_rootfs(&base, &checker)?;
    if let Some(r) = &rl {
        // bundles hard-link the base files: give them to the user once, here
        r.chown_tree(&base);
    }
    let rt = Runtime {
        name: name.to_string(),
        path: path.to_path_buf(),
        root: root.clone(),
    };
    let mut suite = Suite::new(rt, work.clone(), base, o.cmd_timeout, o.group_timeout);
    suite.keep = o.keep;
    if let Some(r) = &rl {
        // the runtime's caller is the user: no CAP_SYS_RESOURCE in the initial user namespace
        suite.host.has_sys_resource = false;
        suite.rootless = Some(r.clone());
    }
    sweep_leftovers(&suite);

    let groups: Vec<Group> = cases::all();
    let sel: Vec<usize> = (0..groups.len())
        .filter(|gi| {
            groups[*gi]
                .cases
                .iter()
                .any(|c| selected(&o.filter, &c.name()))
        })
        .collect();
    let total: usize = sel
        .iter()
        .map(|gi| {
            groups[*gi]
                .cases
                .iter()
                .filter(|c| selected(&o.filter, &c.name()))
                .count()
        })
        .sum();
    if tap {
        println!(
            "# oci-conformance: runtime {} ({}), {} cases, state root {}",
            name,
            path.display(),
            total,
            root.display()
        );
        if let Some(r) = &rl {
            println!("# {}", r.describe());
        }
    }
    let next = AtomicUsize::new(0);
    let (tx, rx) = std::sync::mpsc::channel::<(usize, HashMap<&'static str, Outcome>, Duration)>();
    let mut results: Results = Vec::new();
    std::thread::scope(|sc| {
        for _ in 0..o.jobs.min(sel.len().max(1)) {
            let tx = tx.clone();
            let (suite, groups, sel, next) = (&suite, &groups, &sel, &next);
            sc.spawn(move || loop {
                let k = next.fetch_add(1, Ordering::SeqCst);
                if k >= sel.len() {
                    break;
                }
                let gi = sel[k];
                let grp = &groups[gi];
                let t0 = std::time::Instant::now();
                let mut g = G::new(suite, gi, &grp.cases);
                let mut all_skipped = false;
                if suite.rootless.is_some() {
                    let sk = rootless::skips_for(grp.name, &grp.cases);
                    all_skipped = sk.len() == grp.cases.len();
                    g.force_skips(&sk);
                }
                if INTERRUPTED.load(Ordering::SeqCst) {
                    g.skip_rest("interrupted");
                } else if all_skipped {
                    // nothing of this group applies rootless: not run
                } else {
                    (grp.run)(&mut g);
                    if std::time::Instant::now() > g.deadline {
                        g.fail_rest(&format!(
                            "group {} timed out after {:?}",
                            grp.name, suite.group_timeout
                        ));
                    } else {
                        g.fail_rest(&format!("not evaluated (group {} ended early)", grp.name));
                    }
                }
                g.cleanup();
                let _ = tx.send((k, std::mem::take(&mut g.results), t0.elapsed()));
            });
        }
        drop(tx);
        // print in order
        let mut pending: HashMap<usize, (HashMap<&'static str, Outcome>, Duration)> =
            HashMap::new();
        let mut want = 0;
        let mut n = 0;
        for (k, res, el) in rx {
            pending.insert(k, (res, el));
            while let Some((res, el)) = pending.remove(&want) {
                let grp = &groups[sel[want]];
                if o.verbose {
                    eprintln!("# group {} took {:.2}s", grp.name, el.as_secs_f64());
                }
                for c in grp.cases.iter().filter(|c| selected(&o.filter, &c.name())) {
                    n += 1;
                    let out = res
                        .get(c.key)
                        .cloned()
                        .unwrap_or(Outcome::Fail("no result".into()));
                    if tap {
                        print_tap(n, &c.name(), &out);
                    }
                    results.push((c.name(), out));
                }
                want += 1;
            }
        }
    });
    // final cleanup
    suite::remove_prefix_dirs(&suite.host);
    if o.keep {
        eprintln!("# --keep: bundles and logs left in {}", work.display());
    } else {
        suite::safe_remove_dir(&work);
    }
    // state entries of our own containers (the runtime should have removed them),
    // then the root itself if it is now empty; other runs' entries are never touched
    let own = format!("{}{}-", suite::ID_PREFIX, suite.runner_pid);
    if let Ok(rd) = fs::read_dir(&root) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(&own) {
                suite::safe_remove_dir(&e.path());
                let _ = fs::remove_file(e.path());
            }
        }
    }
    let _ = fs::remove_dir(&root);
    let _ = root_existed;
    Ok(results)
}

/// Remove what an earlier, interrupted run of this suite left in this state root
/// (container ids carry the pid of the runner that created them).
fn sweep_leftovers(suite: &Suite) {
    let dead = |id: &str| -> bool {
        id.strip_prefix(suite::ID_PREFIX)
            .and_then(|r| r.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
            .map(|p| p != suite.runner_pid && !Path::new(&format!("/proc/{}", p)).exists())
            .unwrap_or(false)
    };
    let mut ids: Vec<String> = Vec::new();
    if let Ok(rd) = fs::read_dir(&suite.rt.root) {
        for e in rd.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with(suite::ID_PREFIX) && dead(&n) {
                ids.push(n);
            }
        }
    }
    for (mnt, _, _) in &suite.host.cgroup_mounts {
        if let Ok(rd) = fs::read_dir(mnt.join(suite::CGROUP_PREFIX)) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                if n.starts_with(suite::ID_PREFIX) && dead(&n) && !ids.contains(&n) {
                    ids.push(n);
                }
            }
        }
    }
    if ids.is_empty() {
        return;
    }
    eprintln!(
        "# removing {} leftover container(s) of an earlier run",
        ids.len()
    );
    let cases = Vec::new();
    let mut g = G::new(suite, 999, &cases);
    for id in &ids {
        g.track_id(id);
    }
    g.cleanup();
}

fn print_tap(n: usize, name: &str, out: &Outcome) {
    let mut so = std::io::stdout().lock();
    let _ = match out {
        Outcome::Pass => writeln!(so, "ok {} - {}", n, name),
        Outcome::Skip(r) => writeln!(so, "ok {} - {} # SKIP {}", n, name, r.replace('\n', " ")),
        Outcome::Fail(r) => writeln!(
            so,
            "not ok {} - {}\n  # {}",
            n,
            name,
            r.replace('\n', "\n  # ")
        ),
    };
    let _ = so.flush();
}

fn totals(r: &Results) -> (usize, usize, usize) {
    let p = r.iter().filter(|(_, o)| matches!(o, Outcome::Pass)).count();
    let f = r
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Fail(_)))
        .count();
    let s = r
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Skip(_)))
        .count();
    (p, f, s)
}

fn write_json(path: &Path, name: &str, r: &Results) {
    let arr: Vec<serde_json::Value> = r
        .iter()
        .map(|(n, o)| {
            let (res, why) = match o {
                Outcome::Pass => ("ok", String::new()),
                Outcome::Fail(w) => ("fail", w.clone()),
                Outcome::Skip(w) => ("skip", w.clone()),
            };
            serde_json::json!({"case": n, "result": res, "reason": why})
        })
        .collect();
    let v = serde_json::json!({"runtime": name, "results": arr});
    let _ = fs::write(path, serde_json::to_string_pretty(&v).unwrap_or_default());
}

/// Create (or find) the rootless test user; `None` when not asked for.
fn rootless_setup(o: &Opt, wanted: bool) -> Result<Option<Arc<rootless::Rootless>>, String> {
    if !wanted {
        return Ok(None);
    }
    rootless::Rootless::setup(&o.rootless_user).map(|r| Some(Arc::new(r)))
}

fn single(o: &Opt) -> i32 {
    let rl = match rootless_setup(o, o.rootless) {
        Ok(r) => r,
        Err(e) => {
            println!("Bail out! {}", e);
            println!("0 passed, 1 failed, 0 skipped");
            return 1;
        }
    };
    let code = single_run(o, rl.clone());
    if let Some(r) = rl {
        r.teardown();
    }
    code
}

fn single_run(o: &Opt, rl: Option<Arc<rootless::Rootless>>) -> i32 {
    let (name, path) = o.runtimes[0].clone();
    let r = match run_runtime(o, &name, &path, true, rl.clone()) {
        Ok(r) => r,
        Err(e) => {
            println!("Bail out! {}", e);
            println!("0 passed, 1 failed, 0 skipped");
            return 1;
        }
    };
    if let Some(j) = &o.json {
        write_json(j, &name, &r);
    }
    let (p, f, s) = totals(&r);
    let mut code = if f > 0 { 1 } else { 0 };
    if let Some(runc) = &o.compare_with_runc {
        println!(
            "# running the same cases against runc ({}) for comparison",
            runc.display()
        );
        let mut o2 = Opt {
            root: None,
            ..clone_opt(o)
        };
        o2.json = None;
        match run_runtime(&o2, "runc", runc, false, rl.clone()) {
            Ok(base) => {
                let regress = regressions(&r, &base);
                let (bp, bf, bs) = totals(&base);
                println!("# runc: {} passed, {} failed, {} skipped", bp, bf, bs);
                // A case that fails once on a busy machine is run again alone before it counts:
                // a flaky gate would block every merge.
                let regress: Vec<&String> = regress
                    .into_iter()
                    .filter(|n| {
                        let mut o3 = clone_opt(o);
                        o3.filter = Some((*n).clone());
                        o3.json = None;
                        let again = run_runtime(&o3, &name, &path, false, rl.clone());
                        let still = again.map_or(true, |rr| {
                            rr.iter().any(|(m, out)| m == *n && matches!(out, Outcome::Fail(_)))
                        });
                        if !still {
                            println!("# passed when run again alone (flaky once): {}", n);
                        }
                        still
                    })
                    .collect();
                for n in &regress {
                    println!(
                        "# REGRESSION vs runc (fails for {}, passes for runc): {}",
                        name, n
                    );
                }
                println!(
                    "# {} case(s) fail for {} but pass for runc",
                    regress.len(),
                    name
                );
                code = if regress.is_empty() { 0 } else { 1 };
            }
            Err(e) => {
                println!("# cannot run runc for comparison: {}", e);
                code = 1;
            }
        }
    }
    println!("1..{}", r.len());
    println!("{} passed, {} failed, {} skipped", p, f, s);
    code
}

/// Cases that fail in `r` but pass in `base`.
fn regressions<'a>(r: &'a Results, base: &Results) -> Vec<&'a String> {
    let bm: HashMap<&str, &Outcome> = base.iter().map(|(n, o)| (n.as_str(), o)).collect();
    r.iter()
        .filter(|(n, out)| matches!(out, Outcome::Fail(_)) && matches!(bm.get(n.as_str()), Some(Outcome::Pass)))
        .map(|(n, _)| n)
        .collect()
}

fn clone_opt(o: &Opt) -> Opt {
    Opt {
        runtimes: o.runtimes.clone(),
        filter: o.filter.clone(),
        root: o.root.clone(),
        jobs: o.jobs,
        workdir: o.workdir.clone(),
        checker: o.checker.clone(),
        cmd_timeout: o.cmd_timeout,
        group_timeout: o.group_timeout,
        compare_with_runc: None,
        output: None,
        gate: None,
        json: o.json.clone(),
        verbose: o.verbose,
        keep: o.keep,
        rootless: o.rootless,
        rootless_user: o.rootless_user.clone(),
        with_rootless: false,
        rootless_runtimes: vec![],
    }
}

/// One column of the comparison: label ("runc", "runc rootless"), runtime name, binary, results.
type Column = (String, String, PathBuf, Result<Results, String>);

fn compare(o: &Opt) -> i32 {
    // normal runs (unless --rootless), then rootless runs (--rootless or --with-rootless)
    let normal = !o.rootless;
    let rootless_too = o.rootless || o.with_rootless;
    let mut cols: Vec<Column> = Vec::new();
    let run_col = |cols: &mut Vec<Column>, name: &str, path: &Path, rl: Option<Arc<rootless::Rootless>>| {
        let label = if rl.is_some() {
            format!("{} rootless", name)
        } else {
            name.to_string()
        };
        println!("# ===== runtime {} ({}) =====", label, path.display());
        let mut o2 = clone_opt(o);
        o2.root = None;
        let r = run_runtime(&o2, name, path, true, rl);
        match &r {
            Ok(r) => {
                let (p, f, s) = totals(r);
                println!("{} passed, {} failed, {} skipped", p, f, s);
            }
            Err(e) => println!("# {}: cannot run: {}", label, e),
        }
        cols.push((label, name.to_string(), path.to_path_buf(), r));
    };
    if normal {
        for (name, path) in &o.runtimes {
            run_col(&mut cols, name, path, None);
        }
    }
    if rootless_too && !INTERRUPTED.load(Ordering::SeqCst) {
        match rootless_setup(o, true) {
            Ok(rl) => {
                for (name, path) in &o.runtimes {
                    let path = o
                        .rootless_runtimes
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(_, p)| p.clone())
                        .unwrap_or_else(|| path.clone());
                    run_col(&mut cols, name, &path, rl.clone());
                }
                if let Some(r) = rl {
                    r.teardown();
                }
            }
            Err(e) => {
                println!("# rootless runs impossible: {}", e);
                for (name, path) in &o.runtimes {
                    cols.push((format!("{} rootless", name), name.clone(), path.clone(), Err(e.clone())));
                }
            }
        }
    }
    // next to each runtime's column, its rootless column
    let mut all: Vec<Column> = Vec::new();
    for (name, _) in &o.runtimes {
        for c in cols.iter().filter(|c| &c.1 == name) {
            all.push(c.clone());
        }
    }
    let out = o
        .output
        .clone()
        .unwrap_or_else(|| PathBuf::from("docs/conformance.md"));
    if let Some(parent) = out.parent() {
        let _ = fs::create_dir_all(parent);
    }
    let doc = render_doc(&all, &o.filter);
    if let Err(e) = fs::write(&out, doc) {
        eprintln!("{}: {}", out.display(), e);
        return 1;
    }
    println!("# wrote {}", out.display());
    if let Some(gate) = &o.gate {
        // the gate compares the normal columns, or the rootless ones of a --rootless compare
        let sfx = if o.rootless { " rootless" } else { "" };
        let get = |n: &str| {
            all.iter()
                .find(|c| c.0 == format!("{}{}", n, sfx))
                .and_then(|c| c.3.as_ref().ok())
        };
        match (get(gate), get("runc")) {
            (Some(g), Some(base)) => {
                let reg = regressions(g, &base);
                for n in &reg {
                    println!("# REGRESSION vs runc ({} fails, runc passes): {}", gate, n);
                }
                if !reg.is_empty() {
                    return 1;
                }
            }
            _ => {
                println!(
                    "# --gate {}: both {} and runc results are needed",
                    gate, gate
                );
                return 1;
            }
        }
    }
    0
}

fn utc_now() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    // civil_from_days (H. Hinnant)
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        y,
        m,
        d,
        rem / 3600,
        (rem % 3600) / 60
    )
}

/// First line of `<runtime> --version` (plus a commit line when there is one).
fn runtime_version(p: &Path) -> String {
    let mut cmd = std::process::Command::new(p);
    cmd.arg("--version");
    let tmp = std::env::temp_dir().join(format!("oci-conformance-version-{}", std::process::id()));
    match proc::output(cmd, &tmp, Duration::from_secs(10)) {
        Ok((_, out)) => {
            let mut lines = out.lines();
            let first = lines.next().unwrap_or("").trim().to_string();
            match lines.find(|l| l.starts_with("commit:")) {
                Some(c) => format!("{} ({})", first, c.trim()),
                None => first,
            }
        }
        Err(_) => "?".into(),
    }
}

fn render_doc(all: &[Column], filter: &Option<String>) -> String {
    let mut s = String::new();
    s.push_str("# OCI runtime-spec conformance\n\n");
    s.push_str(&format!(
        "Generated by `oci-conformance compare` on {} (kernel {}). Cases are derived from the runtime-spec text \
         (runtime.md, runtime-linux.md, config.md, config-linux.md, features.md); each case names the spec file and \
         section it checks. `ok` = passed, `FAIL` = failed, `skip` = not applicable on this host (reason below).\n\n",
        utc_now(),
        fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim()
    ));
    if all.iter().any(|c| c.0.ends_with(" rootless")) {
        s.push_str(
            "Columns marked `rootless`: the same cases with the runtime run as an unprivileged user \
             (`--rootless`, see oci-conformance/README.md \"Rootless mode\"): each config gets a user namespace \
             mapping the user's own ids, no cgroup and no resources. There `skip` also marks cases that \
             an unprivileged user cannot exercise on this host (the reason starts with `rootless:`).\n\n",
        );
    }
    if let Some(f) = filter {
        s.push_str(&format!("Filter: `{}`\n\n", f));
    }
    s.push_str("| runtime | binary | version | passed | failed | skipped |\n|---|---|---|---:|---:|---:|\n");
    for (n, _, p, r) in all {
        let ver = runtime_version(p);
        match r {
            Ok(r) => {
                let (a, b, c) = totals(r);
                s.push_str(&format!(
                    "| {} | `{}` | {} | {} | {} | {} |\n",
                    n,
                    p.display(),
                    ver,
                    a,
                    b,
                    c
                ));
            }
            Err(e) => s.push_str(&format!(
                "| {} | `{}` | {} | - | - | - (could not run: {}) |\n",
                n,
                p.display(),
                ver,
                e
            )),
        }
    }
    // case list: union in suite order
    let mut names: Vec<String> = Vec::new();
    for g in cases::all() {
        for c in &g.cases {
            if selected(filter, &c.name()) {
                names.push(c.name());
            }
        }
    }
    s.push_str(&format!("\n{} cases.\n\n| # | case |", names.len()));
    for (n, _, _, _) in all {
        s.push_str(&format!(" {} |", n));
    }
    s.push_str("\n|---:|---|");
    for _ in all {
        s.push_str(":---:|");
    }
    s.push('\n');
    let maps: Vec<HashMap<&str, &Outcome>> = all
        .iter()
        .map(|(_, _, _, r)| {
            r.as_ref()
                .map(|r| r.iter().map(|(n, o)| (n.as_str(), o)).collect())
                .unwrap_or_default()
        })
        .collect();
    for (i, name) in names.iter().enumerate() {
        s.push_str(&format!("| {} | {} |", i + 1, name.replace('|', "\\|")));
        for m in &maps {
            s.push_str(&format!(
                " {} |",
                m.get(name.as_str()).map(|o| o.label()).unwrap_or("-")
            ));
        }
        s.push('\n');
    }
    s.push_str("\n## Failures and skips\n");
    for (n, _, _, r) in all {
        let Ok(r) = r else { continue };
        s.push_str(&format!("\n### {}\n\n", n));
        let mut any = false;
        for (i, (name, o)) in r.iter().enumerate() {
            let idx = names
                .iter()
                .position(|x| x == name)
                .map(|p| p + 1)
                .unwrap_or(i + 1);
            match o {
                Outcome::Fail(w) => {
                    any = true;
                    s.push_str(&format!(
                        "- {} FAIL `{}`: {}\n",
                        idx,
                        name,
                        suite::clip(w, 400).replace('|', "\\|")
                    ));
                }
                Outcome::Skip(w) => {
                    any = true;
                    s.push_str(&format!(
                        "- {} skip `{}`: {}\n",
                        idx,
                        name,
                        suite::clip(w, 400)
                    ));
                }
                Outcome::Pass => {}
            }
        }
        if !any {
            s.push_str("(none)\n");
        }
    }
    s
}
