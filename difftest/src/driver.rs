//! Replays one [`Trace`] into rtsched and rt.c side by side and compares every hook's
//! outcome.
//!
//! The host is the host model (`host_model`: what Xen's scheduling core keeps between hooks
//! and when it calls them), driving the pair of implementations as its hooks: every hook is called on both
//! implementations with the same arguments. After every hook the pair compares:
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

use host_model::{Hooks, Pick};
use rtsched::mutants::Mutant;
use rtsched::{
    Actions, CpuMask, Params, Pcpu, Policy, Scheduler, Storage, Topology, Unit, UnitId, UnitInfo,
};

use crate::deviations::Deviation;
use crate::reference::{self, Rules, View};
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
    /// Replenishments by the timer of a unit on extratime (priority level above 0)
    /// compared: where a level the timer leaves unreset would show.
    pub level_resets: u64,
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

/// Which rtsched mode is compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// rt-global: one instance of each over all CPUs.
    #[default]
    Global,
    /// rt-partition: one rtsched partition instance and one rt.c instance per PCPU.
    Partition,
}

/// What rtsched is compared with.
#[derive(Clone, Copy, Debug, Default)]
pub enum Peer {
    /// Xen 4.17's rt.c (rtsched in plain RTDS order: EDF, deferrable server).
    #[default]
    Xen,
    /// The reference model's rules (`crate::reference`), for the policies rt.c lacks.
    Reference(Rules),
}

/// Options of a replay.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// A deliberately broken variant of rtsched (`rtsched::mutants`; needs this crate's
    /// `mutants` feature, else only [`Mutant::None`] is accepted).
    pub mutant: Mutant,
    /// rt-global or rt-partition.
    pub mode: Mode,
    /// rt.c or the reference model.
    pub peer: Peer,
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

/// An error rtsched returned from a hook the host called correctly: a mismatch.
fn failed(hook: Hook) -> impl Fn(rtsched::Error) -> Stop {
    move |e| Stop::Mismatch(hook, format!("rtsched returned {e:?}"))
}

/// The state before a hook, for the deviation rules: rt.c's unit states (equal to
/// rtsched's after the previous hook) and both tickled masks.
struct Snapshot {
    xs: Vec<XenUnitState>,
    /// rtsched's tickled mask.
    tr: u64,
    /// rt.c's tickled mask (a superset of `tr`: see [`Host::post`]).
    tx: u64,
    /// rtsched's unit states (reference model only).
    views: Vec<View>,
    /// The unit each CPU idles on (periodic server; reference model only).
    idled: Vec<Option<usize>>,
}

/// The two implementations side by side and the comparison's record: the host model's
/// hooks, each called on both and compared.
struct Pair<'a> {
    r: Scheduler<'a>,
    x: XenRt,
    ids: Vec<UnitId>,
    ncpus: usize,
    all: u64,
    /// The CPUs this instance manages (rt-partition: one).
    online: u64,
    /// Whether each unit is inserted (`insert_unit` without `remove_unit` since).
    inserted: Vec<bool>,
    steps: u64,
    tolerated: BTreeMap<Deviation, u64>,
    hooks: BTreeMap<Hook, u64>,
    wakes_while_scheduled: u64,
    /// Deviation 11: the overrun (ns, at most one budget) of a unit without extratime that
    /// the driver saw at `do_schedule`, to be charged at its next replenishment.
    overrun: Vec<i64>,
    /// Maximum lateness (ns) of a slice end's or the timer's `do_schedule`.
    late_ns: u32,
    /// Replenishments of a unit on extratime (level > 0) compared.
    level_resets: u64,
    /// Reference model: the last `do_schedule` (CPU, unit it ran, runnable, tasklet,
    /// rtsched's pick and slice), checked by the rules after the hook.
    picked: Option<Picked>,
    /// The last `do_schedule`'s state before it and both implementations' requests, compared
    /// once the host has performed the decision.
    schedule_post: Option<(Snapshot, u64, u64)>,
    opts: Options,
}

/// The host model over a pair.
struct Host<'a> {
    m: host_model::Host<Pair<'a>>,
}

/// The host's state.
type HostState = host_model::State;

fn bits(m: CpuMask) -> u64 {
    m.bits[0]
}

fn cpus(m: u64) -> Vec<usize> {
    (0..64).filter(|c| m >> c & 1 == 1).collect()
}

impl Options {
    /// rtsched's policy: plain RTDS (EDF, deferrable server) against rt.c, the rules'
    /// scheme and server against the reference model.
    pub fn policy(&self) -> Policy {
        match self.peer {
            Peer::Xen => crate::rtds_policy(),
            Peer::Reference(r) => Policy {
                priority: r.scheme,
                server: r.server,
                classes: r.classes,
                ..crate::rtds_policy()
            },
        }
    }
}

/// A `do_schedule` for the reference rules: CPU, the unit it ran, whether that is
/// runnable, tasklet work, rtsched's pick and slice.
type Picked = (usize, Option<usize>, bool, bool, Option<usize>, i64);

/// Caller-side storage of one rtsched instance.
struct Store {
    units: Vec<Unit>,
    runq: Vec<u32>,
    replq: Vec<u32>,
    cpus: Vec<Pcpu>,
}

impl Store {
    fn new(n: usize, ncpus: usize) -> Store {
        Store {
            units: vec![Unit::EMPTY; n.max(1)],
            runq: vec![0; n.max(1)],
            replq: vec![0; n.max(1)],
            cpus: vec![Pcpu::IDLE; ncpus],
        }
    }
}

/// Replays `trace` into both implementations and compares them after every hook: in
/// rt-global mode one instance of each over all CPUs; in rt-partition mode one rtsched
/// partition instance and one rt.c instance per PCPU (what cpupools of one PCPU are).
pub fn run(trace: &Trace, opts: &Options) -> Outcome {
    match opts.mode {
        Mode::Global => run_global(trace, opts),
        Mode::Partition => run_partition(trace, opts),
    }
}

fn run_global(trace: &Trace, opts: &Options) -> Outcome {
    let ncpus = usize::from(trace.ncpus).clamp(1, 64);
    let mut store = Store::new(trace.units.len(), ncpus);
    let mut h = Host::new(&mut store, trace, opts.policy(), u64::MAX, opts);
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
    let mut o = Outcome::new(end);
    h.add_counts(&mut o);
    o
}

impl Outcome {
    fn new(end: End) -> Outcome {
        Outcome {
            steps: 0,
            end,
            tolerated: BTreeMap::new(),
            hooks: BTreeMap::new(),
            wakes_while_scheduled: 0,
            level_resets: 0,
        }
    }
}

