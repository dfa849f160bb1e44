//! Per-hook and per-workload cost of rtsched and rt.c, in the same process.
//!
//! # Method
//!
//! A [`Config`] is a workload [`Shape`] at a size (units x CPUs). For each implementation the
//! seeded host actions (time advances: slices end and the replenishment timer fires; a
//! running unit blocks; a blocked unit wakes; a unit is paused) are first played once
//! against a fresh instance by the host model (`host_model`: current unit per CPU, slice
//! ends, reschedule requests, timers), and every hook call it makes is written to a [`Tape`] with
//! its arguments and a digest of its results. Each implementation has its own tape: their
//! decisions differ where rtsched deliberately deviates, so each host follows its own
//! scheduler, as Xen's core would.
//!
//! A measurement replays a tape into a fresh instance (set up identically, untimed): only
//! the hook calls run, back to back, and the digest of the results must equal the
//! recording's (the replay is the same execution). A tape also replays into another build of
//! the same scheduler, which must then decide call for call as the recording did:
//! `cargo xtask bench` records rtsched's tapes through the Rust API and times their replays
//! in the object linked into Xen, through its C ABI ([`Impl::Object`]). The timed kinds of
//! replay ([`Pass::Marked`], untimed, is for instruction counts):
//!
//! - [`Pass::Batched`]: the measured part of the tape (after a warm-up of a tenth) timed as
//!   one interval: the workload's total scheduler time, free of per-call timer reads, so
//!   the counter's resolution does not matter. (The driver takes the least of several: a
//!   replay is deterministic, so other work on the machine can only add to it.)
//! - [`Pass::Overhead`]: the same loop with every hook call replaced by a read of its
//!   arguments, performing only the host's runnable-flag updates (rt.c reads them through
//!   `unit_runnable()`; they are the host's work): subtracted from the batched time.
//! - [`Pass::PerCall`]: every call timed on its own with the time-stamp counter; the mean
//!   empty measurement is subtracted. Single readings are quantised by the counter's step
//!   (about 10 ns on the VMs this ran on), but a call's start is not synchronised with the
//!   steps, so the mean of many readings is unbiased; medians and percentiles of single
//!   readings are only as fine as the step.
//!
//! - [`Pass::Cold`]: as the per-call pass, but before each call of the first part of the
//!   measured span the core's private caches are emptied of the instance's data and code by
//!   reading a buffer of [`EVICT_BYTES`] (untimed), and each reading is fenced (`lfence` on
//!   both sides of `rdtsc`). In a hypervisor the scheduler runs between stretches of guest
//!   execution, which leave little of its data in L1 and L2: this is the cost of a call
//!   as it finds its memory in the shared L3 (the buffer is larger than L2 and smaller than
//!   L3). The rest of the span is replayed unevicted and untimed, so that the digest check
//!   covers the whole replay.
//!
//! The driver ([`crate`]'s `benches/hooks.rs`) interleaves the two implementations in rounds
//! (alternating which goes first), so that a change in the machine's load hits both, and
//! reports per-round ratios: their median and spread.

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use host_model::{done, Hooks, Host, Pick, State};
use rtsched::{
    Actions, CpuMask, Params, Pcpu, Policy, Scheduler, Storage, TimerOp, Topology, Unit, UnitId,
};

use crate::trace::Rng;
use crate::xen::{cycles, cycles_fenced, Glue, ReplqByDeadline, RtC, Stock};

/// The buffer read before each call of the cold-cache pass ([`Pass::Cold`]): 4 MiB, four
/// times the L2 cache of the machines this runs on (1 MiB per core) and an eighth of their
/// L3. Measured there: the cold costs rise with the buffer up to 2 MiB and stay level
/// from 2 to 4 MiB (the L2 is emptied; global, 8 units on 4 CPUs, do_schedule 212 and
/// 217 ns).
pub const EVICT_BYTES: usize = 4 << 20;

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

/// A workload shape: the units' reservations and affinities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Every unit on every CPU, no extratime, `min(50%, 1.5 * CPUs / units)` of a CPU each,
    /// periods 10-20 ms (overload: long run and depleted queues).
    Global,
    /// RT-Xen's Table 4.2 at scale: a quarter of the units real-time (10 ms period, 40% or
    /// less so that they reserve at most half of the CPUs, no extratime), the rest
    /// non-real-time (extratime, budget = period = 10 ms); all on every CPU. Equal periods:
    /// replenishments come in bursts and deadlines tie.
    Table42,
    /// Each unit pinned to one CPU (unit `u` on CPU `u mod CPUs`, as cloud hosts pin
    /// VCPUs), reservations as [`Shape::Global`] with every fourth unit on extratime.
    Pinned,
    /// The units of [`Shape::Pinned`] under rt-partition: rtsched runs one instance per
    /// CPU (`Topology::Partition`, the host dispatches each hook to the unit's or the CPU's
    /// instance, each instance has its own timer); rt.c, which has no partitioned mode, runs
    /// them pinned in one instance, as Xen 4.17 would.
    Partition,
    /// Mixed affinities: 40% of the units on every CPU, 30% on one half of the CPUs, 20% on
    /// a pair, 10% on one CPU; 30% with extratime; periods 1-100 ms; shares as
    /// [`Shape::Global`].
    Mixed,
}

impl Shape {
    /// All, in table order.
    pub const ALL: [Shape; 5] = [
        Shape::Global,
        Shape::Table42,
        Shape::Pinned,
        Shape::Partition,
        Shape::Mixed,
    ];

