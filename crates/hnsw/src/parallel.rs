//! The parallel index build: all vectors are collected first
//! ([`ParallelBuilder::push`]), then linked on a rayon pool
//! ([`ParallelBuilder::build`]) into a concurrent graph that becomes an
//! ordinary [`Hnsw`] for `ondisk::write_graph`.
//!
//! - Levels come from [`assign_level`]`(seed, id, m)`, as in the serial
//!   graph, and so are known up front: every element's block of neighbour
//!   slots is allocated once and never moves.
//! - Each neighbour list has its own lock, a sequence lock in its header
//!   word: readers copy a list without writing to it and retry if it
//!   changed; a writer computes the new list unlocked from such a copy and
//!   stores it under the lock only if the list did not change meanwhile. A
//!   thread holds at most one lock, for a few stores, and never waits while
//!   holding one, so there is no deadlock (see `inmem`). The entry point is
//!   behind an `RwLock`.
//! - The first few hundred elements and all elements of the highest layers
//!   (as many as 1% of the elements) are inserted serially first, so the top
//!   of the graph is complete and the entry point final before the
//!   threads start; the rest are inserted in parallel, in id order, in
//!   small chunks.
//! - The insertion itself (beam search, heuristic with
//!   keepPrunedConnections, hash tie-breaks) is the serial graph's code.
//!
//! The result depends on thread timing, so unlike [`Hnsw::insert`] it is not
//! deterministic (with one thread it is).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::RwLock;

use crate::build_codes::{BuildCodes, BuildCoding, ElementCodes};
use crate::graph::{assign_level, Hnsw, HnswError, HnswParams, MAX_LEVEL};
use crate::inmem::{level0_stride, upper_len, Graph, Scratch, Vectors, MAX_M};
use crate::metric::Distance;

/// Elements a worker claims at a time.
const CHUNK: usize = 16;
/// Progress is reported every this many elements.
const PROGRESS_EVERY: usize = 1_000;
/// The serial phase inserts at least the first this many elements.
const SERIAL_PREFIX: usize = 256;

/// Expected peak bytes of building a graph of `n` vectors of
/// `words_per_vector` `f32` words with `m`, from the collected vectors to
/// the finished [`Hnsw`] (which keeps all but the build-only part):
///
/// - the vectors, `4 · words_per_vector` bytes each, plus an 8-byte offset
///   (variable-length vectors only, counted anyway);
/// - the layer-0 list, `4 · (2m + 1)`, and the upper lists, `4 · (m + 1)`
///   per upper layer, `1 / (m - 1)` upper layers on average;
/// - 8 bytes locating the upper lists;
/// - build only: the insertion order (4) and levels (1), and the visited
///   stamps of two threads (2 each; add `2n` per further thread).
///
/// That is what the structures really allocate when the vectors were
/// [`ParallelBuilder::reserve`]d; without it the vector buffer may have
/// grown to up to twice its need ([`ParallelBuilder::allocated_bytes`]
/// tells).
pub fn estimate_bytes(n: usize, words_per_vector: usize, m: usize) -> usize {
    let m = m.max(2) as f64;
    let per_element = 4.0 * words_per_vector as f64
        + 8.0
        + 4.0 * (2.0 * m + 1.0)
        + 4.0 * (m + 1.0) / (m - 1.0)
        + 8.0
        + (4.0 + 1.0 + 2.0 * 2.0);
    (n as f64 * per_element).ceil() as usize
}

/// Collects vectors, then builds the graph on several threads.
///
/// ```
/// use hnsw::{HnswParams, ParallelBuilder, L2};
/// let mut b = ParallelBuilder::new(2, HnswParams::default(), L2);
/// for i in 0..100 {
///     b.push(&[i as f32, 1.0]).unwrap();
/// }
/// let graph = b.build(2, &|| false).unwrap();
/// assert_eq!(graph.search(&[3.0, 1.0], 1, 10)[0].0, 3);
/// ```
#[derive(Debug, Clone)]
pub struct ParallelBuilder<D> {
    params: HnswParams,
    metric: D,
    vectors: Vectors,
}

impl<D: Distance> ParallelBuilder<D> {
    /// An empty builder of `dims`-dimensional vectors (`dims == 0`: any
    /// length, as [`Hnsw::new`]).
    ///
    /// # Panics
    ///
    /// If `params.m` is not between 1 and 127, as [`Hnsw::new`].
    pub fn new(dims: usize, params: HnswParams, metric: D) -> Self {
        assert!(
            (1..=MAX_M).contains(&params.m),
            "m must be between 1 and {MAX_M}"
        );
        Self {
            params,
            metric,
            vectors: Vectors::new(dims),
        }
    }

