//! AVX2 + FMA kernels (F16C for half precision): 8 `f32` lanes per register.
//!
//! Same structure as the AVX-512 module: one pass of [`fold`] with four
//! independent accumulators (32 elements per iteration) so consecutive FMAs
//! do not wait on each other's latency; whole 8-lane chunks left over go to
//! one accumulator, and the last partial chunk is read with `vmaskmovps`
//! (f32) or through a zero-padded copy (f16), zeros adding nothing to any of
//! the sums. Half-precision lanes are widened with `vcvtph2ps` (F16C) right
//! after the load and everything is accumulated in `f32`.
//!
//! The functions are safe `#[target_feature]` functions: calling them is only
//! sound on a CPU with AVX2, FMA and F16C, which the dispatch table guarantees.

use core::arch::x86_64::*;

use half::f16;

/// `f32` lanes in a 256-bit register.
const LANES: usize = 8;

/// Loads 8 `f32`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_f32(chunk: &[f32; LANES]) -> __m256 {
    // SAFETY: `chunk` is 8 initialized f32 (32 bytes); `loadu` has no
    // alignment requirement.
    unsafe { _mm256_loadu_ps(chunk.as_ptr()) }
}

/// Loads the first `min(tail.len(), 8)` `f32` of `tail`, zero in the other lanes.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_tail_f32(tail: &[f32]) -> __m256 {
    let len = tail.len().min(LANES);
    // Lane i is enabled (sign bit set) iff i < len.
    let mask = _mm256_cmpgt_epi32(
        _mm256_set1_epi32(len as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    );
    // SAFETY: the mask enables lanes 0..len only, all inside `tail`;
    // `vmaskmovps` neither reads nor faults on masked-off lanes (they read 0).
    unsafe { _mm256_maskload_ps(tail.as_ptr(), mask) }
}

/// Loads 8 `f16` and widens them to `f32`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_f16(chunk: &[f16; LANES]) -> __m256 {
    // SAFETY: `chunk` is 8 initialized f16 (16 bytes; `half::f16` is a
    // `repr(transparent)` u16); `loadu` has no alignment requirement.
    let halves = unsafe { _mm_loadu_si128(chunk.as_ptr().cast()) };
    _mm256_cvtph_ps(halves)
}

/// Widens the first `min(tail.len(), 8)` `f16` of `tail`, zero in the other
/// lanes. A stack copy is used because AVX2 has no masked 16-bit load; it
/// runs once per call.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn load_tail_f16(tail: &[f16]) -> __m256 {
    let len = tail.len().min(LANES);
    let mut padded = [f16::ZERO; LANES];
    padded[..len].copy_from_slice(&tail[..len]);
    load_f16(&padded)
}

/// One pass over `a` and `b` (the shorter length if they differ) with four
/// accumulators of type `A` started at `init`; `step` folds one register of
/// each operand into an accumulator and `combine` merges accumulators.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn fold<T, A: Copy>(
    (a, b): (&[T], &[T]),
    (load, load_tail): (impl Fn(&[T; LANES]) -> __m256, impl Fn(&[T]) -> __m256),
    init: A,
    step: impl Fn(A, __m256, __m256) -> A,
    combine: impl Fn(A, A) -> A,
) -> A {
    let len = a.len().min(b.len());
    let (a_chunks, a_tail) = a[..len].as_chunks::<LANES>();
    let (b_chunks, b_tail) = b[..len].as_chunks::<LANES>();
    let mut acc = [init; 4];
    let mut a_quads = a_chunks.chunks_exact(4);
    let mut b_quads = b_chunks.chunks_exact(4);
    for (qa, qb) in (&mut a_quads).zip(&mut b_quads) {
        acc[0] = step(acc[0], load(&qa[0]), load(&qb[0]));
        acc[1] = step(acc[1], load(&qa[1]), load(&qb[1]));
        acc[2] = step(acc[2], load(&qa[2]), load(&qb[2]));
        acc[3] = step(acc[3], load(&qa[3]), load(&qb[3]));
    }
    for (x, y) in a_quads.remainder().iter().zip(b_quads.remainder()) {
        acc[0] = step(acc[0], load(x), load(y));
    }
    if !a_tail.is_empty() {
        acc[1] = step(acc[1], load_tail(a_tail), load_tail(b_tail));
    }
    combine(combine(acc[0], acc[1]), combine(acc[2], acc[3]))
}

/// [`fold`] over `f32` operands with one register per accumulator, reduced to a scalar.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn sum_f32(a: &[f32], b: &[f32], step: impl Fn(__m256, __m256, __m256) -> __m256) -> f32 {
    let loads = (|x: &[f32; LANES]| load_f32(x), |x: &[f32]| load_tail_f32(x));
    let acc = fold((a, b), loads, _mm256_setzero_ps(), step, |p, q| {
        _mm256_add_ps(p, q)
    });
    hsum(acc)
}

