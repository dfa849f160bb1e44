//! The run queue as one queue: the shared heap (`Scheduler::runq`, units allowed on every
//! CPU of the instance, and those of the affinity groups that found no slot), each CPU's
//! pinned queue (units whose hard affinity is that CPU alone, [`crate::pairing`]) and each
//! affinity group's queue (units that share any other affinity, [`super::groups`]). All keep
//! the run queue's total order ([`crate::queues::run_before`]), so the first unit allowed on
//! a CPU is the best of the shared heap's first allowed unit, the head of that CPU's pinned
//! queue and the heads of the groups holding the CPU, and the head of the run queue is the
//! best of the shared head, the pinned heads and the group heads (cached).
//!
//! A unit's place follows its affinity ([`Scheduler::home_acquire`], kept in its `pin_home`
//! as a queue code, [`Home`]); where it is queued is recorded in its `pin_cpu`; an affinity
//! change re-queues a queued unit.

use super::groups::{bits, in_shared_heap, Home, GROUP_MIN_UNITS};
use super::{get, get_mut, Scheduler};
use crate::cpumask::CpuMask;
use crate::error::{Error, Result};
use crate::pairing;
use crate::queues::run_before;
use crate::unit::{QueueKind, Unit, NIL};

impl<'a> Scheduler<'a> {
    /// The CPU whose pinned queue a unit with `affinity` joins when queued: the only CPU of
    /// its affinity, if it is one of the instance's and the instance has others (with one
    /// CPU, as under rt-partition, the shared heap is that CPU's queue); [`NIL`] for the
    /// shared heap. (Kept in each unit's `pin_home` wherever its affinity is set.)
    pub(crate) fn pin_for(&self, affinity: &CpuMask) -> u32 {
        if self.cpus.len() > 1 && affinity.count() == 1 {
            if let Some(c) = affinity.first() {
                if c < self.cpus.len() {
                    return c as u32;
                }
            }
        }
        NIL
    }

    /// The affinity group a unit with `affinity` belongs to: its CPUs among the instance's,
    /// when they are at least two and not all of them (`None`: the shared heap, or a single
    /// CPU's pinned queue, [`Self::pin_for`]).
    pub(crate) fn group_mask(&self, affinity: &CpuMask) -> Option<CpuMask> {
        let n = self.cpus.len();
        if n <= 1 || self.pin_for(affinity) != NIL {
            return None;
        }
        let mine = affinity.and(&CpuMask::first_n(n));
        let k = mine.count() as usize;
        if k < 2 || k == n {
            return None;
        }
        Some(mine)
    }

    /// The queue code of the home of a unit given `affinity` (a CPU's pinned queue, a group
    /// or the shared heap, see [`Home`]), counting the unit in its group's slot, which is a
    /// group if the instance has [`GROUP_MIN_UNITS`] units (see [`Self::grow_groups`]). A
    /// unit's home is released with [`Self::home_release`] before its affinity changes or it
    /// is freed.
    pub(super) fn home_acquire(&mut self, affinity: &CpuMask) -> u32 {
        let pin = self.pin_for(affinity);
        if pin != NIL {
            return pin;
        }
        let Some(mask) = self.group_mask(affinity) else {
            return NIL;
        };
        // Every slot taken: the shared heap, searched as before groups.
        let Some((g, _)) = self.groups.acquire(&mask) else {
            return NIL;
        };
        if !self.groups.is_active(g) {
            if (self.nr_units as usize) < GROUP_MIN_UNITS {
                return Home::waiting_code(g);
            }
            // (A new slot: at this size every other slot is a group already.)
            self.groups.activate(g);
            self.cpus.set_group(&mask, g, true);
        }
        Home::group_code(g)
    }

    /// After a unit was allocated (`nr_units` counts it): if the instance has reached
    /// [`GROUP_MIN_UNITS`] units, every slot in use becomes a group and the units waiting for
    /// it move to its queue. O(unit slots) each time the instance grows to that size, O(1)
    /// otherwise.
    pub(super) fn grow_groups(&mut self) -> Result<()> {
        let new = self.groups.used() & !self.groups.active();
        if new == 0 || (self.nr_units as usize) < GROUP_MIN_UNITS {
            return Ok(());
        }
        for g in bits(new) {
            self.groups.activate(g);
            let mask = self.groups.get(g).mask;
            self.cpus.set_group(&mask, g, true);
        }
        for h in 0..self.units.len() as u32 {
            let u = get(self.units, h)?;
            let Home::Waiting(g) = Home::of(u.pin_home) else {
                continue;
            };
            let (queued, seq) = (u.queue == QueueKind::Run, u.runq_seq);
            if queued {
                self.q_remove(h)?;
            }
            get_mut(self.units, h)?.pin_home = Home::group_code(g);
            if queued {
                // (Its place among equals kept, as a re-sort keeps it.)
                self.runq_requeue(h, seq)?;
            }
        }
        Ok(())
    }

