//! The Web Worker: owns the downloads, the Cache Storage, the [`WiseFt`] and the photos; answers
//! the page's [`Request`]s one at a time (in order), so the page's main thread never computes.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{AbortController, DedicatedWorkerGlobalScope, MessageEvent, WorkerGlobalScope};

use super::backend::{self, GpuProbe};
use super::fetch::{self, FetchError, Fetcher, Origin};
use super::protocol::*;
use crate::checkpoint::{Checkpoint, SideFiles};
use crate::clip::config::ConfigSource;
use crate::clip::preprocess::{self, PreprocessConfig};
use crate::clip::templates;
use crate::hub;
use super::stream::ToGpu;
use crate::engine::gpu::{GpuLoader, GpuOptions};
use crate::engine::{DeviceChoice, Engine};
use crate::pipeline::{ModelPair, WiseFt};

/// Photos are encoded this many at a time, so results appear progressively.
const IMAGE_CHUNK: usize = 4;

/// The preprocessed pixels of the photos `ids`, in that order (callers pass only photos that have
/// pixels, so results zip back onto `ids`).
fn pixels_of(photos: &[Photo], ids: &[u32]) -> Vec<Vec<f32>> {
    ids.iter().filter_map(|id| photos.iter().find(|p| p.id == *id).and_then(|p| p.pixels.clone())).collect()
}

struct Photo {
    id: u32,
    name: String,
    bytes: Vec<u8>,
    /// Preprocessed for the loaded model; `None` before a model is loaded or when it failed.
    pixels: Option<Vec<f32>>,
}

struct Loaded {
    wiseft: WiseFt,
    /// Where the checkpoints came from, to read them again (the merged-checkpoint export needs the
    /// weights on the host after they were streamed to the GPU).
    sources: (ModelSource, Option<ModelSource>),
    /// Seconds from the load request to the merged model on the engine, and the weights' size.
    load_s: f64,
    checkpoint_mb: f64,
    prep: PreprocessConfig,
    has_fine_tuned: bool,
}

#[derive(Default)]
struct State {
    model: Option<Loaded>,
    photos: Vec<Photo>,
    labels: Vec<String>,
    templates: Vec<String>,
    alpha: f64,
    /// Probabilities per α (as bits) per photo, for the current model, labels and templates.
    scores: HashMap<u64, HashMap<u32, Vec<f32>>>,
}

struct Worker {
    scope: DedicatedWorkerGlobalScope,
    queue: RefCell<VecDeque<Request>>,
    running: Cell<bool>,
    cancelled: Rc<Cell<bool>>,
    abort: RefCell<Option<AbortController>>,
    /// Taken by the request loop while it runs.
    state: RefCell<State>,
    /// What `navigator.gpu` offers (probed once at start).
    probe: RefCell<Option<GpuProbe>>,
}

/// Starts the worker: installs the message handler and says hello.
pub fn start() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    install_panic_hook(scope.clone());
    let worker = Rc::new(Worker {
        scope: scope.clone(),
        queue: RefCell::new(VecDeque::new()),
        running: Cell::new(false),
        cancelled: Rc::new(Cell::new(false)),
        abort: RefCell::new(None),
        probe: RefCell::new(None),
        state: RefCell::new(State { templates: templates::SINGLE.iter().map(|s| s.to_string()).collect(), ..State::default() }),
    });
    let w = worker.clone();
    let onmessage = Closure::<dyn Fn(MessageEvent)>::new(move |ev: MessageEvent| w.clone().receive(ev.data()));
    scope.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();

    spawn_local(async move {
        let probe = backend::probe(&worker.scope).await;
        let cache_available = fetch::open_cache(worker.scope.unchecked_ref()).await.is_some();
        worker.post(Event::Hello {
            version: env!("CARGO_PKG_VERSION"),
            adapter: probe.adapter.clone(),
            gpu_note: probe.note.clone(),
            cache_available,
        });
        *worker.probe.borrow_mut() = Some(probe);
    });
}

/// A panic in the worker reaches the page (and the console) instead of silently stopping it.
fn install_panic_hook(scope: DedicatedWorkerGlobalScope) {
    std::panic::set_hook(Box::new(move |info| {
        console_error_panic_hook::hook(info);
        let event = Event::Failed { seq: 0, what: "crash", message: format!("the engine crashed: {info}. Reload the page."), cancelled: false };
        let _ = scope.post_message(&event.to_js());
    }));
}

impl Worker {
    fn post(&self, event: Event) {
        if let Err(e) = self.scope.post_message(&event.to_js()) {
            web_sys::console::error_2(&"wiseft worker: postMessage failed".into(), &e);
        }
    }

    fn status(&self, text: impl Into<String>) {
        self.post(Event::Status { text: text.into() });
    }

    fn notice(&self, level: &'static str, text: impl Into<String>) {
        self.post(Event::Notice { level, text: text.into(), key: None });
    }

