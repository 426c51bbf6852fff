//! The insertion algorithm shared by the serial graph ([`crate::Hnsw`]) and
//! the parallel build ([`crate::ParallelBuilder`]), plus the flat storage
//! both use.
//!
//! Each neighbour list is a header word followed by its slots. Layer 0
//! lists (`2m` slots) sit at a fixed stride in one array, so reading one
//! costs a single random access; the upper layers (`m` slots each) of an
//! element sit together in a second array, at `upper_starts[id]`. Levels
//! are known when an element is added (they depend only on the seed and the
//! element number), so nothing ever moves.
//!
//! The header holds the list's length (bits 0-7), the length of its
//! *stable prefix* (bits 8-15, see [`Graph::link_back`]), a lock bit and a
//! version. The code is generic over the slot type: `Cell<u32>` for the
//! serial graph (a `&mut [u32]` viewed as cells) and `AtomicU32` for the
//! parallel build, where the header is a per-list sequence lock:
//!
//! - a reader copies the list without locking and retries if the header
//!   changed meanwhile (or was locked), so reads never write shared memory;
//! - a writer computes the new list from such a copy *without* any lock
//!   (the distances and the heuristic), then locks the header only if it
//!   still holds the version it copied (compare-and-swap), stores the slots
//!   and unlocks with the next version; if the list changed it starts over.
//!
//! A thread therefore holds at most one list's lock, only while storing at
//! most `2m` words, and never waits for a lock while holding one: the build
//! cannot deadlock.

use std::cell::Cell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::hint::{black_box, spin_loop};
use std::sync::atomic::{fence, AtomicU32, Ordering};

use quantize::rabitq::Estimate;

use crate::build_codes::BuildCodes;
use crate::graph::{sort_candidates, tie_break, HnswError, HnswParams};
use crate::metric::Distance;
use crate::ondisk::LinkQuery;
use crate::search::Scored;

/// Header bits holding a list's length.
pub(crate) const COUNT_MASK: u32 = 0xFF;
/// Header bits holding the length of the list's stable prefix.
pub(crate) const STABLE_MASK: u32 = 0xFF00;
const STABLE_SHIFT: u32 = 8;
/// Largest `m` the header can count (`2m` slots on layer 0).
pub(crate) const MAX_M: usize = 127;
/// Header bit set while a writer stores the list.
const LOCKED: u32 = 1 << 16;
/// One version step (the bits above the lock bit).
const VERSION: u32 = 1 << 17;

/// Words of one element's layer-0 list (header and `2m` slots).
pub(crate) fn level0_stride(m: usize) -> usize {
    2 * m + 1
}

/// Words of an element's upper-layer lists (a header and `m` slots each).
pub(crate) fn upper_len(m: usize, level: usize) -> usize {
    level * (m + 1)
}

/// One word of a list: a plain cell (serial) or an atomic (parallel).
pub(crate) trait Slot {
    fn load(&self) -> u32;
    fn load_acquire(&self) -> u32;
    fn store(&self, value: u32);
    fn store_release(&self, value: u32);
    /// Sets the lock bit if the word still equals `expected` (unlocked).
    fn try_lock(&self, expected: u32) -> bool;
}

impl Slot for Cell<u32> {
    #[inline]
    fn load(&self) -> u32 {
        self.get()
    }
    #[inline]
    fn load_acquire(&self) -> u32 {
        self.get()
    }
    #[inline]
    fn store(&self, value: u32) {
        self.set(value);
    }
    #[inline]
    fn store_release(&self, value: u32) {
        self.set(value);
    }
    #[inline]
    fn try_lock(&self, expected: u32) -> bool {
        if self.get() == expected {
            self.set(expected | LOCKED);
            true
        } else {
            false
        }
    }
}

impl Slot for AtomicU32 {
    #[inline]
    fn load(&self) -> u32 {
        AtomicU32::load(self, Ordering::Relaxed)
    }
    #[inline]
    fn load_acquire(&self) -> u32 {
        AtomicU32::load(self, Ordering::Acquire)
    }
    #[inline]
    fn store(&self, value: u32) {
        AtomicU32::store(self, value, Ordering::Relaxed);
    }
    #[inline]
    fn store_release(&self, value: u32) {
        AtomicU32::store(self, value, Ordering::Release);
    }
    #[inline]
    fn try_lock(&self, expected: u32) -> bool {
        self.compare_exchange(
            expected,
            expected | LOCKED,
            Ordering::Acquire,
            Ordering::Relaxed,
        )
        .is_ok()
    }
}

