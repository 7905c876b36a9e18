//! Process management for the runner.
//!
//! The runner is a child subreaper (PR_SET_CHILD_SUBREAPER): container init
//! processes are re-parented to it when the runtime's `create` exits, and PID 1
//! on these machines reaps orphans late.  ONE reaper thread collects every exit
//! status (`waitid(WNOWAIT)` to block, then `waitpid(pid)` under a lock) and
//! stores it in a table; nothing else in the runner ever calls wait().  Direct
//! children are spawned while holding the same lock, so the reaper cannot
//! collect a child before `spawn` has recorded it, and stale table entries of a
//! re-used pid are dropped at spawn time.  std's `Child::wait` is never used.

use std::collections::HashMap;
use std::process::Command;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

struct Reaper {
    table: Mutex<HashMap<i32, i32>>,
    cv: Condvar,
}

static REAPER: OnceLock<Reaper> = OnceLock::new();

fn reaper() -> &'static Reaper {
    REAPER.get().expect("proc::init not called")
}

pub fn init() {
    unsafe {
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    }
    if REAPER
        .set(Reaper {
            table: Mutex::new(HashMap::new()),
            cv: Condvar::new(),
        })
        .is_err()
    {
        return;
    }
    std::thread::Builder::new()
        .name("reaper".into())
        .spawn(|| loop {
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            let r =
                unsafe { libc::waitid(libc::P_ALL, 0, &mut info, libc::WEXITED | libc::WNOWAIT) };
            if r < 0 {
                let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
                if e != libc::EINTR {
                    std::thread::sleep(Duration::from_millis(15));
                }
                continue;
            }
            let pid = unsafe { info.si_pid() };
            if pid <= 0 {
                std::thread::sleep(Duration::from_millis(5));
                continue;
            }
            let rp = reaper();
            let mut t = rp.table.lock().unwrap();
            let mut st = 0;
            let w = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
            if w == pid {
                t.insert(pid, st);
                rp.cv.notify_all();
            }
        })
        .expect("spawn reaper");
}

/// Spawn a command; returns its pid.  The caller must not wait() on it.
pub fn spawn(cmd: &mut Command) -> std::io::Result<i32> {
    let rp = reaper();
    let mut t = rp.table.lock().unwrap();
    let child = cmd.spawn()?;
    let pid = child.id() as i32;
    t.remove(&pid);
    drop(t);
    std::mem::forget(child);
    Ok(pid)
}

/// Forget any recorded status for `pid` (call when learning about a live
/// process, e.g. a container init, whose pid may have been used before).
pub fn forget(pid: i32) {
    reaper().table.lock().unwrap().remove(&pid);
}

/// Raw wait status of `pid` if it has been reaped.
pub fn status(pid: i32) -> Option<i32> {
    reaper().table.lock().unwrap().get(&pid).copied()
}

/// Wait until `pid` is reaped (it must be a child of the runner) or the
/// deadline passes.  Returns the raw wait status.
pub fn wait_until(pid: i32, deadline: Instant) -> Option<i32> {
    let rp = reaper();
    let mut t = rp.table.lock().unwrap();
    loop {
        if let Some(st) = t.get(&pid) {
            return Some(*st);
        }
        let now = Instant::now();
        if now >= deadline {
            return None;
        }
        let (g, _) = rp
            .cv
            .wait_timeout(t, (deadline - now).min(Duration::from_millis(200)))
            .unwrap();
        t = g;
    }
}

pub fn alive(pid: i32) -> bool {
    if pid <= 0 {
        return false;
    }
    if status(pid).is_some() {
        return false;
    }
    // a zombie that is not our child (we cannot reap it) counts as dead
    match std::fs::read_to_string(format!("/proc/{}/stat", pid)) {
        Err(_) => false,
        Ok(s) => {
            let st = s
                .rsplit_once(')')
                .map(|(_, r)| r.trim_start().chars().next().unwrap_or('?'))
                .unwrap_or('?');
            st != 'Z' && st != 'X'
        }
    }
}

pub fn ppid(pid: i32) -> Option<i32> {
    let s = std::fs::read_to_string(format!("/proc/{}/stat", pid)).ok()?;
    let rest = s.rsplit_once(')')?.1;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Wait for `pid` (not necessarily our child) to disappear.
pub fn wait_gone(pid: i32, deadline: Instant) -> Option<Option<i32>> {
    loop {
        if let Some(st) = status(pid) {
            return Some(Some(st));
        }
        if !alive(pid) {
            // give the reaper a moment to record a status if it is our child
            std::thread::sleep(Duration::from_millis(20));
            return Some(status(pid));
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

pub fn describe_status(st: i32) -> String {
    if libc::WIFEXITED(st) {
        format!("exit {}", libc::WEXITSTATUS(st))
    } else if libc::WIFSIGNALED(st) {
        format!("killed by signal {}", libc::WTERMSIG(st))
    } else {
        format!("status {:#x}", st)
    }
}

pub fn kill(pid: i32, sig: i32) {
    if pid > 0 {
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

/// Run a command to completion with stdout captured through a temporary file
/// (never through std's wait, which would race with the reaper).
pub fn output(
    mut cmd: Command,
    tmp: &std::path::Path,
    timeout: Duration,
) -> Result<(i32, String), String> {
    let f = std::fs::File::create(tmp).map_err(|e| e.to_string())?;
    cmd.stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::from(f))
        .stderr(std::process::Stdio::null());
    let pid = spawn(&mut cmd).map_err(|e| e.to_string())?;
    let st = match wait_until(pid, Instant::now() + timeout) {
        Some(st) => st,
        None => {
            kill(pid, libc::SIGKILL);
            wait_until(pid, Instant::now() + Duration::from_secs(5));
            let _ = std::fs::remove_file(tmp);
            return Err("timed out".into());
        }
    };
    let out = std::fs::read(tmp)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let _ = std::fs::remove_file(tmp);
    Ok((st, out))
}
