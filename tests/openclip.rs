//! OpenCLIP checkpoints (tests/fixtures/openclip/, written with open_clip itself by
//! scripts/gen_openclip_fixtures.py): loaded through the key mapping, they give open_clip's
//! probabilities (its own preprocessing) on the CPU and the GPU engine, alone and merged with an
//! OpenCLIP fine-tune or a transformers-layout one; the streamed GPU path maps the same way;
//! bad input says what it found and what is supported; the page's OpenCLIP preset names the
//! files open_clip reads from the hub.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use pollster::block_on;
use serde::Deserialize;
use wiseft::checkpoint::{openclip, Checkpoint, HostTensor, SideFiles};
use wiseft::clip::config::Activation;
use wiseft::clip::preprocess;
use wiseft::engine::cpu::CpuEngine;
use wiseft::engine::gpu::GpuEngine;
use wiseft::engine::Engine;
use wiseft::merge::ModelPair;
use wiseft::pipeline::WiseFt;

const PROB_TOL: f32 = 1e-4;

#[derive(Deserialize)]
struct Case {
    zero_shot: String,
    fine_tuned: Option<String>,
    alpha: f64,
    probs: Vec<Vec<f32>>,
}

#[derive(Deserialize)]
struct Reference {
    images: Vec<String>,
    labels: Vec<String>,
    template: String,
    cases: Vec<Case>,
}

fn reference() -> Reference {
    serde_json::from_str(&std::fs::read_to_string(fixture("openclip/reference.json")).unwrap()).unwrap()
}

fn pair_of(case: &Case) -> ModelPair {
    ModelPair::new(open(&case.zero_shot), case.fine_tuned.as_deref().map(open)).unwrap()
}

fn check(gpu: bool) {
    let reference = reference();
    let mut worst = 0f32;
    for case in &reference.cases {
        let pair = pair_of(case);
        let prep = pair.preprocess();
        let images: Vec<Vec<f32>> = reference
            .images
            .iter()
            .map(|rel| preprocess::preprocess(&std::fs::read(fixture(rel)).unwrap(), rel, &prep).unwrap())
            .collect();
        let engine = if gpu {
            Engine::Gpu(block_on(GpuEngine::new(&pair, a(case.alpha))).unwrap_or_else(|e| panic!("{e}")))
        } else {
            Engine::Cpu(CpuEngine::new(&pair, a(case.alpha)).unwrap())
        };
        let mut wiseft = WiseFt::with_engine(pair, a(case.alpha), engine, String::new()).unwrap();
        let got = block_on(wiseft.classify(&images, &reference.labels, std::slice::from_ref(&reference.template))).unwrap();
        for (i, (g, w)) in got.iter().zip(&case.probs).enumerate() {
            let d = max_abs_diff(g, w);
            worst = worst.max(d);
            assert!(
                d <= PROB_TOL,
                "{} + {:?} at α={}, image {}: probabilities differ from open_clip by {d}\n got {g:?}\nwant {w:?}",
                case.zero_shot,
                case.fine_tuned,
                case.alpha,
                reference.images[i]
            );
        }
    }
    eprintln!("largest difference from open_clip ({}): {worst:e}", if gpu { "GPU" } else { "CPU" });
}

/// quick_gelu and GELU models alone, quick_zs + its OpenCLIP fine-tune (a pickled state dict) and
/// + the same fine-tune's vision tower in transformers' layout, at α 0, 0.35, 1.
#[test]
fn cpu_probabilities_match_open_clip() {
    check(false);
}

#[test]
fn gpu_probabilities_match_open_clip() {
    check(true);
}

