//! The device: adapter choice, the limits the model needs, buffer creation with accounting, error and
//! device-loss capture, and the one asynchronous read-back. Everything target-specific about the GPU
//! (blocking polls natively, browser callbacks on the web) stays in this file.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use crate::error::{Error, Result};

/// Every GPU failure becomes this error, so that it says where it came from.
pub(crate) fn gpu_error(msg: impl std::fmt::Display) -> Error {
    Error::Gpu(msg.to_string())
}

/// What the adapter is, for the CLI's `--device auto` and for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    pub name: String,
    /// "Vulkan", "Metal", "Dx12", "BrowserWebGpu".
    pub backend: String,
    pub driver: String,
    /// A rasteriser on the CPU (llvmpipe/lavapipe, SwiftShader, WARP): it works, but it is not a GPU.
    pub software: bool,
    pub shader_f16: bool,
}

impl AdapterSummary {
    fn new(info: &wgpu::AdapterInfo, features: wgpu::Features) -> Self {
        let text = format!("{} {} {}", info.name, info.driver, info.driver_info);
        let software = info.device_type == wgpu::DeviceType::Cpu || crate::engine::choice::is_software_renderer(&text);
        Self {
            name: if info.name.is_empty() { "unnamed adapter".into() } else { info.name.clone() },
            backend: format!("{:?}", info.backend),
            driver: info.driver.clone(),
            software,
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
        }
    }

    /// "GPU: NVIDIA GeForce RTX 4070 (Vulkan)", or a software renderer said as such.
    pub fn describe(&self) -> String {
        if self.software {
            format!("GPU engine on {} ({}): a software renderer running on the CPU, not your GPU", self.name, self.backend)
        } else {
            format!("GPU: {} ({})", self.name, self.backend)
        }
    }
}

fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    // No backend debug layers unless WGPU_DEBUG/WGPU_VALIDATION ask for them: they are slow.
    desc.flags = wgpu::InstanceFlags::empty().with_env();
    wgpu::Instance::new(desc)
}

async fn adapter(instance: &wgpu::Instance) -> Option<wgpu::Adapter> {
    let options = wgpu::RequestAdapterOptions {
        power_preference: wgpu::PowerPreference::HighPerformance,
        force_fallback_adapter: false,
        compatible_surface: None,
        ..Default::default()
    };
    instance.request_adapter(&options).await.ok()
}

/// The adapter the engine would use, or `None` when there is none (no driver, no WebGPU).
pub async fn probe() -> Option<AdapterSummary> {
    let instance = instance();
    let adapter = adapter(&instance).await?;
    Some(AdapterSummary::new(&adapter.get_info(), adapter.features()))
}

/// Counters of what the engine did to the device (buffer creations, bytes moved, work submitted).
/// `set_alpha` must leave `buffers_created` and `weight_bytes_uploaded` unchanged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct GpuStats {
    pub buffers_created: u64,
    /// Bytes of every buffer created (device memory held, roughly).
    pub bytes_allocated: u64,
    /// Checkpoint tensors copied to the device (both checkpoints, once).
    pub weight_bytes_uploaded: u64,
    /// Pixels, token ids and pooling indices, per call.
    pub input_bytes_uploaded: u64,
    /// Kernel parameters (uniforms): once per forward shape, 8 bytes per α change.
    pub param_bytes_uploaded: u64,
    pub bytes_read_back: u64,
    pub submissions: u64,
    /// Merges run on the device (one per α change).
    pub merges: u64,
    /// Tower forwards (one per batch chunk).
    pub forwards: u64,
    /// Bytes of the buffers alive now (created and not yet dropped): what a long session must
    /// not let grow.
    pub bytes_live: u64,
}

