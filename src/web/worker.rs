//! The Web Worker: a thin adapter over [`Session`]. Messages in ([`Request`]), session calls,
//! events out ([`Event`]); requests are answered one at a time, in order, each with one `done`.
//! Loading lives in [`super::load`], the session's logic in [`crate::session`].

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::rc::Rc;

use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{AbortController, DedicatedWorkerGlobalScope, MessageEvent, WorkerGlobalScope};

use super::backend::{self, GpuProbe};
use super::error::LoadError;
use super::fetch;
use super::load::{self, Loader};
use super::protocol::*;
use super::threads;
use crate::checkpoint::provenance::SourceRecord;
use crate::engine::gpu::DeviceSwitch;
use crate::engine::{Device, Engine};
use crate::merge::Recipe;
use crate::choose::layerwise::Search;
use crate::session::{Cancel, Failure, LayerwiseOutcome, Operation, Prompts, Session, SessionEvent, SweepOutcome};

/// What the worker keeps besides the session.
#[derive(Default)]
struct Loaded {
    load_s: f64,
    checkpoint_mb: f64,
    backend_name: String,
    /// SHA-256 of the weights files by name, once an export computed them.
    digests: BTreeMap<String, String>,
}

struct Worker {
    scope: DedicatedWorkerGlobalScope,
    post: Rc<dyn Fn(Event)>,
    queue: RefCell<VecDeque<Request>>,
    running: Cell<bool>,
    cancel: Cancel,
    abort: Rc<RefCell<Option<AbortController>>>,
    /// Taken by the request loop while it runs.
    session: RefCell<Option<Session>>,
    loaded: RefCell<Loaded>,
    /// The request being handled (sweep progress carries it).
    current: Rc<Cell<u32>>,
    /// What `navigator.gpu` offers (probed once at start).
    probe: RefCell<Option<GpuProbe>>,
    /// The last load's stall timeout (ms), kept for re-reading its checkpoints later.
    stall_ms: Cell<f64>,
    /// The last load asked for: to load again when the GPU device is lost, and where the
    /// checkpoints came from, to read them again (the merged-checkpoint export needs the weights
    /// on the host after they were streamed to the GPU).
    last_load: RefCell<Option<LoadRequest>>,
    /// GPU devices lost in this page session: the first is recreated, after that the CPU runs.
    losses: Cell<u32>,
    /// The test hook's way to the GPU engine's device (`lose_device`).
    switch: RefCell<Option<DeviceSwitch>>,
    /// Why the next load's back end runs, when the worker chose it (after a lost device).
    reason: RefCell<Option<String>>,
}

/// Starts the worker: installs the message handler and says hello.
pub fn start() {
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    // The threaded build's pool threads instantiate this same module (www/thread-worker.js): they
    // only run rayon's loop, not the engine.
    if js_sys::Reflect::get(&scope, &"wiseftThread".into()).ok().and_then(|v| v.as_bool()) == Some(true) {
        return;
    }
    install_panic_hook();
    let post_scope = scope.clone();
    let post: Rc<dyn Fn(Event)> = Rc::new(move |event: Event| post_event(&post_scope, &event));
    let cancel = Cancel::default();
    let current = Rc::new(Cell::new(0));
    let session = {
        let (post, current) = (post.clone(), current.clone());
        Session::new(move |e| post(session_event(e, current.get())))
            .with_pause(Box::new(|| Box::pin(yield_now())))
            .with_cancel(cancel.clone())
            .with_clock(Box::new(load::now_s))
    };
    let worker = Rc::new(Worker {
        scope: scope.clone(),
        post,
        queue: RefCell::new(VecDeque::new()),
        running: Cell::new(false),
        cancel,
        abort: Rc::new(RefCell::new(None)),
        session: RefCell::new(Some(session)),
        loaded: RefCell::new(Loaded::default()),
        current,
        probe: RefCell::new(None),
        stall_ms: Cell::new(crate::hub::answer::STALL_SECS * 1000.0),
        last_load: RefCell::new(None),
        losses: Cell::new(0),
        switch: RefCell::new(None),
        reason: RefCell::new(None),
    });
    let w = worker.clone();
    let onmessage = Closure::<dyn Fn(MessageEvent)>::new(move |ev: MessageEvent| w.clone().receive(ev.data()));
    scope.set_onmessage(Some(onmessage.as_ref().unchecked_ref()));
    onmessage.forget();

    // Requests wait in the queue until the CPU threads run (as if one were running), so that a
    // load that came early is built and reported with them.
    worker.running.set(true);
    spawn_local(async move {
        let threads = threads::start(&worker.scope).await;
        let probe = worker.probe().await;
        let cache_available = fetch::open_cache(worker.scope.unchecked_ref()).await.is_some();
        worker.post(Event::Hello {
            version: env!("CARGO_PKG_VERSION"),
            adapter: probe.adapter,
            gpu_note: probe.note,
            cache_available,
            cpu_threads: threads.count as u32,
            threads_note: threads.note,
        });
        if worker.queue.borrow().is_empty() {
            worker.running.set(false);
        } else {
            worker.clone().run().await;
        }
    });
}

