//! OpenCLIP checkpoints (`open_clip_model.safetensors`, `open_clip_pytorch_model.bin`, a training
//! checkpoint's state dict) with their `open_clip_config.json`, mapped on load to transformers'
//! layout, which is the only one the engines and the merge know.
//!
//! One renaming layer serves every path: [`map_name`] says what becomes of a tensor name, and
//! [`map_host`] (whole files) and [`map_raw`] (tensors streamed to the GPU as they arrive) apply
//! it — a rename, a split of the fused `in_proj` into q/k/v (rows, so the bytes are sliced, not
//! copied), or a transpose of `visual.proj` / `text_projection` (OpenCLIP multiplies `x @ proj`,
//! transformers `x @ Wᵀ`).
//!
//! | OpenCLIP | transformers |
//! |---|---|
//! | `visual.conv1.weight` | `vision_model.embeddings.patch_embedding.weight` |
//! | `visual.class_embedding` | `vision_model.embeddings.class_embedding` |
//! | `visual.positional_embedding` | `vision_model.embeddings.position_embedding.weight` |
//! | `visual.ln_pre.*` / `visual.ln_post.*` | `vision_model.pre_layrnorm.*` / `vision_model.post_layernorm.*` |
//! | `visual.proj` (width×embed) | `visual_projection.weight` (embed×width, transposed) |
//! | `[visual.]transformer.resblocks.N.attn.in_proj_{weight,bias}` | `….encoder.layers.N.self_attn.{q,k,v}_proj.*` (split in 3) |
//! | `….attn.out_proj.*`, `ln_1`, `ln_2`, `mlp.c_fc`, `mlp.c_proj` | `self_attn.out_proj.*`, `layer_norm1`, `layer_norm2`, `mlp.fc1`, `mlp.fc2` |
//! | `token_embedding.weight`, `positional_embedding` | `text_model.embeddings.{token,position}_embedding.weight` |
//! | `ln_final.*` | `text_model.final_layer_norm.*` |
//! | `text_projection` (width×embed) | `text_projection.weight` (transposed) |
//! | `logit_scale` | `logit_scale` |
//!
//! A `module.` prefix (DistributedDataParallel) and the `text.` prefix of `CustomTextCLIP` are
//! dropped; the causal `attn_mask` buffer of old checkpoints is dropped (the engine builds it).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::tensor::{HostTensor, RawTensor, Values};
use crate::clip::config::{Activation, ClipConfig, EncoderConfig, TextConfig, VisionConfig};
use crate::clip::preprocess::{CropRounding, PreprocessConfig, Resize};
use crate::error::{shape_str, Error, Result};

/// OpenCLIP's weight file names on the hub (`open_clip.constants`), safetensors first.
pub const WEIGHT_FILES: [&str; 2] = ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"];
/// OpenCLIP's config file name (`open_clip.constants.HF_CONFIG_NAME`).
pub const CONFIG_FILE: &str = "open_clip_config.json";

/// What supported OpenCLIP models are, for messages.
pub const SUPPORTED: &str = "OpenCLIP ViT models with the built-in text transformer (`CLIP` / `CustomTextCLIP`: \
     ViT-B/32, ViT-B/16, ViT-L/14, ViT-H/14, … with quick_gelu or GELU)";

/// What becomes of one OpenCLIP tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Rename(String),
    /// A fused projection: rows in thirds, to these names (q, k, v).
    Split([String; 3]),
    /// A 2-D `x @ P` projection, stored transposed under this name.
    Transpose(String),
    /// Not a parameter the engine reads (the causal mask buffer).
    Drop,
}

fn strip_prefixes(name: &str) -> &str {
    let name = name.strip_prefix("module.").unwrap_or(name);
    match name.strip_prefix("text.") {
        // CustomTextCLIP keeps the text tower under `text.`; a HF text tower (`text.transformer.
        // embeddings…`, `text.proj…`) is not mapped and is reported by `check_architecture`.
        Some(rest) if text_tower_name(rest) => rest,
        _ => name,
    }
}

fn text_tower_name(rest: &str) -> bool {
    rest.starts_with("transformer.resblocks.")
        || rest.starts_with("ln_final.")
        || matches!(rest, "token_embedding.weight" | "positional_embedding" | "text_projection" | "attn_mask")
}

