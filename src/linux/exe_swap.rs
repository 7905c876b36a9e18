//! Run from the sealed view of hull's binary without executing it again.
//!
//! `seal` makes a view of the binary that nobody can write (a read-only overlayfs file, or a
//! sealed memfd copy) and used to re-execute hull from it: a second execve, the C library's
//! start-up again (glibc's, whose cpuid instructions trap in a VM, when hull was built on it)
//! and every page faulted in again, about half a millisecond of each create, run and exec.
//! Here the running process moves onto the view instead:
//!
//! 1. The view must hold the very bytes this process runs: its first page (ELF header, program
//!    headers and build-id note) must equal the loaded image's.
//! 2. Each read-only segment (code, read-only data) is mapped again from the view, at the same
//!    address with the same offset: the same bytes replace the same bytes in one mmap call.
//! 3. Each writable segment (data, and the RELRO part made read-only after start-up) holds what
//!    this process wrote: it is copied into anonymous memory, which mremap then moves over the
//!    original range. Nothing may write there between the copy and the move: that code calls
//!    only mprotect and mremap, and allocates nothing (malloc's state lives in that data).
//! 4. No mapping of the host's file is left, so the kernel lets /proc/self/exe point at the view
//!    (PR_SET_MM_MAP with the memory map's bounds unchanged: it needs CAP_SYS_ADMIN or
//!    CAP_CHECKPOINT_RESTORE in this user namespace, where PR_SET_MM_EXE_FILE would need
//!    CAP_SYS_RESOURCE in the initial one, which containers often lack).
//!
//! Afterwards nothing the process maps or links to is the host's binary: /proc/PID/exe and a
//! `#!/proc/self/exe` interpreter give the view, as after an execve of it. Any failure leaves
//! the process working (the bytes never change) and `seal` falls back to the execve.

use std::fs::File;
use std::os::fd::AsRawFd;

use nix::errno::Errno;

const PAGE: usize = 4096;

/// Move this process onto `view`, a sealed view of its own binary. Single-threaded callers only
/// (every clone of hull is made after this).
pub fn swap(view: &File) -> Result<(), String> {
    crate::fault::point("seal-in-place", None).map_err(|e| e.to_string())?;
    let segments = Segments::of_running_image()?;
    segments.check_same_bytes(view)?;
    segments.remap_read_only(view)?;
    segments.move_writable_to_anonymous()?;
    set_exe_file(view)
}

/// Make the running image's RELRO range (GOT, .init_array, .data.rel.ro: written only while
/// relocating, which a static non-PIE binary never does) read-only, as glibc's start-up does and
/// musl's static start-up does not. Every verb calls it first; `swap` keeps it so.
pub fn protect_relro() {
    let Ok(segments) = Segments::of_running_image() else { return };
    if let Some((a, b)) = segments.relro().filter(|&(a, b)| a < b) {
        // SAFETY: [a, b) is the image's own RELRO range, whole pages of a mapped segment that no
        // code writes after start-up.
        unsafe { libc::mprotect(a as *mut libc::c_void, b - a, libc::PROT_READ) };
    }
}

fn last_error(what: &str) -> String {
    format!("{what}: {}", crate::error::errno_text(Errno::last()))
}

/// The running image's program headers, from the auxiliary vector.
struct Segments {
    headers: &'static [libc::Elf64_Phdr],
    /// Load bias (0 for hull's non-PIE build).
    bias: usize,
}

const fn trunc(a: usize) -> usize {
    a & !(PAGE - 1)
}

const fn round(a: usize) -> usize {
    (a + PAGE - 1) & !(PAGE - 1)
}

