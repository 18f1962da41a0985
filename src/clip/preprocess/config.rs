//! `preprocessor_config.json` → [`PreprocessConfig`]: which resize, crop, rescale and
//! normalisation the image processor applies, with CLIP's defaults for missing keys.

use serde_json::{Map, Value};

use super::MAX_SIDE;
use crate::error::{Error, Result};

/// `OPENAI_CLIP_MEAN` / `OPENAI_CLIP_STD` of transformers' `image_utils`, with its digits; the
/// literals round to the same f32 values as `np.array(..., dtype=np.float32)`.
#[allow(clippy::excessive_precision)]
pub const OPENAI_CLIP_MEAN: [f32; 3] = [0.48145466, 0.4578275, 0.40821073];
#[allow(clippy::excessive_precision)]
pub const OPENAI_CLIP_STD: [f32; 3] = [0.26862954, 0.26130258, 0.27577711];

/// `PILImageResampling.BICUBIC`, the only filter implemented.
const RESAMPLE_BICUBIC: u64 = 3;

/// How a preprocessor config resizes before cropping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resize {
    /// Keep the decoded size (`do_resize: false`).
    None,
    /// Short side to N, long side to `int(N * long / short)` (transformers' `default_to_square=False`).
    ShortestEdge(u32),
    /// Resize to exactly this size, ignoring the aspect ratio.
    Exact { height: u32, width: u32 },
}

/// Where a centre crop starts when the margin is odd.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CropRounding {
    /// transformers' `center_crop`: `top = (size - crop) // 2`; a small image is padded
    /// `ceil((crop - size) / 2)` from the top.
    #[default]
    Transformers,
    /// torchvision's `CenterCrop` (open_clip): `top = int(round((size - crop) / 2))`, half to
    /// even; a small image is padded `(crop - size) // 2` from the top.
    Torchvision,
}

/// Everything CLIP's image processor does to a decoded RGB image.
#[derive(Debug, Clone, PartialEq)]
pub struct PreprocessConfig {
    pub resize: Resize,
    /// (height, width) of the center crop, `None` when `do_center_crop` is false.
    pub crop: Option<(u32, u32)>,
    /// `Some(1/255)` when `do_rescale`. Kept in `f64` because transformers multiplies in float64
    /// before casting to float32; an `f32` factor gives a different last bit for half the pixel values.
    pub rescale_factor: Option<f64>,
    /// (mean, std) when `do_normalize`.
    pub normalize: Option<([f32; 3], [f32; 3])>,
    /// How the centre crop rounds an odd margin (transformers for preprocessor_config.json,
    /// torchvision for OpenCLIP's preprocess_cfg).
    pub crop_rounding: CropRounding,
}

impl PreprocessConfig {
    /// CLIP's defaults (OpenAI mean/std, bicubic, shortest edge = crop = image_size).
    pub fn clip_default(image_size: u32) -> Self {
        PreprocessConfig {
            resize: Resize::ShortestEdge(image_size),
            crop: Some((image_size, image_size)),
            rescale_factor: Some(1.0 / 255.0),
            normalize: Some((OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)),
            crop_rounding: CropRounding::Transformers,
        }
    }

