//! Downloads against a tiny HTTP/1.1 server on 127.0.0.1 that each test starts itself.
//! No other address is ever used; every socket has timeouts and the server stops by itself.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::http::{Server, Switches, TempDir};
use wiseft::random::XorShift;
use wiseft::error::Error;
use wiseft::hub::download::{
    fetch, fetch_optional, resolve_checkpoint, resolve_checkpoint_with, Cache, NoProgress, Progress,
};
use wiseft::hub::{file_url, parse_source, sibling_url, Source};

/// Deterministic, incompressible-looking test bytes.
fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift::seeded(seed);
    (0..len).map(|_| (rng.next_u64() >> 24) as u8).collect()
}

/// Records what a download reports.
#[derive(Default)]
struct Recorder {
    starts: Vec<(String, Option<u64>, u64)>,
    advanced: u64,
    finished: usize,
}

impl Progress for Recorder {
    fn start(&mut self, url: &str, total: Option<u64>, already: u64) {
        self.starts.push((url.to_string(), total, already));
    }
    fn advance(&mut self, bytes: u64) {
        self.advanced += bytes;
    }
    fn finish(&mut self) {
        self.finished += 1;
    }
}

fn message(e: Error) -> String {
    e.to_string()
}

const LEN: usize = 300_000;

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn full_download_then_served_from_cache_without_requests() {
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    let bytes = data(LEN, 1);
    files.put("m/model.safetensors", &bytes);
    let server = Server::start(&files.0, Switches::default());
    let cache = Cache::new(&cache_dir.0);
    let url = server.url("m/model.safetensors");

    let mut rec = Recorder::default();
    let path = fetch(&url, &cache, &mut rec).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(path, cache.path_for(&url));
    assert!(!cache.partial_path_for(&url).exists());
    assert_eq!(rec.starts, vec![(url.clone(), Some(LEN as u64), 0)]);
    assert_eq!((rec.advanced, rec.finished), (LEN as u64, 1));
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server.requests()[0].range, None);

    let mut rec = Recorder::default();
    assert_eq!(fetch(&url, &cache, &mut rec).unwrap(), path);
    assert_eq!(server.requests().len(), 1, "a cached file must not be asked for again");
    assert!(rec.starts.is_empty() && rec.finished == 0);
}

#[test]
fn resumes_after_a_cut_connection() {
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    let bytes = data(LEN, 2);
    files.put("m/model.safetensors", &bytes);
    let server = Server::start(&files.0, Switches { cut_first_after: Some(100_000), ..Default::default() });
    let cache = Cache::new(&cache_dir.0);
    let url = server.url("m/model.safetensors");

    let mut rec = Recorder::default();
    let path = fetch(&url, &cache, &mut rec).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 2, "{reqs:?}");
    assert_eq!(reqs[1].range.as_deref(), Some("bytes=100000-"));
    assert_eq!(rec.starts[1], (url.clone(), Some(LEN as u64), 100_000));
    assert_eq!((rec.advanced, rec.finished), (LEN as u64, 1));
}

#[test]
fn gives_up_after_three_retries_and_says_how_much_arrived_then_resumes_later() {
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    let bytes = data(LEN, 3);
    files.put("m/model.safetensors", &bytes);
    let server = Server::start(&files.0, Switches { cut_every_after: Some(1000), ..Default::default() });
    let cache = Cache::new(&cache_dir.0);
    let url = server.url("m/model.safetensors");

    let msg = message(fetch(&url, &cache, &mut NoProgress).unwrap_err());
    assert!(msg.contains(&url) && msg.contains("4000 bytes arrived") && msg.contains("resume"), "{msg}");
    assert_eq!(server.requests().len(), 4);
    assert!(!cache.path_for(&url).exists());
    assert_eq!(std::fs::metadata(cache.partial_path_for(&url)).unwrap().len(), 4000);

    // A later run picks up where it stopped.
    server.set(|s| s.cut_every_after = None);
    let path = fetch(&url, &cache, &mut NoProgress).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(server.requests()[4].range.as_deref(), Some("bytes=4000-"));
}

#[test]
fn resumes_a_part_left_by_an_earlier_run() {
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    let bytes = data(LEN, 4);
    files.put("m/pytorch_model.bin", &bytes);
    let server = Server::start(&files.0, Switches::default());
    let cache = Cache::new(&cache_dir.0);
    let url = server.url("m/pytorch_model.bin");
    let part = cache.partial_path_for(&url);
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::fs::write(&part, &bytes[..5000]).unwrap();

    let path = fetch(&url, &cache, &mut NoProgress).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].range.as_deref(), Some("bytes=5000-"));
}

