//! ember's HNSW graph (Malkov & Yashunin, "Efficient and robust approximate
//! nearest neighbor search using Hierarchical Navigable Small World graphs").
//!
//! - [`Hnsw`]: the in-memory graph: deterministic layer assignment,
//!   `M` / `ef_construction`, the paper's neighbour-selection heuristic.
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

mod graph;
pub mod metric;
pub mod ondisk;
pub mod search;

pub use graph::{assign_level as graph_level, Hnsw, HnswError, HnswParams, MAX_LEVEL};
pub use metric::{Cosine, Distance, InnerProduct, L1, L2};
pub use search::{GraphView, ScanOrder, SearchIter};
