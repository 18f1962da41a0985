//! SHA-256 of weights files as they are read, for a merged file's provenance. Only an export
//! asks for it (hashing a ViT-B checkpoint in wasm costs seconds, more than reading it from
//! Cache Storage), so loads never hash: the export hashes while it reads the files again.

use js_sys::Uint8Array;

use super::sink::Sink;
use super::protocol::Origin;
use crate::checkpoint::provenance::Sha256Stream;

/// A sink that hashes what passes through it on the way to `inner`.
pub struct Hashed<S> {
    pub inner: S,
    hash: Sha256Stream,
    hashed: usize,
    /// A transfer resumed at another byte than the last one hashed (the digest cannot rewind).
    broken: bool,
    /// The chunk copied out of JS memory to be hashed (reused: chunks are of similar size).
    scratch: Vec<u8>,
}

impl<S: Sink> Hashed<S> {
    pub fn new(inner: S) -> Self {
        Hashed { inner, hash: Sha256Stream::default(), hashed: 0, broken: false, scratch: Vec::new() }
    }

    /// The digest of everything received (lowercase hex).
    pub fn finish(self) -> String {
        self.hash.finish()
    }
}

impl<S: Sink> Sink for Hashed<S> {
    fn start(&mut self, origin: Origin, total: Option<u64>, resume_at: usize) {
        if resume_at == 0 {
            self.hash = Sha256Stream::default();
            self.hashed = 0;
            self.broken = false;
        } else if resume_at != self.hashed {
            self.broken = true;
        }
        self.inner.start(origin, total, resume_at);
    }

    fn chunk(&mut self, chunk: &Uint8Array) -> crate::Result<()> {
        if self.broken {
            return Err(crate::Error::Invalid(format!(
                "the download resumed at another byte than the {} hashed so far; export again",
                self.hashed
            )));
        }
        self.scratch.resize(chunk.length() as usize, 0);
        chunk.copy_to(&mut self.scratch);
        self.hash.update(&self.scratch);
        self.hashed += self.scratch.len();
        self.inner.chunk(chunk)
    }

    fn len(&self) -> usize {
        self.inner.len()
    }

    fn uploaded(&self) -> Option<u64> {
        self.inner.uploaded()
    }
}

/// A sink that keeps nothing, only counts (for hashing a file whose tensors are already loaded).
#[derive(Default)]
pub struct Discard(usize);

impl Sink for Discard {
    fn start(&mut self, _origin: Origin, _total: Option<u64>, resume_at: usize) {
        self.0 = resume_at.min(self.0);
    }

    fn chunk(&mut self, chunk: &Uint8Array) -> crate::Result<()> {
        self.0 += chunk.length() as usize;
        Ok(())
    }

    fn len(&self) -> usize {
        self.0
    }
}

/// A borrowed sink is a sink (so [`Hashed`] can wrap the one a load already chose).
impl<S: Sink + ?Sized> Sink for &mut S {
    fn start(&mut self, origin: Origin, total: Option<u64>, resume_at: usize) {
        (**self).start(origin, total, resume_at)
    }

    fn chunk(&mut self, chunk: &Uint8Array) -> crate::Result<()> {
        (**self).chunk(chunk)
    }

    fn len(&self) -> usize {
        (**self).len()
    }

    fn uploaded(&self) -> Option<u64> {
        (**self).uploaded()
    }
}
