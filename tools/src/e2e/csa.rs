//! VCPU interfaces by compositional analysis: the periodic resource model (PRM) of Shin and
//! Lee (RTSS 2003) for a guest that schedules its tasks by fixed priority (as the guests
//! of the `csa` scenario do, with `SCHED_FIFO` priorities in rate-monotonic order), as
//! CARTS and RT-Xen compute them. All times in microseconds.

/// A periodic task: period (= relative deadline) and worst-case execution time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Task {
    /// Period and deadline.
    pub period: u64,
    /// Worst-case execution time.
    pub exec: u64,
}

/// Supply bound function of the PRM (Pi, Theta): the least supply in any interval of
/// length t. With y = floor((t - (Pi - Theta)) / Pi):
/// sbf(t) = y Theta + max(0, t - 2 (Pi - Theta) - y Pi) for t >= Pi - Theta, else 0.
pub fn sbf(pi: u64, theta: u64, t: u64) -> u64 {
    let gap = pi - theta;
    if t < gap {
        return 0;
    }
    let y = (t - gap) / pi;
    y * theta + t.saturating_sub(2 * gap + y * pi)
}

/// Whether fixed-priority scheduling (tasks in priority order, highest first) meets every
/// deadline on the PRM (Pi, Theta): for each task i some t in {k T_j <= D_i, j < i} U {D_i}
/// has C_i + sum_{j < i} ceil(t / T_j) C_j <= sbf(t) (Lipari and Bini's test, as in CARTS).
pub fn fp_schedulable(tasks: &[Task], pi: u64, theta: u64) -> bool {
    tasks.iter().enumerate().all(|(i, ti)| {
        let hp = &tasks[..i];
        let mut points: Vec<u64> = hp
            .iter()
            .flat_map(|tj| (1..=ti.period / tj.period).map(move |k| k * tj.period))
            .collect();
        points.push(ti.period);
        points.into_iter().any(|t| {
            let demand: u64 = ti.exec
                + hp.iter()
                    .map(|tj| t.div_ceil(tj.period) * tj.exec)
                    .sum::<u64>();
            demand <= sbf(pi, theta, t)
        })
    })
}

/// The least budget Theta (whole microseconds) for which the tasks, each with `overhead`
/// added to its execution time, are schedulable on the PRM (Pi, Theta), or `None` when not
/// even Theta = Pi suffices. sbf grows with Theta, so the search is a bisection.
pub fn min_budget(tasks: &[Task], pi: u64, overhead: u64) -> Option<u64> {
    let mut sorted: Vec<Task> = tasks
        .iter()
        .map(|t| Task {
            period: t.period,
            exec: t.exec + overhead,
        })
        .collect();
    sorted.sort_by_key(|t| t.period);
    if !fp_schedulable(&sorted, pi, pi) {
        return None;
    }
    let (mut lo, mut hi) = (0, pi);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fp_schedulable(&sorted, pi, mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some(hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sbf_of_a_dedicated_cpu_is_the_identity() {
        for t in [0, 1, 999, 5000, 123_456] {
            assert_eq!(sbf(5000, 5000, t), t);
        }
    }

    #[test]
    fn sbf_blackout_is_twice_the_gap() {
        // (10, 4): no supply for 2 * 6 = 12, then 4 in the next 4, flat for 6, ...
        assert_eq!(sbf(10, 4, 12), 0);
        assert_eq!(sbf(10, 4, 14), 2);
        assert_eq!(sbf(10, 4, 16), 4);
        assert_eq!(sbf(10, 4, 22), 4);
        assert_eq!(sbf(10, 4, 26), 8);
    }

    #[test]
    fn sbf_is_monotone_in_t_and_theta_and_below_the_rate() {
        for pi in [3u64, 7, 10] {
            for theta in 0..=pi {
                for t in 0..100u64 {
                    let s = sbf(pi, theta, t);
                    assert!(s <= sbf(pi, theta, t + 1));
                    assert!(theta == pi || s <= sbf(pi, theta + 1, t));
                    assert!(s * pi <= theta * t);
                }
            }
        }
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
        let sorted = tasks;
        assert!(fp_schedulable(&sorted, 5_000, th));
        assert!(!fp_schedulable(&sorted, 5_000, th - 1));
        // Utilisation 0.2 needs more than 20% of the resource, less than all of it.
        assert!(th > 1_000 && th < 5_000, "{th}");
        assert!(min_budget(&tasks, 5_000, 200).unwrap() > th);
    }

    #[test]
    fn overloaded_tasks_have_no_interface() {
        let tasks = [Task {
            period: 10_000,
            exec: 11_000,
        }];
        assert_eq!(min_budget(&tasks, 5_000, 0), None);
    }
}
