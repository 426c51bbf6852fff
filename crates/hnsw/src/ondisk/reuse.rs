//! Inserts taking over the room of elements VACUUM freed
//! (`ElementTuple::FREE`): where to look for one, and how its tuples are
//! overwritten, on one page or on two (`ElementTuple::CLAIMED`).

use pagestore::page;
use pagestore::{Page, RelationWrite};

use super::insert::{is_graph_page, update_meta};
use super::reader::{corrupt_at, live_item, live_item_mut};
use super::tuples::{ElementTuple, Meta, Tid, KIND_ELEMENT, KIND_NEIGHBOURS};
use super::OnDiskError;

/// Pages a layer-0 insert looks through, from the metapage's `free_blk`,
/// for a freed element to take over before it appends (vacuum frees them:
/// see `super::vacuum`). It moves `free_blk` past the pages it finds none
/// on, so between two vacuums each page is looked through about once, and
/// the looking costs about one read of the index, spread over the
/// inserts. 8 was enough where an element and its neighbours share a page
/// (several elements a page, a third of them freed); where they take a
/// page each (over 831 dimensions with codes), 8 pages held about one
/// freed element at that density, and 32 missed many at one in twelve:
/// where nothing is left to find, `free_blk` is unset and no insert looks.
const REUSE_PAGES: u32 = 256;

/// Pages an insert above layer 0 looks through: it leaves `free_blk` where
/// it is (so as not to skip layer-0 room), so it would look through the
/// same pages every time.
const REUSE_PAGES_UPPER: u32 = 32;

/// The first freed element on `page` (block `blk`) of `level` whose
/// element tuple is `elen` bytes and whose neighbour tuple is `nlen`
/// bytes: its offset and its neighbour tuple's TID. A neighbour tuple on
/// another page is not read here (its length is checked when it is
/// written).
fn find_freed(page: &Page, blk: u32, level: u8, elen: usize, nlen: usize) -> Option<(u16, Tid)> {
    if !is_graph_page(page) {
        return None;
    }
    for off in 1..=page::max_offset(page) {
        let Ok(Some(bytes)) = live_item(page, off) else {
            continue;
        };
        if bytes.first() != Some(&KIND_ELEMENT) || bytes.get(ElementTuple::DELETED_AT) != Some(&ElementTuple::FREE) {
            continue;
        }
        let Ok(e) = ElementTuple::decode_header(bytes) else {
            continue;
        };
        if e.level != level || bytes.len() != elen || !e.neighbours.is_valid() {
            continue;
        }
        let found = e.neighbours.blk != blk
            || live_item(page, e.neighbours.off)
                .ok()
                .flatten()
                .is_some_and(|n| n.len() == nlen && n.first() == Some(&KIND_NEIGHBOURS));
        if found {
            return Some((off, e.neighbours));
        }
    }
    None
}

/// Writes the element and its encoded `neighbours` over a freed element
/// of its level with tuples of the same lengths, found on the pages
/// from the metapage's `free_blk` (at most [`REUSE_PAGES`] of them,
/// [`REUSE_PAGES_UPPER`] above layer 0). Where its two tuples share a
/// page, both are written under that page's one lock; where they are on
/// two pages (wide vectors, or a pair the build split), see
/// [`take_over_apart`]. A layer-0 insert moves `free_blk` past the pages
/// that have none left that fits (with variable-length vectors, a freed
/// element of another length waits for the next vacuum to lower
/// `free_blk` again). `None`: none found, append instead.
pub(super) fn take_over_freed<R: RelationWrite>(
    rel: &R,
    meta: &Meta,
    element: &ElementTuple,
    neighbours: &[u8],
) -> Result<Option<(Tid, Tid)>, OnDiskError> {
    let Some(start) = meta.free_blk.filter(|&b| b != u32::MAX) else {
        return Ok(None);
    };
    let nblocks = rel.nblocks();
    let (level, elen) = (element.level, ElementTuple::encoded_len(element.vector.len()));
    let nlen = neighbours.len();
    let first = start.max(1);
    // Pages first..none_before hold no freed element.
    let mut none_before = first;
    let mut taken = None;
    let window = if level == 0 { REUSE_PAGES } else { REUSE_PAGES_UPPER };
    for blk in first..nblocks.min(first.saturating_add(window)) {
        if find_freed(&rel.read(blk), blk, level, elen, nlen).is_some() {
            let mut guard = rel.write(blk);
            // Looked for again under the exclusive lock: another
            // insert may have taken it meanwhile.
            if let Some((e, n)) = find_freed(&guard, blk, level, elen, nlen) {
                let at = (Tid { blk, off: e }, n);
                if n.blk == blk {
                    let encoded = ElementTuple { neighbours: n, ..element.clone() }.encode();
                    page::item_mut(&mut guard, e)?.copy_from_slice(&encoded);
                    page::item_mut(&mut guard, n.off)?.copy_from_slice(neighbours);
                    taken = Some(at);
                } else {
                    page::item_mut(&mut guard, e)?[ElementTuple::DELETED_AT] = ElementTuple::CLAIMED;
                    drop(guard);
                    taken = take_over_apart(rel, element, at, neighbours)?.then_some(at);
                }
                break;
            }
        }
        if none_before == blk {
            none_before = blk + 1;
        }
    }
    // Only layer-0 inserts (15 in 16) move free_blk: one above layer 0
    // that finds no freed element of its level must not skip pages
    // that hold layer-0 ones.
    if level == 0 && (none_before > start || none_before >= nblocks) {
        let next = if none_before >= nblocks { u32::MAX } else { none_before };
        update_meta(rel, |m| {
            let moved = m.free_blk == Some(start);
            if moved {
                m.free_blk = Some(next);
            }
            moved
        })?;
    }
    Ok(taken)
}

/// Takes over the freed element `at.0`, claimed by this insert
/// ([`ElementTuple::CLAIMED`]), whose neighbour tuple `at.1` is on
/// another page: writes the new lists over that tuple, then the element
/// over the claimed one (live), each under its page's lock. The claim
/// keeps every other insert and vacuum away in between; a scan that
/// reaches the claimed element through a stale link treats it as
/// deleted and follows the lists being written, all valid TIDs. A
/// neighbour tuple of another length than the new lists (an upper
/// layer's, written by an earlier format) cannot be taken over: the
/// element stays claimed, its room lost, so that no later insert
/// claims it again, and false is returned (append instead).
fn take_over_apart<R: RelationWrite>(
    rel: &R,
    element: &ElementTuple,
    at: (Tid, Tid),
    neighbours: &[u8],
) -> Result<bool, OnDiskError> {
    let (element_at, lists_at) = at;
    {
        let mut guard = rel.write(lists_at.blk);
        match live_item_mut(&mut guard, lists_at.off).map_err(|e| corrupt_at(lists_at, e))? {
            Some(bytes) if bytes.len() == neighbours.len() && bytes.first() == Some(&KIND_NEIGHBOURS) => {
                bytes.copy_from_slice(neighbours);
            }
            _ => return Ok(false),
        }
    }
    let mut guard = rel.write(element_at.blk);
    let encoded = ElementTuple { neighbours: lists_at, ..element.clone() }.encode();
    page::item_mut(&mut guard, element_at.off)?.copy_from_slice(&encoded);
    Ok(true)
}
