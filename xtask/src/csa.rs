//! `cargo xtask csa`: from the real-time tasks inside VMs to `xl sched-rtds` parameters.
//!
//! Reads a TOML or JSON description of the host and of each VM's tasks and guest scheduler
//! (format below and in the README), computes each VCPU's (budget, period) by compositional
//! scheduling analysis (the `csa` crate: PRM for one VCPU, MPR and the global EDF test for
//! several), runs rtsched's own admission test on the result, and prints the interfaces,
//! the verdict and the exact `xl` commands (or all of it as JSON with `--json`); with
//! `--simulate SECONDS`, runs each VM on the real scheduler with worst-case VCPU supply and
//! prints each task's misses and worst response time (exit status 1 on a miss).
//!
//! ```toml
//! [host]
//! pcpus = 4
//! topology = "global"      # rt-global, or "partition" (rt-partition)
//! priority = "edf"         # host priority scheme: "edf" or "dm"
//! server = "deferrable"    # "deferrable" (Xen's RTDS), "periodic" or "cbs"
//!
//! [search]                 # optional: VCPU periods tried (default: 1 ms steps from 1 ms
//! period_min_us = 1000     # to the VM's shortest deadline)
//! period_max_us = 50000
//! period_step_us = 1000
//!
//! [[vm]]
//! name = "rt1"             # the Xen domain name
//! scheduler = "edf"        # guest priority order: "edf" or "rm"
//! placement = "global"     # guest: "global" (one run queue) or "partitioned"
//! vcpus = 2                # the most VCPUs the VM may have
//! tasks = [ { period_us = 100000, wcet_us = 20000 },
//!           { period_us = 50000, wcet_us = 5000, deadline_us = 40000 } ]
//! ```

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use csa::{host_check, vm_interface, HostSpec, Options, Placement, Priority, Task, VmSpec};
use rtsched::{PriorityScheme, ServerKind, Topology};
use serde::{Deserialize, Serialize};

const US: i64 = 1_000;

