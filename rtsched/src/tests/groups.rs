//! The affinity groups' run queues (`sched/groups.rs`): over random affinities, CPU counts,
//! policies and hook sequences, every pick is the first unit a single queue in run-queue
//! order gives (a scan of every queued unit), the head and the dump agree with that queue,
//! and the invariants hold; a table too small for the masks falls back to the shared heap
//! with the same picks. Broken variants (a CPU's group bits, a group's count, a group's bound
//! of its CPUs' keys, the pick skipping groups) are caught.

use super::*;
use crate::params::MILLISECS as MS;
use crate::queues::run_before;
use crate::sched::{Home, GROUP_MIN_UNITS, MAX_GROUPS};
use crate::unit::QueueKind;

struct Rng(u64);

impl Rng {
    fn next(&mut self, m: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % m.max(1)
    }
}

/// A random hard affinity over `ncpus` CPUs: all of them, one, a random subset, a few
/// masks many units share, or CPUs beyond the instance's too.
fn affinity(r: &mut Rng, ncpus: usize, subsets: bool) -> CpuMask {
    match if subsets { 4 } else { r.next(6) } {
        0 => CpuMask::first_n(ncpus),
        1 => CpuMask::single(r.next(ncpus as u64) as usize),
        2 => {
            // Halves and pairs (the benchmark's mixed shape).
            let lo = if r.next(2) == 0 { 0 } else { ncpus / 2 };
            let mut m = CpuMask::EMPTY;
            for c in lo..(lo + ncpus / 2).max(lo + 1) {
                m.set(c);
            }
            m
        }
        3 => {
            let c = 2 * r.next(ncpus.div_ceil(2) as u64) as usize;
            let mut m = CpuMask::single(c);
            m.set((c + 1) % ncpus);
            m
        }
        4 => {
            let mut m = CpuMask::EMPTY;
            m.bits[0] = r.next(u64::MAX) & ((1u64 << ncpus.min(63)) - 1);
            if m.is_empty() {
                m.set(0);
            }
            m
        }
        _ => {
            // The instance's CPUs plus some outside it.
            let mut m = CpuMask::first_n(ncpus);
            m.set(200);
            if r.next(2) == 0 {
                m.clear(r.next(ncpus as u64) as usize);
            }
            m
        }
    }
}

/// The unit a single run queue in run-queue order gives `cpu`: the first queued unit the
/// pick may take there (`runq_peek`'s rule), by a scan of every unit.
fn reference_pick(s: &Scheduler<'_>, cpu: usize) -> Option<UnitId> {
    let o = s.raw_order();
    let periodic = s.policy().server == ServerKind::Periodic;
    let mut best: Option<u32> = None;
    for (i, u) in s.raw_units().iter().enumerate() {
        if u.queue != QueueKind::Run || !u.affinity.test(cpu) || !s.online().test(cpu) {
            continue;
        }
        let pickable = if periodic {
            u.runnable || o.on_reserved_budget(u)
        } else {
            u.runnable
        };
        if !pickable {
            continue;
        }
        if best.is_none_or(|b| run_before(u, &s.raw_units()[b as usize], o)) {
            best = Some(i as u32);
        }
    }
    best.map(UnitId)
}

/// Every check after a step: invariants, each online CPU's pick, the head, the dump.
fn check_step(s: &Scheduler<'_>, ncpus: usize) -> core::result::Result<(), String> {
    invariants::check(s).map_err(|e| e.to_string())?;
    for c in 0..ncpus {
        let got = s.runq_peek(c).map_err(|e| format!("{e:?}"))?;
        let want = reference_pick(s, c);
        if got != want {
            return Err(format!("cpu {c}: picked {got:?}, one queue gives {want:?}"));
        }
    }
    let o = s.raw_order();
    let units = s.raw_units();
    let mut head: Option<u32> = None;
    let mut queued = Vec::new();
    for (i, u) in units.iter().enumerate() {
        if u.queue == QueueKind::Run {
            queued.push(i as u32);
            if head.is_none_or(|b| run_before(u, &units[b as usize], o)) {
                head = Some(i as u32);
            }
        }
    }
    if s.runq_head().map(|h| h.0) != head {
        return Err("run-queue head".into());
    }
    let mut dump: Vec<u32> = (0..queued.len())
        .map_while(|i| s.runq_at(i).map(|h| h.0))
        .collect();
    dump.sort_unstable();
    if dump != queued || s.runq_at(queued.len()).is_some() {
        return Err("run-queue dump".into());
    }
    Ok(())
}

