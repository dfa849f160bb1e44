//! `xen-build` and `xen-boot`: Xen 4.17 from Debian's source, patched with `xen-patch/`,
//! built and booted under QEMU with a Debian dom0.
//!
//! Layout under `target/xen/`:
//! - `src-cache/`: the Debian source package, fetched once (`apt-get source`), unpacked;
//! - `stock/`, `rtsched/`, `rtsched-debug/`: one build tree per flavour, copied from the
//!   cache; `rtsched*/` have the series applied (a stamp with a hash of the series and the
//!   configuration re-creates a tree when they change); `-debug` trees are built with
//!   `CONFIG_DEBUG=y` (ASSERTs on);
//! - `debs/`: the Debian packages of the dom0 (kernel, busybox, toolstack), unpacked;
//! - `initrd.gz`, `<flavour>-boot.log`: the dom0 initramfs and the serial logs.

use std::collections::{BTreeSet, VecDeque};
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering as AtomicOrdering};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::object;
use crate::util::{output, root, run, BuildLock};

/// The Debian version of Xen 4.17 this project targets (bookworm main).
pub const XEN_DEB_VERSION: &str = "4.17.5+72-g01140da4e8-1";
const XEN_DIR: &str = "xen-4.17.5+72-g01140da4e8";

/// Options of `cargo xtask xen-build`.
#[derive(clap::Args)]
pub struct BuildArgs {
    /// Build Xen's own C RTDS (no patches) for comparison.
    #[arg(long)]
    pub stock: bool,
    /// A debug hypervisor (`CONFIG_DEBUG=y`: ASSERTs and extra checks on).
    #[arg(long)]
    pub debug: bool,
}

/// How guest time advances (`xen-boot` and `e2e`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, clap::ValueEnum)]
pub enum Clock {
    /// QEMU instruction counting: guest time from emulated instructions (repeatable, and
    /// independent of host cores and load).
    Icount,
    /// The host's clock (QEMU's default; timer interrupts come late when the host is busy).
    Host,
}

impl Clock {
    /// [`BootSpec::icount`] for this clock: `shift` under instruction counting.
    pub fn icount(self, shift: u32) -> Option<u32> {
        (self == Clock::Icount).then_some(shift)
    }
}

/// Options of `cargo xtask xen-boot`.
#[derive(clap::Args)]
pub struct BootArgs {
    /// Boot the stock build.
    #[arg(long)]
    pub stock: bool,
    /// Boot the debug build (`xen-build --debug`).
    #[arg(long)]
    pub debug: bool,
    /// Extra Xen command-line options (e.g. `rtsched_policy=partition`).
    #[arg(long, default_value = "")]
    pub xen_args: String,
    /// Seconds before the whole boot is given up (a backstop: hangs are caught by
    /// `--hang-after`; a boot takes 2-4 minutes on an idle 2-core machine, several times
    /// that on a loaded one).
    #[arg(long, default_value_t = 2400)]
    pub timeout: u64,
    /// Seconds without a new step line (`RTSCHED-...`) on the console before the boot is
    /// declared hung (twice that before the first one, while Xen and dom0 boot).
    #[arg(long, default_value_t = 300)]
    pub hang_after: u64,
    /// Leave out the step that traces rtsched's own records while provoking them
    /// (`trace-own-records`, about a minute under emulation; CI takes it on one boot).
    #[arg(long)]
    pub skip_trace_own: bool,
    /// Guest clock. With instruction counting a boot's guest time is its own emulated
    /// instructions', so boots can share the host's cores (CI runs two at a time).
    #[arg(long, value_enum, default_value = "host")]
    pub clock: Clock,
    /// Instruction counting: 2^shift ns of guest time per emulated instruction.
    #[arg(long, default_value_t = 2)]
    pub shift: u32,
}

fn xen_dir() -> PathBuf {
    root().join("target").join("xen")
}

fn flavour(stock: bool) -> &'static str {
    if stock {
        "stock"
    } else {
        "rtsched"
    }
}

/// The build tree's name: the flavour, `-debug` for a debug hypervisor.
fn tree_name(stock: bool, debug: bool) -> String {
    format!("{}{}", flavour(stock), if debug { "-debug" } else { "" })
}

/// `apt-get`, with apt's own retries for a download the mirror drops (each fetch is
/// checked against the signed index, so a retried file is the same file).
fn apt() -> Command {
    let mut c = Command::new("apt-get");
    c.args(["-o", "Acquire::Retries=5"]);
    c
}

/// Installs Debian packages whose commands are missing.
pub fn ensure_packages(cmds_pkgs: &[(&str, &str)]) -> Result<()> {
    let missing: Vec<&str> = cmds_pkgs
        .iter()
        .filter(|(cmd, _)| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {cmd}")])
                .stdout(Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        })
        .map(|(_, p)| *p)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    println!("installing {}", missing.join(" "));
    apt_install(&missing, None)
}

/// `apt-get update`, then installs `pkgs` (from `release`, e.g. a backports suite, when
/// given).
fn apt_install(pkgs: &[&str], release: Option<&str>) -> Result<()> {
    run(apt().arg("update").arg("-qq"))?;
    let mut install = apt();
    install
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .env("DEBIAN_FRONTEND", "noninteractive");
    if let Some(r) = release {
        install.args(["-t", r]);
    }
    run(install.args(pkgs))
}

/// QEMU's major version, if `qemu-system-x86_64` runs.
fn qemu_major() -> Option<u32> {
    parse_qemu_major(&output(Command::new("qemu-system-x86_64").arg("--version")).ok()?)
}

