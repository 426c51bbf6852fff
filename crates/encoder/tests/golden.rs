//! Fidelity against the reference implementations, on the installed models:
//! all-MiniLM-L6-v2 against sentence-transformers, splade-tiny against
//! transformers' AutoModelForMaskedLM (references made by
//! tests/golden/make_reference.py).

mod common;

use common::{cosine, golden_dir, installed_model, never};
use encoder::{EncoderError, Model};
use serde_json::Value;

fn reference(file: &str) -> Value {
    let text = std::fs::read_to_string(golden_dir().join(file)).expect("golden reference file");
    serde_json::from_str(&text).expect("golden reference JSON")
}

fn floats(v: &Value) -> Vec<f32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect()
}

#[test]
fn minilm_matches_sentence_transformers() {
    let Some(dir) = installed_model("all-MiniLM-L6-v2") else {
        return;
    };
    let model = Model::load(&dir).expect("load MiniLM");
    let info = model.info();
    assert_eq!(
        (info.dim, info.token_dim, info.max_tokens, info.layers),
        (384, 384, 256, 6)
    );
    assert_eq!(
        (
            info.pooling.as_str(),
            info.has_mlm_head,
            info.has_colbert_projection
        ),
        ("mean", false, false)
    );
    let golden = reference("minilm_reference.json");
    let items = golden["items"].as_array().expect("items");
    assert!(items.len() >= 50);
    let texts: Vec<&str> = items
        .iter()
        .map(|i| i["text"].as_str().expect("text"))
        .collect();
    let got = model.embed(&texts, &never).expect("embed");
    let mut worst = (1.0f64, "");
    for ((item, text), v) in items.iter().zip(&texts).zip(&got) {
        assert_eq!(v.len(), 384);
        let c = cosine(v, &floats(&item["embedding"]));
        if c < worst.0 {
            worst = (c, text);
        }
        assert!(c >= 0.9999, "cosine {c} < 0.9999 for {text:?}");
    }
    eprintln!(
        "MiniLM vs sentence-transformers: worst cosine {:.9} ({:?})",
        worst.0, worst.1
    );
}

#[test]
fn minilm_one_at_a_time_equals_batch_and_token_counts_match() {
    let Some(dir) = installed_model("all-MiniLM-L6-v2") else {
        return;
    };
    let model = Model::load(&dir).expect("load MiniLM");
    let golden = reference("minilm_reference.json");
    let items = golden["items"].as_array().expect("items");
    let texts: Vec<&str> = items
        .iter()
        .map(|i| i["text"].as_str().expect("text"))
        .collect();
    let batch = model.embed(&texts, &never).expect("embed batch");
    let tokens = model.embed_tokens(&texts, &never).expect("embed_tokens");
    for (i, text) in texts.iter().enumerate() {
        let alone = model.embed(&[text], &never).expect("embed one");
        assert!(
            cosine(&alone[0], &batch[i]) > 0.999_999,
            "batch and single differ for {text:?}"
        );
        let with_special = items[i]["tokens"].as_u64().expect("tokens") as usize;
        assert_eq!(
            tokens[i].len(),
            (with_special - 2) * 384,
            "token count of {text:?}"
        );
        for row in tokens[i].chunks(384) {
            let norm: f32 = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            assert!((norm - 1.0).abs() < 1e-4);
        }
    }
}

#[test]
fn minilm_has_no_sparse_output() {
    let Some(dir) = installed_model("all-MiniLM-L6-v2") else {
        return;
    };
    let model = Model::load(&dir).expect("load MiniLM");
    match model.embed_sparse(&["hello"], &never) {
        Err(EncoderError::NoMlmHead(name)) => assert_eq!(name, "all-MiniLM-L6-v2"),
        other => panic!("expected NoMlmHead, got {other:?}"),
    }
}

#[test]
fn minilm_refuses_oversized_input() {
    let Some(dir) = installed_model("all-MiniLM-L6-v2") else {
        return;
    };
    let model = Model::load(&dir).expect("load MiniLM");
    let big = "a".repeat(encoder::MAX_INPUT_BYTES + 1);
    assert!(matches!(
        model.embed(&["ok", &big], &never),
        Err(EncoderError::InputTooLong { .. })
    ));
}

#[test]
fn splade_tiny_matches_masked_lm_reference() {
    let Some(dir) = installed_model("splade-tiny") else {
        return;
    };
    let model = Model::load(&dir).expect("load splade-tiny");
    assert!(model.info().has_mlm_head);
    assert_eq!(
        (
            model.info().vocab_size,
            model.info().max_tokens,
            model.info().layers
        ),
        (30522, 512, 2)
    );
    let golden = reference("splade_reference.json");
    let items = golden["items"].as_array().expect("items");
    let texts: Vec<&str> = items
        .iter()
        .map(|i| i["text"].as_str().expect("text"))
        .collect();
    let got = model.embed_sparse(&texts, &never).expect("embed_sparse");
    for ((item, text), (ids, values)) in items.iter().zip(&texts).zip(&got) {
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids ascending");
        assert!(values.iter().all(|v| *v > 0.0));
        let mut dense = vec![0.0f32; 30522];
        ids.iter()
            .zip(values)
            .for_each(|(i, v)| dense[*i as usize] = *v);
        let mut expected = vec![0.0f32; 30522];
        let ref_ids = item["ids"].as_array().expect("ids");
        ref_ids
            .iter()
            .zip(floats(&item["values"]))
            .for_each(|(i, v)| expected[i.as_u64().unwrap() as usize] = v);
        let worst = dense
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst <= 1e-4,
            "SPLADE values differ by {worst} for {text:?}"
        );
        let short: String = text.chars().take(30).collect();
        eprintln!("splade-tiny vs AutoModelForMaskedLM: max |diff| {worst:.2e} for {short:?}");
    }
}

#[test]
fn splade_tiny_expands_cat_sentence() {
    let Some(dir) = installed_model("splade-tiny") else {
        return;
    };
    let model = Model::load(&dir).expect("load splade-tiny");
    let tok = tokenizers::Tokenizer::from_file(dir.join("tokenizer.json")).expect("tokenizer");
    let (ids, values) = model
        .embed_sparse(&["the cat sat on the mat"], &never)
        .expect("sparse")
        .remove(0);
    let mut terms: Vec<(f32, String)> = ids
        .iter()
        .zip(&values)
        .map(|(i, v)| (*v, tok.id_to_token(*i).unwrap_or_default()))
        .collect();
    terms.sort_by(|a, b| b.0.total_cmp(&a.0));
    let top: Vec<&str> = terms.iter().take(8).map(|t| t.1.as_str()).collect();
    eprintln!("splade-tiny top terms: {top:?}");
    for want in ["mat", "cat", "sat"] {
        assert!(
            top.contains(&want),
            "{want} not among the top terms {top:?}"
        );
    }
}
