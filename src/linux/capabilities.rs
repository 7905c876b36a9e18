//! The five capability sets of `process.capabilities`.

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::LinuxCapabilities;

use crate::error::{Error, Result};

/// Capability sets resolved from config names; unknown names are skipped with a warning, as runc.
#[derive(Debug, Default, Clone)]
pub struct CapSets {
    pub bounding: CapsHashSet,
    pub effective: CapsHashSet,
    pub permitted: CapsHashSet,
    pub inheritable: CapsHashSet,
    pub ambient: CapsHashSet,
}

fn resolve(names: &Option<oci_spec::runtime::Capabilities>, supported: &CapsHashSet) -> CapsHashSet {
    let mut out = CapsHashSet::new();
    for c in names.iter().flatten() {
        // oci-spec's capability names are the kernel's with the CAP_ prefix.
        let name = c.to_string();
        let name = if name.starts_with("CAP_") { name } else { format!("CAP_{name}") };
        match Capability::from_str(&name) {
            Ok(cap) if supported.contains(&cap) => {
                out.insert(cap);
            }
            _ => crate::log::warn(format!("capability {name} is not supported by this kernel, skipped")),
        }
    }
    out
}

/// The capabilities this kernel knows, once per process. PR_CAPBSET_READ fails (EINVAL) for a
/// capability above the kernel's last one and only for those, so a binary search over them in
/// number order finds the last in about six calls rather than one per capability. Never from
/// /proc/sys/kernel/cap_last_cap: the init asks after its pivot_root, where /proc is whatever
/// the container's image and config put there, and a forged small number would keep every
/// capability above it in the bounding set.
fn supported() -> &'static CapsHashSet {
    static SUPPORTED: std::sync::OnceLock<CapsHashSet> = std::sync::OnceLock::new();
    SUPPORTED.get_or_init(|| {
        let mut all: Vec<Capability> = caps::all().into_iter().collect();
        all.sort_by_key(|c| c.index());
        let known = all.partition_point(|c| caps::has_cap(None, CapSet::Bounding, *c).is_ok());
        all.truncate(known);
        all.into_iter().collect()
    })
}

impl CapSets {
    pub fn from_config(c: Option<&LinuxCapabilities>) -> CapSets {
        match c {
            None => CapSets::default(),
            Some(c) => {
                let sup = supported();
                CapSets {
                    bounding: resolve(c.bounding(), sup),
                    effective: resolve(c.effective(), sup),
                    permitted: resolve(c.permitted(), sup),
                    inheritable: resolve(c.inheritable(), sup),
                    ambient: resolve(c.ambient(), sup),
                }
            }
        }
    }
}

fn cap_err(what: &str, e: caps::errors::CapsError) -> Error {
    Error::Other(format!("capabilities: {what}: {e}"))
}

/// Drop every capability outside the bounding set. Needs CAP_SETPCAP: call before changing user.
pub fn apply_bounding(sets: &CapSets) -> Result<()> {
    for &cap in supported() {
        if !sets.bounding.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| cap_err(&format!("drop {cap} from bounding set"), e))?;
        }
    }
    Ok(())
}

/// Set inheritable, effective, permitted and ambient after the user switch (which kept the
/// permitted set through PR_SET_KEEPCAPS).
pub fn apply_process_sets(sets: &CapSets) -> Result<()> {
    // A capability the runtime itself lacks (CAP_SYS_RESOURCE on some hosts) cannot be granted:
    // warn and go on, rather than fail the container.
    let held = caps::read(None, CapSet::Permitted).map_err(|e| cap_err("read permitted", e))?;
    let keep = |s: &CapsHashSet| -> CapsHashSet {
        for c in s.difference(&held) {
            crate::log::warn(format!("capability {c} cannot be granted: the runtime does not hold it"));
        }
        s.intersection(&held).copied().collect()
    };
    let sets = &CapSets {
        bounding: sets.bounding.clone(),
        effective: keep(&sets.effective),
        permitted: keep(&sets.permitted),
        inheritable: keep(&sets.inheritable),
        ambient: keep(&sets.ambient),
    };
    caps::set(None, CapSet::Inheritable, &sets.inheritable).map_err(|e| cap_err("set inheritable", e))?;
    // Effective must stay within permitted: shrink effective first, then permitted, then set
    // effective to its final value.
    let eff_now: CapsHashSet = sets.effective.intersection(&sets.permitted).copied().collect();
    caps::set(None, CapSet::Effective, &eff_now).map_err(|e| cap_err("set effective", e))?;
    caps::set(None, CapSet::Permitted, &sets.permitted).map_err(|e| cap_err("set permitted", e))?;
    caps::set(None, CapSet::Effective, &sets.effective).map_err(|e| cap_err("set effective", e))?;
    caps::clear(None, CapSet::Ambient).map_err(|e| cap_err("clear ambient", e))?;
    for cap in &sets.ambient {
        // Ambient needs the capability in permitted and inheritable; runc skips those that
        // cannot be raised rather than failing the container.
        if let Err(e) = caps::raise(None, CapSet::Ambient, *cap) {
            crate::log::debug(format!("ambient {cap} not raised: {e}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_supported_set_is_what_the_kernel_answers_per_capability() {
        assert_eq!(*super::supported(), caps::runtime::thread_all_supported());
    }
}
