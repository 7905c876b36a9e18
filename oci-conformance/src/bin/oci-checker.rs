//! oci-checker: runs inside a container under test and reports, as JSON, what the
//! container process sees.  It uses only `std` and a handful of libc functions
//! declared below, so that `build.rs` can compile it with plain `rustc` and
//! `-C target-feature=+crt-static` into a static executable that runs in a bare
//! busybox rootfs.  The runner embeds that static build and copies it into every
//! test rootfs as `/bin/oci-checker`.
//!
//! Output: the line `@@OCI-CHECKER-BEGIN@@`, one line of JSON, the line
//! `@@OCI-CHECKER-END@@`, on stdout (and into `--out FILE` when given).
//!
//! Probe options (each adds one entry to `probes`, in order):
//!   --read PATH         read up to 4 KiB           --stat PATH      lstat()
//!   --statvfs PATH      mount flags of PATH        --readdir PATH   list names
//!   --open-rw PATH      open(O_RDWR)               --open-w PATH    open(O_WRONLY)
//!   --open-r PATH       open(O_RDONLY)             --create PATH    create+unlink a file
//!   --exec PATH         fork+execve PATH           --syscall SPEC   NAME[:arg...] in a child
//!   --wait-path PATH:MS wait up to MS ms for PATH to exist
//!   --read-write PATH   write "x" to an opened O_WRONLY PATH (devices: /dev/full)
//! Other options: --echo ARG (ignored, lets args carry arbitrary strings),
//!   --out FILE, --hold (sleep forever after reporting), --exit N, --quiet (no report).
//! Syscall arguments are decimal/0x numbers or `buf` (pointer to a zeroed 4 KiB buffer).
//! Only x86_64 syscall numbers are known.

use std::ffi::{CStr, CString};
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

#[allow(non_camel_case_types)]
type c_int = i32;
#[allow(non_camel_case_types)]
type c_long = i64;

extern "C" {
    fn getpid() -> c_int;
    fn getppid() -> c_int;
    fn getresuid(r: *mut u32, e: *mut u32, s: *mut u32) -> c_int;
    fn getresgid(r: *mut u32, e: *mut u32, s: *mut u32) -> c_int;
    fn getgroups(size: c_int, list: *mut u32) -> c_int;
    fn prctl(option: c_int, ...) -> c_int;
    fn getrlimit(res: c_int, rlim: *mut [u64; 2]) -> c_int;
    fn uname(buf: *mut [[u8; 65]; 6]) -> c_int;
    fn syscall(nr: c_long, ...) -> c_long;
    fn fork() -> c_int;
    fn waitpid(pid: c_int, status: *mut c_int, options: c_int) -> c_int;
    fn _exit(code: c_int) -> !;
    fn signal(sig: c_int, handler: usize) -> usize;
    fn ioctl(fd: c_int, req: u64, ...) -> c_int;
    fn isatty(fd: c_int) -> c_int;
    fn statvfs(path: *const i8, buf: *mut [u64; 14]) -> c_int;
    fn clock_gettime(clk: c_int, ts: *mut [i64; 2]) -> c_int;
    fn getpriority(which: c_int, who: u32) -> c_int;
    fn personality(p: u64) -> c_int;
    fn __errno_location() -> *mut c_int;
    fn pipe(fds: *mut [c_int; 2]) -> c_int;
    fn read(fd: c_int, buf: *mut u8, n: usize) -> isize;
    fn write(fd: c_int, buf: *const u8, n: usize) -> isize;
    fn close(fd: c_int) -> c_int;
    fn kill(pid: c_int, sig: c_int) -> c_int;
    fn usleep(us: u32) -> c_int;
    fn getcwd(buf: *mut u8, size: usize) -> *mut u8;
}

fn errno() -> i32 {
    unsafe { *__errno_location() }
}
fn set_errno(v: i32) {
    unsafe { *__errno_location() = v }
}

