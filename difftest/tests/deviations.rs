//! One hand-written case per deliberate deviation the comparison knows about: each shows
//! that rtsched and rt.c really differ in the documented way (so that the classifier of
//! the differential test is no blanket excuse), and, where the driver classifies it, that
//! the driver attributes it to that deviation and to no other.
//!
//! Numbers refer to `ARCHITECTURE.md`, "Deliberate differences from Xen 4.17's rt.c".

use difftest::deviations::Deviation;
use difftest::driver::{run, End, Options};
use difftest::trace::{Event, Trace, UnitSpec};
use difftest::xen::XenRt;
use rtsched::{CpuMask, Error, Params, Pcpu, Scheduler, Storage, Unit, UnitId};

const US: i64 = 1_000;

/// Both implementations side by side, driven by hand.
struct Pair {
    r: Scheduler<'static>,
    x: XenRt,
    ids: Vec<UnitId>,
}

fn leak<T: Clone>(v: T, n: usize) -> &'static mut [T] {
    Vec::leak(vec![v; n])
}

/// `ncpus` CPUs; units given as (domain, period µs, budget µs, extratime, affinity).
fn pair(ncpus: usize, units: &[(u32, u32, u32, bool, u64)]) -> Pair {
    let n = units.len();
    let storage = Storage {
        units: leak(Unit::EMPTY, n),
        runq: leak(0u32, n),
        replq: leak(0u32, n),
        cpus: leak(Pcpu::IDLE, ncpus),
    };
    let mut r = Scheduler::new(storage, difftest::rtds_policy()).unwrap();
    let mut x = XenRt::new(ncpus, n);
    for c in 0..ncpus {
        r.cpu_add(c).unwrap();
        x.cpu_add(c);
    }
    let mut ids = Vec::new();
    for (i, &(dom, p, b, e, aff)) in units.iter().enumerate() {
        let mut m = CpuMask::EMPTY;
        m.bits[0] = aff;
        let vcpu = units[..i].iter().filter(|u| u.0 == dom).count() as u32;
        let id = r.unit_alloc(dom, vcpu, m).unwrap();
        x.unit_alloc(i, dom, vcpu, aff);
        r.set_params(id, params(p, b, e)).unwrap();
        assert_eq!(x.put_vcpu(i, p, b, e), 0);
        ids.push(id);
    }
    Pair { r, x, ids }
}

fn params(p: u32, b: u32, e: bool) -> Params {
    Params {
        period: i64::from(p) * US,
        budget: i64::from(b) * US,
        extratime: e,
    }
}

impl Pair {
    /// Inserts unit `u` (not runnable) and makes it runnable with `wake` at `now`; returns
    /// the reschedule requests (rtsched, rt.c).
    fn insert_wake(&mut self, u: usize, now: i64) -> (u64, u64) {
        self.r.insert(self.ids[u], now, false, false).unwrap();
        self.x.insert(u, now, false);
        self.x.set_runnable(u, true);
        let a = self.r.wake(self.ids[u], now).unwrap();
        self.x.wake(u, now);
        (a.reschedule.bits[0], self.x.take_softirqs())
    }

    /// `do_schedule` on both; asserts they pick the same; returns the reschedule requests.
    fn schedule(&mut self, cpu: usize, now: i64, prev_runnable: bool) -> (Option<usize>, u64, u64) {
        self.x.take_softirqs();
        let d = self.r.do_schedule(cpu, now, prev_runnable, false).unwrap();
        let (xn, xs, _) = self.x.do_schedule(cpu, now, false);
        let rn = d
            .next
            .map(|id| self.ids.iter().position(|&i| i == id).unwrap());
        assert_eq!((rn, d.slice), (xn, xs), "both pick the same");
        (rn, d.actions.reschedule.bits[0], self.x.take_softirqs())
    }

    fn cur_budget(&self, u: usize) -> (i64, i64) {
        (
            self.r.unit_info(self.ids[u]).unwrap().cur_budget,
            self.x.states(self.ids.len())[u].cur_budget,
        )
    }
}

fn unit(p: u32, b: u32, e: bool, aff: u64) -> UnitSpec {
    UnitSpec {
        dom: 0,
        vcpu: 0,
        affinity: aff,
        period_us: p,
        budget_us: b,
        extratime: e,
    }
}

