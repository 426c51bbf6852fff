//! VACUUM: dead entries are removed from their pages, each page compacted
//! in place (entries are addressed by nobody, so they can move), and each
//! list's `insert_blk` pointed at its first page with room, so appends
//! reuse the space.

use pagestore::page;
use pagestore::RelationWrite;

use crate::append::set_insert_blk;
use crate::create::init_page;
use crate::read::{check_block, corrupt, read_centroids, read_meta, special_of, Centroid};
use crate::tuples::{EntryTuple, Special, NO_BLOCK};
use crate::{IvfError, Tid};

/// What a vacuum did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VacuumStats {
    /// Entries removed.
    pub deleted: u64,
    /// Entries left.
    pub live: u64,
    /// List pages visited.
    pub pages: u64,
}

/// Removes every entry whose heap TID `is_dead` says is dead.
pub fn bulk_delete<R: RelationWrite>(rel: &R, mut is_dead: impl FnMut(Tid) -> bool) -> Result<VacuumStats, IvfError> {
    let meta = read_meta(rel)?;
    let mut lists: Vec<Centroid> = Vec::with_capacity(meta.lists as usize);
    read_centroids(rel, &meta, |c, _| lists.push(c))?;
    let mut stats = VacuumStats::default();
    let entry_len = EntryTuple::encoded_len(meta.entry_words as usize);
    for list in lists {
        let mut room: Option<u32> = None;
        let mut blk = list.head_blk;
        while blk != NO_BLOCK {
            check_block(rel, blk)?;
            let mut guard = rel.write(blk);
            let special = special_of(&guard, blk, Special::LIST)?;
            let mut kept: Vec<Vec<u8>> = Vec::new();
            let mut removed = 0;
            for off in 1..=page::max_offset(&guard) {
                let bytes = page::item(&guard, off).map_err(|e| corrupt(blk, e))?;
                let (heap, _) = EntryTuple::decode_view(bytes).map_err(|e| corrupt(blk, e))?;
                if is_dead(heap) {
                    removed += 1;
                } else {
                    kept.push(bytes.to_vec());
                }
            }
            if removed > 0 {
                init_page(&mut guard, Special::LIST, special.next_blk);
                for bytes in &kept {
                    page::add_item(&mut guard, bytes).expect("the kept entries fitted before");
                }
            }
            stats.deleted += removed;
            stats.live += kept.len() as u64;
            stats.pages += 1;
            if room.is_none() && page::fits(&guard, entry_len) {
                room = Some(blk);
            }
            blk = special.next_blk;
            if stats.pages > u64::from(rel.nblocks()) {
                return Err(corrupt(list.head_blk, "list pages form a cycle"));
            }
        }
        if let Some(room) = room.filter(|&r| r != list.insert_blk) {
            set_insert_blk(rel, list.tid, room)?;
        }
    }
    Ok(stats)
}
