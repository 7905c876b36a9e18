//! Checkpoint and restore through CRIU, as runc does: `criu swrk` (the RPC mode, one request per
//! criu process over a SOCK_SEQPACKET pair) with the protocol's messages from the rust-criu crate.
//! Its own client is not used: it cannot pre-dump, drops the restored pid, and takes its notify
//! callback as a plain function pointer.
//!
//! `checkpoint.rs` dumps a running container; `restore.rs` makes one from its images.

pub mod checkpoint;
pub mod restore;

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use protobuf::Message;
use rust_criu::rust_criu_protobuf::rpc::{Criu_notify, Criu_opts, Criu_req, Criu_req_type, Criu_resp};

use crate::error::{Error, Result};

/// The oldest CRIU hull drives: 3.14 is the first to freeze a cgroup v2 container through
/// `cgroup.freeze` (runc asks the same on cgroup v2), and every Debian release since 11 has it.
pub const MIN_VERSION: u32 = 31400;

/// File under the image directory that records the init's stdio at checkpoint (as runc's
/// descriptors.json): restore hands its own stdio to CRIU for the pipes among them.
pub const DESCRIPTORS: &str = "descriptors.json";

/// The criu binary: `criu` in PATH.
pub fn find() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join("criu"))
        .find(|p| nix::unistd::access(p, nix::unistd::AccessFlags::X_OK).is_ok() && p.is_file())
        .ok_or_else(|| {
            Error::Other(format!(
                "criu not found: checkpoint and restore run CRIU (version {} or later; Debian: apt-get install criu), and no executable criu is in PATH ({})",
                version_text(MIN_VERSION),
                path.to_string_lossy()
            ))
        })
}

/// "3.17.1" for 31701.
pub fn version_text(v: u32) -> String {
    format!("{}.{}.{}", v / 10000, v / 100 % 100, v % 100)
}

/// Find criu, check its version, and check that this kernel lets it work (`criu check`): each
/// failure names what is missing. Returns the binary.
pub fn ready(verb: &str) -> Result<PathBuf> {
    let criu = find()?;
    let version = version(&criu)?;
    if version < MIN_VERSION {
        return Err(Error::Other(format!(
            "{verb}: {} is CRIU {}, too old: hull needs {} or later",
            criu.display(),
            version_text(version),
            version_text(MIN_VERSION)
        )));
    }
    let out = Command::new(&criu)
        .arg("check")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::io("run", &criu, e))?;
    if !out.status.success() {
        let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
        let errors: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("Warn")).collect();
        return Err(Error::Other(format!(
            "{verb}: CRIU cannot work on this kernel (CRIU {}): `criu check` failed: {}",
            version_text(version),
            errors.join("; ")
        )));
    }
    Ok(criu)
}

/// CRIU's version (major * 10000 + minor * 100 + sublevel), through the RPC: a git build counts
/// as the next minor release, as runc counts it.
pub fn version(criu: &Path) -> Result<u32> {
    let mut req = Criu_req::new();
    req.set_type(Criu_req_type::VERSION);
    let resp = Swrk::start(criu, &[])?.call(req, |_, _| Ok(()))?;
    let v = &resp.version;
    let mut n = (v.major_number() * 10000 + v.minor_number() * 100) as u32;
    if v.has_gitid() {
        n += 100;
    } else {
        n += v.sublevel() as u32;
    }
    Ok(n)
}

/// One `criu swrk` process and our end of its socket.
pub struct Swrk {
    child: Child,
    sock: OwnedFd,
}

