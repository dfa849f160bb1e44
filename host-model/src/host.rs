//! The host's steps: each calls the hooks Xen's core would call and performs what they
//! return.

use rtsched::{Actions, CpuMask, TimerOp};

use crate::{CpuState, Event, Hooks, Membership, Save, State, UnitState};

/// The most scheduling passes [`Host::settle`] makes before it reports a livelock.
pub const SETTLE_LIMIT: usize = 100_000;

/// The host: its [`State`] and the implementation whose hooks it calls.
pub struct Host<H> {
    /// What the host keeps between hooks.
    pub st: State,
    /// The scheduler (and whatever the harness keeps with it).
    pub imp: H,
}

impl<H: Hooks> Host<H> {
    /// A host over `imp` with CPU `c` in instance `cpu_inst[c]`, all CPUs online, no unit,
    /// context saves at once.
    pub fn new(imp: H, cpu_inst: Vec<usize>) -> Self {
        let ninst = cpu_inst.iter().max().map_or(1, |k| k + 1);
        let ncpus = cpu_inst.len();
        Host {
            st: State {
                now: 0,
                units: Vec::new(),
                cpus: vec![CpuState::default(); ncpus],
                cpu_inst,
                timers: vec![None; ninst],
                resched: CpuMask::EMPTY,
                saves: Vec::new(),
                online: CpuMask::first_n(ncpus),
                context_delay: Some(0),
                sleep_on_block: false,
                lazy_runnable: false,
                trace: false,
                record: false,
                log: Vec::new(),
            },
            imp,
        }
    }

    /// Registers a unit of instance `inst` (inserted in the scheduler by the harness), not
    /// runnable; returns its index.
    pub fn add_unit(&mut self, inst: usize) -> usize {
        self.st.units.push(UnitState {
            inst,
            ..UnitState::default()
        });
        self.st.units.len() - 1
    }

    /// Performs the actions instance `inst` returned: records the reschedule requests and
    /// programs (or stops) its timer.
    pub fn apply(&mut self, inst: usize, a: &Actions) {
        for c in a.reschedule.iter() {
            self.st.resched.set(c);
        }
        match a.timer {
            TimerOp::Keep => {}
            TimerOp::Set(t) => self.st.timers[inst] = Some(t),
            TimerOp::Stop => self.st.timers[inst] = None,
        }
    }

    fn set_ready(&mut self, u: usize, ready: bool) {
        self.st.units[u].ready = ready;
        self.imp.runnable_changed(&self.st, u);
    }

    fn set_migrating(&mut self, u: usize, migrating: bool) {
        self.st.units[u].migrating = migrating;
        self.imp.runnable_changed(&self.st, u);
    }

    /// Unit `u` becomes ready to run and, unless an affinity change is in progress, gets
    /// `wake(now)`. Waking a ready unit calls the hook again (Xen may, too).
    pub fn wake(&mut self, u: usize) -> Result<(), H::Error> {
        self.set_ready(u, true);
        if self.st.units[u].migrating {
            return Ok(());
        }
        self.wake_hook(u)
    }

    fn wake_hook(&mut self, u: usize) -> Result<(), H::Error> {
        let a = self.imp.wake(&self.st, u)?;
        self.apply(self.st.units[u].inst, &a);
        let t = self.st.now;
        self.st.log_event(Event::Wake { t, unit: u });
        Ok(())
    }

    /// Unit `u` blocks by itself: it stops being runnable; if it is current on a CPU, that
    /// CPU is asked to reschedule (with [`State::sleep_on_block`], after a `sleep` call);
    /// otherwise it gets `sleep` (nothing else could tell the scheduler).
    pub fn block(&mut self, u: usize) -> Result<(), H::Error> {
        self.set_ready(u, false);
        let t = self.st.now;
        self.st.log_event(Event::Block { t, unit: u });
        match self.st.cpu_of(u) {
            Some(c) if !self.st.sleep_on_block => {
                self.st.resched.set(c);
                Ok(())
            }
            _ => self.sleep_hook(u),
        }
    }

