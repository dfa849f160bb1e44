//! The scheduler instance: Xen 4.17's RTDS (`xen/common/sched/rt.c`) as a state machine.
//!
//! | module | holds |
//! | --- | --- |
//! | `mod.rs` (here) | the instance, its storage, the hook protocol |
//! | [`hooks`] | the hooks Xen's scheduling core calls: insert/remove, wake/sleep, do_schedule, context_saved |
//! | [`replenish`] | the replenishment timer |
//! | [`clock`] | the instance's clock: hook times checked, never backwards |
//! | [`control`] | CPUs joining and leaving, unit lifetime, parameters, policy, affinity, admission |
//! | [`enqueue`] | the run, depleted and replenishment queues as the hooks use them, budget burn, the timer operation |
//! | [`runq`] | the run queue as one queue: the shared heap, the CPUs' pinned queues and the affinity groups' queues |
//! | [`groups`] | the affinity-group table: one run queue per distinct affinity (fixed capacity) |
//! | [`tickle`] | which CPU must reschedule for a queued unit |
//! | [`cpus`] | the PCPUs and every per-CPU cache (and its invariants) |
//! | [`spare`] | spare reservations lent to units on I/O events (seed 000) |
//! | [`inspect`] | read-only accessors for dumps, tests and the C ABI |
//!
//! Server arithmetic (burn, replenish, extratime refill, parameters) is in [`crate::unit`],
//! priority order in [`crate::prio`].
//!
//! # Hook protocol
//!
//! Every hook is called with the instance's lock held (the lock contract is the C ABI's,
//! see the crate docs) and returns the host's side effects as values ([`crate::Actions`], [`crate::Decision`]). The
//! protocol around a context switch is rt.c's:
//!
//! 1. `do_schedule(cpu)` burns the current unit's budget, picks the next unit, removes it
//!    from the run queue and marks it `SCHEDULED`. A runnable current unit that loses the
//!    CPU is marked `DELAYED_RUNQ_ADD`, not queued: its context is still live.
//! 2. The host drops the lock and switches context.
//! 3. `context_saved(prev)` clears `SCHEDULED` and, if `DELAYED_RUNQ_ADD` was set and the
//!    unit is still runnable, queues it and tickles; otherwise it drops the unit's pending
//!    replenishment.
//!
//! `wake` on a unit that is still `SCHEDULED` only sets `DELAYED_RUNQ_ADD`; `sleep` on such a
//! unit clears it. Hence a unit is never on a queue while it runs or is being switched out
//! (the race of the RT-Xen dissertation, section 3.2.2).
//!
//! ```text
//!                 wake / insert (runnable)              do_schedule picks it
//!   [asleep] ----------------------------> [queued] ---------------------------> [running:
//!      ^   ^                                  |  ^                               SCHEDULED]
//!      |   |            sleep                 |  |  context_saved:                 |     |
//!      |   +----------------------------------+  |  DELAYED_RUNQ_ADD and runnable  |     |
//!      |                                         +--------------------------+      |     |
//!      |        context_saved: not runnable            [switching out:      |      |     |
//!      +---------------------------------------------  SCHEDULED (+DELAYED) ] <----+     |
//!                                                      do_schedule picks another         |
//!                                           (wake sets DELAYED, sleep clears it) <-------+
//! ```
//!
//! # Deliberate differences from rt.c (4.17)
//!
//! See `ARCHITECTURE.md` for the list with reasons; in short: upstream fixes after 4.17 are
//! included (saturating `priority_level`, no zero-budget unit on the run queue, look past a
//! non-runnable run-queue head, drop it from both queues); the replenishment queue is ordered
//! by deadline only; `pick_cpu` prefers an idle allowed CPU; `insert` of a runnable unit
//! tickles; lowering a budget clamps the current budget to it.

mod clock;
mod control;
mod cpus;
mod enqueue;
pub(crate) use enqueue::competes;
pub(crate) mod groups;
mod hooks;
mod inspect;
mod replenish;
mod runq;
mod spare;
mod tickle;

pub use cpus::Pcpu;
pub(crate) use groups::Home;
pub use groups::{GROUP_MIN_UNITS, MAX_GROUPS};
pub use spare::{SpareInfo, MAX_SPARES};

use crate::cpumask::{CpuMask, MAX_CPUS};
use crate::error::{Error, Result};
use crate::mutants::Mutant;
use crate::params::Params;
use crate::policy::{ClassRule, Policy, PriorityScheme, ServerKind};
use crate::prio::{Order, PrioKey};
use crate::queues::{DepletedList, ReplHeap, RunHeap};
use crate::stats::Stats;
use crate::unit::{Unit, NIL};
use cpus::Cpus;

