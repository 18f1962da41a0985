//! The benchmark behind `wiseft bench`: a ViT-B/32-shaped pair with random weights (speed does not
//! depend on the values) run through each back end, reporting the numbers docs/BENCHMARKS.md tracks.

#[cfg(not(target_arch = "wasm32"))]
pub mod recipes;

use crate::checkpoint::tensor::HostTensor;
use crate::clip::config::{Activation, ClipConfig, EncoderConfig, TextConfig, VisionConfig};
use crate::error::Result;
use crate::merge::{Alpha, Point};
use crate::pipeline::WiseFt;
use crate::random::XorShift;

/// openai/clip-vit-base-patch32: 224 px, patch 32, width 768 × 12 layers; text width 512 × 12 layers.
pub fn vit_b32() -> ClipConfig {
    let encoder = |hidden: usize, heads: usize| EncoderConfig {
        hidden_size: hidden,
        intermediate_size: 4 * hidden,
        num_attention_heads: heads,
        num_hidden_layers: 12,
        hidden_act: Activation::QuickGelu,
        layer_norm_eps: 1e-5,
    };
    ClipConfig {
        vision: Some(VisionConfig { encoder: encoder(768, 12), image_size: 224, patch_size: 32, num_channels: 3 }),
        text: Some(TextConfig { encoder: encoder(512, 8), vocab_size: 49408, max_position_embeddings: 77, eos_token_id: 49407 }),
        projection_dim: Some(512),
    }
}

/// Small random values (the weights only need to be finite and varied).
fn small(rng: &mut XorShift) -> f32 {
    (rng.unit() - 0.5) * 0.04
}

/// Every tensor of a CLIPModel with `config`, random; with `vision_only`, the vision tower alone
/// (as a public vision-only fine-tune has it).
pub fn random_tensors(config: &ClipConfig, vision_only: bool, seed: u64) -> Vec<(String, HostTensor)> {
    let mut rng = XorShift::from_state(seed | 1);
    let mut shapes = config.expected_tensors();
    if !vision_only {
        let p = config.projection_dim.unwrap_or(512);
        let (vh, th) = (config.vision.as_ref().map_or(0, |v| v.encoder.hidden_size), config.text.as_ref().map_or(0, |t| t.encoder.hidden_size));
        shapes.push(("visual_projection.weight".into(), vec![p, vh]));
        shapes.push(("text_projection.weight".into(), vec![p, th]));
        shapes.push(("logit_scale".into(), vec![]));
    }
    shapes
        .into_iter()
        .filter(|(n, _)| !vision_only || n.starts_with("vision_model."))
        .map(|(name, shape)| {
            let len = shape.iter().product();
            let data = if name == "logit_scale" { vec![4.6052] } else { (0..len).map(|_| small(&mut rng)).collect() };
            (name, HostTensor::f32(shape, data))
        })
        .collect()
}

/// Multiply-adds ×2 of one transformer encoder over `tokens` tokens.
fn encoder_flops(e: &EncoderConfig, tokens: usize) -> f64 {
    let (t, h, i) = (tokens as f64, e.hidden_size as f64, e.intermediate_size as f64);
    e.num_hidden_layers as f64 * (2.0 * t * (4.0 * h * h + 2.0 * h * i) + 4.0 * t * t * h)
}

pub fn image_flops(config: &ClipConfig) -> f64 {
    let v = config.vision.as_ref().expect("vision tower");
    let patches = (v.grid() * v.grid()) as f64;
    let patch_in = (v.num_channels * v.patch_size * v.patch_size) as f64;
    let h = v.encoder.hidden_size as f64;
    2.0 * patches * patch_in * h + encoder_flops(&v.encoder, v.num_positions()) + 2.0 * h * config.projection_dim.unwrap_or(512) as f64
}

pub fn text_flops(config: &ClipConfig, tokens: usize) -> f64 {
    let t = config.text.as_ref().expect("text tower");
    encoder_flops(&t.encoder, tokens) + 2.0 * (t.encoder.hidden_size * config.projection_dim.unwrap_or(512)) as f64
}

/// Peak resident memory of this process in MB (Linux), if known.
pub fn peak_memory_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub backend: String,
    pub checkpoint_mb: f64,
    /// Parsing both safetensors files from memory.
    pub parse_mb_per_s: f64,
    /// Building the engine at α (merge + upload / tower construction).
    pub load_s: f64,
    /// One α change (the merge).
    pub merge_s: f64,
    pub image_batch1_s: f64,
    pub image_batch8_s: f64,
    /// 10 labels × 80 templates.
    pub text_800_prompts_s: f64,
    pub image_gflops_per_s: f64,
    pub text_gflops_per_s: f64,
    pub peak_memory_mb: Option<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The steps timed on an engine that is already loaded, in the native CLI and in the browser alike.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Timings {
    /// One α change, until the device has finished it.
    pub merge_s: f64,
    /// The encoders' steps; `None` where only the change was asked for.
    #[serde(flatten)]
    pub encodes: Option<Encodes>,
}

/// The image batches and the prompts through the towers.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Encodes {
    pub image_batch1_s: f64,
    pub image_batch8_s: f64,
    pub prompts: usize,
    pub text_s: f64,
    pub image_gflops_per_s: f64,
    pub text_gflops_per_s: f64,
}

/// `prompts` labels' worth of prompts: `labels` × CLIP's 80 templates, cut to `count`.
pub fn bench_prompts(count: usize) -> Vec<String> {
    let templates = crate::clip::templates::IMAGENET80;
    (0..count).map(|i| crate::clip::templates::fill(templates[i % templates.len()], &format!("class number {}", i / templates.len()))).collect()
}

