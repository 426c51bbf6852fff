//! `ambuild` / `ambuildempty`: CREATE INDEX and REINDEX.
//!
//! The heap scan collects every indexable value (NULLs and, for cosine,
//! zero vectors are skipped) into memory; the graph is then built in
//! memory on all cores and written page by page without WAL, and finally
//! every page is WAL-logged at once (`log_newpage_range`).
//!
//! When the collected vectors and their links would outgrow
//! `maintenance_work_mem`, a NOTICE says so, the graph of what was
//! collected is built and written, and the rest of the heap is inserted
//! into the graph on pages one value at a time (slower, bounded memory).

use hnsw::ondisk::{self, Tid};

use hnsw::HnswParams;
use pgrx::pg_sys;
use pgrx::{check_for_interrupts, ereport, PgLogLevel, PgSqlErrorCode};

use super::super::opclass::{datum_words, opclass_of};
use super::super::words::WordMetric;
use super::super::{ondisk_or_raise, tid_of};
use super::graph_build::{Built, Collected};
use super::{options, PHASE_GRAPH, PHASE_LOAD, PHASE_WRITE};
use crate::fmgr::raise_code;
use crate::storage::{Logging, PgRelation};

/// Seed of the build's layer assignment (REINDEX gives the same layers).
const SEED: u64 = 0x5EED_E3BE_2026;

struct BuildState {
    rel: PgRelation,
    opclass: WordMetric,
    /// The opclass's metric over what the pages store (codes for values
    /// too large for a page), once the dimensions are known.
    stored: WordMetric,
    code: Vec<f32>,
    params: HnswParams,
    collected: Collected,
    budget: usize,
    /// Set once the in-memory graph was written: the rest goes on pages.
    spilled: bool,
    /// `WITH (neighbour_codes = ..)`.
    neighbour_codes: bool,
    index_tuples: f64,
    words: Vec<f32>,
    /// Words per vector of the graph (0: variable, or not known yet).
    dims: usize,
}

fn report(param: u32, value: i64) {
    // SAFETY: progress reporting is a no-op outside a command that started it.
    unsafe { pg_sys::pgstat_progress_update_param(param as i32, value) }
}

impl BuildState {
    fn add(&mut self, heap_tid: Tid) {
        if self.opclass.skips(&self.words) {
            return;
        }
        if self.dims == 0 && self.index_tuples == 0.0 {
            // No typmod: the first value fixes the dimensions.
            self.dims = self.opclass.fixed_words(self.words.len());
            self.stored = stored_metric_for(self.opclass, self.dims, self.params.m);
            self.collected = self.empty_collection();
        }
        if self.dims != 0 && self.words.len() != self.dims {
            let name = super::super::words::type_name(self.opclass);
            crate::fmgr::raise(vectors::VectorError::dim_mismatch(name, self.dims, self.words.len()));
        }
        self.index_tuples += 1.0;
        if self.spilled {
            let level = hnsw::graph_level(SEED, self.index_tuples as u64, self.params.m);
            let stored = self.stored.store(&self.words, &mut self.code);
            let result = ondisk::insert(&self.rel, &self.stored, stored, heap_tid, level);
            ondisk_or_raise(self.rel.relation(), result);
        } else {
            self.collected.push(&self.words, heap_tid);
            if self.collected.estimated_bytes(self.params.m) > self.budget {
                self.spill();
            }
        }
        if (self.index_tuples as u64).is_multiple_of(1000) {
            report(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, self.index_tuples as i64);
        }
    }

    /// Builds and writes what was collected; later values go on pages.
    fn spill(&mut self) {
        ereport!(
            PgLogLevel::NOTICE,
            PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
            format!(
                "ember_hnsw graph no longer fits into maintenance_work_mem after {} tuples",
                self.collected.len()
            ),
            "Building will take longer: the rest of the table is inserted into the graph on pages. Raise maintenance_work_mem to build faster."
        );
        // The spill NOTICE already asks for more memory.
        self.write_collected(false);
        self.spilled = true;
    }

