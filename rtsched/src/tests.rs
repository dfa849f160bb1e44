//! Unit tests of each mechanism, with expectations computed by hand from the RTDS rules.

use crate::params::{MICROSECS as US, MILLISECS as MS};
use crate::*;

fn sched(cap: usize, ncpus: usize) -> Scheduler<'static> {
    let st = Storage {
        units: Vec::leak(vec![Unit::EMPTY; cap]),
        runq: Vec::leak(vec![0u32; cap]),
        replq: Vec::leak(vec![0u32; cap]),
        cpus: Vec::leak(vec![Pcpu::IDLE; ncpus]),
    };
    let mut s = Scheduler::new(st, Policy::default()).unwrap();
    for c in 0..ncpus {
        s.cpu_add(c).unwrap();
    }
    s
}

fn ok(s: &Scheduler<'_>) {
    invariants::check(s).unwrap();
}

/// Allocates and inserts a (not yet runnable) unit with the given parameters.
fn unit(
    s: &mut Scheduler<'_>,
    dom: u32,
    period: i64,
    budget: i64,
    extra: bool,
    aff: CpuMask,
) -> UnitId {
    let h = s.unit_alloc(dom, 0, aff).unwrap();
    s.set_params(
        h,
        Params {
            period,
            budget,
            extratime: extra,
        },
    )
    .unwrap();
    s.insert(h, 0, false, false).unwrap();
    ok(s);
    h
}

#[test]
fn defaults_are_xens() {
    let mut s = sched(4, 1);
    let h = s.unit_alloc(1, 0, CpuMask::first_n(1)).unwrap();
    assert_eq!(
        s.params(h).unwrap(),
        Params {
            period: 10 * MS,
            budget: 4 * MS,
            extratime: true
        }
    );
}

#[test]
fn wake_starts_period_and_tickles_idle_own_cpu() {
    let mut s = sched(4, 2);
    let h = unit(&mut s, 1, 10 * MS, 4 * MS, false, CpuMask::first_n(2));
    let a = s.wake(h, 3 * MS).unwrap();
    ok(&s);
    let i = s.unit_info(h).unwrap();
    // Deadline 0 has passed: the period containing 3 ms ends at 10 ms.
    assert_eq!(
        (i.cur_deadline, i.cur_budget, i.priority_level),
        (10 * MS, 4 * MS, 0)
    );
    assert_eq!(a.reschedule, CpuMask::single(0));
    assert_eq!(a.timer, TimerOp::Set(10 * MS));
    let d = s.do_schedule(0, 3 * MS, false, false).unwrap();
    ok(&s);
    assert_eq!((d.next, d.slice, d.migrated), (Some(h), 4 * MS, false));
}

#[test]
fn budget_depletes_and_timer_replenishes() {
    let mut s = sched(4, 1);
    let h = unit(&mut s, 1, 10 * MS, 4 * MS, false, CpuMask::first_n(1));
    s.wake(h, 0).unwrap();
    s.do_schedule(0, 0, false, false).unwrap();
    // Runs 4 ms: budget gone, no extratime -> idle, delayed add, then depleted queue.
    let d = s.do_schedule(0, 4 * MS, true, false).unwrap();
    assert_eq!(d.next, None);
    assert_eq!(d.slice, -1);
    let i = s.unit_info(h).unwrap();
    assert_eq!(i.cur_budget, 0);
    assert!(UnitFlags::from_bits_truncate(i.flags)
        .contains(UnitFlags::DEPLETED | UnitFlags::DELAYED_RUNQ_ADD));
    s.context_saved(h, true).unwrap();
    ok(&s);
    assert_eq!(s.unit_info(h).unwrap().queue, QueueKind::Depleted as u32);
    assert_eq!(s.timer(), Some(10 * MS));
    // context_saved tickled the idle CPU 0; it reschedules and stays idle.
    assert_eq!(s.do_schedule(0, 4 * MS, false, false).unwrap().next, None);
    // Replenishment at 10 ms: new deadline 20 ms, full budget, run queue, tickle CPU 0.
    let a = s.timer_fire(10 * MS).unwrap();
    ok(&s);
    let i = s.unit_info(h).unwrap();
    assert_eq!(
        (i.cur_deadline, i.cur_budget, i.queue),
        (20 * MS, 4 * MS, QueueKind::Run as u32)
    );
    assert_eq!(a.reschedule, CpuMask::single(0));
    assert_eq!(a.timer, TimerOp::Set(20 * MS));
}

