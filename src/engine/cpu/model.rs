//! CLIP's two towers on candle (the CPU back end and the reference the GPU engine is tested against).
//! Follows transformers' `modeling_clip.py`: pre-norm encoder layers, class-token pooling with
//! `post_layernorm` for images, end-of-text pooling after `final_layer_norm` for text.

use std::sync::Arc;

use candle_core::{DType, Device, Module, Storage, Tensor};
use candle_nn::LayerNorm;

use super::activation::quick_gelu_in_place;
use super::gemm::SimdLinear;
use crate::checkpoint::tensor::{HostTensor, Values};
use crate::clip::config::{Activation, EncoderConfig, TextConfig, VisionConfig};
use crate::error::{Error, Result};
use crate::merge::{ModelPair, Point};

/// How the Linear layers multiply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matmul {
    /// candle's GEMM (threaded and AVX natively).
    Candle,
    /// [`SimdLinear`]: single-threaded 4-lane SIMD, faster in wasm.
    Simd,
}

impl Default for Matmul {
    fn default() -> Self {
        if cfg!(target_arch = "wasm32") {
            Self::Simd
        } else {
            Self::Candle
        }
    }
}

/// The merged model's weights at one point (an α or a recipe's weights), made into candle tensors (or SIMD layers sharing the values)
/// as the towers ask for them, so that at most one merged tensor exists on the host besides the
/// towers' own.
pub struct MergedWeights<'a> {
    pub pair: &'a ModelPair,
    pub point: &'a Point,
    pub matmul: Matmul,
}

impl MergedWeights<'_> {
    /// The merged values of one tensor, shared with the checkpoint where α leaves it unchanged.
    fn values(&self, name: &str) -> Result<Arc<[f32]>> {
        shared_values(&self.pair.tensor_at(name, self.point)?, name)
    }

    fn get(&self, name: &str) -> Result<Tensor> {
        let values = self.values(name)?;
        // `values` has checked that the tensor exists.
        let shape = &self.pair.zero_shot.tensors[name].shape;
        Ok(Tensor::from_slice(&values, shape.as_slice(), &Device::Cpu)?)
    }

    /// A weight of shape [out, …] used as the matrix [out, in] of a Linear layer.
    fn dense(&self, weight: &str, bias: Option<&str>) -> Result<Dense> {
        let pair = self.pair;
        let source = pair.source_at(weight, self.point)?;
        // `source` has checked that the tensor exists.
        let shape = &pair.zero_shot.tensors[weight].shape;
        let out = shape.first().copied().unwrap_or(1);
        let inp = shape.iter().skip(1).product::<usize>();
        Ok(match self.matmul {
            Matmul::Candle => {
                let w = self.get(weight)?.reshape((out, inp))?;
                Dense::Candle(candle_nn::Linear::new(w, bias.map(|b| self.get(b)).transpose()?))
            }
            Matmul::Simd => {
                let weight_values = source.values(weight)?;
                let bias = bias.map(|b| self.values(b)).transpose()?;
                let layer = SimdLinear::new(weight_values, bias, out, inp)
                    .map_err(|e| Error::Tensor { file: "merged weights".into(), tensor: weight.into(), msg: e.to_string() })?;
                Dense::Simd(layer)
            }
        })
    }

    fn linear(&self, prefix: &str) -> Result<Dense> {
        self.dense(&format!("{prefix}.weight"), Some(&format!("{prefix}.bias")))
    }

    fn layer_norm(&self, prefix: &str, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm::new(self.get(&format!("{prefix}.weight"))?, self.get(&format!("{prefix}.bias"))?, eps))
    }
}

