//! The RT-Xen dissertation's schedulability experiment (chapter 3) in simulation; writes
//! CSV, SVG charts and a report. See `model_tests::sweep` for the set-up.
//!
//! `cargo run --release -p model-tests --bin schedulability -- [--sets N] [--sim-s S]
//! [--out DIR]` (defaults: 25 sets per utilisation, 60 s, `docs/results/schedulability`).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

use model_tests::sweep::{hosts, sweep, Config, GuestSched, HostConf, Sweep};
use rtsched::{ServerKind, Topology};

fn arg<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(|v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}: cannot parse {v}"))
        })
        .unwrap_or(default)
}

/// A line chart: fraction of schedulable task sets (0..1) against utilisation, one line per
/// series `(label, colour, dashed, values)`; `ymax` and an optional horizontal line for
/// other quantities.
fn chart(
    title: &str,
    ylabel: &str,
    xs: &[f64],
    series: &[(String, &str, bool, Vec<f64>)],
    ymax: f64,
    hline: Option<f64>,
) -> String {
    let rows = series.len().div_ceil(2) as f64;
    let (w, l, r, t, b) = (640.0, 60.0, 20.0, 40.0, 60.0 + rows * 18.0);
    let h = t + 230.0 + b;
    let (pw, ph) = (w - l - r, h - t - b);
    let (x0, x1) = (xs[0], xs[xs.len() - 1]);
    let sx = |x: f64| l + (x - x0) / (x1 - x0).max(1e-9) * pw;
    let sy = |y: f64| t + ph - y / ymax * ph;
    let mut s = String::new();
    let _ = write!(
        s,
        "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='{h}' font-family='sans-serif' font-size='12'>\
         <rect width='100%' height='100%' fill='white'/>\
         <text x='{}' y='22' text-anchor='middle' font-size='14'>{title}</text>",
        w / 2.0
    );
    let ticks = if ymax <= 1.0 { 5 } else { ymax as usize };
    for k in 0..=ticks {
        let y = ymax * k as f64 / ticks as f64;
        let _ = write!(
            s,
            "<line x1='{l}' x2='{x2}' y1='{yy}' y2='{yy}' stroke='#ddd'/><text x='{tx}' y='{ty}' text-anchor='end'>{lab}</text>",
            x2 = l + pw,
            yy = sy(y),
            tx = l - 6.0,
            ty = sy(y) + 4.0,
            lab = if ymax <= 1.0 { format!("{y:.1}") } else { format!("{y:.0}") }
        );
    }
    for (i, &x) in xs.iter().enumerate() {
        if i % 2 == 0 {
            let _ = write!(
                s,
                "<text x='{}' y='{}' text-anchor='middle'>{x:.1}</text>",
                sx(x),
                t + ph + 16.0
            );
        }
    }
    let _ = write!(
        s,
        "<text x='{}' y='{}' text-anchor='middle'>total task utilisation (5 PCPUs)</text>\
         <text x='14' y='{}' text-anchor='middle' transform='rotate(-90 14 {})'>{ylabel}</text>\
         <rect x='{l}' y='{t}' width='{pw}' height='{ph}' fill='none' stroke='black'/>",
        l + pw / 2.0,
        t + ph + 34.0,
        t + ph / 2.0,
        t + ph / 2.0
    );
    if let Some(y) = hline {
        let _ = write!(
            s,
            "<line x1='{l}' x2='{x2}' y1='{yy}' y2='{yy}' stroke='black' stroke-dasharray='2 3'/>",
            x2 = l + pw,
            yy = sy(y)
        );
    }
    for (k, (label, colour, dashed, ys)) in series.iter().enumerate() {
        let pts: Vec<String> = xs
            .iter()
            .zip(ys)
            .filter(|(_, y)| y.is_finite())
            .map(|(&x, &y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let dash = if *dashed {
            " stroke-dasharray='6 4'"
        } else {
            ""
        };
        let _ = write!(
            s,
            "<polyline points='{}' fill='none' stroke='{colour}' stroke-width='2'{dash}/>",
            pts.join(" ")
        );
        let (lx, ly) = (
            l + (k % 2) as f64 * pw / 2.0,
            t + ph + 56.0 + (k / 2) as f64 * 18.0,
        );
        let _ = write!(
            s,
            "<line x1='{lx}' x2='{x2}' y1='{yy}' y2='{yy}' stroke='{colour}' stroke-width='2'{dash}/>\
             <text x='{tx}' y='{ly}'>{label}</text>",
            x2 = lx + 28.0,
            yy = ly - 4.0,
            tx = lx + 34.0,
        );
    }
    s.push_str("</svg>\n");
    s
}

const COLOURS: [&str; 4] = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd"];

fn frac(sw: &Sweep, g: usize, h: usize, theory: bool) -> Vec<f64> {
    sw.points[g][h]
        .iter()
        .map(|p| (if theory { p.theory } else { p.simulated }) as f64 / p.sets as f64)
        .collect()
}

fn find(sw: &Sweep, topology: Topology, server: ServerKind, extratime: bool) -> usize {
    sw.hosts
        .iter()
        .position(|h| {
            *h == HostConf {
                topology,
                server,
                extratime,
            }
        })
        .expect("host configuration")
}

/// The dissertation's statements about its curves (its figures are images; these are read
/// from its text, chapter 3 and 4), each checked against this run.
fn claims(sw: &Sweep, xs: &[f64]) -> String {
    use ServerKind::{Cbs, Deferrable as Def, Periodic as Per};
    use Topology::{Global as G, Partition as P};
    let total = |g: usize, topo, server, extratime, theory: bool| -> u64 {
        let h = find(sw, topo, server, extratime);
        sw.points[g][h]
            .iter()
            .map(|p| if theory { p.theory } else { p.simulated })
            .sum()
    };
    let all_up_to = |g: usize, topo, server| -> String {
        let h = find(sw, topo, server, false);
        let mut last = None;
        for (p, &u) in sw.points[g][h].iter().zip(xs) {
            if p.simulated < p.sets {
                break;
            }
            last = Some(u);
        }
        last.map_or("none".into(), |u| format!("{u:.1}"))
    };
    let (pe, ge) = (0, 1);
    let yes = |b: bool| if b { "holds" } else { "differs" };
    let mut s = String::from(
        "\n## The dissertation's statements, checked\n\n\
         Sums are schedulable task sets over all utilisations (the area under a curve).\n\n\
         | dissertation (chapter 3) | here | |\n|---|---|---|\n",
    );
    // The dissertation's theory has no back-to-back term: the periodic server's tests.
    let th = [
        total(pe, P, Per, false, true),
        total(ge, P, Per, false, true),
        total(pe, G, Per, false, true),
        total(ge, G, Per, false, true),
    ];
    let _ = writeln!(
        s,
        "| Fig. 3.5c, theory (periodic server's tests): (guest, VMM) order (pEDF, pEDF) > (gEDF, pEDF) > (pEDF, gEDF) > (gEDF, gEDF) | {} > {} > {} > {} | {} |",
        th[0], th[1], th[2], th[3],
        yes(th[0] >= th[1] && th[1] >= th[2] && th[2] >= th[3])
    );
    let missed: u64 = sw
        .points
        .iter()
        .flatten()
        .flatten()
        .map(|p| p.theory_but_missed)
        .sum();
    let _ = writeln!(
        s,
        "| Fig. 3.6: every set schedulable in theory was schedulable on RT-Xen | {missed} admitted sets missed | {} |",
        yes(missed == 0)
    );
    for (g, gname) in [(pe, "pEDF"), (ge, "gEDF")] {
        let (a, b) = (
            total(g, G, Per, false, false),
            total(g, P, Per, false, false),
        );
        let _ = writeln!(
            s,
            "| Fig. 3.6: guest {gname}, periodic server: the gEDF VMM schedules more sets than the pEDF VMM in practice | gEDF {a}, pEDF {b} | {} |",
            yes(a >= b)
        );
    }
    let _ = writeln!(
        s,
        "| Fig. 3.4: guest pEDF, VMM gEDF, periodic server: all sets schedulable up to utilisation 3.9 | all schedulable up to {} | |",
        all_up_to(pe, G, Per)
    );
    let n = sw.bandwidth[pe].len();
    let above = (0..n)
        .filter(|&u| sw.bandwidth[ge][u] > sw.bandwidth[pe][u] + 1e-9)
        .count();
    let pe_over = (0..n)
        .map(|u| sw.bandwidth[pe][u] - xs[u])
        .fold(0.0f64, f64::max);
    let _ = writeln!(
        s,
        "| Fig. 3.7: guest gEDF needs more VCPU bandwidth than guest pEDF; pEDF's is close to the task utilisation | gEDF above at {above} of {n} utilisations; pEDF at most {pe_over:.3} above | {} |",
        yes(above * 2 > n && pe_over < 0.1)
    );
    for (server, sname, fig) in [(Per, "periodic", "3.8a"), (Def, "deferrable", "3.8c")] {
        let (a, b) = (
            total(pe, G, server, false, false) + total(pe, P, server, false, false),
            total(ge, G, server, false, false) + total(ge, P, server, false, false),
        );
        let _ = writeln!(
            s,
            "| Fig. {fig}: {sname} server: guest pEDF schedules more sets than guest gEDF | pEDF {a}, gEDF {b} | {} |",
            yes(a >= b)
        );
    }
    let four = [
        total(ge, G, Def, false, false),
        total(ge, P, Def, false, false),
        total(ge, G, Per, false, false),
        total(ge, P, Per, false, false),
    ];
    let _ = writeln!(
        s,
        "| Fig. 3.8b: guest gEDF: VMM gEDF with deferrable server is best of gEDF/pEDF x deferrable/periodic | gEDF-def {}, pEDF-def {}, gEDF-per {}, pEDF-per {} | {} |",
        four[0], four[1], four[2], four[3],
        yes(four[0] >= *four.iter().max().expect("four"))
    );
    for (g, gname) in [(pe, "pEDF"), (ge, "gEDF")] {
        let (a, b) = (
            total(g, G, Def, false, false),
            total(g, P, Def, false, false),
        );
        let _ = writeln!(
            s,
            "| Fig. 3.8c: guest {gname}, deferrable server: global VMM outperforms partitioned | gEDF {a}, pEDF {b} | {} |",
            yes(a >= b)
        );
    }
    for (g, gname) in [(pe, "pEDF"), (ge, "gEDF")] {
        let (a, b) = (
            total(g, G, Def, false, false),
            total(g, G, Def, true, false),
        );
        let (c, d) = (
            total(g, G, Cbs, false, false),
            total(g, G, Cbs, true, false),
        );
        let _ = writeln!(
            s,
            "| (this project) guest {gname}, VMM gEDF, simulated: deferrable, + extratime, CBS, CBS + extratime | {a}, {b}, {c}, {d} | |"
        );
        let (e, f) = (total(g, G, Def, false, true), total(g, G, Cbs, false, true));
        let (e2, f2) = (total(g, P, Def, false, true), total(g, P, Cbs, false, true));
        let _ = writeln!(
            s,
            "| (this project) guest {gname}, admitted in theory, deferrable against CBS | VMM gEDF {e} / {f}, VMM pEDF {e2} / {f2} | |"
        );
    }
    s
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sets: u64 = arg(&args, "--sets", 25);
    let sim_s: i64 = arg(&args, "--sim-s", 60);
    let out: PathBuf = arg(&args, "--out", PathBuf::from("docs/results/schedulability"));
    let mut cfg = Config::dissertation(sim_s);
    cfg.sets = sets;
    let started = Instant::now();
    let sw = sweep(&cfg, &hosts(), |u| {
        eprintln!("u = {u:.1} done ({:.0} s)", started.elapsed().as_secs_f64());
    });
    let secs = started.elapsed().as_secs_f64();
    std::fs::create_dir_all(&out).expect("output directory");
    let xs = &cfg.utils;
    let (pe, ge) = (0, 1);
    assert_eq!(sw.guests, [GuestSched::PEdf, GuestSched::GEdf]);
    use ServerKind::{Cbs, Deferrable as Def, Periodic as Per};
    use Topology::{Global as G, Partition as P};
    let combos = |server, theory: bool, dashed| -> Vec<(String, &'static str, bool, Vec<f64>)> {
        let mut v = vec![];
        let mut k = 0;
        for (gi, gname) in [(pe, "pEDF"), (ge, "gEDF")] {
            for (topo, hname) in [(G, "gEDF"), (P, "pEDF")] {
                let h = find(&sw, topo, server, false);
                v.push((
                    format!("guest {gname}, VMM {hname}"),
                    COLOURS[k],
                    dashed,
                    frac(&sw, gi, h, theory),
                ));
                k += 1;
            }
        }
        v
    };
    let files = [
        (
            "fig-3-5c-theory.svg",
            chart(
                "Theory: admitted by the host's test (cf. Figure 3.5c)",
                "fraction schedulable",
                xs,
                &combos(Def, true, false),
                1.0,
                None,
            ),
        ),
        (
            "fig-3-8a-periodic.svg",
            chart(
                "Simulated, periodic server (cf. Figure 3.8a)",
                "fraction schedulable",
                xs,
                &combos(Per, false, false),
                1.0,
                None,
            ),
        ),
        (
            "fig-3-8b-deferrable.svg",
            chart(
                "Simulated, deferrable server (cf. Figures 3.8b, 3.8c)",
                "fraction schedulable",
                xs,
                &combos(Def, false, false),
                1.0,
                None,
            ),
        ),
        (
            "fig-3-7-bandwidth.svg",
            chart(
                "Mean total VCPU bandwidth (cf. Figure 3.7)",
                "total VCPU bandwidth",
                xs,
                &[
                    (
                        "guest pEDF".to_string(),
                        COLOURS[0],
                        false,
                        sw.bandwidth[pe].clone(),
                    ),
                    (
                        "guest gEDF".to_string(),
                        COLOURS[1],
                        false,
                        sw.bandwidth[ge].clone(),
                    ),
                    ("task utilisation".to_string(), "#999", true, xs.clone()),
                ],
                8.0,
                Some(5.0),
            ),
        ),
        ("additions.svg", {
            let mut v = vec![];
            for (k, (gi, gname)) in [(pe, "pEDF"), (ge, "gEDF")].into_iter().enumerate() {
                for (server, extratime, sname, dashed) in [
                    (Def, false, "deferrable", true),
                    (Def, true, "deferrable + extratime", false),
                ] {
                    let h = find(&sw, G, server, extratime);
                    v.push((
                        format!("guest {gname}, {sname}"),
                        COLOURS[k],
                        dashed,
                        frac(&sw, gi, h, false),
                    ));
                }
                for (server, extratime, sname, dashed) in [
                    (Cbs, false, "CBS", true),
                    (Cbs, true, "CBS + extratime", false),
                ] {
                    let h = find(&sw, G, server, extratime);
                    v.push((
                        format!("guest {gname}, {sname}"),
                        COLOURS[k + 2],
                        dashed,
                        frac(&sw, gi, h, false),
                    ));
                }
            }
            chart(
                "This project's additions, simulated (VMM gEDF)",
                "fraction schedulable",
                xs,
                &v,
                1.0,
                None,
            )
        }),
        ("cbs-theory.svg", {
            let mut v = vec![];
            for (k, (gi, gname)) in [(pe, "pEDF"), (ge, "gEDF")].into_iter().enumerate() {
                for (topo, tname, dashed) in [(G, "gEDF", false), (P, "pEDF", true)] {
                    v.push((
                        format!("guest {gname}, VMM {tname}, deferrable"),
                        COLOURS[k],
                        dashed,
                        frac(&sw, gi, find(&sw, topo, Def, false), true),
                    ));
                    v.push((
                        format!("guest {gname}, VMM {tname}, CBS"),
                        COLOURS[k + 2],
                        dashed,
                        frac(&sw, gi, find(&sw, topo, Cbs, false), true),
                    ));
                }
            }
            chart(
                "Theory: admitted, deferrable server vs CBS",
                "fraction schedulable",
                xs,
                &v,
                1.0,
                None,
            )
        }),
    ];
    for (name, svg) in &files {
        std::fs::write(out.join(name), svg).expect("write chart");
    }
    // CSV.
    let mut csv = String::from(
        "utilisation,guest,host,sets,theory,simulated,theory_but_missed,mean_vcpu_bandwidth\n",
    );
    for (gi, g) in sw.guests.iter().enumerate() {
        for (hi, h) in sw.hosts.iter().enumerate() {
            for (ui, p) in sw.points[gi][hi].iter().enumerate() {
                let _ = writeln!(
                    csv,
                    "{:.1},{},{},{},{},{},{},{:.4}",
                    p.util,
                    g.name(),
                    h.name(),
                    p.sets,
                    p.theory,
                    p.simulated,
                    p.theory_but_missed,
                    sw.bandwidth[gi][ui]
                );
            }
        }
    }
    std::fs::write(out.join("schedulability.csv"), &csv).expect("write csv");
    // Table: fraction schedulable (simulated) per configuration and utilisation.
    let mut md = format!(
        "Generated by `cargo run --release -p model-tests --bin schedulability -- --sets {sets} --sim-s {sim_s}` \
         ({secs:.0} s on this machine). Columns: total task utilisation; cells: task sets without a deadline miss \
         in simulation out of {sets} (theory: admitted by the host's test, in brackets).\n\n| guest / VMM |"
    );
    for u in xs {
        let _ = write!(md, " {u:.1} |");
    }
    md.push_str("\n|---|");
    for _ in xs {
        md.push_str("---|");
    }
    md.push('\n');
    let mut missed = 0;
    for (gi, g) in sw.guests.iter().enumerate() {
        for (hi, h) in sw.hosts.iter().enumerate() {
            let _ = write!(md, "| {} / {} |", g.name(), h.name());
            for p in &sw.points[gi][hi] {
                missed += p.theory_but_missed;
                let _ = write!(md, " {} ({}) |", p.simulated, p.theory);
            }
            md.push('\n');
        }
    }
    let _ = write!(md, "\nTask sets admitted in theory that missed a deadline in simulation: {missed}.\n\nMean total VCPU bandwidth:\n\n| guest |");
    for u in xs {
        let _ = write!(md, " {u:.1} |");
    }
    md.push_str("\n|---|");
    for _ in xs {
        md.push_str("---|");
    }
    md.push('\n');
    for (gi, g) in sw.guests.iter().enumerate() {
        let _ = write!(md, "| {} |", g.name());
        for b in &sw.bandwidth[gi] {
            let _ = write!(md, " {b:.2} |");
        }
        md.push('\n');
    }
    md.push_str(&claims(&sw, xs));
    std::fs::write(out.join("schedulability.md"), &md).expect("write report");
    println!("{md}");
    assert_eq!(missed, 0, "a task set admitted in theory missed a deadline");
}
