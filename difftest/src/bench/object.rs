//! rtsched as Xen runs it: the object linked into Xen (`cargo xtask check-object` builds it,
//! `x86_64-unknown-none`, `panic = "abort"`, the profile-guided build), called through the
//! C ABI of `include/rtsched.h` as the shim calls it. Compiled when `RTSCHED_OBJECT` names
//! such an object at build time (`difftest/build.rs` links it into the benchmark targets):
//! - `cargo xtask bench` links the shipped object, and the benchmark then replays
//!   rtsched's tapes (recorded through the Rust API) into it: what is timed is the code
//!   that ships, and every replay's digest check shows that it decides as the Rust build
//!   does;
//! - `cargo xtask pgo` links the instrumented build of the same object into its training
//!   (`benches/pgo-train.rs`).
//!
//! The object's functions take no floating-point arguments and it calls out only to
//! `memcpy`/`memset`/... and its return thunk (`difftest/build.rs` links a plain `ret` as
//! that; Xen has its own), so it runs in a host process as it does in Xen.

use std::mem::MaybeUninit;

use super::{overdue_at, specs, Config, Imp, Job, Policy, Shape};
use crate::bench::{Split, UnitSpec};
use rtsched::Topology;

/// The C ABI's structs and constants, from the one source cbindgen writes
/// `include/rtsched.h` from (the `ffi` crate itself cannot be linked here: the object
/// defines its symbols).
#[allow(dead_code, unused_imports)]
#[path = "../../../ffi/src/types.rs"]
mod types;

use types::{
    RtschedActions, RtschedCpumask, RtschedDecision, RtschedParams, RtschedPolicy, RtschedTimerOp,
    RtschedUnitInfo, RTSCHED_NONE, RTSCHED_PARAM_EXTRATIME,
};

/// An instance, opaque.
enum Rtsched {}

// The declarations of `include/rtsched.h` used here (every call's result is checked, so a
// declaration that no longer matches the object fails the run).
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
    fn rtsched_unit_info(s: *const Rtsched, unit: u32, info: *mut RtschedUnitInfo) -> i32;
}

fn ok(rc: i32, what: &str) {
    assert_eq!(rc, 0, "rtsched_{what} failed");
}

/// One instance of the object, in memory of its own (`_mem` outlives `s`), and the timer
/// its actions programmed.
struct Inst {
    s: *mut Rtsched,
    ncpus: usize,
    timer: Option<i64>,
    _mem: Vec<u8>,
}

impl Inst {
    /// An instance for `units` units on CPUs `0..cpus`, every CPU added, the units of
    /// `specs` allocated (handles `0..`), given their reservations and inserted.
    fn new(cpus: u32, policy: Policy, specs: &[UnitSpec]) -> Inst {
        // (A CPU of rt-partition may have no units; an instance holds at least one.)
        let units = (specs.len() as u32).max(1);
        // SAFETY: calls without an instance.
        let (len, align) = unsafe { (rtsched_mem_size(units, cpus), rtsched_mem_align()) };
        assert!(
            len > 0,
            "rtsched_mem_size refused {units} units on {cpus} CPUs"
        );
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
        // SAFETY: `mem[off..]` is `len` bytes aligned as asked, kept in `Inst` with the
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
        let inst = Inst {
            s,
            ncpus: cpus as usize,
            timer: None,
            _mem: mem,
        };
        for (u, sp) in specs.iter().enumerate() {
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
            let mut a = RtschedActions::default();
            // SAFETY: a live instance; every pointer is valid for the call.
            unsafe {
                ok(
                    rtsched_unit_alloc(inst.s, u as u32, 0, &mask, &mut id),
                    "unit_alloc",
                );
                // The first handle of each slot is the slot's number.
                assert_eq!(id as usize, u);
                ok(
                    rtsched_unit_set_params(inst.s, id, &params, &mut a),
                    "set_params",
                );
                ok(
                    rtsched_unit_insert(inst.s, id, 0, false, false, &mut cpu, &mut a),
                    "insert",
                );
            }
        }
        inst
    }

