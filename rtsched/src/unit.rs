//! Per-unit (VCPU) server state.
//!
//! A [`Unit`] lives in a slot of caller-provided storage and is named by its index, a
//! [`UnitId`]. All fields are protected by the lock that protects the scheduler instance
//! holding the unit (see the crate's concurrency contract).

use bitflags::bitflags;

use crate::cpumask::CpuMask;
use crate::params::{diff, Params};

/// Handle of a unit: its slot index in the instance's storage.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct UnitId(pub u32);

/// Marks an absent link or position in the index-linked structures.
pub(crate) const NIL: u32 = u32::MAX;

bitflags! {
    /// Scheduling flags of a unit, as in Xen's rt.c.
    #[derive(Default)]
    pub struct UnitFlags: u16 {
        /// Running on, or being switched off, a PCPU. Set when do_schedule picks the unit,
        /// cleared by context_saved. While set the unit must not be put on a queue.
        const SCHEDULED = 1 << 1;
        /// Put the unit back on a queue when context_saved runs. Set by do_schedule when a
        /// runnable unit is switched out, and by wake when the unit is still `SCHEDULED`;
        /// cleared by sleep and context_saved.
        const DELAYED_RUNQ_ADD = 1 << 2;
        /// The budget ran out (no extratime). Set by budget burn, tested and cleared by the
        /// replenishment handler to decide whether to tickle.
        const DEPLETED = 1 << 3;
        /// May run on extratime once its budget is used up.
        const EXTRATIME = 1 << 4;
        /// Set and cleared within one replenishment: the unit was on extratime (priority
        /// level above 0) before it, so its priority rose and it may now preempt.
        const RAISED = 1 << 5;
        /// Uses spare bandwidth: an I/O event while it is off its reserved budget attaches
        /// a spare server from the instance's pool (see `sched/spare.rs`).
        const USES_SPARE = 1 << 6;
    }
}

/// Which queue a unit is on (Xen's `q_elem`: a unit is on at most one of them).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(u8)]
pub enum QueueKind {
    /// On no queue.
    #[default]
    None = 0,
    /// On the run queue (has budget or runs on extratime).
    Run = 1,
    /// On the depleted queue (no budget, no extratime).
    Depleted = 2,
}

/// One unit's server state. Created by [`crate::Scheduler::unit_alloc`].
///
/// Laid out by hand (`repr(C)`, 64-byte aligned: three cache lines) for the cost of a hook
/// that finds its memory in no cache, which is how a hypervisor's scheduler finds it after
/// guests ran:
/// - line 0, everything the queues compare and move: the priority key (level, flags,
///   deadline, period and budget, virtual time), the queue and the runnable view, the
///   sequence numbers and the heap positions. A heap operation reads this line only of each
///   unit it passes.
/// - line 1, where the unit may run and runs: affinity, budget left and start of the
///   running slice, CPUs, run-queue home, whether allocated and inserted.
/// - line 2, the rest: the pinned or group queue holding it and its links, debt, identity,
///   list links, spare, interference.
///
/// (The offsets are checked below the struct.)
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub struct Unit {
    // Line 0.
    pub(crate) priority_level: u32,
    pub(crate) flags: UnitFlags,
    pub(crate) queue: QueueKind,
    /// The host's runnable view of the unit, as last reported by a hook.
    pub(crate) runnable: bool,
    pub(crate) cur_deadline: i64,
    pub(crate) period: i64,
    pub(crate) budget: i64,
    /// Virtual time: ns run in the background class (see [`crate::prio`]), its key there.
    pub(crate) vtime: i64,
    pub(crate) runq_seq: u64,
    pub(crate) replq_seq: u64,
    pub(crate) runq_pos: u32,
    pub(crate) replq_pos: u32,
    // Line 1.
    pub(crate) affinity: CpuMask,
    pub(crate) cur_budget: i64,
    pub(crate) last_start: i64,
    /// The PCPU the unit is assigned to (Xen's `sched_unit_master`).
    pub(crate) cpu: u32,
    /// The CPU whose `curr` or `phantom` this unit is ([`NIL`] for none), kept by the one
    /// scheduler helper that assigns them.
    pub(crate) on_cpu: u32,
    /// The run queue the unit joins when queued, as a queue code (`sched/groups.rs`): the
    /// only CPU of its affinity (that CPU's pinned queue), its affinity group's queue, or
    /// [`NIL`] for the shared heap; kept with `affinity` (see `sched/runq.rs`).
    pub(crate) pin_home: u32,
    pub(crate) in_use: bool,
    pub(crate) inserted: bool,
    // Line 2.
    /// The pinned or group queue that holds the unit, as a queue code ([`NIL`]: none; see
    /// `crate::pairing`).
    pub(crate) pin_cpu: u32,
    /// Pinned and group run-queue links (see `crate::pairing`).
    pub(crate) pin_child: u32,
    pub(crate) pin_next: u32,
    pub(crate) pin_prev: u32,
    /// Budget overrun (ns, `0..=budget`) of the current period, charged to the next one.
    pub(crate) debt: i64,
    pub(crate) domain: u32,
    pub(crate) vcpu: u32,
    pub(crate) dq_prev: u32,
    pub(crate) dq_next: u32,
    pub(crate) tmp_next: u32,
    /// The pool slot of the spare server attached to it ([`NIL`] for none); while attached,
    /// `cur_deadline` and `cur_budget` are the spare's and its own are saved in the slot.
    pub(crate) spare: u32,
    /// The instance's interference clock when the unit last joined the run queue.
    pub(crate) wait_mark: i64,
    /// Interference this period (ns): the lateness of the replenishment that started it,
    /// plus the overruns of others while the unit waited on the run queue (see
    /// `sched/replenish.rs`, `stat excused_ns`).
    pub(crate) interference: i64,
}

