//! Neighbour codes: a RaBitQ code (one bit per rotated dimension, see
//! `quantize::rabitq`) of each layer-0 neighbour, stored in the neighbour
//! tuple next to its TID.
//!
//! A scan expanding an element reads its neighbour tuple anyway; with the
//! codes there it estimates every neighbour's distance, with an error
//! bound, without touching the neighbours' pages. A neighbour whose lower
//! bound is not below the worst of a full result set could not enter it,
//! so it is not read at all (about two thirds of the reads at
//! `ef_search` 40 on 384-d sentence embeddings, at the same recall). Only
//! that decision uses the codes: every distance a scan returns or orders
//! by is exact. The bound holds with high probability (the paper's
//! `ε₀ = 1.9`), not always: a rare miss only skips an element a beam
//! search might have kept, which HNSW's recall already allows for.
//!
//! Codes are residuals from the build's centroid (block 0, item 2; zeros
//! when the index was built empty), rotated by a fixed-seed rotation. A
//! slot whose code is unknown (a writer that did not have the vector at
//! hand) is all zeros: no bound, the neighbour is read as before.

use std::cell::RefCell;
use std::sync::Arc;

use pagestore::page;
use pagestore::{Page, RelationRead};
use quantize::rabitq::{self, Code, Estimate, Query, Rotation};
use rayon::prelude::*;

use super::tuples::Meta;

/// Seed of the rotation (fixed: nothing to store, same for every index).
const ROTATION_SEED: u64 = 0x4E45_4947_4842_4F52;

/// Set in the metapage's `link_codes` byte by every build since codes
/// are stored wherever they fit ([`code_len_for`]). An index whose byte
/// lacks it was built under the earlier rule ([`LEGACY_MAX_CODES_BYTES`])
/// and keeps it: its tuples were written so.
const FITS_A_PAGE: u8 = 0x80;

/// Set, with [`FITS_A_PAGE`], by every build since codes are stored
/// wherever the element and its coded neighbour tuple each fit a page
/// ([`code_len_for`]), on two pages when they do not fit one: up to
/// 1,664 dimensions at m = 16 instead of 831. An index with
/// [`FITS_A_PAGE`] alone keeps the one-page rule ([`pair_code_len`]).
const SPLIT_PAIRS: u8 = 0x40;

/// Set by builds whose codes are relative to the list's owner
/// ([`LinkCoder::is_relative`]): the code of neighbour `x` in `u`'s list
/// codes `x − u` (`quantize::rabitq::encode_relative`), four bytes longer.
/// A query still rotated once bounds it with `‖q − u‖²`, which a search
/// expanding `u` knows exactly. The bound's error scales with
/// `‖x − u‖ · ‖q − u‖` instead of `‖x − c‖ · ‖q − c‖`: on clustered
/// data (100k, m 16) a search read 40% fewer elements at recall 0.95
/// (128-d: 57 against 95; 1,536-d: 75 against 127), simulated in
/// process with the same graph.
const OWNER_CENTRED: u8 = 0x20;

/// The bits of the `link_codes` byte that record the rule, not the kind.
const RULE_BITS: u8 = FITS_A_PAGE | SPLIT_PAIRS | OWNER_CENTRED;

/// The earlier rule: at most this many bytes of codes for one element's
/// `2m` layer-0 neighbours (384 dimensions at m = 16). It kept two
/// elements of 385-768 dimensions on a page, where codes now take one
/// page per element: twice the index, as at 384 dimensions, for the
/// reads the codes save (and each read saved is larger there).
const LEGACY_MAX_CODES_BYTES: usize = 2048;

/// Which distance the codes bound, chosen by the glue from the opclass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkCodes {
    /// No codes.
    None,
    /// Squared L2 over the values.
    L2Squared,
    /// Cosine distance: codes of the unit vectors (`1 − cos = ‖u − v‖²/2`).
    Cosine,
    /// Negative inner product: the codes of L2 (residuals from the
    /// centroid `c`); the query is rotated whole, so that the L2 estimate
    /// `r² + ‖q‖² − 2⟨x − c, q⟩` gives `⟨x − c, q⟩`, and
    /// `−⟨x, q⟩ = −⟨x − c, q⟩ − ⟨c, q⟩` ([`LinkQuery`]).
    NegativeInnerProduct,
}

