//! `cargo xtask e2e`: guests scheduled by rtsched and by Xen's C RTDS in a real (emulated)
//! Xen, side by side. Each build is booted under QEMU (stock C RTDS, rtsched in rt-global,
//! and rtsched in rt-partition for the scenario where placement decides); the dom0 script
//! (`tools/boot/e2e.sh`) creates busy-loop PV guests, sets their parameters with the
//! unmodified `xl sched-rtds`, and reports each domain's CPU time over the measurement
//! interval. Scenarios: `table-4-2` (dissertation Table 4.2), `isolation` (capped VMs beside
//! a hog, in the spirit of Table 2.2), `global` (six VMs on three PCPUs, within and beyond
//! the GFB bound) and `policy-switch` (Table 4.2 with k = 2 while the priority scheme and
//! server change at run time through hypfs). The results go to `target/e2e/<scenario>.csv`
//! and `.svg`, a table is printed, and rtsched (rt-global) must meet each scenario's
//! acceptance bounds (see [`accept`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};

use crate::util::root;
use crate::xen::{boot_xen, build_xen, BootSpec};

/// Options of `cargo xtask e2e`.
#[derive(clap::Args)]
pub struct Args {
    /// Scenarios to run, comma separated (table-4-2, isolation, global, policy-switch;
    /// also unequal: Table 4.2, k = 2, with non-RT VMs of 5 ms and 20 ms periods).
    #[arg(long, default_value = "table-4-2,isolation,global,policy-switch")]
    pub scenarios: String,
    /// Seconds of each measurement interval.
    #[arg(long, default_value_t = 20)]
    pub measure: u32,
    /// Also copy the results to docs/results/.
    #[arg(long)]
    pub publish: bool,
    /// Builds to boot, comma separated (stock, rtsched, partition).
    #[arg(long, default_value = "stock,rtsched,partition")]
    pub builds: String,
    /// Guest PCPUs of the `global` scenario, 2 or 3 (default: 3 on hosts with 4 or more
    /// cores, else 2: each busy emulated PCPU needs a host core of its own, see
    /// ARCHITECTURE.md, "End-to-end measurements").
    #[arg(long)]
    pub global_cpus: Option<u32>,
    /// Seconds of xentrace recorded before each measurement (0: none). The traces, their
    /// xenalyze dumps and Gantt charts go to `target/e2e/xentrace/`.
    #[arg(long, default_value_t = 0)]
    pub xentrace: u32,
}

/// The `global` scenario's budgets in us (period 10 ms, six VMs) for m guest PCPUs:
/// a guaranteed set whose total meets the GFB bound m - (m - 1) u_max exactly, and a
/// stress set beyond it.
fn global_sets(m: u32) -> ([u32; 6], [u32; 6]) {
    if m == 2 {
        // 1.6 = 2 - 0.4; stress 2.4.
        (
            [4000, 4000, 3000, 2000, 2000, 1000],
            [8000, 6000, 4000, 3000, 2000, 1000],
        )
    } else {
        // 2.0 = 3 - 2 * 0.5; stress 2.8.
        (
            [5000, 4000, 4000, 3000, 2000, 2000],
            [8000, 6000, 5000, 4000, 3000, 2000],
        )
    }
}

fn plus(v: &[u32]) -> String {
    v.iter().map(u32::to_string).collect::<Vec<_>>().join("+")
}

/// The builds compared, in report order: name, stock flag, Xen options besides [`CLOCK`],
/// and the scenarios each runs (`None`: all requested). rt-partition runs only the
/// scenario where placement decides.
const BUILDS: [(&str, bool, &str, Option<&str>); 3] = [
    ("stock", true, "", None),
    ("rtsched", false, "", None),
    (
        "partition",
        false,
        "rtsched_policy=partition",
        Some("global"),
    ),
];

/// One clock for all CPUs, given to every build (`xen-patch/common/0002-*`): under QEMU TCG
/// every virtual CPU reads the host's invariant TSC, but without CPUID's invariant-TSC bit
/// Xen rewrites the TSCs in a rendezvous every second, and a virtual CPU descheduled by the
/// host during it ends up milliseconds off (measured: 608 "now is behind last_start" in
/// one stock run).
const CLOCK: &str = "tsc=reliable clocksource=tsc";

/// Bar colours of the builds in the charts.
const COLOURS: [&str; 3] = ["#999", "#1f77b4", "#ff7f0e"];

/// Measured shares: (scenario, case, build) -> domain -> CPU share in percent of one PCPU.
type Results = BTreeMap<(String, String, String), BTreeMap<String, f64>>;

