//! The instance's PCPUs and every per-CPU cache the hot paths read instead of scanning
//! (as Linux keeps its deadline CPU heap in `cpudeadline.c`).
//!
//! # What is cached, and the invariants (checked by [`crate::invariants::check`])
//!
//! - `Pcpu.curr` / `Pcpu.phantom`: what each CPU runs, or (periodic server) the blocked unit
//!   whose budget it idles on. Every assignment goes through [`Cpus::assign`], which keeps:
//!   - each unit's `on_cpu` (the CPU whose `curr` or `phantom` it is, or `NIL`);
//!   - `busy`: the CPUs with a `curr` or a `phantom` (idle CPUs = `online` less `busy`);
//!   - `Pcpu.key`: the priority key of `curr` (else `phantom`), refreshed by
//!     [`Cpus::refresh_key`] wherever that unit's key changes.
//! - `tickled`: CPUs asked to reschedule that have not run `do_schedule` since (rt.c's
//!   `prv->tickled`).
//! - `Pcpu.tickled_for` and `retickle`: the unit each CPU's last tickle was for, and the
//!   mask of CPUs where it is set; between hooks every CPU in `retickle` is tickled (a CPU's
//!   own pick clears its tickle and then settles its `tickled_for`, `push_queued`).
//! - `unserved`: online CPUs that no unit on the run queue could be picked on (no unit
//!   there allows the CPU and competes for a pick, `enqueue::competes`). Set by a pick that found
//!   nothing and by a push after a pick that found nothing for its idle CPUs
//!   (`push_queued`); cleared for a unit's affinity whenever it enters the run queue, is re-sorted
//!   on it, wakes on it or changes affinity, and for all CPUs at a server switch. A search
//!   of the run queue for an unserved CPU is skipped (pinned units: an idle CPU whose
//!   units are all depleted would otherwise scan the whole queue on every pick).
//! - `bound` >= the key of every online, busy, untickled CPU ("the set"); `bound_cpu` holds
//!   it after a scan and `bound2` bounds the set without `bound_cpu`. A unit whose key is
//!   not below `bound` cannot preempt any CPU, so its tickle needs no scan; when
//!   `bound_cpu` leaves the set, `bound2` takes over.
//! - `group_bound[g]` >= the key of every CPU of the set in affinity group `g`'s mask
//!   (`Pcpu.groups`, see `groups.rs`): raised with `bound`, made exact by a scan for a unit
//!   of the group. A unit of a group whose key is not below it cannot preempt any CPU it may
//!   run on (the global `bound` is no filter for it when other CPUs run lower-priority
//!   units), so its tickle needs no scan.
//!
//! Costs: every operation is O(1) or O(mask words), except [`Cpus::scan_lowest`] (O(CPUs),
//! as rt.c's tickle scan) and [`Cpus::rekey_all`] (O(CPUs), at a priority-scheme switch).

use crate::actions::Actions;
use crate::cpumask::{CpuMask, MAX_CPUS};
use crate::error::{Error, Result};
use crate::prio::{prio_key, Order, PrioKey};
use crate::unit::{Unit, UnitId, NIL};

use super::groups::{bits, MAX_GROUPS};

/// Where a unit is shown ([`Cpus::shown`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Shown {
    /// It runs on this CPU.
    Runs(usize),
    /// This CPU idles on its budget (a blocked periodic server).
    Idles(usize),
    /// Neither.
    Nowhere,
}

impl Shown {
    /// The CPU it is shown on, if any.
    pub(crate) fn cpu(self) -> Option<usize> {
        match self {
            Shown::Runs(c) | Shown::Idles(c) => Some(c),
            Shown::Nowhere => None,
        }
    }
}

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
    /// The root of the run queue of the units pinned to this CPU ([`NIL`]: empty; see
    /// `crate::pairing`).
    pub(crate) pinned: u32,
    /// The affinity groups whose mask holds this CPU, one bit per slot (see `groups.rs`).
    pub(crate) groups: u64,
}

impl Pcpu {
    /// An idle CPU.
    pub const IDLE: Pcpu = Pcpu {
        curr: NIL,
        phantom: NIL,
        tickled_for: NIL,
        key: PrioKey::ZERO,
        pinned: NIL,
        groups: 0,
    };

