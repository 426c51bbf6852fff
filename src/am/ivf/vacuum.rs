//! `ambulkdelete` / `amvacuumcleanup`: dead entries are removed from the
//! lists and their room reused by later inserts.

use pagestore::RelationRead as _;
use pgrx::pg_sys;

use super::super::glue::{dead_tuple_test, stats_or_new};
use super::build::raise_ivf;
use crate::storage::PgRelation;

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambulkdelete(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
    callback: pg_sys::IndexBulkDeleteCallback,
    callback_state: *mut std::ffi::c_void,
) -> *mut pg_sys::IndexBulkDeleteResult {
    // SAFETY: VACUUM passes an open index and its dead-tuple callback.
    unsafe {
        let stats = stats_or_new(stats);
        let index = (*info).index;
        let rel = PgRelation::main(index);
        let is_dead = dead_tuple_test(callback, callback_state);
        let result = ivf::bulk_delete(&rel, is_dead).unwrap_or_else(|e| raise_ivf(&rel, e));
        (*stats).tuples_removed += result.deleted as f64;
        (*stats).num_index_tuples = result.live as f64;
        (*stats).num_pages = rel.nblocks();
        stats
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amvacuumcleanup(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
) -> *mut pg_sys::IndexBulkDeleteResult {
    // SAFETY: as ambulkdelete.
    unsafe {
        if (*info).analyze_only || !stats.is_null() {
            return stats;
        }
        // No bulk delete ran (nothing to delete): report the entry count.
        let stats = stats_or_new(stats);
        let rel = PgRelation::main((*info).index);
        let report = ivf::verify(&rel).unwrap_or_else(|e| raise_ivf(&rel, e));
        (*stats).num_index_tuples = report.entries as f64;
        (*stats).num_pages = rel.nblocks();
        stats
    }
}
