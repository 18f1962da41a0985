//! Fuzz targets: one function per parser of untrusted bytes, taking any bytes and returning
//! whether they were accepted. The properties are checked by whoever calls them (never a panic,
//! bounded time and memory): `tests/fuzz_smoke.rs` runs them on deterministic mutations of the
//! seeds in `tests/fixtures/fuzz/<target>/`, `scripts/fuzz.sh` under cargo-fuzz (`fuzz/`).
//!
//! A target returns the decoded value's fingerprint (`Ok`) or the error's message (`Err`), so a
//! test can also check that two inputs decode identically. Each is cheap on small inputs; none
//! calls anything that allocates by a claimed size before checking it against the bytes.
//!
//! Not here: the worker's message decoding (`web/protocol.rs`) is serde over `JsValue` and exists
//! only in wasm; the recipe JSON those messages (and shared links) carry is the `recipe` target.

use std::collections::BTreeMap;

use crate::checkpoint::{pytorch, safetensors, Checkpoint, HostTensor, SideFiles};
use crate::clip::config::{ClipConfig, TensorShape};
use crate::clip::preprocess::{decode_rgb, resize_and_crop, to_tensor_chw, PreprocessConfig};
use crate::merge::recipe::Recipe;

/// What a target reports: a fingerprint of what it decoded, or the error message.
pub type Outcome = std::result::Result<String, String>;

/// The names of the targets, as `run` knows them (and as `fuzz/fuzz_targets/` and the corpus
/// folders are named).
pub const TARGETS: [&str; 8] = ["safetensors", "pytorch", "pickle", "config", "infer", "jpeg", "image", "recipe"];

/// Runs the target `name` (one of [`TARGETS`]) on `bytes`; `None` for an unknown name.
pub fn run(name: &str, bytes: &[u8]) -> Option<Outcome> {
    Some(match name {
        "safetensors" => self::safetensors(bytes),
        "pytorch" => self::pytorch(bytes),
        "pickle" => self::pickle(bytes),
        "config" => self::config(bytes),
        "infer" => self::infer(bytes),
        "jpeg" => self::jpeg(bytes),
        "image" => self::image(bytes),
        "recipe" => self::recipe(bytes),
        _ => return None,
    })
}

/// Order-independent summary of tensors: names, shapes and a checksum of the values.
fn fingerprint(tensors: &[(String, HostTensor)]) -> String {
    let mut out = String::new();
    for (name, t) in tensors {
        let sum = match t.as_f32() {
            Some(v) => v.iter().fold(0u64, |h, x| h.rotate_left(5) ^ u64::from(x.to_bits())),
            None => t.to_le_bytes().iter().fold(0u64, |h, &b| h.rotate_left(5) ^ u64::from(b)),
        };
        out.push_str(&format!("{name}:{:?}:{}:{sum:016x};", t.shape, t.file_dtype));
    }
    out
}

/// The safetensors reader, whole and streamed in uneven chunks (both must agree), then the
/// checkpoint built from it (layout, config inference, shape checks).
pub fn safetensors(bytes: &[u8]) -> Outcome {
    let whole = safetensors::read(bytes, "fuzz.safetensors").map(|(t, _)| fingerprint(&t)).map_err(|e| e.to_string());
    // Chunk sizes from the input itself, so every run of one input is the same.
    let step = 1 + bytes.first().map_or(0, |&b| usize::from(b) % 97);
    for total in [Some(bytes.len() as u64), None] {
        let mut reader = safetensors::StreamReader::new("fuzz.safetensors", total);
        let mut streamed = Vec::new();
        let mut result = Ok(());
        for chunk in bytes.chunks(step) {
            result = reader.push(chunk, &mut |name, raw| {
                streamed.push((name.to_string(), raw.to_host()));
                Ok(())
            });
            if result.is_err() {
                break;
            }
        }
        let streamed = result.and_then(|()| reader.finish().map(|_| fingerprint(&streamed)));
        // A known total can refuse earlier than the whole-file read, never accept differently.
        if let (Ok(w), Ok(s)) = (&whole, &streamed) {
            assert_eq!(w, s, "streamed and whole-file reads of one safetensors file disagree");
        }
        if total.is_some() {
            assert_eq!(whole.is_ok(), streamed.is_ok(), "streamed and whole-file reads disagree: {whole:?} vs {streamed:?}");
        }
    }
    let tensors = whole?;
    // Layout detection, config inference and shape checks: must not panic; most seeds are not
    // whole CLIP models, so their error is expected.
    let _ = Checkpoint::from_bytes(bytes, "fuzz.safetensors", SideFiles::default());
    Ok(tensors)
}

/// The PyTorch zip reader and the checkpoint built from it.
pub fn pytorch(bytes: &[u8]) -> Outcome {
    let tensors = pytorch::read(bytes, "fuzz.bin").map_err(|e| e.to_string())?;
    let print = fingerprint(&tensors);
    // As for safetensors: the checkpoint's checks must not panic, whatever they say.
    let _ = Checkpoint::from_tensors(tensors, "fuzz.bin", crate::checkpoint::Format::PyTorch, SideFiles::default());
    Ok(print)
}

