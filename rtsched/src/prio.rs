//! Priority order of units: the run queue's order and the keys each CPU caches.
//!
//! One rule, written once: [`prio_cmp`] orders two units, [`prio_key`] turns a unit into a
//! value that orders the same way. Both take an [`Order`], the part of the policy that
//! decides priority.

use core::cmp::Ordering;

use crate::policy::PriorityScheme;
use crate::unit::Unit;

/// What decides priority between two units (from the instance's [`crate::Policy`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Order {
    /// EDF or DM within a priority level.
    pub(crate) scheme: PriorityScheme,
}

impl Order {
    /// The order of `scheme`.
    pub(crate) const fn new(scheme: PriorityScheme) -> Self {
        Order { scheme }
    }
}

/// Priority order of two units: `Less` when `a` has the higher priority (Xen's
/// `compare_unit_priority(a, b) > 0`). Units on extratime (higher `priority_level`) come after
/// every unit on its reserved budget, in both schemes.
///
/// On a tie (same level and deadline; under DM same period and deadline) a unit without
/// extratime goes first: it loses whatever budget it cannot use before its deadline, while an
/// extratime unit can still run later in spare time. rt.c leaves such ties to queue order,
/// which lets always-busy extratime units with `budget == period` (the dissertation's non-RT
/// VMs) take an RT unit's reservation in overload; with this rule the RT unit keeps it
/// (dissertation Table 4.2).
pub(crate) fn prio_cmp(a: &Unit, b: &Unit, o: Order) -> Ordering {
    let lvl = a.priority_level.cmp(&b.priority_level);
    if lvl != Ordering::Equal {
        return lvl;
    }
    let key = match o.scheme {
        PriorityScheme::Edf => a.cur_deadline.cmp(&b.cur_deadline),
        PriorityScheme::Dm => a
            .period
            .cmp(&b.period)
            .then(a.cur_deadline.cmp(&b.cur_deadline)),
    };
    key.then(a.has_extratime().cmp(&b.has_extratime()))
}

/// The run-queue priority of a unit as one comparable value: `prio_key(a, o).cmp(&prio_key(b,
/// o)) == prio_cmp(a, b, o)` (fields compared in order: level, then the EDF deadline or the DM
/// period, then the DM deadline, then the extratime flag). Each CPU keeps the key of the unit
/// it runs, so that tickling compares CPUs without reading their units.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Default)]
pub(crate) struct PrioKey {
    level: u32,
    a: i64,
    b: i64,
    extratime: bool,
}

impl PrioKey {
    /// A placeholder (the key of an idle CPU, never read).
    pub(crate) const ZERO: PrioKey = PrioKey {
        level: 0,
        a: 0,
        b: 0,
        extratime: false,
    };
}

/// The key of `u` under `o` (see [`PrioKey`]).
pub(crate) fn prio_key(u: &Unit, o: Order) -> PrioKey {
    let (a, b) = match o.scheme {
        PriorityScheme::Edf => (u.cur_deadline, 0),
        PriorityScheme::Dm => (u.period, u.cur_deadline),
    };
    PrioKey {
        level: u.priority_level,
        a,
        b,
        extratime: u.has_extratime(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prio_key_orders_as_prio_cmp() {
        let mut units = Vec::new();
        for level in [0u32, 1, u32::MAX] {
            for d in [-5i64, 0, 7, i64::MAX] {
                for p in [10i64, 20] {
                    for ext in [false, true] {
                        let mut u = Unit {
                            priority_level: level,
                            cur_deadline: d,
                            period: p,
                            ..Unit::EMPTY
                        };
                        u.flags.set(crate::unit::UnitFlags::EXTRATIME, ext);
                        units.push(u);
                    }
                }
            }
        }
        for s in [PriorityScheme::Edf, PriorityScheme::Dm] {
            let o = Order::new(s);
            for a in &units {
                for b in &units {
                    assert_eq!(prio_key(a, o).cmp(&prio_key(b, o)), prio_cmp(a, b, o));
                }
            }
        }
    }
}
