//! Deliberately broken variants of the scheduler, so the tests can show they catch each
//! one: the hook protocol for the loom models in `model-tests`, the scheduling rules for
//! the differential test against Xen's rt.c and the reference model (`difftest`, whose
//! mutation score lists them).
//!
//! Each is selected at run time by [`crate::Scheduler::set_mutant`], which exists only with
//! the `mutants` feature (enabled only for the loom test build, never for the hypervisor
//! object). A site in the hooks is one predicate, `self.mutant(Mutant::X)`, which is the
//! constant `false` without the feature; the broken behaviour, where it is more than a
//! skipped step, is written here.

use crate::error::Result;
use crate::sched::Scheduler;
use crate::unit::{Unit, UnitFlags};

/// A protocol mutation.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Mutant {
    /// The correct protocol.
    #[default]
    None,
    /// `wake` queues a unit even while it is still being switched out (`SCHEDULED`).
    WakeIgnoresScheduled,
    /// `context_saved` drops the unit instead of honouring `DELAYED_RUNQ_ADD`.
    ContextSavedIgnoresDelayed,
    /// The replenishment timer puts a replenished unit that is being switched out on the
    /// run queue.
    TimerResortsScheduled,
    /// `insert` does not start a new period for a unit whose deadline has passed.
    InsertKeepsDeadline,
    /// `remove` leaves the unit on the run and replenishment queues.
    RemoveKeepsQueued,
    /// `wake` queues the unit without tickling a CPU for it.
    WakeNoTickle,
    /// `sleep` leaves a queued unit on the run queue.
    SleepKeepsQueued,
    /// `do_schedule` keeps a runnable current unit with budget whatever its priority.
    ScheduleNoPreempt,
    /// Budget burn charges one nanosecond less than the time run.
    BurnOneShort,
    /// A periodic server's idle time (a CPU idling on its budget) is not charged.
    PeriodicIdleFree,
    /// `context_saved` queues the switched-out unit without tickling a CPU for it.
    ContextSavedNoTickle,
    /// The replenishment timer leaves the priority level of a unit on extratime as it was.
    ReplenishKeepsLevel,
    /// The replenishment timer does not tickle for a depleted queued unit it replenished.
    TimerNoTickleDepleted,
    /// `putvcpuinfo` does not apply the extratime flag.
    ParamsIgnoreExtratime,
    /// `pick_resource` keeps the unit's CPU even when its affinity no longer allows it.
    PickIgnoresAffinity,
    /// Tickling considers CPUs already asked to reschedule.
    TickleIgnoresTickled,
    /// Deadline-monotonic order falls back to EDF (deadline first).
    DmOrdersByDeadline,
    /// A waking constant-bandwidth server starts a new period only when its deadline has
    /// passed (not when its budget left exceeds its bandwidth over the time left).
    CbsWakeOnlyWhenLate,
    /// The class rule is ignored: plain RTDS order although real-time units should
    /// outrank the background class.
    ClassRuleIgnored,
    /// A unit's spare server is not given back to the pool when it returns (the slot stays
    /// lent).
    SpareNotReturned,
    /// A spare server is renewed past the unit's own replenishment (kept for ever).
    SpareKeptPastReplenishment,
    /// A spare lent in the last spare period before the unit's own replenishment keeps its
    /// whole budget (not scaled to the time left) with the replenishment as its deadline.
    SpareShortNotScaled,
    /// No spare is lent in the last spare period before the unit's own replenishment (the
    /// rule before shortened lending).
    SpareNoShortLend,
    /// A pick looks at the first affinity group holding its CPU only (`sched/groups.rs`).
    PickSkipsGroups,
    /// The replenishment timer re-sorts the shared heap in one batch at every expiry
    /// (not broken: the other way of the cost decision of `sched/replenish.rs`, which the
    /// tests compare with [`Mutant::ReplenishNeverBatch`]).
    ReplenishAlwaysBatch,
    /// The replenishment timer re-sorts every unit on its own at every expiry (not broken,
    /// see [`Mutant::ReplenishAlwaysBatch`]).
    ReplenishNeverBatch,
    /// The replenishment timer re-sorts in one batch and never restores the heap order.
    BatchNotRebuilt,
    /// Budget lost at a deadline is excused whatever interference its period saw (the
    /// e2e checks would allow a reservation any loss).
    ExcuseEveryLoss,
    /// The overruns a unit waited through on the run queue are not kept as the interference
    /// its period saw (a loss they explain is not excused).
    ExcuseForgetsWaiting,
}

impl Mutant {
    /// The mutants of the scheduling rules (the differential test's mutation score).
    pub const RULES: [Mutant; 16] = [
        Mutant::InsertKeepsDeadline,
        Mutant::RemoveKeepsQueued,
        Mutant::WakeNoTickle,
        Mutant::SleepKeepsQueued,
        Mutant::ScheduleNoPreempt,
        Mutant::BurnOneShort,
        Mutant::PeriodicIdleFree,
        Mutant::ContextSavedNoTickle,
        Mutant::ReplenishKeepsLevel,
        Mutant::TimerNoTickleDepleted,
        Mutant::ParamsIgnoreExtratime,
        Mutant::PickIgnoresAffinity,
        Mutant::TickleIgnoresTickled,
        Mutant::DmOrdersByDeadline,
        Mutant::CbsWakeOnlyWhenLate,
        Mutant::ClassRuleIgnored,
    ];

    /// The mutants of the loss accounting (`stat lost_ns` and `excused_ns`, the allowance
    /// of the e2e checks; caught by the rules tests, `tests/rules.rs`, the first also by the
    /// guarantees' search in `model-tests`): no decision changes.
    pub const ACCOUNTING: [Mutant; 2] = [Mutant::ExcuseEveryLoss, Mutant::ExcuseForgetsWaiting];

    /// The mutants of the hook protocol (the loom models').
    pub const PROTOCOL: [Mutant; 3] = [
        Mutant::WakeIgnoresScheduled,
        Mutant::ContextSavedIgnoresDelayed,
        Mutant::TimerResortsScheduled,
    ];
}

/// [`Mutant::ReplenishKeepsLevel`]: the level the unit had before its replenishment.
pub(crate) fn keep_level(u: &mut Unit, level: u32) {
    u.priority_level = level;
}

/// [`Mutant::ParamsIgnoreExtratime`]: the extratime flag the unit had before.
pub(crate) fn keep_extratime(u: &mut Unit, extratime: bool) {
    u.flags.set(UnitFlags::EXTRATIME, extratime);
}

/// [`Mutant::BurnOneShort`]: one nanosecond of the time just charged given back.
pub(crate) fn refund_one(u: &mut Unit) {
    if u.cur_budget > 0 {
        u.cur_budget += 1;
    }
}

impl<'a> Scheduler<'a> {
    /// [`Mutant::TimerResortsScheduled`]: a replenished runnable unit that is off the queues
    /// and not running is put on the run queue, although it may still be being switched out.
    pub(crate) fn mutant_timer_resorts_scheduled(&mut self, h: u32) -> Result<()> {
        let Some(u) = self.raw_units_mut().get_mut(h as usize) else {
            return Ok(());
        };
        if !u.runnable || u.on_cpu != crate::unit::NIL {
            return Ok(());
        }
        u.flags.remove(UnitFlags::SCHEDULED);
        self.runq_insert(h)
    }
}
