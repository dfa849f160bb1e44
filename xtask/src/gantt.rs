//! `cargo xtask gantt`: Gantt charts of a schedule, one lane per PCPU: each unit's run
//! intervals, budget exhaustion, replenishments, deadlines and deadline misses, with a
//! legend. The input is either a simulator run (`--sim <scenario>`, [`sim_chart`]) or a
//! binary Xen trace taken with `xentrace` (`--trace <file>`, [`trace_chart`]); the SVG is a
//! pure function of the [`Chart`] (fixed-precision numbers, sorted input, no clock), so the
//! same input gives the same bytes.
//!
//! What each mark means, from either source:
//! - run: the unit is current on the PCPU (trace: runstate `running`);
//! - exhausted: the unit's reserved budget ran out (budget 0 at priority level 0, or it
//!   moved to a higher extratime level);
//! - replenished: a new period began (full budget, next deadline);
//! - deadline: the end of a period the unit had (drawn where the unit last ran);
//! - miss: at a deadline a unit without extratime (a real-time unit: one with extratime
//!   reserves nothing) was runnable with budget left (it wanted the CPU and did not get
//!   its reservation), or, for a simulated periodic job, the job was not done by its
//!   deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::xentrace::{self, Record, TRC_SCHED_RUNSTATE_CHANGE};

/// Options of `cargo xtask gantt`.
#[derive(clap::Args)]
pub struct Args {
    /// A simulator scenario: late-wake (a deferrable server waking late in its period),
    /// table-4-2 (dissertation Table 4.2, k = 2), unequal (non-RT VMs of unequal periods).
    #[arg(long, conflicts_with = "trace")]
    pub sim: Option<String>,
    /// A binary trace written by xentrace.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// TSC frequency of the traced machine in Hz (Xen's "Detected N MHz processor").
    #[arg(long)]
    pub hz: Option<u64>,
    /// Domain names of a trace, e.g. 1=rt,2=nrt1.
    #[arg(long, default_value = "")]
    pub names: String,
    /// Start of the window drawn, ms after the first record (trace) or time 0 (sim).
    #[arg(long, default_value_t = 0.0)]
    pub from_ms: f64,
    /// Length of the window drawn, ms.
    #[arg(long, default_value_t = 60.0)]
    pub window_ms: f64,
    /// Chart title.
    #[arg(long)]
    pub title: Option<String>,
    /// Output SVG file.
    #[arg(long)]
    pub out: PathBuf,
}

/// What a mark shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum MarkKind {
    /// The reserved budget ran out.
    Exhausted,
    /// A new period began.
    Replenished,
    /// The end of a period.
    Deadline,
    /// The reservation (or a job) was not served by a deadline.
    Miss,
}

/// A run interval: `unit` current on lane `cpu` over `[start, end)` ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Run {
    /// PCPU.
    pub cpu: usize,
    /// Start, ns.
    pub start: i64,
    /// End, ns.
    pub end: i64,
    /// Unit index into [`Chart::units`].
    pub unit: usize,
}

/// A mark at time `t` on lane `cpu` for `unit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Mark {
    /// PCPU lane it is drawn on.
    pub cpu: usize,
    /// Time, ns.
    pub t: i64,
    /// What it shows.
    pub kind: MarkKind,
    /// Unit index into [`Chart::units`].
    pub unit: usize,
}

/// A schedule to draw.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Chart {
    /// Title line.
    pub title: String,
    /// Second line (source, parameters).
    pub subtitle: String,
    /// Window drawn, ns.
    pub t0: i64,
    /// End of the window, ns.
    pub t1: i64,
    /// PCPUs that get a lane (ascending).
    pub cpus: Vec<usize>,
    /// Unit names, in legend order.
    pub units: Vec<String>,
    /// Run intervals.
    pub runs: Vec<Run>,
    /// Marks.
    pub marks: Vec<Mark>,
}

/// Unit colours (Tableau 10), by unit index.
const COLOURS: [&str; 10] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#bab0ac",
    "#ff9da7", "#e15759",
];

const LEFT: f64 = 70.0;
const WIDTH: f64 = 900.0;
/// Height of one unit's row of marks (above the bars: deadlines, exhaustion, misses;
/// below: replenishments).
const ROW: f64 = 8.0;
const TOP: f64 = 48.0;

