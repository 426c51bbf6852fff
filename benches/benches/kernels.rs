//! Throughput of the distance kernels: `cargo bench -p ember-benches --bench kernels`.
//!
//! Method (also written into the report):
//! - One query is compared against every vector of a data set; the query
//!   stays in L1, so the figure reported is **GB/s of data-vector bytes
//!   read** (vectors x dim x element size per pass, 1 GB = 1e9 bytes). The
//!   query's bytes are not counted.
//! - In-cache runs: 512 KiB of f32 data per dimension (half of this Zen 5's
//!   1 MiB L2); the f16 runs use the same number of vectors, so half the bytes.
//! - Large runs: 512 MiB of data at dim 768, far beyond the caches, compared
//!   with a plain streaming read (wrapping sum of u64) over a 512 MiB buffer
//!   measured in the same run: that ratio says how close a kernel gets to
//!   the single-core memory bandwidth.
//! - Timing: `Instant`, a warm-up, then the median of several samples; each
//!   sample repeats passes for at least ~10 ms.
//! - Columns: the dispatched entry points (whatever `active_isa()` picked),
//!   the AVX2 table forced through `distance::dispatch` when the CPU has it,
//!   and the plain-loop reference `distance::scalar`.
//!
//! The markdown report is printed at the end and written to
//! `benches/results/kernels.md`.

use ember_benches::{today, Rng};
use std::fmt::Write as _;
use std::hint::black_box;
use std::time::{Duration, Instant};

use distance::dispatch::{Isa, Kernels};
use distance::scalar;
use half::f16;

const DIMS: [usize; 5] = [128, 384, 768, 1536, 4096];
const CACHE_SET_BYTES: usize = 512 << 10;
const LARGE_SET_BYTES: usize = 512 << 20;
const LARGE_DIM: usize = 768;
const SPARSE_NNZ: usize = 100;
const SPARSE_VOCABULARY: u32 = 30_522; // a BERT/SPLADE vocabulary
const SPARSE_VECTORS: usize = 1000;


