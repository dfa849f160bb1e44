//! `#[repr(C)]` types and constants of the C ABI, with their layout and values pinned to the
//! core's by `static_assertions`.

use bitflags::bitflags;
use rtsched::{Error, QueueKind, UnitFlags};
use static_assertions::{assert_eq_align, assert_eq_size, const_assert_eq};

/// Handle value that names no unit (the idle unit in a decision, "none" in queries).
pub const RTSCHED_NONE: u32 = u32::MAX;

/// The low bits of a unit handle that name its slot; the bits above hold the slot's
/// generation (see `Rtsched`, "Handles").
pub const RTSCHED_SLOT_BITS: u32 = 20;
/// `handle & RTSCHED_SLOT_MASK` is the slot of a unit handle, below the capacity.
pub const RTSCHED_SLOT_MASK: u32 = 0xf_ffff;
const_assert_eq!(RTSCHED_SLOT_MASK, (1 << RTSCHED_SLOT_BITS) - 1);
/// The largest unit capacity of an instance. (Its slots stay below `RTSCHED_SLOT_MASK`, so no
/// handle is `RTSCHED_NONE`.)
pub const RTSCHED_MAX_UNITS: u32 = RTSCHED_SLOT_MASK;

/// The largest CPU count of an instance; CPU numbers are below it.
pub const RTSCHED_MAX_CPUS: u32 = 256;
const_assert_eq!(RTSCHED_MAX_CPUS as usize, rtsched::MAX_CPUS);

/// The largest time (ns) a hook accepts, so that a time plus a period cannot overflow (146
/// years after the host's clock started). See `Rtsched`, "Time".
pub const RTSCHED_TIME_MAX: i64 = 0x3fff_ffff_ffff_ffff;
const_assert_eq!(RTSCHED_TIME_MAX, rtsched::params::MAX_TIME);

/// Result codes: 0 on success, a negated Xen errno on failure.
#[repr(i32)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RtschedResult {
    /// Success.
    Ok = 0,
    /// Internal inconsistency detected (`-EIO`); nothing further was changed.
    Eio = -5,
    /// Resource busy (`-EBUSY`): the unit or CPU is in use, or the call breaks the hook
    /// protocol (see `Rtsched`).
    Ebusy = -16,
    /// Invalid argument (`-EINVAL`): null pointer, bad handle, CPU, size, time or parameters.
    Einval = -22,
    /// No space (`-ENOSPC`): storage full, or admission control refused.
    Enospc = -28,
}

/// Each error of the core crosses the ABI as the errno of its variant; a new variant does not
/// compile until it is given one here.
impl From<Error> for RtschedResult {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidParams => RtschedResult::Einval,
            Error::NoSuchUnit => RtschedResult::Einval,
            Error::NoSuchCpu => RtschedResult::Einval,
            Error::InvalidTime => RtschedResult::Einval,
            Error::NoAllowedCpu => RtschedResult::Einval,
            Error::BadStorage => RtschedResult::Einval,
            Error::NoSpace => RtschedResult::Enospc,
            Error::NotAdmitted => RtschedResult::Enospc,
            Error::Busy => RtschedResult::Ebusy,
            Error::Corrupt => RtschedResult::Eio,
        }
    }
}

/// A set of up to 256 CPUs: bit `c % 64` of `bits[c / 64]` stands for CPU `c`.
#[repr(C)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct RtschedCpumask {
    /// The bit words.
    pub bits: [u64; 4],
}
assert_eq_size!(RtschedCpumask, rtsched::CpuMask);
const_assert_eq!(core::mem::size_of::<RtschedCpumask>(), 32);

impl From<RtschedCpumask> for rtsched::CpuMask {
    fn from(m: RtschedCpumask) -> Self {
        rtsched::CpuMask { bits: m.bits }
    }
}

impl From<rtsched::CpuMask> for RtschedCpumask {
    fn from(m: rtsched::CpuMask) -> Self {
        RtschedCpumask { bits: m.bits }
    }
}

/// What to do with the replenishment timer.
#[repr(u32)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum RtschedTimerOp {
    /// Leave it as it is.
    #[default]
    Keep = 0,
    /// Program it for `timer_expiry`.
    Set = 1,
    /// Stop it.
    Stop = 2,
}