// ---------------------------------------------------------------- tiny JSON
enum J {
    Null,
    B(bool),
    I(i128),
    S(String),
    A(Vec<J>),
    O(Vec<(String, J)>),
}
impl J {
    fn obj() -> J {
        J::O(Vec::new())
    }
    fn set(&mut self, k: &str, v: J) {
        if let J::O(v0) = self {
            v0.push((k.to_string(), v));
        }
    }
    fn write(&self, out: &mut String) {
        match self {
            J::Null => out.push_str("null"),
            J::B(b) => out.push_str(if *b { "true" } else { "false" }),
            J::I(i) => out.push_str(&i.to_string()),
            J::S(s) => esc(s, out),
            J::A(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    x.write(out);
                }
                out.push(']');
            }
            J::O(o) => {
                out.push('{');
                for (i, (k, v)) in o.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    esc(k, out);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}
fn esc(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}
fn s(x: &str) -> J {
    J::S(x.to_string())
}
fn n<T: Into<i128>>(x: T) -> J {
    J::I(x.into())
}
fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
fn err_obj(e: &std::io::Error) -> J {
    n(e.raw_os_error().unwrap_or(-1))
}

// ---------------------------------------------------------------- report pieces
fn read_file(p: &str) -> Option<String> {
    std::fs::read(p).ok().map(|b| lossy(&b))
}

fn ids() -> J {
    let mut o = J::obj();
    let (mut r, mut e, mut sv) = (0u32, 0u32, 0u32);
    unsafe { getresuid(&mut r, &mut e, &mut sv) };
    o.set("uid", J::A(vec![n(r), n(e), n(sv)]));
    unsafe { getresgid(&mut r, &mut e, &mut sv) };
    o.set("gid", J::A(vec![n(r), n(e), n(sv)]));
    let mut g = vec![0u32; 1024];
    let c = unsafe { getgroups(1024, g.as_mut_ptr()) };
    let groups = if c >= 0 {
        g[..c as usize].iter().map(|x| n(*x)).collect()
    } else {
        vec![]
    };
    o.set("groups", J::A(groups));
    o
}

fn status_map() -> J {
    let mut o = J::obj();
    if let Some(t) = read_file("/proc/self/status") {
        for line in t.lines() {
            if let Some((k, v)) = line.split_once(':') {
                o.set(k.trim(), s(v.trim()));
            }
        }
    }
    o
}

const RLIMITS: &[(&str, i32)] = &[
    ("RLIMIT_CPU", 0),
    ("RLIMIT_FSIZE", 1),
    ("RLIMIT_DATA", 2),
    ("RLIMIT_STACK", 3),
    ("RLIMIT_CORE", 4),
    ("RLIMIT_RSS", 5),
    ("RLIMIT_NPROC", 6),
    ("RLIMIT_NOFILE", 7),
    ("RLIMIT_MEMLOCK", 8),
    ("RLIMIT_AS", 9),
    ("RLIMIT_LOCKS", 10),
    ("RLIMIT_SIGPENDING", 11),
    ("RLIMIT_MSGQUEUE", 12),
    ("RLIMIT_NICE", 13),
    ("RLIMIT_RTPRIO", 14),
    ("RLIMIT_RTTIME", 15),
];

fn rlimits() -> J {
    let mut o = J::obj();
    for (name, r) in RLIMITS {
        let mut v = [0u64; 2];
        if unsafe { getrlimit(*r, &mut v) } == 0 {
            o.set(name, J::A(vec![n(v[0]), n(v[1])]));
        } else {
            o.set(name, J::Null);
        }
    }
    o
}

fn unescape_mount(f: &str) -> String {
    let b = f.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    lossy(&out)
}

fn mountinfo() -> J {
    let mut arr = Vec::new();
    if let Some(t) = read_file("/proc/self/mountinfo") {
        for line in t.lines() {
            let f: Vec<&str> = line.split(' ').collect();
            let Some(dash) = f.iter().position(|x| *x == "-") else {
                continue;
            };
            if f.len() < 6 || dash + 3 >= f.len() + 1 {
                continue;
            }
            let mut o = J::obj();
            o.set("id", s(f[0]));
            o.set("parent", s(f[1]));
            o.set("dev", s(f[2]));
            o.set("root", s(&unescape_mount(f[3])));
            o.set("mountpoint", s(&unescape_mount(f[4])));
            o.set("options", J::A(f[5].split(',').map(s).collect()));
            o.set("optional", J::A(f[6..dash].iter().map(|x| s(x)).collect()));
            o.set("fstype", s(f.get(dash + 1).copied().unwrap_or("")));
            o.set(
                "source",
                s(&unescape_mount(f.get(dash + 2).copied().unwrap_or(""))),
            );
            o.set(
                "super",
                J::A(
                    f.get(dash + 3)
                        .copied()
                        .unwrap_or("")
                        .split(',')
                        .map(s)
                        .collect(),
                ),
            );
            arr.push(o);
        }
    }
    J::A(arr)
}

fn stat_obj(path: &str) -> J {
    let mut o = J::obj();
    match std::fs::symlink_metadata(path) {
        Err(e) => {
            o.set("exists", J::B(false));
            o.set("errno", err_obj(&e));
        }
        Ok(m) => {
            o.set("exists", J::B(true));
            let ft = m.file_type();
            let kind = if ft.is_symlink() {
                "l"
            } else if ft.is_dir() {
                "d"
            } else if ft.is_char_device() {
                "c"
            } else if ft.is_block_device() {
                "b"
            } else if ft.is_fifo() {
                "p"
            } else if ft.is_socket() {
                "s"
            } else {
                "f"
            };
            o.set("type", s(kind));
            let rdev = m.rdev();
            let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
            let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
            o.set("major", n(major));
            o.set("minor", n(minor & 0xffff_ffff));
            o.set("mode", n(m.mode() & 0o7777));
            o.set("uid", n(m.uid()));
            o.set("gid", n(m.gid()));
            o.set("size", n(m.size()));
            o.set("ino", n(m.ino()));
            if ft.is_symlink() {
                if let Ok(t) = std::fs::read_link(path) {
                    o.set("target", s(&t.to_string_lossy()));
                }
            }
        }
    }
    o
}

fn devices() -> J {
    let mut arr = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/dev") {
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for name in names {
            let p = format!("/dev/{}", name);
            let mut o = stat_obj(&p);
            o.set("path", s(&p));
            arr.push(o);
        }
    }
    J::A(arr)
}

fn fds() -> J {
    let mut arr = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc/self/fd") {
        let entries: Vec<_> = rd.filter_map(|e| e.ok()).collect();
        for e in entries {
            let name = e.file_name().to_string_lossy().into_owned();
            let target = std::fs::read_link(e.path())
                .map(|t| t.to_string_lossy().into_owned())
                .unwrap_or_default();
            // skip the directory handle used by read_dir itself
            if target.starts_with("/proc/") && target.ends_with("/fd") {
                continue;
            }
            let mut o = J::obj();
            o.set("fd", n(name.parse::<i64>().unwrap_or(-1)));
            o.set("target", s(&target));
            arr.push(o);
        }
    }
    J::A(arr)
}

