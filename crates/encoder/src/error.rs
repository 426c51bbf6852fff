//! The encoder's error type.

use std::fmt;

/// Everything that can go wrong while loading a model or encoding text.
///
/// The Postgres glue maps each variant to an ERROR with a SQLSTATE; the
/// messages are written to be shown to a user as they are.
#[derive(Debug)]
pub enum EncoderError {
    /// The model directory does not exist (or is not a directory).
    ModelNotFound(String),
    /// A file the model needs is missing from its directory.
    MissingFile {
        /// The model's name (its directory name).
        model: String,
        /// The missing file, relative to the model directory.
        file: String,
    },
    /// A model file exists but cannot be used (bad JSON, bad safetensors,
    /// missing or misshapen tensor, unsupported setting).
    Corrupt {
        /// The model's name (its directory name).
        model: String,
        /// What is wrong, for the error message.
        detail: String,
    },
    /// `embed_sparse` was asked of a model without a masked-language-model head.
    NoMlmHead(String),
    /// An input text is longer than [`crate::MAX_INPUT_BYTES`].
    InputTooLong {
        /// The text's length in bytes.
        bytes: usize,
        /// The limit in bytes.
        max: usize,
    },
    /// The caller's cancel callback asked to stop.
    Cancelled,
    /// Anything else (a tokenizer failure, a broken invariant).
    Internal(String),
}

impl fmt::Display for EncoderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncoderError::ModelNotFound(m) => write!(f, "model \"{m}\" not found"),
            EncoderError::MissingFile { model, file } => {
                write!(f, "model \"{model}\" is missing the file \"{file}\"")
            }
            EncoderError::Corrupt { model, detail } => {
                write!(f, "model \"{model}\" is corrupt or unsupported: {detail}")
            }
            EncoderError::NoMlmHead(m) => write!(
                f,
                "model \"{m}\" has no masked-language-model head, so it cannot produce sparse (SPLADE) embeddings"
            ),
            EncoderError::InputTooLong { bytes, max } => {
                write!(f, "input text of {bytes} bytes is longer than the limit of {max} bytes")
            }
            EncoderError::Cancelled => write!(f, "encoding was cancelled"),
            EncoderError::Internal(d) => write!(f, "internal encoder error: {d}"),
        }
    }
}

impl std::error::Error for EncoderError {}

/// Shorthand for a [`EncoderError::Corrupt`] of `model`.
pub(crate) fn corrupt(model: &str, detail: impl Into<String>) -> EncoderError {
    EncoderError::Corrupt {
        model: model.to_string(),
        detail: detail.into(),
    }
}
