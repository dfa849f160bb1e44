//! Compositional scheduling analysis (CSA) for rtsched: from the real-time tasks inside
//! each VM to the (budget, period) of each VCPU, and whether the host accepts them.
//!
//! - [`task`]: sporadic tasks and the guest's scheduler.
//! - [`prm`]: the periodic resource model (one VCPU): supply bound, EDF and RM tests.
//! - [`mpr`]: the multiprocessor periodic resource, its deployment as VCPUs, the global EDF
//!   test.
//! - [`interface`]: the search for each VM's VCPUs (period range, least bandwidth) as CARTS
//!   does it, guest task partitioning, and the host's admission test.
//! - [`taskgen`]: random task sets as in the RT-Xen dissertation's experiments.
//!
//! Times are integers in ns. Floating point appears only in reports (bandwidths) and in
//! task generation; every comparison of demand with supply is exact.

pub mod interface;
pub mod mpr;
#[cfg(feature = "mutants")]
pub mod mutants;
pub mod prm;
pub mod task;
pub mod taskgen;

pub use interface::{
    host_check, vm_interface, HostCheck, HostSpec, Options, VcpuIf, VmInterface, VmSpec,
};
pub use task::{Placement, Priority, Task};
