//! C ABI of rtsched.
#![cfg_attr(not(test), no_std)]

/// Placeholder export.
#[no_mangle]
pub extern "C" fn rtsched_version() -> u32 {
    1
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
