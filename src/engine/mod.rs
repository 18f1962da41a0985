//! The compute engine: one front over the back ends, with the same methods on each.

pub mod choice;
pub mod cpu;
pub mod gpu;

pub use choice::Device;

use crate::error::Result;
use crate::merge::{Alpha, ModelPair, Point};
use choice::{decide, Decision, Offer};

pub enum Engine {
    Cpu(cpu::CpuEngine),
    Gpu(gpu::GpuEngine),
}

// The methods are async because the GPU back end's device requests and read-backs are (in the
// browser they must not block); the CPU back end simply finishes before returning.
impl Engine {
    /// Builds the engine on `device`.
    pub async fn new(device: Device, pair: &ModelPair, alpha: Alpha) -> Result<Self> {
        Ok(Self::new_explained(device, pair, alpha).await?.0)
    }

    /// Like [`Engine::new`], with a sentence saying why this back end runs (natively: the adapter
    /// wgpu finds, decided by [`choice::decide`]).
    pub async fn new_explained(device: Device, pair: &ModelPair, alpha: Alpha) -> Result<(Self, String)> {
        Self::at_explained(device, pair, &Point::Alpha(alpha)).await
    }

    /// Like [`Engine::new_explained`] at any point (an α, or a recipe's weights).
    pub async fn at_explained(device: Device, pair: &ModelPair, point: &Point) -> Result<(Self, String)> {
        let adapter = match device {
            Device::Cpu => None,
            _ => gpu::probe().await,
        };
        let offer = adapter.as_ref().map(|a| Offer { name: &a.name, software: a.software });
        match decide(device, offer, "no GPU adapter found", "--device gpu") {
            Decision::Cpu { reason } => Ok((Self::Cpu(cpu::CpuEngine::at(pair, point, cpu::Matmul::default())?), reason)),
            Decision::Gpu { reason, fallback } => match gpu::GpuEngine::at(pair, point, gpu::GpuOptions::default()).await {
                Ok(e) => Ok((Self::Gpu(e), reason)),
                Err(e) if fallback => Ok((Self::Cpu(cpu::CpuEngine::at(pair, point, cpu::Matmul::default())?), choice::fallback_reason(&e))),
                Err(e) => Err(e),
            },
        }
    }

    /// What runs: [`Device::Cpu`] or [`Device::Gpu`].
    pub fn device(&self) -> Device {
        match self {
            Self::Cpu(_) => Device::Cpu,
            Self::Gpu(_) => Device::Gpu,
        }
    }

    /// A short description for the user ("CPU (candle)", the GPU adapter and API).
    pub fn describe(&self) -> String {
        match self {
            Self::Cpu(e) => e.describe().into(),
            Self::Gpu(e) => e.describe(),
        }
    }

    /// What the GPU engine holds and did on its device (`None` on the CPU).
    pub fn gpu_stats(&self) -> Option<gpu::GpuStats> {
        match self {
            Self::Cpu(_) => None,
            Self::Gpu(e) => Some(e.stats()),
        }
    }

    /// The GPU engine's device is lost: the engine must be rebuilt (never on the CPU).
    pub fn is_lost(&self) -> bool {
        match self {
            Self::Cpu(_) => false,
            Self::Gpu(e) => e.is_lost(),
        }
    }

    /// Why the GPU engine's device was lost, as the device said, once it was.
    pub fn lost_reason(&self) -> Option<String> {
        match self {
            Self::Cpu(_) => None,
            Self::Gpu(e) => e.lost_reason(),
        }
    }

    pub fn set_alpha(&mut self, pair: &ModelPair, alpha: Alpha) -> Result<()> {
        match self {
            Self::Cpu(e) => e.set_alpha(pair, alpha),
            Self::Gpu(e) => e.set_alpha(pair, alpha),
        }
    }

    /// Moves to `point`: an α, or a recipe's weights (one host pass per merged tensor on the
    /// CPU, one dispatch per merged tensor over all its inputs on the GPU).
    pub fn set_point(&mut self, pair: &ModelPair, point: &Point) -> Result<()> {
        match self {
            Self::Cpu(e) => e.set_point(pair, point),
            Self::Gpu(e) => e.set_point(pair, point),
        }
    }

    /// Resolves when the back end has finished all submitted work (for timing; the CPU back end
    /// always has).
    pub async fn wait(&self) -> Result<()> {
        match self {
            Self::Cpu(_) => Ok(()),
            Self::Gpu(e) => e.wait().await,
        }
    }

    pub async fn encode_images(&self, pixels: &[f32], n: usize) -> Result<Vec<Vec<f32>>> {
        match self {
            Self::Cpu(e) => e.encode_images(pixels, n),
            Self::Gpu(e) => e.encode_images(pixels, n).await,
        }
    }

    pub async fn encode_texts(&self, ids: &[Vec<u32>], pooled: &[usize]) -> Result<Vec<Vec<f32>>> {
        match self {
            Self::Cpu(e) => e.encode_texts(ids, pooled),
            Self::Gpu(e) => e.encode_texts(ids, pooled).await,
        }
    }
}
