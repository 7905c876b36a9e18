//! `process.execCPUAffinity`: CPU lists ("0-3,7") parsed into a CpuSet and applied with
//! sched_setaffinity. `initial` is applied to the exec helper before the process is moved into the
//! container's cgroup (the process inherits it), `final` by the process itself afterwards.

use nix::sched::{sched_setaffinity, CpuSet};
use nix::unistd::Pid;
use oci_spec::runtime::Process;

use crate::error::{Error, Result};

/// The two CPU lists of a process, parsed; `None` for a list that is absent or empty (the spec's
/// "SHOULD NOT change the affinity").
#[derive(Default)]
pub struct ExecAffinity {
    pub initial: Option<CpuSet>,
    pub last: Option<CpuSet>,
}

impl ExecAffinity {
    /// Parse `process.execCPUAffinity`; errors name the JSON path of the bad list.
    pub fn from_process(p: &Process) -> Result<ExecAffinity> {
        let Some(a) = p.exec_cpu_affinity() else { return Ok(ExecAffinity::default()) };
        let parse = |field: &str, v: &Option<String>| -> Result<Option<CpuSet>> {
            match v.as_deref().map(str::trim) {
                None | Some("") => Ok(None),
                Some(s) => parse_cpu_list(s)
                    .map(Some)
                    .map_err(|msg| Error::config(format!("process.execCPUAffinity.{field}"), format!("{s:?}: {msg}"))),
            }
        };
        Ok(ExecAffinity { initial: parse("initial", a.initial())?, last: parse("final", a.cpu_affinity_final())? })
    }

    pub fn apply_initial(&self) -> Result<()> {
        apply("initial", self.initial.as_ref())
    }

    pub fn apply_final(&self) -> Result<()> {
        apply("final", self.last.as_ref())
    }
}

fn apply(field: &str, set: Option<&CpuSet>) -> Result<()> {
    let Some(set) = set else { return Ok(()) };
    sched_setaffinity(Pid::from_raw(0), set)
        .map_err(|e| Error::sys(format!("set CPU affinity from process.execCPUAffinity.{field}"), e))
}

/// Keep a process just cloned from being queued on this CPU behind us.
///
/// The scheduler often starts a child on its parent's CPU although another one is idle: the
/// container's init then waits there until `create` sleeps (about 1-2 ms, while `create` makes
/// the cgroup), instead of building its rootfs meanwhile on the idle CPU. So the child's
/// affinity is narrowed to its other CPUs; the child restores the returned mask (its affinity
/// at birth) as soon as it runs (`restore_own`), before anything else can observe or change it.
/// `None` when nothing was changed (a single CPU, or not allowed on this one anyway).
pub fn steer_off_this_cpu(pid: i32) -> Option<CpuSet> {
    let pid = Pid::from_raw(pid);
    let birth = nix::sched::sched_getaffinity(pid).ok()?;
    // SAFETY: sched_getcpu takes no arguments and only returns a number.
    let here = unsafe { libc::sched_getcpu() };
    let here = usize::try_from(here).ok()?;
    if !birth.is_set(here).unwrap_or(false) {
        return None;
    }
    let mut elsewhere = birth;
    elsewhere.unset(here).ok()?;
    if !(0..CpuSet::count()).any(|c| elsewhere.is_set(c).unwrap_or(false)) {
        return None;
    }
    sched_setaffinity(pid, &elsewhere).ok()?;
    Some(birth)
}

/// The CPUs of a set, for the init sync channel.
pub fn to_list(set: &CpuSet) -> Vec<u16> {
    (0..CpuSet::count()).filter(|&c| set.is_set(c).unwrap_or(false)).map(|c| c as u16).collect()
}

/// In the child `steer_off_this_cpu` narrowed: take back the affinity it was born with.
pub fn restore_own(cpus: &[u16]) -> Result<()> {
    let mut set = CpuSet::new();
    for &c in cpus {
        set.set(c as usize).map_err(|e| Error::sys(format!("CPU {c} of the init's affinity"), e))?;
    }
    sched_setaffinity(Pid::from_raw(0), &set).map_err(|e| Error::sys("restore the init's CPU affinity", e))
}

/// Parse a CPU list: comma-separated CPU numbers and inclusive ranges ("0-3,7").
pub fn parse_cpu_list(s: &str) -> std::result::Result<CpuSet, String> {
    let mut set = CpuSet::new();
    for cpu in super::parse_ranges(s, CpuSet::count()).map_err(|e| format!("CPU list: {e}"))? {
        set.set(cpu).map_err(|e| format!("CPU {cpu}: {e}"))?;
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::parse_cpu_list;

    fn cpus(s: &str) -> Vec<usize> {
        let set = parse_cpu_list(s).unwrap();
        (0..64).filter(|&c| set.is_set(c).unwrap()).collect()
    }

    #[test]
    fn lists_and_ranges() {
        assert_eq!(cpus("0-3,7"), vec![0, 1, 2, 3, 7]);
        assert_eq!(cpus("1"), vec![1]);
        assert_eq!(cpus("2-2,0"), vec![0, 2]);
    }

    #[test]
    fn bad_lists_are_refused() {
        for bad in ["", "a", "3-1", "1,,2", "0-", "-1", "99999"] {
            assert!(parse_cpu_list(bad).is_err(), "{bad:?}");
        }
    }
}
