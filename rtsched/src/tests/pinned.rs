//! The run queue's pinned queues (`pairing.rs`, `sched/runq.rs`), with hand-computed
//! expectations, and broken variants the invariants must catch.

use super::*;
use crate::params::MILLISECS as MS;

fn rt(s: &mut Scheduler<'_>, period: i64, aff: CpuMask) -> UnitId {
    unit(s, 1, period, 2 * MS, false, aff)
}

/// A unit pinned to CPU 1 heads the run queue, but CPU 0 picks the first unit it allows;
/// an affinity change moves a queued unit between the shared heap and a pinned queue.
#[test]
fn pinned_head_is_not_picked_elsewhere_and_affinity_moves_queued_units() {
    let mut s = sched(8, 2);
    let both = CpuMask::first_n(2);
    let a = rt(&mut s, 10 * MS, CpuMask::single(1));
    let b = rt(&mut s, 20 * MS, both);
    let c = rt(&mut s, 30 * MS, both);
    for h in [a, b, c] {
        s.wake(h, MS).unwrap();
        ok(&s);
    }
    // Deadlines 10, 20, 30 ms: A heads the run queue, pinned to CPU 1.
    assert_eq!(s.runq_head(), Some(a));
    assert_eq!(s.queue_lens().0, 3);
    assert_eq!(s.runq_peek(0).unwrap(), Some(b));
    assert_eq!(s.runq_peek(1).unwrap(), Some(a));
    assert_eq!(s.do_schedule(0, MS, false, false).unwrap().next, Some(b));
    ok(&s);
    assert_eq!(s.do_schedule(1, MS, false, false).unwrap().next, Some(a));
    ok(&s);
    assert_eq!(s.runq_head(), Some(c));
    // C pinned to CPU 1: CPU 0 no longer finds it; back on both, it does.
    s.set_affinity(c, CpuMask::single(1)).unwrap();
    ok(&s);
    assert_eq!(s.runq_peek(0).unwrap(), None);
    assert_eq!(s.runq_peek(1).unwrap(), Some(c));
    assert_eq!(
        (s.runq_head(), s.runq_at(0), s.queue_lens().0),
        (Some(c), Some(c), 1)
    );
    s.set_affinity(c, both).unwrap();
    ok(&s);
    assert_eq!(s.runq_peek(0).unwrap(), Some(c));
}

/// Each cache of the pinned queues, broken, fails `invariants::check`.
#[test]
fn broken_pinned_queues_fail_the_invariants() {
    let setup = || {
        let mut s = sched(8, 2);
        let x = rt(&mut s, 10 * MS, CpuMask::single(1));
        let y = rt(&mut s, 20 * MS, CpuMask::single(1));
        let z = rt(&mut s, 30 * MS, CpuMask::first_n(2));
        for h in [x, y, z] {
            s.wake(h, MS).unwrap();
        }
        ok(&s);
        (s, x, y, z)
    };
    // The home no longer follows the affinity.
    let (mut s, _, y, _) = setup();
    s.raw_units_mut()[y.0 as usize].pin_home = crate::unit::NIL;
    assert_eq!(
        invariants::check(&s),
        Err("pinned home does not follow the affinity")
    );
    // A pinned unit recorded on another CPU's queue.
    let (mut s, _, y, _) = setup();
    s.raw_units_mut()[y.0 as usize].pin_cpu = 0;
    assert_eq!(
        invariants::check(&s),
        Err("pinned queue order, links or CPU")
    );
    // Heap order: the later unit made earlier than the root above it.
    let (mut s, _, y, _) = setup();
    s.raw_units_mut()[y.0 as usize].cur_deadline = 5 * MS;
    assert_eq!(
        invariants::check(&s),
        Err("pinned queue order, links or CPU")
    );
    // A shared unit claimed by a pinned queue.
    let (mut s, _, _, z) = setup();
    s.raw_units_mut()[z.0 as usize].pin_cpu = 1;
    assert_eq!(invariants::check(&s), Err("run queue membership"));
}
