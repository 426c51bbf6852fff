//! Vacuum: marking elements whose heap tuples are dead as deleted, and
//! repairing the graph around them.
//!
//! Deleted tuples stay where they are. Once the graph is repaired around
//! them, vacuum frees the tuples of deleted elements
//! ([`ElementTuple::FREE`]), and an insert of the same level takes them
//! over in place (`insert`), so an index whose rows are updated grows far
//! less. Scans may run concurrently: they still traverse deleted elements
//! but never return them, and skip neighbour TIDs whose tuple is gone.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use pagestore::page;
use pagestore::{Page, RelationRead, RelationWrite};

use super::codes::{coder_for_read, LinkCoder};
use super::insert::{select_neighbours, sort_candidates, update_meta, Vectors, WRITE_ATTEMPTS};
use super::reach::relink_unreachable;
use super::reader::{corrupt_at, live_item, live_item_mut, read_meta, Pages};
use super::tuples::{capacity, ElementTuple, Meta, NeighbourTuple, Special, Tid, KIND_ELEMENT};
use super::OnDiskError;
use crate::metric::Distance;
use crate::search::Scored;

/// Deleted elements expanded (transitively) when gathering repair
/// candidates for one list.
const MAX_EXPANSIONS: usize = 64;

/// What [`bulk_delete`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VacuumStats {
    /// Elements newly marked deleted.
    pub deleted: u64,
    /// Live elements seen (also stored as the metapage's `elements`).
    pub live: u64,
    /// Live elements whose neighbour lists were rebuilt.
    pub repaired: u64,
    /// Live elements that were unreachable on layer 0 from the entry point
    /// after the repair, and were linked by pass 4.
    pub relinked: u64,
    /// Deleted elements whose tuples this run freed for inserts to take
    /// over (pass 5).
    pub freed: u64,
}

/// The element tuples of a graph page, as `(offset, header)`; empty for a
/// new (uninitialized) page.
pub(super) fn page_elements(
    page: &Page,
    blk: u32,
) -> Result<Vec<(u16, ElementTuple)>, OnDiskError> {
    Ok(page_element_flags(page, blk)?.into_iter().map(|(off, e, _)| (off, e)).collect())
}

/// [`page_elements`], each with its `deleted` byte (0, [`ElementTuple::DELETED`],
/// [`ElementTuple::FREE`] or [`ElementTuple::CLAIMED`]).
fn page_element_flags(page: &Page, blk: u32) -> Result<Vec<(u16, ElementTuple, u8)>, OnDiskError> {
    if page::is_new(page) {
        return Ok(Vec::new());
    }
    let special = Special::decode(page::special(page)).map_err(|e| corrupt_block(blk, e))?;
    if special.kind != Special::GRAPH {
        return Err(corrupt_block(blk, "not a graph page"));
    }
    let mut out = Vec::new();
    for off in 1..=page::max_offset(page) {
        let tid = Tid { blk, off };
        let Some(bytes) = live_item(page, off).map_err(|e| corrupt_at(tid, e))? else {
            continue;
        };
        if bytes.first() == Some(&KIND_ELEMENT) {
            let header = ElementTuple::decode_header(bytes).map_err(|e| corrupt_at(tid, e))?;
            out.push((off, header, bytes[ElementTuple::DELETED_AT]));
        }
    }
    Ok(out)
}

fn corrupt_block(blk: u32, what: impl std::fmt::Display) -> OnDiskError {
    OnDiskError::Corrupted(format!("block {blk}: {what}"))
}

/// Number of live (not deleted) elements, by scanning every graph page
/// (for `amvacuumcleanup`'s statistics).
pub fn count_live<R: RelationRead>(rel: &R) -> Result<u64, OnDiskError> {
    read_meta(rel)?;
    let pages = Pages::new(rel);
    let mut live = 0;
    for blk in 1..rel.nblocks() {
        let elements = pages.with_page(blk, |p| page_elements(p, blk))??;
        live += elements.iter().filter(|(_, e)| !e.deleted).count() as u64;
    }
    Ok(live)
}

