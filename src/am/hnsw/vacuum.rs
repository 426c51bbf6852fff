//! `ambulkdelete` / `amvacuumcleanup`: VACUUM removes dead heap tuples
//! from the graph (marks them deleted, repairs their neighbours' links) so
//! scans never return them, and frees their tuples for inserts of the
//! same level to take over.

use hnsw::ondisk;
use pgrx::pg_sys;
use pagestore::RelationRead as _;

use super::super::opclass::opclass_of;
use super::super::glue::{dead_tuple_test, stats_or_new};
use super::super::{ondisk_or_raise, stored_metric};
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
        let metric = stored_metric(&rel, opclass_of(index));
        let is_dead = dead_tuple_test(callback, callback_state);
        let result = ondisk_or_raise(index, ondisk::bulk_delete(&rel, &metric, is_dead));
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
        if (*info).analyze_only {
            return stats;
        }
        if !stats.is_null() {
            return stats;
        }
        // No bulk delete ran (no dead row): free deleted elements left
        // unfreed, say by an earlier version (one read of every page when
        // none waits), and report the live count.
        let stats = stats_or_new(stats);
        let index = (*info).index;
        let rel = PgRelation::main(index);
        let metric = stored_metric(&rel, opclass_of(index));
        let result = ondisk_or_raise(index, ondisk::cleanup(&rel, &metric));
        (*stats).num_index_tuples = result.live as f64;
        (*stats).num_pages = rel.nblocks();
        stats
    }
}
