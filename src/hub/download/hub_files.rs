//! One file of a hub repository, got the way `huggingface_hub.hf_hub_download` gets it: a `HEAD`
//! names the commit and the blob (ETag); a blob already in the [`HfCache`] is linked, not
//! downloaded; without network (or with `HF_HUB_OFFLINE=1`) the cache answers alone.
//!
//! Why not the `hf-hub` crate: its 0.4 sync API reads `HF_HOME` but neither `HF_HUB_CACHE` nor
//! `HF_HUB_OFFLINE` nor `HF_TOKEN`, knows no `.no_exist` markers, and brings ureq 2 beside the
//! ureq 3 this crate downloads with (resume, retries and the errors of [`super::http`]).

use std::fs;
use std::path::PathBuf;

use super::hf_cache::{etag_name, hf_home, is_commit, HfCache};
use super::download_into;
use super::http::{head, Head};
use super::Progress;
use crate::error::{Error, Result};
use crate::hub::file_url;

/// Where hub ids are looked up and how: the endpoint, the shared cache, the token, offline mode.
#[derive(Debug, Clone)]
pub struct Hub {
    /// `https://huggingface.co` or a mirror (see [`crate::hub::endpoint`]).
    pub endpoint: String,
    pub cache: HfCache,
    /// Sent as `Authorization: Bearer …` to the endpoint only (never on a redirect to a CDN).
    pub token: Option<String>,
    /// `HF_HUB_OFFLINE`: no request at all; only what the cache holds.
    pub offline: bool,
}

/// Why a hub file is not there.
#[derive(Debug)]
pub(super) enum Missing {
    /// The hub said so (404), now or earlier (`.no_exist`).
    NotOnHub,
    /// Offline, or the hub could not be reached, and the cache does not have it.
    NotCached(Error),
}

impl Hub {
    /// `endpoint` with `cache`, no token, online.
    pub fn new(endpoint: impl Into<String>, cache: HfCache) -> Hub {
        Hub { endpoint: endpoint.into().trim_end_matches('/').to_string(), cache, token: None, offline: false }
    }

    /// What `huggingface_hub` would use: [`crate::hub::endpoint`] (`HF_ENDPOINT`),
    /// [`HfCache::from_env`], `HF_TOKEN` (else the token file `$HF_TOKEN_PATH`, else
    /// `$HF_HOME/token`) and `HF_HUB_OFFLINE`.
    pub fn from_env() -> Hub {
        let mut hub = Hub::new(crate::hub::endpoint(), HfCache::from_env());
        hub.token = token_from_env();
        hub.offline = env_flag("HF_HUB_OFFLINE");
        hub
    }

    fn auth_for(&self, url: &str) -> Option<String> {
        let ours = url.strip_prefix(&self.endpoint).is_some_and(|rest| rest.starts_with('/'));
        self.token.as_ref().filter(|_| ours).map(|t| format!("Bearer {t}"))
    }

    /// `file` of `repo` at `revision`: its path in the snapshot folder, or why it is missing.
    pub(super) fn file(
        &self,
        repo: &str,
        revision: &str,
        file: &str,
        progress: &mut dyn Progress,
    ) -> Result<std::result::Result<PathBuf, Missing>> {
        let url = file_url(&self.endpoint, repo, revision, file);
        if self.offline {
            let why = Error::Download {
                url: url.clone(),
                msg: format!(
                    "HF_HUB_OFFLINE is set and the Hugging Face cache at {} does not hold it",
                    self.cache.root().display()
                ),
            };
            return Ok(self.cached(repo, revision, file).unwrap_or(Err(Missing::NotCached(why))));
        }
        if is_commit(revision) {
            // A commit never changes: what the cache holds for it needs no request.
            if let Some(found) = self.cached(repo, revision, file) {
                return Ok(found);
            }
        }
        let auth = self.auth_for(&url);
        match head(&url, auth.as_deref())? {
            Head::Unreachable(error) => {
                // As huggingface_hub does: without an answer, use what the cache has.
                Ok(self.cached(repo, revision, file).unwrap_or(Err(Missing::NotCached(error))))
            }
            Head::NotFound { commit } => {
                if let Some(commit) = commit.filter(|c| is_commit(c)) {
                    self.cache.write_ref(repo, revision, &commit)?;
                    self.cache.remember_absent(repo, &commit, file)?;
                }
                Ok(Err(Missing::NotOnHub))
            }
            Head::Found { commit, etag, size } => {
                let commit = commit.filter(|c| is_commit(c)).ok_or_else(|| Error::Download {
                    url: url.clone(),
                    msg: "the server answered without a commit hash (X-Repo-Commit): it does not speak \
                          the Hugging Face hub's protocol; give the file's URL instead of a hub id"
                        .into(),
                })?;
                let etag = etag.as_deref().and_then(etag_name).ok_or_else(|| Error::Download {
                    url: url.clone(),
                    msg: "the server answered without a usable ETag, which names the file in the \
                          Hugging Face cache; give the file's URL instead of a hub id"
                        .into(),
                })?;
                self.cache.write_ref(repo, revision, &commit)?;
                if let Some(path) = self.cache.cached_file(repo, &commit, file) {
                    return Ok(Ok(path));
                }
                let blob = self.cache.blob_path(repo, &etag);
                if !blob.is_file() {
                    let part = self.cache.incomplete_path(repo, &etag);
                    if download_into(&url, &part, &blob, auth.as_deref(), size, progress)?.is_err() {
                        return Ok(Err(Missing::NotOnHub));
                    }
                }
                Ok(Ok(self.cache.link_snapshot(repo, &commit, file, &etag)?))
            }
        }
    }

    /// What the cache knows of `file` at `revision`, if anything.
    fn cached(
        &self,
        repo: &str,
        revision: &str,
        file: &str,
    ) -> Option<std::result::Result<PathBuf, Missing>> {
        let commit = self.cache.commit_of(repo, revision)?;
        if let Some(path) = self.cache.cached_file(repo, &commit, file) {
            return Some(Ok(path));
        }
        self.cache.known_absent(repo, &commit, file).then_some(Err(Missing::NotOnHub))
    }
}

/// `HF_TOKEN` (or the older `HUGGING_FACE_HUB_TOKEN`), else the token file huggingface_hub's
/// `hf auth login` writes.
fn token_from_env() -> Option<String> {
    let clean = |t: String| Some(t.trim().to_string()).filter(|t| !t.is_empty());
    for name in ["HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"] {
        if let Some(t) = std::env::var(name).ok().and_then(clean) {
            return Some(t);
        }
    }
    let path = std::env::var_os("HF_TOKEN_PATH")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| hf_home().join("token"));
    fs::read_to_string(path).ok().and_then(clean)
}

/// huggingface_hub's reading of a boolean variable: `1`, `ON`, `YES`, `TRUE` (any case).
fn env_flag(name: &str) -> bool {
    std::env::var(name)
        .is_ok_and(|v| matches!(v.trim().to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_goes_to_the_endpoint_only() {
        let mut hub = Hub::new("https://hf.example/", HfCache::new("/h"));
        hub.token = Some("t0k".into());
        assert_eq!(hub.auth_for("https://hf.example/o/n/resolve/main/x").as_deref(), Some("Bearer t0k"));
        assert_eq!(hub.auth_for("https://hf.example.evil/o/n"), None);
        assert_eq!(hub.auth_for("https://cdn.example/x"), None);
    }
}