#[test]
fn extratime_refills_one_level_down() {
    let mut s = sched(4, 1);
    let h = unit(&mut s, 1, 10 * MS, 4 * MS, true, CpuMask::first_n(1));
    s.wake(h, 0).unwrap();
    s.do_schedule(0, 0, false, false).unwrap();
    let d = s.do_schedule(0, 5 * MS, true, false).unwrap();
    ok(&s);
    // 5 ms burnt from 4 ms: refilled to 4 ms at level 1; nothing else to run: keeps running.
    assert_eq!(d.next, Some(h));
    assert_eq!(d.slice, 4 * MS);
    assert_eq!(s.unit_info(h).unwrap().priority_level, 1);
}

#[test]
fn edf_wake_preempts_later_deadline() {
    let mut s = sched(4, 1);
    let one = CpuMask::first_n(1);
    let a = unit(&mut s, 1, 20 * MS, 4 * MS, false, one);
    let b = unit(&mut s, 2, 10 * MS, 2 * MS, false, one);
    s.wake(a, 0).unwrap();
    assert_eq!(s.do_schedule(0, 0, false, false).unwrap().next, Some(a));
    // b's deadline (10 ms) is earlier than a's (20 ms): tickle CPU 0 (busy, lower priority).
    let act = s.wake(b, MS).unwrap();
    assert_eq!(act.reschedule, CpuMask::single(0));
    let d = s.do_schedule(0, MS, true, false).unwrap();
    assert_eq!(d.next, Some(b));
    assert_eq!(s.unit_info(a).unwrap().cur_budget, 3 * MS);
    s.context_saved(a, true).unwrap();
    ok(&s);
    // a is back on the run queue; b still runs.
    assert_eq!(s.runq_head(), Some(a));
}

#[test]
fn current_unit_kept_on_equal_priority_loses() {
    // rt.c keeps the current unit only if it has strictly higher priority.
    let mut s = sched(4, 1);
    let one = CpuMask::first_n(1);
    let a = unit(&mut s, 1, 10 * MS, 4 * MS, false, one);
    let b = unit(&mut s, 2, 10 * MS, 4 * MS, false, one);
    s.wake(a, 0).unwrap();
    s.do_schedule(0, 0, false, false).unwrap();
    s.wake(b, 0).unwrap();
    let d = s.do_schedule(0, MS, true, false).unwrap();
    // Same level, same deadline: b (queued) wins.
    assert_eq!(d.next, Some(b));
}

#[test]
fn deadline_catch_up_far_behind() {
    let mut s = sched(4, 1);
    let h = unit(&mut s, 1, 10 * MS, 4 * MS, false, CpuMask::first_n(1));
    let now = 1_000_000 * 1_000 * MS + 3; // ~11.6 days: more than 1024 periods missed
    s.wake(h, now).unwrap();
    let i = s.unit_info(h).unwrap();
    assert_eq!(i.cur_deadline, now - 3 + 10 * MS);
    assert_eq!(i.cur_budget, 4 * MS);
    ok(&s);
}

