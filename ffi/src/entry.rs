//! The exported `extern "C"` entry points.
//!
//! Each is `unsafe` to call: its pointer arguments must be null or valid for the access
//! described, and calls on one instance must be serialised by the caller (the lock contract,
//! see [`Rtsched`]). Every argument and the hook protocol are checked; failures return a
//! negated errno, write no output and change nothing.

use core::mem::{align_of, size_of, MaybeUninit};

use rtsched::{
    ClassRule, CpuMask, Params, Pcpu, Policy, PriorityScheme, Scheduler, ServerKind, Storage,
    Topology, Unit, MAX_CPUS,
};

use crate::instance::{holds_instance, inst, inst_mut, Instance, Rtsched, MAGIC};
use crate::ptr::{input, out};
use crate::types::*;

/// Returns early with `-EINVAL` when an `Option` is `None`.
macro_rules! arg {
    ($e:expr) => {
        match $e {
            Some(v) => v,
            None => return RtschedResult::Einval,
        }
    };
}

/// The core's parameters from the C struct: `None` (`-EINVAL`) for an unknown flag or a
/// non-zero `reserved`; the values themselves are validated by the core (or the caller).
fn params_from(p: RtschedParams) -> Option<Params> {
    let flags = RtschedParamFlags::from_bits(p.flags)?;
    (p.reserved == 0).then_some(Params {
        period: p.period,
        budget: p.budget,
        extratime: flags.contains(RtschedParamFlags::EXTRATIME),
    })
}

/// Returns early with `-EBUSY` when the call would break the hook protocol (see [`Rtsched`]).
macro_rules! busy_if {
    ($breaks:expr) => {
        if $breaks {
            return RtschedResult::Ebusy;
        }
    };
}

/// Returns early with the mapped errno when a core call fails.
macro_rules! core_call {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return RtschedResult::from(e),
        }
    };
}

/// Byte offsets of the parts of an instance's memory.
struct Layout {
    gens: usize,
    units: usize,
    runq: usize,
    replq: usize,
    cpus: usize,
    size: usize,
}

const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// The alignment every part of the memory needs.
const ALIGN: usize = max(
    max(align_of::<Instance>(), align_of::<Unit>()),
    max(align_of::<u32>(), align_of::<Pcpu>()),
);

fn round_up(x: usize) -> Option<usize> {
    x.checked_add(ALIGN - 1).map(|v| v & !(ALIGN - 1))
}

fn layout(capacity: u32, nr_cpus: u32) -> Option<Layout> {
    if capacity == 0 || capacity > RTSCHED_MAX_UNITS || nr_cpus == 0 || nr_cpus as usize > MAX_CPUS
    {
        return None;
    }
    let cap = capacity as usize;
    let gens = round_up(size_of::<Instance>())?;
    let units = round_up(gens.checked_add(size_of::<u32>().checked_mul(cap)?)?)?;
    let runq = round_up(units.checked_add(size_of::<Unit>().checked_mul(cap)?)?)?;
    let replq = round_up(runq.checked_add(size_of::<u32>().checked_mul(cap)?)?)?;
    let cpus = round_up(replq.checked_add(size_of::<u32>().checked_mul(cap)?)?)?;
    let size = round_up(cpus.checked_add(size_of::<Pcpu>().checked_mul(nr_cpus as usize)?)?)?;
    Some(Layout {
        gens,
        units,
        runq,
        replq,
        cpus,
        size,
    })
}

/// Bytes of memory an instance with `capacity` units and `nr_cpus` CPUs needs, or 0 when
/// the numbers are out of range (capacity 0 or above `RTSCHED_MAX_UNITS`, no CPU or more
/// than `RTSCHED_MAX_CPUS`).
#[no_mangle]
pub extern "C" fn rtsched_mem_size(capacity: u32, nr_cpus: u32) -> usize {
    match layout(capacity, nr_cpus) {
        Some(l) => l.size,
        None => 0,
    }
}

/// Alignment (bytes) the memory of an instance needs.
#[no_mangle]
pub extern "C" fn rtsched_mem_align() -> usize {
    ALIGN
}

/// Library version: `major << 16 | minor << 8 | patch`.
#[no_mangle]
pub extern "C" fn rtsched_version() -> u32 {
    const fn num(s: &str) -> u32 {
        let b = s.as_bytes();
        let mut v = 0u32;
        let mut i = 0;
        while i < b.len() {
            v = v * 10 + (b[i] - b'0') as u32;
            i += 1;
        }
        v
    }
    const V: u32 = (num(env!("CARGO_PKG_VERSION_MAJOR")) << 16)
        | (num(env!("CARGO_PKG_VERSION_MINOR")) << 8)
        | num(env!("CARGO_PKG_VERSION_PATCH"));
    V
}

