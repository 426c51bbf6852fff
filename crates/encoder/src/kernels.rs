//! The numeric kernels of the forward pass, on row-major f32 slices.
//!
//! Matrix products go through faer's matmul (runtime-dispatched AVX2/AVX-512
//! kernels, parallel on rayon) directly on the memory-mapped weights. The
//! element-wise kernels (layer norm, GELU, softmax) are plain loops, each
//! fused into a single pass over its rows, that the compiler vectorises for
//! the best instruction set the CPU has: each is a `pulp::WithSimd` whose
//! `#[inline(always)]` body pulp compiles once per target feature set (AVX2
//! + FMA on x86-64, else baseline) and picks at run time.

use faer::linalg::matmul::matmul;
use faer::{Accum, MatMut, MatRef, Par};
use pulp::{Simd, WithSimd};
use rayon::prelude::*;

/// Runs `op` compiled for the best SIMD instruction set this CPU has.
fn simd<Op: WithSimd>(op: Op) -> Op::Output {
    pulp::Arch::new().dispatch(op)
}

/// `rows = LayerNorm(rows + residual)` for whole rows of `gamma.len()` values.
struct LayerNormRows<'a> {
    rows: &'a mut [f32],
    residual: &'a [f32],
    gamma: &'a [f32],
    beta: &'a [f32],
    eps: f32,
}

impl WithSimd for LayerNormRows<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        let h = self.gamma.len();
        for (r, row) in self.rows.chunks_exact_mut(h).enumerate() {
            if !self.residual.is_empty() {
                for (v, res) in row.iter_mut().zip(&self.residual[r * h..(r + 1) * h]) {
                    *v += *res;
                }
            }
            layer_norm_row(row, self.gamma, self.beta, self.eps);
        }
    }
}

/// An activation applied in place.
struct Activate<'a>(&'a mut [f32], Activation);

impl WithSimd for Activate<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        match self.1 {
            Activation::Gelu => {
                for v in self.0.iter_mut() {
                    *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
                }
            }
            Activation::GeluTanh => {
                for v in self.0.iter_mut() {
                    let u = 0.797_884_6 * (*v + 0.044_715 * *v * *v * *v);
                    *v = 0.5 * *v * (1.0 + tanh(u));
                }
            }
            Activation::Relu => {
                for v in self.0.iter_mut() {
                    *v = v.max(0.0);
                }
            }
        }
    }
}

/// Softmax of each row of `len` values, in place.
struct SoftmaxRows<'a>(&'a mut [f32], usize);

impl WithSimd for SoftmaxRows<'_> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, _: S) {
        for row in self.0.chunks_exact_mut(self.1) {
            softmax_in_place(row);
        }
    }
}

/// Rows handed to one rayon task by the row-wise kernels.
const ROWS_PER_TASK: usize = 16;

/// faer parallelism over the whole rayon pool.
fn all_threads() -> Par {
    match rayon::current_num_threads() {
        0 | 1 => Par::Seq,
        n => Par::rayon(n),
    }
}

/// `x · wᵀ + bias`: `x` is `rows × k`, `w` is `n × k` (a PyTorch `Linear`
/// weight), the result `rows × n`.
pub(crate) fn linear(
    x: &[f32],
    rows: usize,
    w: &[f32],
    n: usize,
    k: usize,
    bias: Option<&[f32]>,
) -> Vec<f32> {
    let mut y = vec![0.0f32; rows * n];
    if let Some(b) = bias {
        y.chunks_exact_mut(n).for_each(|row| row.copy_from_slice(b));
    }
    if rows == 0 || n == 0 {
        return y;
    }
    let accum = if bias.is_some() {
        Accum::Add
    } else {
        Accum::Replace
    };
    let xm = MatRef::from_row_major_slice(x, rows, k);
    let wm = MatRef::from_row_major_slice(w, n, k);
    let ym = MatMut::from_row_major_slice_mut(&mut y, rows, n);
    matmul(ym, accum, xm, wm.transpose(), 1.0f32, all_threads());
    y
}

/// In place, row by row: `x = LayerNorm(x + residual) * gamma + beta`
/// (`residual` may be empty for a plain layer norm).
pub(crate) fn add_layer_norm(
    x: &mut [f32],
    residual: &[f32],
    gamma: &[f32],
    beta: &[f32],
    eps: f32,
) {
    let h = gamma.len();
    let task = |(i, rows): (usize, &mut [f32])| {
        let residual = match residual.is_empty() {
            true => residual,
            false => &residual[i * ROWS_PER_TASK * h..i * ROWS_PER_TASK * h + rows.len()],
        };
        simd(LayerNormRows {
            rows,
            residual,
            gamma,
            beta,
            eps,
        })
    };
    x.par_chunks_mut(ROWS_PER_TASK * h)
        .enumerate()
        .for_each(task);
}

