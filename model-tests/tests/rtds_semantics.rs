//! Property test of Xen's RTDS semantics (global EDF, deferrable servers, plain RTDS order:
//! rt.c's policy) over random hook sequences, driven through the host simulator
//! (`model_tests::sim`) so that every hook is called the way Xen's core calls it.
//!
//! Each case: 1-8 CPUs, 1-10 units with random valid parameters, extratime flags and
//! affinities (non-empty CPU subsets), then up to 200 random host actions: wake, block (a
//! running unit's CPU is only asked to reschedule, as Xen's `vcpu_block` does), pause
//! (`sleep`), `set_unrunnable`, `do_schedule` on any CPU (with or without tasklet work),
//! `context_saved` of a switched-out unit (the saves are delayed across other actions in
//! half the cases: that is where the `DELAYED_RUNQ_ADD` protocol matters), the
//! replenishment timer firing (at or after its expiry), time passing (ended slices request
//! a reschedule), valid and invalid parameter changes, affinity changes (with Xen's
//! sleep / `pick_cpu` / `migrate` / wake sequence), and processing the pending requests.
//!
//! After every action:
//! - `rtsched::invariants::check`;
//! - the host and the scheduler agree on what runs where; a unit is in at most one of
//!   {running, run queue, depleted queue}; a queued unit is runnable in the host's view;
//! - `0 <= cur_budget <= budget`;
//! - a deadline only moves forward, to the end of the period (of the period in force) that
//!   contains the current time: `d' = d + k * period` with `k = (now - d) / period + 1`,
//!   with a full budget at priority level 0 (model-side expected value);
//! - an invalid parameter change is refused with `InvalidParams` and changes nothing (all
//!   units' `unit_info`, queues, timer, tickled CPUs, current units), and a valid one is
//!   accepted.
//!
//! After every `do_schedule` on a CPU (RTDS's scheduling rule, checked before the unit
//! switched out is saved):
//! - the CPU runs a unit that no runnable queued unit with budget allowed on it outranks,
//!   and idles only when there is no such unit (or for tasklet work);
//! - the unit that was current, if still runnable with budget, lost the CPU only to a unit
//!   it does not outrank.
//!
//! (Priority: lower `priority_level` first, then earlier deadline, as rt.c's
//! `compare_unit_priority`; ties are not checked.)
//!
//! At quiescence (random points and the end: every due timer fired, every ended slice and
//! reschedule request processed, every pending `context_saved` done): no CPU idles while a
//! runnable unit with budget on the run queue allows it.
//!
//! # What is not asserted, and why
//!
//! Global EDF's "no CPU runs a unit of lower priority than a queued unit that allows the
//! CPU" does not hold at quiescence under RTDS, in rt.c or in rtsched. Tickles are sent per
//! event for the unit concerned, to one CPU not already tickled; nothing re-examines the
//! other queued units when the tickled CPU picks a different, higher-priority unit, or when
//! a unit leaves the run queue (sleep). A queued unit can then wait while a lower-priority
//! unit runs on another CPU it allows, until that CPU's or the tickled CPU's next
//! scheduling event. [`queued_unit_waits_behind_head_with_narrower_affinity`] is a minimal
//! deterministic case (ignored: it asserts what global EDF would do); this test's first
//! shrunk failure before the restriction was the same situation. The rule actually
//! implemented, checked after every pick above, is per CPU.
//!
//! The idle part does not hold in rt.c either (a unit whose tickled CPU took another unit
//! stays queued beside an idle CPU); rtsched closes that gap on purpose (ARCHITECTURE.md,
//! deliberate difference 9: after each pick the best queued unit with an idle CPU in its
//! affinity gets that CPU tickled), so it is asserted: a failure is a regression of that
//! rule.

use model_tests::{Quiesce, Sim, Work};
use proptest::prelude::*;
use rtsched::{CpuMask, Error, Params, Policy, UnitId, UnitInfo};

/// RTDS's own order (rt.c): the rules checked here are those of plain RTDS, without the
/// real-time/non-real-time class rule (which `tests/guarantees.rs` checks).
const RTDS: Policy = Policy {
    topology: rtsched::Topology::Global,
    priority: rtsched::PriorityScheme::Edf,
    server: rtsched::ServerKind::Deferrable,
    admission: false,
    classes: rtsched::ClassRule::Rtds,
};

