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
//! Rounding to `f16` keeps 11 significant bits of each value, relative to
//! its own magnitude. What a link code holds is chosen so that this is
//! harmless ([`Packing`]):
//! - cosine: the unit vectors (every value within ±1);
//! - L2 and L1: the values minus their mean, times a power of two that puts
//!   the largest magnitude near 2¹⁰, far from `f16`'s overflow (65504) and
//!   from its subnormals (below 2⁻¹⁴). Both distances ignore the shift and
//!   scale by the power of two exactly, which the distance divides back out,
//!   so a link distance is in the values' units (the build compares it with
//!   neighbour codes' bounds). Centring is what keeps the precision: the
//!   rounding error is relative to a value's distance from the mean, not
//!   to a common offset all values share;
//! - inner product: only unit vectors ([`unit_norm`]), taken as they are;
//! - half-precision values: as they are (exact).

use distance::{dot_f16, l1_f16, l2_squared_f16};
use half::f16;
use rayon::prelude::*;

use crate::metric::Distance;

/// How close to 1 every norm must be for inner product to link over half
/// precision ([`unit_norm`]).
pub const UNIT_NORM_TOLERANCE: f32 = 1e-3;

/// Fewest dimensions for which a build links L2 or L1 over centred codes
/// ([`Packing::centred`]). Below, a vector is a few cache lines either
/// way and halving it does not pay: in process, 100,000 clustered
/// vectors built in the same time at 128 dimensions, 3-4% faster at 256
/// (WordNet projected) and 20-25% faster at 1,536, at the same recall.
pub const CENTRED_MIN_DIMS: usize = 256;

/// Where [`Packing::centred`] puts the largest centred magnitude: within
/// `[2^CENTRED_EXPONENT, 2^(CENTRED_EXPONENT + 1))`.
const CENTRED_EXPONENT: i32 = 9;

/// The largest scaling shift either way, so that `2^(±2 shift)` is a
/// normal `f32`.
const MAX_SHIFT: i32 = 60;

/// The distance between two link codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HalfLink {
    /// Squared Euclidean distance, in the values' units.
    L2 {
        /// The power of two the codes were scaled by ([`Packing::shift`]).
        shift: i32,
    },
    /// Negative inner product.
    NegativeDot,
    /// `1 - a·b` of codes packed with [`Packing::Normalized`] (cosine
    /// distance).
    UnitCosine,
    /// Manhattan distance, in the values' units.
    L1 {
        /// The power of two the codes were scaled by ([`Packing::shift`]).
        shift: i32,
    },
}

impl Distance for HalfLink {
    #[inline]
    fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        let (a, b) = (halves(a), halves(b));
        if a.len() != b.len() {
            return f32::NAN;
        }
        match *self {
            Self::L2 { shift } => l2_squared_f16(a, b) * power_of_two(-2 * shift),
            Self::NegativeDot => -dot_f16(a, b),
            Self::UnitCosine => 1.0 - dot_f16(a, b),
            Self::L1 { shift } => l1_f16(a, b) * power_of_two(-shift),
        }
    }
}

/// `2^e` for `e` within ±126, exactly.
#[inline]
fn power_of_two(e: i32) -> f32 {
    f32::from_bits(((e + 127) as u32) << 23)
}

/// What a link code holds of a vector's values.
#[derive(Debug, Clone, PartialEq)]
pub enum Packing {
    /// The values as they are.
    AsIs,
    /// The values divided by their norm (a zero vector stays zero).
    Normalized,
    /// `(x − centre) · 2^shift`.
    Centred {
        /// The values' mean.
        centre: Vec<f32>,
        /// The power of two the centred values are scaled by.
        shift: i32,
    },
}

