//! Loading a merge recipe in the worker: the zero-shot checkpoint and every fine-tune into memory
//! (the task vectors and TIES's trim are computed on the host, once, so the weights cannot stream
//! straight to the GPU as a pair's do), then the library's [`merge::load_recipe`] and the engine at
//! the recipe's point on the back end [`backend::decide`] picks.

use super::backend::{self, GpuProbe};
use super::error::LoadError;
use super::load::{cpu_engine, now_s, Loaded, Loader};
use super::protocol::{Level, LoadRequest, Role};
use crate::engine::choice::{self, Decision};
use crate::engine::gpu::{GpuLoader, GpuOptions};
use crate::engine::Engine;
use crate::merge::lean::Build;
use crate::merge::{self, Recipe};
use crate::pipeline::WiseFt;
use crate::session::limits;

impl Loader {
    /// Fetches (or reads) the recipe's checkpoints, checks every fine-tune against the zero-shot
    /// model (an error names the checkpoint and tensor) and builds the engine at the recipe.
    pub async fn load_recipe(&self, r: &LoadRequest, recipe: &Recipe, probe: &GpuProbe) -> Result<Loaded, LoadError> {
        let started = now_s();
        self.cancel.reset();
        let sources = r.fine_tuned_sources();
        recipe.check_count(sources.len())?;
        let fetcher = self.fetcher().await?;
        let (zero_shot, zs_info) = self.checkpoint(&fetcher, &r.zero_shot, Role::ZeroShot, None).await?;
        let mut models = vec![zs_info];
        let mut fine_tuned = Vec::with_capacity(sources.len());
        for (i, src) in sources.iter().enumerate() {
            self.status(format!("Fine-tune {} of {} …", i + 1, sources.len()));
            let (c, info) = self.checkpoint(&fetcher, src, Role::FineTuned, None).await?;
            fine_tuned.push(c);
            models.push(info);
        }
        let bytes: u64 = models.iter().map(|m| m.bytes).sum();
        self.status(format!("Computing the merge inputs of {} …", crate::session::describe(recipe)));
        // TIES keeps each fine-tune's own task vector for its column when they fit the page's
        // memory beside the merged one (else the session shows the zero-shot model and the merge).
        let own = merge::OwnVectors::KeptWithin(limits::recipe_inputs_limit(zero_shot.float_bytes()));
        let loaded = merge::load_recipe_with(recipe, zero_shot, fine_tuned, own)?;
        if let Some(why) = &loaded.dropped {
            self.notice(Level::Info, format!("{why}. WebAssembly's 4 GB must hold θ₀, the engine's copy of its towers and every merge input; load fewer fine-tunes to see each on its own, or task arithmetic, whose task vectors are its merge inputs."));
        }
        let (mut pair, mut point) = (loaded.pair, loaded.point);

        let (mut reason, fallback) = match backend::decide(probe, r.backend) {
            Decision::Cpu { reason } => (reason, None),
            Decision::Gpu { reason, fallback } => (reason, Some(fallback)),
        };
        self.status(format!("Building the merged model ({}) …", crate::session::describe(recipe)));
        let engine = match fallback {
            Some(may_fall_back) => {
                // TIES's per-fine-tune vectors are N more sets on the GPU, and N + 2 inputs of its
                // combine kernel: where they do not fit, the merge alone still may (as it did before
                // the columns), which beats leaving the GPU. Should that fail too, the vectors are
                // back for the CPU engine, which shows every column.
                match merge::lean::build_or_lean(recipe, &mut pair, &mut point, async |p, pt| build_gpu(p, pt).await).await? {
                    Build::Whole(engine) => engine,
                    Build::Lean { engine, why } => {
                        self.notice(Level::Info, format!("The GPU could not hold each TIES fine-tune's own task vector beside the merged one ({why}); it runs the merge alone, so no fine-tune is shown on its own."));
                        engine
                    }
                    // Every weight is on the host: the CPU engine can take over.
                    Build::Failed(e) if may_fall_back => {
                        reason = choice::fallback_reason(&e);
                        cpu_engine(&pair, &point)?
                    }
                    Build::Failed(e) => return Err(e.into()),
                }
            }
            None => cpu_engine(&pair, &point)?,
        };
        let report = Some(pair.plan.report.clone());
        engine.wait().await?;
        let backend = backend::report(&engine, reason.clone(), probe);
        let wiseft = WiseFt::with_engine_at(pair, point, engine, reason)?;
        Ok(Loaded {
            wiseft,
            backend,
            report,
            models,
            load_s: now_s() - started,
            checkpoint_mb: bytes as f64 / 1e6,
            recipe: Some(recipe.clone()),
            fine_tunes: loaded.reports,
        })
    }
}

async fn build_gpu(pair: &merge::ModelPair, point: &merge::Point) -> crate::Result<Engine> {
    let loader = GpuLoader::new(GpuOptions::default()).await?;
    Ok(Engine::Gpu(loader.build_at(pair, point).await?))
}