#[test]
fn a_complete_part_is_accepted_on_416_and_an_oversized_one_is_restarted() {
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    let bytes = data(LEN, 5);
    files.put("a/model.safetensors", &bytes);
    files.put("b/model.safetensors", &bytes);
    let server = Server::start(&files.0, Switches::default());
    let cache = Cache::new(&cache_dir.0);

    // Whole file already in the part: 416 with the same total → complete, nothing sent again.
    let url = server.url("a/model.safetensors");
    let part = cache.partial_path_for(&url);
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::fs::write(&part, &bytes).unwrap();
    let mut rec = Recorder::default();
    let path = fetch(&url, &cache, &mut rec).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(rec.advanced, 0);
    assert_eq!(server.requests().len(), 1);

    // A part longer than the file: 416 with another total → start over.
    let url = server.url("b/model.safetensors");
    let part = cache.partial_path_for(&url);
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::fs::write(&part, data(LEN + 10, 6)).unwrap();
    let path = fetch(&url, &cache, &mut NoProgress).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    let reqs = server.requests();
    assert_eq!(reqs.len(), 3);
    assert_eq!(reqs[1].range.as_deref(), Some(format!("bytes={}-", LEN + 10).as_str()));
    assert_eq!(reqs[2].range, None);
}

#[test]
fn a_server_ignoring_range_gives_a_correct_file() {
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    let bytes = data(LEN, 7);
    files.put("m/model.safetensors", &bytes);
    let server = Server::start(&files.0, Switches { ignore_range: true, ..Default::default() });
    let cache = Cache::new(&cache_dir.0);
    let url = server.url("m/model.safetensors");
    // A stale part with wrong bytes: if it were appended to, the file would be wrong.
    let part = cache.partial_path_for(&url);
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::fs::write(&part, data(5000, 8)).unwrap();

    let mut rec = Recorder::default();
    let path = fetch(&url, &cache, &mut rec).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(server.requests().len(), 1);
    assert_eq!(server.requests()[0].range.as_deref(), Some("bytes=5000-"));
    assert_eq!(rec.starts, vec![(url, Some(LEN as u64), 0)]);

    // The same after a cut connection: the retry's Range is ignored too.
    let (files2, cache_dir2) = (TempDir::new(), TempDir::new());
    files2.put("m/model.safetensors", &bytes);
    let server = Server::start(
        &files2.0,
        Switches { ignore_range: true, cut_first_after: Some(70_000), ..Default::default() },
    );
    let cache = Cache::new(&cache_dir2.0);
    let path = fetch(&server.url("m/model.safetensors"), &cache, &mut NoProgress).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn a_missing_required_file_names_the_url() {
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    let server = Server::start(&files.0, Switches::default());
    let cache = Cache::new(&cache_dir.0);
    let url = server.url("nobody/nothing/resolve/main/model.safetensors");
    let msg = message(fetch(&url, &cache, &mut NoProgress).unwrap_err());
    assert!(msg.contains(&url) && msg.contains("404") && msg.contains("not found"), "{msg}");
    assert!(!cache.partial_path_for(&url).exists());
}

#[test]
fn gated_or_private_repositories_are_named_as_such() {
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    let server = Server::start(&files.0, Switches { status: Some(401), ..Default::default() });
    let cache = Cache::new(&cache_dir.0);
    let url = server.url("org/gated/resolve/main/model.safetensors");
    let msg = message(fetch(&url, &cache, &mut NoProgress).unwrap_err());
    assert!(msg.contains(&url) && msg.contains("401") && msg.contains("gated or private"), "{msg}");
    assert_eq!(server.requests().len(), 1, "a 401 is not retried");
}

#[test]
fn server_errors_are_retried_then_reported() {
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    let server = Server::start(&files.0, Switches { status: Some(503), ..Default::default() });
    let cache = Cache::new(&cache_dir.0);
    let url = server.url("m/model.safetensors");
    let msg = message(fetch(&url, &cache, &mut NoProgress).unwrap_err());
    assert!(msg.contains(&url) && msg.contains("503") && msg.contains("3 retries"), "{msg}");
    assert_eq!(server.requests().len(), 4);
}

#[test]
fn optional_files_that_are_missing_give_none() {
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    files.put("m/config.json", b"{}");
    let server = Server::start(&files.0, Switches::default());
    let cache = Cache::new(&cache_dir.0);
    let missing = server.url("m/preprocessor_config.json");
    assert_eq!(fetch_optional(&missing, &cache, &mut NoProgress).unwrap(), None);
    assert!(!cache.path_for(&missing).exists());
    let there = fetch_optional(&server.url("m/config.json"), &cache, &mut NoProgress).unwrap().unwrap();
    assert_eq!(std::fs::read(there).unwrap(), b"{}");
}

#[test]
fn hub_ids_fall_back_to_pytorch_model_bin_and_fetch_side_files() {
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    let weights = data(LEN, 9);
    files.put("owner/name/resolve/main/pytorch_model.bin", &weights);
    files.put("owner/name/resolve/main/config.json", b"{\"model_type\":\"clip\"}");
    let server = Server::start(&files.0, Switches::default());
    let cache = Cache::new(&cache_dir.0);
    let source = Source::Hub { repo: "owner/name".into(), revision: "main".into() };
    assert_eq!(parse_source("owner/name"), source);

    let dir = resolve_checkpoint_with(&source, &server.endpoint(), &cache, &mut NoProgress).unwrap();
    assert_eq!(std::fs::read(dir.join("pytorch_model.bin")).unwrap(), weights);
    assert_eq!(std::fs::read(dir.join("config.json")).unwrap(), b"{\"model_type\":\"clip\"}");
    assert!(!dir.join("model.safetensors").exists() && !dir.join("preprocessor_config.json").exists());
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        [
            "/owner/name/resolve/main/model.safetensors",
            "/owner/name/resolve/main/pytorch_model.bin",
            "/owner/name/resolve/main/config.json",
            "/owner/name/resolve/main/preprocessor_config.json",
        ]
    );

    // Second run: everything, including what the repository lacks, is known: no request.
    assert_eq!(resolve_checkpoint_with(&source, &server.endpoint(), &cache, &mut NoProgress).unwrap(), dir);
    assert_eq!(server.requests().len(), 4);
}

