//! Control paths: CPUs joining and leaving, unit lifetime, parameters (Xen's domctls),
//! policy switches, affinity and placement, and admission control.

use super::{get, get_mut, Change, Scheduler};
use crate::actions::Actions;
use crate::admission::{self, Verdict};
use crate::cpumask::CpuMask;
use crate::error::{Error, Result};
use crate::mutants::Mutant;
use crate::params::Params;
use crate::policy::{ClassRule, Policy, PriorityScheme, ServerKind, Topology};
use crate::unit::{QueueKind, Unit, UnitFlags, UnitId, NIL};

impl<'a> Scheduler<'a> {
    /// A CPU joins the instance (Xen's `switch_sched`): it starts idle.
    pub fn cpu_add(&mut self, cpu: usize) -> Result<()> {
        if cpu >= self.cpus.len() {
            return Err(Error::NoSuchCpu);
        }
        if self.cpus.online().test(cpu)
            || (self.policy.topology == Topology::Partition && !self.cpus.online().is_empty())
        {
            return Err(Error::Busy);
        }
        let o = self.order();
        self.cpus.add(self.units, o, cpu)
    }

    /// A CPU leaves the instance (Xen's `deinit_pdata`). It must be idle (no unit running
    /// nor a blocked server's budget idling on it). It may have been withdrawn before.
    pub fn cpu_remove(&mut self, cpu: usize) -> Result<()> {
        if cpu >= self.cpus.len() {
            return Err(Error::NoSuchCpu);
        }
        if self.cpus.busy().test(cpu) {
            return Err(Error::Busy);
        }
        self.cpus.remove(cpu);
        Ok(())
    }

    /// A CPU stops taking units before it leaves. Xen takes a CPU out of its cpupool's
    /// valid set (`cpupool_unassign_cpu_start`, `cpu_down`) and moves the units off it with
    /// `pick_resource` before the scheduler's `deinit_pdata`, and its core loops until the
    /// pick is a CPU of the pool. The CPU leaves the online set at once: no pick, tickle or
    /// idle search chooses it. If it runs a unit (or idles on a blocked server's budget) it
    /// is told to reschedule, and its `do_schedule` hands the unit back and picks nothing;
    /// a unit it was tickled for is tickled again. [`Self::cpu_remove`] completes the
    /// removal. Withdrawing a CPU that is not online does nothing.
    pub fn cpu_withdraw(&mut self, cpu: usize) -> Result<Actions> {
        let mut a = Actions::default();
        if cpu >= self.cpus.len() {
            return Err(Error::NoSuchCpu);
        }
        if !self.cpus.online().test(cpu) {
            return Ok(a);
        }
        let pending = self.cpus.remove(cpu);
        if self.cpus.busy().test(cpu) {
            a.reschedule.set(cpu);
        }
        if pending != NIL && get(self.units, pending)?.queue == QueueKind::Run {
            self.tickle(pending, &mut a)?;
        }
        Ok(a)
    }

    /// Allocates a unit with Xen's defaults (10 ms period, 4 ms budget, extratime) and the
    /// given hard affinity (Xen's `alloc_udata`). The unit is not inserted yet.
    pub fn unit_alloc(&mut self, domain: u32, vcpu: u32, affinity: CpuMask) -> Result<UnitId> {
        let i = self
            .units
            .iter()
            .position(|u| !u.in_use)
            .ok_or(Error::NoSpace)?;
        let cpu = affinity.and(self.cpus.online()).first().unwrap_or(0) as u32;
        // (Counted before its home is chosen: the groups' size rule counts it.)
        self.nr_units += 1;
        if let Err(e) = self.grow_groups() {
            self.nr_units -= 1;
            return Err(e);
        }
        let pin_home = self.home_acquire(&affinity);
        let Some(u) = self.units.get_mut(i) else {
            self.home_release(pin_home);
            self.nr_units -= 1;
            return Err(Error::NoSpace);
        };
        *u = Unit {
            in_use: true,
            domain,
            vcpu,
            affinity,
            pin_home,
            cpu,
            ..Unit::EMPTY
        };
        Ok(UnitId(i as u32))
    }

