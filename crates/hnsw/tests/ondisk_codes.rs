//! Neighbour codes on pages: stored by the build and kept right by
//! inserts and vacuum (checked by `verify`), and used by searches to skip
//! reading elements that could not enter the results, at the same recall.

mod common;

use std::cell::Cell;

use common::{clustered, exact_topk, recall, Counting};
use hnsw::ondisk::{
    bulk_delete, code_len, insert, upper_codes_fit, verify, write_graph, write_graph_from, LinkCodes, Meta,
    NeighbourTuple, PageGraph, Tid,
};
use hnsw::{graph_level, Cosine, Distance, GraphView, Hnsw, HnswParams, InnerProduct, ScanOrder, SearchIter, L2};
use pagestore::{MemRelation, RelationRead};

fn heap_tid(id: usize) -> Tid {
    Tid { blk: (id / 100) as u32, off: (id % 100) as u16 + 1 }
}

fn id_of(t: Tid) -> u32 {
    t.blk * 100 + u32::from(t.off) - 1
}

const M: usize = 8;

fn build<D: Distance + Copy>(data: &[Vec<f32>], metric: D, codes: LinkCodes) -> MemRelation {
    let params = HnswParams { m: M, ..HnswParams::default() };
    let mut g = Hnsw::new(data[0].len(), params, metric);
    for v in data {
        g.insert(v).unwrap();
    }
    g.repair_reachability();
    let rel = MemRelation::new();
    let tids: Vec<Tid> = (0..data.len()).map(heap_tid).collect();
    write_graph_from(&rel, &g, None, &tids, 1, None, codes).unwrap();
    rel
}

/// Recall@10 and page reads per query, with code pruning on or off, and
/// the bounds of iterative scans (`careful`) or not.
fn measure<D: Distance + Copy>(
    rel: &MemRelation,
    metric: D,
    data: &[Vec<f32>],
    queries: &[Vec<f32>],
    (prune, careful): (bool, bool),
) -> (f64, f64) {
    let counting = Counting { rel, reads: Cell::new(0) };
    let graph = PageGraph::open(&counting, metric).unwrap();
    graph.set_code_pruning(prune);
    graph.set_careful_bounds(careful);
    let (mut truth, mut found) = (Vec::new(), Vec::new());
    for q in queries {
        truth.push(exact_topk(data, q, 10, |a, b| metric.distance(a, b)));
        found.push(graph.search(q, 10, 40).into_iter().map(|(t, _)| id_of(t)).collect());
    }
    (recall(&truth, &found), counting.reads.get() as f64 / queries.len() as f64)
}

/// `n + queries` vectors of 256 dimensions near a 12-dimensional
/// subspace, like learned embeddings: distances spread widely (unlike
/// isotropic clusters, where every neighbour is about as far as the next).
fn low_rank(n: usize, queries: usize) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let (basis, _) = clustered(12, 0, 256, 12, 77);
    let (latent, _) = clustered(n + queries, 0, 12, 6, 78);
    let (noise, _) = clustered(n + queries, 0, 256, 1, 79);
    let mut all: Vec<Vec<f32>> = latent
        .iter()
        .zip(&noise)
        .map(|(z, e)| (0..256).map(|j| z.iter().zip(&basis).map(|(zi, b)| zi * b[j]).sum::<f32>() + 0.05 * e[j]).collect())
        .collect();
    let queries = all.split_off(n);
    (all, queries)
}

fn check_pruning<D: Distance + Copy>(metric: D, codes: LinkCodes) {
    let (data, queries) = low_rank(5_000, 100);
    let rel = build(&data, metric, codes);
    let graph = PageGraph::open(&rel, metric).unwrap();
    assert!(graph.has_codes(), "256 dimensions at m = {M} store codes");
    verify(&rel, &metric).unwrap();
    let (recall_on, reads_on) = measure(&rel, metric, &data, &queries, (true, false));
    let (recall_off, reads_off) = measure(&rel, metric, &data, &queries, (false, false));
    assert!(recall_on >= 0.9, "{codes:?}: recall {recall_on}");
    assert!(recall_on >= recall_off - 0.02, "{codes:?}: recall {recall_on} with pruning, {recall_off} without");
    assert!(reads_on < 0.9 * reads_off, "{codes:?}: {reads_on} page reads per query with pruning, {reads_off} without");
    // Careful bounds (iterative scans) fail less often: they read more,
    // still fewer than without pruning, and lose no recall.
    let (recall_careful, reads_careful) = measure(&rel, metric, &data, &queries, (true, true));
    assert!(recall_careful >= recall_on - 0.005, "{codes:?}: recall {recall_careful} careful, {recall_on} not");
    assert!(
        reads_on < reads_careful && reads_careful < reads_off,
        "{codes:?}: page reads per query: {reads_on} pruning, {reads_careful} careful, {reads_off} reading all"
    );
}

