//! A deterministic host for `rtsched::Scheduler`: simulated CPUs, workloads and time.
//!
//! It drives the hooks the way Xen's scheduling core does:
//! - each CPU has a current unit and a slice end (`now + Decision::slice`); when a slice
//!   ends, or a reschedule is requested (`Actions::reschedule`), the CPU runs `do_schedule`;
//! - a unit switched out gets `context_saved` right after the switch (`context_delay` can
//!   postpone it to exercise the `DELAYED_RUNQ_ADD` protocol);
//! - a running unit whose work is done blocks: it stops being runnable and its CPU runs
//!   `do_schedule` (Xen calls no `sleep` hook for a vCPU that blocks itself); a blocked unit
//!   whose next job is released is woken with `wake`;
//! - the replenishment timer fires at the expiry the hooks programmed (`TimerOp`).
//!
//! Time advances from event to event; there is no wall clock and no randomness, so every
//! run is reproducible. The simulator accounts each unit's CPU time, each CPU's idle time and
//! each job's deadline.

use rtsched::{
    Actions, CpuMask, Decision, Params, Pcpu, Policy, Scheduler, Storage, TimerOp, Unit, UnitId,
};

/// What a unit does with the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Always has work (a busy loop).
    Busy,
    /// Releases a job of `exec` ns at `offset + n * period`; each job's deadline is the next
    /// release. Unfinished work is dropped at the deadline and counted as a miss.
    Periodic {
        /// Job period, ns.
        period: i64,
        /// Work per job, ns.
        exec: i64,
        /// First release, ns.
        offset: i64,
    },
}

/// Per-unit accounting of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnitStats {
    /// CPU time received, ns.
    pub run_ns: i64,
    /// Jobs released.
    pub jobs: u64,
    /// Jobs that missed their deadline.
    pub misses: u64,
}

struct SimUnit {
    id: UnitId,
    work: Work,
    runnable: bool,
    remaining: i64,
    next_release: i64,
    stats: UnitStats,
}

struct SimCpu {
    curr: Option<usize>,
    slice_end: Option<i64>,
    idle_ns: i64,
}

/// The simulated host.
pub struct Sim {
    /// The scheduler under test.
    pub s: Scheduler<'static>,
    units: Vec<SimUnit>,
    cpus: Vec<SimCpu>,
    now: i64,
    timer: Option<i64>,
    resched: CpuMask,
    pending_saves: Vec<(i64, usize)>,
    /// Delay between a switch and its `context_saved` (0: immediately).
    pub context_delay: i64,
    /// Run `rtsched::invariants::check` after every hook.
    pub check: bool,
    /// Print every scheduling decision to stderr.
    pub trace: bool,
}

fn leak<T: Clone>(v: T, n: usize) -> &'static mut [T] {
    Vec::leak(vec![v; n])
}

impl Sim {
    /// A host with `ncpus` CPUs, all online, room for `cap` units.
    pub fn new(ncpus: usize, cap: usize, policy: Policy) -> Sim {
        let storage = Storage {
            units: leak(Unit::EMPTY, cap),
            runq: leak(0u32, cap),
            replq: leak(0u32, cap),
            cpus: leak(Pcpu::IDLE, ncpus),
        };
        let mut s = Scheduler::new(storage, policy).expect("valid storage");
        for c in 0..ncpus {
            s.cpu_add(c).expect("cpu");
        }
        Sim {
            s,
            units: Vec::new(),
            cpus: (0..ncpus)
                .map(|_| SimCpu {
                    curr: None,
                    slice_end: None,
                    idle_ns: 0,
                })
                .collect(),
            now: 0,
            timer: None,
            resched: CpuMask::EMPTY,
            pending_saves: Vec::new(),
            context_delay: 0,
            check: true,
            trace: false,
        }
    }

    /// Adds a unit with its parameters, affinity and workload; returns its index.
    pub fn add_unit(&mut self, p: Params, affinity: CpuMask, work: Work) -> usize {
        let i = self.units.len();
        let id = self.s.unit_alloc(i as u32, 0, affinity).expect("unit slot");
        self.s.set_params(id, p).expect("valid parameters");
        let (cpu, a) = self.s.insert(id, self.now, false, false).expect("insert");
        let _ = cpu;
        self.apply(a);
        let next_release = match work {
            Work::Busy => i64::MAX,
            Work::Periodic { offset, .. } => offset,
        };
        self.units.push(SimUnit {
            id,
            work,
            runnable: false,
            remaining: 0,
            next_release,
            stats: UnitStats::default(),
        });
        if work == Work::Busy {
            self.wake(i);
        }
        i
    }

    /// The handle of unit `i`.
    pub fn id(&self, i: usize) -> UnitId {
        self.units[i].id
    }

    /// Current simulated time, ns.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// Accounting of unit `i`.
    pub fn stats(&self, i: usize) -> UnitStats {
        self.units[i].stats
    }

    /// Idle time of CPU `c`, ns.
    pub fn idle_ns(&self, c: usize) -> i64 {
        self.cpus[c].idle_ns
    }

    /// Resets all accounting (e.g. after a warm-up).
    pub fn reset_stats(&mut self) {
        for u in &mut self.units {
            u.stats = UnitStats::default();
        }
        for c in &mut self.cpus {
            c.idle_ns = 0;
        }
    }

