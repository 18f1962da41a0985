//! What a session refuses, with a message that names the limit: photos kept, their bytes, and
//! prompts (labels × templates) encoded at once. Big but allowed prompt sets are encoded in
//! chunks with an estimate, progress and cancel ([`super::classes`]).

/// Photos one session keeps (their files stay in memory so that a new model can preprocess them
/// again; in the browser that memory is WebAssembly's, 4 GB at most, shared with the models).
pub const MAX_PHOTOS: usize = 500;

/// Bytes of photo files one session keeps, all photos together.
pub const MAX_PHOTO_BYTES: u64 = 1 << 30;

/// Prompts (labels × templates) one label set may need: ImageNet's 1,000 classes × CLIP's 80
/// templates (80,000) fit.
pub const MAX_PROMPTS: usize = 100_000;

/// Prompt sets larger than this are encoded this many prompts at a time, with a progress event
/// and a chance to cancel after each chunk.
pub const PROMPT_CHUNK: usize = 256;

/// "1,234,567".
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Why a photo cannot be added to a session holding `count` photos of `bytes` in all, or `None`.
pub fn photo_refused(count: usize, bytes: u64, new_bytes: u64) -> Option<String> {
    if count >= MAX_PHOTOS {
        return Some(format!(
            "not added: this session already holds {count} photos, the limit is {MAX_PHOTOS} photos per session (remove some first)"
        ));
    }
    if bytes + new_bytes > MAX_PHOTO_BYTES {
        return Some(format!(
            "not added: the session's photos would take {} MB, over the limit of {} MB of photo files per session (remove some first)",
            (bytes + new_bytes) / 1_000_000,
            MAX_PHOTO_BYTES / 1_000_000
        ));
    }
    None
}

/// Why `labels × templates` prompts are too many, or `None`.
pub fn prompts_refused(labels: usize, templates: usize) -> Option<String> {
    let n = labels * templates;
    (n > MAX_PROMPTS).then(|| {
        format!(
            "{} labels × {} templates = {} prompts, over the limit of {} prompts per label set: use fewer labels or fewer templates",
            thousands(labels as u64),
            thousands(templates as u64),
            thousands(n as u64),
            thousands(MAX_PROMPTS as u64)
        )
    })
}

/// How much memory reading a checkpoint file of `file_bytes` takes on the host at least: the file's
/// bytes and its tensors as f32 (the same size for an f32 file, twice for f16).
pub fn checkpoint_host_bytes(file_bytes: u64) -> u64 {
    file_bytes.saturating_mul(2)
}

/// Why the checkpoint `name` (a weights file of `file_bytes`) cannot be read into `available`
/// bytes of memory, or `None`.
pub fn checkpoint_refused(name: &str, file_bytes: u64, available: u64) -> Option<String> {
    let need = checkpoint_host_bytes(file_bytes);
    (need > available).then(|| {
        format!(
            "{name}: the weights file is {} MB and reading it takes at least {} MB of memory (its bytes and its tensors as f32), \
             but only {} MB are available (MemAvailable): close other programs or use a smaller checkpoint",
            file_bytes / 1_000_000,
            need / 1_000_000,
            available / 1_000_000
        )
    })
}

/// The memory a page's engine works in: WebAssembly's 4 GB, counted as the page's memory note
/// counts it (4096 MB; the 32-bit address space is 4295 MB, the rest is the allocator's slack, the
/// photos' files and the class embeddings).
pub const WASM_MEMORY_BYTES: u64 = 4_096_000_000;

/// The bytes θ₀ and a recipe's merge inputs may take in the page (the limit of
/// [`crate::merge::OwnVectors::KeptWithin`]): [`WASM_MEMORY_BYTES`] less the CPU engine's own
/// copy of the towers it builds from them, two thirds of θ₀ — the page's measured peaks are θ₀, that
/// copy and the inputs (ViT-B/32: 1013 MB + 353 MB per task vector, docs/BENCHMARKS.md). The GPU
/// path counts it too, because a GPU that fails falls back to the CPU engine. Eight ViT-B/32
/// fine-tunes' task vectors fit (605 + 8 × 351 MB of 3692 MB); with TIES's merged vector beside
/// them (605 + 9 × 351 MB) they do not, seven do.
pub fn recipe_inputs_limit(zero_shot_bytes: u64) -> u64 {
    WASM_MEMORY_BYTES.saturating_sub(zero_shot_bytes / 3 * 2)
}