    /// Name for tables and `BENCH_SHAPES`.
    pub fn name(self) -> &'static str {
        match self {
            Shape::Global => "global",
            Shape::Table42 => "table-4.2",
            Shape::Pinned => "pinned",
            Shape::Partition => "partition",
            Shape::Mixed => "mixed",
        }
    }
}

/// One configuration.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Workload shape.
    pub shape: Shape,
    /// Units.
    pub units: usize,
    /// CPUs (at most 64, rt.c's harness limit).
    pub cpus: usize,
    /// Host actions (a tenth as many more before them are the warm-up).
    pub steps: usize,
    /// Seed of the action sequence and the reservations.
    pub seed: u64,
}

/// Whether a unit on the replenishment queue with this deadline and period is a period or
/// more overdue at `now` (a replenishment its timer left undone, [`Imp::overdue`]).
fn overdue_at(deadline: i64, period: i64, now: i64) -> bool {
    deadline.saturating_add(period) <= now
}

/// Which implementation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Impl {
    /// rtsched.
    Rtsched,
    /// Xen 4.17's rt.c.
    Xen,
    /// rt.c with its replenishment queue ordered by deadline alone
    /// ([`crate::xen::ReplqByDeadline`]): the same work as rtsched's where stock rt.c's timer
    /// leaves replenishments undone.
    XenReplq,
    /// rtsched's object linked into Xen, through its C ABI (`bench/object.rs`); only in a
    /// build with [`OBJECT`].
    Object,
}

/// Whether this build links the object linked into Xen (`RTSCHED_OBJECT` at build time),
/// so that [`Impl::Object`] can run.
pub const OBJECT: bool = cfg!(rtsched_object);

#[cfg(rtsched_object)]
mod object;

/// One unit's reservation and hard affinity (a CPU bit mask).
#[derive(Clone, Copy, Debug)]
pub(crate) struct UnitSpec {
    /// The reservation.
    pub params: Params,
    /// The CPUs it may run on (bit `c`: CPU `c`).
    pub affinity: u64,
}

fn all_cpus(cpus: usize) -> u64 {
    if cpus >= 64 {
        u64::MAX
    } else {
        (1u64 << cpus) - 1
    }
}

/// `share` of a CPU over a period of `lo_ms..=hi_ms` (µs granularity), at least 10 µs.
fn shared(rng: &mut Rng, lo_ms: u64, hi_ms: u64, share: f64, extratime: bool) -> Params {
    let period = rng.range(lo_ms * 1_000, hi_ms * 1_000) as i64 * 1_000;
    let budget = ((period as f64 * share) as i64 / 1_000 * 1_000).clamp(10_000, period);
    Params {
        period,
        budget,
        extratime,
    }
}

/// The units of a workload: unit `u`'s reservation and affinity.
pub(crate) fn specs(cfg: &Config) -> Vec<UnitSpec> {
    let mut rng = Rng::new(cfg.seed ^ 0x5eed);
    let all = all_cpus(cfg.cpus);
    let share = (1.5 * cfg.cpus as f64 / cfg.units as f64).min(0.5);
    (0..cfg.units)
        .map(|u| match cfg.shape {
            Shape::Global => UnitSpec {
                params: shared(&mut rng, 10, 20, share, false),
                affinity: all,
            },
            Shape::Table42 => {
                let rt = cfg.units.div_ceil(4);
                let params = if u % 4 == 0 {
                    let s = (0.5 * cfg.cpus as f64 / rt as f64).min(0.4);
                    shared(&mut rng, 10, 10, s, false)
                } else {
                    shared(&mut rng, 10, 10, 1.0, true)
                };
                UnitSpec {
                    params,
                    affinity: all,
                }
            }
            Shape::Pinned | Shape::Partition => UnitSpec {
                params: shared(&mut rng, 10, 20, share, u % 4 == 3),
                affinity: 1 << (u % cfg.cpus),
            },
            Shape::Mixed => {
                let c = cfg.cpus as u64;
                let affinity = match rng.below(10) {
                    0..=3 => all,
                    4..=6 if c >= 2 => {
                        let half = all_cpus(cfg.cpus / 2);
                        if rng.chance(50) {
                            half
                        } else {
                            all & !half
                        }
                    }
                    7..=8 if c >= 2 => 3 << (2 * rng.below(c / 2)),
                    _ => 1 << rng.below(c),
                };
                let lo = rng.range(1, 100);
                let extratime = rng.chance(30);
                UnitSpec {
                    params: shared(&mut rng, lo, lo, share, extratime),
                    affinity,
                }
            }
        })
        .collect()
}

/// One hook call as the host made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Call {
    /// The host's runnable view of a unit changes (not a hook; rt.c reads it).
    Runnable(u32, bool),
    /// `wake(unit, now)`.
    Wake(u32, i64),
    /// `sleep(unit, now)`.
    Sleep(u32, i64),
    /// `do_schedule(cpu, now, prev_runnable)`.
    Schedule(u32, i64, bool),
    /// `context_saved(unit, now, runnable)`.
    Saved(u32, i64, bool),
    /// The replenishment timer of an instance fires at `now`.
    Timer(u32, i64),
}

impl Call {
    /// The time of the call (`None` for a runnable-flag update).
    fn time(&self) -> Option<i64> {
        match *self {
            Call::Runnable(..) => None,
            Call::Wake(_, t)
            | Call::Sleep(_, t)
            | Call::Schedule(_, t, _)
            | Call::Saved(_, t, _)
            | Call::Timer(_, t) => Some(t),
        }
    }

