//! Per-hook cost of rtsched and rt.c on the same workload, in the same process.
//!
//! Each configuration (units x CPUs) replays one seeded sequence of host actions into each
//! implementation, with its own host bookkeeping (so that a deliberate deviation cannot
//! desynchronise a shared host): every unit has a reservation of about `1.5 * CPUs /
//! units` of a CPU (at most 50%, so the system is overloaded and both the run queue and
//! the depleted queue are long), hard affinity to all CPUs (rt-global), no extratime.
//! Actions: time advances (slices end, the replenishment timer fires), a running unit
//! blocks, a blocked unit wakes, a unit is paused. Each hook call is timed with the
//! time-stamp counter ([`crate::xen::cycles`], converted to ns with a rate calibrated
//! against [`std::time::Instant`]); the median cost of an empty measurement is subtracted.

use std::time::Instant;

use rtsched::{CpuMask, Params, Pcpu, Scheduler, Storage, Unit, UnitId};

use crate::trace::Rng;
use crate::xen::{cycles, XenRt};

/// The hooks measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HookKind {
    /// `do_schedule`.
    DoSchedule,
    /// `wake`.
    Wake,
    /// `context_saved`.
    ContextSaved,
    /// `sleep`.
    Sleep,
    /// The replenishment timer handler.
    Replenish,
}

impl HookKind {
    /// All, in table order.
    pub const ALL: [HookKind; 5] = [
        HookKind::DoSchedule,
        HookKind::Wake,
        HookKind::ContextSaved,
        HookKind::Sleep,
        HookKind::Replenish,
    ];

    /// Name for tables.
    pub fn name(self) -> &'static str {
        match self {
            HookKind::DoSchedule => "do_schedule",
            HookKind::Wake => "wake",
            HookKind::ContextSaved => "context_saved",
            HookKind::Sleep => "sleep",
            HookKind::Replenish => "replenish",
        }
    }
}

/// The hooks of one implementation, as the benchmark host calls them. Reschedule requests
/// are returned as CPU bit masks.
trait Imp {
    fn set_runnable(&mut self, u: usize, r: bool);
    fn wake(&mut self, u: usize, now: i64) -> u64;
    fn sleep(&mut self, u: usize, now: i64) -> u64;
    fn do_schedule(&mut self, c: usize, now: i64, prev_runnable: bool)
        -> (Option<usize>, i64, u64);
    fn context_saved(&mut self, u: usize, now: i64, runnable: bool) -> u64;
    fn timer_fire(&mut self, now: i64) -> u64;
    fn timer(&self) -> Option<i64>;
}

struct R<'a> {
    s: Scheduler<'a>,
}

impl Imp for R<'_> {
    fn set_runnable(&mut self, _: usize, _: bool) {}
    fn wake(&mut self, u: usize, now: i64) -> u64 {
        self.s
            .wake(UnitId(u as u32), now)
            .expect("wake")
            .reschedule
            .bits[0]
    }
    fn sleep(&mut self, u: usize, _: i64) -> u64 {
        self.s
            .sleep(UnitId(u as u32))
            .expect("sleep")
            .reschedule
            .bits[0]
    }
    fn do_schedule(
        &mut self,
        c: usize,
        now: i64,
        prev_runnable: bool,
    ) -> (Option<usize>, i64, u64) {
        let d = self
            .s
            .do_schedule(c, now, prev_runnable, false)
            .expect("do_schedule");
        (
            d.next.map(|u| u.0 as usize),
            d.slice,
            d.actions.reschedule.bits[0],
        )
    }
    fn context_saved(&mut self, u: usize, _: i64, runnable: bool) -> u64 {
        let a = self.s.context_saved(UnitId(u as u32), runnable);
        a.expect("context_saved").reschedule.bits[0]
    }
    fn timer_fire(&mut self, now: i64) -> u64 {
        self.s.timer_fire(now).expect("timer").reschedule.bits[0]
    }
    fn timer(&self) -> Option<i64> {
        self.s.timer()
    }
}

impl Imp for XenRt {
    fn set_runnable(&mut self, u: usize, r: bool) {
        XenRt::set_runnable(self, u, r);
    }
    fn wake(&mut self, u: usize, now: i64) -> u64 {
        XenRt::wake(self, u, now);
        self.take_softirqs()
    }
    fn sleep(&mut self, u: usize, now: i64) -> u64 {
        XenRt::sleep(self, u, now);
        self.take_softirqs()
    }
    fn do_schedule(&mut self, c: usize, now: i64, _: bool) -> (Option<usize>, i64, u64) {
        let (n, s, _) = XenRt::do_schedule(self, c, now, false);
        (n, s, self.take_softirqs())
    }
    fn context_saved(&mut self, u: usize, now: i64, _: bool) -> u64 {
        XenRt::context_saved(self, u, now);
        self.take_softirqs()
    }
    fn timer_fire(&mut self, now: i64) -> u64 {
        XenRt::timer_fire(self, now);
        self.take_softirqs()
    }
    fn timer(&self) -> Option<i64> {
        XenRt::timer(self)
    }
}

