//! Inserting one element into the graph on pages, and the pieces vacuum
//! shares with it: the neighbour heuristic over TIDs, a vector cache, and
//! metapage updates.
//!
//! Locking: at most one page guard is held at a time, and no guard is
//! taken while another is held. Every write leaves a valid graph: the new
//! element and its neighbour tuple first (one page), then each back-link
//! (one neighbour tuple each, after the adoption it needs), then, if no
//! back-link took on layer 0, one forced in-link, then the metapage entry
//! point.
//!
//! Reachability: no layer-0 write here drops an element without the new
//! element adopting it first (see [`super::links`]), the new element ends
//! with a layer-0 in-link from an element that was reachable when it was
//! found, and a new entry point links on layer 0 to the one it replaces.
//! So, with inserts only (sequential or concurrent), every element stays
//! reachable from the entry point through layer-0 links.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;

use pagestore::page::{self, BLCKSZ, MAX_ITEM_LEN, MAX_OFFSET_NUMBER, SIZE_OF_ITEM_ID};
use pagestore::{Page, RelationRead, RelationWrite};

use super::build::init_graph_page;
use super::codes::{code_len, coder_for_read, LinkCoder};
use super::links::{adopt, write_list, Written};
use super::reader::{corrupt_at, live_item, live_item_mut, read_meta, PageGraph, Pages};
use super::reuse::take_over_freed;
use super::tuples::{
    capacity, item_fits_empty_page, pair_fits_empty_page, ElementTuple, Meta, NeighbourTuple, Special, Tid, KIND_ELEMENT,
};
use super::OnDiskError;
use crate::metric::Distance;
use crate::search::{self, Scored};
use crate::MAX_LEVEL;

/// Attempts at a compare-and-write of a neighbour list before giving up.
pub(super) const WRITE_ATTEMPTS: usize = 3;

/// Neighbour searches per insert when a concurrent vacuum moved the entry
/// point.
const SELECT_ATTEMPTS: usize = 3;

/// Elements kept in a [`Vectors`] cache before it is emptied.
const CACHE_LIMIT: usize = 4096;


/// A borrowed metric (the blanket `Fn` impl rules out `impl Distance for &D`).
pub(super) struct ByRef<'a, D>(pub &'a D);

impl<D: Distance> Distance for ByRef<'_, D> {
    #[inline]
    fn distance(&self, a: &[f32], b: &[f32]) -> f32 {
        self.0.distance(a, b)
    }
}

/// SplitMix64 finalizer, for distance tie-breaks.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn tid_key(t: Tid) -> u64 {
    (u64::from(t.blk) << 16) | u64::from(t.off)
}

/// Sorts candidates for `base` closest first, breaking distance ties by a
/// hash of `(base, candidate)` (as the in-memory graph does), so identical
/// vectors keep different subsets of their twins and stay connected.
pub(super) fn sort_candidates(base: Tid, candidates: &mut [Scored<Tid>]) {
    let tie = |n: Tid| splitmix64(tid_key(base).rotate_left(32) ^ splitmix64(tid_key(n)));
    candidates.sort_by(|a, b| {
        a.dist
            .total_cmp(&b.dist)
            .then_with(|| tie(a.node).cmp(&tie(b.node)))
    });
}

/// The paper's neighbour-selection heuristic over sorted `candidates`:
/// keeps a candidate only if it is at least as close to the base element
/// as to every one kept so far, up to `m`; with `keep_pruned` the
/// remaining room is filled with the closest pruned candidates.
///
/// Exact duplicates of the base element (`twin`) are kept without the
/// check, but at most `ceil(m / 2)` of them before the others (extra ones
/// go last among the pruned): otherwise, with many identical rows, their
/// lists hold only each other and searches that reach them cannot leave.
pub(super) fn select_neighbours(
    candidates: &[Scored<Tid>],
    m: usize,
    keep_pruned: bool,
    pair: impl Fn(Tid, Tid) -> f32,
    twin: impl Fn(Tid) -> bool,
) -> Vec<Scored<Tid>> {
    let quota = m.div_ceil(2);
    let mut kept: Vec<Scored<Tid>> = Vec::with_capacity(m);
    let (mut pruned, mut spare_twins) = (Vec::new(), Vec::new());
    let mut twins = 0;
    for c in candidates {
        if kept.len() >= m {
            break;
        }
        if twin(c.node) {
            if twins < quota {
                twins += 1;
                kept.push(*c);
            } else if keep_pruned {
                spare_twins.push(*c);
            }
        } else if kept.iter().all(|k| pair(c.node, k.node) >= c.dist) {
            kept.push(*c);
        } else if keep_pruned {
            pruned.push(*c);
        }
    }
    let room = m - kept.len();
    kept.extend(pruned.into_iter().chain(spare_twins).take(room));
    kept
}

