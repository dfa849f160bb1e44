//! Property tests: random hook sequences on 1-8 CPUs with random affinities, parameters and
//! extratime flags, under every policy (topology x priority x server), driven the way Xen's
//! core drives the hooks, including context saves delayed across other hooks.
//!
//! After every step: `rtsched::invariants::check` (a unit is in at most one of running / run
//! queue / depleted queue, queues ordered, budgets within [0, budget], no lost wake-up,
//! timer = earliest replenishment, ...), deadlines advance by whole periods, and rejected
//! parameter changes leave every unit exactly as it was. After all requested reschedules and
//! context saves are processed: no CPU idles while a runnable queued unit with budget allows
//! it, and no CPU runs (or idles on a blocked periodic server of) a unit of lower priority
//! than a runnable queued unit allowed on it.
//!
//! Parameter changes go through `set_params` (rt.c's rule) or `set_params_at` (prompt: the
//! unit then waits at most its new period); CPUs leave as Xen's core makes them leave (out
//! of the pool's valid set, withdrawn, units moved off with `pick_cpu`, which must never
//! name the leaving CPU, then removed once idle) and join again.

use proptest::prelude::*;
use rtsched::{
    Actions, ClassRule, CpuMask, Error, Params, Pcpu, Policy, PriorityScheme, Scheduler,
    ServerKind, Storage, TimerOp, Topology, Unit, UnitId,
};

const US: i64 = 1_000;

#[derive(Clone, Debug)]
enum Op {
    Wake(usize),
    /// The unit blocks: if running, its CPU reschedules with `prev_runnable = false`;
    /// otherwise the `sleep` hook runs (a pause).
    Block(usize),
    Sleep(usize),
    Schedule(usize),
    /// Perform the oldest pending `context_saved`.
    Save,
    Advance(i64),
    /// Unit, period, budget, extratime, prompt (`set_params_at`).
    SetParams(usize, i64, i64, bool, bool),
    /// A CPU leaves the pool (rt-global only).
    CpuLeave(usize),
    /// A CPU that left joins again.
    CpuJoin(usize),
    SetAffinity(usize, u8),
    Unrunnable(usize),
    SwitchPriority,
    SwitchServer,
}

fn op(n_units: usize, n_cpus: usize) -> impl Strategy<Value = Op> {
    let u = 0..n_units;
    prop_oneof![
        3 => u.clone().prop_map(Op::Wake),
        2 => u.clone().prop_map(Op::Block),
        1 => u.clone().prop_map(Op::Sleep),
        4 => (0..n_cpus).prop_map(Op::Schedule),
        3 => Just(Op::Save),
        4 => (1i64..30_000).prop_map(|d| Op::Advance(d * US / 2)),
        1 => (u.clone(), -5i64..40, -5i64..40, any::<bool>(), any::<bool>())
            .prop_map(|(i, p, b, e, now)| Op::SetParams(i, p * 500 * US, b * 500 * US, e, now)),
        1 => (0..n_cpus).prop_map(Op::CpuLeave),
        1 => (0..n_cpus).prop_map(Op::CpuJoin),
        1 => (u.clone(), any::<u8>()).prop_map(|(i, m)| Op::SetAffinity(i, m)),
        1 => u.prop_map(Op::Unrunnable),
        1 => Just(Op::SwitchPriority),
        1 => Just(Op::SwitchServer),
    ]
}

struct Host {
    s: Scheduler<'static>,
    now: i64,
    ncpus: usize,
    online: CpuMask,
    runnable: Vec<bool>,
    ids: Vec<UnitId>,
    pending: Vec<UnitId>,
    /// Units whose new affinity excludes the CPU they run on: Xen's core moves them once
    /// their context is saved (`_VPF_migrating`, `vcpu_migrate_finish`).
    migrating: Vec<bool>,
    resched: CpuMask,
    timer: Option<i64>,
    slice_end: Vec<Option<i64>>,
    /// (deadline, period) last seen per unit.
    seen: Vec<(i64, i64)>,
}

