//! Plain-loop reference versions of the dense kernels.
//!
//! These are the baseline: straightforward sequential loops, one accumulator,
//! no manual unrolling. They serve as the fallback on CPUs without AVX2, as
//! the oracle of the property tests and as the denominator of the benchmark
//! ratios. Same names and semantics as the dispatched functions at the crate
//! root. `zip` stops at the shorter operand, so a length mismatch (a caller
//! bug, `debug_assert`ed) cannot read out of bounds.

use half::f16;

/// Squared Euclidean distance `Σ (a_i - b_i)²`.
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        let d = x - y;
        sum += d * d;
    }
    sum
}

/// Inner product `Σ a_i b_i`.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        sum += x * y;
    }
    sum
}

/// Manhattan distance `Σ |a_i - b_i|`.
pub fn l1(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        sum += (x - y).abs();
    }
    sum
}

/// Squared Euclidean norm `Σ a_i²`.
pub fn norm_squared(a: &[f32]) -> f32 {
    let mut sum = 0.0f32;
    for x in a {
        sum += x * x;
    }
    sum
}

/// Cosine distance, see [`crate::cosine_distance`].
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f64 {
    let [dot, norm_a, norm_b] = cosine_parts(a, b);
    crate::cosine_from_parts(dot, norm_a, norm_b)
}

/// `[Σ a_i b_i, Σ a_i², Σ b_i²]` in one pass (the dispatch table's cosine entry).
pub(crate) fn cosine_parts(a: &[f32], b: &[f32]) -> [f32; 3] {
    debug_assert_eq!(a.len(), b.len());
    let (mut dot, mut norm_a, mut norm_b) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    [dot, norm_a, norm_b]
}

/// Squared Euclidean distance of half-precision vectors, accumulated in `f32`.
pub fn l2_squared_f16(a: &[f16], b: &[f16]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        let d = x.to_f32() - y.to_f32();
        sum += d * d;
    }
    sum
}

/// Inner product of half-precision vectors, accumulated in `f32`.
pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        sum += x.to_f32() * y.to_f32();
    }
    sum
}

/// Manhattan distance of half-precision vectors, accumulated in `f32`.
pub fn l1_f16(a: &[f16], b: &[f16]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        sum += (x.to_f32() - y.to_f32()).abs();
    }
    sum
}

/// Squared Euclidean norm of a half-precision vector, accumulated in `f32`.
pub fn norm_squared_f16(a: &[f16]) -> f32 {
    let mut sum = 0.0f32;
    for x in a {
        let x = x.to_f32();
        sum += x * x;
    }
    sum
}

/// Cosine distance of half-precision vectors, see [`crate::cosine_distance`].
pub fn cosine_distance_f16(a: &[f16], b: &[f16]) -> f64 {
    let [dot, norm_a, norm_b] = cosine_parts_f16(a, b);
    crate::cosine_from_parts(dot, norm_a, norm_b)
}

/// `[Σ a_i b_i, Σ a_i², Σ b_i²]` of half-precision vectors in one pass.
pub(crate) fn cosine_parts_f16(a: &[f16], b: &[f16]) -> [f32; 3] {
    debug_assert_eq!(a.len(), b.len());
    let (mut dot, mut norm_a, mut norm_b) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (x.to_f32(), y.to_f32());
        dot += x * y;
        norm_a += x * x;
        norm_b += y * y;
    }
    [dot, norm_a, norm_b]
}
