//! Priority order of units: the run queue's order and the keys each CPU caches.
//!
//! One rule, written once: [`prio_cmp`] orders two units, [`prio_key`] turns a unit into a
//! value that orders the same way. Both take an [`Order`], the part of the policy that
//! decides priority.
//!
//! # Classes (RT-Xen 2.1, [`ClassRule::Classes`], the default)
//!
//! A unit is in the *reserved* class while it is real-time (not extratime with
//! `budget == period`, see [`crate::Params::is_real_time`]) and on its reserved budget
//! (priority level 0); every other unit (non-real-time units, real-time units on
//! extratime) is in the *background* class. Reserved before background, whatever the
//! deadlines; within the reserved class EDF or DM as in RTDS.
//!
//! Within the background class the rule is fair sharing by virtual time, as credit2's
//! credit and Linux CFS's vruntime: each unit's `vtime` grows by the time it runs in the
//! background class, and the unit with the least `vtime` goes first (FIFO among equals).
//! A background unit runs at most [`BACKGROUND_QUANTUM`] at a time, so always-busy
//! background units take turns and each one's share stays within one quantum of the
//! others' over any interval, whatever their periods and phases (deadlines play no part
//! there, so none can starve another). A unit that joins the class (wakes, or a real-time
//! unit exhausts its budget and goes on extratime) starts at no less than the class's
//! virtual time `vmin` (the largest `vtime` of a unit picked from the class so far), so time
//! spent asleep or reserved earns no credit. Costs: the run queue's order stays total and
//! one heap holds both classes (O(log n)); one extra field per unit, one per instance.
//!
//! With [`ClassRule::Rtds`] the order is RTDS's: level, then deadline (or period) for all.

use core::cmp::Ordering;

use crate::policy::{ClassRule, PriorityScheme};
use crate::unit::Unit;

/// How long a background unit runs before the CPU reschedules to let the next one of its
/// class take a turn (1 ms, credit2's default rate limit): the bound of the unfairness
/// between always-busy background units, and their scheduling rate (1000 decisions per
/// second per CPU at most while they compete).
pub const BACKGROUND_QUANTUM: i64 = 1_000_000;

/// What decides priority between two units (from the instance's [`crate::Policy`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub(crate) struct Order {
    /// EDF or DM within a priority level.
    pub(crate) scheme: PriorityScheme,
    /// Whether the reserved class outranks the background class.
    pub(crate) classes: bool,
}

impl Order {
    /// The order of `scheme` and `rule`.
    pub(crate) const fn new(scheme: PriorityScheme, rule: ClassRule) -> Self {
        Order {
            scheme,
            classes: matches!(rule, ClassRule::Classes),
        }
    }

    /// Whether `u` is in the background class (always false under plain RTDS order).
    pub(crate) fn background(self, u: &Unit) -> bool {
        self.classes && is_background(u)
    }

    /// Whether `u` is on a reserved budget: a blocked periodic server competes on that
    /// only.
    pub(crate) fn on_reserved_budget(self, u: &Unit) -> bool {
        u.priority_level == 0 && !self.background(u)
    }
}

/// Whether `u` would be in the background class under the class rule: a non-real-time unit,
/// or a real-time unit on extratime. (Its `vtime` grows while it runs, in either order.)
pub(crate) fn is_background(u: &Unit) -> bool {
    u.priority_level > 0 || !u.params().is_real_time()
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
///
/// Under the class rule (see the module docs) the reserved class goes first, and the
/// background class is ordered by virtual time.
pub(crate) fn prio_cmp(a: &Unit, b: &Unit, o: Order) -> Ordering {
    if o.classes {
        match (is_background(a), is_background(b)) {
            (false, true) => return Ordering::Less,
            (true, false) => return Ordering::Greater,
            (true, true) => return a.vtime.cmp(&b.vtime),
            (false, false) => {}
        }
    }
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

    /// Below every key (a bound of no CPU).
    pub(crate) const MIN: PrioKey = PrioKey {
        level: 0,
        a: i64::MIN,
        b: i64::MIN,
        extratime: false,
    };

    /// Above every key (a bound not known yet).
    pub(crate) const MAX: PrioKey = PrioKey {
        level: u32::MAX,
        a: i64::MAX,
        b: i64::MAX,
        extratime: true,
    };
}

/// The key of `u` under `o` (see [`PrioKey`]). Under the class rule the level is the class
/// (0 reserved, 1 background) and a background unit's key is its virtual time alone.
pub(crate) fn prio_key(u: &Unit, o: Order) -> PrioKey {
    if o.classes && is_background(u) {
        return PrioKey {
            level: 1,
            a: u.vtime,
            b: 0,
            extratime: false,
        };
    }
    // (Under the class rule a reserved unit is at level 0.)
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
            for d in [i64::MIN, -5, 0, 7, 1 << 32, (1 << 32) - 1, i64::MAX] {
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
        let n = units.len();
        for (i, u) in units.iter_mut().enumerate() {
            u.vtime = (i % 3) as i64;
            if i % 5 == 0 {
                u.budget = u.period;
            }
        }
        assert!(n > 0);
        let orders = [
            Order::new(PriorityScheme::Edf, ClassRule::Rtds),
            Order::new(PriorityScheme::Dm, ClassRule::Rtds),
            Order::new(PriorityScheme::Edf, ClassRule::Classes),
            Order::new(PriorityScheme::Dm, ClassRule::Classes),
        ];
        for o in orders {
            for a in &units {
                let k = prio_key(a, o);
                assert!(PrioKey::MIN <= k && k <= PrioKey::MAX);
                for b in &units {
                    assert_eq!(k.cmp(&prio_key(b, o)), prio_cmp(a, b, o));
                }
            }
        }
    }
}