/// The names in a resblock: `attn.in_proj_weight` → q/k/v, the rest renamed.
fn block(hf_prefix: &str, rest: &str) -> Option<Op> {
    let split = |suffix: &str| {
        Op::Split(["q_proj", "k_proj", "v_proj"].map(|p| format!("{hf_prefix}.self_attn.{p}.{suffix}")))
    };
    Some(match rest {
        "attn.in_proj_weight" => split("weight"),
        "attn.in_proj_bias" => split("bias"),
        _ => {
            let (module, param) = rest.rsplit_once('.')?;
            if !matches!(param, "weight" | "bias") {
                return None;
            }
            let hf = match module {
                "attn.out_proj" => "self_attn.out_proj",
                "ln_1" => "layer_norm1",
                "ln_2" => "layer_norm2",
                "mlp.c_fc" => "mlp.fc1",
                "mlp.c_proj" => "mlp.fc2",
                _ => return None,
            };
            Op::Rename(format!("{hf_prefix}.{hf}.{param}"))
        }
    })
}

fn resblock(name: &str, prefix: &str, hf_tower: &str) -> Option<Op> {
    let rest = name.strip_prefix(prefix)?;
    let (layer, rest) = rest.split_once('.')?;
    let layer: usize = layer.parse().ok()?;
    block(&format!("{hf_tower}.encoder.layers.{layer}"), rest)
}

/// What becomes of an OpenCLIP tensor name; `None` for a name that is not one (a transformers
/// name, or an OpenCLIP tensor of an architecture this crate does not run).
pub fn map_name(original: &str) -> Option<Op> {
    let name = strip_prefixes(original);
    let rename = |s: &str| Some(Op::Rename(s.to_string()));
    match name {
        "visual.conv1.weight" => rename("vision_model.embeddings.patch_embedding.weight"),
        "visual.class_embedding" => rename("vision_model.embeddings.class_embedding"),
        "visual.positional_embedding" => rename("vision_model.embeddings.position_embedding.weight"),
        "visual.ln_pre.weight" => rename("vision_model.pre_layrnorm.weight"),
        "visual.ln_pre.bias" => rename("vision_model.pre_layrnorm.bias"),
        "visual.ln_post.weight" => rename("vision_model.post_layernorm.weight"),
        "visual.ln_post.bias" => rename("vision_model.post_layernorm.bias"),
        "visual.proj" => Some(Op::Transpose("visual_projection.weight".into())),
        "token_embedding.weight" => rename("text_model.embeddings.token_embedding.weight"),
        "positional_embedding" => rename("text_model.embeddings.position_embedding.weight"),
        "ln_final.weight" => rename("text_model.final_layer_norm.weight"),
        "ln_final.bias" => rename("text_model.final_layer_norm.bias"),
        "text_projection" => Some(Op::Transpose("text_projection.weight".into())),
        "attn_mask" => Some(Op::Drop),
        // The same name in both layouts: only a `module.` prefix needs dropping.
        "logit_scale" if name.len() != original.len() => rename("logit_scale"),
        "logit_scale" => None,
        _ => resblock(name, "visual.transformer.resblocks.", "vision_model")
            .or_else(|| resblock(name, "transformer.resblocks.", "text_model")),
    }
}

/// Whether a tensor name is OpenCLIP's (mapped or of an architecture not supported).
pub fn is_openclip_name(name: &str) -> bool {
    let name = name.strip_prefix("module.").unwrap_or(name);
    map_name(name).is_some()
        || name.starts_with("visual.")
        || name.starts_with("transformer.")
        || name.starts_with("text.")
        || name == "logit_bias"
}

/// Tensor names of OpenCLIP towers this crate does not run, with what they are.
fn unsupported_tower(name: &str) -> Option<&'static str> {
    let name = name.strip_prefix("module.").unwrap_or(name);
    const KINDS: [(&str, &str); 9] = [
        ("visual.trunk.", "a timm image tower (ConvNeXt, EVA, SigLIP ViT, … `visual.trunk.*`)"),
        ("visual.layer1.", "a ResNet image tower (ModifiedResNet, `visual.layer1.*`)"),
        ("visual.attnpool.", "a ResNet image tower (ModifiedResNet, `visual.attnpool.*`)"),
        ("visual.attn_pool.", "an attentional pooler in the image tower (CoCa, `visual.attn_pool.*`)"),
        ("text.transformer.", "a Hugging Face text tower (`text.transformer.*`, e.g. XLM-RoBERTa)"),
        ("text.auto_model.", "a Hugging Face text tower (`text.auto_model.*`)"),
        ("text_decoder.", "a CoCa text decoder (`text_decoder.*`)"),
        ("logit_bias", "a sigmoid-loss (SigLIP) `logit_bias`"),
        (".ls_1.", "layer scale (`ls_1` / `ls_2`, ls_init_value)"),
    ];
    KINDS.iter().find(|(marker, _)| name.starts_with(marker) || (marker.starts_with('.') && name.contains(marker))).map(|(_, what)| *what)
}

