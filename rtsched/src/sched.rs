//! The scheduler instance and its hooks: Xen 4.17's RTDS (`xen/common/sched/rt.c`) in its
//! global mode, as a state machine.
//!
//! # Hook protocol
//!
//! Every hook is called with the instance's lock held (see the crate docs for the contract)
//! and returns the host's side effects as values ([`Actions`], [`Decision`]). The protocol
//! around a context switch is rt.c's:
//!
//! 1. `do_schedule(cpu)` burns the current unit's budget, picks the next unit, removes it
//!    from the run queue and marks it `SCHEDULED`. A runnable current unit that loses the
//!    CPU is marked `DELAYED_RUNQ_ADD`, not queued: its context is still live.
//! 2. The host drops the lock and switches context.
//! 3. `context_saved(prev)` clears `SCHEDULED` and, if `DELAYED_RUNQ_ADD` was set and the
//!    unit is still runnable, queues it and tickles; otherwise it drops the unit's pending
//!    replenishment.
//!
//! `wake` on a unit that is still `SCHEDULED` only sets `DELAYED_RUNQ_ADD`; `sleep` on such a
//! unit clears it. Hence a unit is never on a queue while it runs or is being switched out
//! (the race of the RT-Xen dissertation, section 3.2.2).
//!
//! # Deliberate differences from rt.c (4.17)
//!
//! See `ARCHITECTURE.md` for the list with reasons; in short: upstream fixes after 4.17 are
//! included (saturating `priority_level`, no zero-budget unit on the run queue, look past a
//! non-runnable run-queue head, drop it from both queues); the replenishment queue is ordered
//! by deadline only; `pick_cpu` prefers an idle allowed CPU; `insert` of a runnable unit
//! tickles; lowering a budget clamps the current budget to it.

use core::cmp::Ordering;

use crate::actions::{Actions, Decision, TimerOp};
use crate::admission::{Test, Verdict};
use crate::cpumask::{CpuMask, MAX_CPUS};
use crate::error::{Error, Result};
use crate::params::{next_deadline, Params};
use crate::policy::{Policy, PriorityScheme, ServerKind, Topology};
use crate::queues::{prio_cmp, prio_key, DepletedList, Heap, HeapKind, PrioKey};
use crate::stats::Stats;
use crate::unit::{QueueKind, Unit, UnitFlags, UnitId, UnitInfo, NIL};

/// Per-PCPU state of an instance.
#[derive(Clone, Copy, Debug)]
pub struct Pcpu {
    /// The unit running on this CPU (Xen's `curr_on_cpu`), [`NIL`] for idle.
    pub(crate) curr: u32,
    /// Periodic server only: the blocked unit whose budget this idle CPU is consuming
    /// ([`NIL`] for none). It is off the queues until the CPU next runs `do_schedule`.
    pub(crate) phantom: u32,
    /// The unit the last tickle of this CPU was for ([`NIL`] for none): if this CPU picks
    /// another one, that unit is tickled again so that it finds a CPU elsewhere.
    pub(crate) tickled_for: u32,
    /// The priority key of `curr` (else of `phantom`), kept up to date whenever that unit's
    /// key changes, so that tickling compares CPUs without reading their units.
    pub(crate) key: PrioKey,
}

impl Pcpu {
    /// An idle CPU.
    pub const IDLE: Pcpu = Pcpu {
        curr: NIL,
        phantom: NIL,
        tickled_for: NIL,
        key: PrioKey::ZERO,
    };
}

impl Default for Pcpu {
    fn default() -> Self {
        Pcpu::IDLE
    }
}

/// Caller-provided storage for one instance. Every slice's length must be at least the
/// capacity it stands for: `units.len()` units, `runq.len() >= units.len()`,
/// `replq.len() >= units.len()`, and `cpus.len()` CPUs (at most [`MAX_CPUS`]).
#[derive(Debug)]
pub struct Storage<'a> {
    /// Unit slots.
    pub units: &'a mut [Unit],
    /// Run-queue heap slots.
    pub runq: &'a mut [u32],
    /// Replenishment-queue heap slots.
    pub replq: &'a mut [u32],
    /// Per-CPU state.
    pub cpus: &'a mut [Pcpu],
}

/// One scheduler instance (one Xen cpupool running RTDS).
#[derive(Debug)]
pub struct Scheduler<'a> {
    units: &'a mut [Unit],
    cpus: &'a mut [Pcpu],
    runq: Heap<'a>,
    replq: Heap<'a>,
    depleted: DepletedList,
    online: CpuMask,
    tickled: CpuMask,
    /// CPUs with a `curr` or a `phantom` (online or not): the idle CPUs are `online` less
    /// these. Kept by [`Self::set_cpu`].
    busy: CpuMask,
    /// CPUs whose `tickled_for` is set. Kept by [`Self::set_tickled_for`].
    retickle: CpuMask,
    /// An upper bound of the priority keys of the online, busy, untickled CPUs, "the set"
    /// (exact after a tickle's scan, raised whenever a CPU's key may have risen): a unit whose
    /// key is not below it cannot preempt any of them, and its tickle needs no scan.
    bound: PrioKey,
    /// The CPU the last scan found holding `bound` ([`NIL`] for none), and an upper bound of
    /// the keys of the set without it: when that CPU leaves the set (typically: it is tickled
    /// to preempt its unit), `bound2` becomes the bound without a new scan.
    bound_cpu: u32,
    bound2: PrioKey,
    seq: u64,
    policy: Policy,
    timer: Option<i64>,
    nr_units: u32,
    stats: Stats,
    #[cfg(feature = "mutants")]
    mutant: crate::mutants::Mutant,
}

/// Whether the deliberately broken variant `$m` is selected; always false without the
/// `mutants` feature (see [`crate::mutants`]).
macro_rules! mutant {
    ($s:expr, $m:ident) => {{
        #[cfg(feature = "mutants")]
        let r = $s.mutant == crate::mutants::Mutant::$m;
        #[cfg(not(feature = "mutants"))]
        let r = false;
        r
    }};
}

fn get(units: &[Unit], h: u32) -> Result<&Unit> {
    units.get(h as usize).ok_or(Error::Corrupt)
}

fn get_mut(units: &mut [Unit], h: u32) -> Result<&mut Unit> {
    units.get_mut(h as usize).ok_or(Error::Corrupt)
}

