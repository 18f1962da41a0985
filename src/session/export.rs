//! The merged checkpoint at some α or at a recipe, as `wiseft merge` writes it (the page's "download merged"),
//! and what every merged file says of itself: the one place where the CLI and the page turn
//! merged tensors into bytes, so that both write the same provenance and the same config.json.

use std::collections::BTreeMap;

use super::events::{Failure, Operation};
use super::Session;
use crate::checkpoint::openclip::hf_preprocessor_json;
use crate::checkpoint::provenance::{OutputDtype, Provenance, SourceRecord};
use crate::checkpoint::{safetensors, Checkpoint, HostTensor};
use crate::clip::preprocess::PreprocessConfig;
use crate::merge::recipe::{Method, Recipe};
use crate::merge::schedule::Coefficient;
use crate::merge::{Alpha, ModelPair};

/// A merged checkpoint's bytes (safetensors) and the config.json to put beside them.
pub struct MergedFile {
    pub bytes: Vec<u8>,
    pub config_json: String,
    /// A recipe's method and coefficients in words (None: the two-model merge at the α asked for).
    pub setting: Option<String>,
}

/// The provenance of a merge by `recipe` of `sources`, written as `dtype`: the recipe's method
/// and coefficients only, since its checkpoints are the sources (recorded with their SHA-256,
/// and named as the person gave them, which the recipe may not do).
pub fn provenance(recipe: &Recipe, sources: Vec<SourceRecord>, dtype: OutputDtype) -> Provenance {
    let mut value = recipe.to_value();
    if let Some(fields) = value.as_object_mut() {
        fields.remove("zero_shot");
        fields.remove("fine_tuned");
    }
    Provenance::new(value, sources, dtype)
}

/// The WiSE-FT recipe of a two-model merge at `alpha` (what the page and `merge --alpha` do).
pub fn wise_ft(alpha: Alpha) -> Recipe {
    let mut r = Recipe::new(Method::WiseFt);
    r.alpha = Coefficient::constant(alpha.get());
    r
}

/// The merged tensors as safetensors, their floats as the provenance's dtype, the provenance in
/// the header's `__metadata__`.
pub fn merged_bytes(merged: &BTreeMap<String, HostTensor>, provenance: &Provenance) -> crate::error::Result<Vec<u8>> {
    safetensors::write_as(merged.iter().map(|(n, t)| (n.as_str(), t)), provenance.dtype, &provenance.to_metadata())
}

/// The config.json of a merge: the zero-shot model's (its own text, or the inferred configuration
/// written out), saying `dtype` where transformers reads the element type, so that
/// `from_pretrained` with `dtype="auto"` loads the weights as they were written.
pub fn merged_config_json(zero_shot: &Checkpoint, dtype: OutputDtype) -> String {
    let text = zero_shot
        .config_json
        .clone()
        .unwrap_or_else(|| serde_json::to_string_pretty(&zero_shot.config.to_hf_json()).unwrap_or_default());
    let Ok(serde_json::Value::Object(mut config)) = serde_json::from_str::<serde_json::Value>(&text) else {
        return text;
    };
    let name = serde_json::Value::from(dtype.torch_name());
    // transformers 5 writes `dtype`, earlier versions `torch_dtype` (5 still reads it): set the
    // one the file has, else the older name, which both read.
    let keys: Vec<&str> = ["dtype", "torch_dtype"].into_iter().filter(|k| config.contains_key(*k)).collect();
    let keys = if keys.is_empty() { vec!["torch_dtype"] } else { keys };
    if keys.iter().all(|k| config.get(*k) == Some(&name)) {
        // Already right: the zero-shot model's file as it is.
        return text;
    }
    for k in keys {
        config.insert(k.to_string(), name.clone());
    }
    serde_json::to_string_pretty(&serde_json::Value::Object(config)).unwrap_or(text)
}