impl Chart {
    /// Keeps what falls in the window (runs clipped), sorted, and the lanes that show
    /// something.
    pub fn clip(mut self) -> Chart {
        let (t0, t1) = (self.t0, self.t1);
        self.runs
            .retain(|r| r.end > t0 && r.start < t1 && r.end > r.start);
        for r in &mut self.runs {
            r.start = r.start.max(t0);
            r.end = r.end.min(t1);
        }
        self.marks.retain(|m| m.t >= t0 && m.t <= t1);
        self.runs.sort();
        self.marks.sort();
        self.marks.dedup();
        let lanes: BTreeSet<usize> = self
            .runs
            .iter()
            .map(|r| r.cpu)
            .chain(self.marks.iter().map(|m| m.cpu))
            .collect();
        self.cpus = lanes.into_iter().collect();
        self
    }

    fn x(&self, t: i64) -> f64 {
        LEFT + WIDTH * (t - self.t0) as f64 / (self.t1 - self.t0).max(1) as f64
    }

    /// Height of a lane: a row of marks per unit above and below the bars.
    fn lane_h(&self) -> f64 {
        2.0 * ROW * self.units.len().max(1) as f64 + 16.0 + 10.0
    }

    fn lane_y(&self, cpu: usize) -> f64 {
        let i = self.cpus.iter().position(|&c| c == cpu).unwrap_or(0);
        TOP + i as f64 * self.lane_h()
    }

    /// Top of the bars of a lane starting at `y`.
    fn bar_y(&self, y: f64) -> f64 {
        y + ROW * self.units.len().max(1) as f64 + 2.0
    }

