//! Replays one [`Trace`] into rtsched and rt.c side by side and compares every hook's
//! outcome.
//!
//! The driver is the host: it keeps what Xen's scheduling core keeps between hooks (the
//! unit current on each CPU, the slice end, the unit being switched out and awaiting
//! `context_saved`, each unit's runnable state, affinity changes in progress) and calls
//! both implementations' hooks with the same arguments, as `model-tests/src/sim.rs` does
//! for rtsched alone. After every hook it compares:
//!
//! - `do_schedule`'s decision: the unit chosen, its time slice, the migrated flag;
//! - the CPUs asked to reschedule (see [`Deviation`] for the differences tolerated);
//! - the replenishment timer's expiry;
//! - every unit's scheduler state: period, budget, current budget, deadline, last start,
//!   priority level, the scheduled / delayed-add / extratime flags, which queue it is on,
//!   whether it is on the replenishment queue, its CPU;
//! - `insert`'s and `pick_resource`'s CPU, and parameters read back after a set.
//!
//! The reschedule requests performed are the union of both implementations' (a spurious
//! reschedule is harmless in both), so the two stay in lock step when one tickles more.
//! A difference that a known deviation's trigger explains ends the comparison of the trace
//! as [`End::Explained`] (the states have diverged); any other is an [`End::Mismatch`].

use std::collections::BTreeMap;

use rtsched::{CpuMask, Params, Pcpu, Scheduler, Storage, Unit, UnitId, UnitInfo};

use crate::deviations::Deviation;
use crate::trace::{Event, Trace};
use crate::xen::{XenRt, XenUnitState};

/// Flag bits compared between the two (same positions in both): scheduled,
/// delayed-runq-add, extratime. (rt.c's `depleted` bit is bookkeeping for tickling, and
/// rtsched clears it at other times; its effect is compared through the tickles.)
const FLAGS: u32 = (1 << 1) | (1 << 2) | (1 << 4);
const EXTRATIME: u32 = 1 << 4;
const SCHEDULED: u32 = 1 << 1;

/// A hook, for reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Hook {
    /// `insert_unit`.
    Insert,
    /// `remove_unit`.
    Remove,
    /// `wake`.
    Wake,
    /// `sleep`.
    Sleep,
    /// `do_schedule`.
    DoSchedule,
    /// `context_saved`.
    ContextSaved,
    /// The replenishment timer handler.
    Timer,
    /// `putvcpuinfo`.
    SetParams,
    /// `pick_resource` (affinity change).
    Pick,
}

/// A difference no known deviation explains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch {
    /// Index of the trace event being replayed.
    pub event: usize,
    /// The hook after which it was found.
    pub hook: Hook,
    /// Time, ns.
    pub now: i64,
    /// What differed.
    pub what: String,
}

/// How the comparison of a trace ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum End {
    /// Every event replayed, no unexplained difference.
    Completed,
    /// A known deviation made the states diverge at this event.
    Explained(Deviation, usize, String),
    /// An unexplained difference.
    Mismatch(Mismatch),
}

/// The result of replaying one trace.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// Hook calls made on both implementations and compared.
    pub steps: u64,
    /// How the comparison ended.
    pub end: End,
    /// Differences tolerated on the way (they do not end the comparison), per deviation.
    pub tolerated: BTreeMap<Deviation, u64>,
    /// Hook calls compared, per hook.
    pub hooks: BTreeMap<Hook, u64>,
    /// `wake` calls on a unit still being switched out (`SCHEDULED`: the delayed-add
    /// protocol), compared.
    pub wakes_while_scheduled: u64,
}

/// Deliberate corruption of the comparison, to show that it can fail.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Inject {
    /// None.
    #[default]
    None,
    /// rtsched gets 1 µs more budget than rt.c for every unit's initial parameters.
    BudgetSkew,
    /// The driver reports rtsched's slice as 1 ns longer than it is.
    SliceSkew,
}

/// Options of a replay.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Deliberate corruption (tests of the test).
    pub inject: Inject,
    /// Print every hook outcome to stderr.
    pub verbose: bool,
}

enum Stop {
    Explained(Deviation, String),
    Mismatch(Hook, String),
}

type Step = Result<(), Stop>;