fn policy_from(p: &RtschedPolicy) -> Option<Policy> {
    Some(Policy {
        topology: match p.topology {
            RTSCHED_TOPOLOGY_GLOBAL => Topology::Global,
            RTSCHED_TOPOLOGY_PARTITION => Topology::Partition,
            _ => return None,
        },
        priority: priority_from(p.priority)?,
        server: server_from(p.server)?,
        admission: match p.admission {
            0 => false,
            1 => true,
            _ => return None,
        },
        classes: classes_from(p.classes)?,
    })
}

fn classes_from(c: u32) -> Option<ClassRule> {
    match c {
        RTSCHED_CLASS_RULE_CLASSES => Some(ClassRule::Classes),
        RTSCHED_CLASS_RULE_RTDS => Some(ClassRule::Rtds),
        _ => None,
    }
}

fn priority_from(p: u32) -> Option<PriorityScheme> {
    match p {
        RTSCHED_PRIORITY_EDF => Some(PriorityScheme::Edf),
        RTSCHED_PRIORITY_DM => Some(PriorityScheme::Dm),
        _ => None,
    }
}

fn server_from(s: u32) -> Option<ServerKind> {
    match s {
        RTSCHED_SERVER_DEFERRABLE => Some(ServerKind::Deferrable),
        RTSCHED_SERVER_PERIODIC => Some(ServerKind::Periodic),
        RTSCHED_SERVER_CBS => Some(ServerKind::Cbs),
        _ => None,
    }
}

fn policy_to(p: Policy) -> RtschedPolicy {
    RtschedPolicy {
        topology: p.topology as u32,
        priority: p.priority as u32,
        server: p.server as u32,
        admission: p.admission as u32,
        classes: p.classes as u32,
    }
}

/// Initialises an instance in `mem` (`len` bytes, aligned to [`rtsched_mem_align`]) for
/// `capacity` units and CPUs `0..nr_cpus` (none online yet), and stores its handle in `*out`.
/// Memory that holds a live instance is refused (`-EBUSY`): deinitialise it first.
///
/// # Safety
/// `mem` must be valid for writes of `len` bytes and not used by anything else while the
/// instance lives; `policy` and `out` must be null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_init(
    mem: *mut core::ffi::c_void,
    len: usize,
    capacity: u32,
    nr_cpus: u32,
    policy: *const RtschedPolicy,
    out_handle: *mut *mut Rtsched,
) -> RtschedResult {
    let l = arg!(layout(capacity, nr_cpus));
    // SAFETY: `policy` is null or valid for reads (caller contract); all fields are u32.
    let pol = arg!(policy_from(&arg!(unsafe { input(policy) })));
    // SAFETY: `out_handle` is null or valid for writes.
    let out_handle = arg!(unsafe { out(out_handle) });
    let base = mem as *mut u8;
    if base.is_null() || !(base as usize).is_multiple_of(ALIGN) || len < l.size {
        return RtschedResult::Einval;
    }
    // SAFETY: `base` is non-null, aligned, and valid for `l.size > size_of::<Instance>()`
    // bytes.
    if unsafe { holds_instance(base) } {
        return RtschedResult::Ebusy;
    }
    let cap = capacity as usize;
    let ncpus = nr_cpus as usize;
    // SAFETY: `mem` is valid for `len >= l.size` bytes and aligned to ALIGN (checked above);
    // every part starts at an ALIGN-aligned offset within `l.size` and the parts do not
    // overlap (see `layout`). Each part is fully initialised with `write` before a slice
    // over it is formed, and the memory is exclusively the instance's from now on, so the
    // `'static` slices are never aliased.
    let (gens, storage) = unsafe {
        let gens = base.add(l.gens) as *mut u32;
        let units = base.add(l.units) as *mut Unit;
        let runq = base.add(l.runq) as *mut u32;
        let replq = base.add(l.replq) as *mut u32;
        let cpus = base.add(l.cpus) as *mut Pcpu;
        for i in 0..cap {
            gens.add(i).write(0);
            units.add(i).write(Unit::EMPTY);
            runq.add(i).write(0);
            replq.add(i).write(0);
        }
        for i in 0..ncpus {
            cpus.add(i).write(Pcpu::IDLE);
        }
        (
            core::slice::from_raw_parts_mut(gens, cap),
            Storage {
                units: core::slice::from_raw_parts_mut(units, cap),
                runq: core::slice::from_raw_parts_mut(runq, cap),
                replq: core::slice::from_raw_parts_mut(replq, cap),
                cpus: core::slice::from_raw_parts_mut(cpus, ncpus),
            },
        )
    };
    let p = base as *mut Instance;
    // The scheduler is built in place: built on the stack and copied, it would make this
    // the largest frame of the object (the instance is several KB).
    // SAFETY: `p` is aligned and the first `size_of::<Instance>()` bytes are ours (checked
    // above); a field's address is formed without reading or referencing the uninitialised
    // instance, and `MaybeUninit<T>` has `T`'s layout.
    let place = unsafe {
        &mut *(core::ptr::addr_of_mut!((*p).sched) as *mut MaybeUninit<Scheduler<'static>>)
    };
    core_call!(Scheduler::init_in(place, storage, pol));
    // SAFETY: as above; the magic is written last, once every field is initialised.
    unsafe {
        core::ptr::addr_of_mut!((*p).gens).write(gens);
        core::ptr::addr_of_mut!((*p).this).write(p as usize);
        core::ptr::addr_of_mut!((*p).magic).write(MAGIC);
    }
    *out_handle = p as *mut Rtsched;
    RtschedResult::Ok
}

/// Invalidates an instance: later calls with its handle return `-EINVAL`. The memory can
/// be freed afterwards (units still allocated are forgotten with it).
///
/// # Safety
/// `s` must be null or a handle from [`rtsched_init`].
#[no_mangle]
pub unsafe extern "C" fn rtsched_deinit(s: *mut Rtsched) -> RtschedResult {
    // SAFETY: caller contract.
    let i = arg!(unsafe { inst_mut(s) });
    i.magic = 0;
    RtschedResult::Ok
}

/// A CPU joins the instance (Xen's `switch_sched`).
///
/// # Safety
/// `s` must be null or a live handle; calls serialised by the caller.
#[no_mangle]
pub unsafe extern "C" fn rtsched_cpu_add(s: *mut Rtsched, cpu: u32) -> RtschedResult {
    // SAFETY: caller contract.
    let i = arg!(unsafe { inst_mut(s) });
    core_call!(i.sched.cpu_add(cpu as usize));
    RtschedResult::Ok
}

/// A CPU leaves the instance (Xen's `deinit_pdata`); it must be idle, and may have been
/// withdrawn (`rtsched_cpu_withdraw`) before.
///
/// # Safety
/// As [`rtsched_cpu_add`].
#[no_mangle]
pub unsafe extern "C" fn rtsched_cpu_remove(s: *mut Rtsched, cpu: u32) -> RtschedResult {
    // SAFETY: caller contract.
    let i = arg!(unsafe { inst_mut(s) });
    core_call!(i.sched.cpu_remove(cpu as usize));
    RtschedResult::Ok
}

/// Allocates a unit with Xen's defaults (10 ms, 4 ms, extratime) and hard affinity
/// `*affinity`; stores its handle in `*out_handle`.
///
/// # Safety
/// `s` a live handle or null; `affinity`, `out_handle` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_unit_alloc(
    s: *mut Rtsched,
    domain: u32,
    vcpu: u32,
    affinity: *const RtschedCpumask,
    out_handle: *mut u32,
) -> RtschedResult {
    // SAFETY: caller contract for all three pointers.
    let (i, aff, o) = unsafe { (inst_mut(s), input(affinity), out(out_handle)) };
    let (i, aff, o) = (arg!(i), arg!(aff), arg!(o));
    let id = core_call!(i.sched.unit_alloc(domain, vcpu, aff.into()));
    *o = i.handle(id);
    RtschedResult::Ok
}

