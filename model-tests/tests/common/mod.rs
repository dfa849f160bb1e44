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
