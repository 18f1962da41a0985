//! What a user session *is*: a loaded model pair, labels and templates, photos and their scores
//! per α, the three columns (zero-shot, merged at the session's α, fine-tuned), the α sweep with
//! progress and cancel, the merged-checkpoint export and the benchmark.
//!
//! Native and tested (tests/session.rs); the web worker is a thin adapter that turns messages into
//! these calls and [`SessionEvent`]s into messages. Events go out through a callback, in order.
//!
//! The engine has one α at a time. Every call leaves it at the session's α: work at other α values
//! (the zero-shot and fine-tuned columns, a sweep) is done in an order that starts where the engine
//! is, and the engine is put back once, in [`Session::return_engine`] — the one place besides
//! [`at`] that moves it.

mod events;
pub mod export;
#[cfg(not(target_arch = "wasm32"))]
pub mod folders;
mod photos;
mod prompts;
mod scores;
mod sweep;
mod sweep_data;
mod table;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub use events::{Column, Failure, Operation, PhotoId, Score, SessionEvent};
pub use export::MergedFile;
pub use prompts::{clean_labels, resolve_templates, Prompts, TemplateSet};
pub use sweep_data::{SweepOutcome, SweepPhoto, SweepPoint, SweepResult, SweepScore, SweepSet};

use crate::bench::{self, Timings};
use crate::clip::preprocess::PreprocessConfig;
use crate::merge::Alpha;
use crate::pipeline::WiseFt;
use photos::Photos;
use scores::Scores;

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
            scores: Scores::default(),
            out: Outlet { emit: Box::new(emit), pause: Box::new(|| Box::pin(async {})), cancel: Cancel::default() },
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

    pub fn alpha(&self) -> Alpha {
        self.alpha
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
    }

    /// Takes a newly built model: every photo is preprocessed for it and classified.
    pub async fn install(&mut self, mut wiseft: WiseFt) -> Result<(), Failure> {
        self.unload();
        let prep = wiseft.pair.preprocess();
        wiseft.set_alpha(home(&wiseft, self.alpha)).map_err(|e| Failure::new(Operation::Merge, e))?;
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
        self.scores.keep_only(&[Alpha::ZERO_SHOT, Alpha::FINE_TUNED, alpha]);
        self.refresh(None, true).await
    }

    /// New labels or templates: class embeddings are recomputed, every photo classified again.
    pub async fn set_prompts(&mut self, prompts: Prompts) -> Result<(), Failure> {
        if prompts != self.prompts {
            self.prompts = prompts;
            self.scores.clear();
        }
        self.refresh(None, false).await
    }

    /// Adds (or replaces) photos and classifies them; one that cannot be read is reported with an
    /// [`SessionEvent::ImageError`] and the others go on.
    pub async fn add_photos(&mut self, photos: Vec<(PhotoId, String, Vec<u8>)>) -> Result<(), Failure> {
        let mut ids = Vec::new();
        for (id, name, bytes) in photos {
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

    /// Times the loaded model as `wiseft bench` does; scores are recomputed afterwards.
    pub async fn bench(&mut self, runs: usize, prompts: usize, now: &dyn Fn() -> f64) -> Result<Timings, Failure> {
        let fail = |e| Failure::new(Operation::Bench, e);
        let model = self.model.as_mut().ok_or_else(|| Failure::invalid(Operation::Bench, "load the models first"))?;
        self.out.status(format!("Benchmark: α change, image batches of 1 and 8, {prompts} prompts …"));
        let timings = bench::measure(model, runs, &bench::bench_prompts(prompts), now).await;
        self.scores.clear();
        self.return_engine().map_err(|f| Failure { during: Operation::Bench, ..f })?;
        timings.map_err(fail)
    }

    /// Puts the engine back at the session's α after work elsewhere.
    fn return_engine(&mut self) -> Result<(), Failure> {
        let (alpha, out) = (self.alpha, &mut self.out);
        match self.model.as_mut() {
            Some(model) => at(model, home(model, alpha), out),
            None => Ok(()),
        }
    }

    /// Sends the scores of the given photos (all when `None`) for the three columns, computing
    /// what is missing. `merged_only`: after an α change only the merged column is sent.
    async fn refresh(&mut self, ids: Option<&[PhotoId]>, merged_only: bool) -> Result<(), Failure> {
        let Some(model) = self.model.as_mut() else { return Ok(()) };
        if self.prompts.labels.is_empty() {
            return Ok(());
        }
        let targets = self.photos.ready(ids);
        if targets.is_empty() {
            return Ok(());
        }
        // (α, the columns it stands for), starting where the engine is so that a photo added at
        // the session's α costs one merge away and one back, not three.
        let mut groups: Vec<(Alpha, Vec<Column>)> = Vec::new();
        let mut add = |a: Alpha, c: Column| match groups.iter_mut().find(|(x, _)| *x == a) {
            Some((_, cs)) => cs.push(c),
            None => groups.push((a, vec![c])),
        };
        if model.pair.fine_tuned.is_some() {
            add(self.alpha, Column::Merged);
            if !merged_only {
                add(Alpha::ZERO_SHOT, Column::ZeroShot);
                add(Alpha::FINE_TUNED, Column::FineTuned);
            }
        } else {
            add(Alpha::ZERO_SHOT, Column::ZeroShot);
        }
        let current = model.alpha();
        groups.sort_by_key(|(a, _)| *a != current);

        let prompts = &self.prompts;
        for (alpha, columns) in groups {
            let missing = self.scores.missing(alpha, &targets);
            if !missing.is_empty() {
                at(model, alpha, &mut self.out)?;
                self.out.status(format!(
                    "Encoding {} prompts ({} labels × {} templates) at α = {alpha} …",
                    prompts.count(),
                    prompts.labels.len(),
                    prompts.templates.len()
                ));
                model.classes(&prompts.labels, &prompts.templates).await.map_err(|e| Failure::new(Operation::Labels, e))?;
                for chunk in missing.chunks(IMAGE_CHUNK) {
                    self.out.status(format!("Classifying {} photo(s) at α = {alpha} …", chunk.len()));
                    let probs = model
                        .classify(&self.photos.pixels(chunk), &prompts.labels, &prompts.templates)
                        .await
                        .map_err(|e| Failure::new(Operation::Classify, e))?;
                    for (id, p) in chunk.iter().zip(probs) {
                        self.scores.insert(alpha, *id, p);
                    }
                    send_scores(&self.scores, chunk, alpha, &columns, prompts, &mut self.out);
                }
            }
            let cached: Vec<PhotoId> = targets.iter().copied().filter(|id| !missing.contains(id)).collect();
            if !cached.is_empty() {
                send_scores(&self.scores, &cached, alpha, &columns, prompts, &mut self.out);
            }
        }
        self.return_engine()
    }
}

/// Where the engine rests: the session's α, or 0 when there is no fine-tune (α changes nothing).
fn home(model: &WiseFt, alpha: Alpha) -> Alpha {
    if model.pair.fine_tuned.is_some() {
        alpha
    } else {
        Alpha::ZERO_SHOT
    }
}

/// Moves the engine to `alpha`, saying so when that means a merge.
fn at(model: &mut WiseFt, alpha: Alpha, out: &mut Outlet) -> Result<(), Failure> {
    if model.alpha() != alpha {
        out.status(format!("Merging at α = {alpha} …"));
        model.set_alpha(alpha).map_err(|e| Failure::new(Operation::Merge, e))?;
    }
    Ok(())
}

fn send_scores(scores: &Scores, ids: &[PhotoId], alpha: Alpha, columns: &[Column], prompts: &Prompts, out: &mut Outlet) {
    let list = ids
        .iter()
        .filter_map(|&id| scores.get(alpha, id).map(|p| (id, p)))
        .flat_map(|(id, p)| columns.iter().map(move |&c| Score { image: id, model: c, alpha, probs: p.clone() }))
        .collect();
    out.emit(SessionEvent::Results { labels: prompts.labels.clone(), templates: prompts.templates.len(), scores: list });
}