/// Side effects the host must perform after a hook (under the scheduler lock).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RtschedActions {
    /// CPUs to raise `SCHEDULE_SOFTIRQ` on.
    pub reschedule: RtschedCpumask,
    /// Replenishment timer operation.
    pub timer_op: RtschedTimerOp,
    /// Absolute expiry (ns) when `timer_op` is `Set`.
    pub timer_expiry: i64,
}
const_assert_eq!(core::mem::size_of::<RtschedActions>(), 48);

impl RtschedActions {
    /// Writes the core's actions here, field by field. (The hooks' C functions read the
    /// core's result in place with this: building a whole struct from it cost a copy of the
    /// mask on every call.)
    #[inline]
    pub fn put(&mut self, a: &rtsched::Actions) {
        self.reschedule.bits = a.reschedule.bits;
        (self.timer_op, self.timer_expiry) = match a.timer {
            rtsched::TimerOp::Keep => (RtschedTimerOp::Keep, 0),
            rtsched::TimerOp::Set(t) => (RtschedTimerOp::Set, t),
            rtsched::TimerOp::Stop => (RtschedTimerOp::Stop, 0),
        };
    }
}

impl From<rtsched::Actions> for RtschedActions {
    fn from(a: rtsched::Actions) -> Self {
        let mut c = RtschedActions::default();
        c.put(&a);
        c
    }
}

/// The outcome of `rtsched_do_schedule`.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RtschedDecision {
    /// Unit to run next, or `RTSCHED_NONE` for the idle unit.
    pub next: u32,
    /// 1 when `next` comes from another CPU.
    pub migrated: u32,
    /// Time slice in ns (the unit's remaining budget), -1 for idle.
    pub slice: i64,
    /// Side effects.
    pub actions: RtschedActions,
}
const_assert_eq!(core::mem::size_of::<RtschedDecision>(), 64);

/// Server parameters of a unit.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtschedParams {
    /// Period in ns (10 us .. 2^62-1).
    pub period: i64,
    /// Budget in ns (10 us .. period).
    pub budget: i64,
    /// `RTSCHED_PARAM_*` bits; any other bit is refused.
    pub flags: u32,
    /// Reserved, must be 0.
    pub reserved: u32,
}
const_assert_eq!(core::mem::size_of::<RtschedParams>(), 24);

/// `RtschedParams.flags`: the unit may run on extratime once its budget is used up (Xen's
/// `XEN_DOMCTL_SCHEDRT_extra`).
pub const RTSCHED_PARAM_EXTRATIME: u32 = 1;

bitflags! {
    /// Flags of [`RtschedParams`].
    #[repr(transparent)]
    pub(crate) struct RtschedParamFlags: u32 {
        /// See [`RTSCHED_PARAM_EXTRATIME`].
        const EXTRATIME = RTSCHED_PARAM_EXTRATIME;
    }
}

/// `RtschedPolicy.topology`: one instance per cpupool (rt-global).
pub const RTSCHED_TOPOLOGY_GLOBAL: u32 = 0;
/// `RtschedPolicy.topology`: one instance per PCPU (rt-partition).
pub const RTSCHED_TOPOLOGY_PARTITION: u32 = 1;
/// `RtschedPolicy.priority`, `rtsched_set_priority`: earliest deadline first.
pub const RTSCHED_PRIORITY_EDF: u32 = 0;
/// `RtschedPolicy.priority`, `rtsched_set_priority`: deadline monotonic.
pub const RTSCHED_PRIORITY_DM: u32 = 1;
/// `RtschedPolicy.server`, `rtsched_set_server`: deferrable server.
pub const RTSCHED_SERVER_DEFERRABLE: u32 = 0;
/// `RtschedPolicy.server`, `rtsched_set_server`: periodic server.
pub const RTSCHED_SERVER_PERIODIC: u32 = 1;
/// `RtschedPolicy.server`, `rtsched_set_server`: constant-bandwidth server (hard CBS).
pub const RTSCHED_SERVER_CBS: u32 = 2;
/// `RtschedPolicy.classes`: real-time units outrank non-real-time ones (RT-Xen 2.1 classes,
/// the default).
pub const RTSCHED_CLASS_RULE_CLASSES: u32 = 0;
/// `RtschedPolicy.classes`: plain RTDS order (Xen's rt.c).
pub const RTSCHED_CLASS_RULE_RTDS: u32 = 1;
const_assert_eq!(RTSCHED_TOPOLOGY_GLOBAL, rtsched::Topology::Global as u32);
const_assert_eq!(
    RTSCHED_TOPOLOGY_PARTITION,
    rtsched::Topology::Partition as u32
);
const_assert_eq!(RTSCHED_PRIORITY_EDF, rtsched::PriorityScheme::Edf as u32);
const_assert_eq!(RTSCHED_PRIORITY_DM, rtsched::PriorityScheme::Dm as u32);
const_assert_eq!(
    RTSCHED_SERVER_DEFERRABLE,
    rtsched::ServerKind::Deferrable as u32
);
const_assert_eq!(
    RTSCHED_SERVER_PERIODIC,
    rtsched::ServerKind::Periodic as u32
);
const_assert_eq!(RTSCHED_SERVER_CBS, rtsched::ServerKind::Cbs as u32);
const_assert_eq!(
    RTSCHED_CLASS_RULE_CLASSES,
    rtsched::ClassRule::Classes as u32
);
const_assert_eq!(RTSCHED_CLASS_RULE_RTDS, rtsched::ClassRule::Rtds as u32);

