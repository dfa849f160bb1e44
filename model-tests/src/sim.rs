//! A deterministic host for scheduler instances: simulated CPUs, workloads and time.
//!
//! [`Sim`] drives one or more scheduler instances (anything implementing [`Instance`];
//! by default [`rtsched::Scheduler`]) the way Xen 4.17's scheduling core
//! (`xen/common/sched/core.c`) drives a scheduler's hooks:
//!
//! - each CPU has a current unit and a slice end (`now + Decision::slice`); when the slice
//!   ends, or a reschedule was requested (`Actions::reschedule`, Xen's `SCHEDULE_SOFTIRQ`),
//!   the CPU runs `do_schedule` with `prev_runnable` = whether its current unit is runnable;
//! - a unit switched out gets `context_saved(prev, runnable)` after the switch: at once, or
//!   [`Sim::context_delay`] later to let other CPUs' hooks run in between. As in Xen, a CPU
//!   never runs `do_schedule` again before the save of its previous unit (it is done first);
//! - the replenishment timer of each instance is programmed by the hooks' [`TimerOp`]s and
//!   fires (`timer_fire(now)`) at its expiry;
//! - a unit that blocks by itself (its job is done) stops being runnable and its CPU
//!   reschedules. Xen's `vcpu_block` calls no scheduler hook (it only raises the softirq), so
//!   by default neither does the simulator; [`Sim::sleep_on_block`] adds a `sleep` call first.
//!   A blocked unit whose next job is released gets `wake(now)`;
//! - an affinity change follows Xen's `vcpu_set_affinity` + `vcpu_migrate_finish`: the unit
//!   is put to sleep (`sleep` hook), and once it is off its CPU and its context is saved, it
//!   is assigned the CPU `pick_cpu` chooses (`migrate`) and woken again.
//!
//! Time is an `i64` in ns and advances from event to event ([`Sim::run_until`]): timer expiry,
//! slice end, job completion, job release, delayed context save, end of run. There is no wall
//! clock and no randomness, so a run is reproducible bit for bit. The simulator accounts each
//! unit's CPU time (time it is current and runnable on a CPU), each CPU's idle time, jobs and
//! deadline misses, and can record every hook call and decision ([`Sim::record`], [`Event`]),
//! e.g. to compare two implementations of the same hooks.
//!
//! Lower-level steps ([`Sim::schedule`], [`Sim::save`], [`Sim::wake`], [`Sim::block`],
//! [`Sim::fire_timer`], [`Sim::advance_to`], [`Sim::settle`], [`Sim::quiesce`], ...) perform
//! one host action each and leave the requests it produces pending, so tests can interleave
//! hooks freely (see `tests/rtds_semantics.rs`).
//!
//! # Instances and topologies
//!
//! [`Sim::new`] builds one [`rtsched::Scheduler`] for all CPUs under [`Topology::Global`],
//! and one per CPU under [`Topology::Partition`] (a unit then belongs to the instance of the
//! first CPU of its affinity). [`Sim::with_instances`] takes any instances and any
//! CPU-to-instance map. CPU numbers are global: instance `k`'s hooks see the same CPU numbers
//! as the simulator. Units stay in their instance (moving a unit between partitions is not
//! modelled).

use rtsched::{
    Actions, CpuMask, Decision, Params, Pcpu, Policy, Result, Scheduler, Storage, TimerOp,
    Topology, Unit, UnitId,
};

