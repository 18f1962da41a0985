//! Loading a checkpoint pair in the worker: URLs (the first that exists, side files from beside
//! it) or local files, from Cache Storage or the network, into memory or — on the GPU path —
//! tensor by tensor onto the device as the bytes arrive; then the merge plan and the engine.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::{AbortController, DedicatedWorkerGlobalScope, WorkerGlobalScope};

use super::backend::{self, GpuProbe};
use super::digest::{Discard, Hashed};
use super::error::LoadError;
use super::fetch::{self, Fetcher};
use super::sink::Sink;
use super::protocol::{Backend, Event, Level, LoadRequest, ModelInfo, ModelSource, Origin, Role};
use super::stream::ToGpu;
use crate::checkpoint::{Checkpoint, Format, SideFiles};
use crate::clip::config::ConfigSource;
use crate::engine::choice::{self, Decision};
use crate::engine::gpu::{GpuLoader, GpuOptions};
use crate::engine::cpu::{CpuEngine, Matmul};
use crate::engine::Engine;
use crate::hub;
use crate::merge::{Alpha, MergeReport, ModelPair, Point};
use crate::pipeline::WiseFt;
use crate::session::Cancel;

/// A pair loaded and merged, with what the page is told about it.
pub struct Loaded {
    pub wiseft: WiseFt,
    pub backend: Backend,
    pub report: Option<MergeReport>,
    pub models: Vec<ModelInfo>,
    /// Seconds from the load request to the merged model on the engine.
    pub load_s: f64,
    /// Every weights file's size.
    pub checkpoint_mb: f64,
    /// For a recipe load ([`super::load_recipe`]): the recipe and each fine-tune's report.
    pub recipe: Option<crate::merge::Recipe>,
    pub fine_tunes: Vec<crate::merge::task_vector::FineTuneReport>,
}

/// What loading needs of the worker: where to post, the person's cancel, the abort of downloads.
pub struct Loader {
    pub scope: DedicatedWorkerGlobalScope,
    pub post: Rc<dyn Fn(Event)>,
    pub cancel: Cancel,
    pub abort: Rc<RefCell<Option<AbortController>>>,
    /// When set, the SHA-256 of each weights file read, by its name (URL or file name), for the
    /// provenance of an export; loads leave it unset (hashing costs more than reading).
    pub digests: Option<RefCell<BTreeMap<String, String>>>,
    /// Milliseconds without a byte before a download attempt is abandoned and retried.
    pub stall_ms: f64,
}