    /// Frees a unit (Xen's `free_udata`). It must be removed and not running.
    pub fn unit_free(&mut self, h: UnitId) -> Result<()> {
        let u = self.unit(h)?;
        if u.inserted || u.flags.contains(UnitFlags::SCHEDULED) || self.is_curr(h.0) {
            return Err(Error::Busy);
        }
        let home = u.pin_home;
        self.home_release(home);
        *get_mut(self.units, h.0)? = Unit::EMPTY;
        self.nr_units -= 1;
        Ok(())
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
        let keep_extratime = self.mutant(Mutant::ParamsIgnoreExtratime);
        let u = get_mut(self.units, h.0)?;
        let extratime = u.has_extratime();
        u.apply_params(p);
        if keep_extratime {
            crate::mutants::keep_extratime(u, extratime);
        }
        let mut a = Actions::default();
        self.params_changed(h.0, &mut a)?;
        Ok(a)
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
            u.apply_params(Params {
                extratime: u.has_extratime(),
                ..p
            });
            n += 1;
        }
        // (Every unit has its new parameters before any is re-sorted or tickled for.)
        let mut a = Actions::default();
        for i in 0..self.units.len() as u32 {
            let u = get(self.units, i)?;
            if u.in_use && u.domain == domain {
                self.params_changed(i, &mut a)?;
            }
        }
        Ok((n, a))
    }

    /// Sets a unit's parameters at time `now` so that they take effect promptly: as
    /// [`Self::set_params`], then the rule of [`Self::restart_if_late`]. The host's
    /// `putvcpuinfo` uses this; [`Self::set_params`] keeps rt.c's rule (new values at the
    /// next replenishment) for the comparison with rt.c.
    pub fn set_params_at(&mut self, h: UnitId, p: Params, now: i64) -> Result<Actions> {
        // (The time is checked first and the clock moved only once the change is made: a
        // refused call changes nothing.)
        let t = self.hook_time(now)?;
        let mut a = self.set_params(h, p)?;
        let now = self.advance(t);
        self.restart_if_late(h.0, now, &mut a)?;
        Ok(a)
    }

    /// Domain-wide parameters at time `now`, taking effect promptly (as
    /// [`Self::set_params_at`] for each of the domain's units).
    pub fn set_domain_params_at(
        &mut self,
        domain: u32,
        period: i64,
        budget: i64,
        now: i64,
    ) -> Result<(u32, Actions)> {
        let t = self.hook_time(now)?;
        let (n, mut a) = self.set_domain_params(domain, period, budget)?;
        let now = self.advance(t);
        for i in 0..self.units.len() as u32 {
            let u = get(self.units, i)?;
            if u.in_use && u.domain == domain {
                self.restart_if_late(i, now, &mut a)?;
            }
        }
        Ok((n, a))
    }

    /// The rule that makes a parameter change take effect promptly: a unit whose current
    /// deadline is more than one (new) period after `now` starts a new period now (deadline
    /// `now + period`, full budget, reserved level, no debt). So no change leaves a unit
    /// waiting longer than its new period: neither a shorter period, nor a mistyped long one
    /// corrected (xl parses periods into an `int`, an 11-digit period wraps to ~1216 s and
    /// rt.c makes the unit wait out that deadline), nor budget given to a depleted unit
    /// (its wait is bounded by its deadline). A change within the current period keeps it.
    fn restart_if_late(&mut self, h: u32, now: i64, a: &mut Actions) -> Result<()> {
        let u = get(self.units, h)?;
        if !u.late_for_period(now) {
            return Ok(());
        }
        // The replenishment queue is ordered by deadline: out before the deadline changes.
        let on_replq = u.on_replq();
        self.replq_remove(h)?;
        let u = get_mut(self.units, h)?;
        u.cbs_restart(now);
        u.flags.remove(UnitFlags::DEPLETED);
        if on_replq {
            self.replq_insert(h)?;
        }
        if get(self.units, h)?.queue != QueueKind::None {
            // Off the depleted queue (it has a budget again), or re-sorted by its deadline.
            self.runq_resort(h)?;
        }
        self.params_changed(h, a)?;
        self.sync_timer(a);
        Ok(())
    }

    /// After a parameter change: the unit's key may have changed (the period is the DM key,
    /// the extratime flag breaks ties), so the CPU it runs on gets the new key, a queued unit
    /// is re-sorted and told about if it may now preempt, and a running unit (or a CPU idling
    /// on its budget) has its CPU reschedule, since it may now rank below a queued unit.
    fn params_changed(&mut self, h: u32, a: &mut Actions) -> Result<()> {
        self.place_background(h);
        self.refresh_key(h);
        if get(self.units, h)?.queue == QueueKind::Run {
            self.runq_resort(h)?;
            self.tickle(h, a)?;
        }
        if let Some(c) = self.cpus.shown(get(self.units, h)?, h).cpu() {
            a.reschedule.set(c);
        }
        Ok(())
    }

    /// The admission verdict for the reservations of the inserted units under the policy in
    /// force (see [`crate::admission`]), whether or not admission control is enabled.
    pub fn admission(&self) -> Verdict {
        let (policy, set, pool) = self.reservations_with(Change::None);
        admission::verdict_with_pool(&policy, self.cpus.online().count(), set, pool)
    }

    /// The policy, the parameters of the inserted units and those of the spare pool as they
    /// would be after `ch`.
    fn reservations_with(
        &self,
        ch: Change,
    ) -> (
        Policy,
        impl Iterator<Item = Params> + Clone + '_,
        impl Iterator<Item = Params> + Clone,
    ) {
        let mut policy = self.policy;
        match ch {
            Change::Scheme(s) => policy.priority = s,
            Change::Server(k) => policy.server = k,
            Change::Classes(c) => policy.classes = c,
            _ => {}
        }
        let pool = match ch {
            Change::Pool(pp) => pp,
            _ => self.spares.proposal(),
        };
        let units = self.units.iter().enumerate().filter_map(move |(i, u)| {
            let i = i as u32;
            if !u.in_use || !(u.inserted || ch == Change::Insert(i)) {
                return None;
            }
            Some(match ch {
                Change::Unit(h, p) if h == i => p,
                Change::Domain(d, period, budget) if d == u.domain => Params {
                    period,
                    budget,
                    extratime: u.has_extratime(),
                },
                _ => u.params(),
            })
        });
        // The spare servers are reservations too (see `spare.rs`).
        let spares = (0..pool.len as usize).filter_map(move |k| pool.params.get(k).copied());
        (policy, units, spares)
    }

    /// Whether `ch` keeps the reservations schedulable under the test of the policy it leaves
    /// in force (always, when admission control is off). An instance whose reservations
    /// already fail the test (a CPU left) also takes a change that asks for no more
    /// ([`admission::asks_no_more`]).
    pub(super) fn admits(&self, ch: Change) -> bool {
        if !self.policy.admission {
            return true;
        }
        self.passes(ch) || (self.asks_no_more(ch) && !self.passes(Change::None))
    }

    /// Whether the reservations after `ch` pass the test of the policy it leaves in force.
    /// (Out of line: both of `admits`' tests take this one frame, one after the other.)
    #[inline(never)]
    fn passes(&self, ch: Change) -> bool {
        let (policy, set, pool) = self.reservations_with(ch);
        admission::passes_with_pool(&policy, self.cpus.online().count(), set, pool)
    }

    /// Whether `ch` asks for no more than the units it changes had (see
    /// [`admission::asks_no_more`]): new parameters of units that ask for no more each, or of
    /// a unit that is not inserted (not in the set), or the insertion of a unit that
    /// reserves nothing. Policy and spare-pool changes are left to the test.
    fn asks_no_more(&self, ch: Change) -> bool {
        let classes = self.policy.classes;
        match ch {
            Change::Unit(h, p) => self
                .units
                .get(h as usize)
                .is_some_and(|u| !u.inserted || admission::asks_no_more(classes, &u.params(), &p)),
            Change::Domain(d, period, budget) => self
                .units
                .iter()
                .filter(|u| u.in_use && u.inserted && u.domain == d)
                .all(|u| {
                    let new = Params {
                        period,
                        budget,
                        extratime: u.has_extratime(),
                    };
                    admission::asks_no_more(classes, &u.params(), &new)
                }),
            Change::Insert(h) => self
                .units
                .get(h as usize)
                .is_some_and(|u| !admission::reserves(classes, &u.params())),
            Change::None
            | Change::Scheme(_)
            | Change::Server(_)
            | Change::Classes(_)
            | Change::Pool(_) => false,
        }
    }

    /// Sets a unit's hard affinity (Xen's `sched_set_affinity`). The host migrates the unit
    /// (see [`Self::migrate`]) if its CPU is no longer allowed.
    pub fn set_affinity(&mut self, h: UnitId, mask: CpuMask) -> Result<()> {
        self.unit(h)?;
        // A queued unit may change places (shared heap, a CPU's pinned queue or a group).
        let queued = get(self.units, h.0)?.queue == QueueKind::Run;
        if queued {
            self.runq_del(h.0)?;
        }
        let old = get(self.units, h.0)?.pin_home;
        self.home_release(old);
        let pin_home = self.home_acquire(&mask);
        let u = get_mut(self.units, h.0)?;
        u.affinity = mask;
        u.pin_home = pin_home;
        if queued {
            self.runq_push(h.0)?;
        }
        self.cpus.served(&mask);
        Ok(())
    }

    /// Switches the priority scheme at run time: re-orders the run queue and asks every
    /// online CPU to reschedule.
    pub fn set_priority_scheme(&mut self, s: PriorityScheme) -> Result<Actions> {
        if s == self.policy.priority {
            return Ok(Actions::default());
        }
        if s == PriorityScheme::Dm && self.spares.len > 0 {
            // Spares lend EDF deadlines only (see `spare.rs`).
            return Err(Error::Busy);
        }
        if !self.admits(Change::Scheme(s)) {
            return Err(Error::NotAdmitted);
        }
        self.policy.priority = s;
        self.policy_order_changed();
        self.reorder()
    }

    /// Switches the class rule at run time (see [`ClassRule`]): re-orders the run queue and
    /// asks every online CPU to reschedule.
    pub fn set_class_rule(&mut self, c: ClassRule) -> Result<Actions> {
        if c == self.policy.classes {
            return Ok(Actions::default());
        }
        if !self.admits(Change::Classes(c)) {
            return Err(Error::NotAdmitted);
        }
        self.policy.classes = c;
        self.policy_order_changed();
        self.reorder()
    }

    /// After the order changed: the run queue and the CPUs' keys follow, every CPU
    /// reschedules.
    fn reorder(&mut self) -> Result<Actions> {
        let mut a = Actions::default();
        let o = self.order();
        // (The class rule decides which blocked periodic servers are pickable.)
        self.cpus
            .served(&CpuMask::first_n(crate::cpumask::MAX_CPUS));
        self.runq_rebuild()?;
        self.cpus.rekey_all(self.units, o)?;
        self.cpus.tickle_all(&mut a);
        Ok(a)
    }

    /// Switches the server mechanism at run time (refused with [`Error::NotAdmitted`] when
    /// admission control is on and the reservations fail the new server's test). Leaving the
    /// periodic server drops every
    /// blocked unit from the queues (as a deferrable server's `sleep` does) and reschedules
    /// the CPUs that idled on a blocked unit's budget; entering it takes effect for units as
    /// they next block.
    pub fn set_server(&mut self, k: ServerKind) -> Result<Actions> {
        let mut a = Actions::default();
        if k == self.policy.server {
            return Ok(a);
        }
        if !self.admits(Change::Server(k)) {
            return Err(Error::NotAdmitted);
        }
        self.policy.server = k;
        // Which queued units are pickable changes.
        self.cpus
            .served(&CpuMask::first_n(crate::cpumask::MAX_CPUS));
        if k != ServerKind::Periodic {
            for c in 0..self.cpus.len() {
                let ph = self.cpus.get(c).ok_or_else(Error::corrupt)?.phantom;
                if ph != NIL {
                    let o = self.order();
                    self.cpus.clear_phantom(self.units, o, c)?;
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
        let allowed = u.affinity.and(self.cpus.online());
        let cur = u.cpu as usize;
        if allowed.test(cur) || self.mutant(Mutant::PickIgnoresAffinity) {
            return Ok(cur);
        }
        let idle = self.cpus.idle().and(&allowed).and_not(self.cpus.tickled());
        idle.cycle(cur)
            .or_else(|| allowed.cycle(cur))
            .ok_or(Error::NoAllowedCpu)
    }

    /// Assigns a unit to another CPU (Xen's `migrate` / `sched_set_res`).
    pub fn migrate(&mut self, h: UnitId, cpu: usize) -> Result<()> {
        self.unit(h)?;
        self.cpus.check(cpu)?;
        get_mut(self.units, h.0)?.cpu = cpu as u32;
        Ok(())
    }
}
