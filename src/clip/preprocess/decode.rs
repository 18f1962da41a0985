//! Step 1 of the processor: image bytes → RGB pixels as PIL gives them, with PIL's conversion
//! rules recovered from the PNG and GIF chunks where the `image` crate does not keep them.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage};

use super::{jpeg, MAX_SIDE};
use crate::error::{Error, Result};

/// Allocation budget handed to the decoders (decompression-bomb guard).
const MAX_DECODE_ALLOC: u64 = 1 << 30;

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
    let decoded = jpeg::decode(bytes, &limits, super::check_pixels)?;
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
    super::check_pixels(width, height, bytes.len())?;
    if format == ImageFormat::Gif {
        // The decoder allocates the first frame at its own size, which may exceed the screen's.
        if let Some((w, h)) = gif_first_frame_size(bytes) {
            super::check_pixels(w, h, bytes.len()).map_err(|e| format!("GIF frame: {e}"))?;
        }
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

/// The size of a GIF's first frame (its image descriptor), if the file gets that far.
fn gif_first_frame_size(b: &[u8]) -> Option<(u32, u32)> {
    let flags = *b.get(10)?;
    let mut pos = 13usize;
    if flags & 0x80 != 0 {
        pos += 3usize << ((flags & 7) + 1);
    }
    loop {
        match *b.get(pos)? {
            0x21 => pos = skip_sub_blocks(b, pos + 2)?,
            0x2C => {
                let w = u16::from_le_bytes([*b.get(pos + 5)?, *b.get(pos + 6)?]);
                let h = u16::from_le_bytes([*b.get(pos + 7)?, *b.get(pos + 8)?]);
                return Some((w.into(), h.into()));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{fixture, hex};

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
}
