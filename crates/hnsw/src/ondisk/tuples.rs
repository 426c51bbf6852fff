//! Tuple codecs of the on-page graph.

use pagestore::{page, ByteReader, ByteWriter, FormatError, MetaHeader};

/// Metapage magic number ("EMHN").
pub const MAGIC: u32 = 0x454D_484E;
/// On-disk format version; bump on any incompatible change.
pub const FORMAT_VERSION: u32 = 3;
/// First field of every page's special space.
pub const PAGE_ID: u16 = 0xEB01;

/// First byte of an element tuple.
pub(crate) const KIND_ELEMENT: u8 = 1;
/// First byte of a neighbour tuple.
pub(crate) const KIND_NEIGHBOURS: u8 = 2;

/// A tuple address: block number and 1-based line pointer (heap TIDs use
/// the same shape). Encoded as 6 bytes: `u32` block, `u16` offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tid {
    /// Block number.
    pub blk: u32,
    /// 1-based offset number.
    pub off: u16,
}

impl Tid {
    /// Encoded size.
    pub const LEN: usize = 6;
    /// The "no tuple" value (`InvalidBlockNumber`).
    pub const INVALID: Tid = Tid {
        blk: u32::MAX,
        off: 0,
    };

    /// Whether this is [`Tid::INVALID`].
    pub fn is_valid(self) -> bool {
        self.blk != u32::MAX
    }

    pub(crate) fn encode(self, w: &mut ByteWriter) {
        w.u32(self.blk).u16(self.off);
    }

    /// The TID encoded at `bytes[at..at + 6]` (the caller checked the length).
    fn at(bytes: &[u8], at: usize) -> Self {
        let b = &bytes[at..at + Self::LEN];
        Self {
            blk: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            off: u16::from_le_bytes([b[4], b[5]]),
        }
    }

    pub(crate) fn decode(r: &mut ByteReader<'_>) -> Result<Self, FormatError> {
        Ok(Self {
            blk: r.u32()?,
            off: r.u16()?,
        })
    }
}

/// The first `len` bytes of `bytes`, or the truncation error.
fn prefix(bytes: &[u8], len: usize) -> Result<&[u8], FormatError> {
    bytes.get(..len).ok_or(FormatError::Truncated {
        needed: len,
        available: bytes.len(),
    })
}

/// Page kinds stored in [`Special::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Special {
    /// [`Special::META`] or [`Special::GRAPH`].
    pub kind: u16,
    /// Reserved for a free-space chain (`u32::MAX`: none).
    pub next_blk: u32,
}

impl Special {
    /// Size of the special space.
    pub const LEN: usize = 8;
    /// The metapage.
    pub const META: u16 = 1;
    /// A page of element and neighbour tuples.
    pub const GRAPH: u16 = 2;

    /// Writes the special space (`special` is exactly [`Special::LEN`]).
    pub fn encode(&self, special: &mut [u8]) {
        let mut w = ByteWriter::with_capacity(Self::LEN);
        w.u16(PAGE_ID).u16(self.kind).u32(self.next_blk);
        special.copy_from_slice(&w.into_bytes());
    }

