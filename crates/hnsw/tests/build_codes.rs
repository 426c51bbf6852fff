//! Builds that make neighbour codes while linking (`build_coded`): their
//! insert searches skip neighbours whose bound rules them out, so they
//! compute far fewer distances for the same recall, and the codes they
//! make are exactly the ones the pages would get.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::{clustered, exact_topk, recall};
use hnsw::link::{pack, pack_all, packed_words, HalfLink, Packing};
use hnsw::ondisk::{
    centroid_of, verify, write_graph_from, LinkCodes, LinkCoder, NeighbourCodes, OnDiskError, PageGraph, Tid, Values,
};
use hnsw::{BuildCoding, Cosine, Distance, ElementCodes, Hnsw, HnswParams, ParallelBuilder, L2};
use pagestore::MemRelation;

const DIMS: usize = 128;

fn heap_tid(id: usize) -> Tid {
    Tid { blk: (id / 100) as u32, off: (id % 100) as u16 + 1 }
}

fn id_of(t: Tid) -> u32 {
    t.blk * 100 + u32::from(t.off) - 1
}

/// A distance that counts its calls.
struct Counted<'c, D> {
    inner: D,
    calls: &'c AtomicUsize,
}

impl<D: Distance> Distance for Counted<'_, D> {
    fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.inner.distance(a, b)
    }
}

fn flat(data: &[Vec<f32>]) -> Vec<f32> {
    data.iter().flatten().copied().collect()
}

fn coder(kind: LinkCodes, data: &[Vec<f32>]) -> LinkCoder {
    let centroid = centroid_of(kind, DIMS, data.len(), |i| &data[i]);
    LinkCoder::for_build(kind, HnswParams::default().m, centroid, false).expect("128-d values have codes")
}

/// Builds over `data` with `metric` on two threads, with codes of `kind`
/// or not; returns the graph, its codes and the distances computed.
fn build<D: Distance>(
    data: &[Vec<f32>],
    metric: D,
    kind: Option<LinkCodes>,
) -> (Hnsw<Counted<'static, D>>, Option<ElementCodes>, usize) {
    let calls: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let mut b = ParallelBuilder::new(DIMS, HnswParams::default(), Counted { inner: metric, calls });
    for v in data {
        b.push(v).unwrap();
    }
    let (graph, codes) = match kind {
        Some(kind) => {
            let coding = BuildCoding { coder: coder(kind, data), values: None };
            let (g, c) = b.build_coded(2, &|| false, &|_| {}, coding).unwrap();
            (g, Some(c))
        }
        None => (b.build(2, &|| false).unwrap(), None),
    };
    (graph, codes, calls.load(Ordering::Relaxed))
}

fn recall_at<G: Distance>(graph: &Hnsw<G>, data: &[Vec<f32>], queries: &[Vec<f32>], metric: impl Distance) -> f64 {
    let truth: Vec<Vec<u32>> = queries.iter().map(|q| exact_topk(data, q, 10, |a, b| metric.distance_or_inf(a, b))).collect();
    let found: Vec<Vec<u32>> =
        queries.iter().map(|q| graph.search(q, 10, 40).into_iter().map(|(id, _)| id).collect()).collect();
    recall(&truth, &found)
}

/// Distances computed by a plain and a coded build, and their recall.
fn compare<D: Distance + Copy>(data: &[Vec<f32>], queries: &[Vec<f32>], metric: D, kind: LinkCodes) -> [(usize, f64); 2] {
    [None, Some(kind)].map(|kind| {
        let (graph, codes, calls) = build(data, metric, kind);
        assert_eq!(codes.is_some(), kind.is_some());
        (calls, recall_at(&graph, data, queries, metric))
    })
}

#[test]
fn coded_builds_compute_far_fewer_distances_for_the_same_recall() {
    let (data, queries) = clustered(6_000, 200, DIMS, 100, 11);
    let cases = [
        ("l2", compare(&data, &queries, L2, LinkCodes::L2Squared)),
        ("cosine", compare(&data, &queries, Cosine, LinkCodes::Cosine)),
    ];
    for (name, [(plain_calls, plain_recall), (coded_calls, coded_recall)]) in cases {
        println!("{name}: distances {plain_calls} plain, {coded_calls} coded; recall@10 {plain_recall:.4} / {coded_recall:.4}");
        assert!(
            (coded_calls as f64) < 0.7 * plain_calls as f64,
            "{name}: the bounds saved too little: {coded_calls} of {plain_calls} distances"
        );
        assert!(coded_recall >= plain_recall - 0.02, "{name}: recall {coded_recall} against {plain_recall}");
        assert!(coded_recall >= 0.9, "{name}: recall {coded_recall}");
    }
}

