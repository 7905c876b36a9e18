//! Device rules on cgroup v2: `linux.resources.devices` (then the default devices and runc's
//! default allow list, as on v1) compiled into a BPF_PROG_TYPE_CGROUP_DEVICE program.
//!
//! Semantics, the same as the v1 devices controller's list: rules apply in order, so the program
//! tests them last to first and the first match decides. An allow rule matches when it covers
//! every access requested (`r`, `w`, `m`), a deny rule when it covers any of them. A device no
//! rule matches is allowed (a new v1 cgroup allows everything too); configs start with a
//! deny-all rule, after which nothing before it is reachable and the program ends there.

use std::os::fd::AsFd;
use std::path::Path;

use nix::fcntl::OFlag;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Error, Result};
use crate::linux::bpf::{self, Insn, R0, R1};

// struct bpf_cgroup_dev_ctx: access_type = (access << 16) | type; major; minor.
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;
const ACC_ALL: i32 = ACC_MKNOD | ACC_READ | ACC_WRITE;
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

// Registers the program keeps the request in.
const R_ACCESS: u8 = 2;
const R_TYPE: u8 = 3;
const R_MAJOR: u8 = 4;
const R_MINOR: u8 = 5;
const R_TMP: u8 = 6;

#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub allow: bool,
    /// None: any type (`a`).
    pub typ: Option<i32>,
    /// None: any number (`*`).
    pub major: Option<i32>,
    pub minor: Option<i32>,
    pub access: i32,
}

impl Rule {
    const fn allow_char(major: i32, minor: Option<i32>, access: i32) -> Rule {
        Rule { allow: true, typ: Some(DEV_CHAR), major: Some(major), minor, access }
    }
}

fn access_bits(s: Option<&str>) -> std::result::Result<i32, String> {
    match s {
        None | Some("") => Ok(ACC_ALL),
        Some(s) => s.chars().try_fold(0, |acc, c| match c {
            'r' => Ok(acc | ACC_READ),
            'w' => Ok(acc | ACC_WRITE),
            'm' => Ok(acc | ACC_MKNOD),
            _ => Err(format!("access {s:?}: expected letters of \"rwm\"")),
        }),
    }
}

fn number(v: Option<i64>, what: &str) -> std::result::Result<Option<i32>, String> {
    match v {
        None | Some(-1) => Ok(None),
        Some(n) => i32::try_from(n).ok().filter(|n| *n >= 0).map(Some).ok_or_else(|| format!("{what} {n} out of range")),
    }
}

/// One config rule; `idx` names it in errors. Type `p` (a FIFO) has no device cgroup meaning and
/// gives None.
pub fn from_config(idx: usize, d: &LinuxDeviceCgroup) -> Result<Option<Rule>> {
    let bad = |m: String| Error::config(format!("linux.resources.devices[{idx}]"), m);
    let typ = match d.typ() {
        None | Some(LinuxDeviceType::A) => None,
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => Some(DEV_CHAR),
        Some(LinuxDeviceType::B) => Some(DEV_BLOCK),
        Some(LinuxDeviceType::P) => return Ok(None),
    };
    Ok(Some(Rule {
        allow: d.allow(),
        typ,
        major: number(d.major(), "major").map_err(bad)?,
        minor: number(d.minor(), "minor").map_err(bad)?,
        access: access_bits(d.access().as_deref()).map_err(bad)?,
    }))
}

/// The rules after the config's: the default devices, then runc's default allow list
/// (mknod of any device, /dev/console, /dev/pts/*, /dev/ptmx, /dev/net/tun).
pub fn default_rules() -> Vec<Rule> {
    let mut v: Vec<Rule> = crate::linux::devices::default_devices()
        .iter()
        .map(|d| Rule::allow_char(d.major as i32, Some(d.minor as i32), ACC_ALL))
        .collect();
    v.push(Rule { allow: true, typ: Some(DEV_CHAR), major: None, minor: None, access: ACC_MKNOD });
    v.push(Rule { allow: true, typ: Some(DEV_BLOCK), major: None, minor: None, access: ACC_MKNOD });
    v.push(Rule::allow_char(5, Some(1), ACC_ALL));
    v.push(Rule::allow_char(136, None, ACC_ALL));
    v.push(Rule::allow_char(5, Some(2), ACC_ALL));
    v.push(Rule::allow_char(10, Some(200), ACC_ALL));
    v
}

/// Compile `rules` (in config order) into the program.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        Insn::load_u32(R_ACCESS, R1, 0),
        Insn::mov_reg(R_TYPE, R_ACCESS),
        Insn::and_imm(R_TYPE, 0xffff),
        Insn::rsh_imm(R_ACCESS, 16),
        Insn::load_u32(R_MAJOR, R1, 4),
        Insn::load_u32(R_MINOR, R1, 8),
    ];
    for r in rules.iter().rev() {
        // Each test jumps past the end of this rule's block when the rule does not match.
        let mut block = Vec::new();
        let mut misses = Vec::new();
        if let Some(t) = r.typ {
            misses.push(block.len());
            block.push(Insn::jne_imm(R_TYPE, t, 0));
        }
        // allow: no access outside the rule's; deny: some access inside it.
        let mask = if r.allow { !r.access & ACC_ALL } else { r.access };
        if (r.allow && mask != 0) || (!r.allow && mask != ACC_ALL) {
            block.push(Insn::mov_reg(R_TMP, R_ACCESS));
            block.push(Insn::and_imm(R_TMP, mask));
            misses.push(block.len());
            block.push(if r.allow { Insn::jne_imm(R_TMP, 0, 0) } else { Insn::jeq_imm(R_TMP, 0, 0) });
        }
        for (reg, n) in [(R_MAJOR, r.major), (R_MINOR, r.minor)] {
            if let Some(n) = n {
                misses.push(block.len());
                block.push(Insn::jne_imm(reg, n, 0));
            }
        }
        block.push(Insn::mov_imm(R0, r.allow as i32));
        block.push(Insn::exit());
        let len = block.len();
        for i in &misses {
            block[*i].set_off((len - i - 1) as i16);
        }
        p.extend(block);
        if misses.is_empty() {
            // Matches everything: the rules before it (and the default) are unreachable, which
            // the verifier refuses.
            return p;
        }
    }
    p.push(Insn::mov_imm(R0, 1));
    p.push(Insn::exit());
    p
}

