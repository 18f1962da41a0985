//! The GPU back end: both CLIP towers and the WiSE-FT merge as WGSL compute shaders on wgpu —
//! Vulkan, Metal or DX12 natively, WebGPU in the browser, from the same code.
//!
//! - `device`: adapter, limits, buffers with accounting, errors and device loss, read-back.
//! - `kernels`: the pipelines (`kernels/*.wgsl`) and replayable dispatch lists.
//! - `weights`: both checkpoints on the device and the lerp that merges them in place.
//! - `forward`: the towers as dispatch lists, one plan per (tower, batch, length), cached.
//! - [`ops`]: each kernel alone on host data, for tests and benchmarks.
//!
//! The API is `async` because the browser's adapter, device and buffer mapping are; natively the
//! `*_blocking` wrappers run them with `pollster`.

mod device;
mod forward;
mod kernels;
pub mod ops;
mod weights;

use std::sync::{Arc, Mutex};

pub use device::{probe, AdapterSummary, GpuStats};
use device::{gpu_error, Buf, Counters, Gpu, Role};
use forward::{text_plan, vision_plan, Plan, Shape, Tower};
use kernels::Kernels;
use weights::DeviceWeights;

use crate::clip::config::{TextConfig, VisionConfig};
use crate::error::{Error, Result};
use crate::merge::{Alpha, ModelPair, Point};

/// Plans kept per engine (tower × batch × length); the least recently used goes first.
const PLAN_CACHE: usize = 8;
/// Most images / prompts in one forward.
const MAX_IMAGE_BATCH: usize = 32;
const MAX_TEXT_BATCH: usize = 64;
/// Largest activation buffer a batch may need.
const ACTIVATION_BUDGET: u64 = 64 << 20;

/// How the engine stores the model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GpuOptions {
    /// Store the weight matrices as f16 (half the memory and bandwidth, f32 accumulation) when the
    /// adapter has `shader-f16`; ignored otherwise. Off by default: f16 weights move probabilities
    /// by more than the 1e-4 the reference tests allow.
    pub f16_weights: bool,
    /// Treat storage bindings as limited to this many bytes (when below the adapter's limit):
    /// tables over it are split into row blocks. For tests of the splitting on any adapter, and
    /// to mimic a smaller device.
    pub max_binding: Option<u64>,
}

/// The device opened before the checkpoints are read, so that a download can put each tensor on
/// it as soon as its bytes are in ([`GpuLoader::stage`]) instead of holding the whole file first.
pub struct GpuLoader {
    gpu: Gpu,
    kernels: Kernels,
    staged: weights::Staged,
    scope: Option<wgpu::ErrorScopeGuard>,
}

impl GpuLoader {
    /// Opens the device and compiles the kernels.
    pub async fn new(options: GpuOptions) -> Result<Self> {
        let gpu = Gpu::new(options.f16_weights, options.max_binding).await?;
        let kernels = Kernels::new(&gpu).await?;
        // Uploads report running out of memory when the engine is finished.
        let scope = Some(gpu.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory));
        Ok(Self { gpu, kernels, staged: weights::Staged::default(), scope })
    }

    /// Uploads one tensor of the zero-shot (`fine_tuned` false) or fine-tuned checkpoint now,
    /// decoding its bytes piece by piece. Integer tensors are ignored (the forward does not use
    /// them); says whether it took the tensor.
    pub fn stage(&mut self, fine_tuned: bool, name: &str, tensor: &crate::checkpoint::RawTensor<'_>) -> Result<bool> {
        if !tensor.dtype.is_float() {
            return Ok(false);
        }
        self.staged.stage(&self.gpu, fine_tuned, name, tensor.shape, tensor)?;
        Ok(true)
    }

    /// Bytes uploaded so far.
    pub fn staged_bytes(&self) -> u64 {
        self.staged.bytes()
    }

    /// Builds the engine for `pair` at `alpha`: staged tensors are used where they are, the rest
    /// uploaded now; staged tensors the plan does not use are freed.
    pub async fn build(self, pair: &ModelPair, alpha: Alpha) -> Result<GpuEngine> {
        self.build_at(pair, &Point::Alpha(alpha)).await
    }

    /// Like [`GpuLoader::build`] at any point (an α, or a recipe's weights).
    pub async fn build_at(mut self, pair: &ModelPair, point: &Point) -> Result<GpuEngine> {
        let cfg = &pair.zero_shot.config;
        let need = |what: &str| Error::Invalid(format!("the merged model has no {what}: classification needs a full CLIPModel"));
        let vision = cfg.vision.clone().ok_or_else(|| need("vision tower"))?;
        let text = cfg.text.clone().ok_or_else(|| need("text tower"))?;
        let gpu = self.gpu;
        let weights = DeviceWeights::upload(&gpu, &self.kernels, pair, gpu.f16, &mut self.staged)?;
        drop(self.staged);
        if let Some(e) = self.scope.take().expect("set in new").pop().await {
            return Err(gpu_error(format!(
                "{}: out of memory uploading the checkpoints ({:.0} MB of buffers asked for; the device has less free): {e}. Use smaller checkpoints, or the CPU engine",
                gpu.summary.name,
                gpu.stats().bytes_allocated as f64 / 1e6
            )));
        }
        let engine = GpuEngine { gpu, kernels: self.kernels, weights, vision, text, plans: Mutex::new(Vec::new()), staging: Mutex::new(None) };
        engine.merge(point)?;
        engine.gpu.check()?;
        Ok(engine)
    }
}

