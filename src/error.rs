//! One error type for the whole crate. Every variant says *where* (file, tensor, URL, image)
//! and *what*, so a message can reach the person who can act on it unchanged.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A checkpoint file that cannot be read as a whole (bad header, truncated, wrong format).
    #[error("{file}: {msg}")]
    Checkpoint { file: String, msg: String },

    /// One tensor of a checkpoint is wrong or missing.
    #[error("{file}: tensor `{tensor}`: {msg}")]
    Tensor { file: String, tensor: String, msg: String },

    /// The two checkpoints of a merge do not fit together.
    #[error("merge: tensor `{tensor}`: {msg}")]
    Merge { tensor: String, msg: String },

    /// A config.json / preprocessor_config.json that is unreadable or contradicts the tensors.
    #[error("{file}: {msg}")]
    Config { file: String, msg: String },

    /// A photo that cannot be decoded or preprocessed.
    #[error("image {name}: {msg}")]
    Image { name: String, msg: String },

    /// A download that failed (network, HTTP status, cache).
    #[error("download {url}: {msg}")]
    Download { url: String, msg: String },

    /// The GPU back end: no adapter, a limit exceeded, a lost device, a failed kernel.
    #[error("GPU engine: {0}")]
    Gpu(String),

    /// A wrong argument from the caller (α out of range, no labels, …).
    #[error("{0}")]
    Invalid(String),

    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },

    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().display().to_string(), source }
    }
}

/// `[768, 3, 32, 32]` → "768×3×32×32"; a scalar prints as "scalar".
pub fn shape_str(shape: &[usize]) -> String {
    if shape.is_empty() {
        return "scalar".into();
    }
    shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("×")
}
