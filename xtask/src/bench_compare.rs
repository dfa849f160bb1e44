//! `cargo xtask bench-compare --base REV`: the effect of a change on the benchmark's
//! headline, measured in pairs.
//!
//! A single run of `cargo bench -p difftest` is compared with rt.c in the same process, but
//! two runs on a shared VM differ by much more than a change of a few per cent (see the
//! hook-cost section of ARCHITECTURE.md). So the benchmark binary of the working tree and
//! that of `REV` (exported with `git archive`, built in `target/bench-compare/`) are run
//! alternately, `--runs` times each, on a subset of workloads. In every run each workload's
//! headline ratio (total scheduler time rtsched / rt.c, median of the run's rounds) is
//! read; rt.c is the control within each process, so the change's effect on a workload is
//! the ratio of the two builds' ratios in the same pair of runs: reported as the median over
//! the pairs with the lowest and highest, per workload and over all of them (below 1: the
//! working tree is faster against rt.c).
//!
//! Both builds embed the same source paths (`--remap-path-prefix`, `-ffile-prefix-map`):
//! otherwise the paths' strings alone move the code's layout, and two builds of the same
//! source differed by 7% in these ratios (ARCHITECTURE.md, hook-cost section). A change's
//! own layout still moves them by as much, so a change of a few per cent is measured with
//! `--instructions`: each workload's marked replay (`BENCH_PROFILE=marked-...`) once per
//! build under callgrind, counting the instructions of the hook calls only (deterministic:
//! one run suffices; needs valgrind, Debian's `valgrind` package).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::util::{root, run};

#[derive(clap::Args)]
pub struct Args {
    /// The revision to compare the working tree with (anything `git archive` takes).
    #[arg(long, default_value = "HEAD")]
    base: String,
    /// Runs of each build, alternating (the first build of a pair alternates too).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Workload shapes (`BENCH_SHAPES`).
    #[arg(long, default_value = "global,table-4.2,pinned,mixed")]
    shapes: String,
    /// Unit counts (`BENCH_UNITS`).
    #[arg(long, default_value = "8,64")]
    units: String,
    /// CPU counts (`BENCH_CPUS`).
    #[arg(long, default_value = "4,16")]
    cpus: String,
    /// Rounds per run (`BENCH_ROUNDS`).
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Count the hooks' instructions under callgrind instead of timing (rt.c's too, stock and
    /// with its replenishment queue by deadline).
    #[arg(long)]
    instructions: bool,
}

/// One workload of a run: (shape, units, CPUs) and its headline ratio.
type Workload = (String, u32, u32);

/// The headline ratios of a benchmark run's report lines (`<shape> <n> units <c> cpus:
/// total <a> / <b> ns  ratio <r> [...]`); other lines are skipped.
pub fn parse_ratios(report: &str) -> Vec<(Workload, f64)> {
    let mut out = Vec::new();
    for line in report.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(&"units"), Some(&"cpus:"), Some(&"total")) = (f.get(2), f.get(4), f.get(5))
        else {
            continue;
        };
        let Some(i) = f.iter().position(|w| *w == "ratio") else {
            continue;
        };
        let (Ok(u), Ok(c), Some(Ok(r))) = (
            f[1].parse::<u32>(),
            f[3].parse::<u32>(),
            f.get(i + 1).map(|w| w.parse::<f64>()),
        ) else {
            continue;
        };
        out.push(((f[0].to_string(), u, c), r));
    }
    out
}

/// The median, lowest and highest of a non-empty list.
fn spread(v: &[f64]) -> (f64, f64, f64) {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    let med = if n % 2 == 1 {
        s[n / 2]
    } else {
        (s[n / 2 - 1] + s[n / 2]) / 2.0
    };
    (med, s[0], s[n - 1])
}

/// Builds the benchmark binary of the workspace at `src` into `target`; returns its path.
fn build_bench(src: &Path, target: &Path) -> Result<PathBuf> {
    let mut cmd = Command::new(env!("CARGO"));
    // (The same embedded paths in both builds, see the module docs.)
    let src_s = src.display();
    cmd.current_dir(src)
        .env("CARGO_TARGET_DIR", target)
        .env("RUSTFLAGS", format!("--remap-path-prefix={src_s}=/rtsched"))
        .env("CFLAGS", format!("-ffile-prefix-map={src_s}=/rtsched"))
        .args(["bench", "-p", "difftest", "--bench", "hooks", "--no-run"])
        .args(["--message-format=json-render-diagnostics"]);
    // rt.c's source: the working copy's Xen tree (fetched once), for both builds.
    if std::env::var_os("RTSCHED_XEN_SRC").is_none() {
        cmd.env("RTSCHED_XEN_SRC", crate::xen::source_tree()?);
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    if !out.status.success() {
        bail!("building the benchmark in {} failed", src.display());
    }
    bench_executable(&String::from_utf8_lossy(&out.stdout), "hooks")
        .with_context(|| format!("the build of {}", src.display()))
}

/// The executable of benchmark target `name` in the output of a cargo build with
/// `--message-format=json-render-diagnostics`.
pub fn bench_executable(json: &str, name: &str) -> Result<PathBuf> {
    for line in json.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["reason"] == "compiler-artifact" && v["target"]["name"] == name {
            if let Some(exe) = v["executable"].as_str() {
                return Ok(PathBuf::from(exe));
            }
        }
    }
    bail!("no executable of the benchmark target {name}")
}