#[test]
fn config_activation_and_preprocessing_come_from_open_clip_config() {
    let quick = open("openclip/quick_zs");
    let gelu = open("openclip/gelu_zs");
    let v = quick.config.vision.as_ref().unwrap();
    assert_eq!((v.encoder.hidden_size, v.encoder.num_attention_heads, v.encoder.intermediate_size, v.patch_size), (32, 2, 64, 8));
    assert_eq!(v.encoder.hidden_act, Activation::QuickGelu);
    assert_eq!(quick.config.text.as_ref().unwrap().encoder.hidden_act, Activation::QuickGelu);
    let g = gelu.config.vision.as_ref().unwrap();
    assert_eq!((g.encoder.num_attention_heads, g.encoder.intermediate_size, g.image_size), (5, 75, 30));
    assert_eq!(g.encoder.hidden_act, Activation::Gelu);
    assert_eq!(quick.config.projection_dim, Some(16));
    let p = gelu.preprocess.as_ref().unwrap();
    assert_eq!(p.resize, preprocess::Resize::Exact { height: 30, width: 30 });
    assert_eq!(p.crop, None);
    assert_eq!(p.normalize, Some(([0.5; 3], [0.5; 3])));
    let p = quick.preprocess.as_ref().unwrap();
    assert_eq!((p.resize, p.crop), (preprocess::Resize::ShortestEdge(32), Some((32, 32))));
    assert_eq!(p.crop_rounding, preprocess::CropRounding::Torchvision);
    // The tensors are in transformers' layout now, q/k/v split and the projections transposed.
    assert_eq!(quick.tensors["vision_model.encoder.layers.1.self_attn.k_proj.weight"].shape, vec![32, 32]);
    assert_eq!(quick.tensors["visual_projection.weight"].shape, vec![16, 32]);
    assert_eq!(quick.tensors["text_projection.weight"].shape, vec![16, 8]);
    assert!(quick.tensors.keys().all(|k| !k.starts_with("visual.") && !k.contains("resblocks")));
    // A merge is written in transformers' layout with a config.json that transformers reads.
    let config = wiseft::clip::config::ClipConfig::from_json(quick.config_json.as_deref().unwrap(), "x").unwrap();
    assert_eq!(config, quick.config);
    assert!(quick.preprocessor_json.as_deref().unwrap().contains("shortest_edge"));
}

/// The page's streaming path: tensors handed to the GPU as their bytes arrive are mapped on the
/// way, and give the engine the whole-file path gives.
#[test]
fn streamed_openclip_tensors_give_the_same_engine() {
    use wiseft::checkpoint::stream::StreamedCheckpoint;
    use wiseft::engine::gpu::{GpuLoader, GpuOptions};
    let dir = fixture("openclip/quick_zs");
    let bytes = std::fs::read(dir.join("open_clip_model.safetensors")).unwrap();
    let config = std::fs::read_to_string(dir.join("open_clip_config.json")).unwrap();
    let side = SideFiles { open_clip: Some(("open_clip_config.json".into(), config)), ..SideFiles::default() };
    let mut loader = block_on(GpuLoader::new(GpuOptions::default())).unwrap();
    let mut streamed = StreamedCheckpoint::new("quick_zs/open_clip_model.safetensors", Some(bytes.len() as u64));
    let mut names = Vec::new();
    for chunk in bytes.chunks(777) {
        streamed
            .push(chunk, &mut |name, t| {
                names.push(name.to_string());
                loader.stage(false, name, t)
            })
            .unwrap();
    }
    assert!(names.iter().any(|n| n.ends_with("self_attn.v_proj.weight")) && names.iter().all(|n| !n.contains("resblocks")), "{names:?}");
    let ckpt = streamed.finish(side).unwrap();
    assert!(ckpt.tensors.values().any(|t| !t.on_host()), "large tensors stay on the device only");
    let whole = open("openclip/quick_zs");
    assert_eq!(ckpt.config, whole.config);
    assert_eq!(ckpt.tensors.keys().collect::<Vec<_>>(), whole.tensors.keys().collect::<Vec<_>>());
    let streamed_pair = ModelPair::new(ckpt, None).unwrap();
    let whole_pair = ModelPair::new(whole, None).unwrap();
    let from_stream = block_on(loader.build(&streamed_pair, a(0.0))).unwrap();
    let from_file = block_on(GpuEngine::new(&whole_pair, a(0.0))).unwrap();
    let pixels: Vec<f32> = (0..2 * 3 * 32 * 32).map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0).collect();
    assert_eq!(block_on(from_stream.encode_images(&pixels, 2)).unwrap(), block_on(from_file.encode_images(&pixels, 2)).unwrap());
    let ids = vec![vec![49406, 320, 1929, 49407]];
    assert_eq!(block_on(from_stream.encode_texts(&ids, &[3])).unwrap(), block_on(from_file.encode_texts(&ids, &[3])).unwrap());
}