    /// The unit whose key the CPU shows: `curr`, else `phantom`, else [`NIL`].
    pub(crate) fn shown(&self) -> u32 {
        if self.curr != NIL {
            self.curr
        } else {
            self.phantom
        }
    }
}

impl Default for Pcpu {
    fn default() -> Self {
        Pcpu::IDLE
    }
}

/// The PCPUs of an instance and their caches.
#[derive(Debug)]
pub(crate) struct Cpus<'a> {
    pcpus: &'a mut [Pcpu],
    online: CpuMask,
    tickled: CpuMask,
    busy: CpuMask,
    retickle: CpuMask,
    unserved: CpuMask,
    pinned: CpuMask,
    bound: PrioKey,
    bound_cpu: u32,
    bound2: PrioKey,
    group_bound: [PrioKey; MAX_GROUPS],
}

/// Every group's bound unknown (a constant, so that an instance built in place copies it
/// there rather than building it on the stack first).
const NO_GROUP_BOUNDS: [PrioKey; MAX_GROUPS] = [PrioKey::MAX; MAX_GROUPS];

impl<'a> Cpus<'a> {
    /// All CPUs idle and offline.
    #[inline(always)]
    pub(crate) fn new(pcpus: &'a mut [Pcpu]) -> Self {
        pcpus.fill(Pcpu::IDLE);
        Cpus {
            pcpus,
            online: CpuMask::EMPTY,
            tickled: CpuMask::EMPTY,
            busy: CpuMask::EMPTY,
            retickle: CpuMask::EMPTY,
            unserved: CpuMask::EMPTY,
            pinned: CpuMask::EMPTY,
            bound: PrioKey::ZERO,
            bound_cpu: NIL,
            bound2: PrioKey::ZERO,
            group_bound: NO_GROUP_BOUNDS,
        }
    }

