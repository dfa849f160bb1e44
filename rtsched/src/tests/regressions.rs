//! Named regression tests for upstream RTDS fixes after Xen 4.17.

use super::*;
use crate::params::MILLISECS as MS;

#[test]
fn regression_410d44fcf3_priority_level_saturates() {
    let mut s = sched(4, 1);
    let one = CpuMask::first_n(1);
    let h = unit(&mut s, 1, 10 * MS, MS, true, one);
    let low = unit(&mut s, 2, 100 * MS, MS, false, one);
    s.wake(h, 0).unwrap();
    s.do_schedule(0, 0, false, false).unwrap();
    s.raw_units_mut()[h.0 as usize].priority_level = u32::MAX - 1;
    s.do_schedule(0, MS, true, false).unwrap();
    s.do_schedule(0, 2 * MS, true, false).unwrap();
    assert_eq!(s.unit_info(h).unwrap().priority_level, u32::MAX);
    // After saturating it still ranks below a unit on its reserved budget.
    s.wake(low, 2 * MS).unwrap();
    let d = s.do_schedule(0, 2 * MS, true, false).unwrap();
    assert_eq!(d.next, Some(low));
    s.context_saved(h, true).unwrap();
    ok(&s);
}

#[test]
fn regression_37b49cb48e_extratime_switched_on_while_depleted() {
    let mut s = sched(4, 1);
    let h = unit(&mut s, 1, 10 * MS, MS, false, CpuMask::first_n(1));
    s.wake(h, 0).unwrap();
    s.do_schedule(0, 0, false, false).unwrap();
    assert_eq!(s.do_schedule(0, MS, true, false).unwrap().next, None);
    // Depleted and being switched out; now extratime is switched on.
    s.set_params(
        h,
        Params {
            period: 10 * MS,
            budget: MS,
            extratime: true,
        },
    )
    .unwrap();
    s.context_saved(h, true).unwrap();
    ok(&s); // includes "no zero-budget unit on the run queue"
    let i = s.unit_info(h).unwrap();
    assert!(i.queue == QueueKind::Depleted as u32 || i.cur_budget > 0);
    let d = s.do_schedule(0, MS, false, false).unwrap();
    if let Some(n) = d.next {
        assert!(s.unit_info(n).unwrap().cur_budget > 0);
    }
}

/// One CPU, two units queued at time 0: `a` (1 ms / 10 ms) ahead of `b` (1 ms / 20 ms).
fn two_queued() -> (Scheduler<'static>, UnitId, UnitId) {
    let mut s = sched(4, 1);
    let one = CpuMask::first_n(1);
    let a = unit(&mut s, 1, 10 * MS, MS, false, one);
    let b = unit(&mut s, 2, 20 * MS, MS, false, one);
    s.wake(a, 0).unwrap();
    s.wake(b, 0).unwrap();
    (s, a, b)
}

#[test]
fn regression_73c62927f6_unrunnable_queued_unit_leaves_both_queues() {
    let (mut s, a, _) = two_queued();
    // Paused without the lock: the host finds out at pick time and reports it.
    assert_eq!(s.runq_peek(0).unwrap(), Some(a));
    s.set_unrunnable(a).unwrap();
    ok(&s);
    let i = s.unit_info(a).unwrap();
    assert_eq!((i.queue, i.on_replq), (0, 0));
    assert_eq!(s.timer(), Some(20 * MS));
    // Unpaused: wakes cleanly (rt.c would have hit ASSERT(!unit_on_replq)).
    s.wake(a, MS).unwrap();
    ok(&s);
    assert_eq!(s.unit_info(a).unwrap().on_replq, 1);
}

#[test]
fn regression_0f1dec89d3_pick_looks_past_unrunnable_head() {
    let (mut s, a, b) = two_queued();
    // The head becomes non-runnable without the scheduler hearing of it.
    s.raw_units_mut()[a.0 as usize].runnable = false;
    let d = s.do_schedule(0, 0, false, false).unwrap();
    assert_eq!(d.next, Some(b));
    let i = s.unit_info(a).unwrap();
    assert_eq!((i.queue, i.on_replq), (0, 0));
    assert_eq!(s.stats().dropped_unrunnable, 1);
    ok(&s);
}

/// A push after a pick that finds nothing for the idle CPUs records them as unserved; a
/// queued unit that is not runnable (paused without the lock) still counts there, as it does
/// for a pick (which drops it), so its CPU is not recorded as unserved.
#[test]
fn push_counts_a_paused_unit_as_the_pick_does() {
    let mut s = sched(4, 2);
    let a = unit(&mut s, 1, 10 * MS, MS, false, CpuMask::single(1));
    assert_eq!(s.wake(a, 0).unwrap().reschedule, CpuMask::single(1));
    s.raw_units_mut()[a.0 as usize].runnable = false;
    // CPU 1 runs a tasklet: its tickle is answered, `a` stays queued, and the push after the
    // pick finds only the paused unit for idle CPU 1 (and no CPU to tickle).
    let d = s.do_schedule(1, 0, false, true).unwrap();
    assert_eq!((d.next, d.actions.reschedule), (None, CpuMask::EMPTY));
    ok(&s);
    assert!(!s.raw_unserved().test(1));
    // CPU 1's own pick drops it and records CPU 1 as unserved.
    assert_eq!(s.do_schedule(1, 0, false, false).unwrap().next, None);
    assert_eq!(s.stats().dropped_unrunnable, 1);
    assert!(s.raw_unserved().test(1));
    ok(&s);
}

#[test]
fn regression_eec1a570c0_domain_params_validated() {
    let mut s = sched(4, 1);
    let one = CpuMask::first_n(1);
    let a = unit(&mut s, 7, 10 * MS, MS, false, one);
    let b = unit(&mut s, 7, 20 * MS, 2 * MS, true, one);
    let before = (s.unit_info(a).unwrap(), s.unit_info(b).unwrap());
    // rt.c 4.17 accepted budget > period domain-wide.
    assert_eq!(
        s.set_domain_params(7, 10 * MS, 20 * MS),
        Err(Error::InvalidParams)
    );
    assert_eq!(s.set_domain_params(7, 5, 5), Err(Error::InvalidParams));
    assert_eq!((s.unit_info(a).unwrap(), s.unit_info(b).unwrap()), before);
    assert_eq!(s.set_domain_params(7, 30 * MS, 3 * MS).map(|r| r.0), Ok(2));
    assert_eq!(
        s.params(b).unwrap(),
        Params {
            period: 30 * MS,
            budget: 3 * MS,
            extratime: true
        }
    );
}
