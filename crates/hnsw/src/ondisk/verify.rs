//! Checking every invariant of the graph on pages (for tests and an
//! admin function); reports the first problem found, precisely located.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use pagestore::page::{self, LP_DEAD, LP_UNUSED};
use pagestore::{PageError, RelationRead};

use super::codes::{code_len, coder_for_read, LinkCoder};
use super::reader::read_meta;
use super::tuples::{
    ElementTuple, Meta, NeighbourTuple, Special, Tid, KIND_ELEMENT, KIND_NEIGHBOURS,
};
use crate::metric::Distance;

/// What [`verify`] found in a consistent graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Live elements.
    pub live: u64,
    /// Deleted elements (still on the pages).
    pub deleted: u64,
    /// Blocks in the relation, metapage included.
    pub pages: u32,
    /// Heap TIDs of the live elements reachable from the entry point,
    /// sorted (all of them, since unreachable ones are an error).
    pub reachable_heap_tids: Vec<Tid>,
}

/// An element as found by the page scan.
struct Info {
    level: u8,
    deleted: bool,
    heap_tid: Tid,
    neighbours: Tid,
}

fn at(tid: Tid) -> String {
    format!("block {} item {}", tid.blk, tid.off)
}

/// Checks the metapage, every graph page's header and special space,
/// every tuple (elements decode, with the metapage's dims unless 0, and a
/// distance to themselves that is not NaN under `metric`), every link
/// (points at an element tuple whose level is at least the link's level;
/// no live element links to itself or twice to one element), the entry
/// point (live, with the highest level among live elements; INVALID when
/// none is live), that every live element is reachable from the entry
/// point through the links of all levels, and that every neighbour code
/// present is the code of the element it sits next to.
pub fn verify<R: RelationRead, D: Distance>(rel: &R, metric: &D) -> Result<VerifyReport, String> {
    let meta = check_meta(rel)?;
    let elements = scan(rel, &meta, metric)?;
    for (&tid, info) in &elements {
        check_links(rel, &meta, &elements, tid, info)?;
    }
    if let Some(coder) = coder_for_read(rel, &meta) {
        let mut residuals = HashMap::new();
        for (&tid, info) in &elements {
            check_codes(rel, &meta, &coder, &mut residuals, tid, info)?;
        }
    }
    check_entry(&meta, &elements)?;
    let reachable = reachable(rel, &meta, &elements)?;
    let mut report = VerifyReport {
        live: 0,
        deleted: 0,
        pages: rel.nblocks(),
        reachable_heap_tids: Vec::new(),
    };
    for (tid, info) in &elements {
        if info.deleted {
            report.deleted += 1;
            continue;
        }
        report.live += 1;
        if !reachable.contains(tid) {
            return Err(format!(
                "{} (heap tid {}/{}) is not reachable from the entry point",
                at(*tid),
                info.heap_tid.blk,
                info.heap_tid.off
            ));
        }
        report.reachable_heap_tids.push(info.heap_tid);
    }
    report.reachable_heap_tids.sort_unstable();
    Ok(report)
}

fn check_meta<R: RelationRead>(rel: &R) -> Result<Meta, String> {
    let meta = read_meta(rel).map_err(|e| format!("metapage: {e}"))?;
    let special = Special::decode(page::special(&rel.read(0)));
    if special.map(|s| s.kind) != Ok(Special::META) {
        return Err("block 0: special space is not a metapage's".into());
    }
    if meta.entry_level as usize > crate::MAX_LEVEL {
        return Err(format!("metapage: entry level {}", meta.entry_level));
    }
    Ok(meta)
}