impl Swrk {
    /// Start `criu swrk`. `inherit` are descriptors of ours that CRIU's requests name by number
    /// (images and work directories, stdio): they stay open across its exec. CRIU does nothing
    /// before the request, so the caller may first move it into a cgroup.
    pub fn start(criu: &Path, inherit: &[RawFd]) -> Result<Swrk> {
        let mut sv = [-1; 2];
        // SAFETY: socketpair writes two descriptors into the array.
        if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC, 0, sv.as_mut_ptr()) } != 0 {
            return Err(Error::Io { op: "socketpair for", path: criu.into(), source: std::io::Error::last_os_error() });
        }
        // SAFETY: socketpair just returned both descriptors; nothing else owns them.
        let (ours, theirs) = unsafe { (OwnedFd::from_raw_fd(sv[0]), OwnedFd::from_raw_fd(sv[1])) };
        let mut keep: Vec<RawFd> = inherit.to_vec();
        keep.push(theirs.as_raw_fd());
        let mut cmd = Command::new(criu);
        cmd.arg("swrk").arg(theirs.as_raw_fd().to_string()).stdin(Stdio::null());
        // SAFETY: the closure runs in the forked child before exec and only calls fcntl(2), which
        // is async-signal-safe; it allocates nothing.
        unsafe {
            cmd.pre_exec(move || {
                for &fd in &keep {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|e| Error::io("run", criu, e))?;
        drop(theirs);
        Ok(Swrk { child, sock: ours })
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Send `req`, answer CRIU's notifications (`notify_scripts`: the step, and the fd that came
    /// with it, the pty master of "orphan-pts-master") through `notify` (an error there aborts
    /// the operation: CRIU undoes it), and return the final response. A failed response becomes
    /// an error with CRIU's own message.
    pub fn call(self, req: Criu_req, mut notify: impl FnMut(&Criu_notify, Option<OwnedFd>) -> Result<()>) -> Result<Criu_resp> {
        let Swrk { mut child, sock } = self;
        let want = req.type_();
        let bytes = req.write_to_bytes().map_err(|e| Error::Other(format!("criu: encode the request: {e}")))?;
        // Closed before waiting for CRIU: swrk serves requests until its socket closes.
        let mut sock = std::fs::File::from(sock);
        if let Err(e) = sock.write_all(&bytes) {
            let _ = child.kill();
            let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
            return Err(Error::Other(format!("criu swrk did not take the {want:?} request ({e}; criu {status})")));
        }
        let res = loop {
            let (data, fd) = match recv(sock.as_raw_fd()) {
                Ok(Some(m)) => m,
                Ok(None) => break Err(Error::Other(format!("criu {want:?}: criu exited without an answer"))),
                Err(e) => break Err(e),
            };
            let resp = match Criu_resp::parse_from_bytes(&data) {
                Ok(r) => r,
                Err(e) => break Err(Error::Other(format!("criu: decode its answer: {e}"))),
            };
            if !resp.success() {
                break Err(rpc_error(&resp));
            }
            if resp.type_() != Criu_req_type::NOTIFY {
                break if resp.type_() == want { Ok(resp) } else { Err(Error::Other(format!("criu answered {:?} to {want:?}", resp.type_()))) };
            }
            let outcome = notify(&resp.notify, fd);
            let mut ack = Criu_req::new();
            ack.set_type(Criu_req_type::NOTIFY);
            ack.set_notify_success(outcome.is_ok());
            let sent = ack.write_to_bytes().map_err(|e| Error::Other(e.to_string())).and_then(|b| sock.write_all(&b).map_err(|e| Error::io("answer", "criu swrk", e)));
            if let Err(e) = outcome.and(sent) {
                break Err(e);
            }
        };
        drop(sock);
        if res.is_err() {
            let _ = child.kill();
        }
        let _ = child.wait();
        res
    }
}

/// The error of a failed response: CRIU's message, or its errno.
fn rpc_error(resp: &Criu_resp) -> Error {
    let what = format!("criu {:?} failed", resp.type_());
    if resp.has_cr_errmsg() && !resp.cr_errmsg().is_empty() {
        return Error::Other(format!("{what}: {}", resp.cr_errmsg().trim()));
    }
    match resp.cr_errno() {
        0 => Error::Other(what),
        n => Error::Other(format!("{what}: {}", crate::error::errno_text(nix::errno::Errno::from_raw(n)))),
    }
}

/// One message from CRIU with the descriptor that came with it; None at EOF.
fn recv(sock: RawFd) -> Result<Option<(Vec<u8>, Option<OwnedFd>)>> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    // Large enough for any answer CRIU sends (its own client uses a 4 KB buffer in pieces; a
    // dump's statistics are far smaller).
    let mut buf = vec![0u8; 64 * 1024];
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([RawFd; 1]);
    let msg = recvmsg::<()>(sock, &mut iov, Some(&mut space), MsgFlags::MSG_CMSG_CLOEXEC).map_err(|e| Error::sys("receive from criu swrk", e))?;
    let n = msg.bytes;
    if n == 0 {
        return Ok(None);
    }
    let mut fd = None;
    for c in msg.cmsgs().map_err(|e| Error::sys("receive from criu swrk", e))? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for (i, f) in fds.into_iter().enumerate() {
                // SAFETY: the kernel just installed these descriptors for us; nothing else owns them.
                let owned = unsafe { OwnedFd::from_raw_fd(f) };
                if i == 0 {
                    fd = Some(owned);
                }
            }
        }
    }
    buf.truncate(n);
    Ok(Some((buf, fd)))
}

