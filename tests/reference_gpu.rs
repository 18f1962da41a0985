//! The GPU engine against the CPU engine (random pixels and token ids, any shape) and against
//! transformers (tests/fixtures/reference/pair_*.json), for both fixture pairs at α ∈ {0, 0.35, 1};
//! and the merge on the device: moving α re-merges without creating or uploading anything.
//! Runs natively on whatever adapter wgpu finds (CI: Mesa's lavapipe); no adapter is a failure.

mod common;

use common::*;
use pollster::block_on;
use wiseft::random::XorShift;
use wiseft::clip::head::ClassEmbeddings;
use wiseft::clip::preprocess;
use wiseft::clip::templates;
use wiseft::clip::tokenizer::{Tokenizer, CONTEXT_LENGTH};
use wiseft::engine::cpu::CpuEngine;
use wiseft::engine::gpu::{GpuEngine, GpuOptions};
use wiseft::clip::tokenizer::pooled_position;
use wiseft::merge::ModelPair;

const PROB_TOL: f32 = 1e-4;
const COSINE_MIN: f64 = 0.9999;
/// Against the CPU engine on the same inputs the two f32 forwards differ only in summation order.
const CPU_COSINE_MIN: f64 = 0.99999;

fn pair(name: &str) -> ModelPair {
    let reference = PairReference::load(name);
    ModelPair::new(open(&reference.zero_shot), Some(open(&reference.fine_tuned))).unwrap()
}

fn gpu(pair: &ModelPair, alpha: f64) -> GpuEngine {
    // Without any adapter the error says to install mesa-vulkan-drivers.
    block_on(GpuEngine::new(pair, a(alpha))).unwrap_or_else(|e| panic!("{e}"))
}

/// Deterministic values (xorshift) in [lo, hi).
fn values(n: usize, seed: u64, lo: f32, hi: f32) -> Vec<f32> {
    let mut rng = XorShift::seeded(seed);
    (0..n).map(|_| lo + (hi - lo) * rng.unit()).collect()
}

/// Random token rows: start token, random ids, end token at a random position, zero padding.
fn random_prompts(n: usize, seed: u64) -> (Vec<Vec<u32>>, Vec<usize>) {
    let r = values(n * 80, seed, 0.0, 1.0);
    let mut ids = Vec::new();
    let mut pooled = Vec::new();
    for i in 0..n {
        let row = &r[i * 80..(i + 1) * 80];
        let end = 1 + (row[0] * 40.0) as usize;
        let mut t = vec![0u32; CONTEXT_LENGTH];
        t[0] = 49406;
        for p in 1..end {
            t[p] = (row[p] * 49000.0) as u32;
        }
        t[end] = 49407;
        ids.push(t);
        pooled.push(end);
    }
    (ids, pooled)
}

fn assert_rows_close(got: &[Vec<f32>], want: &[Vec<f32>], min_cos: f64, what: &str) -> f64 {
    assert_eq!(got.len(), want.len(), "{what}: row count");
    let mut worst = 1.0f64;
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.len(), w.len(), "{what} row {i}: width");
        let c = cosine(g, w);
        worst = worst.min(c);
        assert!(c >= min_cos, "{what} row {i}: cosine {c}\n got {g:?}\nwant {w:?}");
    }
    worst
}

fn check_against_cpu(name: &str) {
    let pair = pair(name);
    let vision = pair.zero_shot.config.vision.clone().unwrap();
    let per = vision.num_channels * vision.image_size * vision.image_size;
    let mut engine = gpu(&pair, 0.0);
    eprintln!("{name}: {}", engine.describe());
    // 37 images and 70 prompts: more than one batch of each (32 images, 64 prompts per forward).
    let pixels = values(37 * per, 1, -1.8, 2.2);
    let (ids, pooled) = random_prompts(70, 2);
    for alpha in [0.0, 0.35, 1.0] {
        engine.set_alpha(&pair, a(alpha)).unwrap();
        let cpu = CpuEngine::new(&pair, a(alpha)).unwrap();
        for n in [1, 3, 37] {
            let got = block_on(engine.encode_images(&pixels[..n * per], n)).unwrap();
            let want = cpu.encode_images(&pixels[..n * per], n).unwrap();
            let worst = assert_rows_close(&got, &want, CPU_COSINE_MIN, &format!("{name} α={alpha} {n} images"));
            eprintln!("{name} α={alpha}: {n} images, worst cosine to CPU {worst:.9}");
        }
        for n in [1, 5, 70] {
            let got = block_on(engine.encode_texts(&ids[..n], &pooled[..n])).unwrap();
            let want = cpu.encode_texts(&ids[..n], &pooled[..n]).unwrap();
            let worst = assert_rows_close(&got, &want, CPU_COSINE_MIN, &format!("{name} α={alpha} {n} prompts"));
            eprintln!("{name} α={alpha}: {n} prompts, worst cosine to CPU {worst:.9}");
        }
    }
}

