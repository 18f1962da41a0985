//! `wiseft sweep` end to end on the shipped samples with the built-in pair: its accuracies equal
//! `wiseft classify` at each α, its CSV and JSON carry the same rules, the multi-task samples'
//! named sets (task/<name>/<label>/) get a curve each, and bad folders or arguments are refused
//! with a message.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn wiseft(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wiseft")).args(args).current_dir(root()).output().expect("wiseft runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const TASK: &str = "www/samples/toy/task";
const SHIFT: &str = "www/samples/toy/shift";

fn photos_of(dir: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for label in std::fs::read_dir(root().join(dir)).unwrap() {
        let label = label.unwrap().path();
        for f in std::fs::read_dir(&label).unwrap() {
            out.push((f.unwrap().path().display().to_string(), label.file_name().unwrap().to_string_lossy().into_owned()));
        }
    }
    out
}

/// Correct top-1 count of `classify --json --alpha` on a set's photos.
fn classify_correct(dir: &str, alpha: &str) -> usize {
    correct_of(&photos_of(dir), alpha)
}

/// Correct top-1 count of `classify --json --alpha` on (path, true label) pairs.
fn correct_of(photos: &[(String, String)], alpha: &str) -> usize {
    let mut args = vec!["classify", "--json", "--device", "cpu", "--alpha", alpha];
    args.extend(photos.iter().map(|(p, _)| p.as_str()));
    let out = wiseft(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = json["results"].as_array().unwrap();
    results.iter().zip(photos).filter(|(r, (_, label))| r["top"].as_str() == Some(label)).count()
}

#[test]
fn sweep_on_the_samples_equals_classify_and_its_csv_carries_the_rules() {
    let base = ["sweep", "--task", TASK, "--shift", SHIFT, "--alphas", "0,0.5,1", "--device", "cpu"];
    let out = wiseft(&[&base[..], &["--json"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("sweep: α = 1 done (3 of 3)"), "progress on stderr: {}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let rules = &json["rules"];
    let (n_task, n_shift) = (photos_of(TASK).len(), photos_of(SHIFT).len());
    for (k, alpha) in ["0", "0.5", "1"].iter().enumerate() {
        let row = &rules["alphas"][k];
        let task = row["task_accuracy"].as_f64().unwrap();
        let shift = row["shift_accuracy"].as_f64().unwrap();
        assert_eq!((task * n_task as f64).round() as usize, classify_correct(TASK, alpha), "task at α = {alpha}");
        assert_eq!((shift * n_shift as f64).round() as usize, classify_correct(SHIFT, alpha), "shift at α = {alpha}");
    }
    assert_eq!(rules["label_free"], "shift-labels-hidden");
    assert_eq!(rules["rules"][0]["alpha"], 0.5, "rule (a)");
    assert!(rules["verdict"].as_str().unwrap().contains("served"), "{}", rules["verdict"]);

    // The CSV: a row per set and α, per photo and α, per α of the label-free columns, per rule;
    // its rule rows are the JSON's.
    let out = wiseft(&[&base[..], &["--csv"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let count = |kind: &str| rows.iter().filter(|r| r[0] == kind).count();
    assert_eq!((count("set"), count("photo"), count("alpha"), count("rule")), (6, 3 * (n_task + n_shift), 3, 5));
    assert!(!head.contains(&"named_set") && count("best") == 0, "no named sets, no named-set column or rows: {head:?}");
    assert!(json.get("curves").is_none() && json["photos"][0].get("named_set").is_none(), "nor keys in the JSON");
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    for (r, want) in rows.iter().filter(|r| r[0] == "rule").zip(rules["rules"].as_array().unwrap()) {
        assert_eq!(r[col("rule")], want["rule"].as_str().unwrap());
        // serde_json reads floats to within an ulp (no float_roundtrip feature): compare so.
        let same = |a: &str, b: &Value| (a.parse::<f64>().unwrap() - b.as_f64().unwrap()).abs() < 1e-12;
        assert!(same(r[col("alpha")], &want["alpha"]), "{}: α", want["rule"]);
        assert!(same(r[col("shift_accuracy")], &want["shift_accuracy"]), "{}: shift accuracy", want["rule"]);
        assert!(same(r[col("loss_vs_oracle")], &want["loss_vs_oracle"]), "{}: loss", want["rule"]);
    }

    // The default output: both tables and the sentence.
    let out = wiseft(&base);
    let table = text(&out.stdout);
    for want in ["best on the task set", "lowest entropy (label-free)", "agreement-on-the-line", "oracle", "For this audience"] {
        assert!(table.contains(want), "{want}: {table}");
    }
}

const MULTI_TASK: &str = "www/samples/toy-multitask/task";
const MULTI_SHIFT: &str = "www/samples/toy-multitask/shift";

/// The multi-task samples' named sets: name → (path, true label) of its photos.
fn named_sets_of(dir: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut out = Vec::new();
    for set in std::fs::read_dir(root().join(dir)).unwrap() {
        let set = set.unwrap().path();
        let name = set.file_name().unwrap().to_string_lossy().into_owned();
        // A named set holds label folders only (a label folder holds photos; an empty one neither).
        let entries: Vec<_> = std::fs::read_dir(&set).unwrap().map(|e| e.unwrap().path()).collect();
        if !entries.is_empty() && entries.iter().all(|e| e.is_dir()) {
            out.push((name.clone(), photos_of(&format!("{dir}/{name}"))));
        }
    }
    out.sort();
    out
}

/// One curve per named set: at each α its counts equal `wiseft classify` on that named set's
/// photos; the CSV has its rows and best α; the table prints them.
#[test]
fn each_named_set_of_the_multi_task_samples_equals_classify() {
    let named = named_sets_of(MULTI_TASK);
    assert_eq!(named.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(), ["pixelated", "sketch", "striped"]);
    let base = ["sweep", "--task", MULTI_TASK, "--shift", MULTI_SHIFT, "--alphas", "0,0.5,1", "--device", "cpu"];
    let out = wiseft(&[&base[..], &["--json"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let curves = json["curves"].as_array().expect("curves with named sets");
    let sets: Vec<(&str, Option<&str>)> = curves.iter().map(|c| (c["set"].as_str().unwrap(), c["name"].as_str())).collect();
    assert_eq!(sets, [("task", None), ("shift", None), ("task", Some("pixelated")), ("task", Some("sketch")), ("task", Some("striped"))]);
    for (c, (name, photos)) in curves[2..].iter().zip(&named) {
        assert_eq!(c["label"], name.as_str());
        for (k, alpha) in ["0", "0.5", "1"].iter().enumerate() {
            let p = &c["points"][k];
            assert_eq!(p["n"], photos.len(), "{name}: every photo counted");
            assert_eq!(p["correct"].as_u64().unwrap() as usize, correct_of(photos, alpha), "{name} at α = {alpha}");
        }
    }
    let photo = json["photos"].as_array().unwrap().iter().find(|p| p["path"].as_str().unwrap().contains("/striped/")).unwrap();
    assert_eq!(photo["named_set"], "striped");

    let out = wiseft(&[&base[..], &["--csv"]].concat());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let csv = text(&out.stdout);
    let mut lines = csv.lines();
    let head: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(head.last(), Some(&"named_set"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    let col = |name: &str| head.iter().position(|h| *h == name).unwrap();
    for (c, (name, _)) in curves[2..].iter().zip(&named) {
        let set_rows: Vec<&Vec<&str>> = rows.iter().filter(|r| r[0] == "set" && r[col("named_set")] == name).collect();
        let correct: Vec<u64> = set_rows.iter().map(|r| r[col("correct")].parse().unwrap()).collect();
        let want: Vec<u64> = c["points"].as_array().unwrap().iter().map(|p| p["correct"].as_u64().unwrap()).collect();
        assert_eq!(correct, want, "{name}: the CSV's set rows are the curve's");
        let best: Vec<f64> = rows.iter().filter(|r| r[0] == "best" && r[col("named_set")] == name).map(|r| r[col("alpha")].parse().unwrap()).collect();
        let want: Vec<f64> = c["best"].as_array().unwrap().iter().map(|a| a.as_f64().unwrap()).collect();
        assert_eq!(best, want, "{name}: the CSV's best rows");
    }

    let out = wiseft(&base);
    let table = text(&out.stdout);
    assert!(table.contains("named sets, accuracy %"), "{table}");
    for (c, (name, _)) in curves[2..].iter().zip(&named) {
        let at: Vec<String> = c["best"].as_array().unwrap().iter().map(|a| a.as_f64().unwrap().to_string()).collect();
        let want = format!("best α for “{name}” (16 photos, fine-tuning task): {}", at.join(", "));
        assert!(table.contains(&want), "{want}: {table}");
    }
}

fn folder(root: &Path, rel: &str, copy_from: &str) {
    let dir = root.join(rel);
    std::fs::create_dir_all(&dir).unwrap();
    let src = self::root().join(copy_from);
    std::fs::copy(&src, dir.join(src.file_name().unwrap())).unwrap();
}

#[test]
fn bad_folders_and_arguments_say_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    folder(t, "task/circle", "www/samples/toy/task/circle/photo-0.png");
    folder(t, "odd/banana", "www/samples/toy/task/circle/photo-0.png");
    folder(t, "flat", "www/samples/toy/task/circle/photo-0.png");
    std::fs::create_dir_all(t.join("empty")).unwrap();
    let p = |rel: &str| t.join(rel).display().to_string();

    let fails = |args: &[&str], want: &str| {
        let out = wiseft(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let err = text(&out.stderr);
        assert!(err.contains(want), "{args:?}: want {want:?} in: {err}");
    };
    fails(&["sweep", "--task", &p("odd")], "folder `banana` is none of the labels");
    // A named set's folders are labels too; a photo directly in a named set has no label.
    folder(t, "named/striped/banana", "www/samples/toy/task/circle/photo-0.png");
    fails(&["sweep", "--task", &p("named")], "named/striped: folder `banana` is none of the labels");
    folder(t, "loose/striped/circle", "www/samples/toy/task/circle/photo-0.png");
    folder(t, "loose/striped", "www/samples/toy/task/circle/photo-0.png");
    fails(&["sweep", "--task", &p("loose")], "named set `striped` holds photo `photo-0.png` outside its label folders");
    fails(&["sweep", "--task", &p("empty")], "no photos");
    fails(&["sweep", "--task", &p("nowhere")], "not a folder");
    fails(&["sweep", "--task", &p("task"), "--alphas", "0:1:x"], "`x` is not a number");
    fails(&["sweep", "--task", &p("task"), "--alphas", "0,1.5"], "α must lie in [0, 1]");
    // Photos directly in the task folder have no label: the rules say so (exit 2).
    let out = wiseft(&["sweep", "--task", &p("flat"), "--alphas", "0,1", "--device", "cpu"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("the task set is empty"), "{}", text(&out.stderr));
    // One labelled photo and no shift set: the label-free rules and the oracle say what they need.
    let out = wiseft(&["sweep", "--task", &p("task"), "--alphas", "0,0.5,1", "--device", "cpu", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors: Vec<&str> = json["rules"]["rules"].as_array().unwrap().iter().filter_map(|r| r["error"].as_str()).collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(errors[0].contains("unlabeled pictures or a shift set"));
    assert!(errors[2].contains("labels on the shift set"));
}

/// `--layerwise`: the schedule starts at the lowest-entropy α, never ends worse, and says how long
/// it will take before it starts.
#[test]
fn layerwise_search_starts_at_the_entropy_rule_and_never_ends_worse() {
    let out = wiseft(&["sweep", "--task", "www/samples/toy/task", "--shift", "www/samples/toy/shift", "--alphas", "0:1:0.25", "--layerwise", "--knots", "2", "--json", "--device", "cpu"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("forward passes over"), "the cost is said before starting: {}", text(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let l = &json["layerwise"];
    let rule = json["rules"]["rules"].as_array().unwrap().iter().find(|r| r["rule"] == "min-entropy").unwrap();
    assert_eq!(l["start_alpha"], rule["alpha"]);
    let entropy_at_start = json["rules"]["alphas"].as_array().unwrap().iter().find(|a| a["alpha"] == rule["alpha"]).unwrap()["entropy"].as_f64().unwrap();
    assert!((l["start_entropy"].as_f64().unwrap() - entropy_at_start).abs() < 1e-5, "equal knots are the single α: {l}");
    assert_eq!(l["knots"].as_array().unwrap().len(), 2);
    assert!(l["entropy"].as_f64().unwrap() <= l["start_entropy"].as_f64().unwrap());
    assert!(l["evaluations"].as_u64().unwrap() <= 1 + 2 * 2 * 11, "2 rounds × 2 knots × 11 grid values after the start");
    for key in ["task_accuracy", "shift_accuracy"] {
        assert!((0.0..=1.0).contains(&l[key].as_f64().unwrap()), "{key}");
    }
    let bad = wiseft(&["sweep", "--task", "www/samples/toy/task", "--layerwise", "--knots", "1"]);
    assert!(!bad.status.success() && text(&bad.stderr).contains("knots"), "{}", text(&bad.stderr));
}
