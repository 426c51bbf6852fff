//! `ambuild` / `ambuildempty` of ember_ivf.
//!
//! 1. A heap scan keeps a uniform sample (reservoir) of the values and
//!    counts them; the number of lists follows from the count unless the
//!    `lists` option sets it.
//! 2. k-means on the sample, on every core, gives the centroids; the
//!    metapage and the (empty) lists are written.
//! 3. A second heap scan assigns values to their nearest centroid in
//!    batches (on every core) and appends them to the lists.
//!
//! Pages are written without WAL and logged at the end (`log_newpage_range`).

use std::sync::atomic::Ordering;

use ivf::kmeans::{kmeans, Assign};
use ivf::{Meta, Tid};
use pgrx::pg_sys;
use pgrx::{check_for_interrupts, PgSqlErrorCode};
use rayon::prelude::*;

use super::super::offload::{offload, report, report_done};
use super::super::opclass::{datum_words, opclass_of};
use super::super::words::{type_name, ElemKind, WordMetric};
use super::super::{index_corrupted, tid_of};
use super::index::{assign_of, stored_metric, IvfIndex};
use super::options;
use super::{PHASE_ASSIGN, PHASE_KMEANS, PHASE_SAMPLE};
use crate::fmgr::raise_code;
use crate::storage::{Logging, PgRelation};

/// Seed of the sample and of k-means (REINDEX gives the same lists).
const SEED: u64 = 0x1FF_E3BE_2026;
/// Sampled values per list (faiss warns below 39; more costs time).
const SAMPLE_PER_LIST: usize = 64;
/// Values assigned per batch in the second scan.
const BATCH: usize = 16_384;
/// Lloyd iterations.
const ITERATIONS: usize = 10;
/// Tokens per multiembedding row assumed before the first scan counts them.
const TOKENS_PER_ROW_GUESS: u64 = 32;

/// Lists for `rows` values: rows / 1000 up to a million rows, then
/// sqrt(rows), at least 1 (the usual IVF guidance).
pub fn default_lists(rows: u64) -> usize {
    let lists = if rows <= 1_000_000 { rows / 1000 } else { (rows as f64).sqrt() as u64 };
    lists.max(1) as usize
}

/// What the heap scans share: the value being converted and its checks.
struct Values {
    opclass: WordMetric,
    /// Dimensions of an indexed vector (from the typmod, else the first
    /// value; 0: not yet).
    dims: usize,
    /// The value's vectors end to end: one, or a multiembedding's tokens.
    words: Vec<f32>,
}

impl Values {
    /// Converts the datum; false for values the index leaves out.
    unsafe fn load(&mut self, datum: pg_sys::Datum) -> bool {
        // SAFETY: forwarded contract: a non-NULL datum of the opclass's type.
        let dims = unsafe { datum_words(self.opclass, datum, &mut self.words) };
        if self.opclass.skips(&self.words) {
            return false;
        }
        if self.dims == 0 {
            self.dims = dims;
        }
        if dims != self.dims {
            crate::fmgr::raise(vectors::VectorError::dim_mismatch(type_name(self.opclass), self.dims, dims));
        }
        true
    }
}

/// Pass 1: a reservoir sample of the vectors.
struct Sampling {
    values: Values,
    sample: Vec<f32>,
    capacity: usize,
    /// Vectors seen (a multiembedding row has several).
    seen: u64,
    /// Rows with indexed values.
    rows: u64,
    rng: u64,
}

