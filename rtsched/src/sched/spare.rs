//! Spare reservations (Cucinotta, Checconi and Giani, "Improving responsiveness for virtualized
//! networking under intensive computing workloads", OSPERT 2011; seed 000): responsive
//! reservations for VMs that compute and serve.
//!
//! A unit with a long period (say `(40 ms, 100 ms)`, sized for batch work) that has used its
//! budget answers a request only at its next replenishment, up to `2 (P - Q)` later. The
//! instance keeps a pool of *spare* servers `(Qs, Ps)` with short periods (the paper's
//! "reservations providing spare bandwidth"). An I/O event ([`Scheduler::io_event`]) for a
//! unit that *uses spare bandwidth* ([`Scheduler::set_uses_spare`]) and is off its reserved
//! budget (depleted, or on extratime) attaches a free spare server to it: the unit runs with
//! the spare's deadline and budget, renewed every `Ps`, until its own replenishment, when the
//! spare returns to the pool. With no free spare it waits as before.
//!
//! # The rule, exactly
//!
//! - Each spare is a hard constant-bandwidth server (Abeni and Buttazzo 1998) whichever unit
//!   it serves: on attach at `now`, a spare whose deadline has passed or whose remaining
//!   budget exceeds its bandwidth over the time left (`cbs_overflow`) starts a new period
//!   (`now + Ps`, full `Qs`); otherwise it keeps its deadline and what is left of its budget.
//!   At its deadline it is renewed (next deadline on its grid, full `Qs`).
//! - A spare is attached only if its deadline is no later than the unit's own replenishment,
//!   and is returned at the first renewal whose deadline would be later (or at the own
//!   replenishment): the unit never runs on a spare deadline past its own replenishment, and
//!   its own replenishment is never delayed.
//! - Lent shortened: when no free spare's deadline is that early (an event in the last `Ps`
//!   before the own replenishment `R`), a free spare whose constant-bandwidth state at `now`
//!   is `(c, d)` with `d > R` lends part of its period: deadline `R`, budget
//!   `b = min(c, floor(Qs (R - now) / Ps))` (integer arithmetic, rounded down), the free spare
//!   that lends the most. The rest of the period, `(c - b, d)`, waits in the slot; when the
//!   spare returns (at `R` at the latest, or when the unit blocks) it is `(c - b + left, d)`
//!   again, `left` being what the unit did not use. A spare already attached is renewed the
//!   same way at its last deadline before `R` (its new period `(Qs, next)` lends
//!   `min(Qs, floor(Qs (R - now) / Ps))` to `R`) instead of returning there, so an event that
//!   arrived while the unit was on it is not left waiting for `R` either. A `b` below
//!   [`MIN_BUDGET`] (10 us, the smallest budget of any reservation, Xen's
//!   `RTDS_MIN_BUDGET`) is not lent: such an event is at most `MIN_BUDGET Ps / Qs` before
//!   `R` (100 us for `(1 ms, 10 ms)`), less than the wait a lend could save plus the
//!   context switch and timer it costs.
//! - While attached, the unit's own server state (deadline, budget, level, debt) is saved in
//!   the spare's slot and restored when the spare returns: the unit's own reservation is
//!   untouched, it gets at most its reservation plus the spare.
//! - A unit that blocks (or is removed, or stops using spare bandwidth) returns its spare at
//!   once: an I/O-bound activity that answered has nothing left to do.
//! - The pool's servers count in admission control as real-time reservations of the instance
//!   (see [`Scheduler::admission`] and [`crate::admission::passes_with_pool`]).
//! - EDF only: under deadline-monotonic order a unit's priority is its own period, which a
//!   spare cannot lend; [`Scheduler::set_spare_pool`] refuses a pool under DM and
//!   [`Scheduler::set_priority_scheme`] refuses DM while the pool is not empty.
//!
//! # Why every reservation is still kept
//!
//! Call a *job* of a spare a budget it gives with a deadline: a period (attach with a new
//! period, or a renewal: `Qs` from `d - Ps` to `d`), an attach that keeps the deadline (the
//! `c` left, from `now` to `d`), a shortened lend or renewal (`b`, from `now` to `R`; a
//! shortened renewal is a shortened lend of a new period). Two properties of
//! the spare's jobs, whichever units they serve, are what admission needs:
//!
//! 1. *Bandwidth*: in every interval `[t1, t2]`, the jobs that start in it and end in it give
//!    at most `Qs (t2 - t1) / Ps`. For the CBS jobs this is Abeni and Buttazzo's lemma: a
//!    period gives `Qs` over `Ps`; a kept deadline gives `c <= Qs (d - now) / Ps` (the refresh
//!    test), part of its period's `Qs`; a new period at an attach starts only when what is
//!    left exceeds that, i.e. when the period so far gave less than `Qs (now - start) / Ps`,
//!    so the periods' shares do not overlap. A shortened lend is a job inside the spare's
//!    period `(c, d)`: `b <= Qs (R - now) / Ps` over `[now, R]`, and with the rest `c - b`
//!    held back, the period's jobs together still give at most `c` after `now` (and at most
//!    `Qs` over the whole period); on return the spare has its period's own deadline `d` and
//!    what is left of it, so a later attach applies the refresh test to the period as if the
//!    unit had run on it with deadline `d`. Every interval that contains the shortened job
//!    contains `[now, R]` and, if it contains the period's other jobs, the whole period; both
//!    sums are within the bound. Not scaling the budget (`Qs` from `now` to `R`,
//!    [`Mutant::SpareShortNotScaled`]) breaks exactly this.
//! 2. *Deadlines within the period*: every job ends at most `Ps` after it starts (`R < d <=
//!    now + Ps` for a shortened one).
//!
//! With (1) and (2) the spare's jobs are feasible on a processor of speed `Qs / Ps` of their
//! own, which is what the bandwidth tests use: on one CPU the processor-demand argument of
//! `U <= 1` (EDF; periodic and CBS units) and of the deferrable demand test (the spare's
//! demand in `[s, d]` is at most `Qs (d - s) / Ps <= W(d - s)`), and GFB on global EDF (its
//! proof compares with a platform of one processor of speed `U_i` per server, which Baruah,
//! Goossens and Lipari 2002 use for CBS). The interference tests (BCL) bound a server's work
//! in a window by its carry-in `W(l)`, which a shortened lend can exceed: a period ending
//! `Qs` into a window of length `Ps` runs `Qs`, then a lend shortened to the window's end
//! runs up to `Qs (1 - Qs / Ps)` more. There a spare counts by the bound
//! `min(l, Qs + Qs (l - Qs) / Ps)` instead ([`crate::admission::passes_with_pool`]; same
//! utilisation, so the bandwidth tests are unchanged).
//!
//! The unit on a shortened lend is served by `R` where every server's demand is within its
//! bandwidth in every interval (periodic and CBS units) and the set passes a bandwidth test
//! (`U <= 1` on one CPU, GFB): then every job of density at most `Qs / Ps`, whatever its
//! length, meets its deadline, as a CBS job that keeps its deadline does. A deferrable unit
//! that wakes late runs its whole budget back to back, more than its bandwidth in a short
//! window, and the interference tests (BCL) check windows of whole periods only: there the
//! units and the spares' whole periods keep their budgets, but a job of a spare shorter
//! than its period (a kept deadline as before, a shortened lend now) may finish after its
//! deadline, by at most what the burst took (`R` then brings the unit's own budget). The
//! guarantees test checks exactly this split, and (1) on every spare's jobs. The unit's own
//! reservation is untouched (saved in the slot, restored at the return, as for every lend).
//!
//! No allocation: the pool is a fixed array of [`MAX_SPARES`] slots inside the instance.

