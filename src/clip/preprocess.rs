//! CLIP image preprocessing that reproduces Hugging Face's PIL-based CLIP image processor
//! (`CLIPImageProcessorPil` in transformers 5, `CLIPImageProcessor` in transformers 4) applied to
//! `transformers.image_utils.load_image(path)`:
//!
//! 1. decode, apply the EXIF orientation, convert to RGB like PIL (`decode_rgb`);
//! 2. resize with PIL's antialiased bicubic filter, then center crop (`resize_and_crop`);
//! 3. rescale and normalise into a CHW `f32` tensor (`to_tensor_chw`).
//!
//! The resampler is a port of Pillow's 8-bit fixed-point code (`libImaging/Resample.c`), so for a
//! given RGB image the resized pixels are bit-identical to Pillow's. Decoded pixels can differ
//! slightly for lossy formats (JPEG, lossy WebP) because the decoders are not libjpeg-turbo/libwebp.

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

/// `OPENAI_CLIP_MEAN` / `OPENAI_CLIP_STD` of transformers' `image_utils`.
pub const OPENAI_CLIP_MEAN: [f32; 3] = [0.48145466, 0.4578275, 0.40821073];
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

        let parsed = PreprocessConfig { resize, crop, rescale_factor, normalize };
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
            _ => Err(Error::Config { file: file.to_string(), msg: "expected a JSON object".into() }),
        }
    }

    fn error(&self, msg: String) -> Error {
        Error::Config { file: self.file.to_string(), msg }
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
            _ => Err(self.error(format!("`{key}` must be an integer in 1..={MAX_SIDE}, got {v}"))),
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
            Value::Array(items) if items.len() == 2 => {
                Ok((Some(self.side(key, &items[0])?), Some(self.side(key, &items[1])?)))
            }
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
        if std.iter().any(|&s| s == 0.0) {
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
    let err = |msg: String| Error::Image { name: name.to_string(), msg };
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
    let limits = jpeg::Limits { max_side: MAX_SIDE, max_alloc: MAX_DECODE_ALLOC };
    let decoded = jpeg::decode(bytes, &limits)?;
    let (w, h) = (decoded.width, decoded.height);
    let rgb: Vec<u8> = match decoded.pixels {
        jpeg::Pixels::Gray(g) => g.iter().flat_map(|&v| [v; 3]).collect(),
        jpeg::Pixels::Rgb(rgb) => rgb,
        jpeg::Pixels::Cmyk(cmyk) => cmyk.chunks_exact(4).flat_map(cmyk_to_rgb_like_pil).collect(),
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
    // Inverting twice: PIL's K is 255 - k, so its `255 - K` is the decoder's k.
    let nk = i32::from(px[3]);
    let channel = |v: u8| {
        let c = 255 - i32::from(v);
        let tmp = c * nk + 128;
        (nk - (((tmp >> 8) + tmp) >> 8)).clamp(0, 255) as u8
    };
    [channel(px[0]), channel(px[1]), channel(px[2])]
}

/// PNG, GIF, BMP and WebP through the `image` crate, whose lossless decoders give PIL's pixels.
fn decode_with_image_crate(bytes: &[u8], format: ImageFormat) -> std::result::Result<RgbImage, String> {
    let conversion = match format {
        ImageFormat::Png => png_conversion(bytes),
        ImageFormat::Gif => PilConversion { key: gif_color_key(bytes), gif: true, gray16: false },
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
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img = DynamicImage::from_decoder(decoder).map_err(|e| describe(format, &e))?;
    img.apply_orientation(orientation);
    Ok(to_rgb_like_pil(img, &conversion))
}

const SUPPORTED_FORMATS: [ImageFormat; 5] =
    [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Gif, ImageFormat::Bmp, ImageFormat::WebP];

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
    let gray16 = |s: &[u16]| {
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
        DynamicImage::ImageLuma16(g) => fill16(&mut out, g.as_raw(), 1, |s| [s[0].min(255) as u8; 3]),
        DynamicImage::ImageLumaA16(g) => fill16(&mut out, g.as_raw(), 2, gray16),
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
        let Some(data) = (pos + 8).checked_add(len).and_then(|end| b.get(pos + 8..end)) else {
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
    PilConversion { key, gif: false, gray16: color_type == 0 && depth == 16 }
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
        2 => Some([low(be_u16(trns, 0)?), low(be_u16(trns, 2)?), low(be_u16(trns, 4)?)]),
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
            let (short, long) = if width <= height { (width, height) } else { (height, width) };
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
            CropAxis { src: start..start + crop, dst_start: 0 }
        } else {
            CropAxis { src: 0..size, dst_start: (crop - size).div_ceil(2) }
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
        let hi = self.start.iter().zip(&self.count).map(|(s, c)| s + c).max().unwrap_or(lo);
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
    let mut coeffs =
        Coeffs { start: vec![0; n], count: vec![0; n], weights: vec![0; n * ksize], ksize };
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
/// Same pass order as `ImagingResampleInner`: horizontal first (8-bit rounded and clipped
/// intermediate), then vertical; a pass is skipped when that side keeps its size.
fn resample_window(img: &RgbImage, (rh, rw): (u32, u32), rows: Range<u32>, cols: Range<u32>) -> Vec<u8> {
    let (in_w, in_h) = img.dimensions();
    let vert = (rh != in_h).then(|| precompute_coeffs(in_h, rh, rows.clone()));
    let horiz = (rw != in_w).then(|| precompute_coeffs(in_w, rw, cols.clone()));
    let in_rows = match &vert {
        Some(v) => v.span(),
        None => rows.start as usize..rows.end as usize,
    };
    let temp = match &horiz {
        Some(h) => horizontal_pass(img, in_rows.clone(), h),
        None => copy_columns(img, in_rows.clone(), cols.start as usize..cols.end as usize),
    };
    match &vert {
        Some(v) => vertical_pass(&temp, cols.len(), in_rows.start, v),
        None => temp,
    }
}

fn horizontal_pass(img: &RgbImage, rows: Range<usize>, h: &Coeffs) -> Vec<u8> {
    let in_w = img.width() as usize;
    let src: &[u8] = img.as_raw();
    let out_w = h.start.len();
    let mut out = vec![0u8; rows.len() * out_w * 3];
    for (row_out, y) in out.chunks_exact_mut(out_w * 3).zip(rows) {
        let row_in = &src[y * in_w * 3..][..in_w * 3];
        for (xx, px) in row_out.chunks_exact_mut(3).enumerate() {
            let (start, k) = h.taps(xx);
            let mut acc = [HALF; 3];
            for (&kx, p) in k.iter().zip(row_in[start * 3..].chunks_exact(3)) {
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

fn copy_columns(img: &RgbImage, rows: Range<usize>, cols: Range<usize>) -> Vec<u8> {
    let in_w = img.width() as usize;
    let src: &[u8] = img.as_raw();
    let mut out = Vec::with_capacity(rows.len() * cols.len() * 3);
    for y in rows {
        out.extend_from_slice(&src[(y * in_w + cols.start) * 3..(y * in_w + cols.end) * 3]);
    }
    out
}

/// Vertical pass over `temp`, whose first row is input row `first_row`.
fn vertical_pass(temp: &[u8], width: usize, first_row: usize, v: &Coeffs) -> Vec<u8> {
    let stride = width * 3;
    let mut out = vec![0u8; v.start.len() * stride];
    for (yy, row_out) in out.chunks_exact_mut(stride).enumerate() {
        let (start, k) = v.taps(yy);
        let base = (start - first_row) * stride;
        for (i, o) in row_out.iter_mut().enumerate() {
            let mut acc = HALF;
            for (t, &ky) in k.iter().enumerate() {
                acc += i64::from(temp[base + t * stride + i]) * i64::from(ky);
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
