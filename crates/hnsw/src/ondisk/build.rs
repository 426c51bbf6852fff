//! Writing a finished in-memory graph onto pages.

use pagestore::page::{self, BLCKSZ};
use pagestore::{Page, RelationWrite};
use rayon::prelude::*;

use super::codes::{centroid_of, code_len, encode_centroid, LinkCodes, LinkCoder};
use super::tuples::{ElementTuple, Meta, NeighbourTuple, Special, Tid};
use super::OnDiskError;
use crate::build_codes::ElementCodes;
use crate::metric::Distance;
use crate::search::GraphView;
use crate::Hnsw;

/// Where each element's two tuples go, decided before anything is written
/// (neighbour tuples refer to elements on later pages).
struct Layout {
    /// The ids in the order their tuples are written.
    order: Vec<u32>,
    elements: Vec<Tid>,
    neighbours: Vec<Tid>,
}

/// The order the elements are written in: breadth-first over layer 0
/// from the entry point, so that each element's neighbours are written
/// one after another and tend to share pages (with each other, and with
/// the element when it was found late). A scan reads an element's
/// neighbours together, and a page it visits again is still in the CPU's
/// caches. Elements not reached that way (none, in a graph whose build
/// connected it) follow in id order.
fn layout_order<D: Distance>(graph: &Hnsw<D>) -> Vec<u32> {
    let n = graph.len();
    let mut order = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    let mut visit = |id: u32, order: &mut Vec<u32>| {
        if !std::mem::replace(&mut seen[id as usize], true) {
            order.push(id);
        }
    };
    if let Some((entry, _)) = graph.entry_point() {
        visit(entry, &mut order);
    }
    let mut next = 0;
    for start in 0..n as u32 {
        visit(start, &mut order);
        while let Some(&id) = order.get(next) {
            next += 1;
            for &neighbour in graph.links(id, 0) {
                visit(neighbour, &mut order);
            }
        }
    }
    order
}

/// Tracks the fill of the page being planned with a scratch page, using
/// exactly the arithmetic `add_item` will use.
struct Planner {
    scratch: Box<Page>,
    blk: u32,
    zeros: Vec<u8>,
}

impl Planner {
    fn new(first_blk: u32) -> Self {
        let mut scratch = Box::new([0u8; BLCKSZ]);
        page::init(&mut scratch, Special::LEN);
        Self {
            scratch,
            blk: first_blk,
            zeros: Vec::new(),
        }
    }

    fn place(&mut self, len: usize) -> Result<Tid, OnDiskError> {
        if !page::fits(&self.scratch, len) {
            page::init(&mut self.scratch, Special::LEN);
            self.blk += 1;
            if !page::fits(&self.scratch, len) {
                return Err(OnDiskError::TupleTooLarge(len));
            }
        }
        self.zeros.resize(len, 0);
        let off = page::add_item(&mut self.scratch, &self.zeros).expect("fits was checked");
        Ok(Tid { blk: self.blk, off })
    }
}

/// Initializes an empty graph page (special space kind [`Special::GRAPH`]).
pub(super) fn init_graph_page(page: &mut Page) {
    page::init(page, Special::LEN);
    Special {
        kind: Special::GRAPH,
        next_blk: u32::MAX,
    }
    .encode(page::special_mut(page));
}

/// Writes the code of a vector into the buffer.
pub type Encoder<'e> = &'e (dyn Fn(&[f32], &mut Vec<f32>) + Sync);

/// The values of a graph linked over link codes of them
/// ([`crate::link`]): `dims` values per element, in id order.
#[derive(Debug, Clone, Copy)]
pub struct Values<'v> {
    /// The values, end to end.
    pub data: &'v [f32],
    /// Values per element.
    pub dims: usize,
}

