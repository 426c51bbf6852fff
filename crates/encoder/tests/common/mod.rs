//! Helpers shared by the encoder's integration tests.
#![allow(dead_code)]

use std::path::PathBuf;

pub mod naive;
pub mod tiny;

use encoder::EncoderError;

/// The directory of installed models: `EMBER_MODEL_PATH`, else the extension's default.
pub fn model_root() -> PathBuf {
    std::env::var_os("EMBER_MODEL_PATH")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/postgresql/15/ember/models"))
}

/// The directory of the installed model `name`, or `None` (with a note on
/// stderr) when it is not installed, so the calling test can skip.
pub fn installed_model(name: &str) -> Option<PathBuf> {
    let dir = model_root().join(name);
    if dir.join("model.safetensors").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: model {name} is not installed in {} (run crates/encoder/install_models.sh)",
            model_root().display()
        );
        None
    }
}

/// The repository's `tests/golden` directory.
pub fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/golden")
}

/// A cancel callback that never cancels.
pub fn never() -> Result<(), EncoderError> {
    Ok(())
}

/// Cosine similarity.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let na: f64 = a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}
