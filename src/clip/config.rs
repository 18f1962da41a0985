//! CLIP hyper-parameters: read from a Hugging Face config.json, or inferred from tensor shapes when a
//! bare .safetensors file comes without one, and always checked against the tensors.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{shape_str, Error, Result};

/// What the configuration reads of a tensor: its shape and element type (the checkpoint's host
/// tensors implement it; the configuration knows nothing else of them).
pub trait TensorShape {
    fn dims(&self) -> &[usize];
    fn is_float(&self) -> bool;
    /// The element type as the file names it, for messages.
    fn dtype_name(&self) -> String;
}

/// The MLP non-linearity; HF's `hidden_act`, read per tower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// x·σ(1.702x), the original CLIP's.
    QuickGelu,
    /// The exact, erf-based GELU (HF "gelu").
    Gelu,
    /// The tanh approximation (HF "gelu_new" / "gelu_pytorch_tanh").
    GeluTanh,
}

impl Activation {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "quick_gelu" => Self::QuickGelu,
            "gelu" => Self::Gelu,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Self::GeluTanh,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::QuickGelu => "quick_gelu",
            Self::Gelu => "gelu",
            Self::GeluTanh => "gelu_pytorch_tanh",
        }
    }
}

/// What both towers share: a stack of pre-norm transformer layers.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_attention_heads: usize,
    pub num_hidden_layers: usize,
    pub hidden_act: Activation,
    pub layer_norm_eps: f64,
}

impl EncoderConfig {
    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct VisionConfig {
    pub encoder: EncoderConfig,
    pub image_size: usize,
    pub patch_size: usize,
    pub num_channels: usize,
}

impl VisionConfig {
    pub fn grid(&self) -> usize {
        self.image_size / self.patch_size
    }
    pub fn num_positions(&self) -> usize {
        self.grid() * self.grid() + 1
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct TextConfig {
    pub encoder: EncoderConfig,
    pub vocab_size: usize,
    pub max_position_embeddings: usize,
    /// Token whose position is pooled. HF's legacy value 2 means "the largest id" (argmax),
    /// which is the end-of-text token of the real CLIP vocabulary.
    pub eos_token_id: u32,
}

/// The configuration of a checkpoint; a tower is `None` when the checkpoint has no such tower.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipConfig {
    pub vision: Option<VisionConfig>,
    pub text: Option<TextConfig>,
    pub projection_dim: Option<usize>,
}

/// Where a configuration came from; the CLI reports it.
#[derive(Debug, Clone, PartialEq)]
pub enum ConfigSource {
    File(String),
    Inferred { assumptions: Vec<String> },
}

/// Bounds on every size a config gives or the tensors imply, checked before any arithmetic uses
/// them (a config is untrusted input: a zero patch size divides by zero, a billion layers would
/// make a billion tensor names). Each is far above any CLIP (ViT-bigG: width 1664, 48 layers,
/// 8192 MLP; the real vocabulary 49408, 77 positions).
pub mod limits {
    /// hidden_size, intermediate_size, projection_dim.
    pub const MAX_WIDTH: usize = 1 << 16;
    pub const MAX_LAYERS: usize = 1024;
    pub const MAX_VOCAB: usize = 1 << 22;
    pub const MAX_TEXT_POSITIONS: usize = 1 << 16;
    /// image_size (and so patch_size); the same as the largest accepted image side.
    pub const MAX_IMAGE_SIZE: usize = crate::clip::preprocess::MAX_SIDE as usize;
    pub const MAX_CHANNELS: usize = 64;
}

/// `value` within `1..=max`, else an error naming `what`.
fn bounded(value: usize, max: usize, what: &str, file: &str) -> Result<usize> {
    if value == 0 || value > max {
        return Err(cfg_err(file, format!("{what} is {value}; it must be between 1 and {max}")));
    }
    Ok(value)
}

fn cfg_err(file: &str, msg: impl Into<String>) -> Error {
    Error::Config { file: file.to_string(), msg: msg.into() }
}

fn get_usize(obj: &Value, key: &str, default: usize, file: &str) -> Result<usize> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(v) => v
            .as_u64()
            // try_from: on wasm32 `as` would wrap 2³² + 3 to 3.
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| cfg_err(file, format!("`{key}` should be a non-negative integer, found {v}"))),
    }
}

fn get_act(obj: &Value, file: &str) -> Result<Activation> {
    match obj.get("hidden_act").and_then(Value::as_str) {
        None => Ok(Activation::QuickGelu),
        Some(s) => Activation::parse(s)
            .ok_or_else(|| cfg_err(file, format!("hidden_act `{s}` is not supported (quick_gelu, gelu, gelu_new)"))),
    }
}