/// rt.c's state before a hook, for the deviation predicates.
struct Snapshot {
    xs: Vec<XenUnitState>,
    replq: Vec<usize>,
    sync: bool,
}

struct Host<'a> {
    r: Scheduler<'a>,
    x: XenRt,
    ids: Vec<UnitId>,
    ncpus: usize,
    all: u64,
    now: i64,
    ready: Vec<bool>,
    inserted: Vec<bool>,
    migrating: Vec<bool>,
    curr: Vec<Option<usize>>,
    slice_end: Vec<Option<i64>>,
    saving: Vec<Option<usize>>,
    pending: u64,
    delayed_saves: bool,
    steps: u64,
    tolerated: BTreeMap<Deviation, u64>,
    hooks: BTreeMap<Hook, u64>,
    wakes_while_scheduled: u64,
    opts: Options,
}

fn bits(m: CpuMask) -> u64 {
    m.bits[0]
}

fn cpus(m: u64) -> Vec<usize> {
    (0..64).filter(|c| m >> c & 1 == 1).collect()
}

/// Replays `trace` into both implementations and compares them after every hook.
pub fn run(trace: &Trace, opts: &Options) -> Outcome {
    let n = trace.units.len();
    let ncpus = usize::from(trace.ncpus).clamp(1, 64);
    let mut units = vec![Unit::EMPTY; n.max(1)];
    let mut runq = vec![0u32; n.max(1)];
    let mut replq = vec![0u32; n.max(1)];
    let mut pcpus = vec![Pcpu::IDLE; ncpus];
    let storage = Storage {
        units: &mut units,
        runq: &mut runq,
        replq: &mut replq,
        cpus: &mut pcpus,
    };
    let r = Scheduler::new(storage, crate::rtds_policy()).expect("storage");
    let mut h = Host {
        r,
        x: XenRt::new(ncpus, n.max(1)),
        ids: Vec::new(),
        ncpus,
        all: if ncpus == 64 {
            u64::MAX
        } else {
            (1 << ncpus) - 1
        },
        now: 0,
        ready: vec![false; n],
        inserted: vec![false; n],
        migrating: vec![false; n],
        curr: vec![None; ncpus],
        slice_end: vec![None; ncpus],
        saving: vec![None; ncpus],
        pending: 0,
        delayed_saves: trace.delayed_saves,
        steps: 0,
        tolerated: BTreeMap::new(),
        hooks: BTreeMap::new(),
        wakes_while_scheduled: 0,
        opts: *opts,
    };
    let end = match h.setup(trace) {
        Err(s) => h.end(s, 0),
        Ok(()) => {
            let mut end = End::Completed;
            for (i, e) in trace.events.iter().enumerate() {
                if let Err(s) = h.event(e) {
                    end = h.end(s, i);
                    break;
                }
            }
            end
        }
    };
    Outcome {
        steps: h.steps,
        end,
        tolerated: h.tolerated,
        hooks: h.hooks,
        wakes_while_scheduled: h.wakes_while_scheduled,
    }
}

