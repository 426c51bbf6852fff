//! Vacuum of the graph on pages (MemRelation): deleting part or all of
//! it, idempotence, and concurrency with scans and inserts.

mod common;

use std::collections::HashSet;

use common::{clustered, exact_topk, recall};
use hnsw::ondisk::{bulk_delete, cleanup, count_live, insert, verify, write_graph, write_graph_from, LinkCodes, PageGraph, Tid};
use hnsw::{graph_level, Distance, Hnsw, HnswParams, ScanOrder, L2};
use hnsw::ondisk::ElementTuple;
use pagestore::{page, MemRelation, RelationRead as _, RelationWrite as _};

fn heap_tid(id: usize) -> Tid {
    Tid {
        blk: (id / 100) as u32,
        off: (id % 100) as u16 + 1,
    }
}

fn id_of(tid: Tid) -> usize {
    tid.blk as usize * 100 + usize::from(tid.off) - 1
}

/// About a third of the heap TIDs.
fn third(t: Tid) -> bool {
    t.off.is_multiple_of(3)
}

fn build(data: &[Vec<f32>]) -> MemRelation {
    let mut g = Hnsw::new(data[0].len(), HnswParams::default(), L2);
    for v in data {
        g.insert(v).unwrap();
    }
    let rel = MemRelation::new();
    let tids: Vec<Tid> = (0..data.len()).map(heap_tid).collect();
    write_graph(&rel, &g, &tids, 1).unwrap();
    rel
}

/// Checks that scans on `rel` never return a dead heap TID: `search` at
/// several `ef`, and iterative scans run to exhaustion. Returns the live
/// heap TIDs the exhausted scans found (union over `queries`).
fn assert_no_dead_results(
    rel: &MemRelation,
    queries: &[Vec<f32>],
    dead: impl Fn(Tid) -> bool,
) -> HashSet<Tid> {
    let pages = PageGraph::open(rel, L2).unwrap();
    let mut seen = HashSet::new();
    for q in queries {
        for ef in [10, 40, 200] {
            for (t, _) in pages.search(q, 10, ef) {
                assert!(!dead(t), "search returned dead heap tid {t:?}");
            }
        }
        for order in [ScanOrder::Relaxed, ScanOrder::Strict] {
            for (node, _) in pages.search_iter(q, 40, order) {
                if let Some(t) = pages.live_heap_tid(node) {
                    assert!(!dead(t), "scan returned dead heap tid {t:?}");
                    seen.insert(t);
                }
            }
        }
    }
    seen
}

#[test]
fn vacuum_a_third() {
    let (data, queries) = clustered(4_000, 100, 32, 16, 31);
    let rel = build(&data);
    let dead_ids: Vec<usize> = (0..data.len()).filter(|&i| third(heap_tid(i))).collect();
    let stats = bulk_delete(&rel, &L2, third).unwrap();
    println!("{stats:?}");
    assert_eq!(stats.deleted, dead_ids.len() as u64);
    assert_eq!(stats.live, (data.len() - dead_ids.len()) as u64);
    assert!(stats.repaired > 0);
    assert_eq!(count_live(&rel).unwrap(), stats.live);
    let report = verify(&rel, &L2).unwrap();
    assert_eq!((report.live, report.deleted), (stats.live, stats.deleted));
    let live: Vec<Tid> = (0..data.len())
        .map(heap_tid)
        .filter(|&t| !third(t))
        .collect();
    let mut sorted = live.clone();
    sorted.sort_unstable();
    assert_eq!(report.reachable_heap_tids, sorted);
    let pages = PageGraph::open(&rel, L2).unwrap();
    assert_eq!(pages.meta().elements, stats.live);

    let seen = assert_no_dead_results(&rel, &queries[..10], third);
    assert_eq!(
        seen.len(),
        live.len(),
        "exhausted scans find every live element"
    );

    let remaining: Vec<Vec<f32>> = live.iter().map(|&t| data[id_of(t)].clone()).collect();
    let found: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| {
            let hits = pages.search(q, 10, 64);
            let ids = hits
                .iter()
                .map(|&(t, _)| live.binary_search(&t).unwrap() as u32);
            ids.collect()
        })
        .collect();
    let truth: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| exact_topk(&remaining, q, 10, |a, b| L2.distance_or_inf(a, b)))
        .collect();
    let r = recall(&truth, &found);
    println!("recall@10 of the remaining after vacuum: {r:.4}");
    assert!(r >= 0.95, "recall {r}");
}