#[test]
fn pair_a_matches_the_cpu_engine() {
    check_against_cpu("pair_a");
}

#[test]
fn pair_b_matches_the_cpu_engine() {
    check_against_cpu("pair_b");
}

/// The pipeline's path (tokenizer, pooled positions, head) with the GPU engine, against transformers.
fn check_against_reference(name: &str) {
    let reference = PairReference::load(name);
    let pair = ModelPair::new(open(&reference.zero_shot), Some(open(&reference.fine_tuned))).unwrap();
    let prep = pair.preprocess();
    let images: Vec<f32> = reference
        .images
        .iter()
        .flat_map(|rel| {
            let bytes = std::fs::read(fixture(rel)).unwrap();
            preprocess::preprocess(&bytes, rel, &prep).unwrap()
        })
        .collect();
    let n_images = reference.images.len();
    let text = pair.zero_shot.config.text.clone().unwrap();
    let tokenizer = Tokenizer::shared();
    let encode_prompts = |engine: &GpuEngine, prompts: &[String]| {
        let context = text.max_position_embeddings.min(CONTEXT_LENGTH);
        let ids: Vec<Vec<u32>> = prompts.iter().map(|p| tokenizer.tokenize(p, context)).collect();
        let pooled: Vec<usize> = ids.iter().map(|r| pooled_position(r, text.eos_token_id)).collect();
        block_on(engine.encode_texts(&ids, &pooled)).unwrap()
    };
    let mut engine = gpu(&pair, 0.0);
    let (mut worst_image, mut worst_text, mut worst_prob) = (1.0f64, 1.0f64, 0.0f32);
    for case in &reference.by_alpha {
        engine.set_alpha(&pair, a(case.alpha)).unwrap();
        let logit_scale = pair.logit_scale(a(case.alpha)).unwrap();
        let embeds = block_on(engine.encode_images(&images, n_images)).unwrap();
        worst_image = worst_image.min(assert_rows_close(&embeds, &case.image_embeds, COSINE_MIN, &format!("{name} α={} images", case.alpha)));
        let prompts: Vec<String> = case.text_embeds.keys().cloned().collect();
        let got = encode_prompts(&engine, &prompts);
        let want: Vec<Vec<f32>> = prompts.iter().map(|p| case.text_embeds[p].clone()).collect();
        worst_text = worst_text.min(assert_rows_close(&got, &want, COSINE_MIN, &format!("{name} α={} prompts", case.alpha)));

        for (set, want) in &case.probs {
            let set_templates = reference.template_set(set);
            let prompts: Vec<String> =
                reference.labels.iter().flat_map(|l| set_templates.iter().map(move |t| templates::fill(t, l))).collect();
            let classes = ClassEmbeddings::from_prompts(&reference.labels, set_templates.len(), &encode_prompts(&engine, &prompts));
            for (i, (e, w)) in embeds.iter().zip(want).enumerate() {
                let g = classes.probabilities(e, logit_scale);
                let d = max_abs_diff(&g, w);
                worst_prob = worst_prob.max(d);
                assert!(d <= PROB_TOL, "{name} α={} {set} image {}: probs differ by {d}\n got {g:?}\nwant {w:?}", case.alpha, reference.images[i]);
            }
        }
    }
    eprintln!("{name} vs transformers: worst image cosine {worst_image:.9}, worst text cosine {worst_text:.9}, worst prob diff {worst_prob:e}");
}

#[test]
fn pair_a_matches_transformers() {
    check_against_reference("pair_a");
}

#[test]
fn pair_b_matches_transformers() {
    check_against_reference("pair_b");
}

