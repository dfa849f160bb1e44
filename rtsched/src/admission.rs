//! Admission control: schedulability tests over the reservations of an instance, sound for
//! the server mechanism in use.
//!
//! A *reservation* is a real-time unit's (budget `Q`, period `P`). Under the class rule
//! ([`ClassRule::Classes`]) non-real-time units (extratime with `Q == P`) run only in the
//! background class and reserve nothing, as in RT-Xen 2.1; under plain RTDS order they
//! compete by deadline like any unit, so every unit reserves its bandwidth.
//!
//! What "guaranteed" means here: every real-time unit of an admitted set that is runnable
//! throughout one of its periods receives its full budget in that period, whatever the other
//! units do (sleep, wake late, run always, change parameters within the test). The
//! model-tests property test `guarantees` checks it over random and searched sets and wake
//! patterns.
//!
//! # Why the server matters
//!
//! A deferrable server keeps its budget while its unit sleeps: a unit that wakes late in its
//! period runs its whole budget back to back with the next period's (Strosnider, Lehoczky
//! and Sha 1995; Ghazalie and Baker 1995 for EDF). So its demand in a window of length `t`
//! ending at a deadline is not `floor(t/P) Q` (a sporadic task's) but
//!
//! ```text
//!     W(t) = floor(t / P) Q + min(Q, t mod P)       (the carry-in of the sleeping period)
//! ```
//!
//! and `U <= 1` is not enough on one CPU: two units (10 ms, 20 ms) and (5 ms, 10 ms) have
//! `U = 1`, and the first waking at 10 ms with its full budget takes the whole period
//! [10, 20) of the second. The periodic server (budget consumed while idle) and the
//! constant-bandwidth server (a late wake starts a new period, Abeni and Buttazzo 1998)
//! have no such carry-in and keep the classical bounds.
//!
//! # The tests
//!
//! Bandwidths are integers in parts per million (ppm), rounded up; demand tests are exact
//! integer arithmetic in ns. No floating point, no 128-bit division.
//!
//! | topology | priority | server | test |
//! | --- | --- | --- | --- |
//! | partition | EDF | periodic, CBS | `U <= 1` (Liu and Layland 1973; CBS: Abeni and Buttazzo 1998) |
//! | partition | EDF | deferrable | `U <= 1` and either the per-period test `sum_{j != v} W_j(P_v) <= P_v - Q_v` for every `v` ([`bcl_edf`] with m = 1) or the demand test `sum_j W_j(t) <= t` for `t >= min P` (see `edf_deferrable_demand`); both sufficient, neither dominates |
//! | partition | DM | periodic | hyperbolic bound `prod(u_i + 1) <= 2` (Bini, Buttazzo and Buttazzo 2003) |
//! | partition | DM | deferrable, CBS | response-time bound with carry-in, one CPU ([`bcl_fp`], m = 1) |
//! | global (m CPUs) | EDF | periodic, CBS | GFB: `U <= m - (m - 1) u_max` (Goossens, Funk and Baruah 2003; CBS on global EDF: Baruah, Goossens and Lipari 2002), or BCL ([`bcl_edf`]) |
//! | global (m CPUs) | EDF | deferrable | BCL for global EDF ([`bcl_edf`]; Bertogna, Cirinei and Lipari 2005) with the carry-in bound `W` |
//! | global (m CPUs) | DM | periodic | m = 1: the hyperbolic bound; m >= 2: RM-US, `U <= m^2 / (3m - 2)` and `u_max <= m / (3m - 2)` (Andersson, Baruah and Jonsson 2001), or BCL ([`bcl_fp`]) |
//! | global (m CPUs) | DM | deferrable, CBS | BCL for global fixed priority ([`bcl_fp`]; Bertogna, Cirinei and Lipari 2005) |
//!
//! Every test above is sufficient (never admits a set that can lose budget); where a test
//! would need unbounded work (a demand test close to `U = 1`) it refuses.

use crate::params::Params;
use crate::policy::{ClassRule, Policy, PriorityScheme, ServerKind, Topology};

/// One CPU in ppm.
pub const ONE: u64 = 1_000_000;

