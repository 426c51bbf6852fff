//! The in-database encoder: a per-backend cache of loaded models and the
//! SQL functions `embed`, `embed_tokens`, `embed_sparse` (single and batch
//! forms) and `ember_models_json`. The model code is `crates/encoder`;
//! nothing here runs on encoder threads, and the encoder calls back only on
//! this (the backend's) thread, to check for query cancel.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::SystemTime;

use encoder::{EncoderError, Model};
use pgrx::pg_sys::{self, Datum, FunctionCallInfo};
use pgrx::{ereport, FromDatum, IntoDatum, PgSqlErrorCode};

use crate::fmgr::{self, arg, pg_v1};
use crate::gucs;
use crate::types::layout::{dense_datum, sparse_datum};
use crate::types::multi::multi_datum;

/// A loaded model and the identity of the weights file it came from, so a
/// replaced model directory is reloaded (this is why `embed` is STABLE).
struct Cached {
    model: Arc<Model>,
    stamp: Option<(SystemTime, u64, u64)>,
}

thread_local! {
    static CACHE: RefCell<HashMap<PathBuf, Cached>> = RefCell::new(HashMap::new());
}

fn raise(code: PgSqlErrorCode, message: String) -> ! {
    ereport!(ERROR, code, message);
}

/// Maps an encoder error to an ERROR with a fitting SQLSTATE.
fn raise_encoder(e: EncoderError) -> ! {
    use PgSqlErrorCode::*;
    let code = match &e {
        EncoderError::ModelNotFound(_) => ERRCODE_INVALID_PARAMETER_VALUE,
        EncoderError::MissingFile { .. } => ERRCODE_UNDEFINED_FILE,
        EncoderError::Corrupt { .. } => ERRCODE_DATA_CORRUPTED,
        EncoderError::NoMlmHead(_) => ERRCODE_FEATURE_NOT_SUPPORTED,
        EncoderError::InputTooLong { .. } => ERRCODE_PROGRAM_LIMIT_EXCEEDED,
        EncoderError::Cancelled => ERRCODE_QUERY_CANCELED,
        EncoderError::Internal(_) => ERRCODE_INTERNAL_ERROR,
    };
    raise(code, e.to_string())
}

/// Encoder threads must never take Postgres's signals (a cancel must reach
/// the backend thread), so the global rayon pool blocks them all. Index
/// builds call it too: they use the global pool from the backend thread.
pub(crate) fn init_thread_pool() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = rayon::ThreadPoolBuilder::new().start_handler(|_| block_all_signals()).build_global();
    });
}

pub(crate) fn block_all_signals() {
    // SAFETY: sigfillset initialises the set; pthread_sigmask only changes
    // the calling (new, encoder) thread's mask.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// A model name is a plain directory name: no path separators, no `..`.
fn model_dir(name: &str) -> PathBuf {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']) {
        raise(PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE, format!("invalid model name \"{name}\""));
    }
    let root = gucs::model_path();
    let dir = root.join(name);
    if !dir.is_dir() {
        let installed = installed_models(&root).join(", ");
        raise(
            PgSqlErrorCode::ERRCODE_INVALID_PARAMETER_VALUE,
            format!("unknown model \"{name}\" (ember.model_path {} has: {installed})", root.display()),
        );
    }
    dir
}

