//! The session's photos: their bytes (kept, so a new model can preprocess them again) and their
//! pixels for the loaded model.

use super::events::PhotoId;
use crate::clip::preprocess::{self, PreprocessConfig};

pub struct Photo {
    pub id: PhotoId,
    pub name: String,
    pub bytes: Vec<u8>,
    /// Preprocessed for the loaded model; `None` before a model is loaded or when it failed.
    pub pixels: Option<Vec<f32>>,
}

#[derive(Default)]
pub struct Photos {
    list: Vec<Photo>,
}

impl Photos {
    /// Adds a photo (replacing one with the same id), preprocessed with `prep` when a model is
    /// loaded; the error says why it cannot be used.
    pub fn add(&mut self, id: PhotoId, name: String, bytes: Vec<u8>, prep: Option<&PreprocessConfig>) -> Option<String> {
        let mut photo = Photo { id, name, bytes, pixels: None };
        let error = prep.and_then(|p| prepare(&mut photo, p));
        self.list.retain(|p| p.id != id);
        self.list.push(photo);
        error
    }

    /// Removes one photo, or all of them.
    pub fn remove(&mut self, id: Option<PhotoId>) {
        match id {
            Some(id) => self.list.retain(|p| p.id != id),
            None => self.list.clear(),
        }
    }

    /// Drops every photo's pixels (the model they were made for is gone).
    pub fn forget_pixels(&mut self) {
        for p in &mut self.list {
            p.pixels = None;
        }
    }

    /// Preprocesses every photo for a new model; the ones that cannot be used, with why.
    pub fn prepare_all(&mut self, prep: &PreprocessConfig) -> Vec<(PhotoId, String)> {
        self.list.iter_mut().filter_map(|p| prepare(p, prep).map(|e| (p.id, e))).collect()
    }

    /// How many photos and file bytes are kept besides the one with `id` (which an add replaces).
    pub fn held_without(&self, id: PhotoId) -> (usize, u64) {
        let others = self.list.iter().filter(|p| p.id != id);
        others.fold((0, 0), |(n, b), p| (n + 1, b + p.bytes.len() as u64))
    }

    pub fn ids(&self) -> Vec<PhotoId> {
        self.list.iter().map(|p| p.id).collect()
    }

    /// The photos that have pixels, among `ids` (all when `None`), in the order they were added.
    pub fn ready(&self, ids: Option<&[PhotoId]>) -> Vec<PhotoId> {
        self.list.iter().filter(|p| p.pixels.is_some() && ids.is_none_or(|ids| ids.contains(&p.id))).map(|p| p.id).collect()
    }

    pub fn has_pixels(&self, id: PhotoId) -> bool {
        self.list.iter().any(|p| p.id == id && p.pixels.is_some())
    }

    /// The pixels of `ids`, in that order (callers pass photos that have them, so results zip back
    /// onto `ids`).
    pub fn pixels(&self, ids: &[PhotoId]) -> Vec<Vec<f32>> {
        ids.iter().filter_map(|id| self.list.iter().find(|p| p.id == *id).and_then(|p| p.pixels.clone())).collect()
    }

    /// The name the page gave the photo.
    pub fn name(&self, id: PhotoId) -> Option<&str> {
        self.list.iter().find(|p| p.id == id).map(|p| p.name.as_str())
    }
}

fn prepare(photo: &mut Photo, prep: &PreprocessConfig) -> Option<String> {
    match preprocess::preprocess(&photo.bytes, &photo.name, prep) {
        Ok(p) => {
            photo.pixels = Some(p);
            None
        }
        Err(e) => {
            photo.pixels = None;
            Some(e.to_string())
        }
    }
}
