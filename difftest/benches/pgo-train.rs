//! The training run of rtsched's profile-guided build (`cargo xtask pgo`, which builds and
//! runs this binary; see the module docs of `xtask/src/pgo.rs`).
//!
//! Plays the benchmark's workload generator (`difftest::bench`) with seeds the benchmark
//! never uses, over every workload shape, three sizes, two CPU counts and every policy
//! (priority scheme x server x class rule), against rtsched twice:
//! - through its Rust API (the code the benchmark records its tapes with), and
//! - through its C ABI, in the instrumented build of the object linked into Xen (same
//!   target, profile and flags), which `RTSCHED_OBJECT` names at build time
//!   (`difftest::bench::Impl::Object`, as the benchmark times the shipped object).
//!
//! The two runs of each workload must make the same calls with the same results. The
//! counters are written where `-Cprofile-generate` (or `LLVM_PROFILE_FILE`) says when the
//! process exits.

use difftest::bench::{self, Config, Impl, Shape};
use rtsched::{ClassRule, Policy, PriorityScheme, ServerKind};

/// Seeds of the training workloads (the benchmark's are `units * 131 + cpus`, below 2^20;
/// see `benches/hooks.rs`).
const SEED: u64 = 0x7a11_0000;

fn policies() -> Vec<Policy> {
    let mut v = Vec::new();
    for priority in [PriorityScheme::Edf, PriorityScheme::Dm] {
        for server in [
            ServerKind::Deferrable,
            ServerKind::Periodic,
            ServerKind::Cbs,
        ] {
            for classes in [ClassRule::Rtds, ClassRule::Classes] {
                v.push(Policy {
                    priority,
                    server,
                    classes,
                    ..Policy::default()
                });
            }
        }
    }
    v
}

fn main() {
    let shapes = [
        Shape::Global,
        Shape::Table42,
        Shape::Pinned,
        Shape::Partition,
        Shape::Mixed,
    ];
    let mut calls = [0usize; 2];
    let mut n = 0u64;
    for policy in policies() {
        for shape in shapes {
            for (units, cpus) in [(8, 4), (8, 16), (64, 4), (64, 16), (512, 16)] {
                // Every policy at 8 and 64 units; the largest size with the deferrable
                // server only (EDF and DM, either class rule: rt.c's policy and the
                // deployed default among them; the same paths, longer queues).
                if units == 512 && policy.server != ServerKind::Deferrable {
                    continue;
                }
                n += 1;
                let cfg = Config {
                    shape,
                    units,
                    cpus,
                    steps: if units == 512 { 2_000 } else { 4_000 },
                    seed: SEED + n,
                };
                let tape = bench::record_policy(Impl::Rtsched, &cfg, policy);
                calls[0] += tape.calls.len();
                if bench::OBJECT {
                    let object = bench::record_policy(Impl::Object, &cfg, policy);
                    assert!(
                        object == tape,
                        "the object's run differs from the Rust API's: {cfg:?} {policy:?}"
                    );
                    calls[1] += object.calls.len();
                }
            }
        }
    }
    println!(
        "pgo-train: {n} workloads, {} hook calls through the Rust API, {} through the C ABI",
        calls[0], calls[1]
    );
    if !bench::OBJECT {
        println!("pgo-train: built without RTSCHED_OBJECT: the C ABI was not trained");
    }
}