// The lines of the layout above.
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(align_of::<Unit>() == 64);
    assert!(size_of::<Unit>() == 192, "size");
    assert!(offset_of!(Unit, replq_pos) < 64);
    assert!(offset_of!(Unit, affinity) == 64);
    assert!(offset_of!(Unit, inserted) < 128);
    assert!(offset_of!(Unit, pin_cpu) >= 128);
};

impl Unit {
    /// A free slot.
    pub const EMPTY: Unit = Unit {
        in_use: false,
        inserted: false,
        runnable: false,
        domain: 0,
        vcpu: 0,
        period: crate::params::DEFAULT_PERIOD,
        budget: crate::params::DEFAULT_BUDGET,
        cur_budget: 0,
        last_start: 0,
        cur_deadline: 0,
        priority_level: 0,
        flags: UnitFlags::EXTRATIME,
        cpu: 0,
        affinity: CpuMask::EMPTY,
        queue: QueueKind::None,
        runq_pos: NIL,
        replq_pos: NIL,
        runq_seq: 0,
        replq_seq: 0,
        dq_prev: NIL,
        dq_next: NIL,
        tmp_next: NIL,
        debt: 0,
        on_cpu: NIL,
        vtime: 0,
        spare: NIL,
        pin_home: NIL,
        pin_cpu: NIL,
        pin_child: NIL,
        pin_next: NIL,
        pin_prev: NIL,
        wait_mark: 0,
        interference: 0,
    };

    pub(crate) fn has_extratime(&self) -> bool {
        self.flags.contains(UnitFlags::EXTRATIME)
    }

    pub(crate) fn on_replq(&self) -> bool {
        self.replq_pos != NIL
    }

