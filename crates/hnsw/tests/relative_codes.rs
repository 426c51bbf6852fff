//! Neighbour codes relative to each list's owner (`LinkCoder::is_relative`):
//! written by builds, inserts and vacuum as `verify` recomputes them, and
//! bounding a search more tightly than codes relative to one centroid.

mod common;

use std::cell::Cell;

use common::{clustered, exact_topk, recall, Counting};
use hnsw::ondisk::{
    bulk_delete, centroid_of, code_len, code_origin, insert, verify, write_graph_from, CodeOrigin, LinkCodes, LinkCoder, NeighbourCodes,
    PageGraph, Tid,
};
use hnsw::{graph_level, BuildCoding, Cosine, Distance, HnswParams, ParallelBuilder, L2};
use pagestore::MemRelation;

const DIMS: usize = 128;

fn heap_tid(id: usize) -> Tid {
    Tid { blk: (id / 100) as u32, off: (id % 100) as u16 + 1 }
}

fn id_of(t: Tid) -> u32 {
    t.blk * 100 + u32::from(t.off) - 1
}

/// Builds over `data` on one thread (the same graph every time) with
/// codes of `kind`, relative to each list's owner or not, and writes it.
fn build<D: Distance + Copy + Send + Sync>(data: &[Vec<f32>], metric: D, kind: LinkCodes, relative: bool) -> MemRelation {
    let mut b = ParallelBuilder::new(DIMS, HnswParams::default(), metric);
    for v in data {
        b.push(v).unwrap();
    }
    let centroid = centroid_of(kind, DIMS, data.len(), |i| &data[i]);
    let coder = LinkCoder::for_build(kind, HnswParams::default().m, centroid, relative).expect("128-d values have codes");
    assert_eq!(coder.is_relative(), relative);
    let (graph, codes) = b.build_coded(1, &|| false, &|_| {}, BuildCoding { coder, values: None }).unwrap();
    let rel = MemRelation::new();
    let tids: Vec<Tid> = (0..data.len()).map(heap_tid).collect();
    write_graph_from(&rel, &graph, None, &tids, 1, None, NeighbourCodes::Made(&codes)).unwrap();
    rel
}

/// Recall@10 and page reads per query at `ef_search` `ef`.
fn measure<D: Distance + Copy>(rel: &MemRelation, metric: D, data: &[Vec<f32>], queries: &[Vec<f32>], ef: usize) -> (f64, f64) {
    let counting = Counting { rel, reads: Cell::new(0) };
    let graph = PageGraph::open(&counting, metric).unwrap();
    let (mut truth, mut found) = (Vec::new(), Vec::new());
    for q in queries {
        truth.push(exact_topk(data, q, 10, |a, b| metric.distance(a, b)));
        found.push(graph.search(q, 10, ef).into_iter().map(|(t, _)| id_of(t)).collect());
    }
    (recall(&truth, &found), counting.reads.get() as f64 / queries.len() as f64)
}

/// Relative codes bound tighter: a search reads fewer pages to reach the
/// recall plain codes give at `ef_search` 10 (within 0.01). At equal
/// `ef_search` they read fewer and find a little less: a tight bound
/// fails (rules out an element that could enter the results) about as
/// often as the bound's `ε₀` allows, a loose one almost never does.
fn check_fewer_reads<D: Distance + Copy + Send + Sync>(metric: D, kind: LinkCodes) {
    let (data, queries) = clustered(4_000, 100, DIMS, 40, 31);
    let plain = build(&data, metric, kind, false);
    let relative = build(&data, metric, kind, true);
    let meta = *PageGraph::open(&relative, metric).unwrap().meta();
    let plain_meta = *PageGraph::open(&plain, metric).unwrap().meta();
    assert_eq!(code_len(&meta), code_len(&plain_meta) + 4, "a relative code has one word more");
    assert_eq!((code_origin(&meta), code_origin(&plain_meta)), (CodeOrigin::Owner, CodeOrigin::Centroid));
    verify(&plain, &metric).unwrap();
    verify(&relative, &metric).unwrap();
    let (recall_plain, reads_plain) = measure(&plain, metric, &data, &queries, 10);
    let (ef, (recall_relative, reads_relative)) = [10, 12, 15, 20, 30, 40]
        .into_iter()
        .map(|ef| (ef, measure(&relative, metric, &data, &queries, ef)))
        .find(|(_, (recall, _))| *recall >= recall_plain - 0.01)
        .expect("relative codes reach the recall of plain ones");
    assert!(
        reads_relative < 0.9 * reads_plain,
        "{kind:?}: {reads_relative} page reads per query at recall {recall_relative} (relative, ef {ef}), \
         {reads_plain} at {recall_plain} (plain, ef 10)"
    );
}

