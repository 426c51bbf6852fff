//! SQ8: one byte per dimension, scaled per vector, stored as `f32` words
//! so an index that stores vectors as words stores codes unchanged.
//!
//! Layout (`f32` words): `[dims as u32 bits, lo, step, norm, res_l2,
//! res_l1, bytes...]`, the bytes packed four to a word (little-endian,
//! the last word zero-padded). Dimension `i` decodes to
//! `lo + byte[i] * step`.
//!
//! `norm` is `‖x‖₂` of the original vector, `res_l2 = ‖x − x̂‖₂` and
//! `res_l1 = ‖x − x̂‖₁` of its quantization error. With them, a distance
//! computed on the decoded `x̂` gives a lower bound of the exact distance
//! by the triangle and Cauchy–Schwarz inequalities ([`lower_bound`]): an
//! index can return that bound with "recheck" so Postgres re-ranks its
//! candidates on the exact values.

/// Words before the packed bytes.
pub const HEADER_WORDS: usize = 6;

/// Words of the code of a `dims`-dimensional vector.
pub fn code_words(dims: usize) -> usize {
    HEADER_WORDS + dims.div_ceil(4)
}

/// Encodes `v` into `out` (cleared first).
pub fn encode(v: &[f32], out: &mut Vec<f32>) {
    let (lo, hi) = v
        .iter()
        .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    let (lo, step) = if v.is_empty() || !lo.is_finite() || !hi.is_finite() {
        (0.0, 0.0)
    } else {
        (lo, (hi - lo) / 255.0)
    };
    let mut bytes = vec![0u8; v.len().div_ceil(4) * 4];
    let (mut norm, mut res_l2, mut res_l1) = (0.0f64, 0.0f64, 0.0f64);
    for (i, &x) in v.iter().enumerate() {
        let q = if step > 0.0 {
            ((x - lo) / step).round().clamp(0.0, 255.0) as u8
        } else {
            0
        };
        bytes[i] = q;
        let err = f64::from(x) - f64::from(decode_one(lo, step, q));
        norm += f64::from(x) * f64::from(x);
        res_l2 += err * err;
        res_l1 += err.abs();
    }
    out.clear();
    out.reserve(code_words(v.len()));
    out.push(f32::from_bits(v.len() as u32));
    out.push(lo);
    out.push(step);
    out.push(round_up(norm.sqrt()));
    out.push(round_up(res_l2.sqrt()));
    out.push(round_up(res_l1));
    out.extend(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_bits(u32::from_le_bytes([c[0], c[1], c[2], c[3]]))),
    );
}

#[inline]
fn decode_one(lo: f32, step: f32, q: u8) -> f32 {
    lo + f32::from(q) * step
}

/// The smallest `f32` not below `x` (so stored error norms never shrink).
fn round_up(x: f64) -> f32 {
    let f = x as f32;
    if f64::from(f) < x {
        f.next_up()
    } else {
        f
    }
}

/// A borrowed code.
#[derive(Debug, Clone, Copy)]
pub struct Sq8<'a> {
    /// Dimensions of the encoded vector.
    pub dims: usize,
    lo: f32,
    step: f32,
    /// `‖x‖₂` of the original vector.
    pub norm: f32,
    /// `‖x − x̂‖₂`.
    pub res_l2: f32,
    /// `‖x − x̂‖₁`.
    pub res_l1: f32,
    bytes: &'a [u8],
}

impl<'a> Sq8<'a> {
    /// Views `words` as a code; `None` unless they are exactly one code.
    pub fn view(words: &'a [f32]) -> Option<Self> {
        let header = words.get(..HEADER_WORDS)?;
        let dims = header[0].to_bits() as usize;
        if words.len() != code_words(dims) {
            return None;
        }
        let bytes: &[u8] = bytemuck::cast_slice(&words[HEADER_WORDS..]);
        Some(Self {
            dims,
            lo: header[1],
            step: header[2],
            norm: header[3],
            res_l2: header[4],
            res_l1: header[5],
            bytes: &bytes[..dims],
        })
    }

