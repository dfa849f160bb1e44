//! Read-only accessors: for dumps (Xen's debug key 'r'), tests and the C ABI.

use core::cmp::Ordering;

use super::Scheduler;
use crate::cpumask::CpuMask;
use crate::error::{Error, Result};
use crate::params::Params;
use crate::policy::Policy;
use crate::prio::prio_cmp;
use crate::stats::Stats;
use crate::unit::{Unit, UnitFlags, UnitId, UnitInfo};

impl<'a> Scheduler<'a> {
    /// The policy in force.
    pub fn policy(&self) -> Policy {
        self.policy
    }

    /// The number of unit slots.
    pub fn capacity(&self) -> usize {
        self.units.len()
    }

    /// The number of CPU slots.
    pub fn nr_cpus(&self) -> usize {
        self.cpus.len()
    }

    /// The CPUs currently managed by this instance.
    pub fn online(&self) -> CpuMask {
        *self.cpus.online()
    }

    /// CPUs asked to reschedule that have not run `do_schedule` since (Xen's `prv->tickled`).
    pub fn tickled(&self) -> CpuMask {
        *self.cpus.tickled()
    }

    /// The instance's clock: the latest time a hook was given (see the `clock` module).
    pub fn clock(&self) -> i64 {
        self.clock
    }

    /// The expiry the host's replenishment timer is programmed with, if any.
    pub fn timer(&self) -> Option<i64> {
        self.timer
    }

    /// Event counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The number of allocated units.
    pub fn nr_units(&self) -> u32 {
        self.nr_units
    }

    /// The unit running on `cpu` (`None` for idle or an unknown CPU).
    pub fn curr(&self, cpu: usize) -> Option<UnitId> {
        self.cpus.curr(cpu)
    }

    /// Periodic server: the blocked unit whose budget the idle `cpu` is consuming.
    pub fn phantom(&self, cpu: usize) -> Option<UnitId> {
        self.cpus.phantom(cpu)
    }

    /// An allocated unit.
    #[inline]
    pub(super) fn unit(&self, h: UnitId) -> Result<&Unit> {
        match self.units.get(h.0 as usize) {
            Some(u) if u.in_use => Ok(u),
            _ => Err(Error::NoSuchUnit.cold()),
        }
    }

    /// An allocated and inserted unit.
    pub(super) fn inserted_unit(&self, h: UnitId) -> Result<&Unit> {
        let u = self.unit(h)?;
        if u.inserted {
            Ok(u)
        } else {
            Err(Error::Busy.cold())
        }
    }

    /// Whether a unit was picked by a `do_schedule` whose `context_saved` is still to come:
    /// it runs or is being switched out ([`UnitInfo::flags`]' `SCHEDULED`, without the
    /// snapshot: the C ABI asks it on every `context_saved`).
    #[inline]
    pub fn scheduled(&self, h: UnitId) -> Result<bool> {
        Ok(self.unit(h)?.flags.contains(UnitFlags::SCHEDULED))
    }

    /// Whether a unit is its CPU's current unit ([`UnitInfo::running`], without the
    /// snapshot).
    #[inline]
    pub fn running(&self, h: UnitId) -> Result<bool> {
        let u = self.unit(h)?;
        Ok(self.cpus.curr(u.cpu as usize) == Some(h))
    }

    /// A snapshot of one unit.
    pub fn unit_info(&self, h: UnitId) -> Result<UnitInfo> {
        let u = self.unit(h)?;
        Ok(UnitInfo {
            domain: u.domain,
            vcpu: u.vcpu,
            period: u.period,
            budget: u.budget,
            cur_budget: u.cur_budget,
            cur_deadline: u.cur_deadline,
            last_start: u.last_start,
            priority_level: u.priority_level,
            flags: u.flags.bits().into(),
            cpu: u.cpu,
            queue: u.queue as u32,
            on_replq: u.on_replq() as u32,
            runnable: u.runnable as u32,
            inserted: u.inserted as u32,
            running: self.running(h)? as u32,
        })
    }

    /// The hard affinity of a unit.
    pub fn affinity(&self, h: UnitId) -> Result<CpuMask> {
        Ok(self.unit(h)?.affinity)
    }

    /// The parameters of a unit (Xen's `getvcpuinfo`).
    pub fn params(&self, h: UnitId) -> Result<Params> {
        Ok(self.unit(h)?.params())
    }

    /// Lengths of the run, depleted and replenishment queues.
    pub fn queue_lens(&self) -> (usize, usize, usize) {
        (self.runq_len(), self.depleted.len, self.replq.len())
    }

    /// The `i`-th unit of the run queue: the shared heap in heap order, then the CPUs'
    /// pinned queues (for dumps).
    pub fn runq_at(&self, i: usize) -> Option<UnitId> {
        self.runq_nth(i).map(UnitId)
    }

    /// The `i`-th unit of the replenishment queue in heap order (for dumps).
    pub fn replq_at(&self, i: usize) -> Option<UnitId> {
        self.replq.at(i).map(UnitId)
    }

    /// The head of the run queue: what a CPU that allows it would pick next.
    pub fn runq_head(&self) -> Option<UnitId> {
        self.runq_head_now().ok().flatten().map(UnitId)
    }

    /// Whether `a` has strictly higher priority than `b` under the order in force.
    pub fn outranks(&self, a: UnitId, b: UnitId) -> Result<bool> {
        Ok(prio_cmp(self.unit(a)?, self.unit(b)?, self.order()) == Ordering::Less)
    }

    /// Iterates over allocated units.
    pub fn units(&self) -> impl Iterator<Item = UnitId> + '_ {
        self.units
            .iter()
            .enumerate()
            .filter(|(_, u)| u.in_use)
            .map(|(i, _)| UnitId(i as u32))
    }

    /// The run-queue unit `do_schedule` would pick first on `cpu` (unless the unit running
    /// there keeps the CPU), without changing anything: the first one the pick may take
    /// (affinity, pool; under the periodic server a blocked unit only on its reserved
    /// budget) that is runnable as far as the scheduler knows, or, under the periodic
    /// server, blocked. A host that learns runnability lazily (Xen pauses domains without
    /// the scheduler lock) checks it and reports a non-runnable one with
    /// [`Self::set_unrunnable`] before calling `do_schedule`, until the unit named is
    /// runnable or known to be blocked; Xen's shim must also compute the runstate of the
    /// unit it will run (`unit_runnable_state`), which this check does.
    pub fn runq_peek(&self, cpu: usize) -> Result<Option<UnitId>> {
        self.cpus.check(cpu)?;
        let (online, periodic, o) = (*self.cpus.online(), self.periodic(), self.order());
        let h = self.runq_first_on(cpu, |u| {
            super::enqueue::pickable(u, cpu, online, periodic, o) && (periodic || u.runnable)
        })?;
        Ok(h.map(UnitId))
    }
}
