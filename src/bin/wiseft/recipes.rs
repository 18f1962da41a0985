//! The recipe side of `classify`, `merge` and `inspect`: the recipe from a file or flags,
//! checkpoints loaded, the library's [`load_recipe`], the reports printed.

use std::collections::BTreeMap;

use serde_json::json;
use wiseft::checkpoint::provenance::Provenance;
use wiseft::checkpoint::{Checkpoint, HostTensor};
use wiseft::clip::preprocess::PreprocessConfig;
use wiseft::error::{Error, Result};
use wiseft::merge::recipe::Flags;
use wiseft::merge::task_vector::{inspect, FineTuneReport};
use wiseft::merge::{load_recipe, Loaded, Recipe};
use wiseft::pipeline::WiseFt;
use wiseft::session::export::provenance;

use crate::checkpoints::{load, load_recorded, print_report};
use crate::{BenchArgs, ClassifyArgs, MergeArgs, RecipeArgs};

/// Whether the arguments ask for a recipe rather than today's two-model merge (`--alpha` alone
/// keeps its meaning).
pub fn wanted(args: &RecipeArgs, fine_tuned: usize) -> bool {
    args.recipe.is_some() || fine_tuned > 1 || flags(args, None).is_recipe()
}

fn flags(args: &RecipeArgs, alpha: Option<f64>) -> Flags {
    Flags { method: args.method.clone(), alpha, lambda: args.lambda, top_k: args.top_k }
}

/// The recipe: the file's (its checkpoints overridden by the flags), or the flags'.
fn recipe(args: &RecipeArgs, zero_shot: Option<&str>, fine_tuned: &[String], alpha: Option<f64>) -> Result<Recipe> {
    let mut r = match &args.recipe {
        Some(file) => {
            if args.method.is_some() || args.lambda.is_some() || args.top_k.is_some() || alpha.is_some() {
                return Err(Error::Invalid("give the coefficients in the recipe file or as flags, not both".into()));
            }
            let mut r = Recipe::open(file)?;
            if !fine_tuned.is_empty() {
                r.fine_tuned = fine_tuned.to_vec();
            }
            r
        }
        None => flags(args, alpha).recipe(fine_tuned.to_vec())?,
    };
    if let Some(z) = zero_shot {
        r.zero_shot = Some(z.to_string());
    }
    r.check()?;
    Ok(r)
}

/// The recipe's zero-shot source, its fine-tunes counted.
fn zero_shot_of(r: &Recipe) -> Result<&str> {
    let zs = r.zero_shot.as_deref().ok_or_else(|| Error::Invalid("no zero-shot model: give --zero-shot or `zero_shot` in the recipe".into()))?;
    r.check_count(r.fine_tuned.len())?;
    Ok(zs)
}

/// Loads the recipe's checkpoints and merge inputs, printing what each fine-tune is.
fn loaded(r: &Recipe) -> Result<Loaded> {
    let zero_shot = load(zero_shot_of(r)?)?;
    let fine_tuned = r.fine_tuned.iter().map(|p| load(p)).collect::<Result<Vec<_>>>()?;
    inputs(r, zero_shot, fine_tuned)
}

/// The merge inputs of loaded checkpoints, with the reports printed.
fn inputs(r: &Recipe, zero_shot: Checkpoint, fine_tuned: Vec<Checkpoint>) -> Result<Loaded> {
    eprintln!("recipe: {}", serde_json::to_string(&r.to_value()).expect("serialisable"));
    let loaded = load_recipe(r, zero_shot, fine_tuned)?;
    for rep in &loaded.reports {
        eprintln!("fine-tune {}: changes {} tensors, ‖θ − θ₀‖/‖θ₀‖ = {:.4}{}", rep.checkpoint, rep.changed.len(), rep.relative_distance, if rep.is_far() { " — far from the zero-shot model: is it a fine-tune of it?" } else { "" });
    }
    print_report(&loaded.pair.plan.report);
    Ok(loaded)
}

pub fn model(args: &ClassifyArgs) -> Result<(WiseFt, PreprocessConfig, serde_json::Value)> {
    let r = recipe(&args.recipe, args.zero_shot.as_deref(), &args.fine_tuned, args.alpha.map(f64::from))?;
    let loaded = loaded(&r)?;
    let prep = loaded.pair.preprocess();
    let wiseft = pollster::block_on(WiseFt::at(loaded.pair, loaded.point, args.device))?;
    Ok((wiseft, prep, json!({"recipe": r.to_value()})))
}

/// The recipe's merge, the zero-shot checkpoint (its config goes beside the merge) and the
/// merge's provenance.
pub fn merged(args: &MergeArgs) -> Result<(BTreeMap<String, HostTensor>, Checkpoint, Provenance)> {
    let r = recipe(&args.recipe, args.zero_shot.as_deref(), &args.fine_tuned, args.alpha.map(f64::from))?;
    let (zero_shot, fine_tuned, sources) = load_recorded(zero_shot_of(&r)?, &r.fine_tuned)?;
    let loaded = inputs(&r, zero_shot, fine_tuned)?;
    let merged = loaded.pair.merge_at(&loaded.point)?;
    Ok((merged, loaded.pair.zero_shot, provenance(&r, sources, args.dtype)))
}

/// `inspect --zero-shot`: the checkpoint against the zero-shot model.
pub fn compare(zero_shot: &Checkpoint, ckpt: &Checkpoint, all: bool) -> Result<()> {
    let r: FineTuneReport = inspect(zero_shot, ckpt)?;
    println!("against the zero-shot model {}:", zero_shot.name);
    for line in r.to_string().lines().skip(1) {
        println!("{line}");
    }
    let shown = if all { r.changed.len() } else { 8 };
    for name in r.changed.iter().take(shown) {
        println!("    changes {name}");
    }
    if r.changed.len() > shown {
        println!("    … and {} more (--all lists them)", r.changed.len() - shown);
    }
    Ok(())
}

/// `bench --recipes`: one line per (back end, number of fine-tunes).
pub fn bench(args: &BenchArgs, devices: &[wiseft::engine::Device]) -> Result<std::process::ExitCode> {
    let method = wiseft::merge::Method::parse(&args.method)?;
    let mut reports = Vec::new();
    for &device in devices {
        for &n in &args.fine_tunes {
            eprintln!("bench: {device:?}: {} with {n} random ViT-B/32 vision fine-tunes …", method.key());
            let r = pollster::block_on(wiseft::bench::recipes::run(device, method, n, args.runs.max(1)))?;
            if !args.json {
                let device_mb = r.device_mb.map_or(String::new(), |mb| format!(", device {mb:.0} MB"));
                println!(
                    "{:40} {:16} N={:<2} inputs {:6.2} s  engine {:6.2} s  change {:7.3} s  host θ₀ {:.0} MB + inputs {:.0} MB{device_mb}",
                    r.backend, r.method, r.fine_tunes, r.inputs_s, r.engine_s, r.change_s, r.zero_shot_mb, r.inputs_mb
                );
            }
            reports.push(r);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports).expect("serialisable"));
    }
    Ok(std::process::ExitCode::SUCCESS)
}