/// At most this many points are evaluated by the deferrable demand test; beyond, the set is
/// refused (sufficient test; it happens only very close to `U = 1`).
pub const MAX_DEMAND_POINTS: u32 = 1000;

/// The outcome of a schedulability test.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct Verdict {
    /// Whether the reservations pass the test.
    pub schedulable: bool,
    /// Total reserved bandwidth, ppm.
    pub total_ppm: u64,
    /// Largest single reserved bandwidth, ppm.
    pub max_ppm: u64,
    /// How much more bandwidth (ppm) one more unit could reserve and still pass (as a unit
    /// with a 1 ms period); 0 when none.
    pub remaining_ppm: u64,
}

/// Whether a unit changing from `old` to `new` asks for no more than it had: `new` reserves
/// nothing, or both reserve and `new` has a budget no larger at a period no shorter. Then
/// its work in every window is no larger: the sporadic bound `floor(t/P) Q` and the
/// deferrable server's `W(t)` (module docs) do not grow as `Q` falls or `P` grows.
///
/// The rule for an instance whose reservations no longer pass its test (see
/// `Scheduler::admits`): a CPU left it, which Xen cannot refuse (`cpupool-cpu-remove`, CPU
/// offline). Such an instance still takes every change that asks for no more, one unit or
/// one domain at a time, so that the administrator can bring it back within the test; it
/// refuses what asks for more, as it would anyway. (An instance that passes its test takes
/// a change only if the set after it passes too: the tests alone decide, as before.)
pub fn asks_no_more(classes: ClassRule, old: &Params, new: &Params) -> bool {
    !reserves(classes, new)
        || (reserves(classes, old) && new.budget <= old.budget && new.period >= old.period)
}

/// Whether a unit with these parameters reserves bandwidth under `classes`.
pub fn reserves(classes: ClassRule, p: &Params) -> bool {
    classes == ClassRule::Rtds || p.is_real_time()
}

/// The test of `policy` on `m` CPUs over the parameters in `set` (every unit of the
/// instance; the ones that reserve nothing are left out here). `set` is iterated several
/// times (the demand and interference tests are pairwise). O(n) for the utilisation tests,
/// O(n^2) for the interference tests, O(n * MAX_DEMAND_POINTS) for the demand test.
pub fn verdict<S>(policy: &Policy, m: u32, set: S) -> Verdict
where
    S: Iterator<Item = Params> + Clone,
{
    verdict_with_pool(policy, m, set, core::iter::empty())
}

