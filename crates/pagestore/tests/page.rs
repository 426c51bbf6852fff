//! Page layout, relation and codec tests.

use pagestore::page::{self, ItemId, SIZE_OF_ITEM_ID, SIZE_OF_PAGE_HEADER};
use pagestore::{
    ByteReader, ByteWriter, FormatError, MemRelation, MetaHeader, RelationRead, RelationWrite,
    BLCKSZ,
};
use proptest::prelude::*;

fn fresh(special: usize) -> Box<pagestore::Page> {
    let mut p = Box::new([0xAAu8; BLCKSZ]);
    page::init(&mut p, special);
    p
}

#[test]
fn init_matches_page_init() {
    let p = fresh(10);
    assert_eq!(page::lower(&p), 24);
    assert_eq!(page::upper(&p), BLCKSZ - 16);
    assert_eq!(page::special_offset(&p), BLCKSZ - 16);
    assert_eq!(u16::from_ne_bytes([p[18], p[19]]), 8192 | 4);
    assert_eq!(page::special(&p).len(), 16);
    assert_eq!(page::max_offset(&p), 0);
    assert_eq!(page::free_space(&p), BLCKSZ - 16 - 24 - 4);
    assert!(p[..12].iter().all(|&b| b == 0) && p[20..BLCKSZ - 16].iter().all(|&b| b == 0));
    assert!(page::check_header(&p).is_ok());
    assert!(page::is_new(&[0u8; BLCKSZ]));
}

#[test]
fn item_id_bitfield_layout() {
    // lp_off = 8176, LP_NORMAL, lp_len = 10, as GCC lays out the bitfield.
    let id = ItemId {
        off: 8176,
        flags: 1,
        len: 10,
    };
    assert_eq!(id.to_raw(), 8176 | (1 << 15) | (10 << 17));
    assert_eq!(ItemId::from_raw(id.to_raw()), id);
}

#[test]
fn add_items_grow_down_maxaligned() {
    let mut p = fresh(0);
    assert_eq!(page::add_item(&mut p, b"hello"), Some(1));
    assert_eq!(page::add_item(&mut p, &[7u8; 9]), Some(2));
    assert_eq!(page::upper(&p), BLCKSZ - 8 - 16);
    assert_eq!(page::lower(&p), SIZE_OF_PAGE_HEADER + 2 * SIZE_OF_ITEM_ID);
    assert_eq!(page::item(&p, 1).unwrap(), b"hello");
    assert_eq!(page::item(&p, 2).unwrap(), &[7u8; 9]);
    assert_eq!(&p[BLCKSZ - 3..], &[0, 0, 0], "padding zeroed");
    page::item_mut(&mut p, 1).unwrap().copy_from_slice(b"HELLO");
    assert_eq!(page::item(&p, 1).unwrap(), b"HELLO");
    assert!(page::item(&p, 0).is_err() && page::item(&p, 3).is_err());
}

#[test]
fn page_fills_up_exactly() {
    let mut p = fresh(8);
    let mut n = 0;
    while page::add_item(&mut p, &[1u8; 100]).is_some() {
        n += 1;
    }
    assert_eq!(n, (BLCKSZ - 24 - 8) / (104 + 4));
    assert!(!page::fits(&p, 100));
    assert!(page::add_item(&mut p, &[0u8; BLCKSZ]).is_none());
}

#[test]
fn corrupt_line_pointer_is_an_error() {
    let mut p = fresh(0);
    page::add_item(&mut p, b"abc").unwrap();
    let bad = ItemId {
        off: 8190,
        flags: 1,
        len: 100,
    }
    .to_raw()
    .to_ne_bytes();
    p[24..28].copy_from_slice(&bad);
    assert!(page::item(&p, 1).is_err());
    let dead = ItemId {
        off: 8184,
        flags: page::LP_DEAD,
        len: 3,
    }
    .to_raw()
    .to_ne_bytes();
    p[24..28].copy_from_slice(&dead);
    assert!(matches!(
        page::item(&p, 1),
        Err(pagestore::PageError::NotNormal { .. })
    ));
}