/// Keys are matched after mapping: the OpenCLIP zero-shot model merges with the fine-tune in
/// either layout, and both fine-tunes' vision towers are the same tensors.
#[test]
fn openclip_and_transformers_fine_tunes_match_the_zero_shot_keys() {
    let oc = open("openclip/quick_ft");
    let hf = open("openclip/quick_ft_hf");
    for (name, t) in &hf.tensors {
        assert_eq!(oc.tensors[name].shape, t.shape, "{name}");
        assert_eq!(oc.tensors[name].as_f32(), t.as_f32(), "{name}");
    }
    let pair = ModelPair::new(open("openclip/quick_zs"), Some(hf)).unwrap();
    assert!(pair.vision_depends_on_alpha() && !pair.text_depends_on_alpha());
    let pair = ModelPair::new(open("openclip/quick_zs"), Some(oc)).unwrap();
    assert!(pair.vision_depends_on_alpha() && pair.text_depends_on_alpha());
}

/// A training checkpoint: `{"epoch", "state_dict": {"module.visual…"}}` with the config beside it.
#[test]
fn training_checkpoint_with_module_prefix_loads() {
    let zs = open("openclip/quick_zs");
    let state = read_state("openclip/quick_zs/open_clip_model.safetensors");
    let prefixed: Vec<(String, HostTensor)> = state.into_iter().map(|(n, t)| (format!("module.{n}"), t)).collect();
    let side = config_side("openclip/quick_zs");
    let ckpt = Checkpoint::from_tensors(prefixed, "epoch_3.pt", wiseft::checkpoint::Format::PyTorch, side).unwrap();
    assert_eq!(ckpt.config, zs.config);
    for (name, t) in &zs.tensors {
        assert_eq!(ckpt.tensors[name].as_f32(), t.as_f32(), "{name}");
    }
}

fn read_state(rel: &str) -> Vec<(String, HostTensor)> {
    let bytes = std::fs::read(fixture(rel)).unwrap();
    wiseft::checkpoint::safetensors::read(&bytes, rel).unwrap().0
}

fn config_side(rel: &str) -> SideFiles {
    let text = std::fs::read_to_string(fixture(rel).join("open_clip_config.json")).unwrap();
    SideFiles { open_clip: Some((format!("{rel}/open_clip_config.json"), text)), ..SideFiles::default() }
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("wiseft-openclip-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A folder with the quick_zs weights and `config` as open_clip_config.json (none if `None`).
fn folder_with(name: &str, config: Option<&str>) -> PathBuf {
    let dir = temp_dir(name);
    std::fs::copy(fixture("openclip/quick_zs/open_clip_model.safetensors"), dir.join("open_clip_model.safetensors")).unwrap();
    if let Some(c) = config {
        std::fs::write(dir.join("open_clip_config.json"), c).unwrap();
    }
    dir
}

fn open_err(dir: &Path) -> String {
    Checkpoint::open(dir).expect_err("an error").to_string()
}

fn quick_config() -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("openclip/quick_zs/open_clip_config.json")).unwrap()).unwrap()
}

