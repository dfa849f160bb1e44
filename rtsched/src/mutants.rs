//! Deliberately broken variants of the hook protocol, compiled only with the `mutants`
//! feature, so the loom models in `model-tests` can show they catch each one. Never part of
//! the hypervisor object (the feature is enabled only for the loom test build).

/// A protocol mutation selected at run time by [`crate::Scheduler::set_mutant`].
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Mutant {
    /// The correct protocol.
    #[default]
    None,
    /// `wake` queues a unit even while it is still being switched out (`SCHEDULED`).
    WakeIgnoresScheduled,
    /// `context_saved` drops the unit instead of honouring `DELAYED_RUNQ_ADD`.
    ContextSavedIgnoresDelayed,
    /// The replenishment timer puts a replenished unit that is being switched out on the
    /// run queue.
    TimerResortsScheduled,
}
