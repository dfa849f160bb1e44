//! Two-level simulation: real-time tasks scheduled by a guest scheduler on VCPUs, the VCPUs
//! scheduled on PCPUs by the real rtsched code through the host model of [`crate::sim`].
//!
//! Each VCPU is a [`Work::Manual`](crate::sim::Work::Manual) unit of the host [`Sim`]: it is runnable while the guest
//! has something for it to run, and otherwise blocked, as a real guest's VCPU that halts
//! when its run queue is empty and is woken by its next timer interrupt (a job release).
//! A job progresses only while its VCPU is current and runnable on a PCPU.
//!
//! The guest scheduler is what a real guest kernel does (LITMUS^RT's GSN-EDF and PSN-EDF,
//! Linux's `SCHED_DEADLINE`/`SCHED_FIFO` with affinities): it does not know whether its VCPUs
//! are running on the host.
//! - Global (gEDF): the `m` highest-priority pending jobs are assigned to the `m` VCPUs; a
//!   job that stays among them keeps its VCPU, a new one takes a freed VCPU (lowest index
//!   first). A job on a VCPU the host has descheduled waits for that VCPU.
//! - Partitioned: each task is bound to one VCPU; each VCPU runs its highest-priority job.
//! - Priorities: EDF by absolute deadline; RM by period (then deadline, then task index).
//!   Ties: earlier release, then task index.
//!
//! Tasks are sporadic: job `k + 1` is released `period + delay` after job `k`, with a
//! deterministic pseudo-random `delay` in `[0, jitter]` (release jitter); each job needs
//! `wcet` (or a pseudo-random amount in `[exec_min, wcet]`). Late jobs are not dropped:
//! they run to completion (as LITMUS^RT does) and count as one miss each. With
//! [`Guest::background`] each VCPU also has a lowest-priority busy loop (the VCPU never
//! blocks, as RT-Xen 2.0 built periodic servers in its experiments, and as the
//! worst-case tests need to make a VCPU spend its budget early).
//!
//! [`run`] interleaves the host's events (timers, slice ends, context switches) with the
//! guests' (releases, completions) in time order; nothing is random or timed, so a run is
//! reproducible bit for bit.

use std::collections::VecDeque;

use csa::{Placement, Priority, Task};
use rand_core::{Rng, SeedableRng};
use rand_xorshift::XorShiftRng;

use crate::sim::{Instance, Sim};

/// One task of a guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GuestTask {
    /// Period, WCET, relative deadline.
    pub task: Task,
    /// First release, ns.
    pub offset: i64,
    /// Largest extra delay between releases, ns (0: strictly periodic).
    pub jitter: i64,
    /// Least execution time of a job, ns (`wcet`: every job takes its WCET).
    pub exec_min: i64,
}

impl GuestTask {
    /// Worst-case-like behaviour: released at `offset` and then exactly every period, each
    /// job taking its WCET.
    pub fn worst(task: Task, offset: i64) -> Self {
        GuestTask {
            task,
            offset,
            jitter: 0,
            exec_min: task.wcet,
        }
    }
}

/// Per-task results.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TaskStats {
    /// Jobs released.
    pub released: u64,
    /// Jobs completed.
    pub completed: u64,
    /// Jobs that completed after their deadline, or are past it unfinished at the end.
    pub misses: u64,
    /// Largest response time of a completed job, ns.
    pub max_response: i64,
    /// Sum of the response times of completed jobs, ns.
    pub total_response: i64,
}

impl TaskStats {
    /// Mean response time of completed jobs, ns.
    pub fn mean_response(&self) -> f64 {
        self.total_response as f64 / self.completed.max(1) as f64
    }
}

#[derive(Clone, Copy, Debug)]
struct Job {
    release: i64,
    deadline: i64,
    remaining: i64,
}

#[derive(Clone, Debug)]
struct TaskState {
    spec: GuestTask,
    /// VCPU slot (index into `Guest::vcpus`) for a partitioned guest.
    vcpu: usize,
    next_release: i64,
    jobs: VecDeque<Job>,
    stats: TaskStats,
}