/// What one boot reported besides the shares.
#[derive(Default)]
struct Extra {
    /// "now is behind last_start" lines in Xen's log (stock rt.c logs each one).
    anomalies: u32,
    /// Scheduler counters from the debug-key dump (rtsched only).
    stats: Vec<String>,
    /// Unit placement lines (`<case> <domain> cpu <n>`).
    place: Vec<String>,
    /// Remarks of the dom0 script (e.g. a starved guest that never booted).
    notes: Vec<String>,
    /// What the xentrace traces held (`--xentrace`).
    traces: Vec<String>,
}

fn parse(build: &str, text: &str, out: &mut Results) -> Result<Extra> {
    let mut ex = Extra::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("RTSCHED-E2E-FAIL") {
            bail!("{build}: scenario step failed:{rest}");
        }
        if let Some(n) = line.strip_prefix("RTSCHED-E2E-ANOMALIES ") {
            ex.anomalies = n.trim().parse().unwrap_or(0);
        }
        if let Some(s) = line.strip_prefix("RTSCHED-E2E-STAT ") {
            ex.stats.push(s.trim().to_string());
        }
        if let Some(s) = line.strip_prefix("RTSCHED-E2E-PLACE ") {
            ex.place.push(s.trim().to_string());
        }
        if let Some(s) = line.strip_prefix("RTSCHED-E2E-NOTE ") {
            ex.notes.push(s.trim().to_string());
        }
        let Some(rest) = line.strip_prefix("RTSCHED-E2E ") else {
            continue;
        };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if f.len() != 5 {
            continue;
        }
        let (cpu, interval): (f64, f64) = (f[3].parse()?, f[4].parse()?);
        out.entry((f[0].to_string(), f[1].to_string(), build.to_string()))
            .or_default()
            .insert(f[2].to_string(), 100.0 * cpu / interval.max(1e-9));
    }
    Ok(ex)
}

/// One chart group: a case and, per domain, its name and one share per build (NaN: none).
type Row = (String, Vec<(String, Vec<f64>)>);

fn svg(title: &str, builds: &[&str], rows: &[Row]) -> String {
    // Grouped bars: per case, per domain, one bar per build.
    let bar = 10.0;
    let mut x = 60.0;
    let mut body = String::new();
    for (case, doms) in rows {
        let x0 = x;
        for (dom, vals) in doms {
            let n = vals.len() as f64;
            for (i, v) in vals.iter().enumerate() {
                let v = if v.is_nan() { 0.0 } else { *v };
                let h = v * 3.0;
                let _ = write!(
                    body,
                    "<rect x='{:.1}' y='{:.1}' width='{bar}' height='{h:.1}' fill='{}'><title>{dom} {} {v:.1}%</title></rect>",
                    x + i as f64 * bar,
                    330.0 - h,
                    COLOURS[i % COLOURS.len()],
                    builds.get(i).unwrap_or(&"")
                );
            }
            let _ = write!(
                body,
                "<text x='{:.1}' y='345' font-size='8' text-anchor='middle'>{dom}</text>",
                x + n * bar / 2.0
            );
            x += n * bar + 6.0;
        }
        let _ = write!(
            body,
            "<text x='{:.1}' y='360' font-size='10' text-anchor='middle'>{case}</text>",
            (x0 + x) / 2.0 - 3.0
        );
        x += 18.0;
    }
    let mut axis = String::new();
    for p in [0, 20, 40, 60, 80, 100] {
        let y = 330.0 - p as f64 * 3.0;
        let _ = write!(
            axis,
            "<line x1='55' y1='{y}' x2='{x}' y2='{y}' stroke='#ddd'/><text x='50' y='{:.0}' font-size='9' text-anchor='end'>{p}%</text>",
            y + 3.0
        );
    }
    let legend: Vec<String> = builds
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let name = match *b {
                "stock" => "stock C RTDS",
                "rtsched" => "rtsched (rt-global)",
                "partition" => "rtsched (rt-partition)",
                other => other,
            };
            format!("{}: {name}", ["grey", "blue", "orange"][i % 3])
        })
        .collect();
    format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='395' font-family='sans-serif'>\
         <text x='10' y='16' font-size='13'>{title}: CPU share per domain</text>\
         <text x='10' y='385' font-size='10'>{}</text>\
         {axis}{body}</svg>\n",
        legend.join(", "),
        w = x.max(640.0) + 20.0
    )
}

