//! The encoder on tiny generated checkpoints: shapes, determinism, the
//! pooling, ColBERT projection and SPLADE math against a naive f64 forward
//! pass, truncation, and every error path.

mod common;

use std::cell::Cell;

use common::naive;
use common::never;
use common::tiny::{build, token_ids, ProjectionAt, Spec, H, MAX_POS, VOCAB};
use encoder::{EncoderError, Model};

const TEXTS: [&str; 5] = [
    "the cat sat on the mat",
    "hello world",
    "a big dog ran fast.",
    "",
    "cats, dogs",
];

fn assert_close(got: &[f32], want: &[f64], tol: f64, what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (*g as f64 - w).abs() <= tol,
            "{what}[{i}]: got {g}, want {w}"
        );
    }
}

fn mean_rows(m: &naive::Mat) -> Vec<f64> {
    (0..H)
        .map(|i| m.iter().map(|r| r[i]).sum::<f64>() / m.len() as f64)
        .collect()
}

#[test]
fn dense_matches_naive_forward_for_each_pooling_and_naming() {
    for (name, pooling, prefix, gamma_beta) in [
        ("mean", None, "", false),
        ("cls", Some("cls"), "bert.", true),
        ("max", Some("max"), "bert.", false),
        ("mean2", Some("mean"), "", true),
    ] {
        let tiny = build(&Spec {
            pooling,
            prefix,
            gamma_beta,
            ..Spec::new(name)
        });
        let model = Model::load(&tiny.dir).expect("load tiny");
        assert_eq!(model.info().pooling, pooling.unwrap_or("mean"));
        let got = model.embed(&TEXTS, &never).expect("embed");
        for (text, v) in TEXTS.iter().zip(&got) {
            let hs = naive::hidden(&tiny, &token_ids(&tiny, text, MAX_POS));
            let pooled = match pooling {
                Some("cls") => hs[0].clone(),
                Some("max") => (0..H)
                    .map(|i| hs.iter().map(|r| r[i]).fold(f64::MIN, f64::max))
                    .collect(),
                _ => mean_rows(&hs),
            };
            assert_close(
                v,
                &naive::normalized(&pooled),
                1e-5,
                &format!("{name} embed({text:?})"),
            );
        }
    }
}

#[test]
fn shapes_info_and_determinism() {
    let tiny = build(&Spec {
        mlm: true,
        projection: ProjectionAt::InModel(4),
        ..Spec::new("shapes")
    });
    let model = Model::load(&tiny.dir).expect("load");
    let info = model.info().clone();
    let dir_name = tiny.dir.file_name().unwrap().to_string_lossy().into_owned();
    assert_eq!(
        (info.name, info.dim, info.token_dim, info.vocab_size),
        (dir_name, H, 4, VOCAB.len())
    );
    assert_eq!(
        (
            info.max_tokens,
            info.layers,
            info.has_mlm_head,
            info.has_colbert_projection
        ),
        (MAX_POS, 2, true, true)
    );
    let dense = model.embed(&TEXTS, &never).expect("embed");
    let tokens = model.embed_tokens(&TEXTS, &never).expect("tokens");
    let sparse = model.embed_sparse(&TEXTS, &never).expect("sparse");
    assert_eq!(
        (dense.len(), tokens.len(), sparse.len()),
        (TEXTS.len(), TEXTS.len(), TEXTS.len())
    );
    for (i, text) in TEXTS.iter().enumerate() {
        assert_eq!(dense[i].len(), H);
        let words = token_ids(&tiny, text, MAX_POS).len() - 2;
        assert_eq!(tokens[i].len(), words * 4, "token vectors of {text:?}");
        assert!(sparse[i].0.iter().all(|&id| (id as usize) < VOCAB.len()));
        assert_eq!(sparse[i].0.len(), sparse[i].1.len());
    }
    assert_eq!(
        model.embed(&TEXTS, &never).expect("again"),
        dense,
        "embed is deterministic"
    );
    assert_eq!(
        model.embed_tokens(&TEXTS, &never).expect("again"),
        tokens,
        "embed_tokens is deterministic"
    );
    assert_eq!(
        model.embed_sparse(&TEXTS, &never).expect("again"),
        sparse,
        "embed_sparse is deterministic"
    );
    for (i, text) in TEXTS.iter().enumerate() {
        assert_eq!(
            model.embed(&[text], &never).expect("one")[0],
            dense[i],
            "alone == in a batch for {text:?}"
        );
    }
}

