//! The worker's message protocol: a small closed set of typed messages, serde-serialised. The
//! page's side of it is typed in `www/protocol.js` (JSDoc).
//!
//! The page posts [`Request`]s (plain objects with a `type` field; binary parts — photos and local
//! checkpoint files — travel as `Blob`/`File` objects beside the JSON-like fields, never copied on
//! the main thread). The worker answers with [`Event`]s. Every request except `cancel` carries a
//! `seq`; the worker answers each one with exactly one `done` (after a `failed`, if it failed)
//! carrying that `seq`, so the page knows when it is idle — a message it cannot read included.
//!
//! Values are checked where they are read: an α outside [0, 1], an unknown template set or back
//! end fails the message it came in, naming the field.

use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};

use crate::bench::Timings;
use crate::checkpoint::provenance::OutputDtype;
use crate::choose::Rules;
use crate::engine::gpu::GpuStats;
use crate::engine::Device;
use crate::merge::task_vector::FineTuneReport;
use crate::merge::{Alpha, MergeReport, Recipe};
use crate::session::{ColumnInfo, Curve, LayerwiseResult, Operation, Score, SweepPhoto, SweepPoint, TemplateSet};

/// Which checkpoint of the pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    ZeroShot,
    FineTuned,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::ZeroShot => "zero-shot",
            Role::FineTuned => "fine-tuned",
        })
    }
}

/// Where the bytes came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Origin {
    Network,
    Cache,
    Local,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Info,
    Warn,
}

/// Where a checkpoint comes from.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelSource {
    /// Candidate URLs of the weights file, tried in order; the first that exists is used (a 404
    /// moves on to the next, e.g. `model.safetensors` at `refs/pr/15`, then `pytorch_model.bin`).
    /// `config.json` and `preprocessor_config.json` are fetched from beside the one used.
    #[serde(default)]
    pub urls: Vec<String>,
    /// Local `File`s instead of URLs: the weights file, optionally with `config.json` and
    /// `preprocessor_config.json` (recognised by name).
    #[serde(default, with = "serde_wasm_bindgen::preserve")]
    pub files: JsValue,
}

impl ModelSource {
    pub fn local_files(&self) -> Vec<web_sys::File> {
        if self.files.is_undefined() || self.files.is_null() {
            return Vec::new();
        }
        js_sys::Array::from(&self.files).iter().filter_map(|f| f.dyn_into::<web_sys::File>().ok()).collect()
    }

    /// Whether it names anything at all.
    pub fn is_given(&self) -> bool {
        !self.urls.is_empty() || !self.local_files().is_empty()
    }
}

/// The prompt templates: a built-in set (`single`, `imagenet80`) or the list (`custom`).
#[derive(Debug, Clone, Deserialize)]
pub struct TemplateChoice {
    pub set: TemplateSet,
    #[serde(default)]
    pub list: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LoadRequest {
    pub seq: u32,
    pub zero_shot: ModelSource,
    pub fine_tuned: Option<ModelSource>,
    /// A merge recipe over several fine-tunes instead of the two-model merge: its method and
    /// coefficients as recipe JSON (`{"version":1,"method":"ties","lambda":0.3,"top_k":20}`),
    /// the checkpoints in `fine_tunes` (or `fine_tuned` alone).
    #[serde(default)]
    pub recipe: Option<String>,
    #[serde(default)]
    pub fine_tunes: Vec<ModelSource>,
    /// The address's `backend=` (`gpu` or `cpu`) overriding the automatic choice.
    #[serde(default)]
    pub backend: Option<Device>,
    /// The address's `stall=`: seconds without a byte before a download is retried (default 30).
    #[serde(default)]
    pub stall_s: Option<f64>,
}

impl LoadRequest {
    /// The stall timeout in milliseconds: `stall_s` when it is a usable number, else 30 s.
    pub fn stall_ms(&self) -> f64 {
        let s = self.stall_s.filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0);
        s.unwrap_or(crate::hub::answer::STALL_SECS) * 1000.0
    }

    /// The recipe asked for, read and range-checked (an error names the field).
    pub fn recipe(&self) -> crate::Result<Option<Recipe>> {
        self.recipe.as_deref().map(Recipe::from_json).transpose()
    }

