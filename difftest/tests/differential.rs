//! The differential test: random traces replayed into rtsched and Xen 4.17's rt.c (rt-global,
//! and rt-partition against one rt.c per PCPU), every hook's outcome compared (see
//! `difftest::driver`); and rtsched's DM, periodic-server, CBS and class-rule modes checked
//! against the reference model's rules (`difftest::reference`).
//!
//! `DIFFTEST_TRACES` traces (default 10000 rt-global, 3000 rt-partition, 1000 per reference
//! mode) of `DIFFTEST_EVENTS` (default 200) events, from seed `DIFFTEST_SEED` (default 0).
//! A failure is shrunk to a minimal trace, printed as JSON (replay it with
//! `cargo run -p difftest --bin difftest-run -- --json FILE`).

use std::collections::BTreeMap;

use difftest::deviations::Deviation;
use difftest::driver::{run, shrink, End, Hook, Inject, Mode, Options, Peer};
use difftest::reference::Rules;
use difftest::trace::{generate, GenConfig};
use rtsched::{ClassRule, PriorityScheme, ServerKind};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Every tolerated difference, by name (printed with 0 when it did not occur).
const DEVIATIONS: [Deviation; 13] = [
    Deviation::ReplqOrder,
    Deviation::PickIdleCpu,
    Deviation::DepletedNoTickle,
    Deviation::ExtraTickleSchedule,
    Deviation::ExtraTickleReplenish,
    Deviation::ExtraTickleParams,
    Deviation::ParamsReschedulesRunning,
    Deviation::OverrunCharged,
    Deviation::PendingInRtC,
    Deviation::RtCTickledAnother,
    Deviation::ZeroBudgetExtratime,
    Deviation::BudgetClamp,
    Deviation::PriorityTie,
];

const HOOKS: [Hook; 9] = [
    Hook::Insert,
    Hook::Remove,
    Hook::Wake,
    Hook::Sleep,
    Hook::DoSchedule,
    Hook::ContextSaved,
    Hook::Timer,
    Hook::SetParams,
    Hook::Pick,
];

/// Replays `DIFFTEST_TRACES` (default `traces`) random traces with `opts`, prints the
/// summary line, fails on any mismatch (shrunk and printed as JSON) and unless 95% of the
/// traces are compared to the end and every hook is reached.
fn campaign(name: &str, opts: &Options, traces: u64) {
    let traces = env("DIFFTEST_TRACES", traces);
    let events = env("DIFFTEST_EVENTS", 200) as usize;
    let seed = env("DIFFTEST_SEED", 0);
    let cfg = GenConfig {
        events,
        ..GenConfig::default()
    };
    let start = std::time::Instant::now();
    let (mut completed, mut steps, mut events_replayed) = (0u64, 0u64, 0u64);
    let mut early: BTreeMap<Deviation, u64> = BTreeMap::new();
    // Against rt.c every deviation is listed by name, with 0 when it did not occur; the
    // reference model tolerates nothing.
    let names: &[Deviation] = match opts.peer {
        Peer::Xen => &DEVIATIONS,
        Peer::Reference(_) => &[],
    };
    let mut tolerated: BTreeMap<Deviation, u64> = names.iter().map(|&d| (d, 0)).collect();
    let mut hooks: BTreeMap<Hook, u64> = HOOKS.iter().map(|&h| (h, 0)).collect();
    let (mut wakes_scheduled, mut late) = (0, 0);
    for s in seed..seed + traces {
        let trace = generate(s, &cfg);
        late += u64::from(trace.late_ns > 0);
        let o = run(&trace, opts);
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
                let small = shrink(&trace, opts);
                let o = run(&small, opts);
                panic!(
                    "{name}: seed {s}: unexplained difference {m:?}\nshrunk ({} events): {:?}\n{}",
                    small.events.len(),
                    o.end,
                    small.to_json()
                );
            }
        }
    }
    eprintln!(
        "difftest {name}: {traces} traces x {events} events ({late} with late rescheduling): \
         {completed} compared to the end ({:.2}%), {steps} hook calls compared \
         ({events_replayed} events replayed; per hook {hooks:?}; {wakes_scheduled} wakes of a \
         unit being switched out); early ends {early:?}; tolerated {tolerated:?}; {:.1} s",
        100.0 * completed as f64 / traces.max(1) as f64,
        start.elapsed().as_secs_f64()
    );
    // Not vacuous: nearly every trace runs to its end, and every kind of hook is reached.
    assert!(
        completed * 100 >= traces * 95,
        "{name}: only {completed} of {traces} traces compared to the end"
    );
    assert!(steps >= traces * 100, "only {steps} steps");
    for (h, k) in &hooks {
        assert!(*k >= traces, "{name}: {h:?} rarely reached: {hooks:?}");
    }
    assert!(wakes_scheduled > 0);
}

#[test]
fn random_traces_agree_with_xen_rt_c() {
    campaign("rt.c, rt-global", &Options::default(), 10_000);
}

#[test]
fn rt_partition_agrees_with_xen_rt_c_run_per_pcpu() {
    let opts = Options {
        mode: Mode::Partition,
        ..Options::default()
    };
    campaign("rt.c, rt-partition", &opts, 3_000);
}

#[test]
fn dm_periodic_cbs_and_classes_follow_the_reference_rules() {
    for (name, scheme, server, classes) in [
        (
            "reference, DM",
            PriorityScheme::Dm,
            ServerKind::Deferrable,
            ClassRule::Rtds,
        ),
        (
            "reference, periodic",
            PriorityScheme::Edf,
            ServerKind::Periodic,
            ClassRule::Rtds,
        ),
        (
            "reference, DM + periodic",
            PriorityScheme::Dm,
            ServerKind::Periodic,
            ClassRule::Rtds,
        ),
        (
            "reference, CBS",
            PriorityScheme::Edf,
            ServerKind::Cbs,
            ClassRule::Rtds,
        ),
        (
            "reference, classes",
            PriorityScheme::Edf,
            ServerKind::Deferrable,
            ClassRule::Classes,
        ),
        (
            "reference, classes + CBS",
            PriorityScheme::Edf,
            ServerKind::Cbs,
            ClassRule::Classes,
        ),
    ] {
        let opts = Options {
            peer: Peer::Reference(Rules {
                scheme,
                server,
                classes,
            }),
            ..Options::default()
        };
        campaign(name, &opts, 1_000);
    }
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
