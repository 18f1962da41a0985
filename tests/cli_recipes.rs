//! `wiseft classify|merge --recipe FILE`, the same as flags, and `inspect --zero-shot`, end to end,
//! against the Python reference of scripts/gen_recipe_fixtures.py.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Output};

use common::*;
use serde_json::Value;

const FINE_TUNES: [&str; 3] = ["models/a_ft", "models/r_ft1", "models/r_ft2"];

fn wiseft(args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wiseft"));
    cmd.args(args).current_dir(fixtures());
    let cache = std::env::temp_dir().join(format!("wiseft-cli-test-cache-{}", std::process::id()));
    cmd.env("WISEFT_CACHE", &cache).env("WISEFT_HUB_ENDPOINT", "http://127.0.0.1:9");
    cmd.output().expect("wiseft runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "wiseft failed: {}", stderr(out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn reference() -> Value {
    serde_json::from_str(&std::fs::read_to_string(fixture("reference/recipes.json")).unwrap()).unwrap()
}

fn classify_probs(extra: &[&str]) -> Vec<Vec<f32>> {
    let r = reference();
    let labels: Vec<&str> = r["labels"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    let labels = labels.join(",");
    let mut args = vec!["classify", "--labels", &labels, "--device", "cpu", "--json"];
    args.extend_from_slice(extra);
    for t in r["templates"].as_array().unwrap() {
        args.extend(["--template", t.as_str().unwrap()]);
    }
    args.extend(r["images"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()));
    let out: Value = serde_json::from_str(&stdout(&wiseft(&args))).unwrap();
    out["results"].as_array().unwrap().iter().map(|r| serde_json::from_value(r["probs"].clone()).unwrap()).collect()
}

fn assert_probs(got: &[Vec<f32>], case: &str) {
    let want: Vec<Vec<f32>> = serde_json::from_value(reference()["cases"][case]["probs"].clone()).unwrap();
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        let d = max_abs_diff(g, w);
        assert!(d <= 1e-4, "{case}: probabilities differ by {d}: {g:?} vs {w:?}");
    }
}

#[test]
fn classify_with_a_recipe_file_matches_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let mut recipe = reference()["cases"]["ties"]["recipe"].clone();
    recipe["zero_shot"] = "models/a_zs".into();
    std::fs::write(dir.path().join("ties.json"), recipe.to_string().as_bytes()).unwrap();
    let file = dir.path().join("ties.json");
    assert_probs(&classify_probs(&["--recipe", file.to_str().unwrap()]), "ties");
}

#[test]
fn classify_with_flags_matches_the_reference() {
    let mut args = vec!["--zero-shot", "models/a_zs", "--method", "task-arithmetic", "--lambda", "0.3"];
    for f in FINE_TUNES {
        args.extend(["--fine-tuned", f]);
    }
    assert_probs(&classify_probs(&args), "task_arithmetic");
    let mut args = vec!["--zero-shot", "models/a_zs", "--method", "ties", "--top-k", "20"];
    for f in FINE_TUNES {
        args.extend(["--fine-tuned", f]);
    }
    assert_probs(&classify_probs(&args), "ties");
}

fn read_safetensors(path: &std::path::Path) -> BTreeMap<String, Vec<f32>> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors().into_iter().map(|(n, v)| (n, bytemuck::pod_collect_to_vec::<u8, f32>(v.data()))).collect()
}

