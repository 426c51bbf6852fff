//! RaBitQ: one bit per (rotated) dimension, with an unbiased distance
//! estimator and its error bound (Gao & Long, "RaBitQ: Quantizing
//! High-Dimensional Vectors with a Theoretical Error Bound for Approximate
//! Nearest Neighbor Search", SIGMOD 2024).
//!
//! For an IVF list with centroid `c`, a vector `o` is coded by its residual
//! `r = o − c`: after a random orthogonal rotation `P`, the code keeps the
//! sign of every coordinate of `P r` (the vertex `x̄ = (2b − 1)/√D` of the
//! hypercube nearest to `P r/‖r‖`) plus two factors: `‖r‖` and
//! `⟨ō, o⟩ = ⟨x̄, P r/‖r‖⟩` (the cosine between the unit residual and its
//! quantized direction, about 0.8 in high dimensions). A query `q` is
//! rotated once; per probed list its residual `y = P(q − c)` is quantized
//! to 4 bits per dimension ([`Query`]), so `⟨x̄, ŷ⟩` is four `AND` +
//! popcount passes over the code's words. Then
//!
//! - `⟨r/‖r‖, q − c⟩ ≈ ⟨x̄, ŷ⟩ / ⟨ō, o⟩` (unbiased),
//! - `‖o − q‖² ≈ ‖r‖² + ‖q − c‖² − 2‖r‖ ⟨r/‖r‖, q − c⟩`,
//! - with error at most `2‖r‖ ‖q − c‖ · ε₀ √((1 − ⟨ō,o⟩²)/⟨ō,o⟩²) / √(D − 1)`
//!   with high probability ([`EPSILON0`] = 1.9 as in the paper). This is a
//!   *probabilistic* bound, unlike SQ8's ([`crate::sq8::lower_bound`]):
//!   about 3% of the estimates fall below their lower end on one side.
//!
//! Code layout (`f32` words, like SQ8, so an index stores it unchanged):
//! `[D as u32 bits, ‖r‖, ⟨ō,o⟩, popcount(b) as u32 bits, bits...]`, the
//! bits packed 64 to a pair of words (little-endian `u64`s), `D` being the
//! padded dimension ([`Rotation::padded_dims`]).
//!
//! A *relative* code ([`encode_relative`]) codes `y − a` for an origin
//! `a = P(u − c)` (in an HNSW list: the list's owner `u`) and appends
//! `⟨x̄, a⟩` to the header (five words). The query stays rotated once:
//! `⟨x̄, P(q − u)⟩ = ⟨x̄, P(q − c)⟩ − ⟨x̄, a⟩`, and with `‖q − u‖²` (known
//! exactly to a search expanding `u`) the same estimator and bound hold
//! around `u` instead of `c`. Both scale with the distances from the
//! origin, which are far smaller from a neighbour than from one centroid
//! of clustered data ([`Query::estimate_from`]).
//!
//! Cosine and inner product on unit vectors reduce to L2:
//! `1 − q·x = ‖q − x‖²/2`; the estimator here is for squared L2.

use crate::hadamard::fwht;

/// Words before the packed bits.
pub const HEADER_WORDS: usize = 4;

/// The paper's confidence parameter for the error bound (Sec. 3.2: 1.9
/// gives nearly perfect recall in their experiments).
pub const EPSILON0: f64 = 1.9;

/// Bits of the quantized query per dimension (the kernel keeps four
/// accumulators, one per plane).
const QUERY_BITS: usize = 4;

/// Rounds of (signs, Hadamard on the head block, signs, Hadamard on the
/// tail block).
const ROUNDS: usize = 4;

/// Words of the code of a vector whose rotation has `padded` dimensions.
pub fn code_words(padded: usize) -> usize {
    HEADER_WORDS + padded.div_ceil(64) * 2
}

/// Words of a relative code ([`encode_relative`]): one more than
/// [`code_words`], so the parity of a code's length tells the two apart.
pub fn relative_code_words(padded: usize) -> usize {
    code_words(padded) + 1
}

/// A random orthogonal rotation of `R^dims`, padded to a multiple of 64.
///
/// The paper draws a dense random orthogonal matrix (`D²` floats, `D²`
/// flops per rotation). This one is a product of `ROUNDS` rounds of a
/// random ±1 diagonal, a normalized Walsh–Hadamard transform on the first
/// `2^k` coordinates, another ±1 diagonal and the same transform on the
/// last `2^k` coordinates (`2^k` the largest power of two not above the
/// padded dimension, so the two blocks overlap and cover everything):
/// every factor is orthogonal, so the product is, it is reproduced from a
/// seed alone (nothing to store but the seed), and it costs
/// `O(D log D)`. Sign flips with Hadamard transforms are the usual fast
/// substitute for a random rotation (the randomized Hadamard transform of
/// fast Johnson–Lindenstrauss; the authors' library uses the same kind of
/// construction); two overlapping blocks let any dimension work without
/// padding to a power of two (784 would need 1024).
///
/// Padding to a multiple of 64 (zeros; norms and inner products are
/// unchanged) makes the codes whole `u64` words, so the popcount loop has
/// no tail; it costs at most 63 bits per code (784 → 832, 384 → 384).
#[derive(Debug, Clone)]
pub struct Rotation {
    dims: usize,
    padded: usize,
    block: usize,
    /// `ROUNDS * 2` diagonals of `padded` signs (±1.0).
    signs: Vec<f32>,
}

