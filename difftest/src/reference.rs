//! The reference model for what rt.c has no counterpart for: deadline-monotonic priority,
//! the periodic server and the constant-bandwidth server (rtsched's policy dimensions
//! beyond Xen's RTDS; all in plain RTDS order, without the class rule). Every rule is
//! stated here, once, as an executable check of one hook's transition: the state before
//! the hook (`pre`), the hook, and rtsched's state after it (`post`). The driver
//! (`crate::driver`, [`crate::driver::Peer::Reference`]) replays the same random traces
//! into rtsched alone and checks these rules after every hook, and rule [`work_conserving`]
//! after the reschedule requests of every event are performed.
//!
//! The rules (`P` before, `Q` after the hook; `key` the priority order):
//!
//! 1. **Priority** ([`key`]): lower priority level first (a unit on extratime comes after
//!    every unit on its reserved budget); then EDF: earlier deadline; DM: shorter period,
//!    then earlier deadline; then a unit without extratime first. With the class rule
//!    (issue 11, `ClassRule::Classes`): a real-time unit (not extratime with
//!    `budget >= period`) on its reserved budget (level 0) outranks every other unit (the
//!    background class), whose order among themselves (fair sharing by virtual time) the
//!    model leaves open: any of them may be picked, and a background unit's slice is at
//!    most [`rtsched::prio::BACKGROUND_QUANTUM`].
//! 2. **Replenishment** ([`replenished`]): the timer gives every unit on the replenishment
//!    queue whose deadline `d` has passed (`now >= d`) the first deadline
//!    `d + k * period > now`, level 0, and a full budget less the overrun recorded at its
//!    last burn (at most a budget) when `k == 1`. `insert` and `wake` of a unit that is not
//!    running, not idled on and not queued ([`joins`]): deferrable server, the same when its
//!    deadline has passed; periodic server, when its deadline has passed, a new period from
//!    `now` (deadline `now + period`, full budget, level 0, no overrun carried); constant-
//!    bandwidth server, the same when its deadline has passed or its budget left exceeds its
//!    bandwidth over the time left (`cur_budget * period > (deadline - now) * budget`, the
//!    CBS wake-up rule). No other hook, and no other unit, changes a deadline.
//! 3. **Timer**: programmed for the earliest deadline on the replenishment queue, or off.
//! 4. **Burn** ([`burned`]): at `do_schedule` the unit the CPU ran (or idled on, periodic
//!    server) is charged `now - last_start`; an exhausted unit with extratime (and not idled
//!    on) goes one level down with a full budget; otherwise its budget is 0 and the overrun
//!    (at most a budget) is recorded.
//! 5. **Pick** ([`pick`]): the best (rule 1) unit of the run queue allowed on the CPU that
//!    is runnable, or, periodic server, is a blocked server at level 0, together with the
//!    CPU's idled-on server (charged, back in the queue); the unit that ran keeps the CPU if
//!    it is runnable, has budget left and is strictly better. A blocked server chosen makes
//!    the CPU idle on its budget (no unit, slice = its budget); otherwise the slice is the
//!    chosen unit's budget. Tasklet work: idle, no slice.
//! 6. **Queues**: a unit on the run queue has budget left and is not being run or switched
//!    out; a unit on the depleted queue has none; a unit not inserted is on no queue, not
//!    even the replenishment queue.
//! 7. **Parameters** change only through `putvcpuinfo` of that unit.
//! 8. **Work conservation** ([`work_conserving`]): once the reschedule requests are
//!    performed, no CPU is idle or runs (idles on) a unit of lower priority while a
//!    runnable unit of the run queue allowed on it has higher priority. (Not claimed for a
//!    blocked periodic server: one put back on the run queue by `do_schedule` or moved by
//!    an affinity change is not tickled, so another CPU may idle, or idle on a server of
//!    lower priority, until its next scheduling event; rule 5 still holds at every pick.)

use rtsched::prio::BACKGROUND_QUANTUM;
use rtsched::{ClassRule, PriorityScheme, ServerKind};