impl<'a> Host<'a> {
    /// A host over `store` with the CPUs of `online` (of the trace's) added.
    fn new(
        store: &'a mut Store,
        trace: &Trace,
        policy: Policy,
        online: u64,
        opts: &Options,
    ) -> Host<'a> {
        let n = trace.units.len();
        let ncpus = usize::from(trace.ncpus).clamp(1, 64);
        let storage = Storage {
            units: &mut store.units,
            runq: &mut store.runq,
            replq: &mut store.replq,
            cpus: &mut store.cpus,
        };
        let all = if ncpus == 64 {
            u64::MAX
        } else {
            (1 << ncpus) - 1
        };
        #[allow(unused_mut)]
        let mut r = Scheduler::new(storage, policy).expect("storage");
        #[cfg(feature = "mutants")]
        r.set_mutant(opts.mutant);
        #[cfg(not(feature = "mutants"))]
        assert_eq!(
            opts.mutant,
            Mutant::None,
            "mutants need the `mutants` feature"
        );
        let pair = Pair {
            r,
            x: XenRt::new(ncpus, n.max(1)),
            ids: Vec::new(),
            ncpus,
            all,
            online: online & all,
            inserted: vec![false; n],
            steps: 0,
            tolerated: BTreeMap::new(),
            hooks: BTreeMap::new(),
            wakes_while_scheduled: 0,
            overrun: vec![0; n],
            late_ns: trace.late_ns,
            level_resets: 0,
            picked: None,
            schedule_post: None,
            opts: *opts,
        };
        let mut m = host_model::Host::new(pair, vec![0; ncpus]);
        // Delayed saves wait for a `Save` event, the CPU's next schedule or time passing.
        m.st.context_delay = if trace.delayed_saves { None } else { Some(0) };
        for _ in 0..n {
            m.add_unit(0);
        }
        Host { m }
    }

    fn add_counts(&self, o: &mut Outcome) {
        let p = &self.m.imp;
        o.steps += p.steps;
        for (d, k) in &p.tolerated {
            *o.tolerated.entry(*d).or_insert(0) += k;
        }
        for (h, k) in &p.hooks {
            *o.hooks.entry(*h).or_insert(0) += k;
        }
        o.wakes_while_scheduled += p.wakes_while_scheduled;
        o.level_resets += p.level_resets;
    }
}

/// rt-partition: one host (an rtsched partition instance and an rt.c instance) per PCPU.
/// Events of a unit go to the PCPU it is placed on ([`rtsched::partition::place`], the
/// rule the shim applies, at insertion and when an affinity change leaves its PCPU, where
/// it is removed from one instance and inserted into the other); events of a CPU to that
/// CPU's; parameters are set in every instance (so a moved unit has them).
fn run_partition(trace: &Trace, opts: &Options) -> Outcome {
    let ncpus = usize::from(trace.ncpus).clamp(1, 64);
    let n = trace.units.len();
    let policy = Policy {
        topology: Topology::Partition,
        ..opts.policy()
    };
    let mut stores: Vec<Store> = (0..ncpus).map(|_| Store::new(n, ncpus)).collect();
    let mut hosts: Vec<Host> = stores
        .iter_mut()
        .enumerate()
        .map(|(c, s)| Host::new(s, trace, policy, 1 << c, opts))
        .collect();
    let mut home: Vec<Option<usize>> = vec![None; n];
    let mut params: Vec<(u32, u32, bool)> = trace
        .units
        .iter()
        .map(|u| (u.period_us, u.budget_us, u.extratime))
        .collect();
    let mut end = End::Completed;
    for h in &mut hosts {
        if let Err(s) = h.setup(trace) {
            end = h.end(s, 0);
            break;
        }
    }
    if end == End::Completed {
        for (i, e) in trace.events.iter().enumerate() {
            if let Err((c, s)) = partition_event(&mut hosts, &mut home, &mut params, e) {
                end = hosts[c].end(s, i);
                break;
            }
        }
    }
    let mut o = Outcome::new(end);
    for h in &hosts {
        h.add_counts(&mut o);
    }
    o
}

/// The PCPU for unit `u` among `allowed`: [`rtsched::partition::place`] over the
/// bandwidth of the units placed on each PCPU.
fn place(
    hosts: &[Host],
    home: &[Option<usize>],
    params: &[(u32, u32, bool)],
    u: usize,
    allowed: u64,
) -> usize {
    let bw = |v: usize| u64::from(params[v].1) * 1_000_000 / u64::from(params[v].0.max(1));
    let p = &hosts[0].m.imp;
    let dom = |v: usize| p.r.unit_info(p.ids[v]).expect("unit_info").domain;
    let loads: Vec<rtsched::partition::PcpuLoad> = (0..hosts.len())
        .map(|c| {
            let on = (0..home.len()).filter(|&v| v != u && home[v] == Some(c));
            let (mut load, mut same) = (0u64, false);
            for v in on {
                load += bw(v);
                same |= dom(v) == dom(u);
            }
            rtsched::partition::PcpuLoad {
                bandwidth_ppm: load,
                same_domain: same,
            }
        })
        .collect();
    rtsched::partition::place(&loads, &mask(allowed), None, bw(u)).unwrap_or(0)
}

type PStep = Result<(), (usize, Stop)>;

/// Whether host `h` holds unit `u` only as allocated (its affinity is set without a hook).
fn hosts_affinity_applies(h: &Host, u: usize) -> bool {
    !h.inserted(u)
}

fn partition_event(
    hosts: &mut [Host],
    home: &mut [Option<usize>],
    params: &mut [(u32, u32, bool)],
    e: &Event,
) -> PStep {
    let n = home.len();
    let ncpus = hosts.len();
    let at = |c: usize| move |s: Stop| (c, s);
    match *e {
        Event::Advance(dt) => {
            let t = hosts[0].m.st.now + i64::from(dt);
            for (c, h) in hosts.iter_mut().enumerate() {
                h.m.advance(t).map_err(at(c))?;
            }
        }
        Event::Insert(u) if usize::from(u) < n && home[usize::from(u)].is_none() => {
            let u = usize::from(u);
            let aff = hosts[0].m.imp.affinity_of(u);
            let c = place(hosts, home, params, u, aff);
            home[u] = Some(c);
            hosts[c].fresh(u, params[u]).map_err(at(c))?;
            hosts[c].event(e).map_err(at(c))?;
        }
        Event::Remove(u) | Event::Wake(u) | Event::Sleep(u) if usize::from(u) < n => {
            let u = usize::from(u);
            if let Some(c) = home[u] {
                hosts[c].event(e).map_err(at(c))?;
                if !hosts[c].inserted(u) {
                    home[u] = None;
                }
            }
        }
        Event::Block(c) | Event::Schedule(c) | Event::Tasklet(c) | Event::Save(c)
            if usize::from(c) < ncpus =>
        {
            let c = usize::from(c);
            hosts[c].event(e).map_err(at(c))?;
        }
        Event::SetParams {
            unit,
            period_us,
            budget_us,
            extratime,
        } if usize::from(unit) < n => {
            let u = usize::from(unit);
            match home[u] {
                Some(c) => {
                    if let Some(v) = hosts[c].set_params_event(e).map_err(at(c))? {
                        let p = &hosts[c].m.imp;
                        if p.r.params(p.ids[u]).is_ok_and(|p| {
                            p.period == i64::from(v.0) * 1000 && p.budget == i64::from(v.1) * 1000
                        }) {
                            params[u] = v;
                        }
                    }
                }
                // Not in any instance: the values it will join one with, if valid.
                None => {
                    if budget_us >= 10 && period_us >= budget_us {
                        params[u] = (period_us, budget_us, extratime);
                    }
                }
            }
        }
        Event::SetAffinity { unit, mask } if usize::from(unit) < n => {
            let u = usize::from(unit);
            let Some(c) = home[u] else {
                for (d, h) in hosts.iter_mut().enumerate() {
                    h.m.imp.set_affinity_only(u, mask).map_err(at(d))?;
                }
                return Ok(());
            };
            let m = hosts[c].m.imp.mask_of(mask);
            if m >> c & 1 == 1 {
                hosts[c].event(e).map_err(at(c))?;
                for (d, h) in hosts.iter_mut().enumerate() {
                    if d != c && hosts_affinity_applies(h, u) {
                        h.m.imp.set_affinity_only(u, mask).map_err(at(d))?;
                    }
                }
                return Ok(());
            }
            if !hosts[c].can_leave(u) {
                return Ok(());
            }
            // Leaves PCPU c: paused, removed there, inserted where placed, woken if ready.
            let ready = hosts[c].ready(u);
            hosts[c].leave(u).map_err(at(c))?;
            for (d, h) in hosts.iter_mut().enumerate() {
                h.m.imp.set_affinity_only(u, mask).map_err(at(d))?;
            }
            let d = place(hosts, home, params, u, m);
            home[u] = Some(d);
            hosts[d].fresh(u, params[u]).map_err(at(d))?;
            hosts[d].join(u, ready).map_err(at(d))?;
        }
        _ => {}
    }
    Ok(())
}