/// Frees a unit; it must be removed, not running and not being switched out. Its handle is
/// refused from now on.
///
/// # Safety
/// As [`rtsched_cpu_add`].
#[no_mangle]
pub unsafe extern "C" fn rtsched_unit_free(s: *mut Rtsched, unit: u32) -> RtschedResult {
    // SAFETY: caller contract.
    let i = arg!(unsafe { inst_mut(s) });
    let id = arg!(i.unit(unit));
    core_call!(i.sched.unit_free(id));
    i.retire(id);
    RtschedResult::Ok
}

/// Writes `a` to `*o` and returns success.
fn ok_actions(o: &mut RtschedActions, a: rtsched::Actions) -> RtschedResult {
    *o = a.into();
    RtschedResult::Ok
}

/// Inserts a unit (Xen's `insert_unit`); stores the CPU it is assigned to in `*out_cpu`
/// (the host calls `sched_set_res` with it) and the actions in `*actions`. `-EBUSY` for a
/// unit already inserted, still running or being switched out after a remove, and for a
/// runnable unit the host says is running (the instance cannot take over a unit running on a
/// CPU it did not schedule).
///
/// # Safety
/// `s` a live handle or null; `out_cpu`, `actions` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_unit_insert(
    s: *mut Rtsched,
    unit: u32,
    now: i64,
    runnable: bool,
    is_running: bool,
    out_cpu: *mut u32,
    actions: *mut RtschedActions,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, c, o) = unsafe { (inst_mut(s), out(out_cpu), out(actions)) };
    let (i, c, o) = (arg!(i), arg!(c), arg!(o));
    let id = arg!(i.unit(unit));
    busy_if!(i.scheduled(id) || (runnable && is_running));
    let (cpu, a) = core_call!(i.sched.insert(id, now, runnable, is_running));
    *c = cpu as u32;
    ok_actions(o, a)
}

