//! From a VM's tasks to its VCPUs, and from all VMs' VCPUs to the host's verdict.
//!
//! - One VCPU (a partitioned guest's VCPU, or a global guest that needs only one): the least
//!   budget for each candidate period under the PRM test of the guest's priority order
//!   ([`crate::prm`]), and the period of least bandwidth (ties: the longer period, fewer
//!   host events). CARTS searches the same way: every period of a range, the least budget
//!   for each.
//! - A partitioned guest (pEDF, pRM): tasks are packed onto VCPUs as in the RT-Xen
//!   dissertation (section 3.3.1): each task, in order of decreasing utilisation, goes to
//!   the VCPU of largest current bandwidth that can still schedule it; a new VCPU is opened
//!   when none can.
//! - A global guest (gEDF) on `m' >= 2` VCPUs: for each `m'` from `ceil(U)` to the VM's
//!   VCPU count and each candidate period, the least total budget `Theta` whose even split
//!   passes the global EDF test ([`crate::mpr`]); the least bandwidth wins (ties: fewer
//!   VCPUs, then the longer period). The MPR `<Pi, Theta, m'>` is reported with it.
//! - The host ([`host_check`]): rtsched's own admission test ([`rtsched::admission`]) over
//!   all VCPUs, after placing them on PCPUs with rtsched's placement rule
//!   ([`rtsched::partition::place`]) when the host is partitioned.

use crate::mpr::{gedf_schedulable, split, Mpr, VcpuSupply};
use crate::prm::{min_budget, schedulable, Prm};
use crate::task::{utilisation, Placement, Priority, Task};
use rtsched::admission::{verdict, Verdict};
use rtsched::partition::{place, PcpuLoad};
use rtsched::{CpuMask, Params, Policy, PriorityScheme, ServerKind, Topology};

/// A VM: its tasks and its guest scheduler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmSpec {
    /// Name (the Xen domain name, used in the `xl` commands).
    pub name: String,
    /// Guest tasks.
    pub tasks: Vec<Task>,
    /// Guest priority order.
    pub priority: Priority,
    /// Guest placement of tasks on VCPUs.
    pub placement: Placement,
    /// The most VCPUs the VM may have.
    pub max_vcpus: u32,
}

/// Search options.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Candidate VCPU periods, ns.
    pub periods: Vec<i64>,
    /// Budget granularity, ns (`xl sched-rtds` takes microseconds).
    pub quantum: i64,
    /// Smallest budget Xen accepts, ns.
    pub min_budget: i64,
}

impl Options {
    /// Every multiple of `step` in `[min, max]`, budgets in microseconds, Xen's 10 us least
    /// budget.
    pub fn range(min: i64, max: i64, step: i64) -> Options {
        let step = step.max(1);
        let mut periods = vec![];
        let mut p = min.max(rtsched::params::MIN_PERIOD);
        while p <= max {
            periods.push(p);
            p += step;
        }
        Options {
            periods,
            quantum: 1_000,
            min_budget: rtsched::params::MIN_BUDGET,
        }
    }
}

/// One VCPU of an interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VcpuIf {
    /// Period, ns.
    pub period: i64,
    /// Budget, ns.
    pub budget: i64,
    /// Indices (into the VM's tasks) of the tasks bound to this VCPU; all tasks for a global
    /// guest.
    pub tasks: Vec<usize>,
}

impl VcpuIf {
    /// rtsched parameters (no extratime: the analysis needs none).
    pub fn params(&self) -> Params {
        Params {
            period: self.period,
            budget: self.budget,
            extratime: false,
        }
    }
}

/// A VM's interface.
#[derive(Clone, Debug, PartialEq)]
pub struct VmInterface {
    /// The VM's name.
    pub name: String,
    /// Its VCPUs.
    pub vcpus: Vec<VcpuIf>,
    /// The MPR of a global guest on two or more VCPUs.
    pub mpr: Option<Mpr>,
    /// Total utilisation of its tasks.
    pub utilisation: f64,
}

