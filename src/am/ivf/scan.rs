//! Index scans: `ORDER BY col <op> $1` through the nearest lists.
//!
//! The first `amgettuple` ranks the lists by their centroid's distance to
//! the query and scores every entry of the `ember.ivf_probes` nearest ones;
//! rows come back in score order. With `ember.iterative_scan` on, the next
//! `ivf_probes` lists are scored when those run out, up to
//! `ember.ivf_max_probes` lists. `strict_order` also holds a row back
//! while a list not yet read could hold a nearer one (by the list's
//! radius: [`IvfIndex::list_bounds`]), reading further lists first, so
//! rows come in exact order and none is skipped.
//!
//! Entries holding full values are scored exactly. Entries holding SQ8
//! codes are scored with a provable lower bound of their distance, handed
//! to the executor with `xs_recheckorderby = true`: it computes the exact
//! distance from the table row and re-ranks (GiST's lossy-distance
//! protocol), so results come back in exact order.
//!
//! A multiembedding (MaxSim, `@#`) index holds one entry per document
//! token. Each query token probes its `ember.ivf_probes` nearest lists;
//! the hits give every row found an estimated MaxSim
//! ([`ivf::MaxSimHits`]), and the best `ember.maxsim_candidates` rows go
//! to the executor with the lower bound −∞, so it computes their exact
//! MaxSim and returns them in exact order once the index has no more rows.

use std::collections::BinaryHeap;

use ivf::Tid;
use pgrx::pg_sys;

use super::super::glue::{alloc_orderby_outputs, rescan_query};
use super::super::opclass::opclass_of;
use super::super::set_heap_tid;
use super::super::toast_peek::ToastPeek;
use super::super::words::{type_name, ElemKind, WordMetric};
use super::build::raise_ivf;
use super::index::IvfIndex;
use crate::gucs::{self, IterativeScan};
use crate::storage::{toast_memo, PgRelation};

/// A scored entry: sort key (the distance, or its lower bound), heap TID,
/// the bound to hand the executor when the entry is a code, and the
/// entry's place in the index (to read its value again when it is
/// returned, [`ToastPeek`]; invalid for MaxSim candidates).
type Scored = (f64, Tid, Option<f64>, Tid);

/// A [`Scored`] entry ordered so that a max-heap pops the nearest first
/// (ties by TID, so scans are deterministic). A heap, not a sorted list: a
/// query consumes a few dozen of the thousands of entries its lists hold.
struct Nearest(Scored);

impl Ord for Nearest {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.0 .0.total_cmp(&self.0 .0).then_with(|| other.0 .1.cmp(&self.0 .1))
    }
}

impl PartialOrd for Nearest {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Nearest {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Nearest {}

struct ScanState {
    rel: PgRelation,
    opclass: WordMetric,
    /// The query's vector (a multiembedding's tokens end to end).
    query: Option<Vec<f32>>,
    /// Dimensions of the query's vector (of each token).
    query_dims: usize,
    /// `ORDER BY col <op> NULL`: every distance is NULL, nothing to re-rank.
    null_query: bool,
    query_norm: f64,
    index: Option<IvfIndex>,
    /// Lists, nearest first, and how many were scored.
    order: Vec<usize>,
    probed: usize,
    /// For strict order: `unread_bound[i]`, the smallest key any entry of
    /// the lists `order[i..]` (those a scan may still read) can have.
    unread_bound: Vec<f64>,
    /// Scored entries of the lists probed so far, farthest first (popped).
    batch: BinaryHeap<Nearest>,
    /// The last key returned.
    last_key: f64,
    started: bool,
    /// Remembers returned rows' values by TOAST pointer (set by amgettuple).
    toast: Option<ToastPeek>,
}

impl ScanState {
    fn reset(&mut self) {
        self.index = None;
        self.order.clear();
        self.probed = 0;
        self.unread_bound.clear();
        self.batch.clear();
        self.last_key = f64::NEG_INFINITY;
        self.started = false;
        self.toast = None;
        toast_memo::forget();
    }

    /// Remembers the value of the entry at `at`, returned for heap row
    /// `heap`, while that is worth it ([`ToastPeek`]).
    fn remember(&mut self, at: Tid, heap: Tid) {
        let Some(peek) = self.toast.as_mut().filter(|p| p.active()) else {
            return;
        };
        let kept = ivf::read_entry(&self.rel, at, |entry_heap, words| {
            // A VACUUM may have put another entry there since.
            if entry_heap == heap {
                peek.keep(words);
            }
            entry_heap == heap
        });
        // Only an optimization: a page that cannot be read here is
        // reported by the scans and the verifier that need it.
        if matches!(kept, Ok(Some(true))) {
            peek.remember(heap);
        }
    }