    /// `q·x̂`, computed without decoding (`q` has `dims` elements).
    pub fn dot(&self, q: &[f32]) -> f32 {
        crate::fused::dot(q, self.bytes, self.lo, self.step)
    }

    /// `‖q − x̂‖₂²`, computed without decoding.
    pub fn l2_squared(&self, q: &[f32]) -> f32 {
        crate::fused::l2(q, self.bytes, self.lo, self.step)
    }

    /// `‖q − x̂‖₁`, computed without decoding.
    pub fn l1(&self, q: &[f32]) -> f32 {
        crate::fused::l1(q, self.bytes, self.lo, self.step)
    }

    /// The decoded vector `x̂` into `out` (cleared first).
    pub fn decode_into(&self, out: &mut Vec<f32>) {
        out.clear();
        out.extend(self.bytes.iter().map(|&q| decode_one(self.lo, self.step, q)));
    }
}

/// A distance, in the units of the SQL operator that orders by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// `‖q − x‖₂` (not squared).
    L2,
    /// `−q·x`.
    NegativeInnerProduct,
    /// `1 − q·x / (‖q‖ ‖x‖)`.
    Cosine,
    /// `‖q − x‖₁`.
    L1,
}

/// Relative slack for floating-point rounding: the exact distance and the
/// approximate one are both sums of up to thousands of `f32` terms.
const SLACK: f64 = 1e-3;

