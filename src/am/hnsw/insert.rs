//! `aminsert`: one new heap tuple into the graph on pages.

use hnsw::ondisk;
use pgrx::pg_sys;

use super::super::opclass::{datum_words, fixed_format, opclass_of, set_fixed_format, Fixed};
use super::super::words::{type_name, WordMetric};
use super::super::{ondisk_or_raise, open_graph, tid_of};
use super::options;
use crate::storage::PgRelation;

/// A random layer for a new element (each backend draws its own).
fn random_level(m: usize) -> usize {
    // SAFETY: the global PRNG is per-backend state, seeded at backend start.
    let r = unsafe { pg_sys::pg_prng_uint64(std::ptr::addr_of_mut!(pg_sys::pg_global_prng_state)) };
    hnsw::graph_level(r, 0, m)
}

/// How `index` stores elements, fixing its dimensions from `dims` (the
/// first value's) when the column has no typmod and the index is still
/// empty: values too large for a page make it store codes from then on.
/// `None` while the dimensions stay variable (sparse values, or deleted
/// elements of another length in the way).
fn stored_format(index: pg_sys::Relation, rel: &PgRelation, opclass: WordMetric, dims: usize, m: usize) -> Option<Fixed> {
    // SAFETY: index is open.
    if let Some(fixed) = unsafe { fixed_format(index) } {
        return Some(fixed);
    }
    if opclass.fixed_words(dims) == 0 {
        return None;
    }
    let read = || {
        let graph = open_graph(rel, opclass);
        let meta = graph.meta();
        let metric = opclass.for_stored(meta.metric_id).unwrap_or(opclass);
        let value_dims = if metric.sq8 { meta.value_dims } else { meta.dims };
        (value_dims != 0).then_some(Fixed { metric, value_dims: value_dims as usize })
    };
    let fixed = read().or_else(|| {
        let coded = WordMetric { sq8: opclass.codes_needed(dims, m), ..opclass };
        let words = coded.stored_words(dims) as u16;
        let set = if coded.sq8 {
            ondisk::set_coded_dims_if_unset(rel, words, dims as u16, coded.id())
        } else {
            ondisk::set_dims_if_unset(rel, words)
        };
        ondisk_or_raise(index, set);
        read()
    })?;
    // SAFETY: index is open.
    unsafe { set_fixed_format(index, fixed) };
    Some(fixed)
}

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
        let m = options::of(index).m as usize;
        let rel = PgRelation::main(index);
        let metric = match stored_format(index, &rel, opclass, words.len(), m) {
            Some(fixed) if fixed.metric.sq8 => {
                // Codes of values of other lengths can have equal lengths:
                // check the values' own dimensions.
                if words.len() != fixed.value_dims {
                    crate::fmgr::raise(vectors::VectorError::dim_mismatch(type_name(opclass), fixed.value_dims, words.len()));
                }
                fixed.metric
            }
            Some(fixed) => fixed.metric,
            None => opclass,
        };
        let mut code = Vec::new();
        let stored = metric.store(&words, &mut code);
        let inserted = ondisk::insert(&rel, &metric, stored, tid_of(&*heap_tid), random_level(m));
        ondisk_or_raise(index, inserted);
    }
    false
}
