//! Callback plumbing that ember_hnsw and ember_ivf share: the
//! IndexAmRoutine, build phase names, scan descriptors' ORDER BY values,
//! VACUUM's stats and dead-tuple test, and reloptions parsing.

use std::ffi::{c_char, CStr};

use ::hnsw::ondisk::Tid;
use pgrx::check_for_interrupts;
use pgrx::pg_sys;

use super::opclass::datum_words;
use super::set_heap_tid;
use super::words::WordMetric;

/// What differs between ember's access methods' IndexAmRoutines.
pub struct AmCallbacks {
    pub build: pg_sys::ambuild_function,
    pub build_empty: pg_sys::ambuildempty_function,
    pub insert: pg_sys::aminsert_function,
    pub bulk_delete: pg_sys::ambulkdelete_function,
    pub vacuum_cleanup: pg_sys::amvacuumcleanup_function,
    pub cost_estimate: pg_sys::amcostestimate_function,
    pub options: pg_sys::amoptions_function,
    pub build_phase_name: pg_sys::ambuildphasename_function,
    pub begin_scan: pg_sys::ambeginscan_function,
    pub rescan: pg_sys::amrescan_function,
    pub get_tuple: pg_sys::amgettuple_function,
    pub end_scan: pg_sys::amendscan_function,
}

