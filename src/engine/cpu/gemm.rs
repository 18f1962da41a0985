//! The product of a Linear layer, y = x·Wᵀ + b, with 4-lane SIMD: the browser's CPU fallback, where
//! candle's generic GEMM reaches 35–40 GFLOP/s on ViT-B/32's shapes. This kernel runs at about 40
//! GFLOP/s per thread in Chromium on a Zen 4 core, and 50 in the threaded build, whose relaxed SIMD
//! fuses each multiply-add into one instruction (docs/BENCHMARKS.md, 2026-12-04).
//!
//! W stays as PyTorch stores it, [out, in] row-major, so every output is the dot product of an x row
//! and a W row, both contiguous. Nothing is repacked: the merge only interpolates, and tensors α does
//! not change are used from the checkpoint without a copy. A block of [`R`] x rows × [`C`] W rows
//! keeps eight 4-lane accumulators over the whole k loop (x64 has sixteen SIMD registers and V8
//! spills larger blocks: 3×4 and 4×3 blocks, an outer-product kernel over packed panels of W and an
//! unrolled k loop were each 15–35 % slower, measured the same way), summed across lanes at the end.
//! Rows go through in blocks of [`MC`] so that C rows of W are reused from cache by every row block
//! before the next C are read.
//!
//! Threads ([`crate::parallel`]: the threaded wasm build's Web Workers, or native threads) take tiles
//! of whole cache blocks of rows × a band of output columns, so each W row is read by one thread
//! only, and every output is still one thread's dot product in the same order: the result is the
//! same bit for bit whatever the thread count.

use std::sync::Arc;

use rayon::prelude::*;

use super::simd::F32x4;
use crate::error::{Error, Result};

/// x rows per register block.
const R: usize = 2;
/// W rows (output features) per register block.
const C: usize = 4;
/// x rows per cache block.
const MC: usize = 512;
/// Below this many multiply-adds a product runs on the calling thread: waking the pool costs more.
const PARALLEL_FROM: usize = 1 << 18;
/// Tiles per thread, so that a slow thread (a busy core) does not hold the others up.
const TILES_PER_THREAD: usize = 4;

/// A Linear layer's weight [out, in] and bias, shared with the checkpoint or the merge.
pub struct SimdLinear {
    weight: Arc<[f32]>,
    bias: Option<Arc<[f32]>>,
    out_features: usize,
    in_features: usize,
}

impl SimdLinear {
    pub fn new(weight: Arc<[f32]>, bias: Option<Arc<[f32]>>, out_features: usize, in_features: usize) -> Result<Self> {
        if weight.len() != out_features * in_features {
            return Err(Error::Invalid(format!(
                "a Linear weight of {} values is not {out_features}×{in_features}",
                weight.len()
            )));
        }
        if let Some(b) = bias.as_ref().filter(|b| b.len() != out_features) {
            return Err(Error::Invalid(format!("a bias of {} values for {out_features} outputs", b.len())));
        }
        Ok(Self { weight, bias, out_features, in_features })
    }

    pub fn out_features(&self) -> usize {
        self.out_features
    }

    /// `x`: rows of `in_features` values → rows of `out_features` values. The towers call
    /// [`Self::forward_many`] (with the activation); the tests compare it with this.
    #[cfg(test)]
    pub fn forward(&self, x: &[f32]) -> Result<Vec<f32>> {
        let mut ys = Self::forward_many(&[self], x, None)?;
        Ok(ys.pop().expect("one layer, one output"))
    }

