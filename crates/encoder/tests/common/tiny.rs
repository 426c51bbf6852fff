//! Tiny generated BERT checkpoints (random weights, a matching config and a
//! WordPiece tokenizer built with the tokenizers crate) and a naive f64
//! reference forward pass to check the encoder against by hand.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, View};

/// Hidden size of the tiny model.
pub const H: usize = 8;
/// Attention heads.
pub const HEADS: usize = 2;
/// Feed-forward size.
pub const FF: usize = 16;
/// Layers.
pub const LAYERS: usize = 2;
/// Position embeddings (and so, without a sentence-transformers config, max tokens).
pub const MAX_POS: usize = 16;
/// The tiny vocabulary, in id order.
pub const VOCAB: [&str; 20] = [
    "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "dog", "a",
    "ran", "##s", "fast", ".", ",", "hello", "world", "big",
];

/// Where the ColBERT projection of a tiny model goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ProjectionAt {
    /// No projection.
    None,
    /// `linear.weight` of this many rows in `model.safetensors`.
    InModel(usize),
    /// `linear.weight` (+ bias) of this many rows in `colbert_linear.safetensors`.
    File(usize),
}

/// How to build a tiny model directory.
#[derive(Clone)]
pub struct Spec {
    pub name: &'static str,
    pub prefix: &'static str,
    pub gamma_beta: bool,
    pub mlm: bool,
    pub projection: ProjectionAt,
    pub pooling: Option<&'static str>,
    pub max_seq_length: Option<usize>,
    pub seed: u64,
}

impl Spec {
    /// A plain BERT encoder named `name`.
    pub fn new(name: &'static str) -> Spec {
        Spec {
            name,
            prefix: "",
            gamma_beta: false,
            mlm: false,
            projection: ProjectionAt::None,
            pooling: None,
            max_seq_length: None,
            seed: 7,
        }
    }
}

/// A built tiny model: its directory and its tensors under canonical names
/// (no prefix, layer norms as weight/bias).
pub struct Tiny {
    pub dir: PathBuf,
    pub tensors: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Drop for Tiny {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) - 0.5
    }
    fn vec(&mut self, n: usize, scale: f32, offset: f32) -> Vec<f32> {
        (0..n).map(|_| offset + scale * self.next()).collect()
    }
}

/// Raw f32 bytes with a shape, for safetensors serialisation.
struct Raw(Vec<usize>, Vec<u8>);

impl View for &Raw {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.0
    }
    fn data(&self) -> std::borrow::Cow<'_, [u8]> {
        std::borrow::Cow::Borrowed(&self.1)
    }
    fn data_len(&self) -> usize {
        self.1.len()
    }
}