/// Writes the code relative to `owner` of the element whose rotated
/// residual is `y` into `out`; false when either has none.
pub(super) fn encode_relative(coder: &LinkCoder, owner: Option<Rc<[f32]>>, y: Option<Rc<[f32]>>, out: &mut [u8]) -> bool {
    match (owner, y) {
        (Some(origin), Some(y)) => {
            coder.encode_relative_into(&y, &origin, out);
            true
        }
        _ => false,
    }
}

/// Elements (header and vector) read during one operation; emptied by
/// [`Vectors::trim`] when large, so memory stays bounded.
pub(super) struct Vectors {
    dims: usize,
    map: HashMap<Tid, Option<ElementTuple>>,
    /// Rotated residuals of loaded elements, for codes relative to a
    /// list's owner (`None`: the element has no code).
    residuals: RefCell<HashMap<Tid, Option<Rc<[f32]>>>>,
}

impl Vectors {
    pub(super) fn new(dims: usize) -> Self {
        Self {
            dims,
            map: HashMap::new(),
            residuals: RefCell::default(),
        }
    }

    /// Empties the cache if it grew past its limit (call between batches,
    /// never while relying on earlier loads).
    pub(super) fn trim(&mut self) {
        if self.map.len() > CACHE_LIMIT {
            self.map.clear();
            self.residuals.get_mut().clear();
        }
    }

    /// Loads the element at `tid` (`None` if it is gone).
    pub(super) fn load<R: RelationRead>(
        &mut self,
        pages: &Pages<'_, R>,
        tid: Tid,
    ) -> Result<Option<&ElementTuple>, OnDiskError> {
        if !self.map.contains_key(&tid) {
            let mut vector = Vec::new();
            let element = pages.element(tid, self.dims, &mut vector)?;
            let element = element.map(|e| ElementTuple { vector, ..e });
            self.map.insert(tid, element);
        }
        Ok(self.map[&tid].as_ref())
    }

    /// Adds an element known to the caller (e.g. the one being inserted).
    pub(super) fn put(&mut self, tid: Tid, element: ElementTuple) {
        self.map.insert(tid, Some(element));
    }

    /// A loaded element.
    pub(super) fn get(&self, tid: Tid) -> Option<&ElementTuple> {
        self.map.get(&tid).and_then(Option::as_ref)
    }

    /// The element of the non-empty `list` farthest from `node`: a deleted
    /// or vanished one first (all are loaded into the cache).
    pub(super) fn farthest<R: RelationRead, D: Distance>(
        &mut self,
        pages: &Pages<'_, R>,
        metric: &D,
        node: Tid,
        list: &[Tid],
    ) -> Result<Tid, OnDiskError> {
        self.trim();
        for &t in list.iter().chain([&node]) {
            self.load(pages, t)?;
        }
        let key = |t: Tid| match self.get(t) {
            Some(e) if !e.deleted => self.pair(metric, node, t),
            _ => f32::INFINITY,
        };
        let far = list
            .iter()
            .copied()
            .max_by(|&a, &b| key(a).total_cmp(&key(b)));
        far.ok_or(OnDiskError::BadInput("farthest of an empty list"))
    }

    /// Writes the code of the loaded element `t` as a neighbour in the
    /// list of the loaded element `owner` into `out` (the owner matters
    /// only to relative codes); false (nothing written) without a coder
    /// or if one of them is not loaded.
    pub(super) fn code_into(&self, coder: Option<&LinkCoder>, owner: Tid, t: Tid, out: &mut [u8]) -> bool {
        let Some(coder) = coder else {
            return false;
        };
        if !coder.is_relative() {
            let Some(e) = self.get(t) else {
                return false;
            };
            coder.encode_into(&e.vector, out);
            return true;
        }
        encode_relative(coder, self.residual(coder, owner), self.residual(coder, t), out)
    }

    /// The rotated residual of the loaded element `t` (cached), `None`
    /// if it is not loaded or has no code.
    pub(super) fn residual(&self, coder: &LinkCoder, t: Tid) -> Option<Rc<[f32]>> {
        if let Some(known) = self.residuals.borrow().get(&t) {
            return known.clone();
        }
        let residual: Option<Rc<[f32]>> = coder.residual(&self.get(t)?.vector).map(Rc::from);
        self.residuals.borrow_mut().insert(t, residual.clone());
        residual
    }

    /// Whether the loaded element `t` has exactly the vector `v`.
    pub(super) fn is_twin(&self, t: Tid, v: &[f32]) -> bool {
        self.get(t).is_some_and(|e| e.vector == v)
    }

    /// Distance between two loaded elements (`+inf` if one is missing).
    pub(super) fn pair<D: Distance>(&self, metric: &D, a: Tid, b: Tid) -> f32 {
        match (self.get(a), self.get(b)) {
            (Some(x), Some(y)) => metric.distance_or_inf(&x.vector, &y.vector),
            _ => f32::INFINITY,
        }
    }
}

