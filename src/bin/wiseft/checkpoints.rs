//! Checkpoints as the commands take them: a path, URL or hub id resolved (downloading with a
//! progress bar), opened, and what was assumed or merged said on stderr.

use std::path::PathBuf;

use wiseft::checkpoint::Checkpoint;
use wiseft::clip::config::ConfigSource;
use wiseft::error::Result;
use wiseft::hub::{self, download::{resolve_checkpoint, Cache}};
use wiseft::merge::MergeReport;

use crate::progress::CliProgress;

/// A local path, URL or hub id → a local file or folder (downloading into the cache when needed).
fn resolve(source: &str) -> Result<PathBuf> {
    let source = hub::parse_source(source);
    let cache = Cache::default_location();
    resolve_checkpoint(&source, &cache, &mut CliProgress::new())
}

pub fn load(source: &str) -> Result<Checkpoint> {
    let path = resolve(source)?;
    let ckpt = Checkpoint::open(&path)?;
    if let ConfigSource::Inferred { assumptions } = &ckpt.config_source {
        eprintln!("note: {}: no config.json, configuration inferred from tensor shapes", ckpt.name);
        for a in assumptions {
            eprintln!("  assumed {a}");
        }
    }
    Ok(ckpt)
}

/// The pair of `--zero-shot` / `--fine-tuned`; without `--zero-shot` the built-in generated-world
/// pair (its fine-tune unless `--fine-tuned` names another).
pub fn load_pair(zero_shot: Option<&str>, fine_tuned: Option<&str>) -> Result<(Checkpoint, Option<Checkpoint>)> {
    Ok(match zero_shot {
        Some(path) => (load(path)?, fine_tuned.map(load).transpose()?),
        None => {
            eprintln!("note: no --zero-shot: using the built-in generated-world pair (www/models/toy)");
            let fine_tuned = match fine_tuned {
                Some(path) => load(path)?,
                None => crate::embedded::fine_tuned()?,
            };
            (crate::embedded::zero_shot()?, Some(fine_tuned))
        }
    })
}

pub fn print_report(report: &MergeReport) {
    eprintln!(
        "merge: {} tensors interpolated ({} parameters), {} kept from the zero-shot model ({} parameters)",
        report.interpolated.len(),
        report.interpolated_parameters,
        report.kept.len(),
        report.kept_parameters
    );
    if !report.extra.is_empty() {
        eprintln!("merge: {} tensors only in the fine-tuned model, ignored: {}", report.extra.len(), report.extra.join(", "));
    }
}