/// The preprocessor_config.json of a merge: the zero-shot model's, else the preprocessing the
/// engine uses for it written out (OpenCLIP's `preprocess_cfg` is already turned into one on load;
/// without any, CLIP's default at the model's image size).
pub fn merged_preprocessor_json(zero_shot: &Checkpoint) -> String {
    zero_shot.preprocessor_json.clone().unwrap_or_else(|| {
        let image_size = zero_shot.config.vision.as_ref().map_or(224, |v| v.image_size) as u32;
        let p = zero_shot.preprocess.clone().unwrap_or_else(|| PreprocessConfig::clip_default(image_size));
        hf_preprocessor_json(&p)
    })
}

impl Session {
    /// Whether the export needs both checkpoints read again (their weights went to the GPU as they
    /// downloaded and are not on the host); an error when there is nothing to export. A recipe's
    /// checkpoints stay on the host (its merge inputs are computed there).
    pub fn export_needs_reread(&self) -> Result<bool, Failure> {
        let pair = self.export_pair()?;
        if self.recipe.is_some() {
            return Ok(false);
        }
        let on_host = |c: &Checkpoint| c.tensors.values().all(|t| t.on_host());
        Ok(!(on_host(&pair.zero_shot) && pair.fine_tuned.as_ref().is_some_and(on_host)))
    }

    /// The loaded pair, when it has a fine-tune to merge (or a recipe's merge inputs).
    fn export_pair(&self) -> Result<&ModelPair, Failure> {
        let model = self.model.as_ref().ok_or_else(|| Failure::invalid(Operation::Export, "load the models first"))?;
        if model.pair.fine_tuned.is_none() && model.pair.inputs.is_none() {
            return Err(Failure::invalid(Operation::Export, "no fine-tuned checkpoint is loaded: there is nothing to merge"));
        }
        Ok(&model.pair)
    }

    /// The names of the loaded weights files — the zero-shot one, then each fine-tune in order —
    /// the URLs they came from or the local files' names, as a merged file's provenance records them.
    pub fn export_sources(&self) -> Result<Vec<String>, Failure> {
        let pair = self.export_pair()?;
        let fine_tunes = match (&pair.inputs, &pair.fine_tuned) {
            (Some(inputs), _) => inputs.labels.clone(),
            (None, Some(ft)) => vec![ft.name.clone()],
            (None, None) => unreachable!("checked by export_pair"),
        };
        Ok(std::iter::once(pair.zero_shot.name.clone()).chain(fine_tunes).collect())
    }

    /// The merged checkpoint — at `alpha` for a two-model pair, at the session's recipe for a model
    /// loaded from one — from the loaded checkpoints or, when a pair's weights are on the GPU, from
    /// `reread` (the same two files read again); its floats written as `dtype`, its provenance the
    /// recipe and `sources` (zero-shot, then each fine-tune, as [`Session::export_sources`] names them).
    pub fn export(
        &self,
        alpha: Alpha,
        reread: Option<&(Checkpoint, Checkpoint)>,
        sources: Vec<SourceRecord>,
        dtype: OutputDtype,
    ) -> Result<MergedFile, Failure> {
        let fail = |e| Failure::new(Operation::Export, e);
        let needs = self.export_needs_reread()?;
        let pair = self.export_pair()?;
        if let (Some(recipe), Some(model)) = (&self.recipe, &self.model) {
            // Every call leaves the engine at the session's recipe: its point is the one to write.
            let provenance = provenance(recipe, sources, dtype);
            let bytes = pair.merge_at(model.point()).and_then(|merged| merged_bytes(&merged, &provenance)).map_err(fail)?;
            return Ok(MergedFile { bytes, config_json: merged_config_json(&pair.zero_shot, dtype), setting: Some(super::describe(recipe)) });
        }
        let (zs, ft) = match (needs, reread) {
            (false, _) => (&pair.zero_shot, pair.fine_tuned.as_ref().expect("checked by export_pair")),
            (true, Some((zs, ft))) => (zs, ft),
            (true, None) => return Err(Failure::invalid(Operation::Export, "the weights are on the GPU: read both checkpoints again to export")),
        };
        let provenance = provenance(&wise_ft(alpha), sources, dtype);
        let bytes = pair.plan.merge(zs, Some(ft), alpha).and_then(|merged| merged_bytes(&merged, &provenance)).map_err(fail)?;
        Ok(MergedFile { bytes, config_json: merged_config_json(&pair.zero_shot, dtype), setting: None })
    }
}
