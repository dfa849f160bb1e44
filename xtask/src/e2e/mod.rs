//! `cargo xtask e2e`: guests scheduled by rtsched and by Xen's C RTDS in a real (emulated)
//! Xen, side by side, with checks that can fail. Each build is booted under QEMU (stock C
//! RTDS, rtsched in rt-global, rtsched in rt-partition where placement decides) with
//! instruction counting, so guest time does not depend on the host's cores or load; the
//! dom0 script (`xtask/boot/e2e.sh`) creates PV guests, sets their parameters with the
//! unmodified `xl sched-rtds` (exit codes and read-back checked), and reports each domain's
//! CPU time in ns over each measurement interval, the guest PCPUs' idle time, and the
//! response times of periodic tasks running inside guests (`xtask/boot/rtjob.c`).
//!
//! Scenarios: `table-4-2` (dissertation Table 4.2), `isolation` (capped VMs beside a hog),
//! `global` (six VMs on 2 and 3 guest PCPUs, within the GFB bound with a margin and beyond
//! it), `policy-switch` (EDF vs DM and deferrable vs periodic vs CBS switched at run time through
//! hypfs, on sets where they must differ) and `csa` (in-guest task sets with VCPU
//! interfaces from compositional analysis). The checks per build are in [`checks`]; the
//! results go to `target/e2e/` (report, CSVs, charts).

mod chart;
mod checks;
mod csa;
mod parse;
mod sim;
mod spare;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::object;
use crate::util::{root, run as run_cmd, BuildLock};
use crate::xen::{boot_xen, build_xen, BootSpec, Clock};
use checks::{Check, Kind, Scenarios};
use parse::Boot;

/// Options of `cargo xtask e2e`.
#[derive(clap::Args)]
pub struct Args {
    /// Scenarios to run, comma separated (table-4-2, isolation, global, policy-switch, csa,
    /// unequal, spare). The default checks every scenario of the end-to-end issue on every
    /// build it applies to (`global` in a boot of its own with Xen's emul_tick, 8-13 min per
    /// build); CI names all but `global` (its time budget). On request: `table-4-2` (six
    /// boots more per build) and `spare`.
    #[arg(long, default_value = "isolation,policy-switch,unequal,csa,global")]
    pub scenarios: String,
    /// Seconds of each measurement interval (guest time).
    #[arg(long, default_value_t = 5)]
    pub measure: u32,
    /// Also copy the results to docs/results/.
    #[arg(long)]
    pub publish: bool,
    /// Builds to boot, comma separated (stock, rtsched, partition).
    #[arg(long, default_value = "stock,rtsched,partition")]
    pub builds: String,
    /// Guest clock.
    #[arg(long, value_enum, default_value = "icount")]
    pub clock: Clock,
    /// Instruction counting: 2^shift ns of guest time per emulated instruction.
    #[arg(long, default_value_t = 2)]
    pub shift: u32,
    /// Xen's `emul_tick`: a timer every N us on PCPU 0 (`xen-patch/common/0003-*`; 0: none).
    /// Under instruction counting QEMU runs the emulated PCPUs in turns that last until the
    /// machine's next timer deadline; the timer bounds the turns. Default: 500 when
    /// `global` runs under instruction counting (its guest PCPUs are busy at once), else 0
    /// (ARCHITECTURE.md, "End-to-end measurements").
    #[arg(long)]
    pub tick_us: Option<u32>,
    /// Guest PCPU counts of the `global` scenario, comma separated (2, 3).
    #[arg(long, default_value = "2,3")]
    pub global_cpus: String,
    /// Boots of each build; with 2 or more the run-to-run spread of every share is reported.
    #[arg(long, default_value_t = 1)]
    pub repeat: u32,
    /// Boot a deliberately broken rtsched instead (`skip-replenish`: a unit without
    /// extratime loses every 16th budget; `skip-quarter`: every 4th) and succeed only if the
    /// checks catch it: every reservation check of such a unit must fail, and under
    /// `skip-quarter` every real-time VM of `csa` must miss an in-guest deadline.
    #[arg(long)]
    pub fault: Option<String>,
    /// Evaluate the serial logs of the previous run (`target/e2e/serial-<build>-<n>.log`)
    /// instead of booting (to re-check or re-chart without the emulator).
    #[arg(long)]
    pub reuse: bool,
    /// Boots run side by side (default: the host's cores under instruction counting, where
    /// a boot's guest time does not depend on the host's load; one under the host's clock).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Seconds of xentrace recorded before each measurement (0: none). The traces, their
    /// xenalyze dumps and Gantt charts go to `target/e2e/xentrace/`.
    #[arg(long, default_value_t = 0)]
    pub xentrace: u32,
}

