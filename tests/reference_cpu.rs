//! The CPU engine against transformers: embeddings, probabilities at several α with one and with
//! several templates, for every fixture pair (tests/fixtures/reference/pair_*.json), with candle's
//! GEMM (native default) and with the SIMD GEMM (the browser's default, here on plain arrays).

mod common;

use common::*;
use pollster::block_on;
use wiseft::clip::preprocess;
use wiseft::engine::cpu::{CpuEngine, Matmul};
use wiseft::engine::Engine;
use wiseft::merge::ModelPair;
use wiseft::pipeline::WiseFt;

const PROB_TOL: f32 = 1e-4;
const COSINE_MIN: f64 = 0.99999;

fn check_pair(name: &str, matmul: Matmul) {
    let reference = PairReference::load(name);
    let pair = ModelPair::new(open(&reference.zero_shot), Some(open(&reference.fine_tuned))).unwrap();
    let prep = pair.preprocess();
    let images: Vec<Vec<f32>> = reference
        .images
        .iter()
        .map(|rel| {
            let bytes = std::fs::read(fixture(rel)).unwrap();
            preprocess::preprocess(&bytes, rel, &prep).unwrap()
        })
        .collect();
    let engine = Engine::Cpu(CpuEngine::with_matmul(&pair, a(0.0), matmul).unwrap());
    let mut wiseft = WiseFt::with_engine(pair, a(0.0), engine, String::new()).unwrap();

    for case in &reference.by_alpha {
        wiseft.set_alpha(a(case.alpha)).unwrap();
        assert!((wiseft.logit_scale() - case.logit_scale).abs() < 1e-6, "{name} α={}: logit_scale", case.alpha);

        let embeds = block_on(wiseft.encode_images(&images)).unwrap();
        for (i, (got, want)) in embeds.iter().zip(&case.image_embeds).enumerate() {
            let c = cosine(got, want);
            assert!(c >= COSINE_MIN, "{name} α={} image {}: cosine {c}", case.alpha, reference.images[i]);
        }
        let prompts: Vec<String> = case.text_embeds.keys().cloned().collect();
        let text = block_on(wiseft.encode_prompts(&prompts)).unwrap();
        for (prompt, got) in prompts.iter().zip(&text) {
            let c = cosine(got, &case.text_embeds[prompt]);
            assert!(c >= COSINE_MIN, "{name} α={} prompt {prompt:?}: cosine {c}", case.alpha);
        }

        for (set, want) in &case.probs {
            let got = block_on(wiseft.classify(&images, &reference.labels, reference.template_set(set))).unwrap();
            for (i, (g, w)) in got.iter().zip(want).enumerate() {
                let d = max_abs_diff(g, w);
                assert!(d <= PROB_TOL, "{name} α={} {set} image {}: probs differ by {d}\n got {g:?}\nwant {w:?}", case.alpha, reference.images[i]);
            }
        }
    }
}

#[test]
fn pair_a_quick_gelu_f32_vision_only_fine_tune() {
    check_pair("pair_a", Matmul::Candle);
}

#[test]
fn pair_a_simd_gemm() {
    check_pair("pair_a", Matmul::Simd);
}

#[test]
fn pair_b_gelu_f16_bf16_odd_sizes_full_fine_tune() {
    check_pair("pair_b", Matmul::Candle);
}

#[test]
fn pair_b_simd_gemm() {
    check_pair("pair_b", Matmul::Simd);
}

#[test]
fn bad_text_inputs_are_errors() {
    let reference = PairReference::load("pair_a");
    let pair = ModelPair::new(open(&reference.zero_shot), Some(open(&reference.fine_tuned))).unwrap();
    for matmul in [Matmul::Candle, Matmul::Simd] {
        let engine = CpuEngine::with_matmul(&pair, a(0.5), matmul).unwrap();
        let err = engine.encode_texts(&[vec![49406, 49407]], &[5]).unwrap_err().to_string();
        assert!(err.contains("past"), "{err}");
        let err = engine.encode_texts(&[vec![49406, 49407]], &[]).unwrap_err().to_string();
        assert!(err.contains("pooled positions"), "{err}");
        let err = engine.encode_texts(&[vec![49406, 60000, 49407]], &[2]).unwrap_err().to_string();
        assert!(err.contains("vocabulary"), "{err}");
        assert!(engine.encode_texts(&[], &[]).unwrap().is_empty());
    }
}
