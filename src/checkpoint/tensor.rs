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

/// A tensor's bytes as they lie in a file being read (little-endian elements of `dtype`), before
/// they are decoded: the GPU loader uploads large tensors from them piece by piece, so that their
/// f32 values never exist whole on the host.
#[derive(Debug, Clone, Copy)]
pub struct RawTensor<'a> {
    pub shape: &'a [usize],
    pub dtype: FileDtype,
    pub bytes: &'a [u8],
}

impl RawTensor<'_> {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    /// Decoded into a host tensor (floats widened to f32, integers to i64).
    pub fn to_host(&self) -> HostTensor {
        HostTensor::from_le_bytes(self.shape.to_vec(), self.dtype, self.bytes)
    }
}

/// Float elements that can be read a range at a time as f32: a host tensor's values, or a float
/// [`RawTensor`]'s bytes decoded on the fly.
pub trait F32Source {
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Elements `first .. first + out.len()` into `out`.
    fn read(&self, first: usize, out: &mut [f32]);
}

impl F32Source for &[f32] {
    fn len(&self) -> usize {
        <[f32]>::len(self)
    }

    fn read(&self, first: usize, out: &mut [f32]) {
        out.copy_from_slice(&self[first..first + out.len()]);
    }
}

impl F32Source for RawTensor<'_> {
    fn len(&self) -> usize {
        self.bytes.len() / self.dtype.size_in_bytes()
    }

    fn read(&self, first: usize, out: &mut [f32]) {
        fn decode<const N: usize>(bytes: &[u8], first: usize, out: &mut [f32], f: impl Fn([u8; N]) -> f32) {
            for (o, c) in out.iter_mut().zip(bytes[first * N..].chunks_exact(N)) {
                *o = f(c.try_into().expect("chunks_exact yields N bytes"));
            }
        }
        match self.dtype {
            FileDtype::F32 => decode::<4>(self.bytes, first, out, f32::from_le_bytes),
            FileDtype::F64 => decode::<8>(self.bytes, first, out, |b| f64::from_le_bytes(b) as f32),
            FileDtype::F16 => decode::<2>(self.bytes, first, out, |b| half::f16::from_le_bytes(b).to_f32()),
            FileDtype::BF16 => decode::<2>(self.bytes, first, out, |b| half::bf16::from_le_bytes(b).to_f32()),
            FileDtype::I64 => decode::<8>(self.bytes, first, out, |b| i64::from_le_bytes(b) as f32),
            FileDtype::I32 => decode::<4>(self.bytes, first, out, |b| i32::from_le_bytes(b) as f32),
            FileDtype::I16 => decode::<2>(self.bytes, first, out, |b| i16::from_le_bytes(b) as f32),
            FileDtype::I8 => decode::<1>(self.bytes, first, out, |b| b[0] as i8 as f32),
            FileDtype::U8 | FileDtype::Bool => decode::<1>(self.bytes, first, out, |b| b[0] as f32),
        }
    }
}

/// The first element of `values` that is NaN or ±∞, with its index.
fn first_non_finite(values: &impl F32Source) -> Option<(usize, f32)> {
    // A block at a time, so that a raw tensor is decoded into a small buffer only.
    let mut block = [0f32; 4096];
    let mut first = 0;
    while first < values.len() {
        let n = block.len().min(values.len() - first);
        values.read(first, &mut block[..n]);
        if let Some(i) = block[..n].iter().position(|x| !x.is_finite()) {
            return Some((first + i, block[i]));
        }
        first += n;
    }
    None
}

/// An error unless every float of the tensor `name` (of `file`) is finite. A NaN or ∞ weight
/// makes every probability NaN (`"probs": [null, null]`), so it is refused where the weights are
/// read — the whole-file readers and, on the streaming GPU path, as each tensor's bytes arrive,
/// before they are uploaded. Values are checked as f32, so an f64 beyond f32's range counts as ∞.
pub fn check_finite(file: &str, name: &str, shape: &[usize], values: &impl F32Source) -> crate::error::Result<()> {
    match first_non_finite(values) {
        None => Ok(()),
        Some((index, value)) => Err(crate::error::Error::Tensor {
            file: file.into(),
            tensor: name.into(),
            msg: format!(
                "element {index} (of {}) is {value}: weights must be finite numbers (a diverged fine-tune, or a corrupt file?)",
                shape_str(shape)
            ),
        }),
    }
}

pub use crate::error::shape_str;

impl crate::clip::config::TensorShape for HostTensor {
    fn dims(&self) -> &[usize] {
        &self.shape
    }

    fn is_float(&self) -> bool {
        HostTensor::is_float(self)
    }

    fn dtype_name(&self) -> String {
        self.file_dtype.to_string()
    }
}
