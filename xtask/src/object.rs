//! `check-object` and `header`: hygiene of the object linked into Xen, and the generated C header.
//!
//! The object is built once, here, with the flags Xen's own C is built with where rustc has
//! an equivalent, and `xen-build` links exactly this file:
//!
//! | Xen C flag | rustc | why |
//! | --- | --- | --- |
//! | `-mno-sse -mno-mmx -msoft-float` | `--target x86_64-unknown-none` (soft-float) | Xen does not save FPU/SIMD state for itself |
//! | `-mno-red-zone` | `-C no-redzone=yes` (the target's default too) | interrupts run on the current stack |
//! | `-fpic` | `-C relocation-model=pic`, `-C code-model=small` | Xen links at 0xffff82d04...: `static` overflows `R_X86_64_32`, and the target's `kernel` code model assumes the top 2 GiB |
//! | `-fno-jump-tables` | `-C llvm-args=-min-jump-table-entries=100000` | a jump table is an indirect jump |
//! | `-fno-asynchronous-unwind-tables` | `-C force-unwind-tables=no`, `panic=abort` | no unwinding |
//! | `-mfunction-return=thunk-extern` | `-Z function-return=thunk-extern` | CONFIG_RETURN_THUNK: every `ret` is `jmp __x86_return_thunk` |
//! | `-fcf-protection=branch` | `-Z cf-protection=branch` | CONFIG_XEN_IBT: `endbr64` at function entries |
//! | `-mindirect-branch=thunk-extern` | `-Z retpoline-external-thunk` | retpolines (moot: the check allows no indirect branch at all) |
//! | (none) | `-C relro-level=off` | makes rustc emit libcalls (memcpy) as `PLT32`, not through the GOT |
//!
//! The target is the freestanding x86-64 one: disabling SSE on the host target instead is
//! refused by newer compilers (rust-lang issue 116344). Its `core` is compiled from source
//! with the object (`-Z build-std=core`; the source is rustup's `rust-src` component,
//! [`ensure_target`]; the self-test's build uses the target's precompiled library), so that
//! every function in the object, `core`'s included, is built with the flags above, and the
//! build profile `hypervisor` is release with LTO (the workspace `Cargo.toml`): the C ABI's
//! functions, the core and `core` are optimised as one program (the hooks' bodies inlined
//! into their C functions). `compiler_builtins` defines
//! `memcpy` and `memset` itself, so only the archive's Rust code units are linked
//! ([`link_exports`]), and floating point shows as a call to a soft-float routine, which the
//! check reports like an SSE/x87 instruction. The `-Z` flags need `RUSTC_BOOTSTRAP=1` on the
//! stable compiler, as Rust-for-Linux does. `ld -r --gc-sections -u rtsched_*` keeps only
//! what the exported functions reach.
//!
//! It is also a profile-guided build (`-C profile-use`, [`crate::pgo`]: the profile of a
//! training run of the instrumented build of this very object), so the check passes on the
//! code Xen links, as laid out by the profile.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::util::{cargo, output, root, run};

/// Options of `cargo xtask check-object`.
#[derive(clap::Args)]
pub struct Args {
    /// Build a deliberately bad object (floating point, an indirect call, a bounds check)
    /// with the same flags and succeed only if the check reports its violations.
    #[arg(long)]
    pub selftest: bool,
}

/// Options of `cargo xtask header`.
#[derive(clap::Args)]
pub struct HeaderArgs {
    /// Fail if include/rtsched.h differs from what cbindgen generates, instead of writing it.
    #[arg(long)]
    pub check: bool,
}

/// rustc flags of the hypervisor object (see the module docs).
pub const RUSTFLAGS: &[&str] = &[
    "-Cno-redzone=yes",
    "-Crelocation-model=pic",
    "-Ccode-model=small",
    "-Cforce-unwind-tables=no",
    "-Crelro-level=off",
    "-Cllvm-args=-min-jump-table-entries=100000",
    "-Zfunction-return=thunk-extern",
    "-Zcf-protection=branch",
    "-Zretpoline-external-thunk",
    "-Cunsafe-allow-abi-mismatch=retpoline,retpoline-external-thunk",
];

/// The target of the hypervisor object: x86-64 without SSE/x87 code or a red zone.
pub const TARGET: &str = "x86_64-unknown-none";

