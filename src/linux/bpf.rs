//! The few eBPF pieces hull needs: instruction encoding, loading a BPF_PROG_TYPE_CGROUP_DEVICE
//! program and attaching it to a cgroup. Raw bpf(2), no libbpf: the program is a handful of
//! compare-and-jump instructions (see `cgroups::device_filter`).
//!
//! No RLIMIT_MEMLOCK raise: since Linux 5.11 BPF memory is charged to the memory cgroup.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use nix::errno::Errno;

// From <linux/bpf.h>.
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// Registers.
pub const R0: u8 = 0;
pub const R1: u8 = 1;

/// One eBPF instruction (struct bpf_insn).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8, // dst in the low nibble, src in the high nibble
    off: i16,
    imm: i32,
}

impl Insn {
    const fn new(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn { code, regs: (src << 4) | (dst & 0x0f), off, imm }
    }
    /// dst = *(u32 *)(src + off)
    pub const fn load_u32(dst: u8, src: u8, off: i16) -> Insn {
        Insn::new(0x61, dst, src, off, 0) // BPF_LDX | BPF_MEM | BPF_W
    }
    /// dst = src (64 bit)
    pub const fn mov_reg(dst: u8, src: u8) -> Insn {
        Insn::new(0xbf, dst, src, 0, 0) // BPF_ALU64 | BPF_MOV | BPF_X
    }
    /// dst = imm (64 bit)
    pub const fn mov_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(0xb7, dst, 0, 0, imm) // BPF_ALU64 | BPF_MOV | BPF_K
    }
    /// dst &= imm (32 bit; clears the upper half)
    pub const fn and_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(0x54, dst, 0, 0, imm) // BPF_ALU | BPF_AND | BPF_K
    }
    /// dst >>= imm (32 bit)
    pub const fn rsh_imm(dst: u8, imm: i32) -> Insn {
        Insn::new(0x74, dst, 0, 0, imm) // BPF_ALU | BPF_RSH | BPF_K
    }
    /// if dst != imm: skip `off` instructions
    pub const fn jne_imm(dst: u8, imm: i32, off: i16) -> Insn {
        Insn::new(0x55, dst, 0, off, imm) // BPF_JMP | BPF_JNE | BPF_K
    }
    /// if dst == imm: skip `off` instructions
    pub const fn jeq_imm(dst: u8, imm: i32, off: i16) -> Insn {
        Insn::new(0x15, dst, 0, off, imm) // BPF_JMP | BPF_JEQ | BPF_K
    }
    pub const fn exit() -> Insn {
        Insn::new(0x95, 0, 0, 0, 0) // BPF_JMP | BPF_EXIT
    }
    /// (code, dst, src, off, imm)
    pub fn decode(&self) -> (u8, u8, u8, i16, i32) {
        (self.code, self.regs & 0x0f, self.regs >> 4, self.off, self.imm)
    }
    pub fn set_off(&mut self, off: i16) {
        self.off = off;
    }
}

/// bpf(2) with an attribute block: the kernel accepts a larger block whose unknown tail is zero.
fn bpf(cmd: libc::c_long, attr: &mut [u64; 16]) -> Result<i64, Errno> {
    // SAFETY: `attr` is a zero-initialised 128-byte block laid out as the kernel's union
    // bpf_attr for `cmd`; it lives across the call and its exact size is passed.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), std::mem::size_of_val(attr)) };
    Errno::result(r)
}

/// Load a cgroup device program. On failure the verifier's log is returned with the error.
pub fn load_device_program(insns: &[Insn]) -> Result<OwnedFd, (Errno, String)> {
    let license = c"Apache-2.0";
    let attempt = |log: Option<&mut [u8]>| {
        let mut attr = [0u64; 16];
        // prog_type (u32 @0), insn_cnt (u32 @4), insns (u64 @8), license (u64 @16),
        // log_level (u32 @24), log_size (u32 @28), log_buf (u64 @32).
        attr[0] = BPF_PROG_TYPE_CGROUP_DEVICE as u64 | (insns.len() as u64) << 32;
        attr[1] = insns.as_ptr() as u64;
        attr[2] = license.as_ptr() as u64;
        if let Some(log) = log {
            attr[3] = 1 | (log.len() as u64) << 32;
            attr[4] = log.as_mut_ptr() as u64;
        }
        bpf(BPF_PROG_LOAD, &mut attr)
    };
    let fd = match attempt(None) {
        Ok(fd) => fd,
        // Load again with the verifier log (made only now), only to explain the failure.
        Err(e) => {
            let mut log = vec![0u8; 64 * 1024];
            let _ = attempt(Some(&mut log));
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            return Err((e, String::from_utf8_lossy(&log[..end]).trim().to_string()));
        }
    };
    // SAFETY: BPF_PROG_LOAD just returned this descriptor; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attach a device program to the cgroup open as `cgroup`, beside any others (BPF_F_ALLOW_MULTI:
/// a device must then be allowed by every program, this one and the parents').
pub fn attach_device_program(cgroup: BorrowedFd, prog: BorrowedFd) -> Result<(), Errno> {
    let mut attr = [0u64; 16];
    // target_fd (u32 @0), attach_bpf_fd (u32 @4), attach_type (u32 @8), attach_flags (u32 @12).
    attr[0] = cgroup.as_raw_fd() as u32 as u64 | (prog.as_raw_fd() as u32 as u64) << 32;
    attr[1] = BPF_CGROUP_DEVICE as u64 | (BPF_F_ALLOW_MULTI as u64) << 32;
    bpf(BPF_PROG_ATTACH, &mut attr).map(|_| ())
}
