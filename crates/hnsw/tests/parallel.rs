//! The parallel build (`ParallelBuilder`): recall, reachability, duplicates,
//! cancellation, progress, variable-length vectors, the memory estimate.
//! Thread timing varies, so the assertions hold for any interleaving.

mod common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use common::{clustered, exact_topk, recall, Rng};
use hnsw::{
    estimate_bytes, Cosine, Distance, Hnsw, HnswError, HnswParams, InnerProduct, ParallelBuilder,
    ScanOrder, L1, L2,
};

fn never() -> bool {
    false
}

fn parallel<D: Distance + Sync>(
    data: &[Vec<f32>],
    dims: usize,
    params: HnswParams,
    metric: D,
    threads: usize,
) -> Hnsw<D> {
    let mut b = ParallelBuilder::new(dims, params, metric);
    for v in data {
        b.push(v).unwrap();
    }
    b.build(threads, &never).unwrap()
}

/// Elements reachable on `level` from `start`.
fn reachable<D: Distance>(g: &Hnsw<D>, start: u32, level: usize) -> Vec<bool> {
    let mut seen = vec![false; g.len()];
    let mut queue = VecDeque::from([start]);
    seen[start as usize] = true;
    while let Some(id) = queue.pop_front() {
        for &n in g.links(id, level) {
            if !seen[n as usize] {
                seen[n as usize] = true;
                queue.push_back(n);
            }
        }
    }
    seen
}

/// Checks every element is reachable from the entry point on layer 0 (a
/// scan can return it) and on every upper layer it is on (a descent can
/// pass through it), and that the lists are well formed.
fn assert_all_reachable<D: Distance>(g: &Hnsw<D>) {
    use hnsw::GraphView;
    let (entry, top) = g.entry_point().expect("not empty");
    assert_eq!(g.level(entry), top);
    assert!((0..g.len() as u32).all(|id| g.level(id) <= top));
    for level in 0..=top {
        let seen = reachable(g, entry, level);
        let missing: Vec<u32> = (0..g.len() as u32)
            .filter(|&i| g.level(i) >= level && !seen[i as usize])
            .collect();
        assert!(
            missing.is_empty(),
            "unreachable on layer {level}: {missing:?}"
        );
    }
    for id in 0..g.len() as u32 {
        for l in 0..=g.level(id) {
            let links = g.links(id, l);
            assert!(links.len() <= g.params().max_neighbours(l));
            assert!(!links.contains(&id), "self link {id} on {l}");
            assert!(
                links.iter().all(|&n| g.level(n) >= l),
                "link to a lower element"
            );
            let mut sorted = links.to_vec();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(sorted.len(), links.len(), "duplicate link of {id} on {l}");
        }
    }
}

fn check_recall<D: Distance + Copy + Sync>(metric: D, name: &str, normalise: bool) {
    let (mut data, mut queries) = clustered(10_000, 200, 32, 32, 42);
    if normalise {
        for v in data.iter_mut().chain(queries.iter_mut()) {
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            v.iter_mut().for_each(|x| *x /= norm);
        }
    }
    let g = parallel(&data, 32, HnswParams::default(), metric, 2);
    assert_eq!(g.len(), data.len());
    for (id, v) in data.iter().enumerate() {
        assert_eq!(g.vector(id as u32), v.as_slice());
    }
    let truth: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| exact_topk(&data, q, 10, |a, b| metric.distance_or_inf(a, b)))
        .collect();
    let found: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| g.search(q, 10, 64).into_iter().map(|(id, _)| id).collect())
        .collect();
    let r = recall(&truth, &found);
    println!("{name}: parallel-built recall@10 = {r:.4} at ef_search 64");
    assert!(r >= 0.95, "{name} recall@10 {r} < 0.95");
}

#[test]
fn recall_l2() {
    check_recall(L2, "l2", false);
}

#[test]
fn recall_cosine() {
    check_recall(Cosine, "cosine", false);
}

#[test]
fn recall_inner_product() {
    check_recall(InnerProduct, "inner product", true);
}

#[test]
fn recall_l1() {
    check_recall(L1, "l1", false);
}

#[test]
fn every_element_is_reachable() {
    let (data, _) = clustered(20_000, 0, 16, 64, 5);
    let g = parallel(&data, 16, HnswParams::default(), L2, 2);
    assert_all_reachable(&g);
    // A small m stresses the pruning.
    let small = HnswParams {
        m: 4,
        ef_construction: 32,
        ..HnswParams::default()
    };
    let g = parallel(&data, 16, small, L2, 2);
    assert_all_reachable(&g);
}