fn post_event(scope: &DedicatedWorkerGlobalScope, event: &Event) {
    let sent = match event.transfer() {
        Some(transfer) => scope.post_message_with_transfer(&event.to_js(), &transfer),
        None => scope.post_message(&event.to_js()),
    };
    if let Err(e) = sent {
        web_sys::console::error_2(&"wiseft worker: postMessage failed".into(), &e);
    }
}

/// A session event as the page receives it.
fn session_event(event: SessionEvent, seq: u32) -> Event {
    match event {
        SessionEvent::Status(text) => Event::Status { text },
        SessionEvent::Results { labels, templates, scores } => Event::Results { labels, templates, scores },
        SessionEvent::ImageError { image, message } => Event::ImageError { image, message },
        SessionEvent::SweepProgress { k, n, coefficient, alpha } => Event::SweepProgress { seq, k, n, coefficient: coefficient.into(), alpha },
        SessionEvent::LayerwiseProgress { done, most, photos, best, estimate_s, vit_b32_s } => Event::LayerwiseProgress { seq, done, most, photos, best, estimate_s, vit_b32_s },
        SessionEvent::PromptProgress { k, n, eta_s } => Event::PromptProgress { seq, k, n, eta_s },
    }
}

/// A panic in the worker reaches the page (and the console) instead of silently stopping it. The
/// hook may run on any thread (the threaded build's pool), so it finds the worker's scope when it
/// runs rather than holding it; on a pool thread the message goes to that thread's parent, which
/// does not listen, but the console still shows it.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        let message = format!("the engine crashed: {info}. Reload the page.");
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        post_event(&scope, &Event::Failed { seq: 0, what: Operation::Crash, message, cancelled: false });
    }));
}

impl Worker {
    fn post(&self, event: Event) {
        (self.post)(event);
    }

    fn fail(&self, seq: u32, what: Operation, message: String, cancelled: bool) {
        self.post(Event::Failed { seq, what, message, cancelled });
    }

    async fn probe(&self) -> GpuProbe {
        let known = self.probe.borrow().clone();
        match known {
            Some(p) => p,
            None => {
                let p = backend::probe(&self.scope).await;
                *self.probe.borrow_mut() = Some(p.clone());
                p
            }
        }
    }

    fn loader(&self) -> Loader {
        Loader { scope: self.scope.clone(), post: self.post.clone(), cancel: self.cancel.clone(), abort: self.abort.clone(), digests: None, stall_ms: self.stall_ms.get() }
    }

    fn receive(self: Rc<Self>, data: JsValue) {
        let request = match Request::from_js(data) {
            Ok(r) => r,
            Err(bad) => {
                self.fail(bad.seq.unwrap_or(0), bad.what, bad.message, false);
                if let Some(seq) = bad.seq {
                    self.post(Event::Done { seq });
                }
                return;
            }
        };
        if let Request::Cancel = request {
            self.cancel.set();
            if let Some(ctl) = self.abort.borrow().as_ref() {
                ctl.abort();
            }
            return;
        }
        if let Request::MemoryEstimate(r) = &request {
            // At once: the page asks before a download, while a request may be running.
            match r.answer() {
                Ok(answer) => self.post(answer),
                Err(message) => self.fail(r.seq, Operation::Message, message, false),
            }
            self.post(Event::Done { seq: r.seq });
            return;
        }
        if let Request::LoseDevice = request {
            // The test hook: at once, so that it can land in the middle of a running request.
            if let Some(switch) = self.switch.borrow().as_ref() {
                web_sys::console::warn_1(&"wiseft worker: test hook `lose_device`: destroying the GPU device".into());
                switch.lose();
            }
            return;
        }
        self.queue.borrow_mut().push_back(request);
        if !self.running.get() {
            self.running.set(true);
            spawn_local(async move { self.run().await });
        }
    }

