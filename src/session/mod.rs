//! What a user session *is*: a loaded model pair (or a recipe over several fine-tunes), labels
//! and templates, photos and their scores per merge point, the columns (zero-shot, merged at the
//! session's α or recipe, fine-tuned), the α sweep with progress and cancel, the merged-checkpoint
//! export and the benchmark.
//!
//! Native and tested (tests/session.rs); the web worker is a thin adapter that turns messages into
//! these calls and [`SessionEvent`]s into messages. Events go out through a callback, in order.
//!
//! The engine has one merge point at a time. Every call leaves it at the session's α (or recipe):
//! work at other points (the zero-shot and fine-tuned columns, a sweep) is done in an order that
//! starts where the engine is, and the engine is put back once, in [`Session::return_engine`] —
//! the one place besides [`at`] that moves it.

mod classes;
mod events;
pub mod export;
#[cfg(not(target_arch = "wasm32"))]
pub mod folders;
mod layerwise;
pub mod limits;
mod photos;
mod prompts;
mod recipe;
mod scores;
mod sweep;
mod sweep_data;
mod table;
mod target;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use events::{Column, ColumnInfo, Failure, Operation, PhotoId, Score, SessionEvent};
pub use export::MergedFile;
pub use layerwise::{LayerwiseOutcome, LayerwiseResult};
pub use prompts::{clean_labels, resolve_templates, Prompts, TemplateSet};
pub use target::{coefficients, describe};
pub use sweep_data::{AccuracyPoint, Curve, SweepOutcome, SweepPhoto, SweepPoint, SweepResult, SweepScore, SweepSet};

use crate::bench::{self, Timings};
use crate::clip::preprocess::PreprocessConfig;
use crate::merge::recipe::Recipe;
use crate::merge::{Alpha, Point};
use crate::pipeline::WiseFt;
use photos::Photos;
use scores::Scores;
use target::Target;

/// Photos are encoded this many at a time, so results appear progressively.
const IMAGE_CHUNK: usize = 4;

/// Set to stop a long call (a sweep) between its steps; shared with whoever receives the
/// person's "cancel" (the worker's message handler).
#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    pub fn set(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn reset(&self) {
        self.0.store(false, Ordering::SeqCst);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A future the session awaits between the steps of long work.
pub type Pause = Box<dyn Fn() -> Pin<Box<dyn Future<Output = ()>>>>;

/// Where events go, and how long work lets its caller in.
struct Outlet {
    emit: Box<dyn FnMut(SessionEvent)>,
    /// Between sweep steps: the worker gives its event loop a turn here, so that a cancel message
    /// is received; natively nothing.
    pause: Pause,
    cancel: Cancel,
    /// Seconds on a monotonic clock, for the estimate of a large prompt set; none natively
    /// unless given ([`Session::with_clock`]).
    now: Option<Box<dyn Fn() -> f64>>,
    /// Seconds per prompt the last chunked encode measured on this engine.
    per_prompt_s: Option<f64>,
}

impl Outlet {
    fn emit(&mut self, event: SessionEvent) {
        (self.emit)(event);
    }

    fn status(&mut self, text: impl Into<String>) {
        self.emit(SessionEvent::Status(text.into()));
    }
}

pub struct Session {
    model: Option<WiseFt>,
    prep: Option<PreprocessConfig>,
    photos: Photos,
    prompts: Prompts,
    /// The α the person chose (the merged column's).
    alpha: Alpha,
    /// The recipe the merged column follows, for a model loaded from one (its merge inputs in
    /// `model.pair.inputs`); `None` for the two-model merge at `alpha`.
    recipe: Option<Recipe>,
    scores: Scores,
    out: Outlet,
}

impl Session {
    /// An empty session at α = 0.5 with CLIP's single template; `emit` receives every event.
    pub fn new(emit: impl FnMut(SessionEvent) + 'static) -> Self {
        Self {
            model: None,
            prep: None,
            photos: Photos::default(),
            prompts: Prompts::default(),
            alpha: Alpha::HALF,
            recipe: None,
            scores: Scores::default(),
            out: Outlet { emit: Box::new(emit), pause: Box::new(|| Box::pin(async {})), cancel: Cancel::default(), now: None, per_prompt_s: None },
        }
    }

