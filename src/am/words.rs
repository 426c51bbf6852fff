//! What the index stores per element: a vector as `f32` "words".
//!
//! - `embedding`: the elements themselves;
//! - `halfembedding`: the elements widened to f32 (exact; the distances
//!   equal the halfembedding operators', which compute in f32);
//! - `sparseembedding`: `[dim][index × nnz][value × nnz]`, with the
//!   dimension and indices stored as the bit patterns of `u32`s, so one
//!   graph codec serves all three types.
//!
//! [`WordMetric`] is the distance the graph uses over words; it orders
//! exactly like the SQL operator of the opclass (`<->` is ordered by the
//! squared distance, `<#>` by the negative inner product).
//!
//! Dense values too large for a page are stored as SQ8 codes
//! ([`quantize::sq8`], also words): the metric then reads its second
//! argument (always a stored element) as a code, and its first as a code
//! when it has the code's length, else as a full query vector. Distances
//! are then approximate, and [`WordMetric::lower_bound`] turns them into
//! bounds for the executor's exact re-ranking.

use std::cell::RefCell;

use half::f16;
use hnsw::link::{HalfLink, Packing};
use quantize::sq8::{self, Bound, Sq8};

/// The indexed type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElemKind {
    /// `embedding`.
    Dense,
    /// `halfembedding`.
    Half,
    /// `sparseembedding`.
    Sparse,
    /// `multiembedding` (ember_ivf only): the index stores each token
    /// vector as a dense entry, and the metric is between token vectors.
    Multi,
}

/// The opclass's distance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// `<->`.
    L2,
    /// `<#>`.
    InnerProduct,
    /// `<=>`.
    Cosine,
    /// `<+>`.
    L1,
}

/// An opclass: type and distance. Stored in the metapage as [`WordMetric::id`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WordMetric {
    /// The indexed type.
    pub kind: ElemKind,
    /// The distance.
    pub metric: Metric,
    /// The elements are SQ8 codes of the values.
    pub sq8: bool,
}

/// The bit of [`WordMetric::id`] that says the elements are SQ8 codes.
const SQ8_ID: u8 = 0x10;

impl WordMetric {
    /// The metapage id of this opclass.
    pub fn id(self) -> u8 {
        let kind = match self.kind {
            ElemKind::Dense => 0,
            ElemKind::Half => 1,
            ElemKind::Sparse => 2,
            ElemKind::Multi => 3,
        };
        let metric = match self.metric {
            Metric::L2 => 0,
            Metric::InnerProduct => 1,
            Metric::Cosine => 2,
            Metric::L1 => 3,
        };
        kind * 4 + metric + if self.sq8 { SQ8_ID } else { 0 }
    }

    /// This opclass's metric for the elements a metapage's `id` describes,
    /// or `None` when the index was built for another opclass.
    pub fn for_stored(self, id: u8) -> Option<Self> {
        let plain = Self { sq8: false, ..self };
        let coded = Self { sq8: true, ..self };
        [plain, coded].into_iter().find(|m| m.id() == id)
    }

    /// Whether values of `dims` dimensions are stored as codes in a graph
    /// with parameter `m` (when their full form does not fit a page).
    pub fn codes_needed(self, dims: usize, m: usize) -> bool {
        self.kind != ElemKind::Sparse && dims > 0 && !hnsw::ondisk::vector_fits(dims, m)
    }

    /// Which distance an HNSW index's neighbour codes bound: L2, cosine
    /// and inner product over dense values (half values are stored as
    /// `f32`), none for the rest (L1 has no such bound).
    pub fn link_codes(self) -> hnsw::ondisk::LinkCodes {
        use hnsw::ondisk::LinkCodes;
        match (self.kind, self.metric) {
            (ElemKind::Dense | ElemKind::Half, Metric::L2) => LinkCodes::L2Squared,
            (ElemKind::Dense | ElemKind::Half, Metric::Cosine) => LinkCodes::Cosine,
            (ElemKind::Dense | ElemKind::Half, Metric::InnerProduct) => LinkCodes::NegativeInnerProduct,
            _ => LinkCodes::None,
        }
    }