/// Refuses OpenCLIP checkpoints whose towers this crate does not run, saying which tensor showed it.
pub fn check_architecture<'a>(names: impl IntoIterator<Item = &'a str>, file: &str) -> Result<()> {
    for name in names {
        if let Some(what) = unsupported_tower(name) {
            return Err(Error::Checkpoint {
                file: file.into(),
                msg: format!("an OpenCLIP model with {what} (tensor `{name}`): not supported; supported are {SUPPORTED}"),
            });
        }
    }
    Ok(())
}

fn tensor_err(file: &str, name: &str, msg: String) -> Error {
    Error::Tensor { file: file.into(), tensor: name.into(), msg }
}

fn check_op(op: &Op, shape: &[usize], file: &str, name: &str) -> Result<()> {
    match op {
        Op::Split(_) if shape.is_empty() || !shape[0].is_multiple_of(3) => Err(tensor_err(
            file,
            name,
            format!("is {}, but a fused q/k/v projection has 3×width rows", shape_str(shape)),
        )),
        Op::Transpose(_) if shape.len() != 2 => {
            Err(tensor_err(file, name, format!("is {}, but a projection is a matrix (width×embed)", shape_str(shape))))
        }
        _ => Ok(()),
    }
}

/// Maps whole host tensors: OpenCLIP names to transformers', others kept. Says whether any
/// tensor was OpenCLIP's.
pub fn map_host(list: Vec<(String, HostTensor)>, file: &str) -> Result<(Vec<(String, HostTensor)>, bool)> {
    check_architecture(list.iter().map(|(n, _)| n.as_str()), file)?;
    let mut out = Vec::with_capacity(list.len() + 32);
    let mut any = false;
    for (name, t) in list {
        let Some(op) = map_name(&name) else {
            out.push((name, t));
            continue;
        };
        any = true;
        check_op(&op, &t.shape, file, &name)?;
        match op {
            Op::Rename(to) => out.push((to, t)),
            Op::Drop => {}
            Op::Split(names) => {
                let rows = t.shape[0] / 3;
                let per: usize = rows * t.shape[1..].iter().product::<usize>();
                let mut shape = t.shape.clone();
                shape[0] = rows;
                for (i, to) in names.into_iter().enumerate() {
                    let values = match &t.values {
                        Values::F32(v) => Values::F32(Arc::from(&v[i * per..(i + 1) * per])),
                        Values::I64(v) => Values::I64(Arc::from(&v[i * per..(i + 1) * per])),
                        Values::Uploaded => Values::Uploaded,
                    };
                    out.push((to, HostTensor { shape: shape.clone(), file_dtype: t.file_dtype, values }));
                }
            }
            Op::Transpose(to) => {
                let (r, c) = (t.shape[0], t.shape[1]);
                let values = match &t.values {
                    Values::F32(v) => Values::F32(transpose(v, r, c).into()),
                    Values::I64(v) => Values::I64(transpose(v, r, c).into()),
                    Values::Uploaded => Values::Uploaded,
                };
                out.push((to, HostTensor { shape: vec![c, r], file_dtype: t.file_dtype, values }));
            }
        }
    }
    Ok((out, any))
}

fn transpose<T: Copy>(v: &[T], rows: usize, cols: usize) -> Vec<T> {
    (0..cols).flat_map(|c| (0..rows).map(move |r| v[r * cols + c])).collect()
}