    /// Unit `u` is paused (Xen's `vcpu_sleep_nosync`): it stops being runnable and gets
    /// `sleep`, which asks its CPU to reschedule if it is running.
    pub fn pause(&mut self, u: usize) -> Result<(), H::Error> {
        self.set_ready(u, false);
        let t = self.st.now;
        self.st.log_event(Event::Block { t, unit: u });
        self.sleep_hook(u)
    }

    /// Unit `u` turns out not to be runnable (paused without a hook) and the host reports
    /// it with `set_unrunnable` (what the shim does for a queued unit it finds paused).
    pub fn set_unrunnable(&mut self, u: usize) -> Result<(), H::Error> {
        self.set_ready(u, false);
        let t = self.st.now;
        self.st.log_event(Event::Block { t, unit: u });
        let a = self.imp.set_unrunnable(&self.st, u)?;
        self.apply(self.st.units[u].inst, &a);
        Ok(())
    }

    /// Unit `u` stops being runnable without the scheduler's lock (Xen pauses a domain so):
    /// no hook yet; a CPU may schedule before the `sleep` hook comes ([`Host::sleep_hook`]),
    /// and with [`State::lazy_runnable`] its check reports the unit.
    pub fn pause_unlocked(&mut self, u: usize) {
        self.set_ready(u, false);
        let t = self.st.now;
        self.st.log_event(Event::Block { t, unit: u });
    }

    /// Before `do_schedule` on `c` (with [`State::lazy_runnable`]), as Xen's shim does: the
    /// unit the pick meets first ([`Hooks::peek`]) is reported with `set_unrunnable` while
    /// it is not runnable and the scheduler does not know, until the one named is runnable
    /// or known not to be; returns the last one named.
    fn check_first(&mut self, c: usize) -> Result<Option<usize>, H::Error> {
        let mut checked = None;
        while let Some((u, known_runnable)) = self.imp.peek(&self.st, c)? {
            checked = Some(u);
            if self.st.runnable(u) || !known_runnable {
                break;
            }
            let a = self.imp.set_unrunnable(&self.st, u)?;
            self.apply(self.st.units[u].inst, &a);
        }
        Ok(checked)
    }

    /// The `sleep` hook alone (the host's view unchanged).
    pub fn sleep_hook(&mut self, u: usize) -> Result<(), H::Error> {
        let a = self.imp.sleep(&self.st, u)?;
        self.apply(self.st.units[u].inst, &a);
        Ok(())
    }

    /// Runs `do_schedule` on CPU `c` (after the pending `context_saved` of its previous
    /// unit, if any) and performs the decision: the new current unit and slice, and the
    /// pending save of the unit switched out (done at once under `context_delay`
    /// `Some(0)`). A CPU that left the pool and that the scheduler no longer holds is not
    /// scheduled (see [`Host::schedule_unless_gone`]).
    pub fn schedule(&mut self, c: usize) -> Result<(), H::Error> {
        self.schedule_inner(c, false, true)
    }

    /// As [`Host::schedule`] without performing the CPU's pending save first: a pass the
    /// property tests allow to explore more orders than Xen's.
    pub fn schedule_before_save(&mut self, c: usize) -> Result<(), H::Error> {
        self.schedule_inner(c, false, false)
    }

    /// `do_schedule` on CPU `c` with tasklet work pending: the CPU runs the idle unit. As in
    /// Xen, finishing the tasklet work raises a new reschedule request on `c`.
    pub fn schedule_tasklet(&mut self, c: usize) -> Result<(), H::Error> {
        self.schedule_inner(c, true, true)?;
        self.st.resched.set(c);
        Ok(())
    }

