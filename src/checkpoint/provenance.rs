//! What a merged file says of itself: the recipe, its coefficients, the source checkpoints (name
//! and SHA-256) and the tool, in the safetensors `__metadata__` (a string → string map, the only
//! place the format has for it), plus the model card written beside a merged folder.
//!
//! Keys are prefixed `wiseft.` so that they never collide with `format` (which transformers
//! reads) or another tool's; values are JSON where they are structured.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The metadata key of each field.
const VERSION: &str = "wiseft.version";
const RECIPE: &str = "wiseft.recipe";
const SOURCES: &str = "wiseft.sources";
const DTYPE: &str = "wiseft.dtype";

/// One checkpoint that went into a merge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceRecord {
    /// `zero-shot`, `fine-tuned`, `fine-tuned 2`, …
    pub role: String,
    /// What the user gave: a hub id, a URL or a path.
    pub name: String,
    /// SHA-256 of the weights file, lowercase hex.
    pub sha256: String,
}

impl SourceRecord {
    pub fn zero_shot(name: impl Into<String>, sha256: String) -> Self {
        SourceRecord { role: "zero-shot".into(), name: name.into(), sha256 }
    }

    /// The `index`-th fine-tune (from 0): `fine-tuned`, then `fine-tuned 2`, `fine-tuned 3`, …
    pub fn fine_tuned(index: usize, name: impl Into<String>, sha256: String) -> Self {
        let role = if index == 0 { "fine-tuned".to_string() } else { format!("fine-tuned {}", index + 1) };
        SourceRecord { role, name: name.into(), sha256 }
    }
}

/// How a merged file was made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// `wiseft 0.1.0`.
    pub tool: String,
    /// The recipe as JSON (`{"method":"wise-ft","alpha":0.5}` for today's merge).
    pub recipe: serde_json::Value,
    pub sources: Vec<SourceRecord>,
    /// The element type the floats were written in.
    pub dtype: OutputDtype,
}

impl Provenance {
    /// This tool, `recipe`, `sources`, `dtype`.
    pub fn new(recipe: serde_json::Value, sources: Vec<SourceRecord>, dtype: OutputDtype) -> Self {
        Provenance { tool: format!("wiseft {}", env!("CARGO_PKG_VERSION")), recipe, sources, dtype }
    }

    /// The `__metadata__` entries (beside `format: pt`).
    pub fn to_metadata(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("format".to_string(), "pt".to_string()),
            (VERSION.to_string(), self.tool.clone()),
            (RECIPE.to_string(), self.recipe.to_string()),
            (SOURCES.to_string(), serde_json::to_string(&self.sources).expect("plain data")),
            (DTYPE.to_string(), self.dtype.to_string()),
        ])
    }

    /// The provenance a file's metadata carries, if it was written by this tool (`None` for
    /// any other file; fields that do not parse are reported as missing rather than guessed).
    pub fn from_metadata(metadata: &BTreeMap<String, String>) -> Option<Self> {
        let tool = metadata.get(VERSION)?.clone();
        Some(Provenance {
            tool,
            recipe: metadata.get(RECIPE).and_then(|r| serde_json::from_str(r).ok()).unwrap_or_default(),
            sources: metadata.get(SOURCES).and_then(|s| serde_json::from_str(s).ok()).unwrap_or_default(),
            dtype: metadata.get(DTYPE).and_then(|d| d.parse().ok()).unwrap_or(OutputDtype::F32),
        })
    }

    /// A model card (README.md) for a merged folder, with the hub's YAML front matter, in the
    /// manner of mergekit's.
    pub fn model_card(&self) -> String {
        let mut card = String::from("---\nlibrary_name: transformers\ntags:\n- merge\n- wise-ft\n- clip\n");
        if let Some(base) = self.sources.first() {
            card += &format!("base_model:\n- {}\n", yaml_str(&base.name));
        }
        card += "---\n\n# A merged CLIP model\n\n";
        card += &format!(
            "Made by {} in weight space, with no training: the recipe below applied to the \
             checkpoints listed, every float tensor written as {}.\n\n",
            self.tool, self.dtype
        );
        card += &format!("## Recipe\n\n```json\n{}\n```\n\n", serde_json::to_string_pretty(&self.recipe).unwrap_or_default());
        card += "## Checkpoints\n\n| role | checkpoint | SHA-256 of the weights |\n|---|---|---|\n";
        for s in &self.sources {
            card += &format!("| {} | `{}` | `{}` |\n", s.role, s.name.replace('|', "\\|"), s.sha256);
        }
        card += "\nWiSE-FT: Wortsman, Ilharco et al., *Robust fine-tuning of zero-shot models*, CVPR 2022.\n";
        card
    }
}

