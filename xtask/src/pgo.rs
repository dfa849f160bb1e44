//! rtsched's profile-guided build: `cargo xtask pgo` (and every build of the object linked
//! into Xen, and `cargo xtask bench`, which call [`profile`]).
//!
//! LLVM lays out and inlines the scheduler's code by the branch counts of a training run
//! (the hot paths of each hook together, the rare ones apart). The profile must come from
//! the code it is used on, function by function (LLVM matches each function's name and
//! control-flow hash), and the object linked into Xen is built for `x86_64-unknown-none`,
//! whose programs cannot run here. So:
//!
//! 1. The object's staticlib is built as [`crate::object`] builds it (same target, profile
//!    `hypervisor`, flags), instrumented (`-Cprofile-generate`, without the profiler's
//!    runtime, which that target lacks), and linked like the object but keeping the
//!    counter sections (`target/pgo/train.o`). Its names are the shipped object's: cargo's
//!    crate hashes do not depend on `RUSTFLAGS`.
//! 2. `difftest`'s `pgo-train` is built for the host with `-Cprofile-generate` (which links
//!    the runtime) and with that object (`RTSCHED_OBJECT`), as a benchmark target, so
//!    that its rtsched crate is the one `cargo bench` builds (which is not the one of a
//!    `cargo build --profile bench`: cargo builds a benchmark's dependencies with
//!    `panic = "unwind"`, and that changes the crate's hash in every name). It plays the
//!    benchmark's workload generator with seeds of its own over every shape, three sizes and
//!    every policy, through the Rust API and through the object's C ABI
//!    (`difftest/benches/pgo-train.rs`).
//! 3. The counters are merged, rtsched's functions alone (`llvm-profdata` of rustup's
//!    `llvm-tools` component, LLVM's own version), into `target/pgo/rtsched.profdata`.
//!
//! The profile is made again when a source it depends on changed (a hash of them, the
//! flags and the compiler's version, in `target/pgo/fingerprint`); nothing of it is
//! committed. The object built with it passes the same hygiene check
//! (`cargo xtask check-object`): the profile moves and inlines code, it adds none.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::object::{build_lib, link_exports, RUSTFLAGS};
use crate::util::{cargo, output, root, run};

/// The flag that makes LLVM name every function of the build the profile has no record of
/// ([`check_profiled`]).
pub const WARN_UNPROFILED: &str = "-Cllvm-args=-pgo-warn-missing-function";

/// Fails if the build of the object (its diagnostics, built with [`WARN_UNPROFILED`]) found
/// a function the profile has no record of, or whose record is of other code (a hash
/// mismatch), other than the panic handler, which the object never calls. A profile that
/// does not match is otherwise silent: the object is then simply built without it (as
/// happened with a training built by `cargo build`, whose crate hashes differ from
/// `cargo bench`'s).
pub fn check_profiled(diagnostics: &str) -> Result<()> {
    let missed: Vec<&str> = diagnostics
        .lines()
        .filter(|l| {
            (l.contains("no profile data available for function") || l.contains("hash mismatch"))
                && !l.contains("rust_begin_unwind")
        })
        .collect();
    if !missed.is_empty() {
        bail!(
            "the profile does not cover {} function(s) of the object, e.g.:\n{}",
            missed.len(),
            missed[..missed.len().min(5)].join("\n")
        );
    }
    Ok(())
}

/// `RTSCHED_PGO=off`: build the object without the profile (for comparisons).
pub fn off() -> bool {
    std::env::var("RTSCHED_PGO").is_ok_and(|v| v == "off")
}

/// The host's target triple.
fn host() -> Result<String> {
    let v = output(Command::new("rustc").arg("-vV"))?;
    v.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .context("rustc -vV names no host")
}

/// `llvm-profdata` of the compiler's own LLVM (rustup's `llvm-tools` component, installed
/// if missing: a download from rustup's server, as for rustfmt and clippy).
fn llvm_profdata() -> Result<PathBuf> {
    let sysroot = output(Command::new("rustc").args(["--print", "sysroot"]))?;
    let tool = Path::new(sysroot.trim())
        .join("lib/rustlib")
        .join(host()?)
        .join("bin/llvm-profdata");
    if !tool.exists() {
        run(Command::new("rustup").args(["component", "add", "llvm-tools"]))?;
    }
    if !tool.exists() {
        bail!(
            "no {} after `rustup component add llvm-tools`",
            tool.display()
        );
    }
    Ok(tool)
}

fn hash_tree(h: &mut DefaultHasher, p: &Path) -> Result<()> {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = fs::read_dir(p)?
            .map(|e| e.map(|e| e.path()))
            .collect::<std::io::Result<_>>()?;
        entries.sort();
        for e in entries {
            hash_tree(h, &e)?;
        }
    } else if p.exists() {
        p.hash(h);
        fs::read(p)?.hash(h);
    }
    Ok(())
}

/// What the profile depends on: the sources of the code trained and of the training, the
/// manifests, the flags and the compiler.
fn fingerprint() -> Result<String> {
    let root = root();
    let mut h = DefaultHasher::new();
    for p in [
        "rtsched",
        "ffi/src",
        "ffi/Cargo.toml",
        "host-model",
        "difftest/src",
        "difftest/benches/pgo-train.rs",
        "difftest/build.rs",
        "difftest/Cargo.toml",
        "Cargo.toml",
        "Cargo.lock",
        "xtask/src/pgo.rs",
        "xtask/src/object.rs",
    ] {
        hash_tree(&mut h, &root.join(p))?;
    }
    RUSTFLAGS.hash(&mut h);
    output(Command::new("rustc").arg("-vV"))?.hash(&mut h);
    Ok(format!("{:016x}", h.finish()))
}

