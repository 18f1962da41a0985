//! Reading and writing the safetensors format.
//!
//! The header is parsed here rather than by the `safetensors` crate so that (a) it can be read
//! from the first bytes of a download before the rest arrives, and (b) every fault names the file
//! and the tensor: a truncated download and a corrupt header need different advice.
//! Writing goes through the `safetensors` crate.

use std::collections::BTreeMap;

use super::provenance::OutputDtype;
use super::tensor::{FileDtype, HostTensor, RawTensor};
use crate::error::{Error, Result};

/// safetensors caps headers at 100 MB; a larger length means the file is not safetensors.
const MAX_HEADER_LEN: u64 = 100_000_000;

/// One entry of the header: where a tensor's bytes lie, relative to the start of the data section.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub dtype: FileDtype,
    pub shape: Vec<usize>,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone)]
pub struct Header {
    /// Entries sorted by their position in the file.
    pub entries: Vec<Entry>,
    /// Offset of the data section from the start of the file (8 + header length).
    pub data_start: usize,
    pub metadata: BTreeMap<String, String>,
}

impl Header {
    /// Number of bytes the file must have for every tensor to be present.
    pub fn file_len(&self) -> usize {
        self.data_start + self.entries.last().map_or(0, |e| e.end)
    }
}

fn checkpoint_err(file: &str, msg: impl Into<String>) -> Error {
    Error::Checkpoint { file: file.to_string(), msg: msg.into() }
}

fn tensor_err(file: &str, tensor: &str, msg: impl Into<String>) -> Error {
    Error::Tensor { file: file.to_string(), tensor: tensor.to_string(), msg: msg.into() }
}

/// Length of the header as announced by the first 8 bytes, checked against the file size when known.
pub fn header_len(prefix: &[u8], file: &str, file_len: Option<u64>) -> Result<usize> {
    let Some(len_bytes) = prefix.get(..8) else {
        return Err(checkpoint_err(
            file,
            format!(
                "truncated: {} bytes, but a safetensors file starts with an 8-byte header length",
                prefix.len()
            ),
        ));
    };
    let n = u64::from_le_bytes(len_bytes.try_into().expect("8 bytes"));
    if n > MAX_HEADER_LEN {
        return Err(checkpoint_err(
            file,
            format!("header length {n} is implausible (limit {MAX_HEADER_LEN}): not a safetensors file?"),
        ));
    }
    if let Some(total) = file_len {
        if 8 + n > total {
            return Err(checkpoint_err(
                file,
                format!("header length {n} runs past the end of the file ({total} bytes): truncated or not a safetensors file"),
            ));
        }
    }
    Ok(n as usize)
}

/// Parses the header from the first bytes of a file. `file_len`, when known, lets the
/// data offsets be checked against the real size.
pub fn parse_header(prefix: &[u8], file: &str, file_len: Option<u64>) -> Result<Header> {
    let n = header_len(prefix, file, file_len)?;
    let Some(json) = prefix.get(8..8 + n) else {
        return Err(checkpoint_err(
            file,
            format!("header length {n} runs past the end of the file ({} bytes): truncated", prefix.len()),
        ));
    };
    let text = std::str::from_utf8(json)
        .map_err(|e| checkpoint_err(file, format!("header is not UTF-8 text ({e}): not a safetensors file?")))?;
    let raw: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text.trim_end_matches(' '))
        .map_err(|e| checkpoint_err(file, format!("header is not valid JSON ({e})")))?;

    let mut entries = Vec::with_capacity(raw.len());
    let mut metadata = BTreeMap::new();
    for (name, value) in raw {
        if name == "__metadata__" {
            if let Some(map) = value.as_object() {
                for (k, v) in map {
                    metadata.insert(k.clone(), v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
                }
            }
            continue;
        }
        entries.push(parse_entry(file, name, &value)?);
    }
    entries.sort_by_key(|e| (e.start, e.end));
    for pair in entries.windows(2) {
        if pair[1].start < pair[0].end {
            return Err(tensor_err(
                file,
                &pair[1].name,
                format!(
                    "data_offsets [{}, {}] overlap tensor `{}` at [{}, {}]",
                    pair[1].start, pair[1].end, pair[0].name, pair[0].start, pair[0].end
                ),
            ));
        }
    }
    let header = Header { entries, data_start: 8 + n, metadata };
    if let Some(total) = file_len {
        let data_len = total as usize - header.data_start;
        if let Some(e) = header.entries.iter().find(|e| e.end > data_len) {
            return Err(tensor_err(
                file,
                &e.name,
                format!(
                    "data_offsets [{}, {}] run past the end of the data section ({data_len} bytes): the file is truncated (an interrupted download?)",
                    e.start, e.end
                ),
            ));
        }
    }
    Ok(header)
}