/// Writes `tensors` as a safetensors file.
pub fn write_safetensors(path: &Path, tensors: &BTreeMap<String, (Vec<usize>, Vec<f32>)>) {
    let raw: BTreeMap<&String, Raw> = tensors
        .iter()
        .map(|(k, (s, v))| {
            (
                k,
                Raw(s.clone(), v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            )
        })
        .collect();
    let bytes =
        safetensors::serialize(raw.iter().map(|(k, v)| (k.as_str(), v)), None).expect("serialize");
    std::fs::write(path, bytes).expect("write safetensors");
}

/// Tensors under their canonical names, filled by a seeded generator.
struct Gen {
    rng: Rng,
    t: BTreeMap<String, (Vec<usize>, Vec<f32>)>,
}

impl Gen {
    fn put(&mut self, name: &str, shape: &[usize], scale: f32, offset: f32) {
        let values = self.rng.vec(shape.iter().product(), scale, offset);
        self.t.insert(name.to_string(), (shape.to_vec(), values));
    }
    fn norm(&mut self, base: &str) {
        self.put(&format!("{base}.weight"), &[H], 0.4, 1.0);
        self.put(&format!("{base}.bias"), &[H], 0.2, 0.0);
    }
    fn dense(&mut self, base: &str, out: usize, inp: usize) {
        self.put(&format!("{base}.weight"), &[out, inp], 1.2, 0.0);
        self.put(&format!("{base}.bias"), &[out], 0.2, 0.0);
    }
}

fn canonical_tensors(spec: &Spec) -> BTreeMap<String, (Vec<usize>, Vec<f32>)> {
    let mut g = Gen {
        rng: Rng(spec.seed),
        t: BTreeMap::new(),
    };
    let v = VOCAB.len();
    g.put("embeddings.word_embeddings.weight", &[v, H], 2.0, 0.0);
    g.put(
        "embeddings.position_embeddings.weight",
        &[MAX_POS, H],
        1.0,
        0.0,
    );
    g.put("embeddings.token_type_embeddings.weight", &[2, H], 0.5, 0.0);
    g.norm("embeddings.LayerNorm");
    for l in 0..LAYERS {
        let b = format!("encoder.layer.{l}");
        for (name, out, inp) in [
            ("attention.self.query", H, H),
            ("attention.self.key", H, H),
            ("attention.self.value", H, H),
            ("attention.output.dense", H, H),
            ("intermediate.dense", FF, H),
            ("output.dense", H, FF),
        ] {
            g.dense(&format!("{b}.{name}"), out, inp);
        }
        g.norm(&format!("{b}.attention.output.LayerNorm"));
        g.norm(&format!("{b}.output.LayerNorm"));
    }
    if spec.mlm {
        g.dense("cls.predictions.transform.dense", H, H);
        g.norm("cls.predictions.transform.LayerNorm");
        g.put("cls.predictions.bias", &[v], 1.0, 0.0);
    }
    match spec.projection {
        ProjectionAt::None => {}
        ProjectionAt::InModel(d) => g.put("linear.weight", &[d, H], 1.0, 0.0),
        ProjectionAt::File(d) => {
            g.put("linear.weight", &[d, H], 1.0, 0.0);
            g.put("linear.bias", &[d], 0.3, 0.0);
        }
    }
    g.t
}

/// The name a canonical tensor is stored under in `model.safetensors`.
fn stored_name(spec: &Spec, name: &str) -> String {
    let mut n = name.to_string();
    if spec.gamma_beta && n.contains("LayerNorm") {
        n = n
            .replace("LayerNorm.weight", "LayerNorm.gamma")
            .replace("LayerNorm.bias", "LayerNorm.beta");
    }
    if name.starts_with("embeddings.") || name.starts_with("encoder.") {
        n = format!("{}{n}", spec.prefix);
    }
    n
}

/// Builds the model directory of `spec` under the system temp directory.
pub fn build(spec: &Spec) -> Tiny {
    let dir = std::env::temp_dir().join(format!("ember-tiny-{}-{}", std::process::id(), spec.name));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let tensors = canonical_tensors(spec);
    let (mut main, mut side) = (BTreeMap::new(), BTreeMap::new());
    for (name, value) in &tensors {
        match (spec.projection, name.starts_with("linear.")) {
            (ProjectionAt::File(_), true) => side.insert(name.clone(), value.clone()),
            _ => main.insert(stored_name(spec, name), value.clone()),
        };
    }
    write_safetensors(&dir.join("model.safetensors"), &main);
    if !side.is_empty() {
        write_safetensors(&dir.join("colbert_linear.safetensors"), &side);
    }
    write_config(&dir, spec);
    write_tokenizer(&dir);
    Tiny { dir, tensors }
}

fn write_config(dir: &Path, spec: &Spec) {
    let arch = if spec.mlm {
        "BertForMaskedLM"
    } else {
        "BertModel"
    };
    let config = serde_json::json!({
        "architectures": [arch], "model_type": "bert", "vocab_size": VOCAB.len(), "hidden_size": H,
        "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "intermediate_size": FF, "hidden_act": "gelu",
        "max_position_embeddings": MAX_POS, "type_vocab_size": 2, "layer_norm_eps": 1e-12, "pad_token_id": 0,
        "position_embedding_type": "absolute"
    });
    std::fs::write(dir.join("config.json"), config.to_string()).expect("config");
    if let Some(p) = spec.pooling {
        std::fs::create_dir_all(dir.join("1_Pooling")).expect("mkdir pooling");
        let cfg = serde_json::json!({
            "word_embedding_dimension": H, "pooling_mode_cls_token": p == "cls",
            "pooling_mode_mean_tokens": p == "mean", "pooling_mode_max_tokens": p == "max"
        });
        std::fs::write(dir.join("1_Pooling/config.json"), cfg.to_string()).expect("pooling config");
    }
    if let Some(m) = spec.max_seq_length {
        let cfg = serde_json::json!({ "max_seq_length": m, "do_lower_case": false });
        std::fs::write(dir.join("sentence_bert_config.json"), cfg.to_string()).expect("st config");
    }
}

fn write_tokenizer(dir: &Path) {
    use tokenizers::models::wordpiece::WordPiece;
    use tokenizers::normalizers::bert::BertNormalizer;
    use tokenizers::pre_tokenizers::bert::BertPreTokenizer;
    use tokenizers::processors::bert::BertProcessing;
    use tokenizers::{AddedToken, Tokenizer};
    let vocab_path = dir.join("vocab.txt");
    std::fs::write(&vocab_path, VOCAB.join("\n") + "\n").expect("vocab");
    let wp = WordPiece::from_file(vocab_path.to_str().expect("utf-8 path"))
        .unk_token("[UNK]".into())
        .build()
        .expect("wordpiece");
    let mut tok = Tokenizer::new(wp);
    tok.with_normalizer(Some(BertNormalizer::default()));
    tok.with_pre_tokenizer(Some(BertPreTokenizer));
    tok.with_post_processor(Some(BertProcessing::new(
        ("[SEP]".into(), 3),
        ("[CLS]".into(), 2),
    )));
    let specials: Vec<AddedToken> = VOCAB[..5]
        .iter()
        .map(|t| AddedToken::from(*t, true))
        .collect();
    tok.add_special_tokens(&specials);
    tok.save(dir.join("tokenizer.json"), false)
        .expect("save tokenizer");
}

/// Token ids of `text` as the reference tokenizer gives them, truncated to `max` (specials included).
pub fn token_ids(tiny: &Tiny, text: &str, max: usize) -> Vec<u32> {
    let tok = tokenizers::Tokenizer::from_file(tiny.dir.join("tokenizer.json")).expect("tokenizer");
    let ids = tok.encode(text, true).expect("encode").get_ids().to_vec();
    if ids.len() <= max {
        return ids;
    }
    let mut cut = ids[..max - 1].to_vec();
    cut.push(3);
    cut
}