fn trace(ncpus: u8, units: Vec<UnitSpec>, events: Vec<Event>) -> Trace {
    let units = units
        .into_iter()
        .enumerate()
        .map(|(i, u)| UnitSpec { dom: i as u32, ..u })
        .collect();
    Trace {
        ncpus,
        delayed_saves: false,
        units,
        events,
        late_ns: 0,
    }
}

/// 1 (upstream 37b49cb48e): a depleted unit given extratime and woken is queued by rt.c
/// with a zero budget at level 0; rtsched refills it one level down.
#[test]
fn dev1_zero_budget_extratime_unit_is_refilled() {
    let mut p = pair(1, &[(0, 1000, 100, false, 1)]);
    p.insert_wake(0, 0);
    assert_eq!(p.schedule(0, 0, false).0, Some(0));
    // Budget used up at its slice end: depleted; switched out and saved onto the depleted
    // queue.
    assert_eq!(p.schedule(0, 100 * US, true).0, None);
    p.r.context_saved(p.ids[0], true).unwrap();
    p.x.context_saved(0, 100 * US);
    // Paused, given extratime, woken before its deadline.
    p.x.set_runnable(0, false);
    p.r.sleep(p.ids[0]).unwrap();
    p.x.sleep(0, 150 * US);
    p.r.set_params(p.ids[0], params(1000, 100, true)).unwrap();
    assert_eq!(p.x.put_vcpu(0, 1000, 100, true), 0);
    p.x.set_runnable(0, true);
    p.r.wake(p.ids[0], 200 * US).unwrap();
    p.x.wake(0, 200 * US);
    let r = p.r.unit_info(p.ids[0]).unwrap();
    let x = p.x.states(1)[0];
    assert_eq!((x.cur_budget, x.priority_level, x.queue), (0, 0, 1), "rt.c");
    assert_eq!(
        (r.cur_budget, r.priority_level, r.queue),
        (100 * US, 1, 1),
        "rtsched"
    );
}

/// 2 (upstream eec1a570c0): domain-wide parameters with the budget above the period are
/// accepted by rt.c and refused by rtsched.
#[test]
fn dev2_domain_wide_parameters_are_validated() {
    let mut p = pair(1, &[(0, 1000, 100, false, 1), (0, 1000, 100, false, 1)]);
    assert_eq!(p.x.put_dom(0, 1000, 2000), 0);
    let x = p.x.states(2);
    assert!(x
        .iter()
        .all(|s| s.budget == 2000 * US && s.period == 1000 * US));
    assert_eq!(
        p.r.set_domain_params(0, 1000 * US, 2000 * US).unwrap_err(),
        Error::InvalidParams
    );
    assert_eq!(p.r.params(p.ids[0]).unwrap().budget, 100 * US);
}

/// 3: rt.c orders its replenishment queue by priority level first: a unit on extratime
/// (level 2, deadline 1009 µs) goes behind a unit woken later (level 0, deadline 5003 µs),
/// so rt.c's timer is programmed for 5003 µs and the first unit would be replenished late.
/// The driver checks that this is the difference (rt.c's timer at its queue head), re-sorts
/// rt.c's queue by deadline, and the comparison goes on to the end.
#[test]
fn dev3_replenishment_queue_order() {
    let t = trace(
        1,
        vec![unit(1009, 101, true, 1), unit(5003, 1000, false, 1)],
        vec![
            Event::Insert(0),
            Event::Insert(1),
            Event::Wake(0),
            Event::Advance(250_000),
            Event::Wake(1),
            Event::Advance(2_000_000),
        ],
    );
    let o = run(&t, &Options::default());
    assert_eq!(o.end, End::Completed);
    assert_eq!(o.tolerated.get(&Deviation::ReplqOrder), Some(&1));
    // Both replenished the first unit at 1009 µs (rt.c would have at 5003 µs).
    assert!(o.hooks.get(&difftest::driver::Hook::Timer) >= Some(&1));
}

