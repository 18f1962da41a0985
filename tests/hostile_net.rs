//! Hostile networks (issue 15, item 2), against the local test server of tests/download.rs:
//! a stalled connection, a server that ignores Range on resume, a file that changed between
//! attempts, a web page answered with 200, a host without CORS headers, a redirect loop and a
//! Content-Length that lies. Each ends in the right file or in a message naming the URL and
//! saying what to do. The stall timeout is 2 s here (`WISEFT_STALL_SECONDS`), 30 s by default.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::process::Command;
use std::sync::Once;
use std::time::{Duration, Instant};

use common::http::{Server, Stall, Switches, TempDir};
use wiseft::hub::download::{fetch, Cache, NoProgress, Progress, STALL_ENV};
use wiseft::random::XorShift;

const LEN: usize = 300_000;
const STALL_S: u64 = 2;

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift::seeded(seed);
    (0..len).map(|_| (rng.next_u64() >> 24) as u8).collect()
}

/// Every test of this binary waits 2 s for bytes before it calls a connection stalled.
fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| std::env::set_var(STALL_ENV, STALL_S.to_string()));
}

/// The file at `m/model.safetensors` served with `switches`, and an empty URL cache.
fn setup(bytes: &[u8], switches: Switches) -> (Server, Cache, String, TempDir, TempDir) {
    init();
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    files.put("m/model.safetensors", bytes);
    let server = Server::start(&files.0, switches);
    let cache = Cache::new(&cache_dir.0);
    let url = server.url("m/model.safetensors");
    (server, cache, url, files, cache_dir)
}

#[derive(Default)]
struct Starts(Vec<(Option<u64>, u64)>);

impl Progress for Starts {
    fn start(&mut self, _url: &str, total: Option<u64>, already: u64) {
        self.0.push((total, already));
    }
    fn advance(&mut self, _bytes: u64) {}
    fn finish(&mut self) {}
}

#[test]
fn a_stalled_connection_is_abandoned_after_the_timeout_and_the_retry_resumes() {
    let bytes = data(LEN, 11);
    let stall = Stall { after: Some(100_000), every: false };
    let (server, cache, url, _f, _c) = setup(&bytes, Switches { stall: Some(stall), ..Default::default() });
    let started = Instant::now();
    let mut starts = Starts::default();
    let path = fetch(&url, &cache, &mut starts).unwrap();
    let took = started.elapsed();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[1].range.as_deref(), Some("bytes=100000-"), "the retry resumes");
    assert_eq!(starts.0, vec![(Some(LEN as u64), 0), (Some(LEN as u64), 100_000)]);
    assert!(took >= Duration::from_secs(STALL_S), "waited the stall timeout first ({took:?})");
    assert!(took < Duration::from_secs(STALL_S + 5), "and not the server's 8 s hold ({took:?})");
}

#[test]
fn a_server_that_stalls_every_time_gives_a_message_with_the_timeout() {
    // Silent before the status line: the answer itself never comes.
    let bytes = data(LEN, 12);
    let stall = Stall { after: None, every: true };
    let (server, cache, url, _f, _c) = setup(&bytes, Switches { stall: Some(stall), ..Default::default() });
    let msg = fetch(&url, &cache, &mut NoProgress).unwrap_err().to_string();
    assert!(msg.contains(&url), "{msg}");
    assert!(msg.contains("no bytes arrived for 2 s") && msg.contains("stalled"), "{msg}");
    assert!(msg.contains("gave up after 3 retries") && msg.contains("WISEFT_STALL_SECONDS"), "{msg}");
    assert_eq!(server.requests().len(), 4);

    // Silent mid-body: what arrived is kept for the next run, and the message says so.
    let stall = Stall { after: Some(1000), every: true };
    let (server, cache, url, _f, _c) = setup(&bytes, Switches { stall: Some(stall), ..Default::default() });
    let msg = fetch(&url, &cache, &mut NoProgress).unwrap_err().to_string();
    assert!(msg.contains(&url) && msg.contains("no bytes arrived for 2 s after"), "{msg}");
    assert!(msg.contains("4000 bytes arrived") && msg.contains("run again to resume"), "{msg}");
    assert_eq!(server.requests().len(), 4);
}