impl<'a> Scheduler<'a> {
    /// Creates an instance over `storage` with no CPUs online and no units.
    ///
    /// Under [`Topology::Partition`] an instance is one PCPU's scheduler: it accepts a single
    /// online CPU, and units move between PCPUs only by explicit migration between instances
    /// (see [`crate::partition`]).
    pub fn new(storage: Storage<'a>, policy: Policy) -> Result<Self> {
        let Storage {
            units,
            runq,
            replq,
            cpus,
        } = storage;
        if units.len() >= NIL as usize
            || runq.len() < units.len()
            || replq.len() < units.len()
            || cpus.is_empty()
            || cpus.len() > MAX_CPUS
        {
            return Err(Error::BadStorage);
        }
        for u in units.iter_mut() {
            *u = Unit::EMPTY;
        }
        for c in cpus.iter_mut() {
            *c = Pcpu::IDLE;
        }
        Ok(Scheduler {
            units,
            cpus,
            runq: Heap::new(runq, HeapKind::Run),
            replq: Heap::new(replq, HeapKind::Repl),
            depleted: DepletedList::new(),
            online: CpuMask::EMPTY,
            tickled: CpuMask::EMPTY,
            busy: CpuMask::EMPTY,
            retickle: CpuMask::EMPTY,
            bound: PrioKey::ZERO,
            bound_cpu: NIL,
            bound2: PrioKey::ZERO,
            seq: 0,
            policy,
            timer: None,
            nr_units: 0,
            stats: Stats::default(),
            #[cfg(feature = "mutants")]
            mutant: crate::mutants::Mutant::None,
        })
    }

    // ----------------------------------------------------------------------------------
    // Accessors
    // ----------------------------------------------------------------------------------

    /// Selects a deliberately broken protocol variant (loom mutation tests only).
    #[cfg(feature = "mutants")]
    pub fn set_mutant(&mut self, m: crate::mutants::Mutant) {
        self.mutant = m;
    }

    /// The policy in force.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The number of unit slots.
    pub fn capacity(&self) -> usize {
        self.units.len()
    }

    /// The number of CPU slots.
    pub fn nr_cpus(&self) -> usize {
        self.cpus.len()
    }

    /// The CPUs currently managed by this instance.
    pub fn online(&self) -> CpuMask {
        self.online
    }

    /// CPUs asked to reschedule that have not run `do_schedule` since (Xen's `prv->tickled`).
    pub fn tickled(&self) -> CpuMask {
        self.tickled
    }

    /// The expiry the host's replenishment timer is programmed with, if any.
    pub fn timer(&self) -> Option<i64> {
        self.timer
    }

    /// Event counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The number of allocated units.
    pub fn nr_units(&self) -> u32 {
        self.nr_units
    }

    /// The unit running on `cpu` (`None` for idle or an unknown CPU).
    pub fn curr(&self, cpu: usize) -> Option<UnitId> {
        match self.cpus.get(cpu) {
            Some(p) if p.curr != NIL => Some(UnitId(p.curr)),
            _ => None,
        }
    }

    fn unit(&self, h: UnitId) -> Result<&Unit> {
        match self.units.get(h.0 as usize) {
            Some(u) if u.in_use => Ok(u),
            _ => Err(Error::NoSuchUnit),
        }
    }

    fn inserted_unit(&self, h: UnitId) -> Result<&Unit> {
        let u = self.unit(h)?;
        if u.inserted {
            Ok(u)
        } else {
            Err(Error::Busy)
        }
    }

    fn check_cpu(&self, cpu: usize) -> Result<()> {
        if cpu < self.cpus.len() && self.online.test(cpu) {
            Ok(())
        } else {
            Err(Error::NoSuchCpu)
        }
    }

    /// A snapshot of one unit.
    pub fn unit_info(&self, h: UnitId) -> Result<UnitInfo> {
        let u = self.unit(h)?;
        Ok(UnitInfo {
            domain: u.domain,
            vcpu: u.vcpu,
            period: u.period,
            budget: u.budget,
            cur_budget: u.cur_budget,
            cur_deadline: u.cur_deadline,
            last_start: u.last_start,
            priority_level: u.priority_level,
            flags: u.flags.bits(),
            cpu: u.cpu,
            queue: u.queue as u32,
            on_replq: u.on_replq() as u32,
            runnable: u.runnable as u32,
            inserted: u.inserted as u32,
            running: (self.curr(u.cpu as usize) == Some(h)) as u32,
        })
    }

    /// The hard affinity of a unit.
    pub fn affinity(&self, h: UnitId) -> Result<CpuMask> {
        Ok(self.unit(h)?.affinity)
    }

    /// The parameters of a unit (Xen's `getvcpuinfo`).
    pub fn params(&self, h: UnitId) -> Result<Params> {
        Ok(self.unit(h)?.params())
    }

    /// Lengths of the run, depleted and replenishment queues.
    pub fn queue_lens(&self) -> (usize, usize, usize) {
        (self.runq.len(), self.depleted.len, self.replq.len())
    }

    /// The `i`-th unit of the run queue in heap order (for dumps).
    pub fn runq_at(&self, i: usize) -> Option<UnitId> {
        self.runq.at(i).map(UnitId)
    }

    /// The `i`-th unit of the replenishment queue in heap order (for dumps).
    pub fn replq_at(&self, i: usize) -> Option<UnitId> {
        self.replq.at(i).map(UnitId)
    }

    /// The head of the run queue: what a CPU that allows it would pick next.
    pub fn runq_head(&self) -> Option<UnitId> {
        self.runq.peek().map(UnitId)
    }

    /// Periodic server: the blocked unit whose budget the idle `cpu` is consuming.
    pub fn phantom(&self, cpu: usize) -> Option<UnitId> {
        match self.cpus.get(cpu) {
            Some(p) if p.phantom != NIL => Some(UnitId(p.phantom)),
            _ => None,
        }
    }

    /// Whether `a` has strictly higher priority than `b` under the scheme in force.
    pub fn outranks(&self, a: UnitId, b: UnitId) -> Result<bool> {
        Ok(prio_cmp(self.unit(a)?, self.unit(b)?, self.policy.priority) == Ordering::Less)
    }

