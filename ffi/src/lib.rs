//! C ABI of rtsched, built as a `no_std` staticlib and linked into the Xen hypervisor.
//!
//! The caller provides the memory of an instance: it asks [`rtsched_mem_size`] and
//! [`rtsched_mem_align`] for a given unit capacity and CPU count, allocates once (outside any
//! hook), and calls [`rtsched_init`]. Every later call works in that memory only: nothing
//! allocates, nothing calls back into the host, and every entry point validates its
//! arguments (null and misaligned pointers, foreign instances, handles, CPUs, parameters)
//! and returns a negated Xen errno instead of panicking. Outputs are written only on
//! success; a failed call changes nothing.
//!
//! The host's contract (life cycle, handles, hook protocol, time, errors, and the lock
//! contract) is written once, as the documentation of [`Rtsched`], which the header carries.
//!
//! `unsafe` is confined to this crate: the raw-pointer helpers in [`ptr`] and [`instance`]
//! and the carving of caller memory in [`rtsched_init`], each with a `// SAFETY:` comment.
#![cfg_attr(not(test), no_std)]
#![deny(missing_docs)]

#[cfg(test)]
mod call_sequences;
mod entry;
mod instance;
mod ptr;
mod types;

pub use entry::*;
pub use instance::Rtsched;
pub use types::*;

/// Stops the CPU with an invalid-opcode trap: the host reports a fatal trap with the
/// registers. No panic is reachable in the exported paths (the object check counts them);
/// this is the last line of defence, and it never calls into the host.
#[cfg(not(test))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // SAFETY: `ud2` raises #UD and does not return; it touches no memory.
    unsafe { core::arch::asm!("ud2", options(noreturn, nomem, nostack)) }
}
