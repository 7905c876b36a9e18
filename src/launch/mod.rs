//! The staged start of a container.
//!
//! `create` (runtime side, `create.rs`) validates the bundle, makes the state dir, fifo and
//! cgroup, then clones the init with the namespaces to create. The init (`init.rs`) waits until
//! the runtime has placed it in its cgroup and written its id maps, builds the container (mounts,
//! devices, pivot_root, limits, user, capabilities), reports ready and blocks on the exec fifo.
//! `start` (`start.rs`) opens the fifo, which releases the init into execve.

mod create;
mod exec;
mod init;
mod process;
mod start;
pub mod sync;
pub mod wait;

pub use create::{absolute, create, CreateOpts};
pub use exec::{exec, ExecOpts};
pub use start::{start, start_created};
