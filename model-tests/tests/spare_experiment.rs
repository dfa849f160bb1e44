//! The experiment of seed 000 (Cucinotta, Checconi and Giani, OSPERT 2011) in the simulator.
//!
//! One PCPU (rt-partition, EDF, constant-bandwidth servers, admission on). A VM with
//! `(Q, P) = (40 ms, 100 ms)` runs a CPU-bound loop beside two other busy reserved VMs
//! `(30 ms, 300 ms)` and `(60 ms, 300 ms)` (longer periods: the VM uses its budget first
//! in its period, as alone on its core in the paper, then waits `P - Q`). A request/response probe sends the VM an I/O event at
//! pseudo-random times (a fixed-seed LCG: one probe 20-120 ms after the previous answer, at
//! microsecond resolution) and the probe is answered when the VM next runs. Three runs: no
//! spare pool; a pool of one spare `(1 ms, 10 ms)` (the paper's `Qs = 1 ms`, `Ps = 10 ms`;
//! `U = 0.8` in all); the whole VM at the short period `(4 ms, 10 ms)` instead (the
//! paper's alternative, same bandwidth). Printed: response times (median, p99, max) of all
//! probes and of those that found the VM's budget used up, and the VM's batch share.
//!
//! `SPARE_RESULTS=1 cargo test -p model-tests --release --test spare_experiment -- --nocapture`
//! also writes `docs/results/spare-sim.csv` (every probe) and `docs/results/spare-sim.svg`
//! (the response-time distributions).

use model_tests::{Sim, Work};
use rtsched::{CpuMask, Params, Policy, ServerKind, Topology};

const MS: i64 = 1_000_000;
const RUN: i64 = 60_000 * MS;

fn p(budget: i64, period: i64) -> Params {
    Params {
        period: period * MS,
        budget: budget * MS,
        extratime: false,
    }
}

/// One probe: when it was sent, whether the VM's budget was used up then (and its own
/// replenishment was more than the spare's period away), and the response time.
#[derive(Clone, Copy, Debug)]
struct Probe {
    at: i64,
    depleted: bool,
    far: bool,
    response: i64,
}

/// Runs the set-up with the VM at `vm_params` and the spare pool `spare`; returns the
/// probes and the VM's CPU time.
fn experiment(vm_params: Params, spare: Option<Params>) -> (Vec<Probe>, i64) {
    let mut sim = Sim::new(
        1,
        8,
        Policy {
            topology: Topology::Partition,
            server: ServerKind::Cbs,
            admission: true,
            ..Policy::default()
        },
    );
    if let Some(s) = spare {
        sim.inst_mut(0).set_spare_pool(&[s]).expect("pool admitted");
    }
    let one = CpuMask::single(0);
    let vm = sim.add_unit(vm_params, one, Work::Busy);
    sim.add_unit(p(30, 300), one, Work::Busy);
    sim.add_unit(p(60, 300), one, Work::Busy);
    let (k, id) = (sim.unit_inst(vm), sim.id(vm));
    let a = sim.inst_mut(k).set_uses_spare(id, true).expect("unit");
    sim.apply(k, a);
    sim.settle();
    let mut seed: u64 = 0x5eed;
    let mut next_probe = 50 * MS;
    let mut pending: Option<Probe> = None;
    let mut probes = Vec::new();
    while sim.now() < RUN {
        let mut t = sim.next_event().min(RUN);
        if pending.is_none() {
            t = t.min(next_probe.max(sim.now()));
        }
        sim.advance_to(t);
        if pending.is_none() && t >= next_probe {
            let u = sim.inst(k).unit_info(id).expect("unit");
            // (Budget used up: its own budget or, running, the slice ends now.)
            let depleted = u.cur_budget == 0;
            pending = Some(Probe {
                at: t,
                depleted,
                far: u.cur_deadline - t > 10 * MS,
                response: 0,
            });
            sim.io_event(vm);
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            next_probe = t + 20 * MS + ((seed >> 33) % 100_000) as i64 * 1_000;
        }
        sim.poll();
        sim.settle();
        if let Some(pr) = pending {
            if sim.curr(0) == Some(vm) {
                probes.push(Probe {
                    response: sim.now() - pr.at,
                    ..pr
                });
                pending = None;
            }
        }
    }
    (probes, sim.stats(vm).run_ns)
}

/// The `q`-th percentile (nearest rank) of sorted `v`, in ms.
fn pct(v: &[i64], q: usize) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let i = (v.len() * q)
        .div_ceil(100)
        .saturating_sub(1)
        .min(v.len() - 1);
    v[i] as f64 / MS as f64
}

fn sorted(probes: &[Probe], f: impl Fn(&Probe) -> bool) -> Vec<i64> {
    let mut v: Vec<i64> = probes.iter().filter(|p| f(p)).map(|p| p.response).collect();
    v.sort_unstable();
    v
}