#[test]
fn switched_out_unit_is_not_queued_until_context_saved() {
    let mut s = sched(4, 2);
    let h = unit(&mut s, 1, 10 * MS, 4 * MS, true, CpuMask::first_n(2));
    s.wake(h, 0).unwrap();
    s.do_schedule(0, 0, false, false).unwrap();
    // It blocks: CPU 0 goes idle, context switch in progress.
    s.sleep(h).unwrap();
    assert_eq!(s.do_schedule(0, MS, false, false).unwrap().next, None);
    // Woken on another CPU before its context is saved: only the delayed flag is set.
    let a = s.wake(h, MS).unwrap();
    ok(&s);
    assert_eq!(a.reschedule, CpuMask::EMPTY);
    assert_eq!(s.unit_info(h).unwrap().queue, QueueKind::None as u32);
    // CPU 1 cannot grab it.
    assert_eq!(s.do_schedule(1, MS, false, false).unwrap().next, None);
    let a = s.context_saved(h, true).unwrap();
    ok(&s);
    assert_eq!(s.unit_info(h).unwrap().queue, QueueKind::Run as u32);
    assert!(a.reschedule.test(0) || a.reschedule.test(1));
}

#[test]
fn tickle_prefers_own_then_idle_then_lowest() {
    let mut s = sched(8, 3);
    let all = CpuMask::first_n(3);
    let u: Vec<UnitId> = (0..4)
        .map(|d| unit(&mut s, d, (10 + d as i64) * MS, MS, false, all))
        .collect();
    // Fill CPUs 0 and 1; CPU 2 idle.
    s.wake(u[1], 0).unwrap();
    s.do_schedule(0, 0, false, false).unwrap();
    s.wake(u[2], 0).unwrap();
    let d = s.do_schedule(1, 0, false, false).unwrap();
    assert_eq!(d.next, Some(u[2]));
    // u[0] is assigned to CPU 0 (busy): the idle CPU 2 is tickled.
    let a = s.wake(u[0], 0).unwrap();
    assert_eq!(a.reschedule, CpuMask::single(2));
    s.do_schedule(2, 0, false, false).unwrap();
    ok(&s);
    // All busy; u[3] has the latest deadline: nothing is tickled.
    let a = s.wake(u[3], 0).unwrap();
    assert_eq!(a.reschedule, CpuMask::EMPTY);
    assert_eq!(s.stats().tickle_none, 1);
}

#[test]
fn invalid_params_rejected_and_state_unchanged() {
    let mut s = sched(4, 1);
    let h = unit(&mut s, 1, 10 * MS, 4 * MS, true, CpuMask::first_n(1));
    s.wake(h, 0).unwrap();
    let before = s.unit_info(h).unwrap();
    for (p, b) in [
        (10 * MS, 20 * MS),
        (5, 5),
        (10 * MS, 0),
        (0, 0),
        (-10 * MS, 4 * MS),
        (9 * US, 9 * US),
        (i64::MAX, 4 * MS),
    ] {
        let e = s.set_params(
            h,
            Params {
                period: p,
                budget: b,
                extratime: false,
            },
        );
        assert_eq!(e, Err(Error::InvalidParams));
        assert_eq!(e.unwrap_err().errno(), 22);
        assert_eq!(s.unit_info(h).unwrap(), before);
    }
    assert_eq!(
        s.set_params(UnitId(3), Params::default()),
        Err(Error::NoSuchUnit)
    );
    assert_eq!(
        s.set_params(UnitId(99), Params::default()),
        Err(Error::NoSuchUnit)
    );
    assert_eq!(s.do_schedule(7, 0, false, false), Err(Error::NoSuchCpu));
    ok(&s);
}

#[test]
fn pick_cpu_keeps_current_then_prefers_idle() {
    let mut s = sched(4, 4);
    let h = unit(&mut s, 1, 10 * MS, 4 * MS, true, CpuMask::first_n(4));
    assert_eq!(s.pick_cpu(h).unwrap(), 0);
    // Occupy CPU 1 and restrict h to {1, 3}: rt.c would cycle to 1, we pick idle 3.
    let o = unit(&mut s, 2, 10 * MS, 4 * MS, true, CpuMask::single(1));
    s.wake(o, 0).unwrap();
    s.do_schedule(1, 0, false, false).unwrap();
    let mut m = CpuMask::single(1);
    m.set(3);
    s.set_affinity(h, m).unwrap();
    assert_eq!(s.pick_cpu(h).unwrap(), 3);
    s.set_affinity(h, CpuMask::EMPTY).unwrap();
    assert_eq!(s.pick_cpu(h), Err(Error::NoAllowedCpu));
}