    /// Applies a call's actions as Xen's shim does (`rts_apply`): the reschedule requests
    /// ([`super::raise`]), then the timer it programs or stops (kept here, as rt.c's stub
    /// `set_timer` keeps it). Returns the requests (instance CPUs 0..64).
    #[inline(always)]
    fn took(&mut self, a: &RtschedActions) -> u64 {
        let raised = super::raise(&a.reschedule.bits, self.ncpus);
        match a.timer_op {
            RtschedTimerOp::Set => self.timer = Some(a.timer_expiry),
            RtschedTimerOp::Stop => self.timer = None,
            RtschedTimerOp::Keep => {}
        }
        raised
    }

    /// Calls a hook that writes actions (`call` passes its two pointers to one C function
    /// of the header): keeps their timer; returns their reschedule word. The result is
    /// written into an uninitialised struct, as Xen's shim declares it, and read only after
    /// the call succeeded (on success every hook writes its whole result).
    #[inline(always)]
    fn act(
        &mut self,
        what: &str,
        call: impl FnOnce(*mut Rtsched, *mut RtschedActions) -> i32,
    ) -> u64 {
        let mut a = MaybeUninit::<RtschedActions>::uninit();
        ok(call(self.s, a.as_mut_ptr()), what);
        // SAFETY: the call succeeded, so it wrote the actions.
        let a = unsafe { a.assume_init() };
        self.took(&a)
    }

    #[inline(always)]
    fn wake(&mut self, u: u32, now: i64) -> u64 {
        // SAFETY (each hook below): a live instance and a writable result.
        self.act("wake", |s, a| unsafe { rtsched_unit_wake(s, u, now, a) })
    }

    #[inline(always)]
    fn sleep(&mut self, u: u32) -> u64 {
        // SAFETY: as in `wake`.
        self.act("sleep", |s, a| unsafe { rtsched_unit_sleep(s, u, a) })
    }

    /// The next unit (a handle of this instance), the slice and the reschedule word.
    #[inline(always)]
    fn do_schedule(&mut self, c: u32, now: i64, pr: bool) -> (Option<u32>, i64, u64) {
        let mut d = MaybeUninit::<RtschedDecision>::uninit();
        // SAFETY: as in `wake`.
        let d = unsafe {
            let rc = rtsched_do_schedule(self.s, c, now, pr, false, d.as_mut_ptr());
            ok(rc, "do_schedule");
            d.assume_init()
        };
        let m = self.took(&d.actions);
        ((d.next != RTSCHED_NONE).then_some(d.next), d.slice, m)
    }

    #[inline(always)]
    fn context_saved(&mut self, u: u32, runnable: bool) -> u64 {
        // SAFETY: as in `wake`.
        self.act("context_saved", |s, a| unsafe {
            rtsched_context_saved(s, u, runnable, a)
        })
    }

    #[inline(always)]
    fn timer_fire(&mut self, now: i64) -> u64 {
        // SAFETY: as in `wake`.
        self.act("timer_fire", |s, a| unsafe {
            rtsched_timer_fire(s, now, a)
        })
    }

    /// Whether unit `u`'s replenishment is a period or more overdue at `now`.
    fn overdue(&self, u: u32, now: i64) -> bool {
        let mut i = RtschedUnitInfo::default();
        // SAFETY: a live instance; `i` is valid.
        ok(unsafe { rtsched_unit_info(self.s, u, &mut i) }, "unit_info");
        i.on_replq != 0 && overdue_at(i.cur_deadline, i.period, now)
    }
}

/// One instance with every CPU and unit (rt-global, or pinned units).
struct One(Inst);

