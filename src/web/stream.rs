//! The download sink of the GPU path: safetensors tensors are uploaded to the device as soon as
//! their bytes are in and large ones dropped from wasm memory, so a checkpoint never sits there
//! whole. A PyTorch zip (its index is at the end) is gathered whole and read afterwards.

use js_sys::{Array, Uint8Array};

use super::sink::Sink;
use super::protocol::{Origin, Role};
use crate::checkpoint::pytorch::looks_like_zip;
use crate::checkpoint::stream::StreamedCheckpoint;
use crate::checkpoint::{Checkpoint, SideFiles};
use crate::engine::gpu::GpuLoader;
use crate::error::Result;

enum Mode {
    /// The first bytes, until they say which format this is.
    Detect(Vec<u8>),
    Tensors(StreamedCheckpoint),
    Whole(Vec<u8>),
}

pub struct ToGpu<'a> {
    name: String,
    fine_tuned: bool,
    loader: &'a mut GpuLoader,
    mode: Mode,
    total: Option<u64>,
    len: usize,
    uploaded: u64,
    /// The chunks of a network download (JavaScript arrays, outside wasm memory), stored in the
    /// cache once complete.
    parts: Option<Array>,
}

impl<'a> ToGpu<'a> {
    pub fn new(name: &str, role: Role, loader: &'a mut GpuLoader) -> Self {
        Self { name: name.into(), fine_tuned: role == Role::FineTuned, loader, mode: Mode::Detect(Vec::new()), total: None, len: 0, uploaded: 0, parts: None }
    }

    fn feed(&mut self, bytes: &[u8]) -> Result<()> {
        match &mut self.mode {
            Mode::Detect(head) => {
                head.extend_from_slice(bytes);
                if head.len() < 4 {
                    return Ok(());
                }
                let head = std::mem::take(head);
                if looks_like_zip(&head) {
                    self.mode = Mode::Whole(head);
                    Ok(())
                } else {
                    self.mode = Mode::Tensors(StreamedCheckpoint::new(&self.name, self.total));
                    self.feed(&head)
                }
            }
            Mode::Tensors(streamed) => {
                let (loader, fine_tuned, uploaded) = (&mut *self.loader, self.fine_tuned, &mut self.uploaded);
                streamed.push(bytes, &mut |name, t| {
                    let before = loader.staged_bytes();
                    let taken = loader.stage(fine_tuned, name, t)?;
                    *uploaded += loader.staged_bytes() - before;
                    Ok(taken)
                })
            }
            Mode::Whole(all) => {
                all.extend_from_slice(bytes);
                Ok(())
            }
        }
    }

    /// The checkpoint once every byte is in, and the chunks to store when it came from the network.
    pub fn into_checkpoint(mut self, side: SideFiles) -> Result<(Checkpoint, Option<Array>)> {
        if let Mode::Detect(head) = &mut self.mode {
            // Under 4 bytes: the reader says what is wrong with it.
            let head = std::mem::take(head);
            self.mode = Mode::Tensors(StreamedCheckpoint::new(&self.name, self.total));
            self.feed(&head)?;
        }
        let parts = self.parts.take();
        let checkpoint = match std::mem::replace(&mut self.mode, Mode::Detect(Vec::new())) {
            Mode::Tensors(streamed) => streamed.finish(side)?,
            Mode::Whole(bytes) => Checkpoint::from_bytes(&bytes, &self.name, side)?,
            Mode::Detect(_) => unreachable!("resolved above"),
        };
        Ok((checkpoint, parts))
    }
}

impl Sink for ToGpu<'_> {
    fn start(&mut self, origin: Origin, total: Option<u64>, resume_at: usize) {
        if resume_at == 0 {
            self.mode = Mode::Detect(Vec::new());
            self.total = total;
            self.len = 0;
            self.uploaded = 0;
            self.parts = None;
        }
        if origin == Origin::Network && self.parts.is_none() {
            self.parts = Some(Array::new());
        }
    }

    fn chunk(&mut self, chunk: &Uint8Array) -> Result<()> {
        if let Some(parts) = &self.parts {
            parts.push(chunk);
        }
        let bytes = chunk.to_vec();
        self.len += bytes.len();
        self.feed(&bytes)
    }

    fn len(&self) -> usize {
        self.len
    }

    fn uploaded(&self) -> Option<u64> {
        Some(self.uploaded)
    }
}