    /// The fine-tuned checkpoints of a load, in order: a recipe's list, else the pair's one (none
    /// for a zero-shot model alone).
    pub fn fine_tuned_sources(&self) -> Vec<&ModelSource> {
        let listed: Vec<&ModelSource> = self.fine_tunes.iter().filter(|s| s.is_given()).collect();
        if listed.is_empty() {
            self.fine_tuned.iter().filter(|s| s.is_given()).collect()
        } else {
            listed
        }
    }
}

/// New coefficients (or a method over the same merge inputs) for the loaded recipe.
#[derive(Debug, Deserialize)]
pub struct RecipeRequest {
    pub seq: u32,
    /// Recipe JSON without checkpoints, as in [`LoadRequest::recipe`].
    pub recipe: String,
}

#[derive(Debug, Deserialize)]
pub struct AlphaRequest {
    pub seq: u32,
    pub alpha: Alpha,
}

#[derive(Debug, Deserialize)]
pub struct LabelsRequest {
    pub seq: u32,
    pub labels: Vec<String>,
    pub templates: TemplateChoice,
}

#[derive(Debug, Deserialize)]
pub struct ImageInput {
    /// Chosen by the page; results and errors refer to it.
    pub id: u32,
    pub name: String,
    #[serde(with = "serde_wasm_bindgen::preserve")]
    pub blob: web_sys::Blob,
}

#[derive(Debug, Deserialize)]
pub struct ImagesRequest {
    pub seq: u32,
    pub images: Vec<ImageInput>,
}

#[derive(Debug, Deserialize)]
pub struct RemoveImageRequest {
    pub seq: u32,
    /// `None`: remove every photo.
    pub id: Option<u32>,
}

#[derive(Debug, Deserialize)]
pub struct ProbeRequest {
    pub seq: u32,
    pub urls: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct SweepRequest {
    pub seq: u32,
    /// The α values to evaluate, e.g. 0, 0.05, …, 1.
    pub alphas: Vec<Alpha>,
    pub photos: Vec<SweepPhoto>,
}

/// The label-free layer-wise α search over a sweep's photos (lecture mode).
#[derive(Debug, Deserialize)]
pub struct LayerwiseRequest {
    pub seq: u32,
    pub photos: Vec<SweepPhoto>,
    /// The single α to start from (the sweep's α of lowest entropy).
    pub start: f64,
    /// Knots over depth (3 when absent).
    #[serde(default = "three")]
    pub knots: usize,
}

fn three() -> usize {
    3
}

#[derive(Debug, Deserialize)]
pub struct ExportRequest {
    pub seq: u32,
    pub alpha: Alpha,
    /// The floats' type in the file (`f32`, `f16`, `bf16`; f32 when absent).
    #[serde(default)]
    pub dtype: OutputDtype,
}

/// Time the loaded model (the page's `?bench=1`): the steps of `wiseft bench`.
#[derive(Debug, Deserialize)]
pub struct BenchRequest {
    pub seq: u32,
    #[serde(default = "one")]
    pub runs: usize,
    /// Prompts through the text tower (a software GPU takes minutes for CLIP's 800).
    #[serde(default = "ten")]
    pub prompts: usize,
    /// `false`: the coefficient change alone, no image batches or prompts (on a software GPU one
    /// ViT-B/32 batch of 8 takes minutes).
    #[serde(default = "yes")]
    pub encodes: bool,
}

fn yes() -> bool {
    true
}

fn one() -> usize {
    1
}

fn ten() -> usize {
    10
}

#[derive(Debug, Deserialize)]
pub struct SeqOnly {
    pub seq: u32,
}

/// What loading these checkpoints would take in the page, asked before any is downloaded (the
/// page's memory note): their files' sizes in MB (a preset's `size_mb`), the recipe's method
/// (`wise-ft` for a pair) and whether the CPU engine would run. Answered at once, not queued
/// behind a running request, with [`Event::MemoryEstimate`]
/// ([`crate::session::limits::memory_estimate`]).
#[derive(Debug, Clone, Deserialize)]
pub struct MemoryEstimateRequest {
    pub seq: u32,
    pub zero_shot_mb: f64,
    #[serde(default)]
    pub fine_tunes_mb: Vec<f64>,
    pub method: String,
    pub cpu: bool,
}

impl MemoryEstimateRequest {
    /// The answer, or why the request cannot be answered (a size that is not a size, an unknown method).
    pub fn answer(&self) -> Result<Event, String> {
        let bytes = |what: &str, mb: f64| {
            if mb.is_finite() && mb >= 0.0 && mb < 1e9 {
                Ok((mb * 1e6).round() as u64)
            } else {
                Err(format!("message `memory_estimate`: `{what}` is {mb} MB"))
            }
        };
        let zero_shot = bytes("zero_shot_mb", self.zero_shot_mb)?;
        let fine_tunes = self.fine_tunes_mb.iter().map(|&mb| bytes("fine_tunes_mb", mb)).collect::<Result<Vec<_>, _>>()?;
        let method = crate::merge::Method::parse(&self.method).map_err(|e| format!("message `memory_estimate`: {e}"))?;
        let e = crate::session::limits::memory_estimate(zero_shot, &fine_tunes, method, self.cpu);
        let mb = |b: u64| (b + 500_000) / 1_000_000;
        Ok(Event::MemoryEstimate {
            seq: self.seq,
            download_mb: mb(e.download_bytes),
            memory_mb: mb(e.memory_bytes),
            with_own_columns_mb: mb(e.with_own_columns_bytes),
            own_columns: e.own_columns,
            fits: e.fits,
            worth_saying: e.worth_saying,
            limit_mb: mb(crate::session::limits::WASM_MEMORY_BYTES),
        })
    }
}

/// The `type` of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RequestType {
    Load,
    SetAlpha,
    SetRecipe,
    SetLabels,
    AddImages,
    RemoveImage,
    ClearCache,
    ProbeCache,
    Sweep,
    Layerwise,
    ExportMerged,
    Bench,
    Stats,
    MemoryEstimate,
    LoseDevice,
    Cancel,
}