    fn empty_collection(&self) -> Collected {
        let (_, made_codes) = link_codes_of(self.stored, self.neighbour_codes);
        Collected::new(self.dims, self.params, self.opclass, made_codes)
    }

    /// Builds and writes the collected values; `say_codes`: NOTICE when
    /// memory makes the neighbour codes centroid codes.
    fn write_collected(&mut self, say_codes: bool) {
        let empty = self.empty_collection();
        let collected = std::mem::replace(&mut self.collected, empty);
        report(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_GRAPH);
        let (link_codes, _) = link_codes_of(self.stored, self.neighbour_codes);
        let (built, codes, tids) = collected.build(self.budget, say_codes);
        report(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_WRITE);
        write_graph(&self.rel, self.stored, link_codes, &built, codes.as_ref(), &tids);
    }
}

/// The metric over stored elements for values of `dims` dimensions.
fn stored_metric_for(opclass: WordMetric, dims: usize, m: usize) -> WordMetric {
    WordMetric { sq8: opclass.codes_needed(dims, m), ..opclass }
}

/// The neighbour codes of an index (the metapage's kind; none with
/// `neighbour_codes` off), and those its build makes: none where the
/// pages store SQ8 codes of the values, which get no neighbour codes.
fn link_codes_of(stored: WordMetric, neighbour_codes: bool) -> (ondisk::LinkCodes, ondisk::LinkCodes) {
    let kind = if neighbour_codes { stored.link_codes() } else { ondisk::LinkCodes::None };
    (kind, if stored.sq8 { ondisk::LinkCodes::None } else { kind })
}

/// Writes the graph built on the values, storing codes of them when
/// `stored` says so, and neighbour codes of kind `link_codes` (`made`:
/// those the build made).
fn write_graph(
    rel: &PgRelation,
    stored: WordMetric,
    link_codes: ondisk::LinkCodes,
    built: &Built,
    made: Option<&hnsw::ElementCodes>,
    tids: &[Tid],
) {
    let neighbour_codes = made.map_or(ondisk::NeighbourCodes::Make(link_codes), ondisk::NeighbourCodes::Made);
    let written = match built {
        Built::Plain(graph) => write_stored(rel, stored, neighbour_codes, graph, None, tids),
        Built::Linked { graph, values } => {
            let data = values.flat_vectors().expect("linked graphs have fixed dimensions");
            write_stored(rel, stored, neighbour_codes, graph, Some(ondisk::Values { data, dims: values.dims() }), tids)
        }
    };
    ondisk_or_raise(rel.relation(), written);
}

