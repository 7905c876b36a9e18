//! Switching to `process.user`: supplementary groups, gid, uid, umask.

use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
use oci_spec::runtime::User;

use crate::error::{Context, Result};

/// Switch groups and ids. PR_SET_KEEPCAPS keeps the permitted set across the uid change so the
/// configured capabilities can be set afterwards.
pub fn switch(user: &User, setgroups_allowed: bool) -> Result<()> {
    if setgroups_allowed {
        let mut gids: Vec<Gid> = user.additional_gids().iter().flatten().map(|g| Gid::from_raw(*g)).collect();
        let mut seen = std::collections::HashSet::new();
        gids.retain(|g| seen.insert(*g));
        setgroups(&gids).ctx(|| format!("setgroups {:?}", user.additional_gids().clone().unwrap_or_default()))?;
    }
    nix::sys::prctl::set_keepcaps(true).ctx(|| "prctl PR_SET_KEEPCAPS".into())?;
    let g = Gid::from_raw(user.gid());
    setresgid(g, g, g).ctx(|| format!("setgid {}", user.gid()))?;
    let u = Uid::from_raw(user.uid());
    setresuid(u, u, u).ctx(|| format!("setuid {}", user.uid()))?;
    nix::sys::prctl::set_keepcaps(false).ctx(|| "prctl PR_SET_KEEPCAPS".into())?;
    Ok(())
}

pub fn set_umask(user: &User) {
    if let Some(m) = user.umask() {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(m));
    }
}