/// How element vectors are stored: the graph's vectors or the given
/// values, or codes of either; and the neighbour codes, if any.
struct Stored<'e> {
    values: Option<Values<'e>>,
    /// Words per stored vector when coded.
    code_words: usize,
    encode: Option<Encoder<'e>>,
    /// The neighbour codes' coder (set by [`write_stored`] when the
    /// metapage says codes).
    coder: Option<LinkCoder>,
}

impl Stored<'_> {
    /// The value of element `id`.
    fn value<'a, D: Distance>(&'a self, graph: &'a Hnsw<D>, id: u32) -> &'a [f32] {
        match self.values {
            Some(Values { data, dims }) => &data[id as usize * dims..][..dims],
            None => graph.vector(id),
        }
    }

    /// Values per element (0: variable).
    fn value_dims<D: Distance>(&self, graph: &Hnsw<D>) -> usize {
        self.values.map_or(graph.dims(), |v| v.dims)
    }

    fn len_of<D: Distance>(&self, graph: &Hnsw<D>, id: u32) -> usize {
        match self.encode {
            Some(_) => self.code_words,
            None => self.value(graph, id).len(),
        }
    }

    fn vector_of<D: Distance>(&self, graph: &Hnsw<D>, id: u32) -> Vec<f32> {
        match self.encode {
            Some(encode) => {
                let mut out = Vec::with_capacity(self.code_words);
                encode(self.value(graph, id), &mut out);
                out
            }
            None => self.value(graph, id).to_vec(),
        }
    }
}

fn plan<D: Distance>(graph: &Hnsw<D>, stored: &Stored<'_>) -> Result<Layout, OnDiskError> {
    let code_len = stored.coder.as_ref().map_or(0, LinkCoder::len);
    let mut planner = Planner::new(1);
    let mut layout = Layout {
        order: layout_order(graph),
        elements: vec![Tid::INVALID; graph.len()],
        neighbours: vec![Tid::INVALID; graph.len()],
    };
    for &id in &layout.order {
        layout.elements[id as usize] = planner.place(ElementTuple::encoded_len(stored.len_of(graph, id)))?;
        let len = NeighbourTuple::encoded_len(graph.level(id), graph.params().m, code_len);
        layout.neighbours[id as usize] = planner.place(len)?;
    }
    Ok(layout)
}

/// The element and neighbour tuples of `id`; `codes` holds every
/// element's neighbour code end to end (empty without codes).
fn tuples_of<D: Distance>(
    graph: &Hnsw<D>,
    stored: &Stored<'_>,
    layout: &Layout,
    codes: TupleCodes<'_>,
    id: u32,
    heap_tid: Tid,
) -> Result<[Vec<u8>; 2], OnDiskError> {
    let element = ElementTuple {
        level: graph.level(id) as u8,
        deleted: false,
        heap_tid,
        neighbours: layout.neighbours[id as usize],
        vector: stored.vector_of(graph, id),
    };
    let slots = (0..=graph.level(id))
        .map(|l| {
            graph
                .links(id, l)
                .iter()
                .map(|&n| layout.elements[n as usize])
                .collect()
        })
        .collect();
    let code_len = stored.coder.as_ref().map_or(0, LinkCoder::len);
    let origin = match codes {
        TupleCodes::Relative(made) => made.residual(id),
        TupleCodes::Plain(_) => None,
    };
    let fill = |t: Tid, out: &mut [u8]| {
        let mut ids = (0..=graph.level(id)).flat_map(|l| graph.links(id, l));
        let Some(&n) = ids.find(|&&n| layout.elements[n as usize] == t) else {
            return false;
        };
        match (codes, &origin, &stored.coder) {
            (TupleCodes::Plain(codes), ..) => out.copy_from_slice(&codes[n as usize * code_len..][..code_len]),
            (TupleCodes::Relative(made), Some(origin), Some(coder)) => match made.residual(n) {
                Some(y) => coder.encode_relative_into(&y, origin, out),
                None => return false,
            },
            _ => return false,
        }
        true
    };
    let neighbours = NeighbourTuple { slots }.encode(graph.params().m, code_len, &fill)?;
    Ok([element.encode(), neighbours])
}

