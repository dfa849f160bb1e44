//! `rtc-check`: the rt.c the benchmark and the differential test run makes the out-of-line
//! CPU-mask calls of Xen's own build of rt.c.
//!
//! The harness (`difftest/build.rs`) compiles rt.c against stubs, with Xen's x86 flags and
//! Xen's masks of `NR_CPUS` 256, whose operations call `__bitmap_and`, `__bitmap_andnot`,
//! `__bitmap_empty`, `__find_first_bit` and `__find_next_bit` out of line. This command
//! compiles rt.c in the Xen tree `cargo xtask xen-build` leaves (`target/xen/rtsched/xen`),
//! with the command Xen's build recorded for `credit.c` (`common/sched/.credit.o.cmd`), and
//! compares, hook by hook (each hook with the static functions it calls), the call sites of
//! those functions in both objects (`objdump -dr`), and the marks of Xen's flags on each
//! hook (an `endbr64` first, no plain `ret`). Allowed: [`CORE_ONLY`], the calls that
//! come from the scheduling core's inline `sched_set_res` (`private.h`), which the stubs
//! reduce to its effect and rtsched's shim calls too in Xen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use clap::Args as ClapArgs;

use crate::util::{cargo, output, root, run};

#[derive(ClapArgs)]
pub struct Args {
    /// The harness's archive (default: the newest `libxenrt.a` of a release build of
    /// `difftest`, built first).
    #[arg(long)]
    harness: Option<PathBuf>,
}

/// The hooks compared (Xen's `sched_rtds_def` entries the benchmark times, and the pick of a
/// resource).
const HOOKS: &[&str] = &[
    "rt_schedule",
    "rt_unit_wake",
    "rt_unit_sleep",
    "rt_context_saved",
    "repl_timer_handler",
    "rt_res_pick",
];

/// Call sites in Xen's build that the harness does not have, per hook: the scheduling
/// core's `sched_set_res` (`cpumask_first` and `cpumask_next` over the resource's CPUs).
const CORE_ONLY: &[(&str, &str, usize)] = &[
    ("rt_schedule", "__find_first_bit", 1),
    ("rt_schedule", "__find_next_bit", 1),
];

fn is_mask_fn(name: &str) -> bool {
    name.starts_with("__bitmap_") || name.starts_with("__find_")
}

/// What the check reads of a function.
#[derive(Default)]
struct Fun {
    /// The symbols it calls or jumps to.
    calls: Vec<String>,
    /// Its first instruction is `endbr64` (`-fcf-protection=branch`, Xen's `cf_check`).
    endbr: bool,
    /// It has a plain `ret` (none with `-mfunction-return=thunk-extern`: a return is a jump
    /// to `__x86_return_thunk`).
    ret: bool,
}

/// Functions of an object, by name (compiler suffixes dropped).
fn calls(obj: &Path) -> Result<BTreeMap<String, Fun>> {
    let text = output(
        Command::new("objdump")
            .args(["-dr", "--no-show-raw-insn"])
            .arg(obj),
    )?;
    let mut fns: BTreeMap<String, Fun> = BTreeMap::new();
    let mut cur: Option<String> = None;
    let mut first = false;
    let mut after_call = false;
    for line in text.lines() {
        if let Some(name) = line
            .strip_suffix(">:")
            .and_then(|l| l.split_once(" <"))
            .map(|(_, n)| base_name(n))
        {
            fns.entry(name.clone()).or_default();
            cur = Some(name);
            first = true;
            continue;
        }
        let Some(f) = cur.clone() else { continue };
        let t = line.trim_start();
        if let Some((_, insn)) = t.split_once(":\t") {
            let fun = fns.entry(f.clone()).or_default();
            if std::mem::take(&mut first) && insn.starts_with("endbr64") {
                fun.endbr = true;
            }
            if insn.trim() == "ret" {
                fun.ret = true;
            }
        }
        if t.contains("\tcall ") || t.contains("\tjmp ") {
            // A call within the section names its target; one through a relocation names
            // it on the next line (which replaces this).
            after_call = true;
            if let Some(target) = t
                .split_once(" <")
                .and_then(|(_, r)| r.split_once('>'))
                .map(|(n, _)| n.split('+').next().unwrap_or(n))
            {
                fns.entry(f).or_default().calls.push(base_name(target));
            }
            continue;
        }
        if after_call {
            after_call = false;
            if let Some((_, sym)) = t
                .split_once("R_X86_64_PLT32")
                .or_else(|| t.split_once("R_X86_64_PC32"))
            {
                let sym = sym.trim().trim_end_matches("-0x4");
                let v = &mut fns.entry(f).or_default().calls;
                v.pop();
                v.push(base_name(sym));
            }
        }
    }
    Ok(fns)
}

/// `runq_tickle.isra.0` and `.text.runq_tickle` -> `runq_tickle`.
fn base_name(n: &str) -> String {
    let n = n.strip_prefix(".text.").unwrap_or(n);
    n.split('.').next().unwrap_or(n).to_string()
}