fn leak<T: Clone>(v: T, n: usize) -> &'static mut [T] {
    Vec::leak(vec![v; n])
}

impl Host {
    fn new(ncpus: usize, policy: Policy, units: &[UnitSpec]) -> Host {
        let cap = units.len() + 1;
        let st = Storage {
            units: leak(Unit::EMPTY, cap),
            runq: leak(0u32, cap),
            replq: leak(0u32, cap),
            cpus: leak(Pcpu::IDLE, ncpus),
        };
        let mut s = Scheduler::new(st, policy).unwrap();
        let online = if policy.topology == Topology::Partition {
            // One PCPU's instance: the last CPU.
            CpuMask::single(ncpus - 1)
        } else {
            CpuMask::first_n(ncpus)
        };
        for c in online.iter() {
            s.cpu_add(c).unwrap();
        }
        let mut h = Host {
            s,
            now: 0,
            ncpus,
            online,
            runnable: Vec::new(),
            ids: Vec::new(),
            pending: Vec::new(),
            migrating: Vec::new(),
            resched: CpuMask::EMPTY,
            timer: None,
            slice_end: vec![None; ncpus],
            seen: Vec::new(),
        };
        for (i, &(period, budget, extra, mask)) in units.iter().enumerate() {
            let aff = h.mask(mask);
            let id = h.s.unit_alloc(i as u32, 0, aff).unwrap();
            h.s.set_params(
                id,
                Params {
                    period,
                    budget,
                    extratime: extra,
                },
            )
            .unwrap();
            match h.s.insert(id, 0, false, false) {
                Ok((_, a)) => h.apply(a),
                Err(e) => {
                    // Admission control refused it: it stays out, and nothing changed.
                    assert_eq!(e, Error::NotAdmitted);
                    assert!(policy.admission);
                    h.s.unit_free(id).unwrap();
                    continue;
                }
            }
            h.ids.push(id);
            h.runnable.push(false);
            h.migrating.push(false);
            let info = h.s.unit_info(id).unwrap();
            h.seen.push((info.cur_deadline, info.period));
        }
        h
    }

    /// A non-empty affinity among the online CPUs from random bits.
    fn mask(&self, bits: u8) -> CpuMask {
        let mut m = CpuMask::EMPTY;
        for c in self.online.iter() {
            if bits & (1 << (c % 8)) != 0 {
                m.set(c);
            }
        }
        if m.is_empty() {
            m = self.online;
        }
        m
    }

    fn apply(&mut self, a: Actions) {
        for c in a.reschedule.iter() {
            self.resched.set(c);
        }
        match a.timer {
            TimerOp::Keep => {}
            TimerOp::Set(t) => self.timer = Some(t),
            TimerOp::Stop => self.timer = None,
        }
    }

    fn running(&self, i: usize) -> Option<usize> {
        (0..self.ncpus).find(|&c| self.s.curr(c) == Some(self.ids[i]))
    }