    pub(crate) fn params(&self) -> Params {
        Params {
            period: self.period,
            budget: self.budget,
            extratime: self.has_extratime(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Server transitions: every change of a unit's budget, deadline and level is one of these.
//
//               burn (budget left)
//              +-------+
//              v       |         burn: budget out, extratime
//   replenish --> [reserved, level 0] ---------------------------> [extratime, level k+1]
//      ^               |                                               |   ^
//      |               | burn: budget out, no extratime                |   | burn: out again
//      |               v                                               +---+ (refill_extratime)
//      +------- [depleted: DEPLETED, cur_budget 0] <-- (debt += overrun, charged to the next)
//      |                                                               |
//      +---------------------------------------------------------------+
//                      replenish at the deadline (timer, late wake, insert)
//
// `apply_params` changes the reservation in any state; it never raises the current budget.
// Constant-bandwidth server: a wake that finds `cbs_overflow` calls `cbs_restart` (a new
// period from now) instead of keeping the current deadline and budget.
// A parameter change that leaves the deadline more than one period away
// (`late_for_period`, `Scheduler::set_params_at`) calls `cbs_restart` too.
// ---------------------------------------------------------------------------------------

/// What [`Unit::burn`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Burn {
    /// Charged; budget left, priority unchanged.
    Charged,
    /// The budget ran out: the unit is now on extratime one level down or depleted (its
    /// priority key changed). The time it ran beyond its budget and now owes as debt (ns;
    /// 0 on extratime).
    Exhausted(i64),
}

impl Unit {
    /// Charges the time since `last_start` (Xen's `burn_budget`). With extratime an exhausted
    /// unit moves one priority level down (saturating, upstream 410d44fcf3) with a new budget,
    /// unless `phantom` (a blocked periodic server's idle time never earns extratime);
    /// without, it is depleted and the whole overrun (the scheduler ran late: timer slop, an
    /// interrupt delivered late) is kept as debt for the next periods, as Linux's
    /// SCHED_DEADLINE keeps a negative runtime (rt.c drops it): a cap is also a promise to
    /// the other units.
    ///
    /// Time run in the background class also advances the unit's virtual time.
    pub(crate) fn burn(&mut self, now: i64, phantom: bool) -> Burn {
        // (Never negative: hook times do not go back, see `sched/clock.rs`.)
        let delta = diff(now, self.last_start).max(0);
        if !phantom {
            self.charge_background(now);
        }
        self.cur_budget = diff(self.cur_budget, delta);
        self.last_start = now;
        if self.cur_budget > 0 {
            return Burn::Charged;
        }
        if self.has_extratime() && !phantom {
            self.refill_extratime();
            return Burn::Exhausted(0);
        }
        let over = self.cur_budget.saturating_neg().max(0);
        self.debt = self.debt.saturating_add(over);
        self.cur_budget = 0;
        self.flags.insert(UnitFlags::DEPLETED);
        Burn::Exhausted(over)
    }

    /// Advances the virtual time of a background unit by the time it ran since
    /// `last_start` (the caller says it ran).
    pub(crate) fn charge_background(&mut self, now: i64) {
        let delta = diff(now, self.last_start);
        if delta > 0 && crate::prio::is_background(self) {
            self.vtime = self.vtime.saturating_add(delta);
        }
    }

    /// Keeps as debt the time a running unit without extratime has run beyond its budget
    /// since `last_start` (its slice ended late and its deadline came first: the new period
    /// would otherwise forget it).
    /// Returns that time (ns).
    pub(crate) fn charge_overrun(&mut self, now: i64) -> i64 {
        if self.has_extratime() {
            return 0;
        }
        let over = diff(diff(now, self.last_start), self.cur_budget.max(0)).max(0);
        self.debt = self.debt.saturating_add(over);
        over
    }

    /// At a deadline reached at `now` (before the replenishment), the budget (ns) a capped
    /// unit still holds although runnable, reservation it did not receive, and the part of
    /// it the interference its period saw explains: `Unit::interference` plus, while it
    /// waits on the run queue, the instance's interference `clock` since it joined.
    /// `(0, 0)` for a unit on extratime or a raised level, or not runnable.
    pub(crate) fn lost_at_deadline(&self, now: i64, running: bool, clock: i64) -> (i64, i64) {
        if self.has_extratime() || self.priority_level != 0 || !self.runnable {
            return (0, 0);
        }
        let used = if running {
            diff(now, self.last_start)
        } else {
            0
        };
        let left = diff(self.cur_budget, used).max(0);
        (left, left.min(self.interference_at(clock)).max(0))
    }

    /// The interference this period saw up to the instance's interference `clock`:
    /// `Unit::interference`, plus, while the unit waits on the run queue, the overruns since
    /// it joined it (`wait_mark`).
    pub(crate) fn interference_at(&self, clock: i64) -> i64 {
        if self.queue == QueueKind::Run {
            self.interference
                .saturating_add(diff(clock, self.wait_mark))
        } else {
            self.interference
        }
    }

    /// Gives a unit on extratime a new budget one priority level down (saturating).
    pub(crate) fn refill_extratime(&mut self) {
        self.priority_level = self.priority_level.saturating_add(1);
        self.cur_budget = self.budget;
    }

    /// Starts the period that contains `now` for a unit whose deadline has passed: the next
    /// deadline after `now`, a full budget, reserved priority level (Xen's
    /// `rt_update_deadline`). Debt left by overruns is charged to this period, at most its
    /// budget (a unit that ran late by more than a budget is depleted for whole periods, as
    /// SCHED_DEADLINE postpones the deadline of a negative runtime); it is forgiven when a
    /// whole period was skipped (the unit slept).
    pub(crate) fn replenish(&mut self, now: i64) {
        let next = crate::params::next_deadline(self.cur_deadline, self.period, now);
        let consecutive = diff(next, self.cur_deadline) <= self.period;
        self.cur_deadline = next;
        self.last_start = now;
        self.interference = 0;
        let carried = if consecutive { self.debt.max(0) } else { 0 };
        // (Not `clamp`, which can panic.)
        let charge = carried.min(self.budget);
        self.cur_budget = diff(self.budget, charge);
        // Broken on purpose, only in the objects `cargo xtask e2e --fault ...` builds to
        // show that its checks fail: a unit without extratime loses the budget of every 16th
        // period (`skip-replenish`) or of every 4th (`skip-quarter`).
        #[cfg(rtsched_mutant = "skip_replenish")]
        const SKIP_EVERY: i64 = 16;
        #[cfg(rtsched_mutant = "skip_quarter")]
        const SKIP_EVERY: i64 = 4;
        #[cfg(any(rtsched_mutant = "skip_replenish", rtsched_mutant = "skip_quarter"))]
        if !self.has_extratime()
            && next
                .checked_div(self.period)
                .is_some_and(|k| k % SKIP_EVERY == 0)
        {
            self.cur_budget = 0;
        }
        self.debt = diff(carried, charge);
        self.priority_level = 0;
        if self.cur_budget == 0 {
            self.flags.insert(UnitFlags::DEPLETED);
        }
    }

    /// Whether the deadline is more than one period after `now`: a parameter change then
    /// starts a new period ([`Self::cbs_restart`], `Scheduler::set_params_at`).
    pub(crate) fn late_for_period(&self, now: i64) -> bool {
        self.cur_deadline > now.saturating_add(self.period)
    }

    /// Whether a waking constant-bandwidth server must start a new period (Abeni and
    /// Buttazzo 1998; Linux's `dl_entity_overflow`): its deadline has passed, or its remaining
    /// budget would exceed its bandwidth over the time left to its deadline,
    /// `cur_budget / (cur_deadline - now) > budget / period`, i.e. (exactly, in 128 bits,
    /// no division) `cur_budget * period > (cur_deadline - now) * budget`.
    pub(crate) fn cbs_overflow(&self, now: i64) -> bool {
        now >= self.cur_deadline
            || (self.cur_budget as i128) * (self.period as i128)
                > (self.cur_deadline as i128 - now as i128) * (self.budget as i128)
    }

    /// A new period from `now` (the CBS wake-up rule; a periodic server's first period):
    /// deadline `now + period`, full budget, reserved level, no debt carried.
    pub(crate) fn cbs_restart(&mut self, now: i64) {
        self.cur_deadline = now.saturating_add(self.period);
        self.interference = 0;
        self.last_start = now;
        self.cur_budget = self.budget;
        self.debt = 0;
        self.priority_level = 0;
    }

    /// Sets the reservation (Xen's `putvcpuinfo`; validated by the caller). As in rt.c the
    /// new values take effect at the next replenishment, except that the current budget is
    /// clamped to the new budget so that it never exceeds it.
    pub(crate) fn apply_params(&mut self, p: Params) {
        self.period = p.period;
        self.budget = p.budget;
        self.cur_budget = self.cur_budget.min(p.budget);
        self.flags.set(UnitFlags::EXTRATIME, p.extratime);
    }
}

impl Default for Unit {
    fn default() -> Self {
        Unit::EMPTY
    }
}

/// A read-only view of a unit, for dumps, tests and the C ABI.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct UnitInfo {
    /// Domain id given at allocation.
    pub domain: u32,
    /// VCPU (unit) id within the domain.
    pub vcpu: u32,
    /// Period in ns.
    pub period: i64,
    /// Budget in ns.
    pub budget: i64,
    /// Budget left in the current period (or extratime slice), ns.
    pub cur_budget: i64,
    /// Current absolute deadline, ns.
    pub cur_deadline: i64,
    /// When the unit last started running or was replenished, ns.
    pub last_start: i64,
    /// 0 while on reserved budget, +1 per extratime refill in the current period.
    pub priority_level: u32,
    /// [`UnitFlags`] bits.
    pub flags: u32,
    /// The PCPU the unit is assigned to.
    pub cpu: u32,
    /// [`QueueKind`] as a number (0 none, 1 run queue, 2 depleted queue).
    pub queue: u32,
    /// 1 when on the replenishment queue.
    pub on_replq: u32,
    /// 1 when the host last reported the unit runnable.
    pub runnable: u32,
    /// 1 when inserted into the scheduler.
    pub inserted: u32,
    /// 1 when currently running on its CPU.
    pub running: u32,
}
