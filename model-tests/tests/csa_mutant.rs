//! The worst-case simulation of `csa_sim.rs` catches a wrong supply bound: with the
//! periodic resource's blackout taken as `Pi - Theta` instead of `2 (Pi - Theta)` (an
//! off-by-one in the number of lost budgets, `csa::mutants`), the analysis emits budgets
//! that are too small, and tasks on the worst-case host miss deadlines. (A test binary of
//! its own: the mutant switch is process-wide.)

use csa::{vm_interface, Options, Placement, Priority, Task, VmSpec};
use model_tests::guest::{run, worst_case_host};
use rand_core::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;

const MS: i64 = 1_000_000;

fn random_tasks(rng: &mut XorShiftRng) -> Vec<Task> {
    let n = 1 + rng.next_u64() % 4;
    (0..n)
        .map(|_| {
            let period = (20 + (rng.next_u64() % 181) as i64) * MS;
            let u = 2 + (rng.next_u64() % 49) as i64;
            Task::new(period, (period * u / 100 / 1_000).max(1) * 1_000)
        })
        .collect()
}

/// Misses over the first `sets` random task sets, and the sets with a miss.
fn misses(sets: u64, placement: Placement) -> (u64, u64) {
    let mut rng = XorShiftRng::seed_from_u64(7);
    let mut opts = Options::range(MS, MS, MS);
    opts.periods = vec![5 * MS, 10 * MS, 20 * MS];
    let (mut total, mut bad) = (0, 0);
    for _ in 0..sets {
        let tasks = random_tasks(&mut rng);
        let vm = VmSpec {
            name: "vm".into(),
            tasks: tasks.clone(),
            priority: Priority::Edf,
            placement,
            max_vcpus: 4,
        };
        let Ok(ifc) = vm_interface(&vm, &opts) else {
            continue;
        };
        let (mut sim, mut g) = worst_case_host(&ifc, &tasks, Priority::Edf, placement);
        sim.set_check(false);
        run(&mut sim, std::slice::from_mut(&mut g), 10_000 * MS);
        total += g.misses();
        bad += u64::from(g.misses() > 0);
    }
    (total, bad)
}

#[test]
fn wrong_blackout_is_caught_and_the_right_one_passes() {
    for placement in [Placement::Partitioned, Placement::Global] {
        csa::mutants::set_wrong_prm_blackout(false);
        let (m, _) = misses(12, placement);
        assert_eq!(m, 0, "{placement:?}: the correct bound missed");
        csa::mutants::set_wrong_prm_blackout(true);
        let (m, bad) = misses(12, placement);
        csa::mutants::set_wrong_prm_blackout(false);
        eprintln!("{placement:?}, blackout Pi - Theta: {m} misses in {bad} of 12 task sets");
        assert!(
            bad > 0,
            "{placement:?}: the wrong supply bound went unnoticed"
        );
    }
}
