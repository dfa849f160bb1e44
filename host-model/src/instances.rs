//! Scheduler instances behind the host: the [`Instance`] interface (implemented by
//! [`rtsched::Scheduler`]) and [`Instances`], one or more of them driven as one host's
//! [`Hooks`] (one per cpupool, or one per PCPU under rt-partition).

use std::convert::Infallible;

use rtsched::{
    Actions, CpuMask, Decision, Params, Pcpu, Policy, Result, Scheduler, Storage, Unit, UnitId,
};

use crate::{Hooks, Membership, Pick, State};

/// A host step whose hooks cannot fail (they panic instead).
type Done<T> = core::result::Result<T, Infallible>;

/// The hooks of one scheduler instance (one Xen cpupool's scheduler, or one PCPU's under
/// partitioned scheduling), on its own unit handles. Implemented for
/// [`rtsched::Scheduler`]; another implementation (e.g. Xen's C code behind an FFI) can be
/// driven by the same host to compare the two.
pub trait Instance {
    /// Allocates a unit of `domain` with parameters `p` and hard affinity `affinity`, and
    /// inserts it, not runnable, at `now` (Xen's `alloc_udata` + `insert_unit`).
    fn add_unit(
        &mut self,
        domain: u32,
        p: Params,
        affinity: CpuMask,
        now: i64,
    ) -> Result<(UnitId, Actions)>;
    /// Xen's `wake`.
    fn wake(&mut self, u: UnitId, now: i64) -> Result<Actions>;
    /// Xen's `sleep`.
    fn sleep(&mut self, u: UnitId) -> Result<Actions>;
    /// The host found a queued unit not runnable without a `sleep` (a domain paused without
    /// the scheduler lock). The default is `sleep`.
    fn set_unrunnable(&mut self, u: UnitId) -> Result<Actions> {
        self.sleep(u)
    }
    /// Xen's `do_schedule`.
    fn do_schedule(
        &mut self,
        cpu: usize,
        now: i64,
        prev_runnable: bool,
        tasklet: bool,
    ) -> Result<Decision>;
    /// Xen's `context_saved`.
    fn context_saved(&mut self, u: UnitId, runnable: bool) -> Result<Actions>;
    /// The replenishment timer's handler.
    fn timer_fire(&mut self, now: i64) -> Result<Actions>;
    /// Per-unit parameters (`putvcpuinfo`).
    fn set_params(&mut self, u: UnitId, p: Params) -> Result<Actions>;
    /// Hard affinity change (`adjust_affinity`).
    fn set_affinity(&mut self, u: UnitId, mask: CpuMask) -> Result<()>;
    /// Xen's `pick_resource`.
    fn pick_cpu(&self, u: UnitId) -> Result<usize>;
    /// Xen's `migrate` (assigns the unit to `cpu`).
    fn migrate(&mut self, u: UnitId, cpu: usize) -> Result<()>;
    /// A CPU joins.
    fn cpu_add(&mut self, cpu: usize) -> Result<()>;
    /// A CPU stops taking units before it leaves.
    fn cpu_withdraw(&mut self, cpu: usize) -> Result<Actions>;
    /// A CPU leaves.
    fn cpu_remove(&mut self, cpu: usize) -> Result<()>;
    /// A unit's hard affinity.
    fn affinity(&self, u: UnitId) -> Result<CpuMask>;
    /// The CPU a unit is assigned to.
    fn assigned_cpu(&self, u: UnitId) -> Result<usize>;
    /// Whether a unit runs on `cpu` or a blocked server's budget idles on it.
    fn holds(&self, cpu: usize) -> bool;
    /// The unit `do_schedule` on `cpu` would meet first, and whether it takes it as
    /// runnable (`None`: none, or `cpu` is not the instance's).
    fn runq_peek(&self, cpu: usize) -> Option<(UnitId, bool)>;
    /// Internal consistency of the instance (checked after every hook when
    /// [`Instances::check`] is set). The default checks nothing.
    fn check(&self) -> core::result::Result<(), String> {
        Ok(())
    }
}

