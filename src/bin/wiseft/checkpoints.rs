//! Checkpoints as the commands take them: a path, URL or hub id resolved (downloading with a
//! progress bar), opened, and what was assumed or merged said on stderr.

use std::path::{Path, PathBuf};

use wiseft::checkpoint::provenance::{sha256_file, SourceRecord};
use wiseft::checkpoint::{weights_path, Checkpoint};
use wiseft::clip::config::ConfigSource;
use wiseft::error::Result;
use wiseft::hub::{self, download::{resolve_checkpoint, Cache}};
use wiseft::merge::MergeReport;
use wiseft::session::limits;

use crate::progress::CliProgress;

/// A local path, URL or hub id → a local file or folder (downloading into the cache when needed).
fn resolve(source: &str) -> Result<PathBuf> {
    let source = hub::parse_source(source);
    let cache = Cache::default_location();
    resolve_checkpoint(&source, &cache, &mut CliProgress::new())
}

pub fn load(source: &str) -> Result<Checkpoint> {
    load_file(source).map(|(ckpt, _)| ckpt)
}

/// [`load`], with the weights file it read (in the cache, for a URL or hub id).
pub fn load_file(source: &str) -> Result<(Checkpoint, PathBuf)> {
    let path = resolve(source)?;
    let weights = weights_path(&path)?;
    // Refused before it is read when it cannot fit: running out of memory halfway is a kill by the
    // system, with no message.
    let size = std::fs::metadata(&weights).map(|m| m.len()).unwrap_or(0);
    if let Some(why) = limits::host_memory_available().and_then(|free| limits::checkpoint_refused(&weights.display().to_string(), size, free)) {
        return Err(wiseft::error::Error::Invalid(why));
    }
    let ckpt = Checkpoint::open(&path)?;
    if let ConfigSource::Inferred { assumptions } = &ckpt.config_source {
        eprintln!("note: {}: no config.json, configuration inferred from tensor shapes", ckpt.name);
        for a in assumptions {
            eprintln!("  assumed {a}");
        }
    }
    Ok((ckpt, weights))
}

/// Loads the checkpoints a merge reads, each with its provenance record: the source as the person
/// gave it (`given`) and the SHA-256 of its weights file (read once more, from the page cache
/// by then, in pieces: a merge reads each file whole already, and only a merge needs the digest).
pub fn load_recorded(zero_shot: &str, fine_tuned: &[String]) -> Result<(Checkpoint, Vec<Checkpoint>, Vec<SourceRecord>)> {
    let digest = |source: &str| -> Result<(Checkpoint, String)> {
        let (ckpt, weights) = load_file(source)?;
        Ok((ckpt, sha256_file(&weights)?))
    };
    let (zs, sha) = digest(zero_shot)?;
    let mut records = vec![SourceRecord::zero_shot(zero_shot, sha)];
    let mut fts = Vec::new();
    for (i, source) in fine_tuned.iter().enumerate() {
        let (ft, sha) = digest(source)?;
        records.push(SourceRecord::fine_tuned(i, source.as_str(), sha));
        fts.push(ft);
    }
    Ok((zs, fts, records))
}

/// The provenance a safetensors weights file carries in its header (`None`: not safetensors, or
/// written by another tool).
pub fn provenance_of(weights: &Path) -> Result<Option<wiseft::checkpoint::provenance::Provenance>> {
    use std::io::Read;
    use wiseft::checkpoint::safetensors::{header_len, parse_header};
    let name = weights.display().to_string();
    let mut file = std::fs::File::open(weights).map_err(|e| wiseft::error::Error::io(weights, e))?;
    let mut prefix = vec![0u8; 8];
    if file.read_exact(&mut prefix).is_err() || wiseft::checkpoint::pytorch::looks_like_zip(&prefix) {
        return Ok(None);
    }
    let len = file.metadata().ok().map(|m| m.len());
    let n = header_len(&prefix, &name, len)?;
    prefix.resize(8 + n, 0);
    file.read_exact(&mut prefix[8..]).map_err(|e| wiseft::error::Error::io(weights, e))?;
    let header = parse_header(&prefix, &name, None)?;
    Ok(wiseft::checkpoint::provenance::Provenance::from_metadata(&header.metadata))
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

