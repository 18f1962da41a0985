//! The WiSE-FT merge against the reference merge of scripts/gen_fixtures.py.

mod common;

use std::collections::BTreeMap;

use common::*;
use serde::Deserialize;
use wiseft::checkpoint::tensor::Values;
use wiseft::checkpoint::HostTensor;
use wiseft::merge::MergePlan;
use wiseft::Error;

#[derive(Deserialize)]
struct TensorRef {
    shape: Vec<usize>,
    sha256: String,
}

#[derive(Deserialize)]
struct MergedRef {
    alpha: f64,
    interpolated: Vec<String>,
    kept: Vec<String>,
    extra: Vec<String>,
    tensors: BTreeMap<String, TensorRef>,
}

fn bits(t: &HostTensor) -> Vec<u8> {
    t.to_le_bytes()
}

fn check(pair: &str, zs: &str, ft: &str) {
    let text = std::fs::read_to_string(fixture(&format!("reference/merged_{pair}_0.35.json"))).unwrap();
    let reference: MergedRef = serde_json::from_str(&text).unwrap();
    let (zs, ft) = (open(zs), open(ft));
    let plan = MergePlan::new(&zs, Some(&ft)).unwrap();
    assert_eq!(plan.report.interpolated, reference.interpolated);
    assert_eq!(plan.report.kept, reference.kept);
    assert_eq!(plan.report.extra, reference.extra);

    let merged = plan.merge(&zs, Some(&ft), a(reference.alpha)).unwrap();
    assert_eq!(merged.len(), reference.tensors.len());
    for (name, want) in &reference.tensors {
        let got = &merged[name];
        assert_eq!(got.shape, want.shape, "{name}");
        assert_eq!(sha256_hex(&bits(got)), want.sha256, "{pair}: merged `{name}` differs from the reference merge");
    }

    // The end points are the original weights, bit for bit.
    let at0 = plan.merge(&zs, Some(&ft), a(0.0)).unwrap();
    let at1 = plan.merge(&zs, Some(&ft), a(1.0)).unwrap();
    for (name, t) in &zs.tensors {
        assert_eq!(bits(&at0[name]), bits(t), "α=0 `{name}`");
        let expect = ft.tensors.get(name).filter(|_| reference.interpolated.contains(name)).unwrap_or(t);
        assert_eq!(bits(&at1[name]), bits(expect), "α=1 `{name}`");
    }
}

#[test]
fn vision_only_fine_tune_interpolates_vision_and_keeps_text() {
    check("a", "models/a_zs", "models/a_ft");
}

#[test]
fn full_fine_tune_with_head_interpolates_all_and_reports_extra() {
    check("b", "models/b_zs", "models/b_ft");
}

#[test]
fn shape_mismatch_names_the_tensor_and_both_shapes() {
    let zs = open("models/a_zs");
    let mut ft = open("models/a_ft");
    let name = "vision_model.encoder.layers.1.mlp.fc1.weight";
    ft.tensors.insert(name.into(), HostTensor::f32(vec![3, 5], vec![0.0; 15]));
    match MergePlan::new(&zs, Some(&ft)) {
        Err(Error::Merge { tensor, msg }) => {
            assert_eq!(tensor, name);
            assert!(msg.contains("64×32") && msg.contains("3×5"), "{msg}");
        }
        other => panic!("expected a merge error, got {:?}", other.map(|p| p.report)),
    }
}

#[test]
fn alpha_outside_unit_interval_is_refused() {
    let zs = open("models/a_zs");
    let ft = open("models/a_ft");
    MergePlan::new(&zs, Some(&ft)).unwrap();
    // A merge takes an `Alpha`, which cannot hold these: they are refused where they enter.
    for alpha in [-0.1, 1.5, f64::NAN] {
        assert!(matches!(wiseft::merge::Alpha::new(alpha), Err(Error::Invalid(_))), "α={alpha}");
    }
}

#[test]
fn kept_tensors_are_shared_not_copied() {
    let zs = open("models/a_zs");
    let ft = open("models/a_ft");
    let plan = MergePlan::new(&zs, Some(&ft)).unwrap();
    let name = "text_model.embeddings.token_embedding.weight";
    let merged = plan.tensor(name, &zs, Some(&ft), a(0.35)).unwrap();
    match (&merged.values, &zs.tensors[name].values) {
        (Values::F32(a), Values::F32(b)) => assert!(std::sync::Arc::ptr_eq(a, b)),
        _ => panic!("float tensor expected"),
    }
}