/// Removes a unit from every queue (Xen's `remove_unit`).
///
/// # Safety
/// `s` a live handle or null; `actions` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_unit_remove(
    s: *mut Rtsched,
    unit: u32,
    actions: *mut RtschedActions,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst_mut(s), out(actions)) };
    let (i, o) = (arg!(i), arg!(o));
    let id = arg!(i.unit(unit));
    ok_actions(o, core_call!(i.sched.remove(id)))
}

/// A unit became runnable at `now` (Xen's `wake`).
///
/// # Safety
/// As [`rtsched_unit_remove`].
#[no_mangle]
pub unsafe extern "C" fn rtsched_unit_wake(
    s: *mut Rtsched,
    unit: u32,
    now: i64,
    actions: *mut RtschedActions,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst_mut(s), out(actions)) };
    let (i, o) = (arg!(i), arg!(o));
    let id = arg!(i.unit(unit));
    ok_actions(o, core_call!(i.sched.wake(id, now)))
}

/// A unit stopped being runnable (Xen's `sleep`).
///
/// # Safety
/// As [`rtsched_unit_remove`].
#[no_mangle]
pub unsafe extern "C" fn rtsched_unit_sleep(
    s: *mut Rtsched,
    unit: u32,
    actions: *mut RtschedActions,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst_mut(s), out(actions)) };
    let (i, o) = (arg!(i), arg!(o));
    let id = arg!(i.unit(unit));
    ok_actions(o, core_call!(i.sched.sleep(id)))
}

/// The host found a queued unit not runnable (a domain paused without the scheduler lock):
/// it leaves both queues.
///
/// # Safety
/// As [`rtsched_unit_remove`].
#[no_mangle]
pub unsafe extern "C" fn rtsched_unit_set_unrunnable(
    s: *mut Rtsched,
    unit: u32,
    actions: *mut RtschedActions,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst_mut(s), out(actions)) };
    let (i, o) = (arg!(i), arg!(o));
    let id = arg!(i.unit(unit));
    ok_actions(o, core_call!(i.sched.set_unrunnable(id)))
}

/// The run-queue unit `rtsched_do_schedule` would pick first on `cpu` (unless the unit
/// running there keeps it), or `RTSCHED_NONE`, without changing anything: the host checks
/// that unit's runnability before `rtsched_do_schedule` and reports it with
/// `rtsched_unit_set_unrunnable` while it is not runnable and its `runnable` field
/// (`rtsched_unit_info`) says it is.
///
/// # Safety
/// `s` a live handle or null; `out_unit` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_runq_peek(
    s: *const Rtsched,
    cpu: u32,
    out_unit: *mut u32,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst(s), out(out_unit)) };
    let (i, o) = (arg!(i), arg!(o));
    let h = core_call!(i.sched.runq_peek(cpu as usize));
    *o = i.handle_or_none(h);
    RtschedResult::Ok
}

/// Picks the next unit for `cpu` at `now` (Xen's `do_schedule`).
///
/// # Safety
/// `s` a live handle or null; `decision` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_do_schedule(
    s: *mut Rtsched,
    cpu: u32,
    now: i64,
    prev_runnable: bool,
    tasklet_work: bool,
    decision: *mut RtschedDecision,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst_mut(s), out(decision)) };
    let (i, o) = (arg!(i), arg!(o));
    let r = i
        .sched
        .do_schedule(cpu as usize, now, prev_runnable, tasklet_work);
    // (Read in place, field by field: a whole `RtschedDecision` built from it took one more
    // copy of the mask a call.)
    let d = core_call!(r.as_ref().map_err(|&e| e));
    o.next = i.handle_or_none(d.next);
    o.migrated = d.migrated as u32;
    o.slice = d.slice;
    o.actions.put(&d.actions);
    RtschedResult::Ok
}

/// The context of `unit` was saved after it was switched out (Xen's `context_saved`).
/// `-EBUSY` for a unit that is not being switched out (see [`Rtsched`]).
///
/// # Safety
/// As [`rtsched_unit_remove`].
#[no_mangle]
pub unsafe extern "C" fn rtsched_context_saved(
    s: *mut Rtsched,
    unit: u32,
    runnable: bool,
    actions: *mut RtschedActions,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst_mut(s), out(actions)) };
    let (i, o) = (arg!(i), arg!(o));
    let id = arg!(i.unit(unit));
    busy_if!(!i.switching_out(id));
    ok_actions(o, core_call!(i.sched.context_saved(id, runnable)))
}

/// The replenishment timer fired at `now`.
///
/// # Safety
/// `s` a live handle or null; `actions` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_timer_fire(
    s: *mut Rtsched,
    now: i64,
    actions: *mut RtschedActions,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst_mut(s), out(actions)) };
    let (i, o) = (arg!(i), arg!(o));
    ok_actions(o, core_call!(i.sched.timer_fire(now)))
}