impl VmInterface {
    /// Total bandwidth of the VCPUs.
    pub fn bandwidth(&self) -> f64 {
        self.vcpus
            .iter()
            .map(|v| v.budget as f64 / v.period as f64)
            .sum()
    }
}

/// The least-bandwidth single VCPU for `tasks` (budget, period), if any.
pub fn one_vcpu(tasks: &[Task], prio: Priority, opts: &Options) -> Option<Prm> {
    let mut best: Option<Prm> = None;
    for &p in &opts.periods {
        let Some(b) = min_budget(p, opts.quantum, opts.min_budget, |r| {
            schedulable(tasks, r, prio)
        }) else {
            continue;
        };
        let r = Prm {
            period: p,
            budget: b,
        };
        // Smaller bandwidth, or equal and a longer period.
        if best.is_none_or(|o| {
            let (x, y) = (
                r.budget as i128 * o.period as i128,
                o.budget as i128 * r.period as i128,
            );
            x < y || (x == y && r.period > o.period)
        }) {
            best = Some(r);
        }
    }
    best
}

/// Computes the interface of `vm`.
pub fn vm_interface(vm: &VmSpec, opts: &Options) -> Result<VmInterface, String> {
    for t in &vm.tasks {
        t.validate()?;
    }
    if vm.max_vcpus == 0 {
        return Err(format!("VM {}: needs at least one VCPU", vm.name));
    }
    if opts.periods.is_empty() {
        return Err("no candidate VCPU period".into());
    }
    let vcpus = match vm.placement {
        Placement::Partitioned => partitioned(vm, opts)?,
        Placement::Global => return global(vm, opts),
    };
    Ok(VmInterface {
        name: vm.name.clone(),
        vcpus,
        mpr: None,
        utilisation: utilisation(&vm.tasks),
    })
}

fn partitioned(vm: &VmSpec, opts: &Options) -> Result<Vec<VcpuIf>, String> {
    let mut order: Vec<usize> = (0..vm.tasks.len()).collect();
    // Decreasing utilisation (exact comparison C_i T_j > C_j T_i), then task order.
    order.sort_by(|&i, &j| {
        let (a, b) = (&vm.tasks[i], &vm.tasks[j]);
        (b.wcet as i128 * a.period as i128)
            .cmp(&(a.wcet as i128 * b.period as i128))
            .then(i.cmp(&j))
    });
    let mut bins: Vec<(Vec<usize>, Prm)> = vec![];
    for i in order {
        let mut best: Option<(usize, Prm)> = None;
        // Largest current bandwidth first (best fit).
        let mut by_bw: Vec<usize> = (0..bins.len()).collect();
        by_bw.sort_by(|&a, &b| {
            let (x, y) = (bins[a].1, bins[b].1);
            (y.budget as i128 * x.period as i128)
                .cmp(&(x.budget as i128 * y.period as i128))
                .then(a.cmp(&b))
        });
        for b in by_bw {
            let tasks: Vec<Task> = bins[b].0.iter().chain([&i]).map(|&k| vm.tasks[k]).collect();
            if let Some(r) = one_vcpu(&tasks, vm.priority, opts) {
                best = Some((b, r));
                break;
            }
        }
        match best {
            Some((b, r)) => {
                bins[b].0.push(i);
                bins[b].1 = r;
            }
            None => {
                let r = one_vcpu(&[vm.tasks[i]], vm.priority, opts).ok_or_else(|| {
                    format!(
                        "VM {}: task {i} fits no VCPU with the candidate periods",
                        vm.name
                    )
                })?;
                bins.push((vec![i], r));
            }
        }
    }
    if bins.len() > vm.max_vcpus as usize {
        return Err(format!(
            "VM {}: the tasks need {} VCPUs, the VM has at most {}",
            vm.name,
            bins.len(),
            vm.max_vcpus
        ));
    }
    if bins.is_empty() {
        return Ok(vec![]);
    }
    Ok(bins
        .into_iter()
        .map(|(mut tasks, r)| {
            tasks.sort_unstable();
            VcpuIf {
                period: r.period,
                budget: r.budget,
                tasks,
            }
        })
        .collect())
}

