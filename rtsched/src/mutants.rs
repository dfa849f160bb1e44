//! Deliberately broken variants of the hook protocol, so the loom models in `model-tests`
//! can show they catch each one.
//!
//! Each is selected at run time by [`crate::Scheduler::set_mutant`], which exists only with
//! the `mutants` feature (enabled only for the loom test build, never for the hypervisor
//! object). A site in the hooks is one predicate, `self.mutant(Mutant::X)`, which is the
//! constant `false` without the feature; the broken behaviour, where it is more than a
//! skipped step, is written here.

use crate::error::Result;
use crate::sched::Scheduler;
use crate::unit::UnitFlags;

/// A protocol mutation.
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

impl<'a> Scheduler<'a> {
    /// [`Mutant::TimerResortsScheduled`]: a replenished runnable unit that is off the queues
    /// and not running is put on the run queue, although it may still be being switched out.
    pub(crate) fn mutant_timer_resorts_scheduled(&mut self, h: u32) -> Result<()> {
        let Some(u) = self.raw_units_mut().get_mut(h as usize) else {
            return Ok(());
        };
        if !u.runnable || u.on_cpu != crate::unit::NIL {
            return Ok(());
        }
        u.flags.remove(UnitFlags::SCHEDULED);
        self.runq_insert(h)
    }
}
