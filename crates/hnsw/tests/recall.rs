//! Recall@10 of the in-memory graph against exact search, 10,000 x 32
//! clustered vectors, default parameters (m 16, ef_construction 64,
//! ef_search 40).

mod common;

use common::{clustered, exact_topk, recall};
use hnsw::{Cosine, Distance, Hnsw, HnswParams, L2};

const N: usize = 10_000;
const DIMS: usize = 32;
const QUERIES: usize = 200;
const EF_SEARCH: usize = 40;

fn check_recall<D: Distance + Copy>(metric: D, name: &str) {
    let (data, queries) = clustered(N, QUERIES, DIMS, 32, 42);
    let mut graph = Hnsw::new(DIMS, HnswParams::default(), metric);
    for v in &data {
        graph.insert(v).unwrap();
    }
    let truth: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| exact_topk(&data, q, 10, |a, b| metric.distance_or_inf(a, b)))
        .collect();
    let recall_at = |ef: usize| {
        let found: Vec<Vec<u32>> = queries
            .iter()
            .map(|q| {
                graph
                    .search(q, 10, ef)
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect()
            })
            .collect();
        recall(&truth, &found)
    };
    for ef in [10, 20] {
        println!(
            "{name}: recall@10 = {:.4} at ef_search {ef} (informative)",
            recall_at(ef)
        );
    }
    let r = recall_at(EF_SEARCH);
    println!("{name}: recall@10 = {r:.4} (n {N}, dims {DIMS}, ef_search {EF_SEARCH})");
    assert!(r >= 0.95, "{name} recall@10 {r} < 0.95");
}

#[test]
fn recall_l2() {
    check_recall(L2, "l2");
}

#[test]
fn recall_cosine() {
    check_recall(Cosine, "cosine");
}
