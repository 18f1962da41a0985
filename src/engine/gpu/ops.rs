//! Each kernel alone on host data: upload, one dispatch, read back. For the kernel tests
//! (tests/gpu_kernels.rs) and benchmarks; the engine itself never goes through here.

use super::device::{Buf, Gpu, Role};
use super::kernels::{
    act_code, elementwise, fold, matmul_groups, AttentionParams, Dims3, Im2colParams, Kernel, Kernels, LayerNormParams,
    LerpParams, MatmulParams, StepsBuilder, ATTENTION_MAX_DIM, ATTENTION_MAX_SEQ, MATMUL_ACCUMULATE, MATMUL_BIAS,
};
use super::{AdapterSummary, GpuStats};
use crate::clip::config::Activation;
use crate::error::{Error, Result};

/// Which matmul kernel to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatmulKernel {
    /// What the engine picks: vec4 loads when K is divisible by 4, else scalar.
    Auto,
    Scalar,
    Vec4,
    /// The weight rounded to f16 on the host and read as f16 (K divisible by 4; needs `shader-f16`).
    F16,
}

/// A device with the kernels compiled.
pub struct KernelRunner {
    gpu: Gpu,
    kernels: Kernels,
}

fn check(what: &str, got: usize, want: usize) -> Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(Error::Invalid(format!("{what}: {got} values, expected {want}")))
    }
}

impl KernelRunner {
    pub async fn new() -> Result<Self> {
        // With shader-f16 where the adapter has it, so that the f16 kernels can be tried too.
        let gpu = Gpu::new(true, None).await?;
        let kernels = Kernels::new(&gpu).await?;
        Ok(Self { gpu, kernels })
    }

    pub fn adapter(&self) -> &AdapterSummary {
        &self.gpu.summary
    }

    pub fn stats(&self) -> GpuStats {
        self.gpu.stats()
    }

    /// Whether the f16 kernels are available (the adapter has `shader-f16`).
    pub fn has_f16(&self) -> bool {
        self.gpu.f16
    }

    fn input_f16(&self, label: &str, data: &[f32]) -> Result<Buf> {
        let halves: Vec<u16> = data.iter().map(|&v| half::f16::from_f32(v).to_bits()).collect();
        self.gpu.buffer_with(label, bytemuck::cast_slice(&halves), Role::Input)
    }

    fn input(&self, label: &str, data: &[f32]) -> Result<Buf> {
        self.gpu.buffer_with(label, bytemuck::cast_slice(data), Role::Input)
    }

    fn input_u32(&self, label: &str, data: &[u32]) -> Result<Buf> {
        self.gpu.buffer_with(label, bytemuck::cast_slice(data), Role::Input)
    }

    fn output(&self, floats: usize, init: Option<&[f32]>) -> Result<Buf> {
        match init {
            Some(data) => self.gpu.buffer_with("output", bytemuck::cast_slice(data), Role::Work),
            None => self.gpu.buffer("output", (floats * 4) as u64, Role::Work),
        }
    }

    /// One dispatch, then `floats` values of `out` read back.
    async fn run(&self, steps: StepsBuilder, out: &Buf, floats: usize) -> Result<Vec<f32>> {
        Ok(bytemuck::pod_collect_to_vec(&self.run_bytes(steps, out, floats * 4).await?))
    }

