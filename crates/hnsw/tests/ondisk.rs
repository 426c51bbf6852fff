//! The graph written onto pages (MemRelation) and searched through
//! RelationRead: same results as in memory, recall, format checks.

mod common;

use common::{clustered, exact_topk, recall};
use hnsw::ondisk::{
    no_codes, verify, with_f32s, write_graph, ElementTuple, Meta, NeighbourTuple, OnDiskError, PageGraph, Tid,
};
use hnsw::{Cosine, Distance, Hnsw, HnswParams, ScanOrder, L2};
use pagestore::page::{self, ItemId, LP_DEAD, LP_UNUSED, SIZE_OF_ITEM_ID, SIZE_OF_PAGE_HEADER};
use pagestore::{MemRelation, RelationRead, RelationWrite};

fn heap_tid(id: usize) -> Tid {
    Tid {
        blk: (id / 100) as u32,
        off: (id % 100) as u16 + 1,
    }
}

fn id_of(tid: Tid) -> u32 {
    tid.blk * 100 + u32::from(tid.off) - 1
}

fn build<D: Distance>(data: &[Vec<f32>], metric: D) -> (Hnsw<D>, MemRelation) {
    let mut g = Hnsw::new(data[0].len(), HnswParams::default(), metric);
    for v in data {
        g.insert(v).unwrap();
    }
    let rel = MemRelation::new();
    let tids: Vec<Tid> = (0..data.len()).map(heap_tid).collect();
    write_graph(&rel, &g, &tids, 1).unwrap();
    (g, rel)
}

fn check<D: Distance + Copy>(metric: D, name: &str) {
    let (data, queries) = clustered(10_000, 200, 32, 32, 42);
    let (g, rel) = build(&data, metric);
    let pages = PageGraph::open(&rel, metric).unwrap();
    assert_eq!(pages.meta().elements, 10_000);
    let mut found = Vec::new();
    for q in &queries {
        let on_pages: Vec<(u32, f32)> = pages
            .search(q, 10, 40)
            .into_iter()
            .map(|(t, d)| (id_of(t), d))
            .collect();
        assert_eq!(on_pages, g.search(q, 10, 40), "pages and memory agree");
        found.push(on_pages.into_iter().map(|(id, _)| id).collect());
    }
    let truth: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| exact_topk(&data, q, 10, |a, b| metric.distance_or_inf(a, b)))
        .collect();
    let r = recall(&truth, &found);
    println!(
        "{name} on pages: recall@10 = {r:.4}, {} pages ({} KiB)",
        rel.nblocks(),
        rel.size_bytes() / 1024
    );
    assert!(r >= 0.95, "{name} recall@10 on pages {r}");
    for blk in 0..rel.nblocks() {
        page::check_header(&rel.read(blk)).unwrap();
    }
    let report = verify(&rel, &metric).unwrap();
    assert_eq!((report.live, report.deleted), (10_000, 0));
    assert_eq!(report.pages, rel.nblocks());
    assert_eq!(report.reachable_heap_tids.len(), 10_000);
    assert_eq!(pages.meta().insert_blk, rel.nblocks() - 1);
}

#[test]
fn recall_on_pages_l2() {
    check(L2, "l2");
}

#[test]
fn recall_on_pages_cosine() {
    check(Cosine, "cosine");
}

#[test]
fn iterative_scan_on_pages_matches_memory() {
    let (data, queries) = clustered(1_000, 5, 8, 4, 5);
    let (g, rel) = build(&data, L2);
    let pages = PageGraph::open(&rel, L2).unwrap();
    for q in &queries {
        let mem: Vec<u32> = g
            .search_iter(q, 10, ScanOrder::Relaxed)
            .map(|(id, _)| id)
            .collect();
        let on_pages: Vec<u32> = pages
            .search_iter(q, 10, ScanOrder::Relaxed)
            .map(|(t, _)| id_of(pages.heap_tid(t)))
            .collect();
        assert_eq!(mem, on_pages);
        assert_eq!(on_pages.len(), 1_000);
    }
}

