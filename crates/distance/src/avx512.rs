//! AVX-512F kernels: 16 `f32` lanes per register.
//!
//! Every kernel is one pass of [`fold`]: the body keeps four independent
//! accumulators (64 elements per iteration) so that consecutive FMAs do not
//! wait on each other's latency; whole 16-lane chunks left over go to one
//! accumulator, and the last partial chunk is read with a masked load (f32)
//! or through a zero-padded copy (f16), zeros adding nothing to any of the
//! sums. Half-precision lanes are widened with `vcvtph2ps` right after the
//! load and everything is accumulated in `f32`.
//!
//! The functions are safe `#[target_feature]` functions: calling them is only
//! sound on a CPU with AVX-512F, which the dispatch table guarantees.

use core::arch::x86_64::*;

use half::f16;

/// `f32` lanes in a 512-bit register.
const LANES: usize = 16;

/// Loads 16 `f32`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn load_f32(chunk: &[f32; LANES]) -> __m512 {
    // SAFETY: `chunk` is 16 initialized f32 (64 bytes); `loadu` has no
    // alignment requirement.
    unsafe { _mm512_loadu_ps(chunk.as_ptr()) }
}

/// Loads the first `min(tail.len(), 16)` `f32` of `tail`, zero in the other lanes.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn load_tail_f32(tail: &[f32]) -> __m512 {
    let len = tail.len().min(LANES);
    let mask = ((1u32 << len) - 1) as __mmask16;
    // SAFETY: the mask enables lanes 0..len only, all inside `tail`; masked-off
    // lanes are neither read nor able to fault (AVX-512 fault suppression).
    unsafe { _mm512_maskz_loadu_ps(mask, tail.as_ptr()) }
}

/// Loads 16 `f16` and widens them to `f32`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn load_f16(chunk: &[f16; LANES]) -> __m512 {
    // SAFETY: `chunk` is 16 initialized f16 (32 bytes; `half::f16` is a
    // `repr(transparent)` u16); `loadu` has no alignment requirement.
    let halves = unsafe { _mm256_loadu_si256(chunk.as_ptr().cast()) };
    _mm512_cvtph_ps(halves)
}

/// Widens the first `min(tail.len(), 16)` `f16` of `tail`, zero in the other
/// lanes. A stack copy is used because a masked 16-bit load would need
/// AVX512BW+VL on top of AVX-512F; it runs once per call.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn load_tail_f16(tail: &[f16]) -> __m512 {
    let len = tail.len().min(LANES);
    let mut padded = [f16::ZERO; LANES];
    padded[..len].copy_from_slice(&tail[..len]);
    load_f16(&padded)
}

/// One pass over `a` and `b` (the shorter length if they differ) with four
/// accumulators of type `A` started at `init`; `step` folds one register of
/// each operand into an accumulator and `combine` merges accumulators.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn fold<T, A: Copy>(
    (a, b): (&[T], &[T]),
    (load, load_tail): (impl Fn(&[T; LANES]) -> __m512, impl Fn(&[T]) -> __m512),
    init: A,
    step: impl Fn(A, __m512, __m512) -> A,
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
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn sum_f32(a: &[f32], b: &[f32], step: impl Fn(__m512, __m512, __m512) -> __m512) -> f32 {
    let loads = (|x: &[f32; LANES]| load_f32(x), |x: &[f32]| load_tail_f32(x));
    let acc = fold((a, b), loads, _mm512_setzero_ps(), step, |p, q| {
        _mm512_add_ps(p, q)
    });
    _mm512_reduce_add_ps(acc)
}

/// [`sum_f32`] for `f16` operands.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn sum_f16(a: &[f16], b: &[f16], step: impl Fn(__m512, __m512, __m512) -> __m512) -> f32 {
    let loads = (|x: &[f16; LANES]| load_f16(x), |x: &[f16]| load_tail_f16(x));
    let acc = fold((a, b), loads, _mm512_setzero_ps(), step, |p, q| {
        _mm512_add_ps(p, q)
    });
    _mm512_reduce_add_ps(acc)
}

/// Accumulators of the cosine kernels: `[Σ ab, Σ a², Σ b²]`.
type CosineAcc = [__m512; 3];

