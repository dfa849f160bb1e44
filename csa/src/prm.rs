//! The periodic resource model (PRM) of Shin and Lee, "Periodic resource model for
//! compositional real-time guarantees", RTSS 2003: a resource `Gamma = (Pi, Theta)` supplies
//! `Theta` time units in every period `Pi`, at any time within the period. One VCPU of
//! rtsched with period `Pi` and budget `Theta` is such a resource when the host meets its
//! deadlines (each period's budget is delivered within that period).
//!
//! All arithmetic is in integers (ns); every comparison of demand and supply is exact.

use crate::task::{ceil_div, rm_order, sum_ceil, Task};

/// A periodic resource: `budget` ns in every `period` ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prm {
    /// `Pi`, ns.
    pub period: i64,
    /// `Theta`, ns (`0 <= Theta <= Pi`).
    pub budget: i64,
}

/// Scale of the integer bounds on utilisation sums (see [`edf_schedulable`]).
const SCALE: i128 = 1 << 20;

/// The most points a demand check evaluates before it gives up and reports "not
/// schedulable" (the safe answer; a larger budget shortens the horizon and may pass).
pub const MAX_POINTS: usize = 200_000;

impl Prm {
    /// Supply bound function (Shin and Lee 2003, Theorem 1, in the closed form used by CARTS
    /// and Prosa's `prm_sbf`): the least supply in any interval of length `t`. The worst
    /// case starts right after a budget delivered at the start of its period and continues
    /// with budgets delivered at the end of theirs, a blackout of `2 (Pi - Theta)`:
    ///
    /// `sbf(t) = 0` for `t < Pi - Theta`; else with `y = floor((t - (Pi - Theta)) / Pi)`,
    /// `sbf(t) = y Theta + max(0, t - 2 (Pi - Theta) - y Pi)`.
    pub fn sbf(&self, t: i64) -> i64 {
        let (pi, th) = (self.period as i128, self.budget as i128);
        let t = t as i128;
        if th <= 0 || t < pi - th {
            return 0;
        }
        let blackout = blackout(pi, th);
        let y = (t - (pi - th)) / pi;
        (y * th + (t - blackout - y * pi).max(0)) as i64
    }

    /// Linear lower bound of [`Prm::sbf`]: `lsbf(t) = (Theta / Pi) (t - 2 (Pi - Theta))`,
    /// as the exact fraction `(numerator, Pi)`.
    pub fn lsbf_num(&self, t: i64) -> i128 {
        let (pi, th) = (self.period as i128, self.budget as i128);
        th * (t as i128 - 2 * (pi - th))
    }

    /// Bandwidth `Theta / Pi` as f64 (for reports only).
    pub fn bandwidth(&self) -> f64 {
        self.budget as f64 / self.period as f64
    }
}

/// The blackout `2 (Pi - Theta)` at the start of the worst-case interval. The `mutants`
/// feature has a deliberately wrong one (`Pi - Theta`, the blackout of a resource whose
/// budget always comes at the same place in its period) that the simulation tests must catch.
#[cfg(not(feature = "mutants"))]
fn blackout(pi: i128, th: i128) -> i128 {
    2 * (pi - th)
}

#[cfg(feature = "mutants")]
fn blackout(pi: i128, th: i128) -> i128 {
    if crate::mutants::wrong_prm_blackout() {
        pi - th
    } else {
        2 * (pi - th)
    }
}

/// Demand bound function of sporadic tasks under EDF (Baruah, Mok and Rosier 1990):
/// `dbf(t) = sum max(0, floor((t + T_i - D_i) / T_i)) C_i`.
pub fn dbf(tasks: &[Task], t: i64) -> i64 {
    tasks
        .iter()
        .map(|k| {
            let n = (t + k.period - k.deadline).div_euclid(k.period).max(0);
            n * k.wcet
        })
        .sum()
}