#[test]
fn more_threads_than_cores() {
    // Threads get preempted while holding a list lock: the others must
    // wait it out (spin, then yield) and the graph must come out whole.
    let (data, queries) = clustered(20_000, 100, 16, 32, 8);
    let g = parallel(&data, 16, HnswParams::default(), L2, 8);
    assert_all_reachable(&g);
    let truth: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| exact_topk(&data, q, 10, distance::l2_squared))
        .collect();
    let found: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| g.search(q, 10, 64).into_iter().map(|(id, _)| id).collect())
        .collect();
    let r = recall(&truth, &found);
    assert!(r >= 0.95, "8 threads: recall@10 {r}");
}

#[test]
fn duplicates_stay_reachable() {
    let (mut data, _) = clustered(3_000, 0, 8, 8, 9);
    let twin = vec![0.25f32; 8];
    // Interleave 1,000 identical vectors with the others.
    for i in 0..1_000 {
        data.insert(i * 3, twin.clone());
    }
    let g = parallel(&data, 8, HnswParams::default(), L2, 2);
    assert_all_reachable(&g);
    let scan: Vec<u32> = g
        .search_iter(&twin, 40, ScanOrder::Relaxed)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(
        scan.len(),
        data.len(),
        "an iterative scan reaches everything"
    );
    let twins = |ids: &[u32]| {
        ids.iter()
            .filter(|&&id| g.vector(id) == twin.as_slice())
            .count()
    };
    assert_eq!(twins(&scan), 1_000, "the scan returns every twin");
    let found: Vec<u32> = g
        .search(&twin, 1_000, 1_500)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    println!("search finds {} of 1,000 twins", twins(&found));
    assert!(twins(&found) >= 950, "search finds {} twins", twins(&found));
}

#[test]
fn cancellation_stops_the_build() {
    let (data, _) = clustered(50_000, 0, 8, 8, 1);
    let builder = || {
        let mut b = ParallelBuilder::new(8, HnswParams::default(), L2);
        for v in &data {
            b.push(v).unwrap();
        }
        b
    };
    // Stopped before anything is done.
    let polls = AtomicUsize::new(0);
    let stop_now = || {
        polls.fetch_add(1, Ordering::Relaxed);
        true
    };
    assert_eq!(
        builder().build(2, &stop_now).err(),
        Some(HnswError::Cancelled)
    );
    assert_eq!(polls.load(Ordering::Relaxed), 1);
    // Stopped once 2,000 are done: it returns within a chunk per thread.
    let done = AtomicUsize::new(0);
    let stop = || done.load(Ordering::Relaxed) >= 2_000;
    let progress = |n: usize| {
        done.fetch_max(n, Ordering::Relaxed);
    };
    let result = builder().build_with_progress(2, &stop, &progress);
    assert_eq!(result.err(), Some(HnswError::Cancelled));
    assert_eq!(done.load(Ordering::Relaxed), 2_000, "stopped promptly");
}

#[test]
fn progress_is_reported() {
    let (data, _) = clustered(5_500, 0, 8, 8, 2);
    let mut b = ParallelBuilder::new(8, HnswParams::default(), L2);
    for v in &data {
        b.push(v).unwrap();
    }
    let seen = Mutex::new(Vec::new());
    let g = b
        .build_with_progress(2, &never, &|n| seen.lock().unwrap().push(n))
        .unwrap();
    assert_eq!(g.len(), 5_500);
    let mut seen = seen.into_inner().unwrap();
    assert_eq!(seen.pop(), Some(5_500), "the last call says all are done");
    seen.sort_unstable();
    assert_eq!(seen, vec![1_000, 2_000, 3_000, 4_000, 5_000]);
}

#[test]
fn small_and_empty_builds() {
    let b = ParallelBuilder::new(3, HnswParams::default(), L2);
    assert!(b.is_empty());
    let g = b.build(2, &never).unwrap();
    assert!(g.is_empty());
    assert!(g.search(&[0.0; 3], 5, 10).is_empty());
    for n in [1usize, 2, 17, 300] {
        let data: Vec<Vec<f32>> = (0..n).map(|i| vec![i as f32, 0.0, 1.0]).collect();
        let g = parallel(&data, 3, HnswParams::default(), L2, 2);
        assert_eq!(g.len(), n);
        assert_all_reachable(&g);
        assert_eq!(g.search(&[0.25, 0.0, 1.0], 1, 10), vec![(0, 0.0625)]);
    }
    let mut b = ParallelBuilder::new(3, HnswParams::default(), L2);
    assert_eq!(
        b.push(&[1.0]),
        Err(HnswError::DimensionMismatch {
            expected: 3,
            found: 1
        })
    );
}