    /// Reads a special space written by [`Special::encode`], checking
    /// [`PAGE_ID`].
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
    /// Vector dimensions; 0 means variable-length vectors (e.g. sparse
    /// vectors encoded as words), whose length is not checked.
    pub dims: u16,
    /// Build parameter m.
    pub m: u16,
    /// Build parameter ef_construction.
    pub ef_construction: u16,
    /// Opaque metric id chosen by the glue (the opclass's distance).
    pub metric_id: u8,
    /// Level of the entry point.
    pub entry_level: u8,
    /// Element tuple of the entry point ([`Tid::INVALID`] when empty).
    pub entry: Tid,
    /// Number of live elements, approximately: set by the build,
    /// recomputed by vacuum, not maintained by inserts.
    pub elements: u64,
    /// The last graph page, where inserts try first (`u32::MAX`: none).
    pub insert_blk: u32,
    /// Dimensions of the indexed values when the elements store codes of
    /// them (`dims` is then the codes' length); 0 when the elements store
    /// the values themselves.
    pub value_dims: u16,
    /// [`super::LinkCodes`] id: which distance the neighbour codes bound
    /// (0: none; see [`super::code_len`] for when they are stored).
    pub link_codes: u8,
    /// The first graph page that may hold a freed element an insert can
    /// take over (`Some(u32::MAX)`: none); `None` in a metapage written
    /// before the field existed, which keeps that length (its inserts
    /// always append).
    pub free_blk: Option<u32>,
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
            .u16(self.m)
            .u16(self.ef_construction)
            .u8(self.metric_id)
            .u8(self.entry_level);
        self.entry.encode(&mut w);
        w.u64(self.elements).u32(self.insert_blk).u16(self.value_dims).u8(self.link_codes);
        if let Some(free_blk) = self.free_blk {
            w.u32(free_blk);
        }
        w.into_bytes()
    }

    /// Decodes, failing on a wrong magic or version ("... REINDEX").
    pub fn decode(bytes: &[u8]) -> Result<Self, FormatError> {
        let mut r = ByteReader::new(bytes);
        MetaHeader::decode_expecting(&mut r, Self::HEADER)?;
        let meta = Self {
            dims: r.u16()?,
            m: r.u16()?,
            ef_construction: r.u16()?,
            metric_id: r.u8()?,
            entry_level: r.u8()?,
            entry: Tid::decode(&mut r)?,
            elements: r.u64()?,
            insert_blk: r.u32()?,
            value_dims: r.u16()?,
            link_codes: r.u8()?,
            free_blk: if r.remaining() >= 4 { Some(r.u32()?) } else { None },
        };
        if meta.m < 2 {
            return Err(FormatError::Invalid("metapage m"));
        }
        Ok(meta)
    }
}

/// An element: the vector, its heap TID and where its neighbours are.
#[derive(Debug, Clone, PartialEq)]
pub struct ElementTuple {
    /// Highest layer of the element.
    pub level: u8,
    /// Set by vacuum when the heap tuple is dead: the element is still
    /// traversed but never returned, and never chosen as a new neighbour.
    /// (The byte is [`ElementTuple::DELETED`], [`ElementTuple::FREE`]
    /// once vacuum has freed the tuples for an insert to take over, or
    /// [`ElementTuple::CLAIMED`] while an insert takes them over.)
    pub deleted: bool,
    /// The heap tuple this element indexes.
    pub heap_tid: Tid,
    /// The element's [`NeighbourTuple`].
    pub neighbours: Tid,
    /// The vector.
    pub vector: Vec<f32>,
}

impl ElementTuple {
    /// Fixed bytes before the vector (padded to 20 so the vector is
    /// 4-byte aligned inside a MAXALIGNed item).
    pub const HEADER_LEN: usize = 20;
    /// Byte offset of the `deleted` flag (vacuum sets it in place).
    pub const DELETED_AT: usize = 2;
    /// The `deleted` byte of an element vacuum deleted.
    pub const DELETED: u8 = 1;
    /// The `deleted` byte of a deleted element whose tuples vacuum freed
    /// once it had repaired the lists that linked to it and cleared its
    /// neighbour tuple: an insert of the same level may overwrite both
    /// tuples in place.
    pub const FREE: u8 = 2;
    /// The `deleted` byte of a freed element whose neighbour tuple is on
    /// another page, claimed by an insert that is overwriting that tuple
    /// and will then overwrite the element (live). Nothing else touches
    /// it; a crash in between leaves it claimed (its room lost until
    /// `REINDEX`), as does a neighbour tuple of another length (an upper
    /// layer's written by an earlier format).
    pub const CLAIMED: u8 = 3;

    /// Encoded size for `dims` dimensions.
    pub fn encoded_len(dims: usize) -> usize {
        Self::HEADER_LEN + 4 * dims
    }