/// Calls `f(t, dbf(t))` at each step of `dbf` (the absolute deadlines `D_i + k T_i`) in
/// increasing order while `t <= horizon`; stops early when `f` returns false. Returns
/// false if it stopped early or hit [`MAX_POINTS`].
pub fn for_each_dbf_step(
    tasks: &[Task],
    horizon: i64,
    mut f: impl FnMut(i64, i64) -> bool,
) -> bool {
    let mut next: Vec<i64> = tasks.iter().map(|k| k.deadline).collect();
    let mut demand = 0i64;
    let mut points = 0usize;
    loop {
        let Some(t) = next.iter().copied().min() else {
            return true;
        };
        if t > horizon {
            return true;
        }
        for (k, n) in tasks.iter().zip(next.iter_mut()) {
            if *n == t {
                demand += k.wcet;
                *n += k.period;
            }
        }
        points += 1;
        if points > MAX_POINTS || !f(t, demand) {
            return false;
        }
    }
}

/// EDF schedulability of `tasks` on the resource `r` (Shin and Lee 2003, Theorem 2):
/// `dbf(t) <= sbf(t)` for all `t > 0`. Checked at every step of `dbf` up to the horizon past
/// which `dbf(t) <= lsbf(t) <= sbf(t)` holds for sure:
/// `dbf(t) <= U t + sum (T_i - D_i) U_i` and `lsbf(t) = (Theta/Pi)(t - 2(Pi - Theta))`, so
/// `t* = [2 Theta (Pi - Theta) / Pi + sum (T_i - D_i) U_i] / (Theta/Pi - U)` (requires
/// `U < Theta / Pi`), evaluated with every term rounded up.
pub fn edf_schedulable(tasks: &[Task], r: Prm) -> bool {
    if tasks.is_empty() {
        return true;
    }
    let (pi, th) = (r.period as i128, r.budget as i128);
    // Both sides scaled by S so the per-task rounding is negligible:
    // g / (S Pi) <= Theta/Pi - U with g = S Theta - sum ceil(C_i S Pi / T_i).
    let g = SCALE * th - sum_ceil(tasks, SCALE * pi, |k| k.wcet as i128);
    if g <= 0 {
        // U >= Theta/Pi. Only a full resource can pass (U <= 1 and dbf(t) <= t), checked
        // over the hyperperiod (MAX_POINTS stops it, unschedulable, when that is too long).
        return th == pi && for_each_dbf_step(tasks, lcm_horizon(tasks), |t, d| d <= t);
    }
    // num / S >= 2 Theta (Pi - Theta) / Pi + sum (T_i - D_i) C_i / T_i.
    let num = ceil_div(2 * th * (pi - th) * SCALE, pi)
        + sum_ceil(tasks, SCALE, |k| {
            (k.period - k.deadline) as i128 * k.wcet as i128
        })
        .max(0);
    let horizon = ceil_div(num * pi, g).min(i64::MAX as i128 / 4) as i64;
    let horizon = horizon.min(lcm_horizon(tasks));
    for_each_dbf_step(tasks, horizon, |t, d| d <= r.sbf(t))
}

/// `lcm(T_i) + max D_i` when it fits (dbf - sbf repeats past it for a full resource);
/// otherwise a large value.
fn lcm_horizon(tasks: &[Task]) -> i64 {
    let mut l: i128 = 1;
    for k in tasks {
        l = l / gcd(l, k.period as i128) * k.period as i128;
        if l > (1i128 << 62) {
            return i64::MAX / 4;
        }
    }
    let dmax = tasks.iter().map(|k| k.deadline).max().unwrap_or(0) as i128;
    (2 * l + dmax).min(i64::MAX as i128 / 4) as i64
}

fn gcd(mut a: i128, mut b: i128) -> i128 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.abs().max(1)
}