    /// A builder holding `data`, vectors of `dims > 0` words end to end
    /// (ids in that order), without copying them.
    ///
    /// # Panics
    ///
    /// If `params.m` is not between 1 and 127, as [`Hnsw::new`].
    pub fn from_flat(dims: usize, params: HnswParams, metric: D, data: Vec<f32>) -> Result<Self, HnswError> {
        let mut builder = Self::new(dims, params, metric);
        builder.vectors = Vectors::from_flat(dims, data)?;
        Ok(builder)
    }

    /// Adds a vector; ids are dense in push order, as in [`Hnsw::insert`].
    pub fn push(&mut self, vector: &[f32]) -> Result<u32, HnswError> {
        let id = self.vectors.len() as u32;
        self.vectors.push(vector)?;
        Ok(id)
    }

    /// Reserves room for `vectors` more vectors of `words_per_vector` words
    /// (e.g. from the relation's estimated row count).
    pub fn reserve(&mut self, vectors: usize, words_per_vector: usize) {
        self.vectors.reserve(vectors, words_per_vector);
    }

    /// Number of vectors pushed.
    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    /// Whether no vector was pushed.
    pub fn is_empty(&self) -> bool {
        self.vectors.len() == 0
    }

    /// Vector dimensions (0: variable length).
    pub fn dims(&self) -> usize {
        self.vectors.dims()
    }

    /// Every vector pushed, end to end, when the dimensions are fixed.
    pub fn flat_vectors(&self) -> Option<&[f32]> {
        self.vectors.flat()
    }

    /// Bytes allocated so far for the collected vectors (capacities); the
    /// build then adds about [`estimate_bytes`] minus the vectors.
    pub fn allocated_bytes(&self) -> usize {
        self.vectors.allocated_bytes()
    }

    /// Builds the graph on `threads` threads (0: one per core), polling
    /// `should_stop` every few elements: when it returns true the build
    /// stops and returns [`HnswError::Cancelled`].
    pub fn build(
        self,
        threads: usize,
        should_stop: &(dyn Fn() -> bool + Sync),
    ) -> Result<Hnsw<D>, HnswError> {
        self.build_with_progress(threads, should_stop, &|_| {})
    }

    /// [`build`](Self::build), calling `progress(done)` with the number of
    /// elements inserted so far every 1,000 elements and at the end. Both
    /// callbacks run on any of the build's threads.
    pub fn build_with_progress(
        self,
        threads: usize,
        should_stop: &(dyn Fn() -> bool + Sync),
        progress: &(dyn Fn(usize) + Sync),
    ) -> Result<Hnsw<D>, HnswError> {
        self.build_inner(threads, should_stop, progress, None)
            .map(|(graph, _)| graph)
    }

    /// [`build_with_progress`](Self::build_with_progress), also making
    /// every element's neighbour code with `coding` and bounding the
    /// insert searches with them ([`crate::build_codes`]): fewer distances,
    /// and the codes the pages get. `coding`'s kind must bound this
    /// graph's distance (squared L2, or cosine distance).
    pub fn build_coded(
        self,
        threads: usize,
        should_stop: &(dyn Fn() -> bool + Sync),
        progress: &(dyn Fn(usize) + Sync),
        coding: BuildCoding<'_>,
    ) -> Result<(Hnsw<D>, ElementCodes), HnswError> {
        if coding.values.is_none() && self.vectors.dims() != coding.coder.centroid().len() {
            return Err(HnswError::BadParameter("the coder must have the vectors' dimensions"));
        }
        let codes = BuildCodes::new(coding, self.vectors.len())?;
        let (graph, codes) = self.build_inner(threads, should_stop, progress, Some(codes))?;
        Ok((graph, codes.expect("given").into_codes()))
    }

