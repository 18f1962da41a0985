//! A checkpoint read as its download arrives: each tensor goes to a sink (the GPU engine's
//! loader) as soon as its bytes are in, and large ones are then dropped from the host, so the
//! whole file never sits in memory.

use super::safetensors::StreamReader;
use super::tensor::{check_finite, RawTensor, Values};
use super::{Checkpoint, Format, HostTensor, SideFiles};
use crate::error::Result;

/// Tensors up to this many elements stay on the host even when the sink took them: biases, layer
/// norms, `logit_scale` (which the host needs) — a fraction of a percent of the bytes.
const KEEP_ON_HOST: usize = 16 * 1024;

pub struct StreamedCheckpoint {
    name: String,
    reader: StreamReader,
    tensors: Vec<(String, HostTensor)>,
    /// Whether tensors came under OpenCLIP names (mapped as they arrived).
    openclip: bool,
}

impl StreamedCheckpoint {
    /// `total`: the file size when known (Content-Length).
    pub fn new(name: &str, total: Option<u64>) -> Self {
        Self { name: name.to_string(), reader: StreamReader::new(name, total), tensors: Vec::new(), openclip: false }
    }

    /// Feeds the next bytes. Every tensor they complete is handed to `sink` as its bytes, under
    /// its transformers name (OpenCLIP tensors are renamed, split or transposed on the way, see
    /// [`super::openclip::map_raw`]); when it returns true (it kept the values elsewhere) a large
    /// tensor is never decoded on the host.
    pub fn push(&mut self, chunk: &[u8], sink: &mut dyn FnMut(&str, &RawTensor<'_>) -> Result<bool>) -> Result<()> {
        let (tensors, openclip, file) = (&mut self.tensors, &mut self.openclip, self.name.as_str());
        self.reader.push(chunk, &mut |name, raw| {
            *openclip |= super::openclip::map_raw(name, &raw, file, &mut |to, t| {
                if t.dtype.is_float() {
                    check_finite(file, to, t.shape, t)?;
                }
                let taken = sink(to, t)?;
                let tensor = if taken && t.numel() > KEEP_ON_HOST {
                    HostTensor { shape: t.shape.to_vec(), file_dtype: t.dtype, values: Values::Uploaded }
                } else {
                    t.to_host()
                };
                tensors.push((to.to_string(), tensor));
                Ok(())
            })?;
            Ok(())
        })
    }

    /// The checkpoint, once every byte is in (an error names the first tensor that is not).
    pub fn finish(self, side: SideFiles) -> Result<Checkpoint> {
        self.reader.finish()?;
        Checkpoint::from_mapped(self.tensors, &self.name, Format::Safetensors, side, self.openclip)
    }
}