/// One configuration.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Units.
    pub units: usize,
    /// CPUs.
    pub cpus: usize,
    /// Host actions replayed (after a warm-up of a tenth as many, not measured).
    pub steps: usize,
    /// Seed of the action sequence.
    pub seed: u64,
}

/// Cost samples (time-stamp counter ticks) per hook.
#[derive(Clone, Debug, Default)]
pub struct Samples {
    /// Per [`HookKind::ALL`] entry.
    pub ticks: [Vec<u64>; 5],
}

/// Median and 99th percentile of a set of samples, with their count.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stat {
    /// Median, ns.
    pub median: u32,
    /// 99th percentile, ns.
    pub p99: u32,
    /// Mean, ns (unbiased by the clock's granularity, unlike the median: on a VM whose
    /// counter advances in steps of several ns, a quantised duration is right on average).
    pub mean: f64,
    /// Number of samples.
    pub n: usize,
}

impl Samples {
    /// Median and 99th percentile of a hook's samples in ns, less `overhead` ticks, at
    /// `per_ns` ticks per ns.
    pub fn stat(&self, h: HookKind, overhead: u64, per_ns: f64) -> Stat {
        let mut v = self.ticks[h as usize].clone();
        if v.is_empty() {
            return Stat::default();
        }
        v.sort_unstable();
        let at = |q: f64| {
            let t = v[((v.len() - 1) as f64 * q).round() as usize].saturating_sub(overhead);
            (t as f64 / per_ns).round() as u32
        };
        let sum: u64 = v.iter().sum();
        let mean = (sum as f64 / v.len() as f64 - overhead as f64).max(0.0) / per_ns;
        Stat {
            mean,
            median: at(0.5),
            p99: at(0.99),
            n: v.len(),
        }
    }
}

/// The time-stamp counter's rate, ticks per ns, measured against [`Instant`] over 100 ms.
pub fn tsc_per_ns() -> f64 {
    let (t, c) = (Instant::now(), cycles());
    while t.elapsed().as_millis() < 100 {
        std::hint::spin_loop();
    }
    (cycles() - c) as f64 / t.elapsed().as_nanos() as f64
}

/// The median cost of an empty measurement, in time-stamp counter ticks.
pub fn overhead() -> u64 {
    let mut v: Vec<u64> = (0..20_000)
        .map(|_| {
            let c = cycles();
            std::hint::black_box(c);
            cycles() - c
        })
        .collect();
    v.sort_unstable();
    v[v.len() / 2]
}

struct Host<'i, I: Imp> {
    imp: &'i mut I,
    runnable: Vec<bool>,
    blocked: Vec<usize>,
    curr: Vec<Option<usize>>,
    slice_end: Vec<Option<i64>>,
    pending: u64,
    now: i64,
    measure: bool,
    samples: Samples,
}

impl<I: Imp> Host<'_, I> {
    fn timed<T>(&mut self, h: HookKind, f: impl FnOnce(&mut I) -> T) -> T {
        let c = cycles();
        let r = f(self.imp);
        let t = cycles() - c;
        if self.measure {
            self.samples.ticks[h as usize].push(t);
        }
        r
    }

    fn schedule(&mut self, c: usize) {
        let prev = self.curr[c];
        let pr = prev.is_some_and(|u| self.runnable[u]);
        let now = self.now;
        let (next, slice, m) = self.timed(HookKind::DoSchedule, |i| i.do_schedule(c, now, pr));
        self.pending |= m;
        self.curr[c] = next;
        self.slice_end[c] = (slice >= 0).then(|| now + slice);
        if let Some(p) = prev {
            if next != Some(p) {
                let r = self.runnable[p];
                let m = self.timed(HookKind::ContextSaved, |i| i.context_saved(p, now, r));
                self.pending |= m;
            }
        }
    }

    fn settle(&mut self) {
        while self.pending != 0 {
            let c = self.pending.trailing_zeros() as usize;
            self.pending &= !(1 << c);
            self.schedule(c);
        }
    }

    fn advance(&mut self, t: i64) {
        loop {
            let timer = self.imp.timer().unwrap_or(i64::MAX);
            let next = crate::driver::next_event(timer, &self.slice_end);
            if next > t {
                self.now = t;
                return;
            }
            self.now = self.now.max(next);
            for c in 0..self.curr.len() {
                if self.slice_end[c].is_some_and(|e| e <= self.now) {
                    self.slice_end[c] = None;
                    self.pending |= 1 << c;
                }
            }
            if timer <= self.now {
                let now = self.now;
                let m = self.timed(HookKind::Replenish, |i| i.timer_fire(now));
                self.pending |= m;
            }
            self.settle();
        }
    }

    fn step(&mut self, rng: &mut Rng) {
        let n = self.runnable.len();
        match rng.below(100) {
            0..=39 => self.advance(self.now + rng.below(200_000) as i64),
            40..=64 => {
                let c = rng.below(self.curr.len() as u64) as usize;
                if let Some(u) = self.curr[c] {
                    if self.runnable[u] {
                        self.runnable[u] = false;
                        self.imp.set_runnable(u, false);
                        self.blocked.push(u);
                        self.pending |= 1 << c;
                    }
                }
            }
            65..=89 => {
                if !self.blocked.is_empty() {
                    let i = rng.below(self.blocked.len() as u64) as usize;
                    let u = self.blocked.swap_remove(i);
                    self.runnable[u] = true;
                    self.imp.set_runnable(u, true);
                    let now = self.now;
                    let m = self.timed(HookKind::Wake, |i| i.wake(u, now));
                    self.pending |= m;
                }
            }
            _ => {
                let u = rng.below(n as u64) as usize;
                if self.runnable[u] {
                    self.runnable[u] = false;
                    self.imp.set_runnable(u, false);
                    self.blocked.push(u);
                    let now = self.now;
                    let m = self.timed(HookKind::Sleep, |i| i.sleep(u, now));
                    self.pending |= m;
                }
            }
        }
        self.settle();
    }
}