    /// Several layers over the same input (the attention's q, k and v), in one parallel region:
    /// the threads are woken once for all of them and take tiles of any layer, so the short
    /// products at batch 1 wait less for each other. `then` (an activation) runs on each tile's
    /// outputs as soon as they are written — on the thread that wrote them, while they are in its
    /// cache — instead of over the whole output afterwards on one thread. The outputs are those
    /// of `forward` on each layer (one at a time), then `then` over each, bit for bit.
    pub fn forward_many(layers: &[&SimdLinear], x: &[f32], then: Option<fn(&mut [f32])>) -> Result<Vec<Vec<f32>>> {
        let Some(first) = layers.first() else { return Ok(Vec::new()) };
        let k = first.in_features;
        if let Some(other) = layers.iter().find(|l| l.in_features != k) {
            return Err(Error::Invalid(format!("layers of {k} and {} inputs cannot share one input", other.in_features)));
        }
        if k == 0 || !x.len().is_multiple_of(k) {
            return Err(Error::Invalid(format!("{} input values are not rows of {k}", x.len())));
        }
        let m = x.len() / k;
        let mut ys: Vec<Vec<f32>> = layers.iter().map(|l| vec![0f32; m * l.out_features]).collect();
        let work: usize = layers.iter().map(|l| m * l.out_features * k).sum();
        let threads = if work >= PARALLEL_FROM { crate::parallel::threads() } else { 1 };
        let tiles: Vec<Tiles> = layers.iter().map(|l| Tiles::new(m, l.out_features, threads)).collect();
        // Every tile of every layer, numbered in one sequence for the threads.
        let jobs: Vec<(usize, usize)> = tiles.iter().enumerate().flat_map(|(l, t)| (0..t.count()).map(move |i| (l, i))).collect();
        let outs: Vec<Out> = ys.iter_mut().map(|y| Out { ptr: y.as_mut_ptr(), len: y.len() }).collect();
        let run = |&(l, t): &(usize, usize)| layers[l].tile(x, tiles[l].get(t), &outs[l], then);
        if jobs.len() == 1 {
            run(&jobs[0]);
        } else {
            crate::parallel::install(|| jobs.par_iter().for_each(run));
        }
        Ok(ys)
    }

    /// One tile's outputs (rows × a band of columns), then `then` on each of its rows' band.
    fn tile(&self, x: &[f32], (rows, cols): (std::ops::Range<usize>, std::ops::Range<usize>), out: &Out, then: Option<fn(&mut [f32])>) {
        for m0 in rows.clone().step_by(MC) {
            let m1 = (m0 + MC).min(rows.end);
            let mut col = cols.start;
            while col < cols.end {
                match cols.end - col {
                    1 => self.columns::<1>(x, m0..m1, col, out),
                    2 => self.columns::<2>(x, m0..m1, col, out),
                    3 => self.columns::<3>(x, m0..m1, col, out),
                    _ => self.columns::<C>(x, m0..m1, col, out),
                }
                col += C;
            }
        }
        if let Some(then) = then {
            for row in rows {
                // SAFETY: this tile is the only writer (and now reader) of these values (`Tiles`).
                then(unsafe { out.span(row * self.out_features + cols.start, cols.len()) });
            }
        }
    }

    /// Outputs `col..col+CB` of rows `rows`. Not inlined: one function per block shape keeps V8's
    /// register allocation of the hot loop as good as in a kernel on its own (inlined, slower).
    #[inline(never)]
    fn columns<const CB: usize>(&self, x: &[f32], rows: std::ops::Range<usize>, col: usize, y: &Out) {
        let mut row = rows.start;
        while row + R <= rows.end {
            self.block::<R, CB>(x, row, col, y);
            row += R;
        }
        if row < rows.end {
            self.block::<1, CB>(x, row, col, y);
        }
    }

    /// Outputs `col..col+CB` of rows `row..row+RB`.
    #[inline(always)]
    fn block<const RB: usize, const CB: usize>(&self, x: &[f32], row: usize, col: usize, y: &Out) {
        let (k, n) = (self.in_features, self.out_features);
        let xs: [&[f32]; RB] = std::array::from_fn(|r| &x[(row + r) * k..][..k]);
        let ws: [&[f32]; CB] = std::array::from_fn(|c| &self.weight[(col + c) * k..][..k]);
        let whole = k - k % 4;
        let mut acc = [[F32x4::zero(); CB]; RB];
        // Raw pointers and a plain counter in the hot loop: measurably faster in V8 than slices
        // and `step_by`.
        let xp: [*const f32; RB] = std::array::from_fn(|r| xs[r].as_ptr());
        let wp: [*const f32; CB] = std::array::from_fn(|c| ws[c].as_ptr());
        let mut kk = 0;
        while kk < whole {
            // SAFETY: kk + 4 ≤ `whole` ≤ k, the length of every slice in `xs` and `ws`.
            unsafe {
                let w: [F32x4; CB] = std::array::from_fn(|c| F32x4::load(wp[c].add(kk)));
                for r in 0..RB {
                    let a = F32x4::load(xp[r].add(kk));
                    for c in 0..CB {
                        acc[r][c] = acc[r][c].add_mul_relaxed(a, w[c]);
                    }
                }
            }
            kk += 4;
        }
        let bias: [f32; CB] = match &self.bias {
            Some(b) => std::array::from_fn(|c| b[col + c]),
            None => [0.0; CB],
        };
        for r in 0..RB {
            // SAFETY: this tile is the only writer of columns col..col+CB of its rows (see `Tiles`).
            let out = unsafe { y.span((row + r) * n + col, CB) };
            for c in 0..CB {
                out[c] = acc[r][c].sum() + bias[c];
            }
            if whole < k {
                for c in 0..CB {
                    out[c] += xs[r][whole..].iter().zip(&ws[c][whole..]).map(|(a, b)| a * b).sum::<f32>();
                }
            }
        }
    }
}

