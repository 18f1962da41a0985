//! Native downloads of checkpoint files into a cache, with resume, retries and progress.
//!
//! A file is streamed to `<cache path>.part` in chunks and renamed to its cache path only once
//! complete, so a file at its cache path is always whole and is served without any request.
//! A `.part` left by a broken connection or an interrupted run is resumed with a `Range` request
//! (with `If-Range` when the file's version is known, and started over if the answer is of
//! another version). A connection that sends nothing for [`STALL_SECS`] (`WISEFT_STALL_SECONDS`)
//! is abandoned and retried; a web page answered for a file is an error ([`super::answer`]).
//!
//! [`cache`] decides where a URL's file lives, [`hf_cache`] is the Hugging Face cache shared with
//! Python, [`http`] moves one file's bytes, [`hub_files`] gets one hub file the way
//! `huggingface_hub` does, [`resolve`] turns a checkpoint source into local files.

mod cache;
mod hf_cache;
mod http;
mod hub_files;
mod resolve;

use std::fs::{self, File};
use std::path::{Path, PathBuf};

pub use super::answer::{STALL_ENV, STALL_SECS};
pub use cache::Cache;
pub use hf_cache::{hf_home, HfCache};
pub use hub_files::Hub;
pub use resolve::{resolve_checkpoint, resolve_checkpoint_with};

use crate::error::{Error, Result};
use cache::{with_suffix, PART_SUFFIX};
use http::{download, Downloaded};

/// Environment variable naming the cache folder (see [`Cache::default_location`]).
pub const CACHE_ENV: &str = "WISEFT_CACHE";

/// How many times a broken download is retried (resuming from what is on disk) before failing.
pub const MAX_RETRIES: u32 = 3;

/// Receives the progress of downloads.
///
/// For each file that is actually downloaded: `start` once the server has answered (again for
/// the same URL if the download resumes after a broken connection, with `already` the bytes on
/// disk), `advance` for each chunk written, `finish` once the file is complete. A file served
/// from the cache, or absent (optional files), causes no calls; a failed one no `finish`.
pub trait Progress {
    /// `total`: the whole file's size if the server said it; `already`: bytes kept from before.
    fn start(&mut self, url: &str, total: Option<u64>, already: u64);
    fn advance(&mut self, bytes: u64);
    fn finish(&mut self);
}

/// Reports nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&mut self, _url: &str, _total: Option<u64>, _already: u64) {}
    fn advance(&mut self, _bytes: u64) {}
    fn finish(&mut self) {}
}

impl Progress for () {
    fn start(&mut self, _url: &str, _total: Option<u64>, _already: u64) {}
    fn advance(&mut self, _bytes: u64) {}
    fn finish(&mut self) {}
}

/// The cached file of `url`, downloading it first unless it is already complete in `cache`.
///
/// A 404 or any other failure is an error naming the URL.
pub fn fetch(url: &str, cache: &Cache, progress: &mut dyn Progress) -> Result<PathBuf> {
    fetch_or_404(url, cache, progress)?
}

/// Like [`fetch`], but a 404 gives `Ok(None)` (for optional side files such as `config.json`).
pub fn fetch_optional(url: &str, cache: &Cache, progress: &mut dyn Progress) -> Result<Option<PathBuf>> {
    Ok(fetch_or_404(url, cache, progress)?.ok())
}

/// `Ok(Ok(path))` when the file is there, `Ok(Err(e))` on a 404 (`e` says so), `Err` otherwise.
fn fetch_or_404(
    url: &str,
    cache: &Cache,
    progress: &mut dyn Progress,
) -> Result<std::result::Result<PathBuf, Error>> {
    let path = cache.path_for(url);
    if path.is_file() {
        return Ok(Ok(path));
    }
    let part = with_suffix(&path, PART_SUFFIX);
    Ok(download_into(url, &part, &path, None, None, progress)?.map(|()| path))
}

/// Downloads `url` into `path` by way of `part` (resuming what `part` holds), renamed only once
/// whole, so a file at `path` is always complete. `expected_len`: the size the server announced
/// elsewhere (the hub's `X-Linked-Size`); a file of another size is discarded. `Ok(Err(e))` on a
/// 404. Both caches (URLs, and the Hugging Face one for hub ids) store files this way.
fn download_into(
    url: &str,
    part: &Path,
    path: &Path,
    auth: Option<&str>,
    expected_len: Option<u64>,
    progress: &mut dyn Progress,
) -> Result<std::result::Result<(), Error>> {
    let folder = path.parent().expect("cache paths have a folder");
    fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
    match download(url, part, auth, progress)? {
        Downloaded::Complete => {
            let got = fs::metadata(part).map_err(|e| Error::io(part, e))?.len();
            if let Some(n) = expected_len.filter(|&n| n != got) {
                let _ = fs::remove_file(part);
                return Err(Error::Download {
                    url: url.into(),
                    msg: format!("the hub announced {n} bytes but {got} arrived; the download was discarded, try again"),
                });
            }
            fs::rename(part, path).map_err(|e| Error::io(path, e))?;
            sync_dir(folder);
            progress.finish();
            Ok(Ok(()))
        }
        Downloaded::NotFound(e) => Ok(Err(e)),
    }
}

/// Makes a rename durable where the platform allows; failures only cost durability.
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}