/// A lower bound of the exact distance from `q` to the vector `code`
/// encodes, given `approx`, the same distance to the decoded `x̂` (for
/// cosine: `1 − q·x̂ / (‖q‖ ‖x‖)` with the stored `norm`), and `‖q‖₂`.
///
/// - L2: `‖q − x‖ ≥ ‖q − x̂‖ − ‖x − x̂‖`;
/// - inner product: `−q·x = −q·x̂ − q·(x − x̂) ≥ −q·x̂ − ‖q‖ ‖x − x̂‖`;
/// - cosine: the inner-product bound divided by `‖q‖ ‖x‖`;
/// - L1: `‖q − x‖₁ ≥ ‖q − x̂‖₁ − ‖x − x̂‖₁`.
///
/// Minus a small slack for rounding; never NaN (−∞ when undefined, which
/// bounds anything).
pub fn lower_bound(bound: Bound, approx: f64, query_norm: f64, code: &Sq8<'_>) -> f64 {
    let (res_l2, res_l1, norm) = (
        f64::from(code.res_l2),
        f64::from(code.res_l1),
        f64::from(code.norm),
    );
    let lb = match bound {
        Bound::L2 => approx - res_l2 - SLACK * (approx.abs() + res_l2),
        Bound::L1 => approx - res_l1 - SLACK * (approx.abs() + res_l1),
        Bound::NegativeInnerProduct => {
            approx - query_norm * res_l2 - SLACK * query_norm * (norm + res_l2)
        }
        Bound::Cosine => approx - res_l2 / norm - SLACK * (1.0 + res_l2 / norm),
    };
    if lb.is_nan() {
        f64::NEG_INFINITY
    } else {
        lb
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn exact(bound: Bound, q: &[f32], x: &[f32]) -> f64 {
        let dot: f64 = q.iter().zip(x).map(|(&a, &b)| f64::from(a) * f64::from(b)).sum();
        let nq = q.iter().map(|&a| f64::from(a).powi(2)).sum::<f64>().sqrt();
        let nx = x.iter().map(|&a| f64::from(a).powi(2)).sum::<f64>().sqrt();
        match bound {
            Bound::L2 => q
                .iter()
                .zip(x)
                .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                .sum::<f64>()
                .sqrt(),
            Bound::L1 => q.iter().zip(x).map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs()).sum(),
            Bound::NegativeInnerProduct => -dot,
            Bound::Cosine => 1.0 - dot / (nq * nx),
        }
    }

    /// The approximate distance the index computes: on the decoded vector,
    /// in `f32` like the kernels (cosine with the stored norm).
    fn approx(bound: Bound, q: &[f32], code: &Sq8<'_>) -> f64 {
        let mut xh = Vec::new();
        code.decode_into(&mut xh);
        let dot: f32 = q.iter().zip(&xh).map(|(a, b)| a * b).sum();
        let nq = q.iter().map(|a| a * a).sum::<f32>().sqrt();
        match bound {
            Bound::L2 => f64::from(q.iter().zip(&xh).map(|(a, b)| (a - b) * (a - b)).sum::<f32>().sqrt()),
            Bound::L1 => f64::from(q.iter().zip(&xh).map(|(a, b)| (a - b).abs()).sum::<f32>()),
            Bound::NegativeInnerProduct => f64::from(-dot),
            Bound::Cosine => 1.0 - f64::from(dot) / (f64::from(nq) * f64::from(code.norm)),
        }
    }

    #[test]
    fn round_trip_is_within_half_a_step() {
        let v: Vec<f32> = (0..1001).map(|i| ((i * 37 % 101) as f32 - 50.0) / 7.0).collect();
        let mut code = Vec::new();
        encode(&v, &mut code);
        assert_eq!(code.len(), code_words(v.len()));
        let c = Sq8::view(&code).expect("a code");
        assert_eq!(c.dims, 1001);
        let mut xh = Vec::new();
        c.decode_into(&mut xh);
        let step = (v.iter().cloned().fold(f32::MIN, f32::max) - v.iter().cloned().fold(f32::MAX, f32::min)) / 255.0;
        for (a, b) in v.iter().zip(&xh) {
            assert!((a - b).abs() <= step * 0.5001, "{a} vs {b}");
        }
        let res: f64 = v.iter().zip(&xh).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum::<f64>().sqrt();
        assert!(f64::from(c.res_l2) >= res);
    }

    #[test]
    fn constant_and_empty_vectors_encode_exactly() {
        let mut code = Vec::new();
        encode(&[3.5; 9], &mut code);
        let c = Sq8::view(&code).unwrap();
        let mut xh = Vec::new();
        c.decode_into(&mut xh);
        assert_eq!(xh, vec![3.5; 9]);
        assert_eq!(c.res_l2, 0.0);
        encode(&[], &mut code);
        assert_eq!(Sq8::view(&code).unwrap().dims, 0);
    }

    #[test]
    fn view_refuses_words_that_are_not_one_code() {
        let mut code = Vec::new();
        encode(&[1.0, 2.0, 3.0, 4.0, 5.0], &mut code);
        assert!(Sq8::view(&code).is_some());
        assert!(Sq8::view(&code[..code.len() - 1]).is_none());
        assert!(Sq8::view(&[1.0; 3]).is_none());
    }

    #[test]
    fn undefined_bounds_are_minus_infinity() {
        let mut code = Vec::new();
        encode(&[0.0; 8], &mut code);
        let c = Sq8::view(&code).unwrap();
        assert_eq!(lower_bound(Bound::Cosine, f64::NAN, 0.0, &c), f64::NEG_INFINITY);
    }

    proptest! {
        #[test]
        fn lower_bounds_never_exceed_the_exact_distance(
            seed in any::<u64>(),
            dims in 1usize..3000,
            scale in prop_oneof![Just(0.01f32), Just(1.0f32), Just(300.0f32)],
        ) {
            let mut s = seed | 1;
            let mut next = || {
                s ^= s << 13; s ^= s >> 7; s ^= s << 17;
                ((s >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale
            };
            let x: Vec<f32> = (0..dims).map(|_| next()).collect();
            // Queries near x (the hard case: small distances) and far from it.
            let near: Vec<f32> = x.iter().map(|&a| a + next() * 0.01).collect();
            let far: Vec<f32> = (0..dims).map(|_| next()).collect();
            let mut code = Vec::new();
            encode(&x, &mut code);
            let c = Sq8::view(&code).unwrap();
            for q in [&x, &near, &far] {
                let nq = q.iter().map(|&a| f64::from(a).powi(2)).sum::<f64>().sqrt();
                for b in [Bound::L2, Bound::NegativeInnerProduct, Bound::Cosine, Bound::L1] {
                    let e = exact(b, q, &x);
                    let lb = lower_bound(b, approx(b, q, &c), nq, &c);
                    prop_assert!(lb <= e, "{b:?}: bound {lb} above exact {e}");
                }
            }
        }
    }
}