#[test]
fn colbert_projection_is_applied_and_special_tokens_dropped() {
    for (name, at) in [
        ("proj-in-model", ProjectionAt::InModel(4)),
        ("proj-file", ProjectionAt::File(3)),
    ] {
        let tiny = build(&Spec {
            projection: at,
            ..Spec::new(name)
        });
        let model = Model::load(&tiny.dir).expect("load");
        let dim = match at {
            ProjectionAt::InModel(d) | ProjectionAt::File(d) => d,
            ProjectionAt::None => unreachable!(),
        };
        assert_eq!(model.info().token_dim, dim);
        let got = model.embed_tokens(&TEXTS, &never).expect("tokens");
        let (w, b) = (
            &tiny.tensors["linear.weight"].1,
            tiny.tensors.get("linear.bias").map(|t| t.1.as_slice()),
        );
        for (text, v) in TEXTS.iter().zip(&got) {
            let hs = naive::hidden(&tiny, &token_ids(&tiny, text, MAX_POS));
            let words = hs[1..hs.len() - 1].to_vec(); // [CLS] and [SEP] dropped
            let projected = naive::linear(&words, w, b, dim);
            let want: Vec<f64> = projected
                .iter()
                .flat_map(|r| naive::normalized(r))
                .collect();
            assert_close(v, &want, 1e-5, &format!("{name} embed_tokens({text:?})"));
        }
    }
}

#[test]
fn tokens_without_projection_are_normalised_hidden_states() {
    let tiny = build(&Spec::new("noproj"));
    let model = Model::load(&tiny.dir).expect("load");
    let got = model
        .embed_tokens(&["hello world", "", "zebra"], &never)
        .expect("tokens");
    assert!(got[1].is_empty(), "an empty text has no real token");
    assert_eq!(got[2].len(), H, "an unknown word is one [UNK] token, kept");
    let hs = naive::hidden(&tiny, &token_ids(&tiny, "hello world", MAX_POS));
    let want: Vec<f64> = hs[1..3].iter().flat_map(|r| naive::normalized(r)).collect();
    assert_close(&got[0], &want, 1e-5, "embed_tokens(hello world)");
}

#[test]
fn splade_matches_hand_computation() {
    for (name, prefix, gamma_beta) in [("mlm", "", false), ("mlm-bert", "bert.", true)] {
        let tiny = build(&Spec {
            mlm: true,
            prefix,
            gamma_beta,
            ..Spec::new(name)
        });
        let model = Model::load(&tiny.dir).expect("load");
        let got = model.embed_sparse(&TEXTS, &never).expect("sparse");
        for (text, (ids, values)) in TEXTS.iter().zip(&got) {
            let want = naive::splade(&tiny, &token_ids(&tiny, text, MAX_POS), VOCAB.len());
            let mut dense = vec![0.0f32; VOCAB.len()];
            ids.iter()
                .zip(values)
                .for_each(|(i, v)| dense[*i as usize] = *v);
            assert!(ids.windows(2).all(|w| w[0] < w[1]));
            assert!(values.iter().all(|v| *v > 0.0));
            assert_close(
                &dense,
                &want,
                1e-5,
                &format!("{name} embed_sparse({text:?})"),
            );
        }
    }
}

#[test]
fn long_inputs_are_truncated_to_max_tokens() {
    let long = "the cat sat on the mat and the dog ran fast, hello world big cats dogs and more";
    for (name, max_seq, expect_max) in [("trunc-pos", None, MAX_POS), ("trunc-st", Some(6), 6)] {
        let tiny = build(&Spec {
            max_seq_length: max_seq,
            ..Spec::new(name)
        });
        let model = Model::load(&tiny.dir).expect("load");
        assert_eq!(model.info().max_tokens, expect_max);
        let ids = token_ids(&tiny, long, expect_max);
        assert_eq!(ids.len(), expect_max);
        let tokens = model.embed_tokens(&[long], &never).expect("tokens");
        assert_eq!(tokens[0].len(), (expect_max - 2) * H);
        let dense = model.embed(&[long], &never).expect("embed");
        assert_close(
            &dense[0],
            &naive::normalized(&mean_rows(&naive::hidden(&tiny, &ids))),
            1e-5,
            name,
        );
    }
}

#[test]
fn missing_files_and_directories() {
    assert!(
        matches!(Model::load(std::path::Path::new("/nonexistent/ember/model")), Err(EncoderError::ModelNotFound(m)) if m == "model")
    );
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        let tiny = build(&Spec::new("missing"));
        std::fs::remove_file(tiny.dir.join(file)).expect("rm");
        match Model::load(&tiny.dir) {
            Err(EncoderError::MissingFile { file: f, .. }) => assert_eq!(f, file),
            other => panic!("expected MissingFile({file}), got {:?}", other.err()),
        }
    }
}

fn expect_corrupt(dir: &std::path::Path, what: &str) {
    match Model::load(dir) {
        Err(e @ EncoderError::Corrupt { .. }) => eprintln!("{what}: {e}"),
        other => panic!("{what}: expected Corrupt, got {:?}", other.err()),
    }
}

