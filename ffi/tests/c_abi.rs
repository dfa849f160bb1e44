//! Builds the staticlib, compiles `c/abi_scenario.c` against `include/rtsched.h` with gcc
//! (`-Wall -Wextra -Werror`), links and runs it: the C ABI must be usable from C.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn c_program_drives_the_scheduler() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf();
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
    let lib = target.join("release").join("librtsched_ffi.a");
    let exe = target.join("abi_scenario");
    let st = Command::new("gcc")
        .args(["-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(root.join("include"))
        .arg(root.join("ffi/tests/c/abi_scenario.c"))
        .arg(&lib)
        .arg("-o")
        .arg(&exe)
        .status()
        .expect("gcc runs");
    assert!(st.success(), "compiling the C scenario failed");
    let out = Command::new(&exe).output().expect("scenario runs");
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "C scenario failed: {}", out.status);
    assert!(String::from_utf8_lossy(&out.stdout).contains("C ABI scenario: all checks passed"));
}
