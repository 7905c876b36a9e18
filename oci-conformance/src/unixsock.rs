//! Unix socket helpers: console socket (pty master via SCM_RIGHTS) and the
//! seccomp listener socket.

use std::os::unix::io::IntoRawFd;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::time::{Duration, Instant};

pub fn listen(path: &Path) -> Result<UnixListener, String> {
    let _ = std::fs::remove_file(path);
    let l = UnixListener::bind(path).map_err(|e| format!("bind {}: {}", path.display(), e))?;
    l.set_nonblocking(true).map_err(|e| e.to_string())?;
    Ok(l)
}

/// Accept one connection within `t` (or until `stop` is set); returns the raw fd (blocking mode).
pub fn accept(
    l: &UnixListener,
    t: Duration,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<i32, String> {
    let end = Instant::now() + t;
    loop {
        if stop.load(std::sync::atomic::Ordering::SeqCst) {
            return Err("no connection on the socket".into());
        }
        match l.accept() {
            Ok((s, _)) => {
                let _ = s.set_nonblocking(false);
                return Ok(s.into_raw_fd());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= end {
                    return Err("no connection on the socket".into());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(format!("accept: {}", e)),
        }
    }
}

fn poll_in(fd: i32, t: Duration) -> bool {
    let mut p = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = t.as_millis().min(i32::MAX as u128) as i32;
    unsafe { libc::poll(&mut p, 1, ms) > 0 }
}

/// Read everything until EOF (or `t`), collecting SCM_RIGHTS fds.
/// Returns (payload, fds, number of messages that carried fds).
pub fn recv_all(fd: i32, t: Duration) -> (Vec<u8>, Vec<i32>, usize) {
    let end = Instant::now() + t;
    let mut data = Vec::new();
    let mut fds = Vec::new();
    let mut msgs_with_fds = 0;
    loop {
        let now = Instant::now();
        if now >= end || !poll_in(fd, end - now) {
            break;
        }
        let mut buf = vec![0u8; 65536];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr() as *mut libc::c_void,
            iov_len: buf.len(),
        };
        let mut cbuf = vec![0u64; 64]; // aligned control buffer
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.as_mut_ptr() as *mut libc::c_void;
        msg.msg_controllen = (cbuf.len() * 8) as _; // usize on glibc, u32 on musl
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            break;
        }
        let mut got = false;
        unsafe {
            let mut cm = libc::CMSG_FIRSTHDR(&msg);
            while !cm.is_null() {
                if (*cm).cmsg_level == libc::SOL_SOCKET && (*cm).cmsg_type == libc::SCM_RIGHTS {
                    let data_ptr = libc::CMSG_DATA(cm) as *const i32;
                    let len = (*cm).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                    for i in 0..len / 4 {
                        fds.push(*data_ptr.add(i));
                    }
                    got = true;
                }
                cm = libc::CMSG_NXTHDR(&msg, cm);
            }
        }
        if got {
            msgs_with_fds += 1;
        }
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n as usize]);
    }
    (data, fds, msgs_with_fds)
}

/// Read a pty master until EIO/EOF or until `t` passes.
pub fn drain(fd: i32, t: Duration, stop_when: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let end = Instant::now() + t;
    let mut out = Vec::new();
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        if !poll_in(fd, (end - now).min(Duration::from_millis(100))) {
            if stop_when(&out) {
                break;
            }
            continue;
        }
        let mut buf = [0u8; 8192];
        let n = unsafe { libc::read(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len()) };
        if n <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
        if stop_when(&out) {
            break;
        }
    }
    out
}

pub fn close(fd: i32) {
    if fd >= 0 {
        unsafe {
            libc::close(fd);
        }
    }
}
