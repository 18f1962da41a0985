//! Issue 15, item 4 for the CLI: `wiseft classify` over 1,000 images holds no more memory than over
//! 100 (photos are read, classified and printed a batch at a time). Peak RSS of the child process,
//! from getrusage(RUSAGE_CHILDREN), on the built-in generated-world pair (32 × 32 px, CPU engine).
//! One test in this binary: RUSAGE_CHILDREN is the largest of all children waited for.

#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// The stated margin: the 1,000-image run's peak RSS at most this much above the 100-image run's.
const RSS_MARGIN_BYTES: i64 = 16 << 20;

#[repr(C)]
#[derive(Default)]
struct Rusage {
    utime: [i64; 2],
    stime: [i64; 2],
    maxrss: i64,
    rest: [i64; 13],
}

extern "C" {
    fn getrusage(who: i32, usage: *mut Rusage) -> i32;
}

/// The largest peak resident set of the children waited for so far, in bytes (Linux reports KiB).
fn children_peak_rss() -> i64 {
    let mut u = Rusage::default();
    // SAFETY: a plain C call filling a struct laid out as Linux's `struct rusage` (x86_64/aarch64).
    let rc = unsafe { getrusage(-1, &mut u) };
    assert_eq!(rc, 0, "getrusage failed");
    u.maxrss * 1024
}

fn samples() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("www/samples/toy")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "png") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// `n` photo files in `dir` (the shipped samples over and over, each its own file).
fn photos(dir: &Path, n: usize) -> Vec<PathBuf> {
    let src = samples();
    assert!(!src.is_empty());
    (0..n)
        .map(|i| {
            let p = dir.join(format!("photo-{i:04}.png"));
            if !p.exists() {
                std::fs::copy(&src[i % src.len()], &p).unwrap();
            }
            p
        })
        .collect()
}

/// Runs `classify --json` on `images`; its seconds and the number of results.
fn classify(images: &[PathBuf]) -> (f64, usize) {
    let t = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_wiseft"))
        .args(["classify", "--device", "cpu", "--json"])
        .args(images)
        .output()
        .expect("wiseft runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (t.elapsed().as_secs_f64(), json["results"].as_array().unwrap().len())
}

#[test]
fn classify_over_1000_images_holds_what_100_hold() {
    let dir = std::env::temp_dir().join(format!("wiseft-long-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let all = photos(&dir, 1000);
    let (s100, n100) = classify(&all[..100]);
    let rss100 = children_peak_rss();
    let (s1000, n1000) = classify(&all);
    let rss1000 = children_peak_rss();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((n100, n1000), (100, 1000));
    eprintln!(
        "classify --device cpu, built-in pair: 100 images {s100:.2} s, peak RSS {:.1} MB; 1,000 images {s1000:.2} s, peak RSS {:.1} MB",
        rss100 as f64 / 1e6,
        rss1000 as f64 / 1e6
    );
    assert!(
        rss1000 <= rss100 + RSS_MARGIN_BYTES,
        "peak RSS grew from {rss100} bytes (100 images) to {rss1000} (1,000 images), over the margin of {RSS_MARGIN_BYTES}"
    );
}
