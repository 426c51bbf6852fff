//! Property-based fuzzing of the text parsers and binary codecs.
//!
//! Every property runs `EMBER_FUZZ_CASES` cases (default 2000) and prints
//! how many it ran, e.g.
//!
//! ```sh
//! cargo test -p ember-vectors --test fuzz_parsers -- --nocapture
//! EMBER_FUZZ_CASES=100000 cargo test --release -p ember-vectors --test fuzz_parsers -- --nocapture
//! ```
//!
//! The properties:
//! - the parsers and decoders never panic, on arbitrary input and on
//!   structured near-valid input, and every error has a kind that input can
//!   cause (text: 22P02/22000/22003/54000; binary: 22P03/22000/54000);
//! - whatever they accept satisfies the value invariants (dense 1..=16000
//!   finite elements; sparse indices strictly ascending and < dim, values
//!   non-zero and finite) and re-formats / re-encodes to something that
//!   parses / decodes back bit for bit;
//! - formatting then parsing (and encoding then decoding) any valid value
//!   gives it back bit for bit, -0.0, subnormals and the extremes included;
//! - for structured input, the result (value or error kind) equals the one a
//!   small reference model of the documented rules predicts.
//!
//! A property whose expectation the code does not meet yet is `#[ignore]`d
//! with the reason, so it can be run with `-- --ignored` once fixed.

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};

use half::f16;
use proptest::collection::{btree_set, vec};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use vectors::binary::{
    decode_dense, decode_half, decode_sparse, encode_dense, encode_half, encode_sparse,
};
use vectors::sparse::SparseVec;
use vectors::text::{format_dense, format_sparse, parse_dense, parse_sparse};
use vectors::{ErrorKind, MAX_DIM, SPARSE_MAX_DIM};

const DENSE: &str = vectors::type_name::EMBEDDING;
const HALF: &str = vectors::type_name::HALF;
const SPARSE: &str = vectors::type_name::SPARSE;

// ---------------------------------------------------------------------------
// Runner
// ---------------------------------------------------------------------------

/// Cases per property: `EMBER_FUZZ_CASES`, default 2000.
fn cases() -> u32 {
    std::env::var("EMBER_FUZZ_CASES")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(2000)
}

/// Runs `test` on `cases()` values of `strategy` (random seed each run),
/// prints how many ran, and fails with the shrunk input if one failed.
fn run<S>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S: Strategy,
    S::Value: Debug,
{
    let config = Config {
        cases: cases(),
        // No regression files written into the source tree: the failing
        // input is in the panic message.
        failure_persistence: None,
        max_shrink_iters: 4096,
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    let ran = AtomicU64::new(0);
    let result = runner.run(&strategy, |value| {
        ran.fetch_add(1, Ordering::Relaxed);
        test(value)
    });
    eprintln!(
        "fuzz_parsers: {name}: {} cases run ({} configured)",
        ran.load(Ordering::Relaxed),
        cases()
    );
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

/// Counts outcomes (Ok, or the error kind) across a property's cases, so the
/// printed summary shows the generators reach every branch.
#[derive(Default)]
struct Tally([AtomicU64; 7]);

impl Tally {
    fn add<T>(&self, r: &Result<T, vectors::VectorError>) {
        let slot = match r {
            Ok(_) => 0,
            Err(e) => match e.kind {
                ErrorKind::InvalidText => 1,
                ErrorKind::InvalidBinary => 2,
                ErrorKind::Data => 3,
                ErrorKind::OutOfRange => 4,
                ErrorKind::TooLarge => 5,
                ErrorKind::InvalidParameter => 6,
            },
        };
        self.0[slot].fetch_add(1, Ordering::Relaxed);
    }

    fn print(&self, name: &str) {
        let n: Vec<u64> = self.0.iter().map(|a| a.load(Ordering::Relaxed)).collect();
        eprintln!(
            "fuzz_parsers: {name}: outcomes ok={} 22P02={} 22P03={} 22000={} 22003={} 54000={} 22023={}",
            n[0], n[1], n[2], n[3], n[4], n[5], n[6]
        );
    }
}

// ---------------------------------------------------------------------------
// Invariants of accepted values
// ---------------------------------------------------------------------------

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn half_bits(v: &[f16]) -> Vec<u16> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Equality that tells -0.0 from 0.0 (and would tell NaNs apart).
fn same_sparse(a: &SparseVec, b: &SparseVec) -> bool {
    a.dim == b.dim && a.indices == b.indices && bits(&a.values) == bits(&b.values)
}

fn check_dense_ok(v: &[f32], input: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        (1..=MAX_DIM).contains(&v.len()),
        "dense length {} from {input:?}",
        v.len()
    );
    prop_assert!(
        v.iter().all(|x| x.is_finite()),
        "non-finite element from {input:?}: {v:?}"
    );
    Ok(())
}

fn check_sparse_ok(s: &SparseVec, input: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        (1..=SPARSE_MAX_DIM).contains(&s.dim),
        "sparse dim {} from {input:?}",
        s.dim
    );
    prop_assert_eq!(s.indices.len(), s.values.len(), "from {:?}", input);
    prop_assert!(
        s.indices.windows(2).all(|w| w[0] < w[1]),
        "indices not strictly ascending from {input:?}: {s:?}"
    );
    prop_assert!(
        s.indices.iter().all(|&i| (i as usize) < s.dim),
        "index >= dim from {input:?}: {s:?}"
    );
    prop_assert!(
        s.values.iter().all(|x| x.is_finite() && *x != 0.0),
        "zero or non-finite value from {input:?}: {s:?}"
    );
    Ok(())
}