fn encoder_from_json(obj: &Value, defaults: [usize; 4], file: &str) -> Result<EncoderConfig> {
    let enc = EncoderConfig {
        hidden_size: get_usize(obj, "hidden_size", defaults[0], file)?,
        intermediate_size: get_usize(obj, "intermediate_size", defaults[1], file)?,
        num_attention_heads: get_usize(obj, "num_attention_heads", defaults[2], file)?,
        num_hidden_layers: get_usize(obj, "num_hidden_layers", defaults[3], file)?,
        hidden_act: get_act(obj, file)?,
        layer_norm_eps: obj.get("layer_norm_eps").and_then(Value::as_f64).unwrap_or(1e-5),
    };
    if enc.num_attention_heads == 0 || enc.hidden_size % enc.num_attention_heads != 0 {
        return Err(cfg_err(
            file,
            format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                enc.hidden_size, enc.num_attention_heads
            ),
        ));
    }
    Ok(enc)
}

// Defaults are those of transformers' CLIPVisionConfig / CLIPTextConfig (ViT-B/32).
fn vision_from_json(obj: &Value, file: &str) -> Result<VisionConfig> {
    Ok(VisionConfig {
        encoder: encoder_from_json(obj, [768, 3072, 12, 12], file)?,
        image_size: get_usize(obj, "image_size", 224, file)?,
        patch_size: get_usize(obj, "patch_size", 32, file)?,
        num_channels: get_usize(obj, "num_channels", 3, file)?,
    })
}

fn text_from_json(obj: &Value, file: &str) -> Result<TextConfig> {
    Ok(TextConfig {
        encoder: encoder_from_json(obj, [512, 2048, 8, 12], file)?,
        vocab_size: get_usize(obj, "vocab_size", 49408, file)?,
        max_position_embeddings: get_usize(obj, "max_position_embeddings", 77, file)?,
        eos_token_id: u32::try_from(get_usize(obj, "eos_token_id", 2, file)?)
            .map_err(|_| cfg_err(file, "`eos_token_id` does not fit in 32 bits"))?,
    })
}

impl EncoderConfig {
    fn validate(&self, tower: &str, file: &str) -> Result<()> {
        use limits::*;
        let h = bounded(self.hidden_size, MAX_WIDTH, &format!("{tower} hidden_size"), file)?;
        bounded(self.intermediate_size, MAX_WIDTH, &format!("{tower} intermediate_size"), file)?;
        bounded(self.num_hidden_layers, MAX_LAYERS, &format!("{tower} num_hidden_layers"), file)?;
        let heads = bounded(self.num_attention_heads, h, &format!("{tower} num_attention_heads"), file)?;
        if h % heads != 0 {
            return Err(cfg_err(file, format!("{tower} hidden_size {h} is not divisible by num_attention_heads {heads}")));
        }
        if !(self.layer_norm_eps.is_finite() && self.layer_norm_eps >= 0.0) {
            return Err(cfg_err(file, format!("{tower} layer_norm_eps is {}; it must be a finite number ≥ 0", self.layer_norm_eps)));
        }
        Ok(())
    }
}

impl ClipConfig {
    /// Checks every size against [`limits`] (and that the patches tile the image), so that the
    /// arithmetic on them (`image_size / patch_size`, `grid² + 1`, one name per layer) cannot
    /// divide by zero, overflow or run away. Every constructor calls it.
    pub fn validate(&self, file: &str) -> Result<()> {
        use limits::*;
        if let Some(v) = &self.vision {
            v.encoder.validate("vision", file)?;
            let image = bounded(v.image_size, MAX_IMAGE_SIZE, "vision image_size", file)?;
            bounded(v.patch_size, image, "vision patch_size", file)?;
            bounded(v.num_channels, MAX_CHANNELS, "vision num_channels", file)?;
        }
        if let Some(t) = &self.text {
            t.encoder.validate("text", file)?;
            bounded(t.vocab_size, MAX_VOCAB, "text vocab_size", file)?;
            bounded(t.max_position_embeddings, MAX_TEXT_POSITIONS, "text max_position_embeddings", file)?;
        }
        if let Some(p) = self.projection_dim {
            bounded(p, MAX_WIDTH, "projection_dim", file)?;
        }
        Ok(())
    }

