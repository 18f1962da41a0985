//! A checkpoint source made local: the weights and whichever side files exist, remembering the
//! ones a server lacks.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::cache::with_suffix;
use super::hub_files::{Hub, Missing};
use super::{fetch, fetch_or_404, Cache, Progress};
use crate::checkpoint::{SideFiles, WEIGHT_FILES};
use crate::error::{Error, Result};
use crate::hub::{file_url, sibling_url, Source};

/// Marker written beside a cached file name when a server said it does not exist, so that a
/// later run needs no network for it.
const ABSENT_SUFFIX: &str = ".absent";

/// Makes `source` available locally, looking hub ids up as `huggingface_hub` would
/// ([`Hub::from_env`]); see [`resolve_checkpoint_with`].
pub fn resolve_checkpoint(source: &Source, cache: &Cache, progress: &mut dyn Progress) -> Result<PathBuf> {
    resolve_checkpoint_with(source, &Hub::from_env(), cache, progress)
}

/// Makes `source` available locally and returns the path to load:
///
/// * [`Source::Local`]: the path as is (no check: the loader reports a missing file).
/// * [`Source::Url`]: the downloaded weights file in `cache`; its siblings `config.json` and
///   `preprocessor_config.json` are fetched too when the server has them, into the same
///   cache folder, so a loader looking beside the weights finds them. A file in the cache is
///   not asked for again, nor one the server said it lacks.
/// * [`Source::Hub`]: the snapshot folder, in `hub`'s Hugging Face cache, holding
///   `model.safetensors` (or, if the repository has none, `pytorch_model.bin`) and whichever
///   side files the repository has. Files Python downloaded are used as they are; a branch is
///   asked for its current commit (a `HEAD` per file), a commit hash needs no request, and
///   without network or with `HF_HUB_OFFLINE` the cache answers alone.
pub fn resolve_checkpoint_with(
    source: &Source,
    hub: &Hub,
    cache: &Cache,
    progress: &mut dyn Progress,
) -> Result<PathBuf> {
    match source {
        Source::Local(path) => Ok(path.clone()),
        Source::Url(url) => {
            let weights = fetch(url, cache, progress)?;
            let name = weights.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
            for side in SideFiles::names_for(&name).iter().filter(|s| **s != name) {
                fetch_remembering_absence(&sibling_url(url, side), cache, progress)?;
            }
            Ok(weights)
        }
        Source::Hub { repo, revision } => {
            let hub_note = |e: Error| match e {
                Error::Download { url, msg } => Error::Download {
                    url,
                    msg: format!(
                        "{msg} [`{repo}` is not a local path, so it was looked up as a hub repository]"
                    ),
                },
                other => other,
            };
            let mut weights = None;
            let mut not_cached = None;
            for file in WEIGHT_FILES {
                match hub.file(repo, revision, file, progress).map_err(hub_note)? {
                    Ok(path) => {
                        weights = Some(path);
                        break;
                    }
                    Err(Missing::NotCached(e)) => not_cached = not_cached.or(Some(e)),
                    Err(Missing::NotOnHub) => {}
                }
            }
            let Some(weights) = weights else {
                // Offline or unreachable: say that, not that the repository lacks the files.
                if let Some(e) = not_cached {
                    return Err(hub_note(e));
                }
                return Err(hub_note(Error::Download {
                    url: file_url(&hub.endpoint, repo, revision, WEIGHT_FILES[0]),
                    msg: format!(
                        "`{repo}` at revision `{revision}` has neither {}: is the repository/revision right?",
                        WEIGHT_FILES.join(" nor ")
                    ),
                }));
            };
            let weights_name = weights.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            for side in SideFiles::names_for(weights_name) {
                // A side file the repository lacks, or that is not cached while offline, is
                // simply absent: the loader then infers the configuration from the tensors.
                let _ = hub.file(repo, revision, side, progress).map_err(hub_note)?;
            }
            Ok(weights.parent().expect("snapshot files have a folder").to_path_buf())
        }
    }
}

/// [`fetch_optional`], remembering a 404 in the cache so that it is not asked again.
fn fetch_remembering_absence(
    url: &str,
    cache: &Cache,
    progress: &mut dyn Progress,
) -> Result<Option<PathBuf>> {
    let path = cache.path_for(url);
    if path.is_file() {
        return Ok(Some(path));
    }
    if with_suffix(&path, ABSENT_SUFFIX).is_file() {
        return Ok(None);
    }
    match fetch_or_404(url, cache, progress)? {
        Ok(p) => Ok(Some(p)),
        Err(_) => {
            remember_absent(&path)?;
            Ok(None)
        }
    }
}

fn remember_absent(path: &Path) -> Result<()> {
    let marker = with_suffix(path, ABSENT_SUFFIX);
    File::create(&marker).map(drop).map_err(|e| Error::io(&marker, e))
}
