//! Property tests on small random graphs (integer coordinates, so exact
//! duplicates and distance ties are common).

use hnsw::{Hnsw, HnswParams, ScanOrder, L2};
use proptest::prelude::*;

fn graph(data: &[Vec<f32>], dims: usize, m: usize) -> Hnsw<L2> {
    let params = HnswParams {
        m,
        ef_construction: 16,
        seed: 3,
    };
    let mut g = Hnsw::new(dims, params, L2);
    for v in data {
        g.insert(v).unwrap();
    }
    g
}

fn dataset() -> impl Strategy<Value = (usize, Vec<Vec<f32>>, Vec<f32>)> {
    (1usize..5).prop_flat_map(|dims| {
        let point = prop::collection::vec((-4i8..4).prop_map(f32::from), dims);
        (
            Just(dims),
            prop::collection::vec(point.clone(), 1..120),
            point,
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn search_is_sorted_with_true_distances((dims, data, q) in dataset(), m in 2usize..8, k in 1usize..20) {
        let g = graph(&data, dims, m);
        let found = g.search(&q, k, 16);
        prop_assert!(found.len() <= k && !found.is_empty());
        prop_assert!(found.windows(2).all(|w| w[0].1 <= w[1].1));
        for &(id, d) in &found {
            prop_assert_eq!(d, distance::l2_squared(&q, &data[id as usize]));
        }
        prop_assert_eq!(found, graph(&data, dims, m).search(&q, k, 16), "deterministic");
    }

    #[test]
    fn scans_never_repeat_and_strict_never_goes_back((dims, data, q) in dataset(), m in 2usize..8, ef in 1usize..12) {
        let g = graph(&data, dims, m);
        let relaxed: Vec<u32> = g.search_iter(&q, ef, ScanOrder::Relaxed).map(|(id, _)| id).collect();
        let mut unique = relaxed.clone();
        unique.sort_unstable();
        unique.dedup();
        prop_assert_eq!(unique.len(), relaxed.len());
        prop_assert!(relaxed.len() <= data.len());
        let strict: Vec<f32> = g.search_iter(&q, ef, ScanOrder::Strict).map(|(_, d)| d).collect();
        prop_assert!(strict.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn links_stay_within_capacity((dims, data, _q) in dataset(), m in 2usize..8) {
        let g = graph(&data, dims, m);
        for id in 0..g.len() as u32 {
            for l in 0..=g.level(id) {
                prop_assert!(g.links(id, l).len() <= g.params().max_neighbours(l));
                prop_assert!(!g.links(id, l).contains(&id));
            }
        }
    }
}
