//! Planner support for the dense distance functions (`SUPPORT` in
//! `sql/embedding.sql`, `sql/halfembedding.sql`): a per-call cost that
//! grows with the dimensions and counts reading a value stored out of
//! line.
//!
//! Postgres prices a function call at its declared `COST` times
//! `cpu_operator_cost` whatever the arguments, and a sequential scan at its
//! table's main pages only. For a column too wide to stay in the row (over
//! ~2,000 bytes: `embedding(500)` and up, with `STORAGE external`), every
//! row's distance first reads the value's TOAST chunks: measured on
//! Fashion-MNIST (60,000 x 784), the exact scan takes 270 ms while the
//! planner priced it below an ember_ivf scan reading 24 of 60 lists in
//! 15 ms, and chose it. Here each call costs its chunk pages (four chunks
//! to a TOAST page, read in order: `seq_page_cost`) plus the arithmetic,
//! one operator per 128 dimensions.

use pgrx::pg_sys::{self, Datum, FunctionCallInfo};

use crate::fmgr::{arg, pg_v1};

/// A row bigger than this is TOASTed (`TOAST_TUPLE_THRESHOLD` for 8 kB
/// pages, less the tuple header): a lone wide vector column goes out of line.
const OUT_OF_LINE_BYTES: f64 = 2000.0;
/// `TOAST_MAX_CHUNK_SIZE` for 8 kB pages; four chunks fill a TOAST page.
const TOAST_CHUNK_BYTES: f64 = 1996.0;
const TOAST_CHUNKS_PER_PAGE: f64 = 4.0;
/// Varlena header, dimensions and the unused field of a dense value.
const DENSE_HEADER_BYTES: f64 = 8.0;
/// Dimensions one `cpu_operator_cost` pays for.
const DIMS_PER_OPERATOR: f64 = 128.0;

pg_v1!(fn ember_embedding_distance_support(fcinfo) { unsafe { support(fcinfo, 4.0) } });
pg_v1!(fn ember_halfembedding_distance_support(fcinfo) { unsafe { support(fcinfo, 2.0) } });

/// Answers `SupportRequestCost`; every other request gets NULL (no help).
///
/// # Safety
/// `fcinfo` is a support-function call: argument 0 is a planner `Node *`.
unsafe fn support(fcinfo: FunctionCallInfo, element_bytes: f64) -> Datum {
    // SAFETY: the planner passes a live request node; the expression nodes
    // it points to are the planner's, read only.
    unsafe {
        let req = arg(fcinfo, 0).cast_mut_ptr::<pg_sys::Node>();
        if req.is_null() || (*req).type_ != pg_sys::NodeTag::T_SupportRequestCost {
            return Datum::null();
        }
        let cost_req = req.cast::<pg_sys::SupportRequestCost>();
        let Some(args) = call_args(cost_req.as_ref().map_or(std::ptr::null_mut(), |r| r.node)) else {
            return Datum::null();
        };
        let Some(dims) = args.iter().find_map(|&a| dims_of(a)) else {
            return Datum::null();
        };
        let bytes = DENSE_HEADER_BYTES + element_bytes * dims;
        let mut per_call = pg_sys::cpu_operator_cost * (1.0 + dims / DIMS_PER_OPERATOR);
        if bytes > OUT_OF_LINE_BYTES {
            let stored = args.iter().filter(|&&a| may_be_toasted(a)).count();
            let chunk_pages = (bytes / TOAST_CHUNK_BYTES).ceil() / TOAST_CHUNKS_PER_PAGE;
            per_call += stored as f64 * chunk_pages * pg_sys::seq_page_cost;
        }
        (*cost_req).startup = 0.0;
        (*cost_req).per_tuple = per_call;
        Datum::from(req)
    }
}

/// Whether the argument `expr` can hold a value stored out of line, which
/// every call reads again. A constant is detoasted once, before the scan. A
/// query parameter (`$1` of a prepared statement, a PL/pgSQL variable)
/// comes from an input function or a detoasted variable, never a TOAST
/// pointer; pricing it like a column made the generic plan of every
/// prepared `ORDER BY v <-> $1` dearer than the custom one, so Postgres
/// planned each execution again. A column or a subquery's result can be.
///
/// # Safety
/// `expr` is a live expression node.
unsafe fn may_be_toasted(expr: *mut pg_sys::Node) -> bool {
    // SAFETY: forwarded contract; the node's tag says which struct it is.
    unsafe {
        match (*expr).type_ {
            pg_sys::NodeTag::T_Const => false,
            pg_sys::NodeTag::T_Param => (*expr.cast::<pg_sys::Param>()).paramkind != pg_sys::ParamKind::PARAM_EXTERN,
            _ => true,
        }
    }
}

/// The arguments of the call being costed (an operator or a function).
///
/// # Safety
/// `node` is null or a live expression node.
unsafe fn call_args(node: *mut pg_sys::Node) -> Option<Vec<*mut pg_sys::Node>> {
    // SAFETY: forwarded contract; the node's tag says which struct it is.
    unsafe {
        if node.is_null() {
            return None;
        }
        let list = match (*node).type_ {
            pg_sys::NodeTag::T_OpExpr => (*node.cast::<pg_sys::OpExpr>()).args,
            pg_sys::NodeTag::T_FuncExpr => (*node.cast::<pg_sys::FuncExpr>()).args,
            _ => return None,
        };
        let list = pgrx::PgList::<pg_sys::Node>::from_pg(list);
        Some(list.iter_ptr().collect())
    }
}

/// The dimensions an argument declares (`embedding(n)`), or those of a
/// constant value; `None` when unknown.
///
/// # Safety
/// `expr` is a live expression node of a dense ember type.
unsafe fn dims_of(expr: *mut pg_sys::Node) -> Option<f64> {
    // SAFETY: forwarded contract; a non-null constant of a dense type is a
    // varlena whose header (detoasted here, as the call will) holds the
    // dimensions as u16 after the 4-byte length word.
    unsafe {
        let typmod = pg_sys::exprTypmod(expr);
        if typmod > 0 {
            return Some(f64::from(typmod));
        }
        if (*expr).type_ != pg_sys::NodeTag::T_Const {
            return None;
        }
        let c = &*expr.cast::<pg_sys::Const>();
        if c.constisnull {
            return None;
        }
        let value = pg_sys::pg_detoast_datum(c.constvalue.cast_mut_ptr());
        let header = std::slice::from_raw_parts(value.cast::<u8>(), 6);
        Some(f64::from(u16::from_ne_bytes([header[4], header[5]])))
    }
}
