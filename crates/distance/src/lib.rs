//! Temporary scalar kernels (the SIMD crate replaces this file).
use half::f16;
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 { a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum() }
pub fn dot(a: &[f32], b: &[f32]) -> f32 { a.iter().zip(b).map(|(x, y)| x * y).sum() }
pub fn l1(a: &[f32], b: &[f32]) -> f32 { a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum() }
pub fn norm_squared(a: &[f32]) -> f32 { dot(a, a) }
pub fn cosine_distance(a: &[f32], b: &[f32]) -> f64 { cos(dot(a, b), norm_squared(a), norm_squared(b)) }
fn cos(d: f32, na: f32, nb: f32) -> f64 { let s = (na as f64 * nb as f64).sqrt(); if s == 0.0 { return f64::NAN; } (1.0 - d as f64 / s).clamp(0.0, 2.0) }
fn w(a: &[f16]) -> Vec<f32> { a.iter().map(|x| x.to_f32()).collect() }
pub fn l2_squared_f16(a: &[f16], b: &[f16]) -> f32 { l2_squared(&w(a), &w(b)) }
pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 { dot(&w(a), &w(b)) }
pub fn l1_f16(a: &[f16], b: &[f16]) -> f32 { l1(&w(a), &w(b)) }
pub fn norm_squared_f16(a: &[f16]) -> f32 { norm_squared(&w(a)) }
pub fn cosine_distance_f16(a: &[f16], b: &[f16]) -> f64 { cosine_distance(&w(a), &w(b)) }
fn merge(ai: &[u32], av: &[f32], bi: &[u32], bv: &[f32], mut f: impl FnMut(f32, f32)) {
    let (mut i, mut j) = (0, 0);
    while i < ai.len() || j < bi.len() {
        if j >= bi.len() || (i < ai.len() && ai[i] < bi[j]) { f(av[i], 0.0); i += 1; }
        else if i >= ai.len() || bi[j] < ai[i] { f(0.0, bv[j]); j += 1; }
        else { f(av[i], bv[j]); i += 1; j += 1; }
    }
}
pub fn sparse_dot(ai: &[u32], av: &[f32], bi: &[u32], bv: &[f32]) -> f32 { let mut s = 0.0; merge(ai, av, bi, bv, |x, y| s += x * y); s }
pub fn sparse_l2_squared(ai: &[u32], av: &[f32], bi: &[u32], bv: &[f32]) -> f32 { let mut s = 0.0; merge(ai, av, bi, bv, |x, y| s += (x - y) * (x - y)); s }
pub fn sparse_l1(ai: &[u32], av: &[f32], bi: &[u32], bv: &[f32]) -> f32 { let mut s = 0.0; merge(ai, av, bi, bv, |x, y| s += (x - y).abs()); s }
pub fn sparse_cosine_distance(ai: &[u32], av: &[f32], bi: &[u32], bv: &[f32]) -> f64 { cos(sparse_dot(ai, av, bi, bv), dot(av, av), dot(bv, bv)) }
pub fn active_isa() -> &'static str { "scalar" }
