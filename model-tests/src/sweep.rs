//! The schedulability experiment of the RT-Xen dissertation (chapter 3, section 3.3.5), in
//! simulation: random task sets of growing total utilisation, dealt into four VMs, each
//! VM's VCPUs computed by compositional analysis (`csa`), then
//! - "theory": whether the host's admission test accepts those VCPUs (rt-partition: the
//!   VCPUs are placed by rtsched's rule and each PCPU needs `U <= 1`; rt-global: the GFB
//!   test over all VCPUs), and
//! - "simulated": whether every job of every task meets its deadline when the guests run
//!   on the VCPUs and rtsched schedules the VCPUs ([`crate::guest`]), as the dissertation
//!   ran each task set on RT-Xen for 60 s and counted a set schedulable when no job missed.
//!
//! Set-up (section 3.3.2): 5 PCPUs; periods uniform in [350, 850] ms, implicit deadlines,
//! medium-bimodal utilisations (`csa::taskgen`); total utilisations 1.1 to 4.9 in steps of
//! 0.2, 25 task sets each; tasks dealt round robin into 4 VMs; VCPU periods harmonic
//! ([`Config::periods`]); a partitioned guest's tasks packed onto VCPUs by best fit, the
//! VMM's VCPUs onto PCPUs by best fit avoiding same-VM PCPUs and least-loaded on overload.
//! Jobs are released synchronously at time 0 and periodically after, each running its WCET.

use csa::taskgen::{round_robin, Gen};
use csa::{
    host_check, vm_interface, HostSpec, Options, Placement, Priority, Task, VmInterface, VmSpec,
};
use rtsched::{CpuMask, Policy, PriorityScheme, ServerKind, Topology};

use crate::guest::{run_until_miss, Guest, GuestTask};
use crate::sim::{Sim, Work};

const MS: i64 = 1_000_000;

/// The experiment's parameters.
#[derive(Clone, Debug)]
pub struct Config {
    /// PCPUs for the guests (the dissertation: 5 of 6, one for dom0).
    pub pcpus: u32,
    /// VMs per task set (the dissertation: 4).
    pub vms: usize,
    /// Total utilisations.
    pub utils: Vec<f64>,
    /// Task sets per utilisation (seeds 0..sets).
    pub sets: u64,
    /// Simulated time per run, ns (the dissertation ran each set for 60 s).
    pub sim_ns: i64,
    /// Candidate VCPU periods, ns.
    pub periods: Vec<i64>,
}

impl Config {
    /// The dissertation's set-up, each set simulated for `sim_s` seconds.
    pub fn dissertation(sim_s: i64) -> Config {
        Config {
            pcpus: 5,
            vms: 4,
            utils: (0..20).map(|k| 1.1 + 0.2 * k as f64).collect(),
            sets: 25,
            sim_ns: sim_s * 1_000 * MS,
            periods: vec![10 * MS, 20 * MS, 40 * MS],
        }
    }
}

/// A guest scheduler of the experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestSched {
    /// Partitioned EDF.
    PEdf,
    /// Global EDF.
    GEdf,
}

impl GuestSched {
    fn placement(self) -> Placement {
        match self {
            GuestSched::PEdf => Placement::Partitioned,
            GuestSched::GEdf => Placement::Global,
        }
    }
    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            GuestSched::PEdf => "pEDF",
            GuestSched::GEdf => "gEDF",
        }
    }
}

/// A host configuration of the experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostConf {
    /// rt-global (gEDF) or rt-partition (pEDF).
    pub topology: Topology,
    /// Deferrable or periodic server.
    pub server: ServerKind,
    /// VCPUs have extratime (this project's addition: spare time goes to RT VCPUs too).
    pub extratime: bool,
}

