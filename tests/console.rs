//! Terminals and the console socket (CONTRACT.md §5): a receiver written here accepts the
//! runtime's connection, checks the message shape (one message, the pty name as payload, exactly
//! one SCM_RIGHTS fd), then talks to the container through the pty master.
mod common;

use common::*;
use serde_json::json;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Wait until `fd` is readable (or hung up); false on timeout.
fn readable(fd: RawFd, timeout: Duration) -> bool {
    let mut p = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    let r = unsafe { libc::poll(&mut p, 1, timeout.as_millis() as i32) };
    r > 0
}

/// A listening console socket.
struct ConsoleSocket {
    listener: UnixListener,
    path: PathBuf,
}

/// What the runtime sent.
struct Received {
    name: String,
    fds: Vec<OwnedFd>,
    cmsgs: usize,
    /// Bytes that arrived after the first message (must be none).
    trailing: Vec<u8>,
}

impl ConsoleSocket {
    fn bind(path: &Path) -> Self {
        ConsoleSocket { listener: UnixListener::bind(path).unwrap(), path: path.to_path_buf() }
    }
    /// Bind at a path too long for a sockaddr_un, through /proc/self/fd/<dir fd>/<name>.
    fn bind_long(path: &Path) -> Self {
        let dir = File::open(path.parent().unwrap()).unwrap();
        let short = format!("/proc/self/fd/{}/{}", dir.as_raw_fd(), path.file_name().unwrap().to_str().unwrap());
        assert!(short.len() < 100);
        let listener = UnixListener::bind(&short).unwrap_or_else(|e| panic!("bind {short}: {e}"));
        assert!(path.exists(), "socket not created at {}", path.display());
        ConsoleSocket { listener, path: path.to_path_buf() }
    }
    fn path_str(&self) -> &str {
        self.path.to_str().unwrap()
    }
    /// Accept the runtime's connection and read everything it sends.
    fn receive(&self) -> Received {
        assert!(readable(self.listener.as_raw_fd(), IO_TIMEOUT), "the runtime never connected to the console socket");
        let (stream, _) = self.listener.accept().unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        let (name, fds, cmsgs) = recv_with_fds(stream.as_raw_fd(), "console socket");
        // Nothing may follow the message. (The runtime may keep its end open until it exits:
        // a non-detached exec does, as runc does; so wait briefly, not for EOF.)
        let mut trailing = vec![];
        let mut s: UnixStream = stream;
        if readable(s.as_raw_fd(), Duration::from_millis(500)) {
            let mut more = [0u8; 4096];
            if let Ok(n) = s.read(&mut more) {
                trailing.extend_from_slice(&more[..n]);
            }
        }
        Received { name, fds, cmsgs, trailing }
    }
}

impl Received {
    /// CONTRACT.md §5: one message, payload the pty's name, exactly one fd, then EOF.
    #[track_caller]
    fn check_shape(&self) {
        assert_eq!(self.cmsgs, 1, "exactly one control message");
        assert_eq!(self.fds.len(), 1, "exactly one descriptor");
        assert!(!self.name.is_empty() && self.name.len() < 4096, "payload: {:?}", self.name);
        assert!(self.trailing.is_empty(), "more data after the message: {:?}", self.trailing);
        if is_hull() {
            // runc 1.1.5 sends "/dev/ptmx" (the master's name); CONTRACT.md asks for the pty's.
            assert!(pts_number(&self.name).is_some(), "payload must be /dev/pts/N: {:?}", self.name);
        }
        // The fd is a pty master: TIOCGPTN works on it.
        let mut n: libc::c_uint = 0;
        // SAFETY: TIOCGPTN writes an unsigned int.
        let r = unsafe { libc::ioctl(self.fds[0].as_raw_fd(), libc::TIOCGPTN, &mut n) };
        assert_eq!(r, 0, "the descriptor is not a pty master");
    }
    fn master(self) -> Pty {
        let mut n: libc::c_uint = 0;
        let fd = self.fds.into_iter().next().unwrap();
        // SAFETY: TIOCGPTN writes an unsigned int.
        unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGPTN, &mut n) };
        Pty { file: File::from(fd), number: n, seen: String::new() }
    }
}

fn pts_number(name: &str) -> Option<u32> {
    name.strip_prefix("/dev/pts/")?.parse().ok()
}

/// The pty master on our side.
struct Pty {
    file: File,
    number: u32,
    /// Everything read so far (\r removed).
    seen: String,
}

