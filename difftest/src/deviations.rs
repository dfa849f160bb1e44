//! The deliberate differences between rtsched and Xen 4.17's rt.c that the comparison
//! knows about (the numbers are those of `ARCHITECTURE.md`, "Deliberate differences from
//! Xen 4.17's rt.c"), each with the exact difference it allows. The driver
//! (`crate::driver`) checks an observed difference against these statements and reports
//! anything else as a mismatch; a tolerated difference is counted under its name.
//!
//! Three kinds of handling:
//! - *re-synced*: the difference is checked to be exactly the predicted one, then rt.c's
//!   field is set to rtsched's value and the comparison goes on ([`Deviation::ReplqOrder`],
//!   [`Deviation::OverrunCharged`]);
//! - *tolerated per CPU*: a reschedule request of one scheduler that the other did not make,
//!   justified CPU by CPU by a rule (the host performs both schedulers' requests);
//! - *ends the trace*: the states diverge in a way that cannot be re-synced, only where the
//!   generator avoids the situation; the difference must still be exactly the predicted one.

use serde::{Deserialize, Serialize};

/// A known, deliberate difference (or a consequence of one), with what it allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Deviation {
    /// 1: upstream fix 37b49cb48e: a unit with extratime and no budget is refilled one level
    /// down before it enters the run queue (rt.c queues it with its budget <= 0). Allows, for
    /// that one unit on rt.c's run queue with extratime and `cur_budget <= 0`: rtsched's
    /// `cur_budget` = `budget` and `priority_level` = rt.c's + 1; nothing else. Avoided by
    /// the generator; ends the comparison.
    ZeroBudgetExtratime,
    /// 2: domain-wide `putinfo` is validated like `putvcpuinfo` (rt.c only rejects zeros).
    /// Not generated in random traces (hand-written test only).
    DomainParamsValidated,
    /// 3: the replenishment queue is ordered by deadline only (rt.c inserts by priority
    /// level, then deadline). Allows: rt.c's queue (the same units, per-unit `on_replq` is
    /// compared) out of deadline order and its timer programmed for its head's deadline.
    /// Re-synced after the hook: rt.c's queue sorted by deadline, its timer set to the head;
    /// then the timers must be equal.
    ReplqOrder,
    /// 4: `pick_cpu` prefers an idle allowed CPU when the current one is not allowed (rt.c
    /// cycles to the next allowed CPU). Allows: a different `pick_resource` CPU when
    /// rtsched's is allowed, idle and untickled and the unit's current CPU is not allowed;
    /// the driver moves the unit to rt.c's choice in both (one result, as Xen's core).
    PickIdleCpu,
    /// 5: `insert` of a runnable, not running unit tickles. Random traces insert paused
    /// units only (hand-written test only).
    InsertTickles,
    /// 6: lowering a budget clamps the current budget. Allows, for one unit: rtsched's
    /// `cur_budget` = `budget` < rt.c's `cur_budget`; nothing else. The driver never sets a
    /// budget below the current budget; ends the comparison.
    BudgetClamp,
    /// 7: priority ties (same level and deadline): extratime-less unit first, FIFO kept at
    /// replenishment. Allows: a different pick on a CPU when the two picks have the same
    /// level and deadline; a reschedule of a CPU whose unit ties with a queued unit allowed
    /// on it; different reschedules after a timer that replenished two units which had the
    /// same level and deadline (handled in a different order). Made rare by the generator
    /// (distinct prime periods); ends the comparison.
    PriorityTie,
    /// 8: no tickle for a unit that lands on the depleted queue (rt.c tickles). Allows, after
    /// `wake` or `context_saved` of unit `u` now on the depleted queue: rt.c alone asks one
    /// CPU to reschedule, a CPU of `u`'s affinity, untickled in rt.c, idle or running a
    /// unit of lower priority than `u`.
    DepletedNoTickle,
    /// 9 and 10, after `do_schedule`: rtsched alone asks a CPU to reschedule (best queued
    /// unit with an idle CPU in its affinity, the unit a CPU's tickle was for). Allows, per
    /// CPU: untickled in rtsched before the hook, and idle or running a unit of lower
    /// priority than a queued unit allowed on it.
    ExtraTickleSchedule,
    /// 9, replenishment timer: rtsched alone asks a CPU to reschedule (replenished running
    /// unit compared with the best queued unit allowed on its CPU; unit back from
    /// extratime). Allows, per CPU: the same condition as [`Self::ExtraTickleSchedule`].
    ExtraTickleReplenish,
    /// 9, `putvcpuinfo`: a re-sorted queued unit is tickled for (rt.c does not). Allows, per
    /// CPU: the same condition as [`Self::ExtraTickleSchedule`].
    ExtraTickleParams,
    /// 9, `putvcpuinfo`: the CPU running the unit whose parameters changed reschedules.
    /// Allows, per CPU: rtsched alone asks exactly that CPU.
    ParamsReschedulesRunning,
    /// 11: a budget overrun without extratime (the scheduler ran late) is charged to the next
    /// period, at most one budget (rt.c forgets it). Allows, in the hook that replenishes a
    /// unit whose overrun `o` the driver recorded at `do_schedule`: rtsched's `cur_budget` =
    /// rt.c's - min(`o`, `budget`) when the new deadline is one period after the old one;
    /// nothing else. Re-synced: rt.c's `cur_budget` set to rtsched's.
    OverrunCharged,
    /// Consequence of 8: rt.c's tickled mask holds a CPU rtsched's does not (its extra
    /// request is still pending), so rt.c does not ask it again. Allows, per CPU: rtsched
    /// alone asks a CPU that is tickled in rt.c only, idle or running a unit of lower
    /// priority than a queued unit allowed on it.
    PendingInRtC,
    /// Consequence of 8: for the same reason rt.c asks another CPU. Allows, per CPU, at most
    /// as many as [`Self::PendingInRtC`] CPUs in the same hook: rt.c alone asks a CPU
    /// untickled in rt.c, idle or running a unit of lower priority than a queued unit
    /// allowed on it.
    RtCTickledAnother,
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
            Deviation::ExtraTickleReplenish
            | Deviation::ExtraTickleParams
            | Deviation::ParamsReschedulesRunning => "9",
            Deviation::OverrunCharged => "11",
            Deviation::PendingInRtC | Deviation::RtCTickledAnother => "8",
        }
    }
}
