//! Random task sets as in the RT-Xen dissertation (section 3.3.2), after Brandenburg's
//! method (Bastoni, Brandenburg and Anderson, RTSS 2010; CARTS' `TasksetGenerator`):
//! periods uniform in [350, 850] ms, implicit deadlines, utilisations "medium bimodal"
//! (uniform in [0.0001, 0.5) with probability 2/3, in [0.5, 0.9] with probability 1/3);
//! tasks are drawn until the next one would exceed the target utilisation, which a last
//! "pad" task then makes up exactly. Deterministic for a seed.

use crate::task::Task;
use rand_core::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;

/// Generator parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gen {
    /// Shortest period, ns.
    pub period_min: i64,
    /// Longest period, ns.
    pub period_max: i64,
    /// Period granularity, ns (the dissertation's were whole milliseconds).
    pub period_unit: i64,
    /// WCET granularity, ns.
    pub wcet_unit: i64,
}

impl Default for Gen {
    fn default() -> Self {
        Gen {
            period_min: 350_000_000,
            period_max: 850_000_000,
            period_unit: 1_000_000,
            wcet_unit: 1_000,
        }
    }
}

/// A uniform f64 in [0, 1) from the generator.
fn unit(rng: &mut XorShiftRng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

impl Gen {
    /// A task set of total utilisation `target` (up to the WCET granularity), seeded.
    pub fn taskset(&self, target: f64, seed: u64) -> Vec<Task> {
        let mut rng = XorShiftRng::seed_from_u64(seed);
        let mut tasks = vec![];
        let mut total = 0.0;
        loop {
            let u = if unit(&mut rng) < 2.0 / 3.0 {
                0.0001 + unit(&mut rng) * (0.5 - 0.0001)
            } else {
                0.5 + unit(&mut rng) * 0.4
            };
            let period = self.period(&mut rng);
            if total + u > target {
                // The pad task: what is left, in a period of its own.
                let rest = target - total;
                if let Some(t) = self.task(period, rest) {
                    tasks.push(t);
                }
                return tasks;
            }
            if let Some(t) = self.task(period, u) {
                total += t.wcet as f64 / t.period as f64;
                tasks.push(t);
            }
        }
    }

    fn period(&self, rng: &mut XorShiftRng) -> i64 {
        let units = (self.period_max - self.period_min) / self.period_unit;
        self.period_min + (rng.next_u64() % (units as u64 + 1)) as i64 * self.period_unit
    }

    fn task(&self, period: i64, u: f64) -> Option<Task> {
        let wcet = ((period as f64 * u) / self.wcet_unit as f64).floor() as i64 * self.wcet_unit;
        (wcet > 0).then(|| Task::new(period, wcet))
    }
}

/// Deals `tasks` round-robin into `n` VMs (the dissertation used four).
pub fn round_robin(tasks: &[Task], n: usize) -> Vec<Vec<Task>> {
    let mut out = vec![vec![]; n];
    for (i, t) in tasks.iter().enumerate() {
        out[i % n].push(*t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_utilisation_is_met_and_deterministic() {
        let g = Gen::default();
        for k in 0..20 {
            let target = 1.1 + 0.2 * k as f64;
            for seed in 0..10 {
                let ts = g.taskset(target, seed);
                assert_eq!(ts, g.taskset(target, seed));
                let u: f64 = ts.iter().map(Task::utilisation).sum();
                // Each WCET is rounded down to 1 us of a >= 350 ms period: < 3e-6 per task.
                assert!(
                    u <= target + 1e-12 && u > target - 3e-6 * ts.len() as f64,
                    "{u} vs {target}"
                );
                for t in &ts {
                    assert!(t.period >= g.period_min && t.period <= g.period_max);
                    assert_eq!(t.period % g.period_unit, 0);
                    assert!(t.wcet > 0 && t.wcet <= t.period * 9 / 10 + g.wcet_unit);
                }
            }
        }
    }
}
