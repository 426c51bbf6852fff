//! Text forms, as pgvector writes them: dense `[1,2,3]`, sparse
//! `{1:0.5,7:1.25}/30522` (1-based indices). Parsers never modify their
//! input and return a [`VectorError`] for anything malformed.

use crate::error::{ErrorKind, Result, VectorError};
use crate::float_text::is_c_space;
use crate::float_text::{format_f32, parse_decimal_prefix, parse_f32};
use crate::sparse::SparseVec;
use crate::{MAX_DIM, SPARSE_MAX_DIM};

/// Parses `[x1, x2, ...]` into its elements, checking each is finite and
/// the count is within 1..=MAX_DIM. Whitespace around tokens is allowed.
pub fn parse_dense(input: &str, type_name: &str) -> Result<Vec<f32>> {
    match parse_dense_decimals(input.as_bytes()) {
        Some(values) => Ok(values),
        None => parse_dense_general(input, type_name),
    }
}

/// [`parse_dense`] token by token, for every input (and every error).
fn parse_dense_general(input: &str, type_name: &str) -> Result<Vec<f32>> {
    let inner = input
        .trim_matches(is_c_space)
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .ok_or_else(|| VectorError::syntax(type_name, input))?;
    if inner.trim_matches(is_c_space).is_empty() {
        return Err(at_least_one_dim(type_name));
    }
    let mut values = Vec::new();
    for token in inner.split(',') {
        if values.len() == MAX_DIM {
            return Err(too_many_dims(type_name, MAX_DIM));
        }
        values.push(parse_f32(token.trim_matches(is_c_space), type_name, input)?);
    }
    Ok(values)
}

/// `rest` without its leading C white space ([`is_c_space`]).
fn skip_spaces(mut rest: &[u8]) -> &[u8] {
    while let [b' ' | b'\t' | b'\n' | b'\r' | b'\x0B' | b'\x0C', tail @ ..] = rest {
        rest = tail;
    }
    rest
}

/// [`parse_dense`] of the usual input, `[d, d, ...]` with every element a
/// decimal the quick path takes ([`parse_decimal_prefix`]), in one pass
/// over the bytes; `None` for anything else (including every error),
/// which the general path then parses or reports. Same values either way.
fn parse_dense_decimals(bytes: &[u8]) -> Option<Vec<f32>> {
    let mut rest = skip_spaces(bytes).strip_prefix(b"[")?;
    // A 384-d query printed with 9 digits is about 4 KB: ~11 bytes each.
    let mut values = Vec::with_capacity((bytes.len() / 8).min(MAX_DIM));
    loop {
        if values.len() == MAX_DIM {
            return None;
        }
        let (value, after) = parse_decimal_prefix(skip_spaces(rest))?;
        values.push(value);
        match skip_spaces(after) {
            [b',', tail @ ..] => rest = tail,
            [b']', tail @ ..] if skip_spaces(tail).is_empty() => return Some(values),
            _ => return None,
        }
    }
}

/// Formats dense elements as `[x1,x2,...]`.
pub fn format_dense(values: impl IntoIterator<Item = f32>) -> String {
    format_dense_by(values, format_f32)
}

/// [`format_dense`], each value appended by `push` (the extension passes
/// Postgres's own float4out digits).
pub fn format_dense_by(values: impl IntoIterator<Item = f32>, push: impl Fn(f32, &mut String)) -> String {
    let values = values.into_iter();
    // At most 16 bytes a value (`-1.17549435e-38,`): the text is built
    // without growing the buffer.
    let mut out = String::with_capacity(2 + 16 * values.size_hint().0);
    out.push('[');
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        push(v, &mut out);
    }
    out.push(']');
    out
}

