//! The two towers as dispatch lists. A [`Plan`] is one tower at one shape (batch, sequence length):
//! its activation buffers, parameter blocks and bind groups are created once and the plan is
//! replayed for every batch of that shape. Plans bind the weight buffers, whose contents the merge
//! rewrites in place, so an α change leaves every plan valid.
//!
//! Same math as the CPU reference (`engine/cpu/model.rs`): pre-norm encoder layers; patch embedding
//! as im2col + matmul; class-token pooling + post_layernorm for images; end-of-text pooling (at
//! positions computed on the host) + final_layer_norm for text; projections without bias.

use super::device::{gpu_error, Buf, Gpu, Role};
use super::kernels::{
    act_code, elementwise, fold, matmul_groups, AttentionParams, Dims3, Im2colParams, Kernel, Kernels, LayerNormParams,
    MatmulParams, Steps, StepsBuilder, TextEmbedParams, ATTENTION_MAX_DIM, ATTENTION_MAX_SEQ, MATMUL_ACCUMULATE, MATMUL_BIAS,
};
use super::weights::DeviceWeights;
use crate::clip::config::{Activation, EncoderConfig, TextConfig, VisionConfig};
use crate::error::Result;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tower {
    Vision,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Shape {
    pub tower: Tower,
    pub batch: usize,
    pub seq: usize,
}

pub(crate) struct Plan {
    pub shape: Shape,
    steps: Steps,
    /// Pixels [batch, channels, size, size] f32, or token ids [batch·seq] u32.
    pub input: Buf,
    /// Rows to pool (u32): written per batch for text, fixed for images.
    pub index: Buf,
    /// Projected embeddings [batch, projection_dim].
    pub out: Buf,
    pub out_width: usize,
    /// The activations, owned here for the plan's lifetime.
    _buffers: Vec<Buf>,
}

impl Plan {
    pub fn record(&self, kernels: &Kernels, encoder: &mut wgpu::CommandEncoder) {
        let label = match self.shape.tower {
            Tower::Vision => "vision tower",
            Tower::Text => "text tower",
        };
        self.steps.record(kernels, encoder, label);
    }

    pub fn dispatches(&self) -> usize {
        self.steps.len()
    }
}

/// Records dispatches against the weights.
struct Builder<'a> {
    gpu: &'a Gpu,
    weights: &'a DeviceWeights,
    steps: StepsBuilder,
    buffers: Vec<Buf>,
    /// Bound where a matmul has no bias.
    none: Buf,
}

impl<'a> Builder<'a> {
    fn new(gpu: &'a Gpu, weights: &'a DeviceWeights) -> Result<Self> {
        let none = gpu.buffer("no bias", 16, Role::Work)?;
        Ok(Self { gpu, weights, steps: StepsBuilder::default(), buffers: Vec::new(), none })
    }

    fn activation(&mut self, label: &str, floats: usize) -> Result<Buf> {
        let b = self.gpu.buffer(label, (floats * 4) as u64, Role::Work)?;
        self.buffers.push(b.clone());
        Ok(b)
    }

    fn w(&self, name: &str) -> Result<Buf> {
        self.weights.get(name).cloned()
    }

    /// y[m, n] = act(x[m, k] · W[n, k]ᵀ + b) (+ y).
    #[allow(clippy::too_many_arguments)]
    fn linear(
        &mut self,
        x: &Buf,
        weight: &str,
        bias: Option<&str>,
        y: &Buf,
        (m, n, k): (usize, usize, usize),
        act: Option<Activation>,
        accumulate: bool,
    ) -> Result<()> {
        let shape = self.weights.shape(weight)?;
        if shape.iter().product::<usize>() != n * k || shape[0] != n {
            return Err(gpu_error(format!("`{weight}` is {shape:?}, the forward needs [{n}, {k}]")));
        }
        let w = self.w(weight)?;
        let b = match bias {
            Some(name) => self.w(name)?,
            None => self.none.clone(),
        };
        let flags = act_code(act) | if bias.is_some() { MATMUL_BIAS } else { 0 } | if accumulate { MATMUL_ACCUMULATE } else { 0 };
        let kernel = if self.weights.is_half(weight) {
            Kernel::MatmulF16
        } else if k % 4 == 0 {
            Kernel::MatmulVec4
        } else {
            Kernel::Matmul
        };
        let params = MatmulParams { m: m as u32, n: n as u32, k: k as u32, flags };
        self.steps.push(self.gpu, kernel, params, &[x, &w, &b, y], matmul_groups(m, n));
        Ok(())
    }