    fn hook(&self) -> Option<HookKind> {
        match self {
            Call::Runnable(..) => None,
            Call::Wake(..) => Some(HookKind::Wake),
            Call::Sleep(..) => Some(HookKind::Sleep),
            Call::Schedule(..) => Some(HookKind::DoSchedule),
            Call::Saved(..) => Some(HookKind::ContextSaved),
            Call::Timer(..) => Some(HookKind::Replenish),
        }
    }
}

/// The hook calls of one implementation on one configuration (equal tapes: the same calls
/// with the same results).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tape {
    /// Every call, setup wakes first.
    pub calls: Vec<Call>,
    /// Index of the first measured call (the ones before are the warm-up).
    pub start: usize,
    /// Digest of the results of the measured calls.
    digest: u64,
    /// Replenishments left undone at the end of the run ([`Imp::overdue`]).
    pub overdue: usize,
}

impl Tape {
    /// The time a fraction `f` (0 to 1) into the measured calls: the cold-cache pass's
    /// cutoff, taken from one tape and used for both implementations, so that each replays
    /// its own calls over the same span of the workload's time.
    pub fn time_at(&self, f: f64) -> i64 {
        let m = &self.calls[self.start..];
        let i = ((m.len() as f64 * f.clamp(0.0, 1.0)) as usize).min(m.len().saturating_sub(1));
        m[i..]
            .iter()
            .chain(m[..i].iter().rev())
            .find_map(Call::time)
            .unwrap_or(i64::MAX)
    }

    /// Measured calls per hook before time `t` (those the cold-cache pass times).
    pub fn calls_before(&self, t: i64) -> [usize; 5] {
        let mut n = [0; 5];
        for c in &self.calls[self.start..] {
            if let (Some(h), Some(ct)) = (c.hook(), c.time()) {
                if ct < t {
                    n[h as usize] += 1;
                }
            }
        }
        n
    }

    /// Measured calls per hook.
    pub fn counts(&self) -> [usize; 5] {
        // (Every hook call has a time.)
        self.calls_before(i64::MAX)
    }
}

/// The hooks of one implementation as the host calls them: rtsched through its Rust API
/// (one instance or one per CPU), rt.c, or the object linked into Xen through its C ABI
/// (`bench/object.rs`). Units and CPUs are numbered from 0;
/// each hook returns a digest of its results (the reschedule request, a CPU bit mask).
pub(crate) trait Imp {
    /// The host's runnable view of unit `u` changed (rt.c reads it through `unit_runnable()`).
    fn set_runnable(&mut self, u: usize, r: bool);
    /// `unit_wake`.
    fn wake(&mut self, u: usize, now: i64) -> u64;
    /// `unit_sleep`.
    fn sleep(&mut self, u: usize, now: i64) -> u64;
    /// `do_schedule` on CPU `c`: the next unit, its slice and the digest.
    fn do_schedule(&mut self, c: usize, now: i64, prev_runnable: bool)
        -> (Option<usize>, i64, u64);
    /// `context_saved` of unit `u`.
    fn context_saved(&mut self, u: usize, now: i64, runnable: bool) -> u64;
    /// Instance `inst`'s replenishment timer fires.
    fn timer_fire(&mut self, inst: usize, now: i64) -> u64;
    /// Instance `inst`'s programmed timer (host bookkeeping, not timed).
    fn timer(&self, inst: usize) -> Option<i64>;
    /// Units `0..n` on the replenishment queue whose deadline passed at least one period
    /// before `now`: replenishments the implementation's timer has left undone (none in a
    /// scheduler whose timer keeps up; host bookkeeping, not timed).
    fn overdue(&self, n: usize, now: i64) -> usize;
    /// The instance unit `u` belongs to.
    fn unit_inst(&self, _u: usize) -> usize {
        0
    }
    /// The instance CPU `c` belongs to.
    fn cpu_inst(&self, _c: usize) -> usize {
        0
    }
}

fn mix(d: u64, x: u64) -> u64 {
    (d ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(23)
}

/// Makes one call; returns a digest of its results.
#[inline(always)]
fn call<I: Imp>(imp: &mut I, c: &Call) -> u64 {
    match *c {
        Call::Runnable(u, r) => {
            imp.set_runnable(u as usize, r);
            0
        }
        Call::Wake(u, now) => imp.wake(u as usize, now),
        Call::Sleep(u, now) => imp.sleep(u as usize, now),
        Call::Schedule(cpu, now, pr) => {
            let (n, s, m) = imp.do_schedule(cpu as usize, now, pr);
            mix(mix(m, n.map_or(u64::MAX, |n| n as u64)), s as u64)
        }
        Call::Saved(u, now, r) => imp.context_saved(u as usize, now, r),
        Call::Timer(i, now) => imp.timer_fire(i as usize, now),
    }
}

/// What Xen's shim does with a hook's reschedule mask (`rts_apply` in `xen-patch/`): each
/// CPU of it below the CPU count gets a reschedule request, found with a bit scan in the
/// mask's words that hold CPUs (one up to 64 CPUs); here the request is recorded in a word,
/// as rt.c's stub `cpu_raise_softirq` records the requests rt.c makes inside its hooks.
/// Both are timed with the hook. Returns the word (instance CPUs `0..64`).
#[inline(always)]
pub(crate) fn raise(mask: &[u64; 4], ncpus: usize) -> u64 {
    let mut raised = 0u64;
    for (w, &word) in mask.iter().enumerate().take(ncpus.div_ceil(64)) {
        let mut bits = word;
        while bits != 0 {
            let cpu = w * 64 + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if cpu < ncpus {
                raised |= 1u64.wrapping_shl(cpu as u32);
            }
        }
    }
    raised
}

struct R<'a> {
    s: Scheduler<'a>,
}

