//! Simulated schedules for `cargo xtask gantt --sim`: the project's host simulator
//! (`model-tests`' `Sim`, rtsched's scheduler behind it) run event by event, its event log
//! giving the run intervals and a snapshot of every unit after each step giving budgets,
//! levels and deadlines.

use anyhow::{bail, Result};
use model_tests::{Event, Sim, Work};
use rtsched::{CpuMask, Params, Policy};

use crate::gantt::{Chart, Mark, MarkKind, Tracker};

const MS: i64 = 1_000_000;

/// A scenario: its title, the host with its units, their names, and wake-ups to perform
/// (time, unit).
struct Scenario {
    title: String,
    sim: Sim,
    names: Vec<String>,
    wakes: Vec<(i64, usize)>,
}

fn scenario(name: &str) -> Result<Scenario> {
    let p = |budget_ms: i64, period_ms: i64, extratime| Params {
        period: period_ms * MS,
        budget: budget_ms * MS,
        extratime,
    };
    let one = CpuMask::single(0);
    let mut sim = Sim::new(1, 8, Policy::default());
    sim.set_record(true);
    let mut wakes = Vec::new();
    let (title, names) = match name {
        // A deferrable server that sleeps through the start of its period and wakes 6 ms
        // into it with its whole budget: it runs to its deadline and on into its next
        // period, 8 ms back to back (2 budgets in less than a period).
        "late-wake" => {
            sim.add_unit(p(4, 10, false), one, Work::Manual);
            sim.add_unit(p(10, 10, true), one, Work::Busy);
            wakes.push((16 * MS, 0));
            (
                "Simulated deferrable server waking late: ds (4 ms / 10 ms) wakes at 16 ms with its full budget",
                vec!["ds 4/10".to_string(), "bg 10/10 extratime".to_string()],
            )
        }
        "table-4-2" => {
            sim.add_unit(p(4, 10, false), one, Work::Busy);
            sim.add_unit(p(10, 10, true), one, Work::Busy);
            sim.add_unit(p(10, 10, true), one, Work::Busy);
            (
                "Simulated Table 4.2, k = 2: RT VM 4 ms / 10 ms beside two non-RT VMs 10 ms / 10 ms (extratime)",
                vec!["rt 4/10".into(), "nrt1 10/10 extratime".into(), "nrt2 10/10 extratime".into()],
            )
        }
        "unequal" => {
            sim.add_unit(p(4, 10, false), one, Work::Busy);
            sim.add_unit(p(5, 5, true), one, Work::Busy);
            sim.add_unit(p(20, 20, true), one, Work::Busy);
            (
                "Simulated non-RT VMs of unequal periods: RT VM 4 ms / 10 ms, non-RT 5 ms / 5 ms and 20 ms / 20 ms (extratime)",
                vec!["rt 4/10".into(), "nrt1 5/5 extratime".into(), "nrt2 20/20 extratime".into()],
            )
        }
        other => bail!("unknown simulator scenario {other} (late-wake, table-4-2, unequal)"),
    };
    Ok(Scenario {
        title: title.to_string(),
        sim,
        names,
        wakes,
    })
}