/// A download this large is large for a page on the CPU engine (a phone's): the page says what it
/// will need before anything is downloaded ([`MemoryEstimate::worth_saying`]).
pub const LARGE_DOWNLOAD_BYTES: u64 = 100_000_000;

/// What a load will take in the page, told from the checkpoints' file sizes before any is
/// downloaded (the page's memory note; `www/models.js` only words it). The measure is the load's:
/// θ₀, the CPU engine's copy of the towers (two thirds of θ₀, [`recipe_inputs_limit`]) and the
/// merge inputs — the fine-tunes' files, as large as their task vectors for a file in f32, and
/// for TIES its merged vector, about the largest fine-tune's, where the fine-tunes' own are kept.
/// A pair and a recipe of N fine-tunes alike peak at the download plus that copy (measured,
/// docs/BENCHMARKS.md: 1349 MB for the ViT-B/32 pair, 3839 MB for 8 vision fine-tunes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct MemoryEstimate {
    /// Every checkpoint's file.
    pub download_bytes: u64,
    /// The page's memory at its peak on the CPU engine, as the load will be made.
    pub memory_bytes: u64,
    /// Whether each fine-tune gets a column of its own: false only for TIES whose fine-tunes' own
    /// task vectors do not fit beside the merged one (the load then drops them and says so).
    pub own_columns: bool,
    /// The peak with TIES's fine-tunes' own vectors kept ([`Self::memory_bytes`] when they are,
    /// or the method needs none): what not keeping them saves.
    pub with_own_columns_bytes: u64,
    /// Whether [`Self::memory_bytes`] fits WebAssembly's memory ([`WASM_MEMORY_BYTES`]).
    pub fits: bool,
    /// Whether the page should say it before the download: the CPU engine (the GPU's holds the
    /// weights on the GPU) and a large download ([`LARGE_DOWNLOAD_BYTES`]).
    pub worth_saying: bool,
}

/// [`MemoryEstimate`] of loading θ₀'s file of `zero_shot_bytes` with fine-tunes' files of
/// `fine_tune_bytes`, merged by `method` (a WiSE-FT pair included), on the CPU engine or not.
pub fn memory_estimate(zero_shot_bytes: u64, fine_tune_bytes: &[u64], method: crate::merge::Method, cpu: bool) -> MemoryEstimate {
    let fine_tunes: u64 = fine_tune_bytes.iter().sum();
    let download_bytes = zero_shot_bytes + fine_tunes;
    let peak = download_bytes + zero_shot_bytes / 3 * 2;
    // TIES's merged vector beside the fine-tunes' own, kept within the limit the load keeps them
    // in (merge::OwnVectors::KeptWithin): θ₀ and every merge input.
    let merged = match method {
        crate::merge::Method::Ties => fine_tune_bytes.iter().copied().max().unwrap_or(0),
        _ => 0,
    };
    let own_columns = merged == 0 || zero_shot_bytes + fine_tunes + merged <= recipe_inputs_limit(zero_shot_bytes);
    let memory_bytes = if own_columns { peak + merged } else { peak };
    MemoryEstimate {
        download_bytes,
        memory_bytes,
        own_columns,
        with_own_columns_bytes: peak + merged,
        fits: memory_bytes <= WASM_MEMORY_BYTES,
        worth_saying: cpu && download_bytes >= LARGE_DOWNLOAD_BYTES,
    }
}