impl LinkCodes {
    /// The metapage byte.
    pub fn id(self) -> u8 {
        match self {
            Self::None => 0,
            Self::L2Squared => 1,
            Self::Cosine => 2,
            Self::NegativeInnerProduct => 3,
        }
    }

    /// From the metapage byte (unknown: none).
    pub fn from_id(id: u8) -> Self {
        match id & !RULE_BITS {
            1 => Self::L2Squared,
            2 => Self::Cosine,
            3 => Self::NegativeInnerProduct,
            _ => Self::None,
        }
    }
}

/// The confidence parameter `ε₀` of the lower bounds a scan prunes with.
/// RaBitQ's 1.9 makes a bound hold almost always; a scan needs less, as a
/// bound only decides whether an element is read (every distance ordered
/// by is exact) and a neighbour wrongly skipped is usually reached through
/// another. Simulated on WordNet (116k x 384, m 16, ef 25-35): 1.9 -> 1.0
/// read 17% fewer elements, recall@10 within 0.003 at each ef (0 costs
/// 0.008 of recall).
const LINK_EPSILON0: f64 = 1.0;

/// `ε₀` for scans that go past their first batch (iterative scans): there
/// an element whose bound fails is read only in a later batch, after
/// farther rows were returned; strict order then skips it, and a filtered
/// query may have its LIMIT filled first. WordNet, a filter keeping 1% of
/// the rows, LIMIT 10, recall against the exact filtered top 10:
/// strict order 0.83 at 1.0, 0.937 at 1.9, 0.949 reading every neighbour
/// (relaxed order: 0.961, 0.983, 0.985). At 0.6 a strict-order scan of the
/// regression test returned 6 of its 10 rows.
pub const ITERATIVE_EPSILON0: f64 = 1.9;

/// The fixed-seed rotation of `dims` dimensions, made once per thread
/// and dimension count (making one took about 1% of a 384-d HNSW query,
/// as every scan opens a coder).
fn rotation_for(dims: usize) -> Arc<Rotation> {
    thread_local! {
        static LAST: RefCell<Option<Arc<Rotation>>> = const { RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| {
        let rotation = last
            .take()
            .filter(|r| r.dims() == dims)
            .unwrap_or_else(|| Arc::new(Rotation::new(dims, ROTATION_SEED)));
        *last = Some(Arc::clone(&rotation));
        rotation
    })
}

/// The metapage byte a build writes for neighbour codes of `kind`
/// (relative to each list's owner when `relative` and the kind has such
/// codes, [`relative_kind`]).
pub(crate) fn meta_byte(kind: LinkCodes, relative: bool) -> u8 {
    match kind {
        LinkCodes::None => 0,
        _ if relative && relative_kind(kind) => kind.id() | RULE_BITS,
        _ => kind.id() | FITS_A_PAGE | SPLIT_PAIRS,
    }
}

/// Whether codes of `kind` can be relative to the list's owner: those
/// whose bound is an L2 bound (inner product would need `‖x‖²` per code).
pub fn relative_kind(kind: LinkCodes) -> bool {
    matches!(kind, LinkCodes::L2Squared | LinkCodes::Cosine)
}

/// Whether the metapage's `link_codes` byte says codes are relative.
fn is_relative(link_codes: u8) -> bool {
    link_codes & OWNER_CENTRED != 0 && relative_kind(LinkCodes::from_id(link_codes))
}

/// What an index's neighbour codes code each neighbour against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeOrigin {
    /// The index stores no neighbour codes.
    None,
    /// The index's one centroid.
    Centroid,
    /// The owner of the list the code is in ([`LinkCoder::is_relative`]).
    Owner,
}

/// The origin of the neighbour codes of an index with metapage `meta`.
pub fn code_origin(meta: &Meta) -> CodeOrigin {
    if code_len(meta) == 0 {
        CodeOrigin::None
    } else if is_relative(meta.link_codes) {
        CodeOrigin::Owner
    } else {
        CodeOrigin::Centroid
    }
}