/// Arguments of `cargo xtask csa`.
#[derive(clap::Args)]
pub struct Args {
    /// The system description (.toml or .json).
    input: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    json: bool,
    /// Also simulate each VM for this many seconds on the real scheduler with every VCPU
    /// given its worst-case supply and all tasks released at the worst moment, and print
    /// each task's misses and worst response time.
    #[arg(long, value_name = "SECONDS")]
    simulate: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Input {
    host: HostIn,
    #[serde(default)]
    search: Option<SearchIn>,
    vm: Vec<VmIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HostIn {
    pcpus: u32,
    #[serde(default)]
    topology: TopologyIn,
    #[serde(default)]
    priority: HostPriority,
    #[serde(default)]
    server: ServerIn,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum ServerIn {
    #[default]
    Deferrable,
    Periodic,
    Cbs,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum TopologyIn {
    #[default]
    Global,
    Partition,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum HostPriority {
    #[default]
    Edf,
    Dm,
}

#[derive(Deserialize, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct SearchIn {
    period_min_us: Option<i64>,
    period_max_us: Option<i64>,
    period_step_us: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VmIn {
    name: String,
    #[serde(default)]
    scheduler: Priority,
    #[serde(default)]
    placement: Placement,
    vcpus: u32,
    tasks: Vec<TaskIn>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskIn {
    period_us: i64,
    wcet_us: i64,
    deadline_us: Option<i64>,
}

/// The JSON output.
#[derive(Serialize)]
struct Output {
    vms: Vec<VmOut>,
    host: HostOut,
    xl: Vec<String>,
}

#[derive(Serialize)]
struct VmOut {
    name: String,
    utilisation: f64,
    bandwidth: f64,
    /// `[period_us, budget_us, m']` of a global guest on two or more VCPUs.
    mpr: Option<[i64; 3]>,
    vcpus: Vec<VcpuOut>,
}

#[derive(Serialize)]
struct VcpuOut {
    period_us: i64,
    budget_us: i64,
    /// Indices of the VM's tasks run on this VCPU (all of them for a global guest).
    tasks: Vec<usize>,
    /// rt-partition: the PCPU rtsched's placement rule puts it on.
    pcpu: Option<usize>,
}

#[derive(Serialize)]
struct HostOut {
    pcpus: u32,
    topology: &'static str,
    priority: &'static str,
    server: &'static str,
    admitted: bool,
    /// Reserved bandwidth per admission test (the pool, or each PCPU), in ppm.
    total_ppm: Vec<u64>,
}

fn parse(path: &PathBuf) -> Result<Input> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path:?}"))?;
    let input: Input = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).with_context(|| format!("{path:?}: not a valid description"))?
    } else {
        toml::from_str(&text).with_context(|| format!("{path:?}: not a valid description"))?
    };
    if input.host.pcpus == 0 || input.host.pcpus as usize > rtsched::MAX_CPUS {
        bail!("host.pcpus must be in 1..={}", rtsched::MAX_CPUS);
    }
    Ok(input)
}

fn specs(input: &Input) -> Result<Vec<(VmSpec, Options)>> {
    let mut out = vec![];
    for vm in &input.vm {
        let mut tasks = vec![];
        for (i, t) in vm.tasks.iter().enumerate() {
            let too_big = |v: i64| v <= 0 || v > i64::MAX / 4 / US;
            if too_big(t.period_us) || too_big(t.wcet_us) || t.deadline_us.is_some_and(too_big) {
                bail!(
                    "VM {}: task {i}: times must be positive microseconds",
                    vm.name
                );
            }
            let task = Task {
                period: t.period_us * US,
                wcet: t.wcet_us * US,
                deadline: t.deadline_us.unwrap_or(t.period_us) * US,
            };
            task.validate()
                .map_err(|e| anyhow::anyhow!("VM {}: task {i}: {e}", vm.name))?;
            tasks.push(task);
        }
        let dmin = tasks.iter().map(|t| t.deadline).min().unwrap_or(1_000 * US);
        let s = input.search.unwrap_or(SearchIn {
            period_min_us: None,
            period_max_us: None,
            period_step_us: None,
        });
        let min = s.period_min_us.unwrap_or(1_000) * US;
        let max = s.period_max_us.map_or(dmin.max(min), |v| v * US);
        let step = s.period_step_us.unwrap_or(1_000) * US;
        if min <= 0 || step <= 0 || max < min {
            bail!("search: need 0 < period_min_us <= period_max_us and period_step_us > 0");
        }
        if (max - min) / step > 100_000 {
            bail!("search: more than 100000 candidate periods; raise period_step_us");
        }
        let mut opts = Options::range(min, max, step);
        opts.periods.retain(|&p| p <= rtsched::params::MAX_PERIOD);
        out.push((
            VmSpec {
                name: vm.name.clone(),
                tasks,
                priority: vm.scheduler,
                placement: vm.placement,
                max_vcpus: vm.vcpus,
            },
            opts,
        ));
    }
    Ok(out)
}

/// Runs the analysis on a description and returns the output.
fn analyse(input: &Input) -> Result<Output> {
    let host = HostSpec {
        pcpus: input.host.pcpus,
        topology: match input.host.topology {
            TopologyIn::Global => Topology::Global,
            TopologyIn::Partition => Topology::Partition,
        },
        priority: match input.host.priority {
            HostPriority::Edf => PriorityScheme::Edf,
            HostPriority::Dm => PriorityScheme::Dm,
        },
        server: match input.host.server {
            ServerIn::Deferrable => ServerKind::Deferrable,
            ServerIn::Periodic => ServerKind::Periodic,
            ServerIn::Cbs => ServerKind::Cbs,
        },
    };
    let mut ifs = vec![];
    for (spec, opts) in specs(input)? {
        ifs.push(vm_interface(&spec, &opts).map_err(anyhow::Error::msg)?);
    }
    let hc = host_check(&ifs, host);
    let mut xl = vec![];
    let mut vms = vec![];
    for (d, vm) in ifs.iter().enumerate() {
        let mut vcpus = vec![];
        for (v, c) in vm.vcpus.iter().enumerate() {
            let pcpu = hc.placement.as_ref().map(|p| p[d][v]);
            xl.push(format!(
                "xl sched-rtds -d {} -v {v} -p {} -b {} -e 0",
                vm.name,
                c.period / US,
                c.budget / US
            ));
            if let Some(p) = pcpu {
                xl.push(format!("xl vcpu-pin {} {v} {p}", vm.name));
            }
            vcpus.push(VcpuOut {
                period_us: c.period / US,
                budget_us: c.budget / US,
                tasks: c.tasks.clone(),
                pcpu,
            });
        }
        vms.push(VmOut {
            name: vm.name.clone(),
            utilisation: vm.utilisation,
            bandwidth: vm.bandwidth(),
            mpr: vm.mpr.map(|m| [m.period / US, m.budget / US, m.m]),
            vcpus,
        });
    }
    Ok(Output {
        vms,
        host: HostOut {
            pcpus: host.pcpus,
            topology: match host.topology {
                Topology::Global => "rt-global",
                Topology::Partition => "rt-partition",
            },
            priority: match host.priority {
                PriorityScheme::Edf => "edf",
                PriorityScheme::Dm => "dm",
            },
            server: match host.server {
                ServerKind::Deferrable => "deferrable",
                ServerKind::Periodic => "periodic",
                ServerKind::Cbs => "cbs",
            },
            admitted: hc.admitted,
            total_ppm: hc.verdicts.iter().map(|v| v.total_ppm).collect(),
        },
        xl,
    })
}

fn print_text(input: &Input, out: &Output) {
    for (vm, vin) in out.vms.iter().zip(&input.vm) {
        let guest = match (vin.placement, vin.scheduler) {
            (Placement::Global, Priority::Edf) => "gEDF",
            (Placement::Global, Priority::Rm) => "gRM",
            (Placement::Partitioned, Priority::Edf) => "pEDF",
            (Placement::Partitioned, Priority::Rm) => "pRM",
        };
        println!(
            "VM {} (guest {guest}, {} tasks, U = {:.4}): {} VCPU(s), bandwidth {:.4}",
            vm.name,
            vin.tasks.len(),
            vm.utilisation,
            vm.vcpus.len(),
            vm.bandwidth
        );
        if let Some([p, b, m]) = vm.mpr {
            println!("  MPR <Pi, Theta, m'> = <{p} us, {b} us, {m}>, split evenly");
        }
        for (v, c) in vm.vcpus.iter().enumerate() {
            let on = c.pcpu.map(|p| format!(", PCPU {p}")).unwrap_or_default();
            println!(
                "  vcpu {v}: period {} us, budget {} us ({:.4}){on}; tasks {:?}",
                c.period_us,
                c.budget_us,
                c.budget_us as f64 / c.period_us as f64,
                c.tasks
            );
        }
    }
    let h = &out.host;
    let totals: Vec<String> = h
        .total_ppm
        .iter()
        .map(|t| format!("{:.4}", *t as f64 / 1e6))
        .collect();
    println!(
        "host: {} {} {} server on {} PCPU(s), reserved {}: {}",
        h.topology,
        h.priority.to_uppercase(),
        h.server,
        h.pcpus,
        totals.join(" / "),
        if h.admitted {
            "admitted by rtsched's admission test"
        } else {
            "REFUSED by rtsched's admission test"
        }
    );
    println!("xl commands (each domain created with as many VCPUs as listed above):");
    for c in &out.xl {
        println!("  {c}");
    }
}

/// Simulates each VM on its worst-case host (`model_tests::guest::worst_case_host`).
fn simulate(input: &Input, secs: u32) -> Result<()> {
    println!("worst-case simulation, {secs} s per VM:");
    let mut total = 0;
    for (spec, opts) in specs(input)? {
        let ifc = vm_interface(&spec, &opts).map_err(anyhow::Error::msg)?;
        let (mut sim, mut g) =
            model_tests::guest::worst_case_host(&ifc, &spec.tasks, spec.priority, spec.placement);
        sim.set_check(false);
        model_tests::guest::run(
            &mut sim,
            std::slice::from_mut(&mut g),
            secs as i64 * 1_000_000_000,
        );
        for (i, t) in spec.tasks.iter().enumerate() {
            let st = g.stats(i);
            total += st.misses;
            println!(
                "  {} task {i} (period {} us, wcet {} us, deadline {} us): {} jobs, {} missed, worst response {} us",
                spec.name,
                t.period / US,
                t.wcet / US,
                t.deadline / US,
                st.released,
                st.misses,
                st.max_response / US
            );
        }
    }
    if total > 0 {
        bail!("{total} deadline misses in the worst-case simulation");
    }
    Ok(())
}

/// `cargo xtask csa`.
pub fn run(a: &Args) -> Result<()> {
    let input = parse(&a.input)?;
    let out = analyse(&input)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_text(&input, &out);
    }
    if let Some(secs) = a.simulate {
        simulate(&input, secs)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_toml(s: &str) -> Result<Output> {
        let input: Input = toml::from_str(s)?;
        analyse(&input)
    }

    #[test]
    fn example_partitioned_guest_on_partitioned_host() {
        // One pEDF VM with the two tasks of the PRM example (ms scaled to us x 1000):
        // (50 ms, 7 ms) and (75 ms, 9 ms), periods searched 10 ms only: Theta = 3 ms by
        // hand (prm::tests::two_task_example_by_hand, in units of 1 ms).
        let out = run_toml(
            r#"
            [host]
            pcpus = 1
            topology = "partition"
            [search]
            period_min_us = 10000
            period_max_us = 10000
            [[vm]]
            name = "a"
            scheduler = "edf"
            placement = "partitioned"
            vcpus = 1
            tasks = [ { period_us = 50000, wcet_us = 7000 }, { period_us = 75000, wcet_us = 9000 } ]
            "#,
        )
        .unwrap();
        let v = &out.vms[0].vcpus[0];
        // With 1 us budgets, b ms for Pi = 10 ms: at each dbf step t,
        // sbf(t) = y b + max(0, t - 2(10 - b) - 10 y), y = floor((t - 10 + b) / 10):
        //   t = 50 (dbf 7): 4b >= 7; t = 75 (16): 8b - 5 >= 16, b >= 2.625;
        //   t = 100 (23): 9b, b >= 2.556; t = 150 (39): 14b >= 39, b >= 2.7857 (binding);
        //   t = 200 (46): 19b; t = 225 (55): 23b - 5, b >= 2.609; the horizon
        //   2b(10 - b)/10 / (b/10 - 0.26) = 216 ms ends the check. So 2786 us
        //   (14 * 2.785 = 38.99 < 39).
        assert_eq!((v.period_us, v.budget_us), (10_000, 2_786));
        assert!(out.host.admitted);
        assert_eq!(
            out.xl,
            vec![
                "xl sched-rtds -d a -v 0 -p 10000 -b 2786 -e 0",
                "xl vcpu-pin a 0 0"
            ]
        );
    }

    #[test]
    fn json_and_toml_descriptions_agree() {
        let json = r#"{"host": {"pcpus": 2, "topology": "global", "server": "cbs"},
            "search": {"period_min_us": 5000, "period_max_us": 20000, "period_step_us": 5000},
            "vm": [{"name": "g", "scheduler": "edf", "placement": "global", "vcpus": 2,
                    "tasks": [{"period_us": 40000, "wcet_us": 12000},
                              {"period_us": 40000, "wcet_us": 12000},
                              {"period_us": 60000, "wcet_us": 30000, "deadline_us": 50000}]}]}"#;
        let a = analyse(&serde_json::from_str::<Input>(json).unwrap()).unwrap();
        let b = run_toml(
            r#"
            [host]
            pcpus = 2
            topology = "global"
            server = "cbs"
            [search]
            period_min_us = 5000
            period_max_us = 20000
            period_step_us = 5000
            [[vm]]
            name = "g"
            scheduler = "edf"
            placement = "global"
            vcpus = 2
            tasks = [ { period_us = 40000, wcet_us = 12000 }, { period_us = 40000, wcet_us = 12000 },
                      { period_us = 60000, wcet_us = 30000, deadline_us = 50000 } ]
            "#,
        )
        .unwrap();
        assert_eq!(a.xl, b.xl);
        // U = 1.1: a global guest on two VCPUs of one period, budgets split evenly.
        assert_eq!(a.vms[0].vcpus.len(), 2);
        assert_eq!(a.vms[0].mpr.map(|m| m[2]), Some(2));
        let (x, y) = (&a.vms[0].vcpus[0], &a.vms[0].vcpus[1]);
        assert_eq!(x.period_us, y.period_us);
        assert!((x.budget_us - y.budget_us).abs() <= 1);
        assert_eq!(a.host.server, "cbs");
    }

    #[test]
    fn bad_input_is_refused_clearly() {
        let e = run_toml(
            r#"
            [host]
            pcpus = 1
            [[vm]]
            name = "a"
            vcpus = 1
            tasks = [ { period_us = 100, wcet_us = 200 } ]
            "#,
        )
        .err()
        .unwrap();
        assert!(format!("{e:#}").contains("wcet <= deadline"), "{e:#}");
        let e = toml::from_str::<Input>("[host]\npcpus = 1\nbogus = 2\nvm = []")
            .err()
            .unwrap();
        assert!(e.to_string().contains("bogus"), "{e}");
    }

    #[test]
    fn overload_is_reported_refused() {
        // Two VMs each needing most of a PCPU on one PCPU.
        let out = run_toml(
            r#"
            [host]
            pcpus = 1
            topology = "partition"
            [search]
            period_min_us = 10000
            period_max_us = 10000
            [[vm]]
            name = "a"
            vcpus = 1
            tasks = [ { period_us = 100000, wcet_us = 60000 } ]
            [[vm]]
            name = "b"
            vcpus = 1
            tasks = [ { period_us = 100000, wcet_us = 60000 } ]
            "#,
        )
        .unwrap();
        assert!(!out.host.admitted);
    }
}
