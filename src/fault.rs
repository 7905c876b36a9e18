//! Fault injection for the tests (`tests/fault_injection.rs`): `HULL_FAULT=<stage>` makes the
//! step named `stage` fail with "fault injected at <stage>", and `HULL_FAULT=kill:<stage>`
//! ends the process there with SIGKILL, as a crash or an OOM kill would, and
//! `HULL_FAULT=pause:<stage>` waits there for half a second (a race's window). Only debug builds
//! (the ones the tests drive) look at the variable: in a release build every point is empty.
//!
//! Stages of create, in order: `state-dir` (runtime, state dir made), `after-clone` (runtime,
//! init cloned), `after-mount:<i>` (init, config mount i made), `after-cgroup` (runtime, init
//! placed and limits applied), `after-pivot-root` (init), `before-ready` (init, everything but
//! the exec fifo done), `before-save` (runtime, before state.json); of start: `before-exec`
//! (init, fifo opened); of delete --force: `delete-before-kill` (status read, kill not yet sent).
//! `cgroup-level:<i>`: create, before level i of the cgroup path is made in the v2 hierarchy
//! (pure v2, or the unified tree of a hybrid host).
//! `seal-overlay` makes the overlayfs view of the sealed binary fail, so
//! that create, run and exec take the sealed memfd copy instead.

use crate::error::Result;

/// A fault point named `stage`, with `n` appended as `stage:n` when given.
#[inline(always)]
pub fn point(stage: &str, n: Option<usize>) -> Result<()> {
    #[cfg(debug_assertions)]
    if let Ok(want) = std::env::var("HULL_FAULT") {
        let here = match n {
            Some(n) => format!("{stage}:{n}"),
            None => stage.to_string(),
        };
        if want.strip_prefix("kill:") == Some(here.as_str()) {
            // SAFETY: raising SIGKILL against this process touches no memory. A PID namespace's
            // init cannot kill itself that way (the kernel drops the signal): it ends at once
            // with _exit, which runs no cleanup either.
            unsafe {
                libc::raise(libc::SIGKILL);
                libc::_exit(137);
            }
        }
        if want == here {
            return Err(crate::error::Error::Other(format!("fault injected at {here}")));
        }
        if want.strip_prefix("pause:") == Some(here.as_str()) {
            // A window for a race to land in: the point waits half a second.
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    }
    #[cfg(not(debug_assertions))]
    let _ = (stage, n);
    Ok(())
}
