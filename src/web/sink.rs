//! Where the bytes of a download go as they arrive: the one trait that the fetcher feeds and that
//! memory, the GPU streamer, the hasher and the hostile-network sniffer implement — apart from
//! [`super::fetch`] so that those can wrap each other without importing the fetcher.

use js_sys::Uint8Array;

use super::protocol::Origin;

/// Where the bytes of a file go as they arrive: into memory (`Vec<u8>`), or tensor by tensor to
/// the GPU (the worker's streaming reader).
pub trait Sink {
    /// A (new) transfer begins: from `origin`, `total` bytes if known, continuing at `resume_at`
    /// (0: from the first byte, so anything received before is dropped).
    fn start(&mut self, origin: Origin, total: Option<u64>, resume_at: usize);
    /// The next bytes; an error stops the transfer (the file is not usable).
    fn chunk(&mut self, chunk: &Uint8Array) -> crate::Result<()>;
    /// Bytes received so far.
    fn len(&self) -> usize;
    /// Bytes already on the GPU, for the progress bar.
    fn uploaded(&self) -> Option<u64> {
        None
    }
}

impl Sink for Vec<u8> {
    fn start(&mut self, _origin: Origin, total: Option<u64>, resume_at: usize) {
        self.truncate(resume_at);
        if let Some(t) = total {
            self.reserve_exact((t as usize).saturating_sub(self.len()));
        }
    }

    fn chunk(&mut self, chunk: &Uint8Array) -> crate::Result<()> {
        let start = self.len();
        self.resize(start + chunk.length() as usize, 0);
        chunk.copy_to(&mut self[start..]);
        Ok(())
    }

    fn len(&self) -> usize {
        Vec::len(self)
    }
}