/// The major version in `qemu-system-x86_64 --version`'s "QEMU emulator version 10.0.2
/// (Debian ...)".
fn parse_qemu_major(version: &str) -> Option<u32> {
    version
        .split("version ")
        .nth(1)?
        .split('.')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// The oldest QEMU the boots run under. Instruction-counted boots run every virtual CPU in
/// turns on one host thread. Before QEMU 8.0 ("accel/tcg/tcg-accel-ops-rr: ensure fairness
/// with icount") each turn's budget was all the instructions left until the next timer
/// event, so a PCPU that spins without `pause` (Xen's idle loop scrubbing freed memory)
/// used up every turn and the PCPUs after it ran nothing, forever if one of them was needed
/// to finish: a host hang with a PCPU stopped in a rendezvous (seen in `xl cpupool-cpu-remove`
/// after a guest was destroyed: CPU 0 waited in `on_selected_cpus`, CPU 2 in
/// `time_calibration_std_rendezvous` had executed nothing since the others left it, and
/// one instruction stepped on it through QEMU's debug stub let the host go on). From 8.0 the
/// budget is shared among the virtual CPUs.
const QEMU_MIN_MAJOR: u32 = 8;

/// Installs QEMU, at least [`QEMU_MIN_MAJOR`]: Debian 12's own is 7.2, so there it comes
/// from bookworm-backports (added to apt's sources if missing).
pub fn ensure_qemu() -> Result<()> {
    let new_enough = || qemu_major().is_some_and(|m| m >= QEMU_MIN_MAJOR);
    if new_enough() {
        return Ok(());
    }
    // (Under the build lock: boots side by side would otherwise run apt at once.)
    let _lock = BuildLock::take()?;
    if new_enough() {
        return Ok(());
    }
    let bookworm = fs::read_to_string("/etc/os-release")
        .is_ok_and(|t| t.lines().any(|l| l == "VERSION_CODENAME=bookworm"));
    if bookworm {
        let list = Path::new("/etc/apt/sources.list.d/bookworm-backports.list");
        if !list.exists() {
            fs::write(
                list,
                "deb http://deb.debian.org/debian bookworm-backports main\n",
            )
            .context("adding bookworm-backports to apt's sources")?;
        }
    }
    println!("installing QEMU {QEMU_MIN_MAJOR} or later (qemu-system-x86)");
    apt_install(
        &["qemu-system-x86"],
        bookworm.then_some("bookworm-backports"),
    )?;
    match qemu_major() {
        Some(m) if m >= QEMU_MIN_MAJOR => Ok(()),
        found => bail!(
            "QEMU {QEMU_MIN_MAJOR} or later is needed (found {found:?}): older QEMU starves \
             virtual CPUs under instruction counting and hangs the boots"
        ),
    }
}

/// Adds a deb-src entry for bookworm main if apt has none (the security pool has no sources).
fn ensure_deb_src() -> Result<()> {
    let has = |p: &Path| fs::read_to_string(p).is_ok_and(|t| t.contains("deb-src"));
    let sources = Path::new("/etc/apt/sources.list.d/debian.sources");
    if has(sources) || has(Path::new("/etc/apt/sources.list")) {
        return Ok(());
    }
    let entry = "\nTypes: deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n\
                 Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n";
    let mut t = fs::read_to_string(sources).unwrap_or_default();
    t.push_str(entry);
    fs::write(sources, t).context("adding a deb-src entry")?;
    run(apt().arg("update").arg("-qq"))
}

/// The unpacked Debian source of Xen, fetched once.
pub fn source_tree() -> Result<PathBuf> {
    let cache = xen_dir().join("src-cache");
    let tree = cache.join(XEN_DIR);
    if tree.join("xen").join("Makefile").exists() {
        return Ok(tree);
    }
    ensure_packages(&[("dpkg-source", "dpkg-dev"), ("xz", "xz-utils")])?;
    ensure_deb_src()?;
    fs::create_dir_all(&cache)?;
    println!(
        "fetching xen={XEN_DEB_VERSION} source into {}",
        cache.display()
    );
    run(apt()
        .current_dir(&cache)
        .args(["source", "-qq"])
        .arg(format!("xen={XEN_DEB_VERSION}")))?;
    if !tree.join("xen").join("Makefile").exists() {
        bail!("apt-get source did not produce {}", tree.display());
    }
    Ok(tree)
}

/// A hash of a patch series (`<dir>/series`, the patches it lists, and `config` beside it).
fn series_hash(dir: &Path) -> Result<u64> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for name in ["series", "config"] {
        fs::read(dir.join(name)).unwrap_or_default().hash(&mut h);
    }
    for p in series(dir)? {
        fs::read(dir.join(&p))?.hash(&mut h);
    }
    Ok(h.finish())
}

/// The patches of a series directory, in order.
fn series(dir: &Path) -> Result<Vec<String>> {
    let t = fs::read_to_string(dir.join("series")).unwrap_or_default();
    Ok(t.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect())
}

/// The series applied to every build (`xen-patch/common/`: instrumentation shared by the
/// stock and rtsched builds), then, for rtsched, the rtsched series (`xen-patch/`).
fn series_dirs(stock: bool) -> Vec<PathBuf> {
    let top = root().join("xen-patch");
    if stock {
        vec![top.join("common")]
    } else {
        vec![top.join("common"), top]
    }
}

