//! Fixed edge cases: every tail length around the register widths (with
//! small integers, so every summation order gives the exact same result and
//! levels can be compared bit for bit), no reads past the end of a slice,
//! unaligned starts, and the cosine conventions (NaN on a zero norm, clamp).

use distance::dispatch::Kernels;
use distance::scalar;
use half::f16;

/// Lengths around 8 (AVX2 lanes), 16 (AVX-512 lanes), 32 and 64 (unrolled
/// bodies) and a few larger ones.
const LENGTHS: [usize; 23] = [
    0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65, 79, 127, 128, 129, 1000, 4099,
];

/// Small integers in `-4..=4`: products and sums stay exact in `f32`.
fn small_ints(len: usize, seed: usize) -> Vec<f32> {
    (0..len)
        .map(|i| ((i * 7 + seed * 13) % 9) as f32 - 4.0)
        .collect()
}

/// `len` values at offset 1 of a buffer whose other elements are NaN: a
/// kernel reading before or past the slice would return NaN.
fn fenced(values: &[f32]) -> Vec<f32> {
    let mut buffer = vec![f32::NAN; values.len() + 40];
    buffer[1..=values.len()].copy_from_slice(values);
    buffer
}

#[test]
fn exact_results_for_every_tail_length() {
    for len in LENGTHS {
        let (a, b) = (small_ints(len, 1), small_ints(len, 2));
        let (fa, fb) = (fenced(&a), fenced(&b));
        let (a_in, b_in) = (&fa[1..=len], &fb[1..=len]);
        let want = [
            scalar::l2_squared(&a, &b),
            scalar::dot(&a, &b),
            scalar::l1(&a, &b),
            scalar::norm_squared(&a),
        ];
        let want_cos = scalar::cosine_distance(&a, &b);
        for level in Kernels::all_supported() {
            let got = [
                level.l2_squared(a_in, b_in),
                level.dot(a_in, b_in),
                level.l1(a_in, b_in),
                level.norm_squared(a_in),
            ];
            assert_eq!(got, want, "{} len {len}", level.isa().name());
            let cos = level.cosine_distance(a_in, b_in);
            assert!(
                cos.to_bits() == want_cos.to_bits(),
                "{} len {len}: {cos} vs {want_cos}",
                level.isa().name()
            );
        }
    }
}

#[test]
fn exact_results_for_every_tail_length_f16() {
    for len in LENGTHS {
        let to_half = |v: Vec<f32>| v.into_iter().map(f16::from_f32).collect::<Vec<_>>();
        let (a, b) = (to_half(small_ints(len, 3)), to_half(small_ints(len, 4)));
        let fence = |v: &[f16]| {
            let mut buffer = vec![f16::NAN; v.len() + 40];
            buffer[1..=v.len()].copy_from_slice(v);
            buffer
        };
        let (fa, fb) = (fence(&a), fence(&b));
        let (a_in, b_in) = (&fa[1..=len], &fb[1..=len]);
        let want = [
            scalar::l2_squared_f16(&a, &b),
            scalar::dot_f16(&a, &b),
            scalar::l1_f16(&a, &b),
            scalar::norm_squared_f16(&a),
        ];
        let want_cos = scalar::cosine_distance_f16(&a, &b);
        for level in Kernels::all_supported() {
            let got = [
                level.l2_squared_f16(a_in, b_in),
                level.dot_f16(a_in, b_in),
                level.l1_f16(a_in, b_in),
                level.norm_squared_f16(a_in),
            ];
            assert_eq!(got, want, "{} len {len}", level.isa().name());
            let cos = level.cosine_distance_f16(a_in, b_in);
            assert!(
                cos.to_bits() == want_cos.to_bits(),
                "{} len {len}: {cos} vs {want_cos}",
                level.isa().name()
            );
        }
    }
}