/// Times the α change, then (with `encodes`) image batches of 1 and 8 and `prompts` through the
/// text tower on a loaded model (median of `runs`; the text tower at most 3 times). `now` is a
/// clock in seconds (`Instant` natively, `performance.now()` in a worker). Without `encodes` only
/// the change is timed: on a software GPU one ViT-B/32 batch of 8 takes minutes.
///
/// `change`: the two points a coefficient change alternates between — a recipe's at two settings —
/// or `None` for α = 0.3 and 0.7 of the two-model merge.
pub async fn measure(wiseft: &mut WiseFt, runs: usize, prompts: &[String], encodes: bool, change: Option<[Point; 2]>, now: &dyn Fn() -> f64) -> Result<Timings> {
    let runs = runs.max(1);
    let set = |wiseft: &mut WiseFt, i: usize| -> Result<()> {
        match &change {
            Some(points) => wiseft.set_point(points[i % 2].clone()),
            None => wiseft.set_alpha(Alpha::new(if i % 2 == 0 { 0.3 } else { 0.7 })?),
        }
    };
    // One untimed change to the second point first: the model may already be at the first (a
    // recipe loaded at λ = 0.3), and a change to where it is costs nothing; it also warms up.
    set(wiseft, 1)?;
    wiseft.engine().wait().await?;
    let mut merge = Vec::new();
    for i in 0..runs {
        let t = now();
        set(wiseft, i)?;
        wiseft.engine().wait().await?;
        merge.push(now() - t);
    }
    let encodes = if encodes { Some(measure_encodes(wiseft, runs, prompts, now).await?) } else { None };
    Ok(Timings { merge_s: median(merge), encodes })
}

async fn measure_encodes(wiseft: &mut WiseFt, runs: usize, prompts: &[String], now: &dyn Fn() -> f64) -> Result<Encodes> {
    let config = wiseft.pair.zero_shot.config.clone();
    let side = config.vision.as_ref().map_or(224, |v| v.image_size);
    let mut rng = XorShift::from_state(7);
    let image: Vec<f32> = (0..3 * side * side).map(|_| small(&mut rng) * 50.0).collect();
    let mut batch_times = [0.0; 2];
    for (slot, n) in [1usize, 8].into_iter().enumerate() {
        let batch = vec![image.clone(); n];
        // One untimed run: the GPU engine builds its plan for a new batch size on first use.
        wiseft.encode_images(&batch).await?;
        let mut times = Vec::new();
        for _ in 0..runs {
            let t = now();
            wiseft.encode_images(&batch).await?;
            times.push(now() - t);
        }
        batch_times[slot] = median(times);
    }
    let [b1, b8] = batch_times;

    let mut text_times = Vec::new();
    for _ in 0..runs.min(3) {
        let t = now();
        wiseft.encode_prompts(prompts).await?;
        text_times.push(now() - t);
    }
    let text_s = median(text_times);
    let tokenizer = crate::clip::tokenizer::Tokenizer::shared();
    let text_work: f64 = prompts.iter().map(|p| text_flops(&config, tokenizer.encode(p).len() + 2)).sum();
    Ok(Encodes {
        image_batch1_s: b1,
        image_batch8_s: b8,
        prompts: prompts.len(),
        text_s,
        image_gflops_per_s: 8.0 * image_flops(&config) / b8 / 1e9,
        text_gflops_per_s: text_work / text_s / 1e9,
    })
}

/// Runs the benchmark on one back end; `runs` timed repetitions of each step (median reported).
#[cfg(not(target_arch = "wasm32"))]
pub async fn run(device: crate::engine::Device, runs: usize) -> Result<Report> {
    use crate::checkpoint::{safetensors, Checkpoint, SideFiles};
    use crate::merge::ModelPair;
    use std::time::Instant;
    let config = vit_b32();
    let zs_bytes = safetensors::write(random_tensors(&config, false, 1).iter().map(|(n, t)| (n.as_str(), t)))?;
    let ft_bytes = safetensors::write(random_tensors(&config, true, 2).iter().map(|(n, t)| (n.as_str(), t)))?;
    let mb = (zs_bytes.len() + ft_bytes.len()) as f64 / 1e6;

    // No config.json: the shapes give exactly ViT-B/32 (heads = width/64, quick_gelu).
    let t = Instant::now();
    let zs = Checkpoint::from_bytes(&zs_bytes, "zero-shot (random ViT-B/32)", SideFiles::default())?;
    let ft = Checkpoint::from_bytes(&ft_bytes, "fine-tuned (random ViT-B/32 vision)", SideFiles::default())?;
    let parse_s = t.elapsed().as_secs_f64();
    drop((zs_bytes, ft_bytes));

    let t = Instant::now();
    let pair = ModelPair::new(zs, Some(ft))?;
    let mut wiseft = WiseFt::new(pair, Alpha::HALF, device).await?;
    wiseft.engine().wait().await?;
    let load_s = t.elapsed().as_secs_f64();
    let backend = wiseft.engine().describe();

    let epoch = Instant::now();
    let timings = measure(&mut wiseft, runs, &bench_prompts(800), true, None, &|| epoch.elapsed().as_secs_f64()).await?;
    let merge_s = timings.merge_s;
    let e = timings.encodes.ok_or_else(|| crate::error::Error::Invalid("the benchmark timed no encoders".into()))?;
    Ok(Report {
        backend,
        checkpoint_mb: mb,
        parse_mb_per_s: mb / parse_s,
        load_s,
        merge_s,
        image_batch1_s: e.image_batch1_s,
        image_batch8_s: e.image_batch8_s,
        text_800_prompts_s: e.text_s,
        image_gflops_per_s: e.image_gflops_per_s,
        text_gflops_per_s: e.text_gflops_per_s,
        peak_memory_mb: peak_memory_mb(),
    })
}
