//! One file over HTTP into a `.part` file: resumed with `Range`, retried when something transient
//! breaks, and every failure said with the URL and what to do about it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use crate::hub::answer::{html_message, is_html, secs, stall_timeout, Validator, STALL_ENV};
use super::cache::UrlParts;
use super::{Progress, MAX_RETRIES};
use crate::error::{Error, Result};

const CHUNK: usize = 64 * 1024;

pub(super) enum Downloaded {
    Complete,
    NotFound(Error),
}

/// What one request did.
enum Attempt {
    /// `part` now holds the whole file.
    Complete,
    /// The server answered 404.
    NotFound(Error),
    /// `part` does not fit what the server has: delete it and ask again for the whole file
    /// (why, when the file changed on the server).
    Restart(Option<String>),
    /// Something transient broke (connection cut mid-body, a stall, 5xx): try again, resuming.
    /// The error is reported if no retries are left; `network` marks errors below HTTP.
    Retry { error: Error, network: bool },
}

/// What the attempts of one download have seen so far.
#[derive(Default)]
struct Seen {
    /// The version of the file the bytes in `part` belong to (from the answer that sent them).
    version: Option<Validator>,
    /// For each attempt that sent a body: where the file ended, and the size announced for it.
    ends: Vec<(u64, Option<u64>)>,
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
///
/// `auth` (an `Authorization` value) goes with the request to `url` only: ureq never forwards it
/// on a redirect (`RedirectAuthHeaders::Never`), so a hub token does not reach a CDN.
pub(super) fn download(
    url: &str,
    part: &Path,
    auth: Option<&str>,
    progress: &mut dyn Progress,
) -> Result<Downloaded> {
    let mut retries = 0;
    // A `.part` left by an earlier run comes with the version it was cut from.
    let mut seen = Seen { version: read_version(part), ..Seen::default() };
    let mut restarted: Option<String> = None;
    loop {
        let before = file_len(part)?;
        let outcome = attempt(url, part, before, auth, &mut seen, progress);
        match &outcome {
            Ok(Attempt::Retry { .. }) => write_version(part, seen.version.as_ref()),
            Ok(_) => write_version(part, None),
            Err(_) => {} // the `.part` is left as it was, and so is its version
        }
        let (error, network) = match outcome? {
            Attempt::Complete => return Ok(Downloaded::Complete),
            Attempt::NotFound(e) => return Ok(Downloaded::NotFound(e)),
            Attempt::Restart(why) => {
                fs::remove_file(part).map_err(|e| Error::io(part, e))?;
                restarted = why.or(restarted);
                (None, false)
            }
            Attempt::Retry { error, network } => (Some(error), network),
        };
        retries += 1;
        let now = file_len(part)?;
        if retries > MAX_RETRIES {
            if let Some(e) = lying_length(url, &seen.ends) {
                let _ = fs::remove_file(part);
                write_version(part, None);
                return Err(e);
            }
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
                    msg: match &restarted {
                        Some(why) => format!(
                            "{why}, again and again (gave up after {MAX_RETRIES} restarts); try again later"
                        ),
                        None => format!(
                            "the server keeps rejecting the partial download; delete {} and try again",
                            part.display()
                        ),
                    },
                },
            });
        }
        if error.is_some() && now <= before {
            // No progress: give the network or the server a moment before asking again.
            std::thread::sleep(Duration::from_millis(250 << (retries - 1)));
        }
    }
}

/// Where the version of the file a `.part` holds is kept between runs: `<part>.version`, JSON.
fn version_path(part: &Path) -> std::path::PathBuf {
    let mut name = part.as_os_str().to_owned();
    name.push(".version");
    name.into()
}

fn read_version(part: &Path) -> Option<Validator> {
    serde_json::from_slice(&fs::read(version_path(part)).ok()?).ok()
}

/// Records the version of the bytes in `part` (none: forget it). Failures only cost the check
/// on the next run's resume.
fn write_version(part: &Path, version: Option<&Validator>) {
    let path = version_path(part);
    match version.and_then(|v| serde_json::to_vec(v).ok()) {
        Some(json) if part.exists() => {
            let _ = fs::write(path, json);
        }
        _ => {
            let _ = fs::remove_file(path);
        }
    }
}