/// Undefined symbols the object may reference: provided by Xen.
const ALLOWED_UNDEFINED: &[&str] = &[
    "memcpy",
    "memset",
    "memmove",
    "memcmp",
    "__x86_return_thunk",
];

/// Where the object is built: `target/hv/`, or `target/hv-plain/` without the profile
/// (`RTSCHED_PGO=off`).
fn object_dir() -> PathBuf {
    let name = if crate::pgo::off() { "hv-plain" } else { "hv" };
    root().join("target").join(name)
}

/// Where the object and its header are written (`RTSCHED_DIR` of Xen's build).
pub fn out_dir() -> PathBuf {
    object_dir().join("out")
}

/// Builds `target/hv/out/librtsched.o` (and copies the header beside it); returns the object.
/// It is the profile-guided build ([`crate::pgo`]): the training runs first, unless its
/// profile is current. With `RTSCHED_PGO=off` the object is built without the profile, in
/// `target/hv-plain/` (for comparisons: `RTSCHED_PGO=off cargo xtask check-object`).
pub fn build_object() -> Result<PathBuf> {
    build_object_variant(None)
}

/// Builds the object, or with `Some(m)` a deliberately broken variant of it compiled with
/// `--cfg rtsched_mutant="m"` (in `target/hv-mutant/`, object in its `out/`, without the
/// profile), made only to show that `cargo xtask e2e` fails on it (`--fault`).
pub fn build_object_variant(mutant: Option<&str>) -> Result<PathBuf> {
    let root = root();
    let (flags, target) = match mutant {
        None if crate::pgo::off() => (String::new(), object_dir()),
        None => {
            let profile = crate::pgo::profile()?;
            let flags = format!(
                "-Cprofile-use={} {}",
                profile.display(),
                crate::pgo::WARN_UNPROFILED
            );
            (flags, object_dir())
        }
        Some(m) => (
            format!("--cfg rtsched_mutant=\"{m}\""),
            root.join("target").join("hv-mutant"),
        ),
    };
    let (lib, said) = build_lib(&flags, &target)?;
    if mutant.is_none() && !crate::pgo::off() {
        crate::pgo::check_profiled(&said)?;
    }
    let out = target.join("out");
    fs::create_dir_all(&out)?;
    let obj = out.join("librtsched.o");
    link_exports(&lib, &target.join("rtsched-full.o"), &obj, false)?;
    fs::copy(root.join("include/rtsched.h"), out.join("rtsched.h"))?;
    Ok(obj)
}

/// Builds the staticlib of `rtsched-ffi` for [`TARGET`] with [`RUSTFLAGS`] and `extra`
/// flags into `target`; returns the archive and the build's diagnostics (also printed).
pub fn build_lib(extra: &str, target: &Path) -> Result<(PathBuf, String)> {
    ensure_target()?;
    let flags = format!("{} {extra}", RUSTFLAGS.join(" "));
    let mut cmd = cargo();
    cmd.current_dir(root())
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTFLAGS", flags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .args([
            "build",
            "--quiet",
            "-p",
            "rtsched-ffi",
            "--profile",
            "hypervisor",
            "--target",
            TARGET,
            "-Zbuild-std=core",
        ])
        .arg("--target-dir")
        .arg(target);
    let out = cmd
        .output()
        .with_context(|| format!("cannot start {cmd:?}"))?;
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    eprint!("{said}");
    if !out.status.success() {
        bail!("{cmd:?} failed: {}", out.status);
    }
    let lib = target
        .join(TARGET)
        .join("hypervisor")
        .join("librtsched_ffi.a");
    Ok((lib, said))
}

/// Installs with rustup, if missing, the standard library's source (the object's `core` is
/// built from it) and the precompiled one of [`TARGET`] (the check's self-test is built
/// with it): downloads from rustup's server, as for rustfmt and clippy.
fn ensure_target() -> Result<()> {
    let components = output(Command::new("rustup").args(["component", "list", "--installed"]))
        .context("rustup is needed for the hypervisor object's `core`")?;
    if !components.lines().any(|l| l.trim() == "rust-src") {
        run(Command::new("rustup").args(["component", "add", "rust-src"]))?;
    }
    let targets = output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    if !targets.lines().any(|l| l.trim() == TARGET) {
        run(Command::new("rustup").args(["target", "add", TARGET]))?;
    }
    Ok(())
}

