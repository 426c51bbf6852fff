//! The sparse vector value: a dimension and parallel arrays of strictly
//! ascending 0-based indices and their non-zero, finite values.

use crate::error::{ErrorKind, Result, VectorError};
use crate::float_text::check_finite;
use crate::text::{at_least_one_dim, check_ascending, too_many_dims};
use crate::SPARSE_MAX_DIM;

/// An owned sparse vector in canonical form (no zeros, indices ascending).
#[derive(Debug, Clone, PartialEq)]
pub struct SparseVec {
    /// Number of dimensions, 1..=SPARSE_MAX_DIM.
    pub dim: usize,
    /// 0-based indices, strictly ascending, each < dim.
    pub indices: Vec<u32>,
    /// Non-zero finite values, one per index.
    pub values: Vec<f32>,
}

impl SparseVec {
    /// Checks every invariant; the error names `type_name`.
    pub fn new_checked(
        dim: usize,
        indices: Vec<u32>,
        values: Vec<f32>,
        type_name: &str,
    ) -> Result<Self> {
        check_sparse_dim(dim, type_name)?;
        if indices.len() != values.len() {
            return Err(VectorError::new(
                ErrorKind::Data,
                "sparse indices and values differ in length",
            ));
        }
        for (n, (&i, &v)) in indices.iter().zip(&values).enumerate() {
            if n > 0 {
                check_ascending(indices[n - 1], i, type_name, ErrorKind::Data)?;
            }
            if i as usize >= dim {
                return Err(VectorError::new(
                    ErrorKind::Data,
                    format!(
                        "{type_name} index {} is out of range for {dim} dimensions",
                        i as u64 + 1
                    ),
                ));
            }
            check_finite(v, &v.to_string(), type_name)?;
            if v == 0.0 {
                return Err(VectorError::new(
                    ErrorKind::Data,
                    format!("{type_name} values must not be zero"),
                ));
            }
        }
        Ok(SparseVec {
            dim,
            indices,
            values,
        })
    }

    /// The sparse form of a dense vector: its non-zero elements.
    pub fn from_dense(dense: &[f32]) -> Self {
        let (indices, values) = dense
            .iter()
            .enumerate()
            .filter(|(_, v)| **v != 0.0)
            .map(|(i, v)| (i as u32, *v))
            .unzip();
        SparseVec {
            dim: dense.len(),
            indices,
            values,
        }
    }

    /// Expands to a dense vector; the caller checks `dim` fits a dense type.
    pub fn to_dense(&self) -> Vec<f32> {
        let mut out = vec![0.0; self.dim];
        for (&i, &v) in self.indices.iter().zip(&self.values) {
            out[i as usize] = v;
        }
        out
    }

    /// Number of stored (non-zero) elements.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }
}

/// A sparse dimension must be 1..=SPARSE_MAX_DIM.
pub fn check_sparse_dim(dim: usize, type_name: &str) -> Result<()> {
    if dim < 1 {
        return Err(at_least_one_dim(type_name));
    }
    if dim > SPARSE_MAX_DIM {
        return Err(too_many_dims(type_name, SPARSE_MAX_DIM));
    }
    Ok(())
}

/// Total order consistent with equality: lexicographic over the dense
/// expansion (up to the shorter dimension), then by dimension, as for dense.
pub fn cmp_sparse(
    a_idx: &[u32],
    a_val: &[f32],
    a_dim: usize,
    b_idx: &[u32],
    b_val: &[f32],
    b_dim: usize,
) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let limit = a_dim.min(b_dim) as u32;
    let (mut i, mut j) = (0, 0);
    loop {
        let ai = a_idx.get(i).copied().filter(|&x| x < limit);
        let bj = b_idx.get(j).copied().filter(|&x| x < limit);
        let (x, y) = match (ai, bj) {
            (None, None) => break,
            (Some(p), Some(q)) if p == q => {
                i += 1;
                j += 1;
                (a_val[i - 1], b_val[j - 1])
            }
            (Some(p), q) if q.is_none_or(|q| p < q) => {
                i += 1;
                (a_val[i - 1], 0.0)
            }
            _ => {
                j += 1;
                (0.0, b_val[j - 1])
            }
        };
        match x.partial_cmp(&y) {
            Some(Ordering::Equal) | None => continue,
            Some(o) => return o,
        }
    }
    a_dim.cmp(&b_dim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn checked_constructor() {
        assert!(SparseVec::new_checked(3, vec![0, 2], vec![1.0, 2.0], "s").is_ok());
        assert!(SparseVec::new_checked(3, vec![2, 0], vec![1.0, 2.0], "s").is_err());
        assert!(SparseVec::new_checked(3, vec![0, 3], vec![1.0, 2.0], "s").is_err());
        assert!(SparseVec::new_checked(3, vec![0], vec![0.0], "s").is_err());
        assert!(SparseVec::new_checked(3, vec![0], vec![f32::NAN], "s").is_err());
        assert!(SparseVec::new_checked(0, vec![], vec![], "s").is_err());
    }

    #[test]
    fn ordering_matches_dense() {
        let a = SparseVec::from_dense(&[0.0, 1.0, 0.0]);
        let b = SparseVec::from_dense(&[0.0, 1.0, 2.0]);
        let c = SparseVec::from_dense(&[-1.0, 5.0, 0.0]);
        let cmp = |x: &SparseVec, y: &SparseVec| {
            cmp_sparse(&x.indices, &x.values, x.dim, &y.indices, &y.values, y.dim)
        };
        assert_eq!(cmp(&a, &b), Ordering::Less);
        assert_eq!(cmp(&b, &a), Ordering::Greater);
        assert_eq!(cmp(&c, &a), Ordering::Less);
        assert_eq!(cmp(&a, &a), Ordering::Equal);
        let short = SparseVec::from_dense(&[0.0, 1.0]);
        assert_eq!(cmp(&short, &a), Ordering::Less);
    }
}