    /// A unit whose home was `code` leaves it (it must not be queued).
    pub(super) fn home_release(&mut self, code: u32) {
        if let Home::Group(g) | Home::Waiting(g) = Home::of(code) {
            if let Some(mask) = self.groups.release(g) {
                self.cpus.set_group(&mask, g, false);
            }
        }
    }

    /// The root of the pinned or group queue of `code` ([`NIL`] for the shared heap).
    fn side_root(&self, code: u32) -> u32 {
        match Home::of(code) {
            Home::Shared | Home::Waiting(_) => NIL,
            Home::Cpu(c) => self.cpus.pinned_root(c),
            Home::Group(g) => self.groups.root(g),
        }
    }

    /// Sets the root of the pinned or group queue of `code`.
    fn set_side_root(&mut self, code: u32, root: u32) -> Result<()> {
        match Home::of(code) {
            Home::Shared | Home::Waiting(_) => Err(Error::corrupt()),
            Home::Cpu(c) => self.cpus.set_pinned_root(c, root),
            Home::Group(g) => {
                if self.groups.set_root(g, root) {
                    Ok(())
                } else {
                    Err(Error::corrupt())
                }
            }
        }
    }

    /// The better of two candidates in run-queue order.
    fn better(&self, a: Option<u32>, b: Option<u32>) -> Result<Option<u32>> {
        Ok(match (a, b) {
            (Some(x), Some(y)) => {
                if run_before(get(self.units, y)?, get(self.units, x)?, self.order()) {
                    Some(y)
                } else {
                    Some(x)
                }
            }
            (x, None) => x,
            (None, y) => y,
        })
    }

    /// Puts `h` (its `queue` already set to the run queue) in its place. O(log n).
    pub(super) fn runq_push(&mut self, h: u32) -> Result<()> {
        let o = self.order();
        let clock = self.interference;
        let u = get_mut(self.units, h)?;
        u.wait_mark = clock;
        let pin = u.pin_home;
        if in_shared_heap(pin) {
            self.runq.push(self.units, h, o)?;
        } else {
            let root = pairing::push(self.units, self.side_root(pin), h, o)?;
            self.set_side_root(pin, root)?;
            get_mut(self.units, h)?.pin_cpu = pin;
            self.pinned_len += 1;
        }
        self.keep_head(h)
    }

    /// After `h` entered the run queue or moved up in it (not the cached head): keeps the
    /// cached head. Without pinned units the head is the shared heap's and nothing is
    /// cached.
    fn keep_head(&mut self, h: u32) -> Result<()> {
        if self.pinned_len == 0 {
            self.head_ok = false;
        } else if self.head_ok {
            let head = self.head;
            self.head = self.better(head, Some(h))?;
        }
        Ok(())
    }

    /// Takes `h` out of the run queue. O(log n).
    pub(super) fn runq_del(&mut self, h: u32) -> Result<()> {
        let clock = self.interference;
        let forget = self.mutant(crate::mutants::Mutant::ExcuseForgetsWaiting);
        let u = get_mut(self.units, h)?;
        // (Still on the run queue here: the wait ends now.)
        if !forget {
            u.interference = u.interference_at(clock);
        }
        let pin = u.pin_cpu;
        if pin == NIL {
            let o = self.order();
            self.runq.remove(self.units, h, o)?;
        } else {
            self.pinned_take(pin, h, false)?;
            get_mut(self.units, h)?.pin_cpu = NIL;
            self.pinned_len = self.pinned_len.checked_sub(1).ok_or_else(Error::corrupt)?;
        }
        self.forget_head(h);
        Ok(())
    }

    /// Restores the order after `h`'s key changed while queued. O(log n).
    pub(super) fn runq_update(&mut self, h: u32) -> Result<()> {
        let pin = get(self.units, h)?.pin_cpu;
        if pin == NIL {
            let o = self.order();
            self.runq.update(self.units, h, o)?;
        } else {
            self.pinned_take(pin, h, true)?;
        }
        if self.forget_head(h) {
            Ok(())
        } else {
            self.keep_head(h)
        }
    }

    /// Takes `h` out of the pinned or group queue of `pin`, and puts it back in order if
    /// `reinsert`.
    fn pinned_take(&mut self, pin: u32, h: u32, reinsert: bool) -> Result<()> {
        let o = self.order();
        let root = pairing::remove(self.units, self.side_root(pin), h, o)?;
        let root = if reinsert {
            pairing::push(self.units, root, h, o)?
        } else {
            root
        };
        self.set_side_root(pin, root)
    }

    /// The cached head is no longer known if it was `h`; says whether it was.
    fn forget_head(&mut self, h: u32) -> bool {
        let was = self.head == Some(h);
        if was {
            self.head_ok = false;
        }
        was
    }

    /// Re-orders the whole run queue (every key changed). O(n log n).
    pub(super) fn runq_rebuild(&mut self) -> Result<()> {
        let o = self.order();
        self.runq.rebuild(self.units, o)?;
        let pinned = *self.cpus.pinned();
        for c in pinned.iter() {
            let root = pairing::rebuild(self.units, self.cpus.pinned_root(c), o)?;
            self.cpus.set_pinned_root(c, root)?;
        }
        for g in bits(self.groups.queued()) {
            let root = pairing::rebuild(self.units, self.groups.root(g), o)?;
            self.groups.set_root(g, root);
        }
        self.head_ok = false;
        Ok(())
    }

