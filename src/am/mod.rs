//! ember's index access methods and what they share: opclass resolution,
//! values as words, heap TIDs, opening the graph, and scan state owned by a
//! memory context.

pub mod glue;
pub mod hnsw;
pub mod ivf;
pub mod offload;
pub mod opclass;
pub mod toast_peek;
pub mod words;

use ::hnsw::ondisk::{OnDiskError, PageGraph, Tid};
use pgrx::pg_sys;
use pgrx::PgSqlErrorCode;

use crate::fmgr::raise_code_detail;

use crate::storage::PgRelation;
use words::WordMetric;

/// A heap TID as the graph stores it.
pub fn tid_of(tid: &pg_sys::ItemPointerData) -> Tid {
    let (blk, off) = pgrx::itemptr::item_pointer_get_both(*tid);
    Tid { blk, off }
}

/// Writes a graph TID into a heap TID.
pub fn set_heap_tid(out: &mut pg_sys::ItemPointerData, tid: Tid) {
    pgrx::itemptr::item_pointer_set_all(out, tid.blk, tid.off);
}

/// Raises the ERROR for an index that cannot be read: XX002
/// (index_corrupted), with the REINDEX hint the format error carries.
pub fn index_corrupted(index: pg_sys::Relation, what: impl std::fmt::Display) -> ! {
    // SAFETY: index is open; RelationGetRelationName reads rd_rel.
    let name = unsafe { pgrx::name_data_to_str(&(*(*index).rd_rel).relname).to_owned() };
    raise_code_detail(
        PgSqlErrorCode::ERRCODE_INDEX_CORRUPTED,
        format!("index \"{name}\" cannot be read: {what}"),
        "REINDEX the index.",
    )
}

/// The value of a graph operation, or its ERROR: a value too large for a
/// page is 54000, anything else means the index is unreadable (XX002).
pub fn ondisk_or_raise<T>(index: pg_sys::Relation, result: Result<T, OnDiskError>) -> T {
    match result {
        Ok(v) => v,
        Err(OnDiskError::TupleTooLarge(n)) => raise_code_detail(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("value too large for an ember_hnsw index: its index tuple of {n} bytes does not fit on a page"),
            "ember_hnsw stores embedding and halfembedding values too large for a page as 8-bit codes (up to about 28,000 dimensions); sparseembedding values can have up to about 900 non-zero elements (with m = 16).",
        ),
        Err(OnDiskError::DimensionMismatch { expected, found }) => {
            // SAFETY: index is open.
            let name = words::type_name(unsafe { opclass::opclass_of(index) });
            crate::fmgr::raise(vectors::VectorError::dim_mismatch(name, expected, found))
        }
        Err(e) => index_corrupted(index, e),
    }
}

/// Opens the graph of an index, checks it was built for `opclass`, and
/// reads its elements as the metapage says they are stored (values, or
/// codes of them).
pub fn open_graph(rel: &PgRelation, opclass: WordMetric) -> PageGraph<'_, PgRelation, WordMetric> {
    let mut foreign = false;
    let graph = PageGraph::open_with(rel, |meta| {
        opclass.for_stored(meta.metric_id).unwrap_or_else(|| {
            foreign = true;
            opclass
        })
    })
    .unwrap_or_else(|e| index_corrupted(rel.relation(), e));
    if foreign {
        index_corrupted(rel.relation(), "it was built for a different operator class");
    }
    graph
}

/// The metric of `opclass` for the elements the index stores.
pub fn stored_metric(rel: &PgRelation, opclass: WordMetric) -> WordMetric {
    let graph = open_graph(rel, opclass);
    opclass.for_stored(graph.meta().metric_id).unwrap_or(opclass)
}

/// A palloc'd cell that owns a boxed `T` until [`drop_owned`] or the reset
/// of the memory context it was made in (an aborted query never calls
/// `amendscan`, but its context is always reset).
#[repr(C)]
struct Owned {
    callback: pg_sys::MemoryContextCallback,
    value: *mut std::ffi::c_void,
    drop: unsafe fn(*mut std::ffi::c_void),
}

unsafe fn drop_box<T>(p: *mut std::ffi::c_void) {
    // SAFETY: p came from Box::<T>::into_raw in owned_by_memory_context.
    drop(unsafe { Box::from_raw(p.cast::<T>()) });
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn reset_callback(arg: *mut std::ffi::c_void) {
    // SAFETY: arg is the Owned cell registered below; its value is live or null.
    unsafe {
        let cell = &mut *arg.cast::<Owned>();
        if !cell.value.is_null() {
            (cell.drop)(cell.value);
            cell.value = std::ptr::null_mut();
        }
    }
}

/// Moves `value` into a cell owned by `CurrentMemoryContext`; returns the cell.
pub fn owned_by_memory_context<T>(value: T) -> *mut std::ffi::c_void {
    // SAFETY: the cell is palloc'd in the current context, and the callback
    // registered on that context frees the box if nobody did before.
    unsafe {
        let cell = pg_sys::palloc0(size_of::<Owned>()).cast::<Owned>();
        (*cell).value = Box::into_raw(Box::new(value)).cast();
        (*cell).drop = drop_box::<T>;
        (*cell).callback.func = Some(reset_callback);
        (*cell).callback.arg = cell.cast();
        pg_sys::MemoryContextRegisterResetCallback(pg_sys::CurrentMemoryContext, &mut (*cell).callback);
        cell.cast()
    }
}

/// The value in a cell made by [`owned_by_memory_context`].
///
/// # Safety
/// `cell` came from `owned_by_memory_context::<T>` and was not dropped.
pub unsafe fn owned_mut<'a, T>(cell: *mut std::ffi::c_void) -> &'a mut T {
    // SAFETY: forwarded contract.
    unsafe {
        let value = (*cell.cast::<Owned>()).value;
        assert!(!value.is_null(), "ember index scan state used after its end");
        &mut *value.cast::<T>()
    }
}

/// Drops the value in a cell now (the context callback then does nothing).
///
/// # Safety
/// As [`owned_mut`]; `cell` may be null.
pub unsafe fn drop_owned(cell: *mut std::ffi::c_void) {
    if !cell.is_null() {
        // SAFETY: forwarded contract; reset_callback clears the value.
        unsafe { reset_callback(cell) }
    }
}
