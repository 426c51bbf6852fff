//! ember's page seam, free of Postgres.
//!
//! - [`page`]: 8 KiB pages in Postgres's standard layout (page header, line
//!   pointers, MAXALIGNed items growing down, special space at the end), so
//!   the bytes built here are valid Postgres buffer pages.
//! - [`relation`]: the [`RelationRead`] / [`RelationWrite`] traits the index
//!   code is generic over, and [`MemRelation`], their in-memory
//!   implementation for tests and benches.
//! - [`codec`]: little-endian tuple encoding and the versioned metapage
//!   header ([`MetaHeader`]) whose mismatch is an error asking for REINDEX.

#![warn(missing_docs)]

pub mod codec;
pub mod page;
pub mod relation;

pub use codec::{ByteReader, ByteWriter, FormatError, MetaHeader};
pub use page::{Page, PageError, BLCKSZ};
pub use relation::{MemReadGuard, MemRelation, MemWriteGuard, RelationRead, RelationWrite};
