//! `ember_hnsw_verify(regclass)`: an amcheck-style check of an ember_hnsw
//! index: page and tuple formats, neighbour links, the entry point, that
//! every live element is reachable, and that every heap row with a value
//! the index covers is one of those reachable elements.

use std::ffi::CStr;

use hnsw::ondisk::{self, Tid};
use pgrx::pg_sys;
use pgrx::spi::Spi;

use super::super::opclass::opclass_of;
use super::super::{index_corrupted, set_heap_tid, stored_metric, tid_of};
use crate::fmgr::arg;
use crate::pg_v1;
use crate::storage::PgRelation;

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// The query listing the heap rows the index must hold, or None for an
/// expression index (only the graph is checked then). `nonzero`: the
/// extension's function whose zero marks values the index leaves out
/// (`l2_norm` for cosine, `token_count` for multiembedding).
pub(crate) unsafe fn heap_rows_query(index: pg_sys::Relation, nonzero: Option<&str>) -> Option<String> {
    // SAFETY: index is open; rd_index describes its key column.
    unsafe {
        let form = &*(*index).rd_index;
        let attnum = form.indkey.values.as_slice(1)[0];
        if attnum == 0 {
            return None;
        }
        let heap = form.indrelid;
        let column = CStr::from_ptr(pg_sys::get_attname(heap, attnum, false)).to_string_lossy().into_owned();
        let schema = CStr::from_ptr(pg_sys::get_namespace_name(pg_sys::get_rel_namespace(heap))).to_string_lossy().into_owned();
        let name = CStr::from_ptr(pg_sys::get_rel_name(heap)).to_string_lossy().into_owned();
        let col = quote_ident(&column);
        // The function is found through the operator's own schema (the extension's).
        let filter = if let Some(nonzero) = nonzero {
            let ext_schema = CStr::from_ptr(pg_sys::get_namespace_name(pg_sys::get_func_namespace(pg_sys::index_getprocid(index, 1, 1))))
                .to_string_lossy()
                .into_owned();
            format!(" AND {}.{nonzero}({col}) <> 0", quote_ident(&ext_schema))
        } else {
            String::new()
        };
        Some(format!(
            "SELECT ctid FROM {}.{} WHERE {col} IS NOT NULL{filter}",
            quote_ident(&schema),
            quote_ident(&name)
        ))
    }
}

/// The TIDs of the heap rows the index must hold.
pub(crate) fn heap_tids(query: &str) -> Vec<Tid> {
    Spi::connect(|client| {
        let table = client.select(query, None, &[]).unwrap_or_else(|e| pgrx::error!("{e}"));
        table
            .filter_map(|row| row.get::<pg_sys::ItemPointerData>(1).ok().flatten())
            .map(|ctid| tid_of(&ctid))
            .collect()
    })
}

/// The current TIDs of the rows the index's heap TIDs lead to. An index
/// points at the root of a HOT chain, while `ctid` names the chain's
/// visible member, so each TID is followed along its chain (as an index
/// scan does) under a fresh snapshot. Sorted.
pub(crate) fn resolve_hot_chains(heap_oid: pg_sys::Oid, tids: &[Tid]) -> Vec<Tid> {
    let mut resolved = Vec::with_capacity(tids.len());
    // SAFETY: the heap is opened and locked for the duration; every buffer is
    // pinned and share-locked around heap_hot_search_buffer, as in
    // heapam_index_fetch_tuple; blocks past the end are skipped.
    unsafe {
        let heap = pg_sys::table_open(heap_oid, pg_sys::AccessShareLock as i32);
        if (*heap).rd_tableam != pg_sys::GetHeapamTableAmRoutine() {
            pg_sys::table_close(heap, pg_sys::AccessShareLock as i32);
            return tids.to_vec();
        }
        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetLatestSnapshot());
        let nblocks = pg_sys::RelationGetNumberOfBlocksInFork(heap, pg_sys::ForkNumber::MAIN_FORKNUM);
        for &tid in tids {
            if tid.blk >= nblocks {
                continue;
            }
            let buf = pg_sys::ReadBufferExtended(heap, pg_sys::ForkNumber::MAIN_FORKNUM, tid.blk, pg_sys::ReadBufferMode::RBM_NORMAL, std::ptr::null_mut());
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_SHARE as i32);
            let mut item = pg_sys::ItemPointerData::default();
            set_heap_tid(&mut item, tid);
            let mut tuple = pg_sys::HeapTupleData::default();
            let mut all_dead = false;
            if pg_sys::heap_hot_search_buffer(&mut item, heap, buf, snapshot, &mut tuple, &mut all_dead, true) {
                resolved.push(tid_of(&item));
            }
            pg_sys::UnlockReleaseBuffer(buf);
        }
        pg_sys::UnregisterSnapshot(snapshot);
        pg_sys::table_close(heap, pg_sys::AccessShareLock as i32);
    }
    resolved.sort_unstable();
    resolved
}

/// Raises XX002 if a heap row is not among the reachable elements.
pub(crate) fn check_heap(index: pg_sys::Relation, rows: &[Tid], reachable: &[Tid]) {
    let mut missing = rows.iter().filter(|t| reachable.binary_search(t).is_err());
    if let Some(tid) = missing.next() {
        index_corrupted(
            index,
            format!(
                "{} of {} table rows are not reachable in the graph, e.g. ({},{})",
                missing.count() + 1,
                rows.len(),
                tid.blk,
                tid.off
            ),
        );
    }
}

pg_v1!(
    /// `ember_hnsw_verify(index regclass) RETURNS bigint`: the number of
    /// live elements, or ERROR XX002 naming the first problem found.
    fn ember_hnsw_verify(fcinfo) {
        // SAFETY: the argument is a regclass (an OID by value).
        let oid = pg_sys::Oid::from(unsafe { arg(fcinfo, 0) }.value() as u32);
        // SAFETY: the index stays open and locked while it is read.
        unsafe {
            let index = super::info::open_ember_hnsw(oid, "ember_hnsw_verify");
            let opclass = opclass_of(index);
            // Rows first: every row visible to this earlier snapshot was in
            // the graph before it committed, so concurrent inserts can't be
            // reported missing.
            let rows = heap_rows_query(index, opclass.left_out_when_zero()).map(|q| heap_tids(&q));
            let rel = PgRelation::main(index);
            let metric = stored_metric(&rel, opclass);
            let report = ondisk::verify(&rel, &metric).unwrap_or_else(|e| index_corrupted(index, e));
            if let Some(rows) = rows {
                let reachable = resolve_hot_chains((*(*index).rd_index).indrelid, &report.reachable_heap_tids);
                check_heap(index, &rows, &reachable);
            }
            pg_sys::index_close(index, pg_sys::AccessShareLock as i32);
            pg_sys::Datum::from(report.live as i64)
        }
    }
);
