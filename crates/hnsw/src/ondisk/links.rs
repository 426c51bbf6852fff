//! Writing one neighbour list in place, under one exclusive guard: the
//! append, the compare-and-write and the adoption that insert and vacuum
//! share.
//!
//! Reachability rests on one rule, kept by every writer of a layer-0 list
//! outside vacuum's repair: an element `w` is dropped from a list `r → w`
//! only by a write that puts some `e` in its place after `e → w` already
//! exists on layer 0 (`e` *adopted* `w`, with [`adopt`]). Every path
//! through `r → w` then continues through `r → e → w`, so no write makes
//! an element unreachable on layer 0 (upper layers are not needed: every
//! element is on layer 0).

use pagestore::RelationWrite;

use super::reader::{corrupt_at, live_item_mut};
use super::tuples::{capacity, CodeFill, NeighbourTuple, Tid};
use super::OnDiskError;

/// What a guarded write of a neighbour list found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Written {
    /// The list now holds the new neighbour (written, or already there).
    Done,
    /// The list changed since it was read: re-read and retry.
    Changed,
    /// The neighbour tuple is gone (a concurrent vacuum removed it).
    Gone,
}

/// Under an exclusive lock on the neighbour tuple at `at`, decodes
/// `level`'s list and calls `f`, which may change it and returns whether
/// to write it back, and a value. `None` when the tuple is gone. New
/// neighbours get their codes from `fill` (where the level has codes).
pub(super) fn modify_list<R: RelationWrite, T>(
    rel: &R,
    m: usize,
    at: Tid,
    level: usize,
    fill: CodeFill<'_>,
    f: impl FnOnce(&mut Vec<Tid>) -> (bool, T),
) -> Result<Option<T>, OnDiskError> {
    let mut guard = rel.write(at.blk);
    let Some(bytes) = live_item_mut(&mut guard, at.off).map_err(|e| corrupt_at(at, e))? else {
        return Ok(None);
    };
    let mut list = Vec::new();
    NeighbourTuple::decode_level(bytes, level, m, &mut list).map_err(|e| corrupt_at(at, e))?;
    let (write, out) = f(&mut list);
    if write {
        NeighbourTuple::write_level(bytes, level, m, &list, fill).map_err(|e| corrupt_at(at, e))?;
    }
    Ok(Some(out))
}

/// Adds `new` to `level`'s list of the neighbour tuple at `at`: appended
/// if `desired` is `None` and there is room, or `desired` written if the
/// list still equals `expected` (compare-and-write).
#[allow(clippy::too_many_arguments)]
pub(super) fn write_list<R: RelationWrite>(
    rel: &R,
    m: usize,
    at: Tid,
    level: usize,
    expected: &[Tid],
    desired: Option<Vec<Tid>>,
    new: Tid,
    fill: CodeFill<'_>,
) -> Result<Written, OnDiskError> {
    let written = modify_list(rel, m, at, level, fill, |now| {
        if now.contains(&new) {
            return (false, Written::Done);
        }
        match desired {
            None if now.len() < capacity(level, m) => {
                now.push(new);
                (true, Written::Done)
            }
            Some(list) if now.as_slice() == expected => {
                *now = list;
                (true, Written::Done)
            }
            _ => (false, Written::Changed),
        }
    })?;
    Ok(written.unwrap_or(Written::Gone))
}

/// Makes sure the layer-0 list of the neighbour tuple at `at` (owned by
/// element `owner`) links to `w`: true if it already does, else appended
/// if there is room, else written over the first of `replaceable` that is
/// in the list (the caller vouches that dropping it makes nothing
/// unreachable). False if the list is full and nothing may be replaced,
/// or the tuple is gone.
pub(super) fn adopt<R: RelationWrite>(
    rel: &R,
    m: usize,
    owner: Tid,
    at: Tid,
    w: Tid,
    replaceable: &[Tid],
    fill: CodeFill<'_>,
) -> Result<bool, OnDiskError> {
    if w == owner || !w.is_valid() {
        return Ok(false);
    }
    let adopted = modify_list(rel, m, at, 0, fill, |list| {
        if list.contains(&w) {
            return (false, true);
        }
        if list.len() < capacity(0, m) {
            list.push(w);
            return (true, true);
        }
        let slot = replaceable
            .iter()
            .filter(|&&x| x != w)
            .find_map(|x| list.iter().position(|t| t == x));
        match slot {
            Some(i) => {
                list[i] = w;
                (true, true)
            }
            None => (false, false),
        }
    })?;
    Ok(adopted.unwrap_or(false))
}