impl Instance for Scheduler<'_> {
    fn add_unit(
        &mut self,
        dom: u32,
        p: Params,
        aff: CpuMask,
        now: i64,
    ) -> Result<(UnitId, Actions)> {
        let id = self.unit_alloc(dom, 0, aff)?;
        let r = self
            .set_params(id, p)
            .and_then(|_| self.insert(id, now, false, false));
        match r {
            Ok((_, a)) => Ok((id, a)),
            Err(e) => {
                self.unit_free(id)?;
                Err(e)
            }
        }
    }
    fn wake(&mut self, u: UnitId, now: i64) -> Result<Actions> {
        Scheduler::wake(self, u, now)
    }
    fn sleep(&mut self, u: UnitId) -> Result<Actions> {
        Scheduler::sleep(self, u)
    }
    fn set_unrunnable(&mut self, u: UnitId) -> Result<Actions> {
        Scheduler::set_unrunnable(self, u)
    }
    fn do_schedule(&mut self, cpu: usize, now: i64, pr: bool, tasklet: bool) -> Result<Decision> {
        Scheduler::do_schedule(self, cpu, now, pr, tasklet)
    }
    fn context_saved(&mut self, u: UnitId, runnable: bool) -> Result<Actions> {
        Scheduler::context_saved(self, u, runnable)
    }
    fn timer_fire(&mut self, now: i64) -> Result<Actions> {
        Scheduler::timer_fire(self, now)
    }
    fn set_params(&mut self, u: UnitId, p: Params) -> Result<Actions> {
        Scheduler::set_params(self, u, p)
    }
    fn set_affinity(&mut self, u: UnitId, mask: CpuMask) -> Result<()> {
        Scheduler::set_affinity(self, u, mask)
    }
    fn pick_cpu(&self, u: UnitId) -> Result<usize> {
        Scheduler::pick_cpu(self, u)
    }
    fn migrate(&mut self, u: UnitId, cpu: usize) -> Result<()> {
        Scheduler::migrate(self, u, cpu)
    }
    fn cpu_add(&mut self, cpu: usize) -> Result<()> {
        Scheduler::cpu_add(self, cpu)
    }
    fn cpu_withdraw(&mut self, cpu: usize) -> Result<Actions> {
        Scheduler::cpu_withdraw(self, cpu)
    }
    fn cpu_remove(&mut self, cpu: usize) -> Result<()> {
        Scheduler::cpu_remove(self, cpu)
    }
    fn affinity(&self, u: UnitId) -> Result<CpuMask> {
        Scheduler::affinity(self, u)
    }
    fn assigned_cpu(&self, u: UnitId) -> Result<usize> {
        Ok(self.unit_info(u)?.cpu as usize)
    }
    fn holds(&self, cpu: usize) -> bool {
        self.curr(cpu).is_some() || self.phantom(cpu).is_some()
    }
    fn runq_peek(&self, cpu: usize) -> Option<(UnitId, bool)> {
        let id = Scheduler::runq_peek(self, cpu).ok()??;
        Some((id, self.unit_info(id).ok()?.runnable != 0))
    }
    fn check(&self) -> core::result::Result<(), String> {
        rtsched::invariants::check(self).map_err(str::to_string)
    }
}

/// Creates a [`rtsched::Scheduler`] over leaked heap storage (the harness lives as long as
/// the test) with room for `cap` units and `ncpus` CPU slots; `online` CPUs are added.
pub fn leaked_scheduler(
    cap: usize,
    ncpus: usize,
    policy: Policy,
    online: &CpuMask,
) -> Scheduler<'static> {
    fn leak<T: Clone>(v: T, n: usize) -> &'static mut [T] {
        Vec::leak(vec![v; n])
    }
    let storage = Storage {
        units: leak(Unit::EMPTY, cap),
        runq: leak(0u32, cap),
        replq: leak(0u32, cap),
        cpus: leak(Pcpu::IDLE, ncpus),
    };
    let mut s = Scheduler::new(storage, policy).expect("valid storage");
    for c in online.iter() {
        s.cpu_add(c).expect("cpu");
    }
    s
}

/// One or more instances as one host's [`Hooks`]: host unit `u` is `ids[u]` in its
/// instance. A hook that fails panics (the host called it correctly), naming the hook; with
/// [`Instances::check`] the instance's [`Instance::check`] runs after every hook.
pub struct Instances<I> {
    insts: Vec<I>,
    /// Each host unit's handle in its instance.
    pub ids: Vec<UnitId>,
    /// Run [`Instance::check`] after every hook and panic on a violation.
    pub check: bool,
}

impl<I: Instance> Instances<I> {
    /// The instances, checked after every hook.
    pub fn new(insts: Vec<I>) -> Self {
        assert!(!insts.is_empty(), "at least one instance");
        Instances {
            insts,
            ids: Vec::new(),
            check: true,
        }
    }

    /// Instance `k`.
    pub fn inst(&self, k: usize) -> &I {
        &self.insts[k]
    }

    /// Instance `k`, mutably (for calls the host does not model).
    pub fn inst_mut(&mut self, k: usize) -> &mut I {
        &mut self.insts[k]
    }

    /// The number of instances.
    pub fn len(&self) -> usize {
        self.insts.len()
    }

    /// Never: there is at least one instance.
    pub fn is_empty(&self) -> bool {
        self.insts.is_empty()
    }

    /// The host index of handle `id` of instance `k`.
    pub fn index_of(&self, st: &State, k: usize, id: UnitId) -> Option<usize> {
        (0..self.ids.len()).find(|&u| st.units[u].inst == k && self.ids[u] == id)
    }

    /// Panics if instance `k` is inconsistent after `what` (with [`Instances::check`]).
    pub fn verify(&self, st: &State, k: usize, what: &str) {
        if self.check {
            if let Err(e) = self.insts[k].check() {
                panic!(
                    "instance {k}: invariant violated after {what} at {} ns: {e}",
                    st.now
                );
            }
        }
    }