/// Reads every graph page: headers, special spaces, tuples.
fn scan<R: RelationRead, D: Distance>(
    rel: &R,
    meta: &Meta,
    metric: &D,
) -> Result<BTreeMap<Tid, Info>, String> {
    let mut elements = BTreeMap::new();
    let mut vector = Vec::new();
    for blk in 1..rel.nblocks() {
        let guard = rel.read(blk);
        if page::is_new(&guard) {
            continue;
        }
        page::check_header(&guard).map_err(|e| format!("block {blk}: {e}"))?;
        let special = page::special(&guard);
        if special.len() != Special::LEN
            || Special::decode(special).map(|s| s.kind) != Ok(Special::GRAPH)
        {
            return Err(format!("block {blk}: special space is not a graph page's"));
        }
        for off in 1..=page::max_offset(&guard) {
            let tid = Tid { blk, off };
            let bytes = match page::item(&guard, off) {
                Ok(bytes) => bytes,
                Err(PageError::NotNormal {
                    flags: LP_UNUSED | LP_DEAD,
                    ..
                }) => continue,
                Err(e) => return Err(format!("{}: {e}", at(tid))),
            };
            match bytes.first() {
                Some(&KIND_ELEMENT) => {
                    let info = check_element(bytes, meta, metric, &mut vector)
                        .map_err(|e| format!("{}: {e}", at(tid)))?;
                    elements.insert(tid, info);
                }
                Some(&KIND_NEIGHBOURS) => {
                    let len = NeighbourTuple::code_len(bytes, meta.m.into())
                        .map_err(|e| format!("{}: {e}", at(tid)))?;
                    if len != code_len(meta) {
                        return Err(format!(
                            "{}: neighbour codes of {len} bytes, the metapage's are {}",
                            at(tid),
                            code_len(meta)
                        ));
                    }
                }
                _ => return Err(format!("{}: unknown tuple kind", at(tid))),
            }
        }
    }
    Ok(elements)
}

fn check_element<D: Distance>(
    bytes: &[u8],
    meta: &Meta,
    metric: &D,
    vector: &mut Vec<f32>,
) -> Result<Info, String> {
    let e = ElementTuple::decode_into(bytes, vector).map_err(|e| e.to_string())?;
    if meta.dims != 0 && vector.len() != meta.dims as usize {
        return Err(format!(
            "element has {} dimensions, the metapage {}",
            vector.len(),
            meta.dims
        ));
    }
    if metric.distance(vector, vector).is_nan() {
        return Err("the element's distance to itself is NaN".into());
    }
    Ok(Info {
        level: e.level,
        deleted: e.deleted,
        heap_tid: e.heap_tid,
        neighbours: e.neighbours,
    })
}

/// The neighbour lists of `element` (all levels), checked against its
/// level.
fn lists_of<R: RelationRead>(
    rel: &R,
    meta: &Meta,
    element: Tid,
    info: &Info,
) -> Result<Vec<Vec<Tid>>, String> {
    let nt = info.neighbours;
    let missing = || format!("{}: neighbour tuple at {} is missing", at(element), at(nt));
    if !nt.is_valid() || nt.blk == 0 || nt.blk >= rel.nblocks() {
        return Err(missing());
    }
    let guard = rel.read(nt.blk);
    let bytes = page::item(&guard, nt.off).map_err(|_| missing())?;
    if bytes.first() != Some(&KIND_NEIGHBOURS) {
        return Err(missing());
    }
    let tuple =
        NeighbourTuple::decode(bytes, meta.m.into()).map_err(|e| format!("{}: {e}", at(nt)))?;
    if tuple.slots.len() != info.level as usize + 1 {
        return Err(format!(
            "{}: neighbour tuple {} has {} levels, the element {}",
            at(element),
            at(nt),
            tuple.slots.len(),
            info.level as usize + 1
        ));
    }
    Ok(tuple.slots)
}

fn check_links<R: RelationRead>(
    rel: &R,
    meta: &Meta,
    elements: &BTreeMap<Tid, Info>,
    element: Tid,
    info: &Info,
) -> Result<(), String> {
    for (level, list) in lists_of(rel, meta, element, info)?.iter().enumerate() {
        let mut seen = HashSet::new();
        for &n in list {
            let link = |what: &str| {
                format!(
                    "{}: neighbour on level {level} points at {}, {what}",
                    at(element),
                    at(n)
                )
            };
            let Some(target) = elements.get(&n) else {
                return Err(link("which is not an element tuple"));
            };
            if (target.level as usize) < level {
                return Err(link(&format!("whose level is {}", target.level)));
            }
            if !info.deleted && n == element {
                return Err(link("the element itself"));
            }
            if !info.deleted && !seen.insert(n) {
                return Err(link("twice"));
            }
        }
    }
    Ok(())
}