impl R<'_> {
    /// The actions' reschedule requests, applied as Xen's shim applies them ([`raise`]).
    #[inline(always)]
    fn raise(&self, a: Actions) -> u64 {
        raise(&a.reschedule.bits, self.s.nr_cpus())
    }
}

impl Imp for R<'_> {
    fn set_runnable(&mut self, _: usize, _: bool) {}
    fn wake(&mut self, u: usize, now: i64) -> u64 {
        let a = self.s.wake(UnitId(u as u32), now).expect("wake");
        self.raise(a)
    }
    fn sleep(&mut self, u: usize, _: i64) -> u64 {
        let a = self.s.sleep(UnitId(u as u32)).expect("sleep");
        self.raise(a)
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
        (d.next.map(|u| u.0 as usize), d.slice, self.raise(d.actions))
    }
    fn context_saved(&mut self, u: usize, _: i64, runnable: bool) -> u64 {
        let a = self.s.context_saved(UnitId(u as u32), runnable);
        self.raise(a.expect("context_saved"))
    }
    fn timer_fire(&mut self, _: usize, now: i64) -> u64 {
        let a = self.s.timer_fire(now).expect("timer");
        self.raise(a)
    }
    fn timer(&self, _: usize) -> Option<i64> {
        self.s.timer()
    }
    fn overdue(&self, n: usize, now: i64) -> usize {
        (0..n)
            .filter_map(|u| self.s.unit_info(UnitId(u as u32)).ok())
            .filter(|i| i.on_replq != 0 && overdue_at(i.cur_deadline, i.period, now))
            .count()
    }
}

/// rt-partition's units split over one instance per CPU (each instance's CPU 0): unit `u`
/// is unit `local[u]` of instance `inst[u]`; `global[c]` maps instance `c`'s units back.
pub(crate) struct Split {
    pub inst: Vec<u32>,
    pub local: Vec<u32>,
    pub global: Vec<Vec<u32>>,
}

impl Split {
    /// The split of pinned units over `cpus` instances.
    pub(crate) fn new(specs: &[UnitSpec], cpus: usize) -> Split {
        let mut sp = Split {
            inst: vec![0; specs.len()],
            local: vec![0; specs.len()],
            global: vec![Vec::new(); cpus],
        };
        for (u, s) in specs.iter().enumerate() {
            let c = s.affinity.trailing_zeros() as usize;
            sp.inst[u] = c as u32;
            sp.local[u] = sp.global[c].len() as u32;
            sp.global[c].push(u as u32);
        }
        sp
    }
}

/// rt-partition: one rtsched instance per CPU (see [`Split`]).
struct P<'a> {
    s: Vec<Scheduler<'a>>,
    split: Split,
}

impl<'a> P<'a> {
    fn at(&mut self, u: usize) -> (&mut Scheduler<'a>, UnitId, u64) {
        let i = self.split.inst[u] as usize;
        (&mut self.s[i], UnitId(self.split.local[u]), 1 << i)
    }
}

/// A local reschedule mask (bit 0: the instance's CPU, applied as Xen's shim applies it,
/// [`raise`]) as a global one.
fn resched(m: CpuMask, bit: u64) -> u64 {
    if raise(&m.bits, 1) != 0 {
        bit
    } else {
        0
    }
}

impl Imp for P<'_> {
    fn set_runnable(&mut self, _: usize, _: bool) {}
    fn wake(&mut self, u: usize, now: i64) -> u64 {
        let (s, h, b) = self.at(u);
        resched(s.wake(h, now).expect("wake").reschedule, b)
    }
    fn sleep(&mut self, u: usize, _: i64) -> u64 {
        let (s, h, b) = self.at(u);
        resched(s.sleep(h).expect("sleep").reschedule, b)
    }
    fn do_schedule(
        &mut self,
        c: usize,
        now: i64,
        prev_runnable: bool,
    ) -> (Option<usize>, i64, u64) {
        let d = self.s[c]
            .do_schedule(0, now, prev_runnable, false)
            .expect("do_schedule");
        (
            d.next.map(|u| self.split.global[c][u.0 as usize] as usize),
            d.slice,
            resched(d.actions.reschedule, 1 << c),
        )
    }
    fn context_saved(&mut self, u: usize, _: i64, runnable: bool) -> u64 {
        let (s, h, b) = self.at(u);
        resched(s.context_saved(h, runnable).expect("saved").reschedule, b)
    }
    fn timer_fire(&mut self, i: usize, now: i64) -> u64 {
        resched(self.s[i].timer_fire(now).expect("timer").reschedule, 1 << i)
    }
    fn timer(&self, i: usize) -> Option<i64> {
        self.s[i].timer()
    }
    fn overdue(&self, n: usize, now: i64) -> usize {
        (0..n)
            .filter_map(|u| {
                let s = self.s.get(self.split.inst[u] as usize)?;
                s.unit_info(UnitId(self.split.local[u])).ok()
            })
            .filter(|i| i.on_replq != 0 && overdue_at(i.cur_deadline, i.period, now))
            .count()
    }
    fn unit_inst(&self, u: usize) -> usize {
        self.split.inst[u] as usize
    }
    fn cpu_inst(&self, c: usize) -> usize {
        c
    }
}

