//! `ember_hnsw_info(regclass)`: what an ember_hnsw index's metapage
//! records, for a user checking what a build made of it (its neighbour
//! codes above all: a build short of `maintenance_work_mem` makes slower
//! ones, and an index built by an earlier version keeps its kind until
//! `REINDEX`).

use hnsw::ondisk::{code_origin, CodeOrigin};
use pgrx::pg_sys;
use pgrx::{ereport, PgSqlErrorCode};

use super::super::opclass::opclass_of;
use super::super::open_graph;
use crate::fmgr::arg;
use crate::pg_v1;
use crate::storage::PgRelation;

/// Opens the ember_hnsw index `oid` (`AccessShareLock`) for the SQL
/// function `function`, or raises 42809 (wrong_object_type).
///
/// # Safety
/// In a transaction; close it with `index_close(.., AccessShareLock)`.
pub unsafe fn open_ember_hnsw(oid: pg_sys::Oid, function: &str) -> pg_sys::Relation {
    // SAFETY: index_open ERRORs for anything but an index; the lock keeps
    // it from being dropped while it is read.
    unsafe {
        let index = pg_sys::index_open(oid, pg_sys::AccessShareLock as i32);
        if (*(*index).rd_rel).relam != pg_sys::get_am_oid(c"ember_hnsw".as_ptr(), false) {
            ereport!(ERROR, PgSqlErrorCode::ERRCODE_WRONG_OBJECT_TYPE, format!("{function}() needs an ember_hnsw index"));
        }
        index
    }
}

/// The SQL name of a code origin.
fn origin_name(origin: CodeOrigin) -> &'static std::ffi::CStr {
    match origin {
        CodeOrigin::None => c"none",
        CodeOrigin::Centroid => c"centroid",
        CodeOrigin::Owner => c"owner",
    }
}

pg_v1!(
    /// `ember_hnsw_info(index regclass, OUT dimensions int, OUT m int,
    /// OUT ef_construction int, OUT elements bigint, OUT entry_level int,
    /// OUT pages bigint, OUT stored text, OUT neighbour_codes text)`.
    fn ember_hnsw_info(fcinfo) {
        // SAFETY: the argument is a regclass (an OID by value); the result
        // type is the composite of the OUT parameters; the index stays
        // open and locked while its metapage is read.
        unsafe {
            let oid = pg_sys::Oid::from(arg(fcinfo, 0).value() as u32);
            let index = open_ember_hnsw(oid, "ember_hnsw_info");
            let rel = PgRelation::main(index);
            let meta = *open_graph(&rel, opclass_of(index)).meta();
            let pages = pg_sys::RelationGetNumberOfBlocksInFork(index, pg_sys::ForkNumber::MAIN_FORKNUM);
            pg_sys::index_close(index, pg_sys::AccessShareLock as i32);

            let mut desc: pg_sys::TupleDesc = std::ptr::null_mut();
            if pg_sys::get_call_result_type(fcinfo, std::ptr::null_mut(), &mut desc) != pg_sys::TypeFuncClass::TYPEFUNC_COMPOSITE {
                ereport!(ERROR, PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, "ember_hnsw_info() must return a record");
            }
            let desc = pg_sys::BlessTupleDesc(desc);
            let coded = meta.value_dims != 0;
            let text = |s: &std::ffi::CStr| pg_sys::Datum::from(pg_sys::cstring_to_text(s.as_ptr()));
            let mut values = [
                pg_sys::Datum::from(i32::from(if coded { meta.value_dims } else { meta.dims })),
                pg_sys::Datum::from(i32::from(meta.m)),
                pg_sys::Datum::from(i32::from(meta.ef_construction)),
                pg_sys::Datum::from(meta.elements as i64),
                pg_sys::Datum::from(i32::from(meta.entry_level)),
                pg_sys::Datum::from(i64::from(pages)),
                text(if coded { c"sq8 codes" } else { c"values" }),
                text(origin_name(code_origin(&meta))),
            ];
            let mut nulls = [false; 8];
            // Variable-length vectors (sparse) have no fixed dimension.
            nulls[0] = !coded && meta.dims == 0;
            let tuple = pg_sys::heap_form_tuple(desc, values.as_mut_ptr(), nulls.as_mut_ptr());
            pg_sys::HeapTupleHeaderGetDatum((*tuple).t_data)
        }
    }
);