    async fn run_bytes(&self, steps: StepsBuilder, out: &Buf, bytes: usize) -> Result<Vec<u8>> {
        let bytes = bytes.div_ceil(4) * 4;
        let steps = steps.build(&self.gpu, &self.kernels, "op")?;
        let staging = self.gpu.buffer("read-back", bytes as u64, Role::Staging)?;
        let mut encoder = self.gpu.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("op") });
        steps.record(&self.kernels, &mut encoder, "op");
        encoder.copy_buffer_to_buffer(out, 0, &staging, 0, Some(bytes.max(4) as u64));
        self.gpu.submit(encoder);
        let out = self.gpu.read_bytes(&staging, bytes).await?;
        self.gpu.check()?;
        Ok(out)
    }

    fn need_f16(&self) -> Result<()> {
        if self.gpu.f16 {
            Ok(())
        } else {
            Err(Error::Invalid(format!("{} has no shader-f16", self.gpu.summary.name)))
        }
    }

    /// y[m, n] = act(x[m, k] · w[n, k]ᵀ + bias) (+ residual).
    #[allow(clippy::too_many_arguments)]
    pub async fn matmul(
        &self,
        x: &[f32],
        w: &[f32],
        bias: Option<&[f32]>,
        residual: Option<&[f32]>,
        (m, n, k): (usize, usize, usize),
        act: Option<Activation>,
        kernel: MatmulKernel,
    ) -> Result<Vec<f32>> {
        check("matmul x", x.len(), m * k)?;
        check("matmul w", w.len(), n * k)?;
        if let Some(b) = bias {
            check("matmul bias", b.len(), n)?;
        }
        if let Some(r) = residual {
            check("matmul residual", r.len(), m * n)?;
        }
        let kernel = match kernel {
            MatmulKernel::Auto if k % 4 == 0 => Kernel::MatmulVec4,
            MatmulKernel::Auto | MatmulKernel::Scalar => Kernel::Matmul,
            MatmulKernel::Vec4 | MatmulKernel::F16 if k % 4 != 0 => {
                return Err(Error::Invalid(format!("vec4 loads need K divisible by 4, got {k}")))
            }
            MatmulKernel::Vec4 => Kernel::MatmulVec4,
            MatmulKernel::F16 => {
                self.need_f16()?;
                Kernel::MatmulF16
            }
        };
        let xb = self.input("x", x)?;
        let wb = if kernel == Kernel::MatmulF16 { self.input_f16("w", w)? } else { self.input("w", w)? };
        let bb = self.input("bias", bias.unwrap_or(&[0.0]))?;
        let y = self.output(m * n, residual)?;
        let flags = act_code(act) | if bias.is_some() { MATMUL_BIAS } else { 0 } | if residual.is_some() { MATMUL_ACCUMULATE } else { 0 };
        let mut steps = StepsBuilder::default();
        let params = MatmulParams { m: m as u32, n: n as u32, k: k as u32, flags };
        steps.push(&self.gpu, kernel, params, &[&xb, &wb, &bb, &y], matmul_groups(m, n));
        self.run(steps, &y, m * n).await
    }

    pub async fn layer_norm(&self, x: &[f32], weight: &[f32], bias: &[f32], width: usize, eps: f64) -> Result<Vec<f32>> {
        let rows = x.len() / width.max(1);
        check("layer_norm x", x.len(), rows * width)?;
        check("layer_norm weight", weight.len(), width)?;
        check("layer_norm bias", bias.len(), width)?;
        let (xb, wb, bb) = (self.input("x", x)?, self.input("weight", weight)?, self.input("bias", bias)?);
        let y = self.output(x.len(), None)?;
        let mut steps = StepsBuilder::default();
        let params = LayerNormParams { rows: rows as u32, width: width as u32, eps: eps as f32, pad: 0 };
        steps.push(&self.gpu, Kernel::LayerNorm, params, &[&xb, &wb, &bb, &y], fold(&self.gpu, rows));
        self.run(steps, &y, x.len()).await
    }

    /// Row softmax over rows of `width`.
    pub async fn softmax(&self, x: &[f32], width: usize) -> Result<Vec<f32>> {
        self.rows(Kernel::Softmax, x, width).await
    }

    /// Row L2 normalisation.
    pub async fn l2_normalize(&self, x: &[f32], width: usize) -> Result<Vec<f32>> {
        self.rows(Kernel::L2Normalize, x, width).await
    }

    async fn rows(&self, kernel: Kernel, x: &[f32], width: usize) -> Result<Vec<f32>> {
        let rows = x.len() / width.max(1);
        check("rows", x.len(), rows * width)?;
        let xb = self.input("x", x)?;
        let y = self.output(x.len(), None)?;
        let mut steps = StepsBuilder::default();
        steps.push(&self.gpu, kernel, Dims3 { a: rows as u32, b: width as u32, c: 0, pad: 0 }, &[&xb, &y], fold(&self.gpu, rows));
        self.run(steps, &y, x.len()).await
    }

    /// Multi-head attention; q, k, v and the result are [batch·seq, heads·head_dim].
    #[allow(clippy::too_many_arguments)]
    pub async fn attention(
        &self,
        q: &[f32],
        k: &[f32],
        v: &[f32],
        (batch, seq, heads, head_dim): (usize, usize, usize, usize),
        causal: bool,
    ) -> Result<Vec<f32>> {
        let len = batch * seq * heads * head_dim;
        for (name, t) in [("q", q), ("k", k), ("v", v)] {
            check(name, t.len(), len)?;
        }
        if seq > ATTENTION_MAX_SEQ || head_dim > ATTENTION_MAX_DIM {
            return Err(Error::Invalid(format!("attention: seq {seq} / head_dim {head_dim} beyond the kernel's limits")));
        }
        let (qb, kb, vb) = (self.input("q", q)?, self.input("k", k)?, self.input("v", v)?);
        let y = self.output(len, None)?;
        let params = AttentionParams {
            batch: batch as u32,
            seq: seq as u32,
            heads: heads as u32,
            head_dim: head_dim as u32,
            causal: causal as u32,
            scale: (head_dim as f64).powf(-0.5) as f32,
            pad: [0; 2],
        };
        let mut steps = StepsBuilder::default();
        steps.push(&self.gpu, Kernel::Attention, params, &[&qb, &kb, &vb, &y], fold(&self.gpu, batch * heads * seq));
        self.run(steps, &y, len).await
    }

    /// The activation alone, element-wise (`None`: identity).
    pub async fn activation(&self, x: &[f32], act: Option<Activation>) -> Result<Vec<f32>> {
        let y = self.output(x.len(), Some(x))?;
        let mut steps = StepsBuilder::default();
        let params = Dims3 { a: x.len() as u32, b: act_code(act), c: 0, pad: 0 };
        steps.push(&self.gpu, Kernel::Activation, params, &[&y], elementwise(&self.gpu, x.len()));
        self.run(steps, &y, x.len()).await
    }

    /// The merge kernel: (1 − α)·a + α·b with the host's rounding.
    pub async fn lerp(&self, a: &[f32], b: &[f32], alpha: crate::merge::Alpha) -> Result<Vec<f32>> {
        check("lerp b", b.len(), a.len())?;
        let (ab, bb) = (self.input("a", a)?, self.input("b", b)?);
        let y = self.output(a.len(), None)?;
        let mut steps = StepsBuilder::default();
        let params = LerpParams::at(alpha);
        steps.push(&self.gpu, Kernel::Lerp, params, &[&ab, &bb, &y], elementwise(&self.gpu, (y.size() / 16) as usize));
        self.run(steps, &y, a.len()).await
    }

    /// The f16 merge kernel: `a` and `b` rounded to f16 on the host, merged in f32 on the device
    /// and stored as f16; returned widened to f32.
    pub async fn lerp_f16(&self, a: &[f32], b: &[f32], alpha: crate::merge::Alpha) -> Result<Vec<f32>> {
        self.need_f16()?;
        check("lerp b", b.len(), a.len())?;
        let (ab, bb) = (self.input_f16("a", a)?, self.input_f16("b", b)?);
        let y = self.gpu.buffer("output", (a.len() * 2) as u64, Role::Work)?;
        let mut steps = StepsBuilder::default();
        let params = LerpParams::at(alpha);
        steps.push(&self.gpu, Kernel::LerpF16, params, &[&ab, &bb, &y], elementwise(&self.gpu, (y.size() / 8) as usize));
        let bytes = self.run_bytes(steps, &y, a.len() * 2).await?;
        let halves: Vec<u16> = bytemuck::pod_collect_to_vec(&bytes);
        Ok(halves[..a.len()].iter().map(|&h| half::f16::from_bits(h).to_f32()).collect())
    }

    /// Patches [batch·grid², channels·patch²] of images [batch, channels, size, size].
    pub async fn im2col(&self, pixels: &[f32], (batch, channels, size, patch): (usize, usize, usize, usize)) -> Result<Vec<f32>> {
        check("pixels", pixels.len(), batch * channels * size * size)?;
        let grid = size / patch;
        let len = batch * grid * grid * channels * patch * patch;
        let pb = self.input("pixels", pixels)?;
        let y = self.output(len, None)?;
        let params =
            Im2colParams { batch: batch as u32, channels: channels as u32, size: size as u32, patch: patch as u32, grid: grid as u32, pad: [0; 3] };
        let mut steps = StepsBuilder::default();
        steps.push(&self.gpu, Kernel::Im2col, params, &[&pb, &y], elementwise(&self.gpu, len));
        self.run(steps, &y, len).await
    }

    /// Rows `index` of `x` [_, width].
    pub async fn gather_rows(&self, x: &[f32], index: &[u32], width: usize) -> Result<Vec<f32>> {
        let rows = x.len() / width.max(1);
        if let Some(bad) = index.iter().find(|&&i| i as usize >= rows) {
            return Err(Error::Invalid(format!("gather: row {bad} of {rows}")));
        }
        let (xb, ib) = (self.input("x", x)?, self.input_u32("index", index)?);
        let len = index.len() * width;
        let y = self.output(len, None)?;
        let mut steps = StepsBuilder::default();
        let params = Dims3 { a: index.len() as u32, b: width as u32, c: 0, pad: 0 };
        steps.push(&self.gpu, Kernel::GatherRows, params, &[&ib, &xb, &y], elementwise(&self.gpu, len));
        self.run(steps, &y, len).await
    }
}
