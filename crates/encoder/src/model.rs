//! [`Model`]: a loaded model directory and the three ways to encode text.

use std::path::Path;

use tokenizers::{Tokenizer, TruncationParams};

use crate::bert::{Bert, HiddenStates, PackedBatch, Resolver};
use crate::config::{read_max_seq_length, read_pooling, BertConfig, Pooling};
use crate::error::{corrupt, EncoderError};
use crate::heads::{pool, MlmHead, Projection};
use crate::kernels::l2_normalize;
use crate::weights::WeightFile;
use crate::{ModelInfo, MAX_INPUT_BYTES};

/// Most sequences one forward pass takes.
const MAX_SEQS_PER_BATCH: usize = 64;
/// Most tokens one forward pass takes (a longer text still goes alone).
const MAX_TOKENS_PER_BATCH: usize = 4096;
/// Texts tokenized at a time (between two calls of `cancel`).
const TOKENIZE_CHUNK: usize = 256;

/// The callback the caller gives to stop a long encoding (checked on the
/// calling thread only, between batches and between layers).
pub type Cancel<'a> = &'a dyn Fn() -> Result<(), EncoderError>;

/// A sparse vector: ascending 0-based vocabulary ids and their nonzero values.
pub type SparseVector = (Vec<u32>, Vec<f32>);

/// One text after tokenization.
struct Tokens {
    ids: Vec<u32>,
    type_ids: Vec<u32>,
    /// Whether each token is a special token the tokenizer's post-processor
    /// added ([CLS], [SEP]); [UNK] and the text's own tokens are not.
    special: Vec<bool>,
}

/// A loaded encoder model: tokenizer, memory-mapped weights, BERT encoder and
/// optional ColBERT projection and MLM head. Load once, share freely
/// (`Send + Sync`); encoding takes `&self`.
pub struct Model {
    info: ModelInfo,
    tokenizer: Tokenizer,
    weights: WeightFile,
    bert: Bert,
    pooling: Pooling,
    projection: Option<Projection>,
    mlm: Option<MlmHead>,
}

/// The hidden states of one text, for multi-layer representations.
#[derive(Clone, Debug)]
pub struct TextHiddenStates {
    /// The text's token ids, special tokens included.
    pub token_ids: Vec<u32>,
    /// The hidden size.
    pub hidden: usize,
    /// `layers + 1` matrices of `token_ids.len() × hidden`, row-major: the
    /// embedding output first, then each transformer layer's output.
    pub layers: Vec<Vec<f32>>,
}

impl Model {
    /// Loads the model directory `dir`; the model's name is the directory's name.
    pub fn load(dir: &Path) -> Result<Model, EncoderError> {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        if !dir.is_dir() {
            return Err(EncoderError::ModelNotFound(name));
        }
        for file in ["config.json", "tokenizer.json", "model.safetensors"] {
            if !dir.join(file).is_file() {
                return Err(EncoderError::MissingFile {
                    model: name,
                    file: file.into(),
                });
            }
        }
        let cfg = BertConfig::read(&name, dir)?;
        let weights = WeightFile::open(&name, &dir.join("model.safetensors"))?;
        let (bert, mlm) = {
            let resolver = Resolver::new(&name, &weights)?;
            let bert = Bert::new(&resolver, &cfg)?;
            let mlm = MlmHead::load(&resolver, &bert)?;
            (bert, mlm)
        };
        let projection = Projection::load(&name, dir, &weights, cfg.hidden_size)?;
        let pooling = read_pooling(&name, dir)?;
        let max_tokens = read_max_seq_length(&name, dir)?
            .unwrap_or(cfg.max_position_embeddings)
            .clamp(2, cfg.max_position_embeddings);
        let tokenizer = load_tokenizer(&name, dir, max_tokens, cfg.vocab_size)?;
        let info = ModelInfo {
            name,
            dim: cfg.hidden_size,
            token_dim: projection.as_ref().map_or(cfg.hidden_size, |p| p.out_dim),
            max_tokens,
            vocab_size: cfg.vocab_size,
            layers: cfg.num_hidden_layers,
            pooling: pooling.name().to_string(),
            has_mlm_head: mlm.is_some(),
            has_colbert_projection: projection.is_some(),
        };
        Ok(Model {
            info,
            tokenizer,
            weights,
            bert,
            pooling,
            projection,
            mlm,
        })
    }