/// Fixed-priority (rate-monotonic order, [`rm_order`]) schedulability on `r` (Lipari and
/// Bini 2003; Shin and Lee 2003, Theorem 4): each task `i` needs some
/// `t in {k T_j < D_i : j higher priority} U {D_i}` with
/// `rbf_i(t) = C_i + sum_{j hp} ceil(t / T_j) C_j <= sbf(t)`.
pub fn rm_schedulable(tasks: &[Task], r: Prm) -> bool {
    let order = rm_order(tasks);
    for (pos, &i) in order.iter().enumerate() {
        let hp: Vec<&Task> = order[..pos].iter().map(|&j| &tasks[j]).collect();
        let ti = &tasks[i];
        let rbf = |t: i64| -> i64 {
            ti.wcet
                + hp.iter()
                    .map(|j| (t + j.period - 1) / j.period * j.wcet)
                    .sum::<i64>()
        };
        let mut points = vec![ti.deadline];
        for j in &hp {
            let mut t = j.period;
            while t < ti.deadline && points.len() < MAX_POINTS {
                points.push(t);
                t += j.period;
            }
        }
        if !points.iter().any(|&t| rbf(t) <= r.sbf(t)) {
            return false;
        }
    }
    true
}

/// The schedulability test of a guest priority order on one VCPU.
pub fn schedulable(tasks: &[Task], r: Prm, prio: crate::task::Priority) -> bool {
    match prio {
        crate::task::Priority::Edf => edf_schedulable(tasks, r),
        crate::task::Priority::Rm => rm_schedulable(tasks, r),
    }
}

