//! The three binary decoders (dense f32, dense f16, sparse) on arbitrary
//! bytes. A panic is a crash; so is an accepted message that breaks an
//! invariant or is not exactly the canonical encoding of what it decoded to.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vectors::binary::{
    decode_dense, decode_half, decode_sparse, encode_dense, encode_half, encode_sparse,
};
use vectors::{ErrorKind, MAX_DIM, SPARSE_MAX_DIM};

fn binary_kind(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::InvalidBinary | ErrorKind::Data | ErrorKind::TooLarge
    )
}

fuzz_target!(|data: &[u8]| {
    match decode_dense(data, "embedding") {
        Ok(v) => {
            assert!((1..=MAX_DIM).contains(&v.len()));
            assert!(v.iter().all(|x| x.is_finite()));
            assert_eq!(encode_dense(&v), data, "dense message is not canonical");
        }
        Err(e) => assert!(binary_kind(e.kind), "dense error kind {:?}", e.kind),
    }

    match decode_half(data, "halfembedding") {
        Ok(h) => {
            assert!((1..=MAX_DIM).contains(&h.len()));
            assert!(h.iter().all(|x| x.is_finite()));
            assert_eq!(encode_half(&h), data, "half message is not canonical");
        }
        Err(e) => assert!(binary_kind(e.kind), "half error kind {:?}", e.kind),
    }

    match decode_sparse(data, "sparseembedding") {
        Ok(s) => {
            assert!((1..=SPARSE_MAX_DIM).contains(&s.dim));
            assert_eq!(s.indices.len(), s.values.len());
            assert!(s.indices.windows(2).all(|w| w[0] < w[1]));
            assert!(s.indices.iter().all(|&i| (i as usize) < s.dim));
            assert!(s.values.iter().all(|x| x.is_finite() && *x != 0.0));
            assert_eq!(
                encode_sparse(s.dim, &s.indices, &s.values),
                data,
                "sparse message is not canonical"
            );
        }
        Err(e) => assert!(binary_kind(e.kind), "sparse error kind {:?}", e.kind),
    }
});
