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
//! are skipped with a debug log, as runc does. Architectures: x86_64 always; with SCMP_ARCH_X86
//! listed, a second set of filters judges 32-bit x86 calls (int 0x80) by their i386 numbers, and
//! each set's prologue lets the other architecture through; otherwise a call of another
//! architecture kills the process (libseccomp's bad-arch action). x32 is not filtered
//! separately: its calls reach the x86_64 filters with their x32 numbers, which match no rule.
//! SCMP_ACT_NOTIFY: seccompiler has no such action, so notify rules are compiled as a
//! marked TRACE and the marked return instructions are rewritten to SECCOMP_RET_USER_NOTIF; that
//! filter is installed with SECCOMP_FILTER_FLAG_NEW_LISTENER and the listener goes to the agent at
//! `listenerPath` (see `send_to_agent`).

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
    /// The program that returns USER_NOTIF, installed with a listener.
    pub notify: Option<usize>,
    /// Flags for the listener's filter only (the kernel refuses them without NEW_LISTENER).
    pub notify_flags: libc::c_ulong,
}

/// SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (Linux 5.19): a notifying syscall waits killably once
/// the agent has received it.
const FLAG_WAIT_KILLABLE_RECV: libc::c_ulong = 1 << 5;

/// TRACE data that marks a compiled SCMP_ACT_NOTIFY return (rewritten before install).
const NOTIFY_MARK: u32 = 0xfeed;
const SECCOMP_RET_TRACE: u32 = 0x7ff0_0000;
const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
const BPF_RET_K: u16 = 0x06;

/// The number of a syscall name on x86_64.
pub fn syscall_number(name: &str) -> Option<i64> {
    syscalls::SYSCALLS.binary_search_by(|(n, _)| n.cmp(&name)).ok().map(|i| syscalls::SYSCALLS[i].1)
}

fn action(a: LinuxSeccompAction, errno: Option<u32>) -> SeccompAction {
    match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => SeccompAction::KillThread,
        LinuxSeccompAction::ScmpActKillProcess => SeccompAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => SeccompAction::Trap,
        LinuxSeccompAction::ScmpActErrno => SeccompAction::Errno(errno.unwrap_or(libc::EPERM as u32)),
        LinuxSeccompAction::ScmpActTrace => SeccompAction::Trace(errno.unwrap_or(libc::EPERM as u32)),
        LinuxSeccompAction::ScmpActAllow => SeccompAction::Allow,
        LinuxSeccompAction::ScmpActLog => SeccompAction::Log,
        LinuxSeccompAction::ScmpActNotify => SeccompAction::Trace(NOTIFY_MARK),
    }
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

/// The number of a syscall name on 32-bit x86.
fn syscall_number_x86(name: &str) -> Option<i64> {
    syscalls::SYSCALLS_X86.binary_search_by(|(n, _)| n.cmp(&name)).ok().map(|i| syscalls::SYSCALLS_X86[i].1)
}

const AUDIT_ARCH_X86_64: u32 = 62 | 0x8000_0000 | 0x4000_0000;
const AUDIT_ARCH_I386: u32 = 3 | 0x4000_0000;
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;

/// seccompiler starts every program with `load arch; if arch == x86_64 skip 1; kill process`.
/// Make the kill an ALLOW (another set of filters judges that architecture's calls), and with
/// `arch` judge that architecture instead of x86_64.
fn arch_prologue(p: &mut BpfProgram, arch: Option<u32>) -> Result<()> {
    let ok = p.len() > 2 && p[1].k == AUDIT_ARCH_X86_64 && p[2].code == BPF_RET_K && p[2].k == SECCOMP_RET_KILL_PROCESS;
    if !ok {
        return Err(Error::Other("seccomp: unexpected filter prologue from seccompiler".into()));
    }
    if let Some(a) = arch {
        p[1].k = a;
    }
    p[2].k = SECCOMP_RET_ALLOW;
    Ok(())
}

