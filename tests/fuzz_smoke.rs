//! The bounded fuzz run of the test suite: every target of `wiseft::fuzz` on its committed seeds
//! (`tests/fixtures/fuzz/<target>/`, written by scripts/gen_fuzz_seeds.py) and on deterministic
//! mutations of them — bit flips, byte edits, inserts, deletes, duplicated ranges, splices with
//! another seed, length fields set to interesting values, truncation — drawn from
//! `wiseft::random::XorShift` with a fixed seed, so a failure reproduces. Other files in those
//! folders are regression inputs (crashes found by scripts/fuzz.sh): they must not panic.
//!
//! Properties, per input: no panic; at most [`TIME_PER_INPUT`]; at most [`MEMORY_PER_INPUT`] of
//! heap above what was live before (measured by the counting allocator below — an allocation
//! proportional to a claimed size fails it). Seeds must decode. And a valid image decodes to the
//! same pixels after bytes that do not matter change: PNG ancillary chunks, JPEG APPn / COM
//! segments. A failing input is written to `target/fuzz-smoke-failures/`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use wiseft::fuzz;
use wiseft::random::XorShift;

/// Heap bytes live now, and the most since the last reset.
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

struct Counting;

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Per input, in this debug build on a loaded 2-core machine (seeds decode in milliseconds; the
/// bombs this catches took minutes).
const TIME_PER_INPUT: Duration = Duration::from_secs(5);
/// Heap growth allowed per input. Image mutants are under 1 KB, so the pixels-per-byte bound lets
/// them claim at most 4 M pixels (32 MB as 16-bit RGBA, plus the RGB copy); nothing else comes
/// near. An allocation proportional to a claimed size (2⁶⁴ elements, 16384² pixels) is far above.
const MEMORY_PER_INPUT: usize = 128 << 20;
/// Mutants per seed: ~110,000 inputs in all, 20–40 s in a debug build on this 2-core machine.
const MUTANTS_PER_SEED: usize = 4000;

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fuzz").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files.into_iter().map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap())).collect()
}

fn save_failure(target: &str, what: &str, bytes: &[u8]) -> String {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-smoke-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{target}-{}", what.replace(['/', ' '], "_")));
    std::fs::write(&path, bytes).unwrap();
    path.display().to_string()
}

/// The slowest input and the largest heap growth seen so far (reported at the end).
static SLOWEST_US: AtomicUsize = AtomicUsize::new(0);
static LARGEST: AtomicUsize = AtomicUsize::new(0);

/// Runs one input under the properties; returns its outcome.
fn check(target: &str, what: &str, bytes: &[u8]) -> fuzz::Outcome {
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let start = Instant::now();
    let outcome = std::panic::catch_unwind(|| fuzz::run(target, bytes).expect("a known target"));
    let elapsed = start.elapsed();
    let grew = PEAK.load(Ordering::Relaxed).saturating_sub(before);
    SLOWEST_US.fetch_max(elapsed.as_micros() as usize, Ordering::Relaxed);
    LARGEST.fetch_max(grew, Ordering::Relaxed);
    let outcome = outcome.unwrap_or_else(|_| panic!("{target} panicked on {what}: input saved as {}", save_failure(target, what, bytes)));
    assert!(
        elapsed <= TIME_PER_INPUT,
        "{target} took {elapsed:?} on {what} (limit {TIME_PER_INPUT:?}): input saved as {}",
        save_failure(target, what, bytes)
    );
    assert!(
        grew <= MEMORY_PER_INPUT,
        "{target} allocated {} MB on {what} (limit {} MB): input saved as {}",
        grew >> 20,
        MEMORY_PER_INPUT >> 20,
        save_failure(target, what, bytes)
    );
    outcome
}

/// Values worth writing into a length or size field.
const INTERESTING: [u64; 12] = [0, 1, 2, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 1 << 40, u64::MAX];

