//! Index scans: `ORDER BY col <op> $1` through the graph on pages.
//!
//! The first `amgettuple` opens the graph and starts a [`SearchIter`]; each
//! call returns the next live element's heap TID. `ember.iterative_scan`
//! decides whether the scan stops after the first batch of
//! `ember.hnsw_ef_search` results (off) or keeps going (relaxed/strict
//! order) until `ember.hnsw_max_scan_tuples` elements were visited.
//!
//! Distances are exact (`xs_recheckorderby = false`), except in an index
//! of codes (values too large for a page): each row then comes with a
//! lower bound of its distance and `xs_recheckorderby = true`, so the
//! executor computes the exact distance from the table row and re-ranks
//! (GiST's lossy-distance protocol).

use hnsw::ondisk::PageGraph;
use hnsw::{ScanOrder, SearchIter};
use pgrx::pg_sys;

use super::super::glue::{alloc_orderby_outputs, rescan_query};
use super::super::opclass::opclass_of;
use super::super::toast_peek::ToastPeek;
use super::super::words::{type_name, ElemKind, WordMetric};
use super::super::{open_graph, set_heap_tid};
use crate::gucs::{self, IterativeScan};
use crate::storage::{toast_memo, PgRelation};

type Graph = PageGraph<'static, PgRelation, WordMetric>;

/// Per-scan state, behind `scan->opaque`.
///
/// `iter` borrows `graph`, which borrows `rel`: they are boxed so their
/// addresses never move, and fields drop in declaration order (iter, then
/// graph, then rel), so no borrow outlives what it points to.
struct ScanState {
    iter: Option<SearchIter<'static, Graph>>,
    graph: Option<Box<Graph>>,
    rel: Box<PgRelation>,
    opclass: WordMetric,
    /// The opclass's metric over the stored elements (set by `start`).
    metric: WordMetric,
    query: Option<Vec<f32>>,
    query_is_null: bool,
    /// `‖query‖₂`, for the lower bounds of an index of codes.
    query_norm: f64,
    returned: usize,
    /// Remembers returned rows' values by TOAST pointer (set by amgettuple).
    toast: Option<ToastPeek>,
}

impl ScanState {
    fn reset(&mut self) {
        self.iter = None;
        self.graph = None;
        self.returned = 0;
        self.toast = None;
        toast_memo::forget();
    }

    /// Starts the search for the current query; false when the index is empty.
    fn start(&mut self) {
        let graph: Box<Graph> = {
            // SAFETY: `rel` is boxed and outlives `graph` (field order), so
            // extending the borrow to 'static never lets it dangle.
            let rel: &'static PgRelation = unsafe { &*std::ptr::addr_of!(*self.rel) };
            Box::new(open_graph(rel, self.opclass))
        };
        let meta = *graph.meta();
        self.metric = self.opclass.for_stored(meta.metric_id).unwrap_or(self.opclass);
        let dims = if self.metric.sq8 { meta.value_dims } else { meta.dims } as usize;
        let query = self.query.take().unwrap_or_else(|| zero_query(self.opclass, dims));
        self.query_norm = f64::from(distance::norm_squared(&query)).sqrt();
        if self.opclass.kind != ElemKind::Sparse && query.len() != dims && meta.entry.is_valid() {
            crate::fmgr::raise(vectors::VectorError::dim_mismatch(type_name(self.opclass), dims, query.len()));
        }
        // SAFETY: as above: `graph` is boxed and dropped after `iter`.
        let graph_ref: &'static Graph = unsafe { &*std::ptr::addr_of!(*graph) };
        let order = match gucs::ITERATIVE_SCAN.get() {
            IterativeScan::StrictOrder => ScanOrder::Strict,
            _ => ScanOrder::Relaxed,
        };
        let ef = gucs::HNSW_EF_SEARCH.get().max(1) as usize;
        graph_ref.set_code_pruning(gucs::HNSW_CODE_PRUNING.get());
        match gucs::ITERATIVE_SCAN.get() {
            IterativeScan::Off => {}
            // Strict order drops a row found after farther ones were
            // returned, which is where a wrongly put-off element ends up:
            // every batch bounds carefully (WordNet, a 1% filter: recall
            // 0.93, 0.90 with plain bounds in the first batch).
            IterativeScan::StrictOrder => graph_ref.set_careful_bounds(true),
            // Relaxed order returns it late instead, so the first batch
            // (all an unfiltered LIMIT within ef_search reads) bounds as a
            // plain scan does, as fast (recall 0.969 against 0.973 there).
            IterativeScan::RelaxedOrder => graph_ref.set_careful_after_first_batch(true),
        }
        self.iter = Some(graph_ref.search_iter(&query, ef, order));
        self.graph = Some(graph);
    }