/// With `--xentrace`, the traces a boot printed, saved, decoded and charted under
/// `target/e2e/xentrace/` (report lines); else none.
fn publish_traces(a: &Args, run: &str, text: &str) -> Result<Vec<String>> {
    if a.xentrace == 0 {
        return Ok(Vec::new());
    }
    let dir = root().join("target").join("e2e").join("xentrace");
    crate::xentrace::publish(run, text, &dir)
}

/// Xen's `emul_tick` period (us) for runs of `global`. Measured on 2 PCPUs: without it
/// the guaranteed set moved by up to 0.26% of a PCPU between three boots and failed one
/// reservation check (29.76% for 30% +- 0.22%); with 500 us, 0.04% and every check passed
/// in four boots; with 100 us dom0 made almost no progress under the stress set.
const EMUL_TICK_US: u32 = 500;

/// Overhead per period (us) that the global scenario's guaranteed set leaves room for:
/// the scheduler's own time per job (two decisions, a context switch), bounded by the
/// hook times the run reports.
const GLOBAL_OVERHEAD_US: u64 = 100;
/// Overhead per job (us) the csa interfaces are computed with (the guest kernel's timer,
/// block and wake-up per job, under emulation); each run checks that no RT VM used more
/// CPU than its tasks with this overhead.
const CSA_OVERHEAD_US: u64 = 400;

/// The builds compared, in report order: name, stock flag, Xen options besides [`CLOCK`],
/// and the scenarios each runs.
const BUILDS: [(&str, bool, &str, &[&str]); 3] = [
    (
        "stock",
        true,
        "",
        &[
            "table-4-2",
            "isolation",
            "global",
            "csa",
            "unequal",
            "spare",
        ],
    ),
    (
        "rtsched",
        false,
        "",
        &[
            "table-4-2",
            "isolation",
            "global",
            "policy-switch",
            "csa",
            "unequal",
            "spare",
        ],
    ),
    (
        "partition",
        false,
        "rtsched_policy=partition",
        &["global", "unequal"],
    ),
];

/// One clock for all CPUs, given to every build (`xen-patch/common/0002-*`): under QEMU TCG
/// every virtual CPU reads the host's invariant TSC, but without CPUID's invariant-TSC bit
/// Xen rewrites the TSCs in a rendezvous every second, and a virtual CPU descheduled by the
/// host during it ends up milliseconds off (measured: 608 "now is behind last_start" in
/// one stock run).
const CLOCK: &str = "tsc=reliable clocksource=tsc";

/// A boot to make: a build, its repeat number, and the scenarios of each of its boots
/// (`global` boots apart with the tick, see [`run`]).
struct Pending<'a> {
    build: &'static str,
    stock: bool,
    xen_args: &'static str,
    n: u32,
    /// The build's name in file names (with the fault, if any).
    label: String,
    /// Where its serial output is kept.
    serial: PathBuf,
    groups: Vec<(Vec<&'a str>, u32)>,
}

/// One boot's results.
struct Run {
    build: &'static str,
    n: u32,
    boot: Boot,
    wall: f64,
    /// What the xentrace traces held (`--xentrace`).
    traces: Vec<String>,
    /// The spare scenario's probes.
    spare: spare::Probes,
}

/// Builds the Xen of a deliberately broken rtsched (object compiled with
/// `--cfg rtsched_mutant=...`), keeps its ELF aside and relinks the normal build.
fn mutant_xen(fault: &str) -> Result<PathBuf> {
    let cfg = fault_of(fault)?.cfg;
    // (Held until the normal hypervisor is relinked: nothing else builds or boots the
    // tree's ELF meanwhile.)
    let _lock = BuildLock::take()?;
    let xen = build_xen(false)?;
    let tree = xen.parent().context("xen tree")?.to_path_buf();
    let obj = object::build_object_variant(Some(cfg))?;
    let jobs = format!(
        "-j{}",
        std::thread::available_parallelism().map_or(2, |n| n.get())
    );
    let make = |dir: &std::path::Path| {
        run_cmd(
            Command::new("make")
                .current_dir(&tree)
                .arg(&jobs)
                .arg(format!("RTSCHED_DIR={}", dir.display())),
        )
    };
    make(obj.parent().context("object dir")?)?;
    let elf = root()
        .join("target")
        .join("xen")
        .join(format!("rtsched-{fault}.elf"));
    fs::copy(&xen, &elf)?;
    // Relink the normal hypervisor so nothing else boots the broken one (make goes by
    // timestamps: the normal object must be newer than what was just linked).
    run_cmd(Command::new("touch").arg(object::out_dir().join("librtsched.o")))?;
    make(&object::out_dir())?;
    println!("built the {fault} fault into {}", elf.display());
    Ok(elf)
}