/// The mask call sites of `hook` and of the functions of the object it reaches.
fn mask_calls(fns: &BTreeMap<String, Fun>, hook: &str) -> BTreeMap<String, usize> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![hook.to_string()];
    let mut out = BTreeMap::new();
    while let Some(f) = todo.pop() {
        if !seen.insert(f.clone()) {
            continue;
        }
        for c in fns.get(&f).into_iter().flat_map(|x| &x.calls) {
            if is_mask_fn(c) {
                *out.entry(c.clone()).or_insert(0) += 1;
            } else if fns.contains_key(c) && !HOOKS.contains(&c.as_str()) {
                todo.push(c.clone());
            }
        }
    }
    out
}

/// rt.c compiled as Xen's build compiles its scheduler files.
fn xen_rt_o(out: &Path) -> Result<PathBuf> {
    let tree = root().join("target/xen/rtsched/xen");
    let rec = tree.join("common/sched/.credit.o.cmd");
    let text = std::fs::read_to_string(&rec)
        .with_context(|| format!("no {} (run `cargo xtask xen-build` first)", rec.display()))?;
    let cmd = text
        .lines()
        .next()
        .and_then(|l| l.split_once(":= "))
        .map(|(_, c)| c.to_string())
        .context("no command in .credit.o.cmd")?;
    let obj = out.join("rt-xen.o");
    let mut args: Vec<String> = Vec::new();
    let mut words = cmd.split_whitespace().peekable();
    while let Some(w) = words.next() {
        match w {
            // (Dependency files and the output: ours.)
            "-MMD" | "-MP" => {}
            "-MF" | "-MQ" | "-o" => {
                words.next();
            }
            "common/sched/credit.c" => args.push("common/sched/rt.c".into()),
            _ => args.push(w.replace("credit.o", "rt.o")),
        }
    }
    args.push("-o".into());
    args.push(obj.display().to_string());
    run(Command::new("sh")
        .arg("-c")
        .arg(args.join(" "))
        .current_dir(&tree))?;
    Ok(obj)
}

/// The harness's rt.c object (`glue.c`, which includes rt.c) out of its archive.
fn harness_o(archive: Option<&Path>, out: &Path) -> Result<PathBuf> {
    let archive = match archive {
        Some(a) => std::path::absolute(a)?,
        None => {
            let mut c = cargo();
            c.args(["build", "--release", "-q", "-p", "difftest"]);
            if std::env::var_os("RTSCHED_XEN_SRC").is_none() {
                c.env("RTSCHED_XEN_SRC", crate::xen::source_tree()?);
            }
            run(c.current_dir(root()))?;
            let mut newest: Option<(std::time::SystemTime, PathBuf)> = None;
            for e in std::fs::read_dir(root().join("target/release/build"))? {
                let p = e?.path().join("out/libxenrt.a");
                if let Ok(m) = p.metadata().and_then(|m| m.modified()) {
                    if newest.as_ref().is_none_or(|(t, _)| m > *t) {
                        newest = Some((m, p));
                    }
                }
            }
            newest
                .context("no libxenrt.a under target/release/build")?
                .1
        }
    };
    let dir = out.join("harness");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    run(Command::new("ar").arg("x").arg(&archive).current_dir(&dir))?;
    for e in std::fs::read_dir(&dir)? {
        let p = e?.path();
        if p.to_string_lossy().ends_with("glue.o") {
            return Ok(p);
        }
    }
    bail!("no glue.o in {}", archive.display())
}

pub fn run_check(a: &Args) -> Result<()> {
    let out = root().join("target/rtc-check");
    std::fs::create_dir_all(&out)?;
    let xen = calls(&xen_rt_o(&out)?)?;
    let ours = calls(&harness_o(a.harness.as_deref(), &out)?)?;
    let mut bad = 0;
    println!("CPU-mask call sites per hook (with the static functions it calls):");
    for &h in HOOKS {
        let raw = mask_calls(&xen, h);
        let mut want = raw.clone();
        for &(hook, f, n) in CORE_ONLY {
            if hook == h {
                if let Some(c) = want.get_mut(f) {
                    *c = c.saturating_sub(n);
                }
            }
        }
        want.retain(|_, n| *n > 0);
        let got = mask_calls(&ours, h);
        // (Xen's flags: the entry's landing pad, no plain `ret`: returns go through the
        // thunk, or are tail calls.)
        let flags = |fns: &BTreeMap<String, Fun>| fns.get(h).map(|x| (x.endbr, x.ret));
        let (fx, fo) = (flags(&xen), flags(&ours));
        let same = want == got && fx == fo && fx.is_some();
        bad += usize::from(!same);
        let core = if raw == want {
            String::new()
        } else {
            format!(" (Xen's, with `sched_set_res`: {raw:?})")
        };
        println!(
            "{h:20} Xen {want:?}, harness {got:?}; (endbr64, plain ret) Xen \
             {fx:?}, harness {fo:?}{}{core}",
            if same { "" } else { "  <- differs" }
        );
    }
    if bad > 0 {
        bail!("{bad} hooks differ from Xen's build of rt.c");
    }
    println!(
        "rtc-check: the harness's rt.c makes the CPU-mask calls of Xen's build, with its \
         landing pads and returns, in every hook"
    );
    Ok(())
}
