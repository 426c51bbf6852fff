//! The values an index scan has just returned, by their TOAST pointers, so
//! that computing `v <-> $1` for the row does not fetch `v` from TOAST.
//!
//! Why: for `SELECT id FROM t ORDER BY v <-> $1 LIMIT 10` the executor
//! evaluates `v <-> $1` again for every row the index returns (it is the
//! sort key, a column of the scan's output). A value of more than about
//! 500 dimensions is stored out of line, and fetching it back (a probe of
//! the TOAST table's btree, then its chunks) took 7 us a row at 1,536
//! dimensions: 70 us of a 10-row query that otherwise takes about 450 us.
//! The scan has the value at hand, on its own page.
//!
//! How: when an `ember_hnsw` scan (or an `ember_ivf` scan of full values)
//! returns a row, it reads the row's TOAST pointer for
//! the indexed column from the heap page ([`toast_key_at`]) and remembers
//! it with the element's value ([`remember`]). A distance function given a
//! TOAST pointer looks it up ([`with_remembered`]) before detoasting.
//!
//! Why that is the value behind the pointer: an element holds the exact
//! `f32` words of the heap tuple at its TID (the scan only remembers
//! elements that are values, not codes; `halfembedding` values widened to
//! `f32` narrow back exactly), and every tuple of that TID's HOT chain carries
//! the same pointer for the indexed column (a HOT update leaves indexed
//! columns unchanged, and an unchanged out-of-line value keeps its
//! pointer). A TOAST value is never changed in place, and its OID is not
//! given to another value while it exists; the memory is backend-local,
//! holds a few entries and is emptied when a scan ends. A miss only costs
//! the usual detoast.

use std::cell::RefCell;
use std::collections::VecDeque;

use pgrx::pg_sys;

/// Entries kept: the rows of a scan between their return and their
/// projection (one, unless a node above buffers a few).
const CAPACITY: usize = 16;

/// An on-disk TOAST pointer (`varatt_external`: raw size, size and
/// compression, value OID, TOAST table OID), which names one stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToastKey([u8; size_of::<pg_sys::varatt_external>()]);

#[derive(Default)]
struct Memo {
    /// Most recent last; evicted entries' buffers are reused.
    entries: VecDeque<(ToastKey, Vec<f32>)>,
    /// Lookups that found their value, ever (see [`hits`]).
    hits: u64,
}

thread_local! {
    // Only the backend's own thread runs scans and SQL functions.
    static MEMO: RefCell<Memo> = RefCell::default();
}

/// Remembers that the value stored out of line under `key` is `words`.
pub fn remember(key: ToastKey, words: &[f32]) {
    MEMO.with_borrow_mut(|memo| {
        let mut buffer = if memo.entries.len() == CAPACITY {
            memo.entries.pop_front().map(|(_, b)| b).unwrap_or_default()
        } else {
            Vec::new()
        };
        buffer.clear();
        buffer.extend_from_slice(words);
        memo.entries.push_back((key, buffer));
    });
}

/// `f(words)` of the value remembered under `key`, if any.
pub fn with_remembered<R>(key: ToastKey, f: impl FnOnce(&[f32]) -> R) -> Option<R> {
    let found = MEMO.with_borrow(|memo| memo.entries.iter().rev().find(|(k, _)| *k == key).map(|(_, words)| f(words)));
    if found.is_some() {
        MEMO.with_borrow_mut(|memo| memo.hits += 1);
    }
    found
}

/// How many lookups have found their value, ever: a scan compares it
/// with the rows it remembered, to stop when the rows' distances are not
/// computed (a filter drops most rows first).
pub fn hits() -> u64 {
    MEMO.with_borrow(|memo| memo.hits)
}

/// Whether a value is remembered under `key`.
pub fn remembers(key: ToastKey) -> bool {
    MEMO.with_borrow(|memo| memo.entries.iter().any(|(k, _)| *k == key))
}

/// Forgets every value (a scan ended).
pub fn forget() {
    MEMO.with_borrow_mut(|memo| memo.entries.clear());
}

