//! The in-memory part of a build: the collected values, and the graph
//! built from them on every core.
//!
//! The graph is built by `hnsw::ParallelBuilder` off the backend's thread
//! ([`offload`]): a cancel becomes the builder's stop flag, then the usual
//! ERROR.

use std::sync::atomic::Ordering;

use hnsw::ondisk::Tid;
use hnsw::{Hnsw, HnswError, HnswParams, ParallelBuilder};
use pgrx::PgSqlErrorCode;

use super::super::offload::offload;
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
        let builder = self.builder;
        let result = offload("ember_hnsw build", |signals| {
            builder.build_with_progress(0, &|| signals.stop.load(Ordering::Relaxed), &|d| signals.done.store(d, Ordering::Relaxed))
        });
        match result {
            Ok(graph) => (graph, self.tids),
            Err(HnswError::Cancelled) => raise_code(PgSqlErrorCode::ERRCODE_QUERY_CANCELED, "ember_hnsw build canceled"),
            Err(e) => raise_code(PgSqlErrorCode::ERRCODE_DATA_EXCEPTION, e.to_string()),
        }
    }
}
