//! `ps`: the processes of a container, as host pids (`--format json`) or as the host's `ps`
//! output filtered to them.

use std::process::Command;

use clap::Args;

use super::Globals;
use crate::cgroups::Cgroup;
use crate::container::{validate_id, State};
use crate::error::{Error, Result};

#[derive(Args, Debug)]
pub struct PsArgs {
    /// Output format: table or json
    #[arg(short = 'f', long, default_value = "table")]
    pub format: String,
    /// Container id
    pub id: String,
    /// Arguments for ps (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

/// A container without a cgroup (rootless): the processes of its own pid namespace.
fn pid_namespace_members(state: &State) -> Result<Vec<i32>> {
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/pid")).ok();
    let theirs = ns(&state.pid.to_string()).ok_or_else(|| Error::WrongState("container not running".into()))?;
    if Some(&theirs) == ns("self").as_ref() {
        return Err(Error::Other(format!("{}: no cgroup and no pid namespace of its own: its processes cannot be told from the host's", crate::cgroups::NO_CGROUP)));
    }
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .map_err(|e| Error::io("read", "/proc", e))?
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|p| ns(&p.to_string()).as_ref() == Some(&theirs))
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

pub fn run(g: &Globals, a: PsArgs) -> Result<()> {
    validate_id(&a.id)?;
    let state = State::load(&g.root.join(&a.id))?;
    let pids = match state.cgroup.none {
        true => pid_namespace_members(&state)?,
        false => Cgroup::open(&state.cgroup, &state.id)?.pids()?,
    };
    match a.format.as_str() {
        "json" => {
            println!("{}", serde_json::to_string(&pids).unwrap_or_else(|_| "[]".into()));
            Ok(())
        }
        "table" => {
            let args = if a.ps_args.is_empty() { vec!["-ef".to_string()] } else { a.ps_args };
            let out = Command::new("ps").args(&args).output().map_err(|e| Error::Other(format!("run ps: {e}")))?;
            if !out.status.success() {
                return Err(Error::Other(format!("ps {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())));
            }
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or("");
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| Error::Other("ps output has no PID column".into()))?;
            println!("{header}");
            for l in lines {
                if l.split_whitespace().nth(col).and_then(|p| p.parse::<i32>().ok()).is_some_and(|p| pids.contains(&p)) {
                    println!("{l}");
                }
            }
            Ok(())
        }
        other => Err(Error::Usage(format!("invalid format option {other:?}: expected table or json"))),
    }
}
