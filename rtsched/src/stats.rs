//! Event counters of an instance (Xen's `SCHED_STAT_CRANK` counters and more), exported
//! through the C ABI and shown in the debug-key dump.

/// Counters, each incremented with wrapping arithmetic (they are statistics, not state).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct Stats {
    /// `do_schedule` calls.
    pub schedules: u64,
    /// `do_schedule` calls that picked a different unit than the current one.
    pub switches: u64,
    /// `do_schedule` calls that went idle for tasklet work.
    pub tasklet_idle: u64,
    /// Units picked on a CPU other than their own.
    pub migrations: u64,
    /// `wake` calls.
    pub wakes: u64,
    /// `sleep` calls.
    pub sleeps: u64,
    /// `insert` calls.
    pub inserts: u64,
    /// `remove` calls.
    pub removes: u64,
    /// `context_saved` calls.
    pub context_saved: u64,
    /// Replenishment timer expiries handled.
    pub timer_fires: u64,
    /// Units replenished by the timer.
    pub replenishments: u64,
    /// Tickles that found an idle CPU.
    pub tickle_idle: u64,
    /// Tickles that preempted a lower-priority unit.
    pub tickle_busy: u64,
    /// Tickles that found no CPU to preempt.
    pub tickle_none: u64,
    /// Hook times behind the instance's clock, taken as the clock (see `sched/clock.rs`).
    pub clock_backwards: u64,
    /// Non-runnable units found on the run queue by `do_schedule` and dropped.
    pub dropped_unrunnable: u64,
    /// Periodic server: picks of a blocked unit whose budget an idle CPU then consumed.
    pub phantom_picks: u64,
    /// Constant-bandwidth server: wakes that started a new period (the CBS wake-up rule).
    pub cbs_restarts: u64,
    /// `io_event` calls.
    pub io_events: u64,
    /// Spare servers attached to units.
    pub spare_attaches: u64,
    /// Spare periods renewed for an attached unit.
    pub spare_renewals: u64,
    /// Spare servers returned to the pool.
    pub spare_returns: u64,
    /// I/O events for an eligible unit that found no spare to lend (none free, or in the last
    /// spare period before its replenishment a scaled budget below `MIN_BUDGET`).
    pub spare_none_free: u64,
    /// Spares lent or renewed shortened: in the last spare period before the unit's own
    /// replenishment, with that replenishment as deadline and the budget scaled to the time
    /// left.
    pub spare_short: u64,
    /// Nanoseconds the replenishment timer expired after the time it was programmed for
    /// while a CPU of the instance idled, summed over its expiries: the host's timer latency
    /// where a unit waiting for its budget could have run.
    pub timer_late_ns: u64,
    /// Nanoseconds units without extratime ran beyond their budgets (slices that ended
    /// late) while a unit with budget waited on the run queue, summed; each unit repays its
    /// own overrun as debt (`Unit::burn`), but the waiting unit may have lost that time.
    pub overrun_ns: u64,
    /// Budget (ns) units without extratime still held at a deadline they reached runnable:
    /// reservation they did not receive, summed.
    pub lost_ns: u64,
    /// The part of `lost_ns` that interference explains, unit by unit: at most what the
    /// unit's period saw of the host's lateness (the late replenishment that started it,
    /// others' overruns while it waited on the run queue). The end-to-end checks allow a
    /// PCPU's reservations this much.
    pub excused_ns: u64,
}