/// The hooks the simulator calls: the interface of one scheduler instance (one Xen
/// cpupool's scheduler, or one PCPU's under partitioned scheduling). Implemented for
/// [`rtsched::Scheduler`]; another implementation (e.g. Xen's C code behind an FFI) can be
/// driven by the same simulator to compare the two.
pub trait Instance {
    /// Allocates a unit of `domain` with parameters `p` and hard affinity `affinity`, and
    /// inserts it, not runnable, at `now` (Xen's `alloc_udata` + `insert_unit`).
    fn add_unit(
        &mut self,
        domain: u32,
        p: Params,
        affinity: CpuMask,
        now: i64,
    ) -> Result<(UnitId, Actions)>;
    /// Xen's `wake`.
    fn wake(&mut self, u: UnitId, now: i64) -> Result<Actions>;
    /// Xen's `sleep`.
    fn sleep(&mut self, u: UnitId) -> Result<Actions>;
    /// The host found a queued unit not runnable without a `sleep` (a domain paused without
    /// the scheduler lock). The default is `sleep`.
    fn set_unrunnable(&mut self, u: UnitId) -> Result<Actions> {
        self.sleep(u)
    }
    /// Xen's `do_schedule`.
    fn do_schedule(
        &mut self,
        cpu: usize,
        now: i64,
        prev_runnable: bool,
        tasklet: bool,
    ) -> Result<Decision>;
    /// Xen's `context_saved`.
    fn context_saved(&mut self, u: UnitId, runnable: bool) -> Result<Actions>;
    /// The replenishment timer's handler.
    fn timer_fire(&mut self, now: i64) -> Result<Actions>;
    /// Per-unit parameters (`putvcpuinfo`).
    fn set_params(&mut self, u: UnitId, p: Params) -> Result<Actions>;
    /// Hard affinity change (`adjust_affinity`).
    fn set_affinity(&mut self, u: UnitId, mask: CpuMask) -> Result<()>;
    /// Xen's `pick_resource`.
    fn pick_cpu(&self, u: UnitId) -> Result<usize>;
    /// Xen's `migrate` (assigns the unit to `cpu`).
    fn migrate(&mut self, u: UnitId, cpu: usize) -> Result<()>;
    /// Internal consistency of the instance (checked after every hook when
    /// [`Sim::check`] is set). The default checks nothing.
    fn check(&self) -> core::result::Result<(), String> {
        Ok(())
    }
}

impl Instance for Scheduler<'_> {
    fn add_unit(
        &mut self,
        domain: u32,
        p: Params,
        affinity: CpuMask,
        now: i64,
    ) -> Result<(UnitId, Actions)> {
        let id = self.unit_alloc(domain, 0, affinity)?;
        let r = self
            .set_params(id, p)
            .and_then(|_| self.insert(id, now, false, false));
        match r {
            Ok((_, a)) => Ok((id, a)),
            Err(e) => {
                self.unit_free(id)?;
                Err(e)
            }
        }
    }
    fn wake(&mut self, u: UnitId, now: i64) -> Result<Actions> {
        Scheduler::wake(self, u, now)
    }
    fn sleep(&mut self, u: UnitId) -> Result<Actions> {
        Scheduler::sleep(self, u)
    }
    fn set_unrunnable(&mut self, u: UnitId) -> Result<Actions> {
        Scheduler::set_unrunnable(self, u)
    }
    fn do_schedule(
        &mut self,
        cpu: usize,
        now: i64,
        prev_runnable: bool,
        tasklet: bool,
    ) -> Result<Decision> {
        Scheduler::do_schedule(self, cpu, now, prev_runnable, tasklet)
    }
    fn context_saved(&mut self, u: UnitId, runnable: bool) -> Result<Actions> {
        Scheduler::context_saved(self, u, runnable)
    }
    fn timer_fire(&mut self, now: i64) -> Result<Actions> {
        Scheduler::timer_fire(self, now)
    }
    fn set_params(&mut self, u: UnitId, p: Params) -> Result<Actions> {
        Scheduler::set_params(self, u, p)
    }
    fn set_affinity(&mut self, u: UnitId, mask: CpuMask) -> Result<()> {
        Scheduler::set_affinity(self, u, mask)
    }
    fn pick_cpu(&self, u: UnitId) -> Result<usize> {
        Scheduler::pick_cpu(self, u)
    }
    fn migrate(&mut self, u: UnitId, cpu: usize) -> Result<()> {
        Scheduler::migrate(self, u, cpu)
    }
    fn check(&self) -> core::result::Result<(), String> {
        rtsched::invariants::check(self).map_err(str::to_string)
    }
}

/// Creates a [`rtsched::Scheduler`] over leaked heap storage (the simulator lives as long as
/// the test) with room for `cap` units and `ncpus` CPU slots; `online` CPUs are added.
pub fn leaked_scheduler(
    cap: usize,
    ncpus: usize,
    policy: Policy,
    online: &CpuMask,
) -> Scheduler<'static> {
    fn leak<T: Clone>(v: T, n: usize) -> &'static mut [T] {
        Vec::leak(vec![v; n])
    }
    let storage = Storage {
        units: leak(Unit::EMPTY, cap),
        runq: leak(0u32, cap),
        replq: leak(0u32, cap),
        cpus: leak(Pcpu::IDLE, ncpus),
    };
    let mut s = Scheduler::new(storage, policy).expect("valid storage");
    for c in online.iter() {
        s.cpu_add(c).expect("cpu");
    }
    s
}

