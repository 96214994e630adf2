//! berth's global allocator: a bump arena in .bss for a command's first few MiB, then the C
//! library's allocator.
//!
//! Why hand-written: a berth command lives a few milliseconds, makes about two thousand small
//! allocations (parsing config.json, building paths, formatting state JSON) and frees them all
//! at exit. musl's allocator, which the static release build links, spent about 0.25 ms of
//! every `berth run` in malloc/free (`perf record` of a `run` loop: get_meta, enframe,
//! alloc_group...). Here an allocation is one atomic add; a free gives memory back only when it
//! was the latest allocation (the common temporary string), else nothing until exit. The
//! arena is bounded, so a long-lived command (`events --interval`, a foreground `run` proxying a
//! terminal) falls back on the system allocator, which frees as usual, once it is used up.
//!
//! Fork safety: no lock anywhere, so the init and an exec'd process (raw clones of a process
//! that may be in the middle of nothing else: berth is single-threaded) allocate safely; each
//! clone then bumps its own copy of the offset.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Large enough for every short command (a `run` allocates about 0.6 MiB in total), small
/// enough that the pages it touches stay below the system allocator's peak for the same work.
const SIZE: usize = 4 << 20;

#[repr(C, align(4096))]
struct Space(UnsafeCell<[u8; SIZE]>);

// SAFETY: the bytes are handed out in disjoint ranges by the atomic offset below; no two
// allocations share a byte.
unsafe impl Sync for Space {}

static SPACE: Space = Space(UnsafeCell::new([0; SIZE]));
/// Offset of the first free byte of SPACE. A block given back (Release) may be handed out again
/// to another thread (Acquire): its last owner's writes happen before the new owner's.
static NEXT: AtomicUsize = AtomicUsize::new(0);

pub struct Arena;

fn base() -> usize {
    SPACE.0.get() as usize
}

fn owns(ptr: *mut u8) -> bool {
    let p = ptr as usize;
    p >= base() && p < base() + SIZE
}

impl Arena {
    /// A block of `layout` from the arena, or None when it does not fit.
    fn bump(&self, layout: Layout) -> Option<*mut u8> {
        let base = base();
        let mut cur = NEXT.load(Ordering::Acquire);
        loop {
            let start = (base + cur).checked_next_multiple_of(layout.align())? - base;
            let end = start.checked_add(layout.size())?;
            if end > SIZE {
                return None;
            }
            match NEXT.compare_exchange_weak(cur, end, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some((base + start) as *mut u8),
                Err(now) => cur = now,
            }
        }
    }
}

// SAFETY: every pointer returned is either a fresh, exclusive, suitably aligned range of SPACE
// (the offset only moves past it while it is live) or the system allocator's own; dealloc and
// realloc tell the two apart by address.
unsafe impl GlobalAlloc for Arena {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match self.bump(layout) {
            Some(p) => p,
            // SAFETY: the caller's layout contract is passed on unchanged.
            None => unsafe { System.alloc(layout) },
        }
    }

    // SAFETY (caller's contract, GlobalAlloc): ptr came from this allocator with this layout.
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if !owns(ptr) {
            // SAFETY: not the arena's, so it came from System.alloc/realloc with this layout.
            return unsafe { System.dealloc(ptr, layout) };
        }
        // The latest allocation goes back; anything else stays until exit.
        let start = ptr as usize - base();
        let _ = NEXT.compare_exchange(
            start + layout.size(),
            start,
            Ordering::Release,
            Ordering::Relaxed,
        );
    }

    // SAFETY (caller's contract, GlobalAlloc): ptr came from this allocator with this layout,
    // and new_size is non-zero.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !owns(ptr) {
            // SAFETY: not the arena's: System's, with this layout.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        let start = ptr as usize - base();
        // The latest allocation grows (or shrinks) where it is.
        if let Some(end) = start.checked_add(new_size).filter(|&e| e <= SIZE) {
            if NEXT
                .compare_exchange(
                    start + layout.size(),
                    end,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                return ptr;
            }
        }
        if new_size <= layout.size() {
            return ptr;
        }
        // SAFETY: new_size is non-zero (it is larger than an existing size) and the alignment
        // is the old, valid one.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        // SAFETY: as alloc.
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            // SAFETY: both ranges are live, distinct allocations at least layout.size() long.
            unsafe { std::ptr::copy_nonoverlapping(ptr, new, layout.size()) };
            // SAFETY: ptr is the arena's, with this layout.
            unsafe { self.dealloc(ptr, layout) };
        }
        new
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_block_is_reused_and_grows_in_place() {
        let a = Arena;
        let l = Layout::from_size_align(24, 8).unwrap();
        // SAFETY: layouts are valid and non-zero; every pointer is freed with its layout.
        unsafe {
            let p = a.alloc(l);
            assert!(owns(p) && p as usize % 8 == 0);
            let q = a.realloc(p, l, 100);
            assert!(owns(q));
            let l100 = Layout::from_size_align(100, 8).unwrap();
            q.write_bytes(7, 100);
            let r = a.alloc(Layout::from_size_align(16, 16).unwrap());
            assert_eq!(r as usize % 16, 0);
            // q is no longer the latest: growing it copies.
            let s = a.realloc(q, l100, 200);
            assert_ne!(s, q);
            assert_eq!(*s.add(99), 7);
            a.dealloc(s, Layout::from_size_align(200, 8).unwrap());
            a.dealloc(r, Layout::from_size_align(16, 16).unwrap());
        }
    }

    #[test]
    fn too_large_goes_to_the_system() {
        let a = Arena;
        let l = Layout::from_size_align(SIZE + 1, 8).unwrap();
        // SAFETY: valid non-zero layout, freed with it.
        unsafe {
            let p = a.alloc(l);
            assert!(!p.is_null() && !owns(p));
            a.dealloc(p, l);
        }
    }
}
