//! Loom models of the concurrent hook protocol under Xen's locking, driving the real
//! `rtsched::Scheduler`, and mutation tests showing the models catch broken protocols.
//!
//! Run: `RUSTFLAGS="--cfg loom" cargo test -p model-tests --release --test loom_protocol`.
//!
//! The lock contract modelled is the C ABI's (the documentation of `Rtsched` in
//! `include/rtsched.h`, which the Xen shim follows), reduced to what the models exercise:
//! - rt-global: one lock for the instance. A PCPU runs `do_schedule` under it, drops it for
//!   the context switch, and takes it again for `context_saved`; other threads take it for
//!   `wake`, `sleep` and the replenishment timer.
//! - rt-partition: one lock per PCPU instance. A hook on a remote unit reads the unit's owner,
//!   locks that PCPU, and re-checks the owner did not change (Xen's `unit_schedule_lock`).
//!   A migration takes both PCPUs' locks, lower CPU first.
//!
//! Each lock guards a `loom::cell::UnsafeCell` holding the state, so touching it without the
//! lock is a data race loom reports. The host's own record of which unit's context is live
//! on which PCPU (set when a PCPU switches a unit in, cleared by its `context_saved`) detects
//! a unit running on two PCPUs at once.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};
use std::time::Instant;

use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize as LAtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use rtsched::mutants::Mutant;
use rtsched::{CpuMask, Params, Pcpu, Policy, Scheduler, Storage, Topology, Unit, UnitId};

const MS: i64 = 1_000_000;
const NCPU: usize = 2;

/// The state a lock protects: the scheduler and the host's record of live contexts.
struct State {
    s: Scheduler<'static>,
    /// Per PCPU: the unit whose context is loaded there, and the one still being saved.
    live: [[Option<UnitId>; 2]; NCPU],
    /// Per unit: whether it is runnable (the host's view).
    runnable: [bool; 2],
    now: i64,
}

/// A spinlock-protected state: a loom mutex models the lock, the state sits in a loom cell.
struct Locked {
    lock: Mutex<()>,
    cell: UnsafeCell<State>,
}

// SAFETY: the cell is only accessed through `with`, under `lock` (the model's contract);
// an access that breaks it is exactly what loom reports.
unsafe impl Sync for Locked {}
unsafe impl Send for Locked {}

impl Locked {
    /// Runs `f` on the state with the lock held, then checks the invariants as the lock is
    /// released.
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let _g = self.lock.lock().unwrap();
        self.cell.with_mut(|p| {
            // SAFETY: the lock is held; loom tracks the access.
            let st = unsafe { &mut *p };
            let r = f(st);
            if let Err(e) = rtsched::invariants::check(&st.s) {
                panic!("invariant violated at unlock: {e}");
            }
            r
        })
    }

    /// Runs `f` without the lock (mutants only).
    fn without_lock<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        // SAFETY: deliberately unsynchronised: loom must report it.
        self.cell.with_mut(|p| f(unsafe { &mut *p }))
    }
}

fn leak<T: Clone>(v: T, n: usize) -> &'static mut [T] {
    Vec::leak(vec![v; n])
}

fn scheduler(policy: Policy, cpus: &[usize]) -> Scheduler<'static> {
    let st = Storage {
        units: leak(Unit::EMPTY, 4),
        runq: leak(0u32, 4),
        replq: leak(0u32, 4),
        cpus: leak(Pcpu::IDLE, NCPU),
    };
    let mut s = Scheduler::new(st, policy).unwrap();
    for &c in cpus {
        s.cpu_add(c).unwrap();
    }
    s
}

fn params(budget_ms: i64) -> Params {
    Params {
        period: 10 * MS,
        budget: budget_ms * MS,
        extratime: false,
    }
}

/// One PCPU's scheduling pass: `do_schedule` under the lock, the switch with the lock
/// dropped, `context_saved` for the unit switched out under the lock again.
fn pcpu_pass(g: &Locked, cpu: usize) {
    let switched = g.with(|st| {
        st.now += MS;
        let prev = st.s.curr(cpu);
        let pr = prev.is_some_and(|p| st.runnable[p.0 as usize]);
        let d = st.s.do_schedule(cpu, st.now, pr, false).unwrap();
        if d.next == prev {
            return None;
        }
        if let Some(n) = d.next {
            // Switching `n` in: its context must not be live on any other PCPU.
            for (c, l) in st.live.iter().enumerate() {
                assert!(
                    c == cpu || !l.contains(&Some(n)),
                    "unit {n:?} switched in on PCPU {cpu} while its context is live on PCPU {c}"
                );
            }
        }
        st.live[cpu] = [d.next, prev];
        Some(prev)
    });
    let Some(prev) = switched else { return };
    // -- context switch, lock dropped: other PCPUs run hooks here --
    thread::yield_now();
    g.with(|st| {
        if let Some(p) = prev {
            let r = st.runnable[p.0 as usize];
            st.s.context_saved(p, r).unwrap();
        }
        st.live[cpu][1] = None;
    });
}