/// SplitMix64.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Rotation {
    /// The rotation of `dims`-dimensional vectors drawn from `seed`.
    pub fn new(dims: usize, seed: u64) -> Self {
        let padded = dims.max(1).div_ceil(64) * 64;
        let block = 1usize << (usize::BITS - 1 - padded.leading_zeros());
        let mut state = seed;
        let mut signs = Vec::with_capacity(ROUNDS * 2 * padded);
        while signs.len() < ROUNDS * 2 * padded {
            let bits = splitmix(&mut state);
            for i in 0..64 {
                signs.push(if bits >> i & 1 == 1 { -1.0 } else { 1.0 });
            }
        }
        signs.truncate(ROUNDS * 2 * padded);
        Self { dims, padded, block, signs }
    }

    /// Dimensions of the vectors it rotates.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Dimensions after padding (a multiple of 64): the length of rotated
    /// vectors and the bits of a code.
    pub fn padded_dims(&self) -> usize {
        self.padded
    }

    /// `P v` into `out` (cleared first; `padded_dims()` long). `v` has
    /// `dims()` elements (shorter: zero-padded; longer: truncated).
    pub fn rotate(&self, v: &[f32], out: &mut Vec<f32>) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2 (checked above).
            #[allow(unsafe_code)]
            unsafe {
                return self.rotate_avx2(v, out);
            }
        }
        self.rotate_portable(v, out);
    }

    /// [`Rotation::rotate`] compiled for AVX2: eight lanes where SSE2 has
    /// four. Only additions, subtractions and multiplications (no FMA),
    /// each rounded alike at any width, so the bits are the same
    /// (see `hadamard`).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    fn rotate_avx2(&self, v: &[f32], out: &mut Vec<f32>) {
        self.rotate_with::<true>(v, out);
    }

    fn rotate_portable(&self, v: &[f32], out: &mut Vec<f32>) {
        self.rotate_with::<false>(v, out);
    }

    /// The rotation, with AVX2 kernels only where the caller checked the
    /// CPU has AVX2.
    #[inline(always)]
    fn rotate_with<const AVX2: bool>(&self, v: &[f32], out: &mut Vec<f32>) {
        out.clear();
        out.extend(v.iter().take(self.dims));
        out.resize(self.padded, 0.0);
        let (p, b) = (self.padded, self.block);
        for round in self.signs.chunks_exact(2 * p) {
            let (first, second) = round.split_at(p);
            out.iter_mut().zip(first).for_each(|(x, s)| *x *= s);
            fwht::<AVX2>(&mut out[..b]);
            out.iter_mut().zip(second).for_each(|(x, s)| *x *= s);
            fwht::<AVX2>(&mut out[p - b..]);
        }
    }
}

/// Encodes the rotated residual `y = P(o − c)` (`padded_dims()` long, a
/// multiple of 64) into `out` (cleared first).
pub fn encode(y: &[f32], out: &mut Vec<f32>) {
    let padded = y.len().div_ceil(64) * 64;
    // Summed in order, in f64: an index built by an earlier version holds
    // codes summed so, and `verify` recomputes them bit for bit.
    let norm = y.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    let abs_sum: f64 = y.iter().map(|&x| f64::from(x).abs()).sum();
    // ⟨ō, o⟩ = Σ|y_i| / (‖y‖ √D); a zero residual is coded exactly by any
    // bits (its distance is ‖q − c‖), so it gets 1 (no error).
    let ip = if norm > 0.0 { (abs_sum / (norm * (padded as f64).sqrt())).min(1.0) } else { 1.0 };
    // Branch-free: a residual's signs are as good as random, and a branch
    // per coordinate mispredicted half the time (a quarter of a build's
    // write phase at 128 dimensions).
    let mut words = vec![0u64; padded / 64];
    for (word, chunk) in words.iter_mut().zip(y.chunks(64)) {
        *word = chunk.iter().enumerate().fold(0u64, |w, (i, &x)| w | u64::from(x > 0.0) << i);
    }
    write_code(out, padded, norm, ip, None, &words);
}

/// Writes a code's words into `out` (cleared first): the header (with
/// `shift` as the fifth word of a relative code), then the sign words.
fn write_code(out: &mut Vec<f32>, padded: usize, norm: f64, ip: f64, shift: Option<f64>, words: &[u64]) {
    let popcount: u32 = words.iter().map(|w| w.count_ones()).sum();
    out.clear();
    out.reserve(relative_code_words(padded));
    out.extend([f32::from_bits(padded as u32), norm as f32, ip as f32, f32::from_bits(popcount)]);
    out.extend(shift.map(|s| s as f32));
    for &w in words {
        out.extend([f32::from_bits(w as u32), f32::from_bits((w >> 32) as u32)]);
    }
}

