//! The instance's clock: every hook time is checked, and time never goes backwards.
//!
//! A hook time is the host's clock in ns, `0..=MAX_TIME` ([`crate::params::MAX_TIME`]); a
//! time outside is refused ([`Error::InvalidTime`]) before anything changes. The instance
//! keeps the latest time a hook was given. An earlier time (each PCPU reads its own clock,
//! and the clocks of an emulator's PCPUs can differ by milliseconds) is taken as that latest
//! time and counted ([`crate::Stats::clock_backwards`]): so no budget is charged for negative
//! time and no unit's `last_start` lies ahead of a hook's time. A time far in the future
//! moves the clock there for good: the host's clock is the only one.
//!
//! A hook checks its time first ([`Scheduler::hook_time`]), then its other arguments, and
//! moves the clock ([`Scheduler::advance`]) only once it will act.

use super::Scheduler;
use crate::error::{Error, Result};
use crate::params::MAX_TIME;

/// A checked hook time, not yet applied to the clock.
#[must_use]
pub(super) struct HookTime {
    /// The time the hook works at: the time given, or the clock if that is later.
    now: i64,
    /// Whether the time given was behind the clock.
    behind: bool,
}

impl<'a> Scheduler<'a> {
    /// Checks a hook's time; changes nothing.
    pub(super) fn hook_time(&self, now: i64) -> Result<HookTime> {
        if !(0..=MAX_TIME).contains(&now) {
            return Err(Error::InvalidTime.cold());
        }
        Ok(HookTime {
            now: now.max(self.clock),
            behind: now < self.clock,
        })
    }

    /// Moves the clock to a checked time (counting a time that was behind it) and returns
    /// the time the hook works at.
    pub(super) fn advance(&mut self, t: HookTime) -> i64 {
        if t.behind {
            self.stats.clock_backwards += 1;
        }
        self.clock = t.now;
        t.now
    }
}
