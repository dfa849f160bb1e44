//! Control paths an administrator drives: CPUs leaving a cpupool, parameter changes.

use super::*;
use crate::params::{MICROSECS as US, MILLISECS as MS};

/// Xen 4.17 removes a CPU from its cpupool's valid set, then moves each unit off it with
/// `pick_resource` until the pick is a CPU of the pool (an endless loop otherwise: the
/// hang of a dom0 VCPU pinned to a PCPU leaving Pool-0), and only then calls
/// `deinit_pdata`. A withdrawn CPU is never picked, hands its running unit back, takes no
/// unit in between, and is removed once idle.
#[test]
fn withdrawn_cpu_is_never_picked_and_hands_its_unit_back() {
    let mut s = sched(4, 3);
    let all = CpuMask::first_n(3);
    let a = unit(&mut s, 0, 10 * MS, 4 * MS, true, all);
    let b = unit(&mut s, 1, 10 * MS, 4 * MS, true, all);
    s.migrate(a, 1).unwrap();
    s.wake(a, 0).unwrap();
    let d = s.do_schedule(1, 0, false, false).unwrap();
    assert_eq!(d.next, Some(a));
    ok(&s);
    // CPU 1 leaves; `a` (affinity broken to all CPUs) runs on it.
    let w = s.cpu_withdraw(1).unwrap();
    ok(&s);
    assert!(
        w.reschedule.test(1),
        "the withdrawn CPU must let its unit go"
    );
    assert!(!s.online().test(1));
    assert_ne!(
        s.pick_cpu(a).unwrap(),
        1,
        "picked the withdrawn CPU (Xen loops forever)"
    );
    // Its next schedule hands `a` back and picks nothing, even with work queued.
    s.wake(b, MS).unwrap();
    let d = s.do_schedule(1, 2 * MS, true, false).unwrap();
    ok(&s);
    assert_eq!(d.next, None);
    let c = s.context_saved(a, true).unwrap();
    ok(&s);
    assert!(!c.reschedule.test(1), "tickled the withdrawn CPU");
    assert_eq!(s.curr(1), None);
    // Nothing reaches CPU 1 afterwards: picks, tickles and schedules on the others.
    for cpu in [0, 2] {
        let d = s.do_schedule(cpu, 3 * MS, false, false).unwrap();
        ok(&s);
        assert!(
            d.next.is_some(),
            "a runnable unit left waiting beside idle CPU {cpu}"
        );
    }
    assert_ne!(s.pick_cpu(b).unwrap(), 1);
    s.cpu_remove(1).unwrap();
    ok(&s);
    // Withdrawing again, or a CPU out of range.
    assert_eq!(s.cpu_withdraw(1).unwrap(), Actions::default());
    assert_eq!(s.cpu_withdraw(3), Err(Error::NoSuchCpu));
    // It comes back.
    s.cpu_add(1).unwrap();
    ok(&s);
}

/// A CPU that runs a unit cannot be removed (withdrawn or not) until it has handed it back.
#[test]
fn busy_cpu_is_not_removed() {
    let mut s = sched(4, 2);
    let a = unit(&mut s, 0, 10 * MS, 4 * MS, true, CpuMask::first_n(2));
    s.wake(a, 0).unwrap();
    s.do_schedule(0, 0, false, false).unwrap();
    assert_eq!(s.cpu_remove(0), Err(Error::Busy));
    s.cpu_withdraw(0).unwrap();
    assert_eq!(s.cpu_remove(0), Err(Error::Busy));
    ok(&s);
}
/// xl parses a period into an `int`: an 11-digit period wraps to ~1216 s. Corrected, it
/// takes effect at once (a new period starts now); under rt.c's rule (`set_params`) the
/// depleted unit waits for its old deadline, 20 minutes away.
#[test]
fn corrected_huge_period_takes_effect_at_once() {
    let huge = 1_215_752_192 * US; // 11111111111 us as a 32-bit int
    for prompt in [true, false] {
        let mut s = sched(4, 1);
        let h = unit(&mut s, 1, huge, 4 * MS, false, CpuMask::first_n(1));
        s.wake(h, 0).unwrap();
        assert_eq!(s.do_schedule(0, 0, true, false).unwrap().next, Some(h));
        // Its budget runs out at 4 ms: depleted until 1216 s.
        let d = s.do_schedule(0, 4 * MS, true, false).unwrap();
        ok(&s);
        assert_eq!(d.next, None);
        s.context_saved(h, true).unwrap();
        ok(&s);
        let now = 5 * MS;
        let p = Params {
            period: 10 * MS,
            budget: 4 * MS,
            extratime: false,
        };
        let a = if prompt {
            s.set_params_at(h, p, now).unwrap()
        } else {
            s.set_params(h, p).unwrap()
        };
        ok(&s);
        let i = s.unit_info(h).unwrap();
        if prompt {
            assert_eq!((i.cur_deadline, i.cur_budget), (now + 10 * MS, 4 * MS));
            assert_eq!(a.reschedule, CpuMask::single(0), "its idle CPU must run it");
            assert_eq!(a.timer, TimerOp::Set(now + 10 * MS));
            let d = s.do_schedule(0, now, false, false).unwrap();
            assert_eq!((d.next, d.slice), (Some(h), 4 * MS));
        } else {
            assert_eq!((i.cur_deadline, i.cur_budget), (huge, 0));
            assert_eq!(s.do_schedule(0, now, false, false).unwrap().next, None);
        }
        ok(&s);
    }
}

/// The rule over many changes: after `set_params_at` no unit waits longer than its new
/// period (deadline at most one period away), whatever its state; a change within the
/// current period keeps the period (deadline and budget unchanged but for the clamp).
#[test]
fn no_parameter_change_leaves_a_unit_waiting_longer_than_its_period() {
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    for _ in 0..2000 {
        let mut s = sched(4, 2);
        let old_p = (1 + next(100_000)) as i64 * 100 * US;
        let h = unit(
            &mut s,
            1,
            old_p,
            old_p / 2 + 10 * US,
            next(2) == 0,
            CpuMask::first_n(2),
        );
        let mut now = next(1000) as i64 * US;
        s.wake(h, now).unwrap();
        // Some history: run, deplete or not, switched out or running.
        for _ in 0..next(4) {
            now += next(old_p as u64) as i64;
            s.do_schedule(0, now, true, false).unwrap();
            if s.curr(0) != Some(h) && s.unit_info(h).unwrap().flags & 2 != 0 {
                s.context_saved(h, true).unwrap();
            }
        }
        ok(&s);
        let before = s.unit_info(h).unwrap();
        let new_p = (1 + next(100_000)) as i64 * 100 * US;
        let new_b = 10 * US + next((new_p - 10 * US) as u64) as i64;
        let p = Params {
            period: new_p,
            budget: new_b,
            extratime: next(2) == 0,
        };
        s.set_params_at(h, p, now).unwrap();
        ok(&s);
        let i = s.unit_info(h).unwrap();
        assert!(
            i.cur_deadline <= now + new_p,
            "{before:?} -> {i:?} at {now}"
        );
        if before.cur_deadline <= now + new_p {
            assert_eq!(i.cur_deadline, before.cur_deadline);
            assert_eq!(i.cur_budget, before.cur_budget.min(new_b));
        } else {
            assert_eq!((i.cur_deadline, i.cur_budget), (now + new_p, new_b));
        }
    }
}
