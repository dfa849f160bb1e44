//! `cargo xtask e2e`: guests scheduled by rtsched and by Xen's C RTDS in a real (emulated)
//! Xen, side by side. Each build is booted under QEMU; the dom0 script (`tools/boot/e2e.sh`)
//! creates busy-loop PV guests pinned to PCPU 1, sets their parameters with the unmodified
//! `xl sched-rtds`, and reports each domain's CPU time over the measurement interval. The
//! results go to `target/e2e/<scenario>.csv` and `.svg`, and a table is printed.

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
    /// Scenarios to run, comma separated (table-4-2, isolation).
    #[arg(long, default_value = "table-4-2,isolation")]
    pub scenarios: String,
    /// Seconds of each measurement interval.
    #[arg(long, default_value_t = 20)]
    pub measure: u32,
    /// Also copy the results to docs/results/.
    #[arg(long)]
    pub publish: bool,
}

/// One measured cell: (build, scenario, case, domain) -> CPU share in percent.
type Results = BTreeMap<(String, String, String), BTreeMap<String, f64>>;

/// One chart group: a case and, per domain, (name, stock share, rtsched share).
type Row = (String, Vec<(String, f64, f64)>);

fn parse(build: &str, text: &str, out: &mut Results) -> Result<u32> {
    let mut anomalies = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("RTSCHED-E2E-FAIL") {
            bail!("{build}: scenario step failed:{rest}");
        }
        if let Some(n) = line.strip_prefix("RTSCHED-E2E-ANOMALIES ") {
            anomalies = n.trim().parse().unwrap_or(0);
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
    Ok(anomalies)
}

fn svg(title: &str, rows: &[Row]) -> String {
    // Grouped bars: per case, per domain, stock (grey) and rtsched (blue).
    let bar = 10.0;
    let mut x = 60.0;
    let mut body = String::new();
    for (case, doms) in rows {
        let x0 = x;
        for (dom, stock, rts) in doms {
            for (i, (v, colour)) in [(stock, "#999"), (rts, "#1f77b4")].iter().enumerate() {
                let h = **v * 3.0;
                let _ = write!(
                    body,
                    "<rect x='{:.1}' y='{:.1}' width='{bar}' height='{h:.1}' fill='{colour}'><title>{dom} {:.1}%</title></rect>",
                    x + i as f64 * bar,
                    330.0 - h,
                    v
                );
            }
            let _ = write!(
                body,
                "<text x='{:.1}' y='345' font-size='8' text-anchor='middle'>{dom}</text>",
                x + bar
            );
            x += 2.0 * bar + 6.0;
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
    format!(
        "<svg xmlns='http://www.w3.org/2000/svg' width='{w}' height='380' font-family='sans-serif'>\
         <text x='10' y='16' font-size='13'>{title}: CPU share per domain (grey: stock C RTDS, blue: rtsched)</text>\
         {axis}{body}</svg>\n",
        w = x + 20.0
    )
}

/// Runs the scenarios on both builds and writes the results.
pub fn run(a: &Args) -> Result<()> {
    let t0 = Instant::now();
    let mut results = Results::new();
    let mut anomalies = BTreeMap::new();
    for stock in [true, false] {
        let build = if stock { "stock" } else { "rtsched" };
        build_xen(stock)?;
        let dom0_args = format!(
            "rtsched_mode=e2e rtsched_scenarios={} rtsched_measure={}",
            // QEMU splits -initrd at commas.
            a.scenarios.replace(',', "+"),
            a.measure
        );
        let r = boot_xen(&BootSpec {
            stock,
            xen_args: "",
            dom0_args: &dom0_args,
            dom0_vcpus: 1,
            timeout_s: 1500,
            tag: "e2e",
        })?;
        anomalies.insert(build, parse(build, &r.text, &mut results)?);
    }
    let dir = root().join("target").join("e2e");
    fs::create_dir_all(&dir)?;
    let mut failures = Vec::new();
    let mut report = String::new();
    for sc in a.scenarios.split(',') {
        let mut csv = String::from("build,case,domain,cpu_share_pct\n");
        let mut cases: Vec<String> = results
            .keys()
            .filter(|k| k.0 == sc)
            .map(|k| k.1.clone())
            .collect();
        cases.dedup();
        let mut rows = Vec::new();
        let _ = writeln!(
            report,
            "\n{sc} (CPU share of PCPU 1, %: stock C RTDS / rtsched)"
        );
        for case in &cases {
            let get = |b: &str| {
                results
                    .get(&(sc.to_string(), case.clone(), b.to_string()))
                    .cloned()
                    .unwrap_or_default()
            };
            let (st, rt) = (get("stock"), get("rtsched"));
            for (b, m) in [("stock", &st), ("rtsched", &rt)] {
                for (d, v) in m {
                    let _ = writeln!(csv, "{b},{case},{d},{v:.2}");
                }
            }
            let total = |m: &BTreeMap<String, f64>| m.values().sum::<f64>();
            let mut line = format!("  {case:16}");
            let mut doms = Vec::new();
            for (d, v) in &rt {
                let s = st.get(d).copied().unwrap_or(f64::NAN);
                let _ = write!(line, " {d} {s:5.1}/{v:5.1}");
                doms.push((d.clone(), s, *v));
            }
            let _ = write!(line, "  total {:5.1}/{:5.1}", total(&st), total(&rt));
            let _ = writeln!(report, "{line}");
            rows.push((case.clone(), doms));
            // Acceptance for rtsched.
            if sc == "table-4-2" {
                let k: usize = case.trim_start_matches("k=").parse().unwrap_or(0);
                let rtv = rt.get("rt").copied().unwrap_or(0.0);
                if (rtv - 40.0).abs() > 2.0 {
                    failures.push(format!("{case}: RT VM {rtv:.1}%, not 40% +- 2%"));
                }
                if k >= 1 {
                    let even = (100.0 - rtv) / k as f64;
                    for i in 1..=k {
                        let v = rt.get(&format!("nrt{i}")).copied().unwrap_or(0.0);
                        if (v - even).abs() > 2.0 {
                            failures.push(format!("{case}: nrt{i} {v:.1}% vs even {even:.1}%"));
                        }
                    }
                    if total(&rt) < 98.0 {
                        failures.push(format!("{case}: total {:.1}%", total(&rt)));
                    }
                }
            }
            if sc == "isolation" {
                for (d, want) in [("c2", 20.0), ("c3", 30.0), ("c4", 40.0)] {
                    let v = rt.get(d).copied().unwrap_or(0.0);
                    if (v - want).abs() > 2.0 {
                        failures.push(format!("{case}: {d} {v:.1}% vs reservation {want}%"));
                    }
                }
                let hog = rt.get("hog").copied().unwrap_or(0.0);
                // With extratime the hog gets what the capped VMs leave; capped, its 5%.
                let capped: f64 = ["c2", "c3", "c4"]
                    .iter()
                    .map(|d| rt.get(*d).copied().unwrap_or(0.0))
                    .sum();
                let want = if case == "hog-capped" {
                    5.0
                } else {
                    100.0 - capped
                };
                if (hog - want).abs() > 2.0 {
                    failures.push(format!("{case}: hog {hog:.1}% vs {want}%"));
                }
            }
        }
        fs::write(dir.join(format!("{sc}.csv")), &csv)?;
        fs::write(dir.join(format!("{sc}.svg")), svg(sc, &rows))?;
    }
    let _ = writeln!(
        report,
        "\nclock anomalies logged (\"now is behind last_start\"): {anomalies:?}\nwall time {:.0} s",
        t0.elapsed().as_secs_f64()
    );
    print!("{report}");
    fs::write(dir.join("report.txt"), &report)?;
    if a.publish {
        let docs = root().join("docs").join("results");
        fs::create_dir_all(&docs)?;
        for e in fs::read_dir(&dir)? {
            let p: PathBuf = e?.path();
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
