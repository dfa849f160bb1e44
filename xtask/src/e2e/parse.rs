//! What one boot of `cargo xtask e2e` reported on the serial console (the `RTSCHED-E2E*`
//! lines printed by `xtask/boot/e2e.sh`).

use std::collections::BTreeMap;

use anyhow::{Context, Result};

/// A scenario and one of its cases (one measurement interval).
pub type Case = (String, String);

/// One measurement interval.
#[derive(Clone, Debug, Default)]
pub struct Interval {
    /// Seconds between the two snapshots.
    pub seconds: f64,
    /// CPU share of each domain, in percent of one PCPU.
    pub share: BTreeMap<String, f64>,
    /// Idle share of each guest PCPU (`cpu1`...), in percent.
    pub idle: BTreeMap<String, f64>,
    /// The PCPU each domain was placed on (`RTSCHED-E2E-PLACE`, rt-partition's choice).
    pub place: BTreeMap<String, u32>,
    /// rtsched's `lost_ns` and `excused_ns` of each instance (`pcpu<n>`, `pool`) right
    /// before and after the measurement (`RTSCHED-E2E-TIMING`).
    pub timing: BTreeMap<String, [Option<(u64, u64)>; 2]>,
}

impl Interval {
    /// Reservation the units of instance `inst` (`pcpu<n>` in rt-partition, `pool` in
    /// rt-global) lost over the measurement and the part of it the host's lateness explains
    /// (rtsched's `lost_ns`, `excused_ns`), in percent of a PCPU; `None` when not measured.
    pub fn loss_pct(&self, inst: &str) -> Option<(f64, f64)> {
        let [Some(a), Some(b)] = *self.timing.get(inst)? else {
            return None;
        };
        let pct =
            |x: u64, y: u64| 100.0 * y.saturating_sub(x) as f64 / 1e9 / self.seconds.max(1e-9);
        Some((pct(a.0, b.0), pct(a.1, b.1)))
    }

    /// The excused part of [`Self::loss_pct`].
    pub fn excused_pct(&self, inst: &str) -> Option<f64> {
        Some(self.loss_pct(inst)?.1)
    }
}

/// The report of one in-guest periodic task (`RTJOB` line of `xtask/boot/rtjob.c`; times in
/// microseconds).
#[derive(Clone, Debug, Default)]
pub struct Job {
    /// The guest.
    pub dom: String,
    /// The task.
    pub task: String,
    /// Period (and deadline).
    pub period: u64,
    /// Execution time.
    pub exec: u64,
    /// Jobs counted.
    pub jobs: u64,
    /// Jobs that finished after their deadline.
    pub misses: u64,
    /// Least response time (the execution time plus the overheads of an undisturbed job).
    pub min: u64,
    /// Largest response time.
    pub max: u64,
    /// Response times rounded down to 100 us, with their counts.
    pub hist: Vec<(u64, u64)>,
}

/// Everything one boot reported.
#[derive(Default)]
pub struct Boot {
    /// Measurements by case.
    pub intervals: BTreeMap<Case, Interval>,
    /// In-guest task reports by case.
    pub jobs: BTreeMap<Case, Vec<Job>>,
    /// Failed steps (`xl` exiting non-zero, read-back differences, missing reports).
    pub failures: Vec<String>,
    /// "now is behind last_start" lines in Xen's log (stock rt.c logs each one).
    pub anomalies: u32,
    /// Scheduler counters from the debug-key dump.
    pub stats: Vec<String>,
    /// Unit placement lines (`<case> <domain> cpu <n>`).
    pub place: Vec<String>,
    /// Remarks of the dom0 script (e.g. a starved guest that never booted).
    pub notes: Vec<String>,
}

fn job(dom: &str, rest: &[&str]) -> Result<Job> {
    // RTJOB NAME period=P exec=C jobs=N misses=M min=R max=R p50=R p99=R hist=R:n,...
    let mut j = Job {
        dom: dom.to_string(),
        task: rest.get(1).context("RTJOB without a name")?.to_string(),
        ..Job::default()
    };
    for kv in &rest[2..] {
        let Some((k, v)) = kv.split_once('=') else {
            continue;
        };
        match k {
            "period" => j.period = v.parse()?,
            "exec" => j.exec = v.parse()?,
            "jobs" => j.jobs = v.parse()?,
            "misses" => j.misses = v.parse()?,
            "min" => j.min = v.parse()?,
            "max" => j.max = v.parse()?,
            "hist" => {
                for p in v.split(',').filter(|p| !p.is_empty()) {
                    let (r, n) = p.split_once(':').context("hist entry")?;
                    j.hist.push((r.parse()?, n.parse()?));
                }
            }
            _ => {}
        }
    }
    Ok(j)
}