    /// Awaits `pause` between the steps of long work.
    pub fn with_pause(mut self, pause: Pause) -> Self {
        self.out.pause = pause;
        self
    }

    /// Uses `cancel` (shared with whoever receives the person's cancel).
    pub fn with_cancel(mut self, cancel: Cancel) -> Self {
        self.out.cancel = cancel;
        self
    }

    /// Times large prompt sets with `now` (seconds on a monotonic clock) for their estimate.
    pub fn with_clock(mut self, now: Box<dyn Fn() -> f64>) -> Self {
        self.out.now = Some(now);
        self
    }

    pub fn alpha(&self) -> Alpha {
        self.alpha
    }

    /// How many photos the session keeps.
    pub fn photo_count(&self) -> usize {
        self.photos.ids().len()
    }

    /// Where the engine is (the session's α after every call, for a pair with a fine-tune).
    pub fn engine_alpha(&self) -> Option<Alpha> {
        self.model.as_ref().map(WiseFt::alpha)
    }

    pub fn model(&self) -> Option<&WiseFt> {
        self.model.as_ref()
    }

    pub fn prompts(&self) -> &Prompts {
        &self.prompts
    }

    /// Drops the model (two CLIPs are large for wasm's 4 GB: free them before loading others).
    pub fn unload(&mut self) {
        self.model = None;
        self.prep = None;
        self.scores.clear();
        self.photos.forget_pixels();
        self.out.per_prompt_s = None;
    }

    /// Takes a newly built model: every photo is preprocessed for it and classified.
    pub async fn install(&mut self, wiseft: WiseFt) -> Result<(), Failure> {
        self.install_with(wiseft, None).await
    }

    /// [`Session::install`] for a model with a recipe's merge inputs, or for the two-model merge
    /// (`recipe` `None`): the engine is moved to the session's point first.
    async fn install_with(&mut self, mut wiseft: WiseFt, recipe: Option<Recipe>) -> Result<(), Failure> {
        self.unload();
        self.recipe = None;
        let prep = wiseft.pair.preprocess();
        let home = home(&wiseft, self.alpha, recipe.as_ref()).map_err(|e| Failure::new(Operation::Recipe, e))?;
        move_to(&mut wiseft, &home.point).map_err(|e| Failure::new(Operation::Merge, e))?;
        self.recipe = recipe;
        for (image, message) in self.photos.prepare_all(&prep) {
            self.out.emit(SessionEvent::ImageError { image, message });
        }
        self.model = Some(wiseft);
        self.prep = Some(prep);
        self.refresh(None, false).await
    }

    /// Moves α: the merged column of every photo at the new α (the other two are kept).
    pub async fn set_alpha(&mut self, alpha: Alpha) -> Result<(), Failure> {
        self.alpha = alpha;
        if self.recipe.is_some() {
            // The merged column follows the recipe; α is kept for the next two-model pair.
            return Ok(());
        }
        self.scores.keep_only(&[Alpha::ZERO_SHOT.into(), Alpha::FINE_TUNED.into(), alpha.into()]);
        self.refresh(None, true).await
    }

    /// New labels or templates: class embeddings are recomputed, every photo classified again.
    /// More than [`limits::MAX_PROMPTS`] prompts are refused; a cancelled encode of a large set
    /// keeps the previous labels (their scores are sent again).
    pub async fn set_prompts(&mut self, prompts: Prompts) -> Result<(), Failure> {
        if let Some(why) = limits::prompts_refused(prompts.labels.len(), prompts.templates.len()) {
            return Err(Failure::invalid(Operation::Labels, why));
        }
        if prompts == self.prompts {
            return self.refresh(None, false).await;
        }
        let before = std::mem::replace(&mut self.prompts, prompts);
        self.scores.clear();
        match self.refresh(None, false).await {
            Err(f) if f.cancelled => {
                self.prompts = before;
                self.scores.clear();
                self.refresh(None, false).await?;
                Err(f)
            }
            other => other,
        }
    }