    /// How many units are on the run queue.
    pub(crate) fn runq_len(&self) -> usize {
        self.runq.len() + self.pinned_len
    }

    /// The run queue's head, computed. O(CPUs with pinned units + groups with units).
    fn compute_head(&self) -> Result<Option<u32>> {
        let mut best = self.runq.peek();
        if self.pinned_len > 0 {
            for c in self.cpus.pinned().iter() {
                best = self.better(best, Some(self.cpus.pinned_root(c)))?;
            }
            for g in bits(self.groups.queued()) {
                best = self.better(best, Some(self.groups.root(g)))?;
            }
        }
        Ok(best)
    }

    /// The run queue's head (cached).
    pub(super) fn runq_head_cached(&mut self) -> Result<Option<u32>> {
        if self.pinned_len == 0 {
            return Ok(self.runq.peek());
        }
        if !self.head_ok {
            self.head = self.compute_head()?;
            self.head_ok = true;
        }
        Ok(self.head)
    }

    /// The run queue's head, without touching the cache (read-only callers).
    pub(crate) fn runq_head_now(&self) -> Result<Option<u32>> {
        if self.head_ok && self.pinned_len > 0 {
            return Ok(self.head);
        }
        self.compute_head()
    }

    /// The first unit in run-queue order allowed on `cpu` for which `ok` holds (`ok` must
    /// imply that the unit allows `cpu`): the best of the shared heap's, `cpu`'s pinned
    /// queue's and those of the groups holding `cpu`.
    pub(super) fn runq_first_on(
        &self,
        cpu: usize,
        ok: impl Fn(&Unit) -> bool,
    ) -> Result<Option<u32>> {
        let o = self.order();
        let mut best = if self.runq.is_empty() {
            None
        } else {
            self.runq.first_matching(self.units, o, &ok)?
        };
        if self.pinned_len == 0 {
            return Ok(best);
        }
        let root = self.cpus.pinned_root(cpu);
        if root != NIL {
            let pinned = pairing::first_matching(self.units, root, o, &ok)?;
            best = self.better(best, pinned)?;
        }
        let gs = self.cpus.groups_of(cpu) & self.groups.queued();
        if gs == 0 {
            return Ok(best);
        }
        self.first_in_groups(gs, best, ok)
    }

    /// [`Self::runq_first_on`] in the groups of `gs`: the better of `best` and their first
    /// matching units (out of line: a pick without grouped units never comes here).
    #[inline(never)]
    fn first_in_groups(
        &self,
        mut gs: u64,
        mut best: Option<u32>,
        ok: impl Fn(&Unit) -> bool,
    ) -> Result<Option<u32>> {
        let o = self.order();
        if self.mutant(crate::mutants::Mutant::PickSkipsGroups) {
            gs &= gs.wrapping_neg();
        }
        for g in bits(gs) {
            let head = pairing::first_matching(self.units, self.groups.root(g), o, &ok)?;
            best = self.better(best, head)?;
        }
        Ok(best)
    }

    /// The first unit in run-queue order allowed on a CPU of `cpus` for which `ok` holds
    /// (`ok` must imply that the unit allows one of them).
    pub(super) fn runq_first_on_any(
        &self,
        cpus: &CpuMask,
        ok: impl Fn(&Unit) -> bool,
    ) -> Result<Option<u32>> {
        let o = self.order();
        let mut best = if self.runq.is_empty() {
            None
        } else {
            self.runq.first_matching(self.units, o, &ok)?
        };
        if self.pinned_len > 0 {
            for c in self.cpus.pinned().and(cpus).iter() {
                let root = self.cpus.pinned_root(c);
                let p = pairing::first_matching(self.units, root, o, &ok)?;
                best = self.better(best, p)?;
            }
            for g in bits(self.groups.queued()) {
                if self.groups.get(g).mask.and(cpus).is_empty() {
                    continue;
                }
                let p = pairing::first_matching(self.units, self.groups.root(g), o, &ok)?;
                best = self.better(best, p)?;
            }
        }
        Ok(best)
    }

    /// The `i`-th unit of the run queue: the shared heap in heap order, then each CPU's
    /// pinned queue and each group's in preorder (for dumps).
    pub(crate) fn runq_nth(&self, i: usize) -> Option<u32> {
        if i < self.runq.len() {
            return self.runq.at(i);
        }
        let mut k = i - self.runq.len();
        for c in self.cpus.pinned().iter() {
            let root = self.cpus.pinned_root(c);
            let n = pairing::len(self.units, root);
            if k < n {
                return pairing::nth(self.units, root, k);
            }
            k -= n;
        }
        for g in bits(self.groups.queued()) {
            let root = self.groups.root(g);
            let n = pairing::len(self.units, root);
            if k < n {
                return pairing::nth(self.units, root, k);
            }
            k -= n;
        }
        None
    }
}