#[test]
fn codes_skip_reads_at_the_same_recall_l2() {
    check_pruning(L2, LinkCodes::L2Squared);
}

#[test]
fn codes_skip_reads_at_the_same_recall_cosine() {
    check_pruning(Cosine, LinkCodes::Cosine);
}

#[test]
fn codes_skip_reads_at_the_same_recall_inner_product() {
    check_pruning(InnerProduct, LinkCodes::NegativeInnerProduct);
}

#[test]
fn codes_are_stored_only_where_they_fit() {
    let (data, _) = clustered(50, 0, 64, 2, 1);
    let none = build(&data, L2, LinkCodes::None);
    assert!(!PageGraph::open(&none, L2).unwrap().has_codes());
    // At m = 16 a neighbour tuple with layer-0 codes of 1,700 dimensions
    // is larger than a page.
    let (wide, _) = clustered(50, 0, 1_700, 2, 1);
    let mut g = Hnsw::new(1_700, HnswParams { m: 16, ..HnswParams::default() }, L2);
    for v in &wide {
        g.insert(v).unwrap();
    }
    let wide_rel = MemRelation::new();
    let tids: Vec<Tid> = (0..wide.len()).map(heap_tid).collect();
    write_graph_from(&wide_rel, &g, None, &tids, 1, None, LinkCodes::L2Squared).unwrap();
    let graph = PageGraph::open(&wide_rel, L2).unwrap();
    assert_eq!(code_len(graph.meta()), 0, "1,700 dimensions: codes do not fit a page");
    assert!(!graph.has_codes());
    assert!(verify(&wide_rel, &L2).is_ok());
}

#[test]
fn codes_are_stored_up_to_the_widest_vectors_whose_pages_hold_them() {
    // m = 16, the default: an element and its coded neighbour tuple share
    // a page up to 831 dimensions, and take a page each up to 1,664.
    let meta_for = |dims: u16, link_codes: u8| Meta {
        dims,
        m: 16,
        ef_construction: 64,
        metric_id: 1,
        entry_level: 0,
        entry: Tid::INVALID,
        elements: 0,
        insert_blk: u32::MAX,
        value_dims: 0,
        link_codes,
        free_blk: Some(u32::MAX),
    };
    let built = |dims: usize| {
        let (data, _) = clustered(40, 0, dims, 2, 3);
        let params = HnswParams { m: 16, ..HnswParams::default() };
        let mut g = Hnsw::new(dims, params, L2);
        for v in &data {
            g.insert(v).unwrap();
        }
        let rel = MemRelation::new();
        let tids: Vec<Tid> = (0..data.len()).map(heap_tid).collect();
        write_graph_from(&rel, &g, None, &tids, 1, None, LinkCodes::L2Squared).unwrap();
        assert!(verify(&rel, &L2).is_ok(), "{dims} dimensions");
        rel
    };
    let cases = [(384, 64), (768, 112), (831, 120), (832, 120), (1_024, 144), (1_536, 208), (1_664, 224), (1_665, 0)];
    for (dims, len) in cases {
        let rel = built(dims);
        let meta = *PageGraph::open(&rel, L2).unwrap().meta();
        assert_eq!(code_len(&meta), len, "{dims} dimensions");
        assert_eq!(meta.link_codes & 0x3f, LinkCodes::L2Squared.id());
        // An index built under the one-page rule (the flag 0x80 alone)
        // keeps its codeless tuples above 831 dimensions, and one built
        // under the earlier rule (at most 2 KiB of layer-0 codes, no flag)
        // above 384.
        let one_page = Meta { link_codes: 0x80 | LinkCodes::L2Squared.id(), ..meta };
        assert_eq!(code_len(&one_page), if dims <= 831 { len } else { 0 }, "{dims} dimensions, one-page rule");
        let legacy = Meta { link_codes: LinkCodes::L2Squared.id(), ..meta };
        assert_eq!(code_len(&legacy), if dims <= 384 { len } else { 0 }, "{dims} dimensions, earlier rule");
    }
    assert_eq!(code_len(&meta_for(768, LinkCodes::Cosine.id())), 0);
    assert_eq!(code_len(&meta_for(768, 0x80 | LinkCodes::Cosine.id())), 112);
    assert_eq!(code_len(&meta_for(1_024, 0x80 | LinkCodes::Cosine.id())), 0);
    assert_eq!(code_len(&meta_for(1_024, 0xc0 | LinkCodes::Cosine.id())), 144);
    assert_eq!(code_len(&meta_for(768, 0x80)), 0, "the flag alone is no kind of codes");
    assert_eq!(code_len(&meta_for(1_024, 0xc0)), 0, "the flags alone are no kind of codes");
}