/// Encodes `y − origin` (both rotated residuals from the same centroid,
/// `padded_dims()` long) into `out` (cleared first) as a relative code:
/// the header gains `⟨x̄, origin⟩`, which turns a query's `⟨x̄, P(q − c)⟩`
/// into `⟨x̄, P(q − c) − origin⟩ = ⟨x̄, P(q − u)⟩`.
///
/// One pass in `f32` over eight lanes (`relative`), vectorized where the
/// CPU has AVX2 with the same bits as without.
pub fn encode_relative(y: &[f32], origin: &[f32], out: &mut Vec<f32>) {
    debug_assert_eq!(y.len(), origin.len());
    let padded = y.len().div_ceil(64) * 64;
    let mut words = vec![0u64; padded / 64];
    // Coordinates past `y` (none for a rotated residual) are zeros: bit 0
    // and nothing to any sum.
    let sums = crate::relative::signs_and_sums(y, origin, &mut words);
    let sum = |v: [f32; crate::relative::LANES]| v.iter().map(|&x| f64::from(x)).sum::<f64>();
    let (norm, abs_sum, dot) = (sum(sums.norm_sq).sqrt(), sum(sums.abs), sum(sums.dot));
    let root = (padded as f64).sqrt();
    let ip = if norm > 0.0 { (abs_sum / (norm * root)).min(1.0) } else { 1.0 };
    write_code(out, padded, norm, ip, Some(dot / root), &words);
}

/// The least and the greatest of `y` and its squared norm, over eight
/// independent lanes rather than one serial chain of a `min`, a `max` and
/// an addition per coordinate.
fn range_and_norm(y: &[f32]) -> (f32, f32, f32) {
    const LANES: usize = 8;
    let (mut lo, mut hi, mut sq) = ([f32::INFINITY; LANES], [f32::NEG_INFINITY; LANES], [0f32; LANES]);
    let chunks = y.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks.chain([rest]) {
        for (i, &x) in chunk.iter().enumerate() {
            lo[i] = lo[i].min(x);
            hi[i] = hi[i].max(x);
            sq[i] += x * x;
        }
    }
    let least = lo.iter().fold(f32::INFINITY, |a, &b| a.min(b));
    let greatest = hi.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
    (least, greatest, sq.iter().sum())
}

/// A borrowed code.
#[derive(Debug, Clone, Copy)]
pub struct Code<'a> {
    /// Padded dimensions (bits).
    pub padded: usize,
    /// `‖o − c‖`.
    pub norm: f32,
    /// `⟨ō, o⟩`.
    pub ip: f32,
    /// Set bits.
    pub popcount: u32,
    /// `⟨x̄, origin⟩` of a relative code ([`encode_relative`]); 0 else.
    pub shift: f32,
    /// Whether the code is relative ([`encode_relative`]).
    pub relative: bool,
    bytes: &'a [u8],
}

impl<'a> Code<'a> {
    /// Views `words` as a code; `None` unless they are exactly one code.
    pub fn view(words: &'a [f32]) -> Option<Self> {
        let header = words.get(..HEADER_WORDS)?;
        let padded = header[0].to_bits() as usize;
        let relative = Self::relative_len(padded, words.len())?;
        let header_words = HEADER_WORDS + usize::from(relative);
        Some(Self {
            padded,
            norm: header[1],
            ip: header[2],
            popcount: header[3].to_bits(),
            shift: if relative { words[HEADER_WORDS] } else { 0.0 },
            relative,
            bytes: bytemuck::cast_slice(&words[header_words..]),
        })
    }

    /// Views the little-endian bytes of a code (as stored on a page, with
    /// no alignment); `None` unless they are exactly one code.
    pub fn from_le_bytes(bytes: &'a [u8]) -> Option<Self> {
        let word = |i: usize| -> Option<u32> {
            let b = bytes.get(4 * i..4 * i + 4)?;
            Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        };
        let padded = word(0)? as usize;
        if padded == 0 || !bytes.len().is_multiple_of(4) {
            return None;
        }
        let relative = Self::relative_len(padded, bytes.len() / 4)?;
        let header_words = HEADER_WORDS + usize::from(relative);
        Some(Self {
            padded,
            norm: f32::from_bits(word(1)?),
            ip: f32::from_bits(word(2)?),
            popcount: word(3)?,
            shift: if relative { f32::from_bits(word(HEADER_WORDS)?) } else { 0.0 },
            relative,
            bytes: &bytes[4 * header_words..],
        })
    }

    /// Whether `words` words are a relative code of `padded` dimensions
    /// (`Some(false)`: a plain one; `None`: neither).
    fn relative_len(padded: usize, words: usize) -> Option<bool> {
        if !padded.is_multiple_of(64) {
            None
        } else if words == code_words(padded) {
            Some(false)
        } else if words == relative_code_words(padded) {
            Some(true)
        } else {
            None
        }
    }

