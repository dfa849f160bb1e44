//! The `spare` scenario: spare reservations on I/O events, measured on Xen (dom0 script
//! `xtask/boot/e2e-spare.sh`, probe and responder `xtask/boot/xsping.c`).
//!
//! A guest `srv` runs a counted batch loop under `(Q, P) = (40 ms, 100 ms)` beside two busy
//! reserved guests (`bg1` 20 ms / 300 ms, `bg2` 40 ms / 300 ms), all on PCPU 1, and answers
//! a xenstore ping-pong from dom0 at random times (each request and answer an event-channel
//! notification). The cases: `calibrate` (srv alone with the whole PCPU: what one round
//! trip costs the emulated machine when no scheduler makes it wait), `no-pool`, and on
//! rtsched `pool-unhooked` (the spare pool set, srv not among the spare domains: the event
//! hook is never called for it, the broken variant) and `pool` (srv uses the pool).
//!
//! The checks ([`checks`]), each able to fail:
//! - `pool`: p99 response <= `Ps` + margin. A probe that finds srv's budget used up waits
//!   for a replenishment: without the pool its own, at most `P - Q` away; with it a spare's,
//!   at most `Ps` away (or, in the last `Ps` before its own replenishment, that one). Then
//!   the answer takes the round trip (the guest's event upcall, its kernel's xenstore path,
//!   dom0's xenstored and probe) and whatever delays srv once its budget is back (the
//!   timer's and the tickle's latency, the context switch, the other VMs' deadlines). The
//!   margin is measured in the same boot as the larger of the largest calibration round
//!   trip (srv alone with the PCPU) and how far the slowest answer without the pool came
//!   after `P - Q`; it must stay below `Ps` (else the bound says nothing);
//!   srv at least its reservation and at most reservation + spare bandwidth; bg1 and bg2
//!   their reservations, within the tolerances of every other scenario; the hook called
//!   and spares attached (the scheduler's counters).
//! - `no-pool` (every build): p99 >= (P - Q) / 2, the `(P - Q)`-scale latency of a
//!   reservation whose budget runs out; the reservations as above (stock: at least them).
//! - `pool-unhooked`: the `pool` bound must fail (the check catches the broken variant).
//! - `calibrate`: enough probes and none unanswered.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::checks::{quantum, Check, Kind, DISPATCH_PCT};
use super::parse::Interval;

/// The batch VM's reservation (us).
const SRV: (u64, u64) = (40_000, 100_000);
/// The other reserved VMs: name, budget, period (us). The simulator's experiment has
/// (30, 300) and (60, 300); here they are lighter, because with the spare taking its part
/// of srv's depleted time they carried budget into the last third of their periods, where
/// their deadlines precede srv's next one, and answers after srv's replenishment waited
/// behind them (p99 16.6 ms with a (2 ms, 10 ms) spare, measured).
const BACKGROUND: [(&str, u64, u64); 2] = [("bg1", 20_000, 300_000), ("bg2", 40_000, 300_000)];
/// The spare pool: budget Qs, period Ps (us), count. An answer costs the emulated guest
/// 1-2 ms of its CPU (event upcall, its kernel's xenbus threads, the responder's write);
/// with the simulator's (1 ms, 10 ms) one answer in 12 spilled into a second spare period
/// (p99 24.7 ms, measured).
pub const SPARE: (u64, u64, u32) = (2_000, 10_000, 1);
/// Seconds of probing per case (guest time): 10-14 probes per second.
pub const MEASURE_S: u32 = 20;
/// Fewest answered probes a case needs for its p99 to mean something (the p99 of 100
/// probes is the largest but one).
const MIN_PROBES: usize = 100;

/// Arguments for the dom0 script.
pub fn dom0_args() -> String {
    format!(
        "rtsched_spare_pool={}:{}:{} rtsched_spare_measure={MEASURE_S}",
        SPARE.0, SPARE.1, SPARE.2
    )
}

/// One probe: its number, start (ms from the first), response (ns, `None`: unanswered
/// within 2 s), the batch loop's iteration count in the answer and the guest's own time
/// from the request's arrival in its responder to the answer (ns).
#[derive(Clone, Debug, PartialEq)]
pub struct Probe {
    pub n: u32,
    pub start_ms: i64,
    pub resp_ns: Option<i64>,
    pub iters: u64,
    pub guest_ns: i64,
}