/// Error kinds text input can produce.
fn check_text_err_kind(kind: ErrorKind, input: &str) -> Result<(), TestCaseError> {
    prop_assert!(
        matches!(
            kind,
            ErrorKind::InvalidText | ErrorKind::Data | ErrorKind::OutOfRange | ErrorKind::TooLarge
        ),
        "text input {input:?} gave error kind {kind:?}"
    );
    Ok(())
}

/// Error kinds binary input can produce.
fn check_binary_err_kind(kind: ErrorKind, bytes: &[u8]) -> Result<(), TestCaseError> {
    prop_assert!(
        matches!(
            kind,
            ErrorKind::InvalidBinary | ErrorKind::Data | ErrorKind::TooLarge
        ),
        "binary input {bytes:?} gave error kind {kind:?}"
    );
    Ok(())
}

/// Both text parsers on `input`: no panic (the runner catches one and
/// reports the input), invariants on success, re-format round trip.
fn check_text(input: &str, tally: &Tally) -> Result<(), TestCaseError> {
    let dense = parse_dense(input, DENSE);
    let sparse = parse_sparse(input, SPARSE);
    tally.add(&dense);
    tally.add(&sparse);
    match dense {
        Ok(v) => {
            check_dense_ok(&v, input)?;
            let again = parse_dense(&format_dense(v.iter().copied()), DENSE);
            prop_assert!(
                again.as_ref().map(|a| bits(a) == bits(&v)).unwrap_or(false),
                "dense re-parse of {input:?} gave {again:?}, first {v:?}"
            );
        }
        Err(e) => {
            check_text_err_kind(e.kind, input)?;
            prop_assert!(!e.message.is_empty());
        }
    }
    match sparse {
        Ok(s) => {
            check_sparse_ok(&s, input)?;
            let again = parse_sparse(&format_sparse(&s), SPARSE);
            prop_assert!(
                again.as_ref().map(|a| same_sparse(a, &s)).unwrap_or(false),
                "sparse re-parse of {input:?} gave {again:?}, first {s:?}"
            );
        }
        Err(e) => {
            check_text_err_kind(e.kind, input)?;
            prop_assert!(!e.message.is_empty());
        }
    }
    Ok(())
}

/// All three decoders on `bytes`: no panic, invariants on success, and an
/// accepted message is the canonical encoding of what it decoded to.
fn check_binary(bytes: &[u8], tally: &Tally) -> Result<(), TestCaseError> {
    let (dense, half, sparse) = (
        decode_dense(bytes, DENSE),
        decode_half(bytes, HALF),
        decode_sparse(bytes, SPARSE),
    );
    tally.add(&dense);
    tally.add(&half);
    tally.add(&sparse);
    match dense {
        Ok(v) => {
            check_dense_ok(&v, "<binary>")?;
            prop_assert_eq!(encode_dense(&v), bytes.to_vec());
        }
        Err(e) => check_binary_err_kind(e.kind, bytes)?,
    }
    match half {
        Ok(h) => {
            prop_assert!((1..=MAX_DIM).contains(&h.len()));
            prop_assert!(
                h.iter().all(|x| x.is_finite()),
                "non-finite half from {bytes:?}"
            );
            prop_assert_eq!(encode_half(&h), bytes.to_vec());
        }
        Err(e) => check_binary_err_kind(e.kind, bytes)?,
    }
    match sparse {
        Ok(s) => {
            check_sparse_ok(&s, "<binary>")?;
            prop_assert_eq!(encode_sparse(s.dim, &s.indices, &s.values), bytes.to_vec());
        }
        Err(e) => check_binary_err_kind(e.kind, bytes)?,
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------

/// Hand-picked finite values at the edges of f32 and of the formatter's
/// fixed/exponent switch (1e-4 and 1e6).
fn special_f32() -> impl Strategy<Value = f32> {
    prop::sample::select(vec![
        0.0f32,
        -0.0,
        1.0,
        -1.0,
        0.1,
        f32::MAX,
        f32::MIN,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        f32::EPSILON,
        f32::from_bits(1), // smallest subnormal
        -f32::from_bits(1),
        f32::from_bits(0x007f_ffff), // largest subnormal
        f32::from_bits(0x7f7f_fffe), // just below MAX
        1e-4,
        f32::from_bits(1e-4f32.to_bits() - 1),
        1e6,
        f32::from_bits(1e6f32.to_bits() - 1), // 999999.94
        123456.0,
        1234567.0,
        65504.0,
        65520.0,
        16777216.0,
        3.0e-39,
    ])
}

/// Any finite f32: every bit pattern is reachable (NaN/inf patterns are
/// folded into finite ones), with extra weight on subnormals, the edges and
/// "human" decimals.
fn finite_f32() -> impl Strategy<Value = f32> {
    prop_oneof![
        4 => any::<u32>().prop_map(|b| {
            let f = f32::from_bits(b);
            if f.is_finite() { f } else { f32::from_bits(b & !(1 << 30)) }
        }),
        2 => (any::<bool>(), 0u32..0x0080_0000).prop_map(|(neg, m)| {
            let f = f32::from_bits(m);
            if neg { -f } else { f }
        }),
        2 => special_f32(),
        2 => (-100_000i32..100_000, 0u32..8).prop_map(|(n, k)| n as f32 / 10f32.powi(k as i32)),
    ]
}

fn nonzero_finite_f32() -> impl Strategy<Value = f32> {
    finite_f32().prop_map(|f| if f == 0.0 { 1.0 } else { f })
}

/// A finite f32 vector of 1..=MAX_DIM elements, mostly short.
fn dense_vec() -> impl Strategy<Value = Vec<f32>> {
    prop_oneof![
        20 => vec(finite_f32(), 1..=64),
        2 => vec(finite_f32(), 1..=2000),
        1 => vec(special_f32(), 1..=16),
    ]
}

/// A canonical sparse value: any dim up to SPARSE_MAX_DIM, ascending
/// distinct indices below it, non-zero finite values.
fn sparse_vec() -> impl Strategy<Value = SparseVec> {
    let dim = prop_oneof![
        3 => 1usize..=64,
        2 => 1usize..=100_000,
        2 => 1usize..=SPARSE_MAX_DIM,
        1 => Just(SPARSE_MAX_DIM),
        1 => Just(1usize),
    ];
    dim.prop_flat_map(|dim| {
        let max_nnz = dim.min(64);
        let idx = prop_oneof![
            3 => (0..dim as u32).boxed(),
            1 => Just(dim as u32 - 1).boxed(),
            1 => (0..(dim as u32).min(8)).boxed(),
        ];
        (Just(dim), btree_set(idx, 0..=max_nnz))
    })
    .prop_flat_map(|(dim, idx)| {
        let n = idx.len();
        (
            Just(dim),
            Just(idx.into_iter().collect::<Vec<u32>>()),
            vec(nonzero_finite_f32(), n..=n),
        )
    })
    .prop_map(|(dim, indices, values)| SparseVec {
        dim,
        indices,
        values,
    })
}

/// ASCII whitespace Postgres's isspace() also accepts.
fn ws() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just(String::new()),
        2 => vec(prop::sample::select(vec![' ', '\t', '\n', '\r', '\x0b', '\x0c']), 1..4)
            .prop_map(|c| c.into_iter().collect()),
    ]
}

