//! The relation seam: read a page by block number, write one, extend.
//!
//! Implemented twice: on Postgres buffers + GenericXLog in the extension's
//! `src/storage/`, and in memory ([`MemRelation`]) for tests and benches.
//! Index algorithms are generic over these traits and never see either.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::page::{Page, BLCKSZ};

/// Read access to the pages of one relation fork.
pub trait RelationRead {
    /// A pinned page under a shared lock; the lock is released on drop.
    type ReadGuard<'a>: Deref<Target = Page>
    where
        Self: 'a;

    /// Number of blocks in the relation (`RelationGetNumberOfBlocks`).
    fn nblocks(&self) -> u32;

    /// Pins block `blk` and takes a shared lock on it.
    ///
    /// `blk` must be below [`RelationRead::nblocks`]; callers reading block
    /// numbers from disk check that first. Implementations may panic (the
    /// glue: raise an ERROR) on an out-of-range block.
    fn read(&self, blk: u32) -> Self::ReadGuard<'_>;

    /// Hints that the bytes `range` of block `blk`, and the bookkeeping of
    /// the buffer that holds it, will be read soon: an implementation may
    /// start bringing them into the CPU cache. It never reads them, pins
    /// nothing and may do nothing (the default).
    fn prefetch(&self, blk: u32, range: std::ops::Range<usize>) {
        let _ = (blk, range);
    }

    /// Hints that item `off` of block `blk` will be read soon: like
    /// [`RelationRead::prefetch`] of the item's bytes, found through its
    /// line pointer read without a pin or lock (so possibly stale or torn:
    /// it only decides what is prefetched). Best done after a `prefetch`
    /// of the line pointer. May do nothing (the default).
    fn prefetch_item(&self, blk: u32, off: u16) {
        let _ = (blk, off);
    }
}

/// Write access: every guard is one page change under an exclusive lock.
pub trait RelationWrite: RelationRead {
    /// A page under an exclusive lock. Changes are made on the guard's
    /// page image; dropping the guard commits them (the glue finishes the
    /// GenericXLog record and releases the buffer).
    type WriteGuard<'a>: DerefMut<Target = Page>
    where
        Self: 'a;

    /// Pins block `blk` (below `nblocks`) and takes an exclusive lock on it.
    fn write(&self, blk: u32) -> Self::WriteGuard<'_>;

    /// Adds a new all-zero block at the end of the relation and returns its
    /// number with an exclusive guard on it; the caller `init`s the page.
    /// The glue registers it with `GENERIC_XLOG_FULL_IMAGE`.
    fn extend(&self) -> (u32, Self::WriteGuard<'_>);
}

/// Blocks in segment 0 of a [`MemRelation`]; segment `k` holds `64 << k`.
const SEGMENT0_BLOCKS: usize = 64;
/// Enough segments to address every `u32` block number.
const SEGMENTS: usize = 27;

type Slot = OnceLock<RwLock<Box<Page>>>;

/// An in-memory relation for tests and benches: pages live in append-only
/// segments that never move, each behind its own `RwLock`, so readers and
/// writers of different pages never contend (like buffer content locks).
pub struct MemRelation {
    segments: [OnceLock<Box<[Slot]>>; SEGMENTS],
    nblocks: AtomicU32,
    extend_lock: Mutex<()>,
}

impl Default for MemRelation {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for MemRelation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemRelation")
            .field("nblocks", &self.nblocks())
            .finish()
    }
}

fn locate(blk: u32) -> (usize, usize) {
    let bucket = blk as usize / SEGMENT0_BLOCKS + 1;
    let segment = (usize::BITS - 1 - bucket.leading_zeros()) as usize;
    let start = SEGMENT0_BLOCKS * ((1usize << segment) - 1);
    (segment, blk as usize - start)
}

impl MemRelation {
    /// An empty relation (0 blocks).
    pub fn new() -> Self {
        Self {
            segments: std::array::from_fn(|_| OnceLock::new()),
            nblocks: AtomicU32::new(0),
            extend_lock: Mutex::new(()),
        }
    }

    fn slot(&self, blk: u32) -> &Slot {
        let (segment, index) = locate(blk);
        let slots = self.segments[segment].get_or_init(|| {
            (0..SEGMENT0_BLOCKS << segment)
                .map(|_| OnceLock::new())
                .collect()
        });
        &slots[index]
    }

    fn existing(&self, blk: u32) -> &RwLock<Box<Page>> {
        let n = self.nblocks();
        assert!(blk < n, "block {blk} out of range: relation has {n} blocks");
        self.slot(blk)
            .get()
            .expect("block below nblocks is allocated")
    }

    /// A copy of every page, for tests and size reports.
    pub fn snapshot(&self) -> Vec<Box<Page>> {
        (0..self.nblocks())
            .map(|blk| Box::new(*self.read(blk)))
            .collect()
    }

    /// Size of the relation in bytes.
    pub fn size_bytes(&self) -> usize {
        self.nblocks() as usize * BLCKSZ
    }
}

/// Shared guard on a [`MemRelation`] page.
pub struct MemReadGuard<'a>(RwLockReadGuard<'a, Box<Page>>);

impl Deref for MemReadGuard<'_> {
    type Target = Page;
    fn deref(&self) -> &Page {
        &self.0
    }
}

/// Exclusive guard on a [`MemRelation`] page; changes are visible to other
/// readers once it is dropped.
pub struct MemWriteGuard<'a>(RwLockWriteGuard<'a, Box<Page>>);

impl Deref for MemWriteGuard<'_> {
    type Target = Page;
    fn deref(&self) -> &Page {
        &self.0
    }
}

impl DerefMut for MemWriteGuard<'_> {
    fn deref_mut(&mut self) -> &mut Page {
        &mut self.0
    }
}

impl RelationRead for MemRelation {
    type ReadGuard<'a> = MemReadGuard<'a>;

    fn nblocks(&self) -> u32 {
        self.nblocks.load(Ordering::Acquire)
    }

    fn read(&self, blk: u32) -> MemReadGuard<'_> {
        MemReadGuard(
            self.existing(blk)
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }
}

impl RelationWrite for MemRelation {
    type WriteGuard<'a> = MemWriteGuard<'a>;

    fn write(&self, blk: u32) -> MemWriteGuard<'_> {
        MemWriteGuard(
            self.existing(blk)
                .write()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    fn extend(&self) -> (u32, MemWriteGuard<'_>) {
        let _extending = self
            .extend_lock
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let blk = self.nblocks();
        assert!(blk < u32::MAX, "relation is full");
        let lock = self
            .slot(blk)
            .get_or_init(|| RwLock::new(Box::new([0u8; BLCKSZ])));
        let guard = lock.write().unwrap_or_else(PoisonError::into_inner);
        self.nblocks.store(blk + 1, Ordering::Release);
        (blk, MemWriteGuard(guard))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_covers_blocks_contiguously() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(63), (0, 63));
        assert_eq!(locate(64), (1, 0));
        assert_eq!(locate(191), (1, 127));
        assert_eq!(locate(192), (2, 0));
        let (segment, index) = locate(u32::MAX);
        assert!(segment < SEGMENTS && index < SEGMENT0_BLOCKS << segment);
    }
}
