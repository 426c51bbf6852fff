//! The in-memory part of a build: the collected values, and the graph
//! built from them on every core.
//!
//! The graph is built by `hnsw::ParallelBuilder` off the backend's thread
//! ([`offload`]): a cancel becomes the builder's stop flag, then the usual
//! ERROR. Where half precision orders neighbours like the values
//! ([`WordMetric::half_link`]) and memory allows, it links over
//! half-precision link codes (`hnsw::link`, half the memory read per
//! distance: 25-30% faster) and the pages get the values themselves.
//! Where the index stores neighbour codes, the build makes them as it
//! links, and its searches skip the neighbours they rule out
//! (`hnsw::build_codes`).

use std::sync::atomic::Ordering;

use hnsw::link::{HalfLink, Packing};
use hnsw::ondisk::{centroid_of, LinkCodes, LinkCoder, Tid, Values};
use hnsw::{BuildCoding, ElementCodes, Hnsw, HnswError, HnswParams, ParallelBuilder};
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
    /// The neighbour codes the build makes.
    codes: LinkCodes,
}

impl Collected {
    /// An empty collection for a graph of `dims` words per vector (0: any)
    /// whose build makes neighbour codes of kind `codes` (where the values
    /// have them).
    pub fn new(dims: usize, params: HnswParams, opclass: WordMetric, codes: LinkCodes) -> Self {
        Self { builder: ParallelBuilder::new(dims, params, opclass), params, opclass, tids: Vec::new(), words: 0, codes }
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

    /// Memory the values, their graph and their neighbour codes will take
    /// while building.
    pub fn estimated_bytes(&self, m: usize) -> usize {
        let n = self.len().max(1);
        hnsw::estimate_bytes(n, self.words.div_ceil(n), m) + n * size_of::<Tid>() + self.code_bytes()
    }

    /// Memory the neighbour codes take while building.
    fn code_bytes(&self) -> usize {
        self.len() * hnsw::build_codes::code_bytes(self.codes, self.builder.dims(), self.params.m, false)
    }

    /// Whether the pages can get codes relative to each list's owner
    /// (`hnsw::ondisk::LinkCoder::is_relative`): the build then keeps every
    /// value's rotated residual in half precision until the pages are
    /// written, which must fit in `budget` next to the rest (with the link
    /// codes when `linked`). Otherwise the codes are plain.
    fn relative_fits(&self, budget: usize, linked: bool, say_fallback: bool) -> bool {
        let (kind, dims, m) = (self.codes, self.builder.dims(), self.params.m);
        let with = hnsw::build_codes::code_bytes(kind, dims, m, true);
        let extra = self.len() * with.saturating_sub(hnsw::build_codes::code_bytes(kind, dims, m, false));
        let links = if linked { hnsw::estimate_bytes(self.len(), hnsw::link::packed_words(dims), m) } else { 0 };
        let needed = self.estimated_bytes(m) + links + extra;
        let fits = needed <= budget;
        if extra > 0 && !fits && say_fallback {
            // The index works either way, but its scans read more pages on
            // clustered data: say how to get the faster codes.
            pgrx::ereport!(
                pgrx::PgLogLevel::NOTICE,
                PgSqlErrorCode::ERRCODE_SUCCESSFUL_COMPLETION,
                "ember_hnsw neighbour codes are relative to the index's centroid, not to each list's owner",
                format!(
                    "Codes relative to each owner need about {} MB of maintenance_work_mem for these {} values; raise it and REINDEX for faster scans.",
                    needed.div_ceil(1 << 20),
                    self.len()
                )
            );
        }
        extra > 0 && fits
    }

    /// Builds the graph, reporting progress and honouring query cancel;
    /// returns it with the heap TID of each element, and the neighbour
    /// codes when the values have them. The graph is linked over
    /// half-precision link codes when the values allow it
    /// ([`WordMetric::half_link`]) and the codes fit in `budget` bytes
    /// next to the values.
    /// `say_fallback`: NOTICE when the codes cannot be relative for memory.
    pub fn build(self, budget: usize, say_fallback: bool) -> (Built, Option<ElementCodes>, Vec<Tid>) {
        let link = self.half_link(budget);
        let coder = self.coder(self.relative_fits(budget, link.is_some(), say_fallback));
        let Self { builder, params, tids, .. } = self;
        let (built, codes) = match (link, builder.flat_vectors()) {
            (Some((link, packing)), Some(values)) => {
                let (dims, words) = (builder.dims(), hnsw::link::packed_words(builder.dims()));
                check_for_interrupts!();
                let packed = hnsw::link::pack_all(values, dims, &packing);
                let linked = ParallelBuilder::from_flat(words, params, link, packed)
                    .unwrap_or_else(|e| raise_code(PgSqlErrorCode::ERRCODE_DATA_EXCEPTION, e.to_string()));
                let coding = coder.map(|coder| BuildCoding { coder, values: Some(Values { data: values, dims }) });
                let (graph, codes) = link_graph(linked, coding);
                (Built::Linked { graph, values: builder }, codes)
            }
            _ => {
                let coding = coder.map(|coder| BuildCoding { coder, values: None });
                let (graph, codes) = link_graph(builder, coding);
                (Built::Plain(graph), codes)
            }
        };
        (built, codes, tids)
    }

    /// The coder of the neighbour codes, if the values have codes (fixed
    /// dimensions that fit, see `hnsw::ondisk::codes`); `relative` to
    /// each list's owner where the kind allows it.
    fn coder(&self, relative: bool) -> Option<LinkCoder> {
        let values = self.builder.flat_vectors().filter(|_| self.code_bytes() > 0)?;
        let dims = self.builder.dims();
        let centroid = centroid_of(self.codes, dims, self.len(), |i| &values[i * dims..][..dims]);
        LinkCoder::for_build(self.codes, self.params.m, centroid, relative)
    }

    /// The link distance to build with and how to pack the link codes, if
    /// any: where the values allow it and the link codes fit into `budget`
    /// bytes next to the values.
    fn half_link(&self, budget: usize) -> Option<(HalfLink, Packing)> {
        let values = self.builder.flat_vectors().filter(|_| !self.tids.is_empty())?;
        let words = hnsw::link::packed_words(self.builder.dims());
        let peak = hnsw::estimate_bytes(self.len(), words, self.params.m)
            + self.builder.allocated_bytes()
            + self.len() * size_of::<Tid>()
            + self.code_bytes();
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

/// Links the graph on every core off the backend's thread, making
/// neighbour codes with `coding` if given.
fn link_graph<D: hnsw::Distance + Send + Sync>(
    builder: ParallelBuilder<D>,
    coding: Option<BuildCoding<'_>>,
) -> (Hnsw<D>, Option<ElementCodes>) {
    let result = offload("ember_hnsw build", |signals| {
        let stop = || signals.stop.load(Ordering::Relaxed);
        let progress = |done| signals.done.store(done, Ordering::Relaxed);
        match coding {
            Some(coding) => builder.build_coded(0, &stop, &progress, coding).map(|(graph, codes)| (graph, Some(codes))),
            None => builder.build_with_progress(0, &stop, &progress).map(|graph| (graph, None)),
        }
    });
    match result {
        Ok(graph) => graph,
        Err(HnswError::Cancelled) => raise_code(PgSqlErrorCode::ERRCODE_QUERY_CANCELED, "ember_hnsw build canceled"),
        Err(e) => raise_code(PgSqlErrorCode::ERRCODE_DATA_EXCEPTION, e.to_string()),
    }
}
