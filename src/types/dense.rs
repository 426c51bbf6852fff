//! SQL functions of the dense types, written once generically over
//! [`DenseType`] and instantiated for `embedding` and `halfembedding` by
//! [`dense_sql_functions!`], which gives each its own C symbol.

use std::cmp::Ordering;

use pgrx::pg_sys::{self, Datum, FunctionCallInfo};
use vectors::{dense, text, ErrorKind, VectorError};

use super::dense_kinds::{DenseType, Embedding, HalfEmbedding};
use super::layout::{dense_datum, dense_slice};
use crate::fmgr::{self, arg, arg_i32, OrRaise};
use crate::storage::toast_memo;

/// Argument `n` as the stored elements of `T`.
///
/// # Safety
/// Argument `n` is a non-null datum of `T`.
pub unsafe fn dense_arg<'a, T: DenseType>(fcinfo: FunctionCallInfo, n: usize) -> &'a [T::Elem] {
    // SAFETY: forwarded contract.
    unsafe { dense_slice::<T::Elem>(arg(fcinfo, n), T::NAME) }
}

/// Two operands of the same dimension.
unsafe fn dense_pair<'a, T: DenseType>(fcinfo: FunctionCallInfo) -> (&'a [T::Elem], &'a [T::Elem]) {
    // SAFETY: binary operators on T receive two non-null T datums.
    let (a, b) = unsafe { (dense_arg::<T>(fcinfo, 0), dense_arg::<T>(fcinfo, 1)) };
    dense::check_same_dim(a.len(), b.len(), T::NAME).or_raise();
    (a, b)
}

/// A datum of `T` from f32 values, narrowing with overflow checks.
fn from_f32<T: DenseType>(values: &[f32]) -> Datum {
    dense_datum(&T::narrow(values).or_raise())
}

fn check_typmod(dim: usize, typmod: i32) {
    dense::check_typmod(dim, typmod).or_raise();
}

/// `T_in(cstring, oid, int4)`.
unsafe fn text_in<T: DenseType>(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: input functions receive (cstring, oid, int4).
    let (input, typmod) = unsafe { (fmgr::arg_cstr(fcinfo, 0, T::NAME), arg_i32(fcinfo, 2)) };
    let values = text::parse_dense(input, T::NAME).or_raise();
    check_typmod(values.len(), typmod);
    from_f32::<T>(&values)
}

/// `T_out(T) -> cstring`.
unsafe fn text_out<T: DenseType>(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: output functions receive one non-null T.
    let a = unsafe { dense_arg::<T>(fcinfo, 0) };
    fmgr::cstring_datum(&text::format_dense_by(T::widen(a).iter().copied(), fmgr::push_float4out))
}

/// `T_typmod_in(cstring[]) -> int4`: the `n` of `T(n)`.
unsafe fn typmod_in<T: DenseType>(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: typmod_in receives a cstring[] datum.
    let n = unsafe { single_typmod(fcinfo, T::NAME) };
    if n < 1 {
        fmgr::raise(VectorError::new(ErrorKind::InvalidParameter, format!("dimensions for type {} must be at least 1", T::NAME)));
    }
    if n as usize > vectors::MAX_DIM {
        fmgr::raise(VectorError::new(
            ErrorKind::InvalidParameter,
            format!("dimensions for type {} cannot exceed {}", T::NAME, vectors::MAX_DIM),
        ));
    }
    fmgr::i32_datum(n)
}

/// The single integer modifier of `type(n)`.
///
/// # Safety
/// Argument 0 is a `cstring[]` datum.
pub unsafe fn single_typmod(fcinfo: FunctionCallInfo, type_name: &str) -> i32 {
    let mut count = 0;
    // SAFETY: ArrayGetIntegerTypmods reads a cstring[] and ERRORs on non-integers.
    let mods = unsafe { pg_sys::ArrayGetIntegerTypmods(arg(fcinfo, 0).cast_mut_ptr(), &mut count) };
    if count != 1 {
        fmgr::raise(VectorError::new(ErrorKind::InvalidParameter, format!("invalid type modifier for {type_name}")));
    }
    // SAFETY: count == 1, so one element is readable.
    unsafe { *mods }
}

/// `T(T, int4, bool) -> T`: enforces a column's typmod on assignment.
unsafe fn typmod_cast<T: DenseType>(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: the length-coercion cast receives (T, int4, bool).
    let (a, typmod) = unsafe { (dense_arg::<T>(fcinfo, 0), arg_i32(fcinfo, 1)) };
    check_typmod(a.len(), typmod);
    // SAFETY: returning the argument unchanged is valid for the call's lifetime.
    unsafe { arg(fcinfo, 0) }
}

/// `T_recv(internal, oid, int4)`.
unsafe fn recv<T: DenseType>(fcinfo: FunctionCallInfo, decode: fn(&[u8]) -> vectors::Result<Vec<T::Elem>>) -> Datum {
    // SAFETY: receive functions get (internal StringInfo, oid, int4).
    let (bytes, typmod) = unsafe { (fmgr::arg_recv_bytes(fcinfo, 0), arg_i32(fcinfo, 2)) };
    let values = decode(bytes).or_raise();
    check_typmod(values.len(), typmod);
    dense_datum(&values)
}

