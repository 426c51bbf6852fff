//! ember's IVF (inverted file) index on pages, free of Postgres.
//!
//! - Block 0, item 1: the [`Meta`] tuple (MAGIC + VERSION, dimensions,
//!   words per entry, number of lists, the glue's metric id and storage
//!   kind, the first centroid page, an approximate entry count).
//! - Centroid pages (from block 1, chained through [`Special::next_blk`]):
//!   one [`CentroidTuple`] per list: the centroid vector, the list's first
//!   page, the page where appends start, and the list's radius (a bound on
//!   its values' distance from the centroid, which strict-order scans use).
//! - List pages, chained per list: [`EntryTuple`]s (a heap TID and the
//!   stored words: the value, or a code of it that only the glue reads).
//!
//! The crate stores words and never computes a distance: the glue picks
//! lists from the centroids and scores entries through callbacks, so one
//! page format serves every opclass and storage kind.
//!
//! Writers hold at most one list page and one new page at a time, and link
//! a new page only after it is written, so every intermediate state is a
//! valid index.

mod append;
mod create;
pub mod kmeans;
mod maxsim;
mod read;
mod tuples;
mod vacuum;
mod verify;

pub use append::append;
pub use create::{centroid_fits, create};
pub use maxsim::MaxSimHits;
pub use read::{read_centroids, read_meta, read_entry, scan_list, scan_list_placed, Centroid};
pub use tuples::{CentroidTuple, EntryTuple, Meta, Special, FORMAT_VERSION, MAGIC, PAGE_ID};
pub use vacuum::{bulk_delete, VacuumStats};
pub use verify::{verify, VerifyReport};

pub use hnsw::ondisk::Tid;

use std::fmt;

use pagestore::{FormatError, PageError};

/// Errors reading or writing the index.
#[derive(Debug, Clone, PartialEq)]
pub enum IvfError {
    /// A tuple or the metapage could not be decoded (incl. version mismatch).
    Format(FormatError),
    /// A page or line pointer is invalid.
    Page(PageError),
    /// An entry or centroid does not fit on an empty page.
    TupleTooLarge(usize),
    /// The relation to create into is not empty.
    NotEmpty,
    /// Inconsistent input (e.g. centroids of the wrong length).
    BadInput(&'static str),
    /// The structure is inconsistent (what, where).
    Corrupted(String),
}

impl fmt::Display for IvfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Format(e) => write!(f, "{e}"),
            Self::Page(e) => write!(f, "{e}"),
            Self::TupleTooLarge(n) => write!(f, "index tuple of {n} bytes does not fit on a page"),
            Self::NotEmpty => write!(f, "the relation is not empty"),
            Self::BadInput(what) => write!(f, "{what}"),
            Self::Corrupted(what) => write!(f, "{what}"),
        }
    }
}

impl std::error::Error for IvfError {}

impl From<FormatError> for IvfError {
    fn from(e: FormatError) -> Self {
        Self::Format(e)
    }
}

impl From<PageError> for IvfError {
    fn from(e: PageError) -> Self {
        Self::Page(e)
    }
}
