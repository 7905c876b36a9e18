//! Status derivation (CONTRACT.md §3): init gone, a zombie, or its start time changed → stopped;
//! the freezer frozen → paused; the start fifo present → created; else running.

use std::fs;

use super::{ContainerDir, State, EXEC_FIFO};
use crate::cgroups;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// Derive the status of the container described by `state` in `dir`.
pub fn derive_status(dir: &std::path::Path, state: &State) -> Status {
    if !init_alive(state) {
        return Status::Stopped;
    }
    if state.creating {
        return Status::Creating;
    }
    if cgroups::is_frozen(&state.cgroup) {
        return Status::Paused;
    }
    if dir.join(EXEC_FIFO).exists() {
        Status::Created
    } else {
        Status::Running
    }
}

impl ContainerDir {
    pub fn status(&self, state: &State) -> Status {
        derive_status(&self.path, state)
    }
}

/// True when the recorded init still exists, is not a zombie, and is the same process.
pub fn init_alive(state: &State) -> bool {
    if state.pid <= 0 {
        return false;
    }
    match read_stat(state.pid) {
        Some((st, start)) => st != 'Z' && st != 'X' && start == state.init_start_time,
        None => false,
    }
}

/// Start time (clock ticks since boot) of a process, from /proc/<pid>/stat.
pub fn process_start_time(pid: i32) -> Option<u64> {
    read_stat(pid).map(|(_, t)| t)
}

/// State letter of a process (R, S, Z, ...), from /proc/<pid>/stat.
pub fn process_state(pid: i32) -> Option<char> {
    read_stat(pid).map(|(st, _)| st)
}

/// (state letter, start time) of /proc/<pid>/stat. The comm field may contain spaces and
/// parentheses, so parse from the last ')'.
fn read_stat(pid: i32) -> Option<(char, u64)> {
    // One read into the stack (the line is a few hundred bytes): this runs for every container
    // `list` shows and every `state`.
    let mut buf = [0u8; 1024];
    let path = format!("/proc/{pid}/stat");
    let n = std::io::Read::read(&mut fs::File::open(&path).ok()?, &mut buf).ok()?;
    let long;
    let s = match n < buf.len() {
        true => std::str::from_utf8(&buf[..n]).ok()?,
        false => {
            long = fs::read_to_string(&path).ok()?;
            &long
        }
    };
    let rest = &s[s.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let st = fields.next()?.chars().next()?;
    // Fields after ')' start at field 3 (state); starttime is field 22.
    let start = fields.nth(22 - 4)?.parse().ok()?;
    Some((st, start))
}