    /// Parse a Hugging Face `preprocessor_config.json`: the old form (`"size": 224`,
    /// `"crop_size": 224`) and the dict forms (`{"shortest_edge": N}`, `{"height": H, "width": W}`).
    /// Missing keys take CLIP's defaults for `image_size`. `file` labels errors.
    ///
    /// Rejected with `Error::Config`: resample filters other than bicubic, size dicts this crate
    /// does not implement (`longest_edge`, `max_height`, ...), sizes outside 1..=MAX_SIDE, a zero
    /// std, and configs whose output size would depend on the image (no center crop after a
    /// shortest-edge resize or without resize), which a CLIP vision tower cannot take.
    pub fn from_json(text: &str, file: &str, image_size: u32) -> Result<Self> {
        let cfg = ConfigReader::parse(text, file)?;
        let defaults = Self::clip_default(image_size);

        let resize = if cfg.bool_or("do_resize", true)? {
            cfg.check_resample()?;
            match cfg.get("size") {
                None => defaults.resize,
                Some(v) => cfg.resize_from(v)?,
            }
        } else {
            Resize::None
        };
        let crop = if cfg.bool_or("do_center_crop", true)? {
            match cfg.get("crop_size") {
                None => defaults.crop,
                Some(v) => Some(cfg.crop_from(v)?),
            }
        } else {
            None
        };
        let rescale_factor = if cfg.bool_or("do_rescale", true)? {
            Some(cfg.rescale_factor()?)
        } else {
            None
        };
        let normalize = if cfg.bool_or("do_normalize", true)? {
            Some(cfg.mean_std()?)
        } else {
            None
        };

        let parsed = PreprocessConfig {
            resize,
            crop,
            rescale_factor,
            normalize,
            crop_rounding: CropRounding::Transformers,
        };
        if !parsed.has_fixed_output() {
            return Err(cfg.error(
                "the output size would depend on the image (do_center_crop is false and size is not \
                 {\"height\", \"width\"}); CLIP needs a fixed input size"
                    .to_string(),
            ));
        }
        Ok(parsed)
    }

    /// Output (height, width) of the pixel tensor. Configs from `from_json` always have a fixed
    /// output size; for a hand-built config without crop whose size depends on the image, this is
    /// the size a square image would get (`ShortestEdge(n)` → (n, n)) and (0, 0) for `Resize::None`.
    pub fn output_size(&self) -> (u32, u32) {
        match (self.crop, self.resize) {
            (Some(crop), _) => crop,
            (None, Resize::Exact { height, width }) => (height, width),
            (None, Resize::ShortestEdge(n)) => (n, n),
            (None, Resize::None) => (0, 0),
        }
    }

    fn has_fixed_output(&self) -> bool {
        self.crop.is_some() || matches!(self.resize, Resize::Exact { .. })
    }
}

/// Typed access to the keys of a preprocessor config, with errors that name the file and key.
struct ConfigReader<'a> {
    map: Map<String, Value>,
    file: &'a str,
}

impl<'a> ConfigReader<'a> {
    fn parse(text: &str, file: &'a str) -> Result<Self> {
        let value: Value = serde_json::from_str(text).map_err(|e| Error::Config {
            file: file.to_string(),
            msg: format!("not valid JSON: {e}"),
        })?;
        match value {
            Value::Object(map) => Ok(ConfigReader { map, file }),
            _ => Err(Error::Config {
                file: file.to_string(),
                msg: "expected a JSON object".into(),
            }),
        }
    }

    fn error(&self, msg: String) -> Error {
        Error::Config {
            file: self.file.to_string(),
            msg,
        }
    }

