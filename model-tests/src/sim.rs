//! A deterministic host for scheduler instances: simulated CPUs, workloads and time.
//!
//! [`Sim`] drives one or more scheduler instances (anything implementing [`Instance`];
//! by default [`rtsched::Scheduler`]) through the host model of the `host-model` crate,
//! which does what Xen 4.17's scheduling core (`xen/common/sched/core.c`) does between a
//! scheduler's hooks; the simulator adds workloads, time and accounting:
//!
//! current unit and slice end per CPU, reschedule requests, context switches whose
//! `context_saved` may be delayed ([`Sim::set_context_delay`]) to let other CPUs' hooks run
//! in between, the replenishment timers programmed by the hooks' `TimerOp`s, blocking (no
//! hook, as Xen's `vcpu_block`; [`Sim::set_sleep_on_block`] adds a `sleep` call), pausing,
//! and affinity changes through `pick_cpu` and `migrate`. The rules are written once, in
//! `host_model`'s documentation.
//!
//! Time is an `i64` in ns and advances from event to event ([`Sim::run_until`]): timer expiry,
//! slice end, job completion, job release, delayed context save, end of run. There is no wall
//! clock and no randomness, so a run is reproducible bit for bit. The simulator accounts each
//! unit's CPU time (time it is current and runnable on a CPU), each CPU's idle time, jobs and
//! deadline misses, and can record every hook call and decision ([`Sim::set_record`], [`Event`]),
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

use host_model::{done, Host, Instances};
use rtsched::{CpuMask, Params, Policy, Result, Scheduler, Topology, UnitId};

/// A millisecond in the simulator's nanoseconds.
pub const MS: i64 = 1_000_000;

/// Parameters given in milliseconds, as the dissertation's tables give them.
pub fn params_ms(budget_ms: i64, period_ms: i64, extratime: bool) -> Params {
    Params {
        period: period_ms * MS,
        budget: budget_ms * MS,
        extratime,
    }
}

/// `ns` as a percentage of `total` (a unit's share of a CPU over a run).
pub fn pct(ns: i64, total: i64) -> f64 {
    100.0 * ns as f64 / total as f64
}

pub use host_model::{leaked_scheduler, Event, Instance};

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

/// A unit's workload.
#[derive(Clone, Debug)]
struct Load {
    work: Work,
    remaining: i64,
    next_release: i64,
    stats: UnitStats,
}

/// The simulated host. See the [module documentation](self).
pub struct Sim<I: Instance = Scheduler<'static>> {
    h: Host<Instances<I>>,
    loads: Vec<Load>,
    idle_ns: Vec<i64>,
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

    /// An I/O event arrives for unit `i` now (an event channel signalled for it): the
    /// instance may lend it a spare server (see `rtsched`'s `sched/spare.rs`).
    pub fn io_event(&mut self, i: usize) {
        let (k, id) = (self.unit_inst(i), self.id(i));
        let now = self.now();
        let a = self.inst_mut(k).io_event(id, now).expect("io_event");
        self.apply(k, a);
        self.h.imp.verify(&self.h.st, k, "io_event");
    }
}

impl<I: Instance> Sim<I> {
    /// A host over the given instances; CPU `c` belongs to instance `cpu_inst[c]` (the
    /// number of CPUs is `cpu_inst.len()`).
    pub fn with_instances(insts: Vec<I>, cpu_inst: Vec<usize>) -> Self {
        assert!(cpu_inst.iter().all(|&k| k < insts.len()), "CPU map");
        let ncpus = cpu_inst.len();
        let ninst = insts.len();
        let mut h = Host::new(Instances::new(insts), cpu_inst);
        h.st.timers = vec![None; ninst];
        Sim {
            h,
            loads: Vec::new(),
            idle_ns: vec![0; ncpus],
        }
    }

    // ----------------------------------------------------------------------------------
    // Settings
    // ----------------------------------------------------------------------------------

    /// Delay between a context switch and its `context_saved` (0, the default: at once).
    pub fn set_context_delay(&mut self, ns: i64) {
        self.h.st.context_delay = Some(ns);
    }

    /// Call `sleep` before rescheduling when a running unit blocks by itself (Xen does
    /// not; off by default).
    pub fn set_sleep_on_block(&mut self, on: bool) {
        self.h.st.sleep_on_block = on;
    }

    /// Run [`Instance::check`] after every hook and panic on a violation (on by default).
    pub fn set_check(&mut self, on: bool) {
        self.h.imp.check = on;
    }

