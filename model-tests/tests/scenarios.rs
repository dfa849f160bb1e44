//! Scenario tests driven by the deterministic host simulator (`model_tests::sim`), each
//! asserting numbers from the RT-Xen dissertation or from scheduling theory.

use model_tests::sim::{Sim, Work};
use rtsched::{CpuMask, Params, Policy};

const MS: i64 = 1_000_000;

fn p(budget_ms: i64, period_ms: i64, extratime: bool) -> Params {
    Params {
        period: period_ms * MS,
        budget: budget_ms * MS,
        extratime,
    }
}

fn pct(ns: i64, total: i64) -> f64 {
    100.0 * ns as f64 / total as f64
}

/// Dissertation Table 4.2 (section 4.3.2): one RT unit (4 ms / 10 ms, no extratime) and k
/// always-busy non-RT units (10 ms / 10 ms, extratime) on one CPU for 10 s. The RT unit keeps
/// 40% for every k, the non-RT units share the rest evenly, and the CPU never idles.
#[test]
fn table_4_2_rt_share_is_isolated_from_non_rt_load() {
    let total = 10_000 * MS;
    println!("Table 4.2 (simulated, 10 s):");
    println!("  k | RT unit | each non-RT unit          | total");
    for k in 0..=5usize {
        let mut sim = Sim::new(1, 8, Policy::default());
        let one = CpuMask::single(0);
        let rt = sim.add_unit(p(4, 10, false), one, Work::Busy);
        let non_rt: Vec<usize> = (0..k)
            .map(|_| sim.add_unit(p(10, 10, true), one, Work::Busy))
            .collect();
        sim.run_until(total);
        let rt_share = pct(sim.stats(rt).run_ns, total);
        let shares: Vec<f64> = non_rt
            .iter()
            .map(|&i| pct(sim.stats(i).run_ns, total))
            .collect();
        let busy = 100.0 - pct(sim.idle_ns(0), total);
        println!(
            "  {k} | {rt_share:6.2}% | {:<25} | {busy:6.2}%",
            shares
                .iter()
                .map(|s| format!("{s:.2}%"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        assert!(
            (rt_share - 40.0).abs() <= 0.5,
            "k={k}: RT share {rt_share:.2}%"
        );
        for s in &shares {
            let even = 60.0 / k as f64;
            assert!(
                (s - even).abs() <= 1.0,
                "k={k}: non-RT share {s:.2}% vs {even:.2}%"
            );
        }
        if k >= 1 {
            assert!(busy >= 99.5, "k={k}: CPU busy {busy:.2}%");
        }
    }
}