#[test]
fn replenishment_queue_ordered_by_deadline_only() {
    // rt.c orders its replenishment list by (priority_level, deadline), so a unit on
    // extratime with an earlier deadline could sit behind a later one and be replenished
    // late. Here the timer always follows the earliest deadline.
    let mut s = sched(4, 2);
    let all = CpuMask::first_n(2);
    let a = unit(&mut s, 1, 10 * MS, MS, true, all);
    let b = unit(&mut s, 2, 30 * MS, MS, false, all);
    s.wake(a, 0).unwrap();
    s.do_schedule(0, 0, false, false).unwrap();
    s.do_schedule(0, 2 * MS, true, false).unwrap(); // a on extratime, level 1
    s.sleep(a).unwrap();
    s.do_schedule(0, 2 * MS, false, false).unwrap();
    s.context_saved(a, false).unwrap();
    s.wake(b, 2 * MS).unwrap();
    s.wake(a, 3 * MS).unwrap(); // not missed: keeps level 1, deadline 10 ms
    ok(&s);
    assert_eq!(s.unit_info(a).unwrap().priority_level, 1);
    assert_eq!(s.timer(), Some(10 * MS));
}

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

#[test]
fn regression_73c62927f6_unrunnable_queued_unit_leaves_both_queues() {
    let mut s = sched(4, 1);
    let one = CpuMask::first_n(1);
    let a = unit(&mut s, 1, 10 * MS, MS, false, one);
    let b = unit(&mut s, 2, 20 * MS, MS, false, one);
    s.wake(a, 0).unwrap();
    s.wake(b, 0).unwrap();
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
    let mut s = sched(4, 1);
    let one = CpuMask::first_n(1);
    let a = unit(&mut s, 1, 10 * MS, MS, false, one);
    let b = unit(&mut s, 2, 20 * MS, MS, false, one);
    s.wake(a, 0).unwrap();
    s.wake(b, 0).unwrap();
    // The head becomes non-runnable without the scheduler hearing of it.
    s.raw_units_mut()[a.0 as usize].runnable = false;
    let d = s.do_schedule(0, 0, false, false).unwrap();
    assert_eq!(d.next, Some(b));
    let i = s.unit_info(a).unwrap();
    assert_eq!((i.queue, i.on_replq), (0, 0));
    assert_eq!(s.stats().dropped_unrunnable, 1);
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

#[test]
fn free_refuses_inserted_or_running_units() {
    let mut s = sched(2, 1);
    let h = unit(&mut s, 1, 10 * MS, MS, false, CpuMask::first_n(1));
    assert_eq!(s.unit_free(h), Err(Error::Busy));
    s.wake(h, 0).unwrap();
    s.do_schedule(0, 0, false, false).unwrap();
    s.remove(h).unwrap();
    assert_eq!(s.unit_free(h), Err(Error::Busy)); // still running
    s.do_schedule(0, MS, true, false).unwrap();
    s.context_saved(h, true).unwrap();
    ok(&s);
    s.unit_free(h).unwrap();
    assert_eq!(s.nr_units(), 0);
    let _ = s.unit_alloc(1, 0, CpuMask::first_n(1)).unwrap();
    let _ = s.unit_alloc(1, 1, CpuMask::first_n(1)).unwrap();
    assert_eq!(s.unit_alloc(1, 2, CpuMask::first_n(1)), Err(Error::NoSpace));
}

#[test]
fn dm_switch_reorders_run_queue() {
    let mut s = sched(4, 1);
    let one = CpuMask::first_n(1);
    let long = unit(&mut s, 1, 50 * MS, MS, false, one);
    let short = unit(&mut s, 2, 20 * MS, MS, false, one);
    s.wake(long, 45 * MS).unwrap(); // deadline 50 ms
    s.wake(short, 45 * MS).unwrap(); // deadline 60 ms
    assert_eq!(s.runq_head(), Some(long));
    let a = s.set_priority_scheme(PriorityScheme::Dm).unwrap();
    assert_eq!(a.reschedule, CpuMask::single(0));
    assert_eq!(s.runq_head(), Some(short));
    ok(&s);
}

fn sched_with(cap: usize, ncpus: usize, policy: Policy) -> Scheduler<'static> {
    let st = Storage {
        units: Vec::leak(vec![Unit::EMPTY; cap]),
        runq: Vec::leak(vec![0u32; cap]),
        replq: Vec::leak(vec![0u32; cap]),
        cpus: Vec::leak(vec![Pcpu::IDLE; ncpus]),
    };
    Scheduler::new(st, policy).unwrap()
}