#[test]
fn a_server_ignoring_range_on_resume_starts_over_and_never_splices() {
    let bytes = data(LEN, 13);
    let switches = Switches { cut_first_after: Some(120_000), ignore_range: true, ..Default::default() };
    let (server, cache, url, _f, _c) = setup(&bytes, switches);
    let mut starts = Starts::default();
    let path = fetch(&url, &cache, &mut starts).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "the whole file, once: not 120 kB + the whole file");
    let reqs = server.requests();
    assert_eq!(reqs[1].range.as_deref(), Some("bytes=120000-"));
    assert_eq!(starts.0[1], (Some(LEN as u64), 0), "the 200 restarts from byte 0");
}

#[test]
fn a_file_that_changed_between_attempts_is_downloaded_again_whole() {
    // Same length, other bytes: only the ETag tells. The server honours If-Range and answers 200.
    let (old, new) = (data(LEN, 14), data(LEN, 15));
    let switches =
        Switches { cut_first_after: Some(100_000), changed_after_first: Some(new.clone()), ..Default::default() };
    let (server, cache, url, _f, _c) = setup(&old, switches);
    let path = fetch(&url, &cache, &mut NoProgress).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), new, "the new file, not old[..100000] + new[100000..]");
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[1].range.as_deref(), Some("bytes=100000-"));
    assert!(reqs[1].if_range.as_deref().is_some_and(|v| v.starts_with('"')), "the resume names the version: {reqs:?}");

    // A server that ignores If-Range sends a 206 of the new file: its ETag differs, so start over.
    let switches = Switches {
        cut_first_after: Some(100_000),
        changed_after_first: Some(new.clone()),
        ignore_if_range: true,
        ..Default::default()
    };
    let (server, cache, url, _f, _c) = setup(&old, switches);
    let path = fetch(&url, &cache, &mut NoProgress).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), new);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3, "{reqs:?}");
    assert_eq!(reqs[2].range, None, "started over");

    // Another length (no ETag needed): the 206's total differs.
    let longer = data(LEN + 5000, 16);
    let switches = Switches {
        cut_first_after: Some(100_000),
        changed_after_first: Some(longer.clone()),
        ignore_if_range: true,
        ..Default::default()
    };
    let (server, cache, url, _f, _c) = setup(&old, switches);
    let path = fetch(&url, &cache, &mut NoProgress).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), longer);
    assert_eq!(server.requests().len(), 3);
}

#[test]
fn a_part_from_an_earlier_run_is_not_completed_with_a_changed_file() {
    let (old, new) = (data(LEN, 20), data(LEN, 21));
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    init();
    files.put("m/model.safetensors", &old);
    let server = Server::start(&files.0, Switches { cut_every_after: Some(1000), ..Default::default() });
    let cache = Cache::new(&cache_dir.0);
    let url = server.url("m/model.safetensors");
    assert!(fetch(&url, &cache, &mut NoProgress).is_err());
    assert_eq!(std::fs::metadata(cache.partial_path_for(&url)).unwrap().len(), 4000);

    // The file changes on the server; the next run names the version its 4000 bytes are of.
    files.put("m/model.safetensors", &new);
    server.set(|s| s.cut_every_after = None);
    let path = fetch(&url, &cache, &mut NoProgress).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), new);
    let last = server.requests().pop().unwrap();
    assert_eq!(last.range.as_deref(), Some("bytes=4000-"));
    assert!(last.if_range.is_some(), "{last:?}");
    let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers.len(), 1, "only the file, no .part or .version: {leftovers:?}");
}

const LOGIN_PAGE: &[u8] = b"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
    <title>Sign in to continue</title></head><body><form action=\"/login\">...</form></body></html>\n";

