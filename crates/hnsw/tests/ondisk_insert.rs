//! Inserting into the graph on pages (MemRelation): after a build, into
//! an empty index, from several threads at once, variable-length vectors.

mod common;

use common::{clustered, exact_topk, recall};
use hnsw::ondisk::{insert, verify, write_graph, OnDiskError, PageGraph, Tid};
use hnsw::{graph_level, Distance, Hnsw, HnswParams, L2};
use pagestore::{MemRelation, RelationRead};

const SEED: u64 = 0x1234;

fn heap_tid(id: usize) -> Tid {
    Tid {
        blk: (id / 100) as u32,
        off: (id % 100) as u16 + 1,
    }
}

fn id_of(tid: Tid) -> u32 {
    tid.blk * 100 + u32::from(tid.off) - 1
}

/// Builds `data` in memory and writes it onto a new relation.
fn build(data: &[Vec<f32>], dims: usize) -> MemRelation {
    let mut g = Hnsw::new(dims, HnswParams::default(), L2);
    for v in data {
        g.insert(v).unwrap();
    }
    let rel = MemRelation::new();
    let tids: Vec<Tid> = (0..data.len()).map(heap_tid).collect();
    write_graph(&rel, &g, &tids, 1).unwrap();
    rel
}

/// Inserts `data[range]` with heap TIDs from their ids and levels as the
/// glue would draw them.
fn insert_range(rel: &MemRelation, data: &[Vec<f32>], range: std::ops::Range<usize>) {
    for id in range {
        let level = graph_level(SEED, id as u64, 16);
        insert(rel, &L2, &data[id], heap_tid(id), level).unwrap();
    }
}

/// Recall@10 at ef 64 of the graph on `rel` over all of `data`.
fn recall_on(rel: &MemRelation, data: &[Vec<f32>], queries: &[Vec<f32>]) -> f64 {
    let pages = PageGraph::open(rel, L2).unwrap();
    let found: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| {
            pages
                .search(q, 10, 64)
                .into_iter()
                .map(|(t, _)| id_of(t))
                .collect()
        })
        .collect();
    let truth: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| exact_topk(data, q, 10, |a, b| L2.distance_or_inf(a, b)))
        .collect();
    recall(&truth, &found)
}

fn all_heap_tids(n: usize) -> Vec<Tid> {
    let mut tids: Vec<Tid> = (0..n).map(heap_tid).collect();
    tids.sort_unstable();
    tids
}

#[test]
fn inserts_after_a_build_keep_recall() {
    let (data, queries) = clustered(4_000, 200, 32, 16, 11);
    let rel = build(&data[..2_000], 32);
    insert_range(&rel, &data, 2_000..4_000);
    let r = recall_on(&rel, &data, &queries);
    println!("recall@10 after 2,000 builds + 2,000 inserts: {r:.4}");
    assert!(r >= 0.95, "recall {r}");
    let report = verify(&rel, &L2).unwrap();
    assert_eq!((report.live, report.deleted), (4_000, 0));
    assert_eq!(report.reachable_heap_tids, all_heap_tids(4_000));
    let pages = PageGraph::open(&rel, L2).unwrap();
    assert_eq!(pages.meta().insert_blk, rel.nblocks() - 1);
    for (id, v) in data.iter().enumerate().skip(2_000) {
        let found = pages.search(v, 10, 64);
        assert!(
            found.iter().any(|&(t, _)| t == heap_tid(id)),
            "inserted element {id} not found by its own vector"
        );
    }
}

