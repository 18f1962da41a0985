//! Checkpoints: a Hugging Face model folder (config.json + model.safetensors or pytorch_model.bin,
//! preprocessor_config.json optional), an OpenCLIP one (open_clip_config.json +
//! open_clip_model.safetensors or open_clip_pytorch_model.bin, mapped to transformers' layout by
//! [`openclip`]) or a bare weights file, read into host tensors together with the CLIP
//! configuration they imply.

pub mod openclip;
pub mod pickle;
pub mod provenance;
pub mod pytorch;
pub mod safetensors;
pub mod stream;
pub mod tensor;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::clip::config::{ClipConfig, ConfigSource};
use crate::clip::preprocess::PreprocessConfig;
use crate::error::{Error, Result};
pub use tensor::{F32Source, FileDtype, HostTensor, RawTensor};


/// Which Hugging Face class the tensor names belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `CLIPModel`: both towers, both projections and `logit_scale`.
    ClipModel,
    /// `CLIPVisionModel` (only `vision_model.*`) or `CLIPVisionModelWithProjection` (+ `visual_projection`).
    VisionModel { projection: bool },
    /// `CLIPTextModel` or `CLIPTextModelWithProjection`.
    TextModel { projection: bool },
}

impl Layout {
    pub fn detect(names: &BTreeSet<&str>) -> Option<Self> {
        let has = |prefix: &str| names.iter().any(|n| n.starts_with(prefix));
        match (has("vision_model."), has("text_model.")) {
            (true, true) => Some(Self::ClipModel),
            (true, false) => Some(Self::VisionModel { projection: names.contains("visual_projection.weight") }),
            (false, true) => Some(Self::TextModel { projection: names.contains("text_projection.weight") }),
            (false, false) => None,
        }
    }

    pub fn class_name(self) -> &'static str {
        match self {
            Self::ClipModel => "CLIPModel",
            Self::VisionModel { projection: false } => "CLIPVisionModel",
            Self::VisionModel { projection: true } => "CLIPVisionModelWithProjection",
            Self::TextModel { projection: false } => "CLIPTextModel",
            Self::TextModel { projection: true } => "CLIPTextModelWithProjection",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Safetensors,
    PyTorch,
}

/// Weight files of a checkpoint folder, in the order they are tried: transformers' names, then
/// OpenCLIP's ([`openclip::WEIGHT_FILES`]).
pub const WEIGHT_FILES: [&str; 4] =
    ["model.safetensors", "pytorch_model.bin", openclip::WEIGHT_FILES[0], openclip::WEIGHT_FILES[1]];

/// The side files that may accompany the weights: (file name for messages, contents).
#[derive(Debug, Default, Clone)]
pub struct SideFiles {
    pub config: Option<(String, String)>,
    pub preprocessor: Option<(String, String)>,
    /// open_clip_config.json (model_cfg + preprocess_cfg), read for OpenCLIP weights.
    pub open_clip: Option<(String, String)>,
}

impl SideFiles {
    /// Their names beside the weights (in a folder, a hub repository, next to a URL).
    pub const NAMES: [&'static str; 3] = ["config.json", "preprocessor_config.json", openclip::CONFIG_FILE];

    /// Files a person picked (or found beside the weights) go where their name says: one whose name
    /// mentions "preprocessor" is the preprocessing, an OpenCLIP config (by name, or holding
    /// `model_cfg`) the OpenCLIP config, any other the model config. `source` names the file in
    /// messages.
    pub fn set(&mut self, file_name: &str, source: String, text: String) {
        if file_name.contains("open_clip") || openclip::looks_like_config(&text) {
            self.open_clip = Some((source, text));
        } else if file_name.contains("preprocessor") {
            self.preprocessor = Some((source, text));
        } else {
            self.config = Some((source, text));
        }
    }

    /// The side files worth asking for beside a weights file of this name: transformers' for
    /// `model.safetensors` / `pytorch_model.bin`, OpenCLIP's for `open_clip_*`, all of them for
    /// any other name (a bare state dict).
    pub fn names_for(weights_file: &str) -> &'static [&'static str] {
        let file = weights_file.rsplit(['/', '\\']).next().unwrap_or(weights_file);
        let file = file.split(['?', '#']).next().unwrap_or(file);
        if WEIGHT_FILES[..2].contains(&file) {
            &Self::NAMES[..2]
        } else if openclip::WEIGHT_FILES.contains(&file) {
            &Self::NAMES[2..]
        } else {
            &Self::NAMES
        }
    }

