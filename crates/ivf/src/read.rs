//! Reading the index: the metapage, the centroids, a list's entries.

use pagestore::page;
use pagestore::{Page, RelationRead};

use crate::tuples::{CentroidTuple, EntryTuple, Meta, Special, NO_BLOCK};
use crate::{IvfError, Tid};

/// Reads and checks the metapage (MAGIC, VERSION).
pub fn read_meta<R: RelationRead>(rel: &R) -> Result<Meta, IvfError> {
    if rel.nblocks() == 0 {
        return Err(IvfError::BadInput("index has no metapage"));
    }
    let guard = rel.read(0);
    page::check_header(&guard)?;
    Ok(Meta::decode(page::item(&guard, 1)?)?)
}

/// A list as its centroid tuple describes it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Centroid {
    /// Where the centroid tuple is (appends and vacuum update it).
    pub tid: Tid,
    /// The list's number.
    pub list: u32,
    /// The list's first page (`u32::MAX`: empty).
    pub head_blk: u32,
    /// Where appends start (`u32::MAX`: empty).
    pub insert_blk: u32,
    /// The list's radius (see [`CentroidTuple::radius`]).
    pub radius: f32,
}

pub(crate) fn corrupt(blk: u32, what: impl std::fmt::Display) -> IvfError {
    IvfError::Corrupted(format!("block {blk}: {what}"))
}

/// The page's special space, checked to be of `kind`.
pub(crate) fn special_of(page: &Page, blk: u32, kind: u16) -> Result<Special, IvfError> {
    page::check_header(page).map_err(|e| corrupt(blk, e))?;
    let special = Special::decode(page::special(page)).map_err(|e| corrupt(blk, e))?;
    if special.kind != kind {
        return Err(corrupt(blk, format!("page kind {} where {kind} was expected", special.kind)));
    }
    Ok(special)
}

/// Fails unless `blk` is a block of the relation.
pub(crate) fn check_block<R: RelationRead>(rel: &R, blk: u32) -> Result<(), IvfError> {
    check_block_cached(rel, blk, &mut 0)
}

/// [`check_block`] with the relation's size remembered in `known` (asking
/// the storage manager is a system call): it is asked again only when
/// `blk` is past the remembered size, as after a concurrent extension.
pub(crate) fn check_block_cached<R: RelationRead>(rel: &R, blk: u32, known: &mut u32) -> Result<(), IvfError> {
    if blk >= *known {
        *known = rel.nblocks();
        if blk >= *known {
            return Err(IvfError::Corrupted(format!("block {blk} past the end")));
        }
    }
    Ok(())
}

/// Calls `f` with every list's [`Centroid`] and centroid vector, in list
/// order, one centroid page under a share lock at a time.
pub fn read_centroids<R: RelationRead>(
    rel: &R,
    meta: &Meta,
    mut f: impl FnMut(Centroid, &[f32]),
) -> Result<(), IvfError> {
    let mut blk = meta.centroid_blk;
    let mut scratch = Vec::new();
    let mut seen = 0u32;
    let mut pages = 0u32;
    while blk != NO_BLOCK {
        check_block(rel, blk)?;
        pages += 1;
        if pages > rel.nblocks() {
            return Err(corrupt(meta.centroid_blk, "centroid pages form a cycle"));
        }
        let guard = rel.read(blk);
        let special = special_of(&guard, blk, Special::CENTROIDS)?;
        for (off, bytes) in page::items_prefetched(&guard) {
            let bytes = bytes.map_err(|e| corrupt(blk, e))?;
            let (fields, raw) = CentroidTuple::decode_view(bytes).map_err(|e| corrupt(blk, e))?;
            let CentroidTuple { list, head_blk, insert_blk, radius, .. } = fields;
            if list != seen || raw.len() != 4 * meta.dims as usize || radius.is_nan() || radius < 0.0 {
                return Err(corrupt(blk, format!("centroid tuple {off} does not follow list {}", seen.wrapping_sub(1))));
            }
            seen += 1;
            let centroid = Centroid { tid: Tid { blk, off }, list, head_blk, insert_blk, radius };
            hnsw::ondisk::with_f32s(raw, &mut scratch, |v| f(centroid, v));
        }
        blk = special.next_blk;
    }
    if seen != meta.lists {
        return Err(IvfError::Corrupted(format!("{seen} centroids for {} lists", meta.lists)));
    }
    Ok(())
}