    fn schedule_inner(
        &mut self,
        c: usize,
        tasklet: bool,
        save_first: bool,
    ) -> Result<(), H::Error> {
        self.st.resched.clear(c);
        if save_first {
            self.save(c)?;
        }
        let prev = self.st.cpus[c].curr;
        let prev_runnable = prev.is_some_and(|u| self.st.runnable(u));
        let checked = if self.st.lazy_runnable {
            self.check_first(c)?
        } else {
            None
        };
        let d = self.imp.do_schedule(&self.st, c, prev_runnable, tasklet)?;
        if let Some(n) = d.next.filter(|&n| self.st.lazy_runnable && Some(n) != prev) {
            assert!(
                checked == Some(n) && self.st.runnable(n),
                "CPU {c} picked unit {n}, but the host checked {checked:?}"
            );
        }
        if self.st.trace {
            eprintln!(
                "t={} cpu{c} {prev:?} -> {:?} slice={} resched={:?}",
                self.st.now,
                d.next,
                d.slice,
                d.actions.reschedule.iter().collect::<Vec<_>>()
            );
        }
        if let Some(n) = d.next {
            self.st.units[n].migrations += u64::from(d.migrated);
        }
        let now = self.st.now;
        self.st.cpus[c].curr = d.next;
        self.st.cpus[c].slice_end = (d.slice >= 0).then(|| now.saturating_add(d.slice));
        self.apply(self.st.cpu_inst[c], &d.actions);
        self.st.log_event(Event::Schedule {
            t: now,
            cpu: c,
            prev,
            next: d.next,
            slice: d.slice,
        });
        self.imp.scheduled(&self.st, c, prev)?;
        if let Some(p) = prev.filter(|&p| d.next != Some(p)) {
            let due = self
                .st
                .context_delay
                .map_or(i64::MAX, |d| now.saturating_add(d));
            self.st.saves.push(Save {
                cpu: c,
                unit: p,
                due,
            });
            if self.st.context_delay == Some(0) {
                self.save(c)?;
            }
        }
        Ok(())
    }

    /// Performs the pending `context_saved` of CPU `c`'s previous unit, if any, now; then a
    /// pending affinity change of that unit completes.
    pub fn save(&mut self, c: usize) -> Result<(), H::Error> {
        match self.st.saves.iter().position(|s| s.cpu == c) {
            Some(i) => self.save_at(i),
            None => Ok(()),
        }
    }

    /// Performs the oldest pending `context_saved`, if any.
    pub fn save_oldest(&mut self) -> Result<(), H::Error> {
        if self.st.saves.is_empty() {
            return Ok(());
        }
        self.save_at(0)
    }

    fn save_at(&mut self, i: usize) -> Result<(), H::Error> {
        let p = self.st.saves.remove(i).unit;
        let runnable = self.st.runnable(p);
        let a = self.imp.context_saved(&self.st, p, runnable)?;
        self.apply(self.st.units[p].inst, &a);
        let t = self.st.now;
        self.st.log_event(Event::Saved {
            t,
            unit: p,
            runnable,
        });
        if self.st.units[p].migrating {
            self.finish_migration(p)?;
        }
        Ok(())
    }

    /// Performs every pending save that is due (lowest CPU first).
    pub fn save_due(&mut self) -> Result<(), H::Error> {
        for c in 0..self.st.cpus.len() {
            let due = self
                .st
                .saves
                .iter()
                .any(|s| s.cpu == c && s.due <= self.st.now);
            if due {
                self.save(c)?;
            }
        }
        Ok(())
    }

    /// Performs every CPU's pending save (lowest CPU first).
    pub fn save_all(&mut self) -> Result<(), H::Error> {
        for c in 0..self.st.cpus.len() {
            self.save(c)?;
        }
        Ok(())
    }

    /// Fires instance `k`'s replenishment timer now, whatever its expiry.
    pub fn fire_timer(&mut self, k: usize) -> Result<(), H::Error> {
        self.st.timers[k] = None;
        let a = self.imp.timer_fire(&self.st, k)?;
        self.apply(k, &a);
        let t = self.st.now;
        self.st.log_event(Event::Timer { t, inst: k });
        Ok(())
    }

