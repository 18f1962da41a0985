//! Shared helpers of the integration tests: fixture paths and the reference files written by
//! scripts/gen_fixtures.py.
#![allow(dead_code)]

pub mod http;

use std::path::PathBuf;

use serde::Deserialize;
use wiseft::checkpoint::Checkpoint;

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn fixture(rel: &str) -> PathBuf {
    fixtures().join(rel)
}

pub fn open(rel: &str) -> Checkpoint {
    Checkpoint::open(&fixture(rel)).unwrap_or_else(|e| panic!("cannot open fixture {rel}: {e}"))
}

#[derive(Deserialize)]
pub struct Templates {
    pub single: Vec<String>,
    pub ensemble: Vec<String>,
}

#[derive(Deserialize)]
pub struct AlphaCase {
    pub alpha: f64,
    pub image_embeds: Vec<Vec<f32>>,
    pub text_embeds: std::collections::BTreeMap<String, Vec<f32>>,
    pub logit_scale: f32,
    pub probs: std::collections::BTreeMap<String, Vec<Vec<f32>>>,
}

#[derive(Deserialize)]
pub struct PairReference {
    pub zero_shot: String,
    pub fine_tuned: String,
    pub labels: Vec<String>,
    pub templates: Templates,
    pub images: Vec<String>,
    pub by_alpha: Vec<AlphaCase>,
}

impl PairReference {
    pub fn load(name: &str) -> Self {
        let path = fixture(&format!("reference/{name}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).unwrap()
    }

    pub fn template_set(&self, name: &str) -> &[String] {
        match name {
            "single" => &self.templates.single,
            "ensemble" => &self.templates.ensemble,
            other => panic!("unknown template set {other}"),
        }
    }
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum();
    let na: f64 = a.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb)
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}


/// SHA-256, lowercase hex: the library's, which merged files record their sources with.
pub fn sha256_hex(bytes: &[u8]) -> String {
    wiseft::checkpoint::provenance::sha256_hex(bytes)
}

/// α from a test's literal (checked, as everywhere it enters).
pub fn a(x: f64) -> wiseft::merge::Alpha {
    wiseft::merge::Alpha::new(x).unwrap_or_else(|e| panic!("{e}"))
}
