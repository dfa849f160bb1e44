//! What a host may get wrong, or what races in Xen hand the scheduler: times behind the clock
//! or out of range, a context save that sees a wake-up before its `wake` hook, removing a
//! CPU that idles on a blocked server, admission with no CPU online. Each was found by the
//! C ABI's random call sequences (`ffi/src/call_sequences.rs`).

use super::*;
use crate::params::{MAX_TIME, MILLISECS as MS};

#[test]
fn a_time_behind_the_clock_is_taken_as_the_clock_and_counted() {
    let mut s = sched(2, 1);
    let h = unit(&mut s, 1, 10 * MS, 4 * MS, false, CpuMask::single(0));
    s.wake(h, 5 * MS).unwrap();
    assert_eq!(s.clock(), 5 * MS);
    // Another CPU's clock, 1 ms behind: the unit starts at the clock's time.
    let d = s.do_schedule(0, 4 * MS, true, false).unwrap();
    assert_eq!(d.next, Some(h));
    assert_eq!(s.unit_info(h).unwrap().last_start, 5 * MS);
    assert_eq!((s.clock(), s.stats().clock_backwards), (5 * MS, 1));
    ok(&s);
    // 1 ms later by the clock: 1 ms charged (not 2).
    s.do_schedule(0, 6 * MS, true, false).unwrap();
    assert_eq!(s.unit_info(h).unwrap().cur_budget, 3 * MS);
    assert_eq!(s.stats().clock_backwards, 1);
}

#[test]
fn a_time_out_of_range_is_refused_and_changes_nothing() {
    let mut s = sched(2, 1);
    let h = unit(&mut s, 1, 10 * MS, 4 * MS, false, CpuMask::single(0));
    s.wake(h, 0).unwrap();
    s.do_schedule(0, 0, true, false).unwrap();
    let (info, stats, timer) = (s.unit_info(h).unwrap(), s.stats(), s.timer());
    for t in [i64::MAX, MAX_TIME + 1, -1, i64::MIN] {
        assert_eq!(s.timer_fire(t), Err(Error::InvalidTime));
        assert_eq!(s.wake(h, t), Err(Error::InvalidTime));
        assert_eq!(s.do_schedule(0, t, true, false), Err(Error::InvalidTime));
        assert_eq!(s.insert(h, t, true, false), Err(Error::InvalidTime));
    }
    assert_eq!(
        (s.unit_info(h).unwrap(), s.stats(), s.timer()),
        (info, stats, timer)
    );
    assert_eq!(s.clock(), 0);
    // So one bogus `timer_fire(INT64_MAX)` no longer moves the deadlines out of reach: the
    // unit, without extratime, still gets its budget every period.
    s.do_schedule(0, 4 * MS, true, false).unwrap();
    s.context_saved(h, true).unwrap();
    assert_eq!(s.unit_info(h).unwrap().cur_budget, 0);
    s.timer_fire(10 * MS).unwrap();
    let d = s.do_schedule(0, 10 * MS, true, false).unwrap();
    assert_eq!((d.next, d.slice), (Some(h), 4 * MS));
    ok(&s);
}

#[test]
fn a_context_save_that_sees_a_wake_before_its_hook_waits_for_the_wake() {
    // Xen makes a unit runnable, then takes the lock to call `wake`: `context_saved` may
    // run in between and see it runnable, although it was switched out blocked.
    let mut s = sched(2, 1);
    let h = unit(&mut s, 1, 10 * MS, 4 * MS, false, CpuMask::single(0));
    s.wake(h, 0).unwrap();
    s.do_schedule(0, 0, true, false).unwrap();
    s.do_schedule(0, MS, false, false).unwrap(); // blocked: switched out, not delayed
    s.context_saved(h, true).unwrap();
    ok(&s); // not a lost wake-up: not runnable until its wake
    assert_eq!(s.unit_info(h).unwrap().runnable, 0);
    let a = s.wake(h, MS).unwrap();
    ok(&s);
    assert!(a.reschedule.test(0));
    assert_eq!(s.do_schedule(0, MS, false, false).unwrap().next, Some(h));
}

#[test]
fn a_cpu_idling_on_a_blocked_periodic_server_is_not_removed() {
    let mut s = online(
        2,
        2,
        Policy {
            server: ServerKind::Periodic,
            ..Policy::default()
        },
    );
    let h = unit(&mut s, 1, 10 * MS, 4 * MS, false, CpuMask::single(0));
    s.wake(h, 0).unwrap();
    s.do_schedule(0, 0, true, false).unwrap();
    s.sleep(h).unwrap();
    s.do_schedule(0, MS, false, false).unwrap();
    s.context_saved(h, false).unwrap();
    let d = s.do_schedule(0, MS, false, false).unwrap();
    assert_eq!((d.next, s.phantom(0)), (None, Some(h)));
    assert_eq!(s.cpu_remove(0), Err(Error::Busy));
    assert!(s.online().test(0));
    ok(&s);
    assert_eq!(s.cpu_remove(1), Ok(()));
}

#[test]
fn admission_with_no_cpu_online_does_not_overflow() {
    for (priority, server) in [
        (PriorityScheme::Edf, ServerKind::Periodic),
        (PriorityScheme::Edf, ServerKind::Cbs),
        (PriorityScheme::Dm, ServerKind::Periodic),
    ] {
        let mut s = sched_with(
            2,
            1,
            Policy {
                priority,
                server,
                admission: true,
                ..Policy::default()
            },
        );
        let h = s.unit_alloc(1, 0, CpuMask::single(0)).unwrap();
        let p = Params {
            period: 10 * MS,
            budget: 4 * MS,
            extratime: false,
        };
        // No CPU: nothing can be admitted (nor overflow the bounds, which assume one).
        assert_eq!(s.set_params(h, p), Ok(Actions::default()));
        assert_eq!(s.insert(h, 0, false, false), Err(Error::NotAdmitted));
        assert!(!s.admission().schedulable || s.admission().total_ppm == 0);
    }
}
