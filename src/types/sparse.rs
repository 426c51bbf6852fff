//! SQL functions of `sparseembedding`.

use std::cmp::Ordering;

use pgrx::pg_sys::{Datum, FunctionCallInfo};
use vectors::sparse::{check_sparse_dim, cmp_sparse};
use vectors::{dense, text, ErrorKind, VectorError};

use super::dense::single_typmod;
use super::layout::{sparse_datum, sparse_ref, SparseRef};
use crate::fmgr::{self, arg, arg_i32, pg_v1, OrRaise};

const NAME: &str = vectors::type_name::SPARSE;

/// Argument `n` as a sparse value.
///
/// # Safety
/// Argument `n` is a non-null `sparseembedding`.
pub unsafe fn sparse_arg<'a>(fcinfo: FunctionCallInfo, n: usize) -> SparseRef<'a> {
    // SAFETY: forwarded contract.
    unsafe { sparse_ref(arg(fcinfo, n)) }
}

/// Two operands of the same dimension.
unsafe fn sparse_pair<'a>(fcinfo: FunctionCallInfo) -> (SparseRef<'a>, SparseRef<'a>) {
    // SAFETY: binary sparse operators receive two non-null values.
    let (a, b) = unsafe { (sparse_arg(fcinfo, 0), sparse_arg(fcinfo, 1)) };
    dense::check_same_dim(a.dim, b.dim, NAME).or_raise();
    (a, b)
}

fn owned_datum(v: &vectors::sparse::SparseVec) -> Datum {
    sparse_datum(v.dim, &v.indices, &v.values)
}

pg_v1!(fn ember_sparseembedding_in(fcinfo) {
    // SAFETY: (cstring, oid, int4).
    let (input, typmod) = unsafe { (fmgr::arg_cstr(fcinfo, 0, NAME), arg_i32(fcinfo, 2)) };
    let v = text::parse_sparse(input, NAME).or_raise();
    dense::check_typmod(v.dim, typmod).or_raise();
    owned_datum(&v)
});

pg_v1!(fn ember_sparseembedding_out(fcinfo) {
    // SAFETY: one non-null value.
    let v = unsafe { sparse_arg(fcinfo, 0) };
    fmgr::cstring_datum(&text::format_sparse_by(&v.to_owned(), fmgr::push_float4out))
});

pg_v1!(fn ember_sparseembedding_typmod_in(fcinfo) {
    // SAFETY: a cstring[] argument.
    let n = unsafe { single_typmod(fcinfo, NAME) };
    if n < 1 || check_sparse_dim(n as usize, NAME).is_err() {
        fmgr::raise(VectorError::new(
            ErrorKind::InvalidParameter,
            format!("dimensions for type {NAME} must be between 1 and {}", vectors::SPARSE_MAX_DIM),
        ));
    }
    fmgr::i32_datum(n)
});

pg_v1!(fn ember_sparseembedding_typmod_cast(fcinfo) {
    // SAFETY: (sparseembedding, int4, bool).
    let (v, typmod) = unsafe { (sparse_arg(fcinfo, 0), arg_i32(fcinfo, 1)) };
    dense::check_typmod(v.dim, typmod).or_raise();
    // SAFETY: the argument lives for the call.
    unsafe { arg(fcinfo, 0) }
});

pg_v1!(fn ember_sparseembedding_recv(fcinfo) {
    // SAFETY: (internal StringInfo, oid, int4).
    let (bytes, typmod) = unsafe { (fmgr::arg_recv_bytes(fcinfo, 0), arg_i32(fcinfo, 2)) };
    let v = vectors::binary::decode_sparse(bytes, NAME).or_raise();
    dense::check_typmod(v.dim, typmod).or_raise();
    owned_datum(&v)
});

pg_v1!(fn ember_sparseembedding_send(fcinfo) {
    // SAFETY: one non-null value.
    let v = unsafe { sparse_arg(fcinfo, 0) };
    fmgr::bytea_datum(&vectors::binary::encode_sparse(v.dim, v.indices, v.values))
});

/// A distance between two same-dimension sparse values.
unsafe fn sparse_distance(fcinfo: FunctionCallInfo, f: fn(&SparseRef, &SparseRef) -> f64) -> Datum {
    // SAFETY: forwarded: two non-null values.
    let (a, b) = unsafe { sparse_pair(fcinfo) };
    fmgr::f64_datum(f(&a, &b))
}

