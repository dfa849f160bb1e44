//! The trace format: scheduler events as Xen's core would produce them, and a seeded
//! generator of random traces.
//!
//! A trace names units by index and CPUs by number. Events are *intents*: the driver checks
//! each one against the host state when it replays it (e.g. `Block(c)` needs a unit running
//! on CPU `c`, `Remove(u)` a paused unit that is off every CPU) and skips it otherwise, so
//! that every subsequence of a trace is a valid trace (which is what shrinking needs).

use serde::{Deserialize, Serialize};

/// One event of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Event {
    /// Time passes by this many ns; on the way, the replenishment timer fires at its expiry
    /// and every CPU whose slice ends runs `do_schedule`, each up to the trace's `late_ns`
    /// late (timer slop, a slow context switch): a unit may overrun its budget.
    Advance(u32),
    /// `insert_unit` of a unit that is not inserted and not runnable (a new or moved
    /// domain is paused).
    Insert(u8),
    /// `remove_unit` of a paused unit that is not running and whose context is saved.
    Remove(u8),
    /// The unit becomes runnable: `wake`.
    Wake(u8),
    /// The unit is paused (`vcpu_sleep_nosync`): `sleep`.
    Sleep(u8),
    /// The unit running on this CPU blocks by itself (`vcpu_block`): no hook, only a
    /// reschedule request on its CPU.
    Block(u8),
    /// A reschedule request on this CPU from outside the scheduler.
    Schedule(u8),
    /// `do_schedule` on this CPU with tasklet work pending; a new request follows.
    Tasklet(u8),
    /// Perform the pending `context_saved` of the unit this CPU switched out (traces with
    /// delayed saves only; it also happens before the CPU's next `do_schedule` and before
    /// time passes).
    Save(u8),
    /// Per-VCPU parameters (`XEN_DOMCTL_SCHEDOP_putvcpuinfo`), in µs.
    SetParams {
        /// Unit.
        unit: u8,
        /// Period, µs.
        period_us: u32,
        /// Budget, µs.
        budget_us: u32,
        /// Extratime flag.
        extratime: bool,
    },
    /// Hard affinity change (`vcpu_set_affinity`: the unit is put to sleep, moved to the
    /// CPU `pick_resource` returns once its context is saved, and woken).
    SetAffinity {
        /// Unit.
        unit: u8,
        /// CPU bit mask (masked with the online CPUs; empty means all).
        mask: u64,
    },
}

/// A unit of a trace, allocated (not inserted) before the first event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnitSpec {
    /// Domain id.
    pub dom: u32,
    /// VCPU id within the domain.
    pub vcpu: u32,
    /// Initial hard affinity (CPU bit mask).
    pub affinity: u64,
    /// Initial period, µs (set with `putvcpuinfo` before insertion).
    pub period_us: u32,
    /// Initial budget, µs.
    pub budget_us: u32,
    /// Initial extratime flag.
    pub extratime: bool,
}

/// A whole trace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// Number of CPUs (all online), 1..=64.
    pub ncpus: u8,
    /// Whether `context_saved` is delayed until a `Save` event (or the CPU's next
    /// `do_schedule`, or time passing) instead of following the switch at once.
    pub delayed_saves: bool,
    /// The units.
    pub units: Vec<UnitSpec>,
    /// The events.
    pub events: Vec<Event>,
    /// How late (ns) the host may run a slice end's `do_schedule` or the replenishment
    /// timer, at most: each lateness is a hash of the CPU and the due time, in
    /// `0..=late_ns`, and at most half the running unit's budget (0: always on time).
    #[serde(default)]
    pub late_ns: u32,
}

impl Trace {
    /// The trace as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses [`Self::to_json`]'s output.
    pub fn from_json(s: &str) -> Result<Trace, serde_json::Error> {
        serde_json::from_str(s)
    }
}

/// A small deterministic generator (SplitMix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }

    /// True with probability `pct` %.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

/// The primes in `lo..=hi`.
pub fn primes(lo: u32, hi: u32) -> Vec<u32> {
    (lo.max(2)..=hi)
        .filter(|&n| (2..).take_while(|d| d * d <= n).all(|d| n % d != 0))
        .collect()
}

/// How the generator shapes traces.
#[derive(Clone, Debug)]
pub struct GenConfig {
    /// CPUs, inclusive range.
    pub cpus: (u8, u8),
    /// Units, inclusive range.
    pub units: (u8, u8),
    /// Events per trace.
    pub events: usize,
}

impl Default for GenConfig {
    fn default() -> Self {
        GenConfig {
            cpus: (1, 8),
            units: (1, 12),
            events: 200,
        }
    }
}

