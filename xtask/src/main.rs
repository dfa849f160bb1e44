//! `cargo xtask`: the programs around rtsched (build checks, Xen build and boot).

mod bench_compare;
mod csa;
mod e2e;
mod gantt;
mod gantt_sim;
mod object;
mod pgo;
mod rtc_check;
mod util;
mod xen;
mod xentrace;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "xtask", about = "rtsched build, check and boot tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Build the release staticlib, link what the exports need and check its hygiene.
    CheckObject(object::Args),
    /// Regenerate include/rtsched.h with cbindgen (or check that it is current).
    Header(object::HeaderArgs),
    /// Fetch Xen 4.17 from Debian, apply xen-patch/ (unless --stock) and build the hypervisor.
    XenBuild(xen::BuildArgs),
    /// Boot the built hypervisor under QEMU with a Debian dom0 and run the scripted xl checks.
    XenBoot(xen::BootArgs),
    /// Run guest scenarios on rtsched and on stock RTDS and compare CPU shares.
    E2e(e2e::Args),
    /// VCPU parameters (budget, period) for the real-time tasks of VMs, by compositional
    /// scheduling analysis, checked against rtsched's admission test; prints the xl commands.
    Csa(csa::Args),
    /// Draw a Gantt chart (SVG) of a simulated schedule or of a xentrace trace.
    Gantt(gantt::Args),
    /// The effect of the working tree's changes on the benchmark against a revision: the two
    /// builds' benchmark binaries run alternately, ratios against rt.c compared in pairs.
    BenchCompare(bench_compare::Args),
    /// Make the profile of rtsched's profile-guided build (if stale) and print its path.
    Pgo(pgo::Args),
    /// The benchmark (`cargo bench -p difftest`) with rtsched built with the profile, as it
    /// ships.
    Bench(pgo::BenchArgs),
    /// Checks that the rt.c of the benchmark and the differential test makes the CPU-mask
    /// calls of Xen's own build of rt.c, hook by hook (needs `cargo xtask xen-build`).
    RtcCheck(rtc_check::Args),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::CheckObject(a) => object::check_object(&a),
        Cmd::Header(a) => object::header(&a),
        Cmd::XenBuild(a) => xen::build(&a),
        Cmd::XenBoot(a) => xen::boot(&a),
        Cmd::E2e(a) => e2e::run(&a),
        Cmd::Csa(a) => csa::run(&a),
        Cmd::Gantt(a) => gantt::run(&a),
        Cmd::BenchCompare(a) => bench_compare::run_compare(&a),
        Cmd::Pgo(a) => pgo::run_pgo(&a),
        Cmd::Bench(a) => pgo::run_bench(&a),
        Cmd::RtcCheck(a) => rtc_check::run_check(&a),
    }
}