/// Copies `list`'s slots into `out` and returns the header they go with:
/// a consistent snapshot even while other threads write (sequence lock).
#[inline]
fn snapshot<S: Slot>(list: &[S], out: &mut Vec<u32>) -> u32 {
    let mut spins = 0u32;
    loop {
        let header = list[0].load_acquire();
        if header & LOCKED == 0 {
            let count = ((header & COUNT_MASK) as usize).min(list.len() - 1);
            out.clear();
            out.extend(list[1..=count].iter().map(Slot::load));
            fence(Ordering::Acquire);
            if list[0].load() == header {
                return header;
            }
        }
        spins += 1;
        if spins.is_multiple_of(64) {
            std::thread::yield_now();
        } else {
            spin_loop();
        }
    }
}

/// The length of the stable prefix of a list whose header is `header`.
#[inline]
fn stable_len(header: u32) -> usize {
    ((header & STABLE_MASK) >> STABLE_SHIFT).min(header & COUNT_MASK) as usize
}

/// Replaces `list` with `ids`, of which the first `stable` are a stable
/// prefix, if its header is still `expected`; false if another thread
/// changed it since (the caller starts over).
#[inline]
fn try_store<S: Slot>(
    list: &[S],
    expected: u32,
    ids: impl Iterator<Item = u32>,
    stable: usize,
) -> bool {
    if !list[0].try_lock(expected) {
        return false;
    }
    fence(Ordering::Release);
    let mut count = 0;
    for (slot, id) in list[1..].iter().zip(ids) {
        slot.store(id);
        count += 1;
    }
    let version = (expected & !(COUNT_MASK | STABLE_MASK | LOCKED)).wrapping_add(VERSION);
    let stable = (stable as u32).min(count) << STABLE_SHIFT;
    list[0].store_release(version | stable | count);
    true
}

/// Appends `id` to `list` (which has room) if its header is still
/// `expected`.
#[inline]
fn try_append<S: Slot>(list: &[S], expected: u32, id: u32) -> bool {
    if !list[0].try_lock(expected) {
        return false;
    }
    fence(Ordering::Release);
    let count = expected & COUNT_MASK;
    list[1 + count as usize].store(id);
    let version = (expected & !(COUNT_MASK | STABLE_MASK | LOCKED)).wrapping_add(VERSION);
    list[0].store_release(version | (expected & STABLE_MASK) | (count + 1));
    true
}

/// Brings the start of `v` towards the cache (a plain load whose value is
/// discarded; it overlaps with the work that follows).
#[inline]
fn touch(v: &[f32]) {
    if let Some(&x) = v.first() {
        black_box(x);
    }
}

/// Brings all of `v` towards the cache while other work goes on: a vector
/// is many cache lines (1.5 kB at 384 dimensions) at a random place, and
/// the build's distances stall on fetching them; prefetching the next
/// vector while scoring one made a build 15-20% faster.
#[inline]
fn prefetch(v: &[f32]) {
    pagestore::page::prefetch(bytemuck::cast_slice(v));
}

/// Vectors stored end to end. With `dims > 0` every vector has `dims`
/// words; with `dims == 0` any length is accepted and `offsets` (one more
/// than the number of vectors) says where each starts.
#[derive(Debug, Clone)]
pub(crate) struct Vectors {
    dims: usize,
    len: usize,
    data: Vec<f32>,
    offsets: Vec<usize>,
}

impl Vectors {
    pub(crate) fn new(dims: usize) -> Self {
        Self {
            dims,
            len: 0,
            data: Vec::new(),
            offsets: if dims == 0 { vec![0] } else { Vec::new() },
        }
    }

    /// `data` as vectors of `dims > 0` words each (a partial last one is
    /// an error).
    pub(crate) fn from_flat(dims: usize, data: Vec<f32>) -> Result<Self, HnswError> {
        if dims == 0 || !data.len().is_multiple_of(dims) {
            return Err(HnswError::BadParameter("flat vectors need fixed dimensions and whole vectors"));
        }
        let len = data.len() / dims;
        if len >= u32::MAX as usize {
            return Err(HnswError::BadParameter("too many elements"));
        }
        Ok(Self {
            dims,
            len,
            data,
            offsets: Vec::new(),
        })
    }