/// Layer norm of one row, two-pass (mean, then variance of the centred values).
#[inline(always)]
fn layer_norm_row(row: &mut [f32], gamma: &[f32], beta: &[f32], eps: f32) {
    let n = row.len() as f32;
    let mean = sum_lanes(row, |v| v) / n;
    let var = sum_lanes(row, |v| (v - mean) * (v - mean)) / n;
    let inv = 1.0 / (var + eps).sqrt();
    for ((v, g), b) in row.iter_mut().zip(gamma).zip(beta) {
        *v = (*v - mean) * inv * g + b;
    }
}

/// The sum of `f(v)` over `values`, in 8 independent lanes so the loop vectorises.
#[inline(always)]
fn sum_lanes(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 8];
    let chunks = values.chunks_exact(8);
    let tail: f32 = chunks.remainder().iter().map(|v| f(*v)).sum();
    for c in chunks {
        for (a, v) in acc.iter_mut().zip(c) {
            *a += f(*v);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The hidden activation of a BERT config (`hidden_act`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Activation {
    /// Exact GELU, `x · Φ(x)` with erf (PyTorch `gelu`).
    Gelu,
    /// The tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`).
    GeluTanh,
    /// `max(x, 0)`.
    Relu,
}

/// Applies `act` in place.
pub(crate) fn activate(x: &mut [f32], act: Activation) {
    x.par_chunks_mut(4096).for_each(|c| simd(Activate(c, act)));
}

/// erf for f32: the rational approximation used by Eigen and XLA (a few ulp).
#[inline(always)]
pub(crate) fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10f32;
    for c in [
        2.770_681_4e-8,
        -2.101_024e-6,
        -5.692_506_4e-5,
        -7.349_906_3e-4,
        -2.954_600_5e-3,
        -1.609_603_3e-2,
    ] {
        p = p * x2 + c;
    }
    let mut q = -1.456_607_2e-5f32;
    for c in [
        -2.133_740_6e-4,
        -1.682_827e-3,
        -7.373_329_2e-3,
        -1.426_474e-2,
    ] {
        q = q * x2 + c;
    }
    x * p / q
}

/// tanh from [`exp`]; exact enough for the GELU approximation.
#[inline(always)]
fn tanh(x: f32) -> f32 {
    let e = exp(-2.0 * x.abs());
    ((1.0 - e) / (1.0 + e)).copysign(x)
}

/// e^x for f32 without a libm call (Cephes polynomial, ~1 ulp), so loops
/// over it vectorise. Inputs above 88 are clamped; below -87 the result is 0.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to an integer
    let underflow = x < -87.0;
    let x = x.clamp(-87.0, 88.0);
    let t = x * std::f32::consts::LOG2_E + MAGIC;
    let n = t - MAGIC;
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let mut p = 1.987_569_1e-4f32;
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5,
    ] {
        p = p * r + c;
    }
    let poly = p * r * r + r + 1.0;
    let bits = (t.to_bits() as i32 - MAGIC.to_bits() as i32 + 127) << 23;
    let y = poly * f32::from_bits(bits as u32);
    if underflow {
        0.0
    } else {
        y
    }
}

/// Scaled dot-product self-attention over packed sequences.
///
/// `q`, `k`, `v` are `tokens × hidden` with the sequences' tokens stored one
/// sequence after another; `seqs` gives each sequence's (first row, length).
/// A token attends to every token of its own sequence and to nothing else,
/// which is what BERT's padding mask computes, without the padding.
pub(crate) fn attention(
    q: &[f32],
    k: &[f32],
    v: &[f32],
    seqs: &[(usize, usize)],
    heads: usize,
    hidden: usize,
) -> Vec<f32> {
    let tokens = q.len() / hidden;
    let d = hidden / heads;
    let scale = 1.0 / (d as f32).sqrt();
    let mut ctx = vec![0.0f32; tokens * hidden];
    let (qm, km, vm) = (
        MatRef::from_row_major_slice(q, tokens, hidden),
        MatRef::from_row_major_slice(k, tokens, hidden),
        MatRef::from_row_major_slice(v, tokens, hidden),
    );
    let mut tasks = Vec::with_capacity(seqs.len() * heads);
    let mut rest = MatMut::from_row_major_slice_mut(&mut ctx, tokens, hidden);
    for &(start, len) in seqs {
        let (mut seq_out, tail) = rest.split_at_row_mut(len);
        rest = tail;
        for h in 0..heads {
            let (out, others) = seq_out.split_at_col_mut(d);
            tasks.push((start, len, h, out));
            seq_out = others;
        }
    }
    tasks.into_par_iter().for_each(|(start, len, h, out)| {
        let (qh, kh, vh) = (
            qm.submatrix(start, h * d, len, d),
            km.submatrix(start, h * d, len, d),
            vm.submatrix(start, h * d, len, d),
        );
        let mut scores = vec![0.0f32; len * len];
        matmul(
            MatMut::from_row_major_slice_mut(&mut scores, len, len),
            Accum::Replace,
            qh,
            kh.transpose(),
            scale,
            Par::Seq,
        );
        simd(SoftmaxRows(&mut scores, len));
        matmul(
            out,
            Accum::Replace,
            MatRef::from_row_major_slice(&scores, len, len),
            vh,
            1.0f32,
            Par::Seq,
        );
    });
    ctx
}