#[test]
fn empty_vectors() {
    for level in Kernels::all_supported() {
        assert_eq!(level.l2_squared(&[], &[]), 0.0);
        assert_eq!(level.dot(&[], &[]), 0.0);
        assert_eq!(level.l1(&[], &[]), 0.0);
        assert_eq!(level.norm_squared(&[]), 0.0);
        assert!(level.cosine_distance(&[], &[]).is_nan());
        assert_eq!(level.l2_squared_f16(&[], &[]), 0.0);
        assert_eq!(level.norm_squared_f16(&[]), 0.0);
        assert!(level.cosine_distance_f16(&[], &[]).is_nan());
    }
}

#[test]
fn cosine_conventions() {
    let zero = vec![0.0f32; 33];
    let ones = vec![1.0f32; 33];
    let minus: Vec<f32> = ones.iter().map(|x| -x).collect();
    let half_ones = vec![f16::ONE; 33];
    let half_zero = vec![f16::ZERO; 33];
    for level in Kernels::all_supported() {
        let name = level.isa().name();
        assert!(level.cosine_distance(&zero, &ones).is_nan(), "{name}");
        assert!(level.cosine_distance(&ones, &zero).is_nan(), "{name}");
        assert!(level.cosine_distance(&zero, &zero).is_nan(), "{name}");
        assert!(
            level.cosine_distance_f16(&half_zero, &half_ones).is_nan(),
            "{name}"
        );
        assert_eq!(level.cosine_distance(&ones, &ones), 0.0, "{name}");
        assert_eq!(level.cosine_distance(&ones, &minus), 2.0, "{name}");
        assert_eq!(
            level.cosine_distance_f16(&half_ones, &half_ones),
            0.0,
            "{name}"
        );
        // Orthogonal.
        assert_eq!(
            level.cosine_distance(&[1.0, 0.0], &[0.0, 5.0]),
            1.0,
            "{name}"
        );
    }
    // Rounding can push |similarity| past 1 (0.1 is inexact); the clamp keeps
    // the distance inside [0, 2].
    let v = vec![0.1f32; 1001];
    let w: Vec<f32> = v.iter().map(|x| -x).collect();
    for level in Kernels::all_supported() {
        let same = level.cosine_distance(&v, &v);
        let opposite = level.cosine_distance(&v, &w);
        assert!((0.0..1e-6).contains(&same), "{same}");
        assert!((2.0 - 1e-6..=2.0).contains(&opposite), "{opposite}");
    }
}

#[test]
fn known_values() {
    let a = [1.0f32, 2.0, 3.0];
    let b = [4.0f32, -5.0, 6.0];
    assert_eq!(distance::l2_squared(&a, &b), 9.0 + 49.0 + 9.0);
    assert_eq!(distance::dot(&a, &b), 4.0 - 10.0 + 18.0);
    assert_eq!(distance::l1(&a, &b), 3.0 + 7.0 + 3.0);
    assert_eq!(distance::norm_squared(&a), 14.0);
    let cosine = distance::cosine_distance(&a, &b);
    let want = 1.0 - 12.0 / (14.0f64 * 77.0).sqrt();
    assert!((cosine - want).abs() < 1e-12, "{cosine} vs {want}");
    let h = |v: &[f32]| v.iter().copied().map(f16::from_f32).collect::<Vec<_>>();
    assert_eq!(distance::l2_squared_f16(&h(&a), &h(&b)), 67.0);
    assert_eq!(distance::dot_f16(&h(&a), &h(&b)), 12.0);
    assert_eq!(distance::l1_f16(&h(&a), &h(&b)), 13.0);
    assert_eq!(distance::norm_squared_f16(&h(&a)), 14.0);
    assert!((distance::cosine_distance_f16(&h(&a), &h(&b)) - want).abs() < 1e-12);
}

#[test]
fn active_isa_is_the_best_supported_level() {
    // No EMBER_DISTANCE_ISA in this test binary's environment is assumed
    // unless the developer set one; then only check the name is known.
    let names = ["scalar", "avx2+fma", "avx512"];
    assert!(names.contains(&distance::active_isa()));
    if std::env::var_os("EMBER_DISTANCE_ISA").is_none() {
        let best = distance::dispatch::Isa::best_supported();
        assert_eq!(distance::active_isa(), best.name());
    }
}