    /// The SVG.
    pub fn svg(&self) -> String {
        let mut b = String::new();
        let lanes_h = self.cpus.len().max(1) as f64 * self.lane_h();
        let axis_y = TOP + lanes_h + 4.0;
        // Time axis: a step of 1, 2 or 5 x 10^k ms giving at most 12 ticks.
        let span_ms = (self.t1 - self.t0) as f64 / 1e6;
        let step = [
            0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0,
        ]
        .into_iter()
        .find(|s| span_ms / s <= 12.0)
        .unwrap_or(1000.0);
        let mut k = 0;
        while k as f64 * step <= span_ms + 1e-9 {
            let t = self.t0 + (k as f64 * step * 1e6).round() as i64;
            let x = self.x(t);
            let _ = write!(
                b,
                "<line x1='{x:.1}' y1='{TOP:.1}' x2='{x:.1}' y2='{axis_y:.1}' stroke='#e4e4e4'/>\
                 <text x='{x:.1}' y='{:.1}' font-size='10' text-anchor='middle'>{}</text>",
                axis_y + 12.0,
                fmt_ms(k as f64 * step)
            );
            k += 1;
        }
        let _ = write!(
            b,
            "<text x='{:.1}' y='{:.1}' font-size='10' text-anchor='middle'>time (ms)</text>",
            LEFT + WIDTH / 2.0,
            axis_y + 25.0
        );
        for &c in &self.cpus {
            let y = self.bar_y(self.lane_y(c));
            let _ = write!(
                b,
                "<text x='8' y='{:.1}' font-size='12'>PCPU {c}</text>\
                 <line x1='{LEFT}' y1='{:.1}' x2='{:.1}' y2='{:.1}' stroke='#999'/>",
                y + 12.0,
                y + 16.0,
                LEFT + WIDTH,
                y + 16.0
            );
        }
        for r in &self.runs {
            let (x0, x1) = (self.x(r.start), self.x(r.end));
            let y = self.bar_y(self.lane_y(r.cpu));
            let _ = write!(
                b,
                "<rect class='run' x='{x0:.2}' y='{:.1}' width='{:.2}' height='16' fill='{}'>\
                 <title>{} on PCPU {} {}-{} ms</title></rect>",
                y,
                (x1 - x0).max(0.3),
                colour(r.unit),
                esc(self.units.get(r.unit).map_or("?", String::as_str)),
                r.cpu,
                fmt_ms((r.start - self.t0) as f64 / 1e6),
                fmt_ms((r.end - self.t0) as f64 / 1e6)
            );
        }
        for m in &self.marks {
            let x = self.x(m.t);
            // The unit's own row above (up) or below (down) the bars.
            let bar = self.bar_y(self.lane_y(m.cpu));
            let up = bar - ROW * (m.unit + 1) as f64;
            let down = bar + 16.0 + ROW * m.unit as f64;
            let name = esc(self.units.get(m.unit).map_or("?", String::as_str));
            let when = fmt_ms((m.t - self.t0) as f64 / 1e6);
            let _ = match m.kind {
                MarkKind::Deadline => write!(
                    b,
                    "<line class='deadline' x1='{x:.2}' y1='{:.1}' x2='{x:.2}' y2='{:.1}' \
                     stroke='{}' stroke-width='2'><title>{name} deadline {when} ms</title></line>",
                    up,
                    up + ROW,
                    colour(m.unit)
                ),
                MarkKind::Exhausted => write!(
                    b,
                    "<path class='exhausted' d='M{:.2},{:.1} l8,0 l-4,6 z' fill='#000'>\
                     <title>{name} budget exhausted {when} ms</title></path>",
                    x - 4.0,
                    up + 1.0
                ),
                MarkKind::Replenished => write!(
                    b,
                    "<path class='replenished' d='M{:.2},{:.1} l8,0 l-4,-6 z' fill='{}' \
                     stroke='#000' stroke-width='0.5'><title>{name} replenished {when} ms</title></path>",
                    x - 4.0,
                    down + 7.0,
                    colour(m.unit)
                ),
                MarkKind::Miss => write!(
                    b,
                    "<path class='miss' d='M{:.2},{:.1} l8,8 m0,-8 l-8,8' stroke='#d00' \
                     stroke-width='2'><title>{name} deadline miss {when} ms</title></path>",
                    x - 4.0,
                    up
                ),
            };
        }
        // Legend: units, then marks.
        let ly = axis_y + 44.0;
        let mut lx = 8.0;
        for (i, u) in self.units.iter().enumerate() {
            let _ = write!(
                b,
                "<rect x='{lx:.1}' y='{:.1}' width='14' height='10' fill='{}'/>\
                 <text x='{:.1}' y='{ly:.1}' font-size='11'>{}</text>",
                ly - 9.0,
                colour(i),
                lx + 18.0,
                esc(u)
            );
            lx += 30.0 + 7.0 * u.len() as f64;
        }
        let ly2 = ly + 18.0;
        let _ = write!(
            b,
            "<path d='M8,{a:.1} l8,0 l-4,6 z' fill='#000'/><text x='22' y='{ly2:.1}' font-size='11'>budget exhausted</text>\
             <path d='M130,{c:.1} l8,0 l-4,-6 z' fill='#fff' stroke='#000'/><text x='144' y='{ly2:.1}' font-size='11'>replenished (new period)</text>\
             <line x1='300' y1='{a:.1}' x2='300' y2='{c:.1}' stroke='#000' stroke-width='2'/><text x='306' y='{ly2:.1}' font-size='11'>deadline (unit colour)</text>\
             <path d='M450,{a:.1} l8,8 m0,-8 l-8,8' stroke='#d00' stroke-width='2'/><text x='464' y='{ly2:.1}' font-size='11'>deadline miss</text>",
            a = ly2 - 8.0,
            c = ly2 + 1.0,
        );
        let h = ly2 + 14.0;
        format!(
            "<svg xmlns='http://www.w3.org/2000/svg' width='{:.0}' height='{h:.0}' font-family='sans-serif'>\
             <rect width='100%' height='100%' fill='#fff'/>\
             <text x='8' y='18' font-size='14'>{}</text>\
             <text x='8' y='34' font-size='11' fill='#444'>{}</text>{b}</svg>\n",
            LEFT + WIDTH + 20.0,
            esc(&self.title),
            esc(&self.subtitle)
        )
    }
}

fn colour(unit: usize) -> &'static str {
    COLOURS[unit % COLOURS.len()]
}