impl<G: Glue> Imp for RtC<G> {
    fn set_runnable(&mut self, u: usize, r: bool) {
        RtC::set_runnable(self, u, r);
    }
    fn wake(&mut self, u: usize, now: i64) -> u64 {
        RtC::wake(self, u, now);
        self.take_softirqs()
    }
    fn sleep(&mut self, u: usize, now: i64) -> u64 {
        RtC::sleep(self, u, now);
        self.take_softirqs()
    }
    fn do_schedule(&mut self, c: usize, now: i64, _: bool) -> (Option<usize>, i64, u64) {
        let (n, s, _) = RtC::do_schedule(self, c, now, false);
        (n, s, self.take_softirqs())
    }
    fn context_saved(&mut self, u: usize, now: i64, _: bool) -> u64 {
        RtC::context_saved(self, u, now);
        self.take_softirqs()
    }
    fn timer_fire(&mut self, _: usize, now: i64) -> u64 {
        RtC::timer_fire(self, now);
        self.take_softirqs()
    }
    fn timer(&self, _: usize) -> Option<i64> {
        RtC::timer(self)
    }
    fn overdue(&self, n: usize, now: i64) -> usize {
        let st = self.states(n);
        self.replq()
            .into_iter()
            .filter_map(|u| st.get(u))
            .filter(|x| overdue_at(x.cur_deadline, x.period, now))
            .count()
    }
}

/// A copy of rt.c set up for `cfg`: every CPU added, every unit allocated with its
/// reservation and inserted.
fn rt_c<G: Glue>(cfg: &Config, specs: &[UnitSpec]) -> RtC<G> {
    let mut x = RtC::new(cfg.cpus, cfg.units);
    for c in 0..cfg.cpus {
        x.cpu_add(c);
    }
    for (u, s) in specs.iter().enumerate() {
        x.unit_alloc(u, u as u32, 0, s.affinity);
        let p = s.params;
        let rc = x.put_vcpu(
            u,
            (p.period / 1000) as u32,
            (p.budget / 1000) as u32,
            p.extratime,
        );
        assert_eq!(rc, 0);
        x.insert(u, 0, false);
    }
    x
}

/// What to do with a freshly set-up instance (a generic callback: each implementation's
/// storage lives on the stack of [`with_instance`]).
trait Job {
    type Out;
    fn run<I: Imp>(self, imp: &mut I) -> Self::Out;
}

fn with_instance<J: Job>(which: Impl, cfg: &Config, job: J) -> J::Out {
    with_policy(which, cfg, crate::rtds_policy(), job)
}

/// [`with_instance`], rtsched under `policy` (its topology is rt-partition's for the
/// partition shape; rt.c has one policy).
fn with_policy<J: Job>(which: Impl, cfg: &Config, policy: Policy, job: J) -> J::Out {
    let specs = specs(cfg);
    match (which, cfg.shape) {
        (Impl::Xen, _) => job.run(&mut rt_c::<Stock>(cfg, &specs)),
        (Impl::XenReplq, _) => job.run(&mut rt_c::<ReplqByDeadline>(cfg, &specs)),
        #[cfg(rtsched_object)]
        (Impl::Object, _) => object::with_policy(cfg, policy, job),
        #[cfg(not(rtsched_object))]
        (Impl::Object, _) => panic!("built without RTSCHED_OBJECT: no object to run"),
        (Impl::Rtsched, Shape::Partition) => {
            let n = cfg.cpus;
            let split = Split::new(&specs, n);
            let global = &split.global;
            let mut units: Vec<Vec<Unit>> =
                global.iter().map(|g| vec![Unit::EMPTY; g.len()]).collect();
            let mut runq: Vec<Vec<u32>> = global.iter().map(|g| vec![0; g.len()]).collect();
            let mut replq: Vec<Vec<u32>> = global.iter().map(|g| vec![0; g.len()]).collect();
            let mut pcpus = vec![[Pcpu::IDLE; 1]; n];
            let policy = Policy {
                topology: Topology::Partition,
                ..policy
            };
            let mut s: Vec<Scheduler> = units
                .iter_mut()
                .zip(runq.iter_mut())
                .zip(replq.iter_mut())
                .zip(pcpus.iter_mut())
                .map(|(((u, r), q), p)| {
                    let st = Storage {
                        units: u,
                        runq: r,
                        replq: q,
                        cpus: p,
                    };
                    let mut s = Scheduler::new(st, policy).expect("storage");
                    s.cpu_add(0).expect("cpu");
                    s
                })
                .collect();
            for (u, sp) in specs.iter().enumerate() {
                let i = split.inst[u] as usize;
                let id = s[i]
                    .unit_alloc(u as u32, 0, CpuMask::single(0))
                    .expect("alloc");
                assert_eq!(id.0, split.local[u]);
                s[i].set_params(id, sp.params).expect("params");
                s[i].insert(id, 0, false, false).expect("insert");
            }
            job.run(&mut P { s, split })
        }
        (Impl::Rtsched, _) => {
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
            let mut s = Scheduler::new(storage, policy).expect("storage");
            for c in 0..cfg.cpus {
                s.cpu_add(c).expect("cpu");
            }
            for (u, sp) in specs.iter().enumerate() {
                let mut m = CpuMask::EMPTY;
                m.bits[0] = sp.affinity;
                let id = s.unit_alloc(u as u32, 0, m).expect("alloc");
                assert_eq!(id.0 as usize, u);
                s.set_params(id, sp.params).expect("params");
                s.insert(id, 0, false, false).expect("insert");
            }
            job.run(&mut R { s })
        }
    }
}

