//! Memory-mapped safetensors weights, read in place.
//!
//! A model's `model.safetensors` is mapped read-only and its f32 tensors are
//! used straight from the mapping: the matrix products read the mapped pages,
//! so every Postgres backend that loads the same model shares one copy of the
//! weights in the page cache instead of holding a private copy each. Tensors
//! stored as f16, bf16 or f64 (or, in a hand-made file, at an address not
//! aligned for f32) are converted once into an owned f32 buffer.
//!
//! Model files must be replaced, never edited in place, while a server runs:
//! install a new version into a new directory and rename it over the old one.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use memmap2::Mmap;
use safetensors::{Dtype, SafeTensors};

use crate::error::{corrupt, EncoderError};

/// Where one tensor's f32 values live.
enum TensorData {
    /// A byte range of the mapped file, aligned for f32.
    Mapped { start: usize, end: usize },
    /// Values converted from another dtype (or copied from a misaligned range).
    Owned(Vec<f32>),
}

/// One tensor of a [`WeightFile`]: its shape and its values.
struct TensorEntry {
    shape: Vec<usize>,
    data: TensorData,
}

/// A borrowed view of one tensor's values as f32, row-major.
#[derive(Clone, Copy)]
pub(crate) struct TensorRef<'a> {
    /// The tensor's shape.
    pub shape: &'a [usize],
    /// Its values, row-major.
    pub data: &'a [f32],
}

/// The index of a tensor in its [`WeightFile`], resolved once at load time.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TensorId(usize);

/// A safetensors file mapped into memory, with its floating-point tensors.
pub(crate) struct WeightFile {
    map: Arc<Mmap>,
    tensors: Vec<TensorEntry>,
    by_name: HashMap<String, TensorId>,
}

/// Maps `file` read-only.
#[allow(unsafe_code)]
fn map_read_only(file: &File) -> std::io::Result<Mmap> {
    // SAFETY: the mapping is only ever read. memmap2 makes this `unsafe`
    // because another process could truncate or rewrite the file while it is
    // mapped, which would change or fault the bytes under us; model files are
    // documented as install-once, replace-by-rename (module docs), and the
    // header and all tensor ranges are validated before any use.
    unsafe { Mmap::map(file) }
}

impl WeightFile {
    /// Maps and validates the safetensors file at `path` for model `model`.
    pub(crate) fn open(model: &str, path: &Path) -> Result<WeightFile, EncoderError> {
        let file =
            File::open(path).map_err(|e| corrupt(model, format!("{}: {e}", path.display())))?;
        let map =
            map_read_only(&file).map_err(|e| corrupt(model, format!("{}: {e}", path.display())))?;
        let (header_len, metadata) = SafeTensors::read_metadata(&map).map_err(|e| {
            corrupt(
                model,
                format!("{}: invalid safetensors: {e}", file_name(path)),
            )
        })?;
        let base = 8 + header_len;
        let mut tensors = Vec::new();
        let mut by_name = HashMap::new();
        for (name, info) in metadata.tensors() {
            let (begin, end) = info.data_offsets;
            let (start, end) = (base + begin, base + end);
            if end > map.len() || start > end {
                return Err(corrupt(
                    model,
                    format!("tensor {name} lies outside the file"),
                ));
            }
            let bytes = &map[start..end];
            let data = match info.dtype {
                Dtype::F32 => match bytemuck::try_cast_slice::<u8, f32>(bytes) {
                    Ok(_) => TensorData::Mapped { start, end },
                    Err(_) => TensorData::Owned(bytes_to_f32(bytes, 4, |b| {
                        f32::from_le_bytes([b[0], b[1], b[2], b[3]])
                    })),
                },
                Dtype::F16 => TensorData::Owned(bytes_to_f32(bytes, 2, |b| {
                    half::f16::from_le_bytes([b[0], b[1]]).to_f32()
                })),
                Dtype::BF16 => TensorData::Owned(bytes_to_f32(bytes, 2, |b| {
                    half::bf16::from_le_bytes([b[0], b[1]]).to_f32()
                })),
                Dtype::F64 => TensorData::Owned(bytes_to_f32(bytes, 8, |b| {
                    f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                })),
                _ => continue, // integer buffers such as position_ids are not weights
            };
            by_name.insert(name, TensorId(tensors.len()));
            tensors.push(TensorEntry {
                shape: info.shape.clone(),
                data,
            });
        }
        Ok(WeightFile {
            map: Arc::new(map),
            tensors,
            by_name,
        })
    }

    /// The id of the tensor called `name`, if the file has it (as a floating-point tensor).
    pub(crate) fn id(&self, name: &str) -> Option<TensorId> {
        self.by_name.get(name).copied()
    }

    /// The tensor called `name`, if the file has it (as a floating-point tensor).
    pub(crate) fn get(&self, name: &str) -> Option<TensorRef<'_>> {
        self.id(name).map(|id| self.at(id))
    }

    /// The tensor `id` (an id this file handed out).
    pub(crate) fn at(&self, id: TensorId) -> TensorRef<'_> {
        let entry = &self.tensors[id.0];
        let data: &[f32] = match &entry.data {
            TensorData::Mapped { start, end } => bytemuck::cast_slice(&self.map[*start..*end]),
            TensorData::Owned(v) => v,
        };
        TensorRef {
            shape: &entry.shape,
            data,
        }
    }

    /// Whether the file has a tensor called `name`.
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Bytes of the file that are used in place (shared through the page cache).
    pub(crate) fn mapped_bytes(&self) -> usize {
        self.tensors
            .iter()
            .map(|t| match t.data {
                TensorData::Mapped { start, end } => end - start,
                TensorData::Owned(_) => 0,
            })
            .sum()
    }
}

/// Decodes little-endian values of `width` bytes each into f32.
fn bytes_to_f32(bytes: &[u8], width: usize, decode: impl Fn(&[u8]) -> f32) -> Vec<f32> {
    bytes.chunks_exact(width).map(decode).collect()
}

/// The last component of `path`, for messages.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}
