//! Pinning a hot index page without the shared buffer mapping lookup.
//!
//! `ReadBuffer` finds a page's buffer through the shared mapping hash
//! table, whose buckets and entries for `shared_buffers` of gigabytes are
//! rarely in cache: `perf` of an ember_ivf scan (Fashion-MNIST, 2 lists,
//! about 250 list pages) put 13% of the query in that lookup, about 0.5 us
//! a page; an ember_hnsw scan reads one page per distance and spent 17%
//! there. This backend remembers the buffer each index page was last found
//! in, and `ReadRecentBuffer` (Postgres 14+) pins it there after checking,
//! under the buffer header lock, that the buffer still holds that page;
//! when it does not (evicted, relation rewritten, dropped), the read goes
//! through `ReadBuffer` as before. A stale entry can cost a lookup, never a
//! wrong page.
//!
//! The same memory lets a scan hint, a few elements ahead, the buffer
//! header and page bytes it is about to read ([`prefetch`], without a
//! pin), so that the cache misses of several pages overlap.
//!
//! Two things `ReadBuffer` does that `ReadRecentBuffer` does not, done here:
//! - it counts the read in the relation's statistics (`pg_statio_*`);
//! - it raises the buffer's usage count, which keeps a hot page from being
//!   evicted; so every [`USAGE_EVERY`]th read of a remembered page still
//!   goes through `ReadBuffer`.

use std::cell::RefCell;

use pagestore::page;
use pgrx::pg_sys;

/// Relations remembered at once (least recently used forgotten first).
const RELATIONS: usize = 4;
/// Blocks remembered per relation (an 8 GB index; 4 MB of buffer ids).
const MAX_BLOCKS: u32 = 1 << 20;
/// One read in this many of a remembered page goes through `ReadBuffer`
/// (its mapping lookup costs about 0.5 us: at 1 in 16, 5% of an HNSW
/// scan's time; a hot page is read far more often than 64 times between
/// two passes of the clock sweep).
const USAGE_EVERY: u32 = 64;

/// A relation's physical identity: tablespace, database, file node.
type Node = (pg_sys::Oid, pg_sys::Oid, pg_sys::Oid);

fn node_of(rnode: pg_sys::RelFileNode) -> Node {
    (rnode.spcNode, rnode.dbNode, rnode.relNode)
}

/// The buffer ids last seen for one relation's main-fork blocks (0: none).
struct RelationBuffers {
    node: Node,
    buffers: Vec<pg_sys::Buffer>,
}

#[derive(Default)]
struct Recent {
    /// Most recently used first.
    relations: Vec<RelationBuffers>,
    reads: u32,
}

impl Recent {
    /// The remembered relation `node`, moved to the front (added if new).
    fn relation(&mut self, node: Node) -> &mut RelationBuffers {
        match self.relations.iter().position(|r| r.node == node) {
            Some(0) => {}
            Some(i) => {
                let r = self.relations.remove(i);
                self.relations.insert(0, r);
            }
            None => {
                self.relations.truncate(RELATIONS - 1);
                self.relations.insert(0, RelationBuffers { node, buffers: Vec::new() });
            }
        }
        &mut self.relations[0]
    }
}

thread_local! {
    // A backend runs Postgres code on one thread; build threads never read pages.
    static RECENT: RefCell<Recent> = RefCell::default();
}

/// `ReadBufferExtended(rel, MAIN_FORKNUM, blk, RBM_NORMAL, NULL)`, through
/// the buffer this backend last found `blk` in when it still holds it.
///
/// # Safety
/// `rel` is open and `blk` exists (as for `ReadBufferExtended`).
pub unsafe fn read_main_fork(rel: pg_sys::Relation, blk: u32) -> pg_sys::Buffer {
    // SAFETY: forwarded contract; rd_node and pgstat_info belong to the open
    // relation; a remembered buffer id came from ReadBufferExtended, so it
    // is a valid shared buffer number, which is all ReadRecentBuffer needs
    // (it checks the tag itself).
    unsafe {
        let fork = pg_sys::ForkNumber::MAIN_FORKNUM;
        let rnode = (*rel).rd_node;
        let node = node_of(rnode);
        let tracked = blk < MAX_BLOCKS;
        let recent = if tracked {
            RECENT.with_borrow_mut(|r| {
                r.reads = r.reads.wrapping_add(1);
                let due = r.reads % USAGE_EVERY == 0;
                let remembered = r.relation(node).buffers.get(blk as usize).copied().unwrap_or(0);
                if due { 0 } else { remembered }
            })
        } else {
            0
        };
        if recent > 0 && pg_sys::ReadRecentBuffer(rnode, fork, blk, recent) {
            count_hit(rel);
            return recent;
        }
        let buf = pg_sys::ReadBufferExtended(rel, fork, blk, pg_sys::ReadBufferMode::RBM_NORMAL, std::ptr::null_mut());
        // Local (temporary relation) buffers are negative: not remembered.
        if tracked && buf > 0 {
            RECENT.with_borrow_mut(|r| {
                let buffers = &mut r.relation(node).buffers;
                if buffers.len() <= blk as usize {
                    buffers.resize(blk as usize + 1, 0);
                }
                buffers[blk as usize] = buf;
            });
        }
        buf
    }
}