    /// Adds (or replaces) photos and classifies them; one that cannot be read is reported with an
    /// [`SessionEvent::ImageError`] and the others go on.
    pub async fn add_photos(&mut self, photos: Vec<(PhotoId, String, Vec<u8>)>) -> Result<(), Failure> {
        let mut ids = Vec::new();
        for (id, name, bytes) in photos {
            let (count, held) = self.photos.held_without(id);
            if let Some(message) = limits::photo_refused(count, held, bytes.len() as u64) {
                self.out.emit(SessionEvent::ImageError { image: id, message });
                continue;
            }
            if let Some(message) = self.photos.add(id, name, bytes, self.prep.as_ref()) {
                self.out.emit(SessionEvent::ImageError { image: id, message });
            }
            ids.push(id);
        }
        self.refresh(Some(&ids), false).await
    }

    /// Removes one photo (all with `None`) and its scores.
    pub fn remove_photo(&mut self, id: Option<PhotoId>) {
        self.photos.remove(id);
        self.scores.retain_photos(&self.photos.ids());
    }

    /// Times the loaded model as `wiseft bench` does (without `encodes`, the coefficient change
    /// alone); scores are recomputed afterwards.
    pub async fn bench(&mut self, runs: usize, prompts: usize, encodes: bool, now: &dyn Fn() -> f64) -> Result<Timings, Failure> {
        let fail = |e| Failure::new(Operation::Bench, e);
        let model = self.model.as_mut().ok_or_else(|| Failure::invalid(Operation::Bench, "load the models first"))?;
        // A recipe's coefficient change: its main coefficient between 0.3 and 0.7 (an average's
        // soup without and with θ₀), one combine pass each, as a slider moves it.
        let change = match (&self.recipe, &model.pair.inputs) {
            (Some(r), Some(inputs)) => Some(bench_points(r, inputs).map_err(|e| Failure::new(Operation::Bench, e))?),
            _ => None,
        };
        let what = if change.is_some() { "coefficient change" } else { "α change" };
        self.out.status(if encodes { format!("Benchmark: {what}, image batches of 1 and 8, {prompts} prompts …") } else { format!("Benchmark: {what} …") });
        let timings = bench::measure(model, runs, &bench::bench_prompts(prompts), encodes, change, now).await;
        self.scores.clear();
        self.return_engine().map_err(|f| Failure { during: Operation::Bench, ..f })?;
        timings.map_err(fail)
    }

    /// Puts the engine back at the session's α (or recipe) after work elsewhere.
    fn return_engine(&mut self) -> Result<(), Failure> {
        let (alpha, out) = (self.alpha, &mut self.out);
        match self.model.as_mut() {
            Some(model) => {
                let home = home(model, alpha, self.recipe.as_ref()).map_err(|e| Failure::new(Operation::Recipe, e))?;
                at(model, &home, out)
            }
            None => Ok(()),
        }
    }

    /// The points of the columns to show, each with the columns it stands for: the columns of
    /// [`columns`] (the list the page was given at load), the merged one first.
    fn targets(&self, model: &WiseFt, merged_only: bool) -> Result<Vec<(Target, Vec<Column>)>, Failure> {
        let shown = shown(model, self.recipe.as_ref());
        // Without a merged column (no fine-tune) an α change sends what there is.
        let merged_only = merged_only && shown.contains(&Column::Merged);
        let merged_first = shown.iter().filter(|&&c| c == Column::Merged).chain(shown.iter().filter(|&&c| c != Column::Merged && !merged_only));
        let mut groups: Vec<(Target, Vec<Column>)> = Vec::new();
        for &c in merged_first {
            let t = self.target(model, c)?;
            match groups.iter_mut().find(|(x, _)| x.spot == t.spot) {
                Some((_, cs)) => cs.push(c),
                None => groups.push((t, vec![c])),
            }
        }
        Ok(groups)
    }