impl RequestType {
    /// What a failure of this request is reported as.
    fn operation(self) -> Operation {
        match self {
            Self::Load => Operation::Load,
            Self::SetAlpha => Operation::Alpha,
            Self::SetRecipe => Operation::Recipe,
            Self::SetLabels => Operation::Labels,
            Self::ClearCache | Self::ProbeCache => Operation::Cache,
            Self::Sweep => Operation::Sweep,
            Self::Layerwise => Operation::Layerwise,
            Self::ExportMerged => Operation::Export,
            Self::Bench => Operation::Bench,
            Self::Stats | Self::MemoryEstimate | Self::LoseDevice | Self::AddImages | Self::RemoveImage | Self::Cancel => Operation::Message,
        }
    }
}

/// Page → worker.
#[derive(Debug)]
pub enum Request {
    /// Drop the current models, fetch (or read) both checkpoints, merge, then classify every photo.
    Load(LoadRequest),
    /// Move α; re-merges and re-classifies every photo with the merged model.
    SetAlpha(AlphaRequest),
    /// New coefficients of the loaded recipe; re-merges on the engine and re-classifies every
    /// photo with the merged model, without reading a checkpoint.
    SetRecipe(RecipeRequest),
    /// New labels or templates; class embeddings are recomputed, every photo re-classified.
    SetLabels(LabelsRequest),
    AddImages(ImagesRequest),
    RemoveImage(RemoveImageRequest),
    /// Delete every downloaded checkpoint from Cache Storage.
    ClearCache(SeqOnly),
    /// Which of these URLs are stored in Cache Storage (answered with [`Event::Cached`]).
    ProbeCache(ProbeRequest),
    /// Classify the sweep's photos (labelled, and unlabeled ones for the label-free α rules) at every α
    /// of a list (progress events; honours `cancel`); answered with [`Event::Sweep`] and its rules.
    Sweep(SweepRequest),
    /// Search a per-depth α schedule minimising the entropy on the label-free photos (progress
    /// events; honours `cancel`); answered with [`Event::Layerwise`].
    Layerwise(LayerwiseRequest),
    /// The merged checkpoint at α as safetensors bytes (answered with [`Event::Merged`]).
    ExportMerged(ExportRequest),
    /// Time the loaded model (answered with [`Event::Bench`]).
    Bench(BenchRequest),
    /// What the engine holds now (answered with [`Event::Stats`]): for the long-session test
    /// and for reports.
    Stats(SeqOnly),
    /// What loading some checkpoints would take in the page (answered at once, not queued, with
    /// [`Event::MemoryEstimate`]).
    MemoryEstimate(MemoryEstimateRequest),
    /// TEST HOOK: destroys the GPU engine's device at once (not queued, like `cancel`), as a
    /// driver reset or the browser reclaiming the GPU would, so that the e2e test can lose it in
    /// the middle of a forward or a merge. Harmless: what follows is the recovery every lost
    /// device gets. Without a GPU engine it does nothing.
    LoseDevice,
    /// Abort the running download or sweep (handled at once, not queued).
    Cancel,
}