/// Acceptance checks for rtsched (rt-global) on one case; failures are appended.
fn accept(
    sc: &str,
    case: &str,
    rt: &BTreeMap<String, f64>,
    guaranteed: &[u32],
    failures: &mut Vec<String>,
) {
    let get = |d: &str| rt.get(d).copied().unwrap_or(0.0);
    let total: f64 = rt.values().sum();
    let mut near = |what: String, v: f64, want: f64| {
        if (v - want).abs() > 2.0 {
            failures.push(format!("{sc} {case}: {what} {v:.1}%, not {want:.1}% +- 2%"));
        }
    };
    match sc {
        // One RT VM at 40%, k non-RT VMs sharing the rest evenly, the CPU busy.
        "table-4-2" | "policy-switch" => {
            let k = rt.len().saturating_sub(1);
            let rtv = get("rt");
            near("RT VM".into(), rtv, 40.0);
            for i in 1..=k {
                let d = format!("nrt{i}");
                near(d.clone(), get(&d), (100.0 - rtv) / k as f64);
            }
            if k >= 1 && total < 98.0 {
                failures.push(format!("{sc} {case}: total {total:.1}% < 98%"));
            }
        }
        // Capped VMs get their reservations; the hog what they leave, or its own 5% capped.
        "isolation" => {
            let mut capped = 0.0;
            for (d, want) in [("c2", 20.0), ("c3", 30.0), ("c4", 40.0)] {
                near(d.into(), get(d), want);
                capped += get(d);
            }
            let want = if case == "hog-capped" {
                5.0
            } else {
                100.0 - capped
            };
            near("hog".into(), get("hog"), want);
        }
        // Within the GFB bound every VM gets its reservation under global EDF (checked
        // only where each busy guest PCPU has a host core of its own: `guaranteed` is
        // empty otherwise, see ARCHITECTURE.md, "End-to-end measurements").
        "global" if case == "guaranteed" => {
            for (i, b) in guaranteed.iter().enumerate() {
                let d = format!("g{}", i + 1);
                near(d.clone(), get(&d), f64::from(*b) / 100.0);
            }
        }
        _ => {}
    }
}

