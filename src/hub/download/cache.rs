//! The download cache: where each URL's file lives on disk.

use std::path::{Path, PathBuf};

use super::super::strip_query;
use super::CACHE_ENV;

/// Suffix of a file that is still downloading (see [`Cache::partial_path_for`]).
pub(super) const PART_SUFFIX: &str = ".part";

/// A folder of downloaded files. Each URL maps to a stable path below the root:
/// `{root}/{host}/{folder segments}-{hash}/{file name}`, where the hash is taken over the whole
/// URL up to its last `/` (so two revisions never share a folder, while the files of one
/// checkpoint folder — weights, `config.json`, … — always do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// A cache rooted at `root` (created when the first file is stored).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Cache { root: root.into() }
    }

    /// `$WISEFT_CACHE`, else `$XDG_CACHE_HOME/wiseft`, else `$HOME/.cache/wiseft`
    /// (`%USERPROFILE%\.cache\wiseft` on Windows), else `wiseft-cache` in the temp folder.
    pub fn default_location() -> Self {
        fn var(name: &str) -> Option<PathBuf> {
            std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
        }
        if let Some(p) = var(CACHE_ENV) {
            return Cache::new(p);
        }
        if let Some(p) = var("XDG_CACHE_HOME") {
            return Cache::new(p.join("wiseft"));
        }
        if let Some(p) = var("HOME").or_else(|| var("USERPROFILE")) {
            return Cache::new(p.join(".cache").join("wiseft"));
        }
        Cache::new(std::env::temp_dir().join("wiseft-cache"))
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder the file of `url` is stored in (shared with its [`sibling_url`]s).
    pub fn folder_for(&self, url: &str) -> PathBuf {
        let parts = UrlParts::new(url);
        let mut name = parts.dirs.iter().map(|s| sanitize(s)).collect::<Vec<_>>().join("--");
        truncate(&mut name, 100);
        let hash = format!("{:012x}", fnv1a64(parts.folder_key.as_bytes()) >> 16);
        let leaf = if name.is_empty() { hash } else { format!("{name}-{hash}") };
        self.root.join(sanitize(parts.host)).join(leaf)
    }

    /// Where the file of `url` is stored once complete. Query strings are not part of it.
    pub fn path_for(&self, url: &str) -> PathBuf {
        let parts = UrlParts::new(url);
        let mut file = sanitize(parts.file);
        truncate(&mut file, 120);
        if file.is_empty() || file == "_" {
            file = "index".to_string();
        }
        self.folder_for(url).join(file)
    }

    /// Where the file of `url` is written while it downloads: its [`path_for`](Self::path_for)
    /// plus `.part`.
    pub fn partial_path_for(&self, url: &str) -> PathBuf {
        with_suffix(&self.path_for(url), PART_SUFFIX)
    }
}

/// The pieces of a URL that the cache layout needs.
pub(super) struct UrlParts<'a> {
    /// host[:port], without any `user:password@`.
    pub(super) host: &'a str,
    /// Path segments before the file name.
    dirs: Vec<&'a str>,
    /// The last path segment.
    file: &'a str,
    /// Everything up to and including the last `/` of the path, query dropped.
    folder_key: &'a str,
}

impl<'a> UrlParts<'a> {
    pub(super) fn new(url: &'a str) -> Self {
        let base = strip_query(url);
        let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
        let rest = &base[after_scheme..];
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i + 1..]),
            None => (rest, ""),
        };
        let host = authority.rsplit('@').next().unwrap_or(authority);
        let mut segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let file = if path.ends_with('/') { "" } else { segs.pop().unwrap_or("") };
        let folder_key = &base[..base.len() - file.len()];
        UrlParts { host, dirs: segs, file, folder_key }
    }
}

/// Keeps `[A-Za-z0-9._-]`, replaces anything else by `_`; never yields a hidden or `..` name.
fn sanitize(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .collect();
    if out.starts_with('.') {
        out.replace_range(..1, "_");
    }
    out
}

fn truncate(s: &mut String, max: usize) {
    if s.len() > max {
        s.truncate(max); // ASCII only after sanitize
    }
}

/// 64-bit FNV-1a: stable across Rust versions and platforms (unlike `DefaultHasher`).
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3))
}

pub(super) fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hub::sibling_url;

    #[test]
    fn cache_layout() {
        let c = Cache::new("/c");
        let main = "https://huggingface.co/openai/clip-vit-base-patch32/resolve/main/model.safetensors";
        let pr =
            "https://huggingface.co/openai/clip-vit-base-patch32/resolve/refs%2Fpr%2F15/model.safetensors";
        let p = c.path_for(main);
        assert!(
            p.to_str()
                .unwrap()
                .starts_with("/c/huggingface.co/openai--clip-vit-base-patch32--resolve--main-"),
            "{p:?}"
        );
        assert_eq!(p.file_name().unwrap(), "model.safetensors");
        assert_ne!(c.folder_for(main), c.folder_for(pr));
        assert!(c.folder_for(pr).to_str().unwrap().contains("refs_2Fpr_2F15"));
        // Siblings share the folder; query strings do not matter; the path is stable.
        assert_eq!(c.path_for(&sibling_url(main, "config.json")).parent(), p.parent());
        assert_eq!(c.path_for(&format!("{main}?download=true")), p);
        assert_eq!(c.path_for(main), p);
        // Ports, credentials and odd names.
        let q = c.path_for("http://user:pw@127.0.0.1:8080/../x y/.hidden");
        assert!(q.starts_with("/c/127.0.0.1_8080/"), "{q:?}");
        assert!(!q.to_str().unwrap().contains("pw"));
        assert_eq!(q.file_name().unwrap(), "_hidden");
        assert!(!q.components().any(|c| c == std::path::Component::ParentDir));
        assert_eq!(c.path_for("http://h.org/").file_name().unwrap(), "index");
        assert_eq!(c.partial_path_for(main), with_suffix(&p, ".part"));
    }

    #[test]
    fn stable_hash() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }
}
