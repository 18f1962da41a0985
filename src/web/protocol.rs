//! The worker's message protocol: a small closed set of typed messages, serde-serialised.
//!
//! The page posts [`Request`]s (plain objects with a `type` field; binary parts — photos and local
//! checkpoint files — travel as `Blob`/`File` objects beside the JSON-like fields, never copied on
//! the main thread). The worker answers with [`Event`]s. Every request except `cancel` carries a
//! `seq`; the worker answers each one with exactly one `done` (or `failed`) carrying that `seq`, so
//! the page knows when it is idle.

use serde::{Deserialize, Serialize};
use wasm_bindgen::{JsCast, JsValue};

use crate::merge::MergeReport;

/// Where a checkpoint comes from.
#[derive(Debug, Deserialize)]
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
}

/// The prompt templates: a built-in set of the library (`single`, `imagenet80`) or an explicit list.
#[derive(Debug, Clone, Deserialize)]
pub struct TemplateChoice {
    /// `single`, `imagenet80`, or `custom` (then `list` is used).
    pub set: String,
    #[serde(default)]
    pub list: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct LoadRequest {
    pub seq: u32,
    pub zero_shot: ModelSource,
    pub fine_tuned: Option<ModelSource>,
    /// The address's `backend=` (`gpu` or `cpu`) overriding the automatic choice.
    #[serde(default)]
    pub backend: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct AlphaRequest {
    pub seq: u32,
    pub alpha: f64,
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

/// A photo of an α sweep with its true label (an index into the current labels).
#[derive(Debug, Clone, Deserialize)]
pub struct SweepPhoto {
    pub id: u32,
    pub label: usize,
}

#[derive(Debug, Deserialize)]
pub struct SweepRequest {
    pub seq: u32,
    /// The α values to evaluate, e.g. 0, 0.05, …, 1.
    pub alphas: Vec<f64>,
    pub photos: Vec<SweepPhoto>,
}

#[derive(Debug, Deserialize)]
pub struct ExportRequest {
    pub seq: u32,
    pub alpha: f64,
}

/// One photo at one α of a sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepScore {
    pub image: u32,
    /// The top label.
    pub predicted: String,
    /// Index of the top label.
    pub top: usize,
    /// Probability of the photo's true label.
    pub p_true: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct SweepPoint {
    pub alpha: f64,
    pub scores: Vec<SweepScore>,
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

/// Page → worker.
#[derive(Debug)]
pub enum Request {
    /// Drop the current models, fetch (or read) both checkpoints, merge, then classify every photo.
    Load(LoadRequest),
    /// Move α; re-merges and re-classifies every photo with the merged model.
    SetAlpha(AlphaRequest),
    /// New labels or templates; class embeddings are recomputed, every photo re-classified.
    SetLabels(LabelsRequest),
    AddImages(ImagesRequest),
    RemoveImage(RemoveImageRequest),
    /// Delete every downloaded checkpoint from Cache Storage.
    ClearCache(SeqOnly),
    /// Which of these URLs are stored in Cache Storage (answered with [`Event::Cached`]).
    ProbeCache(ProbeRequest),
    /// Classify the labelled photos at every α of a list (progress events; honours `cancel`).
    Sweep(SweepRequest),
    /// The merged checkpoint at α as safetensors bytes (answered with a `merged` message).
    ExportMerged(ExportRequest),
    /// Time the loaded model (answered with [`Event::Bench`]).
    Bench(BenchRequest),
    /// Abort the running download (handled at once, not queued).
    Cancel,
}

impl Request {
    pub fn seq(&self) -> Option<u32> {
        match self {
            Request::Load(r) => Some(r.seq),
            Request::SetAlpha(r) => Some(r.seq),
            Request::SetLabels(r) => Some(r.seq),
            Request::AddImages(r) => Some(r.seq),
            Request::RemoveImage(r) => Some(r.seq),
            Request::ClearCache(r) => Some(r.seq),
            Request::ProbeCache(r) => Some(r.seq),
            Request::Sweep(r) => Some(r.seq),
            Request::ExportMerged(r) => Some(r.seq),
            Request::Bench(r) => Some(r.seq),
            Request::Cancel => None,
        }
    }

    /// Reads a posted message: `type` picks the variant, the rest is deserialised with serde.
    pub fn from_js(data: JsValue) -> Result<Self, String> {
        let kind = js_sys::Reflect::get(&data, &JsValue::from_str("type"))
            .ok()
            .and_then(|v| v.as_string())
            .ok_or("message without a `type`")?;
        fn de<T: serde::de::DeserializeOwned>(kind: &str, data: JsValue) -> Result<T, String> {
            serde_wasm_bindgen::from_value(data).map_err(|e| format!("message `{kind}`: {e}"))
        }
        Ok(match kind.as_str() {
            "load" => Request::Load(de(&kind, data)?),
            "set_alpha" => Request::SetAlpha(de(&kind, data)?),
            "set_labels" => Request::SetLabels(de(&kind, data)?),
            "add_images" => Request::AddImages(de(&kind, data)?),
            "remove_image" => Request::RemoveImage(de(&kind, data)?),
            "clear_cache" => Request::ClearCache(de(&kind, data)?),
            "probe_cache" => Request::ProbeCache(de(&kind, data)?),
            "sweep" => Request::Sweep(de(&kind, data)?),
            "export_merged" => Request::ExportMerged(de(&kind, data)?),
            "bench" => Request::Bench(de(&kind, data)?),
            "cancel" => Request::Cancel,
            other => return Err(format!("unknown message type `{other}`")),
        })
    }
}

/// Which compute back end runs, and why that one.
#[derive(Debug, Clone, Serialize)]
pub struct Backend {
    /// `cpu` or `gpu`.
    pub kind: &'static str,
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
    /// `zero-shot` or `fine-tuned`.
    pub role: &'static str,
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
    /// `network`, `cache` or `local`.
    pub origin: &'static str,
    pub bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Scores {
    pub image: u32,
    /// `zero-shot` (α = 0), `merged` (α) or `fine-tuned` (α = 1).
    pub model: &'static str,
    pub alpha: f64,
    /// One probability per label, in label order.
    pub probs: Vec<f32>,
}

/// Worker → page.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The worker's wasm is running (sent once at start).
    Hello { version: &'static str, adapter: Option<AdapterInfo>, gpu_note: String, cache_available: bool },
    /// Download / read progress of one file.
    Progress {
        role: &'static str,
        /// `weights`, `config.json`, `preprocessor_config.json`.
        file: String,
        url: String,
        /// `network`, `cache` or `local`.
        origin: &'static str,
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
    Notice { level: &'static str, text: String, key: Option<String> },
    /// Both checkpoints are in and merged.
    Loaded { backend: Backend, report: Option<MergeReport>, models: Vec<ModelInfo>, image_size: u32, alpha: f64 },
    /// Probabilities for some photos at one α (for one or more of the three models).
    Results { labels: Vec<String>, templates: usize, scores: Vec<Scores> },
    /// A photo that cannot be used; the others go on.
    ImageError { image: u32, message: String },
    /// A request that failed as a whole (`what`: load, labels, …) with what to do about it.
    /// `cancelled`: the person pressed cancel (not an error to show as one).
    Failed { seq: u32, what: &'static str, message: String, cancelled: bool },
    /// A sweep step finished: `k` of `n` α values done.
    SweepProgress { seq: u32, k: u32, n: u32, alpha: f64 },
    /// The whole sweep (only sent when it was not cancelled).
    Sweep { seq: u32, labels: Vec<String>, points: Vec<SweepPoint> },
    /// Benchmark of the loaded model: how long the load took (download or cache, parse, upload,
    /// merge) and the timed steps.
    /// `wasm_memory_mb`: the worker's WebAssembly memory, which never shrinks: its peak so far.
    Bench { seq: u32, backend: String, checkpoint_mb: f64, load_s: f64, timings: crate::bench::Timings, wasm_memory_mb: f64 },
    /// A request is finished.
    Done { seq: u32 },
    /// The URLs of a `probe_cache` that are stored.
    Cached { urls: Vec<String> },
    /// Downloaded checkpoints deleted from Cache Storage.
    CacheCleared { entries: u32, usage_before: Option<f64>, usage_after: Option<f64> },
}

impl Event {
    pub fn to_js(&self) -> JsValue {
        self.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).unwrap_or(JsValue::NULL)
    }
}