/// Caller-provided storage for one instance. Every slice's length must be at least the
/// capacity it stands for: `units.len()` units, `runq.len() >= units.len()`,
/// `replq.len() >= units.len()`, and `cpus.len()` CPUs (at most [`MAX_CPUS`]).
#[derive(Debug)]
pub struct Storage<'a> {
    /// Unit slots.
    pub units: &'a mut [Unit],
    /// Run-queue heap slots.
    pub runq: &'a mut [u32],
    /// Replenishment-queue heap slots.
    pub replq: &'a mut [u32],
    /// Per-CPU state.
    pub cpus: &'a mut [Pcpu],
}

/// One scheduler instance (one Xen cpupool running RTDS).
#[derive(Debug)]
pub struct Scheduler<'a> {
    units: &'a mut [Unit],
    cpus: Cpus<'a>,
    runq: RunHeap<'a>,
    replq: ReplHeap<'a>,
    depleted: DepletedList,
    seq: u64,
    /// The background class's virtual time: the largest `vtime` of a unit picked from it.
    vmin: i64,
    policy: Policy,
    /// The priority order of `policy` (kept with it: read by every comparison).
    order: Order,
    timer: Option<i64>,
    /// The latest hook time (see [`clock`]).
    clock: i64,
    nr_units: u32,
    /// Units on the CPUs' pinned run queues and the affinity groups' queues (the rest of
    /// the run queue is `runq`).
    pinned_len: usize,
    /// The affinity groups (see [`groups`]).
    groups: groups::Groups,
    /// The run queue's head (over `runq` and the pinned queues) when `head_ok`; kept by
    /// every change of the run queue, recomputed when the head itself leaves or moves.
    head: Option<u32>,
    head_ok: bool,
    stats: Stats,
    /// Overruns so far, summed (ns): the clock against which a waiting unit measures the
    /// overruns it waited through (`Unit::interference`).
    interference: i64,
    /// Spare servers lent to units on I/O events (see [`spare`]).
    spares: spare::SparePool,
    #[cfg(feature = "mutants")]
    mutant: Mutant,
}

fn get(units: &[Unit], h: u32) -> Result<&Unit> {
    units.get(h as usize).ok_or_else(Error::corrupt)
}

fn get_mut(units: &mut [Unit], h: u32) -> Result<&mut Unit> {
    units.get_mut(h as usize).ok_or_else(Error::corrupt)
}

/// A change whose effect on admission is evaluated before it is made.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Change {
    None,
    Unit(u32, Params),
    Domain(u32, i64, i64),
    Insert(u32),
    Scheme(PriorityScheme),
    Server(ServerKind),
    Classes(ClassRule),
    Pool(spare::PoolParams),
}

impl<'a> Scheduler<'a> {
    /// Creates an instance over `storage` with no CPUs online and no units.
    ///
    /// Under [`crate::Topology::Partition`] an instance is one PCPU's scheduler: it accepts a
    /// single online CPU, and units move between PCPUs only by explicit migration between
    /// instances (see [`crate::partition`]).
    #[inline(always)]
    pub fn new(storage: Storage<'a>, policy: Policy) -> Result<Self> {
        Self::check_storage(&storage)?;
        Ok(Self::fresh(storage, policy))
    }

