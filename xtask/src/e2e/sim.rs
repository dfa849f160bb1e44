//! Expected CPU shares of always-busy capped servers on one PCPU under preemptive EDF or DM,
//! from a plain simulation (an oracle independent of rtsched's code): the `policy-switch`
//! scenario checks the measured shares against the range this gives over all release
//! phases. Times in microseconds.

/// A server: period and budget (no extratime, always runnable).
#[derive(Clone, Copy, Debug)]
pub struct Server {
    /// Period (the deadline is the period's end).
    pub period: u64,
    /// Budget per period.
    pub budget: u64,
}

/// Shares (fraction of the PCPU) over `horizon`, after a first `horizon` of warm-up, when
/// server i's first period starts at `phase[i]`; `dm`: shorter period first (ties by
/// deadline), else earliest deadline first (ties by period). Time advances in steps of
/// `step`.
pub fn shares(servers: &[Server], phase: &[u64], dm: bool, horizon: u64, step: u64) -> Vec<f64> {
    let n = servers.len();
    let mut deadline: Vec<u64> = phase.to_vec();
    let mut left = vec![0u64; n];
    let mut got = vec![0u64; n];
    let mut t = 0;
    while t < 2 * horizon {
        for i in 0..n {
            if t >= deadline[i] {
                left[i] = servers[i].budget;
                deadline[i] += servers[i].period;
            }
        }
        let key = |i: usize| {
            if dm {
                (servers[i].period, deadline[i])
            } else {
                (deadline[i], servers[i].period)
            }
        };
        if let Some(i) = (0..n).filter(|&i| left[i] > 0).min_by_key(|&i| key(i)) {
            let d = step.min(left[i]);
            left[i] -= d;
            if t >= horizon {
                got[i] += d;
            }
        }
        t += step;
    }
    got.iter().map(|&g| g as f64 / horizon as f64).collect()
}

/// Least and greatest share of each server over the phases of the others relative to the
/// first (every `phase_step` within their periods), simulated over `horizon`.
pub fn share_range(servers: &[Server], dm: bool, horizon: u64, phase_step: u64) -> Vec<(f64, f64)> {
    let mut range = vec![(f64::MAX, f64::MIN); servers.len()];
    let mut phase = vec![0u64; servers.len()];
    loop {
        for (r, s) in range
            .iter_mut()
            .zip(shares(servers, &phase, dm, horizon, 10))
        {
            *r = (r.0.min(s), r.1.max(s));
        }
        // Next phase vector (odometer over servers 1..).
        let mut i = 1;
        loop {
            if i == servers.len() {
                return range;
            }
            phase[i] += phase_step;
            if phase[i] < servers[i].period {
                break;
            }
            phase[i] = 0;
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dm_serves_the_shorter_period_first_in_overload() {
        let s = [
            Server {
                period: 10_000,
                budget: 6_000,
            },
            Server {
                period: 11_000,
                budget: 6_600,
            },
        ];
        let r = share_range(&s, true, 220_000, 1_000);
        assert!(
            (r[0].0 - 0.6).abs() < 1e-3 && (r[0].1 - 0.6).abs() < 1e-3,
            "{r:?}"
        );
        assert!(r[1].1 <= 0.4 + 1e-3);
    }

    #[test]
    fn edf_splits_an_overload_and_within_capacity_serves_every_budget() {
        let s = [
            Server {
                period: 10_000,
                budget: 6_000,
            },
            Server {
                period: 11_000,
                budget: 6_600,
            },
        ];
        let r = share_range(&s, false, 220_000, 1_000);
        assert!(r[0].1 < 0.56 && r[1].0 > 0.44, "{r:?}");
        let ok = [
            Server {
                period: 10_000,
                budget: 4_000,
            },
            Server {
                period: 15_000,
                budget: 9_000,
            },
        ];
        for (r, want) in share_range(&ok, false, 300_000, 1_000)
            .into_iter()
            .zip([0.4, 0.6])
        {
            assert!(
                (r.0 - want).abs() < 0.01 && (r.1 - want).abs() < 0.01,
                "{r:?}"
            );
        }
    }
}
