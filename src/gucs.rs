//! ember's settings (GUCs), registered when the library loads.

use std::ffi::{CStr, CString};
use std::path::PathBuf;

use pgrx::guc::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};
use pgrx::pg_sys;

/// `ember.model_path`: the directory of model directories. Superuser-only,
/// because it decides which files the server reads.
pub static MODEL_PATH: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

/// `ember.default_model`: the model `embed(text)` uses.
pub static DEFAULT_MODEL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"all-MiniLM-L6-v2"));

/// `ember.hnsw_ef_search`: the beam width of an HNSW index scan.
pub static HNSW_EF_SEARCH: GucSetting<i32> = GucSetting::<i32>::new(40);

/// `ember.hnsw_max_scan_tuples`: how many elements an iterative scan may
/// visit before it stops.
pub static HNSW_MAX_SCAN_TUPLES: GucSetting<i32> = GucSetting::<i32>::new(20_000);

/// `ember.hnsw_code_pruning`: whether HNSW scans skip reading elements
/// whose neighbour code says they cannot enter the results.
pub static HNSW_CODE_PRUNING: GucSetting<bool> = GucSetting::<bool>::new(true);

/// `ember.ivf_probes`: how many lists an IVF index scan reads.
pub static IVF_PROBES: GucSetting<i32> = GucSetting::<i32>::new(10);

/// `ember.ivf_max_probes`: how many lists an iterative IVF scan may read.
pub static IVF_MAX_PROBES: GucSetting<i32> = GucSetting::<i32>::new(32768);

/// `ember.maxsim_candidates`: how many rows an ember_ivf MaxSim scan hands
/// the executor for exact re-ranking.
pub static MAXSIM_CANDIDATES: GucSetting<i32> = GucSetting::<i32>::new(200);

/// `ember.iterative_scan`: whether index scans go on past their first batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PostgresGucEnum)]
pub enum IterativeScan {
    /// Return at most one batch (ef_search) of results.
    #[name = c"off"]
    Off,
    /// Keep going; a later batch may hold a closer row than the last one returned.
    #[name = c"relaxed_order"]
    RelaxedOrder,
    /// Keep going; never return a row closer than the last one returned.
    #[name = c"strict_order"]
    StrictOrder,
}

/// `ember.iterative_scan`.
pub static ITERATIVE_SCAN: GucSetting<IterativeScan> = GucSetting::<IterativeScan>::new(IterativeScan::Off);

/// Registers every GUC; called from `_PG_init`.
pub fn register() {
    GucRegistry::define_int_guc(
        c"ember.hnsw_ef_search",
        c"Size of the candidate list of an ember_hnsw index scan.",
        c"Larger values find more of the true nearest neighbours, more slowly. With ember.iterative_scan = off, a scan returns at most this many rows.",
        &HNSW_EF_SEARCH,
        1,
        1000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ember.hnsw_max_scan_tuples",
        c"Maximum number of index elements an iterative ember_hnsw scan visits.",
        c"Bounds the work of filtered queries that find few matching rows.",
        &HNSW_MAX_SCAN_TUPLES,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"ember.hnsw_code_pruning",
        c"Whether ember_hnsw scans skip elements by the neighbour codes stored with each list.",
        c"On: a neighbour whose code bounds its distance above the worst of ef_search results is not read (faster, same recall within noise). Off: every neighbour is read.",
        &HNSW_CODE_PRUNING,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ember.ivf_probes",
        c"Number of lists an ember_ivf index scan reads.",
        c"More lists find more of the true nearest neighbours, more slowly.",
        &IVF_PROBES,
        1,
        32768,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ember.ivf_max_probes",
        c"Maximum number of lists an iterative ember_ivf scan reads.",
        c"Bounds the work of filtered queries that find few matching rows.",
        &IVF_MAX_PROBES,
        1,
        32768,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ember.maxsim_candidates",
        c"Number of rows an ember_ivf MaxSim (@#) index scan re-ranks by exact MaxSim.",
        c"The rows whose tokens best match the query's tokens in the probed lists; more find more of the true top rows, more slowly. WHERE conditions filter these rows.",
        &MAXSIM_CANDIDATES,
        1,
        1_000_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"ember.iterative_scan",
        c"Lets index scans continue past their first batch of results (for filtered queries).",
        c"off: at most ef_search rows; relaxed_order: keep going, rows may come slightly out of order; strict_order: keep going, rows in distance order.",
        &ITERATIVE_SCAN,
        GucContext::Userset,
        GucFlags::default(),
    );
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