/// A merged tensor's values, shared rather than copied.
fn shared_values(t: &HostTensor, name: &str) -> Result<Arc<[f32]>> {
    match &t.values {
        Values::F32(v) => Ok(v.clone()),
        Values::I64(_) => Err(Error::Tensor { file: "merged weights".into(), tensor: name.into(), msg: "holds integers, not weights".into() }),
        Values::Uploaded => Err(Error::Invalid(
            "the checkpoint's weights were streamed to the GPU and are not on the host: the CPU back end needs them read again".into(),
        )),
    }
}

/// A Linear layer (or a bias-free projection) with either multiply.
enum Dense {
    Candle(candle_nn::Linear),
    Simd(SimdLinear),
}

impl Dense {
    /// The layer, then `act`. On the SIMD path CLIP's `quick_gelu` runs in place on the output.
    fn forward_activated(&self, x: &Tensor, act: Activation) -> candle_core::Result<Tensor> {
        match (self, act) {
            (Self::Simd(layer), Activation::QuickGelu) => simd_forward(layer, x, Some(quick_gelu_in_place)),
            _ => activate(&self.forward(x)?, act),
        }
    }
}

impl Module for Dense {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Self::Candle(l) => l.forward(x),
            Self::Simd(layer) => simd_forward(layer, x, None),
        }
    }
}

/// `layer` on a candle tensor's values (read in place), `then` applied to the output values.
fn simd_forward(layer: &SimdLinear, x: &Tensor, then: Option<fn(&mut [f32])>) -> candle_core::Result<Tensor> {
    let mut ys = simd_forward_many(&[layer], x, then)?;
    Ok(ys.pop().expect("one layer, one output"))
}

/// Several layers over one input in one parallel region ([`SimdLinear::forward_many`]).
fn simd_forward_many(layers: &[&SimdLinear], x: &Tensor, then: Option<fn(&mut [f32])>) -> candle_core::Result<Vec<Tensor>> {
    let x = x.contiguous()?;
    let ys = {
        let (storage, layout) = x.storage_and_layout();
        let values = match &*storage {
            Storage::Cpu(s) => s.as_slice::<f32>()?,
            _ => candle_core::bail!("the SIMD GEMM runs on the CPU only"),
        };
        let (start, end) = layout.contiguous_offsets().ok_or_else(|| candle_core::Error::Msg("not contiguous".into()))?;
        SimdLinear::forward_many(layers, &values[start..end], then).map_err(|e| candle_core::Error::Msg(e.to_string()))?
    };
    layers
        .iter()
        .zip(ys)
        .map(|(layer, y)| {
            let mut shape = x.dims().to_vec();
            if let Some(last) = shape.last_mut() {
                *last = layer.out_features();
            }
            Tensor::from_vec(y, shape, x.device())
        })
        .collect()
}

fn activate(x: &Tensor, act: Activation) -> candle_core::Result<Tensor> {
    match act {
        Activation::QuickGelu => x * candle_nn::ops::sigmoid(&(x * 1.702)?)?,
        Activation::Gelu => x.gelu_erf(),
        Activation::GeluTanh => x.gelu(),
    }
}

struct EncoderLayer {
    q: Dense,
    k: Dense,
    v: Dense,
    out: Dense,
    ln1: LayerNorm,
    ln2: LayerNorm,
    fc1: Dense,
    fc2: Dense,
    heads: usize,
    act: Activation,
}

impl EncoderLayer {
    fn new(w: &MergedWeights<'_>, prefix: &str, cfg: &EncoderConfig) -> Result<Self> {
        let eps = cfg.layer_norm_eps;
        Ok(Self {
            q: w.linear(&format!("{prefix}.self_attn.q_proj"))?,
            k: w.linear(&format!("{prefix}.self_attn.k_proj"))?,
            v: w.linear(&format!("{prefix}.self_attn.v_proj"))?,
            out: w.linear(&format!("{prefix}.self_attn.out_proj"))?,
            ln1: w.layer_norm(&format!("{prefix}.layer_norm1"), eps)?,
            ln2: w.layer_norm(&format!("{prefix}.layer_norm2"), eps)?,
            fc1: w.linear(&format!("{prefix}.mlp.fc1"))?,
            fc2: w.linear(&format!("{prefix}.mlp.fc2"))?,
            heads: cfg.num_attention_heads,
            act: cfg.hidden_act,
        })
    }

