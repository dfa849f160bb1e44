//! The hooks a harness implements: a scheduler as the host calls it.

use rtsched::{Actions, CpuMask};

use crate::State;

/// `do_schedule`'s decision in host terms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pick {
    /// The unit to run (host index), `None` for idle.
    pub next: Option<usize>,
    /// The slice granted, ns (-1: no limit).
    pub slice: i64,
    /// Whether the unit comes from another CPU (Xen's `migrated`).
    pub migrated: bool,
    /// Requests made with the decision.
    pub actions: Actions,
}

/// A scheduler's hooks as the host calls them, on host unit indices. Each gets the host's
/// state as it is at the call (`st.now` is the time).
pub trait Hooks {
    /// What a hook failure is to the harness.
    type Error;
    /// Xen's `wake`.
    fn wake(&mut self, st: &State, u: usize) -> Result<Actions, Self::Error>;
    /// Xen's `sleep`.
    fn sleep(&mut self, st: &State, u: usize) -> Result<Actions, Self::Error>;
    /// The host found a queued unit not runnable without a `sleep` (a domain paused without
    /// the scheduler lock); the default is `sleep`.
    fn set_unrunnable(&mut self, st: &State, u: usize) -> Result<Actions, Self::Error> {
        self.sleep(st, u)
    }
    /// The unit `do_schedule` on `cpu` would meet first in its run queue and whether the
    /// scheduler takes it as runnable (rtsched's `runq_peek`), for a host that learns
    /// runnability lazily ([`State::lazy_runnable`]); `None` by default.
    fn peek(&mut self, st: &State, cpu: usize) -> Result<Option<(usize, bool)>, Self::Error> {
        let _ = (st, cpu);
        Ok(None)
    }
    /// Xen's `do_schedule` on `cpu`.
    fn do_schedule(
        &mut self,
        st: &State,
        cpu: usize,
        prev_runnable: bool,
        tasklet: bool,
    ) -> Result<Pick, Self::Error>;
    /// Called once the host has performed a `do_schedule` on `cpu` (new current unit and
    /// slice, requests and timer applied) that replaced `prev`.
    fn scheduled(
        &mut self,
        st: &State,
        cpu: usize,
        prev: Option<usize>,
    ) -> Result<(), Self::Error> {
        let _ = (st, cpu, prev);
        Ok(())
    }
    /// Xen's `context_saved`.
    fn context_saved(
        &mut self,
        st: &State,
        u: usize,
        runnable: bool,
    ) -> Result<Actions, Self::Error>;
    /// Instance `inst`'s replenishment timer handler.
    fn timer_fire(&mut self, st: &State, inst: usize) -> Result<Actions, Self::Error>;
    /// Hard affinity change (`adjust_affinity`).
    fn set_affinity(&mut self, st: &State, u: usize, mask: CpuMask) -> Result<(), Self::Error>;
    /// Xen's `pick_resource`.
    fn pick_cpu(&mut self, st: &State, u: usize) -> Result<usize, Self::Error>;
    /// Xen's `migrate`: the unit is assigned `cpu`.
    fn migrate(&mut self, st: &State, u: usize, cpu: usize) -> Result<(), Self::Error>;
    /// The host's runnable view of `u` may have changed (rt.c reads it through
    /// `unit_runnable()`).
    fn runnable_changed(&mut self, st: &State, u: usize) {
        let _ = (st, u);
    }
    /// How late the host runs what is due at `due` (`cpu`: a slice end there; `None`: a
    /// timer); 0 by default.
    fn lateness(&self, st: &State, due: i64, cpu: Option<usize>) -> i64 {
        let _ = (st, due, cpu);
        0
    }
    /// Called when [`Host::settle`](crate::Host::settle) has performed every request.
    fn settled(&mut self, st: &State) -> Result<(), Self::Error> {
        let _ = st;
        Ok(())
    }
    /// The error for requests that keep coming (a livelock).
    fn livelock(&mut self, st: &State) -> Self::Error;
}

/// The hooks for CPUs joining and leaving an instance (rt-global).
pub trait Membership: Hooks {
    /// A CPU joins (Xen's `switch_sched`).
    fn cpu_add(&mut self, st: &State, cpu: usize) -> Result<(), Self::Error>;
    /// A CPU stops taking units before it leaves.
    fn cpu_withdraw(&mut self, st: &State, cpu: usize) -> Result<Actions, Self::Error>;
    /// The CPU leaves (Xen's `deinit_pdata`).
    fn cpu_remove(&mut self, st: &State, cpu: usize) -> Result<(), Self::Error>;
    /// Unit `u`'s hard affinity.
    fn affinity(&self, st: &State, u: usize) -> CpuMask;
    /// The CPU unit `u` is assigned to.
    fn assigned_cpu(&self, st: &State, u: usize) -> usize;
    /// Whether the scheduler still holds CPU `cpu` (a unit running there, or a blocked
    /// server's budget idling on it).
    fn holds(&self, cpu: usize) -> bool;
}
