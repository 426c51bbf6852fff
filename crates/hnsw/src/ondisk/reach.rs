//! Vacuum's last pass: finding the live elements that cannot be reached
//! from the entry point through layer-0 links, and linking each one from
//! its nearest reachable live element.
//!
//! Layer 0 alone is searched (not the upper layers, which [`super::verify`]
//! also follows) because that is what inserts keep (see [`super::links`]):
//! after this pass every live element is reachable on layer 0, so later
//! inserts keep it so.

use std::collections::{BTreeMap, HashMap};

use pagestore::RelationWrite;

use super::codes::{coder_for_read, LinkCoder};
use super::insert::{ByRef, Vectors, WRITE_ATTEMPTS};
use super::links::{adopt, write_list, Written};
use super::reader::{corrupt_at, live_item, read_meta, PageGraph, Pages};
use super::tuples::{capacity, Meta, NeighbourTuple, Tid};
use super::vacuum::page_elements;
use super::OnDiskError;
use crate::metric::Distance;
use crate::search::{self, VisitedSet};

/// Rounds of "find the unreachable, link them" (a relink can cut a link
/// of the unreachable element it adopts into, so a round may leave some).
const MAX_ROUNDS: usize = 4;

/// Links every live element that is unreachable on layer 0 from the entry
/// point (in at most [`MAX_ROUNDS`] rounds); returns how many it linked.
///
/// Each round is a breadth-first search from the entry point, reading the
/// frontier's neighbour tuples page by page. The unreachable live elements
/// are then taken in order of how few links they get from each other (so
/// one that is cut off is linked before those reached only through it),
/// skipping any that an earlier link in the round made reachable. Each is
/// searched for with its own vector (beam ef_construction) and linked
/// from the nearest reachable live result with a free layer-0 slot (the
/// entry point last); if none has one, the nearest result's farthest
/// neighbour is replaced, after the unreachable element adopts it (over
/// its own farthest neighbour if its list is full, preferring one that is
/// reachable without it).
pub(super) fn relink_unreachable<R: RelationWrite, D: Distance>(
    rel: &R,
    metric: &D,
) -> Result<u64, OnDiskError> {
    let meta = read_meta(rel)?;
    let mut reach = Reach {
        rel,
        pages: Pages::new(rel),
        metric,
        meta,
        m: meta.m as usize,
        elements: HashMap::default(),
        vectors: Vectors::new(meta.dims as usize),
        coder: coder_for_read(rel, &meta),
    };
    reach.scan()?;
    let mut relinked = 0;
    for _ in 0..MAX_ROUNDS {
        reach.meta = read_meta(rel)?;
        if !reach.meta.entry.is_valid() {
            break;
        }
        let mut reached = VisitedSet::default();
        reach.spread(reach.meta.entry, &mut reached)?;
        let lost = reach.unreachable(&reached)?;
        if lost.is_empty() {
            break;
        }
        for u in lost {
            if !reached.contains(&u) && reach.relink(u, &reached)? {
                relinked += 1;
                reach.spread(u, &mut reached)?;
            }
        }
    }
    Ok(relinked)
}

/// What the pass knows about one element.
#[derive(Clone, Copy)]
struct Known {
    neighbours: Tid,
    deleted: bool,
}

struct Reach<'a, R, D> {
    rel: &'a R,
    pages: Pages<'a, R>,
    metric: &'a D,
    meta: Meta,
    m: usize,
    /// Every element found by the page scan (and any linked later).
    elements: HashMap<Tid, Known, std::hash::BuildHasherDefault<search::FxHasher>>,
    vectors: Vectors,
    /// The neighbour codes' coder, when the index stores codes.
    coder: Option<LinkCoder>,
}

