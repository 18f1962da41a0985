//! A benchmark, not a timed test (ignored by default): a ViT-B/32-shaped pair with synthetic
//! weights (openai/clip-vit-base-patch32's architecture; speed does not depend on the values),
//! through the GPU and the CPU engine side by side.
//!
//!     cargo test --test gpu_bench -- --ignored --nocapture
//!
//! WISEFT_BENCH_PROMPTS (default 80; the figure is 800 = 10 labels × 80 templates) and
//! WISEFT_BENCH_CPU=0 (skip the CPU engine) adjust it.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use pollster::block_on;
use wiseft::random::XorShift;
use wiseft::checkpoint::{Checkpoint, Format, HostTensor, Layout};
use wiseft::clip::config::{ClipConfig, ConfigSource};
use wiseft::engine::cpu::CpuEngine;
use wiseft::engine::gpu::GpuEngine;
use wiseft::merge::{Alpha, ModelPair};

/// A CLIPModel with the given config and deterministic pseudo-random weights (N(0, 0.02)-ish,
/// layer norms at 1/0).
fn synthetic(config: &ClipConfig, seed: u64) -> Checkpoint {
    let mut table = Vec::with_capacity(65_537);
    let mut rng = XorShift::seeded(seed);
    for _ in 0..65_537 {
        table.push((rng.unit() - 0.5) * 0.07);
    }
    let mut shapes = config.expected_tensors();
    let (v, t, p) = (config.vision.as_ref().unwrap(), config.text.as_ref().unwrap(), config.projection_dim.unwrap());
    shapes.push(("visual_projection.weight".into(), vec![p, v.encoder.hidden_size]));
    shapes.push(("text_projection.weight".into(), vec![p, t.encoder.hidden_size]));
    shapes.push(("logit_scale".into(), vec![]));
    let mut tensors = BTreeMap::new();
    for (i, (name, shape)) in shapes.into_iter().enumerate() {
        let n: usize = shape.iter().product();
        let norm = name.contains("norm") || name.contains("layrnorm");
        let data: Vec<f32> = if name == "logit_scale" {
            vec![4.6052]
        } else if norm && name.ends_with(".weight") {
            vec![1.0; n]
        } else if norm {
            vec![0.0; n]
        } else {
            let start = i * 7919 + seed as usize;
            (0..n).map(|j| table[(start + j) % table.len()]).collect()
        };
        tensors.insert(name, HostTensor::f32(shape, data));
    }
    Checkpoint {
        name: format!("synthetic ViT-B/32 #{seed}"),
        format: Format::Safetensors,
        tensors,
        layout: Layout::ClipModel,
        config: config.clone(),
        config_source: ConfigSource::Inferred { assumptions: Vec::new() },
        preprocess: None,
        config_json: None,
        preprocessor_json: None,
    }
}

fn vision_flops(c: &ClipConfig, batch: usize) -> f64 {
    let v = c.vision.as_ref().unwrap();
    let (h, i, l) = (v.encoder.hidden_size as f64, v.encoder.intermediate_size as f64, v.encoder.num_hidden_layers as f64);
    let g2 = (v.grid() * v.grid()) as f64;
    let t = g2 + 1.0;
    let patch = 2.0 * g2 * (v.num_channels * v.patch_size * v.patch_size) as f64 * h;
    let layer = 8.0 * t * h * h + 4.0 * t * t * h + 4.0 * t * h * i;
    batch as f64 * (patch + l * layer + 2.0 * h * c.projection_dim.unwrap() as f64)
}

fn text_flops(c: &ClipConfig, prompts: usize, seq: usize) -> f64 {
    let e = &c.text.as_ref().unwrap().encoder;
    let (h, i, l, s) = (e.hidden_size as f64, e.intermediate_size as f64, e.num_hidden_layers as f64, seq as f64);
    prompts as f64 * (l * (8.0 * s * h * h + 2.0 * s * s * h + 4.0 * s * h * i) + 2.0 * h * c.projection_dim.unwrap() as f64)
}