#[test]
fn set_alpha_merges_on_the_device_without_uploading() {
    for name in ["pair_a", "pair_b"] {
        let pair = pair(name);
        let vision = pair.zero_shot.config.vision.clone().unwrap();
        let per = vision.num_channels * vision.image_size * vision.image_size;
        let pixels = values(2 * per, 7, -1.5, 1.5);
        let (ids, pooled) = random_prompts(3, 8);
        let mut engine = gpu(&pair, 0.0);
        assert_eq!(engine.merged_tensors(), pair.plan.report.interpolated.len(), "{name}: one merged buffer per interpolated tensor");
        // Warm the plans so that their (one-time) creation is not counted below.
        let img0 = block_on(engine.encode_images(&pixels, 2)).unwrap();
        let txt0 = block_on(engine.encode_texts(&ids, &pooled)).unwrap();
        let before = engine.stats();

        engine.set_alpha(&pair, a(0.35)).unwrap();
        let img1 = block_on(engine.encode_images(&pixels, 2)).unwrap();
        let txt1 = block_on(engine.encode_texts(&ids, &pooled)).unwrap();
        let after = engine.stats();

        assert_eq!(after.buffers_created, before.buffers_created, "{name}: set_alpha + forwards created buffers");
        assert_eq!(after.weight_bytes_uploaded, before.weight_bytes_uploaded, "{name}: set_alpha re-uploaded weights");
        assert_eq!(after.param_bytes_uploaded - before.param_bytes_uploaded, 16, "{name}: an α change uploads one 16-byte parameter block");
        assert_eq!(after.merges, before.merges + 1, "{name}: one merge per α change");
        assert_ne!(img0, img1, "{name}: α moved but the image embeddings did not");
        if name == "pair_a" {
            // A vision-only fine-tune: the text tower is the zero-shot one at every α, bound from
            // the zero-shot buffers.
            assert_eq!(txt0, txt1, "{name}: the text tower moved with α");
        } else {
            assert_ne!(txt0, txt1, "{name}: α moved but the text embeddings did not");
        }
        // The merge matches the CPU engine at the new α.
        let cpu = CpuEngine::new(&pair, a(0.35)).unwrap();
        assert_rows_close(&img1, &cpu.encode_images(&pixels, 2).unwrap(), CPU_COSINE_MIN, name);
        eprintln!("{name}: {:?}; plans {:?}", after, engine.plan_summary());
    }
}

#[test]
fn bad_inputs_are_errors() {
    let pair = pair("pair_a");
    let engine = gpu(&pair, 0.5);
    let err = block_on(engine.encode_images(&[0.0; 10], 1)).unwrap_err().to_string();
    assert!(err.contains("per image"), "{err}");
    let err = block_on(engine.encode_texts(&[vec![49406, 60000, 49407]], &[2])).unwrap_err().to_string();
    assert!(err.contains("vocabulary"), "{err}");
    let err = block_on(engine.encode_texts(&[vec![49406, 49407]], &[5])).unwrap_err().to_string();
    assert!(err.contains("past"), "{err}");
    assert!(block_on(engine.encode_images(&[], 0)).unwrap().is_empty());
    assert!(block_on(engine.encode_texts(&[], &[])).unwrap().is_empty());
}

#[test]
fn a_lost_device_is_an_error() {
    let pair = pair("pair_b");
    let mut engine = gpu(&pair, 0.5);
    let (ids, pooled) = random_prompts(2, 3);
    block_on(engine.encode_texts(&ids, &pooled)).unwrap();
    assert!(!engine.is_lost());
    engine.lose_device();
    let err = block_on(engine.encode_texts(&ids, &pooled)).unwrap_err().to_string();
    assert!(engine.is_lost(), "the engine knows its device is gone (the worker rebuilds it then)");
    assert!(engine.lost_reason().is_some_and(|r| r.contains("Destroyed")), "{:?}", engine.lost_reason());
    assert!(err.contains("lost"), "{err}");
    eprintln!("after device loss: {err}");
    let err = engine.set_alpha(&pair, a(0.7)).unwrap_err().to_string();
    assert!(err.contains("lost"), "{err}");
}