/// Locks the metapage exclusively, re-reads it, and writes it back if `f`
/// changed it (returns whether it did).
pub(super) fn update_meta<R: RelationWrite>(
    rel: &R,
    f: impl FnOnce(&mut Meta) -> bool,
) -> Result<bool, OnDiskError> {
    let mut guard = rel.write(0);
    let bytes = page::item_mut(&mut guard, 1)?;
    let mut meta = Meta::decode(bytes)?;
    if !f(&mut meta) {
        return Ok(false);
    }
    let encoded = meta.encode();
    if encoded.len() != bytes.len() {
        return Err(OnDiskError::Corrupted("metapage tuple size".into()));
    }
    bytes.copy_from_slice(&encoded);
    Ok(true)
}

/// Makes `element` the entry point if the graph has none, or (unless
/// `only_if_empty`) if `level` is above the current entry level.
fn claim_entry(meta: &mut Meta, element: Tid, level: usize, only_if_empty: bool) -> bool {
    let take = !meta.entry.is_valid() || (!only_if_empty && level > meta.entry_level as usize);
    if take {
        meta.entry = element;
        meta.entry_level = level as u8;
    }
    take
}

/// Whether an element of `words` words fits on a page with its
/// neighbour tuple without codes at any level an element will
/// realistically draw (see [`pair_fits_empty`]); elements too large for
/// that are better stored as codes. (Where neighbour codes make the pair
/// too large for a page, the two tuples take a page each.)
pub fn vector_fits(words: usize, m: usize) -> bool {
    pair_fits_empty(words, m, 0)
}

/// Bytes of a neighbour tuple with layer-0 codes of `code_len` bytes at
/// the lowest level whose probability, `m^-level`, is below one in a
/// billion: the highest an element realistically draws.
fn realistic_neighbour_len(m: usize, code_len: usize) -> usize {
    let m = m.max(2);
    let top = (1..=MAX_LEVEL)
        .find(|&l| (m as f64).powi(l as i32) >= 1e9)
        .unwrap_or(MAX_LEVEL);
    NeighbourTuple::encoded_len(top, m, code_len)
}

/// Whether an element of `words` words fits on an empty page with its
/// neighbour tuple ([`realistic_neighbour_len`]).
pub(crate) fn pair_fits_empty(words: usize, m: usize, code_len: usize) -> bool {
    pair_fits_empty_page(ElementTuple::encoded_len(words), realistic_neighbour_len(m, code_len))
}

/// Whether an element of `words` words and its neighbour tuple
/// ([`realistic_neighbour_len`]) each fit an empty page.
pub(crate) fn tuples_fit_apart(words: usize, m: usize, code_len: usize) -> bool {
    item_fits_empty_page(ElementTuple::encoded_len(words)) && item_fits_empty_page(realistic_neighbour_len(m, code_len))
}

/// Whether an element of `elen` bytes and its neighbour tuple of `nlen`
/// bytes both fit on `page`.
fn pair_fits(page: &Page, elen: usize, nlen: usize) -> bool {
    elen <= MAX_ITEM_LEN
        && nlen <= MAX_ITEM_LEN
        && page::maxalign(elen) + page::maxalign(nlen) + SIZE_OF_ITEM_ID <= page::free_space(page)
        && page::max_offset(page) + 2 <= MAX_OFFSET_NUMBER
}

pub(super) fn is_graph_page(page: &Page) -> bool {
    page::check_header(page).is_ok()
        && Special::decode(page::special(page)).is_ok_and(|s| s.kind == Special::GRAPH)
}

/// Adds one tuple (that fits) to `page`, block `blk`.
fn add_one(page: &mut Page, blk: u32, bytes: &[u8]) -> Tid {
    let off = page::add_item(page, bytes).expect("fits was checked");
    Tid { blk, off }
}

/// Adds the element (pointing at the next item) and its neighbour tuple.
fn add_pair(page: &mut Page, blk: u32, element: &ElementTuple, neighbours: &[u8]) -> (Tid, Tid) {
    let off = page::max_offset(page) + 1;
    let at = Tid { blk, off: off + 1 };
    let element = ElementTuple {
        neighbours: at,
        ..element.clone()
    };
    let e = page::add_item(page, &element.encode()).expect("pair_fits was checked");
    let n = page::add_item(page, neighbours).expect("pair_fits was checked");
    debug_assert_eq!((e, n), (off, off + 1));
    (Tid { blk, off }, at)
}

