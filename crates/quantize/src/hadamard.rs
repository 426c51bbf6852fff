//! The normalized fast Walsh–Hadamard transform of [`crate::rabitq::Rotation`].
//!
//! Codes on pages were made with it, and `ember_hnsw_verify` recomputes
//! them bit for bit, so every variant here must give the same bits: each
//! butterfly adds and subtracts the same two values in the same order,
//! whatever the width it runs at.

/// `v ← H v / √n` in place (`v.len()` a power of two). With `AVX2` (only
/// where the CPU has AVX2) the first three stages, whose loops are too
/// short to vectorize, run in registers, eight coordinates at a time: a
/// 1,536-d query's rotation took 6% of its whole scan without.
#[inline(always)]
pub(crate) fn fwht<const AVX2: bool>(v: &mut [f32]) {
    let n = v.len();
    let mut h = 1;
    #[cfg(target_arch = "x86_64")]
    if AVX2 && n.is_multiple_of(8) {
        // SAFETY: AVX2 is only asked for where the CPU has it.
        #[allow(unsafe_code)]
        unsafe {
            avx2::first_three_stages(v)
        };
        h = 8;
    }
    while h < n {
        for chunk in v.chunks_exact_mut(2 * h) {
            let (a, b) = chunk.split_at_mut(h);
            for (x, y) in a.iter_mut().zip(b.iter_mut()) {
                (*x, *y) = (*x + *y, *x - *y);
            }
        }
        h *= 2;
    }
    let scale = 1.0 / (n as f32).sqrt();
    v.iter_mut().for_each(|x| *x *= scale);
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use core::arch::x86_64::*;

    /// The stages `h = 1, 2, 4` of each run of eight in `v` (whole runs).
    /// A stage's partner of lane `i` is lane `i ^ h` (a permutation of
    /// the register): lanes with bit `h` clear take `a[i] + a[i + h]`,
    /// the others `a[i − h] − a[i]`, exactly the stage-by-stage butterfly.
    #[target_feature(enable = "avx2")]
    pub(super) fn first_three_stages(v: &mut [f32]) {
        for run in v.chunks_exact_mut(8) {
            // SAFETY: `run` is 8 f32; `loadu`/`storeu` need no alignment.
            #[allow(unsafe_code)]
            let a = unsafe { _mm256_loadu_ps(run.as_ptr()) };
            let partner = _mm256_permute_ps::<0b10_11_00_01>(a);
            let a = _mm256_blend_ps::<0b1010_1010>(_mm256_add_ps(a, partner), _mm256_sub_ps(partner, a));
            let partner = _mm256_permute_ps::<0b01_00_11_10>(a);
            let a = _mm256_blend_ps::<0b1100_1100>(_mm256_add_ps(a, partner), _mm256_sub_ps(partner, a));
            let partner = _mm256_permute2f128_ps::<0x01>(a, a);
            let a = _mm256_blend_ps::<0b1111_0000>(_mm256_add_ps(a, partner), _mm256_sub_ps(partner, a));
            // SAFETY: as the load.
            #[allow(unsafe_code)]
            unsafe {
                _mm256_storeu_ps(run.as_mut_ptr(), a)
            };
        }
    }
}
