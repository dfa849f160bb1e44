//! Checked conversions from the raw pointers of the C ABI.

pub(crate) fn aligned<T>(p: *const T) -> bool {
    !p.is_null() && (p as usize).is_multiple_of(core::mem::align_of::<T>())
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
