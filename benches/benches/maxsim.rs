//! MaxSim (late interaction) throughput: `cargo bench -p ember-benches --bench maxsim`.
//!
//! Method (also written into the report):
//! - One query (`nq` tokens, stays in L1) is scored against the documents
//!   (`nd` tokens each) of a working set, ColBERT-style. A pair is one
//!   (query, document) MaxSim; its work is `2 * dim * nq * nd` FLOPs.
//! - Working sets: "L2" = at most 512 KiB of documents (half of this Zen 5's
//!   1 MiB L2, at least one document); "DRAM" = about 256 MiB, far beyond the
//!   32 MiB L3 (a random 1 MiB block of documents repeated). Samples walk the
//!   set with one cursor that wraps around, so in the DRAM set a document is
//!   read again only after a walk through all 256 MiB (it is cold).
//! - Methods: `distance::maxsim` (blocked, dispatched: AVX-512 4x4 tiles
//!   here), `distance::maxsim_with_isa(Isa::Avx2, ..)` (AVX2 4x2 tiles), the
//!   "simple SIMD loop" (for each query token the max over document tokens of
//!   the dispatched `distance::dot`, written below) and
//!   `distance::maxsim_naive` (scalar dot of every pair).
//! - Peak: the single-core f32 FMA rate measured in the same run with
//!   independent `vfmadd` chains on registers (zmm under AVX-512F, ymm under
//!   AVX2+FMA; 8, 12 and 16 chains), so "% of peak" does not rest on a
//!   nominal clock.
//! - Timing: the machine is shared (2 vCPUs, other jobs may run), so the
//!   methods are measured in interleaved rounds: each round takes one ~10 ms
//!   sample of every method (rotating the order) plus one sample of the peak
//!   loop. Times are medians over the rounds; ratios and fractions of peak
//!   are medians of the per-round values, with their interquartile range.
//!
//! The markdown report is printed at the end and written to
//! `benches/results/maxsim.md`.

use ember_benches::{today, Rng};
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Instant;

use distance::dispatch::Isa;

const CACHE_SET_BYTES: usize = 512 << 10;
const LARGE_SET_BYTES: usize = 256 << 20;
/// Interleaved rounds per (shape, working set).
const ROUNDS: usize = 25;
/// Target length of one sample, seconds.
const SAMPLE_SECONDS: f64 = 0.010;
/// Rounds of the peak table (every configuration once per round).
const PEAK_ROUNDS: usize = 9;
/// Iterations of one peak sample (16 chains of zmm: ~1 GFLOP at 2M).
const PEAK_ITERATIONS: u64 = 2_000_000;

/// One query/document shape.
struct Shape {
    dim: usize,
    query_tokens: usize,
    doc_tokens: usize,
    note: &'static str,
}

const SHAPES: [Shape; 4] = [
    shape(128, 32, 180, "ColBERTv2"),
    shape(96, 32, 300, "small ColBERT, long doc"),
    shape(384, 16, 128, "MiniLM token vectors"),
    shape(24, 8, 20, "tiny"),
];

const fn shape(dim: usize, query_tokens: usize, doc_tokens: usize, note: &'static str) -> Shape {
    Shape {
        dim,
        query_tokens,
        doc_tokens,
        note,
    }
}

impl Shape {
    fn doc_len(&self) -> usize {
        self.doc_tokens * self.dim
    }

    fn flops_per_pair(&self) -> f64 {
        2.0 * (self.dim * self.query_tokens * self.doc_tokens) as f64
    }

    fn label(&self) -> String {
        format!("{} / {} x {}", self.dim, self.query_tokens, self.doc_tokens)
    }
}


/// The "simple SIMD loop" baseline: every pair through the dispatched
/// single-pair `dot`, no blocking.
fn maxsim_simple_simd(dim: usize, doc: &[f32], query: &[f32]) -> f32 {
    if dim == 0 {
        return 0.0;
    }
    query
        .chunks_exact(dim)
        .map(|q| {
            doc.chunks_exact(dim)
                .map(|d| distance::dot(q, d))
                .fold(f32::NEG_INFINITY, f32::max)
        })
        .sum()
}

