//! Native downloads of checkpoint files into a cache, with resume, retries and progress.
//!
//! A file is streamed to `<cache path>.part` in chunks and renamed to its cache path only once
//! complete, so a file at its cache path is always whole and is served without any request.
//! A `.part` left by a broken connection or an interrupted run is resumed with a `Range` request.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use super::{file_url, sibling_url, strip_query, Source};
use crate::checkpoint::{SideFiles, WEIGHT_FILES};

/// The optional side files beside the weights, in the order they are tried.
const SIDE_FILES: [&str; 2] = SideFiles::NAMES;
use crate::error::{Error, Result};

/// Environment variable naming the cache folder (see [`Cache::default_location`]).
pub const CACHE_ENV: &str = "WISEFT_CACHE";

/// How many times a broken download is retried (resuming from what is on disk) before failing.
pub const MAX_RETRIES: u32 = 3;

const CHUNK: usize = 64 * 1024;
const PART_SUFFIX: &str = ".part";
/// Marker written beside a cached file name when the hub said it does not exist (see
/// [`resolve_checkpoint_with`]), so that a later run needs no network for it.
const ABSENT_SUFFIX: &str = ".absent";

// ---------------------------------------------------------------------------------------------
// Cache

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
struct UrlParts<'a> {
    /// host[:port], without any `user:password@`.
    host: &'a str,
    /// Path segments before the file name.
    dirs: Vec<&'a str>,
    /// The last path segment.
    file: &'a str,
    /// Everything up to and including the last `/` of the path, query dropped.
    folder_key: &'a str,
}