    fn receive(self: Rc<Self>, data: JsValue) {
        let request = match Request::from_js(data) {
            Ok(r) => r,
            Err(e) => {
                self.post(Event::Failed { seq: 0, what: "message", message: e, cancelled: false });
                return;
            }
        };
        if let Request::Cancel = request {
            self.cancelled.set(true);
            if let Some(ctl) = self.abort.borrow().as_ref() {
                ctl.abort();
            }
            return;
        }
        self.queue.borrow_mut().push_back(request);
        if !self.running.get() {
            self.running.set(true);
            spawn_local(async move { self.run().await });
        }
    }

    /// Processes queued requests in order; a `set_alpha` or `set_labels` followed by another of
    /// the same kind is skipped (only the latest matters while a slider moves).
    async fn run(self: Rc<Self>) {
        let mut st = self.state.take();
        loop {
            let next = self.queue.borrow_mut().pop_front();
            let Some(request) = next else { break };
            let superseded = {
                let q = self.queue.borrow();
                match &request {
                    Request::SetAlpha(_) => q.iter().any(|r| matches!(r, Request::SetAlpha(_))),
                    Request::SetLabels(_) => q.iter().any(|r| matches!(r, Request::SetLabels(_))),
                    _ => false,
                }
            };
            let seq = request.seq().unwrap_or(0);
            if !superseded {
                self.handle(&mut st, request).await;
            }
            self.post(Event::Done { seq });
        }
        *self.state.borrow_mut() = st;
        self.running.set(false);
    }

    async fn handle(&self, st: &mut State, request: Request) {
        match request {
            Request::Load(r) => {
                let seq = r.seq;
                if let Err(e) = self.load(st, r).await {
                    let (message, cancelled) = match e {
                        FetchError::Cancelled => ("Loading cancelled.".to_string(), true),
                        FetchError::NotFound { url, status } => (not_found_message(&url, status), false),
                        FetchError::Failed(m) => (m, false),
                        FetchError::Unusable(e) => (e.to_string(), false),
                    };
                    self.post(Event::Failed { seq, what: "load", message, cancelled });
                }
                *self.abort.borrow_mut() = None;
            }
            Request::SetAlpha(r) => {
                if let Err(e) = crate::merge::check_alpha(r.alpha) {
                    self.post(Event::Failed { seq: r.seq, what: "alpha", message: e.to_string(), cancelled: false });
                    return;
                }
                st.alpha = r.alpha;
                let keep = [0f64.to_bits(), 1f64.to_bits(), r.alpha.to_bits()];
                st.scores.retain(|a, _| keep.contains(a));
                self.refresh(st, None, r.seq, true).await;
            }
            Request::SetLabels(r) => {
                let list = match r.templates.set.as_str() {
                    "custom" => r.templates.list.clone(),
                    name => match templates::builtin(name) {
                        Some(t) => t.iter().map(|s| s.to_string()).collect(),
                        None => {
                            let message = format!("unknown template set `{name}` (single, imagenet80, custom)");
                            self.post(Event::Failed { seq: r.seq, what: "labels", message, cancelled: false });
                            return;
                        }
                    },
                };
                let labels: Vec<String> = r.labels.iter().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
                let templates: Vec<String> = list.into_iter().filter(|t| !t.trim().is_empty()).collect();
                if labels != st.labels || templates != st.templates {
                    st.labels = labels;
                    st.templates = if templates.is_empty() { templates::SINGLE.iter().map(|s| s.to_string()).collect() } else { templates };
                    st.scores.clear();
                }
                self.refresh(st, None, r.seq, false).await;
            }
            Request::AddImages(r) => {
                let mut ids = Vec::new();
                for input in r.images {
                    let bytes = match fetch::read_blob(&input.blob).await {
                        Ok(b) => b,
                        Err(e) => {
                            self.post(Event::ImageError { image: input.id, message: format!("could not read the file: {e}") });
                            continue;
                        }
                    };
                    let mut photo = Photo { id: input.id, name: input.name, bytes, pixels: None };
                    if let Some(model) = &st.model {
                        match preprocess::preprocess(&photo.bytes, &photo.name, &model.prep) {
                            Ok(p) => photo.pixels = Some(p),
                            Err(e) => self.post(Event::ImageError { image: photo.id, message: e.to_string() }),
                        }
                    }
                    ids.push(photo.id);
                    st.photos.retain(|p| p.id != photo.id);
                    st.photos.push(photo);
                }
                self.refresh(st, Some(&ids), r.seq, false).await;
            }
            Request::RemoveImage(r) => {
                match r.id {
                    Some(id) => st.photos.retain(|p| p.id != id),
                    None => st.photos.clear(),
                }
                let alive: Vec<u32> = st.photos.iter().map(|p| p.id).collect();
                for per_alpha in st.scores.values_mut() {
                    per_alpha.retain(|id, _| alive.contains(id));
                }
            }
            Request::ClearCache(r) => {
                let before = fetch::storage_estimate(&self.scope).await.map(|e| e.0);
                match fetch::clear_cache(&self.scope).await {
                    Ok(entries) => {
                        let after = fetch::storage_estimate(&self.scope).await.map(|e| e.0);
                        self.post(Event::CacheCleared { entries, usage_before: before, usage_after: after });
                    }
                    Err(message) => self.post(Event::Failed { seq: r.seq, what: "cache", message, cancelled: false }),
                }
            }
            Request::ProbeCache(r) => {
                let urls = fetch::cached(&self.scope, &r.urls).await;
                self.post(Event::Cached { urls });
            }
            Request::Sweep(r) => self.sweep(st, r).await,
            Request::ExportMerged(r) => self.export_merged(st, r).await,
            Request::Bench(r) => self.bench(st, r).await,
            Request::Cancel => {}
        }
    }