    /// The next live heap TID, with a lower bound of its distance in an
    /// index of codes; None when the scan is over.
    fn next(&mut self) -> Option<(hnsw::ondisk::Tid, Option<f64>)> {
        let ef = gucs::HNSW_EF_SEARCH.get().max(1) as usize;
        let iterative = gucs::ITERATIVE_SCAN.get() != IterativeScan::Off;
        let max_visited = gucs::HNSW_MAX_SCAN_TUPLES.get().max(1) as usize;
        loop {
            if !iterative && self.returned >= ef {
                return None;
            }
            let iter = self.iter.as_mut()?;
            if iterative && self.returned >= ef && iter.visited_count() > max_visited {
                return None;
            }
            let (node, approx) = iter.next()?;
            let graph = self.graph.as_ref()?;
            let found = if self.metric.sq8 {
                let (metric, norm) = (self.metric, self.query_norm);
                graph.live_element(node, |heap, code| (heap, Some(metric.lower_bound(approx, norm, code))))
            } else if let Some(peek) = self.toast.as_mut().filter(|p| p.active()) {
                let found = graph.live_element(node, |heap, words| {
                    peek.keep(words);
                    (heap, None)
                });
                if let Some((heap, _)) = found {
                    peek.remember(heap);
                }
                found
            } else {
                graph.live_heap_tid(node).map(|heap| (heap, None))
            };
            if found.is_some() {
                self.returned += 1;
                return found;
            }
        }
    }
}

/// The query for `ORDER BY col <op> NULL`: every distance is NULL, so any
/// order is right; a zero vector walks the graph like any other query.
fn zero_query(opclass: WordMetric, dims: usize) -> Vec<f32> {
    match opclass.kind {
        ElemKind::Sparse => vec![0.0],
        _ => vec![0.0; dims],
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambeginscan(index: pg_sys::Relation, nkeys: i32, norderbys: i32) -> pg_sys::IndexScanDesc {
    // SAFETY: index is open for the scan's duration; RelationGetIndexScan
    // returns a palloc'd descriptor.
    unsafe {
        let scan = pg_sys::RelationGetIndexScan(index, nkeys, norderbys);
        let state = ScanState {
            iter: None,
            graph: None,
            rel: Box::new(PgRelation::main(index)),
            opclass: opclass_of(index),
            metric: opclass_of(index),
            query: None,
            query_is_null: true,
            query_norm: 0.0,
            returned: 0,
            toast: None,
        };
        alloc_orderby_outputs(scan, norderbys);
        (*scan).opaque = crate::am::owned_by_memory_context(state).cast();
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
        s.query = rescan_query(scan, s.opclass, orderbys, norderbys).map(|(words, _)| words);
        s.query_is_null = s.query.is_none();
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amgettuple(scan: pg_sys::IndexScanDesc, direction: pg_sys::ScanDirection::Type) -> bool {
    if direction != pg_sys::ScanDirection::ForwardScanDirection {
        pgrx::error!("ember_hnsw only scans forward");
    }
    // SAFETY: scan is ours.
    unsafe {
        let s = state(scan);
        if (*scan).numberOfOrderBys == 0 {
            pgrx::error!("ember_hnsw needs ORDER BY <column> <distance operator> <value>");
        }
        if s.iter.is_none() && s.returned == 0 {
            s.start();
            let dims = s.graph.as_ref().map_or(0, |g| g.meta().dims as usize);
            s.toast = ToastPeek::new((*scan).heapRelation, (*scan).indexRelation, s.metric, dims);
        }
        match s.next() {
            Some((tid, lower_bound)) => {
                set_heap_tid(&mut (*scan).xs_heaptid, tid);
                (*scan).xs_recheck = false;
                // `ORDER BY col <op> NULL` orders by NULL: nothing to re-rank.
                (*scan).xs_recheckorderby = lower_bound.is_some() && !s.query_is_null;
                if let Some(bound) = lower_bound {
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