impl Host<'_> {
    fn end(&self, s: Stop, event: usize) -> End {
        match s {
            Stop::Explained(d, w) => End::Explained(d, event, w),
            Stop::Mismatch(hook, what) => End::Mismatch(Mismatch {
                event,
                hook,
                now: self.m.st.now,
                what,
            }),
        }
    }

    fn setup(&mut self, trace: &Trace) -> Step {
        let p = &mut self.m.imp;
        for c in cpus(p.online) {
            p.r.cpu_add(c).expect("cpu_add");
            if p.xen() {
                p.x.cpu_add(c);
            }
        }
        for (i, u) in trace.units.iter().enumerate() {
            let mut aff = u.affinity & p.all;
            if aff == 0 {
                aff = p.all;
            }
            let id =
                p.r.unit_alloc(u.dom, u.vcpu, mask(aff))
                    .expect("unit_alloc");
            p.ids.push(id);
            if p.xen() {
                p.x.unit_alloc(i, u.dom, u.vcpu, aff);
            }
            let skew = u32::from(p.opts.inject == Inject::BudgetSkew);
            let params = Params {
                period: i64::from(u.period_us) * 1000,
                budget: i64::from(u.budget_us + skew) * 1000,
                extratime: u.extratime,
            };
            let rr = p.r.set_params(id, params).is_ok();
            if !p.xen() {
                continue;
            }
            let rc = p.x.put_vcpu(i, u.period_us, u.budget_us, u.extratime);
            if rr != (rc == 0) {
                return Err(Stop::Mismatch(
                    Hook::SetParams,
                    format!("unit {i}: initial parameters: rtsched ok={rr}, rt.c rc={rc}"),
                ));
            }
        }
        if !p.xen() {
            return Ok(());
        }
        p.compare_states(Hook::SetParams)
    }

    fn ready(&self, u: usize) -> bool {
        self.m.st.units[u].ready
    }

    fn migrating(&self, u: usize) -> bool {
        self.m.st.units[u].migrating
    }

    fn inserted(&self, u: usize) -> bool {
        self.m.imp.inserted[u]
    }

    // ---------------------------------------------------------------------------------
    // Events
    // ---------------------------------------------------------------------------------

    fn event(&mut self, e: &Event) -> Step {
        let n = self.m.imp.ids.len();
        let unit_ok = |u: u8| usize::from(u) < n;
        let cpu_ok = |c: u8| usize::from(c) < self.m.imp.ncpus;
        match *e {
            Event::Advance(dt) => return self.m.advance(self.m.st.now + i64::from(dt)),
            Event::Insert(u) if unit_ok(u) => {
                let u = usize::from(u);
                if !self.inserted(u) && !self.ready(u) {
                    self.insert(u)?;
                }
            }
            Event::Remove(u) if unit_ok(u) => {
                let u = usize::from(u);
                if self.inserted(u) && !self.ready(u) && !self.migrating(u) && !self.m.st.on_cpu(u)
                {
                    self.remove(u)?;
                }
            }
            Event::Wake(u) if unit_ok(u) => {
                let u = usize::from(u);
                if self.inserted(u) && !self.migrating(u) {
                    self.m.wake(u)?;
                }
            }
            Event::Sleep(u) if unit_ok(u) => {
                let u = usize::from(u);
                if self.inserted(u) {
                    self.m.pause(u)?;
                }
            }
            Event::Block(c) if cpu_ok(c) => {
                if let Some(u) = self.m.st.curr(usize::from(c)) {
                    if self.m.st.runnable(u) {
                        self.m.block(u)?;
                    }
                }
            }
            Event::Schedule(c) if cpu_ok(c) => self.m.st.resched.set(usize::from(c)),
            Event::Tasklet(c) if cpu_ok(c) => self.m.schedule_tasklet(usize::from(c))?,
            Event::Save(c) if cpu_ok(c) => self.m.save(usize::from(c))?,
            Event::SetParams {
                unit,
                period_us,
                budget_us,
                extratime,
            } if unit_ok(unit) => {
                let u = usize::from(unit);
                let v = self.m.imp.adjust_params(u, period_us, budget_us, extratime);
                self.set_params_exact(u, v)?
            }
            Event::SetAffinity { unit, mask: m } if unit_ok(unit) => {
                let u = usize::from(unit);
                if self.inserted(u) && !self.migrating(u) {
                    let m = self.m.imp.mask_of(m);
                    self.m.set_affinity(u, mask(m))?;
                }
            }
            _ => {}
        }
        self.m.settle()
    }

    /// A `SetParams` event (rt-partition: in the unit's instance); returns the values set,
    /// or `None` if the event does not apply.
    fn set_params_event(&mut self, e: &Event) -> Result<Option<(u32, u32, bool)>, Stop> {
        let Event::SetParams {
            unit,
            period_us,
            budget_us,
            extratime,
        } = *e
        else {
            return Ok(None);
        };
        let u = usize::from(unit);
        if u >= self.m.imp.ids.len() {
            return Ok(None);
        }
        let v = self.m.imp.adjust_params(u, period_us, budget_us, extratime);
        self.set_params_exact(u, v)?;
        self.m.settle()?;
        Ok(Some(v))
    }

    /// `putvcpuinfo` with exactly these values (µs) on both, compared.
    fn set_params_exact(&mut self, u: usize, v: (u32, u32, bool)) -> Step {
        let a = self.m.imp.set_params(&self.m.st, u, v)?;
        self.m.apply(0, &a);
        Ok(())
    }

    /// `insert_unit` on both, compared.
    fn insert(&mut self, u: usize) -> Step {
        let a = self.m.imp.insert(&self.m.st, u)?;
        self.m.apply(0, &a);
        Ok(())
    }

    /// `remove_unit` on both, compared.
    fn remove(&mut self, u: usize) -> Step {
        let a = self.m.imp.remove(&self.m.st, u)?;
        self.m.apply(0, &a);
        Ok(())
    }

    /// Whether unit `u` can be moved to another instance now: inserted here, off the CPU,
    /// its context saved, no affinity change in progress.
    fn can_leave(&self, u: usize) -> bool {
        self.inserted(u) && !self.migrating(u) && !self.m.st.on_cpu(u)
    }

    /// rt-partition: unit `u` leaves this instance (paused if runnable, then removed).
    fn leave(&mut self, u: usize) -> Step {
        if self.ready(u) {
            self.m.pause(u)?;
            self.m.settle()?;
        }
        self.remove(u)?;
        self.m.settle()
    }

    /// rt-partition: fresh scheduler data for unit `u` in this instance (it moves here),
    /// with parameters `v` (µs), compared.
    fn fresh(&mut self, u: usize, v: (u32, u32, bool)) -> Step {
        self.m.imp.realloc(u);
        self.set_params_exact(u, v)
    }

    /// rt-partition: unit `u` joins this instance (inserted paused, woken if `ready`).
    fn join(&mut self, u: usize, ready: bool) -> Step {
        self.insert(u)?;
        self.m.settle()?;
        if ready {
            self.m.wake(u)?;
        }
        self.m.settle()
    }
}