    /// Words of a stored element for a value of `dims` dimensions.
    pub fn stored_words(self, dims: usize) -> usize {
        if self.sq8 {
            sq8::code_words(dims)
        } else {
            self.fixed_words(dims)
        }
    }

    /// What the graph stores for `words`: the code, or the words.
    pub fn store<'w>(self, words: &'w [f32], code: &'w mut Vec<f32>) -> &'w [f32] {
        if self.sq8 {
            sq8::encode(words, code);
            code
        } else {
            words
        }
    }

    /// The distance from a full query vector to a stored element (the
    /// value, or its code: unlike [`hnsw::Distance::distance`], a query
    /// is never taken for a code, whatever its length). `query_norm` is
    /// `‖query‖₂`, which a scan computes once (cosine over codes needs it).
    pub fn query_distance(self, query: &[f32], query_norm: f32, stored: &[f32]) -> f32 {
        if self.sq8 {
            coded_distance(self.metric, query, Some(query_norm), stored)
        } else {
            hnsw::Distance::distance(&self, query, stored)
        }
    }

    /// The dot product of a full query vector with a stored element (its
    /// decoded value, for a code); NaN when their lengths differ.
    pub fn stored_dot(self, query: &[f32], stored: &[f32]) -> f32 {
        if self.sq8 {
            return match Sq8::view(stored) {
                Some(code) if code.dims == query.len() => code.dot(query),
                _ => f32::NAN,
            };
        }
        if query.len() != stored.len() {
            return f32::NAN;
        }
        distance::dot(query, stored)
    }

    /// A lower bound, in the SQL operator's units, of the distance from
    /// the full query (of norm `query_norm`) to the value whose code is
    /// `stored`, given their approximate graph distance; −∞ when `stored`
    /// is not a code.
    pub fn lower_bound(self, approx: f32, query_norm: f64, stored: &[f32]) -> f64 {
        let Some(code) = Sq8::view(stored) else {
            return f64::NEG_INFINITY;
        };
        let approx = f64::from(approx);
        let (bound, value) = match self.metric {
            Metric::L2 => (Bound::L2, approx.max(0.0).sqrt()),
            Metric::InnerProduct => (Bound::NegativeInnerProduct, approx),
            Metric::Cosine => (Bound::Cosine, approx),
            Metric::L1 => (Bound::L1, approx),
        };
        sq8::lower_bound(bound, value, query_norm, &code)
    }

    /// Words per vector for the graph's fixed length (0: variable).
    pub fn fixed_words(self, dims: usize) -> usize {
        match self.kind {
            ElemKind::Dense | ElemKind::Half | ElemKind::Multi => dims,
            ElemKind::Sparse => 0,
        }
    }

    /// The half-precision link distance a build may link the graph over
    /// instead of this metric, and how the values become link codes for it
    /// ([`hnsw::link`]: half the memory read per distance), given all the
    /// values (`dims` words each), or `None` where rounding to half
    /// precision could reorder neighbours. Half values are exact in it;
    /// cosine is computed on unit vectors; L2 and L1 of embeddings of at
    /// least `CENTRED_MIN_DIMS` dimensions on the values centred on their
    /// mean and scaled by a power of two; L2 of fewer dimensions and inner
    /// product only when every value is a unit vector (values within ±1;
    /// no shift keeps inner products); never for sparse values or variable
    /// dimensions.
    pub fn half_link(self, values: &[f32], dims: usize) -> Option<(HalfLink, Packing)> {
        if dims == 0 || self.sq8 {
            return None;
        }
        Some(match (self.kind, self.metric) {
            (ElemKind::Dense | ElemKind::Half, Metric::Cosine) => (HalfLink::UnitCosine, Packing::Normalized),
            (ElemKind::Half, Metric::L2) => (HalfLink::L2 { shift: 0 }, Packing::AsIs),
            (ElemKind::Half, Metric::L1) => (HalfLink::L1 { shift: 0 }, Packing::AsIs),
            (ElemKind::Half, Metric::InnerProduct) => (HalfLink::NegativeDot, Packing::AsIs),
            (ElemKind::Dense, Metric::L2 | Metric::L1) if dims >= hnsw::link::CENTRED_MIN_DIMS => {
                let packing = Packing::centred(values, dims);
                let shift = packing.shift();
                let link = if self.metric == Metric::L2 { HalfLink::L2 { shift } } else { HalfLink::L1 { shift } };
                (link, packing)
            }
            (ElemKind::Dense, Metric::L2) if hnsw::link::unit_norm(values, dims) => (HalfLink::L2 { shift: 0 }, Packing::AsIs),
            (ElemKind::Dense, Metric::InnerProduct) if hnsw::link::unit_norm(values, dims) => {
                (HalfLink::NegativeDot, Packing::AsIs)
            }
            _ => return None,
        })
    }