    fn build_inner<'v>(
        self,
        threads: usize,
        should_stop: &(dyn Fn() -> bool + Sync),
        progress: &(dyn Fn(usize) + Sync),
        codes: Option<BuildCodes<'v>>,
    ) -> Result<(Hnsw<D>, Option<BuildCodes<'v>>), HnswError> {
        let Self {
            params,
            metric,
            vectors,
        } = self;
        let n = vectors.len();
        let m = params.m;
        let levels: Vec<u8> = (0..n as u64)
            .map(|id| assign_level(params.seed, id, m) as u8)
            .collect();
        let mut upper_starts = Vec::with_capacity(n + 1);
        upper_starts.push(0usize);
        let mut total = 0;
        for &level in &levels {
            total += upper_len(m, usize::from(level));
            upper_starts.push(total);
        }
        let level0: Vec<AtomicU32> = (0..n * level0_stride(m))
            .map(|_| AtomicU32::new(0))
            .collect();
        let upper: Vec<AtomicU32> = (0..total).map(|_| AtomicU32::new(0)).collect();
        let (serial, rest) = insertion_order(&levels);
        drop(levels);

        let graph = Graph {
            params: &params,
            metric: &metric,
            vectors: &vectors,
            level0: &level0,
            upper: &upper,
            upper_starts: &upper_starts,
            codes: codes.as_ref(),
        };
        let state = State {
            graph,
            entry: RwLock::new(None),
            done: AtomicUsize::new(0),
            stopped: AtomicBool::new(false),
            should_stop,
            progress,
        };

        // Serial phase: the top of the graph.
        let mut scratch = Scratch::with_capacity(n);
        for chunk in serial.chunks(CHUNK) {
            if state.poll_stop() {
                return Err(HnswError::Cancelled);
            }
            for &id in chunk {
                state.insert(id, &mut scratch);
            }
        }

        // Parallel phase.
        let threads = if threads == 0 {
            std::thread::available_parallelism().map_or(1, usize::from)
        } else {
            threads
        };
        let next = AtomicUsize::new(0);
        let work = |scratch: &mut Scratch| loop {
            let at = next.fetch_add(CHUNK, Ordering::Relaxed);
            if at >= rest.len() || state.poll_stop() {
                return;
            }
            for &id in &rest[at..(at + CHUNK).min(rest.len())] {
                state.insert(id, scratch);
            }
        };
        let pool = if threads > 1 && rest.len() > CHUNK {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("ember-hnsw-build-{i}"))
                .build()
                .ok()
        } else {
            None
        };
        match pool {
            Some(pool) => {
                drop(scratch);
                pool.broadcast(|_| work(&mut Scratch::with_capacity(n)));
            }
            None => work(&mut scratch),
        }
        if state.stopped.load(Ordering::Relaxed) {
            return Err(HnswError::Cancelled);
        }
        progress(n);
        let entry = *state.entry.read().expect("no panic while holding it");
        let level0: Vec<u32> = level0.into_iter().map(AtomicU32::into_inner).collect();
        let upper: Vec<u32> = upper.into_iter().map(AtomicU32::into_inner).collect();
        let mut graph =
            Hnsw::from_parts(params, metric, vectors, level0, upper, upper_starts, entry);
        graph.fill_from_in_links();
        graph.repair_reachability();
        Ok((graph, codes))
    }
}

/// Splits the ids into the serial phase (the first [`SERIAL_PREFIX`] and
/// every element on a layer at least `top`, where `top` is the lowest layer
/// ≥ 1 holding at most 1% of the elements, at least [`SERIAL_PREFIX`]) and
/// the rest, each in id order.
fn insertion_order(levels: &[u8]) -> (Vec<u32>, Vec<u32>) {
    let budget = SERIAL_PREFIX.max(levels.len() / 100);
    let mut at_least = [0usize; MAX_LEVEL + 2];
    for &level in levels {
        at_least[usize::from(level)] += 1;
    }
    for l in (0..=MAX_LEVEL).rev() {
        at_least[l] += at_least[l + 1];
    }
    let top = (1..=MAX_LEVEL + 1)
        .find(|&l| at_least[l] <= budget)
        .unwrap_or(MAX_LEVEL + 1);
    let (mut serial, mut rest) = (Vec::new(), Vec::with_capacity(levels.len()));
    for (id, &level) in levels.iter().enumerate() {
        if id < SERIAL_PREFIX || usize::from(level) >= top {
            serial.push(id as u32);
        } else {
            rest.push(id as u32);
        }
    }
    (serial, rest)
}

/// What the build's threads share.
struct State<'a, D> {
    graph: Graph<'a, D, AtomicU32>,
    entry: RwLock<Option<(u32, usize)>>,
    done: AtomicUsize,
    stopped: AtomicBool,
    should_stop: &'a (dyn Fn() -> bool + Sync),
    progress: &'a (dyn Fn(usize) + Sync),
}

impl<D: Distance> State<'_, D> {
    /// Whether to stop: asks `should_stop` and tells the other threads.
    fn poll_stop(&self) -> bool {
        if self.stopped.load(Ordering::Relaxed) {
            return true;
        }
        if (self.should_stop)() {
            self.stopped.store(true, Ordering::Relaxed);
            return true;
        }
        false
    }

    fn insert(&self, id: u32, scratch: &mut Scratch) {
        self.graph.code_element(id, scratch);
        let level = self.graph.level(id);
        let entry = *self.entry.read().expect("no panic while holding it");
        match entry {
            None => {
                let mut entry = self.entry.write().expect("no panic while holding it");
                match *entry {
                    None => *entry = Some((id, level)),
                    Some(e) => {
                        drop(entry);
                        self.link(id, level, e, scratch);
                    }
                }
            }
            Some(e) => self.link(id, level, e, scratch),
        }
        let done = self.done.fetch_add(1, Ordering::Relaxed) + 1;
        if done.is_multiple_of(PROGRESS_EVERY) {
            (self.progress)(done);
        }
    }

    fn link(&self, id: u32, level: usize, entry: (u32, usize), scratch: &mut Scratch) {
        self.graph.insert(id, entry, scratch);
        if level > entry.1 {
            let mut e = self.entry.write().expect("no panic while holding it");
            if e.is_none_or(|(_, top)| level > top) {
                *e = Some((id, level));
            }
        }
    }
}
