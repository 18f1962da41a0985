//! From a recipe and its checkpoints to a model the engines run: everything that depends only on
//! the checkpoints (task vectors, TIES's trim and elected signs) is computed here, once; the
//! coefficients become a [`Point`] that can change without touching the inputs again.

use std::sync::Arc;

use super::mix::{Inputs, Kind, Mix, Point};
use super::recipe::{Method, Recipe};
use super::schedule::Depths;
use super::task_vector::{self, FineTuneReport, TensorSet};
use super::{ties, Alpha, ModelPair};
use crate::checkpoint::Checkpoint;
use crate::error::{Error, Result};

/// A recipe loaded: the model, where its coefficients put it, and each fine-tune's report.
pub struct Loaded {
    pub pair: ModelPair,
    pub point: Point,
    pub reports: Vec<FineTuneReport>,
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
pub fn load_recipe(recipe: &Recipe, mut zero_shot: Checkpoint, fine_tuned: Vec<Checkpoint>) -> Result<Loaded> {
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
        return Ok(Loaded { pair, point, reports });
    }
    let labels: Vec<String> = fine_tuned.iter().map(|f| f.name.clone()).collect();
    let depths = Depths::from_names(zero_shot.tensors.keys());
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
            let mut taus = Vec::with_capacity(fine_tuned.len());
            for ft in fine_tuned {
                let tau: TensorSet = task_vector::task_vector(&zero_shot, &ft)?;
                drop(ft);
                let mut owned: std::collections::BTreeMap<String, Vec<f32>> = tau.into_iter().map(|(k, v)| (k, v.to_vec())).collect();
                ties::trim(&mut owned, recipe.top_k);
                taus.push(owned);
            }
            Inputs { kind: Kind::Ties { top_k: recipe.top_k }, labels, sets: vec![ties::merge(&taus)], depths }
        }
    };
    let pair = ModelPair::with_inputs(zero_shot, inputs)?;
    let point = point_of(recipe, &pair)?;
    Ok(Loaded { pair, point, reports })
}
