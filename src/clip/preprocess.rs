//! CLIP image preprocessing that reproduces Hugging Face's PIL-based CLIP image processor
//! (`CLIPImageProcessorPil` in transformers 5, `CLIPImageProcessor` in transformers 4) applied to
//! `transformers.image_utils.load_image(path)`:
//!
//! 1. decode, apply the EXIF orientation, convert to RGB like PIL (`decode_rgb`);
//! 2. resize with PIL's antialiased bicubic filter, then center crop (`resize_and_crop`);
//! 3. rescale and normalise into a CHW `f32` tensor (`to_tensor_chw`).
//!
//! Every step is bit-exact against Pillow 13 / transformers 5 on the tested inputs: the resampler
//! is a port of Pillow's 8-bit fixed-point code (`libImaging/Resample.c`, including the pass
//! order), JPEG goes through a port of the libjpeg-turbo paths PIL uses (`jpeg.rs`; the `image`
//! crate's zune-jpeg differs by up to 4 levels), and PNG/GIF/BMP/WebP use the `image` crate plus
//! PIL's conversion rules. `do_convert_rgb` is not read: the output is always RGB.
//!
//! Not the torchvision backend: transformers 5's default `CLIPImageProcessor` resizes with
//! torchvision and pads a too-small image differently; OpenAI's CLIP and the reference fixtures
//! use PIL.

use std::io::Cursor;
use std::ops::Range;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage};
use serde_json::{Map, Value};

use crate::error::{Error, Result};

mod jpeg;

/// Largest accepted image side, for decoding and for any size in a preprocessor config.
pub const MAX_SIDE: u32 = 16384;

/// Allocation budget handed to the decoders (decompression-bomb guard).
const MAX_DECODE_ALLOC: u64 = 1 << 30;

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
}

