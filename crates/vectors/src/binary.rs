//! Binary send/recv payloads, identical to pgvector's so that drivers with
//! binary codecs (and binary COPY between the two) keep working. All
//! integers and floats are big-endian.
//!
//! - dense f32: `int16 dim, int16 0, float4 x dim`
//! - dense f16: `int16 dim, int16 0, uint16 bits x dim`
//! - sparse:    `int32 dim, int32 nnz, int32 0, int32 index x nnz (0-based), float4 x nnz`
//! - multi:     `int16 dim, int16 0, int32 count, float4 x (count * dim)` (ember's own)

use half::f16;

use crate::dense::check_dim;
use crate::error::{ErrorKind, Result, VectorError};
use crate::float_text::check_finite;
use crate::multi::{check_count, MultiVec};
use crate::sparse::SparseVec;
use crate::text::check_ascending;

/// Reads big-endian fields from a message, erroring on truncation.
struct Reader<'a> {
    bytes: &'a [u8],
    type_name: &'a str,
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N]> {
        if self.bytes.len() < N {
            return Err(VectorError::binary(self.type_name, "message is too short"));
        }
        let (head, rest) = self.bytes.split_at(N);
        self.bytes = rest;
        Ok(head.try_into().expect("split_at gave N bytes"))
    }
    fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.take()?))
    }
    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.take()?))
    }
    fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_be_bytes(self.take()?))
    }
    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_be_bytes(self.take()?))
    }
    fn finish(self) -> Result<()> {
        if !self.bytes.is_empty() {
            return Err(VectorError::binary(
                self.type_name,
                "message has trailing bytes",
            ));
        }
        Ok(())
    }
}

fn dense_header(r: &mut Reader<'_>) -> Result<usize> {
    let dim = r.i16()?;
    if r.i16()? != 0 {
        return Err(VectorError::binary(
            r.type_name,
            "unused header field is not zero",
        ));
    }
    let dim =
        usize::try_from(dim).map_err(|_| VectorError::binary(r.type_name, "negative dimension"))?;
    check_dim(dim, r.type_name)?;
    Ok(dim)
}

/// Decodes a dense f32 payload, checking dims and finiteness.
pub fn decode_dense(bytes: &[u8], type_name: &str) -> Result<Vec<f32>> {
    let mut r = Reader { bytes, type_name };
    let dim = dense_header(&mut r)?;
    let mut out = Vec::with_capacity(dim);
    for _ in 0..dim {
        let v = r.f32()?;
        check_finite(v, &v.to_string(), type_name)?;
        out.push(v);
    }
    r.finish()?;
    Ok(out)
}