/// Maps one tensor as its bytes arrive (the streaming GPU path): `sink` gets each resulting
/// tensor under its transformers name — the same tensors [`map_host`] makes. Returns whether the
/// name was OpenCLIP's (`sink` then got zero, one or three tensors), or `None` when it was
/// passed on unchanged.
pub fn map_raw(
    name: &str,
    raw: &RawTensor<'_>,
    file: &str,
    sink: &mut dyn FnMut(&str, &RawTensor<'_>) -> Result<()>,
) -> Result<bool> {
    let Some(op) = map_name(name) else {
        sink(name, raw)?;
        return Ok(false);
    };
    check_op(&op, raw.shape, file, name)?;
    match op {
        Op::Rename(to) => sink(&to, raw)?,
        Op::Drop => {}
        Op::Split(names) => {
            let mut shape = raw.shape.to_vec();
            shape[0] /= 3;
            let per = raw.bytes.len() / 3;
            for (i, to) in names.iter().enumerate() {
                sink(to, &RawTensor { shape: &shape, dtype: raw.dtype, bytes: &raw.bytes[i * per..(i + 1) * per] })?;
            }
        }
        Op::Transpose(to) => {
            let (r, c) = (raw.shape[0], raw.shape[1]);
            let size = raw.dtype.size_in_bytes();
            let mut bytes = Vec::with_capacity(raw.bytes.len());
            for j in 0..c {
                for i in 0..r {
                    let at = (i * c + j) * size;
                    bytes.extend_from_slice(&raw.bytes[at..at + size]);
                }
            }
            sink(&to, &RawTensor { shape: &[c, r], dtype: raw.dtype, bytes: &bytes })?;
        }
    }
    Ok(true)
}

/// The OpenCLIP name of a transformers tensor name, for messages about an OpenCLIP checkpoint.
pub fn openclip_name_of(hf: &str) -> Option<String> {
    let table = [
        ("vision_model.embeddings.patch_embedding.weight", "visual.conv1.weight"),
        ("vision_model.embeddings.class_embedding", "visual.class_embedding"),
        ("vision_model.embeddings.position_embedding.weight", "visual.positional_embedding"),
        ("vision_model.pre_layrnorm.weight", "visual.ln_pre.weight"),
        ("vision_model.pre_layrnorm.bias", "visual.ln_pre.bias"),
        ("vision_model.post_layernorm.weight", "visual.ln_post.weight"),
        ("vision_model.post_layernorm.bias", "visual.ln_post.bias"),
        ("visual_projection.weight", "visual.proj (transposed)"),
        ("text_model.embeddings.token_embedding.weight", "token_embedding.weight"),
        ("text_model.embeddings.position_embedding.weight", "positional_embedding"),
        ("text_model.final_layer_norm.weight", "ln_final.weight"),
        ("text_model.final_layer_norm.bias", "ln_final.bias"),
        ("text_projection.weight", "text_projection (transposed)"),
    ];
    if let Some((_, oc)) = table.iter().find(|(h, _)| *h == hf) {
        return Some(oc.to_string());
    }
    let (tower, rest) = hf
        .strip_prefix("vision_model.encoder.layers.")
        .map(|r| ("visual.transformer.resblocks.", r))
        .or_else(|| hf.strip_prefix("text_model.encoder.layers.").map(|r| ("transformer.resblocks.", r)))?;
    let (layer, rest) = rest.split_once('.')?;
    let (module, param) = rest.rsplit_once('.')?;
    let oc = match module {
        "self_attn.q_proj" | "self_attn.k_proj" | "self_attn.v_proj" => {
            return Some(format!("{tower}{layer}.attn.in_proj_{param} (a third of)"))
        }
        "self_attn.out_proj" => "attn.out_proj",
        "layer_norm1" => "ln_1",
        "layer_norm2" => "ln_2",
        "mlp.fc1" => "mlp.c_fc",
        "mlp.fc2" => "mlp.c_proj",
        _ => return None,
    };
    Some(format!("{tower}{layer}.{oc}.{param}"))
}

/// [`ClipConfig::check_tensors`] for a mapped OpenCLIP checkpoint: messages name the tensor as
/// OpenCLIP does too, and a file with more layers than the config says is refused (the extra
/// layers would be ignored silently otherwise).
pub fn check_mapped(config: &ClipConfig, tensors: &BTreeMap<String, HostTensor>, file: &str, config_file: &str) -> Result<()> {
    let towers = [
        ("vision_model", "visual.transformer.resblocks", config.vision.as_ref().map(|v| v.encoder.num_hidden_layers)),
        ("text_model", "transformer.resblocks", config.text.as_ref().map(|t| t.encoder.num_hidden_layers)),
    ];
    for (prefix, oc, want) in towers {
        let Some(want) = want else { continue };
        let have = (0..).take_while(|i| tensors.contains_key(&format!("{prefix}.encoder.layers.{i}.layer_norm1.weight"))).count();
        if have != want {
            return Err(cfg_err(
                config_file,
                format!("does not match the tensors: it says {want} layers but {file} has {have} (`{oc}.0` … `{oc}.{}`)", have.max(1) - 1),
            ));
        }
    }
    let note = |hf: &str| openclip_name_of(hf).map_or(String::new(), |oc| format!(" (`{oc}` in the OpenCLIP file)"));
    config.check_tensors(tensors, file, config_file).map_err(|e| match e {
        Error::Tensor { file, tensor, msg } => {
            let msg = format!("{msg}{}", note(&tensor));
            Error::Tensor { file, tensor, msg }
        }
        Error::Config { file, msg } => {
            let hf = msg.split('`').nth(1).unwrap_or_default().to_string();
            Error::Config { file, msg: format!("{msg}{}", note(&hf)) }
        }
        other => other,
    })
}

// ---------------------------------------------------------------- open_clip_config.json

fn cfg_err(file: &str, msg: impl Into<String>) -> Error {
    Error::Config { file: file.into(), msg: msg.into() }
}

/// Whether a JSON text is an OpenCLIP config (has `model_cfg`, or is a bare model config with
/// `vision_cfg`).
pub fn looks_like_config(text: &str) -> bool {
    serde_json::from_str::<Value>(text)
        .ok()
        .is_some_and(|v| v.get("model_cfg").is_some() || (v.get("vision_cfg").is_some() && v.get("embed_dim").is_some()))
}

struct Cfg<'a> {
    obj: &'a Value,
    file: &'a str,
    path: &'a str,
}