    fn attention(&self, x: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let (b, t, h) = x.dims3()?;
        let d = h / self.heads;
        let split = |y: Tensor| y.reshape((b, t, self.heads, d))?.transpose(1, 2)?.contiguous();
        let (q, k, v) = match (&self.q, &self.k, &self.v) {
            // One parallel region for the three products (see `SimdLinear::forward_many`).
            (Dense::Simd(q), Dense::Simd(k), Dense::Simd(v)) => {
                let mut qkv = simd_forward_many(&[q, k, v], x, None)?.into_iter();
                let mut next = || qkv.next().ok_or_else(|| candle_core::Error::Msg("q, k and v: an output is missing".into()));
                (next()?, next()?, next()?)
            }
            _ => (self.q.forward(x)?, self.k.forward(x)?, self.v.forward(x)?),
        };
        let q = split((q * (d as f64).powf(-0.5))?)?;
        let k = split(k)?;
        let v = split(v)?;
        let scores = q.matmul(&k.t()?)?;
        let scores = match mask {
            Some(m) => scores.broadcast_add(m)?,
            None => scores,
        };
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let ctx = probs.matmul(&v)?.transpose(1, 2)?.reshape((b, t, h))?;
        self.out.forward(&ctx)
    }

    fn forward(&self, x: &Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        let x = (x + self.attention(&self.ln1.forward(x)?, mask)?)?;
        let hidden = self.fc1.forward_activated(&self.ln2.forward(&x)?, self.act)?;
        x + self.fc2.forward(&hidden)?
    }
}

struct Encoder {
    layers: Vec<EncoderLayer>,
}

impl Encoder {
    fn new(w: &MergedWeights<'_>, prefix: &str, cfg: &EncoderConfig) -> Result<Self> {
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| EncoderLayer::new(w, &format!("{prefix}.encoder.layers.{i}"), cfg))
            .collect::<Result<_>>()?;
        Ok(Self { layers })
    }

    fn forward(&self, mut x: Tensor, mask: Option<&Tensor>) -> candle_core::Result<Tensor> {
        for layer in &self.layers {
            x = layer.forward(&x, mask)?;
        }
        Ok(x)
    }
}

pub struct VisionTower {
    /// The patch convolution as a bias-free Linear layer: channels·patch·patch → hidden.
    patch_embedding: Dense,
    class_embedding: Tensor,
    position_embedding: Tensor,
    pre_layrnorm: LayerNorm,
    encoder: Encoder,
    post_layernorm: LayerNorm,
    projection: Dense,
    pub cfg: VisionConfig,
}

impl VisionTower {
    pub fn new(w: &MergedWeights<'_>, cfg: &VisionConfig) -> Result<Self> {
        let h = cfg.encoder.hidden_size;
        let eps = cfg.encoder.layer_norm_eps;
        Ok(Self {
            patch_embedding: w.dense("vision_model.embeddings.patch_embedding.weight", None)?,
            class_embedding: w.get("vision_model.embeddings.class_embedding")?.reshape((1, 1, h))?,
            position_embedding: w.get("vision_model.embeddings.position_embedding.weight")?,
            pre_layrnorm: w.layer_norm("vision_model.pre_layrnorm", eps)?,
            encoder: Encoder::new(w, "vision_model", &cfg.encoder)?,
            post_layernorm: w.layer_norm("vision_model.post_layernorm", eps)?,
            projection: w.dense("visual_projection.weight", None)?,
            cfg: cfg.clone(),
        })
    }

