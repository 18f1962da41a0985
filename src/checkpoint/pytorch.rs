//! Reading PyTorch checkpoints (`pytorch_model.bin`, the zip format `torch.save` writes since 1.6),
//! as the main branch of openai/clip-vit-base-patch32 still ships. The pickle is decoded by our
//! own reader ([`super::pickle`], which no input can make panic or blow up); the storages are read
//! here, from memory, so that it works in the browser too.
//!
//! Every claim the pickle makes about a tensor (its shape, strides, offset) is checked against the
//! bytes of its storage before anything is allocated for it: a tensor can never need more memory
//! than its storage's bytes justify. Limits: at most [`MAX_RANK`] dimensions; a view (strided,
//! transposed, sliced) may not have more elements than its storage (a broadcast, zero-stride view
//! is refused: state dicts never hold one); all tensors together at most twice the archive's size
//! in their file's element type (tied weights share a storage; more sharing than that is a bomb).

use std::collections::BTreeMap;
use std::io::{Cursor, Read};

use super::pickle::{self, Id, Pickle, Value};
use super::tensor::{FileDtype, HostTensor};
use crate::error::{Error, Result};

/// Most dimensions a tensor may have (CLIP's have at most 4).
pub const MAX_RANK: usize = 8;
/// Largest `data.pkl` read (a CLIP state dict's is about 100 KB).
pub const MAX_PICKLE_BYTES: u64 = 64 << 20;
/// How many wrappers (`{"state_dict": …}`, `{"model": …}`, …) are looked through for the state dict.
const MAX_WRAPPERS: usize = 8;

fn err(file: &str, msg: impl Into<String>) -> Error {
    Error::Checkpoint { file: file.to_string(), msg: msg.into() }
}

/// True when the bytes start like a zip archive (what `torch.save` writes).
pub fn looks_like_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

/// Where one tensor's elements lie, as its pickle says.
struct Record {
    dtype: FileDtype,
    /// Storage key: the archive member `{dir}/{key}`.
    key: String,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
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

    let pkl = read_member(&mut zip, &pkl_name, MAX_PICKLE_BYTES).map_err(|e| err(file, e))?;
    let archive_len = bytes.len() as u64;
    let budget = 2 * u128::from(archive_len);
    tensors_from_pickle(&pkl, file, budget, &mut |key| read_member(&mut zip, &format!("{dir}/{key}"), archive_len))
}

/// The tensors of a state-dict pickle whose storages `storage(key)` gives (the archive members
/// `{dir}/{key}` for a checkpoint; anything for a fuzz target). `budget`: most bytes the tensors
/// may claim together, in their file's element type, checked before any storage is read.
pub fn tensors_from_pickle(
    pkl: &[u8],
    file: &str,
    budget: u128,
    storage: &mut dyn FnMut(&str) -> std::result::Result<Vec<u8>, String>,
) -> Result<Vec<(String, HostTensor)>> {
    let pickle = pickle::parse(pkl).map_err(|e| err(file, format!("cannot decode the pickle data.pkl: {e}")))?;
    let entries = state_dict_entries(&pickle, pickle.root, 0).ok_or_else(|| {
        err(file, "the pickle holds no state dict (expected a dict of tensor names to tensors)")
    })?;

    let mut records = Vec::new();
    for &(key, value) in entries {
        // Entries that are not tensors (e.g. a stored `_metadata`, a step count) are skipped.
        let Some(name) = pickle.str(key) else { continue };
        let tensor_err = |msg: String| Error::Tensor { file: file.into(), tensor: name.to_string(), msg };
        if let Some(record) = tensor_record(&pickle, value).map_err(tensor_err)? {
            records.push((name.to_string(), record));
        }
    }

    let claimed: u128 = records
        .iter()
        .map(|(_, r)| r.shape.iter().fold(r.dtype.size_in_bytes() as u128, |acc, &d| acc.saturating_mul(d as u128)))
        .fold(0, u128::saturating_add);
    if claimed > budget {
        return Err(err(
            file,
            format!("its tensors claim {claimed} bytes, more than twice the archive's size: storages shared beyond tied weights (a decompression bomb?)"),
        ));
    }

    // Each storage is read once, for every tensor that uses it.
    let mut by_storage: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, (_, r)) in records.iter().enumerate() {
        by_storage.entry(r.key.as_str()).or_default().push(i);
    }
    let mut tensors: Vec<Option<HostTensor>> = vec![None; records.len()];
    for (key, users) in by_storage {
        let first = &records[users[0]].0;
        let bytes = storage(key).map_err(|msg| Error::Tensor { file: file.into(), tensor: first.clone(), msg })?;
        for i in users {
            let (name, record) = &records[i];
            let tensor = view(&bytes, record)
                .map_err(|msg| Error::Tensor { file: file.into(), tensor: name.clone(), msg: format!("storage {key}: {msg}") })?;
            tensors[i] = Some(tensor);
        }
    }
    Ok(records.into_iter().zip(tensors).filter_map(|((name, _), t)| Some((name, t?))).collect())
}