#[test]
fn f16_weights_stay_close_to_f32() {
    for name in ["pair_a", "pair_b"] {
        let pair = pair(name);
        let engine = block_on(GpuEngine::with_options(&pair, a(0.35), GpuOptions { f16_weights: true, ..GpuOptions::default() })).unwrap();
        if !engine.adapter().shader_f16 {
            assert!(!engine.f16_weights());
            eprintln!("{}: no shader-f16, f16 weights not tried", engine.adapter().name);
            return;
        }
        assert!(engine.f16_weights(), "{}", engine.describe());
        let f32_engine = gpu(&pair, 0.35);
        assert!(engine.stats().weight_bytes_uploaded < f32_engine.stats().weight_bytes_uploaded);
        let vision = pair.zero_shot.config.vision.clone().unwrap();
        let per = vision.num_channels * vision.image_size * vision.image_size;
        let pixels = values(5 * per, 11, -1.8, 2.2);
        let (ids, pooled) = random_prompts(9, 12);
        let cpu = CpuEngine::new(&pair, a(0.35)).unwrap();
        let images = block_on(engine.encode_images(&pixels, 5)).unwrap();
        let wi = assert_rows_close(&images, &cpu.encode_images(&pixels, 5).unwrap(), 0.999, &format!("{name} f16 images"));
        let texts = block_on(engine.encode_texts(&ids, &pooled)).unwrap();
        let wt = assert_rows_close(&texts, &cpu.encode_texts(&ids, &pooled).unwrap(), 0.999, &format!("{name} f16 prompts"));
        eprintln!(
            "{name}: {}; weights {} → {} bytes; worst cosine to the f32 CPU engine: images {wi:.7}, prompts {wt:.7}",
            engine.describe(),
            f32_engine.stats().weight_bytes_uploaded,
            engine.stats().weight_bytes_uploaded
        );
    }
}

/// The page's path: each tensor goes to the device as its bytes arrive (here in 1000-byte chunks,
/// decoded piece by piece: f32, f16 and bf16 files), large ones are never decoded on the host, and
/// the engine built from them computes exactly what the engine built from whole files does — with
/// f32 weights, and with f16 weights where the adapter has shader-f16.
#[test]
fn tensors_streamed_to_the_device_give_the_same_engine() {
    for name in ["pair_a", "pair_b"] {
        for f16_weights in [false, true] {
            streamed_engine_equals_file_engine(name, GpuOptions { f16_weights, ..GpuOptions::default() });
        }
    }
}

fn streamed_engine_equals_file_engine(name: &str, options: GpuOptions) {
    use wiseft::checkpoint::stream::StreamedCheckpoint;
    use wiseft::checkpoint::SideFiles;
    use wiseft::engine::gpu::GpuLoader;
    let reference = PairReference::load(name);
    let whole = pair(name);
    let mut loader = block_on(GpuLoader::new(options)).unwrap();
    let mut read = |dir: &str, fine_tuned: bool| {
        let dir = fixture(dir);
        let bytes = std::fs::read(dir.join("model.safetensors")).unwrap();
        let side_file = |f: &str| std::fs::read_to_string(dir.join(f)).ok().map(|t| (f.to_string(), t));
        let side = SideFiles { config: side_file("config.json"), preprocessor: side_file("preprocessor_config.json"), open_clip: None };
        let mut streamed = StreamedCheckpoint::new(&format!("{}/model.safetensors", dir.display()), Some(bytes.len() as u64));
        let mut staged = 0;
        for chunk in bytes.chunks(1000) {
            streamed
                .push(chunk, &mut |name, t| {
                    staged += 1;
                    loader.stage(fine_tuned, name, t)
                })
                .unwrap();
        }
        assert!(staged > 0);
        streamed.finish(side).unwrap()
    };
    let zs = read(&reference.zero_shot, false);
    let ft = read(&reference.fine_tuned, true);
    let released = zs.tensors.values().filter(|t| !t.on_host()).count();
    assert!(released > 0, "{name}: large tensors are not kept on the host");
    assert!(loader.staged_bytes() > 0);
    let streamed = ModelPair::new(zs, Some(ft)).unwrap();
    // The host cannot merge what it no longer has, and says so instead of panicking.
    let err = wiseft::engine::cpu::CpuEngine::new(&streamed, a(0.35)).err().expect("CPU engine without host values").to_string();
    assert!(err.contains("GPU") && err.contains("not on the host"), "{err}");

    let mut from_stream = block_on(loader.build(&streamed, a(0.35))).unwrap();
    let mut from_files = block_on(GpuEngine::with_options(&whole, a(0.35), options)).unwrap();
    assert_eq!(from_stream.f16_weights(), from_files.f16_weights());
    let vision = whole.zero_shot.config.vision.clone().unwrap();
    let pixels = values(2 * 3 * vision.image_size * vision.image_size, 5, -2.0, 2.0);
    let (ids, pooled) = random_prompts(3, 9);
    for alpha in [0.35, 0.0, 1.0] {
        from_stream.set_alpha(&streamed, a(alpha)).unwrap();
        from_files.set_alpha(&whole, a(alpha)).unwrap();
        let what = format!("{name}, f16 weights {}", from_stream.f16_weights());
        let a = block_on(from_stream.encode_images(&pixels, 2)).unwrap();
        let b = block_on(from_files.encode_images(&pixels, 2)).unwrap();
        assert_eq!(a, b, "{what}: image embeddings at α={alpha}");
        let a = block_on(from_stream.encode_texts(&ids, &pooled)).unwrap();
        let b = block_on(from_files.encode_texts(&ids, &pooled)).unwrap();
        assert_eq!(a, b, "{what}: text embeddings at α={alpha}");
    }
}

