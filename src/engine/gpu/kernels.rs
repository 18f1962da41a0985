//! The compute kernels (one `.wgsl` file each, in `kernels/`), their parameter blocks, and
//! [`Steps`]: a list of dispatches with their bind groups and parameters, built once and replayed.

use bytemuck::{Pod, Zeroable};

use super::device::{gpu_error, Buf, Gpu, Role};
use crate::clip::config::Activation;
use crate::error::Result;

const ACT_FNS: &str = include_str!("kernels/act_fns.wgsl");
const MATMUL_TILE: &str = include_str!("kernels/matmul_tile.wgsl");
const REDUCE: &str = include_str!("kernels/reduce.wgsl");
// The storage type of weights in the kernels that read them (lerp, text_embed, matmul_vec4): one
// source each, compiled for f32 or, where the adapter has shader-f16, for f16.
const F32: &str = "alias weight = f32;";
const F16: &str = "enable f16;\nalias weight = f16;";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kernel {
    Lerp,
    Im2col,
    VisionEmbed,
    TextEmbed,
    GatherRows,
    LayerNorm,
    Matmul,
    MatmulVec4,
    Attention,
    Activation,
    Softmax,
    L2Normalize,
    LerpF16,
    TextEmbedF16,
    MatmulF16,
    Combine,
    CombineF16,
}

impl Kernel {
    const ALL: [Kernel; 17] = [
        Kernel::Lerp,
        Kernel::Im2col,
        Kernel::VisionEmbed,
        Kernel::TextEmbed,
        Kernel::GatherRows,
        Kernel::LayerNorm,
        Kernel::Matmul,
        Kernel::MatmulVec4,
        Kernel::Attention,
        Kernel::Activation,
        Kernel::Softmax,
        Kernel::L2Normalize,
        Kernel::LerpF16,
        Kernel::TextEmbedF16,
        Kernel::MatmulF16,
        Kernel::Combine,
        Kernel::CombineF16,
    ];

    /// Kernels reading f16 weights: compiled only on devices with `shader-f16`.
    fn needs_f16(self) -> bool {
        matches!(self, Kernel::LerpF16 | Kernel::TextEmbedF16 | Kernel::MatmulF16 | Kernel::CombineF16)
    }

    fn name(self) -> &'static str {
        match self {
            Kernel::Lerp => "lerp",
            Kernel::Im2col => "im2col",
            Kernel::VisionEmbed => "vision_embed",
            Kernel::TextEmbed => "text_embed",
            Kernel::GatherRows => "gather_rows",
            Kernel::LayerNorm => "layer_norm",
            Kernel::Matmul => "matmul",
            Kernel::MatmulVec4 => "matmul_vec4",
            Kernel::Attention => "attention",
            Kernel::Activation => "activation",
            Kernel::Softmax => "softmax",
            Kernel::L2Normalize => "l2_normalize",
            Kernel::LerpF16 => "lerp_f16",
            Kernel::TextEmbedF16 => "text_embed_f16",
            Kernel::MatmulF16 => "matmul_f16",
            Kernel::Combine => "combine",
            Kernel::CombineF16 => "combine_f16",
        }
    }

    fn source(self) -> String {
        match self {
            Kernel::Lerp => format!("{F32}\n{}", include_str!("kernels/lerp.wgsl")),
            Kernel::Im2col => include_str!("kernels/im2col.wgsl").into(),
            Kernel::VisionEmbed => include_str!("kernels/vision_embed.wgsl").into(),
            Kernel::TextEmbed => format!("{F32}\n{}", include_str!("kernels/text_embed.wgsl")),
            Kernel::GatherRows => include_str!("kernels/gather_rows.wgsl").into(),
            Kernel::LayerNorm => format!("{REDUCE}\n{}", include_str!("kernels/layer_norm.wgsl")),
            Kernel::Matmul => format!("{ACT_FNS}\n{MATMUL_TILE}\n{}", include_str!("kernels/matmul.wgsl")),
            Kernel::MatmulVec4 => format!("{F32}\n{ACT_FNS}\n{MATMUL_TILE}\n{}", include_str!("kernels/matmul_vec4.wgsl")),
            Kernel::Attention => format!("{REDUCE}\n{}", include_str!("kernels/attention.wgsl")),
            Kernel::Activation => format!("{ACT_FNS}\n{}", include_str!("kernels/activation.wgsl")),
            Kernel::Softmax => format!("{REDUCE}\n{}", include_str!("kernels/softmax.wgsl")),
            Kernel::L2Normalize => format!("{REDUCE}\n{}", include_str!("kernels/l2_normalize.wgsl")),
            Kernel::LerpF16 => format!("{F16}\n{}", include_str!("kernels/lerp.wgsl")),
            Kernel::TextEmbedF16 => format!("{F16}\n{}", include_str!("kernels/text_embed.wgsl")),
            Kernel::MatmulF16 => format!("{F16}\n{ACT_FNS}\n{MATMUL_TILE}\n{}", include_str!("kernels/matmul_vec4.wgsl")),
            Kernel::Combine => format!("{F32}\n{}", include_str!("kernels/combine.wgsl")),
            Kernel::CombineF16 => format!("{F16}\n{}", include_str!("kernels/combine.wgsl")),
        }
    }
}