/// The response-time distributions as a chart (empirical CDF, ms), written by hand.
fn svg(runs: &[(&str, Vec<i64>)]) -> String {
    let (w, h, l, b) = (640.0, 360.0, 60.0, 300.0);
    let xmax = 70.0;
    let x = |ms: f64| l + ms.min(xmax) / xmax * (w - l - 20.0);
    let y = |f: f64| b - f * (b - 20.0);
    let mut s = format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' font-family='sans-serif' font-size='12'>\n\
         <rect width='100%' height='100%' fill='white'/>\n\
         <text x='{l}' y='14'>Probe response time, simulated (CDF): VM (40 ms, 100 ms) beside (30, 300) and (60, 300)</text>\n\
         <line x1='{l}' y1='{b}' x2='{}' y2='{b}' stroke='black'/>\n<line x1='{l}' y1='{b}' x2='{l}' y2='20' stroke='black'/>\n",
        w - 20.0
    );
    for t in (0..=70).step_by(10) {
        s += &format!(
            "<text x='{}' y='{}' text-anchor='middle'>{t}</text>\n",
            x(t as f64),
            b + 16.0
        );
    }
    s += &format!(
        "<text x='{}' y='{}' text-anchor='middle'>response time (ms)</text>\n",
        (l + w) / 2.0,
        b + 32.0
    );
    for f in [0.0, 0.25, 0.5, 0.75, 1.0] {
        s += &format!(
            "<text x='{}' y='{:.0}' text-anchor='end'>{f}</text>\n",
            l - 4.0,
            y(f) + 4.0
        );
    }
    let colours = ["#d62728", "#1f77b4", "#2ca02c"];
    for (i, (name, v)) in runs.iter().enumerate() {
        let n = v.len() as f64;
        let mut pts = format!("{},{}", x(0.0), y(0.0));
        for (j, r) in v.iter().enumerate() {
            let ms = *r as f64 / MS as f64;
            pts += &format!(
                " {:.1},{:.1} {:.1},{:.1}",
                x(ms),
                y(j as f64 / n),
                x(ms),
                y((j + 1) as f64 / n)
            );
        }
        s += &format!(
            "<polyline fill='none' stroke='{c}' stroke-width='1.5' points='{pts}'/>\n\
             <text x='{}' y='{}' fill='{c}'>{name}</text>\n",
            l + 190.0 * i as f64,
            b + 50.0,
            c = colours[i % 3],
        );
    }
    s + "</svg>\n"
}

#[test]
fn spare_pool_bounds_the_response_of_a_depleted_vm() {
    let runs = [
        ("no spare pool", p(40, 100), None),
        ("spare (1 ms, 10 ms)", p(40, 100), Some(p(1, 10))),
        ("VM at (4 ms, 10 ms)", p(4, 10), None),
    ];
    let mut csv = String::from("run,probe_at_ns,vm_budget_used_up,response_ns\n");
    let mut chart = Vec::new();
    let mut results = Vec::new();
    for (name, vm, spare) in runs {
        let (probes, cpu) = experiment(vm, spare);
        let all = sorted(&probes, |_| true);
        let dep = sorted(&probes, |p| p.depleted && p.far);
        let share = cpu as f64 / RUN as f64;
        println!(
            "{name:>20}: {} probes: response median {:.2} ms, p99 {:.2} ms, max {:.2} ms; \
             {} found the budget used up (replenishment > 10 ms away): median {:.2}, max {:.2} \
             ms; VM batch share {:.4}",
            all.len(),
            pct(&all, 50),
            pct(&all, 99),
            pct(&all, 100),
            dep.len(),
            pct(&dep, 50),
            pct(&dep, 100),
            share
        );
        for pr in &probes {
            csv += &format!("{name},{},{},{}\n", pr.at, pr.depleted as u8, pr.response);
        }
        chart.push((name, all.clone()));
        results.push((all, dep, share));
    }
    if std::env::var_os("SPARE_RESULTS").is_some() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/results");
        std::fs::write(dir.join("spare-sim.csv"), csv).expect("write csv");
        std::fs::write(dir.join("spare-sim.svg"), svg(&chart)).expect("write svg");
        println!("wrote docs/results/spare-sim.csv and spare-sim.svg");
    }
    let (none, spare, short) = (&results[0], &results[1], &results[2]);
    // Without spares, a probe that finds the budget used up waits for the replenishment:
    // up to P - Q = 60 ms.
    assert!(none.1.len() >= 20 && pct(&none.1, 100) >= 50.0);
    // With the pool, such a probe is answered within the spare's period; and so is every
    // probe, those in the last spare period before the VM's replenishment included (lent
    // shortened to it).
    assert!(spare.1.len() >= 20 && pct(&spare.1, 100) <= 10.0);
    assert!(pct(&spare.0, 100) <= 10.0);
    // The batch VM keeps its reservation with or without the pool (exact in the simulator).
    assert!(none.2 >= 0.4 && spare.2 >= 0.4 && short.2 >= 0.4);
}
