//! MaxSim, the late-interaction score: for each query token, the largest
//! dot product with any document token, summed over the query tokens.
//!
//! The blocked kernels treat it as a small matrix product `Q x Dᵀ` reduced by
//! row-wise max: a micro-kernel computes a tile of query tokens against a
//! tile of document tokens at once, so each loaded document chunk feeds
//! several FMAs (AVX-512: 4 x 4 tile, 16 accumulators; AVX2: 4 x 2 tile, 8
//! accumulators, to fit 16 ymm registers). Tokens left over at the edges go
//! through the dispatched single-pair [`crate::dot`].

use crate::dispatch::{self, Isa};

/// MaxSim of a document and a query, both row-major `count x dim` token
/// matrices. An empty query scores 0; an empty document scores -inf per query
/// token (no token to match). Panic-free for any lengths: a trailing partial
/// token is ignored.
pub fn maxsim(dim: usize, doc: &[f32], query: &[f32]) -> f32 {
    maxsim_with_isa(dispatch::active().isa(), dim, doc, query)
}

/// The plain reference: every pair through a scalar dot product.
pub fn maxsim_naive(dim: usize, doc: &[f32], query: &[f32]) -> f32 {
    if dim == 0 {
        return 0.0;
    }
    query
        .chunks_exact(dim)
        .map(|q| {
            doc.chunks_exact(dim)
                .map(|d| crate::scalar::dot(q, d))
                .fold(f32::NEG_INFINITY, f32::max)
        })
        .sum()
}

/// MaxSim with a given instruction-set level (lowered to what the CPU has).
#[doc(hidden)]
pub fn maxsim_with_isa(isa: Isa, dim: usize, doc: &[f32], query: &[f32]) -> f32 {
    if dim == 0 {
        return 0.0;
    }
    let isa = if isa.is_supported() { isa } else { Isa::Scalar };
    let mut best = vec![f32::NEG_INFINITY; query.len() / dim];
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports AVX-512F (checked just above).
        Isa::Avx512 => unsafe { tiles(dim, doc, query, &mut best, 4, 4, x86::tile_avx512) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the CPU supports AVX2 and FMA (checked just above).
        Isa::Avx2 => unsafe { tiles(dim, doc, query, &mut best, 4, 2, x86::tile_avx2) },
        _ => {
            // SAFETY: the scalar tile uses no special instructions.
            unsafe { tiles(dim, doc, query, &mut best, 1, 1, tile_scalar) }
        }
    }
    best.iter().sum()
}

/// A tile kernel: updates `best[i]` for `QT` query tokens starting at `q`
/// against `DT` document tokens starting at `d`.
type Tile = unsafe fn(dim: usize, q: &[f32], d: &[f32], best: &mut [f32]);

/// Walks the `QT x DT` tiles, and the ragged edges one pair at a time.
///
/// # Safety
/// `tile` must be callable on this CPU.
unsafe fn tiles(dim: usize, doc: &[f32], query: &[f32], best: &mut [f32], qt: usize, dt: usize, tile: Tile) {
    let (nq, nd) = (query.len() / dim, doc.len() / dim);
    let (full_q, full_d) = (nq - nq % qt, nd - nd % dt);
    for qi in (0..full_q).step_by(qt) {
        let q = &query[qi * dim..(qi + qt) * dim];
        for di in (0..full_d).step_by(dt) {
            // SAFETY: forwarded contract; q holds qt tokens, the slice dt tokens.
            unsafe { tile(dim, q, &doc[di * dim..(di + dt) * dim], &mut best[qi..qi + qt]) };
        }
    }
    // Edges: document tokens past the last full tile for the tiled queries,
    // then every document token for the leftover queries.
    for qi in 0..nq {
        let d_from = if qi < full_q { full_d } else { 0 };
        let q = &query[qi * dim..(qi + 1) * dim];
        for d in doc[d_from * dim..nd * dim].chunks_exact(dim) {
            best[qi] = best[qi].max(crate::dot(q, d));
        }
    }
}

/// 1 x 1 tile for the scalar level.
unsafe fn tile_scalar(_dim: usize, q: &[f32], d: &[f32], best: &mut [f32]) {
    best[0] = best[0].max(crate::scalar::dot(q, d));
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// 4 query x 4 document tokens with 16 zmm accumulators; the dimension
    /// tail is a masked load, so any `dim` works.
    ///
    /// # Safety
    /// AVX-512F available; `q` holds 4 tokens and `d` 4 tokens of `dim`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn tile_avx512(dim: usize, q: &[f32], d: &[f32], best: &mut [f32]) {
        debug_assert!(q.len() >= 4 * dim && d.len() >= 4 * dim && best.len() >= 4);
        let mut acc = [[_mm512_setzero_ps(); 4]; 4];
        let mut k = 0;
        while k < dim {
            let left = dim - k;
            let mask: __mmask16 = if left >= 16 { 0xffff } else { (1u16 << left) - 1 };
            // SAFETY: every masked load reads lanes k..k+min(16,left) of a token
            // that lies within q or d (asserted lengths). No closures here: they
            // would not inherit the target feature.
            let dp = d.as_ptr().add(k);
            let dv = [
                _mm512_maskz_loadu_ps(mask, dp),
                _mm512_maskz_loadu_ps(mask, dp.add(dim)),
                _mm512_maskz_loadu_ps(mask, dp.add(2 * dim)),
                _mm512_maskz_loadu_ps(mask, dp.add(3 * dim)),
            ];
            for (i, row) in acc.iter_mut().enumerate() {
                // SAFETY: as above, for query token i.
                let qv = _mm512_maskz_loadu_ps(mask, q.as_ptr().add(i * dim + k));
                for (j, a) in row.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(qv, dv[j], *a);
                }
            }
            k += 16;
        }
        for (i, row) in acc.iter().enumerate() {
            for a in row {
                best[i] = best[i].max(_mm512_reduce_add_ps(*a));
            }
        }
    }

    /// 4 query x 2 document tokens with 8 ymm accumulators; the dimension
    /// tail (dim % 8) is finished with scalar products.
    ///
    /// # Safety
    /// AVX2 and FMA available; `q` holds 4 tokens and `d` 2 tokens of `dim`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn tile_avx2(dim: usize, q: &[f32], d: &[f32], best: &mut [f32]) {
        debug_assert!(q.len() >= 4 * dim && d.len() >= 2 * dim && best.len() >= 4);
        let mut acc = [[_mm256_setzero_ps(); 2]; 4];
        let body = dim - dim % 8;
        let mut k = 0;
        while k < body {
            // SAFETY: k + 8 <= body <= dim, within each token.
            let dv = [_mm256_loadu_ps(d.as_ptr().add(k)), _mm256_loadu_ps(d.as_ptr().add(dim + k))];
            for (i, row) in acc.iter_mut().enumerate() {
                // SAFETY: as above, for query token i.
                let qv = _mm256_loadu_ps(q.as_ptr().add(i * dim + k));
                for (j, a) in row.iter_mut().enumerate() {
                    *a = _mm256_fmadd_ps(qv, dv[j], *a);
                }
            }
            k += 8;
        }
        for (i, row) in acc.iter().enumerate() {
            for (j, a) in row.iter().enumerate() {
                let mut lanes = [0f32; 8];
                // SAFETY: lanes has room for 8 floats.
                _mm256_storeu_ps(lanes.as_mut_ptr(), *a);
                let tail: f32 = (body..dim).map(|t| q[i * dim + t] * d[j * dim + t]).sum();
                best[i] = best[i].max(lanes.iter().sum::<f32>() + tail);
            }
        }
    }
}