    pub(crate) fn dims(&self) -> usize {
        self.dims
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn push(&mut self, vector: &[f32]) -> Result<(), HnswError> {
        if self.dims > 0 && vector.len() != self.dims {
            return Err(HnswError::DimensionMismatch {
                expected: self.dims,
                found: vector.len(),
            });
        }
        if self.len >= u32::MAX as usize {
            return Err(HnswError::BadParameter("too many elements"));
        }
        self.data.extend_from_slice(vector);
        if self.dims == 0 {
            self.offsets.push(self.data.len());
        }
        self.len += 1;
        Ok(())
    }

    pub(crate) fn reserve(&mut self, vectors: usize, words_per_vector: usize) {
        self.data.reserve(vectors.saturating_mul(words_per_vector));
        if self.dims == 0 {
            self.offsets.reserve(vectors);
        }
    }

    #[inline]
    pub(crate) fn get(&self, id: u32) -> &[f32] {
        let id = id as usize;
        if self.dims > 0 {
            let at = id * self.dims;
            &self.data[at..at + self.dims]
        } else {
            &self.data[self.offsets[id]..self.offsets[id + 1]]
        }
    }

    /// All vectors end to end, when `dims > 0`.
    pub(crate) fn flat(&self) -> Option<&[f32]> {
        (self.dims > 0).then_some(self.data.as_slice())
    }

    pub(crate) fn allocated_bytes(&self) -> usize {
        self.data.capacity() * size_of::<f32>() + self.offsets.capacity() * size_of::<usize>()
    }
}

/// Per-thread scratch space of an insertion, reused across insertions so the
/// hot path does not allocate: a generation-stamped visited array over the
/// dense ids and the heaps and lists of the beam search and heuristic.
#[derive(Clone, Default)]
pub(crate) struct Scratch {
    visited: Vec<u16>,
    stamp: u16,
    candidates: BinaryHeap<Reverse<Scored<u32>>>,
    results: BinaryHeap<Scored<u32>>,
    buf: Vec<u32>,
    todo: Vec<u32>,
    ids: Vec<u32>,
    entries: Vec<Scored<u32>>,
    found: Vec<Scored<u32>>,
    selected: Vec<Scored<u32>>,
    cands: Vec<Scored<u32>>,
    flagged: Vec<(Scored<u32>, bool)>,
    kept: Vec<Scored<u32>>,
    pruned: Vec<Scored<u32>>,
    /// The element being inserted as a query against neighbour codes
    /// (with [`Graph::codes`]).
    link_query: Option<LinkQuery>,
    code_buf: Vec<f32>,
    estimates: Vec<Estimate>,
    bounds: Vec<f32>,
}

impl fmt::Debug for Scratch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scratch")
            .field("visited", &self.visited.len())
            .finish_non_exhaustive()
    }
}

impl Scratch {
    /// Scratch for graphs of up to `n` elements (grows on demand).
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            visited: vec![0; n],
            ..Self::default()
        }
    }

    pub(crate) fn allocated_bytes(&self) -> usize {
        self.visited.capacity() * size_of::<u16>()
    }

    /// Starts a new visited set over ids `< n`.
    fn next_round(&mut self, n: usize) {
        if self.visited.len() < n {
            self.visited.resize(n.max(self.visited.len() * 5 / 4), 0);
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.visited.fill(0);
            self.stamp = 1;
        }
    }
}

/// Whether `node` is seen for the first time this round (and marks it).
#[inline]
fn first_visit(visited: &mut [u16], stamp: u16, node: u32) -> bool {
    let seen = &mut visited[node as usize];
    if *seen == stamp {
        false
    } else {
        *seen = stamp;
        true
    }
}

/// A borrowed view of a graph being built: its vectors and lists.
pub(crate) struct Graph<'a, D, S> {
    pub params: &'a HnswParams,
    pub metric: &'a D,
    pub vectors: &'a Vectors,
    /// Layer-0 lists, [`level0_stride`] words per element.
    pub level0: &'a [S],
    /// Upper-layer lists.
    pub upper: &'a [S],
    /// Element `id`'s upper lists are `upper[upper_starts[id]..upper_starts[id + 1]]`.
    pub upper_starts: &'a [usize],
    /// Neighbour codes, made as elements are inserted, bounding the
    /// searches ([`crate::build_codes`]).
    pub codes: Option<&'a BuildCodes<'a>>,
}

