//! The HNSW index on pages (format version [`FORMAT_VERSION`]).
//!
//! - Block 0, item 1: the [`Meta`] tuple (MAGIC + VERSION, dims, m,
//!   ef_construction, metric id, entry point, element count).
//! - Blocks 1..: element and neighbour tuples, in build order, each
//!   element followed by its neighbour tuple (same page when it fits).
//! - Every page is a standard Postgres page with an 8-byte special space
//!   ([`Special`]: page id, page kind, next block reserved).
//!
//! All multi-byte fields in tuples are little-endian; page headers and line
//! pointers are native (as Postgres writes them).

mod build;
mod reader;
mod tuples;

pub use build::write_graph;
pub use reader::PageGraph;
pub use tuples::{
    ElementTuple, Meta, NeighbourTuple, Special, Tid, FORMAT_VERSION, MAGIC, PAGE_ID,
};

use std::fmt;

use pagestore::{FormatError, PageError};

/// Errors reading or writing the on-page graph.
#[derive(Debug, Clone, PartialEq)]
pub enum OnDiskError {
    /// A tuple or the metapage could not be decoded (incl. version mismatch).
    Format(FormatError),
    /// A page or line pointer is invalid.
    Page(PageError),
    /// A tuple does not fit on an empty page (vector too large).
    TupleTooLarge(usize),
    /// The relation to build into is not empty.
    NotEmpty,
    /// Build input is inconsistent (e.g. heap TID count != element count).
    BadInput(&'static str),
}

impl fmt::Display for OnDiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Format(e) => e.fmt(f),
            Self::Page(e) => e.fmt(f),
            Self::TupleTooLarge(n) => write!(f, "index tuple of {n} bytes does not fit on a page"),
            Self::NotEmpty => f.write_str("index relation is not empty"),
            Self::BadInput(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for OnDiskError {}

impl From<FormatError> for OnDiskError {
    fn from(e: FormatError) -> Self {
        Self::Format(e)
    }
}

impl From<PageError> for OnDiskError {
    fn from(e: PageError) -> Self {
        Self::Page(e)
    }
}