/// Storage bytes the `pickle` target hands out for any key: 4 KiB of a fixed pattern, so that
/// mutated pickles reach the shape and stride checks (the zip around them has a CRC that almost
/// every mutation would break first).
const PICKLE_STORAGE_BYTES: usize = 4096;

/// The state-dict pickle reader on its own (a `data.pkl`), with every storage 4 KiB.
pub fn pickle(bytes: &[u8]) -> Outcome {
    let storage: Vec<u8> = (0..PICKLE_STORAGE_BYTES).map(|i| (i * 7 % 61) as u8).collect();
    let budget = 2 * (bytes.len() + 16 * PICKLE_STORAGE_BYTES) as u128;
    let tensors = pytorch::tensors_from_pickle(bytes, "data.pkl", budget, &mut |_| Ok(storage.clone()))
        .map_err(|e| e.to_string())?;
    Ok(fingerprint(&tensors))
}

/// config.json (transformers), preprocessor_config.json and open_clip_config.json readers, on the
/// same text; then the tensor list a config implies.
pub fn config(bytes: &[u8]) -> Outcome {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    match ClipConfig::from_json(text, "config.json") {
        Ok(c) => out.push(format!("clip:{}", c.expected_tensors().len())),
        Err(e) => out.push(e.to_string()),
    }
    match PreprocessConfig::from_json(text, "preprocessor_config.json", 224) {
        Ok(p) => out.push(format!("pre:{p:?}")),
        Err(e) => out.push(e.to_string()),
    }
    match crate::checkpoint::openclip::OpenClipConfig::from_json(text, "open_clip_config.json") {
        Ok(c) => out.push(format!("openclip:{:?}", c.config.validate("open_clip_config.json").map(|()| c.config.expected_tensors().len()))),
        Err(e) => out.push(e.to_string()),
    }
    Ok(out.join("\n"))
}

struct Shape(Vec<usize>);

impl TensorShape for Shape {
    fn dims(&self) -> &[usize] {
        &self.0
    }
    fn is_float(&self) -> bool {
        true
    }
    fn dtype_name(&self) -> String {
        "F32".into()
    }
}

/// Config inference from tensor shapes alone: the input is a JSON object of tensor names to
/// shapes (`{"vision_model.embeddings.patch_embedding.weight": [64, 3, 8, 8], …}`), as a
/// safetensors header would give them — without the bytes, so any size can be claimed.
pub fn infer(bytes: &[u8]) -> Outcome {
    let shapes: BTreeMap<String, Vec<u64>> = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    let tensors: BTreeMap<String, Shape> = shapes
        .into_iter()
        .map(|(k, v)| (k, Shape(v.into_iter().map(|d| usize::try_from(d).unwrap_or(usize::MAX)).collect())))
        .collect();
    let (config, _) = ClipConfig::infer(&tensors, "fuzz").map_err(|e| e.to_string())?;
    config.check_tensors(&tensors, "fuzz", "fuzz (inferred config)").map_err(|e| e.to_string())?;
    Ok(format!("{config:?}"))
}

/// The JPEG decoder (markers, Huffman tables, progressive scans, restart intervals, APP
/// segments), through `decode_rgb` as photos go; the same as [`image`] on a JPEG corpus.
pub fn jpeg(bytes: &[u8]) -> Outcome {
    image(bytes)
}

/// Any image format `decode_rgb` reads (PNG, GIF, BMP, WebP through the `image` crate plus our
/// chunk readers; JPEG through ours), then the rest of the preprocessing (resize to 32×32,
/// normalise) for images up to 1 M pixels (larger ones are bounded but slow in a debug build).
pub fn image(bytes: &[u8]) -> Outcome {
    let img = decode_rgb(bytes, "fuzz").map_err(|e| e.to_string())?;
    let sum = img.as_raw().iter().fold(0u64, |h, &b| h.rotate_left(3) ^ u64::from(b));
    if u64::from(img.width()) * u64::from(img.height()) <= 1 << 20 {
        let cfg = PreprocessConfig::clip_default(32);
        let tensor = to_tensor_chw(&resize_and_crop(&img, &cfg), &cfg);
        assert_eq!(tensor.len(), 3 * 32 * 32, "preprocessing gave the wrong size");
    }
    Ok(format!("{}x{}:{sum:016x}", img.width(), img.height()))
}

/// A merge recipe as JSON (what a shared link, the CLI's `--recipe` file and the worker's
/// messages carry).
pub fn recipe(bytes: &[u8]) -> Outcome {
    let text = std::str::from_utf8(bytes).map_err(|e| e.to_string())?;
    Recipe::from_json(text).map(|r| format!("{r:?}")).map_err(|e| e.to_string())
}