    /// Print every scheduling decision to stderr.
    pub fn set_trace(&mut self, on: bool) {
        self.h.st.trace = on;
    }

    /// Record every hook call and decision in [`Sim::log`].
    pub fn set_record(&mut self, on: bool) {
        self.h.st.record = on;
    }

    /// The recorded events (see [`Sim::set_record`]).
    pub fn log(&self) -> &[Event] {
        &self.h.st.log
    }

    // ----------------------------------------------------------------------------------
    // Accessors
    // ----------------------------------------------------------------------------------

    /// Instance `k`.
    pub fn inst(&self, k: usize) -> &I {
        self.h.imp.inst(k)
    }

    /// Instance `k`, mutably (for calls the simulator does not model; perform the returned
    /// actions with [`Sim::apply`] or [`Sim::act`]).
    pub fn inst_mut(&mut self, k: usize) -> &mut I {
        self.h.imp.inst_mut(k)
    }

    /// The number of instances.
    pub fn nr_insts(&self) -> usize {
        self.h.imp.len()
    }

    /// The number of CPUs.
    pub fn nr_cpus(&self) -> usize {
        self.h.st.cpus.len()
    }

    /// The instance CPU `c` belongs to.
    pub fn cpu_inst(&self, c: usize) -> usize {
        self.h.st.cpu_inst[c]
    }

    /// The number of units.
    pub fn nr_units(&self) -> usize {
        self.loads.len()
    }

    /// The handle of unit `i` in its instance.
    pub fn id(&self, i: usize) -> UnitId {
        self.h.imp.ids[i]
    }

    /// The instance of unit `i`.
    pub fn unit_inst(&self, i: usize) -> usize {
        self.h.st.units[i].inst
    }

    /// The simulator index of the unit with handle `id` in instance `k`.
    pub fn index_of(&self, k: usize, id: UnitId) -> Option<usize> {
        self.h.imp.index_of(&self.h.st, k, id)
    }

    /// Whether unit `i` is runnable in the host's view (has work, not paused, not
    /// migrating): what the hooks are told.
    pub fn runnable(&self, i: usize) -> bool {
        self.h.st.runnable(i)
    }

    /// The unit current on CPU `c` (`None`: idle).
    pub fn curr(&self, c: usize) -> Option<usize> {
        self.h.st.curr(c)
    }

    /// The unit CPU `c` switched out and whose `context_saved` is pending.
    pub fn saving(&self, c: usize) -> Option<usize> {
        self.h.st.saving(c)
    }

    /// When CPU `c`'s slice ends (`None`: idle, no limit).
    pub fn slice_end(&self, c: usize) -> Option<i64> {
        self.h.st.cpus[c].slice_end
    }

    /// Instance `k`'s replenishment timer expiry, if programmed.
    pub fn timer(&self, k: usize) -> Option<i64> {
        self.h.st.timers[k]
    }

    /// CPUs with a pending reschedule request.
    pub fn resched(&self) -> CpuMask {
        self.h.st.resched
    }

    /// Current simulated time, ns.
    pub fn now(&self) -> i64 {
        self.h.st.now
    }

    /// Accounting of unit `i`.
    pub fn stats(&self, i: usize) -> UnitStats {
        UnitStats {
            migrations: self.h.st.units[i].migrations,
            ..self.loads[i].stats
        }
    }

    /// Idle time of CPU `c`, ns.
    pub fn idle_ns(&self, c: usize) -> i64 {
        self.idle_ns[c]
    }

    /// Resets all accounting (e.g. after a warm-up).
    pub fn reset_stats(&mut self) {
        for l in &mut self.loads {
            l.stats = UnitStats::default();
        }
        for u in &mut self.h.st.units {
            u.migrations = 0;
        }
        self.idle_ns.fill(0);
    }

    /// The CPU unit `i` is current on.
    pub fn cpu_of(&self, i: usize) -> Option<usize> {
        self.h.st.cpu_of(i)
    }

    // ----------------------------------------------------------------------------------
    // Host actions: each performs one hook (or none) and applies what it returns, without
    // processing the reschedule requests it produces.
    // ----------------------------------------------------------------------------------

    /// Performs the actions instance `k` returned: records the reschedule requests and
    /// programs (or stops) its timer.
    pub fn apply(&mut self, k: usize, a: rtsched::Actions) {
        self.h.apply(k, &a);
    }

    /// Performs actions instance 0 returned to a call made from outside (e.g. a policy
    /// switch) and processes the reschedule requests.
    pub fn act(&mut self, a: rtsched::Actions) {
        self.apply(0, a);
        self.settle();
    }

