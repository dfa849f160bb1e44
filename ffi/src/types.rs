//! `#[repr(C)]` types of the C ABI, with their layout pinned by `static_assertions`.

use bitflags::bitflags;
use static_assertions::{assert_eq_align, assert_eq_size, const_assert_eq};

/// Handle value that names no unit (the idle unit in a decision, "none" in queries).
pub const RTSCHED_NONE: u32 = u32::MAX;

/// Result codes: 0 on success, a negated Xen errno on failure.
#[repr(i32)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RtschedResult {
    /// Success.
    Ok = 0,
    /// Internal inconsistency detected (`-EIO`); nothing further was changed.
    Eio = -5,
    /// Resource busy (`-EBUSY`): the unit or CPU is in use.
    Ebusy = -16,
    /// Invalid argument (`-EINVAL`): null pointer, bad handle, CPU, size or parameters.
    Einval = -22,
    /// No space (`-ENOSPC`): storage full, or admission control refused.
    Enospc = -28,
}

impl From<rtsched::Error> for RtschedResult {
    fn from(e: rtsched::Error) -> Self {
        match e.errno() {
            5 => RtschedResult::Eio,
            16 => RtschedResult::Ebusy,
            28 => RtschedResult::Enospc,
            _ => RtschedResult::Einval,
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
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RtschedTimerOp {
    /// Leave it as it is.
    Keep = 0,
    /// Program it for `timer_expiry`.
    Set = 1,
    /// Stop it.
    Stop = 2,
}

/// Side effects the host must perform after a hook (under the scheduler lock).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct RtschedActions {
    /// CPUs to raise `SCHEDULE_SOFTIRQ` on.
    pub reschedule: RtschedCpumask,
    /// Replenishment timer operation.
    pub timer_op: RtschedTimerOp,
    /// Absolute expiry (ns) when `timer_op` is `Set`.
    pub timer_expiry: i64,
}
const_assert_eq!(core::mem::size_of::<RtschedActions>(), 48);

impl From<rtsched::Actions> for RtschedActions {
    fn from(a: rtsched::Actions) -> Self {
        let (timer_op, timer_expiry) = match a.timer {
            rtsched::TimerOp::Keep => (RtschedTimerOp::Keep, 0),
            rtsched::TimerOp::Set(t) => (RtschedTimerOp::Set, t),
            rtsched::TimerOp::Stop => (RtschedTimerOp::Stop, 0),
        };
        RtschedActions {
            reschedule: a.reschedule.into(),
            timer_op,
            timer_expiry,
        }
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
    /// `RTSCHED_PARAM_EXTRATIME` and future flags.
    pub flags: u32,
    /// Reserved, must be 0.
    pub reserved: u32,
}
const_assert_eq!(core::mem::size_of::<RtschedParams>(), 24);

bitflags! {
    /// Flags of [`RtschedParams`].
    #[repr(transparent)]
    pub struct RtschedParamFlags: u32 {
        /// The unit may run on extratime (Xen's `XEN_DOMCTL_SCHEDRT_extra`).
        const EXTRATIME = 1;
    }
}

/// Scheduling policy at initialisation.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RtschedPolicy {
    /// 0 global (one run queue), 1 partition (per-CPU run queues).
    pub topology: u32,
    /// 0 EDF, 1 deadline monotonic.
    pub priority: u32,
    /// 0 deferrable server, 1 periodic server, 2 constant-bandwidth server (hard CBS).
    pub server: u32,
    /// 1 to enable admission control.
    pub admission: u32,
    /// 0: real-time units outrank non-real-time ones (RT-Xen 2.1 classes, the default);
    /// 1: plain RTDS order.
    pub classes: u32,
}
assert_eq_align!(RtschedPolicy, u32);

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
    /// Flag bits: 2 scheduled, 4 delayed run-queue add, 8 depleted, 16 extratime.
    pub flags: u32,
    /// Assigned PCPU.
    pub cpu: u32,
    /// 0 no queue, 1 run queue, 2 depleted queue.
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

/// Number of event counters in [`RtschedStats`].
pub const RTSCHED_NR_STATS: usize = 18;

/// Event counters, in this order: schedules, switches, tasklet_idle, migrations, wakes,
/// sleeps, inserts, removes, context_saved, timer_fires, replenishments, tickle_idle,
/// tickle_busy, tickle_none, clock_backwards, dropped_unrunnable, phantom_picks, cbs_restarts (see
/// `rtsched::Stats`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct RtschedStats {
    /// The counters.
    pub counters: [u64; RTSCHED_NR_STATS],
}

impl From<rtsched::Stats> for RtschedStats {
    fn from(s: rtsched::Stats) -> Self {
        RtschedStats {
            counters: [
                s.schedules,
                s.switches,
                s.tasklet_idle,
                s.migrations,
                s.wakes,
                s.sleeps,
                s.inserts,
                s.removes,
                s.context_saved,
                s.timer_fires,
                s.replenishments,
                s.tickle_idle,
                s.tickle_busy,
                s.tickle_none,
                s.clock_backwards,
                s.dropped_unrunnable,
                s.phantom_picks,
                s.cbs_restarts,
            ],
        }
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

/// Which queue `rtsched_queue_at` reads.
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