/// A guest: its tasks, scheduler and VCPUs (units of the host simulator).
#[derive(Clone, Debug)]
pub struct Guest {
    /// The host units of the VCPUs.
    pub vcpus: Vec<usize>,
    priority: Priority,
    placement: Placement,
    /// Each VCPU has a lowest-priority busy loop: it never blocks.
    pub background: bool,
    tasks: Vec<TaskState>,
    /// The task whose current job each VCPU runs.
    assigned: Vec<Option<usize>>,
    /// Whether each VCPU is runnable in the host's view.
    awake: Vec<bool>,
    rng: XorShiftRng,
    /// Record every release as `(task, time)` in [`Guest::releases`].
    pub record_releases: bool,
    /// The recorded releases.
    pub releases: Vec<(usize, i64)>,
}

impl Guest {
    /// A guest over the host units `vcpus`. For a partitioned guest, `binding[i]` is the VCPU
    /// slot (index into `vcpus`) of task `i`; a global guest ignores it.
    pub fn new(
        vcpus: Vec<usize>,
        priority: Priority,
        placement: Placement,
        tasks: &[GuestTask],
        binding: &[usize],
        seed: u64,
    ) -> Self {
        let n = vcpus.len();
        assert!(n > 0 || tasks.is_empty(), "a guest with tasks needs a VCPU");
        let tasks = tasks
            .iter()
            .enumerate()
            .map(|(i, &spec)| {
                let vcpu = match placement {
                    Placement::Partitioned => binding[i],
                    Placement::Global => 0,
                };
                assert!(vcpu < n.max(1), "task {i} bound to VCPU slot {vcpu}");
                TaskState {
                    spec,
                    vcpu,
                    next_release: spec.offset,
                    jobs: VecDeque::new(),
                    stats: TaskStats::default(),
                }
            })
            .collect();
        Guest {
            vcpus,
            priority,
            placement,
            background: false,
            tasks,
            assigned: vec![None; n],
            awake: vec![false; n],
            rng: XorShiftRng::seed_from_u64(seed),
            record_releases: false,
            releases: Vec::new(),
        }
    }

    /// Results of task `i`.
    pub fn stats(&self, i: usize) -> TaskStats {
        self.tasks[i].stats
    }

    /// The number of tasks.
    pub fn nr_tasks(&self) -> usize {
        self.tasks.len()
    }

    /// Total misses over all tasks.
    pub fn misses(&self) -> u64 {
        self.tasks.iter().map(|t| t.stats.misses).sum()
    }

    fn key(&self, i: usize) -> (i64, i64, i64, usize) {
        let t = &self.tasks[i];
        let j = t.jobs.front().expect("pending job");
        match self.priority {
            Priority::Edf => (j.deadline, 0, j.release, i),
            Priority::Rm => (t.spec.task.period, t.spec.task.deadline, j.release, i),
        }
    }

    /// The next guest event: a release, or the completion of a job on a running VCPU.
    fn next_event<I: Instance>(&self, sim: &Sim<I>) -> i64 {
        let mut t = self
            .tasks
            .iter()
            .map(|k| k.next_release)
            .min()
            .unwrap_or(i64::MAX);
        for (slot, a) in self.assigned.iter().enumerate() {
            if let Some(i) = a {
                if running(sim, self.vcpus[slot]) {
                    let r = self.tasks[*i].jobs.front().map_or(0, |j| j.remaining);
                    t = t.min(sim.now().saturating_add(r.max(0)));
                }
            }
        }
        t
    }

    /// Work done by the running VCPUs over `dt` ns (they were running before the clock moved).
    fn progress(&mut self, running_slots: &[usize], dt: i64) {
        for &slot in running_slots {
            if let Some(i) = self.assigned[slot] {
                if let Some(j) = self.tasks[i].jobs.front_mut() {
                    j.remaining -= dt;
                }
            }
        }
    }

    /// Completions and releases due now, then a new assignment; wakes and blocks VCPUs.
    fn poll<I: Instance>(&mut self, sim: &mut Sim<I>) {
        let now = sim.now();
        for t in &mut self.tasks {
            while t.jobs.front().is_some_and(|j| j.remaining <= 0) {
                let j = t.jobs.pop_front().expect("job");
                let resp = now - j.release;
                t.stats.completed += 1;
                t.stats.total_response += resp;
                t.stats.max_response = t.stats.max_response.max(resp);
                if now > j.deadline {
                    t.stats.misses += 1;
                }
            }
        }
        for i in 0..self.tasks.len() {
            while self.tasks[i].next_release <= now {
                let spec = self.tasks[i].spec;
                let release = self.tasks[i].next_release;
                let exec = if spec.exec_min >= spec.task.wcet {
                    spec.task.wcet
                } else {
                    let span = (spec.task.wcet - spec.exec_min) as u64 + 1;
                    spec.exec_min + (self.rng.next_u64() % span) as i64
                };
                let delay = if spec.jitter > 0 {
                    (self.rng.next_u64() % (spec.jitter as u64 + 1)) as i64
                } else {
                    0
                };
                let t = &mut self.tasks[i];
                t.jobs.push_back(Job {
                    release,
                    deadline: release + spec.task.deadline,
                    remaining: exec.max(1),
                });
                t.stats.released += 1;
                t.next_release = release + spec.task.period + delay;
                if self.record_releases {
                    self.releases.push((i, release));
                }
            }
        }
        self.dispatch(sim);
    }