impl Pty {
    fn write(&mut self, s: &str) {
        self.file.write_all(s.as_bytes()).unwrap();
    }
    /// Read until `needle` has been seen (in what was read since the last call); panics on
    /// timeout or EOF.
    #[track_caller]
    fn expect(&mut self, needle: &str) -> String {
        let start = self.seen.len();
        let deadline = Instant::now() + IO_TIMEOUT;
        loop {
            if self.seen[start..].contains(needle) {
                return self.seen[start..].to_string();
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero() && readable(self.file.as_raw_fd(), left),
                    "timed out waiting for {needle:?} on the pty; got {:?}", &self.seen[start..]);
            let mut buf = [0u8; 4096];
            match self.file.read(&mut buf) {
                Ok(0) => panic!("EOF on the pty before {needle:?}; got {:?}", &self.seen[start..]),
                Ok(n) => self.seen.push_str(&String::from_utf8_lossy(&buf[..n]).replace('\r', "")),
                Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                    panic!("the pty closed before {needle:?}; got {:?}", &self.seen[start..])
                }
                Err(e) => panic!("read pty: {e}"),
            }
        }
    }
}

/// A terminal bundle whose process reports its terminal, then echoes one line read from it.
fn terminal_bundle(t: &Test, id: &str) -> Bundle {
    let mut b = t.bundle_for(id);
    b.set("/process/terminal", json!(true));
    b.set("/process/consoleSize", json!({"height": 33, "width": 111}));
    b.sh("echo tty=$(tty); echo size=$(stty size); echo console=$(stat -c '%F %t:%T' /dev/console); \
          echo ttydev=$(stat -c '%t:%T' $(tty)); echo ready; read line; echo got-$line; exit 3");
    b
}

/// `key=value` from pty output.
fn kv(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in {out:?}"))
        .trim()
        .to_string()
}

#[test]
fn create_with_console_socket() {
    let Some(t) = setup("console_create") else { return };
    let id = t.id();
    let b = terminal_bundle(&t, &id);
    let sock = ConsoleSocket::bind(&t.scratch.join("console.sock"));
    let out = t.try_create(&b, &["--console-socket", sock.path_str()]);
    out.assert_ok();
    let got = sock.receive();
    got.check_shape();
    let name = got.name.clone();
    let pid = t.state(&id).unwrap()["pid"].as_i64().unwrap();
    let mut pty = got.master();
    if is_hull() {
        assert_eq!(pts_number(&name), Some(pty.number), "payload names another pty than the fd");
    }
    t.start(&id);
    let text = pty.expect("ready");
    assert_eq!(kv(&text, "tty"), format!("/dev/pts/{}", pty.number), "{text}");
    assert_eq!(kv(&text, "size"), "33 111", "stty size must match process.consoleSize\n{text}");
    // /dev/console is the pty: a character device 136:N (hex in stat's %t:%T).
    let want_dev = format!("{:x}:{:x}", 136, pty.number);
    assert_eq!(kv(&text, "ttydev"), want_dev, "{text}");
    assert_eq!(kv(&text, "console"), format!("character special file {want_dev}"), "{text}");
    // The init's stdio is the pty (seen from the host), not the runtime's stdout/stderr.
    for fd in 0..3 {
        let l = fs::read_link(format!("/proc/{pid}/fd/{fd}")).unwrap();
        assert_eq!(l, Path::new(&format!("/dev/pts/{}", pty.number)), "init fd {fd}");
    }
    pty.write("hello-from-test\n");
    pty.expect("got-hello-from-test");
    let st = t.wait_stopped(&id);
    assert_eq!(st["status"], "stopped");
    t.rt(&["delete", &id]).assert_ok();
    t.finish();
}

/// An interactive shell on the pty: input is read from the master, output comes back.
#[test]
fn interactive_shell_over_the_master() {
    let Some(t) = setup("console_shell") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.set("/process/terminal", json!(true));
    b.args(&["sh"]);
    let sock = ConsoleSocket::bind(&t.scratch.join("c.sock"));
    t.try_create(&b, &["--console-socket", sock.path_str()]).assert_ok();
    let got = sock.receive();
    got.check_shape();
    let mut pty = got.master();
    t.start(&id);
    // The tty echoes the input line; only the shell's output has the evaluated marker.
    pty.write("echo hull-$((6*7)); exit\n");
    pty.expect("hull-42\n");
    t.wait_stopped(&id);
    t.rt(&["delete", &id]).assert_ok();
    t.finish();
}

