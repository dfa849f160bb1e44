//! Server parameters, Xen's limits on them, and the time arithmetic of replenishment.
//!
//! Times are nanoseconds in an `i64`, like Xen's `s_time_t`. No computation here can overflow
//! silently: sums and products saturate at [`STIME_MAX`] (which in practice is never reached,
//! since periods are at most [`MAX_PERIOD`] = 2^62 - 1 ns and Xen's clock starts at 0), and
//! differences are of two non-negative values, which cannot overflow (`diff`).

/// One microsecond in nanoseconds.
pub const MICROSECS: i64 = 1_000;
/// One millisecond in nanoseconds.
pub const MILLISECS: i64 = 1_000_000;
/// Xen's `STIME_MAX`: the largest time value.
pub const STIME_MAX: i64 = i64::MAX;
/// Xen's `STIME_DELTA_MAX` (`~0ull >> 2`): the largest period, so that adding a period to a time
/// cannot overflow.
pub const STIME_DELTA_MAX: i64 = (u64::MAX >> 2) as i64;

/// The largest hook time: [`STIME_DELTA_MAX`], so that a time plus a period cannot overflow
/// (146 years after the host's clock started at 0). See `sched/clock.rs`.
pub const MAX_TIME: i64 = STIME_DELTA_MAX;

/// Default period of a new unit (Xen's `RTDS_DEFAULT_PERIOD`): 10 ms.
pub const DEFAULT_PERIOD: i64 = 10 * MILLISECS;
/// Default budget of a new unit (Xen's `RTDS_DEFAULT_BUDGET`): 4 ms.
pub const DEFAULT_BUDGET: i64 = 4 * MILLISECS;
/// Smallest period: 10 us; below it scheduling overhead dominates (Xen's `RTDS_MIN_PERIOD`).
pub const MIN_PERIOD: i64 = 10 * MICROSECS;
/// Largest period: [`STIME_DELTA_MAX`] (Xen's `RTDS_MAX_PERIOD`).
pub const MAX_PERIOD: i64 = STIME_DELTA_MAX;
/// Smallest budget: 10 us, for the same reason as [`MIN_PERIOD`] (Xen's `RTDS_MIN_BUDGET`).
pub const MIN_BUDGET: i64 = 10 * MICROSECS;

/// The reservation of one unit: `budget` ns of CPU every `period` ns, and whether it may run
/// in otherwise idle time once the budget is used up.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(C)]
pub struct Params {
    /// Replenishment period in ns.
    pub period: i64,
    /// Budget per period in ns.
    pub budget: i64,
    /// Whether the unit may run on extratime (work-conserving) after its budget is exhausted.
    pub extratime: bool,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            period: DEFAULT_PERIOD,
            budget: DEFAULT_BUDGET,
            extratime: true,
        }
    }
}

impl Params {
    /// Xen's per-VCPU validation (`XEN_DOMCTL_SCHEDOP_putvcpuinfo`):
    /// `MIN_BUDGET <= budget <= period`, `MIN_PERIOD <= period <= MAX_PERIOD`.
    pub fn is_valid(&self) -> bool {
        self.period <= MAX_PERIOD
            && self.budget >= MIN_BUDGET
            && self.budget <= self.period
            && self.period >= MIN_PERIOD
    }

    /// Whether this is a real-time reservation: every unit except a non-real-time one
    /// (extratime with `budget == period`, the RT-Xen dissertation's non-RT VMs, chapter 4),
    /// which only uses spare time and reserves nothing under the class rule.
    pub fn is_real_time(&self) -> bool {
        !(self.extratime && self.budget >= self.period)
    }

    /// Bandwidth `budget / period` in parts per million (rounded up), without floating point
    /// or 128-bit division (which would call a compiler helper in the hypervisor object):
    /// whole periods, then the remainder `r < period`, which with the period is scaled down
    /// until `r * 10^6` fits in 64 bits (the rounding stays upwards, and never above one
    /// period, so `budget = period` is exactly 10^6 at any period).
    pub fn bandwidth_ppm(&self) -> u64 {
        let b = self.budget.max(0) as u64;
        let mut p = self.period.max(1) as u64;
        let whole = b / p;
        let mut r = b % p;
        while r > u64::MAX / 1_000_000 {
            r = r.div_ceil(2);
            p = (p / 2).max(1);
        }
        // (r < period: the part is below 10^6 before scaling, so at most 10^6 after.)
        let part = (r * 1_000_000).div_ceil(p).min(1_000_000);
        whole.saturating_mul(1_000_000).saturating_add(part)
    }
}

