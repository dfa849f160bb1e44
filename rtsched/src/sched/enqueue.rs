//! The queues as the hooks use them: picking from the run queue, putting a unit on the run
//! or depleted queue, the replenishment queue, budget burn, and the timer operation that
//! follows the replenishment queue's head.

use super::{get, get_mut, Scheduler};
use crate::actions::{Actions, TimerOp};
use crate::cpumask::CpuMask;
use crate::error::{Error, Result};
use crate::mutants::Mutant;
use crate::prio::{is_background, Order};
use crate::unit::{Burn, QueueKind, Unit, UnitFlags, NIL};

impl<'a> Scheduler<'a> {
    /// Burns the budget a running unit used since `last_start` (see [`crate::unit::Unit::burn`]).
    pub(super) fn burn_budget(&mut self, h: u32, now: i64, phantom: bool) -> Result<()> {
        let one_short = self.mutant(Mutant::BurnOneShort);
        let u = get_mut(self.units, h)?;
        let was_background = is_background(u);
        let burn = u.burn(now, phantom);
        if one_short {
            crate::mutants::refund_one(u);
        }
        match burn {
            Burn::Charged => {}
            Burn::Exhausted(over) => {
                self.count_overrun(over);
                if !was_background {
                    self.place_background(h);
                }
                self.refresh_key(h);
            }
        }
        Ok(())
    }

    /// Counts an overrun (`stat overrun_ns`) when a unit with budget was waiting meanwhile,
    /// the one an overrun can take time from (as far as the run queue now shows).
    pub(super) fn count_overrun(&mut self, over: i64) {
        if over > 0 {
            self.interference = self.interference.saturating_add(over);
            if self.runq_len() != 0 {
                self.stats.overrun_ns = self.stats.overrun_ns.wrapping_add(over as u64);
            }
        }
    }

    /// The first run-queue unit allowed on `cpu`. A non-runnable unit met on the way (a
    /// domain paused without the scheduler lock) is dropped from both queues and the search
    /// goes on (upstream fixes 0f1dec89d3 and 73c62927f6).
    pub(super) fn runq_pick(&mut self, cpu: usize) -> Result<u32> {
        let periodic = self.periodic();
        let o = self.order();
        if self.cpus.unserved().test(cpu) {
            return Ok(NIL);
        }
        // (No unit is pickable on a CPU that is not online: the search would find nothing.)
        let online = self.cpus.online().test(cpu);
        let bit = CpuMask::bit(cpu);
        // The common cases, first: the run queue is the shared heap alone, and it is empty
        // or its head, a runnable unit, allows `cpu` (what the search below concludes then,
        // in O(1); an idle CPU's pick on an empty queue is 30% of the picks of the benchmark's
        // global workload at 8 units on 4 CPUs).
        if online && self.pinned_len == 0 {
            let Some(h) = self.runq.peek() else {
                self.cpus.set_unserved(cpu);
                return Ok(NIL);
            };
            let u = get(self.units, h)?;
            if u.runnable && pickable_here(u, bit, periodic, o) {
                return Ok(h);
            }
        }
        loop {
            let found = if online {
                self.runq_first_on(cpu, |u| pickable_here(u, bit, periodic, o))?
            } else {
                None
            };
            let Some(h) = found else {
                self.cpus.set_unserved(cpu);
                return Ok(NIL);
            };
            if get(self.units, h)?.runnable || periodic {
                return Ok(h);
            }
            self.stats.dropped_unrunnable += 1;
            self.spare_release(h)?;
            self.q_remove(h)?;
            self.replq_remove(h)?;
        }
    }

    /// Puts a unit that is on the replenishment queue on the run queue (budget left or
    /// extratime) or the depleted queue. A unit with extratime and no budget left is refilled
    /// one level down first, so no unit on the run queue has zero budget (upstream fix
    /// 37b49cb48e).
    pub(crate) fn runq_insert(&mut self, h: u32) -> Result<()> {
        let seq = self.next_seq();
        self.runq_insert_seq(h, seq)
    }

    /// [`Self::runq_insert`] keeping the unit's place among equals: the replenishment
    /// handler re-sorts queued units without sending them behind units of equal priority
    /// queued after them, so equal units take turns (round robin) instead of depending on
    /// the order of replenishment.
    pub(super) fn runq_resort(&mut self, h: u32) -> Result<()> {
        let u = get(self.units, h)?;
        // (Its level may have dropped to the reserved one: pickable again.)
        self.cpus.served(&u.affinity);
        if u.queue == QueueKind::Run && u.cur_budget > 0 && !u.flags.contains(UnitFlags::SCHEDULED)
        {
            // It stays on the run queue with its sequence number: re-sorted in place, which
            // is the order a removal and re-insertion would give (the order is total, so the
            // heap's layout decides nothing).
            return self.runq_update(h);
        }
        let seq = u.runq_seq;
        self.q_remove(h)?;
        self.runq_insert_seq(h, seq)
    }

