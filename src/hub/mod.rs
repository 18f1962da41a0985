//! Where a checkpoint comes from: a local path, a URL, or a Hugging Face hub repository id.
//!
//! This module is target-independent (it also compiles for wasm32): it only parses sources and
//! builds URLs. Downloading and caching live in [`download`], which exists on native targets only;
//! [`answer`] (what a server's answer says: a changed file, a web page, a stall) serves both.

pub mod answer;
#[cfg(not(target_arch = "wasm32"))]
pub mod download;

use std::path::{Path, PathBuf};

/// Hub used for `owner/name[@revision]` sources unless overridden (see [`endpoint`]).
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Environment variable that replaces [`DEFAULT_ENDPOINT`] on native targets (mirrors, tests).
pub const ENDPOINT_ENV: &str = "WISEFT_HUB_ENDPOINT";

/// Revision used when a hub id has no `@revision`.
pub const DEFAULT_REVISION: &str = "main";


/// Where a checkpoint comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A file or folder on this machine (or a path that does not exist, so that the later
    /// "file not found" error names it).
    Local(PathBuf),
    /// An `http://` or `https://` URL of a weights file.
    Url(String),
    /// A hub repository `owner/name` at a revision (branch, tag, commit or `refs/pr/N`).
    Hub { repo: String, revision: String },
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Local(p) => write!(f, "{}", p.display()),
            Source::Url(u) => f.write_str(u),
            Source::Hub { repo, revision } => write!(f, "{repo}@{revision}"),
        }
    }
}

/// Whether `p` exists on this machine; always `false` on wasm32, which has no file system.
pub fn path_exists(p: &Path) -> bool {
    #[cfg(not(target_arch = "wasm32"))]
    {
        p.exists()
    }
    #[cfg(target_arch = "wasm32")]
    {
        let _ = p;
        false
    }
}

/// Reads a command-line checkpoint argument; see [`parse_source_with`].
pub fn parse_source(s: &str) -> Source {
    parse_source_with(s, path_exists)
}

/// Reads a checkpoint argument, with `exists` telling whether a local path exists:
///
/// * `http://…` / `https://…` → [`Source::Url`];
/// * an existing path → [`Source::Local`];
/// * `owner/name` or `owner/name@revision` (revision defaults to `main`, may contain `/` as in
///   `refs/pr/15`) → [`Source::Hub`];
/// * anything else → [`Source::Local`], so the later "not found" error names it.
///
/// A string that ends like a checkpoint file (`dir/model.safetensors`, `x/y.bin`, …) is never
/// taken as a hub id: a missing local file should be reported as such, not as a hub 404.
pub fn parse_source_with(s: &str, exists: impl Fn(&Path) -> bool) -> Source {
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Source::Url(s.to_string());
    }
    if exists(Path::new(s)) {
        return Source::Local(PathBuf::from(s));
    }
    if let Some((repo, revision)) = split_hub_id(s) {
        return Source::Hub { repo, revision };
    }
    Source::Local(PathBuf::from(s))
}

/// `owner/name[@revision]` → (repo, revision), or None when `s` is not shaped like a hub id.
fn split_hub_id(s: &str) -> Option<(String, String)> {
    let (repo, revision) = match s.split_once('@') {
        Some((repo, rev)) => (repo, rev),
        None => (s, DEFAULT_REVISION),
    };
    let (owner, name) = repo.split_once('/')?;
    if !is_hub_name(owner) || !is_hub_name(name) || !is_revision(revision) {
        return None;
    }
    const FILE_ENDINGS: [&str; 7] = [".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".json", ".zip"];
    let lname = name.to_ascii_lowercase();
    if FILE_ENDINGS.iter().any(|e| lname.ends_with(e)) {
        return None;
    }
    Some((repo.to_string(), revision.to_string()))
}

/// A hub owner or repository name: letters, digits, `-`, `_`, `.`; not starting or ending with
/// `-` or `.`, no `--` or `..` (the hub's own rules), at most 96 characters.
fn is_hub_name(s: &str) -> bool {
    let ok_chars = s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    ok_chars
        && !s.is_empty()
        && s.len() <= 96
        && !s.starts_with(['-', '.'])
        && !s.ends_with(['-', '.'])
        && !s.contains("--")
        && !s.contains("..")
}

/// A git revision as it may be written after `@`: a branch, tag, commit or `refs/pr/N`.
fn is_revision(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 255
        && !s.contains("..")
        && !s.starts_with('/')
        && !s.ends_with('/')
        && !s.contains("//")
        && s.chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '~' | '^' | ':' | '?' | '*' | '[' | '\\' | '@'))
}

/// The hub to download `owner/name` sources from: `$WISEFT_HUB_ENDPOINT`, else `$HF_ENDPOINT`
/// (the variable huggingface_hub uses for mirrors), else [`DEFAULT_ENDPOINT`]; on wasm32 always
/// the default. A trailing `/` is dropped.
pub fn endpoint() -> String {
    #[cfg(not(target_arch = "wasm32"))]
    {
        for var in [ENDPOINT_ENV, "HF_ENDPOINT"] {
            if let Ok(v) = std::env::var(var) {
                let v = v.trim().trim_end_matches('/');
                if !v.is_empty() {
                    return v.to_string();
                }
            }
        }
    }
    DEFAULT_ENDPOINT.to_string()
}