    /// Classifies the given photos at every α (reusing scores already computed), posting progress;
    /// the engine is put back at the page's α afterwards.
    async fn sweep(&self, st: &mut State, r: SweepRequest) {
        self.cancelled.set(false);
        let seq = r.seq;
        let fail = |message: String| Event::Failed { seq, what: "sweep", message, cancelled: false };
        let Some(model) = st.model.as_mut() else {
            self.post(fail("load the models first".into()));
            return;
        };
        if !model.has_fine_tuned {
            self.post(fail("a sweep needs a fine-tuned checkpoint (α has no effect without one)".into()));
            return;
        }
        if st.labels.is_empty() {
            self.post(fail("no labels".into()));
            return;
        }
        for a in &r.alphas {
            if let Err(e) = crate::merge::check_alpha(*a) {
                self.post(fail(e.to_string()));
                return;
            }
        }
        let photos: Vec<SweepPhoto> = r
            .photos
            .iter()
            .filter(|p| p.label < st.labels.len() && st.photos.iter().any(|q| q.id == p.id && q.pixels.is_some()))
            .cloned()
            .collect();
        if photos.is_empty() {
            self.post(fail("no photo with a true label among the current labels".into()));
            return;
        }
        let n = r.alphas.len() as u32;
        let mut points = Vec::new();
        let mut failed = None;
        for (k, &alpha) in r.alphas.iter().enumerate() {
            if self.cancelled.get() {
                break;
            }
            let have = st.scores.entry(alpha.to_bits()).or_default();
            let missing: Vec<u32> = photos.iter().map(|p| p.id).filter(|id| !have.contains_key(id)).collect();
            if !missing.is_empty() {
                self.status(format!("Sweep: α = {alpha} ({} of {n}) …", k + 1));
                if let Err(e) = model.wiseft.set_alpha(alpha) {
                    failed = Some(e.to_string());
                    break;
                }
                for chunk in missing.chunks(IMAGE_CHUNK) {
                    let pixels = pixels_of(&st.photos, chunk);
                    match model.wiseft.classify(&pixels, &st.labels, &st.templates).await {
                        Ok(probs) => {
                            for (id, p) in chunk.iter().zip(probs) {
                                have.insert(*id, p);
                            }
                        }
                        Err(e) => {
                            failed = Some(e.to_string());
                            break;
                        }
                    }
                }
                if failed.is_some() {
                    break;
                }
            }
            let scores = photos
                .iter()
                .filter_map(|p| {
                    let probs = have.get(&p.id)?;
                    let top = argmax(probs);
                    Some(SweepScore { image: p.id, predicted: st.labels[top].clone(), top, p_true: probs[p.label] })
                })
                .collect();
            points.push(SweepPoint { alpha, scores });
            self.post(Event::SweepProgress { seq, k: k as u32 + 1, n, alpha });
            // Let the cancel message in.
            yield_now().await;
        }
        // Keep only what the page shows (0, 1, its α) so memory does not grow with sweeps.
        let keep = [0f64.to_bits(), 1f64.to_bits(), st.alpha.to_bits()];
        st.scores.retain(|a, _| keep.contains(a));
        if let Err(e) = model.wiseft.set_alpha(st.alpha) {
            failed.get_or_insert(e.to_string());
        }
        if let Some(message) = failed {
            self.post(fail(message));
        } else if self.cancelled.get() {
            self.post(Event::Failed { seq, what: "sweep", message: "Sweep cancelled.".into(), cancelled: true });
        } else {
            self.post(Event::Sweep { seq, labels: st.labels.clone(), points });
        }
    }

    /// Times the loaded model as `wiseft bench` does (`?bench=1`), then puts α back.
    async fn bench(&self, st: &mut State, r: BenchRequest) {
        let fail = |message: String| Event::Failed { seq: r.seq, what: "bench", message, cancelled: false };
        let Some(model) = st.model.as_mut() else {
            self.post(fail("load the models first".into()));
            return;
        };
        self.status(format!("Benchmark: α change, image batches of 1 and 8, {} prompts …", r.prompts));
        let now = || now_s();
        let timings = crate::bench::measure(&mut model.wiseft, r.runs, &crate::bench::bench_prompts(r.prompts), &now).await;
        st.scores.clear();
        let timings = timings.and_then(|t| model.wiseft.set_alpha(st.alpha).map(|_| t));
        match timings {
            Ok(timings) => self.post(Event::Bench {
                seq: r.seq,
                backend: {
                    let probe = self.probe.borrow().clone().unwrap_or(backend::GpuProbe { adapter: None, note: String::new() });
                    backend::report(model.wiseft.engine(), String::new(), &probe).name
                },
                checkpoint_mb: model.checkpoint_mb,
                load_s: model.load_s,
                timings,
                wasm_memory_mb: wasm_memory_bytes() as f64 / 1e6,
            }),
            Err(e) => self.post(fail(e.to_string())),
        }
    }

