//! Downloads against a tiny HTTP/1.1 server on 127.0.0.1 that each test starts itself.
//! No other address is ever used; every socket has timeouts and the server stops by itself.
#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::http::{commit_of, Server, Switches, TempDir};
use common::sha256_hex;
use wiseft::random::XorShift;
use wiseft::error::Error;
use wiseft::hub::download::{
    fetch, fetch_optional, resolve_checkpoint, resolve_checkpoint_with, Cache, HfCache, Hub, NoProgress,
    Progress,
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

/// A hub at `endpoint` whose Hugging Face cache is `dir`.
fn hub_at(endpoint: &str, dir: &TempDir) -> Hub {
    Hub::new(endpoint, HfCache::new(&dir.0))
}

/// The requests' methods and paths, as `HEAD /o/n/…`.
fn calls(server: &Server) -> Vec<String> {
    server.requests().into_iter().map(|r| format!("{} {}", r.method, r.path)).collect()
}

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
    let (files, cache_dir, hf) = (TempDir::new(), TempDir::new(), TempDir::new());
    let weights = data(LEN, 9);
    files.put("owner/name/resolve/main/pytorch_model.bin", &weights);
    files.put("owner/name/resolve/main/config.json", b"{\"model_type\":\"clip\"}");
    let server = Server::start(&files.0, Switches::default());
    let cache = Cache::new(&cache_dir.0);
    let hub = hub_at(&server.endpoint(), &hf);
    let source = Source::Hub { repo: "owner/name".into(), revision: "main".into() };
    assert_eq!(parse_source("owner/name"), source);

    let dir = resolve_checkpoint_with(&source, &hub, &cache, &mut NoProgress).unwrap();
    let commit = commit_of("main");
    assert_eq!(dir, hf.0.join("models--owner--name/snapshots").join(&commit));
    assert_eq!(std::fs::read(dir.join("pytorch_model.bin")).unwrap(), weights);
    assert_eq!(std::fs::read(dir.join("config.json")).unwrap(), b"{\"model_type\":\"clip\"}");
    assert!(!dir.join("model.safetensors").exists() && !dir.join("preprocessor_config.json").exists());
    let m = "/owner/name/resolve/main";
    assert_eq!(
        calls(&server),
        [
            format!("HEAD {m}/model.safetensors"),
            format!("HEAD {m}/pytorch_model.bin"),
            format!("GET {m}/pytorch_model.bin"),
            format!("HEAD {m}/config.json"),
            format!("GET {m}/config.json"),
            format!("HEAD {m}/preprocessor_config.json"),
        ]
    );
    // What the repository lacks is remembered as huggingface_hub remembers it.
    let no_exist = hf.0.join("models--owner--name/.no_exist").join(&commit);
    assert!(no_exist.join("model.safetensors").is_file() && no_exist.join("preprocessor_config.json").is_file());

    // Second run on the branch: its commit is asked for (HEAD), nothing is downloaded again.
    assert_eq!(resolve_checkpoint_with(&source, &hub, &cache, &mut NoProgress).unwrap(), dir);
    assert!(calls(&server)[6..].iter().all(|c| c.starts_with("HEAD ")), "{:?}", calls(&server));
    // By commit hash, or offline: no request at all.
    let n = server.requests().len();
    let pinned = Source::Hub { repo: "owner/name".into(), revision: commit.clone() };
    assert_eq!(resolve_checkpoint_with(&pinned, &hub, &cache, &mut NoProgress).unwrap(), dir);
    let offline = Hub { offline: true, ..hub.clone() };
    assert_eq!(resolve_checkpoint_with(&source, &offline, &cache, &mut NoProgress).unwrap(), dir);
    assert_eq!(server.requests().len(), n);
}