/// The output split into tiles of rows × columns for the threads: bands of columns (a multiple of
/// [`C`] wide) when the rows fit one cache block, as at batch 1 (50 rows at ViT-B/32), else also
/// whole cache blocks of rows.
struct Tiles {
    m: usize,
    n: usize,
    row_blocks: usize,
    band: usize,
    bands: usize,
}

impl Tiles {
    fn new(m: usize, n: usize, threads: usize) -> Self {
        let row_blocks = m.div_ceil(MC).max(1);
        let want = if threads <= 1 { 1 } else { threads * TILES_PER_THREAD };
        let bands_wanted = want.div_ceil(row_blocks).max(1);
        // Bands of at least 4 blocks of C columns, so a tile keeps its register blocking busy.
        let band = n.div_ceil(bands_wanted).next_multiple_of(C).max(4 * C).min(n.next_multiple_of(C).max(C));
        let bands = n.div_ceil(band).max(1);
        Self { m, n, row_blocks, band, bands }
    }

    fn count(&self) -> usize {
        self.row_blocks * self.bands
    }

    /// Rows and columns of tile `t`.
    fn get(&self, t: usize) -> (std::ops::Range<usize>, std::ops::Range<usize>) {
        let (rb, b) = (t / self.bands, t % self.bands);
        let rows = rb * MC..((rb + 1) * MC).min(self.m);
        let cols = b * self.band..((b + 1) * self.band).min(self.n);
        (rows, cols)
    }
}

/// The output buffer, written by several threads at once: each writes only its own tile's values.
struct Out {
    ptr: *mut f32,
    len: usize,
}

// SAFETY: `Out` is only handed to the tiles of one `forward`, which write disjoint values, and the
// buffer outlives them (the parallel loop returns before `forward` does).
unsafe impl Sync for Out {}
unsafe impl Send for Out {}