/// The metapage for `graph`: its entry point and insert page as laid
/// out, or none yet.
fn meta_of<D: Distance>(
    graph: &Hnsw<D>,
    stored: &Stored<'_>,
    layout: Option<&Layout>,
    metric_id: u8,
    link_codes: u8,
) -> Meta {
    let (entry, entry_level) = match (graph.entry_point(), layout) {
        (Some((id, level)), Some(layout)) => (layout.elements[id as usize], level as u8),
        _ => (Tid::INVALID, 0),
    };
    let coded = stored.encode.is_some();
    Meta {
        dims: if coded { stored.code_words } else { stored.value_dims(graph) } as u16,
        m: graph.params().m as u16,
        ef_construction: graph.params().ef_construction as u16,
        metric_id,
        entry_level,
        entry,
        elements: graph.len() as u64,
        // The last element written ends on the last page.
        insert_blk: layout
            .and_then(|l| l.order.last().map(|&id| l.neighbours[id as usize].blk))
            .unwrap_or(u32::MAX),
        value_dims: if coded { stored.value_dims(graph) as u16 } else { 0 },
        link_codes,
        free_blk: Some(u32::MAX),
    }
}

/// Writes the metapage, with the neighbour codes' centroid when there are
/// codes.
fn write_meta<R: RelationWrite>(rel: &R, meta: &Meta, coder: Option<&LinkCoder>) {
    let (blk, mut guard) = rel.extend();
    debug_assert_eq!(blk, 0);
    page::init(&mut guard, Special::LEN);
    Special {
        kind: Special::META,
        next_blk: u32::MAX,
    }
    .encode(page::special_mut(&mut guard));
    page::add_item(&mut guard, &meta.encode()).expect("meta tuple fits an empty page");
    if let Some(coder) = coder {
        page::add_item(&mut guard, &encode_centroid(coder.centroid()))
            .expect("codes are only stored for vectors that fit a page");
    }
}

/// Writes `graph` into the empty relation `rel`: the metapage, then every
/// element (with `heap_tids[id]`) and its neighbour tuple, page by page.
/// `metric_id` is stored for the glue to check the opclass on open. A
/// graph of 0 dimensions is stored as variable-length (`Meta::dims` 0).
/// The metapage's `insert_blk` is the last page written, where
/// [`super::insert`] tries first.
///
/// Each page is written once through one `extend` guard, so the glue can
/// log the whole build with `log_newpage_range` (or one GenericXLog record
/// per page).
pub fn write_graph<R: RelationWrite, D: Distance>(
    rel: &R,
    graph: &Hnsw<D>,
    heap_tids: &[Tid],
    metric_id: u8,
) -> Result<(), OnDiskError> {
    write_graph_from(rel, graph, None, heap_tids, metric_id, None, LinkCodes::None)
}

/// [`write_graph`], storing `encode(vector)` (always `code_words` long)
/// in each element instead of the vector: for vectors too large for a
/// page, whose codes the glue's distance understands. The metapage's
/// `dims` is then `code_words` and its `value_dims` the graph's
/// dimensions.
pub fn write_graph_coded<R: RelationWrite, D: Distance>(
    rel: &R,
    graph: &Hnsw<D>,
    heap_tids: &[Tid],
    metric_id: u8,
    code_words: usize,
    encode: Encoder<'_>,
) -> Result<(), OnDiskError> {
    write_graph_from(rel, graph, None, heap_tids, metric_id, Some((code_words, encode)), LinkCodes::None)
}

