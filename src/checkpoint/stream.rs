//! A checkpoint read as its download arrives: each tensor goes to a sink (the GPU engine's
//! loader) as soon as its bytes are in, and large ones are then dropped from the host, so the
//! whole file never sits in memory.

use super::safetensors::StreamReader;
use super::tensor::{RawTensor, Values};
use super::{Checkpoint, Format, HostTensor, SideFiles};
use crate::error::Result;

/// Tensors up to this many elements stay on the host even when the sink took them: biases, layer
/// norms, `logit_scale` (which the host needs) — a fraction of a percent of the bytes.
const KEEP_ON_HOST: usize = 16 * 1024;

pub struct StreamedCheckpoint {
    name: String,
    reader: StreamReader,
    tensors: Vec<(String, HostTensor)>,
}

impl StreamedCheckpoint {
    /// `total`: the file size when known (Content-Length).
    pub fn new(name: &str, total: Option<u64>) -> Self {
        Self { name: name.to_string(), reader: StreamReader::new(name, total), tensors: Vec::new() }
    }

    /// Feeds the next bytes. Every tensor they complete is handed to `sink` as its bytes; when it
    /// returns true (it kept the values elsewhere) a large tensor is never decoded on the host.
    pub fn push(&mut self, chunk: &[u8], sink: &mut dyn FnMut(&str, &RawTensor<'_>) -> Result<bool>) -> Result<()> {
        let tensors = &mut self.tensors;
        self.reader.push(chunk, &mut |name, raw| {
            let taken = sink(name, &raw)?;
            let tensor = if taken && raw.numel() > KEEP_ON_HOST {
                HostTensor { shape: raw.shape.to_vec(), file_dtype: raw.dtype, values: Values::Uploaded }
            } else {
                raw.to_host()
            };
            tensors.push((name.to_string(), tensor));
            Ok(())
        })
    }

    /// The checkpoint, once every byte is in (an error names the first tensor that is not).
    pub fn finish(self, side: SideFiles) -> Result<Checkpoint> {
        self.reader.finish()?;
        Checkpoint::from_tensors(self.tensors, &self.name, Format::Safetensors, side)
    }
}