    fn layer_norm(&mut self, x: &Buf, prefix: &str, y: &Buf, rows: usize, width: usize, eps: f64) -> Result<()> {
        let (w, b) = (self.w(&format!("{prefix}.weight"))?, self.w(&format!("{prefix}.bias"))?);
        let params = LayerNormParams { rows: rows as u32, width: width as u32, eps: eps as f32, pad: 0 };
        let groups = fold(self.gpu, rows);
        self.steps.push(self.gpu, Kernel::LayerNorm, params, &[x, &w, &b, y], groups);
        Ok(())
    }

    fn gather(&mut self, index: &Buf, x: &Buf, y: &Buf, rows: usize, width: usize) {
        let params = Dims3 { a: rows as u32, b: width as u32, c: 0, pad: 0 };
        let groups = elementwise(self.gpu, rows * width);
        self.steps.push(self.gpu, Kernel::GatherRows, params, &[index, x, y], groups);
    }

    /// The encoder layers on the residual stream `x` [batch·seq, hidden].
    fn encoder(&mut self, prefix: &str, cfg: &EncoderConfig, x: &Buf, batch: usize, seq: usize, causal: bool) -> Result<()> {
        let (h, inter, heads) = (cfg.hidden_size, cfg.intermediate_size, cfg.num_attention_heads);
        let d = cfg.head_dim();
        if seq > ATTENTION_MAX_SEQ || d > ATTENTION_MAX_DIM {
            return Err(gpu_error(format!(
                "{prefix}: attention over {seq} tokens with heads of {d} is beyond the kernel's {ATTENTION_MAX_SEQ} tokens / head size {ATTENTION_MAX_DIM}"
            )));
        }
        let rows = batch * seq;
        let y = self.activation(&format!("{prefix} normed"), rows * h)?;
        let q = self.activation(&format!("{prefix} q"), rows * h)?;
        let k = self.activation(&format!("{prefix} k"), rows * h)?;
        let v = self.activation(&format!("{prefix} v"), rows * h)?;
        let ctx = self.activation(&format!("{prefix} attention"), rows * h)?;
        let mlp = self.activation(&format!("{prefix} mlp"), rows * inter)?;
        let eps = cfg.layer_norm_eps;
        let attention = AttentionParams {
            batch: batch as u32,
            seq: seq as u32,
            heads: heads as u32,
            head_dim: d as u32,
            causal: causal as u32,
            scale: (d as f64).powf(-0.5) as f32,
            pad: [0; 2],
        };
        for l in 0..cfg.num_hidden_layers {
            let p = format!("{prefix}.encoder.layers.{l}");
            self.layer_norm(x, &format!("{p}.layer_norm1"), &y, rows, h, eps)?;
            for (proj, out) in [("q_proj", &q), ("k_proj", &k), ("v_proj", &v)] {
                let w = format!("{p}.self_attn.{proj}");
                self.linear(&y, &format!("{w}.weight"), Some(&format!("{w}.bias")), out, (rows, h, h), None, false)?;
            }
            let groups = fold(self.gpu, batch * heads * seq);
            self.steps.push(self.gpu, Kernel::Attention, attention, &[&q, &k, &v, &ctx], groups);
            let o = format!("{p}.self_attn.out_proj");
            self.linear(&ctx, &format!("{o}.weight"), Some(&format!("{o}.bias")), x, (rows, h, h), None, true)?;
            self.layer_norm(x, &format!("{p}.layer_norm2"), &y, rows, h, eps)?;
            let f1 = format!("{p}.mlp.fc1");
            self.linear(&y, &format!("{f1}.weight"), Some(&format!("{f1}.bias")), &mlp, (rows, inter, h), Some(cfg.hidden_act), false)?;
            let f2 = format!("{p}.mlp.fc2");
            self.linear(&mlp, &format!("{f2}.weight"), Some(&format!("{f2}.bias")), x, (rows, h, inter), None, true)?;
        }
        Ok(())
    }

    fn finish(self, kernels: &Kernels, shape: Shape, input: Buf, index: Buf, out: Buf, out_width: usize) -> Result<Plan> {
        let label = format!("{:?} batch {} × {}", shape.tower, shape.batch, shape.seq);
        let steps = self.steps.build(self.gpu, kernels, &label)?;
        let mut buffers = self.buffers;
        buffers.push(self.none);
        Ok(Plan { shape, steps, input, index, out, out_width, _buffers: buffers })
    }
}

