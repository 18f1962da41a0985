//! Probabilities already computed, per merge point and per photo, for the current model, labels
//! and templates: the columns (zero-shot, merged, fine-tuned) are computed once per photo and
//! reused; a sweep reuses (and briefly extends) them.

use std::collections::HashMap;

use super::events::PhotoId;
use crate::merge::Alpha;

/// The key scores are stored under: an α of the two-model merge, or a recipe's coefficients
/// written out ([`super::target::Target`] makes them), so that equal settings share their scores.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Spot {
    Alpha(u64),
    Recipe(String),
}

impl From<Alpha> for Spot {
    fn from(a: Alpha) -> Self {
        Spot::Alpha(a.key())
    }
}

impl From<&Spot> for Spot {
    fn from(s: &Spot) -> Self {
        s.clone()
    }
}

#[derive(Default)]
pub struct Scores {
    by_spot: HashMap<Spot, HashMap<PhotoId, Vec<f32>>>,
}

impl Scores {
    pub fn get(&self, spot: impl Into<Spot>, id: PhotoId) -> Option<&Vec<f32>> {
        self.by_spot.get(&spot.into())?.get(&id)
    }

    pub fn has(&self, spot: impl Into<Spot>, id: PhotoId) -> bool {
        self.get(spot, id).is_some()
    }

    pub fn insert(&mut self, spot: impl Into<Spot>, id: PhotoId, probs: Vec<f32>) {
        self.by_spot.entry(spot.into()).or_default().insert(id, probs);
    }

    /// Of `ids`, those without scores at `spot`.
    pub fn missing(&self, spot: impl Into<Spot>, ids: &[PhotoId]) -> Vec<PhotoId> {
        let spot = spot.into();
        ids.iter().copied().filter(|&id| !self.has(&spot, id)).collect()
    }

    /// Keeps only the scores at these points (the ones the page shows), so that memory does not
    /// grow with sweeps and slider moves.
    pub fn keep_only(&mut self, spots: &[Spot]) {
        self.by_spot.retain(|key, _| spots.contains(key));
    }

    /// Forgets the scores of photos that are gone.
    pub fn retain_photos(&mut self, alive: &[PhotoId]) {
        for per_spot in self.by_spot.values_mut() {
            per_spot.retain(|id, _| alive.contains(id));
        }
    }

    pub fn clear(&mut self) {
        self.by_spot.clear();
    }
}