    /// Bit `i` (the sign of rotated coordinate `i`).
    pub fn bit(&self, i: usize) -> bool {
        self.bytes[i / 8] >> (i % 8) & 1 == 1
    }
}

/// An estimated squared L2 distance and its error bound.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// Estimated `‖o − q‖²`.
    pub distance: f32,
    /// Half-width of the confidence interval (`EPSILON0`).
    pub error: f32,
}

impl Estimate {
    /// `distance − error`: below the exact squared distance with high probability.
    pub fn lower(&self) -> f32 {
        self.distance - self.error
    }
}

/// A query's residual to one list's centroid, rotated and quantized to
/// `QUERY_BITS` bits per dimension, laid out as bit planes.
#[derive(Debug, Clone)]
pub struct Query {
    padded: usize,
    /// `padded / 64` groups of `QUERY_BITS` words: word `j` of group `w`
    /// holds bit `j` of `u_i` for `i` in `64w..64w + 64` (a code word's
    /// four planes sit together).
    planes: Vec<u64>,
    /// `ŷ_i = lo + delta * u_i`.
    lo: f32,
    delta: f32,
    /// `Σ ŷ_i`.
    sum: f32,
    /// `‖y‖² = ‖q − c‖²`.
    norm_sq: f32,
    /// `ε₀ / √(D − 1)`.
    eps: f32,
    /// `ε₀ δ / √12`: `ε₀` standard deviations of `⟨x̄, ŷ − y⟩`, the
    /// query's rounding error (`δ/2` at most per coordinate, uniform).
    /// Far below a plain code's error, which scales with `‖y‖`; not below
    /// a relative code's, which scales with the distance to its origin.
    rounding: f32,
    /// `1 / √D`.
    inv_sqrt_d: f32,
}

impl Query {
    /// Quantizes `y = P(q − c)` (`padded_dims()` long). Rounding is to
    /// nearest (the paper rounds at random to make `⟨x̄, ŷ⟩` exactly
    /// unbiased; at 4 bits the difference is far below the code's error).
    pub fn new(y: &[f32]) -> Self {
        Self::with_epsilon(y, EPSILON0)
    }

    /// [`Query::new`] with another confidence parameter `ε₀` for the bound.
    pub fn with_epsilon(y: &[f32], epsilon0: f64) -> Self {
        let padded = y.len().div_ceil(64) * 64;
        let (lo, hi, norm_sq) = range_and_norm(y);
        let (lo, hi) = if y.is_empty() { (0.0, 0.0) } else { (lo, hi) };
        let levels = ((1 << QUERY_BITS) - 1) as f32;
        let delta = (hi - lo) / levels;
        let words = padded / 64;
        let mut planes = vec![0u64; QUERY_BITS * words];
        let mut sum_u = 0u64;
        let inv = if delta > 0.0 { 1.0 / delta } else { 0.0 };
        // 64 coordinates at a time: their levels, then each bit plane's
        // word, in loops without a branch or a computed index (with the
        // lanes above: 7.3 to 6.6 us a 1,536-d query, whose scan it was 4%
        // of).
        for (chunk, planes) in y.chunks(64).zip(planes.chunks_exact_mut(QUERY_BITS)) {
            let mut levels_of = [0u8; 64];
            for (u, &x) in levels_of.iter_mut().zip(chunk) {
                // x ≥ lo: adding ½ and truncating rounds to nearest (no libm
                // `roundf` call on baseline x86_64).
                *u = (((x - lo) * inv + 0.5) as u32).min(levels as u32) as u8;
            }
            sum_u += levels_of.iter().map(|&u| u64::from(u)).sum::<u64>();
            for (j, plane) in planes.iter_mut().enumerate() {
                *plane = levels_of.iter().enumerate().fold(0u64, |w, (i, &u)| w | u64::from(u >> j & 1) << i);
            }
        }
        // Padding coordinates (if y is shorter) are ŷ = lo: count them in the sum.
        let sum = padded as f32 * lo + delta * sum_u as f32;
        Self {
            padded,
            planes,
            lo,
            delta,
            sum,
            norm_sq,
            eps: (epsilon0 / ((padded as f64) - 1.0).max(1.0).sqrt()) as f32,
            rounding: (epsilon0 * f64::from(delta) / 12f64.sqrt()) as f32,
            inv_sqrt_d: 1.0 / (padded as f32).sqrt(),
        }
    }