/// Vacuums the graph: `is_dead(heap_tid)` is Postgres's bulk-delete
/// callback.
///
/// 1. Marks every element whose heap TID is dead as deleted (one write
///    per page that has any, all its changes under that one guard).
/// 2. Repairs every live element that links to a deleted one: on each such
///    level, the heuristic (with keepPrunedConnections) over its live
///    neighbours and the live neighbours of its deleted ones (followed
///    through chains of deleted elements), capacity 2m on layer 0 and m
///    above; written only if the tuple is unchanged since read, retried.
///    Then, if the entry point is deleted (or a live element has a higher
///    level, left by an insert racing an earlier vacuum), the live element
///    with the highest level becomes the entry point ([`Tid::INVALID`] if
///    none), and the metapage's `elements` becomes the live count.
/// 3. Clears the neighbour tuples of deleted elements, so nothing is
///    reachable through them any more.
/// 4. Links every live element that is not reachable from the entry point
///    through layer-0 links (the repair can drop an element's last
///    in-link, and concurrent inserts can leave one): breadth-first search
///    from the entry point, then each unreachable element is linked from
///    its nearest reachable live element, in up to 4 rounds (see
///    [`super::reach`]). Counted in [`VacuumStats::relinked`].
/// 5. Frees the deleted elements (newly or earlier) but the entry point:
///    pass 2 repaired every list that linked to them and pass 3 cleared
///    their neighbour tuples. An insert of the same level takes over both
///    tuples in place (on one page, or on two for vectors too wide to
///    share one), from the metapage's `free_blk`, which this pass lowers
///    to the first page with a freed element. Counted in
///    [`VacuumStats::freed`]. An element an insert has claimed
///    ([`ElementTuple::CLAIMED`]) is left alone.
///
/// A list an insert racing the vacuum wrote after pass 2 read it can still
/// link to a freed element. Such a link leads to no neighbours, or, once
/// an insert took the tuples over, to a live element of the freed one's
/// level (so at least the link's): a wasted link, never a wrong result, as
/// scans return only live elements and order by exact distances. Freed
/// elements are no longer repair targets. Running it again with the same
/// callback changes nothing.
pub fn bulk_delete<R: RelationWrite, D: Distance>(
    rel: &R,
    metric: &D,
    is_dead: impl FnMut(Tid) -> bool,
) -> Result<VacuumStats, OnDiskError> {
    vacuum(rel, metric, is_dead, false)
}

/// For `amvacuumcleanup` when no bulk delete ran (a VACUUM that found no
/// dead row): [`bulk_delete`] with no row dead, so that deleted elements
/// still waiting to be freed (left by a version that did not free them)
/// are freed without waiting for more rows to die; pass 4 runs only if
/// pass 2 changed a list. With none waiting, it is one read of every
/// page, as [`count_live`].
pub fn cleanup<R: RelationWrite, D: Distance>(rel: &R, metric: &D) -> Result<VacuumStats, OnDiskError> {
    vacuum(rel, metric, |_| false, true)
}

