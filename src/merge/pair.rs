//! The zero-shot and (optional) fine-tuned checkpoints with the plan that merges them: what the
//! engines build their towers from.

use super::{Action, Alpha, MergePlan};
use crate::checkpoint::Checkpoint;
use crate::clip::preprocess::PreprocessConfig;
use crate::error::{Error, Result};

/// The zero-shot and (optional) fine-tuned checkpoints with the plan that merges them.
pub struct ModelPair {
    pub zero_shot: Checkpoint,
    pub fine_tuned: Option<Checkpoint>,
    pub plan: MergePlan,
}

impl ModelPair {
    /// Checks that the zero-shot checkpoint can classify (a full CLIPModel) and plans the merge.
    pub fn new(zero_shot: Checkpoint, fine_tuned: Option<Checkpoint>) -> Result<Self> {
        let config = &zero_shot.config;
        if config.vision.is_none() || config.text.is_none() {
            return Err(Error::Invalid(format!(
                "{}: the zero-shot checkpoint is a {}, but zero-shot classification needs a full CLIPModel (both towers)",
                zero_shot.name,
                zero_shot.layout.class_name()
            )));
        }
        for needed in ["visual_projection.weight", "text_projection.weight", "logit_scale"] {
            if !zero_shot.tensors.contains_key(needed) {
                return Err(Error::Tensor { file: zero_shot.name.clone(), tensor: needed.into(), msg: "missing from the checkpoint".into() });
            }
        }
        let plan = MergePlan::new(&zero_shot, fine_tuned.as_ref())?;
        let pair = Self { zero_shot, fine_tuned, plan };
        let side = pair.zero_shot.config.vision.as_ref().map_or(0, |v| v.image_size) as u32;
        let out = pair.preprocess().output_size();
        if out != (side, side) {
            return Err(Error::Config {
                file: format!("{} (preprocessor_config.json)", pair.zero_shot.name),
                msg: format!("crops images to {}×{} but the vision tower takes {side}×{side}", out.0, out.1),
            });
        }
        Ok(pair)
    }

    /// The image preprocessing: the zero-shot checkpoint's preprocessor_config.json, else the
    /// fine-tuned one's, else CLIP's defaults at the model's image size.
    pub fn preprocess(&self) -> PreprocessConfig {
        let image_size = self.zero_shot.config.vision.as_ref().map_or(224, |v| v.image_size) as u32;
        self.zero_shot
            .preprocess
            .clone()
            .or_else(|| self.fine_tuned.as_ref().and_then(|f| f.preprocess.clone()))
            .unwrap_or_else(|| PreprocessConfig::clip_default(image_size))
    }

    /// Whether α changes the text tower (else class embeddings survive an α change).
    pub fn text_depends_on_alpha(&self) -> bool {
        self.interpolates(|name| name.starts_with("text_model.") || name == "text_projection.weight" || name == "logit_scale")
    }

    /// Whether α changes the vision tower.
    pub fn vision_depends_on_alpha(&self) -> bool {
        self.interpolates(|name| name.starts_with("vision_model.") || name == "visual_projection.weight")
    }

    fn interpolates(&self, tensor: impl Fn(&str) -> bool) -> bool {
        self.plan.actions.iter().any(|(name, a)| *a == Action::Interpolate && tensor(name))
    }

    /// `logit_scale` of the merged model at α.
    pub fn logit_scale(&self, alpha: Alpha) -> Result<f32> {
        let t = self.plan.tensor("logit_scale", &self.zero_shot, self.fine_tuned.as_ref(), alpha)?;
        Ok(t.as_f32().and_then(|v| v.first().copied()).unwrap_or(0.0))
    }
}
