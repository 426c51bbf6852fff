//! The BERT encoder: weights resolved by name at load time and a forward pass
//! over packed (unpadded) sequences that keeps every layer's hidden states.

use crate::config::BertConfig;
use crate::error::{corrupt, EncoderError};
use crate::kernels::{activate, add_layer_norm, attention, linear, Activation};
use crate::weights::{TensorId, WeightFile};

/// A dense layer: weight `out × in` (PyTorch layout) and optional bias.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Linear {
    pub weight: TensorId,
    pub bias: Option<TensorId>,
    pub out_dim: usize,
    pub in_dim: usize,
}

impl Linear {
    /// Applies the layer to `rows` rows of `x`.
    pub(crate) fn forward(&self, w: &WeightFile, x: &[f32], rows: usize) -> Vec<f32> {
        let bias = self.bias.map(|b| w.at(b).data);
        linear(
            x,
            rows,
            w.at(self.weight).data,
            self.out_dim,
            self.in_dim,
            bias,
        )
    }
}

/// A layer norm's scale and shift.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Norm {
    pub gamma: TensorId,
    pub beta: TensorId,
}

impl Norm {
    /// `x = LayerNorm(x + residual)` in place.
    pub(crate) fn forward(&self, w: &WeightFile, x: &mut [f32], residual: &[f32], eps: f32) {
        add_layer_norm(
            x,
            residual,
            w.at(self.gamma).data,
            w.at(self.beta).data,
            eps,
        );
    }
}

/// One transformer layer.
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    attn_out: Linear,
    attn_norm: Norm,
    intermediate: Linear,
    output: Linear,
    out_norm: Norm,
}

/// The embedding tables and their layer norm.
struct Embeddings {
    word: TensorId,
    position: TensorId,
    token_type: Option<TensorId>,
    norm: Norm,
}

/// Looks tensors up by their Hugging Face names, with or without a `bert.`
/// prefix, and layer norms by `weight`/`bias` or `gamma`/`beta`.
pub(crate) struct Resolver<'a> {
    pub model: &'a str,
    pub weights: &'a WeightFile,
    pub prefix: &'static str,
}