    /// Encodes the tuple.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = ByteWriter::with_capacity(Self::encoded_len(self.vector.len()));
        w.u8(KIND_ELEMENT)
            .u8(self.level)
            .u8(u8::from(self.deleted))
            .u8(0);
        self.heap_tid.encode(&mut w);
        self.neighbours.encode(&mut w);
        w.u16(self.vector.len() as u16).u16(0);
        debug_assert_eq!(w.len(), Self::HEADER_LEN);
        for &x in &self.vector {
            w.f32(x);
        }
        w.into_bytes()
    }

    /// Decodes everything but the vector (left empty).
    pub fn decode_header(bytes: &[u8]) -> Result<ElementTuple, FormatError> {
        // Fixed offsets rather than a byte reader: scans decode a header
        // per element they read.
        let h = prefix(bytes, 16)?;
        if h[0] != KIND_ELEMENT {
            return Err(FormatError::Invalid("not an element tuple"));
        }
        Ok(ElementTuple {
            level: h[1],
            deleted: h[2] != 0,
            heap_tid: Tid::at(h, 4),
            neighbours: Tid::at(h, 10),
            vector: Vec::new(),
        })
    }

    /// Decodes the header; the vector is written to `vector` (cleared
    /// first, so scans reuse one buffer) and left out of the result.
    pub fn decode_into(bytes: &[u8], vector: &mut Vec<f32>) -> Result<ElementTuple, FormatError> {
        let (element, raw) = Self::decode_view(bytes)?;
        decode_f32s(raw, vector);
        Ok(element)
    }

    /// Decodes the header and returns the vector's raw little-endian bytes
    /// (`4 × dims`) without copying them; see [`with_f32s`].
    pub fn decode_view(bytes: &[u8]) -> Result<(ElementTuple, &[u8]), FormatError> {
        let element = Self::decode_header(bytes)?;
        let h = prefix(bytes, Self::HEADER_LEN)?;
        let dims = usize::from(u16::from_le_bytes([h[16], h[17]]));
        let raw = prefix(&bytes[Self::HEADER_LEN..], 4 * dims)?;
        Ok((element, raw))
    }
}

fn decode_f32s(raw: &[u8], out: &mut Vec<f32>) {
    out.clear();
    out.extend(
        raw.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    );
}

/// Calls `f` with the vector whose little-endian bytes are `raw`: in place
/// when the bytes are 4-byte aligned on a little-endian target (the usual
/// case on a page, since the vector starts 20 bytes into a MAXALIGNed
/// item), else decoded into `scratch`.
pub fn with_f32s<T>(raw: &[u8], scratch: &mut Vec<f32>, f: impl FnOnce(&[f32]) -> T) -> T {
    #[cfg(target_endian = "little")]
    if let Ok(vector) = bytemuck::try_cast_slice::<u8, f32>(raw) {
        return f(vector);
    }
    decode_f32s(raw, scratch);
    f(scratch)
}

/// The neighbour lists of one element: `2m` slots for layer 0, then `m`
/// per upper layer; unused slots hold [`Tid::INVALID`]. Fixed size, so it
/// is updated in place. After the slots (4-byte aligned) come neighbour
/// codes of `code_len` bytes (see [`super::codes`]; `code_len` 0: none),
/// one per slot in slot order, all zeros where unknown: for the `2m`
/// layer-0 slots, and for the upper layers' slots too when the tuple says
/// so (written wherever [`upper_codes_fit`]).
///
/// Layout: kind `u8`, top level `u8`, slot count `u16`, `code_len` `u16`,
/// upper-layer codes `u8` (0 or 1; format 3 wrote 0), a byte of padding,
/// the slots (6 bytes each), padding to 4, the codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NeighbourTuple {
    /// `slots[level]`: neighbour element tuples on that level.
    pub slots: Vec<Vec<Tid>>,
}

/// Capacity of a neighbour list on `level`: `2m` on layer 0, `m` above.
pub fn capacity(level: usize, m: usize) -> usize {
    if level == 0 {
        2 * m
    } else {
        m
    }
}

/// Bytes before the slots.
const NEIGHBOURS_HEADER: usize = 8;

/// Byte range of `level`'s slots in a neighbour tuple.
fn level_range(level: usize, m: usize) -> std::ops::Range<usize> {
    let start = NEIGHBOURS_HEADER + first_slot(level, m) * Tid::LEN;
    start..start + capacity(level, m) * Tid::LEN
}

/// Byte offset of the codes in a neighbour tuple of `top` levels.
fn codes_start(top: usize, m: usize) -> usize {
    (NEIGHBOURS_HEADER + Tid::LEN * (2 * m + top * m)).next_multiple_of(4)
}

/// Index of `level`'s first slot (codes are laid out as the slots are).
fn first_slot(level: usize, m: usize) -> usize {
    if level == 0 {
        0
    } else {
        2 * m + (level - 1) * m
    }
}

