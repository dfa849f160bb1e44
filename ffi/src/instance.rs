//! An instance in the caller's memory, its C handle [`Rtsched`] (whose documentation is the
//! host's contract: the call protocol and the lock contract), and unit handles.
//!
//! An instance is found through its pointer only when the memory carries the magic and the
//! address the instance was initialised at ([`Instance::this`]): a byte copy of an instance
//! (`memcpy`) still holds slices into the original's memory, so it is refused rather than
//! allowed to write there. A unit is found through its handle only when the handle carries
//! the slot's current generation ([`Instance::unit`]).

use rtsched::{Scheduler, UnitId};

use crate::ptr::aligned;
use crate::types::{RTSCHED_NONE, RTSCHED_SLOT_BITS, RTSCHED_SLOT_MASK};

/// Marks memory initialised by [`crate::rtsched_init`] ("RTSCHED\0").
pub(crate) const MAGIC: u64 = 0x0044_4548_4353_5452;

/// Generations count modulo `2^(32 - RTSCHED_SLOT_BITS)`: the bits of a handle above its slot.
const GEN_MASK: u32 = u32::MAX >> RTSCHED_SLOT_BITS;

/// An rtsched instance: the scheduler of one Xen cpupool (rt-global) or of one PCPU
/// (rt-partition), in memory the host provides. This comment is the host's contract, written
/// once: the call protocol and the lock contract (the core's crate docs, the Xen shim and the
/// loom models of `model-tests` cite it).
///
/// # Life cycle
///
/// `rtsched_mem_size` and `rtsched_mem_align` for a unit capacity and a CPU count; allocate
/// (outside any hook); `rtsched_init`; `rtsched_cpu_add` for each PCPU that joins. A unit is
/// allocated (`rtsched_unit_alloc`, Xen's `alloc_udata`), inserted (`rtsched_unit_insert`),
/// driven by the hooks below, removed (`rtsched_unit_remove`) and freed
/// (`rtsched_unit_free`). An idle PCPU leaves with `rtsched_cpu_remove`. `rtsched_deinit`
/// ends the instance; its memory can then be freed.
///
/// # Handles
///
/// A unit handle names a slot, `handle & RTSCHED_SLOT_MASK` (below the capacity: a host may
/// index its own per-unit table with it), and the slot's generation (the bits above
/// `RTSCHED_SLOT_BITS`). Freeing a unit retires its handle: calls with it are refused
/// (`-EINVAL`), also after the slot holds a new unit, until the slot has been reused 4096
/// times. An instance is bound to the address it was initialised at: a copy of its memory is
/// not an instance (`-EINVAL`).
///
/// # Hook protocol (Xen's scheduling core, as for rt.c)
///
/// - `rtsched_do_schedule(cpu, now, prev_runnable, tasklet_work)`, on the CPU that
///   reschedules: `next` runs for `slice` ns (`RTSCHED_NONE`: the idle unit, for `slice` ns
///   when a periodic server's budget is being consumed, else -1: until woken). When the unit
///   that ran is not `next`, it is *being switched out*.
/// - `rtsched_context_saved(prev, runnable)` once the context of a unit being switched out
///   is saved, before it runs anywhere else. Refused (`-EBUSY`) for any other unit. Between
///   the two calls the host switches context with the lock dropped, and other CPUs may make
///   any call; the unit stays off every queue until its `context_saved`.
/// - `rtsched_unit_wake` / `rtsched_unit_sleep` when a unit becomes runnable / stops being
///   runnable; `rtsched_unit_set_unrunnable` for a queued unit the host finds not runnable
///   without a sleep (Xen pauses domains without the lock: the shim checks the unit
///   `rtsched_runq_peek` names before `do_schedule`).
/// - `rtsched_unit_insert` / `rtsched_unit_remove` when a unit enters / leaves the instance.
///   A unit is inserted when it does not run (`-EBUSY` for `runnable && is_running`, or for a
///   unit removed while it ran or was being switched out, until its `context_saved`); a unit
///   is freed only when removed and neither running nor being switched out (`-EBUSY`).
/// - `rtsched_pick_cpu` chooses a CPU for a unit, `rtsched_unit_migrate` assigns one to a
///   unit that is not running (`-EBUSY` while it runs).
/// - `rtsched_timer_fire(now)` when the instance's replenishment timer expires.
/// - After a call that returns actions, the host raises `SCHEDULE_SOFTIRQ` on the CPUs of
///   `reschedule` and programs (`RTSCHED_TIMER_OP_SET`, for `timer_expiry`) or stops
///   (`RTSCHED_TIMER_OP_STOP`) the replenishment timer, in call order.
///
/// # Time
///
/// `now` is the host's clock in ns (Xen's `NOW()`), `0 ..= RTSCHED_TIME_MAX`; a time outside
/// is refused (`-EINVAL`). The instance's clock is the latest time it was given: an earlier
/// time (CPUs' clocks differ by a little) is taken as that latest time and counted
/// (`RTSCHED_STAT_CLOCK_BACKWARDS`). So a time far in the future moves the instance's clock
/// there for good.
///
/// # Errors
///
/// Every call checks its pointers, handles, CPUs, values and the protocol above. A refused
/// call returns a negated Xen errno (`RtschedResult`), writes no output and changes nothing
/// in the instance, not even a counter.
///
/// # Lock contract
///
/// An instance is not synchronised: the host serialises every call on it with one spinlock,
/// the instance lock. rt-global: one instance per cpupool, its lock the pool's, which the
/// `sched_resource->schedule_lock` of every PCPU of the pool points at. rt-partition: one
/// instance per PCPU, its lock that PCPU's `sched_resource->_lock`.
///
/// - Xen's scheduling core holds it (the unit's or the PCPU's schedule lock) around the
///   hooks `do_schedule` (where the shim also calls `runq_peek` and `unit_set_unrunnable`),
///   `wake`, `sleep`, `adjust_affinity` (`unit_set_affinity`), `pick_resource` (`pick_cpu`)
///   and `migrate` (the locks of both PCPUs, so an rt-partition migration may remove the unit
///   from one instance and insert it into the other).
/// - The shim takes it itself, as rt.c does (`unit_schedule_lock` or `pcpu_schedule_lock`,
///   which re-check that the lock did not move, or the instance's lock directly), in
///   `insert_unit` and `remove_unit` (with the `unit_alloc`, `unit_set_params` and
///   `unit_free` they need), `context_saved`, the replenishment timer handler, the domctl
///   handlers, `alloc_udata` / `free_udata`, `switch_sched` (`cpu_add`, nested inside the lock
///   of the PCPU's previous scheduler, interrupts off), `deinit_pdata` (`cpu_remove`), the
///   policy switches and the dumps.
/// - The lock is held from a call until the actions it returned are performed (a raised
///   softirq runs later).
/// - Between `do_schedule` on a CPU and `context_saved` for the unit it switched out the lock
///   is dropped: that window is what the hook protocol above makes safe.
/// - Calls without an instance (`rtsched_mem_size`, `rtsched_mem_align`, `rtsched_version`,
///   `rtsched_params_check`, `rtsched_partition_place`) need no lock; `rtsched_init` needs
///   none before the handle is published; `rtsched_deinit` needs that no other call can come.
/// - Nothing in the library blocks, allocates, or calls the host; a lock of the host's own
///   that nests with the instance lock is the host's to order.
pub struct Rtsched {
    _private: [u8; 0],
}