/// Softmax of one row, in place.
#[inline(always)]
pub(crate) fn softmax_in_place(row: &mut [f32]) {
    let mut lanes = [f32::NEG_INFINITY; 8];
    let chunks = row.chunks_exact(8);
    let mut max = chunks
        .remainder()
        .iter()
        .copied()
        .fold(f32::NEG_INFINITY, f32::max);
    for c in chunks {
        lanes
            .iter_mut()
            .zip(c)
            .for_each(|(m, v)| *m = if *v > *m { *v } else { *m });
    }
    max = lanes.iter().copied().fold(max, f32::max);
    for v in row.iter_mut() {
        *v = exp(*v - max);
    }
    let inv = 1.0 / sum_lanes(row, |v| v);
    for v in row.iter_mut() {
        *v *= inv;
    }
}

/// Scales `v` to unit L2 norm in place (a zero vector stays zero).
pub(crate) fn l2_normalize(v: &mut [f32]) {
    let norm = sum_lanes(v, |x| x * x).sqrt();
    if norm > 0.0 {
        let inv = 1.0 / norm.max(1e-12);
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_known_values() {
        let known = [
            (0.0, 0.0),
            (0.1, 0.112_462_92),
            (0.5, 0.520_499_9),
            (1.0, 0.842_700_8),
            (2.0, 0.995_322_3),
            (3.5, 0.999_999_3),
            (6.0, 1.0),
        ];
        for (x, want) in known {
            assert!((erf(x) - want).abs() < 2e-7, "erf({x}) = {}", erf(x));
            assert!((erf(-x) + want).abs() < 2e-7);
        }
    }

    #[test]
    fn exp_is_accurate_over_the_softmax_range() {
        assert_eq!(exp(-90.0), 0.0);
        let mut x = -86.9f32;
        while x < 20.0 {
            let (got, want) = (exp(x) as f64, (x as f64).exp());
            assert!(
                ((got - want) / want).abs() < 3e-7,
                "exp({x}) = {got}, want {want}"
            );
            x += 0.0137;
        }
    }

    #[test]
    fn linear_splits_by_rows_and_columns_alike() {
        let (k, n) = (37, 75);
        let w: Vec<f32> = (0..n * k)
            .map(|i| ((i * 7919) % 113) as f32 / 113.0 - 0.5)
            .collect();
        let b: Vec<f32> = (0..n).map(|i| i as f32 * 0.01).collect();
        for rows in [1, 3, 200] {
            let x: Vec<f32> = (0..rows * k)
                .map(|i| ((i * 104_729) % 97) as f32 / 97.0 - 0.5)
                .collect();
            let y = linear(&x, rows, &w, n, k, Some(&b));
            for r in 0..rows {
                for o in 0..n {
                    let want: f32 = (0..k).map(|i| x[r * k + i] * w[o * k + i]).sum::<f32>() + b[o];
                    assert!((y[r * n + o] - want).abs() < 1e-4);
                }
            }
        }
    }

    #[test]
    fn softmax_and_layer_norm() {
        let mut row = [1.0f32, 2.0, 3.0, -1000.0];
        softmax_in_place(&mut row);
        let e = [1.0f64.exp(), 2.0f64.exp(), 3.0f64.exp()];
        let s: f64 = e.iter().sum();
        for i in 0..3 {
            assert!((row[i] as f64 - e[i] / s).abs() < 1e-6);
        }
        assert_eq!(row[3], 0.0);
        let mut x = vec![1.0f32, 2.0, 3.0, 4.0];
        add_layer_norm(&mut x, &[1.0, 1.0, 1.0, 1.0], &[1.0; 4], &[0.5; 4], 1e-12);
        let want = [-1.341_640_8, -0.447_213_6, 0.447_213_6, 1.341_640_8];
        for (g, w) in x.iter().zip(want) {
            assert!((g - (w + 0.5)).abs() < 1e-5);
        }
    }
}
