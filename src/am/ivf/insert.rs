//! `aminsert`: a new value goes to the list of its nearest centroid.

use pgrx::pg_sys;

use super::super::opclass::{datum_words, opclass_of};
use super::super::tid_of;
use super::super::words::type_name;
use super::build::raise_ivf;
use super::index::IvfIndex;
use crate::storage::PgRelation;

#[pgrx::pg_guard]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C-unwind" fn aminsert(
    index: pg_sys::Relation,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    heap_tid: pg_sys::ItemPointer,
    _heap: pg_sys::Relation,
    _check_unique: pg_sys::IndexUniqueCheck::Type,
    _index_unchanged: bool,
    _index_info: *mut pg_sys::IndexInfo,
) -> bool {
    // SAFETY: one key column; the datum is of the opclass's type.
    unsafe {
        if *isnull {
            return false;
        }
        let opclass = opclass_of(index);
        let mut words = Vec::new();
        datum_words(opclass, *values, &mut words);
        if opclass.skips(&words) {
            return false;
        }
        let rel = PgRelation::main(index);
        let ivf_index = IvfIndex::open(&rel, opclass);
        let dims = ivf_index.meta.dims as usize;
        if words.len() != dims {
            crate::fmgr::raise(vectors::VectorError::dim_mismatch(type_name(opclass), dims, words.len()));
        }
        let list = ivf_index.nearest_list(&words);
        let mut code = Vec::new();
        let stored = ivf_index.metric.store(&words, &mut code);
        ivf::append(&rel, ivf_index.lists[list].tid, &[(tid_of(&*heap_tid), stored)]).unwrap_or_else(|e| raise_ivf(&rel, e));
    }
    false
}
