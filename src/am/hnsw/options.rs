//! `WITH (m = .., ef_construction = .., neighbour_codes = ..)`: reloptions
//! of ember_hnsw.

use std::sync::atomic::{AtomicU32, Ordering};

use pgrx::pg_sys;

use super::super::glue;
use pgrx::{ereport, PgSqlErrorCode};

/// Default and range of `m` (neighbours per element above layer 0).
pub const M: (i32, i32, i32) = (16, 2, 100);
/// Default and range of `ef_construction`.
pub const EF_CONSTRUCTION: (i32, i32, i32) = (64, 4, 1000);

/// The parsed options, as `build_reloptions` fills them (a varlena).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct HnswOptions {
    vl_len_: i32,
    /// `m`.
    pub m: i32,
    /// `ef_construction`.
    pub ef_construction: i32,
    /// `neighbour_codes`: store a code of each neighbour next to the
    /// lists (where the metric and size allow; about twice the index
    /// size, far fewer elements read per query).
    pub neighbour_codes: bool,
}

/// The options of an index created without any.
const DEFAULTS: HnswOptions = HnswOptions { vl_len_: 0, m: M.0, ef_construction: EF_CONSTRUCTION.0, neighbour_codes: true };

static KIND: AtomicU32 = AtomicU32::new(0);

/// Registers the options; called from `_PG_init`.
pub fn register() {
    // SAFETY: called once at library load, in the postmaster or a backend's
    // main thread; the strings are static.
    unsafe {
        let kind = pg_sys::add_reloption_kind();
        KIND.store(kind, Ordering::Relaxed);
        let lock = pg_sys::AccessExclusiveLock as i32;
        pg_sys::add_int_reloption(kind, c"m".as_ptr(), c"Max number of neighbours per element on layers above 0 (layer 0 keeps 2m)".as_ptr(), M.0, M.1, M.2, lock);
        pg_sys::add_int_reloption(kind, c"ef_construction".as_ptr(), c"Size of the candidate list while building the graph".as_ptr(), EF_CONSTRUCTION.0, EF_CONSTRUCTION.1, EF_CONSTRUCTION.2, lock);
        pg_sys::add_bool_reloption(kind, c"neighbour_codes".as_ptr(), c"Store compact codes of the neighbours next to each list (bigger index, faster queries)".as_ptr(), DEFAULTS.neighbour_codes, lock);
    }
}

/// `amoptions`: parses and validates `reloptions`.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amoptions(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea {
    let table = [
        pg_sys::relopt_parse_elt {
            optname: c"m".as_ptr(),
            opttype: pg_sys::relopt_type::RELOPT_TYPE_INT,
            offset: std::mem::offset_of!(HnswOptions, m) as i32,
        },
        pg_sys::relopt_parse_elt {
            optname: c"ef_construction".as_ptr(),
            opttype: pg_sys::relopt_type::RELOPT_TYPE_INT,
            offset: std::mem::offset_of!(HnswOptions, ef_construction) as i32,
        },
        pg_sys::relopt_parse_elt {
            optname: c"neighbour_codes".as_ptr(),
            opttype: pg_sys::relopt_type::RELOPT_TYPE_BOOL,
            offset: std::mem::offset_of!(HnswOptions, neighbour_codes) as i32,
        },
    ];
    // SAFETY: the table describes HnswOptions' fields; build_reloptions
    // returns a palloc'd HnswOptions or NULL when there are no options.
    unsafe { glue::build_reloptions::<HnswOptions>(reloptions, validate, KIND.load(Ordering::Relaxed), &table) }
}

/// The index's options (defaults when none were given), checked together.
///
/// # Safety
/// `index` is an open ember_hnsw index.
pub unsafe fn of(index: pg_sys::Relation) -> HnswOptions {
    // SAFETY: rd_options is NULL or what amoptions returned.
    let opts = unsafe { glue::options_or(index, DEFAULTS) };
    if opts.ef_construction < 2 * opts.m {
        ereport!(
            ERROR,
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("ef_construction ({}) must be at least 2 * m ({})", opts.ef_construction, 2 * opts.m)
        );
    }
    opts
}