    /// Where the engine goes to compute `column`.
    fn target(&self, model: &WiseFt, column: Column) -> Result<Target, Failure> {
        match (&self.recipe, &model.pair.inputs, column) {
            (Some(recipe), Some(inputs), Column::Merged) => Target::recipe(recipe, inputs).map_err(|e| Failure::new(Operation::Recipe, e)),
            (Some(_), Some(inputs), Column::ZeroShot) => Ok(Target::recipe_zero_shot(inputs)),
            (Some(_), Some(inputs), Column::FineTune(i)) => Target::recipe_fine_tune(inputs, i as usize)
                .ok_or_else(|| Failure::invalid(Operation::Recipe, format!("fine-tune {}: the loaded merge inputs do not hold it on its own", i + 1))),
            (_, _, Column::Merged) => Ok(Target::alpha(self.alpha)),
            (_, _, Column::ZeroShot) => Ok(Target::alpha(Alpha::ZERO_SHOT)),
            (_, _, Column::FineTuned) => Ok(Target::alpha(Alpha::FINE_TUNED)),
            (_, _, Column::FineTune(i)) => Err(Failure::invalid(Operation::Recipe, format!("fine-tune {}: the model was not loaded from a recipe", i + 1))),
        }
    }

    /// The columns this session sends scores for, in the page's order ([`columns`]).
    pub fn columns(&self) -> Vec<ColumnInfo> {
        self.model.as_ref().map(|m| columns(m, self.recipe.as_ref())).unwrap_or_default()
    }

    /// Sends the scores of the given photos (all when `None`) for the three columns, computing
    /// what is missing. `merged_only`: after an α change only the merged column is sent.
    async fn refresh(&mut self, ids: Option<&[PhotoId]>, merged_only: bool) -> Result<(), Failure> {
        let Some(model) = self.model.as_ref() else { return Ok(()) };
        let photos = self.photos.ready(ids);
        if self.prompts.labels.is_empty() || photos.is_empty() {
            // Nothing to classify, but the engine still goes where the session is (a new α or
            // recipe with no photo yet, which an export or a sweep then reads).
            return self.return_engine();
        }
        // (point, the columns it stands for), starting where the engine is so that a photo added
        // at the session's point costs one merge away and one back, not three.
        let mut groups = self.targets(model, merged_only)?;
        let current = model.point().clone();
        groups.sort_by_key(|(t, _)| t.point != current);

        let model = self.model.as_mut().expect("checked above");
        let prompts = &self.prompts;
        for (target, columns) in groups {
            let missing = self.scores.missing(&target.spot, &photos);
            let place = where_(&target);
            if !missing.is_empty() {
                at(model, &target, &mut self.out)?;
                classes::ensure(model, prompts, &place, &mut self.out).await?;
                for chunk in missing.chunks(IMAGE_CHUNK) {
                    self.out.status(format!("Classifying {} photo(s) at {place} …", chunk.len()));
                    let probs = model
                        .classify(&self.photos.pixels(chunk), &prompts.labels, &prompts.templates)
                        .await
                        .map_err(|e| Failure::new(Operation::Classify, e))?;
                    for (id, p) in chunk.iter().zip(probs) {
                        self.scores.insert(&target.spot, *id, p);
                    }
                    send_scores(&self.scores, chunk, &target, &columns, prompts, &mut self.out);
                }
            }
            let cached: Vec<PhotoId> = photos.iter().copied().filter(|id| !missing.contains(id)).collect();
            if !cached.is_empty() {
                send_scores(&self.scores, &cached, &target, &columns, prompts, &mut self.out);
            }
        }
        self.return_engine()
    }
}

/// The two settings of `recipe` a benchmark's coefficient change alternates between: its main
/// coefficient at 0.3 and 0.7; an average, which has none, without and with θ₀ in the soup (the
/// weights then differ for any number of fine-tunes).
fn bench_points(recipe: &Recipe, inputs: &crate::merge::Inputs) -> crate::Result<[Point; 2]> {
    let at = |v: f64, with_zero_shot: bool| {
        let mut r = sweep::at_main(recipe, v);
        if r.method == crate::merge::recipe::Method::Average {
            r.zero_shot_weight = with_zero_shot.then_some(1.0);
        }
        Target::recipe(&r, inputs).map(|t| t.point)
    };
    Ok([at(0.3, false)?, at(0.7, true)?])
}

