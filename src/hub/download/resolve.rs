//! A checkpoint source made local: the weights and whichever side files exist, remembering the
//! ones a repository lacks.

use std::fs::File;
use std::path::{Path, PathBuf};

use super::cache::with_suffix;
use super::{fetch, fetch_or_404, Cache, Progress};
use crate::checkpoint::{SideFiles, WEIGHT_FILES};
use crate::error::{Error, Result};
use crate::hub::{file_url, sibling_url, Source};

/// Marker written beside a cached file name when the hub said it does not exist (see
/// [`resolve_checkpoint_with`]), so that a later run needs no network for it.
const ABSENT_SUFFIX: &str = ".absent";

/// Makes `source` available locally, using [`crate::hub::endpoint`] for hub ids; see
/// [`resolve_checkpoint_with`].
pub fn resolve_checkpoint(source: &Source, cache: &Cache, progress: &mut dyn Progress) -> Result<PathBuf> {
    resolve_checkpoint_with(source, &crate::hub::endpoint(), cache, progress)
}

/// Makes `source` available locally and returns the path to load:
///
/// * [`Source::Local`]: the path as is (no check: the loader reports a missing file).
/// * [`Source::Url`]: the downloaded weights file; its siblings `config.json` and
///   `preprocessor_config.json` are fetched too when the server has them, into the same
///   cache folder, so a loader looking beside the weights finds them.
/// * [`Source::Hub`]: the cache folder holding `model.safetensors` (or, if the repository has
///   none, `pytorch_model.bin`) and whichever side files the repository has, fetched from
///   `endpoint`.
///
/// Files already in the cache are not asked for again; for hub ids the files a repository
/// lacks are remembered too, so a second run needs no network at all.
pub fn resolve_checkpoint_with(
    source: &Source,
    endpoint: &str,
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
            let url_of = |file: &str| file_url(endpoint, repo, revision, file);
            let mut missing = Vec::new();
            let mut weights = None;
            for file in WEIGHT_FILES {
                let url = url_of(file);
                let cached = cache.path_for(&url);
                if cached.is_file() {
                    weights = Some(cached);
                    break;
                }
                if with_suffix(&cached, ABSENT_SUFFIX).is_file() {
                    continue;
                }
                match fetch_or_404(&url, cache, progress).map_err(hub_note)? {
                    Ok(path) => {
                        weights = Some(path);
                        break;
                    }
                    Err(_) => missing.push(cached),
                }
            }
            let Some(weights) = weights else {
                return Err(hub_note(Error::Download {
                    url: url_of(WEIGHT_FILES[0]),
                    msg: format!(
                        "`{repo}` at revision `{revision}` has neither {}: is the repository/revision right?",
                        WEIGHT_FILES.join(" nor ")
                    ),
                }));
            };
            // Only now that the repository is known to be right are its missing files remembered.
            for path in missing {
                remember_absent(&path)?;
            }
            let weights_name = weights.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            for side in SideFiles::names_for(weights_name) {
                fetch_remembering_absence(&url_of(side), cache, progress).map_err(hub_note)?;
            }
            Ok(weights.parent().expect("cache paths have a folder").to_path_buf())
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
