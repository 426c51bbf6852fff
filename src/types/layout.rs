//! On-disk layouts of the varlena types (the same as pgvector's):
//!
//! - dense: `[varlena header 4][int16 dim][int16 unused = 0][elements...]`,
//!   elements f32 (`embedding`) or f16 (`halfembedding`);
//! - sparse: `[header 4][int32 dim][int32 nnz][int32 unused = 0]`
//!   `[int32 index x nnz (0-based)][float4 value x nnz]`.
//!
//! Readers detoast and check that the stored sizes agree with the varlena
//! length, so a corrupt datum is an ERROR, never an out-of-bounds read.

use pgrx::pg_sys::{self, Datum};

use crate::fmgr::corrupt;

const HDR: usize = pg_sys::VARHDRSZ;
/// Bytes before the first dense element.
pub const DENSE_HEADER: usize = HDR + 4;
/// Bytes before the first sparse index.
pub const SPARSE_HEADER: usize = HDR + 12;

/// Element types a dense layout stores (plain old data of size 2 or 4).
pub trait DenseElem: Copy + 'static {}
impl DenseElem for f32 {}
impl DenseElem for half::f16 {}

/// Detoasts `datum` and returns its 4-byte-header varlena and total size.
///
/// # Safety
/// `datum` is a non-null varlena datum valid for the current call.
pub(crate) unsafe fn detoast(datum: Datum) -> (*const u8, usize) {
    // SAFETY: a plain 4-byte-header value is read in place, as
    // PG_DETOAST_DATUM does; otherwise pg_detoast_datum returns a plain copy
    // in the current memory context. Reading in place skips the call
    // through pgrx's guard (a sigsetjmp): with two such calls a distance,
    // a serial exact scan at 128-d took 1.4x pgvector's time.
    unsafe {
        let raw = datum.cast_mut_ptr::<pg_sys::varlena>();
        let p = if pgrx::varlena::varatt_is_4b_u(raw) { raw } else { pg_sys::pg_detoast_datum(raw) };
        (p as *const u8, pgrx::varsize_any(p))
    }
}

/// Borrows the elements of a dense datum.
///
/// # Safety
/// `datum` is a non-null datum of the dense type whose elements are `E`.
pub unsafe fn dense_slice<'a, E: DenseElem>(datum: Datum, type_name: &str) -> &'a [E] {
    // SAFETY: detoast gives a readable varlena of `size` bytes; we check the
    // header's dim against `size` before forming the slice. Detoasted data is
    // palloc'd (MAXALIGN) or in-tuple at the type's int4 alignment, so the
    // elements at offset 8 are aligned for f32 and f16.
    unsafe {
        let (p, size) = detoast(datum);
        if size < DENSE_HEADER {
            corrupt(type_name);
        }
        let dim = p.add(HDR).cast::<i16>().read();
        let dim = usize::try_from(dim).unwrap_or_else(|_| corrupt(type_name));
        if DENSE_HEADER + dim * size_of::<E>() > size {
            corrupt(type_name);
        }
        std::slice::from_raw_parts(p.add(DENSE_HEADER).cast::<E>(), dim)
    }
}

/// A new palloc'd dense datum holding `values`; padding is zeroed.
pub fn dense_datum<E: DenseElem>(values: &[E]) -> Datum {
    let total = DENSE_HEADER + std::mem::size_of_val(values);
    // SAFETY: palloc0 gives `total` zeroed, MAXALIGN'd bytes; we write within them.
    unsafe {
        let p = pg_sys::palloc0(total).cast::<u8>();
        pgrx::set_varsize_4b(p.cast(), total as i32);
        p.add(HDR).cast::<i16>().write(values.len() as i16);
        std::ptr::copy_nonoverlapping(values.as_ptr(), p.add(DENSE_HEADER).cast::<E>(), values.len());
        Datum::from(p)
    }
}

/// A borrowed sparse value.
pub struct SparseRef<'a> {
    /// Number of dimensions.
    pub dim: usize,
    /// 0-based ascending indices.
    pub indices: &'a [u32],
    /// Non-zero values.
    pub values: &'a [f32],
}

impl SparseRef<'_> {
    /// An owned copy.
    pub fn to_owned(&self) -> vectors::sparse::SparseVec {
        vectors::sparse::SparseVec { dim: self.dim, indices: self.indices.to_vec(), values: self.values.to_vec() }
    }
}

/// Borrows a sparse datum.
///
/// # Safety
/// `datum` is a non-null `sparseembedding` datum.
pub unsafe fn sparse_ref<'a>(datum: Datum) -> SparseRef<'a> {
    const NAME: &str = vectors::type_name::SPARSE;
    // SAFETY: as in dense_slice: sizes are checked against the varlena length.
    unsafe {
        let (p, size) = detoast(datum);
        if size < SPARSE_HEADER {
            corrupt(NAME);
        }
        let dim = p.add(HDR).cast::<i32>().read();
        let nnz = p.add(HDR + 4).cast::<i32>().read();
        let (Ok(dim), Ok(nnz)) = (usize::try_from(dim), usize::try_from(nnz)) else { corrupt(NAME) };
        if SPARSE_HEADER + nnz * 8 > size {
            corrupt(NAME);
        }
        let indices = std::slice::from_raw_parts(p.add(SPARSE_HEADER).cast::<u32>(), nnz);
        let values = std::slice::from_raw_parts(p.add(SPARSE_HEADER + 4 * nnz).cast::<f32>(), nnz);
        SparseRef { dim, indices, values }
    }
}

/// A new palloc'd sparse datum.
pub fn sparse_datum(dim: usize, indices: &[u32], values: &[f32]) -> Datum {
    let nnz = indices.len();
    let total = SPARSE_HEADER + 8 * nnz;
    // MaxAllocSize: palloc refuses larger requests.
    if total > 0x3fff_ffff {
        crate::fmgr::raise(vectors::VectorError::new(
            vectors::ErrorKind::TooLarge,
            "sparseembedding has too many non-zero elements",
        ));
    }
    // SAFETY: palloc0 gives `total` zeroed bytes; every write is within them.
    unsafe {
        let p = pg_sys::palloc0(total).cast::<u8>();
        pgrx::set_varsize_4b(p.cast(), total as i32);
        p.add(HDR).cast::<i32>().write(dim as i32);
        p.add(HDR + 4).cast::<i32>().write(nnz as i32);
        std::ptr::copy_nonoverlapping(indices.as_ptr(), p.add(SPARSE_HEADER).cast::<u32>(), nnz);
        std::ptr::copy_nonoverlapping(values.as_ptr(), p.add(SPARSE_HEADER + 4 * nnz).cast::<f32>(), nnz);
        Datum::from(p)
    }
}