/// The profile of the current sources, made if missing or stale; returns its path.
pub fn profile() -> Result<PathBuf> {
    let dir = root().join("target").join("pgo");
    let out = dir.join("rtsched.profdata");
    let stamp = dir.join("fingerprint");
    let fp = fingerprint()?;
    if out.exists() && fs::read_to_string(&stamp).is_ok_and(|s| s == fp) {
        return Ok(out);
    }
    let tool = llvm_profdata()?;
    let raw = dir.join("raw");
    if raw.exists() {
        fs::remove_dir_all(&raw)?;
    }
    fs::create_dir_all(&raw)?;
    let raw_s = raw.display().to_string();

    eprintln!("pgo: building the instrumented object");
    let gen = dir.join("hv-gen");
    let (lib, _) = build_lib(
        &format!("-Cprofile-generate={raw_s} -Zno-profiler-runtime"),
        &gen,
    )?;
    let obj = dir.join("train.o");
    link_exports(&lib, &gen.join("train-full.o"), &obj, true)?;

    eprintln!("pgo: building the training");
    let host_target = dir.join("host-gen");
    let json = output(
        cargo()
            .current_dir(root())
            .env("RUSTFLAGS", format!("-Cprofile-generate={raw_s}"))
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env("RTSCHED_OBJECT", &obj)
            .args([
                "bench",
                "--no-run",
                "--quiet",
                "-p",
                "difftest",
                "--bench",
                "pgo-train",
                "--message-format=json-render-diagnostics",
            ])
            .arg("--target-dir")
            .arg(&host_target),
    )?;
    let exe = crate::bench_compare::bench_executable(&json, "pgo-train")?;

    eprintln!("pgo: training");
    let said =
        output(Command::new(&exe).env("LLVM_PROFILE_FILE", raw.join("train-%p-%m.profraw")))?;
    eprint!("{said}");
    if !said.contains("through the C ABI") || said.contains("not trained") {
        bail!("the training did not run the object's C ABI");
    }
    run(Command::new(&tool)
        .arg("merge")
        .arg("--function=rtsched")
        .arg("-o")
        .arg(&out)
        .arg(&raw))?;
    fs::write(&stamp, fp)?;
    eprintln!("pgo: profile {}", out.display());
    Ok(out)
}

#[derive(clap::Args)]
pub struct Args {}

/// `cargo xtask pgo`: makes the profile (if stale) and prints its path.
pub fn run_pgo(_: &Args) -> Result<()> {
    println!("{}", profile()?.display());
    Ok(())
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Write docs/results/bench.md and bench.svg (`BENCH_WRITE=1`); the other `BENCH_*`
    /// variables pass through.
    #[arg(long)]
    write: bool,
}

/// `cargo xtask bench`: `cargo bench -p difftest` timing the object linked into Xen, as it
/// ships (`crate::object::build_object`, with the profile), through its C ABI
/// (`RTSCHED_OBJECT`, `difftest/src/bench/object.rs`); its tapes are recorded through the
/// Rust API, built with the same profile (in `target/pgo/bench/`, so that the workspace's
/// own build is not redone), and every replay of the object must reproduce them.
pub fn run_bench(a: &BenchArgs) -> Result<()> {
    let profile = profile()?;
    let object = crate::object::build_object()?;
    let bench = |extra: &[&str]| {
        let mut c = cargo();
        c.current_dir(root())
            .env("RUSTFLAGS", format!("-Cprofile-use={}", profile.display()))
            .env_remove("CARGO_ENCODED_RUSTFLAGS")
            .env("BENCH_PGO", &profile)
            .env("RTSCHED_OBJECT", &object)
            .args(["bench", "-p", "difftest", "--bench", "hooks"])
            .args(extra)
            .arg("--target-dir")
            .arg(root().join("target").join("pgo").join("bench"));
        c
    };
    let json = output(&mut bench(&[
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]))?;
    let exe = crate::bench_compare::bench_executable(&json, "hooks")?;
    check_bench_profiled(&profile, &exe)?;
    let mut c = bench(&[]);
    if a.write {
        c.env("BENCH_WRITE", "1");
    }
    run(&mut c)
}

/// Fails unless the benchmark's rtsched is the one the profile was taken from: its
/// `Scheduler::do_schedule` (a symbol of its own, never inlined into the benchmark's calls)
/// has a record in the profile under the same name. (The object's check is finer,
/// [`check_profiled`]; the benchmark's build also compiles the package's binaries, whose
/// rtsched is built apart, so its diagnostics name functions the profile rightly lacks.)
fn check_bench_profiled(profile: &Path, exe: &Path) -> Result<()> {
    let syms = output(Command::new("nm").arg(exe))?;
    let name = syms
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .find(|s| s.contains("rtsched..sched..Scheduler$GT$11do_schedule"))
        .context("no Scheduler::do_schedule symbol in the benchmark")?;
    let listed = output(
        Command::new(llvm_profdata()?)
            .args(["show", "--all-functions"])
            .arg(profile),
    )?;
    if !listed
        .lines()
        .any(|l| l.trim().trim_end_matches(':') == name)
    {
        bail!(
            "the profile has no record of the benchmark's {name}: its rtsched is not the one \
             trained"
        );
    }
    Ok(())
}
