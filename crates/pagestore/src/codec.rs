//! Tuple codecs: little-endian byte writer/reader that fail with an error
//! (never a panic) on short input, and the MAGIC + VERSION header every
//! index metapage starts with.

use std::fmt;

/// Why bytes read from a page could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatError {
    /// The input ended before the value did.
    Truncated {
        /// Bytes the value needed.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// The metapage does not belong to this kind of index.
    BadMagic {
        /// Magic number found on the page.
        found: u32,
        /// Magic number expected.
        expected: u32,
    },
    /// The index was written by another on-disk format version.
    VersionMismatch {
        /// Version found on the page.
        found: u32,
        /// Version this code reads.
        expected: u32,
    },
    /// A decoded field has an impossible value.
    Invalid(&'static str),
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { needed, available } => {
                write!(f, "index tuple truncated: needed {needed} bytes, {available} left")
            }
            Self::BadMagic { found, expected } => write!(
                f,
                "index metapage magic {found:#010x}, expected {expected:#010x}: not an ember index or corrupted; REINDEX"
            ),
            Self::VersionMismatch { found, expected } => {
                write!(f, "index format version {found}, expected {expected}: REINDEX")
            }
            Self::Invalid(what) => write!(f, "invalid index tuple: {what}"),
        }
    }
}

impl std::error::Error for FormatError {}

/// Appends little-endian values to a byte vector.
#[derive(Debug, Default, Clone)]
pub struct ByteWriter {
    bytes: Vec<u8>,
}

impl ByteWriter {
    /// An empty writer with room for `capacity` bytes.
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            bytes: Vec::with_capacity(capacity),
        }
    }
    /// Appends one byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.bytes.push(v);
        self
    }
    /// Appends a little-endian `u16`.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }
    /// Appends a little-endian `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }
    /// Appends a little-endian `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }
    /// Appends a little-endian `f32`.
    pub fn f32(&mut self, v: f32) -> &mut Self {
        self.raw(&v.to_le_bytes())
    }
    /// Appends raw bytes.
    pub fn raw(&mut self, v: &[u8]) -> &mut Self {
        self.bytes.extend_from_slice(v);
        self
    }
    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }
    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
    /// The encoded bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

/// Reads little-endian values from a byte slice, failing on short input.
#[derive(Debug, Clone)]
pub struct ByteReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    /// A reader at the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }
    /// The next `n` raw bytes.
    pub fn raw(&mut self, n: usize) -> Result<&'a [u8], FormatError> {
        let available = self.bytes.len() - self.pos;
        if n > available {
            return Err(FormatError::Truncated {
                needed: n,
                available,
            });
        }
        let out = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], FormatError> {
        Ok(self.raw(N)?.try_into().expect("raw returned N bytes"))
    }
    /// Reads one byte.
    pub fn u8(&mut self) -> Result<u8, FormatError> {
        Ok(self.array::<1>()?[0])
    }
    /// Reads a little-endian `u16`.
    pub fn u16(&mut self) -> Result<u16, FormatError> {
        self.array().map(u16::from_le_bytes)
    }
    /// Reads a little-endian `u32`.
    pub fn u32(&mut self) -> Result<u32, FormatError> {
        self.array().map(u32::from_le_bytes)
    }
    /// Reads a little-endian `u64`.
    pub fn u64(&mut self) -> Result<u64, FormatError> {
        self.array().map(u64::from_le_bytes)
    }
    /// Reads a little-endian `f32`.
    pub fn f32(&mut self) -> Result<f32, FormatError> {
        self.array().map(f32::from_le_bytes)
    }
    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }
}

/// The MAGIC + VERSION pair at the start of every ember metapage tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetaHeader {
    /// Identifies the index kind (e.g. HNSW, IVF).
    pub magic: u32,
    /// On-disk format version; bumped on any incompatible layout change.
    pub version: u32,
}

impl MetaHeader {
    /// Encoded size in bytes.
    pub const ENCODED_LEN: usize = 8;

    /// Appends the header to `out`.
    pub fn encode(&self, out: &mut ByteWriter) {
        out.u32(self.magic).u32(self.version);
    }

    /// Reads a header and checks it against `expected`: a wrong magic or
    /// version is an error telling the user to REINDEX.
    pub fn decode_expecting(
        input: &mut ByteReader<'_>,
        expected: MetaHeader,
    ) -> Result<(), FormatError> {
        let magic = input.u32()?;
        if magic != expected.magic {
            return Err(FormatError::BadMagic {
                found: magic,
                expected: expected.magic,
            });
        }
        let version = input.u32()?;
        if version != expected.version {
            return Err(FormatError::VersionMismatch {
                found: version,
                expected: expected.version,
            });
        }
        Ok(())
    }
}