    fn start(&mut self) {
        self.started = true;
        let index = IvfIndex::open(&self.rel, self.opclass);
        let dims = index.meta.dims as usize;
        if self.query.is_some() && self.query_dims != dims {
            crate::fmgr::raise(vectors::VectorError::dim_mismatch(type_name(self.opclass), dims, self.query_dims));
        }
        if self.opclass.kind == ElemKind::Multi {
            self.batch = maxsim_candidates(&self.rel, &index, self.query.as_deref().unwrap_or_default());
            self.index = Some(index);
            return;
        }
        let query = self.query.get_or_insert_with(|| vec![0.0; dims]);
        self.query_norm = f64::from(distance::norm_squared(query)).sqrt();
        self.order = index.lists_by_distance(query);
        if gucs::ITERATIVE_SCAN.get() == IterativeScan::StrictOrder {
            let bounds = index.list_bounds(query, self.query_norm);
            let readable = self.order.len().min(max_probes());
            self.unread_bound = vec![f64::INFINITY; self.order.len() + 1];
            for i in (0..readable).rev() {
                self.unread_bound[i] = self.unread_bound[i + 1].min(bounds[self.order[i]]);
            }
        }
        self.index = Some(index);
        self.probe(gucs::IVF_PROBES.get().max(1) as usize);
    }

    /// Scores the next `n` lists into the batch.
    fn probe(&mut self, n: usize) {
        let (Some(index), Some(query)) = (self.index.as_ref(), self.query.as_ref()) else {
            return;
        };
        let metric = index.metric;
        let words = index.meta.entry_words as usize;
        let norm = self.query_norm;
        let end = (self.probed + n).min(self.order.len());
        let mut scored_entries = std::mem::take(&mut self.batch).into_vec();
        for &list in &self.order[self.probed..end] {
            let head = index.lists[list].head_blk;
            let scored = ivf::scan_list_placed(&self.rel, head, words, |at, heap, stored| {
                let d = metric.query_distance(query, norm as f32, stored);
                let d = if d.is_nan() { f32::INFINITY } else { d };
                scored_entries.push(Nearest(if metric.sq8 {
                    let bound = metric.lower_bound(d, norm, stored);
                    (bound, heap, Some(bound), at)
                } else {
                    (f64::from(d), heap, None, at)
                }));
            });
            scored.unwrap_or_else(|e| raise_ivf(&self.rel, e));
        }
        self.probed = end;
        self.batch = BinaryHeap::from(scored_entries);
    }

    /// How many lists the scan may read in all.
    fn probe_limit(&self, mode: IterativeScan) -> usize {
        match mode {
            IterativeScan::Off => self.probed,
            _ => self.order.len().min(max_probes().max(self.probed)),
        }
    }