const US: i64 = 1_000;
const MS: i64 = 1_000_000;
/// Xen's largest period (`STIME_DELTA_MAX`).
const MAX_PERIOD: i64 = (u64::MAX >> 2) as i64;

#[derive(Clone, Copy, Debug)]
enum Op {
    Wake(usize),
    /// The unit blocks by itself.
    Block(usize),
    /// The unit is paused (`sleep`).
    Pause(usize),
    /// The host finds the unit paused and reports it with `set_unrunnable` (when queued).
    Unrunnable(usize),
    /// `do_schedule` on a CPU.
    Schedule(usize),
    /// `do_schedule` on a CPU with tasklet work (idles, then reschedules later).
    Tasklet(usize),
    /// `context_saved` of the n-th pending switched-out unit.
    Save(usize),
    /// The replenishment timer fires if its expiry has come.
    FireTimer,
    /// Time passes (ns); CPUs whose slice ended are asked to reschedule.
    Advance(i64),
    /// Valid or invalid parameters.
    SetParams(usize, Params),
    /// Hard affinity from random bits (made non-empty).
    SetAffinity(usize, u8),
    /// Process the pending reschedule requests.
    Settle,
    /// Bring the host to rest and check the quiescence property.
    Quiesce,
}

/// Valid parameters on two scales: tens of microseconds and milliseconds.
fn valid_params() -> impl Strategy<Value = Params> {
    let period = prop_oneof![10 * US..200 * US, 500 * US..40 * MS];
    (period, 0u32..=100, any::<bool>()).prop_map(|(period, pct, extratime)| {
        let budget = (period * i64::from(pct) / 100).clamp(10 * US, period);
        Params {
            period,
            budget,
            extratime,
        }
    })
}

/// Parameters outside Xen's limits.
fn invalid_params() -> impl Strategy<Value = Params> {
    let p = |period, budget| Params {
        period,
        budget,
        extratime: false,
    };
    prop_oneof![
        // Period below 10 us.
        (i64::MIN / 2..10 * US).prop_map(move |x| p(x, x.clamp(10 * US, 10 * US))),
        // Budget below 10 us.
        (10 * US..40 * MS, i64::MIN / 2..10 * US).prop_map(move |(x, b)| p(x, b)),
        // Budget above the period.
        (10 * US..40 * MS, 1..40 * MS).prop_map(move |(x, d)| p(x, x + d)),
        // Period above STIME_DELTA_MAX.
        (1..1_000_000i64).prop_map(move |d| p(MAX_PERIOD + d, 10 * MS)),
        Just(p(0, 0)),
    ]
    .prop_flat_map(|q| any::<bool>().prop_map(move |e| Params { extratime: e, ..q }))
}

fn is_valid(p: &Params) -> bool {
    (10 * US..=MAX_PERIOD).contains(&p.period) && (10 * US..=p.period).contains(&p.budget)
}

fn op(n_units: usize) -> impl Strategy<Value = Op> {
    let u = 0..n_units;
    let any_cpu = 0usize..8;
    prop_oneof![
        4 => u.clone().prop_map(Op::Wake),
        2 => u.clone().prop_map(Op::Block),
        1 => u.clone().prop_map(Op::Pause),
        1 => u.clone().prop_map(Op::Unrunnable),
        4 => any_cpu.clone().prop_map(Op::Schedule),
        1 => any_cpu.prop_map(Op::Tasklet),
        3 => (0usize..8).prop_map(Op::Save),
        2 => Just(Op::FireTimer),
        4 => prop_oneof![1..100 * US, 100 * US..12 * MS].prop_map(Op::Advance),
        1 => (u.clone(), valid_params()).prop_map(|(i, p)| Op::SetParams(i, p)),
        1 => (u.clone(), invalid_params()).prop_map(|(i, p)| Op::SetParams(i, p)),
        1 => (u, any::<u8>()).prop_map(|(i, m)| Op::SetAffinity(i, m)),
        2 => Just(Op::Settle),
        1 => Just(Op::Quiesce),
    ]
}