/// Bytes of one neighbour code in an index with metapage `meta` (0: the
/// index stores none).
pub fn code_len(meta: &Meta) -> usize {
    if LinkCodes::from_id(meta.link_codes) == LinkCodes::None || meta.value_dims != 0 {
        return 0;
    }
    let (dims, m) = (meta.dims as usize, meta.m as usize);
    if meta.link_codes & SPLIT_PAIRS != 0 {
        code_len_for(dims, m, is_relative(meta.link_codes))
    } else if meta.link_codes & FITS_A_PAGE != 0 {
        pair_code_len(dims, m)
    } else {
        legacy_code_len(dims, m)
    }
}

/// Bytes of one code of a vector of `dims` dimensions (0 dimensions: 0).
fn code_bytes_of(dims: usize) -> usize {
    if dims == 0 {
        return 0;
    }
    4 * rabitq::code_words(dims.div_ceil(64) * 64)
}

/// Bytes of one relative code of a vector of `dims` dimensions.
fn relative_code_bytes_of(dims: usize) -> usize {
    if dims == 0 {
        return 0;
    }
    4 * rabitq::relative_code_words(dims.div_ceil(64) * 64)
}

/// Bytes of one neighbour code for vectors of `dims` dimensions in a
/// graph with parameter `m`, where a build stores codes (0: never): where
/// the element and its neighbour tuple with layer-0 codes each fit a page
/// at any level an element realistically draws. Up to 831 dimensions (at
/// m = 16) both fit one page; above, an element and its neighbour tuple
/// take a page each (a build and an insert place them so), which costs a
/// second page read per element expanded and saves reading every
/// neighbour whose bound rules it out (a read of 4-7 KB there). At m = 16:
/// up to 1,664 dimensions.
pub(crate) fn code_len_for(dims: usize, m: usize, relative: bool) -> usize {
    let len = if relative { relative_code_bytes_of(dims) } else { code_bytes_of(dims) };
    if len == 0 || !super::insert::tuples_fit_apart(dims, m, len) {
        return 0;
    }
    len
}

/// [`code_len_for`] of an index built with [`FITS_A_PAGE`] but not
/// [`SPLIT_PAIRS`]: codes only where both tuples fit one page.
fn pair_code_len(dims: usize, m: usize) -> usize {
    let len = code_bytes_of(dims);
    if len == 0 || !super::insert::pair_fits_empty(dims, m, len) {
        return 0;
    }
    len
}

/// [`code_len_for`] of an index built before [`FITS_A_PAGE`].
fn legacy_code_len(dims: usize, m: usize) -> usize {
    let len = code_bytes_of(dims);
    if 2 * m * len > LEGACY_MAX_CODES_BYTES {
        return 0;
    }
    len
}

/// The most dimensions a vector with codes of `code_len` bytes can have
/// (the inverse of [`code_len_for`]); `None` for a length no code has.
pub(crate) fn max_dims_for_code_len(code_len: usize) -> Option<usize> {
    let words = code_len.is_multiple_of(4).then_some(code_len / 4)?;
    // A relative code has one header word more (an odd count).
    let header = if words % 2 == 1 { rabitq::relative_code_words(0) } else { rabitq::code_words(0) };
    let data_words = words.checked_sub(header).filter(|&w| w > 0)?;
    Some(data_words * 32)
}

/// Reads the centroid from the metapage (block 0, item 2); zeros when
/// there is none (an index built empty).
pub(crate) fn read_centroid(meta_page: &Page, dims: usize) -> Vec<f32> {
    let stored = (page::max_offset(meta_page) >= 2)
        .then(|| page::item(meta_page, 2).ok())
        .flatten()
        .filter(|b| b.len() == 4 * dims);
    match stored {
        Some(bytes) => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        None => vec![0.0; dims],
    }
}

