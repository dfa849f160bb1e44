//! Xen trace buffers (`xentrace`) taken during `cargo xtask e2e --xentrace`: copying them out
//! of the emulated machine's console, decoding the binary records, and `xenalyze` (built
//! from the fetched Xen source, unmodified) to show them as Xen's developers read them.
//!
//! The binary format is the one `xentrace` writes (`tools/xentrace/xentrace.c`,
//! `xen/include/public/trace.h`): per-CPU windows, each opened by a `TRC_TRACE_CPU_CHANGE`
//! record (CPU, window size in bytes), holding `struct t_rec`s: a header word (event in
//! bits 0-27, number of extra words in bits 28-30, bit 31 set when a TSC timestamp of two
//! words follows), then the extra words.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::util::{root, run};
use crate::xen::source_tree;

/// `TRC_TRACE_CPU_CHANGE`: a window of one CPU's records follows.
pub const TRC_TRACE_CPU_CHANGE: u32 = 0x0001_f003;
/// `TRC_LOST_RECORDS`: the trace buffer overflowed.
pub const TRC_LOST_RECORDS: u32 = 0x0001_f001;
/// `TRC_SCHED_RUNSTATE_CHANGE` (old state in bits 8-9, new state in bits 4-5).
pub const TRC_SCHED_RUNSTATE_CHANGE: u32 = 0x0002_1001;
/// The RTDS events: `TRC_SCHED_CLASS_EVT(RTDS, n)` = this + n.
pub const TRC_RTDS_BASE: u32 = 0x0002_2000 | (4 << 9);

/// Names of the RTDS events of rt.c (1-6) and of rtsched's own (0x100-).
pub fn rtds_event_name(n: u32) -> Option<&'static str> {
    Some(match n {
        1 => "TICKLE",
        2 => "RUNQ_PICK",
        3 => "BUDGET_BURN",
        4 => "BUDGET_REPLENISH",
        5 => "SCHED_TASKLET",
        6 => "SCHEDULE",
        0x100 => "ADMIT_REFUSED",
        0x101 => "POLICY",
        0x102 => "REPL_UNTRACED",
        0x103 => "CBS_RESTART",
        0x104 => "CLASS",
        _ => return None,
    })
}

/// One trace record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// The PCPU whose buffer held it.
    pub cpu: u32,
    /// TSC timestamp, when included.
    pub tsc: Option<u64>,
    /// Event number (28 bits).
    pub event: u32,
    /// The extra words.
    pub extra: Vec<u32>,
}

impl Record {
    /// The RTDS event number (`TRC_SCHED_CLASS_EVT(RTDS, n)`), if it is one.
    pub fn rtds(&self) -> Option<u32> {
        (self.event & !0x1ff == TRC_RTDS_BASE).then_some(self.event & 0x1ff)
    }

    /// Extra word `i` (0 when missing).
    pub fn word(&self, i: usize) -> u32 {
        self.extra.get(i).copied().unwrap_or(0)
    }

    /// Extra words `i` and `i + 1` as a little-endian u64.
    pub fn word64(&self, i: usize) -> u64 {
        u64::from(self.word(i)) | u64::from(self.word(i + 1)) << 32
    }
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

/// Decodes a binary trace file; records in file order (per CPU window).
pub fn decode(b: &[u8]) -> Result<Vec<Record>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < b.len() {
        let hdr = u32_at(b, at).context("truncated window header")?;
        if hdr & 0x0fff_ffff != TRC_TRACE_CPU_CHANGE || (hdr >> 28) & 7 != 2 {
            bail!("expected a CPU change record at byte {at}, found {hdr:#x}");
        }
        let cpu = u32_at(b, at + 4).context("truncated window header")?;
        let size = u32_at(b, at + 8).context("truncated window header")? as usize;
        at += 12;
        let end = at + size;
        if end > b.len() {
            bail!("window of CPU {cpu} at byte {at} runs past the end");
        }
        while at < end {
            let h = u32_at(b, at).context("truncated record")?;
            let n = ((h >> 28) & 7) as usize;
            let cycles = h >> 31 == 1;
            at += 4;
            let tsc = if cycles {
                let lo = u32_at(b, at).context("truncated timestamp")?;
                let hi = u32_at(b, at + 4).context("truncated timestamp")?;
                at += 8;
                Some(u64::from(lo) | u64::from(hi) << 32)
            } else {
                None
            };
            let mut extra = Vec::with_capacity(n);
            for _ in 0..n {
                extra.push(u32_at(b, at).context("truncated record")?);
                at += 4;
            }
            if at > end {
                bail!("record of CPU {cpu} crosses its window's end");
            }
            out.push(Record {
                cpu,
                tsc,
                event: h & 0x0fff_ffff,
                extra,
            });
        }
    }
    Ok(out)
}