/// Exports `rev` of the repository into `dir` (emptied first).
fn export(rev: &str, dir: &Path) -> Result<()> {
    if dir.exists() {
        fs::remove_dir_all(dir).with_context(|| format!("cannot empty {}", dir.display()))?;
    }
    fs::create_dir_all(dir)?;
    let mut git = Command::new("git")
        .current_dir(root())
        .args(["archive", "--format=tar", rev])
        .stdout(Stdio::piped())
        .spawn()
        .context("cannot start git archive")?;
    let tar_in = git.stdout.take().context("git archive's output")?;
    run(Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dir)
        .stdin(tar_in))?;
    if !git.wait()?.success() {
        bail!("git archive {rev} failed");
    }
    Ok(())
}

pub fn run_compare(a: &Args) -> Result<()> {
    if a.runs == 0 {
        bail!("--runs must be at least 1");
    }
    let work = root().join("target/bench-compare");
    let base_src = work.join("base-src");
    eprintln!("exporting {} into {}", a.base, base_src.display());
    export(&a.base, &base_src)?;
    let base = build_bench(&base_src, &work.join("base-target"))?;
    let new = build_bench(&root(), &work.join("new-target"))?;
    if a.instructions {
        return compare_instructions(a, &base, &new);
    }
    let one_run = |exe: &Path| -> Result<BTreeMap<Workload, f64>> {
        let out = Command::new(exe)
            .arg("--bench")
            .env("BENCH_SHAPES", &a.shapes)
            .env("BENCH_UNITS", &a.units)
            .env("BENCH_CPUS", &a.cpus)
            .env("BENCH_ROUNDS", a.rounds.to_string())
            .env_remove("BENCH_WRITE")
            .env_remove("BENCH_PROFILE")
            .output()
            .with_context(|| format!("cannot run {}", exe.display()))?;
        if !out.status.success() {
            bail!(
                "{} failed: {}\n{}",
                exe.display(),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let r: BTreeMap<Workload, f64> = parse_ratios(&String::from_utf8_lossy(&out.stderr))
            .into_iter()
            .collect();
        if r.is_empty() {
            bail!("{} reported no workload", exe.display());
        }
        Ok(r)
    };
    // Per workload: (base ratios, working-tree ratios), one of each per pair.
    let mut pairs: BTreeMap<Workload, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    for i in 0..a.runs {
        eprintln!("pair {} of {}", i + 1, a.runs);
        let (b, n) = if i % 2 == 0 {
            let b = one_run(&base)?;
            (b, one_run(&new)?)
        } else {
            let n = one_run(&new)?;
            (one_run(&base)?, n)
        };
        for (w, rb) in b {
            if let Some(rn) = n.get(&w) {
                let e = pairs.entry(w).or_default();
                e.0.push(rb);
                e.1.push(*rn);
            }
        }
    }
    println!(
        "Working tree against {} ({} alternating runs of each build, {} rounds each): \
         rtsched / rt.c total per workload, median over the runs, and the change as the \
         median (lowest-highest) over the pairs of working tree / base.",
        a.base, a.runs, a.rounds
    );
    println!("| shape | units | CPUs | base | working tree | change |");
    println!("|---|---:|---:|---:|---:|---:|");
    let mut all = Vec::new();
    for ((shape, u, c), (b, n)) in &pairs {
        let ch: Vec<f64> = b.iter().zip(n).map(|(b, n)| n / b).collect();
        all.extend_from_slice(&ch);
        let (cm, cl, ch) = spread(&ch);
        println!(
            "| {shape} | {u} | {c} | {:.4e} | {:.4e} | {cm:.3} ({cl:.3}-{ch:.3}) |",
            spread(b).0,
            spread(n).0
        );
    }
    if all.is_empty() {
        bail!("no workload was reported by both builds");
    }
    let (m, l, h) = spread(&all);
    println!(
        "All {} pairs: {m:.3} ({l:.3}-{h:.3}); below 1 the working tree is faster.",
        all.len()
    );
    Ok(())
}

/// The workloads of the subset the arguments select.
fn workloads(a: &Args) -> Vec<Workload> {
    let list = |s: &str| -> Vec<String> {
        s.split(',')
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty())
            .collect()
    };
    let mut out = Vec::new();
    for shape in list(&a.shapes) {
        for u in list(&a.units).iter().filter_map(|x| x.parse().ok()) {
            for c in list(&a.cpus).iter().filter_map(|x| x.parse().ok()) {
                out.push((shape.clone(), u, c));
            }
        }
    }
    out
}

/// The instructions of the hook calls of one implementation's marked replay of `w`.
fn callgrind_count(exe: &Path, imp: &str, w: &Workload) -> Result<u64> {
    let out = Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--callgrind-out-file=/dev/null",
            "--toggle-collect=difftest::bench::mark_*",
        ])
        .arg(exe)
        .arg("--bench")
        .env("BENCH_PROFILE", format!("marked-{imp}"))
        .env("BENCH_SHAPES", &w.0)
        .env("BENCH_UNITS", w.1.to_string())
        .env("BENCH_CPUS", w.2.to_string())
        .output()
        .context("cannot start valgrind (Debian's valgrind package)")?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        bail!(
            "callgrind on {} failed: {}\n{err}",
            exe.display(),
            out.status
        );
    }
    parse_irefs(&err).with_context(|| format!("no instruction count from callgrind:\n{err}"))
}