impl Packing {
    /// Centred on the mean of `data` (`dims` values per vector) and scaled
    /// by the power of two that puts the largest centred magnitude within
    /// `[2⁹, 2¹⁰)`, computed on every core.
    pub fn centred(data: &[f32], dims: usize) -> Self {
        if dims == 0 || data.len() < dims {
            return Self::Centred { centre: vec![0.0; dims], shift: 0 };
        }
        let n = (data.len() / dims) as f64;
        let sums = data
            .par_chunks_exact(dims)
            .fold(
                || vec![0f64; dims],
                |mut acc, v| {
                    acc.iter_mut().zip(v).for_each(|(a, &x)| *a += f64::from(x));
                    acc
                },
            )
            .reduce(
                || vec![0f64; dims],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
                    a
                },
            );
        let centre: Vec<f32> = sums.iter().map(|&s| (s / n) as f32).collect();
        let largest = data
            .par_chunks_exact(dims)
            .map(|v| v.iter().zip(&centre).map(|(x, c)| (x - c).abs()).fold(0f32, f32::max))
            .reduce(|| 0.0, f32::max);
        let shift = if largest.is_normal() {
            (CENTRED_EXPONENT - exponent_of(largest)).clamp(-MAX_SHIFT, MAX_SHIFT)
        } else {
            0
        };
        Self::Centred { centre, shift }
    }

    /// The power of two the values are scaled by (0 unless centred).
    pub fn shift(&self) -> i32 {
        match self {
            Self::Centred { shift, .. } => *shift,
            _ => 0,
        }
    }
}

/// `⌊log₂ x⌋` of a normal positive `x`.
fn exponent_of(x: f32) -> i32 {
    ((x.to_bits() >> 23) & 0xff) as i32 - 127
}

/// The halves of a link code, in place.
fn halves(words: &[f32]) -> &[f16] {
    bytemuck::cast_slice(words)
}

/// Words of the link code of a `dims`-value vector.
pub fn packed_words(dims: usize) -> usize {
    dims.div_ceil(2)
}

/// Writes the link code of `values` into `out` (cleared first), as
/// `packing` says.
pub fn pack(values: &[f32], packing: &Packing, out: &mut Vec<f32>) {
    let half = |x: Option<f32>| x.map_or(f16::ZERO, f16::from_f32);
    out.clear();
    match packing {
        Packing::AsIs | Packing::Normalized => {
            let norm = if *packing == Packing::Normalized { distance::norm_squared(values).sqrt() } else { 0.0 };
            let scale = if norm > 0.0 { 1.0 / norm } else { 1.0 };
            out.extend(values.chunks(2).map(|pair| {
                bytemuck::cast::<[f16; 2], f32>([half(Some(pair[0] * scale)), half(pair.get(1).map(|x| x * scale))])
            }));
        }
        Packing::Centred { centre, shift } => {
            let scale = power_of_two(*shift);
            let at = |i: usize| values.get(i).map(|&x| (x - centre.get(i).copied().unwrap_or(0.0)) * scale);
            out.extend((0..values.len()).step_by(2).map(|i| bytemuck::cast::<[f16; 2], f32>([half(at(i)), half(at(i + 1))])));
        }
    }
}

/// The link codes of `data` (`dims` values per vector) end to end, as
/// [`pack`] writes them, packed on every core.
pub fn pack_all(data: &[f32], dims: usize, packing: &Packing) -> Vec<f32> {
    let words = packed_words(dims);
    if dims == 0 {
        return Vec::new();
    }
    let mut out = vec![0f32; data.len() / dims * words];
    out.par_chunks_mut(words)
        .zip(data.par_chunks_exact(dims))
        .for_each_init(Vec::new, |code, (out, values)| {
            pack(values, packing, code);
            out.copy_from_slice(code);
        });
    out
}