    /// Fires every timer whose expiry has come; returns whether one fired.
    pub fn fire_due_timers(&mut self) -> Result<bool, H::Error> {
        let mut fired = false;
        for k in 0..self.st.timers.len() {
            if self.st.timers[k].is_some_and(|t| t <= self.st.now) {
                self.fire_timer(k)?;
                fired = true;
            }
        }
        Ok(fired)
    }

    /// Asks every CPU whose slice has ended to reschedule; returns whether one had.
    pub fn expire_slices(&mut self) -> bool {
        let mut any = false;
        for c in 0..self.st.cpus.len() {
            if self.st.cpus[c].slice_end.is_some_and(|t| t <= self.st.now) {
                self.st.cpus[c].slice_end = None;
                self.st.resched.set(c);
                any = true;
            }
        }
        any
    }

    /// Runs `do_schedule` on every CPU asked to (lowest CPU first) until no request is
    /// left; then [`Hooks::settled`].
    pub fn settle(&mut self) -> Result<(), H::Error> {
        for _ in 0..SETTLE_LIMIT {
            let Some(c) = self.st.resched.first() else {
                return self.imp.settled(&self.st);
            };
            self.schedule(c)?;
        }
        Err(self.imp.livelock(&self.st))
    }

    /// Changes unit `u`'s hard affinity as Xen does: `adjust_affinity`, then the unit is
    /// put to sleep; when it is off every CPU (at once, or after its CPU switched it out and
    /// saved its context) it is given the CPU `pick_cpu` chooses and woken if it has work.
    pub fn set_affinity(&mut self, u: usize, mask: CpuMask) -> Result<(), H::Error> {
        self.imp.set_affinity(&self.st, u, mask)?;
        self.start_migration(u)
    }

    /// The rest of [`Host::set_affinity`] once the scheduler has taken the new affinity.
    pub fn start_migration(&mut self, u: usize) -> Result<(), H::Error> {
        self.set_migrating(u, true);
        self.sleep_hook(u)?;
        if !self.st.on_cpu(u) {
            self.finish_migration(u)?;
        }
        Ok(())
    }

    /// Unit `u` is off every CPU: it is given the CPU `pick_cpu` chooses (`migrate`), and
    /// woken if it has work.
    pub fn finish_migration(&mut self, u: usize) -> Result<(), H::Error> {
        let c = self.imp.pick_cpu(&self.st, u)?;
        self.imp.migrate(&self.st, u, c)?;
        self.set_migrating(u, false);
        if self.st.units[u].ready {
            self.wake_hook(u)?;
        }
        Ok(())
    }

    /// Time passes until `t`: pending context switches complete first, then at each timer
    /// expiry or slice end (in time order, each as late as [`Hooks::lateness`] says) the
    /// slices end (reschedule requests), the earliest timer fires, and the requests are
    /// performed.
    pub fn advance(&mut self, t: i64) -> Result<(), H::Error> {
        loop {
            self.save_all()?;
            self.settle()?;
            let timer = (0..self.st.timers.len())
                .filter_map(|k| {
                    let e = self.st.timers[k]?;
                    Some((e.saturating_add(self.imp.lateness(&self.st, e, None)), k))
                })
                .min();
            let ends: Vec<Option<i64>> = (0..self.st.cpus.len())
                .map(|c| {
                    let e = self.st.cpus[c].slice_end?;
                    Some(e.saturating_add(self.imp.lateness(&self.st, e, Some(c))))
                })
                .collect();
            let first_end = ends.iter().flatten().copied().min().unwrap_or(i64::MAX);
            let next = timer.map_or(i64::MAX, |(e, _)| e).min(first_end);
            if next > t {
                self.st.now = t;
                return Ok(());
            }
            self.st.now = self.st.now.max(next);
            for (c, e) in ends.iter().enumerate() {
                if e.is_some_and(|e| e <= self.st.now) {
                    self.st.cpus[c].slice_end = None;
                    self.st.resched.set(c);
                }
            }
            if let Some((_, k)) = timer.filter(|&(e, _)| e <= self.st.now) {
                self.fire_timer(k)?;
            }
            self.settle()?;
        }
    }
}

