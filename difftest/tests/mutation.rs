//! The mutation score of the differential test: every deliberately broken variant of
//! rtsched (`rtsched::mutants`, compiled only with this crate's `mutants` feature) must be
//! reported as a mismatch, against rt.c (rt-global, rt-partition) or against the reference
//! model (DM, periodic server), within the first traces of the ordinary random generator.
//!
//! `cargo test -p difftest --features mutants --test mutation -- --nocapture` prints one
//! line per mutant and `mutation score: caught/total`.
#![cfg(feature = "mutants")]

use difftest::driver::{run, End, Mode, Options, Peer};
use difftest::reference::Rules;
use difftest::trace::{generate, GenConfig};
use rtsched::mutants::Mutant;
use rtsched::{ClassRule, PriorityScheme, ServerKind};

/// Traces tried per comparison before a mutant counts as missed.
const TRACES: u64 = 200;

fn comparisons() -> Vec<(&'static str, Options)> {
    let reference = |scheme, server, classes| Options {
        peer: Peer::Reference(Rules {
            scheme,
            server,
            classes,
        }),
        ..Options::default()
    };
    vec![
        ("rt.c, rt-global", Options::default()),
        (
            "rt.c, rt-partition",
            Options {
                mode: Mode::Partition,
                ..Options::default()
            },
        ),
        (
            "reference, DM",
            reference(PriorityScheme::Dm, ServerKind::Deferrable, ClassRule::Rtds),
        ),
        (
            "reference, periodic",
            reference(PriorityScheme::Edf, ServerKind::Periodic, ClassRule::Rtds),
        ),
        (
            "reference, DM + periodic",
            reference(PriorityScheme::Dm, ServerKind::Periodic, ClassRule::Rtds),
        ),
        (
            "reference, CBS",
            reference(PriorityScheme::Edf, ServerKind::Cbs, ClassRule::Rtds),
        ),
        (
            "reference, classes",
            reference(
                PriorityScheme::Edf,
                ServerKind::Deferrable,
                ClassRule::Classes,
            ),
        ),
    ]
}

/// The first comparison and seed whose replay with `mutant` ends in a mismatch.
fn catch(mutant: Mutant) -> Option<(&'static str, u64, String)> {
    let cfg = GenConfig::default();
    for (name, opts) in comparisons() {
        let opts = Options { mutant, ..opts };
        for seed in 0..TRACES {
            if let End::Mismatch(m) = run(&generate(seed, &cfg), &opts).end {
                return Some((name, seed, m.what));
            }
        }
    }
    None
}

#[test]
fn every_mutant_is_caught() {
    let all: Vec<Mutant> = Mutant::RULES
        .iter()
        .chain(Mutant::PROTOCOL.iter())
        .copied()
        .collect();
    let mut missed = Vec::new();
    for &m in &all {
        match catch(m) {
            Some((how, seed, what)) => {
                let what: String = what.chars().take(110).collect();
                eprintln!("caught {m:?}: {how}, seed {seed}: {what}");
            }
            None => {
                eprintln!("MISSED {m:?}");
                missed.push(m);
            }
        }
    }
    eprintln!(
        "mutation score: {}/{} caught",
        all.len() - missed.len(),
        all.len()
    );
    assert!(missed.is_empty(), "not caught: {missed:?}");
    // The correct scheduler passes the same comparisons (no mutant is caught by a test that
    // fails anyway).
    for (name, opts) in comparisons() {
        for seed in 0..20 {
            let o = run(&generate(seed, &GenConfig::default()), &opts);
            assert!(
                !matches!(o.end, End::Mismatch(_)),
                "{name} seed {seed}: {:?}",
                o.end
            );
        }
    }
}

/// The replenishment timer leaving a unit's priority level as it was is reported as a
/// mismatch in every trace where the correct scheduler's run has the timer replenish a
/// unit on extratime (where the bug shows), never excused by a deviation.
#[test]
fn a_level_left_at_replenishment_is_a_mismatch_wherever_it_shows() {
    let cfg = GenConfig::default();
    let mutant = Options {
        mutant: Mutant::ReplenishKeepsLevel,
        ..Options::default()
    };
    let (mut shows, mut caught) = (0, 0);
    for seed in 0..1000 {
        let t = generate(seed, &cfg);
        let o = run(&t, &Options::default());
        assert!(
            !matches!(o.end, End::Mismatch(_)),
            "seed {seed}: {:?}",
            o.end
        );
        if o.level_resets == 0 {
            continue;
        }
        shows += 1;
        match run(&t, &mutant).end {
            End::Mismatch(m) => {
                assert!(m.what.contains("level"), "seed {seed}: {m:?}");
                caught += 1;
            }
            e => panic!("seed {seed}: the level bug shows but the replay ended {e:?}"),
        }
    }
    eprintln!("priority-level mutant: mismatch in {caught} of the {shows} traces where it shows");
    assert!(
        shows >= 100,
        "only {shows} traces replenish a unit on extratime"
    );
}