    /// Adds a unit with its parameters, affinity and workload at the current time; returns
    /// its index. A [`Work::Busy`] unit is woken at once; a [`Work::Periodic`] one at its
    /// first release. Under several instances, the unit goes to the instance of the first
    /// CPU of `affinity`.
    pub fn add_unit(&mut self, p: Params, affinity: CpuMask, work: Work) -> usize {
        let i = self.loads.len();
        let k = self.cpu_inst(affinity.first().expect("non-empty affinity"));
        let now = self.now();
        let (id, a) = self
            .inst_mut(k)
            .add_unit(i as u32, p, affinity, now)
            .expect("add unit");
        self.h.imp.ids.push(id);
        assert_eq!(self.h.add_unit(k), i);
        self.apply(k, a);
        self.h.imp.verify(&self.h.st, k, "insert");
        let next_release = match work {
            Work::Periodic { offset, .. } => offset.max(now),
            Work::Busy | Work::Manual => i64::MAX,
        };
        self.loads.push(Load {
            work,
            remaining: 0,
            next_release,
            stats: UnitStats::default(),
        });
        if work == Work::Busy {
            self.wake(i);
        }
        i
    }

    /// See [`Host::wake`](host_model::Host::wake).
    pub fn wake(&mut self, i: usize) {
        done(self.h.wake(i));
    }

    /// See [`Host::block`](host_model::Host::block).
    pub fn block(&mut self, i: usize) {
        done(self.h.block(i));
    }

    /// See [`Host::pause`](host_model::Host::pause).
    pub fn pause(&mut self, i: usize) {
        done(self.h.pause(i));
    }

    /// See [`Host::set_unrunnable`](host_model::Host::set_unrunnable).
    pub fn set_unrunnable(&mut self, i: usize) {
        done(self.h.set_unrunnable(i));
    }

    /// See [`Host::schedule`](host_model::Host::schedule).
    pub fn schedule(&mut self, c: usize) {
        done(self.h.schedule(c));
    }

    /// See [`Host::schedule_tasklet`](host_model::Host::schedule_tasklet).
    pub fn schedule_tasklet(&mut self, c: usize) {
        done(self.h.schedule_tasklet(c));
    }

    /// See [`Host::save`](host_model::Host::save).
    pub fn save(&mut self, c: usize) {
        done(self.h.save(c));
    }

    /// See [`Host::fire_timer`](host_model::Host::fire_timer).
    pub fn fire_timer(&mut self, k: usize) {
        done(self.h.fire_timer(k));
    }

    /// See [`Host::fire_due_timers`](host_model::Host::fire_due_timers).
    pub fn fire_due_timers(&mut self) -> bool {
        done(self.h.fire_due_timers())
    }

    /// See [`Host::expire_slices`](host_model::Host::expire_slices).
    pub fn expire_slices(&mut self) -> bool {
        self.h.expire_slices()
    }

    /// Sets unit `i`'s parameters (`putvcpuinfo`); an error leaves everything unchanged.
    pub fn set_params(&mut self, i: usize, p: Params) -> Result<()> {
        let (k, id) = (self.unit_inst(i), self.id(i));
        let a = self.inst_mut(k).set_params(id, p)?;
        self.apply(k, a);
        self.h.imp.verify(&self.h.st, k, "set_params");
        Ok(())
    }

    /// Changes unit `i`'s hard affinity as Xen does (see
    /// [`Host::set_affinity`](host_model::Host::set_affinity)). An affinity the instance
    /// refuses is an error and changes nothing.
    pub fn set_affinity(&mut self, i: usize, mask: CpuMask) -> Result<()> {
        let (k, id) = (self.unit_inst(i), self.id(i));
        self.inst_mut(k).set_affinity(id, mask)?;
        done(self.h.start_migration(i));
        Ok(())
    }

    /// Advances the clock to `t` (>= now) without processing any event, accounting the
    /// interval: CPU time to each current runnable unit (and work done by its job), idle
    /// time to the other CPUs.
    pub fn advance_to(&mut self, t: i64) {
        let now = self.now();
        assert!(t >= now, "time goes backwards");
        let dt = t - now;
        for c in 0..self.nr_cpus() {
            match self.curr(c) {
                Some(i) if self.runnable(i) => {
                    let l = &mut self.loads[i];
                    l.stats.run_ns += dt;
                    if matches!(l.work, Work::Periodic { .. }) {
                        l.remaining -= dt;
                    }
                }
                _ => self.idle_ns[c] += dt,
            }
        }
        self.h.st.now = t;
    }