/// Best of `runs` (≥ 1).
fn time<T>(runs: usize, mut f: impl FnMut() -> T) -> Duration {
    (0..runs.max(1)).map(|_| {
        let t = Instant::now();
        f();
        t.elapsed()
    })
    .min()
    .unwrap()
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

#[test]
#[ignore = "a benchmark: run with --ignored --nocapture"]
fn vit_b32_gpu_and_cpu() {
    let prompts: usize = std::env::var("WISEFT_BENCH_PROMPTS").ok().and_then(|v| v.parse().ok()).unwrap_or(80);
    let with_cpu = std::env::var("WISEFT_BENCH_CPU").map_or(true, |v| v != "0");
    let config = ClipConfig::from_json("{}", "ViT-B/32 defaults").unwrap();
    let t = Instant::now();
    let pair = ModelPair::new(synthetic(&config, 1), Some(synthetic(&config, 2))).unwrap();
    let params = pair.zero_shot.parameter_count();
    eprintln!("synthetic pair: 2 × {:.1} M parameters in {:.1} s", params as f64 / 1e6, t.elapsed().as_secs_f64());

    let v = config.vision.as_ref().unwrap();
    let per = v.num_channels * v.image_size * v.image_size;
    let pixels: Vec<f32> = (0..8 * per).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    // Prompts of 13 tokens (start, 11 words, end), as "a photo of a {label}." and its kin give.
    let seq = 13;
    let ids: Vec<Vec<u32>> = (0..prompts)
        .map(|i| {
            let mut r = vec![0u32; 77];
            r[0] = 49406;
            for (p, slot) in r.iter_mut().enumerate().take(seq - 1).skip(1) {
                *slot = ((i * 131 + p * 977) % 49000) as u32;
            }
            r[seq - 1] = 49407;
            r
        })
        .collect();
    let pooled = vec![seq - 1; prompts];

    let mut rows = Vec::new();
    let t = Instant::now();
    let mut gpu = block_on(GpuEngine::new(&pair, Alpha::new(0.5).unwrap())).unwrap_or_else(|e| panic!("{e}"));
    block_on(gpu.wait()).unwrap();
    let load = t.elapsed();
    let stats = gpu.stats();
    eprintln!("{}", gpu.describe());
    let merge = time(3, || {
        gpu.set_alpha(&pair, Alpha::new(0.3).unwrap()).unwrap();
        block_on(gpu.wait()).unwrap();
    });
    // One untimed run of each shape first: it builds the plan (buffers, bind groups).
    block_on(gpu.encode_images(&pixels[..per], 1)).unwrap();
    let img1 = time(3, || block_on(gpu.encode_images(&pixels[..per], 1)).unwrap());
    block_on(gpu.encode_images(&pixels, 8)).unwrap();
    let img8 = time(2, || block_on(gpu.encode_images(&pixels, 8)).unwrap());
    block_on(gpu.encode_texts(&ids, &pooled)).unwrap();
    let text = time(1, || block_on(gpu.encode_texts(&ids, &pooled)).unwrap());
    rows.push(("GPU", load, stats.weight_bytes_uploaded, merge, img1, img8, text));

    if with_cpu {
        let t = Instant::now();
        let mut cpu = CpuEngine::new(&pair, Alpha::new(0.5).unwrap()).unwrap();
        let load = t.elapsed();
        let merge = time(1, || cpu.set_alpha(&pair, Alpha::new(0.3).unwrap()).unwrap());
        let img1 = time(2, || cpu.encode_images(&pixels[..per], 1).unwrap());
        let img8 = time(1, || cpu.encode_images(&pixels, 8).unwrap());
        let text = time(0, || cpu.encode_texts(&ids, &pooled).unwrap());
        rows.push(("CPU", load, 0, merge, img1, img8, text));
    }

    let gf = |flops: f64, d: Duration| format!("{:.1}", flops / d.as_secs_f64() / 1e9);
    println!("\n| engine | load (upload MB/s) | merge (α change) | image ×1 (GFLOP/s) | image ×8 (GFLOP/s) | {prompts} prompts (GFLOP/s) |");
    println!("|---|---|---|---|---|---|");
    for (name, load, bytes, merge, img1, img8, text) in rows {
        let upload = if bytes > 0 { format!(" ({:.0} MB/s)", bytes as f64 / 1e6 / load.as_secs_f64()) } else { String::new() };
        println!(
            "| {name} | {}{upload} | {} | {} ({}) | {} ({}) | {} ({}) |",
            ms(load),
            ms(merge),
            ms(img1),
            gf(vision_flops(&config, 1), img1),
            ms(img8),
            gf(vision_flops(&config, 8), img8),
            ms(text),
            gf(text_flops(&config, prompts, seq), text)
        );
    }
    println!("\nGPU device memory held: {:.0} MB; {:?}", gpu.stats().bytes_allocated as f64 / 1e6, gpu.plan_summary());
}

/// Each kernel alone at ViT-B/32 sizes (upload and read-back included, so small kernels are
/// dominated by them): where the time of a forward goes on this adapter.
#[test]
#[ignore = "a benchmark: run with --ignored --nocapture"]
fn kernels_at_vit_b32_sizes() {
    use wiseft::engine::gpu::ops::{KernelRunner, MatmulKernel};
    let runner = block_on(KernelRunner::new()).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("{}", runner.adapter().describe());
    let fill = |n: usize| -> Vec<f32> { (0..n).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect() };
    for &(m, n, k) in &[(400, 768, 768), (400, 3072, 768), (50, 768, 768), (832, 512, 512)] {
        let (x, w, b) = (fill(m * k), fill(n * k), fill(n));
        for kernel in [MatmulKernel::Scalar, MatmulKernel::Vec4] {
            block_on(runner.matmul(&x, &w, Some(&b), None, (m, n, k), None, kernel)).unwrap();
            let d = time(2, || block_on(runner.matmul(&x, &w, Some(&b), None, (m, n, k), None, kernel)).unwrap());
            println!("matmul {m}×{n}×{k} {kernel:?}: {} ({:.2} GFLOP/s)", ms(d), 2.0 * (m * n * k) as f64 / d.as_secs_f64() / 1e9);
        }
    }
    let (batch, seq, heads, d) = (8, 50, 12, 64);
    let q = fill(batch * seq * heads * d);
    let t = time(2, || block_on(runner.attention(&q, &q, &q, (batch, seq, heads, d), false)).unwrap());
    println!("attention {batch}×{seq} tokens, {heads} heads of {d}: {}", ms(t));
    let x = fill(400 * 768);
    let g = fill(768);
    let t = time(2, || block_on(runner.layer_norm(&x, &g, &g, 768, 1e-5)).unwrap());
    println!("layer_norm 400×768: {}", ms(t));
    let t = time(2, || block_on(runner.activation(&fill(400 * 3072), None)).unwrap());
    println!("copy-through activation 400×3072: {}", ms(t));
}