/// The bytes of one archive member, at most `limit` of them (a stored member's bytes are in the
/// archive, so this never allocates more than the archive holds).
fn read_member<R: Read + std::io::Seek>(zip: &mut zip::ZipArchive<R>, name: &str, limit: u64) -> std::result::Result<Vec<u8>, String> {
    let entry = zip.by_name(name).map_err(|e| format!("{name} missing from the archive ({e})"))?;
    if entry.size() > limit {
        return Err(format!("{name} claims {} bytes, over the limit of {limit}", entry.size()));
    }
    let mut out = Vec::new();
    entry.take(limit).read_to_end(&mut out).map_err(|e| format!("cannot read {name}: {e}"))?;
    Ok(out)
}

/// The `(name, value)` pairs of the state dict, looking through the wrappers torch uses (at most
/// [`MAX_WRAPPERS`] deep, so a dict that contains itself ends).
fn state_dict_entries(p: &Pickle, id: Id, depth: usize) -> Option<&[(Id, Id)]> {
    if depth > MAX_WRAPPERS {
        return None;
    }
    match p.get(id) {
        Value::Dict(entries) => {
            // A training checkpoint nests the weights under "state_dict" or "model".
            for key in ["state_dict", "model"] {
                if let Some(&(_, v)) = entries.iter().find(|&&(k, _)| p.str(k) == Some(key)) {
                    if let Some(inner) = state_dict_entries(p, v, depth + 1) {
                        return Some(inner);
                    }
                }
            }
            Some(entries)
        }
        Value::Build { state, .. } => state_dict_entries(p, *state, depth + 1),
        Value::Reduce { args, .. } => match p.get(*args) {
            Value::Tuple(items) => state_dict_entries(p, *items.first()?, depth + 1),
            _ => state_dict_entries(p, *args, depth + 1),
        },
        _ => None,
    }
}