#[test]
fn empty_and_single() {
    let rel = MemRelation::new();
    let g = Hnsw::new(4, HnswParams::default(), L2);
    write_graph(&rel, &g, &[], 1).unwrap();
    let pages = PageGraph::open(&rel, L2).unwrap();
    assert!(pages.search(&[0.0; 4], 10, 40).is_empty());
    let (_, rel) = build(&[vec![1.0, 2.0]], L2);
    let pages = PageGraph::open(&rel, L2).unwrap();
    assert_eq!(pages.search(&[1.0, 2.0], 10, 40), vec![(heap_tid(0), 0.0)]);
}

#[test]
fn version_mismatch_asks_for_reindex() {
    let (_, rel) = build(&[vec![1.0, 2.0]], L2);
    {
        let mut guard = rel.write(0);
        let meta = page::item_mut(&mut guard, 1).unwrap();
        meta[4..8].copy_from_slice(&99u32.to_le_bytes());
    }
    let err = PageGraph::open(&rel, L2).err().expect("must fail");
    assert!(matches!(err, OnDiskError::Format(_)));
    assert_eq!(
        err.to_string(),
        "index format version 99, expected 3: REINDEX"
    );
    assert!(PageGraph::open(&MemRelation::new(), L2).is_err());
}

#[test]
fn build_rejects_bad_input() {
    let mut g = Hnsw::new(2, HnswParams::default(), L2);
    g.insert(&[1.0, 2.0]).unwrap();
    assert!(matches!(
        write_graph(&MemRelation::new(), &g, &[], 1),
        Err(OnDiskError::BadInput(_))
    ));
    let rel = MemRelation::new();
    drop(rel.extend());
    assert_eq!(
        write_graph(&rel, &g, &[heap_tid(0)], 1),
        Err(OnDiskError::NotEmpty)
    );
    let mut big = Hnsw::new(3_000, HnswParams::default(), L2);
    big.insert(&vec![0.0; 3_000]).unwrap();
    let err = write_graph(&MemRelation::new(), &big, &[heap_tid(0)], 1);
    assert!(matches!(err, Err(OnDiskError::TupleTooLarge(_))));
}

#[test]
fn tuples_round_trip() {
    let e = ElementTuple {
        level: 2,
        deleted: false,
        heap_tid: heap_tid(7),
        neighbours: heap_tid(8),
        vector: vec![1.5, -2.0],
    };
    let mut v = Vec::new();
    let back = ElementTuple::decode_into(&e.encode(), &mut v).unwrap();
    assert_eq!(
        (back.level, back.heap_tid, back.neighbours, v.clone()),
        (2, e.heap_tid, e.neighbours, e.vector.clone())
    );
    assert!(ElementTuple::decode_into(&e.encode()[..10], &mut v).is_err());
    assert_eq!(e.encode().len(), ElementTuple::HEADER_LEN + 8);
    assert_eq!(ElementTuple::HEADER_LEN % 4, 0, "vector 4-byte aligned");
    let n = NeighbourTuple {
        slots: vec![vec![heap_tid(1), heap_tid(2)], vec![heap_tid(3)]],
    };
    let bytes = n.encode(4, 0, &no_codes).unwrap();
    assert_eq!(bytes.len(), NeighbourTuple::encoded_len(1, 4, 0));
    let mut out = Vec::new();
    NeighbourTuple::decode_level(&bytes, 1, 4, &mut out).unwrap();
    assert_eq!(out, vec![heap_tid(3)]);
    NeighbourTuple::decode_level(&bytes, 5, 4, &mut out).unwrap();
    assert!(out.is_empty());
    let meta = Meta {
        dims: 3,
        m: 16,
        ef_construction: 64,
        metric_id: 2,
        entry_level: 1,
        entry: heap_tid(4),
        elements: 9,
        insert_blk: 3,
        value_dims: 0,
        link_codes: 2,
        free_blk: Some(7),
    };
    assert_eq!(Meta::decode(&meta.encode()), Ok(meta));
    let coded = Meta { value_dims: 3000, ..meta };
    assert_eq!(Meta::decode(&coded.encode()), Ok(coded));
    // A metapage written before `free_blk` existed decodes without it,
    // and encodes back to its own length.
    let old = Meta { free_blk: None, ..meta };
    assert_eq!(old.encode().len() + 4, meta.encode().len());
    assert_eq!(Meta::decode(&old.encode()), Ok(old));
}