#[test]
fn hub_ids_prefer_model_safetensors() {
    let (files, cache_dir, hf) = (TempDir::new(), TempDir::new(), TempDir::new());
    files.put("o/n/resolve/main/model.safetensors", &data(1000, 10));
    files.put("o/n/resolve/main/pytorch_model.bin", &data(1000, 11));
    files.put("o/n/resolve/main/preprocessor_config.json", b"{}");
    let server = Server::start(&files.0, Switches::default());
    let cache = Cache::new(&cache_dir.0);
    let source = Source::Hub { repo: "o/n".into(), revision: "main".into() };
    let dir = resolve_checkpoint_with(&source, &hub_at(&server.endpoint(), &hf), &cache, &mut NoProgress).unwrap();
    assert!(dir.join("model.safetensors").is_file() && dir.join("preprocessor_config.json").is_file());
    assert!(!dir.join("pytorch_model.bin").exists());
    assert!(server.requests().iter().all(|r| !r.path.ends_with("pytorch_model.bin")));
}

#[test]
fn a_hub_id_without_weights_says_so() {
    let (files, cache_dir, hf) = (TempDir::new(), TempDir::new(), TempDir::new());
    let server = Server::start(&files.0, Switches { status: Some(404), ..Default::default() });
    let cache = Cache::new(&cache_dir.0);
    let hub = hub_at(&server.endpoint(), &hf);
    let source = Source::Hub { repo: "owner/typo".into(), revision: "main".into() };
    let msg = message(resolve_checkpoint_with(&source, &hub, &cache, &mut NoProgress).unwrap_err());
    assert!(
        msg.contains("owner/typo") && msg.contains("model.safetensors") && msg.contains("pytorch_model.bin"),
        "{msg}"
    );
    assert!(msg.contains("not a local path"), "{msg}");
    // Nothing is remembered about a repository that was not found: a second try asks again.
    let _ = resolve_checkpoint_with(&source, &hub, &cache, &mut NoProgress);
    assert_eq!(server.requests().len(), 2 * wiseft::checkpoint::WEIGHT_FILES.len());
    assert!(!hf.0.join("models--owner--typo").exists());
}

#[test]
fn pull_request_revisions_are_encoded_for_the_hub() {
    let (files, cache_dir, hf) = (TempDir::new(), TempDir::new(), TempDir::new());
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

    let hub = hub_at(&server.endpoint(), &hf);
    let dir = resolve_checkpoint_with(&source, &hub, &cache, &mut NoProgress).unwrap();
    assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), weights);
    // huggingface_hub keeps `refs/pr/15` as a nested ref file.
    let pr_ref = hf.0.join("models--openai--clip-vit-base-patch32/refs/refs/pr/15");
    assert_eq!(std::fs::read_to_string(pr_ref).unwrap(), commit_of("refs%2Fpr%2F15"));
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
    let main_dir = resolve_checkpoint_with(&main, &hub, &cache, &mut NoProgress).unwrap();
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
    let unused_hub = Hub::new("http://unused.invalid", HfCache::new(cache_dir.0.join("hf-unused")));

    let path = resolve_checkpoint_with(&source, &unused_hub, &cache, &mut NoProgress).unwrap();
    assert_eq!(path.file_name().unwrap(), "model.safetensors");
    assert_eq!(std::fs::read(&path).unwrap(), weights);
    assert_eq!(std::fs::read(path.with_file_name("config.json")).unwrap(), b"{\"a\":1}");
    assert!(!path.with_file_name("preprocessor_config.json").exists());
    assert_eq!(server.requests()[1].path, "/o/n/resolve/refs%2Fpr%2F15/config.json");
    assert_eq!(sibling_url(&url, "config.json"), server.url("o/n/resolve/refs%2Fpr%2F15/config.json"));

    assert_eq!(
        resolve_checkpoint_with(&source, &unused_hub, &cache, &mut NoProgress).unwrap(),
        path
    );
    assert_eq!(server.requests().len(), 3, "second run: no request");
}