    /// `Σ_i b_i u_i` over a code's bits.
    #[inline(always)]
    fn weighted_popcount(&self, bytes: &[u8]) -> u32 {
        // One accumulator per plane (independent chains), no bounds checks.
        let (mut s0, mut s1, mut s2, mut s3) = (0u32, 0u32, 0u32, 0u32);
        for (chunk, p) in bytes.chunks_exact(8).zip(self.planes.chunks_exact(QUERY_BITS)) {
            let b = u64::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3], chunk[4], chunk[5], chunk[6], chunk[7]]);
            s0 += (b & p[0]).count_ones();
            s1 += (b & p[1]).count_ones();
            s2 += (b & p[2]).count_ones();
            s3 += (b & p[3]).count_ones();
        }
        s0 + (s1 << 1) + (s2 << 2) + (s3 << 3)
    }

    /// The estimate from `Σ b_i u_i`, for a query whose squared distance
    /// to the code's origin is `norm_sq`.
    #[inline(always)]
    fn finish(&self, code: &Code<'_>, weighted: u32, norm_sq: f32) -> Estimate {
        // ⟨x̄, ŷ⟩ with x̄ = (2b − 1)/√D: (2 Σ b_i ŷ_i − Σ ŷ_i)/√D; a
        // relative code takes ⟨x̄, origin⟩ off.
        let dot_b = self.lo * code.popcount as f32 + self.delta * weighted as f32;
        let ip_xy = (2.0 * dot_b - self.sum) * self.inv_sqrt_d - code.shift;
        let inv_ip = 1.0 / code.ip;
        let r = code.norm;
        let distance = r * r + norm_sq - 2.0 * r * ip_xy * inv_ip;
        let spread = (1.0 - code.ip * code.ip).max(0.0).sqrt() * inv_ip;
        let code_error = norm_sq.max(0.0).sqrt() * self.eps * spread;
        let error = if code.relative {
            // Independent errors: their deviations add in quadrature.
            let rounding = self.rounding * inv_ip;
            2.0 * r * (code_error * code_error + rounding * rounding).sqrt()
        } else {
            2.0 * r * code_error
        };
        Estimate { distance, error }
    }

    #[inline(always)]
    fn estimate_portable(&self, code: &Code<'_>, norm_sq: f32) -> Estimate {
        self.finish(code, self.weighted_popcount(code.bytes), norm_sq)
    }

    #[inline(always)]
    fn scan_portable(&self, codes: &[f32], out: &mut Vec<Estimate>) {
        // A plain loop, no closures: a closure passed to `extend`/`map`
        // would be a separate function without the caller's
        // `target_feature`, and `count_ones` would fall back to a
        // bit-twiddling sequence.
        let stride = code_words(self.padded);
        out.reserve(codes.len() / stride);
        for words in codes.chunks_exact(stride) {
            let e = match Code::view(words) {
                Some(code) if code.padded == self.padded => self.estimate_portable(&code, self.norm_sq),
                _ => Estimate { distance: f32::NAN, error: f32::NAN },
            };
            out.push(e);
        }
    }

    /// The estimate for one code relative to the query's own origin (NaN
    /// when its dimension differs).
    pub fn estimate(&self, code: &Code<'_>) -> Estimate {
        self.estimate_from(code, self.norm_sq)
    }

    /// The estimate for one code whose origin is at squared distance
    /// `origin_norm_sq` from the query: for a relative code
    /// ([`encode_relative`]), `‖q − u‖²` (`‖P(q − c)‖²` is the query's
    /// own, [`Query::estimate`]). NaN when its dimension differs.
    #[allow(unsafe_code)]
    pub fn estimate_from(&self, code: &Code<'_>, origin_norm_sq: f32) -> Estimate {
        if code.padded != self.padded {
            return Estimate { distance: f32::NAN, error: f32::NAN };
        }
        #[cfg(target_arch = "x86_64")]
        if has_popcnt() {
            // SAFETY: the CPU has POPCNT (checked above).
            return unsafe { fast::estimate(self, code, origin_norm_sq) };
        }
        self.estimate_portable(code, origin_norm_sq)
    }

    /// Appends to `out` the estimates for `codes`, consecutive plain codes
    /// of this dimension (as a list page holds them).
    #[allow(unsafe_code)]
    pub fn estimate_all(&self, codes: &[f32], out: &mut Vec<Estimate>) {
        #[cfg(target_arch = "x86_64")]
        if has_popcnt() {
            // SAFETY: the CPU has POPCNT (checked above).
            return unsafe { fast::scan(self, codes, out) };
        }
        self.scan_portable(codes, out)
    }
}

/// Safe `#[target_feature]` copies: calling them is only sound on a CPU
/// with POPCNT, which [`has_popcnt`] checks first. (Baseline x86_64 has
/// no POPCNT instruction: `count_ones` would be a bit-twiddling sequence.)
#[cfg(target_arch = "x86_64")]
mod fast {
    use super::{Code, Estimate, Query};

    #[target_feature(enable = "popcnt")]
    pub fn estimate(q: &Query, code: &Code<'_>, norm_sq: f32) -> Estimate {
        q.estimate_portable(code, norm_sq)
    }

    #[target_feature(enable = "popcnt")]
    pub fn scan(q: &Query, codes: &[f32], out: &mut Vec<Estimate>) {
        q.scan_portable(codes, out)
    }
}