impl Sampling {
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Offers the loaded value's vectors to the sample.
    fn add(&mut self) {
        let dims = self.values.dims;
        let words = std::mem::take(&mut self.values.words);
        for v in words.chunks_exact(dims) {
            if self.sample.len() < self.capacity * dims {
                self.sample.extend_from_slice(v);
            } else {
                let j = (self.next_random() % (self.seen + 1)) as usize;
                if j < self.capacity {
                    self.sample[j * dims..(j + 1) * dims].copy_from_slice(v);
                }
            }
            self.seen += 1;
        }
        self.values.words = words;
        self.rows += 1;
        if self.rows.is_multiple_of(1000) {
            report_done(self.rows as usize);
        }
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn sample_callback(
    _index: pg_sys::Relation,
    _tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    _alive: bool,
    state: *mut std::ffi::c_void,
) {
    // SAFETY: state is our Sampling; one key column.
    unsafe {
        let state = &mut *state.cast::<Sampling>();
        if *isnull {
            return;
        }
        check_for_interrupts!();
        if state.values.load(*values) {
            state.add();
        }
    }
}

/// Pass 2: batches of vectors appended to their lists.
struct Assigning<'a> {
    values: Values,
    rel: &'a PgRelation,
    index: &'a IvfIndex,
    stored: WordMetric,
    /// Vectors end to end, and the heap TID of each.
    batch: Vec<f32>,
    tids: Vec<Tid>,
    /// Vectors appended, and rows they came from.
    entries: usize,
    rows: usize,
}

impl Assigning<'_> {
    fn flush(&mut self) {
        let dims = self.values.dims;
        let (index, batch) = (self.index, &self.batch);
        let lists: Vec<usize> = offload("ember_ivf build", |_| {
            batch.par_chunks(dims).map(|v| index.nearest_list(v)).collect()
        });
        let mut by_list: Vec<Vec<usize>> = vec![Vec::new(); index.lists.len()];
        for (i, &l) in lists.iter().enumerate() {
            by_list[l].push(i);
        }
        let mut code = Vec::new();
        for (list, members) in by_list.iter().enumerate().filter(|(_, m)| !m.is_empty()) {
            let value = |i: usize| &batch[i * dims..(i + 1) * dims];
            let radius = members.iter().map(|&i| index.radius_of(value(i), list)).fold(0.0, f32::max);
            let stored: Vec<(Tid, Vec<f32>)> =
                members.iter().map(|&i| (self.tids[i], self.stored.store(value(i), &mut code).to_vec())).collect();
            let refs: Vec<(Tid, &[f32])> = stored.iter().map(|(t, w)| (*t, w.as_slice())).collect();
            ivf::append(self.rel, index.lists[list].tid, &refs, radius).unwrap_or_else(|e| raise_ivf(self.rel, e));
        }
        self.entries += self.tids.len();
        report_done(self.rows);
        self.batch.clear();
        self.tids.clear();
    }
}