    fn schedule(&mut self, c: usize) {
        // (A CPU that left still schedules until it has handed back what it ran.)
        if !self.online.test(c) && self.s.curr(c).is_none() && self.s.phantom(c).is_none() {
            self.resched.clear(c);
            return;
        }
        let prev = self.s.curr(c);
        let prev_runnable = prev.is_some_and(|p| self.runnable[p.0 as usize]);
        // As Xen's shim: runnability is learned lazily (a domain is paused without the
        // lock), so the unit the pick would meet first is checked, and reported while it is
        // not runnable and the scheduler does not know; the shim computes that unit's
        // runstate (`unit_runnable_state`), so a unit picked must be that one, or the one
        // that ran (whose runstate it computes too).
        let mut checked = None;
        // (A CPU already removed has nothing to peek.)
        while let Ok(Some(h)) = self.s.runq_peek(c) {
            checked = Some(h);
            if self.runnable[h.0 as usize] || self.s.unit_info(h).unwrap().runnable == 0 {
                break;
            }
            let a = self.s.set_unrunnable(h).unwrap();
            self.apply(a);
        }
        let d = self
            .s
            .do_schedule(c, self.now, prev_runnable, false)
            .unwrap();
        if let Some(n) = d.next.filter(|&n| Some(n) != prev) {
            if checked != Some(n) || !self.runnable[n.0 as usize] {
                self.dump();
                panic!("CPU {c} picked {n:?}, but the host checked {checked:?}");
            }
        }
        if std::env::var_os("PROPS_TRACE").is_some() {
            eprintln!(
                "   do_schedule({c}) {prev:?} -> {:?} slice {} resched {:?}",
                d.next,
                d.slice,
                d.actions.reschedule.iter().collect::<Vec<_>>()
            );
        }
        self.resched.clear(c);
        self.slice_end[c] = (d.slice >= 0).then(|| self.now + d.slice);
        self.apply(d.actions);
        if let Some(p) = prev {
            if d.next != Some(p) {
                self.pending.push(p);
            }
        }
    }

    /// Xen's core moves a unit that is not running (`vcpu_migrate_start/finish`): sleep,
    /// move to the CPU `pick_cpu` names, wake again.
    fn migrate(&mut self, i: usize) {
        let id = self.ids[i];
        let a = self.s.sleep(id).unwrap();
        self.apply(a);
        let c = self.s.pick_cpu(id).unwrap();
        self.s.migrate(id, c).unwrap();
        if self.runnable[i] {
            let a = self.s.wake(id, self.now).unwrap();
            self.apply(a);
        }
    }

    fn save_one(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let p = self.pending.remove(0);
        let a = self
            .s
            .context_saved(p, self.runnable[p.0 as usize])
            .unwrap();
        self.apply(a);
        let i = p.0 as usize;
        if std::mem::take(&mut self.migrating[i]) && self.running(i).is_none() {
            self.migrate(i);
        }
    }

    fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        if self.ids.is_empty() {
            return Ok(());
        }
        let n = self.ids.len();
        let op = &match *op {
            Op::Wake(i) => Op::Wake(i % n),
            Op::Block(i) => Op::Block(i % n),
            Op::Sleep(i) => Op::Sleep(i % n),
            Op::SetParams(i, p, b, e, now) => Op::SetParams(i % n, p, b, e, now),
            Op::SetAffinity(i, m) => Op::SetAffinity(i % n, m),
            Op::Unrunnable(i) => Op::Unrunnable(i % n),
            ref o => o.clone(),
        };
        if std::env::var_os("PROPS_TRACE").is_some() {
            eprintln!(
                "t={} {op:?} resched={:?}",
                self.now,
                self.resched.iter().collect::<Vec<_>>()
            );
        }
        match *op {
            Op::Wake(i) => {
                self.runnable[i] = true;
                let a = self.s.wake(self.ids[i], self.now).unwrap();
                self.apply(a);
            }
            Op::Block(i) => {
                if !self.runnable[i] {
                    return Ok(());
                }
                self.runnable[i] = false;
                if let Some(c) = self.running(i) {
                    self.schedule(c);
                } else {
                    let a = self.s.sleep(self.ids[i]).unwrap();
                    self.apply(a);
                }
            }
            Op::Sleep(i) => {
                self.runnable[i] = false;
                let a = self.s.sleep(self.ids[i]).unwrap();
                self.apply(a);
            }
            Op::Schedule(c) => self.schedule(c % self.ncpus),
            Op::Save => self.save_one(),
            Op::Advance(dt) => {
                self.now += dt;
                if self.timer.is_some_and(|t| t <= self.now) {
                    self.timer = None;
                    let a = self.s.timer_fire(self.now).unwrap();
                    self.apply(a);
                }
                for c in 0..self.ncpus {
                    if self.slice_end[c].is_some_and(|t| t <= self.now) {
                        self.slice_end[c] = None;
                        self.resched.set(c);
                    }
                }
            }
            Op::SetParams(i, period, budget, extra, prompt) => {
                let p = Params {
                    period,
                    budget,
                    extratime: extra,
                };
                let before: Vec<_> = self.ids.iter().map(|&id| self.s.unit_info(id)).collect();
                let r = if prompt {
                    self.s.set_params_at(self.ids[i], p, self.now)
                } else {
                    self.s.set_params(self.ids[i], p)
                };
                match r {
                    Ok(a) => {
                        prop_assert!(p.is_valid());
                        self.apply(a);
                        let info = self.s.unit_info(self.ids[i]).unwrap();
                        if prompt {
                            prop_assert!(
                                info.cur_deadline <= self.now + period,
                                "waits longer than its new period: {:?} at {}",
                                info,
                                self.now
                            );
                        }
                        self.seen[i] = (info.cur_deadline, info.period);
                    }
                    Err(e) => {
                        prop_assert!(!p.is_valid() || e == Error::NotAdmitted, "{e:?} for {p:?}");
                        let after: Vec<_> =
                            self.ids.iter().map(|&id| self.s.unit_info(id)).collect();
                        prop_assert_eq!(before, after, "rejected change modified state");
                    }
                }
            }
            Op::SetAffinity(i, bits) => {
                let m = self.mask(bits);
                self.s.set_affinity(self.ids[i], m).unwrap();
                if self.running(i).is_none() {
                    self.migrate(i);
                } else {
                    let c = self.running(i).unwrap();
                    if !m.test(c) {
                        // Moved once switched out (Xen's `_VPF_migrating`).
                        self.migrating[i] = true;
                        self.resched.set(c);
                    }
                }
            }
            Op::CpuLeave(c) => self.cpu_leave(c % self.ncpus)?,
            Op::CpuJoin(c) => {
                let c = c % self.ncpus;
                if self.s.policy().topology == Topology::Global && !self.online.test(c) {
                    self.s.cpu_add(c).unwrap();
                    self.online.set(c);
                    // Xen's schedule_cpu_add: "trigger it to go pick up some work".
                    self.resched.set(c);
                }
            }
            Op::Unrunnable(i) => {
                // Xen pauses a domain without the scheduler lock: a queued unit stops being
                // runnable, a CPU may schedule (and the shim's check meet it) before the
                // sleep hook comes.
                let info = self.s.unit_info(self.ids[i]).unwrap();
                if info.queue != 0 {
                    self.runnable[i] = false;
                    self.schedule(info.cpu as usize % self.ncpus);
                    let a = self.s.sleep(self.ids[i]).unwrap();
                    self.apply(a);
                }
            }
            Op::SwitchPriority => {
                let next = match self.s.policy().priority {
                    PriorityScheme::Edf => PriorityScheme::Dm,
                    PriorityScheme::Dm => PriorityScheme::Edf,
                };
                self.switch(|s| s.set_priority_scheme(next))?;
            }
            Op::SwitchServer => {
                let next = match self.s.policy().server {
                    ServerKind::Deferrable => ServerKind::Periodic,
                    ServerKind::Periodic => ServerKind::Cbs,
                    ServerKind::Cbs => ServerKind::Deferrable,
                };
                self.switch(|s| s.set_server(next))?;
            }
        }
        self.check()
    }

    /// A policy switch: applied, or refused by admission control with every unit unchanged.
    fn switch(
        &mut self,
        f: impl FnOnce(&mut Scheduler<'static>) -> Result<Actions, Error>,
    ) -> Result<(), TestCaseError> {
        let before: Vec<_> = self.ids.iter().map(|&id| self.s.unit_info(id)).collect();
        match f(&mut self.s) {
            Ok(a) => self.apply(a),
            Err(e) => {
                prop_assert_eq!(e, Error::NotAdmitted);
                let after: Vec<_> = self.ids.iter().map(|&id| self.s.unit_info(id)).collect();
                prop_assert_eq!(before, after);
            }
        }
        Ok(())
    }

    /// A CPU leaves as Xen's core makes it leave a cpupool: out of the pool's valid set
    /// (withdrawn), affinities that had no other CPU broken to all CPUs, every unit assigned
    /// to it and not running moved with `pick_cpu` (which must never name it: Xen would retry
    /// for ever), the running one handed back at its next schedule, then removed.
    fn cpu_leave(&mut self, c: usize) -> Result<(), TestCaseError> {
        // (Under admission control fewer CPUs can leave the admitted set over its bound: Xen
        // gives the scheduler no veto over a CPU leaving, so that is not checked here.)
        if self.s.policy().topology != Topology::Global
            || self.s.policy().admission
            || !self.online.test(c)
            || self.online.count() < 2
        {
            return Ok(());
        }
        let a = self.s.cpu_withdraw(c).unwrap();
        self.apply(a);
        self.online.clear(c);
        prop_assert!(!self.s.online().test(c));
        for i in 0..self.ids.len() {
            let id = self.ids[i];
            if self.s.affinity(id).unwrap().and(&self.online).is_empty() {
                self.s.set_affinity(id, self.online).unwrap();
            }
        }
        for _ in 0..8 {
            self.settle();
            for i in 0..self.ids.len() {
                let id = self.ids[i];
                let info = self.s.unit_info(id).unwrap();
                if info.cpu as usize != c || self.running(i).is_some() || info.flags & 2 != 0 {
                    continue;
                }
                let a = self.s.sleep(id).unwrap();
                self.apply(a);
                let to = self.s.pick_cpu(id).unwrap();
                prop_assert!(to != c, "pick_cpu named the leaving CPU {}", c);
                self.s.migrate(id, to).unwrap();
                if self.runnable[i] {
                    let a = self.s.wake(id, self.now).unwrap();
                    self.apply(a);
                }
            }
            self.check()?;
        }
        self.settle();
        prop_assert!(self.s.curr(c).is_none() && self.s.phantom(c).is_none());
        self.s.cpu_remove(c).unwrap();
        self.slice_end[c] = None;
        self.resched.clear(c);
        Ok(())
    }

    fn check(&mut self) -> Result<(), TestCaseError> {
        if let Err(e) = rtsched::invariants::check(&self.s) {
            return Err(TestCaseError::fail(format!("invariant: {e}")));
        }
        if self.s.policy().admission {
            prop_assert!(
                self.s.admission().schedulable,
                "admitted set fails its test"
            );
        }
        if self.s.policy().topology == Topology::Partition {
            // A PCPU's instance runs its units on that PCPU only.
            for c in 0..self.ncpus {
                prop_assert!(self.online.test(c) || self.s.curr(c).is_none());
            }
        }
        for (i, &id) in self.ids.iter().enumerate() {
            let u = self.s.unit_info(id).unwrap();
            let (d0, p0) = self.seen[i];
            if u.cur_deadline != d0 {
                prop_assert!(u.cur_deadline > d0, "deadline went back");
                // A CBS wake (or a periodic server's first period) may start a period at
                // `now`: then the new deadline is `now + period`, not on the old grid.
                let restarted = u.cur_deadline == self.now + u.period
                    && matches!(
                        self.s.policy().server,
                        ServerKind::Cbs | ServerKind::Periodic
                    );
                if u.period == p0 && !restarted {
                    prop_assert_eq!((u.cur_deadline - d0) % p0, 0, "deadline not whole periods");
                }
            }
            self.seen[i] = (u.cur_deadline, u.period);
            let mut running_on = 0;
            for c in 0..self.ncpus {
                running_on += (self.s.curr(c) == Some(id)) as u32;
            }
            prop_assert!(running_on <= 1);
            prop_assert!(running_on == 0 || u.queue == 0);
        }
        Ok(())
    }

    /// Processes every requested reschedule and pending context save.
    fn settle(&mut self) {
        for _ in 0..1000 {
            if let Some(c) = self.resched.first() {
                self.schedule(c);
            } else if !self.pending.is_empty() {
                self.save_one();
            } else {
                return;
            }
        }
        self.dump();
        panic!("reschedules do not settle");
    }

    /// Prints the state for a failure report.
    fn dump(&self) {
        for (i, &id) in self.ids.iter().enumerate() {
            eprintln!(
                "unit {i}: {:?} aff {:?} runnable {}",
                self.s.unit_info(id).unwrap(),
                self.s.affinity(id).unwrap().bits[0],
                self.runnable[i]
            );
        }
        eprintln!(
            "policy {:?} online {:?} tickled {:?} curr {:?} phantoms {:?}",
            self.s.policy(),
            self.online.bits[0],
            self.s.tickled().bits[0],
            (0..self.ncpus).map(|c| self.s.curr(c)).collect::<Vec<_>>(),
            (0..self.ncpus)
                .map(|c| self.s.phantom(c))
                .collect::<Vec<_>>()
        );
    }

    fn quiescent(&mut self) -> Result<(), TestCaseError> {
        self.settle();
        self.check()?;
        for c in self.online.iter() {
            let occupant = self.s.curr(c).or(self.s.phantom(c));
            for (i, &q) in self.ids.iter().enumerate() {
                let u = self.s.unit_info(q).unwrap();
                let eligible = self.runnable[i]
                    && u.queue == 1
                    && u.cur_budget > 0
                    && self.s.affinity(q).unwrap().test(c);
                if !eligible {
                    continue;
                }
                match occupant {
                    None => {
                        self.dump();
                        return Err(TestCaseError::fail(format!(
                            "CPU {c} idles while unit {i} is queued: {u:?}"
                        )));
                    }
                    Some(r) => prop_assert!(
                        !self.s.outranks(q, r).unwrap() || {
                            self.dump();
                            false
                        },
                        "CPU {} runs {:?} below queued unit {}",
                        c,
                        r,
                        i
                    ),
                }
            }
        }
        Ok(())
    }
}