fn mutate(rng: &mut XorShift, seed: &[u8], others: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = seed.to_vec();
    let mut pick = |n: usize| (rng.next_u64() % n.max(1) as u64) as usize;
    for _ in 0..1 + pick(3) {
        let len = b.len();
        match pick(9) {
            0 => {
                if len > 0 {
                    let i = pick(len);
                    b[i] ^= 1 << pick(8);
                }
            }
            1 => {
                if len > 0 {
                    let i = pick(len);
                    b[i] = pick(256) as u8;
                }
            }
            2 => {
                let at = pick(len + 1);
                let n = 1 + pick(8);
                let bytes: Vec<u8> = (0..n).map(|_| pick(256) as u8).collect();
                b.splice(at..at, bytes);
            }
            3 => {
                if len > 0 {
                    let at = pick(len);
                    let end = (at + 1 + pick(16)).min(len);
                    b.drain(at..end);
                }
            }
            4 => {
                if len > 0 {
                    let at = pick(len);
                    let end = (at + 1 + pick(64)).min(len);
                    let copy = b[at..end].to_vec();
                    let to = pick(len + 1);
                    b.splice(to..to, copy);
                }
            }
            5 => {
                // Splice: our head, another seed's tail.
                let (_, other) = &others[pick(others.len())];
                let (at, from) = (pick(len + 1), pick(other.len() + 1));
                b.truncate(at);
                b.extend_from_slice(&other[from..]);
            }
            6 | 7 => {
                // A length field: an interesting value as 2, 4 or 8 bytes, either byte order.
                let width = [2, 4, 8][pick(3)];
                if len >= width {
                    let at = pick(len - width + 1);
                    let v = INTERESTING[pick(INTERESTING.len())];
                    let (le, be) = (v.to_le_bytes(), v.to_be_bytes());
                    // The low `width` bytes, in the chosen order.
                    let bytes = if pick(2) == 0 { &le[..width] } else { &be[8 - width..] };
                    b[at..at + width].copy_from_slice(bytes);
                }
            }
            _ => b.truncate(pick(len + 1)),
        }
    }
    b
}

#[test]
fn fuzz_targets_survive_mutated_seeds() {
    let started = Instant::now();
    let mut rng = XorShift::seeded(15);
    let mut report = Vec::new();
    for target in fuzz::TARGETS {
        let files = corpus(target);
        let seeds: Vec<_> = files.iter().filter(|(n, _)| n.starts_with("seed-")).cloned().collect();
        assert!(!seeds.is_empty(), "no seeds for {target}");
        let t0 = Instant::now();
        let mut accepted = 0;
        for (name, bytes) in &files {
            let outcome = check(target, name, bytes);
            if name.starts_with("seed-") {
                outcome.unwrap_or_else(|e| panic!("{target}: seed {name} does not decode: {e}"));
            }
        }
        for (name, seed) in &seeds {
            for i in 0..MUTANTS_PER_SEED {
                let bytes = mutate(&mut rng, seed, &seeds);
                accepted += check(target, &format!("{name} mutant {i}"), &bytes).is_ok() as usize;
            }
        }
        report.push(format!(
            "{target}: {} inputs, {accepted} accepted, {:.1} s; slowest input so far {:.1} ms, most heap {:.1} MB",
            files.len() + seeds.len() * MUTANTS_PER_SEED,
            t0.elapsed().as_secs_f64(),
            SLOWEST_US.load(Ordering::Relaxed) as f64 / 1000.0,
            LARGEST.load(Ordering::Relaxed) as f64 / (1 << 20) as f64
        ));
        SLOWEST_US.store(0, Ordering::Relaxed);
        LARGEST.store(0, Ordering::Relaxed);
    }
    eprintln!("fuzz smoke run in {:.1} s:\n  {}", started.elapsed().as_secs_f64(), report.join("\n  "));
}

// ---- decoding does not depend on bytes that do not matter ---------------------------------------

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend(kind);
    out.extend(data);
    out.extend(crc32(&[&kind[..], data].concat()).to_be_bytes());
    out
}

/// The chunks of a PNG after its signature: (start, end) of each whole chunk and its type.
fn png_chunks(png: &[u8]) -> Vec<(usize, usize, [u8; 4])> {
    let mut out = Vec::new();
    let mut pos = 8;
    while pos + 12 <= png.len() {
        let len = u32::from_be_bytes(png[pos..pos + 4].try_into().unwrap()) as usize;
        let kind: [u8; 4] = png[pos + 4..pos + 8].try_into().unwrap();
        out.push((pos, pos + 12 + len, kind));
        pos += 12 + len;
    }
    out
}