/// Cosine step: three FMAs on the same loaded registers.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn cosine_step(acc: CosineAcc, x: __m512, y: __m512) -> CosineAcc {
    [
        _mm512_fmadd_ps(x, y, acc[0]),
        _mm512_fmadd_ps(x, x, acc[1]),
        _mm512_fmadd_ps(y, y, acc[2]),
    ]
}

/// Merges two cosine accumulators lane-wise.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn cosine_combine(p: CosineAcc, q: CosineAcc) -> CosineAcc {
    [
        _mm512_add_ps(p[0], q[0]),
        _mm512_add_ps(p[1], q[1]),
        _mm512_add_ps(p[2], q[2]),
    ]
}

/// Reduces cosine accumulators to `[dot, |a|², |b|²]`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn cosine_reduce(acc: CosineAcc) -> [f32; 3] {
    [
        _mm512_reduce_add_ps(acc[0]),
        _mm512_reduce_add_ps(acc[1]),
        _mm512_reduce_add_ps(acc[2]),
    ]
}

/// `(x - y)²` accumulated.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn l2_step(acc: __m512, x: __m512, y: __m512) -> __m512 {
    let d = _mm512_sub_ps(x, y);
    _mm512_fmadd_ps(d, d, acc)
}

/// `|x - y|` accumulated.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
fn l1_step(acc: __m512, x: __m512, y: __m512) -> __m512 {
    _mm512_add_ps(acc, _mm512_abs_ps(_mm512_sub_ps(x, y)))
}

/// Squared Euclidean distance.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(crate) fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    sum_f32(a, b, |acc, x, y| l2_step(acc, x, y))
}

/// Inner product.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    sum_f32(a, b, |acc, x, y| _mm512_fmadd_ps(x, y, acc))
}

/// Manhattan distance.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(crate) fn l1(a: &[f32], b: &[f32]) -> f32 {
    sum_f32(a, b, |acc, x, y| l1_step(acc, x, y))
}

/// Squared norm: the vector folded with itself (the duplicate load is merged
/// by the compiler).
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(crate) fn norm_squared(a: &[f32]) -> f32 {
    sum_f32(a, a, |acc, x, _| _mm512_fmadd_ps(x, x, acc))
}

/// `[dot, |a|², |b|²]` in one pass.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(crate) fn cosine_parts(a: &[f32], b: &[f32]) -> [f32; 3] {
    let loads = (|x: &[f32; LANES]| load_f32(x), |x: &[f32]| load_tail_f32(x));
    let init = [_mm512_setzero_ps(); 3];
    let step = |acc, x, y| cosine_step(acc, x, y);
    cosine_reduce(fold((a, b), loads, init, step, |p, q| cosine_combine(p, q)))
}

/// Squared Euclidean distance, half precision.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(crate) fn l2_squared_f16(a: &[f16], b: &[f16]) -> f32 {
    sum_f16(a, b, |acc, x, y| l2_step(acc, x, y))
}

/// Inner product, half precision.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(crate) fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    sum_f16(a, b, |acc, x, y| _mm512_fmadd_ps(x, y, acc))
}

/// Manhattan distance, half precision.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(crate) fn l1_f16(a: &[f16], b: &[f16]) -> f32 {
    sum_f16(a, b, |acc, x, y| l1_step(acc, x, y))
}

/// Squared norm, half precision.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(crate) fn norm_squared_f16(a: &[f16]) -> f32 {
    sum_f16(a, a, |acc, x, _| _mm512_fmadd_ps(x, x, acc))
}

/// `[dot, |a|², |b|²]` in one pass, half precision.
#[target_feature(enable = "avx512f,avx2,fma,f16c")]
pub(crate) fn cosine_parts_f16(a: &[f16], b: &[f16]) -> [f32; 3] {
    let loads = (|x: &[f16; LANES]| load_f16(x), |x: &[f16]| load_tail_f16(x));
    let init = [_mm512_setzero_ps(); 3];
    let step = |acc, x, y| cosine_step(acc, x, y);
    cosine_reduce(fold((a, b), loads, init, step, |p, q| cosine_combine(p, q)))
}