/// Hints the CPU to fetch the buffer header of the buffer this backend
/// last found `blk` in, and the bytes `range` of its page: without a pin
/// they may belong to another page by now, which costs a wasted prefetch
/// and nothing else (a prefetch never faults and reads nothing). A page
/// not remembered gets no hint.
///
/// # Safety
/// `rel` is open.
pub unsafe fn prefetch(rel: pg_sys::Relation, blk: u32, range: std::ops::Range<usize>) {
    // SAFETY: forwarded contract.
    let Some((index, block)) = (unsafe { remembered_block(rel, blk) }) else {
        return;
    };
    // SAFETY: a remembered buffer id is in 1..=NBuffers, so its header
    // lies inside the descriptor array; it is only prefetched.
    page::prefetch_address(unsafe { pg_sys::BufferDescriptors.wrapping_add(index).cast() });
    prefetch_range(block, range);
}

/// Hints the CPU to fetch item `off` of the page in the buffer this
/// backend last found `blk` in, as [`prefetch`] of the item's bytes. The
/// line pointer is read without a pin or lock, by an atomic load: the
/// buffer may hold another page by now or be written meanwhile, and then
/// a wrong range is prefetched, which costs nothing but the prefetch (the
/// range is kept inside the page). Pinning the page only to read it cost
/// a pin, a lock and their releases per element an HNSW scan reads.
///
/// # Safety
/// `rel` is open.
pub unsafe fn prefetch_item(rel: pg_sys::Relation, blk: u32, off: u16) {
    // SAFETY: forwarded contract.
    let Some((_, block)) = (unsafe { remembered_block(rel, blk) }) else {
        return;
    };
    let at = page::line_pointer_offset(off);
    if off == 0 || at + page::SIZE_OF_ITEM_ID > pg_sys::BLCKSZ as usize {
        return;
    }
    // SAFETY: `at` is 4-aligned (24 + 4k) inside the block, which is
    // mapped shared memory; an atomic load of it never tears and is never
    // a data race, whatever other backends do to the page.
    let raw = unsafe { std::sync::atomic::AtomicU32::from_ptr(block.wrapping_add(at).cast_mut().cast()) }
        .load(std::sync::atomic::Ordering::Relaxed);
    let item = page::ItemId::from_raw(raw);
    if item.flags == page::LP_NORMAL {
        let start = usize::from(item.off);
        prefetch_range(block, start..start + usize::from(item.len));
    }
}

/// The buffer index (0-based) and block address of the buffer this
/// backend last found `blk` in, if it remembers one.
///
/// # Safety
/// `rel` is open.
unsafe fn remembered_block(rel: pg_sys::Relation, blk: u32) -> Option<(usize, *const u8)> {
    // SAFETY: rd_node belongs to the open relation. A remembered buffer id
    // is in 1..=NBuffers, so the block address computed from it lies
    // inside the shared buffer array.
    unsafe {
        let node = node_of((*rel).rd_node);
        let buf = RECENT.with_borrow(|r| {
            r.relations.iter().find(|b| b.node == node).and_then(|b| b.buffers.get(blk as usize).copied())
        });
        let Some(buf @ 1..) = buf else {
            return None;
        };
        let index = (buf - 1) as usize;
        Some((index, pg_sys::BufferBlocks.wrapping_add(index * pg_sys::BLCKSZ as usize).cast_const().cast()))
    }
}

/// Prefetches the cache lines of bytes `range` of the block at `block`
/// (clamped to the block).
fn prefetch_range(block: *const u8, range: std::ops::Range<usize>) {
    let end = range.end.min(pg_sys::BLCKSZ as usize);
    let mut at = range.start & !63;
    while at < end {
        page::prefetch_address(block.wrapping_add(at));
        at += 64;
    }
}

/// What `ReadBufferExtended` counts for a buffer hit
/// (`pgstat_count_buffer_read` and `pgstat_count_buffer_hit`), when the
/// relation is being counted.
///
/// # Safety
/// `rel` is open.
unsafe fn count_hit(rel: pg_sys::Relation) {
    // SAFETY: pgstat_info is null or the relation's live statistics entry.
    unsafe {
        if let Some(stats) = (*rel).pgstat_info.as_mut() {
            stats.t_counts.t_blocks_fetched += 1;
            stats.t_counts.t_blocks_hit += 1;
        }
    }
}