impl Out {
    /// `len` values from `start`.
    ///
    /// # Safety
    /// No other thread may read or write these values while the slice lives.
    #[allow(clippy::mut_from_ref)]
    unsafe fn span(&self, start: usize, len: usize) -> &mut [f32] {
        assert!(start + len <= self.len, "an output span past the buffer");
        std::slice::from_raw_parts_mut(self.ptr.add(start), len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::XorShift;

    fn values(len: usize, seed: u64) -> Vec<f32> {
        let mut rng = XorShift::from_state(seed | 1);
        (0..len).map(|_| rng.unit() - 0.5).collect()
    }

    fn reference(x: &[f32], w: &[f32], b: Option<&[f32]>, m: usize, n: usize, k: usize) -> Vec<f64> {
        let mut y = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k).map(|kk| x[i * k + kk] as f64 * w[j * k + kk] as f64).sum();
                y[i * n + j] = dot + b.map_or(0.0, |b| b[j] as f64);
            }
        }
        y
    }

    #[test]
    fn matches_a_float64_product_on_odd_shapes() {
        // Rows past one cache block with an odd remainder; every column remainder; k below, at and
        // past one vector, with and without a tail.
        for &(m, n, k) in &[(1, 1, 1), (2, 7, 3), (3, 8, 5), (5, 9, 17), (50, 24, 33), (131, 13, 64), (7, 100, 1), (4, 6, 200), (65, 5, 4)] {
            let (x, w, b) = (values(m * k, 1), values(n * k, 2), values(n, 3));
            for bias in [Some(b.clone()), None] {
                let layer = SimdLinear::new(w.clone().into(), bias.clone().map(Into::into), n, k).unwrap();
                let got = layer.forward(&x).unwrap();
                let want = reference(&x, &w, bias.as_deref(), m, n, k);
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    let tol = 1e-5 * (k as f64).sqrt().max(1.0);
                    assert!((*g as f64 - w).abs() <= tol, "{m}×{n}×{k} bias {}: y[{i}] = {g}, want {w}", bias.is_some());
                }
            }
        }
    }

    #[test]
    fn every_thread_count_gives_the_same_bits() {
        // Batch 1 and 8 of ViT-B/32-like rows (bands of columns), past one cache block of rows
        // (tiles of rows too), and a column count that leaves a remainder in the last band.
        for &(m, n, k) in &[(50, 768, 64), (400, 96, 48), (1100, 37, 33), (50, 2050, 16)] {
            let (x, w, b) = (values(m * k, 4), values(n * k, 5), values(n, 6));
            let layer = SimdLinear::new(w.into(), Some(b.into()), n, k).unwrap();
            let on = |threads: usize| {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                pool.install(|| layer.forward(&x).unwrap())
            };
            let one = on(1);
            for threads in [2, 3, 8] {
                let got = on(threads);
                assert!(
                    got.iter().zip(&one).all(|(g, o)| g.to_bits() == o.to_bits()),
                    "{m}×{n}×{k}: {threads} threads differ from one"
                );
            }
        }
    }

    #[test]
    fn several_layers_at_once_and_an_activation_per_tile_equal_one_layer_at_a_time() {
        // Batch 1 and past one cache block of rows; layers of different widths over one input.
        for &(m, k) in &[(50, 64), (600, 24)] {
            let x = values(m * k, 7);
            let layers: Vec<SimdLinear> = [(96, 8u64), (37, 9), (200, 10)]
                .iter()
                .map(|&(n, seed)| SimdLinear::new(values(n * k, seed).into(), Some(values(n, seed + 1).into()), n, k).unwrap())
                .collect();
            let refs: Vec<&SimdLinear> = layers.iter().collect();
            let double: fn(&mut [f32]) = |v| v.iter_mut().for_each(|x| *x = 2.0 * *x + 1.0);
            for threads in [1, 2, 3] {
                let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
                let (plain, activated) = pool.install(|| (SimdLinear::forward_many(&refs, &x, None).unwrap(), SimdLinear::forward_many(&refs, &x, Some(double)).unwrap()));
                for (i, layer) in layers.iter().enumerate() {
                    let one = layer.forward(&x).unwrap();
                    assert!(plain[i].iter().zip(&one).all(|(a, b)| a.to_bits() == b.to_bits()), "{m}×{k}, layer {i}, {threads} threads");
                    let mut want = one.clone();
                    double(&mut want);
                    assert!(activated[i].iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()), "{m}×{k}, layer {i} activated, {threads} threads");
                }
            }
        }
        let a = SimdLinear::new(values(8, 1).into(), None, 2, 4).unwrap();
        let b = SimdLinear::new(values(10, 1).into(), None, 2, 5).unwrap();
        assert!(SimdLinear::forward_many(&[&a, &b], &values(8, 2), None).unwrap_err().to_string().contains("share one input"));
        assert!(SimdLinear::forward_many(&[], &values(8, 2), None).unwrap().is_empty());
    }

    #[test]
    fn tiles_cover_every_output_once() {
        for &(m, n, threads) in &[(50, 768, 2), (50, 768, 8), (1, 3, 4), (1100, 37, 3), (513, 4096, 16), (7, 5, 1)] {
            let tiles = Tiles::new(m, n, threads);
            let mut seen = vec![0u8; m * n];
            for t in 0..tiles.count() {
                let (rows, cols) = tiles.get(t);
                assert!(cols.start % C == 0, "a band starts inside a register block");
                for r in rows {
                    for c in cols.clone() {
                        seen[r * n + c] += 1;
                    }
                }
            }
            assert!(seen.iter().all(|&s| s == 1), "{m}×{n} on {threads} threads: an output written {} times", seen.iter().find(|&&s| s != 1).unwrap());
            if threads > 1 && n >= 8 * C * threads {
                assert!(tiles.count() >= threads, "{m}×{n}: {} tiles for {threads} threads", tiles.count());
            }
        }
    }

    #[test]
    fn rejects_inputs_that_do_not_fit() {
        let layer = SimdLinear::new(values(12, 1).into(), None, 3, 4).unwrap();
        assert!(layer.forward(&values(7, 2)).unwrap_err().to_string().contains("rows of 4"));
        assert!(SimdLinear::new(values(11, 1).into(), None, 3, 4).is_err());
        assert!(SimdLinear::new(values(12, 1).into(), Some(vec![0.0; 2].into()), 3, 4).is_err());
    }
}