fn vacuum<R: RelationWrite, D: Distance>(
    rel: &R,
    metric: &D,
    mut is_dead: impl FnMut(Tid) -> bool,
    cleanup: bool,
) -> Result<VacuumStats, OnDiskError> {
    let meta = read_meta(rel)?;
    let mut stats = VacuumStats::default();
    let Marked { deleted, freeable, free_blk, live } = mark_deleted(rel, &mut is_dead, &mut stats)?;
    if cleanup && freeable.is_empty() {
        stats.live = live;
        lower_free_blk(rel, free_blk)?;
        return Ok(stats);
    }
    let mut repair = Repair {
        pages: Pages::new(rel),
        metric,
        meta,
        deleted: &deleted,
        vectors: Vectors::new(meta.dims as usize),
        coder: coder_for_read(rel, &meta),
    };
    let best = repair.run(&mut stats)?;
    update_meta(rel, |m| {
        let mut changed = m.elements != stats.live;
        m.elements = stats.live;
        // Also when a live element is above the entry point: an insert
        // racing an earlier vacuum's change of the entry point can leave
        // that (pass 4 then makes everything reachable from the new one).
        let higher = best.is_some_and(|(_, level)| level > m.entry_level);
        if !m.entry.is_valid() || deleted.contains_key(&m.entry) || higher {
            let (entry, level) = best.unwrap_or((Tid::INVALID, 0));
            changed |= (m.entry, m.entry_level) != (entry, level);
            (m.entry, m.entry_level) = (entry, level);
        }
        changed
    })?;
    clear_deleted(rel, meta.m as usize, &deleted)?;
    if !cleanup || stats.repaired > 0 {
        stats.relinked = relink_unreachable(rel, metric)?;
    }
    let (freed, first) = free_deleted(rel, &freeable)?;
    stats.freed = freed;
    lower_free_blk(rel, [first, free_blk].into_iter().flatten().min())?;
    Ok(stats)
}

/// Lowers the metapage's `free_blk` to `first` (a page with a freed
/// element), unless it is lower already or the metapage predates it.
fn lower_free_blk<R: RelationWrite>(rel: &R, first: Option<u32>) -> Result<(), OnDiskError> {
    let Some(first) = first else {
        return Ok(());
    };
    update_meta(rel, |m| match m.free_blk {
        Some(now) if first < now => {
            m.free_blk = Some(first);
            true
        }
        _ => false,
    })?;
    Ok(())
}

/// What pass 1 found.
struct Marked {
    /// Every deleted element not yet freed, with its neighbour tuple's TID.
    deleted: HashMap<Tid, Tid>,
    /// The deleted elements pass 5 may free (by block: their offsets).
    freeable: BTreeMap<u32, Vec<u16>>,
    /// The first page holding an element freed by an earlier vacuum.
    free_blk: Option<u32>,
    /// Live elements (not newly deleted) seen.
    live: u64,
}

/// Pass 5: frees the `freeable` deleted elements (but the entry point);
/// returns how many, and the first page that has one.
fn free_deleted<R: RelationWrite>(
    rel: &R,
    freeable: &BTreeMap<u32, Vec<u16>>,
) -> Result<(u64, Option<u32>), OnDiskError> {
    let entry = read_meta(rel)?.entry;
    let (mut freed, mut first) = (0, None);
    for (&blk, offs) in freeable {
        let mut guard = rel.write(blk);
        for &off in offs.iter().filter(|&&off| Tid { blk, off } != entry) {
            let tid = Tid { blk, off };
            let Some(bytes) = live_item_mut(&mut guard, off).map_err(|e| corrupt_at(tid, e))? else {
                continue;
            };
            if bytes.first() == Some(&KIND_ELEMENT)
                && bytes.get(ElementTuple::DELETED_AT) == Some(&ElementTuple::DELETED)
            {
                bytes[ElementTuple::DELETED_AT] = ElementTuple::FREE;
                freed += 1;
                first = first.or(Some(blk));
            }
        }
    }
    Ok((freed, first))
}

