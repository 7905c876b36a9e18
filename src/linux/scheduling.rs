//! `process.scheduler` (sched_setattr), `process.ioPriority` (ioprio_set),
//! `linux.personality` (personality) and `linux.memoryPolicy` (set_mempolicy).

use nix::errno::Errno;
use oci_spec::runtime::{IOPriorityClass, LinuxPersonality, LinuxPersonalityDomain, LinuxSchedulerFlag, LinuxSchedulerPolicy, Scheduler};

use crate::error::{Error, Result};

#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

pub fn apply_scheduler(s: &Scheduler) -> Result<()> {
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => 0,
        LinuxSchedulerPolicy::SchedFifo => 1,
        LinuxSchedulerPolicy::SchedRr => 2,
        LinuxSchedulerPolicy::SchedBatch => 3,
        LinuxSchedulerPolicy::SchedIso => 4,
        LinuxSchedulerPolicy::SchedIdle => 5,
        LinuxSchedulerPolicy::SchedDeadline => 6,
    };
    let mut flags = 0u64;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSchedulerFlag::SchedResetOnFork => 0x01,
            LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
            LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
            LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
            LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
            LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
            LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
        };
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice: s.nice().unwrap_or(0),
        priority: s.priority().unwrap_or(0).max(0) as u32,
        runtime: s.runtime().unwrap_or(0),
        deadline: s.deadline().unwrap_or(0),
        period: s.period().unwrap_or(0),
        ..Default::default()
    };
    // SAFETY: `attr` is a complete sched_attr whose size field matches; pid 0 is the caller.
    if unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) } < 0 {
        return Err(Error::sys(format!("process.scheduler: sched_setattr policy {:?}", s.policy()), Errno::last()));
    }
    Ok(())
}

pub fn apply_io_priority(class: IOPriorityClass, priority: i64) -> Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_int = 1;
    let class_nr: i64 = match class {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let value = (class_nr << 13) | (priority & 0x1fff);
    // SAFETY: plain integer arguments; who 0 is the caller.
    if unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, value) } < 0 {
        return Err(Error::sys(format!("process.ioPriority: ioprio_set {class:?} {priority}"), Errno::last()));
    }
    Ok(())
}

pub fn apply_personality(p: &LinuxPersonality) -> Result<()> {
    if p.flags().as_ref().is_some_and(|f| !f.is_empty()) {
        return Err(Error::config("linux.personality.flags", "personality flags are not supported"));
    }
    let persona = match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    };
    // SAFETY: personality takes a plain integer.
    if unsafe { libc::personality(persona) } < 0 {
        return Err(Error::sys(format!("linux.personality: personality {:?}", p.domain()), Errno::last()));
    }
    Ok(())
}

/// `linux.memoryPolicy`: set_mempolicy(2) for the container process (inherited across fork and
/// execve). `nodes` is a list like "0-3,5".
pub fn apply_memory_policy(p: &oci_spec::runtime::LinuxMemoryPolicy) -> Result<()> {
    use oci_spec::runtime::{MemoryPolicyFlagType as F, MemoryPolicyModeType as M};
    let mut mode: i64 = match p.mode() {
        M::MpolDefault => 0,
        M::MpolPreferred => 1,
        M::MpolBind => 2,
        M::MpolInterleave => 3,
        M::MpolLocal => 4,
        M::MpolPreferredMany => 5,
        M::MpolWeightedInterleave => 6,
    };
    for f in p.flags().iter().flatten() {
        mode |= match f {
            F::MpolFNumaBalancing => 1 << 13,
            F::MpolFRelativeNodes => 1 << 14,
            F::MpolFStaticNodes => 1 << 15,
        };
    }
    let mut mask = [0u64; 16];
    // Empty entries ("0,,2") are skipped, as before.
    let nodes: Vec<&str> = p.nodes().as_deref().unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    let nodes = nodes.join(",");
    if !nodes.is_empty() {
        let list = super::parse_ranges(&nodes, mask.len() * 64)
            .map_err(|e| Error::config("linux.memoryPolicy.nodes", format!("{nodes:?}: {e}")))?;
        for n in list {
            mask[n / 64] |= 1 << (n % 64);
        }
    }
    let has_nodes = mask.iter().any(|w| *w != 0);
    let (ptr, maxnode) = if has_nodes { (mask.as_ptr(), mask.len() * 64 + 1) } else { (std::ptr::null(), 0) };
    // SAFETY: `mask` outlives the call and maxnode bounds what the kernel reads from it.
    if unsafe { libc::syscall(libc::SYS_set_mempolicy, mode, ptr, maxnode) } < 0 {
        return Err(Error::sys(format!("linux.memoryPolicy: set_mempolicy {:?}", p.mode()), Errno::last()));
    }
    Ok(())
}