/// Median seconds per call of `pass`, after a warm-up of at least `warmup`
/// and one call; each of the `samples` repeats `pass` for about 10 ms.
fn median_seconds(samples: usize, warmup: Duration, mut pass: impl FnMut() -> f32) -> f64 {
    let start = Instant::now();
    let mut calls = 0u32;
    while calls == 0 || start.elapsed() < warmup {
        black_box(pass());
        calls += 1;
    }
    let per_call = start.elapsed().as_secs_f64() / f64::from(calls);
    let repeats = ((0.010 / per_call).ceil() as usize).max(1);
    let mut times: Vec<f64> = (0..samples)
        .map(|_| {
            let sample = Instant::now();
            for _ in 0..repeats {
                black_box(pass());
            }
            sample.elapsed().as_secs_f64() / repeats as f64
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[samples / 2]
}

/// GB/s of `data` read by one pass of `kernel(query, vector)` over its
/// vectors of `dim` elements.
fn throughput<T>(
    data: &[T],
    query: &[T],
    dim: usize,
    large: bool,
    kernel: impl Fn(&[T], &[T]) -> f32,
) -> f64 {
    let pass = || {
        let query = black_box(query);
        data.chunks_exact(dim)
            .map(|vector| kernel(query, vector))
            .sum::<f32>()
    };
    let (samples, warmup) = if large {
        (3, Duration::ZERO)
    } else {
        (7, Duration::from_millis(20))
    };
    let seconds = median_seconds(samples, warmup, pass);
    std::mem::size_of_val(data) as f64 / seconds / 1e9
}

/// One row of the in-cache table.
struct Row {
    kernel: &'static str,
    dim: usize,
    vectors: usize,
    dispatched: f64,
    avx2: Option<f64>,
    scalar: f64,
}

/// Measures one kernel at the three levels on in-cache data.
fn measure_levels<T>(
    (name, dim, data, query): (&'static str, usize, &[T], &[T]),
    dispatched: impl Fn(&[T], &[T]) -> f32,
    avx2: Option<impl Fn(&[T], &[T]) -> f32>,
    scalar: impl Fn(&[T], &[T]) -> f32,
) -> Row {
    let dispatched = throughput(data, query, dim, false, dispatched);
    let avx2 = avx2.map(|kernel| throughput(data, query, dim, false, kernel));
    let scalar = throughput(data, query, dim, false, scalar);
    let avx2_text = avx2.map_or(String::new(), |g| format!(", avx2 {g:.1}"));
    eprintln!(
        "  {name:<20} dim {dim:>4}: dispatched {dispatched:.1}{avx2_text}, scalar {scalar:.1} GB/s"
    );
    Row {
        kernel: name,
        dim,
        vectors: data.len() / dim,
        dispatched,
        avx2,
        scalar,
    }
}

/// Results as `f32` (the cosine kernels return `f64`), to sum them in a pass.
trait IntoF32 {
    fn into_f32(self) -> f32;
}

impl IntoF32 for f32 {
    fn into_f32(self) -> f32 {
        self
    }
}

impl IntoF32 for f64 {
    fn into_f32(self) -> f32 {
        self as f32
    }
}

/// One kernel at the three levels: the dispatched entry point, the AVX2 table
/// (if any) and the scalar reference. Closures over function items, not
/// pointers, so the dispatched and AVX2 columns pay exactly their one
/// indirect call and the scalar reference none.
macro_rules! levels {
    ($case:expr, $avx2:expr, $kernel:ident: $element:ty) => {
        measure_levels(
            $case(stringify!($kernel)),
            |a, b| distance::$kernel(a, b).into_f32(),
            $avx2.map(|k| move |a: &[$element], b: &[$element]| k.$kernel(a, b).into_f32()),
            |a, b| scalar::$kernel(a, b).into_f32(),
        )
    };
}

/// In-cache runs of every kernel at every dimension.
fn in_cache_rows(avx2: Option<&'static Kernels>) -> Vec<Row> {
    let mut rows = Vec::new();
    for dim in DIMS {
        let mut rng = Rng(dim as u64);
        let vectors = CACHE_SET_BYTES / (dim * 4);
        let (data, query) = (rng.vector(vectors * dim), rng.vector(dim));
        let case = |name| (name, dim, &data[..], &query[..]);
        rows.push(levels!(case, avx2, l2_squared: f32));
        rows.push(levels!(case, avx2, dot: f32));
        rows.push(levels!(case, avx2, l1: f32));
        rows.push(levels!(case, avx2, cosine_distance: f32));
        let (data, query) = (to_f16(&data), to_f16(&query));
        let case = |name| (name, dim, &data[..], &query[..]);
        rows.push(levels!(case, avx2, l2_squared_f16: f16));
        rows.push(levels!(case, avx2, dot_f16: f16));
        rows.push(levels!(case, avx2, cosine_distance_f16: f16));
    }
    rows
}

fn to_f16(values: &[f32]) -> Vec<f16> {
    values.iter().copied().map(f16::from_f32).collect()
}

/// Single-core streaming read bandwidth: wrapping sum of a 512 MiB u64 buffer.
fn stream_bandwidth() -> f64 {
    // Written, not zero-allocated: untouched pages would all map the shared
    // zero page and be read from cache.
    let words: Vec<u64> = (0..LARGE_SET_BYTES as u64 / 8).collect();
    let pass = || {
        let mut lanes = [0u64; 8];
        for chunk in black_box(&words[..]).chunks_exact(8) {
            for (lane, &word) in lanes.iter_mut().zip(chunk) {
                *lane = lane.wrapping_add(word);
            }
        }
        lanes.iter().fold(0u64, |s, &x| s.wrapping_add(x)) as f32
    };
    let seconds = median_seconds(5, Duration::ZERO, pass);
    let gbps = LARGE_SET_BYTES as f64 / seconds / 1e9;
    eprintln!("  stream read (u64 sum, 512 MiB): {gbps:.1} GB/s");
    gbps
}

/// A 512 MiB data set, made by repeating a random 1 MiB block (fast to build;
/// the content does not matter to the kernels' speed).
fn large_set<T: Copy>(block: &[T]) -> Vec<T> {
    let total = LARGE_SET_BYTES / std::mem::size_of::<T>();
    let mut data = Vec::with_capacity(total);
    while data.len() < total {
        let take = block.len().min(total - data.len());
        data.extend_from_slice(&block[..take]);
    }
    data
}

/// A large-working-set result: kernel, level, GB/s.
type LargeRow = (&'static str, &'static str, f64);

/// Large-working-set runs.
fn large_rows() -> Vec<LargeRow> {
    let mut rng = Rng(7);
    let block = rng.vector((1 << 20) / 4 / LARGE_DIM * LARGE_DIM);
    let query = rng.vector(LARGE_DIM);
    let mut rows = Vec::new();
    let mut run = |name, level, gbps: f64| {
        eprintln!("  {name:<20} dim {LARGE_DIM} 512 MiB {level}: {gbps:.1} GB/s");
        rows.push((name, level, gbps));
    };
    {
        let data = large_set(&block);
        let measure =
            |kernel: fn(&[f32], &[f32]) -> f32| throughput(&data, &query, LARGE_DIM, true, kernel);
        run("l2_squared", "dispatched", measure(distance::l2_squared));
        run("l2_squared", "scalar", measure(scalar::l2_squared));
        run("dot", "dispatched", measure(distance::dot));
        run("dot", "scalar", measure(scalar::dot));
        run(
            "cosine_distance",
            "dispatched",
            measure(|a, b| distance::cosine_distance(a, b) as f32),
        );
        run(
            "cosine_distance",
            "scalar",
            measure(|a, b| scalar::cosine_distance(a, b) as f32),
        );
    }
    let (block, query) = (to_f16(&block), to_f16(&query));
    let data = large_set(&block);
    let measure =
        |kernel: fn(&[f16], &[f16]) -> f32| throughput(&data, &query, LARGE_DIM, true, kernel);
    run(
        "l2_squared_f16",
        "dispatched",
        measure(distance::l2_squared_f16),
    );
    run("l2_squared_f16", "scalar", measure(scalar::l2_squared_f16));
    run("dot_f16", "dispatched", measure(distance::dot_f16));
    run("dot_f16", "scalar", measure(scalar::dot_f16));
    rows
}

/// Sparse runs: (kernel, ns per pair).
fn sparse_rows() -> Vec<(&'static str, f64)> {
    let mut rng = Rng(11);
    let mut sparse = || {
        let mut indices: Vec<u32> = Vec::with_capacity(SPARSE_NNZ);
        while indices.len() < SPARSE_NNZ {
            let index = (rng.next_u64() % u64::from(SPARSE_VOCABULARY)) as u32;
            if !indices.contains(&index) {
                indices.push(index);
            }
        }
        indices.sort_unstable();
        let values = rng.vector(SPARSE_NNZ);
        (indices, values)
    };
    let query = sparse();
    let data: Vec<(Vec<u32>, Vec<f32>)> = (0..SPARSE_VECTORS).map(|_| sparse()).collect();
    type Sparse = fn(&[u32], &[f32], &[u32], &[f32]) -> f32;
    let kernels: [(&'static str, Sparse); 4] = [
        ("sparse_dot", distance::sparse_dot),
        ("sparse_l2_squared", distance::sparse_l2_squared),
        ("sparse_l1", distance::sparse_l1),
        ("sparse_cosine_distance", |ai, av, bi, bv| {
            distance::sparse_cosine_distance(ai, av, bi, bv) as f32
        }),
    ];
    let mut rows = Vec::new();
    for (name, kernel) in kernels {
        let pass = || {
            let (qi, qv) = black_box((&query.0[..], &query.1[..]));
            data.iter().map(|(i, v)| kernel(qi, qv, i, v)).sum::<f32>()
        };
        let ns = median_seconds(7, Duration::from_millis(20), pass) / SPARSE_VECTORS as f64 * 1e9;
        eprintln!("  {name:<22} {SPARSE_NNZ} vs {SPARSE_NNZ} nnz: {ns:.1} ns/pair");
        rows.push((name, ns));
    }
    rows
}

/// The CPU model from /proc/cpuinfo, with family and model numbers (a VM
/// may show only a generic model name).
fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        info.lines()
            .filter_map(|line| line.split_once(':'))
            .find(|(key, _)| key.trim() == name)
            .map_or("?", |(_, value)| value.trim())
    };
    format!(
        "{} (cpu family {}, model {})",
        field("model name"),
        field("cpu family"),
        field("model")
    )
}

fn main() {
    let isa = distance::active_isa();
    let avx2 = Kernels::for_isa(Isa::Avx2).filter(|_| isa != Isa::Avx2.name());
    eprintln!(
        "ember distance kernels: CPU {}, dispatched ISA {isa}",
        cpu_model()
    );
    eprintln!("in-cache runs (GB/s of data vectors read):");
    let rows = in_cache_rows(avx2);
    eprintln!("large working set:");
    let stream = stream_bandwidth();
    let large = large_rows();
    eprintln!("sparse:");
    let sparse = sparse_rows();
    let report = report(isa, &rows, stream, &large, &sparse);
    println!("\n{report}");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/results");
    let path = format!("{dir}/kernels.md");
    match std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&path, &report)) {
        Ok(()) => eprintln!("report written to {path}"),
        Err(error) => eprintln!("could not write {path}: {error}"),
    }
}