/// `T_send(T) -> bytea`.
unsafe fn send<T: DenseType>(fcinfo: FunctionCallInfo, encode: fn(&[T::Elem]) -> Vec<u8>) -> Datum {
    // SAFETY: send functions get one non-null T.
    fmgr::bytea_datum(&encode(unsafe { dense_arg::<T>(fcinfo, 0) }))
}

/// A distance between two stored vectors.
type Metric<E> = fn(&[E], &[E]) -> f64;

/// A distance as float8, from the pair of operands.
unsafe fn distance<T: DenseType>(fcinfo: FunctionCallInfo, f: Metric<T::Elem>) -> Datum {
    // SAFETY: distance functions receive two non-null T.
    if let Some(d) = unsafe { remembered_distance::<T>(fcinfo, f) } {
        return fmgr::f64_datum(d);
    }
    // SAFETY: as above.
    let (a, b) = unsafe { dense_pair::<T>(fcinfo) };
    fmgr::f64_datum(f(a, b))
}

/// `f(a, b)` where `a` is stored out of line and an index scan remembers
/// its value (`storage::toast_memo`: the row it has just returned), without
/// fetching it; `None` otherwise (then the caller detoasts as usual, and
/// reports any error).
///
/// # Safety
/// As [`distance`].
unsafe fn remembered_distance<T: DenseType>(fcinfo: FunctionCallInfo, f: Metric<T::Elem>) -> Option<f64> {
    // SAFETY: argument 0 is a non-null T datum.
    let key = unsafe { toast_memo::key_of(arg(fcinfo, 0)) }.filter(|&key| toast_memo::remembers(key))?;
    // SAFETY: argument 1 is a non-null T datum; read before the memory is
    // borrowed, as reading it may raise an ERROR (and only on a hit, as a
    // miss reads it again).
    let b = unsafe { dense_arg::<T>(fcinfo, 1) };
    toast_memo::with_remembered(key, |words| (words.len() == b.len()).then(|| f(&T::from_words(words), b))).flatten()
}

/// An elementwise arithmetic operator.
unsafe fn arithmetic<T: DenseType>(fcinfo: FunctionCallInfo, op: fn(f32, f32) -> f32) -> Datum {
    // SAFETY: arithmetic operators receive two non-null T.
    let (a, b) = unsafe { dense_pair::<T>(fcinfo) };
    from_f32::<T>(&dense::elementwise(&T::widen(a), &T::widen(b), op, T::NAME).or_raise())
}

/// `a || b`.
unsafe fn concat<T: DenseType>(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: || receives two non-null T (of any dimensions).
    let (a, b) = unsafe { (dense_arg::<T>(fcinfo, 0), dense_arg::<T>(fcinfo, 1)) };
    vectors::dense::check_dim(a.len() + b.len(), T::NAME).or_raise();
    dense_datum(&[a, b].concat())
}

/// A btree comparison: `pred` tells whether the ordering satisfies it.
unsafe fn compare<T: DenseType>(fcinfo: FunctionCallInfo, pred: fn(Ordering) -> bool) -> Datum {
    // SAFETY: comparison operators receive two non-null T (any dimensions).
    let (a, b) = unsafe { (dense_arg::<T>(fcinfo, 0), dense_arg::<T>(fcinfo, 1)) };
    fmgr::bool_datum(pred(dense::cmp_dense(&T::widen(a), &T::widen(b))))
}

/// The btree support function: -1, 0 or 1.
unsafe fn cmp<T: DenseType>(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: as compare.
    let (a, b) = unsafe { (dense_arg::<T>(fcinfo, 0), dense_arg::<T>(fcinfo, 1)) };
    fmgr::i32_datum(dense::cmp_dense(&T::widen(a), &T::widen(b)) as i32)
}

/// `dims(T) -> int4`.
unsafe fn dims<T: DenseType>(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: one non-null T.
    fmgr::i32_datum(unsafe { dense_arg::<T>(fcinfo, 0) }.len() as i32)
}

/// `norm(T) -> float8` (L2 norm).
unsafe fn norm<T: DenseType>(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: one non-null T.
    fmgr::f64_datum(dense::norm(&T::widen(unsafe { dense_arg::<T>(fcinfo, 0) })))
}

/// `normalize(T) -> T` (unit L2 norm; zero stays zero).
unsafe fn normalize<T: DenseType>(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: one non-null T.
    from_f32::<T>(&dense::normalize(&T::widen(unsafe { dense_arg::<T>(fcinfo, 0) })))
}

/// `subvector(T, start int4, count int4) -> T`.
unsafe fn subvector<T: DenseType>(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: (T, int4, int4), all non-null (STRICT).
    let (a, start, count) = unsafe { (dense_arg::<T>(fcinfo, 0), arg_i32(fcinfo, 1), arg_i32(fcinfo, 2)) };
    dense_datum(&a[dense::subvector_range(a.len(), start, count, T::NAME).or_raise()])
}