#[derive(Clone, Debug)]
struct Case {
    ncpus: usize,
    delayed_saves: bool,
    units: Vec<(Params, u8)>,
    ops: Vec<Op>,
}

fn case() -> impl Strategy<Value = Case> {
    (1usize..=8, any::<bool>(), 1usize..=10).prop_flat_map(|(ncpus, delayed_saves, n)| {
        (
            proptest::collection::vec((valid_params(), any::<u8>()), n),
            proptest::collection::vec(op(n), 1..200),
        )
            .prop_map(move |(units, ops)| Case {
                ncpus,
                delayed_saves,
                units,
                ops,
            })
    })
}

/// The host plus the model-side expectations.
struct Harness {
    sim: Sim,
    ncpus: usize,
    /// `context_saved` is delayed across other actions.
    delayed_saves: bool,
    /// Last seen deadline of each unit.
    deadline: Vec<i64>,
}

/// A non-empty affinity among `ncpus` CPUs from random bits.
fn mask(ncpus: usize, bits: u8) -> CpuMask {
    let mut m = CpuMask::EMPTY;
    for c in 0..ncpus {
        if bits & (1 << c) != 0 {
            m.set(c);
        }
    }
    if m.is_empty() {
        m.set(bits as usize % ncpus);
    }
    m
}

/// Everything a refused call must leave unchanged.
#[derive(Debug, PartialEq)]
struct Snapshot {
    units: Vec<UnitInfo>,
    runq: Vec<Option<UnitId>>,
    queue_lens: (usize, usize, usize),
    timer: Option<i64>,
    tickled: CpuMask,
    curr: Vec<Option<UnitId>>,
}

impl Harness {
    fn new(c: &Case) -> Harness {
        let mut sim = Sim::new(c.ncpus, c.units.len(), RTDS);
        // Saves are done by the harness: right after the pick is checked, or, when delayed,
        // only when asked for (or before the CPU schedules again).
        sim.set_context_delay(i64::MAX);
        for &(p, bits) in &c.units {
            sim.add_unit(p, mask(c.ncpus, bits), Work::Manual);
        }
        let deadline = (0..c.units.len())
            .map(|i| sim.inst(0).unit_info(sim.id(i)).unwrap().cur_deadline)
            .collect();
        Harness {
            sim,
            ncpus: c.ncpus,
            delayed_saves: c.delayed_saves,
            deadline,
        }
    }

    fn info(&self, i: usize) -> UnitInfo {
        self.sim.inst(0).unit_info(self.sim.id(i)).unwrap()
    }

    fn snapshot(&self) -> Snapshot {
        let s = self.sim.inst(0);
        Snapshot {
            units: (0..self.sim.nr_units()).map(|i| self.info(i)).collect(),
            runq: (0..s.queue_lens().0).map(|k| s.runq_at(k)).collect(),
            queue_lens: s.queue_lens(),
            timer: s.timer(),
            tickled: s.tickled(),
            curr: (0..self.ncpus).map(|c| s.curr(c)).collect(),
        }
    }

