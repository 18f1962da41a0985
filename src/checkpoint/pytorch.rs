//! Reading PyTorch checkpoints (`pytorch_model.bin`, the zip format `torch.save` writes since 1.6),
//! as the main branch of openai/clip-vit-base-patch32 still ships. The pickle is decoded by
//! candle's reader; the storages are read here, from memory, so that it works in the browser too.

use std::io::{Cursor, Read};

use candle_core::pickle::{Object, Stack};
use candle_core::DType;

use super::tensor::{FileDtype, HostTensor};
use crate::error::{Error, Result};

fn err(file: &str, msg: impl Into<String>) -> Error {
    Error::Checkpoint { file: file.to_string(), msg: msg.into() }
}

/// True when the bytes start like a zip archive (what `torch.save` writes).
pub fn looks_like_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

pub fn read(bytes: &[u8], file: &str) -> Result<Vec<(String, HostTensor)>> {
    if !looks_like_zip(bytes) {
        return Err(err(
            file,
            "not a zip archive: only PyTorch checkpoints saved by torch.save (≥ 1.6, zip format) are read",
        ));
    }
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| err(file, format!("corrupt PyTorch zip archive ({e}): truncated download?")))?;
    let pkl_name = zip
        .file_names()
        .filter_map(|n| n.ok())
        .find(|n| n.ends_with("data.pkl"))
        .map(|n| n.into_owned())
        .ok_or_else(|| err(file, "PyTorch archive has no data.pkl"))?;
    let dir = pkl_name.trim_end_matches(".pkl").to_string();

    let object = {
        let entry = zip.by_name(&pkl_name).map_err(|e| err(file, format!("cannot open {pkl_name}: {e}")))?;
        let mut reader = std::io::BufReader::new(entry);
        let mut stack = Stack::empty();
        stack.read_loop(&mut reader).map_err(|e| err(file, format!("cannot decode the pickle: {e}")))?;
        stack.finalize().map_err(|e| err(file, format!("cannot decode the pickle: {e}")))?
    };
    let entries = state_dict_entries(object).ok_or_else(|| {
        err(file, "the pickle holds no state dict (expected a dict of tensor names to tensors)")
    })?;

    let mut tensors = Vec::with_capacity(entries.len());
    for (name, value) in entries {
        let Ok(name_str) = name.clone().unicode() else { continue };
        let info = value
            .into_tensor_info(name, std::path::Path::new(&dir))
            .map_err(|e| Error::Tensor { file: file.into(), tensor: name_str.clone(), msg: e.to_string() })?;
        // Entries that are not tensors (e.g. a stored `_metadata`) are skipped.
        let Some(info) = info else { continue };
        let tensor = read_storage(&mut zip, &info, file)?;
        tensors.push((name_str, tensor));
    }
    Ok(tensors)
}

/// The `(name, value)` pairs of the state dict, looking through the wrappers torch uses.
fn state_dict_entries(object: Object) -> Option<Vec<(Object, Object)>> {
    match object {
        Object::Dict(entries) => {
            // A training checkpoint nests the weights under "state_dict" or "model".
            for key in ["state_dict", "model"] {
                if let Some((_, v)) = entries.iter().find(|(k, _)| *k == Object::Unicode(key.into())) {
                    if let Some(inner) = state_dict_entries(v.clone()) {
                        return Some(inner);
                    }
                }
            }
            Some(entries)
        }
        Object::Build { args, .. } => state_dict_entries(*args),
        Object::Reduce { args, .. } => match *args {
            Object::Tuple(mut items) if !items.is_empty() => state_dict_entries(items.remove(0)),
            other => state_dict_entries(other),
        },
        _ => None,
    }
}

fn read_storage<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    info: &candle_core::pickle::TensorInfo,
    file: &str,
) -> Result<HostTensor> {
    let tensor_err = |msg: String| Error::Tensor { file: file.into(), tensor: info.name.clone(), msg };
    let dtype = match info.dtype {
        DType::F32 => FileDtype::F32,
        DType::F64 => FileDtype::F64,
        DType::F16 => FileDtype::F16,
        DType::BF16 => FileDtype::BF16,
        DType::I64 => FileDtype::I64,
        DType::U8 => FileDtype::U8,
        other => return Err(tensor_err(format!("unsupported storage dtype {other:?}"))),
    };
    let mut storage = Vec::new();
    zip.by_name(&info.path)
        .map_err(|e| tensor_err(format!("storage {} missing from the archive ({e})", info.path)))?
        .read_to_end(&mut storage)
        .map_err(|e| tensor_err(format!("cannot read storage {}: {e}", info.path)))?;

    let size = dtype.size_in_bytes();
    let shape: Vec<usize> = info.layout.dims().to_vec();
    let strides = info.layout.stride();
    let offset = info.layout.start_offset() / size; // candle stores it in bytes
    let numel: usize = shape.iter().product();
    if info.layout.is_contiguous() {
        let range = offset * size..(offset + numel) * size;
        let chunk = storage.get(range.clone()).ok_or_else(|| {
            tensor_err(format!("bytes {range:?} lie outside its storage of {} bytes", storage.len()))
        })?;
        return Ok(HostTensor::from_le_bytes(shape, dtype, chunk));
    }
    // A view (transposed, sliced): gather element by element.
    let mut bytes = Vec::with_capacity(numel * size);
    let mut index = vec![0usize; shape.len()];
    for _ in 0..numel {
        let pos = offset + index.iter().zip(strides).map(|(i, s)| i * s).sum::<usize>();
        let chunk = storage.get(pos * size..(pos + 1) * size).ok_or_else(|| {
            tensor_err(format!("element {pos} lies outside its storage of {} bytes", storage.len()))
        })?;
        bytes.extend_from_slice(chunk);
        for d in (0..shape.len()).rev() {
            index[d] += 1;
            if index[d] < shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(HostTensor::from_le_bytes(shape, dtype, &bytes))
}