/// Pass 1: marks dead elements deleted; returns every deleted element
/// not yet freed (newly or earlier) with its neighbour tuple's TID, and
/// what pass 5 needs.
fn mark_deleted<R: RelationWrite>(
    rel: &R,
    is_dead: &mut impl FnMut(Tid) -> bool,
    stats: &mut VacuumStats,
) -> Result<Marked, OnDiskError> {
    let pages = Pages::new(rel);
    let mut marked = Marked { deleted: HashMap::new(), freeable: BTreeMap::new(), free_blk: None, live: 0 };
    let deleted = &mut marked.deleted;
    for blk in 1..rel.nblocks() {
        let elements = pages.with_page(blk, |p| page_element_flags(p, blk))??;
        let mut dead = Vec::new();
        for (off, e, flag) in elements {
            if flag == ElementTuple::FREE {
                marked.free_blk = marked.free_blk.or(Some(blk));
            } else if flag == ElementTuple::CLAIMED {
                // An insert is taking it over: not vacuum's any more.
                continue;
            } else if e.deleted {
                deleted.insert(Tid { blk, off }, e.neighbours);
                marked.freeable.entry(blk).or_default().push(off);
            } else if is_dead(e.heap_tid) {
                marked.freeable.entry(blk).or_default().push(off);
                dead.push((off, e.neighbours));
            } else {
                marked.live += 1;
            }
        }
        if dead.is_empty() {
            continue;
        }
        let mut guard = rel.write(blk);
        for (off, neighbours) in dead {
            let tid = Tid { blk, off };
            let bytes = live_item_mut(&mut guard, off).map_err(|e| corrupt_at(tid, e))?;
            if let Some(flag) = bytes.and_then(|b| b.get_mut(ElementTuple::DELETED_AT)) {
                if *flag == 0 {
                    *flag = ElementTuple::DELETED;
                    stats.deleted += 1;
                }
                deleted.insert(tid, neighbours);
            }
        }
    }
    Ok(marked)
}

/// Pass 3: sets every slot of the deleted elements' neighbour tuples to
/// INVALID (pages whose tuples are already clear are not written).
fn clear_deleted<R: RelationWrite>(
    rel: &R,
    m: usize,
    deleted: &HashMap<Tid, Tid>,
) -> Result<(), OnDiskError> {
    let mut by_block: BTreeMap<u32, Vec<Tid>> = BTreeMap::new();
    for &at in deleted.values().filter(|t| t.is_valid()) {
        by_block.entry(at.blk).or_default().push(at);
    }
    let pages = Pages::new(rel);
    for (blk, tuples) in by_block {
        let dirty = pages.with_page(blk, |page| -> Result<bool, OnDiskError> {
            for &at in &tuples {
                if let Some(bytes) = live_item(page, at.off).map_err(|e| corrupt_at(at, e))? {
                    let lists = NeighbourTuple::decode(bytes, m).map_err(|e| corrupt_at(at, e))?;
                    if lists.slots.iter().any(|l| !l.is_empty()) {
                        return Ok(true);
                    }
                }
            }
            Ok(false)
        })??;
        if !dirty {
            continue;
        }
        let mut guard = rel.write(blk);
        for at in tuples {
            if let Some(bytes) = live_item_mut(&mut guard, at.off).map_err(|e| corrupt_at(at, e))? {
                NeighbourTuple::clear(bytes, m).map_err(|e| corrupt_at(at, e))?;
            }
        }
    }
    Ok(())
}

/// Pass 2 state.
struct Repair<'a, R, D> {
    pages: Pages<'a, R>,
    metric: &'a D,
    meta: Meta,
    deleted: &'a HashMap<Tid, Tid>,
    vectors: Vectors,
    /// The neighbour codes' coder, when the index stores codes.
    coder: Option<LinkCoder>,
}