fn maxsim_avx2(dim: usize, doc: &[f32], query: &[f32]) -> f32 {
    distance::maxsim_with_isa(Isa::Avx2, dim, doc, query)
}

type MaxSim = fn(usize, &[f32], &[f32]) -> f32;

/// The measured methods, in report order (the first is the blocked kernel
/// the ratios are about).
const METHODS: [(&str, MaxSim); 4] = [
    ("blocked", distance::maxsim),
    ("blocked avx2", maxsim_avx2),
    ("simple SIMD loop", maxsim_simple_simd),
    ("naive", distance::maxsim_naive),
];

/// Median and quartiles of some values.
#[derive(Clone, Copy)]
struct Stats {
    p25: f64,
    median: f64,
    p75: f64,
}

fn stats(mut values: Vec<f64>) -> Stats {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    Stats {
        p25: at(0.25),
        median: at(0.5),
        p75: at(0.75),
    }
}

fn seconds_of(run: impl FnOnce() -> f32) -> f64 {
    let start = Instant::now();
    black_box(run());
    start.elapsed().as_secs_f64()
}

/// One configuration of the peak table.
struct PeakRow {
    name: &'static str,
    wide: bool,
    chains: usize,
    median: f64,
    best: f64,
}

/// Independent FMA chains on registers; nothing here touches memory.
#[cfg(target_arch = "x86_64")]
mod fma_chains {
    use std::arch::x86_64::*;

    /// `N` independent zmm chains `acc = acc * mul + add`, `iterations` times.
    #[target_feature(enable = "avx512f")]
    pub fn zmm<const N: usize>(iterations: u64, seed: f32) -> f32 {
        let (mul, add) = (
            _mm512_set1_ps(1.0 - seed * 1e-3),
            _mm512_set1_ps(seed * 1e-3),
        );
        let mut acc = [_mm512_setzero_ps(); N];
        for (i, a) in acc.iter_mut().enumerate() {
            *a = _mm512_set1_ps(seed + i as f32);
        }
        for _ in 0..iterations {
            for a in acc.iter_mut() {
                *a = _mm512_fmadd_ps(*a, mul, add);
            }
        }
        // Keeps every chain live; one lane is enough for that.
        _mm512_cvtss_f32(
            acc.iter()
                .fold(_mm512_setzero_ps(), |t, &a| _mm512_add_ps(t, a)),
        )
    }

    /// `N` independent ymm chains `acc = acc * mul + add`, `iterations` times.
    #[target_feature(enable = "avx2,fma")]
    pub fn ymm<const N: usize>(iterations: u64, seed: f32) -> f32 {
        let (mul, add) = (
            _mm256_set1_ps(1.0 - seed * 1e-3),
            _mm256_set1_ps(seed * 1e-3),
        );
        let mut acc = [_mm256_setzero_ps(); N];
        for (i, a) in acc.iter_mut().enumerate() {
            *a = _mm256_set1_ps(seed + i as f32);
        }
        for _ in 0..iterations {
            for a in acc.iter_mut() {
                *a = _mm256_fmadd_ps(*a, mul, add);
            }
        }
        _mm256_cvtss_f32(
            acc.iter()
                .fold(_mm256_setzero_ps(), |t, &a| _mm256_add_ps(t, a)),
        )
    }
}

/// Runs `chains` zmm (`wide`) or ymm FMA chains for `iterations`; `None` if
/// the CPU lacks the instructions.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)] // the only unsafe in the benches: calling #[target_feature] functions
fn run_fma_chains(wide: bool, chains: usize, iterations: u64) -> Option<f32> {
    use fma_chains::{ymm, zmm};
    let seed = black_box(0.5);
    let has_zmm = is_x86_feature_detected!("avx512f");
    let has_ymm = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
    // SAFETY: each arm runs only if the CPU has its instructions (the guards).
    let result = unsafe {
        match (wide, chains) {
            (true, 8) if has_zmm => zmm::<8>(iterations, seed),
            (true, 12) if has_zmm => zmm::<12>(iterations, seed),
            (true, 16) if has_zmm => zmm::<16>(iterations, seed),
            (false, 8) if has_ymm => ymm::<8>(iterations, seed),
            (false, 12) if has_ymm => ymm::<12>(iterations, seed),
            (false, 16) if has_ymm => ymm::<16>(iterations, seed),
            _ => return None,
        }
    };
    Some(result)
}