/// The TOAST pointer of a datum stored out of line on disk; `None` for
/// any other datum (inline, compressed inline, in memory).
///
/// # Safety
/// `datum` is a non-null varlena datum.
pub unsafe fn key_of(datum: pg_sys::Datum) -> Option<ToastKey> {
    let p = datum.cast_mut_ptr::<pg_sys::varlena>();
    // SAFETY: a varlena datum's first byte is its header; a 1-byte
    // external header is followed by the tag, then (for VARTAG_ONDISK)
    // the unaligned varatt_external.
    unsafe {
        if !pgrx::varlena::varatt_is_1b_e(p)
            || u32::from(pgrx::varlena::vartag_external(p)) != pg_sys::vartag_external::VARTAG_ONDISK
        {
            return None;
        }
        let body = p.cast::<u8>().add(pg_sys::VARHDRSZ_EXTERNAL);
        Some(ToastKey(body.cast::<[u8; size_of::<pg_sys::varatt_external>()]>().read_unaligned()))
    }
}

/// The TOAST pointer of attribute `attnum` of the tuple at `tid` in the
/// heap table `heap` (after a HOT redirect), when that value is stored out
/// of line; `None` otherwise, and for a table of another access method.
///
/// # Safety
/// `heap` is open and locked for the scan; `attnum` is a user column.
pub unsafe fn toast_key_at(heap: pg_sys::Relation, attnum: i16, tid: pg_sys::ItemPointerData) -> Option<ToastKey> {
    // SAFETY: the heap page is pinned and share-locked while its line
    // pointers and the tuple are read; offsets are checked against the
    // page's line pointer count; heap_getattr reads within the tuple.
    unsafe {
        if (*heap).rd_tableam != pg_sys::GetHeapamTableAmRoutine() {
            return None;
        }
        // The TID came from the index: the executor reads the same page next.
        let blk = pgrx::itemptr::item_pointer_get_block_number(&tid);
        let mut off = pgrx::itemptr::item_pointer_get_offset_number(&tid);
        let buf = super::recent::read_main_fork(heap, blk);
        pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_SHARE as i32);
        let page = pg_sys::BufferGetPage(buf);
        let mut key = None;
        // A redirect points at a heap-only tuple, never at another redirect.
        for _ in 0..2 {
            if off == 0 || off > pg_sys::PageGetMaxOffsetNumber(page) {
                break;
            }
            let item = pg_sys::PageGetItemId(page, off);
            match (*item).lp_flags() {
                pg_sys::LP_REDIRECT => off = (*item).lp_off() as u16,
                pg_sys::LP_NORMAL => {
                    let mut tuple = pg_sys::HeapTupleData {
                        t_len: (*item).lp_len(),
                        t_self: tid,
                        t_tableOid: (*heap).rd_id,
                        t_data: pg_sys::PageGetItem(page, item).cast(),
                    };
                    let mut isnull = false;
                    let datum = pg_sys::heap_getattr(&mut tuple, i32::from(attnum), (*heap).rd_att, &mut isnull);
                    if !isnull {
                        key = key_of(datum);
                    }
                    break;
                }
                _ => break,
            }
        }
        pg_sys::UnlockReleaseBuffer(buf);
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_latest_values_by_pointer() {
        let key = |n: u8| ToastKey([n; size_of::<pg_sys::varatt_external>()]);
        forget();
        remember(key(1), &[1.0, 2.0]);
        assert_eq!(with_remembered(key(1), <[f32]>::to_vec), Some(vec![1.0, 2.0]));
        assert!(!remembers(key(2)));
        assert_eq!(with_remembered(key(2), <[f32]>::len), None);
        for n in 2..=CAPACITY as u8 + 1 {
            remember(key(n), &[f32::from(n)]);
        }
        assert!(!remembers(key(1)), "the oldest is forgotten first");
        assert_eq!(with_remembered(key(2), <[f32]>::to_vec), Some(vec![2.0]));
        // The same pointer again: the newest value is the one found.
        remember(key(3), &[30.0]);
        assert_eq!(with_remembered(key(3), <[f32]>::to_vec), Some(vec![30.0]));
        let before = hits();
        assert!(with_remembered(key(3), |_| ()).is_some() && with_remembered(key(1), |_| ()).is_none());
        assert_eq!(hits() - before, 1, "only found values count");
        forget();
        assert!(!remembers(key(2)));
    }
}