/// The centroid's tuple: little-endian `f32`s.
pub(crate) fn encode_centroid(centroid: &[f32]) -> Vec<u8> {
    centroid.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// The unit vector of `v` for cosine, `v` itself else; `None` for a zero
/// vector under cosine (it has no direction).
fn prepared<'v>(kind: LinkCodes, v: &'v [f32], scratch: &'v mut Vec<f32>) -> Option<&'v [f32]> {
    if kind != LinkCodes::Cosine {
        return Some(v);
    }
    let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    if !(norm > 0.0 && norm.is_finite()) {
        return None;
    }
    scratch.clear();
    scratch.extend(v.iter().map(|&x| (f64::from(x) / norm) as f32));
    Some(scratch)
}

/// Encodes vectors and prepares queries for one index.
#[derive(Debug, Clone)]
pub struct LinkCoder {
    kind: LinkCodes,
    rotation: Arc<Rotation>,
    centroid: Vec<f32>,
    /// `P c`, for inner-product queries (empty for other kinds).
    rotated_centroid: Vec<f32>,
    len: usize,
    /// Codes relative to each list's owner (`OWNER_CENTRED`).
    relative: bool,
}

impl LinkCoder {
    /// The coder of an index whose metapage is `meta` and centroid
    /// `centroid`; `None` when it stores no codes.
    pub fn new(meta: &Meta, centroid: Vec<f32>) -> Option<Self> {
        let len = code_len(meta);
        if len == 0 || centroid.len() != meta.dims as usize {
            return None;
        }
        let relative = is_relative(meta.link_codes);
        Some(Self::with_len(LinkCodes::from_id(meta.link_codes), len, centroid, relative))
    }

    /// The coder a build writes for values of `centroid.len()` dimensions
    /// in a graph with parameter `m` (the one [`LinkCoder::new`] gives for
    /// the metapage it writes); `None` when such an index stores no codes.
    /// Its codes are relative to each list's owner when `relative` and
    /// the kind allows it ([`relative_kind`]).
    pub fn for_build(kind: LinkCodes, m: usize, centroid: Vec<f32>, relative: bool) -> Option<Self> {
        // Where a relative code would not fit (four bytes more) the codes
        // are plain.
        let relative = relative && relative_kind(kind) && code_len_for(centroid.len(), m, true) > 0;
        let len = code_len_for(centroid.len(), m, relative);
        (kind != LinkCodes::None && len > 0).then(|| Self::with_len(kind, len, centroid, relative))
    }

    fn with_len(kind: LinkCodes, len: usize, centroid: Vec<f32>, relative: bool) -> Self {
        let rotation = rotation_for(centroid.len());
        let mut rotated_centroid = Vec::new();
        if kind == LinkCodes::NegativeInnerProduct {
            rotation.rotate(&centroid, &mut rotated_centroid);
        }
        Self { kind, rotation, centroid, rotated_centroid, len, relative }
    }

    /// Whether a neighbour's code depends on the list it is in (relative
    /// to the list's owner) rather than on the neighbour alone.
    pub fn is_relative(&self) -> bool {
        self.relative
    }

    /// The metapage byte of these codes.
    pub(crate) fn meta_byte(&self) -> u8 {
        meta_byte(self.kind, self.relative)
    }

    /// A plain coder of the same kind, centroid and rotation: what a
    /// build's own bounded searches use (each element coded once).
    pub(crate) fn plain(&self) -> Self {
        let len = code_bytes_of(self.centroid.len());
        Self { len, relative: false, ..self.clone() }
    }

    /// The kind of distance the codes bound.
    pub fn kind(&self) -> LinkCodes {
        self.kind
    }

    /// Bytes per code.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether codes are empty (never: a coder exists only with codes).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The centroid codes are relative to.
    pub fn centroid(&self) -> &[f32] {
        &self.centroid
    }

    /// The rotated residual of `v` that codes are made of, or `None` (zero
    /// vector under cosine, wrong length, or not finite). For relative
    /// codes ([`LinkCoder::encode_relative_into`]) it is rounded to half
    /// precision, as a build keeps it (`build_codes`): every writer then
    /// makes the same code of the same pair, which `verify` checks.
    pub(crate) fn residual(&self, v: &[f32]) -> Option<Vec<f32>> {
        let mut y = self.rotated(v)?;
        if self.relative {
            let scale = half_scale(&y);
            let (up, down) = (power_of_two(scale), power_of_two(-scale));
            y.iter_mut().for_each(|x| *x = half::f16::from_f32(*x * up).to_f32() * down);
        }
        Some(y)
    }

    /// The rotated residual of `v`, exact (queries, plain codes).
    fn rotated(&self, v: &[f32]) -> Option<Vec<f32>> {
        if v.len() != self.centroid.len() {
            return None;
        }
        let mut scratch = Vec::new();
        let v = prepared(self.kind, v, &mut scratch)?;
        let r: Vec<f32> = v.iter().zip(&self.centroid).map(|(&x, &c)| x - c).collect();
        if !r.iter().all(|x| x.is_finite()) {
            return None;
        }
        let mut y = Vec::with_capacity(self.rotation.padded_dims());
        self.rotation.rotate(&r, &mut y);
        Some(y)
    }

    /// Writes the plain code of the rotated residual `y` into `out`.
    pub(crate) fn encode_residual_into(&self, y: &[f32], out: &mut [u8]) {
        let mut words = Vec::with_capacity(self.len / 4);
        rabitq::encode(y, &mut words);
        out.fill(0);
        write_words(&words, out);
    }

    /// Writes the code of `v` into `out` (`len()` bytes); all zeros (no
    /// code) when `v` has none. Plain codes only: a relative coder needs
    /// the list's owner ([`LinkCoder::encode_in_list`]).
    pub fn encode_into(&self, v: &[f32], out: &mut [u8]) {
        out.fill(0);
        let Some(y) = self.rotated(v).filter(|_| !self.relative) else {
            return;
        };
        let mut words = Vec::with_capacity(self.len / 4);
        rabitq::encode(&y, &mut words);
        write_words(&words, out);
    }

    /// Writes the code of `v` as a neighbour in `owner`'s list into `out`:
    /// relative to `owner` for a relative coder, [`LinkCoder::encode_into`]
    /// else. All zeros (no code) when either has no residual.
    pub fn encode_in_list(&self, owner: &[f32], v: &[f32], out: &mut [u8]) {
        if !self.relative {
            return self.encode_into(v, out);
        }
        out.fill(0);
        if let (Some(origin), Some(y)) = (self.residual(owner), self.residual(v)) {
            self.encode_relative_into(&y, &origin, out);
        }
    }

    /// Writes the relative code of the rotated residual `y` in the list of
    /// the element whose rotated residual is `origin` (both from
    /// [`LinkCoder::residual`]) into `out` (`len()` bytes).
    pub(crate) fn encode_relative_into(&self, y: &[f32], origin: &[f32], out: &mut [u8]) {
        let mut words = Vec::with_capacity(self.len / 4);
        rabitq::encode_relative(y, origin, &mut words);
        out.fill(0);
        write_words(&words, out);
    }

    /// The code of `v` as words into `code` (cleared first; left empty
    /// when `v` has none) and `v` prepared as a query with bounds of
    /// confidence `epsilon0`, from one rotation: what a build needs of
    /// each element it links.
    /// With `keep`, the query keeps the rotated residual
    /// ([`LinkQuery::rotated`]).
    pub(crate) fn code_and_query(&self, v: &[f32], epsilon0: f64, code: &mut Vec<f32>, keep: bool) -> LinkQuery {
        code.clear();
        let y = self.rotated(v);
        if let Some(y) = &y {
            rabitq::encode(y, code);
        }
        let kept = y.as_ref().filter(|_| keep).cloned();
        LinkQuery { rotated: kept, ..self.prepare(v, y, epsilon0) }
    }

    /// Values in a rotated residual.
    pub(crate) fn padded_dims(&self) -> usize {
        self.rotation.padded_dims()
    }

    /// The prepared query; its bounds are `-inf` (prune nothing) when the
    /// query has no code (zero vector under cosine, not finite).
    pub fn query(&self, q: &[f32]) -> LinkQuery {
        self.query_with_epsilon(q, LINK_EPSILON0)
    }

    /// [`LinkCoder::query`] with bounds of confidence `epsilon0` (see
    /// [`ITERATIVE_EPSILON0`]).
    pub fn query_with_epsilon(&self, q: &[f32], epsilon0: f64) -> LinkQuery {
        self.prepare(q, self.rotated(q), epsilon0)
    }

    /// The query of `q`, whose rotated residual is `y`. For inner product
    /// the query is `P q = y + P c` (the codes then estimate
    /// `⟨x − c, q⟩`), with `‖q‖²` and `⟨c, q⟩` to turn the estimate into
    /// `−⟨x, q⟩`.
    fn prepare(&self, q: &[f32], y: Option<Vec<f32>>, epsilon0: f64) -> LinkQuery {
        let relative = self.relative;
        let Some(mut y) = y else {
            return LinkQuery { kind: self.kind, query: None, inner: InnerTerms::default(), relative, rotated: None };
        };
        let mut inner = InnerTerms::default();
        if self.kind == LinkCodes::NegativeInnerProduct {
            y.iter_mut().zip(&self.rotated_centroid).for_each(|(y, c)| *y += c);
            let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(&x, &y)| f64::from(x) * f64::from(y)).sum::<f64>();
            inner = InnerTerms { query_norm_sq: dot(&y, &y) as f32, centroid_dot: dot(&self.centroid, q) as f32 };
        }
        LinkQuery { kind: self.kind, query: Some(Query::with_epsilon(&y, epsilon0)), inner, relative, rotated: None }
    }
}