use super::{get, get_mut, Change, Scheduler};
use crate::actions::Actions;
use crate::error::{Error, Result};
use crate::mutants::Mutant;
use crate::params::{next_deadline, Params, MIN_BUDGET};
use crate::policy::PriorityScheme;
use crate::unit::{UnitFlags, UnitId, NIL};

/// Spare servers an instance can hold.
pub const MAX_SPARES: usize = 4;

/// One spare server: its reservation, its constant-bandwidth state while in the pool, and,
/// while attached, the unit it serves and that unit's saved server state.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct Spare {
    pub(crate) params: Params,
    /// The unit it is attached to, [`NIL`] when in the pool.
    pub(crate) unit: u32,
    /// Budget left and deadline (while attached, the unit's `cur_budget` / `cur_deadline`).
    pub(crate) cur_budget: i64,
    pub(crate) cur_deadline: i64,
    /// The attached unit's own state, restored when the spare returns.
    pub(crate) own_deadline: i64,
    own_budget: i64,
    own_level: u32,
    own_debt: i64,
    /// Lent shortened (see the module docs): the spare's own deadline and the budget of its
    /// period held back while the unit runs to its own replenishment on part of it.
    short: bool,
    held_deadline: i64,
    held_budget: i64,
}

impl Spare {
    const EMPTY: Spare = Spare {
        params: Params {
            period: 0,
            budget: 0,
            extratime: false,
        },
        unit: NIL,
        cur_budget: 0,
        cur_deadline: 0,
        own_deadline: 0,
        own_budget: 0,
        own_level: 0,
        own_debt: 0,
        short: false,
        held_deadline: 0,
        held_budget: 0,
    };

