//! `wiseft::clip::preprocess` against transformers' PIL-based CLIP image processor.
//!
//! `tests/fixtures/reference/pixels.safetensors` (written by `scripts/gen_fixtures.py`) holds, for
//! every valid picture in `tests/fixtures/images/`, the U8 [3, 224, 224] pixels of
//! `CLIPImageProcessorPil` with openai/clip-vit-base-patch32's settings and
//! `do_rescale=False, do_normalize=False`, applied to `transformers.image_utils.load_image(path)`.
//! Those are the decoded, resized and center-cropped pixels, i.e. our `decode_rgb` +
//! `resize_and_crop`.

use safetensors::{Dtype, SafeTensors};
use wiseft::clip::preprocess::{decode_rgb, preprocess, resize_and_crop, PreprocessConfig};
use wiseft::error::Error;

const VALID_IMAGES: [&str; 9] = [
    "photo.png",
    "photo.jpg",
    "gray.png",
    "rgba.png",
    "palette.png",
    "exif_rotated.jpg",
    "tiny.png",
    "wide.png",
    "tall.jpg",
];
const BROKEN_IMAGES: [&str; 2] = ["not_an_image.png", "truncated.jpg"];

/// Largest accepted difference, in 0..=255 levels (1/255 after rescaling).
const TOLERANCE: u8 = 1;

fn fixture(rel: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{rel}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn resize_and_crop_matches_clip_image_processor() {
    let reference = fixture("reference/pixels.safetensors");
    let tensors = SafeTensors::deserialize(&reference).expect("pixels.safetensors");
    let cfg = PreprocessConfig::clip_default(224);
    let mut too_far = Vec::new();
    for name in VALID_IMAGES {
        let expected = tensors
            .tensor(name)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(expected.dtype(), Dtype::U8, "{name}");
        assert_eq!(expected.shape(), [3, 224, 224], "{name}");

        let img = decode_rgb(&fixture(&format!("images/{name}")), name)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let out = resize_and_crop(&img, &cfg);
        assert_eq!(out.dimensions(), (224, 224), "{name}");

        // The reference is channels-first.
        let ours = (0..3).flat_map(|c| out.pixels().map(move |p| p.0[c]));
        let diffs: Vec<u8> = ours
            .zip(expected.data())
            .map(|(a, &b)| a.abs_diff(b))
            .collect();
        let max = diffs.iter().copied().max().unwrap_or(0);
        let differing = diffs.iter().filter(|&&d| d > 0).count();
        println!(
            "{name}: max |diff| {max}, {differing} of {} values differ",
            diffs.len()
        );
        if max > TOLERANCE {
            too_far.push(format!("{name} (max |diff| {max})"));
        }
    }
    assert!(
        too_far.is_empty(),
        "off by more than {TOLERANCE}: {}",
        too_far.join(", ")
    );
}

#[test]
fn broken_images_are_image_errors_naming_the_file() {
    let cfg = PreprocessConfig::clip_default(224);
    for name in BROKEN_IMAGES {
        let bytes = fixture(&format!("images/{name}"));
        let results = [
            decode_rgb(&bytes, name).map(|_| ()),
            preprocess(&bytes, name, &cfg).map(|_| ()),
        ];
        for result in results {
            let err = result.expect_err(name);
            println!("{err}");
            match &err {
                Error::Image { name: named, msg } => {
                    assert_eq!(named, name);
                    assert!(!msg.is_empty());
                }
                other => panic!("{name}: expected Error::Image, got {other:?}"),
            }
            assert!(err.to_string().contains(name), "{err}");
        }
    }
}
