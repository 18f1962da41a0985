//! The offline default pair, built into the binary: the tiny CLIP trained here on a generated world
//! (www/models/toy, see docs/TOY_WORLD.md). `wiseft classify` without `--zero-shot` uses it, so the
//! tool works with no download and from any folder.

use wiseft::checkpoint::{Checkpoint, SideFiles};
use wiseft::error::{Error, Result};

macro_rules! toy {
    ($file:literal) => {
        concat!(env!("CARGO_MANIFEST_DIR"), "/www/models/toy/", $file)
    };
}

fn side(name: &str, text: &str) -> Option<(String, String)> {
    Some((format!("embedded {name}"), text.to_string()))
}

pub fn zero_shot() -> Result<Checkpoint> {
    let side = SideFiles {
        config: side("toy/zs/config.json", include_str!(toy!("zs/config.json"))),
        preprocessor: side("toy/zs/preprocessor_config.json", include_str!(toy!("zs/preprocessor_config.json"))),
        open_clip: None,
    };
    Checkpoint::from_bytes(include_bytes!(toy!("zs/model.safetensors")), "embedded toy/zs/model.safetensors", side)
}

pub fn fine_tuned() -> Result<Checkpoint> {
    let side = SideFiles { config: side("toy/ft/config.json", include_str!(toy!("ft/config.json"))), preprocessor: None, open_clip: None };
    Checkpoint::from_bytes(include_bytes!(toy!("ft/model.safetensors")), "embedded toy/ft/model.safetensors", side)
}

/// The world's class names, from eval.json.
pub fn labels() -> Result<Vec<String>> {
    let eval: serde_json::Value = serde_json::from_str(include_str!(toy!("eval.json")))
        .map_err(|e| Error::Config { file: "embedded toy/eval.json".into(), msg: e.to_string() })?;
    let labels = eval["labels"].as_array().map(|l| l.iter().filter_map(|v| v.as_str().map(str::to_string)).collect());
    labels.ok_or_else(|| Error::Config { file: "embedded toy/eval.json".into(), msg: "no \"labels\" list".into() })
}