/// The method paragraph of the report.
const METHOD: &str = "\
Run: `cargo bench -p ember-benches --bench kernels` (release). GB/s = bytes of the data vectors
read per second (1 GB = 1e9 B; the query stays in L1 and is not counted); f16 rows count 2 bytes
per element. Median of 7 samples after warm-up (3 for the large set). The scalar f16 reference
widens each element with `half::f16::to_f32` (a run-time F16C check and a call per element),
which is what makes the f16 ratios so large.
";

/// The markdown report.
fn report(
    isa: &str,
    rows: &[Row],
    stream: f64,
    large: &[LargeRow],
    sparse: &[(&str, f64)],
) -> String {
    let mut out = format!(
        "# Distance kernels\n\nCPU: {}; dispatched ISA: `{isa}`; ",
        cpu_model()
    );
    let _ = writeln!(out, "date: {}; single thread.\n\n{METHOD}", today());
    let _ = writeln!(
        out,
        "## In cache (512 KiB of f32 data per dim, L2-resident; f16: same vectors, half the bytes)\n"
    );
    let with_avx2 = rows.iter().any(|row| row.avx2.is_some());
    let (avx2_head, avx2_rule) = if with_avx2 {
        (" avx2+fma GB/s |", "---:|")
    } else {
        ("", "")
    };
    let _ = writeln!(
        out,
        "| kernel | dim | vectors | {isa} GB/s |{avx2_head} scalar GB/s | {isa} / scalar |"
    );
    let _ = writeln!(out, "|---|---:|---:|---:|{avx2_rule}---:|---:|");
    for row in rows {
        let avx2 = row.avx2.map_or(String::new(), |g| format!(" {g:.1} |"));
        let (kernel, dim, vectors, simd, scalar) =
            (row.kernel, row.dim, row.vectors, row.dispatched, row.scalar);
        let ratio = simd / scalar;
        let _ = writeln!(
            out,
            "| {kernel} | {dim} | {vectors} | {simd:.1} |{avx2} {scalar:.1} | {ratio:.1}x |"
        );
    }
    let _ = writeln!(
        out,
        "\n## Large working set (512 MiB of data vectors, dim {LARGE_DIM})\n"
    );
    let _ = writeln!(
        out,
        "Streaming read of a 512 MiB u64 buffer (wrapping sum), same run: **{stream:.1} GB/s**.\n"
    );
    let _ = writeln!(
        out,
        "| kernel | level | GB/s | fraction of stream read |\n|---|---|---:|---:|"
    );
    for (kernel, level, gbps) in large {
        let level = if *level == "dispatched" { isa } else { level };
        let _ = writeln!(
            out,
            "| {kernel} | {level} | {gbps:.1} | {:.0}% |",
            100.0 * gbps / stream
        );
    }
    let _ = writeln!(
        out,
        "\n## Sparse ({SPARSE_NNZ} vs {SPARSE_NNZ} nnz, indices uniform in 0..{SPARSE_VOCABULARY})\n"
    );
    let _ = writeln!(out, "| kernel | ns / pair | M pairs / s |\n|---|---:|---:|");
    for (kernel, ns) in sparse {
        let _ = writeln!(out, "| {kernel} | {ns:.1} | {:.1} |", 1e3 / ns);
    }
    out
}