/// The power of two `k` that puts the largest magnitude of `y` times `2^k`
/// in `[2¹⁴, 2¹⁵)`: half precision then keeps 11 significant bits of every
/// coordinate near the largest, whatever the values' scale (unscaled, a
/// residual of values around 1e-8 would round to zero, and above 6.5e4
/// infinite). 0 for a zero or non-finite `y`.
pub(crate) fn half_scale(y: &[f32]) -> i32 {
    let max = y.iter().fold(0f32, |m, x| m.max(x.abs()));
    if !(max > 0.0 && max.is_finite()) {
        return 0;
    }
    (14 - max.log2().floor() as i32).clamp(-100, 100)
}

/// `2^k` for `|k| ≤ 126`, exactly.
pub(crate) fn power_of_two(k: i32) -> f32 {
    f32::from_bits(((k.clamp(-126, 127) + 127) as u32) << 23)
}

/// Writes code words as little-endian bytes.
fn write_words(words: &[f32], out: &mut [u8]) {
    for (chunk, w) in out.chunks_exact_mut(4).zip(words) {
        chunk.copy_from_slice(&w.to_bits().to_le_bytes());
    }
}

/// What turns an L2 estimate of a query rotated whole into a bound on
/// `−⟨x, q⟩` ([`LinkCodes::NegativeInnerProduct`]).
#[derive(Debug, Clone, Copy, Default)]
struct InnerTerms {
    /// `‖q‖²`.
    query_norm_sq: f32,
    /// `⟨c, q⟩`.
    centroid_dot: f32,
}

