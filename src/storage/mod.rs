//! The only place with ReadBuffer / LockBuffer / GenericXLog: the
//! `pagestore` relation traits on Postgres shared buffers.
//!
//! - [`PgRelation::read`] pins a buffer and share-locks it; the guard
//!   unlocks and unpins on drop. Main-fork pages are pinned through the
//!   buffer this backend last found them in when it still holds them
//!   ([`recent`]).
//! - [`PgRelation::write`] / [`PgRelation::extend`] take the buffer
//!   exclusively and, for a WAL-logged relation, start a GenericXLog record
//!   on it. Dropping the guard finishes the record (one record per page
//!   change); dropping it while unwinding from an ERROR or panic aborts the
//!   record instead, so a half-made change is never logged or applied.
//! - [`Logging::BuildUnlogged`] writes straight to the buffers (marking
//!   them dirty) for an index build, which then logs every page at once
//!   with [`PgRelation::log_all_pages`].

mod recent;
pub mod toast_memo;

use std::ops::{Deref, DerefMut};

use pagestore::{Page, RelationRead, RelationWrite};
use pgrx::pg_sys;

/// How page changes reach the WAL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Logging {
    /// One GenericXLog record per write guard (GenericXLog itself skips
    /// logging for unlogged and temporary relations).
    Generic,
    /// No WAL while building; call [`PgRelation::log_all_pages`] at the end.
    BuildUnlogged,
}

/// One fork of an open index relation.
#[derive(Debug, Clone, Copy)]
pub struct PgRelation {
    rel: pg_sys::Relation,
    fork: pg_sys::ForkNumber::Type,
    logging: Logging,
}

impl PgRelation {
    /// Wraps an open, locked index relation.
    ///
    /// # Safety
    /// `rel` stays open (and suitably locked) while this value is used.
    pub unsafe fn new(rel: pg_sys::Relation, fork: pg_sys::ForkNumber::Type, logging: Logging) -> Self {
        Self { rel, fork, logging }
    }

    /// The main fork, WAL-logged per change.
    ///
    /// # Safety
    /// As [`PgRelation::new`].
    pub unsafe fn main(rel: pg_sys::Relation) -> Self {
        // SAFETY: forwarded contract.
        unsafe { Self::new(rel, pg_sys::ForkNumber::MAIN_FORKNUM, Logging::Generic) }
    }

    /// The underlying relation.
    pub fn relation(&self) -> pg_sys::Relation {
        self.rel
    }

    /// WAL-logs every page of the fork as a full image, after a build with
    /// [`Logging::BuildUnlogged`] (skipped when the relation needs no WAL).
    pub fn log_all_pages(&self) {
        // SAFETY: rel is open; RelationNeedsWAL reads rd_rel and rd_createSubid
        // style fields only; log_newpage_range locks each buffer itself.
        unsafe {
            if relation_needs_wal(self.rel) {
                let n = self.nblocks();
                pg_sys::log_newpage_range(self.rel, self.fork, 0, n, true);
            }
        }
    }

    fn read_buffer(&self, blk: u32) -> pg_sys::Buffer {
        // SAFETY: rel is open; the block exists (callers check against nblocks)
        // or is P_NEW under the extension lock; ReadBufferExtended ERRORs otherwise.
        unsafe {
            if self.fork == pg_sys::ForkNumber::MAIN_FORKNUM && blk != pg_sys::InvalidBlockNumber {
                return recent::read_main_fork(self.rel, blk);
            }
            pg_sys::ReadBufferExtended(self.rel, self.fork, blk, pg_sys::ReadBufferMode::RBM_NORMAL, std::ptr::null_mut())
        }
    }

    fn write_guard(&self, buf: pg_sys::Buffer, full_image: bool) -> PgWriteGuard<'_> {
        // SAFETY: buf is pinned and exclusively locked by us. GenericXLogRegisterBuffer
        // returns a page-sized image that stays valid until Finish/Abort.
        unsafe {
            let (state, page) = match self.logging {
                Logging::Generic => {
                    let state = pg_sys::GenericXLogStart(self.rel);
                    let flags = if full_image { pg_sys::GENERIC_XLOG_FULL_IMAGE as i32 } else { 0 };
                    let page = pg_sys::GenericXLogRegisterBuffer(state, buf, flags);
                    (state, page)
                }
                Logging::BuildUnlogged => (std::ptr::null_mut(), pg_sys::BufferGetPage(buf)),
            };
            PgWriteGuard { buf, state, page: &mut *page.cast::<Page>() }
        }
    }
}