#[test]
fn openclip_weights_without_a_config_say_so() {
    let dir = folder_with("noconfig", None);
    let err = open_err(&dir);
    assert!(err.contains("open_clip_model.safetensors") && err.contains("open_clip_config.json") && err.contains("no config"), "{err}");
    // A transformers config.json is not taken for it.
    std::fs::write(dir.join("config.json"), r#"{"model_type": "clip"}"#).unwrap();
    let err = open_err(&dir);
    assert!(err.contains("config.json, a transformers config") && err.contains("open_clip_config.json"), "{err}");
}

#[test]
fn config_sizes_that_disagree_with_the_tensors_say_which_tensor() {
    let mut cfg = quick_config();
    cfg["model_cfg"]["vision_cfg"]["width"] = 64.into();
    let err = open_err(&folder_with("width", Some(&cfg.to_string())));
    assert!(err.contains("open_clip_config.json") && err.contains("does not match the tensors") && err.contains("32") && err.contains("64"), "{err}");
    assert!(err.contains("in the OpenCLIP file"), "names the OpenCLIP tensor too: {err}");

    let mut cfg = quick_config();
    cfg["model_cfg"]["vision_cfg"]["layers"] = 3.into();
    let err = open_err(&folder_with("layers", Some(&cfg.to_string())));
    assert!(err.contains("says 3 layers") && err.contains("has 2"), "{err}");
    let mut cfg = quick_config();
    cfg["model_cfg"]["text_cfg"]["layers"] = 1.into();
    let err = open_err(&folder_with("fewer", Some(&cfg.to_string())));
    assert!(err.contains("says 1 layers") && err.contains("has 2"), "{err}");

    let mut cfg = quick_config();
    cfg["model_cfg"]["embed_dim"] = 20.into();
    let err = open_err(&folder_with("embed", Some(&cfg.to_string())));
    assert!(err.contains("visual_projection.weight") && err.contains("20"), "{err}");

    let mut cfg = quick_config();
    cfg["model_cfg"]["text_cfg"]["heads"] = 3.into();
    let err = open_err(&folder_with("heads", Some(&cfg.to_string())));
    assert!(err.contains("heads") && err.contains("not divisible"), "{err}");
}

#[test]
fn unknown_openclip_architectures_are_refused_with_what_was_found() {
    let cases: [(&str, serde_json::Value, &str); 5] = [
        ("convnext", serde_json::json!({"timm_model_name": "convnext_base", "image_size": 256}), "timm model `convnext_base`"),
        ("resnet", serde_json::json!({"layers": [3, 4, 6, 3], "width": 64, "image_size": 224}), "ResNet"),
        ("layerscale", serde_json::json!({"layers": 2, "width": 32, "head_width": 16, "patch_size": 8, "image_size": 32, "ls_init_value": 1e-5}), "layer scale"),
        ("pool", serde_json::json!({"layers": 2, "width": 32, "head_width": 16, "patch_size": 8, "image_size": 32, "pool_type": "avg"}), "pool_type"),
        ("bilinear", serde_json::Value::Null, "interpolation"),
    ];
    for (name, vision, want) in cases {
        let mut cfg = quick_config();
        if vision.is_null() {
            cfg["preprocess_cfg"]["interpolation"] = "bilinear".into();
        } else {
            cfg["model_cfg"]["vision_cfg"] = vision;
        }
        let err = open_err(&folder_with(name, Some(&cfg.to_string())));
        assert!(err.contains(want) && err.contains("open_clip_config.json"), "{name}: {err}");
        if name != "bilinear" {
            assert!(err.contains("supported are"), "{name}: {err}");
        }
    }
    let mut cfg = quick_config();
    cfg["model_cfg"]["text_cfg"] = serde_json::json!({"hf_model_name": "xlm-roberta-base"});
    let err = open_err(&folder_with("hftext", Some(&cfg.to_string())));
    assert!(err.contains("xlm-roberta-base") && err.contains("supported are"), "{err}");
    let mut cfg = quick_config();
    cfg["model_cfg"]["init_logit_bias"] = (-10).into();
    let err = open_err(&folder_with("siglip", Some(&cfg.to_string())));
    assert!(err.contains("SigLIP"), "{err}");

    // Without a config to say so, the tensor names do: a ConvNeXt (timm trunk) and a ResNet file.
    for (name, tensors, want) in [
        ("trunk", ["visual.trunk.stem.0.weight", "visual.head.proj.weight"], "timm image tower"),
        ("rn50", ["visual.conv1.weight", "visual.layer1.0.conv1.weight"], "ResNet"),
    ] {
        let t = HostTensor::f32(vec![4, 4], vec![0.0; 16]);
        let list: Vec<(&str, &HostTensor)> = tensors.iter().map(|n| (*n, &t)).collect();
        let bytes = wiseft::checkpoint::safetensors::write(list).unwrap();
        let dir = temp_dir(name);
        std::fs::write(dir.join("open_clip_model.safetensors"), bytes).unwrap();
        let err = open_err(&dir);
        assert!(err.contains(want) && err.contains(&format!("tensor `{}`", tensors[usize::from(name == "rn50")])) && err.contains("supported are"), "{name}: {err}");
    }
}

#[test]
fn openclip_file_names_are_found_in_folders_and_on_the_hub() {
    let names: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture("openclip/hub_names.json")).unwrap()).unwrap();
    assert_eq!(openclip::WEIGHT_FILES, [names["weights_safetensors"].as_str().unwrap(), names["weights_pickle"].as_str().unwrap()]);
    assert_eq!(openclip::CONFIG_FILE, names["config"].as_str().unwrap());
    for f in openclip::WEIGHT_FILES {
        assert!(wiseft::checkpoint::WEIGHT_FILES.contains(&f), "{f}");
    }
    assert!(SideFiles::NAMES.contains(&openclip::CONFIG_FILE));
    // A folder with the pickled OpenCLIP weights only is found and read.
    let ft = Checkpoint::open(&fixture("openclip/quick_ft")).unwrap();
    assert!(ft.name.ends_with("open_clip_pytorch_model.bin"));
}

