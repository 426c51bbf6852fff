//! SQL functions of `multiembedding`, the late-interaction type: a bag of
//! float4 token vectors of one dimension. Layout:
//! `[varlena header][int16 dim][int16 0][int32 count][float4 x count*dim]`.

use pgrx::pg_sys::{self, Datum, FunctionCallInfo};
use pgrx::{ereport, PgSqlErrorCode};
use vectors::multi::{format_multi_by, from_rows, parse_multi, MultiVec};
use vectors::{dense, ErrorKind, VectorError};

use super::dense::single_typmod;
use super::layout::{dense_datum, dense_slice};
use crate::fmgr::{self, arg, arg_i32, corrupt, pg_v1, OrRaise};

const NAME: &str = vectors::type_name::MULTI;
const HDR: usize = pg_sys::VARHDRSZ;
const MULTI_HEADER: usize = HDR + 8;

/// A borrowed multi-vector: `dim` and row-major token data.
pub struct MultiRef<'a> {
    /// Elements per token.
    pub dim: usize,
    /// `count * dim` values.
    pub data: &'a [f32],
}

/// Argument `n` as a multi-vector.
///
/// # Safety
/// Argument `n` is a non-null `multiembedding`.
pub unsafe fn multi_arg<'a>(fcinfo: FunctionCallInfo, n: usize) -> MultiRef<'a> {
    // SAFETY: forwarded contract.
    unsafe { multi_ref(arg(fcinfo, n)) }
}

/// A `multiembedding` datum as a multi-vector (detoasted if needed).
///
/// # Safety
/// `datum` is a non-null `multiembedding`.
pub unsafe fn multi_ref<'a>(datum: Datum) -> MultiRef<'a> {
    // SAFETY: detoasting gives a plain varlena of `size` bytes; the header's
    // dim and count are checked against it before the slice is formed.
    unsafe {
        let (p, size) = super::layout::detoast(datum);
        if size < MULTI_HEADER {
            corrupt(NAME);
        }
        let dim = p.add(HDR).cast::<i16>().read();
        let count = p.add(HDR + 4).cast::<i32>().read();
        let (Ok(dim), Ok(count)) = (usize::try_from(dim), usize::try_from(count)) else { corrupt(NAME) };
        if dim == 0 || MULTI_HEADER + dim * count * 4 > size {
            corrupt(NAME);
        }
        MultiRef { dim, data: std::slice::from_raw_parts(p.add(MULTI_HEADER).cast::<f32>(), dim * count) }
    }
}

/// A new palloc'd multi-vector datum.
pub fn multi_datum(dim: usize, data: &[f32]) -> Datum {
    let total = MULTI_HEADER + 4 * data.len();
    if total > 0x3fff_ffff {
        fmgr::raise(VectorError::new(ErrorKind::TooLarge, format!("{NAME} value is too large")));
    }
    // SAFETY: palloc0 gives `total` zeroed bytes; every write is within them.
    unsafe {
        let p = pg_sys::palloc0(total).cast::<u8>();
        pgrx::set_varsize_4b(p.cast(), total as i32);
        p.add(HDR).cast::<i16>().write(dim as i16);
        p.add(HDR + 4).cast::<i32>().write((data.len() / dim) as i32);
        std::ptr::copy_nonoverlapping(data.as_ptr(), p.add(MULTI_HEADER).cast::<f32>(), data.len());
        Datum::from(p)
    }
}

fn owned_datum(m: &MultiVec, typmod: i32) -> Datum {
    dense::check_typmod(m.dim, typmod).or_raise();
    multi_datum(m.dim, &m.data)
}

pg_v1!(fn ember_multiembedding_in(fcinfo) {
    // SAFETY: (cstring, oid, int4).
    let (input, typmod) = unsafe { (fmgr::arg_cstr(fcinfo, 0, NAME), arg_i32(fcinfo, 2)) };
    owned_datum(&parse_multi(input, NAME).or_raise(), typmod)
});

pg_v1!(fn ember_multiembedding_out(fcinfo) {
    // SAFETY: one non-null value.
    let m = unsafe { multi_arg(fcinfo, 0) };
    fmgr::cstring_datum(&format_multi_by(m.dim, m.data, fmgr::push_float4out))
});

pg_v1!(fn ember_multiembedding_typmod_in(fcinfo) {
    // SAFETY: a cstring[] argument.
    let n = unsafe { single_typmod(fcinfo, NAME) };
    if n < 1 || n as usize > vectors::MAX_DIM {
        fmgr::raise(VectorError::new(
            ErrorKind::InvalidParameter,
            format!("dimensions for type {NAME} must be between 1 and {}", vectors::MAX_DIM),
        ));
    }
    fmgr::i32_datum(n)
});

pg_v1!(fn ember_multiembedding_typmod_cast(fcinfo) {
    // SAFETY: (multiembedding, int4, bool).
    let (m, typmod) = unsafe { (multi_arg(fcinfo, 0), arg_i32(fcinfo, 1)) };
    dense::check_typmod(m.dim, typmod).or_raise();
    // SAFETY: the argument lives for the call.
    unsafe { arg(fcinfo, 0) }
});

pg_v1!(fn ember_multiembedding_recv(fcinfo) {
    // SAFETY: (internal StringInfo, oid, int4).
    let (bytes, typmod) = unsafe { (fmgr::arg_recv_bytes(fcinfo, 0), arg_i32(fcinfo, 2)) };
    owned_datum(&vectors::binary::decode_multi(bytes, NAME).or_raise(), typmod)
});

