//! Appending entries to a list: into the list's pages with room, from
//! its centroid's `insert_blk` on, extending the chain at its tail.
//!
//! A new page is written (and, in the glue, WAL-logged) before the page
//! or centroid that links to it, so a crash never leaves a link to a page
//! that was not initialized. Two appenders to a full tail serialize on
//! the tail's exclusive lock; the second finds the new link and follows it.

use pagestore::page;
use pagestore::{Page, RelationWrite};

use crate::create::init_page;
use crate::read::{check_block, corrupt, special_of};
use crate::tuples::{CentroidTuple, EntryTuple, Special, NO_BLOCK};
use crate::{IvfError, Tid};

/// Reads the fields of a centroid tuple from a locked centroid page.
fn centroid_fields(page: &Page, at: Tid) -> Result<CentroidTuple, IvfError> {
    let bytes = page::item(page, at.off).map_err(|e| corrupt(at.blk, e))?;
    Ok(CentroidTuple::decode_view(bytes).map_err(|e| corrupt(at.blk, e))?.0)
}

/// Reads `(head_blk, insert_blk)` from a locked centroid page.
fn centroid_blocks(page: &Page, at: Tid) -> Result<(u32, u32), IvfError> {
    let fields = centroid_fields(page, at)?;
    Ok((fields.head_blk, fields.insert_blk))
}

fn set_u32(page: &mut Page, at: Tid, offset: usize, value: u32) -> Result<(), IvfError> {
    let bytes = page::item_mut(page, at.off).map_err(|e| corrupt(at.blk, e))?;
    bytes[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
    Ok(())
}

/// Adds entries from `next` to `page` while they fit.
fn fill(page: &mut Page, entries: &[Vec<u8>], next: &mut usize) {
    while *next < entries.len() && page::add_item(page, &entries[*next]).is_some() {
        *next += 1;
    }
}

/// A new list page holding as many entries from `next` as fit; returns
/// its block (written and released).
fn new_page<R: RelationWrite>(rel: &R, entries: &[Vec<u8>], next: &mut usize) -> u32 {
    let (blk, mut guard) = rel.extend();
    init_page(&mut guard, Special::LIST, NO_BLOCK);
    fill(&mut guard, entries, next);
    blk
}

/// Appends `(heap TID, words)` entries to the list whose centroid tuple is
/// at `centroid`; `radius` is the largest distance of their values from
/// the centroid. The list's radius grows to it first, so a scan that sees
/// an entry always sees a radius covering it.
pub fn append<R: RelationWrite>(rel: &R, centroid: Tid, entries: &[(Tid, &[f32])], radius: f32) -> Result<(), IvfError> {
    let encoded: Vec<Vec<u8>> = entries.iter().map(|(tid, words)| EntryTuple::encode(*tid, words)).collect();
    let mut empty = [0u8; pagestore::BLCKSZ];
    init_page(&mut empty, Special::LIST, NO_BLOCK);
    if let Some(big) = encoded.iter().find(|e| !page::fits(&empty, e.len())) {
        return Err(IvfError::TupleTooLarge(big.len()));
    }
    let mut next = 0;
    if encoded.is_empty() {
        return Ok(());
    }
    check_block(rel, centroid.blk)?;
    let (head, start, known_radius) = {
        let guard = rel.read(centroid.blk);
        special_of(&guard, centroid.blk, Special::CENTROIDS)?;
        let fields = centroid_fields(&guard, centroid)?;
        (fields.head_blk, fields.insert_blk, fields.radius)
    };
    if radius > known_radius || radius.is_nan() {
        grow_radius(rel, centroid, radius)?;
    }
    let start = if head == NO_BLOCK { start_list(rel, centroid, &encoded, &mut next)? } else { start };
    let mut blk = start;
    while next < encoded.len() {
        check_block(rel, blk)?;
        let mut guard = rel.write(blk);
        let special = special_of(&guard, blk, Special::LIST)?;
        fill(&mut guard, &encoded, &mut next);
        if next == encoded.len() {
            break;
        }
        if special.next_blk != NO_BLOCK {
            blk = special.next_blk;
            continue;
        }
        let added = new_page(rel, &encoded, &mut next);
        Special { kind: Special::LIST, next_blk: added }.encode(page::special_mut(&mut guard));
        drop(guard);
        blk = added;
    }
    if blk != start {
        // Later appends start at the page this one ended on, unless a
        // vacuum pointed the list at freed room meanwhile.
        let mut guard = rel.write(centroid.blk);
        if centroid_blocks(&guard, centroid)?.1 == start {
            set_u32(&mut guard, centroid, CentroidTuple::INSERT_AT, blk)?;
        }
    }
    Ok(())
}

/// Starts an empty list under its centroid page's exclusive lock (or finds
/// it started by a concurrent append); returns where appends continue.
fn start_list<R: RelationWrite>(rel: &R, centroid: Tid, entries: &[Vec<u8>], next: &mut usize) -> Result<u32, IvfError> {
    let mut guard = rel.write(centroid.blk);
    let (head, insert) = centroid_blocks(&guard, centroid)?;
    if head != NO_BLOCK {
        return Ok(insert);
    }
    let first = new_page(rel, entries, next);
    set_u32(&mut guard, centroid, CentroidTuple::HEAD_AT, first)?;
    set_u32(&mut guard, centroid, CentroidTuple::INSERT_AT, first)?;
    Ok(first)
}

/// Raises a list's radius to at least `radius` (an infinite one for NaN).
fn grow_radius<R: RelationWrite>(rel: &R, centroid: Tid, radius: f32) -> Result<(), IvfError> {
    let radius = if radius.is_nan() { f32::INFINITY } else { radius };
    let mut guard = rel.write(centroid.blk);
    if centroid_fields(&guard, centroid)?.radius < radius {
        let bytes = page::item_mut(&mut guard, centroid.off).map_err(|e| corrupt(centroid.blk, e))?;
        bytes[CentroidTuple::RADIUS_AT..CentroidTuple::RADIUS_AT + 4].copy_from_slice(&radius.to_le_bytes());
    }
    Ok(())
}

/// Sets a list's `insert_blk` (vacuum, after freeing room).
pub(crate) fn set_insert_blk<R: RelationWrite>(rel: &R, centroid: Tid, blk: u32) -> Result<(), IvfError> {
    let mut guard = rel.write(centroid.blk);
    set_u32(&mut guard, centroid, CentroidTuple::INSERT_AT, blk)
}