/// Scheduling policy at initialisation (and as reported by `rtsched_queue_info`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RtschedPolicy {
    /// `RTSCHED_TOPOLOGY_*`.
    pub topology: u32,
    /// `RTSCHED_PRIORITY_*`.
    pub priority: u32,
    /// `RTSCHED_SERVER_*`.
    pub server: u32,
    /// 1 to enable admission control, 0 not.
    pub admission: u32,
    /// `RTSCHED_CLASS_RULE_*`.
    pub classes: u32,
}
assert_eq_align!(RtschedPolicy, u32);

/// `RtschedUnitInfo.flags`: picked by `do_schedule`, until its `context_saved` (running or
/// being switched out).
pub const RTSCHED_UNIT_SCHEDULED: u32 = 2;
/// `RtschedUnitInfo.flags`: queued again by `context_saved` (runnable when switched out).
pub const RTSCHED_UNIT_DELAYED_RUNQ_ADD: u32 = 4;
/// `RtschedUnitInfo.flags`: no budget left and no extratime, until replenished.
pub const RTSCHED_UNIT_DEPLETED: u32 = 8;
/// `RtschedUnitInfo.flags`: may run on extratime (`RTSCHED_PARAM_EXTRATIME`).
pub const RTSCHED_UNIT_EXTRATIME: u32 = 16;
const_assert_eq!(RTSCHED_UNIT_SCHEDULED, UnitFlags::SCHEDULED.bits() as u32);
const_assert_eq!(
    RTSCHED_UNIT_DELAYED_RUNQ_ADD,
    UnitFlags::DELAYED_RUNQ_ADD.bits() as u32
);
const_assert_eq!(RTSCHED_UNIT_DEPLETED, UnitFlags::DEPLETED.bits() as u32);
const_assert_eq!(RTSCHED_UNIT_EXTRATIME, UnitFlags::EXTRATIME.bits() as u32);

/// `RtschedUnitInfo.queue`: on no queue (running, being switched out, blocked, not
/// inserted).
pub const RTSCHED_UNIT_QUEUE_NONE: u32 = 0;
/// `RtschedUnitInfo.queue`: on the run queue.
pub const RTSCHED_UNIT_QUEUE_RUN: u32 = 1;
/// `RtschedUnitInfo.queue`: on the depleted queue (waits for its replenishment).
pub const RTSCHED_UNIT_QUEUE_DEPLETED: u32 = 2;
const_assert_eq!(RTSCHED_UNIT_QUEUE_NONE, QueueKind::None as u32);
const_assert_eq!(RTSCHED_UNIT_QUEUE_RUN, QueueKind::Run as u32);
const_assert_eq!(RTSCHED_UNIT_QUEUE_DEPLETED, QueueKind::Depleted as u32);