    /// [`Self::new`] written in place: the instance is built in `place` (for an instance in
    /// the caller's memory, whose construction on the stack and copy would need a frame of
    /// its size). Nothing is written when the storage is refused.
    #[inline(always)]
    pub fn init_in<'p>(
        place: &'p mut core::mem::MaybeUninit<Self>,
        storage: Storage<'a>,
        policy: Policy,
    ) -> Result<&'p mut Self> {
        Self::check_storage(&storage)?;
        Ok(place.write(Self::fresh(storage, policy)))
    }

    /// Refuses storage [`Self::new`] cannot use.
    #[inline(always)]
    fn check_storage(s: &Storage<'a>) -> Result<()> {
        let n = s.units.len();
        if n >= NIL as usize
            || s.runq.len() < n
            || s.replq.len() < n
            || s.cpus.is_empty()
            || s.cpus.len() > MAX_CPUS
        {
            return Err(Error::BadStorage);
        }
        Ok(())
    }

    /// The instance over checked `storage`.
    #[inline(always)]
    fn fresh(storage: Storage<'a>, policy: Policy) -> Self {
        let Storage {
            units,
            runq,
            replq,
            cpus,
        } = storage;
        for u in units.iter_mut() {
            *u = Unit::EMPTY;
        }
        let cpus = Cpus::new(cpus);
        Scheduler {
            units,
            cpus,
            runq: RunHeap::new(runq),
            replq: ReplHeap::new(replq),
            depleted: DepletedList::new(),
            seq: 0,
            vmin: 0,
            policy,
            order: Order::new(policy.priority, policy.classes),
            timer: None,
            clock: 0,
            nr_units: 0,
            pinned_len: 0,
            groups: groups::Groups::EMPTY,
            head: None,
            head_ok: true,
            stats: Stats::default(),
            interference: 0,
            spares: spare::SparePool::EMPTY,
            #[cfg(feature = "mutants")]
            mutant: Mutant::None,
        }
    }

    /// Selects a deliberately broken protocol variant (loom mutation tests only).
    #[cfg(feature = "mutants")]
    pub fn set_mutant(&mut self, m: Mutant) {
        self.mutant = m;
    }

    /// Whether the deliberately broken variant `m` is selected; always false without the
    /// `mutants` feature (see [`crate::mutants`]).
    #[inline(always)]
    fn mutant(&self, m: Mutant) -> bool {
        #[cfg(feature = "mutants")]
        return self.mutant == m;
        #[cfg(not(feature = "mutants"))]
        {
            let _ = m;
            false
        }
    }

    /// The priority order in force.
    #[inline(always)]
    fn order(&self) -> Order {
        if self.mutant(Mutant::DmOrdersByDeadline) {
            return Order::new(crate::policy::PriorityScheme::Edf, self.policy.classes);
        }
        if self.mutant(Mutant::ClassRuleIgnored) {
            return Order::new(self.policy.priority, crate::policy::ClassRule::Rtds);
        }
        self.order
    }

    /// After the policy's priority scheme or class rule changed: the order follows.
    fn policy_order_changed(&mut self) {
        self.order = Order::new(self.policy.priority, self.policy.classes);
    }

    /// A unit that joins the background class starts at no less than the class's virtual
    /// time (see [`crate::prio`]): time asleep or on a reservation earns no credit there.
    fn place_background(&mut self, h: u32) {
        let vmin = self.vmin;
        if let Some(u) = self.units.get_mut(h as usize) {
            if crate::prio::is_background(u) && u.vtime < vmin {
                u.vtime = vmin;
            }
        }
    }

    fn periodic(&self) -> bool {
        self.policy.server == ServerKind::Periodic
    }

    /// Sets what `cpu` runs or idles on (see [`Cpus::assign`]).
    fn set_cpu(&mut self, cpu: usize, curr: u32, phantom: u32) -> Result<()> {
        let o = self.order();
        self.cpus.assign(self.units, o, cpu, curr, phantom)
    }

    /// After `h`'s priority key changed: refreshes the key of the CPU it runs or idles on.
    fn refresh_key(&mut self, h: u32) {
        let o = self.order();
        if let Some(u) = self.units.get(h as usize) {
            self.cpus.refresh_key(u, h, o);
        }
    }

    /// Whether `h` runs on a CPU or a CPU idles on its budget. O(1).
    fn is_curr(&self, h: u32) -> bool {
        self.units.get(h as usize).is_some_and(|u| u.on_cpu != NIL)
    }
}

// Internal access for the invariant checker and the tests.
impl<'a> Scheduler<'a> {
    pub(crate) fn raw_units(&self) -> &[Unit] {
        self.units
    }
    pub(crate) fn raw_cpus(&self) -> &[Pcpu] {
        self.cpus.all()
    }
    pub(crate) fn raw_runq(&self) -> &RunHeap<'a> {
        &self.runq
    }
    pub(crate) fn raw_groups(&self) -> &groups::Groups {
        &self.groups
    }
    #[cfg(test)]
    pub(crate) fn raw_groups_mut(&mut self) -> &mut groups::Groups {
        &mut self.groups
    }
    /// CPUs with a pinned queue, units on pinned and group queues, the cached head (if
    /// valid).
    pub(crate) fn raw_pinned(&self) -> (CpuMask, usize, Option<Option<u32>>) {
        (
            *self.cpus.pinned(),
            self.pinned_len,
            self.head_ok.then_some(self.head),
        )
    }
    pub(crate) fn raw_replq(&self) -> &ReplHeap<'a> {
        &self.replq
    }
    pub(crate) fn raw_depleted(&self) -> &DepletedList {
        &self.depleted
    }
    pub(crate) fn raw_busy(&self) -> CpuMask {
        *self.cpus.busy()
    }
    pub(crate) fn raw_unserved(&self) -> CpuMask {
        *self.cpus.unserved()
    }
    pub(crate) fn raw_retickle(&self) -> CpuMask {
        *self.cpus.retickle()
    }
    pub(crate) fn raw_bound(&self) -> (PrioKey, u32, PrioKey) {
        self.cpus.bounds()
    }
    pub(crate) fn raw_group_bound(&self, g: usize) -> PrioKey {
        self.cpus.group_bound(g)
    }
    #[cfg(test)]
    pub(crate) fn raw_set_group_bound(&mut self, g: usize, k: Option<PrioKey>) {
        self.cpus.set_group_bound(g, k);
    }
    pub(crate) fn raw_spares(&self) -> &spare::SparePool {
        &self.spares
    }
    pub(crate) fn raw_order(&self) -> Order {
        self.order()
    }
    #[cfg(test)]
    pub(crate) fn raw_cpus_mut(&mut self) -> &mut [Pcpu] {
        self.cpus.all_mut()
    }
    /// For the tests and the broken variants of [`crate::mutants`].
    pub(crate) fn raw_units_mut(&mut self) -> &mut [Unit] {
        self.units
    }
}
