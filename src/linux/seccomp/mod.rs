//! `linux.seccomp` → BPF with seccompiler.
//!
//! A seccompiler filter has one match action and one mismatch action, so a profile becomes
//! several filters that the kernel evaluates together, keeping the result of highest precedence
//! (KILL_PROCESS > KILL_THREAD > TRAP > ERRNO > TRACE > LOG > ALLOW):
//! - the default filter returns ALLOW for every call that some rule matches (with its argument
//!   conditions) and `defaultAction` for everything else;
//! - one filter per other (action, errno/trace value) returns that action for the calls its rules
//!   match and ALLOW otherwise.
//!
//! A call matched by a rule thus gets exactly that rule's action (every other filter says
//! ALLOW), and an unmatched call gets the default action. Syscall names this build does not know
//! are skipped with a debug log, as runc does. Only x86_64 filters are built: seccompiler's
//! prologue kills a process that makes a syscall of another architecture (32-bit x86 through
//! int 0x80), whatever the profile's `architectures` list; that is stricter than runc, never
//! weaker. SCMP_ACT_NOTIFY is refused with an error.

mod syscalls;

use std::collections::BTreeMap;

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction, LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall};
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule, TargetArch,
};

use crate::error::{Error, Result};

/// Filters to install, in order, and the seccomp(2) flags to install them with.
pub struct Compiled {
    pub programs: Vec<BpfProgram>,
    pub flags: libc::c_ulong,
}

/// The number of a syscall name on x86_64.
pub fn syscall_number(name: &str) -> Option<i64> {
    syscalls::SYSCALLS.binary_search_by(|(n, _)| n.cmp(&name)).ok().map(|i| syscalls::SYSCALLS[i].1)
}

fn action(a: LinuxSeccompAction, errno: Option<u32>, path: &str) -> Result<SeccompAction> {
    Ok(match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => SeccompAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActErrno => SeccompAction::Errno(errno.unwrap_or(libc::EPERM as u32)),
        LinuxSeccompAction::ScmpActTrace => SeccompAction::Trace(errno.unwrap_or(libc::EPERM as u32)),
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(Error::config(path, "SCMP_ACT_NOTIFY (seccomp user notification) is not supported by this version of hull"))
        }
    })
}

/// The rules of one syscall entry: all its conditions ANDed in one rule, except when several
/// conditions name the same argument, which libseccomp (and so runc) treats as alternatives.
fn rules_of(sc: &LinuxSyscall, path: &str) -> Result<Vec<SeccompRule>> {
    let args = sc.args().as_deref().unwrap_or(&[]);
    if args.is_empty() {
        return Ok(Vec::new());
    }
    let mut conds = Vec::new();
    for (j, a) in args.iter().enumerate() {
        let op = match a.op() {
            LinuxSeccompOperator::ScmpCmpNe => SeccompCmpOp::Ne,
            LinuxSeccompOperator::ScmpCmpLt => SeccompCmpOp::Lt,
            LinuxSeccompOperator::ScmpCmpLe => SeccompCmpOp::Le,
            LinuxSeccompOperator::ScmpCmpEq => SeccompCmpOp::Eq,
            LinuxSeccompOperator::ScmpCmpGe => SeccompCmpOp::Ge,
            LinuxSeccompOperator::ScmpCmpGt => SeccompCmpOp::Gt,
            LinuxSeccompOperator::ScmpCmpMaskedEq => SeccompCmpOp::MaskedEq(a.value()),
        };
        // MASKED_EQ compares (arg & value) with valueTwo.
        let value = match a.op() {
            LinuxSeccompOperator::ScmpCmpMaskedEq => a.value_two().unwrap_or(0),
            _ => a.value(),
        };
        let index = u8::try_from(a.index()).unwrap_or(u8::MAX);
        let c = SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value)
            .map_err(|e| Error::config(format!("{path}.args[{j}]"), e.to_string()))?;
        conds.push((a.index(), c));
    }
    let mut indexes: Vec<usize> = conds.iter().map(|(i, _)| *i).collect();
    indexes.sort_unstable();
    let repeated = indexes.windows(2).any(|w| w[0] == w[1]);
    let groups: Vec<Vec<SeccompCondition>> = if repeated {
        conds.into_iter().map(|(_, c)| vec![c]).collect()
    } else {
        vec![conds.into_iter().map(|(_, c)| c).collect()]
    };
    groups
        .into_iter()
        .map(|g| SeccompRule::new(g).map_err(|e| Error::config(format!("{path}.args"), e.to_string())))
        .collect()
}