impl<H: Membership> Host<H> {
    /// A CPU out of the pool that the scheduler no longer holds: its requests are dropped.
    fn gone(&self, c: usize) -> bool {
        !self.st.online.test(c) && self.st.cpus[c].curr.is_none() && !self.imp.holds(c)
    }

    /// [`Host::schedule_before_save`] unless CPU `c` has left the pool and the scheduler
    /// no longer holds it (then its request is dropped).
    pub fn schedule_unless_gone(&mut self, c: usize) -> Result<(), H::Error> {
        if self.gone(c) {
            self.st.resched.clear(c);
            return Ok(());
        }
        self.schedule_before_save(c)
    }

    /// A CPU that left joins again (Xen's `schedule_cpu_add`: "trigger it to go pick up
    /// some work").
    pub fn cpu_join(&mut self, c: usize) -> Result<(), H::Error> {
        self.imp.cpu_add(&self.st, c)?;
        self.st.online.set(c);
        self.st.resched.set(c);
        Ok(())
    }

    /// CPU `c` starts leaving the pool as Xen's core makes it leave: out of the pool's valid
    /// set (withdrawn), and affinities that had no other CPU broken to all the CPUs left.
    /// Then [`Host::move_off`] moves its units and [`Host::cpu_remove`] completes.
    pub fn cpu_withdraw(&mut self, c: usize) -> Result<(), H::Error> {
        let a = self.imp.cpu_withdraw(&self.st, c)?;
        self.apply(self.st.cpu_inst[c], &a);
        self.st.online.clear(c);
        for u in 0..self.st.units.len() {
            if self
                .imp
                .affinity(&self.st, u)
                .and(&self.st.online)
                .is_empty()
            {
                let all = self.st.online;
                self.imp.set_affinity(&self.st, u, all)?;
            }
        }
        Ok(())
    }

    /// One round of moving units off a leaving CPU `c`: the requests are performed, then
    /// every unit assigned to `c` and off every CPU is put to sleep and given the CPU
    /// `pick_cpu` chooses (never `c`: Xen would retry for ever), and woken if runnable.
    /// (The unit running there is handed back at its next schedule.)
    pub fn move_off(&mut self, c: usize) -> Result<(), H::Error> {
        self.drain()?;
        for u in 0..self.st.units.len() {
            if self.imp.assigned_cpu(&self.st, u) != c || self.st.on_cpu(u) {
                continue;
            }
            self.sleep_hook(u)?;
            let to = self.imp.pick_cpu(&self.st, u)?;
            assert!(to != c, "pick_cpu named the leaving CPU {c}");
            self.imp.migrate(&self.st, u, to)?;
            if self.st.runnable(u) {
                self.wake_hook(u)?;
            }
        }
        Ok(())
    }

    /// CPU `c`, withdrawn and idle, leaves the pool.
    pub fn cpu_remove(&mut self, c: usize) -> Result<(), H::Error> {
        self.drain()?;
        assert!(
            self.st.cpus[c].curr.is_none() && !self.imp.holds(c),
            "CPU {c} still busy when it leaves"
        );
        self.imp.cpu_remove(&self.st, c)?;
        self.st.cpus[c].slice_end = None;
        self.st.resched.clear(c);
        Ok(())
    }

    /// Performs every request (dropping those of CPUs gone from the pool) and every pending
    /// context save, oldest first, until none is left.
    pub fn drain(&mut self) -> Result<(), H::Error> {
        for _ in 0..SETTLE_LIMIT {
            if let Some(c) = self.st.resched.first() {
                self.schedule_unless_gone(c)?;
            } else if !self.st.saves.is_empty() {
                self.save_oldest()?;
            } else {
                return Ok(());
            }
        }
        Err(self.imp.livelock(&self.st))
    }
}
