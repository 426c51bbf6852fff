//! ember's vector values, free of Postgres: checked constructors, the text
//! formats (pgvector's, so client code keeps working), the binary send/recv
//! codecs, and the elementwise operations. Validation lives here; the glue in
//! `src/types` only maps [`VectorError`] to an ERROR with its SQLSTATE.

pub mod binary;
pub mod dense;
pub mod error;
pub mod float_text;
pub mod half_vec;
pub mod multi;
pub mod sparse;
pub mod text;

pub use error::{ErrorKind, Result, VectorError};

/// Most dimensions an `embedding` or `halfembedding` may have (as pgvector).
pub const MAX_DIM: usize = 16_000;

/// Most dimensions a `sparseembedding` may have (as pgvector's sparsevec).
pub const SPARSE_MAX_DIM: usize = 1_000_000_000;

/// The SQL names of the types, used in error messages.
pub mod type_name {
    /// dense float4
    pub const EMBEDDING: &str = "embedding";
    /// dense float2
    pub const HALF: &str = "halfembedding";
    /// sparse float4
    pub const SPARSE: &str = "sparseembedding";
    /// bag of float4 token vectors
    pub const MULTI: &str = "multiembedding";
}
