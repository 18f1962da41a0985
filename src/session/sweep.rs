//! The α sweep of lecture mode: every photo of the sweep at every α of a list, reusing the scores
//! the session already has, with a progress event and a chance to cancel after each step. A
//! finished sweep comes with the α rules ([`crate::choose`]) and its CSV, so that the page and the
//! CLI show the same numbers from the same code.

use serde::{Deserialize, Serialize};

use super::events::{Failure, Operation, PhotoId, SessionEvent};
use super::table;
use super::{at, Session, IMAGE_CHUNK};
use crate::choose::Rules;
use crate::clip::head::argmax;
use crate::merge::Alpha;

/// The set a photo of a sweep counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SweepSet {
    /// The fine-tuning task (in-distribution, labelled).
    #[default]
    Task,
    /// Everything else: the distribution shift, labelled or not.
    Shift,
    /// Photos without a true label (only the label-free rules read them).
    Unlabeled,
}

impl SweepSet {
    pub const ALL: [SweepSet; 3] = [SweepSet::Task, SweepSet::Shift, SweepSet::Unlabeled];

    /// As the page and the CSV name it.
    pub fn name(self) -> &'static str {
        match self {
            SweepSet::Task => "fine-tuning task",
            SweepSet::Shift => "everything else",
            SweepSet::Unlabeled => "without a label",
        }
    }
}

/// A photo of a sweep: its true label (an index into the session's labels) when it has one, and
/// its set. A photo without a label counts as unlabeled whatever its set says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct SweepPhoto {
    pub id: PhotoId,
    #[serde(default)]
    pub label: Option<usize>,
    #[serde(default)]
    pub set: SweepSet,
}

impl SweepPhoto {
    pub fn new(id: PhotoId, label: Option<usize>, set: SweepSet) -> Self {
        Self { id, label, set }
    }

    /// The set it counts in.
    pub fn counted_in(&self) -> SweepSet {
        if self.label.is_none() {
            SweepSet::Unlabeled
        } else {
            self.set
        }
    }

    /// Its label, unless it counts as unlabeled.
    pub fn truth(&self) -> Option<usize> {
        self.label.filter(|_| self.counted_in() != SweepSet::Unlabeled)
    }
}

/// One photo at one α of a sweep.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepScore {
    pub image: PhotoId,
    /// The top label.
    pub predicted: String,
    /// Index of the top label.
    pub top: usize,
    /// Probability of the photo's true label (`None` for an unlabeled photo).
    pub p_true: Option<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepPoint {
    pub alpha: Alpha,
    pub scores: Vec<SweepScore>,
}

/// A finished sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepResult {
    pub points: Vec<SweepPoint>,
    /// What each α rule picks, or why the rules cannot run on these photos.
    pub rules: Result<Rules, String>,
    /// The sweep as CSV (the page's export, `wiseft sweep --csv`).
    pub csv: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SweepOutcome {
    Done(SweepResult),
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
        // A label outside the current labels (they changed since the page sent it) drops the photo.
        let photos: Vec<SweepPhoto> = photos
            .iter()
            .filter(|p| p.label.is_none_or(|l| l < labels.len()) && self.photos.has_pixels(p.id))
            .copied()
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
            let step: Vec<Vec<f32>> = photos.iter().filter_map(|p| self.scores.get(alpha, p.id).cloned()).collect();
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
            self.out.emit(SessionEvent::SweepProgress { k: k as u32 + 1, n, alpha });
            (self.out.pause)().await;
        }
        self.scores.keep_only(&[Alpha::ZERO_SHOT, Alpha::FINE_TUNED, self.alpha]);
        let back = self.return_engine().map_err(|f| Failure { during: Operation::Sweep, ..f });
        result?;
        back?;
        if self.out.cancel.is_set() {
            return Ok(SweepOutcome::Cancelled(points));
        }
        let rules = crate::choose::choose(&table::rules_input(alphas, &photos, &probs)).map_err(|e| e.to_string());
        let names: Vec<&str> = photos.iter().map(|p| self.photos.name(p.id).unwrap_or("")).collect();
        let csv = table::csv(&self.prompts.labels, &photos, &names, &points, rules.as_ref().ok());
        Ok(SweepOutcome::Done(SweepResult { points, rules, csv }))
    }
}