#[test]
fn wide_vectors_keep_codes_on_a_page_apart_through_inserts_and_vacuum() {
    // 1,536 dimensions at m = 16: an element (6 KiB) and its coded
    // neighbour tuple (7 KiB) take a page each, in a build and in an insert.
    let (m, dims) = (16, 1_536);
    let (data, queries) = clustered(300, 10, dims, 6, 41);
    let params = HnswParams { m, ..HnswParams::default() };
    let mut g = Hnsw::new(dims, params, L2);
    for v in &data[..200] {
        g.insert(v).unwrap();
    }
    g.repair_reachability();
    let rel = MemRelation::new();
    let tids: Vec<Tid> = (0..200).map(heap_tid).collect();
    write_graph_from(&rel, &g, None, &tids, 1, None, LinkCodes::L2Squared).unwrap();
    for (id, v) in data.iter().enumerate().skip(200) {
        insert(&rel, &L2, v, heap_tid(id), graph_level(7, id as u64, m)).unwrap();
    }
    let graph = PageGraph::open(&rel, L2).unwrap();
    assert!(graph.has_codes());
    assert_eq!(code_len(graph.meta()), 208);
    // Every element, built or inserted, points at its neighbour tuple on
    // another page (`verify` reads both, and checks every stored code
    // against its neighbour's vector).
    assert!(rel.nblocks() as usize >= 2 * data.len(), "{} pages for {} elements", rel.nblocks(), data.len());
    let report = verify(&rel, &L2).unwrap();
    assert_eq!(report.live, 300);
    let (recall_on, _) = measure(&rel, L2, &data, &queries, (true, false));
    assert!(recall_on >= 0.95, "recall {recall_on}");
    for (id, v) in data.iter().enumerate().step_by(37) {
        let first = graph.search_iter(v, 40, ScanOrder::Relaxed).next().map(|(t, _)| id_of(graph.heap_tid(t)));
        assert_eq!(first, Some(id as u32), "element {id} finds itself");
    }
    drop(graph);
    bulk_delete(&rel, &L2, |t| id_of(t).is_multiple_of(4)).unwrap();
    let report = verify(&rel, &L2).unwrap();
    assert_eq!(report.live, 225);
}

#[test]
fn iterative_scans_with_codes_return_every_element_once() {
    let (data, queries) = clustered(1_500, 3, 32, 8, 9);
    let rel = build(&data, L2, LinkCodes::L2Squared);
    let graph = PageGraph::open(&rel, L2).unwrap();
    for q in &queries {
        let mut seen: Vec<u32> = graph.search_iter(q, 20, ScanOrder::Relaxed).map(|(t, _)| id_of(graph.heap_tid(t))).collect();
        let first: Vec<u32> = seen.iter().take(10).copied().collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), data.len(), "an iterative scan reaches every element exactly once");
        assert_eq!(first.len(), 10);
    }
}

