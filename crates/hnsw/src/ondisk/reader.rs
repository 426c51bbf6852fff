//! Reading the graph on pages through [`RelationRead`]: [`PageGraph`] for
//! scans, and the page access shared with insert, vacuum and verify.
//!
//! A TID on an existing page whose line pointer is past the last one,
//! `LP_UNUSED` or `LP_DEAD` is "no such tuple" (skipped: a concurrent
//! vacuum may have removed it). A TID past the end of the relation, any
//! other bad line pointer, or an undecodable tuple is corruption.

use std::cell::{Cell, RefCell};

use pagestore::page::{self, LP_DEAD, LP_UNUSED};
use pagestore::{FormatError, Page, PageError, RelationRead};

use super::codes::{coder_for_read, LinkCoder, LinkQuery};
use super::tuples::{with_f32s, ElementTuple, Meta, NeighbourTuple, Tid};
use super::OnDiskError;
use crate::metric::Distance;
use crate::search::{self, GraphView, Lists, ScanOrder, SearchIter};

/// The bytes of item `off`, or `None` when there is no such tuple (offset
/// past the last line pointer, `LP_UNUSED`, `LP_DEAD`).
pub(crate) fn live_item(page: &Page, off: u16) -> Result<Option<&[u8]>, PageError> {
    match page::item(page, off) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(PageError::NoSuchItem { .. })
        | Err(PageError::NotNormal {
            flags: LP_UNUSED | LP_DEAD,
            ..
        }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Mutable bytes of item `off`, or `None` when there is no such tuple.
pub(crate) fn live_item_mut(page: &mut Page, off: u16) -> Result<Option<&mut [u8]>, PageError> {
    if live_item(page, off)?.is_none() {
        return Ok(None);
    }
    page::item_mut(page, off).map(Some)
}

/// A corruption error located at `tid`.
pub(crate) fn corrupt_at(tid: Tid, what: impl std::fmt::Display) -> OnDiskError {
    OnDiskError::Corrupted(format!("block {} item {}: {what}", tid.blk, tid.off))
}

/// Page access with a cached relation size (asking Postgres for it costs
/// a system call, so only when a block is past the cached size).
pub(crate) struct Pages<'r, R> {
    rel: &'r R,
    nblocks: Cell<u32>,
}

impl<'r, R: RelationRead> Pages<'r, R> {
    pub(crate) fn new(rel: &'r R) -> Self {
        Self {
            rel,
            nblocks: Cell::new(rel.nblocks()),
        }
    }

    pub(crate) fn rel(&self) -> &'r R {
        self.rel
    }

    /// Fails if `blk` is past the end of the relation.
    pub(crate) fn check_block(&self, blk: u32) -> Result<(), OnDiskError> {
        if blk >= self.nblocks.get() {
            self.nblocks.set(self.rel.nblocks());
            if blk >= self.nblocks.get() {
                return Err(OnDiskError::Corrupted(format!("block {blk} past the end")));
            }
        }
        Ok(())
    }

    /// Calls `f` with block `blk` under a share lock.
    pub(crate) fn with_page<T>(
        &self,
        blk: u32,
        f: impl FnOnce(&Page) -> T,
    ) -> Result<T, OnDiskError> {
        self.check_block(blk)?;
        let guard = self.rel.read(blk);
        Ok(f(&guard))
    }

    /// Decodes the tuple at `tid` with `f` under a share lock; `None` when
    /// there is no such tuple.
    pub(crate) fn with_decoded<T>(
        &self,
        tid: Tid,
        f: impl FnOnce(&[u8]) -> Result<T, FormatError>,
    ) -> Result<Option<T>, OnDiskError> {
        let found = self.with_page(tid.blk, |page| match live_item(page, tid.off) {
            Ok(Some(bytes)) => f(bytes).map(Some).map_err(|e| corrupt_at(tid, e)),
            Ok(None) => Ok(None),
            Err(e) => Err(corrupt_at(tid, e)),
        })?;
        found
    }

    /// The element at `tid` with its vector in `vector`, checked against
    /// `dims` (unless 0).
    pub(crate) fn element(
        &self,
        tid: Tid,
        dims: usize,
        vector: &mut Vec<f32>,
    ) -> Result<Option<ElementTuple>, OnDiskError> {
        let element = self.with_decoded(tid, |b| ElementTuple::decode_into(b, vector))?;
        if element.is_some() && dims != 0 && vector.len() != dims {
            return Err(corrupt_at(
                tid,
                "element dimensions differ from the metapage",
            ));
        }
        Ok(element)
    }

    /// The element at `tid` without its vector.
    pub(crate) fn element_header(&self, tid: Tid) -> Result<Option<ElementTuple>, OnDiskError> {
        self.with_decoded(tid, ElementTuple::decode_header)
    }

    /// Every level's neighbours from the neighbour tuple at `tid`.
    pub(crate) fn neighbour_tuple(
        &self,
        tid: Tid,
        m: usize,
    ) -> Result<Option<NeighbourTuple>, OnDiskError> {
        self.with_decoded(tid, |b| NeighbourTuple::decode(b, m))
    }
}

