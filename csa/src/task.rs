//! The workload model: sporadic tasks and the guest's scheduler.
//!
//! Times are integers in ns (`i64`), as in rtsched. A task releases jobs at least `period`
//! apart, each needing at most `wcet` and due `deadline` after its release
//! (`wcet <= deadline <= period`: constrained deadlines).

use serde::{Deserialize, Serialize};

/// One sporadic task, ns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Minimum inter-release time.
    pub period: i64,
    /// Worst-case execution time.
    pub wcet: i64,
    /// Relative deadline.
    pub deadline: i64,
}

impl Task {
    /// An implicit-deadline task.
    pub fn new(period: i64, wcet: i64) -> Self {
        Task {
            period,
            wcet,
            deadline: period,
        }
    }

    /// Checks `0 < wcet <= deadline <= period`.
    pub fn validate(&self) -> Result<(), String> {
        if self.wcet <= 0 || self.wcet > self.deadline || self.deadline > self.period {
            return Err(format!(
                "task (period {}, wcet {}, deadline {}) ns: need 0 < wcet <= deadline <= period",
                self.period, self.wcet, self.deadline
            ));
        }
        Ok(())
    }

    /// Utilisation as an exact fraction `wcet / period`.
    pub fn utilisation(&self) -> f64 {
        self.wcet as f64 / self.period as f64
    }
}

/// Priority order of the guest scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    /// Earliest deadline first.
    #[default]
    Edf,
    /// Rate monotonic: fixed priorities, shorter period first (ties: shorter deadline, then
    /// task order).
    Rm,
}

/// How the guest spreads its tasks over its VCPUs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// One run queue over all VCPUs (gEDF).
    Global,
    /// Each task bound to one VCPU (pEDF, pRM).
    #[default]
    Partitioned,
}

/// Tasks sorted into rate-monotonic priority order (highest first); returns the indices.
pub fn rm_order(tasks: &[Task]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..tasks.len()).collect();
    idx.sort_by_key(|&i| (tasks[i].period, tasks[i].deadline, i));
    idx
}

/// Total utilisation.
pub fn utilisation(tasks: &[Task]) -> f64 {
    tasks.iter().map(Task::utilisation).sum()
}

/// `sum ceil(x_i * num / T_i)` over tasks for a per-task numerator `x_i`: an upper bound of
/// `num * sum x_i / T_i` in integers (i128, no overflow for ns values below 2^62).
pub fn sum_ceil(tasks: &[Task], num: i128, x: impl Fn(&Task) -> i128) -> i128 {
    tasks
        .iter()
        .map(|t| ceil_div(x(t) * num, t.period as i128))
        .sum()
}

/// `ceil(a / b)` for `a >= 0`, `b > 0`.
pub fn ceil_div(a: i128, b: i128) -> i128 {
    (a + b - 1) / b
}