fn global_model(mutant: Mutant, with_timer: bool) -> usize {
    static ITER: AtomicUsize = AtomicUsize::new(0);
    ITER.store(0, StdOrdering::SeqCst);
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(move || {
        ITER.fetch_add(1, StdOrdering::SeqCst);
        let mut s = scheduler(Policy::default(), &[0, 1]);
        s.set_mutant(mutant);
        let mut ids = Vec::new();
        for i in 0..2u32 {
            let h = s.unit_alloc(i, 0, CpuMask::first_n(NCPU)).unwrap();
            s.set_params(h, params(4)).unwrap();
            s.insert(h, 0, false, false).unwrap();
            s.wake(h, 0).unwrap();
            ids.push(h);
        }
        let g = Arc::new(Locked {
            lock: Mutex::new(()),
            cell: UnsafeCell::new(State {
                s,
                live: [[None; 2]; NCPU],
                runnable: [true; 2],
                now: 0,
            }),
        });
        let mut hs = Vec::new();
        for cpu in 0..NCPU {
            let g = g.clone();
            hs.push(thread::spawn(move || {
                pcpu_pass(&g, cpu);
                pcpu_pass(&g, cpu);
            }));
        }
        // Unit 0 blocks and wakes again (Xen's sleep/wake hooks), racing the switches.
        let u0 = ids[0];
        let g2 = g.clone();
        hs.push(thread::spawn(move || {
            g2.with(|st| {
                st.runnable[0] = false;
                st.s.sleep(u0).unwrap();
            });
            g2.with(|st| {
                st.runnable[0] = true;
                st.s.wake(u0, st.now).unwrap();
            });
            if with_timer {
                g2.with(|st| {
                    st.now += 20 * MS;
                    st.s.timer_fire(st.now).unwrap();
                });
            }
        }));
        for h in hs {
            h.join().unwrap();
        }
        // No lost wake-up: every runnable unit runs, is queued, or is pending its add.
        g.with(|st| {
            for (i, &id) in ids.iter().enumerate() {
                let u = st.s.unit_info(id).unwrap();
                if st.runnable[i] {
                    let pending = u.flags & 0b110 == 0b110;
                    assert!(
                        u.running == 1 || u.queue != 0 || pending,
                        "lost wake-up of unit {i}: {u:?}"
                    );
                }
            }
        });
    });
    ITER.load(StdOrdering::SeqCst)
}