impl<R: RelationWrite, D: Distance> Repair<'_, R, D> {
    fn m(&self) -> usize {
        self.meta.m as usize
    }

    /// Repairs every live element; returns the live element with the
    /// highest level (the first one found among equals).
    fn run(&mut self, stats: &mut VacuumStats) -> Result<Option<(Tid, u8)>, OnDiskError> {
        let mut best: Option<(Tid, u8)> = None;
        for blk in 1..self.pages.rel().nblocks() {
            let elements = self.pages.with_page(blk, |p| page_elements(p, blk))??;
            for (off, e) in elements.into_iter().filter(|(_, e)| !e.deleted) {
                let tid = Tid { blk, off };
                stats.live += 1;
                if best.is_none_or(|(_, level)| e.level > level) {
                    best = Some((tid, e.level));
                }
                if !self.deleted.is_empty() && self.repair_element(tid, e.neighbours)? {
                    stats.repaired += 1;
                }
            }
        }
        Ok(best)
    }

    /// Rebuilds the levels of `element` that link to deleted elements;
    /// returns whether anything was written.
    fn repair_element(&mut self, element: Tid, at: Tid) -> Result<bool, OnDiskError> {
        for _ in 0..WRITE_ATTEMPTS {
            let Some(tuple) = self.pages.neighbour_tuple(at, self.m())? else {
                return Ok(false);
            };
            let mut changes = Vec::new();
            for (level, list) in tuple.slots.iter().enumerate() {
                if list.iter().any(|t| self.deleted.contains_key(t)) {
                    changes.push((level, self.rebuild(element, list, level)?));
                }
            }
            if changes.is_empty() {
                return Ok(false);
            }
            if self.write_lists(element, at, &tuple, &changes)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Live candidates for `element`'s list on `level`: its live
    /// neighbours, and the live neighbours found through its deleted ones.
    fn gather(&self, element: Tid, list: &[Tid], level: usize) -> Result<Vec<Tid>, OnDiskError> {
        let mut seen: HashSet<Tid> = HashSet::from([element]);
        let mut live = Vec::new();
        let mut queue = VecDeque::new();
        let mut visit = |t: Tid, queue: &mut VecDeque<Tid>| {
            if seen.insert(t) {
                match self.deleted.get(&t) {
                    Some(&at) => queue.push_back(at),
                    None => live.push(t),
                }
            }
        };
        list.iter().for_each(|&t| visit(t, &mut queue));
        let mut expanded = 0;
        while let Some(at) = queue.pop_front() {
            if expanded == MAX_EXPANSIONS {
                break;
            }
            expanded += 1;
            if let Some(tuple) = self.pages.neighbour_tuple(at, self.m())? {
                for &t in tuple.slots.get(level).into_iter().flatten() {
                    visit(t, &mut queue);
                }
            }
        }
        Ok(live)
    }

    /// The new list for `element` on `level`.
    fn rebuild(
        &mut self,
        element: Tid,
        list: &[Tid],
        level: usize,
    ) -> Result<Vec<Tid>, OnDiskError> {
        let candidates = self.gather(element, list, level)?;
        self.vectors.trim();
        for &t in candidates.iter().chain([&element]) {
            self.vectors.load(&self.pages, t)?;
        }
        let mut scored: Vec<Scored<Tid>> = candidates
            .iter()
            .filter(|&&t| self.vectors.get(t).is_some_and(|e| !e.deleted))
            .map(|&t| Scored {
                dist: self.vectors.pair(self.metric, element, t),
                node: t,
            })
            .collect();
        sort_candidates(element, &mut scored);
        let pair = |a, b| self.vectors.pair(self.metric, a, b);
        let base = self.vectors.get(element).map(|e| e.vector.as_slice());
        let twin = |t| base.is_some_and(|v| self.vectors.is_twin(t, v));
        let kept = select_neighbours(&scored, capacity(level, self.m()), true, pair, twin);
        Ok(kept.into_iter().map(|s| s.node).collect())
    }

    /// Writes `changes` into `element`'s neighbour tuple at `at` if the
    /// changed levels still hold what was read.
    fn write_lists(
        &self,
        element: Tid,
        at: Tid,
        read: &NeighbourTuple,
        changes: &[(usize, Vec<Tid>)],
    ) -> Result<bool, OnDiskError> {
        let m = self.m();
        let mut guard = self.pages.rel().write(at.blk);
        let Some(bytes) = live_item_mut(&mut guard, at.off).map_err(|e| corrupt_at(at, e))? else {
            return Ok(false);
        };
        let mut now = Vec::new();
        for (level, _) in changes {
            NeighbourTuple::decode_level(bytes, *level, m, &mut now)
                .map_err(|e| corrupt_at(at, e))?;
            if now != read.slots[*level] {
                return Ok(false);
            }
        }
        for (level, list) in changes {
            let fill = |t: Tid, out: &mut [u8]| self.vectors.code_into(self.coder.as_ref(), element, t, out);
            NeighbourTuple::write_level(bytes, *level, m, list, &fill)
                .map_err(|e| corrupt_at(at, e))?;
        }
        Ok(true)
    }
}
