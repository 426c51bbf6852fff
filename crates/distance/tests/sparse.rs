//! Sparse kernels against the dense scalar reference on the dense expansion
//! of both vectors (over the union of their indices), for random index sets
//! that partly overlap, and for disjoint, identical and interleaved sets.

mod common;

use common::*;
use distance::{scalar, sparse_cosine_distance, sparse_dot, sparse_l1, sparse_l2_squared};
use proptest::prelude::*;

const CASES: u32 = 512;

/// Checks all four sparse kernels of `a` and `b` against their expansion.
fn check_against_dense(a: &Sparse, b: &Sparse) -> Result<(), TestCaseError> {
    let (da, db) = densify(a, b);
    let [l2_abs, dot_abs, l1_abs, _] = sums_abs(&da, &db);
    let (ai, av, bi, bv) = (&a.0[..], &a.1[..], &b.0[..], &b.1[..]);
    assert_close(
        "sparse_dot",
        sparse_dot(ai, av, bi, bv),
        scalar::dot(&da, &db),
        dot_abs,
    )?;
    let l2 = sparse_l2_squared(ai, av, bi, bv);
    assert_close(
        "sparse_l2_squared",
        l2,
        scalar::l2_squared(&da, &db),
        l2_abs,
    )?;
    assert_close(
        "sparse_l1",
        sparse_l1(ai, av, bi, bv),
        scalar::l1(&da, &db),
        l1_abs,
    )?;
    let cosine = sparse_cosine_distance(ai, av, bi, bv);
    assert_cosine_close(
        "sparse_cosine_distance",
        cosine,
        scalar::cosine_distance(&da, &db),
    )?;
    // The kernels are symmetric.
    prop_assert_eq!(
        sparse_dot(bi, bv, ai, av).to_bits(),
        sparse_dot(ai, av, bi, bv).to_bits()
    );
    prop_assert_eq!(sparse_l2_squared(bi, bv, ai, av).to_bits(), l2.to_bits());
    Ok(())
}

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn overlapping_sets_match_dense((a, b) in sparse_pair()) {
        check_against_dense(&a, &b)?;
    }

    #[test]
    fn identical_sets_match_dense((a, b) in sparse_pair()) {
        // Same indices as `a`, values of `b` recycled.
        let recycled = b.1.iter().copied().cycle().chain(std::iter::repeat(1.5));
        let same = (a.0.clone(), recycled.take(a.1.len()).collect());
        check_against_dense(&a, &same)?;
        check_against_dense(&a, &a)?;
        prop_assert_eq!(sparse_l2_squared(&a.0, &a.1, &a.0, &a.1), 0.0);
    }

    #[test]
    fn disjoint_sets_match_dense((a, _b) in sparse_pair()) {
        // Split one set into even and odd positions: disjoint and interleaved.
        let entries = a.0.iter().copied().zip(a.1.iter().copied());
        let (even, odd): (Vec<_>, Vec<_>) = entries.enumerate().partition(|(k, _)| k % 2 == 0);
        let unzip = |part: Vec<(usize, (u32, f32))>| part.into_iter().map(|(_, e)| e).unzip();
        let (even, odd): (Sparse, Sparse) = (unzip(even), unzip(odd));
        check_against_dense(&even, &odd)?;
        prop_assert_eq!(sparse_dot(&even.0, &even.1, &odd.0, &odd.1), 0.0);
    }
}

#[test]
fn fixed_cases() {
    let run = |a: (&[u32], &[f32]), b: (&[u32], &[f32])| {
        let (a, b) = ((a.0.to_vec(), a.1.to_vec()), (b.0.to_vec(), b.1.to_vec()));
        check_against_dense(&a, &b).unwrap();
    };
    // Disjoint blocks, one before the other (tails of both loops).
    run((&[0, 1, 2], &[1.0, 2.0, 3.0]), (&[10, 11], &[4.0, 5.0]));
    run((&[10, 11], &[4.0, 5.0]), (&[0, 1, 2], &[1.0, 2.0, 3.0]));
    // Interleaved with some shared indices, indices near u32::MAX.
    let top = u32::MAX;
    run(
        (&[top - 6, top - 4, top - 2, top], &[1.0, -2.0, 3.0, 4.0]),
        (&[top - 5, top - 4, top], &[7.0, 0.5, -1.0]),
    );
    // Empty operands.
    run((&[], &[]), (&[3], &[2.0]));
    run((&[], &[]), (&[], &[]));

    assert_eq!(
        sparse_dot(
            &[1, 5, 9],
            &[1.0, 2.0, 3.0],
            &[5, 9, 12],
            &[10.0, 100.0, 7.0]
        ),
        320.0
    );
    assert_eq!(
        sparse_l2_squared(&[1, 5], &[1.0, 2.0], &[5, 7], &[4.0, 3.0]),
        1.0 + 4.0 + 9.0
    );
    assert_eq!(
        sparse_l1(&[1, 5], &[1.0, 2.0], &[5, 7], &[4.0, -3.0]),
        1.0 + 2.0 + 3.0
    );
    assert!(sparse_cosine_distance(&[], &[], &[1], &[1.0]).is_nan());
    assert!(sparse_cosine_distance(&[1], &[0.0], &[1], &[1.0]).is_nan());
    let opposite = sparse_cosine_distance(&[2, 4], &[1.0, 2.0], &[2, 4], &[-1.0, -2.0]);
    assert!((opposite - 2.0).abs() < 1e-12, "{opposite}");
    assert_eq!(sparse_cosine_distance(&[2], &[1.0], &[3], &[1.0]), 1.0);
}
