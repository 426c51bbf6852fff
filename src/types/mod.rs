//! The SQL types: varlena layouts, I/O, operators, casts and aggregates.
//! Each function here converts datums and calls pure code in `crates/`.

pub mod aggregates;
pub mod casts;
pub mod dense;
pub mod dense_kinds;
pub mod distance_cost;
pub mod layout;
pub mod multi;
pub mod sparse;
