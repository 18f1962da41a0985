//! The zero-shot and (optional) fine-tuned checkpoints with the plan that merges them: what the
//! engines build their towers from.

use std::collections::BTreeMap;

use super::{values_on_host, Action, Alpha, Inputs, MergePlan, Merged, Point};
use crate::checkpoint::tensor::{HostTensor, Values};
use crate::checkpoint::Checkpoint;
use crate::clip::preprocess::PreprocessConfig;
use crate::error::{Error, Result};

/// TIES's fine-tunes' own task vectors, taken out of a [`ModelPair`] by
/// [`ModelPair::set_own_vectors_aside`]; dropping it frees them.
#[must_use = "dropping the vectors set aside frees them: restore them or drop them on purpose"]
pub struct OwnVectorsAside(Vec<super::task_vector::TensorSet>);

/// The zero-shot and (optional) fine-tuned checkpoints with the plan that merges them.
pub struct ModelPair {
    pub zero_shot: Checkpoint,
    pub fine_tuned: Option<Checkpoint>,
    pub plan: MergePlan,
    /// A recipe's merge inputs (task vectors, TIES's vector, …) when it is not the two-model
    /// merge; `fine_tuned` is then `None` (its tensors live on here, changed or not).
    pub inputs: Option<Inputs>,
}

impl ModelPair {
    /// Checks that the zero-shot checkpoint can classify (a full CLIPModel) and plans the merge.
    pub fn new(zero_shot: Checkpoint, fine_tuned: Option<Checkpoint>) -> Result<Self> {
        let plan = MergePlan::new(&zero_shot, fine_tuned.as_ref())?;
        Self::checked(zero_shot, fine_tuned, plan, None)
    }

    /// θ₀ with a recipe's merge inputs, computed by [`super::load_recipe`].
    pub fn with_inputs(zero_shot: Checkpoint, inputs: Inputs) -> Result<Self> {
        let plan = MergePlan::combining(&zero_shot, &inputs);
        Self::checked(zero_shot, None, plan, Some(inputs))
    }

    /// Takes out the inputs that only the per-fine-tune columns read (TIES's fine-tunes' own task
    /// vectors, before its merged one), for a back end that cannot hold them (a GPU's memory, or
    /// its combine kernel's input count); `None` when there are none. Dropping what it returns
    /// frees them; [`Self::restore_own_vectors`] puts them back, should that back end give way to
    /// one that can hold them. The merged point is the same (those inputs weigh 0 there), but a
    /// [`Point`] made before must be made again: its weights are per input.
    pub fn set_own_vectors_aside(&mut self) -> Option<OwnVectorsAside> {
        let inputs = self.inputs.as_mut()?;
        let own = inputs.own();
        if !matches!(inputs.kind, super::mix::Kind::Ties { .. }) || own == 0 {
            return None;
        }
        let sets = inputs.sets.drain(..own).collect();
        self.plan = MergePlan::combining(&self.zero_shot, inputs);
        Some(OwnVectorsAside(sets))
    }

    /// Puts the vectors [`Self::set_own_vectors_aside`] took back before the merged one, as they
    /// were loaded (a [`Point`] made in between must be made again).
    pub fn restore_own_vectors(&mut self, aside: OwnVectorsAside) {
        let Some(inputs) = self.inputs.as_mut() else { return };
        let merged = std::mem::take(&mut inputs.sets);
        inputs.sets = aside.0;
        inputs.sets.extend(merged);
        self.plan = MergePlan::combining(&self.zero_shot, inputs);
    }

    fn checked(zero_shot: Checkpoint, fine_tuned: Option<Checkpoint>, plan: MergePlan, inputs: Option<Inputs>) -> Result<Self> {
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
        let pair = Self { zero_shot, fine_tuned, plan, inputs };
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
    /// fine-tuned one's, else CLIP's defaults at the model's image size (a recipe's fine-tunes
    /// are gone once their inputs are computed: θ₀'s or the defaults).
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
        self.plan.actions.iter().any(|(name, a)| matches!(a, Action::Interpolate | Action::Combine) && tensor(name))
    }

