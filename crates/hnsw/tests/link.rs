//! A graph linked over half-precision link codes, written with the full
//! values: the pages hold the values, and searching them with the full
//! metric finds as much as a graph linked over the values.

mod common;

use common::{clustered, exact_topk, recall};
use hnsw::link::{pack, packed_words, HalfLink, Packing};
use hnsw::ondisk::{verify, write_graph, write_graph_from, LinkCodes, OnDiskError, PageGraph, Tid, Values};
use hnsw::{Cosine, Distance, HnswParams, ParallelBuilder};
use pagestore::MemRelation;

fn heap_tid(id: usize) -> Tid {
    Tid { blk: (id / 100) as u32, off: (id % 100) as u16 + 1 }
}

fn id_of(tid: Tid) -> u32 {
    tid.blk * 100 + u32::from(tid.off) - 1
}

fn flat(data: &[Vec<f32>]) -> Vec<f32> {
    data.iter().flatten().copied().collect()
}

/// Recall@10 at ef 10 (low, so that a worse graph shows) of the graph on `rel`, searched with cosine on the
/// stored values.
fn recall_on_pages(rel: &MemRelation, data: &[Vec<f32>], queries: &[Vec<f32>]) -> f64 {
    let pages = PageGraph::open(rel, Cosine).unwrap();
    let found: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| pages.search(q, 10, 10).into_iter().map(|(t, _)| id_of(t)).collect())
        .collect();
    let truth: Vec<Vec<u32>> =
        queries.iter().map(|q| exact_topk(data, q, 10, |a, b| Cosine.distance_or_inf(a, b))).collect();
    recall(&truth, &found)
}

#[test]
fn a_graph_linked_over_half_codes_stores_the_values_and_finds_as_much() {
    let (data, queries) = clustered(5_000, 200, 48, 24, 7);
    let tids: Vec<Tid> = (0..data.len()).map(heap_tid).collect();

    let mut full = ParallelBuilder::new(48, HnswParams::default(), Cosine);
    let mut linked = ParallelBuilder::new(packed_words(48), HnswParams::default(), HalfLink::UnitCosine);
    let mut code = Vec::new();
    for v in &data {
        full.push(v).unwrap();
        pack(v, &Packing::Normalized, &mut code);
        linked.push(&code).unwrap();
    }
    let values = flat(&data);
    let full_rel = MemRelation::new();
    write_graph(&full_rel, &full.build(1, &|| false).unwrap(), &tids, 1).unwrap();
    let linked_rel = MemRelation::new();
    let graph = linked.build(1, &|| false).unwrap();
    write_graph_from(&linked_rel, &graph, Some(Values { data: &values, dims: 48 }), &tids, 1, None, LinkCodes::None).unwrap();

    let pages = PageGraph::open(&linked_rel, Cosine).unwrap();
    assert_eq!(pages.meta().dims, 48, "the metapage has the values' dimensions");
    for (id, want) in data.iter().enumerate().step_by(97) {
        let q = pages.search(want, 1, 40);
        assert_eq!(id_of(q[0].0), id as u32, "each value is stored and found exactly");
        assert!(q[0].1.abs() < 1e-6, "distance {} to itself", q[0].1);
    }
    assert!(verify(&linked_rel, &Cosine).is_ok());

    let (r_full, r_linked) = (recall_on_pages(&full_rel, &data, &queries), recall_on_pages(&linked_rel, &data, &queries));
    println!("recall@10 at ef 10: linked over values {r_full:.4}, over half codes {r_linked:.4}");
    assert!(r_linked >= r_full - 0.01, "half codes lost recall: {r_linked} vs {r_full}");
}

#[test]
fn values_must_match_the_graph() {
    let mut b = ParallelBuilder::new(packed_words(4), HnswParams::default(), HalfLink::L2 { shift: 0 });
    let mut code = Vec::new();
    for i in 0..3 {
        pack(&[i as f32, 0.0, 1.0, 2.0], &Packing::AsIs, &mut code);
        b.push(&code).unwrap();
    }
    let graph = b.build(1, &|| false).unwrap();
    let tids: Vec<Tid> = (0..3).map(heap_tid).collect();
    let short = [0.0f32; 8];
    let err = write_graph_from(&MemRelation::new(), &graph, Some(Values { data: &short, dims: 4 }), &tids, 1, None, LinkCodes::None);
    assert!(matches!(err, Err(OnDiskError::BadInput(_))), "{err:?}");
}