fn rand_case(s: &str, mask: u64) -> String {
    s.chars()
        .enumerate()
        .map(|(i, c)| {
            if mask >> (i % 64) & 1 == 1 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect()
}

/// The same decimal number as `v`, written in one of many notations that
/// must all parse to exactly `v` (the shortest digits of `v`, with the
/// decimal point moved, padding zeros, signs and exponent spellings).
fn notations(v: f32) -> impl Strategy<Value = String> {
    let sci = format!("{v:e}");
    let (mant, exp) = sci.split_once('e').unwrap();
    let exp: i64 = exp.parse().unwrap();
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    (
        0u8..10,
        -50i64..50,
        0usize..5,
        0usize..5,
        any::<bool>(),
        any::<bool>(),
        0usize..4,
    )
        .prop_map(
            move |(form, shift, lead0, trail0, plus, upper_e, exp_pad)| {
                let sign = if neg {
                    "-"
                } else if plus {
                    "+"
                } else {
                    ""
                };
                let e = if upper_e { "E" } else { "e" };
                // value = 0.DIGITS x 10^(exp+1) = DIGITS x 10^(exp+1-len)
                let n = digits.len() as i64;
                match form {
                    0 => format!("{v}"),
                    1 => format!("{v:e}"),
                    2 => format!("{v:E}"),
                    3 => {
                        let mut s = String::new();
                        vectors::float_text::format_f32(v, &mut s);
                        s
                    }
                    // DIGITS with the point after `k` digits, exponent adjusted.
                    _ => {
                        let k = shift.clamp(-3, n + 3);
                        let (int, frac) = if k <= 0 {
                            (
                                String::new(),
                                format!("{}{digits}", "0".repeat((-k) as usize)),
                            )
                        } else if k >= n {
                            (
                                format!("{digits}{}", "0".repeat((k - n) as usize)),
                                String::new(),
                            )
                        } else {
                            (
                                digits[..k as usize].to_string(),
                                digits[k as usize..].to_string(),
                            )
                        };
                        let int = format!("{}{int}", "0".repeat(lead0));
                        let frac = format!("{frac}{}", "0".repeat(trail0));
                        let int = if int.is_empty() && frac.is_empty() {
                            "0".to_string()
                        } else {
                            int
                        };
                        let x = exp + 1 - k;
                        let mantissa = if frac.is_empty() {
                            if form % 2 == 0 {
                                format!("{int}.")
                            } else {
                                int
                            }
                        } else {
                            format!("{int}.{frac}")
                        };
                        let exp_sign = if x < 0 {
                            "-"
                        } else if form % 3 == 0 {
                            "+"
                        } else {
                            ""
                        };
                        format!(
                            "{sign}{mantissa}{e}{exp_sign}{}{}",
                            "0".repeat(exp_pad),
                            x.abs()
                        )
                    }
                }
            },
        )
}

/// One dense element token and what parsing it must give.
#[derive(Debug, Clone)]
enum Tok {
    /// A finite value (zeros and underflow to zero included).
    Val(String, f32),
    /// Error of this kind.
    Bad(String, ErrorKind),
}

impl Tok {
    fn text(&self) -> &str {
        match self {
            Tok::Val(s, _) | Tok::Bad(s, _) => s,
        }
    }
}

fn zero_tok() -> impl Strategy<Value = Tok> {
    prop::sample::select(vec![
        "0",
        "-0",
        "+0",
        "0.0",
        "-0.0",
        ".0",
        "0.",
        "00",
        "0e0",
        "0e999999999999",
        "-0E-7",
        "1e-46",
        "-1e-50",
        "1e-999999999999",
        "0.000000000000000000000000000000000000000000000000000001",
    ])
    .prop_map(|s| Tok::Val(s.to_string(), s.parse().unwrap()))
}

fn nonfinite_tok() -> impl Strategy<Value = Tok> {
    (
        prop::sample::select(vec!["nan", "inf", "infinity"]),
        prop::sample::select(vec!["", "+", "-"]),
        any::<u64>(),
    )
        .prop_map(|(w, sign, mask)| {
            Tok::Bad(format!("{sign}{}", rand_case(w, mask)), ErrorKind::Data)
        })
}

fn overflow_tok() -> impl Strategy<Value = Tok> {
    prop_oneof![
        prop::sample::select(vec![
            "1e39",
            "-1e39",
            "3.4028236e38",
            "-3.4028236E+38",
            "1e99999999999999999999",
            "340282360000000000000000000000000000000",
            "999999999999999999999999999999999999999999999999.5",
            "0.00000001e47",
        ])
        .prop_map(String::from),
        (any::<bool>(), 1u32..10, 39u64..100_000)
            .prop_map(|(n, d, e)| format!("{}{d}e{e}", if n { "-" } else { "" })),
    ]
    .prop_map(|s| Tok::Bad(s, ErrorKind::OutOfRange))
}

/// Tokens that are not float literals (Rust's and strtof's agree here; hex
/// floats, which strtof takes, are refused by design).
fn garbage_tok() -> impl Strategy<Value = Tok> {
    prop_oneof![
        prop::sample::select(vec![
            "",
            "   ",
            ".",
            "+",
            "-",
            "e",
            "e5",
            ".e5",
            "1e",
            "1e+",
            "1E-",
            "--1",
            "+-1",
            "1..2",
            "1.2.3",
            "1e5.0",
            "1e5e5",
            "0x10",
            "0x1p3",
            "1_000",
            "1f",
            "1d",
            "abc",
            "'1'",
            "\"1\"",
            "1 2",
            "1\u{0}",
            "nan(1)",
            "infinit",
            "infinityy",
            "nana",
            "1inf",
            "١",
            "１",
            "1\u{2009}2",
            "[1",
            "1]",
            "[",
            "{1:2}",
            "1:2",
            "1/2",
            "%",
            "∞",
            "NULL",
        ])
        .prop_map(String::from),
        "[a-zA-Z][a-zA-Z0-9]{0,6}".prop_filter("not nan/inf", |s| {
            let l = s.to_ascii_lowercase();
            !["nan", "inf", "infinity"].contains(&l.as_str())
        }),
    ]
    .prop_map(|s| Tok::Bad(s, ErrorKind::InvalidText))
}

fn dense_tok() -> impl Strategy<Value = Tok> {
    prop_oneof![
        12 => finite_f32().prop_flat_map(|v| notations(v).prop_map(move |s| Tok::Val(s, v))),
        2 => zero_tok(),
        1 => nonfinite_tok(),
        1 => overflow_tok(),
        1 => garbage_tok(),
    ]
}

/// Random ASCII-whitespace padding around a token.
fn padded<T: Strategy>(t: T) -> impl Strategy<Value = (String, T::Value, String)> {
    (ws(), t, ws())
}

/// What `parse_dense("[t1,t2,...]")` must give, per the documented rules
/// (first failing element decides; more than MAX_DIM is TooLarge).
fn model_dense(toks: &[Tok]) -> Result<Vec<f32>, ErrorKind> {
    if toks.len() == 1 && toks[0].text().trim().is_empty() {
        return Err(ErrorKind::Data); // "[]": at least one dimension
    }
    let mut out = Vec::new();
    for t in toks {
        if out.len() == MAX_DIM {
            return Err(ErrorKind::TooLarge);
        }
        match t {
            Tok::Val(_, v) => out.push(*v),
            Tok::Bad(_, k) => return Err(*k),
        }
    }
    Ok(out)
}

/// Fragments of near-valid vector text, for random concatenation.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "[", "]", "{", "}", "/", ":", ",", ",", ",", " ", "\t", "\n", "-", "+", ".", "e", "E", "e+", "e-", "0", "1",
            "9", "00", "1.5", "-2.25", "1e38", "1e39", "3.4028235e38", "1e-45", "1e-46", "1e99999999999",
            "99999999999999999999", "1000000000", "1000000001", "16000", "16001", "2147483648", "-1", "nan", "NaN",
            "-inf", "Infinity", "0x1p3", "\u{a0}", "\u{3000}", "\u{85}", "\u{feff}", "é", "\u{0}", "[[", "]]", "}/",
            ":0", "0:", "{}/", "/0",
        ]).prop_map(String::from),
        2 => "[0-9]{1,25}",
        1 => finite_f32().prop_flat_map(notations),
        1 => "\\PC{1,3}",
    ]
}

