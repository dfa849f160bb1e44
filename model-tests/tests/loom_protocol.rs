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
//! Each lock guards a `loom::cell::UnsafeCell` holding the state (the host model of
//! `host-model` over the scheduler), so touching it without the lock is a data race loom
//! reports. The host's own record of which unit's context is live on which PCPU (current
//! there, or switched out and not saved yet) detects a unit running on two PCPUs at once.
#![cfg(loom)]

use std::sync::atomic::{AtomicUsize, Ordering as StdOrdering};
use std::time::Instant;

use host_model::{done, leaked_scheduler, Host, Instance, Instances};
use loom::cell::UnsafeCell;
use loom::sync::atomic::{AtomicUsize as LAtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use rtsched::mutants::Mutant;
use rtsched::{CpuMask, Params, Policy, Scheduler, Topology, UnitId};

const MS: i64 = 1_000_000;
const NCPU: usize = 2;

/// The state a lock protects: the host model over the scheduler (the units' runnable
/// flags, the unit current on each PCPU and the one whose context is still being saved).
type State = Host<Instances<Scheduler<'static>>>;

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
    fn new(st: State) -> Locked {
        Locked {
            lock: Mutex::new(()),
            cell: UnsafeCell::new(st),
        }
    }

    /// Runs `f` on the state with the lock held, then checks the invariants as the lock is
    /// released.
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let _g = self.lock.lock().unwrap();
        self.cell.with_mut(|p| {
            // SAFETY: the lock is held; loom tracks the access.
            let st = unsafe { &mut *p };
            let r = f(st);
            if let Err(e) = rtsched::invariants::check(st.imp.inst(0)) {
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

/// A host over one instance with the CPUs `cpus` (of `NCPU`); context saves are performed
/// by the PCPU passes themselves.
fn host(policy: Policy, cpus: &[usize], mutant: Mutant) -> State {
    let mut online = CpuMask::EMPTY;
    for &c in cpus {
        online.set(c);
    }
    let mut s = leaked_scheduler(4, NCPU, policy, &online);
    s.set_mutant(mutant);
    let mut insts = Instances::new(vec![s]);
    // (Checked at every unlock instead.)
    insts.check = false;
    let mut h = Host::new(insts, vec![0; NCPU]);
    h.st.online = online;
    h.st.context_delay = None;
    h
}

/// Adds a unit of `domain` on every PCPU, 4 ms every 10 ms, runnable; returns its handle.
fn add_runnable(h: &mut State, domain: u32) -> UnitId {
    let p = Params {
        period: 10 * MS,
        budget: 4 * MS,
        extratime: false,
    };
    let now = h.st.now;
    let (id, _) = h
        .imp
        .inst_mut(0)
        .add_unit(domain, p, CpuMask::first_n(NCPU), now)
        .unwrap();
    h.imp.ids.push(id);
    let u = h.add_unit(0);
    done(h.wake(u));
    id
}

/// One PCPU's scheduling pass: `do_schedule` under the lock, the switch with the lock
/// dropped, `context_saved` for the unit switched out under the lock again.
fn pcpu_pass(g: &Locked, cpu: usize) {
    let switched = g.with(|h| {
        h.st.now += MS;
        let prev = h.st.curr(cpu);
        done(h.schedule(cpu));
        let next = h.st.curr(cpu);
        if let Some(n) = next.filter(|&n| Some(n) != prev) {
            // Switching `n` in: its context must not be live on any other PCPU.
            for c in (0..NCPU).filter(|&c| c != cpu) {
                assert!(
                    h.st.curr(c) != Some(n) && h.st.saving(c) != Some(n),
                    "unit {n:?} switched in on PCPU {cpu} while its context is live on PCPU {c}"
                );
            }
        }
        next != prev
    });
    if !switched {
        return;
    }
    // -- context switch, lock dropped: other PCPUs run hooks here --
    thread::yield_now();
    g.with(|h| done(h.save(cpu)));
}

/// Runs `f` in every interleaving loom explores with preemption bound 3; returns how many.
fn explore(f: impl Fn() + Sync + Send + 'static) -> usize {
    let n = std::sync::Arc::new(AtomicUsize::new(0));
    let m = n.clone();
    let mut b = loom::model::Builder::new();
    b.preemption_bound = Some(3);
    b.check(move || {
        m.fetch_add(1, StdOrdering::SeqCst);
        f();
    });
    n.load(StdOrdering::SeqCst)
}

fn global_model(mutant: Mutant, with_timer: bool) -> usize {
    explore(move || {
        let mut h = host(Policy::default(), &[0, 1], mutant);
        let ids: Vec<UnitId> = (0..2).map(|i| add_runnable(&mut h, i)).collect();
        let g = Arc::new(Locked::new(h));
        let mut hs = Vec::new();
        for cpu in 0..NCPU {
            let g = g.clone();
            hs.push(thread::spawn(move || {
                pcpu_pass(&g, cpu);
                pcpu_pass(&g, cpu);
            }));
        }
        // Unit 0 blocks and wakes again (Xen's sleep/wake hooks), racing the switches.
        let g2 = g.clone();
        hs.push(thread::spawn(move || {
            g2.with(|h| done(h.pause(0)));
            g2.with(|h| done(h.wake(0)));
            if with_timer {
                g2.with(|h| {
                    h.st.now += 20 * MS;
                    done(h.fire_timer(0));
                });
            }
        }));
        for h in hs {
            h.join().unwrap();
        }
        // No lost wake-up: every runnable unit runs, is queued, or is pending its add.
        g.with(|h| {
            for (i, &id) in ids.iter().enumerate() {
                let u = h.imp.inst(0).unit_info(id).unwrap();
                if h.st.runnable(i) {
                    let pending = u.flags & 0b110 == 0b110;
                    assert!(
                        u.running == 1 || u.queue != 0 || pending,
                        "lost wake-up of unit {i}: {u:?}"
                    );
                }
            }
        });
    })
}

/// rt-partition: two PCPU instances, each with its own lock; unit 0 migrates from PCPU 0 to
/// PCPU 1 while PCPU 0 schedules and another thread wakes it through the owner re-check.
/// (In each instance's host the unit is index 0.)
fn partition_model(one_lock_migration: bool) -> usize {
    explore(move || {
        let pol = Policy {
            topology: Topology::Partition,
            ..Policy::default()
        };
        let insts = Arc::new([
            Locked::new(host(pol, &[0], Mutant::None)),
            Locked::new(host(pol, &[1], Mutant::None)),
        ]);
        // Unit 0 starts on PCPU 0, runnable.
        let h0 = insts[0].with(|h| add_runnable(h, 0));
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
                let (cpu, id) = (cur / 16, UnitId((cur % 16) as u32));
                if cpu == 0 {
                    let moved = insts[0].without_lock(|h| {
                        let s = h.imp.inst_mut(0);
                        let u = s.unit_info(id).unwrap();
                        if u.running == 1 || u.flags & 2 != 0 {
                            return false; // running or being switched out: not now
                        }
                        s.remove(id).unwrap();
                        s.unit_free(id).unwrap();
                        true
                    });
                    if moved {
                        let nh = insts[1].without_lock(|h| add_runnable(h, 0));
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
                let done_wake = {
                    let _g = insts[cpu].lock.lock().unwrap();
                    if owner.load(Ordering::Acquire) != cur {
                        false
                    } else {
                        insts[cpu].without_lock(|h| done(h.wake(0)));
                        true
                    }
                };
                if done_wake {
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
    })
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