fn global(vm: &VmSpec, opts: &Options) -> Result<VmInterface, String> {
    let u = utilisation(&vm.tasks);
    let all: Vec<usize> = (0..vm.tasks.len()).collect();
    let mk = |vcpus, mpr| VmInterface {
        name: vm.name.clone(),
        vcpus,
        mpr,
        utilisation: u,
    };
    if vm.tasks.is_empty() {
        return Ok(mk(vec![], None));
    }
    // (bandwidth numerator, denominator, m', period, budgets)
    let mut best: Option<(i128, i128, i64, i64, Vec<i64>)> = None;
    let mut consider = |m: i64, p: i64, budgets: Vec<i64>| {
        let th: i64 = budgets.iter().sum();
        let better = best.as_ref().is_none_or(|(bn, bd, bm, bp, _)| {
            let (x, y) = (th as i128 * bd, bn * p as i128);
            x < y || (x == y && (m < *bm || (m == *bm && p > *bp)))
        });
        if better {
            best = Some((th as i128, p as i128, m, p, budgets));
        }
    };
    if let Some(r) = one_vcpu(&vm.tasks, vm.priority, opts) {
        consider(1, r.period, vec![r.budget]);
    }
    if vm.priority == Priority::Edf {
        let m_lo = (u.ceil() as i64).max(2);
        for m in m_lo..=vm.max_vcpus as i64 {
            for &p in &opts.periods {
                let q = opts.quantum;
                let supply = |th: i64| VcpuSupply {
                    period: p,
                    budgets: split(th, m, p, q),
                };
                let ok = |th: i64| {
                    let s = supply(th);
                    s.budgets.iter().all(|&b| b >= opts.min_budget)
                        && gedf_schedulable(&vm.tasks, &s)
                };
                // Theta in quanta over [1, m' Pi / q]; the test is monotone in Theta (more
                // budget on one VCPU never lowers the supply).
                let hi_units = m * p / q;
                if !ok(hi_units * q) {
                    continue;
                }
                let (mut lo, mut hi) = (1i64, hi_units);
                while lo < hi {
                    let mid = lo + (hi - lo) / 2;
                    if ok(mid * q) {
                        hi = mid;
                    } else {
                        lo = mid + 1;
                    }
                }
                consider(m, p, supply(lo * q).budgets);
            }
        }
    }
    let (_, _, m, p, budgets) = best.ok_or_else(|| {
        format!(
            "VM {}: no interface with at most {} VCPUs and the candidate periods{}",
            vm.name,
            vm.max_vcpus,
            if vm.priority == Priority::Rm {
                " (a global RM guest is analysed on one VCPU only)"
            } else {
                ""
            }
        )
    })?;
    let vcpus = budgets
        .iter()
        .map(|&b| VcpuIf {
            period: p,
            budget: b,
            tasks: all.clone(),
        })
        .collect();
    let mpr = (m >= 2).then(|| Mpr {
        period: p,
        budget: budgets.iter().sum(),
        m,
    });
    Ok(mk(vcpus, mpr))
}

/// The host: its PCPUs and rtsched's policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostSpec {
    /// PCPUs available to the VMs.
    pub pcpus: u32,
    /// rt-global or rt-partition.
    pub topology: Topology,
    /// EDF or DM.
    pub priority: PriorityScheme,
    /// The server mechanism (rtsched's admission test depends on it: a deferrable server's
    /// back-to-back execution needs a stricter test).
    pub server: ServerKind,
}

impl HostSpec {
    /// rtsched's policy for this host, admission on, default class rule.
    pub fn policy(&self) -> Policy {
        Policy {
            topology: self.topology,
            priority: self.priority,
            server: self.server,
            admission: true,
            ..Policy::default()
        }
    }
}

