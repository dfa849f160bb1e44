//! `cargo bench -p difftest`: the cost of rtsched and of Xen 4.17's rt.c on the same
//! workloads in the same process (method in `difftest::bench`): five workload shapes at 8,
//! 64, 512 and 4096 units on 4, 16 and 64 CPUs, the two implementations interleaved in
//! rounds. Writes `docs/results/bench.md` (method, headline, per-hook tables, memory) and
//! `docs/results/bench.svg` (ratio against units, per hook and in total).
//!
//! Environment: `BENCH_STEPS` host actions per run (default 20000), `BENCH_ROUNDS`
//! (default 7), `BENCH_SHAPES` / `BENCH_UNITS` / `BENCH_CPUS` (comma lists) to run a subset;
//! a subset writes nothing unless `BENCH_WRITE=1`. `BENCH_PROFILE=rtsched` (or `xen`) runs
//! only that implementation's batched replays, `BENCH_ROUNDS` times, for `perf record`;
//! `BENCH_PROFILE=marked-rtsched` (or `marked-xen`, `marked-xen-replq`: rt.c with its
//! replenishment queue ordered by deadline; `marked-rtsched-api`: rtsched through its Rust
//! API where `marked-rtsched` runs the object) replays that implementation's tape once with
//! every hook call in a function of its own, for instruction and cache counts under valgrind (`callgrind
//! --toggle-collect='difftest::bench::mark_*'`); `BENCH_PROFILE=cold` runs only the
//! cold-cache passes (`Pass::Cold`), both implementations, and prints them.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

use difftest::bench::{
    empty_fenced, empty_measurement, record, replay, rtsched_sizes, tsc_per_ns, Config, HookKind,
    Impl, Pass, Shape, Tape, EVICT_BYTES, OBJECT,
};
use difftest::xen::rt_struct_sizes;

const UNITS: [usize; 4] = [8, 64, 512, 4096];
const CPUS: [usize; 3] = [4, 16, 64];
/// The cold-cache pass ([`Pass::Cold`]) runs on workloads of up to this many units, over
/// this fraction of the measured span (each of its calls costs a read of the eviction
/// buffer, about 70 µs).
const COLD_UNITS: usize = 512;
const COLD_FRACTION: f64 = 0.1;

/// The implementations replayed, by index in a row's tapes and rounds: rtsched, rt.c and
/// (where rt.c's timer falls behind) rt.c with its replenishment queue ordered by deadline.
/// rtsched is the object linked into Xen, through its C ABI, where the build links it
/// (`OBJECT`: `cargo xtask bench`), else the Rust API; its tapes are recorded through the
/// Rust API either way, so each replay of the object checks that it decides as the Rust
/// build does.
const IMPLS: [Impl; 3] = [
    if OBJECT { Impl::Object } else { Impl::Rtsched },
    Impl::Xen,
    Impl::XenReplq,
];

/// One implementation in one round.
#[derive(Clone, Copy, Debug, Default)]
struct ImpRound {
    /// Batched total less the overhead pass, ns.
    total: f64,
    /// Per hook: mean, median, p99 (ns) from the per-call pass.
    mean: [f64; 5],
    median: [f64; 5],
    p99: [f64; 5],
    /// Sum over hooks of per-call means x calls, ns (to compare with `total`).
    per_call_sum: f64,
    /// Per-call readings dropped as preemptions of the benchmark.
    dropped: usize,
    /// Cold-cache pass: the sum of the per-call means x calls (ns; 0 when not run) and the
    /// per-hook means.
    cold_total: f64,
    cold_mean: [f64; 5],
    /// rtsched where the object is timed ([`OBJECT`]): the batched total of the same tape
    /// through the Rust API (the `bench` build), ns; 0 otherwise.
    api_total: f64,
}

struct Row {
    cfg: Config,
    calls: [[usize; 5]; 2],
    /// Replenishments each run left undone at its end (rtsched, rt.c; `Imp::overdue`).
    overdue: [usize; 2],
    /// Where rt.c's run left replenishments undone: the calls of the run of rt.c with its
    /// replenishment queue ordered by deadline (`Impl::XenReplq`), and what it left undone.
    replq: Option<([usize; 5], usize)>,
    /// Per round: rtsched, rt.c and, with `replq`, rt.c with the queue ordered by deadline.
    rounds: Vec<Vec<ImpRound>>,
}

/// Median, minimum and maximum.
#[derive(Clone, Copy, Debug)]
struct Spread {
    med: f64,
    lo: f64,
    hi: f64,
}

fn spread(mut v: Vec<f64>) -> Spread {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let med = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    Spread {
        med,
        lo: v[0],
        hi: v[n - 1],
    }
}

impl Row {
    /// The spread over rounds of `f(rtsched) / f(rt.c)`, the divisor at least `floor`.
    fn ratio(&self, f: impl Fn(&ImpRound) -> f64, floor: f64) -> Spread {
        spread(
            self.rounds
                .iter()
                .map(|r| f(&r[0]) / f(&r[1]).max(floor))
                .collect(),
        )
    }

    fn total_ratio(&self) -> Spread {
        self.ratio(|x| x.total, 1e-3)
    }

    fn hook_ratio(&self, h: HookKind) -> Spread {
        self.ratio(|x| x.mean[h as usize], 0.05)
    }

    /// Whether the cold-cache pass ran on this workload.
    fn has_cold(&self) -> bool {
        self.rounds
            .iter()
            .all(|r| r[0].cold_total > 0.0 && r[1].cold_total > 0.0)
    }

    fn cold_ratio(&self) -> Spread {
        self.ratio(|x| x.cold_total, 1e-3)
    }

    fn cold_hook_ratio(&self, h: HookKind) -> Spread {
        self.ratio(|x| x.cold_mean[h as usize], 1e-3)
    }

    /// The object's total against the Rust API's, where the object is timed.
    fn api_ratio(&self) -> Option<Spread> {
        self.rounds.iter().all(|r| r[0].api_total > 0.0).then(|| {
            spread(
                self.rounds
                    .iter()
                    .map(|r| r[0].total / r[0].api_total)
                    .collect(),
            )
        })
    }