    /// Where the merged value of one tensor comes from at `point` (see [`MergePlan::source`]).
    pub fn source_at<'a>(&'a self, name: &str, point: &Point) -> Result<Merged<'a>> {
        let alpha = match point {
            Point::Alpha(alpha) => return self.plan.source(name, &self.zero_shot, self.fine_tuned.as_ref(), *alpha),
            Point::Mix(mix) => mix,
        };
        let zs = self.zero_shot.tensors.get(name).ok_or_else(|| Error::Tensor { file: self.zero_shot.name.clone(), tensor: name.into(), msg: "missing".into() })?;
        // A wise-ft α schedule over the pair: (1 − α(t))·θ₀ + α(t)·θ₁, the fine-tune the one term.
        if let (Some(Action::Interpolate), Some(ft), Some(w)) = (self.plan.actions.get(name), &self.fine_tuned, alpha.weights.get(name)) {
            let ft_tensor = ft.tensors.get(name).ok_or_else(|| Error::Tensor { file: ft.name.clone(), tensor: name.into(), msg: "missing".into() })?;
            // The end points are the checkpoints' own values, as the single-α merge shares them.
            return Ok(match w[..] {
                [1.0, 0.0] => Merged::Shared(zs),
                [0.0, 1.0] => Merged::Shared(ft_tensor),
                _ => Merged::Sum { base: values_on_host(zs, name, &self.zero_shot.name)?, w0: w[0], terms: vec![(values_on_host(ft_tensor, name, &ft.name)?, w[1])] },
            });
        }
        let (Some(Action::Combine), Some(inputs), Some(w)) = (self.plan.actions.get(name), &self.inputs, alpha.weights.get(name)) else {
            return Ok(Merged::Shared(zs));
        };
        let base = zs.as_f32().ok_or_else(|| Error::Tensor {
            file: self.zero_shot.name.clone(),
            tensor: name.into(),
            msg: "its values went to the GPU and are not on the host: read the checkpoint again to merge it here".into(),
        })?;
        let terms = inputs.sets.iter().zip(&w[1..]).filter_map(|(s, &wi)| s.get(name).map(|v| (&v[..], wi))).collect();
        Ok(Merged::Sum { base, w0: w[0], terms })
    }

    /// The merged value of one tensor at `point`.
    pub fn tensor_at(&self, name: &str, point: &Point) -> Result<HostTensor> {
        let source = self.source_at(name, point)?;
        let zs = &self.zero_shot.tensors[name];
        Ok(match source {
            Merged::Shared(t) => HostTensor { file_dtype: zs.file_dtype, ..t.clone() },
            other => HostTensor { shape: zs.shape.clone(), file_dtype: zs.file_dtype, values: Values::F32(other.values(name)?) },
        })
    }

    /// Every tensor of the zero-shot checkpoint, merged at `point`.
    pub fn merge_at(&self, point: &Point) -> Result<BTreeMap<String, HostTensor>> {
        self.plan.actions.keys().map(|name| Ok((name.clone(), self.tensor_at(name, point)?))).collect()
    }

    /// `logit_scale` of the merged model at `point`.
    pub fn logit_scale_at(&self, point: &Point) -> Result<f32> {
        let t = self.tensor_at("logit_scale", point)?;
        Ok(t.as_f32().and_then(|v| v.first().copied()).unwrap_or(0.0))
    }

    /// `logit_scale` of the merged model at α.
    pub fn logit_scale(&self, alpha: Alpha) -> Result<f32> {
        let t = self.plan.tensor("logit_scale", &self.zero_shot, self.fine_tuned.as_ref(), alpha)?;
        Ok(t.as_f32().and_then(|v| v.first().copied()).unwrap_or(0.0))
    }
}