/// Compile the config's rules plus the defaults and attach the program to the cgroup `dir`.
pub fn apply(dir: &Path, devices: Option<&Vec<LinuxDeviceCgroup>>) -> Result<()> {
    let mut rules = Vec::new();
    for (i, d) in devices.into_iter().flatten().enumerate() {
        rules.extend(from_config(i, d)?);
    }
    rules.extend(default_rules());
    let insns = program(&rules);
    let err = |msg: String| Error::Cgroup { path: dir.to_path_buf(), msg };
    let prog = bpf::load_device_program(&insns)
        .map_err(|(e, log)| err(format!("device rules: load the eBPF program ({} instructions): {e}: {log}", insns.len())))?;
    let cg = crate::linux::open_fd(dir, OFlag::O_RDONLY | OFlag::O_DIRECTORY)
        .map_err(|e| err(format!("device rules: open the cgroup: {e}")))?;
    bpf::attach_device_program(cg.as_fd(), prog.as_fd()).map_err(|e| err(format!("device rules: attach the eBPF program: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reference interpreter for the few instructions `program` emits, so the compiled
    /// program's answers can be checked without a kernel.
    fn run(p: &[Insn], typ: i32, access: i32, major: i32, minor: i32) -> i64 {
        let mut r = [0i64; 11];
        let ctx = [((access << 16) | typ) as u32, major as u32, minor as u32];
        let mut pc = 0usize;
        loop {
            let (code, dst, src, off, imm) = p[pc].decode();
            let (dst, src) = (dst as usize, src as usize);
            pc += 1;
            match code {
                0x61 => r[dst] = ctx[off as usize / 4] as i64,
                0xbf => r[dst] = r[src],
                0xb7 => r[dst] = imm as i64,
                0x54 => r[dst] = ((r[dst] as u32) & imm as u32) as i64,
                0x74 => r[dst] = ((r[dst] as u32) >> imm) as i64,
                0x55 if r[dst] != imm as i64 => pc += off as usize,
                0x15 if r[dst] == imm as i64 => pc += off as usize,
                0x55 | 0x15 => {}
                0x95 => return r[0],
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    fn rule(allow: bool, typ: Option<i32>, major: Option<i32>, minor: Option<i32>, access: i32) -> Rule {
        Rule { allow, typ, major, minor, access }
    }

    #[test]
    fn last_matching_rule_decides() {
        let mut rules = vec![
            rule(false, None, None, None, ACC_ALL),
            rule(true, Some(DEV_CHAR), Some(10), Some(229), ACC_READ),
            rule(true, Some(DEV_BLOCK), Some(7), None, ACC_READ | ACC_WRITE),
            rule(false, Some(DEV_BLOCK), Some(7), Some(3), ACC_WRITE),
        ];
        rules.extend(default_rules());
        let p = program(&rules);
        let c = |acc, ma, mi| run(&p, DEV_CHAR, acc, ma, mi);
        let b = |acc, ma, mi| run(&p, DEV_BLOCK, acc, ma, mi);
        assert_eq!(c(ACC_READ, 10, 229), 1, "allowed read");
        assert_eq!(c(ACC_READ | ACC_WRITE, 10, 229), 0, "write not covered by an r rule");
        assert_eq!(c(ACC_READ, 10, 237), 0, "denied by deny-all");
        assert_eq!(c(ACC_READ | ACC_WRITE, 1, 3), 1, "/dev/null by default");
        assert_eq!(c(ACC_MKNOD, 10, 237), 1, "mknod of any char device (runc default)");
        assert_eq!(c(ACC_READ, 136, 4), 1, "/dev/pts/*");
        assert_eq!(b(ACC_READ, 7, 1), 1, "block 7:* r");
        assert_eq!(b(ACC_WRITE, 7, 3), 0, "later deny of 7:3 w");
        assert_eq!(b(ACC_READ, 7, 3), 1, "the deny covers only w");
        assert_eq!(b(ACC_READ, 8, 0), 0);
        // Nothing before the deny-all is emitted.
        assert_eq!(p.last(), Some(&Insn::exit()));
    }

    #[test]
    fn without_deny_all_everything_is_allowed() {
        let p = program(&[rule(false, Some(DEV_CHAR), Some(1), Some(3), ACC_WRITE)]);
        assert_eq!(run(&p, DEV_CHAR, ACC_WRITE, 1, 3), 0);
        assert_eq!(run(&p, DEV_CHAR, ACC_READ, 1, 3), 1);
        assert_eq!(run(&p, DEV_BLOCK, ACC_WRITE, 1, 3), 1);
    }

    #[test]
    fn bad_access_names_the_rule() {
        let d: LinuxDeviceCgroup = serde_json::from_value(serde_json::json!({"allow": true, "access": "rwx"})).unwrap();
        let e = from_config(3, &d).unwrap_err().to_string();
        assert!(e.contains("linux.resources.devices[3]") && e.contains("rwx"), "{e}");
    }
}