fn soup() -> impl Strategy<Value = String> {
    vec(fragment(), 0..40).prop_map(|f| f.concat())
}

// ---------------------------------------------------------------------------
// Properties: text parsers never panic
// ---------------------------------------------------------------------------

#[test]
fn text_parsers_never_panic_on_arbitrary_strings() {
    let strategy = prop_oneof![
        4 => "\\PC*",
        2 => any::<String>(),
        2 => vec(any::<u8>(), 0..200).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        1 => "\\PC*".prop_map(|s| format!("[{s}]")),
        1 => ("\\PC*", "\\PC*").prop_map(|(a, b)| format!("{{{a}}}/{b}")),
    ];
    let tally = Tally::default();
    run("text_arbitrary", strategy, |s| check_text(&s, &tally));
    tally.print("text_arbitrary (dense+sparse)");
}

#[test]
fn text_parsers_never_panic_on_near_valid_soup() {
    let strategy = prop_oneof![
        2 => soup(),
        2 => soup().prop_map(|s| format!("[{s}]")),
        2 => (soup(), soup()).prop_map(|(a, b)| format!("{{{a}}}/{b}")),
        // number lists with junk glued in
        2 => (vec(padded(fragment()), 1..30), ws(), ws()).prop_map(|(items, a, b)| {
            let items: Vec<String> = items.into_iter().map(|(l, t, r)| format!("{l}{t}{r}")).collect();
            format!("{a}[{}]{b}", items.join(","))
        }),
        // sparse pairs with arbitrary index, value and dim fragments
        2 => (vec((fragment(), fragment()), 0..20), fragment()).prop_map(|(pairs, dim)| {
            let pairs: Vec<String> = pairs.into_iter().map(|(i, v)| format!("{i}:{v}")).collect();
            format!("{{{}}}/{dim}", pairs.join(","))
        }),
    ];
    let tally = Tally::default();
    run("text_soup", strategy, |s| check_text(&s, &tally));
    tally.print("text_soup (dense+sparse)");
}