    /// Puts `h`, taken off the run queue with its budget, back with its sequence number.
    pub(super) fn runq_requeue(&mut self, h: u32, seq: u64) -> Result<()> {
        self.runq_insert_seq(h, seq)
    }

    fn runq_insert_seq(&mut self, h: u32, seq: u64) -> Result<()> {
        let u = get_mut(self.units, h)?;
        if u.queue != QueueKind::None || u.flags.contains(UnitFlags::SCHEDULED) {
            return Err(Error::corrupt());
        }
        if u.cur_budget <= 0 && u.has_extratime() && u.runnable {
            let was_background = is_background(u);
            u.refill_extratime();
            if !was_background {
                self.place_background(h);
            }
            self.refresh_key(h);
        }
        let u = get_mut(self.units, h)?;
        if u.cur_budget > 0 {
            u.queue = QueueKind::Run;
            u.runq_seq = seq;
            let affinity = u.affinity;
            self.cpus.served(&affinity);
            self.runq_push(h)
        } else {
            u.queue = QueueKind::Depleted;
            self.depleted.push(self.units, h)
        }
    }

    /// Takes a unit off the run or depleted queue (nothing if on neither).
    pub(super) fn q_remove(&mut self, h: u32) -> Result<()> {
        match get(self.units, h)?.queue {
            QueueKind::None => return Ok(()),
            QueueKind::Run => self.runq_del(h)?,
            QueueKind::Depleted => self.depleted.remove(self.units, h)?,
        }
        get_mut(self.units, h)?.queue = QueueKind::None;
        Ok(())
    }

    #[inline]
    pub(super) fn replq_insert(&mut self, h: u32) -> Result<()> {
        let seq = self.next_seq();
        get_mut(self.units, h)?.replq_seq = seq;
        self.replq.push(self.units, h, self.order())
    }

    pub(super) fn replq_remove(&mut self, h: u32) -> Result<()> {
        if get(self.units, h)?.on_replq() {
            self.replq.remove(self.units, h, self.order())?;
        }
        Ok(())
    }

    fn next_seq(&mut self) -> u64 {
        self.seq = self.seq.wrapping_add(1);
        self.seq
    }

    /// Derives the timer operation from the replenishment queue's head: the timer must be
    /// programmed for the earliest pending replenishment, or stopped when none is pending.
    /// Reads the head only when the queue changed since the last call.
    pub(super) fn sync_timer(&mut self, a: &mut Actions) {
        // (The head's deadline only changes with the queue: a unit's deadline changes only
        // off the replenishment queue.)
        if !self.replq.take_changed() {
            return;
        }
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
}

/// Whether `do_schedule` may pick `u` on `cpu` (before a non-runnable unit is dropped): the
/// unit's affinity and the CPU's pool allow it, and a blocked periodic server competes on its
/// reserved budget only. [`Scheduler::runq_peek`] and [`Scheduler::runq_pick`] share it, so
/// that the unit a host checks is the unit the pick meets first.
pub(super) fn pickable(u: &Unit, cpu: usize, online: CpuMask, periodic: bool, o: Order) -> bool {
    online.test(cpu) && pickable_here(u, CpuMask::bit(cpu), periodic, o)
}

/// [`pickable`] on an online CPU given by its [`CpuMask::bit`] (the search's per-unit test).
#[inline]
fn pickable_here(u: &Unit, cpu: (usize, u64), periodic: bool, o: Order) -> bool {
    u.affinity.test_bit(cpu) && competes(u, periodic, o)
}

/// Whether a queued unit counts for a pick on a CPU of its affinity: under the deferrable
/// server any unit (a pick drops one that is not runnable), under the periodic server a
/// runnable one or a blocked server on its reserved budget. `unserved` (`sched/cpus.rs`)
/// records CPUs where no queued unit does.
#[inline]
pub(crate) fn competes(u: &Unit, periodic: bool, o: Order) -> bool {
    !periodic || u.runnable || o.on_reserved_budget(u)
}

/// Whether a queued unit has work for a CPU now: it is runnable, or (periodic server) a
/// blocked server on its reserved budget, whose budget is consumed from now on. Under the
/// deferrable server a unit that is not runnable [`competes`] but has none: a tickle for
/// it would wake a CPU that then drops it.
#[inline]
pub(crate) fn can_run(u: &Unit, periodic: bool, o: Order) -> bool {
    u.runnable || (periodic && o.on_reserved_budget(u))
}
