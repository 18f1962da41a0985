//! Probabilities already computed, per α and per photo, for the current model, labels and
//! templates: the three columns at 0, 1 and the session's α are computed once per photo and
//! reused; a sweep reuses (and briefly extends) them.

use std::collections::HashMap;

use super::events::PhotoId;
use crate::merge::Alpha;

#[derive(Default)]
pub struct Scores {
    by_alpha: HashMap<u64, HashMap<PhotoId, Vec<f32>>>,
}

impl Scores {
    pub fn get(&self, alpha: Alpha, id: PhotoId) -> Option<&Vec<f32>> {
        self.by_alpha.get(&alpha.key())?.get(&id)
    }

    pub fn has(&self, alpha: Alpha, id: PhotoId) -> bool {
        self.get(alpha, id).is_some()
    }

    pub fn insert(&mut self, alpha: Alpha, id: PhotoId, probs: Vec<f32>) {
        self.by_alpha.entry(alpha.key()).or_default().insert(id, probs);
    }

    /// Of `ids`, those without scores at `alpha`.
    pub fn missing(&self, alpha: Alpha, ids: &[PhotoId]) -> Vec<PhotoId> {
        ids.iter().copied().filter(|&id| !self.has(alpha, id)).collect()
    }

    /// Keeps only the scores at these α values (the ones the page shows), so that memory does not
    /// grow with sweeps and slider moves.
    pub fn keep_only(&mut self, alphas: &[Alpha]) {
        self.by_alpha.retain(|key, _| alphas.iter().any(|a| a.key() == *key));
    }

    /// Forgets the scores of photos that are gone.
    pub fn retain_photos(&mut self, alive: &[PhotoId]) {
        for per_alpha in self.by_alpha.values_mut() {
            per_alpha.retain(|id, _| alive.contains(id));
        }
    }

    pub fn clear(&mut self) {
        self.by_alpha.clear();
    }
}