/// The probes of one boot, by case.
pub type Probes = BTreeMap<String, Vec<Probe>>;

/// The `RTSCHED-E2E-PROBE spare <case> <n> <start ms> <response ns> <iterations> <guest
/// ns>` lines.
pub fn parse(text: &str) -> Probes {
    let mut out = Probes::new();
    for line in text.lines() {
        let f: Vec<&str> = line.trim_end_matches('\r').split_whitespace().collect();
        if f.len() != 8 || f[0] != "RTSCHED-E2E-PROBE" || f[1] != "spare" {
            continue;
        }
        let (Ok(n), Ok(start_ms), Ok(resp), Ok(iters), Ok(guest_ns)) = (
            f[3].parse::<u32>(),
            f[4].parse::<i64>(),
            f[5].parse::<i64>(),
            f[6].parse::<u64>(),
            f[7].parse::<i64>(),
        ) else {
            continue;
        };
        out.entry(f[2].to_string()).or_default().push(Probe {
            n,
            start_ms,
            resp_ns: (resp >= 0).then_some(resp),
            iters,
            guest_ns,
        });
    }
    out
}

/// A case's response times and throughput.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub probes: usize,
    pub timeouts: usize,
    /// Response times in ms (nearest rank; an unanswered probe ranks above every answer,
    /// as infinity).
    pub median: f64,
    pub p99: f64,
    pub max: f64,
    /// Batch loop iterations per ms of guest time, between the first and last answer.
    pub iters_per_ms: f64,
}

/// Nearest-rank percentile of sorted values (infinity for an unanswered probe).
fn rank(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[k - 1]
}

pub fn summary(ps: &[Probe]) -> Summary {
    let mut r: Vec<f64> = ps
        .iter()
        .map(|p| p.resp_ns.map_or(f64::INFINITY, |v| v as f64 / 1e6))
        .collect();
    r.sort_by(f64::total_cmp);
    let answered: Vec<&Probe> = ps.iter().filter(|p| p.resp_ns.is_some()).collect();
    let iters_per_ms = match (answered.first(), answered.last()) {
        (Some(a), Some(b)) if b.start_ms > a.start_ms && b.iters >= a.iters => {
            let t = |p: &Probe| p.start_ms as f64 + p.resp_ns.unwrap_or(0) as f64 / 1e6;
            (b.iters - a.iters) as f64 / (t(b) - t(a))
        }
        _ => f64::NAN,
    };
    Summary {
        probes: ps.len(),
        timeouts: ps.len() - answered.len(),
        median: rank(&r, 0.5),
        p99: rank(&r, 0.99),
        max: r.last().copied().unwrap_or(f64::NAN),
        iters_per_ms,
    }
}

/// The bound the pool must keep: `Ps` plus the margin (ms).
pub fn bound_ms(margin_ms: f64) -> f64 {
    SPARE.1 as f64 / 1000.0 + margin_ms
}