/// The reservation of unit `u` in a configuration: a period of 10-20 ms (µs granularity)
/// and `min(50%, 1.5 * cpus / units)` of it as budget (at least 10 µs).
fn params(cfg: &Config, rng: &mut Rng) -> Params {
    let period = rng.range(10_000, 20_000) as i64 * 1_000;
    let share = (1.5 * cfg.cpus as f64 / cfg.units as f64).min(0.5);
    let budget = ((period as f64 * share) as i64 / 1_000 * 1_000).max(10_000);
    Params {
        period,
        budget,
        extratime: false,
    }
}

fn drive<I: Imp>(imp: &mut I, cfg: &Config) -> Samples {
    let mut h = Host {
        imp,
        runnable: vec![false; cfg.units],
        blocked: Vec::new(),
        curr: vec![None; cfg.cpus],
        slice_end: vec![None; cfg.cpus],
        pending: 0,
        now: 0,
        measure: false,
        samples: Samples::default(),
    };
    for u in 0..cfg.units {
        h.runnable[u] = true;
        h.imp.set_runnable(u, true);
        let m = h.imp.wake(u, 0);
        h.pending |= m;
    }
    h.settle();
    let mut rng = Rng::new(cfg.seed);
    for i in 0..cfg.steps + cfg.steps / 10 {
        h.measure = i >= cfg.steps / 10;
        h.step(&mut rng);
    }
    h.samples
}

/// Runs a configuration on rtsched.
pub fn run_rtsched(cfg: &Config) -> Samples {
    let n = cfg.units;
    let mut units = vec![Unit::EMPTY; n];
    let mut runq = vec![0u32; n];
    let mut replq = vec![0u32; n];
    let mut cpus = vec![Pcpu::IDLE; cfg.cpus];
    let storage = Storage {
        units: &mut units,
        runq: &mut runq,
        replq: &mut replq,
        cpus: &mut cpus,
    };
    let mut s = Scheduler::new(storage, crate::rtds_policy()).expect("storage");
    for c in 0..cfg.cpus {
        s.cpu_add(c).expect("cpu");
    }
    let mut rng = Rng::new(cfg.seed ^ 0x5eed);
    let all = CpuMask::first_n(cfg.cpus);
    for u in 0..n {
        let id = s.unit_alloc(u as u32, 0, all).expect("alloc");
        assert_eq!(id.0 as usize, u);
        s.set_params(id, params(cfg, &mut rng)).expect("params");
        s.insert(id, 0, false, false).expect("insert");
    }
    drive(&mut R { s }, cfg)
}

/// Runs a configuration on rt.c.
pub fn run_xen(cfg: &Config) -> Samples {
    let n = cfg.units;
    let mut x = XenRt::new(cfg.cpus, n);
    for c in 0..cfg.cpus {
        x.cpu_add(c);
    }
    let mut rng = Rng::new(cfg.seed ^ 0x5eed);
    let all = if cfg.cpus == 64 {
        u64::MAX
    } else {
        (1 << cfg.cpus) - 1
    };
    for u in 0..n {
        x.unit_alloc(u, u as u32, 0, all);
        let p = params(cfg, &mut rng);
        let rc = x.put_vcpu(u, (p.period / 1000) as u32, (p.budget / 1000) as u32, false);
        assert_eq!(rc, 0);
        x.insert(u, 0, false);
    }
    drive(&mut x, cfg)
}