/// The CPU a unit should be assigned to (Xen's `pick_resource`).
///
/// # Safety
/// `s` a live handle or null; `out_cpu` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_pick_cpu(
    s: *const Rtsched,
    unit: u32,
    out_cpu: *mut u32,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst(s), out(out_cpu)) };
    let (i, o) = (arg!(i), arg!(o));
    let id = arg!(i.unit(unit));
    *o = core_call!(i.sched.pick_cpu(id)) as u32;
    RtschedResult::Ok
}

/// Assigns a unit to `cpu` (Xen's `migrate`); `-EBUSY` while it runs.
///
/// # Safety
/// As [`rtsched_cpu_add`].
#[no_mangle]
pub unsafe extern "C" fn rtsched_unit_migrate(
    s: *mut Rtsched,
    unit: u32,
    cpu: u32,
) -> RtschedResult {
    // SAFETY: caller contract.
    let i = arg!(unsafe { inst_mut(s) });
    let id = arg!(i.unit(unit));
    busy_if!(i.running(id));
    core_call!(i.sched.migrate(id, cpu as usize));
    RtschedResult::Ok
}

/// Sets a unit's hard affinity.
///
/// # Safety
/// `s` a live handle or null; `mask` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_unit_set_affinity(
    s: *mut Rtsched,
    unit: u32,
    mask: *const RtschedCpumask,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, m) = unsafe { (inst_mut(s), input(mask)) };
    let (i, m) = (arg!(i), arg!(m));
    let id = arg!(i.unit(unit));
    core_call!(i.sched.set_affinity(id, CpuMask::from(m)));
    RtschedResult::Ok
}

/// Sets a unit's parameters (Xen's `putvcpuinfo`): `-EINVAL` and no change when invalid.
///
/// # Safety
/// `s` a live handle or null; `params`, `actions` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_unit_set_params(
    s: *mut Rtsched,
    unit: u32,
    params: *const RtschedParams,
    actions: *mut RtschedActions,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, p, oa) = unsafe { (inst_mut(s), input(params), out(actions)) };
    let (i, p, oa) = (arg!(i), arg!(p), arg!(oa));
    let params = arg!(params_from(p));
    let id = arg!(i.unit(unit));
    ok_actions(oa, core_call!(i.sched.set_params(id, params)))
}

/// Reads a unit's parameters (Xen's `getvcpuinfo`).
///
/// # Safety
/// `s` a live handle or null; `params` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_unit_get_params(
    s: *const Rtsched,
    unit: u32,
    params: *mut RtschedParams,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst(s), out(params)) };
    let (i, o) = (arg!(i), arg!(o));
    let id = arg!(i.unit(unit));
    let p = core_call!(i.sched.params(id));
    *o = RtschedParams {
        period: p.period,
        budget: p.budget,
        flags: if p.extratime {
            RtschedParamFlags::EXTRATIME.bits()
        } else {
            0
        },
        reserved: 0,
    };
    RtschedResult::Ok
}

/// Sets period and budget of every unit of `domain` (Xen's `putinfo`), validated like
/// per-unit parameters (stricter than rt.c); stores the number of units in `*out_count`.
///
/// # Safety
/// `s` a live handle or null; `out_count`, `actions` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_domain_set_params(
    s: *mut Rtsched,
    domain: u32,
    period: i64,
    budget: i64,
    out_count: *mut u32,
    actions: *mut RtschedActions,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o, oa) = unsafe { (inst_mut(s), out(out_count), out(actions)) };
    let (i, o, oa) = (arg!(i), arg!(o), arg!(oa));
    let (n, a) = core_call!(i.sched.set_domain_params(domain, period, budget));
    *o = n;
    ok_actions(oa, a)
}

/// A snapshot of one unit (for the debug-key dump).
///
/// # Safety
/// `s` a live handle or null; `info` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_unit_info(
    s: *const Rtsched,
    unit: u32,
    info: *mut RtschedUnitInfo,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst(s), out(info)) };
    let (i, o) = (arg!(i), arg!(o));
    let id = arg!(i.unit(unit));
    *o = core_call!(i.sched.unit_info(id)).into();
    RtschedResult::Ok
}

/// The unit at heap position `index` of a queue (`which`: `RTSCHED_QUEUE_*`), or
/// `RTSCHED_NONE` past the end.
///
/// # Safety
/// `s` a live handle or null; `out_unit` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_queue_at(
    s: *const Rtsched,
    which: u32,
    index: u32,
    out_unit: *mut u32,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst(s), out(out_unit)) };
    let (i, o) = (arg!(i), arg!(o));
    let h = match which {
        w if w == RtschedQueue::Run as u32 => i.sched.runq_at(index as usize),
        w if w == RtschedQueue::Repl as u32 => i.sched.replq_at(index as usize),
        _ => return RtschedResult::Einval,
    };
    *o = i.handle_or_none(h);
    RtschedResult::Ok
}