#[test]
fn concurrent_scans_share_one_relation() {
    let (data, queries) = clustered(2_000, 8, 8, 4, 9);
    let (g, rel) = build(&data, L2);
    std::thread::scope(|s| {
        for half in queries.chunks(4) {
            let (rel, g) = (&rel, &g);
            s.spawn(move || {
                let pages = PageGraph::open(rel, L2).unwrap();
                for q in half {
                    let got: Vec<u32> = pages
                        .search(q, 10, 40)
                        .into_iter()
                        .map(|(t, _)| id_of(t))
                        .collect();
                    let want: Vec<u32> =
                        g.search(q, 10, 40).into_iter().map(|(id, _)| id).collect();
                    assert_eq!(got, want);
                }
            });
        }
    });
}

#[test]
#[should_panic(expected = "ember_hnsw index corrupted")]
fn corrupt_neighbour_pointer_is_reported() {
    let (data, _) = clustered(50, 0, 4, 2, 1);
    let (_, rel) = build(&data, L2);
    {
        // Point element 1's neighbour TID past the end of the relation.
        let mut guard = rel.write(1);
        let element = page::item_mut(&mut guard, 1).unwrap();
        element[10..14].copy_from_slice(&9_999u32.to_le_bytes());
    }
    let pages = PageGraph::open(&rel, L2).unwrap();
    for q in &data {
        pages.search(q, 5, 10);
    }
}

/// Informative timing of searches on pages (no assertion):
/// `cargo test --release -p ember-hnsw --test ondisk -- --ignored --nocapture`.
#[test]
#[ignore = "timing, informative"]
fn search_timing_on_pages() {
    let (data, queries) = clustered(20_000, 500, 128, 32, 77);
    let (_, rel) = build(&data, L2);
    let pages = PageGraph::open(&rel, L2).unwrap();
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = std::time::Instant::now();
        let mut hits = 0usize;
        for q in &queries {
            hits += pages.search(q, 10, 64).len();
        }
        assert_eq!(hits, 10 * queries.len());
        best = best.min(start.elapsed().as_secs_f64());
    }
    println!(
        "search on pages: {:.1} us/query (best of 5, 20k x 128, ef 64)",
        best * 1e6 / queries.len() as f64
    );
}

/// Sets the line pointer of `off` on `page` to `flags` (as a concurrent
/// vacuum reusing space would).
fn set_line_pointer(page: &mut page::Page, off: u16, flags: u8) {
    let at = SIZE_OF_PAGE_HEADER + (off as usize - 1) * SIZE_OF_ITEM_ID;
    let id = ItemId {
        off: 0,
        flags,
        len: 0,
    };
    page[at..at + SIZE_OF_ITEM_ID].copy_from_slice(&id.to_raw().to_ne_bytes());
}

#[test]
fn scans_skip_neighbours_whose_tuples_are_gone() {
    let (data, queries) = clustered(2_000, 20, 8, 4, 21);
    let (_, rel) = build(&data, L2);
    let mut gone = Vec::new();
    // Pages away from the entry point, which is written first (with its
    // neighbourhood: gone there, a search could find no way out).
    let n = rel.nblocks();
    for blk in [n / 3, n / 2, 2 * n / 3] {
        let mut guard = rel.write(blk);
        for (i, off) in (1..=page::max_offset(&guard)).step_by(7).enumerate() {
            let tid = Tid { blk, off };
            let flags = if i % 2 == 0 { LP_UNUSED } else { LP_DEAD };
            if page::item(&guard, off).unwrap()[0] == 1 {
                gone.push(tid);
            }
            set_line_pointer(&mut guard, off, flags);
        }
    }
    assert!(!gone.is_empty());
    let pages = PageGraph::open(&rel, L2).unwrap();
    for q in &queries {
        assert_eq!(pages.search(q, 10, 40).len(), 10);
        for (node, _) in pages.search_iter(q, 20, ScanOrder::Relaxed) {
            if gone.contains(&node) {
                assert_eq!(pages.live_heap_tid(node), None);
            }
        }
    }
    // Offsets past the last line pointer are skipped too.
    let past = Tid { blk: 1, off: 2_000 };
    assert_eq!(pages.live_heap_tid(past), None);
    assert_eq!(pages.heap_tid(past), Tid::INVALID);
}

