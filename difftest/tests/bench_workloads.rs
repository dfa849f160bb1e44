//! The benchmark's workloads (`difftest::bench`) as checks of what its report states about
//! the two runs it compares: rtsched's run of every shape leaves no replenishment undone (no
//! unit on its replenishment queue a period or more overdue at the end), and rt.c's own run
//! of the pinned shape does (deliberate difference 3 in ARCHITECTURE.md: its queue, sorted
//! by level when a unit joins, falls out of order as queued units run on extratime), which
//! is what marks a total with † in `docs/results/bench.md`.

use difftest::bench::{record, Config, Impl, Shape};

fn cfg(shape: Shape, units: usize, cpus: usize, steps: usize) -> Config {
    Config {
        shape,
        units,
        cpus,
        steps,
        // (The benchmark's own seed for this size.)
        seed: (units * 131 + cpus) as u64,
    }
}

#[test]
fn rtsched_leaves_no_replenishment_undone_in_any_benchmark_workload() {
    for shape in Shape::ALL {
        for (units, cpus) in [(8, 4), (64, 4), (64, 16), (512, 16)] {
            let t = record(Impl::Rtsched, &cfg(shape, units, cpus, 4000));
            assert_eq!(
                t.overdue,
                0,
                "{} at {units} units on {cpus} CPUs: replenishments left undone",
                shape.name()
            );
        }
    }
}

#[test]
fn rt_c_stops_replenishing_in_the_pinned_workload() {
    let t = record(Impl::Xen, &cfg(Shape::Pinned, 512, 16, 4000));
    assert!(
        t.overdue > 100,
        "rt.c left {} replenishments undone (the report says it stops replenishing)",
        t.overdue
    );
}

#[test]
fn rt_c_with_its_replenishment_queue_by_deadline_keeps_up() {
    for shape in [Shape::Pinned, Shape::Mixed] {
        let c = cfg(shape, 512, 16, 4000);
        assert!(record(Impl::Xen, &c).overdue > 100, "{}", shape.name());
    }
    // In every shape and at every size rtsched's test covers, as rtsched's run does.
    for shape in Shape::ALL {
        for (units, cpus) in [(8, 4), (64, 4), (64, 16), (512, 16)] {
            let t = record(Impl::XenReplq, &cfg(shape, units, cpus, 4000));
            assert_eq!(
                t.overdue,
                0,
                "{} at {units} units on {cpus} CPUs: replenishments left undone",
                shape.name()
            );
        }
    }
}

/// Without extratime no unit's level changes, so both orders of the replenishment queue are
/// the same: the second copy makes exactly the calls, with exactly the results, of stock
/// rt.c (the replay of one's tape into the other checks the results' digest).
#[test]
fn rt_c_copies_agree_where_levels_do_not_change() {
    use difftest::bench::{replay, Pass};
    for (units, cpus) in [(8, 4), (64, 16), (512, 64)] {
        let c = cfg(Shape::Global, units, cpus, 2000);
        let stock = record(Impl::Xen, &c);
        let replq = record(Impl::XenReplq, &c);
        assert_eq!(stock.calls, replq.calls, "global {units}/{cpus}");
        replay(Impl::XenReplq, &c, &stock, Pass::Batched);
    }
}

/// The cold-cache pass times exactly the hook calls before its cutoff (the same time for
/// both implementations' tapes) and replays the rest, so that its digest check covers the
/// whole replay (a divergence panics inside `replay`).
#[test]
fn cold_pass_times_the_calls_of_its_span_and_replays_the_rest() {
    use difftest::bench::{replay, Pass};
    let c = cfg(Shape::Mixed, 8, 4, 600);
    for which in [Impl::Rtsched, Impl::Xen] {
        let t = record(which, &c);
        let until = t.time_at(0.2);
        let timed = t.calls_before(until);
        let r = replay(which, &c, &t, Pass::Cold(until));
        let got: Vec<usize> = r.per_call.iter().map(Vec::len).collect();
        assert_eq!(got, timed, "{which:?}: readings per hook");
        assert!(timed.iter().sum::<usize>() > 0);
        assert!(timed.iter().sum::<usize>() < t.counts().iter().sum::<usize>());
    }
}
