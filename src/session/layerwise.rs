//! The label-free, layer-wise α of lecture mode and `wiseft sweep --layerwise` (issue 13): the
//! per-depth α schedule of [`crate::choose::layerwise`] that minimises the mean entropy on the
//! label-free photos (those without a label, else the shift photos with their labels hidden), run
//! on the session's own two-model pair — a schedule is a per-tensor α of the lerp, so nothing is
//! loaded again — with a progress event after each forward pass and a chance to cancel.

use serde::Serialize;

use super::events::{Failure, Operation, SessionEvent};
use super::sweep_data::{SweepPhoto, SweepSet};
use super::{Pause, Session};
use crate::choose::layerwise::{self, coordinate_descent, EntropyOnPhotos, Objective, Outcome, Search, Step};
use crate::choose::stats::accuracy;
use crate::merge::build::point_of;

/// What the search found, with the schedule's accuracy on the labelled sets.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerwiseResult {
    /// α at each knot, evenly spaced from the embeddings (depth 0) to the last layer (depth 1);
    /// linear in between.
    pub knots: Vec<f64>,
    /// The mean entropy of the merged model on the label-free photos at `knots`.
    pub entropy: f64,
    /// The single α the search started from, and its entropy.
    pub start_alpha: f64,
    pub start_entropy: f64,
    /// Which photos the entropy was measured on.
    pub free_set: SweepSet,
    pub free_photos: usize,
    /// Accuracy of the schedule on the task and shift photos (None where a set has no labelled photo).
    pub task_accuracy: Option<f64>,
    pub shift_accuracy: Option<f64>,
    /// Forward passes over the label-free photos, and the seconds they took.
    pub evaluations: usize,
    pub seconds: f64,
    /// The same search on ViT-B/32 on this engine, estimated from the measured time per pass.
    pub vit_b32_seconds: f64,
}

/// What a layer-wise search ended with.
#[derive(Debug, Clone, PartialEq)]
pub enum LayerwiseOutcome {
    Done(LayerwiseResult),
    Cancelled,
}

/// The objective, with the session's pause before each forward pass (so the worker receives a
/// cancel even when the CPU engine computes without awaiting anything).
struct Paused<'a, O> {
    inner: O,
    pause: &'a Pause,
}

impl<O: Objective> Objective for Paused<'_, O> {
    async fn value(&mut self, knots: &[f64]) -> crate::Result<f64> {
        (self.pause)().await;
        self.inner.value(knots).await
    }
}

impl Session {
    /// Searches a per-depth α schedule minimising the mean entropy on the label-free photos of
    /// `photos`, from all knots at `start` (the single α of lowest entropy, say); then the
    /// schedule's task and shift accuracy. The engine is back at the session's α afterwards.
    /// `now`: a clock in seconds.
    pub async fn layerwise(&mut self, photos: &[SweepPhoto], start: f64, search: &Search, now: &dyn Fn() -> f64) -> Result<LayerwiseOutcome, Failure> {
        self.out.cancel.reset();
        let fail = |m: &str| Err(Failure::invalid(Operation::Layerwise, m));
        if self.recipe.is_some() {
            return fail("the layer-wise search runs over a two-model WiSE-FT merge; this model was loaded from a recipe");
        }
        let Some(model) = self.model.as_mut() else { return fail("load the models first") };
        if model.pair.fine_tuned.is_none() {
            return fail("a layer-wise search needs a fine-tuned checkpoint (α has no effect without one)");
        }
        search.check().map_err(|e| Failure::new(Operation::Layerwise, e))?;
        let labels = &self.prompts.labels;
        let usable: Vec<SweepPhoto> =
            photos.iter().filter(|p| p.label.is_none_or(|l| l < labels.len()) && self.photos.has_pixels(p.id)).cloned().collect();
        let in_set = |set: SweepSet| -> Vec<SweepPhoto> { usable.iter().filter(|p| p.counted_in() == set).cloned().collect() };
        let free_set = if in_set(SweepSet::Unlabeled).is_empty() { SweepSet::Shift } else { SweepSet::Unlabeled };
        // The shift photos' labels are hidden: only their pixels are read.
        let free: Vec<_> = usable.iter().filter(|p| p.counted_in() == free_set).map(|p| p.id).collect();
        if free.is_empty() {
            return fail("no label-free photos: add photos without a label, or shift photos (their labels are hidden from the search)");
        }
        let images = self.photos.pixels(&free);

        let vit_b32_per_second = layerwise::estimate_vit_b32_seconds(&model.pair, 1.0, search);
        let templates = &self.prompts.templates;
        let objective = EntropyOnPhotos::new(model, &images, labels, templates).map_err(|e| Failure::new(Operation::Layerwise, e))?;
        let mut paused = Paused { inner: objective, pause: &self.out.pause };
        let (emit, cancel) = (&mut self.out.emit, &self.out.cancel);
        let outcome = coordinate_descent(&mut paused, start, search, now, |p| {
            emit(SessionEvent::LayerwiseProgress {
                done: p.done as u32,
                most: p.most as u32,
                photos: images.len() as u32,
                best: p.best,
                estimate_s: p.seconds_each * p.most as f64,
                vit_b32_s: p.seconds_each * vit_b32_per_second,
            });
            if cancel.is_set() {
                Step::Cancel
            } else {
                Step::Continue
            }
        })
        .await;
        drop(paused);
        let found = match outcome {
            Ok(Outcome::Done(found)) => found,
            Ok(Outcome::Cancelled) => {
                self.return_engine().map_err(|f| Failure { during: Operation::Layerwise, ..f })?;
                return Ok(LayerwiseOutcome::Cancelled);
            }
            Err(e) => {
                self.return_engine().map_err(|f| Failure { during: Operation::Layerwise, ..f })?;
                return Err(Failure::new(Operation::Layerwise, e));
            }
        };

        // The schedule's accuracy where the labels exist.
        let model = self.model.as_mut().expect("checked above");
        let labelled = |set: SweepSet| -> Vec<SweepPhoto> { in_set(set).into_iter().filter(|p| p.truth().is_some()).collect() };
        let (task, shift) = (labelled(SweepSet::Task), labelled(SweepSet::Shift));
        let measured = async {
            let point = point_of(&layerwise::recipe(&found.knots), &model.pair)?;
            model.set_point(point)?;
            let mut acc = Vec::new();
            for set in [&task, &shift] {
                if set.is_empty() {
                    acc.push(None);
                    continue;
                }
                let ids: Vec<_> = set.iter().map(|p| p.id).collect();
                let probs = model.classify(&self.photos.pixels(&ids), labels, templates).await?;
                let probs: Vec<Vec<f64>> = probs.iter().map(|p| p.iter().map(|&x| f64::from(x)).collect()).collect();
                let truth: Vec<usize> = set.iter().map(|p| p.truth().expect("labelled")).collect();
                acc.push(Some(accuracy(&probs, &truth)));
            }
            crate::Result::Ok(acc)
        }
        .await;
        self.return_engine().map_err(|f| Failure { during: Operation::Layerwise, ..f })?;
        let acc = measured.map_err(|e| Failure::new(Operation::Layerwise, e))?;
        let evaluations = found.evaluations.len();
        Ok(LayerwiseOutcome::Done(LayerwiseResult {
            entropy: found.value,
            start_alpha: start,
            start_entropy: found.start.value,
            free_set,
            free_photos: free.len(),
            task_accuracy: acc[0],
            shift_accuracy: acc[1],
            evaluations,
            vit_b32_seconds: vit_b32_per_second * found.seconds / evaluations as f64,
            seconds: found.seconds,
            knots: found.knots,
        }))
    }
}
