//! Process creation with namespace flags: clone3 used like fork (no shared memory, no new stack).

use nix::errno::Errno;

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Fork the calling process with `flags` (CLONE_NEW*, CLONE_PARENT), into the cgroup open as
/// `cgroup` when given (CLONE_INTO_CGROUP, Linux 5.7+, cgroup v2; without it where the kernel
/// refuses, and the caller moves the child itself). Returns 0 in the child and the child's pid
/// (in the caller's pid namespace) in the parent.
///
/// hull is single-threaded (no threads exist before this call), so the child is a complete copy
/// of the only thread, as after fork(2).
pub fn fork_with_flags(flags: u64, cgroup: Option<std::os::fd::RawFd>) -> Result<i32, Errno> {
    if let Some(fd) = cgroup {
        match clone3(flags | CLONE_INTO_CGROUP, fd as u64) {
            Ok(pid) => return Ok(pid),
            Err(e) => crate::log::debug(format!("clone3 with CLONE_INTO_CGROUP: {e}; cloning without it")),
        }
    }
    match clone3(flags, 0) {
        Err(Errno::ENOSYS) => {}
        r => return r,
    }
    // SAFETY: clone(2) with a NULL stack and no CLONE_VM is fork with flags, as above.
    let r = unsafe { libc::syscall(libc::SYS_clone, flags | exit_signal(flags), 0usize, 0usize, 0usize, 0usize) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as i32)
    }
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// With CLONE_PARENT the child inherits the caller's exit signal; clone3 refuses to be given one.
fn exit_signal(flags: u64) -> u64 {
    if flags & libc::CLONE_PARENT as u64 != 0 {
        0
    } else {
        libc::SIGCHLD as u64
    }
}

fn clone3(flags: u64, cgroup: u64) -> Result<i32, Errno> {
    let mut args = CloneArgs { flags, exit_signal: exit_signal(flags), cgroup, ..Default::default() };
    // SAFETY: without CLONE_VM and with a zero stack, clone3 behaves like fork: the child gets a
    // copy-on-write copy of the address space and continues on its own copy of the current
    // stack. `args` lives across the call and its size is passed exactly.
    let r = unsafe {
        libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, std::mem::size_of::<CloneArgs>())
    };
    if r >= 0 {
        Ok(r as i32)
    } else {
        Err(Errno::last())
    }
}