/// The columns of a model (loaded for `recipe`, if any), in the order the page draws them: the
/// zero-shot model, each fine-tune the merge inputs hold on their own, and the merge — or the
/// pair's zero-shot, merged and fine-tuned models; the zero-shot model alone without a fine-tune.
/// [`Session::targets`] computes from this list, so what the page is told and what it receives
/// cannot disagree.
fn shown(model: &WiseFt, recipe: Option<&Recipe>) -> Vec<Column> {
    match (recipe, &model.pair.inputs) {
        (Some(_), Some(inputs)) => {
            let own = (0..inputs.labels.len()).filter(|&i| Target::recipe_fine_tune(inputs, i).is_some()).map(|i| Column::FineTune(i as u32));
            std::iter::once(Column::ZeroShot).chain(own).chain([Column::Merged]).collect()
        }
        _ if model.pair.fine_tuned.is_some() => vec![Column::ZeroShot, Column::Merged, Column::FineTuned],
        _ => vec![Column::ZeroShot],
    }
}

/// [`shown`] with each column's title and checkpoint, as the `loaded` event gives them to the
/// page before any score arrives (a session installs `model` with the same `recipe`).
pub fn columns(model: &WiseFt, recipe: Option<&Recipe>) -> Vec<ColumnInfo> {
    shown(model, recipe)
        .into_iter()
        .map(|c| {
            let (title, checkpoint) = match c {
                Column::ZeroShot => ("Zero-shot".to_string(), Some(model.pair.zero_shot.name.clone())),
                Column::Merged => ("Merged".to_string(), None),
                Column::FineTuned => ("Fine-tuned".to_string(), model.pair.fine_tuned.as_ref().map(|f| f.name.clone())),
                Column::FineTune(i) => (format!("Fine-tune {}", i + 1), model.pair.inputs.as_ref().and_then(|x| x.labels.get(i as usize).cloned())),
            };
            ColumnInfo { model: c, title, checkpoint }
        })
        .collect()
}

/// Where the engine rests: the recipe's point for a model loaded from one, else the session's α,
/// or 0 when there is no fine-tune (α changes nothing).
fn home(model: &WiseFt, alpha: Alpha, recipe: Option<&Recipe>) -> crate::Result<Target> {
    match (recipe, &model.pair.inputs) {
        (Some(r), Some(inputs)) => Target::recipe(r, inputs),
        _ if model.pair.fine_tuned.is_some() => Ok(Target::alpha(alpha)),
        _ => Ok(Target::alpha(Alpha::ZERO_SHOT)),
    }
}

/// "α = 0.3", or the recipe's setting, for status lines.
fn where_(target: &Target) -> String {
    match (&target.alpha, &target.setting) {
        (_, Some(s)) => s.clone(),
        (Some(a), None) => format!("α = {a}"),
        (None, None) => "the merge".into(),
    }
}

/// Moves the engine to `point`: an α through today's two-model merge, a recipe point through
/// its one-pass combine.
fn move_to(model: &mut WiseFt, point: &Point) -> crate::Result<()> {
    match point {
        Point::Alpha(a) if model.pair.inputs.is_none() => model.set_alpha(*a),
        p => model.set_point(p.clone()),
    }
}

/// Moves the engine to `target`, saying so when that means a merge.
fn at(model: &mut WiseFt, target: &Target, out: &mut Outlet) -> Result<(), Failure> {
    if *model.point() != target.point {
        out.status(format!("Merging at {} …", where_(target)));
        move_to(model, &target.point).map_err(|e| Failure::new(Operation::Merge, e))?;
    }
    Ok(())
}

fn send_scores(scores: &Scores, ids: &[PhotoId], target: &Target, columns: &[Column], prompts: &Prompts, out: &mut Outlet) {
    let list = ids
        .iter()
        .filter_map(|&id| scores.get(&target.spot, id).map(|p| (id, p)))
        .flat_map(|(id, p)| {
            columns.iter().map(move |&c| Score { image: id, model: c, alpha: target.alpha, setting: target.setting.clone(), probs: p.clone() })
        })
        .collect();
    out.emit(SessionEvent::Results { labels: prompts.labels.clone(), templates: prompts.templates.len(), scores: list });
}