/// The page's OpenCLIP preset points at the files open_clip itself reads from that hub
/// repository (`hf_hub` of ViT-B-32 laion2b_s34b_b79k in open_clip.pretrained, its file-name
/// constants), at `resolve/<revision>/<file>` URLs.
#[test]
fn the_pages_openclip_preset_names_the_hub_files_open_clip_reads() {
    let names: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture("openclip/hub_names.json")).unwrap()).unwrap();
    let repo = names["vit_b_32_laion2b_s34b_b79k"].as_str().unwrap();
    let presets: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("www/presets.json")).unwrap()).unwrap();
    let model = presets["models"]
        .as_object()
        .unwrap()
        .values()
        .find(|m| m["name"].as_str().is_some_and(|n| n.contains(repo)))
        .unwrap_or_else(|| panic!("no model of {repo} in www/presets.json"));
    let urls: Vec<&str> = model["urls"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
    let prefix = format!("https://huggingface.co/{repo}/resolve/main/");
    let files: Vec<&str> = urls.iter().map(|u| u.strip_prefix(&prefix).unwrap_or_else(|| panic!("{u} is not under {prefix}"))).collect();
    assert_eq!(files, [names["weights_safetensors"].as_str().unwrap(), names["weights_pickle"].as_str().unwrap()]);
    // The config is fetched from beside the weights under open_clip's name.
    assert_eq!(wiseft::hub::sibling_url(urls[0], openclip::CONFIG_FILE), format!("{prefix}{}", names["config"].as_str().unwrap()));
    let key = presets["models"].as_object().unwrap().iter().find(|(_, m)| *m == model).unwrap().0;
    assert!(
        presets["presets"].as_array().unwrap().iter().any(|p| p["zero_shot"].as_str() == Some(key.as_str())),
        "a preset uses {key}"
    );
}