    /// The time of the next event (at least now): a timer expiry, slice end, job completion
    /// or release, or delayed context save; `i64::MAX` for none.
    pub fn next_event(&self) -> i64 {
        let st = &self.h.st;
        let mut t = st
            .timers
            .iter()
            .flatten()
            .copied()
            .min()
            .unwrap_or(i64::MAX);
        for s in &st.saves {
            t = t.min(s.due);
        }
        for c in &st.cpus {
            t = t.min(c.slice_end.unwrap_or(i64::MAX));
            if let Some(i) = c.curr {
                let l = &self.loads[i];
                if st.runnable(i) && matches!(l.work, Work::Periodic { .. }) {
                    t = t.min(st.now.saturating_add(l.remaining.max(0)));
                }
            }
        }
        for l in &self.loads {
            t = t.min(l.next_release);
        }
        t.max(st.now)
    }

    /// Processes the events due now, in this order: delayed context saves, job completions
    /// (the unit blocks), ended slices (reschedule requests), replenishment timers, job
    /// releases (wake-ups). Reschedule requests are left pending (see [`Sim::settle`]).
    pub fn poll(&mut self) {
        done(self.h.save_due());
        for c in 0..self.nr_cpus() {
            if let Some(i) = self.curr(c) {
                let l = &self.loads[i];
                let ready = self.h.st.units[i].ready;
                if ready && matches!(l.work, Work::Periodic { .. }) && l.remaining <= 0 {
                    self.block(i);
                }
            }
        }
        self.expire_slices();
        self.fire_due_timers();
        let now = self.now();
        for i in 0..self.loads.len() {
            let Work::Periodic { period, exec, .. } = self.loads[i].work else {
                continue;
            };
            let l = &mut self.loads[i];
            if l.next_release > now {
                continue;
            }
            if l.remaining > 0 {
                l.stats.misses += 1;
            }
            l.remaining = exec;
            l.stats.jobs += 1;
            l.next_release = l.next_release.saturating_add(period);
            if !self.h.st.units[i].ready {
                self.wake(i);
            }
        }
    }

    /// See [`Host::settle`](host_model::Host::settle).
    pub fn settle(&mut self) {
        done(self.h.settle());
    }

    /// Brings the host to rest at the current time: fires due timers, ends expired slices,
    /// performs every reschedule request and every pending context save (delayed or not),
    /// until nothing is left to do. Panics if that does not happen (a livelock).
    pub fn quiesce(&mut self) {
        for _ in 0..host_model::SETTLE_LIMIT {
            match self.quiesce_step() {
                Quiesce::Schedule(c) => self.schedule(c),
                Quiesce::Busy => {}
                Quiesce::Rest => return,
            }
        }
        panic!("the host does not come to rest at {} ns", self.now());
    }

    /// One step towards rest (see [`Sim::quiesce`]): fires due timers and ends expired
    /// slices; then names the lowest CPU asked to reschedule, for the caller to schedule
    /// (a harness checks each pick), or else saves the lowest CPU's pending context.
    pub fn quiesce_step(&mut self) -> Quiesce {
        let busy = self.fire_due_timers() | self.expire_slices();
        if let Some(c) = self.resched().first() {
            Quiesce::Schedule(c)
        } else if let Some(c) = self.h.st.saves.iter().map(|s| s.cpu).min() {
            self.save(c);
            Quiesce::Busy
        } else if busy {
            Quiesce::Busy
        } else {
            Quiesce::Rest
        }
    }

    /// Runs the event loop until `end` ns: processes pending requests, then repeatedly
    /// advances to the next event, processes it and the requests it causes.
    pub fn run_until(&mut self, end: i64) {
        self.settle();
        let mut same_time = 0;
        while self.now() < end {
            let t = self.next_event().min(end);
            same_time = if t == self.now() { same_time + 1 } else { 0 };
            assert!(same_time < 10_000, "no progress at {} ns", self.now());
            self.advance_to(t);
            self.poll();
            self.settle();
        }
    }
}

/// What [`Sim::quiesce_step`] left to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quiesce {
    /// CPU `c` must run `do_schedule`.
    Schedule(usize),
    /// A timer fired, a slice ended or a context was saved: step again.
    Busy,
    /// Nothing is left to do at this time.
    Rest,
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
            sim.set_context_delay(delay);
            sim.set_record(true);
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
            (sim.log().to_vec(), total)
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