/// Length of a neighbour tuple of `top` levels with codes of `code_len`
/// bytes for its layer-0 slots, or for every slot when `upper`.
fn coded_len(top: usize, m: usize, code_len: usize, upper: bool) -> usize {
    let coded = if upper { 2 * m + top * m } else { 2 * m };
    codes_start(top, m) + coded * code_len
}

/// Whether an element of `top` levels stores the codes of its upper-layer
/// neighbours too (where a greedy descent reads every neighbour it
/// bounds): only where that neighbour tuple still fits one empty page
/// beside the largest element whose neighbours can have `code_len`-byte
/// codes, since an insert puts both on one page. At 384 dimensions and
/// `m` 16: layers 0 to 3 (an element of layer 4 or more is one in 65,536).
pub fn upper_codes_fit(top: usize, m: usize, code_len: usize) -> bool {
    let Some(dims) = super::codes::max_dims_for_code_len(code_len) else {
        return false;
    };
    top > 0 && pair_fits_empty_page(ElementTuple::encoded_len(dims), coded_len(top, m, code_len, true))
}

/// Whether an element tuple of `elen` bytes and a neighbour tuple of
/// `nlen` bytes fit one empty graph page together (worked out, not tried:
/// callers ask this per build or per scan).
pub(crate) fn pair_fits_empty_page(elen: usize, nlen: usize) -> bool {
    let room = page::BLCKSZ - page::SIZE_OF_PAGE_HEADER - page::maxalign(Special::LEN) - 2 * page::SIZE_OF_ITEM_ID;
    elen <= page::MAX_ITEM_LEN && nlen <= page::MAX_ITEM_LEN && page::maxalign(elen) + page::maxalign(nlen) <= room
}

/// Whether a tuple of `len` bytes fits an empty graph page by itself.
pub(crate) fn item_fits_empty_page(len: usize) -> bool {
    let room = page::BLCKSZ - page::SIZE_OF_PAGE_HEADER - page::maxalign(Special::LEN) - page::SIZE_OF_ITEM_ID;
    len <= page::MAX_ITEM_LEN && page::maxalign(len) <= room
}

/// A neighbour tuple's header fields.
struct Header {
    top: usize,
    code_len: usize,
    /// Whether the upper layers' slots have codes.
    upper: bool,
}

impl Header {
    /// Byte range of the code of slot `slot`, if the tuple codes it.
    fn code_range(&self, m: usize, level: usize, slot: usize) -> Option<std::ops::Range<usize>> {
        if self.code_len == 0 || (level > 0 && !self.upper) {
            return None;
        }
        let start = codes_start(self.top, m) + (first_slot(level, m) + slot) * self.code_len;
        Some(start..start + self.code_len)
    }
}

/// Writes the code of the element at a TID into the buffer (exactly one
/// code long); returns false when the writer does not know it (the slot
/// then stays without a code).
pub type CodeFill<'a> = &'a dyn Fn(Tid, &mut [u8]) -> bool;

/// A [`CodeFill`] that knows no code.
pub fn no_codes(_: Tid, _: &mut [u8]) -> bool {
    false
}

impl NeighbourTuple {
    /// Encoded size for an element of `level` with build parameter `m`
    /// and neighbour codes of `code_len` bytes (on the upper layers too
    /// where [`upper_codes_fit`]).
    pub fn encoded_len(level: usize, m: usize, code_len: usize) -> usize {
        if code_len == 0 {
            NEIGHBOURS_HEADER + Tid::LEN * (2 * m + level * m)
        } else {
            coded_len(level, m, code_len, upper_codes_fit(level, m, code_len))
        }
    }

