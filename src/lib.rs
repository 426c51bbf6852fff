//! ember: a PostgreSQL retrieval engine. This crate is the Postgres glue
//! only; the algorithms live in `crates/` and know nothing of Postgres.
//!
//! SQL objects are declared by hand in `sql/*.sql` (names, operators,
//! opclasses and casts stay readable and reviewable), and every C-callable
//! function is a V1 function defined with [`fmgr::pg_v1`].

pgrx::pg_module_magic!();

pub mod am;
pub mod embed;
pub mod fmgr;
pub mod gucs;
pub mod storage;
pub mod types;

/// Registers ember's settings when Postgres loads the library.
#[pgrx::pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::register();
    am::hnsw::options::register();
    am::ivf::options::register();
}

pgrx::extension_sql_file!("../sql/embedding.sql", name = "embedding", bootstrap);
pgrx::extension_sql_file!("../sql/halfembedding.sql", name = "halfembedding", requires = ["embedding"]);
pgrx::extension_sql_file!("../sql/sparseembedding.sql", name = "sparseembedding", requires = ["halfembedding"]);
pgrx::extension_sql_file!("../sql/casts.sql", name = "casts", requires = ["sparseembedding"]);
pgrx::extension_sql_file!("../sql/aggregates.sql", name = "aggregates", requires = ["casts"]);
pgrx::extension_sql_file!("../sql/multiembedding.sql", name = "multiembedding", requires = ["aggregates"]);
pgrx::extension_sql_file!("../sql/encoder.sql", name = "encoder", requires = ["multiembedding"]);
pgrx::extension_sql_file!("../sql/hnsw.sql", name = "hnsw", requires = ["encoder"]);
pgrx::extension_sql_file!("../sql/ivf.sql", name = "ivf", requires = ["hnsw"]);
