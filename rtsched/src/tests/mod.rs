//! Unit tests of each mechanism, with expectations computed by hand from the RTDS rules.

use crate::*;

pub(super) fn sched(cap: usize, ncpus: usize) -> Scheduler<'static> {
    online(cap, ncpus, Policy::default())
}

/// A scheduler for `cap` units under `policy` with CPUs `0..ncpus` online.
pub(super) fn online(cap: usize, ncpus: usize, policy: Policy) -> Scheduler<'static> {
    let mut s = sched_with(cap, ncpus, policy);
    for c in 0..ncpus {
        s.cpu_add(c).unwrap();
    }
    s
}

/// `n` units for the queue tests: in use, deadlines scattered over 0..13 (with ties), FIFO
/// order by index; pinned to CPU `pin` (NIL: not pinned).
pub(crate) fn queue_units(n: usize, pin: u32) -> Vec<Unit> {
    (0..n)
        .map(|i| Unit {
            in_use: true,
            cur_deadline: ((i * 7919) % 13) as i64,
            runq_seq: i as u64,
            pin_cpu: pin,
            ..Unit::EMPTY
        })
        .collect()
}

pub(super) fn ok(s: &Scheduler<'_>) {
    invariants::check(s).unwrap();
}

/// Allocates and inserts a (not yet runnable) unit with the given parameters.
pub(super) fn unit(
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

pub(super) fn sched_with(cap: usize, ncpus: usize, policy: Policy) -> Scheduler<'static> {
    let st = Storage {
        units: Vec::leak(vec![Unit::EMPTY; cap]),
        runq: Vec::leak(vec![0u32; cap]),
        replq: Vec::leak(vec![0u32; cap]),
        cpus: Vec::leak(vec![Pcpu::IDLE; ncpus]),
    };
    Scheduler::new(st, policy).unwrap()
}

mod control;
mod groups;
mod host;
mod pinned;
mod policies;
mod regressions;
mod rules;
mod spares;