impl Cfg<'_> {
    fn get(&self, key: &str) -> Option<&Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn usize(&self, key: &str, default: usize) -> Result<usize> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.as_u64().map(|v| v as usize).ok_or_else(|| {
                cfg_err(self.file, format!("`{}.{key}` should be a non-negative integer, found {v}", self.path))
            }),
        }
    }

    fn f64(&self, key: &str, default: f64) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_f64()
                .ok_or_else(|| cfg_err(self.file, format!("`{}.{key}` should be a number, found {v}", self.path))),
        }
    }

    fn bool(&self, key: &str) -> bool {
        self.get(key).and_then(Value::as_bool).unwrap_or(false)
    }

    fn str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(Value::as_str)
    }

    fn unsupported(&self, what: String) -> Error {
        cfg_err(self.file, format!("{what}: not supported; supported are {SUPPORTED}"))
    }

    /// Options that change the block or the pooling away from plain CLIP.
    fn check_plain(&self, pool: &str) -> Result<()> {
        let p = self.path;
        if let Some(v) = self.get("ls_init_value") {
            return Err(self.unsupported(format!("`{p}.ls_init_value` is {v} (layer scale)")));
        }
        for flag in ["qk_norm", "scaled_cosine_attn", "scale_heads", "scale_attn_inner", "scale_attn", "scale_fc", "final_ln_after_pool", "attentional_pool", "no_ln_pre", "input_patchnorm", "embed_cls", "no_causal_mask", "proj_bias"] {
            if self.bool(flag) {
                return Err(self.unsupported(format!("`{p}.{flag}` is true")));
            }
        }
        if let Some(b) = self.str("block_type").filter(|b| *b != "default") {
            return Err(self.unsupported(format!("`{p}.block_type` is \"{b}\"")));
        }
        if let Some(t) = self.str("pool_type").filter(|t| *t != pool) {
            return Err(self.unsupported(format!("`{p}.pool_type` is \"{t}\" (only \"{pool}\")")));
        }
        if let Some(t) = self.str("pos_embed_type").filter(|t| *t != "learnable") {
            return Err(self.unsupported(format!("`{p}.pos_embed_type` is \"{t}\"")));
        }
        if let Some(t) = self.str("proj_type").filter(|t| *t != "linear") {
            return Err(self.unsupported(format!("`{p}.proj_type` is \"{t}\"")));
        }
        if let Some(kw) = self.get("act_kwargs").filter(|v| v.as_object().is_some_and(|o| !o.is_empty())) {
            return Err(self.unsupported(format!("`{p}.act_kwargs` is {kw}")));
        }
        Ok(())
    }

    fn eps(&self) -> Result<f64> {
        match self.get("norm_kwargs") {
            None => Ok(1e-5),
            Some(kw) => Cfg { obj: kw, file: self.file, path: &format!("{}.norm_kwargs", self.path) }.f64("eps", 1e-5),
        }
    }

    fn intermediate(&self, width: usize) -> Result<usize> {
        Ok((width as f64 * self.f64("mlp_ratio", 4.0)?) as usize)
    }
}