pub struct GpuEngine {
    gpu: Gpu,
    kernels: Kernels,
    weights: DeviceWeights,
    vision: VisionConfig,
    text: TextConfig,
    plans: Mutex<Vec<Arc<Plan>>>,
    /// The read-back buffer, reused across calls (taken while a call reads it).
    staging: Mutex<Option<Buf>>,
}

impl GpuEngine {
    /// Opens the device, uploads both checkpoints once, compiles the kernels and merges at `alpha`.
    pub async fn new(pair: &ModelPair, alpha: Alpha) -> Result<Self> {
        Self::with_options(pair, alpha, GpuOptions::default()).await
    }

    pub async fn with_options(pair: &ModelPair, alpha: Alpha, options: GpuOptions) -> Result<Self> {
        GpuLoader::new(options).await?.build(pair, alpha).await
    }

    /// The engine at `point` (an α, or a recipe's weights).
    pub async fn at(pair: &ModelPair, point: &Point, options: GpuOptions) -> Result<Self> {
        GpuLoader::new(options).await?.build_at(pair, point).await
    }

    fn merge(&self, point: &Point) -> Result<()> {
        match point {
            Point::Alpha(alpha) => self.weights.merge(&self.gpu, &self.kernels, *alpha),
            Point::Mix(mix) => self.weights.merge_mix(&self.gpu, &self.kernels, mix),
        }
    }

    /// Re-merges a recipe on the device: one write of the weights, one dispatch per merged tensor
    /// reading all of its inputs at once.
    pub fn set_point(&mut self, _pair: &ModelPair, point: &Point) -> Result<()> {
        self.gpu.check()?;
        self.merge(point)
    }

    /// Re-merges on the device: the lerp kernel rewrites the merged weights from the two uploaded
    /// checkpoints. Nothing is uploaded but α itself, nothing waits for the device.
    pub fn set_alpha(&mut self, _pair: &ModelPair, alpha: Alpha) -> Result<()> {
        self.gpu.check()?;
        self.weights.merge(&self.gpu, &self.kernels, alpha)
    }

    /// Resolves when the device has finished everything submitted (a merge, say): for timing.
    pub async fn wait(&self) -> Result<()> {
        self.gpu.wait().await
    }

    /// "GPU: <adapter> (<backend>)", or the software renderer said as such.
    pub fn describe(&self) -> String {
        let half = if self.weights.half_count() > 0 { " (f16 weights)" } else { "" };
        format!("{}{half}", self.gpu.summary.describe())
    }

    /// Whether the weight matrices are stored as f16.
    pub fn f16_weights(&self) -> bool {
        self.weights.half_count() > 0
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.gpu.summary
    }

    /// What the engine did to the device so far.
    pub fn stats(&self) -> GpuStats {
        self.gpu.stats()
    }

    /// How many tensors the merge rewrites on each α change.
    pub fn merged_tensors(&self) -> usize {
        self.weights.merged_count()
    }

    /// `pixels`: `n` images, each channels × size × size (the model's image size), concatenated.
    pub async fn encode_images(&self, pixels: &[f32], n: usize) -> Result<Vec<Vec<f32>>> {
        let (c, s) = (self.vision.num_channels, self.vision.image_size);
        let per = c * s * s;
        if pixels.len() != n * per {
            return Err(Error::Invalid(format!(
                "{} pixel values for {n} images: the model takes {c}×{s}×{s} = {per} per image",
                pixels.len()
            )));
        }
        if n == 0 {
            return Ok(Vec::new());
        }
        let tokens = self.vision.num_positions();
        let e = &self.vision.encoder;
        let widest = (tokens * e.hidden_size.max(e.intermediate_size)).max(per) as u64 * 4;
        let batch = self.batch_for(widest, MAX_IMAGE_BATCH);
        let mut jobs = Vec::new();
        for start in (0..n).step_by(batch) {
            let b = batch.min(n - start);
            // Rows past `b` in a bucketed plan hold stale pixels; their outputs are not read.
            let plan = self.plan(Shape { tower: Tower::Vision, batch: bucket(b, batch), seq: tokens })?;
            jobs.push((plan, start, b, bytemuck::cast_slice(&pixels[start * per..(start + b) * per]).to_vec()));
        }
        self.run(jobs, n).await
    }