/// Queue lengths, timer, online and tickled CPUs, and policy.
///
/// # Safety
/// `s` a live handle or null; `info` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_queue_info(
    s: *const Rtsched,
    info: *mut RtschedQueueInfo,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst(s), out(info)) };
    let (i, o) = (arg!(i), arg!(o));
    let (r, d, q) = i.sched.queue_lens();
    *o = RtschedQueueInfo {
        runq_len: r as u32,
        depleted_len: d as u32,
        replq_len: q as u32,
        nr_units: i.sched.nr_units(),
        timer: i.sched.timer().unwrap_or(-1),
        online: i.sched.online().into(),
        tickled: i.sched.tickled().into(),
        policy: policy_to(i.sched.policy()),
    };
    RtschedResult::Ok
}

/// Event counters.
///
/// # Safety
/// `s` a live handle or null; `stats` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_stats(
    s: *const Rtsched,
    stats: *mut RtschedStats,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst(s), out(stats)) };
    let (i, o) = (arg!(i), arg!(o));
    *o = i.sched.stats().into();
    RtschedResult::Ok
}

/// Switches the priority scheme (`RTSCHED_PRIORITY_*`) at run time.
///
/// # Safety
/// `s` a live handle or null; `actions` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_set_priority(
    s: *mut Rtsched,
    scheme: u32,
    actions: *mut RtschedActions,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst_mut(s), out(actions)) };
    let (i, o) = (arg!(i), arg!(o));
    let p = arg!(priority_from(scheme));
    ok_actions(o, core_call!(i.sched.set_priority_scheme(p)))
}

/// Checks the instance's structural invariants: 0, or `-EIO` when one is violated.
///
/// # Safety
/// `s` a live handle or null.
#[no_mangle]
pub unsafe extern "C" fn rtsched_check(s: *const Rtsched) -> RtschedResult {
    // SAFETY: caller contract.
    let i = arg!(unsafe { inst(s) });
    match rtsched::invariants::check(&i.sched) {
        Ok(()) => RtschedResult::Ok,
        Err(_) => RtschedResult::Eio,
    }
}

/// Switches the server mechanism (`RTSCHED_SERVER_*`) at run time. With admission control on,
/// a switch under which the admitted reservations would fail the new server's test is
/// refused (`-ENOSPC`) and changes nothing.
///
/// # Safety
/// `s` a live handle or null; `actions` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_set_server(
    s: *mut Rtsched,
    server: u32,
    actions: *mut RtschedActions,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst_mut(s), out(actions)) };
    let (i, o) = (arg!(i), arg!(o));
    let k = arg!(server_from(server));
    ok_actions(o, core_call!(i.sched.set_server(k)))
}

/// Switches the class rule (`RTSCHED_CLASS_RULE_*`) at run time. Re-orders the run queue
/// and asks every online CPU to reschedule. With admission control on, a switch under which
/// the admitted reservations would fail the test is refused (`-ENOSPC`) and changes nothing.
///
/// # Safety
/// `s` a live handle or null; `actions` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_set_classes(
    s: *mut Rtsched,
    rule: u32,
    actions: *mut RtschedActions,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst_mut(s), out(actions)) };
    let (i, o) = (arg!(i), arg!(o));
    let r = arg!(classes_from(rule));
    ok_actions(o, core_call!(i.sched.set_class_rule(r)))
}

/// The admission verdict of the instance's current reservations (whether or not admission
/// control is on) and the bandwidth one more unit could still reserve.
///
/// # Safety
/// `s` a live handle or null; `verdict` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_admission(
    s: *const Rtsched,
    verdict: *mut RtschedVerdict,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst(s), out(verdict)) };
    let (i, o) = (arg!(i), arg!(o));
    let v = i.sched.admission();
    *o = RtschedVerdict {
        schedulable: v.schedulable as u32,
        reserved: 0,
        total_ppm: v.total_ppm,
        max_ppm: v.max_ppm,
        remaining_ppm: v.remaining_ppm,
    };
    RtschedResult::Ok
}

/// rt-partition placement: the PCPU for a unit of bandwidth `unit_ppm` given the load of
/// each PCPU (`loads[0..nr]`, indexed by CPU), its allowed CPUs and its current CPU
/// `current_cpu` (`RTSCHED_NONE` for none). Pure: reads only its arguments.
///
/// # Safety
/// `loads` null or valid for `nr` reads; `allowed`, `out_cpu` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_partition_place(
    loads: *const RtschedPcpuLoad,
    nr: u32,
    allowed: *const RtschedCpumask,
    current_cpu: u32,
    unit_ppm: u64,
    out_cpu: *mut u32,
) -> RtschedResult {
    if loads.is_null() || nr == 0 || nr as usize > MAX_CPUS || !loads.is_aligned() {
        return RtschedResult::Einval;
    }
    // SAFETY: `loads` is non-null, aligned, and valid for `nr` reads (caller contract);
    // every bit pattern of the two plain fields is a valid value.
    let loads = unsafe { core::slice::from_raw_parts(loads, nr as usize) };
    // SAFETY: caller contract.
    let (m, o) = unsafe { (input(allowed), out(out_cpu)) };
    let (m, o) = (arg!(m), arg!(o));
    let cur = if current_cpu == RTSCHED_NONE {
        None
    } else {
        Some(current_cpu as usize)
    };
    let load = |c: usize| {
        loads.get(c).map(|l| rtsched::partition::PcpuLoad {
            bandwidth_ppm: l.bandwidth_ppm,
            same_domain: l.same_domain != 0,
        })
    };
    let c = arg!(rtsched::partition::place_by(load, &m.into(), cur, unit_ppm));
    *o = c as u32;
    RtschedResult::Ok
}

