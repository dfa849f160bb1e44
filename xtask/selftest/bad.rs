//! A deliberately bad hypervisor object for `cargo xtask check-object --selftest`: floating
//! point (x87 with SSE off), an indirect call, and a bounds-checked index (a panic site).
#![no_std]

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// Floating point.
#[no_mangle]
pub extern "C" fn rtsched_bad_float(a: u64, b: u64) -> u64 {
    (a as f64 / b as f64 * 1.5) as u64
}

/// An indirect call through a function pointer.
#[no_mangle]
pub extern "C" fn rtsched_bad_indirect(f: extern "C" fn(u64) -> u64, x: u64) -> u64 {
    core::hint::black_box(f)(x)
}

/// A bounds check.
#[no_mangle]
pub extern "C" fn rtsched_bad_index(i: usize) -> u32 {
    static T: [u32; 4] = [1, 2, 3, 4];
    core::hint::black_box(&T)[i]
}
