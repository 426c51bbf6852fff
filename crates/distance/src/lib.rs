//! Distance kernels for ember: dense `f32`, dense half precision (`half::f16`)
//! and sparse (merge-join) vectors.
//!
//! Every public function picks its implementation at run time: the best
//! instruction set the CPU supports is detected once (AVX-512F, else
//! AVX2+FMA+F16C, else plain loops) and cached, so a call costs one atomic
//! load and one indirect call on top of the kernel itself. The environment
//! variable `EMBER_DISTANCE_ISA=scalar|avx2|avx512`, read once at the first
//! call, can force a *lower* level (unknown values and levels the CPU lacks
//! are ignored), which is handy for tests and benchmarks.
//!
//! Conventions shared by all functions:
//! - the two operands have the same length; this is `debug_assert`ed, and in
//!   release builds a mismatch silently uses the shorter length, so no
//!   function ever panics or reads out of bounds;
//! - sums are accumulated in `f32`; SIMD versions add in a different order
//!   than the [`scalar`] reference, so results agree only up to rounding;
//! - cosine distance is `1 - dot / (|a| |b|)` computed in `f64` from the
//!   `f32` partial sums, clamped to `[0, 2]`, and NaN when either norm is
//!   zero (the pgvector convention).

#![warn(missing_docs)]

use half::f16;

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[doc(hidden)]
pub mod dispatch;
mod maxsim;
pub mod scalar;
mod sparse;

pub use maxsim::{maxsim, maxsim_naive, maxsim_with_isa};
pub use sparse::{sparse_cosine_distance, sparse_dot, sparse_l1, sparse_l2_squared};

/// Squared Euclidean distance `Σ (a_i - b_i)²`.
#[inline]
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    dispatch::active().l2_squared(a, b)
}

/// Inner product `Σ a_i b_i`.
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    dispatch::active().dot(a, b)
}

/// Manhattan (taxicab) distance `Σ |a_i - b_i|`.
#[inline]
pub fn l1(a: &[f32], b: &[f32]) -> f32 {
    dispatch::active().l1(a, b)
}

/// Squared Euclidean norm `Σ a_i²`.
#[inline]
pub fn norm_squared(a: &[f32]) -> f32 {
    dispatch::active().norm_squared(a)
}

/// Cosine distance `1 - dot / (|a| |b|)`: computed in `f64` from `f32` partial
/// sums gathered in one pass, clamped to `[0, 2]`; NaN if either norm is 0
/// (as pgvector does).
#[inline]
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f64 {
    dispatch::active().cosine_distance(a, b)
}

/// Squared Euclidean distance of half-precision vectors, accumulated in `f32`.
#[inline]
pub fn l2_squared_f16(a: &[f16], b: &[f16]) -> f32 {
    dispatch::active().l2_squared_f16(a, b)
}

/// Inner product of half-precision vectors, accumulated in `f32`.
#[inline]
pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    dispatch::active().dot_f16(a, b)
}

/// Manhattan distance of half-precision vectors, accumulated in `f32`.
#[inline]
pub fn l1_f16(a: &[f16], b: &[f16]) -> f32 {
    dispatch::active().l1_f16(a, b)
}

/// Squared Euclidean norm of a half-precision vector, accumulated in `f32`.
#[inline]
pub fn norm_squared_f16(a: &[f16]) -> f32 {
    dispatch::active().norm_squared_f16(a)
}

/// Cosine distance of half-precision vectors; same conventions as
/// [`cosine_distance`].
#[inline]
pub fn cosine_distance_f16(a: &[f16], b: &[f16]) -> f64 {
    dispatch::active().cosine_distance_f16(a, b)
}

/// Which implementation the dispatcher picked: `"avx512"`, `"avx2+fma"` or
/// `"scalar"`.
pub fn active_isa() -> &'static str {
    dispatch::active().isa().name()
}

/// Finishes a cosine distance from `f32` partial sums (`dot`, `|a|²`, `|b|²`).
///
/// The division and square root run in `f64` so that the large sums of
/// high-dimensional vectors lose nothing more; the similarity is clamped to
/// `[-1, 1]` because rounding can push it slightly outside. A zero norm gives
/// NaN, like pgvector (a NaN in the inputs also propagates).
#[inline]
pub(crate) fn cosine_from_parts(dot: f32, norm_a: f32, norm_b: f32) -> f64 {
    if norm_a == 0.0 || norm_b == 0.0 {
        return f64::NAN;
    }
    let similarity = f64::from(dot) / (f64::from(norm_a) * f64::from(norm_b)).sqrt();
    1.0 - similarity.clamp(-1.0, 1.0)
}
