//! Distance functions the graph is generic over.
//!
//! Smaller is closer. NaN (e.g. cosine with a zero vector) is mapped to
//! `+inf` by [`Distance::distance_or_inf`], so such vectors sort last
//! instead of breaking the heaps; the AM skips them anyway.

/// A distance between two vectors of the same length; smaller is closer.
pub trait Distance: Sync {
    /// The raw distance.
    fn distance(&self, a: &[f32], b: &[f32]) -> f32;

    /// The distance, with NaN replaced by `+inf`.
    #[inline]
    fn distance_or_inf(&self, a: &[f32], b: &[f32]) -> f32 {
        let d = self.distance(a, b);
        if d.is_nan() {
            f32::INFINITY
        } else {
            d
        }
    }
}

impl<F: Fn(&[f32], &[f32]) -> f32 + Sync> Distance for F {
    #[inline]
    fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        self(a, b)
    }
}

/// Squared Euclidean distance (same order as `<->`).
#[derive(Debug, Clone, Copy, Default)]
pub struct L2;

impl Distance for L2 {
    #[inline]
    fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        distance::l2_squared(a, b)
    }
}

/// Cosine distance `1 - cos(a, b)` (`<=>`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Cosine;

impl Distance for Cosine {
    #[inline]
    fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        distance::cosine_distance(a, b) as f32
    }
}

/// Negative inner product (`<#>`).
#[derive(Debug, Clone, Copy, Default)]
pub struct InnerProduct;

impl Distance for InnerProduct {
    #[inline]
    fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        -distance::dot(a, b)
    }
}

/// Manhattan distance (`<+>`).
#[derive(Debug, Clone, Copy, Default)]
pub struct L1;

impl Distance for L1 {
    #[inline]
    fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        distance::l1(a, b)
    }
}