impl HostConf {
    /// Short name, e.g. "gEDF/deferrable".
    pub fn name(self) -> String {
        format!(
            "{}/{}{}",
            match self.topology {
                Topology::Global => "gEDF",
                Topology::Partition => "pEDF",
            },
            match self.server {
                ServerKind::Deferrable => "deferrable",
                ServerKind::Periodic => "periodic",
                ServerKind::Cbs => "CBS",
            },
            if self.extratime { "+extratime" } else { "" }
        )
    }
}

/// The four host configurations of the dissertation (Figure 3.8), then this project's
/// additions: extratime (under the default class rule: a VCPU past its budget joins the
/// fair background class), the constant-bandwidth server, and both.
pub fn hosts() -> Vec<HostConf> {
    let h = |topology, server, extratime| HostConf {
        topology,
        server,
        extratime,
    };
    vec![
        h(Topology::Global, ServerKind::Deferrable, false),
        h(Topology::Partition, ServerKind::Deferrable, false),
        h(Topology::Global, ServerKind::Periodic, false),
        h(Topology::Partition, ServerKind::Periodic, false),
        h(Topology::Global, ServerKind::Deferrable, true),
        h(Topology::Global, ServerKind::Cbs, false),
        h(Topology::Partition, ServerKind::Cbs, false),
        h(Topology::Global, ServerKind::Cbs, true),
    ]
}

/// The VMs of one task set under one guest scheduler: their tasks and interfaces (`None`
/// when the analysis finds none within 5 VCPUs per VM).
pub struct Analysed {
    /// Each VM's tasks.
    pub tasks: Vec<Vec<Task>>,
    /// Each VM's interface.
    pub ifs: Option<Vec<VmInterface>>,
}

/// Generates task set `seed` of utilisation `u` and analyses it for `guest`.
pub fn analyse(cfg: &Config, u: f64, seed: u64, guest: GuestSched) -> Analysed {
    let set = Gen::default().taskset(u, seed);
    let tasks = round_robin(&set, cfg.vms);
    let mut opts = Options::range(MS, MS, MS);
    opts.periods = cfg.periods.clone();
    let ifs = tasks
        .iter()
        .enumerate()
        .map(|(d, t)| {
            vm_interface(
                &VmSpec {
                    name: format!("vm{d}"),
                    tasks: t.clone(),
                    priority: Priority::Edf,
                    placement: guest.placement(),
                    max_vcpus: cfg.pcpus,
                },
                &opts,
            )
        })
        .collect::<Result<Vec<_>, _>>()
        .ok();
    Analysed { tasks, ifs }
}

/// Whether the host's admission test accepts the interfaces.
pub fn theory(cfg: &Config, a: &Analysed, host: HostConf) -> bool {
    a.ifs.as_ref().is_some_and(|ifs| {
        host_check(
            ifs,
            HostSpec {
                pcpus: cfg.pcpus,
                topology: host.topology,
                priority: PriorityScheme::Edf,
                server: host.server,
            },
        )
        .admitted
    })
}

/// Simulates the VMs on the host until the first deadline miss; returns whether there was
/// none (false also when there is no interface to run).
pub fn simulate(cfg: &Config, a: &Analysed, guest: GuestSched, host: HostConf) -> bool {
    let Some(ifs) = a.ifs.as_ref() else {
        return false;
    };
    let placement = host_check(
        ifs,
        HostSpec {
            pcpus: cfg.pcpus,
            topology: host.topology,
            priority: PriorityScheme::Edf,
            server: host.server,
        },
    )
    .placement;
    let nvcpus: usize = ifs.iter().map(|i| i.vcpus.len()).sum();
    let policy = Policy {
        topology: host.topology,
        priority: PriorityScheme::Edf,
        server: host.server,
        admission: false,
        ..Policy::default()
    };
    let n = cfg.pcpus as usize;
    let mut sim = Sim::new(n, nvcpus.max(1), policy);
    sim.set_check(false);
    let mut guests = vec![];
    for (d, (ifc, tasks)) in ifs.iter().zip(&a.tasks).enumerate() {
        let units: Vec<usize> = ifc
            .vcpus
            .iter()
            .enumerate()
            .map(|(v, vc)| {
                let mask = match &placement {
                    Some(p) => CpuMask::single(p[d][v]),
                    None => CpuMask::first_n(n),
                };
                let mut p = vc.params();
                p.extratime = host.extratime;
                sim.add_unit(p, mask, Work::Manual)
            })
            .collect();
        let mut binding = vec![0; tasks.len()];
        for (s, v) in ifc.vcpus.iter().enumerate() {
            for &i in &v.tasks {
                binding[i] = s;
            }
        }
        let specs: Vec<GuestTask> = tasks.iter().map(|&t| GuestTask::worst(t, 0)).collect();
        if units.is_empty() {
            continue;
        }
        guests.push(Guest::new(
            units,
            Priority::Edf,
            guest.placement(),
            &specs,
            &binding,
            d as u64,
        ));
    }
    run_until_miss(&mut sim, &mut guests, cfg.sim_ns)
}

