//! What is computed from the last hidden states: sentence pooling, the
//! ColBERT token projection and the SPLADE masked-language-model head.

use std::path::Path;

use crate::bert::{Bert, Linear, Norm, Resolver};
use crate::config::Pooling;
use crate::error::EncoderError;
use crate::kernels::{activate, linear};
use crate::weights::{TensorId, WeightFile};

/// Pools the rows `start..start + len` of `hidden` (`tokens × h`) into one vector.
pub(crate) fn pool(
    hidden: &[f32],
    h: usize,
    start: usize,
    len: usize,
    pooling: Pooling,
) -> Vec<f32> {
    let rows = &hidden[start * h..(start + len) * h];
    match pooling {
        Pooling::Cls => rows[..h].to_vec(),
        Pooling::Mean => {
            let mut acc = vec![0.0f32; h];
            for row in rows.chunks_exact(h) {
                acc.iter_mut().zip(row).for_each(|(a, v)| *a += v);
            }
            let inv = 1.0 / len.max(1) as f32;
            acc.iter_mut().for_each(|a| *a *= inv);
            acc
        }
        Pooling::Max => {
            let mut acc = vec![f32::NEG_INFINITY; h];
            for row in rows.chunks_exact(h) {
                acc.iter_mut().zip(row).for_each(|(a, v)| *a = a.max(*v));
            }
            acc
        }
    }
}

/// The file holding a ColBERT projection when it is not inside `model.safetensors`.
pub const COLBERT_PROJECTION_FILE: &str = "colbert_linear.safetensors";

/// The ColBERT linear projection applied to token vectors: `linear.weight`
/// (`token_dim × hidden`) and optional `linear.bias`, found in
/// `model.safetensors` (the layout of Stanford ColBERT checkpoints) or in
/// [`COLBERT_PROJECTION_FILE`]. It is small, so it is copied at load.
pub(crate) struct Projection {
    weight: Vec<f32>,
    bias: Option<Vec<f32>>,
    /// Output dimension (the model's `token_dim`).
    pub out_dim: usize,
    in_dim: usize,
}

impl Projection {
    /// Finds the projection of the model in `dir`, if it has one.
    pub(crate) fn load(
        model: &str,
        dir: &Path,
        main: &WeightFile,
        hidden: usize,
    ) -> Result<Option<Projection>, EncoderError> {
        if main.contains("linear.weight") {
            return Projection::from_file(model, main, hidden).map(Some);
        }
        let path = dir.join(COLBERT_PROJECTION_FILE);
        if !path.exists() {
            return Ok(None);
        }
        let file = WeightFile::open(model, &path)?;
        Projection::from_file(model, &file, hidden).map(Some)
    }

    fn from_file(
        model: &str,
        file: &WeightFile,
        hidden: usize,
    ) -> Result<Projection, EncoderError> {
        let w = file
            .get("linear.weight")
            .ok_or_else(|| crate::error::corrupt(model, "projection has no linear.weight"))?;
        if w.shape.len() != 2 || w.shape[1] != hidden || w.shape[0] == 0 {
            return Err(crate::error::corrupt(
                model,
                format!(
                    "linear.weight has shape {:?}, expected [dim, {hidden}]",
                    w.shape
                ),
            ));
        }
        let out_dim = w.shape[0];
        let bias = match file.get("linear.bias") {
            Some(b) if b.shape == [out_dim] => Some(b.data.to_vec()),
            Some(b) => {
                return Err(crate::error::corrupt(
                    model,
                    format!("linear.bias has shape {:?}, expected [{out_dim}]", b.shape),
                ))
            }
            None => None,
        };
        Ok(Projection {
            weight: w.data.to_vec(),
            bias,
            out_dim,
            in_dim: hidden,
        })
    }

    /// Projects `rows` rows of `x` (`rows × hidden`) to `rows × out_dim`.
    pub(crate) fn apply(&self, x: &[f32], rows: usize) -> Vec<f32> {
        linear(
            x,
            rows,
            &self.weight,
            self.out_dim,
            self.in_dim,
            self.bias.as_deref(),
        )
    }
}

/// BERT's masked-language-model head: transform (dense, activation, layer
/// norm) then a decoder to vocabulary logits, tied to the word embeddings
/// unless the checkpoint has its own `cls.predictions.decoder.weight`.
pub(crate) struct MlmHead {
    transform: Linear,
    norm: Norm,
    decoder: TensorId,
    bias: Option<TensorId>,
    vocab: usize,
    hidden: usize,
}

impl MlmHead {
    /// Resolves the head's tensors; `None` when the checkpoint has no MLM head.
    pub(crate) fn load(r: &Resolver<'_>, bert: &Bert) -> Result<Option<MlmHead>, EncoderError> {
        if !r.weights.contains("cls.predictions.transform.dense.weight") {
            return Ok(None);
        }
        let (h, vocab) = (bert.cfg.hidden_size, bert.cfg.vocab_size);
        let transform = r.linear("cls.predictions.transform.dense", h, h)?;
        let norm = r.norm("cls.predictions.transform.LayerNorm", h)?;
        let decoder = match r.weights.contains("cls.predictions.decoder.weight") {
            true => r.exact("cls.predictions.decoder.weight", &[vocab, h])?,
            false => bert.word_embeddings(),
        };
        let bias = ["cls.predictions.bias", "cls.predictions.decoder.bias"]
            .into_iter()
            .find(|n| r.weights.contains(n))
            .map(|n| r.exact(n, &[vocab]))
            .transpose()?;
        Ok(Some(MlmHead {
            transform,
            norm,
            decoder,
            bias,
            vocab,
            hidden: h,
        }))
    }

    /// SPLADE for the rows `start..start + len` of `hidden`:
    /// `max over tokens of log(1 + relu(logits))`, as (ascending ids, values > 0).
    pub(crate) fn splade(
        &self,
        w: &WeightFile,
        bert: &Bert,
        hidden: &[f32],
        start: usize,
        len: usize,
    ) -> (Vec<u32>, Vec<f32>) {
        let h = self.hidden;
        let rows = &hidden[start * h..(start + len) * h];
        let mut t = self.transform.forward(w, rows, len);
        activate(&mut t, bert.act);
        self.norm.forward(w, &mut t, &[], bert.eps());
        let bias = self.bias.map(|b| w.at(b).data);
        let logits = linear(&t, len, w.at(self.decoder).data, self.vocab, h, bias);
        // log1p(relu(.)) is monotone, so the max of it is it of the max.
        let mut max = vec![f32::NEG_INFINITY; self.vocab];
        for row in logits.chunks_exact(self.vocab) {
            max.iter_mut().zip(row).for_each(|(m, v)| *m = m.max(*v));
        }
        let (mut ids, mut values) = (Vec::new(), Vec::new());
        for (id, m) in max.into_iter().enumerate() {
            let v = m.max(0.0).ln_1p();
            if v > 0.0 {
                ids.push(id as u32);
                values.push(v);
            }
        }
        (ids, values)
    }
}
