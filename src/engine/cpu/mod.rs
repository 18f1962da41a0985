//! The CPU back end: candle on the host. Moving α re-merges the interpolated tensors on the host and
//! rebuilds the towers; tensors kept from the zero-shot model are made into candle tensors once.

mod model;

use std::collections::BTreeMap;

use candle_core::{Device, Tensor};

use crate::checkpoint::tensor::{HostTensor, Values};
use crate::merge::Action;
use crate::error::{Error, Result};
use crate::pipeline::ModelPair;
use model::{to_rows, ClipModel, Weights};

pub struct CpuEngine {
    model: ClipModel,
    /// Tensors that do not depend on α (kept from the zero-shot model), converted once.
    kept: BTreeMap<String, Tensor>,
    device: Device,
}

/// Images and prompts go through the towers in batches of this size, which bounds memory on
/// long prompt lists (80 templates × many labels).
const BATCH: usize = 32;

impl CpuEngine {
    pub fn new(pair: &ModelPair, alpha: f64) -> Result<Self> {
        let device = Device::Cpu;
        let mut kept = BTreeMap::new();
        for (name, action) in &pair.plan.actions {
            if *action == Action::KeepZeroShot {
                if let Some(t) = to_candle(&pair.zero_shot.tensors[name], &device)? {
                    kept.insert(name.clone(), t);
                }
            }
        }
        let model = build(pair, alpha, &kept, &device)?;
        Ok(Self { model, kept, device })
    }

    pub fn set_alpha(&mut self, pair: &ModelPair, alpha: f64) -> Result<()> {
        self.model = build(pair, alpha, &self.kept, &self.device)?;
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

fn to_candle(t: &HostTensor, device: &Device) -> Result<Option<Tensor>> {
    Ok(match &t.values {
        Values::F32(v) => Some(Tensor::from_slice(v, t.shape.as_slice(), device)?),
        Values::I64(_) => None,
        Values::Uploaded => {
            return Err(Error::Invalid(
                "the checkpoint's weights were streamed to the GPU and are not on the host: the CPU back end needs them read again".into(),
            ))
        }
    })
}

/// The towers at α: the interpolated tensors merged now, the kept ones shared.
fn build(pair: &ModelPair, alpha: f64, kept: &BTreeMap<String, Tensor>, device: &Device) -> Result<ClipModel> {
    let mut tensors = kept.clone();
    for (name, action) in &pair.plan.actions {
        if *action == Action::Interpolate {
            let t = pair.plan.tensor(name, &pair.zero_shot, pair.fine_tuned.as_ref(), alpha)?;
            if let Some(t) = to_candle(&t, device)? {
                tensors.insert(name.clone(), t);
            }
        }
    }
    ClipModel::new(&pair.zero_shot.config, &Weights { tensors })
}
