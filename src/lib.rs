//! WiSE-FT in the browser: read a zero-shot and a fine-tuned CLIP, merge their weights
//! θ(α) = (1−α)·θ₀ + α·θ₁, and classify photos zero-shot with the merged model.
//!
//! Data flows one way: checkpoint bytes → host tensors ([`checkpoint`]) → merge plan ([`merge`]) →
//! engine at α ([`engine`]) → embeddings → zero-shot head ([`clip::head`]) → probabilities.
//! [`pipeline::WiseFt`] ties these together; [`session::Session`] is what a person's session is
//! (photos, labels, the three columns, sweeps), for the page's worker and the CLI.

pub mod bench;
pub mod checkpoint;
pub mod choose;
pub mod clip;
pub mod engine;
pub mod error;
pub mod fuzz;
pub mod hub;
pub mod merge;
pub mod parallel;
pub mod pipeline;
pub mod random;
pub mod session;
#[cfg(test)]
mod testing;
#[cfg(target_arch = "wasm32")]
pub mod web;

pub use error::{Error, Result};