/// Validates parameters as `rtsched_unit_set_params` does, without a unit: 0 or `-EINVAL`.
///
/// # Safety
/// `params` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_params_check(params: *const RtschedParams) -> RtschedResult {
    // SAFETY: caller contract.
    let p = arg!(unsafe { input(params) });
    let params = arg!(params_from(p));
    if !params.is_valid() {
        return RtschedResult::Einval;
    }
    RtschedResult::Ok
}

/// Sets the instance's pool of spare servers (spare reservations lent to units on I/O
/// events, see `rtsched`'s `sched/spare.rs`): `params[0..nr]`, at most 4 (`nr = 0` removes
/// the pool; `params` may then be null). `-EINVAL` for invalid parameters or flags, or under
/// deadline-monotonic order; `-ENOSPC` for more than 4 spares or when admission control is
/// on and the reservations with the pool fail the test; `-EBUSY` while a spare is lent.
/// Changes nothing when refused.
///
/// # Safety
/// `s` a live handle or null; `params` null or valid for `nr` reads.
#[no_mangle]
pub unsafe extern "C" fn rtsched_set_spare_pool(
    s: *mut Rtsched,
    params: *const RtschedParams,
    nr: u32,
) -> RtschedResult {
    // SAFETY: caller contract.
    let i = arg!(unsafe { inst_mut(s) });
    if nr as usize > rtsched::MAX_SPARES {
        return RtschedResult::Enospc;
    }
    let raw: &[RtschedParams] = if nr == 0 {
        &[]
    } else {
        if params.is_null() || !params.is_aligned() {
            return RtschedResult::Einval;
        }
        // SAFETY: `params` is non-null, aligned and valid for `nr` reads (caller contract);
        // every bit pattern of its plain integer fields is a valid value.
        unsafe { core::slice::from_raw_parts(params, nr as usize) }
    };
    let mut spares = [Params {
        period: 0,
        budget: 0,
        extratime: false,
    }; rtsched::MAX_SPARES];
    for (d, p) in spares.iter_mut().zip(raw) {
        // (A spare has no extratime: no flag is accepted.)
        *d = match params_from(*p) {
            Some(q) if !q.extratime => q,
            _ => return RtschedResult::Einval,
        };
    }
    let spares = arg!(spares.get(..nr as usize));
    core_call!(i.sched.set_spare_pool(spares));
    RtschedResult::Ok
}

/// Sets whether a unit uses spare bandwidth (`on` 0 or 1); turning it off returns a lent
/// spare (the actions say which CPU reschedules).
///
/// # Safety
/// `s` a live handle or null; `actions` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_unit_set_uses_spare(
    s: *mut Rtsched,
    unit: u32,
    on: u32,
    actions: *mut RtschedActions,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst_mut(s), out(actions)) };
    let (i, o) = (arg!(i), arg!(o));
    let id = arg!(i.unit(unit));
    if on > 1 {
        return RtschedResult::Einval;
    }
    ok_actions(o, core_call!(i.sched.set_uses_spare(id, on == 1)))
}

/// An I/O event (an event channel signalled) arrived for a unit at `now`: a unit that uses
/// spare bandwidth and is off its reserved budget gets a free spare server until its own
/// replenishment; otherwise nothing changes. The host calls it after `rtsched_unit_wake`
/// when the event also woke the unit, with the instance's lock held.
///
/// # Safety
/// `s` a live handle or null; `actions` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_unit_io_event(
    s: *mut Rtsched,
    unit: u32,
    now: i64,
    actions: *mut RtschedActions,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst_mut(s), out(actions)) };
    let (i, o) = (arg!(i), arg!(o));
    let id = arg!(i.unit(unit));
    ok_actions(o, core_call!(i.sched.io_event(id, now)))
}

/// Bandwidth `budget / period` of valid parameters in parts per million, rounded up (what
/// admission control and rt-partition placement count): 0 or `-EINVAL`.
///
/// # Safety
/// `params` and `out_ppm` null or valid.
#[no_mangle]
pub unsafe extern "C" fn rtsched_params_bandwidth(
    params: *const RtschedParams,
    out_ppm: *mut u64,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (p, o) = unsafe { (input(params), out(out_ppm)) };
    let (p, o) = (arg!(p), arg!(o));
    let params = arg!(params_from(p));
    if !params.is_valid() {
        return RtschedResult::Einval;
    }
    *o = params.bandwidth_ppm();
    RtschedResult::Ok
}