    /// Iterates over allocated units.
    pub fn units(&self) -> impl Iterator<Item = UnitId> + '_ {
        self.units
            .iter()
            .enumerate()
            .filter(|(_, u)| u.in_use)
            .map(|(i, _)| UnitId(i as u32))
    }

    // ----------------------------------------------------------------------------------
    // CPUs
    // ----------------------------------------------------------------------------------

    /// A CPU joins the instance (Xen's `switch_sched`): it starts idle.
    pub fn cpu_add(&mut self, cpu: usize) -> Result<()> {
        if cpu >= self.cpus.len() {
            return Err(Error::NoSuchCpu);
        }
        if self.online.test(cpu)
            || (self.policy.topology == Topology::Partition && !self.online.is_empty())
        {
            return Err(Error::Busy);
        }
        self.set_cpu(cpu, NIL, NIL)?;
        self.set_tickled_for(cpu, NIL);
        self.online.set(cpu);
        // (Idle: not counted for the bound.)
        self.tickled.clear(cpu);
        Ok(())
    }

    /// A CPU leaves the instance (Xen's `deinit_pdata`). It must be idle.
    pub fn cpu_remove(&mut self, cpu: usize) -> Result<()> {
        self.check_cpu(cpu)?;
        if self.curr(cpu).is_some() {
            return Err(Error::Busy);
        }
        self.online.clear(cpu);
        self.tickled.clear(cpu);
        self.bound_leaves(cpu);
        Ok(())
    }

    // ----------------------------------------------------------------------------------
    // Unit lifetime and parameters
    // ----------------------------------------------------------------------------------

    /// Allocates a unit with Xen's defaults (10 ms period, 4 ms budget, extratime) and the
    /// given hard affinity (Xen's `alloc_udata`). The unit is not inserted yet.
    pub fn unit_alloc(&mut self, domain: u32, vcpu: u32, affinity: CpuMask) -> Result<UnitId> {
        let i = self
            .units
            .iter()
            .position(|u| !u.in_use)
            .ok_or(Error::NoSpace)?;
        let u = self.units.get_mut(i).ok_or(Error::NoSpace)?;
        *u = Unit {
            in_use: true,
            domain,
            vcpu,
            affinity,
            cpu: affinity.and(&self.online).first().unwrap_or(0) as u32,
            ..Unit::EMPTY
        };
        self.nr_units += 1;
        Ok(UnitId(i as u32))
    }

    /// Frees a unit (Xen's `free_udata`). It must be removed and not running.
    pub fn unit_free(&mut self, h: UnitId) -> Result<()> {
        let u = self.unit(h)?;
        if u.inserted || u.flags.contains(UnitFlags::SCHEDULED) || self.is_curr(h) {
            return Err(Error::Busy);
        }
        *get_mut(self.units, h.0)? = Unit::EMPTY;
        self.nr_units -= 1;
        Ok(())
    }

    /// Whether `h` runs on a CPU or a CPU idles on its budget. O(1).
    fn is_curr(&self, h: UnitId) -> bool {
        self.units
            .get(h.0 as usize)
            .is_some_and(|u| u.on_cpu != NIL)
    }

    fn periodic(&self) -> bool {
        self.policy.server == ServerKind::Periodic
    }

    /// The CPU whose idle time is being charged to `h` (periodic server), if any. O(1).
    fn phantom_cpu(&self, h: u32) -> Option<usize> {
        let c = self.units.get(h as usize)?.on_cpu as usize;
        match self.cpus.get(c) {
            Some(p) if p.phantom == h => Some(c),
            _ => None,
        }
    }

    /// Sets what `cpu` runs (`curr`) or idles on (`phantom`): every assignment of either
    /// goes through here, which keeps each unit's `on_cpu`, the `busy` mask and the CPU's
    /// priority key up to date.
    fn set_cpu(&mut self, cpu: usize, curr: u32, phantom: u32) -> Result<()> {
        let p = self.cpus.get_mut(cpu).ok_or(Error::Corrupt)?;
        let old = [p.curr, p.phantom];
        p.curr = curr;
        p.phantom = phantom;
        for o in old {
            if o != NIL && o != curr && o != phantom {
                if let Some(u) = self.units.get_mut(o as usize) {
                    if u.on_cpu == cpu as u32 {
                        u.on_cpu = NIL;
                    }
                }
            }
        }
        let shown = if curr != NIL { curr } else { phantom };
        if phantom != NIL {
            get_mut(self.units, phantom)?.on_cpu = cpu as u32;
        }
        if curr != NIL {
            get_mut(self.units, curr)?.on_cpu = cpu as u32;
        }
        if shown == NIL {
            self.busy.clear(cpu);
            self.bound_leaves(cpu);
        } else {
            self.busy.set(cpu);
            let k = prio_key(get(self.units, shown)?, self.policy.priority);
            if let Some(p) = self.cpus.get_mut(cpu) {
                p.key = k;
            }
            self.raise_bound(cpu, k);
        }
        Ok(())
    }

    /// After `h`'s priority key changed (level, deadline, period, extratime flag): refreshes
    /// the key of the CPU it runs or idles on, if any. O(1).
    fn refresh_key(&mut self, h: u32) {
        let s = self.policy.priority;
        let Some(u) = self.units.get(h as usize) else {
            return;
        };
        if let Some(p) = self.cpus.get_mut(u.on_cpu as usize) {
            let shown = if p.curr != NIL { p.curr } else { p.phantom };
            if shown == h {
                let k = prio_key(u, s);
                p.key = k;
                self.raise_bound(u.on_cpu as usize, k);
            }
        }
    }

    /// `cpu`'s key may have risen to `k` (or it may have joined the set): keeps `bound` and
    /// `bound2` upper bounds.
    fn raise_bound(&mut self, cpu: usize, k: PrioKey) {
        self.bound = self.bound.max(k);
        if self.bound_cpu != cpu as u32 {
            self.bound2 = self.bound2.max(k);
        }
    }

    /// `cpu` leaves the set of online, busy, untickled CPUs: if it held the bound, the bound
    /// of the others takes over.
    fn bound_leaves(&mut self, cpu: usize) {
        if self.bound_cpu == cpu as u32 {
            self.bound = self.bound2;
            self.bound_cpu = NIL;
        }
    }

    /// Sets the unit `cpu`'s last tickle was for, keeping the `retickle` mask.
    fn set_tickled_for(&mut self, cpu: usize, h: u32) {
        if let Some(p) = self.cpus.get_mut(cpu) {
            p.tickled_for = h;
            if h == NIL {
                self.retickle.clear(cpu);
            } else {
                self.retickle.set(cpu);
            }
        }
    }

    /// Sets a unit's parameters (Xen's `putvcpuinfo`), validated as Xen does. Invalid
    /// parameters return [`Error::InvalidParams`] and change nothing.
    ///
    /// As in rt.c the new values take effect at the next replenishment; the current budget
    /// is clamped to the new budget so that it never exceeds it.
    pub fn set_params(&mut self, h: UnitId, p: Params) -> Result<Actions> {
        self.unit(h)?;
        if !p.is_valid() {
            return Err(Error::InvalidParams);
        }
        if !self.admits(Change::Unit(h.0, p)) {
            return Err(Error::NotAdmitted);
        }
        let u = get_mut(self.units, h.0)?;
        u.period = p.period;
        u.budget = p.budget;
        u.cur_budget = u.cur_budget.min(p.budget);
        u.flags.set(UnitFlags::EXTRATIME, p.extratime);
        self.refresh_key(h.0);
        let mut a = Actions::default();
        self.requeue_changed(h.0, &mut a)?;
        Ok(a)
    }

    /// After a parameter change: the period (DM) and the extratime flag (ties) are part of the
    /// run-queue key, so a queued unit is re-sorted, and told about if it may now preempt.
    /// A running unit (or a CPU idling on its budget) has its CPU reschedule, since it may
    /// now rank below a queued unit.
    fn requeue_changed(&mut self, h: u32, a: &mut Actions) -> Result<()> {
        if get(self.units, h)?.queue == QueueKind::Run {
            self.runq_resort(h)?;
            self.tickle(h, a)?;
        }
        let cpu = get(self.units, h)?.cpu as usize;
        if self.curr(cpu) == Some(UnitId(h)) {
            a.reschedule.set(cpu);
        }
        if let Some(c) = self.phantom_cpu(h) {
            a.reschedule.set(c);
        }
        Ok(())
    }

    /// The admission verdict for the reservations of the inserted units under the policy in
    /// force (see [`crate::admission`]), whether or not admission control is enabled.
    pub fn admission(&self) -> Verdict {
        self.test_with(Change::None).verdict()
    }

    fn test_with(&self, ch: Change) -> Test {
        let scheme = match ch {
            Change::Scheme(s) => s,
            _ => self.policy.priority,
        };
        let mut t = Test::new(self.policy.topology, scheme, self.online.count());
        for (i, u) in self.units.iter().enumerate() {
            let i = i as u32;
            if !u.in_use || !(u.inserted || ch == Change::Insert(i)) {
                continue;
            }
            let p = match ch {
                Change::Unit(h, p) if h == i => p,
                Change::Domain(d, period, budget) if d == u.domain => Params {
                    period,
                    budget,
                    extratime: u.has_extratime(),
                },
                _ => u.params(),
            };
            t.add(&p);
        }
        t
    }

    /// Whether `ch` keeps the reservations schedulable (always, when admission control is
    /// off).
    fn admits(&self, ch: Change) -> bool {
        !self.policy.admission || self.test_with(ch).verdict().schedulable
    }

    /// Sets the parameters of every unit of `domain` (Xen's domain-wide `putinfo`).
    ///
    /// Stricter than rt.c, which only rejects zeros here and so let a domain-wide call set
    /// a budget above the period (fixed upstream in eec1a570c0): the parameters are
    /// validated like per-unit ones, and an invalid set changes no unit. Returns how many
    /// units were updated, and the actions.
    /// The extratime flags are left as they are (Xen's `putinfo` carries none).
    pub fn set_domain_params(
        &mut self,
        domain: u32,
        period: i64,
        budget: i64,
    ) -> Result<(u32, Actions)> {
        let p = Params {
            period,
            budget,
            extratime: false,
        };
        if !p.is_valid() {
            return Err(Error::InvalidParams);
        }
        if !self.admits(Change::Domain(domain, period, budget)) {
            return Err(Error::NotAdmitted);
        }
        let mut n = 0;
        for u in self
            .units
            .iter_mut()
            .filter(|u| u.in_use && u.domain == domain)
        {
            u.period = p.period;
            u.budget = p.budget;
            u.cur_budget = u.cur_budget.min(p.budget);
            n += 1;
        }
        let mut a = Actions::default();
        for i in 0..self.units.len() as u32 {
            let u = get(self.units, i)?;
            if u.in_use && u.domain == domain {
                self.refresh_key(i);
                self.requeue_changed(i, &mut a)?;
            }
        }
        Ok((n, a))
    }

    /// The unit `do_schedule` would consider first on `cpu` (the first run-queue unit whose
    /// affinity allows `cpu`), without changing anything. A host that learns runnability
    /// lazily (Xen pauses domains without the scheduler lock) checks it and reports a
    /// non-runnable one with [`Self::set_unrunnable`] before calling `do_schedule`.
    pub fn runq_peek(&self, cpu: usize) -> Result<Option<UnitId>> {
        self.check_cpu(cpu)?;
        let h = self
            .runq
            .first_matching(self.units, self.policy.priority, |u| u.affinity.test(cpu))?;
        Ok(h.map(UnitId))
    }

    /// Sets a unit's hard affinity (Xen's `sched_set_affinity`). The host migrates the unit
    /// (see [`Self::migrate`]) if its CPU is no longer allowed.
    pub fn set_affinity(&mut self, h: UnitId, mask: CpuMask) -> Result<()> {
        self.unit(h)?;
        get_mut(self.units, h.0)?.affinity = mask;
        Ok(())
    }

    /// Switches the priority scheme at run time: re-orders the run queue and asks every
    /// online CPU to reschedule.
    pub fn set_priority_scheme(&mut self, s: PriorityScheme) -> Result<Actions> {
        let mut a = Actions::default();
        if s == self.policy.priority {
            return Ok(a);
        }
        if !self.admits(Change::Scheme(s)) {
            return Err(Error::NotAdmitted);
        }
        self.policy.priority = s;
        self.runq.rebuild(self.units, s)?;
        // (An upper bound need not be tight: the next tickle's scan makes it exact.)
        let mut bound = PrioKey::ZERO;
        for c in self.busy.iter() {
            let Some(p) = self.cpus.get(c) else { continue };
            let shown = if p.curr != NIL { p.curr } else { p.phantom };
            let k = prio_key(get(self.units, shown)?, s);
            if let Some(p) = self.cpus.get_mut(c) {
                p.key = k;
            }
            bound = bound.max(k);
        }
        self.bound = bound;
        self.bound2 = bound;
        self.bound_cpu = NIL;
        a.reschedule = self.online;
        self.tickled = self.online;
        Ok(a)
    }

    /// Switches the server mechanism at run time. Leaving the periodic server drops every
    /// blocked unit from the queues (as a deferrable server's `sleep` does) and reschedules
    /// the CPUs that idled on a blocked unit's budget; entering it takes effect for units as
    /// they next block.
    pub fn set_server(&mut self, k: ServerKind) -> Result<Actions> {
        let mut a = Actions::default();
        if k == self.policy.server {
            return Ok(a);
        }
        self.policy.server = k;
        if k == ServerKind::Deferrable {
            for c in 0..self.cpus.len() {
                let p = self.cpus.get(c).ok_or(Error::Corrupt)?;
                let (curr, ph) = (p.curr, p.phantom);
                if ph != NIL {
                    self.set_cpu(c, curr, NIL)?;
                    self.replq_remove(ph)?;
                    a.reschedule.set(c);
                }
            }
            for i in 0..self.units.len() {
                let u = get(self.units, i as u32)?;
                if u.in_use && !u.runnable && u.queue != QueueKind::None {
                    self.q_remove(i as u32)?;
                    self.replq_remove(i as u32)?;
                }
            }
        }
        self.sync_timer(&mut a);
        Ok(a)
    }

    /// Chooses the CPU a unit should be assigned to (Xen's `pick_resource`): its current CPU
    /// when allowed; otherwise an idle allowed CPU that is not already tickled, searching
    /// from its current CPU onwards; otherwise the next allowed CPU after the current one
    /// (rt.c only does the last step).
    pub fn pick_cpu(&self, h: UnitId) -> Result<usize> {
        let u = self.unit(h)?;
        let allowed = u.affinity.and(&self.online);
        let cur = u.cpu as usize;
        if allowed.test(cur) {
            return Ok(cur);
        }
        let idle = self.idle_cpus().and(&allowed).and_not(&self.tickled);
        idle.cycle(cur)
            .or_else(|| allowed.cycle(cur))
            .ok_or(Error::NoAllowedCpu)
    }

    /// Online CPUs that run nothing and idle on no blocked server's budget. O(1).
    fn idle_cpus(&self) -> CpuMask {
        self.online.and_not(&self.busy)
    }

    /// Assigns a unit to another CPU (Xen's `migrate` / `sched_set_res`).
    pub fn migrate(&mut self, h: UnitId, cpu: usize) -> Result<()> {
        self.unit(h)?;
        self.check_cpu(cpu)?;
        get_mut(self.units, h.0)?.cpu = cpu as u32;
        Ok(())
    }

    // ----------------------------------------------------------------------------------
    // Hooks
    // ----------------------------------------------------------------------------------

    /// Inserts a unit (Xen's `insert_unit`): assigns it a CPU with [`Self::pick_cpu`],
    /// starts a period if its deadline has passed, and if runnable puts it on the
    /// replenishment queue and, unless it is already running, on the run queue and tickles.
    /// Returns the chosen CPU and the actions.
    pub fn insert(
        &mut self,
        h: UnitId,
        now: i64,
        runnable: bool,
        is_running: bool,
    ) -> Result<(usize, Actions)> {
        if self.unit(h)?.inserted {
            return Err(Error::Busy);
        }
        if !self.admits(Change::Insert(h.0)) {
            return Err(Error::NotAdmitted);
        }
        let cpu = self.pick_cpu(h)?;
        let mut a = Actions::default();
        {
            let u = get_mut(self.units, h.0)?;
            u.cpu = cpu as u32;
            u.inserted = true;
            u.runnable = runnable;
            if now >= u.cur_deadline {
                update_deadline(u, now);
            }
        }
        self.refresh_key(h.0);
        self.stats.inserts += 1;
        if runnable && self.unit(h)?.queue == QueueKind::None && !self.unit(h)?.on_replq() {
            self.replq_insert(h.0)?;
            if !is_running {
                self.runq_insert(h.0)?;
                self.tickle(h.0, &mut a)?;
            }
        }
        self.sync_timer(&mut a);
        Ok((cpu, a))
    }

    /// Removes a unit (Xen's `remove_unit`): takes it off every queue.
    pub fn remove(&mut self, h: UnitId) -> Result<Actions> {
        self.inserted_unit(h)?;
        let mut a = Actions::default();
        if let Some(c) = self.phantom_cpu(h.0) {
            let curr = self.cpus.get(c).map_or(NIL, |p| p.curr);
            self.set_cpu(c, curr, NIL)?;
            a.reschedule.set(c);
        }
        self.q_remove(h.0)?;
        self.replq_remove(h.0)?;
        let u = get_mut(self.units, h.0)?;
        u.inserted = false;
        u.flags.remove(UnitFlags::DELAYED_RUNQ_ADD);
        self.stats.removes += 1;
        self.sync_timer(&mut a);
        Ok(a)
    }

    /// A unit stops being runnable (Xen's `sleep`): if it runs, its CPU must reschedule;
    /// if queued, it leaves the queues; if being switched out, it will not be re-queued.
    pub fn sleep(&mut self, h: UnitId) -> Result<Actions> {
        let u = self.inserted_unit(h)?;
        let mut a = Actions::default();
        let cpu = u.cpu as usize;
        let queued = u.queue != QueueKind::None;
        self.stats.sleeps += 1;
        get_mut(self.units, h.0)?.runnable = false;
        if self.curr(cpu) == Some(h) {
            a.reschedule.set(cpu);
        } else if self.periodic() {
            // A periodic server keeps its place (and its replenishments) while blocked:
            // its budget is consumed by idle time whenever it would be scheduled.
        } else if queued {
            self.q_remove(h.0)?;
            self.replq_remove(h.0)?;
        } else {
            get_mut(self.units, h.0)?
                .flags
                .remove(UnitFlags::DELAYED_RUNQ_ADD);
        }
        self.sync_timer(&mut a);
        Ok(a)
    }

    /// The host reports that a unit is not runnable without a `sleep` (Xen pauses domains
    /// without the scheduler lock; the shim reports it when it finds out). A queued unit
    /// leaves both queues, exactly as in [`Self::sleep`].
    pub fn set_unrunnable(&mut self, h: UnitId) -> Result<Actions> {
        self.sleep(h)
    }

    /// A unit becomes runnable (Xen's `wake`).
    pub fn wake(&mut self, h: UnitId, now: i64) -> Result<Actions> {
        let u = self.inserted_unit(h)?;
        let mut a = Actions::default();
        let cpu = u.cpu as usize;
        let queued = u.queue != QueueKind::None;
        self.stats.wakes += 1;
        let was_runnable = core::mem::replace(&mut get_mut(self.units, h.0)?.runnable, true);
        if self.curr(cpu) == Some(h) {
            return Ok(a);
        }
        if let Some(c) = self.phantom_cpu(h.0) {
            // A CPU idles on its budget: charge it up to now, queue it with work, and find
            // it a CPU (most likely that one, now idle).
            let curr = self.cpus.get(c).map_or(NIL, |p| p.curr);
            self.set_cpu(c, curr, NIL)?;
            self.burn_budget(h.0, now, true)?;
            self.runq_insert(h.0)?;
            self.tickle(h.0, &mut a)?;
            self.sync_timer(&mut a);
            return Ok(a);
        }
        if queued {
            if !was_runnable {
                // A blocked periodic server on the queue now has work.
                self.tickle(h.0, &mut a)?;
            }
            return Ok(a);
        }
        let (missed, scheduled) = {
            let u = get_mut(self.units, h.0)?;
            let missed = now >= u.cur_deadline;
            if missed {
                update_deadline(u, now);
            }
            (missed, u.flags.contains(UnitFlags::SCHEDULED))
        };
        if missed {
            self.refresh_key(h.0);
        }
        if scheduled && !mutant!(self, WakeIgnoresScheduled) {
            get_mut(self.units, h.0)?
                .flags
                .insert(UnitFlags::DELAYED_RUNQ_ADD);
            if missed && self.unit(h)?.on_replq() {
                self.replq_remove(h.0)?;
                self.replq_insert(h.0)?;
            }
            self.sync_timer(&mut a);
            return Ok(a);
        }
        if !self.unit(h)?.on_replq() {
            self.replq_insert(h.0)?;
        }
        self.runq_insert(h.0)?;
        self.tickle(h.0, &mut a)?;
        self.sync_timer(&mut a);
        Ok(a)
    }

    /// Picks the unit to run next on `cpu` at time `now` (Xen's `do_schedule`).
    ///
    /// `prev_runnable` is whether the current unit is still runnable; `tasklet` forces the
    /// idle unit (tasklet work pending).
    pub fn do_schedule(
        &mut self,
        cpu: usize,
        now: i64,
        prev_runnable: bool,
        tasklet: bool,
    ) -> Result<Decision> {
        self.check_cpu(cpu)?;
        let mut a = Actions::default();
        self.stats.schedules += 1;
        // No longer tickled; its key counts for the bound again once `set_cpu` below gives it
        // the key of what it runs next (nothing in between tickles).
        self.tickled.clear(cpu);
        let (curr, phantom) = {
            let p = self.cpus.get(cpu).ok_or(Error::NoSuchCpu)?;
            (p.curr, p.phantom)
        };
        if phantom != NIL {
            self.set_cpu(cpu, curr, NIL)?;
            // The idle time since the last pick is charged to the blocked periodic server.
            self.burn_budget(phantom, now, true)?;
            self.runq_insert(phantom)?;
        }
        if curr != NIL {
            get_mut(self.units, curr)?.runnable = prev_runnable;
            self.burn_budget(curr, now, false)?;
        }
        let mut next = NIL;
        if tasklet {
            self.stats.tasklet_idle += 1;
        } else {
            next = self.runq_pick(cpu)?;
            if curr != NIL {
                let c = get(self.units, curr)?;
                let keep = prev_runnable
                    && c.inserted
                    && c.cur_budget > 0
                    && (next == NIL
                        || prio_cmp(c, get(self.units, next)?, self.policy.priority)
                            == Ordering::Less);
                if keep {
                    next = curr;
                }
            }
        }
        if next != curr && curr != NIL && (prev_runnable || self.periodic()) {
            // Under a periodic server a blocked unit stays queued too (as a blocked server).
            get_mut(self.units, curr)?
                .flags
                .insert(UnitFlags::DELAYED_RUNQ_ADD);
        }
        if next != NIL && next != curr && !get(self.units, next)?.runnable {
            // Periodic server with no work: the CPU idles and the time is charged to it.
            self.q_remove(next)?;
            // Its assigned CPU (the host's view) does not change: it is not running.
            let u = get_mut(self.units, next)?;
            u.last_start = now;
            let slice = u.cur_budget;
            self.set_cpu(cpu, NIL, next)?;
            self.stats.phantom_picks += 1;
            if curr != NIL {
                self.stats.switches += 1;
            }
            self.push_queued(&mut a)?;
            self.sync_timer(&mut a);
            return Ok(Decision {
                next: None,
                slice,
                migrated: false,
                actions: a,
            });
        }
        let mut d = Decision {
            next: None,
            slice: -1,
            migrated: false,
            actions: a,
        };
        if next != NIL {
            if next != curr {
                self.q_remove(next)?;
                get_mut(self.units, next)?
                    .flags
                    .insert(UnitFlags::SCHEDULED);
            }
            let u = get_mut(self.units, next)?;
            u.last_start = now;
            if u.cpu as usize != cpu {
                u.cpu = cpu as u32;
                d.migrated = true;
                self.stats.migrations += 1;
            }
            d.slice = u.cur_budget;
            d.next = Some(UnitId(next));
        }
        if next != curr {
            self.stats.switches += 1;
        }
        self.set_cpu(cpu, next, NIL)?;
        self.push_queued(&mut a)?;
        self.sync_timer(&mut a);
        d.actions = a;
        Ok(d)
    }

    /// The context of `prev` has been saved after a switch (Xen's `context_saved`).
    /// `runnable` is whether it is still runnable.
    pub fn context_saved(&mut self, prev: UnitId, runnable: bool) -> Result<Actions> {
        self.unit(prev)?;
        let mut a = Actions::default();
        self.stats.context_saved += 1;
        let delayed = {
            let u = get_mut(self.units, prev.0)?;
            u.flags.remove(UnitFlags::SCHEDULED);
            u.runnable = runnable;
            let d = u.flags.contains(UnitFlags::DELAYED_RUNQ_ADD);
            u.flags.remove(UnitFlags::DELAYED_RUNQ_ADD);
            d
        };
        let inserted = self.unit(prev)?.inserted;
        let delayed = delayed && !mutant!(self, ContextSavedIgnoresDelayed);
        if delayed && (runnable || self.periodic()) && inserted && !self.is_curr(prev) {
            if !self.unit(prev)?.on_replq() {
                self.replq_insert(prev.0)?;
            }
            self.runq_insert(prev.0)?;
            self.tickle(prev.0, &mut a)?;
        } else if !self.is_curr(prev) {
            self.replq_remove(prev.0)?;
        }
        self.sync_timer(&mut a);
        Ok(a)
    }

    /// The replenishment timer fired at `now` (Xen's `repl_timer_handler`): every unit whose
    /// deadline has passed gets a new period and a full budget, the run queue is re-sorted,
    /// and CPUs are tickled as rt.c does. The returned timer operation programs the next
    /// expiry (or stops the timer when nothing is pending).
    pub fn timer_fire(&mut self, now: i64) -> Result<Actions> {
        let mut a = Actions::default();
        self.stats.timer_fires += 1;
        // The timer has fired: it is no longer programmed.
        self.timer = None;
        let mut tmp = NIL;
        while let Some(h) = self.replq.peek() {
            if now < get(self.units, h)?.cur_deadline {
                break;
            }
            self.replq.remove(self.units, h, self.policy.priority)?;
            {
                let u = get_mut(self.units, h)?;
                u.flags.set(UnitFlags::RAISED, u.priority_level > 0);
                update_deadline(u, now);
                u.tmp_next = tmp;
            }
            self.refresh_key(h);
            tmp = h;
            self.stats.replenishments += 1;
            if get(self.units, h)?.queue != QueueKind::None {
                self.runq_resort(h)?;
            } else if mutant!(self, TimerResortsScheduled)
                && get(self.units, h)?.runnable
                && !self.is_curr(UnitId(h))
            {
                // Broken on purpose: the unit may still be being switched out.
                let u = get_mut(self.units, h)?;
                u.flags.remove(UnitFlags::SCHEDULED);
                self.runq_insert(h)?;
            }
        }
        // rt.c builds its temporary list by head insertion: walk it in the same order.
        while tmp != NIL {
            let h = tmp;
            let (cpu, queued, raised) = {
                let u = get_mut(self.units, h)?;
                tmp = u.tmp_next;
                u.tmp_next = NIL;
                let raised = u.flags.contains(UnitFlags::RAISED);
                u.flags.remove(UnitFlags::RAISED);
                (u.cpu as usize, u.queue != QueueKind::None, raised)
            };
            let on_cpu = self.curr(cpu) == Some(UnitId(h)) || self.phantom_cpu(h).is_some();
            if on_cpu && !self.runq.is_empty() {
                if let Some(head) = self.runq.peek() {
                    let lower = prio_cmp(
                        get(self.units, h)?,
                        get(self.units, head)?,
                        self.policy.priority,
                    ) == Ordering::Greater;
                    if lower {
                        self.tickle(head, &mut a)?;
                    }
                }
                // rt.c compares with the head only; a unit further down the queue may
                // outrank the replenished one and be allowed on its CPU alone.
                let oc = self.phantom_cpu(h).unwrap_or(cpu);
                if !self.tickled.test(oc) {
                    let periodic = self.periodic();
                    let best = self
                        .runq
                        .first_matching(self.units, self.policy.priority, |u| {
                            u.affinity.test(oc)
                                && (u.runnable || (periodic && u.priority_level == 0))
                        })?;
                    if let Some(b) = best {
                        let s = self.policy.priority;
                        if prio_cmp(get(self.units, h)?, get(self.units, b)?, s)
                            == Ordering::Greater
                        {
                            self.do_tickle(oc, &mut a)?;
                        }
                    }
                }
            } else {
                let periodic = self.periodic();
                let u = get_mut(self.units, h)?;
                let was_depleted = u.flags.contains(UnitFlags::DEPLETED);
                if u.cur_budget > 0 {
                    // (A unit whose whole new budget went to last period's overrun stays
                    // depleted, and is tickled when it gets budget again.)
                    u.flags.remove(UnitFlags::DEPLETED);
                }
                // Also tickled (rt.c does not): a queued unit back from extratime to its
                // reserved level, which may now outrank a running unit, and, periodic
                // server, a blocked server whose new budget is consumed from now on.
                if queued && (was_depleted || raised || (periodic && !u.runnable)) {
                    self.tickle(h, &mut a)?;
                }
            }
            self.replq_insert(h)?;
        }
        self.sync_timer(&mut a);
        if self.timer.is_none() {
            a.timer = TimerOp::Stop;
        }
        Ok(a)
    }

    // ----------------------------------------------------------------------------------
    // Mechanisms
    // ----------------------------------------------------------------------------------

    /// Burns the budget a running unit used since `last_start`. With extratime an exhausted
    /// unit moves one priority level down (saturating) and gets a new budget; without, it
    /// is depleted. A clock going backwards charges nothing and is counted.
    fn burn_budget(&mut self, h: u32, now: i64, phantom: bool) -> Result<()> {
        let u = get_mut(self.units, h)?;
        let delta = now.saturating_sub(u.last_start);
        if delta < 0 {
            self.stats.clock_backwards += 1;
            u.last_start = now;
            return Ok(());
        }
        u.cur_budget = u.cur_budget.saturating_sub(delta);
        u.last_start = now;
        if u.cur_budget <= 0 {
            if u.has_extratime() && !phantom {
                u.priority_level = u.priority_level.saturating_add(1);
                u.cur_budget = u.budget;
            } else {
                // The scheduler ran late (timer slop): the overrun is charged to the next
                // period, so the long-run share stays the reservation (rt.c drops it).
                u.debt = u.cur_budget.saturating_neg().min(u.budget).max(0);
                u.cur_budget = 0;
                u.flags.insert(UnitFlags::DEPLETED);
            }
            self.refresh_key(h);
        }
        Ok(())
    }

    /// The first run-queue unit allowed on `cpu`. A non-runnable unit met on the way (a
    /// domain paused without the scheduler lock) is dropped from both queues and the search
    /// goes on (upstream fixes 0f1dec89d3 and 73c62927f6).
    fn runq_pick(&mut self, cpu: usize) -> Result<u32> {
        let online = self.online;
        let periodic = self.periodic();
        loop {
            let found = self
                .runq
                .first_matching(self.units, self.policy.priority, |u| {
                    // A blocked periodic server competes on its reserved budget only.
                    u.affinity.test(cpu)
                        && online.test(cpu)
                        && (!periodic || u.runnable || u.priority_level == 0)
                })?;
            let Some(h) = found else { return Ok(NIL) };
            if get(self.units, h)?.runnable || periodic {
                return Ok(h);
            }
            self.stats.dropped_unrunnable += 1;
            self.q_remove(h)?;
            self.replq_remove(h)?;
        }
    }

    /// Puts a unit that is on the replenishment queue on the run queue (budget left or
    /// extratime) or the depleted queue. A unit with extratime and no budget left is refilled
    /// one level down first, so no unit on the run queue has zero budget (upstream fix
    /// 37b49cb48e).
    fn runq_insert(&mut self, h: u32) -> Result<()> {
        let seq = self.next_seq();
        self.runq_insert_seq(h, seq)
    }

    /// [`Self::runq_insert`] keeping the unit's place among equals: the replenishment
    /// handler re-sorts queued units without sending them behind units of equal priority
    /// queued after them, so equal units take turns (round robin) instead of depending on
    /// the order of replenishment.
    fn runq_resort(&mut self, h: u32) -> Result<()> {
        let u = get(self.units, h)?;
        if u.queue == QueueKind::Run && u.cur_budget > 0 && !u.flags.contains(UnitFlags::SCHEDULED)
        {
            // It stays on the run queue with its sequence number: re-sorted in place, which
            // is the order a removal and re-insertion would give (the order is total, so the
            // heap's layout decides nothing).
            return self.runq.update(self.units, h, self.policy.priority);
        }
        let seq = u.runq_seq;
        self.q_remove(h)?;
        self.runq_insert_seq(h, seq)
    }

    fn runq_insert_seq(&mut self, h: u32, seq: u64) -> Result<()> {
        let s = self.policy.priority;
        let u = get_mut(self.units, h)?;
        if u.queue != QueueKind::None || u.flags.contains(UnitFlags::SCHEDULED) {
            return Err(Error::Corrupt);
        }
        let refill = u.cur_budget <= 0 && u.has_extratime() && u.runnable;
        if refill {
            u.priority_level = u.priority_level.saturating_add(1);
            u.cur_budget = u.budget;
        }
        if refill {
            self.refresh_key(h);
        }
        let u = get_mut(self.units, h)?;
        if u.cur_budget > 0 {
            u.queue = QueueKind::Run;
            u.runq_seq = seq;
            self.runq.push(self.units, h, s)
        } else {
            u.queue = QueueKind::Depleted;
            self.depleted.push(self.units, h)
        }
    }

    fn q_remove(&mut self, h: u32) -> Result<()> {
        let s = self.policy.priority;
        let q = get(self.units, h)?.queue;
        match q {
            QueueKind::None => return Ok(()),
            QueueKind::Run => self.runq.remove(self.units, h, s)?,
            QueueKind::Depleted => self.depleted.remove(self.units, h)?,
        }
        get_mut(self.units, h)?.queue = QueueKind::None;
        Ok(())
    }

    fn replq_insert(&mut self, h: u32) -> Result<()> {
        let seq = self.next_seq();
        get_mut(self.units, h)?.replq_seq = seq;
        self.replq.push(self.units, h, self.policy.priority)
    }

    fn replq_remove(&mut self, h: u32) -> Result<()> {
        if get(self.units, h)?.on_replq() {
            self.replq.remove(self.units, h, self.policy.priority)?;
        }
        Ok(())
    }

    fn next_seq(&mut self) -> u64 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Derives the timer operation from the replenishment queue's head: the timer must be
    /// programmed for the earliest pending replenishment, or stopped when none is pending.
    fn sync_timer(&mut self, a: &mut Actions) {
        let want = self
            .replq
            .peek()
            .and_then(|h| self.units.get(h as usize))
            .map(|u| u.cur_deadline);
        if want != self.timer {
            a.timer = match want {
                Some(t) => TimerOp::Set(t),
                None => TimerOp::Stop,
            };
            self.timer = want;
        }
    }

    /// Asks a CPU to reschedule for the newly queued unit `h` (Xen's `runq_tickle`): among
    /// the online CPUs of its affinity that are not already tickled, searching from its own
    /// CPU, the first idle one; otherwise the one running the lowest-priority unit, if that
    /// is lower than `h`. O(CPUs).
    fn tickle(&mut self, h: u32, a: &mut Actions) -> Result<()> {
        let s = self.policy.priority;
        let u = get(self.units, h)?;
        let pickable = u.runnable || (self.periodic() && u.priority_level == 0);
        if u.queue == QueueKind::Depleted || !pickable {
            // No CPU could pick it (no budget, or a blocked server on extratime) before its
            // replenishment or wake-up, which tickle again.
            self.stats.tickle_none += 1;
            return Ok(());
        }
        let not_tickled = u.affinity.and(&self.online).and_not(&self.tickled);
        let start = u.cpu as usize;
        // The first idle CPU in cycle order from the unit's own.
        if let Some(c) = not_tickled.and_not(&self.busy).test_or_cycle(start) {
            self.stats.tickle_idle += 1;
            self.set_tickled_for(c, h);
            return self.do_tickle(c, a);
        }
        // Else the CPU running the lowest-priority unit, the first such in cycle order, if
        // lower than `h`. A CPU idling on a blocked periodic server is busy at that server's
        // priority. No untickled CPU runs anything lower than the bound.
        let key = prio_key(u, s);
        if key >= self.bound {
            self.stats.tickle_none += 1;
            return Ok(());
        }
        let affinity = u.affinity;
        let lowest = self.scan_lowest(affinity, start);
        if let Some((k, c)) = lowest {
            if k > key {
                self.stats.tickle_busy += 1;
                self.set_tickled_for(c, h);
                return self.do_tickle(c, a);
            }
        }
        self.stats.tickle_none += 1;
        Ok(())
    }

    /// The tickle's scan (out of line, so that the common paths of [`Self::tickle`] keep a
    /// small frame): over the online, busy, untickled CPUs in cycle order from `start`, the
    /// first one of `affinity` running the lowest-priority unit, with its key; makes the
    /// bounds exact.
    #[inline(never)]
    fn scan_lowest(&mut self, affinity: CpuMask, start: usize) -> Option<(PrioKey, usize)> {
        let set = self.online.and(&self.busy).and_not(&self.tickled);
        // The scan covers the whole set (the CPUs of the unit's affinity are the candidates),
        // to make the bound exact: the highest key, the first CPU holding it in cycle order,
        // and the highest key of the others.
        let mut top: Option<(PrioKey, usize)> = None;
        let mut second = PrioKey::ZERO;
        let mut lowest: Option<(PrioKey, usize)> = None;
        let covers = set.and_not(&affinity).is_empty();
        for c in set.iter_cycle(start) {
            let Some(p) = self.cpus.get(c) else { continue };
            let k = p.key;
            match top {
                Some((t, _)) if k <= t => second = second.max(k),
                Some((t, _)) => {
                    second = second.max(t);
                    top = Some((k, c));
                }
                None => top = Some((k, c)),
            }
            if !covers && affinity.test(c) {
                let lower = match lowest {
                    Some((l, _)) => k > l,
                    None => true,
                };
                if lower {
                    lowest = Some((k, c));
                }
            }
        }
        if covers {
            lowest = top;
        }
        match top {
            Some((t, c)) => {
                self.bound = t;
                self.bound_cpu = c as u32;
                self.bound2 = second;
            }
            None => {
                self.bound = PrioKey::ZERO;
                self.bound_cpu = NIL;
                self.bound2 = PrioKey::ZERO;
            }
        }
        lowest
    }

    /// After a CPU picked its next unit, the unit a tickle had sent it may still be queued
    /// (the CPU took a higher-priority one). rt.c leaves it queued until some later event,
    /// even with an idle CPU in its affinity. Here the highest-priority queued unit with an
    /// idle, untickled CPU in its affinity gets that CPU tickled, and the run-queue head is
    /// tickled as on a wake (it may outrank a running unit elsewhere). O(CPUs) plus the
    /// best-first search.
    fn push_queued(&mut self, a: &mut Actions) -> Result<()> {
        // The unit a tickle sent a CPU that then picked another one (rt.c leaves it queued
        // even when it outranks units running elsewhere). In CPU order; a CPU tickled by
        // this loop keeps its new `tickled_for`.
        for c in self.retickle.and_not(&self.tickled).iter() {
            if self.tickled.test(c) {
                continue;
            }
            let t = self.cpus.get(c).ok_or(Error::Corrupt)?.tickled_for;
            self.set_tickled_for(c, NIL);
            if t != NIL && get(self.units, t)?.queue == QueueKind::Run {
                self.tickle(t, a)?;
            }
        }
        let Some(head) = self.runq.peek() else {
            return Ok(());
        };
        let idle = self.idle_cpus().and_not(&self.tickled);
        if !idle.is_empty() {
            let periodic = self.periodic();
            let found = self
                .runq
                .first_matching(self.units, self.policy.priority, |u| {
                    (u.runnable || (periodic && u.priority_level == 0))
                        && !u.affinity.and(&idle).is_empty()
                })?;
            if let Some(h) = found {
                let u = get(self.units, h)?;
                if let Some(c) = u.affinity.and(&idle).test_or_cycle(u.cpu as usize) {
                    self.stats.tickle_idle += 1;
                    self.do_tickle(c, a)?;
                }
            }
        }
        if self.runq.peek() == Some(head) {
            self.tickle(head, a)?;
        }
        Ok(())
    }

    fn do_tickle(&mut self, cpu: usize, a: &mut Actions) -> Result<()> {
        self.tickled.set(cpu);
        self.bound_leaves(cpu);
        a.reschedule.set(cpu);
        Ok(())
    }
}