/// The checks of one boot's `spare` cases.
pub fn checks(
    build: &str,
    probes: &Probes,
    intervals: &BTreeMap<(String, String), Interval>,
    stats: &[String],
) -> Vec<Check> {
    let mut out = Vec::new();
    let mut push = |case: &str, kind: Kind, ok: bool, detail: String| {
        out.push(Check {
            build: build.into(),
            scenario: "spare".into(),
            case: case.into(),
            kind,
            detail,
            ok,
        })
    };
    let rts = build != "stock";
    let cal = summary(probes.get("calibrate").map_or(&[][..], Vec::as_slice));
    push(
        "calibrate",
        Kind::Assumption,
        cal.probes >= MIN_PROBES && cal.timeouts == 0,
        format!(
            "{} probes >= {MIN_PROBES}, {} unanswered (srv alone: median {:.2} ms, max {:.2} ms)",
            cal.probes, cal.timeouts, cal.median, cal.max
        ),
    );
    let no_pool = summary(probes.get("no-pool").map_or(&[][..], Vec::as_slice));
    let after = no_pool.max - (SRV.1 - SRV.0) as f64 / 1000.0;
    let margin = cal.max.max(after);
    let bound = bound_ms(margin);
    let ps = SPARE.1 as f64 / 1000.0;
    if rts {
        push(
            "calibrate",
            Kind::Assumption,
            margin < ps,
        format!(
            "margin {margin:.2} ms < Ps = {ps:.2} ms (largest round trip alone {:.2} ms; slowest answer without the pool {:.2} ms after P - Q)",
                cal.max, after
            ),
        );
    }
    let cases: &[&str] = if rts {
        &["no-pool", "pool-unhooked", "pool"]
    } else {
        &["no-pool"]
    };
    for case in cases {
        let s = summary(probes.get(*case).map_or(&[][..], Vec::as_slice));
        push(
            case,
            Kind::Assumption,
            s.probes >= MIN_PROBES,
            format!("{} probes >= {MIN_PROBES}", s.probes),
        );
        let resp = format!(
            "p99 {:.2} ms (median {:.2}, max {:.2}, {} of {} unanswered)",
            s.p99, s.median, s.max, s.timeouts, s.probes
        );
        match *case {
            "pool" => push(
                case,
                Kind::Response,
                s.p99 <= bound,
                format!(
                    "{resp} <= Ps + margin = {:.2} + {margin:.2} ms",
                    SPARE.1 as f64 / 1000.0
                ),
            ),
            "pool-unhooked" => push(
                case,
                Kind::Response,
                s.p99 > bound,
                format!(
                    "broken variant (the hook never called for srv) caught: {resp} > Ps + margin = {bound:.2} ms"
                ),
            ),
            _ => {
                let want = (SRV.1 - SRV.0) as f64 / 2000.0;
                push(
                    case,
                    Kind::Response,
                    s.p99 >= want,
                    format!("(P - Q)-scale latency: {resp} >= (P - Q) / 2 = {want:.0} ms"),
                );
            }
        }
        let Some(iv) = intervals.get(&("spare".to_string(), case.to_string())) else {
            push(
                case,
                Kind::Assumption,
                false,
                "no CPU shares measured".into(),
            );
            continue;
        };
        let q = |b: u64| quantum(b, iv.seconds) + DISPATCH_PCT;
        let share = |d: &str| iv.share.get(d).copied().unwrap_or(f64::NAN);
        for (d, b, p) in [("srv", SRV.0, SRV.1)]
            .into_iter()
            .chain(BACKGROUND.iter().copied())
        {
            let want = 100.0 * b as f64 / p as f64;
            let (v, tol) = (share(d), q(b));
            let spare_bw = 100.0 * SPARE.0 as f64 / SPARE.1 as f64 * SPARE.2 as f64;
            if !rts {
                push(
                    case,
                    Kind::Promise,
                    v >= want - tol,
                    format!("{d} {v:.2}% >= {want:.2} - {tol:.2}%"),
                );
            } else if d == "srv" && *case == "pool" {
                // Its reservation, plus at most what the spare lends.
                push(
                    case,
                    Kind::Reservation,
                    v >= want - tol,
                    format!("{d} {v:.2}% >= {want:.2} - {tol:.2}%"),
                );
                let tol = tol + q(SPARE.0);
                push(
                    case,
                    Kind::Cap,
                    v <= want + spare_bw + tol,
                    format!("{d} {v:.2}% <= {want:.2} + spare {spare_bw:.2} + {tol:.2}%"),
                );
            } else {
                push(
                    case,
                    Kind::Reservation,
                    (v - want).abs() <= tol,
                    format!("{d} {v:.2}% = {want:.2} +- {tol:.2}%"),
                );
            }
        }
    }
    if rts {
        // The hook ran and lent spares (counters over the whole boot, 'r' debug key).
        let stat = |name: &str| -> Option<u64> {
            stats.iter().find_map(|s| {
                let (_, rest) = s.split_once(name)?;
                rest.split_whitespace()
                    .next()?
                    .trim_start_matches('=')
                    .parse()
                    .ok()
            })
        };
        let hook = stat("sched hook time: io_event calls ");
        let attaches = stat("stat spare_attaches");
        push(
            "pool",
            Kind::Assumption,
            hook.unwrap_or(0) > 0 && attaches.unwrap_or(0) > 0,
            format!("io_event hook calls {hook:?}, spares attached {attaches:?} (whole boot)"),
        );
    }
    out
}

/// One boot as the outputs read it: build, run number, probes, measured intervals.
pub type BootProbes<'a> = (
    &'a str,
    u32,
    &'a Probes,
    &'a BTreeMap<(String, String), Interval>,
);

