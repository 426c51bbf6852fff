//! Searching the graph on pages through [`RelationRead`].

use std::cell::{Cell, RefCell};

use pagestore::page;
use pagestore::RelationRead;

use super::tuples::{ElementTuple, Meta, NeighbourTuple, Tid};
use super::OnDiskError;
use crate::metric::Distance;
use crate::search::{self, GraphView, ScanOrder, SearchIter};

/// A read-only view of an on-page graph, for one scan at a time (it keeps
/// scratch buffers; make one per scan or per backend).
///
/// Corruption found while searching (bad line pointer, undecodable tuple,
/// block past the end) panics with a message starting
/// `ember_hnsw index corrupted:`; under `#[pg_guard]` that is an ERROR.
pub struct PageGraph<'r, R, D> {
    rel: &'r R,
    metric: D,
    meta: Meta,
    nblocks: Cell<u32>,
    vector: RefCell<Vec<f32>>,
    tids: RefCell<Vec<Tid>>,
}

fn corrupted(what: impl std::fmt::Display) -> ! {
    panic!("ember_hnsw index corrupted: {what}")
}

impl<'r, R: RelationRead, D: Distance> PageGraph<'r, R, D> {
    /// Opens the index: reads and checks the metapage (MAGIC, VERSION).
    pub fn open(rel: &'r R, metric: D) -> Result<Self, OnDiskError> {
        if rel.nblocks() == 0 {
            return Err(OnDiskError::BadInput("index has no metapage"));
        }
        let meta = {
            let guard = rel.read(0);
            page::check_header(&guard)?;
            Meta::decode(page::item(&guard, 1)?)?
        };
        let vector = RefCell::new(Vec::with_capacity(meta.dims as usize));
        Ok(Self {
            rel,
            metric,
            meta,
            nblocks: Cell::new(rel.nblocks()),
            vector,
            tids: RefCell::new(Vec::new()),
        })
    }

    /// The metapage contents.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Calls `f` with the bytes of the tuple at `tid`, under a share lock.
    fn with_tuple<T>(&self, tid: Tid, f: impl FnOnce(&[u8]) -> T) -> T {
        if tid.blk >= self.nblocks.get() {
            // Asking for the size costs a system call in Postgres: only
            // when the cached size says the block is past the end.
            self.nblocks.set(self.rel.nblocks());
            if tid.blk >= self.nblocks.get() {
                corrupted(format_args!("block {} past the end", tid.blk));
            }
        }
        let guard = self.rel.read(tid.blk);
        match page::item(&guard, tid.off) {
            Ok(bytes) => f(bytes),
            Err(e) => corrupted(format_args!("block {}: {e}", tid.blk)),
        }
    }

    /// Decodes the element at `tid`; its vector lands in `self.vector`.
    fn element(&self, tid: Tid) -> ElementTuple {
        let mut vector = self.vector.borrow_mut();
        let decoded = self.with_tuple(tid, |bytes| ElementTuple::decode_into(bytes, &mut vector));
        let element = decoded.unwrap_or_else(|e| corrupted(e));
        if vector.len() != self.meta.dims as usize {
            corrupted("element dimensions differ from the metapage");
        }
        element
    }

    /// Decodes the element at `tid` without its vector.
    fn element_header(&self, tid: Tid) -> ElementTuple {
        self.with_tuple(tid, ElementTuple::decode_header)
            .unwrap_or_else(|e| corrupted(e))
    }

    /// The heap TID indexed by element `node`.
    pub fn heap_tid(&self, node: Tid) -> Tid {
        self.element_header(node).heap_tid
    }

    /// The `k` nearest elements with beam width `ef`, as `(heap TID,
    /// distance)`, closest first.
    pub fn search(&self, query: &[f32], k: usize, ef: usize) -> Vec<(Tid, f32)> {
        search::knn(self, query, k, ef)
            .into_iter()
            .map(|s| (self.heap_tid(s.node), s.dist))
            .collect()
    }

    /// An incremental scan over element TIDs (map them with
    /// [`PageGraph::heap_tid`]).
    pub fn search_iter(&self, query: &[f32], ef: usize, order: ScanOrder) -> SearchIter<'_, Self> {
        SearchIter::new(self, query, ef, order)
    }
}

impl<R: RelationRead, D: Distance> GraphView for PageGraph<'_, R, D> {
    type Node = Tid;

    fn entry_point(&self) -> Option<(Tid, usize)> {
        self.meta
            .entry
            .is_valid()
            .then_some((self.meta.entry, self.meta.entry_level as usize))
    }

    fn distance(&self, query: &[f32], node: Tid) -> f32 {
        self.element(node);
        let vector = self.vector.borrow();
        self.metric.distance_or_inf(query, &vector)
    }

    fn neighbours(&self, node: Tid, level: usize, out: &mut Vec<Tid>) {
        let element = self.element_header(node);
        let m = self.meta.m as usize;
        let mut tids = self.tids.borrow_mut();
        let decoded = self.with_tuple(element.neighbours, |b| {
            NeighbourTuple::decode_level(b, level, m, &mut tids)
        });
        decoded.unwrap_or_else(|e| corrupted(e));
        out.clear();
        out.extend_from_slice(&tids);
    }
}
