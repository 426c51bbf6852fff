//! Behaviour of the in-memory graph: edge cases, determinism, iterative scans.

mod common;

use common::{clustered, exact_topk};
use hnsw::graph_level;
use hnsw::{Hnsw, HnswError, HnswParams, ScanOrder, L2};

fn build(data: &[Vec<f32>], params: HnswParams) -> Hnsw<L2> {
    let mut g = Hnsw::new(data[0].len(), params, L2);
    for v in data {
        g.insert(v).unwrap();
    }
    g
}

#[test]
fn empty_graph_finds_nothing() {
    let g = Hnsw::new(4, HnswParams::default(), L2);
    assert!(g.is_empty());
    assert!(g.search(&[0.0; 4], 10, 40).is_empty());
    assert_eq!(g.search_iter(&[0.0; 4], 40, ScanOrder::Strict).count(), 0);
}

#[test]
fn single_node() {
    let mut g = Hnsw::new(3, HnswParams::default(), L2);
    assert_eq!(g.insert(&[1.0, 2.0, 3.0]), Ok(0));
    assert_eq!(g.search(&[1.0, 2.0, 4.0], 10, 40), vec![(0, 1.0)]);
    assert_eq!(g.search_iter(&[0.0; 3], 1, ScanOrder::Relaxed).count(), 1);
}

#[test]
fn dimension_mismatch_is_an_error() {
    let mut g = Hnsw::new(3, HnswParams::default(), L2);
    assert_eq!(
        g.insert(&[1.0]),
        Err(HnswError::DimensionMismatch {
            expected: 3,
            found: 1
        })
    );
    assert!(HnswParams::new_checked(1, 64, 0).is_err());
    assert!(HnswParams::new_checked(16, 2, 0).is_err());
}

#[test]
fn duplicates_are_all_found() {
    let mut data = vec![vec![0.5f32; 8]; 300];
    data.extend((0..300).map(|i| vec![i as f32; 8]));
    let g = build(&data, HnswParams::default());
    let found = g.search(&[0.5; 8], 300, 400);
    assert_eq!(
        found.iter().filter(|&&(_, d)| d == 0.0).count(),
        300,
        "{found:?}"
    );
    assert!(found.iter().all(|&(id, d)| id < 300 && d == 0.0));
    // Every element, duplicate or not, is reachable by a full scan.
    let mut all: Vec<u32> = g
        .search_iter(&[0.5; 8], 16, ScanOrder::Relaxed)
        .map(|(id, _)| id)
        .collect();
    all.sort_unstable();
    let missing: Vec<u32> = (0..600).filter(|i| all.binary_search(i).is_err()).collect();
    assert!(missing.is_empty(), "unreachable: {missing:?}");
}

#[test]
fn same_seed_same_graph() {
    let (data, queries) = clustered(2_000, 20, 16, 8, 7);
    let (a, b) = (
        build(&data, HnswParams::default()),
        build(&data, HnswParams::default()),
    );
    for id in 0..data.len() as u32 {
        assert_eq!(a.level(id), b.level(id));
        for l in 0..=a.level(id) {
            assert_eq!(a.links(id, l), b.links(id, l));
        }
    }
    for q in &queries {
        assert_eq!(a.search(q, 10, 40), b.search(q, 10, 40));
    }
    let c = build(
        &data,
        HnswParams {
            seed: 99,
            ..HnswParams::default()
        },
    );
    assert!((0..data.len() as u32).any(|id| a.level(id) != c.level(id)));
}

#[test]
fn levels_follow_the_geometric_law() {
    let levels: Vec<usize> = (0..100_000u64).map(|i| graph_level(1, i, 16)).collect();
    let above0 = levels.iter().filter(|&&l| l >= 1).count() as f64 / 1e5;
    assert!((above0 - 1.0 / 16.0).abs() < 0.01, "{above0}");
    assert_eq!(graph_level(1, 5, 16), graph_level(1, 5, 16));
}

#[test]
fn neighbour_lists_respect_capacity() {
    let (data, _) = clustered(3_000, 0, 8, 4, 3);
    let params = HnswParams {
        m: 6,
        ..HnswParams::default()
    };
    let g = build(&data, params);
    for id in 0..g.len() as u32 {
        for l in 0..=g.level(id) {
            let links = g.links(id, l);
            assert!(links.len() <= params.max_neighbours(l));
            assert!(!links.contains(&id));
        }
    }
}