/// One curve point: out of `sets` task sets at utilisation `util`, how many were
/// schedulable in theory and in simulation, and the mean total VCPU bandwidth.
#[derive(Clone, Debug, PartialEq)]
pub struct Point {
    /// Total task utilisation.
    pub util: f64,
    /// Task sets.
    pub sets: u64,
    /// Accepted by the admission test.
    pub theory: u64,
    /// Without a miss in simulation.
    pub simulated: u64,
    /// Accepted in theory but missed in simulation (must be 0).
    pub theory_but_missed: u64,
}

/// Results of a sweep: `points[guest][host]` over the utilisations, and the mean total VCPU
/// bandwidth per guest and utilisation (over the sets with an interface).
pub struct Sweep {
    /// Guest schedulers.
    pub guests: Vec<GuestSched>,
    /// Host configurations.
    pub hosts: Vec<HostConf>,
    /// `points[g][h][u]`.
    pub points: Vec<Vec<Vec<Point>>>,
    /// `bandwidth[g][u]`.
    pub bandwidth: Vec<Vec<f64>>,
}

/// Runs the experiment; `progress` is called after each utilisation.
pub fn sweep(cfg: &Config, hosts: &[HostConf], mut progress: impl FnMut(f64)) -> Sweep {
    let guests = vec![GuestSched::PEdf, GuestSched::GEdf];
    let mut points = vec![vec![vec![]; hosts.len()]; guests.len()];
    let mut bandwidth = vec![vec![]; guests.len()];
    for &u in &cfg.utils {
        for (gi, &g) in guests.iter().enumerate() {
            let mut pts: Vec<Point> = hosts
                .iter()
                .map(|_| Point {
                    util: u,
                    sets: cfg.sets,
                    theory: 0,
                    simulated: 0,
                    theory_but_missed: 0,
                })
                .collect();
            let (mut bw, mut nbw) = (0.0, 0);
            for seed in 0..cfg.sets {
                let a = analyse(cfg, u, seed, g);
                if let Some(ifs) = &a.ifs {
                    bw += ifs.iter().map(VmInterface::bandwidth).sum::<f64>();
                    nbw += 1;
                }
                for (hi, &h) in hosts.iter().enumerate() {
                    let th = theory(cfg, &a, h);
                    let ok = simulate(cfg, &a, g, h);
                    let p = &mut pts[hi];
                    p.theory += u64::from(th);
                    p.simulated += u64::from(ok);
                    p.theory_but_missed += u64::from(th && !ok);
                }
            }
            for (hi, p) in pts.into_iter().enumerate() {
                points[gi][hi].push(p);
            }
            bandwidth[gi].push(if nbw > 0 { bw / nbw as f64 } else { f64::NAN });
        }
        progress(u);
    }
    Sweep {
        guests,
        hosts: hosts.to_vec(),
        points,
        bandwidth,
    }
}
