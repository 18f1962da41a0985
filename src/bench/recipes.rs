//! `wiseft bench --recipes`: merge recipes at ViT-B/32 size with 1, 2, 4, 8 vision fine-tunes —
//! time to compute the inputs at load, time per coefficient change (until the device is done),
//! and memory: the inputs held on the host, the buffers on the device. Native only (the browser
//! benchmark of recipes is the page's, not built yet).

use super::{median, random_tensors, vit_b32};
use crate::error::Result;
use crate::merge::recipe::Method;
use crate::merge::schedule::Coefficient;
use crate::merge::{load_recipe_with, OwnVectors, Recipe};
use crate::pipeline::WiseFt;

#[derive(Debug, Clone, serde::Serialize)]
pub struct RecipeReport {
    pub backend: String,
    pub method: String,
    pub fine_tunes: usize,
    /// Task vectors (and TIES's trim, election and disjoint mean), computed once.
    pub inputs_s: f64,
    /// Building the engine (towers on the CPU; uploads and the first merge on the GPU).
    pub engine_s: f64,
    /// One coefficient change, until the back end has finished it.
    pub change_s: f64,
    /// θ₀ on the host (MB).
    pub zero_shot_mb: f64,
    /// The merge inputs on the host (MB): one tensor set per fine-tune (TIES, as the page loads it:
    /// one more, the merged vector).
    pub inputs_mb: f64,
    /// Device buffers (GPU only, MB).
    pub device_mb: Option<f64>,
}

/// θ₀ plus `n` vision fine-tunes (θ₀'s vision tower plus small noise), as a public task suite
/// (FusionBench's eight tanganke/clip-vit-base-patch32_* are vision-only).
fn checkpoints(n: usize) -> Result<(crate::checkpoint::Checkpoint, Vec<crate::checkpoint::Checkpoint>)> {
    use crate::checkpoint::{Checkpoint, Format, HostTensor, SideFiles};
    let config = vit_b32();
    let zs_list = random_tensors(&config, false, 1);
    let mut fts = Vec::with_capacity(n);
    for i in 0..n {
        let mut rng = crate::random::XorShift::from_state(100 + i as u64);
        let list: Vec<(String, HostTensor)> = zs_list
            .iter()
            .filter(|(name, _)| name.starts_with("vision_model."))
            .map(|(name, t)| {
                let v: Vec<f32> = t.as_f32().expect("random f32").iter().map(|x| x + (rng.unit() - 0.5) * 0.002).collect();
                (name.clone(), HostTensor::f32(t.shape.clone(), v))
            })
            .collect();
        fts.push(Checkpoint::from_tensors(list, &format!("fine-tune {i} (random ViT-B/32 vision)"), Format::Safetensors, SideFiles::default())?);
    }
    let zs = Checkpoint::from_tensors(zs_list, "zero-shot (random ViT-B/32)", Format::Safetensors, SideFiles::default())?;
    Ok((zs, fts))
}

/// One (back end, method, n) measurement; `runs` coefficient changes (median reported).
pub async fn run(device: crate::engine::Device, method: Method, n: usize, runs: usize) -> Result<RecipeReport> {
    use std::time::Instant;
    let (zs, fts) = checkpoints(n)?;
    let zero_shot_mb = zs.tensors.values().map(|t| t.numel() * 4).sum::<usize>() as f64 / 1e6;
    let mut recipe = Recipe::new(method);
    let t = Instant::now();
    // TIES as the page loads it: each fine-tune's own task vector kept beside the merged one (its
    // columns), weighed 0 — and so not read — at the merged point.
    let own = if method == Method::Ties { OwnVectors::KeptWithin(u64::MAX) } else { OwnVectors::Dropped };
    let loaded = load_recipe_with(&recipe, zs, fts, own)?;
    let inputs_s = t.elapsed().as_secs_f64();
    let inputs_mb = loaded.pair.inputs.as_ref().map_or(0, |i| i.bytes()) as f64 / 1e6;

    let t = Instant::now();
    let point = loaded.point.clone();
    let mut wiseft = WiseFt::at(loaded.pair, point, device).await?;
    wiseft.engine().wait().await?;
    let engine_s = t.elapsed().as_secs_f64();

    let mut times = Vec::new();
    for i in 0..runs.max(1) {
        recipe.lambda = Coefficient::constant(if i % 2 == 0 { 0.5 } else { 0.3 });
        let point = crate::merge::Point::Mix(std::sync::Arc::new(crate::merge::Mix::new(&recipe, wiseft.pair.inputs.as_ref().expect("a recipe's inputs"))?));
        let t = Instant::now();
        wiseft.set_point(point)?;
        wiseft.engine().wait().await?;
        times.push(t.elapsed().as_secs_f64());
    }
    let device_mb = match wiseft.engine() {
        crate::engine::Engine::Gpu(g) => Some(g.stats().bytes_allocated as f64 / 1e6),
        crate::engine::Engine::Cpu(_) => None,
    };
    Ok(RecipeReport {
        backend: wiseft.engine().describe(),
        method: method.key().into(),
        fine_tunes: n,
        inputs_s,
        engine_s,
        change_s: median(times),
        zero_shot_mb,
        inputs_mb,
        device_mb,
    })
}
