//! Which back end runs, and why: the one rule for the CLI's `--device` and the page's `backend=`.
//!
//! A hardware adapter gets the GPU engine (with the CPU as the fallback if it cannot start); a
//! software rasteriser (lavapipe, SwiftShader, WARP) does not, since candle on the CPU is faster
//! than a GPU emulated on the same CPU — unless the person asks for the GPU.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The device a person asks for, and the one an engine runs on (then never `Auto`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Device {
    /// The GPU engine on a hardware adapter, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// The GPU engine on whatever adapter wgpu/WebGPU grants (a software one included).
    Gpu,
}

impl FromStr for Device {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "gpu" => Ok(Self::Gpu),
            other => Err(Error::Invalid(format!("device `{other}`: auto, cpu or gpu"))),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Cpu => "cpu",
            Self::Gpu => "gpu",
        })
    }
}

/// Names of rasterisers that run on the CPU, as drivers and browsers spell them (lower case).
const SOFTWARE_RENDERERS: [&str; 7] = ["llvmpipe", "lavapipe", "softpipe", "swiftshader", "software", "warp", "basic render"];

/// Whether an adapter described by `text` (its name, driver, vendor …) is a software renderer.
pub fn is_software_renderer(text: &str) -> bool {
    let text = text.to_lowercase();
    SOFTWARE_RENDERERS.iter().any(|s| text.contains(s))
}

/// What is known of the GPU adapter on offer before an engine is built.
#[derive(Debug, Clone, Copy)]
pub struct Offer<'a> {
    /// How to name it to a person ("NVIDIA GeForce RTX 4070 (Vulkan)", "SwiftShader (google), a
    /// software renderer …").
    pub name: &'a str,
    pub software: bool,
}

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Cpu { reason: String },
    /// `fallback`: if the GPU engine fails to start, build the CPU engine instead (only when the
    /// person did not ask for the GPU).
    Gpu { reason: String, fallback: bool },
}

/// Decides once from what was asked and what is offered. `no_adapter` says why there is none;
/// `to_force` tells how to ask for the GPU anyway ("--device gpu", "add backend=gpu to the address").
pub fn decide(requested: Device, offer: Option<Offer<'_>>, no_adapter: &str, to_force: &str) -> Decision {
    match (requested, offer) {
        (Device::Cpu, _) => Decision::Cpu { reason: "the CPU was asked for".into() },
        (Device::Gpu, Some(a)) => Decision::Gpu { reason: format!("the GPU was asked for, on {}", a.name), fallback: false },
        (Device::Gpu, None) => Decision::Gpu { reason: format!("the GPU was asked for, but {no_adapter}"), fallback: false },
        (Device::Auto, Some(a)) if !a.software => Decision::Gpu { reason: format!("GPU: {}", a.name), fallback: true },
        (Device::Auto, Some(a)) => Decision::Cpu {
            reason: format!("the only GPU adapter is {}; the CPU back end is faster ({to_force} to use it anyway)", a.name),
        },
        (Device::Auto, None) => Decision::Cpu { reason: no_adapter.to_string() },
    }
}

/// The reason shown when the GPU engine failed under `Auto` and the CPU runs instead.
pub fn fallback_reason(error: &Error) -> String {
    format!("CPU fallback: the GPU engine could not start ({error})")
}

#[cfg(test)]
mod tests {
    use super::*;

    const HW: Offer<'static> = Offer { name: "RTX", software: false };
    const SW: Offer<'static> = Offer { name: "SwiftShader", software: true };

    #[test]
    fn auto_takes_hardware_only() {
        assert!(matches!(decide(Device::Auto, Some(HW), "none", "f"), Decision::Gpu { fallback: true, .. }));
        match decide(Device::Auto, Some(SW), "none", "--device gpu") {
            Decision::Cpu { reason } => assert!(reason.contains("SwiftShader") && reason.contains("--device gpu"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(decide(Device::Auto, None, "no adapter", "f"), Decision::Cpu { reason: "no adapter".into() });
    }

    #[test]
    fn asked_for_is_given_without_fallback() {
        assert!(matches!(decide(Device::Gpu, Some(SW), "none", "f"), Decision::Gpu { fallback: false, .. }));
        assert!(matches!(decide(Device::Gpu, None, "none", "f"), Decision::Gpu { fallback: false, .. }));
        assert!(matches!(decide(Device::Cpu, Some(HW), "none", "f"), Decision::Cpu { .. }));
    }

    #[test]
    fn software_names() {
        for s in ["llvmpipe (LLVM 15)", "Google SwiftShader", "Microsoft Basic Render Driver", "lavapipe"] {
            assert!(is_software_renderer(s), "{s}");
        }
        assert!(!is_software_renderer("NVIDIA GeForce RTX 4070"));
    }

    #[test]
    fn parses_and_prints() {
        for d in [Device::Auto, Device::Cpu, Device::Gpu] {
            assert_eq!(d.to_string().parse::<Device>().unwrap(), d);
        }
        assert!("tpu".parse::<Device>().is_err());
    }
}