/// Inserts one element into the graph on `rel` (metapage present, graph
/// possibly empty) and returns its element TID. `level` is the element's
/// layer, drawn by the caller (e.g. [`crate::graph_level`]); m and
/// ef_construction come from the metapage.
///
/// The new element links to its neighbours chosen by the heuristic
/// (deleted elements are never chosen), placed with its neighbour tuple on
/// the metapage's `insert_blk` or on a new page; then each neighbour links
/// back (re-running the heuristic when its list is full, written only if
/// the list did not change meanwhile, retried a few times, else skipped).
/// On layer 0 a full list keeps its closest pruned neighbours, so a
/// back-link drops at most one element, which the new element adopts into
/// one of its free layer-0 slots before the back-link is written (if it
/// has none, the back-link is skipped). If no layer-0 back-link took, the
/// new element is forced into its closest chosen neighbour's list (the
/// entry point last), over that list's farthest element, adopted first.
/// Then the entry point moves to it if its level is higher, after it
/// links to the old entry point on layer 0. Safe to call from several
/// threads at once.
///
/// Errors: [`OnDiskError::DimensionMismatch`] (when the metapage's dims is
/// not 0), [`OnDiskError::TupleTooLarge`], `BadInput` for a level above
/// [`MAX_LEVEL`], and corruption found on the way.
pub fn insert<R: RelationWrite, D: Distance>(
    rel: &R,
    metric: &D,
    vector: &[f32],
    heap_tid: Tid,
    level: usize,
) -> Result<Tid, OnDiskError> {
    let meta = read_meta(rel)?;
    check_input(&meta, vector, level)?;
    let coder = coder_for_read(rel, &meta);
    let mut own_code = vec![0u8; coder.as_ref().map_or(0, LinkCoder::len)];
    let mut own_residual = None;
    if let Some(coder) = &coder {
        coder.encode_into(vector, &mut own_code);
        if coder.is_relative() {
            own_residual = coder.residual(vector).map(Rc::from);
        }
    }
    let mut inserter = Inserter {
        rel,
        metric,
        element: ElementTuple {
            level: level as u8,
            deleted: false,
            heap_tid,
            neighbours: Tid::INVALID,
            vector: vector.to_vec(),
        },
        vectors: Vectors::new(meta.dims as usize),
        m: meta.m as usize,
        at: (Tid::INVALID, Tid::INVALID),
        own: Vec::new(),
        relied: HashSet::new(),
        coder,
        own_code,
        own_residual,
    };
    inserter.run(meta)
}

/// Fixes the dimensions of a variable-dimension index on its first
/// insert: under the metapage's exclusive guard, if `meta.dims` is 0 and
/// the graph has no entry point (it is empty), sets `meta.dims = dims`
/// and returns true; else returns false (and for `dims` 0). Later inserts
/// of another length then fail with [`OnDiskError::DimensionMismatch`].
///
/// Deleted elements left by a vacuum that emptied the graph must already
/// have `dims` values (they are checked first, one page at a time, before
/// the metapage is locked), else nothing is set, so the metapage never
/// contradicts a tuple.
pub fn set_dims_if_unset<R: RelationWrite>(rel: &R, dims: u16) -> Result<bool, OnDiskError> {
    set_if_unset(rel, dims, |_| {})
}

/// [`set_dims_if_unset`] for an index whose elements will store codes:
/// sets `dims` to `code_words`, `value_dims` and the glue's `metric_id`
/// (which says how to read the codes) in one metapage change.
pub fn set_coded_dims_if_unset<R: RelationWrite>(
    rel: &R,
    code_words: u16,
    value_dims: u16,
    metric_id: u8,
) -> Result<bool, OnDiskError> {
    set_if_unset(rel, code_words, |m| {
        m.value_dims = value_dims;
        m.metric_id = metric_id;
    })
}

fn set_if_unset<R: RelationWrite>(
    rel: &R,
    dims: u16,
    also: impl FnOnce(&mut Meta),
) -> Result<bool, OnDiskError> {
    let meta = read_meta(rel)?;
    if dims == 0 || meta.dims != 0 || meta.entry.is_valid() {
        return Ok(false);
    }
    let pages = Pages::new(rel);
    let nblocks = rel.nblocks();
    for blk in 1..nblocks {
        let other = pages.with_page(blk, |page| element_lengths_differ(page, blk, dims))??;
        if other {
            return Ok(false);
        }
    }
    update_meta(rel, |m| {
        let set = m.dims == 0 && !m.entry.is_valid() && m.insert_blk == meta.insert_blk;
        if set {
            m.dims = dims;
            also(m);
        }
        set
    })
}

