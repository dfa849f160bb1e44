//! Which CPU must reschedule for a queued unit (Xen's `runq_tickle`), and the pushes after a
//! pick that rt.c leaves out (ARCHITECTURE.md, deliberate differences 9 and 10).

use super::enqueue::{can_run, competes};
use super::groups::Home;
use super::{get, Scheduler};
use crate::actions::Actions;
use crate::error::Result;
use crate::mutants::Mutant;
use crate::prio::prio_key;
use crate::unit::{QueueKind, NIL};

impl<'a> Scheduler<'a> {
    /// Asks a CPU to reschedule for the newly queued unit `h` (Xen's `runq_tickle`): among
    /// the online CPUs of its affinity that are not already tickled, searching from its own
    /// CPU, the first idle one; otherwise the one running the lowest-priority unit, if that
    /// is lower than `h`. O(mask words), plus O(CPUs) when `h` outranks the bound.
    pub(super) fn tickle(&mut self, h: u32, a: &mut Actions) -> Result<()> {
        let o = self.order();
        let u = get(self.units, h)?;
        if u.queue == QueueKind::Depleted || !can_run(u, self.periodic(), o) {
            // No CPU could pick it (no budget, or a blocked server on extratime) before its
            // replenishment or wake-up, which tickle again.
            self.stats.tickle_none += 1;
            return Ok(());
        }
        let ignore_tickled = self.mutant(Mutant::TickleIgnoresTickled);
        // A unit allowed on one CPU only: that CPU if it is idle or runs a lower-priority
        // unit (what the search below finds for it, without the masks and the scan; the
        // bound is only a filter, so skipping it changes no decision).
        let only = if let Home::Cpu(c) = Home::of(u.pin_home) {
            c
        } else if self.cpus.len() == 1 && u.affinity.test(0) {
            0
        } else {
            usize::MAX
        };
        if only != usize::MAX {
            if self.cpus.online().test(only) && (ignore_tickled || !self.cpus.tickled().test(only))
            {
                if !self.cpus.busy().test(only) {
                    self.stats.tickle_idle += 1;
                    self.cpus.set_tickled_for(only, h);
                    self.cpus.tickle(only, a);
                    return Ok(());
                }
                let key = prio_key(u, o);
                if self.cpus.get(only).is_some_and(|p| p.key > key) {
                    self.stats.tickle_busy += 1;
                    self.cpus.set_tickled_for(only, h);
                    self.cpus.tickle(only, a);
                    return Ok(());
                }
            }
            self.stats.tickle_none += 1;
            return Ok(());
        }
        let start = u.cpu as usize;
        // The first idle CPU in cycle order from the unit's own.
        if let Some(c) = self.cpus.first_idle(&u.affinity, ignore_tickled, start) {
            self.stats.tickle_idle += 1;
            self.cpus.set_tickled_for(c, h);
            self.cpus.tickle(c, a);
            return Ok(());
        }
        // Else the CPU running the lowest-priority unit, the first such in cycle order, if
        // lower than `h`. A CPU idling on a blocked periodic server is busy at that server's
        // priority. No untickled CPU runs anything lower than the bound.
        let key = prio_key(u, o);
        if !self.cpus.below_bound(key) {
            self.stats.tickle_none += 1;
            return Ok(());
        }
        let affinity = u.affinity;
        let group = match Home::of(u.pin_home) {
            Home::Group(g) => Some(g),
            _ => None,
        };
        if let Some(g) = group {
            if !self.cpus.below_group_bound(g, key) {
                self.stats.tickle_none += 1;
                return Ok(());
            }
        }
        let found = self.cpus.scan_lowest(affinity, start);
        if let Some(g) = group {
            // (Its CPUs in the set are the CPUs the scan looked at.)
            self.cpus.set_group_bound(g, found.map(|(k, _)| k));
        }
        if let Some((k, c)) = found {
            if k > key {
                self.stats.tickle_busy += 1;
                self.cpus.set_tickled_for(c, h);
                self.cpus.tickle(c, a);
                return Ok(());
            }
        }
        self.stats.tickle_none += 1;
        Ok(())
    }

    /// After `cpu` picked its next unit, the unit its last tickle was for may still be queued
    /// (the CPU took a higher-priority one). rt.c leaves it queued until some later event,
    /// even with an idle CPU in its affinity. Here that unit is tickled again (it may
    /// outrank a unit running on another CPU of its affinity), and the highest-priority
    /// queued unit with an idle, untickled, served CPU in its affinity gets that CPU
    /// tickled. O(mask words), plus the run queue's search (`sched/runq.rs`) when such a
    /// CPU exists.
    ///
    /// Only `cpu`'s tickle can need renewing: a CPU's `tickled_for` is set with its tickle,
    /// and only its own pick clears the tickle (`Cpus::add` and `Cpus::remove` clear both),
    /// so between hooks every CPU in `retickle` is tickled (checked by
    /// [`crate::invariants::check`]).
    ///
    /// No other queued unit needs a tickle here: each was tickled when it was queued, and
    /// a CPU of its affinity since then either picked (the best unit it may run, so not one
    /// below it), had its tickle renewed here, or had its unit's key raised by a
    /// replenishment (which compares it with the queue, `replenish.rs`). The property test
    /// of `model-tests/tests/invariants_every_policy.rs` checks that after the requests
    /// settle no CPU runs a unit below a queued unit it may run.
    #[inline(always)]
    pub(super) fn push_queued(&mut self, cpu: usize, a: &mut Actions) -> Result<()> {
        let t = self.cpus.tickled_for(cpu);
        if t != NIL && !self.cpus.tickled().test(cpu) {
            self.cpus.set_tickled_for(cpu, NIL);
            if get(self.units, t)?.queue == QueueKind::Run {
                self.tickle(t, a)?;
            }
        }
        // (Nothing queued, or no idle CPU to push it to.)
        if self.runq_len() == 0 || !self.cpus.any_push_target() {
            return Ok(());
        }
        self.push_to_idle(a)
    }

    /// [`Self::push_queued`]'s search for the best queued unit with an idle CPU (out of
    /// line: the check above is the common case at small sizes).
    #[inline(never)]
    fn push_to_idle(&mut self, a: &mut Actions) -> Result<()> {
        let idle = self.cpus.push_targets();
        let periodic = self.periodic();
        let o = self.order();
        // First with the pick's test (`competes`: a unit that is not runnable counts under
        // a deferrable server), so that finding nothing proves every CPU of `idle` unserved:
        // the next picks and pushes there skip the search.
        let mut found = self.runq_first_on_any(&idle, |u| {
            competes(u, periodic, o) && !u.affinity.and(&idle).is_empty()
        })?;
        let Some(first) = found else {
            self.cpus.set_unserved_all(&idle);
            return Ok(());
        };
        if !periodic && !get(self.units, first)?.runnable {
            // (Rare: a domain paused without the scheduler lock. The push is for the first
            // runnable one.)
            found =
                self.runq_first_on_any(&idle, |u| u.runnable && !u.affinity.and(&idle).is_empty())?;
        }
        if let Some(h) = found {
            let u = get(self.units, h)?;
            if let Some(c) = u.affinity.and(&idle).test_or_cycle(u.cpu as usize) {
                self.stats.tickle_idle += 1;
                self.cpus.tickle(c, a);
            }
        }
        Ok(())
    }
}