/// [`sum_f32`] for `f16` operands.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn sum_f16(a: &[f16], b: &[f16], step: impl Fn(__m256, __m256, __m256) -> __m256) -> f32 {
    let loads = (|x: &[f16; LANES]| load_f16(x), |x: &[f16]| load_tail_f16(x));
    let acc = fold((a, b), loads, _mm256_setzero_ps(), step, |p, q| {
        _mm256_add_ps(p, q)
    });
    hsum(acc)
}

/// Horizontal sum of the 8 lanes (AVX2 has no reduce instruction).
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn hsum(v: __m256) -> f32 {
    let quad = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let pair = _mm_add_ps(quad, _mm_movehl_ps(quad, quad));
    let single = _mm_add_ss(pair, _mm_movehdup_ps(pair));
    _mm_cvtss_f32(single)
}

/// Accumulators of the cosine kernels: `[Σ ab, Σ a², Σ b²]`.
type CosineAcc = [__m256; 3];

/// Cosine step: three FMAs on the same loaded registers.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn cosine_step(acc: CosineAcc, x: __m256, y: __m256) -> CosineAcc {
    [
        _mm256_fmadd_ps(x, y, acc[0]),
        _mm256_fmadd_ps(x, x, acc[1]),
        _mm256_fmadd_ps(y, y, acc[2]),
    ]
}

/// Merges two cosine accumulators lane-wise.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn cosine_combine(p: CosineAcc, q: CosineAcc) -> CosineAcc {
    [
        _mm256_add_ps(p[0], q[0]),
        _mm256_add_ps(p[1], q[1]),
        _mm256_add_ps(p[2], q[2]),
    ]
}

/// Reduces cosine accumulators to `[dot, |a|², |b|²]`.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn cosine_reduce(acc: CosineAcc) -> [f32; 3] {
    [hsum(acc[0]), hsum(acc[1]), hsum(acc[2])]
}

/// `(x - y)²` accumulated.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn l2_step(acc: __m256, x: __m256, y: __m256) -> __m256 {
    let d = _mm256_sub_ps(x, y);
    _mm256_fmadd_ps(d, d, acc)
}

/// `|x - y|` accumulated.
#[inline]
#[target_feature(enable = "avx2,fma,f16c")]
fn l1_step(acc: __m256, x: __m256, y: __m256) -> __m256 {
    // |d| clears the sign bit: andnot(-0.0, d).
    let magnitude = _mm256_andnot_ps(_mm256_set1_ps(-0.0), _mm256_sub_ps(x, y));
    _mm256_add_ps(acc, magnitude)
}

/// Squared Euclidean distance.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    sum_f32(a, b, |acc, x, y| l2_step(acc, x, y))
}

/// Inner product.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    sum_f32(a, b, |acc, x, y| _mm256_fmadd_ps(x, y, acc))
}

/// Manhattan distance.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn l1(a: &[f32], b: &[f32]) -> f32 {
    sum_f32(a, b, |acc, x, y| l1_step(acc, x, y))
}

/// Squared norm: the vector folded with itself (the duplicate load is merged
/// by the compiler).
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn norm_squared(a: &[f32]) -> f32 {
    sum_f32(a, a, |acc, x, _| _mm256_fmadd_ps(x, x, acc))
}

/// `[dot, |a|², |b|²]` in one pass.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn cosine_parts(a: &[f32], b: &[f32]) -> [f32; 3] {
    let loads = (|x: &[f32; LANES]| load_f32(x), |x: &[f32]| load_tail_f32(x));
    let init = [_mm256_setzero_ps(); 3];
    let step = |acc, x, y| cosine_step(acc, x, y);
    cosine_reduce(fold((a, b), loads, init, step, |p, q| cosine_combine(p, q)))
}

/// Squared Euclidean distance, half precision.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn l2_squared_f16(a: &[f16], b: &[f16]) -> f32 {
    sum_f16(a, b, |acc, x, y| l2_step(acc, x, y))
}

/// Inner product, half precision.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    sum_f16(a, b, |acc, x, y| _mm256_fmadd_ps(x, y, acc))
}

/// Manhattan distance, half precision.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn l1_f16(a: &[f16], b: &[f16]) -> f32 {
    sum_f16(a, b, |acc, x, y| l1_step(acc, x, y))
}

/// Squared norm, half precision.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn norm_squared_f16(a: &[f16]) -> f32 {
    sum_f16(a, a, |acc, x, _| _mm256_fmadd_ps(x, x, acc))
}

/// `[dot, |a|², |b|²]` in one pass, half precision.
#[target_feature(enable = "avx2,fma,f16c")]
pub(crate) fn cosine_parts_f16(a: &[f16], b: &[f16]) -> [f32; 3] {
    let loads = (|x: &[f16; LANES]| load_f16(x), |x: &[f16]| load_tail_f16(x));
    let init = [_mm256_setzero_ps(); 3];
    let step = |acc, x, y| cosine_step(acc, x, y);
    cosine_reduce(fold((a, b), loads, init, step, |p, q| cosine_combine(p, q)))
}
