//! hull's entry point. `no_main`: hull provides the C `main` itself and skips the Rust runtime's
//! start-up, whose only effect for a single-threaded program that never recurses deeply is to
//! find the main thread's stack guard, which glibc does by reading and parsing /proc/self/maps:
//! about 42,000 instructions (callgrind) and three system calls on every invocation, paid twice by the verbs
//! that re-execute from the sealed binary. The one other thing it does, ignoring SIGPIPE so that
//! a closed pipe is an EPIPE error rather than death, is done here. A stack overflow then ends
//! in SIGSEGV without the runtime's message.
#![cfg_attr(not(test), no_main)]

#[cfg(not(test))]
#[no_mangle]
pub extern "C" fn main(_argc: libc::c_int, _argv: *const *const libc::c_char) -> libc::c_int {
    // SAFETY: setting a signal's disposition to SIG_IGN touches no memory of ours; no threads exist.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // std::env::args() still works: on glibc, std takes argc/argv from .init_array.
    std::process::exit(hull::cli::main())
}