fn namespaces() -> J {
    let mut o = J::obj();
    for ns in [
        "cgroup",
        "ipc",
        "mnt",
        "net",
        "pid",
        "pid_for_children",
        "time",
        "time_for_children",
        "user",
        "uts",
    ] {
        match std::fs::read_link(format!("/proc/self/ns/{}", ns)) {
            Ok(t) => {
                let t = t.to_string_lossy().into_owned();
                let ino = t
                    .rsplit('[')
                    .next()
                    .unwrap_or("")
                    .trim_end_matches(']')
                    .parse::<u64>()
                    .unwrap_or(0);
                o.set(ns, n(ino));
            }
            Err(_) => o.set(ns, J::Null),
        }
    }
    o
}

fn cstr_field(f: &[u8; 65]) -> String {
    let end = f.iter().position(|c| *c == 0).unwrap_or(65);
    lossy(&f[..end])
}

fn clocks() -> J {
    let mut o = J::obj();
    for (name, id) in [("realtime", 0), ("monotonic", 1), ("boottime", 7)] {
        let mut ts = [0i64; 2];
        unsafe { clock_gettime(id, &mut ts) };
        o.set(name, n(ts[0]));
    }
    o
}

fn tty() -> J {
    let mut o = J::obj();
    for fd in 0..3 {
        o.set(&format!("isatty{}", fd), J::B(unsafe { isatty(fd) } == 1));
    }
    let mut ws = [0u16; 4];
    let r = unsafe { ioctl(0, 0x5413, &mut ws as *mut _) }; // TIOCGWINSZ
    if r == 0 {
        o.set("rows", n(ws[0]));
        o.set("cols", n(ws[1]));
    }
    if let Ok(t) = std::fs::read_link("/proc/self/fd/0") {
        o.set("stdin", s(&t.to_string_lossy()));
    }
    o
}