/// The chart of a simulated scenario over `[from, from + len)` ns.
pub fn chart(name: &str, from: i64, len: i64) -> Result<Chart> {
    let Scenario {
        title,
        mut sim,
        names,
        mut wakes,
    } = scenario(name)?;
    let end = from + len;
    let mut tr = Tracker::default();
    let n = sim.nr_units();
    let mut seen = 0;
    let mut misses = vec![0u64; n];
    let snap = |sim: &Sim, i: usize| {
        let info = sim
            .inst(sim.unit_inst(i))
            .unit_info(sim.id(i))
            .expect("unit info");
        (info.cur_deadline, info.cur_budget, info.priority_level)
    };
    let mut prev: Vec<(i64, i64, u32)> = (0..n).map(|i| snap(&sim, i)).collect();
    for (i, &(d, b, _)) in prev.iter().enumerate() {
        tr.seen(i, 0, d, b);
        tr.k(i).extratime = sim
            .inst(sim.unit_inst(i))
            .params(sim.id(i))
            .is_ok_and(|p| p.extratime);
    }
    sim.settle();
    loop {
        // The log so far: run intervals and runnability.
        for e in &sim.log()[seen..] {
            match *e {
                Event::Schedule {
                    t, cpu, prev, next, ..
                } if prev != next => {
                    if let Some(p) = prev {
                        let runnable = sim.runnable(p);
                        tr.run_end(p, t, runnable);
                    }
                    if let Some(x) = next {
                        tr.run_start(x, cpu, t);
                    }
                }
                Event::Wake { t, unit } => tr.set_runnable(unit, t, true),
                Event::Block { t, unit } => tr.run_end(unit, t, false),
                _ => {}
            }
        }
        seen = sim.log().len();
        let now = sim.now();
        for (i, p) in prev.iter_mut().enumerate() {
            let s = snap(&sim, i);
            if s.0 != p.0 {
                tr.replenished(i, now, s.0, s.1, s.2);
            } else if s.2 != p.2 || s.1 != p.1 {
                tr.burnt(i, now, s.1, s.2);
            }
            *p = s;
            let m = sim.stats(i).misses;
            if m > misses[i] {
                let cpu = tr.k(i).cpu;
                tr.marks.push(Mark {
                    cpu,
                    t: now,
                    kind: MarkKind::Miss,
                    unit: i,
                });
                misses[i] = m;
            }
        }
        if now >= end {
            break;
        }
        let next_wake = wakes.first().map_or(i64::MAX, |w| w.0);
        let t = sim.next_event().min(end).min(next_wake);
        sim.advance_to(t);
        while let Some(&(wt, u)) = wakes.first() {
            if wt > t {
                break;
            }
            sim.wake(u);
            wakes.remove(0);
        }
        sim.poll();
        sim.settle();
    }
    let (runs, marks) = tr.finish(end);
    Ok(Chart {
        title,
        subtitle: format!(
            "cargo xtask gantt --sim {name}: rtsched's scheduler in the project's host simulator (EDF, deferrable server, 1 PCPU)"
        ),
        t0: from,
        t1: end,
        cpus: Vec::new(),
        units: names,
        runs,
        marks,
    }
    .clip())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gantt::Run;

    /// The run intervals of unit `u`, merged where one ends as the next begins.
    fn merged(c: &Chart, u: usize) -> Vec<(i64, i64)> {
        let mut v: Vec<(i64, i64)> = Vec::new();
        for r in c.runs.iter().filter(|r| r.unit == u) {
            match v.last_mut() {
                Some(l) if l.1 == r.start => l.1 = r.end,
                _ => v.push((r.start, r.end)),
            }
        }
        v
    }

    #[test]
    fn late_wake_runs_two_budgets_back_to_back() {
        let c = chart("late-wake", 0, 50 * MS).unwrap();
        let ds = merged(&c, 0);
        // Woken at 16 ms with a full budget: 4 ms to its deadline at 20 ms, then 4 ms of
        // the next period without a break; afterwards at the start of each period.
        assert_eq!(
            ds,
            vec![(16 * MS, 24 * MS), (30 * MS, 34 * MS), (40 * MS, 44 * MS)]
        );
        let at = |k: MarkKind, t: i64| {
            c.marks
                .iter()
                .any(|m| m.unit == 0 && m.kind == k && m.t == t)
        };
        assert!(at(MarkKind::Replenished, 20 * MS) && at(MarkKind::Deadline, 20 * MS));
        assert!(at(MarkKind::Exhausted, 24 * MS));
        assert!(!c.marks.iter().any(|m| m.kind == MarkKind::Miss));
        // The background unit fills every gap: the PCPU never idles.
        let busy: i64 = c.runs.iter().map(|r| r.end - r.start).sum();
        assert_eq!(busy, 50 * MS);
        let svg = c.svg();
        assert_eq!(
            svg,
            chart("late-wake", 0, 50 * MS).unwrap().svg(),
            "deterministic"
        );
    }

    #[test]
    fn table_4_2_reserves_the_rt_unit_without_misses() {
        let c = chart("table-4-2", 0, 100 * MS).unwrap();
        let rt: i64 = c
            .runs
            .iter()
            .filter(|r| r.unit == 0)
            .map(|r| r.end - r.start)
            .sum();
        assert_eq!(rt, 40 * MS);
        assert!(!c
            .marks
            .iter()
            .any(|m| m.kind == MarkKind::Miss && m.unit == 0));
        let ex = c
            .marks
            .iter()
            .filter(|m| m.kind == MarkKind::Exhausted && m.unit == 0)
            .count();
        assert_eq!(ex, 10, "the RT unit exhausts its budget once per period");
        assert!(c.runs.iter().all(|r: &Run| r.cpu == 0));
    }
}