/// The recording side of the host model: the implementation, every hook call the host
/// makes written to the tape (with a digest of its results), and the blocked units the
/// seeded actions wake.
struct Recorder<'i, I: Imp> {
    imp: &'i mut I,
    calls: Vec<Call>,
    measuring: bool,
    digest: u64,
    blocked: Vec<usize>,
}

impl<I: Imp> Recorder<'_, I> {
    fn call(&mut self, c: Call) -> u64 {
        let d = call(self.imp, &c);
        self.record(c, d)
    }

    fn record(&mut self, c: Call, d: u64) -> u64 {
        if self.measuring {
            self.digest = mix(self.digest, d);
        }
        self.calls.push(c);
        d
    }

    /// A call's requests (a CPU mask) and instance `inst`'s timer after it.
    fn actions(&self, inst: usize, m: u64) -> Actions {
        let mut a = Actions::default();
        a.reschedule.bits[0] = m;
        a.timer = self.imp.timer(inst).map_or(TimerOp::Stop, TimerOp::Set);
        a
    }
}

impl<I: Imp> Hooks for Recorder<'_, I> {
    type Error = Infallible;
    fn wake(&mut self, st: &State, u: usize) -> Result<Actions, Infallible> {
        let m = self.call(Call::Wake(u as u32, st.now));
        Ok(self.actions(st.units[u].inst, m))
    }
    fn sleep(&mut self, st: &State, u: usize) -> Result<Actions, Infallible> {
        let m = self.call(Call::Sleep(u as u32, st.now));
        Ok(self.actions(st.units[u].inst, m))
    }
    fn do_schedule(&mut self, st: &State, c: usize, pr: bool, _: bool) -> Result<Pick, Infallible> {
        let (next, slice, m) = self.imp.do_schedule(c, st.now, pr);
        // (The digest `call` takes of the replayed call.)
        let d = mix(mix(m, next.map_or(u64::MAX, |n| n as u64)), slice as u64);
        self.record(Call::Schedule(c as u32, st.now, pr), d);
        Ok(Pick {
            next,
            slice,
            migrated: false,
            actions: self.actions(st.cpu_inst[c], m),
        })
    }
    fn context_saved(&mut self, st: &State, u: usize, r: bool) -> Result<Actions, Infallible> {
        let m = self.call(Call::Saved(u as u32, st.now, r));
        Ok(self.actions(st.units[u].inst, m))
    }
    fn timer_fire(&mut self, st: &State, k: usize) -> Result<Actions, Infallible> {
        let m = self.call(Call::Timer(k as u32, st.now));
        Ok(self.actions(k, m))
    }
    fn set_affinity(&mut self, _: &State, _: usize, _: CpuMask) -> Result<(), Infallible> {
        unreachable!("the benchmark's workloads keep their affinities")
    }
    fn pick_cpu(&mut self, _: &State, _: usize) -> Result<usize, Infallible> {
        unreachable!("the benchmark's workloads keep their affinities")
    }
    fn migrate(&mut self, _: &State, _: usize, _: usize) -> Result<(), Infallible> {
        unreachable!("the benchmark's workloads keep their affinities")
    }
    fn runnable_changed(&mut self, st: &State, u: usize) {
        self.call(Call::Runnable(u as u32, st.runnable(u)));
    }
    fn livelock(&mut self, st: &State) -> Infallible {
        panic!("reschedule requests do not settle at {} ns", st.now)
    }
}

/// One seeded host action, and the requests it causes performed.
fn step<I: Imp>(h: &mut Host<Recorder<I>>, rng: &mut Rng) {
    let n = h.st.units.len();
    match rng.below(100) {
        0..=39 => done(h.advance(h.st.now + rng.below(200_000) as i64)),
        40..=64 => {
            let c = rng.below(h.st.cpus.len() as u64) as usize;
            if let Some(u) = h.st.curr(c).filter(|&u| h.st.runnable(u)) {
                done(h.block(u));
                h.imp.blocked.push(u);
            }
        }
        65..=89 => {
            if !h.imp.blocked.is_empty() {
                let i = rng.below(h.imp.blocked.len() as u64) as usize;
                let u = h.imp.blocked.swap_remove(i);
                done(h.wake(u));
            }
        }
        _ => {
            let u = rng.below(n as u64) as usize;
            if h.st.runnable(u) {
                done(h.pause(u));
                h.imp.blocked.push(u);
            }
        }
    }
    done(h.settle());
}

struct Record<'c>(&'c Config);

