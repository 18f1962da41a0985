//! Layer-wise and label-free (issue 13): a per-depth α schedule — a few knots spread over each
//! tower's depth, linearly interpolated between them (the recipes' `Levels::Depth`) — that
//! minimises the mean prediction entropy of the merged model on unlabeled photos, AdaMerging's
//! objective. AdaMerging descends the gradient; here the search is coordinate descent over a grid
//! of α values with forward passes only, which any engine (the page's WebGPU one included) can do.
//!
//! The optimiser ([`coordinate_descent`]) is generic over the objective, so it is tested on plain
//! functions; [`EntropyOnPhotos`] is the objective over a model loaded as a depth-scheduled wise-ft
//! pair (or a wise-ft recipe's inputs).


use serde::Serialize;

use super::stats::mean_entropy;
use super::TIE;
use crate::bench;
use crate::error::{Error, Result};
use crate::merge::recipe::{Method, Recipe};
use crate::merge::schedule::{Coefficient, Levels};
use crate::merge::{build, ModelPair};
use crate::pipeline::WiseFt;

/// What the search tries.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    /// Knots over depth (≥ 2): the first sits at the embeddings, the last at the final layer norm.
    pub knots: usize,
    /// The α values each knot may take.
    pub grid: Vec<f64>,
    /// Rounds over all knots; a round that changes nothing ends the search early.
    pub rounds: usize,
}

impl Default for Search {
    /// 3 knots, α ∈ {0, 0.1, …, 1}, 2 rounds: at most 1 + 2·3·11 = 67 forward passes.
    fn default() -> Self {
        Search { knots: 3, grid: (0..=10).map(|i| i as f64 / 10.0).collect(), rounds: 2 }
    }
}

impl Search {
    pub fn check(&self) -> Result<()> {
        if !(2..=32).contains(&self.knots) {
            return Err(Error::Invalid(format!("layer-wise search: {} knots (use 2 to 32)", self.knots)));
        }
        if self.grid.is_empty() || self.grid.iter().any(|a| !(0.0..=1.0).contains(a)) {
            return Err(Error::Invalid("layer-wise search: the α grid must be non-empty and within [0, 1]".into()));
        }
        if self.rounds == 0 {
            return Err(Error::Invalid("layer-wise search: at least one round".into()));
        }
        Ok(())
    }

    /// The most objective evaluations a search can take: the start, then every grid value of
    /// every knot in every round (one fewer per knot when the knot already holds a grid value).
    pub fn max_evaluations(&self) -> usize {
        1 + self.rounds * self.knots * self.grid.len()
    }
}

/// One evaluation of the objective.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub knots: Vec<f64>,
    pub value: f64,
}

/// What the search found: the schedule, its objective, the start (the single α), every evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Found {
    pub knots: Vec<f64>,
    pub value: f64,
    pub start: Evaluation,
    pub evaluations: Vec<Evaluation>,
    pub seconds: f64,
}

/// Where the search is, after each evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub done: usize,
    pub most: usize,
    pub best: f64,
    /// Seconds per evaluation so far.
    pub seconds_each: f64,
}

/// What the caller says after each evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Continue,
    Cancel,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done(Found),
    Cancelled,
}

/// A function of the knots to minimise.
#[allow(async_fn_in_trait)] // used generically, never as a trait object or across threads
pub trait Objective {
    async fn value(&mut self, knots: &[f64]) -> Result<f64>;
}