/// The collected instruction count of callgrind's summary (`==pid== I   refs:   1,234`).
pub fn parse_irefs(report: &str) -> Option<u64> {
    let line = report.lines().find(|l| l.contains("I   refs:"))?;
    let n: String = line
        .split("I   refs:")
        .nth(1)?
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    n.parse().ok()
}

fn compare_instructions(a: &Args, base: &Path, new: &Path) -> Result<()> {
    println!(
        "Working tree against {}: instructions of the hook calls per workload (callgrind, \
         marked replays), and the change as working tree / base.",
        a.base
    );
    println!(
        "| shape | units | CPUs | rt.c | rt.c, queue by deadline | base | working tree | change \
         | working tree / rt.c | working tree / rt.c by deadline |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for w in workloads(a) {
        eprintln!("{} {} units {} CPUs", w.0, w.1, w.2);
        let xen = callgrind_count(new, "xen", &w)?;
        // (The same work where stock rt.c's timer falls behind: see the benchmark's report.)
        let replq = callgrind_count(new, "xen-replq", &w)?;
        let b = callgrind_count(base, "rtsched", &w)?;
        let n = callgrind_count(new, "rtsched", &w)?;
        let ch = n as f64 / b as f64;
        lo = lo.min(ch);
        hi = hi.max(ch);
        println!(
            "| {} | {} | {} | {xen} | {replq} | {b} | {n} | {ch:.4} | {:.3} | {:.3} |",
            w.0,
            w.1,
            w.2,
            n as f64 / xen as f64,
            n as f64 / replq as f64
        );
    }
    println!("Change over the workloads: {lo:.4} to {hi:.4} (below 1: fewer instructions).");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_headline_lines_only() {
        let report = "TSC 2.445 ticks/ns, step 25 ticks (10.2 ns)\n\
            global        8 units  4 cpus: total     954449 /     590286 ns  ratio 1.619 [1.593-1.658]  do_schedule 43.5 / 15.9 ns  overdue 0 / 0  cold ratio 1.238\n\
            cold table-4.2 8 4: ratio 1.200  per hook rtsched [] rt.c [] ns\n\
            mixed      4096 units 64 cpus: total    4270761 /   21114165 ns  ratio 0.201 [0.153-0.214]  do_schedule 212.0 / 160.5 ns  overdue 0 / 814\n\
            global     4096 units  4 cpus: total    2737917 /  523201638 ns  ratio 0.005233 [0.005226-0.005301]  do_schedule 111.8 / 60.0 ns  overdue 0 / 0\n";
        let r = parse_ratios(report);
        assert_eq!(
            r,
            vec![
                (("global".to_string(), 8, 4), 1.619),
                (("mixed".to_string(), 4096, 64), 0.201),
                (("global".to_string(), 4096, 4), 0.005233)
            ]
        );
    }

    #[test]
    fn reads_callgrinds_count() {
        let r = "==12102== Collected : 9606172\n==12102== \n==12102== I   refs:      9,606,172\n";
        assert_eq!(parse_irefs(r), Some(9_606_172));
        assert_eq!(parse_irefs("no summary"), None);
    }

    #[test]
    fn spread_is_median_low_high() {
        assert_eq!(spread(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(spread(&[4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
    }
}