    /// The CBS rule at attach time `now`: a new period unless what is left fits the
    /// bandwidth over the time left (exact, in 128 bits).
    fn cbs_refresh(&mut self, now: i64) {
        let (q, p) = (self.params.budget, self.params.period);
        let overflow = now >= self.cur_deadline
            || (self.cur_budget as i128) * (p as i128)
                > (self.cur_deadline as i128 - now as i128) * (q as i128);
        if overflow {
            self.cur_deadline = now.saturating_add(p);
            self.cur_budget = q;
        }
    }

    /// What the spare (after [`Self::cbs_refresh`] at `now`) lends shortened to a unit whose
    /// own replenishment `r` comes before the spare's deadline: `min(cur_budget,
    /// floor(Qs (r - now) / Ps))`, its bandwidth over the time left (see the module docs).
    fn short_budget(&self, now: i64, r: i64) -> i64 {
        self.cur_budget.min(self.scaled_budget(now, r))
    }

    /// `floor(Qs (r - now) / Ps)`: the spare's bandwidth over the time left before `r`.
    fn scaled_budget(&self, now: i64, r: i64) -> i64 {
        mul_div_floor(
            self.params.budget,
            r.saturating_sub(now).max(0),
            self.params.period,
        )
    }
}

/// `floor(a x / p)` for `0 <= a`, `0 <= x <= p` and `p > 0` (so at most `a`), never more
/// than the exact value, without 128-bit division (the object linked into Xen has none):
/// exact while `a x` fits in 64 bits (any spare with a period up to 4 s), else `a`, `x` and
/// `p` shifted right together (`p` rounded up), which can only round down. At most 63
/// shifts.
fn mul_div_floor(a: i64, x: i64, p: i64) -> i64 {
    let (mut a, mut x, mut p) = (a.max(0) as u64, x.max(0) as u64, p.max(1) as u64);
    let mut k = 0u32;
    while k < 63 {
        if let Some(ax) = a.checked_mul(x) {
            let q = ax / p.max(1);
            // a' x' / p' <= (a x / 4^k) / (p / 2^k) = a x / (p 2^k): shifted back by k.
            return q
                .checked_shl(k)
                .map_or(i64::MAX, |v| v.min(i64::MAX as u64) as i64);
        }
        a >>= 1;
        x >>= 1;
        p = p.div_ceil(2);
        k += 1;
    }
    0
}

/// The pool of spare servers of an instance (fixed capacity, no allocation).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct SparePool {
    pub(crate) slots: [Spare; MAX_SPARES],
    pub(crate) len: u32,
}

impl SparePool {
    pub(crate) const EMPTY: SparePool = SparePool {
        slots: [Spare::EMPTY; MAX_SPARES],
        len: 0,
    };

    pub(crate) fn active(&self) -> &[Spare] {
        self.slots.get(..self.len as usize).unwrap_or(&[])
    }

    /// The reservations of the pool, for admission control.
    pub(crate) fn proposal(&self) -> PoolParams {
        let mut pp = PoolParams {
            params: [Spare::EMPTY.params; MAX_SPARES],
            len: self.len,
        };
        for (d, s) in pp.params.iter_mut().zip(self.active()) {
            *d = s.params;
        }
        pp
    }
}

/// The reservations of a proposed pool (a [`Change`] evaluated by admission control).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct PoolParams {
    pub(crate) params: [Params; MAX_SPARES],
    pub(crate) len: u32,
}

impl PoolParams {
    pub(crate) fn iter(&self) -> impl Iterator<Item = Params> + Clone + '_ {
        self.params.iter().take(self.len as usize).copied()
    }
}

/// A read-only view of a spare server (tests, dumps, the C ABI).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct SpareInfo {
    /// Period `Ps`, ns.
    pub period: i64,
    /// Budget `Qs`, ns.
    pub budget: i64,
    /// Budget left in the current spare period, ns (while attached: the unit's budget).
    pub cur_budget: i64,
    /// Current deadline of the spare, ns.
    pub cur_deadline: i64,
    /// 1 when attached to a unit.
    pub attached: u32,
    /// The unit it is attached to (valid when `attached`).
    pub unit: u32,
    /// The attached unit's own replenishment time, ns (valid when `attached`).
    pub own_deadline: i64,
}

