//! The two dense types, `embedding` (f32) and `halfembedding` (f16), as
//! implementations of [`DenseType`]: element storage, widening to f32 and
//! checked narrowing back, and the distance kernels on stored elements.

use std::borrow::Cow;

use half::f16;
use vectors::Result;

use super::layout::DenseElem;

/// What the generic dense SQL functions need to know about a dense type.
pub trait DenseType {
    /// SQL type name, for error messages.
    const NAME: &'static str;
    /// Stored element.
    type Elem: DenseElem;
    /// Elements as f32 (borrowed when already f32).
    fn widen(v: &[Self::Elem]) -> Cow<'_, [f32]>;
    /// f32 results back to stored elements, refusing overflow.
    fn narrow(v: &[f32]) -> Result<Vec<Self::Elem>>;
    /// Squared Euclidean distance.
    fn l2_squared(a: &[Self::Elem], b: &[Self::Elem]) -> f32;
    /// Inner product.
    fn dot(a: &[Self::Elem], b: &[Self::Elem]) -> f32;
    /// Manhattan distance.
    fn l1(a: &[Self::Elem], b: &[Self::Elem]) -> f32;
    /// Cosine distance (NaN when a norm is zero).
    fn cosine(a: &[Self::Elem], b: &[Self::Elem]) -> f64;
    /// A value's elements from an index's copy of it, its `f32` words
    /// (exact: half values widen to `f32` and narrow back unchanged).
    fn from_words(words: &[f32]) -> Cow<'_, [Self::Elem]>;
}

/// `embedding`: f32 elements.
pub struct Embedding;

impl DenseType for Embedding {
    const NAME: &'static str = vectors::type_name::EMBEDDING;
    type Elem = f32;
    fn widen(v: &[f32]) -> Cow<'_, [f32]> {
        Cow::Borrowed(v)
    }
    fn narrow(v: &[f32]) -> Result<Vec<f32>> {
        Ok(v.to_vec())
    }
    fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
        distance::l2_squared(a, b)
    }
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        distance::dot(a, b)
    }
    fn l1(a: &[f32], b: &[f32]) -> f32 {
        distance::l1(a, b)
    }
    fn cosine(a: &[f32], b: &[f32]) -> f64 {
        distance::cosine_distance(a, b)
    }
    fn from_words(words: &[f32]) -> Cow<'_, [f32]> {
        Cow::Borrowed(words)
    }
}

/// `halfembedding`: f16 elements, computed in f32.
pub struct HalfEmbedding;

impl DenseType for HalfEmbedding {
    const NAME: &'static str = vectors::type_name::HALF;
    type Elem = f16;
    fn widen(v: &[f16]) -> Cow<'_, [f32]> {
        Cow::Owned(vectors::half_vec::to_f32(v))
    }
    fn narrow(v: &[f32]) -> Result<Vec<f16>> {
        vectors::half_vec::to_f16(v, Self::NAME)
    }
    fn l2_squared(a: &[f16], b: &[f16]) -> f32 {
        distance::l2_squared_f16(a, b)
    }
    fn dot(a: &[f16], b: &[f16]) -> f32 {
        distance::dot_f16(a, b)
    }
    fn l1(a: &[f16], b: &[f16]) -> f32 {
        distance::l1_f16(a, b)
    }
    fn cosine(a: &[f16], b: &[f16]) -> f64 {
        distance::cosine_distance_f16(a, b)
    }
    fn from_words(words: &[f32]) -> Cow<'_, [f16]> {
        Cow::Owned(words.iter().map(|&x| f16::from_f32(x)).collect())
    }
}