impl Host<'_> {
    fn end(&self, s: Stop, event: usize) -> End {
        match s {
            Stop::Explained(d, w) => End::Explained(d, event, w),
            Stop::Mismatch(hook, what) => End::Mismatch(Mismatch {
                event,
                hook,
                now: self.now,
                what,
            }),
        }
    }

    fn setup(&mut self, trace: &Trace) -> Step {
        for c in 0..self.ncpus {
            self.r.cpu_add(c).expect("cpu_add");
            self.x.cpu_add(c);
        }
        for (i, u) in trace.units.iter().enumerate() {
            let mut aff = u.affinity & self.all;
            if aff == 0 {
                aff = self.all;
            }
            let mut m = CpuMask::EMPTY;
            m.bits[0] = aff;
            let id = self.r.unit_alloc(u.dom, u.vcpu, m).expect("unit_alloc");
            self.ids.push(id);
            self.x.unit_alloc(i, u.dom, u.vcpu, aff);
            let skew = u32::from(self.opts.inject == Inject::BudgetSkew);
            let p = Params {
                period: i64::from(u.period_us) * 1000,
                budget: i64::from(u.budget_us + skew) * 1000,
                extratime: u.extratime,
            };
            let rr = self.r.set_params(id, p).is_ok();
            let rc = self.x.put_vcpu(i, u.period_us, u.budget_us, u.extratime);
            if rr != (rc == 0) {
                return Err(Stop::Mismatch(
                    Hook::SetParams,
                    format!("unit {i}: initial parameters: rtsched ok={rr}, rt.c rc={rc}"),
                ));
            }
        }
        self.compare_states(Hook::SetParams)
    }

    fn runnable(&self, u: usize) -> bool {
        self.ready[u] && !self.migrating[u]
    }

    fn sync_runnable(&mut self, u: usize) {
        let r = self.runnable(u);
        self.x.set_runnable(u, r);
    }

    fn is_curr(&self, u: usize) -> bool {
        self.curr.contains(&Some(u))
    }

    fn is_saving(&self, u: usize) -> bool {
        self.saving.contains(&Some(u))
    }

    fn index(&self, id: UnitId) -> Option<usize> {
        self.ids.iter().position(|&i| i == id)
    }

    // ---------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------

    fn event(&mut self, e: &Event) -> Step {
        let n = self.ids.len();
        let unit_ok = |u: u8| usize::from(u) < n;
        let cpu_ok = |c: u8| usize::from(c) < self.ncpus;
        match *e {
            Event::Advance(dt) => return self.advance(self.now + i64::from(dt)),
            Event::Insert(u) if unit_ok(u) => {
                let u = usize::from(u);
                if !self.inserted[u] && !self.ready[u] {
                    self.hook_insert(u)?;
                }
            }
            Event::Remove(u) if unit_ok(u) => {
                let u = usize::from(u);
                if self.inserted[u]
                    && !self.ready[u]
                    && !self.migrating[u]
                    && !self.is_curr(u)
                    && !self.is_saving(u)
                {
                    self.hook_remove(u)?;
                }
            }
            Event::Wake(u) if unit_ok(u) => {
                let u = usize::from(u);
                if self.inserted[u] && !self.migrating[u] {
                    self.ready[u] = true;
                    self.sync_runnable(u);
                    self.hook_wake(u)?;
                }
            }
            Event::Sleep(u) if unit_ok(u) => {
                let u = usize::from(u);
                if self.inserted[u] {
                    self.ready[u] = false;
                    self.sync_runnable(u);
                    self.hook_sleep(u)?;
                }
            }
            Event::Block(c) if cpu_ok(c) => {
                if let Some(u) = self.curr[usize::from(c)] {
                    if self.runnable(u) {
                        self.ready[u] = false;
                        self.sync_runnable(u);
                        self.pending |= 1 << c;
                    }
                }
            }
            Event::Schedule(c) if cpu_ok(c) => self.pending |= 1 << c,
            Event::Tasklet(c) if cpu_ok(c) => {
                self.hook_schedule(usize::from(c), true)?;
                self.pending |= 1 << c;
            }
            Event::Save(c) if cpu_ok(c) => self.hook_saved(usize::from(c))?,
            Event::SetParams {
                unit,
                period_us,
                budget_us,
                extratime,
            } if unit_ok(unit) => {
                self.set_params(usize::from(unit), period_us, budget_us, extratime)?
            }
            Event::SetAffinity { unit, mask } if unit_ok(unit) => {
                let u = usize::from(unit);
                if self.inserted[u] && !self.migrating[u] {
                    self.set_affinity(u, mask)?;
                }
            }
            _ => {}
        }
        self.settle()
    }

    /// Performs the pending reschedule requests, lowest CPU first, until none is left.
    fn settle(&mut self) -> Step {
        for _ in 0..100_000 {
            if self.pending == 0 {
                return Ok(());
            }
            let c = self.pending.trailing_zeros() as usize;
            self.pending &= !(1 << c);
            self.hook_schedule(c, false)?;
        }
        Err(Stop::Mismatch(
            Hook::DoSchedule,
            "reschedule requests do not settle".into(),
        ))
    }

    /// Time passes until `t`: context switches complete first, then at each timer expiry
    /// or slice end (in time order) the slices end (reschedule requests), the timer fires,
    /// and the requests are performed.
    fn advance(&mut self, t: i64) -> Step {
        loop {
            for c in 0..self.ncpus {
                self.hook_saved(c)?;
            }
            self.settle()?;
            let timer = self.r.timer().unwrap_or(i64::MAX);
            let next = next_event(timer, &self.slice_end);
            if next > t {
                self.now = t;
                return Ok(());
            }
            self.now = self.now.max(next);
            for c in 0..self.ncpus {
                if self.slice_end[c].is_some_and(|e| e <= self.now) {
                    self.slice_end[c] = None;
                    self.pending |= 1 << c;
                }
            }
            if timer <= self.now {
                self.hook_timer()?;
            }
            self.settle()?;
        }
    }

    fn set_params(&mut self, u: usize, period_us: u32, budget_us: u32, extratime: bool) -> Step {
        let (mut period_us, mut budget_us, mut extratime) = (period_us, budget_us, extratime);
        let valid = budget_us >= 10 && period_us >= 10 && budget_us <= period_us;
        let info = self.r.unit_info(self.ids[u]).expect("unit_info");
        if valid {
            // Deviation 6 avoided: never below the current budget (rtsched would clamp it).
            let cur = info.cur_budget;
            let cur_us = u32::try_from((cur.max(0) + 999) / 1000).unwrap_or(u32::MAX);
            budget_us = budget_us.max(cur_us);
            period_us = period_us.max(budget_us);
            // Deviation 1 (37b49cb48e) avoided: extratime is not turned on for a unit whose
            // budget is used up (rt.c would queue it with a zero budget).
            if info.cur_budget <= 0 && info.flags & EXTRATIME == 0 {
                extratime = false;
            }
        }
        let pre = self.snapshot();
        let p = Params {
            period: i64::from(period_us) * 1000,
            budget: i64::from(budget_us) * 1000,
            extratime,
        };
        let rr = self.r.set_params(self.ids[u], p);
        let rc = self.x.put_vcpu(u, period_us, budget_us, extratime);
        self.steps += 1;
        if rr.is_ok() != (rc == 0) {
            return Err(Stop::Mismatch(
                Hook::SetParams,
                format!("unit {u} {p:?}: rtsched {rr:?}, rt.c rc={rc}"),
            ));
        }
        let rp = self.r.params(self.ids[u]).expect("params");
        let xp = self.x.get_vcpu(u);
        let rp_us = (rp.period / 1000, rp.budget / 1000, rp.extratime);
        let xp_us = (i64::from(xp.0), i64::from(xp.1), xp.2);
        if rp_us != xp_us {
            return Err(Stop::Mismatch(
                Hook::SetParams,
                format!("unit {u}: read back rtsched {rp_us:?}, rt.c {xp_us:?}"),
            ));
        }
        let a = rr.map(|a| bits(a.reschedule)).unwrap_or(0);
        self.post(Hook::SetParams, Some(u), &pre, a)
    }

    fn set_affinity(&mut self, u: usize, mask: u64) -> Step {
        let mut m = mask & self.all;
        if m == 0 {
            m = self.all;
        }
        let mut cm = CpuMask::EMPTY;
        cm.bits[0] = m;
        self.r.set_affinity(self.ids[u], cm).expect("set_affinity");
        self.x.set_affinity(u, m);
        self.migrating[u] = true;
        self.sync_runnable(u);
        self.hook_sleep(u)?;
        if !self.is_curr(u) && !self.is_saving(u) {
            self.finish_migration(u)?;
        }
        Ok(())
    }

    /// The unit is off every CPU: `pick_resource`, move it there, wake it if it has work.
    fn finish_migration(&mut self, u: usize) -> Step {
        let id = self.ids[u];
        let rp = self.r.pick_cpu(id).expect("pick_cpu");
        let xp = self.x.pick_cpu(u);
        self.steps += 1;
        *self.hooks.entry(Hook::Pick).or_insert(0) += 1;
        if rp != xp {
            let cur = self.r.unit_info(id).map_or(0, |i| i.cpu as usize);
            let aff = bits(self.r.affinity(id).expect("affinity"));
            let idle = self.curr[rp].is_none() && !self.r.tickled().test(rp);
            if aff >> cur & 1 == 0 && aff >> rp & 1 == 1 && idle {
                self.tolerate(Deviation::PickIdleCpu);
            } else {
                return Err(Stop::Mismatch(
                    Hook::Pick,
                    format!("unit {u}: pick_cpu rtsched {rp}, rt.c {xp}"),
                ));
            }
        }
        // One choice for both, as Xen's core applies one pick_resource result.
        self.r.migrate(id, xp).expect("migrate");
        self.x.migrate(u, xp);
        self.migrating[u] = false;
        self.sync_runnable(u);
        if self.ready[u] {
            self.hook_wake(u)?;
        }
        Ok(())
    }

    // ---------------------------------------------------------------------------------
    // Hooks on both implementations
    // ---------------------------------------------------------------------------------

    fn hook_insert(&mut self, u: usize) -> Step {
        let pre = self.snapshot();
        let (rc, a) = self
            .r
            .insert(self.ids[u], self.now, false, false)
            .expect("insert");
        let xc = self.x.insert(u, self.now, false);
        self.inserted[u] = true;
        if rc != xc {
            return Err(Stop::Mismatch(
                Hook::Insert,
                format!("unit {u}: insert CPU rtsched {rc}, rt.c {xc}"),
            ));
        }
        self.post(Hook::Insert, Some(u), &pre, bits(a.reschedule))
    }

    fn hook_remove(&mut self, u: usize) -> Step {
        let pre = self.snapshot();
        let a = self.r.remove(self.ids[u]).expect("remove");
        self.x.remove(u, self.now);
        self.inserted[u] = false;
        self.post(Hook::Remove, Some(u), &pre, bits(a.reschedule))
    }

    fn hook_wake(&mut self, u: usize) -> Step {
        let pre = self.snapshot();
        let a = self.r.wake(self.ids[u], self.now).expect("wake");
        self.x.wake(u, self.now);
        self.post(Hook::Wake, Some(u), &pre, bits(a.reschedule))
    }

    fn hook_sleep(&mut self, u: usize) -> Step {
        let pre = self.snapshot();
        let a = self.r.sleep(self.ids[u]).expect("sleep");
        self.x.sleep(u, self.now);
        self.post(Hook::Sleep, Some(u), &pre, bits(a.reschedule))
    }

    fn hook_timer(&mut self) -> Step {
        let pre = self.snapshot();
        let a = self.r.timer_fire(self.now).expect("timer_fire");
        self.x.timer_fire(self.now);
        self.post(Hook::Timer, None, &pre, bits(a.reschedule))
    }

    /// `context_saved` of the unit CPU `c` switched out, if one is pending; then a pending
    /// affinity change of that unit completes.
    fn hook_saved(&mut self, c: usize) -> Step {
        let Some(u) = self.saving[c].take() else {
            return Ok(());
        };
        let pre = self.snapshot();
        let runnable = self.runnable(u);
        let a = self
            .r
            .context_saved(self.ids[u], runnable)
            .expect("context_saved");
        self.x.context_saved(u, self.now);
        self.post(Hook::ContextSaved, Some(u), &pre, bits(a.reschedule))?;
        if self.migrating[u] {
            self.finish_migration(u)?;
        }
        Ok(())
    }

    fn hook_schedule(&mut self, c: usize, tasklet: bool) -> Step {
        self.hook_saved(c)?;
        let prev = self.curr[c];
        let prev_runnable = prev.is_some_and(|u| self.runnable(u));
        let pre = self.snapshot();
        let d = self
            .r
            .do_schedule(c, self.now, prev_runnable, tasklet)
            .expect("do_schedule");
        let (xn, xs, xm) = self.x.do_schedule(c, self.now, tasklet);
        let rn = d.next.map(|id| self.index(id).expect("known unit"));
        let rs = d.slice + i64::from(self.opts.inject == Inject::SliceSkew && rn.is_some());
        if self.opts.verbose {
            eprintln!(
                "t={} cpu{c} {prev:?} -> rtsched {rn:?}/{rs}/{} rt.c {xn:?}/{xs}/{xm}",
                self.now, d.migrated
            );
        }
        if (rn, rs, d.migrated) != (xn, xs, xm) {
            self.steps += 1;
            let what = format!(
                "cpu {c}: rtsched picks {rn:?} slice {rs} migrated {}, rt.c picks {xn:?} \
                 slice {xs} migrated {xm}",
                d.migrated
            );
            return Err(self.classify(&pre, Hook::DoSchedule, what));
        }
        self.curr[c] = rn;
        self.slice_end[c] = (rs >= 0).then(|| self.now.saturating_add(rs));
        self.post(Hook::DoSchedule, None, &pre, bits(d.actions.reschedule))?;
        if let Some(p) = prev {
            if rn != Some(p) {
                self.saving[c] = Some(p);
                if !self.delayed_saves {
                    self.hook_saved(c)?;
                }
            }
        }
        Ok(())
    }

    // ---------------------------------------------------------------------------------
    // Comparison
    // ---------------------------------------------------------------------------------

    fn tolerate(&mut self, d: Deviation) {
        *self.tolerated.entry(d).or_insert(0) += 1;
    }

    fn snapshot(&self) -> Snapshot {
        Snapshot {
            xs: self.x.states(self.ids.len()),
            replq: self.x.replq(),
            sync: bits(self.r.tickled()) == self.x.tickled(),
        }
    }

    /// After a hook: the reschedule requests, the timer and the states; then the union of
    /// the requests is left pending.
    fn post(&mut self, hook: Hook, unit: Option<usize>, pre: &Snapshot, r: u64) -> Step {
        self.steps += 1;
        *self.hooks.entry(hook).or_insert(0) += 1;
        if let (Hook::Wake, Some(u)) = (hook, unit) {
            if pre.xs[u].flags & SCHEDULED != 0 {
                self.wakes_while_scheduled += 1;
            }
        }
        let x = self.x.take_softirqs();
        self.pending |= r | x;
        let rt = self.r.timer();
        let xt = self.x.timer();
        if rt != xt {
            let what = format!("timer: rtsched {rt:?}, rt.c {xt:?}");
            return Err(self.classify(pre, hook, what));
        }
        if let Err(what) = self.diff_states() {
            return Err(self.classify(pre, hook, what));
        }
        if r != x {
            if let Some(d) = self.tickle_deviation(hook, unit, pre, r, x) {
                self.tolerate(d);
            } else {
                let what = format!("reschedule: rtsched {:?}, rt.c {:?}", cpus(r), cpus(x));
                return Err(self.classify(pre, hook, what));
            }
        }
        Ok(())
    }

    fn compare_states(&mut self, hook: Hook) -> Step {
        self.diff_states().map_err(|w| Stop::Mismatch(hook, w))
    }

    fn diff_states(&self) -> Result<(), String> {
        let xs = self.x.states(self.ids.len());
        for (u, x) in xs.iter().enumerate() {
            let r: UnitInfo = self.r.unit_info(self.ids[u]).expect("unit_info");
            let rv = (
                r.period,
                r.budget,
                r.cur_budget,
                r.cur_deadline,
                r.last_start,
                r.priority_level,
                r.flags & FLAGS,
                r.queue,
                r.on_replq,
                r.cpu,
            );
            let xv = (
                x.period,
                x.budget,
                x.cur_budget,
                x.cur_deadline,
                x.last_start,
                x.priority_level,
                x.flags & FLAGS,
                x.queue,
                x.on_replq,
                x.cpu,
            );
            if rv != xv {
                return Err(format!(
                    "unit {u} (period, budget, cur_budget, deadline, last_start, level, \
                     flags, queue, on_replq, cpu): rtsched {rv:?}, rt.c {xv:?}"
                ));
            }
        }
        Ok(())
    }

    /// Which deviation explains different reschedule requests `r` (rtsched) and `x`
    /// (rt.c) after `hook`, if any.
    fn tickle_deviation(
        &self,
        hook: Hook,
        unit: Option<usize>,
        pre: &Snapshot,
        r: u64,
        x: u64,
    ) -> Option<Deviation> {
        if !pre.sync {
            return Some(Deviation::TickleMaskDivergence);
        }
        match hook {
            // rt.c's do_schedule and dom_cntl never tickle.
            Hook::DoSchedule if x == 0 => Some(Deviation::ExtraTickleSchedule),
            Hook::SetParams if x == 0 => Some(Deviation::ExtraTickleParams),
            Hook::Timer if r & !x != 0 => Some(Deviation::ExtraTickleReplenish),
            Hook::Wake | Hook::ContextSaved => {
                let u = unit?;
                let depleted = self.x.states(self.ids.len())[u].queue == 2;
                (depleted && r & !x == 0 && x.count_ones() == 1)
                    .then_some(Deviation::DepletedNoTickle)
            }
            _ => None,
        }
    }

    /// A difference after `hook`: explained if the trigger of a deviation that changes
    /// state held before or after the hook, else a mismatch.
    fn classify(&self, pre: &Snapshot, hook: Hook, what: String) -> Stop {
        let post = Snapshot {
            xs: self.x.states(self.ids.len()),
            replq: self.x.replq(),
            sync: true,
        };
        for s in [pre, &post] {
            if let Some(d) = self.trigger(s) {
                return Stop::Explained(d, format!("{hook:?}: {what}"));
            }
        }
        Stop::Mismatch(hook, what)
    }

    /// The state-changing deviation whose trigger holds in rt.c's state `s`, if any.
    fn trigger(&self, s: &Snapshot) -> Option<Deviation> {
        let xs = &s.xs;
        // 3: rt.c's replenishment queue is not in deadline order.
        if s.replq
            .windows(2)
            .any(|w| xs[w[0]].cur_deadline > xs[w[1]].cur_deadline)
        {
            return Some(Deviation::ReplqOrder);
        }
        // 1: a unit with extratime and no budget (rt.c queues or runs it as it is).
        if xs
            .iter()
            .enumerate()
            .any(|(u, x)| self.inserted[u] && x.flags & EXTRATIME != 0 && x.cur_budget <= 0)
        {
            return Some(Deviation::ZeroBudgetExtratime);
        }
        // 6: a current budget above the budget.
        if xs.iter().any(|x| x.cur_budget > x.budget) {
            return Some(Deviation::BudgetClamp);
        }
        // 7: two competing units (queued or running) with the same priority.
        let competing: Vec<&XenUnitState> = xs
            .iter()
            .filter(|x| x.queue == 1 || x.flags & SCHEDULED != 0)
            .collect();
        for (i, a) in competing.iter().enumerate() {
            for b in &competing[i + 1..] {
                if a.priority_level == b.priority_level && a.cur_deadline == b.cur_deadline {
                    return Some(Deviation::PriorityTie);
                }
            }
        }
        None
    }
}