/// Defines an AM's `handler(internal) RETURNS index_am_handler` from the
/// callbacks of its modules (`build`, `insert`, `vacuum`, `cost`,
/// `options`, `scan`) and its `build_phase_name`.
macro_rules! index_am_handler {
    ($(#[$meta:meta])* fn $name:ident) => {
        $crate::pg_v1!(
            $(#[$meta])*
            fn $name(_fcinfo) {
                $crate::am::glue::index_am_routine($crate::am::glue::AmCallbacks {
                    build: Some(build::ambuild),
                    build_empty: Some(build::ambuildempty),
                    insert: Some(insert::aminsert),
                    bulk_delete: Some(vacuum::ambulkdelete),
                    vacuum_cleanup: Some(vacuum::amvacuumcleanup),
                    cost_estimate: Some(cost::amcostestimate),
                    options: Some(options::amoptions),
                    build_phase_name: Some(build_phase_name),
                    begin_scan: Some(scan::ambeginscan),
                    rescan: Some(scan::amrescan),
                    get_tuple: Some(scan::amgettuple),
                    end_scan: Some(scan::amendscan),
                })
            }
        );
    };
}
pub(crate) use index_am_handler;

/// `disable_cost`: the planner's "never, unless there is no other way".
pub const DISABLE_COST: f64 = 1.0e10;

/// Starts an `amcostestimate`: every row is a match and the order is
/// uncorrelated; a path without ORDER BY (which these AMs cannot answer)
/// is priced out. Returns whether the path has an ORDER BY to estimate.
///
/// # Safety
/// The pointers are `amcostestimate`'s arguments.
pub unsafe fn start_cost_estimate(
    path: *mut pg_sys::IndexPath,
    startup: *mut pg_sys::Cost,
    total: *mut pg_sys::Cost,
    selectivity: *mut pg_sys::Selectivity,
    correlation: *mut f64,
    pages: *mut f64,
) -> bool {
    // SAFETY: forwarded contract.
    unsafe {
        *selectivity = 1.0;
        *correlation = 0.0;
        if (*path).indexorderbys.is_null() {
            *startup = DISABLE_COST;
            *total = DISABLE_COST;
            *pages = 0.0;
            return false;
        }
        true
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn validate(_opclass: pg_sys::Oid) -> bool {
    // The opclasses are ember's own (sql/hnsw.sql, sql/ivf.sql); opclass_of()
    // rejects any other combination when an index is created.
    true
}

/// A palloc'd IndexAmRoutine of an ORDER BY-only, single-column index AM.
pub fn index_am_routine(cb: AmCallbacks) -> pg_sys::Datum {
    // SAFETY: makeNode-style allocation of a zeroed IndexAmRoutine in the
    // current memory context; every field the server reads is set.
    unsafe {
        let am = pg_sys::palloc0(size_of::<pg_sys::IndexAmRoutine>()).cast::<pg_sys::IndexAmRoutine>();
        let r = &mut *am;
        r.type_ = pg_sys::NodeTag::T_IndexAmRoutine;
        r.amstrategies = 0;
        r.amsupport = 1;
        r.amoptsprocnum = 0;
        r.amcanorder = false;
        r.amcanorderbyop = true;
        r.amcanbackward = false;
        r.amcanunique = false;
        r.amcanmulticol = false;
        r.amoptionalkey = true;
        r.amsearcharray = false;
        r.amsearchnulls = false;
        r.amstorage = false;
        r.amclusterable = false;
        r.ampredlocks = false;
        r.amcanparallel = false;
        r.amcaninclude = false;
        r.amusemaintenanceworkmem = false;
        r.amparallelvacuumoptions = pg_sys::VACUUM_OPTION_PARALLEL_BULKDEL as u8;
        r.amkeytype = pg_sys::InvalidOid;
        r.ambuild = cb.build;
        r.ambuildempty = cb.build_empty;
        r.aminsert = cb.insert;
        r.ambulkdelete = cb.bulk_delete;
        r.amvacuumcleanup = cb.vacuum_cleanup;
        r.amcanreturn = None;
        r.amcostestimate = cb.cost_estimate;
        r.amoptions = cb.options;
        r.amproperty = None;
        r.ambuildphasename = cb.build_phase_name;
        r.amvalidate = Some(validate);
        r.amadjustmembers = None;
        r.ambeginscan = cb.begin_scan;
        r.amrescan = cb.rescan;
        r.amgettuple = cb.get_tuple;
        r.amgetbitmap = None;
        r.amendscan = cb.end_scan;
        r.ammarkpos = None;
        r.amrestrpos = None;
        r.amestimateparallelscan = None;
        r.aminitparallelscan = None;
        r.amparallelrescan = None;
        pg_sys::Datum::from(am)
    }
}

/// The first AM-specific build phase number
/// (`PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE` is 1).
pub const FIRST_PHASE: i64 = 2;

/// The name of build phase `phase` given an AM's phases (from
/// [`FIRST_PHASE`] on), for `ambuildphasename`.
pub fn phase_name(phases: &[&'static CStr], phase: i64) -> *mut c_char {
    match phase {
        1 => c"initializing".as_ptr().cast_mut(),
        p if p >= FIRST_PHASE && ((p - FIRST_PHASE) as usize) < phases.len() => {
            phases[(p - FIRST_PHASE) as usize].as_ptr().cast_mut()
        }
        _ => std::ptr::null_mut(),
    }
}

/// Allocates the scan's ORDER BY outputs (the lower bounds of entries
/// stored as codes; GiST allocates these too).
///
/// # Safety
/// `scan` comes from `RelationGetIndexScan`.
pub unsafe fn alloc_orderby_outputs(scan: pg_sys::IndexScanDesc, norderbys: i32) {
    let n = norderbys.max(1) as usize;
    // SAFETY: palloc0 in the scan's memory context.
    unsafe {
        (*scan).xs_orderbyvals = pg_sys::palloc0(n * size_of::<pg_sys::Datum>()).cast();
        (*scan).xs_orderbynulls = pg_sys::palloc0(n * size_of::<bool>()).cast();
    }
}

/// `amrescan`'s ORDER BY keys: copies them into the scan and returns the
/// query's words and dimensions, or `None` for `ORDER BY col <op> NULL`
/// (or no ORDER BY).
///
/// # Safety
/// `scan` is an index scan; `orderbys` has `norderbys` keys whose arguments
/// are of the opclass's type.
pub unsafe fn rescan_query(
    scan: pg_sys::IndexScanDesc,
    opclass: WordMetric,
    orderbys: pg_sys::ScanKey,
    norderbys: i32,
) -> Option<(Vec<f32>, usize)> {
    if norderbys <= 0 || orderbys.is_null() {
        return None;
    }
    // SAFETY: forwarded contract; orderByData has room for norderbys keys.
    unsafe {
        std::ptr::copy_nonoverlapping(orderbys, (*scan).orderByData, norderbys as usize);
        let key = &*orderbys;
        if key.sk_flags & pg_sys::SK_ISNULL as i32 != 0 {
            return None;
        }
        let mut words = Vec::new();
        let dims = datum_words(opclass, key.sk_argument, &mut words);
        Some((words, dims))
    }
}

/// The stats to fill: the one VACUUM passed, or a new zeroed one.
///
/// # Safety
/// Called in a VACUUM callback.
pub unsafe fn stats_or_new(stats: *mut pg_sys::IndexBulkDeleteResult) -> *mut pg_sys::IndexBulkDeleteResult {
    if stats.is_null() {
        // SAFETY: palloc0 in the vacuum's memory context, as nbtree does.
        unsafe { pg_sys::palloc0(size_of::<pg_sys::IndexBulkDeleteResult>()).cast() }
    } else {
        stats
    }
}

/// VACUUM's "is this heap tuple dead" test as a closure over TIDs, which
/// also checks for interrupts now and then.
///
/// # Safety
/// `callback` and `state` are what `ambulkdelete` was given.
pub unsafe fn dead_tuple_test(
    callback: pg_sys::IndexBulkDeleteCallback,
    state: *mut std::ffi::c_void,
) -> impl FnMut(Tid) -> bool {
    let callback = callback.expect("VACUUM passes a callback");
    let mut calls = 0u64;
    move |tid: Tid| {
        calls += 1;
        if calls.is_multiple_of(1024) {
            check_for_interrupts!();
        }
        let mut item = pg_sys::ItemPointerData::default();
        set_heap_tid(&mut item, tid);
        // SAFETY: forwarded contract.
        unsafe { callback(&mut item, state) }
    }
}

/// `amoptions` through `build_reloptions`: a palloc'd `T` (NULL when there
/// are no options).
///
/// # Safety
/// `table` describes fields of the `#[repr(C)]` struct `T`, which starts
/// with a varlena header; `kind` is the AM's registered reloption kind.
pub unsafe fn build_reloptions<T>(
    reloptions: pg_sys::Datum,
    validate: bool,
    kind: pg_sys::relopt_kind::Type,
    table: &[pg_sys::relopt_parse_elt],
) -> *mut pg_sys::bytea {
    // SAFETY: forwarded contract.
    unsafe { pg_sys::build_reloptions(reloptions, validate, kind, size_of::<T>(), table.as_ptr(), table.len() as i32).cast() }
}

/// The index's parsed options, or `default` when it has none.
///
/// # Safety
/// `index` is open and its `rd_options` is NULL or a `T` from
/// [`build_reloptions`].
pub unsafe fn options_or<T: Copy>(index: pg_sys::Relation, default: T) -> T {
    // SAFETY: forwarded contract.
    unsafe {
        let p = (*index).rd_options.cast::<T>();
        if p.is_null() {
            default
        } else {
            *p
        }
    }
}