#[test]
fn inserts_and_vacuum_keep_codes_right() {
    let (data, queries) = clustered(3_000, 50, 48, 12, 21);
    // Half built, half inserted, into a built index and into one built empty.
    let built = build(&data[..1_500], Cosine, LinkCodes::Cosine);
    let params = HnswParams { m: M, ..HnswParams::default() };
    let empty = MemRelation::new();
    write_graph_from(&empty, &Hnsw::new(48, params, Cosine), None, &[], 1, None, LinkCodes::Cosine).unwrap();
    for (id, v) in data.iter().enumerate().skip(1_500) {
        insert(&built, &Cosine, v, heap_tid(id), graph_level(3, id as u64, M)).unwrap();
    }
    for (id, v) in data.iter().enumerate() {
        insert(&empty, &Cosine, v, heap_tid(id), graph_level(3, id as u64, M)).unwrap();
    }
    for rel in [&built, &empty] {
        assert!(PageGraph::open(rel, Cosine).unwrap().has_codes());
        verify(rel, &Cosine).unwrap();
        let (recall_on, _) = measure(rel, Cosine, &data, &queries, (true, false));
        assert!(recall_on >= 0.9, "recall {recall_on}");
        // Vacuum a third: the repaired lists keep correct codes.
        bulk_delete(rel, &Cosine, |t| id_of(t).is_multiple_of(3)).unwrap();
        let report = verify(rel, &Cosine).unwrap();
        assert_eq!(report.live, 2_000);
    }
}

#[test]
fn verify_reports_a_wrong_code() {
    let (data, _) = clustered(300, 0, 32, 2, 3);
    let rel = build(&data, L2, LinkCodes::L2Squared);
    verify(&rel, &L2).unwrap();
    let plain = MemRelation::new();
    let mut g = Hnsw::new(32, HnswParams { m: M, ..HnswParams::default() }, L2);
    for v in &data {
        g.insert(v).unwrap();
    }
    g.repair_reachability();
    write_graph(&plain, &g, &(0..300).map(heap_tid).collect::<Vec<_>>(), 1).unwrap();
    assert!(!PageGraph::open(&plain, L2).unwrap().has_codes());
    // Flip one bit of the first code of the first neighbour tuple (block 1
    // item 2): header 8 bytes, 2m + level·m slots of 6 bytes, then codes.
    {
        use pagestore::{page, RelationWrite};
        let mut guard = rel.write(1);
        let bytes = page::item_mut(&mut guard, 2).unwrap();
        let top = bytes[1] as usize;
        let start = (8 + 6 * (2 * M + top * M)).next_multiple_of(4);
        bytes[start + 20] ^= 1;
    }
    let err = verify(&rel, &L2).unwrap_err();
    assert!(err.contains("is not the code of its vector"), "{err}");
}

/// A fill that codes a TID as its block and offset bytes, repeated.
fn tid_code(t: Tid, out: &mut [u8]) -> bool {
    let bytes = [t.blk.to_le_bytes().as_slice(), t.off.to_le_bytes().as_slice()].concat();
    out.iter_mut().zip(bytes.iter().cycle()).for_each(|(o, b)| *o = *b);
    true
}

fn tid(i: u32) -> Tid {
    Tid { blk: i, off: 1 }
}

#[test]
fn upper_layers_carry_codes_that_move_with_their_tids() {
    let (m, code_len) = (16, 64);
    assert!(upper_codes_fit(1, m, code_len) && upper_codes_fit(3, m, code_len), "384-d, m 16: layers 1 to 3");
    assert!(!upper_codes_fit(4, m, code_len), "a layer-4 tuple would not fit a page beside a 384-d element");
    assert!(!upper_codes_fit(0, m, code_len));
    let tuple = NeighbourTuple {
        slots: vec![(0..20).map(tid).collect(), (100..110).map(tid).collect()],
    };
    let mut bytes = tuple.encode(m, code_len, &tid_code).unwrap();
    assert!(NeighbourTuple::has_upper_codes(&bytes, m).unwrap());
    let expected = |t: Tid| {
        let mut c = vec![0u8; code_len];
        tid_code(t, &mut c);
        c
    };
    let codes = NeighbourTuple::codes(&bytes, m).unwrap();
    assert_eq!(codes.len(), 30);
    assert!(codes.iter().all(|(t, c)| *c == expected(*t).as_slice()));
    // Rewriting layer 1: kept neighbours keep their code, a new one is
    // filled, one the fill does not know gets none (all zeros).
    let list = [tid(105), tid(200), tid(100), tid(300)];
    let fill = |t: Tid, out: &mut [u8]| t.blk == 200 && tid_code(t, out);
    NeighbourTuple::write_level(&mut bytes, 1, m, &list, &fill).unwrap();
    let mut out = Vec::new();
    let mut bounds = Vec::new();
    NeighbourTuple::decode_level_bounded(&bytes, 1, m, |_| true, |c| f32::from(c[0]), &mut out, &mut bounds).unwrap();
    assert_eq!(out, list);
    assert_eq!(bounds, [105.0, 200.0, 100.0, 0.0]);
    let codes = NeighbourTuple::codes(&bytes, m).unwrap();
    assert!(codes[..20].iter().all(|(t, c)| *c == expected(*t).as_slice()), "layer 0 untouched");
}