    /// Calls `f` on unit `u`'s instance and handle, then verifies the instance.
    fn on<T>(
        &mut self,
        st: &State,
        u: usize,
        what: &str,
        f: impl FnOnce(&mut I, UnitId) -> Result<T>,
    ) -> Done<T> {
        let k = st.units[u].inst;
        let r = f(&mut self.insts[k], self.ids[u]).unwrap_or_else(|e| panic!("{what}: {e:?}"));
        self.verify(st, k, what);
        Ok(r)
    }
}

impl<I: Instance> Hooks for Instances<I> {
    type Error = Infallible;
    fn wake(&mut self, st: &State, u: usize) -> Done<Actions> {
        self.on(st, u, "wake", |s, id| s.wake(id, st.now))
    }
    fn sleep(&mut self, st: &State, u: usize) -> Done<Actions> {
        self.on(st, u, "sleep", |s, id| s.sleep(id))
    }
    fn set_unrunnable(&mut self, st: &State, u: usize) -> Done<Actions> {
        self.on(st, u, "set_unrunnable", |s, id| s.set_unrunnable(id))
    }
    fn do_schedule(&mut self, st: &State, cpu: usize, pr: bool, tasklet: bool) -> Done<Pick> {
        let k = st.cpu_inst[cpu];
        let d = self.insts[k]
            .do_schedule(cpu, st.now, pr, tasklet)
            .expect("do_schedule");
        let next = d.next.map(|id| {
            self.index_of(st, k, id)
                .expect("do_schedule picked an unknown unit")
        });
        Ok(Pick {
            next,
            slice: d.slice,
            migrated: d.migrated,
            actions: d.actions,
        })
    }
    fn peek(&mut self, st: &State, cpu: usize) -> Done<Option<(usize, bool)>> {
        let k = st.cpu_inst[cpu];
        Ok(self.insts[k]
            .runq_peek(cpu)
            .map(|(id, r)| (self.index_of(st, k, id).expect("a unit of the host"), r)))
    }
    fn scheduled(&mut self, st: &State, cpu: usize, _: Option<usize>) -> Done<()> {
        self.verify(st, st.cpu_inst[cpu], "do_schedule");
        Ok(())
    }
    fn context_saved(&mut self, st: &State, u: usize, runnable: bool) -> Done<Actions> {
        self.on(st, u, "context_saved", |s, id| {
            s.context_saved(id, runnable)
        })
    }
    fn timer_fire(&mut self, st: &State, k: usize) -> Done<Actions> {
        let a = self.insts[k].timer_fire(st.now).expect("timer_fire");
        self.verify(st, k, "timer_fire");
        Ok(a)
    }
    fn set_affinity(&mut self, st: &State, u: usize, mask: CpuMask) -> Done<()> {
        self.on(st, u, "set_affinity", |s, id| s.set_affinity(id, mask))
    }
    fn pick_cpu(&mut self, st: &State, u: usize) -> Done<usize> {
        self.on(st, u, "pick_cpu", |s, id| s.pick_cpu(id))
    }
    fn migrate(&mut self, st: &State, u: usize, cpu: usize) -> Done<()> {
        self.on(st, u, "migrate", |s, id| s.migrate(id, cpu))
    }
    fn livelock(&mut self, st: &State) -> Infallible {
        panic!("reschedule requests do not settle at {} ns", st.now)
    }
}

impl<I: Instance> Membership for Instances<I> {
    fn cpu_add(&mut self, st: &State, cpu: usize) -> Done<()> {
        let k = st.cpu_inst[cpu];
        self.insts[k].cpu_add(cpu).expect("cpu_add");
        self.verify(st, k, "cpu_add");
        Ok(())
    }
    fn cpu_withdraw(&mut self, st: &State, cpu: usize) -> Done<Actions> {
        let k = st.cpu_inst[cpu];
        let a = self.insts[k].cpu_withdraw(cpu).expect("cpu_withdraw");
        self.verify(st, k, "cpu_withdraw");
        Ok(a)
    }
    fn cpu_remove(&mut self, st: &State, cpu: usize) -> Done<()> {
        let k = st.cpu_inst[cpu];
        self.insts[k].cpu_remove(cpu).expect("cpu_remove");
        self.verify(st, k, "cpu_remove");
        Ok(())
    }
    fn affinity(&self, st: &State, u: usize) -> CpuMask {
        let k = st.units[u].inst;
        self.insts[k].affinity(self.ids[u]).expect("affinity")
    }
    fn assigned_cpu(&self, st: &State, u: usize) -> usize {
        let k = st.units[u].inst;
        self.insts[k].assigned_cpu(self.ids[u]).expect("unit")
    }
    fn holds(&self, cpu: usize) -> bool {
        self.insts.iter().any(|s| s.holds(cpu))
    }
}

/// The value of a host step whose hooks cannot fail (they panic instead).
pub fn done<T>(r: Done<T>) -> T {
    match r {
        Ok(t) => t,
        Err(e) => match e {},
    }
}