#[test]
fn relative_codes_read_fewer_pages_at_the_same_recall_l2() {
    check_fewer_reads(L2, LinkCodes::L2Squared);
}

#[test]
fn relative_codes_read_fewer_pages_at_the_same_recall_cosine() {
    check_fewer_reads(Cosine, LinkCodes::Cosine);
}

#[test]
fn inner_product_codes_stay_plain() {
    let centroid = vec![0.5; DIMS];
    let coder = LinkCoder::for_build(LinkCodes::NegativeInnerProduct, 16, centroid, true).unwrap();
    assert!(!coder.is_relative());
}

#[test]
fn inserts_and_vacuum_write_relative_codes_verify_recomputes() {
    let (data, queries) = clustered(3_000, 50, DIMS, 30, 41);
    let rel = build(&data[..1_500], L2, LinkCodes::L2Squared, true);
    for (id, v) in data.iter().enumerate().skip(1_500) {
        insert(&rel, &L2, v, heap_tid(id), graph_level(16, id as u64, HnswParams::default().m)).unwrap();
    }
    verify(&rel, &L2).unwrap();
    let (recall_all, _) = measure(&rel, L2, &data, &queries, 40);
    assert!(recall_all >= 0.9, "recall {recall_all} after inserts");
    // Vacuum a third: the repaired lists get codes relative to their owner.
    bulk_delete(&rel, &L2, |t| id_of(t).is_multiple_of(3)).unwrap();
    let report = verify(&rel, &L2).unwrap();
    assert_eq!(report.live, 2_000);
    let live: Vec<Vec<f32>> = data.iter().enumerate().filter(|(i, _)| i % 3 != 0).map(|(_, v)| v.clone()).collect();
    let ids: Vec<u32> = (0..data.len() as u32).filter(|i| i % 3 != 0).collect();
    let graph = PageGraph::open(&rel, L2).unwrap();
    let (mut truth, mut found) = (Vec::new(), Vec::new());
    for q in &queries {
        truth.push(exact_topk(&live, q, 10, |a, b| L2.distance(a, b)).into_iter().map(|i| ids[i as usize]).collect());
        found.push(graph.search(q, 10, 40).into_iter().map(|(t, _)| id_of(t)).collect());
    }
    let after = recall(&truth, &found);
    assert!(after >= 0.9, "recall {after} after vacuum");
    // Refill: inserts take over the freed room and write relative codes.
    for (id, v) in data.iter().enumerate().filter(|(i, _)| i % 3 == 0).take(300) {
        insert(&rel, &L2, v, heap_tid(id), graph_level(16, id as u64, HnswParams::default().m)).unwrap();
    }
    verify(&rel, &L2).unwrap();
}



#[test]
fn relative_codes_are_stored_up_to_1600_dimensions_then_centroid_codes() {
    let kind = |dims: usize| {
        LinkCoder::for_build(LinkCodes::L2Squared, 16, vec![0.0; dims], true).map(|c| (c.is_relative(), c.len()))
    };
    assert_eq!(kind(1_536), Some((true, 212)));
    assert_eq!(kind(1_600), Some((true, 220)));
    // Four bytes more no longer fit beside the element: centroid codes.
    assert_eq!(kind(1_601), Some((false, 224)));
    assert_eq!(kind(1_664), Some((false, 224)));
    assert_eq!(kind(1_665), None);
}

/// Relative codes are made from residuals kept in half precision, scaled
/// by a power of two per element: values around 1e-8 (zero in half
/// precision unscaled) or 1e6 (infinite) bound as tightly as values
/// around 1, and every writer makes the same codes (`verify`).
#[test]
fn relative_codes_work_at_any_scale() {
    let (data, queries) = clustered(3_000, 50, DIMS, 30, 51);
    let reads_at = |scale: f32| {
        let scaled = |v: &Vec<Vec<f32>>| -> Vec<Vec<f32>> { v.iter().map(|x| x.iter().map(|&a| a * scale).collect()).collect() };
        let (data, queries) = (scaled(&data), scaled(&queries));
        let rel = build(&data, L2, LinkCodes::L2Squared, true);
        for (id, v) in data.iter().enumerate().take(200) {
            insert(&rel, &L2, v, heap_tid(10_000 + id), graph_level(16, id as u64, HnswParams::default().m)).unwrap();
        }
        verify(&rel, &L2).unwrap();
        let (recall, reads) = measure(&rel, L2, &data, &queries, 20);
        assert!(recall >= 0.9, "scale {scale}: recall {recall}");
        reads
    };
    let unit = reads_at(1.0);
    for scale in [1e-8, 1e6] {
        let reads = reads_at(scale);
        assert!((reads - unit).abs() <= 0.05 * unit, "scale {scale}: {reads} page reads per query, {unit} at scale 1");
    }
}