#[test]
fn verify_reports_a_corrupted_neighbour() {
    let (data, _) = clustered(300, 0, 4, 2, 3);
    let (_, rel) = build(&data, L2);
    assert!(verify(&rel, &L2).is_ok());
    // Element at block 1 item 1 has its neighbour tuple at item 2: point
    // its first layer-0 slot at that neighbour tuple.
    {
        let mut guard = rel.write(1);
        let slots = page::item_mut(&mut guard, 2).unwrap();
        slots[8..12].copy_from_slice(&1u32.to_le_bytes());
        slots[12..14].copy_from_slice(&2u16.to_le_bytes());
    }
    let err = verify(&rel, &L2).unwrap_err();
    assert_eq!(
        err,
        "block 1 item 1: neighbour on level 0 points at block 1 item 2, which is not an element tuple"
    );
    {
        let mut guard = rel.write(1);
        let slots = page::item_mut(&mut guard, 2).unwrap();
        slots[8..12].copy_from_slice(&999u32.to_le_bytes());
    }
    assert!(verify(&rel, &L2).unwrap_err().contains("block 999 item 2"));
}

#[test]
fn distance_on_page_bytes_matches_decoded() {
    let v: Vec<f32> = (0..33).map(|i| i as f32 * 0.5 - 3.0).collect();
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let mut padded = vec![0u8; 1];
    padded.extend_from_slice(&bytes);
    let mut scratch = Vec::new();
    for raw in [&bytes[..], &padded[1..]] {
        assert_eq!(with_f32s(raw, &mut scratch, <[f32]>::to_vec), v);
    }
}

#[test]
fn coded_graphs_store_codes_and_record_the_value_dimensions() {
    let (data, _) = clustered(300, 10, 16, 8, 3);
    let mut g = Hnsw::new(16, HnswParams::default(), L2);
    for v in &data {
        g.insert(v).unwrap();
    }
    let rel = MemRelation::new();
    let tids: Vec<Tid> = (0..data.len()).map(heap_tid).collect();
    // A stand-in code: the first four values, doubled.
    let encode = |v: &[f32], out: &mut Vec<f32>| {
        out.clear();
        out.extend(v[..4].iter().map(|x| x * 2.0));
    };
    hnsw::ondisk::write_graph_coded(&rel, &g, &tids, 7, 4, &encode).unwrap();
    let pages = PageGraph::open(&rel, L2).unwrap();
    assert_eq!((pages.meta().dims, pages.meta().value_dims), (4, 16));
    let mut seen = 0;
    for blk in 1..rel.nblocks() {
        let guard = rel.read(blk);
        for off in 1..=page::max_offset(&guard) {
            let tid = Tid { blk, off };
            let Ok((element, _)) = ElementTuple::decode_view(page::item(&guard, off).unwrap()) else {
                continue;
            };
            drop(element);
            let got = pages.live_element(tid, |heap, v| (id_of(heap), v.to_vec()));
            let (id, code) = got.expect("a live element");
            let want: Vec<f32> = data[id as usize][..4].iter().map(|x| x * 2.0).collect();
            assert_eq!(code, want);
            seen += 1;
        }
    }
    assert_eq!(seen, data.len());
    assert!(verify(&rel, &L2).is_ok());
}