/// A snapshot of one unit (for Xen's debug-key dump). The C ABI's own copy of
/// `rtsched::UnitInfo`, so the ABI stays stable when the core's type changes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RtschedUnitInfo {
    /// Domain id given at allocation.
    pub domain: u32,
    /// VCPU id within the domain.
    pub vcpu: u32,
    /// Period, ns.
    pub period: i64,
    /// Budget, ns.
    pub budget: i64,
    /// Budget left, ns.
    pub cur_budget: i64,
    /// Current deadline, ns.
    pub cur_deadline: i64,
    /// Last start or replenishment, ns.
    pub last_start: i64,
    /// Extratime level (0 on reserved budget).
    pub priority_level: u32,
    /// `RTSCHED_UNIT_*` flag bits.
    pub flags: u32,
    /// Assigned PCPU.
    pub cpu: u32,
    /// `RTSCHED_UNIT_QUEUE_*`: the queue the unit is on.
    pub queue: u32,
    /// 1 when a replenishment is pending.
    pub on_replq: u32,
    /// 1 when last reported runnable.
    pub runnable: u32,
    /// 1 when inserted.
    pub inserted: u32,
    /// 1 when running on its CPU.
    pub running: u32,
}
const_assert_eq!(core::mem::size_of::<RtschedUnitInfo>(), 80);

impl From<rtsched::UnitInfo> for RtschedUnitInfo {
    fn from(u: rtsched::UnitInfo) -> Self {
        RtschedUnitInfo {
            domain: u.domain,
            vcpu: u.vcpu,
            period: u.period,
            budget: u.budget,
            cur_budget: u.cur_budget,
            cur_deadline: u.cur_deadline,
            last_start: u.last_start,
            priority_level: u.priority_level,
            flags: u.flags,
            cpu: u.cpu,
            queue: u.queue,
            on_replq: u.on_replq,
            runnable: u.runnable,
            inserted: u.inserted,
            running: u.running,
        }
    }
}

/// Index of each counter in `RtschedStats.counters` (what each counts: `rtsched::Stats`).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtschedStat {
    /// `do_schedule` calls.
    Schedules = 0,
    /// `do_schedule` calls that picked another unit than the current one.
    Switches = 1,
    /// `do_schedule` calls that went idle for tasklet work.
    TaskletIdle = 2,
    /// Units picked on a CPU other than their own.
    Migrations = 3,
    /// `wake` calls.
    Wakes = 4,
    /// `sleep` calls.
    Sleeps = 5,
    /// `insert` calls.
    Inserts = 6,
    /// `remove` calls.
    Removes = 7,
    /// `context_saved` calls.
    ContextSaved = 8,
    /// Replenishment timer expiries handled.
    TimerFires = 9,
    /// Units replenished by the timer.
    Replenishments = 10,
    /// Tickles that found an idle CPU.
    TickleIdle = 11,
    /// Tickles that preempted a lower-priority unit.
    TickleBusy = 12,
    /// Tickles that found no CPU to preempt.
    TickleNone = 13,
    /// Hook times behind the instance's clock, taken as the clock (see `Rtsched`, "Time").
    ClockBackwards = 14,
    /// Non-runnable units found on the run queue by `do_schedule` and dropped.
    DroppedUnrunnable = 15,
    /// Periodic server: picks of a blocked unit whose budget an idle CPU then consumed.
    PhantomPicks = 16,
    /// Constant-bandwidth server: wakes that started a new period (the CBS wake-up rule).
    CbsRestarts = 17,
    /// `rtsched_unit_io_event` calls.
    IoEvents = 18,
    /// Spare servers attached to units.
    SpareAttaches = 19,
    /// Spare periods renewed for an attached unit.
    SpareRenewals = 20,
    /// Spare servers returned to the pool.
    SpareReturns = 21,
    /// I/O events for an eligible unit that found no spare to lend (none free, or in the last
    /// spare period before its replenishment a scaled budget below the minimum budget).
    SpareNoneFree = 22,
    /// Spares lent or renewed shortened (in the last spare period before the unit's own
    /// replenishment, with that replenishment as deadline and the budget scaled to the time
    /// left).
    SpareShort = 23,
    /// Nanoseconds the replenishment timer expired after the time it was programmed for
    /// while a CPU of the instance idled, summed (the host's timer latency where a unit
    /// waiting for its budget could have run).
    TimerLateNs = 24,
    /// Nanoseconds units without extratime ran beyond their budgets while a unit with
    /// budget waited on the run queue, summed (each repays its own overrun as debt).
    OverrunNs = 25,
    /// Budget (ns) units without extratime still held at a deadline they reached runnable,
    /// summed.
    LostNs = 26,
    /// The part of `LostNs` interference explains, unit by unit (at most the lateness the
    /// unit's period saw: its late replenishment, others' overruns while it waited).
    ExcusedNs = 27,
}

