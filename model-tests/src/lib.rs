//! Shared harness of the whole-workspace tests of rtsched.
//!
//! [`sim`] is a small deterministic host simulator: it drives scheduler instances through
//! the host model of the `host-model` crate (what Xen's scheduling core does between hooks:
//! reschedule requests, context switches with possibly delayed `context_saved`, the
//! replenishment timers, slice ends), runs workloads (always busy, periodic jobs, or driven
//! by hand), and accounts CPU time per unit and idle time per CPU. See its documentation for
//! the API.
//!
//! [`guest`] runs guest task sets on VCPUs that are units of that host (two-level
//! simulation).

pub mod guest;
pub mod sim;
pub mod sweep;

pub use sim::{leaked_scheduler, Event, Instance, Quiesce, Sim, UnitStats, Work};

/// The number of proptest cases of a property: `PROPTEST_CASES` when set (CI runs a longer
/// pass with it), else `default`. (An explicit `cases` in a `ProptestConfig` would
/// otherwise override the variable.)
pub fn proptest_cases(default: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
