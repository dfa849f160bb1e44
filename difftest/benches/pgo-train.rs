//! The training run of rtsched's profile-guided build (`cargo xtask pgo`, which builds and
//! runs this binary; see the module docs of `xtask/src/pgo.rs`).
//!
//! Plays the benchmark's workload generator (`difftest::bench`) with seeds the benchmark
//! never uses, over every workload shape, three sizes, two CPU counts and every policy
//! (priority scheme x server x class rule), against rtsched twice:
//! - through its Rust API (the code the benchmark measures), and
//! - through its C ABI, in the instrumented build of the object linked into Xen (same
//!   target, profile and flags), when `RTSCHED_PGO_OBJECT` names it at build time. That
//!   object is made for `x86_64-unknown-none`; its functions take no floating-point
//!   arguments and it calls out only to `memcpy`/`memset`/... and its return thunk, so it
//!   runs here, in a host process, as it will in Xen.
//!
//! The counters are written where `-Cprofile-generate` (or `LLVM_PROFILE_FILE`) says when
//! the process exits.
//!
//! The C ABI's structs come from `ffi/src/types.rs` itself (included by path, layouts
//! asserted there); its function declarations are written here, as the header declares
//! them: every call's result is checked, so a declaration that no longer matches fails the
//! training.

use difftest::bench::{self, Config, Shape};
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
                calls[0] += bench::record_policy(&cfg, policy).calls.len();
                calls[1] += ffi::record(&cfg, policy);
            }
        }
    }
    println!(
        "pgo-train: {n} workloads, {} hook calls through the Rust API, {} through the C ABI",
        calls[0], calls[1]
    );
    if !ffi::LINKED {
        println!("pgo-train: built without RTSCHED_PGO_OBJECT: the C ABI was not trained");
    }
}

#[cfg(not(rtsched_pgo_object))]
mod ffi {
    pub const LINKED: bool = false;
    pub fn record(_: &difftest::bench::Config, _: rtsched::Policy) -> usize {
        0
    }
}

/// The C ABI's structs and constants, from the one source cbindgen writes `include/rtsched.h`
/// from (the `ffi` crate itself cannot be linked here: it defines the object's symbols).
#[cfg(rtsched_pgo_object)]
#[allow(dead_code, unused_imports)]
#[path = "../../ffi/src/types.rs"]
mod types;

/// rtsched through the C ABI of `include/rtsched.h`, as the Xen shim calls it.
#[cfg(rtsched_pgo_object)]
mod ffi {
    use crate::types::{
        RtschedActions, RtschedCpumask, RtschedDecision, RtschedParams, RtschedPolicy,
        RtschedTimerOp, RTSCHED_NONE, RTSCHED_PARAM_EXTRATIME,
    };
    use difftest::bench::{self, Config, Imp, Shape};
    use rtsched::Policy;

    pub const LINKED: bool = true;

    // The object's calls return through this (`-Zfunction-return=thunk-extern`; Xen has it).
    std::arch::global_asm!(".globl __x86_return_thunk", "__x86_return_thunk:", "ret");

    fn no_actions() -> RtschedActions {
        RtschedActions {
            reschedule: RtschedCpumask::default(),
            timer_op: RtschedTimerOp::Keep,
            timer_expiry: 0,
        }
    }

    enum Rtsched {}

    extern "C" {
        fn rtsched_mem_size(capacity: u32, nr_cpus: u32) -> usize;
        fn rtsched_mem_align() -> usize;
        fn rtsched_init(
            mem: *mut u8,
            len: usize,
            capacity: u32,
            nr_cpus: u32,
            policy: *const RtschedPolicy,
            out: *mut *mut Rtsched,
        ) -> i32;
        fn rtsched_cpu_add(s: *mut Rtsched, cpu: u32) -> i32;
        fn rtsched_unit_alloc(
            s: *mut Rtsched,
            domain: u32,
            vcpu: u32,
            affinity: *const RtschedCpumask,
            out: *mut u32,
        ) -> i32;
        fn rtsched_unit_set_params(
            s: *mut Rtsched,
            unit: u32,
            p: *const RtschedParams,
            a: *mut RtschedActions,
        ) -> i32;
        fn rtsched_unit_insert(
            s: *mut Rtsched,
            unit: u32,
            now: i64,
            runnable: bool,
            is_running: bool,
            out_cpu: *mut u32,
            a: *mut RtschedActions,
        ) -> i32;
        fn rtsched_unit_wake(s: *mut Rtsched, unit: u32, now: i64, a: *mut RtschedActions) -> i32;
        fn rtsched_unit_sleep(s: *mut Rtsched, unit: u32, a: *mut RtschedActions) -> i32;
        fn rtsched_do_schedule(
            s: *mut Rtsched,
            cpu: u32,
            now: i64,
            prev_runnable: bool,
            tasklet_work: bool,
            d: *mut RtschedDecision,
        ) -> i32;
        fn rtsched_context_saved(
            s: *mut Rtsched,
            unit: u32,
            runnable: bool,
            a: *mut RtschedActions,
        ) -> i32;
        fn rtsched_timer_fire(s: *mut Rtsched, now: i64, a: *mut RtschedActions) -> i32;
    }

    /// One instance in memory of its own (`mem` outlives `s`).
    struct F {
        s: *mut Rtsched,
        timer: Option<i64>,
        _mem: Vec<u8>,
    }