/// A fresh or up-to-date build tree for the flavour.
fn build_tree(stock: bool, debug: bool) -> Result<PathBuf> {
    let src = source_tree()?;
    let tree = xen_dir().join(tree_name(stock, debug));
    let stamp = tree.join(".rtsched-stamp");
    let mut want = tree_name(stock, debug);
    for d in series_dirs(stock) {
        want.push_str(&format!("-{:x}", series_hash(&d)?));
    }
    if fs::read_to_string(&stamp).ok().as_deref() == Some(want.as_str()) {
        return Ok(tree);
    }
    if tree.exists() {
        fs::remove_dir_all(&tree)?;
    }
    run(Command::new("cp").arg("-a").arg(&src).arg(&tree))?;
    let mut config = vec![
        "CONFIG_EXPERT=y",
        "CONFIG_UNSUPPORTED=y",
        "CONFIG_SCHED_RTDS=y",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    if debug {
        config.push("CONFIG_DEBUG=y".into());
    }
    for dir in series_dirs(stock) {
        for p in series(&dir)? {
            println!("applying {p}");
            run(Command::new("patch")
                .current_dir(&tree)
                .args(["-p1", "-s", "-i"])
                .arg(dir.join(&p)))?;
        }
        let extra = fs::read_to_string(dir.join("config")).unwrap_or_default();
        config.extend(
            extra
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(String::from),
        );
    }
    run(Command::new("make")
        .current_dir(tree.join("xen"))
        .args(["-s", "defconfig"]))?;
    let cfg = tree.join("xen").join(".config");
    let mut t = fs::read_to_string(&cfg)?;
    for line in &config {
        t.push_str(line);
        t.push('\n');
    }
    fs::write(&cfg, t)?;
    run(Command::new("make")
        .current_dir(tree.join("xen"))
        .args(["-s", "olddefconfig"]))?;
    fs::write(&stamp, want)?;
    Ok(tree)
}

/// Builds the release hypervisor of a flavour; returns the `xen` ELF.
pub fn build_xen(stock: bool) -> Result<PathBuf> {
    build_xen_tree(stock, false)
}

/// Runs Xen's `make`, writing its output to `log` and summarising it on the terminal: the
/// first lines and every warning or error as they come, a progress line (objects compiled,
/// the last one) every 15 s, and the log's tail on failure.
fn make_with_progress(make: &mut Command, log: &Path) -> Result<()> {
    let mut child = make
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running make")?;
    let (tx, rx) = mpsc::channel::<String>();
    let mut readers = Vec::new();
    for r in [
        child
            .stdout
            .take()
            .map(|o| Box::new(o) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|e| Box::new(e) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        readers.push(std::thread::spawn(move || {
            for line in BufReader::new(r).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    let t0 = Instant::now();
    let mut text = String::new();
    let (mut objects, mut last, mut next_report) = (0u32, String::new(), 15);
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) => {
                let l = line.trim_start();
                if l.starts_with("CC ") || l.starts_with("AS ") {
                    objects += 1;
                    last = l.to_string();
                }
                let diag = l.contains("error:") || l.contains("warning:") || l.contains("***");
                if diag || text.len() < 400 {
                    println!("  {line}");
                }
                text.push_str(&line);
                text.push('\n');
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        let t = t0.elapsed().as_secs();
        if t >= next_report {
            println!("xen-build: {t} s, {objects} objects compiled, last: {last}");
            next_report = t + 15;
        }
    }
    for r in readers {
        let _ = r.join();
    }
    let status = child.wait()?;
    fs::write(log, &text)?;
    if !status.success() {
        let tail: Vec<&str> = text.lines().rev().take(30).collect();
        for l in tail.iter().rev() {
            println!("  {l}");
        }
        bail!("Xen build failed ({status}), see {}", log.display());
    }
    println!(
        "xen-build: {objects} objects compiled in {:.0} s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Builds the hypervisor of a flavour, release or debug; returns the `xen` ELF.
pub fn build_xen_tree(stock: bool, debug: bool) -> Result<PathBuf> {
    let _lock = BuildLock::take()?;
    let t0 = Instant::now();
    ensure_packages(&[
        ("gcc", "gcc"),
        ("make", "make"),
        ("python3", "python3"),
        ("bison", "bison"),
        ("flex", "flex"),
        ("patch", "patch"),
    ])?;
    let tree = build_tree(stock, debug)?;
    let mut make = Command::new("make");
    make.current_dir(tree.join("xen")).arg(format!(
        "-j{}",
        std::thread::available_parallelism().map_or(2, |n| n.get())
    ));
    if !stock {
        // The object Xen links is the one the hygiene check passes.
        object::check_object(&object::Args { selftest: false })?;
        make.arg(format!("RTSCHED_DIR={}", object::out_dir().display()));
    }
    let log = xen_dir().join(format!("{}-build.log", tree_name(stock, debug)));
    make_with_progress(&mut make, &log)?;
    let xen = tree.join("xen").join("xen");
    println!(
        "built {} in {:.0} s: {}",
        tree_name(stock, debug),
        t0.elapsed().as_secs_f64(),
        xen.display()
    );
    Ok(xen)
}

/// Builds the hypervisor.
pub fn build(a: &BuildArgs) -> Result<()> {
    build_xen_tree(a.stock, a.debug).map(|_| ())
}

/// Debian packages of the dom0 (and guests), unpacked under `target/xen/debs/root`.
fn dom0_packages() -> Result<(PathBuf, String)> {
    let debs = xen_dir().join("debs");
    let rootfs = debs.join("root");
    let done = debs.join(".done");
    if let Ok(kver) = fs::read_to_string(&done) {
        return Ok((rootfs, kver.trim().to_string()));
    }
    ensure_packages(&[("dpkg-deb", "dpkg")])?;
    fs::create_dir_all(&debs)?;
    // The kernel known to work (see shared notes), else the newest 6.1 one.
    let search = output(Command::new("apt-cache").args([
        "search",
        "--names-only",
        "^linux-image-6.1.0-[0-9]+-amd64$",
    ]))?;
    let mut kernels: Vec<&str> = search
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    kernels.sort_by_key(|k| {
        k.trim_start_matches("linux-image-6.1.0-")
            .trim_end_matches("-amd64")
            .parse::<u32>()
            .unwrap_or(0)
    });
    let kernel = if kernels.contains(&"linux-image-6.1.0-56-amd64") {
        "linux-image-6.1.0-56-amd64"
    } else {
        kernels
            .last()
            .copied()
            .context("no linux-image-6.1.0-*-amd64 package")?
    };
    let v = XEN_DEB_VERSION;
    let mut pkgs: Vec<String> = vec![kernel.into(), "busybox-static".into(), "libyajl2".into()];
    for p in [
        "xen-utils-4.17",
        "xen-utils-common",
        "xenstore-utils",
        "libxenmisc4.17",
        "libxenstore4",
        "libxencall1",
        "libxendevicemodel1",
        "libxenevtchn1",
        "libxenforeignmemory1",
        "libxengnttab1",
        "libxenhypfs1",
        "libxentoollog1",
        "libxentoolcore1",
    ] {
        pkgs.push(format!("{p}={v}"));
    }
    println!("downloading {}", pkgs.join(" "));
    run(apt()
        .current_dir(&debs)
        .args(["download", "-qq"])
        .args(&pkgs))?;
    for e in fs::read_dir(&debs)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "deb") {
            run(Command::new("dpkg-deb").arg("-x").arg(&p).arg(&rootfs))?;
        }
    }
    let kver = kernel.trim_start_matches("linux-image-").to_string();
    fs::write(&done, &kver)?;
    Ok((rootfs, kver))
}

/// Copies `src` to `dst`, creating parents.
fn install(src: &Path, dst: &Path) -> Result<()> {
    if let Some(p) = dst.parent() {
        fs::create_dir_all(p)?;
    }
    fs::copy(src, dst).with_context(|| format!("copying {}", src.display()))?;
    Ok(())
}

/// The shared libraries an ELF file needs (`DT_NEEDED`).
fn needed(elf: &Path) -> Result<Vec<String>> {
    let d = output(Command::new("readelf").arg("-d").arg(elf))?;
    Ok(d.lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1).and_then(|s| s.split(']').next()))
        .map(String::from)
        .collect())
}

/// [`initramfs`], built once per process: its inputs do not change while xtask runs, and a
/// command that boots several times (e2e) would otherwise build the same image before each
/// boot. (Another process may rebuild it meanwhile, with the same content, under the build
/// lock that every reader holds.)
fn initramfs_once() -> Result<(PathBuf, PathBuf)> {
    static BUILT: Mutex<Option<(PathBuf, PathBuf)>> = Mutex::new(None);
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(b) = built.as_ref().filter(|b| b.0.exists()) {
        return Ok(b.clone());
    }
    let b = initramfs()?;
    *built = Some(b.clone());
    Ok(b)
}

/// Removes the private boot copies (`target/xen/boots/<pid>-<n>/`) of processes that are
/// gone (a boot killed before it could remove its own).
fn remove_stale_boots() {
    remove_stale_in(&xen_dir().join("boots"));
}

/// [`remove_stale_boots`] in `dir`.
fn remove_stale_in(dir: &Path) {
    let Ok(dir) = fs::read_dir(dir) else {
        return;
    };
    for e in dir.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let pid = name.split('-').next().unwrap_or("");
        if !pid.is_empty() && !Path::new("/proc").join(pid).exists() {
            let _ = fs::remove_dir_all(e.path());
        }
    }
}

/// Assembles the dom0 initramfs; returns it and the kernel.
fn initramfs() -> Result<(PathBuf, PathBuf)> {
    let (debs, kver) = dom0_packages()?;
    let ird = xen_dir().join("initrd");
    if ird.exists() {
        fs::remove_dir_all(&ird)?;
    }
    for d in [
        "bin",
        "sbin",
        "proc",
        "sys",
        "dev",
        "etc",
        "lib/modules",
        "lib64",
        "usr/bin",
    ] {
        fs::create_dir_all(ird.join(d))?;
    }
    install(&debs.join("bin/busybox"), &ird.join("bin/busybox"))?;
    install(&root().join("xtask/boot/init.sh"), &ird.join("init"))?;
    install(&root().join("xtask/boot/pools.sh"), &ird.join("pools.sh"))?;
    install(&root().join("xtask/boot/e2e.sh"), &ird.join("e2e.sh"))?;
    install(
        &root().join("xtask/boot/e2e-spare.sh"),
        &ird.join("e2e-spare.sh"),
    )?;
    run(Command::new("chmod").arg("+x").arg(ird.join("init")))?;
    let moddir = debs
        .join("lib/modules")
        .join(&kver)
        .join("kernel/drivers/xen");
    for (m, rel) in [
        ("xen-evtchn", "xen-evtchn.ko"),
        ("xen-privcmd", "xen-privcmd.ko"),
        ("xenfs", "xenfs/xenfs.ko"),
        ("xen-gntdev", "xen-gntdev.ko"),
        ("xen-gntalloc", "xen-gntalloc.ko"),
    ] {
        install(&moddir.join(rel), &ird.join(format!("lib/modules/{m}.ko")))?;
    }
    // Toolstack binaries, called directly (the /usr/sbin ones are wrapper scripts).
    let bin = "usr/lib/xen-4.17/bin";
    let mut elves = Vec::new();
    for b in [
        "xl",
        "xenstored",
        "xen-init-dom0",
        "xenconsoled",
        "xentrace",
        "xen-hptool",
    ] {
        let dst = ird.join(bin).join(b);
        install(&debs.join(bin).join(b), &dst)?;
        elves.push(dst);
    }
    for (src, dst) in [
        ("usr/sbin/xenhypfs", "usr/sbin/xenhypfs"),
        ("usr/bin/xenstore-ls", "usr/bin/xenstore-ls"),
        ("usr/bin/xenstore-read", "usr/bin/xenstore-read"),
    ] {
        install(&debs.join(src), &ird.join(dst))?;
        elves.push(ird.join(dst));
    }
    // A raw-hypercall client, so invalid values reach the hypervisor past libxl's checks.
    // And one that reads every domain's CPU time in ns (`xl list` rounds to 0.1 s).
    let src = source_tree()?;
    // `xsping probe`: the spare scenario's request/response probe (`boot/xsping.c`).
    for tool in ["rtds-hcall", "domtime", "xsping"] {
        run(Command::new("gcc")
            .args(["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-I"])
            .arg(src.join("xen/include"))
            .arg("-o")
            .arg(ird.join("usr/bin").join(tool))
            .arg(root().join(format!("xtask/boot/{tool}.c"))))?;
    }
    // Libraries: walk DT_NEEDED inside the initramfs, taking them from the packages or
    // the host (never trusting the host's ldd, which falls back to the host silently).
    let libdir = "usr/lib/x86_64-linux-gnu";
    let mut seen = BTreeSet::new();
    let mut todo: VecDeque<PathBuf> = elves.into();
    while let Some(elf) = todo.pop_front() {
        for lib in needed(&elf)? {
            if !seen.insert(lib.clone()) {
                continue;
            }
            let cands = [
                debs.join(libdir).join(&lib),
                debs.join("lib/x86_64-linux-gnu").join(&lib),
                PathBuf::from("/lib/x86_64-linux-gnu").join(&lib),
                PathBuf::from("/usr/lib/x86_64-linux-gnu").join(&lib),
            ];
            let src = cands
                .iter()
                .find(|p| p.exists())
                .with_context(|| format!("library {lib} needed by {} not found", elf.display()))?;
            let dst = ird.join(libdir).join(&lib);
            install(&fs::canonicalize(src)?, &dst)?;
            todo.push_back(dst);
        }
    }
    // Loaded with dlopen by glibc (pthread_cancel in xl), so not in any DT_NEEDED.
    let gcc_s = Path::new("/lib/x86_64-linux-gnu/libgcc_s.so.1");
    install(
        &fs::canonicalize(gcc_s)?,
        &ird.join(libdir).join("libgcc_s.so.1"),
    )?;
    install(
        Path::new("/lib64/ld-linux-x86-64.so.2"),
        &ird.join("lib64/ld-linux-x86-64.so.2"),
    )?;
    let _ = std::os::unix::fs::symlink(
        "../usr/lib/x86_64-linux-gnu",
        ird.join("lib/x86_64-linux-gnu"),
    );
    // Guests for `cargo xtask e2e`: the same kernel and a busybox initramfs that spins or
    // runs periodic real-time tasks (`boot/guest-init.sh`, `boot/rtjob.c`).
    let gdir = xen_dir().join("guest-initrd");
    if gdir.exists() {
        fs::remove_dir_all(&gdir)?;
    }
    fs::create_dir_all(gdir.join("bin"))?;
    install(&debs.join("bin/busybox"), &gdir.join("bin/busybox"))?;
    install(&root().join("xtask/boot/guest-init.sh"), &gdir.join("init"))?;
    run(Command::new("chmod").arg("+x").arg(gdir.join("init")))?;
    run(Command::new("gcc")
        .args(["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(gdir.join("bin/rtjob"))
        .arg(root().join("xtask/boot/rtjob.c")))?;
    // `xsping serve`: the spare scenario's batch loop and responder.
    run(Command::new("gcc")
        .args(["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(gdir.join("bin/xsping"))
        .arg(root().join("xtask/boot/xsping.c")))?;
    fs::create_dir_all(ird.join("guest"))?;
    run(Command::new("sh").current_dir(&gdir).arg("-c").arg(format!(
        "find . | cpio -o -H newc --quiet | gzip -1 > {}",
        ird.join("guest/initrd.gz").display()
    )))?;
    install(
        &debs.join("boot").join(format!("vmlinuz-{kver}")),
        &ird.join("guest/vmlinuz"),
    )?;
    let out = xen_dir().join("initrd.gz");
    run(Command::new("sh").current_dir(&ird).arg("-c").arg(format!(
        "find . | cpio -o -H newc --quiet | gzip -1 > {}",
        out.display()
    )))?;
    let kernel = debs.join("boot").join(format!("vmlinuz-{kver}"));
    Ok((out, kernel))
}

/// Result of a scripted boot.
pub struct BootReport {
    /// Steps that passed.
    pub pass: u32,
    /// Steps that failed.
    pub fail: u32,
    /// The serial log.
    pub log: PathBuf,
    /// The serial output.
    pub text: String,
    /// A known difference of stock Xen that ended the boot as expected (the step and what
    /// was seen).
    pub known: Option<String>,
}

/// How to boot: the flavour, extra options and limits.
pub struct BootSpec<'a> {
    /// Stock Xen (C RTDS) instead of rtsched.
    pub stock: bool,
    /// The debug build (`CONFIG_DEBUG=y`).
    pub debug: bool,
    /// Extra Xen command-line options.
    pub xen_args: &'a str,
    /// Extra dom0 kernel command-line options (read by the dom0 init script).
    pub dom0_args: &'a str,
    /// dom0 VCPUs (pinned to PCPUs 0..n).
    pub dom0_vcpus: u32,
    /// Seconds before the boot is given up.
    pub timeout_s: u64,
    /// Seconds without a new `RTSCHED-` console line before the boot is declared hung
    /// (twice that before the first one).
    pub hang_s: u64,
    /// Name of the log (`<flavour>-<tag>-boot.log`).
    pub tag: &'a str,
    /// Emulated time from instruction counting, 2^shift ns per instruction (QEMU
    /// `-icount`), instead of the host's clock: guest time no longer depends on host
    /// cores or load (all virtual CPUs then run in one host thread).
    pub icount: Option<u32>,
    /// The hypervisor to boot instead of the flavour's build (e.g. a deliberately broken one).
    pub xen_elf: Option<&'a Path>,
    /// Put before each console line echoed to the terminal (which boot it is, when several
    /// run at once).
    pub prefix: &'a str,
}

/// Console lines that mean the hypervisor or dom0 died.
const PANIC_SIGNS: &[&str] = &[
    "Panic on CPU",
    "FATAL PAGE FAULT",
    "FATAL TRAP",
    "Xen BUG at",
    "Assertion '",
    "Hardware Dom0 crashed",
    "Kernel panic - not syncing",
];

/// Crashes of stock Xen 4.17's rt.c that the boot steps provoke on purpose: (the steps, by
/// name prefix, a word of the console after the panic). rtsched must pass the steps; stock
/// must panic in one of them (else they no longer exercise the bug). rt.c dereferences the
/// removed CPU's cleared cpupool when the CPU holding the replenishment timer leaves an RTDS
/// pool (fixed upstream after 4.17 by f294e3abe40c); which CPU holds the timer when one
/// leaves depends on timing, so the panic comes in `pool-remove-timer-cpu` or a later pool
/// step. The pool steps before it are rtsched's acceptance, reported for stock, not
/// checked (under load stock's pool guest may not run: `pool-remove-cpu-guest-running`).
const STOCK_KNOWN_PANICS: &[(&str, &str)] = &[("pool-", "move_repl_timer")];

/// dom0's part of a console line: Xen's own messages share the serial line and can land in
/// the middle of one of dom0's (`RTSCHED-BEGIN pool-remove-timer-cpu(XEN) burn_budget...`).
fn dom0_part(line: &str) -> &str {
    line.find("(XEN)").map_or(line, |i| &line[..i]).trim_end()
}

/// Lines of a boot's console text that report a step with `outcome` (` OK`, ` FAIL`).
fn steps<'a>(text: &'a str, outcome: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.lines()
        .map(dom0_part)
        .filter(move |l| l.starts_with("RTSCHED-STEP") && l.contains(outcome))
}

/// How a monitored boot ended.
enum End {
    /// The script's end marker was seen.
    Done,
    /// A panic line was seen (the line).
    Panic(String),
    /// No new step line for this many seconds.
    Hang(u64),
    /// The whole boot took longer than its timeout.
    Timeout,
    /// QEMU exited (reboot or power-off) before the end marker.
    Exited,
}

/// Each virtual CPU's instruction pointer, read through QEMU's monitor at `socket` (`info
/// registers -a`), with the hypervisor function and line it is in (`xen_syms`, by
/// `addr2line`), its privilege level and whether it halted, and the hypervisor text
/// addresses found in the top of its stack (`x/96gx` at its stack pointer): where a hung
/// boot's PCPUs spin and what called them. Lines to print; an explanation if the monitor
/// does not answer.
fn cpu_states(socket: &Path, xen_syms: &Path) -> Vec<String> {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    let Ok(mut m) = UnixStream::connect(socket) else {
        return vec![format!(
            "xen-boot: QEMU's monitor {} does not answer",
            socket.display()
        )];
    };
    let _ = m.set_read_timeout(Some(Duration::from_secs(5)));
    // One command's answer: what comes before the next prompt.
    let mut cmd = |c: &str| -> String {
        if !c.is_empty() && m.write_all(format!("{c}\n").as_bytes()).is_err() {
            return String::new();
        }
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        while !out.ends_with(b"(qemu) ") {
            match m.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    let _banner = cmd("");
    let text = cmd("info registers -a");
    let syms = |addrs: &[String], inline: bool| -> String {
        let mut c = Command::new("addr2line");
        c.args(if inline {
            ["-f", "-C", "-i", "-e"]
        } else {
            ["-f", "-C", "-s", "-e"]
        })
        .arg(xen_syms)
        .args(addrs);
        output(&mut c)
            .map(|o| o.split_whitespace().collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|e| format!("(addr2line: {e:#})"))
    };
    // The hypervisor's text, for picking return addresses out of a stack.
    let text_range = output(Command::new("nm").arg(xen_syms)).ok().and_then(|o| {
        let find = |name: &str| {
            o.lines()
                .find(|l| l.ends_with(&format!(" {name}")))
                .and_then(|l| u64::from_str_radix(l.split(' ').next()?, 16).ok())
        };
        Some((find("_stext")?, find("_etext")?))
    });
    let mut lines = Vec::new();
    let mut cpu = 0;
    let mut rsp = String::new();
    let mut cpus = Vec::new();
    for l in text.lines() {
        if let Some(rest) = l.split("CPU#").nth(1) {
            cpu = rest
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap_or(cpu);
        }
        if let Some(r) = l.split("RSP=").nth(1).and_then(|r| r.get(..16)) {
            rsp = r.to_string();
        }
        // "RIP=... RFL=... [...] CPL=3 II=0 A20=1 SMM=0 HLT=1": also the flags (bit 9:
        // interrupts enabled), the privilege level (a PV guest's kernel runs at 3) and
        // whether the CPU halted.
        let Some(rip) = l.split("RIP=").nth(1).and_then(|r| r.get(..16)) else {
            continue;
        };
        let field = |k: &str| {
            l.split(k)
                .nth(1)
                .and_then(|v| v.split_whitespace().next())
                .unwrap_or("?")
                .to_string()
        };
        lines.push(format!(
            "xen-boot: CPU{cpu} RIP={rip} RSP={rsp} RFL={} CPL={} HLT={} in {}",
            field("RFL="),
            field("CPL="),
            field("HLT="),
            syms(&[format!("0x{rip}")], true)
        ));
        cpus.push((cpu, rsp.clone()));
    }
    if lines.is_empty() {
        lines.push(format!(
            "xen-boot: QEMU's monitor gave no registers: {}",
            text.trim()
        ));
    }
    let Some((lo, hi)) = text_range else {
        return lines;
    };
    for (c, sp) in cpus {
        cmd(&format!("cpu {c}"));
        let words: Vec<String> = cmd(&format!("x/96gx 0x{sp}"))
            .lines()
            .filter_map(|l| l.split_once(": ").map(|(_, w)| w.to_string()))
            .flat_map(|w| {
                w.split_whitespace()
                    .filter_map(|x| u64::from_str_radix(x.trim_start_matches("0x"), 16).ok())
                    .collect::<Vec<_>>()
            })
            .filter(|a| (lo..hi).contains(a))
            .map(|a| format!("0x{a:x}"))
            .collect();
        if !words.is_empty() {
            lines.push(format!(
                "xen-boot: CPU{c} stack (text addresses, innermost first): {}",
                syms(&words, false)
            ));
        }
    }
    lines
}

/// Boots a flavour under QEMU with the scripted dom0 and returns the step counts. A panic,
/// an early exit or a hang is reported at once with the step it happened in and the console
/// tail; a heartbeat line is printed every 30 s.
pub fn boot_xen(spec: &BootSpec) -> Result<BootReport> {
    let (stock, xen_args, timeout_s) = (spec.stock, spec.xen_args, spec.timeout_s);
    ensure_qemu()?;
    ensure_packages(&[("cpio", "cpio"), ("gzip", "gzip"), ("readelf", "binutils")])?;
    let name = tree_name(stock, spec.debug);
    let pre = spec.prefix;
    // QEMU boots private copies of the hypervisor and the initramfs, made under the build
    // lock: another command may rebuild either while this boot runs.
    static BOOTS: AtomicU32 = AtomicU32::new(0);
    let private = xen_dir().join("boots").join(format!(
        "{}-{}",
        std::process::id(),
        BOOTS.fetch_add(1, AtomicOrdering::Relaxed)
    ));
    let (xen, initrd, kernel, xen_syms) = {
        let _lock = BuildLock::take()?;
        let xen = match spec.xen_elf {
            Some(p) => p.to_path_buf(),
            None => {
                let xen = xen_dir().join(&name).join("xen").join("xen");
                if xen.exists() {
                    xen
                } else {
                    build_xen_tree(stock, spec.debug)?
                }
            }
        };
        let xen_syms = xen.with_file_name("xen-syms");
        let (initrd, kernel) = initramfs_once()?;
        remove_stale_boots();
        if private.exists() {
            fs::remove_dir_all(&private)?;
        }
        fs::create_dir_all(&private)?;
        let (x, i) = (private.join("xen"), private.join("initrd.gz"));
        fs::copy(&xen, &x).with_context(|| format!("copying {}", xen.display()))?;
        fs::copy(&initrd, &i).with_context(|| format!("copying {}", initrd.display()))?;
        (x, i, kernel, xen_syms)
    };
    let icount: Vec<String> = spec.icount.map_or(Vec::new(), |shift| {
        vec![
            "-accel".into(),
            "tcg,thread=single".into(),
            "-icount".into(),
            format!("shift={shift},sleep=off,align=off"),
        ]
    });
    let elf_tag = spec
        .xen_elf
        .and_then(|p| p.file_stem())
        .map_or(String::new(), |s| format!("{}-", s.to_string_lossy()));
    let tag: String = format!("{}{elf_tag}{}", spec.tag, xen_args)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let log = if tag.is_empty() {
        xen_dir().join(format!("{name}-boot.log"))
    } else {
        xen_dir().join(format!("{name}-{tag}-boot.log"))
    };
    let monitor = private.join("monitor.sock");
    let t0 = Instant::now();
    let append = format!(
        "console=com1 com1=115200,8n1 conring_size=1M loglvl=all guest_loglvl=all \
         dom0_mem=1024M,max:1024M dom0_max_vcpus={} dom0_vcpus_pin sched=rtds {xen_args}",
        spec.dom0_vcpus
    );
    let modules = format!(
        "{} console=hvc0 earlyprintk=xen rtsched_flavour={} {},{}",
        kernel.display(),
        flavour(stock),
        spec.dom0_args,
        initrd.display()
    );
    // (Without x2APIC: QEMU 8 and later offer it under TCG, and Xen 4.17 in x2APIC mode
    // resets the machine at its IO-APIC timer check; QEMU 7.2 offered only the xAPIC.)
    let mut child = Command::new("qemu-system-x86_64")
        .args([
            "-machine",
            "q35",
            "-cpu",
            "Haswell-noTSX,-x2apic",
            "-smp",
            "4",
            "-m",
            "2048",
        ])
        .args(["-display", "none", "-no-reboot", "-serial", "stdio"])
        // (A monitor to read the virtual CPUs' registers from if the boot hangs.)
        .arg("-monitor")
        .arg(format!("unix:{},server=on,wait=off", monitor.display()))
        .args(&icount)
        .arg("-kernel")
        .arg(&xen)
        .arg("-append")
        .arg(&append)
        .arg("-initrd")
        .arg(&modules)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting qemu-system-x86_64")?;
    let stdout = child.stdout.take().context("qemu stdout")?;
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        let mut r = BufReader::new(stdout);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match r.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let l = String::from_utf8_lossy(&buf);
                    let l = l.trim_end_matches(['\n', '\r']).to_string();
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let mut text = String::new();
    let (mut pass, mut fail) = (0, 0);
    let mut step = String::from("(boot, before the first step)");
    let mut last_line = Instant::now();
    let mut last_mark = Instant::now();
    let mut marked = false;
    let mut next_beat = 30;
    let mut panic_at: Option<(Instant, String)> = None;
    let end = loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) => {
                println!("{pre}{line}");
                last_line = Instant::now();
                if line.starts_with("RTSCHED-") {
                    last_mark = last_line;
                    marked = true;
                }
                if let Some(rest) = dom0_part(&line).strip_prefix("RTSCHED-BEGIN ") {
                    step = rest.trim().to_string();
                }
                if panic_at.is_none() {
                    if let Some(sign) = PANIC_SIGNS.iter().find(|s| line.contains(*s)) {
                        println!("{pre}xen-boot: {sign} in step {step}");
                        panic_at = Some((Instant::now(), line.clone()));
                    }
                }
                text.push_str(&line);
                text.push('\n');
                if dom0_part(&line).starts_with("RTSCHED-E2E-DONE") {
                    break End::Done;
                }
                if let Some(rest) = dom0_part(&line).strip_prefix("RTSCHED-BOOT-DONE ") {
                    for kv in rest.split_whitespace() {
                        match kv.split_once('=') {
                            Some(("pass", v)) => pass = v.parse().unwrap_or(0),
                            Some(("fail", v)) => fail = v.parse().unwrap_or(0),
                            _ => {}
                        }
                    }
                    break End::Done;
                }
                // The panic message and call trace come within a few lines; Xen then waits
                // five seconds to reboot, which QEMU's -no-reboot turns into an exit.
                if let Some((_, l)) = &panic_at {
                    if line.contains("Reboot in five seconds") || line.contains("Manual reset") {
                        break End::Panic(l.clone());
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break match panic_at.take() {
                    Some((_, l)) => End::Panic(l),
                    None => End::Exited,
                };
            }
        }
        if let Some((at, l)) = &panic_at {
            if at.elapsed() > Duration::from_secs(10) {
                break End::Panic(l.clone());
            }
        }
        let t = t0.elapsed().as_secs();
        if t >= timeout_s {
            break End::Timeout;
        }
        // Before the first step line the hypervisor and dom0 boot, the longest stretch
        // without one: 120-150 s on an idle 2-core host, up to 270 s with the host busy
        // with other work (instruction-counted debug boots). It gets twice the limit.
        let limit = if marked { spec.hang_s } else { 2 * spec.hang_s };
        if last_mark.elapsed().as_secs() >= limit {
            break End::Hang(last_mark.elapsed().as_secs());
        }
        if t >= next_beat {
            println!(
                "{pre}xen-boot: {t} s, in step {step}, last console line {} s ago",
                last_line.elapsed().as_secs()
            );
            next_beat = t + 30;
        }
    };
    if matches!(end, End::Hang(_) | End::Timeout) {
        // Where each PCPU is (a spinning lock, a loop), before QEMU goes.
        // (In the serial log; the console tail below prints them.)
        for l in cpu_states(&monitor, &xen_syms) {
            text.push_str(&l);
            text.push('\n');
        }
    }
    let _ = child.kill();
    let status = child.wait()?;
    // Whatever QEMU printed before it died.
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        text.push_str(&line);
        text.push('\n');
    }
    let _ = reader.join();
    let _ = fs::remove_dir_all(&private);
    fs::write(&log, &text)?;
    println!(
        "{pre}boot of {name} took {:.0} s (qemu {status}); serial log {}",
        t0.elapsed().as_secs_f64(),
        log.display()
    );
    let what = match end {
        End::Done => {
            return Ok(BootReport {
                pass,
                fail,
                log,
                text,
                known: None,
            })
        }
        End::Panic(line) => {
            let known = STOCK_KNOWN_PANICS
                .iter()
                .find(|(st, sign)| stock && step.starts_with(*st) && text.contains(sign));
            if let Some((st, sign)) = known {
                let passed = steps(&text, " OK").filter(|l| l.ends_with(" OK")).count() as u32;
                let failed = steps(&text, " FAIL")
                    .filter(|l| !l.starts_with(&format!("RTSCHED-STEP {st}")))
                    .count() as u32;
                return Ok(BootReport {
                    pass: passed,
                    fail: failed,
                    log,
                    text,
                    known: Some(format!(
                        "stock rt.c panicked in step {step} ({sign}: {line}), as expected"
                    )),
                });
            }
            format!("the host panicked in step {step}: {line}")
        }
        End::Hang(s) => format!("no progress for {s} s in step {step} (hung?)"),
        End::Timeout => format!("the boot took longer than {timeout_s} s (in step {step})"),
        End::Exited => format!("QEMU exited (reboot or power-off) in step {step}"),
    };
    let lines: Vec<&str> = text.lines().collect();
    println!("{pre}--- console tail ---");
    for l in &lines[lines.len().saturating_sub(40)..] {
        println!("{pre}{l}");
    }
    println!("{pre}--- end of console tail ---");
    let failed: Vec<&str> = steps(&text, " FAIL").collect();
    bail!(
        "{what}; failed steps before: {failed:?}; log {}",
        log.display()
    );
}

/// Whether Xen's command line `xen_args` turns admission control on
/// (`rtsched_policy=...,admission`, as `init.sh` and `pools.sh` read it back from `xl info`).
fn admission_boot(xen_args: &str) -> bool {
    xen_args.split_whitespace().any(|arg| {
        arg.strip_prefix("rtsched_policy=")
            .is_some_and(|v| v.split(',').any(|w| w == "admission"))
    })
}

/// Boots the hypervisor and fails if any scripted step failed.
pub fn boot(a: &BootArgs) -> Result<()> {
    let trace_own = !a.stock && !a.skip_trace_own;
    let r = boot_xen(&BootSpec {
        stock: a.stock,
        debug: a.debug,
        xen_args: &a.xen_args,
        dom0_args: if trace_own { "rtsched_trace_own=1" } else { "" },
        dom0_vcpus: 2,
        timeout_s: a.timeout,
        hang_s: a.hang_after,
        tag: if a.clock == Clock::Icount {
            "icount"
        } else {
            ""
        },
        icount: a.clock.icount(a.shift),
        prefix: "",
        xen_elf: None,
    })?;
    for l in r.text.lines().filter(|l| l.starts_with("RTSCHED-STEP")) {
        println!("{l}");
    }
    let (mut pass, mut fail) = (r.pass, r.fail);
    // The traces the boot printed are decoded here, where the decoder is: a step each.
    let mut step = |name: &str, outcome: Result<String>| match outcome {
        Ok(what) => {
            pass += 1;
            println!("RTSCHED-STEP {name} OK {what}");
        }
        Err(e) => {
            fail += 1;
            println!("RTSCHED-STEP {name} FAIL {e:#}");
        }
    };
    if trace_own {
        let c = crate::xentrace::check_own_records(&r.text);
        step("trace-own-records", c.map(|c| format!("{c:?}")));
    }
    if !a.stock && admission_boot(&a.xen_args) {
        // The refusal's trace (`pools.sh`, step admission-refuses).
        let n = crate::xentrace::check_admit_refused(&r.text);
        step("trace-admit-refused", n.map(|n| format!("{n} record(s)")));
    }
    let name = tree_name(a.stock, a.debug);
    println!("{name}: {pass} steps passed, {fail} failed");
    if a.stock {
        // Every known stock crash must happen: else its step no longer exercises the bug.
        match &r.known {
            Some(k) => println!("known difference: {k}; rtsched passes this step"),
            None => bail!(
                "stock did not panic in a step {}*: the steps no longer provoke rt.c's known \
                 crash; log {}",
                STOCK_KNOWN_PANICS[0].0,
                r.log.display()
            ),
        }
    }
    if fail > 0 {
        bail!("{fail} step(s) failed, see {}", r.log.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The version check reads the major version of QEMU's own banner (Debian 12's 7.2 is
    /// below the minimum, bookworm-backports' 10.0 above it).
    #[test]
    fn qemu_major_version_is_read_from_the_banner() {
        let old = "QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright";
        let new = "QEMU emulator version 10.0.2 (Debian 1:10.0.2+ds-2+deb13u1~bpo12+1)";
        assert_eq!(parse_qemu_major(old), Some(7));
        assert_eq!(parse_qemu_major(new), Some(10));
        assert_eq!(parse_qemu_major("qemu: command not found"), None);
        assert!(parse_qemu_major(old).unwrap() < QEMU_MIN_MAJOR);
        assert!(parse_qemu_major(new).unwrap() >= QEMU_MIN_MAJOR);
    }

    /// A private boot copy is removed once its process is gone, and only then.
    #[test]
    fn stale_boot_copies_of_gone_processes_are_removed() {
        let dir = std::env::temp_dir().join(format!("xtask-boots-{}", std::process::id()));
        let mine = dir.join(format!("{}-0", std::process::id()));
        // (Above the kernel's largest PID, 2^22.)
        let gone = dir.join("4999999-3");
        for d in [&mine, &gone] {
            fs::create_dir_all(d).unwrap();
            fs::write(d.join("xen"), b"x").unwrap();
        }
        remove_stale_in(&dir);
        assert!(mine.exists());
        assert!(!gone.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn admission_boots_are_told_by_the_policy_argument() {
        assert!(admission_boot("rtsched_policy=admission"));
        assert!(admission_boot(
            "loglvl=all rtsched_policy=partition,edf,admission"
        ));
        assert!(!admission_boot("rtsched_policy=partition"));
        assert!(!admission_boot("rtsched_policy=admissions"));
        assert!(!admission_boot(""));
    }

    /// Xen's messages interleaved with dom0's on the serial line do not change a step's name
    /// or outcome.
    #[test]
    fn step_markers_survive_interleaved_xen_messages() {
        let step = "RTSCHED-BEGIN pool-remove-timer-cpu(XEN) burn_budget, ATTENTION: now is behind";
        assert_eq!(dom0_part(step), "RTSCHED-BEGIN pool-remove-timer-cpu");
        let text = "RTSCHED-STEP a OK(XEN) x\nRTSCHED-STEP b FAIL why\nRTSCHED-STEP c OK\n";
        assert_eq!(steps(text, " OK").count(), 2);
        assert_eq!(steps(text, " FAIL").count(), 1);
    }
}
