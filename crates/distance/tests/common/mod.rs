//! Shared strategies and tolerance checks of the property tests.
//!
//! SIMD kernels add in a different order than the scalar reference, so
//! results are compared with a tolerance relative to `Σ |term|` (computed in
//! f64): that is the scale of the rounding error of any summation order,
//! whereas a tolerance relative to the result itself would fail on
//! cancellation (e.g. a dot product near zero).

#![allow(dead_code)] // each test binary uses a different subset

use distance::dispatch::Kernels;
use half::f16;
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;

/// Relative tolerance on `Σ |term|`.
pub const REL: f64 = 1e-5;
/// Absolute slack for sums made only of subnormal or zero terms.
pub const ABS: f64 = 1e-30;
/// Absolute tolerance on cosine distances (which live in `[0, 2]`): the dot
/// and both norms each carry a relative error of about `REL`, and
/// `Σ |a_i b_i| <= |a| |b|`, so the similarity is off by a few `REL` at most.
pub const COSINE_ABS: f64 = 1e-4;

/// Proptest configuration: enough cases to hit every tail length many times,
/// few enough for a debug build to finish in seconds.
pub fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Every kernel table this CPU can run (scalar, AVX2, AVX-512 ...).
pub fn levels() -> Vec<&'static Kernels> {
    Kernels::all_supported()
}

/// An `f32` from a mix of ranges: ordinary, tiny normal (a few
/// `MIN_POSITIVE`), subnormal, zero and large (squares and sums of 4096 of
/// them still far from overflow).
pub fn f32_value() -> impl Strategy<Value = f32> {
    prop_oneof![
        8 => -10.0f32..10.0,
        1 => (-4.0f32..4.0).prop_map(|k| k * f32::MIN_POSITIVE),
        1 => (1u32..0x0080_0000, any::<bool>())
            .prop_map(|(bits, negative)| f32::from_bits(bits | (u32::from(negative) << 31))),
        1 => Just(0.0f32),
        1 => -1e15f32..1e15,
    ]
}

/// An `f16` from the same kinds of ranges, within the finite f16 range.
pub fn f16_value() -> impl Strategy<Value = f16> {
    prop_oneof![
        8 => (-10.0f32..10.0).prop_map(f16::from_f32),
        1 => (-4.0f32..4.0).prop_map(|k| f16::from_f32(k * f16::MIN_POSITIVE.to_f32())),
        1 => (1u16..0x0400, any::<bool>())
            .prop_map(|(bits, negative)| f16::from_bits(bits | (u16::from(negative) << 15))),
        1 => Just(f16::ZERO),
        1 => (-65504.0f32..65504.0).prop_map(f16::from_f32),
    ]
}

/// Longest generated dense vector (exclusive).
pub const MAX_LEN: usize = 4096;
/// Vectors up to this length are built element by element by proptest (so a
/// failure shrinks to minimal values); longer ones are expanded from a seed,
/// because element-wise generation of thousands of values per case is what
/// dominated the run time of a debug build. Lengths still shrink.
const ELEMENTWISE_MAX_LEN: usize = 80;

/// Two vectors of one random length in `1..MAX_LEN`.
pub fn f32_pair() -> impl Strategy<Value = (Vec<f32>, Vec<f32>)> {
    let small = (1..ELEMENTWISE_MAX_LEN)
        .prop_flat_map(|len| (vec(f32_value(), len), vec(f32_value(), len)));
    let large = (ELEMENTWISE_MAX_LEN..MAX_LEN, any::<u64>()).prop_map(|(len, seed)| {
        let mut rng = SplitMix64(seed);
        let mut draw = || (0..len).map(|_| rng.mixed_f32()).collect::<Vec<f32>>();
        (draw(), draw())
    });
    prop_oneof![1 => small, 3 => large]
}

/// Two half-precision vectors of one random length in `1..MAX_LEN`.
pub fn f16_pair() -> impl Strategy<Value = (Vec<f16>, Vec<f16>)> {
    let small = (1..ELEMENTWISE_MAX_LEN)
        .prop_flat_map(|len| (vec(f16_value(), len), vec(f16_value(), len)));
    let large = (ELEMENTWISE_MAX_LEN..MAX_LEN, any::<u64>()).prop_map(|(len, seed)| {
        let mut rng = SplitMix64(seed);
        let mut draw = || (0..len).map(|_| rng.mixed_f16()).collect::<Vec<f16>>();
        (draw(), draw())
    });
    prop_oneof![1 => small, 3 => large]
}