/// Whether replaying `trace` ends in an unexplained mismatch.
pub fn fails(trace: &Trace, opts: &Options) -> bool {
    matches!(run(trace, opts).end, End::Mismatch(_))
}

/// Shrinks a failing trace: removes chunks of events (halves, quarters, ..., single
/// events) and units' trailing events while the replay still ends in a mismatch. Every
/// subsequence of a trace is a valid trace (events are checked at replay), so the result
/// is a locally minimal failing trace.
pub fn shrink(trace: &Trace, opts: &Options) -> Trace {
    let mut best = trace.clone();
    if !fails(&best, opts) {
        return best;
    }
    let mut chunk = best.events.len().div_ceil(2).max(1);
    loop {
        let mut changed = false;
        let mut i = 0;
        while i < best.events.len() {
            let mut t = best.clone();
            let end = (i + chunk).min(t.events.len());
            t.events.drain(i..end);
            if fails(&t, opts) {
                best = t;
                changed = true;
            } else {
                i += chunk;
            }
        }
        // Fewer CPUs, then fewer units (the last ones), when the failure stays.
        while best.ncpus > 1 {
            let mut t = best.clone();
            t.ncpus -= 1;
            if !fails(&t, opts) {
                break;
            }
            best = t;
            changed = true;
        }
        while best.units.len() > 1 {
            let mut t = best.clone();
            t.units.pop();
            if !fails(&t, opts) {
                break;
            }
            best = t;
            changed = true;
        }
        if chunk == 1 && !changed {
            return best;
        }
        if !changed {
            chunk = chunk.div_ceil(2);
        }
    }
}

/// The host's next event: the replenishment timer's expiry (`i64::MAX` for none) or the
/// earliest slice end, whichever comes first.
pub fn next_event(timer: i64, slice_end: &[Option<i64>]) -> i64 {
    slice_end.iter().flatten().copied().fold(timer, i64::min)
}