#[derive(Default)]
pub(crate) struct Counters {
    pub buffers_created: AtomicU64,
    pub bytes_allocated: AtomicU64,
    pub weight_bytes_uploaded: AtomicU64,
    pub input_bytes_uploaded: AtomicU64,
    pub param_bytes_uploaded: AtomicU64,
    pub bytes_read_back: AtomicU64,
    pub submissions: AtomicU64,
    pub merges: AtomicU64,
    pub forwards: AtomicU64,
    /// Shared with every [`Buf`], which gives its bytes back when its last clone is dropped.
    live: Arc<AtomicU64>,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    fn snapshot(&self) -> GpuStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        GpuStats {
            buffers_created: g(&self.buffers_created),
            bytes_allocated: g(&self.bytes_allocated),
            weight_bytes_uploaded: g(&self.weight_bytes_uploaded),
            input_bytes_uploaded: g(&self.input_bytes_uploaded),
            param_bytes_uploaded: g(&self.param_bytes_uploaded),
            bytes_read_back: g(&self.bytes_read_back),
            submissions: g(&self.submissions),
            merges: g(&self.merges),
            forwards: g(&self.forwards),
            bytes_live: g(&self.live),
        }
    }
}

/// What a buffer is for; decides its usages and which counter its upload goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A checkpoint tensor (read-only storage, filled once at creation).
    Weight,
    /// A merged tensor or an activation (storage, written by kernels, readable by copies).
    Work,
    /// Pixels, ids, indices: storage written from the host before each forward.
    Input,
    /// Kernel parameters.
    Uniform,
    /// Host-visible read-back buffer.
    Staging,
}

impl Role {
    fn usage(self) -> wgpu::BufferUsages {
        use wgpu::BufferUsages as U;
        match self {
            Role::Weight => U::STORAGE | U::COPY_SRC | U::COPY_DST,
            Role::Work => U::STORAGE | U::COPY_SRC | U::COPY_DST,
            Role::Input => U::STORAGE | U::COPY_DST,
            Role::Uniform => U::UNIFORM | U::COPY_DST,
            Role::Staging => U::MAP_READ | U::COPY_DST,
        }
    }
}

/// A device buffer that counts itself in [`GpuStats::bytes_live`] while any clone of it exists.
/// It dereferences to the `wgpu::Buffer`, so it is used wherever one is.
#[derive(Clone)]
pub(crate) struct Buf {
    buffer: wgpu::Buffer,
    _live: Arc<Live>,
}

struct Live {
    bytes: u64,
    counter: Arc<AtomicU64>,
}

impl Drop for Live {
    fn drop(&mut self) {
        self.counter.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

impl std::ops::Deref for Buf {
    type Target = wgpu::Buffer;
    fn deref(&self) -> &wgpu::Buffer {
        &self.buffer
    }
}

/// Buffers are padded to 16 bytes so that vec4 views of them are whole.
pub(crate) fn padded(bytes: u64) -> u64 {
    bytes.max(16).div_ceil(16) * 16
}

/// The device and queue with what the engine needs around them.
pub(crate) struct Gpu {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub summary: AdapterSummary,
    pub limits: wgpu::Limits,
    /// The device has `shader-f16` (requested when the caller wants f16 weights and the adapter has it).
    pub f16: bool,
    pub counters: Counters,
    lost: Arc<Mutex<Option<String>>>,
    errors: Arc<Mutex<Vec<String>>>,
}

impl Gpu {
    /// Opens the best adapter with the limits a model needs: storage bindings and buffers as large as
    /// the adapter allows (a CLIP token embedding alone is ≈ 101 MB in f32); with `shader-f16` when
    /// `want_f16` and the adapter has it. `max_binding` caps the storage binding size the engine
    /// plans with (see `GpuOptions::max_binding`).
    pub async fn new(want_f16: bool, max_binding: Option<u64>) -> Result<Self> {
        let instance = instance();
        let adapter = adapter(&instance).await.ok_or_else(|| {
            gpu_error(if cfg!(target_arch = "wasm32") {
                "no WebGPU adapter: this browser has no WebGPU, or it is disabled".to_string()
            } else {
                "no GPU adapter found (no Vulkan/Metal/DX12 driver). Without a GPU, install a software Vulkan driver \
                 (Debian/Ubuntu: apt-get install mesa-vulkan-drivers) or use --device cpu"
                    .to_string()
            })
        })?;
        let summary = AdapterSummary::new(&adapter.get_info(), adapter.features());
        let have = adapter.limits();
        // WebGPU's defaults where the adapter reaches them (else the downlevel ones), then the
        // buffer limits raised to all the adapter offers.
        let base = if wgpu::Limits::default().check_limits(&have) { wgpu::Limits::default() } else { wgpu::Limits::downlevel_defaults() };
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: have.max_storage_buffer_binding_size,
            max_buffer_size: have.max_buffer_size,
            max_compute_workgroups_per_dimension: have.max_compute_workgroups_per_dimension,
            ..base
        }
        .using_alignment(have.clone());
        let f16 = want_f16 && summary.shader_f16;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("wiseft"),
                required_features: if f16 { wgpu::Features::SHADER_F16 } else { wgpu::Features::empty() },
                required_limits: limits.clone(),
                memory_hints: wgpu::MemoryHints::Performance,
                ..Default::default()
            })
            .await
            .map_err(|e| gpu_error(format!("{}: cannot open the device: {e}", summary.name)))?;