/// An initialised instance, placed at the start of the caller's memory.
#[repr(C)]
pub(crate) struct Instance {
    /// [`MAGIC`] while the instance lives; 0 after `rtsched_deinit`.
    pub(crate) magic: u64,
    /// The address the instance was initialised at.
    pub(crate) this: usize,
    /// Per unit slot: its generation, the upper bits of the handles that name it. Bumped
    /// when the slot's unit is freed.
    pub(crate) gens: &'static mut [u32],
    pub(crate) sched: Scheduler<'static>,
}

impl Instance {
    /// The unit named by handle `h`: its slot, if `h` carries the slot's current generation.
    /// Whether the slot holds a unit is the core's to say (`NoSuchUnit`).
    pub(crate) fn unit(&self, h: u32) -> Option<UnitId> {
        let slot = h & RTSCHED_SLOT_MASK;
        let gen = *self.gens.get(slot as usize)?;
        (h >> RTSCHED_SLOT_BITS == gen).then_some(UnitId(slot))
    }

    /// The handle of the unit in slot `id`: its slot and the slot's generation.
    pub(crate) fn handle(&self, id: UnitId) -> u32 {
        let gen = self.gens.get(id.0 as usize).copied().unwrap_or(0);
        (id.0 & RTSCHED_SLOT_MASK) | (gen << RTSCHED_SLOT_BITS)
    }