    fn dispatch<I: Instance>(&mut self, sim: &mut Sim<I>) {
        let n = self.vcpus.len();
        let mut want: Vec<Option<usize>> = vec![None; n];
        match self.placement {
            Placement::Partitioned => {
                for i in 0..self.tasks.len() {
                    if self.tasks[i].jobs.is_empty() {
                        continue;
                    }
                    let s = self.tasks[i].vcpu;
                    if want[s].is_none_or(|o| self.key(i) < self.key(o)) {
                        want[s] = Some(i);
                    }
                }
            }
            Placement::Global => {
                let mut ready: Vec<usize> = (0..self.tasks.len())
                    .filter(|&i| !self.tasks[i].jobs.is_empty())
                    .collect();
                ready.sort_by_key(|&i| self.key(i));
                ready.truncate(n);
                // Keep jobs that stay among the top m on their VCPU.
                for (s, a) in self.assigned.iter().enumerate() {
                    if let Some(i) = a {
                        if ready.contains(i) {
                            want[s] = Some(*i);
                        }
                    }
                }
                for i in ready {
                    if want.contains(&Some(i)) {
                        continue;
                    }
                    let s = want.iter().position(Option::is_none).expect("a free VCPU");
                    want[s] = Some(i);
                }
            }
        }
        self.assigned = want;
        for s in 0..n {
            let awake = self.background || self.assigned[s].is_some();
            if awake != self.awake[s] {
                self.awake[s] = awake;
                if awake {
                    sim.wake(self.vcpus[s]);
                } else {
                    sim.block(self.vcpus[s]);
                }
            }
        }
    }

    /// The earliest deadline of a pending job.
    fn next_deadline(&self) -> i64 {
        self.tasks
            .iter()
            .filter_map(|t| t.jobs.front().map(|j| j.deadline))
            .min()
            .unwrap_or(i64::MAX)
    }

    /// Whether a pending job is past its deadline at `now` (it will miss).
    fn overdue(&self, now: i64) -> bool {
        self.next_deadline() < now
            || self.tasks.iter().any(|t| {
                t.jobs
                    .front()
                    .is_some_and(|j| j.deadline == now && j.remaining > 0)
            })
    }

    /// Counts the jobs past their deadline still unfinished at the end of a run.
    fn finish(&mut self, now: i64) {
        for t in &mut self.tasks {
            t.stats.misses += t.jobs.iter().filter(|j| j.deadline < now).count() as u64;
            t.jobs.clear();
        }
    }
}

/// Whether host unit `u` is current and runnable on some PCPU.
fn running<I: Instance>(sim: &Sim<I>, u: usize) -> bool {
    sim.runnable(u) && sim.cpu_of(u).is_some()
}

/// Runs the host and the guests together until `end` ns; then counts unfinished jobs past
/// their deadline as misses. Call once per run (the guests' first dispatch happens here).
pub fn run<I: Instance>(sim: &mut Sim<I>, guests: &mut [Guest], end: i64) {
    drive(sim, guests, end, false);
}

/// [`run`], stopping at the first deadline miss (a job unfinished at its deadline); returns
/// whether the run reached `end` without one.
pub fn run_until_miss<I: Instance>(sim: &mut Sim<I>, guests: &mut [Guest], end: i64) -> bool {
    drive(sim, guests, end, true)
}

