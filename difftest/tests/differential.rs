//! The differential test: random traces replayed into rtsched and Xen 4.17's rt.c, every
//! hook's outcome compared (see `difftest::driver`).
//!
//! `DIFFTEST_TRACES` (default 10000) traces of `DIFFTEST_EVENTS` (default 200) events,
//! from seed `DIFFTEST_SEED` (default 0). A failure is shrunk to a minimal trace, printed as
//! JSON (replay it with `cargo run -p difftest --bin difftest-run -- --json FILE`).

use std::collections::BTreeMap;

use difftest::deviations::Deviation;
use difftest::driver::{run, shrink, End, Hook, Inject, Options};
use difftest::trace::{generate, GenConfig};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

#[test]
fn random_traces_agree_with_xen_rt_c() {
    let traces = env("DIFFTEST_TRACES", 10_000);
    let events = env("DIFFTEST_EVENTS", 200) as usize;
    let seed = env("DIFFTEST_SEED", 0);
    let cfg = GenConfig {
        events,
        ..GenConfig::default()
    };
    let opts = Options::default();
    let start = std::time::Instant::now();
    let (mut completed, mut steps, mut events_replayed) = (0u64, 0u64, 0u64);
    let mut early: BTreeMap<Deviation, u64> = BTreeMap::new();
    let mut tolerated: BTreeMap<Deviation, u64> = BTreeMap::new();
    let mut hooks: BTreeMap<Hook, u64> = BTreeMap::new();
    let mut wakes_scheduled = 0;
    for s in seed..seed + traces {
        let trace = generate(s, &cfg);
        let o = run(&trace, &opts);
        steps += o.steps;
        for (d, k) in &o.tolerated {
            *tolerated.entry(*d).or_insert(0) += k;
        }
        for (h, k) in &o.hooks {
            *hooks.entry(*h).or_insert(0) += k;
        }
        wakes_scheduled += o.wakes_while_scheduled;
        match o.end {
            End::Completed => {
                completed += 1;
                events_replayed += trace.events.len() as u64;
            }
            End::Explained(d, i, _) => {
                *early.entry(d).or_insert(0) += 1;
                events_replayed += i as u64;
            }
            End::Mismatch(m) => {
                let small = shrink(&trace, &opts);
                let o = run(&small, &opts);
                panic!(
                    "seed {s}: unexplained difference {m:?}\nshrunk ({} events): {:?}\n{}",
                    small.events.len(),
                    o.end,
                    small.to_json()
                );
            }
        }
    }
    eprintln!(
        "difftest: {traces} traces x {events} events: {completed} compared to the end, \
         {steps} hook calls compared ({events_replayed} events replayed; per hook {hooks:?}; \
         {wakes_scheduled} wakes of a unit being switched out); early ends (explained) \
         {early:?}; differences tolerated {tolerated:?}; {:.1} s",
        start.elapsed().as_secs_f64()
    );
    // Not vacuous: most of the traces run to their end, and every kind of hook is reached.
    assert!(
        completed * 2 >= traces,
        "only {completed} of {traces} traces compared to the end"
    );
    assert!(steps >= traces * 100, "only {steps} steps");
    for h in [
        Hook::Insert,
        Hook::Remove,
        Hook::Wake,
        Hook::Sleep,
        Hook::DoSchedule,
        Hook::ContextSaved,
        Hook::Timer,
        Hook::SetParams,
        Hook::Pick,
    ] {
        assert!(
            hooks.get(&h).copied().unwrap_or(0) >= traces,
            "{h:?} rarely reached: {hooks:?}"
        );
    }
    assert!(wakes_scheduled > 0);
}

/// Options that inject a difference into rtsched's side.
fn injecting(inject: Inject) -> Options {
    Options {
        inject,
        ..Options::default()
    }
}

#[test]
fn an_injected_parameter_difference_is_caught() {
    let opts = injecting(Inject::BudgetSkew);
    let trace = generate(1, &GenConfig::default());
    match run(&trace, &opts).end {
        End::Mismatch(m) => assert!(m.what.contains("budget"), "{m:?}"),
        e => panic!("not caught: {e:?}"),
    }
}

#[test]
fn an_injected_slice_difference_is_caught_and_shrunk() {
    let opts = injecting(Inject::SliceSkew);
    let trace = generate(2, &GenConfig::default());
    let End::Mismatch(m) = run(&trace, &opts).end else {
        panic!("not caught");
    };
    assert!(m.what.contains("slice"), "{m:?}");
    let small = shrink(&trace, &opts);
    assert!(matches!(run(&small, &opts).end, End::Mismatch(_)));
    // One unit inserted and woken is enough for a CPU to pick it.
    assert!(small.events.len() <= 3, "{}", small.to_json());
    assert_eq!(small.units.len(), 1);
}

#[test]
fn traces_round_trip_through_json() {
    let t = generate(3, &GenConfig::default());
    let back = difftest::trace::Trace::from_json(&t.to_json()).expect("parse");
    assert_eq!(back, t);
    assert_eq!(
        run(&back, &Options::default()).steps,
        run(&t, &Options::default()).steps
    );
}