    fn dump(&self) -> String {
        let mut out = format!(
            "t={} tickled={:?} timer={:?} resched={:?}\n",
            self.sim.now(),
            self.sim.inst(0).tickled().iter().collect::<Vec<_>>(),
            self.sim.inst(0).timer(),
            self.sim.resched().iter().collect::<Vec<_>>()
        );
        for c in 0..self.ncpus {
            out += &format!(
                "cpu{c}: curr={:?} saving={:?} slice_end={:?}\n",
                self.sim.curr(c),
                self.sim.saving(c),
                self.sim.slice_end(c)
            );
        }
        for i in 0..self.sim.nr_units() {
            let u = self.info(i);
            out += &format!(
                "unit{i}: aff={:?} host_runnable={} lvl={} dl={} bud={}/{} per={} q={} run={} flags={:#x} cpu={} extra={}\n",
                self.sim.inst(0).affinity(self.sim.id(i)).unwrap().iter().collect::<Vec<_>>(),
                self.sim.runnable(i),
                u.priority_level,
                u.cur_deadline,
                u.cur_budget,
                u.budget,
                u.period,
                u.queue,
                u.running,
                u.flags,
                u.cpu,
                self.sim.inst(0).params(self.sim.id(i)).unwrap().extratime,
            );
        }
        out
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Wake(i) => self.sim.wake(i),
            Op::Block(i) => {
                if self.sim.runnable(i) {
                    self.sim.block(i);
                }
            }
            Op::Pause(i) => self.sim.pause(i),
            Op::Unrunnable(i) => {
                if self.info(i).queue != 0 {
                    self.sim.set_unrunnable(i);
                }
            }
            Op::Schedule(c) => self.schedule(c % self.ncpus, false)?,
            Op::Tasklet(c) => self.schedule(c % self.ncpus, true)?,
            Op::Save(k) => {
                let pending: Vec<usize> = (0..self.ncpus)
                    .filter(|&c| self.sim.saving(c).is_some())
                    .collect();
                if !pending.is_empty() {
                    self.sim.save(pending[k % pending.len()]);
                }
            }
            Op::FireTimer => {
                self.sim.fire_due_timers();
            }
            Op::Advance(dt) => {
                self.sim.advance_to(self.sim.now() + dt);
                self.sim.expire_slices();
            }
            Op::SetParams(i, p) => {
                let before = self.snapshot();
                match self.sim.set_params(i, p) {
                    Ok(()) => prop_assert!(is_valid(&p), "accepted invalid {p:?}"),
                    Err(e) => {
                        prop_assert!(!is_valid(&p), "refused valid {p:?}: {e:?}");
                        prop_assert_eq!(e, Error::InvalidParams);
                        prop_assert_eq!(&before, &self.snapshot(), "refused change modified state");
                    }
                }
            }
            Op::SetAffinity(i, bits) => self.sim.set_affinity(i, mask(self.ncpus, bits)).unwrap(),
            Op::Settle => {
                for _ in 0..10_000 {
                    let Some(c) = self.sim.resched().first() else {
                        break;
                    };
                    self.schedule(c, false)?;
                }
                prop_assert!(self.sim.resched().is_empty(), "requests do not settle");
            }
            Op::Quiesce => {
                self.quiesce()?;
                self.check_step()?;
                return self.check_quiescent();
            }
        }
        self.check_step()
    }

    /// `do_schedule` on `c` (as `Sim::schedule` does it: after the pending save of the
    /// CPU's previous unit), then checks the pick, then (unless saves are delayed) saves the
    /// context of the unit switched out.
    fn schedule(&mut self, c: usize, tasklet: bool) -> Result<(), TestCaseError> {
        self.sim.save(c);
        let prev = self.sim.curr(c).filter(|&p| self.sim.runnable(p));
        if tasklet {
            self.sim.schedule_tasklet(c);
        } else {
            self.sim.schedule(c);
        }
        self.check_pick(c, prev, tasklet)?;
        if !self.delayed_saves {
            self.sim.save(c);
        }
        Ok(())
    }

    /// Brings the host to rest as `Sim::quiesce` does, checking every pick.
    fn quiesce(&mut self) -> Result<(), TestCaseError> {
        for _ in 0..host_model::SETTLE_LIMIT {
            match self.sim.quiesce_step() {
                Quiesce::Schedule(c) => self.schedule(c, false)?,
                Quiesce::Busy => {}
                Quiesce::Rest => return Ok(()),
            }
        }
        Err(TestCaseError::fail("the host does not come to rest"))
    }

    /// The runnable queued units with budget that allow CPU `c` (what `do_schedule` on `c`
    /// may pick).
    fn eligible(&self, c: usize) -> Vec<(usize, UnitInfo)> {
        let s = self.sim.inst(0);
        (0..self.sim.nr_units())
            .map(|i| (i, self.info(i)))
            .filter(|(i, q)| {
                q.queue == 1
                    && q.runnable == 1
                    && self.sim.runnable(*i)
                    && q.cur_budget > 0
                    && s.affinity(self.sim.id(*i)).unwrap().test(c)
            })
            .collect()
    }

    /// RTDS's scheduling rule, right after `do_schedule` on `c` picked (`prev`: the unit that
    /// was current, if it was runnable): the CPU runs a unit that no runnable queued unit
    /// allowed on it outranks, or idles only when there is none (or for tasklet work); and
    /// `prev`, if it still has budget, lost the CPU only to a unit it does not outrank.
    fn check_pick(
        &self,
        c: usize,
        prev: Option<usize>,
        tasklet: bool,
    ) -> Result<(), TestCaseError> {
        let next = self.sim.curr(c);
        if tasklet {
            prop_assert_eq!(next, None, "tasklet work must run the idle unit");
            return Ok(());
        }
        let eligible = self.eligible(c);
        match next {
            None => prop_assert!(
                eligible.is_empty(),
                "CPU {} picked idle with unit(s) {:?} eligible\n{}",
                c,
                eligible.iter().map(|e| e.0).collect::<Vec<_>>(),
                self.dump()
            ),
            Some(n) => {
                let r = self.info(n);
                for (i, q) in &eligible {
                    prop_assert!(
                        key(q) >= key(&r),
                        "CPU {} picked unit {} {:?} over unit {} {:?}\n{}",
                        c,
                        n,
                        key(&r),
                        i,
                        key(q),
                        self.dump()
                    );
                }
            }
        }
        if let Some(p) = prev.filter(|&p| Some(p) != next) {
            let u = self.info(p);
            if u.cur_budget > 0 {
                let lost_to_better = next.is_some_and(|n| key(&u) >= key(&self.info(n)));
                prop_assert!(
                    lost_to_better,
                    "CPU {} switched unit {} {:?} out for {:?}\n{}",
                    c,
                    p,
                    key(&u),
                    next,
                    self.dump()
                );
            }
        }
        Ok(())
    }

    /// The properties that hold after every action.
    fn check_step(&mut self) -> Result<(), TestCaseError> {
        let s = self.sim.inst(0);
        if let Err(e) = rtsched::invariants::check(s) {
            return Err(TestCaseError::fail(format!("invariant: {e}")));
        }
        for c in 0..self.ncpus {
            prop_assert_eq!(
                s.curr(c),
                self.sim.curr(c).map(|i| self.sim.id(i)),
                "host and scheduler disagree on CPU {}",
                c
            );
        }
        let now = self.sim.now();
        for i in 0..self.sim.nr_units() {
            let id = self.sim.id(i);
            let u = self.info(i);
            let running_on = (0..self.ncpus).filter(|&c| s.curr(c) == Some(id)).count();
            prop_assert!(running_on <= 1, "unit {} runs on {} CPUs", i, running_on);
            prop_assert!(u.queue <= 2);
            prop_assert!(
                running_on == 0 || u.queue == 0,
                "unit {} runs and is queued",
                i
            );
            prop_assert_eq!(u.running as usize, running_on);
            prop_assert!(
                u.queue == 0 || self.sim.runnable(i),
                "unit {} queued but not runnable",
                i
            );
            prop_assert!(
                (0..=u.budget).contains(&u.cur_budget),
                "unit {} budget {} of {}",
                i,
                u.cur_budget,
                u.budget
            );
            let old = self.deadline[i];
            if u.cur_deadline != old {
                prop_assert!(
                    now >= old,
                    "unit {i}: deadline {old} moved before it passed"
                );
                let want = old + ((now - old) / u.period + 1) * u.period;
                prop_assert_eq!(
                    u.cur_deadline,
                    want,
                    "unit {}: deadline {} -> {} at {} with period {}",
                    i,
                    old,
                    u.cur_deadline,
                    now,
                    u.period
                );
                // A full budget, less the overrun of the period before (charged to the next
                // one, at most one budget), at the reserved level.
                // (If the overrun took the whole budget, an extratime unit is refilled one
                // level down at once.)
                prop_assert!(u.priority_level == 0 || u.cur_budget == u.budget);
                prop_assert!(u.cur_budget <= u.budget);
                self.deadline[i] = u.cur_deadline;
            }
        }
        Ok(())
    }

    /// The quiescence property (see the module documentation): no CPU idles beside a
    /// runnable queued unit with budget that allows it.
    fn check_quiescent(&self) -> Result<(), TestCaseError> {
        let s = self.sim.inst(0);
        let now = self.sim.now();
        prop_assert!(self.sim.resched().is_empty());
        prop_assert!(s.timer().is_none_or(|t| t > now));
        for c in 0..self.ncpus {
            prop_assert!(self.sim.saving(c).is_none());
            prop_assert!(self.sim.slice_end(c).is_none_or(|t| t > now));
            if s.curr(c).is_none() {
                let eligible = self.eligible(c);
                prop_assert!(
                    eligible.is_empty(),
                    "CPU {} idles while unit(s) {:?} are queued\n{}",
                    c,
                    eligible.iter().map(|e| e.0).collect::<Vec<_>>(),
                    self.dump()
                );
            }
        }
        Ok(())
    }
}