#[cfg(not(target_arch = "x86_64"))]
fn run_fma_chains(_wide: bool, _chains: usize, _iterations: u64) -> Option<f32> {
    None
}

/// GFLOP/s of one sample of `chains` FMA chains (zmm if `wide`), or `None`
/// if the CPU lacks the instructions.
fn peak_sample(wide: bool, chains: usize) -> Option<f64> {
    run_fma_chains(wide, chains, 1)?;
    let seconds =
        seconds_of(|| run_fma_chains(wide, chains, black_box(PEAK_ITERATIONS)).unwrap_or(0.0));
    let lanes = if wide { 16.0 } else { 8.0 };
    Some(PEAK_ITERATIONS as f64 * chains as f64 * lanes * 2.0 / seconds / 1e9)
}

/// The peak table: every configuration once per round, `PEAK_ROUNDS`
/// rounds; (instructions, chains, wide, median and best GFLOP/s).
fn measure_peak() -> Vec<PeakRow> {
    let configs: Vec<(&'static str, bool, usize)> =
        [(true, "zmm (AVX-512F)"), (false, "ymm (AVX2+FMA)")]
            .into_iter()
            .flat_map(|(wide, name)| [8, 12, 16].map(|chains| (name, wide, chains)))
            .filter(|&(_, wide, chains)| peak_sample(wide, chains).is_some())
            .collect();
    let mut samples = vec![Vec::new(); configs.len()];
    for _ in 0..PEAK_ROUNDS {
        for (config, slot) in configs.iter().zip(&mut samples) {
            slot.push(peak_sample(config.1, config.2).unwrap_or(f64::NAN));
        }
    }
    configs
        .iter()
        .zip(samples)
        .map(|(&(name, wide, chains), values)| {
            let best = values.iter().copied().fold(0.0, f64::max);
            let median = stats(values).median;
            eprintln!(
                "  {name} FMA, {chains:>2} chains: median {median:.1}, best {best:.1} GFLOP/s"
            );
            PeakRow {
                name,
                wide,
                chains,
                median,
                best,
            }
        })
        .collect()
}

/// A working set being sampled: documents walked by a wrapping cursor.
struct Workload<'a> {
    shape: &'a Shape,
    docs: &'a [f32],
    query: &'a [f32],
    count: usize,
    cursor: usize,
}

impl Workload<'_> {
    /// Scores the next `pairs` documents with `method`.
    fn run(&mut self, method: MaxSim, pairs: usize) -> f32 {
        let (dim, len) = (self.shape.dim, self.shape.doc_len());
        let query = black_box(self.query);
        let (mut left, mut sum) = (pairs, 0.0);
        while left > 0 {
            let take = left.min(self.count - self.cursor);
            let docs = &self.docs[self.cursor * len..(self.cursor + take) * len];
            sum += docs
                .chunks_exact(len)
                .map(|doc| method(dim, doc, query))
                .sum::<f32>();
            self.cursor = (self.cursor + take) % self.count;
            left -= take;
        }
        sum
    }

    /// Pairs per sample of about `SAMPLE_SECONDS` (doubling from 1, which
    /// also warms up); at most a quarter of a large set, so samples stay cold.
    fn calibrate(&mut self, method: MaxSim, large: bool) -> usize {
        let mut pairs = 1;
        loop {
            let seconds = seconds_of(|| self.run(method, pairs));
            if seconds >= SAMPLE_SECONDS / 4.0 || pairs >= 1 << 24 {
                let target = (pairs as f64 * SAMPLE_SECONDS / seconds).ceil() as usize;
                let cap = if large {
                    (self.count / 4).max(1)
                } else {
                    usize::MAX
                };
                return target.clamp(1, cap);
            }
            pairs *= 2;
        }
    }
}

/// One result row: per-round seconds per pair of each method (in `METHODS`
/// order) and per-round reference peak GFLOP/s.
struct Row {
    shape: usize,
    set: &'static str,
    docs: usize,
    seconds: [Vec<f64>; 4],
    peak: Vec<f64>,
}