/// One random run: `ncpus` CPUs, `cap` units (the first `prefill` allocated before anything
/// else: with [`GROUP_MIN_UNITS`] the slots become groups), `steps` host steps under
/// `policy`; `broken` is applied to the instance before each check. Returns the first failed
/// check.
fn run(
    seed: u64,
    (ncpus, cap, prefill): (usize, usize, usize),
    steps: usize,
    policy: Policy,
    broken: &dyn Fn(&mut Scheduler<'_>),
) -> core::result::Result<(), String> {
    run_masks(seed, (ncpus, cap, prefill), steps, policy, broken, false)
}

/// [`run`], with every affinity a random subset of the CPUs if `subsets`.
fn run_masks(
    seed: u64,
    (ncpus, cap, prefill): (usize, usize, usize),
    steps: usize,
    policy: Policy,
    broken: &dyn Fn(&mut Scheduler<'_>),
    subsets: bool,
) -> core::result::Result<(), String> {
    let mut r = Rng(seed | 1);
    let mut s = online(cap, ncpus, policy);
    let mut now = 0i64;
    // The host's view: what each CPU runs, whether each unit wants to run.
    let mut curr: Vec<Option<UnitId>> = vec![None; ncpus];
    let mut wants = vec![false; cap];
    let mut live: Vec<UnitId> = Vec::new();
    for _ in 0..steps {
        now += r.next(3 * MS as u64) as i64;
        let running = |h: UnitId, curr: &[Option<UnitId>]| curr.contains(&Some(h));
        let op = if live.len() < prefill { 0 } else { r.next(11) };
        match op {
            0 if live.len() < cap => {
                let h = s
                    .unit_alloc(1, 0, affinity(&mut r, ncpus, subsets))
                    .unwrap();
                let period = (1 + r.next(20) as i64) * MS;
                let budget = 1 + r.next(period as u64) as i64;
                let p = Params {
                    period,
                    budget: budget.max(10 * crate::params::MICROSECS),
                    extratime: r.next(3) == 0,
                };
                s.set_params(h, p).unwrap();
                let runnable = r.next(2) == 0;
                s.insert(h, now, runnable, false).unwrap();
                wants[h.0 as usize] = runnable;
                live.push(h);
            }
            1 if !live.is_empty() => {
                // Free a unit that runs nowhere.
                let h = live[r.next(live.len() as u64) as usize];
                if !running(h, &curr) {
                    s.sleep(h).unwrap();
                    s.remove(h).unwrap();
                    s.unit_free(h).unwrap();
                    wants[h.0 as usize] = false;
                    live.retain(|&x| x != h);
                }
            }
            2 if !live.is_empty() => {
                let h = live[r.next(live.len() as u64) as usize];
                if !running(h, &curr) {
                    s.set_affinity(h, affinity(&mut r, ncpus, subsets)).unwrap();
                    let cpu = s.pick_cpu(h).unwrap();
                    s.migrate(h, cpu).unwrap();
                }
            }
            3 | 4 if !live.is_empty() => {
                let h = live[r.next(live.len() as u64) as usize];
                if !wants[h.0 as usize] {
                    s.wake(h, now).unwrap();
                    wants[h.0 as usize] = true;
                }
            }
            5 if !live.is_empty() => {
                let h = live[r.next(live.len() as u64) as usize];
                if wants[h.0 as usize] {
                    s.sleep(h).unwrap();
                    wants[h.0 as usize] = false;
                }
            }
            6 => {
                s.timer_fire(now).unwrap();
            }
            7 if r.next(8) == 0 => {
                // A policy switch at run time: every queue re-ordered, every key recomputed.
                let pol = s.policy();
                match r.next(3) {
                    0 => {
                        let next = match pol.priority {
                            PriorityScheme::Edf => PriorityScheme::Dm,
                            PriorityScheme::Dm => PriorityScheme::Edf,
                        };
                        s.set_priority_scheme(next).unwrap();
                    }
                    1 => {
                        let next = match pol.classes {
                            ClassRule::Classes => ClassRule::Rtds,
                            ClassRule::Rtds => ClassRule::Classes,
                        };
                        s.set_class_rule(next).unwrap();
                    }
                    _ => {
                        let next = [
                            ServerKind::Deferrable,
                            ServerKind::Periodic,
                            ServerKind::Cbs,
                        ][r.next(3) as usize];
                        s.set_server(next).unwrap();
                    }
                }
            }
            _ => {
                // A CPU schedules; the context of what it ran is saved at once.
                let c = r.next(ncpus as u64) as usize;
                let prev = curr[c];
                let prev_runnable = prev.is_some_and(|p| wants[p.0 as usize]);
                let d = s.do_schedule(c, now, prev_runnable, false).unwrap();
                curr[c] = d.next;
                if let Some(p) = prev {
                    if d.next != Some(p) {
                        s.context_saved(p, wants[p.0 as usize]).unwrap();
                    }
                }
            }
        }
        broken(&mut s);
        check_step(&s, ncpus)?;
    }
    Ok(())
}

fn policy(r: &mut Rng) -> Policy {
    Policy {
        server: [
            ServerKind::Deferrable,
            ServerKind::Periodic,
            ServerKind::Cbs,
        ][r.next(3) as usize],
        priority: [PriorityScheme::Edf, PriorityScheme::Dm][r.next(2) as usize],
        classes: [ClassRule::Classes, ClassRule::Rtds][r.next(2) as usize],
        ..Policy::default()
    }
}

/// Random affinities on 2-12 CPUs under every policy, switched at run time too: every pick
/// is one queue's.
#[test]
fn group_picks_are_one_queues_picks() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    for seed in 0..120u64 {
        let ncpus = 2 + r.next(11) as usize;
        let p = policy(&mut r);
        // (Instances below and above the groups' size, some growing past it.)
        let cap = 4 + r.next(2 * GROUP_MIN_UNITS as u64) as usize;
        let prefill = r.next(cap as u64 + 1) as usize;
        if let Err(e) = run(seed * 7919 + 1, (ncpus, cap, prefill), 300, p, &|_| {}) {
            panic!("seed {seed}, {ncpus} CPUs, {cap} units, {p:?}: {e}");
        }
    }
}

/// Random subsets of 10 CPUs for up to 120 units: more distinct masks than slots come and go
/// (slots freed and taken again, units of a mask in the shared heap beside a group of the
/// same mask), and every pick stays one queue's.
#[test]
fn random_masks_past_the_table_are_one_queues_picks() {
    let mut r = Rng(0x1234_5678_9abc_def1);
    for seed in 0..6u64 {
        let p = policy(&mut r);
        // (Seen on the way: the table full, and a unit of a proper mask in the shared heap.)
        let (full, fallback) = (std::cell::Cell::new(false), std::cell::Cell::new(false));
        let watch = |s: &mut Scheduler<'_>| {
            full.set(full.get() || s.raw_groups().used() == u64::MAX);
            let shared = s.raw_units().iter().any(|u| {
                u.in_use && u.pin_home == crate::unit::NIL && s.group_mask(&u.affinity).is_some()
            });
            fallback.set(fallback.get() || shared);
        };
        // (90 units first: more distinct masks than slots.)
        if let Err(e) = run_masks(seed * 31 + 7, (10, 120, 90), 1500, p, &watch, true) {
            panic!("seed {seed}, {p:?}: {e}");
        }
        assert!(
            full.get() && fallback.get(),
            "seed {seed}: the table never filled"
        );
    }
}