/// An OpenCLIP configuration read from `open_clip_config.json` (or a bare model config such as
/// open_clip's `model_configs/ViT-B-32.json`): the model in this crate's terms and, from
/// `preprocess_cfg`, the image preprocessing.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenClipConfig {
    pub config: ClipConfig,
    pub preprocess: PreprocessConfig,
}

impl OpenClipConfig {
    pub fn from_json(text: &str, file: &str) -> Result<Self> {
        let root: Value = serde_json::from_str(text).map_err(|e| cfg_err(file, format!("not valid JSON ({e})")))?;
        let model = match root.get("model_cfg") {
            Some(m) => m,
            None if root.get("vision_cfg").is_some() => &root,
            None => {
                return Err(cfg_err(
                    file,
                    "has no `model_cfg`: an OpenCLIP checkpoint needs its open_clip_config.json ({\"model_cfg\": …, \"preprocess_cfg\": …})",
                ))
            }
        };
        let m = Cfg { obj: model, file, path: "model_cfg" };
        if m.get("multimodal_cfg").is_some() {
            return Err(m.unsupported("`model_cfg.multimodal_cfg` is set (a CoCa model)".into()));
        }
        if let Some(v) = m.get("init_logit_bias") {
            return Err(m.unsupported(format!("`model_cfg.init_logit_bias` is {v} (a sigmoid-loss, SigLIP model)")));
        }
        let act = if m.bool("quick_gelu") { Activation::QuickGelu } else { Activation::Gelu };
        let embed_dim = m.usize("embed_dim", 512)?;

        let empty = Value::Null;
        let vobj = model.get("vision_cfg").filter(|v| v.is_object()).unwrap_or(&empty);
        let v = Cfg { obj: vobj, file, path: "model_cfg.vision_cfg" };
        if let Some(name) = v.str("timm_model_name") {
            return Err(v.unsupported(format!("the image tower is the timm model `{name}` (`vision_cfg.timm_model_name`)")));
        }
        if let Some(layers) = v.get("layers").filter(|l| l.is_array()) {
            return Err(v.unsupported(format!("`vision_cfg.layers` is {layers}: a ResNet image tower (ModifiedResNet)")));
        }
        v.check_plain("tok")?;
        let width = v.usize("width", 768)?;
        let head_width = v.usize("head_width", 64)?;
        if head_width == 0 || width % head_width != 0 {
            return Err(cfg_err(file, format!("`vision_cfg.width` {width} is not a multiple of `head_width` {head_width}")));
        }
        let image_size = square(v.get("image_size"), 224, file, "vision_cfg.image_size")?;
        let vision = VisionConfig {
            encoder: EncoderConfig {
                hidden_size: width,
                intermediate_size: v.intermediate(width)?,
                num_attention_heads: width / head_width,
                num_hidden_layers: v.usize("layers", 12)?,
                hidden_act: act,
                layer_norm_eps: v.eps()?,
            },
            image_size,
            patch_size: square(v.get("patch_size"), 16, file, "vision_cfg.patch_size")?,
            num_channels: 3,
        };
        if vision.patch_size == 0 || image_size % vision.patch_size != 0 {
            return Err(cfg_err(file, format!("`vision_cfg.image_size` {image_size} is not a multiple of `patch_size` {}", vision.patch_size)));
        }

        let tobj = model.get("text_cfg").filter(|v| v.is_object()).unwrap_or(&empty);
        let t = Cfg { obj: tobj, file, path: "model_cfg.text_cfg" };
        if let Some(name) = t.str("hf_model_name") {
            return Err(t.unsupported(format!("the text tower is the Hugging Face model `{name}` (`text_cfg.hf_model_name`)")));
        }
        if let Some(name) = t.str("hf_tokenizer_name") {
            return Err(t.unsupported(format!("the text tower uses the tokenizer `{name}` (`text_cfg.hf_tokenizer_name`); only CLIP's BPE tokenizer is implemented")));
        }
        t.check_plain("argmax")?;
        let twidth = t.usize("width", 512)?;
        let heads = t.usize("heads", 8)?;
        if heads == 0 || twidth % heads != 0 {
            return Err(cfg_err(file, format!("`text_cfg.width` {twidth} is not divisible by `text_cfg.heads` {heads}")));
        }
        let text = TextConfig {
            encoder: EncoderConfig {
                hidden_size: twidth,
                intermediate_size: t.intermediate(twidth)?,
                num_attention_heads: heads,
                num_hidden_layers: t.usize("layers", 12)?,
                hidden_act: act,
                layer_norm_eps: t.eps()?,
            },
            vocab_size: t.usize("vocab_size", 49408)?,
            max_position_embeddings: t.usize("context_length", 77)?,
            // OpenCLIP pools the largest token id (the end-of-text token), which is what 2 means.
            eos_token_id: 2,
        };
        let config = ClipConfig { vision: Some(vision), text: Some(text), projection_dim: Some(embed_dim) };
        let pobj = root.get("preprocess_cfg").unwrap_or(&empty);
        let preprocess = preprocess_from(&Cfg { obj: pobj, file, path: "preprocess_cfg" }, image_size as u32)?;
        Ok(Self { config, preprocess })
    }
}