/// What the rules read of one unit (rtsched's state, see `rtsched::UnitInfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    /// Period, ns.
    pub period: i64,
    /// Budget, ns.
    pub budget: i64,
    /// Budget left, ns.
    pub cur_budget: i64,
    /// Deadline, ns.
    pub deadline: i64,
    /// When it last started running (or being idled on), ns.
    pub last_start: i64,
    /// Priority level (0: reserved budget).
    pub level: u32,
    /// Extratime flag.
    pub extratime: bool,
    /// Being run or switched out (`SCHEDULED`).
    pub scheduled: bool,
    /// 0: no queue, 1: run queue, 2: depleted queue.
    pub queue: u32,
    /// On the replenishment queue.
    pub on_replq: bool,
    /// Runnable (the host's view, as rtsched was told).
    pub runnable: bool,
    /// Inserted.
    pub inserted: bool,
    /// Hard affinity (CPU bits).
    pub affinity: u64,
}

/// The policy dimensions the rules depend on.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// EDF or DM.
    pub scheme: PriorityScheme,
    /// Deferrable, periodic or constant-bandwidth server.
    pub server: ServerKind,
    /// Plain RTDS order, or real-time units before the background class.
    pub classes: ClassRule,
}

/// Rule 1 without the class rule: the priority order (smaller is higher priority).
pub fn key(u: &View, scheme: PriorityScheme) -> (u32, i64, i64, bool) {
    match scheme {
        PriorityScheme::Edf => (u.level, u.deadline, 0, u.extratime),
        PriorityScheme::Dm => (u.level, u.period, u.deadline, u.extratime),
    }
}

/// Whether `u` is in the background class of the class rule.
pub fn background(u: &View) -> bool {
    u.level > 0 || (u.extratime && u.budget >= u.period)
}

/// Rule 2: (deadline, budget left, level) after a replenishment at `now` of a unit whose
/// recorded overrun is `overrun`.
pub fn replenished(u: &View, now: i64, overrun: i64) -> (i64, i64, u32) {
    let k = (now - u.deadline) / u.period.max(1) + 1;
    let deadline = u.deadline + k * u.period;
    let charge = if k == 1 { overrun.min(u.budget) } else { 0 };
    (deadline, u.budget - charge, 0)
}

/// Rule 2's debt: what is left of `overrun` after [`replenished`] charged one budget of it
/// (all of it is forgiven when a whole period was skipped).
pub fn debt_left(u: &View, now: i64, overrun: i64) -> i64 {
    let k = (now - u.deadline) / u.period.max(1) + 1;
    if k == 1 {
        overrun - overrun.min(u.budget)
    } else {
        0
    }
}

/// Rule 2's overrun of a unit running without extratime when its deadline comes: the time
/// it ran beyond its budget since it started (its slice ended late), charged as debt.
pub fn overrun_at_deadline(u: &View, now: i64) -> i64 {
    if u.extratime || now < u.deadline {
        return 0;
    }
    (now - u.last_start - u.cur_budget.max(0)).max(0)
}

/// Rule 2 at `insert` or `wake`: the (deadline, budget left, level) the unit starts with,
/// or `None` when it keeps its own.
pub fn joins(u: &View, now: i64, overrun: i64, server: ServerKind) -> Option<(i64, i64, u32)> {
    let due = now >= u.deadline;
    let restart = (now + u.period, u.budget, 0);
    match server {
        ServerKind::Deferrable if due => Some(replenished(u, now, overrun)),
        ServerKind::Periodic if due => Some(restart),
        ServerKind::Cbs
            if due
                || i128::from(u.cur_budget) * i128::from(u.period)
                    > i128::from(u.deadline - now) * i128::from(u.budget) =>
        {
            Some(restart)
        }
        _ => None,
    }
}

