//! The merged checkpoint at some α, as `wiseft merge` writes it (the page's "download merged").

use super::events::{Failure, Operation};
use super::Session;
use crate::checkpoint::{safetensors, Checkpoint};
use crate::merge::Alpha;

/// A merged checkpoint's bytes (safetensors) and the config.json to put beside them.
pub struct MergedFile {
    pub bytes: Vec<u8>,
    pub config_json: String,
}

impl Session {
    /// Whether the export needs both checkpoints read again (their weights went to the GPU as they
    /// downloaded and are not on the host); an error when there is nothing to export.
    pub fn export_needs_reread(&self) -> Result<bool, Failure> {
        let model = self.model.as_ref().ok_or_else(|| Failure::invalid(Operation::Export, "load the models first"))?;
        let pair = &model.pair;
        let Some(ft) = &pair.fine_tuned else {
            return Err(Failure::invalid(Operation::Export, "no fine-tuned checkpoint is loaded: there is nothing to merge"));
        };
        let on_host = |c: &Checkpoint| c.tensors.values().all(|t| t.on_host());
        Ok(!(on_host(&pair.zero_shot) && on_host(ft)))
    }

    /// The merged checkpoint at `alpha`, from the loaded checkpoints or, when their weights are on
    /// the GPU, from `reread` (the same two files read again).
    pub fn export(&self, alpha: Alpha, reread: Option<&(Checkpoint, Checkpoint)>) -> Result<MergedFile, Failure> {
        let needs = self.export_needs_reread()?;
        let pair = &self.model.as_ref().expect("checked by export_needs_reread").pair;
        let (zs, ft) = match (needs, reread) {
            (false, _) => (&pair.zero_shot, pair.fine_tuned.as_ref().expect("checked by export_needs_reread")),
            (true, Some((zs, ft))) => (zs, ft),
            (true, None) => return Err(Failure::invalid(Operation::Export, "the weights are on the GPU: read both checkpoints again to export")),
        };
        let bytes = pair
            .plan
            .merge(zs, Some(ft), alpha)
            .and_then(|merged| safetensors::write(merged.iter().map(|(n, t)| (n.as_str(), t))))
            .map_err(|e| Failure::new(Operation::Export, e))?;
        let config_json = pair
            .zero_shot
            .config_json
            .clone()
            .unwrap_or_else(|| serde_json::to_string_pretty(&pair.zero_shot.config.to_hf_json()).unwrap_or_default());
        Ok(MergedFile { bytes, config_json })
    }
}
