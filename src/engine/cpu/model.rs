//! CLIP's two towers on candle (the CPU back end and the reference the GPU engine is tested against).
//! Follows transformers' `modeling_clip.py`: pre-norm encoder layers, class-token pooling with
//! `post_layernorm` for images, end-of-text pooling after `final_layer_norm` for text.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Module, Tensor};
use candle_nn::{LayerNorm, Linear};

use crate::clip::config::{Activation, ClipConfig, EncoderConfig, TextConfig, VisionConfig};
use crate::error::{Error, Result};

/// Named weights on the candle device.
pub struct Weights {
    pub tensors: BTreeMap<String, Tensor>,
}

impl Weights {
    fn get(&self, name: &str) -> Result<Tensor> {
        self.tensors.get(name).cloned().ok_or_else(|| Error::Tensor {
            file: "merged weights".into(),
            tensor: name.into(),
            msg: "missing".into(),
        })
    }

    fn linear(&self, prefix: &str) -> Result<Linear> {
        Ok(Linear::new(self.get(&format!("{prefix}.weight"))?, Some(self.get(&format!("{prefix}.bias"))?)))
    }

    fn layer_norm(&self, prefix: &str, eps: f64) -> Result<LayerNorm> {
        Ok(LayerNorm::new(self.get(&format!("{prefix}.weight"))?, self.get(&format!("{prefix}.bias"))?, eps))
    }
}

fn activate(x: &Tensor, act: Activation) -> candle_core::Result<Tensor> {
    match act {
        Activation::QuickGelu => x * candle_nn::ops::sigmoid(&(x * 1.702)?)?,
        Activation::Gelu => x.gelu_erf(),
        Activation::GeluTanh => x.gelu(),
    }
}

struct EncoderLayer {
    q: Linear,
    k: Linear,
    v: Linear,
    out: Linear,
    ln1: LayerNorm,
    ln2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
    heads: usize,
    act: Activation,
}

impl EncoderLayer {
    fn new(w: &Weights, prefix: &str, cfg: &EncoderConfig) -> Result<Self> {
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
        let q = split((self.q.forward(x)? * (d as f64).powf(-0.5))?)?;
        let k = split(self.k.forward(x)?)?;
        let v = split(self.v.forward(x)?)?;
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
        let hidden = activate(&self.fc1.forward(&self.ln2.forward(&x)?)?, self.act)?;
        x + self.fc2.forward(&hidden)?
    }
}

struct Encoder {
    layers: Vec<EncoderLayer>,
}

impl Encoder {
    fn new(w: &Weights, prefix: &str, cfg: &EncoderConfig) -> Result<Self> {
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
    /// The patch convolution as a matrix: [channels·patch·patch, hidden].
    patch_matrix: Tensor,
    class_embedding: Tensor,
    position_embedding: Tensor,
    pre_layrnorm: LayerNorm,
    encoder: Encoder,
    post_layernorm: LayerNorm,
    projection: Tensor,
    pub cfg: VisionConfig,
}

impl VisionTower {
    fn new(w: &Weights, cfg: &VisionConfig) -> Result<Self> {
        let h = cfg.encoder.hidden_size;
        let eps = cfg.encoder.layer_norm_eps;
        let patch = w.get("vision_model.embeddings.patch_embedding.weight")?;
        Ok(Self {
            patch_matrix: patch.reshape((h, ()))?.t()?.contiguous()?,
            class_embedding: w.get("vision_model.embeddings.class_embedding")?.reshape((1, 1, h))?,
            position_embedding: w.get("vision_model.embeddings.position_embedding.weight")?,
            pre_layrnorm: w.layer_norm("vision_model.pre_layrnorm", eps)?,
            encoder: Encoder::new(w, "vision_model", &cfg.encoder)?,
            post_layernorm: w.layer_norm("vision_model.post_layernorm", eps)?,
            projection: w.get("visual_projection.weight")?.t()?.contiguous()?,
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
        let tokens = patches.broadcast_matmul(&self.patch_matrix)?;
        let class = self.class_embedding.broadcast_as((b, 1, h))?;
        let x = Tensor::cat(&[&class, &tokens], 1)?.broadcast_add(&self.position_embedding)?;
        let x = self.encoder.forward(self.pre_layrnorm.forward(&x)?, None)?;
        let pooled = self.post_layernorm.forward(&x.narrow(1, 0, 1)?.squeeze(1)?)?;
        pooled.matmul(&self.projection)
    }
}

pub struct TextTower {
    token_embedding: Tensor,
    position_embedding: Tensor,
    encoder: Encoder,
    final_layer_norm: LayerNorm,
    projection: Tensor,
    pub cfg: TextConfig,
}

impl TextTower {
    fn new(w: &Weights, cfg: &TextConfig) -> Result<Self> {
        Ok(Self {
            token_embedding: w.get("text_model.embeddings.token_embedding.weight")?,
            position_embedding: w.get("text_model.embeddings.position_embedding.weight")?,
            encoder: Encoder::new(w, "text_model", &cfg.encoder)?,
            final_layer_norm: w.layer_norm("text_model.final_layer_norm", cfg.encoder.layer_norm_eps)?,
            projection: w.get("text_projection.weight")?.t()?.contiguous()?,
            cfg: cfg.clone(),
        })
    }

    /// `ids`: [batch, length] token ids; `pooled`: the position to pool in each row (computed on the
    /// host from the ids). Returns projected text embeddings [batch, projection_dim].
    pub fn forward(&self, ids: &Tensor, pooled: &[usize]) -> candle_core::Result<Tensor> {
        let (b, t) = ids.dims2()?;
        let h = self.cfg.encoder.hidden_size;
        let x = self
            .token_embedding
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((b, t, h))?
            .broadcast_add(&self.position_embedding.narrow(0, 0, t)?)?;
        let x = self.encoder.forward(x, Some(&causal_mask(t, ids.device())?))?;
        let x = self.final_layer_norm.forward(&x)?.reshape((b * t, h))?;
        let rows: Vec<u32> = pooled.iter().enumerate().map(|(i, &p)| (i * t + p) as u32).collect();
        let rows = Tensor::new(rows.as_slice(), ids.device())?;
        x.index_select(&rows, 0)?.matmul(&self.projection)
    }
}

fn causal_mask(t: usize, device: &Device) -> candle_core::Result<Tensor> {
    let mask: Vec<f32> =
        (0..t).flat_map(|i| (0..t).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 })).collect();
    Tensor::from_vec(mask, (t, t), device)
}

/// Both towers of a CLIPModel.
pub struct ClipModel {
    pub vision: VisionTower,
    pub text: TextTower,
}

impl ClipModel {
    pub fn new(cfg: &ClipConfig, w: &Weights) -> Result<Self> {
        let need = |what: &str| Error::Invalid(format!("the merged model has no {what}: classification needs a full CLIPModel"));
        let vision = cfg.vision.as_ref().ok_or_else(|| need("vision tower"))?;
        let text = cfg.text.as_ref().ok_or_else(|| need("text tower"))?;
        Ok(Self { vision: VisionTower::new(w, vision)?, text: TextTower::new(w, text)? })
    }
}

pub fn to_rows(t: &Tensor) -> Result<Vec<Vec<f32>>> {
    Ok(t.to_dtype(DType::F32)?.to_vec2::<f32>()?)
}

