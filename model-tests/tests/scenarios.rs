//! Scenario tests driven by the deterministic host simulator (`model_tests::sim`), each
//! asserting numbers from the RT-Xen dissertation or from scheduling theory.

use model_tests::sim::{params_ms as p, pct, Sim, Work, MS};
use rtsched::{CpuMask, Policy};

/// Periodic vs deferrable server: a high-priority unit whose job arrives in the second half
/// of each period, and a busy low-priority unit, on one PCPU under DM. The periodic server
/// burns the high-priority budget while it has no work (the CPU idles), so the low-priority
/// unit gets strictly less CPU than under the deferrable server.
#[test]
fn periodic_server_wastes_idle_budget_deferrable_keeps_it() {
    let total = 2_000 * MS;
    let mut shares = Vec::new();
    for server in [
        rtsched::ServerKind::Deferrable,
        rtsched::ServerKind::Periodic,
    ] {
        let policy = Policy {
            priority: rtsched::PriorityScheme::Dm,
            server,
            ..Policy::default()
        };
        let mut sim = Sim::new(1, 4, policy);
        let one = CpuMask::single(0);
        let high = sim.add_unit(
            p(4, 10, false),
            one,
            Work::Periodic {
                period: 10 * MS,
                exec: 2 * MS,
                offset: 5 * MS,
            },
        );
        let low = sim.add_unit(p(10, 20, true), one, Work::Busy);
        sim.run_until(total);
        let (h, l) = (
            pct(sim.stats(high).run_ns, total),
            pct(sim.stats(low).run_ns, total),
        );
        let misses = sim.stats(high).misses;
        println!(
            "{server:?}: high-priority unit {h:.2}% ({misses} missed jobs), low-priority unit {l:.2}%, idle {:.2}%",
            pct(sim.idle_ns(0), total)
        );
        shares.push((h, l, misses));
    }
    let (ds, ps) = (shares[0], shares[1]);
    assert!(
        ps.1 < ds.1 - 5.0,
        "low-priority share: periodic {:.2}% vs deferrable {:.2}%",
        ps.1,
        ds.1
    );
    // Deferrable: every job of the high-priority unit finishes (its budget waits for it).
    assert_eq!(ds.2, 0);
    assert!((ds.0 - 20.0).abs() < 0.5);
}

/// Dissertation Table 2.2 (isolation under overload): five units without extratime,
/// (2,10) (4,20) (6,30) (8,40) (10,50) ms on one PCPU; (6,30) is always busy (the
/// misconfigured domain); each other unit runs one job per period needing 70% of its budget.
/// Under EDF (deferrable and periodic) no well-behaved job misses; under DM the units of
/// higher priority than the hog miss nothing. Miss ratios are printed.
#[test]
fn table_2_2_isolation_under_overload() {
    use rtsched::{PriorityScheme as P, ServerKind as S};
    let specs = [(2, 10), (4, 20), (6, 30), (8, 40), (10, 50)];
    let total = 3_000 * MS;
    for (prio, server) in [
        (P::Edf, S::Deferrable),
        (P::Edf, S::Periodic),
        (P::Dm, S::Deferrable),
        (P::Dm, S::Periodic),
    ] {
        let mut sim = Sim::new(
            1,
            8,
            Policy {
                priority: prio,
                server,
                ..Policy::default()
            },
        );
        let one = CpuMask::single(0);
        let units: Vec<usize> = specs
            .iter()
            .map(|&(b, per)| {
                let work = if per == 30 {
                    Work::Busy
                } else {
                    Work::Periodic {
                        period: per * MS,
                        exec: b * MS * 7 / 10,
                        offset: 0,
                    }
                };
                sim.add_unit(p(b, per, false), one, work)
            })
            .collect();
        sim.run_until(total);
        let ratios: Vec<String> = units
            .iter()
            .zip(specs)
            .map(|(&i, (b, per))| {
                let s = sim.stats(i);
                if per == 30 {
                    format!("({b},{per}) hog {:.1}% CPU", pct(s.run_ns, total))
                } else {
                    format!("({b},{per}) {}/{} missed", s.misses, s.jobs)
                }
            })
            .collect();
        println!("{prio:?}/{server:?}: {}", ratios.join(", "));
        for (&i, (_, per)) in units.iter().zip(specs) {
            let s = sim.stats(i);
            let protected = per != 30 && (prio == P::Edf || per < 30);
            if protected {
                assert_eq!(
                    s.misses, 0,
                    "{prio:?}/{server:?}: unit with period {per} ms missed"
                );
                assert!(s.jobs > 0);
            }
        }
    }
}

