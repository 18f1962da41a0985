//! The α sweep of lecture mode: every labelled photo at every α of a list, reusing the scores the
//! session already has, with a progress event and a chance to cancel after each step.

use serde::{Deserialize, Serialize};

use super::events::{Failure, Operation, PhotoId, SessionEvent};
use super::{at, Session, IMAGE_CHUNK};
use crate::clip::head::argmax;
use crate::merge::Alpha;

/// A photo of a sweep with its true label (an index into the session's labels).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct SweepPhoto {
    pub id: PhotoId,
    pub label: usize,
}

/// One photo at one α of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepScore {
    pub image: PhotoId,
    /// The top label.
    pub predicted: String,
    /// Index of the top label.
    pub top: usize,
    /// Probability of the photo's true label.
    pub p_true: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepPoint {
    pub alpha: Alpha,
    pub scores: Vec<SweepScore>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SweepOutcome {
    Done(Vec<SweepPoint>),
    /// Stopped between steps by [`super::Cancel`]; the points finished so far.
    Cancelled(Vec<SweepPoint>),
}

impl Session {
    /// Classifies `photos` at every α of `alphas` (a progress event after each); the engine is
    /// back at the session's α afterwards, and only the scores the page shows are kept.
    pub async fn sweep(&mut self, alphas: &[Alpha], photos: &[SweepPhoto]) -> Result<SweepOutcome, Failure> {
        self.out.cancel.reset();
        let fail = |m: &str| Err(Failure::invalid(Operation::Sweep, m));
        let Some(model) = self.model.as_mut() else { return fail("load the models first") };
        if model.pair.fine_tuned.is_none() {
            return fail("a sweep needs a fine-tuned checkpoint (α has no effect without one)");
        }
        let labels = &self.prompts.labels;
        if labels.is_empty() {
            return fail("no labels");
        }
        if alphas.is_empty() {
            return fail("no α values to sweep");
        }
        let photos: Vec<SweepPhoto> =
            photos.iter().filter(|p| p.label < labels.len() && self.photos.has_pixels(p.id)).copied().collect();
        if photos.is_empty() {
            return fail("no photo with a true label among the current labels");
        }
        let ids: Vec<PhotoId> = photos.iter().map(|p| p.id).collect();
        let n = alphas.len() as u32;
        let mut points = Vec::new();
        let mut result = Ok(());
        for (k, &alpha) in alphas.iter().enumerate() {
            if self.out.cancel.is_set() {
                break;
            }
            let missing = self.scores.missing(alpha, &ids);
            if !missing.is_empty() {
                if let Err(e) = at(model, alpha, &mut self.out) {
                    result = Err(e);
                    break;
                }
                self.out.status(format!("Sweep: α = {alpha} ({} of {n}) …", k + 1));
                for chunk in missing.chunks(IMAGE_CHUNK) {
                    match model.classify(&self.photos.pixels(chunk), labels, &self.prompts.templates).await {
                        Ok(probs) => chunk.iter().zip(probs).for_each(|(id, p)| self.scores.insert(alpha, *id, p)),
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
            let scores = photos
                .iter()
                .filter_map(|p| {
                    let probs = self.scores.get(alpha, p.id)?;
                    let top = argmax(probs);
                    Some(SweepScore { image: p.id, predicted: labels[top].clone(), top, p_true: probs[p.label] })
                })
                .collect();
            points.push(SweepPoint { alpha, scores });
            self.out.emit(SessionEvent::SweepProgress { k: k as u32 + 1, n, alpha });
            (self.out.pause)().await;
        }
        self.scores.keep_only(&[Alpha::ZERO_SHOT, Alpha::FINE_TUNED, self.alpha]);
        let back = self.return_engine().map_err(|f| Failure { during: Operation::Sweep, ..f });
        result?;
        back?;
        Ok(if self.out.cancel.is_set() { SweepOutcome::Cancelled(points) } else { SweepOutcome::Done(points) })
    }
}