#[test]
fn vacuum_is_idempotent() {
    let (data, _) = clustered(2_000, 0, 16, 8, 32);
    let rel = build(&data);
    let first = bulk_delete(&rel, &L2, third).unwrap();
    assert!(first.deleted > 0);
    // What it deleted on layer 0 it frees (but for a few whose neighbour
    // tuple the build put on the next page).
    assert!(first.freed <= first.deleted && first.freed >= first.deleted * 85 / 100, "{first:?}");
    let before = rel.snapshot();
    let second = bulk_delete(&rel, &L2, third).unwrap();
    assert_eq!((second.deleted, second.repaired, second.freed), (0, 0, 0));
    assert_eq!(second.live, first.live);
    assert!(before == rel.snapshot(), "a second vacuum changes no page");
    let report = verify(&rel, &L2).unwrap();
    assert_eq!((report.live, report.deleted), (first.live, first.deleted));
}

/// The cleanup of a VACUUM that found no dead row frees deleted elements
/// that a version which did not free them left (made here by setting
/// freed elements' byte back to deleted); with none waiting it changes no
/// page and counts the live elements.
#[test]
fn a_cleanup_frees_deleted_elements_left_unfreed() {
    let (data, _) = clustered(2_000, 0, 16, 8, 41);
    let rel = build(&data);
    let before = rel.snapshot();
    let fresh = cleanup(&rel, &L2).unwrap();
    assert_eq!((fresh.live, fresh.freed, fresh.deleted), (2_000, 0, 0));
    assert!(before == rel.snapshot(), "nothing to free: no page changes");
    let first = bulk_delete(&rel, &L2, third).unwrap();
    let before = rel.snapshot();
    let nothing = cleanup(&rel, &L2).unwrap();
    assert_eq!((nothing.freed, nothing.live), (0, first.live));
    assert!(before == rel.snapshot(), "nothing left to free: no page changes");
    let mut unfreed = 0;
    for blk in 1..rel.nblocks() {
        let mut page = rel.write(blk);
        for off in 1..=page::max_offset(&page) {
            let bytes = page::item_mut(&mut page, off).unwrap();
            if bytes[0] == 1 && bytes[ElementTuple::DELETED_AT] == ElementTuple::FREE {
                bytes[ElementTuple::DELETED_AT] = ElementTuple::DELETED;
                unfreed += 1;
            }
        }
    }
    assert_eq!(unfreed, first.freed);
    let freeing = cleanup(&rel, &L2).unwrap();
    assert_eq!((freeing.deleted, freeing.repaired, freeing.freed, freeing.live), (0, 0, unfreed, first.live));
    verify(&rel, &L2).unwrap();
}

/// Vectors of the same clustered distribution as `clustered(.., seed)`'s
/// but other points, for inserts after a vacuum.
fn more(n: usize, dims: usize, seed: u64) -> Vec<Vec<f32>> {
    clustered(n, 0, dims, 8, seed).0
}

/// Inserts `data` at layer 0 with heap TIDs from `first_id`.
fn insert_at_layer_0(rel: &MemRelation, data: &[Vec<f32>], first_id: usize) {
    for (i, v) in data.iter().enumerate() {
        insert(rel, &L2, v, heap_tid(first_id + i), 0).unwrap();
    }
}

/// Checks that `rel` is valid and that exactly the heap TIDs of ids
/// `0..rows` that are not `dead` are reachable; returns the report.
fn assert_reachable_rows(rel: &MemRelation, rows: usize, dead: impl Fn(Tid) -> bool) -> hnsw::ondisk::VerifyReport {
    let report = verify(rel, &L2).unwrap();
    let mut live: Vec<Tid> = (0..rows).map(heap_tid).filter(|&t| !dead(t)).collect();
    live.sort_unstable();
    assert_eq!(report.reachable_heap_tids, live);
    report
}

/// Checks that at least 95% of the rows `new` (heap TIDs of ids from
/// `first_id`) are their own nearest neighbour in a search of `rel`.
fn assert_new_rows_found(rel: &MemRelation, new: &[Vec<f32>], first_id: usize) {
    let pages = PageGraph::open(rel, L2).unwrap();
    let own_nearest = |(i, v): &(usize, &Vec<f32>)| pages.search(v, 1, 40).first().map(|h| h.0) == Some(heap_tid(first_id + i));
    let found = new.iter().enumerate().filter(own_nearest).count();
    assert!(found >= new.len() * 95 / 100, "{found} of {} new rows found as their own nearest", new.len());
}