/// rt-partition vs rt-global on 2 PCPUs with three always-busy units of bandwidth 0.6
/// (periods 10, 20, 40 ms, no extratime). Partitioned placement cannot fit them: with
/// admission control the third is rejected; without, one PCPU carries 1.2. Under partition
/// the unit alone on its PCPU gets its full budget every period and only the overloaded
/// PCPU's units lose budget; under global EDF no unit is starved in any period.
#[test]
fn partition_vs_global_overload() {
    use rtsched::partition::{place, PcpuLoad};
    let specs = [(6, 10), (12, 20), (24, 40)];
    let total = 800 * MS;
    // Per-period delivered budget, per unit.
    let per_period = |runs: &[i64], period_ms: i64, step_ms: i64| -> Vec<f64> {
        let k = (period_ms / step_ms) as usize;
        runs.chunks(k)
            .filter(|c| c.len() == k)
            .map(|c| c.iter().sum::<i64>() as f64 / (period_ms * MS) as f64 * 100.0)
            .collect()
    };
    let step = 10i64;

    // Partition: one instance per PCPU, placement by best fit.
    let mut loads = [PcpuLoad::default(); 2];
    let mut placed = Vec::new();
    for &(b, per) in &specs {
        let bw = p(b, per, false).bandwidth_ppm();
        let c = place(&loads, &CpuMask::first_n(2), None, bw).unwrap();
        loads[c].bandwidth_ppm += bw;
        placed.push(c);
    }
    println!(
        "partition placement: {placed:?} (PCPU loads {:?} ppm)",
        loads.map(|l| l.bandwidth_ppm)
    );
    assert_eq!(placed, vec![0, 1, 0]);
    // With admission control the third unit is refused by its PCPU's instance.
    {
        let mut sim = Sim::new(
            1,
            4,
            Policy {
                topology: rtsched::Topology::Partition,
                admission: true,
                ..Policy::default()
            },
        );
        sim.add_unit(p(6, 10, false), CpuMask::single(0), Work::Busy);
        let third = sim
            .inst_mut(0)
            .unit_alloc(9, 0, CpuMask::single(0))
            .unwrap();
        sim.inst_mut(0).set_params(third, p(24, 40, false)).unwrap();
        let e = sim.inst_mut(0).insert(third, 0, false, false).unwrap_err();
        assert_eq!(e, rtsched::Error::NotAdmitted);
        println!(
            "partition + admission: third unit (24/40) rejected on PCPU 0: {e:?} (-{})",
            e.errno()
        );
    }
    let mut part_runs: Vec<Vec<i64>> = vec![Vec::new(); 3];
    let mut sims: Vec<Sim> = (0..2)
        .map(|_| {
            Sim::new(
                1,
                4,
                Policy {
                    topology: rtsched::Topology::Partition,
                    ..Policy::default()
                },
            )
        })
        .collect();
    let mut where_: Vec<(usize, usize)> = Vec::new();
    for (i, &(b, per)) in specs.iter().enumerate() {
        let c = placed[i];
        let idx = sims[c].add_unit(p(b, per, false), CpuMask::single(0), Work::Busy);
        where_.push((c, idx));
    }
    let mut last = [0i64; 3];
    for t in (step..=800).step_by(step as usize) {
        for s in &mut sims {
            s.run_until(t * MS);
        }
        for (i, &(c, idx)) in where_.iter().enumerate() {
            let r = sims[c].stats(idx).run_ns;
            part_runs[i].push(r - last[i]);
            last[i] = r;
        }
    }
    // Global EDF on 2 CPUs.
    let mut g = Sim::new(2, 4, Policy::default());
    let ids: Vec<usize> = specs
        .iter()
        .map(|&(b, per)| g.add_unit(p(b, per, false), CpuMask::first_n(2), Work::Busy))
        .collect();
    let mut glob_runs: Vec<Vec<i64>> = vec![Vec::new(); 3];
    let mut last = [0i64; 3];
    for t in (step..=800).step_by(step as usize) {
        g.run_until(t * MS);
        for (i, &idx) in ids.iter().enumerate() {
            let r = g.stats(idx).run_ns;
            glob_runs[i].push(r - last[i]);
            last[i] = r;
        }
    }
    let _ = total;
    for (i, &(b, per)) in specs.iter().enumerate() {
        let part = per_period(&part_runs[i], per, step);
        let glob = per_period(&glob_runs[i], per, step);
        let show = |v: &[f64]| {
            v.iter()
                .take(8)
                .map(|x| format!("{x:.0}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        println!(
            "unit {b}/{per} ms: partition (PCPU {}) share per period [{} ...] min {:.1}%; global [{} ...] min {:.1}%",
            placed[i],
            show(&part),
            part.iter().cloned().fold(f64::MAX, f64::min),
            show(&glob),
            glob.iter().cloned().fold(f64::MAX, f64::min),
        );
        if placed[i] == 1 {
            // Alone on its PCPU: the full budget (60%) in every period.
            assert!(part.iter().all(|&x| (x - 60.0).abs() < 0.01), "{part:?}");
        }
        // Global EDF: every unit gets a positive share in every period.
        assert!(
            glob.iter().all(|&x| x > 0.0),
            "unit {i} starved under global: {glob:?}"
        );
    }
    // Only the overloaded PCPU's units lose budget.
    let lost: Vec<bool> = (0..3)
        .map(|i| {
            per_period(&part_runs[i], specs[i].1, step)
                .iter()
                .any(|&x| x < 59.99)
        })
        .collect();
    assert!(lost[0] || lost[2]);
    assert!(!lost[1]);
}

/// Switching EDF -> DM in the middle of a run keeps every invariant (checked after each
/// hook) and changes the order: a unit with a long period but an early deadline loses.
#[test]
fn edf_to_dm_switch_at_run_time() {
    let run = |switch: bool| {
        let mut sim = Sim::new(1, 4, Policy::default());
        let one = CpuMask::single(0);
        // U = 0.5 + 0.5 with non-harmonic periods: EDF serves both fully, DM cannot (the
        // long-period unit loses budget at its deadlines).
        let short = sim.add_unit(p(5, 10, false), one, Work::Busy);
        let long = sim.add_unit(p(7, 14, false), one, Work::Busy);
        sim.run_until(210 * MS);
        if switch {
            let a = sim
                .inst_mut(0)
                .set_priority_scheme(rtsched::PriorityScheme::Dm)
                .unwrap();
            sim.act(a);
        }
        sim.reset_stats();
        sim.run_until(1_610 * MS);
        let t = 1_400 * MS;
        (
            pct(sim.stats(short).run_ns, t),
            pct(sim.stats(long).run_ns, t),
        )
    };
    let edf = run(false);
    let dm = run(true);
    println!("1.4 s after the switch point: EDF only: short {:.2}% long {:.2}%; switched to DM: short {:.2}% long {:.2}%", edf.0, edf.1, dm.0, dm.1);
    assert!((edf.0 - 50.0).abs() < 0.1 && (edf.1 - 50.0).abs() < 0.1);
    assert!(
        (dm.0 - 50.0).abs() < 0.1,
        "DM keeps the short-period unit's budget"
    );
    assert!(
        dm.1 < edf.1 - 1.0,
        "DM must cost the long-period unit budget: {:.2}%",
        dm.1
    );
}