    /// The number of CPUs (at most [`MAX_CPUS`], as the storage check makes it: the bound is
    /// written here too, so that a CPU number checked against it needs no further range
    /// check in the masks).
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.pcpus.len().min(MAX_CPUS)
    }

    /// Whether the instance has at most 64 CPUs: then every CPU mask of its own (online,
    /// busy, tickled, ...) is its first word, and a mask intersected with one of them is
    /// too, so the hot paths compute with that word alone ([`CpuMask::word0`]): the tickle's
    /// idle search ([`Self::first_idle`]), its scan ([`Self::scan_lowest`]) and the push
    /// check ([`Self::any_push_target`]), each beside its general path.
    #[inline(always)]
    pub(crate) fn one_word(&self) -> bool {
        self.pcpus.len() <= 64
    }
    pub(crate) fn get(&self, cpu: usize) -> Option<&Pcpu> {
        self.pcpus.get(cpu)
    }
    pub(crate) fn all(&self) -> &[Pcpu] {
        self.pcpus
    }
    #[cfg(test)]
    pub(crate) fn all_mut(&mut self) -> &mut [Pcpu] {
        self.pcpus
    }
    #[inline(always)]
    pub(crate) fn online(&self) -> &CpuMask {
        &self.online
    }
    #[inline(always)]
    pub(crate) fn tickled(&self) -> &CpuMask {
        &self.tickled
    }
    #[inline(always)]
    pub(crate) fn busy(&self) -> &CpuMask {
        &self.busy
    }
    #[inline(always)]
    pub(crate) fn retickle(&self) -> &CpuMask {
        &self.retickle
    }
    #[inline(always)]
    pub(crate) fn unserved(&self) -> &CpuMask {
        &self.unserved
    }

    /// CPUs whose pinned run queue is not empty.
    #[inline(always)]
    pub(crate) fn pinned(&self) -> &CpuMask {
        &self.pinned
    }

    /// The root of `cpu`'s pinned run queue ([`NIL`]: empty or no such CPU).
    pub(crate) fn pinned_root(&self, cpu: usize) -> u32 {
        self.pcpus.get(cpu).map_or(NIL, |p| p.pinned)
    }

    /// Sets the root of `cpu`'s pinned run queue, keeping the [`Self::pinned`] mask.
    pub(crate) fn set_pinned_root(&mut self, cpu: usize, root: u32) -> Result<()> {
        self.pcpus.get_mut(cpu).ok_or_else(Error::corrupt)?.pinned = root;
        if root == NIL {
            self.pinned.clear(cpu);
        } else {
            self.pinned.set(cpu);
        }
        Ok(())
    }

    /// The affinity groups whose mask holds `cpu` (see `groups.rs`).
    #[inline]
    pub(crate) fn groups_of(&self, cpu: usize) -> u64 {
        self.pcpus.get(cpu).map_or(0, |p| p.groups)
    }

    /// Group slot `g` now holds (`on`) or no longer holds the CPUs of `mask`.
    pub(crate) fn set_group(&mut self, mask: &CpuMask, g: usize, on: bool) {
        let bit = 1u64.checked_shl(g as u32).unwrap_or(0);
        if let Some(b) = self.group_bound.get_mut(g) {
            // (Not known yet: the first tickle for the group scans.)
            *b = PrioKey::MAX;
        }
        for c in mask.iter() {
            if let Some(p) = self.pcpus.get_mut(c) {
                if on {
                    p.groups |= bit;
                } else {
                    p.groups &= !bit;
                }
            }
        }
    }

    /// A search of the run queue found no unit that could be picked on `cpu`.
    pub(crate) fn set_unserved(&mut self, cpu: usize) {
        self.unserved.set(cpu);
    }

    /// A search of the run queue found no unit that could be picked on any CPU of `cpus`.
    pub(crate) fn set_unserved_all(&mut self, cpus: &CpuMask) {
        self.unserved = self.unserved.or(cpus);
    }

    /// A unit allowed on `affinity` may now be picked from the run queue.
    pub(crate) fn served(&mut self, affinity: &CpuMask) {
        self.unserved = self.unserved.and_not(affinity);
    }

    pub(crate) fn bounds(&self) -> (PrioKey, u32, PrioKey) {
        (self.bound, self.bound_cpu, self.bound2)
    }

    /// The first online, idle CPU of `affinity` (untickled too, unless `with_tickled`) in
    /// cycle order from `start` (Xen's `cpumask_test_or_cycle`): the tickle's idle search.
    #[inline(always)]
    pub(crate) fn first_idle(
        &self,
        affinity: &CpuMask,
        with_tickled: bool,
        start: usize,
    ) -> Option<usize> {
        if self.one_word() {
            let mut w = affinity.word0() & self.online.word0() & !self.busy.word0();
            if !with_tickled {
                w &= !self.tickled.word0();
            }
            return CpuMask::test_or_cycle_word0(w, start);
        }
        let mut free = affinity.and(&self.online).and_not(&self.busy);
        if !with_tickled {
            free = free.and_not(&self.tickled);
        }
        free.test_or_cycle(start)
    }

    /// The CPUs a queued unit may be pushed to after a pick: idle, untickled and served (an
    /// unserved CPU has no pickable queued unit).
    pub(crate) fn push_targets(&self) -> CpuMask {
        self.idle().and_not(&self.tickled).and_not(&self.unserved)
    }

    /// Whether [`Self::push_targets`] is not empty, without building it: from the first
    /// mask word alone up to 64 CPUs (the others are empty).
    #[inline(always)]
    pub(crate) fn any_push_target(&self) -> bool {
        if self.one_word() {
            self.online.word0()
                & !self.busy.word0()
                & !self.tickled.word0()
                & !self.unserved.word0()
                != 0
        } else {
            !self.push_targets().is_empty()
        }
    }

    /// Online CPUs that run nothing and idle on no blocked server's budget. O(1).
    pub(crate) fn idle(&self) -> CpuMask {
        self.online.and_not(&self.busy)
    }

    /// `Ok` if `cpu` is online.
    pub(crate) fn check(&self, cpu: usize) -> Result<()> {
        if cpu < self.pcpus.len() && self.online.test(cpu) {
            Ok(())
        } else {
            Err(Error::NoSuchCpu)
        }
    }

    /// The unit running on `cpu`.
    #[inline]
    pub(crate) fn curr(&self, cpu: usize) -> Option<UnitId> {
        match self.pcpus.get(cpu) {
            Some(p) if p.curr != NIL => Some(UnitId(p.curr)),
            _ => None,
        }
    }

    /// The blocked periodic server `cpu` idles on.
    pub(crate) fn phantom(&self, cpu: usize) -> Option<UnitId> {
        match self.pcpus.get(cpu) {
            Some(p) if p.phantom != NIL => Some(UnitId(p.phantom)),
            _ => None,
        }
    }

    /// Where unit `h` (`u`) is shown: the CPU it runs on, or the CPU whose idle time is
    /// charged to it (a blocked periodic server). O(1), from its `on_cpu`.
    pub(crate) fn shown(&self, u: &Unit, h: u32) -> Shown {
        let c = u.on_cpu as usize;
        match self.pcpus.get(c) {
            Some(p) if p.curr == h => Shown::Runs(c),
            Some(p) if p.phantom == h => Shown::Idles(c),
            _ => Shown::Nowhere,
        }
    }

    /// A CPU joins: online, idle, untickled.
    pub(crate) fn add(&mut self, units: &mut [Unit], o: Order, cpu: usize) -> Result<()> {
        self.assign(units, o, cpu, NIL, NIL)?;
        self.set_tickled_for(cpu, NIL);
        self.online.set(cpu);
        self.unserved.clear(cpu);
        // (Idle: not counted for the bound.)
        self.tickled.clear(cpu);
        Ok(())
    }

    /// A CPU leaves the online set (removed once idle, or withdrawn while it may still run
    /// a unit): untickled, out of the bound, its pending tickle forgotten. Returns the unit
    /// that tickle was for ([`NIL`] for none).
    pub(crate) fn remove(&mut self, cpu: usize) -> u32 {
        self.online.clear(cpu);
        self.tickled.clear(cpu);
        self.bound_leaves(cpu);
        let pending = self.tickled_for(cpu);
        self.set_tickled_for(cpu, NIL);
        pending
    }

    /// Sets what `cpu` runs (`curr`) or idles on (`phantom`): every assignment of either
    /// goes through here, which keeps each unit's `on_cpu`, the `busy` mask and the CPU's
    /// priority key up to date.
    pub(crate) fn assign(
        &mut self,
        units: &mut [Unit],
        o: Order,
        cpu: usize,
        curr: u32,
        phantom: u32,
    ) -> Result<()> {
        let p = self.pcpus.get_mut(cpu).ok_or_else(Error::corrupt)?;
        let (old_curr, old_phantom) = (p.curr, p.phantom);
        p.curr = curr;
        p.phantom = phantom;
        for h in [old_curr, old_phantom] {
            if h != curr && h != phantom {
                leave(units, cpu, h);
            }
        }
        if phantom != NIL {
            units
                .get_mut(phantom as usize)
                .ok_or_else(Error::corrupt)?
                .on_cpu = cpu as u32;
        }
        self.show(units, o, cpu, if curr != NIL { curr } else { phantom })
    }

    /// [`Self::assign`] of `curr` and no phantom, written out for a CPU without one
    /// (`do_schedule`'s common case, inlined there).
    #[inline(always)]
    pub(crate) fn run(
        &mut self,
        units: &mut [Unit],
        o: Order,
        cpu: usize,
        curr: u32,
    ) -> Result<()> {
        let p = self.pcpus.get_mut(cpu).ok_or_else(Error::corrupt)?;
        if p.phantom != NIL {
            return self.assign(units, o, cpu, curr, NIL);
        }
        let old = core::mem::replace(&mut p.curr, curr);
        if old != curr {
            leave(units, cpu, old);
        }
        self.show(units, o, cpu, curr)
    }

    /// The end of an assignment: `cpu` shows `shown` (its `curr`, else its `phantom`; NIL:
    /// idle), whose key it takes.
    #[inline(always)]
    fn show(&mut self, units: &mut [Unit], o: Order, cpu: usize, shown: u32) -> Result<()> {
        if shown == NIL {
            self.busy.clear(cpu);
            self.bound_leaves(cpu);
            return Ok(());
        }
        let u = units.get_mut(shown as usize).ok_or_else(Error::corrupt)?;
        u.on_cpu = cpu as u32;
        let k = prio_key(u, o);
        if let Some(p) = self.pcpus.get_mut(cpu) {
            p.key = k;
        }
        self.busy.set(cpu);
        self.raise_bound(cpu, k);
        Ok(())
    }

    /// Drops `cpu`'s `phantom`, keeping what it runs.
    pub(crate) fn clear_phantom(&mut self, units: &mut [Unit], o: Order, cpu: usize) -> Result<()> {
        let curr = self.pcpus.get(cpu).map_or(NIL, |p| p.curr);
        self.assign(units, o, cpu, curr, NIL)
    }

    /// After `u`'s priority key changed (level, deadline, period, extratime flag): refreshes
    /// the key of the CPU it runs or idles on, if any. O(1).
    pub(crate) fn refresh_key(&mut self, u: &Unit, h: u32, o: Order) {
        let cpu = u.on_cpu as usize;
        if let Some(p) = self.pcpus.get_mut(cpu) {
            if p.shown() == h {
                let k = prio_key(u, o);
                p.key = k;
                self.raise_bound(cpu, k);
            }
        }
    }

    /// Every busy CPU's key recomputed under `o` (a priority-scheme switch), and the bounds
    /// reset to their maximum. O(CPUs).
    pub(crate) fn rekey_all(&mut self, units: &[Unit], o: Order) -> Result<()> {
        // (An upper bound need not be tight: the next tickle's scan makes it exact.)
        let mut bound = PrioKey::ZERO;
        for c in self.busy.iter() {
            let Some(p) = self.pcpus.get_mut(c) else {
                continue;
            };
            let k = prio_key(units.get(p.shown() as usize).ok_or_else(Error::corrupt)?, o);
            p.key = k;
            bound = bound.max(k);
        }
        self.bound = bound;
        self.bound2 = bound;
        self.bound_cpu = NIL;
        self.group_bound = [bound; MAX_GROUPS];
        Ok(())
    }

    /// `cpu`'s key may have risen to `k` (or it may have joined the set): keeps `bound` and
    /// `bound2` upper bounds.
    #[inline(always)]
    fn raise_bound(&mut self, cpu: usize, k: PrioKey) {
        // (Copied only when raised: a key is four fields.)
        if k > self.bound {
            self.bound = k;
        }
        if self.bound_cpu != cpu as u32 && k > self.bound2 {
            self.bound2 = k;
        }
        let gs = self.groups_of(cpu);
        if gs != 0 {
            self.raise_group_bounds(gs, k);
        }
    }

    /// [`Self::raise_bound`] for the groups of `gs` (out of line: without groups a CPU has
    /// none).
    #[inline(never)]
    fn raise_group_bounds(&mut self, gs: u64, k: PrioKey) {
        for g in bits(gs) {
            if let Some(b) = self.group_bound.get_mut(g) {
                if k > *b {
                    *b = k;
                }
            }
        }
    }

    /// Whether no untickled CPU of group `g`'s mask runs anything of lower priority than
    /// key `k` (see the module docs).
    pub(crate) fn below_group_bound(&self, g: usize, k: PrioKey) -> bool {
        self.group_bound.get(g).is_none_or(|b| k < *b)
    }

    /// A scan for a unit of group `g` found `top` the highest key of the group's CPUs in the
    /// set (`None`: none of them is in it).
    pub(crate) fn set_group_bound(&mut self, g: usize, top: Option<PrioKey>) {
        if let Some(b) = self.group_bound.get_mut(g) {
            *b = top.unwrap_or(PrioKey::MIN);
        }
    }

    /// The bound of group `g`'s CPUs in the set.
    pub(crate) fn group_bound(&self, g: usize) -> PrioKey {
        self.group_bound.get(g).copied().unwrap_or(PrioKey::MAX)
    }

    /// `cpu` leaves the set of online, busy, untickled CPUs: if it held the bound, the bound
    /// of the others takes over.
    fn bound_leaves(&mut self, cpu: usize) {
        if self.bound_cpu == cpu as u32 {
            self.bound = self.bound2;
            self.bound_cpu = NIL;
        }
    }

    /// Whether no untickled CPU can run anything of lower priority than key `k`.
    pub(crate) fn below_bound(&self, k: PrioKey) -> bool {
        k < self.bound
    }

    /// The unit `cpu`'s last tickle was for.
    pub(crate) fn tickled_for(&self, cpu: usize) -> u32 {
        self.pcpus.get(cpu).map_or(NIL, |p| p.tickled_for)
    }

    /// Sets the unit `cpu`'s last tickle was for, keeping the `retickle` mask.
    pub(crate) fn set_tickled_for(&mut self, cpu: usize, h: u32) {
        if let Some(p) = self.pcpus.get_mut(cpu) {
            p.tickled_for = h;
            if h == NIL {
                self.retickle.clear(cpu);
            } else {
                self.retickle.set(cpu);
            }
        }
    }

    /// Asks `cpu` to reschedule.
    pub(crate) fn tickle(&mut self, cpu: usize, a: &mut Actions) {
        self.tickled.set(cpu);
        self.bound_leaves(cpu);
        a.reschedule.set(cpu);
    }

    /// Asks every online CPU to reschedule.
    pub(crate) fn tickle_all(&mut self, a: &mut Actions) {
        a.reschedule = self.online;
        self.tickled = self.online;
    }

    /// `cpu` runs `do_schedule`: no longer tickled. Its key counts for the bound again once
    /// [`Self::assign`] gives it the key of what it runs next (nothing in between tickles).
    pub(crate) fn untickle(&mut self, cpu: usize) {
        self.tickled.clear(cpu);
    }

    /// The tickle's scan (out of line, so that the common paths of a tickle keep a small
    /// frame): over the online, busy, untickled CPUs of `affinity` in cycle order from
    /// `start`, the first one running the lowest-priority unit, with its key. When
    /// `affinity` covers the whole set, the scan makes the bounds exact on the way; a
    /// narrower affinity (pinned units) scans only its own CPUs and leaves the bounds as
    /// they are (still upper bounds), so that a pinned unit's tickle is O(its CPUs).
    #[inline(never)]
    pub(crate) fn scan_lowest(
        &mut self,
        affinity: CpuMask,
        start: usize,
    ) -> Option<(PrioKey, usize)> {
        // The highest key, the first CPU holding it in cycle order and (the whole set) the
        // highest key of the others. (Keys are copied only when they win.)
        let mut top = PrioKey::ZERO;
        let mut top_cpu = NIL;
        let mut second = PrioKey::ZERO;
        let pcpus = &*self.pcpus;
        let mut visit = |whole: bool, c: usize| {
            let Some(p) = pcpus.get(c) else { return };
            if top_cpu == NIL {
                top = p.key;
                top_cpu = c as u32;
            } else if p.key > top {
                if whole && top > second {
                    second = top;
                }
                top = p.key;
                top_cpu = c as u32;
            } else if whole && p.key > second {
                second = p.key;
            }
        };
        let whole = if self.one_word() {
            let set = self.online.word0() & self.busy.word0() & !self.tickled.word0();
            let whole = set & !affinity.word0() == 0;
            let look = if whole { set } else { set & affinity.word0() };
            CpuMask::for_each_cycle_word0(look, start, |c| visit(whole, c));
            whole
        } else {
            let set = self.online.and(&self.busy).and_not(&self.tickled);
            let whole = set.and_not(&affinity).is_empty();
            let look = if whole { set } else { set.and(&affinity) };
            look.for_each_cycle(start, pcpus.len(), |c| visit(whole, c));
            whole
        };
        if whole {
            self.bound = top;
            self.bound_cpu = top_cpu;
            self.bound2 = second;
        }
        (top_cpu != NIL).then_some((top, top_cpu as usize))
    }
}

/// Unit `h` (if any) no longer runs or idles on `cpu`.
#[inline(always)]
fn leave(units: &mut [Unit], cpu: usize, h: u32) {
    if let Some(u) = units.get_mut(h as usize) {
        if u.on_cpu == cpu as u32 {
            u.on_cpu = NIL;
        }
    }
}