/// `RelationNeedsWAL`: permanent relations, unless created in this
/// transaction with wal_level = minimal (which pg's own index builds skip).
///
/// # Safety
/// `rel` is open.
unsafe fn relation_needs_wal(rel: pg_sys::Relation) -> bool {
    // SAFETY: rd_rel is valid for an open relation.
    unsafe {
        (*(*rel).rd_rel).relpersistence == pg_sys::RELPERSISTENCE_PERMANENT as std::ffi::c_char
            && (pg_sys::wal_level >= pg_sys::WalLevel::WAL_LEVEL_REPLICA as i32
                || ((*rel).rd_createSubid == 0 && (*rel).rd_firstRelfilenodeSubid == 0))
    }
}

/// A pinned, share-locked page.
pub struct PgReadGuard<'a> {
    buf: pg_sys::Buffer,
    page: &'a Page,
}

impl Deref for PgReadGuard<'_> {
    type Target = Page;
    fn deref(&self) -> &Page {
        self.page
    }
}

impl Drop for PgReadGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: we hold the pin and the share lock taken in `read`.
        unsafe { pg_sys::UnlockReleaseBuffer(self.buf) }
    }
}

/// A pinned, exclusively locked page image; see the module docs for what
/// drop does.
pub struct PgWriteGuard<'a> {
    buf: pg_sys::Buffer,
    state: *mut pg_sys::GenericXLogState,
    page: &'a mut Page,
}

impl Deref for PgWriteGuard<'_> {
    type Target = Page;
    fn deref(&self) -> &Page {
        self.page
    }
}

impl DerefMut for PgWriteGuard<'_> {
    fn deref_mut(&mut self) -> &mut Page {
        self.page
    }
}

impl Drop for PgWriteGuard<'_> {
    fn drop(&mut self) {
        let unwinding = std::thread::panicking();
        // SAFETY: we hold the pin and exclusive lock; state (if any) is the
        // record started on this buffer and not yet finished.
        unsafe {
            if self.state.is_null() {
                if !unwinding {
                    pg_sys::MarkBufferDirty(self.buf);
                }
            } else if unwinding {
                pg_sys::GenericXLogAbort(self.state);
            } else {
                pg_sys::GenericXLogFinish(self.state);
            }
            pg_sys::UnlockReleaseBuffer(self.buf);
        }
    }
}

impl RelationRead for PgRelation {
    type ReadGuard<'a> = PgReadGuard<'a>;

    fn nblocks(&self) -> u32 {
        // SAFETY: rel is open.
        unsafe { pg_sys::RelationGetNumberOfBlocksInFork(self.rel, self.fork) }
    }

    fn prefetch(&self, blk: u32, range: std::ops::Range<usize>) {
        if self.fork == pg_sys::ForkNumber::MAIN_FORKNUM {
            // SAFETY: rel is open.
            unsafe { recent::prefetch(self.rel, blk, range) };
        }
    }

    fn prefetch_item(&self, blk: u32, off: u16) {
        if self.fork == pg_sys::ForkNumber::MAIN_FORKNUM {
            // SAFETY: rel is open.
            unsafe { recent::prefetch_item(self.rel, blk, off) };
        }
    }

    fn read(&self, blk: u32) -> PgReadGuard<'_> {
        let buf = self.read_buffer(blk);
        // SAFETY: buf is pinned; the page stays in place while pinned and locked.
        unsafe {
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_SHARE as i32);
            PgReadGuard { buf, page: &*pg_sys::BufferGetPage(buf).cast::<Page>() }
        }
    }
}

impl RelationWrite for PgRelation {
    type WriteGuard<'a> = PgWriteGuard<'a>;

    fn write(&self, blk: u32) -> PgWriteGuard<'_> {
        let buf = self.read_buffer(blk);
        // SAFETY: buf is pinned by us.
        unsafe { pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32) };
        self.write_guard(buf, false)
    }

    fn extend(&self) -> (u32, PgWriteGuard<'_>) {
        // Two backends extending at once must not get the same block: the
        // relation extension lock serialises P_NEW (as in every index AM).
        // SAFETY: rel is open; the lock is released right after the buffer
        // is ours (exclusively locked), as in nbtree's _bt_getbuf.
        let buf = unsafe {
            pg_sys::LockRelationForExtension(self.rel, pg_sys::ExclusiveLock as i32);
            let buf = self.read_buffer(pg_sys::InvalidBlockNumber);
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_EXCLUSIVE as i32);
            pg_sys::UnlockRelationForExtension(self.rel, pg_sys::ExclusiveLock as i32);
            buf
        };
        // SAFETY: buf is pinned and locked.
        let blk = unsafe { pg_sys::BufferGetBlockNumber(buf) };
        let mut guard = self.write_guard(buf, true);
        // A new buffer's contents are zero, but GenericXLog's image is a copy:
        // start from zeros so the caller's `init` sees a fresh page.
        guard.fill(0);
        (blk, guard)
    }
}
