//! ember's text encoder: BERT-family models run on the CPU from a model
//! directory, with no Postgres inside (the extension's `src/embed.rs` is the
//! glue).
//!
//! A model directory holds `config.json`, `tokenizer.json` and
//! `model.safetensors`, and optionally:
//! - a sentence-transformers `modules.json` / `1_Pooling/config.json` (dense
//!   pooling: mean, cls or max; mean when absent) and
//!   `sentence_bert_config.json` (`max_seq_length`, else the config's
//!   `max_position_embeddings`, is where inputs are truncated);
//! - a ColBERT projection: a `linear.weight` (`token_dim × hidden`, optional
//!   `linear.bias`) tensor in `model.safetensors`, as Stanford ColBERT
//!   checkpoints store it, or the same tensors in
//!   [`COLBERT_PROJECTION_FILE`];
//! - an MLM head (`cls.predictions.transform.*`, decoder tied to the word
//!   embeddings unless `cls.predictions.decoder.weight` exists, bias
//!   `cls.predictions.bias`) for SPLADE.
//!
//! Weights are memory-mapped and read in place, so processes that load the
//! same model share one copy in the page cache. Tensor names may carry a
//! `bert.` prefix; layer norms may be named `weight`/`bias` or `gamma`/`beta`.
//!
//! Texts are tokenized, grouped into batches of whole texts laid out one
//! after another without padding (each token attends only to its own text,
//! exactly what the padding mask computes), and run through the encoder on
//! rayon's thread pool. Every layer's hidden states can be had through
//! [`Model::hidden_states`].
#![deny(unsafe_code)]

mod bert;
mod config;
mod error;
mod heads;
mod kernels;
mod model;
mod weights;

pub use error::EncoderError;
pub use heads::COLBERT_PROJECTION_FILE;
pub use model::{Cancel, Model, SparseVector, TextHiddenStates};

/// Texts longer than this many bytes are refused with
/// [`EncoderError::InputTooLong`] (tokenizing megabytes is a denial of
/// service); texts longer than the model's `max_tokens` are truncated to it,
/// as the reference implementations do.
pub const MAX_INPUT_BYTES: usize = 1 << 20;

/// What a loaded model is and can do.
#[derive(Clone, Debug)]
pub struct ModelInfo {
    /// The model's name: its directory's name.
    pub name: String,
    /// Dimension of [`Model::embed`]'s vectors (the hidden size).
    pub dim: usize,
    /// Dimension of [`Model::embed_tokens`]'s token vectors (the ColBERT
    /// projection's output, else the hidden size).
    pub token_dim: usize,
    /// Tokens per text, special tokens included, beyond which input is truncated.
    pub max_tokens: usize,
    /// Vocabulary size: the dimension of [`Model::embed_sparse`]'s vectors.
    pub vocab_size: usize,
    /// Number of transformer layers.
    pub layers: usize,
    /// Dense pooling: `"mean"`, `"cls"` or `"max"`.
    pub pooling: String,
    /// Whether the model has an MLM head (so [`Model::embed_sparse`] works).
    pub has_mlm_head: bool,
    /// Whether token vectors go through a ColBERT linear projection.
    pub has_colbert_projection: bool,
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Model>();
}