type RuleMap = BTreeMap<i64, Vec<SeccompRule>>;

/// Add `rules` for syscall `nr`: an empty rule list means "always"; once a syscall matches
/// always, its conditional rules no longer matter.
fn add(map: &mut RuleMap, nr: i64, rules: Vec<SeccompRule>) {
    match map.get_mut(&nr) {
        Some(existing) if existing.is_empty() => {}
        Some(existing) if rules.is_empty() => existing.clear(),
        Some(existing) => existing.extend(rules),
        None => {
            map.insert(nr, rules);
        }
    }
}

pub fn compile(s: &LinuxSeccomp) -> Result<Compiled> {
    let default_errno = s.default_errno_ret();
    let default = action(s.default_action(), default_errno, "linux.seccomp.defaultAction")?;
    if s.listener_path().is_some() {
        return Err(Error::config("linux.seccomp.listenerPath", "seccomp user notification is not supported by this version of hull"));
    }
    let mut matched_any: RuleMap = BTreeMap::new();
    let mut by_action: Vec<(SeccompAction, RuleMap)> = Vec::new();
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let path = format!("linux.seccomp.syscalls[{i}]");
        let act = action(sc.action(), sc.errno_ret(), &format!("{path}.action"))?;
        let rules = rules_of(sc, &path)?;
        for name in sc.names() {
            let Some(nr) = syscall_number(name) else {
                crate::log::debug(format!("seccomp: unknown syscall {name:?} skipped"));
                continue;
            };
            if act == default {
                continue;
            }
            add(&mut matched_any, nr, rules.clone());
            if act != SeccompAction::Allow {
                let slot = match by_action.iter().position(|(a, _)| *a == act) {
                    Some(p) => p,
                    None => {
                        by_action.push((act.clone(), BTreeMap::new()));
                        by_action.len() - 1
                    }
                };
                add(&mut by_action[slot].1, nr, rules.clone());
            }
        }
    }
    let mut programs = Vec::new();
    let build = |rules: RuleMap, mismatch: SeccompAction, matched: SeccompAction| -> Result<BpfProgram> {
        let f = SeccompFilter::new(rules, mismatch, matched, TargetArch::x86_64)
            .map_err(|e| Error::Other(format!("seccomp: {e}")))?;
        BpfProgram::try_from(f).map_err(|e| Error::Other(format!("seccomp: {e}")))
    };
    if default != SeccompAction::Allow {
        programs.push(build(matched_any, default.clone(), SeccompAction::Allow)?);
    }
    for (act, rules) in by_action {
        programs.push(build(rules, SeccompAction::Allow, act)?);
    }
    let mut flags = 0;
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            // Only meaningful with user notification, which is refused above.
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => 0,
        };
    }
    Ok(Compiled { programs, flags })
}

/// Install the filters (in order) on the calling process. Needs no_new_privs or CAP_SYS_ADMIN.
pub fn install(c: &Compiled) -> Result<()> {
    for prog in &c.programs {
        let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr() as *mut libc::sock_filter };
        // SAFETY: `fprog` points at `prog`, which outlives the call; the kernel copies the program.
        let r = unsafe {
            libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, c.flags, &fprog as *const libc::sock_fprog)
        };
        if r < 0 {
            return Err(Error::sys("install seccomp filter", nix::errno::Errno::last()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syscall_table_resolves_names() {
        assert_eq!(syscall_number("read"), Some(0));
        assert_eq!(syscall_number("unshare"), Some(libc::SYS_unshare));
        assert_eq!(syscall_number("no_such_call"), None);
    }

    #[test]
    fn notify_is_refused() {
        let s: LinuxSeccomp = serde_json::from_str(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#).unwrap();
        let e = compile(&s).err().unwrap().to_string();
        assert!(e.contains("SCMP_ACT_NOTIFY"), "{e}");
    }

    #[test]
    fn one_filter_per_non_default_action() {
        let s: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
                {"names":["read","write"],"action":"SCMP_ACT_ALLOW"},
                {"names":["getpid"],"action":"SCMP_ACT_ERRNO","errnoRet":5},
                {"names":["kill"],"action":"SCMP_ACT_KILL_PROCESS"},
                {"names":["bogus_call"],"action":"SCMP_ACT_ALLOW"}]}"#,
        )
        .unwrap();
        assert_eq!(compile(&s).unwrap().programs.len(), 3);
    }
}
