//! The Hugging Face cache, laid out exactly as `huggingface_hub` lays it out, so that a model
//! Python already downloaded is not downloaded again and what `wiseft` downloads is Python's too:
//!
//! ```text
//! {root}/models--{owner}--{name}/
//!     blobs/{etag}                       the file's bytes, named by its ETag (sha256 for LFS files)
//!     blobs/{etag}.incomplete            while it downloads (resumed with Range)
//!     refs/{revision}                    the commit a branch or tag pointed to when last asked
//!     snapshots/{commit}/{file}          → ../../blobs/{etag} (a relative symlink; a copy where
//!                                          the platform has none)
//!     .no_exist/{commit}/{file}          empty: the hub said this commit has no such file
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The root of the cache: `$HF_HUB_CACHE`, else `$HUGGINGFACE_HUB_CACHE` (its older name), else
/// `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`: the
/// order `huggingface_hub.constants` uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfCache {
    root: PathBuf,
}

/// `$HF_HOME`, else `$XDG_CACHE_HOME/huggingface`, else `~/.cache/huggingface`.
pub fn hf_home() -> PathBuf {
    if let Some(p) = var("HF_HOME") {
        return p;
    }
    if let Some(p) = var("XDG_CACHE_HOME") {
        return p.join("huggingface");
    }
    match var("HOME").or_else(|| var("USERPROFILE")) {
        Some(home) => home.join(".cache").join("huggingface"),
        None => std::env::temp_dir().join("huggingface"),
    }
}