pub(crate) fn vision_plan(gpu: &Gpu, kernels: &Kernels, weights: &DeviceWeights, cfg: &VisionConfig, batch: usize) -> Result<Plan> {
    let (c, s, p, g) = (cfg.num_channels, cfg.image_size, cfg.patch_size, cfg.grid());
    let h = cfg.encoder.hidden_size;
    let tokens = g * g + 1;
    let mut b = Builder::new(gpu, weights)?;
    let input = gpu.buffer("pixels", (batch * c * s * s * 4) as u64, Role::Input)?;
    let rows_idx: Vec<u32> = (0..batch).map(|i| (i * tokens) as u32).collect();
    let index = gpu.buffer_with("class token rows", bytemuck::cast_slice(&rows_idx), Role::Input)?;

    let patches = b.activation("patches", batch * g * g * c * p * p)?;
    let im2col = Im2colParams { batch: batch as u32, channels: c as u32, size: s as u32, patch: p as u32, grid: g as u32, pad: [0; 3] };
    b.steps.push(gpu, Kernel::Im2col, im2col, &[&input, &patches], elementwise(gpu, batch * g * g * c * p * p));
    let patch_embeds = b.activation("patch embeddings", batch * g * g * h)?;
    b.linear(&patches, "vision_model.embeddings.patch_embedding.weight", None, &patch_embeds, (batch * g * g, h, c * p * p), None, false)?;
    let embeds = b.activation("embeddings", batch * tokens * h)?;
    let cls = b.w("vision_model.embeddings.class_embedding")?;
    let pos = b.w("vision_model.embeddings.position_embedding.weight")?;
    let dims = Dims3 { a: batch as u32, b: tokens as u32, c: h as u32, pad: 0 };
    b.steps.push(gpu, Kernel::VisionEmbed, dims, &[&cls, &patch_embeds, &pos, &embeds], elementwise(gpu, batch * tokens * h));
    let x = b.activation("vision residual", batch * tokens * h)?;
    b.layer_norm(&embeds, "vision_model.pre_layrnorm", &x, batch * tokens, h, cfg.encoder.layer_norm_eps)?;
    b.encoder("vision_model", &cfg.encoder, &x, batch, tokens, false)?;

    let pooled = b.activation("pooled", batch * h)?;
    b.gather(&index, &x, &pooled, batch, h);
    let normed = b.activation("pooled normed", batch * h)?;
    b.layer_norm(&pooled, "vision_model.post_layernorm", &normed, batch, h, cfg.encoder.layer_norm_eps)?;
    let proj = weights.shape("visual_projection.weight")?[0];
    let out = b.activation("image embeddings", batch * proj)?;
    b.linear(&normed, "visual_projection.weight", None, &out, (batch, proj, h), None, false)?;
    b.finish(kernels, Shape { tower: Tower::Vision, batch, seq: tokens }, input, index, out, proj)
}

pub(crate) fn text_plan(gpu: &Gpu, kernels: &Kernels, weights: &DeviceWeights, cfg: &TextConfig, batch: usize, seq: usize) -> Result<Plan> {
    let h = cfg.encoder.hidden_size;
    let rows = batch * seq;
    let mut b = Builder::new(gpu, weights)?;
    let input = gpu.buffer("token ids", (rows * 4) as u64, Role::Input)?;
    let index = gpu.buffer("end-of-text rows", (batch * 4) as u64, Role::Input)?;
    let x = b.activation("text residual", rows * h)?;
    let table = "text_model.embeddings.token_embedding.weight";
    let tok = weights.parts(table)?;
    let pos = b.w("text_model.embeddings.position_embedding.weight")?;
    let kernel = if weights.is_half(table) { Kernel::TextEmbedF16 } else { Kernel::TextEmbed };
    // One dispatch per row block of the table (one unless it is over the binding limit).
    for (i, (first, block)) in tok.blocks.iter().enumerate() {
        let end = tok.blocks.get(i + 1).map_or(tok.rows, |(f, _)| *f);
        let params = TextEmbedParams { rows: rows as u32, seq: seq as u32, hidden: h as u32, first: *first as u32, end: end as u32, pad: [0; 3] };
        b.steps.push(gpu, kernel, params, &[&input, block, &pos, &x], elementwise(gpu, rows * h));
    }
    b.encoder("text_model", &cfg.encoder, &x, batch, seq, true)?;

    let pooled = b.activation("pooled", batch * h)?;
    b.gather(&index, &x, &pooled, batch, h);
    let normed = b.activation("pooled normed", batch * h)?;
    b.layer_norm(&pooled, "text_model.final_layer_norm", &normed, batch, h, cfg.encoder.layer_norm_eps)?;
    let proj = weights.shape("text_projection.weight")?[0];
    let out = b.activation("text embeddings", batch * proj)?;
    b.linear(&normed, "text_projection.weight", None, &out, (batch, proj, h), None, false)?;
    b.finish(kernels, Shape { tower: Tower::Text, batch, seq }, input, index, out, proj)
}
