//! Sparse kernels: merge-join of two index lists.
//!
//! A sparse vector is a strictly ascending `u32` index list with a parallel
//! value list (any index base). The kernels walk both lists at once. Both
//! cursors advance by comparisons turned into 0/1 rather than by an if/else
//! on "which side is smaller", a coin toss with random index sets that no
//! predictor learns. (The value selects of the union kernels still compile to
//! short branches: x86 lowers a scalar select fed by a load that way, and
//! masking tricks are folded back into the same select by LLVM; measured, they
//! gained nothing.) Sums are in `f32`, in index order.
//!
//! Preconditions (not checked beyond `debug_assert`): indices strictly
//! ascending, values as long as indices. A violation gives a meaningless
//! result but never a panic or an out-of-bounds read: lists are cut to the
//! shorter of indices and values.

/// Cuts a sparse vector to a common length of indices and values.
#[inline]
fn trim<'a>(indices: &'a [u32], values: &'a [f32]) -> (&'a [u32], &'a [f32]) {
    debug_assert_eq!(indices.len(), values.len());
    debug_assert!(
        indices.windows(2).all(|w| w[0] < w[1]),
        "indices not strictly ascending"
    );
    let len = indices.len().min(values.len());
    (&indices[..len], &values[..len])
}

/// Sum over the union of both index sets of `term(x, y)`, where `x` and `y`
/// are the values at that index, 0 for an index missing on one side.
/// `term(0, 0)` must be 0: the loop relies on it to skip the missing side.
#[inline]
fn union_sum(
    (ai, av): (&[u32], &[f32]),
    (bi, bv): (&[u32], &[f32]),
    term: impl Fn(f32, f32) -> f32,
) -> f32 {
    let (ai, av) = trim(ai, av);
    let (bi, bv) = trim(bi, bv);
    let (mut i, mut j, mut sum) = (0usize, 0usize, 0.0f32);
    while i < ai.len() && j < bi.len() {
        let (x, y) = (ai[i], bi[j]);
        // The side(s) holding the smaller index contribute and advance.
        let take_a = x <= y;
        let take_b = y <= x;
        let va = if take_a { av[i] } else { 0.0 };
        let vb = if take_b { bv[j] } else { 0.0 };
        sum += term(va, vb);
        i += usize::from(take_a);
        j += usize::from(take_b);
    }
    // One list is exhausted: the rest of the other pairs with zeros.
    for &v in av.get(i..).unwrap_or_default() {
        sum += term(v, 0.0);
    }
    for &v in bv.get(j..).unwrap_or_default() {
        sum += term(0.0, v);
    }
    sum
}

/// Inner product of two sparse vectors (only shared indices contribute).
pub fn sparse_dot(ai: &[u32], av: &[f32], bi: &[u32], bv: &[f32]) -> f32 {
    let (ai, av) = trim(ai, av);
    let (bi, bv) = trim(bi, bv);
    let (mut i, mut j, mut sum) = (0usize, 0usize, 0.0f32);
    while i < ai.len() && j < bi.len() {
        let (x, y) = (ai[i], bi[j]);
        // Matches are rare between random sets, so this branch predicts well.
        if x == y {
            sum += av[i] * bv[j];
        }
        i += usize::from(x <= y);
        j += usize::from(y <= x);
    }
    sum
}

/// Squared Euclidean distance of two sparse vectors.
pub fn sparse_l2_squared(ai: &[u32], av: &[f32], bi: &[u32], bv: &[f32]) -> f32 {
    union_sum((ai, av), (bi, bv), |x, y| {
        let d = x - y;
        d * d
    })
}

/// Manhattan distance of two sparse vectors.
pub fn sparse_l1(ai: &[u32], av: &[f32], bi: &[u32], bv: &[f32]) -> f32 {
    union_sum((ai, av), (bi, bv), |x, y| (x - y).abs())
}

/// Cosine distance of two sparse vectors, same conventions as
/// [`crate::cosine_distance`]. The norms use the dispatched dense
/// [`crate::norm_squared`] over the value lists.
pub fn sparse_cosine_distance(ai: &[u32], av: &[f32], bi: &[u32], bv: &[f32]) -> f64 {
    let (ai, av) = trim(ai, av);
    let (bi, bv) = trim(bi, bv);
    let dot = sparse_dot(ai, av, bi, bv);
    crate::cosine_from_parts(dot, crate::norm_squared(av), crate::norm_squared(bv))
}
