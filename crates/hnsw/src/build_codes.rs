//! Neighbour codes made while the graph is linked, bounding the build's
//! own beam searches the way they bound scans ([`crate::ondisk::codes`]).
//!
//! Linking is most of a build, and most of linking is the insert
//! searches: about 900 distances per element at `ef_construction` 64,
//! each fetching a vector from a random place. With a code for every
//! element already linked, a neighbour whose lower bound is not below the
//! worst of a full result set could not enter it, so its vector is not
//! read. The bound holds with high probability, not always: a miss only
//! leaves out a candidate a beam search might have kept, as at scan time.
//!
//! The codes are the ones the pages get (same coder, same arithmetic), so
//! the write phase encodes nothing. Each element's code is made by the
//! thread that inserts it, from the same rotation as its query, before the
//! element is linked anywhere: a thread that finds it in a neighbour list
//! read the list under its sequence lock (an acquire of the header the
//! linking thread released), so it sees the code too. A code not written
//! yet reads as zeros, which is no code: no bound.

use std::sync::atomic::{AtomicI8, AtomicU16, AtomicU32, Ordering};

use half::f16;
use half::slice::HalfFloatSliceExt;
use quantize::rabitq::Estimate;

use crate::graph::HnswError;
use crate::ondisk::codes::{code_len_for, half_scale, power_of_two};
use crate::ondisk::{LinkCodes, LinkCoder, LinkQuery, Values};

/// `ε₀` of the build's bounds: scans' (see `codes::LINK_EPSILON0`).
const BUILD_EPSILON0: f64 = 1.0;

/// The coder a build makes neighbour codes with, and the values it codes
/// when they are not the graph's own vectors (a graph linked over
/// [`crate::link`] codes).
#[derive(Debug, Clone)]
pub struct BuildCoding<'v> {
    /// The index's coder (its centroid computed from every value).
    pub coder: LinkCoder,
    /// The values in element order; `None`: the graph's vectors.
    pub values: Option<Values<'v>>,
}

/// What `ondisk::write_graph_from` makes the pages' neighbour codes of,
/// and the coder they are for.
#[derive(Debug, Clone)]
pub struct ElementCodes {
    /// The coder (`coder.len()` bytes per code).
    pub coder: LinkCoder,
    /// For a plain coder: every element's code, end to end in element
    /// order, little-endian; all zeros for a value with none. Empty for a
    /// relative coder.
    pub codes: Vec<u8>,
    /// For a relative coder ([`LinkCoder::is_relative`]): every element's
    /// rotated residual times `2^scales[id]`, in half precision, `padded`
    /// values each. Empty for a plain coder.
    pub residuals: Vec<f16>,
    /// Values per residual.
    pub padded: usize,
    /// Each element's power-of-two scale (`codes::half_scale`), or
    /// [`NO_RESIDUAL`] for a value with no code.
    pub scales: Vec<i8>,
}

/// The scale of an element without a residual.
pub const NO_RESIDUAL: i8 = i8::MIN;

impl ElementCodes {
    /// Element `id`'s rotated residual (relative coders), `None` when
    /// its value has no code.
    /// The same values as `LinkCoder::residual` gives for the element's
    /// value.
    pub fn residual(&self, id: u32) -> Option<Vec<f32>> {
        let scale = self.scales.get(id as usize).copied().filter(|&s| s != NO_RESIDUAL)?;
        let at = id as usize * self.padded;
        let mut out = vec![0f32; self.padded];
        // One vectorized conversion (F16C where the CPU has it).
        self.residuals[at..at + self.padded].convert_to_f32_slice(&mut out);
        let down = power_of_two(-i32::from(scale));
        out.iter_mut().for_each(|x| *x *= down);
        Some(out)
    }
}

/// Bytes a build that makes codes of `kind` holds per element for them,
/// for values of `dims` dimensions in a graph with `m` (0: none, such
/// values have no codes); with `relative`, the half-precision residual
/// a relative coder keeps too.
pub fn code_bytes(kind: LinkCodes, dims: usize, m: usize, relative: bool) -> usize {
    if kind == LinkCodes::None {
        return 0;
    }
    let plain = stride_of(code_len_for(dims, m, false) / 4) * 4;
    let keeps_residual = relative && plain > 0 && crate::ondisk::codes::relative_kind(kind) && code_len_for(dims, m, true) > 0;
    plain + if keeps_residual { dims.div_ceil(64) * 64 * size_of::<f16>() + size_of::<i8>() } else { 0 }
}

/// Words from one code of `words` words to the next: whole cache lines, so
/// that reading a code misses the caches once.
fn stride_of(words: usize) -> usize {
    words.div_ceil(LINE_WORDS) * LINE_WORDS
}

/// The codes of a build in progress.
#[derive(Debug)]
pub(crate) struct BuildCodes<'v> {
    /// The plain coder of the build's own bounds.
    coder: LinkCoder,
    /// The coder the pages get (relative or plain).
    pages_coder: LinkCoder,
    /// Rotated residuals in half precision, scaled (relative coders only).
    residuals: Vec<AtomicU16>,
    /// Their scales ([`NO_RESIDUAL`] until written).
    scales: Vec<AtomicI8>,
    padded: usize,
    values: Option<Values<'v>>,
    /// Words per code.
    len: usize,
    /// Words from one code to the next ([`stride_of`]).
    stride: usize,
    /// Where the codes start in `words` (at a cache line).
    start: usize,
    words: Vec<AtomicU32>,
}

