//! The global allocator of the musl build: dlmalloc (the allocator Rust's standard library uses
//! on wasm), as the crate's own `GlobalDlmalloc` gives it, but behind a spin lock on one atomic
//! flag. `GlobalDlmalloc` locks a pthread mutex, and musl's lock and unlock are calls of about
//! 90 instructions with two locked operations: 15 % of the instructions of a `hull state`
//! (callgrind), on every allocation and free, and about 4 % of the CPU of a `run`. hull is
//! single-threaded, so the lock is never contended; it stays so that a thread some library
//! might start could never corrupt the heap. (Mapping the heap with MAP_POPULATE, to spare its
//! page faults, measured level with this and is not done.)

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

/// dlmalloc behind a spin lock.
pub struct Heap {
    locked: AtomicBool,
    dl: UnsafeCell<dlmalloc::Dlmalloc>,
}

// SAFETY: `dl` is only reached with `locked` held (see `with`).
unsafe impl Sync for Heap {}

impl Heap {
    pub const fn new() -> Heap {
        Heap { locked: AtomicBool::new(false), dl: UnsafeCell::new(dlmalloc::Dlmalloc::new()) }
    }

    #[inline]
    fn with<T>(&self, f: impl FnOnce(&mut dlmalloc::Dlmalloc) -> T) -> T {
        while self.locked.compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
            core::hint::spin_loop();
        }
        // SAFETY: the flag is ours until the store below, so nothing else reaches `dl`; dlmalloc
        // never calls back into the global allocator.
        let r = f(unsafe { &mut *self.dl.get() });
        self.locked.store(false, Ordering::Release);
        r
    }
}

impl Default for Heap {
    fn default() -> Heap {
        Heap::new()
    }
}

// SAFETY: every method forwards to dlmalloc's own, whose contracts are GlobalAlloc's. Not
// inlined: the lock inlined at every allocation site made the code 700 KB larger.
unsafe impl GlobalAlloc for Heap {
    #[inline(never)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        self.with(|dl| unsafe { dl.malloc(layout.size(), layout.align()) })
    }

    #[inline(never)]
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        self.with(|dl| unsafe { dl.free(p, layout.size(), layout.align()) })
    }

    #[inline(never)]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        self.with(|dl| unsafe { dl.calloc(layout.size(), layout.align()) })
    }

    #[inline(never)]
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        self.with(|dl| unsafe { dl.realloc(p, layout.size(), layout.align(), new_size) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_keep_their_bytes_and_alignment_through_realloc() {
        let heap = Heap::new();
        let mut blocks = Vec::new();
        for (i, align) in [8usize, 16, 64, 4096].iter().cycle().take(64).enumerate() {
            let layout = Layout::from_size_align(24 + i * 40, *align).unwrap();
            // SAFETY: a non-zero size; the block is filled within its size.
            let p = unsafe { heap.alloc(layout) };
            assert!(!p.is_null() && p as usize % align == 0, "block {i} misaligned");
            unsafe { core::ptr::write_bytes(p, i as u8, layout.size()) };
            blocks.push((p, layout, i as u8));
        }
        for (p, layout, fill) in blocks.iter_mut() {
            // SAFETY: `p` came from this heap with `layout`; the new size is larger.
            let q = unsafe { heap.realloc(*p, *layout, layout.size() * 3) };
            assert!(!q.is_null() && q as usize % layout.align() == 0);
            let kept = unsafe { core::slice::from_raw_parts(q, layout.size()) };
            assert!(kept.iter().all(|b| b == fill), "realloc lost the bytes of block {fill}");
            *p = q;
            *layout = Layout::from_size_align(layout.size() * 3, layout.align()).unwrap();
        }
        for (p, layout, _) in blocks {
            // SAFETY: each block is freed once, with the layout it now has.
            unsafe { heap.dealloc(p, layout) };
        }
        let zeroed = Layout::from_size_align(1000, 8).unwrap();
        // SAFETY: as above.
        let z = unsafe { heap.alloc_zeroed(zeroed) };
        assert!(unsafe { core::slice::from_raw_parts(z, 1000) }.iter().all(|b| *b == 0));
        unsafe { heap.dealloc(z, zeroed) };
        assert!(!heap.locked.load(Ordering::Relaxed), "the lock was left held");
    }
}