/// A message that could not be read, with what to answer.
#[derive(Debug)]
pub struct BadRequest {
    /// Its `seq`, when it had one (then it is answered with `failed` and `done`).
    pub seq: Option<u32>,
    pub what: Operation,
    pub message: String,
}

impl Request {
    pub fn seq(&self) -> Option<u32> {
        match self {
            Request::Load(r) => Some(r.seq),
            Request::SetAlpha(r) => Some(r.seq),
            Request::SetRecipe(r) => Some(r.seq),
            Request::SetLabels(r) => Some(r.seq),
            Request::AddImages(r) => Some(r.seq),
            Request::RemoveImage(r) => Some(r.seq),
            Request::ClearCache(r) => Some(r.seq),
            Request::ProbeCache(r) => Some(r.seq),
            Request::Sweep(r) => Some(r.seq),
            Request::Layerwise(r) => Some(r.seq),
            Request::ExportMerged(r) => Some(r.seq),
            Request::Bench(r) => Some(r.seq),
            Request::Stats(r) => Some(r.seq),
            Request::MemoryEstimate(r) => Some(r.seq),
            Request::LoseDevice | Request::Cancel => None,
        }
    }

    /// Whether a later request in the queue makes this one pointless (only the latest α or
    /// labels matter while a slider moves or a person types).
    pub fn superseded_by(&self, later: &Request) -> bool {
        matches!(
            (self, later),
            (Request::SetAlpha(_), Request::SetAlpha(_)) | (Request::SetRecipe(_), Request::SetRecipe(_)) | (Request::SetLabels(_), Request::SetLabels(_))
        )
    }

    /// Reads a posted message: `type` picks the variant, the rest is deserialised with serde.
    pub fn from_js(data: JsValue) -> Result<Self, BadRequest> {
        let field = |key: &str| js_sys::Reflect::get(&data, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED);
        let seq = field("seq").as_f64().filter(|s| s.fract() == 0.0 && *s >= 0.0 && *s <= u32::MAX as f64).map(|s| s as u32);
        let bad = |what, message| BadRequest { seq, what, message };
        let name = field("type").as_string().unwrap_or_default();
        let kind: RequestType = serde_wasm_bindgen::from_value(field("type"))
            .map_err(|e| bad(Operation::Message, format!("message `type`: {e}")))?;
        fn de<T: serde::de::DeserializeOwned>(data: JsValue) -> Result<T, String> {
            serde_wasm_bindgen::from_value(data).map_err(|e| e.to_string())
        }
        let read = match kind {
            RequestType::Load => de(data).map(Request::Load),
            RequestType::SetAlpha => de(data).map(Request::SetAlpha),
            RequestType::SetRecipe => de(data).map(Request::SetRecipe),
            RequestType::SetLabels => de(data).map(Request::SetLabels),
            RequestType::AddImages => de(data).map(Request::AddImages),
            RequestType::RemoveImage => de(data).map(Request::RemoveImage),
            RequestType::ClearCache => de(data).map(Request::ClearCache),
            RequestType::ProbeCache => de(data).map(Request::ProbeCache),
            RequestType::Sweep => de(data).map(Request::Sweep),
            RequestType::Layerwise => de(data).map(Request::Layerwise),
            RequestType::ExportMerged => de(data).map(Request::ExportMerged),
            RequestType::Bench => de(data).map(Request::Bench),
            RequestType::Stats => de(data).map(Request::Stats),
            RequestType::MemoryEstimate => de(data).map(Request::MemoryEstimate),
            RequestType::LoseDevice => Ok(Request::LoseDevice),
            RequestType::Cancel => Ok(Request::Cancel),
        };
        read.map_err(|e| bad(kind.operation(), format!("message `{name}`: {e}")))
    }
}

