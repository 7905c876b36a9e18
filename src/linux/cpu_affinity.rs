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
