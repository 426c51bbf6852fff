//! ember's HNSW graph (Malkov & Yashunin, "Efficient and robust approximate
//! nearest neighbor search using Hierarchical Navigable Small World graphs").
//!
//! - [`Hnsw`]: the in-memory graph: deterministic layer assignment,
//!   `M` / `ef_construction`, the paper's neighbour-selection heuristic.
//! - [`ParallelBuilder`]: the index build, collecting every vector first,
//!   then linking them on a rayon pool into an [`Hnsw`]; [`estimate_bytes`]
//!   predicts its memory.
//! - [`link`]: half-precision link codes, which the build can link the
//!   graph over to read half the memory per distance.
//! - [`search`]: greedy descent + beam search, and [`SearchIter`], the
//!   incremental scan that keeps going past `ef_search` (iterative scans),
//!   generic over any [`GraphView`] — the in-memory graph or pages.
//! - [`ondisk`]: the page layout (via `pagestore`), writing a built graph
//!   onto a [`pagestore::RelationWrite`] and searching it through
//!   [`pagestore::RelationRead`].
//!
//! Nothing here knows Postgres; see `README.md` for what the AM glue must
//! provide.

#![warn(missing_docs)]

pub mod build_codes;
mod graph;
mod inmem;
pub mod link;
pub mod metric;
pub mod ondisk;
mod parallel;
pub mod search;

pub use graph::{assign_level as graph_level, Hnsw, HnswError, HnswParams, MAX_LEVEL};
pub use metric::{Cosine, Distance, InnerProduct, L1, L2};
pub use build_codes::{BuildCoding, ElementCodes};
pub use parallel::{estimate_bytes, ParallelBuilder};
pub use search::{GraphView, ScanOrder, SearchIter};