/// Interleaved rounds of every method over `docs` (whole documents).
fn measure_set(
    shape_index: usize,
    set: &'static str,
    docs: &[f32],
    query: &[f32],
    reference: (bool, usize),
) -> Row {
    let shape = &SHAPES[shape_index];
    let count = docs.len() / shape.doc_len();
    check_agreement(shape, &docs[..shape.doc_len()], query);
    let mut work = Workload {
        shape,
        docs,
        query,
        count,
        cursor: 0,
    };
    let large = set == "DRAM";
    let pairs: Vec<usize> = METHODS
        .iter()
        .map(|&(_, m)| work.calibrate(m, large))
        .collect();
    let mut row = Row {
        shape: shape_index,
        set,
        docs: count,
        seconds: Default::default(),
        peak: Vec::new(),
    };
    for round in 0..ROUNDS {
        for i in 0..METHODS.len() {
            let m = (round + i) % METHODS.len();
            let seconds = seconds_of(|| work.run(METHODS[m].1, pairs[m]));
            row.seconds[m].push(seconds / pairs[m] as f64);
        }
        row.peak
            .push(peak_sample(reference.0, reference.1).unwrap_or(f64::NAN));
    }
    let mut line = format!("  {:<14} {set:<4}", shape.label());
    for (&(name, _), seconds) in METHODS.iter().zip(&row.seconds) {
        let median = stats(seconds.clone()).median;
        let _ = write!(
            line,
            " | {name} {:.2} us {:.1} GFLOP/s",
            median * 1e6,
            shape.flops_per_pair() / median / 1e9
        );
    }
    eprintln!("{line}");
    row
}

/// Warns if the methods disagree beyond rounding on one document.
fn check_agreement(shape: &Shape, doc: &[f32], query: &[f32]) {
    let reference = distance::maxsim_naive(shape.dim, doc, query);
    // Each score is a sum of nq dot products of dim terms in [-1, 1].
    let tolerance = 1e-4 * (shape.query_tokens * shape.dim) as f32;
    for (name, method) in METHODS {
        let score = method(shape.dim, doc, query);
        if (score - reference).abs() > tolerance {
            eprintln!(
                "  WARNING: {name} gives {score}, naive {reference} (dim {})",
                shape.dim
            );
        }
    }
}

/// About `bytes` of documents: a random block of up to 1 MiB of whole
/// documents, repeated (the content does not matter to the speed).
fn document_set(rng: &mut Rng, shape: &Shape, bytes: usize) -> Vec<f32> {
    let doc_bytes = shape.doc_len() * 4;
    let docs = (bytes / doc_bytes).max(1);
    let block_docs = ((1 << 20) / doc_bytes).clamp(1, docs);
    let block = rng.vector(block_docs * shape.doc_len());
    let total = docs * shape.doc_len();
    let mut data = Vec::with_capacity(total);
    while data.len() < total {
        let take = block.len().min(total - data.len());
        data.extend_from_slice(&block[..take]);
    }
    data
}

/// All shapes, L2 then DRAM working set.
fn measure_all(reference: (bool, usize)) -> Vec<Row> {
    let mut rows = Vec::new();
    for (index, shape) in SHAPES.iter().enumerate() {
        let mut rng = Rng(shape.dim as u64);
        let query = rng.vector(shape.query_tokens * shape.dim);
        let docs = document_set(&mut rng, shape, CACHE_SET_BYTES);
        rows.push(measure_set(index, "L2", &docs, &query, reference));
        drop(docs);
        let docs = document_set(&mut rng, shape, LARGE_SET_BYTES);
        rows.push(measure_set(index, "DRAM", &docs, &query, reference));
    }
    rows
}

/// A field of the first processor in /proc/cpuinfo.
fn cpuinfo_field(info: &str, name: &str) -> String {
    info.lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(key, _)| key.trim() == name)
        .map_or("?".into(), |(_, value)| value.trim().to_string())
}