/// What a unit does with the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// Always has work (a busy loop): runnable from the start, never blocks by itself.
    Busy,
    /// Releases a job of `exec` ns at `offset + n * period`; each job's deadline is the next
    /// release. The unit blocks when its job is done and is woken at the next release.
    /// Unfinished work is dropped at the deadline and counted as a miss.
    Periodic {
        /// Job period, ns.
        period: i64,
        /// Work per job, ns.
        exec: i64,
        /// First release, ns.
        offset: i64,
    },
    /// Not runnable at the start; runnability changes only through [`Sim::wake`],
    /// [`Sim::block`] and [`Sim::pause`] (for tests that drive the hooks themselves).
    Manual,
}

/// Per-unit accounting of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnitStats {
    /// CPU time received (current and runnable on a CPU), ns.
    pub run_ns: i64,
    /// Jobs released.
    pub jobs: u64,
    /// Jobs that missed their deadline.
    pub misses: u64,
    /// Times `do_schedule` reported the unit migrated to another CPU.
    pub migrations: u64,
}

/// One host action or hook outcome, as recorded when [`Sim::record`] is set. Units are
/// simulator indices (as returned by [`Sim::add_unit`]).
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

#[derive(Clone, Debug)]
struct SimUnit {
    inst: usize,
    id: UnitId,
    work: Work,
    /// The workload has something to run (and the unit is not paused).
    ready: bool,
    /// An affinity change is in progress: not runnable until it is assigned a new CPU.
    migrating: bool,
    remaining: i64,
    next_release: i64,
    stats: UnitStats,
}

#[derive(Clone, Debug, Default)]
struct SimCpu {
    curr: Option<usize>,
    slice_end: Option<i64>,
    /// The unit switched out by the last `do_schedule`, awaiting `context_saved`, and when.
    saving: Option<(usize, i64)>,
    idle_ns: i64,
}

/// The simulated host. See the [module documentation](self).
pub struct Sim<I: Instance = Scheduler<'static>> {
    /// Instance 0: the only one under global scheduling (see [`Sim::inst`] for the others).
    pub s: I,
    more: Vec<I>,
    cpu_inst: Vec<usize>,
    timers: Vec<Option<i64>>,
    units: Vec<SimUnit>,
    cpus: Vec<SimCpu>,
    now: i64,
    resched: CpuMask,
    /// Delay between a context switch and its `context_saved` (0: immediately).
    pub context_delay: i64,
    /// Call `sleep` before rescheduling when a running unit blocks by itself (Xen does not).
    pub sleep_on_block: bool,
    /// Run [`Instance::check`] after every hook and panic on a violation.
    pub check: bool,
    /// Print every scheduling decision to stderr.
    pub trace: bool,
    /// Append every hook call and decision to [`Sim::log`].
    pub record: bool,
    /// The recorded events (see [`Sim::record`]).
    pub log: Vec<Event>,
}

impl Sim<Scheduler<'static>> {
    /// A host with `ncpus` CPUs, all online, and room for `cap` units per instance: one
    /// [`rtsched::Scheduler`] for all CPUs, or one per CPU when `policy.topology` is
    /// [`Topology::Partition`].
    pub fn new(ncpus: usize, cap: usize, policy: Policy) -> Self {
        match policy.topology {
            Topology::Global => {
                let s = leaked_scheduler(cap, ncpus, policy, &CpuMask::first_n(ncpus));
                Sim::with_instances(vec![s], vec![0; ncpus])
            }
            Topology::Partition => {
                let insts = (0..ncpus)
                    .map(|c| leaked_scheduler(cap, ncpus, policy, &CpuMask::single(c)))
                    .collect();
                Sim::with_instances(insts, (0..ncpus).collect())
            }
        }
    }
}

impl Sim<Scheduler<'static>> {
    /// An I/O event arrives for unit `i` now (an event channel signalled for it): the
    /// instance may lend it a spare server (see `rtsched`'s `sched/spare.rs`).
    pub fn io_event(&mut self, i: usize) {
        let (k, id) = (self.units[i].inst, self.units[i].id);
        let now = self.now;
        let a = self.inst_mut(k).io_event(id, now).expect("io_event");
        self.apply(k, a);
        self.verify(k, "io_event");
    }
}

