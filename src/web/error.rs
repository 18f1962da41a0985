//! The one error of loading (and re-reading) checkpoints in the worker, with the one message the
//! page shows for it.

/// Why a load stopped.
#[derive(Debug)]
pub enum LoadError {
    /// The person pressed cancel.
    Cancelled,
    /// HTTP 404 or 410: no file at this address.
    NotFound { url: String, status: u16 },
    /// Anything else, with a message that says what failed and what to do.
    Failed(String),
    /// The bytes arrived but are not a usable checkpoint (found while streaming them).
    Unusable(crate::Error),
}

impl LoadError {
    pub fn cancelled(&self) -> bool {
        matches!(self, LoadError::Cancelled)
    }

    /// What the page shows: what happened, where, and what to do.
    pub fn message(&self) -> String {
        match self {
            LoadError::Cancelled => "Loading cancelled.".into(),
            LoadError::NotFound { url, status } => format!(
                "{url}: HTTP {status} Not Found — there is no file at this address. Check the repository name, the revision and the file name (hub files are at https://huggingface.co/OWNER/NAME/resolve/REVISION/model.safetensors), or open the file with \"Local files\"."
            ),
            LoadError::Failed(m) => m.clone(),
            LoadError::Unusable(e) => e.to_string(),
        }
    }

    /// A file that arrived but is not a checkpoint, said with what to do about it.
    pub fn unusable_as(self, role: impl std::fmt::Display) -> Self {
        match self {
            LoadError::Unusable(e @ (crate::Error::Checkpoint { .. } | crate::Error::Tensor { .. })) => LoadError::Failed(format!(
                "{e}. The {role} file at this address is not a usable CLIP checkpoint (cut short, or not a safetensors / PyTorch file); it was not stored. Check the address, or use another copy of the file."
            )),
            LoadError::Unusable(e) => LoadError::Failed(format!("{e}.")),
            other => other,
        }
    }
}

impl From<crate::Error> for LoadError {
    fn from(e: crate::Error) -> Self {
        LoadError::Failed(e.to_string())
    }
}
