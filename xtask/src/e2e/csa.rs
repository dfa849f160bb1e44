//! VCPU interfaces of the `csa` scenario from the project's compositional analysis (the
//! `csa` crate: periodic resource model of Shin and Lee, RTSS 2003, with the fixed-priority
//! test of Lipari and Bini as CARTS applies it), for guests that schedule their tasks
//! rate-monotonically (`SCHED_FIFO` priorities in period order). Times here in
//! microseconds, in the crate in nanoseconds.

/// A periodic task: period (= relative deadline) and execution time, us.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Task {
    /// Period and deadline.
    pub period: u64,
    /// Execution time.
    pub exec: u64,
}

fn to_ns(tasks: &[Task], overhead: u64) -> Vec<csa::Task> {
    tasks
        .iter()
        .map(|t| csa::Task::new(t.period as i64 * 1000, (t.exec + overhead) as i64 * 1000))
        .collect()
}

/// The least budget Theta (whole us) for period `pi` with which the tasks, each with
/// `overhead` us added, are schedulable; `None` when not even Theta = Pi suffices.
pub fn min_budget(tasks: &[Task], pi: u64, overhead: u64) -> Option<u64> {
    let ns = to_ns(tasks, overhead);
    csa::prm::min_budget(pi as i64 * 1000, 1000, 10_000, |r| {
        csa::prm::rm_schedulable(&ns, r)
    })
    .map(|b| b as u64 / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the tasks, each with `overhead` us added to its execution time, meet their
    /// deadlines under rate-monotonic scheduling on the PRM (`pi`, `theta`) us.
    fn schedulable(tasks: &[Task], overhead: u64, pi: u64, theta: u64) -> bool {
        let r = csa::prm::Prm {
            period: pi as i64 * 1000,
            budget: theta as i64 * 1000,
        };
        csa::prm::rm_schedulable(&to_ns(tasks, overhead), r)
    }

    #[test]
    fn min_budget_is_the_least_schedulable_budget() {
        let tasks = [
            Task {
                period: 20_000,
                exec: 2_000,
            },
            Task {
                period: 40_000,
                exec: 4_000,
            },
        ];
        let th = min_budget(&tasks, 5_000, 0).unwrap();
        assert!(schedulable(&tasks, 0, 5_000, th));
        assert!(!schedulable(&tasks, 0, 5_000, th - 1));
        // Utilisation 0.2 needs more than 20% of the resource, less than all of it.
        assert!(th > 1_000 && th < 5_000, "{th}");
        assert!(min_budget(&tasks, 5_000, 400).unwrap() > th);
    }

    #[test]
    fn overloaded_tasks_have_no_interface() {
        assert_eq!(
            min_budget(
                &[Task {
                    period: 10_000,
                    exec: 11_000
                }],
                5_000,
                0
            ),
            None
        );
    }
}
