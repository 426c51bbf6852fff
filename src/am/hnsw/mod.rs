//! The `ember_hnsw` index access method: the IndexAmRoutine and its
//! callbacks. Each callback converts pointers and calls the pure graph code
//! in `crates/hnsw` through [`crate::storage::PgRelation`].

mod build;
mod graph_build;
mod cost;
pub mod info;
mod insert;
pub mod options;
mod scan;
mod vacuum;
pub mod verify;

use super::glue;

/// Build phases reported in `pg_stat_progress_create_index.phase`.
const PHASES: [&std::ffi::CStr; 3] = [c"loading tuples", c"building graph", c"writing pages"];

/// The first build phase.
pub const PHASE_LOAD: i64 = glue::FIRST_PHASE;
/// Building the graph in memory.
pub const PHASE_GRAPH: i64 = PHASE_LOAD + 1;
/// Writing and WAL-logging the pages.
pub const PHASE_WRITE: i64 = PHASE_LOAD + 2;

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn build_phase_name(phase: i64) -> *mut std::ffi::c_char {
    glue::phase_name(&PHASES, phase)
}

glue::index_am_handler!(
    /// `ember_hnsw_handler(internal) RETURNS index_am_handler`.
    fn ember_hnsw_handler
);
