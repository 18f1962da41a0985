//! The α sweep of lecture mode: every photo of the sweep at every α of a list, reusing the scores
//! the session already has, with a progress event and a chance to cancel after each step. A
//! finished sweep comes with the α rules ([`crate::choose`]), the accuracy curves of its sets and
//! named sets, and its CSV, so that the page and the CLI show the same numbers from the same code. A session over a recipe sweeps the recipe's main
//! coefficient the same way (λ of task arithmetic and TIES, α of a wise-ft schedule), flat over
//! depth and tensor families.


use super::events::{Failure, Operation, PhotoId, SessionEvent};
use super::sweep_data::{SweepOutcome, SweepPhoto, SweepPoint, SweepResult, SweepScore};
use super::table;
use super::target::Target;
use super::{at, Session, IMAGE_CHUNK};
use crate::clip::head::argmax;
use crate::merge::recipe::{Method, Recipe};
use crate::merge::schedule::Coefficient;
use crate::merge::Alpha;

/// The symbol of the coefficient a sweep moves for `method`; None for an average, which has none.
fn main_coefficient(method: Method) -> Option<&'static str> {
    match method {
        Method::WiseFt => Some("α"),
        Method::TaskArithmetic | Method::Ties => Some("λ"),
        Method::Average => None,
    }
}

/// `recipe` with its main coefficient at `v`, flat over depth and families.
pub(super) fn at_main(recipe: &Recipe, v: f64) -> Recipe {
    let mut r = recipe.clone();
    match r.method {
        Method::WiseFt => r.alpha = Coefficient::constant(v),
        Method::TaskArithmetic | Method::Ties => r.lambda = Coefficient::constant(v),
        Method::Average => {}
    }
    r
}


impl Session {
    /// Classifies `photos` at every α of `alphas` (a progress event after each); the engine is
    /// back at the session's α afterwards, and only the scores the page shows are kept.
    pub async fn sweep(&mut self, alphas: &[Alpha], photos: &[SweepPhoto]) -> Result<SweepOutcome, Failure> {
        self.out.cancel.reset();
        let fail = |m: &str| Err(Failure::invalid(Operation::Sweep, m));
        let Some(model) = self.model.as_mut() else { return fail("load the models first") };
        if model.pair.fine_tuned.is_none() && model.pair.inputs.is_none() {
            return fail("a sweep needs a fine-tuned checkpoint (α has no effect without one)");
        }
        // Where each swept value puts the engine: α of the two-model merge, or the recipe with
        // its main coefficient there.
        let (coefficient, targets) = match (&self.recipe, &model.pair.inputs) {
            (Some(r), Some(inputs)) => {
                let Some(symbol) = main_coefficient(r.method) else {
                    return fail("an average of fine-tunes has no coefficient to sweep (choose task arithmetic or TIES to sweep λ)");
                };
                let targets = alphas
                    .iter()
                    .map(|v| Target::recipe(&at_main(r, v.get()), inputs))
                    .collect::<crate::Result<Vec<_>>>()
                    .map_err(|e| Failure::new(Operation::Sweep, e))?;
                (symbol, targets)
            }
            _ => ("α", alphas.iter().map(|&v| Target::alpha(v)).collect()),
        };
        let labels = &self.prompts.labels;
        if labels.is_empty() {
            return fail("no labels");
        }
        if alphas.is_empty() {
            return fail("no α values to sweep");
        }
        // A label outside the current labels (they changed since the page sent it) drops the photo.
        let photos: Vec<SweepPhoto> = photos
            .iter()
            .filter(|p| p.label.is_none_or(|l| l < labels.len()) && self.photos.has_pixels(p.id))
            .cloned()
            .collect();
        if photos.is_empty() {
            return fail("no photo to sweep (photos with a true label among the current labels, or unlabeled ones)");
        }
        let ids: Vec<PhotoId> = photos.iter().map(|p| p.id).collect();
        let n = alphas.len() as u32;
        let mut points = Vec::new();
        // probs[k][i]: photo i at the k-th α, for the rules (the score cache keeps only three α).
        let mut probs: Vec<Vec<Vec<f32>>> = Vec::new();
        let mut result = Ok(());
        for (k, (&alpha, target)) in alphas.iter().zip(&targets).enumerate() {
            if self.out.cancel.is_set() {
                break;
            }
            let missing = self.scores.missing(&target.spot, &ids);
            if !missing.is_empty() {
                if let Err(e) = at(model, target, &mut self.out) {
                    result = Err(e);
                    break;
                }
                self.out.status(format!("Sweep: {coefficient} = {alpha} ({} of {n}) …", k + 1));
                for chunk in missing.chunks(IMAGE_CHUNK) {
                    match model.classify(&self.photos.pixels(chunk), labels, &self.prompts.templates).await {
                        Ok(probs) => chunk.iter().zip(probs).for_each(|(id, p)| self.scores.insert(&target.spot, *id, p)),
                        Err(e) => {
                            result = Err(Failure::new(Operation::Sweep, e));
                            break;
                        }
                    }
                }
                if result.is_err() {
                    break;
                }
            }
            let step: Vec<Vec<f32>> = photos.iter().filter_map(|p| self.scores.get(&target.spot, p.id).cloned()).collect();
            let scores = photos
                .iter()
                .zip(&step)
                .map(|(p, probs)| {
                    let top = argmax(probs);
                    SweepScore { image: p.id, predicted: labels[top].clone(), top, p_true: p.truth().map(|l| probs[l]) }
                })
                .collect();
            probs.push(step);
            points.push(SweepPoint { alpha, scores });
            self.out.emit(SessionEvent::SweepProgress { k: k as u32 + 1, n, coefficient, alpha });
            (self.out.pause)().await;
        }
        // Only the scores the page shows are kept (the columns' points).
        let shown: Vec<_> = self.model.as_ref().and_then(|m| self.targets(m, false).ok()).unwrap_or_default().into_iter().map(|(t, _)| t.spot).collect();
        self.scores.keep_only(&shown);
        let back = self.return_engine().map_err(|f| Failure { during: Operation::Sweep, ..f });
        result?;
        back?;
        if self.out.cancel.is_set() {
            return Ok(SweepOutcome::Cancelled(points));
        }
        let rules = crate::choose::choose(&table::rules_input(alphas, &photos, &probs)).map(|r| r.worded_for(coefficient)).map_err(|e| e.to_string().replace('α', coefficient));
        let names: Vec<&str> = photos.iter().map(|p| self.photos.name(p.id).unwrap_or("")).collect();
        let curves = table::curves(&photos, &points);
        let csv = table::csv(&self.prompts.labels, &photos, &names, &points, &curves, rules.as_ref().ok());
        Ok(SweepOutcome::Done(SweepResult { coefficient, points, curves, rules, csv }))
    }
}