/// `a - b` for two non-negative quantities of an instance: its times (hook times,
/// `last_start`, deadlines, the interference clock and its marks) and budgets are all
/// `>= 0`, and the difference of two non-negative `i64`s always fits. So it needs no
/// saturation, which costs eight instructions where this takes one on the hooks' common
/// paths. (A negative operand is a broken invariant: debug builds stop on it.)
#[inline(always)]
pub(crate) fn diff(a: i64, b: i64) -> i64 {
    debug_assert!(a >= 0 && b >= 0, "a negative time or budget");
    a.wrapping_sub(b)
}

/// The next deadline after `now` for a server whose current deadline `deadline <= now` has
/// passed: the smallest `deadline + k * period > now`, `k >= 1`.
///
/// Xen's `rt_update_deadline` adds the period in a loop when fewer than 1024 periods were
/// missed and multiplies otherwise; both give this value. Here it is always the division
/// `k = (now - deadline) / period + 1`, which is exact and O(1) (and no division when `k` is
/// 1, the common case). Saturates at [`STIME_MAX`].
/// A `period <= 0` (impossible for a validated unit) returns `now` unchanged rather than panic.
pub fn next_deadline(deadline: i64, period: i64, now: i64) -> i64 {
    if period <= 0 || now < deadline {
        return deadline.max(now);
    }
    let behind = now.saturating_sub(deadline);
    if behind < period {
        // (k = 1, the common case: no division.)
        return deadline.saturating_add(period);
    }
    let k = match behind.checked_div(period) {
        Some(q) => q.saturating_add(1),
        None => 1,
    };
    deadline.saturating_add(k.saturating_mul(period))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_matches_xen() {
        let p = |period, budget| Params {
            period,
            budget,
            extratime: false,
        };
        assert!(Params::default().is_valid());
        assert!(p(10 * MICROSECS, 10 * MICROSECS).is_valid());
        assert!(!p(9_999, 9_999).is_valid());
        assert!(!p(10 * MILLISECS, 20 * MILLISECS).is_valid());
        assert!(!p(10 * MILLISECS, 0).is_valid());
        assert!(!p(0, 0).is_valid());
        assert!(!p(-1, -5).is_valid());
        assert!(p(MAX_PERIOD, MIN_BUDGET).is_valid());
        assert!(!p(MAX_PERIOD + 1, MIN_BUDGET).is_valid());
    }

    #[test]
    fn deadline_catch_up() {
        assert_eq!(next_deadline(0, 10, 0), 10);
        assert_eq!(next_deadline(10, 10, 10), 20);
        assert_eq!(next_deadline(10, 10, 19), 20);
        assert_eq!(next_deadline(10, 10, 20), 30);
        // Far behind: more than 1024 periods.
        assert_eq!(next_deadline(0, 10_000, 123_456_789_012), 123_456_790_000);
        // Saturation instead of overflow.
        assert_eq!(next_deadline(0, MAX_PERIOD, STIME_MAX - 1), STIME_MAX);
        assert_eq!(Params::default().bandwidth_ppm(), 400_000);
    }

    /// The next deadline is the smallest `deadline + k * period > now` (saturated), with or
    /// without the division: checked against 128-bit arithmetic around the one-period
    /// boundary and over spread values.
    #[test]
    fn next_deadline_is_the_first_after_now() {
        let reference = |d: i64, p: i64, n: i64| -> i64 {
            let k = (n as i128 - d as i128) / p as i128 + 1;
            (d as i128 + k * p as i128).min(STIME_MAX as i128) as i64
        };
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            x >> 2
        };
        for i in 0..20_000 {
            let p = ((next() % MAX_PERIOD as u64) >> (next() % 62)).max(1) as i64;
            let d = ((next() % MAX_TIME as u64) >> (next() % 62)) as i64;
            let behind = match i % 4 {
                0 => p - 1,
                1 => p,
                2 => p + 1,
                _ => (next() >> (next() % 62)) as i64,
            };
            let n = d.saturating_add(behind).min(MAX_TIME);
            if n < d {
                continue;
            }
            assert_eq!(next_deadline(d, p, n), reference(d, p, n), "{d} {p} {n}");
        }
    }

    #[test]
    fn bandwidth_is_exact_or_rounded_up_and_never_above_one_for_a_valid_unit() {
        let p = |period, budget| Params {
            period,
            budget,
            extratime: false,
        };
        for period in [
            MIN_PERIOD,
            10_000_000,
            MAX_PERIOD / 3,
            MAX_PERIOD - 1,
            MAX_PERIOD,
        ] {
            for budget in [MIN_BUDGET, period / 3, period / 2 + 1, period - 1, period] {
                let bw = p(period, budget).bandwidth_ppm();
                let exact = budget as u128 * 1_000_000 / period as u128;
                assert!(
                    bw as u128 >= exact && bw as u128 <= exact + 1 && bw <= 1_000_000,
                    "{budget}/{period}: {bw} ppm"
                );
            }
        }
        assert_eq!(p(MAX_PERIOD, MAX_PERIOD).bandwidth_ppm(), 1_000_000);
    }
}