#[test]
fn an_html_page_answered_with_200_is_named_a_web_page_and_keeps_what_was_downloaded() {
    let switches = Switches { content_type: Some("text/html; charset=utf-8".into()), ..Default::default() };
    let (server, cache, url, _f, _c) = setup(LOGIN_PAGE, switches);
    // Half a download kept from before: a login page must not overwrite it.
    let part = cache.partial_path_for(&url);
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::fs::write(&part, b"kept").unwrap();
    server.set(|s| s.ignore_range = true);
    let msg = fetch(&url, &cache, &mut NoProgress).unwrap_err().to_string();
    assert!(msg.contains(&url), "{msg}");
    assert!(msg.contains("web page") && msg.contains("Content-Type: text/html; charset=utf-8"), "{msg}");
    assert!(msg.contains("titled \"Sign in to continue\"") && msg.contains("first bytes: \"<!DOCTYPE html>"), "{msg}");
    assert!(msg.contains("login page") && msg.contains("local path"), "{msg}");
    assert_eq!(server.requests().len(), 1, "not retried");
    assert_eq!(std::fs::read(&part).unwrap(), b"kept");
    assert!(!cache.path_for(&url).exists());

    // The same page sent as application/octet-stream is known by its first bytes.
    let switches = Switches { content_type: Some("application/octet-stream".into()), ..Default::default() };
    let (_server, cache, url, _f, _c) = setup(LOGIN_PAGE, switches);
    let msg = fetch(&url, &cache, &mut NoProgress).unwrap_err().to_string();
    assert!(msg.contains("web page (Content-Type: application/octet-stream"), "{msg}");
}

#[test]
fn a_host_without_cors_headers_serves_the_cli() {
    // CORS binds browsers only: the test server sends no Access-Control-Allow-Origin at all.
    let bytes = data(LEN, 17);
    let (server, cache, url, _f, _c) = setup(&bytes, Switches::default());
    let path = fetch(&url, &cache, &mut NoProgress).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn a_redirect_loop_is_named_and_not_retried() {
    let (server, cache, url, _f, _c) =
        setup(&data(1000, 18), Switches { redirect_loop: true, ..Default::default() });
    let msg = fetch(&url, &cache, &mut NoProgress).unwrap_err().to_string();
    assert!(msg.contains(&url), "{msg}");
    assert!(msg.contains("too many redirects") && msg.contains("redirects in a loop"), "{msg}");
    assert!(msg.contains("Open it in a browser") && msg.contains("local path"), "{msg}");
    let n = server.requests().len();
    assert!((2..=12).contains(&n), "followed a bounded number of hops, once: {n}");
}

#[test]
fn a_content_length_that_lies_is_named_or_corrected_by_the_range_answer() {
    // Announces 1000 bytes more than it sends, and ignores Range: every attempt ends at the same byte.
    let bytes = data(LEN, 19);
    let switches = Switches { lie_length: Some(1000), ignore_range: true, ..Default::default() };
    let (server, cache, url, _f, _c) = setup(&bytes, switches);
    let msg = fetch(&url, &cache, &mut NoProgress).unwrap_err().to_string();
    assert!(msg.contains(&url), "{msg}");
    assert!(
        msg.contains(&format!("announced {} bytes (Content-Length)", LEN + 1000))
            && msg.contains(&format!("every one of 4 attempts ended after {LEN} bytes")),
        "{msg}"
    );
    assert!(msg.contains("Content-Length looks wrong") && msg.contains("local path"), "{msg}");
    assert_eq!(server.requests().len(), 4);
    assert!(!cache.partial_path_for(&url).exists() && !cache.path_for(&url).exists(), "nothing kept");

    // A server that honours Range: the resume's 416 says the file has the bytes already here.
    let switches = Switches { lie_length: Some(1000), ..Default::default() };
    let (server, cache, url, _f, _c) = setup(&bytes, switches);
    let path = fetch(&url, &cache, &mut NoProgress).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(server.requests()[1].range.as_deref(), Some(format!("bytes={LEN}-").as_str()));
}

#[test]
fn the_cli_says_a_web_page_came_instead_of_weights() {
    init();
    let files = TempDir::new();
    files.put("gated/model.safetensors", LOGIN_PAGE);
    let server =
        Server::start(&files.0, Switches { content_type: Some("text/html".into()), ..Default::default() });
    let cache = TempDir::new();
    let url = server.url("gated/model.safetensors");
    let out = Command::new(env!("CARGO_BIN_EXE_wiseft"))
        .args(["inspect", &url])
        .env("WISEFT_CACHE", &cache.0)
        .env("HF_HUB_OFFLINE", "0")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&url) && stderr.contains("web page") && stderr.contains("Sign in to continue"), "{stderr}");
}