#[test]
fn the_codes_a_build_makes_are_the_ones_the_pages_get() {
    let (data, queries) = clustered(3_000, 100, DIMS, 20, 5);
    let tids: Vec<Tid> = (0..data.len()).map(heap_tid).collect();
    let (graph, codes, _) = build(&data, Cosine, Some(LinkCodes::Cosine));
    let codes = codes.unwrap();
    let coder = coder(LinkCodes::Cosine, &data);
    let mut want = vec![0u8; coder.len()];
    for (id, v) in data.iter().enumerate() {
        coder.encode_into(v, &mut want);
        assert_eq!(&codes.codes[id * coder.len()..][..coder.len()], &want[..], "code of element {id}");
    }

    let made = MemRelation::new();
    write_graph_from(&made, &graph, None, &tids, 1, None, NeighbourCodes::Made(&codes)).unwrap();
    let report = verify(&made, &Cosine).expect("verify checks every stored code against its vector");
    assert_eq!(report.live, data.len() as u64);
    let remade = MemRelation::new();
    write_graph_from(&remade, &graph, None, &tids, 1, None, LinkCodes::Cosine).unwrap();
    assert!(made.snapshot() == remade.snapshot(), "the same pages as with codes made while writing");

    let pages = PageGraph::open(&made, Cosine).unwrap();
    let truth: Vec<Vec<u32>> = queries.iter().map(|q| exact_topk(&data, q, 10, |a, b| Cosine.distance_or_inf(a, b))).collect();
    let found: Vec<Vec<u32>> =
        queries.iter().map(|q| pages.search(q, 10, 40).into_iter().map(|(t, _)| id_of(t)).collect()).collect();
    assert!(recall(&truth, &found) >= 0.9);
}

/// Recall@10 at `ef_search` 10 (low, so that a worse graph shows) of
/// `graph` written to pages with its L2 `codes`.
fn recall_on_pages<D: Distance>(graph: &Hnsw<D>, values: &[f32], codes: &ElementCodes, data: &[Vec<f32>], queries: &[Vec<f32>]) -> f64 {
    let tids: Vec<Tid> = (0..data.len()).map(heap_tid).collect();
    let rel = MemRelation::new();
    write_graph_from(&rel, graph, Some(Values { data: values, dims: DIMS }), &tids, 1, None, NeighbourCodes::Made(codes)).unwrap();
    assert!(verify(&rel, &L2).is_ok());
    let pages = PageGraph::open(&rel, L2).unwrap();
    let truth: Vec<Vec<u32>> = queries.iter().map(|q| exact_topk(data, q, 10, |a, b| L2.distance_or_inf(a, b))).collect();
    let found: Vec<Vec<u32>> =
        queries.iter().map(|q| pages.search(q, 10, 10).into_iter().map(|(t, _)| id_of(t)).collect()).collect();
    recall(&truth, &found)
}

/// L2 over values sharing an offset far beyond `f16`'s precision (3,000,
/// where a half step is 2 against a spread of 0.35): linked over centred
/// half codes, whose distances are in the values' units so that the
/// codes' bounds still rule neighbours out, the graph is as good as one
/// linked over the values, for far fewer distances than with no bounds.
#[test]
fn an_l2_graph_linked_over_centred_half_codes_of_offset_values_finds_as_much() {
    let (data, queries) = clustered(4_000, 150, DIMS, 60, 13);
    let shifted = |v: &Vec<f32>| v.iter().map(|x| x + 3000.0).collect::<Vec<f32>>();
    let (data, queries): (Vec<Vec<f32>>, Vec<Vec<f32>>) =
        (data.iter().map(shifted).collect(), queries.iter().map(shifted).collect());
    let values = flat(&data);
    let packing = Packing::centred(&values, DIMS);
    let shift = packing.shift();
    let calls: &'static AtomicUsize = Box::leak(Box::new(AtomicUsize::new(0)));
    let link = Counted { inner: HalfLink::L2 { shift }, calls };
    let linked = ParallelBuilder::from_flat(packed_words(DIMS), HnswParams::default(), link, pack_all(&values, DIMS, &packing));
    let coding = BuildCoding { coder: coder(LinkCodes::L2Squared, &data), values: Some(Values { data: &values, dims: DIMS }) };
    let (graph, codes) = linked.unwrap().build_coded(2, &|| false, &|_| {}, coding).unwrap();
    let linked_calls = calls.load(Ordering::Relaxed);

    let linked_recall = recall_on_pages(&graph, &values, &codes, &data, &queries);

    let (_, _, plain_calls) = build(&data, L2, None);
    let (coded, coded_codes, _) = build(&data, L2, Some(LinkCodes::L2Squared));
    let coded_recall = recall_on_pages(&coded, &values, &coded_codes.unwrap(), &data, &queries);
    println!("recall@10 at ef 10: over centred half codes {linked_recall:.4}, over values {coded_recall:.4}; distances {linked_calls} against {plain_calls} unbounded");
    assert!(linked_recall >= coded_recall - 0.02, "centred half codes lost recall: {linked_recall} against {coded_recall}");
    assert!((linked_calls as f64) < 0.7 * plain_calls as f64, "the bounds ruled out too little: {linked_calls} of {plain_calls}");
}

