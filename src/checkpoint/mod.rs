//! Checkpoints: a Hugging Face model folder (config.json + model.safetensors or pytorch_model.bin,
//! preprocessor_config.json optional) or a bare weights file, read into host tensors together with
//! the CLIP configuration they imply.

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

/// Weight files of a checkpoint folder, in the order they are tried.
pub const WEIGHT_FILES: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];

/// The side files that may accompany the weights: (file name for messages, contents).
#[derive(Debug, Default, Clone)]
pub struct SideFiles {
    pub config: Option<(String, String)>,
    pub preprocessor: Option<(String, String)>,
}

impl SideFiles {
    /// Their names beside the weights (in a folder, a hub repository, next to a URL).
    pub const NAMES: [&'static str; 2] = ["config.json", "preprocessor_config.json"];

    /// Files a person picked (or found beside the weights) go where their name says: one whose name
    /// mentions "preprocessor" is the preprocessing, any other the model config. `source` names
    /// the file in messages.
    pub fn set(&mut self, file_name: &str, source: String, text: String) {
        if file_name.contains("preprocessor") {
            self.preprocessor = Some((source, text));
        } else {
            self.config = Some((source, text));
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
        let mut tensors = BTreeMap::new();
        for (tensor_name, t) in list {
            if tensors.insert(tensor_name.clone(), t).is_some() {
                return Err(Error::Tensor { file: name.into(), tensor: tensor_name, msg: "appears twice".into() });
            }
        }
        let names: BTreeSet<&str> = tensors.keys().map(String::as_str).collect();
        let layout = Layout::detect(&names).ok_or_else(|| Error::Checkpoint {
            file: name.into(),
            msg: format!(
                "no CLIP tensors (`vision_model.*` or `text_model.*`) among its {} tensors: is this a Hugging Face CLIP checkpoint?",
                tensors.len()
            ),
        })?;

        let (config, config_source) = match &side.config {
            Some((file, text)) => (ClipConfig::from_json(text, file)?, ConfigSource::File(file.clone())),
            None => {
                let (config, assumptions) = ClipConfig::infer(&tensors, name)?;
                (config, ConfigSource::Inferred { assumptions })
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
        config.check_tensors(&tensors, name, &config_file)?;

        let image_size = config.vision.as_ref().map_or(224, |v| v.image_size) as u32;
        let preprocess = match &side.preprocessor {
            Some((file, text)) => Some(PreprocessConfig::from_json(text, file, image_size)?),
            None => None,
        };
        Ok(Self {
            name: name.to_string(),
            format,
            tensors,
            layout,
            config,
            config_source,
            preprocess,
            config_json: side.config.map(|(_, t)| t),
            preprocessor_json: side.preprocessor.map(|(_, t)| t),
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
