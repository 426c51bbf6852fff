//! `ember_ivf_verify(regclass)`: the page structure (metapage, centroids,
//! list chains, entry lengths) and that every heap row with a value the
//! index covers has an entry.

use pgrx::pg_sys;
use pgrx::{ereport, PgSqlErrorCode};

use super::super::hnsw::verify::{check_heap, heap_rows_query, heap_tids, resolve_hot_chains};
use super::super::index_corrupted;
use super::super::opclass::opclass_of;
use crate::fmgr::arg;
use crate::pg_v1;
use crate::storage::PgRelation;

pg_v1!(
    /// `ember_ivf_verify(index regclass) RETURNS bigint`: the number of
    /// entries, or ERROR XX002 naming the first problem found.
    fn ember_ivf_verify(fcinfo) {
        // SAFETY: the argument is a regclass (an OID by value).
        let oid = pg_sys::Oid::from(unsafe { arg(fcinfo, 0) }.value() as u32);
        // SAFETY: index_open ERRORs for anything but an index; the lock keeps
        // it from being dropped while we read it.
        unsafe {
            let index = pg_sys::index_open(oid, pg_sys::AccessShareLock as i32);
            if (*(*index).rd_rel).relam != pg_sys::get_am_oid(c"ember_ivf".as_ptr(), false) {
                ereport!(ERROR, PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE, "ember_ivf_verify() needs an ember_ivf index");
            }
            let opclass = opclass_of(index);
            // Rows first: every row visible to this earlier snapshot was in
            // the index before it committed.
            let rows = heap_rows_query(index, opclass.left_out_when_zero()).map(|q| heap_tids(&q));
            let rel = PgRelation::main(index);
            let report = ivf::verify(&rel).unwrap_or_else(|e| index_corrupted(index, e));
            if let Some(rows) = rows {
                let present = resolve_hot_chains((*(*index).rd_index).indrelid, &report.heap_tids);
                check_heap(index, &rows, &present);
            }
            pg_sys::index_close(index, pg_sys::AccessShareLock as i32);
            pg_sys::Datum::from(report.entries as i64)
        }
    }
);