/// Small deterministic generator for the seeded vectors (SplitMix64).
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[-1, 1)`.
    fn signed_unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }

    /// An `f32` with the same mix of ranges and weights as [`f32_value`].
    pub fn mixed_f32(&mut self) -> f32 {
        match self.next_u64() % 12 {
            0..=7 => 10.0 * self.signed_unit(),
            8 => 4.0 * self.signed_unit() * f32::MIN_POSITIVE,
            9 => {
                let bits = self.next_u64();
                f32::from_bits((bits as u32 % 0x007F_FFFF + 1) | ((bits >> 63) as u32) << 31)
            }
            10 => 0.0,
            _ => 1e15 * self.signed_unit(),
        }
    }

    /// An `f16` with the same mix of ranges and weights as [`f16_value`].
    pub fn mixed_f16(&mut self) -> f16 {
        match self.next_u64() % 12 {
            0..=7 => f16::from_f32(10.0 * self.signed_unit()),
            8 => f16::from_f32(4.0 * self.signed_unit() * f16::MIN_POSITIVE.to_f32()),
            9 => {
                let bits = self.next_u64();
                f16::from_bits((bits as u16 % 0x03FF + 1) | ((bits >> 63) as u16) << 15)
            }
            10 => f16::ZERO,
            _ => f16::from_f32(65504.0 * self.signed_unit()),
        }
    }
}

/// A sparse vector: ascending indices from `[base, base + span)`, and values.
pub type Sparse = (Vec<u32>, Vec<f32>);

/// Two sparse vectors over a shared index window, so that their index sets
/// overlap partly; the window starts at 0, at 1, or anywhere up to `u32::MAX`.
pub fn sparse_pair() -> impl Strategy<Value = (Sparse, Sparse)> {
    let base = prop_oneof![Just(0u32), Just(1u32), any::<u32>()];
    (base, 1u32..2000).prop_flat_map(|(base, span)| {
        let base = base.min(u32::MAX - span);
        (sparse_in(base, span), sparse_in(base, span))
    })
}

fn sparse_in(base: u32, span: u32) -> impl Strategy<Value = Sparse> {
    let max_nnz = (span as usize).min(300);
    btree_set(0..span, 0..=max_nnz).prop_flat_map(move |offsets| {
        let indices: Vec<u32> = offsets.into_iter().map(|o| base + o).collect();
        let len = indices.len();
        (Just(indices), vec(f32_value(), len))
    })
}

/// Dense expansion of two sparse vectors over the union of their indices
/// (positions of that union, not raw indices, so any base fits in memory).
pub fn densify(a: &Sparse, b: &Sparse) -> (Vec<f32>, Vec<f32>) {
    let mut union: Vec<u32> = a.0.iter().chain(&b.0).copied().collect();
    union.sort_unstable();
    union.dedup();
    let expand = |(indices, values): &Sparse| {
        let mut dense = vec![0.0f32; union.len()];
        for (index, value) in indices.iter().zip(values) {
            let position = union.binary_search(index).expect("index is in the union");
            dense[position] = *value;
        }
        dense
    };
    (expand(a), expand(b))
}

/// Checks `got` against `want` with the relative-to-`Σ |term|` tolerance.
pub fn assert_close(what: &str, got: f32, want: f32, sum_abs: f64) -> Result<(), TestCaseError> {
    let error = (f64::from(got) - f64::from(want)).abs();
    let tolerance = REL * sum_abs + ABS;
    prop_assert!(
        error <= tolerance,
        "{what}: got {got:e}, want {want:e}, |error| {error:e} > tolerance {tolerance:e}"
    );
    Ok(())
}

/// Checks two cosine distances: both NaN, or equal within [`COSINE_ABS`] and
/// both inside `[0, 2]`.
pub fn assert_cosine_close(what: &str, got: f64, want: f64) -> Result<(), TestCaseError> {
    if want.is_nan() || got.is_nan() {
        prop_assert!(
            got.is_nan() && want.is_nan(),
            "{what}: got {got}, want {want}"
        );
        return Ok(());
    }
    prop_assert!((0.0..=2.0).contains(&got), "{what}: {got} outside [0, 2]");
    prop_assert!(
        (got - want).abs() <= COSINE_ABS,
        "{what}: got {got}, want {want}"
    );
    Ok(())
}

/// `Σ |(a_i - b_i)²|`, `Σ |a_i b_i|`, `Σ |a_i - b_i|`, `Σ a_i²` in f64: the
/// error scales of l2, dot, l1 and the norm of `a`.
pub fn sums_abs(a: &[f32], b: &[f32]) -> [f64; 4] {
    let mut sums = [0.0f64; 4];
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        sums[0] += (x - y) * (x - y);
        sums[1] += (x * y).abs();
        sums[2] += (x - y).abs();
        sums[3] += x * x;
    }
    sums
}

/// Widens a half-precision vector.
pub fn widen(a: &[f16]) -> Vec<f32> {
    a.iter().map(|x| x.to_f32()).collect()
}
