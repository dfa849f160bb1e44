//! What Xen 4.17's scheduling core (`xen/common/sched/core.c`) does between a scheduler's
//! hooks, written once for every harness that drives a scheduler: the simulator
//! (`model-tests/src/sim.rs`), the property tests, the loom models, the differential driver
//! and the benchmark's recording host (`difftest`).
//!
//! [`Host`] keeps the host's side of the hook protocol in a [`State`] and calls the hooks of
//! an implementation of [`Hooks`]:
//!
//! - each CPU has a current unit and a slice end (`now + slice`); when the slice ends, or a
//!   reschedule was requested (`Actions::reschedule`, Xen's `SCHEDULE_SOFTIRQ`), the CPU runs
//!   `do_schedule` with `prev_runnable` = whether its current unit is runnable
//!   ([`Host::schedule`], [`Host::expire_slices`], [`Host::settle`]);
//! - a unit switched out gets `context_saved(prev, runnable)` after the switch: at once,
//!   [`State::context_delay`] later, or when the harness says ([`Host::save`]). As in Xen, a
//!   CPU performs the pending save of its previous unit before it runs `do_schedule` again;
//! - each instance's replenishment timer is programmed by the hooks' [`TimerOp`]s and fires
//!   (`timer_fire(now)`) at its expiry ([`Host::fire_due_timers`], [`Host::advance`]);
//! - a unit is runnable in the host's view when it has work (`ready`) and no affinity change
//!   is in progress (`migrating`). A unit that blocks by itself stops being runnable and its
//!   CPU reschedules: Xen's `vcpu_block` calls no hook, it only raises the softirq
//!   ([`Host::block`]); a pause is `vcpu_sleep_nosync`, the `sleep` hook ([`Host::pause`]);
//! - an affinity change follows `vcpu_set_affinity` + `vcpu_migrate_finish`: the unit is
//!   put to sleep, and once it is off its CPU and its context is saved it is given the CPU
//!   `pick_cpu` chooses (`migrate`) and woken again if it has work ([`Host::set_affinity`]);
//! - CPUs join (`schedule_cpu_add`: "go pick up some work") and leave a pool as
//!   `cpupool_unassign_cpu` makes them leave ([`Host::cpu_join`], [`Host::cpu_withdraw`],
//!   [`Host::move_off`], [`Host::cpu_remove`], for implementations of [`Membership`]).
//!
//! Units are host indices (`0..`, in the order of [`Host::add_unit`]); each belongs to one
//! instance (one cpupool's scheduler, or one PCPU's under rt-partition), as each CPU does.
//! What a harness adds (workloads, accounting, comparisons, recording) stays in its
//! implementation of [`Hooks`] and around the calls.

mod hooks;
mod host;
mod instances;
mod state;

pub use hooks::{Hooks, Membership, Pick};
pub use host::{Host, SETTLE_LIMIT};
pub use instances::{done, leaked_scheduler, Instance, Instances};
pub use rtsched::{Actions, CpuMask, TimerOp};
pub use state::{CpuState, Event, Save, State, UnitState};

#[cfg(test)]
mod tests;
