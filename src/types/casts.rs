//! Casts: arrays to the dense types (integer[], real[] and numeric[] reach
//! these through SQL wrappers that cast to float8[] first), and between
//! embedding, halfembedding and sparseembedding. Each takes the target's
//! typmod, so `'...'::embedding(3)`-style casts are enforced.

use pgrx::pg_sys::{self, Datum, FunctionCallInfo};
use pgrx::{ereport, FromDatum, PgSqlErrorCode};
use vectors::sparse::SparseVec;
use vectors::{dense, ErrorKind, VectorError};

use super::dense::dense_arg;
use super::dense_kinds::{DenseType, Embedding, HalfEmbedding};
use super::layout::{dense_datum, sparse_datum};
use super::sparse::sparse_arg;
use crate::fmgr::{arg, arg_i32, pg_v1, OrRaise};

/// `float8[] -> T(typmod)`: one-dimensional, no NULLs, finite, in range.
unsafe fn from_float8_array<T: DenseType>(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: (float8[], int4, bool); detoasting gives a readable ArrayType header.
    let (datum, typmod) = unsafe { (arg(fcinfo, 0), arg_i32(fcinfo, 1)) };
    let ndim = unsafe { (*pg_sys::pg_detoast_datum(datum.cast_mut_ptr()).cast::<pg_sys::ArrayType>()).ndim };
    if ndim > 1 {
        fmgr_raise_data("array must be 1-D");
    }
    // SAFETY: a non-null float8[] datum.
    let items = unsafe { Vec::<Option<f64>>::from_polymorphic_datum(datum, false, pg_sys::FLOAT8ARRAYOID) }
        .unwrap_or_default();
    let values: Vec<f64> = items
        .into_iter()
        .map(|x| {
            x.unwrap_or_else(|| {
                ereport!(ERROR, PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED, "array must not contain nulls");
            })
        })
        .collect();
    dense::check_dim(values.len(), T::NAME).or_raise();
    let values = dense::from_f64(&values, T::NAME).or_raise();
    dense::check_typmod(values.len(), typmod).or_raise();
    dense_datum(&T::narrow(&values).or_raise())
}

fn fmgr_raise_data(message: &str) -> ! {
    crate::fmgr::raise(VectorError::new(ErrorKind::Data, message))
}

/// Dense `S -> T(typmod)`.
unsafe fn dense_to_dense<S: DenseType, T: DenseType>(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: (S, int4, bool).
    let (a, typmod) = unsafe { (dense_arg::<S>(fcinfo, 0), arg_i32(fcinfo, 1)) };
    dense::check_typmod(a.len(), typmod).or_raise();
    dense_datum(&T::narrow(&S::widen(a)).or_raise())
}

/// Dense `S -> sparseembedding(typmod)`: keeps the non-zero elements.
unsafe fn dense_to_sparse<S: DenseType>(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: (S, int4, bool).
    let (a, typmod) = unsafe { (dense_arg::<S>(fcinfo, 0), arg_i32(fcinfo, 1)) };
    dense::check_typmod(a.len(), typmod).or_raise();
    let v = SparseVec::from_dense(&S::widen(a));
    sparse_datum(v.dim, &v.indices, &v.values)
}

/// `sparseembedding -> T(typmod)`: the dimension must fit a dense type.
unsafe fn sparse_to_dense<T: DenseType>(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: (sparseembedding, int4, bool).
    let (v, typmod) = unsafe { (sparse_arg(fcinfo, 0), arg_i32(fcinfo, 1)) };
    dense::check_dim(v.dim, T::NAME).or_raise();
    dense::check_typmod(v.dim, typmod).or_raise();
    dense_datum(&T::narrow(&v.to_owned().to_dense()).or_raise())
}

pg_v1!(fn ember_float8_array_to_embedding(fcinfo) { unsafe { from_float8_array::<Embedding>(fcinfo) } });
pg_v1!(fn ember_float8_array_to_halfembedding(fcinfo) { unsafe { from_float8_array::<HalfEmbedding>(fcinfo) } });
pg_v1!(fn ember_embedding_to_halfembedding(fcinfo) { unsafe { dense_to_dense::<Embedding, HalfEmbedding>(fcinfo) } });
pg_v1!(fn ember_halfembedding_to_embedding(fcinfo) { unsafe { dense_to_dense::<HalfEmbedding, Embedding>(fcinfo) } });
pg_v1!(fn ember_embedding_to_sparseembedding(fcinfo) { unsafe { dense_to_sparse::<Embedding>(fcinfo) } });
pg_v1!(fn ember_halfembedding_to_sparseembedding(fcinfo) { unsafe { dense_to_sparse::<HalfEmbedding>(fcinfo) } });
pg_v1!(fn ember_sparseembedding_to_embedding(fcinfo) { unsafe { sparse_to_dense::<Embedding>(fcinfo) } });
pg_v1!(fn ember_sparseembedding_to_halfembedding(fcinfo) { unsafe { sparse_to_dense::<HalfEmbedding>(fcinfo) } });
