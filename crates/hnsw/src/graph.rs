//! The in-memory HNSW graph: insertion with the paper's neighbour-selection
//! heuristic, and search through the generic [`crate::search`] code.

use std::fmt;

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
}

impl fmt::Display for HnswError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DimensionMismatch { expected, found } => {
                write!(f, "expected {expected} dimensions, not {found}")
            }
            Self::BadParameter(why) => f.write_str(why),
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

/// Sorts candidates for `base` closest first, breaking distance ties by a
/// hash of `(base, candidate)`: with many identical vectors every element
/// then keeps a different pseudo-random subset of its twins, so the twins
/// stay connected (a fixed tie order would starve late or early ones).
fn sort_candidates(base: u32, candidates: &mut [Scored<u32>]) {
    let tie = |n: u32| splitmix64((u64::from(base) << 32) | u64::from(n));
    candidates.sort_by(|a, b| {
        a.dist
            .total_cmp(&b.dist)
            .then_with(|| tie(a.node).cmp(&tie(b.node)))
    });
}

/// An HNSW graph held in memory; element ids are dense `u32`s in insertion
/// order.
#[derive(Debug, Clone)]
pub struct Hnsw<D> {
    params: HnswParams,
    metric: D,
    dims: usize,
    vectors: Vec<f32>,
    /// `links[id][level]`: neighbour ids, closest first when selected.
    links: Vec<Vec<Vec<u32>>>,
    entry: Option<(u32, usize)>,
}

impl<D: Distance> Hnsw<D> {
    /// An empty graph of `dims`-dimensional vectors.
    pub fn new(dims: usize, params: HnswParams, metric: D) -> Self {
        Self {
            params,
            metric,
            dims,
            vectors: Vec::new(),
            links: Vec::new(),
            entry: None,
        }
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.links.len()
    }

    /// Whether the graph has no elements.
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    /// Vector dimensions.
    pub fn dims(&self) -> usize {
        self.dims
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
        let at = id as usize * self.dims;
        &self.vectors[at..at + self.dims]
    }

    /// Highest level of element `id`.
    pub fn level(&self, id: u32) -> usize {
        self.links[id as usize].len() - 1
    }

    /// Neighbours of `id` on `level` (empty above its level).
    pub fn links(&self, id: u32, level: usize) -> &[u32] {
        self.links[id as usize]
            .get(level)
            .map_or(&[], Vec::as_slice)
    }

    fn pair_distance(&self, a: u32, b: u32) -> f32 {
        self.metric.distance_or_inf(self.vector(a), self.vector(b))
    }

    /// Inserts a vector and returns its id.
    pub fn insert(&mut self, vector: &[f32]) -> Result<u32, HnswError> {
        if vector.len() != self.dims {
            return Err(HnswError::DimensionMismatch {
                expected: self.dims,
                found: vector.len(),
            });
        }
        let id = self.links.len() as u32;
        let level = assign_level(self.params.seed, u64::from(id), self.params.m);
        self.vectors.extend_from_slice(vector);
        self.links.push(vec![Vec::new(); level + 1]);
        let Some((_, top)) = self.entry else {
            self.entry = Some((id, level));
            return Ok(id);
        };
        let query = self.vector(id).to_vec();
        let mut entries = vec![search::descend(&*self, &query, level).expect("graph is not empty")];
        for l in (0..=level.min(top)).rev() {
            let found =
                search::search_layer(&*self, &query, &entries, self.params.ef_construction, l);
            let mut found: Vec<_> = found.into_iter().filter(|s| s.node != id).collect();
            sort_candidates(id, &mut found);
            let selected = self.select_neighbours(&found, self.params.m, true);
            self.links[id as usize][l] = selected.iter().map(|s| s.node).collect();
            for s in &selected {
                self.link_back(s.node, id, s.dist, l);
            }
            if !found.is_empty() {
                entries = found;
            }
        }
        if level > top {
            self.entry = Some((id, level));
        }
        Ok(id)
    }

    /// The neighbour-selection heuristic (Algorithm 4 of the paper, without
    /// candidate extension): walking `candidates` closest first, keeps one
    /// only if it is at least as close to the base element as to every
    /// neighbour kept so far, up to `m`. With `keep_pruned` the remaining
    /// slots are filled with the closest pruned candidates (the paper's
    /// keepPrunedConnections), which keeps "shadowed" elements reachable.
    fn select_neighbours(
        &self,
        candidates: &[Scored<u32>],
        m: usize,
        keep_pruned: bool,
    ) -> Vec<Scored<u32>> {
        let mut kept: Vec<Scored<u32>> = Vec::with_capacity(m);
        let mut pruned = Vec::new();
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
        let room = m - kept.len();
        kept.extend(pruned.into_iter().take(room));
        kept
    }

    /// Adds `new` to `node`'s neighbours on `level`, re-running the
    /// heuristic when the list is full.
    fn link_back(&mut self, node: u32, new: u32, dist: f32, level: usize) {
        let capacity = self.params.max_neighbours(level);
        let list = &self.links[node as usize][level];
        if list.len() < capacity {
            self.links[node as usize][level].push(new);
            return;
        }
        let mut candidates: Vec<Scored<u32>> = list
            .iter()
            .map(|&n| Scored {
                dist: self.pair_distance(node, n),
                node: n,
            })
            .chain(std::iter::once(Scored { dist, node: new }))
            .collect();
        sort_candidates(node, &mut candidates);
        let kept = self.select_neighbours(&candidates, capacity, false);
        self.links[node as usize][level] = kept.iter().map(|s| s.node).collect();
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