impl Job for Record<'_> {
    type Out = Tape;
    fn run<I: Imp>(self, imp: &mut I) -> Tape {
        let cfg = self.0;
        let cpu_inst = (0..cfg.cpus).map(|c| imp.cpu_inst(c)).collect();
        let unit_inst: Vec<usize> = (0..cfg.units).map(|u| imp.unit_inst(u)).collect();
        let rec = Recorder {
            imp,
            calls: Vec::new(),
            measuring: false,
            digest: 0,
            blocked: Vec::new(),
        };
        let mut h = Host::new(rec, cpu_inst);
        for k in unit_inst {
            h.add_unit(k);
        }
        for u in 0..cfg.units {
            done(h.wake(u));
        }
        done(h.settle());
        let mut rng = Rng::new(cfg.seed);
        let mut start = 0;
        for i in 0..cfg.steps + cfg.steps / 10 {
            if i == cfg.steps / 10 {
                h.imp.measuring = true;
                start = h.imp.calls.len();
            }
            step(&mut h, &mut rng);
        }
        let overdue = h.imp.imp.overdue(cfg.units, h.st.now);
        Tape {
            calls: h.imp.calls,
            start,
            digest: h.imp.digest,
            overdue,
        }
    }
}

/// Plays the host actions of `cfg` against `which` and records its hook calls.
pub fn record(which: Impl, cfg: &Config) -> Tape {
    with_instance(which, cfg, Record(cfg))
}

/// [`record`] of rtsched (the Rust API, or the object: [`Impl::Object`]) under another
/// policy than rt.c's (the profile-guided build's training covers every policy).
pub fn record_policy(which: Impl, cfg: &Config, policy: Policy) -> Tape {
    with_policy(which, cfg, policy, Record(cfg))
}

/// A kind of replay (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pass {
    /// The measured calls as one timed interval.
    Batched,
    /// The same loop without the hooks (the host's runnable-flag updates only).
    Overhead,
    /// Every call timed on its own.
    PerCall,
    /// Every call before the given time timed on its own with the caches emptied first
    /// (see the module docs); the later calls replayed untimed.
    Cold(i64),
    /// Untimed: every measured call made through a function of its own per hook,
    /// `difftest::bench::mark_<hook>`, never inlined, for instruction and cache counts under
    /// valgrind (`callgrind --toggle-collect='difftest::bench::mark_*'` counts exactly the
    /// hooks' work; `BENCH_PROFILE=marked-rtsched` or `marked-xen` in `benches/hooks.rs`).
    Marked,
}

/// Loads that bracket each marked call in a memory trace (valgrind's lackey, read by the
/// `lines-touched` binary): a load of `CALL_MARKS[h]` ([`HookKind`] order) starts a call of
/// hook `h`, a load of `CALL_MARKS[5]` ends it.
pub static CALL_MARKS: [AtomicU8; 6] = [const { AtomicU8::new(0) }; 6];

/// The trace markers' addresses and an address on the replay's stack, for `lines-touched`
/// (printed by the marked pass).
pub fn call_mark_line(stack: usize) -> String {
    let a: Vec<String> = CALL_MARKS
        .iter()
        .map(|m| format!("{:x}", m as *const AtomicU8 as usize))
        .collect();
    format!("lines-touched marks {} stack {stack:x}", a.join(" "))
}

#[inline(always)]
fn marked<T>(h: HookKind, f: impl FnOnce() -> T) -> T {
    black_box(CALL_MARKS[h as usize].load(Ordering::Relaxed));
    let r = f();
    black_box(CALL_MARKS[5].load(Ordering::Relaxed));
    r
}

#[inline(never)]
fn mark_do_schedule<I: Imp>(imp: &mut I, cpu: u32, now: i64, pr: bool) -> u64 {
    let (n, s, m) = marked(HookKind::DoSchedule, || {
        imp.do_schedule(cpu as usize, now, pr)
    });
    mix(mix(m, n.map_or(u64::MAX, |n| n as u64)), s as u64)
}
#[inline(never)]
fn mark_wake<I: Imp>(imp: &mut I, u: u32, now: i64) -> u64 {
    marked(HookKind::Wake, || imp.wake(u as usize, now))
}
#[inline(never)]
fn mark_context_saved<I: Imp>(imp: &mut I, u: u32, now: i64, r: bool) -> u64 {
    marked(HookKind::ContextSaved, || {
        imp.context_saved(u as usize, now, r)
    })
}
#[inline(never)]
fn mark_sleep<I: Imp>(imp: &mut I, u: u32, now: i64) -> u64 {
    marked(HookKind::Sleep, || imp.sleep(u as usize, now))
}
#[inline(never)]
fn mark_replenish<I: Imp>(imp: &mut I, i: u32, now: i64) -> u64 {
    marked(HookKind::Replenish, || imp.timer_fire(i as usize, now))
}

/// The result of one replay.
#[derive(Clone, Debug, Default)]
pub struct Replay {
    /// Time-stamp counter ticks of the measured part (batched and overhead passes).
    pub ticks: u64,
    /// Per-call ticks per hook, [`HookKind::ALL`] order (per-call pass).
    pub per_call: [Vec<u64>; 5],
}

struct Play<'t>(&'t Tape, Pass);