fn drive<I: Instance>(sim: &mut Sim<I>, guests: &mut [Guest], end: i64, stop: bool) -> bool {
    for g in guests.iter_mut() {
        g.poll(sim);
    }
    sim.settle();
    let mut same_time = 0;
    while sim.now() < end {
        let mut t = sim.next_event().min(end);
        for g in guests.iter() {
            t = t.min(g.next_event(sim));
            if stop {
                t = t.min(g.next_deadline());
            }
        }
        let t = t.max(sim.now());
        same_time = if t == sim.now() { same_time + 1 } else { 0 };
        assert!(same_time < 10_000, "no progress at {} ns", sim.now());
        let dt = t - sim.now();
        let running_slots: Vec<Vec<usize>> = guests
            .iter()
            .map(|g| {
                (0..g.vcpus.len())
                    .filter(|&s| running(sim, g.vcpus[s]))
                    .collect()
            })
            .collect();
        sim.advance_to(t);
        for (g, r) in guests.iter_mut().zip(&running_slots) {
            g.progress(r, dt);
        }
        sim.poll();
        for g in guests.iter_mut() {
            g.poll(sim);
        }
        if stop
            && guests
                .iter()
                .any(|g| g.overdue(sim.now()) || g.misses() > 0)
        {
            return false;
        }
        sim.settle();
    }
    for g in guests.iter_mut() {
        g.finish(sim.now());
    }
    guests.iter().all(|g| g.misses() == 0)
}