    /// What the model is and can do.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Bytes of weights used in place from the memory-mapped file (shared
    /// between processes through the page cache rather than copied).
    pub fn mapped_weight_bytes(&self) -> usize {
        self.weights.mapped_bytes()
    }

    /// Dense: pooled per the sentence-transformers pooling config (mean for
    /// MiniLM; mean if absent), L2-normalised. One `Vec<f32>` of
    /// [`ModelInfo::dim`] per text, in input order.
    pub fn embed(&self, texts: &[&str], cancel: Cancel<'_>) -> Result<Vec<Vec<f32>>, EncoderError> {
        let h = self.info.dim;
        let mut out = Vec::with_capacity(texts.len());
        self.run(texts, false, cancel, |_, batch, hidden| {
            for &(start, len) in &batch.seqs {
                let mut v = if len == 0 {
                    vec![0.0; h]
                } else {
                    pool(hidden.last(), h, start, len, self.pooling)
                };
                l2_normalize(&mut v);
                out.push(v);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Late interaction: per-token output vectors (through the ColBERT
    /// projection when the model has one), L2-normalised, special and padding
    /// tokens dropped. Row-major `count × token_dim` per text; `count` may be 0.
    pub fn embed_tokens(
        &self,
        texts: &[&str],
        cancel: Cancel<'_>,
    ) -> Result<Vec<Vec<f32>>, EncoderError> {
        let (h, dim) = (self.info.dim, self.info.token_dim);
        let mut out = Vec::with_capacity(texts.len());
        self.run(texts, false, cancel, |tokens, batch, hidden| {
            for (t, &(start, _)) in tokens.iter().zip(&batch.seqs) {
                let keep: Vec<usize> = (0..t.ids.len()).filter(|&i| !t.special[i]).collect();
                let mut rows = Vec::with_capacity(keep.len() * h);
                for &i in &keep {
                    rows.extend_from_slice(&hidden.last()[(start + i) * h..(start + i + 1) * h]);
                }
                if let Some(p) = &self.projection {
                    rows = p.apply(&rows, keep.len());
                }
                rows.chunks_exact_mut(dim).for_each(l2_normalize);
                out.push(rows);
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// SPLADE: `log(1 + relu(MLM logits))` max-pooled over all attended
    /// tokens ([CLS] and [SEP] included); per text the ascending 0-based
    /// vocabulary ids with a nonzero value, and those values. Fails with
    /// [`EncoderError::NoMlmHead`] when the model has no MLM head.
    pub fn embed_sparse(
        &self,
        texts: &[&str],
        cancel: Cancel<'_>,
    ) -> Result<Vec<SparseVector>, EncoderError> {
        let mlm = self
            .mlm
            .as_ref()
            .ok_or_else(|| EncoderError::NoMlmHead(self.info.name.clone()))?;
        let mut out = Vec::with_capacity(texts.len());
        self.run(texts, false, cancel, |_, batch, hidden| {
            for &(start, len) in &batch.seqs {
                cancel()?;
                out.push(mlm.splade(&self.weights, &self.bert, hidden.last(), start, len));
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Every layer's hidden states (embedding output first), special tokens
    /// included, per text: the raw material of multi-layer representations.
    pub fn hidden_states(
        &self,
        texts: &[&str],
        cancel: Cancel<'_>,
    ) -> Result<Vec<TextHiddenStates>, EncoderError> {
        let h = self.info.dim;
        let mut out = Vec::with_capacity(texts.len());
        self.run(texts, true, cancel, |tokens, batch, hidden| {
            for (t, &(start, len)) in tokens.iter().zip(&batch.seqs) {
                let layers = hidden
                    .layers
                    .iter()
                    .map(|l| l[start * h..(start + len) * h].to_vec())
                    .collect();
                out.push(TextHiddenStates {
                    token_ids: t.ids.clone(),
                    hidden: h,
                    layers,
                });
            }
            Ok(())
        })?;
        Ok(out)
    }

    /// Tokenizes `texts` and runs the encoder batch by batch, in input order,
    /// handing each batch's tokens, layout and hidden states to `each`.
    fn run(
        &self,
        texts: &[&str],
        keep_all: bool,
        cancel: Cancel<'_>,
        mut each: impl FnMut(&[Tokens], &PackedBatch, &HiddenStates) -> Result<(), EncoderError>,
    ) -> Result<(), EncoderError> {
        if let Some(t) = texts.iter().find(|t| t.len() > MAX_INPUT_BYTES) {
            return Err(EncoderError::InputTooLong {
                bytes: t.len(),
                max: MAX_INPUT_BYTES,
            });
        }
        for chunk in texts.chunks(TOKENIZE_CHUNK) {
            cancel()?;
            let tokens = self.tokenize(chunk)?;
            let mut first = 0;
            while first < tokens.len() {
                let end = batch_end(&tokens, first);
                cancel()?;
                let batch = pack(&tokens[first..end]);
                let hidden = self.bert.forward(&self.weights, &batch, keep_all, cancel)?;
                each(&tokens[first..end], &batch, &hidden)?;
                first = end;
            }
        }
        Ok(())
    }

    /// Tokenizes (with special tokens, truncated to `max_tokens`).
    fn tokenize(&self, texts: &[&str]) -> Result<Vec<Tokens>, EncoderError> {
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| EncoderError::Internal(format!("tokenizer failed: {e}")))?;
        Ok(encodings
            .into_iter()
            .map(|e| {
                let special = e
                    .get_special_tokens_mask()
                    .iter()
                    .map(|&m| m != 0)
                    .collect();
                Tokens {
                    ids: e.get_ids().to_vec(),
                    type_ids: e.get_type_ids().to_vec(),
                    special,
                }
            })
            .collect())
    }
}

/// The end of the batch that starts at `first`: at most
/// [`MAX_SEQS_PER_BATCH`] texts and [`MAX_TOKENS_PER_BATCH`] tokens (but at
/// least one text).
fn batch_end(tokens: &[Tokens], first: usize) -> usize {
    let mut end = first;
    let mut total = 0;
    while end < tokens.len() && end - first < MAX_SEQS_PER_BATCH {
        let len = tokens[end].ids.len();
        if end > first && total + len > MAX_TOKENS_PER_BATCH {
            break;
        }
        total += len;
        end += 1;
    }
    end
}

/// Lays `tokens` out one sequence after another, without padding.
fn pack(tokens: &[Tokens]) -> PackedBatch {
    let total = tokens.iter().map(|t| t.ids.len()).sum();
    let mut batch = PackedBatch {
        ids: Vec::with_capacity(total),
        type_ids: Vec::with_capacity(total),
        seqs: Vec::with_capacity(tokens.len()),
    };
    for t in tokens {
        batch.seqs.push((batch.ids.len(), t.ids.len()));
        batch.ids.extend_from_slice(&t.ids);
        batch.type_ids.extend_from_slice(&t.type_ids);
    }
    batch
}

/// Loads `tokenizer.json`, truncating to `max_tokens` and never padding.
fn load_tokenizer(
    model: &str,
    dir: &Path,
    max_tokens: usize,
    vocab: usize,
) -> Result<Tokenizer, EncoderError> {
    let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
        .map_err(|e| corrupt(model, format!("tokenizer.json: {e}")))?;
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_tokens,
            ..Default::default()
        }))
        .map_err(|e| corrupt(model, format!("tokenizer.json: {e}")))?;
    tokenizer.with_padding(None);
    if tokenizer.get_vocab_size(true) > vocab {
        return Err(corrupt(
            model,
            format!(
                "tokenizer has {} tokens, the model only {vocab}",
                tokenizer.get_vocab_size(true)
            ),
        ));
    }
    Ok(tokenizer)
}