/// A trace a boot printed between `RTSCHED-XENTRACE-BEGIN <scenario> <case> <bytes>` and
/// `RTSCHED-XENTRACE-END` (gzip'd, base64), after `RTSCHED-XENTRACE-DOMS <scenario> <case>
/// <domid>=<name>...`.
pub struct Copied {
    /// Scenario.
    pub scenario: String,
    /// Case.
    pub case: String,
    /// Domain names (`<domid>=<name>` separated by spaces).
    pub names: String,
    /// The trace file, or why the copy is unusable.
    pub bin: Result<Vec<u8>>,
}

/// The traces a boot printed. Lines in a block that are not base64 (console messages of
/// Xen or the kernel) are skipped; a copy damaged otherwise fails base64 or gzip's CRC.
pub fn extract(text: &str) -> Result<Vec<Copied>> {
    let mut out = Vec::new();
    let mut names = String::new();
    let mut cur: Option<(String, String, usize, String)> = None;
    let b64 = |l: &str| {
        !l.is_empty()
            && l.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/' || c == b'=')
    };
    for line in text.lines() {
        let line = line.trim_end();
        if let Some(rest) = line.strip_prefix("RTSCHED-XENTRACE-DOMS ") {
            names = rest.splitn(3, ' ').nth(2).unwrap_or("").to_string();
        } else if let Some(rest) = line.strip_prefix("RTSCHED-XENTRACE-BEGIN ") {
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.len() != 3 {
                bail!("bad trace marker: {line}");
            }
            cur = Some((f[0].into(), f[1].into(), f[2].parse()?, String::new()));
        } else if line.starts_with("RTSCHED-XENTRACE-END") {
            let (scenario, case, size, text) = cur.take().context("trace end without a begin")?;
            let bin = pipe(&["base64", "-d"], text.as_bytes())
                .and_then(|gz| pipe(&["gzip", "-dc"], &gz))
                .context("damaged on the console")
                .and_then(|bin| {
                    if bin.len() == size {
                        Ok(bin)
                    } else {
                        bail!("{} bytes copied, {size} written", bin.len())
                    }
                });
            out.push(Copied {
                scenario,
                case,
                names: std::mem::take(&mut names),
                bin,
            });
        } else if let Some(c) = cur.as_mut().filter(|_| b64(line)) {
            c.3.push_str(line);
            c.3.push('\n');
        }
    }
    Ok(out)
}