    /// The SQL function (of the extension) whose value 0 marks the values
    /// the index leaves out: see [`WordMetric::skips`].
    pub fn left_out_when_zero(self) -> Option<&'static str> {
        match (self.kind, self.metric) {
            (ElemKind::Multi, _) => Some("token_count"),
            (_, Metric::Cosine) => Some("l2_norm"),
            _ => None,
        }
    }

    /// Whether a vector is left out of the index: for cosine, vectors with
    /// no direction (zero), whose distance to anything is undefined.
    /// A multiembedding with no tokens has no entry either.
    pub fn skips(self, words: &[f32]) -> bool {
        if self.kind == ElemKind::Multi {
            return words.is_empty();
        }
        self.metric == Metric::Cosine
            && match self.kind {
                ElemKind::Dense | ElemKind::Half | ElemKind::Multi => words.iter().all(|&x| x == 0.0),
                ElemKind::Sparse => sparse_parts(words).2.iter().all(|&x| x == 0.0),
            }
    }
}

/// The SQL name of the indexed type.
pub fn type_name(opclass: WordMetric) -> &'static str {
    match opclass.kind {
        ElemKind::Dense => vectors::type_name::EMBEDDING,
        ElemKind::Half => vectors::type_name::HALF,
        ElemKind::Sparse => vectors::type_name::SPARSE,
        ElemKind::Multi => vectors::type_name::MULTI,
    }
}

/// Dense words of a halfembedding.
pub fn half_words(values: &[f16], out: &mut Vec<f32>) {
    out.clear();
    out.extend(values.iter().map(|h| h.to_f32()));
}

/// Sparse words: `[dim][indices][values]`.
pub fn sparse_words(dim: usize, indices: &[u32], values: &[f32], out: &mut Vec<f32>) {
    out.clear();
    out.reserve(1 + 2 * indices.len());
    out.push(f32::from_bits(dim as u32));
    out.extend(indices.iter().map(|&i| f32::from_bits(i)));
    out.extend_from_slice(values);
}

/// `(dim, indices, values)` of sparse words (malformed words read as empty).
fn sparse_parts(words: &[f32]) -> (u32, &[u32], &[f32]) {
    let Some((&dim, rest)) = words.split_first() else {
        return (0, &[], &[]);
    };
    let nnz = rest.len() / 2;
    // SAFETY: f32 and u32 have the same size and alignment and every bit
    // pattern is a valid u32, so the index words can be viewed in place.
    let indices = unsafe { std::slice::from_raw_parts(rest.as_ptr().cast::<u32>(), nnz) };
    (dim.to_bits(), indices, &rest[nnz..2 * nnz])
}

fn sparse_distance(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    let (da, ai, av) = sparse_parts(a);
    let (db, bi, bv) = sparse_parts(b);
    if da != db {
        return f32::NAN;
    }
    match metric {
        Metric::L2 => distance::sparse_l2_squared(ai, av, bi, bv),
        Metric::InnerProduct => -distance::sparse_dot(ai, av, bi, bv),
        Metric::Cosine => distance::sparse_cosine_distance(ai, av, bi, bv) as f32,
        Metric::L1 => distance::sparse_l1(ai, av, bi, bv),
    }
}

thread_local! {
    /// Decoded vectors of [`coded_distance`] (backend-only: the build's
    /// threads use the plain metric on full vectors).
    static DECODED: RefCell<(Vec<f32>, Vec<f32>)> = const { RefCell::new((Vec::new(), Vec::new())) };
}