/// A YAML scalar that survives any name (quoted, with `"` and `\` escaped).
fn yaml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The element type of a written file's floats (integers stay i64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputDtype {
    /// Exactly the merged values.
    #[default]
    F32,
    /// Half the size; rounded to nearest even, as torch's `.half()`.
    F16,
    /// Half the size, f32's range; rounded to nearest even, as torch's `.bfloat16()`.
    Bf16,
}

impl fmt::Display for OutputDtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputDtype::F32 => "f32",
            OutputDtype::F16 => "f16",
            OutputDtype::Bf16 => "bf16",
        })
    }
}

impl FromStr for OutputDtype {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(OutputDtype::F32),
            "f16" | "float16" | "half" => Ok(OutputDtype::F16),
            "bf16" | "bfloat16" => Ok(OutputDtype::Bf16),
            _ => Err(format!("unknown dtype `{s}`: use f32, f16 or bf16")),
        }
    }
}

impl OutputDtype {
    /// The name transformers gives it in config.json (`dtype`, formerly `torch_dtype`).
    pub fn torch_name(self) -> &'static str {
        match self {
            OutputDtype::F32 => "float32",
            OutputDtype::F16 => "float16",
            OutputDtype::Bf16 => "bfloat16",
        }
    }
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let mut h = Sha256Stream::default();
    h.update(bytes);
    h.finish()
}

/// SHA-256 of bytes that arrive in pieces (a download, a file read in chunks), so that a large
/// weights file is hashed without being held whole.
#[derive(Default, Clone)]
pub struct Sha256Stream(sha2::Sha256);

impl Sha256Stream {
    pub fn update(&mut self, bytes: &[u8]) {
        use sha2::Digest;
        self.0.update(bytes);
    }

    /// The digest, lowercase hex.
    pub fn finish(self) -> String {
        use sha2::Digest;
        self.0.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// SHA-256 of the file at `path`, read in 1 MiB pieces.
#[cfg(not(target_arch = "wasm32"))]
pub fn sha256_file(path: &std::path::Path) -> crate::error::Result<String> {
    use std::io::Read;
    let err = |e| crate::error::Error::io(path, e);
    let mut file = std::fs::File::open(path).map_err(err)?;
    let mut h = Sha256Stream::default();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        match file.read(&mut buf) {
            Ok(0) => return Ok(h.finish()),
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trip() {
        let p = Provenance::new(
            serde_json::json!({"method": "wise-ft", "alpha": 0.5}),
            vec![
                SourceRecord { role: "zero-shot".into(), name: "openai/clip-vit-base-patch32".into(), sha256: "ab".into() },
                SourceRecord { role: "fine-tuned".into(), name: "https://x/y.safetensors".into(), sha256: "cd".into() },
            ],
            OutputDtype::F16,
        );
        let m = p.to_metadata();
        assert_eq!(m["format"], "pt");
        assert_eq!(Provenance::from_metadata(&m), Some(p.clone()));
        assert_eq!(Provenance::from_metadata(&BTreeMap::from([("format".into(), "pt".into())])), None);
        let card = p.model_card();
        assert!(card.starts_with("---\nlibrary_name: transformers") && card.contains("\"openai/clip-vit-base-patch32\""));
        assert!(card.contains("\"alpha\": 0.5") && card.contains("| fine-tuned | `https://x/y.safetensors` | `cd` |"));
    }

    #[test]
    fn dtypes_and_digest() {
        assert_eq!("BF16".parse::<OutputDtype>(), Ok(OutputDtype::Bf16));
        assert!("f8".parse::<OutputDtype>().unwrap_err().contains("f32, f16 or bf16"));
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        // In pieces, as a download arrives: the same digest.
        let mut h = Sha256Stream::default();
        h.update(b"a");
        h.update(b"");
        h.update(b"bc");
        assert_eq!(h.finish(), sha256_hex(b"abc"));
        assert_eq!(SourceRecord::fine_tuned(1, "x", String::new()).role, "fine-tuned 2");
    }
}