/// The vacuum that deletes a third of the rows frees their tuples, and
/// inserts of as many rows take them over: the index does not grow, stays
/// valid, and finds the new rows and no dead one. Without the vacuum
/// (nothing freed), the same inserts grow it.
#[test]
fn inserts_take_over_what_vacuum_freed() {
    let (data, queries) = clustered(3_000, 20, 16, 8, 37);
    let new = more(800, 16, 38);
    let dead = |t: Tid| id_of(t) < 3_000 && third(t);

    let grown = build(&data);
    let before = grown.nblocks();
    insert_at_layer_0(&grown, &new, 3_000);
    assert!(grown.nblocks() > before, "without freed tuples the inserts append");

    let rel = build(&data);
    let first = bulk_delete(&rel, &L2, dead).unwrap();
    assert!(first.freed >= new.len() as u64, "{first:?}");
    let free_blk = PageGraph::open(&rel, L2).unwrap().meta().free_blk;
    assert!(free_blk.is_some_and(|b| b >= 1 && b < rel.nblocks()), "free_blk {free_blk:?}");
    let before = rel.nblocks();
    insert_at_layer_0(&rel, &new, 3_000);
    assert_eq!(rel.nblocks(), before, "the inserts took over freed tuples");

    let report = assert_reachable_rows(&rel, 3_000 + new.len(), dead);
    assert_eq!(report.live, first.live + new.len() as u64);
    assert_eq!(report.deleted, first.deleted - new.len() as u64);
    assert_no_dead_results(&rel, &queries, dead);
    assert_new_rows_found(&rel, &new, 3_000);
}

/// An insert above layer 0 takes over a freed element of its own level on
/// the pages it looks through from `free_blk`, and leaves `free_blk` where
/// it was when it finds none (layer-0 freed elements stay in reach).
#[test]
fn an_upper_layer_insert_takes_over_a_freed_element_of_its_level() {
    let (data, _) = clustered(3_000, 0, 16, 8, 42);
    let rel = build(&data);
    bulk_delete(&rel, &L2, third).unwrap();
    let hint = PageGraph::open(&rel, L2).unwrap().meta().free_blk.unwrap();
    // The freed elements of each level on the first 8 pages an insert looks through.
    let freed_at = |level: u8| -> Vec<Tid> {
        let mut out = Vec::new();
        for blk in hint..(hint + 8).min(rel.nblocks()) {
            let page = rel.read(blk);
            for off in 1..=page::max_offset(&page) {
                let bytes = page::item(&page, off).unwrap();
                if bytes[0] == 1 && bytes[ElementTuple::DELETED_AT] == ElementTuple::FREE && bytes[1] == level {
                    out.push(Tid { blk, off });
                }
            }
        }
        out
    };
    let level_1 = freed_at(1);
    assert!(!level_1.is_empty(), "the seed puts a freed layer-1 element near free_blk");
    let (new, _) = clustered(1, 0, 16, 8, 43);
    let at = insert(&rel, &L2, &new[0], heap_tid(5_000), 1).unwrap();
    assert!(level_1.contains(&at), "the layer-1 insert took over {at:?}, not one of {level_1:?}");
    // A level no freed element has: the insert appends, free_blk stays.
    let at = insert(&rel, &L2, &new[0], heap_tid(5_001), 6).unwrap();
    assert!(at.blk >= hint + 8 || freed_at(6).is_empty());
    assert_eq!(PageGraph::open(&rel, L2).unwrap().meta().free_blk, Some(hint));
    verify(&rel, &L2).unwrap();
}

/// Two threads take over freed tuples at once: none is taken twice (every
/// new row is reachable and the index stays valid).
#[test]
fn concurrent_inserts_take_over_freed_tuples_once_each() {
    let (data, queries) = clustered(3_000, 20, 16, 8, 39);
    let new = more(800, 16, 40);
    let dead = |t: Tid| id_of(t) < 3_000 && third(t);
    let rel = build(&data);
    let freed = bulk_delete(&rel, &L2, dead).unwrap().freed;
    assert!(freed >= new.len() as u64);
    let before = rel.nblocks();
    std::thread::scope(|s| {
        let half = new.len() / 2;
        for (t, chunk) in new.chunks(half).enumerate() {
            let rel = &rel;
            s.spawn(move || insert_at_layer_0(rel, chunk, 3_000 + t * half));
        }
    });
    assert_eq!(rel.nblocks(), before);
    assert_reachable_rows(&rel, 3_000 + new.len(), dead);
    assert_no_dead_results(&rel, &queries, dead);
}