/// The host's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostCheck {
    /// Under rt-partition: the PCPU of each VCPU (`placement[vm][vcpu]`), by rtsched's
    /// placement rule, VMs and VCPUs in order.
    pub placement: Option<Vec<Vec<usize>>>,
    /// rtsched's admission verdict: one for the pool (rt-global) or one per PCPU.
    pub verdicts: Vec<Verdict>,
    /// Whether every verdict is schedulable.
    pub admitted: bool,
}

/// Runs rtsched's admission test on the VCPUs of `vms` (placing them first on an
/// rt-partition host).
pub fn host_check(vms: &[VmInterface], host: HostSpec) -> HostCheck {
    let policy = host.policy();
    match host.topology {
        Topology::Global => {
            let set = vms
                .iter()
                .flat_map(|vm| vm.vcpus.iter().map(VcpuIf::params));
            let v = verdict(&policy, host.pcpus, set);
            HostCheck {
                placement: None,
                admitted: v.schedulable,
                verdicts: vec![v],
            }
        }
        Topology::Partition => {
            let n = host.pcpus.max(1) as usize;
            let mut loads = vec![0u64; n];
            let mut on: Vec<Vec<Params>> = vec![vec![]; n];
            let mut doms: Vec<Vec<usize>> = vec![vec![]; n];
            let allowed = CpuMask::first_n(n);
            let mut placement = vec![];
            for (d, vm) in vms.iter().enumerate() {
                let mut row = vec![];
                for v in &vm.vcpus {
                    let p = v.params();
                    let pl: Vec<PcpuLoad> = (0..n)
                        .map(|c| PcpuLoad {
                            bandwidth_ppm: loads[c],
                            same_domain: doms[c].contains(&d),
                        })
                        .collect();
                    let c = place(&pl, &allowed, None, p.bandwidth_ppm()).unwrap_or(0);
                    loads[c] += p.bandwidth_ppm();
                    doms[c].push(d);
                    on[c].push(p);
                    row.push(c);
                }
                placement.push(row);
            }
            let verdicts: Vec<Verdict> = on
                .iter()
                .map(|ps| verdict(&policy, 1, ps.iter().copied()))
                .collect();
            HostCheck {
                placement: Some(placement),
                admitted: verdicts.iter().all(|v| v.schedulable),
                verdicts,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    fn opts() -> Options {
        Options::range(MS, 10 * MS, MS)
    }

    #[test]
    fn one_task_one_vcpu() {
        // One task (100 ms, 20 ms), candidate periods 1..10 ms. By hand, Pi = 1 ms,
        // Theta = b ms (b < 0.5): sbf(100) = y b + max(0, 100 - 2(1 - b) - y) with
        // y = floor(99 + b) = 99, so 99 b >= 20 needs b >= 0.20202: 203 us (99 * 0.202 =
        // 19.998 < 20). The horizon 2 b (1 - b) / (b - 0.2) = 107.9 ms covers only the
        // step at 100 ms. Pi = 2 ms: y = 49, 49 b >= 20, b = 409 us (0.2045 > 0.203);
        // Pi = 4 ms: y = 24, b = 834 us. So (1 ms, 203 us).
        let vm = VmSpec {
            name: "a".into(),
            tasks: vec![Task::new(100 * MS, 20 * MS)],
            priority: Priority::Edf,
            placement: Placement::Partitioned,
            max_vcpus: 1,
        };
        let i = vm_interface(&vm, &opts()).unwrap();
        assert_eq!(i.vcpus.len(), 1);
        let v = &i.vcpus[0];
        assert_eq!(v.period, MS);
        let r = Prm {
            period: v.period,
            budget: v.budget,
        };
        assert!(r.sbf(100 * MS) >= 20 * MS);
        let less = Prm {
            period: v.period,
            budget: v.budget - 1_000,
        };
        assert!(less.sbf(100 * MS) < 20 * MS);
        assert_eq!(v.budget, 203_000);
    }
}
