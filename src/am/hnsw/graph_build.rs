//! The in-memory part of a build: the collected values, and the graph
//! built from them on every core.
//!
//! The graph is built by `hnsw::ParallelBuilder` off the backend's thread
//! ([`offload`]): a cancel becomes the builder's stop flag, then the usual
//! ERROR. Where half precision orders neighbours like the values
//! ([`WordMetric::half_link`]) and memory allows, it links over
//! half-precision link codes (`hnsw::link`, half the memory read per
//! distance: 25-30% faster) and the pages get the values themselves.

use std::sync::atomic::Ordering;

use hnsw::link::HalfLink;
use hnsw::ondisk::Tid;
use hnsw::{Hnsw, HnswError, HnswParams, ParallelBuilder};
use pgrx::{check_for_interrupts, PgSqlErrorCode};

use super::super::offload::offload;
use super::super::words::WordMetric;
use crate::fmgr::raise_code;

/// Values collected by the heap scan, ready to be linked.
pub struct Collected {
    builder: ParallelBuilder<WordMetric>,
    params: HnswParams,
    opclass: WordMetric,
    tids: Vec<Tid>,
    words: usize,
}

impl Collected {
    /// An empty collection for a graph of `dims` words per vector (0: any).
    pub fn new(dims: usize, params: HnswParams, opclass: WordMetric) -> Self {
        Self { builder: ParallelBuilder::new(dims, params, opclass), params, opclass, tids: Vec::new(), words: 0 }
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
    /// returns it with the heap TID of each element. The graph is linked
    /// over half-precision link codes when the values allow it
    /// ([`WordMetric::half_link`]) and the codes fit in `budget` bytes
    /// next to the values.
    pub fn build(self, budget: usize) -> (Built, Vec<Tid>) {
        let link = self.half_link(budget);
        let Self { builder, params, tids, .. } = self;
        let built = match (link, builder.flat_vectors()) {
            (Some(link), Some(values)) => {
                let (dims, words) = (builder.dims(), hnsw::link::packed_words(builder.dims()));
                let mut linked = ParallelBuilder::new(words, params, link);
                linked.reserve(tids.len(), words);
                let mut code = Vec::new();
                for (i, value) in values.chunks_exact(dims).enumerate() {
                    if i % 4096 == 0 {
                        check_for_interrupts!();
                    }
                    hnsw::link::pack(value, link.normalizes(), &mut code);
                    linked.push(&code).unwrap_or_else(|e| raise_code(PgSqlErrorCode::ERRCODE_DATA_EXCEPTION, e.to_string()));
                }
                Built::Linked { graph: link_graph(linked), values: builder }
            }
            _ => Built::Plain(link_graph(builder)),
        };
        (built, tids)
    }

    /// The link distance to build with, if any: where the values allow it
    /// and the link codes fit into `budget` bytes next to the values.
    fn half_link(&self, budget: usize) -> Option<HalfLink> {
        let values = self.builder.flat_vectors().filter(|_| !self.tids.is_empty())?;
        let words = hnsw::link::packed_words(self.builder.dims());
        let peak = hnsw::estimate_bytes(self.len(), words, self.params.m)
            + self.builder.allocated_bytes()
            + self.len() * size_of::<Tid>();
        if peak > budget {
            return None;
        }
        self.opclass.half_link(values, self.builder.dims())
    }
}

/// A built graph, ready to be written.
pub enum Built {
    /// Linked over the values themselves.
    Plain(Hnsw<WordMetric>),
    /// Linked over link codes; `values` holds the values.
    Linked { graph: Hnsw<HalfLink>, values: ParallelBuilder<WordMetric> },
}

/// Links the graph on every core off the backend's thread.
fn link_graph<D: hnsw::Distance + Send + Sync>(builder: ParallelBuilder<D>) -> Hnsw<D> {
    let result = offload("ember_hnsw build", |signals| {
        builder.build_with_progress(0, &|| signals.stop.load(Ordering::Relaxed), &|d| signals.done.store(d, Ordering::Relaxed))
    });
    match result {
        Ok(graph) => graph,
        Err(HnswError::Cancelled) => raise_code(PgSqlErrorCode::ERRCODE_QUERY_CANCELED, "ember_hnsw build canceled"),
        Err(e) => raise_code(PgSqlErrorCode::ERRCODE_DATA_EXCEPTION, e.to_string()),
    }
}
