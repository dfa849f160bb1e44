//! Scheduling policy of an instance: topology, priority scheme, server mechanism, admission.

/// How the PCPUs share run queues.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(u32)]
pub enum Topology {
    /// rt-global: one run queue for all PCPUs of the instance (Xen's RTDS).
    #[default]
    Global = 0,
    /// rt-partition: one run queue per PCPU.
    Partition = 1,
}

/// How units are ordered within a priority level.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(u32)]
pub enum PriorityScheme {
    /// Earliest deadline first (Xen's RTDS).
    #[default]
    Edf = 0,
    /// Deadline monotonic: shorter period first, ties by deadline.
    Dm = 1,
}

/// How a server's budget is consumed.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(u32)]
pub enum ServerKind {
    /// Deferrable server: budget burns only while the unit runs (Xen's RTDS).
    #[default]
    Deferrable = 0,
    /// Periodic server: budget also burns while the unit is idle but would be scheduled.
    Periodic = 1,
    /// Hard constant-bandwidth server (Abeni and Buttazzo 1998; Linux's SCHED_DEADLINE):
    /// budget burns while the unit runs, as the deferrable server's, but a waking unit whose
    /// remaining budget exceeds what its bandwidth allows before its deadline starts a new
    /// period at once (deadline `now + period`, full budget), so it never runs its budget
    /// back to back with the next one. Keeps EDF's `U <= 1` bound sound whatever the wake
    /// pattern.
    Cbs = 2,
}

/// Whether real-time units outrank non-real-time ones (RT-Xen 2.1, dissertation section
/// 4.2.1).
///
/// A non-real-time unit is one with extratime and `budget == period` (the dissertation's
/// convention, which unmodified `xl sched-rtds` can set); every other unit is real-time.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(u32)]
pub enum ClassRule {
    /// Two classes (the default): a real-time unit with budget left (priority level 0)
    /// outranks every other unit whatever the deadlines; everything else (non-real-time
    /// units, and real-time units on extratime) is the background class, which shares the
    /// time the reservations leave equally (see [`crate::prio`]). This is what makes an
    /// admitted reservation a guarantee beside non-real-time VMs of any period or phase,
    /// hence the default.
    #[default]
    Classes = 0,
    /// Plain RTDS order (Xen's rt.c): priority level, then deadline (or period), for every
    /// unit alike. For those who want upstream's behaviour, and for the comparison with
    /// rt.c; a reservation is then guaranteed only when no non-real-time unit shares its
    /// CPUs.
    Rtds = 1,
}

/// The policy of one scheduler instance.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
#[repr(C)]
pub struct Policy {
    /// Run-queue topology (fixed at initialisation).
    pub topology: Topology,
    /// Priority scheme (switchable at run time).
    pub priority: PriorityScheme,
    /// Server mechanism (switchable at run time).
    pub server: ServerKind,
    /// Whether parameter changes must pass a schedulability test.
    pub admission: bool,
    /// Class rule (switchable at run time).
    pub classes: ClassRule,
}