impl Segments {
    fn of_running_image() -> Result<Segments, String> {
        // SAFETY: getauxval only reads the auxiliary vector.
        let (phdr, phnum) = unsafe { (libc::getauxval(libc::AT_PHDR) as usize, libc::getauxval(libc::AT_PHNUM) as usize) };
        if phdr == 0 || phnum == 0 {
            return Err("the auxiliary vector has no program headers".into());
        }
        // SAFETY: AT_PHDR is the address of the PHNUM program headers of the running image,
        // mapped read-only for the life of the process.
        let headers = unsafe { std::slice::from_raw_parts(phdr as *const libc::Elf64_Phdr, phnum) };
        let bias = headers.iter().find(|p| p.p_type == libc::PT_PHDR).map(|p| phdr.wrapping_sub(p.p_vaddr as usize)).unwrap_or(0);
        let segments = Segments { headers, bias };
        // Page ranges must not overlap: a page shared by two segments could not be remapped for
        // one of them alone.
        let mut ranges: Vec<(usize, usize)> = segments.loads().map(|p| segments.file_pages(p)).collect();
        ranges.sort_unstable();
        if ranges.windows(2).any(|w| w[0].1 > w[1].0) {
            return Err("two segments share a page".into());
        }
        Ok(segments)
    }

    fn loads(&self) -> impl Iterator<Item = &libc::Elf64_Phdr> {
        self.headers.iter().filter(|p| p.p_type == libc::PT_LOAD)
    }

    /// The pages of a segment that map the file.
    fn file_pages(&self, p: &libc::Elf64_Phdr) -> (usize, usize) {
        let start = p.p_vaddr as usize + self.bias;
        (trunc(start), round(start + p.p_filesz as usize))
    }

    fn check_same_bytes(&self, view: &File) -> Result<(), String> {
        let first = self.loads().find(|p| p.p_offset == 0).ok_or("no segment maps the ELF header")?;
        let has_build_id = self.headers.iter().any(|p| p.p_type == libc::PT_NOTE && (p.p_offset + p.p_filesz) as usize <= PAGE);
        let len = PAGE.min(first.p_filesz as usize);
        if !has_build_id || len < std::mem::size_of::<libc::Elf64_Ehdr>() {
            return Err("the binary has no build-id note in its first page".into());
        }
        let mut head = vec![0u8; len];
        std::os::unix::fs::FileExt::read_exact_at(view, &mut head, 0).map_err(|e| format!("read the sealed view: {e}"))?;
        // SAFETY: the segment at file offset 0 maps the file's first `len` bytes read-only here.
        let loaded = unsafe { std::slice::from_raw_parts((first.p_vaddr as usize).wrapping_add(self.bias) as *const u8, len) };
        if head != loaded {
            return Err("the sealed view is not the binary this process runs".into());
        }
        Ok(())
    }

    fn remap_read_only(&self, view: &File) -> Result<(), String> {
        for p in self.loads().filter(|p| p.p_flags & libc::PF_W == 0) {
            if p.p_memsz != p.p_filesz {
                return Err("a read-only segment is larger in memory than in the file".into());
            }
            let (start, end) = self.file_pages(p);
            let prot = libc::PROT_READ | if p.p_flags & libc::PF_X != 0 { libc::PROT_EXEC } else { 0 };
            // SAFETY: the same bytes of the same file (checked) replace this range's mapping in
            // one call: code and data there read the same before and after, including the code
            // running this call.
            let r = unsafe {
                libc::mmap(start as *mut _, end - start, prot, libc::MAP_PRIVATE | libc::MAP_FIXED, view.as_raw_fd(), trunc(p.p_offset as usize) as libc::off_t)
            };
            if r == libc::MAP_FAILED {
                return Err(last_error("map a segment from the sealed view"));
            }
        }
        Ok(())
    }

    /// The whole pages of the RELRO range (its end rounded down, as glibc does).
    fn relro(&self) -> Option<(usize, usize)> {
        self.headers.iter().find(|p| p.p_type == libc::PT_GNU_RELRO).map(|p| {
            let a = p.p_vaddr as usize + self.bias;
            (trunc(a), trunc(a + p.p_memsz as usize))
        })
    }

