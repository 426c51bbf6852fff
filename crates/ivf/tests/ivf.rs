//! The IVF page format on an in-memory relation: create, append, scan,
//! vacuum (space reuse), verify, concurrent appends, format errors.

use ivf::{
    append, bulk_delete, create, read_centroids, read_entry, read_meta, scan_list, scan_list_placed, verify, Centroid, IvfError, Meta, Tid,
};
use pagestore::{MemRelation, RelationRead, RelationWrite};

const DIMS: usize = 4;

fn heap(i: u32) -> Tid {
    Tid { blk: i / 100, off: (i % 100) as u16 + 1 }
}

fn meta(lists: u32, entry_words: u16) -> Meta {
    Meta { dims: DIMS as u16, entry_words, lists, metric_id: 3, storage: 1, centroid_blk: 0, built_entries: 0 }
}

fn new_index(lists: u32, entry_words: u16) -> (MemRelation, Vec<Centroid>) {
    let rel = MemRelation::new();
    let centroids: Vec<f32> = (0..lists as usize * DIMS).map(|i| i as f32).collect();
    create(&rel, meta(lists, entry_words), &centroids).unwrap();
    let lists = centroids_of(&rel);
    (rel, lists)
}

fn centroids_of(rel: &MemRelation) -> Vec<Centroid> {
    let meta = read_meta(rel).unwrap();
    let mut out = Vec::new();
    read_centroids(rel, &meta, |c, v| {
        assert_eq!(v[0], (c.list as usize * DIMS) as f32);
        out.push(c);
    })
    .unwrap();
    out
}

fn words(i: u32, n: usize) -> Vec<f32> {
    (0..n).map(|j| (i * 31 + j as u32) as f32).collect()
}

fn entries_of(rel: &MemRelation, c: &Centroid, n: usize) -> Vec<(Tid, Vec<f32>)> {
    let c = centroids_of(rel).into_iter().find(|x| x.list == c.list).unwrap();
    let mut out = Vec::new();
    scan_list(rel, c.head_blk, n, |t, w| out.push((t, w.to_vec()))).unwrap();
    out
}

fn add(rel: &MemRelation, c: &Centroid, ids: std::ops::Range<u32>, n: usize) {
    let owned: Vec<(Tid, Vec<f32>)> = ids.map(|i| (heap(i), words(i, n))).collect();
    let refs: Vec<(Tid, &[f32])> = owned.iter().map(|(t, w)| (*t, w.as_slice())).collect();
    append(rel, c.tid, &refs, ids_end_radius(&owned)).unwrap();
}

/// A radius for test entries: their largest first word.
fn ids_end_radius(owned: &[(Tid, Vec<f32>)]) -> f32 {
    owned.iter().map(|(_, w)| w[0]).fold(0.0, f32::max)
}

#[test]
fn many_centroids_span_pages_and_lists_start_empty() {
    let (rel, lists) = new_index(300, 8);
    assert_eq!(lists.len(), 300);
    assert!(lists.iter().all(|c| c.head_blk == u32::MAX));
    assert!(lists.last().unwrap().tid.blk > 1, "centroids continue on chained pages");
    let report = verify(&rel).unwrap();
    assert_eq!((report.lists, report.entries), (300, 0));
}

#[test]
fn appends_fill_pages_then_chain_new_ones_and_scans_see_everything() {
    let (rel, lists) = new_index(3, 100);
    add(&rel, &lists[1], 0..50, 100);
    add(&rel, &lists[1], 50..120, 100);
    add(&rel, &lists[2], 500..505, 100);
    let got = entries_of(&rel, &lists[1], 100);
    assert_eq!(got.len(), 120);
    for (i, (t, w)) in got.iter().enumerate() {
        assert_eq!((*t, w.clone()), (heap(i as u32), words(i as u32, 100)));
    }
    let c = &centroids_of(&rel)[1];
    assert_ne!(c.head_blk, c.insert_blk, "appends moved on to the tail");
    let report = verify(&rel).unwrap();
    assert_eq!(report.entries, 125);
    assert!(report.pages >= 120 * 408 / 8192 + 1);
    assert_eq!(report.heap_tids.len(), 125);
    assert!(entries_of(&rel, &lists[0], 100).is_empty());
}

#[test]
fn vacuum_removes_dead_entries_and_appends_reuse_the_room() {
    let (rel, lists) = new_index(2, 100);
    add(&rel, &lists[0], 0..200, 100);
    let before = rel.nblocks();
    let stats = bulk_delete(&rel, |t| (t.blk * 100 + u32::from(t.off) - 1) % 2 == 0).unwrap();
    assert_eq!((stats.deleted, stats.live), (100, 100));
    let left = entries_of(&rel, &lists[0], 100);
    assert_eq!(left.len(), 100);
    assert!(left.iter().all(|(t, _)| (t.blk * 100 + u32::from(t.off) - 1) % 2 == 1));
    let c = &centroids_of(&rel)[0];
    assert_eq!(c.insert_blk, c.head_blk, "appends start at the first page with room");
    add(&rel, &lists[0], 1000..1090, 100);
    assert_eq!(rel.nblocks(), before, "freed room was reused");
    assert_eq!(verify(&rel).unwrap().entries, 190);
}