/// A console socket path longer than a sockaddr_un (108 bytes) works (hull-only: runc 1.1.5
/// fails to connect with EINVAL).
#[test]
fn long_console_socket_path() {
    let Some(t) = setup("console_long_path") else { return };
    let id = t.id();
    let b = terminal_bundle(&t, &id);
    let dir = t.dir(&format!("{}/{}", "d".repeat(60), "e".repeat(60)));
    let path = dir.join("console-socket-with-a-long-name.sock");
    assert!(path.as_os_str().len() > 108, "{}", path.display());
    let sock = ConsoleSocket::bind_long(&path);
    let out = t.try_create(&b, &["--console-socket", sock.path_str()]);
    if !is_hull() {
        eprintln!("note: runc 1.1.5 with a {}-byte console socket path:\n{}", path.as_os_str().len(), out.show());
        return t.finish();
    }
    out.assert_ok();
    let got = sock.receive();
    got.check_shape();
    let mut pty = got.master();
    t.start(&id);
    pty.expect("ready");
    pty.write("x\n");
    pty.expect("got-x");
    t.wait_stopped(&id);
    t.rt(&["delete", &id]).assert_ok();
    t.finish();
}

#[test]
fn terminal_without_console_socket_fails() {
    let Some(t) = setup("console_missing") else { return };
    let b = terminal_bundle(&t, &t.id());
    let out = t.try_create(&b, &[]);
    out.assert_err("cannot allocate tty if runc will detach without setting console socket");
    assert!(t.state(&b.id).is_none());
    t.assert_gone(&b.id);
    t.finish();
}

#[test]
fn console_socket_without_terminal_fails() {
    let Some(t) = setup("console_no_terminal") else { return };
    let mut b = t.bundle();
    b.args(&["true"]);
    let sock = ConsoleSocket::bind(&t.scratch.join("c.sock"));
    let out = t.try_create(&b, &["--console-socket", sock.path_str()]);
    out.assert_err("console socket");
    assert!(t.state(&b.id).is_none());
    t.assert_gone(&b.id);

    // A console socket path that does not exist.
    let mut b = t.bundle_for(&t.id_with("nosock"));
    b.set("/process/terminal", json!(true));
    b.args(&["true"]);
    let missing = t.scratch.join("no-such.sock");
    let out = t.try_create(&b, &["--console-socket", missing.to_str().unwrap()]);
    out.assert_err("no-such.sock");
    assert!(t.state(&b.id).is_none());
    t.assert_gone(&b.id);
    t.finish();
}

/// `exec -t -d --console-socket --pid-file` (how containerd's shim calls it): the same message
/// shape, and the exec'd process talks over its pty, which is its stdio.
#[test]
fn exec_tty_with_console_socket() {
    let Some(t) = setup("console_exec") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    t.create_start(&b);
    let sock = ConsoleSocket::bind(&t.scratch.join("exec.sock"));
    let pf = t.scratch.join("exec.pid");
    let sp = t.rt_spawn(&["exec", "-t", "-d", "--console-socket", sock.path_str(), "--pid-file", pf.to_str().unwrap(),
                          &id, "sh", "-c", "echo tty=$(tty); echo ready; read line; echo got-$line; exit 5"]);
    let got = sock.receive();
    got.check_shape();
    let mut pty = got.master();
    sp.wait().assert_ok();
    let xp = read_trim(&pf);
    let text = pty.expect("ready");
    assert_eq!(kv(&text, "tty"), format!("/dev/pts/{}", pty.number), "{text}");
    if Path::new(&format!("/proc/{xp}")).exists() {
        for fd in 0..3 {
            let l = fs::read_link(format!("/proc/{xp}/fd/{fd}")).unwrap();
            assert_eq!(l, Path::new(&format!("/dev/pts/{}", pty.number)), "exec'd process fd {fd}");
        }
    }
    pty.write("via-exec\n");
    pty.expect("got-via-exec");
    assert_eq!(t.status(&id).as_deref(), Some("running"));

    // Not detached: exec waits and returns the process's status (hull-only: runc 1.1.5 refuses
    // a console socket without --detach).
    if is_hull() {
        let sock = ConsoleSocket::bind(&t.scratch.join("exec-fg.sock"));
        let sp = t.rt_spawn(&["exec", "-t", "--console-socket", sock.path_str(), &id, "sh", "-c",
                              "echo ready; read line; echo got-$line; exit 5"]);
        let got = sock.receive();
        got.check_shape();
        let mut pty = got.master();
        pty.expect("ready");
        pty.write("foreground\n");
        pty.expect("got-foreground");
        let out = sp.wait();
        assert_eq!(out.code, Some(5), "exec must return the process's status\n{}", out.show());
    }

    // With --process: terminal and consoleSize from process.json.
    let p = t.scratch.join("process.json");
    fs::write(&p, serde_json::to_vec(&json!({
        "terminal": true, "consoleSize": {"height": 20, "width": 70},
        "user": {"uid": 0, "gid": 0}, "cwd": "/", "env": ["PATH=/bin"],
        "args": ["sh", "-c", "echo size=$(stty size); echo ready"]
    })).unwrap()).unwrap();
    let sock2 = ConsoleSocket::bind(&t.scratch.join("exec2.sock"));
    let sp = t.rt_spawn(&["exec", "-d", "--process", p.to_str().unwrap(), "--console-socket", sock2.path_str(), &id]);
    let got = sock2.receive();
    got.check_shape();
    let mut pty = got.master();
    sp.wait().assert_ok();
    let text = pty.expect("ready");
    assert_eq!(kv(&text, "size"), "20 70", "{text}");
    t.finish();
}