impl PreprocessConfig {
    /// CLIP's defaults (OpenAI mean/std, bicubic, shortest edge = crop = image_size).
    pub fn clip_default(image_size: u32) -> Self {
        PreprocessConfig {
            resize: Resize::ShortestEdge(image_size),
            crop: Some((image_size, image_size)),
            rescale_factor: Some(1.0 / 255.0),
            normalize: Some((OPENAI_CLIP_MEAN, OPENAI_CLIP_STD)),
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

    /// Sizes that `resize_and_crop` can produce without clamping (see `clamp_side`).
    fn check_sizes(&self, name: &str, width: u32, height: u32) -> Result<()> {
        let (rh, rw) = resized_size(height, width, self.resize);
        let (oh, ow) = self.crop.unwrap_or((rh, rw));
        let all = [rh, rw, oh, ow];
        if all.iter().any(|&s| s == 0 || s > MAX_RESIZED_SIDE) || oh > MAX_SIDE || ow > MAX_SIDE {
            return Err(Error::Image {
                name: name.to_string(),
                msg: format!(
                    "cannot preprocess a {width}x{height} image to {ow}x{oh} (resized {rw}x{rh}): \
                     size out of range"
                ),
            });
        }
        Ok(())
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

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

/// Decode bytes (PNG, JPEG, GIF, BMP, WebP), apply the EXIF orientation and convert to RGB the way
/// `load_image` (`exif_transpose` + `convert("RGB")`) and the processor's `convert_to_rgb` do:
/// grayscale replicated, alpha dropped without compositing, palette expanded, and pixels of a
/// colour-key transparency (PNG tRNS, GIF transparent index) turned white. `name` labels errors.
pub fn decode_rgb(bytes: &[u8], name: &str) -> Result<RgbImage> {
    let err = |msg: String| Error::Image {
        name: name.to_string(),
        msg,
    };
    let format = image::guess_format(bytes)
        .ok()
        .filter(|f| SUPPORTED_FORMATS.contains(f))
        .ok_or_else(|| err("not a PNG, JPEG, GIF, BMP or WebP image".to_string()))?;
    let decoded = if format == ImageFormat::Jpeg {
        decode_jpeg(bytes)
    } else {
        decode_with_image_crate(bytes, format)
    };
    decoded.map_err(err)
}

/// JPEG goes through our libjpeg-turbo-exact decoder (see `jpeg.rs` for why).
fn decode_jpeg(bytes: &[u8]) -> std::result::Result<RgbImage, String> {
    let limits = jpeg::Limits {
        max_side: MAX_SIDE,
        max_alloc: MAX_DECODE_ALLOC,
    };
    let decoded = jpeg::decode(bytes, &limits)?;
    let (w, h) = (decoded.width, decoded.height);
    let rgb: Vec<u8> = match decoded.pixels {
        jpeg::Pixels::Gray(g) => g.iter().flat_map(|&v| [v; 3]).collect(),
        jpeg::Pixels::Rgb(rgb) => rgb,
        jpeg::Pixels::Cmyk(cmyk) => cmyk
            .chunks_exact(4)
            .flat_map(cmyk_to_rgb_like_pil)
            .collect(),
    };
    let img = RgbImage::from_raw(w, h, rgb).ok_or("JPEG decoder returned a wrong buffer size")?;
    let orientation = decoded
        .exif
        .as_deref()
        .and_then(image::metadata::Orientation::from_exif_chunk)
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::ImageRgb8(img);
    img.apply_orientation(orientation);
    Ok(img.into_rgb8())
}

/// PIL opens 4-component JPEGs as "CMYK;I" (inverted, Adobe convention) and `convert("RGB")`
/// then computes `nk - nk * c / 255` with its MULDIV255 rounding, where nk = 255 - K.
fn cmyk_to_rgb_like_pil(px: &[u8]) -> [u8; 3] {
    // PIL's inverted K is 255 - k, so its nk = 255 - K is the decoder's k.
    let nk = i32::from(px[3]);
    let channel = |v: u8| {
        let c = 255 - i32::from(v);
        let tmp = c * nk + 128;
        (nk - (((tmp >> 8) + tmp) >> 8)).clamp(0, 255) as u8
    };
    [channel(px[0]), channel(px[1]), channel(px[2])]
}

/// PNG, GIF, BMP and WebP through the `image` crate, whose lossless decoders give PIL's pixels.
fn decode_with_image_crate(
    bytes: &[u8],
    format: ImageFormat,
) -> std::result::Result<RgbImage, String> {
    let conversion = match format {
        ImageFormat::Png => png_conversion(bytes),
        ImageFormat::Gif => PilConversion {
            key: gif_color_key(bytes),
            gif: true,
            gray16: false,
        },
        _ => PilConversion::default(),
    };
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(decode_limits());
    let mut decoder = reader.into_decoder().map_err(|e| describe(format, &e))?;
    let (width, height) = decoder.dimensions();
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(too_large(width, height));
    }
    // PIL's exif_transpose ignores unreadable EXIF, so a bad orientation tag is not an error here.
    let orientation = decoder
        .orientation()
        .unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| describe(format, &e))?;
    img.apply_orientation(orientation);
    Ok(to_rgb_like_pil(img, &conversion))
}

const SUPPORTED_FORMATS: [ImageFormat; 5] = [
    ImageFormat::Png,
    ImageFormat::Jpeg,
    ImageFormat::Gif,
    ImageFormat::Bmp,
    ImageFormat::WebP,
];

fn decode_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    limits
}

fn too_large(width: u32, height: u32) -> String {
    format!("image is {width}x{height} pixels; the limit is {MAX_SIDE} pixels per side")
}

fn describe(format: ImageFormat, e: &ImageError) -> String {
    match e {
        ImageError::Limits(l) => format!(
            "image too large to decode safely ({l}); the limits are {MAX_SIDE} pixels per side \
             and {} MiB of memory",
            MAX_DECODE_ALLOC >> 20
        ),
        _ => format!("cannot decode {format:?}: {e}"),
    }
}

/// What PIL does differently from a plain RGB conversion for one file.
#[derive(Default)]
struct PilConversion {
    /// Colour of a colour-key transparency (PIL's `info["transparency"]`); such pixels become white.
    key: Option<[u8; 3]>,
    /// GIF: pixels of the transparent index (alpha 0 from the decoder) also become white.
    gif: bool,
    /// 16-bit grayscale PNG: PIL's mode "I;16", whose conversion clips to 255 instead of scaling.
    gray16: bool,
}

/// PIL's `convert("RGB")` for every colour type the enabled decoders produce. 16-bit samples
/// follow PIL's readers: RGB(A)/LA keep the high byte, 16-bit gray ("I;16") is clipped to 255.
fn to_rgb_like_pil(img: DynamicImage, conv: &PilConversion) -> RgbImage {
    let (w, h) = (img.width(), img.height());
    let mut out = RgbImage::new(w, h);
    let alpha: Option<Vec<bool>> = match &img {
        DynamicImage::ImageLumaA8(_) | DynamicImage::ImageRgba8(_) if conv.gif => {
            Some(img.to_rgba8().pixels().map(|p| p.0[3] == 0).collect())
        }
        _ => None,
    };
    let gray_alpha16 = |s: &[u16]| {
        if conv.gray16 {
            [s[0].min(255) as u8; 3]
        } else {
            [(s[0] >> 8) as u8; 3]
        }
    };
    match img {
        DynamicImage::ImageLuma8(g) => fill(&mut out, g.as_raw(), 1, |s| [s[0]; 3]),
        DynamicImage::ImageLumaA8(g) => fill(&mut out, g.as_raw(), 2, |s| [s[0]; 3]),
        DynamicImage::ImageRgb8(c) => fill(&mut out, c.as_raw(), 3, |s| [s[0], s[1], s[2]]),
        DynamicImage::ImageRgba8(c) => fill(&mut out, c.as_raw(), 4, |s| [s[0], s[1], s[2]]),
        DynamicImage::ImageLuma16(g) => {
            fill16(&mut out, g.as_raw(), 1, |s| [s[0].min(255) as u8; 3])
        }
        DynamicImage::ImageLumaA16(g) => fill16(&mut out, g.as_raw(), 2, gray_alpha16),
        DynamicImage::ImageRgb16(c) => fill16(&mut out, c.as_raw(), 3, high_bytes),
        DynamicImage::ImageRgba16(c) => fill16(&mut out, c.as_raw(), 4, high_bytes),
        other => out = other.to_rgb8(),
    }
    if let Some(key) = conv.key {
        whiten_key(&mut out, key, alpha.as_deref());
    }
    out
}

fn high_bytes(s: &[u16]) -> [u8; 3] {
    [(s[0] >> 8) as u8, (s[1] >> 8) as u8, (s[2] >> 8) as u8]
}

fn fill(out: &mut RgbImage, src: &[u8], channels: usize, f: impl Fn(&[u8]) -> [u8; 3]) {
    for (dst, s) in out.pixels_mut().zip(src.chunks_exact(channels)) {
        dst.0 = f(s);
    }
}

fn fill16(out: &mut RgbImage, src: &[u16], channels: usize, f: impl Fn(&[u16]) -> [u8; 3]) {
    for (dst, s) in out.pixels_mut().zip(src.chunks_exact(channels)) {
        dst.0 = f(s);
    }
}

/// The processor's `convert_to_rgb` sees `info["transparency"]` (left by `convert("RGB")` as an RGB
/// tuple), makes every pixel of that colour transparent and composites onto white: so every pixel
/// equal to the key becomes white, including other palette entries with the same colour.
fn whiten_key(img: &mut RgbImage, key: [u8; 3], alpha_zero: Option<&[bool]>) {
    for (i, p) in img.pixels_mut().enumerate() {
        let transparent = alpha_zero.and_then(|a| a.get(i).copied()).unwrap_or(false);
        if p.0 == key || transparent {
            p.0 = [255, 255, 255];
        }
    }
}

/// Reads a big-endian u32 at `pos`, if there.
fn be_u32(b: &[u8], pos: usize) -> Option<u32> {
    let s = b.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be_u16(b: &[u8], pos: usize) -> Option<u16> {
    let s = b.get(pos..pos.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// How PIL reads a PNG: its IHDR colour type and bit depth, and the colour-key transparency.
fn png_conversion(b: &[u8]) -> PilConversion {
    let (mut depth, mut color_type, mut palette) = (0u8, 255u8, &b[..0]);
    let mut key = None;
    let mut pos = 8usize;
    while let (Some(len), Some(kind)) = (be_u32(b, pos), b.get(pos + 4..pos + 8)) {
        let len = len as usize;
        let Some(data) = (pos + 8)
            .checked_add(len)
            .and_then(|end| b.get(pos + 8..end))
        else {
            break;
        };
        match kind {
            b"IHDR" if data.len() >= 10 => (depth, color_type) = (data[8], data[9]),
            b"PLTE" => palette = data,
            b"tRNS" => key = trns_key(data, depth, color_type, palette),
            b"IDAT" | b"IEND" => break,
            _ => {}
        }
        pos = pos.saturating_add(12).saturating_add(len);
    }
    PilConversion {
        key,
        gif: false,
        gray16: color_type == 0 && depth == 16,
    }
}

/// The colour PIL keeps as `info["transparency"]` after `convert("RGB")` and that the processor's
/// `convert_to_rgb` then matches against pixels (its C code masks each value to 8 bits):
/// - palette: the colour of the single fully transparent entry, when every other entry is opaque
///   (any other alpha table is dropped by `convert`);
/// - gray: the raw tRNS value, not rescaled for 2/4-bit images (details below);
/// - RGB: the tRNS triple.
fn trns_key(trns: &[u8], depth: u8, color_type: u8, palette: &[u8]) -> Option<[u8; 3]> {
    let low = |v: u16| (v & 0xFF) as u8;
    match color_type {
        3 => {
            let zeros = trns.iter().filter(|&&a| a == 0).count();
            let simple = zeros == 1 && trns.iter().all(|&a| a == 0 || a == 255);
            if !simple {
                return None;
            }
            let i = trns.iter().position(|&a| a == 0)? * 3;
            let rgb = palette.get(i..i + 3)?;
            Some([rgb[0], rgb[1], rgb[2]])
        }
        // PIL keeps 1-bit and 16-bit gray keys as a bare int, which `convert_transparent`
        // reads as (v, 0, 0); 2/4/8-bit gray keys become (v, v, v) in `convert("RGB")`.
        0 => {
            let v = be_u16(trns, 0)?;
            match depth {
                1 => Some([if v != 0 { 255 } else { 0 }, 0, 0]),
                16 => Some([low(v), 0, 0]),
                _ => Some([low(v); 3]),
            }
        }
        2 => Some([
            low(be_u16(trns, 0)?),
            low(be_u16(trns, 2)?),
            low(be_u16(trns, 4)?),
        ]),
        _ => None,
    }
}

/// The colour of the first frame's transparent index of a GIF (PIL's `info["transparency"]`).
fn gif_color_key(b: &[u8]) -> Option<[u8; 3]> {
    let flags = *b.get(10)?;
    let mut palette = b.get(0..0)?;
    let mut pos = 13usize;
    if flags & 0x80 != 0 {
        let len = 3usize << ((flags & 7) + 1);
        palette = b.get(pos..pos + len)?;
        pos += len;
    }
    let mut transparent: Option<usize> = None;
    loop {
        match *b.get(pos)? {
            0x21 => {
                let label = *b.get(pos + 1)?;
                if label == 0xF9 && *b.get(pos + 2)? >= 4 {
                    let packed = *b.get(pos + 3)?;
                    transparent = (packed & 1 != 0).then_some(*b.get(pos + 6)? as usize);
                }
                pos = skip_sub_blocks(b, pos + 2)?;
            }
            0x2C => {
                let packed = *b.get(pos + 9)?;
                if packed & 0x80 != 0 {
                    let len = 3usize << ((packed & 7) + 1);
                    palette = b.get(pos + 10..pos + 10 + len)?;
                }
                let i = transparent? * 3;
                let rgb = palette.get(i..i + 3)?;
                return Some([rgb[0], rgb[1], rgb[2]]);
            }
            _ => return None,
        }
    }
}

fn skip_sub_blocks(b: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = *b.get(pos)? as usize;
        pos += 1 + len;
        if len == 0 {
            return Some(pos);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Resize and crop
// ---------------------------------------------------------------------------------------------

/// Upper bound for the nominal resized size: the resampler only computes the cropped window, so
/// this may exceed MAX_SIDE (a 16384x1 strip resized to a 224 short side is 3.6M wide).
const MAX_RESIZED_SIDE: u32 = 1 << 26;

/// Resize (PIL bicubic with antialias, bit-exact port of Pillow's 8-bit fixed-point resampler)
/// and center crop (transformers' rule, zero padding when the image is smaller than the crop).
///
/// Only the pixels that survive the crop are computed, which gives the same values as resizing
/// everything first. Sizes beyond the limits (`MAX_SIDE` for the output) are clamped instead of
/// panicking; `preprocess` rejects such inputs with an error before getting here.
pub fn resize_and_crop(img: &RgbImage, cfg: &PreprocessConfig) -> RgbImage {
    let (in_h, in_w) = (img.height(), img.width());
    let (rh, rw) = resized_size(in_h, in_w, cfg.resize);
    let (rh, rw) = (rh.clamp(1, MAX_RESIZED_SIDE), rw.clamp(1, MAX_RESIZED_SIDE));
    let (oh, ow) = cfg.crop.unwrap_or((rh, rw));
    let (oh, ow) = (clamp_side(oh), clamp_side(ow));
    let mut out = RgbImage::new(ow, oh);
    if in_h == 0 || in_w == 0 {
        return out;
    }
    let rows = CropAxis::new(rh, oh);
    let cols = CropAxis::new(rw, ow);
    let window = resample_window(img, (rh, rw), rows.src.clone(), cols.src.clone());
    paste(&mut out, &window, &rows, &cols);
    out
}

fn clamp_side(s: u32) -> u32 {
    s.clamp(1, MAX_SIDE)
}

/// The (height, width) after resizing, before cropping. Shortest edge follows transformers'
/// `get_resize_output_image_size(default_to_square=False)`: `int(n * long / short)`.
fn resized_size(height: u32, width: u32, resize: Resize) -> (u32, u32) {
    match resize {
        Resize::None => (height, width),
        Resize::Exact { height, width } => (height, width),
        Resize::ShortestEdge(n) => {
            let (short, long) = if width <= height {
                (width, height)
            } else {
                (height, width)
            };
            if short == 0 {
                return (height, width);
            }
            // Exact in f64 (products < 2^53) and correctly rounded like Python's int / int.
            let new_long = (f64::from(n) * f64::from(long) / f64::from(short)) as u64;
            let new_long = u32::try_from(new_long).unwrap_or(u32::MAX);
            if width <= height {
                (new_long, n)
            } else {
                (n, new_long)
            }
        }
    }
}

/// One axis of transformers' `center_crop`: `top = (size - crop) // 2` when the image is large
/// enough, otherwise the image is placed `ceil((crop - size) / 2)` into a zero canvas.
struct CropAxis {
    /// Resized-image indices that are kept.
    src: Range<u32>,
    /// Where the first kept index lands in the output.
    dst_start: u32,
}

impl CropAxis {
    fn new(size: u32, crop: u32) -> Self {
        if size >= crop {
            let start = (size - crop) / 2;
            CropAxis {
                src: start..start + crop,
                dst_start: 0,
            }
        } else {
            CropAxis {
                src: 0..size,
                dst_start: (crop - size).div_ceil(2),
            }
        }
    }
}

fn paste(out: &mut RgbImage, window: &[u8], rows: &CropAxis, cols: &CropAxis) {
    let win_w = cols.src.len();
    let out_w = out.width() as usize;
    let buf: &mut [u8] = out;
    for (r, src_row) in window.chunks_exact(win_w * 3).enumerate() {
        let start = ((rows.dst_start as usize + r) * out_w + cols.dst_start as usize) * 3;
        if let Some(dst) = buf.get_mut(start..start + src_row.len()) {
            dst.copy_from_slice(src_row);
        }
    }
}

/// Pillow's `PRECISION_BITS` (32 - 8 - 2): fixed-point fraction bits of the 8-bit resampler.
const PRECISION_BITS: u32 = 22;

/// Fixed-point filter taps of a set of consecutive output pixels along one axis.
struct Coeffs {
    /// Index of the first input sample of each output pixel.
    start: Vec<usize>,
    /// Number of taps of each output pixel.
    count: Vec<usize>,
    /// `ksize` taps per output pixel, Pillow's rounding to `PRECISION_BITS`.
    weights: Vec<i32>,
    ksize: usize,
}

impl Coeffs {
    fn taps(&self, i: usize) -> (usize, &[i32]) {
        let k = &self.weights[i * self.ksize..][..self.count[i]];
        (self.start[i], k)
    }

    /// Input samples used by the whole window.
    fn span(&self) -> Range<usize> {
        let lo = self.start.iter().copied().min().unwrap_or(0);
        let hi = self
            .start
            .iter()
            .zip(&self.count)
            .map(|(s, c)| s + c)
            .max()
            .unwrap_or(lo);
        lo..hi
    }
}

/// Pillow's `bicubic_filter` (a = -0.5), written with the same operation order.
fn bicubic(x: f64) -> f64 {
    const A: f64 = -0.5;
    let x = x.abs();
    if x < 1.0 {
        ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0
    } else if x < 2.0 {
        (((x - 5.0) * x + 8.0) * x - 4.0) * A
    } else {
        0.0
    }
}

const BICUBIC_SUPPORT: f64 = 2.0;

/// Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for the output indices `outs` of a
/// resize from `in_size` to `out_size` over the full box (0, in_size).
fn precompute_coeffs(in_size: u32, out_size: u32, outs: Range<u32>) -> Coeffs {
    // Pillow computes `in1 - in0` in float (box coordinates), exact for any real image size.
    let scale = f64::from(in_size as f32) / f64::from(out_size);
    let filterscale = scale.max(1.0);
    let support = BICUBIC_SUPPORT * filterscale;
    let ksize = support.ceil() as usize * 2 + 1;
    let n = outs.len();
    let mut coeffs = Coeffs {
        start: vec![0; n],
        count: vec![0; n],
        weights: vec![0; n * ksize],
        ksize,
    };
    let mut k = vec![0f64; ksize];
    for (i, xx) in outs.enumerate() {
        let center = (f64::from(xx) + 0.5) * scale;
        let ss = 1.0 / filterscale;
        // C's (int) cast truncates toward zero, as does `as`.
        let xmin = ((center - support + 0.5) as i64).max(0);
        let xmax = ((center + support + 0.5) as i64).min(i64::from(in_size));
        let count = (xmax - xmin).clamp(0, ksize as i64) as usize;
        let mut ww = 0.0;
        for (x, kx) in k.iter_mut().enumerate().take(count) {
            let w = bicubic(((x as i64 + xmin) as f64 - center + 0.5) * ss);
            *kx = w;
            ww += w;
        }
        let fixed = &mut coeffs.weights[i * ksize..][..count];
        for (f, &kx) in fixed.iter_mut().zip(&k) {
            let kx = if ww != 0.0 { kx / ww } else { kx };
            *f = to_fixed(kx);
        }
        coeffs.start[i] = xmin as usize;
        coeffs.count[i] = count;
    }
    coeffs
}

/// `normalize_coeffs_8bpc`: round half away from zero, by truncating after adding ±0.5.
fn to_fixed(k: f64) -> i32 {
    let scaled = k * f64::from(1u32 << PRECISION_BITS);
    if k < 0.0 {
        (-0.5 + scaled) as i32
    } else {
        (0.5 + scaled) as i32
    }
}

/// `clip8`: drop the fraction bits and saturate to 0..=255.
fn clip8(acc: i64) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

const HALF: i64 = 1 << (PRECISION_BITS - 1);

/// The pixels `rows` × `cols` of Pillow's `im.resize((rw, rh), BICUBIC)` on `img`, as packed RGB.
/// Two separable passes, each rounded and clipped to 8 bits; a pass is skipped when that side
/// keeps its size. The pass order matters for the result and follows Pillow 13 (see
/// `vertical_first`).
fn resample_window(
    img: &RgbImage,
    (rh, rw): (u32, u32),
    rows: Range<u32>,
    cols: Range<u32>,
) -> Vec<u8> {
    let (in_w, in_h) = img.dimensions();
    let rows = rows.start as usize..rows.end as usize;
    let cols = cols.start as usize..cols.end as usize;
    let source = View {
        data: img.as_raw(),
        width: in_w as usize,
        first_row: 0,
        first_col: 0,
    };
    let vert =
        (rh != in_h).then(|| precompute_coeffs(in_h, rh, rows.start as u32..rows.end as u32));
    let horiz =
        (rw != in_w).then(|| precompute_coeffs(in_w, rw, cols.start as u32..cols.end as u32));
    match (vert, horiz) {
        (None, None) => copy_window(&source, rows, cols),
        (None, Some(h)) => horizontal_pass(&source, rows, &h),
        (Some(v), None) => vertical_pass(&source, cols, &v),
        (Some(v), Some(h)) if vertical_first(in_h, in_w, rh, rw) => {
            let in_cols = h.span();
            let temp = vertical_pass(&source, in_cols.clone(), &v);
            let view = View {
                data: &temp,
                width: in_cols.len(),
                first_row: rows.start,
                first_col: in_cols.start,
            };
            horizontal_pass(&view, rows, &h)
        }
        (Some(v), Some(h)) => {
            // Only the input rows the vertical pass reads (Pillow's "row box").
            let in_rows = v.span();
            let temp = horizontal_pass(&source, in_rows.clone(), &h);
            let view = View {
                data: &temp,
                width: cols.len(),
                first_row: in_rows.start,
                first_col: cols.start,
            };
            vertical_pass(&view, cols, &v)
        }
    }
}

/// Pillow 13 runs the vertical pass first when the image shrinks vertically and
/// `2 * (out_w - in_w) > out_h - in_h`; otherwise horizontal first, as older Pillow always did.
/// This was measured against Pillow 13.0.0 (the rule held on every one of ~3,200 random size
/// pairs, including pairs on the boundary); it matters for very tall images, e.g. 1000x3000 →
/// 224x672 goes vertical first.
fn vertical_first(in_h: u32, in_w: u32, out_h: u32, out_w: u32) -> bool {
    let (in_h, in_w, out_h, out_w) = (
        i64::from(in_h),
        i64::from(in_w),
        i64::from(out_h),
        i64::from(out_w),
    );
    out_h < in_h && 2 * (out_w - in_w) > out_h - in_h
}

/// A block of packed RGB rows holding image rows `first_row..` and columns
/// `first_col..first_col + width`.
struct View<'a> {
    data: &'a [u8],
    width: usize,
    first_row: usize,
    first_col: usize,
}

impl View<'_> {
    /// Packed RGB of image row `y` from image column `x` to the end of the view's row.
    fn row_from(&self, y: usize, x: usize) -> &[u8] {
        let row = &self.data[(y - self.first_row) * self.width * 3..][..self.width * 3];
        &row[(x - self.first_col) * 3..]
    }
}

fn copy_window(src: &View, rows: Range<usize>, cols: Range<usize>) -> Vec<u8> {
    let mut out = Vec::with_capacity(rows.len() * cols.len() * 3);
    for y in rows {
        out.extend_from_slice(&src.row_from(y, cols.start)[..cols.len() * 3]);
    }
    out
}

/// `ImagingResampleHorizontal_8bpc` for image rows `rows` and the output columns of `h`.
fn horizontal_pass(src: &View, rows: Range<usize>, h: &Coeffs) -> Vec<u8> {
    let out_w = h.start.len();
    let mut out = vec![0u8; rows.len() * out_w * 3];
    for (row_out, y) in out.chunks_exact_mut(out_w * 3).zip(rows) {
        for (xx, px) in row_out.chunks_exact_mut(3).enumerate() {
            let (start, k) = h.taps(xx);
            let mut acc = [HALF; 3];
            for (&kx, p) in k.iter().zip(src.row_from(y, start).chunks_exact(3)) {
                for c in 0..3 {
                    acc[c] += i64::from(p[c]) * i64::from(kx);
                }
            }
            for c in 0..3 {
                px[c] = clip8(acc[c]);
            }
        }
    }
    out
}

/// `ImagingResampleVertical_8bpc` for image columns `cols` and the output rows of `v`.
fn vertical_pass(src: &View, cols: Range<usize>, v: &Coeffs) -> Vec<u8> {
    let stride = cols.len() * 3;
    let mut out = vec![0u8; v.start.len() * stride];
    for (yy, row_out) in out.chunks_exact_mut(stride).enumerate() {
        let (start, k) = v.taps(yy);
        let taps: Vec<&[u8]> = (0..k.len())
            .map(|t| src.row_from(start + t, cols.start))
            .collect();
        for (i, o) in row_out.iter_mut().enumerate() {
            let mut acc = HALF;
            for (&ky, row) in k.iter().zip(&taps) {
                acc += i64::from(row[i]) * i64::from(ky);
            }
            *o = clip8(acc);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Tensor
// ---------------------------------------------------------------------------------------------

/// Rescale + normalise into CHW f32 (length 3*h*w), as `pixel_values` of the processor:
/// `rescale` multiplies in float64 and casts to float32, `normalize` computes `(x - mean) / std`
/// in float32 (both from transformers' `image_transforms`).
pub fn to_tensor_chw(img: &RgbImage, cfg: &PreprocessConfig) -> Vec<f32> {
    let plane = img.width() as usize * img.height() as usize;
    let mut out = vec![0f32; 3 * plane];
    for (i, p) in img.pixels().enumerate() {
        for c in 0..3 {
            let v = p.0[c];
            let x = match cfg.rescale_factor {
                Some(f) => (f64::from(v) * f) as f32,
                None => f32::from(v),
            };
            out[c * plane + i] = match cfg.normalize {
                Some((mean, std)) => (x - mean[c]) / std[c],
                None => x,
            };
        }
    }
    out
}

/// decode_rgb + resize_and_crop + to_tensor_chw.
pub fn preprocess(bytes: &[u8], name: &str, cfg: &PreprocessConfig) -> Result<Vec<f32>> {
    let img = decode_rgb(bytes, name)?;
    cfg.check_sizes(name, img.width(), img.height())?;
    let img = resize_and_crop(&img, cfg);
    Ok(to_tensor_chw(&img, cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// High-frequency test input; the same formula generated the Pillow references.
    fn pattern(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb(std::array::from_fn(|c| {
                ((x * 37 + y * 71 + c as u32 * 101 + x * y * 13) % 256) as u8
            }))
        })
    }

    /// Alternating 0/255: exercises the clipping of bicubic's negative lobes.
    fn checker(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            image::Rgb(std::array::from_fn(|c| {
                if (x + y + c as u32) % 2 == 1 {
                    255
                } else {
                    0
                }
            }))
        })
    }

    const PATTERN: fn(u32, u32) -> RgbImage = pattern;
    const CHECKER: fn(u32, u32) -> RgbImage = checker;

    fn exact(height: u32, width: u32) -> PreprocessConfig {
        PreprocessConfig {
            resize: Resize::Exact { height, width },
            crop: None,
            rescale_factor: None,
            normalize: None,
        }
    }

    type ResampleCase = (
        &'static str,
        fn(u32, u32) -> RgbImage,
        u32,
        u32,
        u32,
        u32,
        &'static str,
    );

    /// (name, input, w, h, ow, oh, expected RGB as hex) where the expected bytes are Pillow 13.0.0's
    /// `Image.fromarray(f(w, h), "RGB").resize((ow, oh), Image.BICUBIC).tobytes()`, `f` being the
    /// numpy version of `pattern` / `checker`.
    const RESAMPLE_CASES: &[ResampleCase] = &[
        ("identity", PATTERN, 7, 5, 7, 5, "0065ca258aef4aaf146fd43994f95eb91e83de43a847ac1179de43ab1075dd42a70f74d941a60b73d83d8ef358cd32970c71d64bb0158aef54c92e93086dd2d53a9f2186eb6dd237b91e83056acf51b61b9d02671c81e675da3fce3398278cf180e54ad93ea33297fc"),
        ("down3", PATTERN, 9, 6, 3, 2, "67897a738770766f867786957d8889878898"),
        ("down5", PATTERN, 25, 15, 5, 3, "7188827883807a7e7a838a81858483878a8390838293857e8988818f868374857a7f737c7e807f7d837f897f82"),
        ("horizontal_only", PATTERN, 15, 4, 7, 4, "177cc363d238bc6d7c475ed24ac252aca1668248b96cad30a53da13ba558a94e6f4678867f7b3d773cae97878c499d68897a884ca756796a8f56aa496c5c9d7776b0707380506b63a553ae829e965a818ec8518b"),
        ("vertical_only", PATTERN, 4, 13, 4, 5, "49a1616d959960646798885a7b8b94768596708193717792965e7471829396a69b52ae928793546e7f8e7e6973957261547d876b6f977e868a6e99a1"),
        ("up", PATTERN, 4, 3, 11, 8, "005ad9005fde0468f41376ff2189eb2fa1863bb8204acb0158d81663e22d68e7320263bf0368c40f74da1e84ef2d92d73b9c8049a52958b31167c22672ce3c77d341177879197f7e25959136aea649af9e5d916e71703e846f39958253a1946aa69971349724399e2a46bd3a5adc4e6fcd5b87805b9e325db31f6dc73789d4519eda56a651b90b57bb1269c92180d2368fb94e926d6a952383a41391bb2e95cc4997d34f9970e02d77d8348fba45ab915daa707880559b5644b3544ba670657a897c5790834a86fc4f8eec57abab69cb5983bc349f6e44c32063d6117db23197604eaa1f56b2078fff5997f561b7a774d8468ec41eab693dd20d6de5008eb91ba8583ab90c42c100"),
        ("mixed", PATTERN, 6, 20, 13, 7, "4fa160569f6d659b8c6d8f996376816167687f6e5c96805a7aa07452bb915da0807f6c5b8d564c77859277859276849376849676859a74869c6c849c6785996a959673a58f829a7c92826699785ca06561966a6b7c76837384928d918e9d9c8780a18367a280859f7fb3997dbd967bb69479b49378739069728c717084836d7b8e6a738a6c6d84796a7d896b779a7671a6866e94997976ab8b69b492755576725c7b6c6c876c7e867d8c6a83995c68a87f51aea06d9b87937f628574756072a15070b38679a07e789b6c748f6b77828d8a78a7956fa08b6c917d688c765c886f5180635b76566d715175b270709f737373797a557f825a82896587906b929c72969d797d7c7f5c518759488e6451916854"),
        ("checker_down", CHECKER, 10, 10, 4, 4, "7d827d807f807f807f827d82807f807f807f807f807f807f7f807f807f807f807f807f80827d827f807f807f807d827d"),
        ("checker_up", CHECKER, 3, 3, 8, 8, "00ff0000ff006f906ffd02fdfd02fd6f906f00ff0000ff000af50a13ec13738c73e01fe0e01fe0738c7313ec130af50a728d72738c737e817e8b748b8b748b7e817e738c73728d72e817e8e01fe08b748b2ad52a2ad52a8b748be01fe0e817e8e817e8e01fe08b748b2ad52a2ad52a8b748be01fe0e817e8728d72738c737e817e8b748b8b748b7e817e738c73728d720af50a13ec13738c73e01fe0e01fe0738c7313ec130af50a00ff0000ff006f906ffd02fdfd02fd6f906f00ff0000ff00"),
        // Pillow 13 runs the vertical pass first here (see `vertical_first`).
        ("tall_vertical_first", PATTERN, 10, 31, 7, 13, "4da2746976798394686f8f728172716960945d7d93818b967080906c7b8b7192746e5a91949791829b767e6c817c96a468b09cb39477967983859b88a97a6a8686658a7978998565b3987c8ca08f79667c8875956c7d88657c9181728777a17f6b727aad64739b5c77755d76788f6665a980796b897a7a787b5d637084976d7ba090917a9c865e7c5d655c9ea177908d6199719a697e65718f77728681653f8b6f74727e907a877f7f94687c82755d9f9a86668589907a697089a2807c617a8f5a5e6d856e758c6895856f6c969a927f91a48d5d6f6172816f669f59a395778d75899c879e707c6b855c6c848c58819947bd994eafa47d677e7e72896f6d87a357639894678189a07b7281b3667c9c9a68"),
        ("tall_boundary_horizontal_first", PATTERN, 10, 31, 3, 17, "5a90738386706269977a8284647a7380827d7289998486958e9390788c9695997e9a7f70948065a9977b7d7c906f7a8174807f96627d6a81908190818c69707b82636a7a7d757281838b9184807563a97d8a5f787f636381669b699a867f80756d99747c797b747d8d977180626d788d677d859296716880718a8b938c896b6f824c9a9c7a83777488755bab9a7d738e90657196757fa67e71"),
    ];

    #[test]
    fn resampler_matches_pillow_bicubic() {
        for &(name, input, w, h, ow, oh, expected) in RESAMPLE_CASES {
            let out = resize_and_crop(&input(w, h), &exact(oh, ow));
            assert_eq!(out.dimensions(), (ow, oh), "{name}");
            assert_eq!(out.as_raw(), &hex(expected), "{name}");
        }
    }

    /// transformers 5.24 `image_transforms.center_crop(pattern(in_w, in_h) as CHW, (crop_h, crop_w))`,
    /// output as HWC.
    const CROP_CASES: &[(u32, u32, u32, u32, &str)] = &[
        (4, 5, 7, 8, "0000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000065ca258aef4aaf146fd43994f95e00000000000000000047ac1179de43ab1075dd42a70f74d90000000000000000008ef358cd32970c71d64bb0158aef54000000000000000000d53a9f2186eb6dd237b91e83056acf000000000000000000000000000000000000000000000000000000"),
        (4, 5, 2, 9, "00000000000047ac1179de43ab1075dd42a70f74d90000000000000000000000008ef358cd32970c71d64bb0158aef54000000000000"),
        (6, 3, 3, 3, "47ac1179de43ab10758ef358cd32970c71d6d53a9f2186eb6dd237"),
        (5, 5, 8, 6, "0000000000000000000000000000000000000000000000000000000000000000000000000000000065ca258aef4aaf146fd43994f95e00000047ac1179de43ab1075dd42a70f74d90000008ef358cd32970c71d64bb0158aef54000000d53a9f2186eb6dd237b91e83056acf0000001c81e675da3fce3398278cf180e54a000000000000000000000000000000000000"),
        (7, 4, 4, 7, "00000000000047ac1179de43ab1075dd42a70000000000000000008ef358cd32970c71d64bb015000000000000000000d53a9f2186eb6dd237b91e830000000000000000001c81e675da3fce3398278cf1000000"),
    ];

    #[test]
    fn center_crop_pads_like_transformers() {
        for &(h, w, ch, cw, expected) in CROP_CASES {
            let cfg = PreprocessConfig {
                resize: Resize::None,
                crop: Some((ch, cw)),
                ..exact(0, 0)
            };
            let out = resize_and_crop(&pattern(w, h), &cfg);
            assert_eq!(out.dimensions(), (cw, ch));
            assert_eq!(out.as_raw(), &hex(expected), "{h}x{w} -> {ch}x{cw}");
        }
    }

    #[test]
    fn shortest_edge_truncates_like_transformers() {
        let se = Resize::ShortestEdge(224);
        assert_eq!(resized_size(240, 320, se), (224, 298)); // 298.67
        assert_eq!(resized_size(7, 10, se), (224, 320));
        assert_eq!(resized_size(400, 48, se), (1866, 224)); // 1866.67
        assert_eq!(resized_size(200, 200, se), (224, 224));
        assert_eq!(resized_size(3, 1000, Resize::ShortestEdge(30)), (30, 10000));
    }

    /// Computing only the cropped window must give the pixels of a full resize followed by a crop.
    #[test]
    fn cropped_window_equals_full_resize_then_crop() {
        let img = pattern(53, 37);
        for (resize, crop) in [
            (Resize::ShortestEdge(20), (20, 20)),
            (Resize::ShortestEdge(50), (31, 17)),
            (
                Resize::Exact {
                    height: 90,
                    width: 11,
                },
                (40, 5),
            ),
            (
                Resize::Exact {
                    height: 37,
                    width: 60,
                },
                (9, 60),
            ),
        ] {
            let (rh, rw) = resized_size(37, 53, resize);
            let full = resize_and_crop(&img, &exact(rh, rw));
            let cfg = PreprocessConfig {
                resize,
                crop: Some(crop),
                ..exact(0, 0)
            };
            let out = resize_and_crop(&img, &cfg);
            let (top, left) = ((rh - crop.0) / 2, (rw - crop.1) / 2);
            let expected = image::imageops::crop_imm(&full, left, top, crop.1, crop.0).to_image();
            assert_eq!(out, expected, "{resize:?} {crop:?}");
        }
    }

    fn fixture(path: &str) -> Vec<u8> {
        let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
    }

    /// `CLIPImageProcessorPil` with do_rescale and do_normalize on, 30x30 output, on photo.png.
    #[test]
    fn tensor_matches_clip_image_processor() {
        let reference: Value =
            serde_json::from_slice(&fixture("reference/pixel_values_photo_png_30.json")).unwrap();
        let cfg_text = reference["config"].to_string();
        let cfg = PreprocessConfig::from_json(&cfg_text, "reference config", 224).unwrap();
        let numbers = |key: &str| -> Vec<f64> {
            reference[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        };
        let img = decode_rgb(&fixture("images/photo.png"), "photo.png").unwrap();
        let resized = resize_and_crop(&img, &cfg);
        assert_eq!(resized.dimensions(), (30, 30));

        // The u8 pixels before rescale/normalize are identical ...
        let chw_u8: Vec<f64> = (0..3)
            .flat_map(|c| resized.pixels().map(move |p| f64::from(p.0[c])))
            .collect();
        assert_eq!(chw_u8, numbers("pixels_u8"));
        // ... and the float32 tensor agrees within 1e-6 (it is in fact bit-identical).
        let tensor = to_tensor_chw(&resized, &cfg);
        let expected = numbers("pixel_values");
        assert_eq!(tensor.len(), expected.len());
        for (i, (&ours, &theirs)) in tensor.iter().zip(&expected).enumerate() {
            assert!(
                (f64::from(ours) - theirs).abs() <= 1e-6,
                "index {i}: {ours} vs {theirs}"
            );
        }
        assert_eq!(
            preprocess(&fixture("images/photo.png"), "photo.png", &cfg).unwrap(),
            tensor
        );
    }

    #[test]
    fn to_tensor_orders_operations_like_transformers() {
        let img = RgbImage::from_raw(1, 1, vec![0, 128, 255]).unwrap();
        let cfg = PreprocessConfig::clip_default(1);
        // (f32(v * (1/255 in f64)) - mean) / std in f32.
        let want: Vec<f32> = [0u8, 128, 255]
            .iter()
            .enumerate()
            .map(|(c, &v)| {
                ((f64::from(v) / 255.0) as f32 - OPENAI_CLIP_MEAN[c]) / OPENAI_CLIP_STD[c]
            })
            .collect();
        assert_eq!(to_tensor_chw(&img, &cfg), want);
        let raw = PreprocessConfig {
            rescale_factor: None,
            normalize: None,
            ..cfg
        };
        assert_eq!(to_tensor_chw(&img, &raw), vec![0.0, 128.0, 255.0]);
    }

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

    const PALETTE_TRNS_PNG: &str = "89504e470d0a1a0a0000000d494844520000000400000002080300000048768d5100000009504c54450a141e28323c0a141e8a88ff580000000174524e530040e6d8660000000f49444154789c636060646200614600002b0008972aafbb0000000049454e44ae426082";
    const PALETTE_TRNS_PNG_RGB: &str = "ffffff28323cffffffffffff28323cffffffffffff28323c";
    const TRANSPARENT_GIF: &str = "474946383961040002008100000a141e28323c0a141e00000021f90401000001002c0000000004000200000809000104102090608080003b";
    const TRANSPARENT_GIF_RGB: &str = "0a141effffff0a141e0a141effffff0a141e0a141effffff";

    /// A palette colour-key (and another entry with the same colour) and a GIF transparent
    /// index come out white, as after the processor's `convert_to_rgb`.
    #[test]
    fn colour_key_transparency_turns_white() {
        for (bytes, rgb) in [
            (PALETTE_TRNS_PNG, PALETTE_TRNS_PNG_RGB),
            (TRANSPARENT_GIF, TRANSPARENT_GIF_RGB),
        ] {
            let img = decode_rgb(&hex(bytes), "key").unwrap();
            assert_eq!(img.dimensions(), (4, 2));
            assert_eq!(img.as_raw(), &hex(rgb));
        }
    }

    // Small JPEGs saved by PIL from photo.png, and what `load_image` decodes them to: odd sizes
    // exercise the edges of libjpeg-turbo's fancy upsampling, the second one restart markers.
    const PROGRESSIVE_420_9X7_JPG: &str = "ffd8ffe000104a46494600010100000100010000ffdb0043000302020302020303030304030304050805050404050a070706080c0a0c0c0b0a0b0b0d0e12100d0e110e0b0b1016101113141515150c0f171816141812141514ffdb00430103040405040509050509140d0b0d1414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414ffc20011080007000903012200021101031101ffc400160001010100000000000000000000000000000405ffc4001501010100000000000000000000000000000304ffda000c03010002100310000001c290b57fffc4001810000301010000000000000000000000000102030015ffda0008010100010502160edcd86fffc40017110003010000000000000000000000000000010204ffda0008010301013f01cf6dc1ffc4001811010100030000000000000000000000000203000411ffda0008010201013f01869408e139ffc4001810010101010100000000000000000000000102003392ffda0008010100063f02b414b9611dcebd6fffc40019100003000300000000000000000000000000013141d1f1ffda0008010100013f217f1c8547714e4347ffda000c0301000200030000001083ffc40017110100030000000000000000000000000001007191ffda0008010301013f1018d193ffc40017110100030000000000000000000000000001001151ffda0008010201013f100802b27fffc4001810000203000000000000000000000000000141105161ffda0008010100013f10324081bc134a027fffd9";
    const PROGRESSIVE_420_9X7_RGB: &str = "76a3146c8c077f8114776c126b5f17948b50908e5b4841174f36176e981c6c88177f80236b5f1563571daaa273b2ae8852492a573c275b812a647f326d6c335b4e245d4f348c816f918b7d61574e6c504f7499637b9266807f637e70637e706f7e71787e7681897d8b9275895e80685b72626969697165716b5d74695c786b61836e5e82795d8341625b4b63635b5d6c60587065597d685d87685c8a685887775b8c385b574b6468575e6e5e5c74686286685f8a675e8d77669a82679e";
    const RESTART_422_11X5_JPG: &str = "ffd8ffe000104a46494600010100000100010000ffdb0043000302020302020303030304030304050805050404050a070706080c0a0c0c0b0a0b0b0d0e12100d0e110e0b0b1016101113141515150c0f171816141812141514ffdb00430103040405040509050509140d0b0d1414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414141414ffc00011080005000b03012100021101031101ffc4001f0000010501010101010100000000000000000102030405060708090a0bffc400b5100002010303020403050504040000017d01020300041105122131410613516107227114328191a1082342b1c11552d1f02433627282090a161718191a25262728292a3435363738393a434445464748494a535455565758595a636465666768696a737475767778797a838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae1e2e3e4e5e6e7e8e9eaf1f2f3f4f5f6f7f8f9faffc4001f0100030101010101010101010000000000000102030405060708090a0bffc400b51100020102040403040705040400010277000102031104052131061241510761711322328108144291a1b1c109233352f0156272d10a162434e125f11718191a262728292a35363738393a434445464748494a535455565758595a636465666768696a737475767778797a82838485868788898a92939495969798999aa2a3a4a5a6a7a8a9aab2b3b4b5b6b7b8b9bac2c3c4c5c6c7c8c9cad2d3d4d5d6d7d8d9dae2e3e4e5e6e7e8e9eaf2f3f4f5f6f7f8f9faffdd00040001ffda000c03010002110311003f00f3fd33c4f72facd96ab0a2417b6b209627cb30561c82549c1fc6a23e0bd16e49964d36d99dcee6387e4ffdf55d396f0fe068514a946cf457f4bff99d197625ce9c6d14acada7adf5f3d4ffd9";
    const RESTART_422_11X5_RGB: &str = "6da60b639a095a91125e81196e6d1b686110758719bdd16e5d5c265140224d3012688d196e8922747c2f735f2c794128784025877841c5c5936660505f4f50614440788e4d798651817c5f896a68965b7193577183666a887b82817293816c958b6a87556f56536b5b526d68586875646180685e83615a795f557a6a56917457977c5a8c39645d3a64623e6769446672475f77525f7f6368886c67906b619676629d7f6499";

    #[test]
    fn jpeg_decodes_like_libjpeg_turbo() {
        for (jpg, rgb, size) in [
            (PROGRESSIVE_420_9X7_JPG, PROGRESSIVE_420_9X7_RGB, (9, 7)),
            (RESTART_422_11X5_JPG, RESTART_422_11X5_RGB, (11, 5)),
        ] {
            let img = decode_rgb(&hex(jpg), "small.jpg").unwrap();
            assert_eq!(img.dimensions(), size);
            assert_eq!(img.as_raw(), &hex(rgb), "{size:?}");
        }
    }

    fn image_error(bytes: &[u8]) -> String {
        match decode_rgb(bytes, "bad.img") {
            Err(Error::Image { name, msg }) => {
                assert_eq!(name, "bad.img");
                msg
            }
            other => panic!("expected an image error, got {other:?}"),
        }
    }

    #[test]
    fn undecodable_inputs_are_image_errors() {
        assert!(image_error(b"").contains("not a PNG"));
        assert!(image_error(b"hello world").contains("not a PNG"));
        let jpg = fixture("images/photo.jpg");
        assert!(image_error(&jpg[..jpg.len() / 2]).contains("truncated"));
        assert!(image_error(&jpg[..jpg.len() - 2]).contains("truncated"));
        let png = fixture("images/photo.png");
        assert!(image_error(&png[..png.len() / 2]).contains("Png"));
    }

    #[test]
    fn huge_images_are_refused_before_decoding() {
        // PNG header claiming 20000x20000.
        let png = hex("89504e470d0a1a0a0000000d4948445200004e2000004e2008020000006c12d16e0000000849444154789c030000000001480689d20000000049454e44ae426082");
        assert!(image_error(&png).contains("16384"), "{}", image_error(&png));
        // JPEG frame headers: 20000x20000 (over the side limit) and 16000x16000 (over the memory budget).
        for (side, needle) in [(20000u16, "16384"), (16000, "MiB")] {
            let [hi, lo] = side.to_be_bytes();
            let mut jpg = vec![0xFF, 0xD8, 0xFF, 0xC0, 0, 17, 8, hi, lo, hi, lo, 3];
            jpg.extend_from_slice(&[1, 0x11, 0, 2, 0x11, 0, 3, 0x11, 0, 0xFF, 0xD9]);
            let msg = image_error(&jpg);
            assert!(msg.contains(needle), "{msg}");
        }
    }

    /// Random corruption of real files must give images or errors, never a panic.
    #[test]
    fn corrupted_inputs_do_not_panic() {
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as usize
        };
        let cfg = PreprocessConfig::clip_default(32);
        for name in ["images/tall.jpg", "images/palette.png", "images/tiny.png"] {
            let original = fixture(name);
            for _ in 0..60 {
                let mut bytes = original.clone();
                for _ in 0..1 + rnd() % 6 {
                    let i = rnd() % bytes.len();
                    bytes[i] = rnd() as u8;
                }
                if rnd() % 3 == 0 {
                    bytes.truncate(4 + rnd() % bytes.len());
                }
                let _ = preprocess(&bytes, name, &cfg);
            }
        }
    }
}
