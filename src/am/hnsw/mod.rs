//! The `ember_hnsw` index access method: the IndexAmRoutine and its
//! callbacks. Each callback converts pointers and calls the pure graph code
//! in `crates/hnsw` through [`crate::storage::PgRelation`].

mod build;
mod graph_build;
mod cost;
mod insert;
pub mod options;
mod scan;
mod vacuum;
pub mod verify;

use pgrx::pg_sys;

use crate::pg_v1;

/// Build phases reported in `pg_stat_progress_create_index.phase`.
const PHASES: [&std::ffi::CStr; 3] = [c"loading tuples", c"building graph", c"writing pages"];

/// The first build phase number (`PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE` is 1).
pub const PHASE_LOAD: i64 = 2;
/// Building the graph in memory.
pub const PHASE_GRAPH: i64 = 3;
/// Writing and WAL-logging the pages.
pub const PHASE_WRITE: i64 = 4;

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn build_phase_name(phase: i64) -> *mut std::ffi::c_char {
    match phase {
        1 => c"initializing".as_ptr().cast_mut(),
        p if (PHASE_LOAD..PHASE_LOAD + PHASES.len() as i64).contains(&p) => {
            PHASES[(p - PHASE_LOAD) as usize].as_ptr().cast_mut()
        }
        _ => std::ptr::null_mut(),
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn validate(_opclass: pg_sys::Oid) -> bool {
    // The opclasses are ember's own (sql/hnsw.sql); opclass_of() rejects any
    // other combination when an index is created.
    true
}

pg_v1!(
    /// `ember_hnsw_handler(internal) RETURNS index_am_handler`.
    fn ember_hnsw_handler(_fcinfo) {
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
