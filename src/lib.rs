//! hull: an OCI container runtime, a drop-in replacement for runc.
//!
//! The binary (`src/main.rs`) is a thin shell around [`cli::main`]; everything else lives here so
//! that tests and tools can reach it.

pub mod bundle;
pub mod check;
pub mod cgroups;
pub mod cli;
pub mod container;
pub mod criu;
pub mod error;
pub mod fault;
#[cfg(target_env = "musl")]
pub mod heap;
pub mod hooks;
pub mod launch;
pub mod linux;
pub mod log;

pub use error::{Error, Result};

/// The OCI runtime-spec version hull implements.
pub const OCI_VERSION: &str = "1.2.0";