/// The distance from `a` to the value whose code is `b`. `a` is a full
/// vector when its norm is given (a scan's query) or its length differs
/// from `b`'s (fused kernels on the code), else a code too (both decoded);
/// cosine divides by the stored norms, which are exact.
fn coded_distance(metric: Metric, a: &[f32], full_query_norm: Option<f32>, b: &[f32]) -> f32 {
    let Some(code_b) = Sq8::view(b) else {
        return f32::NAN;
    };
    if full_query_norm.is_some() || a.len() != b.len() {
        // A full vector: the fused kernels, no decoding.
        if a.len() != code_b.dims {
            return f32::NAN;
        }
        return match metric {
            Metric::L2 => code_b.l2_squared(a),
            Metric::InnerProduct => -code_b.dot(a),
            Metric::Cosine => {
                let norm_a = full_query_norm.unwrap_or_else(|| distance::norm_squared(a).sqrt());
                1.0 - code_b.dot(a) / (norm_a * code_b.norm)
            }
            Metric::L1 => code_b.l1(a),
        };
    }
    // Both codes (graph building and repair): decoded on both sides.
    let Some(code_a) = Sq8::view(a).filter(|c| c.dims == code_b.dims) else {
        return f32::NAN;
    };
    DECODED.with_borrow_mut(|(xa, xb)| {
        code_a.decode_into(xa);
        code_b.decode_into(xb);
        match metric {
            Metric::L2 => distance::l2_squared(xa, xb),
            Metric::InnerProduct => -distance::dot(xa, xb),
            Metric::Cosine => 1.0 - distance::dot(xa, xb) / (code_a.norm * code_b.norm),
            Metric::L1 => distance::l1(xa, xb),
        }
    })
}

impl hnsw::Distance for WordMetric {
    #[inline]
    fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        if self.sq8 {
            return coded_distance(self.metric, a, None, b);
        }
        match self.kind {
            // Values of different lengths (an untyped column) have no
            // distance; NaN sorts them last instead of failing a kernel.
            ElemKind::Dense | ElemKind::Half | ElemKind::Multi if a.len() != b.len() => f32::NAN,
            ElemKind::Dense | ElemKind::Half | ElemKind::Multi => match self.metric {
                Metric::L2 => distance::l2_squared(a, b),
                Metric::InnerProduct => -distance::dot(a, b),
                Metric::Cosine => distance::cosine_distance(a, b) as f32,
                Metric::L1 => distance::l1(a, b),
            },
            ElemKind::Sparse => sparse_distance(self.metric, a, b),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hnsw::Distance;

    #[test]
    fn sparse_words_round_trip_through_the_metric() {
        let mut a = Vec::new();
        let mut b = Vec::new();
        sparse_words(10, &[1, 4], &[1.0, 2.0], &mut a);
        sparse_words(10, &[4, 7], &[3.0, 1.0], &mut b);
        let ip = WordMetric { kind: ElemKind::Sparse, metric: Metric::InnerProduct, sq8: false };
        assert_eq!(ip.distance(&a, &b), -6.0);
        let l2 = WordMetric { kind: ElemKind::Sparse, metric: Metric::L2, sq8: false };
        assert_eq!(l2.distance(&a, &b), 1.0 + 1.0 + 1.0);
    }

    #[test]
    fn coded_distances_approximate_and_bound_the_exact_ones() {
        let x: Vec<f32> = (0..2000).map(|i| ((i * 7919 % 1000) as f32 / 500.0) - 1.0).collect();
        let q: Vec<f32> = (0..2000).map(|i| ((i * 104729 % 997) as f32 / 498.5) - 1.0).collect();
        for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine, Metric::L1] {
            let plain = WordMetric { kind: ElemKind::Dense, metric, sq8: false };
            let coded = WordMetric { sq8: true, ..plain };
            assert_eq!(plain.for_stored(coded.id()), Some(coded));
            assert_eq!(coded.for_stored(plain.id()), Some(plain));
            let mut code = Vec::new();
            let stored = coded.store(&x, &mut code).to_vec();
            assert_eq!(stored.len(), coded.stored_words(x.len()));
            let exact = plain.distance(&q, &x);
            let approx = coded.distance(&q, &stored);
            // An inner product's error scales with the norms, not the result.
            let scale = match metric {
                Metric::InnerProduct => (distance::norm_squared(&q) * distance::norm_squared(&x)).sqrt(),
                _ => exact.abs().max(1.0),
            };
            assert!((approx - exact).abs() <= 0.01 * scale, "{metric:?}: {approx} vs {exact}");
            // Both codes: decoded on both sides.
            let mut code_q = Vec::new();
            let stored_q = coded.store(&q, &mut code_q).to_vec();
            assert!((coded.distance(&stored_q, &stored) - exact).abs() <= 0.02 * scale);
            let sql = match metric {
                Metric::L2 => f64::from(exact).sqrt(),
                _ => f64::from(exact),
            };
            let norm = f64::from(distance::norm_squared(&q)).sqrt();
            assert!(coded.lower_bound(approx, norm, &stored) <= sql);
        }
        let sparse = WordMetric { kind: ElemKind::Sparse, metric: Metric::L2, sq8: false };
        assert!(!sparse.codes_needed(100_000, 16));
        assert!(plain_dense().codes_needed(3072, 16) && !plain_dense().codes_needed(1536, 16));
    }

