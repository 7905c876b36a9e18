//! `checkpoint` and `restore` (runc's flags): CRIU through `crate::criu`.

use std::path::PathBuf;

use clap::{Args, Parser};

use super::Globals;
use crate::criu::{self, Common};
use crate::error::Result;
use crate::launch::wait;

/// The arguments of `checkpoint` and `restore` as the main parser sees them: unparsed. Their
/// 37 flags are declared to clap only when one of the two verbs runs: clap builds every
/// subcommand's arguments on each parse, and these two would add 15-19 % to the instructions of
/// `state` and `list`.
#[derive(Args, Debug)]
#[command(disable_help_flag = true)]
pub struct Deferred {
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, num_args = 0..)]
    pub args: Vec<String>,
}

impl Deferred {
    /// Parse the verb's own arguments; Err is the exit status after clap printed its message
    /// (or the help).
    pub fn parse<P: Parser>(&self, verb: &str) -> std::result::Result<P, i32> {
        let argv = std::iter::once(format!("hull {verb}")).chain(self.args.iter().cloned());
        P::try_parse_from(argv).map_err(|e| {
            // A flag without its value also gets runc's words (Go's flag package): podman probes
            // `restore --lsm-mount-context` for "flag needs an argument" to learn whether the
            // runtime can restore into a pod.
            if e.kind() == clap::error::ErrorKind::InvalidValue {
                if let Some(clap::error::ContextValue::String(arg)) = e.get(clap::error::ContextKind::InvalidArg) {
                    let flag = arg.split_whitespace().next().unwrap_or(arg).trim_start_matches('-');
                    eprintln!("Incorrect Usage: flag needs an argument: -{flag}");
                }
            }
            let _ = e.print();
            if e.use_stderr() {
                1
            } else {
                0
            }
        })
    }
}

#[derive(Parser, Debug)]
#[command(about = "Checkpoint a running container (CRIU)")]
pub struct CheckpointCmd {
    #[command(flatten)]
    pub args: CheckpointArgs,
}

#[derive(Parser, Debug)]
#[command(about = "Restore a container from a checkpoint (CRIU)")]
pub struct RestoreCmd {
    #[command(flatten)]
    pub args: RestoreArgs,
}

/// The flags both verbs share.
#[derive(Args, Debug)]
pub struct CommonArgs {
    /// Directory for the images (default: ./checkpoint)
    #[arg(long)]
    pub image_path: Option<PathBuf>,
    /// Directory for CRIU's log and work files (default: the image directory)
    #[arg(long)]
    pub work_path: Option<PathBuf>,
    /// Allow open TCP connections
    #[arg(long)]
    pub tcp_established: bool,
    /// Allow external unix sockets
    #[arg(long)]
    pub ext_unix_sk: bool,
    /// Allow shell jobs
    #[arg(long)]
    pub shell_job: bool,
    /// Handle file locks
    #[arg(long)]
    pub file_locks: bool,
    /// Cgroups mode: soft (default), full, strict or ignore
    #[arg(long)]
    pub manage_cgroups_mode: Option<String>,
    /// Create a namespace but leave its properties alone (network)
    #[arg(long)]
    pub empty_ns: Vec<String>,
    /// Deduplicate the memory images against their parent
    #[arg(long)]
    pub auto_dedup: bool,
}

impl CommonArgs {
    fn common(&self) -> Common {
        Common {
            image_path: self.image_path.clone(),
            work_path: self.work_path.clone(),
            tcp_established: self.tcp_established,
            ext_unix_sk: self.ext_unix_sk,
            shell_job: self.shell_job,
            file_locks: self.file_locks,
            manage_cgroups_mode: self.manage_cgroups_mode.clone(),
            empty_ns: self.empty_ns.clone(),
            auto_dedup: self.auto_dedup,
        }
    }
}

#[derive(Args, Debug)]
pub struct CheckpointArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Images of a previous pre-dump, relative to the image path
    #[arg(long)]
    pub parent_path: Option<String>,
    /// Leave the container running after the checkpoint
    #[arg(long)]
    pub leave_running: bool,
    /// Dump the memory only, leaving the container running (for a later dump with --parent-path)
    #[arg(long)]
    pub pre_dump: bool,
    /// CRIU writes \0 to this fd when the dump is ready
    #[arg(long)]
    pub status_fd: Option<i32>,
    /// Use userfaultfd to restore the memory lazily
    #[arg(long)]
    pub lazy_pages: bool,
    /// ADDRESS:PORT of a CRIU page server for the pages
    #[arg(long)]
    pub page_server: Option<String>,
    /// Container id
    pub id: String,
}

pub fn checkpoint(g: &Globals, a: CheckpointArgs) -> Result<()> {
    let o = criu::checkpoint::Options {
        common: a.common.common(),
        leave_running: a.leave_running,
        pre_dump: a.pre_dump,
        parent_path: a.parent_path,
        status_fd: a.status_fd,
        lazy_pages: a.lazy_pages,
        page_server: a.page_server,
    };
    criu::checkpoint::checkpoint(&g.root, &a.id, &o)
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Path to the bundle directory
    #[arg(short = 'b', long, default_value = ".")]
    pub bundle: PathBuf,
    /// Detach from the container's process
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Unix socket that receives the pty master of a terminal container
    #[arg(long)]
    pub console_socket: Option<PathBuf>,
    /// File to write the container's init pid to
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Do not become a subreaper of the container's processes
    #[arg(long)]
    pub no_subreaper: bool,
    /// Accepted for runc compatibility: CRIU builds the restored mount namespace itself
    #[arg(long)]
    pub no_pivot: bool,
    /// Restore the memory lazily (userfaultfd)
    #[arg(long)]
    pub lazy_pages: bool,
    /// LSM profile for the restored processes (TYPE:NAME)
    #[arg(long)]
    pub lsm_profile: Option<String>,
    /// LSM mount context for the restored mounts
    #[arg(long)]
    pub lsm_mount_context: Option<String>,
    /// Container id
    pub id: String,
}

pub fn restore(g: &Globals, a: RestoreArgs) -> Result<i32> {
    if a.lazy_pages {
        return Err(super::usage(
            "--lazy-pages is not supported by hull: it needs a lazy-pages daemon serving the dumped pages, which hull does not run",
        ));
    }
    let o = criu::restore::Options {
        common: a.common.common(),
        id: &a.id,
        bundle: a.bundle.clone(),
        console_socket: a.console_socket.clone(),
        pid_file: a.pid_file.clone(),
        systemd_cgroup: g.systemd_cgroup,
        lsm_profile: a.lsm_profile.clone(),
        lsm_mount_context: a.lsm_mount_context.clone(),
    };
    if a.detach {
        criu::restore::restore(&g.root, &o)?;
        return Ok(0);
    }
    // In the foreground, as `run`: forward signals, exit with the container's status, delete it.
    if !a.no_subreaper {
        nix::sys::prctl::set_child_subreaper(true).map_err(|e| crate::error::Error::sys("prctl PR_SET_CHILD_SUBREAPER", e))?;
    }
    let all = wait::block_signals()?;
    let (dir, state) = criu::restore::restore(&g.root, &o)?;
    drop(dir);
    let code = wait::forward_until_exit(state.pid, &all);
    if let Ok(dir) = crate::container::ContainerDir::open(&g.root, &state.id) {
        crate::container::destroy(&dir, &state)?;
    }
    Ok(code)
}
