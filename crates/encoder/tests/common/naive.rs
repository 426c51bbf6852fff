//! A naive f64 BERT forward pass over a tiny model's canonical tensors,
//! written for clarity, to check the encoder's kernels by hand.
#![allow(dead_code)]

use super::tiny::{Tiny, FF, H, HEADS, LAYERS};

/// Rows of f64.
pub type Mat = Vec<Vec<f64>>;

fn t<'a>(tiny: &'a Tiny, name: &str) -> &'a [f32] {
    &tiny
        .tensors
        .get(name)
        .unwrap_or_else(|| panic!("no tensor {name}"))
        .1
}

/// `x · Wᵀ + b` with W `out × in`.
pub fn linear(x: &Mat, w: &[f32], b: Option<&[f32]>, out: usize) -> Mat {
    x.iter()
        .map(|row| {
            (0..out)
                .map(|o| {
                    let dot: f64 = row
                        .iter()
                        .enumerate()
                        .map(|(i, v)| v * w[o * row.len() + i] as f64)
                        .sum();
                    dot + b.map_or(0.0, |b| b[o] as f64)
                })
                .collect()
        })
        .collect()
}

fn layer_norm(x: &Mat, tiny: &Tiny, base: &str) -> Mat {
    let (g, b) = (
        t(tiny, &format!("{base}.weight")),
        t(tiny, &format!("{base}.bias")),
    );
    x.iter()
        .map(|row| {
            let mean = row.iter().sum::<f64>() / row.len() as f64;
            let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / row.len() as f64;
            row.iter()
                .enumerate()
                .map(|(i, v)| (v - mean) / (var + 1e-12).sqrt() * g[i] as f64 + b[i] as f64)
                .collect()
        })
        .collect()
}

/// erf by Abramowitz and Stegun 7.1.26 (|error| < 1.5e-7).
fn erf(x: f64) -> f64 {
    let s = x.signum();
    let x = x.abs();
    let t = 1.0 / (1.0 + 0.3275911 * x);
    let y = 1.0
        - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t
            + 0.254829592)
            * t
            * (-x * x).exp();
    s * y
}

/// Exact GELU.
pub fn gelu(x: f64) -> f64 {
    0.5 * x * (1.0 + erf(x / std::f64::consts::SQRT_2))
}

fn add(a: &Mat, b: &Mat) -> Mat {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.iter().zip(y).map(|(p, q)| p + q).collect())
        .collect()
}

fn dense(tiny: &Tiny, x: &Mat, base: &str, out: usize) -> Mat {
    linear(
        x,
        t(tiny, &format!("{base}.weight")),
        Some(t(tiny, &format!("{base}.bias"))),
        out,
    )
}

fn attention(tiny: &Tiny, x: &Mat, base: &str) -> Mat {
    let (q, k, v) = (
        dense(tiny, x, &format!("{base}.query"), H),
        dense(tiny, x, &format!("{base}.key"), H),
        dense(tiny, x, &format!("{base}.value"), H),
    );
    let d = H / HEADS;
    let mut ctx = vec![vec![0.0; H]; x.len()];
    for h in 0..HEADS {
        for i in 0..x.len() {
            let scores: Vec<f64> = (0..x.len())
                .map(|j| {
                    (0..d)
                        .map(|e| q[i][h * d + e] * k[j][h * d + e])
                        .sum::<f64>()
                        / (d as f64).sqrt()
                })
                .collect();
            let max = scores.iter().cloned().fold(f64::MIN, f64::max);
            let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let sum: f64 = exps.iter().sum();
            for e in 0..d {
                ctx[i][h * d + e] = (0..x.len()).map(|j| exps[j] / sum * v[j][h * d + e]).sum();
            }
        }
    }
    ctx
}

/// The last hidden states of `ids` (one sequence).
pub fn hidden(tiny: &Tiny, ids: &[u32]) -> Mat {
    let (word, pos, ty) = (
        t(tiny, "embeddings.word_embeddings.weight"),
        t(tiny, "embeddings.position_embeddings.weight"),
        t(tiny, "embeddings.token_type_embeddings.weight"),
    );
    let x: Mat = ids
        .iter()
        .enumerate()
        .map(|(p, &id)| {
            (0..H)
                .map(|i| (word[id as usize * H + i] + pos[p * H + i] + ty[i]) as f64)
                .collect()
        })
        .collect();
    let mut x = layer_norm(&x, tiny, "embeddings.LayerNorm");
    for l in 0..LAYERS {
        let b = format!("encoder.layer.{l}");
        let ctx = attention(tiny, &x, &format!("{b}.attention.self"));
        let a = layer_norm(
            &add(
                &dense(tiny, &ctx, &format!("{b}.attention.output.dense"), H),
                &x,
            ),
            tiny,
            &format!("{b}.attention.output.LayerNorm"),
        );
        let mut i = dense(tiny, &a, &format!("{b}.intermediate.dense"), FF);
        i.iter_mut()
            .for_each(|r| r.iter_mut().for_each(|v| *v = gelu(*v)));
        x = layer_norm(
            &add(&dense(tiny, &i, &format!("{b}.output.dense"), H), &a),
            tiny,
            &format!("{b}.output.LayerNorm"),
        );
    }
    x
}

/// L2-normalised copy.
pub fn normalized(v: &[f64]) -> Vec<f64> {
    let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    v.iter().map(|x| x / n).collect()
}

/// SPLADE by hand: MLM head over every token, then max of log(1 + relu).
pub fn splade(tiny: &Tiny, ids: &[u32], vocab: usize) -> Vec<f64> {
    let x = hidden(tiny, ids);
    let mut tr = dense(tiny, &x, "cls.predictions.transform.dense", H);
    tr.iter_mut()
        .for_each(|r| r.iter_mut().for_each(|v| *v = gelu(*v)));
    let tr = layer_norm(&tr, tiny, "cls.predictions.transform.LayerNorm");
    let logits = linear(
        &tr,
        t(tiny, "embeddings.word_embeddings.weight"),
        Some(t(tiny, "cls.predictions.bias")),
        vocab,
    );
    (0..vocab)
        .map(|v| {
            logits
                .iter()
                .map(|r| (1.0 + r[v].max(0.0)).ln())
                .fold(0.0, f64::max)
        })
        .collect()
}