/// More distinct masks than slots (random subsets of 10 CPUs, 150 units): the units that
/// find no slot live in the shared heap and the picks stay one queue's.
#[test]
fn a_full_group_table_falls_back_to_the_shared_heap() {
    let mut r = Rng(0x2545_f491_4f6c_dd1d);
    let mut s = online(150, 10, Policy::default());
    let mut masks = std::collections::BTreeSet::new();
    let mut units = Vec::new();
    while masks.len() < MAX_GROUPS + 20 {
        let mut m = CpuMask::EMPTY;
        m.bits[0] = r.next(1 << 10);
        if m.count() < 2 || m.count() == 10 {
            continue;
        }
        if masks.insert(m.bits[0]) {
            let h = unit(&mut s, 1, (1 + r.next(20) as i64) * MS, MS, false, m);
            units.push(h);
        }
    }
    assert_eq!(s.raw_groups().used(), u64::MAX, "every slot taken");
    let shared = units
        .iter()
        .filter(|h| s.raw_units()[h.0 as usize].pin_home == crate::unit::NIL)
        .count();
    assert_eq!(shared, 20);
    for &h in &units {
        s.wake(h, 0).unwrap();
    }
    check_step(&s, 10).unwrap();
    // A slot freed is taken by the next new mask.
    // (A unit alone in its group: the masks are distinct.)
    let h = units
        .iter()
        .copied()
        .find(|h| s.raw_units()[h.0 as usize].pin_home != crate::unit::NIL)
        .unwrap();
    s.sleep(h).unwrap();
    s.remove(h).unwrap();
    s.unit_free(h).unwrap();
    ok(&s);
    assert_eq!(s.raw_groups().used().count_ones() as usize, MAX_GROUPS - 1);
    let fresh = (3u64..1 << 10)
        .find(|b| (2..10).contains(&b.count_ones()) && !masks.contains(b))
        .unwrap();
    let mut m = CpuMask::EMPTY;
    m.bits[0] = fresh;
    let n = s.unit_alloc(1, 0, m).unwrap();
    assert_ne!(s.raw_units()[n.0 as usize].pin_home, crate::unit::NIL);
    assert_eq!(s.raw_groups().used(), u64::MAX);
    ok(&s);
    // Picks on every CPU until the queue is empty (no context saves: nothing re-queued).
    for round in 0..20 {
        for c in 0..10 {
            s.do_schedule(c, round * MS, false, false).unwrap();
            check_step(&s, 10).unwrap();
        }
    }
}