    /// Parses a config.json of `CLIPModel`, `CLIPVisionModel(WithProjection)` or `CLIPTextModel(WithProjection)`.
    pub fn from_json(text: &str, file: &str) -> Result<Self> {
        let root: Value =
            serde_json::from_str(text).map_err(|e| cfg_err(file, format!("not valid JSON ({e})")))?;
        let model_type = root.get("model_type").and_then(Value::as_str).unwrap_or("clip");
        let projection_dim = match root.get("projection_dim") {
            None | Some(Value::Null) => None,
            Some(_) => Some(get_usize(&root, "projection_dim", 0, file)?),
        };
        // Old configs spell the towers `*_config_dict`.
        let tower = |key: &str| root.get(key).or_else(|| root.get(&format!("{key}_dict"))).filter(|v| v.is_object());
        let config = match model_type {
            "clip" => Self {
                vision: Some(vision_from_json(tower("vision_config").unwrap_or(&Value::Null), file)?),
                text: Some(text_from_json(tower("text_config").unwrap_or(&Value::Null), file)?),
                projection_dim: Some(projection_dim.unwrap_or(512)),
            },
            "clip_vision_model" => Self { vision: Some(vision_from_json(&root, file)?), text: None, projection_dim },
            "clip_text_model" => Self { vision: None, text: Some(text_from_json(&root, file)?), projection_dim },
            other => return Err(cfg_err(file, format!("model_type `{other}` is not a CLIP model"))),
        };
        config.validate(file)?;
        Ok(config)
    }

    /// Infers the configuration from tensor shapes. Shapes do not tell the number of attention heads
    /// nor the activation: heads are taken as hidden/64 and the activation as quick_gelu, as in every
    /// OpenAI CLIP; the returned assumptions say so.
    pub fn infer(tensors: &BTreeMap<String, impl TensorShape>, file: &str) -> Result<(Self, Vec<String>)> {
        let shape = |name: &str| tensors.get(name).map(|t| t.dims());
        // The first dimension of a tensor the inference reads, ≥ 1 (a scalar or a zero-sized
        // tensor cannot carry a size).
        let first_dim = |name: &str, t: &[usize]| -> Result<usize> {
            match t.first() {
                Some(&d) if d >= 1 => Ok(d),
                _ => Err(cfg_err(file, format!("cannot infer the config: `{name}` is {}, which gives no size", shape_str(t)))),
            }
        };
        let mut assumptions = Vec::new();
        let layers = |prefix: &str| {
            (0..).take_while(|i| tensors.contains_key(&format!("{prefix}.encoder.layers.{i}.layer_norm1.weight"))).count()
        };
        let mut encoder = |prefix: &str, hidden: usize| -> Result<EncoderConfig> {
            let fc1_name = format!("{prefix}.encoder.layers.0.mlp.fc1.weight");
            let fc1 = shape(&fc1_name)
                .ok_or_else(|| cfg_err(file, format!("cannot infer the config: no `{fc1_name}`")))?;
            let intermediate = first_dim(&fc1_name, fc1)?;
            if hidden == 0 || hidden % 64 != 0 {
                return Err(cfg_err(
                    file,
                    format!("cannot infer the number of attention heads of `{prefix}` (width {hidden} is not a multiple of 64); add a config.json beside the weights"),
                ));
            }
            assumptions.push(format!("{prefix}: {} attention heads (width/64), hidden_act quick_gelu, layer_norm_eps 1e-5", hidden / 64));
            Ok(EncoderConfig {
                hidden_size: hidden,
                intermediate_size: intermediate,
                num_attention_heads: hidden / 64,
                num_hidden_layers: layers(prefix),
                hidden_act: Activation::QuickGelu,
                layer_norm_eps: 1e-5,
            })
        };
        let vision = match shape("vision_model.embeddings.patch_embedding.weight") {
            Some(&[hidden, channels, patch, _]) => {
                let name = "vision_model.embeddings.position_embedding.weight";
                let positions = shape(name)
                    .ok_or_else(|| cfg_err(file, "cannot infer the config: no vision position embedding"))?;
                let positions = first_dim(name, positions)?;
                // grid² patches + the class token.
                let grid = ((positions - 1) as f64).sqrt().round() as usize;
                if grid == 0 || grid.checked_mul(grid) != Some(positions - 1) {
                    return Err(cfg_err(file, format!("cannot infer the config: `{name}` has {positions} rows, not a square grid of patches + 1")));
                }
                let image_size = grid.checked_mul(patch).filter(|_| patch >= 1).ok_or_else(|| {
                    cfg_err(file, format!("cannot infer the config: a {grid}×{grid} grid of {patch}-pixel patches gives no image size"))
                })?;
                Some(VisionConfig {
                    encoder: encoder("vision_model", hidden)?,
                    image_size,
                    patch_size: patch,
                    num_channels: channels,
                })
            }
            _ => None,
        };
        let text = match shape("text_model.embeddings.token_embedding.weight") {
            Some(&[vocab, hidden]) => {
                let name = "text_model.embeddings.position_embedding.weight";
                let positions = shape(name).ok_or_else(|| cfg_err(file, "cannot infer the config: no text position embedding"))?;
                let positions = first_dim(name, positions)?;
                Some(TextConfig {
                    encoder: encoder("text_model", hidden)?,
                    vocab_size: vocab,
                    max_position_embeddings: positions,
                    eos_token_id: 2,
                })
            }
            _ => None,
        };
        if vision.is_none() && text.is_none() {
            return Err(cfg_err(file, "cannot infer a CLIP config: neither `vision_model.*` nor `text_model.*` tensors found"));
        }
        let projection_dim = match ["visual_projection.weight", "text_projection.weight"].into_iter().find_map(|n| Some((n, shape(n)?))) {
            Some((name, s)) => Some(first_dim(name, s)?),
            None => None,
        };
        let config = Self { vision, text, projection_dim };
        config.validate(&format!("{file} (inferred config)"))?;
        Ok((config, assumptions))
    }