    /// The merged checkpoint at α, as `wiseft merge` writes it, posted as bytes (transferred).
    /// Weights that were streamed to the GPU are read again from the cache (or the local files).
    async fn export_merged(&self, st: &mut State, r: ExportRequest) {
        let fail = |message: String| Event::Failed { seq: r.seq, what: "export", message, cancelled: false };
        let Some(model) = st.model.as_ref() else {
            self.post(fail("load the models first".into()));
            return;
        };
        let pair = &model.wiseft.pair;
        if pair.fine_tuned.is_none() {
            self.post(fail("no fine-tuned checkpoint is loaded: there is nothing to merge".into()));
            return;
        }
        let on_host = |c: &Checkpoint| c.tensors.values().all(|t| t.on_host());
        let reread;
        let (zs, ft) = if on_host(&pair.zero_shot) && pair.fine_tuned.as_ref().is_some_and(on_host) {
            (&pair.zero_shot, pair.fine_tuned.as_ref().expect("checked"))
        } else {
            self.status("Reading both checkpoints again (their weights are on the GPU) …");
            match self.read_again(&model.sources).await {
                Ok(pair) => {
                    reread = pair;
                    (&reread.0, &reread.1)
                }
                Err(e) => {
                    let message = match e {
                        FetchError::Cancelled => "Export cancelled.".to_string(),
                        FetchError::NotFound { url, status } => not_found_message(&url, status),
                        FetchError::Failed(m) => m,
                        FetchError::Unusable(e) => e.to_string(),
                    };
                    self.post(fail(message));
                    return;
                }
            }
        };
        self.status(format!("Writing the merged checkpoint at α = {} …", r.alpha));
        let bytes = crate::merge::check_alpha(r.alpha)
            .and_then(|_| pair.plan.merge(zs, Some(ft), r.alpha))
            .and_then(|merged| crate::checkpoint::safetensors::write(merged.iter().map(|(n, t)| (n.as_str(), t))));
        match bytes {
            Ok(bytes) => {
                let array = js_sys::Uint8Array::from(bytes.as_slice());
                drop(bytes);
                let msg = js_sys::Object::new();
                let set = |k: &str, v: &JsValue| {
                    let _ = js_sys::Reflect::set(&msg, &JsValue::from_str(k), v);
                };
                set("type", &"merged".into());
                set("seq", &JsValue::from(r.seq));
                set("alpha", &JsValue::from(r.alpha));
                set("bytes", &array);
                let config = pair.zero_shot.config_json.clone().unwrap_or_else(|| {
                    serde_json::to_string_pretty(&pair.zero_shot.config.to_hf_json()).unwrap_or_default()
                });
                set("config", &JsValue::from_str(&config));
                let transfer = js_sys::Array::of1(&array.buffer());
                if let Err(e) = self.scope.post_message_with_transfer(&msg, &transfer) {
                    web_sys::console::error_2(&"wiseft worker: postMessage failed".into(), &e);
                }
            }
            Err(e) => self.post(fail(e.to_string())),
        }
    }