#[test]
fn hub_ids_prefer_model_safetensors() {
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    files.put("o/n/resolve/main/model.safetensors", &data(1000, 10));
    files.put("o/n/resolve/main/pytorch_model.bin", &data(1000, 11));
    files.put("o/n/resolve/main/preprocessor_config.json", b"{}");
    let server = Server::start(&files.0, Switches::default());
    let cache = Cache::new(&cache_dir.0);
    let source = Source::Hub { repo: "o/n".into(), revision: "main".into() };
    let dir = resolve_checkpoint_with(&source, &server.endpoint(), &cache, &mut NoProgress).unwrap();
    assert!(dir.join("model.safetensors").is_file() && dir.join("preprocessor_config.json").is_file());
    assert!(!dir.join("pytorch_model.bin").exists());
    assert!(server.requests().iter().all(|r| !r.path.ends_with("pytorch_model.bin")));
}

#[test]
fn a_hub_id_without_weights_says_so() {
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    let server = Server::start(&files.0, Switches { status: Some(404), ..Default::default() });
    let cache = Cache::new(&cache_dir.0);
    let source = Source::Hub { repo: "owner/typo".into(), revision: "main".into() };
    let msg =
        message(resolve_checkpoint_with(&source, &server.endpoint(), &cache, &mut NoProgress).unwrap_err());
    assert!(
        msg.contains("owner/typo") && msg.contains("model.safetensors") && msg.contains("pytorch_model.bin"),
        "{msg}"
    );
    assert!(msg.contains("not a local path"), "{msg}");
    // Nothing is remembered about a repository that was not found: a second try asks again.
    let _ = resolve_checkpoint_with(&source, &server.endpoint(), &cache, &mut NoProgress);
    assert_eq!(server.requests().len(), 2 * wiseft::checkpoint::WEIGHT_FILES.len());
}

#[test]
fn pull_request_revisions_are_encoded_for_the_hub() {
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    let weights = data(2000, 12);
    // The hub wants the revision as one path segment: refs%2Fpr%2F15.
    files.put("openai/clip-vit-base-patch32/resolve/refs%2Fpr%2F15/model.safetensors", &weights);
    files.put("openai/clip-vit-base-patch32/resolve/main/model.safetensors", &data(2000, 13));
    let server = Server::start(&files.0, Switches::default());
    let cache = Cache::new(&cache_dir.0);
    let source = parse_source("openai/clip-vit-base-patch32@refs/pr/15");
    assert_eq!(
        source,
        Source::Hub { repo: "openai/clip-vit-base-patch32".into(), revision: "refs/pr/15".into() }
    );

    let dir = resolve_checkpoint_with(&source, &server.endpoint(), &cache, &mut NoProgress).unwrap();
    assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), weights);
    assert_eq!(
        server.requests()[0].path,
        "/openai/clip-vit-base-patch32/resolve/refs%2Fpr%2F15/model.safetensors"
    );
    assert_eq!(
        file_url(&server.endpoint(), "openai/clip-vit-base-patch32", "refs/pr/15", "model.safetensors"),
        server.url("openai/clip-vit-base-patch32/resolve/refs%2Fpr%2F15/model.safetensors")
    );

    // Another revision of the same repository never shares the cache folder.
    let main = Source::Hub { repo: "openai/clip-vit-base-patch32".into(), revision: "main".into() };
    let main_dir = resolve_checkpoint_with(&main, &server.endpoint(), &cache, &mut NoProgress).unwrap();
    assert_ne!(main_dir, dir);
    assert_eq!(std::fs::read(main_dir.join("model.safetensors")).unwrap(), data(2000, 13));
}

