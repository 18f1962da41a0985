//! A small HTTP/1.1 file server on 127.0.0.1 for tests (Range, cut connections, fixed statuses),
//! and a temporary folder. Bounded: every server stops when dropped or after 30 s.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::sha256_hex;

// ---------------------------------------------------------------------------------------------
// Test server

/// Switches of the test server; they can be changed while it runs.
#[derive(Clone, Default)]
pub struct Switches {
    /// Close the connection after this many body bytes, on the first request only.
    pub cut_first_after: Option<usize>,
    /// Close the connection after this many body bytes, on every request.
    pub cut_every_after: Option<usize>,
    /// Answer every request with this status and no file (404, 401, 503, …).
    pub status: Option<u16>,
    /// Answer Range requests with the whole file (200), like a server without range support.
    pub ignore_range: bool,
    /// Play the hub's LFS answer: weights under `/resolve/` are a `302` to this base URL (another
    /// server on the same root, so another origin) + `/cdn` + the path, with `X-Linked-Etag`.
    pub cdn: Option<String>,
    /// Go silent (the socket stays open, no bytes) instead of finishing the answer.
    pub stall: Option<Stall>,
    /// From the second request on, serve these bytes instead of the file (its ETag follows them):
    /// a file that changed on the server between two attempts.
    pub changed_after_first: Option<Vec<u8>>,
    /// Honour Range but not If-Range (a resume of a changed file then gets a 206 of the new one).
    pub ignore_if_range: bool,
    /// The Content-Type of answers with the file (none by default).
    pub content_type: Option<String>,
    /// Answer every request with a 302 to itself.
    pub redirect_loop: bool,
    /// Announce this many bytes more than are sent, then close the connection.
    pub lie_length: Option<usize>,
}

/// Where and when the server goes silent.
#[derive(Clone, Copy, Debug)]
pub struct Stall {
    /// After this many body bytes; `None`: before the status line.
    pub after: Option<usize>,
    /// On every request (else the first only).
    pub every: bool,
}

/// How long a stalled connection is held open without a byte before it is closed.
pub const STALL_HOLD: Duration = Duration::from_secs(8);

/// Keeps `sock` open and silent for [`STALL_HOLD`] on a thread of its own, so that the server
/// answers the client's retry meanwhile.
fn hold_silent(sock: TcpStream) {
    std::thread::spawn(move || {
        std::thread::sleep(STALL_HOLD);
        drop(sock);
    });
}

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub range: Option<String>,
    pub if_range: Option<String>,
    pub authorization: Option<String>,
}

pub struct Shared {
    pub root: PathBuf,
    pub switches: Mutex<Switches>,
    pub requests: Mutex<Vec<Request>>,
}

pub struct Server {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    pub stop: Arc<AtomicBool>,
    pub thread: Option<JoinHandle<()>>,
}