/// The report's table, the probes' CSV and the response-time chart.
pub fn outputs(runs: &[BootProbes], report: &mut String) -> (String, String) {
    let mut csv = String::from("build,run,case,probe,start_ms,response_us,iterations,guest_us\n");
    let _ = writeln!(
        report,
        "  responses (dom0 -> srv -> dom0 through xenstore; srv (40 ms, 100 ms), spare ({} ms, {} ms) x {}):",
        SPARE.0 as f64 / 1000.0,
        SPARE.1 as f64 / 1000.0,
        SPARE.2
    );
    let _ = writeln!(
        report,
        "  {:9} {:14} {:>6} {:>8} {:>8} {:>8} {:>9} {:>7} {:>12} {:>12}",
        "build",
        "case",
        "probes",
        "median",
        "p99",
        "max",
        "unanswer.",
        "srv %",
        "iter/ms",
        "iter/CPU-ms"
    );
    let mut curves = Vec::new();
    for (build, n, probes, ivs) in runs {
        for case in ["calibrate", "no-pool", "pool-unhooked", "pool"] {
            let Some(ps) = probes.get(case) else { continue };
            for p in ps {
                let _ = writeln!(
                    csv,
                    "{build},{n},{case},{},{},{},{},{}",
                    p.n,
                    p.start_ms,
                    p.resp_ns.map_or(-1.0, |v| v as f64 / 1e3),
                    p.iters,
                    p.guest_ns as f64 / 1e3
                );
            }
            let s = summary(ps);
            let share = ivs
                .get(&("spare".to_string(), case.to_string()))
                .and_then(|iv| iv.share.get("srv").copied())
                .unwrap_or(f64::NAN);
            let _ = writeln!(
                report,
                "  {build:9} {case:14} {:>6} {:>5.2} ms {:>5.2} ms {:>5.2} ms {:>9} {share:>7.2} {:>12.0} {:>12.0}",
                s.probes,
                s.median,
                s.p99,
                s.max,
                s.timeouts,
                s.iters_per_ms,
                s.iters_per_ms / (share / 100.0)
            );
            if *n == 1 {
                let mut r: Vec<f64> = ps
                    .iter()
                    .map(|p| p.resp_ns.map_or(f64::INFINITY, |v| v as f64 / 1e6))
                    .collect();
                r.sort_by(f64::total_cmp);
                curves.push((format!("{build} {case}"), r));
            }
        }
    }
    (csv, cdf_chart(&curves))
}