/// Where a checkpoint's weights come from.
#[derive(Clone, Copy)]
enum WeightsAt<'a> {
    Url(&'a str),
    File(&'a web_sys::File),
}

impl WeightsAt<'_> {
    fn name(&self) -> String {
        match self {
            WeightsAt::Url(u) => u.to_string(),
            WeightsAt::File(f) => f.name(),
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

impl Loader {
    pub(super) fn status(&self, text: impl Into<String>) {
        (self.post)(Event::Status { text: text.into() });
    }

    pub(super) fn notice(&self, level: Level, text: impl Into<String>) {
        (self.post)(Event::Notice { level, text: text.into(), key: None });
    }

    /// Fetches (or reads) both checkpoints, plans the merge and builds the engine at `alpha` on
    /// the back end [`backend::decide`] picks.
    pub async fn load(&self, r: &LoadRequest, probe: &GpuProbe, alpha: Alpha) -> Result<Loaded, LoadError> {
        let started = now_s();
        self.cancel.reset();
        let fetcher = self.fetcher().await?;
        if !fetcher.has_cache() {
            self.notice(Level::Info, "Cache Storage is unavailable here (the page needs https or localhost), so a reload downloads the models again.");
        }
        // The GPU engine's device is opened first, so that tensors go to it as they download.
        let (mut reason, mut fallback) = match backend::decide(probe, r.backend) {
            Decision::Cpu { reason } => (reason, None),
            Decision::Gpu { reason, fallback } => (reason, Some(fallback)),
        };
        let mut loader = None;
        if let Some(may_fall_back) = fallback {
            self.status("Opening the GPU …");
            match GpuLoader::new(GpuOptions::default()).await {
                Ok(l) => loader = Some(l),
                Err(e) if may_fall_back => {
                    reason = choice::fallback_reason(&e);
                    fallback = None;
                }
                Err(e) => return Err(e.into()),
            }
        }

        let (zero_shot, zs_info) = self.checkpoint(&fetcher, &r.zero_shot, Role::ZeroShot, loader.as_mut()).await?;
        let (fine_tuned, ft_info) = match r.fine_tuned.as_ref().filter(|s| s.is_given()) {
            Some(src) => {
                let (c, i) = self.checkpoint(&fetcher, src, Role::FineTuned, loader.as_mut()).await?;
                (Some(c), Some(i))
            }
            None => (None, None),
        };
        let models_bytes = zs_info.bytes + ft_info.as_ref().map_or(0, |i| i.bytes);
        self.status("Planning the merge …");
        let pair = ModelPair::new(zero_shot, fine_tuned)?;
        let report = pair.fine_tuned.is_some().then(|| pair.plan.report.clone());

        self.status(format!("Building the merged model at α = {alpha} …"));
        let streamed = pair.zero_shot.tensors.values().chain(pair.fine_tuned.iter().flat_map(|f| f.tensors.values())).any(|t| !t.on_host());
        let engine = match loader {
            Some(loader) => match loader.build(&pair, alpha).await {
                Ok(engine) => Engine::Gpu(engine),
                Err(e) if fallback == Some(true) && !streamed => {
                    reason = choice::fallback_reason(&e);
                    cpu_engine(&pair, &Point::Alpha(alpha))?
                }
                Err(e) if fallback == Some(true) => {
                    return Err(LoadError::Failed(format!(
                        "{e}. The checkpoints went to the GPU as they downloaded; add backend=cpu to the address to use the CPU back end instead (the files are stored, nothing is downloaded again)."
                    )))
                }
                Err(e) => return Err(e.into()),
            },
            None => cpu_engine(&pair, &Point::Alpha(alpha))?,
        };
        engine.wait().await?;
        let backend = backend::report(&engine, reason.clone(), probe);
        let wiseft = WiseFt::with_engine(pair, alpha, engine, reason)?;
        let mut models = vec![zs_info];
        models.extend(ft_info);
        Ok(Loaded { wiseft, backend, report, models, load_s: now_s() - started, checkpoint_mb: models_bytes as f64 / 1e6, recipe: None, fine_tunes: Vec::new() })
    }

    /// Both checkpoints read again into memory (from the cache, or the local files).
    pub async fn read_again(&self, zero_shot: &ModelSource, fine_tuned: Option<&ModelSource>) -> Result<(Checkpoint, Checkpoint), LoadError> {
        self.cancel.reset();
        let fetcher = self.fetcher().await?;
        let (zs, _) = self.checkpoint(&fetcher, zero_shot, Role::ZeroShot, None).await?;
        let ft_source = fine_tuned.ok_or_else(|| LoadError::Failed("no fine-tuned checkpoint".into()))?;
        let (ft, _) = self.checkpoint(&fetcher, ft_source, Role::FineTuned, None).await?;
        Ok((zs, ft))
    }

    /// A fetcher for one load (or re-read) with a fresh abort signal.
    pub(super) async fn fetcher(&self) -> Result<Fetcher, LoadError> {
        let controller = AbortController::new().map_err(|e| LoadError::Failed(fetch::error_text(&e)))?;
        let signal = controller.signal();
        *self.abort.borrow_mut() = Some(controller);
        let scope: WorkerGlobalScope = self.scope.clone().unchecked_into();
        let cache = fetch::open_cache(&scope).await;
        Ok(Fetcher::new(scope, cache, signal, self.cancel.clone(), self.post.clone(), self.stall_ms))
    }

    /// One checkpoint from URLs (first that exists; side files from beside it) or local files.
    pub(super) async fn checkpoint(
        &self,
        fetcher: &Fetcher,
        src: &ModelSource,
        role: Role,
        mut gpu: Option<&mut GpuLoader>,
    ) -> Result<(Checkpoint, ModelInfo), LoadError> {
        let files = src.local_files();
        if !files.is_empty() {
            return self.local_checkpoint(fetcher, &files, role, gpu).await;
        }
        let mut tried = Vec::new();
        for (i, url) in src.urls.iter().enumerate() {
            self.status(format!("Fetching the {role} checkpoint …"));
            let Some(received) = self.receive_weights(fetcher, WeightsAt::Url(url), role, gpu.as_deref_mut()).await? else {
                tried.push(url.clone());
                if let Some(next) = src.urls.get(i + 1) {
                    self.notice(Level::Info, format!("{role}: no file at {url} (HTTP 404); trying {next}"));
                }
                continue;
            };
            let mut side = SideFiles::default();
            let mut fetched = Vec::new();
            for file in SideFiles::names_for(url) {
                let side_url = hub::sibling_url(url, file);
                let got = fetcher.get(&side_url, role, file).await?;
                if let Some(g) = &got {
                    side.set(file, side_url.clone(), String::from_utf8_lossy(&g.bytes).into_owned());
                }
                fetched.push((side_url, got));
            }
            let (ckpt, origin, len) = self.read_checkpoint(fetcher, WeightsAt::Url(url), received, side, role).await?;
            // Side files are stored once the weights proved usable (absent ones remembered as such).
            for (side_url, got) in fetched {
                match got {
                    Some(g) if g.origin == Origin::Network => {
                        let _ = fetcher.store(&side_url, &g.bytes).await;
                    }
                    None => fetcher.store_absent(&side_url).await,
                    _ => {}
                }
            }
            let info = self.model_info(&ckpt, role, origin, len);
            return Ok((ckpt, info));
        }
        match tried.len() {
            0 => Err(LoadError::Failed(format!("no address given for the {role} checkpoint"))),
            1 => Err(LoadError::NotFound { url: tried[0].clone(), status: 404 }),
            _ => Err(LoadError::Failed(format!(
                "{role}: no file at any of {} (HTTP 404 each). Check the repository name, revision and file name, or open the file with \"Local files\".",
                tried.join(", ")
            ))),
        }
    }

    async fn local_checkpoint(
        &self,
        fetcher: &Fetcher,
        files: &[web_sys::File],
        role: Role,
        gpu: Option<&mut GpuLoader>,
    ) -> Result<(Checkpoint, ModelInfo), LoadError> {
        let weights: Vec<&web_sys::File> = files.iter().filter(|f| !SideFiles::is_side_file(&f.name())).collect();
        let weights = match weights.as_slice() {
            [one] => *one,
            [] => {
                return Err(LoadError::Failed(format!(
                    "{role}: no weights file among the local files (choose model.safetensors or pytorch_model.bin, optionally with config.json and preprocessor_config.json; or OpenCLIP's open_clip_model.safetensors / open_clip_pytorch_model.bin with open_clip_config.json)"
                )))
            }
            many => {
                let names: Vec<String> = many.iter().map(|f| f.name()).collect();
                return Err(LoadError::Failed(format!("{role}: choose one weights file, not {}", names.join(", "))));
            }
        };
        let mut side = SideFiles::default();
        for f in files.iter().filter(|f| SideFiles::is_side_file(&f.name())) {
            let got = fetcher.read_file(f, role).await?;
            side.set(&f.name(), f.name(), String::from_utf8_lossy(&got.bytes).into_owned());
        }
        self.status(format!("Reading the {role} file {} …", weights.name()));
        let received = self.receive_weights(fetcher, WeightsAt::File(weights), role, gpu).await?.expect("a local file is always there");
        let (ckpt, origin, len) = self.read_checkpoint(fetcher, WeightsAt::File(weights), received, side, role).await?;
        let info = self.model_info(&ckpt, role, origin, len);
        Ok((ckpt, info))
    }

    /// Receives the weights of `source` into memory or, with a GPU loader, tensor by tensor onto
    /// the device. `Ok(None)`: no file at the URL (404).
    async fn receive_weights<'g>(
        &self,
        fetcher: &Fetcher,
        source: WeightsAt<'_>,
        role: Role,
        gpu: Option<&'g mut GpuLoader>,
    ) -> Result<Option<Received<'g>>, LoadError> {
        let name = source.name();
        let mut into = match gpu {
            Some(l) => Destination::Gpu(ToGpu::new(&name, role, l)),
            None => Destination::Memory(Vec::new()),
        };
        let inner: &mut dyn Sink = match &mut into {
            Destination::Gpu(s) => s,
            Destination::Memory(bytes) => bytes,
        };
        let mut hashed = None;
        let sink: &mut dyn Sink = match self.digests {
            Some(_) => hashed.insert(Hashed::new(inner)),
            None => inner,
        };
        let Some(origin) = Self::transfer(fetcher, source, role, sink).await? else { return Ok(None) };
        let len = sink.len() as u64;
        if let (Some(digests), Some(h)) = (&self.digests, hashed) {
            digests.borrow_mut().insert(name.clone(), h.finish());
        }
        Ok(Some(Received { name, into, origin, len }))
    }

    /// The weights of `source` into `sink` (from the cache, the network or the local file); its
    /// origin, `None` when there is no file at the URL.
    async fn transfer(fetcher: &Fetcher, source: WeightsAt<'_>, role: Role, sink: &mut dyn Sink) -> Result<Option<Origin>, LoadError> {
        Ok(Some(match source {
            WeightsAt::Url(url) => match fetcher.get_into(url, role, "weights", sink).await.map_err(|e| e.unusable_as(role))? {
                Some(o) => o,
                None => return Ok(None),
            },
            WeightsAt::File(f) => {
                fetcher.read_file_into(f, role, sink).await.map_err(|e| e.unusable_as(role))?;
                Origin::Local
            }
        }))
    }

    /// SHA-256 of the weights file a load read for `src`, named `used` (the URL it came from, or
    /// the local file's name), read again without keeping it.
    pub async fn digest(&self, src: &ModelSource, used: &str, role: Role) -> Result<String, LoadError> {
        self.cancel.reset();
        let fetcher = self.fetcher().await?;
        let files = src.local_files();
        let source = match files.iter().find(|f| f.name() == used) {
            Some(f) => WeightsAt::File(f),
            None if files.is_empty() => WeightsAt::Url(used),
            None => return Err(LoadError::Failed(format!("{role}: the local file {used} is no longer among the chosen files"))),
        };
        let mut sink = Hashed::new(Discard::default());
        match Self::transfer(&fetcher, source, role, &mut sink).await? {
            Some(_) => Ok(sink.finish()),
            None => Err(LoadError::NotFound { url: used.to_string(), status: 404 }),
        }
    }

    /// The checkpoint from received weights and their side files; a download is stored for next
    /// time, a stored file that turns out unusable is forgotten.
    async fn read_checkpoint(
        &self,
        fetcher: &Fetcher,
        source: WeightsAt<'_>,
        received: Received<'_>,
        side: SideFiles,
        role: Role,
    ) -> Result<(Checkpoint, Origin, u64), LoadError> {
        let Received { name, into, origin, len } = received;
        self.status(format!("Reading the {role} checkpoint ({}) …", fetch::mb(len)));
        let (read, bytes) = match into {
            Destination::Gpu(s) => (s.into_checkpoint(side).map(|(c, parts)| (c, parts.map(Stored::Parts))), Vec::new()),
            Destination::Memory(bytes) => (Checkpoint::from_bytes(&bytes, &name, side).map(|c| (c, Some(Stored::Bytes))), bytes),
        };
        let (ckpt, stored) = match read {
            Ok(r) => r,
            Err(e) => {
                if let WeightsAt::Url(url) = source {
                    fetcher.forget(url).await;
                }
                return Err(LoadError::Unusable(e).unusable_as(role));
            }
        };
        if let (WeightsAt::Url(url), Origin::Network, Some(stored)) = (source, origin, stored) {
            self.status(format!("Storing the {role} checkpoint for next time …"));
            let kept = match stored {
                Stored::Parts(parts) => fetcher.store_parts(url, &parts, len as usize).await,
                Stored::Bytes => fetcher.store(url, &bytes).await,
            };
            if let Err(msg) = kept {
                self.notice(Level::Warn, msg);
            }
        }
        Ok((ckpt, origin, len))
    }

    fn model_info(&self, c: &Checkpoint, role: Role, origin: Origin, bytes: u64) -> ModelInfo {
        let (config_file, assumptions) = match &c.config_source {
            ConfigSource::File(f) => (Some(f.clone()), Vec::new()),
            ConfigSource::Inferred { assumptions } => {
                self.notice(
                    Level::Info,
                    format!("{role}: no config.json beside {}; the configuration was inferred from the tensor shapes ({})", c.name, assumptions.join("; ")),
                );
                (None, assumptions.clone())
            }
        };
        ModelInfo {
            role,
            name: c.name.clone(),
            format: match c.format {
                Format::Safetensors => "safetensors",
                Format::PyTorch => "PyTorch zip",
            },
            layout: c.layout.class_name(),
            parameters: c.parameter_count(),
            tensors: c.tensors.len(),
            dtypes: c.dtypes().iter().map(|(d, n)| format!("{d:?} ×{n}")).collect(),
            config_file,
            assumptions,
            origin,
            bytes,
        }
    }
}

/// The CPU engine, refused with the sizes when the merged tensors would not fit in what is left of
/// the 4 GB wasm memory: running out there stops the worker with a bare trap. Conservative: the
/// memory's size also counts space the allocator has freed and could reuse.
pub(super) fn cpu_engine(pair: &ModelPair, point: &Point) -> Result<Engine, LoadError> {
    // The CPU engine's merged tensors are new; everything else it shares with the checkpoints.
    let (used, merged) = (wasm_memory_bytes(), pair.plan.report.interpolated_parameters as u64 * 4);
    if used + merged > WASM_MEMORY_LIMIT {
        return Err(LoadError::Failed(format!(
            "these checkpoints are too large for the CPU back end: they take {} MB of the page's memory and the merged model needs {} MB more, past WebAssembly's limit of {} MB. \
             A browser with WebGPU keeps them on the GPU instead; or choose smaller checkpoints (ViT-B/32 or ViT-B/16).",
            used / 1_000_000,
            merged / 1_000_000,
            WASM_MEMORY_LIMIT / 1_000_000
        )));
    }
    Ok(Engine::Cpu(CpuEngine::at(pair, point, Matmul::default())?))
}

/// Size of this module's WebAssembly memory (it grows and never shrinks: the peak heap).
pub fn wasm_memory_bytes() -> u64 {
    core::arch::wasm32::memory_size(0) as u64 * 65536
}

/// What a wasm32 memory can grow to.
const WASM_MEMORY_LIMIT: u64 = 4 << 30;

/// Seconds on the worker's monotonic clock.
pub fn now_s() -> f64 {
    let scope: WorkerGlobalScope = js_sys::global().unchecked_into();
    scope.performance().map_or_else(js_sys::Date::now, |p| p.now()) / 1e3
}
