//! Vector quantizers for ember's index access methods, free of Postgres.
//!
//! - [`sq8`]: 8-bit scalar codes stored as `f32` words, with the residual
//!   norms that turn a distance to the decoded vector into a provable
//!   lower bound of the exact distance (so an index can hand Postgres a
//!   lower bound and let the executor re-rank on the exact value).
//! - [`rabitq`]: RaBitQ 1-bit codes of residuals to a list centroid, with
//!   the unbiased distance estimator and its probabilistic error bound.

mod fused;
mod hadamard;
pub mod rabitq;
mod relative;
pub mod sq8;