/// The filters of a profile for one architecture, syscall names resolved with `number`.
fn programs_for(s: &LinuxSeccomp, default: SeccompAction, number: fn(&str) -> Option<i64>) -> Result<Vec<BpfProgram>> {
    let mut matched_any: RuleMap = BTreeMap::new();
    let mut by_action: Vec<(SeccompAction, RuleMap)> = Vec::new();
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        let path = format!("linux.seccomp.syscalls[{i}]");
        let act = action(sc.action(), sc.errno_ret());
        let rules = rules_of(sc, &path)?;
        for name in sc.names() {
            let Some(nr) = number(name) else {
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
    Ok(programs)
}

pub fn compile(s: &LinuxSeccomp) -> Result<Compiled> {
    let default_errno = s.default_errno_ret();
    let default = action(s.default_action(), default_errno);
    let has_errno = |a: LinuxSeccompAction| matches!(a, LinuxSeccompAction::ScmpActErrno | LinuxSeccompAction::ScmpActTrace);
    if default_errno.is_some() && !has_errno(s.default_action()) {
        return Err(Error::config("linux.seccomp.defaultErrnoRet", "the default action takes no errno"));
    }
    for (i, sc) in s.syscalls().iter().flatten().enumerate() {
        if sc.names().is_empty() {
            return Err(Error::config(format!("linux.seccomp.syscalls[{i}].names"), "must name at least one syscall"));
        }
        if sc.errno_ret().is_some() && !has_errno(sc.action()) {
            return Err(Error::config(format!("linux.seccomp.syscalls[{i}].errnoRet"), "the action takes no errno"));
        }
    }
    let uses_notify = s.default_action() == LinuxSeccompAction::ScmpActNotify
        || s.syscalls().iter().flatten().any(|sc| sc.action() == LinuxSeccompAction::ScmpActNotify);
    if uses_notify && s.listener_path().is_none() {
        return Err(Error::config("linux.seccomp.listenerPath", "SCMP_ACT_NOTIFY needs a listenerPath"));
    }
    if s.listener_metadata().is_some() && s.listener_path().is_none() {
        return Err(Error::config("linux.seccomp.listenerMetadata", "must not be set without listenerPath"));
    }
    let mut programs = programs_for(s, default.clone(), syscall_number)?;
    // 32-bit x86 (int 0x80, AUDIT_ARCH_I386) when the profile lists it, as libseccomp adds an
    // architecture: a second set of filters with the i386 numbers. Each set lets the other
    // architecture's calls pass; without SCMP_ARCH_X86 they are killed (libseccomp's bad-arch
    // action).
    if s.architectures().iter().flatten().any(|a| *a == oci_spec::runtime::Arch::ScmpArchX86) {
        if uses_notify {
            return Err(Error::config(
                "linux.seccomp.architectures",
                "SCMP_ACT_NOTIFY together with SCMP_ARCH_X86 is not supported (one listener per process)",
            ));
        }
        let mut x86 = programs_for(s, default, syscall_number_x86)?;
        for p in &mut programs {
            arch_prologue(p, None)?;
        }
        for p in &mut x86 {
            arch_prologue(p, Some(AUDIT_ARCH_I386))?;
        }
        programs.extend(x86);
    }
    let mut notify = None;
    for (i, prog) in programs.iter_mut().enumerate() {
        for ins in prog.iter_mut() {
            if ins.code == BPF_RET_K && ins.k == SECCOMP_RET_TRACE | NOTIFY_MARK {
                ins.k = SECCOMP_RET_USER_NOTIF;
                notify = Some(i);
            }
        }
    }
    let (mut flags, mut notify_flags) = (0, 0);
    for f in s.flags().iter().flatten() {
        flags |= match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            LinuxSeccompFilterFlag::SeccompFilterFlagWaitKillableRecv => {
                // Only meaningful (and only accepted) on the filter with the listener.
                notify_flags |= FLAG_WAIT_KILLABLE_RECV;
                0
            }
        };
    }
    Ok(Compiled { programs, flags, notify, notify_flags })
}

/// Install the filters (in order) on the calling process. Needs no_new_privs or CAP_SYS_ADMIN.
/// Returns the user-notification listener when the profile uses SCMP_ACT_NOTIFY.
pub fn install(c: &Compiled) -> Result<Option<std::os::fd::OwnedFd>> {
    let mut listener = None;
    for (i, prog) in c.programs.iter().enumerate() {
        let fprog = libc::sock_fprog { len: prog.len() as u16, filter: prog.as_ptr() as *mut libc::sock_filter };
        let flags = if c.notify == Some(i) {
            c.flags | c.notify_flags | libc::SECCOMP_FILTER_FLAG_NEW_LISTENER
        } else {
            c.flags
        };
        // SAFETY: `fprog` points at `prog`, which outlives the call; the kernel copies the program.
        let r = unsafe {
            libc::syscall(libc::SYS_seccomp, libc::SECCOMP_SET_MODE_FILTER, flags, &fprog as *const libc::sock_fprog)
        };
        if r < 0 {
            return Err(Error::sys("install seccomp filter", nix::errno::Errno::last()));
        }
        if c.notify == Some(i) {
            // SAFETY: with NEW_LISTENER the syscall returns a new descriptor owned by nobody else.
            listener = Some(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(r as i32) });
        }
    }
    Ok(listener)
}