/// Runs the scenarios on every build and writes the results.
pub fn run(a: &Args) -> Result<()> {
    let t0 = Instant::now();
    let requested: Vec<&str> = a.scenarios.split(',').filter(|s| !s.is_empty()).collect();
    let ms: Vec<u32> = a
        .global_cpus
        .split(',')
        .map(|m| m.trim().parse().context("--global-cpus"))
        .collect::<Result<_>>()?;
    if ms.iter().any(|m| !(2..=3).contains(m)) {
        bail!("--global-cpus takes 2 or 3 (QEMU runs 4 PCPUs, dom0 has PCPU 0)");
    }
    let sc = Scenarios {
        slop: if a.clock == Clock::Host { 2.0 } else { 0.0 },
        global: checks::global_sets(GLOBAL_OVERHEAD_US)
            .into_iter()
            .filter(|g| ms.contains(&g.0))
            .collect(),
        csa: checks::CsaSet::new(CSA_OVERHEAD_US)?,
    };
    let tick_us = a.tick_us.unwrap_or(
        if requested.contains(&"global") && a.clock == Clock::Icount {
            EMUL_TICK_US
        } else {
            0
        },
    );
    // With the default tick, `global` boots apart from the other scenarios (see below).
    let tick_split = a.tick_us.is_none() && tick_us > 0;
    let fault_elf = match (&a.fault, a.reuse) {
        (Some(f), false) => Some(mutant_xen(f)?),
        _ => None,
    };
    let mut global_args = format!(
        "rtsched_global_ms={}",
        sc.global
            .iter()
            .map(|g| g.0.to_string())
            .collect::<Vec<_>>()
            .join("+")
    );
    for (m, g, st) in &sc.global {
        let plus = |v: &[u64]| v.iter().map(u64::to_string).collect::<Vec<_>>().join("+");
        let _ = write!(
            global_args,
            " rtsched_global_guaranteed_m{m}={} rtsched_global_stress_m{m}={}",
            plus(g),
            plus(st)
        );
    }
    // The boots to make: each wanted build once per repeat.
    let mut boots: Vec<Pending> = Vec::new();
    for n in 1..=a.repeat.max(1) {
        for (build, stock, xen_args, only) in BUILDS {
            let wanted = if fault_elf.is_some() {
                build == "rtsched"
            } else {
                a.builds.split(',').any(|b| b == build)
            };
            let scenarios: Vec<&str> = requested
                .iter()
                .copied()
                .filter(|s| only.contains(s))
                .collect();
            if !wanted || scenarios.is_empty() {
                continue;
            }
            let label = match &a.fault {
                Some(f) => format!("{build}-fault-{f}"),
                None => build.to_string(),
            };
            let serial = root()
                .join("target")
                .join("e2e")
                .join(format!("serial-{label}-{n}.log"));
            // `global` gets Xen's emul_tick, a boot parameter; the other scenarios run
            // without it (its timer interrupts on PCPU 0 would be time the guest PCPUs do
            // not run in, see the csa scenario), so with both requested and the tick at
            // its default a build boots twice, and the two serial logs are kept as one.
            let groups: Vec<(Vec<&str>, u32)> = if tick_split && scenarios.len() > 1 {
                let (g, other): (Vec<&str>, Vec<&str>) =
                    scenarios.iter().partition(|s| **s == "global");
                if g.is_empty() {
                    vec![(other, 0)]
                } else {
                    vec![(other, 0), (g, tick_us)]
                }
            } else {
                vec![(scenarios.clone(), tick_us)]
            };
            boots.push(Pending {
                build,
                stock,
                xen_args,
                n,
                label,
                serial,
                groups,
            });
        }
    }
    // Every hypervisor is built before any boot starts (one build at a time, under the
    // build lock); then the boots run side by side, `--jobs` at a time. Under instruction
    // counting each boot's guest time is its own emulated instructions', so boots sharing
    // the host's cores measure what they measure alone, only later.
    if !a.reuse && fault_elf.is_none() {
        for stock in [true, false] {
            if boots.iter().any(|b| b.stock == stock) {
                build_xen(stock)?;
            }
        }
    }
    let jobs = match a.jobs {
        Some(j) => j.max(1),
        None if a.clock == Clock::Icount => {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
        // (Under the host's clock a boot's timing depends on the host's load.)
        None => 1,
    };
    // With boots side by side, a build's scenarios are dealt to up to `jobs` boots of
    // consecutive scenarios each (a boot takes about a minute; a scenario four or five).
    if jobs > 1 && !a.reuse {
        for b in &mut boots {
            b.groups = b
                .groups
                .drain(..)
                .flat_map(|(sc, tick)| {
                    let per = sc.len().div_ceil(jobs).max(1);
                    sc.chunks(per)
                        .map(|c| (c.to_vec(), tick))
                        .collect::<Vec<_>>()
                })
                .collect();
        }
    }
    // One job per boot: (build's index, boot's index among its groups).
    let work: Vec<(usize, usize)> = boots
        .iter()
        .enumerate()
        .flat_map(|(i, b)| (0..b.groups.len()).map(move |g| (i, g)))
        .collect();
    let many = jobs > 1 && work.len() > 1;
    let boot_group = |b: &Pending, g: usize| -> Result<String> {
        let (scenarios, tick_us) = b.groups.get(g).context("boot group")?;
        let prefix = if many {
            format!("[{}-{}.{}] ", b.label, b.n, g + 1)
        } else {
            String::new()
        };
        let dom0_args = format!(
            "rtsched_mode=e2e rtsched_scenarios={} rtsched_measure={} rtsched_xentrace={} \
             {global_args} {} {}",
            // QEMU splits -initrd at commas.
            scenarios.join("+"),
            a.measure,
            a.xentrace,
            sc.csa.dom0_args(),
            spare::dom0_args()
        );
        // A trace is copied out over the console: room for it in Xen's serial buffer.
        let tracing = if a.xentrace > 0 {
            " serial_tx_buffer=4M"
        } else {
            ""
        };
        let tick = if *tick_us > 0 {
            format!(" emul_tick={tick_us}")
        } else {
            String::new()
        };
        let xen_args = format!("{CLOCK}{tracing}{tick} {}", b.xen_args);
        let r = boot_xen(&BootSpec {
            stock: b.stock,
            xen_args: xen_args.trim_end(),
            dom0_args: &dom0_args,
            dom0_vcpus: 1,
            timeout_s: 3600,
            hang_s: 600,
            debug: false,
            tag: &format!("e2e{}-", scenarios.join("+")),
            icount: a.clock.icount(a.shift),
            xen_elf: fault_elf.as_deref(),
            prefix: &prefix,
        })?;
        Ok(r.text)
    };
    let t_boots = Instant::now();
    let next = AtomicUsize::new(0);
    let done: Mutex<Vec<(usize, Result<String>, f64)>> = Mutex::new(Vec::new());
    if !a.reuse {
        std::thread::scope(|s| {
            for _ in 0..jobs.min(work.len()) {
                s.spawn(|| loop {
                    let k = next.fetch_add(1, AtomicOrdering::Relaxed);
                    let Some(&(i, g)) = work.get(k) else { break };
                    let tb = Instant::now();
                    let r = boots.get(i).context("boot").and_then(|b| boot_group(b, g));
                    let wall = tb.elapsed().as_secs_f64();
                    done.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((k, r, wall));
                });
            }
        });
    }
    let mut done = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|d| d.0);
    // Each build's boots, in scenario order, make its serial log.
    let mut texts: Vec<(String, f64)> = vec![(String::new(), 0.0); boots.len()];
    for (k, r, wall) in done {
        let (i, _) = work.get(k).copied().context("boot job")?;
        let text = r?;
        let t = texts.get_mut(i).context("boot job")?;
        t.0.push_str(&text);
        t.0.push('\n');
        t.1 += wall;
    }
    let mut runs: Vec<Run> = Vec::new();
    for (b, (text, wall)) in boots.iter().zip(texts) {
        let text = if a.reuse {
            fs::read_to_string(&b.serial)
                .with_context(|| format!("--reuse: {}", b.serial.display()))?
        } else {
            fs::create_dir_all(b.serial.parent().context("target/e2e")?)?;
            fs::write(&b.serial, &text)?;
            text
        };
        runs.push(Run {
            build: b.build,
            n: b.n,
            boot: parse::parse(&text)?,
            wall,
            traces: publish_traces(a, &format!("{}-{}", b.label, b.n), &text)?,
            spare: spare::parse(&text),
        });
    }
    if !a.reuse && many {
        println!(
            "e2e: {} boots, {jobs} at a time, took {:.0} s",
            work.len(),
            t_boots.elapsed().as_secs_f64()
        );
    }
    // (A fault run's results go apart: it may run beside a normal one.)
    let dir = match &a.fault {
        Some(f) => root().join("target").join("e2e").join(format!("fault-{f}")),
        None => root().join("target").join("e2e"),
    };
    fs::create_dir_all(&dir)?;
    let mut checks: Vec<Check> = Vec::new();
    let mut report = String::new();
    let clock = match a.clock {
        Clock::Icount => format!(
            "instruction counting, shift {} ({} ns per instruction)",
            a.shift,
            1u64 << a.shift
        ),
        Clock::Host => "host clock".to_string(),
    };
    let clock = match tick_us {
        0 => clock,
        t if tick_split && requested.len() > 1 => format!(
            "{clock}, Xen's emul_tick every {t} us on PCPU 0 in the boots of `global` (the other scenarios boot without it)"
        ),
        t => format!("{clock}, Xen's emul_tick every {t} us on PCPU 0"),
    };
    let _ = writeln!(
        report,
        "cargo xtask e2e: {} run(s) of a build in {} boot(s), {jobs} at a time, guest clock: \
         {clock}, {} s per measurement",
        runs.len(),
        work.len(),
        a.measure
    );
    for r in &runs {
        for f in &r.boot.failures {
            checks.push(Check {
                build: r.build.into(),
                scenario: "steps".into(),
                case: format!("run {}", r.n),
                kind: Kind::Assumption,
                detail: format!("step failed: {f}"),
                ok: false,
            });
        }
        for ((s, case), iv) in r
            .boot
            .intervals
            .iter()
            .filter(|(k, _)| requested.contains(&k.0.as_str()))
        {
            let jobs = r
                .boot
                .jobs
                .get(&(s.clone(), case.clone()))
                .map_or(&[][..], Vec::as_slice);
            checks.extend(checks::check(&sc, r.build, s, case, iv, jobs));
        }
        if requested.contains(&"spare")
            && BUILDS
                .iter()
                .any(|b| b.0 == r.build && b.3.contains(&"spare"))
        {
            checks.extend(spare::checks(
                r.build,
                &r.spare,
                &r.boot.intervals,
                &r.boot.stats,
            ));
        }
    }
    // Every requested scenario must have been measured on every build it applies to.
    for s in &requested {
        for r in &runs {
            let applies = BUILDS.iter().any(|b| b.0 == r.build && b.3.contains(s));
            if applies && !r.boot.intervals.keys().any(|k| k.0 == *s) {
                checks.push(Check {
                    build: r.build.into(),
                    scenario: s.to_string(),
                    case: format!("run {}", r.n),
                    kind: Kind::Assumption,
                    detail: "no measurements".into(),
                    ok: false,
                });
            }
        }
    }
    let builds: Vec<&str> = BUILDS
        .iter()
        .map(|b| b.0)
        .filter(|b| runs.iter().any(|r| r.build == *b))
        .collect();
    let mut max_spread: Option<(f64, String)> = None;
    for s in &requested {
        let mut csv = String::from("build,run,case,domain,cpu_share_pct\n");
        let cases: Vec<String> = runs
            .iter()
            .flat_map(|r| {
                r.boot
                    .intervals
                    .keys()
                    .filter(|k| k.0 == *s)
                    .map(|k| k.1.clone())
            })
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let cases = order_cases(s, cases);
        let here: Vec<&str> = builds
            .iter()
            .copied()
            .filter(|b| {
                runs.iter()
                    .any(|r| r.build == *b && r.boot.intervals.keys().any(|k| k.0 == *s))
            })
            .collect();
        if here.is_empty() {
            continue;
        }
        let _ = writeln!(
            report,
            "\n{s} (CPU share in % of one PCPU, mean of runs: {})",
            here.join(" / ")
        );
        let mut rows = Vec::new();
        for case in &cases {
            let key = (s.to_string(), case.clone());
            let mut line = format!("  {case:18}");
            let mut bars: BTreeMap<String, Vec<f64>> = BTreeMap::new();
            for (bi, b) in here.iter().enumerate() {
                let ivs: Vec<&parse::Interval> = runs
                    .iter()
                    .filter(|r| r.build == *b)
                    .filter_map(|r| r.boot.intervals.get(&key))
                    .collect();
                for r in runs.iter().filter(|r| r.build == *b) {
                    if let Some(iv) = r.boot.intervals.get(&key) {
                        for (d, v) in &iv.share {
                            let _ = writeln!(csv, "{b},{},{case},{d},{v:.3}", r.n);
                        }
                        for (c, v) in &iv.idle {
                            let _ = writeln!(csv, "{b},{},{case},idle-{c},{v:.3}", r.n);
                        }
                    }
                }
                for (d, (lo, hi)) in checks::spread(&ivs) {
                    let mean = ivs.iter().filter_map(|iv| iv.share.get(&d)).sum::<f64>()
                        / ivs.len() as f64;
                    bars.entry(d.clone())
                        .or_insert_with(|| vec![f64::NAN; here.len()])[bi] = mean;
                    if ivs.len() >= 2 && max_spread.as_ref().is_none_or(|m| hi - lo > m.0) {
                        max_spread = Some((hi - lo, format!("{b} {s} {case} {d}")));
                    }
                }
            }
            for (d, vals) in &bars {
                let cells: Vec<String> = vals.iter().map(|v| format!("{v:.2}")).collect();
                let _ = write!(line, " {d} {}", cells.join("/"));
            }
            let _ = writeln!(report, "{line}");
            rows.push((case.clone(), bars.into_iter().collect::<Vec<_>>()));
        }
        if a.repeat >= 2 {
            let _ = writeln!(
                report,
                "  run-to-run spread (max - min over {} runs), % of a PCPU:",
                a.repeat
            );
            for case in &cases {
                let key = (s.to_string(), case.clone());
                let mut line = format!("    {case:16}");
                for b in &here {
                    let ivs: Vec<&parse::Interval> = runs
                        .iter()
                        .filter(|r| r.build == *b)
                        .filter_map(|r| r.boot.intervals.get(&key))
                        .collect();
                    let sp: Vec<String> = checks::spread(&ivs)
                        .iter()
                        .map(|(d, (lo, hi))| format!("{d} {:.2}", hi - lo))
                        .collect();
                    if !sp.is_empty() {
                        let _ = write!(line, " {b}: {}", sp.join(" "));
                    }
                }
                let _ = writeln!(report, "{line}");
            }
        }
        fs::write(dir.join(format!("{s}.csv")), &csv)?;
        fs::write(dir.join(format!("{s}.svg")), chart::shares(s, &here, &rows))?;
        if *s == "csa" {
            csa_outputs(&runs, &here, &sc, &dir, &mut report)?;
        }
        if *s == "spare" {
            let r: Vec<_> = runs
                .iter()
                .map(|r| (r.build, r.n, &r.spare, &r.boot.intervals))
                .collect();
            let (csv, svg) = spare::outputs(&r, &mut report);
            fs::write(dir.join("spare-probes.csv"), csv)?;
            fs::write(dir.join("spare-response.svg"), svg)?;
        }
    }
    if let Some((v, what)) = &max_spread {
        let _ = writeln!(
            report,
            "\nlargest run-to-run spread of a share: {v:.2}% of a PCPU ({what}); goal < 0.5%"
        );
    }
    if requested.contains(&"global") {
        let _ = writeln!(
            report,
            "\nglobal sets (budgets in us, period 10 ms; guaranteed passes GFB with {GLOBAL_OVERHEAD_US} us added per budget):"
        );
        for (m, g, st) in &sc.global {
            let _ = writeln!(report, "  m = {m}: guaranteed {g:?}, stress {st:?}");
        }
    }
    for r in &runs {
        let b = r.build;
        let _ = writeln!(
            report,
            "{b} run {}: wall {:.0} s (its boots together); clock anomalies logged (\"now is behind last_start\"): {}",
            r.n, r.wall, r.boot.anomalies
        );
        if r.n == 1 {
            for p in r.boot.place.iter().filter(|_| b == "partition") {
                let _ = writeln!(report, "{b}: placement {p}");
            }
            for s in &r.boot.stats {
                let _ = writeln!(report, "{b}: {s}");
            }
        }
        for n in &r.boot.notes {
            let _ = writeln!(report, "{b} run {}: note: {n}", r.n);
        }
        for t in &r.traces {
            let _ = writeln!(report, "{b} run {}: xentrace {t}", r.n);
        }
    }
    let _ = writeln!(report, "\nchecks:");
    let mut summary: BTreeMap<(String, Kind), (u32, u32)> = BTreeMap::new();
    for c in &checks {
        let e = summary.entry((c.build.clone(), c.kind)).or_default();
        if c.ok {
            e.0 += 1;
        } else {
            e.1 += 1;
        }
    }
    for ((b, k), (p, f)) in &summary {
        let _ = writeln!(report, "  {b}: {} {p} passed, {f} failed", k.name());
    }
    let _ = writeln!(report, "wall time {:.0} s", t0.elapsed().as_secs_f64());
    print!("{report}");
    let mut log = String::new();
    for c in &checks {
        let _ = writeln!(
            log,
            "{} {} {} {} [{}] {}",
            if c.ok { "ok  " } else { "FAIL" },
            c.build,
            c.scenario,
            c.case,
            c.kind.name(),
            c.detail
        );
    }
    fs::write(dir.join("checks.txt"), &log)?;
    fs::write(dir.join("report.txt"), format!("{report}\n{log}"))?;
    let failed: Vec<&Check> = checks.iter().filter(|c| !c.ok).collect();
    if let Some(fault) = &a.fault {
        return judge_fault(fault, &checks);
    }
    if a.publish {
        let docs = root().join("docs").join("results");
        fs::create_dir_all(&docs)?;
        for e in fs::read_dir(&dir)? {
            let p: PathBuf = e?.path();
            if !p.is_file() {
                continue;
            }
            let name = p.file_name().unwrap_or_default();
            // The serial logs stay in target/ (megabytes each).
            if !name.to_string_lossy().starts_with("serial-") {
                fs::copy(&p, docs.join(name))?;
            }
        }
    }
    for f in &failed {
        println!(
            "FAIL {} {} {} [{}] {}",
            f.build,
            f.scenario,
            f.case,
            f.kind.name(),
            f.detail
        );
    }
    if !failed.is_empty() {
        bail!(
            "{} of {} checks failed (all in {})",
            failed.len(),
            checks.len(),
            dir.join("checks.txt").display()
        );
    }
    for b in &builds {
        let mine: Vec<&Check> = checks.iter().filter(|c| c.build == *b).collect();
        let kinds: BTreeSet<&str> = mine.iter().map(|c| c.kind.name()).collect();
        let scen: BTreeSet<&str> = mine.iter().map(|c| c.scenario.as_str()).collect();
        let whose = if *b == "stock" {
            "stock RTDS's expectations (promises and known failures)"
        } else {
            "rtsched's guarantees"
        };
        println!(
            "e2e: {b}: {} checks of {whose} passed ({}; scenarios {})",
            mine.len(),
            kinds.into_iter().collect::<Vec<_>>().join(", "),
            scen.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    println!("e2e: results in {}", dir.display());
    Ok(())
}

/// Cases in the order they ran (k=0..5, phases of a switch), not alphabetically.
fn order_cases(sc: &str, mut cases: Vec<String>) -> Vec<String> {
    let order: &[&str] = match sc {
        "policy-switch" => &[
            "edf",
            "dm",
            "deferrable",
            "periodic",
            "cbs",
            "deferrable-again",
        ],
        "isolation" => &["hog-extratime", "hog-capped"],
        "unequal" => &[
            "k=2",
            "rt-extratime",
            "rtds-order-rt-extratime",
            "rtds-order-k=2",
        ],
        "global" => &["guaranteed-m2", "stress-m2", "guaranteed-m3", "stress-m3"],
        "spare" => &["calibrate", "no-pool", "pool-unhooked", "pool"],
        _ => &[],
    };
    cases.sort_by_key(|c| {
        (
            order.iter().position(|o| o == c).unwrap_or(usize::MAX),
            c.clone(),
        )
    });
    cases
}

/// The csa scenario's task table, CSV and response-time chart.
fn csa_outputs(
    runs: &[Run],
    here: &[&str],
    sc: &Scenarios,
    dir: &std::path::Path,
    report: &mut String,
) -> Result<()> {
    let _ = writeln!(
        report,
        "  interfaces (PRM, fixed priority inside, {} us overhead per job): {}",
        sc.csa.overhead,
        sc.csa
            .vms
            .iter()
            .map(|(n, t, th)| {
                let tasks: Vec<String> = t
                    .iter()
                    .map(|t| format!("{}/{}", t.exec, t.period))
                    .collect();
                format!("{n} [{}] -> ({}, {th}) us", tasks.join(" "), sc.csa.period)
            })
            .collect::<Vec<_>>()
            .join("; ")
    );
    let mut csv =
        String::from("build,run,domain,task,period_us,exec_us,jobs,misses,min_us,max_us\n");
    let mut hist_csv = String::from("build,domain,task,response_us,jobs\n");
    let mut curves = Vec::new();
    for (bi, b) in here.iter().enumerate() {
        let mut merged: BTreeMap<(String, String), (u64, BTreeMap<u64, u64>)> = BTreeMap::new();
        let (mut jobs, mut misses) = (0, 0);
        for r in runs.iter().filter(|r| r.build == *b) {
            // Tasks that never reported (a starved VM) missed all their jobs.
            for (name, tasks, _) in &sc.csa.vms {
                for t in tasks {
                    let reported = r
                        .boot
                        .jobs
                        .values()
                        .flatten()
                        .any(|j| &j.dom == name && j.period == t.period);
                    if !reported {
                        let n = sc.csa.run_ms * 1000 / t.period.max(1);
                        let _ = writeln!(
                            csv,
                            "{b},{},{name},(no report),{},{},{n},{n},,",
                            r.n, t.period, t.exec
                        );
                        jobs += n;
                        misses += n;
                    }
                }
            }
            for j in r.boot.jobs.values().flatten() {
                let _ = writeln!(
                    csv,
                    "{b},{},{},{},{},{},{},{},{},{}",
                    r.n, j.dom, j.task, j.period, j.exec, j.jobs, j.misses, j.min, j.max
                );
                jobs += j.jobs;
                misses += j.misses;
                let e = merged
                    .entry((j.dom.clone(), j.task.clone()))
                    .or_insert((j.period, BTreeMap::new()));
                for (resp, n) in &j.hist {
                    *e.1.entry(*resp).or_default() += n;
                }
            }
        }
        let _ = writeln!(
            report,
            "  {b}: {misses} of {jobs} jobs missed their deadline ({:.2}%)",
            100.0 * misses as f64 / (jobs.max(1)) as f64
        );
        for (ti, ((dom, task), (period, h))) in merged.into_iter().enumerate() {
            for (resp, n) in &h {
                let _ = writeln!(hist_csv, "{b},{dom},{task},{resp},{n}");
            }
            curves.push((
                format!("{dom} {task} ({} ms)", period / 1000),
                bi,
                ti,
                period,
                h.into_iter().collect(),
            ));
        }
    }
    fs::write(dir.join("csa-tasks.csv"), csv)?;
    fs::write(dir.join("csa-response.csv"), hist_csv)?;
    fs::write(
        dir.join("csa-response.svg"),
        chart::response_cdf("csa", here, &curves),
    )?;
    Ok(())
}

/// A deliberately broken build (`--fault`).
struct Fault {
    /// Its name on the command line.
    name: &'static str,
    /// The `--cfg rtsched_mutant` value its object is built with (`rtsched/src/unit.rs`).
    cfg: &'static str,
    /// Whether every real-time VM of `csa` must miss an in-guest deadline under it.
    csa_misses: bool,
}

/// The faults `--fault` knows: a unit without extratime loses every 16th budget, which
/// stays within the csa interfaces' slack, or every 4th, which does not.
const FAULTS: [Fault; 2] = [
    Fault {
        name: "skip-replenish",
        cfg: "skip_replenish",
        csa_misses: false,
    },
    Fault {
        name: "skip-quarter",
        cfg: "skip_quarter",
        csa_misses: true,
    },
];

fn fault_of(name: &str) -> Result<&'static Fault> {
    FAULTS.iter().find(|f| f.name == name).with_context(|| {
        let known: Vec<&str> = FAULTS.iter().map(|f| f.name).collect();
        format!("unknown fault {name} (known: {})", known.join(", "))
    })
}

/// A fault run passes only if every reservation check of a unit without extratime failed
/// (the fault takes 1/16 or 1/4 of their budgets, far beyond the tolerance). The floor of a
/// unit with extratime (`Kind::Floor`) is not among them: the background class makes up
/// what the fault takes. Under `skip-quarter` every real-time VM of `csa` must also miss an
/// in-guest deadline: a quarter of its budget is beyond its interface's slack, where a
/// sixteenth is not (its largest response grew from 31.0 to 37.1 ms of a 40 ms deadline).
pub(crate) fn judge_fault(fault: &str, checks: &[Check]) -> Result<()> {
    let res: Vec<&Check> = checks
        .iter()
        .filter(|c| c.kind == Kind::Reservation)
        .collect();
    let caught: Vec<&&Check> = res.iter().filter(|c| !c.ok).collect();
    let others: Vec<&Check> = checks
        .iter()
        .filter(|c| !c.ok && c.kind != Kind::Reservation)
        .collect();
    // The csa VMs whose tasks' deadline checks ran, and whether each missed one.
    let mut vms: BTreeMap<&str, bool> = BTreeMap::new();
    if fault_of(fault)?.csa_misses {
        for c in checks {
            if let Some(vm) = checks::csa_task_vm(c) {
                *vms.entry(vm).or_insert(false) |= !c.ok;
            }
        }
    }
    for c in &caught {
        println!(
            "caught: {} {} [{}] {}",
            c.scenario,
            c.case,
            c.kind.name(),
            c.detail
        );
    }
    for c in &others {
        println!(
            "also failed: {} {} [{}] {}",
            c.scenario,
            c.case,
            c.kind.name(),
            c.detail
        );
    }
    if res.is_empty() && vms.is_empty() {
        bail!("fault {fault}: the scenarios run have no check the fault must fail");
    }
    let met: Vec<&str> = vms.iter().filter(|(_, m)| !**m).map(|(v, _)| *v).collect();
    if caught.len() != res.len() || !met.is_empty() {
        for c in res.iter().filter(|c| c.ok) {
            println!("MISSED: {} {} {}", c.scenario, c.case, c.detail);
        }
        for v in &met {
            println!("MISSED: csa {v}: every deadline met");
        }
        bail!(
            "fault {fault}: {} of {} reservation checks and {} of {} csa VMs missed it",
            res.len() - caught.len(),
            res.len(),
            met.len(),
            vms.len()
        );
    }
    let mut what = Vec::new();
    if !res.is_empty() {
        what.push(format!(
            "failed all {} reservation checks of capped units",
            res.len()
        ));
    }
    if !vms.is_empty() {
        what.push(format!("missed deadlines in all {} csa VMs", vms.len()));
    }
    println!(
        "e2e --fault {fault}: the broken build {} ({} other checks failed too)",
        what.join(" and "),
        others.len()
    );
    Ok(())
}