fn fmt_ms(ms: f64) -> String {
    let s = format!("{ms:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s.is_empty() || s == "-0" {
        "0".into()
    } else {
        s.into()
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
}

/// What a schedule source knows about one unit at one instant, for [`Tracker`].
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Known {
    deadline: Option<i64>,
    budget: Option<i64>,
    /// When `budget` was read.
    budget_t: i64,
    level: u32,
    /// Has extratime (a non-RT unit: it reserves nothing, so it misses nothing).
    pub(crate) extratime: bool,
    /// Running since (ns) on `cpu`.
    pub(crate) running: Option<i64>,
    /// Runnable (running or waiting for a CPU) since, ns.
    pub(crate) runnable: Option<i64>,
    pub(crate) cpu: usize,
}

/// Builds a chart from a stream of observations (run starts/ends, budget and deadline
/// readings), deriving exhaustion, replenishment, deadline and miss marks the same way for
/// every source.
#[derive(Default)]
pub(crate) struct Tracker {
    units: BTreeMap<usize, Known>,
    runs: Vec<Run>,
    pub(crate) marks: Vec<Mark>,
}

impl Tracker {
    pub(crate) fn k(&mut self, u: usize) -> &mut Known {
        self.units.entry(u).or_default()
    }

    /// Ends unit `u`'s open run interval, if any, at `t`.
    fn close_run(&mut self, u: usize, t: i64) {
        let k = self.k(u);
        if let Some(s) = k.running.take() {
            let c = k.cpu;
            self.runs.push(Run {
                cpu: c,
                start: s,
                end: t,
                unit: u,
            });
        }
    }

    pub(crate) fn run_start(&mut self, u: usize, cpu: usize, t: i64) {
        self.close_run(u, t);
        self.set_runnable(u, t, true);
        let k = self.k(u);
        k.running = Some(t);
        k.cpu = cpu;
    }

    /// The unit became runnable (or stopped being runnable) at `t`.
    pub(crate) fn set_runnable(&mut self, u: usize, t: i64, runnable: bool) {
        let k = self.k(u);
        if !runnable {
            k.runnable = None;
        } else if k.runnable.is_none() {
            k.runnable = Some(t);
        }
    }

    pub(crate) fn run_end(&mut self, u: usize, t: i64, runnable: bool) {
        self.set_runnable(u, t, runnable);
        self.close_run(u, t);
    }

    /// Budget left at `t` by the last reading (less the time run since).
    fn budget_at(k: &Known, t: i64) -> Option<i64> {
        let b = k.budget?;
        let ran = k.running.map_or(0, |s| t - s.max(k.budget_t));
        Some(b - ran.max(0))
    }

    /// A budget reading after a burn at `t`.
    pub(crate) fn burnt(&mut self, u: usize, t: i64, budget: i64, level: u32) {
        let k = self.k(u);
        let exhausted = (level > k.level) || (level == 0 && budget <= 0 && k.budget != Some(0));
        k.budget = Some(budget);
        k.budget_t = t;
        k.level = level;
        let cpu = k.cpu;
        if exhausted {
            self.marks.push(Mark {
                cpu,
                t,
                kind: MarkKind::Exhausted,
                unit: u,
            });
        }
    }

    /// A budget and deadline reading without a burn (a pick).
    pub(crate) fn seen(&mut self, u: usize, t: i64, deadline: i64, budget: i64) {
        let k = self.k(u);
        if k.deadline.is_none() {
            k.deadline = Some(deadline);
        }
        k.budget = Some(budget);
        k.budget_t = t;
    }

    /// A replenishment at `t`: a new deadline and budget.
    pub(crate) fn replenished(&mut self, u: usize, t: i64, deadline: i64, budget: i64, level: u32) {
        let k = *self.k(u);
        let cpu = k.cpu;
        if let Some(d) = k.deadline {
            self.marks.push(Mark {
                cpu,
                t: d,
                kind: MarkKind::Deadline,
                unit: u,
            });
            let left = Self::budget_at(&k, d.min(t));
            let waiting = k.runnable.is_some_and(|since| since <= d);
            if !k.extratime && k.level == 0 && waiting && left.is_some_and(|b| b > 0) {
                self.marks.push(Mark {
                    cpu,
                    t: d,
                    kind: MarkKind::Miss,
                    unit: u,
                });
            }
        }
        self.marks.push(Mark {
            cpu,
            t,
            kind: MarkKind::Replenished,
            unit: u,
        });
        let k = self.k(u);
        k.deadline = Some(deadline);
        k.budget = Some(budget);
        k.budget_t = t;
        k.level = level;
    }

    pub(crate) fn finish(mut self, end: i64) -> (Vec<Run>, Vec<Mark>) {
        let open: Vec<usize> = self.units.keys().copied().collect();
        for u in open {
            self.run_end(u, end, true);
            let k = self.units[&u];
            if let Some(d) = k.deadline.filter(|&d| d <= end) {
                self.marks.push(Mark {
                    cpu: k.cpu,
                    t: d,
                    kind: MarkKind::Deadline,
                    unit: u,
                });
            }
        }
        (self.runs, self.marks)
    }
}

/// A chart of a binary trace: run intervals from the core's runstate changes, budgets
/// and deadlines from the `TRC_RTDS_*` records. Times are converted from the TSC with
/// `hz`; deadlines (Xen's system time) are placed by the smallest gap seen between a
/// replenishment record and the deadline it ends (the replenishment timer's latency,
/// taken as 0), so they are exact to that latency.
pub fn trace_chart(
    recs: &[Record],
    hz: u64,
    names: &BTreeMap<u32, String>,
    from_ns: i64,
    len_ns: i64,
) -> Result<Chart> {
    let mut recs: Vec<&Record> = recs.iter().collect();
    // Merge the per-CPU windows in time order (records without a timestamp keep their place).
    let mut last = 0u64;
    let mut keyed: Vec<(u64, usize, &Record)> = Vec::new();
    for (i, r) in recs.drain(..).enumerate() {
        last = r.tsc.unwrap_or(last);
        keyed.push((last, i, r));
    }
    keyed.sort_by_key(|&(t, i, _)| (t, i));
    let tsc0 = keyed
        .iter()
        .find_map(|k| k.2.tsc)
        .context("trace without timestamps")?;
    let ns = |tsc: u64| -> i64 {
        ((tsc.saturating_sub(tsc0)) as u128 * 1_000_000_000 / u128::from(hz.max(1))) as i64
    };
    // Unit ids: domain << 16 | vcpu; the idle domain is left out.
    let mut ids: BTreeMap<u32, usize> = BTreeMap::new();
    let mut unit_of = |dv: u32| -> Option<usize> {
        if dv >> 16 == 0x7fff {
            return None;
        }
        let n = ids.len();
        Some(*ids.entry(dv).or_insert(n))
    };
    // Deadline offset: Xen time minus trace time, from replenishments ending a known deadline.
    let mut prev_dl: BTreeMap<u32, u64> = BTreeMap::new();
    let mut offset: Option<i64> = None;
    for &(tsc, _, r) in &keyed {
        if r.rtds() == Some(4) {
            let dv = r.word(0);
            let dl = r.word64(2);
            if let Some(&d) = prev_dl.get(&dv) {
                let o = d as i64 - ns(tsc);
                offset = Some(offset.map_or(o, |x: i64| x.max(o)));
            }
            prev_dl.insert(dv, dl);
        }
    }
    let offset = offset.unwrap_or(0);
    let mut tr = Tracker::default();
    // Which units have extratime (BUDGET_BURN's has_extratime), before anything is derived.
    for &(_, _, r) in &keyed {
        if r.rtds() == Some(3) {
            if let Some(u) = unit_of(r.word(0)) {
                tr.k(u).extratime = r.word(5) & 0xff != 0;
            }
        }
    }
    let dl = |d: u64| d as i64 - offset;
    let mut end = 0;
    let mut stated = BTreeSet::new();
    for &(tsc, _, r) in &keyed {
        let t = ns(tsc);
        end = end.max(t);
        let cpu = r.cpu as usize;
        if r.event & !0x3ff == TRC_SCHED_RUNSTATE_CHANGE & !0x3ff && r.event & 0xf == 1 {
            let (old, new) = ((r.event >> 8) & 3, (r.event >> 4) & 3);
            let Some(u) = unit_of(r.word(0)) else {
                continue;
            };
            if stated.insert(u) {
                // The unit's first runstate record: its state since the trace began.
                tr.set_runnable(u, 0, old <= 1);
            }
            if new == 0 {
                tr.run_start(u, cpu, t);
            } else if old == 0 {
                if tr.k(u).running.is_none() {
                    // Running since before the trace began (its first record).
                    tr.k(u).running = Some(0);
                    tr.k(u).cpu = cpu;
                }
                tr.run_end(u, t, new == 1);
            } else {
                tr.set_runnable(u, t, new == 1);
            }
            continue;
        }
        // RUNQ_PICK, BUDGET_BURN and BUDGET_REPLENISH name a unit in their first word.
        let Some(n) = r.rtds().filter(|n| (2..=4).contains(n)) else {
            continue;
        };
        let Some(u) = unit_of(r.word(0)) else {
            continue;
        };
        match n {
            2 => tr.seen(u, t, dl(r.word64(1)), r.word64(3) as i64),
            3 => tr.burnt(u, t, r.word64(1) as i64, r.word(4)),
            4 => tr.replenished(u, t, dl(r.word64(2)), r.word64(4) as i64, r.word(1)),
            _ => {}
        }
    }
    let (mut runs, mut marks) = tr.finish(end);
    // Legend order: by domain and VCPU (the map's order), not by first appearance.
    let order: BTreeMap<usize, usize> = ids.values().enumerate().map(|(k, &i)| (i, k)).collect();
    for r in &mut runs {
        r.unit = order[&r.unit];
    }
    for m in &mut marks {
        m.unit = order[&m.unit];
    }
    let mut units = vec![String::new(); ids.len()];
    for (dv, &i) in &ids {
        let i = order[&i];
        let name = names.get(&(dv >> 16)).cloned().unwrap_or_else(|| {
            if dv >> 16 == 0 {
                "Domain-0".into()
            } else {
                format!("d{}", dv >> 16)
            }
        });
        units[i] = format!("{name} (d{}v{})", dv >> 16, dv & 0xffff);
    }
    if from_ns > end {
        bail!(
            "the window starts at {} ms, after the trace's end ({} ms)",
            from_ns / 1_000_000,
            end / 1_000_000
        );
    }
    Ok(Chart {
        title: String::new(),
        subtitle: String::new(),
        t0: from_ns,
        t1: from_ns + len_ns,
        cpus: Vec::new(),
        units,
        runs,
        marks,
    }
    .clip())
}

/// `name=id` pairs (`1=rt,2=nrt1`) as a map from domain id to name.
pub fn parse_names(s: &str) -> Result<BTreeMap<u32, String>> {
    let mut m = BTreeMap::new();
    for kv in s.split([',', ' ']).filter(|x| !x.is_empty()) {
        let (id, name) = kv
            .split_once('=')
            .with_context(|| format!("bad name {kv}, want <domid>=<name>"))?;
        m.insert(
            id.parse()
                .with_context(|| format!("bad domain id in {kv}"))?,
            name.to_string(),
        );
    }
    Ok(m)
}

/// Runs `cargo xtask gantt`.
pub fn run(a: &Args) -> Result<()> {
    let from = (a.from_ms * 1e6) as i64;
    let len = (a.window_ms * 1e6) as i64;
    if len <= 0 {
        bail!("--window-ms must be positive");
    }
    let mut chart = if let Some(sc) = &a.sim {
        crate::gantt_sim::chart(sc, from, len)?
    } else if let Some(p) = &a.trace {
        let hz =
            a.hz.context("--trace needs --hz (Xen's \"Detected N MHz processor\" x 10^6)")?;
        let bin = fs::read(p).with_context(|| format!("reading {}", p.display()))?;
        let recs = xentrace::decode(&bin)?;
        let mut c = trace_chart(&recs, hz, &parse_names(&a.names)?, from, len)?;
        let file = p
            .file_name()
            .map_or(p.display().to_string(), |f| f.to_string_lossy().into());
        c.subtitle = format!(
            "{} records of xentrace; cargo xtask gantt --trace {file} --hz {hz} --names {} --from-ms {} --window-ms {}",
            recs.len(),
            a.names,
            a.from_ms,
            a.window_ms
        );
        c
    } else {
        bail!("give --sim <scenario> or --trace <file>");
    };
    if let Some(t) = &a.title {
        chart.title = t.clone();
    }
    if let Some(d) = a.out.parent() {
        fs::create_dir_all(d)?;
    }
    fs::write(&a.out, chart.svg())?;
    println!(
        "{}: {} lanes, {} runs, {} marks",
        a.out.display(),
        chart.cpus.len(),
        chart.runs.len(),
        chart.marks.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn sample() -> Chart {
        Chart {
            title: "t".into(),
            subtitle: "s".into(),
            t0: 0,
            t1: 20 * MS,
            cpus: vec![],
            units: vec!["a".into(), "b<c".into()],
            runs: vec![
                Run {
                    cpu: 1,
                    start: -MS,
                    end: 4 * MS,
                    unit: 0,
                },
                Run {
                    cpu: 1,
                    start: 4 * MS,
                    end: 30 * MS,
                    unit: 1,
                },
                Run {
                    cpu: 3,
                    start: 25 * MS,
                    end: 26 * MS,
                    unit: 1,
                },
            ],
            marks: vec![
                Mark {
                    cpu: 1,
                    t: 4 * MS,
                    kind: MarkKind::Exhausted,
                    unit: 0,
                },
                Mark {
                    cpu: 1,
                    t: 10 * MS,
                    kind: MarkKind::Deadline,
                    unit: 0,
                },
                Mark {
                    cpu: 1,
                    t: 10 * MS,
                    kind: MarkKind::Replenished,
                    unit: 0,
                },
                Mark {
                    cpu: 1,
                    t: 10 * MS,
                    kind: MarkKind::Miss,
                    unit: 1,
                },
                Mark {
                    cpu: 2,
                    t: 21 * MS,
                    kind: MarkKind::Miss,
                    unit: 1,
                },
            ],
        }
        .clip()
    }

    fn count(svg: &str, class: &str) -> usize {
        svg.matches(&format!("class='{class}'")).count()
    }

    /// Every x coordinate of the drawing lies in the chart area.
    fn xs_in_area(svg: &str) -> bool {
        svg.split("x='")
            .skip(1)
            .chain(svg.split("x1='").skip(1))
            .all(|s| {
                let v: f64 = s.split('\'').next().unwrap().parse().unwrap();
                (0.0..=LEFT + WIDTH + 20.0).contains(&v)
            })
    }

    #[test]
    fn draws_each_run_and_mark_in_the_window_once() {
        let c = sample();
        let svg = c.svg();
        assert_eq!(
            c.cpus,
            vec![1],
            "lanes: only PCPUs with something in the window"
        );
        assert_eq!(count(&svg, "run"), 2);
        assert_eq!(
            c.runs[0],
            Run {
                cpu: 1,
                start: 0,
                end: 4 * MS,
                unit: 0
            },
            "clipped"
        );
        assert_eq!(c.runs[1].end, 20 * MS);
        for (k, n) in [
            ("exhausted", 1),
            ("deadline", 1),
            ("replenished", 1),
            ("miss", 1),
        ] {
            assert_eq!(count(&svg, k), n, "{k}");
        }
        assert!(svg.contains("PCPU 1") && !svg.contains("PCPU 3"));
        assert!(svg.contains("b&lt;c"), "names are escaped");
        assert!(xs_in_area(&svg));
        // Legend: every unit and every kind of mark.
        for s in [
            "budget exhausted",
            "replenished (new period)",
            "deadline (unit colour)",
            "deadline miss",
        ] {
            assert!(svg.contains(s), "{s}");
        }
    }

    #[test]
    fn output_is_a_function_of_the_chart() {
        let c = sample();
        let mut shuffled = c.clone();
        shuffled.runs.reverse();
        shuffled.marks.reverse();
        assert_eq!(shuffled.clip().svg(), c.svg());
        let mut other = c.clone();
        other.runs[0].end -= MS / 2;
        assert_ne!(
            other.svg(),
            c.svg(),
            "a changed interval changes the drawing"
        );
    }

    #[test]
    fn tracker_derives_marks() {
        let mut tr = Tracker::default();
        // Unit 0: deadline 10, runs 0-4 and exhausts; replenished at 10.
        tr.replenished(0, 0, 10 * MS, 4 * MS, 0);
        tr.run_start(0, 1, 0);
        tr.burnt(0, 4 * MS, 0, 0);
        tr.run_end(0, 4 * MS, true);
        // Unit 1: deadline 10, runnable, never runs: a miss at 10.
        tr.replenished(1, 0, 10 * MS, 3 * MS, 0);
        tr.set_runnable(1, 0, true);
        tr.k(1).cpu = 1;
        tr.replenished(0, 10 * MS, 20 * MS, 4 * MS, 0);
        tr.replenished(1, 10 * MS, 20 * MS, 3 * MS, 0);
        // Unit 2: blocked with budget left: not a miss.
        tr.replenished(2, 0, 10 * MS, 3 * MS, 0);
        tr.replenished(2, 10 * MS, 20 * MS, 3 * MS, 0);
        // Unit 3: running across its deadline with budget left: a miss.
        tr.replenished(3, 0, 10 * MS, 5 * MS, 0);
        tr.run_start(3, 2, 7 * MS);
        tr.replenished(3, 11 * MS, 20 * MS, 5 * MS, 0);
        let (runs, marks) = tr.finish(12 * MS);
        let misses: Vec<(usize, i64)> = marks
            .iter()
            .filter(|m| m.kind == MarkKind::Miss)
            .map(|m| (m.unit, m.t))
            .collect();
        assert_eq!(misses, vec![(1, 10 * MS), (3, 10 * MS)]);
        let ex: Vec<usize> = marks
            .iter()
            .filter(|m| m.kind == MarkKind::Exhausted)
            .map(|m| m.unit)
            .collect();
        assert_eq!(ex, vec![0]);
        assert!(runs.contains(&Run {
            cpu: 1,
            start: 0,
            end: 4 * MS,
            unit: 0
        }));
        assert!(runs.contains(&Run {
            cpu: 2,
            start: 7 * MS,
            end: 12 * MS,
            unit: 3
        }));
    }

    /// A record at `t` ns (the TSC runs at 1 GHz in these tests).
    fn rec(cpu: u32, t: u64, event: u32, extra: &[u32]) -> Record {
        Record {
            cpu,
            tsc: Some(t),
            event,
            extra: extra.to_vec(),
        }
    }

    fn runstate(cpu: u32, t: i64, dom: u32, old: u32, new: u32) -> Record {
        let ev = TRC_SCHED_RUNSTATE_CHANGE | old << 8 | new << 4;
        rec(cpu, t as u64, ev, &[dom << 16])
    }

    fn rtds(cpu: u32, t: i64, n: u32, dom: u32, words: &[u64], tail: &[u32]) -> Record {
        let mut extra = vec![dom << 16];
        if n == 4 {
            extra.push(0); // priority_level
        }
        for w in words {
            extra.extend([*w as u32, (*w >> 32) as u32]);
        }
        extra.extend(tail);
        rec(cpu, t as u64, crate::xentrace::TRC_RTDS_BASE + n, &extra)
    }

    #[test]
    fn trace_records_become_runs_and_marks() {
        // Xen's clock is 5 ms ahead of the trace's; d1 (no extratime) and d2 (extratime).
        let x = |t: i64| (t + 5 * MS) as u64;
        let recs = vec![
            rtds(1, 0, 4, 1, &[x(10 * MS), 4 * MS as u64], &[]),
            rtds(1, 0, 4, 2, &[x(10 * MS), 10 * MS as u64], &[]),
            runstate(1, MS, 1, 1, 0),
            // d1 burns 2 ms and is preempted with 2 ms left.
            rtds(1, 3 * MS, 3, 1, &[2 * MS as u64], &[2_000_000, 0, 0]),
            runstate(1, 3 * MS, 1, 0, 1),
            runstate(1, 3 * MS, 2, 1, 0),
            rtds(1, 9 * MS, 3, 2, &[4 * MS as u64], &[6_000_000, 0, 1]),
            // The timer at the deadline: both replenished.
            rtds(0, 10 * MS, 4, 1, &[x(20 * MS), 4 * MS as u64], &[]),
            rtds(0, 10 * MS, 4, 2, &[x(20 * MS), 10 * MS as u64], &[]),
            runstate(1, 12 * MS, 2, 0, 2),
            // The idle domain is left out; a SCHEDULE record names no unit.
            runstate(1, 12 * MS, 0x7fff, 1, 0),
            rec(
                1,
                12 * MS as u64,
                crate::xentrace::TRC_RTDS_BASE + 6,
                &[0x1100_0000],
            ),
        ];
        let names = parse_names("1=rt,2=nrt").unwrap();
        let c = trace_chart(&recs, 1_000_000_000, &names, 0, 20 * MS).unwrap();
        assert_eq!(c.units, vec!["rt (d1v0)".to_string(), "nrt (d2v0)".into()]);
        assert_eq!(
            c.runs,
            vec![
                Run {
                    cpu: 1,
                    start: MS,
                    end: 3 * MS,
                    unit: 0
                },
                Run {
                    cpu: 1,
                    start: 3 * MS,
                    end: 12 * MS,
                    unit: 1
                },
            ]
        );
        let kinds = |u: usize, k: MarkKind| -> Vec<i64> {
            c.marks
                .iter()
                .filter(|m| m.unit == u && m.kind == k)
                .map(|m| m.t)
                .collect()
        };
        // Deadlines are placed at 10 ms in trace time (the 5 ms offset removed).
        assert_eq!(kinds(0, MarkKind::Deadline), vec![10 * MS]);
        assert_eq!(
            kinds(0, MarkKind::Miss),
            vec![10 * MS],
            "runnable with 2 ms left"
        );
        assert!(
            kinds(1, MarkKind::Miss).is_empty(),
            "extratime: reserves nothing"
        );
        assert_eq!(kinds(1, MarkKind::Replenished), vec![0, 10 * MS]);
        assert!(c.svg().contains("rt (d1v0)"));
    }
}