/// A token embedding over the storage binding limit is split into row blocks (the embedding kernel
/// runs once per block) and gives the same embeddings; any other tensor over the limit is an error
/// that names it and the limit.
#[test]
fn a_table_over_the_binding_limit_is_split_and_anything_else_says_so() {
    let pair = pair("pair_a");
    let table = &pair.zero_shot.tensors["text_model.embeddings.token_embedding.weight"];
    let table_bytes = (table.numel() * 4) as u64;
    let largest_other = pair
        .zero_shot
        .tensors
        .iter()
        .filter(|(n, t)| t.is_float() && !n.contains("token_embedding"))
        .map(|(_, t)| (t.numel() * 4) as u64)
        .max()
        .unwrap();
    // Room for every other tensor, but about a third of the table: three or more blocks.
    let cap = (table_bytes / 3).max(largest_other.div_ceil(16) * 16);
    assert!(cap < table_bytes / 2, "fixture: the table ({table_bytes} B) is not the largest tensor by far ({largest_other} B)");
    let options = GpuOptions { max_binding: Some(cap), ..GpuOptions::default() };
    let mut split = block_on(GpuEngine::with_options(&pair, a(0.35), options)).unwrap();
    let mut whole = gpu(&pair, 0.35);
    let (ids, pooled) = random_prompts(6, 21);
    for alpha in [0.35, 1.0] {
        split.set_alpha(&pair, a(alpha)).unwrap();
        whole.set_alpha(&pair, a(alpha)).unwrap();
        let a = block_on(split.encode_texts(&ids, &pooled)).unwrap();
        let b = block_on(whole.encode_texts(&ids, &pooled)).unwrap();
        assert_eq!(a, b, "text embeddings with the table in blocks, α={alpha}");
    }
    // The same calls, and at least two more buffers: the table went up in three or more blocks.
    assert!(split.stats().buffers_created >= whole.stats().buffers_created + 2, "{:?} vs {:?}", split.stats(), whole.stats());

    // Below the size of an MLP weight: that one cannot be split, and the error says which and why.
    let options = GpuOptions { max_binding: Some(largest_other / 2), ..GpuOptions::default() };
    let err = block_on(GpuEngine::with_options(&pair, a(0.35), options)).err().expect("a weight over the limit").to_string();
    assert!(err.contains("max_storage_buffer_binding_size") && err.contains('`') && err.contains("MB"), "{err}");
}

#[test]
fn live_buffer_bytes_come_back_when_plans_are_evicted() {
    let pair = pair("pair_a");
    let mut engine = gpu(&pair, 0.5);
    let after_load = engine.stats();
    assert_eq!(after_load.bytes_live, after_load.bytes_allocated, "nothing freed yet: {after_load:?}");
    // Prompt lengths rounded to 8, 16, …, 72 tokens: more plan shapes than the cache keeps.
    let mut levels = Vec::new();
    for round in 0..3 {
        for len in (4..=68).step_by(8) {
            let ids = vec![{
                let mut t = vec![0u32; CONTEXT_LENGTH];
                t[0] = 49406;
                (1..len).for_each(|p| t[p] = 320 + p as u32);
                t[len] = 49407;
                t
            }];
            block_on(engine.encode_texts(&ids, &[len])).unwrap();
            engine.set_alpha(&pair, a(0.1 + 0.1 * round as f64)).unwrap();
        }
        levels.push(engine.stats().bytes_live);
    }
    let s = engine.stats();
    eprintln!("live bytes after each round {levels:?}; created in all {}", s.bytes_allocated);
    assert!(s.bytes_live < s.bytes_allocated, "evicted plans gave their buffers back: {s:?}");
    assert_eq!(levels[1], levels[2], "the same work holds the same buffers: {levels:?}");
}