/// The CPU model, its relevant flags and its nominal MHz from /proc/cpuinfo.
fn cpu_description() -> (String, String, Option<f64>) {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = format!(
        "{} (cpu family {}, model {})",
        cpuinfo_field(&info, "model name"),
        cpuinfo_field(&info, "cpu family"),
        cpuinfo_field(&info, "model")
    );
    let flags = cpuinfo_field(&info, "flags");
    let relevant: Vec<&str> = flags
        .split_whitespace()
        .filter(|flag| ["fma", "avx2", "avx512f", "avx512vl", "avx512_bf16"].contains(flag))
        .collect();
    let mhz = cpuinfo_field(&info, "cpu MHz").parse().ok();
    (model, relevant.join(" "), mhz)
}

/// The load average from /proc/loadavg (1, 5, 15 minutes).
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    let started = Instant::now();
    let (model, flags, _) = cpu_description();
    let load_before = load_average();
    eprintln!(
        "ember maxsim: CPU {model}, flags [{flags}], dispatched ISA {}, load average {load_before}",
        distance::active_isa()
    );
    eprintln!("peak single-core f32 FMA rate (register-only chains, {PEAK_ROUNDS} rounds):");
    let peak = measure_peak();
    // The reference for "% of peak": the fastest configuration (by median).
    let reference = peak
        .iter()
        .max_by(|a, b| a.median.total_cmp(&b.median))
        .map_or((false, 0), |row| (row.wide, row.chains));
    eprintln!("maxsim ({ROUNDS} interleaved rounds per row; median us per pair and GFLOP/s):");
    let rows = measure_all(reference);
    let load = (load_before, load_average());
    let report = report(&peak, reference, &rows, &load);
    println!("\n{report}");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/results");
    let path = format!("{dir}/maxsim.md");
    match std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, &report)) {
        Ok(()) => eprintln!("report written to {path}"),
        Err(error) => eprintln!("could not write {path}: {error}"),
    }
    eprintln!("total {:.1} s", started.elapsed().as_secs_f64());
}

/// The method paragraph of the report.
const METHOD: &str = "\
Run: `cargo bench -p ember-benches --bench maxsim` (release, single thread). One query is scored
against the documents of a working set; a *pair* is one (query, document) MaxSim and does
2 x dim x nq x nd FLOPs. Working sets: **L2** = at most 512 KiB of documents (L2 is 1 MiB per
core), **DRAM** = about 256 MiB (L3 is 32 MiB), walked so that every sample reads cold documents.
Methods: **blocked** = `distance::maxsim` (dispatched; AVX-512 4x4 query x doc tiles here),
**avx2** = `maxsim_with_isa(Isa::Avx2)` (4x2 tiles), **simple** = for each query token, max over
document tokens of the dispatched `distance::dot` (no blocking), **naive** =
`distance::maxsim_naive` (scalar dot per pair). Ratios are speedups, baseline time / blocked time.
Peak = register-only FMA chains (no memory), measured in this run. The 2 vCPUs are shared with
other jobs, so each row is 25 interleaved rounds: one ~10 ms sample of every method (order
rotated) plus one peak sample; times are medians over rounds, ratios and % of peak are medians of
the per-round values, with the interquartile range in brackets.
";

/// `median (p25-p75)` of per-round values computed by `value(round)`.
fn per_round(rounds: usize, value: impl Fn(usize) -> f64, unit: &str, digits: usize) -> String {
    let s = stats((0..rounds).map(value).collect());
    format!(
        "{:.digits$}{unit} ({:.digits$}-{:.digits$})",
        s.median, s.p25, s.p75
    )
}

/// The markdown report.
fn report(
    peak: &[PeakRow],
    reference: (bool, usize),
    rows: &[Row],
    load: &(String, String),
) -> String {
    let (model, flags, mhz) = cpu_description();
    let isa = distance::active_isa();
    let mut out = format!("# MaxSim\n\nCPU: {model}; flags: {flags}; dispatched ISA: `{isa}`; ");
    let _ = writeln!(
        out,
        "date: {}; load average before / after: {} / {}.\n\n{METHOD}",
        today(),
        load.0,
        load.1
    );
    peak_section(&mut out, peak, reference, mhz);
    let _ = writeln!(
        out,
        "## Speedups and fraction of peak (median over rounds, IQR in brackets)\n"
    );
    let _ = writeln!(
        out,
        "| dim / q x d | set | blocked / naive | blocked / simple | blocked / avx2 \
         | blocked % of peak | avx2 % of peak | simple % of peak | naive % of peak |"
    );
    let _ = writeln!(out, "|---|---|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let flops = SHAPES[row.shape].flops_per_pair();
        let n = row.peak.len();
        let ratio = |m: usize| per_round(n, |r| row.seconds[m][r] / row.seconds[0][r], "x", 2);
        let percent = |m: usize| {
            let digits = if m == 3 { 1 } else { 0 };
            per_round(
                n,
                |r| 100.0 * flops / row.seconds[m][r] / 1e9 / row.peak[r],
                "%",
                digits,
            )
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            SHAPES[row.shape].label(),
            row.set,
            ratio(3),
            ratio(2),
            ratio(1),
            percent(0),
            percent(1),
            percent(2),
            percent(3),
        );
    }
    absolute_section(&mut out, rows);
    out
}