#[test]
fn mem_relation_extend_read_write() {
    let rel = MemRelation::new();
    assert_eq!(rel.nblocks(), 0);
    for i in 0..200u32 {
        let (blk, mut g) = rel.extend();
        assert_eq!(blk, i);
        page::init(&mut g, 0);
        page::add_item(&mut g, &i.to_le_bytes()).unwrap();
    }
    assert_eq!(rel.nblocks(), 200);
    {
        let mut g = rel.write(150);
        page::item_mut(&mut g, 1)
            .unwrap()
            .copy_from_slice(&7u32.to_le_bytes());
    }
    assert_eq!(page::item(&rel.read(150), 1).unwrap(), &7u32.to_le_bytes());
    assert_eq!(
        page::item(&rel.read(199), 1).unwrap(),
        &199u32.to_le_bytes()
    );
    assert_eq!(rel.snapshot().len(), 200);
}

#[test]
fn mem_relation_concurrent_extends() {
    let rel = MemRelation::new();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                for _ in 0..100 {
                    let (blk, mut g) = rel.extend();
                    page::init(&mut g, 0);
                    page::add_item(&mut g, &blk.to_le_bytes()).unwrap();
                }
            });
        }
    });
    for blk in 0..rel.nblocks() {
        assert_eq!(page::item(&rel.read(blk), 1).unwrap(), &blk.to_le_bytes());
    }
}

#[test]
fn meta_header_mismatch_is_an_error() {
    let expected = MetaHeader {
        magic: 0xE3B0_4857,
        version: 2,
    };
    let mut w = ByteWriter::default();
    MetaHeader {
        magic: expected.magic,
        version: 1,
    }
    .encode(&mut w);
    let bytes = w.into_bytes();
    let err = MetaHeader::decode_expecting(&mut ByteReader::new(&bytes), expected).unwrap_err();
    assert_eq!(
        err.to_string(),
        "index format version 1, expected 2: REINDEX"
    );
    let err =
        MetaHeader::decode_expecting(&mut ByteReader::new(&[1, 2, 3, 4, 0, 0, 0, 0]), expected);
    assert!(matches!(err, Err(FormatError::BadMagic { .. })));
    let err = MetaHeader::decode_expecting(&mut ByteReader::new(&[1, 2]), expected);
    assert!(matches!(err, Err(FormatError::Truncated { .. })));
}

proptest! {
    #[test]
    fn items_round_trip(items in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..60), special in 0usize..64) {
        let mut p = fresh(special);
        let mut stored = Vec::new();
        for it in &items {
            match page::add_item(&mut p, it) {
                Some(off) => { prop_assert_eq!(off as usize, stored.len() + 1); stored.push(it.clone()); }
                None => prop_assert!(!page::fits(&p, it.len())),
            }
        }
        prop_assert!(page::check_header(&p).is_ok());
        for (i, it) in stored.iter().enumerate() {
            prop_assert_eq!(page::item(&p, i as u16 + 1).unwrap(), &it[..]);
        }
    }

    #[test]
    fn reader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..20)) {
        let mut r = ByteReader::new(&bytes);
        while r.u32().is_ok() {}
        prop_assert!(r.remaining() < 4);
    }
}

#[test]
fn items_prefetched_are_the_items_in_offset_order() {
    let mut p = fresh(16);
    assert_eq!(page::items_prefetched(&p).count(), 0);
    for n in 1..=5u8 {
        page::add_item(&mut p, &vec![n; usize::from(n) * 3]).unwrap();
    }
    let seen: Vec<(u16, Vec<u8>)> = page::items_prefetched(&p).map(|(off, b)| (off, b.unwrap().to_vec())).collect();
    let expected: Vec<(u16, Vec<u8>)> = (1..=5u16).map(|off| (off, page::item(&p, off).unwrap().to_vec())).collect();
    assert_eq!(seen, expected);
}

#[test]
fn an_empty_item_does_not_fit_a_page_without_room_for_its_line_pointer() {
    let mut p = fresh(0);
    // Header 24 + line pointer 4 + 8,160-byte item leaves pd_upper == pd_lower + 4.
    assert!(page::add_item(&mut p, &vec![7; BLCKSZ - 24 - 4 - 8]).is_some());
    assert!(page::fits(&p, 0), "room for one more line pointer");
    assert!(page::add_item(&mut p, &[]).is_some());
    assert!(!page::fits(&p, 0), "pd_upper == pd_lower: no room left");
    assert_eq!(page::add_item(&mut p, &[]), None);
    assert!(page::check_header(&p).is_ok());
}