/// Calls `f(heap TID, stored words)` for every entry of the list starting
/// at `head_blk`, one page under a share lock at a time; returns the pages
/// read. `entry_words` (unless 0) is checked against every entry.
pub fn scan_list<R: RelationRead>(
    rel: &R,
    head_blk: u32,
    entry_words: usize,
    mut f: impl FnMut(Tid, &[f32]),
) -> Result<usize, IvfError> {
    scan_list_placed(rel, head_blk, entry_words, |_, heap, stored| f(heap, stored))
}

/// [`scan_list`] with each entry's place: `f(entry's TID in the index,
/// heap TID, stored words)`, for a scan that reads some entries again
/// ([`read_entry`]).
pub fn scan_list_placed<R: RelationRead>(
    rel: &R,
    head_blk: u32,
    entry_words: usize,
    mut f: impl FnMut(Tid, Tid, &[f32]),
) -> Result<usize, IvfError> {
    let mut blk = head_blk;
    let mut scratch = Vec::new();
    let mut pages = 0;
    let mut known = 0;
    while blk != NO_BLOCK {
        check_block_cached(rel, blk, &mut known)?;
        blk = read_page(rel, blk, entry_words, &mut scratch, &mut f)?;
        pages += 1;
        if pages > known as usize && pages > rel.nblocks() as usize {
            return Err(corrupt(head_blk, "list pages form a cycle"));
        }
    }
    Ok(pages)
}

/// [`scan_list`] for the one list page `blk`; returns the next page.
pub(crate) fn scan_page<R: RelationRead>(
    rel: &R,
    blk: u32,
    entry_words: usize,
    scratch: &mut Vec<f32>,
    f: &mut impl FnMut(Tid, &[f32]),
) -> Result<u32, IvfError> {
    check_block(rel, blk)?;
    read_page(rel, blk, entry_words, scratch, &mut |_, heap, stored| f(heap, stored))
}

/// `f(heap TID, stored words)` of the entry at `at` (as
/// [`scan_list_placed`] gave it), or `None` when no entry is there any
/// more. A VACUUM may have moved another entry there since: callers
/// check the heap TID.
pub fn read_entry<R: RelationRead, T>(rel: &R, at: Tid, f: impl FnOnce(Tid, &[f32]) -> T) -> Result<Option<T>, IvfError> {
    check_block(rel, at.blk)?;
    let guard = rel.read(at.blk);
    special_of(&guard, at.blk, Special::LIST)?;
    if at.off == 0 || at.off > page::max_offset(&guard) {
        return Ok(None);
    }
    let bytes = match page::item(&guard, at.off) {
        Ok(bytes) => bytes,
        Err(page::PageError::NotNormal { .. }) => return Ok(None),
        Err(e) => return Err(corrupt(at.blk, e)),
    };
    let (heap, raw) = EntryTuple::decode_view(bytes).map_err(|e| corrupt(at.blk, e))?;
    let mut scratch = Vec::new();
    Ok(Some(hnsw::ondisk::with_f32s(raw, &mut scratch, |v| f(heap, v))))
}

/// [`scan_page`] of a block known to exist.
fn read_page<R: RelationRead>(
    rel: &R,
    blk: u32,
    entry_words: usize,
    scratch: &mut Vec<f32>,
    f: &mut impl FnMut(Tid, Tid, &[f32]),
) -> Result<u32, IvfError> {
    let guard = rel.read(blk);
    let special = special_of(&guard, blk, Special::LIST)?;
    for (off, bytes) in page::items_prefetched(&guard) {
        let bytes = bytes.map_err(|e| corrupt(blk, e))?;
        let (heap, raw) = EntryTuple::decode_view(bytes).map_err(|e| corrupt(blk, e))?;
        if entry_words != 0 && raw.len() != 4 * entry_words {
            return Err(corrupt(blk, "entry length differs from the metapage"));
        }
        hnsw::ondisk::with_f32s(raw, scratch, |v| f(Tid { blk, off }, heap, v));
    }
    Ok(special.next_blk)
}