/// A random CPU mask over `n` CPUs: all of them half of the time, else a non-empty subset.
fn mask(rng: &mut Rng, n: u8) -> u64 {
    let all = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
    if rng.chance(50) {
        return all;
    }
    let m = rng.next_u64() & all;
    if m == 0 {
        1 << rng.below(u64::from(n))
    } else {
        m
    }
}

/// Generates a random trace from `seed`.
///
/// Periods are distinct primes between 1 ms and 10 ms (in µs) across the whole trace, and
/// every unit's parameters are set before it is inserted, so deadlines (multiples of the
/// period) of different units meet only at a common multiple, at least ~1 s away, beyond
/// the trace's time span (~0.1 s): priority ties, where rtsched deliberately differs
/// (deviation 7), are avoided at the source. Budgets are 1% to 70% of the period, a few
/// parameter sets are invalid (both implementations must refuse them). Units are inserted
/// paused (deviation 5 is about inserting runnable units).
pub fn generate(seed: u64, cfg: &GenConfig) -> Trace {
    let mut rng = Rng::new(seed);
    let ncpus = rng.range(u64::from(cfg.cpus.0), u64::from(cfg.cpus.1)) as u8;
    let nunits = rng.range(u64::from(cfg.units.0), u64::from(cfg.units.1)) as u8;
    let mut pool = primes(1_000, 10_000);
    let mut period = |rng: &mut Rng| -> u32 {
        let i = rng.below(pool.len() as u64) as usize;
        pool.swap_remove(i)
    };
    let budget = |rng: &mut Rng, p: u32| -> u32 {
        let pct = rng.range(1, 70) as u32;
        (p * pct / 100).max(10)
    };
    // A third of the traces have no extratime unit; in the others, a third of the extratime
    // units are non-real-time (budget = period: always runnable on extratime, the class
    // rule's background class).
    let extra_pct = [0, 15, 40][rng.below(3) as usize];
    let reservation = |rng: &mut Rng, p: u32| -> (u32, bool) {
        let extratime = rng.chance(extra_pct);
        if extratime && rng.chance(33) {
            (p, true)
        } else {
            (budget(rng, p), extratime)
        }
    };
    let mut units = Vec::new();
    for u in 0..nunits {
        let p = period(&mut rng);
        let affinity = mask(&mut rng, ncpus);
        let (budget_us, extratime) = reservation(&mut rng, p);
        units.push(UnitSpec {
            dom: u32::from(u / 3),
            vcpu: u32::from(u % 3),
            affinity,
            period_us: p,
            budget_us,
            extratime,
        });
    }
    let delayed_saves = rng.chance(50);
    // Late rescheduling (Xen's default timer slop is 50 µs) in two thirds of the traces.
    let late_ns = [0, 20_000, 50_000][rng.below(3) as usize];
    let mut events = Vec::with_capacity(cfg.events);
    for u in 0..nunits {
        events.push(Event::Insert(u));
        if rng.chance(70) {
            events.push(Event::Wake(u));
        }
    }
    let unit = |rng: &mut Rng| rng.below(u64::from(nunits)) as u8;
    let cpu = |rng: &mut Rng| rng.below(u64::from(ncpus)) as u8;
    while events.len() < cfg.events {
        let k = rng.below(100);
        let e = match k {
            0..=29 => {
                // Mostly shorter than a period; sometimes long enough to miss deadlines.
                let dt = if rng.chance(10) {
                    rng.range(1_000_000, 12_000_000)
                } else {
                    rng.range(0, 1_500_000)
                };
                Event::Advance(dt as u32)
            }
            30..=46 => Event::Wake(unit(&mut rng)),
            47..=52 => Event::Sleep(unit(&mut rng)),
            53..=63 => Event::Block(cpu(&mut rng)),
            64..=67 => Event::Schedule(cpu(&mut rng)),
            68..=69 => Event::Tasklet(cpu(&mut rng)),
            70..=76 => Event::Save(cpu(&mut rng)),
            77..=85 => {
                let u = unit(&mut rng);
                let (period_us, budget_us, extratime) = if rng.chance(5) {
                    // Invalid: budget above the period, or below 10 µs.
                    if rng.chance(50) {
                        (2_000, 3_000, false)
                    } else {
                        (2_000, 9, false)
                    }
                } else {
                    let p = period(&mut rng);
                    let (b, e) = reservation(&mut rng, p);
                    (p, b, e)
                };
                Event::SetParams {
                    unit: u,
                    period_us,
                    budget_us,
                    extratime,
                }
            }
            86..=92 => Event::SetAffinity {
                unit: unit(&mut rng),
                mask: mask(&mut rng, ncpus),
            },
            93..=95 => Event::Remove(unit(&mut rng)),
            _ => Event::Insert(unit(&mut rng)),
        };
        events.push(e);
    }
    Trace {
        ncpus,
        delayed_saves,
        units,
        events,
        late_ns,
    }
}