fn square(v: Option<&Value>, default: usize, file: &str, key: &str) -> Result<usize> {
    let bad = |v: &Value| cfg_err(file, format!("`{key}` should be a positive integer or a square [n, n], found {v}"));
    match v {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Array(a)) => match a.as_slice() {
            [h, w] if h == w => h.as_u64().map(|n| n as usize).ok_or_else(|| bad(v.unwrap())),
            _ => Err(cfg_err(file, format!("`{key}` is {}: only square images are supported", v.unwrap()))),
        },
        Some(x) => x.as_u64().map(|n| n as usize).ok_or_else(|| bad(x)),
    }
}

/// open_clip's evaluation transform (`image_transform(is_train=False)`) as a [`PreprocessConfig`]:
/// `shortest` = resize the short side + torchvision's centre crop, `squash` = resize to a square;
/// bicubic (PIL's, as torchvision uses on PIL images); `ToTensor` (/255) and `Normalize`.
fn preprocess_from(p: &Cfg<'_>, image_size: u32) -> Result<PreprocessConfig> {
    let size = match p.get("size") {
        None => image_size,
        some => square(some, image_size as usize, p.file, "preprocess_cfg.size")? as u32,
    };
    match p.str("interpolation").unwrap_or("bicubic") {
        // "random" is a training option; open_clip evaluates it as bicubic.
        "bicubic" | "random" => {}
        other => {
            return Err(cfg_err(
                p.file,
                format!("`preprocess_cfg.interpolation` is \"{other}\": only bicubic (open_clip's default) is implemented"),
            ))
        }
    }
    let (resize, crop) = match p.str("resize_mode").unwrap_or("shortest") {
        "shortest" => (Resize::ShortestEdge(size), Some((size, size))),
        "squash" => (Resize::Exact { height: size, width: size }, None),
        other => {
            return Err(cfg_err(
                p.file,
                format!("`preprocess_cfg.resize_mode` is \"{other}\": supported are \"shortest\" and \"squash\""),
            ))
        }
    };
    let channels = |key: &str, default: [f32; 3]| -> Result<[f32; 3]> {
        match p.get(key) {
            None => Ok(default),
            Some(Value::Number(n)) => Ok([n.as_f64().unwrap_or(0.0) as f32; 3]),
            Some(Value::Array(a)) if a.len() == 3 && a.iter().all(Value::is_number) => {
                Ok([0, 1, 2].map(|i| a[i].as_f64().unwrap_or(0.0) as f32))
            }
            Some(v) => Err(cfg_err(p.file, format!("`preprocess_cfg.{key}` should be 3 numbers, found {v}"))),
        }
    };
    use crate::clip::preprocess::config::{OPENAI_CLIP_MEAN, OPENAI_CLIP_STD};
    let mean = channels("mean", OPENAI_CLIP_MEAN)?;
    let std = channels("std", OPENAI_CLIP_STD)?;
    if std.contains(&0.0) {
        return Err(cfg_err(p.file, "`preprocess_cfg.std` has a zero"));
    }
    Ok(PreprocessConfig {
        resize,
        crop,
        rescale_factor: Some(1.0 / 255.0),
        normalize: Some((mean, std)),
        crop_rounding: CropRounding::Torchvision,
    })
}