fn parse_entry(file: &str, name: String, value: &serde_json::Value) -> Result<Entry> {
    let bad = |msg: String| tensor_err(file, &name, msg);
    let obj = value.as_object().ok_or_else(|| bad(format!("header entry is not an object: {value}")))?;
    let dtype_name = obj
        .get("dtype")
        .and_then(|d| d.as_str())
        .ok_or_else(|| bad("header entry has no \"dtype\"".into()))?;
    let dtype = FileDtype::from_safetensors(dtype_name).ok_or_else(|| {
        bad(format!(
            "unknown or unsupported dtype `{dtype_name}` (supported: F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)"
        ))
    })?;
    let shape = obj
        .get("shape")
        .and_then(|s| s.as_array())
        .and_then(|dims| dims.iter().map(|d| d.as_u64().map(|d| d as usize)).collect::<Option<Vec<_>>>())
        .ok_or_else(|| bad("header entry has no valid \"shape\" (a list of non-negative integers)".into()))?;
    let offsets = obj
        .get("data_offsets")
        .and_then(|s| s.as_array())
        .and_then(|o| o.iter().map(|d| d.as_u64().map(|d| d as usize)).collect::<Option<Vec<_>>>())
        .filter(|o| o.len() == 2)
        .ok_or_else(|| bad("header entry has no valid \"data_offsets\" ([start, end])".into()))?;
    let (start, end) = (offsets[0], offsets[1]);
    if end < start {
        return Err(bad(format!("data_offsets [{start}, {end}] end before they start")));
    }
    let numel = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    let need = numel
        .checked_mul(dtype.size_in_bytes())
        .ok_or_else(|| bad(format!("shape {shape:?} overflows")))?;
    if end - start != need {
        return Err(bad(format!(
            "data_offsets [{start}, {end}] hold {} bytes, but shape {shape:?} of {dtype} needs {need}",
            end - start
        )));
    }
    Ok(Entry { name, dtype, shape, start, end })
}

/// Reads every tensor of a whole safetensors file held in memory.
pub fn read(bytes: &[u8], file: &str) -> Result<(Vec<(String, HostTensor)>, BTreeMap<String, String>)> {
    let mut reader = StreamReader::new(file, Some(bytes.len() as u64));
    let mut tensors = Vec::new();
    reader.push(bytes, &mut |name, raw| {
        tensors.push((name.to_string(), raw.to_host()));
        Ok(())
    })?;
    let header = reader.finish()?;
    Ok((tensors, header.metadata))
}

/// Reads a safetensors file as its bytes arrive: the header as soon as it is complete (so a wrong
/// file fails on its first bytes), then each tensor as soon as its last byte is in. Only the bytes
/// of the one tensor being received are held, so a download can go tensor by tensor to the GPU
/// without the whole file ever sitting in memory.
pub struct StreamReader {
    file: String,
    /// The file size when known (Content-Length), checked against the header at once.
    total: Option<u64>,
    /// Bytes received and not yet used: the header, or the start of the next tensor.
    pending: Vec<u8>,
    /// File offset of `pending[0]`.
    offset: usize,
    header: Option<Header>,
    /// Index of the next entry to complete.
    next: usize,
    received: usize,
}