    fn next(&mut self) -> Option<Scored> {
        let mode = gucs::ITERATIVE_SCAN.get();
        let strict = mode == IterativeScan::StrictOrder && !self.unread_bound.is_empty();
        loop {
            let limit = self.probe_limit(mode);
            let more = self.probed < limit;
            let ready = match self.batch.peek() {
                None => false,
                Some(Nearest(top)) => !strict || !more || top.0 <= self.unread_bound[self.probed],
            };
            if ready {
                let Nearest(mut entry) = self.batch.pop()?;
                if strict && entry.0 < self.last_key {
                    // Only float rounding puts an entry of a list read later
                    // below one returned (the list bounds say so): keep the
                    // order; the bound still holds.
                    entry.0 = self.last_key;
                    entry.2 = entry.2.map(|_| self.last_key);
                }
                self.last_key = entry.0;
                return Some(entry);
            }
            if !more {
                return None;
            }
            self.probe((gucs::IVF_PROBES.get().max(1) as usize).min(limit - self.probed));
        }
    }
}

fn max_probes() -> usize {
    gucs::IVF_MAX_PROBES.get().max(1) as usize
}

/// The rows a MaxSim query re-ranks: the `ember.maxsim_candidates` best
/// estimates from the hits of each query token in its nearest lists, as
/// batch entries whose distance bound is −∞.
fn maxsim_candidates(rel: &PgRelation, index: &IvfIndex, query: &[f32]) -> BinaryHeap<Nearest> {
    let dims = index.meta.dims as usize;
    // No query tokens (or a NULL query): every row scores the same; one
    // zero token still gathers rows for the LIMIT.
    let zero = vec![0.0; dims];
    let tokens: Vec<&[f32]> = if query.is_empty() { vec![&zero] } else { query.chunks_exact(dims).collect() };
    let probes = gucs::IVF_PROBES.get().max(1) as usize;
    // The query tokens probing each list, so each list is read once.
    let mut probing: std::collections::BTreeMap<usize, Vec<usize>> = Default::default();
    for (i, token) in tokens.iter().enumerate() {
        for &list in index.lists_by_distance(token).iter().take(probes) {
            probing.entry(list).or_default().push(i);
        }
    }
    let mut hits = ivf::MaxSimHits::new(tokens.len());
    let words = index.meta.entry_words as usize;
    for (&list, probing_tokens) in &probing {
        let scored = ivf::scan_list(rel, index.lists[list].head_blk, words, |heap, stored| {
            for &i in probing_tokens {
                hits.record(heap, i, index.metric.stored_dot(tokens[i], stored));
            }
        });
        scored.unwrap_or_else(|e| raise_ivf(rel, e));
    }
    let candidates = gucs::MAXSIM_CANDIDATES.get().max(1) as usize;
    hits.ranked()
        .into_iter()
        .take(candidates)
        .map(|(tid, _)| Nearest((f64::NEG_INFINITY, tid, Some(f64::NEG_INFINITY), Tid::INVALID)))
        .collect()
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambeginscan(index: pg_sys::Relation, nkeys: i32, norderbys: i32) -> pg_sys::IndexScanDesc {
    // SAFETY: index is open for the scan's duration; RelationGetIndexScan
    // returns a palloc'd descriptor.
    unsafe {
        let scan = pg_sys::RelationGetIndexScan(index, nkeys, norderbys);
        let state = ScanState {
            rel: PgRelation::main(index),
            opclass: opclass_of(index),
            query: None,
            query_dims: 0,
            null_query: true,
            query_norm: 0.0,
            index: None,
            order: Vec::new(),
            probed: 0,
            unread_bound: Vec::new(),
            batch: BinaryHeap::new(),
            last_key: f64::NEG_INFINITY,
            started: false,
            toast: None,
        };
        (*scan).opaque = crate::am::owned_by_memory_context(state).cast();
        alloc_orderby_outputs(scan, norderbys);
        scan
    }
}

/// The scan state.
///
/// # Safety
/// `scan` was started by [`ambeginscan`] and not yet ended.
unsafe fn state<'a>(scan: pg_sys::IndexScanDesc) -> &'a mut ScanState {
    // SAFETY: forwarded contract.
    unsafe { crate::am::owned_mut::<ScanState>((*scan).opaque.cast()) }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amrescan(
    scan: pg_sys::IndexScanDesc,
    _keys: pg_sys::ScanKey,
    _nkeys: i32,
    orderbys: pg_sys::ScanKey,
    norderbys: i32,
) {
    // SAFETY: scan is ours; orderbys has norderbys entries of the opclass type.
    unsafe {
        let s = state(scan);
        s.reset();
        let query = rescan_query(scan, s.opclass, orderbys, norderbys);
        s.null_query = query.is_none();
        (s.query, s.query_dims) = match query {
            Some((words, dims)) => (Some(words), dims),
            None => (None, 0),
        };
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amgettuple(scan: pg_sys::IndexScanDesc, direction: pg_sys::ScanDirection::Type) -> bool {
    if direction != pg_sys::ScanDirection::ForwardScanDirection {
        pgrx::error!("ember_ivf only scans forward");
    }
    // SAFETY: scan is ours.
    unsafe {
        let s = state(scan);
        if (*scan).numberOfOrderBys == 0 {
            pgrx::error!("ember_ivf needs ORDER BY <column> <distance operator> <value>");
        }
        if !s.started {
            s.start();
            let dims = s.index.as_ref().map_or(0, |i| i.meta.dims as usize);
            let metric = s.index.as_ref().map_or(s.opclass, |i| i.metric);
            s.toast = ToastPeek::new((*scan).heapRelation, (*scan).indexRelation, metric, dims);
        }
        match s.next() {
            Some((_, tid, bound, at)) => {
                if bound.is_none() {
                    s.remember(at, tid);
                }
                set_heap_tid(&mut (*scan).xs_heaptid, tid);
                (*scan).xs_recheck = false;
                (*scan).xs_recheckorderby = bound.is_some() && !s.null_query;
                if let Some(bound) = bound {
                    *(*scan).xs_orderbyvals = pgrx::IntoDatum::into_datum(bound).unwrap_or(pg_sys::Datum::from(0));
                    *(*scan).xs_orderbynulls = false;
                }
                true
            }
            None => false,
        }
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amendscan(scan: pg_sys::IndexScanDesc) {
    toast_memo::forget();
    // SAFETY: scan is ours; the state is freed now instead of at context reset.
    unsafe {
        crate::am::drop_owned((*scan).opaque.cast());
        (*scan).opaque = std::ptr::null_mut();
    }
}