/// Reads and checks the metapage (MAGIC, VERSION).
pub(crate) fn read_meta<R: RelationRead>(rel: &R) -> Result<Meta, OnDiskError> {
    if rel.nblocks() == 0 {
        return Err(OnDiskError::BadInput("index has no metapage"));
    }
    let guard = rel.read(0);
    page::check_header(&guard)?;
    Ok(Meta::decode(page::item(&guard, 1)?)?)
}

/// How many elements ahead [`PageGraph`] prefetches while scoring.
const PREFETCH_AHEAD: usize = 2;

/// A read-only view of an on-page graph, for one scan at a time (it keeps
/// scratch buffers; make one per scan or per backend).
///
/// Deleted elements are traversed but never returned by [`PageGraph::search`];
/// scans through [`PageGraph::search_iter`] map nodes with
/// [`PageGraph::live_heap_tid`] and skip `None`. Neighbour TIDs whose tuple
/// is gone (`LP_UNUSED`, `LP_DEAD`, offset past the end of the page) are
/// skipped. Corruption (undecodable tuple, block past the end, any other
/// bad line pointer) panics with a message starting
/// `ember_hnsw index corrupted:`; under `#[pg_guard]` that is an ERROR.
///
/// When the index stores neighbour codes ([`super::codes`]), searches
/// skip reading the neighbours whose code says they could not enter the
/// results (see [`GraphView::neighbours_bounded`]);
/// [`PageGraph::set_code_pruning`] turns that off.
pub struct PageGraph<'r, R, D> {
    pages: Pages<'r, R>,
    metric: D,
    meta: Meta,
    vector: RefCell<Vec<f32>>,
    coder: Option<LinkCoder>,
    prune: Cell<bool>,
    /// `ε₀` of the bounds ([`PageGraph::set_careful_bounds`]).
    epsilon0: Cell<Option<f64>>,
    /// [`PageGraph::set_careful_after_first_batch`].
    careful_later: Cell<bool>,
    /// The last query prepared against the codes, with a copy of it.
    link_query: RefCell<Option<(Vec<f32>, LinkQuery)>>,
}

fn corrupted(e: OnDiskError) -> ! {
    match e {
        OnDiskError::Corrupted(what) => panic!("ember_hnsw index corrupted: {what}"),
        e => panic!("ember_hnsw index corrupted: {e}"),
    }
}

fn or_corrupted<T>(r: Result<T, OnDiskError>) -> T {
    r.unwrap_or_else(|e| corrupted(e))
}

impl<'r, R: RelationRead, D: Distance> PageGraph<'r, R, D> {
    /// Opens the index: reads and checks the metapage (MAGIC, VERSION).
    pub fn open(rel: &'r R, metric: D) -> Result<Self, OnDiskError> {
        let meta = read_meta(rel)?;
        Ok(Self::with_meta(rel, metric, meta))
    }

    /// Opens the index with the metric `make` chooses from the metapage
    /// (e.g. one that reads the codes the metapage says are stored).
    pub fn open_with(rel: &'r R, make: impl FnOnce(&Meta) -> D) -> Result<Self, OnDiskError> {
        let meta = read_meta(rel)?;
        let metric = make(&meta);
        Ok(Self::with_meta(rel, metric, meta))
    }

    /// A view using `meta` as read by the caller.
    pub(crate) fn with_meta(rel: &'r R, metric: D, meta: Meta) -> Self {
        Self {
            pages: Pages::new(rel),
            metric,
            meta,
            vector: RefCell::new(Vec::with_capacity(meta.dims as usize)),
            coder: coder_for_read(rel, &meta),
            prune: Cell::new(true),
            epsilon0: Cell::new(None),
            careful_later: Cell::new(false),
            link_query: RefCell::new(None),
        }
    }

