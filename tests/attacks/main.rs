//! The attack suite: each module mounts a known container-runtime attack (one CVE class each,
//! named in the module) from inside a real container, or with a hostile bundle or state dir, and
//! asserts that it fails against the runtime under test. `make test-attacks` runs this suite
//! alone; `make test` includes it. Like every integration test it needs root and drives the
//! binary (`HULL_TEST_RUNTIME` to try another runtime).
#[path = "../common/mod.rs"]
mod common;
mod support;

mod cve_2019_19921_proc_symlink;
mod cve_2019_5736_exe_overwrite;
mod cve_2021_30465_symlink_mounts;
mod cve_2022_29162_capabilities;
mod cve_2024_21626_leaked_fds;
mod cve_2025_31133_masked_paths;
mod cve_2025_52565_dev_console;
mod cve_2025_52881_procfs_writes;
mod device_rules;
mod hostile_state;