        let mut limits = limits;
        if let Some(cap) = max_binding {
            limits.max_storage_buffer_binding_size = limits.max_storage_buffer_binding_size.min(cap);
        }
        let lost = Arc::new(Mutex::new(None));
        let errors = Arc::new(Mutex::new(Vec::new()));
        {
            let lost = lost.clone();
            device.set_device_lost_callback(move |reason, message| {
                if let Ok(mut l) = lost.lock() {
                    l.get_or_insert_with(|| if message.is_empty() { format!("{reason:?}") } else { format!("{reason:?}: {message}") });
                }
            });
            let errors = errors.clone();
            // wgpu's default handler panics; errors are kept and reported by `check` instead.
            device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                if let Ok(mut v) = errors.lock() {
                    v.push(e.to_string());
                }
            }));
        }
        Ok(Self { device, queue, summary, limits, f16, counters: Counters::default(), lost, errors })
    }

    pub fn stats(&self) -> GpuStats {
        self.counters.snapshot()
    }

    /// Whether the device was lost (a driver reset, the browser reclaiming it, `destroy`).
    pub fn is_lost(&self) -> bool {
        self.lost.lock().map(|l| l.is_some()).unwrap_or(true)
    }

    /// What the device said when it was lost.
    pub fn lost_reason(&self) -> Option<String> {
        self.lost.lock().ok().and_then(|l| l.clone())
    }

    /// The first error the device reported since the last check: loss, validation, out of memory.
    pub fn check(&self) -> Result<()> {
        if let Some(reason) = self.lost.lock().ok().and_then(|l| l.clone()) {
            return Err(gpu_error(format!("the device {} was lost ({reason}); recreate the engine", self.summary.name)));
        }
        let first = self.errors.lock().ok().and_then(|mut v| (!v.is_empty()).then(|| std::mem::take(&mut *v)));
        if let Some(errors) = first {
            return Err(gpu_error(format!("{}: {}", self.summary.name, errors.join("; "))));
        }
        Ok(())
    }

    fn fits(&self, label: &str, bytes: u64, role: Role) -> Result<()> {
        let storage = !matches!(role, Role::Uniform | Role::Staging);
        let (limit, value) = if bytes > self.limits.max_buffer_size {
            ("max_buffer_size", self.limits.max_buffer_size)
        } else if storage && bytes > self.limits.max_storage_buffer_binding_size {
            ("max_storage_buffer_binding_size", self.limits.max_storage_buffer_binding_size)
        } else {
            return Ok(());
        };
        Err(gpu_error(format!(
            "`{label}` needs a buffer of {:.1} MB, over the adapter's {limit} of {:.1} MB ({}); use --device cpu",
            bytes as f64 / 1e6,
            value as f64 / 1e6,
            self.summary.name
        )))
    }

    /// An uninitialised (zeroed) buffer of at least `bytes`.
    pub fn buffer(&self, label: &str, bytes: u64, role: Role) -> Result<Buf> {
        let size = padded(bytes);
        self.fits(label, size, role)?;
        Counters::add(&self.counters.buffers_created, 1);
        Counters::add(&self.counters.bytes_allocated, size);
        Counters::add(&self.counters.live, size);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size, usage: role.usage(), mapped_at_creation: false });
        Ok(Buf { buffer, _live: Arc::new(Live { bytes: size, counter: self.counters.live.clone() }) })
    }

    /// A buffer filled with `data`. Written through the queue rather than mapped at creation: in
    /// the browser a mapped range is a copy in wasm memory (which never shrinks), while
    /// `writeBuffer` reads the bytes where they are.
    pub fn buffer_with(&self, label: &str, data: &[u8], role: Role) -> Result<Buf> {
        let buffer = self.buffer(label, data.len() as u64, role)?;
        self.write_at(&buffer, 0, data, role);
        Ok(buffer)
    }

    /// Host data into an existing buffer, ahead of the next submission.
    pub fn write(&self, buffer: &wgpu::Buffer, data: &[u8], role: Role) {
        self.write_at(buffer, 0, data, role);
    }

    /// Host data into an existing buffer at `offset` (a multiple of 4), ahead of the next
    /// submission; a length that is not whole 4-byte words is padded with zeros (the buffer's
    /// size is padded too).
    pub fn write_at(&self, buffer: &wgpu::Buffer, offset: u64, data: &[u8], role: Role) {
        let counter = match role {
            Role::Weight => &self.counters.weight_bytes_uploaded,
            Role::Uniform => &self.counters.param_bytes_uploaded,
            _ => &self.counters.input_bytes_uploaded,
        };
        Counters::add(counter, data.len() as u64);
        let whole = data.len() / 4 * 4;
        if whole > 0 {
            self.queue.write_buffer(buffer, offset, &data[..whole]);
        }
        if whole < data.len() {
            let mut tail = [0u8; 4];
            tail[..data.len() - whole].copy_from_slice(&data[whole..]);
            self.queue.write_buffer(buffer, offset + whole as u64, &tail);
        }
    }

    pub fn submit(&self, encoder: wgpu::CommandEncoder) {
        Counters::add(&self.counters.submissions, 1);
        self.queue.submit([encoder.finish()]);
    }

    /// Resolves once all work submitted so far has finished (for timing, and before teardown).
    pub async fn wait(&self) -> Result<()> {
        let (send, receive) = oneshot();
        self.queue.on_submitted_work_done(move || send(()));
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| gpu_error(format!("{}: waiting for the device: {e}", self.summary.name)))?;
        receive.await;
        self.check()
    }

    /// The first `floats` f32 of a staging buffer, once the work submitted before has finished.
    pub async fn read(&self, staging: &wgpu::Buffer, floats: usize) -> Result<Vec<f32>> {
        let bytes = self.read_bytes(staging, floats * 4).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }

    /// The first `bytes` (a multiple of 4) of a staging buffer, once the work submitted before has
    /// finished. Natively this blocks in `poll`; on the web it awaits the browser's callback.
    pub async fn read_bytes(&self, staging: &wgpu::Buffer, bytes: usize) -> Result<Vec<u8>> {
        let bytes = bytes as u64;
        if bytes == 0 {
            return Ok(Vec::new());
        }
        let (send, receive) = oneshot();
        staging.map_async(wgpu::MapMode::Read, ..bytes, send);
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| gpu_error(format!("{}: waiting for the device: {e}", self.summary.name)))?;
        let mapped = receive.await;
        self.check()?;
        mapped.map_err(|e| gpu_error(format!("{}: reading the result back: {e}", self.summary.name)))?;
        let out = {
            let view = staging.get_mapped_range(..bytes).map_err(|e| gpu_error(format!("reading the result back: {e}")))?;
            view.to_vec()
        };
        staging.unmap();
        Counters::add(&self.counters.bytes_read_back, bytes);
        Ok(out)
    }
}

/// A one-value channel whose receiving end is a future: the bridge from wgpu's map callback to
/// `async`, with no executor dependency (pollster natively, the browser's event loop on the web).
struct Slot<T> {
    value: Option<T>,
    waker: Option<Waker>,
}

struct Receiver<T>(Arc<Mutex<Slot<T>>>);

fn oneshot<T: Send + 'static>() -> (impl FnOnce(T) + Send + 'static, Receiver<T>) {
    let slot = Arc::new(Mutex::new(Slot { value: None, waker: None }));
    let sender = slot.clone();
    let send = move |v: T| {
        let waker = {
            let mut s = sender.lock().expect("oneshot lock");
            s.value = Some(v);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    };
    (send, Receiver(slot))
}

impl<T> Future for Receiver<T> {
    type Output = T;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut s = self.0.lock().expect("oneshot lock");
        match s.value.take() {
            Some(v) => Poll::Ready(v),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}