/// rt-partition: two PCPU instances, each with its own lock; unit 0 migrates from PCPU 0 to
/// PCPU 1 while PCPU 0 schedules and another thread wakes it through the owner re-check.
fn partition_model(one_lock_migration: bool) -> usize {
    static ITER: AtomicUsize = AtomicUsize::new(0);
    ITER.store(0, StdOrdering::SeqCst);
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(move || {
        ITER.fetch_add(1, StdOrdering::SeqCst);
        let pol = Policy {
            topology: Topology::Partition,
            ..Policy::default()
        };
        let mk = |cpu: usize| {
            let s = scheduler(pol, &[cpu]);
            Locked {
                lock: Mutex::new(()),
                cell: UnsafeCell::new(State {
                    s,
                    live: [[None; 2]; NCPU],
                    runnable: [false; 2],
                    now: 0,
                }),
            }
        };
        let insts = Arc::new([mk(0), mk(1)]);
        // Unit 0 starts on PCPU 0, runnable.
        let h0 = insts[0].with(|st| {
            let h = st.s.unit_alloc(0, 0, CpuMask::first_n(NCPU)).unwrap();
            st.s.set_params(h, params(4)).unwrap();
            st.s.insert(h, 0, false, false).unwrap();
            st.runnable[0] = true;
            st.s.wake(h, 0).unwrap();
            h
        });
        // Owner of unit 0 and its handle in that instance (packed: cpu * 16 + handle).
        let owner = Arc::new(LAtomicUsize::new(h0.0 as usize));

        let mut hs = Vec::new();
        for cpu in 0..NCPU {
            let insts = insts.clone();
            hs.push(thread::spawn(move || pcpu_pass(&insts[cpu], cpu)));
        }
        {
            // Migration 0 -> 1: both locks, lower CPU first (or, mutant, only the source).
            let insts = insts.clone();
            let owner = owner.clone();
            hs.push(thread::spawn(move || {
                let g0 = insts[0].lock.lock().unwrap();
                let g1 = if one_lock_migration {
                    None
                } else {
                    Some(insts[1].lock.lock().unwrap())
                };
                let cur = owner.load(Ordering::Acquire);
                let (cpu, h) = (cur / 16, UnitId((cur % 16) as u32));
                if cpu == 0 {
                    let moved = insts[0].without_lock(|st| {
                        let u = st.s.unit_info(h).unwrap();
                        if u.running == 1 || u.flags & 2 != 0 {
                            return false; // running or being switched out: not now
                        }
                        st.s.remove(h).unwrap();
                        st.s.unit_free(h).unwrap();
                        true
                    });
                    if moved {
                        let nh = insts[1].without_lock(|st| {
                            let nh = st.s.unit_alloc(0, 0, CpuMask::first_n(NCPU)).unwrap();
                            st.s.set_params(nh, params(4)).unwrap();
                            st.s.insert(nh, 1, false, false).unwrap();
                            st.runnable[0] = true;
                            st.s.wake(nh, 1).unwrap();
                            nh
                        });
                        owner.store(16 + nh.0 as usize, Ordering::Release);
                    }
                }
                drop(g1);
                drop(g0);
            }));
        }
        {
            // A remote wake: lock the owner's PCPU, re-check the owner, retry if it moved.
            let insts = insts.clone();
            let owner = owner.clone();
            hs.push(thread::spawn(move || loop {
                let cur = owner.load(Ordering::Acquire);
                let cpu = cur / 16;
                let done = {
                    let _g = insts[cpu].lock.lock().unwrap();
                    if owner.load(Ordering::Acquire) != cur {
                        false
                    } else {
                        insts[cpu].without_lock(|st| {
                            st.runnable[0] = true;
                            st.s.wake(UnitId((cur % 16) as u32), st.now).unwrap();
                        });
                        true
                    }
                };
                if done {
                    break;
                }
                thread::yield_now();
            }));
        }
        for h in hs {
            h.join().unwrap();
        }
        for g in insts.iter() {
            g.with(|_| ());
        }
    });
    ITER.load(StdOrdering::SeqCst)
}

fn report(name: &str, config: &str, f: impl FnOnce() -> usize) {
    let t = Instant::now();
    let n = f();
    println!(
        "loom model {name} [{config}]: {n} interleavings explored in {:.1} s",
        t.elapsed().as_secs_f64()
    );
}

/// Runs `f` expecting loom to report a failure; returns the message.
fn expect_failure(name: &str, f: impl FnOnce() + std::panic::UnwindSafe) {
    let t = Instant::now();
    let r = std::panic::catch_unwind(f);
    let msg = match r {
        Ok(()) => panic!("mutant {name} was NOT caught"),
        Err(e) => e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "(non-string panic)".into()),
    };
    println!(
        "mutant {name}: caught in {:.1} s: {}",
        t.elapsed().as_secs_f64(),
        msg.lines().next().unwrap_or("")
    );
}

#[test]
fn global_protocol_two_pcpus_two_units() {
    report(
        "global",
        "2 PCPUs x 2 passes, 2 units, sleep+wake racing, preemption bound 3",
        || global_model(Mutant::None, false),
    );
}

#[test]
fn global_protocol_with_replenishment_timer() {
    report(
        "global+timer",
        "2 PCPUs x 2 passes, 2 units, sleep+wake+timer, preemption bound 3",
        || global_model(Mutant::None, true),
    );
}

#[test]
fn partition_protocol_migration_and_remote_wake() {
    report(
        "partition",
        "2 PCPU instances each scheduling, migration with both locks, remote wake with owner re-check, preemption bound 3",
        || partition_model(false),
    );
}

#[test]
fn mutant_wake_ignores_scheduled_is_caught() {
    expect_failure("wake ignores SCHEDULED", || {
        global_model(Mutant::WakeIgnoresScheduled, false);
    });
}

#[test]
fn mutant_context_saved_ignores_delayed_add_is_caught() {
    expect_failure("context_saved ignores DELAYED_RUNQ_ADD", || {
        global_model(Mutant::ContextSavedIgnoresDelayed, false);
    });
}

#[test]
fn mutant_timer_resorts_unit_being_switched_out_is_caught() {
    expect_failure("timer re-sorts a unit being switched out", || {
        global_model(Mutant::TimerResortsScheduled, true);
    });
}

#[test]
fn mutant_partition_migration_with_one_lock_is_caught() {
    expect_failure("partition migration takes one lock", || {
        partition_model(true);
    });
}
