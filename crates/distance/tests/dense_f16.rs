//! Property tests: every half-precision kernel at every instruction-set
//! level this CPU supports (and the dispatched entry point) against the
//! scalar reference, and the reference against the `f32` kernels on the
//! widened vectors (exact widening, same summation order: equal results).

mod common;

use common::*;
use distance::scalar;
use proptest::prelude::*;

const CASES: u32 = 512;

proptest! {
    #![proptest_config(config(CASES))]

    #[test]
    fn l2_squared_f16_matches_reference((a, b) in f16_pair()) {
        let (wa, wb) = (widen(&a), widen(&b));
        let want = scalar::l2_squared_f16(&a, &b);
        prop_assert_eq!(want.to_bits(), scalar::l2_squared(&wa, &wb).to_bits());
        let [sum_abs, ..] = sums_abs(&wa, &wb);
        for level in levels() {
            assert_close(level.isa().name(), level.l2_squared_f16(&a, &b), want, sum_abs)?;
        }
        assert_close("dispatched", distance::l2_squared_f16(&a, &b), want, sum_abs)?;
    }

    #[test]
    fn dot_f16_matches_reference((a, b) in f16_pair()) {
        let (wa, wb) = (widen(&a), widen(&b));
        let want = scalar::dot_f16(&a, &b);
        prop_assert_eq!(want.to_bits(), scalar::dot(&wa, &wb).to_bits());
        let [_, sum_abs, ..] = sums_abs(&wa, &wb);
        for level in levels() {
            assert_close(level.isa().name(), level.dot_f16(&a, &b), want, sum_abs)?;
        }
        assert_close("dispatched", distance::dot_f16(&a, &b), want, sum_abs)?;
    }

    #[test]
    fn l1_f16_matches_reference((a, b) in f16_pair()) {
        let (wa, wb) = (widen(&a), widen(&b));
        let want = scalar::l1_f16(&a, &b);
        prop_assert_eq!(want.to_bits(), scalar::l1(&wa, &wb).to_bits());
        let [_, _, sum_abs, _] = sums_abs(&wa, &wb);
        for level in levels() {
            assert_close(level.isa().name(), level.l1_f16(&a, &b), want, sum_abs)?;
        }
        assert_close("dispatched", distance::l1_f16(&a, &b), want, sum_abs)?;
    }

    #[test]
    fn norm_squared_f16_matches_reference((a, b) in f16_pair()) {
        let (wa, wb) = (widen(&a), widen(&b));
        let want = scalar::norm_squared_f16(&a);
        prop_assert_eq!(want.to_bits(), scalar::norm_squared(&wa).to_bits());
        let [.., sum_abs] = sums_abs(&wa, &wb);
        for level in levels() {
            assert_close(level.isa().name(), level.norm_squared_f16(&a), want, sum_abs)?;
        }
        assert_close("dispatched", distance::norm_squared_f16(&a), want, sum_abs)?;
    }

    #[test]
    fn cosine_distance_f16_matches_reference((a, b) in f16_pair()) {
        let (wa, wb) = (widen(&a), widen(&b));
        let want = scalar::cosine_distance_f16(&a, &b);
        let widened = scalar::cosine_distance(&wa, &wb);
        prop_assert!(want.to_bits() == widened.to_bits() || (want.is_nan() && widened.is_nan()));
        for level in levels() {
            assert_cosine_close(level.isa().name(), level.cosine_distance_f16(&a, &b), want)?;
        }
        assert_cosine_close("dispatched", distance::cosine_distance_f16(&a, &b), want)?;
    }
}