/// Parses `{i:v, ...}/dim`. Indices are 1-based, must ascend strictly and lie
/// in 1..=dim; zero values are dropped (a sparse value never stores zeros).
pub fn parse_sparse(input: &str, type_name: &str) -> Result<SparseVec> {
    let syntax = || VectorError::syntax(type_name, input);
    let trimmed = input.trim_matches(is_c_space);
    let body = trimmed.strip_prefix('{').ok_or_else(syntax)?;
    let (pairs, dim_text) = body.split_once('}').ok_or_else(syntax)?;
    let dim_text = dim_text
        .trim_start_matches(is_c_space)
        .strip_prefix('/')
        .ok_or_else(syntax)?
        .trim_matches(is_c_space);
    let dim = parse_sparse_dim(dim_text, type_name, input)?;
    let mut indices = Vec::new();
    let mut values = Vec::new();
    let mut last_index: Option<u32> = None;
    if !pairs.trim_matches(is_c_space).is_empty() {
        for pair in pairs.split(',') {
            let (idx, val) = pair.split_once(':').ok_or_else(syntax)?;
            let idx = parse_index(idx.trim_matches(is_c_space), type_name, input)?;
            let value = parse_f32(val.trim_matches(is_c_space), type_name, input)?;
            if let Some(prev) = last_index {
                check_ascending(prev, idx, type_name, ErrorKind::InvalidText)?;
            }
            last_index = Some(idx);
            if value != 0.0 {
                indices.push(idx);
                values.push(value);
            }
        }
    }
    SparseVec::new_checked(dim, indices, values, type_name)
}

fn parse_sparse_dim(text: &str, type_name: &str, whole: &str) -> Result<usize> {
    match parse_integer(text).ok_or_else(|| VectorError::syntax(type_name, whole))? {
        Integer::Value(dim) if dim < 1 => Err(at_least_one_dim(type_name)),
        Integer::Value(dim) if dim <= SPARSE_MAX_DIM as i64 => Ok(dim as usize),
        Integer::Negative => Err(at_least_one_dim(type_name)),
        _ => Err(too_many_dims(type_name, SPARSE_MAX_DIM)),
    }
}

/// An integer token: its value, or which way it overflowed i64.
enum Integer {
    Value(i64),
    Positive,
    Negative,
}

/// Parses `[+-]?[0-9]+`; `None` when the token is not an integer at all.
fn parse_integer(text: &str) -> Option<Integer> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match text.parse::<i64>() {
        Ok(v) => Integer::Value(v),
        Err(_) if text.starts_with('-') => Integer::Negative,
        Err(_) => Integer::Positive,
    })
}

/// Parses a 1-based index; returns it 0-based.
fn parse_index(text: &str, type_name: &str, whole: &str) -> Result<u32> {
    match parse_integer(text).ok_or_else(|| VectorError::syntax(type_name, whole))? {
        Integer::Value(idx) if (1..=SPARSE_MAX_DIM as i64).contains(&idx) => Ok((idx - 1) as u32),
        _ => Err(index_out_of_range(text, type_name)),
    }
}

fn index_out_of_range(text: &str, type_name: &str) -> VectorError {
    VectorError::new(
        ErrorKind::Data,
        format!("{type_name} index {text} is out of range: indices start at 1 and are at most the dimension"),
    )
}

/// Indices must strictly ascend; `kind` says whether text or binary input.
pub(crate) fn check_ascending(
    prev: u32,
    next: u32,
    type_name: &str,
    kind: ErrorKind,
) -> Result<()> {
    if next == prev {
        return Err(VectorError::new(
            kind,
            format!("{type_name} indices must not contain duplicates"),
        ));
    }
    if next < prev {
        return Err(VectorError::new(
            kind,
            format!("{type_name} indices must be in ascending order"),
        ));
    }
    Ok(())
}

/// Formats a sparse value as `{i:v,...}/dim` with 1-based indices.
pub fn format_sparse(v: &SparseVec) -> String {
    format_sparse_by(v, format_f32)
}

/// [`format_sparse`], each value appended by `push`.
pub fn format_sparse_by(v: &SparseVec, push: impl Fn(f32, &mut String)) -> String {
    let mut out = String::from("{");
    for (n, (i, x)) in v.indices.iter().zip(&v.values).enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push_str(&(i + 1).to_string());
        out.push(':');
        push(*x, &mut out);
    }
    out.push_str("}/");
    out.push_str(&v.dim.to_string());
    out
}

/// `T must have at least 1 dimension` (22000).
pub fn at_least_one_dim(type_name: &str) -> VectorError {
    VectorError::new(
        ErrorKind::Data,
        format!("{type_name} must have at least 1 dimension"),
    )
}