    /// Whether searches skip elements by their neighbour codes (on by
    /// default; no effect on an index without codes).
    pub fn set_code_pruning(&self, on: bool) {
        self.prune.set(on);
    }

    /// Careful bounds ([`PageGraph::set_careful_bounds`]) from the second
    /// batch of a [`SearchIter`] on, for iterative scans: the first batch
    /// is then the plain search (all an unfiltered `LIMIT` within
    /// `ef_search` ever reads, as fast as without iterative scans), and
    /// the batches a filter makes the scan go on to bound carefully. Off
    /// by default.
    pub fn set_careful_after_first_batch(&self, on: bool) {
        self.careful_later.set(on);
    }

    /// Bounds that fail less often, for scans that go past their first
    /// batch ([`super::ITERATIVE_EPSILON0`]; they read more
    /// elements). Off by default.
    pub fn set_careful_bounds(&self, on: bool) {
        let epsilon0 = on.then_some(super::codes::ITERATIVE_EPSILON0);
        if self.epsilon0.replace(epsilon0) != epsilon0 {
            self.link_query.replace(None);
        }
    }

    /// Whether the index stores neighbour codes.
    pub fn has_codes(&self) -> bool {
        self.coder.is_some()
    }

    /// The metapage contents (as read by [`PageGraph::open`]).
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    pub(crate) fn pages(&self) -> &Pages<'r, R> {
        &self.pages
    }

    /// The heap TID indexed by element `node`, deleted or not;
    /// [`Tid::INVALID`] if there is no element tuple there any more.
    pub fn heap_tid(&self, node: Tid) -> Tid {
        or_corrupted(self.pages.element_header(node)).map_or(Tid::INVALID, |e| e.heap_tid)
    }

    /// The heap TID indexed by element `node`, or `None` if the element is
    /// deleted (or gone): scans skip those.
    pub fn live_heap_tid(&self, node: Tid) -> Option<Tid> {
        or_corrupted(self.pages.element_header(node))
            .filter(|e| !e.deleted)
            .map(|e| e.heap_tid)
    }

    /// `f(heap TID, stored vector)` of element `node`, or `None` if the
    /// element is deleted (or gone): for scans that need more of a result
    /// than its heap TID (e.g. the error bounds stored with a code).
    pub fn live_element<T>(&self, node: Tid, f: impl FnOnce(Tid, &[f32]) -> T) -> Option<T> {
        let mut scratch = self.vector.borrow_mut();
        let found = self.pages.with_decoded(node, |bytes| {
            let (element, raw) = ElementTuple::decode_view(bytes)?;
            Ok((!element.deleted).then(|| with_f32s(raw, &mut scratch, |v| f(element.heap_tid, v))))
        });
        or_corrupted(found).flatten()
    }

    /// The `k` nearest live elements with beam width `ef` (at least `k`),
    /// as `(heap TID, distance)`, closest first.
    pub fn search(&self, query: &[f32], k: usize, ef: usize) -> Vec<(Tid, f32)> {
        // One batch: plain bounds, whatever an iterative scan before left.
        self.batch_starts(true);
        let Some(entry) = search::descend(self, query, 0) else {
            return Vec::new();
        };
        search::search_layer(self, query, &[entry], ef.max(k), 0)
            .into_iter()
            .filter_map(|s| self.live_heap_tid(s.node).map(|t| (t, s.dist)))
            .take(k)
            .collect()
    }

    /// An incremental scan over element TIDs, deleted ones included: map
    /// them with [`PageGraph::live_heap_tid`] and skip `None`.
    pub fn search_iter(&self, query: &[f32], ef: usize, order: ScanOrder) -> SearchIter<'_, Self> {
        SearchIter::new(self, query, ef, order)
    }

    /// Runs `read(i, node)` over `nodes` in order, as a pipeline so that
    /// their cache misses overlap instead of following one another:
    /// `2 * PREFETCH_AHEAD` elements ahead, the buffer header and line
    /// pointer are prefetched (no pin); `PREFETCH_AHEAD` ahead, the line
    /// pointer is read and the tuple (header and vector) prefetched.
    fn pipelined(&self, nodes: &[Tid], mut read: impl FnMut(usize, Tid)) {
        for (i, &n) in nodes.iter().take(2 * PREFETCH_AHEAD).enumerate() {
            self.prefetch_line_pointer(n);
            if i < PREFETCH_AHEAD {
                self.prefetch_element(n);
            }
        }
        for (i, &n) in nodes.iter().enumerate() {
            if let Some(&far) = nodes.get(i + 2 * PREFETCH_AHEAD) {
                self.prefetch_line_pointer(far);
            }
            if let Some(&next) = nodes.get(i + PREFETCH_AHEAD) {
                self.prefetch_element(next);
            }
            read(i, n);
        }
    }

    /// The distance from `query` to the element tuple `bytes`, computed on
    /// the page bytes when they are aligned, and the TID of its neighbour
    /// tuple.
    fn element_distance(&self, query: &[f32], bytes: &[u8], scratch: &mut Vec<f32>) -> Result<(f32, Tid), FormatError> {
        let (element, raw) = ElementTuple::decode_view(bytes)?;
        let dims = self.meta.dims as usize;
        if dims != 0 && raw.len() != 4 * dims {
            return Err(FormatError::Invalid("element dimensions differ from the metapage"));
        }
        let dist = with_f32s(raw, scratch, |v| self.metric.distance_or_inf(query, v));
        Ok((dist, element.neighbours))
    }

    /// The query prepared against the neighbour codes (kept for the last
    /// query), or `None` when the index has no codes or pruning is off.
    fn link_query(&self, query: &[f32]) -> Option<std::cell::Ref<'_, LinkQuery>> {
        let coder = self.coder.as_ref().filter(|_| self.prune.get())?;
        {
            let mut cached = self.link_query.borrow_mut();
            // Compared as bytes (a memcmp, where comparing as floats was
            // 2% of a 384-d scan); bytes that differ only where the floats
            // are equal (0.0 and -0.0) merely prepare the query again.
            let same = |q: &[f32]| bytemuck::cast_slice::<f32, u8>(q) == bytemuck::cast_slice::<f32, u8>(query);
            if cached.as_ref().is_none_or(|(q, _)| !same(q)) {
                let prepared = match self.epsilon0.get() {
                    Some(epsilon0) => coder.query_with_epsilon(query, epsilon0),
                    None => coder.query(query),
                };
                *cached = Some((query.to_vec(), prepared));
            }
        }
        Some(std::cell::Ref::map(self.link_query.borrow(), |c| &c.as_ref().expect("prepared above").1))
    }

    /// Starts bringing the page header and line pointer of element `node`
    /// (and its buffer's header) into the cache, without pinning its page.
    fn prefetch_line_pointer(&self, node: Tid) {
        self.pages.rel().prefetch(node.blk, 0..page::line_pointer_offset(node.off) + 4);
    }

    /// Starts bringing element `node`'s tuple into the cache, without
    /// pinning its page. Only a hint: a bad block or line pointer is
    /// reported when the element is read.
    fn prefetch_element(&self, node: Tid) {
        self.pages.rel().prefetch_item(node.blk, node.off);
    }

    /// Calls `decode` with the bytes of `node`'s neighbour tuple: under
    /// one lock when it is on the element's page (the usual case); not at
    /// all when either tuple is gone.
    fn with_neighbour_tuple(
        &self,
        node: Tid,
        mut decode: impl FnMut(&[u8]) -> Result<(), FormatError>,
    ) -> Result<(), OnDiskError> {
        let found = self.pages.with_page(node.blk, |page| -> Result<Option<Tid>, OnDiskError> {
            let Some(bytes) = live_item(page, node.off).map_err(|e| corrupt_at(node, e))? else {
                return Ok(None);
            };
            let element = ElementTuple::decode_header(bytes).map_err(|e| corrupt_at(node, e))?;
            let at = element.neighbours;
            if at.blk != node.blk {
                return Ok(Some(at));
            }
            if let Some(bytes) = live_item(page, at.off).map_err(|e| corrupt_at(at, e))? {
                decode(bytes).map_err(|e| corrupt_at(at, e))?;
            }
            Ok(None)
        })??;
        if let Some(at) = found {
            self.pages.with_decoded(at, &mut decode)?;
        }
        Ok(())
    }
}