fn var(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

impl HfCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        HfCache { root: root.into() }
    }

    pub fn from_env() -> Self {
        match var("HF_HUB_CACHE").or_else(|| var("HUGGINGFACE_HUB_CACHE")) {
            Some(p) => HfCache::new(p),
            None => HfCache::new(hf_home().join("hub")),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `models--owner--name` (huggingface_hub's `repo_folder_name` for a model repository).
    pub fn repo_folder(&self, repo: &str) -> PathBuf {
        self.root.join(format!("models--{}", repo.replace('/', "--")))
    }

    pub fn snapshot_dir(&self, repo: &str, commit: &str) -> PathBuf {
        self.repo_folder(repo).join("snapshots").join(commit)
    }

    /// The commit `revision` stands for: itself when it is a commit hash, else what
    /// `refs/{revision}` recorded the last time the hub was asked.
    pub fn commit_of(&self, repo: &str, revision: &str) -> Option<String> {
        if is_commit(revision) {
            return Some(revision.to_string());
        }
        let text = fs::read_to_string(self.repo_folder(repo).join("refs").join(revision)).ok()?;
        let commit = text.trim();
        is_commit(commit).then(|| commit.to_string())
    }

    /// The file of `commit` when its snapshot has it (following the symlink to a whole blob).
    pub fn cached_file(&self, repo: &str, commit: &str, file: &str) -> Option<PathBuf> {
        let p = self.snapshot_dir(repo, commit).join(file);
        p.is_file().then_some(p)
    }

    /// Whether the hub said `commit` has no `file`.
    pub fn known_absent(&self, repo: &str, commit: &str, file: &str) -> bool {
        self.repo_folder(repo).join(".no_exist").join(commit).join(file).is_file()
    }

    pub fn blob_path(&self, repo: &str, etag: &str) -> PathBuf {
        self.repo_folder(repo).join("blobs").join(etag)
    }

    /// Where a blob is written while it downloads.
    pub fn incomplete_path(&self, repo: &str, etag: &str) -> PathBuf {
        self.repo_folder(repo).join("blobs").join(format!("{etag}.incomplete"))
    }

    /// Records that `revision` points at `commit` (nothing to record when it is the commit).
    pub fn write_ref(&self, repo: &str, revision: &str, commit: &str) -> Result<()> {
        self.tag_root();
        if revision == commit {
            return Ok(());
        }
        let path = self.repo_folder(repo).join("refs").join(revision);
        if fs::read_to_string(&path).is_ok_and(|t| t.trim() == commit) {
            return Ok(());
        }
        create_parent(&path)?;
        fs::write(&path, commit).map_err(|e| Error::io(&path, e))
    }

    /// Links `snapshots/{commit}/{file}` to the complete blob `etag` and returns the link.
    pub fn link_snapshot(&self, repo: &str, commit: &str, file: &str, etag: &str) -> Result<PathBuf> {
        let link = self.snapshot_dir(repo, commit).join(file);
        create_parent(&link)?;
        if link.is_file() {
            return Ok(link);
        }
        let _ = fs::remove_file(&link); // a dangling link left by a removed blob
        // `file` may hold `/` (sub/dir/x.json): one `..` per level up to the repository folder.
        let depth = Path::new(file).components().count() + 1;
        let target = PathBuf::from("../".repeat(depth)).join("blobs").join(etag);
        #[cfg(unix)]
        std::os::unix::fs::symlink(&target, &link).map_err(|e| Error::io(&link, e))?;
        #[cfg(not(unix))]
        fs::copy(self.blob_path(repo, etag), &link).map(drop).map_err(|e| Error::io(&link, e))?;
        Ok(link)
    }

    /// Marks `file` as absent from `commit` (`.no_exist`), so that it is not asked for again.
    pub fn remember_absent(&self, repo: &str, commit: &str, file: &str) -> Result<()> {
        let path = self.repo_folder(repo).join(".no_exist").join(commit).join(file);
        create_parent(&path)?;
        fs::write(&path, b"").map_err(|e| Error::io(&path, e))
    }
}

impl HfCache {
    /// Marks the root as a cache (https://bford.info/cachedir/), as huggingface_hub does, so
    /// that backups skip it. Best effort: a cache without the tag works the same.
    fn tag_root(&self) {
        let tag = self.root.join("CACHEDIR.TAG");
        if !tag.exists() && fs::create_dir_all(&self.root).is_ok() {
            let _ = fs::write(
                tag,
                "Signature: 8a477f597d28d172789f06886806bc55\n\
                 # This file is a cache directory tag created by wiseft (the Hugging Face cache).\n\
                 # For information about cache directory tags, see:\n#\thttps://bford.info/cachedir/\n",
            );
        }
    }
}

fn create_parent(path: &Path) -> Result<()> {
    let dir = path.parent().expect("cache paths have a folder");
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}

/// A full git commit hash (40 lowercase hex digits), as `X-Repo-Commit` carries it.
pub fn is_commit(s: &str) -> bool {
    s.len() == 40 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// An ETag as the blob's file name: quotes and a weak `W/` dropped; `None` when what is left
/// could not be a file name of its own (the server's header must never choose a path).
pub fn etag_name(header: &str) -> Option<String> {
    let t = header.trim();
    let t = t.strip_prefix("W/").unwrap_or(t).trim_matches('"');
    let ok = !t.is_empty()
        && t.len() <= 128
        && !t.starts_with('.')
        && t.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
    ok.then(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_huggingface_hub() {
        let c = HfCache::new("/h");
        assert_eq!(c.repo_folder("openai/clip-vit-base-patch32"), Path::new("/h/models--openai--clip-vit-base-patch32"));
        let commit = "3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268";
        assert_eq!(
            c.snapshot_dir("o/n", commit),
            Path::new("/h/models--o--n/snapshots/3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268")
        );
        assert_eq!(c.incomplete_path("o/n", "abc"), Path::new("/h/models--o--n/blobs/abc.incomplete"));
        assert_eq!(c.commit_of("o/n", commit).as_deref(), Some(commit));
        assert_eq!(c.commit_of("o/n", "main"), None);
    }

    #[test]
    fn etags_become_safe_file_names() {
        assert_eq!(etag_name("\"a1b2\"").as_deref(), Some("a1b2"));
        assert_eq!(etag_name("W/\"a1b2-3\"").as_deref(), Some("a1b2-3"));
        for bad in ["\"\"", "\"../x\"", "\"a/b\"", "\".hidden\"", "\"a b\""] {
            assert_eq!(etag_name(bad), None, "{bad}");
        }
        assert!(is_commit("3d74acf9a28c67741b2f4f2ea7635f0aaf6f0268"));
        assert!(!is_commit("main") && !is_commit("3D74ACF9A28C67741B2F4F2EA7635F0AAF6F0268"));
    }
}