impl<'a> UrlParts<'a> {
    fn new(url: &'a str) -> Self {
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

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

// ---------------------------------------------------------------------------------------------
// Progress

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

// ---------------------------------------------------------------------------------------------
// Fetching

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
    let folder = path.parent().expect("cache paths have a folder");
    fs::create_dir_all(folder).map_err(|e| Error::io(folder, e))?;
    let part = with_suffix(&path, PART_SUFFIX);
    match download(url, &part, progress)? {
        Downloaded::Complete => {
            fs::rename(&part, &path).map_err(|e| Error::io(&path, e))?;
            sync_dir(folder);
            progress.finish();
            Ok(Ok(path))
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

enum Downloaded {
    Complete,
    NotFound(Error),
}

/// What one request did.
enum Attempt {
    /// `part` now holds the whole file.
    Complete,
    /// The server answered 404.
    NotFound(Error),
    /// `part` does not fit what the server has: delete it and ask again for the whole file.
    Restart,
    /// Something transient broke (connection cut mid-body, timeout, 5xx): try again, resuming.
    /// The error is reported if no retries are left; `network` marks errors below HTTP.
    Retry { error: Error, network: bool },
}

impl Attempt {
    fn retry(url: &str, msg: String, network: bool) -> Attempt {
        Attempt::Retry { error: Error::Download { url: url.into(), msg }, network }
    }
}

/// What to do without network, appended to errors that got no answer from the server.
const NO_NETWORK_HINT: &str = "Is the network up (and the address right)? Without network access, get the \
     checkpoint some other way and pass its local path instead";

/// Downloads `url` into `part`, resuming what `part` already holds.
fn download(url: &str, part: &Path, progress: &mut dyn Progress) -> Result<Downloaded> {
    let mut retries = 0;
    loop {
        let before = file_len(part)?;
        let outcome = attempt(url, part, before, progress)?;
        let (error, network) = match outcome {
            Attempt::Complete => return Ok(Downloaded::Complete),
            Attempt::NotFound(e) => return Ok(Downloaded::NotFound(e)),
            Attempt::Restart => {
                fs::remove_file(part).map_err(|e| Error::io(part, e))?;
                (None, false)
            }
            Attempt::Retry { error, network } => (Some(error), network),
        };
        retries += 1;
        let now = file_len(part)?;
        if retries > MAX_RETRIES {
            return Err(match error {
                Some(e) if now == 0 => {
                    let hint = if network { format!(". {NO_NETWORK_HINT}") } else { String::new() };
                    Error::Download {
                        url: url.into(),
                        msg: format!("{} (gave up after {MAX_RETRIES} retries){hint}", inner_msg(&e)),
                    }
                }
                Some(e) => Error::Download {
                    url: url.into(),
                    msg: format!(
                        "the download kept breaking off (gave up after {MAX_RETRIES} retries; last: {}); \
                         {now} bytes arrived and are kept in {} (run again to resume)",
                        inner_msg(&e),
                        part.display()
                    ),
                },
                None => Error::Download {
                    url: url.into(),
                    msg: format!(
                        "the server keeps rejecting the partial download; delete {} and try again",
                        part.display()
                    ),
                },
            });
        }
        if error.is_some() && now <= before {
            // No progress: give the network or the server a moment before asking again.
            std::thread::sleep(Duration::from_millis(250 << (retries - 1)));
        }
    }
}

fn inner_msg(e: &Error) -> String {
    match e {
        Error::Download { msg, .. } => msg.clone(),
        other => other.to_string(),
    }
}

fn file_len(path: &Path) -> Result<u64> {
    match fs::metadata(path) {
        Ok(m) => Ok(m.len()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn agent() -> &'static ureq::Agent {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    AGENT.get_or_init(|| {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(format!("wiseft/{}", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(Duration::from_secs(20)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .build();
        ureq::Agent::new_with_config(config)
    })
}

/// One request for `url`, asking for the bytes after the `have` already in `part`.
fn attempt(url: &str, part: &Path, have: u64, progress: &mut dyn Progress) -> Result<Attempt> {
    // `identity`: the bytes on disk must be the file's bytes, so that Range offsets fit.
    let mut request = agent().get(url).header("Accept-Encoding", "identity");
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
    }
    let response = match request.call() {
        Ok(r) => r,
        Err(e) => return request_failed(url, e, have, part),
    };
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let content_length = header("content-length").and_then(|v| v.parse::<u64>().ok());

    // (append to part?, whole file size if known)
    let (append, total) = match status {
        200 => (false, content_length),
        206 if have > 0 => match header("content-range").and_then(parse_content_range) {
            Some((start, total)) if start == have => (true, total.or(content_length.map(|n| n + have))),
            _ => return Ok(Attempt::Restart),
        },
        416 if have > 0 => {
            let total = header("content-range")
                .and_then(|v| v.strip_prefix("bytes */"))
                .and_then(|v| v.parse::<u64>().ok());
            return Ok(if total == Some(have) { Attempt::Complete } else { Attempt::Restart });
        }
        404 => return Ok(Attempt::NotFound(http_error(url, &response))),
        408 | 429 | 500..=599 => {
            return Ok(Attempt::Retry { error: http_error(url, &response), network: false })
        }
        _ => return Err(http_error(url, &response)),
    };

    let file = if append { OpenOptions::new().append(true).open(part) } else { File::create(part) }
        .map_err(|e| Error::io(part, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut got = if append { have } else { 0 };
    progress.start(url, total, got);

    let mut body = response.into_body().into_reader();
    let mut buf = vec![0u8; CHUNK];
    let broken = loop {
        match body.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => {
                out.write_all(&buf[..n]).map_err(|e| Error::io(part, e))?;
                got += n as u64;
                progress.advance(n as u64);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Some(e),
        }
    };
    let file = out.into_inner().map_err(|e| Error::io(part, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(part, e))?;

    if let Some(e) = broken {
        return Ok(Attempt::retry(url, format!("connection broke off: {}", io_msg(&e)), true));
    }
    match total {
        Some(t) if got < t => {
            Ok(Attempt::retry(url, format!("connection closed after {got} of {t} bytes"), true))
        }
        Some(t) if got > t => Err(Error::Download {
            url: url.into(),
            msg: format!("the server sent {got} bytes but announced {t}; {} was discarded", part.display()),
        })
        .inspect_err(|_| {
            let _ = fs::remove_file(part);
        }),
        _ => Ok(Attempt::Complete),
    }
}

/// `bytes START-END/TOTAL` → (START, Some(TOTAL)); TOTAL `*` → None.
fn parse_content_range(v: &str) -> Option<(u64, Option<u64>)> {
    let rest = v.strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let (start, _end) = range.split_once('-')?;
    let total = if total.trim() == "*" { None } else { Some(total.trim().parse().ok()?) };
    Some((start.trim().parse().ok()?, total))
}

/// An HTTP error status as an error that names the URL, the status and what to do about it.
fn http_error(url: &str, response: &ureq::http::Response<ureq::Body>) -> Error {
    let status = response.status();
    let hint = match status.as_u16() {
        404 => "is the repository/revision/file name right?",
        401 | 403 => {
            "the repository may be gated or private (or may not exist): accept its terms on the hub, \
             or download the files yourself and pass their local path"
        }
        407 => "the proxy wants authentication",
        408 | 504 => "the server timed out; try again later",
        429 => "too many requests: the server is rate-limiting; wait a little and try again",
        500..=599 => "server error; try again later",
        _ => "unexpected answer from the server",
    };
    let reason = status.canonical_reason().map(|r| format!(" ({})", r.to_lowercase())).unwrap_or_default();
    // The hub explains itself in X-Error-Message ("Repository not found", "Revision Not Found", …).
    let detail = response
        .headers()
        .get("x-error-message")
        .and_then(|v| v.to_str().ok())
        .map(|m| format!(" (server: {})", m.trim()))
        .unwrap_or_default();
    Error::Download { url: url.into(), msg: format!("HTTP {}{reason}: {hint}{detail}", status.as_u16()) }
}

/// A request that got no answer: no network / refused connection → a clear, final error;
/// something transient → [`Attempt::Retry`].
fn request_failed(url: &str, e: ureq::Error, have: u64, part: &Path) -> Result<Attempt> {
    use io::ErrorKind as K;
    use ureq::Error as U;
    let host = UrlParts::new(url).host.to_string();
    let kept = if have > 0 {
        format!(" ({have} bytes downloaded so far are kept in {} for the next try)", part.display())
    } else {
        String::new()
    };
    let no_network =
        |what: String| Error::Download { url: url.into(), msg: format!("{what}. {NO_NETWORK_HINT}{kept}") };
    match e {
        U::HostNotFound => Err(no_network(format!("cannot resolve host `{host}`"))),
        U::ConnectionFailed => Err(no_network(format!("cannot connect to {host}"))),
        U::Timeout(t @ (ureq::Timeout::Connect | ureq::Timeout::Resolve)) => {
            Err(no_network(format!("cannot connect to {host}: timed out ({t})")))
        }
        U::Io(io) if is_dns_failure(&io) => {
            Err(no_network(format!("cannot resolve host `{host}`: {}", io_msg(&io))))
        }
        U::Io(io)
            if matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::NetworkUnreachable
                    | K::HostUnreachable
                    | K::NetworkDown
                    | K::AddrNotAvailable
            ) =>
        {
            Err(no_network(format!("cannot connect to {host}: {}", io_msg(&io))))
        }
        U::Io(io) => Ok(Attempt::retry(url, format!("network error: {}", io_msg(&io)), true)),
        U::Timeout(t) => Ok(Attempt::retry(url, format!("timed out ({t})"), true)),
        U::Protocol(p) => Ok(Attempt::retry(url, format!("bad answer from the server: {p}"), false)),
        U::BadUri(m) => Err(Error::Download { url: url.into(), msg: format!("not a valid URL: {m}") }),
        U::TooManyRedirects => Err(Error::Download { url: url.into(), msg: "too many redirects".into() }),
        other => Err(Error::Download { url: url.into(), msg: other.to_string() }),
    }
}

/// A failed host name lookup, as the standard library reports it (it has no ErrorKind of its own).
fn is_dns_failure(e: &io::Error) -> bool {
    let msg = e.to_string();
    msg.contains("lookup address") // unix: "failed to lookup address information: …"
        || matches!(e.raw_os_error(), Some(11001 | 11002 | 11004) if cfg!(windows))
    // WSAHOST_NOT_FOUND, …
}

/// An io error's message, unwrapping a ureq error carried inside it.
fn io_msg(e: &io::Error) -> String {
    match e.get_ref() {
        Some(inner) => inner.to_string(),
        None => e.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

/// Makes `source` available locally, using [`super::endpoint`] for hub ids; see
/// [`resolve_checkpoint_with`].
pub fn resolve_checkpoint(source: &Source, cache: &Cache, progress: &mut dyn Progress) -> Result<PathBuf> {
    resolve_checkpoint_with(source, &super::endpoint(), cache, progress)
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
            for side in SIDE_FILES.iter().filter(|s| **s != name) {
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
            for side in SIDE_FILES {
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn content_range() {
        assert_eq!(parse_content_range("bytes 100-199/200"), Some((100, Some(200))));
        assert_eq!(parse_content_range("bytes 5-9/*"), Some((5, None)));
        assert_eq!(parse_content_range("items 1-2/3"), None);
    }

    #[test]
    fn no_dns_is_a_clear_network_error() {
        let url = "https://huggingface.co/o/n/resolve/main/model.safetensors";
        let io =
            io::Error::other("failed to lookup address information: Temporary failure in name resolution");
        let Err(e) = request_failed(url, ureq::Error::Io(io), 0, Path::new("/c/x.part")) else {
            panic!("retried")
        };
        let msg = e.to_string();
        assert!(msg.contains("cannot resolve host `huggingface.co`") && msg.contains("network"), "{msg}");
        assert!(msg.contains("local path") && msg.contains(url), "{msg}");
        let Err(e) = request_failed(url, ureq::Error::HostNotFound, 7, Path::new("/c/x.part")) else {
            panic!()
        };
        assert!(e.to_string().contains("7 bytes downloaded so far"), "{e}");
    }

    #[test]
    fn stable_hash() {
        assert_eq!(fnv1a64(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a64(b"a"), 0xaf63dc4c8601ec8c);
    }
}