    /// `pixels`: [batch, channels, size, size] → projected image embeddings [batch, projection_dim].
    pub fn forward(&self, pixels: &Tensor) -> candle_core::Result<Tensor> {
        let (b, c, _, _) = pixels.dims4()?;
        let (g, p, h) = (self.cfg.grid(), self.cfg.patch_size, self.cfg.encoder.hidden_size);
        // A strided convolution is a matmul over non-overlapping patches; pixels past the last
        // whole patch are dropped, as the convolution drops them.
        let patches = pixels
            .narrow(2, 0, g * p)?
            .narrow(3, 0, g * p)?
            .reshape((b, c, g, p, g, p))?
            .permute((0, 2, 4, 1, 3, 5))?
            .contiguous()?
            .reshape((b, g * g, c * p * p))?;
        let tokens = self.patch_embedding.forward(&patches)?;
        let class = self.class_embedding.broadcast_as((b, 1, h))?;
        let x = Tensor::cat(&[&class, &tokens], 1)?.broadcast_add(&self.position_embedding)?;
        let x = self.encoder.forward(self.pre_layrnorm.forward(&x)?, None)?;
        let pooled = self.post_layernorm.forward(&x.narrow(1, 0, 1)?.squeeze(1)?)?;
        self.projection.forward(&pooled)
    }
}

pub struct TextTower {
    /// [vocab, hidden], shared with the checkpoint: rows are gathered from it directly rather than
    /// from a candle copy (101 MB at ViT-B/32).
    token_embedding: Arc<[f32]>,
    position_embedding: Tensor,
    encoder: Encoder,
    final_layer_norm: LayerNorm,
    projection: Dense,
    pub cfg: TextConfig,
}

impl TextTower {
    pub fn new(w: &MergedWeights<'_>, cfg: &TextConfig) -> Result<Self> {
        Ok(Self {
            token_embedding: w.values("text_model.embeddings.token_embedding.weight")?,
            position_embedding: w.get("text_model.embeddings.position_embedding.weight")?,
            encoder: Encoder::new(w, "text_model", &cfg.encoder)?,
            final_layer_norm: w.layer_norm("text_model.final_layer_norm", cfg.encoder.layer_norm_eps)?,
            projection: w.dense("text_projection.weight", None)?,
            cfg: cfg.clone(),
        })
    }

    /// `ids`: [batch, length] token ids; `pooled`: the position to pool in each row (computed on the
    /// host from the ids). Returns projected text embeddings [batch, projection_dim].
    pub fn forward(&self, ids: &Tensor, pooled: &[usize]) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let h = self.cfg.encoder.hidden_size;
        let vocab = self.token_embedding.len() / h;
        let mut rows = Vec::with_capacity(b * t * h);
        for id in ids.flatten_all()?.to_vec1::<u32>()? {
            let id = id as usize;
            if id >= vocab {
                candle_core::bail!("token id {id} is outside the vocabulary of {vocab} tokens");
            }
            rows.extend_from_slice(&self.token_embedding[id * h..][..h]);
        }
        let x = Tensor::from_vec(rows, (b, t, h), ids.device())?.broadcast_add(&self.position_embedding.narrow(0, 0, t)?)?;
        let x = self.encoder.forward(x, Some(&causal_mask(t, ids.device())?))?;
        let x = self.final_layer_norm.forward(&x)?.reshape((b * t, h))?;
        let rows: Vec<u32> = pooled.iter().enumerate().map(|(i, &p)| (i * t + p) as u32).collect();
        let rows = Tensor::new(rows.as_slice(), ids.device())?;
        self.projection.forward(&x.index_select(&rows, 0)?)
    }
}

fn causal_mask(t: usize, device: &Device) -> candle_core::Result<Tensor> {
    let mask: Vec<f32> =
        (0..t).flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 })).collect();
    Tensor::from_vec(mask, (t, t), device)
}

pub fn to_rows(t: &Tensor) -> Result<Vec<Vec<f32>>> {
    Ok(t.to_dtype(DType::F32)?.to_vec2::<f32>()?)
}