impl<'a> Resolver<'a> {
    /// Picks the prefix under which `embeddings.word_embeddings.weight` is stored.
    pub(crate) fn new(
        model: &'a str,
        weights: &'a WeightFile,
    ) -> Result<Resolver<'a>, EncoderError> {
        let prefix = ["", "bert.", "model."]
            .into_iter()
            .find(|p| weights.contains(&format!("{p}embeddings.word_embeddings.weight")))
            .ok_or_else(|| {
                corrupt(
                    model,
                    "model.safetensors has no embeddings.word_embeddings.weight tensor",
                )
            })?;
        Ok(Resolver {
            model,
            weights,
            prefix,
        })
    }

    /// The tensor `name` (taken as given), checked to have `shape`.
    pub(crate) fn exact(&self, name: &str, shape: &[usize]) -> Result<TensorId, EncoderError> {
        let id = self
            .weights
            .id(name)
            .ok_or_else(|| corrupt(self.model, format!("tensor {name} is missing")))?;
        let found = self.weights.at(id).shape;
        if found != shape {
            return Err(corrupt(
                self.model,
                format!("tensor {name} has shape {found:?}, expected {shape:?}"),
            ));
        }
        Ok(id)
    }

    /// The encoder tensor `name` (under the model's prefix), checked to have `shape`.
    fn tensor(&self, name: &str, shape: &[usize]) -> Result<TensorId, EncoderError> {
        self.exact(&format!("{}{name}", self.prefix), shape)
    }

    /// A dense layer stored as `{base}.weight` and `{base}.bias` (bias optional).
    pub(crate) fn linear(
        &self,
        base: &str,
        out_dim: usize,
        in_dim: usize,
    ) -> Result<Linear, EncoderError> {
        let weight = self.exact(&format!("{base}.weight"), &[out_dim, in_dim])?;
        let bias_name = format!("{base}.bias");
        let bias = match self.weights.contains(&bias_name) {
            true => Some(self.exact(&bias_name, &[out_dim])?),
            false => None,
        };
        Ok(Linear {
            weight,
            bias,
            out_dim,
            in_dim,
        })
    }

    /// A layer norm stored as `{base}.weight/bias` or `{base}.gamma/beta`.
    pub(crate) fn norm(&self, base: &str, dim: usize) -> Result<Norm, EncoderError> {
        let (g, b) = match self.weights.contains(&format!("{base}.weight")) {
            true => ("weight", "bias"),
            false => ("gamma", "beta"),
        };
        Ok(Norm {
            gamma: self.exact(&format!("{base}.{g}"), &[dim])?,
            beta: self.exact(&format!("{base}.{b}"), &[dim])?,
        })
    }

    fn layer(&self, i: usize, cfg: &BertConfig) -> Result<Layer, EncoderError> {
        let (h, m) = (cfg.hidden_size, cfg.intermediate_size);
        let base = format!("{}encoder.layer.{i}", self.prefix);
        Ok(Layer {
            query: self.linear(&format!("{base}.attention.self.query"), h, h)?,
            key: self.linear(&format!("{base}.attention.self.key"), h, h)?,
            value: self.linear(&format!("{base}.attention.self.value"), h, h)?,
            attn_out: self.linear(&format!("{base}.attention.output.dense"), h, h)?,
            attn_norm: self.norm(&format!("{base}.attention.output.LayerNorm"), h)?,
            intermediate: self.linear(&format!("{base}.intermediate.dense"), m, h)?,
            output: self.linear(&format!("{base}.output.dense"), h, m)?,
            out_norm: self.norm(&format!("{base}.output.LayerNorm"), h)?,
        })
    }
}

/// A batch of tokenized texts packed one after another, without padding.
pub(crate) struct PackedBatch {
    /// All token ids, sequence after sequence.
    pub ids: Vec<u32>,
    /// Each token's type id (segment), parallel to `ids`.
    pub type_ids: Vec<u32>,
    /// Each sequence's (first row, length) in `ids`.
    pub seqs: Vec<(usize, usize)>,
}

/// The hidden states of a batch: `layers + 1` matrices of `tokens × hidden`,
/// the embedding output first and the last layer's output last.
pub(crate) struct HiddenStates {
    pub layers: Vec<Vec<f32>>,
}

impl HiddenStates {
    /// The last layer's output.
    pub(crate) fn last(&self) -> &[f32] {
        self.layers.last().map(Vec::as_slice).unwrap_or(&[])
    }
}

/// A BERT encoder over one model's weights.
pub(crate) struct Bert {
    pub cfg: BertConfig,
    pub act: Activation,
    eps: f32,
    embeddings: Embeddings,
    layers: Vec<Layer>,
}

