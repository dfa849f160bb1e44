//! Compiles Xen 4.17's `xen/common/sched/rt.c`, unchanged, from the Debian source fetched at
//! build time (never from this repository), against the stub headers of `csrc/include` and
//! the glue of `csrc/glue.c`, as Xen builds it for x86: with Xen's code-generation flags
//! ([`XEN_CFLAGS`]) and Xen's CPU masks of `NR_CPUS` 256, whose out-of-line functions are
//! Xen's own `xen/arch/x86/bitops.c` (compiled from the same tree) and `csrc/bitmap.c`.
//!
//! A second copy (library `xenrt_replq`) is rt.c with its replenishment queue ordered by
//! deadline alone, the order rtsched keeps (deliberate difference 3 in ARCHITECTURE.md): the
//! benchmark's comparison of equal work where stock rt.c's timer leaves replenishments
//! undone. Its one change is made here, to the copy, by [`REPLQ_PATCH`]; its glue is the same
//! `csrc/glue.c` with every name it defines renamed (`dt_new` -> `xdt_new`, ...) by a header
//! that is included first, so that both copies link into one program (`src/xen.rs`).
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
/// Xen's x86 `__find_first_bit` and `__find_next_bit`, which rt.c's `cpumask_first`,
/// `cpumask_next` and `cpumask_cycle` call (compiled unchanged, as its own object).
const BITOPS_C: &str = "xen/arch/x86/bitops.c";

/// Xen's x86 C flags that decide the code (not its warnings or include paths): those of
/// the command lines Xen's build records (`xen/common/sched/.credit.o.cmd` in the tree
/// `cargo xtask xen-build` builds), less `-nostdinc` (the stubs include the C library's
/// headers) and `-g`.
const XEN_CFLAGS: &[&str] = &[
    "-fomit-frame-pointer",
    "-fno-builtin",
    "-fno-common",
    "-msoft-float",
    "-mno-red-zone",
    "-fpic",
    "-mno-mmx",
    "-mno-sse",
    "-mskip-rax-setup",
    "-mindirect-branch=thunk-extern",
    "-mindirect-branch-register",
    "-fno-jump-tables",
    "-mfunction-return=thunk-extern",
    "-fcf-protection=branch",
    "-mmanual-endbr",
    "-fno-stack-protector",
    "-mpreferred-stack-boundary=3",
    "-fno-exceptions",
    "-fno-asynchronous-unwind-tables",
    "-ffunction-sections",
    "-fdata-sections",
];

/// Xen's return thunk and retpoline thunks, which code built with [`XEN_CFLAGS`] (rt.c)
/// or their rustc equivalents (rtsched's object) calls: here a plain `ret` and plain
/// indirect jumps. Weak, so that the library every target links (for rt.c) and the object
/// file linked beside rtsched's object may both be on a link line.
fn thunks_asm(out: &Path) -> PathBuf {
    let asm = out.join("thunks.S");
    let mut text = String::from(".text\n");
    let mut def = |name: &str, body: &str| {
        text += &format!(".weak {name}\n.type {name},@function\n{name}:\n\t{body}\n");
    };
    def("__x86_return_thunk", "ret");
    for r in [
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "r8", "r9", "r10", "r11", "r12", "r13",
        "r14", "r15",
    ] {
        def(&format!("__x86_indirect_thunk_{r}"), &format!("jmp *%{r}"));
    }
    fs::write(&asm, text).expect("writing thunks.S");
    asm
}

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

/// The text of rt.c's replenishment-queue insertion, and what the second copy has instead.
const REPLQ_SITE: &str =
    "#define deadline_replq_insert(...) \\\n  deadline_queue_insert(&replq_elem, ##__VA_ARGS__)\n";
const REPLQ_PATCH: &str =
    "/* rtsched's order (deviation 3): by deadline alone, after equal deadlines. */
static inline bool
deadline_replq_insert(struct rt_unit *svc, struct list_head *elem,
                      struct list_head *queue)
{
    struct list_head *iter;
    bool first = true;

    list_for_each ( iter, queue )
    {
        if ( svc->cur_deadline < replq_elem(iter)->cur_deadline )
            break;
        first = false;
    }
    list_add_tail(elem, iter);
    return first;
}
";

/// The names the glue and its stub header define with external linkage (the `dt_` API and
/// the host functions rt.c calls), each renamed with an `x` in front for the second copy.
fn rename_header(manifest: &Path) -> String {
    let host = [
        "cpu_raise_softirq",
        "init_timer",
        "set_timer",
        "stop_timer",
        "kill_timer",
        "migrate_timer",
        "__bitmap_and",
        "__bitmap_andnot",
        "__bitmap_empty",
        "__find_first_bit",
        "__find_next_bit",
        "__find_first_zero_bit",
        "__find_next_zero_bit",
    ];
    let mut names: Vec<String> = host.iter().map(|s| s.to_string()).collect();
    for f in ["csrc/glue.c", "csrc/include/stubs.h"] {
        let text = fs::read_to_string(manifest.join(f)).expect("reading the glue");
        let mut rest = text.as_str();
        while let Some(i) = rest.find("dt_") {
            let boundary = rest[..i]
                .chars()
                .next_back()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
            let len = rest[i..]
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len() - i);
            if boundary {
                names.push(rest[i..i + len].to_string());
            }
            rest = &rest[i + len..];
        }
    }
    names.sort();
    names.dedup();
    names
        .iter()
        .map(|n| format!("#define {n} x{n}\n"))
        .collect()
}

