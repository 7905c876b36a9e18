//! hull's entry point. `no_main`: hull provides the C `main` itself and skips the Rust runtime's
//! start-up, whose only effect for a single-threaded program that never recurses deeply is to
//! find the main thread's stack guard, which glibc does by reading and parsing /proc/self/maps:
//! about 42,000 instructions (callgrind) and three system calls on every invocation, paid twice by the verbs
//! that re-execute from the sealed binary. The one other thing it does, ignoring SIGPIPE so that
//! a closed pipe is an EPIPE error rather than death, is done here. A stack overflow then ends
//! in SIGSEGV without the runtime's message.
#![cfg_attr(not(test), no_main)]

/// musl's own allocator returns small blocks to the kernel as they are freed (munmap, madvise),
/// which cost a `run` more system calls and page faults than glibc's allocator saved; dlmalloc
/// (the allocator Rust's standard library uses on wasm) keeps them, as glibc's does (src/heap.rs).
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOC: hull::heap::Heap = hull::heap::Heap::new();

#[cfg(not(test))]
#[no_mangle]
// Called by the C runtime only, which passes a valid argv of argc strings.
#[allow(clippy::not_unsafe_ptr_arg_deref)]
pub extern "C" fn main(argc: libc::c_int, argv: *const *const libc::c_char) -> libc::c_int {
    use std::os::unix::ffi::OsStrExt;
    // SAFETY: setting a signal's disposition to SIG_IGN touches no memory of ours; no threads exist.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    hull::linux::exe_swap::protect_relro();
    // The arguments are read here rather than through std::env::args(), which without the Rust
    // runtime's start-up is filled only on glibc (from .init_array), not on musl.
    let args = (0..argc.max(0) as usize)
        .map(|i| {
            // SAFETY: the C runtime passes argc valid NUL-terminated strings in argv, alive for
            // the whole process.
            let s = unsafe { std::ffi::CStr::from_ptr(*argv.add(i)) };
            std::ffi::OsStr::from_bytes(s.to_bytes()).to_owned()
        })
        .collect();
    std::process::exit(hull::cli::main(args))
}
