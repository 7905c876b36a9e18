//! CONTRACT.md §2: after `create` (and a detached `exec`) exits, the container's process is
//! re-parented to the caller's subreaper (the shim, conmon), never double-forked away.
mod common;

use common::*;
use std::process::Command;

#[test]
fn init_and_detached_exec_reparent_to_the_callers_subreaper() {
    let Some(t) = setup("reparent") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    b.write();
    let rt = format!("{} --root {STATE_ROOT}", runtime().display());
    let pidfile = t.scratch.join("exec.pid");
    // tini -s is a child subreaper: the shell (its child) runs create, start and a detached exec,
    // then reports the parent of each process and tini's own pid.
    let script = format!(
        "set -e; exec 3>&1 >/dev/null 2>&1 </dev/null; \
         $RT create --bundle {bundle} {id}; $RT start {id}; \
         $RT exec -d --pid-file {pf} {id} sleep 100000; \
         exec 1>&3 3>&-; \
         init=$($RT state {id} | sed -n 's/.*\"pid\": \\([0-9]*\\).*/\\1/p'); \
         echo subreaper=$PPID; \
         echo init_ppid=$(awk '/^PPid/ {{print $2}}' /proc/$init/status); \
         echo exec_ppid=$(awk '/^PPid/ {{print $2}}' /proc/$(cat {pf})/status)",
        bundle = b.dir_str(),
        id = id,
        pf = pidfile.display()
    );
    let out = Command::new("tini").args(["-s", "--", "sh", "-c", &script]).env("RT", &rt).output().expect("tini");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "script failed: {text}\n{}", String::from_utf8_lossy(&out.stderr));
    let get = |k: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or_else(|| panic!("no {k} in {text}"))
            .to_string()
    };
    let sub = get("subreaper");
    assert_eq!(get("init_ppid"), sub, "the init must be re-parented to the caller's subreaper: {text}");
    assert_eq!(get("exec_ppid"), sub, "a detached exec'd process must be re-parented to the caller's subreaper: {text}");
    t.finish();
}