    async fn load(&self, st: &mut State, r: LoadRequest) -> Result<(), FetchError> {
        let started = now_s();
        // Free the old models first: two CLIPs are large for wasm's 4 GB.
        st.model = None;
        st.scores.clear();
        for p in &mut st.photos {
            p.pixels = None;
        }
        self.cancelled.set(false);
        let fetcher = self.fetcher().await?;
        if !fetcher.has_cache() {
            self.notice("info", "Cache Storage is unavailable here (the page needs https or localhost), so a reload downloads the models again.");
        }

        let known = self.probe.borrow().clone();
        let probe = match known {
            Some(p) => p,
            None => {
                let p = backend::probe(&self.scope).await;
                *self.probe.borrow_mut() = Some(p.clone());
                p
            }
        };
        let (device, mut reason) = backend::choose(&probe, r.backend.as_deref());
        // The GPU engine's device is opened first, so that tensors go to it as they download.
        let mut loader = None;
        let mut fallback = None;
        if device != DeviceChoice::Cpu {
            self.status("Opening the GPU …");
            match GpuLoader::new(GpuOptions::default()).await {
                Ok(l) => loader = Some(l),
                Err(e) if device == DeviceChoice::Gpu => return Err(FetchError::Failed(e.to_string())),
                Err(e) => fallback = Some(format!("the GPU engine could not start ({e})")),
            }
        }

        let (zero_shot, zs_info) = self.checkpoint(&fetcher, &r.zero_shot, "zero-shot", loader.as_mut()).await?;
        let fine_tuned = match &r.fine_tuned {
            Some(src) if !src.urls.is_empty() || !src.local_files().is_empty() => {
                Some(self.checkpoint(&fetcher, src, "fine-tuned", loader.as_mut()).await?)
            }
            _ => None,
        };
        let (fine_tuned, ft_info) = match fine_tuned {
            Some((c, i)) => (Some(c), Some(i)),
            None => (None, None),
        };
        let models_bytes = zs_info.bytes + ft_info.as_ref().map_or(0, |i| i.bytes);
        self.status("Planning the merge …");
        let pair = ModelPair::new(zero_shot, fine_tuned).map_err(|e| FetchError::Failed(e.to_string()))?;
        let has_fine_tuned = pair.fine_tuned.is_some();
        let report = has_fine_tuned.then(|| pair.plan.report.clone());
        let prep = pair.preprocess();
        let image_size = prep.output_size().0;

        self.status(format!("Building the merged model at α = {} …", st.alpha));
        let alpha = if has_fine_tuned { st.alpha } else { 0.0 };
        let streamed = pair.zero_shot.tensors.values().chain(pair.fine_tuned.iter().flat_map(|f| f.tensors.values())).any(|t| !t.on_host());
        let wiseft = match loader {
            Some(loader) => match loader.finish(&pair, alpha).await {
                Ok(engine) => WiseFt::with_engine(pair, alpha, Engine::Gpu(engine), None),
                Err(e) if device == DeviceChoice::Auto && !streamed => {
                    fallback = Some(format!("the GPU engine failed ({e})"));
                    check_cpu_memory(&pair)?;
                    WiseFt::new(pair, alpha, DeviceChoice::Cpu).await
                }
                Err(e) if device == DeviceChoice::Auto => {
                    return Err(FetchError::Failed(format!(
                        "{e}. The checkpoints went to the GPU as they downloaded; add backend=cpu to the address to use the CPU back end instead (the files are stored, nothing is downloaded again)."
                    )))
                }
                Err(e) => Err(e),
            },
            None => {
                check_cpu_memory(&pair)?;
                WiseFt::new(pair, alpha, DeviceChoice::Cpu).await
            }
        }
        .map_err(|e| FetchError::Failed(e.to_string()))?;
        wiseft.engine().finish().await.map_err(|e| FetchError::Failed(e.to_string()))?;
        let load_s = now_s() - started;
        let checkpoint_mb = models_bytes as f64 / 1e6;
        if let Some(why) = fallback {
            reason = format!("CPU fallback: {why}");
        }
        let backend = backend::report(wiseft.engine(), reason, &probe);
        let mut models = vec![zs_info];
        models.extend(ft_info);
        self.post(Event::Loaded { backend, report, models, image_size, alpha: st.alpha });

        for photo in &mut st.photos {
            match preprocess::preprocess(&photo.bytes, &photo.name, &prep) {
                Ok(p) => photo.pixels = Some(p),
                Err(e) => self.post(Event::ImageError { image: photo.id, message: e.to_string() }),
            }
        }
        let sources = (r.zero_shot, r.fine_tuned);
        st.model = Some(Loaded { wiseft, load_s, checkpoint_mb, sources, prep, has_fine_tuned });
        self.refresh(st, None, r.seq, false).await;
        Ok(())
    }

    /// Both checkpoints read again into memory (from the cache, or the local files).
    async fn read_again(&self, sources: &(ModelSource, Option<ModelSource>)) -> Result<(Checkpoint, Checkpoint), FetchError> {
        let fetcher = self.fetcher().await?;
        let (zs, _) = self.checkpoint(&fetcher, &sources.0, "zero-shot", None).await?;
        let ft_source = sources.1.as_ref().ok_or_else(|| FetchError::Failed("no fine-tuned checkpoint".into()))?;
        let (ft, _) = self.checkpoint(&fetcher, ft_source, "fine-tuned", None).await?;
        Ok((zs, ft))
    }

    /// A fetcher for one load (or re-read) with a fresh abort signal.
    async fn fetcher(&self) -> Result<Fetcher, FetchError> {
        let controller = AbortController::new().map_err(|e| FetchError::Failed(fetch::error_text(&e)))?;
        let signal = controller.signal();
        *self.abort.borrow_mut() = Some(controller);
        let scope: WorkerGlobalScope = self.scope.clone().unchecked_into();
        let post_scope = self.scope.clone();
        let post: Rc<dyn Fn(Event)> = Rc::new(move |e: Event| {
            let _ = post_scope.post_message(&e.to_js());
        });
        let cache = fetch::open_cache(&scope).await;
        Ok(Fetcher::new(scope, cache, signal, self.cancelled.clone(), post))
    }