#[test]
fn concurrent_appends_to_one_list_lose_nothing() {
    let (rel, lists) = new_index(1, 30);
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let (rel, c) = (&rel, lists[0]);
            s.spawn(move || {
                for i in 0..100 {
                    add(rel, &c, t * 1000 + i..t * 1000 + i + 1, 30);
                }
            });
        }
    });
    let report = verify(&rel).unwrap();
    assert_eq!(report.entries, 400);
    let mut want: Vec<Tid> = (0..4).flat_map(|t| (0..100).map(move |i| heap(t * 1000 + i))).collect();
    want.sort();
    assert_eq!(report.heap_tids, want);
}

#[test]
fn bad_input_and_format_errors_are_reported() {
    let rel = MemRelation::new();
    assert!(matches!(create(&rel, meta(2, 4), &[1.0; 3]), Err(IvfError::BadInput(_))));
    let (rel, lists) = new_index(1, 4);
    assert!(matches!(create(&rel, meta(1, 4), &[0.0; 4]), Err(IvfError::NotEmpty)));
    let huge = vec![0.0; 3000];
    assert!(matches!(append(&rel, lists[0].tid, &[(heap(1), &huge[..])], 0.0), Err(IvfError::TupleTooLarge(_))));
    {
        let mut guard = rel.write(0);
        let m = pagestore::page::item_mut(&mut guard, 1).unwrap();
        m[4..8].copy_from_slice(&9u32.to_le_bytes());
    }
    let err = read_meta(&rel).unwrap_err();
    assert_eq!(err.to_string(), "index format version 9, expected 2: REINDEX");
}

#[test]
fn verify_reports_a_page_in_two_lists() {
    let (rel, lists) = new_index(2, 4);
    add(&rel, &lists[0], 0..3, 4);
    add(&rel, &lists[1], 3..6, 4);
    let first = centroids_of(&rel)[0];
    // Point list 1 at list 0's page.
    {
        let mut guard = rel.write(lists[1].tid.blk);
        let t = pagestore::page::item_mut(&mut guard, lists[1].tid.off).unwrap();
        t[4..8].copy_from_slice(&first.head_blk.to_le_bytes());
        t[8..12].copy_from_slice(&first.head_blk.to_le_bytes());
    }
    let err = verify(&rel).unwrap_err();
    assert!(err.to_string().contains("is in list 0 and list 1"), "{err}");
}

#[test]
fn list_radii_only_grow_and_nan_makes_them_unbounded() {
    let (rel, lists) = new_index(2, 4);
    let radius = |list: usize| centroids_of(&rel)[list].radius;
    assert_eq!(radius(0), 0.0);
    let v = words(1, 4);
    append(&rel, lists[0].tid, &[(heap(1), &v[..])], 2.5).unwrap();
    assert_eq!(radius(0), 2.5);
    append(&rel, lists[0].tid, &[(heap(2), &v[..])], 1.0).unwrap();
    assert_eq!(radius(0), 2.5, "a smaller radius leaves the list's alone");
    assert_eq!(radius(1), 0.0);
    append(&rel, lists[1].tid, &[(heap(3), &v[..])], f32::NAN).unwrap();
    assert_eq!(radius(1), f32::INFINITY);
    verify(&rel).unwrap();
}

/// A scan that reads a returned entry again finds it at the place the list
/// scan gave, with its heap TID and words; after a VACUUM compacts the
/// page, the place may hold another entry (the caller checks the heap TID)
/// or none.
#[test]
fn entries_are_read_again_at_their_place() {
    let (rel, lists) = new_index(1, 8);
    add(&rel, &lists[0], 0..300, 8);
    let mut placed = Vec::new();
    let head = centroids_of(&rel)[0].head_blk;
    scan_list_placed(&rel, head, 8, |at, heap, w| placed.push((at, heap, w.to_vec()))).unwrap();
    assert_eq!(placed.len(), 300);
    for (at, heap, w) in &placed {
        assert_eq!(read_entry(&rel, *at, |h, v| (h, v.to_vec())).unwrap(), Some((*heap, w.clone())));
    }
    bulk_delete(&rel, |t| (t.blk * 100 + u32::from(t.off) - 1) % 3 == 0).unwrap();
    let moved = placed
        .iter()
        .filter(|(at, heap, _)| read_entry(&rel, *at, |h, _| h).unwrap() != Some(*heap))
        .count();
    assert!(moved > 0, "a VACUUM moves entries");
    let past_the_end = Tid { blk: placed[0].0.blk, off: 1000 };
    assert_eq!(read_entry(&rel, past_the_end, |h, _| h).unwrap(), None);
}
