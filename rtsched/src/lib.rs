//! rtsched: a real-time VM scheduler (Xen's RTDS, from RT-Xen 2.0) as a `no_std` state machine.
//!
//! Each unit (a VCPU) is a server with a `period` and a `budget` (ns) and an `extratime`
//! flag. A [`Scheduler`] instance holds the units of one Xen cpupool in caller-provided
//! storage ([`Storage`]) and exposes Xen's scheduler hooks as methods that return what the
//! host must do ([`Actions`], [`Decision`]); it never allocates, never calls back into its
//! host, never uses floating point, and reports bad input as an [`Error`] that leaves the
//! state unchanged.
//!
//! # Concurrency contract
//!
//! A [`Scheduler`] is a plain value: its host serialises every call on it (one lock per
//! instance) and drops that lock only between `do_schedule` on a CPU and `context_saved` for
//! the unit it switched out, the window the `SCHEDULED` / `DELAYED_RUNQ_ADD` protocol makes
//! safe (see [`sched`]). Which lock that is in Xen, and which side takes it for each hook, is
//! the lock contract of the C ABI, written once as the documentation of `Rtsched` in
//! `include/rtsched.h` (`ffi/src/instance.rs`); the Xen shim and the loom models follow it.
//!
//! # Cost
//!
//! Run and replenishment queues are indexed binary heaps: insert, remove and pick-min are
//! O(log n). A CPU-affinity-aware pick takes the run queue's head when allowed, else walks
//! the heap depth first, skipping every subtree that cannot beat the best unit found so far;
//! units pinned to one CPU wait in that CPU's own queue (`pairing.rs`), so no pick looks past
//! them on other CPUs. Per-CPU state is cached
//! (busy and re-tickle masks, each unit's CPU, each CPU's priority key), so no hook scans
//! every CPU to find it; tickling scans the CPUs' cached keys, O(CPUs) as in rt.c, only when
//! the unit outranks an upper bound of them.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod actions;
pub mod admission;
pub mod cpumask;
pub mod error;
pub mod invariants;
pub mod mutants;
mod pairing;
pub mod params;
pub mod partition;
pub mod policy;
pub mod prio;
pub mod queues;
pub mod sched;
pub mod stats;
pub mod unit;

#[cfg(test)]
mod tests;

pub use actions::{Actions, Decision, TimerOp};
pub use cpumask::{CpuMask, MAX_CPUS};
pub use error::{Error, Result};
pub use params::Params;
pub use policy::{ClassRule, Policy, PriorityScheme, ServerKind, Topology};
pub use sched::{Pcpu, Scheduler, SpareInfo, Storage, MAX_SPARES};
pub use stats::Stats;
pub use unit::{QueueKind, Unit, UnitFlags, UnitId, UnitInfo};