    /// Receives the weights of `source` into memory or, with a GPU loader, tensor by tensor onto
    /// the device. `Ok(None)`: no file at the URL (404).
    async fn receive_weights<'g>(
        &self,
        fetcher: &Fetcher,
        source: Weights<'_>,
        role: &'static str,
        gpu: Option<&'g mut GpuLoader>,
    ) -> Result<Option<Received<'g>>, FetchError> {
        let name = source.name();
        let mut into = match gpu {
            Some(l) => Destination::Gpu(ToGpu::new(&name, role == "fine-tuned", l)),
            None => Destination::Memory(Vec::new()),
        };
        let sink: &mut dyn fetch::Sink = match &mut into {
            Destination::Gpu(s) => s,
            Destination::Memory(bytes) => bytes,
        };
        let origin = match source {
            Weights::Url(url) => match fetcher.get_into(url, role, "weights", sink).await.map_err(|e| unusable(e, role))? {
                Some(o) => o,
                None => return Ok(None),
            },
            Weights::File(f) => {
                fetcher.read_file_into(f, role, sink).await.map_err(|e| unusable(e, role))?;
                Origin::Local
            }
        };
        let len = sink.len() as u64;
        Ok(Some(Received { name, into, origin, len }))
    }

    /// The checkpoint from received weights and their side files; a download is stored for next
    /// time, a stored file that turns out unusable is forgotten.
    async fn read_checkpoint(
        &self,
        fetcher: &Fetcher,
        source: Weights<'_>,
        received: Received<'_>,
        side: SideFiles,
        role: &'static str,
    ) -> Result<(Checkpoint, Origin, u64), FetchError> {
        let Received { name, into, origin, len } = received;
        self.status(format!("Reading the {role} checkpoint ({}) …", fetch::mb(len)));
        let (read, bytes) = match into {
            Destination::Gpu(s) => (s.finish(side).map(|(c, parts)| (c, parts.map(Stored::Parts))), Vec::new()),
            Destination::Memory(bytes) => (Checkpoint::from_bytes(&bytes, &name, side).map(|c| (c, Some(Stored::Bytes))), bytes),
        };
        let (ckpt, stored) = match read {
            Ok(r) => r,
            Err(e) => {
                if let Weights::Url(url) = source {
                    fetcher.forget(url).await;
                }
                return Err(unusable(FetchError::Unusable(e), role));
            }
        };
        if let (Weights::Url(url), Origin::Network, Some(stored)) = (source, origin, stored) {
            self.status(format!("Storing the {role} checkpoint for next time …"));
            let kept = match stored {
                Stored::Parts(parts) => fetcher.store_parts(url, &parts, len as usize).await,
                Stored::Bytes => fetcher.store(url, &bytes).await,
            };
            if let Err(msg) = kept {
                self.notice("warn", msg);
            }
        }
        Ok((ckpt, origin, len))
    }

    /// One checkpoint from URLs (first that exists; side files from beside it) or local files.
    async fn checkpoint(
        &self,
        fetcher: &Fetcher,
        src: &ModelSource,
        role: &'static str,
        mut gpu: Option<&mut GpuLoader>,
    ) -> Result<(Checkpoint, ModelInfo), FetchError> {
        let files = src.local_files();
        if !files.is_empty() {
            return self.local_checkpoint(fetcher, &files, role, gpu).await;
        }
        let mut tried = Vec::new();
        for (i, url) in src.urls.iter().enumerate() {
            self.status(format!("Fetching the {role} checkpoint …"));
            let Some(received) = self.receive_weights(fetcher, Weights::Url(url), role, gpu.as_deref_mut()).await? else {
                tried.push(url.clone());
                if let Some(next) = src.urls.get(i + 1) {
                    self.notice("info", format!("{role}: no file at {url} (HTTP 404); trying {next}"));
                }
                continue;
            };
            let mut side = SideFiles::default();
            let mut side_origin = Vec::new();
            for file in hub::SIDE_FILES {
                let side_url = hub::sibling_url(url, file);
                let got = fetcher.get(&side_url, role, file).await?;
                let text = match got {
                    Some(g) => {
                        side_origin.push((side_url.clone(), Some(g.bytes.clone()), g.origin));
                        Some((side_url.clone(), String::from_utf8_lossy(&g.bytes).into_owned()))
                    }
                    None => {
                        side_origin.push((side_url.clone(), None, Origin::Network));
                        None
                    }
                };
                match file {
                    "config.json" => side.config = text,
                    _ => side.preprocessor = text,
                }
            }
            let (ckpt, origin, len) = self.read_checkpoint(fetcher, Weights::Url(url), received, side, role).await?;
            for (side_url, bytes, origin) in side_origin {
                match (bytes, origin) {
                    (Some(b), Origin::Network) => {
                        let _ = fetcher.store(&side_url, &b).await;
                    }
                    (None, _) => fetcher.store_absent(&side_url).await,
                    _ => {}
                }
            }
            let info = self.model_info(&ckpt, role, origin, len);
            return Ok((ckpt, info));
        }
        match tried.len() {
            0 => Err(FetchError::Failed(format!("no address given for the {role} checkpoint"))),
            1 => Err(FetchError::NotFound { url: tried[0].clone(), status: 404 }),
            _ => Err(FetchError::Failed(format!(
                "{role}: no file at any of {} (HTTP 404 each). Check the repository name, revision and file name, or open the file with \"Local files\".",
                tried.join(", ")
            ))),
        }
    }

    async fn local_checkpoint(
        &self,
        fetcher: &Fetcher,
        files: &[web_sys::File],
        role: &'static str,
        gpu: Option<&mut GpuLoader>,
    ) -> Result<(Checkpoint, ModelInfo), FetchError> {
        let is_side = |n: &str| n.ends_with(".json");
        let weights: Vec<&web_sys::File> = files.iter().filter(|f| !is_side(&f.name())).collect();
        let weights = match weights.as_slice() {
            [one] => *one,
            [] => {
                return Err(FetchError::Failed(format!(
                    "{role}: no weights file among the local files (choose model.safetensors or pytorch_model.bin, optionally with config.json and preprocessor_config.json)"
                )))
            }
            many => {
                let names: Vec<String> = many.iter().map(|f| f.name()).collect();
                return Err(FetchError::Failed(format!("{role}: choose one weights file, not {}", names.join(", "))));
            }
        };
        let mut side = SideFiles::default();
        for f in files.iter().filter(|f| is_side(&f.name())) {
            let got = fetcher.read_file(f, role).await?;
            let text = Some((f.name(), String::from_utf8_lossy(&got.bytes).into_owned()));
            if f.name().contains("preprocessor") {
                side.preprocessor = text;
            } else {
                side.config = text;
            }
        }
        self.status(format!("Reading the {role} file {} …", weights.name()));
        let received = self.receive_weights(fetcher, Weights::File(weights), role, gpu).await?.expect("a local file is always there");
        let (ckpt, origin, len) = self.read_checkpoint(fetcher, Weights::File(weights), received, side, role).await?;
        let info = self.model_info(&ckpt, role, origin, len);
        Ok((ckpt, info))
    }

    fn model_info(&self, c: &Checkpoint, role: &'static str, origin: Origin, bytes: u64) -> ModelInfo {
        let (config_file, assumptions) = match &c.config_source {
            ConfigSource::File(f) => (Some(f.clone()), Vec::new()),
            ConfigSource::Inferred { assumptions } => {
                self.notice(
                    "info",
                    format!("{role}: no config.json beside {}; the configuration was inferred from the tensor shapes ({})", c.name, assumptions.join("; ")),
                );
                (None, assumptions.clone())
            }
        };
        ModelInfo {
            role,
            name: c.name.clone(),
            format: match c.format {
                crate::checkpoint::Format::Safetensors => "safetensors",
                crate::checkpoint::Format::PyTorch => "PyTorch zip",
            },
            layout: c.layout.class_name(),
            parameters: c.parameter_count(),
            tensors: c.tensors.len(),
            dtypes: c.dtypes().iter().map(|(d, n)| format!("{d:?} ×{n}")).collect(),
            config_file,
            assumptions,
            origin: origin.as_str(),
            bytes,
        }
    }

    /// Sends the scores of the given photos (all when `None`) for the three models, computing what
    /// is missing. `merged_only`: after an α change only the merged model's column is sent.
    async fn refresh(&self, st: &mut State, ids: Option<&[u32]>, seq: u32, merged_only: bool) {
        let Some(model) = st.model.as_mut() else { return };
        if st.labels.is_empty() {
            return;
        }
        let targets: Vec<u32> =
            st.photos.iter().filter(|p| p.pixels.is_some() && ids.is_none_or(|ids| ids.contains(&p.id))).map(|p| p.id).collect();
        if targets.is_empty() {
            return;
        }
        // (α, the models it stands for)
        let mut groups: Vec<(f64, Vec<&'static str>)> = Vec::new();
        let mut add = |a: f64, m: &'static str| match groups.iter_mut().find(|(x, _)| *x == a) {
            Some((_, ms)) => ms.push(m),
            None => groups.push((a, vec![m])),
        };
        if model.has_fine_tuned {
            if !merged_only {
                add(0.0, "zero-shot");
                add(1.0, "fine-tuned");
            }
            add(st.alpha, "merged");
        } else {
            add(0.0, "zero-shot");
        }
        // Start at the engine's current α (no re-merge), then the others.
        let current = model.wiseft.alpha();
        groups.sort_by_key(|(a, _)| *a != current);

        let prompts = st.labels.len() * st.templates.len();
        for (alpha, kinds) in groups {
            let have = st.scores.entry(alpha.to_bits()).or_default();
            let missing: Vec<u32> = targets.iter().copied().filter(|id| !have.contains_key(id)).collect();
            if !missing.is_empty() {
                if model.wiseft.alpha() != alpha {
                    self.status(format!("Merging at α = {alpha} …"));
                    if let Err(e) = model.wiseft.set_alpha(alpha) {
                        self.post(Event::Failed { seq, what: "merge", message: e.to_string(), cancelled: false });
                        return;
                    }
                }
                self.status(format!("Encoding {prompts} prompts ({} labels × {} templates) at α = {alpha} …", st.labels.len(), st.templates.len()));
                if let Err(e) = model.wiseft.classes(&st.labels, &st.templates).await {
                    self.post(Event::Failed { seq, what: "labels", message: e.to_string(), cancelled: false });
                    return;
                }
                for chunk in missing.chunks(IMAGE_CHUNK) {
                    self.status(format!("Classifying {} photo(s) at α = {alpha} …", chunk.len()));
                    let pixels = pixels_of(&st.photos, chunk);
                    match model.wiseft.classify(&pixels, &st.labels, &st.templates).await {
                        Ok(probs) => {
                            for (id, p) in chunk.iter().zip(probs) {
                                have.insert(*id, p);
                            }
                            self.send_scores(have, chunk, alpha, &kinds, &st.labels, st.templates.len());
                        }
                        Err(e) => {
                            self.post(Event::Failed { seq, what: "classify", message: e.to_string(), cancelled: false });
                            return;
                        }
                    }
                }
            }
            let cached: Vec<u32> = targets.iter().copied().filter(|id| !missing.contains(id)).collect();
            if !cached.is_empty() {
                self.send_scores(have, &cached, alpha, &kinds, &st.labels, st.templates.len());
            }
        }
    }

    fn send_scores(&self, have: &HashMap<u32, Vec<f32>>, ids: &[u32], alpha: f64, kinds: &[&'static str], labels: &[String], templates: usize) {
        let scores = ids
            .iter()
            .filter_map(|id| have.get(id).map(|p| (id, p)))
            .flat_map(|(id, p)| kinds.iter().map(move |k| Scores { image: *id, model: k, alpha, probs: p.clone() }))
            .collect();
        self.post(Event::Results { labels: labels.to_vec(), templates, scores });
    }
}