impl InnerTerms {
    /// The lower bound on `−⟨x, q⟩` from `lower`, a lower bound on
    /// `r² + ‖q‖² − 2⟨x − c, q⟩` for a code of norm `r = ‖x − c‖`.
    #[inline]
    fn negative_dot(&self, lower: f32, r: f32) -> f32 {
        (lower - r * r - self.query_norm_sq) * 0.5 - self.centroid_dot
    }
}

/// A query prepared against one index's codes.
#[derive(Debug, Clone)]
pub struct LinkQuery {
    kind: LinkCodes,
    query: Option<Query>,
    inner: InnerTerms,
    /// The codes are relative to each list's owner.
    relative: bool,
    /// The rotated residual, when kept ([`LinkCoder::code_and_query`]).
    rotated: Option<Vec<f32>>,
}

impl LinkQuery {
    /// The query's rotated residual, if it was kept.
    pub(crate) fn rotated(&self) -> Option<&[f32]> {
        self.rotated.as_deref()
    }

    /// A lower bound (with high probability) on the distance from the
    /// query to the value coded by `code`; `-inf` when there is no code.
    /// Plain codes only (a relative code needs its owner's distance,
    /// [`LinkQuery::lower_bound_in_list`]).
    #[inline]
    pub fn lower_bound(&self, code: &[u8]) -> f32 {
        self.bound_of(Code::from_le_bytes(code))
    }

    /// The lower bound for the code of a neighbour in the list of an
    /// element at distance `owner` from the query (exact, in the index's
    /// units): relative codes are bounded around the owner, plain ones
    /// as [`LinkQuery::lower_bound`]. `-inf` without a code or a finite
    /// owner distance.
    #[inline]
    pub fn lower_bound_in_list(&self, code: &[u8], owner: f32) -> f32 {
        if !self.relative {
            return self.lower_bound(code);
        }
        let (Some(q), Some(code)) = (&self.query, Code::from_le_bytes(code)) else {
            return f32::NEG_INFINITY;
        };
        // ‖q − u‖² of the vectors the codes are made of: squared L2 is the
        // distance itself; cosine distance is half the squared L2 distance
        // of the unit vectors.
        let norm_sq = match self.kind {
            LinkCodes::Cosine => 2.0 * owner,
            _ => owner,
        };
        if !norm_sq.is_finite() {
            return f32::NEG_INFINITY;
        }
        self.finish(q.estimate_from(&code, norm_sq.max(0.0)).lower(), || code.norm)
    }