    /// Encodes with fixed capacity per level (`2m`, then `m`); extra
    /// neighbours beyond capacity are an error. Codes come from `fill`.
    pub fn encode(&self, m: usize, code_len: usize, fill: CodeFill<'_>) -> Result<Vec<u8>, FormatError> {
        let level = self.slots.len().saturating_sub(1);
        let len = Self::encoded_len(level, m, code_len);
        let upper = code_len > 0 && upper_codes_fit(level, m, code_len);
        let mut w = ByteWriter::with_capacity(len);
        w.u8(KIND_NEIGHBOURS)
            .u8(level as u8)
            .u16((2 * m + level * m) as u16)
            .u16(code_len as u16)
            .u8(u8::from(upper))
            .u8(0);
        for (l, list) in self.slots.iter().enumerate() {
            let capacity = capacity(l, m);
            if list.len() > capacity {
                return Err(FormatError::Invalid("too many neighbours"));
            }
            list.iter().for_each(|t| t.encode(&mut w));
            (list.len()..capacity).for_each(|_| Tid::INVALID.encode(&mut w));
        }
        let mut bytes = w.into_bytes();
        bytes.resize(len, 0);
        let header = Header { top: level, code_len, upper };
        for (l, list) in self.slots.iter().enumerate() {
            for (i, &t) in list.iter().enumerate() {
                if let Some(range) = header.code_range(m, l, i) {
                    let code = &mut bytes[range];
                    if !fill(t, code) {
                        code.fill(0);
                    }
                }
            }
        }
        Ok(bytes)
    }

    /// Checks the kind, slot count and length; returns the header.
    fn header(bytes: &[u8], m: usize) -> Result<Header, FormatError> {
        // Fixed offsets rather than a byte reader: scans read a header per
        // list they expand.
        let h = prefix(bytes, NEIGHBOURS_HEADER)?;
        if h[0] != KIND_NEIGHBOURS {
            return Err(FormatError::Invalid("not a neighbour tuple"));
        }
        let top = usize::from(h[1]);
        if usize::from(u16::from_le_bytes([h[2], h[3]])) != 2 * m + top * m {
            return Err(FormatError::Invalid("neighbour slot count"));
        }
        let code_len = usize::from(u16::from_le_bytes([h[4], h[5]]));
        let upper = match h[6] {
            0 => false,
            1 if code_len > 0 => true,
            _ => return Err(FormatError::Invalid("neighbour code flag")),
        };
        let needed = if code_len == 0 {
            Self::encoded_len(top, m, 0)
        } else {
            coded_len(top, m, code_len, upper)
        };
        if bytes.len() < needed {
            return Err(FormatError::Truncated {
                needed,
                available: bytes.len(),
            });
        }
        Ok(Header { top, code_len, upper })
    }

    /// Checks the kind, slot count and length; returns the top level.
    pub fn top_level(bytes: &[u8], m: usize) -> Result<usize, FormatError> {
        Ok(Self::header(bytes, m)?.top)
    }

    /// The length of the codes in this tuple (0: none).
    pub fn code_len(bytes: &[u8], m: usize) -> Result<usize, FormatError> {
        Ok(Self::header(bytes, m)?.code_len)
    }

    /// Whether this tuple has codes for its upper layers' neighbours.
    pub fn has_upper_codes(bytes: &[u8], m: usize) -> Result<bool, FormatError> {
        Ok(Self::header(bytes, m)?.upper)
    }

    /// The valid neighbours on `level` into `out` (cleared first).
    pub fn decode_level(
        bytes: &[u8],
        level: usize,
        m: usize,
        out: &mut Vec<Tid>,
    ) -> Result<(), FormatError> {
        out.clear();
        Self::for_each_slot(bytes, level, m, |t, _| out.push(t))
    }

    /// Calls `f(neighbour, code)` for each valid neighbour on `level`, in
    /// slot order (`code` empty where the tuple has no codes); nothing
    /// above the element's top level.
    fn for_each_slot<'b>(
        bytes: &'b [u8],
        level: usize,
        m: usize,
        mut f: impl FnMut(Tid, &'b [u8]),
    ) -> Result<(), FormatError> {
        let header = Self::header(bytes, m)?;
        if level > header.top {
            return Ok(());
        }
        // `header` checked the length; slots decoded without a reader (a
        // scan's hottest loop).
        for (i, slot) in bytes[level_range(level, m)].chunks_exact(Tid::LEN).enumerate() {
            let t = Tid::at(slot, 0);
            if t.is_valid() {
                f(t, header.code_range(m, level, i).map_or(&[][..], |r| &bytes[r]));
            }
        }
        Ok(())
    }

