//! The `ember_ivf` index access method: the IndexAmRoutine and its
//! callbacks. Each callback converts pointers and calls the pure list code
//! in `crates/ivf` through [`crate::storage::PgRelation`].

mod build;
mod cost;
mod index;
mod insert;
pub mod options;
mod scan;
mod vacuum;
pub mod verify;

use pgrx::pg_sys;

use crate::pg_v1;

/// Build phases reported in `pg_stat_progress_create_index.phase`.
const PHASES: [&std::ffi::CStr; 3] = [c"sampling tuples", c"computing centroids", c"assigning tuples"];

/// The first build phase number (`PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE` is 1).
pub const PHASE_SAMPLE: i64 = 2;
/// k-means on the sample.
pub const PHASE_KMEANS: i64 = 3;
/// The second heap scan, appending to the lists.
pub const PHASE_ASSIGN: i64 = 4;

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn build_phase_name(phase: i64) -> *mut std::ffi::c_char {
    match phase {
        1 => c"initializing".as_ptr().cast_mut(),
        p if (PHASE_SAMPLE..PHASE_SAMPLE + PHASES.len() as i64).contains(&p) => {
            PHASES[(p - PHASE_SAMPLE) as usize].as_ptr().cast_mut()
        }
        _ => std::ptr::null_mut(),
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn validate(_opclass: pg_sys::Oid) -> bool {
    // The opclasses are ember's own (sql/ivf.sql); opclass_of() rejects any
    // other combination when an index is created.
    true
}

pg_v1!(
    /// `ember_ivf_handler(internal) RETURNS index_am_handler`.
    fn ember_ivf_handler(_fcinfo) {
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
            r.ambuild = Some(build::ambuild);
            r.ambuildempty = Some(build::ambuildempty);
            r.aminsert = Some(insert::aminsert);
            r.ambulkdelete = Some(vacuum::ambulkdelete);
            r.amvacuumcleanup = Some(vacuum::amvacuumcleanup);
            r.amcanreturn = None;
            r.amcostestimate = Some(cost::amcostestimate);
            r.amoptions = Some(options::amoptions);
            r.amproperty = None;
            r.ambuildphasename = Some(build_phase_name);
            r.amvalidate = Some(validate);
            r.amadjustmembers = None;
            r.ambeginscan = Some(scan::ambeginscan);
            r.amrescan = Some(scan::amrescan);
            r.amgettuple = Some(scan::amgettuple);
            r.amgetbitmap = None;
            r.amendscan = Some(scan::amendscan);
            r.ammarkpos = None;
            r.amrestrpos = None;
            r.amestimateparallelscan = None;
            r.aminitparallelscan = None;
            r.amparallelrescan = None;
            pg_sys::Datum::from(am)
        }
    }
);