    /// [`LinkQuery::lower_bound`] of a code held as words (as
    /// `rabitq::encode` writes it); `-inf` for no code (empty words).
    #[inline]
    pub(crate) fn lower_bound_words(&self, words: &[f32]) -> f32 {
        self.bound_of(Code::view(words))
    }

    /// [`LinkQuery::lower_bound_words`] of `count` consecutive codes
    /// (`codes`, whole codes end to end) into `out` (cleared first), in one
    /// pass: `-inf` for each that is no code. `estimates` is scratch.
    pub(crate) fn lower_bounds_words(
        &self,
        codes: &[f32],
        count: usize,
        estimates: &mut Vec<Estimate>,
        out: &mut Vec<f32>,
    ) {
        out.clear();
        let Some(q) = &self.query else {
            out.resize(count, f32::NEG_INFINITY);
            return;
        };
        estimates.clear();
        q.estimate_all(codes, estimates);
        let stride = codes.len().checked_div(count).unwrap_or(0).max(1);
        out.extend(estimates.iter().zip(codes.chunks_exact(stride)).map(|(e, words)| {
            let norm = || Code::view(words).map_or(f32::NAN, |c| c.norm);
            self.finish(e.lower(), norm)
        }));
    }

    /// The bound on this kind of distance from `lower`, the code's lower
    /// bound on the squared L2 distance; `-inf` for NaN (no code, or one of
    /// other dimensions). `norm` gives the code's `‖x − c‖`.
    #[inline]
    fn finish(&self, lower: f32, norm: impl Fn() -> f32) -> f32 {
        let bound = match self.kind {
            LinkCodes::Cosine => lower * 0.5,
            LinkCodes::NegativeInnerProduct => self.inner.negative_dot(lower, norm()),
            LinkCodes::L2Squared | LinkCodes::None => lower,
        };
        if bound.is_nan() {
            f32::NEG_INFINITY
        } else {
            bound
        }
    }

    #[inline]
    fn bound_of(&self, code: Option<Code<'_>>) -> f32 {
        let (Some(q), Some(code)) = (&self.query, code) else {
            return f32::NEG_INFINITY;
        };
        self.finish(q.estimate(&code).lower(), || code.norm)
    }
}

/// Mean of the vectors `vector(i)`, `i` in `0..n` (their unit vectors for
/// cosine), for the build's centroid; skips vectors without a code (other
/// length, zero under cosine, not finite). Summed on every core, in fixed
/// chunks added up in order, so the result does not depend on the threads.
pub fn centroid_of<'v>(
    kind: LinkCodes,
    dims: usize,
    n: usize,
    vector: impl Fn(usize) -> &'v [f32] + Sync,
) -> Vec<f32> {
    const CHUNK: usize = 4096;
    let partial = |chunk: usize| {
        let mut sum = vec![0f64; dims];
        let mut count = 0usize;
        let mut scratch = Vec::new();
        for i in chunk * CHUNK..((chunk + 1) * CHUNK).min(n) {
            let v = vector(i);
            if v.len() != dims {
                continue;
            }
            let Some(v) = prepared(kind, v, &mut scratch) else {
                continue;
            };
            if v.iter().all(|x| x.is_finite()) {
                sum.iter_mut().zip(v).for_each(|(s, &x)| *s += f64::from(x));
                count += 1;
            }
        }
        (sum, count)
    };
    let partials: Vec<(Vec<f64>, usize)> = (0..n.div_ceil(CHUNK)).into_par_iter().map(partial).collect();
    let mut sum = vec![0f64; dims];
    let mut count = 0usize;
    for (part, c) in partials {
        sum.iter_mut().zip(part).for_each(|(s, x)| *s += x);
        count += c;
    }
    sum.iter().map(|&s| if count > 0 { (s / count as f64) as f32 } else { 0.0 }).collect()
}

