//! `amcostestimate`: what an ember_hnsw scan costs the planner.
//!
//! The index answers only `ORDER BY col <op> const`; without an ORDER BY
//! the path is made prohibitively expensive. With one, the work is a greedy
//! descent plus a beam search of width `ef_search` on layer 0, visiting
//! about `(levels + ef_search) * 2m` elements, whose share of the index's
//! pages is read at random. All of it happens before the first row comes
//! back, so the startup cost is the whole cost; the executor's LIMIT then
//! only adds heap fetches.

use pgrx::pg_sys;

use super::super::glue::start_cost_estimate;

use super::options;
use crate::gucs;


/// Elements an index scan visits, for `tuples` elements and `m`.
pub fn visited_elements(tuples: f64, m: f64, ef_search: f64) -> f64 {
    let tuples = tuples.max(1.0);
    let levels = (tuples.ln() / m.max(2.0).ln()).max(0.0) + 1.0;
    ((levels + ef_search) * 2.0 * m).min(tuples)
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amcostestimate(
    _root: *mut pg_sys::PlannerInfo,
    path: *mut pg_sys::IndexPath,
    _loop_count: f64,
    startup: *mut pg_sys::Cost,
    total: *mut pg_sys::Cost,
    selectivity: *mut pg_sys::Selectivity,
    correlation: *mut f64,
    pages: *mut f64,
) {
    // SAFETY: the planner passes a valid path and out-pointers.
    unsafe {
        if !start_cost_estimate(path, startup, total, selectivity, correlation, pages) {
            return;
        }
        let info = &*(*path).indexinfo;
        // The planner holds a lock on the index already (NoLock is the
        // convention for reading rd_options at plan time).
        let index = pg_sys::index_open(info.indexoid, pg_sys::NoLock as i32);
        let m = options::of(index).m as f64;
        pg_sys::index_close(index, pg_sys::NoLock as i32);
        let visited = visited_elements(info.tuples, m, gucs::HNSW_EF_SEARCH.get() as f64);
        let index_pages = (info.pages as f64).max(1.0);
        let touched = (visited * index_pages / info.tuples.max(1.0)).ceil().min(index_pages);
        let cost = touched * pg_sys::random_page_cost
            + visited * (pg_sys::cpu_index_tuple_cost + pg_sys::cpu_operator_cost);
        *startup = cost;
        *total = cost;
        *pages = touched;
    }
}