    /// Token id rows and the position to pool in each (the end-of-text token, found on the host).
    /// Only positions up to the last pooled one are run: under the causal mask nothing after it
    /// changes the pooled token.
    pub async fn encode_texts(&self, ids: &[Vec<u32>], pooled: &[usize]) -> Result<Vec<Vec<f32>>> {
        if ids.len() != pooled.len() {
            return Err(Error::Invalid(format!("{} token rows but {} pooled positions", ids.len(), pooled.len())));
        }
        let n = ids.len();
        if n == 0 {
            return Ok(Vec::new());
        }
        let needed = pooled.iter().max().map_or(1, |p| p + 1);
        let max_pos = self.text.max_position_embeddings;
        if needed > max_pos {
            return Err(Error::Invalid(format!("pooled position {} is past the model's {max_pos} positions", needed - 1)));
        }
        // Lengths rounded up to a multiple of 8 so that prompt sets share plans; the extra
        // positions come after every pooled token, so the causal mask keeps them out.
        let seq = needed.div_ceil(8).saturating_mul(8).min(max_pos);
        let vocab = self.text.vocab_size as u32;
        for (row, (r, &p)) in ids.iter().zip(pooled).enumerate() {
            if p >= r.len() {
                return Err(Error::Invalid(format!("prompt {row}: pooled position {p} is past its {} tokens", r.len())));
            }
            if let Some(bad) = r.iter().take(seq).find(|&&t| t >= vocab) {
                return Err(Error::Invalid(format!("prompt {row}: token id {bad} is outside the vocabulary of {vocab}")));
            }
        }
        let e = &self.text.encoder;
        let widest = (seq * e.hidden_size.max(e.intermediate_size)) as u64 * 4;
        let batch = self.batch_for(widest, MAX_TEXT_BATCH);
        let mut jobs = Vec::new();
        for start in (0..n).step_by(batch) {
            let b = batch.min(n - start);
            let rows = bucket(b, batch);
            let plan = self.plan(Shape { tower: Tower::Text, batch: rows, seq })?;
            // ids [rows·seq] (positions past a row's end and the padding rows of a bucketed plan
            // are 0), then the pooled rows, as one byte string split when written.
            let mut flat = vec![0u32; rows * seq + rows];
            for (i, r) in ids[start..start + b].iter().enumerate() {
                let n = r.len().min(seq);
                flat[i * seq..i * seq + n].copy_from_slice(&r[..n]);
                flat[rows * seq + i] = (i * seq + pooled[start + i]) as u32;
            }
            jobs.push((plan, start, b, bytemuck::cast_slice(&flat).to_vec()));
        }
        self.run(jobs, n).await
    }