/// exec with a terminal, detached, without a console socket: refused (255), container unaffected.
#[test]
fn exec_tty_detached_without_socket_fails() {
    let Some(t) = setup("console_exec_nosock") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.args(&["sleep", "100000"]);
    let pid = t.create_start(&b);
    let out = t.rt(&["exec", "-t", "-d", &id, "sleep", "1000"]);
    assert_eq!(out.code, Some(255), "{}", out.show());
    assert!(out.stderr.contains("cannot allocate tty if runc will detach without setting console socket"), "{}", out.show());
    let st = t.state(&id).unwrap();
    assert_eq!(st["status"], "running");
    assert_eq!(st["pid"].as_i64(), Some(pid));
    t.finish();
}

/// A pty pair of the test's own: (master, slave).
fn open_pty_pair() -> (File, File) {
    // SAFETY: plain libc pty calls on descriptors we own; ptsname_r writes into `buf`.
    unsafe {
        let m = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC);
        assert!(m >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        assert_eq!(libc::grantpt(m), 0);
        assert_eq!(libc::unlockpt(m), 0);
        let mut buf = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(m, buf.as_mut_ptr(), buf.len()), 0);
        let name = std::ffi::CStr::from_ptr(buf.as_ptr()).to_str().unwrap().to_string();
        let master = File::from_raw_fd(m);
        let slave = File::options().read(true).write(true).custom_flags(libc::O_NOCTTY).open(&name).unwrap();
        (master, slave)
    }
}

/// `run` (foreground) with terminal: true and no console socket uses the caller's terminal, as
/// runc does: the container's output reaches it, its input reaches the container, the
/// container's pty gets the caller's window size, and `run` exits with the process's status.
#[test]
fn foreground_run_uses_callers_terminal() {
    let Some(t) = setup("console_run_fg") else { return };
    let id = t.id();
    let mut b = t.bundle();
    b.set("/process/terminal", json!(true));
    b.sh("echo ready; read line; echo size=$(stty size); echo tty=$(tty); echo got-$line; exit 4");
    b.write();
    let (master, slave) = open_pty_pair();
    let ws = libc::winsize { ws_row: 25, ws_col: 90, ws_xpixel: 0, ws_ypixel: 0 };
    // SAFETY: TIOCSWINSZ reads a winsize.
    assert_eq!(unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) }, 0);
    let mut child = std::process::Command::new(runtime())
        .args(["--root", STATE_ROOT, "run", "--bundle", b.dir_str(), &id])
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave.try_clone().unwrap())
        .current_dir(&t.scratch)
        .spawn()
        .unwrap();
    let mut pty = Pty { file: master, number: 0, seen: String::new() };
    pty.expect("ready");
    pty.write("go\n");
    let text = pty.expect("got-go");
    let st = wait_child(&mut child, CMD_TIMEOUT, "foreground run");
    drop(slave);
    assert_eq!(st.code(), Some(4), "run must exit with the process's status; terminal said {:?}", pty.seen);
    assert_eq!(kv(&text, "size"), "25 90", "the container's pty must get the caller's size\n{text}");
    assert!(kv(&text, "tty").starts_with("/dev/pts/"), "{text}");
    assert!(t.state(&id).is_none());
    t.assert_gone(&id);
    t.finish();
}

/// A terminal container run in the foreground by a caller without a terminal (a script, CI)
/// fails at once, as runc does, instead of starting
/// a shell that nobody can reach; nothing is left behind.
#[test]
fn foreground_terminal_run_without_a_terminal_fails_at_once() {
    let Some(t) = setup("console_no_tty") else { return };
    let mut b = t.bundle();
    b.set("/process/terminal", json!(true));
    b.args(&["sh"]);
    b.write();
    // stdin /dev/null, stdout and stderr files: no terminal anywhere.
    let out = t.rt(&["run", "--bundle", b.dir_str(), &b.id]);
    out.assert_err("has no terminal to relay");
    assert!(out.stderr.contains("set process.terminal to false"), "the error must say what to change\n{}", out.show());
    t.assert_gone(&b.id);
    t.finish();
}
