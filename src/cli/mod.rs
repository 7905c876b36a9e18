//! The command line: runc's argument shapes (CONTRACT.md §1), dispatch to one file per verb, and
//! the mapping of errors to exit status and log lines.

pub mod args;
mod check;
mod checkpoint;
mod create;
mod delete;
mod events;
mod exec;
mod features;
mod kill;
mod list;
mod pause;
mod ps;
mod run;
mod spec;
mod start;
mod state;
mod units;
mod update;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::error::{Error, Result};
use crate::log;

pub const DEFAULT_ROOT: &str = "/run/hull";

#[derive(Parser, Debug)]
#[command(name = "hull", about = "hull: an OCI container runtime", disable_version_flag = true)]
pub struct Cli {
    /// Directory for the state of containers
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Write log lines to FILE (default: stderr)
    #[arg(long, value_name = "FILE")]
    pub log: Option<String>,
    /// Log format: text or json
    #[arg(long, value_name = "FORMAT", default_value = "text")]
    pub log_format: String,
    /// Log debug messages
    #[arg(long)]
    pub debug: bool,
    /// Use systemd to manage cgroups
    #[arg(long)]
    pub systemd_cgroup: bool,
    /// Rootless mode: true, false or auto
    #[arg(long, value_name = "VALUE", num_args = 0..=1, default_missing_value = "true")]
    pub rootless: Option<String>,
    /// Print the version
    #[arg(short = 'v', long)]
    pub version: bool,
    #[command(subcommand)]
    pub cmd: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
// Each verb's arguments are defined only when that verb is the one being run (clap's `defer`):
// building all eighteen verbs' definitions was three quarters of a `state` call's instructions
// and about 30 freshly touched heap pages.
#[command(defer = true)]
pub enum Cmd {
    /// Create a container
    Create(create::CreateArgs),
    /// Start a created container
    Start(start::StartArgs),
    /// Output the state of a container
    State(state::StateArgs),
    /// Run a process in a running container
    Exec(exec::ExecArgs),
    /// Send a signal to the container's init process
    Kill(kill::KillArgs),
    /// Delete a container
    Delete(delete::DeleteArgs),
    /// Create and start a container
    Run(run::RunArgs),
    /// List containers
    #[command(alias = "ps-all")]
    List(list::ListArgs),
    /// Suspend every process of a container
    Pause(pause::PauseArgs),
    /// Resume a paused container
    Resume(pause::PauseArgs),
    /// List the processes of a container
    Ps(ps::PsArgs),
    /// Change a container's resource limits
    Update(update::UpdateArgs),
    /// Statistics and OOM events of a container
    Events(events::EventsArgs),
    /// Show the features this build implements
    Features,
    /// Create a new specification file
    Spec(spec::SpecArgs),
    /// Check this host's readiness for containers
    Check(check::CheckArgs),
    /// Checkpoint a running container (CRIU)
    Checkpoint(checkpoint::Deferred),
    /// Restore a container from a checkpoint (CRIU)
    Restore(checkpoint::Deferred),
}

/// Global settings every verb receives.
pub struct Globals {
    pub root: PathBuf,
    pub systemd_cgroup: bool,
    /// Rootless mode (`--rootless`, auto: not root, or root of a user namespace that does not
    /// map the host's root).
    pub rootless: bool,
}

/// `Cli::try_parse_from`, without freeing clap's description of every verb and the matches
/// afterwards: the process ends soon, and the frees were an eighth of a `hull state`'s
/// instructions (callgrind).
fn parse(argv: &[String]) -> Result<Cli, clap::Error> {
    use clap::{CommandFactory, FromArgMatches};
    let mut command = std::mem::ManuallyDrop::new(Cli::command());
    let mut matches = std::mem::ManuallyDrop::new(command.try_get_matches_from_mut(argv)?);
    Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut command))
}