impl<'a, D: Distance, S: Slot> Graph<'a, D, S> {
    #[inline]
    fn len(&self) -> usize {
        self.upper_starts.len() - 1
    }

    #[inline]
    pub(crate) fn level(&self, id: u32) -> usize {
        let id = id as usize;
        (self.upper_starts[id + 1] - self.upper_starts[id]) / (self.params.m + 1)
    }

    /// The list (header, then slots) of `id` on `level` (≤ its level).
    #[inline]
    fn list(&self, id: u32, level: usize) -> &'a [S] {
        let m = self.params.m;
        if level == 0 {
            let stride = level0_stride(m);
            let at = id as usize * stride;
            &self.level0[at..at + stride]
        } else {
            let at = self.upper_starts[id as usize] + (level - 1) * (m + 1);
            &self.upper[at..at + m + 1]
        }
    }

    #[inline]
    fn distance(&self, query: &[f32], id: u32) -> f32 {
        self.metric.distance_or_inf(query, self.vectors.get(id))
    }

    #[inline]
    fn pair_distance(&self, a: u32, b: u32) -> f32 {
        self.metric
            .distance_or_inf(self.vectors.get(a), self.vectors.get(b))
    }

    /// Copies the neighbours of `id` on `level` into `out`.
    #[inline]
    fn read(&self, id: u32, level: usize, out: &mut Vec<u32>) {
        if level > 0 && level > self.level(id) {
            out.clear();
            return;
        }
        snapshot(self.list(id, level), out);
    }

    /// Greedy descent on one layer (beam width 1).
    fn greedy(&self, query: &[f32], start: Scored<u32>, level: usize, s: &mut Scratch) -> Scored<u32> {
        let Scratch {
            buf,
            link_query,
            code_buf,
            ..
        } = s;
        let bounded = self.codes.zip(link_query.as_ref());
        let mut current = start;
        loop {
            self.read(current.node, level, buf);
            let mut moved = false;
            for &n in buf.iter() {
                if let Some((codes, q)) = bounded {
                    if codes.lower_bound(q, n, code_buf) >= current.dist {
                        continue;
                    }
                }
                let dist = self.distance(query, n);
                if dist < current.dist {
                    current = Scored { dist, node: n };
                    moved = true;
                }
            }
            if !moved {
                return current;
            }
        }
    }

    /// Beam search of width `ef` on `level` from `s.entries`; leaves the
    /// result in `s.found`, unordered (the caller sorts it).
    fn search_layer(&self, query: &[f32], ef: usize, level: usize, s: &mut Scratch) {
        let ef = ef.max(1);
        s.next_round(self.len());
        let Scratch {
            visited,
            stamp,
            candidates,
            results,
            buf,
            todo,
            entries,
            found,
            link_query,
            code_buf,
            estimates,
            bounds,
            ..
        } = s;
        let stamp = *stamp;
        let bounded = self.codes.zip(link_query.as_ref());
        candidates.clear();
        results.clear();
        for &e in entries.iter() {
            if first_visit(visited, stamp, e.node) {
                candidates.push(Reverse(e));
                results.push(e);
            }
        }
        while results.len() > ef {
            results.pop();
        }
        while let Some(Reverse(c)) = candidates.pop() {
            if results.len() >= ef && results.peek().is_some_and(|w| c.dist > w.dist) {
                break;
            }
            self.read(c.node, level, buf);
            if let Some(Reverse(next)) = candidates.peek() {
                // Likely the next list read: start fetching its header.
                black_box(self.list(next.node, level)[0].load());
            }
            todo.clear();
            let full = results.len() >= ef;
            for &n in buf.iter() {
                if first_visit(visited, stamp, n) {
                    todo.push(n);
                    match bounded {
                        Some((codes, _)) if full => codes.prefetch(n),
                        _ => touch(self.vectors.get(n)),
                    }
                }
            }
            if let (Some((codes, q)), Some(worst), true) = (bounded, results.peek(), full) {
                // A neighbour that could not enter the full results is
                // never read (nor later: the worst only gets closer).
                codes.lower_bounds(q, todo, code_buf, estimates, bounds);
                let mut at = bounds.iter();
                todo.retain(|&n| {
                    let ruled_out = at.next().is_some_and(|&bound| bound >= worst.dist);
                    if !ruled_out {
                        prefetch(self.vectors.get(n));
                    }
                    !ruled_out
                });
            }
            for (i, &n) in todo.iter().enumerate() {
                if let Some(&next) = todo.get(i + 1) {
                    prefetch(self.vectors.get(next));
                }
                let dist = self.distance(query, n);
                if results.len() < ef || results.peek().is_some_and(|w| dist < w.dist) {
                    candidates.push(Reverse(Scored { dist, node: n }));
                    results.push(Scored { dist, node: n });
                    if results.len() > ef {
                        results.pop();
                    }
                }
            }
        }
        found.clear();
        found.extend(results.drain());
    }

    /// The neighbour-selection heuristic (Algorithm 4 of the paper, without
    /// candidate extension): walking `candidates` closest first, keeps one
    /// only if it is at least as close to the base element as to every
    /// neighbour kept so far, up to `m`. With `keep_pruned` the remaining
    /// slots are filled with the closest pruned candidates (the paper's
    /// keepPrunedConnections), which keeps "shadowed" elements reachable.
    /// Returns how many were kept before that filling.
    fn select(
        &self,
        candidates: &[Scored<u32>],
        m: usize,
        keep_pruned: bool,
        kept: &mut Vec<Scored<u32>>,
        pruned: &mut Vec<Scored<u32>>,
    ) -> usize {
        kept.clear();
        pruned.clear();
        for c in candidates {
            if kept.len() >= m {
                break;
            }
            if kept
                .iter()
                .all(|k| self.pair_distance(c.node, k.node) >= c.dist)
            {
                kept.push(*c);
            } else if keep_pruned {
                pruned.push(*c);
            }
        }
        let stable = kept.len();
        let room = m - kept.len();
        kept.extend(pruned.iter().take(room));
        stable
    }

    /// [`Self::select`] without keepPrunedConnections, for candidates
    /// flagged `true` when they belong to the list's stable prefix: such a
    /// candidate was already checked against every other one of the
    /// prefix closer to the base element (it was kept by the heuristic run
    /// that wrote the prefix, in the same order), so it is only checked
    /// against the kept candidates from outside the prefix. The result is
    /// exactly the plain heuristic's, with far fewer distances.
    fn select_flagged(
        &self,
        candidates: &[(Scored<u32>, bool)],
        m: usize,
        kept: &mut Vec<Scored<u32>>,
        kept_new: &mut Vec<Scored<u32>>,
    ) {
        kept.clear();
        kept_new.clear();
        for &(c, in_prefix) in candidates {
            if kept.len() >= m {
                break;
            }
            let against = if in_prefix { &kept_new[..] } else { &kept[..] };
            if against
                .iter()
                .all(|k| self.pair_distance(c.node, k.node) >= c.dist)
            {
                kept.push(c);
                if !in_prefix {
                    kept_new.push(c);
                }
            }
        }
    }

    /// Sets the new element's own list on `level` (`stable`: how many of
    /// `selected` the heuristic kept before keepPrunedConnections filled
    /// it). In the parallel build a concurrent insertion may already have
    /// linked to it; those links are merged in (re-running the heuristic if
    /// they do not fit).
    fn set_own(
        &self,
        id: u32,
        level: usize,
        selected: &[Scored<u32>],
        stable: usize,
        s: &mut ScratchLists,
    ) {
        let list = self.list(id, level);
        let cap = list.len() - 1;
        loop {
            let header = snapshot(list, s.ids);
            if s.ids.is_empty() {
                if try_store(list, header, selected.iter().map(|c| c.node), stable) {
                    return;
                }
                continue;
            }
            s.cands.clear();
            s.cands.extend_from_slice(selected);
            for &n in s.ids.iter() {
                if n != id && !s.cands.iter().any(|c| c.node == n) {
                    s.cands.push(Scored {
                        dist: self.pair_distance(id, n),
                        node: n,
                    });
                }
            }
            let stored = if s.cands.len() > cap {
                sort_candidates(id, s.cands);
                let stable = self.select(s.cands, cap, false, s.kept, s.pruned);
                try_store(list, header, s.kept.iter().map(|c| c.node), stable)
            } else {
                try_store(list, header, s.cands.iter().map(|c| c.node), 0)
            };
            if stored {
                return;
            }
        }
    }

    /// Adds `new` to `node`'s neighbours on `level`, re-running the
    /// heuristic (without keepPrunedConnections) when the list is full.
    ///
    /// A list the heuristic wrote is *stable*: in distance order, each
    /// element is no closer to an earlier one than to `node`. Appends keep
    /// that prefix (the header records its length), and the next trim only
    /// checks pairs involving an element outside it (`select_flagged`).
    fn link_back(&self, node: u32, new: u32, dist: f32, level: usize, s: &mut ScratchLists) {
        let list = self.list(node, level);
        let cap = list.len() - 1;
        loop {
            let header = snapshot(list, s.ids);
            if s.ids.contains(&new) {
                return;
            }
            if s.ids.len() < cap {
                if try_append(list, header, new) {
                    return;
                }
                continue;
            }
            let stable = stable_len(header);
            s.flagged.clear();
            for (i, &n) in s.ids.iter().enumerate() {
                let dist = self.pair_distance(node, n);
                s.flagged.push((Scored { dist, node: n }, i < stable));
            }
            s.flagged.push((Scored { dist, node: new }, false));
            sort_flagged(node, s.flagged);
            self.select_flagged(s.flagged, cap, s.kept, s.pruned);
            if try_store(list, header, s.kept.iter().map(|c| c.node), s.kept.len()) {
                return;
            }
        }
    }

    /// Makes element `id`'s neighbour code, if the build makes them, and
    /// prepares `s` to bound the searches that link it: before `id` is
    /// linked anywhere (see [`crate::build_codes`]).
    pub(crate) fn code_element(&self, id: u32, s: &mut Scratch) {
        s.link_query = self
            .codes
            .map(|codes| codes.code_element(id, self.vectors.get(id), &mut s.code_buf));
    }

    /// Links element `id` (already stored, with its lists) into
    /// the graph whose entry point is `entry`.
    pub(crate) fn insert(&self, id: u32, entry: (u32, usize), s: &mut Scratch) {
        let level = self.level(id);
        let (entry, top) = entry;
        let query = self.vectors.get(id);
        let m = self.params.m;
        let mut current = Scored {
            dist: self.distance(query, entry),
            node: entry,
        };
        for l in (level + 1..=top).rev() {
            current = self.greedy(query, current, l, s);
        }
        s.entries.clear();
        s.entries.push(current);
        for l in (0..=level.min(top)).rev() {
            self.search_layer(query, self.params.ef_construction, l, s);
            s.found.retain(|x| x.node != id);
            sort_candidates(id, &mut s.found);
            let stable = self.select(&s.found, m, true, &mut s.selected, &mut s.pruned);
            let Scratch {
                selected,
                ids,
                cands,
                flagged,
                kept,
                pruned,
                ..
            } = s;
            let mut lists = ScratchLists {
                ids,
                cands,
                flagged,
                kept,
                pruned,
            };
            self.set_own(id, l, selected, stable, &mut lists);
            for sel in selected.iter() {
                self.link_back(sel.node, id, sel.dist, l, &mut lists);
            }
            if !s.found.is_empty() {
                std::mem::swap(&mut s.entries, &mut s.found);
            }
        }
    }
}

/// The scratch lists the heuristic needs while `selected` is borrowed.
struct ScratchLists<'s> {
    ids: &'s mut Vec<u32>,
    cands: &'s mut Vec<Scored<u32>>,
    flagged: &'s mut Vec<(Scored<u32>, bool)>,
    kept: &'s mut Vec<Scored<u32>>,
    pruned: &'s mut Vec<Scored<u32>>,
}

/// [`sort_candidates`] for flagged candidates (the same order).
fn sort_flagged(base: u32, candidates: &mut [(Scored<u32>, bool)]) {
    candidates.sort_unstable_by(|a, b| {
        a.0.dist
            .total_cmp(&b.0.dist)
            .then_with(|| tie_break(base, a.0.node).cmp(&tie_break(base, b.0.node)))
    });
}
