//! The compute engine: one front over the back ends, with the same methods on each.

pub mod cpu;
pub mod gpu;

use crate::error::Result;
use crate::pipeline::ModelPair;

/// Which back end to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    Cpu,
    /// The GPU engine on whatever adapter wgpu/WebGPU grants (a software one included).
    Gpu,
    /// The GPU engine on a hardware adapter, else the CPU (software rasterisers such as lavapipe
    /// or SwiftShader are far slower than candle on the CPU).
    Auto,
}

/// Which back end an engine runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Cpu,
    Gpu,
}

pub enum Engine {
    Cpu(cpu::CpuEngine),
    Gpu(gpu::GpuEngine),
}

// The methods are async because the GPU back end's device requests and read-backs are (in the
// browser they must not block); the CPU back end simply finishes before returning.
impl Engine {
    /// Builds the engine; with `Auto`, also the reason for the choice when it fell back to the CPU.
    pub async fn new(choice: DeviceChoice, pair: &ModelPair, alpha: f64) -> Result<Self> {
        Ok(Self::new_explained(choice, pair, alpha).await?.0)
    }

    /// Like [`Engine::new`], with a sentence saying why `Auto` chose what it chose.
    pub async fn new_explained(choice: DeviceChoice, pair: &ModelPair, alpha: f64) -> Result<(Self, Option<String>)> {
        match choice {
            DeviceChoice::Cpu => Ok((Self::Cpu(cpu::CpuEngine::new(pair, alpha)?), None)),
            DeviceChoice::Gpu => Ok((Self::Gpu(gpu::GpuEngine::new(pair, alpha).await?), None)),
            DeviceChoice::Auto => {
                let why = match gpu::probe().await {
                    Some(a) if !a.software => match gpu::GpuEngine::new(pair, alpha).await {
                        Ok(e) => return Ok((Self::Gpu(e), None)),
                        Err(e) => format!("the GPU engine failed on {} ({e})", a.name),
                    },
                    Some(a) => format!("{} is a software renderer, slower than the CPU back end", a.name),
                    None => "no GPU adapter found".to_string(),
                };
                Ok((Self::Cpu(cpu::CpuEngine::new(pair, alpha)?), Some(why)))
            }
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Self::Cpu(_) => Kind::Cpu,
            Self::Gpu(_) => Kind::Gpu,
        }
    }

    /// A short description for the user ("CPU (candle)", the GPU adapter and API).
    pub fn describe(&self) -> String {
        match self {
            Self::Cpu(e) => e.describe().into(),
            Self::Gpu(e) => e.describe(),
        }
    }

    pub fn set_alpha(&mut self, pair: &ModelPair, alpha: f64) -> Result<()> {
        match self {
            Self::Cpu(e) => e.set_alpha(pair, alpha),
            Self::Gpu(e) => e.set_alpha(pair, alpha),
        }
    }

    /// Resolves when the back end has finished all submitted work (for timing; the CPU back end
    /// always has).
    pub async fn finish(&self) -> Result<()> {
        match self {
            Self::Cpu(_) => Ok(()),
            Self::Gpu(e) => e.finish().await,
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