#[test]
fn one_thread_is_deterministic() {
    let (data, queries) = clustered(3_000, 10, 16, 8, 4);
    let a = parallel(&data, 16, HnswParams::default(), L2, 1);
    let b = parallel(&data, 16, HnswParams::default(), L2, 1);
    let serial = {
        let mut g = Hnsw::new(16, HnswParams::default(), L2);
        for v in &data {
            g.insert(v).unwrap();
        }
        g
    };
    for id in 0..data.len() as u32 {
        assert_eq!(a.level(id), b.level(id));
        assert_eq!(a.level(id), serial.level(id), "same layers as serial");
        for l in 0..=a.level(id) {
            assert_eq!(a.links(id, l), b.links(id, l));
        }
    }
    for q in &queries {
        assert_eq!(a.search(q, 10, 40), b.search(q, 10, 40));
    }
}

/// A sparse vector encoded as f32 words: `[index as f32, value]` pairs.
fn encode(pairs: &[(u32, f32)]) -> Vec<f32> {
    pairs.iter().flat_map(|&(i, v)| [i as f32, v]).collect()
}

/// Squared L2 between two encoded sparse vectors (indices ascending).
fn sparse_l2(a: &[f32], b: &[f32]) -> f32 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0f32);
    while i < a.len() || j < b.len() {
        let ia = a.get(i).map_or(f32::INFINITY, |&x| x);
        let ib = b.get(j).map_or(f32::INFINITY, |&x| x);
        if ia == ib {
            sum += (a[i + 1] - b[j + 1]).powi(2);
            i += 2;
            j += 2;
        } else if ia < ib {
            sum += a[i + 1].powi(2);
            i += 2;
        } else {
            sum += b[j + 1].powi(2);
            j += 2;
        }
    }
    sum
}

#[test]
fn variable_length_vectors() {
    let mut rng = Rng(77);
    let centres: Vec<Vec<(u32, f32)>> = (0..20)
        .map(|_| {
            let mut idx: Vec<u32> = (0..8).map(|_| (rng.next_u64() % 200) as u32).collect();
            idx.sort_unstable();
            idx.dedup();
            idx.into_iter().map(|i| (i, rng.uniform() * 4.0)).collect()
        })
        .collect();
    let draw = |rng: &mut Rng| {
        let c = &centres[(rng.next_u64() % 20) as usize];
        let mut pairs: Vec<(u32, f32)> = Vec::new();
        for &(i, v) in c {
            if rng.uniform() < 0.8 {
                pairs.push((i, v + 0.3 * rng.gaussian()));
            }
        }
        for _ in 0..rng.next_u64() % 4 {
            let i = (rng.next_u64() % 200) as u32;
            if !pairs.iter().any(|p| p.0 == i) {
                pairs.push((i, rng.gaussian()));
            }
        }
        pairs.sort_by_key(|p| p.0);
        encode(&pairs)
    };
    let data: Vec<Vec<f32>> = (0..4_000).map(|_| draw(&mut rng)).collect();
    let queries: Vec<Vec<f32>> = (0..50).map(|_| draw(&mut rng)).collect();
    assert!(data.iter().any(|v| v.len() != data[0].len()));

    let metric = |a: &[f32], b: &[f32]| sparse_l2(a, b);
    let g = parallel(&data, 0, HnswParams::default(), metric, 2);
    assert_eq!(g.dims(), 0);
    for (id, v) in data.iter().enumerate() {
        assert_eq!(g.vector(id as u32), v.as_slice());
    }
    assert_all_reachable(&g);
    let truth: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| exact_topk(&data, q, 10, sparse_l2))
        .collect();
    let found: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| g.search(q, 10, 64).into_iter().map(|(id, _)| id).collect())
        .collect();
    let r = recall(&truth, &found);
    println!("sparse-like: recall@10 = {r:.4}");
    assert!(r >= 0.9, "sparse-like recall@10 {r}");

    // The serial graph takes them too.
    let mut serial = Hnsw::new(0, HnswParams::default(), metric);
    for v in &data[..500] {
        serial.insert(v).unwrap();
    }
    assert_eq!(serial.vector(7), data[7].as_slice());
    assert_eq!(serial.search(&data[3], 1, 20)[0].1, 0.0);
}

