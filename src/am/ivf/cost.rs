//! `amcostestimate`: an ember_ivf scan reads every centroid, then the
//! `ember.ivf_probes` nearest lists, all before its first row; without an
//! ORDER BY the path is made prohibitively expensive. A MaxSim scan probes
//! for every query token (their number is unknown at plan time: a typical
//! query's is assumed) and the executor re-ranks its candidates with the
//! ordering function, whose declared cost is counted per candidate.

use pgrx::pg_sys;

use super::super::glue::{start_cost_estimate, DISABLE_COST};

use super::super::opclass::opclass_of;
use super::super::words::ElemKind;
use crate::gucs;
use crate::storage::PgRelation;

/// Query tokens assumed for a MaxSim scan's estimate.
const QUERY_TOKENS_GUESS: f64 = 32.0;

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amcostestimate(
    root: *mut pg_sys::PlannerInfo,
    path: *mut pg_sys::IndexPath,
    _loop_count: f64,
    startup: *mut pg_sys::Cost,
    total: *mut pg_sys::Cost,
    selectivity: *mut pg_sys::Selectivity,
    correlation: *mut f64,
    pages: *mut f64,
) {
    // SAFETY: the planner passes a valid path and out-pointers; it holds a
    // lock on the index already (NoLock is the convention at plan time).
    unsafe {
        if !start_cost_estimate(path, startup, total, selectivity, correlation, pages) {
            return;
        }
        let info = &*(*path).indexinfo;
        let index = pg_sys::index_open(info.indexoid, pg_sys::NoLock as i32);
        let meta = ivf::read_meta(&PgRelation::main(index)).ok();
        let multi = opclass_of(index).kind == ElemKind::Multi;
        let order_proc = pg_sys::index_getprocid(index, 1, 1);
        pg_sys::index_close(index, pg_sys::NoLock as i32);
        let lists = meta.map_or(1.0, |m| f64::from(m.lists.max(1)));
        let dims = meta.map_or(1.0, |m| f64::from(m.dims.max(1)));
        let probing = if multi { QUERY_TOKENS_GUESS } else { 1.0 };
        let fraction = (probing * gucs::IVF_PROBES.get() as f64 / lists).min(1.0);
        let index_pages = (info.pages as f64).max(1.0);
        let centroid_pages = (lists * (ivf::CentroidTuple::HEADER_LEN as f64 + 4.0 * dims) / 8000.0).ceil();
        let touched = (centroid_pages + fraction * index_pages).min(index_pages);
        let entries = fraction * info.tuples.max(1.0);
        let mut cost = touched * pg_sys::seq_page_cost
            + (probing * lists + entries) * (pg_sys::cpu_index_tuple_cost + pg_sys::cpu_operator_cost);
        if multi {
            let rows = (*info.rel).tuples.max(1.0);
            let candidates = f64::from(gucs::MAXSIM_CANDIDATES.get()).min(rows);
            // The function's declared cost (procost x cpu_operator_cost).
            let mut recheck = pg_sys::QualCost { startup: 0.0, per_tuple: 0.0 };
            pg_sys::add_function_cost(root, order_proc, std::ptr::null_mut(), &mut recheck);
            let recheck = recheck.per_tuple;
            cost += candidates * (recheck + pg_sys::cpu_tuple_cost + pg_sys::random_page_cost);
            // The scan returns at most ember.maxsim_candidates rows, before
            // WHERE conditions: when the query may want more (no LIMIT, or
            // OFFSET + LIMIT beyond what the filtered candidates give), the
            // index would silently cut the result short, so it is priced
            // out, even below paths the user disabled.
            let rel = &*info.rel;
            let selectivity = if rel.tuples > 0.0 { (rel.rows / rel.tuples).clamp(0.0, 1.0) } else { 1.0 };
            let wanted = (*root).limit_tuples;
            let delivers = f64::from(gucs::MAXSIM_CANDIDATES.get()) * selectivity;
            if wanted < 0.0 || delivers < wanted {
                cost += DISABLE_COST * 1.0e3;
            }
        }
        *startup = cost;
        *total = cost;
        *pages = touched;
    }
}