/// Each broken cache of the groups is caught: by the invariants, and a wrong pick by the
/// comparison with one queue.
#[test]
fn broken_groups_are_caught() {
    let p = Policy::default();
    // A CPU forgets a group that holds it: its picks miss that group's units.
    let forget = |s: &mut Scheduler<'_>| {
        if let Some(pc) = s.raw_cpus_mut().iter_mut().find(|p| p.groups != 0) {
            pc.groups &= pc.groups - 1;
        }
    };
    let e = run(11, (8, 80, GROUP_MIN_UNITS), 300, p, &forget).unwrap_err();
    assert_eq!(e, "CPU's group mask");
    // A group miscounts its units.
    let miscount = |s: &mut Scheduler<'_>| {
        let used = s.raw_groups().used();
        if used != 0 {
            let g = used.trailing_zeros() as usize;
            s.raw_groups_mut().slot_mut(g).unwrap().refs += 1;
        }
    };
    let e = run(11, (8, 80, GROUP_MIN_UNITS), 300, p, &miscount).unwrap_err();
    assert_eq!(e, "group count of its units");
    // A group's bound of its CPUs' keys set below them (a tickle for a unit of the group
    // would skip a CPU it should preempt).
    let low = |s: &mut Scheduler<'_>| {
        for g in crate::sched::groups::bits(s.raw_groups().used()) {
            s.raw_set_group_bound(g, None);
        }
    };
    let e = run(11, (8, 80, GROUP_MIN_UNITS), 300, p, &low).unwrap_err();
    assert_eq!(e, "group bound below an untickled CPU's key");
}

/// The pick that skips the groups of a CPU past its first (a broken pick, not a broken
/// cache: the invariants hold) picks a unit one queue would not.
#[cfg(feature = "mutants")]
#[test]
fn a_pick_that_skips_groups_is_caught() {
    let p = Policy::default();
    let mutant = |s: &mut Scheduler<'_>| s.set_mutant(crate::mutants::Mutant::PickSkipsGroups);
    let e = run(11, (8, 80, GROUP_MIN_UNITS), 300, p, &mutant).unwrap_err();
    assert!(e.starts_with("cpu "), "{e}");
}