    /// Runs each (plan, first row, rows, input bytes) as one command encoder, copies each output to
    /// its place in one staging buffer, and reads it back once.
    async fn run(&self, jobs: Vec<(Arc<Plan>, usize, usize, Vec<u8>)>, n: usize) -> Result<Vec<Vec<f32>>> {
        let width = jobs.first().map_or(0, |j| j.0.out_width);
        let bytes = (n * width * 4) as u64;
        let staging = self.take_staging(bytes)?;
        for (plan, start, b, input) in &jobs {
            match plan.shape.tower {
                Tower::Vision => self.gpu.write(&plan.input, input, Role::Input),
                Tower::Text => {
                    let split = plan.shape.batch * plan.shape.seq * 4;
                    self.gpu.write(&plan.input, &input[..split], Role::Input);
                    self.gpu.write(&plan.index, &input[split..], Role::Input);
                }
            }
            let mut encoder = self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("forward") });
            plan.record(&self.kernels, &mut encoder);
            encoder.copy_buffer_to_buffer(&plan.out, 0, &staging, (start * width * 4) as u64, Some((b * width * 4) as u64));
            self.gpu.submit(encoder);
            Counters::add(&self.gpu.counters.forwards, 1);
        }
        let result = self.gpu.read(&staging, n * width).await;
        if let Ok(mut s) = self.staging.lock() {
            if s.as_ref().is_none_or(|old| old.size() < staging.size()) {
                *s = Some(staging);
            }
        }
        Ok(result?.chunks(width).map(<[f32]>::to_vec).collect())
    }

    fn take_staging(&self, bytes: u64) -> Result<Buf> {
        let cached = self.staging.lock().ok().and_then(|mut s| s.take());
        match cached {
            Some(b) if b.size() >= bytes => Ok(b),
            _ => self.gpu.buffer("read-back", bytes.max(1 << 16), Role::Staging),
        }
    }

    /// The largest batch whose widest activation stays within budget and the binding limit.
    fn batch_for(&self, bytes_per_item: u64, max: usize) -> usize {
        let budget = ACTIVATION_BUDGET.min(self.gpu.limits.max_storage_buffer_binding_size);
        ((budget / bytes_per_item.max(1)) as usize).clamp(1, max)
    }

    fn plan(&self, shape: Shape) -> Result<Arc<Plan>> {
        let mut plans = self.plans.lock().map_err(|_| gpu_error("plan cache poisoned"))?;
        if let Some(i) = plans.iter().position(|p| p.shape == shape) {
            let plan = plans.remove(i);
            plans.push(plan.clone());
            return Ok(plan);
        }
        let plan = Arc::new(match shape.tower {
            Tower::Vision => vision_plan(&self.gpu, &self.kernels, &self.weights, &self.vision, shape.batch)?,
            Tower::Text => text_plan(&self.gpu, &self.kernels, &self.weights, &self.text, shape.batch, shape.seq)?,
        });
        if plans.len() >= PLAN_CACHE {
            plans.remove(0);
        }
        plans.push(plan.clone());
        Ok(plan)
    }

    /// Destroys the device as a driver reset would, so that tests can check that what follows is an
    /// error, not a panic. The engine is unusable afterwards.
    #[doc(hidden)]
    pub fn lose_device(&self) {
        self.gpu.device.destroy();
    }

    /// A handle that destroys this engine's device later, from outside a running call (the page's
    /// test hook loses the device in the middle of a forward or a merge). Test-only.
    #[doc(hidden)]
    pub fn device_switch(&self) -> DeviceSwitch {
        DeviceSwitch(self.gpu.device.clone())
    }

    /// Whether the device is gone: nothing on it works any more, the engine must be rebuilt.
    pub fn is_lost(&self) -> bool {
        self.gpu.is_lost()
    }

    /// Why the device was lost, as it said ("Destroyed: …"), once it was.
    pub fn lost_reason(&self) -> Option<String> {
        self.gpu.lost_reason()
    }

    /// Dispatches per forward of each cached plan (tower, batch, length, dispatches), for reports.
    pub fn plan_summary(&self) -> Vec<(String, usize, usize, usize)> {
        self.plans
            .lock()
            .map(|p| p.iter().map(|p| (format!("{:?}", p.shape.tower), p.shape.batch, p.shape.seq, p.dispatches())).collect())
            .unwrap_or_default()
    }
}

/// Destroys one engine's device when asked ([`GpuEngine::device_switch`]); test-only.
#[doc(hidden)]
#[derive(Clone)]
pub struct DeviceSwitch(wgpu::Device);

impl DeviceSwitch {
    pub fn lose(&self) {
        self.0.destroy();
    }
}

/// The plan batch for `b` items: the next power of two (at most `max`), so that any number of
/// inputs needs only a handful of plan shapes.
fn bucket(b: usize, max: usize) -> usize {
    b.next_power_of_two().min(max).max(b)
}

/// Native entry points: the async API run to completion on this thread.
#[cfg(not(target_arch = "wasm32"))]
impl GpuEngine {
    pub fn new_blocking(pair: &ModelPair, alpha: Alpha) -> Result<Self> {
        pollster::block_on(Self::new(pair, alpha))
    }

    pub fn encode_images_blocking(&self, pixels: &[f32], n: usize) -> Result<Vec<Vec<f32>>> {
        pollster::block_on(self.encode_images(pixels, n))
    }

    pub fn encode_texts_blocking(&self, ids: &[Vec<u32>], pooled: &[usize]) -> Result<Vec<Vec<f32>>> {
        pollster::block_on(self.encode_texts(ids, pooled))
    }
}

/// The adapter `--device auto` would use, natively; `None` without one.
#[cfg(not(target_arch = "wasm32"))]
pub fn probe_blocking() -> Option<AdapterSummary> {
    pollster::block_on(probe())
}