/// `{endpoint}/{repo}/resolve/{revision}/{file}`, with the revision percent-encoded as the hub
/// expects (`refs/pr/15` → `refs%2Fpr%2F15`) and the file name encoded except for its `/`.
pub fn file_url(endpoint: &str, repo: &str, revision: &str, file: &str) -> String {
    format!(
        "{}/{}/resolve/{}/{}",
        endpoint.trim_end_matches('/'),
        repo,
        percent_encode(revision, false),
        percent_encode(file, true)
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters (and `/` if `keep_slash`).
fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The URL of `file` in the same folder as `weights_url`: the last path segment is replaced and
/// any query string or fragment is dropped.
///
/// `https://huggingface.co/o/n/resolve/refs%2Fpr%2F15/model.safetensors?download=true`,
/// `config.json` → `https://huggingface.co/o/n/resolve/refs%2Fpr%2F15/config.json`.
pub fn sibling_url(weights_url: &str, file: &str) -> String {
    let base = strip_query(weights_url);
    let after_scheme = base.find("://").map(|i| i + 3).unwrap_or(0);
    match base[after_scheme..].rfind('/') {
        Some(i) => format!("{}{}", &base[..after_scheme + i + 1], file),
        None => format!("{base}/{file}"),
    }
}

/// `url` without its `?query` and `#fragment`.
pub(crate) fn strip_query(url: &str) -> &str {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    &url[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Source {
        parse_source_with(s, |_| false)
    }

    fn hub(repo: &str, revision: &str) -> Source {
        Source::Hub { repo: repo.into(), revision: revision.into() }
    }

    #[test]
    fn urls() {
        assert_eq!(
            parse("https://x.org/a/b.safetensors"),
            Source::Url("https://x.org/a/b.safetensors".into())
        );
        assert_eq!(parse("HTTP://x.org/a"), Source::Url("HTTP://x.org/a".into()));
    }

    #[test]
    fn hub_ids() {
        assert_eq!(parse("openai/clip-vit-base-patch32"), hub("openai/clip-vit-base-patch32", "main"));
        assert_eq!(
            parse("openai/clip-vit-base-patch32@refs/pr/15"),
            hub("openai/clip-vit-base-patch32", "refs/pr/15")
        );
        assert_eq!(parse("laion/CLIP-ViT-B-32.laion2B@v1.0"), hub("laion/CLIP-ViT-B-32.laion2B", "v1.0"));
        assert_eq!(parse("a/b@3f2a9c"), hub("a/b", "3f2a9c"));
    }

    #[test]
    fn existing_paths_win() {
        assert_eq!(parse_source_with("openai/clip", |_| true), Source::Local("openai/clip".into()));
    }

    #[test]
    fn everything_else_is_local() {
        for s in [
            "model.safetensors",
            "./openai/clip",
            "/abs/path",
            "a/b/c",
            "dir/model.safetensors",
            "ckpt/pytorch_model.bin",
            "a/b@",
            "a/b@x@y",
            "a/b@refs/../x",
            "-a/b",
            "a/b.",
            "a b/c",
            "~/x",
            "C:\\models\\m.safetensors",
            "",
        ] {
            assert_eq!(parse(s), Source::Local(s.into()), "{s:?}");
        }
    }

    #[test]
    fn urls_of_hub_files() {
        assert_eq!(
            file_url(
                "https://huggingface.co",
                "openai/clip-vit-base-patch32",
                "refs/pr/15",
                "model.safetensors"
            ),
            "https://huggingface.co/openai/clip-vit-base-patch32/resolve/refs%2Fpr%2F15/model.safetensors"
        );
        assert_eq!(
            file_url("http://127.0.0.1:9/", "a/b", "main", "sub dir/x.json"),
            "http://127.0.0.1:9/a/b/resolve/main/sub%20dir/x.json"
        );
    }

    #[test]
    fn siblings() {
        let w =
            "https://huggingface.co/openai/clip-vit-base-patch32/resolve/refs%2Fpr%2F15/model.safetensors";
        assert_eq!(
            sibling_url(w, "config.json"),
            "https://huggingface.co/openai/clip-vit-base-patch32/resolve/refs%2Fpr%2F15/config.json"
        );
        assert_eq!(
            sibling_url(&format!("{w}?download=true#x"), "config.json"),
            sibling_url(w, "config.json")
        );
        assert_eq!(sibling_url("https://h.org", "config.json"), "https://h.org/config.json");
        assert_eq!(sibling_url("https://h.org/w.bin?a=/b", "c.json"), "https://h.org/c.json");
    }

    #[test]
    fn default_endpoint_is_the_real_hub() {
        assert_eq!(DEFAULT_ENDPOINT, "https://huggingface.co");
    }
}