#[test]
fn url_sources_bring_their_side_files_into_one_folder() {
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    let weights = data(LEN, 14);
    files.put("o/n/resolve/refs%2Fpr%2F15/model.safetensors", &weights);
    files.put("o/n/resolve/refs%2Fpr%2F15/config.json", b"{\"a\":1}");
    let server = Server::start(&files.0, Switches::default());
    let cache = Cache::new(&cache_dir.0);
    let url = format!("{}?download=true", server.url("o/n/resolve/refs%2Fpr%2F15/model.safetensors"));
    let source = parse_source(&url);
    assert_eq!(source, Source::Url(url.clone()));

    let path = resolve_checkpoint_with(&source, "http://unused.invalid", &cache, &mut NoProgress).unwrap();
    assert_eq!(path.file_name().unwrap(), "model.safetensors");
    assert_eq!(std::fs::read(&path).unwrap(), weights);
    assert_eq!(std::fs::read(path.with_file_name("config.json")).unwrap(), b"{\"a\":1}");
    assert!(!path.with_file_name("preprocessor_config.json").exists());
    assert_eq!(server.requests()[1].path, "/o/n/resolve/refs%2Fpr%2F15/config.json");
    assert_eq!(sibling_url(&url, "config.json"), server.url("o/n/resolve/refs%2Fpr%2F15/config.json"));

    assert_eq!(
        resolve_checkpoint_with(&source, "http://unused.invalid", &cache, &mut NoProgress).unwrap(),
        path
    );
    assert_eq!(server.requests().len(), 3, "second run: no request");
}

#[test]
fn local_sources_are_returned_as_they_are() {
    let cache_dir = TempDir::new();
    let cache = Cache::new(&cache_dir.0);
    let source = Source::Local(PathBuf::from("no/such/model.safetensors"));
    let p = resolve_checkpoint_with(&source, "http://unused.invalid", &cache, &mut NoProgress).unwrap();
    assert_eq!(p, PathBuf::from("no/such/model.safetensors"));
    assert_eq!(std::fs::read_dir(&cache_dir.0).unwrap().count(), 0);
}

#[test]
fn no_connection_says_network_and_suggests_a_local_path() {
    let cache_dir = TempDir::new();
    let cache = Cache::new(&cache_dir.0);
    // A port on 127.0.0.1 that was just free and is closed now: connection refused.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/o/n/resolve/main/model.safetensors");
    let t = Instant::now();
    let msg = message(fetch(&url, &cache, &mut NoProgress).unwrap_err());
    assert!(msg.contains(&url) && msg.contains("network") && msg.contains("local path"), "{msg}");
    assert!(!msg.contains("Os {") && !msg.contains("kind:"), "no debug dump: {msg}");
    assert!(t.elapsed() < Duration::from_secs(2), "not retried");

    let source = Source::Hub { repo: "o/n".into(), revision: "main".into() };
    let msg = message(
        resolve_checkpoint_with(&source, &format!("http://127.0.0.1:{port}"), &cache, &mut NoProgress)
            .unwrap_err(),
    );
    assert!(msg.contains("network") && msg.contains("local path"), "{msg}");
}

/// The only test that touches WISEFT_HUB_ENDPOINT (no other test reads it).
#[test]
fn the_endpoint_variable_routes_hub_ids() {
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    files.put("e/v/resolve/main/model.safetensors", &data(500, 15));
    let server = Server::start(&files.0, Switches::default());
    let cache = Cache::new(&cache_dir.0);
    std::env::set_var("WISEFT_HUB_ENDPOINT", server.endpoint());
    assert_eq!(wiseft::hub::endpoint(), server.endpoint());
    let result = resolve_checkpoint(&parse_source("e/v"), &cache, &mut NoProgress);
    std::env::remove_var("WISEFT_HUB_ENDPOINT");
    let dir = result.unwrap();
    assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), data(500, 15));
    assert_eq!(server.requests()[0].path, "/e/v/resolve/main/model.safetensors");
}