/// The slots become groups when the instance reaches [`GROUP_MIN_UNITS`] units: before,
/// units of a proper mask wait in the shared heap, counted in their slot (no CPU lists it);
/// the unit that makes the size moves every waiting one, queued or not, into its group's
/// queue, and the picks stay one queue's. Groups stay when the instance shrinks; a mask new
/// then waits, and becomes a group when the instance grows back, also by a change of
/// affinity.
#[test]
fn slots_become_groups_at_the_instance_size() {
    let n = GROUP_MIN_UNITS;
    let mut s = online(2 * n, 8, Policy::default());
    let (lo, hi) = (
        CpuMask::first_n(4),
        CpuMask::first_n(8).and_not(&CpuMask::first_n(4)),
    );
    let all = CpuMask::first_n(8);
    let mut units = Vec::new();
    for i in 0..n - 1 {
        let aff = [lo, hi, all][i % 3];
        let h = unit(&mut s, 1, (10 + i as i64) * MS, MS, false, aff);
        if i % 2 == 0 {
            s.wake(h, 0).unwrap();
        }
        units.push(h);
        check_step(&s, 8).unwrap();
    }
    assert_eq!(s.raw_groups().used().count_ones(), 2);
    assert_eq!(s.raw_groups().active(), 0, "no group below the size");
    assert!(s.raw_cpus().iter().all(|p| p.groups == 0));
    let waiting = |s: &Scheduler<'_>| {
        s.raw_units()
            .iter()
            .filter(|u| matches!(Home::of(u.pin_home), Home::Waiting(_)))
            .count()
    };
    assert_eq!(waiting(&s), (0..n - 1).filter(|i| i % 3 != 2).count());
    let last = unit(&mut s, 1, 5 * MS, MS, false, all);
    s.wake(last, 0).unwrap();
    units.push(last);
    check_step(&s, 8).unwrap();
    assert_eq!(s.raw_groups().active(), s.raw_groups().used());
    assert_eq!(waiting(&s), 0);
    for &h in &units {
        let u = &s.raw_units()[h.0 as usize];
        if u.queue == QueueKind::Run {
            assert_eq!(u.pin_cpu, u.pin_home, "queued in its home");
        }
    }
    // Smaller again: the groups stay; a new mask waits.
    for h in units.drain(..4) {
        s.sleep(h).unwrap();
        s.remove(h).unwrap();
        s.unit_free(h).unwrap();
        check_step(&s, 8).unwrap();
    }
    assert_eq!(s.raw_groups().active().count_ones(), 2);
    let pair = CpuMask::first_n(2);
    let p = unit(&mut s, 1, 7 * MS, MS, false, pair);
    s.wake(p, 0).unwrap();
    check_step(&s, 8).unwrap();
    assert_eq!(waiting(&s), 1);
    // Back to the size by allocation, then a change of affinity to the waiting mask.
    while (s.nr_units() as usize) < n {
        units.push(unit(&mut s, 1, 9 * MS, MS, false, all));
        check_step(&s, 8).unwrap();
    }
    assert_eq!(waiting(&s), 0);
    let q = units[units.len() - 1];
    s.set_affinity(q, CpuMask::first_n(3)).unwrap();
    check_step(&s, 8).unwrap();
    assert_eq!(s.raw_groups().active(), s.raw_groups().used());
    assert_eq!(s.raw_groups().active().count_ones(), 4);
}

/// A slot that is no group in an instance of [`GROUP_MIN_UNITS`] units, or a group one of
/// whose units is still marked waiting, is caught by the invariants.
#[test]
fn a_broken_size_rule_is_caught() {
    let mut s = online(2 * GROUP_MIN_UNITS, 8, Policy::default());
    let half = CpuMask::first_n(4);
    let hs: Vec<_> = (0..GROUP_MIN_UNITS)
        .map(|_| unit(&mut s, 1, 10 * MS, MS, false, half))
        .collect();
    ok(&s);
    let g = s.raw_groups().active().trailing_zeros() as usize;
    let h = hs[0].0 as usize;
    s.raw_units_mut()[h].pin_home = Home::waiting_code(g);
    assert_eq!(
        invariants::check(&s).unwrap_err(),
        "group count of its units"
    );
    for &x in &hs {
        s.raw_units_mut()[x.0 as usize].pin_home = Home::waiting_code(g);
    }
    s.raw_groups_mut().deactivate_for_test(g);
    for p in s.raw_cpus_mut() {
        p.groups = 0;
    }
    assert_eq!(
        invariants::check(&s).unwrap_err(),
        "enough units for groups, and a slot not a group"
    );
}
