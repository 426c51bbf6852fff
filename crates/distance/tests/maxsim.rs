//! The blocked MaxSim kernels against the naive reference, at every
//! instruction-set level the CPU supports, for random shapes (including
//! token counts that leave ragged tile edges and dims with tails).

mod common;

use distance::dispatch::Isa;
use distance::{maxsim, maxsim_naive, maxsim_with_isa};
use proptest::prelude::*;

/// A bag of `count` tokens of `dim` values in [-1, 1].
fn bag(dim: usize, count: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..dim * count)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// The tolerance: per query token, the rounding of a dot product is bounded
/// by `dim` ulps of the sum of |terms| <= dim for values in [-1, 1].
fn close(a: f32, b: f32, dim: usize, nq: usize) -> bool {
    (a - b).abs() <= 1e-5 * (dim * nq) as f32 + 1e-6
}

proptest! {
    #![proptest_config(common::config(256))]

    #[test]
    fn blocked_equals_naive(dim in 1usize..200, nd in 0usize..23, nq in 0usize..11, seed in any::<u64>()) {
        let doc = bag(dim, nd, seed);
        let query = bag(dim, nq, seed ^ 0xDEAD_BEEF);
        let want = maxsim_naive(dim, &doc, &query);
        for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
            let got = maxsim_with_isa(isa, dim, &doc, &query);
            if nd == 0 && nq > 0 {
                prop_assert!(got == f32::NEG_INFINITY && want == f32::NEG_INFINITY);
            } else {
                prop_assert!(close(got, want, dim, nq), "{isa:?} dim {dim} nd {nd} nq {nq}: {got} vs {want}");
            }
        }
        if nd > 0 {
            prop_assert!(close(maxsim(dim, &doc, &query), want, dim, nq));
        }
    }
}

#[test]
fn hand_computed() {
    // doc tokens [1,2] [3,4] [-1,0]; query tokens [1,1] [0,-1] [2,0]:
    // max(3,7,-1) + max(-2,-4,0) + max(2,6,-2) = 7 + 0 + 6
    let doc = [1.0, 2.0, 3.0, 4.0, -1.0, 0.0];
    let query = [1.0, 1.0, 0.0, -1.0, 2.0, 0.0];
    for isa in Isa::ALL {
        assert_eq!(maxsim_with_isa(isa, 2, &doc, &query), 13.0);
    }
    // asymmetric
    assert_eq!(maxsim(2, &[1.0, 0.0, 0.0, 1.0], &[1.0, 0.0]), 1.0);
    assert_eq!(maxsim(2, &[1.0, 0.0], &[1.0, 0.0, 0.0, 1.0]), 1.0);
    assert_eq!(maxsim(2, &[1.0, 0.0], &[0.0, 1.0, 0.0, 1.0]), 0.0);
    assert_eq!(maxsim(0, &[], &[]), 0.0);
}

#[test]
fn tiles_cover_large_bags() {
    // 37 x 53 tokens of dim 131: full tiles plus every kind of edge.
    let (dim, nd, nq) = (131, 53, 37);
    let doc = bag(dim, nd, 7);
    let query = bag(dim, nq, 8);
    let want = maxsim_naive(dim, &doc, &query);
    for isa in Isa::ALL.into_iter().filter(|i| i.is_supported()) {
        let got = maxsim_with_isa(isa, dim, &doc, &query);
        assert!(close(got, want, dim, nq), "{isa:?}: {got} vs {want}");
    }
}
