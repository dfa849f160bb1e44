//! Replays random traces (or one JSON trace) and prints the outcome.
//!
//! `difftest-run [FIRST_SEED] [COUNT] [EVENTS] [MAX_CPUS] [MAX_UNITS]`, or
//! `difftest-run --json FILE`. `DIFFTEST_MODE=partition` compares rt-partition;
//! `DIFFTEST_PEER=dm|periodic|dm-periodic|cbs|dm-cbs|classes|classes-cbs|...` checks rtsched in that policy against the
//! reference model's rules instead of rt.c; `DIFFTEST_VERBOSE=1` prints every hook.
use difftest::driver::{run, End, Mode, Options, Peer};
use difftest::reference::Rules;
use difftest::trace::{generate, GenConfig, Trace};
use rtsched::{ClassRule, PriorityScheme, ServerKind};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = Options {
        verbose: std::env::var_os("DIFFTEST_VERBOSE").is_some(),
        mode: match std::env::var("DIFFTEST_MODE").as_deref() {
            Ok("partition") => Mode::Partition,
            _ => Mode::Global,
        },
        peer: match std::env::var("DIFFTEST_PEER").as_deref() {
            Ok(p)
                if ["dm", "periodic", "cbs", "edf", "classes"]
                    .iter()
                    .any(|k| p.starts_with(k) || p.ends_with(k)) =>
            {
                Peer::Reference(Rules {
                    scheme: if p.starts_with("dm") {
                        PriorityScheme::Dm
                    } else {
                        PriorityScheme::Edf
                    },
                    server: if p.ends_with("periodic") {
                        ServerKind::Periodic
                    } else if p.ends_with("cbs") {
                        ServerKind::Cbs
                    } else {
                        ServerKind::Deferrable
                    },
                    classes: if p.starts_with("classes") {
                        ClassRule::Classes
                    } else {
                        ClassRule::Rtds
                    },
                })
            }
            _ => Peer::Xen,
        },
        ..Options::default()
    };
    if args.first().map(String::as_str) == Some("--json") {
        let t = std::fs::read_to_string(&args[1]).expect("read trace");
        let trace = Trace::from_json(&t).expect("parse trace");
        println!("{:?}", run(&trace, &opts));
        return;
    }
    let seed: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(0);
    let count: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100);
    let events: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);
    let max_cpus: u8 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(8);
    let max_units: u8 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(12);
    let cfg = GenConfig {
        events,
        cpus: (1, max_cpus.clamp(1, 64)),
        units: (1, max_units.max(1)),
    };
    let (mut done, mut steps) = (0, 0);
    let mut tol = std::collections::BTreeMap::new();
    let mut ev_sum = 0usize;
    for s in seed..seed + count {
        let trace = generate(s, &cfg);
        let o = run(&trace, &opts);
        steps += o.steps;
        for (d, k) in &o.tolerated {
            *tol.entry(*d).or_insert(0u64) += k;
        }
        match &o.end {
            End::Completed => done += 1,
            End::Explained(d, i, w) => {
                ev_sum += i;
                println!("seed {s}: explained {d:?} at event {i}: {w}")
            }
            End::Mismatch(m) => println!("seed {s}: MISMATCH {m:?}"),
        }
    }
    println!("{done}/{count} completed, {steps} steps, tolerated {tol:?}");
    if let Some(avg) = (ev_sum as u64).checked_div(count - done) {
        println!("early ends at event {avg} on average");
    }
}