/// Rule 4: (budget left, level, overrun recorded) after the unit ran (or was idled on:
/// `idled_on`) until `now`. `None` for the overrun: none recorded (the old one stays).
pub fn burned(u: &View, now: i64, idled_on: bool) -> (i64, u32, Option<i64>) {
    let used = now - u.last_start;
    if used < 0 {
        return (u.cur_budget, u.level, None);
    }
    let left = u.cur_budget - used;
    if left > 0 {
        (left, u.level, None)
    } else if u.extratime && !idled_on {
        (u.budget, u.level + 1, None)
    } else {
        (0, u.level, Some(-left))
    }
}

impl Rules {
    fn periodic(&self) -> bool {
        self.server == ServerKind::Periodic
    }

    /// Rule 1: the priority order in force (smaller is higher priority; all background
    /// units equal under the class rule).
    pub fn key(&self, u: &View) -> (bool, (u32, i64, i64, bool)) {
        if self.classes == ClassRule::Classes && background(u) {
            return (true, (0, 0, 0, false));
        }
        (false, key(u, self.scheme))
    }

    /// Rule 5's slice for a unit with `budget` left.
    pub fn slice(&self, u: &View) -> i64 {
        if self.classes == ClassRule::Classes && background(u) {
            u.cur_budget.min(BACKGROUND_QUANTUM)
        } else {
            u.cur_budget
        }
    }

    /// Rule 5's candidate test: allowed on `cpu`, and runnable or a blocked server at
    /// level 0 (periodic).
    pub fn pickable(&self, u: &View, cpu: usize) -> bool {
        let reserved = u.level == 0 && !(self.classes == ClassRule::Classes && background(u));
        u.affinity >> cpu & 1 == 1 && (u.runnable || (self.periodic() && reserved))
    }

    /// Rule 5: the pick on `cpu` (`units` after the burn of rule 4; `ran`: the unit the CPU
    /// ran, `idled_on`: the server it idled on, back on the queue). Returns the units it
    /// may pick (more than one only on a priority tie) and whether the CPU idles on the
    /// chosen unit's budget.
    pub fn pick(
        &self,
        units: &[View],
        cpu: usize,
        ran: Option<usize>,
        ran_runnable: bool,
        idled_on: Option<usize>,
    ) -> Vec<usize> {
        let candidates: Vec<usize> = (0..units.len())
            .filter(|&q| {
                let u = &units[q];
                let queued = (u.queue == 1 && Some(q) != ran) || Some(q) == idled_on;
                queued && u.cur_budget > 0 && self.pickable(u, cpu)
            })
            .collect();
        let best = candidates.iter().map(|&q| self.key(&units[q])).min();
        let mut picks: Vec<usize> = candidates
            .into_iter()
            .filter(|&q| Some(self.key(&units[q])) == best)
            .collect();
        if let Some(r) = ran {
            let u = &units[r];
            if ran_runnable && u.inserted && u.cur_budget > 0 {
                let k = self.key(u);
                if best.is_none_or(|b| k < b) {
                    return vec![r];
                }
                if Some(k) == best {
                    // A tie: either may be picked.
                    picks.push(r);
                }
            }
        }
        picks
    }

    /// Rule 6 for one unit.
    pub fn queue_ok(&self, u: &View) -> bool {
        if !u.inserted && (u.queue != 0 || u.on_replq) {
            return false;
        }
        match u.queue {
            1 => u.cur_budget > 0 && !u.scheduled,
            2 => u.cur_budget <= 0,
            _ => true,
        }
    }
}

/// Rule 8: `shown[c]` is the unit CPU `c` runs or idles on (`None`: idle), for the online
/// CPUs `online`. Returns a CPU and a unit that break the rule, if any.
pub fn work_conserving(
    rules: &Rules,
    units: &[View],
    shown: &[Option<usize>],
    online: u64,
) -> Option<(usize, usize)> {
    for (c, s) in shown.iter().enumerate() {
        if online >> c & 1 == 0 {
            continue;
        }
        let mine = s.map(|v| rules.key(&units[v]));
        for (q, u) in units.iter().enumerate() {
            if u.queue == 1
                && u.runnable
                && rules.pickable(u, c)
                && mine.is_none_or(|k| rules.key(u) < k)
            {
                return Some((c, q));
            }
        }
    }
    None
}
