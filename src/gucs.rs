//! ember's settings (GUCs), registered when the library loads.

use std::ffi::{CStr, CString};
use std::path::PathBuf;

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting};
use pgrx::pg_sys;

/// `ember.model_path`: the directory of model directories. Superuser-only,
/// because it decides which files the server reads.
pub static MODEL_PATH: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// `ember.default_model`: the model `embed(text)` uses.
pub static DEFAULT_MODEL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"all-MiniLM-L6-v2"));

/// Registers every GUC; called from `_PG_init`.
pub fn register() {
    GucRegistry::define_string_guc(
        c"ember.model_path",
        c"Directory holding ember's model directories.",
        c"Each model is a subdirectory (its name is the model's name) with config.json, tokenizer.json and model.safetensors. Empty means SHAREDIR/ember/models.",
        &MODEL_PATH,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"ember.default_model",
        c"Model used by embed(), embed_tokens() and embed_sparse() when none is named.",
        c"",
        &DEFAULT_MODEL,
        GucContext::Userset,
        GucFlags::default(),
    );
}

/// The model directory in force: the GUC, or SHAREDIR/ember/models.
pub fn model_path() -> PathBuf {
    if let Some(path) = MODEL_PATH.get().filter(|p| !p.as_bytes().is_empty()) {
        return PathBuf::from(path.to_string_lossy().into_owned());
    }
    let mut buf = [0 as std::ffi::c_char; pg_sys::MAXPGPATH as usize];
    // SAFETY: get_share_path writes a NUL-terminated path of at most MAXPGPATH
    // bytes into buf, from the server's own executable path.
    let share = unsafe {
        pg_sys::get_share_path(std::ptr::addr_of!(pg_sys::my_exec_path).cast(), buf.as_mut_ptr());
        CStr::from_ptr(buf.as_ptr()).to_string_lossy().into_owned()
    };
    PathBuf::from(share).join("ember").join("models")
}

/// The default model's name.
pub fn default_model() -> String {
    DEFAULT_MODEL.get().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default()
}
