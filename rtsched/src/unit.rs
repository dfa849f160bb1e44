//! Per-unit (VCPU) server state.
//!
//! A [`Unit`] lives in a slot of caller-provided storage and is named by its index, a
//! [`UnitId`]. All fields are protected by the lock that protects the scheduler instance
//! holding the unit (see the crate's concurrency contract).

use bitflags::bitflags;

use crate::cpumask::CpuMask;
use crate::params::Params;

/// Handle of a unit: its slot index in the instance's storage.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub struct UnitId(pub u32);

/// Marks an absent link or position in the index-linked structures.
pub(crate) const NIL: u32 = u32::MAX;

bitflags! {
    /// Scheduling flags of a unit, as in Xen's rt.c.
    #[derive(Default)]
    pub struct UnitFlags: u32 {
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
/// `repr(C)` so that the fields the queue operations compare and move (priority key,
/// sequence numbers, heap positions, queue and CPU) share the first 64 bytes.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Unit {
    pub(crate) priority_level: u32,
    pub(crate) flags: UnitFlags,
    pub(crate) cur_deadline: i64,
    pub(crate) period: i64,
    pub(crate) runq_seq: u64,
    pub(crate) replq_seq: u64,
    pub(crate) runq_pos: u32,
    pub(crate) replq_pos: u32,
    pub(crate) queue: QueueKind,
    pub(crate) in_use: bool,
    pub(crate) inserted: bool,
    /// The host's runnable view of the unit, as last reported by a hook.
    pub(crate) runnable: bool,
    /// The PCPU the unit is assigned to (Xen's `sched_unit_master`).
    pub(crate) cpu: u32,
    /// The CPU whose `curr` or `phantom` this unit is ([`NIL`] for none), kept by the one
    /// scheduler helper that assigns them.
    pub(crate) on_cpu: u32,
    pub(crate) domain: u32,
    pub(crate) budget: i64,
    pub(crate) cur_budget: i64,
    pub(crate) last_start: i64,
    /// Budget overrun (ns, `0..=budget`) of the current period, charged to the next one.
    pub(crate) debt: i64,
    pub(crate) affinity: CpuMask,
    pub(crate) vcpu: u32,
    pub(crate) dq_prev: u32,
    pub(crate) dq_next: u32,
    pub(crate) tmp_next: u32,
}

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