/// The error for a server whose `Content-Length` promises more than it ever sends: every attempt
/// (at least three) ended at the same byte, short of the same announced size.
fn lying_length(url: &str, ends: &[(u64, Option<u64>)]) -> Option<Error> {
    let &(end, total) = ends.first()?;
    let total = total.filter(|&t| t > end)?;
    (ends.len() >= 3 && ends.iter().all(|&e| e == (end, Some(total)))).then(|| Error::Download {
        url: url.into(),
        msg: format!(
            "the server announced {total} bytes (Content-Length) but every one of {} attempts ended \
             after {end} bytes: its Content-Length looks wrong (a broken server), or a proxy cuts the \
             file there. Nothing was kept; check the file's size where it is published, or get it another \
             way and pass its local path",
            ends.len()
        ),
    })
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
fn attempt(
    url: &str,
    part: &Path,
    have: u64,
    auth: Option<&str>,
    seen: &mut Seen,
    progress: &mut dyn Progress,
) -> Result<Attempt> {
    // `identity`: the bytes on disk must be the file's bytes, so that Range offsets fit.
    let mut request = agent().get(url).header("Accept-Encoding", "identity");
    if let Some(auth) = auth {
        request = request.header("Authorization", auth);
    }
    if have > 0 {
        request = request.header("Range", format!("bytes={have}-"));
        // The bytes kept must be of the version the server has now: else a full 200.
        if let Some(v) = seen.version.as_ref().and_then(Validator::if_range) {
            request = request.header("If-Range", v);
        }
    }
    let stall = stall_timeout();
    let request = request.config().timeout_recv_response(Some(stall)).timeout_per_read(Some(stall)).build();
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
            _ => return Ok(Attempt::Restart(None)),
        },
        416 if have > 0 => {
            let total = header("content-range")
                .and_then(|v| v.strip_prefix("bytes */"))
                .and_then(|v| v.parse::<u64>().ok());
            return Ok(if total == Some(have) { Attempt::Complete } else { Attempt::Restart(None) });
        }
        404 => return Ok(Attempt::NotFound(http_error(url, &response))),
        408 | 429 | 500..=599 => {
            return Ok(Attempt::Retry { error: http_error(url, &response), network: false })
        }
        _ => return Err(http_error(url, &response)),
    };
    let version = Validator {
        etag: header("etag").map(str::to_string),
        last_modified: header("last-modified").map(str::to_string),
        total,
    };
    if append {
        if let Some(why) = seen.version.as_ref().and_then(|v| v.changed(&version)) {
            // A server that ignores If-Range: the rest is of another file. Start over.
            seen.version = None;
            return Ok(Attempt::Restart(Some(why)));
        }
    }
    seen.version = Some(version);
    let content_type = header("content-type").map(str::to_string);

    // The first bytes are looked at before the `.part` is touched: a web page instead of the
    // file is an error, and must not replace bytes already kept.
    let mut body = response.into_body().into_reader();
    let mut buf = vec![0u8; CHUNK];
    let first = read_some(&mut body, &mut buf);
    let first_len = *first.as_ref().unwrap_or(&0);
    if is_html(content_type.as_deref(), &buf[..first_len]) {
        let page = html_message(content_type.as_deref(), &buf[..first_len]);
        return Err(Error::Download {
            url: url.into(),
            msg: format!(
                "{page}. A gated or private model needs its terms accepted on the hub and a token (HF_TOKEN); \
                 a mirror may lack the file; or download the file yourself and pass its local path"
            ),
        });
    }

    let file = if append { OpenOptions::new().append(true).open(part) } else { File::create(part) }
        .map_err(|e| Error::io(part, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut got = if append { have } else { 0 };
    progress.start(url, total, got);

    let mut next = first;
    let broken = loop {
        match next {
            Ok(0) => break None,
            Ok(n) => {
                out.write_all(&buf[..n]).map_err(|e| Error::io(part, e))?;
                got += n as u64;
                progress.advance(n as u64);
            }
            Err(e) => break Some(e),
        }
        next = read_some(&mut body, &mut buf);
    };
    let file = out.into_inner().map_err(|e| Error::io(part, e.into_error()))?;
    file.sync_all().map_err(|e| Error::io(part, e))?;
    if !broken.as_ref().is_some_and(is_timeout) {
        seen.ends.push((got, total));
    }

    if let Some(e) = broken {
        if is_timeout(&e) {
            return Ok(Attempt::retry(url, stalled_msg(stall, &format!("after {got} bytes")), true));
        }
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

/// The next bytes of `body` (0 at its end), retrying reads the OS interrupted.
fn read_some(body: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match body.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Whether a body read failed because no bytes came for the stall timeout.
fn is_timeout(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::TimedOut
        || matches!(e.get_ref().and_then(|x| x.downcast_ref::<ureq::Error>()), Some(ureq::Error::Timeout(_)))
}

/// A stalled connection, said with the timeout and how to change it.
fn stalled_msg(stall: Duration, when: &str) -> String {
    format!(
        "no bytes arrived for {} {when} (the connection stalled; a slow link may need a longer wait: \
         {STALL_ENV}=SECONDS)",
        secs(stall)
    )
}

/// What the hub says of one file without sending it (huggingface_hub's `get_hf_file_metadata`).
#[derive(Debug)]
pub(super) enum Head {
    /// The file exists. `etag` is `X-Linked-Etag` for LFS files (whose `302` points to a CDN,
    /// another origin, which is not followed), else `ETag`; `commit` is `X-Repo-Commit`.
    Found { commit: Option<String>, etag: Option<String>, size: Option<u64> },
    /// `404`; `commit` is set when the repository exists (the hub names the commit it looked in).
    NotFound { commit: Option<String> },
    /// No answer: no network, connection refused, or transient failures past the retries.
    Unreachable(Error),
}

/// A `HEAD` request for a hub file, following redirects within the hub's origin only;
/// transient failures are retried like downloads.
pub(super) fn head(url: &str, auth: Option<&str>) -> Result<Head> {
    let mut url = url.to_string();
    let (mut hops, mut retries) = (0, 0);
    loop {
        let mut request = agent().head(&url).header("Accept-Encoding", "identity");
        if let Some(auth) = auth {
            request = request.header("Authorization", auth);
        }
        let stall = stall_timeout();
        let request = request
            .config()
            .max_redirects(0)
            .timeout_recv_response(Some(stall))
            .timeout_per_read(Some(stall))
            .build();
        let no_answer = |e: &ureq::Error| {
            matches!(e, ureq::Error::HostNotFound | ureq::Error::ConnectionFailed | ureq::Error::Io(_))
                || matches!(e, ureq::Error::Timeout(_))
        };
        let retry = match request.call() {
            Err(e) => {
                let unreachable = no_answer(&e);
                match request_failed(&url, e, 0, Path::new("")) {
                    Ok(Attempt::Retry { error, .. }) => error,
                    Ok(_) => unreachable!("request_failed only retries or fails"),
                    Err(error) if unreachable => return Ok(Head::Unreachable(error)),
                    Err(error) => return Err(error),
                }
            }
            Ok(response) => {
                let status = response.status().as_u16();
                let header = |name: &str| {
                    response.headers().get(name).and_then(|v| v.to_str().ok()).map(|v| v.trim().to_string())
                };
                let commit = header("x-repo-commit");
                let found = || Head::Found {
                    commit: header("x-repo-commit"),
                    etag: header("x-linked-etag").or_else(|| header("etag")),
                    size: header("x-linked-size")
                        .or_else(|| header("content-length"))
                        .and_then(|v| v.parse().ok()),
                };
                match status {
                    200..=299 => return Ok(found()),
                    300..=399 => {
                        // As huggingface_hub: a redirect within the hub's origin (a renamed
                        // repository) is followed; one to another origin (the CDN of an LFS
                        // file) is not, since this answer carries the file's metadata.
                        let next = header("location").map(|l| join(&url, &l));
                        match next {
                            Some(next) if origin(&next) == origin(&url) && hops < 5 => {
                                hops += 1;
                                url = next;
                                continue;
                            }
                            _ => return Ok(found()),
                        }
                    }
                    404 => return Ok(Head::NotFound { commit }),
                    408 | 429 | 500..=599 => http_error(&url, &response),
                    _ => return Err(http_error(&url, &response)),
                }
            }
        };
        retries += 1;
        if retries > MAX_RETRIES {
            return Ok(Head::Unreachable(Error::Download {
                url,
                msg: format!("{} (gave up after {MAX_RETRIES} retries)", inner_msg(&retry)),
            }));
        }
        std::thread::sleep(Duration::from_millis(250 << (retries - 1)));
    }
}

/// `location` (absolute, or a path on `url`'s origin) as an absolute URL.
fn join(url: &str, location: &str) -> String {
    if location.contains("://") {
        location.to_string()
    } else {
        format!("{}/{}", origin(url), location.trim_start_matches('/'))
    }
}

/// `scheme://authority` of `url`.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map(|i| i + 3).unwrap_or(0);
    let end = url[after_scheme..].find('/').map(|i| after_scheme + i).unwrap_or(url.len());
    &url[..end]
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
        U::Timeout(ureq::Timeout::RecvResponse | ureq::Timeout::PerRead | ureq::Timeout::RecvBody | ureq::Timeout::PerCall) => {
            Ok(Attempt::retry(url, stalled_msg(stall_timeout(), "waiting for the answer"), true))
        }
        U::Timeout(t) => Ok(Attempt::retry(url, format!("timed out ({t})"), true)),
        U::Protocol(p) => Ok(Attempt::retry(url, format!("bad answer from the server: {p}"), false)),
        U::BadUri(m) => Err(Error::Download { url: url.into(), msg: format!("not a valid URL: {m}") }),
        U::TooManyRedirects => Err(Error::Download {
            url: url.into(),
            msg: format!(
                "too many redirects (more than {}): the address redirects in a loop, often a login or a \
                 misconfigured mirror. Open it in a browser to see where it leads, or download the file \
                 yourself and pass its local path",
                agent().config().max_redirects()
            ),
        }),
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
