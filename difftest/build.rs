//! Compiles Xen 4.17's `xen/common/sched/rt.c`, unchanged, from the Debian source fetched at
//! build time (never from this repository), against the stub headers of `csrc/include` and
//! the glue of `csrc/glue.c`.
//!
//! The source tree is, in order: `$RTSCHED_XEN_SRC` (an unpacked Xen source tree), or
//! `<workspace>/target/xen/src-cache/xen-4.17.5+72-g01140da4e8` (where `cargo xtask
//! xen-build` also puts it). If neither exists, the Debian source package is fetched there
//! the way `xtask/src/xen.rs::source_tree` does (needs root, `dpkg-dev`, `xz-utils`).

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const XEN_DEB_VERSION: &str = "4.17.5+72-g01140da4e8-1";
const XEN_DIR: &str = "xen-4.17.5+72-g01140da4e8";
const RT_C: &str = "xen/common/sched/rt.c";

fn run(cmd: &mut Command) {
    let st = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(st.success(), "{cmd:?} failed: {st}");
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {cmd} >/dev/null")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Fetches the Debian source of Xen into `cache` (same steps as `cargo xtask xen-build`).
fn fetch(cache: &Path) {
    println!(
        "cargo:warning=fetching xen={XEN_DEB_VERSION} source into {}",
        cache.display()
    );
    let missing: Vec<&str> = [("dpkg-source", "dpkg-dev"), ("xz", "xz-utils")]
        .iter()
        .filter(|(c, _)| !have(c))
        .map(|(_, p)| *p)
        .collect();
    if !missing.is_empty() {
        run(Command::new("apt-get").args(["update", "-qq"]));
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"));
    }
    let has_src = |p: &str| fs::read_to_string(p).is_ok_and(|t| t.contains("deb-src"));
    let sources = "/etc/apt/sources.list.d/debian.sources";
    if !has_src(sources) && !has_src("/etc/apt/sources.list") {
        let mut t = fs::read_to_string(sources).unwrap_or_default();
        t.push_str(
            "\nTypes: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n\
             Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n",
        );
        fs::write(sources, t).expect("adding a deb-src entry");
    }
    run(Command::new("apt-get").args(["update", "-qq"]));
    fs::create_dir_all(cache).expect("creating the source cache");
    run(Command::new("apt-get")
        .current_dir(cache)
        .args(["source", "-qq"])
        .arg(format!("xen={XEN_DEB_VERSION}")));
}

fn source_tree(manifest: &Path) -> PathBuf {
    println!("cargo:rerun-if-env-changed=RTSCHED_XEN_SRC");
    if let Some(p) = env::var_os("RTSCHED_XEN_SRC") {
        return PathBuf::from(p);
    }
    let cache = manifest.join("../target/xen/src-cache");
    let tree = cache.join(XEN_DIR);
    if !tree.join(RT_C).exists() {
        fetch(&cache);
    }
    tree
}

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("out dir"));
    let tree = source_tree(&manifest);
    let rt_c = tree.join(RT_C);
    assert!(rt_c.exists(), "no {} in {}", RT_C, tree.display());
    // rt.c is copied alone, so that its `#include "private.h"` finds our stub and not the
    // private.h beside it in Xen's tree.
    let dir = out.join("xen-sched");
    fs::create_dir_all(&dir).expect("creating OUT_DIR/xen-sched");
    fs::copy(&rt_c, dir.join("rt.c")).expect("copying rt.c");
    println!("cargo:rerun-if-changed={}", rt_c.display());
    println!("cargo:rerun-if-changed=csrc");
    cc::Build::new()
        .file(manifest.join("csrc/glue.c"))
        .include(manifest.join("csrc/include"))
        .include(&dir)
        .std("gnu11")
        // Xen's hypervisor is built with -O2.
        .opt_level(2)
        .debug(false)
        .flag("-fno-strict-aliasing")
        .flag("-Wno-unused-function")
        .flag("-Wno-unused-parameter")
        .flag("-Wno-unused-variable")
        .flag("-Wno-unused-but-set-variable")
        .flag("-Wno-sign-compare")
        .compile("xenrt");
}