/// The least budget (a multiple of `quantum` ns, at least `min_budget`) for which `ok`
/// holds with period `period`, by binary search (the supply grows with the budget, so the
/// tests are monotone in it); `None` if even `Theta = Pi` fails.
pub fn min_budget(
    period: i64,
    quantum: i64,
    min_budget: i64,
    ok: impl Fn(Prm) -> bool,
) -> Option<i64> {
    let full = Prm {
        period,
        budget: period,
    };
    if !ok(full) {
        return None;
    }
    // Budgets are k * quantum, k in [lo, hi]; the last one is capped at the period.
    let at = |k: i64| (k * quantum).clamp(min_budget.min(period), period);
    let (mut lo, mut hi) = (1i64, (period + quantum - 1) / quantum);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if ok(Prm {
            period,
            budget: at(mid),
        }) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Some(at(lo))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::task::Priority;

    #[test]
    fn sbf_hand_computed() {
        // Gamma = (10, 4): blackout 2 * 6 = 12, then 4 units, flat for 6, 4 more, ...
        let r = Prm {
            period: 10,
            budget: 4,
        };
        let want = [
            (0, 0),
            (6, 0),
            (12, 0),
            (13, 1),
            (16, 4),
            (20, 4),
            (22, 4),
            (23, 5),
            (26, 8),
            (32, 8),
            (36, 12),
        ];
        for (t, s) in want {
            assert_eq!(r.sbf(t), s, "sbf({t})");
        }
        // Full and empty resources.
        let f = Prm {
            period: 10,
            budget: 10,
        };
        assert_eq!((f.sbf(0), f.sbf(7), f.sbf(25)), (0, 7, 25));
        let z = Prm {
            period: 10,
            budget: 0,
        };
        assert_eq!(z.sbf(100), 0);
    }

    #[test]
    fn sbf_is_monotone_and_above_lsbf() {
        for pi in 1..=12 {
            for th in 0..=pi {
                let r = Prm {
                    period: pi,
                    budget: th,
                };
                let mut last = 0;
                for t in 0..100 {
                    let s = r.sbf(t);
                    assert!(s >= last && s - last <= 1, "{r:?} t={t}");
                    assert!(s as i128 * pi as i128 >= r.lsbf_num(t), "{r:?} t={t}");
                    // Never more than the budget-per-period average plus one budget.
                    assert!(s <= th * (t / pi.max(1) + 1));
                    last = s;
                }
            }
        }
    }

    #[test]
    fn two_task_example_by_hand() {
        // Tasks (T, C) = (50, 7), (75, 9), U = 0.26, every value below computed by hand from
        // the closed forms above.
        // With Pi = 10 the least Theta (integer) for EDF, by hand:
        //   dbf steps: 7 at 50, 16 at 75, 23 at 100, 39 at 150 (3 * 7 + 2 * 9).
        //   Theta = 4: sbf(50) = y=floor(44/10)=4 -> 16 + max(0, 50-12-40) = 16 >= 7,
        //   sbf(75) = y=6: 24 + max(0, 75-12-60)=3 -> 27 >= 16: passes everywhere
        //   (the slope 0.4 > 0.26 and the gap only grows).
        //   Theta = 3: sbf(50) = y=floor(43/10)=4 -> 12 + max(0, 50-14-40) = 12 >= 7;
        //   sbf(75) = y=6 -> 18 + max(0, 75-14-60)=1 -> 19 >= 16; sbf(100) = y=9 -> 27 +
        //   max(0, 100-14-90) = 27 >= 23; sbf(150) = y=14 -> 42 + 0 = 42 >= 39: passes.
        //   Theta = 2: sbf(50) = y=floor(42/10)=4 -> 8 + max(0, 50-16-40) = 8 >= 7;
        //   sbf(75) = y=floor(67/10)=6 -> 12 + max(0, 75-16-60) = 12 < 16: fails.
        let tasks = [Task::new(50, 7), Task::new(75, 9)];
        let ok = |th| {
            edf_schedulable(
                &tasks,
                Prm {
                    period: 10,
                    budget: th,
                },
            )
        };
        assert!(ok(4) && ok(3) && !ok(2));
        assert_eq!(
            min_budget(10, 1, 1, |r| edf_schedulable(&tasks, r)),
            Some(3)
        );
        // RM on the same resource: task 1 (50, 7) needs t in {50}: 7 <= sbf(50) = 12 (Theta
        // 3); task 2 (75, 9): t in {50, 75}: rbf(50) = 9 + 7 = 16 > 12, rbf(75) = 9 + 14 =
        // 23 > 19: fails with 3. Theta = 4: rbf(50) = 16 <= sbf(50) = 16: passes.
        let rm = |th| {
            schedulable(
                &tasks,
                Prm {
                    period: 10,
                    budget: th,
                },
                Priority::Rm,
            )
        };
        assert!(!rm(3) && rm(4));
    }

    #[test]
    fn full_resource_is_uniprocessor_edf() {
        // U = 1 exactly on a full resource: schedulable; a hair more is not.
        let tasks = [Task::new(4, 2), Task::new(6, 3)];
        let full = Prm {
            period: 5,
            budget: 5,
        };
        assert!(edf_schedulable(&tasks, full));
        let tasks = [Task::new(4, 2), Task::new(6, 3), Task::new(100, 1)];
        assert!(!edf_schedulable(&tasks, full));
        // Constrained deadline: (T, C, D) = (10, 3, 3) twice needs 6 by t = 3.
        let tasks = [Task {
            period: 10,
            wcet: 3,
            deadline: 3,
        }; 2];
        assert!(!edf_schedulable(&tasks, full));
    }

    #[test]
    fn dbf_steps_match_dbf() {
        let tasks = [
            Task::new(7, 2),
            Task {
                period: 11,
                wcet: 3,
                deadline: 5,
            },
        ];
        let mut seen = vec![];
        for_each_dbf_step(&tasks, 60, |t, d| {
            seen.push((t, d));
            true
        });
        for &(t, d) in &seen {
            assert_eq!(dbf(&tasks, t), d);
            assert!(dbf(&tasks, t - 1) < d);
        }
        // Every step is seen: dbf is flat between consecutive ones.
        for w in seen.windows(2) {
            assert_eq!(dbf(&tasks, w[1].0 - 1), w[0].1);
        }
        assert_eq!(seen.first(), Some(&(5, 3)));
    }
}