/// The neighbour codes a written graph gets.
#[derive(Debug, Clone, Copy)]
pub enum NeighbourCodes<'c> {
    /// Made while writing, bounding this kind of distance (stored only
    /// where [`code_len`] allows; none for [`LinkCodes::None`]).
    Make(LinkCodes),
    /// Made by the build ([`crate::ParallelBuilder::build_coded`]): they
    /// must be the codes `Make` of their coder's kind would make.
    Made(&'c ElementCodes),
}

impl From<LinkCodes> for NeighbourCodes<'_> {
    fn from(kind: LinkCodes) -> Self {
        Self::Make(kind)
    }
}

impl NeighbourCodes<'_> {
    fn kind(&self) -> LinkCodes {
        match self {
            Self::Make(kind) => *kind,
            Self::Made(made) => made.coder.kind(),
        }
    }

    /// The metapage's `link_codes` byte (codes made here are plain).
    fn meta_byte(&self) -> u8 {
        match self {
            Self::Make(kind) => super::codes::meta_byte(*kind, false),
            Self::Made(made) => made.coder.meta_byte(),
        }
    }
}

/// What the neighbour tuples' codes are made from.
#[derive(Clone, Copy)]
enum TupleCodes<'c> {
    /// Every element's (plain) code, end to end.
    Plain(&'c [u8]),
    /// Every element's rotated residual, for codes relative to each
    /// list's owner.
    Relative(&'c ElementCodes),
}

/// [`write_graph`] or [`write_graph_coded`] (`codes`: `(code_words,
/// encode)`) of a graph linked over link codes: the elements get `values`
/// (or their codes) instead of the graph's own vectors. `neighbour_codes`
/// says which distance neighbour codes bound ([`super::codes`]), or gives
/// the codes the build made.
pub fn write_graph_from<'c, R: RelationWrite, D: Distance>(
    rel: &R,
    graph: &Hnsw<D>,
    values: Option<Values<'_>>,
    heap_tids: &[Tid],
    metric_id: u8,
    codes: Option<(usize, Encoder<'_>)>,
    neighbour_codes: impl Into<NeighbourCodes<'c>>,
) -> Result<(), OnDiskError> {
    let neighbour_codes = neighbour_codes.into();
    let link_codes = neighbour_codes.kind();
    let link_byte = neighbour_codes.meta_byte();
    if let Some(Values { data, dims }) = values {
        if dims == 0 || data.len() != graph.len() * dims {
            return Err(OnDiskError::BadInput("one value of fixed dimensions per element is required"));
        }
    }
    let mut stored = Stored {
        values,
        code_words: codes.map_or(0, |(words, _)| words),
        encode: codes.map(|(_, encode)| encode),
        coder: None,
    };
    if stored.encode.is_some() && stored.value_dims(graph) == 0 {
        return Err(OnDiskError::BadInput("coded vectors need fixed dimensions"));
    }
    let shape = meta_of(graph, &stored, None, metric_id, link_byte);
    let len = code_len(&shape);
    let made = match neighbour_codes {
        _ if len == 0 => None,
        NeighbourCodes::Make(_) => {
            let dims = shape.dims as usize;
            let centroid = centroid_of(link_codes, dims, graph.len(), |i| stored.value(graph, i as u32));
            stored.coder = LinkCoder::new(&shape, centroid);
            None
        }
        NeighbourCodes::Made(made) => {
            let complete = if made.coder.is_relative() {
                made.residuals.len() == graph.len() * made.padded && made.scales.len() == graph.len()
            } else {
                made.codes.len() == graph.len() * len
            };
            if made.coder.len() != len || made.coder.centroid().len() != shape.dims as usize || !complete {
                return Err(OnDiskError::BadInput("the build's neighbour codes do not fit this graph"));
            }
            stored.coder = Some(made.coder.clone());
            Some(made)
        }
    };
    write_stored(rel, graph, heap_tids, metric_id, link_byte, &stored, made)
}

/// Every element's neighbour code, end to end, computed on every core
/// (pure arithmetic: no page is touched off the caller's thread).
fn all_codes<D: Distance>(graph: &Hnsw<D>, stored: &Stored<'_>) -> Vec<u8> {
    let Some(coder) = &stored.coder else {
        return Vec::new();
    };
    let len = coder.len();
    let values: Vec<&[f32]> = (0..graph.len() as u32).map(|id| stored.value(graph, id)).collect();
    let mut codes = vec![0u8; graph.len() * len];
    codes.par_chunks_mut(len).zip(values).for_each(|(out, value)| coder.encode_into(value, out));
    codes
}

/// Elements whose tuples are encoded together while the previous chunk is
/// written (about 15 MB at 384 dimensions with neighbour codes).
const ENCODE_CHUNK: usize = 4096;

fn write_stored<R: RelationWrite, D: Distance>(
    rel: &R,
    graph: &Hnsw<D>,
    heap_tids: &[Tid],
    metric_id: u8,
    link_codes: u8,
    stored: &Stored<'_>,
    made: Option<&ElementCodes>,
) -> Result<(), OnDiskError> {
    if rel.nblocks() != 0 {
        return Err(OnDiskError::NotEmpty);
    }
    if heap_tids.len() != graph.len() {
        return Err(OnDiskError::BadInput(
            "one heap TID per element is required",
        ));
    }
    if stored.value_dims(graph).max(stored.code_words) > u16::MAX as usize {
        return Err(OnDiskError::BadInput("dimensions must be at most 65535"));
    }
    let layout = plan(graph, stored)?;
    let computed;
    let codes = match made {
        Some(made) if made.coder.is_relative() => TupleCodes::Relative(made),
        Some(made) => TupleCodes::Plain(&made.codes),
        None => {
            computed = all_codes(graph, stored);
            TupleCodes::Plain(&computed)
        }
    };
    let meta = meta_of(graph, stored, Some(&layout), metric_id, link_codes);
    write_meta(rel, &meta, stored.coder.as_ref());
    // The tuples are encoded on every core, a chunk ahead of this thread,
    // which writes them (pages are only touched here: the encoding is
    // pure, so no Postgres call leaves the caller's thread). Encoding one
    // after the other was half of the write phase. The encoder is a job on
    // rayon's global pool, not a thread of its own: a caller that must keep
    // signals off its helpers (a Postgres backend) sets that pool up with
    // them blocked, and a new thread would inherit the caller's mask.
    rayon::in_place_scope(|scope| -> Result<(), OnDiskError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let layout = &layout;
        scope.spawn(move |_| {
            for ids in layout.order.chunks(ENCODE_CHUNK) {
                let chunk: Result<Vec<[Vec<u8>; 2]>, OnDiskError> = ids
                    .par_iter()
                    .map(|&id| tuples_of(graph, stored, layout, codes, id, heap_tids[id as usize]))
                    .collect();
                let failed = chunk.is_err();
                // A closed channel: the writer stopped (an error); so do we.
                if tx.send(chunk).is_err() || failed {
                    return;
                }
            }
        });
        let mut current: Option<(u32, R::WriteGuard<'_>)> = None;
        let mut ids = layout.order.iter().map(|&id| id as usize);
        for chunk in rx {
            for tuples in chunk? {
                let id = ids.next().expect("a tuple pair per id");
                let targets = [layout.elements[id], layout.neighbours[id]];
                for (bytes, tid) in tuples.iter().zip(targets) {
                    if current.as_ref().is_none_or(|(blk, _)| *blk != tid.blk) {
                        drop(current.take());
                        let (blk, mut guard) = rel.extend();
                        debug_assert_eq!(blk, tid.blk, "planned block");
                        init_graph_page(&mut guard);
                        current = Some((blk, guard));
                    }
                    let (_, guard) = current.as_mut().expect("page is open");
                    let off = page::add_item(guard, bytes);
                    debug_assert_eq!(off, Some(tid.off), "planned offset");
                }
            }
        }
        Ok(())
    })
}