impl<'a> Scheduler<'a> {
    /// Sets the pool of spare servers (at most [`MAX_SPARES`]; an empty slice removes it).
    /// Each must be valid parameters (extratime is ignored: a spare never runs beyond its
    /// budget). Refused with [`Error::InvalidParams`] for invalid parameters or under DM,
    /// [`Error::NoSpace`] for too many, [`Error::Busy`] while a spare is attached, and
    /// [`Error::NotAdmitted`] when admission control is on and the reservations with the new
    /// pool fail the test. Changes nothing when refused.
    pub fn set_spare_pool(&mut self, spares: &[Params]) -> Result<()> {
        if spares.len() > MAX_SPARES {
            return Err(Error::NoSpace);
        }
        if !spares.iter().all(Params::is_valid)
            || (!spares.is_empty() && self.policy.priority == PriorityScheme::Dm)
        {
            return Err(Error::InvalidParams);
        }
        if self.spares.active().iter().any(|s| s.unit != NIL) {
            return Err(Error::Busy);
        }
        let mut pp = PoolParams {
            params: [Spare::EMPTY.params; MAX_SPARES],
            len: spares.len() as u32,
        };
        for (d, s) in pp.params.iter_mut().zip(spares) {
            *d = Params {
                extratime: false,
                ..*s
            };
        }
        if !self.admits(Change::Pool(pp)) {
            return Err(Error::NotAdmitted);
        }
        let mut pool = SparePool::EMPTY;
        pool.len = pp.len;
        for (slot, p) in pool.slots.iter_mut().zip(pp.iter()) {
            slot.params = p;
        }
        self.spares = pool;
        Ok(())
    }

    /// Sets whether a unit uses spare bandwidth. Turning it off returns an attached spare.
    pub fn set_uses_spare(&mut self, h: UnitId, on: bool) -> Result<Actions> {
        self.unit(h)?;
        let mut a = Actions::default();
        get_mut(self.units, h.0)?
            .flags
            .set(UnitFlags::USES_SPARE, on);
        if !on && self.unit(h)?.spare != NIL {
            let cpu = self.unit(h)?.on_cpu;
            self.spare_release(h.0)?;
            if cpu != NIL {
                a.reschedule.set(cpu as usize);
            }
            self.sync_timer(&mut a);
        }
        Ok(a)
    }

