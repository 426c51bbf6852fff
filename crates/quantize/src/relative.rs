//! The one pass behind `rabitq::encode_relative`: the signs of `y − origin`
//! packed 64 to a word, and per lane of eight the sums of `d²`, `|d|` and
//! of `origin` signed by `d`'s bit.
//!
//! A build codes every list entry this way (about 24 per element), so at
//! 1,536 dimensions a scalar pass was a tenth of the build. The AVX2 copy
//! does exactly the scalar lanes' arithmetic (a subtraction, then a
//! multiplication and an addition, no fused multiply-add, in the same
//! order), so both give the same bits: a code written on one machine is
//! the code `verify` recomputes on another.

/// Lanes of the partial sums.
pub(crate) const LANES: usize = 8;

/// Per-lane partial sums of one pass.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Sums {
    pub norm_sq: [f32; LANES],
    pub abs: [f32; LANES],
    pub dot: [f32; LANES],
}

/// Writes the sign words of `y − origin` into `words` (`y.len()` bits,
/// the rest zeros) and returns the partial sums.
pub(crate) fn signs_and_sums(y: &[f32], origin: &[f32], words: &mut [u64]) -> Sums {
    debug_assert_eq!(y.len(), origin.len());
    debug_assert!(words.len() * 64 >= y.len());
    words.fill(0);
    let mut sums = Sums::default();
    #[cfg(target_arch = "x86_64")]
    let done = if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked above).
        #[allow(unsafe_code)]
        unsafe {
            avx2::chunks(y, origin, words, &mut sums)
        }
    } else {
        0
    };
    #[cfg(not(target_arch = "x86_64"))]
    let done = 0;
    scalar(&y[done..], &origin[done..], done, words, &mut sums);
    sums
}

/// The scalar pass over `y` and `origin` starting at coordinate `start`
/// (a multiple of [`LANES`]).
fn scalar(y: &[f32], origin: &[f32], start: usize, words: &mut [u64], sums: &mut Sums) {
    for (i, (&a, &b)) in y.iter().zip(origin).enumerate() {
        let at = start + i;
        let lane = at % LANES;
        let d = a - b;
        let positive = d > 0.0;
        words[at / 64] |= u64::from(positive) << (at % 64);
        sums.norm_sq[lane] += d * d;
        sums.abs[lane] += d.abs();
        // +b where the bit is set, −b where it is not.
        sums.dot[lane] += f32::from_bits(b.to_bits() ^ (u32::from(!positive) << 31));
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use core::arch::x86_64::*;

    use super::{Sums, LANES};

    /// The whole chunks of eight; returns how many coordinates they were.
    #[target_feature(enable = "avx2")]
    pub(super) fn chunks(y: &[f32], origin: &[f32], words: &mut [u64], sums: &mut Sums) -> usize {
        let sign = _mm256_set1_ps(-0.0);
        let zero = _mm256_setzero_ps();
        // SAFETY (every load and store below): `Sums`' arrays are 8 f32;
        // `ya` and `oa` are whole chunks of 8 f32 (`chunks_exact`);
        // `loadu`/`storeu` need no alignment.
        #[allow(unsafe_code)]
        let (mut norm_sq, mut abs, mut dot) = unsafe {
            (
                _mm256_loadu_ps(sums.norm_sq.as_ptr()),
                _mm256_loadu_ps(sums.abs.as_ptr()),
                _mm256_loadu_ps(sums.dot.as_ptr()),
            )
        };
        let mut done = 0;
        for (ya, oa) in y.chunks_exact(LANES).zip(origin.chunks_exact(LANES)) {
            #[allow(unsafe_code)]
            let (a, b) = unsafe { (_mm256_loadu_ps(ya.as_ptr()), _mm256_loadu_ps(oa.as_ptr())) };
            let d = _mm256_sub_ps(a, b);
            let positive = _mm256_cmp_ps::<_CMP_GT_OQ>(d, zero);
            let bits = _mm256_movemask_ps(positive) as u64;
            words[done / 64] |= bits << (done % 64);
            norm_sq = _mm256_add_ps(norm_sq, _mm256_mul_ps(d, d));
            abs = _mm256_add_ps(abs, _mm256_andnot_ps(sign, d));
            dot = _mm256_add_ps(dot, _mm256_xor_ps(b, _mm256_andnot_ps(positive, sign)));
            done += LANES;
        }
        #[allow(unsafe_code)]
        unsafe {
            _mm256_storeu_ps(sums.norm_sq.as_mut_ptr(), norm_sq);
            _mm256_storeu_ps(sums.abs.as_mut_ptr(), abs);
            _mm256_storeu_ps(sums.dot.as_mut_ptr(), dot);
        }
        done
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vector_pass_gives_the_scalar_bits() {
        let mut state = 3u64;
        let mut next = || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 7.0
        };
        for len in [8usize, 64, 200, 1536] {
            let y: Vec<f32> = (0..len).map(|_| next()).collect();
            let mut origin: Vec<f32> = (0..len).map(|_| next()).collect();
            origin[3] = y[3]; // a zero difference: bit 0, −origin
            let mut fast = vec![0u64; len.div_ceil(64)];
            let got = signs_and_sums(&y, &origin, &mut fast);
            let mut slow = vec![0u64; len.div_ceil(64)];
            let mut want = Sums::default();
            scalar(&y, &origin, 0, &mut slow, &mut want);
            assert_eq!(fast, slow, "len {len}");
            for lane in 0..LANES {
                assert_eq!(got.norm_sq[lane].to_bits(), want.norm_sq[lane].to_bits(), "len {len}");
                assert_eq!(got.abs[lane].to_bits(), want.abs[lane].to_bits(), "len {len}");
                assert_eq!(got.dot[lane].to_bits(), want.dot[lane].to_bits(), "len {len}");
            }
        }
    }
}