/// Names of the model directories under `root`, sorted.
fn installed_models(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().join("config.json").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Identity of the weights file: modification time, size and inode (a model
/// replaced by renaming a new directory over the old one has a new inode).
fn weights_stamp(dir: &Path) -> Option<(SystemTime, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir.join("model.safetensors")).ok()?;
    Some((meta.modified().ok()?, meta.len(), meta.ino()))
}

/// The named model, loaded once per backend (and again if its weights change).
fn model(name: &str) -> Arc<Model> {
    init_thread_pool();
    let dir = model_dir(name);
    let stamp = weights_stamp(&dir);
    if let Some(hit) = CACHE.with(|c| c.borrow().get(&dir).filter(|c| c.stamp == stamp).map(|c| c.model.clone())) {
        return hit;
    }
    let model = Arc::new(Model::load(&dir).unwrap_or_else(|e| raise_encoder(e)));
    CACHE.with(|c| c.borrow_mut().insert(dir, Cached { model: model.clone(), stamp }));
    model
}

/// The model argument (`n`), or the default model when the function has none.
unsafe fn model_arg(fcinfo: FunctionCallInfo, n: usize) -> Arc<Model> {
    // SAFETY: the live call's fcinfo; argument n, when present, is text (STRICT: non-null).
    let nargs = unsafe { (*fcinfo).nargs } as usize;
    let name = if nargs > n {
        unsafe { String::from_polymorphic_datum(arg(fcinfo, n), false, pg_sys::TEXTOID) }.unwrap_or_default()
    } else {
        gucs::default_model()
    };
    model(&name)
}

/// Lets Ctrl-C and statement_timeout interrupt a long encode: raises the
/// pending cancel as an ERROR on this thread.
fn check_cancel() -> Result<(), EncoderError> {
    pgrx::check_for_interrupts!();
    Ok(())
}

/// What one encode produces, as a datum (None: SQL NULL).
type Encode = fn(&Model, &[&str]) -> Vec<Option<Datum>>;

fn encode_dense(model: &Model, texts: &[&str]) -> Vec<Option<Datum>> {
    let out = model.embed(texts, &check_cancel).unwrap_or_else(|e| raise_encoder(e));
    out.iter().map(|v| Some(dense_datum(v))).collect()
}

fn encode_tokens(model: &Model, texts: &[&str]) -> Vec<Option<Datum>> {
    let dim = model.info().token_dim;
    let out = model.embed_tokens(texts, &check_cancel).unwrap_or_else(|e| raise_encoder(e));
    // A text without a single real token has no token vectors: NULL.
    out.iter().map(|v| (!v.is_empty()).then(|| multi_datum(dim, v))).collect()
}

fn encode_sparse(model: &Model, texts: &[&str]) -> Vec<Option<Datum>> {
    let dim = model.info().vocab_size;
    let out = model.embed_sparse(texts, &check_cancel).unwrap_or_else(|e| raise_encoder(e));
    out.iter().map(|(i, v)| Some(sparse_datum(dim, i, v))).collect()
}

/// `f(text [, model])`.
unsafe fn encode_one(fcinfo: FunctionCallInfo, encode: Encode) -> Datum {
    // SAFETY: (text [, text]), STRICT.
    let text = unsafe { String::from_polymorphic_datum(arg(fcinfo, 0), false, pg_sys::TEXTOID) }.unwrap_or_default();
    let model = unsafe { model_arg(fcinfo, 1) };
    match encode(&model, &[text.as_str()]).pop().flatten() {
        Some(d) => d,
        // SAFETY: the live call's fcinfo.
        None => unsafe { pgrx::fcinfo::pg_return_null(fcinfo) },
    }
}

/// `f(text[] [, model])`: one batch; NULL elements stay NULL.
unsafe fn encode_batch(fcinfo: FunctionCallInfo, encode: Encode) -> Datum {
    // SAFETY: (text[] [, text]), STRICT.
    let texts = unsafe { Vec::<Option<String>>::from_polymorphic_datum(arg(fcinfo, 0), false, pg_sys::TEXTARRAYOID) }
        .unwrap_or_default();
    let model = unsafe { model_arg(fcinfo, 1) };
    let present: Vec<&str> = texts.iter().flatten().map(String::as_str).collect();
    let mut encoded = encode(&model, &present).into_iter();
    let results: Vec<Option<Datum>> = texts.iter().map(|t| t.as_ref().and_then(|_| encoded.next().flatten())).collect();
    // SAFETY: the declared result type is an array of ember's type.
    unsafe { array_datum(fcinfo, &results) }
}

/// A one-dimensional array of the function's result element type.
unsafe fn array_datum(fcinfo: FunctionCallInfo, items: &[Option<Datum>]) -> Datum {
    // SAFETY: rettype is an array type of a varlena, int4-aligned element.
    unsafe {
        let elem = fmgr::result_element_type(fcinfo);
        let mut values: Vec<Datum> = items.iter().map(|d| d.unwrap_or(Datum::from(0usize))).collect();
        let mut nulls: Vec<bool> = items.iter().map(Option::is_none).collect();
        let mut dims = [items.len() as i32];
        let mut lbs = [1];
        let arr = pg_sys::construct_md_array(
            values.as_mut_ptr(),
            nulls.as_mut_ptr(),
            1,
            dims.as_mut_ptr(),
            lbs.as_mut_ptr(),
            elem,
            -1,
            false,
            pg_sys::TYPALIGN_INT as std::ffi::c_char,
        );
        Datum::from(arr)
    }
}

pg_v1!(fn ember_embed(fcinfo) { unsafe { encode_one(fcinfo, encode_dense) } });
pg_v1!(fn ember_embed_batch(fcinfo) { unsafe { encode_batch(fcinfo, encode_dense) } });
pg_v1!(fn ember_embed_tokens(fcinfo) { unsafe { encode_one(fcinfo, encode_tokens) } });
pg_v1!(fn ember_embed_tokens_batch(fcinfo) { unsafe { encode_batch(fcinfo, encode_tokens) } });
pg_v1!(fn ember_embed_sparse(fcinfo) { unsafe { encode_one(fcinfo, encode_sparse) } });
pg_v1!(fn ember_embed_sparse_batch(fcinfo) { unsafe { encode_batch(fcinfo, encode_sparse) } });

pg_v1!(
    /// JSON describing every installed model (loaded to read its shape).
    fn ember_models_json(fcinfo) {
    let _ = fcinfo;
    let root = gucs::model_path();
    let models: Vec<serde_json::Value> = installed_models(&root)
        .iter()
        .map(|name| {
            let m = model(name);
            let i = m.info();
            serde_json::json!({
                "name": i.name, "dim": i.dim, "token_dim": i.token_dim, "max_tokens": i.max_tokens,
                "vocab_size": i.vocab_size, "layers": i.layers, "pooling": i.pooling,
                "sparse": i.has_mlm_head, "colbert_projection": i.has_colbert_projection,
                "path": root.join(name).display().to_string(),
            })
        })
        .collect();
    serde_json::Value::Array(models).to_string().into_datum().unwrap_or_else(|| fmgr::corrupt("json"))
});
