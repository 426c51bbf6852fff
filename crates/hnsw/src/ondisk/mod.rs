//! The HNSW index on pages (format version [`FORMAT_VERSION`]).
//!
//! - Block 0, item 1: the [`Meta`] tuple (MAGIC + VERSION, dims, m,
//!   ef_construction, metric id, entry point, element count, insert page).
//! - Blocks 1..: element and neighbour tuples, each element followed by
//!   its neighbour tuple (breadth-first over layer 0 from the entry
//!   point, then appended by [`insert`], on
//!   the same page).
//! - Every page is a standard Postgres page with an 8-byte special space
//!   ([`Special`]: page id, page kind, next block reserved).
//!
//! Writers ([`insert`], [`bulk_delete`], [`set_dims_if_unset`]) hold at
//! most one page guard at a time and order their writes so that every
//! intermediate state is a valid graph; [`verify`] checks the invariants.
//! Inserts keep every element reachable from the entry point on layer 0
//! (an element dropped from a list is adopted first by the element that
//! takes its place), and vacuum ends by linking any live element that is
//! not (see `README.md`, "Reachability guarantee").
//!
//! All multi-byte fields in tuples are little-endian; page headers and line
//! pointers are native (as Postgres writes them).

mod build;
pub(crate) mod codes;
mod insert;
mod links;
mod reach;
mod reader;
mod reuse;
mod tuples;
mod vacuum;
mod verify;

pub use build::{write_graph, write_graph_coded, write_graph_from, Encoder, NeighbourCodes, Values};
pub use codes::{centroid_of, code_len, code_origin, CodeOrigin, LinkCodes, LinkCoder, LinkQuery, ITERATIVE_EPSILON0};
pub use insert::{insert, set_coded_dims_if_unset, set_dims_if_unset, vector_fits};
pub use reader::PageGraph;
pub use tuples::{
    capacity, no_codes, upper_codes_fit, with_f32s, CodeFill, ElementTuple, Meta, NeighbourTuple, Special, Tid,
    FORMAT_VERSION, MAGIC, PAGE_ID,
};
pub use vacuum::{bulk_delete, cleanup, count_live, VacuumStats};
pub use verify::{verify, VerifyReport};

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
    /// The vector's length differs from the metapage's dimensions.
    DimensionMismatch {
        /// Dimensions in the metapage.
        expected: usize,
        /// Length of the vector given.
        found: usize,
    },
    /// The pages are inconsistent (e.g. a TID past the end of the
    /// relation, an undecodable tuple where one must be).
    Corrupted(String),
}

impl fmt::Display for OnDiskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Format(e) => e.fmt(f),
            Self::Page(e) => e.fmt(f),
            Self::TupleTooLarge(n) => write!(f, "index tuple of {n} bytes does not fit on a page"),
            Self::NotEmpty => f.write_str("index relation is not empty"),
            Self::BadInput(why) => f.write_str(why),
            Self::DimensionMismatch { expected, found } => {
                write!(f, "expected {expected} dimensions, not {found}")
            }
            Self::Corrupted(what) => write!(f, "ember_hnsw index corrupted: {what}"),
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
