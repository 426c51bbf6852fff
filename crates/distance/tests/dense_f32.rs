//! Property tests: every dense `f32` kernel at every instruction-set level
//! this CPU supports (and the dispatched entry point) against the scalar
//! reference, which is itself checked against an f64 computation.

mod common;

use common::*;
use distance::scalar;
use proptest::prelude::*;

const CASES: u32 = 512;

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn l2_squared_matches_reference((a, b) in f32_pair()) {
        let want = scalar::l2_squared(&a, &b);
        let [sum_abs, ..] = sums_abs(&a, &b);
        assert_close("scalar vs f64", want, sum_abs as f32, sum_abs)?;
        for level in levels() {
            assert_close(level.isa().name(), level.l2_squared(&a, &b), want, sum_abs)?;
        }
        assert_close("dispatched", distance::l2_squared(&a, &b), want, sum_abs)?;
    }

    #[test]
    fn dot_matches_reference((a, b) in f32_pair()) {
        let want = scalar::dot(&a, &b);
        let [_, sum_abs, ..] = sums_abs(&a, &b);
        let exact: f64 = a.iter().zip(&b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum();
        assert_close("scalar vs f64", want, exact as f32, sum_abs)?;
        for level in levels() {
            assert_close(level.isa().name(), level.dot(&a, &b), want, sum_abs)?;
        }
        assert_close("dispatched", distance::dot(&a, &b), want, sum_abs)?;
    }

    #[test]
    fn l1_matches_reference((a, b) in f32_pair()) {
        let want = scalar::l1(&a, &b);
        let [_, _, sum_abs, _] = sums_abs(&a, &b);
        assert_close("scalar vs f64", want, sum_abs as f32, sum_abs)?;
        for level in levels() {
            assert_close(level.isa().name(), level.l1(&a, &b), want, sum_abs)?;
        }
        assert_close("dispatched", distance::l1(&a, &b), want, sum_abs)?;
    }

    #[test]
    fn norm_squared_matches_reference((a, b) in f32_pair()) {
        let want = scalar::norm_squared(&a);
        let [.., sum_abs] = sums_abs(&a, &b);
        assert_close("scalar vs f64", want, sum_abs as f32, sum_abs)?;
        for level in levels() {
            assert_close(level.isa().name(), level.norm_squared(&a), want, sum_abs)?;
        }
        assert_close("dispatched", distance::norm_squared(&a), want, sum_abs)?;
    }

    #[test]
    fn cosine_distance_matches_reference((a, b) in f32_pair()) {
        let want = scalar::cosine_distance(&a, &b);
        for level in levels() {
            assert_cosine_close(level.isa().name(), level.cosine_distance(&a, &b), want)?;
        }
        assert_cosine_close("dispatched", distance::cosine_distance(&a, &b), want)?;
        // A vector against itself: distance 0 up to rounding, never negative.
        for level in levels() {
            let own = level.cosine_distance(&a, &a);
            let name = level.isa().name();
            prop_assert!(own.is_nan() || (0.0..=COSINE_ABS).contains(&own), "{name}: {own}");
        }
    }
}
