//! The `wiseft` binary end to end: its JSON against the reference, `merge` against the file the
//! fixture script loaded in transformers, hub ids served from a local HTTP server, and failures.

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::http::{Server, Switches, TempDir};
use common::*;
use serde_json::Value;

fn wiseft(args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wiseft"));
    cmd.args(args).current_dir(fixtures());
    // Never touch the user's cache or the real hub from tests.
    let cache = std::env::temp_dir().join(format!("wiseft-cli-test-cache-{}", std::process::id()));
    cmd.env("WISEFT_CACHE", &cache).env("WISEFT_HUB_ENDPOINT", "http://127.0.0.1:9");
    cmd.env("HF_HUB_CACHE", cache.join("hf")).env_remove("HF_TOKEN").env_remove("HF_HUB_OFFLINE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("wiseft runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json_of(out: &Output) -> Value {
    assert!(out.status.success(), "wiseft failed: {}", stderr(out));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

/// `classify --json` for every α and template set of a reference pair, with `zero_shot` in place
/// of the reference's zero-shot folder (the same weights in another format).
fn check_classify(pair: &str, zero_shot: Option<&str>, device: &str) {
    let reference = PairReference::load(pair);
    let labels = reference.labels.join(",");
    for case in &reference.by_alpha {
        for (set, want) in &case.probs {
            let alpha = case.alpha.to_string();
            let mut args = vec![
                "classify",
                "--zero-shot",
                zero_shot.unwrap_or(&reference.zero_shot),
                "--fine-tuned",
                &reference.fine_tuned,
                "--alpha",
                &alpha,
                "--labels",
                &labels,
                "--device",
                device,
                "--json",
            ];
            for t in reference.template_set(set) {
                args.extend(["--template", t.as_str()]);
            }
            args.extend(reference.images.iter().map(String::as_str));
            let out = json_of(&wiseft(&args, &[]));
            assert_eq!(out["alpha"].as_f64(), Some(case.alpha));
            assert_eq!(out["labels"], serde_json::json!(reference.labels));
            let results = out["results"].as_array().unwrap();
            assert_eq!(results.len(), reference.images.len());
            for ((r, image), w) in results.iter().zip(&reference.images).zip(want) {
                assert_eq!(r["image"], image.as_str());
                let got: Vec<f32> = r["probs"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap() as f32).collect();
                let d = max_abs_diff(&got, w);
                assert!(d <= 1e-4, "{pair} α={} {set} {image}: CLI probs differ by {d}", case.alpha);
                let top = (0..w.len()).max_by(|&a, &b| w[a].total_cmp(&w[b])).unwrap();
                assert_eq!(r["top"], reference.labels[top].as_str());
            }
        }
    }
}

#[test]
fn classify_json_matches_reference_pair_a() {
    check_classify("pair_a", None, "cpu");
}

#[test]
fn classify_json_matches_reference_pair_b() {
    check_classify("pair_b", None, "cpu");
}

/// The GPU engine (lavapipe in CI) through the CLI.
#[test]
fn classify_on_the_gpu_matches_reference() {
    check_classify("pair_b", None, "gpu");
}

#[test]
fn classify_reads_pytorch_bin_zero_shot() {
    check_classify("pair_b", Some("models/b_zs_bin"), "cpu");
}

#[test]
fn alpha_defaults_to_one_half_with_a_fine_tuned_model() {
    let out = json_of(&wiseft(
        &["classify", "--zero-shot", "models/a_zs", "--fine-tuned", "models/a_ft", "--labels", "cat,dog", "--json", "images/photo.png"],
        &[],
    ));
    assert_eq!(out["alpha"].as_f64(), Some(0.5));
    let probs = out["results"][0]["probs"].as_array().unwrap();
    let sum: f64 = probs.iter().map(|p| p.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-5);
}

#[test]
fn imagenet80_template_set_is_available() {
    let out = json_of(&wiseft(
        &["classify", "--zero-shot", "models/a_zs", "--labels", "cat,dog", "--templates", "imagenet80", "--json", "images/photo.png"],
        &[],
    ));
    assert_eq!(out["results"].as_array().unwrap().len(), 1);
}

#[test]
fn a_bad_image_is_reported_and_the_others_still_classified() {
    let out = wiseft(
        &["classify", "--zero-shot", "models/a_zs", "--labels", "cat,dog", "--json", "images/photo.png", "images/not_an_image.png", "images/truncated.jpg"],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = json["results"].as_array().unwrap();
    assert!(results[0]["probs"].is_array());
    assert!(results.iter().any(|r| r["image"] == "images/not_an_image.png" && r["error"].is_string()));
    assert!(results.iter().any(|r| r["image"] == "images/truncated.jpg" && r["error"].is_string()));
    assert!(stderr(&out).contains("images/not_an_image.png"));
}

#[test]
fn merge_writes_the_file_transformers_loaded() {
    let check: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("reference/merge_check.json")).unwrap()).unwrap();
    let dir = TempDir::new();
    let output = dir.0.join("merged.safetensors");
    let alpha = check["alpha"].as_f64().unwrap().to_string();
    let out = wiseft(
        &[
            "merge",
            "--zero-shot",
            check["zero_shot"].as_str().unwrap(),
            "--fine-tuned",
            check["fine_tuned"].as_str().unwrap(),
            "--alpha",
            &alpha,
            "--output",
            output.to_str().unwrap(),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let bytes = std::fs::read(&output).unwrap();
    // The tensors bit for bit: the bytes after the header, and the header's entries. The header's
    // metadata (the provenance) names the sources as given and the tool's version, so it is
    // compared field by field instead.
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    assert_eq!(sha256_hex(&bytes[8 + n..]), check["data_sha256"].as_str().unwrap(), "merged tensors differ from the ones checked in transformers");
    let mut header: serde_json::Map<String, Value> = serde_json::from_slice(&bytes[8..8 + n]).unwrap();
    let metadata = header.remove("__metadata__").unwrap();
    assert_eq!(Value::Object(header), check["tensors"], "tensor entries differ from the file checked in transformers");
    let written = check["metadata"].as_object().unwrap();
    assert_eq!(metadata["format"], "pt");
    for key in ["wiseft.recipe", "wiseft.dtype"] {
        assert_eq!(metadata[key], written[key], "{key}");
    }
    assert_eq!(metadata["wiseft.version"], format!("wiseft {}", env!("CARGO_PKG_VERSION")));
    let sources: Value = serde_json::from_str(metadata["wiseft.sources"].as_str().unwrap()).unwrap();
    let checked: Value = serde_json::from_str(written["wiseft.sources"].as_str().unwrap()).unwrap();
    for (i, (role, name)) in [("zero-shot", "models/b_zs"), ("fine-tuned", "models/b_ft")].into_iter().enumerate() {
        assert_eq!(sources[i]["role"], role);
        assert_eq!(sources[i]["name"], name, "the source as given on the command line");
        assert_eq!(sources[i]["sha256"], checked[i]["sha256"], "{role}: SHA-256 of its weights file");
        let weights = fixtures().join(name).join("model.safetensors");
        assert_eq!(sources[i]["sha256"], sha256_hex(&std::fs::read(weights).unwrap()));
    }
    assert!(dir.0.join("config.json").is_file());
    assert!(stderr(&out).contains("2 tensors only in the fine-tuned model"), "{}", stderr(&out));
}

#[test]
fn tokenize_json_equals_open_clip() {
    let out = json_of(&wiseft(&["tokenize", "--json", "Tom &amp; Jerry", "it’s ﬁne"], &[]));
    let tokens: Value = serde_json::from_str(&std::fs::read_to_string(fixture("reference/tokens.json")).unwrap()).unwrap();
    for row in out.as_array().unwrap() {
        if let Some(want) = tokens.as_array().unwrap().iter().find(|t| t["text"] == row["text"]) {
            assert_eq!(row["ids"], want["ids"]);
        }
        assert_eq!(row["ids"].as_array().unwrap().len(), 77);
    }
}

#[test]
fn inspect_describes_layout_and_merge_role() {
    for (path, layout) in [
        ("models/a_zs", "CLIPModel"),
        ("models/a_ft", "CLIPVisionModel"),
        ("models/b_ft", "CLIPModel"),
        ("models/b_zs_bin", "CLIPModel"),
    ] {
        let out = wiseft(&["inspect", path], &[]);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(layout) && text.contains("parameters") && text.contains("as a fine-tuned model"), "{text}");
    }
}

#[test]
fn hub_ids_download_into_the_cache_with_progress() {
    // A local "hub": <repo>/resolve/<revision>/<file>.
    let hub = TempDir::new();
    for (repo, folder) in [("test/a_zs", "models/a_zs"), ("test/a_ft", "models/a_ft")] {
        for entry in std::fs::read_dir(fixture(folder)).unwrap() {
            let entry = entry.unwrap();
            let dst = hub.0.join(repo).join("resolve/main").join(entry.file_name());
            std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
            std::fs::copy(entry.path(), dst).unwrap();
        }
    }
    let server = Server::start(&hub.0, Switches::default());
    let endpoint = server.endpoint();
    let cache = TempDir::new();
    let run = || {
        wiseft(
            &["classify", "--zero-shot", "test/a_zs", "--fine-tuned", "test/a_ft", "--alpha", "0.35", "--labels", "cat,dog,red car,tree,the ocean", "--json", "images/photo.png"],
            &[("WISEFT_HUB_ENDPOINT", Path::new(&endpoint)), ("HF_HUB_CACHE", &cache.0)],
        )
    };
    let first = json_of(&run());
    let requests = server.requests().len();
    assert!(requests >= 2, "expected downloads, saw {requests} requests");
    assert!(cache.0.join("models--test--a_zs/snapshots").is_dir(), "the Hugging Face cache layout");
    let second = json_of(&run());
    let again = &server.requests()[requests..];
    assert!(again.iter().all(|r| r.method == "HEAD"), "second run: only the branch's commit is asked, nothing downloaded: {again:?}");
    assert_eq!(first, second);

    let reference = PairReference::load("pair_a");
    let case = reference.by_alpha.iter().find(|c| c.alpha == 0.35).unwrap();
    let got: Vec<f32> = first["results"][0]["probs"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap() as f32).collect();
    assert!(max_abs_diff(&got, &case.probs["single"][0]) <= 1e-4);
}

#[test]
fn without_network_a_hub_id_fails_with_a_clear_message() {
    let out = wiseft(&["inspect", "openai/clip-vit-base-patch32"], &[]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("network") && err.contains("local"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn bad_arguments_are_refused_clearly() {
    let out = wiseft(&["classify", "--zero-shot", "models/a_zs", "--fine-tuned", "models/a_ft", "--alpha", "1.5", "--labels", "a", "images/photo.png"], &[]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("α must lie in [0, 1]"), "{}", stderr(&out));
    let out = wiseft(&["classify", "--zero-shot", "models/a_ft", "--labels", "a", "images/photo.png"], &[]);
    assert!(stderr(&out).contains("needs a full CLIPModel"), "{}", stderr(&out));
    let out = wiseft(&["classify", "--zero-shot", "models/nope", "--labels", "a", "images/photo.png"], &[]);
    assert!(stderr(&out).contains("models/nope"), "{}", stderr(&out));
}

/// A model that Python's huggingface_hub downloaded (tests/fixtures/hf-cache) is used by hub id,
/// with HF_HUB_OFFLINE=1 and no network, without downloading anything.
#[cfg(unix)]
#[test]
fn hub_ids_use_the_hugging_face_cache_offline() {
    let hf = std::env::temp_dir().join(format!("wiseft-cli-test-hf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&hf);
    let status = Command::new("cp").arg("-a").arg(fixtures().join("hf-cache")).arg(&hf).status().unwrap();
    assert!(status.success());
    let one = Path::new("1");
    let out = wiseft(&["inspect", "fixture/a-ft"], &[("HF_HUB_CACHE", &hf), ("HF_HUB_OFFLINE", one)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("CLIPVisionModel") && text.contains("snapshots"), "{text}");
    assert!(!stderr(&out).contains("downloading"), "{}", stderr(&out));

    let empty = hf.join("empty");
    let out = wiseft(&["inspect", "fixture/a-ft"], &[("HF_HUB_CACHE", &empty), ("HF_HUB_OFFLINE", one)]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("HF_HUB_OFFLINE"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&hf);
}