/// A CPU stops taking units before it leaves (its cpupool no longer has it, Xen's
/// `deinit_pdata` comes later): no pick or tickle chooses it, a unit it runs is handed back
/// at its next `rtsched_do_schedule` (which picks nothing on it), `rtsched_cpu_remove`
/// completes the removal. Nothing happens if the CPU is not online.
///
/// # Safety
/// As [`rtsched_unit_remove`].
#[no_mangle]
pub unsafe extern "C" fn rtsched_cpu_withdraw(
    s: *mut Rtsched,
    cpu: u32,
    actions: *mut RtschedActions,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o) = unsafe { (inst_mut(s), out(actions)) };
    let (i, o) = (arg!(i), arg!(o));
    ok_actions(o, core_call!(i.sched.cpu_withdraw(cpu as usize)))
}

/// Sets a unit's parameters at `now` so that they take effect promptly (what Xen's
/// `putvcpuinfo` uses): as `rtsched_unit_set_params` (which keeps rt.c's rule: new values
/// at the next replenishment), and a unit whose current deadline is more than one new
/// period after `now` starts a new period now. No change leaves a unit waiting longer than
/// its new period.
///
/// # Safety
/// As [`rtsched_unit_set_params`].
#[no_mangle]
pub unsafe extern "C" fn rtsched_unit_set_params_at(
    s: *mut Rtsched,
    unit: u32,
    params: *const RtschedParams,
    now: i64,
    actions: *mut RtschedActions,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, p, oa) = unsafe { (inst_mut(s), input(params), out(actions)) };
    let (i, p, oa) = (arg!(i), arg!(p), arg!(oa));
    let params = arg!(params_from(p));
    let id = arg!(i.unit(unit));
    ok_actions(oa, core_call!(i.sched.set_params_at(id, params, now)))
}

/// Domain-wide period and budget at `now`, taking effect promptly (as
/// `rtsched_unit_set_params_at` for each unit of `domain`); stores the number of units in
/// `*out_count`.
///
/// # Safety
/// As [`rtsched_domain_set_params`].
#[no_mangle]
pub unsafe extern "C" fn rtsched_domain_set_params_at(
    s: *mut Rtsched,
    domain: u32,
    period: i64,
    budget: i64,
    now: i64,
    out_count: *mut u32,
    actions: *mut RtschedActions,
) -> RtschedResult {
    // SAFETY: caller contract.
    let (i, o, oa) = unsafe { (inst_mut(s), out(out_count), out(actions)) };
    let (i, o, oa) = (arg!(i), arg!(o), arg!(oa));
    let (n, a) = core_call!(i.sched.set_domain_params_at(domain, period, budget, now));
    *o = n;
    ok_actions(oa, a)
}

#[cfg(test)]
mod params_bandwidth_tests {
    use super::*;

    fn ppm(period: i64, budget: i64, flags: u32, reserved: u32) -> (RtschedResult, u64) {
        let p = RtschedParams {
            period,
            budget,
            flags,
            reserved,
        };
        let mut out = u64::MAX;
        // SAFETY: both pointers are to live locals.
        let rc = unsafe { rtsched_params_bandwidth(&p, &mut out) };
        (rc, out)
    }

    #[test]
    fn bandwidth_is_the_cores_and_refusals_write_nothing() {
        let ms = 1_000_000;
        assert_eq!(ppm(10 * ms, 4 * ms, 0, 0), (RtschedResult::Ok, 400_000));
        assert_eq!(ppm(3 * ms, ms, 1, 0), (RtschedResult::Ok, 333_334));
        // Budgets whose ppm product overflows 64 bits (the shim's former formula wrapped):
        // the core's value, within one ppm of the exact one.
        let big = (1i64 << 62) - 1; // MAX_PERIOD
        for (p, b) in [
            (big, big),
            (big, big / 2),
            (big, 40 * ms),
            (big / 3, big / 7),
        ] {
            let core = Params {
                period: p,
                budget: b,
                extratime: false,
            };
            let exact = ((b as u128) * 1_000_000).div_ceil(p as u128) as u64;
            let (rc, got) = ppm(p, b, 0, 0);
            assert_eq!((rc, got), (RtschedResult::Ok, core.bandwidth_ppm()));
            assert!(
                got >= exact && got <= exact + 1,
                "{p} {b}: {got} vs {exact}"
            );
        }
        for (p, b, f, r) in [(10 * ms, 20 * ms, 0, 0), (5, 5, 0, 0), (10 * ms, ms, 0, 1)] {
            assert_eq!(ppm(p, b, f, r), (RtschedResult::Einval, u64::MAX));
        }
        let mut out = 0;
        // SAFETY: a null params pointer is refused before any access.
        let rc = unsafe { rtsched_params_bandwidth(core::ptr::null(), &mut out) };
        assert_eq!(rc, RtschedResult::Einval);
    }
}