    /// An I/O event arrived for a unit at `now` (an event channel was signalled for it). If
    /// the unit uses spare bandwidth, is runnable, real-time, off its reserved budget (depleted
    /// or on extratime) and has no spare yet, a free spare whose deadline is no later than the
    /// unit's own replenishment is attached (the earliest such deadline), or else one lent
    /// shortened to that replenishment (see the module docs), and the unit is
    /// queued and tickled with it, or, if it runs, its CPU reschedules to take the spare's
    /// budget as its slice. Otherwise nothing changes (and no action is returned). `now` is
    /// checked and moves the clock as for every hook (see `clock.rs`).
    pub fn io_event(&mut self, h: UnitId, now: i64) -> Result<Actions> {
        let t = self.hook_time(now)?;
        self.inserted_unit(h)?;
        let now = self.advance(t);
        let mut a = Actions::default();
        self.stats.io_events += 1;
        let u = self.unit(h)?;
        let eligible = |u: &crate::unit::Unit| {
            u.flags.contains(UnitFlags::USES_SPARE)
                && u.spare == NIL
                && u.runnable
                && u.params().is_real_time()
                && (u.cur_budget == 0 || u.priority_level > 0)
        };
        if !eligible(u) || self.policy.priority != PriorityScheme::Edf {
            return Ok(a);
        }
        let on_cpu = u.on_cpu;
        if on_cpu != NIL {
            // Running: charge what it ran so far to its own (extratime) budget.
            self.burn_budget(h.0, now, false)?;
            // (A background unit's key is its virtual time, which the burn advanced.)
            self.refresh_key(h.0);
            if !eligible(self.unit(h)?) {
                return Ok(a);
            }
        }
        let own_deadline = self.unit(h)?.cur_deadline;
        let no_short = self.mutant(Mutant::SpareNoShortLend);
        let not_scaled = self.mutant(Mutant::SpareShortNotScaled);
        // The free spare with the earliest deadline no later than the own replenishment; else
        // the one that lends the most shortened (deadline = the own replenishment).
        let mut best: Option<(usize, Spare)> = None;
        let mut short: Option<(usize, Spare, i64)> = None;
        for (k, s) in self.spares.active().iter().enumerate() {
            if s.unit != NIL {
                continue;
            }
            let mut c = *s;
            c.cbs_refresh(now);
            if c.cur_budget <= 0 {
                continue;
            }
            if c.cur_deadline <= own_deadline {
                if best.is_none_or(|(_, b)| c.cur_deadline < b.cur_deadline) {
                    best = Some((k, c));
                }
            } else if !no_short {
                let b = if not_scaled {
                    c.cur_budget
                } else {
                    c.short_budget(now, own_deadline)
                };
                if b >= MIN_BUDGET && short.is_none_or(|(_, _, x)| b > x) {
                    short = Some((k, c, b));
                }
            }
        }
        let (k, mut s, lend) = match (best, short) {
            (Some((k, s)), _) => (k, s, None),
            (None, Some((k, s, b))) => (k, s, Some(b)),
            (None, None) => {
                self.stats.spare_none_free += 1;
                return Ok(a);
            }
        };
        let queued = self.unit(h)?.queue != crate::unit::QueueKind::None;
        if queued {
            self.q_remove(h.0)?;
        }
        self.replq_remove(h.0)?;
        {
            let u = get_mut(self.units, h.0)?;
            s.unit = h.0;
            s.own_deadline = u.cur_deadline;
            s.own_budget = u.cur_budget;
            s.own_level = u.priority_level;
            s.own_debt = u.debt;
            match lend {
                None => {
                    s.short = false;
                    u.cur_deadline = s.cur_deadline;
                    u.cur_budget = s.cur_budget;
                }
                Some(b) => {
                    // Shortened: part of the spare's period, to the own replenishment; the
                    // rest of the period's budget and its deadline wait in the slot.
                    s.short = true;
                    s.held_deadline = s.cur_deadline;
                    s.held_budget = s.cur_budget.saturating_sub(b).max(0);
                    u.cur_deadline = own_deadline;
                    u.cur_budget = b;
                }
            }
            u.priority_level = 0;
            u.debt = 0;
            u.last_start = now;
            u.flags.remove(UnitFlags::DEPLETED);
            u.spare = k as u32;
        }
        *self.spares.slots.get_mut(k).ok_or_else(Error::corrupt)? = s;
        self.stats.spare_attaches += 1;
        self.stats.spare_short += lend.is_some() as u64;
        self.refresh_key(h.0);
        self.replq_insert(h.0)?;
        if queued {
            self.runq_insert(h.0)?;
            self.tickle(h.0, &mut a)?;
        } else if on_cpu != NIL {
            a.reschedule.set(on_cpu as usize);
        }
        self.sync_timer(&mut a);
        Ok(a)
    }

    /// The spare serving `h` reached its deadline at `now` (the caller has taken `h` off the
    /// replenishment queue, or it is off it): renew it; when its next deadline would pass the
    /// unit's own replenishment, renew it shortened to that replenishment (or return it if
    /// that lends less than [`MIN_BUDGET`]); return it when the replenishment has come. The
    /// unit's own state is then back, its deadline possibly passed (the caller replenishes it
    /// as usual).
    pub(super) fn spare_expire(&mut self, h: u32, now: i64) -> Result<()> {
        let k = get(self.units, h)?.spare;
        let s = *self
            .spares
            .slots
            .get(k as usize)
            .ok_or_else(Error::corrupt)?;
        let u = get(self.units, h)?;
        let next = next_deadline(u.cur_deadline, s.params.period, now);
        let own = s.own_deadline;
        let keep = self.mutant(Mutant::SpareKeptPastReplenishment) || (now < own && next <= own);
        if !keep {
            // The last spare period before the own replenishment: renewed shortened to it.
            let b = if self.mutant(Mutant::SpareShortNotScaled) {
                s.params.budget
            } else {
                s.scaled_budget(now, own).min(s.params.budget)
            };
            if now >= own || b < MIN_BUDGET || self.mutant(Mutant::SpareNoShortLend) {
                return self.spare_detach(h);
            }
            let slot = self
                .spares
                .slots
                .get_mut(k as usize)
                .ok_or_else(Error::corrupt)?;
            slot.short = true;
            slot.held_deadline = next;
            slot.held_budget = s.params.budget.saturating_sub(b).max(0);
            let u = get_mut(self.units, h)?;
            u.cur_deadline = own;
            u.cur_budget = b;
            u.priority_level = 0;
            u.debt = 0;
            u.last_start = now;
            self.stats.spare_renewals += 1;
            self.stats.spare_short += 1;
            return Ok(());
        }
        let u = get_mut(self.units, h)?;
        u.cur_deadline = next;
        u.cur_budget = s.params.budget;
        u.priority_level = 0;
        u.debt = 0;
        u.last_start = now;
        // (`DEPLETED` stays: the timer clears it and tickles, as after a replenishment.)
        self.stats.spare_renewals += 1;
        Ok(())
    }