/// Whether graph page `blk` holds an element whose length is not `dims`.
fn element_lengths_differ(page: &Page, blk: u32, dims: u16) -> Result<bool, OnDiskError> {
    if page::is_new(page) {
        return Ok(false);
    }
    for off in 1..=page::max_offset(page) {
        let tid = Tid { blk, off };
        let Some(bytes) = live_item(page, off).map_err(|e| corrupt_at(tid, e))? else {
            continue;
        };
        if bytes.first() == Some(&KIND_ELEMENT) {
            let (_, raw) = ElementTuple::decode_view(bytes).map_err(|e| corrupt_at(tid, e))?;
            if raw.len() != 4 * dims as usize {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn check_input(meta: &Meta, vector: &[f32], level: usize) -> Result<(), OnDiskError> {
    if meta.dims != 0 && vector.len() != meta.dims as usize {
        return Err(OnDiskError::DimensionMismatch {
            expected: meta.dims as usize,
            found: vector.len(),
        });
    }
    if vector.len() > u16::MAX as usize {
        return Err(OnDiskError::BadInput("vectors have at most 65535 words"));
    }
    if level > MAX_LEVEL {
        return Err(OnDiskError::BadInput("level above MAX_LEVEL"));
    }
    Ok(())
}

struct Inserter<'a, R, D> {
    rel: &'a R,
    metric: &'a D,
    /// The new element (its `neighbours` is filled in on placement).
    element: ElementTuple,
    vectors: Vectors,
    /// The metapage's m.
    m: usize,
    /// (element, neighbour tuple) once placed.
    at: (Tid, Tid),
    /// The new element's own layer-0 choices, farthest first: the only
    /// links it may give up to adopt an element when its list is full
    /// (none of them can be another element's only way in, see
    /// [`Inserter::adopt`]), unless they are in `relied`.
    own: Vec<Tid>,
    /// Layer-0 links of the new element that keep something reachable:
    /// adoptions that backed a write, and the link to the entry point it
    /// replaces. Never given up.
    relied: HashSet<Tid>,
    /// The neighbour codes' coder, when the index stores codes.
    coder: Option<LinkCoder>,
    /// The new element's neighbour code (empty without codes; all zeros
    /// for relative codes, which depend on the list).
    own_code: Vec<u8>,
    /// The new element's rotated residual, for relative codes.
    own_residual: Option<Rc<[f32]>>,
}

impl<R: RelationWrite, D: Distance> Inserter<'_, R, D> {
    fn level(&self) -> usize {
        self.element.level as usize
    }

    /// Writes the code of `t` as a neighbour in the list of `owner`
    /// (`None`: the new element's own list): `t` is the new element or
    /// one in the cache, and so is the owner; false for others.
    fn code_of(&self, owner: Option<Tid>, t: Tid, out: &mut [u8]) -> bool {
        let Some(coder) = &self.coder else {
            return false;
        };
        let is_new = |x: Tid| x == self.at.0 && x.is_valid();
        if !coder.is_relative() {
            if is_new(t) {
                out.copy_from_slice(&self.own_code);
                return true;
            }
            return self.vectors.code_into(Some(coder), t, t, out);
        }
        let residual = |x: Option<Tid>| match x {
            Some(x) if !is_new(x) => self.vectors.residual(coder, x),
            _ => self.own_residual.clone(),
        };
        encode_relative(coder, residual(owner), residual(Some(t)), out)
    }

    /// Into an empty graph: placed unlinked, then made the entry point
    /// (unless another insert won that race). Otherwise: neighbours
    /// chosen from the entry point, then [`Inserter::link`].
    fn run(&mut self, mut meta: Meta) -> Result<Tid, OnDiskError> {
        let (rel, metric, level) = (self.rel, self.metric, self.level());
        let mut placed = None;
        let mut attempts = 0;
        loop {
            if !meta.entry.is_valid() {
                let at = match placed {
                    Some(at) => at,
                    None => self.place(&meta, &vec![Vec::new(); level + 1])?,
                };
                placed = Some(at);
                if update_meta(rel, |m| claim_entry(m, at.0, level, true))? {
                    return Ok(at.0);
                }
                // Another insert made the graph non-empty first: link it.
                meta = read_meta(rel)?;
                continue;
            }
            attempts += 1;
            let graph = PageGraph::with_meta(rel, ByRef(metric), meta);
            let lists = self.select(&graph, placed.map(|p| p.0))?;
            if lists.iter().all(Vec::is_empty) && attempts < SELECT_ATTEMPTS {
                // Nothing live found: a concurrent vacuum may have replaced
                // a deleted entry point; start again from the current one.
                let fresh = read_meta(rel)?;
                if fresh.entry != meta.entry {
                    meta = fresh;
                    continue;
                }
            }
            return self.link(&graph, &lists, placed);
        }
    }

    /// Writes the element with its neighbour `lists` (or, if it was
    /// already placed, its neighbour tuple), links back (adopting what the
    /// back-links drop on layer 0), gives it a layer-0 in-link if no
    /// back-link did, then moves the entry point to it if its level is
    /// above the current entry's.
    fn link(
        &mut self,
        graph: &PageGraph<'_, R, ByRef<'_, D>>,
        lists: &[Vec<Scored<Tid>>],
        placed: Option<(Tid, Tid)>,
    ) -> Result<Tid, OnDiskError> {
        let meta = *graph.meta();
        let m = meta.m as usize;
        let mut tids: Vec<Vec<Tid>> = lists
            .iter()
            .map(|l| l.iter().map(|s| s.node).collect())
            .collect();
        // A new entry point links on layer 0 to the one it will replace,
        // so everything reachable from the old one stays reachable (own
        // choices ≤ m, so the 2m slots have room).
        let old_entry = meta.entry;
        if self.level() > meta.entry_level as usize
            && old_entry.is_valid()
            && placed.map(|p| p.0) != Some(old_entry)
        {
            if !tids[0].contains(&old_entry) {
                tids[0].push(old_entry);
            }
            self.relied.insert(old_entry);
        }
        let mut own = lists[0].clone();
        own.sort_by(|a, b| b.dist.total_cmp(&a.dist));
        self.own = own.into_iter().map(|s| s.node).collect();
        self.at = match placed {
            None => self.place(&meta, &tids)?,
            Some(at) => {
                self.rewrite_own(at, &tids, m)?;
                at
            }
        };
        let element = self.at.0;
        self.vectors.put(element, self.element.clone());
        let mut anchored = false;
        for (level, list) in lists.iter().enumerate() {
            for s in list {
                let linked = self.link_back(graph.pages(), m, s.node, s.dist, level)?;
                anchored |= level == 0 && linked;
            }
        }
        if !anchored {
            self.anchor(graph.pages(), m, &lists[0], old_entry)?;
        }
        self.claim_entry_point()?;
        Ok(element)
    }

    /// The new element's neighbours on each of its levels (empty above the
    /// graph's top): greedy descent, then a beam of ef_construction per
    /// level and the heuristic with keepPrunedConnections, live elements
    /// only (and never `exclude`, the element itself).
    fn select(
        &mut self,
        graph: &PageGraph<'_, R, ByRef<'_, D>>,
        exclude: Option<Tid>,
    ) -> Result<Vec<Vec<Scored<Tid>>>, OnDiskError> {
        let meta = *graph.meta();
        let query = self.element.vector.clone();
        let mut lists = vec![Vec::new(); self.level() + 1];
        let Some(start) = search::descend(graph, &query, self.level()) else {
            return Ok(lists);
        };
        let mut entries = vec![start];
        for level in (0..=self.level().min(meta.entry_level as usize)).rev() {
            let found =
                search::search_layer(graph, &query, &entries, meta.ef_construction.into(), level);
            self.vectors.trim();
            let mut candidates = Vec::with_capacity(found.len());
            for s in &found {
                let live = self
                    .vectors
                    .load(graph.pages(), s.node)?
                    .is_some_and(|e| !e.deleted);
                if live && Some(s.node) != exclude {
                    candidates.push(*s);
                }
            }
            sort_candidates(self.element.heap_tid, &mut candidates);
            let pair = |a, b| self.vectors.pair(self.metric, a, b);
            let twin = |t| self.vectors.is_twin(t, &query);
            lists[level] = select_neighbours(&candidates, meta.m.into(), true, pair, twin);
            if !found.is_empty() {
                entries = found;
            }
        }
        Ok(lists)
    }

    /// Writes the element and its neighbour tuple on one page, or, when
    /// they do not fit one (neighbour codes of wide vectors), on a page
    /// each: the neighbour tuple first, so that the element never points
    /// at a tuple not yet written (a crash in between leaves a neighbour
    /// tuple no element points at, which nothing reads). Returns (element,
    /// neighbour tuple).
    fn place(&self, meta: &Meta, lists: &[Vec<Tid>]) -> Result<(Tid, Tid), OnDiskError> {
        let fill = |t: Tid, out: &mut [u8]| self.code_of(None, t, out);
        let neighbours = NeighbourTuple {
            slots: lists.to_vec(),
        }
        .encode(meta.m.into(), code_len(meta), &fill)?;
        let (elen, nlen) = (ElementTuple::encoded_len(self.element.vector.len()), neighbours.len());
        let mut empty = [0u8; BLCKSZ];
        init_graph_page(&mut empty);
        if pair_fits(&empty, elen, nlen) {
            if let Some(at) = take_over_freed(self.rel, meta, &self.element, &neighbours)? {
                return Ok(at);
            }
            let add = |page: &mut Page, blk| add_pair(page, blk, &self.element, &neighbours);
            return self.put(meta, &|page| pair_fits(page, elen, nlen), &add);
        }
        if !page::fits(&empty, elen) || !page::fits(&empty, nlen) {
            return Err(OnDiskError::TupleTooLarge(elen.max(nlen)));
        }
        if let Some(at) = take_over_freed(self.rel, meta, &self.element, &neighbours)? {
            return Ok(at);
        }
        let at = self.put(meta, &|page| page::fits(page, nlen), &|page, blk| add_one(page, blk, &neighbours))?;
        let element = ElementTuple {
            neighbours: at,
            ..self.element.clone()
        }
        .encode();
        let placed = self.put(meta, &|page| page::fits(page, elen), &|page, blk| add_one(page, blk, &element))?;
        Ok((placed, at))
    }

    /// Adds tuples with `add` to the metapage's `insert_blk` if `fits`
    /// says they fit there, else to a new page (then recorded as
    /// `insert_blk`).
    fn put<T>(&self, meta: &Meta, fits: &dyn Fn(&Page) -> bool, add: &dyn Fn(&mut Page, u32) -> T) -> Result<T, OnDiskError> {
        let mut blk = meta.insert_blk;
        for _ in 0..2 {
            if let Some(at) = self.put_on(blk, fits, add) {
                return Ok(at);
            }
            // Another insert may have added a page meanwhile.
            let now = read_meta(self.rel)?.insert_blk;
            if now == blk {
                break;
            }
            blk = now;
        }
        let (blk, mut guard) = self.rel.extend();
        init_graph_page(&mut guard);
        let at = add(&mut guard, blk);
        drop(guard);
        update_meta(self.rel, |m| {
            let newer = m.insert_blk == u32::MAX || m.insert_blk < blk;
            if newer {
                m.insert_blk = blk;
            }
            newer
        })?;
        Ok(at)
    }

    /// Adds tuples with `add` to graph page `blk` if `fits` says they fit.
    fn put_on<T>(&self, blk: u32, fits: &dyn Fn(&Page) -> bool, add: &dyn Fn(&mut Page, u32) -> T) -> Option<T> {
        if blk == 0 || blk == u32::MAX || blk >= self.rel.nblocks() {
            return None;
        }
        let mut guard = self.rel.write(blk);
        if page::is_new(&guard) {
            init_graph_page(&mut guard);
        }
        let fits = is_graph_page(&guard) && fits(&guard);
        fits.then(|| add(&mut guard, blk))
    }

    /// Overwrites the neighbour tuple of an element placed earlier, still
    /// unreachable (so no other writer touches it).
    fn rewrite_own(&self, at: (Tid, Tid), lists: &[Vec<Tid>], m: usize) -> Result<(), OnDiskError> {
        let mut guard = self.rel.write(at.1.blk);
        let bytes = live_item_mut(&mut guard, at.1.off)
            .map_err(|e| corrupt_at(at.1, e))?
            .ok_or_else(|| corrupt_at(at.1, "the new element's neighbour tuple is gone"))?;
        for (level, list) in lists.iter().enumerate() {
            let fill = |t: Tid, out: &mut [u8]| self.code_of(None, t, out);
            NeighbourTuple::write_level(bytes, level, m, list, &fill)
                .map_err(|e| corrupt_at(at.1, e))?;
        }
        Ok(())
    }

    /// `node`'s neighbour tuple and its list on `level`, if `node` is a
    /// live element with that level.
    fn read_list(
        &self,
        pages: &Pages<'_, R>,
        m: usize,
        node: Tid,
        level: usize,
    ) -> Result<Option<(Tid, Vec<Tid>)>, OnDiskError> {
        let Some(header) = pages.element_header(node)? else {
            return Ok(None);
        };
        if header.deleted {
            return Ok(None);
        }
        let at = header.neighbours;
        let Some(mut tuple) = pages.neighbour_tuple(at, m)? else {
            return Ok(None);
        };
        Ok(tuple.slots.get_mut(level).map(|l| (at, std::mem::take(l))))
    }

    /// Makes the new element link to `w` on layer 0 before a write drops
    /// `w` from another list (see [`super::links`]). Appended if there is
    /// room; else, if `may_replace`, written over the farthest of its own
    /// choices that nothing relies on. Those were placed before this
    /// insert searched, so none of them can be an insert that linked
    /// itself through the new element (which it could not have found),
    /// and no other writer relies on a link it did not write itself.
    fn adopt(&mut self, w: Tid, may_replace: bool) -> Result<bool, OnDiskError> {
        let m = self.m;
        let replaceable: Vec<Tid> = if may_replace {
            let relied = &self.relied;
            self.own
                .iter()
                .copied()
                .filter(|x| !relied.contains(x))
                .collect()
        } else {
            Vec::new()
        };
        let (element, at) = self.at;
        let fill = |t: Tid, out: &mut [u8]| self.code_of(None, t, out);
        adopt(self.rel, m, element, at, w, &replaceable, &fill)
    }

    /// Adds the new element to `node`'s list on `level`: appended when
    /// there is room, else the heuristic over the live current neighbours
    /// and the new element (on layer 0 filled up with the closest pruned,
    /// so at most one live neighbour is dropped, and the new element
    /// adopts it first). Read first, then written only if the list is
    /// unchanged; retried. Returns whether the list holds the new element.
    fn link_back(
        &mut self,
        pages: &Pages<'_, R>,
        m: usize,
        node: Tid,
        dist: f32,
        level: usize,
    ) -> Result<bool, OnDiskError> {
        let new = self.at.0;
        for _ in 0..WRITE_ATTEMPTS {
            let Some((at, current)) = self.read_list(pages, m, node, level)? else {
                return Ok(false);
            };
            if current.contains(&new) {
                return Ok(true);
            }
            let mut adopted = Vec::new();
            let desired = if current.len() < capacity(level, m) {
                None
            } else {
                let kept = self.trim_list(pages, node, &current, dist, level, m)?;
                if !kept.contains(&new) {
                    return Ok(false);
                }
                if level == 0 {
                    for &w in current.iter().filter(|t| !kept.contains(t)) {
                        if self.vectors.get(w).is_some_and(|e| !e.deleted) {
                            if !self.adopt(w, false)? {
                                // The new element's list is full: skip
                                // this back-link rather than drop `w`.
                                return Ok(false);
                            }
                            adopted.push(w);
                        }
                    }
                }
                Some(kept)
            };
            self.vectors.load(pages, node)?;
            let fill = |t: Tid, out: &mut [u8]| self.code_of(Some(node), t, out);
            match write_list(self.rel, m, at, level, &current, desired, new, &fill)? {
                Written::Done => {
                    self.relied.extend(adopted);
                    return Ok(true);
                }
                Written::Gone => return Ok(false),
                Written::Changed => {}
            }
        }
        Ok(false)
    }

    /// The heuristic over `node`'s live neighbours and the new element,
    /// `capacity(level)` at most: without keepPrunedConnections on upper
    /// layers, with it on layer 0 (so a full list of live neighbours drops
    /// exactly one of them, or the new element).
    fn trim_list(
        &mut self,
        pages: &Pages<'_, R>,
        node: Tid,
        current: &[Tid],
        dist: f32,
        level: usize,
        m: usize,
    ) -> Result<Vec<Tid>, OnDiskError> {
        let new = self.at.0;
        self.vectors.trim();
        self.vectors.put(new, self.element.clone());
        for &t in current.iter().chain([&node]) {
            self.vectors.load(pages, t)?;
        }
        let mut candidates: Vec<Scored<Tid>> = current
            .iter()
            .filter(|&&t| self.vectors.get(t).is_some_and(|e| !e.deleted))
            .map(|&t| Scored {
                dist: self.vectors.pair(self.metric, node, t),
                node: t,
            })
            .chain(std::iter::once(Scored { dist, node: new }))
            .collect();
        sort_candidates(node, &mut candidates);
        let pair = |a, b| self.vectors.pair(self.metric, a, b);
        let base = self.vectors.get(node).map(|e| e.vector.as_slice());
        let twin = |t| base.is_some_and(|v| self.vectors.is_twin(t, v));
        let kept = select_neighbours(&candidates, capacity(level, m), level == 0, pair, twin);
        Ok(kept.into_iter().map(|s| s.node).collect())
    }

    /// Gives the new element a layer-0 in-link when no back-link did (it
    /// was pruned from every list, or every write was skipped): from its
    /// closest chosen neighbour that takes it (the entry point last),
    /// appended if there is room, else written over that neighbour's
    /// farthest one, which the new element adopts first.
    fn anchor(
        &mut self,
        pages: &Pages<'_, R>,
        m: usize,
        chosen: &[Scored<Tid>],
        entry: Tid,
    ) -> Result<bool, OnDiskError> {
        let new = self.at.0;
        let mut targets = chosen.to_vec();
        targets.sort_by(|a, b| a.dist.total_cmp(&b.dist));
        let mut targets: Vec<Tid> = targets.into_iter().map(|s| s.node).collect();
        if entry.is_valid() && entry != new && !targets.contains(&entry) {
            targets.push(entry);
        }
        for r in targets {
            for _ in 0..WRITE_ATTEMPTS {
                let Some((at, current)) = self.read_list(pages, m, r, 0)? else {
                    break;
                };
                if current.contains(&new) {
                    return Ok(true);
                }
                let mut dropped = None;
                let desired = if current.len() < capacity(0, m) {
                    None
                } else {
                    let w = self.vectors.farthest(pages, self.metric, r, &current)?;
                    if self.vectors.get(w).is_some_and(|e| !e.deleted) {
                        if !self.adopt(w, true)? {
                            break;
                        }
                        dropped = Some(w);
                    }
                    Some(
                        current
                            .iter()
                            .map(|&t| if t == w { new } else { t })
                            .collect(),
                    )
                };
                self.vectors.load(pages, r)?;
                let fill = |t: Tid, out: &mut [u8]| self.code_of(Some(r), t, out);
                match write_list(self.rel, m, at, 0, &current, desired, new, &fill)? {
                    Written::Done => {
                        self.relied.extend(dropped);
                        return Ok(true);
                    }
                    Written::Gone => break,
                    Written::Changed => {}
                }
            }
        }
        Ok(false)
    }

    /// Makes the new element the entry point if its level is above the
    /// current entry's, after linking it on layer 0 to that entry if it
    /// is not the one linked at placement (it moved meanwhile); the
    /// metapage is written only if the entry is still the one linked to
    /// (except on the last attempt, which claims it regardless).
    fn claim_entry_point(&mut self) -> Result<(), OnDiskError> {
        let (element, level) = (self.at.0, self.level());
        for attempt in 1..=WRITE_ATTEMPTS {
            let now = read_meta(self.rel)?;
            if now.entry.is_valid() && level <= now.entry_level as usize {
                return Ok(());
            }
            if now.entry.is_valid()
                && !self.relied.contains(&now.entry)
                && self.adopt(now.entry, true)?
            {
                self.relied.insert(now.entry);
            }
            let last = attempt == WRITE_ATTEMPTS;
            let claimed = update_meta(self.rel, |m| {
                let take = (last || m.entry == now.entry)
                    && (!m.entry.is_valid() || level > m.entry_level as usize);
                if take {
                    m.entry = element;
                    m.entry_level = level as u8;
                }
                take
            })?;
            if claimed {
                return Ok(());
            }
        }
        Ok(())
    }
}