/// A transformers `preprocessor_config.json` for an OpenCLIP preprocessing (written beside a
/// merged checkpoint, which is in transformers' layout). transformers centre-crops with floor
/// where torchvision rounds, so an odd margin may shift the crop by one pixel there.
pub fn hf_preprocessor_json(p: &PreprocessConfig) -> String {
    let (mean, std) = p.normalize.unwrap_or(([0.0; 3], [1.0; 3]));
    let mut j = serde_json::json!({
        "image_processor_type": "CLIPImageProcessor",
        "do_resize": true,
        "resample": 3,
        "do_rescale": true,
        "rescale_factor": 1.0 / 255.0,
        "do_normalize": true,
        "image_mean": mean,
        "image_std": std,
        "do_convert_rgb": true,
    });
    match (p.resize, p.crop) {
        (Resize::Exact { height, width }, _) => {
            j["size"] = serde_json::json!({"height": height, "width": width});
            j["do_center_crop"] = false.into();
        }
        (Resize::ShortestEdge(n), crop) => {
            j["size"] = serde_json::json!({"shortest_edge": n});
            let (h, w) = crop.unwrap_or((n, n));
            j["do_center_crop"] = true.into();
            j["crop_size"] = serde_json::json!({"height": h, "width": w});
        }
        (Resize::None, _) => j["do_resize"] = false.into(),
    }
    serde_json::to_string_pretty(&j).expect("JSON values serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_to_transformers() {
        let r = |s: &str| Some(Op::Rename(s.into()));
        assert_eq!(map_name("visual.conv1.weight"), r("vision_model.embeddings.patch_embedding.weight"));
        assert_eq!(map_name("module.ln_final.bias"), r("text_model.final_layer_norm.bias"));
        assert_eq!(map_name("text.token_embedding.weight"), r("text_model.embeddings.token_embedding.weight"));
        assert_eq!(map_name("visual.transformer.resblocks.11.mlp.c_proj.weight"), r("vision_model.encoder.layers.11.mlp.fc2.weight"));
        assert_eq!(map_name("transformer.resblocks.0.ln_2.bias"), r("text_model.encoder.layers.0.layer_norm2.bias"));
        assert_eq!(
            map_name("transformer.resblocks.3.attn.in_proj_bias"),
            Some(Op::Split(["q_proj", "k_proj", "v_proj"].map(|p| format!("text_model.encoder.layers.3.self_attn.{p}.bias"))))
        );
        assert_eq!(map_name("visual.proj"), Some(Op::Transpose("visual_projection.weight".into())));
        assert_eq!(map_name("attn_mask"), Some(Op::Drop));
        for hf in ["vision_model.embeddings.class_embedding", "text_projection.weight", "logit_scale", "visual.trunk.x"] {
            assert_eq!(map_name(hf), None, "{hf}");
        }
        assert_eq!(openclip_name_of("vision_model.encoder.layers.2.mlp.fc1.bias").unwrap(), "visual.transformer.resblocks.2.mlp.c_fc.bias");
    }

    #[test]
    fn host_and_streamed_mapping_agree() {
        let w: Vec<f32> = (0..24).map(|i| i as f32).collect();
        let list = vec![
            ("visual.transformer.resblocks.0.attn.in_proj_weight".to_string(), HostTensor::f32(vec![6, 4], w.clone())),
            ("text_projection".to_string(), HostTensor::f32(vec![4, 6], w.clone())),
        ];
        let (host, any) = map_host(list, "f").unwrap();
        assert!(any);
        let bytes: Vec<u8> = w.iter().flat_map(|x| x.to_le_bytes()).collect();
        let mut streamed = Vec::new();
        for (name, shape) in [("visual.transformer.resblocks.0.attn.in_proj_weight", [6, 4]), ("text_projection", [4, 6])] {
            let raw = RawTensor { shape: &shape, dtype: crate::checkpoint::FileDtype::F32, bytes: &bytes };
            map_raw(name, &raw, "f", &mut |n, t| {
                streamed.push((n.to_string(), t.to_host()));
                Ok(())
            })
            .unwrap();
        }
        assert_eq!(host.len(), 4);
        for ((a, ta), (b, tb)) in host.iter().zip(&streamed) {
            assert_eq!(a, b);
            assert_eq!(ta.shape, tb.shape);
            assert_eq!(ta.as_f32(), tb.as_f32());
        }
        assert_eq!(host[1].1.as_f32().unwrap(), &w[8..16]);
        assert_eq!(host[3].1.shape, vec![6, 4]);
        assert_eq!(host[3].1.as_f32().unwrap()[..4], [0.0, 6.0, 12.0, 18.0]);
    }
}