fn sched() -> J {
    let mut o = J::obj();
    // The raw system call: musl's sched_getscheduler() is a stub that fails with ENOSYS.
    o.set("policy", n(unsafe { syscall(145, 0i64) })); // sched_getscheduler(0)
    set_errno(0);
    let p = unsafe { getpriority(0, 0) };
    o.set("nice", if errno() == 0 { n(p) } else { J::Null });
    let io = unsafe { syscall(252, 1i64, 0i64) }; // ioprio_get(IOPRIO_WHO_PROCESS, 0)
    o.set("ioprio", n(io));
    o.set("personality", n(unsafe { personality(0xffff_ffff) }));
    let mut mode: i32 = -1;
    let mut mask = [0u64; 16];
    let r = unsafe {
        syscall(
            239,
            &mut mode as *mut i32,
            mask.as_mut_ptr(),
            1024i64,
            0i64,
            0i64,
        )
    }; // get_mempolicy
    if r == 0 {
        o.set("mempolicy_mode", n(mode));
        o.set("mempolicy_nodes", n(mask[0]));
    } else {
        o.set("mempolicy_errno", n(errno()));
    }
    o
}

// ---------------------------------------------------------------- probes
fn probe_read(path: &str) -> J {
    let mut o = J::obj();
    match std::fs::File::open(path) {
        Err(e) => {
            o.set("ok", J::B(false));
            o.set("errno", err_obj(&e));
        }
        Ok(mut f) => {
            let mut buf = vec![0u8; 4096];
            match f.read(&mut buf) {
                Ok(c) => {
                    o.set("ok", J::B(true));
                    o.set("len", n(c as u64));
                    o.set("data", s(&lossy(&buf[..c])));
                }
                Err(e) => {
                    o.set("ok", J::B(false));
                    o.set("read_errno", err_obj(&e));
                }
            }
        }
    }
    o
}

fn probe_open(path: &str, r: bool, w: bool) -> J {
    let mut o = J::obj();
    match std::fs::OpenOptions::new().read(r).write(w).open(path) {
        Ok(_) => o.set("ok", J::B(true)),
        Err(e) => {
            o.set("ok", J::B(false));
            o.set("errno", err_obj(&e));
        }
    }
    o
}

fn probe_write(path: &str) -> J {
    let mut o = J::obj();
    match std::fs::OpenOptions::new().write(true).open(path) {
        Err(e) => {
            o.set("ok", J::B(false));
            o.set("open_errno", err_obj(&e));
        }
        Ok(mut f) => match f.write(b"x") {
            Ok(c) => {
                o.set("ok", J::B(true));
                o.set("written", n(c as u64));
            }
            Err(e) => {
                o.set("ok", J::B(false));
                o.set("errno", err_obj(&e));
            }
        },
    }
    o
}

fn probe_create(path: &str) -> J {
    let mut o = J::obj();
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(_) => {
            o.set("ok", J::B(true));
            let _ = std::fs::remove_file(path);
        }
        Err(e) => {
            o.set("ok", J::B(false));
            o.set("errno", err_obj(&e));
        }
    }
    o
}

fn probe_statvfs(path: &str) -> J {
    let mut o = J::obj();
    let c = CString::new(path).unwrap();
    let mut b = [0u64; 14];
    if unsafe { statvfs(c.as_ptr(), &mut b) } == 0 {
        o.set("ok", J::B(true));
        o.set("bsize", n(b[0]));
        o.set("blocks", n(b[2]));
        o.set("flag", n(b[9]));
    } else {
        o.set("ok", J::B(false));
        o.set("errno", n(errno()));
    }
    o
}

fn probe_readdir(path: &str) -> J {
    let mut o = J::obj();
    match std::fs::read_dir(path) {
        Ok(rd) => {
            let mut names: Vec<String> = rd
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            o.set("ok", J::B(true));
            o.set("names", J::A(names.iter().map(|x| s(x)).collect()));
        }
        Err(e) => {
            o.set("ok", J::B(false));
            o.set("errno", err_obj(&e));
        }
    }
    o
}

fn probe_exec(path: &str) -> J {
    let mut o = J::obj();
    match std::process::Command::new(path)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .status()
    {
        Ok(st) => {
            o.set("ok", J::B(true));
            o.set("code", st.code().map(n).unwrap_or(J::Null));
        }
        Err(e) => {
            o.set("ok", J::B(false));
            o.set("errno", err_obj(&e));
        }
    }
    o
}

fn probe_wait_path(spec: &str) -> J {
    let (path, ms) = match spec.rsplit_once(':') {
        Some((p, m)) => (p.to_string(), m.parse::<u64>().unwrap_or(1000)),
        None => (spec.to_string(), 1000),
    };
    let start = std::time::Instant::now();
    let mut o = J::obj();
    loop {
        if std::fs::symlink_metadata(&path).is_ok() {
            o.set("ok", J::B(true));
            break;
        }
        if start.elapsed().as_millis() as u64 >= ms {
            o.set("ok", J::B(false));
            break;
        }
        unsafe { usleep(20_000) };
    }
    o
}

