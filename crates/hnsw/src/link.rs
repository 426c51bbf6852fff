//! Half-precision link codes for the build.
//!
//! Linking the graph is bound by memory, not arithmetic: every distance of
//! a beam search fetches a vector from a random place (1.5 kB at 384
//! dimensions, far more than the caches hold). Linking over half-precision
//! copies halves what each distance reads; on 116,033 WordNet embeddings
//! (384-d, cosine, normalized first so a distance is one dot product) that
//! made the parallel build 25-30% faster at the same recall. The pages still
//! get the full values ([`crate::ondisk::write_graph_from`]).
//!
//! A link code is the `f16` values packed two per `f32` word (the graph
//! stores words), the last word padded with a zero half, which adds nothing
//! to any of the distances.
//!
//! Rounding to `f16` keeps 11 significant bits of each value: harmless for
//! unit vectors (every value within ±1) and for values that were half
//! precision to begin with, but not for arbitrary magnitudes (overflow past
//! 65504, or near-duplicates sharing a large offset), so the glue links over
//! codes only in those cases ([`unit_norm`]).

use distance::{dot_f16, l1_f16, l2_squared_f16};
use half::f16;
use rayon::prelude::*;

use crate::metric::Distance;

/// How close to 1 every norm must be for L2 and inner product to link over
/// half precision ([`unit_norm`]).
pub const UNIT_NORM_TOLERANCE: f32 = 1e-3;

/// The distance between two link codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HalfLink {
    /// Squared Euclidean distance.
    L2,
    /// Negative inner product.
    NegativeDot,
    /// `1 - a·b` of codes packed with `normalize` (cosine distance).
    UnitCosine,
    /// Manhattan distance.
    L1,
}

impl HalfLink {
    /// Whether [`pack`] must normalize the values for this distance.
    pub fn normalizes(self) -> bool {
        self == Self::UnitCosine
    }
}

impl Distance for HalfLink {
    #[inline]
    fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        let (a, b) = (halves(a), halves(b));
        if a.len() != b.len() {
            return f32::NAN;
        }
        match self {
            Self::L2 => l2_squared_f16(a, b),
            Self::NegativeDot => -dot_f16(a, b),
            Self::UnitCosine => 1.0 - dot_f16(a, b),
            Self::L1 => l1_f16(a, b),
        }
    }
}

/// The halves of a link code, in place.
fn halves(words: &[f32]) -> &[f16] {
    bytemuck::cast_slice(words)
}

/// Words of the link code of a `dims`-value vector.
pub fn packed_words(dims: usize) -> usize {
    dims.div_ceil(2)
}

/// Writes the link code of `values` into `out` (cleared first), the values
/// divided by their norm first when `normalize` (a zero vector stays zero).
pub fn pack(values: &[f32], normalize: bool, out: &mut Vec<f32>) {
    let scale = if normalize {
        let norm = distance::norm_squared(values).sqrt();
        if norm > 0.0 {
            1.0 / norm
        } else {
            1.0
        }
    } else {
        1.0
    };
    out.clear();
    out.extend(values.chunks(2).map(|pair| {
        let lo = f16::from_f32(pair[0] * scale);
        let hi = pair.get(1).map_or(f16::ZERO, |&x| f16::from_f32(x * scale));
        bytemuck::cast::<[f16; 2], f32>([lo, hi])
    }));
}

/// The link codes of `data` (`dims` values per vector) end to end, as
/// [`pack`] writes them, packed on every core.
pub fn pack_all(data: &[f32], dims: usize, normalize: bool) -> Vec<f32> {
    let words = packed_words(dims);
    if dims == 0 {
        return Vec::new();
    }
    let mut out = vec![0f32; data.len() / dims * words];
    out.par_chunks_mut(words)
        .zip(data.par_chunks_exact(dims))
        .for_each_init(Vec::new, |code, (out, values)| {
            pack(values, normalize, code);
            out.copy_from_slice(code);
        });
    out
}

/// Whether every vector of `data` (`dims` values each) has a norm within
/// [`UNIT_NORM_TOLERANCE`] of 1: then its values are within ±1 and L2 or
/// inner product over link codes orders neighbours as over the values.
pub fn unit_norm(data: &[f32], dims: usize) -> bool {
    dims > 0
        && data
            .chunks_exact(dims)
            .all(|v| (distance::norm_squared(v).sqrt() - 1.0).abs() <= UNIT_NORM_TOLERANCE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(values: &[f32], normalize: bool) -> Vec<f32> {
        let mut out = Vec::new();
        pack(values, normalize, &mut out);
        out
    }

    #[test]
    fn packs_two_halves_per_word_and_pads_odd_lengths() {
        let code = packed(&[1.0, -2.0, 0.5], false);
        assert_eq!(code.len(), packed_words(3));
        assert_eq!(halves(&code), [f16::from_f32(1.0), f16::from_f32(-2.0), f16::from_f32(0.5), f16::ZERO]);
    }

    #[test]
    fn normalizes_for_cosine_and_leaves_zero_vectors_alone() {
        let code = packed(&[3.0, 4.0], true);
        assert_eq!(halves(&code), [f16::from_f32(0.6), f16::from_f32(0.8)]);
        assert_eq!(halves(&packed(&[0.0, 0.0], true)), [f16::ZERO, f16::ZERO]);
    }

    #[test]
    fn distances_are_close_to_the_full_precision_ones() {
        let a = [0.3f32, -0.1, 0.7, 0.2, -0.5];
        let b = [0.1f32, 0.4, 0.6, -0.3, -0.2];
        let (pa, pb) = (packed(&a, false), packed(&b, false));
        let close = |x: f32, y: f32| assert!((x - y).abs() < 2e-3, "{x} vs {y}");
        close(HalfLink::L2.distance(&pa, &pb), distance::l2_squared(&a, &b));
        close(HalfLink::NegativeDot.distance(&pa, &pb), -distance::dot(&a, &b));
        close(HalfLink::L1.distance(&pa, &pb), distance::l1(&a, &b));
        let (ua, ub) = (packed(&a, true), packed(&b, true));
        close(HalfLink::UnitCosine.distance(&ua, &ub), distance::cosine_distance(&a, &b) as f32);
    }

    #[test]
    fn codes_of_different_lengths_have_no_distance() {
        assert!(HalfLink::L2.distance(&packed(&[1.0, 2.0, 3.0], false), &packed(&[1.0], false)).is_nan());
    }

    #[test]
    fn unit_norm_needs_every_vector_near_one() {
        assert!(unit_norm(&[0.6, 0.8, 1.0, 0.0], 2));
        assert!(!unit_norm(&[0.6, 0.8, 2.0, 0.0], 2));
        assert!(!unit_norm(&[], 0));
    }
}
