//! `aminsert`: one new heap tuple into the graph on pages.

use hnsw::ondisk;
use pgrx::pg_sys;

use super::super::opclass::{datum_words, dims_fixed, opclass_of, set_dims_fixed};
use super::super::{ondisk_or_raise, open_graph, tid_of};
use super::options;
use crate::storage::PgRelation;

/// A random layer for a new element (each backend draws its own).
fn random_level(m: usize) -> usize {
    // SAFETY: the global PRNG is per-backend state, seeded at backend start.
    let r = unsafe { pg_sys::pg_prng_uint64(std::ptr::addr_of_mut!(pg_sys::pg_global_prng_state)) };
    hnsw::graph_level(r, 0, m)
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
        let fixed = opclass.fixed_words(words.len());
        if fixed != 0 && !dims_fixed(index) {
            // Built on an empty table with no typmod: the first value fixes
            // the dimensions, so later values of others are refused.
            let known = open_graph(&rel, opclass).meta().dims != 0
                || ondisk_or_raise(index, ondisk::set_dims_if_unset(&rel, fixed as u16));
            if known {
                set_dims_fixed(index);
            }
        }
        let inserted = ondisk::insert(&rel, &opclass, &words, tid_of(&*heap_tid), random_level(m));
        ondisk_or_raise(index, inserted);
    }
    false
}