/// Whether the POPCNT copies can run here (checked once).
#[cfg(target_arch = "x86_64")]
fn has_popcnt() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| std::is_x86_feature_detected!("popcnt"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Roughly Gaussian values (sum of uniforms), deterministic.
    fn gaussian(state: &mut u64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|_| {
                (0..4).map(|_| (splitmix(state) >> 11) as f32 / (1u64 << 53) as f32 - 0.5).sum::<f32>()
            })
            .collect()
    }

    fn dot(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum()
    }

    fn l2sq(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2)).sum()
    }

    #[test]
    fn rotation_pads_to_64_and_is_seeded() {
        for (dims, padded) in [(1, 64), (64, 64), (65, 128), (384, 384), (784, 832), (1000, 1024)] {
            let r = Rotation::new(dims, 7);
            assert_eq!(r.padded_dims(), padded);
            assert_eq!(r.dims(), dims);
        }
        let v: Vec<f32> = (0..100).map(|i| i as f32).collect();
        let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
        Rotation::new(100, 1).rotate(&v, &mut a);
        Rotation::new(100, 1).rotate(&v, &mut b);
        Rotation::new(100, 2).rotate(&v, &mut c);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    /// The rotation as first written: every Hadamard stage over the whole
    /// block in turn, at the compiled width.
    fn rotate_stage_by_stage(r: &Rotation, v: &[f32]) -> Vec<f32> {
        fn fwht(v: &mut [f32]) {
            let mut h = 1;
            while h < v.len() {
                for chunk in v.chunks_exact_mut(2 * h) {
                    let (a, b) = chunk.split_at_mut(h);
                    for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                        (*x, *y) = (*x + *y, *x - *y);
                    }
                }
                h *= 2;
            }
            let scale = 1.0 / (v.len() as f32).sqrt();
            v.iter_mut().for_each(|x| *x *= scale);
        }
        let (p, b) = (r.padded, r.block);
        let mut out: Vec<f32> = v.to_vec();
        out.resize(p, 0.0);
        for round in r.signs.chunks_exact(2 * p) {
            let (first, second) = round.split_at(p);
            out.iter_mut().zip(first).for_each(|(x, s)| *x *= s);
            fwht(&mut out[..b]);
            out.iter_mut().zip(second).for_each(|(x, s)| *x *= s);
            fwht(&mut out[p - b..]);
        }
        out
    }

    #[test]
    fn rotations_keep_their_bits() {
        // Codes on pages were made by the stage-by-stage rotation, and
        // `verify` recomputes them bit for bit: the faster one (eight
        // coordinates at a time, AVX2 where the CPU has it) must agree.
        let mut state = 5;
        for dims in [1usize, 64, 100, 128, 384, 784, 1000, 1536, 3072] {
            let r = Rotation::new(dims, 9);
            let v = gaussian(&mut state, dims);
            let mut out = Vec::new();
            r.rotate(&v, &mut out);
            let bits = |x: &[f32]| x.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&out), bits(&rotate_stage_by_stage(&r, &v)), "{dims}");
            r.rotate_portable(&v, &mut out);
            assert_eq!(bits(&out), bits(&rotate_stage_by_stage(&r, &v)), "{dims}");
        }
    }

    #[test]
    fn a_query_quantizes_each_coordinate_into_its_planes() {
        let mut state = 3;
        for dims in [64usize, 200, 1536] {
            let y = gaussian(&mut state, dims);
            let q = Query::new(&y);
            let mut sum = 0u32;
            for (i, &x) in y.iter().enumerate() {
                let u = (((x - q.lo) / q.delta).round() as u32).min(15);
                sum += u;
                for j in 0..QUERY_BITS {
                    assert_eq!(q.planes[(i / 64) * QUERY_BITS + j] >> (i % 64) & 1, u64::from(u >> j & 1), "{dims}: {i}");
                }
            }
            // Σ ŷ_i over every padded coordinate, each ŷ_i = lo + δ u_i.
            let levels = q.delta * sum as f32;
            assert!((q.sum - q.padded as f32 * q.lo - levels).abs() <= 1e-3 * levels.abs().max(1.0), "{dims}");
        }
    }

    #[test]
    fn a_code_read_from_bytes_estimates_as_the_words_do() {
        let mut state = 11;
        let rotation = Rotation::new(200, 3);
        let (mut y, mut code) = (Vec::new(), Vec::new());
        rotation.rotate(&gaussian(&mut state, 200), &mut y);
        encode(&y, &mut code);
        let bytes: Vec<u8> = code.iter().flat_map(|w| w.to_bits().to_le_bytes()).collect();
        rotation.rotate(&gaussian(&mut state, 200), &mut y);
        let query = Query::new(&y);
        let (a, b) = (Code::view(&code).unwrap(), Code::from_le_bytes(&bytes).unwrap());
        assert_eq!(query.estimate(&a), query.estimate(&b));
        assert!(Code::from_le_bytes(&bytes[..bytes.len() - 1]).is_none());
        assert!(Code::from_le_bytes(&vec![0; bytes.len()]).is_none(), "all zeros is no code");
    }

    #[test]
    fn rotation_spreads_a_basis_vector() {
        // A basis vector ends up with every coordinate near ±1/√D.
        for dims in [384usize, 784] {
            let r = Rotation::new(dims, 3);
            let mut out = Vec::new();
            for hot in [0, dims / 2, dims - 1] {
                let mut e = vec![0.0f32; dims];
                e[hot] = 1.0;
                r.rotate(&e, &mut out);
                let max = out.iter().fold(0.0f32, |m, x| m.max(x.abs()));
                let nonzero = out.iter().filter(|x| x.abs() > 1e-6).count();
                assert!(max < 6.0 / (r.padded_dims() as f32).sqrt(), "dims {dims}: max {max}");
                assert!(nonzero > r.padded_dims() * 9 / 10, "dims {dims}: {nonzero} nonzero");
            }
        }
    }

    #[test]
    fn codes_round_trip() {
        let mut s = 11;
        let y = gaussian(&mut s, 128);
        let mut code = Vec::new();
        encode(&y, &mut code);
        assert_eq!(code.len(), code_words(128));
        let c = Code::view(&code).expect("a code");
        assert_eq!(c.padded, 128);
        for (i, &x) in y.iter().enumerate() {
            assert_eq!(c.bit(i), x > 0.0, "bit {i}");
        }
        assert_eq!(c.popcount as usize, y.iter().filter(|&&x| x > 0.0).count());
        let norm = dot(&y, &y).sqrt();
        assert!((f64::from(c.norm) - norm).abs() < 1e-5 * norm);
        let ip = y.iter().map(|&x| f64::from(x).abs()).sum::<f64>() / (norm * 128f64.sqrt());
        assert!((f64::from(c.ip) - ip).abs() < 1e-6);
        assert!(Code::view(&code[..code.len() - 1]).is_none());
        assert!(Code::view(&[1.0; 3]).is_none());
    }

    #[test]
    fn zero_residual_estimates_the_query_norm_exactly() {
        let mut code = Vec::new();
        encode(&[0.0; 64], &mut code);
        let mut s = 5;
        let y = gaussian(&mut s, 64);
        let q = Query::new(&y);
        let e = q.estimate(&Code::view(&code).unwrap());
        assert!((f64::from(e.distance) - dot(&y, &y)).abs() < 1e-4);
        assert_eq!(e.error, 0.0);
    }

    #[test]
    fn popcount_kernel_equals_the_float_formula() {
        let mut s = 9;
        let (y, qy) = (gaussian(&mut s, 192), gaussian(&mut s, 192));
        let mut code = Vec::new();
        encode(&y, &mut code);
        let c = Code::view(&code).unwrap();
        let q = Query::new(&qy);
        // ŷ decoded, x̄ from the bits, the estimator in floats.
        let levels = 15.0f32;
        let (lo, hi) = qy.iter().fold((f32::MAX, f32::MIN), |(l, h), &x| (l.min(x), h.max(x)));
        let delta = (hi - lo) / levels;
        let yhat: Vec<f32> = qy.iter().map(|&x| lo + delta * ((x - lo) / delta).round()).collect();
        let xbar: Vec<f32> = (0..192).map(|i| if c.bit(i) { 1.0 } else { -1.0 } / 192f32.sqrt()).collect();
        let est_ip = dot(&xbar, &yhat) / f64::from(c.ip);
        let r = f64::from(c.norm);
        let want = r * r + dot(&qy, &qy) - 2.0 * r * est_ip;
        let got = q.estimate(&c);
        assert!((f64::from(got.distance) - want).abs() < 1e-3 * want.abs().max(1.0), "{} vs {want}", got.distance);
        let mut all = Vec::new();
        q.estimate_all(&[code.clone(), code.clone()].concat(), &mut all);
        assert_eq!(all, vec![got, got]);
        assert_eq!(got, q.estimate_portable(&c, q.norm_sq));
    }

    /// Fraction of random (vector, query) pairs whose exact squared
    /// distance lies within the estimate's bound, and the mean relative error.
    fn coverage(dims: usize, pairs: usize, seed: u64) -> (f64, f64) {
        let rot = Rotation::new(dims, seed ^ 0xABCD);
        let mut s = seed;
        let c = gaussian(&mut s, dims);
        let (mut within, mut rel) = (0usize, 0.0f64);
        let (mut ry, mut qy, mut code) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..pairs {
            let o = gaussian(&mut s, dims);
            let q = gaussian(&mut s, dims);
            let ro: Vec<f32> = o.iter().zip(&c).map(|(a, b)| a - b).collect();
            let rq: Vec<f32> = q.iter().zip(&c).map(|(a, b)| a - b).collect();
            rot.rotate(&ro, &mut ry);
            rot.rotate(&rq, &mut qy);
            encode(&ry, &mut code);
            let e = Query::new(&qy).estimate(&Code::view(&code).unwrap());
            let exact = l2sq(&o, &q);
            if (f64::from(e.distance) - exact).abs() <= f64::from(e.error) {
                within += 1;
            }
            rel += (f64::from(e.distance) - exact).abs() / exact;
        }
        (within as f64 / pairs as f64, rel / pairs as f64)
    }

    #[test]
    fn estimates_are_close_and_mostly_within_the_bound() {
        // ε₀ = 1.9 is about 1.9 standard deviations: ~94% two-sided.
        for dims in [128usize, 384, 784] {
            let (within, rel) = coverage(dims, 2000, dims as u64);
            assert!(within >= 0.92, "dims {dims}: {within} within the bound");
            // The residuals share −c, so ‖o − q‖² is about half of
            // ‖r‖² + ‖q − c‖²: the relative error is about 1.1/√D.
            assert!(rel < 1.5 / (dims as f64).sqrt(), "dims {dims}: mean relative error {rel}");
        }
    }

    /// A relative code estimates `‖o − q‖²` around its origin `u`: for
    /// pairs near `u` and far from the centroid, its error is the smaller
    /// by about `‖o − u‖ ‖q − u‖ / (‖o − c‖ ‖q − c‖)`, and its bound holds
    /// as often as a plain code's.
    #[test]
    fn relative_codes_estimate_around_their_origin() {
        let dims = 256;
        let rot = Rotation::new(dims, 5);
        let mut s = 17;
        let c = gaussian(&mut s, dims);
        let (mut within, mut err_relative, mut err_plain) = (0usize, 0.0f64, 0.0f64);
        let pairs = 1000;
        for _ in 0..pairs {
            // A cluster far from the centroid: u, o and q within it.
            let far: Vec<f32> = gaussian(&mut s, dims).iter().map(|x| 4.0 * x).collect();
            let near = |s: &mut u64| -> Vec<f32> { gaussian(s, dims).iter().zip(&far).map(|(x, f)| f + 0.3 * x).collect() };
            let (u, o, q) = (near(&mut s), near(&mut s), near(&mut s));
            let rotated = |v: &[f32]| {
                let r: Vec<f32> = v.iter().zip(&c).map(|(a, b)| a - b).collect();
                let mut y = Vec::new();
                rot.rotate(&r, &mut y);
                y
            };
            let (yu, yo, yq) = (rotated(&u), rotated(&o), rotated(&q));
            let (mut relative, mut plain) = (Vec::new(), Vec::new());
            encode_relative(&yo, &yu, &mut relative);
            encode(&yo, &mut plain);
            assert_eq!(relative.len(), relative_code_words(dims));
            let code = Code::view(&relative).expect("a relative code");
            let bytes: Vec<u8> = relative.iter().flat_map(|w| w.to_bits().to_le_bytes()).collect();
            let from_bytes = Code::from_le_bytes(&bytes).expect("a relative code from bytes");
            assert_eq!(from_bytes.shift, code.shift);
            let query = Query::new(&yq);
            let exact = l2sq(&o, &q);
            let e = query.estimate_from(&code, l2sq(&q, &u) as f32);
            assert_eq!(e, query.estimate_from(&from_bytes, l2sq(&q, &u) as f32));
            if (f64::from(e.distance) - exact).abs() <= f64::from(e.error) {
                within += 1;
            }
            err_relative += (f64::from(e.distance) - exact).abs();
            err_plain += (f64::from(query.estimate(&Code::view(&plain).unwrap()).distance) - exact).abs();
        }
        assert!(within as f64 >= 0.9 * pairs as f64, "{within} of {pairs} within the bound");
        assert!(err_relative < 0.2 * err_plain, "mean error {err_relative} relative, {err_plain} plain");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn rotation_preserves_norms_and_inner_products(seed in any::<u64>(), dims in 1usize..1100) {
            let rot = Rotation::new(dims, seed);
            let mut s = seed;
            let (a, b) = (gaussian(&mut s, dims), gaussian(&mut s, dims));
            let (mut ra, mut rb) = (Vec::new(), Vec::new());
            rot.rotate(&a, &mut ra);
            rot.rotate(&b, &mut rb);
            prop_assert_eq!(ra.len(), rot.padded_dims());
            let (na, nra) = (dot(&a, &a), dot(&ra, &ra));
            prop_assert!((na - nra).abs() <= 1e-4 * na.max(1e-9), "norm² {} vs {}", na, nra);
            let scale = (na * dot(&b, &b)).sqrt();
            prop_assert!((dot(&a, &b) - dot(&ra, &rb)).abs() <= 1e-4 * scale.max(1e-9));
        }

        #[test]
        fn the_bound_holds_for_most_pairs(seed in any::<u64>(), dims in 32usize..900) {
            let (within, _) = coverage(dims, 200, seed);
            prop_assert!(within >= 0.85, "dims {}: {} within the bound", dims, within);
        }
    }
}