impl<R: RelationRead, D: Distance> GraphView for PageGraph<'_, R, D> {
    type Node = Tid;

    fn entry_point(&self) -> Option<(Tid, usize)> {
        self.meta
            .entry
            .is_valid()
            .then_some((self.meta.entry, self.meta.entry_level as usize))
    }

    /// With [`PageGraph::set_careful_after_first_batch`]: plain bounds in
    /// a scan's first batch, careful ones after it.
    fn batch_starts(&self, first: bool) {
        if self.careful_later.get() {
            self.set_careful_bounds(!first);
        }
    }

    /// The distance, computed on the page bytes when they are aligned;
    /// `+inf` for an element that is gone.
    fn distance(&self, query: &[f32], node: Tid) -> f32 {
        let mut scratch = self.vector.borrow_mut();
        let found = self.pages.with_decoded(node, |bytes| self.element_distance(query, bytes, &mut scratch));
        or_corrupted(found).map_or(f32::INFINITY, |(dist, _)| dist)
    }

    /// A pipeline over the elements (see [`PageGraph::pipelined`]).
    fn distances(&self, query: &[f32], nodes: &[Tid], out: &mut Vec<f32>) {
        out.clear();
        self.pipelined(nodes, |_, n| out.push(self.distance(query, n)));
    }

    /// Each element and, when it is expanded, its list on the same page
    /// are read under one lock (the list on another page, in wide
    /// indexes, under a second), in a pipeline over the elements.
    #[allow(clippy::too_many_arguments)]
    fn read_expanding(
        &self,
        query: &[f32],
        nodes: &[Tid],
        level: usize,
        expand_below: f32,
        fresh: &mut dyn FnMut(Tid) -> bool,
        dists: &mut Vec<f32>,
        lists: &mut Lists<Tid>,
    ) {
        dists.clear();
        lists.clear();
        let link_query = self.link_query(query);
        let m = self.meta.m as usize;
        let mut scratch = self.vector.borrow_mut();
        self.pipelined(nodes, |i, node| {
            // Set before the list is read: its codes may be relative to
            // this element.
            let owner = Cell::new(f32::INFINITY);
            let bound = |code: &[u8]| link_query.as_ref().map_or(f32::NEG_INFINITY, |q| q.lower_bound_in_list(code, owner.get()));
            let mut list = |bytes: &[u8]| {
                NeighbourTuple::append_level_bounded(bytes, level, m, &mut *fresh, bound, &mut lists.nodes, &mut lists.bounds)
            };
            let read = self.pages.with_page(node.blk, |page| -> Result<(f32, bool, Option<Tid>), OnDiskError> {
                let Some(bytes) = live_item(page, node.off).map_err(|e| corrupt_at(node, e))? else {
                    return Ok((f32::INFINITY, false, None));
                };
                let (dist, at) = self.element_distance(query, bytes, &mut scratch).map_err(|e| corrupt_at(node, e))?;
                // Never NaN: a NaN distance is `+inf`.
                if dist >= expand_below {
                    return Ok((dist, false, None));
                }
                owner.set(dist);
                if at.blk != node.blk {
                    return Ok((dist, true, Some(at)));
                }
                if let Some(bytes) = live_item(page, at.off).map_err(|e| corrupt_at(at, e))? {
                    list(bytes).map_err(|e| corrupt_at(at, e))?;
                }
                Ok((dist, true, None))
            });
            let (dist, expanded, elsewhere) = or_corrupted(read.and_then(|r| r));
            if let Some(at) = elsewhere {
                or_corrupted(self.pages.with_decoded(at, list));
            }
            if expanded {
                lists.expanded.push(i);
            }
            dists.push(dist);
        });
    }

    fn neighbours(&self, node: Tid, level: usize, out: &mut Vec<Tid>) {
        out.clear();
        let m = self.meta.m as usize;
        or_corrupted(self.with_neighbour_tuple(node, |b| NeighbourTuple::decode_level(b, level, m, out)));
    }

    /// In an index with codes, the bounds come from the codes stored with
    /// the list (on layer 0, and above where the tuple has them; the
    /// query is prepared once per query).
    fn neighbours_bounded(
        &self,
        query: &[f32],
        node: Tid,
        node_dist: f32,
        level: usize,
        fresh: &mut dyn FnMut(Tid) -> bool,
        out: &mut Vec<Tid>,
        bounds: &mut Vec<f32>,
    ) {
        let Some(link_query) = self.link_query(query) else {
            return search::unbounded_neighbours(self, node, level, fresh, out, bounds);
        };
        let m = self.meta.m as usize;
        out.clear();
        bounds.clear();
        let bound = |code: &[u8]| link_query.lower_bound_in_list(code, node_dist);
        or_corrupted(self.with_neighbour_tuple(node, |b| {
            NeighbourTuple::append_level_bounded(b, level, m, &mut *fresh, bound, out, bounds)
        }));
    }
}
