//! Tuple codecs of the IVF index. All fields little-endian.

use pagestore::{ByteReader, ByteWriter, FormatError, MetaHeader};

use crate::Tid;

/// Metapage magic number ("EMIV").
pub const MAGIC: u32 = 0x454D_4956;
/// On-disk format version; bump on any incompatible change.
pub const FORMAT_VERSION: u32 = 2;
/// First field of every page's special space.
pub const PAGE_ID: u16 = 0xEB02;

/// No block (`InvalidBlockNumber`).
pub(crate) const NO_BLOCK: u32 = u32::MAX;

/// A page's special space: its kind and the next page of its chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Special {
    /// [`Special::META`], [`Special::CENTROIDS`] or [`Special::LIST`].
    pub kind: u16,
    /// The next page of the chain (`u32::MAX`: last).
    pub next_blk: u32,
}

impl Special {
    /// Size of the special space.
    pub const LEN: usize = 8;
    /// The metapage.
    pub const META: u16 = 1;
    /// A page of centroid tuples.
    pub const CENTROIDS: u16 = 2;
    /// A page of one list's entries.
    pub const LIST: u16 = 3;

    /// Writes the special space (`special` is exactly [`Special::LEN`]).
    pub fn encode(&self, special: &mut [u8]) {
        let mut w = ByteWriter::with_capacity(Self::LEN);
        w.u16(PAGE_ID).u16(self.kind).u32(self.next_blk);
        special.copy_from_slice(&w.into_bytes());
    }

    /// Reads a special space, checking [`PAGE_ID`].
    pub fn decode(special: &[u8]) -> Result<Self, FormatError> {
        let mut r = ByteReader::new(special);
        if r.u16()? != PAGE_ID {
            return Err(FormatError::Invalid("page id in special space"));
        }
        Ok(Self {
            kind: r.u16()?,
            next_blk: r.u32()?,
        })
    }
}

/// The metapage tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Dimensions of the indexed values (and of the centroids).
    pub dims: u16,
    /// Words per entry (the value's, or its code's).
    pub entry_words: u16,
    /// Number of lists (and centroids).
    pub lists: u32,
    /// Opaque metric id chosen by the glue (the opclass's distance).
    pub metric_id: u8,
    /// Opaque storage kind chosen by the glue (values or codes).
    pub storage: u8,
    /// The first centroid page.
    pub centroid_blk: u32,
    /// Entries written by the build (inserts and vacuum do not update it).
    pub built_entries: u64,
}

impl Meta {
    const HEADER: MetaHeader = MetaHeader {
        magic: MAGIC,
        version: FORMAT_VERSION,
    };

    /// Encodes MAGIC + VERSION and the fields.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = ByteWriter::with_capacity(32);
        Self::HEADER.encode(&mut w);
        w.u16(self.dims)
            .u16(self.entry_words)
            .u32(self.lists)
            .u8(self.metric_id)
            .u8(self.storage)
            .u32(self.centroid_blk)
            .u64(self.built_entries);
        w.into_bytes()
    }

    /// Decodes, failing on a wrong magic or version ("... REINDEX").
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = ByteReader::new(bytes);
        MetaHeader::decode_expecting(&mut r, Self::HEADER)?;
        Ok(Self {
            dims: r.u16()?,
            entry_words: r.u16()?,
            lists: r.u32()?,
            metric_id: r.u8()?,
            storage: r.u8()?,
            centroid_blk: r.u32()?,
            built_entries: r.u64()?,
        })
    }
}

/// One list: its centroid, first page, append page and radius. Fixed size,
/// so appends and vacuum update the fields in place.
#[derive(Debug, Clone, PartialEq)]
pub struct CentroidTuple {
    /// The list's number (0-based, in centroid order).
    pub list: u32,
    /// The list's first page (`u32::MAX`: empty list).
    pub head_blk: u32,
    /// Where appends start looking for room (`u32::MAX`: empty list).
    pub insert_blk: u32,
    /// At least the distance from the centroid of every value ever added
    /// to the list, in the glue's units (it only grows): with it a scan
    /// bounds the distance to anything in a list it has not read.
    pub radius: f32,
    /// The centroid.
    pub centroid: Vec<f32>,
}

impl CentroidTuple {
    /// Bytes before the centroid (its floats are then 4-byte aligned).
    pub const HEADER_LEN: usize = 16;
    /// Byte offset of `head_blk`.
    pub(crate) const HEAD_AT: usize = 4;
    /// Byte offset of `insert_blk`.
    pub(crate) const INSERT_AT: usize = 8;
    /// Byte offset of `radius`.
    pub(crate) const RADIUS_AT: usize = 12;

    /// Encoded size for `dims` dimensions.
    pub fn encoded_len(dims: usize) -> usize {
        Self::HEADER_LEN + 4 * dims
    }

    /// Encodes the tuple.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = ByteWriter::with_capacity(Self::encoded_len(self.centroid.len()));
        w.u32(self.list).u32(self.head_blk).u32(self.insert_blk).f32(self.radius);
        for &x in &self.centroid {
            w.f32(x);
        }
        w.into_bytes()
    }

    /// The fields (with the centroid left empty) and the raw centroid bytes.
    pub fn decode_view(bytes: &[u8]) -> Result<(CentroidTuple, &[u8]), FormatError> {
        let mut r = ByteReader::new(bytes);
        let fields = CentroidTuple { list: r.u32()?, head_blk: r.u32()?, insert_blk: r.u32()?, radius: r.f32()?, centroid: Vec::new() };
        let raw = r.raw(r.remaining())?;
        if raw.len() % 4 != 0 {
            return Err(FormatError::Invalid("centroid length"));
        }
        Ok((fields, raw))
    }
}

/// One indexed value: its heap TID and stored words.
#[derive(Debug, Clone, PartialEq)]
pub struct EntryTuple {
    /// The heap tuple.
    pub heap_tid: Tid,
    /// The value, or its code.
    pub words: Vec<f32>,
}

impl EntryTuple {
    /// Bytes before the words (padded so they are 4-byte aligned).
    pub const HEADER_LEN: usize = 8;

    /// Encoded size for `words` words.
    pub fn encoded_len(words: usize) -> usize {
        Self::HEADER_LEN + 4 * words
    }

    /// Encodes the tuple.
    pub fn encode(heap_tid: Tid, words: &[f32]) -> Vec<u8> {
        let mut w = ByteWriter::with_capacity(Self::encoded_len(words.len()));
        w.u32(heap_tid.blk).u16(heap_tid.off).u16(0);
        for &x in words {
            w.f32(x);
        }
        w.into_bytes()
    }

    /// The heap TID and the raw words.
    pub fn decode_view(bytes: &[u8]) -> Result<(Tid, &[u8]), FormatError> {
        let mut r = ByteReader::new(bytes);
        let heap_tid = Tid {
            blk: r.u32()?,
            off: r.u16()?,
        };
        r.u16()?;
        let raw = r.raw(r.remaining())?;
        if raw.len() % 4 != 0 {
            return Err(FormatError::Invalid("entry length"));
        }
        Ok((heap_tid, raw))
    }
}