#[test]
fn corrupt_files_are_reported() {
    let tiny = build(&Spec::new("corrupt"));
    let path = tiny.dir.join("model.safetensors");
    let good = std::fs::read(&path).expect("read");
    std::fs::write(&path, b"this is not a safetensors file").expect("write");
    expect_corrupt(&tiny.dir, "garbage safetensors");
    std::fs::write(&path, &good[..good.len() - 10]).expect("write");
    expect_corrupt(&tiny.dir, "truncated safetensors");
    std::fs::write(&path, []).expect("write");
    expect_corrupt(&tiny.dir, "empty safetensors");
    let mut tensors = tiny.tensors.clone();
    tensors.remove("encoder.layer.1.output.dense.weight");
    common::tiny::write_safetensors(&path, &tensors);
    expect_corrupt(&tiny.dir, "missing tensor");
    let mut tensors = tiny.tensors.clone();
    tensors.insert(
        "encoder.layer.0.attention.self.key.weight".into(),
        (vec![H, H + 1], vec![0.0; H * (H + 1)]),
    );
    common::tiny::write_safetensors(&path, &tensors);
    expect_corrupt(&tiny.dir, "misshapen tensor");
    common::tiny::write_safetensors(&path, &tiny.tensors);
    Model::load(&tiny.dir).expect("restored model loads");
    std::fs::write(tiny.dir.join("config.json"), "{not json").expect("write");
    expect_corrupt(&tiny.dir, "bad config.json");
    let tiny = build(&Spec::new("corrupt-tok"));
    std::fs::write(tiny.dir.join("tokenizer.json"), "{}").expect("write");
    expect_corrupt(&tiny.dir, "bad tokenizer.json");
}

#[test]
fn no_mlm_head_means_no_sparse() {
    let tiny = build(&Spec::new("nomlm"));
    let model = Model::load(&tiny.dir).expect("load");
    assert!(!model.info().has_mlm_head);
    match model.embed_sparse(&["hello"], &never) {
        Err(e @ EncoderError::NoMlmHead(_)) => {
            assert!(e.to_string().contains("no masked-language-model head"))
        }
        other => panic!("expected NoMlmHead, got {other:?}"),
    }
}

#[test]
fn cancel_stops_encoding_and_runs_on_the_calling_thread() {
    let tiny = build(&Spec {
        mlm: true,
        ..Spec::new("cancel")
    });
    let model = Model::load(&tiny.dir).expect("load");
    let texts: Vec<&str> = std::iter::repeat_n("the cat sat on the mat", 500).collect();
    let caller = std::thread::current().id();
    let calls = Cell::new(0usize);
    let counting = || {
        assert_eq!(
            std::thread::current().id(),
            caller,
            "cancel called off the calling thread"
        );
        calls.set(calls.get() + 1);
        Ok(())
    };
    model.embed(&texts, &counting).expect("embed");
    let total = calls.get();
    assert!(
        total > 3,
        "cancel is checked between batches and layers ({total} calls)"
    );
    for stop_at in [1, 2, total / 2] {
        calls.set(0);
        let cancel_after = || {
            calls.set(calls.get() + 1);
            if calls.get() >= stop_at {
                Err(EncoderError::Cancelled)
            } else {
                Ok(())
            }
        };
        assert!(matches!(
            model.embed(&texts, &cancel_after),
            Err(EncoderError::Cancelled)
        ));
        assert!(matches!(
            model.embed_tokens(&texts, &cancel_after),
            Err(EncoderError::Cancelled)
        ));
        assert!(matches!(
            model.embed_sparse(&texts, &cancel_after),
            Err(EncoderError::Cancelled)
        ));
    }
}

#[test]
fn oversized_input_is_refused_and_empty_batches_work() {
    let tiny = build(&Spec::new("limits"));
    let model = Model::load(&tiny.dir).expect("load");
    let big = "cat ".repeat(encoder::MAX_INPUT_BYTES / 4 + 1);
    match model.embed(&["hello", &big], &never) {
        Err(EncoderError::InputTooLong { bytes, max }) => {
            assert_eq!((bytes, max), (big.len(), encoder::MAX_INPUT_BYTES))
        }
        other => panic!("expected InputTooLong, got {:?}", other.err()),
    }
    let exactly = "a".repeat(encoder::MAX_INPUT_BYTES);
    assert_eq!(
        model
            .embed(&[&exactly], &never)
            .expect("at the limit")
            .len(),
        1
    );
    assert!(model.embed(&[], &never).expect("no texts").is_empty());
}

#[test]
fn hidden_states_keep_every_layer() {
    let tiny = build(&Spec::new("layers"));
    let model = Model::load(&tiny.dir).expect("load");
    let hs = model
        .hidden_states(&["hello world", "the cat"], &never)
        .expect("hidden");
    assert_eq!(hs.len(), 2);
    assert_eq!(hs[0].layers.len(), 3, "embedding output + 2 layers");
    assert_eq!(hs[0].token_ids, token_ids(&tiny, "hello world", MAX_POS));
    let want: Vec<f64> = naive::hidden(&tiny, &hs[0].token_ids).concat();
    assert_close(hs[0].layers.last().unwrap(), &want, 1e-5, "last layer");
}