    fn ok(&self) {
        if self.check {
            if let Err(e) = rtsched::invariants::check(&self.s) {
                panic!("invariant violated at {} ns: {e}", self.now);
            }
        }
    }

    /// Performs a hook's actions.
    pub fn apply(&mut self, a: Actions) {
        for c in a.reschedule.iter() {
            self.resched.set(c);
        }
        match a.timer {
            TimerOp::Keep => {}
            TimerOp::Set(t) => self.timer = Some(t),
            TimerOp::Stop => self.timer = None,
        }
        self.ok();
    }

    fn wake(&mut self, i: usize) {
        self.units[i].runnable = true;
        let a = self.s.wake(self.units[i].id, self.now).expect("wake");
        self.apply(a);
    }

    /// Runs `do_schedule` on every CPU that was asked to, until none is.
    fn reschedule(&mut self) {
        for _ in 0..10_000 {
            let Some(c) = self.resched.first() else {
                return;
            };
            self.resched.clear(c);
            self.schedule_cpu(c);
            self.flush_saves(false);
        }
        panic!("reschedule requests do not settle at {} ns", self.now);
    }

    fn schedule_cpu(&mut self, c: usize) {
        let prev = self.cpus[c].curr;
        let prev_runnable = prev.is_some_and(|i| self.units[i].runnable);
        let d: Decision = self
            .s
            .do_schedule(c, self.now, prev_runnable, false)
            .expect("do_schedule");
        if self.trace {
            eprintln!(
                "t={} cpu{c} prev={prev:?} -> {:?} slice={}",
                self.now, d.next, d.slice
            );
        }
        let next = d.next.map(|id| {
            self.units
                .iter()
                .position(|u| u.id == id)
                .expect("known unit")
        });
        self.cpus[c].curr = next;
        self.cpus[c].slice_end = (d.slice >= 0).then(|| self.now.saturating_add(d.slice));
        self.apply(d.actions);
        if let Some(p) = prev {
            if next != Some(p) {
                self.pending_saves.push((self.now + self.context_delay, p));
            }
        }
    }

    fn flush_saves(&mut self, all: bool) {
        let now = self.now;
        let mut keep = Vec::new();
        for (t, p) in std::mem::take(&mut self.pending_saves) {
            if all || t <= now {
                let a = self
                    .s
                    .context_saved(self.units[p].id, self.units[p].runnable)
                    .expect("context_saved");
                self.apply(a);
            } else {
                keep.push((t, p));
            }
        }
        self.pending_saves = keep;
    }

    /// Switches `i`'s extratime flag (as `xl sched-rtds -e` does) at the current time.
    pub fn set_params(&mut self, i: usize, p: Params) {
        let a = self.s.set_params(self.units[i].id, p).expect("params");
        self.apply(a);
    }

    /// Applies a hook's actions from outside (e.g. a policy switch) and reschedules.
    pub fn act(&mut self, a: Actions) {
        self.apply(a);
        self.reschedule();
    }

    /// Runs until `end` ns.
    pub fn run_until(&mut self, end: i64) {
        self.reschedule();
        while self.now < end {
            // Next event.
            let mut t = end;
            if let Some(x) = self.timer {
                t = t.min(x.max(self.now));
            }
            for c in &self.cpus {
                if let Some(x) = c.slice_end {
                    t = t.min(x.max(self.now));
                }
                if let Some(i) = c.curr {
                    let u = &self.units[i];
                    if u.runnable && u.work != Work::Busy {
                        t = t.min(self.now + u.remaining.max(0));
                    }
                }
            }
            for u in &self.units {
                t = t.min(u.next_release.max(self.now));
            }
            for (x, _) in &self.pending_saves {
                t = t.min((*x).max(self.now));
            }
            // Account the interval.
            let dt = t - self.now;
            for c in &mut self.cpus {
                match c.curr {
                    Some(i) if self.units[i].runnable => {
                        let u = &mut self.units[i];
                        u.stats.run_ns += dt;
                        if u.work != Work::Busy {
                            u.remaining -= dt;
                        }
                    }
                    _ => c.idle_ns += dt,
                }
            }
            self.now = t;
            self.flush_saves(false);
            // Job releases (and deadline misses).
            for i in 0..self.units.len() {
                if let Work::Periodic { period, exec, .. } = self.units[i].work {
                    if self.units[i].next_release <= self.now {
                        let u = &mut self.units[i];
                        if u.remaining > 0 {
                            u.stats.misses += 1;
                        }
                        u.remaining = exec;
                        u.stats.jobs += 1;
                        u.next_release += period;
                        if !u.runnable {
                            self.wake(i);
                        }
                    }
                }
            }
            // Job completions: the running unit blocks and its CPU reschedules.
            for c in 0..self.cpus.len() {
                if let Some(i) = self.cpus[c].curr {
                    let u = &mut self.units[i];
                    if u.runnable && u.work != Work::Busy && u.remaining <= 0 {
                        u.runnable = false;
                        self.resched.set(c);
                    }
                }
                if self.cpus[c].slice_end.is_some_and(|x| x <= self.now) {
                    self.cpus[c].slice_end = None;
                    self.resched.set(c);
                }
            }
            if self.timer.is_some_and(|x| x <= self.now) {
                self.timer = None;
                let a = self.s.timer_fire(self.now).expect("timer");
                self.apply(a);
            }
            self.reschedule();
        }
    }
}
