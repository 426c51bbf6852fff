//! Dense vector rules and operations on `f32` elements; `halfembedding`
//! computes in f32 and narrows through [`crate::half_vec`].

use std::cmp::Ordering;
use std::ops::Range;

use crate::error::{ErrorKind, Result, VectorError};
use crate::text::{at_least_one_dim, too_many_dims};
use crate::MAX_DIM;

/// A dense dimension must be 1..=MAX_DIM.
pub fn check_dim(dim: usize, type_name: &str) -> Result<()> {
    if dim < 1 {
        return Err(at_least_one_dim(type_name));
    }
    if dim > MAX_DIM {
        return Err(too_many_dims(type_name, MAX_DIM));
    }
    Ok(())
}

/// Every element must be finite.
pub fn check_finite_all(values: &[f32], type_name: &str) -> Result<()> {
    for &v in values {
        crate::float_text::check_finite(v, &v.to_string(), type_name)?;
    }
    Ok(())
}

/// Operands of a binary operation must have the same dimension.
pub fn check_same_dim(a: usize, b: usize, type_name: &str) -> Result<()> {
    if a != b {
        return Err(VectorError::dim_mismatch(type_name, a, b));
    }
    Ok(())
}

/// A value must have exactly the dimension its column's typmod declares.
pub fn check_typmod(dim: usize, typmod: i32) -> Result<()> {
    if typmod > 0 && dim != typmod as usize {
        return Err(VectorError::new(
            ErrorKind::Data,
            format!("expected {typmod} dimensions, not {dim}"),
        ));
    }
    Ok(())
}

fn overflow() -> VectorError {
    VectorError::new(ErrorKind::OutOfRange, "value out of range: overflow")
}

/// Elementwise `op`, refusing results that overflow to infinity.
pub fn elementwise(
    a: &[f32],
    b: &[f32],
    op: impl Fn(f32, f32) -> f32,
    type_name: &str,
) -> Result<Vec<f32>> {
    check_same_dim(a.len(), b.len(), type_name)?;
    let out: Vec<f32> = a.iter().zip(b).map(|(x, y)| op(*x, *y)).collect();
    if out.iter().any(|v| v.is_infinite()) {
        return Err(overflow());
    }
    Ok(out)
}

/// `a || b`, within MAX_DIM.
pub fn concat(a: &[f32], b: &[f32], type_name: &str) -> Result<Vec<f32>> {
    check_dim(a.len() + b.len(), type_name)?;
    Ok([a, b].concat())
}

/// Scales to unit L2 norm; a zero vector stays zero (as pgvector).
pub fn normalize(a: &[f32]) -> Vec<f32> {
    let norm = a
        .iter()
        .map(|x| (*x as f64) * (*x as f64))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 {
        return a.to_vec();
    }
    a.iter().map(|x| (*x as f64 / norm) as f32).collect()
}

/// L2 norm in f64.
pub fn norm(a: &[f32]) -> f64 {
    a.iter()
        .map(|x| (*x as f64) * (*x as f64))
        .sum::<f64>()
        .sqrt()
}

/// The element range of `subvector(v, start, count)`: 1-based `start`,
/// clipped to the vector like SQL `substring`; empty results are refused.
pub fn subvector_range(
    dim: usize,
    start: i32,
    count: i32,
    type_name: &str,
) -> Result<Range<usize>> {
    if count < 1 {
        return Err(at_least_one_dim(type_name));
    }
    let (dim, start, count) = (dim as i64, start as i64, count as i64);
    let end = (start + count).min(dim + 1);
    let start = start.max(1);
    if start > dim || end <= start {
        return Err(at_least_one_dim(type_name));
    }
    Ok((start - 1) as usize..(end - 1) as usize)
}

/// Sign bits (1 where the element is > 0), packed most significant bit first
/// as Postgres's `bit` type stores them.
pub fn binary_quantize(a: &[f32]) -> Vec<u8> {
    let mut out = vec![0u8; a.len().div_ceil(8)];
    for (i, v) in a.iter().enumerate() {
        if *v > 0.0 {
            out[i / 8] |= 0x80 >> (i % 8);
        }
    }
    out
}

/// Btree order: elementwise, then the shorter vector first.
pub fn cmp_dense(a: &[f32], b: &[f32]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        match x.partial_cmp(y) {
            Some(Ordering::Equal) | None => continue,
            Some(o) => return o,
        }
    }
    a.len().cmp(&b.len())
}