#[test]
fn a_graph_linked_over_half_codes_gets_codes_of_its_values() {
    let (data, _) = clustered(2_000, 0, DIMS, 20, 9);
    let values = flat(&data);
    let mut b = ParallelBuilder::new(packed_words(DIMS), HnswParams::default(), HalfLink::UnitCosine);
    let mut packed = Vec::new();
    for v in &data {
        pack(v, &Packing::Normalized, &mut packed);
        b.push(&packed).unwrap();
    }
    let coding = BuildCoding { coder: coder(LinkCodes::Cosine, &data), values: Some(Values { data: &values, dims: DIMS }) };
    let (graph, codes) = b.build_coded(2, &|| false, &|_| {}, coding).unwrap();
    let tids: Vec<Tid> = (0..data.len()).map(heap_tid).collect();
    let rel = MemRelation::new();
    write_graph_from(&rel, &graph, Some(Values { data: &values, dims: DIMS }), &tids, 1, None, NeighbourCodes::Made(&codes))
        .unwrap();
    verify(&rel, &Cosine).expect("codes of the values, not of the half codes");
}

#[test]
fn codes_that_do_not_fit_the_graph_are_refused() {
    let (data, _) = clustered(500, 0, DIMS, 5, 3);
    let tids: Vec<Tid> = (0..data.len()).map(heap_tid).collect();
    let (graph, codes, _) = build(&data, L2, Some(LinkCodes::L2Squared));
    let mut short = codes.unwrap();
    short.codes.truncate(short.codes.len() - 1);
    let err = write_graph_from(&MemRelation::new(), &graph, None, &tids, 1, None, NeighbourCodes::Made(&short));
    assert!(matches!(err, Err(OnDiskError::BadInput(_))), "{err:?}");

    let mut b = ParallelBuilder::new(DIMS, HnswParams::default(), L2);
    b.push(&data[0]).unwrap();
    let values = [0.0f32; DIMS + 1];
    let coding = BuildCoding { coder: coder(LinkCodes::L2Squared, &data), values: Some(Values { data: &values, dims: DIMS }) };
    assert!(b.build_coded(1, &|| false, &|_| {}, coding).is_err(), "one value per element");

    let mut b = ParallelBuilder::new(DIMS - 1, HnswParams::default(), L2);
    b.push(&data[0][1..]).unwrap();
    let coding = BuildCoding { coder: coder(LinkCodes::L2Squared, &data), values: None };
    assert!(b.build_coded(1, &|| false, &|_| {}, coding).is_err(), "a coder of other dimensions");
}

#[test]
fn a_build_budgets_a_cache_line_per_code() {
    use hnsw::build_codes::code_bytes;
    assert_eq!(code_bytes(LinkCodes::Cosine, 384, 16, false), 64, "16 words: one line");
    assert_eq!(code_bytes(LinkCodes::L2Squared, 100, 16, false), 64, "8 words, padded to a line");
    assert_eq!(code_bytes(LinkCodes::Cosine, 512, 8, false), 128, "20 words: two lines");
    assert_eq!(code_bytes(LinkCodes::None, 384, 16, false), 0);
    assert_eq!(code_bytes(LinkCodes::Cosine, 768, 16, false), 128, "28 words: two lines");
    assert_eq!(code_bytes(LinkCodes::Cosine, 1_536, 16, false), 256, "52 words: four lines");
    assert_eq!(code_bytes(LinkCodes::Cosine, 1_700, 16, false), 0, "no codes where they do not fit a page");
    assert_eq!(code_bytes(LinkCodes::Cosine, 0, 16, false), 0, "nor for variable dimensions");
}