/// The `rtsched_*` functions an archive or object defines.
fn exported(file: &Path) -> Result<Vec<String>> {
    let nm = output(Command::new("nm").args(["-g", "--defined-only"]).arg(file))?;
    Ok(nm
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            match (f.next(), f.next(), f.next()) {
                (Some(_), Some("T"), Some(s)) if s.starts_with("rtsched_") => Some(s.to_string()),
                _ => None,
            }
        })
        .collect())
}

/// Links what the exports of `lib` need into `obj`, keeping only the exports global.
///
/// Only the archive's Rust code units go in, not `compiler_builtins`: for this target it
/// defines `memcpy` and `memset` itself (with plain `ret`s), which must stay Xen's, and any
/// other helper it would supply (128-bit division, soft floating point) stays an undefined
/// symbol, which the check reports.
///
/// `counters`: the instrumented build of the profile-guided build's training; its counter
/// sections, which no code refers to, are kept (no `--gc-sections`, nothing stripped).
pub fn link_exports(lib: &Path, tmp: &Path, obj: &Path, counters: bool) -> Result<Vec<String>> {
    let syms = exported(lib)?;
    if syms.is_empty() {
        bail!("{} exports no rtsched_* function", lib.display());
    }
    let members = tmp.with_extension("members");
    if members.exists() {
        fs::remove_dir_all(&members)?;
    }
    fs::create_dir_all(&members)?;
    run(Command::new("ar")
        .current_dir(&members)
        .arg("x")
        .arg(fs::canonicalize(lib)?))?;
    let listed = output(Command::new("ar").arg("t").arg(lib))?;
    let units: Vec<PathBuf> = listed
        .lines()
        .filter(|m| m.ends_with(".rcgu.o") && !m.starts_with("compiler_builtins-"))
        .map(|m| members.join(m))
        .collect();
    let mut ld = Command::new("ld");
    ld.arg("-r");
    if !counters {
        ld.arg("--gc-sections");
    }
    for s in &syms {
        ld.arg("-u").arg(s);
    }
    run(ld.arg("-o").arg(tmp).args(&units))?;
    let mut oc = Command::new("objcopy");
    if !counters {
        oc.arg("--strip-unneeded");
    }
    oc.args(["-R", ".llvmbc", "-R", ".llvmcmd"]);
    for s in &syms {
        oc.arg("-G").arg(s);
    }
    run(oc.arg(tmp).arg(obj))?;
    Ok(syms)
}

/// One finding of the check.
#[derive(Debug, PartialEq, Eq)]
pub enum Finding {
    /// SSE/AVX/MMX/x87 instruction.
    Simd(String),
    /// Access below the stack pointer.
    RedZone(String),
    /// Indirect call or jump.
    Indirect(String),
    /// A plain `ret` where a return thunk is required.
    PlainRet,
    /// A call or jump to a panic routine.
    Panic(String),
}

fn is_x87(mnemonic: &str) -> bool {
    const X87: &[&str] = &[
        "fld", "fst", "fadd", "fsub", "fmul", "fdiv", "fild", "fist", "fcom", "fucom", "fchs",
        "fabs", "fsqrt", "fxch", "finit", "fninit", "fwait", "fnstsw", "fstsw", "fldcw", "fnstcw",
        "frndint", "fscale", "fprem", "fcos", "fsin", "fptan", "fpatan", "f2xm1", "fyl2x", "ffree",
        "fxam", "ftst", "fld1", "fldz", "fcmov", "fxsave", "fxrstor", "fnsave", "frstor", "fbld",
        "fbstp", "fisttp", "femms",
    ];
    X87.iter().any(|p| mnemonic.starts_with(p))
}