pg_v1!(fn ember_multiembedding_send(fcinfo) {
    // SAFETY: one non-null value.
    let m = unsafe { multi_arg(fcinfo, 0) };
    fmgr::bytea_datum(&vectors::binary::encode_multi(m.dim, m.data))
});

pg_v1!(fn ember_multiembedding_dims(fcinfo) {
    // SAFETY: one non-null value.
    fmgr::i32_datum(unsafe { multi_arg(fcinfo, 0) }.dim as i32)
});

pg_v1!(fn ember_multiembedding_token_count(fcinfo) {
    // SAFETY: one non-null value.
    let m = unsafe { multi_arg(fcinfo, 0) };
    fmgr::i32_datum((m.data.len() / m.dim) as i32)
});

/// MaxSim of (document, query): for each query token the best dot product
/// with any document token, summed.
unsafe fn maxsim_args(fcinfo: FunctionCallInfo) -> f64 {
    // SAFETY: (multiembedding, multiembedding), both non-null.
    let (doc, query) = unsafe { (multi_arg(fcinfo, 0), multi_arg(fcinfo, 1)) };
    dense::check_same_dim(doc.dim, query.dim, NAME).or_raise();
    distance::maxsim(doc.dim, doc.data, query.data) as f64
}

pg_v1!(fn ember_multiembedding_maxsim(fcinfo) { fmgr::f64_datum(unsafe { maxsim_args(fcinfo) }) });
pg_v1!(fn ember_multiembedding_negative_maxsim(fcinfo) { fmgr::f64_datum(-unsafe { maxsim_args(fcinfo) }) });

/// Elements of a one-dimensional array argument, with its element type.
/// NULL elements are refused.
unsafe fn array_elements(fcinfo: FunctionCallInfo, n: usize) -> (Vec<Datum>, Vec<i32>) {
    // SAFETY: argument n is a non-null array; deconstruct_array reads it with
    // the element type's own length/byval/align, allocating in the call's context.
    unsafe {
        let arr = pg_sys::pg_detoast_datum(arg(fcinfo, n).cast_mut_ptr()).cast::<pg_sys::ArrayType>();
        let ndim = (*arr).ndim as usize;
        // ARR_DIMS: the dimension lengths follow the fixed ArrayType header.
        let dims_ptr = arr.cast::<u8>().add(size_of::<pg_sys::ArrayType>()).cast::<i32>();
        let dims = std::slice::from_raw_parts(dims_ptr, ndim).to_vec();
        let elemtype = (*arr).elemtype;
        let (mut typlen, mut typbyval, mut typalign) = (0i16, false, 0 as std::ffi::c_char);
        pg_sys::get_typlenbyvalalign(elemtype, &mut typlen, &mut typbyval, &mut typalign);
        let (mut values, mut nulls, mut count) = (std::ptr::null_mut(), std::ptr::null_mut(), 0);
        pg_sys::deconstruct_array(arr, elemtype, typlen.into(), typbyval, typalign, &mut values, &mut nulls, &mut count);
        let count = count as usize;
        if count > 0 && std::slice::from_raw_parts(nulls, count).iter().any(|&b| b) {
            ereport!(ERROR, PgSqlErrorCode::ERRCODE_NULL_VALUE_NOT_ALLOWED, "array must not contain nulls");
        }
        let values = if count == 0 { Vec::new() } else { std::slice::from_raw_parts(values, count).to_vec() };
        (values, dims)
    }
}

pg_v1!(fn ember_embedding_array_to_multiembedding(fcinfo) {
    // SAFETY: (embedding[], int4, bool).
    let ((items, dims), typmod) = unsafe { (array_elements(fcinfo, 0), arg_i32(fcinfo, 1)) };
    if dims.len() > 1 {
        fmgr::raise(VectorError::new(ErrorKind::Data, "array must be 1-D"));
    }
    // SAFETY: every element is a non-null embedding datum.
    let rows: Vec<&[f32]> = items.iter().map(|d| unsafe { dense_slice::<f32>(*d, vectors::type_name::EMBEDDING) }).collect();
    owned_datum(&from_rows(&rows, NAME).or_raise(), typmod)
});

pg_v1!(fn ember_real_array_to_multiembedding(fcinfo) {
    // SAFETY: (real[], int4, bool): a 2-D array, one row per token.
    let ((items, dims), typmod) = unsafe { (array_elements(fcinfo, 0), arg_i32(fcinfo, 1)) };
    if dims.len() != 2 {
        fmgr::raise(VectorError::new(ErrorKind::Data, "array must be 2-D: one row per token vector"));
    }
    let data: Vec<f32> = items.iter().map(|d| f32::from_bits(d.value() as u32)).collect();
    dense::check_dim(dims[1] as usize, NAME).or_raise();
    owned_datum(&MultiVec::new_checked(dims[1] as usize, data, NAME).or_raise(), typmod)
});

pg_v1!(fn ember_multiembedding_to_embedding_array(fcinfo) {
    // SAFETY: one non-null multiembedding; the function's declared result is
    // embedding[], whose element type we look up from the call expression.
    unsafe {
        let m = multi_arg(fcinfo, 0);
        let elem_type = fmgr::result_element_type(fcinfo);
        let mut items: Vec<Datum> = m.data.chunks_exact(m.dim).map(dense_datum::<f32>).collect();
        let arr = pg_sys::construct_array(items.as_mut_ptr(), items.len() as i32, elem_type, -1, false, pg_sys::TYPALIGN_INT as std::ffi::c_char);
        Datum::from(arr)
    }
});