/// Runs the command line `argv` (the program's name first); returns the exit status.
pub fn main(argv: Vec<std::ffi::OsString>) -> i32 {
    let argv_os = argv;
    let argv = args::normalize(argv_os.iter().map(|a| a.to_string_lossy().into_owned()).collect());
    // The verbs that clone processes into a container run from a sealed binary: re-executed from
    // one here, before anything is parsed twice. A failure is reported once logging is set up.
    let seal_failure = match args::verb(&argv) {
        Some("create" | "run" | "exec" | "restore") => crate::linux::seal::ensure_sealed(&argv_os).err(),
        _ => None,
    };
    let cli = match parse(&argv) {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 1 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let format = match cli.log_format.as_str() {
        "json" => log::Format::Json,
        "text" => log::Format::Text,
        other => {
            eprintln!("invalid log format {other:?}: expected text or json");
            return 1;
        }
    };
    log::init(cli.log.as_deref(), format, cli.debug);
    log::debug("hull: started");
    if cli.version {
        print!("{}", version_text());
        return 0;
    }
    let Some(cmd) = cli.cmd else {
        eprintln!("hull: no command given; see hull --help");
        return 1;
    };
    if let Some(e) = seal_failure {
        log::error(e.to_string());
        return if matches!(cmd, Cmd::Exec(_)) { 255 } else { 1 };
    }
    let failed = if matches!(cmd, Cmd::Exec(_)) { 255 } else { 1 };
    let rootless = match rootless_mode(cli.rootless.as_deref()) {
        Ok(r) => r,
        Err(e) => {
            log::error(e.to_string());
            return failed;
        }
    };
    let root = match cli.root {
        Some(r) => r,
        None => match default_root(rootless) {
            Ok(r) => r,
            // spec, features and check keep no state.
            Err(_) if matches!(cmd, Cmd::Spec(_) | Cmd::Features | Cmd::Check(_)) => PathBuf::from(DEFAULT_ROOT),
            Err(e) => {
                log::error(e.to_string());
                return failed;
            }
        },
    };
    let g = Globals { root, systemd_cgroup: cli.systemd_cgroup, rootless };
    let res: Result<i32> = match cmd {
        Cmd::Create(a) => create::run(&g, a).map(|()| 0),
        Cmd::Start(a) => start::run(&g, a).map(|()| 0),
        Cmd::State(a) => state::run(&g, a).map(|()| 0),
        Cmd::Kill(a) => kill::run(&g, a).map(|()| 0),
        Cmd::Exec(a) => {
            // exec reports its own failures with 255, the process's status otherwise.
            return match exec::run(&g, a) {
                Ok(code) => code,
                Err(e) => {
                    log::error(e.to_string());
                    255
                }
            };
        }
        Cmd::Delete(a) => delete::run(&g, a).map(|()| 0),
        Cmd::Run(a) => run::run(&g, a),
        Cmd::List(a) => list::run(&g, a).map(|()| 0),
        Cmd::Spec(a) => spec::run(a).map(|()| 0),
        Cmd::Features => features::run().map(|()| 0),
        Cmd::Check(a) => check::run(a),
        Cmd::Pause(a) => pause::run(&g, a, true).map(|()| 0),
        Cmd::Ps(a) => ps::run(&g, a).map(|()| 0),
        Cmd::Update(a) => update::run(&g, a).map(|()| 0),
        Cmd::Events(a) => events::run(&g, a).map(|()| 0),
        Cmd::Resume(a) => pause::run(&g, a, false).map(|()| 0),
        Cmd::Checkpoint(a) => match a.parse::<checkpoint::CheckpointCmd>("checkpoint") {
            Ok(c) => checkpoint::checkpoint(&g, c.args).map(|()| 0),
            Err(code) => return code,
        },
        Cmd::Restore(a) => match a.parse::<checkpoint::RestoreCmd>("restore") {
            Ok(c) => checkpoint::restore(&g, c.args),
            Err(code) => return code,
        },
    };
    match res {
        Ok(code) => code,
        Err(e) => {
            log::error(e.to_string());
            1
        }
    }
}

pub fn version_text() -> String {
    format!(
        "hull version {}\ncommit: {}\nspec: {}\n",
        env!("CARGO_PKG_VERSION"),
        option_env!("HULL_COMMIT").unwrap_or("unknown"),
        crate::OCI_VERSION
    )
}

/// `--rootless true|false|auto` (default auto, as runc): auto is rootless when hull runs with a
/// non-zero effective uid, or as root of a user namespace (its uid_map is not the initial
/// namespace's identity map: rootless podman calls the runtime that way, through conmon).
fn rootless_mode(flag: Option<&str>) -> Result<bool> {
    match flag.unwrap_or("auto") {
        "true" => Ok(true),
        "false" => Ok(false),
        "auto" => Ok(!nix::unistd::geteuid().is_root() || crate::linux::runtime_in_user_namespace()),
        other => Err(usage(format!("--rootless: {other:?}: expected true, false or auto"))),
    }
}

/// The state root when `--root` is not given: /run/hull, or $XDG_RUNTIME_DIR/hull when rootless.
fn default_root(rootless: bool) -> Result<PathBuf> {
    if !rootless {
        return Ok(PathBuf::from(DEFAULT_ROOT));
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => Ok(PathBuf::from(d).join("hull")),
        None => Err(usage(format!(
            "rootless mode: XDG_RUNTIME_DIR is not set, so there is no state directory to use; set it to a directory you own (usually /run/user/{}) or pass --root",
            nix::unistd::getuid()
        ))),
    }
}

pub fn usage(msg: impl Into<String>) -> Error {
    Error::Usage(msg.into())
}