// ---------------------------------------------------------------------------
// Properties: dense text against the model
// ---------------------------------------------------------------------------

#[test]
fn dense_text_matches_model() {
    let strategy = (vec(padded(dense_tok()), 1..40), ws(), ws(), 0u8..8).prop_map(
        |(toks, lead, trail, skew)| {
            let mut toks: Vec<(String, Tok, String)> = toks;
            // Most cases all-valid so the Ok path is well covered.
            if skew < 5 {
                for t in &mut toks {
                    if let Tok::Bad(..) = t.1 {
                        t.1 = Tok::Val("1".into(), 1.0);
                    }
                }
            }
            let body: Vec<String> = toks
                .iter()
                .map(|(l, t, r)| format!("{l}{}{r}", t.text()))
                .collect();
            let input = format!("{lead}[{}]{trail}", body.join(","));
            let toks: Vec<Tok> = toks.into_iter().map(|t| t.1).collect();
            (input, toks)
        },
    );
    let (tally, unused) = (Tally::default(), Tally::default());
    run("dense_model", strategy, |(input, toks)| {
        let expected = model_dense(&toks);
        let got = parse_dense(&input, DENSE);
        tally.add(&got);
        match (&expected, &got) {
            (Ok(e), Ok(g)) => prop_assert_eq!(bits(e), bits(g), "input {:?}", input),
            (Err(e), Err(g)) => prop_assert_eq!(*e, g.kind, "input {:?}: {}", input, g.message),
            _ => prop_assert!(false, "input {input:?}: expected {expected:?}, got {got:?}"),
        }
        check_text(&input, &unused)
    });
    tally.print("dense_model");
}

