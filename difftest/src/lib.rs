//! Differential testing and per-hook benchmarks of rtsched against Xen 4.17's own RTDS
//! scheduler (`xen/common/sched/rt.c`), compiled unchanged in user space (see `build.rs`).
//!
//! - [`xen`]: rt.c behind a safe interface (the only `unsafe` of the crate);
//! - [`trace`]: the event trace format and a seeded random generator of traces;
//! - [`driver`]: a host that replays one trace into both implementations, with the
//!   bookkeeping Xen's core does between hooks, and compares every decision;
//! - [`deviations`]: the deliberate differences of rtsched the comparison knows about;
//! - [`reference`]: the rules of the policies rt.c lacks (DM, periodic server), checked
//!   hook by hook.
#![deny(missing_docs)]

pub mod bench;
pub mod deviations;
pub mod driver;
pub mod reference;
pub mod trace;
pub mod xen;

/// The policy Xen 4.17's rt.c implements (global, EDF, deferrable server, plain RTDS order
/// without the real-time/non-real-time class rule), which every comparison uses.
pub fn rtds_policy() -> rtsched::Policy {
    rtsched::Policy {
        classes: rtsched::ClassRule::Rtds,
        ..rtsched::Policy::default()
    }
}