/// Send the container process state and the listener to the seccomp agent at `path`
/// (config-linux.md "The Container Process State"): one message, JSON payload, the fd with
/// SCM_RIGHTS, then close.
pub fn send_to_agent(path: &std::path::Path, metadata: Option<&str>, pid: i32, state: serde_json::Value, listener: std::os::fd::RawFd) -> Result<()> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
    use std::os::fd::AsRawFd;
    let sock = crate::linux::console::connect_unix(path).map_err(|e| Error::Other(format!("seccomp agent {path:?}: {e}")))?;
    let mut msg = serde_json::json!({
        "ociVersion": crate::OCI_VERSION,
        "fds": ["seccompFd"],
        "pid": pid,
        "state": state,
    });
    if let Some(m) = metadata {
        msg["metadata"] = m.into();
    }
    let text = msg.to_string();
    let fds = [listener];
    let cmsg = [ControlMessage::ScmRights(&fds)];
    let iov = [std::io::IoSlice::new(text.as_bytes())];
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)
        .map_err(|e| Error::sys(format!("send the seccomp listener to the agent at {path:?}"), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x86_gets_its_own_filters_and_each_set_lets_the_other_pass() {
        let p: LinuxSeccomp = serde_json::from_value(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"],
            "syscalls": [{"names": ["getpid", "mmap2"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}]
        }))
        .unwrap();
        let c = compile(&p).unwrap();
        assert_eq!(c.programs.len(), 2, "one ERRNO filter per architecture");
        let archs: Vec<u32> = c.programs.iter().map(|p| p[1].k).collect();
        assert_eq!(archs, [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386]);
        assert!(c.programs.iter().all(|p| p[2].k == SECCOMP_RET_ALLOW));
        assert_eq!(syscall_number_x86("getpid"), Some(20));
        assert_eq!(syscall_number("mmap2"), None, "x86-only names exist in the i386 table only");
        // Without SCMP_ARCH_X86: x86_64 only, foreign calls killed.
        let mut q = p.clone();
        q.set_architectures(Some(vec![oci_spec::runtime::Arch::ScmpArchX86_64]));
        let c = compile(&q).unwrap();
        assert_eq!(c.programs.len(), 1);
        assert_eq!(c.programs[0][2].k, SECCOMP_RET_KILL_PROCESS);
    }

    #[test]
    fn syscall_table_resolves_names() {
        assert_eq!(syscall_number("read"), Some(0));
        assert_eq!(syscall_number("unshare"), Some(libc::SYS_unshare));
        assert_eq!(syscall_number("no_such_call"), None);
    }

    #[test]
    fn notify_needs_a_listener_and_becomes_user_notif() {
        let s: LinuxSeccomp = serde_json::from_str(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#).unwrap();
        let e = compile(&s).err().unwrap().to_string();
        assert!(e.contains("listenerPath"), "{e}");
        let s: LinuxSeccomp = serde_json::from_str(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/x",
                "syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
        )
        .unwrap();
        let c = compile(&s).unwrap();
        let p = &c.programs[c.notify.unwrap()];
        assert!(p.iter().any(|i| i.code == BPF_RET_K && i.k == SECCOMP_RET_USER_NOTIF));
        assert!(!p.iter().any(|i| i.k == SECCOMP_RET_TRACE | NOTIFY_MARK));
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
