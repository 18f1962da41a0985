//! Merged files that say what they are: `wiseft merge` writes its recipe, the sources (as given,
//! with the SHA-256 of their weights files) and the tool into the safetensors metadata;
//! `--output DIR` writes a folder transformers loads as it is; `--dtype f16|bf16` halves the file;
//! `inspect` prints the provenance. The folder and the rounding were checked with transformers and
//! torch by scripts/check_merged_folder.py (tests/fixtures/reference/merged_folder.json): here the
//! CLI's output is compared with what that check saw, and its contents structurally.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use common::*;
use serde_json::{json, Value};
use wiseft::checkpoint::provenance::{OutputDtype, Provenance};
use wiseft::checkpoint::safetensors;
use wiseft::checkpoint::{Checkpoint, FileDtype};
use wiseft::merge::MergePlan;

const LABELS: &str = "cat,dog,red car,tree,the ocean";
const IMAGES: [&str; 4] = ["images/photo.png", "images/photo.jpg", "images/gray.png", "images/wide.png"];

fn wiseft(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wiseft"));
    cmd.args(args).current_dir(fixtures());
    let cache = std::env::temp_dir().join(format!("wiseft-provenance-test-cache-{}", std::process::id()));
    cmd.env("WISEFT_CACHE", &cache).env("WISEFT_HUB_ENDPOINT", "http://127.0.0.1:9").env("HF_HUB_CACHE", cache.join("hf"));
    let out = cmd.output().expect("wiseft runs");
    assert!(out.status.success(), "wiseft {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn check() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("reference/merged_folder.json")).unwrap()).unwrap()
}

/// `merge` of pair a at the checked α into `folder` (given with a trailing `/`).
fn merge_folder(folder: &Path, dtype: &str) {
    let alpha = check()["alpha"].as_f64().unwrap().to_string();
    let out = format!("{}/", folder.display());
    wiseft(&["merge", "--zero-shot", "models/a_zs", "--fine-tuned", "models/a_ft", "--alpha", &alpha, "--dtype", dtype, "--output", &out]);
}

fn sha_of(rel: &str) -> String {
    sha256_hex(&std::fs::read(fixture(rel)).unwrap())
}

/// The bytes after a safetensors file's header.
fn data_section(bytes: &[u8]) -> &[u8] {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    &bytes[8 + n..]
}

fn metadata_of(path: &Path) -> BTreeMap<String, String> {
    safetensors::read(&std::fs::read(path).unwrap(), "merged").unwrap().1
}

fn json_file(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn folder_loads_back_bit_exact_with_its_provenance_and_card() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("merged");
    merge_folder(&folder, "f32");
    let names: Vec<String> = std::fs::read_dir(&folder).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    for file in ["model.safetensors", "config.json", "preprocessor_config.json", "README.md"] {
        assert!(names.iter().any(|n| n == file), "{file} missing from {names:?}");
    }
    // The zero-shot model's configs as they are (its dtype is already float32).
    assert_eq!(std::fs::read_to_string(folder.join("config.json")).unwrap(), std::fs::read_to_string(fixture("models/a_zs/config.json")).unwrap());
    assert_eq!(
        std::fs::read_to_string(folder.join("preprocessor_config.json")).unwrap(),
        std::fs::read_to_string(fixture("models/a_zs/preprocessor_config.json")).unwrap()
    );

    // The tensors are the plan's merge, bit for bit, through our own loader.
    let alpha = a(check()["alpha"].as_f64().unwrap());
    let (zs, ft) = (open("models/a_zs"), open("models/a_ft"));
    let merged = MergePlan::new(&zs, Some(&ft)).unwrap().merge(&zs, Some(&ft), alpha).unwrap();
    let back = Checkpoint::open(&folder).unwrap();
    assert_eq!(back.tensors.keys().collect::<Vec<_>>(), merged.keys().collect::<Vec<_>>());
    for (name, t) in &merged {
        let (got, want) = (back.tensors[name].to_le_bytes(), t.to_le_bytes());
        assert!(got == want, "{name} differs from the merge");
    }
    // … and what transformers loaded in scripts/check_merged_folder.py.
    let weights = std::fs::read(folder.join("model.safetensors")).unwrap();
    assert_eq!(sha256_hex(data_section(&weights)), check()["by_dtype"]["f32"]["data_sha256"].as_str().unwrap());

    // The provenance: the recipe, the sources as given with their files' SHA-256, this tool.
    let p = Provenance::from_metadata(&metadata_of(&folder.join("model.safetensors"))).expect("provenance in the metadata");
    assert_eq!(p.recipe, json!({"version": 1, "method": "wise-ft", "alpha": 0.35}));
    assert_eq!(p.tool, format!("wiseft {}", env!("CARGO_PKG_VERSION")));
    assert_eq!(p.dtype, OutputDtype::F32);
    let sources: Vec<(&str, &str, String)> = p.sources.iter().map(|s| (s.role.as_str(), s.name.as_str(), s.sha256.clone())).collect();
    let (zs_sha, ft_sha) = (sha_of("models/a_zs/model.safetensors"), sha_of("models/a_ft/model.safetensors"));
    assert_eq!(sources, [("zero-shot", "models/a_zs", zs_sha.clone()), ("fine-tuned", "models/a_ft", ft_sha.clone())]);

    // The model card: the hub's front matter, the recipe, each source with its SHA-256.
    let card = std::fs::read_to_string(folder.join("README.md")).unwrap();
    assert!(card.starts_with("---\nlibrary_name: transformers\ntags:\n- merge\n- wise-ft\n- clip\nbase_model:\n- \"models/a_zs\"\n---\n"), "{card}");
    for needle in [zs_sha.as_str(), ft_sha.as_str(), "\"method\": \"wise-ft\"", "\"alpha\": 0.35", "models/a_ft", &p.tool] {
        assert!(card.contains(needle), "the card lacks {needle}:\n{card}");
    }

    // inspect prints it, and says so of a file without.
    let text = String::from_utf8(wiseft(&["inspect", folder.to_str().unwrap()]).stdout).unwrap();
    assert!(text.contains(&format!("merged by {}, floats written as f32", p.tool)), "{text}");
    assert!(text.contains(r#"{"alpha":0.35,"method":"wise-ft","version":1}"#), "{text}");
    assert!(text.contains(&format!("zero-shot: models/a_zs (sha256 {zs_sha})")) && text.contains(&format!("models/a_ft (sha256 {ft_sha})")), "{text}");
    let text = String::from_utf8(wiseft(&["inspect", "models/a_zs"]).stdout).unwrap();
    assert!(text.contains("no provenance"), "{text}");
}

#[test]
fn half_precision_is_half_the_size_rounds_as_torch_and_classifies_alike() {
    let dir = tempfile::tempdir().unwrap();
    let f32_dir = dir.path().join("f32");
    merge_folder(&f32_dir, "f32");
    let f32_bytes = std::fs::read(f32_dir.join("model.safetensors")).unwrap();
    let probs = |folder: &Path| -> Vec<Vec<f64>> {
        let mut args = vec!["classify", "--zero-shot", folder.to_str().unwrap(), "--labels", LABELS, "--device", "cpu", "--json"];
        args.extend(IMAGES);
        let out: Value = serde_json::from_slice(&wiseft(&args).stdout).unwrap();
        out["results"].as_array().unwrap().iter().map(|r| r["probs"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect()).collect()
    };
    let exact = probs(&f32_dir);
    let source_config = json_file(&fixture("models/a_zs/config.json"));
    // transformers on pair a's nine images moves by 1.1e-3 (f16) and 2.4e-2 (bf16, 8 bits of
    // mantissa) from f32 (merged_folder.json); the limits leave room for that, no more.
    for (dtype, file_dtype, tolerance) in [("f16", FileDtype::F16, 5e-3), ("bf16", FileDtype::BF16, 5e-2)] {
        let folder = dir.path().join(dtype);
        merge_folder(&folder, dtype);
        let bytes = std::fs::read(folder.join("model.safetensors")).unwrap();
        // Every tensor of pair a is a float: exactly half the tensor bytes; the header is small.
        assert_eq!(data_section(&bytes).len() * 2, data_section(&f32_bytes).len(), "{dtype}");
        assert!((bytes.len() as f64) < 0.6 * f32_bytes.len() as f64, "{dtype}: {} vs {} bytes", bytes.len(), f32_bytes.len());
        // Rounded as torch rounds (checked bit for bit by scripts/check_merged_folder.py).
        assert_eq!(sha256_hex(data_section(&bytes)), check()["by_dtype"][dtype]["data_sha256"].as_str().unwrap(), "{dtype}");
        let back = Checkpoint::open(&folder).unwrap();
        assert!(back.tensors.values().all(|t| t.file_dtype == file_dtype), "{dtype}: {:?}", back.dtypes());
        // config.json: the source's, but for the dtype.
        let mut config = json_file(&folder.join("config.json"));
        let want = match dtype {
            "f16" => "float16",
            _ => "bfloat16",
        };
        assert_eq!(config["dtype"], want);
        config["dtype"] = source_config["dtype"].clone();
        assert_eq!(config, source_config, "{dtype}: config.json changed beyond its dtype");
        let p = Provenance::from_metadata(&metadata_of(&folder.join("model.safetensors"))).unwrap();
        assert_eq!(p.dtype.to_string(), dtype);

        let half = probs(&folder);
        let d = exact.iter().flatten().zip(half.iter().flatten()).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max);
        eprintln!("{dtype}: {} of {} bytes; max |p - p_f32| = {d:.3e}", bytes.len(), f32_bytes.len());
        assert!(d < tolerance, "{dtype}: probabilities differ from f32's by {d}");
    }
}

#[test]
fn a_recipe_merge_records_its_coefficients_and_every_source() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("ta.safetensors");
    let out = output.to_str().unwrap();
    let fts = ["models/a_ft", "models/r_ft1"];
    wiseft(&["merge", "--zero-shot", "models/a_zs", "--fine-tuned", fts[0], "--fine-tuned", fts[1], "--lambda", "0.4", "--dtype", "bf16", "--output", out]);
    // A .safetensors path is one file, with the configs beside it but no card.
    assert!(dir.path().join("config.json").is_file() && !dir.path().join("README.md").exists());
    assert_eq!(json_file(&dir.path().join("config.json"))["dtype"], "bfloat16");
    let p = Provenance::from_metadata(&metadata_of(&output)).unwrap();
    assert_eq!(p.recipe, json!({"version": 1, "method": "task-arithmetic", "lambda": 0.4}));
    assert_eq!(p.dtype, OutputDtype::Bf16);
    let roles: Vec<(&str, &str)> = p.sources.iter().map(|s| (s.role.as_str(), s.name.as_str())).collect();
    assert_eq!(roles, [("zero-shot", "models/a_zs"), ("fine-tuned", fts[0]), ("fine-tuned 2", fts[1])]);
    assert_eq!(p.sources[2].sha256, sha_of("models/r_ft1/model.safetensors"));
}

#[test]
fn the_same_merge_is_the_same_bytes_every_time() {
    // The page's download is compared with `wiseft merge` byte for byte, so the metadata (five
    // keys) must come out in one order, not a hash map's.
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<Vec<u8>> = (0..3)
        .map(|i| {
            let out = dir.path().join(format!("{i}.safetensors"));
            wiseft(&["merge", "--zero-shot", "models/a_zs", "--fine-tuned", "models/a_ft", "--alpha", "0.5", "--output", out.to_str().unwrap()]);
            std::fs::read(out).unwrap()
        })
        .collect();
    assert!(files.windows(2).all(|w| w[0] == w[1]), "three runs wrote different bytes");
    let ckpt = open("models/a_ft");
    let p = Provenance::new(json!({"method": "wise-ft"}), Vec::new(), OutputDtype::F16);
    let write = || safetensors::write_as(ckpt.tensors.iter().map(|(n, t)| (n.as_str(), t)), OutputDtype::F16, &p.to_metadata()).unwrap();
    let first = write();
    assert!((0..5).all(|_| write() == first), "write_as is not deterministic");
    // The header stays padded to 8 bytes, so the tensor data stays aligned.
    assert_eq!(u64::from_le_bytes(first[..8].try_into().unwrap()) % 8, 0);
}
