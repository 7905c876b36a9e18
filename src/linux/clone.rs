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

/// Fork the calling process with `flags` (CLONE_NEW*, CLONE_PARENT). Returns 0 in the child and
/// the child's pid (in the caller's pid namespace) in the parent.
///
/// hull is single-threaded (no threads exist before this call), so the child is a complete copy
/// of the only thread, as after fork(2).
pub fn fork_with_flags(flags: u64) -> Result<i32, Errno> {
    // With CLONE_PARENT the child inherits the caller's exit signal; clone3 refuses to be given one.
    let exit_signal = if flags & libc::CLONE_PARENT as u64 != 0 { 0 } else { libc::SIGCHLD as u64 };
    let mut args = CloneArgs { flags, exit_signal, ..Default::default() };
    // SAFETY: without CLONE_VM and with a zero stack, clone3 behaves like fork: the child gets a
    // copy-on-write copy of the address space and continues on its own copy of the current
    // stack. `args` lives across the call and its size is passed exactly.
    let r = unsafe {
        libc::syscall(libc::SYS_clone3, &mut args as *mut CloneArgs, std::mem::size_of::<CloneArgs>())
    };
    if r >= 0 {
        return Ok(r as i32);
    }
    let e = Errno::last();
    if e != Errno::ENOSYS {
        return Err(e);
    }
    // SAFETY: clone(2) with a NULL stack and no CLONE_VM is fork with flags, as above.
    let r = unsafe { libc::syscall(libc::SYS_clone, flags | exit_signal, 0usize, 0usize, 0usize, 0usize) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r as i32)
    }
}