    /// Processes queued requests in order, skipping one that a later one of the same kind makes
    /// pointless (only the latest α matters while a slider moves).
    async fn run(self: Rc<Self>) {
        let mut session = self.session.take().expect("the request loop runs once at a time");
        loop {
            let next = self.queue.borrow_mut().pop_front();
            let Some(request) = next else { break };
            let superseded = self.queue.borrow().iter().any(|later| request.superseded_by(later));
            let seq = request.seq().unwrap_or(0);
            if !superseded {
                self.current.set(seq);
                if let Err(f) = self.handle(&mut session, request).await {
                    if !f.cancelled && device_lost(&session).await {
                        self.recover(&mut session, seq, f).await;
                    } else {
                        self.fail(seq, f.during, f.error.to_string(), f.cancelled);
                    }
                }
            }
            self.post(Event::Done { seq });
        }
        *self.session.borrow_mut() = Some(session);
        self.running.set(false);
    }

    async fn handle(&self, session: &mut Session, request: Request) -> Result<(), Failure> {
        match request {
            Request::Load(r) => self.load(session, r).await,
            Request::SetAlpha(r) => session.set_alpha(r.alpha).await,
            Request::SetRecipe(r) => {
                let recipe = Recipe::from_json(&r.recipe).map_err(|e| Failure::new(Operation::Recipe, e))?;
                session.set_recipe(recipe).await
            }
            Request::SetLabels(r) => session.set_prompts(Prompts::new(&r.labels, Some(r.templates.set), &r.templates.list)).await,
            Request::AddImages(r) => {
                let mut photos = Vec::new();
                for input in r.images {
                    match fetch::read_blob(&input.blob).await {
                        Ok(bytes) => photos.push((input.id, input.name, bytes)),
                        Err(e) => self.post(Event::ImageError { image: input.id, message: format!("could not read the file: {e}") }),
                    }
                }
                session.add_photos(photos).await
            }
            Request::RemoveImage(r) => {
                session.remove_photo(r.id);
                Ok(())
            }
            Request::ClearCache(r) => {
                let before = fetch::storage_estimate(&self.scope).await.map(|e| e.0);
                match fetch::clear_cache(&self.scope).await {
                    Ok(entries) => {
                        let after = fetch::storage_estimate(&self.scope).await.map(|e| e.0);
                        self.post(Event::CacheCleared { entries, usage_before: before, usage_after: after });
                    }
                    Err(message) => self.fail(r.seq, Operation::Cache, message, false),
                }
                Ok(())
            }
            Request::ProbeCache(r) => {
                let urls = fetch::cached(&self.scope, &r.urls).await;
                self.post(Event::Cached { urls });
                Ok(())
            }
            Request::Sweep(r) => match session.sweep(&r.alphas, &r.photos).await? {
                SweepOutcome::Done(done) => {
                    let (rules, rules_error) = match done.rules {
                        Ok(rules) => (Some(rules), None),
                        Err(e) => (None, Some(e)),
                    };
                    let labels = session.prompts().labels.clone();
                    self.post(Event::Sweep {
                        seq: r.seq,
                        coefficient: done.coefficient.into(),
                        labels,
                        points: done.points,
                        curves: done.curves,
                        rules,
                        rules_error,
                        csv: done.csv,
                    });
                    Ok(())
                }
                SweepOutcome::Cancelled(_) => {
                    self.fail(r.seq, Operation::Sweep, "Sweep cancelled.".into(), true);
                    Ok(())
                }
            },
            Request::Layerwise(r) => {
                let search = Search { knots: r.knots, ..Search::default() };
                match session.layerwise(&r.photos, r.start, &search, &load::now_s).await? {
                    LayerwiseOutcome::Done(result) => self.post(Event::Layerwise { seq: r.seq, result }),
                    LayerwiseOutcome::Cancelled => self.fail(r.seq, Operation::Layerwise, "Layer-wise search cancelled.".into(), true),
                }
                Ok(())
            }
            Request::ExportMerged(r) => self.export(session, r).await,
            Request::Bench(r) => {
                let timings = session.bench(r.runs, r.prompts, r.encodes, &load::now_s).await?;
                let loaded = self.loaded.borrow();
                self.post(Event::Bench {
                    seq: r.seq,
                    backend: loaded.backend_name.clone(),
                    checkpoint_mb: loaded.checkpoint_mb,
                    load_s: loaded.load_s,
                    timings,
                    wasm_memory_mb: load::wasm_memory_bytes() as f64 / 1e6,
                });
                Ok(())
            }
            Request::Stats(r) => {
                let engine = session.model().map(|m| m.engine());
                self.post(Event::Stats {
                    seq: r.seq,
                    backend: engine.map(Engine::device),
                    wasm_memory_bytes: load::wasm_memory_bytes() as f64,
                    gpu: engine.and_then(Engine::gpu_stats),
                    photos: session.photo_count() as u32,
                });
                Ok(())
            }
            Request::LoseDevice | Request::Cancel | Request::MemoryEstimate(_) => Ok(()),
        }
    }