/// Minimises `objective` from all knots at `start`: for each knot in turn, every grid value with the
/// others held; a value is taken only when it is lower by more than [`TIE`] (so among equals the
/// current one, and the grid's first — the smallest α — when starting a knot, stays). `now` is a
/// clock in seconds (`Instant` natively, `performance.now()` in a worker, as for the benchmark).
pub async fn coordinate_descent(
    objective: &mut impl Objective,
    start: f64,
    search: &Search,
    now: &dyn Fn() -> f64,
    mut progress: impl FnMut(Progress) -> Step,
) -> Result<Outcome> {
    search.check()?;
    let started = now();
    let most = search.max_evaluations();
    let mut knots = vec![start; search.knots];
    let mut best = objective.value(&knots).await?;
    let start = Evaluation { knots: knots.clone(), value: best };
    let mut evaluations = vec![start.clone()];
    let report = |evaluations: &Vec<Evaluation>, best: f64| Progress {
        done: evaluations.len(),
        most,
        best,
        seconds_each: (now() - started) / evaluations.len() as f64,
    };
    if progress(report(&evaluations, best)) == Step::Cancel {
        return Ok(Outcome::Cancelled);
    }
    for _ in 0..search.rounds {
        let mut moved = false;
        for k in 0..search.knots {
            let held = knots[k];
            for &a in &search.grid {
                if (a - held).abs() < TIE {
                    continue;
                }
                let mut trial = knots.clone();
                trial[k] = a;
                let value = objective.value(&trial).await?;
                evaluations.push(Evaluation { knots: trial.clone(), value });
                if value < best - TIE {
                    best = value;
                    knots = trial;
                    moved = true;
                }
                if progress(report(&evaluations, best)) == Step::Cancel {
                    return Ok(Outcome::Cancelled);
                }
            }
        }
        if !moved {
            break;
        }
    }
    Ok(Outcome::Done(Found { knots, value: best, start, evaluations, seconds: now() - started }))
}

/// The wise-ft recipe whose α follows `knots` over depth (`[a]`… all equal is the single α `a`).
pub fn recipe(knots: &[f64]) -> Recipe {
    let mut r = Recipe::new(Method::WiseFt);
    r.alpha = Coefficient { default: Levels::Depth(knots.to_vec()), families: Default::default() };
    r
}

/// The mean entropy of the merged model's predictions on `images` (preprocessed, CHW), as a
/// function of the knots. The model is a two-model pair (a schedule is a per-tensor α of its
/// lerp) or a depth-scheduled wise-ft recipe's merge inputs.
pub struct EntropyOnPhotos<'a> {
    pub model: &'a mut WiseFt,
    pub images: &'a [Vec<f32>],
    pub labels: &'a [String],
    pub templates: &'a [String],
}

impl EntropyOnPhotos<'_> {
    pub fn new<'a>(model: &'a mut WiseFt, images: &'a [Vec<f32>], labels: &'a [String], templates: &'a [String]) -> Result<EntropyOnPhotos<'a>> {
        if images.is_empty() {
            return Err(Error::Invalid("layer-wise search: no unlabeled photos to measure the entropy on".into()));
        }
        if labels.len() < 2 {
            return Err(Error::Invalid("layer-wise search: at least two labels (one class has no entropy)".into()));
        }
        if model.pair.inputs.is_none() && model.pair.fine_tuned.is_none() {
            return Err(Error::Invalid("layer-wise search: the model has no fine-tuned checkpoint (α has no effect without one)".into()));
        }
        Ok(EntropyOnPhotos { model, images, labels, templates })
    }
}

impl Objective for EntropyOnPhotos<'_> {
    async fn value(&mut self, knots: &[f64]) -> Result<f64> {
        let point = build::point_of(&recipe(knots), &self.model.pair)?;
        self.model.set_point(point)?;
        let probs = self.model.classify(self.images, self.labels, self.templates).await?;
        let probs: Vec<Vec<f64>> = probs.iter().map(|p| p.iter().map(|&x| f64::from(x)).collect()).collect();
        let value = mean_entropy(&probs);
        if !value.is_finite() {
            return Err(Error::Invalid(format!("layer-wise search: the entropy at α knots {knots:?} is not finite")));
        }
        Ok(value)
    }
}

/// Seconds a search with `search` would take on ViT-B/32 on the same engine and photos, from the
/// measured seconds per evaluation on `pair`'s model, scaled by the image tower's FLOPs (the
/// benchmark's count): image encoding dominates (the text tower runs once per evaluation, and only
/// when it moves with the merge).
pub fn estimate_vit_b32_seconds(pair: &ModelPair, seconds_each: f64, search: &Search) -> f64 {
    let config = &pair.zero_shot.config;
    let here = if config.vision.is_some() { bench::image_flops(config) } else { 1.0 };
    seconds_each * (bench::image_flops(&bench::vit_b32()) / here.max(1.0)) * search.max_evaluations() as f64
}