#[test]
fn local_sources_are_returned_as_they_are() {
    let cache_dir = TempDir::new();
    let cache = Cache::new(&cache_dir.0);
    let source = Source::Local(PathBuf::from("no/such/model.safetensors"));
    let unused_hub = Hub::new("http://unused.invalid", HfCache::new(cache_dir.0.join("hf-unused")));
    let p = resolve_checkpoint_with(&source, &unused_hub, &cache, &mut NoProgress).unwrap();
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
    let hf = TempDir::new();
    let hub = hub_at(&format!("http://127.0.0.1:{port}"), &hf);
    let msg = message(resolve_checkpoint_with(&source, &hub, &cache, &mut NoProgress).unwrap_err());
    assert!(msg.contains("network") && msg.contains("local path"), "{msg}");
}

/// The only test that touches WISEFT_HUB_ENDPOINT and HF_HUB_CACHE (no other test reads them).
#[test]
fn the_endpoint_variable_routes_hub_ids() {
    let (files, cache_dir) = (TempDir::new(), TempDir::new());
    files.put("e/v/resolve/main/model.safetensors", &data(500, 15));
    let server = Server::start(&files.0, Switches::default());
    let cache = Cache::new(&cache_dir.0);
    let hf = TempDir::new();
    std::env::set_var("WISEFT_HUB_ENDPOINT", server.endpoint());
    std::env::set_var("HF_HUB_CACHE", &hf.0);
    assert_eq!(wiseft::hub::endpoint(), server.endpoint());
    let result = resolve_checkpoint(&parse_source("e/v"), &cache, &mut NoProgress);
    std::env::remove_var("WISEFT_HUB_ENDPOINT");
    std::env::remove_var("HF_HUB_CACHE");
    let dir = result.unwrap();
    assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), data(500, 15));
    assert_eq!(server.requests()[0].path, "/e/v/resolve/main/model.safetensors");
}

// ---------------------------------------------------------------------------------------------
// The Hugging Face cache, shared with Python (tests/fixtures/hf-cache was written by
// huggingface_hub: scripts/gen_hf_cache_fixture.py)

const HF_FIXTURE: &str = "tests/fixtures/hf-cache";
const A_FT: &str = "tests/fixtures/models/a_ft";