    /// A present, non-null key (transformers treats `null` like a missing key).
    fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Bool(b)) => Ok(*b),
            Some(v) => Err(self.error(format!("`{key}` must be true or false, got {v}"))),
        }
    }

    fn check_resample(&self) -> Result<()> {
        match self.get("resample") {
            None => Ok(()),
            Some(v) if v.as_u64() == Some(RESAMPLE_BICUBIC) => Ok(()),
            Some(v) => Err(self.error(format!(
                "`resample` is {v}, but only 3 (PIL bicubic, CLIP's filter) is implemented"
            ))),
        }
    }

    fn side(&self, key: &str, v: &Value) -> Result<u32> {
        match v.as_u64() {
            Some(n) if (1..=u64::from(MAX_SIDE)).contains(&n) => Ok(n as u32),
            _ => Err(self.error(format!(
                "`{key}` must be an integer in 1..={MAX_SIDE}, got {v}"
            ))),
        }
    }

    /// `size`: an int means shortest edge for CLIP (`default_to_square = False`), a pair means
    /// (height, width), dicts use transformers' key sets.
    fn resize_from(&self, v: &Value) -> Result<Resize> {
        if v.is_number() {
            return Ok(Resize::ShortestEdge(self.side("size", v)?));
        }
        let (height, width) = self.height_width("size", v)?;
        match (height, width) {
            (Some(height), Some(width)) => Ok(Resize::Exact { height, width }),
            _ => match self.dict_key(v, "shortest_edge") {
                Some(n) => Ok(Resize::ShortestEdge(self.side("size.shortest_edge", n)?)),
                None => Err(self.unsupported_size("size", v)),
            },
        }
    }

    /// `crop_size`: an int means a square (`default_to_square = True`).
    fn crop_from(&self, v: &Value) -> Result<(u32, u32)> {
        if v.is_number() {
            let n = self.side("crop_size", v)?;
            return Ok((n, n));
        }
        match self.height_width("crop_size", v)? {
            (Some(h), Some(w)) => Ok((h, w)),
            _ => Err(self.unsupported_size("crop_size", v)),
        }
    }

    /// (height, width) from `[h, w]` or `{"height": h, "width": w}`; (None, None) for other dicts.
    fn height_width(&self, key: &str, v: &Value) -> Result<(Option<u32>, Option<u32>)> {
        match v {
            Value::Array(items) if items.len() == 2 => Ok((
                Some(self.side(key, &items[0])?),
                Some(self.side(key, &items[1])?),
            )),
            Value::Object(map) => {
                let keys: Vec<&str> = map.keys().map(String::as_str).collect();
                let mut sorted = keys.clone();
                sorted.sort_unstable();
                if sorted == ["height", "width"] {
                    Ok((
                        Some(self.side(&format!("{key}.height"), &map["height"])?),
                        Some(self.side(&format!("{key}.width"), &map["width"])?),
                    ))
                } else {
                    Ok((None, None))
                }
            }
            _ => Err(self.unsupported_size(key, v)),
        }
    }

    /// The value of a dict that has exactly this one key.
    fn dict_key<'v>(&self, v: &'v Value, key: &str) -> Option<&'v Value> {
        match v {
            Value::Object(map) if map.len() == 1 => map.get(key),
            _ => None,
        }
    }

    fn unsupported_size(&self, key: &str, v: &Value) -> Error {
        self.error(format!(
            "`{key}` = {v} is not supported (expected an integer, [height, width], \
             {{\"shortest_edge\": N}} or {{\"height\": H, \"width\": W}})"
        ))
    }

    fn rescale_factor(&self) -> Result<f64> {
        match self.get("rescale_factor") {
            None => Ok(1.0 / 255.0),
            Some(v) => match v.as_f64() {
                Some(f) if f.is_finite() => Ok(f),
                _ => Err(self.error(format!("`rescale_factor` must be a number, got {v}"))),
            },
        }
    }

    fn mean_std(&self) -> Result<([f32; 3], [f32; 3])> {
        let mean = self.channels("image_mean", OPENAI_CLIP_MEAN)?;
        let std = self.channels("image_std", OPENAI_CLIP_STD)?;
        if std.contains(&0.0) {
            return Err(self.error(format!("`image_std` must not contain 0, got {std:?}")));
        }
        Ok((mean, std))
    }

    /// Three per-channel values; a single number applies to every channel (as in transformers).
    /// Parsed as f64 then rounded to f32, which is what `np.array(list, dtype=float32)` does.
    fn channels(&self, key: &str, default: [f32; 3]) -> Result<[f32; 3]> {
        let bad = || self.error(format!("`{key}` must be a number or a list of 3 numbers"));
        let finite = |v: &Value| v.as_f64().filter(|f| f.is_finite()).map(|f| f as f32);
        match self.get(key) {
            None => Ok(default),
            Some(v @ Value::Number(_)) => finite(v).map(|f| [f; 3]).ok_or_else(bad),
            Some(Value::Array(items)) if items.len() == 3 => {
                let mut out = [0.0f32; 3];
                for (o, item) in out.iter_mut().zip(items) {
                    *o = finite(item).ok_or_else(bad)?;
                }
                Ok(out)
            }
            Some(_) => Err(bad()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_config_equals_clip_default() {
        let text = r#"{
            "crop_size": 224, "do_center_crop": true, "do_normalize": true, "do_resize": true,
            "feature_extractor_type": "CLIPFeatureExtractor",
            "image_mean": [0.48145466, 0.4578275, 0.40821073],
            "image_std": [0.26862954, 0.26130258, 0.27577711], "resample": 3, "size": 224
        }"#;
        let cfg = PreprocessConfig::from_json(text, "preprocessor_config.json", 224).unwrap();
        assert_eq!(cfg, PreprocessConfig::clip_default(224));
        assert_eq!(cfg.output_size(), (224, 224));
    }

    #[test]
    fn config_dict_forms_and_defaults() {
        let cfg = PreprocessConfig::from_json(
            r#"{"size": {"shortest_edge": 336}, "crop_size": {"height": 336, "width": 336},
                "rescale_factor": 0.00392156862745098, "image_processor_type": "CLIPImageProcessor"}"#,
            "f.json",
            224,
        )
        .unwrap();
        assert_eq!(cfg, PreprocessConfig::clip_default(336));
        assert_eq!(cfg.rescale_factor, Some(1.0 / 255.0));

        let empty = PreprocessConfig::from_json("{}", "f.json", 288).unwrap();
        assert_eq!(empty, PreprocessConfig::clip_default(288));

        let exact = PreprocessConfig::from_json(
            r#"{"size": {"height": 20, "width": 30}, "do_center_crop": false, "do_normalize": false,
                "do_rescale": false, "image_mean": 0.5}"#,
            "f.json",
            224,
        )
        .unwrap();
        assert_eq!(
            exact.resize,
            Resize::Exact {
                height: 20,
                width: 30
            }
        );
        assert_eq!(
            (exact.crop, exact.rescale_factor, exact.normalize),
            (None, None, None)
        );
        assert_eq!(exact.output_size(), (20, 30));

        let pair = PreprocessConfig::from_json(
            r#"{"size": [40, 50], "crop_size": [30, 20],
            "image_mean": 0.5, "image_std": [1, 2, 3], "do_resize": false, "resample": 2}"#,
            "f.json",
            224,
        )
        .unwrap();
        assert_eq!(pair.resize, Resize::None);
        assert_eq!(pair.crop, Some((30, 20)));
        assert_eq!(pair.normalize, Some(([0.5; 3], [1.0, 2.0, 3.0])));
    }

    #[test]
    fn bad_configs_are_config_errors() {
        let cases = [
            ("not json", "not valid JSON"),
            ("[1, 2]", "expected a JSON object"),
            (r#"{"resample": 2}"#, "resample"),
            (
                r#"{"size": {"shortest_edge": 224, "longest_edge": 500}}"#,
                "not supported",
            ),
            (
                r#"{"size": {"max_height": 224, "max_width": 224}}"#,
                "not supported",
            ),
            (r#"{"size": 0}"#, "size"),
            (r#"{"crop_size": 100000}"#, "crop_size"),
            (r#"{"do_center_crop": false}"#, "fixed input size"),
            (
                r#"{"do_center_crop": false, "do_resize": false}"#,
                "fixed input size",
            ),
            (r#"{"do_resize": "yes"}"#, "do_resize"),
            (r#"{"image_std": [0.1, 0.0, 0.2]}"#, "image_std"),
            (r#"{"image_mean": [0.1, 0.2]}"#, "image_mean"),
            (r#"{"rescale_factor": "1/255"}"#, "rescale_factor"),
        ];
        for (text, needle) in cases {
            match PreprocessConfig::from_json(text, "cfg.json", 224) {
                Err(Error::Config { file, msg }) => {
                    assert_eq!(file, "cfg.json");
                    assert!(msg.contains(needle), "{text}: {msg}");
                }
                other => panic!("{text}: expected a config error, got {other:?}"),
            }
        }
    }
}
