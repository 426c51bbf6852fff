//! `aminsert`: a new value goes to the list of its nearest centroid (each
//! token of a multiembedding to its own).

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
        let dims = datum_words(opclass, *values, &mut words);
        if opclass.skips(&words) {
            return false;
        }
        let rel = PgRelation::main(index);
        let ivf_index = IvfIndex::open(&rel, opclass);
        let index_dims = ivf_index.meta.dims as usize;
        if dims != index_dims {
            crate::fmgr::raise(vectors::VectorError::dim_mismatch(type_name(opclass), index_dims, dims));
        }
        // One entry per vector (a multiembedding has one per token), one
        // append per list.
        let tid = tid_of(&*heap_tid);
        let mut by_list: Vec<(usize, Vec<f32>, f32)> = Vec::new();
        let mut code = Vec::new();
        for v in words.chunks_exact(dims) {
            let list = ivf_index.nearest_list(v);
            let radius = ivf_index.radius_of(v, list);
            let stored = ivf_index.metric.store(v, &mut code).to_vec();
            match by_list.iter_mut().find(|(l, _, _)| *l == list) {
                Some((_, all, r)) => {
                    all.extend_from_slice(&stored);
                    *r = r.max(radius);
                }
                None => by_list.push((list, stored, radius)),
            }
        }
        for (list, all, radius) in &by_list {
            let entries: Vec<(ivf::Tid, &[f32])> = all.chunks_exact(ivf_index.meta.entry_words as usize).map(|w| (tid, w)).collect();
            ivf::append(&rel, ivf_index.lists[*list].tid, &entries, *radius).unwrap_or_else(|e| raise_ivf(&rel, e));
        }
    }
    false
}
