//! Builds the staticlib, compiles `c/abi_scenario.c` against `include/rtsched.h` with gcc
//! (`-Wall -Wextra -Werror`, AddressSanitizer and UndefinedBehaviorSanitizer, any report
//! fatal), links and runs it: the C ABI must be usable from C, and every refused call must
//! leave the instance byte-identical. The program must call every function the library
//! exports. And the header must define every constant it mentions.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Builds the staticlib (release, its own target directory) and returns its path.
fn staticlib() -> PathBuf {
    let root = root();
    let target = root.join("target").join("ctest");
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    let st = Command::new(cargo)
        .current_dir(&root)
        .args([
            "build",
            "--quiet",
            "--release",
            "-p",
            "rtsched-ffi",
            "--target-dir",
        ])
        .arg(&target)
        .status()
        .expect("cargo runs");
    assert!(st.success(), "building the staticlib failed");
    target.join("release").join("librtsched_ffi.a")
}

/// The `rtsched_*` functions `lib` defines.
fn exports(lib: &Path) -> BTreeSet<String> {
    let out = Command::new("nm")
        .args(["--defined-only", "-g"])
        .arg(lib)
        .output()
        .expect("nm runs");
    assert!(out.status.success(), "nm failed");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            match (f.next(), f.next(), f.next()) {
                (Some(_), Some("T"), Some(s)) if s.starts_with("rtsched_") => Some(s.to_string()),
                _ => None,
            }
        })
        .collect()
}

#[test]
fn c_program_drives_the_scheduler_and_every_refusal_changes_nothing() {
    let root = root();
    let lib = staticlib();
    let src = root.join("ffi/tests/c/abi_scenario.c");
    let text = std::fs::read_to_string(&src).unwrap();
    let exports = exports(&lib);
    assert!(exports.len() >= 34, "only {} exports found", exports.len());
    let missing: Vec<_> = exports
        .iter()
        .filter(|e| !text.contains(&format!("{e}(")))
        .collect();
    assert!(missing.is_empty(), "the C test does not call {missing:?}");

    let exe = lib.with_file_name("abi_scenario");
    let st = Command::new("gcc")
        .args(["-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror"])
        .args(["-fsanitize=address,undefined", "-fno-sanitize-recover=all"])
        .arg("-I")
        .arg(root.join("include"))
        .arg(&src)
        .arg(&lib)
        .arg("-o")
        .arg(&exe)
        .status()
        .expect("gcc runs");
    assert!(st.success(), "compiling the C scenario failed");
    let out = Command::new(&exe)
        .env("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        .env("UBSAN_OPTIONS", "print_stacktrace=1")
        .output()
        .expect("scenario runs");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "C scenario failed: {}", out.status);
    assert!(String::from_utf8_lossy(&out.stdout).contains("C ABI scenario: all checks passed"));
}

/// Every `RTSCHED_*` name the header mentions (in its comments too; `RTSCHED_X_*` stands for
/// a family) is a `#define` or an enum value of the header.
#[test]
fn the_header_defines_every_constant_it_mentions() {
    let h = std::fs::read_to_string(root().join("include/rtsched.h")).unwrap();
    let tokens: Vec<&str> = h
        .split(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '*'))
        .filter(|t| t.starts_with("RTSCHED_") && *t != "RTSCHED_H")
        .collect();
    let defined: BTreeSet<&str> = h
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            l.strip_prefix("#define ")
                .or_else(|| l.contains(" = ").then_some(l))
                .and_then(|r| r.split_whitespace().next())
                .filter(|n| n.starts_with("RTSCHED_"))
        })
        .collect();
    assert!(defined.len() > 40, "only {} names defined", defined.len());
    for t in tokens {
        let ok = match t.strip_suffix('*') {
            Some(family) => defined.iter().any(|d| d.starts_with(family)),
            None => defined.contains(t),
        };
        assert!(ok, "the header mentions {t} but does not define it");
    }
}
