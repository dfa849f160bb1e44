//! A small version of the dissertation's schedulability sweep (`model_tests::sweep`; the
//! full one is `cargo run --release -p model-tests --bin schedulability`): every task set
//! the host's admission test accepts for the analysed interfaces meets all its deadlines
//! in simulation, under every host configuration.

use model_tests::sweep::{hosts, sweep, Config};

#[test]
fn admitted_task_sets_never_miss_in_simulation() {
    let mut cfg = Config::dissertation(5);
    cfg.utils = vec![1.1, 2.1, 3.1, 4.1];
    cfg.sets = 2;
    let sw = sweep(&cfg, &hosts(), |_| {});
    let mut admitted = 0;
    for (gi, g) in sw.guests.iter().enumerate() {
        for (hi, h) in sw.hosts.iter().enumerate() {
            for p in &sw.points[gi][hi] {
                assert_eq!(
                    p.theory_but_missed,
                    0,
                    "{} / {} at {}",
                    g.name(),
                    h.name(),
                    p.util
                );
                admitted += p.theory;
            }
        }
    }
    // The sweep is not vacuous: low utilisations are admitted, the highest is not.
    assert!(admitted > 0);
    for gi in 0..sw.guests.len() {
        for hi in 0..sw.hosts.len() {
            let pts = &sw.points[gi][hi];
            assert_eq!(pts[0].simulated, cfg.sets, "utilisation 1.1 is easy");
        }
    }
}