/// Size of this module's WebAssembly memory (it grows and never shrinks: the peak heap).
fn wasm_memory_bytes() -> u64 {
    core::arch::wasm32::memory_size(0) as u64 * 65536
}

/// What a wasm32 memory can grow to.
const WASM_MEMORY_LIMIT: u64 = 4 << 30;

/// Refuses, with the sizes, a CPU engine whose merged tensors would not fit in what is left of
/// the 4 GB wasm memory: running out there stops the worker with a bare trap. Conservative: the
/// memory's size also counts space the allocator has freed and could reuse.
fn check_cpu_memory(pair: &ModelPair) -> Result<(), FetchError> {
    // The CPU engine's merged tensors are new; everything else it shares with the checkpoints.
    let (used, merged) = (wasm_memory_bytes(), pair.plan.report.interpolated_parameters as u64 * 4);
    if used + merged <= WASM_MEMORY_LIMIT {
        return Ok(());
    }
    Err(FetchError::Failed(format!(
        "these checkpoints are too large for the CPU back end: they take {} MB of the page's memory and the merged model needs {} MB more, past WebAssembly's limit of {} MB. \
         A browser with WebGPU keeps them on the GPU instead; or choose smaller checkpoints (ViT-B/32 or ViT-B/16).",
        used / 1_000_000,
        merged / 1_000_000,
        WASM_MEMORY_LIMIT / 1_000_000
    )))
}