/// [`verdict`] for the units' reservations `set` beside the instance's spare servers `pool`
/// (see [`passes_with_pool`]).
pub fn verdict_with_pool<S, T>(policy: &Policy, m: u32, set: S, pool: T) -> Verdict
where
    S: Iterator<Item = Params> + Clone,
    T: Iterator<Item = Params> + Clone,
{
    let m = m.max(1);
    let sum = Summary::of(policy, set.clone().chain(pool.clone()));
    let schedulable = passes_with_pool(policy, m, set.clone(), pool.clone());
    let remaining_ppm = if schedulable {
        // Binary search the largest extra bandwidth that keeps the test passing.
        let (mut lo, mut hi) = (0u64, ONE);
        while lo < hi {
            let mid = lo + (hi - lo).div_ceil(2);
            let extra = Params {
                period: 1_000_000,
                budget: mid as i64,
                extratime: false,
            };
            if passes_with_pool(
                policy,
                m,
                set.clone().chain(core::iter::once(extra)),
                pool.clone(),
            ) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        lo
    } else {
        0
    };
    Verdict {
        schedulable,
        total_ppm: sum.total,
        max_ppm: sum.max,
        remaining_ppm,
    }
}

/// Utilisation figures of the reservations.
#[derive(Clone, Copy, Debug, Default)]
struct Summary {
    n: u32,
    /// Sum of bandwidths, ppm (each rounded up), saturating.
    total: u64,
    /// Largest bandwidth, ppm.
    max: u64,
    /// Product of `(1 + u_i)` in ppm (hyperbolic bound), capped at `4 * ONE`.
    hyper: u64,
    /// Sum of budgets, ns, saturating.
    budgets: u64,
    /// Shortest period, ns.
    pmin: i64,
}

impl Summary {
    fn of(policy: &Policy, set: impl Iterator<Item = Params>) -> Self {
        let mut s = Summary {
            hyper: ONE,
            pmin: i64::MAX,
            ..Summary::default()
        };
        for p in set.filter(|p| reserves(policy.classes, p)) {
            let u = p.bandwidth_ppm();
            s.n += 1;
            s.total = s.total.saturating_add(u);
            s.max = s.max.max(u);
            // hyper * (ONE + u) / ONE, rounded up. Past 4 * ONE the test has failed already,
            // so the product is capped there and stays within 64 bits.
            let f = ONE.saturating_add(u.min(4 * ONE));
            s.hyper = (s.hyper.min(4 * ONE) * f).div_ceil(ONE).min(4 * ONE);
            s.budgets = s.budgets.saturating_add(p.budget.max(0) as u64);
            s.pmin = s.pmin.min(p.period);
        }
        s
    }
}

/// Whether the reservations in `set` pass the test of `policy` on `m` CPUs (the verdict
/// without the search for the remaining bandwidth).
pub fn passes<S>(policy: &Policy, m: u32, set: S) -> bool
where
    S: Iterator<Item = Params> + Clone,
{
    passes_with_pool(policy, m, set, core::iter::empty())
}

/// [`passes`] for the units' reservations `set` beside the instance's spare servers `pool`
/// (`sched/spare.rs`). A spare counts as a reservation `(Qs, Ps)` everywhere, except that its
/// work in a window, in the interference tests ([`bcl_edf`]), is bounded by
/// `spare_workload` (a spare lent shortened can exceed a sporadic server's carry-in bound).
pub fn passes_with_pool<S, T>(policy: &Policy, m: u32, set: S, pool: T) -> bool
where
    S: Iterator<Item = Params> + Clone,
    T: Iterator<Item = Params> + Clone,
{
    let pool = pool.filter(|p| reserves(policy.classes, p));
    let items = set
        .clone()
        .filter(|p| reserves(policy.classes, p))
        .map(|p| (p, false))
        .chain(pool.clone().map(|p| (p, true)));
    let set = set.chain(pool);
    let s = Summary::of(policy, set.clone());
    if s.n == 0 {
        return true;
    }
    if m == 0 {
        // No CPU online: no reservation can be met (and the bounds below assume m >= 1).
        return false;
    }
    let set = set.filter(|p| reserves(policy.classes, p));
    let mm = m as u64;
    let fits = s.total <= mm * ONE;
    use PriorityScheme::{Dm, Edf};
    use ServerKind::{Cbs, Deferrable, Periodic};
    use Topology::{Global, Partition};
    match (policy.topology, policy.priority, policy.server) {
        (Partition, Edf, Periodic | Cbs) => s.total <= ONE,
        (Partition, Edf, Deferrable) => {
            s.total <= ONE && (bcl_edf_items(items, 1) || edf_deferrable_demand(set, &s))
        }
        (Partition, Dm, Periodic) => s.hyper <= 2 * ONE,
        (Partition, Dm, Deferrable | Cbs) => fits && bcl_fp(set, 1),
        (Global, Edf, Periodic | Cbs) => {
            // GFB: U <= m - (m - 1) * u_max, all in ppm; or BCL (neither dominates: GFB
            // refuses two full units on four CPUs, the Dhall effect, which BCL admits).
            let bound = (mm * ONE).saturating_sub((mm - 1).saturating_mul(s.max));
            fits && (s.total <= bound || bcl_edf_items(items, m))
        }
        (Global, Edf, Deferrable) => fits && bcl_edf_items(items, m),
        // RM-US's bound says nothing for one CPU (it would give `U <= 1`, which rate
        // monotonic does not meet): there, the hyperbolic bound.
        (Global, Dm, Periodic) if m == 1 => s.hyper <= 2 * ONE,
        (Global, Dm, Periodic) => {
            // U (3m - 2) <= m^2 and u_max (3m - 2) <= m, or BCL.
            let d = 3 * mm - 2;
            let rm_us = (s.total as u128) * (d as u128) <= (mm * mm) as u128 * ONE as u128
                && (s.max as u128) * (d as u128) <= mm as u128 * ONE as u128;
            rm_us || (fits && bcl_fp(set, m))
        }
        (Global, Dm, Deferrable | Cbs) => fits && bcl_fp(set, m),
    }
}

/// Demand of a deferrable server `(q, p)` in a window of length `t >= 0` that ends at a
/// deadline, with EDF: the jobs whose deadlines fall in the window, the earliest of which
/// may have slept at the window's start with its whole budget (carry-in):
/// `floor(t/p) q + min(q, t mod p)`. All in 64 bits: `floor(t/p) q <= t`.
fn carry_in_demand(t: i64, q: i64, p: i64) -> i64 {
    let p = p.max(1);
    (t / p).saturating_mul(q).saturating_add(q.min(t % p))
}

/// Workload of a higher-priority server `(q, p)` in a window of length `l` under fixed
/// priority, carry-in job finishing at its deadline and later jobs at their releases
/// (Bertogna, Cirinei and Lipari 2005): `n q + min(q, l + p - q - n p)`,
/// `n = floor((l + p - q) / p)`. A deferrable server's execution in each period lies in
/// that period, which is all this bound assumes. In `u64` (`l + p < 2^63` is not needed).
fn fp_workload(l: i64, q: i64, p: i64) -> u64 {
    let (l, q, p) = (l.max(0) as u64, q.max(0) as u64, p.max(1) as u64);
    let span = l.saturating_add(p - q.min(p));
    let n = span / p;
    n.saturating_mul(q)
        .saturating_add(q.min(span.saturating_sub(n.saturating_mul(p))))
        .min(l)
}

/// Partitioned EDF with deferrable servers, the processor-demand test with carry-in.
///
/// A unit `v` that misses its budget in a period it is runnable throughout does so at its
/// deadline `d`; let `s` be the last instant before `d` at which no work with deadline
/// `<= d` was pending. `v` is pending throughout its period, so `d - s >= P_v`. In `[s, d]`
/// the CPU ran only work with deadlines `<= d`: each other server's is at most `W_j(d - s)`
/// (it was asleep at `s` or had nothing due), and `v`'s own is `Q_v + W_v(d - s - P_v) =
/// W_v(d - s)`. So the set is safe if `sum_j W_j(t) <= t` for every `t >= min_v P_v`.
/// `sum_j W_j(t) - t` is piecewise linear and its maxima are at `t = min P` or where some
/// `W_j` stops rising (`t = k P_j + Q_j`); it is negative for `t >= L = sum_j Q_j / (1 - U)`
/// (`W_j(t) <= u_j t + Q_j`). Those points are checked; more than [`MAX_DEMAND_POINTS`]
/// refuse.
fn edf_deferrable_demand<S>(set: S, s: &Summary) -> bool
where
    S: Iterator<Item = Params> + Clone,
{
    if s.total >= ONE {
        // No finite horizon: only a single server is safe (it cannot delay itself).
        return s.n <= 1;
    }
    let horizon = s.budgets.saturating_mul(ONE) / (ONE - s.total);
    let horizon = horizon.min(i64::MAX as u64 / 2) as i64;
    let mut t = s.pmin;
    for _ in 0..MAX_DEMAND_POINTS {
        let demand: i128 = set
            .clone()
            .map(|p| carry_in_demand(t, p.budget, p.period) as i128)
            .sum();
        if demand > t as i128 {
            return false;
        }
        if t >= horizon {
            return true;
        }
        // The next point where some W_j stops rising.
        let next = set
            .clone()
            .map(|p| {
                let (q, per) = (p.budget, p.period.max(1));
                if t < q {
                    q
                } else {
                    ((t - q) / per)
                        .saturating_add(1)
                        .saturating_mul(per)
                        .saturating_add(q)
                }
            })
            .min()
            .unwrap_or(i64::MAX);
        if next <= t {
            return false;
        }
        t = next;
    }
    false
}

/// BCL for global EDF (Bertogna, Cirinei and Lipari 2005, discrete time): unit `v` keeps its
/// budget if `sum_{j != v} min(I_j, P_v - Q_v + 1) < m (P_v - Q_v + 1)`, where `I_j` bounds
/// `j`'s work with deadlines in `v`'s period: `W_j(P_v)` (see [`carry_in_demand`]; the
/// carry-in term is the same whether the earliest job ran early or slept and ran late).
pub fn bcl_edf<S>(set: S, m: u32) -> bool
where
    S: Iterator<Item = Params> + Clone,
{
    bcl_edf_items(set.map(|p| (p, false)), m)
}

/// [`bcl_edf`] over `(reservation, is a spare server)`: a spare's work in `v`'s period is
/// bounded by [`spare_workload`].
fn bcl_edf_items<S>(set: S, m: u32) -> bool
where
    S: Iterator<Item = (Params, bool)> + Clone,
{
    bcl(
        set,
        m,
        |_, _| true,
        |v, (p, spare)| {
            if spare {
                spare_workload(v.period, p.budget, p.period)
            } else {
                carry_in_demand(v.period, p.budget, p.period).max(0) as u64
            }
        },
    )
}

/// Work of a spare server `(q, p)` with deadlines in a window of length `l` that it can run
/// in the window: `min(l, q + q (l - q) / p)` (rounded up). A spare is a hard CBS whose
/// period may end early for a unit's own replenishment (lent shortened, `sched/spare.rs`):
/// a period that ends `d <= p` into the window runs at most `min(q, d)` in it, each later
/// period whose deadline falls in the window `q`, and a last one lent shortened to the
/// window's end `q` per `p` of what is left; the sum is at most `min(q, d) + q (l - d) / p`,
/// largest at `d = q`. A sporadic server's carry-in bound `W(l)` (`carry_in_demand`) is
/// lower between the points `l = k p + q` (by up to `q (1 - q / p)`), and a shortened spare
/// reaches this bound there: its period ending at `q` runs `q`, then a shortened period to
/// `l` runs `q (l - q) / p`.
fn spare_workload(l: i64, q: i64, p: i64) -> u64 {
    let (l, q, p) = (l.max(0) as u64, q.max(0) as u64, p.max(1) as u64);
    if l <= q {
        return l;
    }
    let t = l - q;
    let (n, r) = (t / p, t % p);
    // ceil(q r / p) < q + 1; when q r overflows, q bounds it from above.
    let tail = q.checked_mul(r).map_or(q, |qr| qr.div_ceil(p));
    q.saturating_add(n.saturating_mul(q))
        .saturating_add(tail)
        .min(l)
}

/// BCL for global fixed priority (Bertogna, Cirinei and Lipari 2005): unit `v` keeps its
/// budget if `sum_{j in hp(v)} min(W_j(P_v), P_v - Q_v + 1) < m (P_v - Q_v + 1)` with the
/// workload bound [`fp_workload`]; `hp(v)` is every other unit with a period not longer than
/// `v`'s (DM; equal periods count both ways). With `m = 1` this is a sufficient
/// response-time test: `Q_v + sum_hp W_j(P_v) <= P_v`.
pub fn bcl_fp<S>(set: S, m: u32) -> bool
where
    S: Iterator<Item = Params> + Clone,
{
    bcl(
        set.map(|p| (p, false)),
        m,
        |v, p| p.period <= v.period,
        |v, (p, _)| fp_workload(v.period, p.budget, p.period),
    )
}

/// The BCL condition for every unit `v` of `set`: the interference of the other units that
/// `interferes(v, j)` admits, each bounded by `workload(v, j)` and by `v`'s slack
/// `P_v - Q_v + 1`, is below `m` times that slack. O(n^2).
fn bcl<S>(
    set: S,
    m: u32,
    interferes: impl Fn(&Params, &Params) -> bool,
    workload: impl Fn(&Params, (Params, bool)) -> u64,
) -> bool
where
    S: Iterator<Item = (Params, bool)> + Clone,
{
    set.clone().enumerate().all(|(i, (v, _))| {
        let slack = (v.period - v.budget).saturating_add(1).max(1) as u128;
        let interference: u128 = set
            .clone()
            .enumerate()
            .filter(|(j, (p, _))| *j != i && interferes(&v, p))
            .map(|(_, p)| (workload(&v, p) as u128).min(slack))
            .sum();
        interference < m as u128 * slack
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::MILLISECS as MS;

    fn p(b: i64, per: i64) -> Params {
        Params {
            period: per * MS,
            budget: b * MS,
            extratime: false,
        }
    }

    fn pol(topology: Topology, priority: PriorityScheme, server: ServerKind) -> Policy {
        Policy {
            topology,
            priority,
            server,
            ..Policy::default()
        }
    }

    fn ok(policy: Policy, m: u32, set: &[Params]) -> Verdict {
        verdict(&policy, m, set.iter().copied())
    }

    const PART: Topology = Topology::Partition;
    const GLOB: Topology = Topology::Global;
    use PriorityScheme::{Dm, Edf};
    use ServerKind::{Cbs, Deferrable, Periodic};

    #[test]
    fn partition_edf_is_utilisation_for_periodic_and_cbs() {
        for k in [Periodic, Cbs] {
            let v = ok(pol(PART, Edf, k), 1, &[p(5, 10), p(5, 10)]);
            assert!(v.schedulable);
            assert_eq!(v.remaining_ppm, 0);
            assert!(!ok(pol(PART, Edf, k), 1, &[p(5, 10), p(5, 10), p(1, 100)]).schedulable);
        }
        // Non-RT units reserve nothing under the class rule, everything under RTDS order.
        let non_rt = Params {
            period: 10 * MS,
            budget: 10 * MS,
            extratime: true,
        };
        assert_eq!(ok(pol(PART, Edf, Cbs), 1, &[non_rt]).total_ppm, 0);
        let rtds = Policy {
            classes: ClassRule::Rtds,
            ..pol(PART, Edf, Cbs)
        };
        assert!(!ok(rtds, 1, &[non_rt, p(1, 10)]).schedulable);
    }

    #[test]
    fn partition_edf_deferrable_accounts_for_back_to_back() {
        // U = 1 with a long-period deferrable server: refused (the late wake of the first
        // takes a whole period of the second); the same set passes with CBS.
        let set = [p(10, 20), p(5, 10)];
        assert!(!ok(pol(PART, Edf, Deferrable), 1, &set).schedulable);
        assert!(ok(pol(PART, Edf, Cbs), 1, &set).schedulable);
        // Equal periods: within one period the other can take at most its budget:
        // W(10) = 4 <= 10 - 4 (the per-period test; the demand test alone refuses it at
        // t = 14, where it counts both carry-ins in full).
        assert!(ok(pol(PART, Edf, Deferrable), 1, &[p(4, 10), p(4, 10)]).schedulable);
        // Hand-computed: (2, 10) and (6, 20): t = 10: W1 = 2, W2 = min(6, 10) = 6 -> 8 <= 10;
        // t = 12: 2 + 6 = 8 <= 12 ... passes; (4, 10) and (8, 20): t = 10: 4 + 8 = 12 > 10.
        assert!(ok(pol(PART, Edf, Deferrable), 1, &[p(2, 10), p(6, 20)]).schedulable);
        assert!(!ok(pol(PART, Edf, Deferrable), 1, &[p(4, 10), p(8, 20)]).schedulable);
        // A single server is safe at any bandwidth.
        assert!(ok(pol(PART, Edf, Deferrable), 1, &[p(10, 10)]).schedulable);
    }

    #[test]
    fn a_spare_counts_by_its_bandwidth_line_in_the_interference_tests() {
        // (1, 10) in a window of 10: a sporadic server's W is 1, a spare lent shortened runs
        // up to 1 + 9/10 (a period ending 1 ms in, then a lend shortened to the window's end).
        assert_eq!(carry_in_demand(10 * MS, MS, 10 * MS), MS);
        assert_eq!(spare_workload(10 * MS, MS, 10 * MS), 1_900_000);
        // Equal at l = k p + q, never below W, capped at the window.
        assert_eq!(spare_workload(21 * MS, MS, 10 * MS), 3 * MS as u64);
        assert_eq!(spare_workload(MS / 2, MS, 10 * MS), MS as u64 / 2);
        for l in (0..200).map(|k| k * 370_001) {
            for (q, per) in [(MS, 10 * MS), (4 * MS, 10 * MS), (3 * MS, 7 * MS)] {
                let w = carry_in_demand(l, q, per) as u64;
                assert!(spare_workload(l, q, per) >= w, "l {l} q {q} p {per}");
            }
        }
        // Same utilisation, so only the interference tests see it: one CPU, global EDF,
        // deferrable (BCL only): (8.5, 10) beside a (1, 10) unit passes (1 ms of interference
        // within its 1.5 ms slack), beside a (1, 10) spare it does not (1.9 ms).
        let g = pol(GLOB, Edf, Deferrable);
        let a = Params {
            budget: 8_500_000,
            ..p(0, 10)
        };
        assert!(passes(&g, 1, [a, p(1, 10)].into_iter()));
        assert!(!passes_with_pool(
            &g,
            1,
            [a].into_iter(),
            [p(1, 10)].into_iter()
        ));
        // A bandwidth test is unchanged (one CPU, CBS: U = 0.95).
        let c = pol(PART, Edf, Cbs);
        assert!(passes_with_pool(
            &c,
            1,
            [a].into_iter(),
            [p(1, 10)].into_iter()
        ));
        assert_eq!(
            verdict_with_pool(&c, 1, [a].into_iter(), [p(1, 10)].into_iter()).total_ppm,
            950_000
        );
    }

    #[test]
    fn carry_in_demand_by_hand() {
        // (4, 10): t = 3 -> 3; t = 10 -> 4; t = 13 -> 4 + 3; t = 25 -> 8 + 4.
        assert_eq!(carry_in_demand(3, 4, 10), 3);
        assert_eq!(carry_in_demand(10, 4, 10), 4);
        assert_eq!(carry_in_demand(13, 4, 10), 7);
        assert_eq!(carry_in_demand(25, 4, 10), 12);
        // FP workload of (4, 10) in a window of 10: n = floor(16/10) = 1, 4 + min(4, 6) = 8
        // (the carry-in job's last 4 before its deadline, then the next job's 4).
        assert_eq!(fp_workload(10, 4, 10), 8);
        assert_eq!(fp_workload(3, 4, 10), 3); // (capped at the window)
    }

    #[test]
    fn partition_dm() {
        // Periodic: hyperbolic. Two units of 0.4: 1.96 <= 2 passes; 0.5 + 0.4: 2.1 fails.
        assert!(ok(pol(PART, Dm, Periodic), 1, &[p(4, 10), p(4, 10)]).schedulable);
        assert!(!ok(pol(PART, Dm, Periodic), 1, &[p(5, 10), p(4, 10)]).schedulable);
        // Deferrable, one CPU: (2, 10) above (3, 20): W = fp_workload(20, 2, 10) =
        // n = floor(28/10) = 2 -> 4 + min(2, 8) = 6; 3 + 6 <= 20 passes. v = (2, 10):
        // interference from nothing shorter (equal periods only). Passes.
        assert!(ok(pol(PART, Dm, Deferrable), 1, &[p(2, 10), p(3, 20)]).schedulable);
        // (5, 10) above (5, 20): W = n = floor(25/10) = 2 -> 10 + min(5, 5) = 15 <= 20 - 5:
        // passes, exactly (carry-in [0, 5), then [5, 10) and [15, 20); (5, 20) gets [10, 15)).
        assert!(ok(pol(PART, Dm, Deferrable), 1, &[p(5, 10), p(5, 20)]).schedulable);
        // (5, 10) above (6, 20): 15 > 20 - 6: refused.
        assert!(!ok(pol(PART, Dm, Deferrable), 1, &[p(5, 10), p(6, 20)]).schedulable);
    }

    #[test]
    fn global_edf() {
        // GFB: 0.5 0.4 0.4 0.3 0.2 0.2 = 2.0 = 3 - 2 * 0.5 on 3 CPUs passes exactly.
        let set = [p(5, 10), p(4, 10), p(4, 10), p(3, 10), p(2, 10), p(2, 10)];
        let v = ok(pol(GLOB, Edf, Periodic), 3, &set);
        assert!(v.schedulable, "{v:?}");
        assert_eq!(v.total_ppm, 2 * ONE);
        let stress = [p(8, 10), p(6, 10), p(5, 10), p(4, 10), p(3, 10), p(2, 10)];
        assert!(!ok(pol(GLOB, Edf, Cbs), 3, &stress).schedulable);
        // Two full units on four CPUs: GFB refuses (4 - 3 * 1 = 1 < 2), BCL admits.
        assert!(ok(pol(GLOB, Edf, Periodic), 4, &[p(10, 10), p(10, 10)]).schedulable);
        assert!(!ok(pol(GLOB, Edf, Periodic), 1, &[p(10, 10), p(10, 10)]).schedulable);
        // Deferrable: BCL. Two (5, 10) on 2 CPUs: interference min(5, 6) = 5 < 2 * 6.
        assert!(ok(pol(GLOB, Edf, Deferrable), 2, &[p(5, 10), p(5, 10)]).schedulable);
        // Three (6, 10) on 2 CPUs: U = 1.8; for each, 2 * min(6, 5) = 10 is not < 2 * 5.
        assert!(
            !ok(
                pol(GLOB, Edf, Deferrable),
                2,
                &[p(6, 10), p(6, 10), p(6, 10)]
            )
            .schedulable
        );
    }

    /// A change that asks for no more (a budget no larger at a period no shorter) has no
    /// larger work bound in any window: the deferrable server's EDF demand and the
    /// fixed-priority workload, over every small server and window.
    #[test]
    fn asking_for_no_more_bounds_the_work_in_every_window() {
        let c = ClassRule::Classes;
        let par = |q: i64, per: i64| Params {
            period: per,
            budget: q,
            extratime: false,
        };
        let mut checked = 0;
        for p0 in 1..=14i64 {
            for q0 in 1..=p0 {
                for p1 in 1..=18i64 {
                    for q1 in 1..=p1 {
                        if !asks_no_more(c, &par(q0, p0), &par(q1, p1)) {
                            assert!(q1 > q0 || p1 < p0);
                            continue;
                        }
                        checked += 1;
                        for t in 0..=60 {
                            assert!(carry_in_demand(t, q1, p1) <= carry_in_demand(t, q0, p0));
                            assert!(fp_workload(t, q1, p1) <= fp_workload(t, q0, p0));
                        }
                    }
                }
            }
        }
        assert!(checked > 1000);
        // A unit that reserves nothing asks for no more; one that starts reserving asks more.
        let non_rt = Params {
            period: 10,
            budget: 10,
            extratime: true,
        };
        assert!(asks_no_more(c, &par(1, 10), &non_rt));
        assert!(!asks_no_more(c, &non_rt, &par(1, 10)));
        // Under plain RTDS order every unit reserves.
        assert!(!asks_no_more(ClassRule::Rtds, &par(1, 10), &non_rt));
    }

    /// The refusal `cargo xtask xen-boot` provokes on Xen (`xtask/boot/pools.sh`, step
    /// admission-refuses, default policy with admission): dom0's VCPU 0 at (3 ms, 15 ms) and
    /// VCPU 1 asking for (10 ms, 10 ms) is refused on Pool-0's one PCPU and admitted on two
    /// (step admission-two-cpus); VCPU 1's values before, (7.5 ms, 30 ms) with extratime, fit
    /// on one.
    #[test]
    fn the_boots_refusal() {
        let policy = Policy {
            admission: true,
            ..Policy::default()
        };
        let vcpu0 = p(3, 15);
        let before = Params {
            period: 30 * MS,
            budget: 7 * MS + MS / 2,
            extratime: true,
        };
        assert!(reserves(policy.classes, &before));
        assert!(verdict(&policy, 1, [vcpu0, before].into_iter()).schedulable);
        assert!(!verdict(&policy, 1, [vcpu0, p(10, 10)].into_iter()).schedulable);
        assert!(verdict(&policy, 2, [vcpu0, p(10, 10)].into_iter()).schedulable);
    }

    #[test]
    fn global_dm() {
        // RM-US, m = 2: U <= 1, u_max <= 0.5.
        assert!(ok(pol(GLOB, Dm, Periodic), 2, &[p(5, 10), p(5, 10)]).schedulable);
        assert!(!ok(pol(GLOB, Dm, Periodic), 2, &[p(5, 10), p(5, 10), p(1, 10)]).schedulable);
        assert!(ok(pol(GLOB, Dm, Deferrable), 2, &[p(3, 10), p(3, 10)]).schedulable);
    }
}