/// 4: moved off its CPU, a unit goes to an idle allowed CPU in rtsched (CPU 2) and to the
/// next allowed CPU in rt.c (CPU 1, busy). The driver applies rt.c's choice to both.
#[test]
fn dev4_pick_cpu_prefers_an_idle_cpu() {
    let t = trace(
        3,
        vec![
            unit(5003, 2000, false, 0b111),
            unit(7001, 3000, false, 0b010),
        ],
        vec![
            Event::Insert(0),
            Event::Insert(1),
            Event::Wake(0),
            Event::Wake(1),
            Event::SetAffinity {
                unit: 0,
                mask: 0b110,
            },
            Event::Advance(100_000),
        ],
    );
    let o = run(&t, &Options::default());
    assert_eq!(o.end, End::Completed);
    assert_eq!(o.tolerated.get(&Deviation::PickIdleCpu), Some(&1));
    assert_eq!(o.tolerated.len(), 1, "{:?}", o.tolerated);
}

/// 5: inserting a runnable unit that is not running tickles in rtsched, not in rt.c.
#[test]
fn dev5_insert_of_a_runnable_unit_tickles() {
    let mut p = pair(2, &[(0, 1000, 100, false, 0b11)]);
    let (_, a) = p.r.insert(p.ids[0], 0, true, false).unwrap();
    p.x.set_runnable(0, true);
    p.x.insert(0, 0, false);
    assert_eq!(a.reschedule.bits[0], 0b01, "rtsched tickles");
    assert_eq!(p.x.take_softirqs(), 0, "rt.c does not");
    // Both queued it.
    assert_eq!(p.r.unit_info(p.ids[0]).unwrap().queue, 1);
    assert_eq!(p.x.states(1)[0].queue, 1);
}

/// 6: lowering the budget below the current budget clamps it in rtsched only.
#[test]
fn dev6_lowering_the_budget_clamps_the_current_budget() {
    let mut p = pair(1, &[(0, 1000, 500, false, 1)]);
    p.insert_wake(0, 0);
    p.r.set_params(p.ids[0], params(1000, 200, false)).unwrap();
    assert_eq!(p.x.put_vcpu(0, 1000, 200, false), 0);
    assert_eq!(p.cur_budget(0), (200 * US, 500 * US));
}

/// 7: two units with the same deadline and level: A (extratime) runs; B (no extratime)
/// wakes. For rt.c they are equal, so B does not preempt A; rtsched ranks B first and
/// tickles A's CPU.
#[test]
fn dev7_priority_ties() {
    let t = trace(
        1,
        vec![unit(2003, 500, true, 1), unit(2003, 500, false, 1)],
        vec![
            Event::Insert(0),
            Event::Insert(1),
            Event::Wake(0),
            Event::Wake(1),
        ],
    );
    match run(&t, &Options::default()).end {
        End::Explained(Deviation::PriorityTie, 3, w) => {
            assert!(
                w.starts_with("Wake: reschedule of CPU 0: rtsched [0], rt.c []"),
                "{w}"
            )
        }
        e => panic!("{e:?}"),
    }
}

/// 8: a unit that lands on the depleted queue is not tickled for by rtsched; rt.c tickles
/// (here its idle CPU, which then has nothing to run).
#[test]
fn dev8_no_tickle_for_a_depleted_unit() {
    let mut p = pair(1, &[(0, 1000, 100, false, 1)]);
    p.insert_wake(0, 0);
    assert_eq!(p.schedule(0, 0, false).0, Some(0));
    assert_eq!(p.schedule(0, 100 * US, true).0, None);
    let a = p.r.context_saved(p.ids[0], true).unwrap();
    p.x.context_saved(0, 100 * US);
    assert_eq!(p.x.states(1)[0].queue, 2, "depleted");
    assert_eq!((a.reschedule.bits[0], p.x.take_softirqs()), (0, 0b1));
    // The driver tolerates it as deviation 8.
    let t = trace(
        1,
        vec![unit(1000, 100, false, 1)],
        vec![Event::Insert(0), Event::Wake(0), Event::Advance(150_000)],
    );
    let o = run(&t, &Options::default());
    assert_eq!(o.end, End::Completed);
    assert_eq!(o.tolerated.get(&Deviation::DepletedNoTickle), Some(&1));
}

