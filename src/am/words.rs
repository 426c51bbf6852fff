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

use half::f16;

/// The indexed type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElemKind {
    /// `embedding`.
    Dense,
    /// `halfembedding`.
    Half,
    /// `sparseembedding`.
    Sparse,
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
}

impl WordMetric {
    /// The metapage id of this opclass.
    pub fn id(self) -> u8 {
        let kind = match self.kind {
            ElemKind::Dense => 0,
            ElemKind::Half => 1,
            ElemKind::Sparse => 2,
        };
        let metric = match self.metric {
            Metric::L2 => 0,
            Metric::InnerProduct => 1,
            Metric::Cosine => 2,
            Metric::L1 => 3,
        };
        kind * 4 + metric
    }

    /// Words per vector for the graph's fixed length (0: variable).
    pub fn fixed_words(self, dims: usize) -> usize {
        match self.kind {
            ElemKind::Dense | ElemKind::Half => dims,
            ElemKind::Sparse => 0,
        }
    }

    /// Whether a vector is left out of the index: for cosine, vectors with
    /// no direction (zero), whose distance to anything is undefined.
    pub fn skips(self, words: &[f32]) -> bool {
        self.metric == Metric::Cosine
            && match self.kind {
                ElemKind::Dense | ElemKind::Half => words.iter().all(|&x| x == 0.0),
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

impl hnsw::Distance for WordMetric {
    #[inline]
    fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        match self.kind {
            // Values of different lengths (an untyped column) have no
            // distance; NaN sorts them last instead of failing a kernel.
            ElemKind::Dense | ElemKind::Half if a.len() != b.len() => f32::NAN,
            ElemKind::Dense | ElemKind::Half => match self.metric {
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
        let ip = WordMetric { kind: ElemKind::Sparse, metric: Metric::InnerProduct };
        assert_eq!(ip.distance(&a, &b), -6.0);
        let l2 = WordMetric { kind: ElemKind::Sparse, metric: Metric::L2 };
        assert_eq!(l2.distance(&a, &b), 1.0 + 1.0 + 1.0);
    }

    #[test]
    fn cosine_skips_only_zero_vectors() {
        let cos = WordMetric { kind: ElemKind::Dense, metric: Metric::Cosine };
        assert!(cos.skips(&[0.0, 0.0]));
        assert!(!cos.skips(&[0.0, 1.0]));
        let l2 = WordMetric { kind: ElemKind::Dense, metric: Metric::L2 };
        assert!(!l2.skips(&[0.0, 0.0]));
    }
}