#[test]
fn iterative_scan_goes_past_ef_in_order() {
    let (data, queries) = clustered(3_000, 10, 16, 8, 11);
    let g = build(&data, HnswParams::default());
    for q in &queries {
        let first_batch: Vec<(u32, f32)> =
            g.search_iter(q, 20, ScanOrder::Relaxed).take(20).collect();
        assert_eq!(
            first_batch,
            g.search(q, 20, 20),
            "first batch is the ef beam search"
        );
        let strict: Vec<(u32, f32)> = g.search_iter(q, 20, ScanOrder::Strict).take(500).collect();
        assert!(
            strict.len() >= 450,
            "strict scan went past ef: {}",
            strict.len()
        );
        assert!(strict.windows(2).all(|w| w[0].1 <= w[1].1), "strict order");
        // The first 200 of the scan are nearly the exact first 200.
        let truth = exact_topk(&data, q, 200, distance::l2_squared);
        let hits = strict[..200]
            .iter()
            .filter(|(id, _)| truth.contains(id))
            .count();
        assert!(hits >= 190, "iterative scan recall@200 {hits}/200");
        let relaxed: Vec<u32> = g
            .search_iter(q, 20, ScanOrder::Relaxed)
            .map(|(id, _)| id)
            .collect();
        let mut sorted = relaxed.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), relaxed.len(), "no element twice");
        assert_eq!(
            relaxed.len(),
            data.len(),
            "relaxed scan reaches every element"
        );
    }
}

#[test]
fn filling_from_in_links_appends_the_closest_in_links() {
    use hnsw::Distance;
    let (data, queries) = clustered(3_000, 100, 16, 10, 41);
    let params = HnswParams { m: 6, ..HnswParams::default() };
    let mut g = build(&data, params);
    let cap = 2 * params.m;
    let n = g.len() as u32;
    let before: Vec<Vec<u32>> = (0..n).map(|u| g.links(u, 0).to_vec()).collect();
    let mut in_links = vec![Vec::new(); n as usize];
    for (u, list) in before.iter().enumerate() {
        for &v in list {
            in_links[v as usize].push(u as u32);
        }
    }
    let recall_at = |g: &Hnsw<L2>| {
        let truth: Vec<Vec<u32>> = queries.iter().map(|q| exact_topk(&data, q, 10, |a, b| L2.distance(a, b))).collect();
        let found: Vec<Vec<u32>> = queries.iter().map(|q| g.search(q, 10, 10).into_iter().map(|(id, _)| id).collect()).collect();
        common::recall(&truth, &found)
    };
    let recall_before = recall_at(&g);
    let added = g.fill_from_in_links();
    assert!(added > 0, "m = 6 on clustered data leaves lists short");
    let mut total = 0;
    for v in 0..n {
        let (old, new) = (&before[v as usize], g.links(v, 0));
        assert!(new.starts_with(old), "element {v}: the heuristic's list stays first");
        let mut candidates: Vec<u32> = in_links[v as usize].iter().copied().filter(|u| !old.contains(u) && *u != v).collect();
        candidates.sort_by(|&a, &b| {
            let d = |u: u32| L2.distance(&data[v as usize], &data[u as usize]);
            d(a).total_cmp(&d(b))
        });
        candidates.dedup();
        let fill = &new[old.len()..];
        assert_eq!(fill.len(), candidates.len().min(cap.saturating_sub(old.len())), "element {v}");
        // The closest in-links, closest first (ties aside).
        for (i, &u) in fill.iter().enumerate() {
            let d = |u: u32| L2.distance(&data[v as usize], &data[u as usize]);
            assert!(in_links[v as usize].contains(&u), "element {v}: {u} does not link to it");
            assert!(d(u) <= d(candidates[i]) + 1e-6, "element {v}: fill {i} is not among the closest");
        }
        total += fill.len();
    }
    assert_eq!(total, added);
    let recall_after = recall_at(&g);
    assert!(recall_after >= recall_before - 0.01, "recall {recall_before} -> {recall_after}");
}
