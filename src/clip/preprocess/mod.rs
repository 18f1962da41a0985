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
//!
//! `config` reads `preprocessor_config.json`, `decode` does step 1 (with `jpeg`), `resample`
//! step 2; step 3 and the whole chain (`preprocess`) are here.

use image::RgbImage;

use crate::error::Result;

pub(crate) mod config;
mod decode;
mod jpeg;
mod resample;

pub use config::{CropRounding, PreprocessConfig, Resize, OPENAI_CLIP_MEAN, OPENAI_CLIP_STD};
pub use decode::decode_rgb;
pub use resample::resize_and_crop;

/// Largest accepted image side, for decoding and for any size in a preprocessor config.
pub const MAX_SIDE: u32 = 16384;

/// Most pixels an image may have: Pillow's `MAX_IMAGE_PIXELS` (1024³ / 4 / 3, where Pillow
/// starts warning of a decompression bomb; 89.5 M, a 9459 × 9459 square). Checked on the header's
/// size, before any pixel is decoded.
pub const MAX_PIXELS: u64 = 89_478_485;

/// Most pixels per byte of the file. Decoding time and the decoders' buffers grow with the
/// pixels, so this bounds both by the bytes actually present: a 120-byte file may claim at most
/// 491,520 pixels, not 16384². Photos come nowhere near it (a JPEG block costs at least one bit,
/// 512 pixels per byte; deflate expands at most 1032:1, so an RGB PNG ≤ 344, an 8-bit palette PNG
/// ≤ 1032). What it refuses: the "and the rest is empty" tricks (BMP RLE deltas, a tiny GIF frame
/// on a huge screen), truncated files, and blank 1- or 2-bit images larger than a few megapixels.
pub const MAX_PIXELS_PER_BYTE: u64 = 4096;

/// Refuses a `width` × `height` image in a file of `file_len` bytes that exceeds [`MAX_PIXELS`]
/// or [`MAX_PIXELS_PER_BYTE`]; the message names the limit.
pub(crate) fn check_pixels(width: u32, height: u32, file_len: usize) -> std::result::Result<(), String> {
    let pixels = u64::from(width) * u64::from(height);
    if pixels > MAX_PIXELS {
        return Err(format!(
            "image is {width}x{height} = {pixels} pixels; the limit is {MAX_PIXELS} pixels (Pillow's MAX_IMAGE_PIXELS)"
        ));
    }
    let present = (file_len as u64).saturating_mul(MAX_PIXELS_PER_BYTE);
    if pixels > present {
        return Err(format!(
            "image claims {width}x{height} = {pixels} pixels in a {file_len}-byte file, over the limit of \
             {MAX_PIXELS_PER_BYTE} pixels per byte: the file cannot hold that image (truncated, or a decompression bomb)"
        ));
    }
    Ok(())
}

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
    use serde_json::Value;

    use super::*;
    use crate::testing::{fixture, XorShift};

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

    /// Random corruption of real files must give images or errors, never a panic.
    #[test]
    fn corrupted_inputs_do_not_panic() {
        let mut rng = XorShift::from_state(0x9E37_79B9_7F4A_7C15);
        let mut rnd = move || rng.next_u64() as usize;
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