/// The activation code the kernels take (act_fns.wgsl).
pub(crate) fn act_code(act: Option<Activation>) -> u32 {
    match act {
        None => 0,
        Some(Activation::QuickGelu) => 1,
        Some(Activation::Gelu) => 2,
        Some(Activation::GeluTanh) => 3,
    }
}

// Parameter blocks, laid out as the WGSL `Params` structs (16-byte multiples).

/// Most weights one combine dispatch takes: w₀ and 15 inputs.
pub(crate) const COMBINE_MAX: usize = 16;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct CombineParams {
    pub n: u32,
    /// vec4s of this block (of each input)
    pub len4: u32,
    /// the block's first vec4 in the tensor's base and output buffers
    pub start4: u32,
    pub pad: u32,
    pub w: [f32; COMBINE_MAX],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct LerpParams {
    pub wa: f32,
    pub wb: f32,
    pub pad: [u32; 2],
}

impl LerpParams {
    /// The weights at `alpha`, rounded as the host's [`crate::merge::lerp`] rounds them.
    pub fn at(alpha: crate::merge::Alpha) -> Self {
        let (wa, wb) = alpha.weights();
        Self { wa, wb, pad: [0; 2] }
    }
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct Im2colParams {
    pub batch: u32,
    pub channels: u32,
    pub size: u32,
    pub patch: u32,
    pub grid: u32,
    pub pad: [u32; 3],
}

/// Vision and text embeddings and gather: three sizes and a pad.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct Dims3 {
    pub a: u32,
    pub b: u32,
    pub c: u32,
    pub pad: u32,
}

/// text_embed.wgsl: the token rows [first, end) bound in this dispatch.
#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct TextEmbedParams {
    pub rows: u32,
    pub seq: u32,
    pub hidden: u32,
    pub first: u32,
    pub end: u32,
    pub pad: [u32; 3],
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct LayerNormParams {
    pub rows: u32,
    pub width: u32,
    pub eps: f32,
    pub pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct MatmulParams {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub flags: u32,
}

pub(crate) const MATMUL_BIAS: u32 = 4;
pub(crate) const MATMUL_ACCUMULATE: u32 = 8;

#[repr(C)]
#[derive(Clone, Copy, Pod, Zeroable)]
pub(crate) struct AttentionParams {
    pub batch: u32,
    pub seq: u32,
    pub heads: u32,
    pub head_dim: u32,
    pub causal: u32,
    pub scale: f32,
    pub pad: [u32; 2],
}

/// attention.wgsl's workgroup arrays.
pub(crate) const ATTENTION_MAX_SEQ: usize = 1024;
pub(crate) const ATTENTION_MAX_DIM: usize = 256;

/// The compiled pipelines, one per kernel, created once per engine (the f16 ones only on devices
/// with `shader-f16`).
pub(crate) struct Kernels {
    pipelines: Vec<Option<wgpu::ComputePipeline>>,
}

impl Kernels {
    pub async fn new(gpu: &Gpu) -> Result<Self> {
        let scope = gpu.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let pipelines = Kernel::ALL
            .iter()
            .map(|&k| {
                if k.needs_f16() && !gpu.f16 {
                    return None;
                }
                let module = gpu.device.create_shader_module(wgpu::ShaderModuleDescriptor {
                    label: Some(k.name()),
                    source: wgpu::ShaderSource::Wgsl(k.source().into()),
                });
                Some(gpu.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some(k.name()),
                    layout: None,
                    module: &module,
                    entry_point: Some("main"),
                    compilation_options: Default::default(),
                    cache: None,
                }))
            })
            .collect();
        if let Some(e) = scope.pop().await {
            return Err(gpu_error(format!("{}: a kernel does not compile: {e}", gpu.summary.name)));
        }
        Ok(Self { pipelines })
    }

    fn pipeline(&self, k: Kernel) -> &wgpu::ComputePipeline {
        self.pipelines[Kernel::ALL.iter().position(|&x| x == k).expect("every kernel is listed")]
            .as_ref()
            .expect("f16 kernels are only used on devices with shader-f16")
    }
}

/// Workgroup counts for `n` workgroups, folded into y past the per-dimension limit (the kernels
/// index `wg.x + wg.y · num_workgroups.x`).
pub(crate) fn fold(gpu: &Gpu, n: usize) -> [u32; 3] {
    let max = gpu.limits.max_compute_workgroups_per_dimension.max(1) as usize;
    let n = n.max(1);
    let x = n.min(max);
    [x as u32, n.div_ceil(x) as u32, 1]
}