/// Reads a value as a tensor: `None` when it is not one (not a `_rebuild_tensor_v2` call), an
/// error when it is one whose arguments are wrong.
fn tensor_record(p: &Pickle, mut id: Id) -> std::result::Result<Option<Record>, String> {
    // Parameters and tensor subclasses wrap the `_rebuild_tensor_v2` call; a few levels at most.
    for _ in 0..4 {
        let Value::Reduce { callable, args } = p.get(id) else { return Ok(None) };
        let Some((module, name)) = p.global(*callable) else { return Ok(None) };
        let args = p.tuple(*args).ok_or_else(|| format!("{module}.{name} called without an argument tuple"))?;
        match (module, name) {
            ("torch._utils", "_rebuild_tensor_v2") => return rebuild_args(p, args).map(Some),
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => {
                id = *args.first().ok_or("_rebuild_parameter without its tensor")?;
            }
            ("torch._tensor", "_rebuild_from_type_v2") => {
                // (func, type, args, state): the tensor is func(*args).
                let [func, _, inner, ..] = args else { return Err("_rebuild_from_type_v2 with under 3 arguments".into()) };
                let Some(("torch._utils", "_rebuild_tensor_v2")) = p.global(*func) else { return Ok(None) };
                let inner = p.tuple(*inner).ok_or("_rebuild_from_type_v2 without an argument tuple")?;
                return rebuild_args(p, inner).map(Some);
            }
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// `_rebuild_tensor_v2(storage, storage_offset, size, stride, …)`, with `storage` the persistent
/// id `("storage", torch.FloatStorage, key, location, numel)`.
fn rebuild_args(p: &Pickle, args: &[Id]) -> std::result::Result<Record, String> {
    let [storage, offset, size, stride, ..] = args else {
        return Err(format!("_rebuild_tensor_v2 with {} arguments (want storage, offset, size, stride)", args.len()));
    };
    let Value::Persistent(pid) = p.get(*storage) else {
        return Err(format!("its storage is a {}, not a persistent id", pickle::kind(p.get(*storage))));
    };
    let pid = p.tuple(*pid).ok_or("its storage's persistent id is not a tuple")?;
    let [tag, class, key, ..] = pid else { return Err("its storage's persistent id is too short".into()) };
    if p.str(*tag) != Some("storage") {
        return Err("its persistent id is not a storage".into());
    }
    let (_, class) = p.global(*class).ok_or("its storage type is not a class name")?;
    let dtype = match class {
        "FloatStorage" => FileDtype::F32,
        "DoubleStorage" => FileDtype::F64,
        "HalfStorage" => FileDtype::F16,
        "BFloat16Storage" => FileDtype::BF16,
        "LongStorage" => FileDtype::I64,
        "IntStorage" => FileDtype::I32,
        "ShortStorage" => FileDtype::I16,
        "CharStorage" => FileDtype::I8,
        "ByteStorage" => FileDtype::U8,
        "BoolStorage" => FileDtype::Bool,
        other => return Err(format!("unsupported storage type {other}")),
    };
    let key = p.str(*key).ok_or("its storage key is not a string")?.to_string();
    let count = |id: Id, what: &str| -> std::result::Result<usize, String> {
        let v = p.int(id).ok_or_else(|| format!("its {what} is a {}, not an integer", pickle::kind(p.get(id))))?;
        usize::try_from(v).map_err(|_| format!("its {what} is negative ({v})"))
    };
    let list = |id: Id, what: &str| -> std::result::Result<Vec<usize>, String> {
        let items = p.tuple(id).ok_or_else(|| format!("its {what} is a {}, not a tuple", pickle::kind(p.get(id))))?;
        if items.len() > MAX_RANK {
            return Err(format!("its {what} has {} dimensions (the limit is {MAX_RANK})", items.len()));
        }
        items.iter().map(|&i| count(i, what)).collect()
    };
    let (shape, stride) = (list(*size, "size")?, list(*stride, "stride")?);
    if shape.len() != stride.len() {
        return Err(format!("size has {} dimensions but stride {}", shape.len(), stride.len()));
    }
    Ok(Record { dtype, key, offset: count(*offset, "storage offset")?, shape, stride })
}

/// The tensor `record` describes, read from its storage's bytes after checking that every element
/// it addresses lies inside them.
fn view(storage: &[u8], r: &Record) -> std::result::Result<HostTensor, String> {
    let size = r.dtype.size_in_bytes();
    let elements = storage.len() / size;
    let numel = r.shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d)).ok_or_else(|| format!("shape {:?} overflows", r.shape))?;
    if numel == 0 {
        return Ok(HostTensor::from_le_bytes(r.shape.clone(), r.dtype, &[]));
    }
    if numel > elements {
        return Err(format!(
            "shape {:?} has {numel} elements but the storage holds {elements} of {}: broadcast (zero-stride) views are not read",
            r.shape, r.dtype
        ));
    }
    let last = r
        .shape
        .iter()
        .zip(&r.stride)
        .try_fold(r.offset, |acc, (&d, &s)| (d - 1).checked_mul(s).and_then(|x| acc.checked_add(x)));
    match last {
        Some(last) if last < elements => {}
        _ => {
            return Err(format!(
                "offset {} with shape {:?} and stride {:?} reaches past the storage's {elements} elements",
                r.offset, r.shape, r.stride
            ))
        }
    }
    // Row-major strides: one slice. (`last < elements` bounds every index below.)
    let mut expect = 1;
    let contiguous = r.shape.iter().zip(&r.stride).rev().all(|(&d, &s)| {
        let ok = d == 1 || s == expect;
        expect *= d;
        ok
    });
    if contiguous {
        return Ok(HostTensor::from_le_bytes(r.shape.clone(), r.dtype, &storage[r.offset * size..(r.offset + numel) * size]));
    }
    // A view (transposed, sliced): gather element by element; numel ≤ the storage's elements.
    let mut bytes = Vec::with_capacity(numel * size);
    let mut index = vec![0usize; r.shape.len()];
    for _ in 0..numel {
        let pos = r.offset + index.iter().zip(&r.stride).map(|(i, s)| i * s).sum::<usize>();
        bytes.extend_from_slice(&storage[pos * size..(pos + 1) * size]);
        for d in (0..r.shape.len()).rev() {
            index[d] += 1;
            if index[d] < r.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(HostTensor::from_le_bytes(r.shape.clone(), r.dtype, &bytes))
}