#[test]
fn dense_text_dimension_limit() {
    // Element counts at and around MAX_DIM, plus empty brackets; contents are
    // cheap tokens chosen by a seed so the case count stays affordable.
    let strategy = prop_oneof![
        3 => 1usize..=64,
        1 => (MAX_DIM - 3)..=(MAX_DIM + 3),
        1 => Just(0usize),
    ];
    let strategy = (strategy, any::<u64>(), any::<bool>());
    run("dense_dim_limit", strategy, |(n, seed, bad_last)| {
        const TOKENS: [&str; 6] = ["1", "-0", "2.5e-3", " 7 ", "1e-45", "3.4028235e38"];
        let mut parts: Vec<&str> = (0..n)
            .map(|i| TOKENS[(seed.rotate_left(i as u32 % 64) % 6) as usize])
            .collect();
        if bad_last && n > 0 {
            *parts.last_mut().unwrap() = "nan";
        }
        let input = format!("[{}]", parts.join(","));
        let got = parse_dense(&input, DENSE);
        if n == 0 {
            prop_assert_eq!(got.map_err(|e| e.kind), Err(ErrorKind::Data));
        } else if n > MAX_DIM {
            prop_assert_eq!(got.map_err(|e| e.kind), Err(ErrorKind::TooLarge));
        } else if bad_last {
            prop_assert_eq!(got.map_err(|e| e.kind), Err(ErrorKind::Data));
        } else {
            let v = got.map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(v.len(), n);
            check_dense_ok(&v, "<long list>")?;
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// Properties: sparse text against the model
// ---------------------------------------------------------------------------

/// One `i:v` pair of the sparse generator: the 1-based index as written and
/// as a number, and the value token.
#[derive(Debug, Clone)]
struct Pair {
    idx_text: String,
    idx: IdxTok,
    val: Tok,
}

#[derive(Debug, Clone, Copy)]
enum IdxTok {
    /// An integer literal (may be < 1 or beyond SPARSE_MAX_DIM).
    Num(i128),
    /// Not an integer literal at all.
    Garbage,
}

/// An integer written with optional sign/leading zeros.
fn int_text(n: i128, plus: bool, lead0: usize) -> String {
    if n < 0 {
        format!("-{}{}", "0".repeat(lead0), -n)
    } else {
        format!("{}{}{n}", if plus { "+" } else { "" }, "0".repeat(lead0))
    }
}

fn index_tok(dim: i128) -> impl Strategy<Value = (String, IdxTok)> {
    let num = prop_oneof![
        6 => 1..=dim.clamp(1, 100),
        3 => 1..=dim.clamp(1, SPARSE_MAX_DIM as i128),
        1 => dim..=dim + 3,
        1 => -3i128..=0,
        1 => Just(SPARSE_MAX_DIM as i128 + 1),
        1 => Just(i64::MAX as i128 + 1),
        1 => Just(99_999_999_999_999_999_999i128),
    ];
    prop_oneof![
        12 => (num, any::<bool>(), prop_oneof![3 => Just(0usize), 1 => 1usize..4])
            .prop_map(|(n, plus, lead0)| (int_text(n, plus, lead0), IdxTok::Num(n))),
        1 => prop::sample::select(vec!["", " ", "a", "1.0", "1e2", "0x1", "1 2", "١", "1/2", "{1"])
            .prop_map(|s| (s.to_string(), IdxTok::Garbage)),
    ]
}

fn sparse_case() -> impl Strategy<Value = (String, Vec<Pair>, i128)> {
    let dim = prop_oneof![
        6 => 1i128..=50,
        2 => 1i128..=SPARSE_MAX_DIM as i128,
        1 => Just(SPARSE_MAX_DIM as i128),
        1 => Just(SPARSE_MAX_DIM as i128 + 1),
        1 => -2i128..=0,
        1 => Just(i64::MAX as i128),
    ];
    (dim, any::<bool>(), 0usize..3, 0u8..6)
        .prop_flat_map(|(dim, plus, lead0, order)| {
            let pair = (index_tok(dim), dense_tok(), ws(), ws(), ws()).prop_map(
                |((idx_text, idx), val, a, b, c)| Pair {
                    idx_text: format!("{a}{idx_text}{b}"),
                    idx,
                    val: match val {
                        Tok::Val(s, v) => Tok::Val(format!("{s}{c}"), v),
                        // A '}' inside a value would end the pair list early.
                        Tok::Bad(s, _) if s.contains('}') => {
                            Tok::Bad("x".into(), ErrorKind::InvalidText)
                        }
                        Tok::Bad(s, k) => Tok::Bad(format!("{s}{c}"), k),
                    },
                },
            );
            (
                Just(dim),
                Just(plus),
                Just(lead0),
                Just(order),
                vec(pair, 0..12),
                ws(),
                ws(),
            )
        })
        .prop_map(|(dim, plus, lead0, order, mut pairs, w1, w2)| {
            // Mostly sorted (ascending, then de-duplicated) so the Ok path is
            // covered; otherwise as drawn (unsorted, duplicates).
            let key = |p: &Pair| match p.idx {
                IdxTok::Num(n) => n,
                IdxTok::Garbage => 0,
            };
            if order < 4 {
                pairs.sort_by_key(key);
                pairs.dedup_by_key(|p| key(p));
            }
            if order < 2 {
                // Valid values; indices valid too when the dim is.
                let top = dim.clamp(1, SPARSE_MAX_DIM as i128);
                for p in &mut pairs {
                    if let Tok::Bad(..) = p.val {
                        p.val = Tok::Val("2".into(), 2.0);
                    }
                    match p.idx {
                        IdxTok::Num(n) if (1..=top).contains(&n) => {}
                        IdxTok::Num(n) => {
                            let n = n.rem_euclid(top) + 1;
                            p.idx = IdxTok::Num(n);
                            p.idx_text = n.to_string();
                        }
                        IdxTok::Garbage => {
                            p.idx = IdxTok::Num(1);
                            p.idx_text = "1".into();
                        }
                    }
                }
                if order == 0 {
                    pairs.sort_by_key(key);
                    pairs.dedup_by_key(|p| key(p));
                }
            }
            let body: Vec<String> = pairs
                .iter()
                .map(|p| format!("{}:{}", p.idx_text, p.val.text()))
                .collect();
            let input = format!(
                "{w1}{{{}}}{w2}/{w1}{}{w2}",
                body.join(","),
                int_text(dim, plus, lead0)
            );
            (input, pairs, dim)
        })
}

/// What `parse_sparse` must give, per the documented rules: dim first, then
/// each pair in order (index syntax and range, value, strictly ascending),
/// zeros dropped, then every kept index must be <= dim.
fn model_sparse(pairs: &[Pair], dim: i128) -> Result<SparseVec, ErrorKind> {
    if dim < 1 {
        return Err(ErrorKind::Data);
    }
    if dim > SPARSE_MAX_DIM as i128 {
        return Err(ErrorKind::TooLarge);
    }
    let (mut indices, mut values) = (Vec::new(), Vec::new());
    let mut last: Option<i128> = None;
    for p in pairs {
        let idx = match p.idx {
            IdxTok::Garbage => return Err(ErrorKind::InvalidText),
            IdxTok::Num(n) if n < 1 || n > SPARSE_MAX_DIM as i128 => return Err(ErrorKind::Data),
            IdxTok::Num(n) => n,
        };
        let v = match &p.val {
            Tok::Val(_, v) => *v,
            Tok::Bad(_, k) => return Err(*k),
        };
        if last.is_some_and(|l| idx <= l) {
            return Err(ErrorKind::InvalidText);
        }
        last = Some(idx);
        if v != 0.0 {
            indices.push((idx - 1) as u32);
            values.push(v);
        }
    }
    if indices.iter().any(|&i| i as i128 >= dim) {
        return Err(ErrorKind::Data);
    }
    Ok(SparseVec {
        dim: dim as usize,
        indices,
        values,
    })
}

#[test]
fn sparse_text_matches_model() {
    let (tally, unused) = (Tally::default(), Tally::default());
    run("sparse_model", sparse_case(), |(input, pairs, dim)| {
        let expected = model_sparse(&pairs, dim);
        let got = parse_sparse(&input, SPARSE);
        tally.add(&got);
        match (&expected, &got) {
            (Ok(e), Ok(g)) => prop_assert!(
                same_sparse(e, g),
                "input {input:?}: expected {e:?}, got {g:?}"
            ),
            (Err(e), Err(g)) => prop_assert_eq!(*e, g.kind, "input {:?}: {}", input, g.message),
            _ => prop_assert!(false, "input {input:?}: expected {expected:?}, got {got:?}"),
        }
        check_text(&input, &unused)
    });
    tally.print("sparse_model");
}

/// A malformed integer in a sparse index or dimension (a lone or misplaced
/// sign) is malformed text, 22P02, as in pgvector (strtol finds no number
/// there, or junk follows it).
#[test]
fn sparse_malformed_integers_are_syntax_errors() {
    let bad_int = prop::sample::select(vec![
        "-", "+", "--1", "+-1", "-+1", "1-", "1+", "1-2", "1+1", "++1", "-0-",
    ]);
    let strategy = (bad_int, any::<bool>());
    run("sparse_malformed_integers", strategy, |(bad, in_dim)| {
        let input = if in_dim {
            format!("{{1:1}}/{bad}")
        } else {
            format!("{{{bad}:1}}/3")
        };
        let got = parse_sparse(&input, SPARSE).map_err(|e| e.kind);
        prop_assert_eq!(got, Err(ErrorKind::InvalidText), "input {:?}", input);
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// Properties: round trips
// ---------------------------------------------------------------------------

#[test]
fn dense_text_round_trip() {
    run("dense_text_round_trip", dense_vec(), |v| {
        let text = format_dense(v.iter().copied());
        let back =
            parse_dense(&text, DENSE).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(bits(&back), bits(&v), "text {}", text);
        // Formatting is a fixed point: what was parsed prints the same.
        prop_assert_eq!(format_dense(back), text);
        Ok(())
    });
}

#[test]
fn dense_text_round_trip_max_dim() {
    // One full-size vector of spread-out bit patterns (not a proptest: a
    // 16000-element strategy value is slow to generate in debug builds).
    let v: Vec<f32> = (0..MAX_DIM as u32)
        .map(|i| {
            let f = f32::from_bits(i.wrapping_mul(0x9E37_79B9));
            if f.is_finite() {
                f
            } else {
                -f32::from_bits(i)
            }
        })
        .collect();
    let text = format_dense(v.iter().copied());
    assert_eq!(bits(&parse_dense(&text, DENSE).unwrap()), bits(&v));
    assert_eq!(
        bits(&decode_dense(&encode_dense(&v), DENSE).unwrap()),
        bits(&v)
    );
    let mut too_long = text.clone();
    too_long.insert_str(1, "1,");
    assert_eq!(
        parse_dense(&too_long, DENSE).unwrap_err().kind,
        ErrorKind::TooLarge
    );
}

#[test]
fn dense_notations_parse_exactly() {
    let strategy = finite_f32().prop_flat_map(|v| (Just(v), notations(v)));
    run("dense_notations", strategy, |(v, s)| {
        let input = format!("[{s}]");
        let got =
            parse_dense(&input, DENSE).map_err(|e| TestCaseError::fail(format!("{input}: {e}")))?;
        prop_assert_eq!(bits(&got), vec![v.to_bits()], "input {}", input);
        Ok(())
    });
}

#[test]
fn sparse_text_round_trip() {
    run("sparse_text_round_trip", sparse_vec(), |s| {
        prop_assert!(
            SparseVec::new_checked(s.dim, s.indices.clone(), s.values.clone(), SPARSE).is_ok()
        );
        let text = format_sparse(&s);
        let back =
            parse_sparse(&text, SPARSE).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert!(same_sparse(&back, &s), "text {text}: got {back:?}");
        prop_assert_eq!(format_sparse(&back), text);
        Ok(())
    });
}

#[test]
fn binary_round_trips() {
    let half = any::<u16>().prop_map(|b| {
        let h = f16::from_bits(b);
        if h.is_finite() {
            h
        } else {
            f16::from_bits(b & !(1 << 14))
        }
    });
    let half_vec = prop_oneof![10 => vec(half.clone(), 1..=64), 1 => vec(half, 1..=2000)];
    let strategy = (dense_vec(), half_vec, sparse_vec());
    run("binary_round_trip", strategy, |(v, h, s)| {
        let back = decode_dense(&encode_dense(&v), DENSE)
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(bits(&back), bits(&v));
        let back =
            decode_half(&encode_half(&h), HALF).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(half_bits(&back), half_bits(&h));
        let bytes = encode_sparse(s.dim, &s.indices, &s.values);
        let back = decode_sparse(&bytes, SPARSE).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert!(same_sparse(&back, &s), "got {back:?}, want {s:?}");
        check_binary(&bytes, &Tally::default())
    });
}

// ---------------------------------------------------------------------------
// Properties: binary decoders never panic
// ---------------------------------------------------------------------------

/// A valid encoding with random damage: overwritten bytes, a cut, an
/// appended tail, or a rewritten header field (32-bit fields if `wide`, as
/// in sparse messages, else 16-bit as in dense ones).
fn damaged(valid: Vec<u8>, wide: bool) -> impl Strategy<Value = Vec<u8>> {
    let len = valid.len();
    (
        vec((0..len.max(1), any::<u8>()), 0..4),
        prop_oneof![3 => Just(None), 1 => (0..=len).prop_map(Some)],
        prop_oneof![3 => Just(vec![]), 1 => vec(any::<u8>(), 1..9)],
        prop_oneof![
            3 => Just(None),
            1 => (0usize..3, prop::sample::select(vec![
                0i32, 1, -1, 2, 15_999, 16_000, 16_001, 32_767, 65_535, i16::MIN as i32, 1_000_000_000, 1_000_000_001,
                i32::MAX, i32::MIN,
            ])).prop_map(Some),
        ],
    )
        .prop_map(move |(pokes, cut, tail, field)| {
            let mut b = valid.clone();
            if let Some((which, value)) = field {
                // Rewrite a 16-bit (dense) or 32-bit (sparse) header field.
                if wide && b.len() >= 12 {
                    b[which * 4..which * 4 + 4].copy_from_slice(&value.to_be_bytes());
                } else if b.len() >= 4 {
                    let at = (which % 2) * 2;
                    b[at..at + 2].copy_from_slice(&(value as i16).to_be_bytes());
                }
            }
            for (at, byte) in pokes {
                if at < b.len() {
                    b[at] = byte;
                }
            }
            if let Some(cut) = cut {
                b.truncate(cut);
            }
            b.extend(tail);
            b
        })
}

#[test]
fn binary_decoders_never_panic() {
    let dense_bytes = dense_vec().prop_map(|v| encode_dense(&v));
    let half_bytes = vec(any::<u16>(), 0..40).prop_map(|b| {
        let h: Vec<f16> = b.into_iter().map(f16::from_bits).collect();
        encode_half(&h)
    });
    // Sparse messages from arbitrary (possibly invalid) parts.
    let raw_sparse = (
        prop_oneof![
            any::<i32>(),
            0i32..100,
            Just(SPARSE_MAX_DIM as i32),
            Just(SPARSE_MAX_DIM as i32 + 1)
        ],
        vec(prop_oneof![any::<i32>(), 0i32..100], 0..20),
        vec(any::<u32>().prop_map(f32::from_bits), 0..20),
        prop_oneof![3 => Just(None), 1 => any::<i32>().prop_map(Some)],
        prop_oneof![3 => Just(0i32), 1 => any::<i32>()],
    )
        .prop_map(|(dim, idx, vals, nnz, unused)| {
            let n = nnz.unwrap_or(idx.len() as i32);
            let mut b = Vec::new();
            b.extend_from_slice(&dim.to_be_bytes());
            b.extend_from_slice(&n.to_be_bytes());
            b.extend_from_slice(&unused.to_be_bytes());
            for i in idx {
                b.extend_from_slice(&i.to_be_bytes());
            }
            for v in vals {
                b.extend_from_slice(&v.to_be_bytes());
            }
            b
        });
    let sparse_bytes = sparse_vec().prop_map(|s| encode_sparse(s.dim, &s.indices, &s.values));
    let strategy = prop_oneof![
        3 => vec(any::<u8>(), 0..64),
        1 => vec(any::<u8>(), 0..2048),
        2 => dense_bytes.prop_flat_map(|b| damaged(b, false)),
        2 => half_bytes.prop_flat_map(|b| damaged(b, false)),
        2 => sparse_bytes.prop_flat_map(|b| damaged(b, true)),
        2 => raw_sparse,
    ];
    let tally = Tally::default();
    run("binary_decoders", strategy, |bytes| {
        check_binary(&bytes, &tally)
    });
    tally.print("binary_decoders (dense+half+sparse)");
}
