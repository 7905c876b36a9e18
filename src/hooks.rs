//! OCI hooks (config.md#posix-platform-hooks): each runs with the container state on stdin, its
//! own `args` and `env`, and an optional `timeout` after which it is killed.
//!
//! A hook without `env` gets the environment runc gives it (Go's exec with a nil Env inherits
//! its caller's): prestart, createRuntime, poststart and poststop hooks the runtime's own (what
//! the shim, conmon or the user gave it); createContainer and startContainer hooks, which run in
//! the container's init, the process's environment as it is at that point (`process.env`, and
//! for startContainer HOME as filled in for the process). A hook with `env` gets exactly that.
//!
//! The status given to create-time hooks (prestart, createRuntime, createContainer) is
//! `creating`, as runc sends: the spec defines `creating` as "the container is being created",
//! which is when these hooks run. startContainer hooks see `created`, poststart `running`,
//! poststop `stopped`.

use std::io::{Read, Seek, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Hook, Hooks};

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Prestart,
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Prestart => "prestart",
            Phase::CreateRuntime => "createRuntime",
            Phase::CreateContainer => "createContainer",
            Phase::StartContainer => "startContainer",
            Phase::Poststart => "poststart",
            Phase::Poststop => "poststop",
        }
    }

    /// The hooks of this phase in a config.
    pub fn of(self, hooks: &Option<Hooks>) -> &[Hook] {
        let Some(h) = hooks else { return &[] };
        let list = match self {
            Phase::Prestart => h.prestart(),
            Phase::CreateRuntime => h.create_runtime(),
            Phase::CreateContainer => h.create_container(),
            Phase::StartContainer => h.start_container(),
            Phase::Poststart => h.poststart(),
            Phase::Poststop => h.poststop(),
        };
        list.as_deref().unwrap_or(&[])
    }
}

/// True when the config has any hook at all.
pub fn any(hooks: &Option<Hooks>) -> bool {
    [Phase::Prestart, Phase::CreateRuntime, Phase::CreateContainer, Phase::StartContainer, Phase::Poststart, Phase::Poststop]
        .iter()
        .any(|p| !p.of(hooks).is_empty())
}

/// Run every hook of a runtime-side `phase` in order. The first failure stops the sequence,
/// except for poststop: there every hook runs and the first failure is returned (a warning for
/// the caller). Hooks without `env` inherit the runtime's environment.
pub fn run(hooks: &Option<Hooks>, phase: Phase, state_json: &str) -> Result<()> {
    run_with(hooks, phase, state_json, None)
}

/// `run` for the phases that run in the container's init (createContainer, startContainer):
/// hooks without `env` get `env`, the process's environment.
pub fn run_in_container(hooks: &Option<Hooks>, phase: Phase, state_json: &str, env: &[String]) -> Result<()> {
    run_with(hooks, phase, state_json, Some(env))
}

fn run_with(hooks: &Option<Hooks>, phase: Phase, state_json: &str, default_env: Option<&[String]>) -> Result<()> {
    let mut first = None;
    for (i, h) in phase.of(hooks).iter().enumerate() {
        if let Err(msg) = run_one(h, state_json, default_env) {
            let e = Error::Other(format!("{} hook #{} ({:?}): {msg}", phase.name(), i, h.path()));
            if phase != Phase::Poststop {
                return Err(e);
            }
            crate::log::warn(e.to_string());
            first.get_or_insert(e);
        }
    }
    first.map_or(Ok(()), Err)
}

/// An anonymous in-memory file for a hook's output: a pipe could fill up while we wait.
fn output_file() -> std::result::Result<std::fs::File, String> {
    // SAFETY: memfd_create takes a NUL-terminated name and returns a new fd or -1.
    let fd = unsafe { libc::memfd_create(c"hull-hook".as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(format!("memfd_create: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: fd is a new descriptor owned by nobody else.
    Ok(unsafe { std::fs::File::from_raw_fd(fd) })
}

/// `default_env`: the environment of a hook without `env` (None: inherit the runtime's).
fn run_one(h: &Hook, state_json: &str, default_env: Option<&[String]>) -> std::result::Result<(), String> {
    let out = output_file()?;
    let mut cmd = Command::new(h.path());
    if let Some(args) = h.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    if let Some(env) = h.env().as_deref().or(default_env) {
        cmd.env_clear();
        for e in env {
            if let Some((k, v)) = e.split_once('=') {
                cmd.env(k, v);
            }
        }
    }
    let err_out = out.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(Stdio::piped()).stdout(Stdio::from(out.try_clone().map_err(|e| e.to_string())?)).stderr(Stdio::from(err_out));
    let mut child = cmd.spawn().map_err(|e| format!("start: {e}"))?;
    // The state is written without blocking, inside the wait loop, so that a hook that never
    // reads it still times out (a state over a pipe's capacity would block a plain write).
    let mut stdin = child.stdin.take();
    if let Some(s) = &stdin {
        // SAFETY: fcntl on the pipe descriptor this Child owns.
        unsafe { libc::fcntl(s.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) };
    }
    let mut pending = state_json.as_bytes();
    let deadline = h.timeout().filter(|t| *t > 0).map(|t| (t, Instant::now() + Duration::from_secs(t as u64)));
    let mut pause = Duration::from_micros(100);
    let status = loop {
        if let Some(s) = stdin.as_mut() {
            match s.write(pending) {
                Ok(n) => pending = &pending[n..],
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                // A hook that exits without reading its stdin is not an error.
                Err(_) => pending = &[],
            }
            if pending.is_empty() {
                stdin = None;
            }
        }
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) => {}
            Err(e) => return Err(format!("wait: {e}")),
        }
        if let Some((secs, when)) = deadline {
            if Instant::now() >= when {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("timed out after {secs} s"));
            }
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    };
    if status.success() {
        return Ok(());
    }
    let mut text = String::new();
    let mut f = out;
    let _ = f.rewind();
    let _ = f.take(4096).read_to_string(&mut text);
    let text = text.trim();
    Err(if text.is_empty() { format!("{status}") } else { format!("{status}: {text}") })
}