const SYSCALL_NRS: &[(&str, i64)] = &[
    ("getpgid", 121),
    ("getsid", 124),
    ("getpgrp", 111),
    ("getppid", 110),
    ("getpriority", 140),
    ("sched_getparam", 143),
    ("sched_getscheduler", 145),
    ("sched_get_priority_max", 146),
    ("sched_get_priority_min", 147),
    ("sched_rr_get_interval", 148),
    ("sched_getaffinity", 204),
    ("ioprio_get", 252),
    ("sysinfo", 99),
    ("times", 100),
    ("getcpu", 309),
    ("kcmp", 312),
    ("get_robust_list", 274),
    ("personality", 135),
    ("uname", 63),
    ("getuid", 102),
    ("umask", 95),
    ("sethostname", 170),
    ("acct", 163),
    ("mknodat", 259),
];

extern "C" fn on_sigsys(_: c_int) {
    unsafe { _exit(77) }
}

fn probe_syscall(spec: &str) -> J {
    let mut o = J::obj();
    o.set("spec", s(spec));
    let mut parts = spec.split(':');
    let name = parts.next().unwrap_or("");
    let Some(nr) = SYSCALL_NRS
        .iter()
        .find(|(k, _)| *k == name)
        .map(|(_, v)| *v)
    else {
        o.set("error", s("unknown syscall name"));
        return o;
    };
    let mut buf = vec![0u8; 4096];
    let mut args = [0i64; 6];
    for (i, a) in parts.enumerate().take(6) {
        args[i] = if a == "buf" {
            buf.as_mut_ptr() as i64
        } else if let Some(h) = a.strip_prefix("0x") {
            i64::from_str_radix(h, 16).unwrap_or(0)
        } else {
            a.parse::<i64>().unwrap_or(0)
        };
    }
    let mut p = [0i32; 2];
    unsafe { pipe(&mut p) };
    let pid = unsafe { fork() };
    if pid == 0 {
        unsafe {
            close(p[0]);
            signal(31, on_sigsys as *const () as usize); // SIGSYS -> exit 77 ("trapped")
            set_errno(0);
            let r = syscall(nr, args[0], args[1], args[2], args[3], args[4], args[5]);
            let e = if r == -1 { errno() } else { 0 };
            let msg = format!("{} {}", r, e);
            write(p[1], msg.as_ptr(), msg.len());
            _exit(0);
        }
    }
    unsafe { close(p[1]) };
    if pid < 0 {
        o.set("error", s("fork failed"));
        return o;
    }
    // wait with a timeout (a seccomp notify agent might never answer)
    let mut st: c_int = 0;
    let mut waited = 0;
    loop {
        let r = unsafe { waitpid(pid, &mut st, 1) }; // WNOHANG
        if r == pid {
            break;
        }
        if waited > 10_000 {
            unsafe { kill(pid, 9) };
            unsafe { waitpid(pid, &mut st, 0) };
            o.set("timeout", J::B(true));
            break;
        }
        unsafe { usleep(5_000) };
        waited += 5;
    }
    let mut out = vec![0u8; 128];
    let c = unsafe { read(p[0], out.as_mut_ptr(), 128) };
    unsafe { close(p[0]) };
    let txt = if c > 0 {
        lossy(&out[..c as usize])
    } else {
        String::new()
    };
    let mut it = txt.split_whitespace();
    if let (Some(r), Some(e)) = (it.next(), it.next()) {
        o.set("ret", n(r.parse::<i64>().unwrap_or(0)));
        o.set("errno", n(e.parse::<i64>().unwrap_or(0)));
    }
    let exited = st & 0x7f == 0;
    if exited {
        o.set("exit", n((st >> 8) & 0xff));
        o.set("trapped", J::B(((st >> 8) & 0xff) == 77));
    } else {
        o.set("signal", n(st & 0x7f));
    }
    o
}