impl<I: Instance> Sim<I> {
    /// A host over the given instances; CPU `c` belongs to instance `cpu_inst[c]` (the
    /// number of CPUs is `cpu_inst.len()`).
    pub fn with_instances(insts: Vec<I>, cpu_inst: Vec<usize>) -> Self {
        assert!(cpu_inst.iter().all(|&k| k < insts.len()), "CPU map");
        let timers = vec![None; insts.len()];
        let mut insts = insts.into_iter();
        Sim {
            s: insts.next().expect("at least one instance"),
            more: insts.collect(),
            timers,
            cpus: vec![SimCpu::default(); cpu_inst.len()],
            cpu_inst,
            units: Vec::new(),
            now: 0,
            resched: CpuMask::EMPTY,
            context_delay: 0,
            sleep_on_block: false,
            check: true,
            trace: false,
            record: false,
            log: Vec::new(),
        }
    }

    // ----------------------------------------------------------------------------------
    // Accessors
    // ----------------------------------------------------------------------------------

    /// Instance `k`.
    pub fn inst(&self, k: usize) -> &I {
        match k {
            0 => &self.s,
            _ => &self.more[k - 1],
        }
    }

    /// Instance `k`, mutably (for calls the simulator does not model; perform the returned
    /// actions with [`Sim::apply`] or [`Sim::act`]).
    pub fn inst_mut(&mut self, k: usize) -> &mut I {
        match k {
            0 => &mut self.s,
            _ => &mut self.more[k - 1],
        }
    }

    /// The number of instances.
    pub fn nr_insts(&self) -> usize {
        1 + self.more.len()
    }

    /// The number of CPUs.
    pub fn nr_cpus(&self) -> usize {
        self.cpus.len()
    }

    /// The instance CPU `c` belongs to.
    pub fn cpu_inst(&self, c: usize) -> usize {
        self.cpu_inst[c]
    }

    /// The number of units.
    pub fn nr_units(&self) -> usize {
        self.units.len()
    }

    /// The handle of unit `i` in its instance.
    pub fn id(&self, i: usize) -> UnitId {
        self.units[i].id
    }

    /// The instance of unit `i`.
    pub fn unit_inst(&self, i: usize) -> usize {
        self.units[i].inst
    }

    /// The simulator index of the unit with handle `id` in instance `k`.
    pub fn index_of(&self, k: usize, id: UnitId) -> Option<usize> {
        self.units.iter().position(|u| u.inst == k && u.id == id)
    }

    /// Whether unit `i` is runnable in the host's view (has work, not paused, not
    /// migrating): what the hooks are told.
    pub fn runnable(&self, i: usize) -> bool {
        let u = &self.units[i];
        u.ready && !u.migrating
    }

    /// The unit current on CPU `c` (`None`: idle).
    pub fn curr(&self, c: usize) -> Option<usize> {
        self.cpus[c].curr
    }

    /// The unit CPU `c` switched out and whose `context_saved` is pending.
    pub fn saving(&self, c: usize) -> Option<usize> {
        self.cpus[c].saving.map(|(u, _)| u)
    }

    /// When CPU `c`'s slice ends (`None`: idle, no limit).
    pub fn slice_end(&self, c: usize) -> Option<i64> {
        self.cpus[c].slice_end
    }

    /// Instance `k`'s replenishment timer expiry, if programmed.
    pub fn timer(&self, k: usize) -> Option<i64> {
        self.timers[k]
    }

