//! Text parsers on arbitrary bytes (read as UTF-8, lossily). A panic is a
//! crash; so is an accepted value that breaks an invariant or does not
//! survive format -> parse bit for bit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vectors::text::{format_dense, format_sparse, parse_dense, parse_sparse};
use vectors::{ErrorKind, MAX_DIM, SPARSE_MAX_DIM};

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn text_kind(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::InvalidText | ErrorKind::Data | ErrorKind::OutOfRange | ErrorKind::TooLarge
    )
}

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);

    match parse_dense(&input, "embedding") {
        Ok(v) => {
            assert!(
                (1..=MAX_DIM).contains(&v.len()),
                "dense length {} from {input:?}",
                v.len()
            );
            assert!(
                v.iter().all(|x| x.is_finite()),
                "non-finite element from {input:?}"
            );
            let text = format_dense(v.iter().copied());
            let again = parse_dense(&text, "embedding").expect("formatted dense value must parse");
            assert_eq!(
                bits(&again),
                bits(&v),
                "dense round trip of {input:?} via {text:?}"
            );
        }
        Err(e) => assert!(
            text_kind(e.kind),
            "dense error kind {:?} from {input:?}",
            e.kind
        ),
    }

    match parse_sparse(&input, "sparseembedding") {
        Ok(s) => {
            assert!(
                (1..=SPARSE_MAX_DIM).contains(&s.dim),
                "sparse dim {} from {input:?}",
                s.dim
            );
            assert_eq!(s.indices.len(), s.values.len());
            assert!(
                s.indices.windows(2).all(|w| w[0] < w[1]),
                "indices not ascending from {input:?}"
            );
            assert!(
                s.indices.iter().all(|&i| (i as usize) < s.dim),
                "index >= dim from {input:?}"
            );
            assert!(
                s.values.iter().all(|x| x.is_finite() && *x != 0.0),
                "zero/non-finite value from {input:?}"
            );
            let text = format_sparse(&s);
            let again =
                parse_sparse(&text, "sparseembedding").expect("formatted sparse value must parse");
            assert_eq!(again.dim, s.dim);
            assert_eq!(again.indices, s.indices);
            assert_eq!(
                bits(&again.values),
                bits(&s.values),
                "sparse round trip of {input:?} via {text:?}"
            );
        }
        Err(e) => assert!(
            text_kind(e.kind),
            "sparse error kind {:?} from {input:?}",
            e.kind
        ),
    }
});