/// Starts the period that contains `now` for a unit whose deadline has passed: the next
/// deadline after `now`, a full budget, reserved priority level (Xen's `rt_update_deadline`).
///
/// A budget overrun of the period that just ended is charged to this one (only when no
/// whole period was skipped).
fn update_deadline(u: &mut Unit, now: i64) {
    let next = next_deadline(u.cur_deadline, u.period, now);
    let consecutive = next.saturating_sub(u.cur_deadline) <= u.period;
    u.cur_deadline = next;
    u.last_start = now;
    // (Not `clamp`, which can panic.)
    let debt = if consecutive {
        u.debt.min(u.budget).max(0)
    } else {
        0
    };
    u.cur_budget = u.budget.saturating_sub(debt);
    u.debt = 0;
    u.priority_level = 0;
    if u.cur_budget == 0 {
        u.flags.insert(UnitFlags::DEPLETED);
    }
}

/// A change whose effect on admission is evaluated before it is made.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Change {
    None,
    Unit(u32, Params),
    Domain(u32, i64, i64),
    Insert(u32),
    Scheme(PriorityScheme),
}

// Internal access for the invariant checker.
impl<'a> Scheduler<'a> {
    pub(crate) fn raw_units(&self) -> &[Unit] {
        self.units
    }
    pub(crate) fn raw_cpus(&self) -> &[Pcpu] {
        self.cpus
    }
    pub(crate) fn raw_runq(&self) -> &Heap<'a> {
        &self.runq
    }
    pub(crate) fn raw_replq(&self) -> &Heap<'a> {
        &self.replq
    }
    pub(crate) fn raw_depleted(&self) -> &DepletedList {
        &self.depleted
    }
    pub(crate) fn raw_busy(&self) -> CpuMask {
        self.busy
    }
    pub(crate) fn raw_retickle(&self) -> CpuMask {
        self.retickle
    }
    pub(crate) fn raw_bound(&self) -> (PrioKey, u32, PrioKey) {
        (self.bound, self.bound_cpu, self.bound2)
    }
    #[cfg(test)]
    pub(crate) fn raw_units_mut(&mut self) -> &mut [Unit] {
        self.units
    }
}