    /// Whether a file of this name is a side file rather than weights.
    pub fn is_side_file(file_name: &str) -> bool {
        file_name.ends_with(".json")
    }
}

#[derive(Debug, Clone)]
pub struct Checkpoint {
    /// The weights file (path or URL) for messages.
    pub name: String,
    pub format: Format,
    pub tensors: BTreeMap<String, HostTensor>,
    pub layout: Layout,
    pub config: ClipConfig,
    pub config_source: ConfigSource,
    /// From preprocessor_config.json, when the checkpoint has one.
    pub preprocess: Option<PreprocessConfig>,
    /// The config.json text, copied beside a merged checkpoint.
    pub config_json: Option<String>,
    pub preprocessor_json: Option<String>,
}

impl Checkpoint {
    /// The bytes its float tensors take as f32: what it holds on the host once widened.
    pub fn float_bytes(&self) -> u64 {
        self.tensors.values().filter(|t| t.is_float()).map(|t| t.numel() as u64 * 4).sum()
    }

    /// Reads a checkpoint from the bytes of its weights file and its optional side files.
    pub fn from_bytes(weights: &[u8], name: &str, side: SideFiles) -> Result<Self> {
        let (format, list) = if pytorch::looks_like_zip(weights) {
            (Format::PyTorch, pytorch::read(weights, name)?)
        } else {
            (Format::Safetensors, safetensors::read(weights, name)?.0)
        };
        Self::from_tensors(list, name, format, side)
    }

    /// Builds a checkpoint from tensors already read (say, streamed with
    /// [`safetensors::StreamReader`]): detects the layout, reads or infers the config and checks
    /// the tensors against it.
    pub fn from_tensors(list: Vec<(String, HostTensor)>, name: &str, format: Format, side: SideFiles) -> Result<Self> {
        let (list, openclip) = openclip::map_host(list, name)?;
        Self::from_mapped(list, name, format, side, openclip)
    }

    /// [`Checkpoint::from_tensors`] for tensors already mapped to transformers' names
    /// (`openclip`: they were OpenCLIP's, so the config is open_clip_config.json).
    pub(crate) fn from_mapped(
        list: Vec<(String, HostTensor)>,
        name: &str,
        format: Format,
        side: SideFiles,
        openclip: bool,
    ) -> Result<Self> {
        openclip::check_architecture(list.iter().map(|(n, _)| n.as_str()), name)?;
        let mut tensors = BTreeMap::new();
        for (tensor_name, t) in list {
            if let Some(values) = t.as_f32() {
                tensor::check_finite(name, &tensor_name, &t.shape, &values)?;
            }
            if tensors.insert(tensor_name.clone(), t).is_some() {
                return Err(Error::Tensor { file: name.into(), tensor: tensor_name, msg: "appears twice".into() });
            }
        }
        let names: BTreeSet<&str> = tensors.keys().map(String::as_str).collect();
        let layout = Layout::detect(&names).ok_or_else(|| Error::Checkpoint {
            file: name.into(),
            msg: format!(
                "no CLIP tensors (transformers' `vision_model.*` / `text_model.*`, or OpenCLIP's `visual.*` / `transformer.resblocks.*`) among its {} tensors{}: is this a CLIP checkpoint?",
                tensors.len(),
                match tensors.keys().take(3).map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ") {
                    s if s.is_empty() => String::new(),
                    s => format!(" ({s}, …)"),
                }
            ),
        })?;