/// Cumulative distribution of response times (ms, 0-80), one line per build and case.
fn cdf_chart(curves: &[(String, Vec<f64>)]) -> String {
    let (x0, y0, w, h, xmax) = (60.0, 330.0, 560.0, 290.0, 80.0);
    let colours = ["#999", "#555", "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e"];
    let ticks: Vec<(f64, String, bool)> = (0..=8)
        .map(|k| {
            let ms = k as f64 * 10.0;
            (x0 + w * ms / xmax, format!("{ms:.0}"), k == 1)
        })
        .collect();
    let mut body = super::chart::cdf_grid((x0, y0, w, h), &ticks, &[0, 25, 50, 75, 99, 100]);
    let mut legend = Vec::new();
    for (i, (label, r)) in curves.iter().enumerate() {
        if r.is_empty() {
            continue;
        }
        let c = colours[i % colours.len()];
        let mut pts = format!("{x0:.1},{y0:.1}");
        for (k, v) in r.iter().enumerate() {
            let x = x0 + w * v.min(xmax) / xmax;
            let (ya, yb) = (
                y0 - h * k as f64 / r.len() as f64,
                y0 - h * (k + 1) as f64 / r.len() as f64,
            );
            let _ = write!(pts, " {x:.1},{ya:.1} {x:.1},{yb:.1}");
        }
        let _ = write!(
            body,
            "<polyline points='{pts}' fill='none' stroke='{c}' stroke-width='1.5'><title>{label}</title></polyline>"
        );
        legend.push(format!("<tspan fill='{c}'>{label}</tspan>"));
    }
    format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='660' height='400' font-family='sans-serif'>\
         <text x='10' y='16' font-size='13'>spare: probes answered by a response time (ms; Ps = 10 ms in red)</text>\
         <text x='{}' y='360' font-size='10' text-anchor='middle'>response time (ms), srv (40 ms, 100 ms) beside (20, 300) and (40, 300); spare ({} ms, {} ms)</text>\
         <text x='10' y='385' font-size='10'>{}</text>{body}</svg>\n",
        x0 + w / 2.0,
        SPARE.0 as f64 / 1000.0,
        SPARE.1 as f64 / 1000.0,
        legend.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probes(resp_ms: &[f64]) -> Vec<Probe> {
        resp_ms
            .iter()
            .enumerate()
            .map(|(i, r)| Probe {
                n: i as u32,
                start_ms: 70 * i as i64,
                resp_ns: (*r >= 0.0).then_some((r * 1e6) as i64),
                iters: 1000 * i as u64,
                guest_ns: 0,
            })
            .collect()
    }

    #[test]
    fn parses_probe_lines_and_skips_the_count_line() {
        let t = "RTSCHED-E2E-PROBE spare pool n=2 timeouts=1\r\n\
                 RTSCHED-E2E-PROBE spare pool 0 0 1500000 10 300000\n\
                 RTSCHED-E2E-PROBE spare pool 1 80 -1 0 -1\n\
                 RTSCHED-E2E-PROBE spare no-pool 0 0 61000000 7 250000\n";
        let p = parse(t);
        assert_eq!(p["pool"].len(), 2);
        assert_eq!(p["pool"][0].resp_ns, Some(1_500_000));
        assert_eq!(p["pool"][1].resp_ns, None);
        assert_eq!(p["no-pool"][0].iters, 7);
    }

    #[test]
    fn percentiles_rank_unanswered_probes_last() {
        let mut r: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = summary(&probes(&r));
        assert_eq!((s.median, s.p99, s.max), (50.0, 99.0, 100.0));
        r[0] = -1.0; // one unanswered: it ranks above 100
        let s = summary(&probes(&r));
        assert_eq!((s.p99, s.timeouts), (100.0, 1));
        assert!(s.max.is_infinite());
    }

    fn boot(pool_ms: f64, unhooked_ms: f64, no_pool_ms: f64) -> Vec<Check> {
        let mut p = Probes::new();
        p.insert("calibrate".into(), probes(&[1.0; 120]));
        p.insert("pool".into(), probes(&[pool_ms; 120]));
        p.insert("pool-unhooked".into(), probes(&[unhooked_ms; 120]));
        p.insert("no-pool".into(), probes(&[no_pool_ms; 120]));
        let mut ivs = BTreeMap::new();
        for (case, srv) in [("no-pool", 40.0), ("pool-unhooked", 40.0), ("pool", 45.0)] {
            let mut iv = Interval {
                seconds: 15.0,
                ..Interval::default()
            };
            iv.share.insert("srv".into(), srv);
            for (d, b, p) in BACKGROUND {
                iv.share.insert(d.into(), 100.0 * b as f64 / p as f64);
            }
            ivs.insert(("spare".to_string(), case.to_string()), iv);
        }
        let stats = vec![
            "(XEN) sched hook time: io_event calls 812 total 1 ns avg 1 ns max 1 ns".to_string(),
            "(XEN)   stat spare_attaches=100".to_string(),
        ];
        checks("rtsched", &p, &ivs, &stats)
    }

    #[test]
    fn the_checks_pass_a_good_run_and_fail_broken_ones() {
        assert!(boot(8.0, 55.0, 55.0).iter().all(|c| c.ok));
        // A pool that does not shorten the response (the hook not called, spares never
        // attached) fails the bound; an unhooked case that responds fast is not a broken
        // variant; a run without the (P - Q)-scale latency fails too.
        let failed = |c: Vec<Check>| -> Vec<String> {
            c.into_iter().filter(|c| !c.ok).map(|c| c.case).collect()
        };
        assert_eq!(failed(boot(55.0, 55.0, 55.0)), ["pool"]);
        assert_eq!(failed(boot(8.0, 8.0, 55.0)), ["pool-unhooked"]);
        assert_eq!(failed(boot(8.0, 55.0, 8.0)), ["no-pool"]);
        // Answers long after the budget came back without the pool leave no margin.
        assert_eq!(failed(boot(8.0, 75.0, 75.0)), ["calibrate"]);
    }
}
