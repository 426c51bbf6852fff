//! Distances from a full query to an SQ8 code without decoding it first:
//! each byte becomes `lo + byte * step` in registers, in one pass over the
//! query and the bytes (a quarter of the vector's size), instead of a
//! decode into a buffer and a second pass.
//!
//! The loops keep 64 independent lanes (four 16-lane accumulators, so that
//! consecutive additions do not wait on each other's latency), summed
//! pairwise at the end, so the compiler vectorizes them without having to
//! reassociate floats itself. AVX-512F and AVX2+FMA copies, which fuse the
//! multiply-adds, are chosen at run time on x86_64 (the portable copy
//! otherwise), like the distance crate's kernels.

/// Lanes kept apart in the main loop's accumulators.
const LANES: usize = 64;
/// Lanes of the loop over what is left after the main loop.
const TAIL_LANES: usize = 16;

/// `a * b + c`, fused into one rounding when `FMA` (only in the copies
/// compiled with the FMA feature: elsewhere `mul_add` is a slow libm call).
#[inline(always)]
fn madd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// Sums `term(acc, q[i], lo + bytes[i] * step)` over the elements, where
/// `term` returns the accumulator with element `i` added.
#[inline(always)]
fn fold<const FMA: bool>(
    q: &[f32],
    bytes: &[u8],
    lo: f32,
    step: f32,
    term: impl Fn(f32, f32, f32) -> f32,
) -> f32 {
    let n = q.len().min(bytes.len());
    let (body, q, bytes) = fold_lanes::<LANES, FMA>(&q[..n], &bytes[..n], lo, step, &term);
    let (rest, q, bytes) = fold_lanes::<TAIL_LANES, FMA>(q, bytes, lo, step, &term);
    let mut tail = 0.0f32;
    for (&qv, &b) in q.iter().zip(bytes) {
        tail = term(tail, qv, madd::<FMA>(f32::from(b), step, lo));
    }
    body + rest + tail
}

/// [`fold`] over the whole chunks of `N` elements, in `N` lanes; returns
/// their sum and the elements left over.
#[inline(always)]
fn fold_lanes<'a, const N: usize, const FMA: bool>(
    q: &'a [f32],
    bytes: &'a [u8],
    lo: f32,
    step: f32,
    term: &impl Fn(f32, f32, f32) -> f32,
) -> (f32, &'a [f32], &'a [u8]) {
    let mut acc = [0.0f32; N];
    let mut qc = q.chunks_exact(N);
    let mut bc = bytes.chunks_exact(N);
    for (qs, bs) in (&mut qc).zip(&mut bc) {
        for k in 0..N {
            acc[k] = term(acc[k], qs[k], madd::<FMA>(f32::from(bs[k]), step, lo));
        }
    }
    (tree_sum(&mut acc), qc.remainder(), bc.remainder())
}

/// The sum of the lanes, added pairwise in halves: vector additions, where
/// a left-to-right sum is one dependent scalar addition per lane (64 of
/// them cost more than the whole loop over a 784-byte code).
#[inline(always)]
fn tree_sum<const N: usize>(lanes: &mut [f32; N]) -> f32 {
    let mut width = N / 2;
    while width > 0 {
        for k in 0..width {
            lanes[k] += lanes[k + width];
        }
        width /= 2;
    }
    lanes[0]
}

#[inline(always)]
fn dot_with<const FMA: bool>(q: &[f32], bytes: &[u8], lo: f32, step: f32) -> f32 {
    fold::<FMA>(q, bytes, lo, step, |acc, a, x| madd::<FMA>(a, x, acc))
}

#[inline(always)]
fn l2_with<const FMA: bool>(q: &[f32], bytes: &[u8], lo: f32, step: f32) -> f32 {
    fold::<FMA>(q, bytes, lo, step, |acc, a, x| {
        let d = a - x;
        madd::<FMA>(d, d, acc)
    })
}

#[inline(always)]
fn l1_with<const FMA: bool>(q: &[f32], bytes: &[u8], lo: f32, step: f32) -> f32 {
    fold::<FMA>(q, bytes, lo, step, |acc, a, x| acc + (a - x).abs())
}

#[inline(always)]
fn dot_portable(q: &[f32], bytes: &[u8], lo: f32, step: f32) -> f32 {
    dot_with::<false>(q, bytes, lo, step)
}