/// `wiseft merge` of an OpenCLIP pair writes transformers' layout with a config.json and a
/// preprocessor_config.json; the merged file alone gives open_clip's merged probabilities (on
/// the pictures whose crop margin is even: transformers' processor floors an odd one).
#[test]
fn the_cli_merges_openclip_checkpoints_into_transformers_layout() {
    let out = temp_dir("cli-merge");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_wiseft"))
        .args(["merge", "--zero-shot"])
        .arg(fixture("openclip/quick_zs"))
        .arg("--fine-tuned")
        .arg(fixture("openclip/quick_ft"))
        .args(["--alpha", "0.35", "--output"])
        .arg(out.join("model.safetensors"))
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    let merged = Checkpoint::open(&out).unwrap();
    assert!(merged.tensors.keys().all(|k| !k.contains("resblocks")));
    assert!(matches!(merged.config_source, wiseft::clip::config::ConfigSource::File(ref f) if f.ends_with("config.json")));
    let reference = reference();
    let case = reference.cases.iter().find(|c| c.fine_tuned.as_deref() == Some("openclip/quick_ft") && c.alpha == 0.35).unwrap();
    let pair = ModelPair::new(merged, None).unwrap();
    let prep = pair.preprocess();
    let even: Vec<usize> = (0..reference.images.len()).filter(|i| !reference.images[*i].contains("odd_margin")).collect();
    let images: Vec<Vec<f32>> = even
        .iter()
        .map(|&i| preprocess::preprocess(&std::fs::read(fixture(&reference.images[i])).unwrap(), "x", &prep).unwrap())
        .collect();
    let engine = Engine::Cpu(CpuEngine::new(&pair, a(0.0)).unwrap());
    let mut wiseft = WiseFt::with_engine(pair, a(0.0), engine, String::new()).unwrap();
    let got = block_on(wiseft.classify(&images, &reference.labels, std::slice::from_ref(&reference.template))).unwrap();
    for (g, &i) in got.iter().zip(&even) {
        let d = max_abs_diff(g, &case.probs[i]);
        assert!(d <= PROB_TOL, "{}: {d}", reference.images[i]);
    }
}

/// A hub repository with OpenCLIP's files only (served locally with the hub's resolve URLs):
/// the resolver falls through transformers' names to open_clip_model.safetensors, fetches
/// open_clip_config.json (and not transformers' side files), and the folder loads.
#[test]
fn a_hub_repository_with_openclip_files_only_resolves_and_loads() {
    use common::http::{Server, Switches, TempDir};
    use wiseft::hub::download::{resolve_checkpoint_with, Cache, HfCache, Hub, NoProgress};
    use wiseft::hub::Source;
    let (files, cache_dir, hf) = (TempDir::new(), TempDir::new(), TempDir::new());
    for f in ["open_clip_model.safetensors", "open_clip_config.json"] {
        files.put(&format!("laion/tiny/resolve/main/{f}"), &std::fs::read(fixture("openclip/quick_zs").join(f)).unwrap());
    }
    let server = Server::start(&files.0, Switches::default());
    let cache = Cache::new(&cache_dir.0);
    let hub = Hub::new(server.endpoint(), HfCache::new(&hf.0));
    let source = Source::Hub { repo: "laion/tiny".into(), revision: "main".into() };
    let dir = resolve_checkpoint_with(&source, &hub, &cache, &mut NoProgress).unwrap();
    let paths: Vec<String> = server.requests().into_iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    let m = "/laion/tiny/resolve/main";
    assert_eq!(
        paths,
        [
            format!("HEAD {m}/model.safetensors"),
            format!("HEAD {m}/pytorch_model.bin"),
            format!("HEAD {m}/open_clip_model.safetensors"),
            format!("GET {m}/open_clip_model.safetensors"),
            format!("HEAD {m}/open_clip_config.json"),
            format!("GET {m}/open_clip_config.json"),
        ]
    );
    let ckpt = Checkpoint::open(&dir).unwrap();
    assert_eq!(ckpt.config, open("openclip/quick_zs").config);
    // A second run downloads nothing (the branch's commit is asked for); offline, no request at all.
    assert_eq!(resolve_checkpoint_with(&source, &hub, &cache, &mut NoProgress).unwrap(), dir);
    assert!(server.requests()[6..].iter().all(|r| r.method == "HEAD"));
    let n = server.requests().len();
    let offline = Hub { offline: true, ..hub.clone() };
    assert_eq!(resolve_checkpoint_with(&source, &offline, &cache, &mut NoProgress).unwrap(), dir);
    assert_eq!(server.requests().len(), n);
}