/// A guest VM given by its interface, on a host built to give each VCPU its worst-case
/// supply (the periodic resource model's: a budget at the start of one period, then at the
/// end of the next, a blackout of `2 (Pi - Theta)`), with every task released at once at
/// the start of that blackout, periodic, every job taking its WCET.
///
/// Each VCPU `(Pi, Theta)` gets a PCPU of its own (rt-partition, EDF, deferrable server),
/// shared with an adversary unit `(2 Pi, Pi - Theta)`. rtsched, as rt.c, aligns deadlines
/// to multiples of the period from time 0, so the VCPU's deadlines are `k Pi` and the
/// adversary's `2 j Pi`. The adversary's jobs of `Pi - Theta` arrive 1 us before every odd
/// VCPU period: the VCPU has spent its budget, so the adversary takes the PCPU and keeps it
/// into the odd period (equal deadlines there: rtsched, as rt.c, preempts only for a
/// strictly higher priority), and the VCPU gets its budget only at the end of that period.
/// In even periods the adversary has nothing to do and the VCPU, which never blocks
/// ([`Guest::background`]), spends its budget at the start. Tasks of a VCPU are released at
/// `2 Pi + Theta`, the start of a blackout of `2 (Pi - Theta) - 1 us`.
pub fn worst_case_host(
    vm: &csa::VmInterface,
    tasks: &[Task],
    priority: Priority,
    placement: Placement,
) -> (Sim, Guest) {
    use rtsched::{CpuMask, Params, Policy, ServerKind, Topology};
    const EARLY: i64 = 1_000;
    let n = vm.vcpus.len();
    let policy = Policy {
        topology: Topology::Partition,
        server: ServerKind::Deferrable,
        ..Policy::default()
    };
    let mut sim = Sim::new(n.max(1), 4, policy);
    for (s, v) in vm.vcpus.iter().enumerate() {
        let gap = v.period - v.budget;
        if gap >= rtsched::params::MIN_BUDGET {
            sim.add_unit(
                Params {
                    period: 2 * v.period,
                    budget: gap,
                    extratime: false,
                },
                CpuMask::single(s),
                crate::sim::Work::Periodic {
                    period: 2 * v.period,
                    exec: gap,
                    offset: v.period - EARLY,
                },
            );
        }
    }
    let units: Vec<usize> = vm
        .vcpus
        .iter()
        .enumerate()
        .map(|(s, v)| sim.add_unit(v.params(), CpuMask::single(s), crate::sim::Work::Manual))
        .collect();
    let mut binding = vec![0; tasks.len()];
    for (s, v) in vm.vcpus.iter().enumerate() {
        for &i in &v.tasks {
            binding[i] = s;
        }
    }
    let specs: Vec<GuestTask> = tasks
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let v = match placement {
                Placement::Partitioned => &vm.vcpus[binding[i]],
                // Global: the VCPUs share the period; the smallest budget's blackout.
                Placement::Global => vm.vcpus.iter().min_by_key(|v| v.budget).expect("VCPU"),
            };
            GuestTask::worst(t, 2 * v.period + v.budget)
        })
        .collect();
    let mut g = Guest::new(units, priority, placement, &specs, &binding, 0);
    g.background = true;
    (sim, g)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rtsched::{CpuMask, Params, Policy};

    const MS: i64 = 1_000_000;

    fn full_vcpus(n: usize) -> (Sim, Vec<usize>) {
        let mut sim = Sim::new(n, n, Policy::default());
        let units = (0..n)
            .map(|c| {
                sim.add_unit(
                    Params {
                        period: 10 * MS,
                        budget: 10 * MS,
                        extratime: false,
                    },
                    CpuMask::single(c),
                    Work::Manual,
                )
            })
            .collect();
        (sim, units)
    }

    use crate::sim::Work;

    #[test]
    fn response_times_on_a_full_vcpu_are_the_execution_times() {
        // Two tasks on one full VCPU under EDF, released together: (20 ms, 3 ms) and
        // (30 ms, 5 ms, deadline 10 ms). The second has the earlier deadline and runs
        // first: responses 5 ms and 8 ms at time 0; later releases are shifted, never more.
        let (mut sim, units) = full_vcpus(1);
        let tasks = [
            GuestTask::worst(Task::new(20 * MS, 3 * MS), 0),
            GuestTask::worst(
                Task {
                    period: 30 * MS,
                    wcet: 5 * MS,
                    deadline: 10 * MS,
                },
                0,
            ),
        ];
        let mut g = Guest::new(units, Priority::Edf, Placement::Global, &tasks, &[0, 0], 1);
        run(&mut sim, std::slice::from_mut(&mut g), 600 * MS);
        let (a, b) = (g.stats(0), g.stats(1));
        assert_eq!((a.misses, b.misses), (0, 0));
        assert_eq!(a.max_response, 8 * MS);
        assert_eq!(b.max_response, 5 * MS);
        // Releases at 0, 20, ..., 600 (the last not finished) and 0, 30, ..., 600.
        assert_eq!((a.released, a.completed), (31, 30));
        assert_eq!((b.released, b.completed), (21, 20));
        // The VCPU ran exactly the work done, and blocked in between.
        assert_eq!(sim.stats(0).run_ns, 30 * 3 * MS + 20 * 5 * MS);
    }

    #[test]
    fn jitter_and_variable_execution_are_sporadic_and_deterministic() {
        let go = |seed| {
            let (mut sim, units) = full_vcpus(2);
            let tasks: Vec<GuestTask> = (0..4)
                .map(|k| GuestTask {
                    task: Task::new((10 + 5 * k) * MS, 4 * MS),
                    offset: k * MS,
                    jitter: 3 * MS,
                    exec_min: MS,
                })
                .collect();
            let mut g = Guest::new(
                units,
                Priority::Edf,
                Placement::Global,
                &tasks,
                &[0; 4],
                seed,
            );
            g.record_releases = true;
            run(&mut sim, std::slice::from_mut(&mut g), 2_000 * MS);
            g
        };
        let g = go(5);
        let again = go(5);
        assert_eq!(g.releases, again.releases);
        assert_ne!(g.releases, go(6).releases);
        for k in 0..4 {
            let rel: Vec<i64> = g
                .releases
                .iter()
                .filter(|r| r.0 == k)
                .map(|r| r.1)
                .collect();
            let gaps: Vec<i64> = rel.windows(2).map(|w| w[1] - w[0]).collect();
            let period = (10 + 5 * k as i64) * MS;
            assert!(gaps.iter().all(|&d| d >= period && d <= period + 3 * MS));
            // Jitter really varies the gaps.
            assert!(gaps.iter().any(|&d| d > period));
            assert!(g.stats(k).max_response <= 4 * MS * 2);
        }
        // Utilisation at most 0.4 + 0.27 + 0.2 + 0.16 on 2 full VCPUs: no misses.
        assert_eq!(g.misses(), 0);
    }

    #[test]
    fn partitioned_guest_keeps_tasks_on_their_vcpu() {
        // Two tasks bound to VCPU 1 of two full VCPUs: VCPU 0 never runs.
        let (mut sim, units) = full_vcpus(2);
        let tasks = [
            GuestTask::worst(Task::new(10 * MS, 2 * MS), 0),
            GuestTask::worst(Task::new(10 * MS, 3 * MS), 0),
        ];
        let mut g = Guest::new(
            units,
            Priority::Rm,
            Placement::Partitioned,
            &tasks,
            &[1, 1],
            0,
        );
        run(&mut sim, std::slice::from_mut(&mut g), 100 * MS);
        assert_eq!(sim.stats(0).run_ns, 0);
        assert_eq!(sim.stats(1).run_ns, 10 * 5 * MS);
        // RM tie on the period: task 0 first (index), task 1 responds after both.
        assert_eq!(
            (g.stats(0).max_response, g.stats(1).max_response),
            (2 * MS, 5 * MS)
        );
    }
}
