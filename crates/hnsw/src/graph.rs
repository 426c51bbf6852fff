//! The in-memory HNSW graph: insertion with the paper's neighbour-selection
//! heuristic, and search through the generic [`crate::search`] code.

use std::cell::Cell;
use std::fmt;

use crate::inmem::{
    level0_stride, upper_len, Graph, Scratch, Vectors, COUNT_MASK, MAX_M, STABLE_MASK,
};
use crate::metric::Distance;
use crate::search::{self, GraphView, ScanOrder, Scored, SearchIter};

/// Highest layer an element can be assigned (keeps tuples bounded).
pub const MAX_LEVEL: usize = 15;

/// Build parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HnswParams {
    /// Neighbours per element on layers ≥ 1 (layer 0 keeps `2 * m`).
    pub m: usize,
    /// Beam width while inserting.
    pub ef_construction: usize,
    /// Seed for layer assignment; same seed + same inserts = same graph.
    pub seed: u64,
}

impl Default for HnswParams {
    fn default() -> Self {
        Self {
            m: 16,
            ef_construction: 64,
            seed: 0x5EED_E3BE_2026,
        }
    }
}

impl HnswParams {
    /// Checks the ranges the AM's reloptions allow (m 2..=100,
    /// ef_construction 4..=1000).
    pub fn new_checked(m: usize, ef_construction: usize, seed: u64) -> Result<Self, HnswError> {
        if !(2..=100).contains(&m) {
            return Err(HnswError::BadParameter("m must be between 2 and 100"));
        }
        if !(4..=1000).contains(&ef_construction) {
            return Err(HnswError::BadParameter(
                "ef_construction must be between 4 and 1000",
            ));
        }
        Ok(Self {
            m,
            ef_construction,
            seed,
        })
    }

    /// Neighbour capacity on `level`.
    pub fn max_neighbours(&self, level: usize) -> usize {
        if level == 0 {
            2 * self.m
        } else {
            self.m
        }
    }
}

/// Errors from building a graph.
#[derive(Debug, Clone, PartialEq)]
pub enum HnswError {
    /// The vector's length differs from the graph's.
    DimensionMismatch {
        /// Graph dimensions.
        expected: usize,
        /// Vector dimensions.
        found: usize,
    },
    /// A parameter is out of range.
    BadParameter(&'static str),
    /// The build was cancelled (its `should_stop` check returned true).
    Cancelled,
}

impl fmt::Display for HnswError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DimensionMismatch { expected, found } => {
                write!(f, "expected {expected} dimensions, not {found}")
            }
            Self::BadParameter(why) => f.write_str(why),
            Self::Cancelled => f.write_str("index build cancelled"),
        }
    }
}

impl std::error::Error for HnswError {}

/// SplitMix64: a tiny, well-mixed PRNG step.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The layer of element number `index`: `floor(-ln(U) / ln(m))` with `U`
/// drawn from a hash of `(seed, index)`, so it depends on neither insertion
/// timing nor threads.
pub fn assign_level(seed: u64, index: u64, m: usize) -> usize {
    let bits = splitmix64(seed ^ splitmix64(index));
    let uniform = ((bits >> 11) as f64 + 1.0) / (1u64 << 53) as f64; // (0, 1]
    let level = -uniform.ln() / (m.max(2) as f64).ln();
    (level as usize).min(MAX_LEVEL)
}

/// The tie-break key of candidate `n` for `base`.
pub(crate) fn tie_break(base: u32, n: u32) -> u64 {
    splitmix64((u64::from(base) << 32) | u64::from(n))
}

/// Sorts candidates for `base` closest first, breaking distance ties by a
/// hash of `(base, candidate)`: with many identical vectors every element
/// then keeps a different pseudo-random subset of its twins, so the twins
/// stay connected (a fixed tie order would starve late or early ones).
///
/// The order is total (splitmix64 is a bijection, so distinct elements never
/// tie), hence an unstable sort gives the same result as a stable one.
pub(crate) fn sort_candidates(base: u32, candidates: &mut [Scored<u32>]) {
    candidates.sort_unstable_by(|a, b| {
        a.dist
            .total_cmp(&b.dist)
            .then_with(|| tie_break(base, a.node).cmp(&tie_break(base, b.node)))
    });
}