    /// Returns `h`'s spare (if any) outside the timer: takes the unit off its queues,
    /// restores its own state and puts it back where it was.
    #[inline]
    pub(super) fn spare_release(&mut self, h: u32) -> Result<()> {
        if get(self.units, h)?.spare == NIL {
            return Ok(());
        }
        self.spare_release_attached(h)
    }

    /// [`Self::spare_release`] for a unit on a spare (out of line: the hooks' common path
    /// only tests for one).
    #[inline(never)]
    fn spare_release_attached(&mut self, h: u32) -> Result<()> {
        let u = get(self.units, h)?;
        let queued = u.queue != crate::unit::QueueKind::None;
        let on_replq = u.on_replq();
        if queued {
            self.q_remove(h)?;
        }
        self.replq_remove(h)?;
        self.spare_detach(h)?;
        if on_replq {
            self.replq_insert(h)?;
        }
        if queued {
            self.runq_insert(h)?;
        }
        Ok(())
    }

    /// Restores `h`'s own server state and returns its spare to the pool, keeping the
    /// spare's budget left and deadline (its constant-bandwidth state). Queues untouched.
    fn spare_detach(&mut self, h: u32) -> Result<()> {
        let k = get(self.units, h)?.spare;
        let not_returned = self.mutant(Mutant::SpareNotReturned);
        let s = self
            .spares
            .slots
            .get_mut(k as usize)
            .ok_or_else(Error::corrupt)?;
        let u = get_mut(self.units, h)?;
        let on_spare_budget = u.priority_level == 0 && !u.flags.contains(UnitFlags::DEPLETED);
        let left = if on_spare_budget {
            u.cur_budget.min(s.params.budget)
        } else {
            0
        };
        if s.short {
            // Lent shortened: the spare's own period comes back with what the unit left.
            s.short = false;
            s.cur_budget = left
                .saturating_add(s.held_budget)
                .min(s.params.budget)
                .max(0);
            s.cur_deadline = s.held_deadline;
        } else {
            s.cur_budget = left;
            s.cur_deadline = u.cur_deadline;
        }
        if !not_returned {
            s.unit = NIL;
        }
        u.cur_deadline = s.own_deadline;
        u.cur_budget = s.own_budget.min(u.budget).max(0);
        u.priority_level = s.own_level;
        u.debt = s.own_debt;
        u.spare = NIL;
        u.flags.set(
            UnitFlags::DEPLETED,
            u.cur_budget == 0 && u.priority_level == 0,
        );
        self.stats.spare_returns += 1;
        self.place_background(h);
        self.refresh_key(h);
        Ok(())
    }

    /// The spare servers of the pool.
    pub fn spare_info(&self, k: usize) -> Option<SpareInfo> {
        let s = self.spares.active().get(k)?;
        let attached = s.unit != NIL;
        let u = self.units.get(s.unit as usize).filter(|_| attached);
        Some(SpareInfo {
            period: s.params.period,
            budget: s.params.budget,
            cur_budget: u.map_or(s.cur_budget, |u| u.cur_budget),
            cur_deadline: u.map_or(s.cur_deadline, |u| u.cur_deadline),
            attached: attached as u32,
            unit: if attached { s.unit } else { 0 },
            own_deadline: if attached { s.own_deadline } else { 0 },
        })
    }

    /// The number of spare servers in the pool.
    pub fn nr_spares(&self) -> usize {
        self.spares.len as usize
    }

    /// The pool slot of the spare attached to `h`, if any.
    pub fn spare_of(&self, h: UnitId) -> Result<Option<usize>> {
        let u = self.unit(h)?;
        Ok((u.spare != NIL).then_some(u.spare as usize))
    }
}
