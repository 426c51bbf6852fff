//! The function-manager seam: V1 C functions, argument access, results and
//! error reporting. Every SQL-callable function in ember goes through here.

use std::ffi::CStr;

use pgrx::pg_sys::{self, Datum, FunctionCallInfo};
use pgrx::{ereport, PgSqlErrorCode};
use vectors::{ErrorKind, VectorError};

/// Defines a V1 C function `$name` callable from SQL as
/// `AS 'MODULE_PATHNAME', '$name'`, with its `pg_finfo_` record, under
/// `#[pg_guard]` so Rust panics and ERRORs unwind safely into Postgres.
#[macro_export]
macro_rules! pg_v1 {
    ($(#[$meta:meta])* fn $name:ident($fcinfo:ident) $body:block) => {
        paste::paste! {
            #[unsafe(no_mangle)]
            #[doc(hidden)]
            pub extern "C" fn [<pg_finfo_ $name>]() -> &'static pgrx::pg_sys::Pg_finfo_record {
                const V1: pgrx::pg_sys::Pg_finfo_record = pgrx::pg_sys::Pg_finfo_record { api_version: 1 };
                &V1
            }
        }
        $(#[$meta])*
        ///
        /// # Safety
        /// Called only by Postgres's function manager, with the live call's
        /// `fcinfo` and the argument types its SQL declaration names.
        #[unsafe(no_mangle)]
        pub unsafe extern "C-unwind" fn $name($fcinfo: pgrx::pg_sys::FunctionCallInfo) -> pgrx::pg_sys::Datum {
            // The guard #[pg_guard] would add: a Rust panic or ERROR report
            // becomes a Postgres ERROR instead of unwinding into C.
            pgrx::pg_sys::submodules::panic::pgrx_extern_c_guard(move || $body)
        }
    };
}
pub use pg_v1;

/// Raises `e` as an ERROR with the SQLSTATE its kind calls for.
pub fn raise(e: VectorError) -> ! {
    let code = match e.kind {
        ErrorKind::InvalidText => PgSqlErrorCode::ERRCODE_INVALID_TEXT_REPRESENTATION,
        ErrorKind::InvalidBinary => PgSqlErrorCode::ERRCODE_INVALID_BINARY_REPRESENTATION,
        ErrorKind::Data => PgSqlErrorCode::ERRCODE_DATA_EXCEPTION,
        ErrorKind::OutOfRange => PgSqlErrorCode::ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE,
        ErrorKind::TooLarge => PgSqlErrorCode::ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        ErrorKind::InvalidParameter => PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
    };
    ereport!(ERROR, code, e.message);
}

/// Raises an ERROR with `code` and `message`.
pub fn raise_code(code: PgSqlErrorCode, message: impl Into<String>) -> ! {
    ereport!(ERROR, code, message.into());
}

/// Raises an ERROR with `code`, `message` and a DETAIL.
pub fn raise_code_detail(code: PgSqlErrorCode, message: impl Into<String>, detail: &str) -> ! {
    ereport!(ERROR, code, message.into(), detail);
}

/// Unwraps a pure-code result or raises its error.
pub trait OrRaise<T> {
    /// The value, or an ERROR.
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T, VectorError> {
    fn or_raise(self) -> T {
        self.unwrap_or_else(|e| raise(e))
    }
}

/// Raises an internal-error ERROR for a value that cannot be valid (a
/// corrupt datum), never reading past it.
pub fn corrupt(type_name: &str) -> ! {
    ereport!(ERROR, PgSqlErrorCode::ERRCODE_DATA_CORRUPTED, format!("corrupt {type_name} value"));
}

/// The raw datum of argument `n`.
///
/// # Safety
/// `fcinfo` is the live call's and `n` < its nargs.
pub unsafe fn arg(fcinfo: FunctionCallInfo, n: usize) -> Datum {
    // SAFETY: forwarded contract.
    unsafe { pgrx::fcinfo::pg_getarg_datum_raw(fcinfo, n) }
}

/// Argument `n` as i32.
///
/// # Safety
/// As [`arg`]; the argument is an `integer`.
pub unsafe fn arg_i32(fcinfo: FunctionCallInfo, n: usize) -> i32 {
    // SAFETY: int4 datums are by value.
    unsafe { arg(fcinfo, n) }.value() as i32
}

/// Argument `n` (a `cstring`) as UTF-8 text (the server encoding is UTF-8 or
/// ASCII-compatible; anything else is refused as invalid text).
///
/// # Safety
/// As [`arg`]; the argument is a `cstring`.
pub unsafe fn arg_cstr<'a>(fcinfo: FunctionCallInfo, n: usize, type_name: &str) -> &'a str {
    // SAFETY: a cstring datum points to a NUL-terminated string that lives for the call.
    let s = unsafe { CStr::from_ptr(arg(fcinfo, n).cast_mut_ptr::<std::ffi::c_char>()) };
    s.to_str().unwrap_or_else(|_| raise(VectorError::syntax(type_name, &s.to_string_lossy())))
}

// Postgres's float4out digits (src/common/f2s.c), exported by the server
// binary (not in pgrx's bindings).
unsafe extern "C" {
    fn float_to_shortest_decimal_bufn(f: f32, result: *mut std::ffi::c_char) -> std::ffi::c_int;
}

/// Appends `value` as `float4out` prints it (with the default
/// `extra_float_digits`), through the server's own function: embeddings
/// print exactly as `real` and pgvector's `vector` do.
pub fn push_float4out(value: f32, out: &mut String) {
    // FLOAT_SHORTEST_DECIMAL_LEN: the longest text (`-1.17549435e-38`) plus a NUL.
    let mut buf = [0u8; 16];
    // SAFETY: the function writes at most FLOAT_SHORTEST_DECIMAL_LEN - 1
    // bytes (it does not NUL-terminate) and returns how many.
    let len = unsafe { float_to_shortest_decimal_bufn(value, buf.as_mut_ptr().cast()) };
    match buf.get(..len.max(0) as usize) {
        // SAFETY: ASCII bytes are UTF-8. (`str::from_utf8` took a third
        // as long as the formatting itself.)
        Some(text) if text.is_ascii() => out.push_str(unsafe { std::str::from_utf8_unchecked(text) }),
        _ => vectors::float_text::format_f32(value, out),
    }
}

/// Returns `s` as a palloc'd C string datum.
pub fn cstring_datum(s: &str) -> Datum {
    // SAFETY: palloc returns len+1 writable bytes or ERRORs; we fill them and NUL-terminate.
    unsafe {
        let p = pg_sys::palloc(s.len() + 1).cast::<u8>();
        std::ptr::copy_nonoverlapping(s.as_ptr(), p, s.len());
        *p.add(s.len()) = 0;
        Datum::from(p)
    }
}

/// Returns `payload` as a palloc'd `bytea` datum (for send functions).
pub fn bytea_datum(payload: &[u8]) -> Datum {
    let total = pg_sys::VARHDRSZ + payload.len();
    // SAFETY: palloc returns `total` writable bytes; the header is set before use.
    unsafe {
        let p = pg_sys::palloc(total).cast::<u8>();
        pgrx::set_varsize_4b(p.cast(), total as i32);
        std::ptr::copy_nonoverlapping(payload.as_ptr(), p.add(pg_sys::VARHDRSZ), payload.len());
        Datum::from(p)
    }
}

/// The unread bytes of a recv function's `internal` StringInfo argument,
/// consumed: the cursor moves to the end.
///
/// # Safety
/// Argument `n` is the StringInfo Postgres passes to a type's receive function.
pub unsafe fn arg_recv_bytes<'a>(fcinfo: FunctionCallInfo, n: usize) -> &'a [u8] {
    // SAFETY: Postgres passes a valid StringInfo whose data holds `len` bytes.
    unsafe {
        let buf = arg(fcinfo, n).cast_mut_ptr::<pg_sys::StringInfoData>();
        let start = (*buf).cursor as usize;
        let end = (*buf).len as usize;
        let bytes = std::slice::from_raw_parts((*buf).data.cast::<u8>().add(start), end.saturating_sub(start));
        (*buf).cursor = (*buf).len;
        bytes
    }
}

/// The element type of the function's declared array result, from the call
/// expression (every SQL-level call has one).
///
/// # Safety
/// `fcinfo` is the live call's.
pub unsafe fn result_element_type(fcinfo: FunctionCallInfo) -> pg_sys::Oid {
    // SAFETY: flinfo is valid for the call; both lookups are catalog reads.
    let elem = unsafe { pg_sys::get_element_type(pg_sys::get_fn_expr_rettype((*fcinfo).flinfo)) };
    if elem == pg_sys::InvalidOid {
        ereport!(ERROR, PgSqlErrorCode::ERRCODE_FEATURE_NOT_SUPPORTED, "cannot determine the result array type of this call");
    }
    elem
}

/// A float8 result.
pub fn f64_datum(v: f64) -> Datum {
    Datum::from(v.to_bits())
}

/// An int4 result.
pub fn i32_datum(v: i32) -> Datum {
    Datum::from(v)
}

/// A boolean result.
pub fn bool_datum(v: bool) -> Datum {
    Datum::from(v)
}