/// The ERROR for an append that failed.
pub fn raise_ivf(rel: &PgRelation, e: ivf::IvfError) -> ! {
    match e {
        ivf::IvfError::TupleTooLarge(n) => crate::fmgr::raise_code_detail(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("value too large for an ember_ivf index: its entry of {n} bytes does not fit on a page"),
            "Use WITH (storage = sq8) (the default) for values of more than about 2,000 dimensions.",
        ),
        e => index_corrupted(rel.relation(), e),
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn assign_callback(
    _index: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    _alive: bool,
    state: *mut std::ffi::c_void,
) {
    // SAFETY: state is our Assigning; one key column.
    unsafe {
        let state = &mut *state.cast::<Assigning>();
        if *isnull {
            return;
        }
        check_for_interrupts!();
        if state.values.load(*values) {
            let tid = tid_of(&*tid);
            state.batch.extend_from_slice(&state.values.words);
            let vectors = state.values.words.len() / state.values.dims;
            state.tids.extend(std::iter::repeat_n(tid, vectors));
            state.rows += 1;
            if state.tids.len() >= BATCH {
                state.flush();
            }
        }
    }
}

/// Dimensions fixed by the column's typmod (0: none).
fn typmod_dims(index: pg_sys::Relation) -> usize {
    // SAFETY: index is open; its tuple descriptor has one attribute.
    let typmod = unsafe { (*(*index).rd_att).attrs.as_slice(1)[0].atttypmod };
    typmod.max(0) as usize
}

/// Centroids for a table with no values: spread deterministically, so
/// inserts land in different lists until a REINDEX learns real ones.
fn spread_centroids(lists: usize, dims: usize, assign: Assign) -> Vec<f32> {
    let mut state = SEED;
    let mut out: Vec<f32> = (0..lists * dims)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect();
    if assign == Assign::Dot {
        for c in out.chunks_exact_mut(dims) {
            let norm = distance::norm_squared(c).sqrt();
            c.iter_mut().for_each(|x| *x /= norm);
        }
    }
    out
}

/// Builds the lists' centroids from the sample.
fn centroids_from(sampling: &Sampling, lists: usize, assign: Assign) -> Vec<f32> {
    let dims = sampling.values.dims;
    if sampling.sample.is_empty() {
        return spread_centroids(lists, dims, assign);
    }
    let sample = &sampling.sample;
    let result = offload("ember_ivf k-means", |signals| {
        let mut progress = |i: usize| signals.done.store(i, Ordering::Relaxed);
        kmeans(sample, dims, lists, assign, ITERATIONS, SEED, &mut progress, &|| signals.stop.load(Ordering::Relaxed))
    });
    result.unwrap_or_else(|_| raise_code(PgSqlErrorCode::ERRCODE_QUERY_CANCELED, "ember_ivf build canceled"))
}

/// Writes an index of `lists` lists for `opclass` (pass 1 already ran).
fn create(rel: &PgRelation, index: pg_sys::Relation, sampling: &Sampling) -> IvfIndex {
    let opclass = sampling.values.opclass;
    // SAFETY: index is open.
    let opts = unsafe { options::of(index) };
    let dims = sampling.values.dims;
    if dims == 0 {
        raise_code(
            PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
            "ember_ivf cannot learn the dimensions of an empty table: give the column a typmod, e.g. embedding(384), or create the index after loading data",
        );
    }
    if !ivf::centroid_fits(dims) {
        crate::fmgr::raise_code_detail(
            PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
            format!("ember_ivf cannot index {dims} dimensions: a centroid must fit on a page"),
            "ember_ivf indexes values of up to about 2,000 dimensions; use ember_hnsw, which stores larger values as 8-bit codes.",
        );
    }
    let lists = if opts.lists > 0 { opts.lists as usize } else { default_lists(sampling.seen) };
    report(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_KMEANS);
    let centroids = centroids_from(sampling, lists, assign_of(opclass));
    let stored = stored_metric(opclass, opts.storage());
    let meta = Meta {
        dims: dims as u16,
        entry_words: stored.stored_words(dims) as u16,
        lists: (centroids.len() / dims) as u32,
        metric_id: opclass.id(),
        storage: opts.storage() as u8,
        centroid_blk: 0,
        built_entries: sampling.seen,
    };
    ivf::create(rel, meta, &centroids).unwrap_or_else(|e| raise_ivf(rel, e));
    IvfIndex::open(rel, opclass)
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
            raise_code(PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, "ember_ivf indexes exactly one column");
        }
        let opclass = opclass_of(index);
        if opclass.kind == ElemKind::Sparse {
            raise_code(
                PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED,
                "ember_ivf indexes embedding, halfembedding and multiembedding columns; use ember_hnsw for sparseembedding",
            );
        }
        let rel = PgRelation::new(index, pg_sys::ForkNumber::MAIN_FORKNUM, Logging::BuildUnlogged);
        let opts = options::of(index);
        let rows_hint = (*(*heap).rd_rel).reltuples.max(0.0) as u64;
        let vectors_hint = if opclass.kind == ElemKind::Multi { rows_hint * TOKENS_PER_ROW_GUESS } else { rows_hint };
        let lists_hint = if opts.lists > 0 { opts.lists as usize } else { default_lists(vectors_hint) };
        let values = Values { opclass, dims: typmod_dims(index), words: Vec::new() };
        let mut sampling = Sampling {
            values,
            sample: Vec::new(),
            capacity: (lists_hint * SAMPLE_PER_LIST).max(10_000),
            seen: 0,
            rows: 0,
            rng: SEED,
        };
        report(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_SAMPLE);
        report(pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, rows_hint as i64);
        let build_scan = |callback: pg_sys::IndexBuildCallback, state: *mut std::ffi::c_void| {
            pg_sys::table_index_build_scan(heap, index, index_info, true, true, callback, state, std::ptr::null_mut())
        };
        let heap_tuples = build_scan(Some(sample_callback), std::ptr::addr_of_mut!(sampling).cast());
        let ivf_index = create(&rel, index, &sampling);
        report(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_ASSIGN);
        let mut assigning = Assigning {
            values: Values { opclass, dims: sampling.values.dims, words: Vec::new() },
            rel: &rel,
            index: &ivf_index,
            stored: ivf_index.metric,
            batch: Vec::new(),
            tids: Vec::new(),
            entries: 0,
            rows: 0,
        };
        build_scan(Some(assign_callback), std::ptr::addr_of_mut!(assigning).cast());
        assigning.flush();
        let entries = assigning.entries;
        rel.log_all_pages();
        let result = pg_sys::palloc0(size_of::<pg_sys::IndexBuildResult>()).cast::<pg_sys::IndexBuildResult>();
        (*result).heap_tuples = heap_tuples;
        (*result).index_tuples = entries as f64;
        result
    }
}

/// Writes an empty index into the INIT fork of an UNLOGGED index.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambuildempty(index: pg_sys::Relation) {
    // SAFETY: index is open; its init fork exists and is empty.
    unsafe {
        let opclass = opclass_of(index);
        let rel = PgRelation::new(index, pg_sys::ForkNumber::INIT_FORKNUM, Logging::BuildUnlogged);
        let sampling = Sampling {
            values: Values { opclass, dims: typmod_dims(index), words: Vec::new() },
            sample: Vec::new(),
            capacity: 0,
            seen: 0,
            rows: 0,
            rng: SEED,
        };
        create(&rel, index, &sampling);
        rel.log_all_pages();
    }
}
