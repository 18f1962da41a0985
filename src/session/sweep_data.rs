//! What a sweep takes and gives: the photos with their sets, labels and named sets, one score per
//! photo and α, the points, the accuracy curves, the result with its rules and CSV. Apart from [`super::sweep`] (which runs a
//! sweep) and [`super::table`] (which turns one into rules and CSV), so that both read them.

use serde::{Deserialize, Serialize};

use super::events::PhotoId;
use crate::choose::Rules;
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

/// A photo of a sweep: its true label (an index into the session's labels) when it has one, its
/// set, and the named set it belongs to within that set, if any (one task of several: a folder
/// laid out `<name>/<label>/…`), which gets its own accuracy curve. A photo without a label counts
/// as unlabeled whatever its set says.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SweepPhoto {
    pub id: PhotoId,
    #[serde(default)]
    pub label: Option<usize>,
    #[serde(default)]
    pub set: SweepSet,
    /// The named set's name (the page's `group`).
    #[serde(default)]
    pub group: Option<String>,
}

impl SweepPhoto {
    pub fn new(id: PhotoId, label: Option<usize>, set: SweepSet) -> Self {
        Self { id, label, set, group: None }
    }

    /// The same photo in the named set `name` (within its set).
    pub fn in_group(self, name: impl Into<String>) -> Self {
        Self { group: Some(name.into()), ..self }
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

/// One labelled set's accuracy at one value of the swept coefficient.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct AccuracyPoint {
    pub alpha: Alpha,
    pub correct: usize,
    pub n: usize,
    /// `correct / n`.
    pub accuracy: f64,
}

/// The accuracy of a labelled set along a sweep (task or shift), or of a named set within one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Curve {
    /// [`SweepSet::Task`] or [`SweepSet::Shift`].
    pub set: SweepSet,
    /// The named set; `None` for the whole set.
    pub name: Option<String>,
    /// How the page's legend and the CLI call it: the set's name for a whole set; a named set's
    /// name, followed by its set's in brackets where the same name is in both sets.
    pub label: String,
    /// One per swept value, in the sweep's order.
    pub points: Vec<AccuracyPoint>,
    /// The highest accuracy along the curve.
    pub top: f64,
    /// The swept values that reach it, in the sweep's order (ties are all listed).
    pub best: Vec<Alpha>,
}

/// A finished sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct SweepResult {
    /// What was swept: `α` (the two-model merge, or a wise-ft recipe's α) or `λ` (a task
    /// arithmetic or TIES recipe's); the points' `alpha` holds its values.
    pub coefficient: &'static str,
    pub points: Vec<SweepPoint>,
    /// The task set's curve, the shift set's (each when it has labelled photos), then one per named
    /// set in the order its first photo was swept ([`super::table::curves`]).
    pub curves: Vec<Curve>,
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
