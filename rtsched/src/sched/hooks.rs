//! The hooks Xen's scheduling core calls (the protocol is in the module docs of
//! [`super`]): insert/remove, sleep/wake, do_schedule, context_saved.

use core::cmp::Ordering;

use super::cpus::Shown;
use super::{get, get_mut, Change, Scheduler};
use crate::actions::{Actions, Decision};
use crate::error::{Error, Result};
use crate::mutants::Mutant;
use crate::policy::ServerKind;
use crate::prio::{prio_cmp, BACKGROUND_QUANTUM};
use crate::unit::{QueueKind, UnitFlags, UnitId, NIL};

impl<'a> Scheduler<'a> {
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
        let t = self.hook_time(now)?;
        if self.unit(h)?.inserted {
            return Err(Error::Busy);
        }
        if !self.admits(Change::Insert(h.0)) {
            return Err(Error::NotAdmitted);
        }
        let cpu = self.pick_cpu(h)?;
        let now = self.advance(t);
        let mut a = Actions::default();
        let keep_deadline = self.mutant(Mutant::InsertKeepsDeadline);
        {
            let u = get_mut(self.units, h.0)?;
            u.cpu = cpu as u32;
            u.inserted = true;
            u.runnable = runnable;
        }
        if !keep_deadline {
            self.start_period_on_wake(h.0, now)?;
        }
        self.place_background(h.0);
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
        if let Shown::Idles(c) = self.cpus.shown(self.unit(h)?, h.0) {
            let o = self.order();
            self.cpus.clear_phantom(self.units, o, c)?;
            a.reschedule.set(c);
        }
        self.spare_release(h.0)?;
        if !self.mutant(Mutant::RemoveKeepsQueued) {
            self.q_remove(h.0)?;
            self.replq_remove(h.0)?;
        }
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
        let shown = self.cpus.shown(u, h.0);
        let queued = u.queue != QueueKind::None;
        self.stats.sleeps += 1;
        get_mut(self.units, h.0)?.runnable = false;
        if let Shown::Runs(c) = shown {
            a.reschedule.set(c);
        } else {
            // A blocked unit has answered: its spare goes back to the pool.
            self.spare_release(h.0)?;
            if self.periodic() {
                // A periodic server keeps its place (and its replenishments) while blocked:
                // its budget is consumed by idle time whenever it would be scheduled.
            } else if queued && !self.mutant(Mutant::SleepKeepsQueued) {
                self.q_remove(h.0)?;
                self.replq_remove(h.0)?;
            } else if !queued {
                get_mut(self.units, h.0)?
                    .flags
                    .remove(UnitFlags::DELAYED_RUNQ_ADD);
            }
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
        let t = self.hook_time(now)?;
        let u = self.inserted_unit(h)?;
        let mut a = Actions::default();
        let queued = u.queue != QueueKind::None;
        let now = self.advance(t);
        self.stats.wakes += 1;
        let u = get_mut(self.units, h.0)?;
        let was_runnable = core::mem::replace(&mut u.runnable, true);
        let shown = self.cpus.shown(u, h.0);
        if let Shown::Runs(_) = shown {
            return Ok(a);
        }
        if let Shown::Idles(c) = shown {
            // A CPU idles on its budget: charge it up to now, queue it with work, and find
            // it a CPU (most likely that one, now idle).
            let o = self.order();
            self.cpus.clear_phantom(self.units, o, c)?;
            self.burn_budget(h.0, now, true)?;
            self.runq_insert(h.0)?;
            self.tickle(h.0, &mut a)?;
            // That CPU no longer idles on anything: it picks again (the unit may have gone
            // to the depleted queue while another runnable unit waits).
            if !self.cpus.tickled().test(c) {
                self.cpus.tickle(c, &mut a);
            }
            self.sync_timer(&mut a);
            return Ok(a);
        }
        if queued {
            if !was_runnable {
                let affinity = self.unit(h)?.affinity;
                self.cpus.served(&affinity);
                // A blocked periodic server on the queue now has work.
                self.tickle(h.0, &mut a)?;
            }
            return Ok(a);
        }
        let missed = self.start_period_on_wake(h.0, now)?;
        let scheduled = self.unit(h)?.flags.contains(UnitFlags::SCHEDULED);
        self.place_background(h.0);
        if missed {
            self.refresh_key(h.0);
        }
        if scheduled && !self.mutant(Mutant::WakeIgnoresScheduled) {
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
        if !self.mutant(Mutant::WakeNoTickle) {
            self.tickle(h.0, &mut a)?;
        }
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
        let t = self.hook_time(now)?;
        if cpu >= self.cpus.len() {
            return Err(Error::NoSuchCpu.cold());
        }
        // A CPU that is not online (withdrawn, see `cpu_withdraw`) hands its unit back and
        // picks nothing.
        let withdrawn = !self.cpus.online().test(cpu);
        let now = self.advance(t);
        let mut a = Actions::default();
        self.stats.schedules += 1;
        self.cpus.untickle(cpu);
        let (curr, phantom) = {
            let p = self.cpus.get(cpu).ok_or_else(|| Error::NoSuchCpu.cold())?;
            (p.curr, p.phantom)
        };
        if phantom != NIL {
            self.set_cpu(cpu, curr, NIL)?;
            // The idle time since the last pick is charged to the blocked periodic server.
            if !self.mutant(Mutant::PeriodicIdleFree) {
                self.burn_budget(phantom, now, true)?;
            }
            self.runq_insert(phantom)?;
        }
        if curr != NIL {
            get_mut(self.units, curr)?.runnable = prev_runnable;
            self.burn_budget(curr, now, false)?;
            if !prev_runnable {
                self.spare_release(curr)?;
            }
        }
        let mut next = NIL;
        if tasklet {
            self.stats.tasklet_idle += 1;
        } else if !withdrawn {
            next = self.runq_pick(cpu)?;
            if curr != NIL && prev_runnable {
                let c = get(self.units, curr)?;
                let keep = c.inserted
                    && c.cur_budget > 0
                    && (next == NIL
                        || self.mutant(Mutant::ScheduleNoPreempt)
                        || prio_cmp(c, get(self.units, next)?, self.order()) == Ordering::Less);
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
        let switch = next != NIL && next != curr;
        if switch && !get(self.units, next)?.runnable {
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
            self.push_queued(cpu, &mut a)?;
            self.sync_timer(&mut a);
            return Ok(Decision {
                next: None,
                slice,
                migrated: false,
                actions: a,
            });
        }
        let o = self.order();
        let mut d = Decision {
            next: None,
            slice: -1,
            migrated: false,
            actions: a,
        };
        if next != NIL {
            if switch {
                self.q_remove(next)?;
            }
            let u = get_mut(self.units, next)?;
            if switch {
                u.flags.insert(UnitFlags::SCHEDULED);
            }
            u.last_start = now;
            if u.cpu as usize != cpu {
                u.cpu = cpu as u32;
                d.migrated = true;
                self.stats.migrations += 1;
            }
            d.slice = u.cur_budget;
            if o.background(u) {
                // Background units take turns (see `crate::prio`).
                d.slice = d.slice.min(BACKGROUND_QUANTUM);
                self.vmin = self.vmin.max(u.vtime);
            }
            d.next = Some(UnitId(next));
        }
        if next != curr {
            self.stats.switches += 1;
        }
        self.cpus.run(self.units, o, cpu, next)?;
        self.push_queued(cpu, &mut a)?;
        self.sync_timer(&mut a);
        d.actions = a;
        Ok(d)
    }

    /// The context of `prev` has been saved after a switch (Xen's `context_saved`).
    /// `runnable` is whether it is still runnable. A unit that was not runnable when it was
    /// switched out (no `DELAYED_RUNQ_ADD`) stays not runnable until its `wake`, as in rt.c:
    /// Xen makes a unit runnable before it takes the lock to call `wake`, so `runnable` may
    /// already be true here with the `wake` still to come.
    pub fn context_saved(&mut self, prev: UnitId, runnable: bool) -> Result<Actions> {
        self.unit(prev)?;
        let mut a = Actions::default();
        self.stats.context_saved += 1;
        let delayed = {
            let u = get_mut(self.units, prev.0)?;
            u.flags.remove(UnitFlags::SCHEDULED);
            let d = u.flags.contains(UnitFlags::DELAYED_RUNQ_ADD);
            u.runnable = runnable && d;
            u.flags.remove(UnitFlags::DELAYED_RUNQ_ADD);
            d
        };
        let inserted = self.unit(prev)?.inserted;
        let delayed = delayed && !self.mutant(Mutant::ContextSavedIgnoresDelayed);
        if delayed && (runnable || self.periodic()) && inserted && !self.is_curr(prev.0) {
            if !self.unit(prev)?.on_replq() {
                self.replq_insert(prev.0)?;
            }
            self.runq_insert(prev.0)?;
            if !self.mutant(Mutant::ContextSavedNoTickle) {
                self.tickle(prev.0, &mut a)?;
            }
        } else if !self.is_curr(prev.0) {
            self.spare_release(prev.0)?;
            self.replq_remove(prev.0)?;
        }
        self.sync_timer(&mut a);
        Ok(a)
    }

    /// A unit becomes runnable (wake or insert) at `now`: a server whose deadline has passed
    /// starts the period that contains `now` (rt.c's `rt_update_deadline`); under the
    /// constant-bandwidth server, also one whose remaining budget exceeds its bandwidth over
    /// the time left, and then the new period starts at `now` (the CBS wake-up rule, see
    /// [`ServerKind::Cbs`]). Returns whether the deadline changed.
    ///
    /// A periodic server whose deadline has passed (it joins: a blocked periodic server stays
    /// on the replenishment queue) also starts its period at `now`: a full budget for what is
    /// left of a period on the old grid would be a deferrable server's back-to-back burst,
    /// which the periodic server's `U <= 1` test does not allow for.
    fn start_period_on_wake(&mut self, h: u32, now: i64) -> Result<bool> {
        if get(self.units, h)?.spare != NIL {
            // On a spare: the spare's deadline passed; renewed or returned (then the unit's
            // own state is back and the rules below apply to it).
            if now < get(self.units, h)?.cur_deadline {
                return Ok(false);
            }
            self.spare_expire(h, now)?;
            if get(self.units, h)?.spare != NIL {
                return Ok(true);
            }
        }
        let server = self.policy.server;
        let late_only = self.mutant(Mutant::CbsWakeOnlyWhenLate);
        let u = get_mut(self.units, h)?;
        // (The overflow test, two 128-bit products, only under the constant-bandwidth server.)
        let overflow = server == ServerKind::Cbs
            && (if late_only {
                now >= u.cur_deadline
            } else {
                u.cbs_overflow(now)
            });
        if overflow {
            u.cbs_restart(now);
            self.stats.cbs_restarts += 1;
            Ok(true)
        } else if server == ServerKind::Periodic && now >= u.cur_deadline {
            u.cbs_restart(now);
            Ok(true)
        } else if now >= u.cur_deadline {
            u.replenish(now);
            Ok(true)
        } else {
            Ok(false)
        }
    }
}