/// Workgroups for an element-wise kernel of 256 threads over `n` elements.
pub(crate) fn elementwise(gpu: &Gpu, n: usize) -> [u32; 3] {
    fold(gpu, n.div_ceil(256))
}

/// Workgroups for a matmul y[m, n] (32×32 tiles).
pub(crate) fn matmul_groups(m: usize, n: usize) -> [u32; 3] {
    [n.div_ceil(32).max(1) as u32, m.div_ceil(32).max(1) as u32, 1]
}

#[derive(Clone)]
struct Pending {
    kernel: Kernel,
    offset: u64,
    size: u64,
    buffers: Vec<Buf>,
    groups: [u32; 3],
}

/// Dispatches being put together: each with its kernel, its parameter block (all blocks share one
/// uniform buffer, at aligned offsets) and its storage buffers in binding order (1, 2, …).
#[derive(Default, Clone)]
pub(crate) struct StepsBuilder {
    params: Vec<u8>,
    pending: Vec<Pending>,
}

impl StepsBuilder {
    pub fn push<P: Pod>(&mut self, gpu: &Gpu, kernel: Kernel, params: P, buffers: &[&Buf], groups: [u32; 3]) {
        let align = gpu.limits.min_uniform_buffer_offset_alignment.max(16) as usize;
        let offset = self.params.len().div_ceil(align) * align;
        self.params.resize(offset, 0);
        self.params.extend_from_slice(bytemuck::bytes_of(&params));
        self.pending.push(Pending {
            kernel,
            offset: offset as u64,
            size: std::mem::size_of::<P>() as u64,
            buffers: buffers.iter().map(|&b| b.clone()).collect(),
            groups,
        });
    }

    /// Creates the parameter buffer (each step its own block) and the bind groups.
    pub fn build(self, gpu: &Gpu, kernels: &Kernels, label: &str) -> Result<Steps> {
        let params = gpu.buffer_with(&format!("{label} parameters"), &self.params, Role::Uniform)?;
        Ok(self.bind(gpu, kernels, params, false))
    }

    /// Like [`build`](Self::build), but every step binds one shared parameter block of `size`
    /// bytes, left for the caller to write (the merge's (wa, wb), rewritten on each α change).
    pub fn build_shared(self, gpu: &Gpu, kernels: &Kernels, label: &str, size: usize) -> Result<Steps> {
        let params = gpu.buffer(&format!("{label} parameters"), size as u64, Role::Uniform)?;
        Ok(self.bind(gpu, kernels, params, true))
    }

    fn bind(self, gpu: &Gpu, kernels: &Kernels, params: Buf, shared: bool) -> Steps {
        let steps = self
            .pending
            .into_iter()
            .map(|p| {
                let pipeline = kernels.pipeline(p.kernel);
                let mut entries = vec![wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &params,
                        offset: if shared { 0 } else { p.offset },
                        size: wgpu::BufferSize::new(p.size),
                    }),
                }];
                entries.extend(
                    p.buffers.iter().enumerate().map(|(i, b)| wgpu::BindGroupEntry { binding: i as u32 + 1, resource: b.as_entire_binding() }),
                );
                let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some(p.kernel.name()),
                    layout: &pipeline.get_bind_group_layout(0),
                    entries: &entries,
                });
                Step { kernel: p.kernel, bind_group, groups: p.groups, offset: p.offset }
            })
            .collect();
        Steps { steps, params }
    }
}

pub(crate) struct Step {
    kernel: Kernel,
    /// Where its parameter block starts in the parameter buffer (0 for a shared block).
    offset: u64,
    bind_group: wgpu::BindGroup,
    groups: [u32; 3],
}

/// A recorded sequence of dispatches, replayed into one compute pass.
pub(crate) struct Steps {
    steps: Vec<Step>,
    /// Owned so that it lives as long as the bind groups pointing into it.
    params: Buf,
}

impl Steps {
    pub fn params(&self) -> &Buf {
        &self.params
    }

    pub fn record(&self, kernels: &Kernels, encoder: &mut wgpu::CommandEncoder, label: &str) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(label), timestamp_writes: None });
        let mut current = None;
        for s in &self.steps {
            if current != Some(s.kernel) {
                pass.set_pipeline(kernels.pipeline(s.kernel));
                current = Some(s.kernel);
            }
            pass.set_bind_group(0, &s.bind_group, &[]);
            let [x, y, z] = s.groups;
            pass.dispatch_workgroups(x, y, z);
        }
    }

    pub fn len(&self) -> usize {
        self.steps.len()
    }

    /// Where each step's parameter block starts, in step order (to rewrite them all at once).
    pub fn offsets(&self) -> impl Iterator<Item = u64> + '_ {
        self.steps.iter().map(|s| s.offset)
    }
}