/// A CPU bit mask as a [`CpuMask`].
fn mask(m: u64) -> CpuMask {
    let mut cm = CpuMask::EMPTY;
    cm.bits[0] = m;
    cm
}

impl Hooks for Pair<'_> {
    type Error = Stop;

    fn wake(&mut self, st: &HostState, u: usize) -> Result<Actions, Stop> {
        let (id, now) = (self.ids[u], st.now);
        let r = |r: &mut Scheduler| r.wake(id, now);
        self.both(st, Hook::Wake, Some(u), r, |x| x.wake(u, now))
    }

    fn sleep(&mut self, st: &HostState, u: usize) -> Result<Actions, Stop> {
        let (id, now) = (self.ids[u], st.now);
        let r = |r: &mut Scheduler| r.sleep(id);
        self.both(st, Hook::Sleep, Some(u), r, |x| x.sleep(u, now))
    }

    fn do_schedule(
        &mut self,
        st: &HostState,
        c: usize,
        prev_runnable: bool,
        tasklet: bool,
    ) -> Result<Pick, Stop> {
        let now = st.now;
        let prev = st.curr(c);
        let mut pre = self.snapshot();
        // Both clear the CPU's tickled bit first.
        pre.tr &= !(1 << c);
        pre.tx &= !(1 << c);
        let d = self
            .r
            .do_schedule(c, now, prev_runnable, tasklet)
            .map_err(failed(Hook::DoSchedule))?;
        let rn = d.next.map(|id| self.index(id).expect("known unit"));
        let rs = d.slice + i64::from(self.opts.inject == Inject::SliceSkew && rn.is_some());
        let (xn, xs, xm) = if self.xen() {
            self.x.do_schedule(c, now, tasklet)
        } else {
            self.picked = Some((c, prev, prev_runnable, tasklet, rn, rs));
            (rn, rs, d.migrated)
        };
        if self.opts.verbose {
            eprintln!(
                "t={now} cpu{c} {prev:?} -> rtsched {rn:?}/{rs}/{} rt.c {xn:?}/{xs}/{xm}",
                d.migrated
            );
        }
        if (rn, rs, d.migrated) != (xn, xs, xm) {
            self.steps += 1;
            let what = format!(
                "cpu {c}: rtsched picks {rn:?} slice {rs} migrated {}, rt.c picks {xn:?} \
                 slice {xs} migrated {xm}",
                d.migrated
            );
            return Err(self.pick_difference(rn, xn, what));
        }
        if self.xen() {
            self.record_overrun(now, prev, &pre);
        }
        let r = bits(d.actions.reschedule);
        let x = self.softirqs();
        self.schedule_post = Some((pre, r, x));
        Ok(Pick {
            next: rn,
            slice: rs,
            migrated: d.migrated,
            actions: Actions {
                reschedule: mask(r | x),
                timer: d.actions.timer,
            },
        })
    }

    fn scheduled(&mut self, st: &HostState, _: usize, _: Option<usize>) -> Step {
        let (pre, r, x) = self.schedule_post.take().expect("do_schedule recorded");
        self.compare(st, Hook::DoSchedule, None, &pre, (r, x))
    }

    fn context_saved(&mut self, st: &HostState, u: usize, runnable: bool) -> Result<Actions, Stop> {
        let id = self.ids[u];
        let r = |r: &mut Scheduler| r.context_saved(id, runnable);
        self.both(st, Hook::ContextSaved, Some(u), r, |x| {
            x.context_saved(u, st.now)
        })
    }

    fn timer_fire(&mut self, st: &HostState, _: usize) -> Result<Actions, Stop> {
        let now = st.now;
        // Deviation 11 / rule 2: a unit running past its budget when its deadline comes
        // (its slice ended late) is charged the excess.
        let views = self.views();
        for c in 0..self.ncpus {
            if let Some(u) = st.curr(c) {
                self.overrun[u] += reference::overrun_at_deadline(&views[u], now);
            }
        }
        self.both(
            st,
            Hook::Timer,
            None,
            |r| r.timer_fire(now),
            |x| x.timer_fire(now),
        )
    }

    fn set_affinity(&mut self, _: &HostState, u: usize, m: CpuMask) -> Step {
        self.r.set_affinity(self.ids[u], m).expect("set_affinity");
        if self.xen() {
            self.x.set_affinity(u, bits(m));
        }
        Ok(())
    }

    /// `pick_resource` on both: the same CPU, or deviation 2's.
    fn pick_cpu(&mut self, st: &HostState, u: usize) -> Result<usize, Stop> {
        let id = self.ids[u];
        let rp = self.r.pick_cpu(id).map_err(failed(Hook::Pick))?;
        let xp = if self.xen() { self.x.pick_cpu(u) } else { rp };
        self.steps += 1;
        *self.hooks.entry(Hook::Pick).or_insert(0) += 1;
        if rp != xp {
            let cur = self.r.unit_info(id).map_or(0, |i| i.cpu as usize);
            let aff = bits(self.r.affinity(id).expect("affinity"));
            let idle = st.curr(rp).is_none() && !self.r.tickled().test(rp);
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
        Ok(xp)
    }

    fn migrate(&mut self, _: &HostState, u: usize, c: usize) -> Step {
        self.r.migrate(self.ids[u], c).map_err(failed(Hook::Pick))?;
        if self.xen() {
            self.x.migrate(u, c);
        }
        Ok(())
    }

    fn runnable_changed(&mut self, st: &HostState, u: usize) {
        if self.xen() {
            self.x.set_runnable(u, st.runnable(u));
        }
    }

    /// A hash of the due time and the CPU (64: the timer) in `0..=late_ns`; a slice end
    /// at most half the running unit's budget late.
    fn lateness(&self, st: &HostState, due: i64, cpu: Option<usize>) -> i64 {
        match cpu {
            None => self.lateness(due, 64, i64::MAX),
            Some(c) => {
                let half = st.curr(c).map_or(0, |u| {
                    self.r.params(self.ids[u]).map_or(0, |p| p.budget / 2)
                });
                self.lateness(due, c as u64, half)
            }
        }
    }

    fn settled(&mut self, st: &HostState) -> Step {
        self.check_work_conserving(st)
    }

    fn livelock(&mut self, _: &HostState) -> Stop {
        Stop::Mismatch(Hook::DoSchedule, "reschedule requests do not settle".into())
    }
}