/// Words of a cache line.
const LINE_WORDS: usize = 64 / size_of::<AtomicU32>();

impl<'v> BuildCodes<'v> {
    /// Room for the codes of `n` elements.
    pub(crate) fn new(coding: BuildCoding<'v>, n: usize) -> Result<Self, HnswError> {
        let BuildCoding { coder, values } = coding;
        if let Some(v) = values {
            if v.dims != coder.centroid().len() || v.data.len() != n * v.dims {
                return Err(HnswError::BadParameter("one coded value per element is required"));
            }
        }
        let pages_coder = coder;
        let coder = pages_coder.plain();
        let padded = coder.padded_dims();
        let kept = if pages_coder.is_relative() { n * padded } else { 0 };
        let residuals: Vec<AtomicU16> = (0..kept).map(|_| AtomicU16::new(0)).collect();
        let scales: Vec<AtomicI8> =
            (0..if kept > 0 { n } else { 0 }).map(|_| AtomicI8::new(NO_RESIDUAL)).collect();
        let len = coder.len() / 4;
        let stride = stride_of(len);
        let words: Vec<AtomicU32> = (0..n * stride + LINE_WORDS).map(|_| AtomicU32::new(0)).collect();
        let start = words.as_ptr().align_offset(64).min(LINE_WORDS);
        Ok(Self {
            coder,
            pages_coder,
            residuals,
            scales,
            padded,
            values,
            len,
            stride,
            start,
            words,
        })
    }

    /// Makes element `id`'s code (`own`: its graph vector, coded when
    /// there are no separate values) and returns it prepared as a query.
    pub(crate) fn code_element(&self, id: u32, own: &[f32], buf: &mut Vec<f32>) -> LinkQuery {
        let value = match self.values {
            Some(Values { data, dims }) => &data[id as usize * dims..][..dims],
            None => own,
        };
        let keep = !self.residuals.is_empty();
        let query = self.coder.code_and_query(value, BUILD_EPSILON0, buf, keep);
        if buf.len() == self.len {
            for (slot, w) in self.slots(id).iter().zip(buf.iter()) {
                slot.store(w.to_bits(), Ordering::Relaxed);
            }
            if let Some(y) = query.rotated().filter(|_| keep) {
                let scale = half_scale(y);
                let up = power_of_two(scale);
                let slots = &self.residuals[id as usize * self.padded..][..self.padded];
                for (slot, &x) in slots.iter().zip(y) {
                    slot.store(f16::from_f32(x * up).to_bits(), Ordering::Relaxed);
                }
                // |scale| ≤ 100 (`half_scale`).
                self.scales[id as usize].store(scale as i8, Ordering::Relaxed);
            }
        }
        query
    }

    /// A lower bound (with high probability) on the distance from the
    /// element `query` was made of to element `id`; `-inf` without a code.
    #[inline]
    pub(crate) fn lower_bound(&self, query: &LinkQuery, id: u32, buf: &mut Vec<f32>) -> f32 {
        buf.clear();
        buf.extend(self.slots(id).iter().map(|w| f32::from_bits(w.load(Ordering::Relaxed))));
        query.lower_bound_words(buf)
    }

    /// [`BuildCodes::lower_bound`] of each of `ids` into `out` (cleared
    /// first), estimated together; `buf` and `estimates` are scratch.
    pub(crate) fn lower_bounds(
        &self,
        query: &LinkQuery,
        ids: &[u32],
        buf: &mut Vec<f32>,
        estimates: &mut Vec<Estimate>,
        out: &mut Vec<f32>,
    ) {
        buf.clear();
        for &id in ids {
            buf.extend(self.slots(id).iter().map(|w| f32::from_bits(w.load(Ordering::Relaxed))));
        }
        query.lower_bounds_words(buf, ids.len(), estimates, out);
    }

    /// Starts fetching element `id`'s code into the caches.
    #[inline]
    pub(crate) fn prefetch(&self, id: u32) {
        for line in self.slots(id).chunks(LINE_WORDS) {
            pagestore::page::prefetch_address(line.as_ptr().cast());
        }
    }

    #[inline]
    fn slots(&self, id: u32) -> &[AtomicU32] {
        &self.words[self.start + id as usize * self.stride..][..self.len]
    }

    /// The finished codes.
    pub(crate) fn into_codes(self) -> ElementCodes {
        let n = (self.words.len() - LINE_WORDS) / self.stride;
        if self.pages_coder.is_relative() {
            let residuals: Vec<f16> = self.residuals.into_iter().map(|h| f16::from_bits(h.into_inner())).collect();
            let scales = self.scales.into_iter().map(AtomicI8::into_inner).collect();
            return ElementCodes { coder: self.pages_coder, codes: Vec::new(), residuals, padded: self.padded, scales };
        }
        let mut codes = Vec::with_capacity(n * self.len * 4);
        for id in 0..n as u32 {
            codes.extend(self.slots(id).iter().flat_map(|w| w.load(Ordering::Relaxed).to_le_bytes()));
        }
        ElementCodes { coder: self.pages_coder, codes, residuals: Vec::new(), padded: 0, scales: Vec::new() }
    }
}
