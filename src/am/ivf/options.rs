//! `WITH (lists = .., storage = ..)`: reloptions of ember_ivf.

use std::sync::atomic::{AtomicU32, Ordering};

use pgrx::pg_sys;

use super::super::glue;

/// Default (0: chosen from the row count) and range of `lists`.
pub const LISTS: (i32, i32, i32) = (0, 0, 32768);

/// What list entries hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storage {
    /// The full values (exact distances, 4 bytes per dimension).
    Full = 0,
    /// SQ8 codes (1 byte per dimension), re-ranked on the exact values.
    Sq8 = 1,
}

impl Storage {
    /// From the metapage's storage byte.
    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            0 => Some(Self::Full),
            1 => Some(Self::Sq8),
            _ => None,
        }
    }
}

/// The parsed options, as `build_reloptions` fills them (a varlena).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct IvfOptions {
    vl_len_: i32,
    /// `lists` (0: from the row count).
    pub lists: i32,
    /// `storage`, a [`Storage`] discriminant.
    storage: i32,
}

impl IvfOptions {
    /// The `storage` option.
    pub fn storage(&self) -> Storage {
        if self.storage == Storage::Full as i32 { Storage::Full } else { Storage::Sq8 }
    }
}

struct Members([pg_sys::relopt_enum_elt_def; 3]);
// SAFETY: the table only holds pointers to static C strings, never written.
unsafe impl Sync for Members {}

static STORAGE_VALUES: Members = Members([
    pg_sys::relopt_enum_elt_def { string_val: c"sq8".as_ptr(), symbol_val: Storage::Sq8 as i32 },
    pg_sys::relopt_enum_elt_def { string_val: c"full".as_ptr(), symbol_val: Storage::Full as i32 },
    pg_sys::relopt_enum_elt_def { string_val: std::ptr::null(), symbol_val: 0 },
]);

static KIND: AtomicU32 = AtomicU32::new(0);

/// Registers the options; called from `_PG_init`.
pub fn register() {
    // SAFETY: called once at library load on the main thread; the strings
    // and the enum table are static.
    unsafe {
        let kind = pg_sys::add_reloption_kind();
        KIND.store(kind, Ordering::Relaxed);
        let lock = pg_sys::AccessExclusiveLock as i32;
        pg_sys::add_int_reloption(kind, c"lists".as_ptr(), c"Number of inverted lists (0: rows / 1000, or sqrt(rows) above a million rows)".as_ptr(), LISTS.0, LISTS.1, LISTS.2, lock);
        pg_sys::add_enum_reloption(
            kind,
            c"storage".as_ptr(),
            c"What list entries hold: sq8 (8-bit codes, re-ranked on exact values) or full (the values)".as_ptr(),
            STORAGE_VALUES.0.as_ptr().cast_mut(),
            Storage::Sq8 as i32,
            c"Valid values are \"sq8\" and \"full\".".as_ptr(),
            lock,
        );
    }
}

/// `amoptions`: parses and validates `reloptions`.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amoptions(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea {
    let table = [
        pg_sys::relopt_parse_elt {
            optname: c"lists".as_ptr(),
            opttype: pg_sys::relopt_type::RELOPT_TYPE_INT,
            offset: std::mem::offset_of!(IvfOptions, lists) as i32,
        },
        pg_sys::relopt_parse_elt {
            optname: c"storage".as_ptr(),
            opttype: pg_sys::relopt_type::RELOPT_TYPE_ENUM,
            offset: std::mem::offset_of!(IvfOptions, storage) as i32,
        },
    ];
    // SAFETY: the table describes IvfOptions' int fields; build_reloptions
    // returns a palloc'd IvfOptions or NULL when there are no options.
    unsafe { glue::build_reloptions::<IvfOptions>(reloptions, validate, KIND.load(Ordering::Relaxed), &table) }
}

/// The index's options (defaults when none were given).
///
/// # Safety
/// `index` is an open ember_ivf index.
pub unsafe fn of(index: pg_sys::Relation) -> IvfOptions {
    // SAFETY: rd_options is NULL or what amoptions returned.
    unsafe { glue::options_or(index, IvfOptions { vl_len_: 0, lists: LISTS.0, storage: Storage::Sq8 as i32 }) }
}