impl Job for Play<'_> {
    type Out = Replay;
    fn run<I: Imp>(self, imp: &mut I) -> Replay {
        let Play(tape, pass) = self;
        let (warm, measured) = tape.calls.split_at(tape.start);
        for c in warm {
            call(imp, c);
        }
        let mut out = Replay::default();
        let mut digest = 0u64;
        match pass {
            Pass::Batched => {
                let t = cycles();
                for c in measured {
                    digest = mix(digest, call(imp, c));
                }
                out.ticks = cycles() - t;
            }
            Pass::Overhead => {
                let t = cycles();
                for c in measured {
                    let d = match black_box(c) {
                        Call::Runnable(u, r) => {
                            imp.set_runnable(*u as usize, *r);
                            0
                        }
                        c => black_box(c.hook().map_or(0, |h| h as u64)),
                    };
                    digest = mix(digest, d);
                }
                out.ticks = cycles() - t;
                return out;
            }
            Pass::Marked => {
                let here = 0u8;
                eprintln!("{}", call_mark_line(black_box(&here) as *const u8 as usize));
                for c in measured {
                    let d = match *black_box(c) {
                        Call::Runnable(..) => call(imp, c),
                        Call::Schedule(cpu, now, pr) => mark_do_schedule(imp, cpu, now, pr),
                        Call::Wake(u, now) => mark_wake(imp, u, now),
                        Call::Saved(u, now, r) => mark_context_saved(imp, u, now, r),
                        Call::Sleep(u, now) => mark_sleep(imp, u, now),
                        Call::Timer(i, now) => mark_replenish(imp, i, now),
                    };
                    digest = mix(digest, d);
                }
            }
            Pass::Cold(until) => {
                let evict = vec![1u8; EVICT_BYTES];
                let mut sink = 0u8;
                for c in measured {
                    let (Some(h), Some(t)) = (c.hook(), c.time()) else {
                        digest = mix(digest, call(imp, c));
                        continue;
                    };
                    if t >= until {
                        digest = mix(digest, call(imp, c));
                        continue;
                    }
                    // One read per cache line (reads only: nothing is left to write back).
                    for line in evict.chunks(64) {
                        sink = sink.wrapping_add(line[0]);
                    }
                    black_box(sink);
                    let t = cycles_fenced();
                    let d = call(imp, c);
                    let t = cycles_fenced() - t;
                    digest = mix(digest, d);
                    out.per_call[h as usize].push(t);
                }
            }
            Pass::PerCall => {
                for v in out.per_call.iter_mut() {
                    v.reserve(measured.len() / 2);
                }
                for c in measured {
                    let t = cycles();
                    let d = call(imp, c);
                    let t = cycles() - t;
                    digest = mix(digest, d);
                    if let Some(h) = c.hook() {
                        out.per_call[h as usize].push(t);
                    }
                }
            }
        }
        assert_eq!(
            digest, tape.digest,
            "the replay diverged from the recording"
        );
        out
    }
}

/// Replays `tape` (recorded on `which`) into a fresh instance.
pub fn replay(which: Impl, cfg: &Config, tape: &Tape, pass: Pass) -> Replay {
    with_instance(which, cfg, Play(tape, pass))
}

/// The time-stamp counter's rate, ticks per ns, measured against [`Instant`] over 100 ms.
pub fn tsc_per_ns() -> f64 {
    let (t, c) = (Instant::now(), cycles());
    while t.elapsed().as_millis() < 100 {
        std::hint::spin_loop();
    }
    (cycles() - c) as f64 / t.elapsed().as_nanos() as f64
}

/// An empty measurement: its mean and median cost, and the counter's step (the most
/// frequent nonzero difference of two reads), in ticks.
pub fn empty_measurement() -> (f64, u64, u64) {
    empty_of(cycles)
}

/// [`empty_measurement`] with the fenced counter of the cold-cache pass.
pub fn empty_fenced() -> (f64, u64, u64) {
    empty_of(cycles_fenced)
}

fn empty_of(read: fn() -> u64) -> (f64, u64, u64) {
    let mut v: Vec<u64> = (0..200_000)
        .map(|_| {
            let c = read();
            black_box(c);
            read() - c
        })
        .collect();
    v.sort_unstable();
    // (Readings above 10 times the 99th percentile are preemptions, as in the per-call
    // readings.)
    let cut = v[(v.len() - 1) * 99 / 100] * 10;
    v.truncate(v.partition_point(|&t| t <= cut));
    let mean = v.iter().sum::<u64>() as f64 / v.len() as f64;
    let mut step = (0usize, 1u64);
    let mut i = 0;
    while i < v.len() {
        let j = i + v[i..].iter().take_while(|&&t| t == v[i]).count();
        if v[i] > 0 && j - i > step.0 {
            step = (j - i, v[i]);
        }
        i = j;
    }
    (mean, v[v.len() / 2], step.1)
}

/// Bytes of rtsched's storage per unit (unit slot and its two heap slots), per CPU, and
/// of the instance itself.
pub fn rtsched_sizes() -> (usize, usize, usize) {
    (
        std::mem::size_of::<Unit>() + 2 * std::mem::size_of::<u32>(),
        std::mem::size_of::<Pcpu>(),
        std::mem::size_of::<Scheduler<'static>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`raise`] requests exactly the CPUs of the mask below the CPU count, over random
    /// masks (sparse and dense, all four words) and every CPU count of the harness.
    #[test]
    fn raise_requests_the_masks_cpus_below_the_count() {
        let mut rng = Rng::new(0x005e_ed0f_5a11);
        for _ in 0..20_000 {
            let mut mask = [0u64; 4];
            for w in mask.iter_mut() {
                *w = match rng.below(3) {
                    0 => 0,
                    1 => 1u64 << rng.below(64),
                    _ => rng.next_u64(),
                };
            }
            let n = 1 + rng.below(64) as usize;
            let below = if n == 64 { u64::MAX } else { (1u64 << n) - 1 };
            assert_eq!(raise(&mask, n), mask[0] & below, "{mask:x?} on {n} CPUs");
        }
    }
}
