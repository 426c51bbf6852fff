//! `avg` and `sum` over the dense types. The transition state is a float8[]
//! `{count, sum_1, ..., sum_n}` (as pgvector's), so partial states combine
//! for parallel aggregation and sums keep f64 precision.

use pgrx::pg_sys::{self, Datum, FunctionCallInfo};
use pgrx::{FromDatum, IntoDatum};
use vectors::dense;

use super::dense::dense_arg;
use super::dense_kinds::{DenseType, Embedding, HalfEmbedding};
use super::layout::dense_datum;
use crate::fmgr::{arg, pg_v1, OrRaise};

/// Argument `n` as a float8[] state.
unsafe fn state_arg(fcinfo: FunctionCallInfo, n: usize) -> Vec<f64> {
    // SAFETY: the aggregate passes a non-null float8[] (initcond '{0}', STRICT).
    unsafe { Vec::<f64>::from_polymorphic_datum(arg(fcinfo, n), false, pg_sys::FLOAT8ARRAYOID) }.unwrap_or_default()
}

fn state_datum(state: Vec<f64>) -> Datum {
    state.into_datum().expect("a Vec always makes an array datum")
}

/// `T_accum(float8[], T) -> float8[]`.
unsafe fn accum<T: DenseType>(fcinfo: FunctionCallInfo) -> Datum {
    // SAFETY: (float8[], T), both non-null.
    let (mut state, v) = unsafe { (state_arg(fcinfo, 0), dense_arg::<T>(fcinfo, 1)) };
    dense::accumulate(&mut state, &T::widen(v), T::NAME).or_raise();
    state_datum(state)
}

/// The final function: the average or the sum, NULL when no rows.
unsafe fn finish<T: DenseType>(fcinfo: FunctionCallInfo, average: bool) -> Datum {
    // SAFETY: one non-null float8[] state.
    let state = unsafe { state_arg(fcinfo, 0) };
    match dense::finish(&state, average).or_raise() {
        Some(values) => dense_datum(&T::narrow(&values).or_raise()),
        // SAFETY: the live call's fcinfo.
        None => unsafe { pgrx::fcinfo::pg_return_null(fcinfo) },
    }
}

pg_v1!(fn ember_dense_combine(fcinfo) {
    // SAFETY: two non-null float8[] states.
    let (a, b) = unsafe { (state_arg(fcinfo, 0), state_arg(fcinfo, 1)) };
    state_datum(dense::combine(&a, &b, vectors::type_name::EMBEDDING).or_raise())
});
pg_v1!(fn ember_embedding_accum(fcinfo) { unsafe { accum::<Embedding>(fcinfo) } });
pg_v1!(fn ember_halfembedding_accum(fcinfo) { unsafe { accum::<HalfEmbedding>(fcinfo) } });
pg_v1!(fn ember_embedding_avg(fcinfo) { unsafe { finish::<Embedding>(fcinfo, true) } });
pg_v1!(fn ember_embedding_sum(fcinfo) { unsafe { finish::<Embedding>(fcinfo, false) } });
pg_v1!(fn ember_halfembedding_avg(fcinfo) { unsafe { finish::<HalfEmbedding>(fcinfo, true) } });
pg_v1!(fn ember_halfembedding_sum(fcinfo) { unsafe { finish::<HalfEmbedding>(fcinfo, false) } });
