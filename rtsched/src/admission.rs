//! Admission control: schedulability tests over the reservations of an instance.
//!
//! Bandwidths are integers in parts per million (ppm) of one CPU, each rounded up, so every
//! test errs on the safe side; no floating point. Units that only use spare time (extratime
//! with `budget == period`, the "non-RT" VMs of the RT-Xen dissertation, chapter 4) reserve
//! nothing and are left out, as RT-Xen 2.1 does.
//!
//! | topology | priority | test |
//! | --- | --- | --- |
//! | partition | EDF | `U <= 1` (exact for implicit deadlines, Liu and Layland 1973) |
//! | partition | DM | hyperbolic bound `prod(u_i + 1) <= 2` (Bini, Buttazzo and Buttazzo 2003), which dominates the Liu-Layland bound `U <= n(2^(1/n) - 1)` |
//! | global (m CPUs) | EDF | `U <= m` and GFB: `U <= m - (m - 1) u_max` (Goossens, Funk and Baruah 2003) |
//! | global (m CPUs) | DM | RM-US: `U <= m^2 / (3m - 2)` and `u_max <= m / (3m - 2)` (Andersson, Baruah and Jonsson 2001) |

use crate::params::Params;
use crate::policy::{PriorityScheme, Topology};

/// One CPU in ppm.
pub const ONE: u64 = 1_000_000;

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
    /// How much more bandwidth (ppm) one more unit could reserve and still pass, given the
    /// current largest; 0 when none.
    pub remaining_ppm: u64,
}

/// Whether a unit with these parameters reserves bandwidth (non-RT units do not).
pub fn reserves(p: &Params) -> bool {
    !(p.extratime && p.budget >= p.period)
}

/// Accumulates reservations and evaluates the test for `topology`/`scheme` on `m` CPUs.
#[derive(Clone, Copy, Debug)]
pub struct Test {
    topology: Topology,
    scheme: PriorityScheme,
    m: u64,
    total: u64,
    max: u64,
    /// Product of `(1 + u_i)` in ppm (hyperbolic bound), saturating.
    hyper: u64,
}

impl Test {
    /// An empty reservation set on `m` CPUs.
    pub fn new(topology: Topology, scheme: PriorityScheme, m: u32) -> Self {
        Test {
            topology,
            scheme,
            m: m.max(1) as u64,
            total: 0,
            max: 0,
            hyper: ONE,
        }
    }

    /// Adds one unit's reservation (ignored for non-reserving units).
    pub fn add(&mut self, p: &Params) {
        if !reserves(p) {
            return;
        }
        let u = p.bandwidth_ppm();
        self.total = self.total.saturating_add(u);
        self.max = self.max.max(u);
        // hyper * (ONE + u) / ONE, rounded up. Past 4 * ONE the test has failed already, so
        // the product is capped there and stays within 64 bits (no 128-bit division).
        let f = ONE.saturating_add(u.min(4 * ONE));
        self.hyper = (self.hyper.min(4 * ONE) * f).div_ceil(ONE);
    }

    fn passes(&self) -> bool {
        let m = self.m;
        match (self.topology, self.scheme) {
            (Topology::Partition, PriorityScheme::Edf) => self.total <= ONE,
            (Topology::Partition, PriorityScheme::Dm) => self.hyper <= 2 * ONE,
            (Topology::Global, PriorityScheme::Edf) => {
                // U <= m - (m - 1) * u_max, all in ppm.
                let bound = (m * ONE).saturating_sub((m - 1).saturating_mul(self.max));
                self.total <= m * ONE && self.total <= bound
            }
            (Topology::Global, PriorityScheme::Dm) => {
                // U (3m - 2) <= m^2 and u_max (3m - 2) <= m.
                let d = 3 * m - 2;
                (self.total as u128) * (d as u128) <= (m * m) as u128 * ONE as u128
                    && (self.max as u128) * (d as u128) <= m as u128 * ONE as u128
            }
        }
    }

    /// The verdict, with the largest extra reservation that would still pass.
    pub fn verdict(&self) -> Verdict {
        let schedulable = self.passes();
        let remaining_ppm = if schedulable {
            // Binary search the largest extra bandwidth that keeps the test passing.
            let (mut lo, mut hi) = (0u64, ONE);
            while lo < hi {
                let mid = lo + (hi - lo).div_ceil(2);
                let mut t = *self;
                t.add_ppm(mid);
                if t.passes() {
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
            total_ppm: self.total,
            max_ppm: self.max,
            remaining_ppm,
        }
    }

    fn add_ppm(&mut self, u: u64) {
        let p = Params {
            period: ONE as i64,
            budget: u as i64,
            extratime: false,
        };
        self.add(&p);
    }
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

    #[test]
    fn partition_edf_is_utilisation() {
        let mut t = Test::new(Topology::Partition, PriorityScheme::Edf, 1);
        t.add(&p(5, 10));
        t.add(&p(5, 10));
        assert!(t.verdict().schedulable);
        assert_eq!(t.verdict().remaining_ppm, 0);
        t.add(&p(1, 100));
        assert!(!t.verdict().schedulable);
        // Non-RT units reserve nothing.
        let mut t = Test::new(Topology::Partition, PriorityScheme::Edf, 1);
        t.add(&Params {
            period: 10 * MS,
            budget: 10 * MS,
            extratime: true,
        });
        assert_eq!(t.verdict().total_ppm, 0);
    }

    #[test]
    fn partition_dm_hyperbolic() {
        // Two units of 0.4: (1.4)(1.4) = 1.96 <= 2 passes (LL for n=2 is 0.828: 0.8 passes too).
        let mut t = Test::new(Topology::Partition, PriorityScheme::Dm, 1);
        t.add(&p(4, 10));
        t.add(&p(4, 10));
        assert!(t.verdict().schedulable);
        // 0.5 + 0.4: 1.5 * 1.4 = 2.1 > 2 fails.
        let mut t = Test::new(Topology::Partition, PriorityScheme::Dm, 1);
        t.add(&p(5, 10));
        t.add(&p(4, 10));
        assert!(!t.verdict().schedulable);
    }

    #[test]
    fn global_edf_gfb() {
        // The dissertation-style guaranteed set on 3 CPUs: 0.5 0.4 0.4 0.3 0.2 0.2 = 2.0
        // and m - (m-1) u_max = 3 - 2 * 0.5 = 2.0: passes exactly.
        let mut t = Test::new(Topology::Global, PriorityScheme::Edf, 3);
        for b in [5, 4, 4, 3, 2, 2] {
            t.add(&p(b, 10));
        }
        let v = t.verdict();
        assert!(v.schedulable, "{v:?}");
        assert_eq!(v.total_ppm, 2 * ONE);
        // The stress set: 2.8 > 3 - 2 * 0.8 = 1.4.
        let mut t = Test::new(Topology::Global, PriorityScheme::Edf, 3);
        for b in [8, 6, 5, 4, 3, 2] {
            t.add(&p(b, 10));
        }
        assert!(!t.verdict().schedulable);
    }

    #[test]
    fn global_dm_rm_us() {
        // m = 2: U <= 4/4 = 1, u_max <= 2/4 = 0.5.
        let mut t = Test::new(Topology::Global, PriorityScheme::Dm, 2);
        t.add(&p(5, 10));
        t.add(&p(5, 10));
        assert!(t.verdict().schedulable);
        t.add(&p(1, 10));
        assert!(!t.verdict().schedulable);
    }
}