/// RTDS priority: lower `priority_level` first, then earlier deadline (EDF).
fn key(u: &UnitInfo) -> (u32, i64) {
    (u.priority_level, u.cur_deadline)
}

fn run(c: &Case) -> Result<(), TestCaseError> {
    let mut h = Harness::new(c);
    h.check_step()?;
    for (k, &op) in c.ops.iter().enumerate() {
        h.step(op)
            .map_err(|e| TestCaseError::fail(format!("step {k} ({op:?}): {e}")))?;
    }
    h.step(Op::Quiesce)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: model_tests::proptest_cases(256), ..ProptestConfig::default() })]

    /// Random hook sequences keep every invariant and, at rest, the EDF work-conserving
    /// property.
    #[test]
    fn rtds_random_hook_sequences(c in case()) {
        run(&c)?;
    }
}

/// Why the quiescence property does not compare running units with every queued unit: RTDS
/// lets a queued unit wait while a unit of lower priority runs on a CPU it allows, when the
/// tickle for it went to a CPU that then picked a higher-priority unit, and the run-queue
/// head that is tickled after that pick is a unit that cannot use the lower CPU.
///
/// 2 CPUs. C (50/100 ms, CPU 1 only) runs on CPU 1. A and D (1/10 ms, CPU 0 only) used their
/// budgets and CPU 0 idles. At 10 ms, B (1/30 ms, both CPUs) wakes and tickles the idle
/// CPU 0; the replenishment timer then refills A and D (deadline 20 ms), and tickles no CPU
/// for them (CPU 0 is already tickled). CPU 0 picks A; the head of the run queue is now D,
/// which only CPU 0 may run, so nothing is tickled for B: B (deadline 30 ms) waits while C
/// (deadline 100 ms) runs on CPU 1, until CPU 0's next pick at 11 ms (rtsched then tickles
/// CPU 1 for B, the new head; rt.c would leave B waiting until CPU 0 runs it at 12 ms).
///
/// Xen 4.17's rt.c does exactly these steps (`rt_unit_wake` / `runq_tickle`,
/// `repl_timer_handler`, `rt_schedule`) and leaves B waiting.
///
/// rtsched closes this gap: a CPU remembers which unit its last tickle was for, and when it
/// picks another one that unit is tickled again (here: CPU 1, where it preempts C at once).
#[test]
fn queued_unit_waits_behind_head_with_narrower_affinity() {
    let p = |budget, period| Params {
        period,
        budget,
        extratime: false,
    };
    let mut sim = Sim::new(2, 4, RTDS);
    let c = sim.add_unit(p(50 * MS, 100 * MS), CpuMask::single(1), Work::Busy);
    let a = sim.add_unit(p(MS, 10 * MS), CpuMask::single(0), Work::Busy);
    let d = sim.add_unit(p(MS, 10 * MS), CpuMask::single(0), Work::Busy);
    let b = sim.add_unit(p(MS, 30 * MS), CpuMask::first_n(2), Work::Manual);
    sim.run_until(10 * MS - 1);
    assert_eq!((sim.curr(0), sim.curr(1)), (None, Some(c)));
    sim.advance_to(10 * MS);
    sim.wake(b);
    sim.fire_due_timers();
    sim.settle();
    assert_eq!(sim.curr(0), Some(a));
    let info = |i| sim.inst(0).unit_info(sim.id(i)).unwrap();
    assert_eq!(info(d).queue, 1);
    assert_eq!(info(b).cur_deadline, 30 * MS);
    assert_eq!(info(c).cur_deadline, 100 * MS);
    // As global EDF: B (deadline 30 ms) runs instead of C (100 ms) on CPU 1 now.
    assert_eq!(sim.curr(1), Some(b), "B waits while C runs on CPU 1");
}