/// Narrows f64 array elements to f32, refusing NaN, infinities and overflow.
pub fn from_f64(values: &[f64], type_name: &str) -> Result<Vec<f32>> {
    values
        .iter()
        .map(|&v| {
            if v.is_nan() {
                return Err(VectorError::new(
                    ErrorKind::Data,
                    format!("NaN not allowed in {type_name}"),
                ));
            }
            if v.is_infinite() {
                return Err(VectorError::new(
                    ErrorKind::Data,
                    format!("infinite value not allowed in {type_name}"),
                ));
            }
            let x = v as f32;
            if x.is_infinite() {
                return Err(VectorError::new(
                    ErrorKind::OutOfRange,
                    format!("\"{v:e}\" is out of range for type {type_name}"),
                ));
            }
            Ok(x)
        })
        .collect()
}

/// Aggregate state for `avg`/`sum`: `[count, sum_1, ..., sum_n]` in f64,
/// so accumulating many f32 values neither overflows nor loses precision.
pub fn accumulate(state: &mut Vec<f64>, v: &[f32], type_name: &str) -> Result<()> {
    if state.len() <= 1 {
        state.resize(1 + v.len(), 0.0);
        state[0] = state.first().copied().unwrap_or(0.0);
    } else {
        check_same_dim(state.len() - 1, v.len(), type_name)?;
    }
    state[0] += 1.0;
    for (s, x) in state[1..].iter_mut().zip(v) {
        *s += *x as f64;
    }
    Ok(())
}

/// Merges two partial aggregate states (parallel aggregation).
pub fn combine(a: &[f64], b: &[f64], type_name: &str) -> Result<Vec<f64>> {
    if a.len() <= 1 {
        return Ok(b.to_vec());
    }
    if b.len() <= 1 {
        return Ok(a.to_vec());
    }
    check_same_dim(a.len() - 1, b.len() - 1, type_name)?;
    Ok(a.iter().zip(b).map(|(x, y)| x + y).collect())
}

/// The sums of a state divided by `divisor` (1 for sum, count for avg);
/// `None` when nothing was aggregated (SQL NULL).
pub fn finish(state: &[f64], average: bool) -> Result<Option<Vec<f32>>> {
    if state.len() <= 1 || state[0] == 0.0 {
        return Ok(None);
    }
    let divisor = if average { state[0] } else { 1.0 };
    let out: Vec<f32> = state[1..].iter().map(|s| (s / divisor) as f32).collect();
    if out.iter().any(|v| !v.is_finite()) {
        return Err(overflow());
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subvector_like_pgvector() {
        assert_eq!(subvector_range(5, 2, 3, "e").unwrap(), 1..4);
        assert_eq!(subvector_range(5, 4, 10, "e").unwrap(), 3..5);
        assert_eq!(subvector_range(5, -1, 3, "e").unwrap(), 0..1);
        assert!(subvector_range(5, -1, 2, "e").is_err());
        assert!(subvector_range(5, 6, 1, "e").is_err());
        assert!(subvector_range(5, 1, 0, "e").is_err());
        assert!(subvector_range(5, i32::MAX, i32::MAX, "e").is_err());
    }

    #[test]
    fn arithmetic_overflow() {
        assert_eq!(
            elementwise(&[1.0], &[2.0], |a, b| a + b, "e").unwrap(),
            vec![3.0]
        );
        assert_eq!(
            elementwise(&[f32::MAX], &[f32::MAX], |a, b| a + b, "e")
                .unwrap_err()
                .kind,
            ErrorKind::OutOfRange
        );
        assert_eq!(
            elementwise(&[1.0], &[1.0, 2.0], |a, b| a + b, "e")
                .unwrap_err()
                .kind,
            ErrorKind::Data
        );
    }

    #[test]
    fn quantize_bits() {
        assert_eq!(
            binary_quantize(&[1.0, -1.0, 0.0, 2.0, 1.0, 1.0, 1.0, 1.0, 1.0]),
            vec![0b1001_1111, 0b1000_0000]
        );
    }

    #[test]
    fn aggregates() {
        let mut s = vec![0.0];
        accumulate(&mut s, &[1.0, 2.0], "e").unwrap();
        accumulate(&mut s, &[3.0, 4.0], "e").unwrap();
        assert!(accumulate(&mut s, &[1.0], "e").is_err());
        assert_eq!(finish(&s, true).unwrap().unwrap(), vec![2.0, 3.0]);
        assert_eq!(finish(&s, false).unwrap().unwrap(), vec![4.0, 6.0]);
        let c = combine(&s, &[0.0], "e").unwrap();
        assert_eq!(c, s);
        assert_eq!(combine(&s, &s, "e").unwrap()[0], 4.0);
        assert_eq!(finish(&[0.0], true).unwrap(), None);
    }

    #[test]
    fn narrowing() {
        assert_eq!(from_f64(&[1.5], "e").unwrap(), vec![1.5]);
        assert_eq!(
            from_f64(&[1e300], "e").unwrap_err().kind,
            ErrorKind::OutOfRange
        );
        assert_eq!(
            from_f64(&[f64::NAN], "e").unwrap_err().kind,
            ErrorKind::Data
        );
    }
}