#[test]
fn png_ancillary_chunks_do_not_change_the_pixels() {
    let mut rng = XorShift::seeded(1015);
    for (name, png) in corpus("image").into_iter().filter(|(n, _)| n.ends_with(".png")) {
        let want = fuzz::image(&png).unwrap();
        let chunks = png_chunks(&png);
        let ihdr_end = chunks[0].1;
        let mut variants = Vec::new();
        for _ in 0..20 {
            // A private ancillary chunk (lower-case first letter) of random bytes after IHDR.
            let data: Vec<u8> = (0..rng.next_u64() % 300).map(|_| rng.next_u64() as u8).collect();
            let chunk = png_chunk(b"ruSt", &data);
            variants.push([&png[..ihdr_end], &chunk[..], &png[ihdr_end..]].concat());
        }
        for &(start, end, kind) in chunks.iter().filter(|c| &c.2 == b"tEXt") {
            // The text rewritten (any length), and the chunk removed.
            for _ in 0..20 {
                let text: Vec<u8> = (0..1 + rng.next_u64() % 200).map(|_| b'a' + (rng.next_u64() % 26) as u8).collect();
                let chunk = png_chunk(&kind, &[&b"Comment\0"[..], &text].concat());
                variants.push([&png[..start], &chunk[..], &png[end..]].concat());
            }
            variants.push([&png[..start], &png[end..]].concat());
        }
        for (i, v) in variants.iter().enumerate() {
            assert_eq!(check("image", &format!("{name} ancillary {i}"), v).as_ref(), Ok(&want), "{name} variant {i}");
        }
    }
}

/// The segments of a JPEG up to its first SOS: (start, end, marker).
fn jpeg_segments(jpg: &[u8]) -> Vec<(usize, usize, u8)> {
    let mut out = Vec::new();
    let mut pos = 2;
    while pos + 4 <= jpg.len() && jpg[pos] == 0xFF {
        let marker = jpg[pos + 1];
        let len = u16::from_be_bytes([jpg[pos + 2], jpg[pos + 3]]) as usize;
        out.push((pos, pos + 2 + len, marker));
        if marker == 0xDA {
            break;
        }
        pos += 2 + len;
    }
    out
}

fn segment(marker: u8, data: &[u8]) -> Vec<u8> {
    let mut out = vec![0xFF, marker];
    out.extend(((data.len() + 2) as u16).to_be_bytes());
    out.extend(data);
    out
}

#[test]
fn jpeg_app_and_comment_segments_do_not_change_the_pixels() {
    let mut rng = XorShift::seeded(2015);
    for (name, jpg) in corpus("jpeg").into_iter().filter(|(n, _)| n.starts_with("seed-")) {
        let want = fuzz::jpeg(&jpg).unwrap();
        let segments = jpeg_segments(&jpg);
        let sos = segments.iter().find(|s| s.2 == 0xDA).expect("a scan").0;
        let mut variants = Vec::new();
        for _ in 0..20 {
            // APP5..APP13 (nobody's: not JFIF, Exif, ICC or Adobe) of random bytes, after SOI or
            // just before the scan; and a comment.
            let data: Vec<u8> = (0..rng.next_u64() % 400).map(|_| rng.next_u64() as u8).collect();
            let app = segment(0xE5 + (rng.next_u64() % 9) as u8, &data);
            variants.push([&jpg[..2], &app[..], &jpg[2..]].concat());
            variants.push([&jpg[..sos], &segment(0xFE, &data)[..], &jpg[sos..]].concat());
        }
        for &(start, end, _) in segments.iter().filter(|s| s.2 == 0xFE) {
            // The existing comment's bytes changed, same length.
            let mut v = jpg.clone();
            for b in &mut v[start + 4..end] {
                *b = rng.next_u64() as u8;
            }
            variants.push(v);
        }
        for (i, v) in variants.iter().enumerate() {
            assert_eq!(check("jpeg", &format!("{name} segment {i}"), v).as_ref(), Ok(&want), "{name} variant {i}");
        }
    }
}