/// Copies a folder, recreating symlinks as symlinks (as the cache has them).
fn copy_tree(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src).unwrap(), &dst).unwrap();
        } else if kind.is_dir() {
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// Every entry below `root`: its path, and a symlink's target or a file's sha256.
fn tree(root: &std::path::Path) -> Vec<String> {
    fn walk(root: &std::path::Path, dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            if meta.is_symlink() {
                out.push(format!("{rel} -> {}", std::fs::read_link(&p).unwrap().display()));
            } else if meta.is_dir() {
                walk(root, &p, out);
            } else if !matches!(rel.as_str(), "README.md" | "CACHEDIR.TAG") {
                out.push(format!("{rel} = {}", sha256_hex(&std::fs::read(&p).unwrap())));
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.retain(|e| e != "README.md");
    out.sort();
    out
}

#[cfg(unix)]
#[test]
fn a_cache_written_by_huggingface_hub_is_read_without_downloading() {
    let hf = TempDir::new();
    copy_tree(std::path::Path::new(HF_FIXTURE), &hf.0);
    let cache_dir = TempDir::new();
    let cache = Cache::new(&cache_dir.0);
    let source = parse_source("fixture/a-ft");
    let check = |dir: PathBuf| {
        for f in ["model.safetensors", "config.json"] {
            assert_eq!(std::fs::read(dir.join(f)).unwrap(), std::fs::read(format!("{A_FT}/{f}")).unwrap(), "{f}");
        }
        assert!(!dir.join("preprocessor_config.json").exists());
    };
    // HF_HUB_OFFLINE: the cache alone.
    let offline = Hub { offline: true, ..Hub::new("http://unused.invalid", HfCache::new(&hf.0)) };
    check(resolve_checkpoint_with(&source, &offline, &cache, &mut NoProgress).unwrap());
    // Online, but the hub cannot be reached: the cache answers, as in huggingface_hub.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let down = Hub::new(format!("http://127.0.0.1:{port}"), HfCache::new(&hf.0));
    check(resolve_checkpoint_with(&source, &down, &cache, &mut NoProgress).unwrap());
    // Online: one HEAD per file, the blobs Python downloaded are used as they are.
    let files = TempDir::new();
    for f in ["model.safetensors", "config.json"] {
        files.put(&format!("fixture/a-ft/resolve/main/{f}"), &std::fs::read(format!("{A_FT}/{f}")).unwrap());
    }
    let server = Server::start(&files.0, Switches::default());
    let online = Hub::new(server.endpoint(), HfCache::new(&hf.0));
    check(resolve_checkpoint_with(&source, &online, &cache, &mut NoProgress).unwrap());
    assert!(calls(&server).iter().all(|c| c.starts_with("HEAD ")), "{:?}", calls(&server));
    assert_eq!(tree(&hf.0), tree(std::path::Path::new(HF_FIXTURE)), "nothing was added");
    assert_eq!(std::fs::read_dir(&cache_dir.0).unwrap().count(), 0, "wiseft's own cache is not used for hub ids");
}

#[cfg(unix)]
#[test]
fn wiseft_writes_the_tree_huggingface_hub_writes_and_keeps_the_token_off_the_cdn() {
    let files = TempDir::new();
    for f in ["model.safetensors", "config.json"] {
        files.put(&format!("fixture/a-ft/resolve/main/{f}"), &std::fs::read(format!("{A_FT}/{f}")).unwrap());
    }
    // The CDN: another server (another origin) on the same files; its first answer breaks off.
    let cdn = Server::start(&files.0, Switches { cut_first_after: Some(40_000), ..Default::default() });
    let server = Server::start(&files.0, Switches { cdn: Some(cdn.endpoint()), ..Default::default() });
    let hf = TempDir::new();
    let hub = Hub { token: Some("hf_secret".into()), ..Hub::new(server.endpoint(), HfCache::new(&hf.0)) };
    let cache_dir = TempDir::new();
    let mut rec = Recorder::default();
    let dir = resolve_checkpoint_with(&parse_source("fixture/a-ft"), &hub, &Cache::new(&cache_dir.0), &mut rec)
        .unwrap();
    assert_eq!(std::fs::read(dir.join("model.safetensors")).unwrap(), std::fs::read(format!("{A_FT}/model.safetensors")).unwrap());
    assert_eq!(tree(&hf.0), tree(std::path::Path::new(HF_FIXTURE)));
    assert_eq!(rec.finished, 2, "two files downloaded");

    // The weights came from the CDN, resumed after the cut; the token went to the hub only.
    let cdn_calls = cdn.requests();
    assert_eq!(cdn_calls.len(), 2, "{cdn_calls:?}");
    assert_eq!(cdn_calls[1].range.as_deref(), Some("bytes=40000-"));
    assert!(cdn_calls.iter().all(|r| r.authorization.is_none()), "the token must not leave the hub");
    assert!(server.requests().iter().all(|r| r.authorization.as_deref() == Some("Bearer hf_secret")));
}

#[test]
fn offline_without_the_model_in_the_cache_says_so() {
    let (hf, cache_dir) = (TempDir::new(), TempDir::new());
    let offline = Hub { offline: true, ..Hub::new("http://unused.invalid", HfCache::new(&hf.0)) };
    let msg = message(
        resolve_checkpoint_with(&parse_source("o/n"), &offline, &Cache::new(&cache_dir.0), &mut NoProgress)
            .unwrap_err(),
    );
    assert!(msg.contains("HF_HUB_OFFLINE") && msg.contains(&hf.0.display().to_string()), "{msg}");
    assert!(msg.contains("o/n"), "{msg}");
}