#[test]
fn periodic_server_charges_idle_time_to_blocked_unit() {
    for server in [ServerKind::Deferrable, ServerKind::Periodic] {
        let mut s = sched_with(
            4,
            1,
            Policy {
                server,
                ..Policy::default()
            },
        );
        s.cpu_add(0).unwrap();
        let one = CpuMask::first_n(1);
        let h = unit(&mut s, 1, 10 * MS, 2 * MS, false, one);
        let l = unit(&mut s, 2, 20 * MS, 8 * MS, false, one);
        s.wake(h, 0).unwrap();
        s.wake(l, 0).unwrap();
        assert_eq!(s.do_schedule(0, 0, false, false).unwrap().next, Some(h));
        // h blocks after 1 ms with 1 ms of budget left.
        s.sleep(h).unwrap();
        let d = s.do_schedule(0, MS, false, false).unwrap();
        let a = s.context_saved(h, false).unwrap();
        ok(&s);
        assert_eq!(d.next, Some(l));
        match server {
            ServerKind::Deferrable => {
                // Budget preserved, l runs now.
                assert_eq!(d.next, Some(l));
                assert_eq!(s.unit_info(h).unwrap().cur_budget, MS);
            }
            ServerKind::Periodic => {
                // Once its context is saved, h is queued as a blocked server and, being the
                // highest-priority one, preempts l: the CPU idles on h's budget.
                assert!(a.reschedule.test(0));
                let d = s.do_schedule(0, MS, true, false).unwrap();
                ok(&s);
                assert_eq!((d.next, d.slice), (None, MS));
                assert_eq!(s.stats().phantom_picks, 1);
                s.context_saved(l, true).unwrap(); // l was switched out
                ok(&s);
                // Its budget is gone at 2 ms; then l runs.
                let d = s.do_schedule(0, 2 * MS, false, false).unwrap();
                ok(&s);
                assert_eq!(d.next, Some(l));
                assert_eq!(s.unit_info(h).unwrap().cur_budget, 0);
                // Replenished at 10 ms while blocked, and charged again.
                s.timer_fire(10 * MS).unwrap();
                let d = s.do_schedule(0, 10 * MS, true, false).unwrap();
                ok(&s);
                assert_eq!((d.next, d.slice), (None, 2 * MS));
                // Waking while charged: its CPU reschedules and it runs.
                let a = s.wake(h, 11 * MS).unwrap();
                assert!(a.reschedule.test(0));
                ok(&s);
                let d = s.do_schedule(0, 11 * MS, false, false).unwrap();
                assert_eq!((d.next, d.slice), (Some(h), MS));
                ok(&s);
                // Back to deferrable: nothing blocked stays queued.
                s.sleep(h).unwrap();
                s.do_schedule(0, 11 * MS, false, false).unwrap();
                s.context_saved(h, false).unwrap();
                s.set_server(ServerKind::Deferrable).unwrap();
                ok(&s);
                let i = s.unit_info(h).unwrap();
                assert_eq!((i.queue, i.on_replq), (0, 0));
            }
        }
    }
}

#[test]
fn partition_instance_holds_one_cpu() {
    let mut s = sched_with(
        4,
        2,
        Policy {
            topology: Topology::Partition,
            ..Policy::default()
        },
    );
    s.cpu_add(1).unwrap();
    assert_eq!(s.cpu_add(0), Err(Error::Busy));
    let h = unit(&mut s, 1, 10 * MS, 4 * MS, false, CpuMask::first_n(2));
    assert_eq!(s.unit_info(h).unwrap().cpu, 1);
}