    /// After a request failed on a lost GPU device: the models are loaded again (from Cache
    /// Storage or the local files) on a new device the first time, on the CPU engine after that
    /// or when a new device cannot be had. The session keeps its photos, labels and α, and
    /// installing the new engine classifies every photo again, so the failed request's effect
    /// (a new α, new photos or labels) is there afterwards; a notice says what happened.
    async fn recover(&self, session: &mut Session, seq: u32, lost: Failure) {
        let saved = self.last_load.borrow().clone();
        let Some(saved) = saved else {
            self.fail(seq, lost.during, lost.error.to_string(), false);
            return;
        };
        let first = self.losses.get() == 0;
        self.losses.set(self.losses.get() + 1);
        let why = session.model().and_then(|m| m.engine().lost_reason()).unwrap_or_else(|| lost.error.to_string());
        if first && saved.backend != Some(Device::Cpu) {
            self.notice(format!(
                "The GPU device was lost ({why}). Opening a new one and loading the models again; your photos, labels and α are kept."
            ));
            *self.reason.borrow_mut() = Some(format!("the GPU device was lost ({why}); this is a new one"));
            let again = self.load(session, saved.clone()).await;
            if again.is_ok() && session.model().is_some_and(|m| m.engine().device() == Device::Gpu) {
                self.notice("The GPU engine runs again on a new device.".into());
                return;
            }
            let reason = again.err().map_or_else(|| "it did not open".to_string(), |f| f.error.to_string());
            self.notice(format!("A new GPU device could not be used ({reason}). Falling back to the CPU engine."));
        } else {
            self.notice(format!(
                "The GPU device was lost again ({why}). The page now runs on the CPU engine (WebAssembly): slower, the same results; your photos, labels and α are kept. Reload the page to try the GPU again."
            ));
        }
        *self.reason.borrow_mut() = Some(format!("the GPU device was lost ({why}): the CPU engine took over"));
        let cpu = LoadRequest { backend: Some(Device::Cpu), ..saved };
        if let Err(f) = self.load(session, cpu).await {
            self.fail(seq, f.during, format!("the GPU device was lost and the CPU engine could not take over: {}", f.error), f.cancelled);
        }
    }

    fn notice(&self, text: String) {
        self.post(Event::Notice { level: Level::Warn, text, key: Some("device-lost".into()) });
    }

    async fn load(&self, session: &mut Session, r: LoadRequest) -> Result<(), Failure> {
        // Free the old models first: two CLIPs are large for wasm's 4 GB.
        session.unload();
        *self.switch.borrow_mut() = None;
        *self.loaded.borrow_mut() = Loaded::default();
        self.stall_ms.set(r.stall_ms());
        *self.last_load.borrow_mut() = Some(r.clone());
        let chosen = self.reason.borrow_mut().take();
        let probe = self.probe().await;
        let recipe = match r.recipe() {
            Ok(recipe) => recipe,
            Err(e) => {
                self.fail(r.seq, Operation::Recipe, e.to_string(), false);
                return Ok(());
            }
        };
        let result = match &recipe {
            Some(recipe) => self.loader().load_recipe(&r, recipe, &probe).await,
            None => self.loader().load(&r, &probe, session.alpha()).await,
        };
        *self.abort.borrow_mut() = None;
        let loaded = match result {
            Ok(l) => l,
            Err(e) => return Err(Failure { cancelled: e.cancelled(), ..Failure::invalid(Operation::Load, e.message()) }),
        };
        let image_size = loaded.wiseft.pair.preprocess().output_size().0;
        let recipe_json = loaded.recipe.as_ref().map(crate::session::coefficients);
        let columns = crate::session::columns(&loaded.wiseft, loaded.recipe.as_ref());
        let mut backend = loaded.backend.clone();
        if let Some(reason) = chosen {
            backend.reason = reason;
        }
        self.post(Event::Loaded {
            backend: backend.clone(),
            report: loaded.report,
            models: loaded.models,
            image_size,
            alpha: session.alpha(),
            recipe: recipe_json,
            fine_tunes: loaded.fine_tunes,
            columns,
        });
        *self.loaded.borrow_mut() = Loaded {
            load_s: loaded.load_s,
            checkpoint_mb: loaded.checkpoint_mb,
            backend_name: backend.name,
            digests: BTreeMap::new(),
        };
        let switch = match loaded.wiseft.engine() {
            Engine::Gpu(e) => Some(e.device_switch()),
            Engine::Cpu(_) => None,
        };
        *self.switch.borrow_mut() = switch;
        match loaded.recipe {
            Some(recipe) => session.install_recipe(loaded.wiseft, recipe).await,
            None => session.install(loaded.wiseft).await,
        }
    }