/// An HNSW graph held in memory; element ids are dense `u32`s in insertion
/// order.
///
/// Vectors are stored end to end (`dims == 0` allows any length, for
/// encodings whose distance function decodes them). Neighbour lists are
/// flat: layer 0 at a fixed stride of `2m + 1` words per element, upper
/// layers `m + 1` words each in a second array (a header holding the count,
/// then the ids).
#[derive(Debug, Clone)]
pub struct Hnsw<D> {
    params: HnswParams,
    metric: D,
    vectors: Vectors,
    /// Layer-0 lists, see [`crate::inmem`] for the layout.
    level0: Vec<u32>,
    /// Upper-layer lists.
    upper: Vec<u32>,
    /// Element `id`'s upper lists are `upper[upper_starts[id]..upper_starts[id + 1]]`.
    upper_starts: Vec<usize>,
    entry: Option<(u32, usize)>,
    scratch: Scratch,
}

impl<D: Distance> Hnsw<D> {
    /// An empty graph of `dims`-dimensional vectors; `dims == 0` accepts
    /// vectors of any length (the distance function must cope).
    ///
    /// # Panics
    ///
    /// If `params.m` is not between 1 and 127 ([`HnswParams::new_checked`]
    /// allows 2 to 100).
    pub fn new(dims: usize, params: HnswParams, metric: D) -> Self {
        assert!(
            (1..=MAX_M).contains(&params.m),
            "m must be between 1 and {MAX_M}"
        );
        Self {
            params,
            metric,
            vectors: Vectors::new(dims),
            level0: Vec::new(),
            upper: Vec::new(),
            upper_starts: vec![0],
            entry: None,
            scratch: Scratch::default(),
        }
    }

