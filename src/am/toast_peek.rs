//! A scan's side of [`crate::storage::toast_memo`]: each row it returns is
//! remembered with its TOAST pointer, so that the executor's `v <-> $1`
//! for that row needs no TOAST fetch.

use ::hnsw::ondisk::Tid;
use pgrx::pg_sys;

use super::words::{ElemKind, WordMetric};
use crate::storage::toast_memo;

/// Values smaller than this stay in the row (TOAST moves values out of
/// rows of over about 2 KB) unless other columns make it large: with a
/// few misses a scan stops looking, so tables that keep them in the row
/// pay little.
const MIN_VALUE_BYTES: usize = 1024;

/// Rows read without finding an out-of-line value before a scan stops
/// looking (for the rest of that scan).
const GIVE_UP_AFTER: u32 = 2;

/// Rows remembered before a scan checks that their distances are asked
/// for; it stops when fewer than one in [`HIT_RATIO`] were. Remembering a
/// row costs about a fifth of the TOAST fetch it saves (reading the
/// element and the heap tuple again), and a filter in the query can drop
/// most rows before their distance is computed.
const CHECK_AFTER: u32 = 8;
const HIT_RATIO: u64 = 4;

pub struct ToastPeek {
    heap: pg_sys::Relation,
    attnum: i16,
    found: u32,
    missed: u32,
    /// [`toast_memo::hits`] when the scan started.
    hits_before: u64,
    words: Vec<f32>,
}

impl ToastPeek {
    /// For a scan of `index` over the table `heap` whose elements are
    /// `metric` over `dims` dimensions: only elements that hold a dense
    /// value's own `f32` words (not codes; half values widened, exactly)
    /// of a table column (not an expression), wide enough to be stored
    /// out of line.
    ///
    /// # Safety
    /// `heap` (may be null) and `index` are open for the scan.
    pub unsafe fn new(heap: pg_sys::Relation, index: pg_sys::Relation, metric: WordMetric, dims: usize) -> Option<Self> {
        let element_bytes = match metric.kind {
            ElemKind::Dense => size_of::<f32>(),
            ElemKind::Half => size_of::<half::f16>(),
            ElemKind::Sparse | ElemKind::Multi => return None,
        };
        if heap.is_null() || metric.sq8 || dims * element_bytes < MIN_VALUE_BYTES {
            return None;
        }
        // SAFETY: an open index has its pg_index row; indkey has one entry
        // per key column, and ember's indexes have exactly one.
        let attnum = unsafe { *(*(*index).rd_index).indkey.values.as_ptr() };
        let hits_before = toast_memo::hits();
        (attnum > 0).then(|| Self { heap, attnum, found: 0, missed: 0, hits_before, words: Vec::new() })
    }

    /// Whether it is still worth looking: values are found out of line
    /// (or too few rows were read to tell), and their distances are asked
    /// for (or too few were remembered to tell).
    pub fn active(&self) -> bool {
        let stored_out_of_line = self.found > 0 || self.missed < GIVE_UP_AFTER;
        let hits = toast_memo::hits() - self.hits_before;
        let asked_for = self.found < CHECK_AFTER || hits * HIT_RATIO >= u64::from(self.found);
        stored_out_of_line && asked_for
    }

    /// Keeps the returned element's value until [`ToastPeek::remember`].
    pub fn keep(&mut self, words: &[f32]) {
        self.words.clear();
        self.words.extend_from_slice(words);
    }

    /// Remembers the kept value under the TOAST pointer of the row at
    /// `heap_tid`, if it has one.
    pub fn remember(&mut self, heap_tid: Tid) {
        let mut tid = pg_sys::ItemPointerData::default();
        super::set_heap_tid(&mut tid, heap_tid);
        // SAFETY: the heap is open for the scan; attnum is a user column.
        match unsafe { toast_memo::toast_key_at(self.heap, self.attnum, tid) } {
            Some(key) => {
                self.found += 1;
                toast_memo::remember(key, &self.words);
            }
            None => self.missed += 1,
        }
    }
}