/// Classifies one disassembled instruction (`mnemonic operands`, AT&T syntax).
pub fn classify(insn: &str) -> Option<Finding> {
    let insn = insn.trim();
    let mut parts = insn.splitn(2, char::is_whitespace);
    let mnemonic = parts.next().unwrap_or("");
    let ops = parts.next().unwrap_or("").trim();
    let m = mnemonic.trim_start_matches("notrack").trim();
    let simd_reg = ["%xmm", "%ymm", "%zmm", "%st"]
        .iter()
        .any(|r| ops.contains(r))
        || ops
            .split(|c: char| !c.is_ascii_alphanumeric() && c != '%')
            .any(|t| t.len() == 4 && t.starts_with("%mm") && t.as_bytes()[3].is_ascii_digit());
    if simd_reg
        || is_x87(m)
        || matches!(
            m,
            "emms" | "ldmxcsr" | "stmxcsr" | "vzeroupper" | "vzeroall"
        )
    {
        return Some(Finding::Simd(insn.to_string()));
    }
    if (m.starts_with("call") || m.starts_with("jmp")) && ops.starts_with('*') {
        return Some(Finding::Indirect(insn.to_string()));
    }
    if mnemonic.starts_with("notrack") {
        return Some(Finding::Indirect(insn.to_string()));
    }
    if m == "ret" || m == "retq" || m == "ret$" {
        return Some(Finding::PlainRet);
    }
    // Memory operand with a negative displacement from %rsp: below the stack pointer.
    if let Some(i) = ops.find("(%rsp") {
        let before = &ops[..i];
        let disp = before.rsplit([',', ' ']).next().unwrap_or("");
        if disp.starts_with("-0x") || disp.starts_with('-') {
            return Some(Finding::RedZone(insn.to_string()));
        }
    }
    if m.starts_with("call") || m.starts_with("jmp") {
        const PANIC: &[&str] = &[
            "panic",
            "unwrap_failed",
            "expect_failed",
            "slice_index",
            "slice_end_index",
            "slice_start_index",
            "assert_failed",
            "str_index_overflow",
            "rust_begin_unwind",
        ];
        if PANIC.iter().any(|p| ops.contains(p)) {
            return Some(Finding::Panic(ops.to_string()));
        }
    }
    None
}

/// The function name of an objdump function header line (`0000 <name>:`).
fn func_header(line: &str) -> Option<&str> {
    let l = line.strip_suffix(">:")?;
    let i = l.find('<')?;
    l[..i]
        .trim()
        .chars()
        .all(|c| c.is_ascii_hexdigit())
        .then(|| &l[i + 1..])
}

/// The largest stack frame: `(bytes, function)` for the top functions, from `sub $N,%rsp`
/// plus 8 bytes per `push` in each function's prologue.
fn stack_frames(disasm: &str) -> Vec<(u64, String)> {
    let mut frames: BTreeMap<String, u64> = BTreeMap::new();
    let mut func = String::new();
    for line in disasm.lines() {
        if let Some(name) = func_header(line) {
            func = name.to_string();
            continue;
        }
        let insn = line.split('\t').next_back().unwrap_or("").trim();
        let e = frames.entry(func.clone()).or_default();
        if insn.starts_with("push") {
            *e += 8;
        } else if let Some(rest) = insn.strip_prefix("sub") {
            let rest = rest.trim();
            if let Some(v) = rest
                .strip_prefix("$0x")
                .and_then(|r| r.strip_suffix(",%rsp"))
            {
                *e += u64::from_str_radix(v, 16).unwrap_or(0);
            }
        }
    }
    let mut v: Vec<(u64, String)> = frames.into_iter().map(|(f, n)| (n, f)).collect();
    v.sort_by(|a, b| b.cmp(a));
    v
}