impl Pair<'_> {
    fn index(&self, id: UnitId) -> Option<usize> {
        self.ids.iter().position(|&i| i == id)
    }

    /// rt.c's reschedule requests since the last call (none against the reference model).
    fn softirqs(&mut self) -> u64 {
        if self.xen() {
            self.x.take_softirqs()
        } else {
            0
        }
    }

    /// A hook on both implementations (`r` on rtsched, `x` on rt.c unless the peer is the
    /// reference model), compared: the actions the host performs.
    fn both(
        &mut self,
        st: &HostState,
        hook: Hook,
        unit: Option<usize>,
        r: impl FnOnce(&mut Scheduler) -> rtsched::Result<Actions>,
        x: impl FnOnce(&mut XenRt),
    ) -> Result<Actions, Stop> {
        let pre = self.snapshot();
        let a = r(&mut self.r).map_err(failed(hook))?;
        if self.xen() {
            x(&mut self.x);
        }
        self.post(st, hook, unit, &pre, a)
    }

    /// After a hook other than `do_schedule`: compared, and the actions the host performs
    /// (the union of both implementations' requests).
    fn post(
        &mut self,
        st: &HostState,
        hook: Hook,
        unit: Option<usize>,
        pre: &Snapshot,
        a: Actions,
    ) -> Result<Actions, Stop> {
        let r = bits(a.reschedule);
        let x = self.softirqs();
        self.compare(st, hook, unit, pre, (r, x))?;
        Ok(Actions {
            reschedule: mask(r | x),
            timer: a.timer,
        })
    }

    /// How late the host runs what is due at `due` on `cpu` (64: the timer): a hash of
    /// both in `0..=late_ns`, at most `max`.
    fn lateness(&self, due: i64, cpu: u64, max: i64) -> i64 {
        if self.late_ns == 0 {
            return 0;
        }
        let mut z = (due as u64) ^ cpu.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        ((z % (u64::from(self.late_ns) + 1)) as i64).min(max)
    }

    /// The parameters the driver sets for a `SetParams` event: valid ones are adjusted so
    /// that deviations 1, 6 and 11's whole-budget case do not arise.
    fn adjust_params(
        &self,
        u: usize,
        period_us: u32,
        budget_us: u32,
        extratime: bool,
    ) -> (u32, u32, bool) {
        let (mut period_us, mut budget_us, mut extratime) = (period_us, budget_us, extratime);
        let valid = budget_us >= 10 && period_us >= 10 && budget_us <= period_us;
        let info = self.r.unit_info(self.ids[u]).expect("unit_info");
        if valid {
            // Deviation 6 avoided: never below the current budget (rtsched would clamp it).
            let cur = info.cur_budget;
            let cur_us = u32::try_from((cur.max(0) + 999) / 1000).unwrap_or(u32::MAX);
            budget_us = budget_us.max(cur_us);
            // Deviation 11: a pending overrun never takes a whole new budget (lateness is at
            // most half a budget; a budget change keeps the budget above the overrun).
            let over_us = u32::try_from(self.overrun[u] / 1000 + 1).unwrap_or(u32::MAX);
            budget_us = budget_us.max(over_us);
            period_us = period_us.max(budget_us);
            // Deviation 1 (37b49cb48e) avoided: extratime is not turned on for a unit whose
            // budget is used up (rt.c would queue it with a zero budget).
            if info.cur_budget <= 0 && info.flags & EXTRATIME == 0 {
                extratime = false;
            }
        }
        (period_us, budget_us, extratime)
    }

    /// `putvcpuinfo` with exactly these values (µs) on both, compared.
    fn set_params(
        &mut self,
        st: &HostState,
        u: usize,
        (period_us, budget_us, extratime): (u32, u32, bool),
    ) -> Result<Actions, Stop> {
        let pre = self.snapshot();
        let p = Params {
            period: i64::from(period_us) * 1000,
            budget: i64::from(budget_us) * 1000,
            extratime,
        };
        let rr = self.r.set_params(self.ids[u], p);
        let a = rr.unwrap_or_default();
        if !self.xen() {
            return self.post(st, Hook::SetParams, Some(u), &pre, a);
        }
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
        self.post(st, Hook::SetParams, Some(u), &pre, a)
    }

    /// A trace's CPU mask as applied: masked with the CPUs, empty meaning all.
    fn mask_of(&self, mask: u64) -> u64 {
        let m = mask & self.all;
        if m == 0 {
            self.all
        } else {
            m
        }
    }

    fn affinity_of(&self, u: usize) -> u64 {
        bits(self.r.affinity(self.ids[u]).expect("affinity"))
    }

    /// Sets the hard affinity in both, with no hook (a unit not inserted here).
    fn set_affinity_only(&mut self, u: usize, m: u64) -> Step {
        if self.inserted[u] {
            return Ok(());
        }
        let m = self.mask_of(m);
        self.r
            .set_affinity(self.ids[u], mask(m))
            .expect("set_affinity");
        if self.xen() {
            self.x.set_affinity(u, m);
        }
        Ok(())
    }

    /// rt-partition: unit `u`'s scheduler data freed and allocated again here (it moves
    /// here).
    fn realloc(&mut self, u: usize) {
        let id = self.ids[u];
        let info = self.r.unit_info(id).expect("unit_info");
        let aff = self.r.affinity(id).expect("affinity");
        self.r.unit_free(id).expect("unit_free");
        let nid = self
            .r
            .unit_alloc(info.domain, info.vcpu, aff)
            .expect("unit_alloc");
        assert_eq!(nid, id, "the freed slot is reused");
        if self.xen() {
            self.x.unit_realloc(u);
        }
        self.overrun[u] = 0;
    }

    /// `insert_unit` on both, compared.
    fn insert(&mut self, st: &HostState, u: usize) -> Result<Actions, Stop> {
        let pre = self.snapshot();
        let (rc, a) = self
            .r
            .insert(self.ids[u], st.now, false, false)
            .map_err(failed(Hook::Insert))?;
        let xc = if self.xen() {
            self.x.insert(u, st.now, false)
        } else {
            rc
        };
        self.inserted[u] = true;
        if rc != xc {
            return Err(Stop::Mismatch(
                Hook::Insert,
                format!("unit {u}: insert CPU rtsched {rc}, rt.c {xc}"),
            ));
        }
        self.post(st, Hook::Insert, Some(u), &pre, a)
    }

    /// `remove_unit` on both, compared.
    fn remove(&mut self, st: &HostState, u: usize) -> Result<Actions, Stop> {
        let id = self.ids[u];
        self.inserted[u] = false;
        self.both(
            st,
            Hook::Remove,
            Some(u),
            |r| r.remove(id),
            |x| x.remove(u, st.now),
        )
    }

    // Comparison
    // ---------------------------------------------------------------------------------

    fn tolerate(&mut self, d: Deviation) {
        *self.tolerated.entry(d).or_insert(0) += 1;
    }

    fn snapshot(&self) -> Snapshot {
        if !self.xen() {
            return Snapshot {
                xs: Vec::new(),
                tr: bits(self.r.tickled()),
                tx: 0,
                views: self.views(),
                idled: self.idled(),
            };
        }
        Snapshot {
            xs: self.x.states(self.ids.len()),
            tr: bits(self.r.tickled()),
            tx: self.x.tickled(),
            views: Vec::new(),
            idled: Vec::new(),
        }
    }

    /// The unit each CPU idles on (periodic server).
    fn idled(&self) -> Vec<Option<usize>> {
        (0..self.ncpus)
            .map(|c| self.r.phantom(c).and_then(|id| self.index(id)))
            .collect()
    }

    /// Rule 8 of the reference model once the requests are performed.
    fn check_work_conserving(&self, st: &HostState) -> Step {
        let Peer::Reference(rules) = self.opts.peer else {
            return Ok(());
        };
        let views = self.views();
        let idled = self.idled();
        let shown: Vec<Option<usize>> = (0..self.ncpus).map(|c| st.curr(c).or(idled[c])).collect();
        match reference::work_conserving(&rules, &views, &shown, self.online & self.all) {
            None => Ok(()),
            Some((c, q)) => Err(Stop::Mismatch(
                Hook::DoSchedule,
                format!(
                    "rule 8: CPU {c} runs {:?} while unit {q} {:?} waits",
                    shown[c].map(|v| views[v]),
                    views[q]
                ),
            )),
        }
    }

    /// The reference model's rules 2 to 7 for one hook (see `crate::reference`).
    fn check_rules(
        &mut self,
        st: &HostState,
        rules: &Rules,
        hook: Hook,
        unit: Option<usize>,
        pre: &Snapshot,
    ) -> Result<(), String> {
        let post = self.views();
        let now = st.now;
        let n = post.len();
        // 7: parameters.
        for (u, (a, b)) in pre.views.iter().zip(&post).enumerate() {
            let params = |v: &View| (v.period, v.budget, v.extratime);
            if params(a) != params(b) && !(hook == Hook::SetParams && unit == Some(u)) {
                return Err(format!("rule 7: unit {u}: parameters changed by {hook:?}"));
            }
        }
        // 6: queues.
        for (u, v) in post.iter().enumerate() {
            if !rules.queue_ok(v) {
                return Err(format!("rule 6: unit {u} {v:?}"));
            }
        }
        // 3: timer.
        let want = post.iter().filter(|v| v.on_replq).map(|v| v.deadline).min();
        if self.r.timer() != want {
            return Err(format!(
                "rule 3: timer {:?}, earliest deadline {want:?}",
                self.r.timer()
            ));
        }
        // The state each unit may have after this hook, by rules 4 and 5 (do_schedule) or 2.
        let mut expect: Vec<Vec<(i64, u32)>> = pre
            .views
            .iter()
            .map(|v| vec![(v.cur_budget, v.level)])
            .collect();
        if hook == Hook::DoSchedule {
            let (c, ran, ran_runnable, tasklet, rn, rs) =
                self.picked.take().ok_or("do_schedule not recorded")?;
            let idled_on = pre.idled.get(c).copied().flatten();
            let mut after = pre.views.clone();
            for (b, idle) in [(ran, false), (idled_on, true)] {
                let Some(b) = b else { continue };
                let (cb, lvl, over) = reference::burned(&pre.views[b], now, idle);
                after[b].cur_budget = cb;
                after[b].level = lvl;
                if let Some(o) = over {
                    self.overrun[b] = o;
                }
                expect[b] = vec![(cb, lvl)];
            }
            let choices = if tasklet {
                Vec::new()
            } else {
                rules.pick(&after, c, ran, ran_runnable, idled_on)
            };
            let now_idled = self.r.phantom(c).and_then(|id| self.index(id));
            let got = rn.or(now_idled);
            let ok = match got {
                None => choices.is_empty() && rs == -1,
                Some(q) => {
                    choices.contains(&q)
                        && after[q].runnable == rn.is_some()
                        && rs == rules.slice(&after[q])
                        && post[q].last_start == now
                }
            };
            if !ok {
                return Err(format!(
                    "rule 5: CPU {c} picks {rn:?} (idles on {now_idled:?}) slice {rs},                      the rules allow {choices:?} ({:?})",
                    choices.iter().map(|&q| after[q]).collect::<Vec<_>>()
                ));
            }
        }
        // 2: replenishment.
        let running = |u: usize| st.cpu_of(u).is_some();
        for u in 0..n {
            let (p, q) = (&pre.views[u], &post[u]);
            let due = now >= p.deadline;
            let joins = matches!(hook, Hook::Wake | Hook::Insert)
                && unit == Some(u)
                && !running(u)
                && !pre.idled.contains(&Some(u))
                && (hook == Hook::Insert || p.queue == 0);
            let must = match hook {
                Hook::Timer if p.on_replq && due => {
                    Some(reference::replenished(p, now, self.overrun[u]))
                }
                _ if joins => reference::joins(p, now, self.overrun[u], rules.server),
                _ => None,
            };
            if let Some((d, b, l)) = must {
                self.overrun[u] = reference::debt_left(p, now, self.overrun[u]);
                if (q.deadline, q.cur_budget, q.level) != (d, b, l) {
                    return Err(format!(
                        "rule 2: unit {u} after {hook:?}: deadline, budget, level {:?},                          the rules {:?}",
                        (q.deadline, q.cur_budget, q.level),
                        (d, b, l)
                    ));
                }
                expect[u] = vec![(b, l)];
            } else if q.deadline != p.deadline {
                return Err(format!(
                    "rule 2: unit {u}: deadline {} -> {} by {hook:?}",
                    p.deadline, q.deadline
                ));
            }
        }
        // 4 (wake of the unit a CPU idles on: charged, idled-on) and the two other ways a
        // budget changes: extratime refill on queueing (rule 4's refill, one level down),
        // clamp to a lowered budget (putvcpuinfo).
        for u in 0..n {
            let (p, q) = (&pre.views[u], &post[u]);
            if hook == Hook::Wake && unit == Some(u) && pre.idled.contains(&Some(u)) {
                let (cb, lvl, over) = reference::burned(p, now, true);
                if let Some(o) = over {
                    self.overrun[u] = o;
                }
                expect[u] = vec![(cb, lvl)];
            }
            let base = expect[u].clone();
            for (cb, lvl) in base {
                if cb <= 0 && q.extratime && q.runnable {
                    expect[u].push((q.budget, lvl + 1));
                }
                if hook == Hook::SetParams && unit == Some(u) {
                    expect[u].push((cb.min(q.budget), lvl));
                }
            }
            if !expect[u].contains(&(q.cur_budget, q.level)) {
                return Err(format!(
                    "rule 4: unit {u} after {hook:?}: budget, level {:?}, the rules allow {:?}                      (before: {p:?})",
                    (q.cur_budget, q.level),
                    expect[u]
                ));
            }
        }
        Ok(())
    }

    fn xen(&self) -> bool {
        matches!(self.opts.peer, Peer::Xen)
    }

    /// rtsched's unit states as the reference rules read them.
    fn views(&self) -> Vec<View> {
        (0..self.ids.len())
            .map(|u| {
                let i = self.r.unit_info(self.ids[u]).expect("unit_info");
                View {
                    period: i.period,
                    budget: i.budget,
                    cur_budget: i.cur_budget,
                    deadline: i.cur_deadline,
                    last_start: i.last_start,
                    level: i.priority_level,
                    extratime: i.flags & EXTRATIME != 0,
                    scheduled: i.flags & SCHEDULED != 0,
                    queue: i.queue,
                    on_replq: i.on_replq != 0,
                    runnable: i.runnable != 0,
                    inserted: i.inserted != 0,
                    affinity: self.affinity_of(u),
                }
            })
            .collect()
    }

    /// After a hook: the re-syncs of deviations 3 and 11 (each checked to be exactly the
    /// predicted difference), then the timer and every unit's state exactly, then the
    /// reschedule requests CPU by CPU (`r` rtsched's, `x` rt.c's; the host performs their
    /// union), and the CPUs rtsched marked tickled are marked in rt.c too (the host performs
    /// them there as well), so rt.c's mask always holds rtsched's.
    fn compare(
        &mut self,
        st: &HostState,
        hook: Hook,
        unit: Option<usize>,
        pre: &Snapshot,
        (r, x): (u64, u64),
    ) -> Step {
        self.steps += 1;
        *self.hooks.entry(hook).or_insert(0) += 1;
        if let (Hook::Wake, Some(u)) = (hook, unit) {
            let scheduled = match self.opts.peer {
                Peer::Xen => pre.xs[u].flags & SCHEDULED != 0,
                Peer::Reference(_) => pre.views[u].scheduled,
            };
            if scheduled {
                self.wakes_while_scheduled += 1;
            }
        }
        if let Peer::Reference(rules) = self.opts.peer {
            if self.opts.verbose {
                eprintln!(
                    "t={} {hook:?} {unit:?}: rtsched {:?}, runs {:?} idles on {:?} {:?}",
                    st.now,
                    cpus(r),
                    st.cpus.iter().map(|c| c.curr).collect::<Vec<_>>(),
                    self.idled(),
                    std::env::var("DIFFTEST_UNIT")
                        .ok()
                        .and_then(|v| v.parse::<usize>().ok())
                        .map(|v| self.views()[v])
                );
            }
            return self
                .check_rules(st, &rules, hook, unit, pre)
                .map_err(|w| Stop::Mismatch(hook, w));
        }
        if self.opts.verbose {
            let us = unit.map(|u| (u, self.x.states(self.ids.len())[u]));
            eprintln!(
                "t={} {hook:?} {us:?}: rtsched {:?}, rt.c {:?}",
                st.now,
                cpus(r),
                cpus(x)
            );
        }
        self.resync_replq(hook)?;
        self.resync_overrun(hook, pre)?;
        let rt = self.r.timer();
        let xt = self.x.timer();
        if rt != xt {
            return Err(Stop::Mismatch(
                hook,
                format!("timer: rtsched {rt:?}, rt.c {xt:?}"),
            ));
        }
        self.compare_states(hook)?;
        if hook == Hook::Timer {
            self.count_level_resets(pre);
        }
        self.compare_reschedule(st, hook, unit, pre, r, x)?;
        self.x.mark_tickled(bits(self.r.tickled()));
        Ok(())
    }

    /// Deviation 3: rt.c's replenishment queue out of deadline order. Its timer must be
    /// programmed for its head (what rt.c's order implies); the queue is then sorted by
    /// deadline and the timer set for the new head (see `dt_replq_sort_by_deadline`).
    fn resync_replq(&mut self, hook: Hook) -> Step {
        let q = self.x.replq();
        let xs = self.x.states(self.ids.len());
        if q.windows(2)
            .all(|w| xs[w[0]].cur_deadline <= xs[w[1]].cur_deadline)
        {
            return Ok(());
        }
        let head = q.first().map(|&u| xs[u].cur_deadline);
        if self.x.timer() != head {
            return Err(Stop::Mismatch(
                hook,
                format!(
                    "rt.c's timer {:?} is not its replenishment queue head's deadline {head:?}",
                    self.x.timer()
                ),
            ));
        }
        self.x.replq_sort_by_deadline();
        self.tolerate(Deviation::ReplqOrder);
        Ok(())
    }

    /// Deviation 11: in a hook that gives a unit a new period (its deadline changed), a
    /// recorded overrun is charged by rtsched: its `cur_budget` must be rt.c's less
    /// min(overrun, budget) when the new deadline is one period after the old one (else
    /// equal); rt.c's is then set to it.
    fn resync_overrun(&mut self, hook: Hook, pre: &Snapshot) -> Step {
        for u in 0..self.ids.len() {
            let o = self.overrun[u];
            if o == 0 {
                continue;
            }
            let x = self.x.states(self.ids.len())[u];
            if x.cur_deadline == pre.xs[u].cur_deadline {
                continue;
            }
            let r = self.r.unit_info(self.ids[u]).expect("unit_info");
            let consecutive = x.cur_deadline - pre.xs[u].cur_deadline <= x.period;
            let charge = if consecutive { o.min(x.budget) } else { 0 };
            self.overrun[u] = if consecutive { o - charge } else { 0 };
            if charge == 0 || r.cur_budget == x.cur_budget {
                continue;
            }
            if r.cur_budget != x.cur_budget - charge || x.cur_budget != x.budget {
                return Err(Stop::Mismatch(
                    hook,
                    format!(
                        "unit {u}: new period after an overrun of {o} ns: rtsched cur_budget {}, \
                         rt.c {} (deviation 11 predicts rt.c's - {charge})",
                        r.cur_budget, x.cur_budget
                    ),
                ));
            }
            self.x.set_cur_budget(u, r.cur_budget);
            self.tolerate(Deviation::OverrunCharged);
        }
        Ok(())
    }

    fn count_level_resets(&mut self, pre: &Snapshot) {
        let xs = self.x.states(self.ids.len());
        for (u, x) in xs.iter().enumerate() {
            let p = &pre.xs[u];
            if p.priority_level > 0 && x.cur_deadline != p.cur_deadline {
                self.level_resets += 1;
            }
        }
    }

    /// Every unit's state, exactly; a difference is a mismatch unless it is exactly what
    /// deviation 1 or 6 predicts (avoided by the generator: the comparison ends there).
    fn compare_states(&mut self, hook: Hook) -> Step {
        let xs = self.x.states(self.ids.len());
        let mut diffs = Vec::new();
        for (u, x) in xs.iter().enumerate() {
            let r: UnitInfo = self.r.unit_info(self.ids[u]).expect("unit_info");
            let rv = state_of_rtsched(&r);
            let xv = state_of_xen(x);
            if rv != xv {
                diffs.push((u, rv, xv));
            }
        }
        let Some(&(u, rv, xv)) = diffs.first() else {
            return Ok(());
        };
        let what = format!("unit {u}: {}", describe(&rv, &xv));
        if diffs.len() == 1 {
            if let Some(d) = state_deviation(&rv, &xv) {
                return Err(Stop::Explained(d, format!("{hook:?}: {what}")));
            }
        }
        Err(Stop::Mismatch(hook, what))
    }

    /// The priority (level, deadline) of unit `u` in rt.c's current state (equal to
    /// rtsched's once the states have been compared).
    fn prio(&self, xs: &[XenUnitState], u: usize) -> (u32, i64) {
        (xs[u].priority_level, xs[u].cur_deadline)
    }

    /// Whether CPU `c` is idle or runs a unit of lower priority than `prio`.
    fn below(&self, st: &HostState, xs: &[XenUnitState], c: usize, prio: (u32, i64)) -> bool {
        match st.curr(c) {
            None => true,
            Some(v) => self.prio(xs, v) > prio,
        }
    }

    fn allowed(&self, u: usize, c: usize) -> bool {
        bits(self.r.affinity(self.ids[u]).expect("affinity")) >> c & 1 == 1
    }

    /// Whether a queued unit allowed on CPU `c` outranks what `c` runs (or `c` is idle):
    /// the condition of every tickle, in both schedulers.
    fn useful(&self, st: &HostState, xs: &[XenUnitState], c: usize) -> bool {
        (0..xs.len()).any(|q| {
            xs[q].queue == 1 && self.allowed(q, c) && self.below(st, xs, c, self.prio(xs, q))
        })
    }

    /// Whether CPU `c`'s unit has the same priority as a queued unit allowed on `c`.
    fn tie_on(&self, st: &HostState, xs: &[XenUnitState], c: usize) -> bool {
        let Some(v) = st.curr(c) else { return false };
        (0..xs.len()).any(|q| {
            q != v && xs[q].queue == 1 && self.allowed(q, c) && self.prio(xs, q) == self.prio(xs, v)
        })
    }

    /// Reschedule requests, CPU by CPU: each CPU only one of the two asked needs a rule of
    /// [`Deviation`] that justifies it.
    fn compare_reschedule(
        &mut self,
        st: &HostState,
        hook: Hook,
        unit: Option<usize>,
        pre: &Snapshot,
        r: u64,
        x: u64,
    ) -> Step {
        let (only_r, only_x) = (r & !x, x & !r);
        if only_r | only_x == 0 {
            return Ok(());
        }
        let xs = self.x.states(self.ids.len());
        let mut pending_in_rtc = 0;
        for c in cpus(only_r) {
            let untickled = pre.tr >> c & 1 == 0;
            let d = if pre.tx >> c & 1 == 1 && untickled && self.useful(st, &xs, c) {
                pending_in_rtc += 1;
                Some(Deviation::PendingInRtC)
            } else if hook == Hook::SetParams && unit.is_some_and(|u| st.curr(c) == Some(u)) {
                Some(Deviation::ParamsReschedulesRunning)
            } else if untickled && self.useful(st, &xs, c) {
                match hook {
                    Hook::DoSchedule => Some(Deviation::ExtraTickleSchedule),
                    Hook::Timer => Some(Deviation::ExtraTickleReplenish),
                    Hook::SetParams => Some(Deviation::ExtraTickleParams),
                    _ => None,
                }
            } else {
                None
            };
            match d {
                Some(d) => self.tolerate(d),
                None => return Err(self.unexplained_request(st, hook, pre, &xs, c, r, x)),
            }
        }
        for c in cpus(only_x) {
            let untickled = pre.tx >> c & 1 == 0;
            let depleted = matches!(hook, Hook::Wake | Hook::ContextSaved)
                && only_x.count_ones() == 1
                && unit.is_some_and(|u| {
                    xs[u].queue == 2
                        && self.allowed(u, c)
                        && self.below(st, &xs, c, self.prio(&xs, u))
                });
            let d = if untickled && depleted {
                Some(Deviation::DepletedNoTickle)
            } else if untickled && pending_in_rtc > 0 && self.useful(st, &xs, c) {
                pending_in_rtc -= 1;
                Some(Deviation::RtCTickledAnother)
            } else {
                None
            };
            match d {
                Some(d) => self.tolerate(d),
                None => return Err(self.unexplained_request(st, hook, pre, &xs, c, r, x)),
            }
        }
        Ok(())
    }

    /// Different picks on CPU `c`: deviation 7 if the two picks have the same priority
    /// (rt.c's state after the hook), else a mismatch.
    fn pick_difference(&self, rn: Option<usize>, xn: Option<usize>, what: String) -> Stop {
        if let (Some(a), Some(b)) = (rn, xn) {
            let xs = self.x.states(self.ids.len());
            if a != b && self.prio(&xs, a) == self.prio(&xs, b) {
                return Stop::Explained(Deviation::PriorityTie, format!("DoSchedule: {what}"));
            }
        }
        Stop::Mismatch(Hook::DoSchedule, what)
    }

    /// Deviation 11: the unit CPU `c` ran (`prev`) without extratime used more than its
    /// budget (the state before `do_schedule`): the overrun, at most one budget, is
    /// recorded for its next replenishment.
    fn record_overrun(&mut self, now: i64, prev: Option<usize>, pre: &Snapshot) {
        let Some(u) = prev else { return };
        let p = &pre.xs[u];
        let left = p.cur_budget - (now - p.last_start);
        if p.flags & EXTRATIME == 0 && left < 0 && now >= p.last_start {
            self.overrun[u] += -left;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn unexplained_request(
        &self,
        st: &HostState,
        hook: Hook,
        pre: &Snapshot,
        xs: &[XenUnitState],
        c: usize,
        r: u64,
        x: u64,
    ) -> Stop {
        let queued: Vec<String> = (0..xs.len())
            .filter(|&q| xs[q].queue == 1)
            .map(|q| {
                let a = bits(self.r.affinity(self.ids[q]).expect("affinity"));
                format!("{q}{:?}/{a:#x}", self.prio(xs, q))
            })
            .collect();
        let running: Vec<String> = (0..self.ncpus)
            .map(|c| match st.curr(c) {
                Some(u) => format!("{u}{:?}", self.prio(xs, u)),
                None => "-".into(),
            })
            .collect();
        let what = format!(
            "reschedule of CPU {c}: rtsched {:?}, rt.c {:?} (CPUs run {running:?}, \
             queued {queued:?})",
            cpus(r),
            cpus(x)
        );
        if self.tie_on(st, xs, c) || (hook == Hook::Timer && replenished_tie(&pre.xs, xs)) {
            Stop::Explained(Deviation::PriorityTie, format!("{hook:?}: {what}"))
        } else {
            Stop::Mismatch(hook, what)
        }
    }
}

/// Deviation 7 at replenishment: two units the timer replenished had the same priority
/// (level and deadline) before it, so the order in which they are handled (and the CPUs
/// tickled for them) is rt.c's list order or rtsched's FIFO order.
fn replenished_tie(pre: &[XenUnitState], post: &[XenUnitState]) -> bool {
    let renewed: Vec<(u32, i64)> = (0..pre.len())
        .filter(|&u| post[u].cur_deadline != pre[u].cur_deadline)
        .map(|u| (pre[u].priority_level, pre[u].cur_deadline))
        .collect();
    renewed
        .iter()
        .enumerate()
        .any(|(i, a)| renewed[i + 1..].contains(a))
}

/// The compared fields of one unit: period, budget, cur_budget, deadline, last_start,
/// level, flags, queue, on_replq, cpu.
type State = (i64, i64, i64, i64, i64, u32, u32, u32, u32, u32);

const FIELDS: [&str; 10] = [
    "period",
    "budget",
    "cur_budget",
    "deadline",
    "last_start",
    "level",
    "flags",
    "queue",
    "on_replq",
    "cpu",
];

fn state_of_rtsched(r: &UnitInfo) -> State {
    (
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
    )
}

fn state_of_xen(x: &XenUnitState) -> State {
    (
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
    )
}

fn fields(s: &State) -> [i64; 10] {
    [
        s.0,
        s.1,
        s.2,
        s.3,
        s.4,
        i64::from(s.5),
        i64::from(s.6),
        i64::from(s.7),
        i64::from(s.8),
        i64::from(s.9),
    ]
}

/// The differing fields, "name rtsched/rt.c".
fn describe(r: &State, x: &State) -> String {
    let (a, b) = (fields(r), fields(x));
    FIELDS
        .iter()
        .enumerate()
        .filter(|(i, _)| a[*i] != b[*i])
        .map(|(i, n)| format!("{n} rtsched {} rt.c {}", a[i], b[i]))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The deviation that predicts exactly this one-unit difference (1 or 6), if any.
fn state_deviation(r: &State, x: &State) -> Option<Deviation> {
    let (a, b) = (fields(r), fields(x));
    let differ: Vec<usize> = (0..10).filter(|&i| a[i] != b[i]).collect();
    // 1: rt.c queued a unit with extratime and no budget; rtsched refilled it a level down.
    if differ.iter().all(|&i| i == 2 || i == 5)
        && x.6 & EXTRATIME != 0
        && x.7 == 1
        && x.2 <= 0
        && r.2 == r.1
        && r.5 == x.5 + 1
    {
        return Some(Deviation::ZeroBudgetExtratime);
    }
    // 6: rtsched clamped the current budget to a lowered budget.
    if differ == [2] && r.2 == r.1 && x.2 > x.1 {
        return Some(Deviation::BudgetClamp);
    }
    None
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
