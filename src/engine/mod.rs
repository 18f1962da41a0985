//! The compute engine: one front over the back ends, with the same methods on each.

pub mod cpu;

use crate::error::Result;
use crate::pipeline::ModelPair;

/// Which back end to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceChoice {
    Cpu,
}

pub enum Engine {
    Cpu(cpu::CpuEngine),
}

// The methods are async because the GPU back end's device requests and read-backs are (in the
// browser they must not block); the CPU back end simply finishes before returning.

impl Engine {
    pub async fn new(choice: DeviceChoice, pair: &ModelPair, alpha: f64) -> Result<Self> {
        match choice {
            DeviceChoice::Cpu => Ok(Self::Cpu(cpu::CpuEngine::new(pair, alpha)?)),
        }
    }

    /// A short description for the user ("CPU (candle)").
    pub fn describe(&self) -> String {
        match self {
            Self::Cpu(_) => "CPU (candle)".into(),
        }
    }

    pub fn set_alpha(&mut self, pair: &ModelPair, alpha: f64) -> Result<()> {
        match self {
            Self::Cpu(e) => e.set_alpha(pair, alpha),
        }
    }

    pub async fn encode_images(&self, pixels: &[f32], n: usize) -> Result<Vec<Vec<f32>>> {
        match self {
            Self::Cpu(e) => e.encode_images(pixels, n),
        }
    }

    pub async fn encode_texts(&self, ids: &[Vec<u32>], pooled: &[usize]) -> Result<Vec<Vec<f32>>> {
        match self {
            Self::Cpu(e) => e.encode_texts(ids, pooled),
        }
    }
}