        let mut openclip_preprocess = None;
        let (config, config_source) = if openclip {
            let found = side.open_clip.clone().or_else(|| side.config.clone().filter(|(_, t)| openclip::looks_like_config(t)));
            let Some((file, text)) = found else {
                let beside = match &side.config {
                    Some((f, _)) => format!("only {f}, a transformers config"),
                    None => "no config".into(),
                };
                return Err(Error::Checkpoint {
                    file: name.into(),
                    msg: format!(
                        "OpenCLIP weights (`visual.*`, `transformer.resblocks.*`) come with {beside}: they need their {} (model_cfg + preprocess_cfg) beside them, since the number of attention heads, the activation (quick_gelu or GELU) and the preprocessing cannot be read from the tensors (for a fine-tune saved without one, copy the zero-shot model's)",
                        openclip::CONFIG_FILE
                    ),
                });
            };
            let oc = openclip::OpenClipConfig::from_json(&text, &file)?;
            oc.config.validate(&file)?;
            openclip_preprocess = Some(oc.preprocess);
            (oc.config, ConfigSource::File(file))
        } else {
            match &side.config {
                Some((file, text)) => (ClipConfig::from_json(text, file)?, ConfigSource::File(file.clone())),
                None => {
                    let (config, assumptions) = ClipConfig::infer(&tensors, name)?;
                    (config, ConfigSource::Inferred { assumptions })
                }
            }
        };
        let config_file = match &config_source {
            ConfigSource::File(f) => f.clone(),
            ConfigSource::Inferred { .. } => format!("{name} (inferred config)"),
        };
        // A CLIPModel config.json can sit beside a vision-only file; keep only the towers present.
        let config = ClipConfig {
            vision: config.vision.filter(|_| !matches!(layout, Layout::TextModel { .. })),
            text: config.text.filter(|_| !matches!(layout, Layout::VisionModel { .. })),
            projection_dim: config.projection_dim,
        };
        if openclip {
            openclip::check_mapped(&config, &tensors, name, &config_file)?;
        } else {
            config.check_tensors(&tensors, name, &config_file)?;
        }

        let image_size = config.vision.as_ref().map_or(224, |v| v.image_size) as u32;
        let preprocess = match (&side.preprocessor, openclip_preprocess) {
            // OpenCLIP weights are preprocessed as open_clip does (a preprocessor_config.json beside
            // them belongs to the transformers weights of the same repository).
            (_, Some(p)) => Some(p),
            (Some((file, text)), None) => Some(PreprocessConfig::from_json(text, file, image_size)?),
            (None, None) => None,
        };
        // A merge of OpenCLIP weights is written in transformers' layout, with configs to match.
        let (config_json, preprocessor_json) = match (&preprocess, openclip) {
            (Some(p), true) => (Some(config.to_hf_json().to_string()), Some(openclip::hf_preprocessor_json(p))),
            _ => (side.config.map(|(_, t)| t), side.preprocessor.map(|(_, t)| t)),
        };
        Ok(Self {
            name: name.to_string(),
            format,
            tensors,
            layout,
            config,
            config_source,
            preprocess,
            config_json,
            preprocessor_json,
        })
    }

    /// Opens a model folder or a weights file; config.json and preprocessor_config.json are read
    /// from the folder (or beside the file) when present.
    pub fn open(path: &Path) -> Result<Self> {
        let weights = weights_path(path)?;
        let dir = weights.parent().unwrap_or(Path::new("."));
        let mut side = SideFiles::default();
        for file in SideFiles::NAMES {
            let p = dir.join(file);
            match std::fs::read_to_string(&p) {
                Ok(text) => side.set(file, p.display().to_string(), text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(Error::io(&p, e)),
            }
        }
        let bytes = std::fs::read(&weights).map_err(|e| Error::io(&weights, e))?;
        Self::from_bytes(&bytes, &weights.display().to_string(), side)
    }

    pub fn parameter_count(&self) -> usize {
        self.tensors.values().filter(|t| t.is_float()).map(HostTensor::numel).sum()
    }

    /// Element types in the file with how many tensors have each.
    pub fn dtypes(&self) -> BTreeMap<FileDtype, usize> {
        let mut out = BTreeMap::new();
        for t in self.tensors.values() {
            *out.entry(t.file_dtype).or_insert(0) += 1;
        }
        out
    }

    /// `logit_scale` of a full CLIPModel (the learned log temperature).
    pub fn logit_scale(&self) -> Option<f32> {
        self.tensors.get("logit_scale").and_then(|t| t.as_f32()).and_then(|v| v.first().copied())
    }
}

/// The weights file of a folder (model.safetensors, else pytorch_model.bin), or the path itself.
pub fn weights_path(path: &Path) -> Result<PathBuf> {
    if path.is_dir() {
        WEIGHT_FILES.iter().map(|f| path.join(f)).find(|p| p.is_file()).ok_or_else(|| Error::Checkpoint {
            file: path.display().to_string(),
            msg: format!("folder holds neither {}", WEIGHT_FILES.join(" nor ")),
        })
    } else if path.is_file() {
        Ok(path.to_path_buf())
    } else {
        Err(Error::Checkpoint { file: path.display().to_string(), msg: "no such file or folder".into() })
    }
}