impl Bert {
    /// Resolves and shape-checks every encoder tensor.
    pub(crate) fn new(r: &Resolver<'_>, cfg: &BertConfig) -> Result<Bert, EncoderError> {
        let h = cfg.hidden_size;
        let type_name = format!("{}embeddings.token_type_embeddings.weight", r.prefix);
        let token_type = match r.weights.get(&type_name) {
            Some(t) => Some(r.exact(
                &type_name,
                &[t.shape.first().copied().unwrap_or(0).max(1), h],
            )?),
            None => None,
        };
        let embeddings = Embeddings {
            word: r.tensor("embeddings.word_embeddings.weight", &[cfg.vocab_size, h])?,
            position: r.tensor(
                "embeddings.position_embeddings.weight",
                &[cfg.max_position_embeddings, h],
            )?,
            token_type,
            norm: r.norm(&format!("{}embeddings.LayerNorm", r.prefix), h)?,
        };
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| r.layer(i, cfg))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Bert {
            cfg: cfg.clone(),
            act: cfg.activation(r.model)?,
            eps: cfg.layer_norm_eps as f32,
            embeddings,
            layers,
        })
    }

    /// The word-embedding table (`vocab × hidden`), which an MLM decoder may share.
    pub(crate) fn word_embeddings(&self) -> TensorId {
        self.embeddings.word
    }

    /// The layer-norm epsilon.
    pub(crate) fn eps(&self) -> f32 {
        self.eps
    }

    /// Runs the encoder. `cancel` is called (on this thread) between layers.
    /// With `keep_all` every layer's output is kept, else only the last.
    pub(crate) fn forward(
        &self,
        w: &WeightFile,
        batch: &PackedBatch,
        keep_all: bool,
        cancel: &dyn Fn() -> Result<(), EncoderError>,
    ) -> Result<HiddenStates, EncoderError> {
        let mut x = self.embed(w, batch)?;
        let mut layers = Vec::with_capacity(if keep_all { self.layers.len() + 1 } else { 1 });
        for layer in &self.layers {
            cancel()?;
            let next = self.layer_forward(w, layer, &x, &batch.seqs);
            if keep_all {
                layers.push(std::mem::replace(&mut x, next));
            } else {
                x = next;
            }
        }
        layers.push(x);
        Ok(HiddenStates { layers })
    }

    /// Word + position + token-type embeddings, then layer norm.
    fn embed(&self, w: &WeightFile, batch: &PackedBatch) -> Result<Vec<f32>, EncoderError> {
        let h = self.cfg.hidden_size;
        let (word, pos) = (
            w.at(self.embeddings.word).data,
            w.at(self.embeddings.position).data,
        );
        let types = self.embeddings.token_type.map(|t| w.at(t));
        let mut x = vec![0.0f32; batch.ids.len() * h];
        for &(start, len) in &batch.seqs {
            for p in 0..len {
                let (id, ty) = (
                    batch.ids[start + p] as usize,
                    batch.type_ids[start + p] as usize,
                );
                if id >= self.cfg.vocab_size || p >= self.cfg.max_position_embeddings {
                    return Err(EncoderError::Internal(format!(
                        "token id {id} at position {p} is out of range"
                    )));
                }
                let row = &mut x[(start + p) * h..(start + p + 1) * h];
                let (wr, pr) = (&word[id * h..(id + 1) * h], &pos[p * h..(p + 1) * h]);
                for ((o, a), b) in row.iter_mut().zip(wr).zip(pr) {
                    *o = a + b;
                }
                if let Some(t) = types {
                    let ty = ty.min(t.shape[0] - 1);
                    row.iter_mut()
                        .zip(&t.data[ty * h..(ty + 1) * h])
                        .for_each(|(o, v)| *o += v);
                }
            }
        }
        self.embeddings.norm.forward(w, &mut x, &[], self.eps);
        Ok(x)
    }

    /// One transformer layer: self-attention + residual + norm, FFN + residual + norm.
    fn layer_forward(
        &self,
        w: &WeightFile,
        l: &Layer,
        x: &[f32],
        seqs: &[(usize, usize)],
    ) -> Vec<f32> {
        let rows = x.len() / self.cfg.hidden_size;
        let (q, k, v) = (
            l.query.forward(w, x, rows),
            l.key.forward(w, x, rows),
            l.value.forward(w, x, rows),
        );
        let ctx = attention(
            &q,
            &k,
            &v,
            seqs,
            self.cfg.num_attention_heads,
            self.cfg.hidden_size,
        );
        drop((q, k, v));
        let mut a = l.attn_out.forward(w, &ctx, rows);
        l.attn_norm.forward(w, &mut a, x, self.eps);
        let mut inter = l.intermediate.forward(w, &a, rows);
        activate(&mut inter, self.act);
        let mut out = l.output.forward(w, &inter, rows);
        l.out_norm.forward(w, &mut out, &a, self.eps);
        out
    }
}