/// Runs the scenarios on every build and writes the results.
pub fn run(a: &Args) -> Result<()> {
    let t0 = Instant::now();
    let requested: Vec<&str> = a.scenarios.split(',').collect();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let m = a.global_cpus.unwrap_or(if cores >= 4 { 3 } else { 2 });
    if !(2..=3).contains(&m) {
        bail!("--global-cpus must be 2 or 3 (QEMU runs 4 PCPUs, dom0 has PCPU 0)");
    }
    let (guaranteed, stress) = global_sets(m);
    let mut results = Results::new();
    let mut extra: BTreeMap<&str, Extra> = BTreeMap::new();
    let mut builds = Vec::new();
    for (build, stock, xen_args, only) in BUILDS {
        if !a.builds.split(',').any(|b| b == build) {
            continue;
        }
        let scenarios: Vec<&str> = requested
            .iter()
            .copied()
            .filter(|s| only.is_none_or(|o| o == *s))
            .collect();
        if scenarios.is_empty() {
            continue;
        }
        build_xen(stock)?;
        let dom0_args = format!(
            "rtsched_mode=e2e rtsched_scenarios={} rtsched_measure={} rtsched_global_cpus=1-{m} \
             rtsched_global_guaranteed={} rtsched_global_stress={} rtsched_xentrace={}",
            // QEMU splits -initrd at commas.
            scenarios.join("+"),
            a.measure,
            plus(&guaranteed),
            plus(&stress),
            a.xentrace
        );
        // A trace is copied out over the console: room for it in Xen's serial buffer.
        let tracing = if a.xentrace > 0 {
            " serial_tx_buffer=4M"
        } else {
            ""
        };
        let xen_args = format!("{CLOCK}{tracing} {xen_args}");
        let r = boot_xen(&BootSpec {
            stock,
            debug: false,
            xen_args: xen_args.trim_end(),
            dom0_args: &dom0_args,
            dom0_vcpus: 1,
            timeout_s: 2400,
            hang_s: 600,
            tag: "e2e",
        })?;
        let mut ex = parse(build, &r.text, &mut results)?;
        if a.xentrace > 0 {
            let dir = root().join("target").join("e2e").join("xentrace");
            ex.traces = crate::xentrace::publish(build, &r.text, &dir)?;
        }
        extra.insert(build, ex);
        builds.push(build);
    }
    let dir = root().join("target").join("e2e");
    fs::create_dir_all(&dir)?;
    let mut failures = Vec::new();
    let mut report = String::new();
    for sc in &requested {
        let mut csv = String::from("build,case,domain,cpu_share_pct\n");
        let mut cases: Vec<String> = results
            .keys()
            .filter(|k| k.0 == *sc)
            .map(|k| k.1.clone())
            .collect();
        cases.dedup();
        if cases.is_empty() {
            failures.push(format!("{sc}: no measurements"));
            continue;
        }
        let here: Vec<&str> = builds
            .iter()
            .copied()
            .filter(|b| {
                cases
                    .iter()
                    .any(|c| results.contains_key(&(sc.to_string(), c.clone(), b.to_string())))
            })
            .collect();
        let _ = writeln!(
            report,
            "\n{sc} (CPU share in % of one PCPU: {})",
            here.join(" / ")
        );
        let mut rows = Vec::new();
        for case in &cases {
            let get = |b: &str| {
                results
                    .get(&(sc.to_string(), case.clone(), b.to_string()))
                    .cloned()
                    .unwrap_or_default()
            };
            let per: Vec<BTreeMap<String, f64>> = here.iter().map(|b| get(b)).collect();
            for (b, m) in here.iter().zip(&per) {
                for (d, v) in m {
                    let _ = writeln!(csv, "{b},{case},{d},{v:.2}");
                }
            }
            let doms: Vec<String> = per
                .iter()
                .flat_map(|m| m.keys().cloned())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            let mut line = format!("  {case:22}");
            let mut bars = Vec::new();
            for d in &doms {
                let vals: Vec<f64> = per
                    .iter()
                    .map(|m| m.get(d).copied().unwrap_or(f64::NAN))
                    .collect();
                let cells: Vec<String> = vals.iter().map(|v| format!("{v:.1}")).collect();
                let _ = write!(line, " {d} {}", cells.join("/"));
                bars.push((d.clone(), vals));
            }
            let totals: Vec<String> = per
                .iter()
                .map(|m| format!("{:.1}", m.values().sum::<f64>()))
                .collect();
            let _ = write!(line, "  total {}", totals.join("/"));
            let _ = writeln!(report, "{line}");
            rows.push((case.clone(), bars));
            if let Some(i) = here.iter().position(|b| *b == "rtsched") {
                let check: &[u32] = if cores > m as usize { &guaranteed } else { &[] };
                accept(sc, case, &per[i], check, &mut failures);
            }
        }
        fs::write(dir.join(format!("{sc}.csv")), &csv)?;
        fs::write(dir.join(format!("{sc}.svg")), svg(sc, &here, &rows))?;
    }
    let _ = writeln!(
        report,
        "\nglobal: {m} guest PCPUs on {cores} host cores, budgets (us, period 10 ms) guaranteed \
         {guaranteed:?}, stress {stress:?}; reservations {}",
        if cores > m as usize {
            "checked"
        } else {
            "not checked (each busy guest PCPU needs a host core of its own)"
        }
    );
    for (b, ex) in &extra {
        let _ = writeln!(
            report,
            "{b}: clock anomalies logged (\"now is behind last_start\"): {}",
            ex.anomalies
        );
        // Where rt-partition placed the units (under rt-global this is only where each
        // VCPU happened to run at that instant).
        for p in ex.place.iter().filter(|_| *b == "partition") {
            let _ = writeln!(report, "{b}: placement {p}");
        }
        for n in &ex.notes {
            let _ = writeln!(report, "{b}: note: {n}");
        }
        for s in &ex.stats {
            let _ = writeln!(report, "{b}: {s}");
        }
        for t in &ex.traces {
            let _ = writeln!(report, "{b}: xentrace {t}");
        }
    }
    let _ = writeln!(report, "wall time {:.0} s", t0.elapsed().as_secs_f64());
    print!("{report}");
    fs::write(dir.join("report.txt"), &report)?;
    if a.publish {
        let docs = root().join("docs").join("results");
        fs::create_dir_all(&docs)?;
        for e in fs::read_dir(&dir)? {
            let p: PathBuf = e?.path();
            if !p.is_file() {
                continue;
            }
            fs::copy(&p, docs.join(p.file_name().unwrap_or_default()))?;
        }
    }
    if !failures.is_empty() {
        for f in &failures {
            println!("FAIL {f}");
        }
        bail!("{} acceptance check(s) failed", failures.len());
    }
    println!(
        "e2e: all acceptance checks passed; results in {}",
        dir.display()
    );
    Ok(())
}