/// Encodes a dense f32 payload.
pub fn encode_dense(values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * values.len());
    out.extend_from_slice(&(values.len() as i16).to_be_bytes());
    out.extend_from_slice(&0i16.to_be_bytes());
    for v in values {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

/// Decodes a dense f16 payload, checking dims and finiteness.
pub fn decode_half(bytes: &[u8], type_name: &str) -> Result<Vec<f16>> {
    let mut r = Reader { bytes, type_name };
    let dim = dense_header(&mut r)?;
    let mut out = Vec::with_capacity(dim);
    for _ in 0..dim {
        let h = f16::from_bits(r.u16()?);
        check_finite(h.to_f32(), &h.to_string(), type_name)?;
        out.push(h);
    }
    r.finish()?;
    Ok(out)
}

/// Encodes a dense f16 payload.
pub fn encode_half(values: &[f16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 2 * values.len());
    out.extend_from_slice(&(values.len() as i16).to_be_bytes());
    out.extend_from_slice(&0i16.to_be_bytes());
    for v in values {
        out.extend_from_slice(&v.to_bits().to_be_bytes());
    }
    out
}

/// Decodes a sparse payload and checks the canonical form.
pub fn decode_sparse(bytes: &[u8], type_name: &str) -> Result<SparseVec> {
    let mut r = Reader { bytes, type_name };
    let dim = r.i32()?;
    let nnz = r.i32()?;
    if r.i32()? != 0 {
        return Err(VectorError::binary(
            type_name,
            "unused header field is not zero",
        ));
    }
    let dim =
        usize::try_from(dim).map_err(|_| VectorError::binary(type_name, "negative dimension"))?;
    let nnz = usize::try_from(nnz)
        .map_err(|_| VectorError::binary(type_name, "negative element count"))?;
    // Each element needs 8 bytes: refuse impossible counts before allocating.
    if nnz > r.bytes.len() / 8 || nnz > dim {
        return Err(VectorError::binary(
            type_name,
            "element count does not match the message",
        ));
    }
    let mut indices = Vec::with_capacity(nnz);
    for _ in 0..nnz {
        let i = r.i32()?;
        let i = u32::try_from(i).map_err(|_| {
            VectorError::new(
                ErrorKind::Data,
                format!("{type_name} index {i} is out of range"),
            )
        })?;
        if let Some(&prev) = indices.last() {
            check_ascending(prev, i, type_name, ErrorKind::InvalidBinary)?;
        }
        indices.push(i);
    }
    let mut values = Vec::with_capacity(nnz);
    for _ in 0..nnz {
        values.push(r.f32()?);
    }
    r.finish()?;
    SparseVec::new_checked(dim, indices, values, type_name)
}

/// Encodes a sparse payload.
pub fn encode_sparse(dim: usize, indices: &[u32], values: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + 8 * indices.len());
    out.extend_from_slice(&(dim as i32).to_be_bytes());
    out.extend_from_slice(&(indices.len() as i32).to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    for i in indices {
        out.extend_from_slice(&(*i as i32).to_be_bytes());
    }
    for v in values {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

/// Decodes a multi-vector payload.
pub fn decode_multi(bytes: &[u8], type_name: &str) -> Result<MultiVec> {
    let mut r = Reader { bytes, type_name };
    let dim = dense_header(&mut r)?;
    let count = r.i32()?;
    let count = usize::try_from(count)
        .map_err(|_| VectorError::binary(type_name, "negative token count"))?;
    check_count(count, type_name)?;
    // Refuse counts the message cannot hold before allocating.
    if count.saturating_mul(dim).saturating_mul(4) != r.bytes.len() {
        return Err(VectorError::binary(
            type_name,
            "token count does not match the message",
        ));
    }
    let mut data = Vec::with_capacity(count * dim);
    for _ in 0..count * dim {
        data.push(r.f32()?);
    }
    r.finish()?;
    MultiVec::new_checked(dim, data, type_name)
}

/// Encodes a multi-vector payload.
pub fn encode_multi(dim: usize, data: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 4 * data.len());
    out.extend_from_slice(&(dim as i16).to_be_bytes());
    out.extend_from_slice(&0i16.to_be_bytes());
    out.extend_from_slice(&((data.len() / dim.max(1)) as i32).to_be_bytes());
    for v in data {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let v = vec![1.0, -2.5, 3e-7];
        assert_eq!(decode_dense(&encode_dense(&v), "e").unwrap(), v);
        let h: Vec<f16> = v.iter().map(|x| f16::from_f32(*x)).collect();
        assert_eq!(decode_half(&encode_half(&h), "h").unwrap(), h);
        let s = SparseVec::new_checked(10, vec![1, 7], vec![0.5, -1.0], "s").unwrap();
        assert_eq!(
            decode_sparse(&encode_sparse(s.dim, &s.indices, &s.values), "s").unwrap(),
            s
        );
        let m = MultiVec::new_checked(2, vec![1.0, 2.0, 3.0, 4.0], "m").unwrap();
        assert_eq!(decode_multi(&encode_multi(m.dim, &m.data), "m").unwrap(), m);
        let mut short = encode_multi(2, &[1.0, 2.0]);
        short.pop();
        assert_eq!(
            decode_multi(&short, "m").unwrap_err().kind,
            ErrorKind::InvalidBinary
        );
        let mut lying = encode_multi(2, &[1.0, 2.0]);
        lying[4..8].copy_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(
            decode_multi(&lying, "m").unwrap_err().kind,
            ErrorKind::TooLarge
        );
    }

    #[test]
    fn rejects_bad_payloads() {
        let mut b = encode_dense(&[1.0, 2.0]);
        assert_eq!(
            decode_dense(&b[..b.len() - 1], "e").unwrap_err().kind,
            ErrorKind::InvalidBinary
        );
        b.push(0);
        assert_eq!(
            decode_dense(&b, "e").unwrap_err().kind,
            ErrorKind::InvalidBinary
        );
        assert_eq!(
            decode_dense(&encode_dense(&[f32::NAN]), "e")
                .unwrap_err()
                .kind,
            ErrorKind::Data
        );
        assert_eq!(
            decode_dense(&encode_dense(&[]), "e").unwrap_err().kind,
            ErrorKind::Data
        );
        let unsorted = encode_sparse(10, &[3, 1], &[1.0, 1.0]);
        assert_eq!(
            decode_sparse(&unsorted, "s").unwrap_err().kind,
            ErrorKind::InvalidBinary
        );
        let huge = encode_sparse(10, &[], &[]);
        let mut huge = huge.clone();
        huge[4..8].copy_from_slice(&i32::MAX.to_be_bytes());
        assert_eq!(
            decode_sparse(&huge, "s").unwrap_err().kind,
            ErrorKind::InvalidBinary
        );
        assert_eq!(
            decode_sparse(&encode_sparse(10, &[1], &[0.0]), "s")
                .unwrap_err()
                .kind,
            ErrorKind::Data
        );
    }
}