impl Imp for One {
    fn set_runnable(&mut self, _: usize, _: bool) {}
    fn wake(&mut self, u: usize, now: i64) -> u64 {
        self.0.wake(u as u32, now)
    }
    fn sleep(&mut self, u: usize, _: i64) -> u64 {
        self.0.sleep(u as u32)
    }
    fn do_schedule(&mut self, c: usize, now: i64, pr: bool) -> (Option<usize>, i64, u64) {
        let (n, s, m) = self.0.do_schedule(c as u32, now, pr);
        (n.map(|n| n as usize), s, m)
    }
    fn context_saved(&mut self, u: usize, _: i64, runnable: bool) -> u64 {
        self.0.context_saved(u as u32, runnable)
    }
    fn timer_fire(&mut self, _: usize, now: i64) -> u64 {
        self.0.timer_fire(now)
    }
    fn timer(&self, _: usize) -> Option<i64> {
        self.0.timer
    }
    fn overdue(&self, n: usize, now: i64) -> usize {
        (0..n as u32).filter(|&u| self.0.overdue(u, now)).count()
    }
}

/// rt-partition: one instance per CPU (its CPU 0), as the Rust API's replay runs it
/// (`super::P`, `super::Split`).
struct PerCpu {
    s: Vec<Inst>,
    split: Split,
}

/// An instance's reschedule word (bit 0: its CPU) as one of the whole machine.
#[inline(always)]
fn resched(m: u64, bit: u64) -> u64 {
    if m & 1 != 0 {
        bit
    } else {
        0
    }
}

impl PerCpu {
    #[inline(always)]
    fn at(&mut self, u: usize) -> (&mut Inst, u32, u64) {
        let i = self.split.inst[u] as usize;
        (&mut self.s[i], self.split.local[u], 1 << i)
    }
}

impl Imp for PerCpu {
    fn set_runnable(&mut self, _: usize, _: bool) {}
    fn wake(&mut self, u: usize, now: i64) -> u64 {
        let (s, h, b) = self.at(u);
        resched(s.wake(h, now), b)
    }
    fn sleep(&mut self, u: usize, _: i64) -> u64 {
        let (s, h, b) = self.at(u);
        resched(s.sleep(h), b)
    }
    fn do_schedule(&mut self, c: usize, now: i64, pr: bool) -> (Option<usize>, i64, u64) {
        let (n, s, m) = self.s[c].do_schedule(0, now, pr);
        (
            n.map(|n| self.split.global[c][n as usize] as usize),
            s,
            resched(m, 1 << c),
        )
    }
    fn context_saved(&mut self, u: usize, _: i64, runnable: bool) -> u64 {
        let (s, h, b) = self.at(u);
        resched(s.context_saved(h, runnable), b)
    }
    fn timer_fire(&mut self, i: usize, now: i64) -> u64 {
        resched(self.s[i].timer_fire(now), 1 << i)
    }
    fn timer(&self, i: usize) -> Option<i64> {
        self.s[i].timer
    }
    fn overdue(&self, n: usize, now: i64) -> usize {
        (0..n)
            .filter(|&u| {
                let (i, h) = (self.split.inst[u] as usize, self.split.local[u]);
                self.s[i].overdue(h, now)
            })
            .count()
    }
    fn unit_inst(&self, u: usize) -> usize {
        self.split.inst[u] as usize
    }
    fn cpu_inst(&self, c: usize) -> usize {
        c
    }
}

/// Runs `job` on the object set up for `cfg` under `policy` (rt-partition's topology, one
/// instance per CPU, for the partition shape).
pub(super) fn with_policy<J: Job>(cfg: &Config, policy: Policy, job: J) -> J::Out {
    let specs = specs(cfg);
    if cfg.shape != Shape::Partition {
        return job.run(&mut One(Inst::new(cfg.cpus as u32, policy, &specs)));
    }
    let split = Split::new(&specs, cfg.cpus);
    // Each instance's units, pinned to its CPU 0.
    let mine = split.global.iter().map(|g| {
        g.iter()
            .map(|&u| UnitSpec {
                affinity: 1,
                ..specs[u as usize]
            })
            .collect::<Vec<_>>()
    });
    let policy = Policy {
        topology: Topology::Partition,
        ..policy
    };
    let s = mine.map(|m| Inst::new(1, policy, &m)).collect();
    job.run(&mut PerCpu { s, split })
}