impl<R: RelationWrite, D: Distance> Reach<'_, R, D> {
    /// Records every element of every graph page.
    fn scan(&mut self) -> Result<(), OnDiskError> {
        for blk in 1..self.rel.nblocks() {
            let elements = self.pages.with_page(blk, |p| page_elements(p, blk))??;
            for (off, e) in elements {
                let known = Known {
                    neighbours: e.neighbours,
                    deleted: e.deleted,
                };
                self.elements.insert(Tid { blk, off }, known);
            }
        }
        Ok(())
    }

    /// The element at `tid` (read if the scan did not see it: a concurrent
    /// insert); `None` if there is none.
    fn known(&mut self, tid: Tid) -> Result<Option<Known>, OnDiskError> {
        if let Some(&known) = self.elements.get(&tid) {
            return Ok(Some(known));
        }
        let Some(header) = self.pages.element_header(tid)? else {
            return Ok(None);
        };
        let known = Known {
            neighbours: header.neighbours,
            deleted: header.deleted,
        };
        self.elements.insert(tid, known);
        Ok(Some(known))
    }

    fn is_live(&mut self, tid: Tid) -> Result<bool, OnDiskError> {
        Ok(self.known(tid)?.is_some_and(|k| !k.deleted))
    }

    /// The layer-0 lists of `elements`, each read under a share lock on its
    /// neighbour tuple's page, one page at a time: `f(element, list)`.
    fn for_each_list(
        &mut self,
        elements: &[Tid],
        mut f: impl FnMut(Tid, &[Tid]),
    ) -> Result<(), OnDiskError> {
        let mut by_block: BTreeMap<u32, Vec<(Tid, Tid)>> = BTreeMap::new();
        for &t in elements {
            if let Some(k) = self.known(t)? {
                if k.neighbours.is_valid() {
                    by_block
                        .entry(k.neighbours.blk)
                        .or_default()
                        .push((t, k.neighbours));
                }
            }
        }
        let m = self.m;
        let mut list = Vec::new();
        for (blk, tuples) in by_block {
            self.pages
                .with_page(blk, |page| -> Result<(), OnDiskError> {
                    for (element, at) in tuples {
                        let Some(bytes) = live_item(page, at.off).map_err(|e| corrupt_at(at, e))?
                        else {
                            continue;
                        };
                        NeighbourTuple::decode_level(bytes, 0, m, &mut list)
                            .map_err(|e| corrupt_at(at, e))?;
                        f(element, &list);
                    }
                    Ok(())
                })??;
        }
        Ok(())
    }

    /// Adds `from` and everything reachable from it on layer 0 to
    /// `reached` (breadth first, one page of the frontier at a time).
    fn spread(&mut self, from: Tid, reached: &mut VisitedSet<Tid>) -> Result<(), OnDiskError> {
        if !reached.insert(from) {
            return Ok(());
        }
        let mut frontier = vec![from];
        while !frontier.is_empty() {
            let mut next = Vec::new();
            self.for_each_list(&frontier, |_, list| {
                next.extend(list.iter().copied().filter(|&n| reached.insert(n)));
            })?;
            frontier = next;
        }
        Ok(())
    }

    /// The live elements not in `reached`, fewest links from each other
    /// first (then in TID order).
    fn unreachable(&mut self, reached: &VisitedSet<Tid>) -> Result<Vec<Tid>, OnDiskError> {
        let mut lost: Vec<Tid> = self
            .elements
            .iter()
            .filter(|(t, k)| !k.deleted && !reached.contains(t))
            .map(|(&t, _)| t)
            .collect();
        lost.sort_unstable();
        let mut links_in: HashMap<Tid, usize> = lost.iter().map(|&t| (t, 0)).collect();
        self.for_each_list(&lost, |_, list| {
            for n in list {
                if let Some(count) = links_in.get_mut(n) {
                    *count += 1;
                }
            }
        })?;
        lost.sort_by_key(|t| (links_in[t], *t));
        Ok(lost)
    }

    /// `node`'s neighbour tuple and layer-0 list, if it is a live element.
    fn list_of(&mut self, node: Tid) -> Result<Option<(Tid, Vec<Tid>)>, OnDiskError> {
        let Some(known) = self.known(node)?.filter(|k| !k.deleted) else {
            return Ok(None);
        };
        let tuple = self.pages.neighbour_tuple(known.neighbours, self.m)?;
        Ok(tuple.and_then(|mut t| {
            let list = t.slots.get_mut(0).map(std::mem::take)?;
            Some((known.neighbours, list))
        }))
    }

    /// Links the unreachable live element `u` from its nearest reachable
    /// live element (see [`relink_unreachable`]); returns whether it did.
    fn relink(&mut self, u: Tid, reached: &VisitedSet<Tid>) -> Result<bool, OnDiskError> {
        let (m, capacity) = (self.m, capacity(0, self.m));
        self.vectors.trim();
        let Some(element) = self.vectors.load(&self.pages, u)?.cloned() else {
            return Ok(false);
        };
        if element.deleted {
            return Ok(false);
        }
        let graph = PageGraph::with_meta(self.rel, ByRef(self.metric), self.meta);
        let vector = &element.vector;
        let found = match search::descend(&graph, vector, 0) {
            Some(start) => {
                let ef = self.meta.ef_construction.into();
                search::search_layer(&graph, vector, &[start], ef, 0)
            }
            None => Vec::new(),
        };
        let mut targets = Vec::new();
        for t in found.into_iter().map(|s| s.node).chain([self.meta.entry]) {
            if t != u && reached.contains(&t) && !targets.contains(&t) && self.is_live(t)? {
                targets.push(t);
            }
        }
        // The nearest with a free slot.
        for &r in &targets {
            let Some((at, list)) = self.list_of(r)? else {
                continue;
            };
            if list.contains(&u) {
                return Ok(true);
            }
            self.vectors.load(&self.pages, r)?;
            let fill = |t: Tid, out: &mut [u8]| self.vectors.code_into(self.coder.as_ref(), r, t, out);
            if list.len() < capacity
                && write_list(self.rel, m, at, 0, &list, None, u, &fill)? == Written::Done
            {
                return Ok(true);
            }
        }
        // Else over the farthest neighbour of the nearest, adopted first.
        let Some(&r) = targets.first() else {
            return Ok(false);
        };
        let replaceable = self.replaceable(u, reached)?;
        for _ in 0..WRITE_ATTEMPTS {
            let Some((at, current)) = self.list_of(r)? else {
                return Ok(false);
            };
            if current.contains(&u) {
                return Ok(true);
            }
            let desired = if current.len() < capacity {
                None
            } else {
                let w = self
                    .vectors
                    .farthest(&self.pages, self.metric, r, &current)?;
                let live = self.is_live(w)?;
                let fill = |t: Tid, out: &mut [u8]| self.vectors.code_into(self.coder.as_ref(), u, t, out);
                if live && !adopt(self.rel, m, u, element.neighbours, w, &replaceable, &fill)? {
                    return Ok(false);
                }
                Some(
                    current
                        .iter()
                        .map(|&t| if t == w { u } else { t })
                        .collect(),
                )
            };
            self.vectors.load(&self.pages, r)?;
            let fill = |t: Tid, out: &mut [u8]| self.vectors.code_into(self.coder.as_ref(), r, t, out);
            match write_list(self.rel, m, at, 0, &current, desired, u, &fill)? {
                Written::Done => return Ok(true),
                Written::Gone => return Ok(false),
                Written::Changed => {}
            }
        }
        Ok(false)
    }

    /// `u`'s layer-0 neighbours in the order it may give them up to adopt:
    /// those reachable without it first (nothing depends on `u`'s link to
    /// them, since `u` is not reachable), farthest first.
    fn replaceable(&mut self, u: Tid, reached: &VisitedSet<Tid>) -> Result<Vec<Tid>, OnDiskError> {
        let Some((_, list)) = self.list_of(u)? else {
            return Ok(Vec::new());
        };
        self.vectors.trim();
        for &t in list.iter().chain([&u]) {
            self.vectors.load(&self.pages, t)?;
        }
        let mut scored: Vec<(bool, f32, Tid)> = list
            .iter()
            .map(|&t| {
                let far = match self.vectors.get(t) {
                    Some(e) if !e.deleted => self.vectors.pair(self.metric, u, t),
                    _ => f32::INFINITY,
                };
                (!reached.contains(&t), far, t)
            })
            .collect();
        scored.sort_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)).then(a.2.cmp(&b.2)));
        Ok(scored.into_iter().map(|(_, _, t)| t).collect())
    }
}