/// Number of event counters in `RtschedStats`.
pub const RTSCHED_NR_STATS: usize = 28;
const_assert_eq!(RtschedStat::ExcusedNs as usize + 1, RTSCHED_NR_STATS);

/// Event counters, indexed by `RtschedStat`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RtschedStats {
    /// The counters.
    pub counters: [u64; RTSCHED_NR_STATS],
}

impl From<rtsched::Stats> for RtschedStats {
    fn from(s: rtsched::Stats) -> Self {
        use RtschedStat as S;
        let mut counters = [0; RTSCHED_NR_STATS];
        for (i, v) in [
            (S::Schedules, s.schedules),
            (S::Switches, s.switches),
            (S::TaskletIdle, s.tasklet_idle),
            (S::Migrations, s.migrations),
            (S::Wakes, s.wakes),
            (S::Sleeps, s.sleeps),
            (S::Inserts, s.inserts),
            (S::Removes, s.removes),
            (S::ContextSaved, s.context_saved),
            (S::TimerFires, s.timer_fires),
            (S::Replenishments, s.replenishments),
            (S::TickleIdle, s.tickle_idle),
            (S::TickleBusy, s.tickle_busy),
            (S::TickleNone, s.tickle_none),
            (S::ClockBackwards, s.clock_backwards),
            (S::DroppedUnrunnable, s.dropped_unrunnable),
            (S::PhantomPicks, s.phantom_picks),
            (S::CbsRestarts, s.cbs_restarts),
            (S::IoEvents, s.io_events),
            (S::SpareAttaches, s.spare_attaches),
            (S::SpareRenewals, s.spare_renewals),
            (S::SpareReturns, s.spare_returns),
            (S::SpareNoneFree, s.spare_none_free),
            (S::SpareShort, s.spare_short),
            (S::TimerLateNs, s.timer_late_ns),
            (S::OverrunNs, s.overrun_ns),
            (S::LostNs, s.lost_ns),
            (S::ExcusedNs, s.excused_ns),
        ] {
            if let Some(c) = counters.get_mut(i as usize) {
                *c = v;
            }
        }
        RtschedStats { counters }
    }
}

/// Queue summary of an instance.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RtschedQueueInfo {
    /// Units on the run queue.
    pub runq_len: u32,
    /// Units on the depleted queue.
    pub depleted_len: u32,
    /// Units with a pending replenishment.
    pub replq_len: u32,
    /// Allocated units.
    pub nr_units: u32,
    /// Programmed replenishment expiry, or -1 when stopped.
    pub timer: i64,
    /// Online CPUs.
    pub online: RtschedCpumask,
    /// Tickled CPUs.
    pub tickled: RtschedCpumask,
    /// The policy in force.
    pub policy: RtschedPolicy,
}

/// Which queue `rtsched_queue_at` reads (its `which` argument).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RtschedQueue {
    /// The run queue (heap order).
    Run = 0,
    /// The replenishment queue (heap order).
    Repl = 1,
}

/// An admission verdict (see `rtsched::admission`); bandwidths in parts per million.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RtschedVerdict {
    /// 1 when the reservations pass the schedulability test of the policy in force.
    pub schedulable: u32,
    /// Reserved, 0.
    pub reserved: u32,
    /// Total reserved bandwidth.
    pub total_ppm: u64,
    /// Largest reserved bandwidth of one unit.
    pub max_ppm: u64,
    /// Bandwidth one more unit could reserve and still pass.
    pub remaining_ppm: u64,
}

/// The load of one PCPU, for `rtsched_partition_place`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RtschedPcpuLoad {
    /// Reserved bandwidth on the PCPU (ppm), not counting the unit being placed.
    pub bandwidth_ppm: u64,
    /// 1 when a unit of the same domain is on the PCPU.
    pub same_domain: u32,
    /// Reserved, 0.
    pub reserved: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_crosses_as_the_errno_the_core_documents() {
        for e in [
            Error::InvalidParams,
            Error::NoSuchUnit,
            Error::NoSuchCpu,
            Error::InvalidTime,
            Error::NoAllowedCpu,
            Error::NoSpace,
            Error::Busy,
            Error::NotAdmitted,
            Error::BadStorage,
            Error::Corrupt,
        ] {
            assert_eq!(RtschedResult::from(e) as i32, -e.errno(), "{e:?}");
        }
    }
}
