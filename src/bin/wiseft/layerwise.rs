//! `wiseft sweep --layerwise`: after the sweep, the label-free per-depth α search of
//! `wiseft::choose::layerwise` on the label-free set (the unlabeled photos, else the shift photos
//! with their labels hidden), started from the single α of lowest entropy; then the task and shift
//! accuracy of the schedule it found, beside that single α's.

use serde::Serialize;
use wiseft::choose::layerwise::{self, coordinate_descent, EntropyOnPhotos, Outcome, Search, Step};
use wiseft::choose::stats::accuracy;
use wiseft::clip::preprocess;
use wiseft::error::{Error, Result};
use wiseft::merge::load_recipe;
use wiseft::pipeline::WiseFt;
use wiseft::session::folders::FolderPhoto;
use wiseft::session::SweepSet;

use crate::checkpoints::load_pair;
use crate::SweepArgs;

/// What the search found, for printing and JSON.
#[derive(Serialize)]
pub struct LayerwiseResult {
    /// α at each knot, from the embeddings (depth 0) to the last layer (depth 1).
    pub knots: Vec<f64>,
    pub entropy: f64,
    /// The single α the search started from, and its entropy.
    pub start_alpha: f64,
    pub start_entropy: f64,
    /// Accuracy of the schedule on the labelled sets (None where a set has no labels).
    pub task_accuracy: Option<f64>,
    pub shift_accuracy: Option<f64>,
    pub evaluations: usize,
    pub seconds: f64,
    /// The same search's estimated time on ViT-B/32 on this engine.
    pub vit_b32_seconds: f64,
}

pub fn search(args: &SweepArgs, files: &[FolderPhoto], labels: &[String], templates: &[String], start: f64) -> Result<LayerwiseResult> {
    let opts = Search { knots: args.knots, ..Search::default() };
    opts.check()?;
    let free = if files.iter().any(|f| f.set == SweepSet::Unlabeled) { SweepSet::Unlabeled } else { SweepSet::Shift };
    let (zero_shot, fine_tuned) = load_pair(args.zero_shot.as_deref(), args.fine_tuned.as_deref())?;
    let fine_tuned = fine_tuned.ok_or_else(|| Error::Invalid("a layer-wise search needs --fine-tuned".into()))?;
    let loaded = load_recipe(&layerwise::recipe(&vec![start; opts.knots]), zero_shot, vec![fine_tuned])?;
    let prep = loaded.pair.preprocess();
    // Photos that could not be read were reported by the sweep; here they are left out.
    let read = |set: SweepSet| -> Vec<(Option<usize>, Vec<f32>)> {
        files
            .iter()
            .filter(|f| f.set == set)
            .filter_map(|f| {
                let bytes = std::fs::read(&f.path).ok()?;
                preprocess::preprocess(&bytes, &f.name, &prep).ok().map(|p| (f.label, p))
            })
            .collect()
    };
    let images: Vec<Vec<f32>> = read(free).into_iter().map(|(_, p)| p).collect();
    let mut model = pollster::block_on(WiseFt::at(loaded.pair, loaded.point, args.device))?;

    // ViT-B/32's time per second of this model's (the estimate is linear in the time measured).
    let vit_b32_per_second = layerwise::estimate_vit_b32_seconds(&model.pair, 1.0, &opts);
    let mut objective = EntropyOnPhotos::new(&mut model, &images, labels, templates)?;
    let epoch = std::time::Instant::now();
    let clock = || epoch.elapsed().as_secs_f64();
    let mut told = false;
    let outcome = pollster::block_on(coordinate_descent(&mut objective, start, &opts, &clock, |p| {
        if !told {
            told = true;
            eprintln!(
                "layer-wise: at most {} forward passes over {} photos, about {:.0} s here (ViT-B/32 on this engine: about {:.0} s) …",
                p.most,
                images.len(),
                p.seconds_each * p.most as f64,
                p.seconds_each * vit_b32_per_second
            );
        }
        Step::Continue
    }))?;
    let Outcome::Done(found) = outcome else { return Err(Error::Invalid("layer-wise search cancelled".into())) };

    let vit_b32_seconds = vit_b32_per_second * found.seconds / found.evaluations.len() as f64;
    let point = wiseft::merge::build::point_of(&layerwise::recipe(&found.knots), &model.pair)?;
    model.set_point(point)?;
    let mut acc = |set: SweepSet| -> Result<Option<f64>> {
        let photos = read(set);
        if photos.is_empty() || photos.iter().any(|(l, _)| l.is_none()) {
            return Ok(None);
        }
        let pixels: Vec<Vec<f32>> = photos.iter().map(|(_, p)| p.clone()).collect();
        let truth: Vec<usize> = photos.iter().map(|(l, _)| l.expect("checked")).collect();
        let probs = pollster::block_on(model.classify(&pixels, labels, templates))?;
        let probs: Vec<Vec<f64>> = probs.iter().map(|p| p.iter().map(|&x| f64::from(x)).collect()).collect();
        Ok(Some(accuracy(&probs, &truth)))
    };
    Ok(LayerwiseResult {
        task_accuracy: acc(SweepSet::Task)?,
        shift_accuracy: acc(SweepSet::Shift)?,
        knots: found.knots,
        entropy: found.value,
        start_alpha: start,
        start_entropy: found.start.value,
        evaluations: found.evaluations.len(),
        seconds: found.seconds,
        vit_b32_seconds,
    })
}