#[test]
fn inserts_into_an_empty_index() {
    let (data, queries) = clustered(1_500, 100, 16, 8, 12);
    let rel = build(&[], 16);
    assert!(PageGraph::open(&rel, L2)
        .unwrap()
        .search(&data[0], 10, 40)
        .is_empty());
    insert_range(&rel, &data, 0..1);
    let pages = PageGraph::open(&rel, L2).unwrap();
    assert_eq!(pages.search(&data[0], 10, 40), vec![(heap_tid(0), 0.0)]);
    insert_range(&rel, &data, 1..1_500);
    let r = recall_on(&rel, &data, &queries);
    println!("recall@10 after 1,500 inserts into an empty index: {r:.4}");
    assert!(r >= 0.95, "recall {r}");
    let report = verify(&rel, &L2).unwrap();
    assert_eq!(report.reachable_heap_tids, all_heap_tids(1_500));
}

#[test]
fn insert_rejects_bad_input() {
    let rel = build(&[], 4);
    assert_eq!(
        insert(&rel, &L2, &[1.0; 3], heap_tid(0), 0),
        Err(OnDiskError::DimensionMismatch {
            expected: 4,
            found: 3
        })
    );
    assert!(matches!(
        insert(&rel, &L2, &[1.0; 4], heap_tid(0), 99),
        Err(OnDiskError::BadInput(_))
    ));
    let big = build(&[], 3_000);
    assert!(matches!(
        insert(&big, &L2, &vec![0.5; 3_000], heap_tid(0), 0),
        Err(OnDiskError::TupleTooLarge(_))
    ));
    assert_eq!(big.nblocks(), 1, "nothing written");
    assert!(insert(&MemRelation::new(), &L2, &[1.0; 4], heap_tid(0), 0).is_err());
}

#[test]
fn concurrent_inserts_and_searches() {
    const THREADS: usize = 4;
    const EACH: usize = 500;
    let (data, queries) = clustered(1_000 + THREADS * EACH, 100, 16, 8, 13);
    let rel = build(&data[..1_000], 16);
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (rel, data) = (&rel, &data);
            let start = 1_000 + t * EACH;
            s.spawn(move || insert_range(rel, data, start..start + EACH));
        }
        for half in queries.chunks(50) {
            let rel = &rel;
            s.spawn(move || {
                for _ in 0..5 {
                    let pages = PageGraph::open(rel, L2).unwrap();
                    for q in half {
                        let found = pages.search(q, 10, 40);
                        assert_eq!(found.len(), 10);
                    }
                }
            });
        }
    });
    let r = recall_on(&rel, &data, &queries);
    println!("recall@10 after concurrent inserts: {r:.4}");
    assert!(r >= 0.95, "recall {r}");
    let report = verify(&rel, &L2).unwrap();
    assert_eq!(report.reachable_heap_tids, all_heap_tids(data.len()));
}

/// Sparse-like vectors of varying length (the metapage's dims is 0): the
/// distance compares the common prefix and charges the rest.
#[test]
fn variable_length_vectors() {
    let metric = |a: &[f32], b: &[f32]| {
        let n = a.len().min(b.len());
        let common = L2.distance(&a[..n], &b[..n]);
        let rest: f32 = a[n..].iter().chain(&b[n..]).map(|x| x * x).sum();
        common + rest
    };
    let (data, _) = clustered(600, 0, 12, 4, 14);
    let data: Vec<Vec<f32>> = data
        .into_iter()
        .enumerate()
        .map(|(i, v)| v[..4 + i % 9].to_vec())
        .collect();
    let rel = MemRelation::new();
    write_graph(&rel, &Hnsw::new(0, HnswParams::default(), metric), &[], 2).unwrap();
    for (id, v) in data.iter().enumerate() {
        let level = graph_level(SEED, id as u64, 16);
        insert(&rel, &metric, v, heap_tid(id), level).unwrap();
    }
    let pages = PageGraph::open(&rel, metric).unwrap();
    assert_eq!((pages.meta().dims, pages.meta().metric_id), (0, 2));
    for (id, v) in data.iter().enumerate() {
        assert_eq!(pages.search(v, 1, 40)[0], (heap_tid(id), 0.0));
    }
    let report = verify(&rel, &metric).unwrap();
    assert_eq!(report.reachable_heap_tids, all_heap_tids(data.len()));
}