#[test]
fn estimate_bytes_is_close() {
    for (n, dims, m) in [
        (20_000usize, 32usize, 16usize),
        (20_000, 8, 4),
        (5_000, 128, 32),
    ] {
        let (data, _) = clustered(n, 0, dims, 16, 3);
        let params = HnswParams {
            m,
            ..HnswParams::default()
        };
        let mut b = ParallelBuilder::new(dims, params, L2);
        b.reserve(n, dims);
        for v in &data {
            b.push(v).unwrap();
        }
        let collected = b.allocated_bytes();
        assert_eq!(collected, n * dims * 4);
        let g = b.build(2, &never).unwrap();
        let actual = g.allocated_bytes();
        let estimate = estimate_bytes(n, dims, m);
        println!("n {n} dims {dims} m {m}: estimate {estimate} B, allocated {actual} B");
        assert!(
            estimate <= 2 * actual && actual <= 2 * estimate,
            "estimate {estimate} vs allocated {actual}"
        );
        // The serial graph's buffers grow by doubling: still within 2x.
        let mut s = Hnsw::new(dims, params, L2);
        for v in &data {
            s.insert(v).unwrap();
        }
        let serial = s.allocated_bytes();
        assert!(
            estimate <= 2 * serial && serial <= 2 * estimate,
            "estimate {estimate} vs serial {serial}"
        );
    }
}

/// CPU seconds this process has used (user + system), from /proc.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit(')').next().unwrap_or("");
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the file, 12 and 13 here.
    (ticks(11) + ticks(12)) / 100.0
}

/// Build throughput: 100,000 x 128 clustered, m 16, ef_construction 64.
/// `cargo test --release -p ember-hnsw --test parallel -- --ignored --nocapture`
#[test]
#[ignore = "timing, informative"]
fn build_speed() {
    let n: usize = std::env::var("EMBER_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(100_000);
    let (data, queries) = clustered(n, 100, 128, 64, 12);
    if let Ok(path) = std::env::var("EMBER_BENCH_DUMP") {
        // The same data as pgvector text, one vector a line (for comparing
        // with `CREATE INDEX ... USING hnsw`).
        use std::io::Write;
        let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        for v in &data {
            let words: Vec<String> = v.iter().map(f32::to_string).collect();
            writeln!(out, "[{}]", words.join(",")).unwrap();
        }
        let mut out = std::io::BufWriter::new(std::fs::File::create(path + ".queries").unwrap());
        for v in &queries {
            let words: Vec<String> = v.iter().map(f32::to_string).collect();
            writeln!(out, "[{}]", words.join(",")).unwrap();
        }
        return;
    }
    let params = HnswParams::default();
    let truth: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| exact_topk(&data, q, 10, distance::l2_squared))
        .collect();
    let report = |name: &str, g: &Hnsw<L2>, secs: f64, cpu: f64| {
        let found: Vec<Vec<u32>> = queries
            .iter()
            .map(|q| g.search(q, 10, 40).into_iter().map(|(id, _)| id).collect())
            .collect();
        let degree = (0..g.len() as u32)
            .map(|id| g.links(id, 0).len())
            .sum::<usize>() as f64
            / g.len() as f64;
        for ef in [80, 120] {
            let found: Vec<Vec<u32>> = queries
                .iter()
                .map(|q| g.search(q, 10, ef).into_iter().map(|(id, _)| id).collect())
                .collect();
            println!("{name}: recall@10 (ef {ef}) {:.4}", recall(&truth, &found));
        }
        println!("{name}: mean layer-0 degree {degree:.1}");
        println!(
            "{name}: {n} x 128 in {secs:.2} s = {:.0} elements/s ({cpu:.2} CPU s, {:.0} elements per CPU s), recall@10 (ef 40) {:.4}",
            n as f64 / secs,
            n as f64 / cpu,
            recall(&truth, &found)
        );
    };
    let only = std::env::var("EMBER_BENCH_ONLY").unwrap_or_default();
    if only.is_empty() || only == "serial" {
        let (t, cpu) = (Instant::now(), cpu_seconds());
        let mut g = Hnsw::new(128, params, L2);
        for v in &data {
            g.insert(v).unwrap();
        }
        let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        report("serial Hnsw::insert", &g, secs, cpu);
    }
    for threads in [1, 2] {
        if !only.is_empty() && only != threads.to_string() {
            continue;
        }
        let (t, cpu) = (Instant::now(), cpu_seconds());
        let mut b = ParallelBuilder::new(128, params, L2);
        b.reserve(n, 128);
        for v in &data {
            b.push(v).unwrap();
        }
        let g = b.build(threads, &never).unwrap();
        let (secs, cpu) = (t.elapsed().as_secs_f64(), cpu_seconds() - cpu);
        report(
            &format!("ParallelBuilder, {threads} thread(s)"),
            &g,
            secs,
            cpu,
        );
    }
}