impl Server {
    /// Serves the files under `root` (URL path = path below root, taken literally).
    pub fn start(root: &Path, switches: Switches) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            root: root.to_path_buf(),
            switches: Mutex::new(switches),
            requests: Mutex::new(Vec::new()),
        });
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (shared, stop) = (shared.clone(), stop.clone());
            std::thread::spawn(move || {
                // Bounded: stops when told to, or after 30 s whatever happens.
                let deadline = Instant::now() + Duration::from_secs(30);
                while !stop.load(Ordering::SeqCst) && Instant::now() < deadline {
                    match listener.accept() {
                        Ok((sock, _)) => {
                            let _ = handle(sock, &shared);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(2))
                        }
                        Err(_) => break,
                    }
                }
            })
        };
        Server { addr, shared, stop, thread: Some(thread) }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/{}", self.addr, path)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn set(&self, f: impl FnOnce(&mut Switches)) {
        f(&mut self.shared.switches.lock().unwrap());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub fn handle(mut sock: TcpStream, shared: &Shared) -> std::io::Result<()> {
    sock.set_nonblocking(false)?;
    sock.set_read_timeout(Some(Duration::from_secs(2)))?;
    sock.set_write_timeout(Some(Duration::from_secs(2)))?;
    // Read the whole request head (GET has no body), so closing sends FIN, not RST.
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = sock.read(&mut buf)?;
        if n == 0 || head.len() > 16 * 1024 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or("").split(' ');
    let method = request_line.next().unwrap_or("GET").to_string();
    let path = request_line.next().unwrap_or("/").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let header = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let range = header("range");
    let if_range = header("if-range");

    let index = {
        let mut reqs = shared.requests.lock().unwrap();
        reqs.push(Request {
            method: method.clone(),
            path: path.clone(),
            range: range.clone(),
            if_range: if_range.clone(),
            authorization: header("authorization"),
        });
        reqs.len() - 1
    };
    let sw = shared.switches.lock().unwrap().clone();
    let bare = path.split(['?', '#']).next().unwrap_or("");
    let cdn_path = bare.strip_prefix("/cdn");
    let rel = cdn_path.unwrap_or(bare).trim_start_matches('/');
    let hub = hub_headers(&shared.root, rel, cdn_path.is_some());

    let file = (!path.split('/').any(|s| s == ".."))
        .then(|| shared.root.join(rel))
        .filter(|p| p.is_file());
    let (status, body) = match (sw.status, file) {
        (Some(s), _) => (s, Vec::new()),
        (None, None) => (404, Vec::new()),
        (None, Some(_)) if index > 0 && sw.changed_after_first.is_some() => {
            (200, sw.changed_after_first.clone().unwrap())
        }
        (None, Some(p)) => (200, std::fs::read(p)?),
    };
    let etag = format!("\"{}\"", sha256_hex(&body));
    let stall = sw.stall.filter(|s| s.every || index == 0);
    if let Some(Stall { after: None, .. }) = stall {
        hold_silent(sock);
        return Ok(());
    }
    if sw.redirect_loop {
        write!(sock, "HTTP/1.1 302 Found\r\nLocation: {path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
        return Ok(());
    }
    if status == 200 && cdn_path.is_none() && rel.ends_with(".safetensors") | rel.ends_with(".bin") {
        if let (Some(cdn), true) = (&sw.cdn, rel.contains("/resolve/")) {
            write!(
                sock,
                "HTTP/1.1 302 Found\r\nLocation: {cdn}/cdn/{rel}\r\n{hub}X-Linked-Etag: {etag}\r\n\
                 X-Linked-Size: {}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                body.len()
            )?;
            return Ok(());
        }
    }
    let is_head = method == "HEAD";
    let reason = match status {
        200 => "OK",
        206 => "Partial Content",
        401 => "Unauthorized",
        404 => "Not Found",
        416 => "Range Not Satisfiable",
        _ => "Other",
    };
    if status != 200 {
        let msg = "no such file";
        let hub = if status == 404 { hub.as_str() } else { "" };
        write!(
            sock,
            "HTTP/1.1 {status} {reason}\r\n{hub}Content-Length: {}\r\nConnection: close\r\n\r\n{}",
            msg.len(),
            if is_head { "" } else { msg }
        )?;
        return Ok(());
    }

    let len = body.len();
    // If-Range: the Range holds only for the version named (RFC 9110 13.1.5).
    let range_holds = sw.ignore_if_range || if_range.as_deref().is_none_or(|v| v == etag);
    let start = range
        .as_deref()
        .filter(|_| !sw.ignore_range && range_holds)
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|r| r.parse::<usize>().ok());
    let (head, part) = match start {
        Some(s) if s >= len => {
            write!(sock, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{len}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
            return Ok(());
        }
        Some(s) => (
            format!(
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {s}-{}/{len}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                len - 1,
                len - s
            ),
            &body[s..],
        ),
        None => (format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"), &body[..]),
    };
    let mut head = head.replacen("\r\n", &format!("\r\n{hub}ETag: {etag}\r\n"), 1);
    if let Some(t) = &sw.content_type {
        head = head.replacen("\r\n", &format!("\r\nContent-Type: {t}\r\n"), 1);
    }
    if let Some(extra) = sw.lie_length {
        let n = part.len();
        head = head.replacen(&format!("Content-Length: {n}\r\n"), &format!("Content-Length: {}\r\n", n + extra), 1);
    }
    if is_head {
        sock.write_all(head.as_bytes())?;
        return Ok(());
    }
    let cut = sw.cut_every_after.or(sw.cut_first_after.filter(|_| index == 0));
    sock.write_all(head.as_bytes())?;
    if let Some(Stall { after: Some(n), .. }) = stall {
        sock.write_all(&part[..n.min(part.len())])?;
        sock.flush()?;
        hold_silent(sock);
        return Ok(());
    }
    if sw.lie_length.is_some() {
        sock.write_all(part)?;
        sock.flush()?;
        sock.shutdown(Shutdown::Both)?;
        return Ok(());
    }
    match cut {
        Some(n) if n < part.len() => {
            sock.write_all(&part[..n])?;
            sock.flush()?;
            sock.shutdown(Shutdown::Both)?;
        }
        _ => sock.write_all(part)?,
    }
    Ok(())
}

/// The hub's headers for `rel` = `{owner}/{name}/resolve/{revision}/{file}` (none for other
/// paths, nor on the CDN): `X-Repo-Commit` when the repository exists (a folder under the root),
/// and for a missing file the hub's `X-Error-Code`. The same rules as
/// scripts/gen_hf_cache_fixture.py, so that both caches come out identical.
fn hub_headers(root: &Path, rel: &str, on_cdn: bool) -> String {
    let parts: Vec<&str> = rel.split('/').collect();
    if on_cdn || parts.len() < 5 || parts[2] != "resolve" {
        return String::new();
    }
    let repo_exists = root.join(parts[0]).join(parts[1]).is_dir();
    let exists = root.join(rel).is_file();
    let mut h = String::new();
    if repo_exists {
        h += &format!("X-Repo-Commit: {}\r\n", commit_of(parts[3]));
    }
    if !exists {
        h += if repo_exists { "X-Error-Code: EntryNotFound\r\n" } else { "X-Error-Code: RepositoryNotFound\r\n" };
    }
    h
}

/// The commit the test hub names for `revision`: itself if it is a hash, else sha256's first 40 digits.
pub fn commit_of(revision: &str) -> String {
    let hex = |c: u8| c.is_ascii_digit() || (b'a'..=b'f').contains(&c);
    if revision.len() == 40 && revision.bytes().all(hex) {
        return revision.to_string();
    }
    sha256_hex(revision.as_bytes())[..40].to_string()
}

// ---------------------------------------------------------------------------------------------
// Helpers

/// A temporary folder, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let nanos =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let p = std::env::temp_dir().join(format!(
            "wiseft-download-test-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn put(&self, rel: &str, bytes: &[u8]) {
        let p = self.0.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