    /// The valid neighbours on `level` for which `keep` returns true (it
    /// is called once for each, in slot order) into `out`, and `bound(code)`
    /// of each into `bounds` (`-inf` where the tuple has no code); both
    /// cleared first.
    pub fn decode_level_bounded(
        bytes: &[u8],
        level: usize,
        m: usize,
        keep: impl FnMut(Tid) -> bool,
        bound: impl Fn(&[u8]) -> f32,
        out: &mut Vec<Tid>,
        bounds: &mut Vec<f32>,
    ) -> Result<(), FormatError> {
        out.clear();
        bounds.clear();
        Self::append_level_bounded(bytes, level, m, keep, bound, out, bounds)
    }

    /// [`NeighbourTuple::decode_level_bounded`], appending to `out` and
    /// `bounds` (several lists read in a row).
    pub fn append_level_bounded(
        bytes: &[u8],
        level: usize,
        m: usize,
        mut keep: impl FnMut(Tid) -> bool,
        bound: impl Fn(&[u8]) -> f32,
        out: &mut Vec<Tid>,
        bounds: &mut Vec<f32>,
    ) -> Result<(), FormatError> {
        Self::for_each_slot(bytes, level, m, |t, code| {
            if !keep(t) {
                return;
            }
            out.push(t);
            bounds.push(if code.is_empty() { f32::NEG_INFINITY } else { bound(code) });
        })
    }

    /// Every level's neighbours with their codes (empty slices where the
    /// tuple has none), for checks.
    pub fn codes(bytes: &[u8], m: usize) -> Result<Vec<(Tid, &[u8])>, FormatError> {
        let mut out = Vec::new();
        for level in 0..=Self::top_level(bytes, m)? {
            Self::for_each_slot(bytes, level, m, |t, code| out.push((t, code)))?;
        }
        Ok(out)
    }

    /// Decodes every level's valid neighbours.
    pub fn decode(bytes: &[u8], m: usize) -> Result<NeighbourTuple, FormatError> {
        let top = Self::top_level(bytes, m)?;
        let mut slots = vec![Vec::new(); top + 1];
        for (level, list) in slots.iter_mut().enumerate() {
            Self::decode_level(bytes, level, m, list)?;
        }
        Ok(NeighbourTuple { slots })
    }

    /// Overwrites `level`'s slots in place with `list` (the rest of the
    /// slots become [`Tid::INVALID`]); the tuple's size does not change.
    /// Where the level has codes, each neighbour keeps the code it had in
    /// the list; a new one gets its code from `fill` (or none).
    pub fn write_level(
        bytes: &mut [u8],
        level: usize,
        m: usize,
        list: &[Tid],
        fill: CodeFill<'_>,
    ) -> Result<(), FormatError> {
        let header = Self::header(bytes, m)?;
        if level > header.top {
            return Err(FormatError::Invalid("neighbour level above the element's"));
        }
        let capacity = capacity(level, m);
        if list.len() > capacity {
            return Err(FormatError::Invalid("too many neighbours"));
        }
        if let Some(first) = header.code_range(m, level, 0) {
            let old: Vec<Tid> = {
                let mut r = ByteReader::new(&bytes[level_range(level, m)]);
                (0..capacity).map(|_| Tid::decode(&mut r)).collect::<Result<_, _>>()?
            };
            let code_len = header.code_len;
            let area = &mut bytes[first.start..first.start + capacity * code_len];
            let before = area.to_vec();
            for (i, code) in area.chunks_exact_mut(code_len).enumerate() {
                let Some(&t) = list.get(i) else {
                    code.fill(0);
                    continue;
                };
                match old.iter().position(|&o| o == t) {
                    Some(j) => code.copy_from_slice(&before[j * code_len..][..code_len]),
                    None if fill(t, code) => {}
                    None => code.fill(0),
                }
            }
        }
        let mut w = ByteWriter::with_capacity(capacity * Tid::LEN);
        list.iter().for_each(|t| t.encode(&mut w));
        (list.len()..capacity).for_each(|_| Tid::INVALID.encode(&mut w));
        bytes[level_range(level, m)].copy_from_slice(&w.into_bytes());
        Ok(())
    }

    /// Sets every slot to [`Tid::INVALID`] (and every code to none).
    pub fn clear(bytes: &mut [u8], m: usize) -> Result<(), FormatError> {
        for level in 0..=Self::top_level(bytes, m)? {
            Self::write_level(bytes, level, m, &[], &no_codes)?;
        }
        Ok(())
    }
}