/// Whether every vector of `data` (`dims` values each) has a norm within
/// [`UNIT_NORM_TOLERANCE`] of 1: then its values are within ±1 and inner
/// product over link codes orders neighbours as over the values.
pub fn unit_norm(data: &[f32], dims: usize) -> bool {
    dims > 0
        && data
            .chunks_exact(dims)
            .all(|v| (distance::norm_squared(v).sqrt() - 1.0).abs() <= UNIT_NORM_TOLERANCE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(values: &[f32], packing: &Packing) -> Vec<f32> {
        let mut out = Vec::new();
        pack(values, packing, &mut out);
        out
    }

    #[test]
    fn packs_two_halves_per_word_and_pads_odd_lengths() {
        let code = packed(&[1.0, -2.0, 0.5], &Packing::AsIs);
        assert_eq!(code.len(), packed_words(3));
        assert_eq!(halves(&code), [f16::from_f32(1.0), f16::from_f32(-2.0), f16::from_f32(0.5), f16::ZERO]);
        let centred = Packing::Centred { centre: vec![1.0, 1.0, 1.0], shift: 1 };
        assert_eq!(halves(&packed(&[1.0, -2.0, 0.5], &centred)), [f16::ZERO, f16::from_f32(-6.0), f16::from_f32(-1.0), f16::ZERO]);
    }

    #[test]
    fn normalizes_for_cosine_and_leaves_zero_vectors_alone() {
        let code = packed(&[3.0, 4.0], &Packing::Normalized);
        assert_eq!(halves(&code), [f16::from_f32(0.6), f16::from_f32(0.8)]);
        assert_eq!(halves(&packed(&[0.0, 0.0], &Packing::Normalized)), [f16::ZERO, f16::ZERO]);
    }

    #[test]
    fn distances_are_close_to_the_full_precision_ones() {
        let a = [0.3f32, -0.1, 0.7, 0.2, -0.5];
        let b = [0.1f32, 0.4, 0.6, -0.3, -0.2];
        let (pa, pb) = (packed(&a, &Packing::AsIs), packed(&b, &Packing::AsIs));
        let close = |x: f32, y: f32| assert!((x - y).abs() < 2e-3, "{x} vs {y}");
        close(HalfLink::L2 { shift: 0 }.distance(&pa, &pb), distance::l2_squared(&a, &b));
        close(HalfLink::NegativeDot.distance(&pa, &pb), -distance::dot(&a, &b));
        close(HalfLink::L1 { shift: 0 }.distance(&pa, &pb), distance::l1(&a, &b));
        let (ua, ub) = (packed(&a, &Packing::Normalized), packed(&b, &Packing::Normalized));
        close(HalfLink::UnitCosine.distance(&ua, &ub), distance::cosine_distance(&a, &b) as f32);
    }

    /// Values far beyond `f16`'s range, or sharing an offset far larger
    /// than their spread, keep their distances when centred and scaled.
    #[test]
    fn centred_codes_keep_distances_of_any_scale_and_offset() {
        for (offset, spread) in [(0.0f32, 1e6f32), (0.0, 1e-7), (5e4, 1.0), (-3e3, 0.01)] {
            let data: Vec<f32> =
                (0..40).map(|i| offset + spread * (((i * 7919) % 97) as f32 / 97.0 - 0.5)).collect();
            let packing = Packing::centred(&data, 4);
            let Packing::Centred { ref centre, shift } = packing else { panic!("{packing:?}") };
            assert!(centre.iter().all(|c| (c - offset).abs() <= spread), "{centre:?}");
            let codes = pack_all(&data, 4, &packing);
            let largest = codes.iter().flat_map(|w| halves(std::slice::from_ref(w))).map(|h| h.to_f32().abs());
            let largest = largest.fold(0f32, f32::max);
            assert!((512.0..1024.0).contains(&largest), "largest code value {largest} (offset {offset}, spread {spread})");
            let (l2, l1) = (HalfLink::L2 { shift }, HalfLink::L1 { shift });
            for (i, j) in [(0, 1), (2, 7), (3, 9)] {
                let (a, b) = (&data[i * 4..][..4], &data[j * 4..][..4]);
                let (ca, cb) = (&codes[i * 2..][..2], &codes[j * 2..][..2]);
                let (want2, want1) = (distance::l2_squared(a, b), distance::l1(a, b));
                assert!((l2.distance(ca, cb) - want2).abs() <= 2e-3 * want2.max(spread * spread), "l2 {offset} {spread}");
                assert!((l1.distance(ca, cb) - want1).abs() <= 2e-3 * want1.max(spread), "l1 {offset} {spread}");
            }
        }
    }

    #[test]
    fn identical_values_centre_to_zero_codes() {
        let packing = Packing::centred(&[2.5, -1.0, 2.5, -1.0], 2);
        assert_eq!(packing, Packing::Centred { centre: vec![2.5, -1.0], shift: 0 });
        assert!(pack_all(&[2.5, -1.0], 2, &packing).iter().all(|&w| w == 0.0));
    }

    #[test]
    fn codes_of_different_lengths_have_no_distance() {
        let (a, b) = (packed(&[1.0, 2.0, 3.0], &Packing::AsIs), packed(&[1.0], &Packing::AsIs));
        assert!(HalfLink::L2 { shift: 0 }.distance(&a, &b).is_nan());
    }

    #[test]
    fn unit_norm_needs_every_vector_near_one() {
        assert!(unit_norm(&[0.6, 0.8, 1.0, 0.0], 2));
        assert!(!unit_norm(&[0.6, 0.8, 2.0, 0.0], 2));
        assert!(!unit_norm(&[], 0));
    }
}
