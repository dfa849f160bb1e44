//! Distinct cache lines (64 bytes) each hook call touches, per hook: code, data, and stack
//! apart, from a memory trace of the benchmark's marked replay (valgrind's lackey). A
//! scheduler called between stretches of guest execution finds little of its code and data
//! in the caches: each distinct line is a miss to the shared cache or memory, which is what
//! the cold-cache pass of `cargo bench -p difftest` times; this counts them exactly, free of
//! the machine's load.
//!
//! ```text
//! cd difftest
//! BENCH_PROFILE=marked-rtsched BENCH_STEPS=2000 BENCH_SHAPES=global BENCH_UNITS=8 \
//!   BENCH_CPUS=4 valgrind --tool=lackey --trace-mem=yes --log-file=/tmp/trace \
//!   ../target/release/deps/hooks-* --bench 2>/tmp/marks
//! cargo run --release --bin lines-touched -- /tmp/marks /tmp/trace
//! ```
//!
//! (`marked-xen` for rt.c.) With a third argument, the output of `nm -C -S` of the bench
//! binary, it also lists the functions whose code the calls of each hook touch (lines per
//! call, the largest first). The marked replay prints the addresses of its call markers and
//! of its stack (`difftest::bench::call_mark_line`) on its standard error; each marked call
//! is bracketed in the trace by a load of its hook's marker and a load of the end marker. A
//! data access within 1 MiB of the replay's stack counts as stack.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};

const HOOKS: [&str; 5] = ["do_schedule", "wake", "context_saved", "sleep", "replenish"];

#[derive(Default, Clone, Copy)]
struct Sum {
    calls: u64,
    code: u64,
    data: u64,
    stack: u64,
}

fn parse_hex(s: &str) -> Option<u64> {
    u64::from_str_radix(s.trim(), 16).ok()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (marks_path, trace_path) = match args.as_slice() {
        [m, t] | [m, t, _] => (m, t),
        _ => {
            eprintln!("usage: lines-touched MARKS TRACE [NM] (see the module docs)");
            std::process::exit(2);
        }
    };
    let marks = std::fs::read_to_string(marks_path).expect("marks file");
    let line = marks
        .lines()
        .find_map(|l| l.strip_prefix("lines-touched marks "))
        .expect("no `lines-touched marks` line: run the marked replay (BENCH_PROFILE=marked-...)");
    let f: Vec<&str> = line.split_whitespace().collect();
    let addr: Vec<u64> = f[..6]
        .iter()
        .map(|a| parse_hex(a).expect("marker"))
        .collect();
    assert_eq!(f.get(6), Some(&"stack"), "marks line: {line}");
    let stack = parse_hex(f[7]).expect("stack address");

    // Optional: symbols (`nm -C -S`), placed by the load bias that maps the markers' symbol
    // to their traced address.
    let syms = args.get(2).map(|p| symbols(p, addr[0]));
    let trace = std::fs::File::open(trace_path).expect("trace file");
    let marks: [u64; 6] = addr.try_into().expect("six markers");
    let (sums, per_fn) = count(&marks, stack, BufReader::new(trace), syms.as_deref());
    println!("hook            calls   code lines  data lines  stack lines (mean per call)");
    let mut all = Sum::default();
    for (h, s) in sums.iter().enumerate() {
        if s.calls == 0 {
            continue;
        }
        let c = s.calls as f64;
        println!(
            "{:<14} {:>6} {:>12.1} {:>11.1} {:>12.1}",
            HOOKS[h],
            s.calls,
            s.code as f64 / c,
            s.data as f64 / c,
            s.stack as f64 / c
        );
        all.calls += s.calls;
        all.code += s.code;
        all.data += s.data;
        all.stack += s.stack;
    }
    let c = all.calls.max(1) as f64;
    println!(
        "{:<14} {:>6} {:>12.1} {:>11.1} {:>12.1}",
        "all",
        all.calls,
        all.code as f64 / c,
        all.data as f64 / c,
        all.stack as f64 / c
    );
    if syms.is_some() {
        for (h, m) in per_fn.iter().enumerate() {
            let n = sums[h].calls.max(1) as f64;
            let mut v: Vec<(&String, &u64)> = m.iter().collect();
            v.sort_by(|a, b| b.1.cmp(a.1));
            println!("\n{}: code lines per call by function", HOOKS[h]);
            for (name, k) in v.iter().take(12) {
                println!("{:>8.1}  {}", **k as f64 / n, name);
            }
        }
    }
}

