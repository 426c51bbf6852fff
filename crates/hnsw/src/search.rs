//! Graph search, generic over where the graph lives ([`GraphView`]):
//! greedy descent through the upper layers, beam search on a layer, and
//! [`SearchIter`], the incremental layer-0 scan used by iterative scans.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A read-only view of an HNSW graph: the in-memory [`crate::Hnsw`] or a
/// graph on pages ([`crate::ondisk::PageGraph`]).
pub trait GraphView {
    /// Identifies an element (a dense id in memory, a TID on pages).
    type Node: Copy + Eq + Hash;

    /// The entry point and its level, or `None` for an empty graph.
    fn entry_point(&self) -> Option<(Self::Node, usize)>;

    /// Distance from `query` to the element's vector (NaN mapped to `+inf`).
    fn distance(&self, query: &[f32], node: Self::Node) -> f32;

    /// Replaces `out` with the element's neighbours on `level` (empty if
    /// the element has no such level).
    fn neighbours(&self, node: Self::Node, level: usize, out: &mut Vec<Self::Node>);

    /// Replaces `out` with the distances from `query` to each of `nodes`,
    /// in order. One by one here; a view over pages overrides it to
    /// overlap the memory reads of several elements.
    fn distances(&self, query: &[f32], nodes: &[Self::Node], out: &mut Vec<f32>) {
        out.clear();
        out.extend(nodes.iter().map(|&n| self.distance(query, n)));
    }

    /// [`GraphView::neighbours`], keeping only those for which `fresh`
    /// returns true (called once per neighbour, in list order: a search
    /// passes its visited-set insert), with `bounds[i]` a lower bound on
    /// the distance from `query` to `out[i]` (with high probability;
    /// `-inf` when none is known, as here). A view that stores compact
    /// codes of the neighbours next to the list overrides it, so a search
    /// can skip reading the elements that could not enter its results; it
    /// bounds only the fresh ones (about half of a list is already seen).
    fn neighbours_bounded(
        &self,
        query: &[f32],
        node: Self::Node,
        level: usize,
        fresh: &mut dyn FnMut(Self::Node) -> bool,
        out: &mut Vec<Self::Node>,
        bounds: &mut Vec<f32>,
    ) {
        let _ = query;
        self.neighbours(node, level, out);
        out.retain(|&n| fresh(n));
        bounds.clear();
        bounds.resize(out.len(), f32::NEG_INFINITY);
    }
}

/// Keeps in `nodes` those whose bound is below `worst` (all while it is
/// `None`); the others are passed to `skipped` with their bound.
fn keep_below<N: Copy>(nodes: &mut Vec<N>, bounds: &[f32], worst: Option<f32>, mut skipped: impl FnMut(Scored<N>)) {
    let mut kept = 0;
    for i in 0..nodes.len() {
        let node = nodes[i];
        match worst {
            Some(w) if bounds[i] >= w => skipped(Scored { dist: bounds[i], node }),
            _ => {
                nodes[kept] = node;
                kept += 1;
            }
        }
    }
    nodes.truncate(kept);
}

/// The distance an element must beat to enter `results` once it holds
/// `ef` of them; `None` while it has room.
fn entry_threshold<N>(results: &BinaryHeap<Scored<N>>, ef: usize) -> Option<f32> {
    if results.len() >= ef {
        results.peek().map(|w| w.dist)
    } else {
        None
    }
}

/// An element with its distance to the query, ordered by distance.
#[derive(Debug, Clone, Copy)]
pub struct Scored<N> {
    /// Distance to the query.
    pub dist: f32,
    /// The element.
    pub node: N,
}

impl<N> PartialEq for Scored<N> {
    fn eq(&self, other: &Self) -> bool {
        self.dist.total_cmp(&other.dist) == Ordering::Equal
    }
}
impl<N> Eq for Scored<N> {}
impl<N> PartialOrd for Scored<N> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<N> Ord for Scored<N> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.dist.total_cmp(&other.dist)
    }
}

/// FxHash (rustc's hasher): fast for the small integer keys of visited sets.
#[derive(Debug, Default, Clone, Copy)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A hash set of visited elements.
pub type VisitedSet<N> = HashSet<N, BuildHasherDefault<FxHasher>>;

/// A visited set sized for a beam of `ef` (a search visits a few dozen
/// elements per beam slot), so it does not rehash as it grows.
fn visited_for<N>(ef: usize) -> VisitedSet<N> {
    VisitedSet::with_capacity_and_hasher(ef.clamp(8, 1000) * 32, BuildHasherDefault::default())
}

