//! CVE-2025-52565: /dev/console and the pty replaced before create. The init's pty is bind-mounted
//! onto /dev/console; an image whose /dev/console is a symlink (to /proc/sysrq-trigger, say)
//! would move that mount onto the file it names, and a /dev/pts/ptmx or /dev/ptmx that is not
//! devpts's would hand the container a pty of the attacker's choosing. Each case must be refused
//! or end with /dev/console the container's own pty.

use crate::common::*;
use serde_json::json;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;

/// Accept the runtime's console connection in the background and keep the master open.
fn console_socket(t: &Test) -> (String, std::thread::JoinHandle<()>) {
    let path = t.scratch.join("console.sock");
    let listener = UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let h = std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            if let Ok((s, _)) = listener.accept() {
                s.set_nonblocking(false).unwrap();
                let (_name, fds, _) = recv_with_fds(s.as_raw_fd(), "console socket");
                std::thread::sleep(std::time::Duration::from_secs(2));
                drop(fds);
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    });
    (path.to_str().unwrap().to_string(), h)
}

/// A terminal bundle on a private rootfs whose /dev comes from the image (no /dev tmpfs), with
/// `plant` applied to the image's /dev.
fn attempt(name: &str, plant: impl FnOnce(&std::path::Path), refusal: &str) {
    let Some(t) = setup(name) else { return };
    let mut b = t.bundle();
    let rootfs = b.private_rootfs();
    // The image's /dev must be writable for the runtime to make /dev/console in it.
    b.set("/root/readonly", json!(false));
    b.config["mounts"].as_array_mut().unwrap().retain(|m| m["destination"] != "/dev");
    std::fs::create_dir_all(rootfs.join("dev/pts")).unwrap();
    std::fs::create_dir_all(rootfs.join("dev/shm")).unwrap();
    std::fs::create_dir_all(rootfs.join("dev/mqueue")).unwrap();
    plant(&rootfs.join("dev"));
    let out = b.out();
    b.set("/process/terminal", json!(true));
    b.sh("stat -c '%n %F %t:%T' /dev/console /proc/sys/kernel/hostname > /out/stat; tty > /out/tty");
    let (sock, h) = console_socket(&t);
    let res = t.try_create(&b, &["--console-socket", &sock]);
    if res.ok() {
        t.start(&b.id);
        t.wait_stopped(&b.id);
        let stat = wait_file(&out.join("stat"));
        let tty = wait_file(&out.join("tty"));
        let mut lines = stat.lines();
        let console = lines.next().unwrap_or_default();
        let target = lines.next().unwrap_or_default();
        assert!(console.starts_with("/dev/console character special file 88:"), "/dev/console is not a pty: {stat}");
        assert!(!target.contains("character special"), "the console was mounted over the symlink's target: {stat}");
        assert!(tty.trim().starts_with("/dev/pts/"), "the terminal is not a devpts pty: {tty}");
    } else {
        res.assert_err(refusal);
    }
    let _ = h.join();
    t.finish();
}

#[test]
fn dev_console_symlink_into_proc() {
    attempt(
        "cve_2025_52565_console_symlink",
        |dev| std::os::unix::fs::symlink("/proc/sys/kernel/hostname", dev.join("console")).unwrap(),
        "/dev/console is not a regular file or a character device",
    );
}

#[test]
fn dev_ptmx_that_is_not_devpts() {
    attempt(
        "cve_2025_52565_ptmx",
        |dev| {
            std::fs::write(dev.join("pts/ptmx"), "not a pty").unwrap();
        },
        "ptmx",
    );
}