/// Options both directions share, from the verbs' flags.
#[derive(Debug, Default, Clone)]
pub struct Common {
    pub image_path: Option<PathBuf>,
    pub work_path: Option<PathBuf>,
    pub tcp_established: bool,
    pub ext_unix_sk: bool,
    pub shell_job: bool,
    pub file_locks: bool,
    pub manage_cgroups_mode: Option<String>,
    pub empty_ns: Vec<String>,
    pub auto_dedup: bool,
}

impl Common {
    /// The image directory: --image-path, or ./checkpoint (runc's default).
    pub fn image_dir(&self) -> Result<PathBuf> {
        let p = self.image_path.clone().unwrap_or_else(|| PathBuf::from("checkpoint"));
        Ok(match p.is_absolute() {
            true => p,
            false => std::env::current_dir().map_err(|e| Error::io("getcwd", ".", e))?.join(p),
        })
    }

    /// Fill the options of `opts` that dump and restore share.
    pub fn fill(&self, opts: &mut Criu_opts) -> Result<()> {
        use rust_criu::rust_criu_protobuf::rpc::Criu_cg_mode;
        opts.set_tcp_established(self.tcp_established);
        opts.set_ext_unix_sk(self.ext_unix_sk);
        opts.set_shell_job(self.shell_job);
        opts.set_file_locks(self.file_locks);
        opts.set_auto_dedup(self.auto_dedup);
        if let Some(m) = &self.manage_cgroups_mode {
            opts.set_manage_cgroups_mode(match m.as_str() {
                "soft" => Criu_cg_mode::SOFT,
                "full" => Criu_cg_mode::FULL,
                "strict" => Criu_cg_mode::STRICT,
                "ignore" => Criu_cg_mode::IGNORE,
                other => return Err(Error::Usage(format!("--manage-cgroups-mode: {other:?}: expected soft, full, strict or ignore"))),
            });
        }
        let mut mask = 0u32;
        for ns in &self.empty_ns {
            mask |= match ns.as_str() {
                "network" | "net" => libc::CLONE_NEWNET as u32,
                other => {
                    return Err(Error::Usage(format!(
                        "--empty-ns: {other:?}: only the network namespace can be left empty (as in runc)"
                    )))
                }
            };
        }
        if mask != 0 {
            opts.set_empty_ns(mask);
        }
        Ok(())
    }
}

/// Open a directory for CRIU (inherited by number), making it first when `make`.
pub fn open_dir(p: &Path, make: bool) -> Result<OwnedFd> {
    if make {
        std::fs::create_dir_all(p).map_err(|e| Error::io("create", p, e))?;
    }
    crate::linux::open_fd(p, nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_RDONLY).map_err(|e| Error::sys(format!("open {}", p.display()), e))
}

/// What CRIU's log of a failed operation says: its first error lines (the RPC answer carries
/// only the last, usually "exited, status=1"), and where the whole log is.
pub fn log_hint(work: &Path, log: &str) -> String {
    let path = work.join(log);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let errors: Vec<&str> = text
        .lines()
        .filter_map(|l| l.find("Error (").map(|i| l[i..].trim()))
        .filter(|l| !l.contains("exited, status="))
        .take(3)
        .collect();
    if !errors.is_empty() {
        return format!("CRIU's log says: {}; the whole log: {}", errors.join("; "), path.display());
    }
    // No error line (CRIU died, or stopped early): its last words.
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    match lines.len() {
        0 => format!("CRIU wrote no log at {}", path.display()),
        n => format!("CRIU's log ends with: {}; the whole log: {}", lines[n.saturating_sub(3)..].join(" | "), path.display()),
    }
}
