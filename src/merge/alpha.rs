//! α, the WiSE-FT mixing weight: θ(α) = (1 − α)·θ₀ + α·θ₁.
//!
//! Checked once where it enters (the worker's messages, the CLI's arguments, a test's literal) and
//! typed from then on, so no lower layer checks it again. It carries its interpolation weights, so
//! the host lerp and the GPU kernel round them the same way.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// A number in [0, 1]. `-0.0` is stored as `0.0`, so equal α values have equal [`Alpha::key`]s.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Alpha(f64);

impl Alpha {
    /// The zero-shot model.
    pub const ZERO_SHOT: Alpha = Alpha(0.0);
    /// The fine-tuned model.
    pub const FINE_TUNED: Alpha = Alpha(1.0);
    /// The paper's default when nothing else is known.
    pub const HALF: Alpha = Alpha(0.5);

    pub fn new(value: f64) -> Result<Self> {
        if (0.0..=1.0).contains(&value) {
            Ok(Self(value + 0.0))
        } else {
            Err(Error::Invalid(format!("α must lie in [0, 1], got {value}")))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }

    /// (1 − α, α) as every lerp uses them — host and GPU kernel alike: 1 − α in f64, then both
    /// rounded to f32.
    pub fn weights(self) -> (f32, f32) {
        ((1.0 - self.0) as f32, self.0 as f32)
    }

    /// A hashable key (the bits of the value).
    pub fn key(self) -> u64 {
        self.0.to_bits()
    }

    /// `n` + 1 evenly spaced values 0, 1/n, …, 1 (each computed as k/n, so 0.05·k drifts nowhere).
    pub fn grid(n: u32) -> Vec<Alpha> {
        let n = n.max(1);
        (0..=n).map(|k| Alpha(k as f64 / n as f64)).collect()
    }
}

impl Default for Alpha {
    fn default() -> Self {
        Self::HALF
    }
}

impl TryFrom<f64> for Alpha {
    type Error = Error;

    fn try_from(value: f64) -> Result<Self> {
        Self::new(value)
    }
}

impl From<Alpha> for f64 {
    fn from(a: Alpha) -> f64 {
        a.0
    }
}

impl FromStr for Alpha {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let value: f64 = s.trim().parse().map_err(|_| Error::Invalid(format!("α must lie in [0, 1], got `{s}`")))?;
        Self::new(value)
    }
}

impl fmt::Display for Alpha {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_numbers_in_the_unit_interval() {
        for ok in [0.0, -0.0, 0.35, 1.0] {
            assert!(Alpha::new(ok).is_ok(), "{ok}");
        }
        for bad in [-0.01, 1.0001, f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            let e = Alpha::new(bad).unwrap_err().to_string();
            assert!(e.contains("α must lie in [0, 1]"), "{e}");
        }
        assert!("x".parse::<Alpha>().unwrap_err().to_string().contains("`x`"));
        assert_eq!("0.25".parse::<Alpha>().unwrap().get(), 0.25);
    }

    #[test]
    fn negative_zero_is_zero() {
        assert_eq!(Alpha::new(-0.0).unwrap().key(), Alpha::ZERO_SHOT.key());
    }

    #[test]
    fn weights_are_rounded_once_in_f32() {
        let a = Alpha::new(0.35).unwrap();
        assert_eq!(a.weights(), ((1.0f64 - 0.35) as f32, 0.35f32));
        assert_eq!(Alpha::ZERO_SHOT.weights(), (1.0, 0.0));
    }

    #[test]
    fn serde_checks_the_range() {
        assert_eq!(serde_json::from_str::<Alpha>("0.5").unwrap(), Alpha::HALF);
        assert!(serde_json::from_str::<Alpha>("1.5").unwrap_err().to_string().contains("α must lie"));
        assert_eq!(serde_json::to_string(&Alpha::HALF).unwrap(), "0.5");
    }

    #[test]
    fn grid_ends_exactly() {
        let g = Alpha::grid(20);
        assert_eq!(g.len(), 21);
        assert_eq!(g[0], Alpha::ZERO_SHOT);
        assert_eq!(g[20], Alpha::FINE_TUNED);
        assert_eq!(g[7].get(), 7.0 / 20.0);
    }
}