impl StreamReader {
    pub fn new(file: &str, total: Option<u64>) -> Self {
        Self { file: file.to_string(), total, pending: Vec::new(), offset: 0, header: None, next: 0, received: 0 }
    }

    /// Feeds the next bytes of the file; hands each tensor they complete to `each`, in file order,
    /// as its bytes (valid during the call).
    pub fn push(&mut self, mut chunk: &[u8], each: &mut dyn FnMut(&str, RawTensor<'_>) -> Result<()>) -> Result<()> {
        self.received += chunk.len();
        while self.header.is_none() {
            let want = if self.pending.len() < 8 { 8 } else { 8 + header_len(&self.pending, &self.file, self.total)? };
            let take = (want - self.pending.len()).min(chunk.len());
            self.pending.extend_from_slice(&chunk[..take]);
            chunk = &chunk[take..];
            if self.pending.len() < want {
                return Ok(());
            }
            if want > 8 || header_len(&self.pending, &self.file, self.total)? == 0 {
                self.header = Some(parse_header(&self.pending, &self.file, self.total)?);
                self.offset = self.pending.len();
                self.pending.clear();
            }
        }
        self.consume(chunk, each)
    }

    /// Completes the tensors that `chunk` (following `pending`) finishes and keeps the rest.
    fn consume(&mut self, mut chunk: &[u8], each: &mut dyn FnMut(&str, RawTensor<'_>) -> Result<()>) -> Result<()> {
        let header = self.header.as_ref().expect("called once the header is in");
        while let Some(e) = header.entries.get(self.next) {
            // File offset of chunk[0]: `pending` holds the bytes just before it.
            let base = self.offset + self.pending.len();
            let (start, end) = (header.data_start + e.start, header.data_start + e.end);
            if end > base + chunk.len() {
                break;
            }
            let bytes = if start >= base {
                &chunk[start - base..end - base]
            } else {
                // The tensor began in an earlier chunk: complete it in `pending` (which has room
                // for it) and read it there, without a second copy.
                self.pending.extend_from_slice(&chunk[..end - base]);
                &self.pending[start - self.offset..]
            };
            each(&e.name, RawTensor { shape: &e.shape, dtype: e.dtype, bytes })?;
            self.next += 1;
            // Everything up to `end` is used: continue after it.
            chunk = &chunk[end.saturating_sub(base).min(chunk.len())..];
            self.pending.clear();
            self.offset = end.max(base);
        }
        let base = self.offset + self.pending.len();
        let arrived = base + chunk.len();
        // Keep what the next tensor needs (bytes between tensors and after the last are dropped).
        let keep_from = header.entries.get(self.next).map_or(arrived, |e| header.data_start + e.start).min(arrived);
        if keep_from >= base {
            self.pending.clear();
            self.pending.extend_from_slice(&chunk[keep_from - base..]);
        } else {
            self.pending.drain(..keep_from - self.offset);
            self.pending.extend_from_slice(chunk);
        }
        self.offset = keep_from;
        // Room for the whole next tensor at once: growing by doubling would leave a wasm heap
        // (which never shrinks) twice the size of the largest tensor. Only when the file's size
        // is known (and the header checked against it): otherwise the claim is a stranger's, and
        // the room is at most the bytes received so far (so growth is by doubling, never ahead
        // of the bytes).
        if let Some(e) = header.entries.get(self.next) {
            let need = (header.data_start + e.end).saturating_sub(self.offset);
            let need = if self.total.is_some() { need } else { need.min(self.received) };
            self.pending.reserve_exact(need.saturating_sub(self.pending.len()));
        }
        Ok(())
    }

    /// Ends the file: an error unless the header and every tensor arrived.
    pub fn finish(self) -> Result<Header> {
        let Some(header) = self.header else {
            // Says why: too short for the length, or a header cut short.
            parse_header(&self.pending, &self.file, Some(self.received as u64))?;
            return Err(checkpoint_err(&self.file, format!("truncated: {} bytes end inside the header", self.received)));
        };
        if let Some(e) = header.entries.get(self.next) {
            let data_len = self.received - header.data_start;
            return Err(tensor_err(
                &self.file,
                &e.name,
                format!(
                    "data_offsets [{}, {}] run past the end of the data section ({data_len} bytes): the file is truncated (an interrupted download?)",
                    e.start, e.end
                ),
            ));
        }
        Ok(header)
    }
}

/// Serialises tensors (f32 or i64, as held on the host) with `{"format": "pt"}` metadata, which
/// transformers expects.
pub fn write<'a>(tensors: impl IntoIterator<Item = (&'a str, &'a HostTensor)>) -> Result<Vec<u8>> {
    let metadata = BTreeMap::from([("format".to_string(), "pt".to_string())]);
    write_as(tensors, OutputDtype::F32, &metadata)
}

/// Serialises tensors with their floats as `dtype` (rounded to nearest even, as torch's `.half()`
/// and `.bfloat16()`; integers stay i64) and `metadata` as the header's `__metadata__`.
pub fn write_as<'a>(
    tensors: impl IntoIterator<Item = (&'a str, &'a HostTensor)>,
    dtype: OutputDtype,
    metadata: &BTreeMap<String, String>,
) -> Result<Vec<u8>> {
    use safetensors::tensor::TensorView;
    use safetensors::Dtype;
    let encode = |t: &HostTensor| -> (Dtype, Vec<u8>) {
        match (t.as_f32(), dtype) {
            (Some(v), OutputDtype::F16) => {
                (Dtype::F16, v.iter().flat_map(|x| half::f16::from_f32(*x).to_le_bytes()).collect())
            }
            (Some(v), OutputDtype::Bf16) => {
                (Dtype::BF16, v.iter().flat_map(|x| half::bf16::from_f32(*x).to_le_bytes()).collect())
            }
            (Some(_), OutputDtype::F32) => (Dtype::F32, t.to_le_bytes()),
            (None, _) => (Dtype::I64, t.to_le_bytes()),
        }
    };
    let bytes: Vec<(&str, &HostTensor, (Dtype, Vec<u8>))> =
        tensors.into_iter().map(|(n, t)| (n, t, encode(t))).collect();
    let views = bytes
        .iter()
        .map(|(name, t, (dtype, data))| {
            TensorView::new(*dtype, t.shape.clone(), data)
                .map(|v| (name.to_string(), v))
                .map_err(|e| Error::Tensor { file: "output".into(), tensor: name.to_string(), msg: e.to_string() })
        })
        .collect::<Result<Vec<_>>>()?;
    let metadata = Some(metadata.clone().into_iter().collect::<std::collections::HashMap<_, _>>());
    let bytes = safetensors::serialize(views, metadata)
        .map_err(|e| Error::Checkpoint { file: "output".into(), msg: format!("cannot serialise: {e}") })?;
    Ok(canonical_header(bytes))
}

/// The file with its header's keys in sorted order. The `safetensors` crate writes the metadata
/// from a `HashMap`, in an order that changes from run to run; a merged file must be the same
/// bytes every time (the page's download and `wiseft merge` are compared byte for byte). The
/// header stays padded with spaces to a multiple of 8 bytes, as the crate pads it, so the data
/// keeps its alignment; the data section is untouched.
fn canonical_header(mut bytes: Vec<u8>) -> Vec<u8> {
    let n = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")) as usize;
    // The crate's own header: JSON it just wrote. serde_json's maps are sorted (BTreeMap).
    let header: serde_json::Value = serde_json::from_slice(&bytes[8..8 + n]).expect("the crate writes a JSON header");
    let mut json = header.to_string().into_bytes();
    json.resize(json.len().div_ceil(8) * 8, b' ');
    if json.len() == n {
        // The same characters reordered (the usual case): in place, without a second copy of a
        // file that may be most of the page's memory.
        bytes[8..8 + n].copy_from_slice(&json);
        return bytes;
    }
    let mut out = Vec::with_capacity(8 + json.len() + bytes.len() - 8 - n);
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(&bytes[8 + n..]);
    out
}
