//! From a recipe and its checkpoints to a model the engines run: everything that depends only on
//! the checkpoints (task vectors, TIES's trim and elected signs) is computed here, once; the
//! coefficients become a [`Point`] that can change without touching the inputs again.

use std::sync::Arc;

use super::mix::{Inputs, Kind, Mix, Point};
use super::recipe::{Method, Recipe};
use super::schedule::Depths;
use super::task_vector::{self, FineTuneReport};
use super::{ties, Alpha, ModelPair};
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};

/// A recipe loaded: the model, where its coefficients put it, and each fine-tune's report.
pub struct Loaded {
    pub pair: ModelPair,
    pub point: Point,
    pub reports: Vec<FineTuneReport>,
    /// Why a TIES load did not keep the fine-tunes' own task vectors it was asked to keep
    /// ([`OwnVectors::KeptWithin`]): they would not fit.
    pub dropped: Option<String>,
}

/// Whether a TIES load keeps each fine-tune's own task vector τᵢ beside the merged one, so that
/// each fine-tune can be shown on its own (θ₀ + 1·τᵢ, a point of the same inputs): N more tensor
/// sets, as many as task arithmetic holds. The other methods' inputs are the fine-tunes' own already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnVectors {
    /// Dropped once merged: one set whatever N is (the CLI's merge and classify).
    Dropped,
    /// Kept when θ₀'s float tensors and every merge input, theirs included, take at most this many
    /// bytes of f32; else dropped, and [`Loaded::dropped`] says why.
    KeptWithin(u64),
}

impl Loaded {
    /// The point of another setting of the same recipe's coefficients (λ, α, weights): no
    /// checkpoint is read or recomputed.
    pub fn point_of(&self, recipe: &Recipe) -> Result<Point> {
        point_of(recipe, &self.pair)
    }
}

/// The point of `recipe`'s coefficients on a model loaded for that recipe (its merge inputs), or
/// on a two-model pair: an α, or a wise-ft α schedule over the tensors the pair interpolates.
pub fn point_of(recipe: &Recipe, pair: &ModelPair) -> Result<Point> {
    match &pair.inputs {
        Some(inputs) => Ok(Point::Mix(Arc::new(Mix::new(recipe, inputs)?))),
        None => match (recipe.method, recipe.alpha.as_constant()) {
            (Method::WiseFt, Some(a)) => Ok(Point::Alpha(Alpha::new(a).map_err(|e| Error::Invalid(format!("recipe field `alpha`: {e}")))?)),
            (Method::WiseFt, None) if pair.fine_tuned.is_some() => {
                let depths = Depths::from_names(pair.zero_shot.tensors.keys());
                Ok(Point::Mix(Arc::new(Mix::wise_ft(recipe, pair.plan.interpolated(), &depths)?)))
            }
            _ => Err(Error::Invalid(format!("recipe `{}`: the model was loaded for a single-α wise-ft merge; load the recipe again", recipe.method.key()))),
        },
    }
}

/// Checks every fine-tune against `zero_shot` (shapes; an error names the checkpoint and tensor)
/// and computes the recipe's merge inputs. A wise-ft recipe with one α is today's two-model merge.
/// TIES keeps only its merged task vector ([`OwnVectors::Dropped`]).
pub fn load_recipe(recipe: &Recipe, zero_shot: Checkpoint, fine_tuned: Vec<Checkpoint>) -> Result<Loaded> {
    load_recipe_with(recipe, zero_shot, fine_tuned, OwnVectors::Dropped)
}

/// [`load_recipe`], TIES keeping the fine-tunes' own task vectors as `own` says.
pub fn load_recipe_with(recipe: &Recipe, mut zero_shot: Checkpoint, fine_tuned: Vec<Checkpoint>, own: OwnVectors) -> Result<Loaded> {
    recipe.check()?;
    recipe.check_count(fine_tuned.len())?;
    let reports = fine_tuned.iter().map(|ft| task_vector::inspect(&zero_shot, ft)).collect::<Result<Vec<_>>>()?;
    for r in &reports {
        r.check()?;
    }
    if zero_shot.preprocess.is_none() {
        zero_shot.preprocess = fine_tuned.iter().find_map(|f| f.preprocess.clone());
    }
    if recipe.method == Method::WiseFt && recipe.alpha.as_constant().is_some() {
        let pair = ModelPair::new(zero_shot, fine_tuned.into_iter().next())?;
        let point = point_of(recipe, &pair)?;
        return Ok(Loaded { pair, point, reports, dropped: None });
    }
    let labels: Vec<String> = fine_tuned.iter().map(|f| f.name.clone()).collect();
    let depths = Depths::from_names(zero_shot.tensors.keys());
    let mut dropped = None;
    let inputs = match recipe.method {
        Method::WiseFt => Inputs { kind: Kind::FineTuned, labels, sets: vec![task_vector::shared_tensors(&zero_shot, &fine_tuned[0])?], depths },
        Method::TaskArithmetic | Method::Average => {
            // One fine-tune at a time, so that at most one checkpoint and its task vector exist
            // besides the task vectors already made.
            let mut sets = Vec::with_capacity(fine_tuned.len());
            for ft in fine_tuned {
                let mut tau = task_vector::task_vector(&zero_shot, &ft)?;
                drop(ft);
                task_vector::drop_zeros(&mut tau);
                sets.push(tau);
            }
            Inputs { kind: Kind::TaskVectors, labels, sets, depths }
        }
        Method::Ties => {
            // Each fine-tune's task vector untrimmed, and the magnitude its trim cuts at (over all
            // of its entries, zeros included, so before its zero tensors are dropped): the merge
            // trims as it reads, so each vector is held once, as task arithmetic holds it.
            let mut taus = Vec::with_capacity(fine_tuned.len());
            let mut thresholds = Vec::with_capacity(fine_tuned.len());
            for ft in fine_tuned {
                let mut tau = task_vector::task_vector(&zero_shot, &ft)?;
                drop(ft);
                thresholds.push(ties::threshold(&tau, recipe.top_k));
                task_vector::drop_zeros(&mut tau);
                taus.push(tau);
            }
            let merged = ties::merge(&taus, &thresholds);
            // The merged vector last, after the fine-tunes' own (Mix::new weighs them 0).
            let sets = match own {
                OwnVectors::Dropped => vec![merged],
                OwnVectors::KeptWithin(limit) => {
                    let set_bytes = task_vector::set_bytes;
                    let need = zero_shot.float_bytes() + taus.iter().map(set_bytes).sum::<u64>() + set_bytes(&merged);
                    if need <= limit {
                        taus.push(merged);
                        taus
                    } else {
                        dropped = Some(format!(
                            "TIES over {} fine-tunes: their own task vectors are not kept beside the merged one — θ₀ and the {} vectors would take {} MB, over the {} MB they may take here — so no fine-tune is shown on its own",
                            taus.len(),
                            taus.len() + 1,
                            need / 1_000_000,
                            limit / 1_000_000
                        ));
                        vec![merged]
                    }
                }
            };
            Inputs { kind: Kind::Ties { top_k: recipe.top_k }, labels, sets, depths }
        }
    };
    let pair = ModelPair::with_inputs(zero_shot, inputs)?;
    let point = point_of(recipe, &pair)?;
    Ok(Loaded { pair, point, reports, dropped })
}