#[test]
fn tuples_with_layer0_codes_only_still_read() {
    // Format 3 wrote codes for layer 0 only, with 0 in the flag byte and
    // a tuple that much shorter: it still reads, and rewrites keep it so.
    let m = 16;
    let tuple = NeighbourTuple {
        slots: vec![(0..5).map(tid).collect(), (100..103).map(tid).collect()],
    };
    let full = tuple.encode(m, 64, &tid_code).unwrap();
    let mut old = full[..(8 + 6 * 48_usize).next_multiple_of(4) + 32 * 64].to_vec();
    old[6] = 0;
    assert!(!NeighbourTuple::has_upper_codes(&old, m).unwrap());
    let (mut out, mut bounds) = (Vec::new(), Vec::new());
    NeighbourTuple::decode_level_bounded(&old, 1, m, |_| true, |_| 1.0, &mut out, &mut bounds).unwrap();
    assert_eq!(out, [tid(100), tid(101), tid(102)]);
    assert_eq!(bounds, [f32::NEG_INFINITY; 3], "no upper codes: every neighbour is read");
    NeighbourTuple::decode_level_bounded(&old, 0, m, |t| t.blk != 2, |_| 1.0, &mut out, &mut bounds).unwrap();
    assert_eq!(out, [tid(0), tid(1), tid(3), tid(4)], "only the neighbours kept");
    assert_eq!(bounds, [1.0; 4]);
    NeighbourTuple::write_level(&mut old, 1, m, &[tid(7)], &tid_code).unwrap();
    NeighbourTuple::decode_level(&old, 1, m, &mut out).unwrap();
    assert_eq!(out, [tid(7)]);
    // A flag byte other than 0 or 1 is corruption, as is the flag without
    // the bytes it promises.
    let mut bad = full.clone();
    bad[6] = 2;
    assert!(NeighbourTuple::decode_level(&bad, 0, m, &mut out).is_err());
    let mut short = old.clone();
    short[6] = 1;
    assert!(NeighbourTuple::decode_level(&short, 0, m, &mut out).is_err());
}

#[test]
fn verify_reports_a_wrong_upper_layer_code() {
    let (data, _) = clustered(2_000, 0, 32, 4, 5);
    let rel = build(&data, L2, LinkCodes::L2Squared);
    verify(&rel, &L2).unwrap();
    // The first neighbour tuple of an element above layer 0 with a valid
    // layer-1 neighbour: flip a bit of that neighbour's code.
    use pagestore::{page, RelationWrite};
    let m = M;
    let len = code_len(PageGraph::open(&rel, L2).unwrap().meta());
    let mut flipped = false;
    'pages: for blk in 1..rel.nblocks() {
        let mut guard = rel.write(blk);
        for off in 1..=page::max_offset(&guard) {
            let bytes = page::item_mut(&mut guard, off).unwrap();
            if bytes[0] != 2 || bytes[1] == 0 || !NeighbourTuple::has_upper_codes(bytes, m).unwrap() {
                continue;
            }
            let mut level1 = Vec::new();
            NeighbourTuple::decode_level(bytes, 1, m, &mut level1).unwrap();
            if level1.is_empty() {
                continue;
            }
            let top = bytes[1] as usize;
            let start = (8 + 6 * (2 * m + top * m)).next_multiple_of(4) + 2 * m * len;
            bytes[start + 20] ^= 1;
            flipped = true;
            break 'pages;
        }
    }
    assert!(flipped, "2,000 elements at m = {M} have some above layer 0");
    let err = verify(&rel, &L2).unwrap_err();
    assert!(err.contains("is not the code of its vector"), "{err}");
}

