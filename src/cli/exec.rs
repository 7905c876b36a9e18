//! `exec`: flags as runc's; a process comes from `--process FILE` or from the container's own
//! process overridden by the flags and the command line.

use std::path::PathBuf;

use clap::Args;
use oci_spec::runtime::{Capability, Process};

use super::Globals;
use crate::container::{validate_id, State};
use crate::error::{Error, Result};
use crate::launch::{self, ExecOpts};

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// Unix socket that receives the pty master (terminal processes)
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// Working directory inside the container
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    /// Set an environment variable (repeatable)
    #[arg(short = 'e', long)]
    pub env: Vec<String>,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// UID[:GID] to run as
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Additional group id (repeatable)
    #[arg(short = 'g', long)]
    pub additional_gids: Vec<u32>,
    /// Path to a process.json
    #[arg(short = 'p', long)]
    pub process: Option<PathBuf>,
    /// Detach from the process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Unix socket that receives a pidfd of the process
    #[arg(long)]
    pub pidfd_socket: Option<PathBuf>,
    /// File to write the process's pid to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// SELinux label of the process
    #[arg(long)]
    pub process_label: Option<String>,
    /// AppArmor profile of the process
    #[arg(long)]
    pub apparmor: Option<String>,
    /// Set no_new_privs
    #[arg(long)]
    pub no_new_privs: bool,
    /// Add a capability (repeatable)
    #[arg(short = 'c', long)]
    pub cap: Vec<String>,
    /// Pass N extra file descriptors (3..3+N-1)
    #[arg(long, default_value_t = 0)]
    pub preserve_fds: u32,
    /// Run in this sub-cgroup of the container
    #[arg(long)]
    pub cgroup: Option<String>,
    /// Allow exec in a paused container
    #[arg(long)]
    pub ignore_paused: bool,
    /// Container id
    pub id: String,
    /// Command and arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

/// Parse a process.json; errors name the JSON path.
fn load_process(path: &PathBuf) -> Result<Process> {
    let text = std::fs::read(path).map_err(|e| Error::io("read", path, e))?;
    let mut v: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| Error::Other(format!("process {path:?}: {e}")))?;
    crate::bundle::respell_scheduler_flags(&mut v);
    serde_path_to_error::deserialize(v).map_err(|e| Error::Other(format!("process {path:?}: {}: {}", e.path(), e.inner())))
}

fn build_process(a: &ExecArgs, state: &State) -> Result<Process> {
    if let Some(p) = &a.process {
        return load_process(p);
    }
    let mut p = state.process.clone().unwrap_or_default();
    if a.command.is_empty() {
        return Err(Error::Usage("exec: a command is required (or --process)".into()));
    }
    p.set_args(Some(a.command.clone()));
    p.set_terminal(Some(a.tty));
    if let Some(cwd) = &a.cwd {
        p.set_cwd(cwd.clone());
    }
    let mut env = p.env().clone().unwrap_or_default();
    for e in &a.env {
        let key = e.split('=').next().unwrap_or(e);
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    p.set_env(Some(env));
    if let Some(u) = &a.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let num = |s: &str| s.parse::<u32>().map_err(|_| Error::Usage(format!("--user {u:?}: expected UID[:GID] as numbers")));
        p.user_mut().set_uid(num(uid)?);
        p.user_mut().set_gid(gid.map(num).transpose()?.unwrap_or(0));
    }
    if !a.additional_gids.is_empty() {
        p.user_mut().set_additional_gids(Some(a.additional_gids.clone()));
    }
    if a.no_new_privs {
        p.set_no_new_privileges(Some(true));
    }
    if !a.cap.is_empty() {
        let mut caps = p.capabilities().clone().unwrap_or_default();
        for c in &a.cap {
            let name = c.to_ascii_uppercase();
            let name = name.strip_prefix("CAP_").unwrap_or(&name).to_string();
            let cap: Capability = serde_json::from_value(serde_json::Value::from(format!("CAP_{name}")))
                .map_err(|_| Error::Usage(format!("--cap {c:?}: unknown capability")))?;
            for set in [caps.bounding().clone(), caps.effective().clone(), caps.permitted().clone()].iter().enumerate() {
                let mut s = set.1.clone().unwrap_or_default();
                s.insert(cap);
                match set.0 {
                    0 => caps.set_bounding(Some(s)),
                    1 => caps.set_effective(Some(s)),
                    _ => caps.set_permitted(Some(s)),
                };
            }
        }
        p.set_capabilities(Some(caps));
    }
    if let Some(l) = &a.apparmor {
        p.set_apparmor_profile(Some(l.clone()));
    }
    if let Some(l) = &a.process_label {
        p.set_selinux_label(Some(l.clone()));
    }
    Ok(p)
}

pub fn run(g: &Globals, a: ExecArgs) -> Result<i32> {
    validate_id(&a.id)?;
    let state = State::load(&g.root.join(&a.id))?;
    let process = build_process(&a, &state)?;
    if process.apparmor_profile().as_deref().is_some_and(|s| !s.is_empty()) {
        return Err(Error::Usage("exec: AppArmor profiles cannot be applied on this host".into()));
    }
    if let Some(l) = process.selinux_label().as_deref().filter(|s| !s.is_empty()) {
        if crate::bundle::validate::selinux_enabled() {
            return Err(Error::Usage("exec: SELinux labels are not supported by this version of hull".into()));
        }
        crate::log::warn(format!("exec: SELinux is not enabled on this host; process label {l:?} ignored"));
    }
    launch::exec(&ExecOpts {
        root: &g.root,
        id: &a.id,
        process,
        detach: a.detach,
        pid_file: a.pid_file.as_deref(),
        preserve_fds: a.preserve_fds,
        cgroup: a.cgroup.as_deref(),
        ignore_paused: a.ignore_paused,
        console_socket: a.console_socket.as_deref(),
        pidfd_socket: a.pidfd_socket.as_deref(),
    })
}
