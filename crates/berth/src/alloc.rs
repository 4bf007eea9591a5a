//! The global allocator: mimalloc (v2), called as its own C API is meant to be called.
//!
//! The `mimalloc` crate passes every layout to `mi_malloc_aligned`, whose checks make a small
//! allocation about twice the instructions of `mi_malloc` (a profile of a 300-document render
//! showed 6% of all instructions there). mimalloc's blocks are word multiples in word-aligned
//! pages, so a layout aligned to a word at most takes the plain calls; larger alignments keep the
//! aligned ones.

use libmimalloc_sys as mi;
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// What every mimalloc block is aligned to.
const WORD: usize = std::mem::size_of::<usize>();

pub struct MiMalloc;

/// A block for `layout` from the plain call where every block has its alignment, else from the
/// aligned one.
///
/// # Safety
/// `plain` and `aligned` are mimalloc's allocation calls of one kind (both zeroing or neither).
unsafe fn allocate(
    layout: Layout,
    plain: unsafe extern "C" fn(usize) -> *mut c_void,
    aligned: unsafe extern "C" fn(usize, usize) -> *mut c_void,
) -> *mut u8 {
    // SAFETY: mimalloc's allocation calls take any size and alignment; null reports failure.
    unsafe {
        if layout.align() <= WORD {
            plain(layout.size()) as *mut u8
        } else {
            aligned(layout.size(), layout.align()) as *mut u8
        }
    }
}

// SAFETY: each method hands the layout's size and alignment to the mimalloc call that honours
// them (plain calls only where every block already has that alignment), and frees with mi_free,
// which takes blocks from all of them.
unsafe impl GlobalAlloc for MiMalloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `allocate` asks.
        unsafe { allocate(layout, mi::mi_malloc, mi::mi_malloc_aligned) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as `allocate` asks.
        unsafe { allocate(layout, mi::mi_zalloc, mi::mi_zalloc_aligned) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator, so from mimalloc.
        unsafe { mi::mi_free(ptr as *mut c_void) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator with `layout`'s alignment.
        unsafe {
            if layout.align() <= WORD {
                mi::mi_realloc(ptr as *mut c_void, new_size) as *mut u8
            } else {
                mi::mi_realloc_aligned(ptr as *mut c_void, new_size, layout.align()) as *mut u8
            }
        }
    }
}

/// Whether the heap's fresh memory may come as 2 MiB pages (transparent huge pages: mimalloc
/// asks for them on its arena). They pay for a large render (fewer page faults: a
/// 3,000-document folder 29 against 36 ms, victoria-metrics-k8s-stack 83 against 94 ms) and cost
/// a small one: each is cleared whole when first touched, most of it unused (0.1-0.2 ms each,
/// one per thread and more; a 300-document folder 5.3 against 4.9 ms). The setting is the
/// process's and its children's: only a command that starts none turns them off.
pub fn huge_pages(on: bool) {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE changes only whether later page faults of this process may
    // map huge pages; it takes no pointers.
    unsafe {
        nix::libc::prctl(
            nix::libc::PR_SET_THP_DISABLE,
            nix::libc::c_ulong::from(!on),
            0,
            0,
            0,
        );
    }
    #[cfg(not(target_os = "linux"))]
    let _ = on;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every alignment and size class gets a block aligned as asked, zeroed where asked, and
    /// keeps its bytes through a reallocation.
    #[test]
    fn blocks_are_aligned_zeroed_and_kept() {
        let a = MiMalloc;
        for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
            for size in [1, 7, 8, 9, 16, 24, 40, 100, 1000, 5000, 70_000, 1 << 20] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: non-zero sizes; each block is freed with its layout.
                unsafe {
                    let p = a.alloc(layout);
                    assert!(
                        !p.is_null() && (p as usize).is_multiple_of(align),
                        "{size} {align}"
                    );
                    p.write_bytes(0xAB, size);
                    let q = a.realloc(p, layout, size * 3);
                    assert!(
                        !q.is_null() && (q as usize).is_multiple_of(align),
                        "{size} {align}"
                    );
                    assert!((0..size).all(|i| *q.add(i) == 0xAB));
                    a.dealloc(q, Layout::from_size_align(size * 3, align).unwrap());
                    let z = a.alloc_zeroed(layout);
                    assert!(
                        (z as usize).is_multiple_of(align) && (0..size).all(|i| *z.add(i) == 0)
                    );
                    a.dealloc(z, layout);
                }
            }
        }
    }
}
