//! The built-in generated-world pair (www/models/toy, issue 6): the CLI without `--zero-shot` on the
//! shipped samples gives the predictions the PyTorch evaluation recorded in samples_expected.json,
//! and so the WiSE-FT picture of eval.json: task accuracy rises with α, the shift accuracy of the
//! α = 0.5 merge stays above the fine-tuned model's.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_json(rel: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(root().join(rel)).unwrap()).unwrap()
}

/// (image path relative to the repository, true label = its folder) for one sample set.
fn samples(set: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let dir = root().join("www/samples/toy").join(set);
    for label in std::fs::read_dir(&dir).unwrap() {
        let label = label.unwrap();
        for image in std::fs::read_dir(label.path()).unwrap() {
            let name = image.unwrap().file_name().into_string().unwrap();
            let label_name = label.file_name().into_string().unwrap();
            out.push((format!("www/samples/toy/{set}/{label_name}/{name}"), label_name));
        }
    }
    out.sort();
    out
}

/// Top label per image from `wiseft classify --json` with the built-in pair at α.
fn classify(images: &[(String, String)], alpha: f64) -> Vec<String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_wiseft"));
    cmd.current_dir(root()).args(["classify", "--alpha", &alpha.to_string(), "--device", "cpu", "--json"]);
    cmd.args(images.iter().map(|(p, _)| p));
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    json["results"].as_array().unwrap().iter().map(|r| r["top"].as_str().unwrap().to_string()).collect()
}

#[test]
fn built_in_pair_reproduces_the_recorded_evaluation() {
    let expected = read_json("www/models/toy/samples_expected.json");
    let alphas: Vec<f64> = expected["alpha"].as_array().unwrap().iter().map(|a| a.as_f64().unwrap()).collect();
    let mut accuracy = std::collections::BTreeMap::new();
    for set in ["task", "shift"] {
        let images = samples(set);
        assert_eq!(images.len() as u64, expected[set]["images"].as_u64().unwrap(), "{set}: sample count");
        let per_image = &expected[set]["per_image"];
        for (k, &alpha) in alphas.iter().enumerate() {
            let tops = classify(&images, alpha);
            let mut correct = 0;
            for ((path, truth), top) in images.iter().zip(&tops) {
                correct += (top == truth) as usize;
                let want = &per_image[path];
                // Near-ties (probability margin below 1e-3) may flip between implementations.
                if want["margin"][k].as_f64().unwrap() > 1e-3 {
                    assert_eq!(top, want["top"][k].as_str().unwrap(), "{path} at α={alpha}");
                }
            }
            let acc = correct as f64 / images.len() as f64;
            let want = expected[set]["accuracy"][k].as_f64().unwrap();
            assert!((acc - want).abs() < 1.5 / images.len() as f64, "{set} α={alpha}: accuracy {acc}, PyTorch {want}");
            accuracy.insert((set, k), acc);
        }
    }
    // The direction of eval.json, on the shipped samples.
    let last = alphas.len() - 1;
    let half = alphas.iter().position(|&a| a == 0.5).expect("α = 0.5 evaluated");
    assert!(accuracy[&("task", last)] > accuracy[&("task", 0)], "task accuracy rises from α=0 to α=1");
    assert!(accuracy[&("shift", half)] > accuracy[&("shift", last)], "shift accuracy at α=0.5 above α=1");
}

#[test]
fn eval_json_shows_the_wise_ft_effect() {
    let eval = read_json("www/models/toy/eval.json");
    let get = |key: &str| -> Vec<f64> { eval[key].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect() };
    let (alpha, task, shift) = (get("alpha"), get("task_accuracy"), get("shift_accuracy"));
    assert_eq!(alpha.len(), 21);
    let half = alpha.iter().position(|&a| (a - 0.5).abs() < 1e-9).unwrap();
    assert!(task[20] >= task[0] + 0.20, "fine-tuning gains at least 20 points on the task");
    assert!(shift[half] > shift[20] + 0.10, "the α=0.5 merge keeps shift accuracy well above the fine-tuned model's");
    assert!(task[20] - task[half] < 0.05, "and stays close to it on the task");
}