/// Parses one boot's serial output.
pub fn parse(text: &str) -> Result<Boot> {
    let mut b = Boot::default();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let f: Vec<&str> = line.split_whitespace().collect();
        let Some(&tag) = f.first() else { continue };
        let case = || -> Option<Case> { Some((f.get(1)?.to_string(), f.get(2)?.to_string())) };
        match tag {
            "RTSCHED-E2E-FAIL" => b.failures.push(f[1..].join(" ")),
            "RTSCHED-E2E-ANOMALIES" => {
                b.anomalies = f.get(1).and_then(|n| n.parse().ok()).unwrap_or(0)
            }
            "RTSCHED-E2E-STAT" => b.stats.push(f[1..].join(" ")),
            "RTSCHED-E2E-PLACE" => {
                b.place.push(f[1..].join(" "));
                // RTSCHED-E2E-PLACE <case> <domain> cpu <n> (the global scenario's cases)
                if let (Some(cs), Some(d), Some(n)) = (f.get(1), f.get(2), f.get(4)) {
                    if let Ok(n) = n.parse() {
                        let iv = b.intervals.entry(("global".into(), cs.to_string()));
                        iv.or_default().place.insert(d.to_string(), n);
                    }
                }
            }
            // RTSCHED-E2E-TIMING <scenario> <case> before|after <instance> <late> <overrun>
            // <lost> <excused>
            "RTSCHED-E2E-TIMING" if f.len() == 9 => {
                let i = usize::from(f[3] == "after");
                let v = (f[7].parse::<u64>()?, f[8].parse::<u64>()?);
                let iv = b.intervals.entry(case().context("case")?).or_default();
                iv.timing.entry(f[4].to_string()).or_default()[i] = Some(v);
            }
            "RTSCHED-E2E-NOTE" => b.notes.push(f[1..].join(" ")),
            "RTSCHED-E2E" | "RTSCHED-E2E-IDLE" if f.len() == 6 => {
                let (cpu, secs): (f64, f64) = (f[4].parse()?, f[5].parse()?);
                let iv = b.intervals.entry(case().context("case")?).or_default();
                iv.seconds = secs;
                let pct = 100.0 * cpu / secs.max(1e-9);
                if tag == "RTSCHED-E2E" {
                    iv.share.insert(f[3].to_string(), pct);
                } else {
                    iv.idle.insert(f[3].to_string(), pct);
                }
            }
            "RTSCHED-E2E-JOB" if f.len() > 5 => {
                let j = job(f[3], &f[4..]).with_context(|| format!("parsing {line}"))?;
                b.jobs.entry(case().context("case")?).or_default().push(j);
            }
            _ => {}
        }
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shares_idle_jobs_and_failures() {
        let t = "RTSCHED-E2E iso k=0 rt 2.000000000 5.000000000\n\
                 RTSCHED-E2E-IDLE iso k=0 cpu1 3.0 5.0\n\
                 RTSCHED-E2E-JOB csa x r1 RTJOB t1 period=20000 exec=2000 jobs=10 misses=1 max=25000 p50=2000 p99=25000 hist=2000:9,25000:1\n\
                 RTSCHED-E2E-FAIL xl unpause rt exited 1\n";
        let b = parse(t).unwrap();
        let iv = &b.intervals[&("iso".to_string(), "k=0".to_string())];
        assert!((iv.share["rt"] - 40.0).abs() < 1e-9 && (iv.idle["cpu1"] - 60.0).abs() < 1e-9);
        assert!((iv.seconds - 5.0).abs() < 1e-9);
        assert_eq!(b.failures, vec!["xl unpause rt exited 1"]);
        let j = &b.jobs[&("csa".to_string(), "x".to_string())][0];
        assert_eq!(
            (j.dom.as_str(), j.task.as_str(), j.misses, j.hist.len()),
            ("r1", "t1", 1, 2)
        );
    }
}
