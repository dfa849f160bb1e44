//! Control paths an administrator drives: CPUs leaving a cpupool, parameter changes.

use super::*;
use crate::params::MILLISECS as MS;

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