    /// A transformers config.json for this configuration (used when a merged checkpoint's zero-shot
    /// model came without one, so that the output still loads in transformers).
    pub fn to_hf_json(&self) -> Value {
        use serde_json::json;
        let encoder = |e: &EncoderConfig| {
            json!({
                "hidden_size": e.hidden_size,
                "intermediate_size": e.intermediate_size,
                "num_attention_heads": e.num_attention_heads,
                "num_hidden_layers": e.num_hidden_layers,
                "hidden_act": e.hidden_act.name(),
                "layer_norm_eps": e.layer_norm_eps,
            })
        };
        let vision = self.vision.as_ref().map(|v| {
            let mut j = encoder(&v.encoder);
            j["image_size"] = json!(v.image_size);
            j["patch_size"] = json!(v.patch_size);
            j["num_channels"] = json!(v.num_channels);
            j
        });
        let text = self.text.as_ref().map(|t| {
            let mut j = encoder(&t.encoder);
            j["vocab_size"] = json!(t.vocab_size);
            j["max_position_embeddings"] = json!(t.max_position_embeddings);
            j["eos_token_id"] = json!(t.eos_token_id);
            j
        });
        let mut root = match (vision, text) {
            (Some(v), Some(t)) => json!({"architectures": ["CLIPModel"], "model_type": "clip", "vision_config": v, "text_config": t}),
            (Some(mut v), None) => {
                v["architectures"] = json!(["CLIPVisionModel"]);
                v["model_type"] = json!("clip_vision_model");
                v
            }
            (None, Some(mut t)) => {
                t["architectures"] = json!(["CLIPTextModel"]);
                t["model_type"] = json!("clip_text_model");
                t
            }
            (None, None) => json!({"model_type": "clip"}),
        };
        if let Some(p) = self.projection_dim {
            root["projection_dim"] = json!(p);
        }
        root
    }

