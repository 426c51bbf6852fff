//! Which opclass an index uses, and indexed values as words.
//!
//! The opclass is recognised from its support function 1 (the distance
//! function of its ORDER BY operator: `l2_distance`, `negative_inner_product`,
//! `cosine_distance` or `l1_distance`) and its input type, so the SQL
//! declarations in `sql/hnsw.sql` are the single source of truth.

use std::ffi::CStr;

use pgrx::pg_sys::{self, Datum};
use pgrx::{ereport, PgSqlErrorCode};

use super::words::{half_words, sparse_words, ElemKind, Metric, WordMetric};
use crate::types::layout;

fn unsupported(what: &str) -> ! {
    ereport!(
        ERROR,
        PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
        format!("ember index: unsupported operator class ({what})")
    );
}

/// An unqualified type name (`format_type` qualifies types not on the
/// search path; the last component is the name).
unsafe fn type_name(oid: pg_sys::Oid) -> String {
    // SAFETY: format_type_extended returns a palloc'd NUL-terminated string.
    let full = unsafe {
        let p = pg_sys::format_type_extended(oid, -1, pg_sys::FORMAT_TYPE_FORCE_QUALIFY as u16);
        CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    full.rsplit('.').next().unwrap_or_default().trim_matches('"').to_owned()
}

/// What the glue remembers per open index in `rd_amcache` (freed and reset
/// by the relcache whenever the index changes), so the catalog lookups of
/// [`lookup_opclass`] are not redone for every inserted row.
#[derive(Clone, Copy)]
struct AmCache {
    opclass: WordMetric,
    /// Once the metapage's dimensions were seen set (they never change
    /// after): how elements are stored and the values' dimensions.
    fixed: Option<Fixed>,
}

/// How an index with fixed dimensions stores its elements.
#[derive(Clone, Copy)]
pub struct Fixed {
    /// The opclass's metric over the stored elements (values or codes).
    pub metric: WordMetric,
    /// Dimensions of the indexed values.
    pub value_dims: usize,
}

/// The index's cache, made on first use.
///
/// # Safety
/// `index` is an open index relation.
unsafe fn am_cache(index: pg_sys::Relation) -> *mut AmCache {
    // SAFETY: rd_amcache is NULL or what we stored; rd_indexcxt lives as
    // long as the relcache entry (MAXALIGN'd allocation).
    unsafe {
        let p = (*index).rd_amcache.cast::<AmCache>();
        if !p.is_null() {
            return p;
        }
        let cache = AmCache { opclass: lookup_opclass(index), fixed: None };
        let p = pg_sys::MemoryContextAlloc((*index).rd_indexcxt, size_of::<AmCache>()).cast::<AmCache>();
        p.write(cache);
        (*index).rd_amcache = p.cast();
        p
    }
}

/// The opclass of `index`'s only column (cached per relcache entry).
///
/// # Safety
/// `index` is an open index relation.
pub unsafe fn opclass_of(index: pg_sys::Relation) -> WordMetric {
    // SAFETY: forwarded contract.
    unsafe { (*am_cache(index)).opclass }
}

/// How the index stores its elements, once its dimensions were seen fixed.
///
/// # Safety
/// `index` is an open index relation.
pub unsafe fn fixed_format(index: pg_sys::Relation) -> Option<Fixed> {
    // SAFETY: forwarded contract.
    unsafe { (*am_cache(index)).fixed }
}

/// Records how the index, whose metapage has its dimensions set, stores
/// its elements.
///
/// # Safety
/// `index` is an open index relation.
pub unsafe fn set_fixed_format(index: pg_sys::Relation, fixed: Fixed) {
    // SAFETY: forwarded contract.
    unsafe { (*am_cache(index)).fixed = Some(fixed) }
}

/// Looks the opclass up in the catalogs.
///
/// # Safety
/// `index` is an open index relation.
unsafe fn lookup_opclass(index: pg_sys::Relation) -> WordMetric {
    // SAFETY: index is open; rd_opcintype has one entry per key column.
    let (proc, input_type) = unsafe { (pg_sys::index_getprocid(index, 1, 1), *(*index).rd_opcintype) };
    if proc == pg_sys::InvalidOid {
        unsupported("no distance support function");
    }
    // SAFETY: get_func_name returns a palloc'd name or NULL for a missing function.
    let func = unsafe {
        let p = pg_sys::get_func_name(proc);
        if p.is_null() {
            unsupported("missing support function");
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    };
    let metric = match func.as_str() {
        "l2_distance" | "l2_squared_distance" => Metric::L2,
        "negative_inner_product" => Metric::InnerProduct,
        "cosine_distance" => Metric::Cosine,
        "l1_distance" => Metric::L1,
        // MaxSim sums, per query token, the best inner product with a
        // document token: the index ranks token vectors by inner product.
        "negative_maxsim" => Metric::InnerProduct,
        other => unsupported(other),
    };
    // SAFETY: input_type is a valid type OID from the catalog.
    let type_name = unsafe { type_name(input_type) };
    let kind = match type_name.as_str() {
        "embedding" => ElemKind::Dense,
        "halfembedding" => ElemKind::Half,
        "sparseembedding" => ElemKind::Sparse,
        "multiembedding" => ElemKind::Multi,
        other => unsupported(other),
    };
    if (kind == ElemKind::Multi) != (func == "negative_maxsim") {
        unsupported(&format!("{func} on {type_name}"));
    }
    // SAFETY: index is open; rd_rel is its pg_class row.
    if kind == ElemKind::Multi && unsafe { (*(*index).rd_rel).relam != pg_sys::get_am_oid(c"ember_ivf".as_ptr(), false) } {
        unsupported("multiembedding columns are indexed with ember_ivf");
    }
    WordMetric { kind, metric, sq8: false }
}

/// Converts a non-NULL value of the opclass's type into words; returns the
/// value's dimensions (for checks against the index). A multiembedding
/// gives its token vectors end to end, and the dimensions of one token.
///
/// # Safety
/// `datum` is a non-NULL datum of the opclass's input type.
pub unsafe fn datum_words(opclass: WordMetric, datum: Datum, out: &mut Vec<f32>) -> usize {
    // SAFETY: forwarded contract: the datum has the layout of `kind`.
    unsafe {
        match opclass.kind {
            ElemKind::Dense => {
                let v = layout::dense_slice::<f32>(datum, vectors::type_name::EMBEDDING);
                out.clear();
                out.extend_from_slice(v);
                v.len()
            }
            ElemKind::Half => {
                let v = layout::dense_slice::<half::f16>(datum, vectors::type_name::HALF);
                half_words(v, out);
                v.len()
            }
            ElemKind::Sparse => {
                let s = layout::sparse_ref(datum);
                sparse_words(s.dim, s.indices, s.values, out);
                s.dim
            }
            ElemKind::Multi => {
                let m = crate::types::multi::multi_ref(datum);
                out.clear();
                out.extend_from_slice(m.data);
                m.dim
            }
        }
    }
}
