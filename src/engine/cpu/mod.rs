//! The CPU back end: candle on the host, with its Linear layers on a SIMD GEMM in the browser
//! (`gemm.rs`). Moving α re-merges the interpolated tensors on the host and rebuilds the towers that
//! depend on α; a tower α does not touch (the text tower of a vision-only fine-tune) is built once.

mod activation;
mod gemm;
mod model;
mod simd;

use candle_core::{Device, Tensor};

use crate::clip::config::{TextConfig, VisionConfig};
use crate::error::{Error, Result};
use crate::merge::{Alpha, ModelPair, Point};
pub use model::Matmul;
use model::{to_rows, MergedWeights, TextTower, VisionTower};

pub struct CpuEngine {
    /// `None` only if rebuilding it at a new α failed (the old one is dropped first, so that the
    /// host never holds two merged towers: 350 MB at ViT-B/32).
    vision: Option<VisionTower>,
    text: Option<TextTower>,
    vision_cfg: VisionConfig,
    text_cfg: TextConfig,
    matmul: Matmul,
    device: Device,
}

/// Images and prompts go through the towers in batches of this size, which bounds memory on
/// long prompt lists (80 templates × many labels).
const BATCH: usize = 32;

impl CpuEngine {
    /// With the multiply that is faster on this target ([`Matmul::default`]).
    pub fn new(pair: &ModelPair, alpha: Alpha) -> Result<Self> {
        Self::with_matmul(pair, alpha, Matmul::default())
    }

    pub fn with_matmul(pair: &ModelPair, alpha: Alpha, matmul: Matmul) -> Result<Self> {
        Self::at(pair, &Point::Alpha(alpha), matmul)
    }

    /// The towers at `point` (an α, or a recipe's weights).
    pub fn at(pair: &ModelPair, point: &Point, matmul: Matmul) -> Result<Self> {
        let w = MergedWeights { pair, point, matmul };
        let cfg = &pair.zero_shot.config;
        let need = |what: &str| Error::Invalid(format!("the merged model has no {what}: classification needs a full CLIPModel"));
        let vision_cfg = cfg.vision.clone().ok_or_else(|| need("vision tower"))?;
        let text_cfg = cfg.text.clone().ok_or_else(|| need("text tower"))?;
        let vision = Some(VisionTower::new(&w, &vision_cfg)?);
        let text = Some(TextTower::new(&w, &text_cfg)?);
        Ok(Self { vision, text, vision_cfg, text_cfg, matmul, device: Device::Cpu })
    }

    /// Rebuilds the towers that α changes (with a vision-only fine-tune, the vision tower alone).
    pub fn set_alpha(&mut self, pair: &ModelPair, alpha: Alpha) -> Result<()> {
        self.set_point(pair, &Point::Alpha(alpha))
    }

    /// Rebuilds the towers a recipe's coefficients change: one host pass over the merge inputs
    /// per merged tensor (w₀·θ₀ + Σᵢ wᵢ·vᵢ), straight into the towers' layout.
    pub fn set_point(&mut self, pair: &ModelPair, point: &Point) -> Result<()> {
        let w = MergedWeights { pair, point, matmul: self.matmul };
        if pair.vision_depends_on_alpha() {
            self.vision = None;
            self.vision = Some(VisionTower::new(&w, &self.vision_cfg)?);
        }
        if pair.text_depends_on_alpha() {
            self.text = None;
            self.text = Some(TextTower::new(&w, &self.text_cfg)?);
        }
        Ok(())
    }

    pub fn describe(&self) -> &'static str {
        match self.matmul {
            Matmul::Candle => "CPU (candle)",
            Matmul::Simd => "CPU (candle, SIMD GEMM)",
        }
    }

    /// `pixels`: `n` images, each channels × size × size, concatenated.
    pub fn encode_images(&self, pixels: &[f32], n: usize) -> Result<Vec<Vec<f32>>> {
        let vision = self.vision.as_ref().ok_or_else(|| lost("vision"))?;
        let (channels, side) = (vision.cfg.num_channels, vision.cfg.image_size);
        let per_image = channels * side * side;
        if pixels.len() != n * per_image {
            return Err(Error::Invalid(format!(
                "{} pixel values for {n} images of {channels}×{side}×{side}",
                pixels.len()
            )));
        }
        let mut out = Vec::with_capacity(n);
        for chunk in pixels.chunks(per_image * BATCH) {
            let b = chunk.len() / per_image;
            let x = Tensor::from_slice(chunk, (b, channels, side, side), &self.device)?;
            // The whole forward on a pool thread: each GEMM then starts on it at once, and only the
            // other threads are woken (from the calling thread, every GEMM waited for a wake-up).
            out.extend(to_rows(&crate::parallel::install(|| vision.forward(&x))?)?);
        }
        Ok(out)
    }

    /// Token id rows and the position to pool in each.
    pub fn encode_texts(&self, ids: &[Vec<u32>], pooled: &[usize]) -> Result<Vec<Vec<f32>>> {
        let text = self.text.as_ref().ok_or_else(|| lost("text"))?;
        if ids.len() != pooled.len() {
            return Err(Error::Invalid(format!("{} token rows but {} pooled positions", ids.len(), pooled.len())));
        }
        if let Some((row, (r, p))) = ids.iter().zip(pooled).enumerate().find(|(_, (r, &p))| p >= r.len()) {
            return Err(Error::Invalid(format!("prompt {row}: pooled position {p} is past its {} tokens", r.len())));
        }
        // Causal attention: nothing after the pooled token matters, so a batch is cut after its
        // longest prompt; batching prompts of similar length (CLIP's 80 templates differ widely)
        // keeps that cut short for all of them.
        let mut order: Vec<usize> = (0..ids.len()).collect();
        order.sort_by_key(|&i| pooled[i]);
        let mut out = vec![Vec::new(); ids.len()];
        for batch in order.chunks(BATCH) {
            let len = batch.iter().map(|&i| pooled[i] + 1).max().unwrap_or(1);
            // Rows shorter than the cut are padded: positions past a row's pooled token are masked.
            let flat: Vec<u32> = batch.iter().flat_map(|&i| ids[i].iter().copied().chain(std::iter::repeat(0)).take(len)).collect();
            let pos: Vec<usize> = batch.iter().map(|&i| pooled[i]).collect();
            let x = Tensor::from_vec(flat, (batch.len(), len), &self.device)?;
            for (&i, row) in batch.iter().zip(to_rows(&crate::parallel::install(|| text.forward(&x, &pos))?)?) {
                out[i] = row;
            }
        }
        Ok(out)
    }
}

fn lost(tower: &str) -> Error {
    Error::Invalid(format!("the {tower} tower could not be rebuilt at the last α (see the error then): set α again"))
}
