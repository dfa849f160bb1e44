//! The deliberate differences between rtsched and Xen 4.17's rt.c that the comparison
//! knows about (the numbers are those of `ARCHITECTURE.md`, "Deliberate differences from
//! Xen 4.17's rt.c"), and how the driver treats each.

use serde::{Deserialize, Serialize};

/// A known, deliberate difference (or a consequence of one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Deviation {
    /// 1: upstream fix 37b49cb48e: a unit with extratime and no budget is refilled one level
    /// down before it enters the run queue (rt.c queues it with a zero budget). Trigger:
    /// extratime turned on for a depleted unit. Ends the comparison of the trace.
    ZeroBudgetExtratime,
    /// 2: domain-wide `putinfo` is validated like `putvcpuinfo` (rt.c only rejects zeros).
    /// Not generated in random traces (hand-written test only).
    DomainParamsValidated,
    /// 3: the replenishment queue is ordered by deadline only (rt.c orders it by priority
    /// level first, so its timer can be programmed for a later replenishment than due).
    /// Trigger: rt.c's replenishment queue out of deadline order. Ends the comparison.
    ReplqOrder,
    /// 4: `pick_cpu` prefers an idle allowed CPU when the current one is not allowed (rt.c
    /// cycles to the next allowed CPU). Tolerated: the driver moves the unit to rt.c's
    /// choice in both, as Xen's core applies one `pick_resource` result.
    PickIdleCpu,
    /// 5: `insert` of a runnable, not running unit tickles. Random traces insert paused
    /// units only (hand-written test only).
    InsertTickles,
    /// 6: lowering a budget clamps the current budget. The driver never sets a budget below
    /// the current budget in random traces (hand-written test only); if it happens anyway,
    /// ends the comparison.
    BudgetClamp,
    /// 7: priority ties (same level and deadline): extratime-less unit first, and the
    /// replenishment handler keeps FIFO order among equals. Random traces use distinct prime
    /// periods to avoid ties; if two units tie anyway, ends the comparison.
    PriorityTie,
    /// 8: no tickle for a unit that lands on the depleted queue (rt.c tickles). Tolerated:
    /// the driver performs the union of both implementations' reschedule requests.
    DepletedNoTickle,
    /// 9 and 10: extra tickles after `do_schedule` (best queued unit with an idle CPU in
    /// its affinity, run-queue head, the unit a CPU's tickle was for). Tolerated (union).
    ExtraTickleSchedule,
    /// 9: extra tickles of the replenishment handler (replenished running unit compared
    /// with the best queued unit allowed on its CPU; unit back from extratime). Tolerated.
    ExtraTickleReplenish,
    /// 9: a parameter change re-sorts a queued unit and tickles for it, and reschedules the
    /// CPU of a running one (rt.c does neither). Tolerated (union).
    ExtraTickleParams,
    /// Consequence of 8, 9, 10: after an extra tickle of one implementation, the two
    /// `tickled` masks differ until the CPU reschedules, and a later tickle may choose
    /// another CPU. Tolerated (union); picks and states are still compared exactly.
    TickleMaskDivergence,
}

impl Deviation {
    /// The item of `ARCHITECTURE.md`'s list.
    pub fn item(self) -> &'static str {
        match self {
            Deviation::ZeroBudgetExtratime => "1",
            Deviation::DomainParamsValidated => "2",
            Deviation::ReplqOrder => "3",
            Deviation::PickIdleCpu => "4",
            Deviation::InsertTickles => "5",
            Deviation::BudgetClamp => "6",
            Deviation::PriorityTie => "7",
            Deviation::DepletedNoTickle => "8",
            Deviation::ExtraTickleSchedule => "9/10",
            Deviation::ExtraTickleReplenish | Deviation::ExtraTickleParams => "9",
            Deviation::TickleMaskDivergence => "8/9/10",
        }
    }
}