    /// The handle of an optional unit, [`RTSCHED_NONE`] for none.
    pub(crate) fn handle_or_none(&self, id: Option<UnitId>) -> u32 {
        id.map_or(RTSCHED_NONE, |id| self.handle(id))
    }

    /// After the unit of slot `id` was freed: its handle goes stale.
    pub(crate) fn retire(&mut self, id: UnitId) {
        if let Some(g) = self.gens.get_mut(id.0 as usize) {
            *g = g.wrapping_add(1) & GEN_MASK;
        }
    }

    /// Whether `id` was picked by a `do_schedule` and its `context_saved` has not been called
    /// yet: it runs or is being switched out (`SCHEDULED`).
    pub(crate) fn scheduled(&self, id: UnitId) -> bool {
        self.sched.scheduled(id).unwrap_or(false)
    }

    /// Whether `id` is being switched out: `SCHEDULED` and no longer running.
    pub(crate) fn switching_out(&self, id: UnitId) -> bool {
        self.scheduled(id) && !self.running(id)
    }

    /// Whether `id` runs on a CPU.
    pub(crate) fn running(&self, id: UnitId) -> bool {
        self.sched.running(id).unwrap_or(false)
    }
}

/// Whether `p` is non-null, aligned and points to a live instance initialised at `p`.
///
/// # Safety
/// `p` must be null or readable for `size_of::<Instance>()` bytes.
unsafe fn live(p: *const Instance) -> bool {
    if !aligned(p) {
        return false;
    }
    // SAFETY: non-null and aligned; the caller guarantees it is readable. The magic and the
    // address are the first two words (`repr(C)`), read as plain integers (whatever the
    // bytes, only their equality to the magic and to `p` is tested) before anything else is
    // trusted.
    let (magic, this) = unsafe {
        (
            core::ptr::read(core::ptr::addr_of!((*p).magic)),
            core::ptr::read(core::ptr::addr_of!((*p).this)),
        )
    };
    magic == MAGIC && this == p as usize
}

/// The instance behind `p`, if `p` is non-null, aligned and a live instance at its own
/// address.
///
/// # Safety
/// `p` must be null or point to memory that was passed to `rtsched_init` (or to readable
/// memory of at least `size_of::<Instance>()` bytes), not accessed concurrently.
pub(crate) unsafe fn inst<'a>(p: *const Rtsched) -> Option<&'a Instance> {
    let p = p as *const Instance;
    // SAFETY: caller contract.
    if !unsafe { live(p) } {
        return None;
    }
    // SAFETY: the magic and the address show `rtsched_init` wrote a valid `Instance` here.
    Some(unsafe { &*p })
}

/// Mutable variant of [`inst`].
///
/// # Safety
/// As [`inst`], and no other reference to the instance may be live (the host's lock).
pub(crate) unsafe fn inst_mut<'a>(p: *mut Rtsched) -> Option<&'a mut Instance> {
    let p = p as *mut Instance;
    // SAFETY: caller contract.
    if !unsafe { live(p) } {
        return None;
    }
    // SAFETY: initialised (magic, address) and exclusively ours under the host's lock.
    Some(unsafe { &mut *p })
}

/// Whether `mem` (aligned, readable) holds a live instance.
///
/// # Safety
/// `mem` must be null or readable for `size_of::<Instance>()` bytes.
pub(crate) unsafe fn holds_instance(mem: *const u8) -> bool {
    // SAFETY: caller contract.
    unsafe { live(mem as *const Instance) }
}
