//! What a session tells whoever drives it (the worker posts these to the page; tests collect them).

use serde::Serialize;

use crate::merge::Alpha;

/// A photo, as the page numbers it.
pub type PhotoId = u32;

/// The models a photo is shown under: the pair's three, or a recipe's zero-shot model, each of
/// its fine-tunes and its merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// α = 0 (θ₀ itself).
    ZeroShot,
    /// The session's α, or its recipe.
    Merged,
    /// α = 1.
    FineTuned,
    /// A recipe's fine-tune `i` (from 0, in the recipe's order) on its own.
    FineTune(u32),
}

/// `zero-shot`, `merged`, `fine-tuned`, and `fine-tuned-1` … for a recipe's fine-tunes (numbered
/// from 1, as the page titles them): the page keys a photo's scores by this name.
impl Serialize for Column {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Column::ZeroShot => s.serialize_str("zero-shot"),
            Column::Merged => s.serialize_str("merged"),
            Column::FineTuned => s.serialize_str("fine-tuned"),
            Column::FineTune(i) => s.serialize_str(&format!("fine-tuned-{}", i + 1)),
        }
    }
}

/// A column the session will send scores for, as the page draws it: its key (the scores'
/// `model`), its title and the checkpoint it shows on its own (none for the merge).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnInfo {
    pub model: Column,
    /// "Zero-shot", "Merged", "Fine-tuned", "Fine-tune 2".
    pub title: String,
    /// The name the checkpoint was given by (path, hub id, URL or file name); `None` for the merge.
    pub checkpoint: Option<String>,
}

/// One photo's probabilities under one model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Score {
    pub image: PhotoId,
    pub model: Column,
    /// The α of the two-model merge (0 for the zero-shot column); `None` for a recipe's merge.
    pub alpha: Option<Alpha>,
    /// A recipe's merge in words ("task arithmetic, λ = 0.3"); `None` for an α.
    pub setting: Option<String>,
    /// One probability per label, in label order.
    pub probs: Vec<f32>,
}

/// What a session is doing or has found, in the order it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// What it is doing now ("Merging at α = 0.3 …").
    Status(String),
    /// Probabilities for some photos at one α, for one or more of the three columns.
    Results { labels: Vec<String>, templates: usize, scores: Vec<Score> },
    /// A photo that cannot be used; the others go on.
    ImageError { image: PhotoId, message: String },
    /// A sweep step finished: `k` of `n` α values done.
    /// `coefficient`: what is swept, `α` or a recipe's `λ` (`alpha` holds its value).
    SweepProgress { k: u32, n: u32, coefficient: &'static str, alpha: Alpha },
    /// A forward pass of the layer-wise search over `photos` label-free photos: `done` of at most
    /// `most`, the lowest entropy so far, and the whole search's estimated seconds here and on ViT-B/32 (from the time per pass).
    LayerwiseProgress { done: u32, most: u32, photos: u32, best: f64, estimate_s: f64, vit_b32_s: f64 },
    /// A large prompt set is being encoded: `k` of `n` prompts done, about `eta_s` seconds left
    /// (when the session has a clock).
    PromptProgress { k: u32, n: u32, eta_s: Option<f64> },
}

/// What a session was doing when something failed (the page words its message by it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Load,
    Alpha,
    Labels,
    Merge,
    Classify,
    /// Setting a recipe's method or coefficients.
    Recipe,
    Sweep,
    /// The label-free layer-wise α search.
    Layerwise,
    Export,
    Bench,
    /// Cache Storage (the worker's own).
    Cache,
    /// A message the worker could not read.
    Message,
    /// The engine panicked (the worker's panic hook).
    Crash,
}

/// A request that failed as a whole, with what it was doing.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct Failure {
    pub during: Operation,
    pub error: crate::Error,
    /// The person pressed cancel: not an error to show as one.
    pub cancelled: bool,
}

impl Failure {
    pub fn new(during: Operation, error: crate::Error) -> Self {
        Self { during, error, cancelled: false }
    }

    pub fn invalid(during: Operation, message: impl Into<String>) -> Self {
        Self::new(during, crate::Error::Invalid(message.into()))
    }

    /// Work stopped by the person's cancel.
    pub fn cancelled(during: Operation, message: impl Into<String>) -> Self {
        Self { cancelled: true, ..Self::invalid(during, message) }
    }
}