/// Greedy descent on one layer: moves to the closest neighbour while that
/// improves the distance (beam width 1). A neighbour whose lower bound
/// ([`GraphView::neighbours_bounded`]) is not below the current distance
/// could not improve it and is not read.
pub fn greedy_layer<G: GraphView>(
    graph: &G,
    query: &[f32],
    start: Scored<G::Node>,
    level: usize,
) -> Scored<G::Node> {
    let mut current = start;
    let (mut buf, mut dists, mut bounds) = (Vec::new(), Vec::new(), Vec::new());
    loop {
        graph.neighbours_bounded(query, current.node, level, &mut |_| true, &mut buf, &mut bounds);
        let mut kept = 0;
        for i in 0..buf.len() {
            // Read unless the bound rules it out (a NaN bound rules nothing out).
            if bounds[i] < current.dist || bounds[i].is_nan() {
                buf[kept] = buf[i];
                kept += 1;
            }
        }
        buf.truncate(kept);
        graph.distances(query, &buf, &mut dists);
        let mut moved = false;
        for (&n, &dist) in buf.iter().zip(&dists) {
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

/// Greedy descent from the entry point down to (not into) `stop_level`:
/// returns the closest element found on `stop_level + 1`, or `None` for an
/// empty graph.
pub fn descend<G: GraphView>(
    graph: &G,
    query: &[f32],
    stop_level: usize,
) -> Option<Scored<G::Node>> {
    let (entry, top) = graph.entry_point()?;
    let mut current = Scored {
        dist: graph.distance(query, entry),
        node: entry,
    };
    for level in (stop_level + 1..=top).rev() {
        current = greedy_layer(graph, query, current, level);
    }
    Some(current)
}

/// Beam search on `level` from `entries` (Algorithm 2 of the paper):
/// returns up to `ef` closest elements found, sorted by distance. A
/// neighbour whose lower bound ([`GraphView::neighbours_bounded`]) is not
/// below the worst of `ef` results could not enter them and is not read.
pub fn search_layer<G: GraphView>(
    graph: &G,
    query: &[f32],
    entries: &[Scored<G::Node>],
    ef: usize,
    level: usize,
) -> Vec<Scored<G::Node>> {
    let ef = ef.max(1);
    let mut visited = visited_for(ef);
    let mut candidates = BinaryHeap::new();
    let mut results: BinaryHeap<Scored<G::Node>> = BinaryHeap::new();
    for &e in entries {
        if visited.insert(e.node) {
            candidates.push(Reverse(e));
            results.push(e);
        }
    }
    while results.len() > ef {
        results.pop();
    }
    let (mut buf, mut dists, mut bounds) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(Reverse(c)) = candidates.pop() {
        if results.len() >= ef && results.peek().is_some_and(|w| c.dist > w.dist) {
            break;
        }
        graph.neighbours_bounded(query, c.node, level, &mut |n| visited.insert(n), &mut buf, &mut bounds);
        let worst = entry_threshold(&results, ef);
        keep_below(&mut buf, &bounds, worst, |_| {});
        graph.distances(query, &buf, &mut dists);
        for (&n, &dist) in buf.iter().zip(&dists) {
            if results.len() < ef || results.peek().is_some_and(|w| dist < w.dist) {
                candidates.push(Reverse(Scored { dist, node: n }));
                results.push(Scored { dist, node: n });
                if results.len() > ef {
                    results.pop();
                }
            }
        }
    }
    results.into_sorted_vec()
}

/// k nearest neighbours with beam width `ef` (at least `k`), closest first.
pub fn knn<G: GraphView>(graph: &G, query: &[f32], k: usize, ef: usize) -> Vec<Scored<G::Node>> {
    let Some(entry) = descend(graph, query, 0) else {
        return Vec::new();
    };
    let mut found = search_layer(graph, query, &[entry], ef.max(k), 0);
    found.truncate(k);
    found
}

/// How an iterative scan orders results across batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanOrder {
    /// Every element found is returned; each batch of `ef` is sorted, but a
    /// later batch may hold an element closer than the last one returned.
    Relaxed,
    /// Distances never decrease: elements closer than the last one
    /// returned (found in a later batch) are skipped.
    Strict,
}

/// An incremental layer-0 scan: yields `(node, distance)` closest first,
/// one sorted batch of `ef` at a time; after the first batch (exactly the
/// result of an `ef` beam search) it resumes the beam search from the
/// elements it has seen but not returned, until the graph is exhausted.
/// The caller bounds it (LIMIT, `hnsw_max_scan_tuples`).
pub struct SearchIter<'g, G: GraphView> {
    graph: &'g G,
    query: Vec<f32>,
    ef: usize,
    order: ScanOrder,
    started: bool,
    visited: VisitedSet<G::Node>,
    expanded: VisitedSet<G::Node>,
    frontier: BinaryHeap<Reverse<Scored<G::Node>>>,
    spill: BinaryHeap<Reverse<Scored<G::Node>>>,
    /// Elements seen but not read (their bound kept them out of a full
    /// batch), by lower bound: read when a later batch reaches it.
    deferred: BinaryHeap<Reverse<Scored<G::Node>>>,
    batch: Vec<Scored<G::Node>>,
    last: f32,
}

impl<'g, G: GraphView> SearchIter<'g, G> {
    /// Starts a scan for `query` with batch (beam) width `ef`.
    pub fn new(graph: &'g G, query: &[f32], ef: usize, order: ScanOrder) -> Self {
        Self {
            graph,
            query: query.to_vec(),
            ef: ef.max(1),
            order,
            started: false,
            visited: visited_for(ef),
            expanded: VisitedSet::default(),
            frontier: BinaryHeap::new(),
            spill: BinaryHeap::new(),
            deferred: BinaryHeap::new(),
            batch: Vec::new(),
            last: f32::NEG_INFINITY,
        }
    }

    /// Number of elements whose distance was computed so far.
    pub fn visited_count(&self) -> usize {
        self.visited.len()
    }

    fn start(&mut self) {
        self.started = true;
        if let Some(entry) = descend(self.graph, &self.query, 0) {
            self.visited.insert(entry.node);
            self.spill.push(Reverse(entry));
        }
    }

    /// Reads the deferred elements whose bound is below the closest
    /// spilled distance, moving them to the spill with their distance.
    fn settle_deferred(&mut self) {
        while let Some(&Reverse(d)) = self.deferred.peek() {
            if self.spill.peek().is_some_and(|Reverse(s)| s.dist <= d.dist) {
                return;
            }
            self.deferred.pop();
            let dist = self.graph.distance(&self.query, d.node);
            self.spill.push(Reverse(Scored { dist, node: d.node }));
        }
    }

    /// Runs one more beam search round; false when nothing is left.
    fn refill(&mut self) -> bool {
        if !self.started {
            self.start();
        }
        let mut results: BinaryHeap<Scored<G::Node>> = BinaryHeap::new();
        while results.len() < self.ef {
            self.settle_deferred();
            let Some(Reverse(s)) = self.spill.pop() else {
                break;
            };
            if !self.expanded.contains(&s.node) {
                self.frontier.push(Reverse(s));
            }
            results.push(s);
        }
        let (mut buf, mut dists, mut bounds) = (Vec::new(), Vec::new(), Vec::new());
        while let Some(&Reverse(c)) = self.frontier.peek() {
            if results.len() >= self.ef && results.peek().is_some_and(|w| c.dist > w.dist) {
                break;
            }
            self.frontier.pop();
            if !self.expanded.insert(c.node) {
                continue;
            }
            let visited = &mut self.visited;
            self.graph.neighbours_bounded(&self.query, c.node, 0, &mut |n| visited.insert(n), &mut buf, &mut bounds);
            let worst = entry_threshold(&results, self.ef);
            let deferred = &mut self.deferred;
            keep_below(&mut buf, &bounds, worst, |s| {
                deferred.push(Reverse(s));
            });
            self.graph.distances(&self.query, &buf, &mut dists);
            for (&node, &dist) in buf.iter().zip(&dists) {
                self.offer(&mut results, Scored { dist, node });
            }
        }
        self.batch = results.into_sorted_vec();
        self.batch.reverse();
        !self.batch.is_empty()
    }

    fn offer(&mut self, results: &mut BinaryHeap<Scored<G::Node>>, s: Scored<G::Node>) {
        if results.len() < self.ef || results.peek().is_some_and(|w| s.dist < w.dist) {
            self.frontier.push(Reverse(s));
            results.push(s);
            if results.len() > self.ef {
                let evicted = results.pop().expect("non-empty");
                self.spill.push(Reverse(evicted));
            }
        } else {
            self.spill.push(Reverse(s));
        }
    }
}

impl<G: GraphView> Iterator for SearchIter<'_, G> {
    type Item = (G::Node, f32);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(s) = self.batch.pop() {
                if self.order == ScanOrder::Strict && s.dist < self.last {
                    continue;
                }
                self.last = s.dist;
                return Some((s.node, s.dist));
            }
            if !self.refill() {
                return None;
            }
        }
    }
}
