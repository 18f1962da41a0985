//! Where the engine goes to compute a column: an α of the two-model merge, or a point of the
//! loaded recipe (its coefficients, or θ₀ itself) — with the key its scores are kept under and
//! how the column is described to the person.

use std::sync::Arc;

use super::scores::Spot;
use crate::error::Result;
use crate::merge::recipe::{Method, Recipe};
use crate::merge::mix::Kind;
use crate::merge::{Alpha, Inputs, Mix, Point};

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub point: Point,
    pub spot: Spot,
    /// The α, for a point of the two-model merge.
    pub alpha: Option<Alpha>,
    /// The recipe's setting in words ("task arithmetic, λ = 0.3"), for a recipe's merged point.
    pub setting: Option<String>,
}

impl Target {
    pub fn alpha(alpha: Alpha) -> Self {
        Self { point: Point::Alpha(alpha), spot: alpha.into(), alpha: Some(alpha), setting: None }
    }

    /// The merged model of `recipe` over the loaded `inputs` (an error when the inputs were made
    /// for another method or TIES k: those need the checkpoints merged again).
    pub fn recipe(recipe: &Recipe, inputs: &Inputs) -> Result<Self> {
        let mix = Mix::new(recipe, inputs)?;
        Ok(Self { point: Point::Mix(Arc::new(mix)), spot: Spot::Recipe(coefficients(recipe).to_string()), alpha: None, setting: Some(describe(recipe)) })
    }

    /// θ₀ itself over a recipe's inputs: weight 1 on θ₀ and 0 on every input, which the combine
    /// computes as θ₀ exactly (1·x + 0·v = x), so the column is the zero-shot model's.
    pub fn recipe_zero_shot(inputs: &Inputs) -> Self {
        Self { point: one_input(inputs, 1.0, None), spot: Spot::Recipe("zero-shot".into()), alpha: Some(Alpha::ZERO_SHOT), setting: None }
    }

    /// Fine-tune `i` on its own over a recipe's inputs: θ₀ + 1·τᵢ from task vectors (θᵢ up to the
    /// rounding of τᵢ) — TIES's too, when its inputs kept the fine-tunes' own untrimmed vectors
    /// beside the merged one —, 0·θ₀ + 1·θ₁ from wise-ft's inputs. `None` for TIES loaded without
    /// them ([`crate::merge::OwnVectors`]), and past the last fine-tune. Its scores do not depend
    /// on the coefficients, so a slider move never recomputes them.
    pub fn recipe_fine_tune(inputs: &Inputs, i: usize) -> Option<Self> {
        let w0 = match inputs.kind {
            Kind::TaskVectors | Kind::Ties { .. } => 1.0,
            Kind::FineTuned => 0.0,
        };
        if i >= inputs.own() {
            return None;
        }
        let setting = inputs.labels.get(i).cloned().unwrap_or_else(|| format!("fine-tune {}", i + 1));
        Some(Self { point: one_input(inputs, w0, Some(i)), spot: Spot::Recipe(format!("fine-tune {i}")), alpha: None, setting: Some(setting) })
    }
}

/// The point w₀·θ₀ + 1·vᵢ over a recipe's inputs, every other input at weight 0 (`input` None: all
/// of them; TIES's merged vector too), for each tensor the inputs have. The combine does not read
/// the inputs at 0, so the point costs one pass over θ₀ and vᵢ.
fn one_input(inputs: &Inputs, w0: f32, input: Option<usize>) -> Point {
    let n = inputs.sets.len();
    let weights = inputs
        .sets
        .iter()
        .flat_map(|s| s.keys())
        .map(|name| (name.clone(), std::iter::once(w0).chain((0..n).map(|j| if Some(j) == input { 1.0 } else { 0.0 })).collect()))
        .collect();
    Point::Mix(Arc::new(Mix { weights }))
}

/// The recipe's method and coefficients as JSON, without the checkpoints (as the page sends and
/// keeps them; written out, the key of the recipe's scores: equal settings, equal key).
pub fn coefficients(recipe: &Recipe) -> serde_json::Value {
    let mut v = recipe.to_value();
    if let Some(m) = v.as_object_mut() {
        m.remove("zero_shot");
        m.remove("fine_tuned");
    }
    v
}

/// "task arithmetic, λ = 0.3", "TIES, λ = 0.3, k = 20 %", "average".
pub fn describe(recipe: &Recipe) -> String {
    match recipe.method {
        Method::WiseFt => format!("WiSE-FT, α = {}", recipe.alpha.to_json()),
        Method::TaskArithmetic => format!("task arithmetic, λ = {}", recipe.lambda.to_json()),
        Method::Average => match &recipe.weights {
            Some(w) => format!("average, weights {}", serde_json::Value::from(w.clone())),
            None => "average".into(),
        },
        Method::Ties => format!("TIES, λ = {}, k = {} %", recipe.lambda.to_json(), recipe.top_k),
    }
}