/// The measured-peak table and what it implies.
fn peak_section(out: &mut String, peak: &[PeakRow], reference: (bool, usize), mhz: Option<f64>) {
    let _ = writeln!(
        out,
        "## Peak single-core f32 FLOP rate (measured in this run)\n"
    );
    let _ = writeln!(
        out,
        "| FMA | independent chains | median GFLOP/s | best GFLOP/s |\n|---|---:|---:|---:|"
    );
    for row in peak {
        let _ = writeln!(
            out,
            "| {} | {} | {:.1} | {:.1} |",
            row.name, row.chains, row.median, row.best
        );
    }
    let find = |wide: bool| {
        peak.iter()
            .filter(|row| row.wide == wide)
            .map(|row| row.median)
            .max_by(f64::total_cmp)
    };
    let (Some(zmm), ymm) = (find(true), find(false)) else {
        return;
    };
    let _ = write!(
        out,
        "\nReference for \"% of peak\": {} chains of {} FMAs, median **{zmm:.1} GFLOP/s**, sampled again \
         in every round. Zen 5 has two 512-bit FMA pipes, i.e. 2 x 16 lanes x 2 FLOPs = 64 FLOP/cycle, so \
         this is an effective clock of **{:.2} GHz**",
        reference.1,
        if reference.0 { "zmm" } else { "ymm" },
        zmm / 64.0
    );
    if let Some(mhz) = mhz {
        let _ = write!(
            out,
            " (/proc/cpuinfo reports {:.2} GHz, the nominal clock)",
            mhz / 1000.0
        );
    }
    let _ = write!(out, ".");
    if let Some(ymm) = ymm {
        let _ = write!(
            out,
            " The best ymm rate is {:.0}% of the zmm rate: {}",
            100.0 * ymm / zmm,
            if ymm / zmm < 0.6 {
                "the FMA units are 512 bits wide, so AVX2 code can reach at most about half the peak. \
                 16 ymm chains spill (AVX2 has 16 ymm registers, and the loop needs 2 more for constants)."
            } else {
                "the 512-bit FMAs are not wider than 256-bit ones on this core."
            }
        );
    }
    let _ = writeln!(out, "\n");
}

/// Median time and GFLOP/s of every method.
fn absolute_section(out: &mut String, rows: &[Row]) {
    let _ = writeln!(
        out,
        "\n## Time per (query, doc) pair and GFLOP/s (medians)\n"
    );
    let _ = write!(
        out,
        "| dim / q x d | shape | set | docs in set | MFLOP / pair |"
    );
    for (name, _) in METHODS {
        let _ = write!(out, " {name} us | {name} GFLOP/s |");
    }
    let _ = writeln!(
        out,
        "\n|---|---|---|---:|---:|{}",
        "---:|".repeat(2 * METHODS.len())
    );
    for row in rows {
        let shape = &SHAPES[row.shape];
        let flops = shape.flops_per_pair();
        let _ = write!(
            out,
            "| {} | {} | {} | {} | {:.3} |",
            shape.label(),
            shape.note,
            row.set,
            row.docs,
            flops / 1e6
        );
        for seconds in &row.seconds {
            let median = stats(seconds.clone()).median;
            let _ = write!(out, " {:.2} | {:.1} |", median * 1e6, flops / median / 1e9);
        }
        let _ = writeln!(out);
    }
}