/// 9 and 10 (do_schedule): A is woken and tickles idle CPU 0; B, higher priority and
/// allowed only on CPU 0, is woken before CPU 0 reschedules (no CPU left to tickle). CPU
/// 0 picks B. rt.c leaves A queued beside idle CPU 1; rtsched tickles CPU 1 for it.
#[test]
fn dev9_10_extra_tickle_after_do_schedule() {
    let mut p = pair(
        2,
        &[(0, 5003, 1000, false, 0b11), (1, 1009, 500, false, 0b01)],
    );
    let (r, x) = p.insert_wake(0, 0);
    assert_eq!((r, x), (0b01, 0b01));
    let (r, x) = p.insert_wake(1, 0);
    assert_eq!((r, x), (0, 0));
    let (next, r, x) = p.schedule(0, 0, false);
    assert_eq!(next, Some(1));
    assert_eq!(
        (r, x),
        (0b10, 0),
        "rtsched tickles CPU 1 for A, rt.c does not"
    );
    assert_eq!(p.x.states(2)[0].queue, 1, "A waits in rt.c's run queue");
}

/// 9 (replenishment): E runs on extratime (level 1) and is queued behind F (level 0).
/// At E's replenishment it is back at level 0 with an earlier deadline than F: rtsched
/// tickles F's CPU so that E preempts it; rt.c does not (E was not depleted) and F keeps
/// the CPU until its slice ends. The driver tolerates it and both then reschedule.
#[test]
fn dev9_extra_tickle_at_replenishment() {
    let t = trace(
        1,
        vec![unit(1009, 101, true, 1), unit(5003, 4000, false, 1)],
        vec![
            Event::Insert(0),
            Event::Insert(1),
            Event::Wake(0),
            Event::Wake(1),
            Event::Advance(1_500_000),
        ],
    );
    let o = run(&t, &Options::default());
    assert_eq!(o.end, End::Completed);
    assert_eq!(o.tolerated.get(&Deviation::ExtraTickleReplenish), Some(&1));
}

/// 9 (parameters): a parameter change of a running unit reschedules its CPU in rtsched;
/// rt.c's `rt_dom_cntl` changes the values only.
#[test]
fn dev9_extra_tickle_on_a_parameter_change() {
    let mut p = pair(1, &[(0, 1000, 500, false, 1)]);
    p.insert_wake(0, 0);
    assert_eq!(p.schedule(0, 0, false).0, Some(0));
    let a = p.r.set_params(p.ids[0], params(2003, 600, true)).unwrap();
    assert_eq!(p.x.put_vcpu(0, 2003, 600, true), 0);
    assert_eq!((a.reschedule.bits[0], p.x.take_softirqs()), (0b1, 0));
    let t = trace(
        1,
        vec![unit(1000, 500, false, 1)],
        vec![
            Event::Insert(0),
            Event::Wake(0),
            Event::SetParams {
                unit: 0,
                period_us: 2003,
                budget_us: 600,
                extratime: true,
            },
        ],
    );
    let o = run(&t, &Options::default());
    assert_eq!(o.end, End::Completed);
    assert_eq!(
        o.tolerated.get(&Deviation::ParamsReschedulesRunning),
        Some(&1)
    );
}

/// 11: with rescheduling up to 50 µs late, a unit without extratime overruns its budget;
/// at its next replenishment rtsched's budget is rt.c's less the overrun (checked to the
/// nanosecond against the overrun the driver saw), re-synced, and the comparison goes on.
#[test]
fn dev11_overrun_charged_to_the_next_period() {
    let mut t = trace(
        1,
        vec![unit(1009, 300, false, 1)],
        vec![Event::Insert(0), Event::Wake(0), Event::Advance(5_000_000)],
    );
    let on_time = run(&t, &Options::default());
    assert_eq!(on_time.end, End::Completed);
    assert_eq!(on_time.tolerated.get(&Deviation::OverrunCharged), None);
    t.late_ns = 50_000;
    let late = run(&t, &Options::default());
    assert_eq!(late.end, End::Completed);
    assert!(
        late.tolerated.get(&Deviation::OverrunCharged) >= Some(&3),
        "{late:?}"
    );
}