/// 1,024 dimensions with neighbour codes (m = 16): an element and its
/// coded neighbour tuple take a page each.
fn build_wide(data: &[Vec<f32>]) -> MemRelation {
    let mut g = Hnsw::new(data[0].len(), HnswParams::default(), L2);
    for v in data {
        g.insert(v).unwrap();
    }
    let rel = MemRelation::new();
    let tids: Vec<Tid> = (0..data.len()).map(heap_tid).collect();
    write_graph_from(&rel, &g, None, &tids, 1, None, LinkCodes::L2Squared).unwrap();
    rel
}

/// The elements on `rel` whose `deleted` byte is `flag`.
fn elements_flagged(rel: &MemRelation, flag: u8) -> Vec<Tid> {
    let mut out = Vec::new();
    for blk in 1..rel.nblocks() {
        let page = rel.read(blk);
        for off in 1..=page::max_offset(&page) {
            let bytes = page::item(&page, off).unwrap();
            if bytes[0] == 1 && bytes[ElementTuple::DELETED_AT] == flag {
                out.push(Tid { blk, off });
            }
        }
    }
    out
}

/// Vectors too wide for an element and its neighbour tuple to share a
/// page: vacuum frees them too, and inserts take both tuples over (the
/// element claimed first, then the lists written, then the element), from
/// one thread or two at once: no growth (nearly none with two), every
/// live row reachable, no dead row returned, the new rows found.
#[test]
fn inserts_take_over_freed_elements_whose_tuples_are_on_two_pages() {
    let dims = 1_024;
    let (data, queries) = clustered(240, 10, dims, 6, 51);
    let new = more(60, dims, 52);
    let dead = |t: Tid| id_of(t) < 240 && third(t);
    for threads in [1, 2] {
        let rel = build_wide(&data);
        let at = elements_flagged(&rel, 0)[0];
        let e = ElementTuple::decode_header(page::item(&rel.read(at.blk), at.off).unwrap()).unwrap();
        assert_ne!(e.neighbours.blk, at.blk, "the tuples are on two pages");
        let stats = bulk_delete(&rel, &L2, dead).unwrap();
        assert!(stats.freed >= 70, "{stats:?}");
        let before = rel.nblocks();
        std::thread::scope(|s| {
            let part = new.len().div_ceil(threads);
            for (t, chunk) in new.chunks(part).enumerate() {
                let rel = &rel;
                s.spawn(move || insert_at_layer_0(rel, chunk, 240 + t * part));
            }
        });
        // Two threads racing for the same freed element: the loser looks
        // on, and may run out of pages to look through and append.
        let grown = rel.nblocks() - before;
        let slack = if threads == 1 { 0 } else { 12 };
        assert!(grown <= slack, "{threads} thread(s): {grown} pages added (appending all: {})", 2 * new.len());
        assert!(elements_flagged(&rel, ElementTuple::CLAIMED).is_empty(), "no claim is left");
        assert_reachable_rows(&rel, 240 + new.len(), dead);
        assert_no_dead_results(&rel, &queries, dead);
        assert_new_rows_found(&rel, &new, 240);
    }
}

/// A claim left by an insert that died between its writes (a crash)
/// stays as it is: vacuum neither repairs nor frees it, inserts do not
/// take it over, and the index stays valid.
#[test]
fn a_claim_left_by_a_crash_is_left_alone() {
    let dims = 1_024;
    let (data, queries) = clustered(120, 10, dims, 6, 53);
    let dead = |t: Tid| id_of(t) < 120 && third(t);
    let rel = build_wide(&data);
    bulk_delete(&rel, &L2, dead).unwrap();
    let freed = elements_flagged(&rel, ElementTuple::FREE);
    let claimed = freed[0];
    page::item_mut(&mut rel.write(claimed.blk), claimed.off).unwrap()[ElementTuple::DELETED_AT] = ElementTuple::CLAIMED;
    assert_eq!(bulk_delete(&rel, &L2, dead).unwrap().deleted, 0);
    cleanup(&rel, &L2).unwrap();
    insert_at_layer_0(&rel, &more(freed.len() + 5, dims, 54), 120);
    assert_eq!(elements_flagged(&rel, ElementTuple::CLAIMED), vec![claimed], "the claim is untouched");
    let report = verify(&rel, &L2).unwrap();
    assert_eq!(report.live as usize, 120 - (0..120).map(heap_tid).filter(|&t| dead(t)).count() + freed.len() + 5);
    assert_no_dead_results(&rel, &queries, dead);
}