    fn plain_dense() -> WordMetric {
        WordMetric { kind: ElemKind::Dense, metric: Metric::L2, sq8: false }
    }

    #[test]
    fn half_links_only_where_half_precision_orders_alike() {
        let of = |kind, metric| WordMetric { kind, metric, sq8: false };
        let link = |kind, metric, values: &[f32]| of(kind, metric).half_link(values, 2).map(|(link, _)| link);
        let unit = [0.6, 0.8, 1.0, 0.0];
        let wide = [60.0, 80.0, 1.0, 0.0];
        assert_eq!(of(ElemKind::Dense, Metric::Cosine).half_link(&wide, 2), Some((HalfLink::UnitCosine, Packing::Normalized)));
        assert_eq!(link(ElemKind::Dense, Metric::InnerProduct, &unit), Some(HalfLink::NegativeDot));
        assert_eq!(link(ElemKind::Dense, Metric::InnerProduct, &wide), None);
        assert_eq!(link(ElemKind::Dense, Metric::L2, &unit), Some(HalfLink::L2 { shift: 0 }));
        assert_eq!(link(ElemKind::Dense, Metric::L2, &wide), None);
        assert_eq!(link(ElemKind::Dense, Metric::L1, &unit), None);
        // L2 and L1 of embeddings from CENTRED_MIN_DIMS: centred and scaled
        // by 2^5, so the largest centred magnitude (29.5) lands within
        // [512, 1024).
        let dims = hnsw::link::CENTRED_MIN_DIMS;
        let wide: Vec<f32> = [vec![60.0; dims], vec![1.0; dims]].concat();
        let centred = Packing::Centred { centre: vec![30.5; dims], shift: 5 };
        assert_eq!(of(ElemKind::Dense, Metric::L2).half_link(&wide, dims), Some((HalfLink::L2 { shift: 5 }, centred.clone())));
        assert_eq!(of(ElemKind::Dense, Metric::L1).half_link(&wide, dims), Some((HalfLink::L1 { shift: 5 }, centred)));
        assert_eq!(of(ElemKind::Half, Metric::L1).half_link(&wide, 2), Some((HalfLink::L1 { shift: 0 }, Packing::AsIs)));
        assert_eq!(of(ElemKind::Sparse, Metric::Cosine).half_link(&unit, 0), None);
        assert_eq!(link(ElemKind::Multi, Metric::Cosine, &unit), None);
        assert_eq!(WordMetric { sq8: true, ..of(ElemKind::Dense, Metric::Cosine) }.half_link(&unit, 2), None);
    }

    #[test]
    fn cosine_skips_only_zero_vectors() {
        let cos = WordMetric { kind: ElemKind::Dense, metric: Metric::Cosine, sq8: false };
        assert!(cos.skips(&[0.0, 0.0]));
        assert!(!cos.skips(&[0.0, 1.0]));
        let l2 = WordMetric { kind: ElemKind::Dense, metric: Metric::L2, sq8: false };
        assert!(!l2.skips(&[0.0, 0.0]));
    }
}