/// Rotated residual values kept by [`check_codes`] before the cache is
/// emptied (64 MB).
const RESIDUAL_CACHE_VALUES: usize = 1 << 24;

/// Every neighbour code of `element` (on any layer) that is present (not all
/// zeros) equals the code of the neighbour's vector (relative to
/// `element`'s for relative codes). `residuals` caches the rotated
/// residuals computed so far (an element is in about `2m` lists).
fn check_codes<R: RelationRead>(
    rel: &R,
    meta: &Meta,
    coder: &LinkCoder,
    residuals: &mut HashMap<Tid, Option<Vec<f32>>>,
    element: Tid,
    info: &Info,
) -> Result<(), String> {
    let nt = info.neighbours;
    let stored: Vec<(Tid, Vec<u8>)> = {
        let guard = rel.read(nt.blk);
        let bytes = page::item(&guard, nt.off).map_err(|e| format!("{}: {e}", at(nt)))?;
        let codes = NeighbourTuple::codes(bytes, meta.m.into()).map_err(|e| format!("{}: {e}", at(nt)))?;
        codes.into_iter().map(|(t, c)| (t, c.to_vec())).collect()
    };
    let mut residual_of = |t: Tid| -> Result<Option<Vec<f32>>, String> {
        if let Some(known) = residuals.get(&t) {
            return Ok(known.clone());
        }
        let mut vector = Vec::new();
        let guard = rel.read(t.blk);
        let bytes = page::item(&guard, t.off).map_err(|e| format!("{}: {e}", at(t)))?;
        ElementTuple::decode_into(bytes, &mut vector).map_err(|e| format!("{}: {e}", at(t)))?;
        let residual = coder.residual(&vector);
        if residuals.len() * coder.padded_dims() >= RESIDUAL_CACHE_VALUES {
            residuals.clear();
        }
        residuals.insert(t, residual.clone());
        Ok(residual)
    };
    let origin = if coder.is_relative() { residual_of(element)? } else { None };
    let mut want = vec![0u8; coder.len()];
    for (n, code) in stored.iter().filter(|(_, c)| c.iter().any(|&b| b != 0)) {
        want.fill(0);
        match (residual_of(*n)?, &origin) {
            (Some(y), Some(origin)) => coder.encode_relative_into(&y, origin, &mut want),
            (Some(y), None) if !coder.is_relative() => coder.encode_residual_into(&y, &mut want),
            _ => {}
        }
        if *code != want {
            return Err(format!(
                "{}: the code of neighbour {} is not the code of its vector",
                at(element),
                at(*n)
            ));
        }
    }
    Ok(())
}

fn check_entry(meta: &Meta, elements: &BTreeMap<Tid, Info>) -> Result<(), String> {
    let top = elements
        .values()
        .filter(|e| !e.deleted)
        .map(|e| e.level)
        .max();
    let Some(top) = top else {
        if meta.entry.is_valid() {
            return Err(format!(
                "entry point {} but no live element",
                at(meta.entry)
            ));
        }
        return Ok(());
    };
    let entry = elements
        .get(&meta.entry)
        .ok_or_else(|| format!("entry point {} is not an element", at(meta.entry)))?;
    if entry.deleted {
        return Err(format!("entry point {} is deleted", at(meta.entry)));
    }
    if entry.level != meta.entry_level || entry.level != top {
        return Err(format!(
            "entry point {} has level {} (metapage says {}), the highest live level is {top}",
            at(meta.entry),
            entry.level,
            meta.entry_level
        ));
    }
    Ok(())
}

/// Every element reachable from the entry point through any level's links.
fn reachable<R: RelationRead>(
    rel: &R,
    meta: &Meta,
    elements: &BTreeMap<Tid, Info>,
) -> Result<HashSet<Tid>, String> {
    let mut seen = HashSet::new();
    if !meta.entry.is_valid() {
        return Ok(seen);
    }
    let mut queue = VecDeque::from([meta.entry]);
    seen.insert(meta.entry);
    while let Some(tid) = queue.pop_front() {
        let info = &elements[&tid];
        let links = lists_of(rel, meta, tid, info)?;
        for &n in links.iter().flatten() {
            if seen.insert(n) {
                queue.push_back(n);
            }
        }
    }
    Ok(seen)
}
