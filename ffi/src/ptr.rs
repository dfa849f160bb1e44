//! Checked conversions from the raw pointers of the C ABI.

use rtsched::Scheduler;

/// Marks memory initialised by [`crate::rtsched_init`] ("RTSCHED\0").
pub(crate) const MAGIC: u64 = 0x0044_4548_4353_5452;

/// An initialised instance, placed at the start of the caller's memory.
#[repr(C)]
pub(crate) struct Instance {
    pub(crate) magic: u64,
    pub(crate) sched: Scheduler<'static>,
}

/// Opaque handle of an instance for C.
pub struct Rtsched {
    _private: [u8; 0],
}

fn aligned<T>(p: *const T) -> bool {
    !p.is_null() && (p as usize).is_multiple_of(core::mem::align_of::<T>())
}

/// The instance behind `p`, if `p` is non-null, aligned and initialised.
///
/// # Safety
/// `p` must be null or point to memory that was passed to `rtsched_init` (or to readable
/// memory of at least `size_of::<Instance>()` bytes), not accessed concurrently.
pub(crate) unsafe fn inst<'a>(p: *const Rtsched) -> Option<&'a Instance> {
    let p = p as *const Instance;
    if !aligned(p) {
        return None;
    }
    // SAFETY: non-null and aligned; the caller guarantees it is readable. The magic field
    // is the first u64, read before anything else is trusted.
    let magic = unsafe { core::ptr::read(p as *const u64) };
    if magic != MAGIC {
        return None;
    }
    // SAFETY: the magic shows `rtsched_init` wrote a valid `Instance` here.
    Some(unsafe { &*p })
}

/// Mutable variant of [`inst`].
///
/// # Safety
/// As [`inst`], and no other reference to the instance may be live (the host's lock).
pub(crate) unsafe fn inst_mut<'a>(p: *mut Rtsched) -> Option<&'a mut Instance> {
    let p = p as *mut Instance;
    if !aligned(p) {
        return None;
    }
    // SAFETY: as in `inst`.
    let magic = unsafe { core::ptr::read(p as *const u64) };
    if magic != MAGIC {
        return None;
    }
    // SAFETY: initialised (magic) and exclusively ours under the host's lock.
    Some(unsafe { &mut *p })
}

/// A writable output location, if `p` is non-null and aligned.
///
/// # Safety
/// `p` must be null or valid for writes of a `T`.
pub(crate) unsafe fn out<'a, T>(p: *mut T) -> Option<&'a mut T> {
    if aligned(p) {
        // SAFETY: non-null, aligned, writable by the caller's contract; `T` is a plain
        // `repr(C)` value type for which every bit pattern we write is valid.
        Some(unsafe { &mut *p })
    } else {
        None
    }
}

/// A readable input, if `p` is non-null and aligned.
///
/// # Safety
/// `p` must be null or valid for reads of a `T` holding a valid value.
pub(crate) unsafe fn input<T: Copy>(p: *const T) -> Option<T> {
    if aligned(p) {
        // SAFETY: non-null, aligned, readable by the caller's contract; only plain integer
        // types are read this way, for which every bit pattern is valid.
        Some(unsafe { core::ptr::read(p) })
    } else {
        None
    }
}