    /// CPUs with a pending reschedule request.
    pub fn resched(&self) -> CpuMask {
        self.resched
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

    // ----------------------------------------------------------------------------------
    // Host actions: each performs one hook (or none) and applies what it returns, without
    // processing the reschedule requests it produces.
    // ----------------------------------------------------------------------------------

    fn verify(&self, k: usize, what: &str) {
        if self.check {
            if let Err(e) = self.inst(k).check() {
                panic!(
                    "instance {k}: invariant violated after {what} at {} ns: {e}",
                    self.now
                );
            }
        }
    }

    /// Performs the actions instance `k` returned: records the reschedule requests and
    /// programs (or stops) its timer.
    pub fn apply(&mut self, k: usize, a: Actions) {
        for c in a.reschedule.iter() {
            self.resched.set(c);
        }
        match a.timer {
            TimerOp::Keep => {}
            TimerOp::Set(t) => self.timers[k] = Some(t),
            TimerOp::Stop => self.timers[k] = None,
        }
    }

    /// Performs actions instance 0 returned to a call made from outside (e.g. a policy
    /// switch) and processes the reschedule requests.
    pub fn act(&mut self, a: Actions) {
        self.apply(0, a);
        self.settle();
    }

    fn record_event(&mut self, e: Event) {
        if self.record {
            self.log.push(e);
        }
    }

    /// Adds a unit with its parameters, affinity and workload at the current time; returns
    /// its index. A [`Work::Busy`] unit is woken at once; a [`Work::Periodic`] one at its
    /// first release. Under several instances, the unit goes to the instance of the first
    /// CPU of `affinity`.
    pub fn add_unit(&mut self, p: Params, affinity: CpuMask, work: Work) -> usize {
        let i = self.units.len();
        let k = self.cpu_inst[affinity.first().expect("non-empty affinity")];
        let now = self.now;
        let (id, a) = self
            .inst_mut(k)
            .add_unit(i as u32, p, affinity, now)
            .expect("add unit");
        self.apply(k, a);
        self.verify(k, "insert");
        let next_release = match work {
            Work::Periodic { offset, .. } => offset.max(self.now),
            Work::Busy | Work::Manual => i64::MAX,
        };
        self.units.push(SimUnit {
            inst: k,
            id,
            work,
            ready: false,
            migrating: false,
            remaining: 0,
            next_release,
            stats: UnitStats::default(),
        });
        if work == Work::Busy {
            self.wake(i);
        }
        i
    }

    /// Unit `i` becomes ready to run and, unless an affinity change is in progress, gets
    /// `wake(now)`. Waking a ready unit calls the hook again (Xen may, too).
    pub fn wake(&mut self, i: usize) {
        self.units[i].ready = true;
        if self.units[i].migrating {
            return;
        }
        let (k, id) = (self.units[i].inst, self.units[i].id);
        let now = self.now;
        let a = self.inst_mut(k).wake(id, now).expect("wake");
        self.apply(k, a);
        self.record_event(Event::Wake {
            t: self.now,
            unit: i,
        });
        self.verify(k, "wake");
    }

    /// Unit `i` blocks by itself: it stops being runnable; if it is current on a CPU, that
    /// CPU is asked to reschedule (with [`Sim::sleep_on_block`], after a `sleep` call);
    /// otherwise it gets `sleep` (nothing else could tell the scheduler).
    pub fn block(&mut self, i: usize) {
        self.units[i].ready = false;
        self.record_event(Event::Block {
            t: self.now,
            unit: i,
        });
        match self.cpu_of(i) {
            Some(c) if !self.sleep_on_block => self.resched.set(c),
            _ => self.sleep_hook(i),
        }
    }

    /// Unit `i` is paused (Xen's `vcpu_sleep_nosync`): it stops being runnable and gets
    /// `sleep`, which asks its CPU to reschedule if it is running.
    pub fn pause(&mut self, i: usize) {
        self.units[i].ready = false;
        self.record_event(Event::Block {
            t: self.now,
            unit: i,
        });
        self.sleep_hook(i);
    }

    /// Unit `i` turns out not to be runnable (paused without a hook) and the host reports
    /// it with `set_unrunnable` (what the shim does for a queued unit it finds paused).
    pub fn set_unrunnable(&mut self, i: usize) {
        self.units[i].ready = false;
        self.record_event(Event::Block {
            t: self.now,
            unit: i,
        });
        let (k, id) = (self.units[i].inst, self.units[i].id);
        let a = self.inst_mut(k).set_unrunnable(id).expect("set_unrunnable");
        self.apply(k, a);
        self.verify(k, "set_unrunnable");
    }

    fn sleep_hook(&mut self, i: usize) {
        let (k, id) = (self.units[i].inst, self.units[i].id);
        let a = self.inst_mut(k).sleep(id).expect("sleep");
        self.apply(k, a);
        self.verify(k, "sleep");
    }

    /// The CPU unit `i` is current on.
    pub fn cpu_of(&self, i: usize) -> Option<usize> {
        self.cpus.iter().position(|c| c.curr == Some(i))
    }

    /// Runs `do_schedule` on CPU `c` (after the pending `context_saved` of its previous
    /// unit, if any) and performs the decision: the new current unit and slice, and the
    /// pending save of the unit switched out (done at once when [`Sim::context_delay`] is 0).
    pub fn schedule(&mut self, c: usize) {
        self.schedule_inner(c, false);
    }

    /// `do_schedule` on CPU `c` with tasklet work pending: the CPU runs the idle unit. As in
    /// Xen, finishing the tasklet work raises a new reschedule request on `c` (recorded
    /// here at once).
    pub fn schedule_tasklet(&mut self, c: usize) {
        self.schedule_inner(c, true);
        self.resched.set(c);
    }

    fn schedule_inner(&mut self, c: usize, tasklet: bool) {
        self.resched.clear(c);
        self.save(c);
        let k = self.cpu_inst[c];
        let prev = self.cpus[c].curr;
        let prev_runnable = prev.is_some_and(|i| self.runnable(i));
        let now = self.now;
        let d = self
            .inst_mut(k)
            .do_schedule(c, now, prev_runnable, tasklet)
            .expect("do_schedule");
        let next = d.next.map(|id| {
            self.index_of(k, id)
                .expect("do_schedule picked an unknown unit")
        });
        if self.trace {
            eprintln!(
                "t={} cpu{c} {prev:?} -> {next:?} slice={} resched={:?}",
                self.now,
                d.slice,
                d.actions.reschedule.iter().collect::<Vec<_>>()
            );
        }
        if let Some(n) = next {
            self.units[n].stats.migrations += u64::from(d.migrated);
        }
        self.cpus[c].curr = next;
        self.cpus[c].slice_end = (d.slice >= 0).then(|| self.now.saturating_add(d.slice));
        self.apply(k, d.actions);
        self.record_event(Event::Schedule {
            t: self.now,
            cpu: c,
            prev,
            next,
            slice: d.slice,
        });
        self.verify(k, "do_schedule");
        if let Some(p) = prev {
            if next != Some(p) {
                self.cpus[c].saving = Some((p, self.now.saturating_add(self.context_delay)));
                if self.context_delay == 0 {
                    self.save(c);
                }
            }
        }
    }

    /// Performs the pending `context_saved` of CPU `c`'s previous unit, if any, now; then a
    /// pending affinity change of that unit completes.
    pub fn save(&mut self, c: usize) {
        let Some((p, _)) = self.cpus[c].saving.take() else {
            return;
        };
        let k = self.units[p].inst;
        let runnable = self.runnable(p);
        let id = self.units[p].id;
        let a = self
            .inst_mut(k)
            .context_saved(id, runnable)
            .expect("context_saved");
        self.apply(k, a);
        self.record_event(Event::Saved {
            t: self.now,
            unit: p,
            runnable,
        });
        self.verify(k, "context_saved");
        if self.units[p].migrating {
            self.finish_migration(p);
        }
    }

    /// Fires instance `k`'s replenishment timer now, whatever its expiry.
    pub fn fire_timer(&mut self, k: usize) {
        self.timers[k] = None;
        let now = self.now;
        let a = self.inst_mut(k).timer_fire(now).expect("timer_fire");
        self.apply(k, a);
        self.record_event(Event::Timer {
            t: self.now,
            inst: k,
        });
        self.verify(k, "timer_fire");
    }

    /// Fires every timer whose expiry has come; returns whether one fired.
    pub fn fire_due_timers(&mut self) -> bool {
        let mut fired = false;
        for k in 0..self.nr_insts() {
            if self.timers[k].is_some_and(|t| t <= self.now) {
                self.fire_timer(k);
                fired = true;
            }
        }
        fired
    }

    /// Asks every CPU whose slice has ended to reschedule; returns whether one had.
    pub fn expire_slices(&mut self) -> bool {
        let mut any = false;
        for c in 0..self.cpus.len() {
            if self.cpus[c].slice_end.is_some_and(|t| t <= self.now) {
                self.cpus[c].slice_end = None;
                self.resched.set(c);
                any = true;
            }
        }
        any
    }

    /// Sets unit `i`'s parameters (`putvcpuinfo`); an error leaves everything unchanged.
    pub fn set_params(&mut self, i: usize, p: Params) -> Result<()> {
        let (k, id) = (self.units[i].inst, self.units[i].id);
        let a = self.inst_mut(k).set_params(id, p)?;
        self.apply(k, a);
        self.verify(k, "set_params");
        Ok(())
    }

    /// Changes unit `i`'s hard affinity as Xen does: `adjust_affinity`, then the unit is put
    /// to sleep; when it is off every CPU (at once, or after its CPU switched it out and
    /// saved its context) it is given the CPU `pick_cpu` chooses and woken if it has work.
    pub fn set_affinity(&mut self, i: usize, mask: CpuMask) -> Result<()> {
        let (k, id) = (self.units[i].inst, self.units[i].id);
        self.inst_mut(k).set_affinity(id, mask)?;
        self.units[i].migrating = true;
        self.sleep_hook(i);
        let switching_out = self.cpus.iter().any(|c| c.saving.map(|s| s.0) == Some(i));
        if self.cpu_of(i).is_none() && !switching_out {
            self.finish_migration(i);
        }
        Ok(())
    }

    fn finish_migration(&mut self, i: usize) {
        let (k, id) = (self.units[i].inst, self.units[i].id);
        let c = self.inst_mut(k).pick_cpu(id).expect("pick_cpu");
        self.inst_mut(k).migrate(id, c).expect("migrate");
        self.units[i].migrating = false;
        self.verify(k, "migrate");
        if self.units[i].ready {
            self.wake(i);
        }
    }

    /// Advances the clock to `t` (>= now) without processing any event, accounting the
    /// interval: CPU time to each current runnable unit (and work done by its job), idle
    /// time to the other CPUs.
    pub fn advance_to(&mut self, t: i64) {
        assert!(t >= self.now, "time goes backwards");
        let dt = t - self.now;
        for c in 0..self.cpus.len() {
            match self.cpus[c].curr {
                Some(i) if self.runnable(i) => {
                    let u = &mut self.units[i];
                    u.stats.run_ns += dt;
                    if matches!(u.work, Work::Periodic { .. }) {
                        u.remaining -= dt;
                    }
                }
                _ => self.cpus[c].idle_ns += dt,
            }
        }
        self.now = t;
    }

    /// The time of the next event (at least now): a timer expiry, slice end, job completion
    /// or release, or delayed context save; `i64::MAX` for none.
    pub fn next_event(&self) -> i64 {
        let mut t = i64::MAX;
        t = t.min(
            self.timers
                .iter()
                .flatten()
                .copied()
                .min()
                .unwrap_or(i64::MAX),
        );
        for c in &self.cpus {
            t = t.min(c.slice_end.unwrap_or(i64::MAX));
            t = t.min(c.saving.map_or(i64::MAX, |s| s.1));
            if let Some(i) = c.curr {
                let u = &self.units[i];
                if self.runnable(i) && matches!(u.work, Work::Periodic { .. }) {
                    t = t.min(self.now.saturating_add(u.remaining.max(0)));
                }
            }
        }
        for u in &self.units {
            t = t.min(u.next_release);
        }
        t.max(self.now)
    }

    /// Processes the events due now, in this order: delayed context saves, job completions
    /// (the unit blocks), ended slices (reschedule requests), replenishment timers, job
    /// releases (wake-ups). Reschedule requests are left pending (see [`Sim::settle`]).
    pub fn poll(&mut self) {
        for c in 0..self.cpus.len() {
            if self.cpus[c].saving.is_some_and(|s| s.1 <= self.now) {
                self.save(c);
            }
        }
        for c in 0..self.cpus.len() {
            if let Some(i) = self.cpus[c].curr {
                let u = &self.units[i];
                if u.ready && matches!(u.work, Work::Periodic { .. }) && u.remaining <= 0 {
                    self.block(i);
                }
            }
        }
        self.expire_slices();
        self.fire_due_timers();
        for i in 0..self.units.len() {
            let Work::Periodic { period, exec, .. } = self.units[i].work else {
                continue;
            };
            if self.units[i].next_release > self.now {
                continue;
            }
            let u = &mut self.units[i];
            if u.remaining > 0 {
                u.stats.misses += 1;
            }
            u.remaining = exec;
            u.stats.jobs += 1;
            u.next_release = u.next_release.saturating_add(period);
            if !u.ready {
                self.wake(i);
            }
        }
    }

    /// Runs `do_schedule` on every CPU asked to (lowest CPU first) until no request is left.
    /// Panics if requests keep coming (a livelock).
    pub fn settle(&mut self) {
        for _ in 0..100_000 {
            let Some(c) = self.resched.first() else {
                return;
            };
            self.schedule(c);
        }
        panic!("reschedule requests do not settle at {} ns", self.now);
    }

    /// Brings the host to rest at the current time: fires due timers, ends expired slices,
    /// performs every reschedule request and every pending context save (delayed or not),
    /// until nothing is left to do. Panics if that does not happen (a livelock).
    pub fn quiesce(&mut self) {
        for _ in 0..100_000 {
            let busy = self.fire_due_timers() | self.expire_slices();
            if let Some(c) = self.resched.first() {
                self.schedule(c);
            } else if let Some(c) = (0..self.cpus.len()).find(|&c| self.cpus[c].saving.is_some()) {
                self.save(c);
            } else if !busy {
                return;
            }
        }
        panic!("the host does not come to rest at {} ns", self.now);
    }

    /// Runs the event loop until `end` ns: processes pending requests, then repeatedly
    /// advances to the next event, processes it and the requests it causes.
    pub fn run_until(&mut self, end: i64) {
        self.settle();
        let mut same_time = 0;
        while self.now < end {
            let t = self.next_event().min(end);
            same_time = if t == self.now { same_time + 1 } else { 0 };
            assert!(same_time < 10_000, "no progress at {} ns", self.now);
            self.advance_to(t);
            self.poll();
            self.settle();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn p(budget: i64, period: i64, extratime: bool) -> Params {
        Params {
            period,
            budget,
            extratime,
        }
    }

    #[test]
    fn periodic_jobs_within_the_reservation_meet_their_deadlines() {
        let mut sim = Sim::new(1, 2, Policy::default());
        let w = Work::Periodic {
            period: 10 * MS,
            exec: 2 * MS,
            offset: 0,
        };
        let u = sim.add_unit(p(3 * MS, 10 * MS, false), CpuMask::single(0), w);
        sim.run_until(1_000 * MS);
        let st = sim.stats(u);
        // Releases at 0, 10, ..., 1000 ms; all but the last one completed.
        assert_eq!((st.jobs, st.misses), (101, 0));
        assert_eq!(st.run_ns, 200 * MS);
        assert_eq!(sim.idle_ns(0), 800 * MS);
    }

    #[test]
    fn partitioned_instances_are_independent() {
        let policy = Policy {
            topology: Topology::Partition,
            ..Policy::default()
        };
        let mut sim = Sim::new(2, 2, policy);
        assert_eq!(sim.nr_insts(), 2);
        let a = sim.add_unit(p(5 * MS, 10 * MS, false), CpuMask::single(0), Work::Busy);
        let b = sim.add_unit(p(3 * MS, 10 * MS, false), CpuMask::single(1), Work::Busy);
        assert_eq!((sim.unit_inst(a), sim.unit_inst(b)), (0, 1));
        sim.run_until(100 * MS);
        assert_eq!(
            (sim.stats(a).run_ns, sim.stats(b).run_ns),
            (50 * MS, 30 * MS)
        );
        assert_eq!((sim.idle_ns(0), sim.idle_ns(1)), (50 * MS, 70 * MS));
    }

    #[test]
    fn delayed_saves_and_recording_are_deterministic() {
        let run = |delay| {
            let mut sim = Sim::new(2, 4, Policy::default());
            sim.context_delay = delay;
            sim.record = true;
            for k in 0..4 {
                sim.add_unit(
                    p((k + 2) * MS, 10 * MS, k % 2 == 0),
                    CpuMask::first_n(2),
                    Work::Busy,
                );
            }
            sim.run_until(200 * MS);
            let total: i64 = (0..4).map(|i| sim.stats(i).run_ns).sum();
            assert_eq!(total + sim.idle_ns(0) + sim.idle_ns(1), 400 * MS);
            (sim.log, total)
        };
        let (log, total) = run(0);
        assert_eq!(run(0).0, log);
        assert!(log.iter().any(|e| matches!(e, Event::Timer { .. })));
        // The CPUs never idle: two of the units run on extratime.
        assert_eq!(total, 400 * MS);
        let (log_d, total_d) = run(50_000);
        assert_eq!(run(50_000).0, log_d);
        assert_ne!(log_d, log);
        // A unit being switched out cannot be picked until its context is saved, so a CPU
        // may idle meanwhile.
        assert!(total_d > 399 * MS && total_d <= 400 * MS, "{total_d}");
    }

    #[test]
    fn affinity_change_moves_a_running_unit() {
        let mut sim = Sim::new(2, 2, Policy::default());
        let u = sim.add_unit(p(4 * MS, 10 * MS, true), CpuMask::first_n(2), Work::Busy);
        sim.run_until(MS);
        assert_eq!(sim.cpu_of(u), Some(0));
        sim.set_affinity(u, CpuMask::single(1)).unwrap();
        assert!(!sim.runnable(u));
        sim.settle();
        assert_eq!(sim.cpu_of(u), Some(1));
        assert!(sim.runnable(u));
        sim.run_until(2 * MS);
        assert_eq!(sim.stats(u).run_ns, 2 * MS);
    }
}