    fn ok(rc: i32, what: &str) {
        assert_eq!(rc, 0, "rtsched_{what} failed");
    }

    impl F {
        fn new(cfg: &Config, policy: Policy) -> F {
            let (units, cpus) = (cfg.units as u32, cfg.cpus as u32);
            // SAFETY: calls without an instance.
            let (len, align) = unsafe { (rtsched_mem_size(units, cpus), rtsched_mem_align()) };
            assert!(len > 0);
            let mut mem = vec![0u8; len + align];
            let off = mem.as_ptr().align_offset(align);
            let p = RtschedPolicy {
                topology: policy.topology as u32,
                priority: policy.priority as u32,
                server: policy.server as u32,
                admission: u32::from(policy.admission),
                classes: policy.classes as u32,
            };
            let mut s = std::ptr::null_mut();
            // SAFETY: `mem[off..]` is `len` bytes aligned as asked, kept in `F` with the
            // instance; every pointer is valid for the call.
            unsafe {
                ok(
                    rtsched_init(mem.as_mut_ptr().add(off), len, units, cpus, &p, &mut s),
                    "init",
                );
                for c in 0..cpus {
                    ok(rtsched_cpu_add(s, c), "cpu_add");
                }
            }
            let f = F {
                s,
                timer: None,
                _mem: mem,
            };
            for (u, sp) in bench::specs(cfg).iter().enumerate() {
                let mask = RtschedCpumask {
                    bits: [sp.affinity, 0, 0, 0],
                };
                let params = RtschedParams {
                    period: sp.params.period,
                    budget: sp.params.budget,
                    flags: if sp.params.extratime {
                        RTSCHED_PARAM_EXTRATIME
                    } else {
                        0
                    },
                    reserved: 0,
                };
                let (mut id, mut cpu) = (0, 0);
                let mut a = no_actions();
                // SAFETY: a live instance; every pointer is valid for the call.
                unsafe {
                    ok(
                        rtsched_unit_alloc(f.s, u as u32, 0, &mask, &mut id),
                        "unit_alloc",
                    );
                    assert_eq!(id as usize, u);
                    ok(
                        rtsched_unit_set_params(f.s, id, &params, &mut a),
                        "set_params",
                    );
                    ok(
                        rtsched_unit_insert(f.s, id, 0, false, false, &mut cpu, &mut a),
                        "insert",
                    );
                }
            }
            f
        }

        /// The digest of a call's actions; the timer they program is kept.
        fn took(&mut self, a: &RtschedActions) -> u64 {
            match a.timer_op {
                RtschedTimerOp::Set => self.timer = Some(a.timer_expiry),
                RtschedTimerOp::Stop => self.timer = None,
                RtschedTimerOp::Keep => {}
            }
            a.reschedule.bits[0]
        }
    }

    impl Imp for F {
        fn set_runnable(&mut self, _: usize, _: bool) {}
        fn wake(&mut self, u: usize, now: i64) -> u64 {
            let mut a = no_actions();
            // SAFETY: a live instance; `a` is valid.
            ok(
                unsafe { rtsched_unit_wake(self.s, u as u32, now, &mut a) },
                "wake",
            );
            self.took(&a)
        }
        fn sleep(&mut self, u: usize, _: i64) -> u64 {
            let mut a = no_actions();
            // SAFETY: as in `wake`.
            ok(
                unsafe { rtsched_unit_sleep(self.s, u as u32, &mut a) },
                "sleep",
            );
            self.took(&a)
        }
        fn do_schedule(&mut self, c: usize, now: i64, pr: bool) -> (Option<usize>, i64, u64) {
            let mut d = RtschedDecision {
                next: RTSCHED_NONE,
                migrated: 0,
                slice: 0,
                actions: no_actions(),
            };
            // SAFETY: as in `wake`.
            let rc = unsafe { rtsched_do_schedule(self.s, c as u32, now, pr, false, &mut d) };
            ok(rc, "do_schedule");
            let m = self.took(&d.actions);
            let next = (d.next != RTSCHED_NONE).then_some(d.next as usize);
            (next, d.slice, m)
        }
        fn context_saved(&mut self, u: usize, _: i64, runnable: bool) -> u64 {
            let mut a = no_actions();
            // SAFETY: as in `wake`.
            let rc = unsafe { rtsched_context_saved(self.s, u as u32, runnable, &mut a) };
            ok(rc, "context_saved");
            self.took(&a)
        }
        fn timer_fire(&mut self, _: usize, now: i64) -> u64 {
            let mut a = no_actions();
            // SAFETY: as in `wake`.
            ok(
                unsafe { rtsched_timer_fire(self.s, now, &mut a) },
                "timer_fire",
            );
            self.took(&a)
        }
        fn timer(&self, _: usize) -> Option<i64> {
            self.timer
        }
        fn overdue(&self, _: usize, _: i64) -> usize {
            0
        }
    }

    /// Plays `cfg` under `policy` through the C ABI; the hook calls made. The partition
    /// shape runs its units pinned in one instance (the same hooks as one instance per
    /// CPU, which the Rust API's pass covers).
    pub fn record(cfg: &Config, policy: Policy) -> usize {
        let cfg = Config {
            shape: match cfg.shape {
                Shape::Partition => Shape::Pinned,
                s => s,
            },
            ..*cfg
        };
        let mut f = F::new(&cfg, policy);
        bench::record_on(&cfg, &mut f).calls.len()
    }
}