/// The memory the system says is available to a new allocation (Linux's `MemAvailable`), or
/// `None` where it does not say.
pub fn host_memory_available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(80_000), "80,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn imagenet_fits_and_more_is_refused_by_name() {
        assert_eq!(prompts_refused(1000, 80), None);
        let m = prompts_refused(1300, 80).unwrap();
        assert!(m.contains("104,000 prompts") && m.contains("limit of 100,000"), "{m}");
    }

    #[test]
    fn a_checkpoint_larger_than_memory_is_refused_with_the_sizes() {
        assert_eq!(checkpoint_refused("a.safetensors", 600_000_000, 2_000_000_000), None);
        let m = checkpoint_refused("b.safetensors", 1_700_000_000, 2_000_000_000).unwrap();
        assert!(m.contains("b.safetensors") && m.contains("1700 MB") && m.contains("3400 MB") && m.contains("2000 MB are available"), "{m}");
    }

    #[test]
    fn eight_vit_b32_task_vectors_fit_the_page_and_ties_merged_vector_beside_them_does_not() {
        // ViT-B/32 in f32: θ₀ 605 MB, a vision-only task vector 351 MB (docs/BENCHMARKS.md).
        let (theta0, tau) = (605_000_000u64, 351_000_000u64);
        let limit = recipe_inputs_limit(theta0);
        assert_eq!(limit / 1_000_000, 3692);
        assert!(theta0 + 8 * tau <= limit, "task arithmetic over 8");
        assert!(theta0 + 9 * tau > limit, "TIES over 8 with its merged vector");
        assert!(theta0 + 8 * tau <= limit, "TIES over 7 with its merged vector");
    }

    #[test]
    fn the_pages_memory_estimate_is_the_loads_rule() {
        use crate::merge::Method;
        const MB: u64 = 1_000_000;
        // The ViT-B/32 pair: 605 + 605 MB, and the CPU engine's copy of the towers.
        let pair = memory_estimate(605 * MB, &[605 * MB], Method::WiseFt, true);
        assert_eq!((pair.download_bytes / MB, pair.memory_bytes / MB), (1210, 1613));
        assert!(pair.own_columns && pair.fits && pair.worth_saying);
        assert_eq!(pair.with_own_columns_bytes, pair.memory_bytes);
        // Eight vision fine-tunes of 351 MB (the tasks8 presets): task arithmetic fits; TIES's merged
        // vector beside their own would not (the load's limit, recipe_inputs_limit), so it drops them.
        let eight = [351 * MB; 8];
        let ta = memory_estimate(605 * MB, &eight, Method::TaskArithmetic, true);
        assert_eq!((ta.download_bytes / MB, ta.memory_bytes / MB), (3413, 3816));
        assert!(ta.own_columns && ta.fits);
        let ties = memory_estimate(605 * MB, &eight, Method::Ties, true);
        assert_eq!((ties.memory_bytes / MB, ties.with_own_columns_bytes / MB), (3816, 4167));
        assert!(!ties.own_columns && ties.fits);
        assert!(605 * MB + 9 * 351 * MB > recipe_inputs_limit(605 * MB), "the same verdict as the load's");
        // Seven: their own vectors and the merged one fit, and count.
        let seven = memory_estimate(605 * MB, &eight[..7], Method::Ties, true);
        assert!(seven.own_columns && seven.fits);
        assert_eq!(seven.memory_bytes / MB, 3062 + 403 + 351);
        // Past WebAssembly's 4 GB, with or without the columns.
        let big = memory_estimate(605 * MB, &[351 * MB; 10], Method::Average, true);
        assert!(big.own_columns && !big.fits);
        // Said only on the CPU engine and for a large download.
        assert!(!memory_estimate(605 * MB, &eight, Method::Ties, false).worth_saying);
        assert!(!memory_estimate(4_200_000, &[900_000], Method::WiseFt, true).worth_saying);
        // θ₀ alone.
        assert!(memory_estimate(605 * MB, &[], Method::Ties, true).own_columns);
    }

    #[test]
    fn photos_are_refused_past_the_count_or_the_bytes() {
        assert_eq!(photo_refused(MAX_PHOTOS - 1, 0, 10), None);
        assert!(photo_refused(MAX_PHOTOS, 0, 10).unwrap().contains("500 photos per session"));
        assert!(photo_refused(1, MAX_PHOTO_BYTES - 5, 10).unwrap().contains("MB of photo files per session"));
    }
}