// ---------------------------------------------------------------- main
fn main() {
    let args: Vec<String> = std::env::args_os().map(|a| lossy(a.as_bytes())).collect();
    let mut probes = Vec::new();
    let mut out_file: Option<String> = None;
    let mut hold = false;
    let mut exit_code = 0;
    let mut quiet = false;
    let mut i = 1;
    while i < args.len() {
        let a = args[i].as_str();
        let val = args.get(i + 1).cloned().unwrap_or_default();
        let mut takes = true;
        match a {
            "--read" => probes.push(("read", val.clone(), probe_read(&val))),
            "--stat" => probes.push(("stat", val.clone(), stat_obj(&val))),
            "--statvfs" => probes.push(("statvfs", val.clone(), probe_statvfs(&val))),
            "--readdir" => probes.push(("readdir", val.clone(), probe_readdir(&val))),
            "--open-rw" => probes.push(("open-rw", val.clone(), probe_open(&val, true, true))),
            "--open-w" => probes.push(("open-w", val.clone(), probe_open(&val, false, true))),
            "--open-r" => probes.push(("open-r", val.clone(), probe_open(&val, true, false))),
            "--read-write" => probes.push(("write", val.clone(), probe_write(&val))),
            "--create" => probes.push(("create", val.clone(), probe_create(&val))),
            "--exec" => probes.push(("exec", val.clone(), probe_exec(&val))),
            "--syscall" => probes.push(("syscall", val.clone(), probe_syscall(&val))),
            "--wait-path" => probes.push(("wait-path", val.clone(), probe_wait_path(&val))),
            "--echo" => {}
            "--out" => out_file = Some(val.clone()),
            "--exit" => exit_code = val.parse().unwrap_or(0),
            "--hold" => {
                hold = true;
                takes = false
            }
            "--quiet" => {
                quiet = true;
                takes = false
            }
            _ => takes = false,
        }
        i += if takes { 2 } else { 1 };
    }

    if !quiet {
        let mut r = J::obj();
        r.set("checker", s("oci-checker/1"));
        r.set("pid", n(unsafe { getpid() }));
        r.set("ppid", n(unsafe { getppid() }));
        r.set("argv", J::A(args.iter().map(|x| s(x)).collect()));
        r.set(
            "env",
            J::A(
                std::env::vars_os()
                    .map(|(k, v)| s(&format!("{}={}", k.to_string_lossy(), v.to_string_lossy())))
                    .collect(),
            ),
        );
        let mut cwd = vec![0u8; 4096];
        let p = unsafe { getcwd(cwd.as_mut_ptr(), 4096) };
        r.set(
            "cwd",
            if p.is_null() {
                J::Null
            } else {
                s(&unsafe { CStr::from_ptr(p as *const i8) }.to_string_lossy())
            },
        );
        r.set(
            "exe",
            s(&std::fs::read_link("/proc/self/exe")
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default()),
        );
        r.set("ids", ids());
        let mut u = [[0u8; 65]; 6];
        unsafe { uname(&mut u) };
        let mut un = J::obj();
        un.set("sysname", s(&cstr_field(&u[0])));
        un.set("nodename", s(&cstr_field(&u[1])));
        un.set("release", s(&cstr_field(&u[2])));
        un.set("machine", s(&cstr_field(&u[4])));
        un.set("domainname", s(&cstr_field(&u[5])));
        r.set("uname", un);
        r.set("status", status_map());
        r.set(
            "no_new_privs",
            n(unsafe { prctl(39, 0u64, 0u64, 0u64, 0u64) }),
        );
        r.set(
            "oom_score_adj",
            read_file("/proc/self/oom_score_adj")
                .map(|t| n(t.trim().parse::<i64>().unwrap_or(i64::MIN)))
                .unwrap_or(J::Null),
        );
        r.set("rlimits", rlimits());
        r.set("ns", namespaces());
        for f in ["uid_map", "gid_map", "setgroups", "cgroup"] {
            r.set(
                f,
                read_file(&format!("/proc/self/{}", f))
                    .map(|t| s(&t))
                    .unwrap_or(J::Null),
            );
        }
        r.set("mounts", mountinfo());
        r.set("devices", devices());
        r.set("fds", fds());
        r.set("tty", tty());
        r.set("sched", sched());
        r.set("clocks", clocks());
        let mut pa = Vec::new();
        for (kind, arg, res) in probes {
            let mut o = J::obj();
            o.set("kind", s(kind));
            o.set("arg", s(&arg));
            o.set("result", res);
            pa.push(o);
        }
        r.set("probes", J::A(pa));
        let mut body = String::new();
        r.write(&mut body);
        let text = format!("\n@@OCI-CHECKER-BEGIN@@\n{}\n@@OCI-CHECKER-END@@\n", body);
        if let Some(f) = &out_file {
            let _ = std::fs::write(f, &text);
        }
        let so = std::io::stdout();
        let mut lock = so.lock();
        let _ = lock.write_all(text.as_bytes());
        let _ = lock.flush();
    }
    if hold {
        loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        }
    }
    std::process::exit(exit_code);
}
