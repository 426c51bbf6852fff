//! Structure checks for tests and for users after a crash.

use pagestore::RelationRead;

use crate::read::{read_centroids, read_meta, scan_page, Centroid};
use crate::tuples::NO_BLOCK;
use crate::{IvfError, Tid};

/// What [`verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of lists.
    pub lists: u32,
    /// Entries in all lists.
    pub entries: u64,
    /// List pages.
    pub pages: u64,
    /// Every entry's heap TID, sorted.
    pub heap_tids: Vec<Tid>,
}

/// Checks the metapage, the centroid chain (one centroid per list, in
/// order, of the metapage's dimensions), and every list: its pages are
/// list pages, no page is in two lists or twice in one, every entry has
/// the metapage's length, and `insert_blk` is one of the list's pages.
pub fn verify<R: RelationRead>(rel: &R) -> Result<VerifyReport, IvfError> {
    let meta = read_meta(rel)?;
    let mut lists: Vec<Centroid> = Vec::new();
    read_centroids(rel, &meta, |c, _| lists.push(c))?;
    let mut owner = vec![u32::MAX; rel.nblocks() as usize];
    let mut report = VerifyReport { lists: meta.lists, ..Default::default() };
    let mut scratch = Vec::new();
    for list in &lists {
        if (list.head_blk == NO_BLOCK) != (list.insert_blk == NO_BLOCK) {
            return Err(IvfError::Corrupted(format!("list {}: head and insert page disagree", list.list)));
        }
        let mut insert_found = list.insert_blk == NO_BLOCK;
        let mut blk = list.head_blk;
        while blk != NO_BLOCK {
            let slot = owner
                .get_mut(blk as usize)
                .ok_or_else(|| IvfError::Corrupted(format!("list {}: block {blk} past the end", list.list)))?;
            if *slot != u32::MAX {
                return Err(IvfError::Corrupted(format!("block {blk} is in list {} and list {}", *slot, list.list)));
            }
            *slot = list.list;
            insert_found |= blk == list.insert_blk;
            report.pages += 1;
            let mut count = |heap: Tid, _: &[f32]| {
                report.entries += 1;
                report.heap_tids.push(heap);
            };
            blk = scan_page(rel, blk, meta.entry_words as usize, &mut scratch, &mut count)?;
        }
        if !insert_found {
            return Err(IvfError::Corrupted(format!("list {}: insert page {} is not in the list", list.list, list.insert_blk)));
        }
    }
    report.heap_tids.sort();
    Ok(report)
}