/// Writes `graph` with `values` (`None`: its own vectors) on its elements,
/// or their SQ8 codes when `stored` says so.
fn write_stored<D: hnsw::Distance>(
    rel: &PgRelation,
    stored: WordMetric,
    neighbour_codes: ondisk::NeighbourCodes<'_>,
    graph: &hnsw::Hnsw<D>,
    values: Option<ondisk::Values<'_>>,
    tids: &[Tid],
) -> Result<(), ondisk::OnDiskError> {
    let value_dims = values.map_or(graph.dims(), |v| v.dims);
    let encode: ondisk::Encoder<'_> = &quantize::sq8::encode;
    let codes = stored.sq8.then(|| (stored.stored_words(value_dims), encode));
    ondisk::write_graph_from(rel, graph, values, tids, stored.id(), codes, neighbour_codes)
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn build_callback(
    _index: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    _alive: bool,
    state: *mut std::ffi::c_void,
) {
    // SAFETY: state is our BuildState; values/isnull have one entry (one key column).
    unsafe {
        let state = &mut *state.cast::<BuildState>();
        if *isnull {
            return;
        }
        check_for_interrupts!();
        let mut words = std::mem::take(&mut state.words);
        datum_words(state.opclass, *values, &mut words);
        state.words = words;
        state.add(tid_of(&*tid));
    }
}

/// The graph's fixed words per vector: from the column's typmod
/// (`embedding(384)`), else 0 until the first value is seen.
fn fixed_dims(index: pg_sys::Relation, opclass: WordMetric) -> usize {
    // SAFETY: index is open; its tuple descriptor has one attribute.
    let typmod = unsafe { (*(*index).rd_att).attrs.as_slice(1)[0].atttypmod };
    if typmod > 0 {
        opclass.fixed_words(typmod as usize)
    } else {
        0
    }
}

/// The graph's parameters and whether to store neighbour codes.
fn params_of(index: pg_sys::Relation) -> (HnswParams, bool) {
    // SAFETY: index is open.
    let opts = unsafe { options::of(index) };
    let params = HnswParams::new_checked(opts.m as usize, opts.ef_construction as usize, SEED)
        .unwrap_or_else(|e| raise_code(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, e.to_string()));
    (params, opts.neighbour_codes)
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambuild(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    index_info: *mut pg_sys::IndexInfo,
) -> *mut pg_sys::IndexBuildResult {
    // SAFETY: the server passes open, locked relations; the index is empty.
    unsafe {
        if (*index_info).ii_NumIndexKeyAttrs != 1 {
            ereport!(ERROR, PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, "ember_hnsw indexes exactly one column");
        }
        // The build packs, codes and encodes on the global rayon pool from
        // this thread: its threads must never take Postgres's signals.
        crate::embed::init_thread_pool();
        let opclass = opclass_of(index);
        let (params, neighbour_codes) = params_of(index);
        let dims = fixed_dims(index, opclass);
        let stored = stored_metric_for(opclass, dims, params.m);
        let mut state = BuildState {
            rel: PgRelation::new(index, pg_sys::ForkNumber::MAIN_FORKNUM, Logging::BuildUnlogged),
            opclass,
            params,
            collected: Collected::new(dims, params, opclass, link_codes_of(stored, neighbour_codes).1),
            stored,
            code: Vec::new(),
            budget: pg_sys::maintenance_work_mem as usize * 1024,
            spilled: false,
            neighbour_codes,
            index_tuples: 0.0,
            words: Vec::new(),
            dims,
        };
        report(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_LOAD);
        report(pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, (*(*heap).rd_rel).reltuples.max(0.0) as i64);
        let heap_tuples = pg_sys::table_index_build_scan(
            heap,
            index,
            index_info,
            true,
            true,
            Some(build_callback),
            std::ptr::addr_of_mut!(state).cast(),
            std::ptr::null_mut(),
        );
        if !state.spilled {
            state.write_collected(true);
        }
        state.rel.log_all_pages();
        let result = pg_sys::palloc0(size_of::<pg_sys::IndexBuildResult>()).cast::<pg_sys::IndexBuildResult>();
        (*result).heap_tuples = heap_tuples;
        (*result).index_tuples = state.index_tuples;
        result
    }
}

/// Writes an empty graph (the metapage) into the INIT fork of an UNLOGGED
/// index, WAL-logged, so the index is valid after a crash resets it.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambuildempty(index: pg_sys::Relation) {
    // SAFETY: index is open; its init fork exists and is empty.
    unsafe {
        let opclass = opclass_of(index);
        let rel = PgRelation::new(index, pg_sys::ForkNumber::INIT_FORKNUM, Logging::BuildUnlogged);
        let (dims, (params, neighbour_codes)) = (fixed_dims(index, opclass), params_of(index));
        let stored = stored_metric_for(opclass, dims, params.m);
        let (link_codes, made_codes) = link_codes_of(stored, neighbour_codes);
        let (built, codes, tids) = Collected::new(dims, params, opclass, made_codes).build(0, false);
        write_graph(&rel, stored, link_codes, &built, codes.as_ref(), &tids);
        rel.log_all_pages();
    }
}
