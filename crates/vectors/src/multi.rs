//! The late-interaction value: a non-empty bag of token vectors, all of one
//! dimension, stored row-major as f32. Text form `[[1,2],[3,4]]`.

use crate::dense::check_dim;
use crate::error::{ErrorKind, Result, VectorError};
use crate::float_text::check_finite;
use crate::float_text::is_c_space;
use crate::text::{at_least_one_dim, format_dense_by, parse_dense};

/// Most token vectors one value may hold; with 16,000 dimensions at most it
/// keeps a value far below the 1 GB varlena limit for typical dims, and the
/// varlena size check catches the rest.
pub const MAX_TOKENS: usize = 1 << 20;

/// An owned multi-vector: `count` token vectors of `dim` elements.
#[derive(Debug, Clone, PartialEq)]
pub struct MultiVec {
    /// Elements per token vector, 1..=MAX_DIM.
    pub dim: usize,
    /// Row-major token vectors, `count * dim` finite values.
    pub data: Vec<f32>,
}

impl MultiVec {
    /// Checks a non-empty bag of equal-dimension, finite token vectors.
    pub fn new_checked(dim: usize, data: Vec<f32>, type_name: &str) -> Result<Self> {
        check_dim(dim, type_name)?;
        if data.is_empty() {
            return Err(empty(type_name));
        }
        if !data.len().is_multiple_of(dim) {
            return Err(VectorError::new(
                ErrorKind::Data,
                format!("{type_name} data is not a whole number of tokens"),
            ));
        }
        check_count(data.len() / dim, type_name)?;
        for &v in &data {
            check_finite(v, &v.to_string(), type_name)?;
        }
        Ok(MultiVec { dim, data })
    }

    /// Number of token vectors.
    pub fn count(&self) -> usize {
        self.data.len() / self.dim
    }

    /// The token vectors.
    pub fn tokens(&self) -> std::slice::ChunksExact<'_, f32> {
        self.data.chunks_exact(self.dim)
    }
}

fn empty(type_name: &str) -> VectorError {
    VectorError::new(
        ErrorKind::Data,
        format!("{type_name} must have at least 1 token vector"),
    )
}

/// The token count must be 1..=MAX_TOKENS.
pub fn check_count(count: usize, type_name: &str) -> Result<()> {
    if count == 0 {
        return Err(empty(type_name));
    }
    if count > MAX_TOKENS {
        return Err(VectorError::new(
            ErrorKind::TooLarge,
            format!("{type_name} cannot have more than {MAX_TOKENS} token vectors"),
        ));
    }
    Ok(())
}

/// Token vectors of the same dimension; a ragged bag is refused.
pub fn from_rows(rows: &[&[f32]], type_name: &str) -> Result<MultiVec> {
    let Some(first) = rows.first() else {
        return Err(empty(type_name));
    };
    let dim = first.len();
    if let Some(bad) = rows.iter().find(|r| r.len() != dim) {
        return Err(ragged(type_name, dim, bad.len()));
    }
    MultiVec::new_checked(dim, rows.concat(), type_name)
}

fn ragged(type_name: &str, dim: usize, other: usize) -> VectorError {
    VectorError::new(
        ErrorKind::Data,
        format!("{type_name} token vectors must have the same dimensions, found {dim} and {other}"),
    )
}

/// Parses `[[x, ...], [y, ...], ...]`.
pub fn parse_multi(input: &str, type_name: &str) -> Result<MultiVec> {
    let syntax = || VectorError::syntax(type_name, input);
    let inner = input
        .trim_matches(is_c_space)
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(syntax)?;
    let mut rest = inner.trim_matches(is_c_space);
    if rest.is_empty() {
        return Err(empty(type_name));
    }
    let mut rows: Vec<Vec<f32>> = Vec::new();
    loop {
        if !rest.starts_with('[') {
            return Err(syntax());
        }
        let end = rest.find(']').ok_or_else(syntax)?;
        let row = parse_dense(&rest[..=end], type_name).map_err(|e| match e.kind {
            ErrorKind::InvalidText => syntax(),
            _ => e,
        })?;
        if let Some(first) = rows.first() {
            if first.len() != row.len() {
                return Err(ragged(type_name, first.len(), row.len()));
            }
        }
        rows.push(row);
        check_count(rows.len(), type_name)?;
        rest = rest[end + 1..].trim_start_matches(is_c_space);
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start_matches(is_c_space),
            None if rest.is_empty() => break,
            None => return Err(syntax()),
        }
    }
    let dim = rows[0].len();
    if dim == 0 {
        return Err(at_least_one_dim(type_name));
    }
    MultiVec::new_checked(dim, rows.concat(), type_name)
}

/// Formats as `[[x,...],[y,...]]`.
pub fn format_multi(dim: usize, data: &[f32]) -> String {
    format_multi_by(dim, data, crate::float_text::format_f32)
}

/// [`format_multi`], each value appended by `push`.
pub fn format_multi_by(dim: usize, data: &[f32], push: impl Fn(f32, &mut String) + Copy) -> String {
    let mut out = String::from("[");
    for (i, row) in data.chunks_exact(dim).enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&format_dense_by(row.iter().copied(), push));
    }
    out.push(']');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let m = parse_multi(" [ [1, 2] , [3,4.5] ] ", "multiembedding").unwrap();
        assert_eq!((m.dim, m.count()), (2, 2));
        assert_eq!(format_multi(m.dim, &m.data), "[[1,2],[3,4.5]]");
        assert_eq!(parse_multi("[[7]]", "m").unwrap().data, vec![7.0]);
    }

    #[test]
    fn errors() {
        let kind = |s: &str| parse_multi(s, "multiembedding").unwrap_err().kind;
        assert_eq!(kind("[]"), ErrorKind::Data);
        assert_eq!(kind("[[]]"), ErrorKind::Data);
        assert_eq!(kind("[[1,2],[3]]"), ErrorKind::Data);
        assert_eq!(kind("[[1,2],]"), ErrorKind::InvalidText);
        assert_eq!(kind("[[1,2][3,4]]"), ErrorKind::InvalidText);
        assert_eq!(kind("[1,2]"), ErrorKind::InvalidText);
        assert_eq!(kind("[[1,2]"), ErrorKind::InvalidText);
        assert_eq!(kind("[[1,x]]"), ErrorKind::InvalidText);
        assert_eq!(kind("[[1,NaN]]"), ErrorKind::Data);
        assert_eq!(kind("[[1e39]]"), ErrorKind::OutOfRange);
        assert_eq!(kind("[[1]] x"), ErrorKind::InvalidText);
        assert!(from_rows(&[&[1.0, 2.0], &[1.0]], "m").is_err());
        assert!(from_rows(&[], "m").is_err());
    }
}