#[test]
fn vectors_that_do_not_fit_a_page_are_recognised() {
    assert!(hnsw::ondisk::vector_fits(1536, 16));
    assert!(!hnsw::ondisk::vector_fits(1800, 16));
    assert!(!hnsw::ondisk::vector_fits(3072, 16));
    // SQ8 codes of 4,096 dimensions (1,030 words) fit, even with m = 48.
    assert!(hnsw::ondisk::vector_fits(1030, 48));
}

#[test]
fn batched_distances_equal_one_by_one() {
    use hnsw::search::GraphView;
    let (data, queries) = clustered(1_000, 5, 16, 4, 33);
    let (_, rel) = build(&data, L2);
    // Some element tuples gone, as a concurrent vacuum leaves them.
    {
        let mut guard = rel.write(3);
        set_line_pointer(&mut guard, 1, LP_UNUSED);
        set_line_pointer(&mut guard, 2, LP_DEAD);
    }
    let pages = PageGraph::open(&rel, L2).unwrap();
    // Element tuples (tag 1) of the first pages, not neighbour tuples.
    let mut elements: Vec<Tid> = Vec::new();
    for blk in 1..rel.nblocks().min(12) {
        let guard = rel.read(blk);
        for off in 1..=page::max_offset(&guard) {
            if page::item(&guard, off).is_ok_and(|b| b[0] == 1) {
                elements.push(Tid { blk, off });
            }
        }
    }
    assert!(elements.len() > 20, "the batch holds elements");
    let gone = [Tid { blk: 3, off: 1 }, Tid { blk: 3, off: 2 }, Tid { blk: 1, off: 2_000 }];
    let mut batch: Vec<Tid> = elements.iter().copied().take(40).collect();
    batch.extend(gone);
    batch.extend(elements.iter().rev().take(5));
    let mut got = Vec::new();
    for q in &queries {
        for len in [0, 1, 2, 3, 5, batch.len()] {
            pages.distances(q, &batch[..len], &mut got);
            let one_by_one: Vec<f32> = batch[..len].iter().map(|&n| pages.distance(q, n)).collect();
            assert_eq!(got, one_by_one, "batch of {len}");
        }
    }
    for tid in gone {
        pages.distances(&queries[0], &[tid], &mut got);
        assert_eq!(got, vec![f32::INFINITY]);
    }
}

/// The fraction of layer-0 links on `rel` whose two elements share a page.
fn same_page_links(rel: &MemRelation, m: usize) -> f64 {
    let (mut same, mut all) = (0usize, 0usize);
    for blk in 1..rel.nblocks() {
        let guard = rel.read(blk);
        for off in 1..=page::max_offset(&guard) {
            let Some(element) = page::item(&guard, off).ok().and_then(|b| ElementTuple::decode_header(b).ok()) else {
                continue;
            };
            let at = element.neighbours;
            let list = if at.blk == blk {
                NeighbourTuple::decode(page::item(&guard, at.off).unwrap(), m).unwrap()
            } else {
                NeighbourTuple::decode(page::item(&rel.read(at.blk), at.off).unwrap(), m).unwrap()
            };
            all += list.slots[0].len();
            same += list.slots[0].iter().filter(|t| t.blk == blk).count();
        }
    }
    same as f64 / all as f64
}

#[test]
fn neighbours_are_written_near_each_other() {
    // Rows in random order (each row's cluster is drawn at random; about
    // 27 elements fit a page): written in id order, 1.1% of the links
    // joined two elements of one page; breadth-first, 10.5%.
    let (data, queries) = clustered(3_000, 50, 16, 30, 31);
    let (g, rel) = build(&data, L2);
    let same = same_page_links(&rel, g.params().m);
    assert!(same > 0.05, "{same:.3} of the links join elements of one page");
    verify(&rel, &L2).unwrap();
    let pages = PageGraph::open(&rel, L2).unwrap();
    for q in &queries {
        let on_pages: Vec<u32> = pages.search(q, 10, 64).into_iter().map(|(t, _)| id_of(t)).collect();
        let in_memory: Vec<u32> = hnsw::search::knn(&g, q, 10, 64).into_iter().map(|s| s.node).collect();
        assert_eq!(on_pages, in_memory, "the layout changes where elements are, not the graph");
    }
}
