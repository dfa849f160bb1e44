//! What the host keeps between hooks.

use rtsched::CpuMask;

/// One host action or hook outcome, as recorded when [`State::record`] is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// `do_schedule` on `cpu` switched from `prev` to `next` (or kept it) with this slice.
    Schedule {
        /// Time, ns.
        t: i64,
        /// CPU.
        cpu: usize,
        /// The unit that was current.
        prev: Option<usize>,
        /// The unit picked.
        next: Option<usize>,
        /// The slice granted (-1: no limit).
        slice: i64,
    },
    /// `context_saved` of `unit`.
    Saved {
        /// Time, ns.
        t: i64,
        /// Unit.
        unit: usize,
        /// Whether it was runnable.
        runnable: bool,
    },
    /// `wake` of `unit`.
    Wake {
        /// Time, ns.
        t: i64,
        /// Unit.
        unit: usize,
    },
    /// `unit` stopped being runnable (blocked or paused).
    Block {
        /// Time, ns.
        t: i64,
        /// Unit.
        unit: usize,
    },
    /// Instance `inst`'s replenishment timer fired.
    Timer {
        /// Time, ns.
        t: i64,
        /// Instance.
        inst: usize,
    },
}

/// The host's view of one unit.
#[derive(Clone, Copy, Debug, Default)]
pub struct UnitState {
    /// The instance it belongs to.
    pub inst: usize,
    /// It has work and is not paused.
    pub ready: bool,
    /// An affinity change is in progress: not runnable until it is given a new CPU.
    pub migrating: bool,
    /// Times `do_schedule` reported it migrated to another CPU.
    pub migrations: u64,
}

/// The host's view of one CPU.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuState {
    /// The unit current on it (`None`: idle).
    pub curr: Option<usize>,
    /// When its slice ends (`None`: no limit).
    pub slice_end: Option<i64>,
}

/// A unit switched out whose `context_saved` is pending.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Save {
    /// The CPU that switched it out.
    pub cpu: usize,
    /// The unit.
    pub unit: usize,
    /// When it is due (`i64::MAX`: when the harness says).
    pub due: i64,
}

/// What Xen's core keeps between hooks. See the [crate documentation](crate).
#[derive(Clone, Debug)]
pub struct State {
    /// Time, ns.
    pub now: i64,
    /// Per unit.
    pub units: Vec<UnitState>,
    /// Per CPU.
    pub cpus: Vec<CpuState>,
    /// The instance each CPU belongs to.
    pub cpu_inst: Vec<usize>,
    /// Each instance's replenishment timer expiry, if programmed.
    pub timers: Vec<Option<i64>>,
    /// CPUs with a pending reschedule request.
    pub resched: CpuMask,
    /// Pending context saves, oldest first.
    pub saves: Vec<Save>,
    /// The CPUs in the pool; one that left is not scheduled once the scheduler no longer
    /// holds it.
    pub online: CpuMask,
    /// Delay between a context switch and its `context_saved`: `Some(0)` at once,
    /// `Some(d)` `d` ns later, `None` when the harness performs it.
    pub context_delay: Option<i64>,
    /// Call `sleep` before rescheduling when a running unit blocks by itself (Xen does not).
    pub sleep_on_block: bool,
    /// The host learns runnability lazily, as Xen's shim does (a domain is paused without
    /// the scheduler lock): before `do_schedule` it checks the unit the pick meets first
    /// ([`Hooks::peek`](crate::Hooks::peek)) and reports it while it is not runnable; the
    /// unit picked (other than the one that ran) must be the one it checked, runnable.
    pub lazy_runnable: bool,
    /// Print every scheduling decision to stderr.
    pub trace: bool,
    /// Append every hook call and decision to [`State::log`].
    pub record: bool,
    /// The recorded events.
    pub log: Vec<Event>,
}

impl State {
    /// Whether unit `u` is runnable in the host's view (has work, not migrating): what the
    /// hooks are told.
    pub fn runnable(&self, u: usize) -> bool {
        let s = &self.units[u];
        s.ready && !s.migrating
    }

    /// The unit current on CPU `c`.
    pub fn curr(&self, c: usize) -> Option<usize> {
        self.cpus[c].curr
    }

    /// The CPU unit `u` is current on.
    pub fn cpu_of(&self, u: usize) -> Option<usize> {
        self.cpus.iter().position(|c| c.curr == Some(u))
    }

    /// The unit CPU `c` switched out whose `context_saved` is pending (the oldest).
    pub fn saving(&self, c: usize) -> Option<usize> {
        self.saves.iter().find(|s| s.cpu == c).map(|s| s.unit)
    }

    /// Whether unit `u`'s `context_saved` is pending.
    pub fn is_saving(&self, u: usize) -> bool {
        self.saves.iter().any(|s| s.unit == u)
    }

    /// Whether unit `u` is on a CPU: current, or switched out and not saved yet.
    pub fn on_cpu(&self, u: usize) -> bool {
        self.cpu_of(u).is_some() || self.is_saving(u)
    }

    pub(crate) fn log_event(&mut self, e: Event) {
        if self.record {
            self.log.push(e);
        }
    }
}
