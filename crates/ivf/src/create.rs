//! Creating an index: the metapage and the centroid pages, lists empty.

use pagestore::page;
use pagestore::RelationWrite;

use crate::tuples::{CentroidTuple, Meta, Special, NO_BLOCK};
use crate::IvfError;

/// Initializes `page` with `kind` and `next_blk`.
pub(crate) fn init_page(page: &mut pagestore::Page, kind: u16, next_blk: u32) {
    page::init(page, Special::LEN);
    Special { kind, next_blk }.encode(page::special_mut(page));
}

/// Whether a centroid of `dims` dimensions fits a page (centroids are
/// stored in full, so this bounds the dimensions of an index).
pub fn centroid_fits(dims: usize) -> bool {
    let mut empty = [0u8; pagestore::BLCKSZ];
    init_page(&mut empty, Special::CENTROIDS, NO_BLOCK);
    page::fits(&empty, CentroidTuple::encoded_len(dims))
}

/// Writes the metapage and one empty list per centroid into the empty
/// relation `rel`. `centroids` holds `meta.lists` vectors of `meta.dims`
/// floats end to end; `meta.centroid_blk` is set here.
pub fn create<R: RelationWrite>(rel: &R, mut meta: Meta, centroids: &[f32]) -> Result<Meta, IvfError> {
    if rel.nblocks() != 0 {
        return Err(IvfError::NotEmpty);
    }
    let dims = meta.dims as usize;
    if dims == 0 || centroids.len() != dims * meta.lists as usize {
        return Err(IvfError::BadInput("one centroid of the index's dimensions per list is required"));
    }
    let len = CentroidTuple::encoded_len(dims);
    let mut empty = [0u8; pagestore::BLCKSZ];
    init_page(&mut empty, Special::CENTROIDS, NO_BLOCK);
    if !page::fits(&empty, len) {
        return Err(IvfError::TupleTooLarge(len));
    }
    meta.centroid_blk = 1;
    {
        let (blk, mut guard) = rel.extend();
        debug_assert_eq!(blk, 0);
        init_page(&mut guard, Special::META, NO_BLOCK);
        page::add_item(&mut guard, &meta.encode()).expect("meta tuple fits an empty page");
    }
    let mut current = rel.extend();
    init_page(&mut current.1, Special::CENTROIDS, NO_BLOCK);
    for (list, centroid) in centroids.chunks_exact(dims).enumerate() {
        let tuple = CentroidTuple {
            list: list as u32,
            head_blk: NO_BLOCK,
            insert_blk: NO_BLOCK,
            radius: 0.0,
            centroid: centroid.to_vec(),
        }
        .encode();
        if !page::fits(&current.1, tuple.len()) {
            // The next page is written before this one links to it.
            let mut next = rel.extend();
            init_page(&mut next.1, Special::CENTROIDS, NO_BLOCK);
            Special { kind: Special::CENTROIDS, next_blk: next.0 }.encode(page::special_mut(&mut current.1));
            drop(std::mem::replace(&mut current, next));
        }
        page::add_item(&mut current.1, &tuple).expect("fits was checked");
    }
    Ok(meta)
}