/// Runs every check on `obj`; returns the findings as printable lines and the panic sites.
fn check(obj: &Path, exports: &[String], expect_thunks: bool) -> Result<(Vec<String>, usize)> {
    let mut bad = Vec::new();
    let disasm = output(
        Command::new("objdump")
            .args(["-d", "--no-show-raw-insn", "-C", "-r"])
            .arg(obj),
    )?;
    let mut func = String::new();
    let mut panics: BTreeMap<String, usize> = BTreeMap::new();
    let mut entry_pending = None::<String>;
    for line in disasm.lines() {
        if let Some(name) = func_header(line) {
            func = name.to_string();
            entry_pending = exports.iter().any(|e| e == name).then(|| name.to_string());
            continue;
        }
        let Some(insn) = line.split('\t').nth(1).map(str::trim) else {
            continue;
        };
        if let Some(name) = entry_pending.take() {
            if !insn.starts_with("endbr64") {
                bad.push(format!("{name}: entry without endbr64 (IBT)"));
            }
        }
        match classify(insn) {
            None => {}
            Some(Finding::PlainRet) if !expect_thunks => {}
            Some(Finding::Panic(_)) => *panics.entry(func.clone()).or_default() += 1,
            Some(f) => bad.push(format!("{func}: {f:?}")),
        }
    }
    // Undefined symbols.
    let und = output(Command::new("nm").arg("-u").arg(obj))?;
    for s in und.split_whitespace().filter(|s| *s != "U") {
        if ALLOWED_UNDEFINED.contains(&s) || s.starts_with("__x86_indirect_thunk_") {
            continue;
        }
        if is_soft_float(s) {
            bad.push(format!("floating point: soft-float routine {s}"));
        } else {
            bad.push(format!("undefined symbol {s}"));
        }
    }
    // Relocations: nothing through the GOT; no code addresses in data (jump tables).
    let relocs = output(Command::new("readelf").args(["-r", "-W"]).arg(obj))?;
    let mut section = String::new();
    for line in relocs.lines() {
        if let Some(s) = line.strip_prefix("Relocation section '") {
            section = s.split('\'').next().unwrap_or("").to_string();
            continue;
        }
        if line.contains("GOTPCREL") || line.contains("R_X86_64_GOT") {
            bad.push(format!("GOT relocation in {section}: {}", line.trim()));
        }
        let data = section.starts_with(".rela.rodata") || section.starts_with(".rela.data");
        if data && line.contains(" .text") {
            bad.push(format!(
                "code address in {section} (jump table?): {}",
                line.trim()
            ));
        }
    }
    let n_panics: usize = panics.values().sum();
    for (f, n) in &panics {
        println!("  panic sites: {n} in {f}");
    }
    Ok((bad, n_panics))
}

/// Whether `sym` is one of the compiler's floating-point routines (`__adddf3`,
/// `__floatundidf`, `__fixunsdfdi`, ...: single, double, extended and quad precision), which
/// the soft-float target calls for floating-point arithmetic.
fn is_soft_float(sym: &str) -> bool {
    sym.starts_with("__") && ["sf", "df", "xf", "tf"].iter().any(|m| sym.contains(m))
}

fn ratchet_path() -> PathBuf {
    root().join("xtask").join("object-ratchet.txt")
}

fn read_ratchet() -> Result<usize> {
    let t = fs::read_to_string(ratchet_path()).context("reading xtask/object-ratchet.txt")?;
    t.lines()
        .find_map(|l| l.strip_prefix("panic_sites = "))
        .and_then(|v| v.trim().parse().ok())
        .context("xtask/object-ratchet.txt: no `panic_sites = N` line")
}

/// Builds and checks the object.
pub fn check_object(a: &Args) -> Result<()> {
    if a.selftest {
        return selftest();
    }
    let obj = build_object()?;
    let exports = exported(&obj)?;
    let (bad, panics) = check(&obj, &exports, true)?;
    let size = output(Command::new("size").arg(&obj))?;
    print!("{size}");
    let disasm = output(Command::new("objdump").args(["-d", "-C"]).arg(&obj))?;
    println!("largest stack frames (bytes, prologue pushes + sub %rsp):");
    for (n, f) in stack_frames(&disasm).iter().take(5) {
        println!("  {n:6}  {f}");
    }
    println!("exported functions: {}", exports.len());
    let limit = read_ratchet()?;
    println!("panic call sites: {panics} (ratchet {limit})");
    for b in &bad {
        println!("VIOLATION {b}");
    }
    if !bad.is_empty() {
        bail!("{} violation(s) in {}", bad.len(), obj.display());
    }
    if panics > limit {
        bail!("panic call sites grew from {limit} to {panics}");
    }
    if panics < limit {
        println!("ratchet can be lowered: set panic_sites = {panics} in xtask/object-ratchet.txt");
    }
    println!("check-object: OK {}", obj.display());
    Ok(())
}