/// A page graph seen through the trait's own `read_expanding`: an element
/// read and its list are two page visits, as before they were fused.
struct Unfused<'g, 'r>(&'g PageGraph<'r, Counting<'r>, L2>);

impl GraphView for Unfused<'_, '_> {
    type Node = Tid;

    fn entry_point(&self) -> Option<(Tid, usize)> {
        self.0.entry_point()
    }

    fn distance(&self, query: &[f32], node: Tid) -> f32 {
        self.0.distance(query, node)
    }

    fn neighbours(&self, node: Tid, level: usize, out: &mut Vec<Tid>) {
        self.0.neighbours(node, level, out);
    }

    fn distances(&self, query: &[f32], nodes: &[Tid], out: &mut Vec<f32>) {
        self.0.distances(query, nodes, out);
    }

    fn neighbours_bounded(
        &self,
        query: &[f32],
        node: Tid,
        node_dist: f32,
        level: usize,
        fresh: &mut dyn FnMut(Tid) -> bool,
        out: &mut Vec<Tid>,
        bounds: &mut Vec<f32>,
    ) {
        self.0.neighbours_bounded(query, node, node_dist, level, fresh, out, bounds);
    }
}

#[test]
fn an_element_read_and_expanded_at_once_costs_one_page_visit() {
    let (data, queries) = low_rank(5_000, 50);
    let rel = build(&data, L2, LinkCodes::L2Squared);
    let counting = Counting { rel: &rel, reads: Cell::new(0) };
    let graph = PageGraph::open(&counting, L2).unwrap();
    assert!(graph.has_codes());
    let unfused = Unfused(&graph);
    let (mut fused_reads, mut unfused_reads) = (0, 0);
    for q in &queries {
        let start = counting.reads.get();
        let fused: Vec<(Tid, f32)> = SearchIter::new(&graph, q, 40, ScanOrder::Relaxed).take(60).collect();
        let middle = counting.reads.get();
        let plain: Vec<(Tid, f32)> = SearchIter::new(&unfused, q, 40, ScanOrder::Relaxed).take(60).collect();
        fused_reads += middle - start;
        unfused_reads += counting.reads.get() - middle;
        assert_eq!(fused, plain, "the same search, read either way");
    }
    assert!(
        10 * fused_reads < 9 * unfused_reads,
        "page visits: {fused_reads} reading and expanding together, {unfused_reads} apart"
    );
}

#[test]
fn careful_bounds_from_the_second_batch_leave_the_first_as_the_plain_search() {
    let (data, queries) = low_rank(5_000, 50);
    let rel = build(&data, L2, LinkCodes::L2Squared);
    let counting = Counting { rel: &rel, reads: Cell::new(0) };
    let plain = PageGraph::open(&counting, L2).unwrap();
    let later = PageGraph::open(&counting, L2).unwrap();
    later.set_careful_after_first_batch(true);
    let careful = PageGraph::open(&counting, L2).unwrap();
    careful.set_careful_bounds(true);
    let ef = 20;
    // Page reads of the first `take` rows of an iterative scan over `graph`.
    let scan = |graph: &PageGraph<'_, Counting<'_>, L2>, q: &[f32], take: usize| {
        let start = counting.reads.get();
        let rows: Vec<(Tid, f32)> = graph.search_iter(q, ef, ScanOrder::Relaxed).take(take).collect();
        (rows, counting.reads.get() - start)
    };
    let (mut first, mut deeper) = ([0; 3], [0; 2]);
    for q in &queries {
        let (a, reads_plain) = scan(&plain, q, ef);
        let (b, reads_later) = scan(&later, q, ef);
        let (_, reads_careful) = scan(&careful, q, ef);
        assert_eq!(a, b, "the first batch is the plain search");
        first[0] += reads_plain;
        first[1] += reads_later;
        first[2] += reads_careful;
        deeper[0] += scan(&plain, q, 5 * ef).1;
        deeper[1] += scan(&later, q, 5 * ef).1;
    }
    assert_eq!(first[0], first[1], "first batches read as much as plain ones");
    assert!(first[2] > first[0], "careful first batches read more: {first:?}");
    assert!(deeper[1] > deeper[0], "later batches bound carefully: {deeper:?}");
}