#[test]
fn merge_writes_the_reference_merge() {
    let want = read_safetensors(&fixture("reference/recipes.safetensors"));
    let dir = tempfile::tempdir().unwrap();
    for (case, extra) in [("average", vec!["--method", "average"]), ("task_arithmetic_extrapolate", vec!["--lambda", "1.5"])] {
        let output = dir.path().join(format!("{case}/model.safetensors"));
        let fts: &[&str] = if case == "average" { &FINE_TUNES } else { &FINE_TUNES[..2] };
        let mut args = vec!["merge", "--zero-shot", "models/a_zs", "--output", output.to_str().unwrap()];
        for f in fts {
            args.extend(["--fine-tuned", f]);
        }
        args.extend(extra);
        let out = wiseft(&args);
        assert!(out.status.success(), "{case}: {}", stderr(&out));
        assert!(stderr(&out).contains("‖θ − θ₀‖/‖θ₀‖"), "{}", stderr(&out));
        assert!(output.with_file_name("config.json").exists());
        let got = read_safetensors(&output);
        let mut compared = 0;
        for (name, w) in want.iter().filter_map(|(k, v)| k.strip_prefix(&format!("{case}/")).map(|n| (n, v))) {
            let g = &got[name];
            let scale = w.iter().fold(0f32, |m, x| m.max(x.abs()));
            let d = max_abs_diff(g, w) / scale;
            assert!(d <= 1e-6, "{case}: `{name}` differs by {d:e} relative");
            compared += 1;
        }
        assert!(compared > 10, "{case}: {compared} tensors compared");
    }
}

#[test]
fn merge_with_alpha_alone_is_todays_merge() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("m.safetensors");
    let out = wiseft(&["merge", "--zero-shot", "models/a_zs", "--fine-tuned", "models/a_ft", "--alpha", "0.35", "--output", output.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!stderr(&out).contains("recipe:"), "--alpha alone took the recipe path: {}", stderr(&out));
}

#[test]
fn inspect_compares_with_the_zero_shot_model() {
    let text = stdout(&wiseft(&["inspect", "--zero-shot", "models/a_zs", "models/r_ft1", "models/r_ft2"]));
    assert!(text.contains("same shapes as the zero-shot model: yes"), "{text}");
    assert!(text.contains("changes logit_scale"), "{text}");
    assert!(text.contains("‖θ − θ₀‖/‖θ₀‖ = 0.0"), "{text}");
    assert_eq!(text.matches("against the zero-shot model").count(), 2, "{text}");
    // Another architecture: the shapes differ, and it says which.
    let text = stdout(&wiseft(&["inspect", "--zero-shot", "models/a_zs", "models/b_ft"]));
    assert!(text.contains("same shapes as the zero-shot model: NO"), "{text}");
}

#[test]
fn bad_recipes_are_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.json"), b"{}").unwrap();
    std::fs::write(dir.path().join("bad.json"), br#"{"version": 1, "method": "task-arithmetic", "lambda": "lots"}"#).unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (vec!["--recipe".into(), dir.path().join("empty.json").display().to_string()], "empty"),
        (vec!["--recipe".into(), dir.path().join("bad.json").display().to_string()], "`lambda`"),
        (vec!["--method".into(), "ties".into(), "--alpha".into(), "0.3".into()], "--alpha is not a coefficient of `ties`"),
        (vec!["--method".into(), "wise-ft".into()], "one fine-tuned checkpoint"),
        (vec!["--method".into(), "ties".into(), "--top-k".into(), "0".into()], "`top_k`"),
        (vec!["--lambda".into(), "30".into()], "λ must lie"),
    ];
    for (extra, want) in cases {
        let mut args: Vec<&str> = vec!["classify", "--zero-shot", "models/a_zs", "--fine-tuned", FINE_TUNES[0], "--fine-tuned", FINE_TUNES[1], "--labels", "a,b"];
        args.extend(extra.iter().map(String::as_str));
        args.push("images/photo.png");
        let out = wiseft(&args);
        assert!(!out.status.success(), "{extra:?} succeeded");
        assert!(stderr(&out).contains(want), "{extra:?}: {}", stderr(&out));
    }
    // A fine-tune of another architecture names the checkpoint and the tensor.
    let out = wiseft(&["classify", "--zero-shot", "models/a_zs", "--fine-tuned", "models/a_ft", "--fine-tuned", "models/b_ft", "--labels", "a,b", "images/photo.png"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("b_ft") && stderr(&out).contains("merge: tensor `"), "{}", stderr(&out));
}
