//! The CPU back end: candle on the host. Moving α re-merges on the host and rebuilds the towers.

mod model;

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};

use crate::checkpoint::tensor::Values;
use crate::error::{Error, Result};
use crate::pipeline::ModelPair;
use model::{to_rows, ClipModel, Weights};

pub struct CpuEngine {
    model: ClipModel,
    device: Device,
}

/// Images and prompts go through the towers in batches of this size, which bounds memory on
/// long prompt lists (80 templates × many labels).
const BATCH: usize = 32;

impl CpuEngine {
    pub fn new(pair: &ModelPair, alpha: f64) -> Result<Self> {
        let device = Device::Cpu;
        let model = build(pair, alpha, &device)?;
        Ok(Self { model, device })
    }

    pub fn set_alpha(&mut self, pair: &ModelPair, alpha: f64) -> Result<()> {
        self.model = build(pair, alpha, &self.device)?;
        Ok(())
    }

    /// `pixels`: `n` images, each channels × size × size, concatenated.
    pub fn encode_images(&self, pixels: &[f32], n: usize) -> Result<Vec<Vec<f32>>> {
        let vision = &self.model.vision;
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
            out.extend(to_rows(&vision.forward(&x)?)?);
        }
        Ok(out)
    }

    /// Token id rows and the position to pool in each.
    pub fn encode_texts(&self, ids: &[Vec<u32>], pooled: &[usize]) -> Result<Vec<Vec<f32>>> {
        let mut out = Vec::with_capacity(ids.len());
        for (rows, pos) in ids.chunks(BATCH).zip(pooled.chunks(BATCH)) {
            // Causal attention: nothing after the pooled token matters, so the batch is cut there.
            let len = pos.iter().max().map_or(1, |p| p + 1);
            let flat: Vec<u32> = rows.iter().flat_map(|r| r[..len].iter().copied()).collect();
            let x = Tensor::from_vec(flat, (rows.len(), len), &self.device)?;
            out.extend(to_rows(&self.model.text.forward(&x, pos)?)?);
        }
        Ok(out)
    }
}

fn build(pair: &ModelPair, alpha: f64, device: &Device) -> Result<ClipModel> {
    let mut tensors = BTreeMap::new();
    for name in pair.plan.actions.keys() {
        let t = pair.plan.tensor(name, &pair.zero_shot, pair.fine_tuned.as_ref(), alpha)?;
        if let Values::F32(v) = &t.values {
            tensors.insert(name.clone(), Tensor::from_slice(v, t.shape.as_slice(), device)?);
        }
    }
    ClipModel::new(&pair.zero_shot.config, &Weights { tensors })
}
