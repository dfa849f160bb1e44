//! Structural invariants of an instance, written as code so tests can run them after every
//! hook (and a debug shim could run them after every call).

use crate::prio::prio_key;
use crate::prio::Order;
use crate::sched::{Home, Scheduler};
use crate::unit::Unit;
use crate::unit::{QueueKind, UnitFlags, UnitId, NIL};

/// Checks every structural invariant; returns the first violated one. O(n + CPUs).
///
/// - a unit is in at most one of {running, run queue, depleted queue}; no unit runs on two
///   CPUs; a running unit is `SCHEDULED` and assigned to its CPU;
/// - no queued unit is `SCHEDULED`; every queued unit is on the replenishment queue;
/// - the heaps are ordered and their recorded positions are right; the depleted list is
///   well linked and holds exactly the units marked depleted-queued;
/// - each queued unit is in the queue of its home (shared heap, its CPU's pinned queue or its
///   affinity group's), which follows its affinity; each group in use has a distinct proper
///   subset of the CPUs as its mask, counts the allocated units whose home it is, and each
///   CPU's group bits name exactly the groups holding it; the cached head is the best head;
/// - `0 <= cur_budget <= budget`; a unit on the run queue has budget left; no unit started
///   after the instance's clock (every hook time went through it);
/// - a unit the host last reported runnable is running, queued, or pending its delayed add
///   (or, periodic server, a blocked unit its CPU idles on, which that CPU was told about);
/// - a blocked periodic server charged on a CPU is on no queue and on no other CPU;
/// - a unit on a spare holds the slot that names it, and the spare's deadline is no later
///   than the unit's own replenishment; a lent spare is held by the unit it names;
/// - the replenishment timer is programmed for the earliest pending replenishment;
/// - tickled CPUs are online, and every CPU with a tickle to renew (`retickle`) is tickled;
/// - the caches are up to date: each unit's `on_cpu`, the busy and retickle masks, and each
///   busy CPU's priority key, and the bound of the keys of the online, busy, untickled CPUs
///   (and of those of each group's mask);
///   no unit on the run queue that could be picked on a CPU the instance records as
///   unserved allows that CPU.
pub fn check(s: &Scheduler<'_>) -> Result<(), &'static str> {
    let units = s.raw_units();
    let cpus = s.raw_cpus();
    let scheme = s.raw_order();
    s.raw_runq()
        .check(units, scheme)
        .map_err(|_| "run queue heap order or positions")?;
    // The CPUs' pinned run queues: heap order and links, each unit's recorded CPU, the
    // mask of non-empty ones, their total length; the cached head is the run queue's head.
    let (pinned_mask, pinned_len, head) = s.raw_pinned();
    let mut pinned_count = 0usize;
    for (c, p) in cpus.iter().enumerate() {
        if (p.pinned != NIL) != pinned_mask.test(c) {
            return Err("pinned queue mask");
        }
        pinned_count += crate::pairing::check(units, p.pinned, c as u32, scheme)
            .map_err(|_| "pinned queue order, links or CPU")?;
    }
    // The affinity groups (`sched/groups.rs`): each slot in use has a proper subset of the
    // instance's CPUs as its mask, no two the same; its queue is ordered and linked, each
    // unit recorded in it; it counts the allocated units whose home it is; each CPU's bit
    // mask names exactly the groups holding it.
    let groups = s.raw_groups();
    // The run queue's head: the best of the shared heap's, the pinned and the group heads.
    let mut want = s.raw_runq().peek();
    for p in cpus.iter().filter(|p| p.pinned != NIL) {
        want = better(units, scheme, want, p.pinned)?;
    }
    for g in 0..crate::sched::MAX_GROUPS {
        let slot = groups.get(g);
        let bit = 1u64 << g;
        let code = Home::group_code(g);
        let used = groups.used() & bit != 0;
        if used != (slot.refs > 0) || (groups.queued() & bit != 0) != (slot.root != NIL) {
            return Err("group slot use or queue mask");
        }
        if !used {
            if slot.root != NIL || groups.is_active(g) {
                return Err("free group slot with a queue");
            }
            continue;
        }
        // (Masks compared with `same`: `==` would call `bcmp`, absent from the hypervisor.)
        let proper = s.group_mask(&slot.mask).is_some_and(|m| m.same(&slot.mask));
        if !proper || groups.find(&slot.mask) != Some(g) {
            return Err("group mask not a proper subset of the CPUs, or twice");
        }
        // Its units are all in its queue's home once it is a group, all waiting before.
        let active = groups.is_active(g);
        let waiting = Home::waiting_code(g);
        let homed = units
            .iter()
            .filter(|u| u.in_use && (u.pin_home == code || u.pin_home == waiting))
            .count();
        let misplaced = units
            .iter()
            .any(|u| u.in_use && u.pin_home == if active { waiting } else { code });
        if homed != slot.refs as usize || misplaced {
            return Err("group count of its units");
        }
        if !active && (s.nr_units() as usize >= crate::sched::GROUP_MIN_UNITS || slot.root != NIL) {
            return Err("enough units for groups, and a slot not a group");
        }
        pinned_count += crate::pairing::check(units, slot.root, code, scheme)
            .map_err(|_| "group queue order, links or home")?;
        if slot.root != NIL {
            want = better(units, scheme, want, slot.root)?;
        }
    }
    for (c, p) in cpus.iter().enumerate() {
        let want = (0..crate::sched::MAX_GROUPS)
            .filter(|&g| groups.active() & (1u64 << g) != 0 && groups.get(g).mask.test(c))
            .fold(0u64, |m, g| m | 1u64 << g);
        if p.groups != want {
            return Err("CPU's group mask");
        }
    }
    if pinned_count != pinned_len {
        return Err("pinned queue length");
    }
    if head.is_some_and(|h| h != want) {
        return Err("cached run-queue head");
    }
    s.raw_replq()
        .check(units, scheme)
        .map_err(|_| "replenishment heap order or positions")?;

    // Depleted list.
    let dl = s.raw_depleted();
    let mut n = 0usize;
    let mut prev = NIL;
    let mut h = dl.head;
    while h != NIL {
        let u = units.get(h as usize).ok_or("depleted link out of range")?;
        if u.queue != QueueKind::Depleted || u.dq_prev != prev {
            return Err("depleted list link");
        }
        n += 1;
        if n > units.len() {
            return Err("depleted list cycle");
        }
        prev = h;
        h = u.dq_next;
    }
    if n != dl.len {
        return Err("depleted list length");
    }

    let mut runq_count = 0usize;
    let mut dq_count = 0usize;
    for (i, u) in units.iter().enumerate() {
        let id = UnitId(i as u32);
        if !u.in_use {
            if u.queue != QueueKind::None || u.on_replq() {
                return Err("free slot on a queue");
            }
            continue;
        }
        let running_on = cpus.iter().filter(|p| p.curr == id.0).count();
        let phantom_on = cpus.iter().filter(|p| p.phantom == id.0).count();
        if phantom_on > 1 || (phantom_on == 1 && running_on > 0) {
            return Err("blocked server charged on two CPUs or while running");
        }
        let phantom = phantom_on == 1;
        if phantom && (u.queue != QueueKind::None || !u.on_replq()) {
            return Err("blocked server on a CPU is queued or has no pending replenishment");
        }
        if running_on > 1 {
            return Err("unit runs on two CPUs");
        }
        let running = running_on == 1;
        let queued = u.queue != QueueKind::None;
        if running && queued {
            return Err("running unit is queued");
        }
        if queued && u.flags.contains(UnitFlags::SCHEDULED) {
            return Err("queued unit is being switched out");
        }
        if running && !u.flags.contains(UnitFlags::SCHEDULED) {
            return Err("running unit not marked scheduled");
        }
        if running && s.curr(u.cpu as usize) != Some(id) {
            return Err("running unit not assigned to its CPU");
        }
        if queued && !u.on_replq() {
            return Err("queued unit has no pending replenishment");
        }
        if (u.queue == QueueKind::Run) != ((u.runq_pos != NIL) != (u.pin_cpu != NIL))
            || (u.runq_pos != NIL && u.pin_cpu != NIL)
        {
            return Err("run queue membership");
        }
        // (The home of a unit of a group that found no free slot is the shared heap.)
        let home_ok = match Home::of(u.pin_home) {
            Home::Shared => s.pin_for(&u.affinity) == NIL,
            Home::Cpu(c) => s.pin_for(&u.affinity) == c as u32,
            Home::Group(g) | Home::Waiting(g) => {
                s.raw_groups().used() & 1u64.checked_shl(g as u32).unwrap_or(0) != 0
                    && s.group_mask(&u.affinity)
                        .is_some_and(|m| m.same(&s.raw_groups().get(g).mask))
            }
        };
        if u.in_use && !home_ok {
            return Err("pinned home does not follow the affinity");
        }
        let queue_of_home = if crate::sched::groups::in_shared_heap(u.pin_home) {
            NIL
        } else {
            u.pin_home
        };
        if u.queue == QueueKind::Run && u.pin_cpu != queue_of_home {
            return Err("queued unit in the wrong run queue (shared, pinned or group)");
        }
        match u.queue {
            QueueKind::Run => runq_count += 1,
            QueueKind::Depleted => dq_count += 1,
            QueueKind::None => {}
        }
        // (On a spare at its reserved level the budget is the spare's.)
        let spare = s.raw_spares().slots.get(u.spare as usize);
        let cap = match spare {
            Some(sp) if u.priority_level == 0 => sp.params.budget,
            _ => u.budget,
        };
        if u.cur_budget < 0 || u.cur_budget > cap {
            return Err("budget out of [0, budget]");
        }
        if u.last_start > s.clock() {
            return Err("unit started after the instance's clock");
        }
        if u.spare != NIL {
            let Some(sp) = spare.filter(|_| (u.spare as usize) < s.raw_spares().len as usize)
            else {
                return Err("unit attached to no spare slot");
            };
            if sp.unit as usize != i || !u.inserted {
                return Err("spare slot and unit disagree");
            }
            if u.cur_deadline > sp.own_deadline {
                return Err("spare deadline past the unit's own replenishment");
            }
        }
        if u.queue == QueueKind::Run && u.cur_budget == 0 {
            return Err("zero-budget unit on the run queue");
        }
        let pending = u
            .flags
            .contains(UnitFlags::SCHEDULED | UnitFlags::DELAYED_RUNQ_ADD);
        if u.inserted && u.runnable && !(running || queued || pending || phantom) {
            return Err("runnable unit neither running, queued nor pending (lost wake-up)");
        }
    }
    if runq_count != s.raw_runq().len() + pinned_len || dq_count != dl.len {
        return Err("queue lengths");
    }
    let head = s
        .raw_replq()
        .peek()
        .and_then(|h| units.get(h as usize))
        .map(|u| u.cur_deadline);
    if head != s.timer() {
        return Err("replenishment timer does not match the queue head");
    }
    if !s.tickled().and_not(&s.online()).is_empty() {
        return Err("tickled CPU not online");
    }
    if !s.raw_retickle().and_not(&s.tickled()).is_empty() {
        return Err("a tickle to renew on an untickled CPU (only its own pick may leave one)");
    }

    // The caches the hot paths read instead of scanning.
    for (c, p) in cpus.iter().enumerate() {
        let shown = if p.curr != NIL { p.curr } else { p.phantom };
        if s.raw_busy().test(c) != (shown != NIL) {
            return Err("busy mask out of date");
        }
        if s.raw_retickle().test(c) != (p.tickled_for != NIL) {
            return Err("retickle mask out of date");
        }
        for h in [p.curr, p.phantom] {
            if h != NIL && units.get(h as usize).map(|u| u.on_cpu) != Some(c as u32) {
                return Err("unit's on_cpu out of date");
            }
        }
        if shown != NIL {
            let u = units
                .get(shown as usize)
                .ok_or("CPU runs a unit out of range")?;
            if p.key != prio_key(u, scheme) {
                return Err("CPU's priority key out of date");
            }
        }
    }
    let counted = s.online().and(&s.raw_busy()).and_not(&s.tickled());
    let (bound, bound_cpu, bound2) = s.raw_bound();
    for c in counted.iter() {
        if cpus.get(c).is_some_and(|p| p.key > bound) {
            return Err("priority bound below an untickled CPU's key");
        }
        if c as u32 != bound_cpu && cpus.get(c).is_some_and(|p| p.key > bound2) {
            return Err("second priority bound below an untickled CPU's key");
        }
        let Some(p) = cpus.get(c) else { continue };
        for g in 0..crate::sched::MAX_GROUPS {
            if p.groups & (1u64 << g) != 0 && p.key > s.raw_group_bound(g) {
                return Err("group bound below an untickled CPU's key");
            }
        }
    }
    let unserved = s.online().and(&s.raw_unserved());
    let periodic = s.policy().server == crate::policy::ServerKind::Periodic;
    for u in units.iter().filter(|u| u.queue == QueueKind::Run) {
        let pickable = crate::sched::competes(u, periodic, scheme);
        if pickable && !u.affinity.and(&unserved).is_empty() {
            return Err("a queued unit is allowed on a CPU recorded as unserved");
        }
    }
    if s.raw_busy().iter().any(|c| c >= cpus.len()) {
        return Err("busy mask out of date");
    }
    for (i, u) in units.iter().enumerate() {
        if u.on_cpu != NIL {
            let on = cpus
                .get(u.on_cpu as usize)
                .is_some_and(|p| p.curr == i as u32 || p.phantom == i as u32);
            if !on {
                return Err("unit's on_cpu names a CPU that does not run it");
            }
        }
    }
    // Spare pool: each lent spare is lent to exactly the unit that names it.
    for (k, sp) in s.raw_spares().active().iter().enumerate() {
        if sp.unit != NIL
            && units
                .get(sp.unit as usize)
                .is_none_or(|u| u.spare as usize != k)
        {
            return Err("spare lent to a unit that does not hold it (not returned)");
        }
    }
    Ok(())
}

/// The better of the candidate head `want` and the queue root `x` in run-queue order.
fn better(
    units: &[Unit],
    o: Order,
    want: Option<u32>,
    x: u32,
) -> Result<Option<u32>, &'static str> {
    let Some(w) = want else {
        return Ok(Some(x));
    };
    let (Some(a), Some(b)) = (units.get(x as usize), units.get(w as usize)) else {
        return Err("pinned root out of range");
    };
    Ok(Some(if crate::queues::run_before(a, b, o) {
        x
    } else {
        w
    }))
}