fn policy() -> impl Strategy<Value = Policy> {
    (
        prop_oneof![Just(Topology::Global), Just(Topology::Partition)],
        prop_oneof![Just(PriorityScheme::Edf), Just(PriorityScheme::Dm)],
        prop_oneof![
            Just(ServerKind::Deferrable),
            Just(ServerKind::Periodic),
            Just(ServerKind::Cbs)
        ],
        prop_oneof![Just(ClassRule::Classes), Just(ClassRule::Rtds)],
    )
        .prop_flat_map(|(topology, priority, server, classes)| {
            any::<bool>().prop_map(move |admission| Policy {
                topology,
                priority,
                server,
                admission,
                classes,
            })
        })
}

/// (period, budget, extratime, affinity bits) of one unit.
type UnitSpec = (i64, i64, bool, u8);

fn scenario() -> impl Strategy<Value = (usize, Policy, Vec<UnitSpec>, Vec<Op>)> {
    (1usize..=8, policy(), 1usize..=8).prop_flat_map(|(ncpus, pol, nunits)| {
        let unit = (2i64..40, 1i64..100, any::<bool>(), any::<u8>()).prop_map(|(p, b, e, m)| {
            let period = p * 500 * US;
            let budget = (period * b / 100).max(10 * US);
            (period, budget, e, m)
        });
        (
            Just(ncpus),
            Just(pol),
            proptest::collection::vec(unit, nunits),
            proptest::collection::vec(op(nunits, ncpus), 50..200),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: model_tests::proptest_cases(400), ..ProptestConfig::default() })]

    #[test]
    fn random_hook_sequences_keep_invariants((ncpus, pol, units, ops) in scenario()) {
        let mut h = Host::new(ncpus, pol, &units);
        for (k, op) in ops.iter().enumerate() {
            h.step(op)?;
            if k % 16 == 15 {
                h.quiescent()?;
            }
        }
        h.quiescent()?;
    }
}