/// Builds `xtask/selftest/bad.rs` with the same flags and expects violations.
fn selftest() -> Result<()> {
    let root = root();
    let dir = root.join("target").join("hv").join("selftest");
    fs::create_dir_all(&dir)?;
    let lib = dir.join("libbad.a");
    ensure_target()?;
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    run(Command::new(rustc)
        .env("RUSTC_BOOTSTRAP", "1")
        .args([
            "--edition",
            "2021",
            "--crate-type",
            "staticlib",
            "-O",
            "-Cpanic=abort",
            "--target",
            TARGET,
        ])
        .args(RUSTFLAGS)
        .arg("-o")
        .arg(&lib)
        .arg(root.join("xtask/selftest/bad.rs")))?;
    let obj = dir.join("bad.o");
    let exports = link_exports(&lib, &dir.join("bad-full.o"), &obj, false)?;
    let (bad, panics) = check(&obj, &exports, true)?;
    for b in &bad {
        println!("found: {b}");
    }
    println!("found: {panics} panic call site(s)");
    let float = bad
        .iter()
        .any(|b| b.contains("Simd") || b.contains("floating point"));
    let indirect = bad.iter().any(|b| b.contains("Indirect"));
    if !(float && indirect && panics > 0) {
        bail!("selftest: the check missed a violation (floating point {float}, indirect {indirect}, panics {panics})");
    }
    println!("check-object selftest: OK (the bad object is rejected)");
    Ok(())
}

/// Generates or checks the header.
pub fn header(a: &HeaderArgs) -> Result<()> {
    let root = root();
    let config = cbindgen::Config::from_file(root.join("ffi/cbindgen.toml"))
        .map_err(|e| anyhow::anyhow!("ffi/cbindgen.toml: {e}"))?;
    let mut buf = Vec::new();
    cbindgen::Builder::new()
        .with_crate(root.join("ffi"))
        .with_config(config)
        .generate()
        .context("cbindgen")?
        .write(&mut buf);
    let path = root.join("include/rtsched.h");
    if a.check {
        let current = fs::read(&path).unwrap_or_default();
        if current != buf {
            bail!("include/rtsched.h is stale: run `cargo xtask header`");
        }
        println!("include/rtsched.h is current");
    } else {
        fs::write(&path, &buf)?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_instructions() {
        assert!(matches!(
            classify("call   *%rax"),
            Some(Finding::Indirect(_))
        ));
        assert!(matches!(
            classify("jmp    *0x10(%rip)"),
            Some(Finding::Indirect(_))
        ));
        assert!(matches!(
            classify("notrack jmp *%rax"),
            Some(Finding::Indirect(_))
        ));
        assert_eq!(classify("call   1234 <foo>"), None);
        assert_eq!(classify("movsq  %ds:(%rsi),%es:(%rdi)"), None);
        assert_eq!(classify("movsbl (%rax),%ecx"), None);
        assert!(matches!(
            classify("movsd  %xmm0,(%rax)"),
            Some(Finding::Simd(_))
        ));
        assert!(matches!(
            classify("fldt   0x8(%rsp)"),
            Some(Finding::Simd(_))
        ));
        assert!(matches!(
            classify("paddq  %mm1,%mm0"),
            Some(Finding::Simd(_))
        ));
        assert!(matches!(
            classify("mov    %rax,-0x8(%rsp)"),
            Some(Finding::RedZone(_))
        ));
        assert_eq!(classify("mov    %rax,-0x8(%rbp)"), None);
        assert_eq!(classify("mov    %rax,0x8(%rsp)"), None);
        assert_eq!(classify("ret"), Some(Finding::PlainRet));
        assert_eq!(classify("jmp    0 <__x86_return_thunk>"), None);
        assert!(matches!(
            classify("call   0 <core::panicking::panic_bounds_check>"),
            Some(Finding::Panic(_))
        ));
        assert_eq!(classify("lfence"), None);
        assert_eq!(classify("endbr64"), None);
    }

    #[test]
    fn stack_frames_from_prologues() {
        let d = "0000000000000000 <f>:\n   0:\tpush   %rbp\n   1:\tsub    $0x40,%rsp\n\
                 0000000000000010 <g>:\n  10:\tpush   %rbx\n";
        let v = stack_frames(d);
        assert_eq!(v[0], (72, "f".to_string()));
        assert_eq!(v[1], (8, "g".to_string()));
    }
}
