//! The whole WiSE-FT classifier as one object: two checkpoints, their merge plan, an engine at the
//! current α, and cached class embeddings. The CLI and the web worker drive this; neither does math.

use crate::checkpoint::Checkpoint;
use crate::clip::head::ClassEmbeddings;
use crate::clip::preprocess::PreprocessConfig;
use crate::clip::templates;
use crate::clip::tokenizer::{Tokenizer, CONTEXT_LENGTH};
use crate::engine::{DeviceChoice, Engine};
use crate::error::{Error, Result};
use crate::merge::{check_alpha, Action, MergePlan};

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
    pub fn logit_scale(&self, alpha: f64) -> Result<f32> {
        let t = self.plan.tensor("logit_scale", &self.zero_shot, self.fine_tuned.as_ref(), alpha)?;
        Ok(t.as_f32().and_then(|v| v.first().copied()).unwrap_or(0.0))
    }
}

/// Where the end-of-text token sits: the first `eos_token_id`, or, for HF's legacy id 2, the largest
/// id (argmax), as transformers pools.
pub fn pooled_position(ids: &[u32], eos_token_id: u32) -> usize {
    let found = if eos_token_id == 2 {
        ids.iter().enumerate().fold(None, |best: Option<(usize, u32)>, (i, &v)| match best {
            Some((_, b)) if b >= v => best,
            _ => Some((i, v)),
        }).map(|(i, _)| i)
    } else {
        ids.iter().position(|&v| v == eos_token_id)
    };
    found.unwrap_or(ids.len().saturating_sub(1))
}

pub struct WiseFt {
    pub pair: ModelPair,
    engine: Engine,
    /// Why `DeviceChoice::Auto` fell back to the CPU, when it did.
    fallback_reason: Option<String>,
    alpha: f64,
    logit_scale: f32,
    /// Class embeddings of the last (labels, templates), valid at `cached_alpha` or at any α when the
    /// text tower does not move with α.
    cache: Option<(Vec<String>, Vec<String>, f64, ClassEmbeddings)>,
}

impl WiseFt {
    pub async fn new(pair: ModelPair, alpha: f64, device: DeviceChoice) -> Result<Self> {
        check_alpha(alpha)?;
        let (engine, fallback_reason) = Engine::new_explained(device, &pair, alpha).await?;
        let logit_scale = pair.logit_scale(alpha)?;
        Ok(Self { pair, engine, fallback_reason, alpha, logit_scale, cache: None })
    }

    /// Wraps an engine built elsewhere (the page builds the GPU engine from tensors uploaded as
    /// they downloaded) for `pair` at `alpha`.
    pub fn with_engine(pair: ModelPair, alpha: f64, engine: Engine, fallback_reason: Option<String>) -> Result<Self> {
        check_alpha(alpha)?;
        let logit_scale = pair.logit_scale(alpha)?;
        Ok(Self { pair, engine, fallback_reason, alpha, logit_scale, cache: None })
    }

    pub fn alpha(&self) -> f64 {
        self.alpha
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Why the automatic device choice fell back to the CPU, if it did.
    pub fn fallback_reason(&self) -> Option<&str> {
        self.fallback_reason.as_deref()
    }

    pub fn set_alpha(&mut self, alpha: f64) -> Result<()> {
        check_alpha(alpha)?;
        if alpha != self.alpha {
            self.engine.set_alpha(&self.pair, alpha)?;
            self.logit_scale = self.pair.logit_scale(alpha)?;
            self.alpha = alpha;
        }
        Ok(())
    }

    /// Text embeddings (projected, not normalised) of arbitrary prompts at the current α.
    pub async fn encode_prompts(&self, prompts: &[String]) -> Result<Vec<Vec<f32>>> {
        let text = self.pair.zero_shot.config.text.as_ref().expect("checked in ModelPair::new");
        let context = text.max_position_embeddings.min(CONTEXT_LENGTH);
        let tokenizer = Tokenizer::shared();
        let ids: Vec<Vec<u32>> = prompts.iter().map(|p| tokenizer.tokenize(p, context)).collect();
        let pooled: Vec<usize> = ids.iter().map(|r| pooled_position(r, text.eos_token_id)).collect();
        self.engine.encode_texts(&ids, &pooled).await
    }

    /// Class embeddings for `labels` with prompt ensembling over `templates`; cached.
    pub async fn classes(&mut self, labels: &[String], templates: &[String]) -> Result<ClassEmbeddings> {
        if labels.is_empty() {
            return Err(Error::Invalid("no labels given".into()));
        }
        if templates.is_empty() {
            return Err(Error::Invalid("no prompt templates given".into()));
        }
        let alpha_free = !self.pair.text_depends_on_alpha();
        if let Some((l, t, a, classes)) = &self.cache {
            if l == labels && t == templates && (alpha_free || *a == self.alpha) {
                return Ok(classes.clone());
            }
        }
        let prompts: Vec<String> =
            labels.iter().flat_map(|l| templates.iter().map(move |t| templates::fill(t, l))).collect();
        let embeds = self.encode_prompts(&prompts).await?;
        let classes = ClassEmbeddings::from_prompts(labels, templates.len(), &embeds);
        self.cache = Some((labels.to_vec(), templates.to_vec(), self.alpha, classes.clone()));
        Ok(classes)
    }

    /// Image embeddings (projected, not normalised) of preprocessed images (CHW each).
    pub async fn encode_images(&self, images: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let flat: Vec<f32> = images.iter().flatten().copied().collect();
        self.engine.encode_images(&flat, images.len()).await
    }

    /// Probabilities over `labels` for each image, in label order.
    pub async fn classify(&mut self, images: &[Vec<f32>], labels: &[String], templates: &[String]) -> Result<Vec<Vec<f32>>> {
        let classes = self.classes(labels, templates).await?;
        let embeds = self.encode_images(images).await?;
        Ok(embeds.iter().map(|e| classes.probabilities(e, self.logit_scale)).collect())
    }

    pub fn logit_scale(&self) -> f32 {
        self.logit_scale
    }
}