fn pipe(cmd: &[&str], input: &[u8]) -> Result<Vec<u8>> {
    let mut child = Command::new(cmd[0])
        .args(&cmd[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", cmd[0]))?;
    let mut stdin = child.stdin.take().context("stdin")?;
    let data = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output()?;
    writer.join().ok();
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            cmd.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out.stdout)
}

/// The TSC frequency Xen measured at boot (`Detected 2596.153 MHz processor.`), in Hz.
pub fn cpu_hz(boot_log: &str) -> Option<u64> {
    boot_log.lines().find_map(|l| {
        let l = l.strip_prefix("(XEN) Detected ")?;
        let mhz = l.strip_suffix(" MHz processor.")?;
        let (int, frac) = mhz.split_once('.').unwrap_or((mhz, "0"));
        let frac = format!("{frac:0<3}");
        Some(int.parse::<u64>().ok()? * 1_000_000 + frac.get(..3)?.parse::<u64>().ok()? * 1_000)
    })
}

/// `xenalyze` built from the Xen source `cargo xtask xen-build` fetched (unmodified, with
/// gcc, against the source's public headers), once.
pub fn xenalyze() -> Result<PathBuf> {
    let out = root().join("target").join("xen").join("xenalyze");
    if out.exists() {
        return Ok(out);
    }
    let src = source_tree()?;
    let inc = root().join("target").join("xen").join("xenalyze-include");
    fs::create_dir_all(&inc)?;
    let link = inc.join("xen");
    if !link.exists() {
        std::os::unix::fs::symlink(src.join("xen/include/public"), &link)?;
    }
    let dir = src.join("tools/xentrace");
    println!("building xenalyze from {}", dir.display());
    run(Command::new("gcc")
        .current_dir(&dir)
        .args(["-O2", "-D__XEN_TOOLS__", "-I"])
        .arg(&inc)
        .arg("-I")
        .arg(src.join("tools/include"))
        .arg("-o")
        .arg(&out)
        .args(["xenalyze.c", "mread.c"]))?;
    Ok(out)
}

/// `xenalyze --dump-all` of a trace file.
pub fn xenalyze_dump(trace: &Path, hz: u64) -> Result<String> {
    let out = Command::new(xenalyze()?)
        .arg(format!("--cpu-hz={hz}"))
        .arg("--dump-all")
        .arg(trace)
        .output()
        .context("running xenalyze")?;
    if !out.status.success() {
        bail!(
            "xenalyze failed on {}: {}",
            trace.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// How many records of each RTDS event a trace holds (by name).
pub fn rtds_counts(recs: &[Record]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in recs {
        if let Some(n) = r.rtds() {
            let name = rtds_event_name(n).map_or_else(|| format!("rtds-{n:#x}"), String::from);
            *m.entry(name).or_insert(0) += 1;
        }
    }
    m
}

/// How many lines of each `rtds:<what>` kind a `xenalyze --dump-all` printed.
pub fn xenalyze_counts(dump: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in dump.lines() {
        if let Some(i) = l.find(" rtds:") {
            let what = l[i + 1..].split([' ', ',']).next().unwrap_or("");
            *m.entry(what.to_string()).or_insert(0) += 1;
        }
    }
    m
}

/// xenalyze's name of each RTDS event of rt.c (its `rtds:<name>` dump lines).
pub const XENALYZE_NAMES: [(&str, &str); 6] = [
    ("TICKLE", "rtds:runq_tickle"),
    ("RUNQ_PICK", "rtds:runq_pick"),
    ("BUDGET_BURN", "rtds:burn_budget"),
    ("BUDGET_REPLENISH", "rtds:repl_budget"),
    ("SCHED_TASKLET", "rtds:sched_tasklet"),
    ("SCHEDULE", "rtds:schedule"),
];

/// Fails unless xenalyze printed one `rtds:` line for each rt.c-layout RTDS record
/// counted in `ours`.
pub fn check_decoded(ours: &BTreeMap<String, usize>, dump: &str) -> Result<()> {
    let theirs = xenalyze_counts(dump);
    for (ev, name) in XENALYZE_NAMES {
        let a = ours.get(ev).copied().unwrap_or(0);
        let b = theirs.get(name).copied().unwrap_or(0);
        if a != b {
            bail!("{a} {ev} records, but {b} {name} lines");
        }
    }
    Ok(())
}

/// rtsched's own records the boot provokes while tracing (`xtask/boot/init.sh`, step 6b):
/// a policy change, CBS deadline restarts, class changes. (`ADMIT_REFUSED` is provoked on
/// the admission boot, [`check_admit_refused`]; `REPL_UNTRACED` needs more units due at one
/// timer fire than the shim records, and is decoded by the same code.)
pub const OWN_RECORDS_PROVOKED: [&str; 3] = ["POLICY", "CBS_RESTART", "CLASS"];

/// The trace a boot took of rtsched's own records (`boot own-records`): the count of each
/// RTDS record in it, or why it is unusable; fails unless every provoked record is there.
pub fn check_own_records(boot_log: &str) -> Result<BTreeMap<String, usize>> {
    let copied = extract(boot_log)?
        .into_iter()
        .find(|c| c.scenario == "boot" && c.case == "own-records")
        .context("the boot printed no own-records trace")?;
    let counts = rtds_counts(&decode(&copied.bin?)?);
    let missing: Vec<&str> = OWN_RECORDS_PROVOKED
        .iter()
        .copied()
        .filter(|ev| !counts.contains_key(*ev))
        .collect();
    if !missing.is_empty() {
        bail!(
            "no {} record in the trace (it held {counts:?})",
            missing.join(", ")
        );
    }
    Ok(counts)
}

/// The refusal the admission boot provokes (`xtask/boot/pools.sh`, step admission-refuses):
/// dom0's VCPU 1 asking for period 10 ms, budget 10 ms with Pool-0 down to one PCPU.
pub const ADMIT_REFUSED_EXPECTED: (u32, u32, u64, u64) = (0, 1, 10_000_000, 10_000_000);

/// The trace the admission boot took around a refused `xl sched-rtds` (`boot admit-refused`):
/// fails unless it holds a `TRC_RTDS_ADMIT_REFUSED` record naming the refused VCPU and the
/// values it asked for ([`ADMIT_REFUSED_EXPECTED`]: domain, unit, period and budget in ns).
/// Returns the number of such records.
pub fn check_admit_refused(boot_log: &str) -> Result<usize> {
    let copied = extract(boot_log)?
        .into_iter()
        .find(|c| c.scenario == "boot" && c.case == "admit-refused")
        .context("the boot printed no admit-refused trace")?;
    let recs = decode(&copied.bin?)?;
    // unit:16, dom:16 (the low bits first); u64 period, budget.
    let refused: Vec<(u32, u32, u64, u64)> = recs
        .iter()
        .filter(|r| r.rtds() == Some(0x100))
        .map(|r| {
            (
                r.word(0) >> 16,
                r.word(0) & 0xffff,
                r.word64(1),
                r.word64(3),
            )
        })
        .collect();
    let n = refused
        .iter()
        .filter(|&&r| r == ADMIT_REFUSED_EXPECTED)
        .count();
    if n == 0 {
        bail!(
            "no ADMIT_REFUSED record for d{}v{} (period {} ns, budget {} ns); the trace held \
             {refused:?} (dom, unit, period, budget) and {:?}",
            ADMIT_REFUSED_EXPECTED.0,
            ADMIT_REFUSED_EXPECTED.1,
            ADMIT_REFUSED_EXPECTED.2,
            ADMIT_REFUSED_EXPECTED.3,
            rtds_counts(&recs)
        );
    }
    Ok(n)
}

/// The Gantt window drawn of each trace: from 100 ms after its first record, 60 ms.
const GANTT_FROM_MS: i64 = 100;
const GANTT_WINDOW_MS: i64 = 60;

/// Saves the traces one boot of `build` printed under `dir` (`<build>-<scenario>-<case>`:
/// `.bin` the trace, `.xenalyze.txt` xenalyze's dump, `.svg` a Gantt chart), and checks
/// that xenalyze decodes every rt.c-layout RTDS record the project's decoder finds. Returns
/// report lines; fails when a record is not decoded.
pub fn publish(build: &str, boot_log: &str, dir: &Path) -> Result<Vec<String>> {
    let hz = cpu_hz(boot_log).context("no \"Detected N MHz processor\" line in Xen's log")?;
    fs::create_dir_all(dir)?;
    let mut lines = Vec::new();
    for c in extract(boot_log)? {
        let stem = format!("{build}-{}-{}", c.scenario, c.case.replace('=', ""));
        let bin = match c.bin {
            Ok(b) => b,
            Err(e) => {
                lines.push(format!("{stem}: trace lost on the console: {e:#}"));
                continue;
            }
        };
        let path = dir.join(format!("{stem}.bin"));
        fs::write(&path, &bin)?;
        let recs = decode(&bin).with_context(|| format!("decoding {}", path.display()))?;
        let dump = xenalyze_dump(&path, hz)?;
        fs::write(dir.join(format!("{stem}.xenalyze.txt")), &dump)?;
        let ours = rtds_counts(&recs);
        check_decoded(&ours, &dump).with_context(|| format!("{stem}: xenalyze"))?;
        let lost = recs.iter().filter(|r| r.event == TRC_LOST_RECORDS).count();
        let list = |m: &BTreeMap<String, usize>| {
            m.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        lines.push(format!(
            "{stem}: {} records ({lost} lost-record markers); RTDS records: {}; xenalyze decoded each rt.c-layout one",
            recs.len(),
            list(&ours)
        ));
        let names = crate::gantt::parse_names(&c.names)?;
        let mut chart = crate::gantt::trace_chart(
            &recs,
            hz,
            &names,
            GANTT_FROM_MS * 1_000_000,
            GANTT_WINDOW_MS * 1_000_000,
        )?;
        // `build` is the run's label: the build's name, then `-<n>` (or `-fault-...`).
        let who = if build.split('-').next() == Some("stock") {
            "Xen 4.17's C RTDS (rt.c)"
        } else {
            "rtsched"
        };
        chart.title = format!("{who} on Xen under QEMU: {} {}", c.scenario, c.case);
        let names_arg: Vec<String> = names.iter().map(|(k, v)| format!("{k}={v}")).collect();
        chart.subtitle = format!(
            "xentrace, then cargo xtask gantt --trace {stem}.bin --hz {hz} --names {} --from-ms {GANTT_FROM_MS} --window-ms {GANTT_WINDOW_MS}",
            names_arg.join(",")
        );
        fs::write(dir.join(format!("{stem}.svg")), chart.svg())?;
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(cpu: u32, recs: &[(u32, Option<u64>, &[u32])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (ev, tsc, extra) in recs {
            let h = ev | (extra.len() as u32) << 28 | u32::from(tsc.is_some()) << 31;
            body.extend(h.to_le_bytes());
            if let Some(t) = tsc {
                body.extend(t.to_le_bytes());
            }
            for w in *extra {
                body.extend(w.to_le_bytes());
            }
        }
        let mut out = Vec::new();
        out.extend((TRC_TRACE_CPU_CHANGE | 2 << 28).to_le_bytes());
        out.extend(cpu.to_le_bytes());
        out.extend((body.len() as u32).to_le_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn decodes_windows_records_and_timestamps() {
        let mut b = window(1, &[(TRC_RTDS_BASE + 1, Some(1 << 40 | 7), &[3])]);
        b.extend(window(
            0,
            &[
                (TRC_RTDS_BASE + 5, Some(9), &[]),
                (TRC_SCHED_RUNSTATE_CHANGE | 0x10, None, &[0x0001_0002]),
            ],
        ));
        let r = decode(&b).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(
            (r[0].cpu, r[0].tsc, r[0].rtds()),
            (1, Some(1 << 40 | 7), Some(1))
        );
        assert_eq!(r[0].word(0), 3);
        assert_eq!((r[1].cpu, r[1].rtds(), r[1].extra.len()), (0, Some(5), 0));
        assert_eq!((r[2].tsc, r[2].rtds()), (None, None));
        assert_eq!(r[2].event, TRC_SCHED_RUNSTATE_CHANGE | 0x10);
    }

    #[test]
    fn damaged_traces_are_refused() {
        let b = window(0, &[(TRC_RTDS_BASE + 3, Some(5), &[1, 2, 3, 4, 5])]);
        for cut in [b.len() - 1, 8, b.len() - 4] {
            assert!(decode(&b[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = b.clone();
        bad[0] ^= 1;
        assert!(decode(&bad).is_err());
        assert_eq!(decode(&b).unwrap().len(), 1);
    }

    #[test]
    fn cpu_frequency_from_the_boot_log() {
        let log =
            "(XEN) Platform timer is 100.000MHz HPET\n(XEN) Detected 2596.153 MHz processor.\n";
        assert_eq!(cpu_hz(log), Some(2_596_153_000));
        assert_eq!(
            cpu_hz("(XEN) Detected 3000.5 MHz processor."),
            Some(3_000_500_000)
        );
        assert_eq!(cpu_hz("nothing"), None);
    }

    #[test]
    fn console_copies_round_trip_and_damage_is_caught() {
        let bin: Vec<u8> = (0..5000u32)
            .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
            .collect();
        let gz = pipe(&["gzip", "-c"], &bin).unwrap();
        let b64 = String::from_utf8(pipe(&["base64"], &gz).unwrap()).unwrap();
        let text = format!(
            "noise\nRTSCHED-XENTRACE-BEGIN table-4-2 k=2 {}\n{b64}RTSCHED-XENTRACE-END table-4-2 k=2\n",
            bin.len()
        );
        let got = extract(&text).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].scenario.as_str(), got[0].case.as_str()),
            ("table-4-2", "k=2")
        );
        assert_eq!(got[0].bin.as_ref().unwrap(), &bin);
        // A console message between the lines is skipped.
        let i = text.find("BEGIN").unwrap() + 200;
        let j = i + text[i..].find('\n').unwrap() + 1;
        let noisy = format!("{}(XEN) a message\n{}", &text[..j], &text[j..]);
        assert_eq!(extract(&noisy).unwrap()[0].bin.as_ref().unwrap(), &bin);
        // A character lost on the way: base64 or gzip's CRC refuses the copy.
        let lost = format!("{}{}", &text[..i], &text[i + 1..]);
        assert!(extract(&lost).unwrap()[0].bin.is_err());
    }

    /// A boot log holding, as `print_trace boot CASE` prints it, a trace of one CPU's
    /// window of `recs`.
    fn boot_trace_log(case: &str, recs: &[(u32, Option<u64>, &[u32])]) -> String {
        let bin = window(0, recs);
        let gz = pipe(&["gzip", "-c"], &bin).unwrap();
        let b64 = String::from_utf8(pipe(&["base64"], &gz).unwrap()).unwrap();
        format!(
            "RTSCHED-XENTRACE-BEGIN boot {case} {}\n{b64}RTSCHED-XENTRACE-END boot {case}\n",
            bin.len()
        )
    }

    /// A boot log holding an own-records trace of the RTDS events `evs`.
    fn own_records_log(evs: &[u32]) -> String {
        let recs: Vec<(u32, Option<u64>, &[u32])> = evs
            .iter()
            .map(|n| (TRC_RTDS_BASE + n, Some(1), &[7u32, 8][..]))
            .collect();
        boot_trace_log("own-records", &recs)
    }

    #[test]
    fn own_records_must_all_be_in_the_boot_trace() {
        let c = check_own_records(&own_records_log(&[6, 0x101, 0x103, 0x103, 0x104])).unwrap();
        assert_eq!(c["CBS_RESTART"], 2);
        // A shim that writes no class record (or traces nothing, or prints no trace) fails.
        let e = check_own_records(&own_records_log(&[6, 0x101, 0x103])).unwrap_err();
        assert!(format!("{e:#}").contains("no CLASS record"), "{e:#}");
        assert!(check_own_records(&own_records_log(&[])).is_err());
        assert!(check_own_records("no trace here").is_err());
    }

    /// A boot log holding an admit-refused trace of ADMIT_REFUSED records with these
    /// (dom, unit, period, budget), beside a SCHEDULE record.
    fn admit_refused_log(refused: &[(u32, u32, u64, u64)]) -> String {
        let words: Vec<[u32; 5]> = refused
            .iter()
            .map(|&(d, u, p, b)| {
                [
                    u | d << 16,
                    p as u32,
                    (p >> 32) as u32,
                    b as u32,
                    (b >> 32) as u32,
                ]
            })
            .collect();
        let mut recs: Vec<(u32, Option<u64>, &[u32])> =
            vec![(TRC_RTDS_BASE + 6, Some(1), &[7u32, 8][..])];
        recs.extend(
            words
                .iter()
                .map(|w| (TRC_RTDS_BASE + 0x100, Some(2), &w[..])),
        );
        boot_trace_log("admit-refused", &recs)
    }

    #[test]
    fn the_refused_vcpu_and_values_must_be_in_the_admission_trace() {
        let e = ADMIT_REFUSED_EXPECTED;
        assert_eq!(check_admit_refused(&admit_refused_log(&[e])).unwrap(), 1);
        // A record for another unit, domain or value, or none, or no trace: refused. (A shim
        // that swapped the bit fields, or traced the unit's old values, fails here.)
        for wrong in [
            (e.1, e.0, e.2, e.3),
            (e.0, e.1 + 1, e.2, e.3),
            (e.0, e.1, e.2, e.3 / 2),
            (e.0, e.1, e.3 * 2, e.3),
        ] {
            let err = check_admit_refused(&admit_refused_log(&[wrong])).unwrap_err();
            assert!(
                format!("{err:#}").contains("no ADMIT_REFUSED record"),
                "{err:#}"
            );
        }
        assert!(check_admit_refused(&admit_refused_log(&[])).is_err());
        assert!(check_admit_refused("no trace here").is_err());
    }

    #[test]
    fn every_rtds_record_must_be_decoded() {
        let recs: Vec<Record> = [3, 3, 6, 0x100]
            .iter()
            .map(|n| Record {
                cpu: 0,
                tsc: Some(1),
                event: TRC_RTDS_BASE + n,
                extra: vec![],
            })
            .collect();
        let ours = rtds_counts(&recs);
        assert_eq!(ours.get("ADMIT_REFUSED"), Some(&1));
        let dump = "]  0.1 -x-- d32767v1 rtds:burn_budget d1v0, budget = 5, delta = 3\n\
                    ]  0.2 -x-- d32767v1 rtds:burn_budget d1v0, budget = 2, delta = 3\n\
                    ]  0.3 -x-- d32767v1 rtds:schedule cpu 1, busy, not tickled\n\
                    ]  0.4 -x-- d32767v1   22900(2:2:900) 5 [ 1 2 3 4 5 ]\n";
        check_decoded(&ours, dump).unwrap();
        // A record xenalyze did not recognise (e.g. a wrong event number or size).
        let short = dump.replacen("rtds:burn_budget", "  22803(2:2:803)", 1);
        assert!(check_decoded(&ours, &short).is_err());
    }
}
