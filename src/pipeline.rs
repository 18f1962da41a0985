//! The whole WiSE-FT classifier as one object: two checkpoints, their merge plan, an engine at the
//! current α, and cached class embeddings. The session, the CLI and the benchmark drive this;
//! none of them does math.

use crate::clip::head::ClassEmbeddings;
use crate::clip::templates;
use crate::clip::tokenizer::{pooled_position, Tokenizer, CONTEXT_LENGTH};
use crate::engine::{Device, Engine};
use crate::error::{Error, Result};
use crate::merge::{Alpha, ModelPair, Point};

/// Class embeddings of one (labels, templates), valid at `point` — or at any point when the text
/// tower does not move with the merge.
struct ClassCache {
    labels: Vec<String>,
    templates: Vec<String>,
    point: Point,
    classes: ClassEmbeddings,
}

pub struct WiseFt {
    pub pair: ModelPair,
    engine: Engine,
    /// Why this back end runs (the automatic choice, a fallback, or what was asked for).
    reason: String,
    /// The last α set (the two-model merge); a recipe's point is in `point`.
    alpha: Alpha,
    point: Point,
    logit_scale: f32,
    /// How many times the engine re-merged (α changes that did work).
    merges: usize,
    cache: Option<ClassCache>,
}

impl WiseFt {
    pub async fn new(pair: ModelPair, alpha: Alpha, device: Device) -> Result<Self> {
        let (engine, reason) = Engine::new_explained(device, &pair, alpha).await?;
        Self::with_engine(pair, alpha, engine, reason)
    }

    /// Wraps an engine built elsewhere (the page builds the GPU engine from tensors uploaded as
    /// they downloaded) for `pair` at `alpha`.
    pub fn with_engine(pair: ModelPair, alpha: Alpha, engine: Engine, reason: String) -> Result<Self> {
        Self::with_engine_at(pair, Point::Alpha(alpha), engine, reason)
    }

    /// A recipe's model ([`crate::merge::load_recipe`]) at `point`.
    pub async fn at(pair: ModelPair, point: Point, device: Device) -> Result<Self> {
        let (engine, reason) = Engine::at_explained(device, &pair, &point).await?;
        Self::with_engine_at(pair, point, engine, reason)
    }

    pub fn with_engine_at(pair: ModelPair, point: Point, engine: Engine, reason: String) -> Result<Self> {
        let logit_scale = pair.logit_scale_at(&point)?;
        let alpha = match &point {
            Point::Alpha(a) => *a,
            Point::Mix(_) => Alpha::default(),
        };
        Ok(Self { pair, engine, reason, alpha, point, logit_scale, merges: 0, cache: None })
    }

    /// Where the merge is.
    pub fn point(&self) -> &Point {
        &self.point
    }

    /// Moves the engine to `point` (an α, or new coefficients of the loaded recipe).
    pub fn set_point(&mut self, point: Point) -> Result<()> {
        if point != self.point {
            self.engine.set_point(&self.pair, &point)?;
            self.logit_scale = self.pair.logit_scale_at(&point)?;
            if let Point::Alpha(a) = point {
                self.alpha = a;
            }
            self.point = point;
            self.merges += 1;
        }
        Ok(())
    }

    pub fn alpha(&self) -> Alpha {
        self.alpha
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Why this back end runs.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// How many merges α changes have cost so far.
    pub fn merges(&self) -> usize {
        self.merges
    }

    /// Moves the engine to `alpha` (nothing to do if it is there).
    pub fn set_alpha(&mut self, alpha: Alpha) -> Result<()> {
        if Point::Alpha(alpha) != self.point {
            self.engine.set_alpha(&self.pair, alpha)?;
            self.logit_scale = self.pair.logit_scale(alpha)?;
            self.alpha = alpha;
            self.point = Point::Alpha(alpha);
            self.merges += 1;
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
        if let Some(c) = self.cache.as_ref().filter(|_| self.has_classes(labels, templates)) {
            return Ok(c.classes.clone());
        }
        let prompts: Vec<String> =
            labels.iter().flat_map(|l| templates.iter().map(move |t| templates::fill(t, l))).collect();
        let embeds = self.encode_prompts(&prompts).await?;
        self.set_classes(labels, templates, &embeds)?;
        Ok(self.cache.as_ref().expect("just set").classes.clone())
    }

    /// Whether the class embeddings of (`labels`, `templates`) at the current point are cached.
    pub fn has_classes(&self, labels: &[String], templates: &[String]) -> bool {
        let alpha_free = !self.pair.text_depends_on_alpha();
        self.cache.as_ref().is_some_and(|c| c.labels == labels && c.templates == templates && (alpha_free || c.point == self.point))
    }

    /// Caches class embeddings computed elsewhere (the session encodes a large prompt set in
    /// chunks): `embeds` are the prompts' embeddings at the current point, label by label, each
    /// label's templates in order.
    pub fn set_classes(&mut self, labels: &[String], templates: &[String], embeds: &[Vec<f32>]) -> Result<()> {
        if embeds.len() != labels.len() * templates.len() {
            return Err(Error::Invalid(format!("{} prompt embeddings for {} labels × {} templates", embeds.len(), labels.len(), templates.len())));
        }
        let classes = ClassEmbeddings::from_prompts(labels, templates.len(), embeds);
        self.cache = Some(ClassCache { labels: labels.to_vec(), templates: templates.to_vec(), point: self.point.clone(), classes });
        Ok(())
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
        let probs: Vec<Vec<f32>> = embeds.iter().map(|e| classes.probabilities(e, self.logit_scale)).collect();
        // Finite weights can still overflow (a large λ, an extreme logit_scale): a NaN must not
        // reach the page or the JSON as `null` with a made-up top label.
        if let Some(i) = probs.iter().position(|p| p.iter().any(|x| !x.is_finite())) {
            return Err(Error::Invalid(format!(
                "image {} of {}: its probabilities are not finite numbers (NaN or ∞): the merged weights or logit_scale {} overflow",
                i + 1,
                probs.len(),
                self.logit_scale
            )));
        }
        Ok(probs)
    }

    pub fn logit_scale(&self) -> f32 {
        self.logit_scale
    }
}