/// Seconds on the worker's monotonic clock.
fn now_s() -> f64 {
    let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
    scope.performance().map_or_else(js_sys::Date::now, |p| p.now()) / 1e3
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold(0, |best, (i, &x)| if x > v[best] { i } else { best })
}

/// Gives the event loop a turn (so a `cancel` message is received between sweep steps).
async fn yield_now() {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
        let _ = scope.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, 0);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// Where a checkpoint's weights come from.
#[derive(Clone, Copy)]
enum Weights<'a> {
    Url(&'a str),
    File(&'a web_sys::File),
}

impl Weights<'_> {
    fn name(&self) -> String {
        match self {
            Weights::Url(u) => u.to_string(),
            Weights::File(f) => f.name(),
        }
    }
}

/// Weights received, not yet read as a checkpoint.
struct Received<'g> {
    name: String,
    into: Destination<'g>,
    origin: Origin,
    len: u64,
}

/// Where received weights are: in memory, or on the GPU tensor by tensor.
enum Destination<'g> {
    Memory(Vec<u8>),
    Gpu(ToGpu<'g>),
}

/// What to store in the cache after a download: the bytes read into memory, or the chunks kept
/// while streaming to the GPU.
enum Stored {
    Bytes,
    Parts(js_sys::Array),
}

/// A file that arrived but is not a checkpoint, said with what to do about it.
fn unusable(e: FetchError, role: &str) -> FetchError {
    match e {
        FetchError::Unusable(e) => {
            let hint = match e {
                crate::Error::Checkpoint { .. } | crate::Error::Tensor { .. } => format!(
                    " The {role} file at this address is not a usable CLIP checkpoint (cut short, or not a safetensors / PyTorch file); it was not stored. Check the address, or use another copy of the file."
                ),
                _ => String::new(),
            };
            FetchError::Failed(format!("{e}.{hint}"))
        }
        other => other,
    }
}

fn not_found_message(url: &str, status: u16) -> String {
    format!(
        "{url}: HTTP {status} Not Found — there is no file at this address. Check the repository name, the revision and the file name (hub files are at https://huggingface.co/OWNER/NAME/resolve/REVISION/model.safetensors), or open the file with \"Local files\"."
    )
}
