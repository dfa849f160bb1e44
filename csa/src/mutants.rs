//! Deliberately wrong analysis variants (feature `mutants`), switched on at run time by the
//! tests that must detect them. Never enabled in a normal build.

use std::sync::atomic::{AtomicBool, Ordering};

static WRONG_PRM_BLACKOUT: AtomicBool = AtomicBool::new(false);

/// Makes [`crate::prm::Prm::sbf`] use a blackout of `Pi - Theta` instead of `2 (Pi - Theta)`
/// (an off-by-one in the number of lost budgets) while `on`.
pub fn set_wrong_prm_blackout(on: bool) {
    WRONG_PRM_BLACKOUT.store(on, Ordering::SeqCst);
}

/// Whether the wrong blackout is on.
pub fn wrong_prm_blackout() -> bool {
    WRONG_PRM_BLACKOUT.load(Ordering::SeqCst)
}