#[test]
fn admission_rejects_and_changes_nothing() {
    let mut s = sched_with(
        4,
        1,
        Policy {
            admission: true,
            ..Policy::default()
        },
    );
    s.cpu_add(0).unwrap();
    let one = CpuMask::first_n(1);
    let a = unit(&mut s, 1, 10 * MS, 6 * MS, false, one);
    let b = s.unit_alloc(2, 0, one).unwrap();
    s.set_params(
        b,
        Params {
            period: 10 * MS,
            budget: 4 * MS,
            extratime: false,
        },
    )
    .unwrap();
    s.insert(b, 0, false, false).unwrap();
    assert!(s.admission().schedulable);
    assert_eq!(s.admission().remaining_ppm, 0);
    let before = (s.unit_info(a).unwrap(), s.unit_info(b).unwrap());
    let e = s.set_params(
        a,
        Params {
            period: 10 * MS,
            budget: 7 * MS,
            extratime: false,
        },
    );
    assert_eq!(e, Err(Error::NotAdmitted));
    assert_eq!(e.unwrap_err().errno(), 28);
    assert_eq!(
        s.set_domain_params(2, 10 * MS, 5 * MS),
        Err(Error::NotAdmitted)
    );
    assert_eq!((s.unit_info(a).unwrap(), s.unit_info(b).unwrap()), before);
    // A non-RT unit (extratime, budget = period) reserves nothing and is admitted.
    let c = s.unit_alloc(3, 0, one).unwrap();
    s.set_params(
        c,
        Params {
            period: 10 * MS,
            budget: 10 * MS,
            extratime: true,
        },
    )
    .unwrap();
    s.insert(c, 0, false, false).unwrap();
    // A default unit (0.4) does not fit.
    let d = s.unit_alloc(4, 0, one).unwrap();
    assert_eq!(s.insert(d, 0, false, false), Err(Error::NotAdmitted));
    ok(&s);
}

#[test]
fn periodic_blocked_server_keeps_its_assigned_cpu_and_frees_the_cpu_on_wake() {
    // Charging a blocked server's budget to an idle CPU must not reassign the unit: the host
    // (Xen's unit->res) would not know, and a later run there would not be flagged migrated.
    let mut s = sched_with(
        4,
        2,
        Policy {
            server: ServerKind::Periodic,
            ..Policy::default()
        },
    );
    s.cpu_add(0).unwrap();
    s.cpu_add(1).unwrap();
    let all = CpuMask::first_n(2);
    let h = unit(&mut s, 1, 10 * MS, 4 * MS, false, all);
    let busy = unit(&mut s, 2, 20 * MS, 4 * MS, false, CpuMask::single(0));
    s.wake(h, 0).unwrap();
    s.do_schedule(0, 0, false, false).unwrap();
    s.sleep(h).unwrap();
    s.do_schedule(0, MS, false, false).unwrap();
    s.wake(busy, MS).unwrap();
    assert_eq!(s.do_schedule(0, MS, false, false).unwrap().next, Some(busy));
    let a = s.context_saved(h, false).unwrap();
    // The blocked server preempts nothing of higher priority; idle CPU 1 charges it.
    assert!(a.reschedule.test(1));
    let d = s.do_schedule(1, MS, false, false).unwrap();
    assert_eq!((d.next, d.slice), (None, 3 * MS));
    ok(&s);
    assert_eq!(s.unit_info(h).unwrap().cpu, 0);
    // Woken: charged up to now, queued, and CPU 1 (now idle) is asked to run it.
    let a = s.wake(h, 2 * MS).unwrap();
    ok(&s);
    assert_eq!(s.unit_info(h).unwrap().cur_budget, 2 * MS);
    assert!(a.reschedule.test(1));
    let d = s.do_schedule(1, 2 * MS, false, false).unwrap();
    assert_eq!((d.next, d.migrated), (Some(h), true));
}