#[test]
fn vacuum_everything_then_insert_again() {
    let (data, queries) = clustered(1_000, 10, 8, 4, 33);
    let rel = build(&data);
    let stats = bulk_delete(&rel, &L2, |_| true).unwrap();
    assert_eq!((stats.deleted, stats.live), (1_000, 0));
    let report = verify(&rel, &L2).unwrap();
    assert_eq!((report.live, report.deleted), (0, 1_000));
    assert!(report.reachable_heap_tids.is_empty());
    let pages = PageGraph::open(&rel, L2).unwrap();
    assert!(!pages.meta().entry.is_valid());
    for q in &queries {
        assert!(pages.search(q, 10, 40).is_empty());
        assert_eq!(pages.search_iter(q, 10, ScanOrder::Relaxed).count(), 0);
    }
    for (id, v) in data.iter().enumerate().take(300) {
        let t = heap_tid(id + 1_000);
        insert(&rel, &L2, v, t, graph_level(7, id as u64, 16)).unwrap();
    }
    let report = verify(&rel, &L2).unwrap();
    // The layer-0 ones took over freed tuples (the first into an empty graph).
    assert_eq!(report.live, 300);
    assert!(report.deleted < 1_000 - 250, "{} deleted left", report.deleted);
    assert_no_dead_results(&rel, &queries, |t| id_of(t) < 1_000);
}

#[test]
fn vacuum_while_scanning() {
    let (data, queries) = clustered(3_000, 40, 16, 8, 34);
    let rel = build(&data);
    std::thread::scope(|s| {
        for chunk in queries.chunks(10) {
            let rel = &rel;
            s.spawn(move || {
                for _ in 0..5 {
                    let pages = PageGraph::open(rel, L2).unwrap();
                    for q in chunk {
                        pages.search(q, 10, 40);
                        pages
                            .search_iter(q, 20, ScanOrder::Relaxed)
                            .take(200)
                            .count();
                    }
                }
            });
        }
        s.spawn(|| bulk_delete(&rel, &L2, third).unwrap());
    });
    verify(&rel, &L2).unwrap();
    assert_no_dead_results(&rel, &queries, third);
}

#[test]
fn vacuum_while_inserting() {
    let (data, queries) = clustered(3_000, 20, 16, 8, 35);
    let rel = build(&data[..2_000]);
    std::thread::scope(|s| {
        for t in 0..2 {
            let (rel, data) = (&rel, &data);
            s.spawn(move || {
                let start = 2_000 + t * 500;
                for (id, v) in data.iter().enumerate().skip(start).take(500) {
                    let level = graph_level(9, id as u64, 16);
                    insert(rel, &L2, v, heap_tid(id), level).unwrap();
                }
            });
        }
        s.spawn(|| bulk_delete(&rel, &L2, |t| id_of(t) < 2_000 && third(t)).unwrap());
    });
    let dead = |t: Tid| id_of(t) < 2_000 && third(t);
    assert_no_dead_results(&rel, &queries, dead);
    // A second vacuum repairs whatever the concurrent inserts linked to
    // elements deleted under them.
    bulk_delete(&rel, &L2, dead).unwrap();
    let report = verify(&rel, &L2).unwrap();
    println!(
        "after concurrent vacuum + inserts: live {}, deleted {}",
        report.live, report.deleted
    );
}

/// Rows inserted after the build survive a vacuum that deletes every row
/// of the build: they stay linked to each other through the repair.
#[test]
fn vacuum_the_build_keeps_later_inserts() {
    let (data, queries) = clustered(3_000, 50, 16, 8, 36);
    let rel = build(&data[..2_000]);
    for (id, v) in data.iter().enumerate().skip(2_000) {
        insert(&rel, &L2, v, heap_tid(id), graph_level(5, id as u64, 16)).unwrap();
    }
    let old = |t: Tid| id_of(t) < 2_000;
    let stats = bulk_delete(&rel, &L2, old).unwrap();
    assert_eq!((stats.deleted, stats.live), (2_000, 1_000));
    let report = verify(&rel, &L2).unwrap();
    assert_eq!(report.reachable_heap_tids.len(), 1_000);
    let seen = assert_no_dead_results(&rel, &queries[..5], old);
    assert_eq!(seen.len(), 1_000);
}
