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

use super::glue;

/// Build phases reported in `pg_stat_progress_create_index.phase`.
const PHASES: [&std::ffi::CStr; 3] = [c"sampling tuples", c"computing centroids", c"assigning tuples"];

/// The first build phase.
pub const PHASE_SAMPLE: i64 = glue::FIRST_PHASE;
/// k-means on the sample.
pub const PHASE_KMEANS: i64 = PHASE_SAMPLE + 1;
/// The second heap scan, appending to the lists.
pub const PHASE_ASSIGN: i64 = PHASE_SAMPLE + 2;

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn build_phase_name(phase: i64) -> *mut std::ffi::c_char {
    glue::phase_name(&PHASES, phase)
}

glue::index_am_handler!(
    /// `ember_ivf_handler(internal) RETURNS index_am_handler`.
    fn ember_ivf_handler
);
