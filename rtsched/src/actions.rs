//! What a hook asks its host to do. The core never calls back into the host: every hook
//! returns these values and the host performs them after the hook returns (still under the
//! scheduler lock, as Xen's rt.c does).

use crate::cpumask::CpuMask;
use crate::unit::UnitId;

/// What to do with the instance's replenishment timer.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum TimerOp {
    /// Leave it as it is.
    #[default]
    Keep,
    /// (Re)program it to fire at this absolute time (ns).
    Set(i64),
    /// Stop it: no replenishment is pending.
    Stop,
}

/// The side effects a hook requests.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Actions {
    /// CPUs to send a reschedule request to (Xen: `cpu_raise_softirq(cpu, SCHEDULE_SOFTIRQ)`).
    pub reschedule: CpuMask,
    /// The replenishment timer operation.
    pub timer: TimerOp,
}

/// The outcome of `do_schedule` on one CPU.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Decision {
    /// The unit to run next, or `None` for the idle unit.
    pub next: Option<UnitId>,
    /// How long it may run before the scheduler must be invoked again (its remaining budget),
    /// or -1 for no limit (idle).
    pub slice: i64,
    /// Whether `next` was assigned to another CPU until now (Xen's `migrated`).
    pub migrated: bool,
    /// Side effects requested alongside the decision.
    pub actions: Actions,
}
