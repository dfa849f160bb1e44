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
}
