//! rt-partition placement: which PCPU a unit should be assigned to.
//!
//! Under rt-partition every PCPU has its own scheduler instance (its own run queues and its
//! own lock); a unit belongs to exactly one of them and moves only by an explicit migration
//! (removed from one instance under its lock, inserted into the other under that one's).
//! Placement is a pure function of per-PCPU summaries, so it can be tested on its own and
//! evaluated by the host before it takes any lock.
//!
//! The rule is the RT-Xen dissertation's (section 3.3.1): keep the current PCPU when the unit
//! still fits there; otherwise best fit, i.e. the PCPU with the largest current bandwidth
//! that can still take the unit, avoiding PCPUs that already hold a unit of the same domain
//! when another PCPU fits; when nothing fits, the PCPU with the smallest bandwidth.

use crate::admission::ONE;
use crate::cpumask::CpuMask;

/// What placement needs to know about one PCPU.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct PcpuLoad {
    /// Bandwidth (ppm) reserved on this PCPU, excluding the unit being placed.
    pub bandwidth_ppm: u64,
    /// Whether a unit of the same domain (other than the one being placed) is on this PCPU.
    pub same_domain: bool,
}

/// Chooses the PCPU for a unit of bandwidth `unit_ppm` among `allowed`, given each PCPU's load
/// (`loads[cpu]`) and the unit's current PCPU. Returns `None` when no allowed PCPU has a load
/// entry. Capacity of a PCPU is one CPU (1,000,000 ppm).
pub fn place(
    loads: &[PcpuLoad],
    allowed: &CpuMask,
    current: Option<usize>,
    unit_ppm: u64,
) -> Option<usize> {
    place_by(|c| loads.get(c).copied(), allowed, current, unit_ppm)
}

/// [`place`] over loads given by a function of the CPU number (`None`: no such PCPU).
/// O(allowed CPUs).
pub fn place_by(
    load: impl Fn(usize) -> Option<PcpuLoad>,
    allowed: &CpuMask,
    current: Option<usize>,
    unit_ppm: u64,
) -> Option<usize> {
    let fits = |l: &PcpuLoad| l.bandwidth_ppm.saturating_add(unit_ppm) <= ONE;
    if let Some(c) = current {
        if allowed.test(c) && load(c).as_ref().is_some_and(fits) {
            return Some(c);
        }
    }
    let mut best_fit: Option<(usize, bool, u64)> = None; // (cpu, same_domain, bw)
    let mut least: Option<(usize, u64)> = None;
    for c in allowed.iter() {
        let Some(l) = load(c) else { continue };
        if least.is_none_or(|(_, bw)| l.bandwidth_ppm < bw) {
            least = Some((c, l.bandwidth_ppm));
        }
        if !fits(&l) {
            continue;
        }
        // Prefer no same-domain unit, then the largest bandwidth (best fit), then lowest CPU.
        let better = match best_fit {
            None => true,
            Some((_, sd, bw)) => (!l.same_domain, l.bandwidth_ppm) > (!sd, bw),
        };
        if better {
            best_fit = Some((c, l.same_domain, l.bandwidth_ppm));
        }
    }
    best_fit.map(|(c, _, _)| c).or(least.map(|(c, _)| c))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(bw: u64, sd: bool) -> PcpuLoad {
        PcpuLoad {
            bandwidth_ppm: bw,
            same_domain: sd,
        }
    }

    #[test]
    fn keeps_current_when_it_fits() {
        let loads = [l(100_000, false), l(900_000, false)];
        assert_eq!(
            place(&loads, &CpuMask::first_n(2), Some(0), 400_000),
            Some(0)
        );
    }

    #[test]
    fn best_fit_prefers_fullest_that_fits() {
        let loads = [l(100_000, false), l(500_000, false), l(700_000, false)];
        assert_eq!(place(&loads, &CpuMask::first_n(3), None, 400_000), Some(1));
        assert_eq!(place(&loads, &CpuMask::first_n(3), None, 300_000), Some(2));
    }

    #[test]
    fn avoids_same_domain_when_possible() {
        let loads = [l(100_000, false), l(500_000, true)];
        assert_eq!(place(&loads, &CpuMask::first_n(2), None, 400_000), Some(0));
        // Only the same-domain PCPU fits: take it.
        let loads = [l(800_000, false), l(500_000, true)];
        assert_eq!(place(&loads, &CpuMask::first_n(2), None, 400_000), Some(1));
    }

    #[test]
    fn overload_goes_to_least_loaded() {
        let loads = [l(700_000, false), l(600_000, false)];
        assert_eq!(
            place(&loads, &CpuMask::first_n(2), Some(0), 600_000),
            Some(1)
        );
        assert_eq!(place(&loads, &CpuMask::single(0), None, 600_000), Some(0));
        assert_eq!(place(&loads, &CpuMask::single(5), None, 600_000), None);
    }
}
