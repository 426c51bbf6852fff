//! The in-memory part of a build: the collected values, and the graph
//! built from them on every core.
//!
//! The graph is built by `hnsw::ParallelBuilder` on threads started from a
//! helper thread that blocks all signals (threads inherit the mask), so
//! Postgres's signal handlers only ever run on the backend's own thread.
//! That thread meanwhile polls for a cancel (turning it into the builder's
//! stop flag, then into the usual ERROR) and reports progress.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use hnsw::ondisk::Tid;
use hnsw::{Hnsw, HnswError, HnswParams, ParallelBuilder};
use pgrx::{check_for_interrupts, pg_sys, PgSqlErrorCode};

use super::super::words::WordMetric;
use crate::fmgr::raise_code;

/// Values collected by the heap scan, ready to be linked.
pub struct Collected {
    builder: ParallelBuilder<WordMetric>,
    tids: Vec<Tid>,
    words: usize,
}

impl Collected {
    /// An empty collection for a graph of `dims` words per vector (0: any).
    pub fn new(dims: usize, params: HnswParams, opclass: WordMetric) -> Self {
        Self { builder: ParallelBuilder::new(dims, params, opclass), tids: Vec::new(), words: 0 }
    }

    /// Adds one value (its length was checked by the caller).
    pub fn push(&mut self, words: &[f32], tid: Tid) {
        self.builder
            .push(words)
            .unwrap_or_else(|e| raise_code(PgSqlErrorCode::ERRCODE_DATA_EXCEPTION, e.to_string()));
        self.tids.push(tid);
        self.words += words.len();
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.tids.len()
    }

    /// Memory the values and their graph will take while building.
    pub fn estimated_bytes(&self, m: usize) -> usize {
        let n = self.len().max(1);
        hnsw::estimate_bytes(n, self.words.div_ceil(n), m) + n * size_of::<Tid>()
    }

    /// Builds the graph, reporting progress and honouring query cancel;
    /// returns it with the heap TID of each element.
    pub fn build(self) -> (Hnsw<WordMetric>, Vec<Tid>) {
        let stop = AtomicBool::new(false);
        let done = AtomicUsize::new(0);
        let builder = self.builder;
        let result = std::thread::scope(|scope| {
            let worker = scope.spawn(|| {
                crate::embed::block_all_signals();
                builder.build_with_progress(0, &|| stop.load(Ordering::Relaxed), &|d| done.store(d, Ordering::Relaxed))
            });
            while !worker.is_finished() {
                std::thread::sleep(Duration::from_millis(20));
                if cancel_requested() {
                    stop.store(true, Ordering::Relaxed);
                }
                report_done(done.load(Ordering::Relaxed));
            }
            worker.join()
        });
        check_for_interrupts!();
        match result {
            Ok(Ok(graph)) => (graph, self.tids),
            Ok(Err(HnswError::Cancelled)) => raise_code(PgSqlErrorCode::ERRCODE_QUERY_CANCELED, "ember_hnsw build canceled"),
            Ok(Err(e)) => raise_code(PgSqlErrorCode::ERRCODE_DATA_EXCEPTION, e.to_string()),
            Err(_) => raise_code(PgSqlErrorCode::ERRCODE_INTERNAL_ERROR, "ember_hnsw build thread panicked"),
        }
    }
}

/// Whether a cancel or termination is pending. Not `InterruptPending`
/// alone: harmless interrupts (e.g. the idle statistics timer) set it too.
fn cancel_requested() -> bool {
    // SAFETY: flags set by the signal handlers; read volatile, never written here.
    unsafe {
        std::ptr::read_volatile(std::ptr::addr_of!(pg_sys::QueryCancelPending)) != 0
            || std::ptr::read_volatile(std::ptr::addr_of!(pg_sys::ProcDiePending)) != 0
    }
}

fn report_done(done: usize) {
    // SAFETY: progress reporting is a no-op outside CREATE INDEX.
    unsafe { pg_sys::pgstat_progress_update_param(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE as i32, done as i64) };
}