/// `binary_quantize(T) -> bit`: 1 where the element is positive.
unsafe fn binary_quantize<T: DenseType>(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: one non-null T.
    let a = T::widen(unsafe { dense_arg::<T>(fcinfo, 0) }).into_owned();
    bit_datum(a.len(), &dense::binary_quantize(&a))
}

/// A `bit(n)` datum: varlena header, int32 bit length, the bits MSB first.
fn bit_datum(bit_len: usize, bytes: &[u8]) -> Datum {
    let total = pg_sys::VARHDRSZ + 4 + bytes.len();
    // SAFETY: palloc0 gives `total` bytes; the writes stay within them.
    unsafe {
        let p = pg_sys::palloc0(total).cast::<u8>();
        pgrx::set_varsize_4b(p.cast(), total as i32);
        p.add(pg_sys::VARHDRSZ).cast::<i32>().write(bit_len as i32);
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), p.add(pg_sys::VARHDRSZ + 4), bytes.len());
        Datum::from(p)
    }
}

/// `T -> real[]`.
unsafe fn to_real_array<T: DenseType>(fcinfo: FunctionCallInfo) -> Datum {
    use pgrx::IntoDatum;
    // SAFETY: one non-null T.
    let a = T::widen(unsafe { dense_arg::<T>(fcinfo, 0) }).into_owned();
    a.into_datum().expect("a Vec always makes an array datum")
}

/// Instantiates every generic dense function for one type under the C
/// symbol names `ember_<prefix>_<function>` that `sql/*.sql` declares.
macro_rules! dense_sql_functions {
    ($prefix:ident, $T:ty, $decode:path, $encode:path) => {
        paste::paste! {
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _in>](fcinfo) { unsafe { text_in::<$T>(fcinfo) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _out>](fcinfo) { unsafe { text_out::<$T>(fcinfo) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _typmod_in>](fcinfo) { unsafe { typmod_in::<$T>(fcinfo) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _typmod_cast>](fcinfo) { unsafe { typmod_cast::<$T>(fcinfo) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _recv>](fcinfo) {
                unsafe { recv::<$T>(fcinfo, |b| $decode(b, <$T as DenseType>::NAME)) }
            });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _send>](fcinfo) { unsafe { send::<$T>(fcinfo, $encode) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _l2_distance>](fcinfo) {
                unsafe { distance::<$T>(fcinfo, |a, b| (<$T>::l2_squared(a, b) as f64).sqrt()) }
            });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _l2_squared_distance>](fcinfo) {
                unsafe { distance::<$T>(fcinfo, |a, b| <$T>::l2_squared(a, b) as f64) }
            });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _inner_product>](fcinfo) {
                unsafe { distance::<$T>(fcinfo, |a, b| <$T>::dot(a, b) as f64) }
            });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _negative_inner_product>](fcinfo) {
                unsafe { distance::<$T>(fcinfo, |a, b| -(<$T>::dot(a, b) as f64)) }
            });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _cosine_distance>](fcinfo) {
                unsafe { distance::<$T>(fcinfo, <$T>::cosine) }
            });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _l1_distance>](fcinfo) {
                unsafe { distance::<$T>(fcinfo, |a, b| <$T>::l1(a, b) as f64) }
            });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _add>](fcinfo) { unsafe { arithmetic::<$T>(fcinfo, |x, y| x + y) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _sub>](fcinfo) { unsafe { arithmetic::<$T>(fcinfo, |x, y| x - y) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _mul>](fcinfo) { unsafe { arithmetic::<$T>(fcinfo, |x, y| x * y) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _concat>](fcinfo) { unsafe { concat::<$T>(fcinfo) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _lt>](fcinfo) { unsafe { compare::<$T>(fcinfo, Ordering::is_lt) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _le>](fcinfo) { unsafe { compare::<$T>(fcinfo, Ordering::is_le) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _eq>](fcinfo) { unsafe { compare::<$T>(fcinfo, Ordering::is_eq) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _ne>](fcinfo) { unsafe { compare::<$T>(fcinfo, Ordering::is_ne) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _ge>](fcinfo) { unsafe { compare::<$T>(fcinfo, Ordering::is_ge) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _gt>](fcinfo) { unsafe { compare::<$T>(fcinfo, Ordering::is_gt) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _cmp>](fcinfo) { unsafe { cmp::<$T>(fcinfo) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _dims>](fcinfo) { unsafe { dims::<$T>(fcinfo) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _norm>](fcinfo) { unsafe { norm::<$T>(fcinfo) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _normalize>](fcinfo) { unsafe { normalize::<$T>(fcinfo) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _subvector>](fcinfo) { unsafe { subvector::<$T>(fcinfo) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _binary_quantize>](fcinfo) { unsafe { binary_quantize::<$T>(fcinfo) } });
            $crate::fmgr::pg_v1!(fn [<ember_ $prefix _to_real_array>](fcinfo) { unsafe { to_real_array::<$T>(fcinfo) } });
        }
    };
}

dense_sql_functions!(embedding, Embedding, vectors::binary::decode_dense, vectors::binary::encode_dense);
dense_sql_functions!(halfembedding, HalfEmbedding, vectors::binary::decode_half, vectors::binary::encode_half);
