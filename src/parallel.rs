//! The CPU engine's threads: rayon's pool — native threads, or in the threaded wasm build Web
//! Workers over one shared memory (`web::threads` starts them) — and how many of them work may use.
//!
//! The GEMM (`engine::cpu::gemm`) and the host merge's passes (`merge`) split their work here. Every
//! value is computed by the same expression whichever thread computes it, so results do not depend
//! on the thread count.

use std::sync::OnceLock;

use rayon::prelude::*;

/// Values per piece handed to a thread: 256 KB of f32, a whole number of the merge's blocks.
const CHUNK: usize = 1 << 16;

/// The threaded wasm build's pool, set once its Web Workers run ([`use_pool`]): work handed to a
/// pool whose threads never started would wait for ever, so until then work runs on the calling
/// thread. Natively there is none and rayon's global pool serves.
static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();

/// Makes `pool` the one work is split over (the threaded wasm build, once its threads run).
/// Refused (and handed back) if one is set already.
pub fn use_pool(pool: rayon::ThreadPool) -> Result<(), rayon::ThreadPool> {
    POOL.set(pool)
}

/// How many threads work may be split over now (1: run on the calling thread).
pub fn threads() -> usize {
    match POOL.get() {
        Some(pool) => pool.current_num_threads(),
        // wasm without a running pool: the single-threaded build, or threads not started (yet).
        None if cfg!(target_arch = "wasm32") => 1,
        None => rayon::current_num_threads(),
    }
}

/// Runs `op` where its parallel iterators use the pool: [`use_pool`]'s, else rayon's current one.
pub fn install<R: Send>(op: impl FnOnce() -> R + Send) -> R {
    match POOL.get() {
        Some(pool) => pool.install(op),
        None => op(),
    }
}

/// Calls `f(start, piece)` on pieces of `out` that together cover it once, `start` being the
/// piece's offset in `out`; on the calling thread alone when `out` is small or there is one thread.
pub fn chunks<T: Send>(out: &mut [T], f: impl Fn(usize, &mut [T]) + Sync) {
    if out.len() <= CHUNK || threads() == 1 {
        f(0, out);
        return;
    }
    install(|| out.par_chunks_mut(CHUNK).enumerate().for_each(|(i, piece)| f(i * CHUNK, piece)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cover_the_buffer_once_with_their_offsets() {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        for len in [0, 1, CHUNK, CHUNK + 1, 5 * CHUNK + 7] {
            let mut out = vec![0usize; len];
            pool.install(|| chunks(&mut out, |start, piece| piece.iter_mut().enumerate().for_each(|(i, o)| *o += start + i + 1)));
            assert!(out.iter().enumerate().all(|(i, &o)| o == i + 1), "len {len}");
        }
    }
}