    fn move_writable_to_anonymous(&self) -> Result<(), String> {
        // The RELRO range stays read-only (protect_relro).
        let relro = self.relro();
        const RW: i32 = libc::PROT_READ | libc::PROT_WRITE;
        for p in self.loads().filter(|p| p.p_flags & libc::PF_W != 0) {
            let (start, end) = self.file_pages(p);
            let parts = match relro.filter(|&(a, b)| a >= start && b <= end && a < b) {
                Some((a, b)) => [(start, a, RW), (a, b, libc::PROT_READ), (b, end, RW)],
                None => [(start, end, RW), (end, end, RW), (end, end, RW)],
            };
            let len = end - start;
            // Populated at once: the copy writes every page of it, one page fault each otherwise.
            // SAFETY: a fresh anonymous mapping.
            let copy = unsafe { libc::mmap(std::ptr::null_mut(), len, RW, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE, -1, 0) };
            if copy == libc::MAP_FAILED {
                return Err(last_error("map anonymous memory for the data"));
            }
            // From here to the last mremap nothing may write to [start, end): no allocation, no
            // formatting (an error is formatted after the loop).
            // SAFETY: both ranges are mapped, readable, `len` long and disjoint.
            unsafe { std::ptr::copy_nonoverlapping(start as *const u8, copy as *mut u8, len) };
            let mut failed = None;
            for (i, &(a, b, prot)) in parts.iter().enumerate().filter(|(_, &(a, b, _))| a < b) {
                let src = copy as usize + (a - start);
                // SAFETY: protects, then moves, part of the copy over the same range of the
                // original, which holds the same bytes (nothing wrote there since the copy).
                let moved = unsafe {
                    libc::mprotect(src as *mut _, b - a, prot) == 0
                        && libc::mremap(src as *mut _, b - a, b - a, libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED, a as *mut libc::c_void)
                            != libc::MAP_FAILED
                };
                if !moved {
                    failed = Some((i, Errno::last()));
                    break;
                }
            }
            if let Some((i, e)) = failed {
                return Err(format!("move part {i} of the data into anonymous memory: {}", crate::error::errno_text(e)));
            }
        }
        Ok(())
    }
}

/// Point /proc/self/exe at `view` with PR_SET_MM_MAP, which also sets the memory map's bounds:
/// they are given unchanged, from /proc/self/stat and brk(0).
fn set_exe_file(view: &File) -> Result<(), String> {
    /// `struct prctl_mm_map` of <linux/prctl.h>.
    #[repr(C)]
    struct MmMap {
        start_code: u64,
        end_code: u64,
        start_data: u64,
        end_data: u64,
        start_brk: u64,
        brk: u64,
        start_stack: u64,
        arg_start: u64,
        arg_end: u64,
        env_start: u64,
        env_end: u64,
        auxv: u64,
        auxv_size: u32,
        exe_fd: u32,
    }
    const PR_SET_MM_MAP: libc::c_ulong = 14;
    let stat = std::fs::read_to_string("/proc/self/stat").map_err(|e| format!("read /proc/self/stat: {e}"))?;
    // The fields after the command name (which may hold spaces and parentheses); the first of
    // them is field 3.
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).ok_or("unreadable /proc/self/stat")?;
    let fields: Vec<u64> = rest.split_ascii_whitespace().map(|v| v.parse().unwrap_or(0)).collect();
    let field = |n: usize| fields.get(n - 3).copied().filter(|v| *v != 0).ok_or_else(|| format!("/proc/self/stat: no field {n}"));
    let mut map = MmMap {
        start_code: field(26)?,
        end_code: field(27)?,
        start_stack: field(28)?,
        start_data: field(45)?,
        end_data: field(46)?,
        start_brk: field(47)?,
        arg_start: field(48)?,
        arg_end: field(49)?,
        env_start: field(50)?,
        env_end: field(51)?,
        brk: 0,
        auxv: 0,
        auxv_size: 0,
        exe_fd: view.as_raw_fd() as u32,
    };
    // Last, with no allocation between it and the prctl, which sets the break to this value.
    // SAFETY: brk(0) changes nothing and returns the current break.
    map.brk = unsafe { libc::syscall(libc::SYS_brk, 0usize) } as u64;
    // SAFETY: the kernel reads size_of::<MmMap>() bytes of `map`, which outlives the call.
    let r = unsafe {
        libc::prctl(libc::PR_SET_MM, PR_SET_MM_MAP, &map as *const MmMap as libc::c_ulong, std::mem::size_of::<MmMap>() as libc::c_ulong, 0)
    };
    if r != 0 {
        return Err(last_error("prctl(PR_SET_MM_MAP) to point /proc/self/exe at the sealed view"));
    }
    Ok(())
}