    /// The total ratio against rt.c with its replenishment queue ordered by deadline.
    fn replq_ratio(&self) -> Option<Spread> {
        self.replq?;
        Some(spread(
            self.rounds
                .iter()
                .map(|r| r[0].total / r[2].total.max(1e-3))
                .collect(),
        ))
    }

    fn med(&self, i: usize, f: impl Fn(&ImpRound) -> f64) -> f64 {
        spread(self.rounds.iter().map(|r| f(&r[i])).collect()).med
    }
}

fn sh(cmd: &str) -> String {
    Command::new("sh")
        .args(["-c", cmd])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn env_list<T: Copy>(name: &str, all: &[T], parse: impl Fn(&str) -> Option<T>) -> Vec<T> {
    match std::env::var(name) {
        Ok(s) => s.split(',').filter_map(|x| parse(x.trim())).collect(),
        Err(_) => all.to_vec(),
    }
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

struct Clock {
    per_ns: f64,
    empty_mean: f64,
    empty_median: u64,
    step: u64,
}

fn summarise(c: &Clock, total: u64, ovh: u64, per_call: &[Vec<u64>; 5]) -> ImpRound {
    let mut r = ImpRound {
        total: total.saturating_sub(ovh) as f64 / c.per_ns,
        ..ImpRound::default()
    };
    for (i, v) in per_call.iter().enumerate() {
        if v.is_empty() {
            continue;
        }
        let mut v = v.clone();
        v.sort_unstable();
        // A reading above 10 times the 99th percentile (and above 20 µs) is the benchmark
        // preempted by other work on the machine, not the call.
        let cut = (v[(v.len() - 1) * 99 / 100] * 10).max((20_000.0 * c.per_ns) as u64);
        let keep = v.partition_point(|&t| t <= cut);
        r.dropped += v.len() - keep;
        v.truncate(keep);
        let at = |q: f64| {
            let t = v[((v.len() - 1) as f64 * q).round() as usize].saturating_sub(c.empty_median);
            t as f64 / c.per_ns
        };
        let sum: u64 = v.iter().sum();
        let mean = (sum as f64 / v.len() as f64 - c.empty_mean).max(0.0) / c.per_ns;
        r.mean[i] = mean;
        r.median[i] = at(0.5);
        r.p99[i] = at(0.99);
        r.per_call_sum += mean * v.len() as f64;
    }
    r
}

/// The least of at least 3 and at most 15 replays (until 100 ms are spent): the replay is
/// deterministic, so other work on the machine can only add time to it.
fn min_replay(which: Impl, cfg: &Config, tape: &Tape, pass: Pass, c: &Clock) -> u64 {
    let (mut best, mut spent, mut n) = (u64::MAX, 0u64, 0);
    let budget = (100e6 * c.per_ns) as u64;
    while n < 3 || (n < 15 && spent < budget) {
        let t = replay(which, cfg, tape, pass).ticks;
        best = best.min(t);
        spent += t;
        n += 1;
    }
    best
}

/// A profiling run (`BENCH_PROFILE`) instead of the measurement; the numbers index
/// [`IMPLS`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Profile {
    /// One implementation's batched replays only, `BENCH_ROUNDS` times (`perf record`).
    Batched(usize),
    /// One implementation's tape once, every call through its `mark_<hook>` (valgrind).
    Marked(usize),
    /// The cold-cache passes only, both implementations, printed.
    Cold,
}

/// One workload of the run: its report row (rounds accumulate in it) and the tapes its
/// rounds replay (rtsched, rt.c and, where rt.c's timer falls behind, rt.c with its
/// replenishment queue ordered by deadline).
struct Job {
    row: Row,
    tapes: Vec<Tape>,
    /// The cold-cache pass's span ([`Pass::Cold`]), on workloads of up to [`COLD_UNITS`].
    cold_until: Option<i64>,
}

/// The cold-cache pass of implementation `i` (rtsched or stock rt.c only) over a workload's
/// first [`COLD_FRACTION`], if it has one.
fn cold_pass(
    cfg: &Config,
    tape: &Tape,
    i: usize,
    cold_until: Option<i64>,
    clock: &Clock,
) -> Option<ImpRound> {
    let t = cold_until.filter(|_| i < 2)?;
    let pc = replay(IMPLS[i], cfg, tape, Pass::Cold(t));
    Some(summarise(clock, 0, 0, &pc.per_call))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let steps = env_num("BENCH_STEPS", 20_000);
    let rounds = env_num("BENCH_ROUNDS", 7).max(1);
    let shapes = env_list("BENCH_SHAPES", &Shape::ALL, |s| {
        Shape::ALL.into_iter().find(|h| h.name() == s)
    });
    let units = env_list("BENCH_UNITS", &UNITS, |s| s.parse().ok());
    let cpus = env_list("BENCH_CPUS", &CPUS, |s| s.parse().ok());
    let subset = shapes.len() < Shape::ALL.len() || units != UNITS || cpus != CPUS;
    let profile = match std::env::var("BENCH_PROFILE").as_deref() {
        Ok("rtsched") => Some(Profile::Batched(0)),
        Ok("xen") => Some(Profile::Batched(1)),
        Ok("marked-rtsched") => Some(Profile::Marked(0)),
        Ok("marked-xen") => Some(Profile::Marked(1)),
        Ok("marked-xen-replq") => Some(Profile::Marked(2)),
        Ok("marked-rtsched-api") => Some(Profile::Marked(3)),
        Ok("cold") => Some(Profile::Cold),
        _ => None,
    };
    let write =
        profile.is_none() && (!subset || std::env::var("BENCH_WRITE").is_ok_and(|v| v == "1"));

    let started = std::time::Instant::now();
    let load_before = sh("cut -d' ' -f1-3 /proc/loadavg");
    let per_ns = tsc_per_ns();
    let (empty_mean, empty_median, step) = empty_measurement();
    let clock = Clock {
        per_ns,
        empty_mean,
        empty_median,
        step,
    };
    let (fenced_mean, fenced_median, _) = empty_fenced();
    let cold_clock = Clock {
        per_ns,
        empty_mean: fenced_mean,
        empty_median: fenced_median,
        step,
    };
    eprintln!(
        "TSC {per_ns:.3} ticks/ns, step {step} ticks ({:.1} ns); empty measurement mean {:.1} ns, median {:.1} ns",
        step as f64 / per_ns,
        empty_mean / per_ns,
        empty_median as f64 / per_ns
    );
    // Phase 1: every workload's tapes (and the profiling aids, which stop there).
    let mut jobs: Vec<Job> = Vec::new();
    for &shape in &shapes {
        for &c in &cpus {
            for &u in &units {
                let cfg = Config {
                    shape,
                    units: u,
                    cpus: c,
                    steps: if u >= 4096 { steps / 20 } else { steps },
                    seed: (u * 131 + c) as u64,
                };
                let tapes = [record(Impl::Rtsched, &cfg), record(Impl::Xen, &cfg)];
                // The cold-cache pass's span: the first COLD_FRACTION of the measured part of the
                // workload's time (the same for both implementations).
                let cold_until = (u <= COLD_UNITS).then(|| tapes[0].time_at(COLD_FRACTION));
                if profile == Some(Profile::Cold) {
                    // Cold-cache pass only, both implementations, per round.
                    for _ in 0..rounds {
                        let r =
                            [0, 1].map(|i| cold_pass(&cfg, &tapes[i], i, cold_until, &cold_clock));
                        if let [Some(a), Some(b)] = r {
                            eprintln!(
                                "cold {} {u} {c}: ratio {:.3}  per hook rtsched {:?} rt.c {:?} ns",
                                shape.name(),
                                a.per_call_sum / b.per_call_sum.max(1e-3),
                                a.mean.map(|x| x.round()),
                                b.mean.map(|x| x.round()),
                            );
                        }
                    }
                    continue;
                }
                if let Some(Profile::Marked(i)) = profile {
                    // Counting aid (valgrind): one implementation's tape once, every hook
                    // call through its own `mark_<hook>` function; the calls per hook.
                    let own;
                    let (which, tape) = match i {
                        2 => {
                            own = record(Impl::XenReplq, &cfg);
                            (IMPLS[2], &own)
                        }
                        3 => (Impl::Rtsched, &tapes[0]),
                        _ => (IMPLS[i], &tapes[i]),
                    };
                    replay(which, &cfg, tape, Pass::Marked);
                    eprintln!(
                        "calls {} {u} {c} {}: {:?}",
                        shape.name(),
                        ["rtsched", "xen", "xen-replq", "rtsched-api"][i],
                        tape.counts()
                    );
                    continue;
                }
                if let Some(Profile::Batched(i)) = profile {
                    // Profiling aid (`perf record`): one implementation's batched replays only.
                    let which = IMPLS[i];
                    for _ in 0..rounds {
                        replay(which, &cfg, &tapes[i], Pass::Batched);
                    }
                    continue;
                }
                // Where rt.c's timer fell behind, rt.c with its replenishment queue ordered by
                // deadline as well: the comparison of equal work.
                let replq = (tapes[1].overdue > 0).then(|| record(Impl::XenReplq, &cfg));
                let row = Row {
                    cfg,
                    calls: [tapes[0].counts(), tapes[1].counts()],
                    overdue: [tapes[0].overdue, tapes[1].overdue],
                    replq: replq.as_ref().map(|t| (t.counts(), t.overdue)),
                    rounds: Vec::new(),
                };
                let mut tapes = Vec::from(tapes);
                tapes.extend(replq);
                jobs.push(Job {
                    row,
                    tapes,
                    cold_until,
                });
            }
        }
    }
    if profile.is_some() {
        return;
    }
    // Phase 2: the rounds. Each round visits every workload in turn, so a round of one
    // workload is minutes apart from its next: a disturbance of the machine that lasts
    // seconds reaches one round of a workload, not all of them, and the median discards it.
    for round in 0..rounds {
        for job in &mut jobs {
            let (cfg, n) = (job.row.cfg, job.tapes.len());
            let mut res = vec![ImpRound::default(); n];
            // Rotate which implementation goes first.
            let order = (0..n).map(|k| (k + round + cfg.units + cfg.cpus) % n);
            for i in order {
                let which = IMPLS[i];
                let tape = &job.tapes[i];
                let ovh = min_replay(which, &cfg, tape, Pass::Overhead, &clock);
                let tot = min_replay(which, &cfg, tape, Pass::Batched, &clock);
                let pc = replay(which, &cfg, tape, Pass::PerCall);
                res[i] = summarise(&clock, tot, ovh, &pc.per_call);
                if i == 0 && OBJECT {
                    // The same tape through the Rust API: what the C ABI and the object's
                    // build (Xen's target and flags) add.
                    let ovh = min_replay(Impl::Rtsched, &cfg, tape, Pass::Overhead, &clock);
                    let tot = min_replay(Impl::Rtsched, &cfg, tape, Pass::Batched, &clock);
                    res[i].api_total = tot.saturating_sub(ovh) as f64 / clock.per_ns;
                }
                if let Some(r) = cold_pass(&cfg, tape, i, job.cold_until, &cold_clock) {
                    res[i].cold_total = r.per_call_sum;
                    res[i].cold_mean = r.mean;
                    res[i].dropped += r.dropped;
                }
            }
            job.row.rounds.push(res);
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    let rows: Vec<Row> = jobs.into_iter().map(|j| j.row).collect();
    for row in &rows {
        let (u, c) = (row.cfg.units, row.cfg.cpus);
        let t = row.total_ratio();
        let mut extra = String::new();
        if let Some(q) = row.replq_ratio() {
            extra += &format!("  vs rt.c, queue by deadline {:.3}", q.med);
        }
        if row.has_cold() {
            extra += &format!("  cold ratio {:.3}", row.cold_ratio().med);
        }
        if let Some(a) = row.api_ratio() {
            extra += &format!("  object / Rust API {:.3}", a.med);
        }
        eprintln!(
            "{:<9} {u:>5} units {c:>2} cpus: total {:>10.0} / {:>10.0} ns  ratio {} [{}-{}]  do_schedule {:.1} / {:.1} ns  overdue {} / {}{extra}",
            row.cfg.shape.name(),
            row.med(0, |r| r.total),
            row.med(1, |r| r.total),
            sig4(t.med),
            sig4(t.lo),
            sig4(t.hi),
            row.med(0, |r| r.mean[0]),
            row.med(1, |r| r.mean[0]),
            row.overdue[0],
            row.overdue[1],
        );
    }
    let load_after = sh("cut -d' ' -f1-3 /proc/loadavg");
    let secs = started.elapsed().as_secs_f64();
    if !write {
        eprintln!("(a subset: nothing written; BENCH_WRITE=1 to write) {secs:.0} s");
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/results");
    std::fs::create_dir_all(&dir).expect("docs/results");
    let meta = Meta {
        steps,
        rounds,
        before: load_before,
        after: load_after,
        secs,
    };
    std::fs::write(
        dir.join("bench.md"),
        report(&rows, &clock, &cold_clock, &meta),
    )
    .expect("bench.md");
    std::fs::write(dir.join("bench.svg"), svg(&rows, &cpus, &units)).expect("bench.svg");
    eprintln!("wrote docs/results/bench.md and bench.svg in {secs:.0} s");
}

/// The replenishments each implementation's own run left undone at its end, and what
/// that means for the totals compared above.
fn overdue_section(w: &mut String, rows: &[Row], units: &[usize], cpus: &[usize]) {
    let stalled = rows.iter().filter(|r| r.overdue[1] > 0).count();
    let _ = writeln!(
        w,
        "\u{2020} rt.c's own run of this workload left replenishments undone: at its end, units \
         on its replenishment queue had deadlines a period or more in the past (table below; \
         the first number is rtsched's run). rt.c sorts that queue by priority level, then \
         deadline, when a unit joins it, but a unit's level rises while it is queued there \
         (it runs on extratime), so the queue falls out of order; its timer handler stops at \
         the first unit not yet due and leaves the due units behind it. Those units then run \
         on extratime or not at all, and rt.c's total is that of a run that replenishes \
         less: {stalled} of {} workloads here. rtsched orders the queue by \
         deadline only (deliberate difference 3 in ARCHITECTURE.md). The per-hook ratios below \
         compare the cost of each call.\n",
        rows.len()
    );
    let _ = writeln!(
        w,
        "### Replenishments left undone at the end of each run (rtsched / rt.c)\n"
    );
    grid(w, rows, units, cpus, |r| {
        Some(format!("{} / {}", r.overdue[0], r.overdue[1]))
    });
    let _ = writeln!(w);
}

/// Where the object is timed: its totals against the same tapes through the Rust API.
fn abi_section(w: &mut String, rows: &[Row], units: &[usize], cpus: &[usize]) {
    if !rows.iter().any(|r| r.api_ratio().is_some()) {
        return;
    }
    let _ = writeln!(
        w,
        "### The object against the Rust API: total time, same tape\n\n\
         What Xen runs costs more than the core's Rust API in the benchmark's own build: \
         each hook goes through its C function (the instance's and the pointers' checks, \
         the handle's generation, the result copied into the C struct), and the object is \
         built as Xen needs it (`x86_64-unknown-none`: soft-float, so structs are copied \
         without SSE registers; no red zone; `endbr64` landing pads; returns through Xen's \
         return thunk). The same tape, replayed through the Rust API in the same round \
         right after the object's replays (batched, less the overhead replay); median over \
         rounds (lowest-highest) of object / Rust API.\n"
    );
    grid(w, rows, units, cpus, |r| r.api_ratio().map(fmt_spread));
    let _ = writeln!(w);
}

/// The cold-cache totals and per-hook ratios (workloads of up to [`COLD_UNITS`] units).
fn cold_section(w: &mut String, rows: &[Row], units: &[usize], cpus: &[usize]) {
    let units: Vec<usize> = units.iter().copied().filter(|&u| u <= COLD_UNITS).collect();
    if units.is_empty() {
        return;
    }
    let _ = writeln!(
        w,
        "## Cold caches: scheduler time per workload span, rtsched / rt.c\n"
    );
    let _ = writeln!(
        w,
        "Each call with L1 and L2 emptied first (method above): the sum over hooks of mean \
         cold cost x calls, over the first {:.0}% of each workload. Median over rounds \
         (lowest-highest); the same targets as the headline, a miss marked with \\*.\n",
        COLD_FRACTION * 100.0
    );
    let (mut met, mut judged) = (0, 0);
    grid(w, rows, &units, cpus, |r| {
        r.has_cold().then(|| {
            let t = r.cold_ratio();
            let ok = t.med <= total_target(r.cfg.units);
            judged += 1;
            met += usize::from(ok);
            let stalled = if r.overdue[1] > 0 { " †" } else { "" };
            format!("{}{}{stalled}", fmt_spread(t), if ok { "" } else { " \\*" })
        })
    });
    let _ = writeln!(w, "\nTargets met: {met} of {judged}.\n");
    for h in HookKind::ALL {
        let _ = writeln!(w, "### {}, cold: ratio of mean cost per call\n", h.name());
        grid(w, rows, &units, cpus, |r| {
            (r.has_cold() && r.calls[0][h as usize] > 0 && r.calls[1][h as usize] > 0)
                .then(|| fmt_spread(r.cold_hook_ratio(h)))
        });
        let _ = writeln!(w);
    }
}

/// The totals of the workloads marked † against rt.c with its replenishment queue ordered
/// by deadline (`Impl::XenReplq`), and the targets met counting that comparison for them.
fn replq_section(w: &mut String, rows: &[Row], units: &[usize], cpus: &[usize]) {
    let undone: usize = rows.iter().filter_map(|r| r.replq).map(|(_, o)| o).sum();
    let _ = writeln!(
        w,
        "## Equal work: where rt.c's timer falls behind\n\n\
         For the workloads marked \u{2020}, rtsched's total against rt.c with the one change \
         that makes its timer keep up: its replenishment queue ordered by deadline alone, \
         the order rtsched keeps (`difftest/build.rs` makes the change in a second copy of \
         rt.c; the rest is Xen's). That copy records its own tape and is measured in the same \
         rounds and with the same replays as the other two (the three take turns going \
         first); the cold pass does not include it. Its runs left {undone} replenishments \
         undone in all. Median over rounds (lowest-highest); the headline's targets, a miss \
         marked with \\*.\n"
    );
    let mut met = 0;
    grid(w, rows, units, cpus, |r| {
        let t = r.replq_ratio()?;
        let ok = t.med <= total_target(r.cfg.units);
        met += usize::from(ok);
        let miss = if ok { "" } else { " \\*" };
        Some(format!("{}{miss}", fmt_spread(t)))
    });
    let stock = rows
        .iter()
        .filter(|r| r.replq.is_none() && r.total_ratio().med <= total_target(r.cfg.units))
        .count();
    let _ = writeln!(
        w,
        "\nTargets met with this comparison for the \u{2020} workloads and the headline's for \
         the others: {} of {}.\n",
        met + stock,
        rows.len()
    );
    let _ = writeln!(
        w,
        "### Calls per run where rt.c's timer falls behind (rtsched / rt.c / rt.c, queue by \
         deadline)\n"
    );
    grid(w, rows, units, cpus, |r| {
        let (calls, _) = r.replq?;
        let n = |c: &[usize; 5]| c.iter().sum::<usize>();
        Some(format!(
            "{} / {} / {}",
            n(&r.calls[0]),
            n(&r.calls[1]),
            n(&calls)
        ))
    });
    let _ = writeln!(w);
}

/// A table of one cell per workload: a row per shape and CPU count, a column per unit
/// count; `cell` gives a workload's text, `None` (or no such workload) a dash.
fn grid(
    w: &mut String,
    rows: &[Row],
    units: &[usize],
    cpus: &[usize],
    mut cell: impl FnMut(&Row) -> Option<String>,
) {
    let _ = write!(w, "| shape | CPUs |");
    for u in units {
        let _ = write!(w, " {u} units |");
    }
    let _ = writeln!(w);
    let _ = writeln!(w, "|---|---:|{}", "---:|".repeat(units.len()));
    for shape in Shape::ALL {
        for &cp in cpus {
            let _ = write!(w, "| {} | {cp} |", shape.name());
            for &u in units {
                let text = find(rows, shape, u, cp).and_then(&mut cell);
                let _ = write!(w, " {} |", text.as_deref().unwrap_or("-"));
            }
            let _ = writeln!(w);
        }
    }
}

struct Meta {
    steps: usize,
    rounds: usize,
    before: String,
    after: String,
    secs: f64,
}

/// `x` to four significant digits: the report line's ratios, which `cargo xtask
/// bench-compare` reads back (at 4096 units a ratio of 0.005 to three decimals would move in
/// steps of 20%).
fn sig4(x: f64) -> String {
    let d = if x > 0.0 && x.is_finite() {
        (3 - x.log10().floor() as i32).clamp(0, 9) as usize
    } else {
        3
    };
    format!("{x:.d$}")
}

fn fmt_spread(s: Spread) -> String {
    let d = if s.hi < 0.1 { 4 } else { 3 };
    format!("{:.d$} ({:.d$}-{:.d$})", s.med, s.lo, s.hi)
}

/// The target for the total at a size: <= 1 at 8 and 64 units, 0.1 at 512, 0.01 at
/// 4096.
fn total_target(units: usize) -> f64 {
    match units {
        0..=64 => 1.0,
        65..=512 => 0.1,
        _ => 0.01,
    }
}

fn report(rows: &[Row], c: &Clock, cold: &Clock, m: &Meta) -> String {
    let model = sh("lscpu | sed -n 's/^Model name: *//p'");
    let ncpu = sh("nproc");
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(w, "# Scheduler cost: rtsched vs Xen 4.17 rt.c\n");
    // (`cargo xtask bench` links the object linked into Xen and sets BENCH_PGO.)
    let (by, build) = if OBJECT {
        (
            "cargo xtask bench",
            "rtsched is the object linked into Xen, as it ships (`target/hv/out/librtsched.o` \
             of `cargo xtask check-object`: `x86_64-unknown-none`, the `hypervisor` profile, \
             `opt-level = 2`, LTO with `core` built from source, `panic = \"abort\"`, Xen's \
             code-generation flags, and the profile of its profile-guided build, `cargo xtask pgo`: a training run of the \
             same workload generator with seeds of its own, every shape and policy, 8 to 512 \
             units on 4 and 16 CPUs; `xtask/src/pgo.rs`), linked into the benchmark and \
             called through its C ABI as Xen's shim calls it, one C function per hook with \
             the structs of `include/rtsched.h` (`difftest/src/bench/object.rs`). Its tapes \
             are recorded through the Rust API (the `bench` profile: LTO, with the same \
             profile) and every replay of the object must reproduce them, result for result: \
             the object decides as the Rust build does in every workload",
        )
    } else if std::env::var_os("BENCH_PGO").is_some() {
        (
            "cargo bench -p difftest",
            "rtsched is built with the `bench` profile (release: `opt-level = 2`, LTO) and \
             the profile of its profile-guided build, through its Rust API (`cargo xtask \
             bench` times the object linked into Xen instead)",
        )
    } else {
        (
            "cargo bench -p difftest",
            "rtsched is built with the `bench` profile (release: `opt-level = 2`, LTO), \
             without the profile of its profile-guided build, through its Rust API (`cargo \
             xtask bench` times the object linked into Xen, with the profile, instead)",
        )
    };
    let _ = writeln!(
        w,
        "Written by `{by}` (`difftest/benches/hooks.rs`; workloads, tapes and replays in \
         `difftest/src/bench.rs`). rt.c is Xen 4.17's `xen/common/sched/rt.c`, unchanged, \
         compiled as Xen 4.17 builds it for x86 (`-O2` and Xen's code-generation flags: \
         soft-float, no red zone, `-fpic` with hidden symbols, no jump tables, `endbr64` \
         where an address is taken, returns through the return thunk; without \
         profile-guided optimisation) against the stubs of `difftest/csrc` (its hooks are \
         called through a C glue function each, which makes the instance current through a \
         thread-local pointer), with Xen's CPU masks of its default `NR_CPUS` of 256 (the \
         out-of-line bitmap and bit-search functions, Xen's own `arch/x86/bitops.c` \
         among them, and locked bit operations, as Xen's `cpumask.h` has them); \
         {build}. Both run in the same process.\n"
    );
    let _ = writeln!(w, "## Method\n");
    let _ = writeln!(
        w,
        "- **Workloads.** Five shapes (below), each at 8, 64, 512 and 4096 units on 4, 16 \
         and 64 CPUs. Host actions, seeded: time advances (slices end, the replenishment \
         timer fires), a running unit blocks, a blocked unit wakes, a unit is paused; \
         {} actions after a warm-up of {} ({} and {} at 4096 units, where rt.c's calls \
         take tens of µs).",
        m.steps,
        m.steps / 10,
        m.steps / 20,
        m.steps / 200
    );
    for (name, what) in [
        ("global", "every unit on every CPU, no extratime, `min(50%, 1.5 * CPUs / units)` of a CPU each, periods 10-20 ms (overload: long run and depleted queues)"),
        ("table-4.2", "RT-Xen's Table 4.2 at scale: a quarter of the units real-time (period 10 ms, budget 40% or less so that they reserve at most half the CPUs, no extratime), the others non-real-time (extratime, budget = period = 10 ms), all on every CPU; equal periods, so replenishments come in bursts and deadlines tie"),
        ("pinned", "each unit pinned to one CPU (unit u on CPU u mod CPUs, as cloud hosts pin VCPUs), shares as global, every fourth unit with extratime"),
        ("partition", "the units of pinned under rt-partition: rtsched runs one instance per CPU (the host dispatches each call to the unit's or the CPU's instance, each instance has its own timer); rt.c has no partitioned mode and runs them pinned in one instance, as Xen 4.17 would"),
        ("mixed", "mixed affinities: 40% of the units on every CPU, 30% on one half of the CPUs, 20% on a pair, 10% on one CPU; 30% with extratime; periods 1-100 ms; shares as global"),
    ] {
        let _ = writeln!(w, "  - `{name}`: {what}.");
    }
    let _ = writeln!(
        w,
        "- **Tapes.** Each implementation plays the actions once with the host's bookkeeping \
         (current unit per CPU, slice ends, reschedule requests) and every hook call is \
         recorded with its arguments and a digest of its results. Each has its own tape, \
         since their decisions differ where rtsched deliberately deviates; the total is the \
         scheduler time of that implementation's own run of the workload.\n\
         - **Replays.** A measurement replays a tape into a fresh, identically set-up instance \
         (untimed setup and warm-up); the digest of the results must equal the recording's. \
         The host's side of each call is timed with it on both sides: rt.c raises its \
         reschedule requests and programs its timer inside its hooks (through the stubs), \
         and rtsched's replays apply each call's returned actions as Xen's shim does \
         (`rts_apply`: the mask word by word with a bit scan, each CPU raised, then the \
         timer). *Batched*: the measured calls back to back, timed as one interval with the \
         time-stamp counter (one read at each end, so the counter's resolution does not \
         matter); less an *overhead* replay of the same loop without the hooks (it performs \
         only the host's runnable-flag updates, which rt.c reads through `unit_runnable()`). \
         Each is the least of at least 3 replays (more, up to 15, while they take under \
         100 ms in all): the replay is deterministic, so other work on the machine can only \
         add to it. This is the **total time per workload**, the headline. *Per call*: \
         every call timed on its own; the mean cost of an empty measurement is subtracted \
         from means, its median from medians and percentiles; a reading above 10 times the \
         99th percentile of its hook and above 20 µs is a preemption of the benchmark and \
         is dropped ({dropped} of {readings} readings in this run).\n\
         - **Rounds.** {} rounds per configuration; in each, both implementations run all \
         three replays, in alternating order. Each round visits every workload in turn (all \
         tapes are recorded first), so the rounds of one workload are spread over the whole \
         run: a disturbance of the machine that lasts seconds reaches one round of a \
         workload, not all of them. Ratios (rtsched / rt.c, below 1: rtsched is faster) are \
         taken within a round and reported as the median over rounds with the lowest and \
         highest in parentheses. A change of the machine's load during a round affects both \
         sides of that round's ratio.",
        m.rounds,
        dropped = rows
            .iter()
            .flat_map(|r| r.rounds.iter())
            .map(|x| x[0].dropped + x[1].dropped)
            .sum::<usize>(),
        readings = rows
            .iter()
            .map(|r| r.rounds.len()
                * (r.calls[0].iter().sum::<usize>() + r.calls[1].iter().sum::<usize>()))
            .sum::<usize>(),
    );
    let _ = writeln!(
        w,
        "- **Counter.** `rdtsc` at {:.3} ticks/ns (calibrated against `std::time::Instant`); \
         it advances in steps of {} ticks ({:.1} ns) on this VM. An empty per-call \
         measurement costs {:.1} ns on average (median {:.1} ns). Single readings are \
         quantised to the step, so medians and p99 of calls below a few steps mean little; \
         means of many readings are unbiased (a call's start is not synchronised with the \
         steps), and the per-call means summed over a workload are compared with the \
         batched total in the last column of the full table.",
        c.per_ns,
        c.step,
        c.step as f64 / c.per_ns,
        c.empty_mean / c.per_ns,
        c.empty_median as f64 / c.per_ns
    );
    let _ = writeln!(
        w,
        "- **Cold caches.** The replays above run the hooks back to back, so every call finds \
         the instance's data and code in L1 and L2. In a hypervisor the scheduler runs \
         between stretches of guest execution that leave little of it there. A *cold* \
         per-call replay therefore reads a {} MiB buffer (untimed, one read per cache line; \
         `lscpu` here: L2 {}, L3 {}) before each call and times \
         the call alone, with `lfence` around each counter read (an empty fenced \
         measurement costs {:.1} ns on average, subtracted): the cost of a call that finds \
         its memory in L3. It covers the calls in the first {:.0}% of the measured span of \
         the workload's time (the same span for both implementations; the rest is replayed \
         untimed, so that the digest check still covers the whole replay), on workloads of \
         up to {COLD_UNITS} units, once per round after the other replays. The cold total is \
         the sum over hooks of the mean cold cost x calls. A run of global, 8 units on 4 \
         CPUs, with buffers of 0.25 to 8 MiB found the cold costs rising up to 2 MiB and \
         level from 2 to 4 MiB.",
        EVICT_BYTES >> 20,
        sh("lscpu | sed -n 's/^L2 cache: *//p'"),
        sh("lscpu | sed -n 's/^L3 cache: *//p'"),
        cold.empty_mean / cold.per_ns,
        COLD_FRACTION * 100.0,
    );
    let _ = writeln!(
        w,
        "- **Machine.** {model}, {ncpu} CPUs, a VM shared with other work during the run \
         (load average {} before, {} after); the run took {:.0} s. Absolute times vary with \
         the load; the ratios are robust to it because the two sides of each ratio run \
         interleaved, and the spread over rounds shows how much they moved.\n",
        m.before, m.after, m.secs
    );

    let _ = writeln!(
        w,
        "## Headline: total scheduler time per workload, rtsched / rt.c\n"
    );
    let _ = writeln!(
        w,
        "Median over rounds (lowest-highest). Targets: <= 1 at 8 and 64 units, <= 0.1 at \
         512, <= 0.01 at 4096; a miss is marked with \\*.\n"
    );
    let units: Vec<usize> = dedup(rows.iter().map(|r| r.cfg.units));
    let cpus: Vec<usize> = dedup(rows.iter().map(|r| r.cfg.cpus));
    let mut met = 0;
    let mut judged = 0;
    grid(w, rows, &units, &cpus, |r| {
        let t = r.total_ratio();
        let ok = t.med <= total_target(r.cfg.units);
        judged += 1;
        met += usize::from(ok);
        let miss = if ok { "" } else { " \\*" };
        let stalled = if r.overdue[1] > 0 { " †" } else { "" };
        Some(format!("{}{miss}{stalled}", fmt_spread(t)))
    });
    let _ = writeln!(w, "\nTargets met: {met} of {judged}.\n");
    abi_section(w, rows, &units, &cpus);
    overdue_section(w, rows, &units, &cpus);
    replq_section(w, rows, &units, &cpus);
    cold_section(w, rows, &units, &cpus);

    let _ = writeln!(
        w,
        "## Per hook: ratio of mean cost per call, rtsched / rt.c\n"
    );
    let _ = writeln!(
        w,
        "Median over rounds (lowest-highest) of the ratio of per-call means. Target for \
         `do_schedule`: <= 1.2 at 8 units.\n"
    );
    for h in HookKind::ALL {
        let _ = writeln!(w, "### {}\n", h.name());
        grid(w, rows, &units, &cpus, |r| {
            (r.calls[0][h as usize] > 0 && r.calls[1][h as usize] > 0)
                .then(|| fmt_spread(r.hook_ratio(h)))
        });
        let _ = writeln!(w);
    }

    let (ru, rc, ri) = rtsched_sizes();
    let (xu, xd) = rt_struct_sizes();
    let _ = writeln!(w, "## Memory\n");
    let _ = writeln!(
        w,
        "| | rtsched | rt.c |\n|---|---:|---:|\n\
         | per unit | {ru} B (`Unit` {} B + a run-queue and a replenishment-queue heap slot, 4 B each) | {xu} B (`struct rt_unit`) |\n\
         | per domain | 0 | {xd} B (`struct rt_dom`) |\n\
         | per CPU | {rc} B (`Pcpu`) | {xu} B (the idle unit's `struct rt_unit`) |\n\
         | per instance | {ri} B (`Scheduler`, storage slices excluded) | `struct rt_private` (a lock, four list heads, a timer, a cpumask) |\n",
        ru - 8
    );
    let _ = writeln!(
        w,
        "rtsched's storage is given by the caller (the shim allocates it once per cpupool \
         for a capacity of units); rt.c allocates per unit and per domain with `xzalloc` \
         (plus the allocator's header). Sizes as compiled here for x86-64; rt.c's \
         structures hold only list heads, pointers and 64-bit times, so Xen's layout is \
         the same.\n"
    );

    let _ = writeln!(w, "## All results\n");
    let _ = writeln!(
        w,
        "Medians over rounds. Times in ns: total = batched time of the measured part; per \
         hook: mean / median / p99 per call (median and p99 quantised to the counter's \
         step); cold mean = mean per call in the cold-cache pass (workloads of up to 512 \
         units); calls = measured calls (rtsched / rt.c). Last column: sum of per-call means \
         x calls / batched total (rtsched / rt.c), a check of the per-call figures (above 1: \
         the per-call timer reads themselves slow the calls, e.g. by serialising them).\n"
    );
    let _ = writeln!(
        w,
        "| shape | CPUs | units | total rtsched | total rt.c | total ratio | hook | rtsched mean / median / p99 | rt.c mean / median / p99 | ratio of means | cold mean rtsched / rt.c | calls | per-call sum / total |"
    );
    let _ = writeln!(
        w,
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"
    );
    for r in rows {
        for (k, h) in HookKind::ALL.iter().enumerate() {
            let i = *h as usize;
            let head = if k == 0 {
                format!(
                    "| {} | {} | {} | {:.0} | {:.0} | {} |",
                    r.cfg.shape.name(),
                    r.cfg.cpus,
                    r.cfg.units,
                    r.med(0, |x| x.total),
                    r.med(1, |x| x.total),
                    fmt_spread(r.total_ratio())
                )
            } else {
                "| | | | | | |".to_string()
            };
            let check = if k == 0 {
                format!(
                    "{:.2} / {:.2}",
                    r.med(0, |x| x.per_call_sum / x.total.max(1.0)),
                    r.med(1, |x| x.per_call_sum / x.total.max(1.0))
                )
            } else {
                String::new()
            };
            let _ = writeln!(
                w,
                "{head} {} | {:.1} / {:.0} / {:.0} | {:.1} / {:.0} / {:.0} | {} | {} | {} / {} | {check} |",
                h.name(),
                r.med(0, |x| x.mean[i]),
                r.med(0, |x| x.median[i]),
                r.med(0, |x| x.p99[i]),
                r.med(1, |x| x.mean[i]),
                r.med(1, |x| x.median[i]),
                r.med(1, |x| x.p99[i]),
                if r.calls[0][i] > 0 && r.calls[1][i] > 0 {
                    format!("{:.3}", r.hook_ratio(*h).med)
                } else {
                    "-".into()
                },
                if r.has_cold() {
                    format!(
                        "{:.0} / {:.0}",
                        r.med(0, |x| x.cold_mean[i]),
                        r.med(1, |x| x.cold_mean[i])
                    )
                } else {
                    "-".into()
                },
                r.calls[0][i],
                r.calls[1][i],
            );
        }
    }
    s
}

fn dedup(it: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut v: Vec<usize> = it.collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn find(rows: &[Row], shape: Shape, units: usize, cpus: usize) -> Option<&Row> {
    rows.iter()
        .find(|r| r.cfg.shape == shape && r.cfg.units == units && r.cfg.cpus == cpus)
}

/// A grid of panels: one row per CPU count, one column for the total and one per hook;
/// in each, the ratio rtsched / rt.c (log scale, median over rounds, bars from lowest to
/// highest) against units (log scale), one line per shape; the line at 1 is parity.
fn svg(rows: &[Row], cpus: &[usize], units: &[usize]) -> String {
    let (pw, ph, ml, mt, gap, mb) = (190.0, 170.0, 60.0, 50.0, 25.0, 45.0);
    let cols = 1 + HookKind::ALL.len();
    let width = ml + cols as f64 * (pw + gap) + 120.0;
    let height = mt + cpus.len() as f64 * (ph + mb) + 10.0;
    let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e"];
    let value = |r: &Row, col: usize| -> Spread {
        if col == 0 {
            r.total_ratio()
        } else {
            r.hook_ratio(HookKind::ALL[col - 1])
        }
    };
    let present = |r: &Row, col: usize| {
        col == 0 || {
            let i = HookKind::ALL[col - 1] as usize;
            r.calls[0][i] > 0 && r.calls[1][i] > 0
        }
    };
    let clampv = |v: f64| v.clamp(1e-4, 1e2);
    let (ymin, ymax) = (-4.0f64, 2.0f64);
    let (umin, umax) = (
        (*units.first().unwrap_or(&8) as f64).log2(),
        (*units.last().unwrap_or(&4096) as f64).log2().max(4.0),
    );
    let mut s = String::new();
    let _ = writeln!(
        s,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"11\">"
    );
    let _ = writeln!(s, "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>");
    let _ = writeln!(
        s,
        "<text x=\"{ml}\" y=\"18\" font-size=\"14\">rtsched / Xen 4.17 rt.c: cost ratio against units (both log scale); below 1: rtsched faster; bars: lowest-highest round</text>"
    );
    for (ri, &cp) in cpus.iter().enumerate() {
        let top = mt + ri as f64 * (ph + mb);
        for col in 0..cols {
            let x0 = ml + col as f64 * (pw + gap);
            let xp =
                |u: usize| x0 + 10.0 + ((u as f64).log2() - umin) / (umax - umin) * (pw - 20.0);
            let yp = |v: f64| top + ph - (clampv(v).log10() - ymin) / (ymax - ymin) * ph;
            let _ = writeln!(
                s,
                "<rect x=\"{x0}\" y=\"{top}\" width=\"{pw}\" height=\"{ph}\" fill=\"none\" stroke=\"#888\"/>"
            );
            let title = if col == 0 {
                "total per workload".to_string()
            } else {
                HookKind::ALL[col - 1].name().to_string()
            };
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" font-size=\"12\">{title}, {cp} CPUs</text>",
                x0 + pw / 2.0,
                top - 6.0
            );
            let mut e = ymin as i32;
            while f64::from(e) <= ymax {
                let y = yp(10f64.powi(e));
                let stroke = if e == 0 { "#000" } else { "#eee" };
                let _ = writeln!(
                    s,
                    "<line x1=\"{x0}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"{stroke}\"/>",
                    x0 + pw
                );
                if col == 0 {
                    let _ = writeln!(
                        s,
                        "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
                        x0 - 4.0,
                        y + 4.0,
                        10f64.powi(e)
                    );
                }
                e += 1;
            }
            for &u in units {
                let _ = writeln!(
                    s,
                    "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{u}</text>",
                    xp(u),
                    top + ph + 14.0
                );
            }
            for (si, shape) in Shape::ALL.iter().enumerate() {
                let pts: Vec<(f64, Spread)> = rows
                    .iter()
                    .filter(|r| r.cfg.shape == *shape && r.cfg.cpus == cp && present(r, col))
                    .map(|r| (xp(r.cfg.units), value(r, col)))
                    .collect();
                if pts.is_empty() {
                    continue;
                }
                let line: Vec<String> = pts
                    .iter()
                    .map(|(x, v)| format!("{x:.1},{:.1}", yp(v.med)))
                    .collect();
                let _ = writeln!(
                    s,
                    "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\"/>",
                    line.join(" "),
                    colors[si]
                );
                for (x, v) in &pts {
                    let x = x + (si as f64 - 2.0) * 2.0;
                    let _ = writeln!(
                        s,
                        "<line x1=\"{x:.1}\" x2=\"{x:.1}\" y1=\"{:.1}\" y2=\"{:.1}\" stroke=\"{}\"/><circle cx=\"{x:.1}\" cy=\"{:.1}\" r=\"2\" fill=\"{}\"/>",
                        yp(v.lo),
                        yp(v.hi),
                        colors[si],
                        yp(v.med),
                        colors[si]
                    );
                }
            }
        }
    }
    let lx = ml + cols as f64 * (pw + gap);
    let _ = writeln!(
        s,
        "<text x=\"{lx}\" y=\"{}\" font-size=\"12\">shape</text>",
        mt + 5.0
    );
    for (si, shape) in Shape::ALL.iter().enumerate() {
        let y = mt + 22.0 + si as f64 * 16.0;
        let _ = writeln!(
            s,
            "<line x1=\"{lx}\" x2=\"{}\" y1=\"{y}\" y2=\"{y}\" stroke=\"{}\" stroke-width=\"2\"/><text x=\"{}\" y=\"{}\">{}</text>",
            lx + 20.0,
            colors[si],
            lx + 25.0,
            y + 4.0,
            shape.name()
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">units (log scale)</text>",
        ml + cols as f64 * (pw + gap) / 2.0,
        height - 4.0
    );
    let _ = writeln!(s, "</svg>");
    s
}