#[inline(always)]
fn l2_portable(q: &[f32], bytes: &[u8], lo: f32, step: f32) -> f32 {
    l2_with::<false>(q, bytes, lo, step)
}

#[inline(always)]
fn l1_portable(q: &[f32], bytes: &[u8], lo: f32, step: f32) -> f32 {
    l1_with::<false>(q, bytes, lo, step)
}

/// The kernels compiled for a target feature set.
macro_rules! kernels {
    ($module:ident, $features:literal) => {
        #[cfg(target_arch = "x86_64")]
        mod $module {
            #[target_feature(enable = $features)]
            pub fn dot(q: &[f32], bytes: &[u8], lo: f32, step: f32) -> f32 {
                super::dot_with::<true>(q, bytes, lo, step)
            }

            #[target_feature(enable = $features)]
            pub fn l2(q: &[f32], bytes: &[u8], lo: f32, step: f32) -> f32 {
                super::l2_with::<true>(q, bytes, lo, step)
            }

            #[target_feature(enable = $features)]
            pub fn l1(q: &[f32], bytes: &[u8], lo: f32, step: f32) -> f32 {
                super::l1_with::<true>(q, bytes, lo, step)
            }
        }
    };
}

kernels!(avx2, "avx2,fma");
kernels!(avx512, "avx512f,avx2,fma");

/// The best kernel set this CPU runs.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, PartialEq, Eq)]
enum Isa {
    Avx512,
    Avx2,
    Portable,
}

#[cfg(target_arch = "x86_64")]
fn isa() -> Isa {
    use std::sync::OnceLock;
    static ISA: OnceLock<Isa> = OnceLock::new();
    *ISA.get_or_init(|| {
        let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        if avx2 && std::is_x86_feature_detected!("avx512f") {
            Isa::Avx512
        } else if avx2 {
            Isa::Avx2
        } else {
            Isa::Portable
        }
    })
}

macro_rules! dispatch {
    ($name:ident, $portable:ident) => {
        #[inline]
        #[allow(unsafe_code)]
        pub(crate) fn $name(q: &[f32], bytes: &[u8], lo: f32, step: f32) -> f32 {
            #[cfg(target_arch = "x86_64")]
            match isa() {
                // SAFETY: `isa` saw the features the copy was compiled for.
                Isa::Avx512 => return unsafe { avx512::$name(q, bytes, lo, step) },
                // SAFETY: as above.
                Isa::Avx2 => return unsafe { avx2::$name(q, bytes, lo, step) },
                Isa::Portable => {}
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

    type Kernel = fn(&[f32], &[u8], f32, f32) -> f32;

    fn decoded(bytes: &[u8], lo: f32, step: f32) -> Vec<f32> {
        bytes.iter().map(|&b| lo + f32::from(b) * step).collect()
    }

    #[test]
    fn fused_kernels_equal_decode_then_compute() {
        for n in [0usize, 1, 7, 16, 33, 64, 80, 384, 785] {
            let q: Vec<f32> = (0..n).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
            let bytes: Vec<u8> = (0..n).map(|i| (i * 91 % 256) as u8).collect();
            let (lo, step) = (-0.7f32, 0.0061f32);
            let x = decoded(&bytes, lo, step);
            let dot_ref: f32 = q.iter().zip(&x).map(|(a, b)| a * b).sum();
            let l2_ref: f32 = q.iter().zip(&x).map(|(a, b)| (a - b) * (a - b)).sum();
            let l1_ref: f32 = q.iter().zip(&x).map(|(a, b)| (a - b).abs()).sum();
            let tol = |r: f32| 1e-4 * r.abs().max(1.0);
            // The dispatched copy (AVX-512 or AVX2 where the CPU has them)
            // and the portable one.
            for (dot, l2, l1) in [(dot as Kernel, l2 as Kernel, l1 as Kernel), (dot_portable, l2_portable, l1_portable)] {
                assert!((dot(&q, &bytes, lo, step) - dot_ref).abs() <= tol(dot_ref), "dot n={n}");
                assert!((l2(&q, &bytes, lo, step) - l2_ref).abs() <= tol(l2_ref), "l2 n={n}");
                assert!((l1(&q, &bytes, lo, step) - l1_ref).abs() <= tol(l1_ref), "l1 n={n}");
            }
        }
    }
}