fn l2_squared(a: &SparseRef, b: &SparseRef) -> f64 {
    distance::sparse_l2_squared(a.indices, a.values, b.indices, b.values) as f64
}
fn dot(a: &SparseRef, b: &SparseRef) -> f64 {
    distance::sparse_dot(a.indices, a.values, b.indices, b.values) as f64
}

pg_v1!(fn ember_sparseembedding_l2_distance(fcinfo) { unsafe { sparse_distance(fcinfo, |a, b| l2_squared(a, b).sqrt()) } });
pg_v1!(fn ember_sparseembedding_l2_squared_distance(fcinfo) { unsafe { sparse_distance(fcinfo, l2_squared) } });
pg_v1!(fn ember_sparseembedding_inner_product(fcinfo) { unsafe { sparse_distance(fcinfo, dot) } });
pg_v1!(fn ember_sparseembedding_negative_inner_product(fcinfo) { unsafe { sparse_distance(fcinfo, |a, b| -dot(a, b)) } });
pg_v1!(fn ember_sparseembedding_cosine_distance(fcinfo) {
    unsafe { sparse_distance(fcinfo, |a, b| distance::sparse_cosine_distance(a.indices, a.values, b.indices, b.values)) }
});
pg_v1!(fn ember_sparseembedding_l1_distance(fcinfo) {
    unsafe { sparse_distance(fcinfo, |a, b| distance::sparse_l1(a.indices, a.values, b.indices, b.values) as f64) }
});

unsafe fn ordering(fcinfo: FunctionCallInfo) -> Ordering {
    // SAFETY: comparisons receive two non-null values (any dimensions).
    let (a, b) = unsafe { (sparse_arg(fcinfo, 0), sparse_arg(fcinfo, 1)) };
    cmp_sparse(a.indices, a.values, a.dim, b.indices, b.values, b.dim)
}

pg_v1!(fn ember_sparseembedding_lt(fcinfo) { fmgr::bool_datum(unsafe { ordering(fcinfo) }.is_lt()) });
pg_v1!(fn ember_sparseembedding_le(fcinfo) { fmgr::bool_datum(unsafe { ordering(fcinfo) }.is_le()) });
pg_v1!(fn ember_sparseembedding_eq(fcinfo) { fmgr::bool_datum(unsafe { ordering(fcinfo) }.is_eq()) });
pg_v1!(fn ember_sparseembedding_ne(fcinfo) { fmgr::bool_datum(unsafe { ordering(fcinfo) }.is_ne()) });
pg_v1!(fn ember_sparseembedding_ge(fcinfo) { fmgr::bool_datum(unsafe { ordering(fcinfo) }.is_ge()) });
pg_v1!(fn ember_sparseembedding_gt(fcinfo) { fmgr::bool_datum(unsafe { ordering(fcinfo) }.is_gt()) });
pg_v1!(fn ember_sparseembedding_cmp(fcinfo) { fmgr::i32_datum(unsafe { ordering(fcinfo) } as i32) });

pg_v1!(fn ember_sparseembedding_dims(fcinfo) {
    // SAFETY: one non-null value.
    fmgr::i32_datum(unsafe { sparse_arg(fcinfo, 0) }.dim as i32)
});

pg_v1!(fn ember_sparseembedding_nnz(fcinfo) {
    // SAFETY: one non-null value.
    fmgr::i32_datum(unsafe { sparse_arg(fcinfo, 0) }.indices.len() as i32)
});

pg_v1!(fn ember_sparseembedding_norm(fcinfo) {
    // SAFETY: one non-null value.
    fmgr::f64_datum(dense::norm(unsafe { sparse_arg(fcinfo, 0) }.values))
});

pg_v1!(fn ember_sparseembedding_normalize(fcinfo) {
    // SAFETY: one non-null value.
    let v = unsafe { sparse_arg(fcinfo, 0) };
    let values = dense::normalize(v.values);
    // Tiny values can underflow to zero when scaled: drop them to stay canonical.
    let (indices, values): (Vec<u32>, Vec<f32>) =
        v.indices.iter().copied().zip(values).filter(|(_, x)| *x != 0.0).unzip();
    sparse_datum(v.dim, &indices, &values)
});