/// `T cannot have more than N dimensions` (54000).
pub fn too_many_dims(type_name: &str, max: usize) -> VectorError {
    VectorError::new(
        ErrorKind::TooLarge,
        format!("{type_name} cannot have more than {max} dimensions"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The one-pass path and the general one agree on every input:
        /// the same values, or the general path's answer where the quick
        /// one declines.
        #[test]
        fn quick_and_general_dense_parses_agree(
            values in proptest::collection::vec(proptest::num::f32::NORMAL | proptest::num::f32::ZERO, 1..20),
            style in 0usize..4,
            spaced in proptest::bool::ANY,
            tail in proptest::sample::select(vec!["", " ", ",", "x", ",]"]),
        ) {
            let printed: Vec<String> = values.iter().map(|&v| match style {
                0 => format!("{v}"),
                1 => format!("{}", f64::from(v)),
                2 => format!("{v:.8e}"),
                _ => format!("{:.3}", v),
            }).collect();
            let text = format!("[{}]{tail}", printed.join(if spaced { ", " } else { "," }));
            let general = parse_dense_general(&text, "embedding");
            if let Some(quick) = parse_dense_decimals(text.as_bytes()) {
                let general = general.expect("the general path parses what the quick one does");
                proptest::prop_assert_eq!(
                    quick.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    general.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                );
            }
            if style < 2 && (tail.is_empty() || tail == " ") {
                proptest::prop_assert_eq!(parse_dense(&text, "embedding").unwrap(), values);
            }
        }
    }

    #[test]
    fn dense_round_trip() {
        let v = parse_dense(" [ 1, 2.5 ,-3e-7] ", "embedding").unwrap();
        assert_eq!(v, vec![1.0, 2.5, -3e-7]);
        assert_eq!(format_dense(v), "[1,2.5,-3e-07]");
    }

    #[test]
    fn dense_errors() {
        let kind = |s: &str| parse_dense(s, "embedding").unwrap_err().kind;
        assert_eq!(kind("[]"), ErrorKind::Data);
        assert_eq!(kind("[ ]"), ErrorKind::Data);
        assert_eq!(kind("1,2"), ErrorKind::InvalidText);
        assert_eq!(kind("[1,2"), ErrorKind::InvalidText);
        assert_eq!(kind("[1,,2]"), ErrorKind::InvalidText);
        assert_eq!(kind("[1,2,]"), ErrorKind::InvalidText);
        assert_eq!(kind("[1] x"), ErrorKind::InvalidText);
        assert_eq!(kind("[[1]]"), ErrorKind::InvalidText);
        assert_eq!(kind("[nan]"), ErrorKind::Data);
        assert_eq!(kind("[1e40]"), ErrorKind::OutOfRange);
        let big = format!("[{}]", vec!["1"; MAX_DIM + 1].join(","));
        assert_eq!(kind(&big), ErrorKind::TooLarge);
        let ok = format!("[{}]", vec!["1"; MAX_DIM].join(","));
        assert_eq!(parse_dense(&ok, "embedding").unwrap().len(), MAX_DIM);
    }

    #[test]
    fn sparse_round_trip() {
        let v = parse_sparse("{1:0.5, 7:1.25, 9:0}/30522", "sparseembedding").unwrap();
        assert_eq!(v.indices, vec![0, 6]);
        assert_eq!(format_sparse(&v), "{1:0.5,7:1.25}/30522");
        let empty = parse_sparse("{}/3", "sparseembedding").unwrap();
        assert_eq!(format_sparse(&empty), "{}/3");
    }

    #[test]
    fn sparse_errors() {
        let kind = |s: &str| parse_sparse(s, "sparseembedding").unwrap_err().kind;
        assert_eq!(kind("{2:1,1:1}/3"), ErrorKind::InvalidText);
        assert_eq!(kind("{1:1,1:2}/3"), ErrorKind::InvalidText);
        assert_eq!(kind("{1:0,1:2}/3"), ErrorKind::InvalidText);
        assert_eq!(kind("{0:1}/3"), ErrorKind::Data);
        assert_eq!(kind("{4:1}/3"), ErrorKind::Data);
        assert_eq!(kind("{1:1}/0"), ErrorKind::Data);
        assert_eq!(kind("{1:1}/1000000001"), ErrorKind::TooLarge);
        assert_eq!(kind("{1:1}"), ErrorKind::InvalidText);
        assert_eq!(kind("{1:1}/3x"), ErrorKind::InvalidText);
        assert_eq!(kind("{1 1}/3"), ErrorKind::InvalidText);
        assert_eq!(kind("{1:inf}/3"), ErrorKind::Data);
        assert_eq!(kind("{a:1}/3"), ErrorKind::InvalidText);
    }
}
