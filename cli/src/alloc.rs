//! The binary's global allocator: the system allocator, except that very large
//! allocations are *reserved* (mmap with MAP_NORESERVE) rather than committed.
//!
//! Why: the `kafka-protocol` decoder sizes a `Vec` from an array's declared element
//! count before reading the elements. A malformed frame declaring 2^31 elements would
//! ask for hundreds of GB, the system allocator would fail, and Rust aborts the whole
//! process on allocation failure. Reserved address space costs nothing until touched;
//! the decode then fails on the short buffer, the vector is dropped, and only that
//! connection is closed (see broker/tests/versions.rs and tests/clients/test_raw_protocol.py).
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr::null_mut;

/// Allocations from this size up are reserved lazily.
const LARGE: usize = 1 << 30;
const PAGE: usize = 4096;

pub struct ReserveLarge;

fn is_large(layout: &Layout) -> bool {
    layout.size() >= LARGE && layout.align() <= PAGE
}

// SAFETY: every method upholds GlobalAlloc's contract: large blocks come from mmap
// (page-aligned, zeroed, at least `size` bytes) and are returned with munmap of the
// same size; everything else goes to the system allocator unchanged.
unsafe impl GlobalAlloc for ReserveLarge {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !is_large(&layout) {
            return unsafe { System.alloc(layout) };
        }
        let p = unsafe {
            libc::mmap(
                null_mut(),
                layout.size(),
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            null_mut()
        } else {
            p.cast()
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(&layout) {
            // Fresh anonymous mappings are already zeroed.
            unsafe { self.alloc(layout) }
        } else {
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(&layout) {
            unsafe { libc::munmap(ptr.cast(), layout.size()) };
        } else {
            unsafe { System.dealloc(ptr, layout) }
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return null_mut();
        };
        if !is_large(&layout) && !is_large(&new_layout) {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}