fn build(manifest: &Path, tree: &Path, sched_dir: &Path, prelude: Option<&Path>, lib: &str) {
    let mut b = cc::Build::new();
    b.file(manifest.join("csrc/glue.c"))
        .file(manifest.join("csrc/bitmap.c"))
        .file(tree.join(BITOPS_C))
        .include(manifest.join("csrc/include"))
        .include(sched_dir)
        .std("gnu11")
        // Xen's hypervisor is built with -O2.
        .opt_level(2)
        .debug(false)
        .flag("-fno-strict-aliasing");
    // Xen 4.17's code-generation flags for x86 (xen/Makefile, xen/arch/x86/arch.mk,
    // Config.mk; the configuration `cargo xtask xen-build` builds: CONFIG_INDIRECT_THUNK,
    // CONFIG_RETURN_THUNK, CONFIG_XEN_IBT, no frame pointer), so that rt.c's code is the
    // code Xen runs. rtsched's object is built with their rustc equivalents
    // (xtask/src/object.rs). The thunks are those of [`thunks_asm`].
    for f in XEN_CFLAGS {
        b.flag(f);
    }
    b.flag("-Wno-unused-function")
        .flag("-Wno-unused-parameter")
        .flag("-Wno-unused-variable")
        .flag("-Wno-unused-but-set-variable")
        .flag("-Wno-sign-compare");
    if let Some(p) = prelude {
        b.flag("-include")
            .flag(p.to_str().expect("a UTF-8 OUT_DIR"));
    }
    b.compile(lib);
}

fn main() {
    // rtsched's object linked into Xen, linked into the benchmark targets and run through
    // its C ABI (`src/bench/object.rs`): the shipped object, timed by `cargo xtask bench`,
    // or its instrumented build, trained by `cargo xtask pgo`. (Into the binaries as well,
    // which `cargo bench` builds beside a benchmark: the library they link calls it.)
    println!("cargo:rustc-check-cfg=cfg(rtsched_object)");
    println!("cargo:rerun-if-env-changed=RTSCHED_OBJECT");
    if let Ok(obj) = env::var("RTSCHED_OBJECT") {
        println!("cargo:rerun-if-changed={obj}");
        // It returns through Xen's return thunk, and an instrumented build (which keeps
        // code the shipped one drops) may call through its retpoline thunks: an object of
        // them beside it on the link line ([`thunks_asm`]).
        let out = PathBuf::from(env::var("OUT_DIR").expect("out dir"));
        let thunk = cc::Build::new()
            .file(thunks_asm(&out))
            .compile_intermediates();
        for arg in std::iter::once(PathBuf::from(&obj)).chain(thunk) {
            let a = arg.display();
            println!("cargo:rustc-link-arg-benches={a}");
            println!("cargo:rustc-link-arg-bins={a}");
        }
        println!("cargo:rustc-cfg=rtsched_object");
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("manifest dir"));
    let out = PathBuf::from(env::var("OUT_DIR").expect("out dir"));
    let tree = source_tree(&manifest);
    let rt_c = tree.join(RT_C);
    assert!(rt_c.exists(), "no {} in {}", RT_C, tree.display());
    println!("cargo:rerun-if-changed={}", rt_c.display());
    println!("cargo:rerun-if-changed=csrc");
    // rt.c is copied alone, so that its `#include "private.h"` finds our stub and not the
    // private.h beside it in Xen's tree.
    let dir = out.join("xen-sched");
    fs::create_dir_all(&dir).expect("creating OUT_DIR/xen-sched");
    fs::copy(&rt_c, dir.join("rt.c")).expect("copying rt.c");
    println!("cargo:rerun-if-changed={}", tree.join(BITOPS_C).display());
    build(&manifest, &tree, &dir, None, "xenrt");

    let text = fs::read_to_string(&rt_c).expect("reading rt.c");
    assert_eq!(
        text.matches(REPLQ_SITE).count(),
        1,
        "rt.c's deadline_replq_insert is not where build.rs expects it"
    );
    let dir = out.join("xen-sched-replq");
    fs::create_dir_all(&dir).expect("creating OUT_DIR/xen-sched-replq");
    fs::write(dir.join("rt.c"), text.replace(REPLQ_SITE, REPLQ_PATCH)).expect("writing rt.c");
    let prelude = out.join("rename-replq.h");
    fs::write(&prelude, rename_header(&manifest)).expect("writing the rename header");
    build(&manifest, &tree, &dir, Some(&prelude), "xenrt_replq");
    // (Last: the libraries above call them.)
    cc::Build::new().file(thunks_asm(&out)).compile("xenthunks");
}