    /// A graph built elsewhere (the parallel build) from its parts.
    pub(crate) fn from_parts(
        params: HnswParams,
        metric: D,
        vectors: Vectors,
        level0: Vec<u32>,
        upper: Vec<u32>,
        upper_starts: Vec<usize>,
        entry: Option<(u32, usize)>,
    ) -> Self {
        debug_assert_eq!(upper_starts.len(), vectors.len() + 1);
        debug_assert_eq!(level0.len(), vectors.len() * level0_stride(params.m));
        Self {
            params,
            metric,
            vectors,
            level0,
            upper,
            upper_starts,
            entry,
            scratch: Scratch::default(),
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.upper_starts.len() - 1
    }

    /// Whether the graph has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Vector dimensions (0: variable-length vectors).
    pub fn dims(&self) -> usize {
        self.vectors.dims()
    }

    /// Build parameters.
    pub fn params(&self) -> &HnswParams {
        &self.params
    }

    /// The distance function.
    pub fn metric(&self) -> &D {
        &self.metric
    }

    /// The vector of element `id`.
    pub fn vector(&self, id: u32) -> &[f32] {
        self.vectors.get(id)
    }

    /// Highest level of element `id`.
    pub fn level(&self, id: u32) -> usize {
        let id = id as usize;
        (self.upper_starts[id + 1] - self.upper_starts[id]) / (self.params.m + 1)
    }

    /// Neighbours of `id` on `level` (empty above its level).
    pub fn links(&self, id: u32, level: usize) -> &[u32] {
        if level > self.level(id) {
            return &[];
        }
        let list = self.list(id, level);
        let count = (list[0] & COUNT_MASK) as usize;
        &list[1..1 + count]
    }

    fn pair_distance(&self, a: u32, b: u32) -> f32 {
        self.metric.distance_or_inf(self.vector(a), self.vector(b))
    }

    /// The list (header, then slots) of `id` on `level` (≤ its level).
    fn list(&self, id: u32, level: usize) -> &[u32] {
        let m = self.params.m;
        if level == 0 {
            let at = id as usize * level0_stride(m);
            &self.level0[at..at + level0_stride(m)]
        } else {
            let at = self.upper_starts[id as usize] + (level - 1) * (m + 1);
            &self.upper[at..at + m + 1]
        }
    }

    /// [`Self::list`], writable.
    fn list_mut(&mut self, id: u32, level: usize) -> &mut [u32] {
        let m = self.params.m;
        if level == 0 {
            let at = id as usize * level0_stride(m);
            &mut self.level0[at..at + level0_stride(m)]
        } else {
            let at = self.upper_starts[id as usize] + (level - 1) * (m + 1);
            &mut self.upper[at..at + m + 1]
        }
    }

    /// Bytes the graph's buffers have allocated (vectors, neighbour slots,
    /// block starts, the insertion scratch): what [`crate::estimate_bytes`]
    /// predicts.
    pub fn allocated_bytes(&self) -> usize {
        self.vectors.allocated_bytes()
            + (self.level0.capacity() + self.upper.capacity()) * size_of::<u32>()
            + self.upper_starts.capacity() * size_of::<usize>()
            + self.scratch.allocated_bytes()
    }

    /// Inserts a vector and returns its id. Same seed and same insertion
    /// order give the same graph.
    pub fn insert(&mut self, vector: &[f32]) -> Result<u32, HnswError> {
        let id = self.len() as u32;
        self.vectors.push(vector)?;
        let level = assign_level(self.params.seed, u64::from(id), self.params.m);
        let m = self.params.m;
        self.level0.resize(self.level0.len() + level0_stride(m), 0);
        self.upper.resize(self.upper.len() + upper_len(m, level), 0);
        self.upper_starts.push(self.upper.len());
        let Some(entry) = self.entry else {
            self.entry = Some((id, level));
            return Ok(id);
        };
        let graph = Graph {
            params: &self.params,
            metric: &self.metric,
            vectors: &self.vectors,
            level0: Cell::from_mut(self.level0.as_mut_slice()).as_slice_of_cells(),
            upper: Cell::from_mut(self.upper.as_mut_slice()).as_slice_of_cells(),
            upper_starts: &self.upper_starts,
            codes: None,
        };
        graph.insert(id, entry, &mut self.scratch);
        if level > entry.1 {
            self.entry = Some((id, level));
        }
        Ok(id)
    }

    /// Makes every element reachable from the entry point on every layer
    /// it is on, and returns how many links it added.
    ///
    /// Pruning a full neighbour list can drop an element from every list
    /// that held it (most often among many identical or near-identical
    /// vectors, or with a small `m`), and such an element is never found
    /// again. For each layer, top down, this walks the layer from the entry
    /// point; each element not reached is added to the list of the closest
    /// reached element that can take it: one with a free slot, or else one
    /// whose farthest neighbour is also linked from another reached
    /// element, which it then replaces. Deterministic, and cheap when
    /// nothing needs repairing (one walk per layer).
    pub fn repair_reachability(&mut self) -> usize {
        let Some((entry, top)) = self.entry else {
            return 0;
        };
        let n = self.len();
        let mut added = 0;
        let mut reached = vec![false; n];
        let mut in_reached = vec![0u32; n];
        let mut queue = Vec::new();
        for level in (0..=top).rev() {
            for _pass in 0..8 {
                reached.fill(false);
                in_reached.fill(0);
                self.reach_from(entry, level, &mut reached, &mut in_reached, &mut queue);
                let mut missing = 0;
                for u in 0..n as u32 {
                    if reached[u as usize] || self.level(u) < level {
                        continue;
                    }
                    missing += 1;
                    if self.attach(u, level, &reached, &mut in_reached) {
                        added += 1;
                        self.reach_from(u, level, &mut reached, &mut in_reached, &mut queue);
                    }
                }
                if missing == 0 {
                    break;
                }
            }
        }
        added
    }

    /// Fills each layer-0 list that has room with the closest elements
    /// that link to it and it does not link to yet; returns how many links
    /// it added.
    ///
    /// The heuristic keeps a list short when its candidates shadow one
    /// another, and re-running it on a full list (a back-link) drops the
    /// shadowed ones; hnswlib's lists stay that way. pgvector keeps a list
    /// full instead (keepPrunedConnections on every update), which costs
    /// its build more distances per insert. This fills once at the end,
    /// from the in-links (the elements that chose this one: mostly what a
    /// back-link update pruned): on WordNet (116k x 384, m 16) the average
    /// layer-0 degree went from 22.4 to 25.1 and recall@10 at ef_search 20
    /// from 0.929 to 0.937 (0.943 to 0.951 at 25), for 0.3 s of one
    /// thread; keepPrunedConnections gave 0.940 and 0.955 for 15-25% more
    /// build time. The filled links follow the stable prefix, like appends.
    pub fn fill_from_in_links(&mut self) -> usize {
        let n = self.len();
        let cap = self.params.max_neighbours(0);
        // In-links as one array: `from[starts[v]..starts[v + 1]]` link to `v`.
        let mut starts = vec![0usize; n + 1];
        for u in 0..n as u32 {
            for &v in self.links(u, 0) {
                starts[v as usize + 1] += 1;
            }
        }
        for v in 0..n {
            starts[v + 1] += starts[v];
        }
        let mut from = vec![0u32; starts[n]];
        let mut next = starts.clone();
        for u in 0..n as u32 {
            for &v in self.links(u, 0) {
                from[next[v as usize]] = u;
                next[v as usize] += 1;
            }
        }
        let mut added = 0;
        let mut candidates = Vec::new();
        for v in 0..n as u32 {
            let own = self.links(v, 0);
            if own.len() >= cap {
                continue;
            }
            candidates.clear();
            for &u in &from[starts[v as usize]..starts[v as usize + 1]] {
                if u != v && !own.contains(&u) {
                    candidates.push(Scored {
                        dist: self.pair_distance(v, u),
                        node: u,
                    });
                }
            }
            sort_candidates(v, &mut candidates);
            let list = self.list_mut(v, 0);
            let mut count = (list[0] & COUNT_MASK) as usize;
            for c in candidates.iter().take(cap - count) {
                list[1 + count] = c.node;
                count += 1;
                added += 1;
            }
            list[0] = (list[0] & !COUNT_MASK) | count as u32;
        }
        added
    }

    /// Marks what `start` reaches on `level`, counting for each element the
    /// reached elements that link to it.
    fn reach_from(
        &self,
        start: u32,
        level: usize,
        reached: &mut [bool],
        in_reached: &mut [u32],
        queue: &mut Vec<u32>,
    ) {
        if reached[start as usize] {
            return;
        }
        reached[start as usize] = true;
        queue.clear();
        queue.push(start);
        while let Some(id) = queue.pop() {
            for &nb in self.links(id, level) {
                in_reached[nb as usize] += 1;
                if !reached[nb as usize] {
                    reached[nb as usize] = true;
                    queue.push(nb);
                }
            }
        }
    }

    /// Links unreached `u` from a reached element on `level` (see
    /// [`Self::repair_reachability`]); false if none could take it.
    fn attach(&mut self, u: u32, level: usize, reached: &[bool], in_reached: &mut [u32]) -> bool {
        let query = self.vector(u).to_vec();
        // Candidates: u's own reached neighbours (selected for it, closest
        // first), then the reached elements a search finds.
        let mut candidates: Vec<Scored<u32>> = self
            .links(u, level)
            .iter()
            .filter(|&&r| reached[r as usize])
            .map(|&r| Scored {
                dist: self.pair_distance(u, r),
                node: r,
            })
            .collect();
        let start = search::descend(&*self, &query, level).expect("graph is not empty");
        let found =
            search::search_layer(&*self, &query, &[start], self.params.ef_construction, level);
        candidates.extend(
            found
                .into_iter()
                .filter(|s| s.node != u && reached[s.node as usize]),
        );
        let cap = self.params.max_neighbours(level);
        // First a reached element with room, then one with a replaceable
        // neighbour.
        for &r in &candidates {
            if self.links(r.node, level).len() < cap {
                let list = self.list_mut(r.node, level);
                let count = (list[0] & COUNT_MASK) as usize;
                list[1 + count] = u;
                list[0] = (list[0] & !(COUNT_MASK | STABLE_MASK)) | (count as u32 + 1);
                in_reached[u as usize] += 1;
                return true;
            }
        }
        for &r in &candidates {
            let victim = self
                .links(r.node, level)
                .iter()
                .enumerate()
                .filter(|&(_, &w)| in_reached[w as usize] >= 2)
                .map(|(at, &w)| (self.pair_distance(r.node, w), at, w))
                .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(&a.1)));
            if let Some((_, at, w)) = victim {
                in_reached[w as usize] -= 1;
                let list = self.list_mut(r.node, level);
                list[1 + at] = u;
                list[0] &= !STABLE_MASK;
                in_reached[u as usize] += 1;
                return true;
            }
        }
        false
    }

    /// The `k` nearest elements with beam width `ef` (at least `k`),
    /// closest first, as `(id, distance)`.
    pub fn search(&self, query: &[f32], k: usize, ef: usize) -> Vec<(u32, f32)> {
        search::knn(self, query, k, ef)
            .into_iter()
            .map(|s| (s.node, s.dist))
            .collect()
    }

    /// An incremental scan (see [`SearchIter`]).
    pub fn search_iter(&self, query: &[f32], ef: usize, order: ScanOrder) -> SearchIter<'_, Self> {
        SearchIter::new(self, query, ef, order)
    }
}

impl<D: Distance> GraphView for Hnsw<D> {
    type Node = u32;

    fn entry_point(&self) -> Option<(u32, usize)> {
        self.entry
    }

    fn distance(&self, query: &[f32], node: u32) -> f32 {
        self.metric.distance_or_inf(query, self.vector(node))
    }

    fn neighbours(&self, node: u32, level: usize, out: &mut Vec<u32>) {
        out.clear();
        out.extend_from_slice(self.links(node, level));
    }
}