    /// The merged checkpoint at α, as `wiseft merge` writes it, with the SHA-256 of both weights
    /// files in its provenance: weights that were streamed to the GPU are read again from the
    /// cache (or the local files) first, hashed as they are read; otherwise the files are read
    /// once more only to hash them. Digests are kept for later exports of the same pair.
    async fn export(&self, session: &mut Session, r: ExportRequest) -> Result<(), Failure> {
        let request = self.last_load.borrow().clone();
        let Some(request) = request else { return Err(Failure::invalid(Operation::Export, "load the models first")) };
        let names = session.export_sources()?;
        let (zero_shot, fine_tuned) = (&request.zero_shot, request.fine_tuned_sources());
        let known = |name: &str| self.loaded.borrow().digests.get(name).cloned();
        let cancelled = |e: &LoadError| if e.cancelled() { "Export cancelled.".to_string() } else { e.message() };
        let reread = if session.export_needs_reread()? {
            (self.post)(Event::Status { text: "Reading both checkpoints again (their weights are on the GPU) …".into() });
            let mut loader = self.loader();
            if names.iter().any(|n| known(n).is_none()) {
                loader.digests = Some(RefCell::new(BTreeMap::new()));
            }
            let pair = loader.read_again(zero_shot, fine_tuned.first().copied()).await;
            *self.abort.borrow_mut() = None;
            match pair {
                Ok(pair) => {
                    let digests = loader.digests.map(RefCell::into_inner).unwrap_or_default();
                    self.loaded.borrow_mut().digests.extend(digests);
                    Some(pair)
                }
                Err(e) => {
                    self.fail(r.seq, Operation::Export, cancelled(&e), e.cancelled());
                    return Ok(());
                }
            }
        } else {
            None
        };
        let each = std::iter::once((zero_shot, Role::ZeroShot)).chain(fine_tuned.iter().map(|&s| (s, Role::FineTuned)));
        for ((src, role), name) in each.zip(&names) {
            if known(name).is_some() {
                continue;
            }
            (self.post)(Event::Status { text: format!("Computing the SHA-256 of the {role} checkpoint {name} for the merged file's record …") });
            let digest = self.loader().digest(src, name, role).await;
            *self.abort.borrow_mut() = None;
            match digest {
                Ok(sha) => {
                    self.loaded.borrow_mut().digests.insert(name.clone(), sha);
                }
                Err(e) => {
                    self.fail(r.seq, Operation::Export, cancelled(&e), e.cancelled());
                    return Ok(());
                }
            }
        }
        let sha = |name: &str| known(name).ok_or_else(|| Failure::invalid(Operation::Export, format!("no SHA-256 of {name}")));
        let mut records = vec![SourceRecord::zero_shot(&names[0], sha(&names[0])?)];
        for (i, name) in names[1..].iter().enumerate() {
            records.push(SourceRecord::fine_tuned(i, name, sha(name)?));
        }
        (self.post)(Event::Status { text: "Writing the merged checkpoint …".into() });
        let file = session.export(r.alpha, reread.as_ref(), records, r.dtype)?;
        let bytes = js_sys::Uint8Array::from(file.bytes.as_slice());
        drop(file.bytes);
        self.post(Event::Merged { seq: r.seq, alpha: r.alpha, dtype: r.dtype, bytes, config: file.config_json, recipe: file.setting });
        Ok(())
    }
}

/// Whether the session's engine lost its GPU device. The browser says so asynchronously
/// (`GPUDevice.lost` resolves a little after a failed read-back): the event loop gets a few turns
/// first, then up to about 2 s — in the threaded build 20 bare turns were seen to end before it
/// resolved, and a failed request on a lost device then read as a plain error.
async fn device_lost(session: &Session) -> bool {
    let Some(model) = session.model() else { return false };
    if model.engine().device() != Device::Gpu {
        return false;
    }
    for turn in 0..60 {
        if model.engine().is_lost() {
            return true;
        }
        wait_ms(if turn < 20 { 0 } else { 50 }).await;
    }
    model.engine().is_lost()
}

/// Gives the event loop a turn (so a `cancel` message is received between sweep steps).
async fn yield_now() {
    wait_ms(0).await;
}

/// Lets the event loop run for at least `ms` milliseconds.
async fn wait_ms(ms: i32) {
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
        let _ = scope.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}