/// Which compute back end runs, and why that one.
#[derive(Debug, Clone, Serialize)]
pub struct Backend {
    /// `cpu` or `gpu`.
    pub kind: Device,
    /// What the engine calls itself ([`crate::engine::Engine::describe`]).
    pub name: String,
    /// Why this back end: e.g. "navigator.gpu absent", "no WebGPU adapter granted".
    pub reason: String,
    /// The WebGPU adapter the browser offers, if any (also when the CPU runs).
    pub adapter: Option<AdapterInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AdapterInfo {
    pub vendor: String,
    pub architecture: String,
    pub device: String,
    pub description: String,
    /// A software rasteriser (SwiftShader, lavapipe, llvmpipe, WARP, a fallback adapter): not a GPU.
    pub software: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ModelInfo {
    pub role: Role,
    /// The URL or file name the weights came from.
    pub name: String,
    pub format: &'static str,
    /// Hugging Face class of the tensor names (CLIPModel, CLIPVisionModel, …).
    pub layout: &'static str,
    pub parameters: usize,
    pub tensors: usize,
    pub dtypes: Vec<String>,
    /// config.json used, or `None` when the configuration was inferred from the tensor shapes.
    pub config_file: Option<String>,
    pub assumptions: Vec<String>,
    pub origin: Origin,
    pub bytes: u64,
}

/// Worker → page.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The worker's wasm is running (sent once at start).
    /// `cpu_threads`: the CPU engine's threads (the threaded build's pool, else 1); `threads_note`
    /// says why that many.
    Hello { version: &'static str, adapter: Option<AdapterInfo>, gpu_note: String, cache_available: bool, cpu_threads: u32, threads_note: String },
    /// Download / read progress of one file.
    Progress {
        role: Role,
        /// `weights`, `config.json`, `preprocessor_config.json`.
        file: String,
        url: String,
        origin: Origin,
        loaded: u64,
        total: Option<u64>,
        /// Bytes of this file already on the GPU (tensors go there as they arrive), when streaming.
        uploaded: Option<u64>,
        elapsed_ms: f64,
        attempt: u32,
        done: bool,
    },
    /// What the worker is doing now ("parsing …", "merging …", "classifying …").
    Status { text: String },
    /// Something worth knowing that is not an error (config inferred, fallback used, cache full).
    /// `key`: a later notice with the same key replaces this one (e.g. retries of one file).
    Notice { level: Level, text: String, key: Option<String> },
    /// Both checkpoints (or a recipe's) are in and merged. `recipe`: the recipe loaded, as JSON
    /// (without checkpoints); `fine_tunes`: each fine-tune against the zero-shot model (tensors it
    /// changes, ‖θᵢ − θ₀‖/‖θ₀‖), for a recipe load; `columns`: the result columns the session
    /// will send scores for, in the order the page draws them (the session's list, so the page
    /// does not repeat its rule).
    Loaded {
        backend: Backend,
        report: Option<MergeReport>,
        models: Vec<ModelInfo>,
        image_size: u32,
        alpha: Alpha,
        recipe: Option<serde_json::Value>,
        fine_tunes: Vec<FineTuneReport>,
        columns: Vec<ColumnInfo>,
    },
    /// Probabilities for some photos at one α (for one or more of the three models).
    Results { labels: Vec<String>, templates: usize, scores: Vec<Score> },
    /// A photo that cannot be used; the others go on.
    ImageError { image: u32, message: String },
    /// A request that failed as a whole, with what to do about it. `cancelled`: the person
    /// pressed cancel (not an error to show as one).
    Failed { seq: u32, what: Operation, message: String, cancelled: bool },
    /// A sweep step finished: `k` of `n` α values done.
    SweepProgress { seq: u32, k: u32, n: u32, coefficient: String, alpha: Alpha },
    /// A large prompt set is being encoded: `k` of `n` prompts done, about `eta_s` seconds left.
    PromptProgress { seq: u32, k: u32, n: u32, eta_s: Option<f64> },
    /// The whole sweep (only sent when it was not cancelled), with what each α rule picks (or why
    /// the rules cannot run on these photos), the accuracy curves of the two sets and of the named
    /// sets within them (counted by the session, so the page draws what the CSV says) and the
    /// sweep's CSV, as `wiseft sweep --csv` prints it. `coefficient`: what was swept, `α` or a
    /// recipe's `λ` (the points' `alpha` holds its values).
    Sweep {
        seq: u32,
        coefficient: String,
        labels: Vec<String>,
        points: Vec<SweepPoint>,
        curves: Vec<Curve>,
        rules: Option<Rules>,
        rules_error: Option<String>,
        csv: String,
    },
    /// A forward pass of the layer-wise search: `done` of at most `most`, the lowest entropy so far,
    /// the whole search's estimated seconds here and on ViT-B/32.
    LayerwiseProgress { seq: u32, done: u32, most: u32, photos: u32, best: f64, estimate_s: f64, vit_b32_s: f64 },
    /// The layer-wise search's schedule and what it gives (only sent when it was not cancelled).
    Layerwise { seq: u32, result: LayerwiseResult },
    /// The merged checkpoint at α, or at the loaded recipe (`recipe`: its method and coefficients
    /// in words) — safetensors, its provenance in the header; its buffer is transferred, not
    /// copied —, the floats' type, and the config.json to go beside it.
    Merged {
        seq: u32,
        alpha: Alpha,
        dtype: OutputDtype,
        #[serde(with = "serde_wasm_bindgen::preserve")]
        bytes: js_sys::Uint8Array,
        config: String,
        recipe: Option<String>,
    },
    /// Benchmark of the loaded model: how long the load took (download or cache, parse, upload,
    /// merge) and the timed steps. `wasm_memory_mb`: the worker's WebAssembly memory, which never
    /// shrinks: its peak so far.
    Bench { seq: u32, backend: String, checkpoint_mb: f64, load_s: f64, timings: Timings, wasm_memory_mb: f64 },
    /// What the engine holds now: the worker's WebAssembly memory (it never shrinks: its peak),
    /// the GPU engine's counters (`bytes_live`: its buffers alive now), the photos kept.
    Stats { seq: u32, backend: Option<Device>, wasm_memory_bytes: f64, gpu: Option<GpuStats>, photos: u32 },
    /// A request is finished.
    Done { seq: u32 },
    /// The URLs of a `probe_cache` that are stored.
    Cached { urls: Vec<String> },
    /// A `memory_estimate`'s answer, in MB ([`crate::session::limits::MemoryEstimate`]): the
    /// download, the page's peak memory on the CPU engine, that peak with TIES's fine-tunes' own
    /// task vectors kept, whether they are kept (a column per fine-tune), whether the peak fits
    /// WebAssembly's `limit_mb`, and whether the page should say so before the download.
    MemoryEstimate { seq: u32, download_mb: u64, memory_mb: u64, with_own_columns_mb: u64, own_columns: bool, fits: bool, worth_saying: bool, limit_mb: u64 },
    /// Downloaded checkpoints deleted from Cache Storage.
    CacheCleared { entries: u32, usage_before: Option<f64>, usage_after: Option<f64> },
}

impl Event {
    pub fn to_js(&self) -> JsValue {
        self.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::NULL)
    }

    /// Buffers to transfer with the message instead of copying them.
    pub fn transfer(&self) -> Option<js_sys::Array> {
        match self {
            Event::Merged { bytes, .. } => Some(js_sys::Array::of1(&bytes.buffer())),
            _ => None,
        }
    }
}