/// Per hook: the calls and their distinct lines summed, and (with `syms`) the lines per
/// function, from a lackey trace in which a load of `marks[h]` starts a call of hook `h`
/// and a load of `marks[5]` ends it; a data access within 1 MiB of `stack` is stack.
fn count(
    marks: &[u64; 6],
    stack: u64,
    trace: impl BufRead,
    syms: Option<&[(u64, u64, String)]>,
) -> ([Sum; 5], Vec<HashMap<String, u64>>) {
    let in_stack = |a: u64| a.abs_diff(stack) < (1 << 20);
    let mut per_fn: Vec<HashMap<String, u64>> = vec![HashMap::new(); 5];
    let mut code_at: HashMap<u64, u64> = HashMap::new();
    let mut cur: Option<usize> = None;
    let (mut code, mut data, mut stk) = (HashSet::new(), HashSet::new(), HashSet::new());
    let mut sums = [Sum::default(); 5];
    for l in trace.lines() {
        let Ok(l) = l else { break };
        // Lackey: "I  addr,size" (instruction), " L addr,size", " S ...", " M ..." (data).
        let (kind, rest) = match l.as_bytes() {
            [b'I', b' ', b' ', ..] => ('I', &l[3..]),
            [b' ', k @ (b'L' | b'S' | b'M'), b' ', ..] => (*k as char, &l[3..]),
            _ => continue,
        };
        let Some((a, n)) = rest.split_once(',') else {
            continue;
        };
        let (Some(a), Ok(n)) = (parse_hex(a), n.trim().parse::<u64>()) else {
            continue;
        };
        if kind == 'L' {
            if let Some(h) = marks[..5].iter().position(|&m| m == a) {
                cur = Some(h);
                code_at.clear();
                code.clear();
                data.clear();
                stk.clear();
                continue;
            }
            if a == marks[5] {
                if let Some(h) = cur.take() {
                    let s = &mut sums[h];
                    s.calls += 1;
                    s.code += code.len() as u64;
                    s.data += data.len() as u64;
                    s.stack += stk.len() as u64;
                    if let Some(sy) = syms {
                        for &a in code_at.values() {
                            *per_fn[h].entry(symbol_of(sy, a)).or_default() += 1;
                        }
                    }
                }
                continue;
            }
        }
        if cur.is_none() {
            continue;
        }
        for x in (a >> 6)..=((a + n.max(1) - 1) >> 6) {
            if kind == 'I' {
                code.insert(x);
                code_at.entry(x).or_insert(a);
            } else if in_stack(a) {
                stk.insert(x);
            } else {
                data.insert(x);
            }
        }
    }
    (sums, per_fn)
}

/// Function ranges (start, end, name) from `nm -C -S` output, shifted so that the symbol
/// `difftest::bench::CALL_MARKS` lands at `mark0`, sorted by start.
fn symbols(path: &str, mark0: u64) -> Vec<(u64, u64, String)> {
    let text = std::fs::read_to_string(path).expect("nm output");
    let mut v = Vec::new();
    let mut bias = None;
    for l in text.lines() {
        let mut it = l.splitn(4, ' ');
        let (Some(a), Some(sz), Some(t), Some(name)) = (it.next(), it.next(), it.next(), it.next())
        else {
            continue;
        };
        let (Some(a), Some(sz)) = (parse_hex(a), parse_hex(sz)) else {
            continue;
        };
        if name.ends_with("difftest::bench::CALL_MARKS") {
            bias = Some(mark0.wrapping_sub(a));
        }
        if matches!(t, "t" | "T") {
            v.push((a, a + sz, name.to_string()));
        }
    }
    let bias = bias.expect("no difftest::bench::CALL_MARKS in the symbols");
    for s in &mut v {
        s.0 = s.0.wrapping_add(bias);
        s.1 = s.1.wrapping_add(bias);
    }
    v.sort();
    v
}

/// The function holding address `a`.
fn symbol_of(syms: &[(u64, u64, String)], a: u64) -> String {
    let i = syms.partition_point(|s| s.0 <= a);
    match i.checked_sub(1).and_then(|i| syms.get(i)) {
        Some((lo, hi, name)) if a >= *lo && a < *hi => name.chars().take(110).collect(),
        _ => "?".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_distinct_lines_between_the_markers() {
        // Markers at 0x1000.. (hooks) and 0x1005 (end); stack near 0x7000_0000.
        let marks = [0x1000, 0x1001, 0x1002, 0x1003, 0x1004, 0x1005];
        let trace = "\
I  00400000,4
 L 00002000,8
 L 00001000,1
I  00400010,4
I  00400020,4
I  00400040,8
 L 00002000,8
 S 00002038,16
 M 6fffff00,8
 L 00001005,1
 L 00003000,8
 L 00001001,1
I  00400000,2
 L 00001005,1
";
        let (sums, _) = count(&marks, 0x7000_0000, trace.as_bytes(), None);
        // do_schedule: code lines 0x400000 and 0x400040 (two), data lines 0x2000 and the
        // 16-byte store across 0x2000 / 0x2040 (two), one stack line; nothing outside the
        // markers counts.
        assert_eq!(sums[0].calls, 1);
        assert_eq!((sums[0].code, sums[0].data, sums[0].stack), (2, 2, 1));
        assert_eq!((sums[1].calls, sums[1].code, sums[1].data), (1, 1, 0));
        assert_eq!(sums[2].calls + sums[3].calls + sums[4].calls, 0);
    }
}
