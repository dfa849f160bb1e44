//! The host model's rules, each shown on a scripted scheduler that logs the calls it gets
//! and picks what the test queued for it.

use std::collections::VecDeque;
use std::convert::Infallible;

use rtsched::{Actions, CpuMask, TimerOp};

use crate::{done, Hooks, Host, Pick, State};

/// A scheduler that logs every hook call (with the host's view at the call) and picks the
/// units queued in `picks` (idle when none).
#[derive(Default)]
struct Script {
    log: Vec<String>,
    picks: VecDeque<(Option<usize>, i64)>,
    /// The timer operation every hook returns.
    timer: TimerOp,
    /// The CPU `pick_cpu` chooses.
    pick: usize,
}

impl Script {
    fn actions(&self) -> Actions {
        Actions {
            timer: self.timer,
            ..Actions::default()
        }
    }
}

impl Hooks for Script {
    type Error = Infallible;
    fn wake(&mut self, st: &State, u: usize) -> Result<Actions, Infallible> {
        self.log.push(format!("wake {u} @{}", st.now));
        Ok(self.actions())
    }
    fn sleep(&mut self, _: &State, u: usize) -> Result<Actions, Infallible> {
        self.log.push(format!("sleep {u}"));
        Ok(self.actions())
    }
    fn do_schedule(&mut self, st: &State, c: usize, pr: bool, _: bool) -> Result<Pick, Infallible> {
        self.log
            .push(format!("do_schedule {c} prev_runnable={pr} @{}", st.now));
        let (next, slice) = self.picks.pop_front().unwrap_or((None, -1));
        Ok(Pick {
            next,
            slice,
            migrated: false,
            actions: self.actions(),
        })
    }
    fn context_saved(&mut self, _: &State, u: usize, r: bool) -> Result<Actions, Infallible> {
        self.log.push(format!("context_saved {u} runnable={r}"));
        Ok(self.actions())
    }
    fn timer_fire(&mut self, st: &State, k: usize) -> Result<Actions, Infallible> {
        self.log.push(format!("timer {k} @{}", st.now));
        Ok(Actions {
            timer: TimerOp::Stop,
            ..Actions::default()
        })
    }
    fn set_affinity(&mut self, _: &State, u: usize, _: CpuMask) -> Result<(), Infallible> {
        self.log.push(format!("set_affinity {u}"));
        Ok(())
    }
    fn pick_cpu(&mut self, _: &State, u: usize) -> Result<usize, Infallible> {
        self.log.push(format!("pick_cpu {u}"));
        Ok(self.pick)
    }
    fn migrate(&mut self, _: &State, u: usize, c: usize) -> Result<(), Infallible> {
        self.log.push(format!("migrate {u} {c}"));
        Ok(())
    }
    fn livelock(&mut self, _: &State) -> Infallible {
        panic!("livelock")
    }
}

/// Two CPUs of one instance, one unit running on CPU 0 with a 100 ns slice.
fn running() -> Host<Script> {
    let mut h = Host::new(Script::default(), vec![0, 0]);
    let u = h.add_unit(0);
    done(h.wake(u));
    h.imp.picks.push_back((Some(u), 100));
    done(h.schedule(0));
    h.imp.log.clear();
    h
}

#[test]
fn a_cpu_saves_its_previous_unit_before_it_schedules_again() {
    let mut h = running();
    h.st.context_delay = None;
    done(h.block(0));
    assert_eq!(
        h.st.resched,
        CpuMask::single(0),
        "a block raises the softirq only"
    );
    assert!(h.imp.log.is_empty(), "and calls no hook");
    done(h.settle());
    assert_eq!(h.st.saving(0), Some(0));
    h.st.resched.set(0);
    done(h.settle());
    assert_eq!(
        h.imp.log,
        [
            "do_schedule 0 prev_runnable=false @0",
            "context_saved 0 runnable=false",
            "do_schedule 0 prev_runnable=false @0",
        ]
    );
}

#[test]
fn an_affinity_change_waits_for_the_context_save() {
    let mut h = running();
    h.st.context_delay = None;
    h.imp.pick = 1;
    done(h.set_affinity(0, CpuMask::single(1)));
    assert!(!h.st.runnable(0), "not runnable while it migrates");
    // Still current on CPU 0: no pick yet.
    assert_eq!(h.imp.log, ["set_affinity 0", "sleep 0"]);
    done(h.schedule(0));
    done(h.save(0));
    assert_eq!(
        h.imp.log[2..],
        [
            "do_schedule 0 prev_runnable=false @0",
            "context_saved 0 runnable=false",
            "pick_cpu 0",
            "migrate 0 1",
            "wake 0 @0",
        ]
    );
    assert!(h.st.runnable(0));
}

#[test]
fn time_advances_to_each_slice_end_and_timer_in_order() {
    let mut h = running();
    h.imp.timer = TimerOp::Set(150);
    done(h.wake(0));
    assert_eq!(h.st.timers[0], Some(150));
    h.imp.timer = TimerOp::Keep;
    h.imp.picks.push_back((Some(0), 100));
    h.imp.log.clear();
    done(h.advance(1_000));
    assert_eq!(
        h.imp.log,
        [
            "do_schedule 0 prev_runnable=true @100",
            "timer 0 @150",
            // Nothing left to pick: the unit is switched out and saved at once.
            "do_schedule 0 prev_runnable=true @200",
            "context_saved 0 runnable=true",
        ]
    );
    assert_eq!((h.st.now, h.st.timers[0]), (1_000, None));
}

#[test]
fn a_pause_calls_sleep_and_a_save_reports_the_unit_not_runnable() {
    let mut h = running();
    done(h.pause(0));
    done(h.schedule(0));
    assert_eq!(
        h.imp.log,
        [
            "sleep 0",
            "do_schedule 0 prev_runnable=false @0",
            "context_saved 0 runnable=false",
        ]
    );
    assert_eq!((h.st.curr(0), h.st.saving(0)), (None, None));
}
