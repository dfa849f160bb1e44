//! Strategies shared by the property tests.

use proptest::prelude::*;
use rtsched::{PriorityScheme, ServerKind, Topology};

/// Every topology, priority scheme and server.
pub fn topology_priority_server() -> impl Strategy<Value = (Topology, PriorityScheme, ServerKind)> {
    (
        prop_oneof![Just(Topology::Global), Just(Topology::Partition)],
        prop_oneof![Just(PriorityScheme::Edf), Just(PriorityScheme::Dm)],
        prop_oneof![
            Just(ServerKind::Deferrable),
            Just(ServerKind::Periodic),
            Just(ServerKind::Cbs)
        ],
    )
}

/// A runner for a search that must find a broken variant every time: `cases` cases from the
/// fixed `seed` whatever the environment says, no shrinking, no persisted failures.
pub fn fixed_search(cases: u32, seed: u64) -> proptest::test_runner::TestRunner {
    proptest::test_runner::TestRunner::new(ProptestConfig {
        cases,
        max_shrink_iters: 0,
        failure_persistence: None,
        rng_seed: proptest::test_runner::RngSeed::Fixed(seed),
        ..ProptestConfig::default()
    })
}
