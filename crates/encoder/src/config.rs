//! Reading a model directory's JSON configuration: the Hugging Face
//! `config.json`, the sentence-transformers `sentence_bert_config.json`,
//! `modules.json` and pooling config.

use std::path::Path;

use serde::Deserialize;

use crate::error::{corrupt, EncoderError};
use crate::kernels::Activation;

/// The fields of a BERT `config.json` the forward pass needs.
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
    #[serde(default)]
    pub model_type: Option<String>,
}

fn default_act() -> String {
    "gelu".to_string()
}

fn default_eps() -> f64 {
    1e-12
}

impl BertConfig {
    /// Reads and checks `dir/config.json`.
    pub(crate) fn read(model: &str, dir: &Path) -> Result<BertConfig, EncoderError> {
        let cfg: BertConfig =
            read_json(model, dir, "config.json")?.ok_or_else(|| EncoderError::MissingFile {
                model: model.into(),
                file: "config.json".into(),
            })?;
        if let Some(t) = cfg.model_type.as_deref() {
            if t != "bert" {
                return Err(corrupt(
                    model,
                    format!("model_type \"{t}\" is not supported (only BERT encoders are)"),
                ));
            }
        }
        if let Some(p) = cfg.position_embedding_type.as_deref() {
            if p != "absolute" {
                return Err(corrupt(
                    model,
                    format!("position_embedding_type \"{p}\" is not supported"),
                ));
            }
        }
        let sizes = [
            cfg.vocab_size,
            cfg.hidden_size,
            cfg.num_hidden_layers,
            cfg.num_attention_heads,
            cfg.intermediate_size,
        ];
        if sizes.contains(&0)
            || !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads)
            || cfg.max_position_embeddings < 2
        {
            return Err(corrupt(model, "config.json has inconsistent sizes"));
        }
        cfg.activation(model)?;
        Ok(cfg)
    }

    /// The activation named by `hidden_act`.
    pub(crate) fn activation(&self, model: &str) -> Result<Activation, EncoderError> {
        match self.hidden_act.as_str() {
            "gelu" => Ok(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Ok(Activation::GeluTanh),
            "relu" => Ok(Activation::Relu),
            other => Err(corrupt(
                model,
                format!("hidden_act \"{other}\" is not supported"),
            )),
        }
    }
}

/// How token vectors become one sentence vector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pooling {
    /// Mean over the attended tokens (special tokens included).
    Mean,
    /// The first ([CLS]) token.
    Cls,
    /// Element-wise maximum over the attended tokens.
    Max,
}

impl Pooling {
    /// The name reported in [`crate::ModelInfo::pooling`].
    pub(crate) fn name(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
            Pooling::Max => "max",
        }
    }
}

/// A sentence-transformers `Pooling` module config.
#[derive(Deserialize, Default)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode: Option<String>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

/// One entry of a sentence-transformers `modules.json`.
#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(default)]
    path: String,
    #[serde(rename = "type", default)]
    kind: String,
}

/// The pooling the directory's sentence-transformers config asks for
/// (`modules.json` → its Pooling module's `config.json`, else
/// `1_Pooling/config.json`); mean when there is none.
pub(crate) fn read_pooling(model: &str, dir: &Path) -> Result<Pooling, EncoderError> {
    let modules: Option<Vec<ModuleEntry>> = read_json(model, dir, "modules.json")?;
    let pooling_dir = modules
        .and_then(|m| {
            m.into_iter()
                .find(|e| e.kind.ends_with("Pooling"))
                .map(|e| e.path)
        })
        .unwrap_or_else(|| "1_Pooling".to_string());
    let file = format!("{pooling_dir}/config.json");
    let Some(cfg) = read_json::<PoolingConfig>(model, dir, &file)? else {
        return Ok(Pooling::Mean);
    };
    if let Some(mode) = cfg.pooling_mode.as_deref() {
        return match mode {
            "mean" => Ok(Pooling::Mean),
            "cls" => Ok(Pooling::Cls),
            "max" => Ok(Pooling::Max),
            other => Err(corrupt(
                model,
                format!("pooling mode \"{other}\" is not supported"),
            )),
        };
    }
    let unsupported = cfg.pooling_mode_mean_sqrt_len_tokens
        || cfg.pooling_mode_weightedmean_tokens
        || cfg.pooling_mode_lasttoken;
    match (
        cfg.pooling_mode_cls_token,
        cfg.pooling_mode_mean_tokens,
        cfg.pooling_mode_max_tokens,
        unsupported,
    ) {
        (true, false, false, false) => Ok(Pooling::Cls),
        (false, true, false, false) => Ok(Pooling::Mean),
        (false, false, true, false) => Ok(Pooling::Max),
        (false, false, false, false) => Ok(Pooling::Mean),
        _ => Err(corrupt(
            model,
            format!("{file}: only one of cls, mean or max pooling is supported"),
        )),
    }
}

/// `max_seq_length` from `sentence_bert_config.json`, if the directory has one.
pub(crate) fn read_max_seq_length(model: &str, dir: &Path) -> Result<Option<usize>, EncoderError> {
    #[derive(Deserialize)]
    struct SentenceBertConfig {
        #[serde(default)]
        max_seq_length: Option<usize>,
    }
    let cfg: Option<SentenceBertConfig> = read_json(model, dir, "sentence_bert_config.json")?;
    Ok(cfg.and_then(|c| c.max_seq_length))
}

/// Parses `dir/file` as JSON; `Ok(None)` when the file does not exist.
pub(crate) fn read_json<T: for<'de> Deserialize<'de>>(
    model: &str,
    dir: &Path,
    file: &str,
) -> Result<Option<T>, EncoderError> {
    let path = dir.join(file);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(corrupt(model, format!("{file}: {e}"))),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| corrupt(model, format!("{file}: {e}")))
}