/// The coder of the index on `rel` (centroid read from the metapage):
/// `None` unless `meta` says it stores codes.
pub(crate) fn coder_for_read<R: RelationRead>(rel: &R, meta: &Meta) -> Option<LinkCoder> {
    if code_len(meta) == 0 {
        return None;
    }
    let guard = rel.read(0);
    LinkCoder::new(meta, read_centroid(&guard, meta.dims as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` vectors of `dims` values in 8 clusters, with a common offset
    /// (so the centroid is far from the origin), deterministic.
    fn offset_vectors(n: usize, dims: usize, seed: u64) -> Vec<Vec<f32>> {
        let mut state = seed;
        let mut next = move || {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (state >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        };
        let centres: Vec<Vec<f32>> = (0..8).map(|_| (0..dims).map(|_| next()).collect()).collect();
        (0..n).map(|j| centres[j % 8].iter().enumerate().map(|(i, c)| 0.3 + 0.01 * (i % 7) as f32 + c + 0.3 * next()).collect()).collect()
    }

    fn exact(kind: LinkCodes, x: &[f32], q: &[f32]) -> f32 {
        match kind {
            LinkCodes::NegativeInnerProduct => -distance::dot(x, q),
            LinkCodes::Cosine => distance::cosine_distance(x, q) as f32,
            _ => distance::l2_squared(x, q),
        }
    }

    /// For each kind, the bound is below the exact distance for nearly
    /// every pair (`ε₀` 1.9: RaBitQ's confidence; 97% of these pairs for
    /// every kind), close to it (an
    /// estimate, not a trivial bound), and the same one by one as in a
    /// batch.
    #[test]
    fn bounds_of_every_kind_hold_and_are_tight() {
        let dims = 256;
        let data = offset_vectors(400, dims, 5);
        let queries = offset_vectors(20, dims, 6);
        let mut gaps = Vec::new();
        for kind in [LinkCodes::L2Squared, LinkCodes::Cosine, LinkCodes::NegativeInnerProduct] {
            let centroid = centroid_of(kind, dims, data.len(), |i| &data[i]);
            let coder = LinkCoder::for_build(kind, 16, centroid, false).expect("256-d values have codes");
            let codes: Vec<Vec<u8>> = data
                .iter()
                .map(|v| {
                    let mut code = vec![0u8; coder.len()];
                    coder.encode_into(v, &mut code);
                    code
                })
                .collect();
            let words: Vec<f32> = codes
                .iter()
                .flat_map(|c| c.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
                .collect();
            let (mut held, mut pairs, mut gap) = (0, 0, 0f64);
            let mut wants = Vec::new();
            for q in &queries {
                let query = coder.query_with_epsilon(q, 1.9);
                let (mut estimates, mut batch) = (Vec::new(), Vec::new());
                query.lower_bounds_words(&words, data.len(), &mut estimates, &mut batch);
                for ((x, code), &batched) in data.iter().zip(&codes).zip(&batch) {
                    let (bound, want) = (query.lower_bound(code), exact(kind, x, q));
                    assert_eq!(bound.to_bits(), batched.to_bits(), "{kind:?}: one by one and batched differ");
                    assert!(bound.is_finite(), "{kind:?}: no bound");
                    pairs += 1;
                    held += usize::from(bound <= want + 1e-4 * want.abs().max(1.0));
                    gap += f64::from((want - bound).abs());
                    wants.push(f64::from(want));
                }
            }
            let mean = wants.iter().sum::<f64>() / wants.len() as f64;
            let spread = (wants.iter().map(|w| (w - mean).powi(2)).sum::<f64>() / wants.len() as f64).sqrt();
            let gap = gap / pairs as f64 / spread;
            println!("{kind:?}: the bound held for {held} of {pairs} pairs, {gap:.3} standard deviations of the distances away");
            assert!(held as f64 >= 0.95 * pairs as f64, "{kind:?}: the bound held for {held} of {pairs} pairs");
            gaps.push(gap);
        }
        assert!(gaps[2] < 1.5 * gaps[0], "inner-product bounds {:.3} against L2's {:.3} standard deviations away", gaps[2], gaps[0]);
    }
}
