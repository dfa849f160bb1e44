//! The replenishment timer (Xen's `repl_timer_handler`).

use core::cmp::Ordering;

use super::enqueue::can_run;
use super::{get, get_mut, Scheduler};
use crate::actions::{Actions, TimerOp};
use crate::error::Result;
use crate::mutants::Mutant;
use crate::params::diff;
use crate::prio::prio_cmp;
use crate::unit::{QueueKind, UnitFlags, NIL};

impl<'a> Scheduler<'a> {
    /// The replenishment timer fired at `now` (Xen's `repl_timer_handler`): every unit whose
    /// deadline has passed gets a new period and a full budget, the run queue is re-sorted,
    /// and CPUs are tickled as rt.c does. The returned timer operation programs the next
    /// expiry (or stops the timer when nothing is pending).
    pub fn timer_fire(&mut self, now: i64) -> Result<Actions> {
        let t = self.hook_time(now)?;
        let now = self.advance(t);
        let mut a = Actions::default();
        self.stats.timer_fires += 1;
        // How late the host delivered the expiry it was asked for, when a CPU idles: time
        // in which a unit waiting for its budget could have run (a diagnosis beside
        // `excused_ns`, which the e2e checks allow).
        if let Some(expiry) = self.timer {
            if !self.cpus.idle().is_empty() {
                let late = diff(now, expiry).max(0);
                self.stats.timer_late_ns = self.stats.timer_late_ns.wrapping_add(late as u64);
            }
        }
        // The timer has fired: it is no longer programmed.
        self.timer = None;
        self.replq.mark_changed();
        let due = self.replenish_due(now, &mut a);
        // (Closed whatever happened: the order is back before anything reads it.)
        if self.mutant(Mutant::BatchNotRebuilt) {
            self.runq.end_batch_unordered();
        } else {
            self.runq.end_batch(self.units, self.order())?;
        }
        let mut tmp = due?;
        // rt.c builds its temporary list by head insertion: walk it in the same order.
        while tmp != NIL {
            let h = tmp;
            let (queued, raised) = {
                let u = get_mut(self.units, h)?;
                tmp = u.tmp_next;
                u.tmp_next = NIL;
                let raised = u.flags.contains(UnitFlags::RAISED);
                u.flags.remove(UnitFlags::RAISED);
                (u.queue != QueueKind::None, raised)
            };
            let on = self.cpus.shown(get(self.units, h)?, h).cpu();
            if let Some(c) = on.filter(|_| self.runq_len() != 0) {
                self.replenished_running(h, c, &mut a)?;
            } else {
                let periodic = self.periodic();
                let no_tickle = self.mutant(Mutant::TimerNoTickleDepleted);
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
                if queued && (was_depleted || raised || (periodic && !u.runnable)) && !no_tickle {
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

    /// The first part of [`Self::timer_fire`]: every due unit, earliest deadline first, leaves
    /// the replenishment queue, gets its new period and is re-sorted in the run queue.
    /// Returns the list of them (through `tmp_next`, the last one first, as rt.c's).
    ///
    /// A burst (equal periods make every unit due at once, as in Table 4.2) re-sorts many
    /// units of the shared heap. Past [`batch_min`] of them the rest are re-sorted in one
    /// batch ([`crate::queues::Heap::begin_batch`], closed by the caller): one rebuild,
    /// about two comparisons per unit of the heap, instead of a sift of up to log2(n) levels
    /// each. A cost decision only: the order is total, so both give the same queue.
    fn replenish_due(&mut self, now: i64, a: &mut Actions) -> Result<u32> {
        let mut tmp = NIL;
        // (Checked against the heap's size only once the count reaches the least threshold.)
        let mut batch_at = BATCH_MIN;
        if self.mutant(Mutant::ReplenishAlwaysBatch) || self.mutant(Mutant::BatchNotRebuilt) {
            self.runq.begin_batch();
        } else if self.mutant(Mutant::ReplenishNeverBatch) {
            batch_at = usize::MAX;
        }
        let mut resorted = 0;
        while let Some(h) = self.replq.peek() {
            if now < get(self.units, h)?.cur_deadline {
                break;
            }
            self.replq.remove(self.units, h, self.order())?;
            let running = self.is_curr(h);
            let keep_level = self.mutant(Mutant::ReplenishKeepsLevel);
            let mut over = 0;
            {
                let u = get_mut(self.units, h)?;
                if running {
                    // A new period forgets the budget used in this one (rt.c); the time run
                    // in the background class still counts for its turns there, and time
                    // run beyond the budget (a slice that ended late) is debt.
                    u.charge_background(now);
                    over = u.charge_overrun(now);
                }
                u.flags.set(UnitFlags::RAISED, u.priority_level > 0);
                u.tmp_next = tmp;
            }
            self.count_overrun(over);
            if get(self.units, h)?.spare != NIL {
                // The deadline was a spare's: renewed, or returned (see `spare.rs`). A
                // running unit's slice was cut for its old budget: its CPU picks again.
                self.spare_expire(h, now)?;
                let c = get(self.units, h)?.on_cpu;
                if c != NIL {
                    a.reschedule.set(c as usize);
                }
            }
            let clock = self.interference;
            let excuse_all = self.mutant(Mutant::ExcuseEveryLoss);
            let u = get_mut(self.units, h)?;
            if u.spare == NIL && now >= u.cur_deadline {
                let (lost, mut excused) = u.lost_at_deadline(now, running, clock);
                if excuse_all {
                    excused = lost;
                }
                self.stats.lost_ns = self.stats.lost_ns.wrapping_add(lost as u64);
                self.stats.excused_ns = self.stats.excused_ns.wrapping_add(excused as u64);
                let late = diff(now, u.cur_deadline).max(0);
                if u.queue == QueueKind::Run {
                    u.wait_mark = clock;
                }
                let level = u.priority_level;
                u.replenish(now);
                // The new period starts late by as much as this replenishment came late.
                u.interference = late;
                if keep_level {
                    crate::mutants::keep_level(u, level);
                }
                self.stats.replenishments += 1;
            }
            self.refresh_key(h);
            tmp = h;
            let u = get(self.units, h)?;
            if u.queue != QueueKind::None {
                if u.queue == QueueKind::Run && u.pin_cpu == NIL {
                    resorted += 1;
                    if resorted == batch_at {
                        batch_at = batch_min(self.runq.len());
                        if resorted >= batch_at {
                            self.runq.begin_batch();
                        }
                    }
                }
                self.runq_resort(h)?;
            } else if self.mutant(Mutant::TimerResortsScheduled) {
                self.mutant_timer_resorts_scheduled(h)?;
            }
        }
        Ok(tmp)
    }

    /// A unit running on (or, periodic server, charged to) CPU `oc` was replenished: its new
    /// deadline may rank it below a queued unit.
    fn replenished_running(&mut self, h: u32, oc: usize, a: &mut Actions) -> Result<()> {
        let o = self.order();
        if let Some(head) = self.runq_head_cached()? {
            let lower =
                prio_cmp(get(self.units, h)?, get(self.units, head)?, o) == Ordering::Greater;
            if lower {
                self.tickle(head, a)?;
            }
        }
        // rt.c compares with the head only; a unit further down the queue may outrank the
        // replenished one and be allowed on its CPU alone.
        if !self.cpus.tickled().test(oc) && !self.cpus.unserved().test(oc) {
            let periodic = self.periodic();
            let best =
                self.runq_first_on(oc, |u| u.affinity.test(oc) && can_run(u, periodic, o))?;
            if let Some(b) = best {
                if prio_cmp(get(self.units, h)?, get(self.units, b)?, o) == Ordering::Greater {
                    self.cpus.tickle(oc, a);
                }
            }
        }
        Ok(())
    }
}

/// How many units of a shared heap of `n` a burst re-sorts on their own before it batches
/// the rest ([`Scheduler::replenish_due`]): n / log2(n), at least [`BATCH_MIN`]. The sifts
/// so far (up to two comparisons a level) then cost about as much as the rebuild (about two
/// per unit of the heap), so a burst that ends soon after costs at most about twice its
/// sifts, and a longer one saves a sift for each unit after it.
fn batch_min(n: usize) -> usize {
    let levels = (usize::BITS - n.leading_zeros()) as usize;
    (n / levels.max(1)).max(BATCH_MIN)
}

/// The least number of units a burst re-sorts on their own.
const BATCH_MIN: usize = 8;
