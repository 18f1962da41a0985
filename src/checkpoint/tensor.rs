//! Host-side tensors as read from a checkpoint: floats widened to f32 (the merge and both engines
//! compute in f32), integer buffers (such as the `position_ids` of old checkpoints) kept as i64.

use std::fmt;
use std::sync::Arc;

/// The element type a tensor had in its file. Reported by `inspect`; computation is always f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FileDtype {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
}

impl FileDtype {
    /// The safetensors spelling; `None` for a name this crate does not read.
    pub fn from_safetensors(name: &str) -> Option<Self> {
        Some(match name {
            "F64" => Self::F64,
            "F32" => Self::F32,
            "F16" => Self::F16,
            "BF16" => Self::BF16,
            "I64" => Self::I64,
            "I32" => Self::I32,
            "I16" => Self::I16,
            "I8" => Self::I8,
            "U8" => Self::U8,
            "BOOL" => Self::Bool,
            _ => return None,
        })
    }

    pub fn size_in_bytes(self) -> usize {
        match self {
            Self::F64 | Self::I64 => 8,
            Self::F32 | Self::I32 => 4,
            Self::F16 | Self::BF16 | Self::I16 => 2,
            Self::I8 | Self::U8 | Self::Bool => 1,
        }
    }

    pub fn is_float(self) -> bool {
        matches!(self, Self::F64 | Self::F32 | Self::F16 | Self::BF16)
    }
}

impl fmt::Display for FileDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Self::F64 => "F64",
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::BF16 => "BF16",
            Self::I64 => "I64",
            Self::I32 => "I32",
            Self::I16 => "I16",
            Self::I8 => "I8",
            Self::U8 => "U8",
            Self::Bool => "BOOL",
        };
        f.write_str(s)
    }
}

/// Element values. `Arc` so that a merge can hand out tensors it keeps from the zero-shot
/// checkpoint without copying them.
#[derive(Debug, Clone)]
pub enum Values {
    F32(Arc<[f32]>),
    I64(Arc<[i64]>),
    /// Float values that went to the GPU as they were downloaded and are not kept on the host
    /// (the page streams large tensors straight to the device).
    Uploaded,
}

#[derive(Debug, Clone)]
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub file_dtype: FileDtype,
    pub values: Values,
}

impl HostTensor {
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Self {
        Self { shape, file_dtype: FileDtype::F32, values: Values::F32(data.into()) }
    }

    /// Decodes little-endian element bytes of `dtype` (the layout both safetensors and PyTorch use).
    pub fn from_le_bytes(shape: Vec<usize>, dtype: FileDtype, bytes: &[u8]) -> Self {
        fn chunks<const N: usize>(bytes: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
            bytes.chunks_exact(N).map(|c| c.try_into().expect("chunks_exact yields N bytes"))
        }
        let values = match dtype {
            FileDtype::F32 => Values::F32(chunks::<4>(bytes).map(f32::from_le_bytes).collect()),
            FileDtype::F64 => Values::F32(chunks::<8>(bytes).map(|b| f64::from_le_bytes(b) as f32).collect()),
            FileDtype::F16 => {
                Values::F32(chunks::<2>(bytes).map(|b| half::f16::from_le_bytes(b).to_f32()).collect())
            }
            FileDtype::BF16 => {
                Values::F32(chunks::<2>(bytes).map(|b| half::bf16::from_le_bytes(b).to_f32()).collect())
            }
            FileDtype::I64 => Values::I64(chunks::<8>(bytes).map(i64::from_le_bytes).collect()),
            FileDtype::I32 => Values::I64(chunks::<4>(bytes).map(|b| i32::from_le_bytes(b) as i64).collect()),
            FileDtype::I16 => Values::I64(chunks::<2>(bytes).map(|b| i16::from_le_bytes(b) as i64).collect()),
            FileDtype::I8 => Values::I64(bytes.iter().map(|&b| b as i8 as i64).collect()),
            FileDtype::U8 | FileDtype::Bool => Values::I64(bytes.iter().map(|&b| b as i64).collect()),
        };
        Self { shape, file_dtype: dtype, values }
    }

    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// The f32 values, or `None` for an integer buffer or values not kept on the host.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.values {
            Values::F32(v) => Some(v),
            Values::I64(_) | Values::Uploaded => None,
        }
    }

    pub fn is_float(&self) -> bool {
        matches!(self.values, Values::F32(_) | Values::Uploaded)
    }

    /// Whether the values are on the host (not [`Values::Uploaded`]).
    pub fn on_host(&self) -> bool {
        !matches!(self.values, Values::Uploaded)
    }

    /// The same tensor with its values dropped from the host (they are on the GPU).
    pub fn released(&self) -> Self {
        Self { shape: self.shape.clone(), file_dtype: self.file_dtype, values: Values::Uploaded }
    }

    /// Bytes as they would be written to a safetensors file (f32 or i64, little-endian); empty
    /// for values not on the host (check [`HostTensor::on_host`] first).
    pub fn to_le_bytes(&self) -> Vec<u8> {
        match &self.values {
            Values::F32(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Values::I64(v) => v.iter().flat_map(|x| x.to_le_bytes()).collect(),
            Values::Uploaded => Vec::new(),
        }
    }
}

/// `[768, 3, 32, 32]` → "768×3×32×32"; a scalar prints as "scalar".
pub fn shape_str(shape: &[usize]) -> String {
    if shape.is_empty() {
        return "scalar".into();
    }
    shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×")
}
