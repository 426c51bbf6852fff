//! Distances from a full query to an SQ8 code without decoding it first:
//! each byte becomes `lo + byte * step` in registers, in one pass over the
//! query and the bytes (a quarter of the vector's size), instead of a
//! decode into a buffer and a second pass.
//!
//! The loops keep 16 independent lanes so the compiler vectorizes them
//! without reassociating floats; an AVX2+FMA copy is chosen at run time on
//! x86_64 (the portable copy otherwise), like the distance crate's kernels.

/// Lanes kept apart in the accumulators.
const LANES: usize = 16;

#[inline(always)]
fn fold(
    q: &[f32],
    bytes: &[u8],
    lo: f32,
    step: f32,
    term: impl Fn(f32, f32) -> f32,
) -> f32 {
    let n = q.len().min(bytes.len());
    let (q, bytes) = (&q[..n], &bytes[..n]);
    let mut acc = [0.0f32; LANES];
    let mut qc = q.chunks_exact(LANES);
    let mut bc = bytes.chunks_exact(LANES);
    for (qs, bs) in (&mut qc).zip(&mut bc) {
        for k in 0..LANES {
            let x = lo + f32::from(bs[k]) * step;
            acc[k] += term(qs[k], x);
        }
    }
    let mut tail = 0.0f32;
    for (&qv, &b) in qc.remainder().iter().zip(bc.remainder()) {
        tail += term(qv, lo + f32::from(b) * step);
    }
    acc.iter().sum::<f32>() + tail
}

#[inline(always)]
fn dot_portable(q: &[f32], bytes: &[u8], lo: f32, step: f32) -> f32 {
    fold(q, bytes, lo, step, |a, x| a * x)
}

#[inline(always)]
fn l2_portable(q: &[f32], bytes: &[u8], lo: f32, step: f32) -> f32 {
    fold(q, bytes, lo, step, |a, x| (a - x) * (a - x))
}

#[inline(always)]
fn l1_portable(q: &[f32], bytes: &[u8], lo: f32, step: f32) -> f32 {
    fold(q, bytes, lo, step, |a, x| (a - x).abs())
}

/// Safe `#[target_feature]` functions: calling them is only sound on a CPU
/// with AVX2 and FMA, which [`has_avx2`] checks first.
#[cfg(target_arch = "x86_64")]
mod avx2 {
    #[target_feature(enable = "avx2,fma")]
    pub fn dot(q: &[f32], bytes: &[u8], lo: f32, step: f32) -> f32 {
        super::dot_portable(q, bytes, lo, step)
    }

    #[target_feature(enable = "avx2,fma")]
    pub fn l2(q: &[f32], bytes: &[u8], lo: f32, step: f32) -> f32 {
        super::l2_portable(q, bytes, lo, step)
    }

    #[target_feature(enable = "avx2,fma")]
    pub fn l1(q: &[f32], bytes: &[u8], lo: f32, step: f32) -> f32 {
        super::l1_portable(q, bytes, lo, step)
    }
}

/// Whether the AVX2 copies can run here (checked once).
#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    use std::sync::OnceLock;
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"))
}

macro_rules! dispatch {
    ($name:ident, $portable:ident) => {
        #[inline]
        #[allow(unsafe_code)]
        pub(crate) fn $name(q: &[f32], bytes: &[u8], lo: f32, step: f32) -> f32 {
            #[cfg(target_arch = "x86_64")]
            if has_avx2() {
                // SAFETY: the CPU has AVX2 and FMA (checked above).
                return unsafe { avx2::$name(q, bytes, lo, step) };
            }
            $portable(q, bytes, lo, step)
        }
    };
}

dispatch!(dot, dot_portable);
dispatch!(l2, l2_portable);
dispatch!(l1, l1_portable);

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(bytes: &[u8], lo: f32, step: f32) -> Vec<f32> {
        bytes.iter().map(|&b| lo + f32::from(b) * step).collect()
    }

    #[test]
    fn fused_kernels_equal_decode_then_compute() {
        for n in [0usize, 1, 7, 16, 33, 384, 785] {
            let q: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
            let bytes: Vec<u8> = (0..n).map(|i| (i * 91 % 256) as u8).collect();
            let (lo, step) = (-0.7f32, 0.0061f32);
            let x = decoded(&bytes, lo, step);
            let dot_ref: f32 = q.iter().zip(&x).map(|(a, b)| a * b).sum();
            let l2_ref: f32 = q.iter().zip(&x).map(|(a, b)| (a - b) * (a - b)).sum();
            let l1_ref: f32 = q.iter().zip(&x).map(|(a, b)| (a - b).abs()).sum();
            let tol = |r: f32| 1e-4 * r.abs().max(1.0);
            assert!((dot(&q, &bytes, lo, step) - dot_ref).abs() <= tol(dot_ref), "dot n={n}");
            assert!((l2(&q, &bytes, lo, step) - l2_ref).abs() <= tol(l2_ref), "l2 n={n}");
            assert!((l1(&q, &bytes, lo, step) - l1_ref).abs() <= tol(l1_ref), "l1 n={n}");
        }
    }
}