    /// Every tensor the forward needs, with its expected shape.
    pub fn expected_tensors(&self) -> Vec<(String, Vec<usize>)> {
        let mut out = Vec::new();
        fn encoder(out: &mut Vec<(String, Vec<usize>)>, prefix: &str, e: &EncoderConfig) {
            let (h, i) = (e.hidden_size, e.intermediate_size);
            for l in 0..e.num_hidden_layers {
                let p = format!("{prefix}.encoder.layers.{l}");
                for proj in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                    out.push((format!("{p}.self_attn.{proj}.weight"), vec![h, h]));
                    out.push((format!("{p}.self_attn.{proj}.bias"), vec![h]));
                }
                for ln in ["layer_norm1", "layer_norm2"] {
                    out.push((format!("{p}.{ln}.weight"), vec![h]));
                    out.push((format!("{p}.{ln}.bias"), vec![h]));
                }
                out.push((format!("{p}.mlp.fc1.weight"), vec![i, h]));
                out.push((format!("{p}.mlp.fc1.bias"), vec![i]));
                out.push((format!("{p}.mlp.fc2.weight"), vec![h, i]));
                out.push((format!("{p}.mlp.fc2.bias"), vec![h]));
            }
        }
        if let Some(v) = &self.vision {
            let h = v.encoder.hidden_size;
            encoder(&mut out, "vision_model", &v.encoder);
            out.push(("vision_model.embeddings.class_embedding".into(), vec![h]));
            out.push(("vision_model.embeddings.patch_embedding.weight".into(), vec![h, v.num_channels, v.patch_size, v.patch_size]));
            out.push(("vision_model.embeddings.position_embedding.weight".into(), vec![v.num_positions(), h]));
            for ln in ["pre_layrnorm", "post_layernorm"] {
                out.push((format!("vision_model.{ln}.weight"), vec![h]));
                out.push((format!("vision_model.{ln}.bias"), vec![h]));
            }
        }
        if let Some(t) = &self.text {
            let h = t.encoder.hidden_size;
            encoder(&mut out, "text_model", &t.encoder);
            out.push(("text_model.embeddings.token_embedding.weight".into(), vec![t.vocab_size, h]));
            out.push(("text_model.embeddings.position_embedding.weight".into(), vec![t.max_position_embeddings, h]));
            out.push(("text_model.final_layer_norm.weight".into(), vec![h]));
            out.push(("text_model.final_layer_norm.bias".into(), vec![h]));
        }
        out
    }

    /// Checks that every tensor the configuration implies exists with the right shape, plus the
    /// projections when present. `file` names the checkpoint in errors.
    pub fn check_tensors(&self, tensors: &BTreeMap<String, impl TensorShape>, file: &str, config_file: &str) -> Result<()> {
        for (name, want) in self.expected_tensors() {
            match tensors.get(&name) {
                None => {
                    return Err(Error::Tensor { file: file.into(), tensor: name, msg: "missing from the checkpoint".into() })
                }
                Some(t) if t.dims() != want.as_slice() => {
                    return Err(cfg_err(
                        config_file,
                        format!(
                            "does not match the tensors: `{name}` is {} in the checkpoint but the config implies {}",
                            shape_str(t.dims()),
                            shape_str(&want)
                        ),
                    ))
                }
                Some(t) if !t.is_float() => {
                    return Err(Error::Tensor { file: file.into(), tensor: name, msg: format!("has integer dtype {}", t.dtype_name()) })
                }
                Some(_) => {}
            }
        }
        for (proj, tower) in [
            ("visual_projection.weight", self.vision.as_ref().map(|v| v.encoder.hidden_size)),
            ("text_projection.weight", self.text.as_ref().map(|t| t.encoder.hidden_size)),
        ] {
            if let (Some(t), Some(h), Some(p)) = (tensors.get(proj), tower, self.projection_dim) {
                if t.dims() != [p, h] {
                    return Err(cfg_err(
                        config_file,
                        format!("does not match the tensors: `{proj}` is {} but the config implies {}", shape_str(t.dims()), shape_str(&[p, h])),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hf_json_round_trips() {
        let enc = |h, heads, act| EncoderConfig {
            hidden_size: h,
            intermediate_size: 3 * h,
            num_attention_heads: heads,
            num_hidden_layers: 2,
            hidden_act: act,
            layer_norm_eps: 1e-6,
        };
        let config = ClipConfig {
            vision: Some(VisionConfig { encoder: enc(30, 5, Activation::Gelu), image_size: 30, patch_size: 6, num_channels: 3 }),
            text: Some(TextConfig { encoder: enc(18, 3, Activation::QuickGelu), vocab_size: 49408, max_position_embeddings: 77, eos_token_id: 49407 }),
            projection_dim: Some(20),
        };
        let text = config.to_hf_json().to_string();
        assert_eq!(ClipConfig::from_json(&text, "x").unwrap(), config);
        let vision_only = ClipConfig { text: None, ..config.clone() };
        assert_eq!(ClipConfig::from_json(&vision_only.to_hf_json().to_string(), "x").unwrap(), vision_only);
    }

    #[test]
    fn unknown_activation_and_bad_heads_are_config_errors() {
        let bad = r#"{"model_type": "clip_vision_model", "hidden_act": "swish"}"#;
        assert!(matches!(ClipConfig::from_json(bad, "c.json"), Err(Error::Config { .. })));
        let bad = r#"{"model_type": "clip_vision_model", "hidden_size": 30, "num_attention_heads": 4}"#;
        let msg = ClipConfig::from_json(bad, "c.json").unwrap_err().to_string();
        assert!(msg.contains("c.json") && msg.contains("not divisible"), "{msg}");
    }
}
