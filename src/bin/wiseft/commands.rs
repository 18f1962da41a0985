//! One function per subcommand: library calls and printing, nothing else.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;
use wiseft::checkpoint::provenance::Provenance;
use wiseft::checkpoint::Checkpoint;
use wiseft::clip::config::ConfigSource;
use wiseft::clip::head::argmax;
use wiseft::clip::preprocess;
use wiseft::clip::tokenizer::{Tokenizer, CONTEXT_LENGTH};
use wiseft::engine::Device;
use wiseft::error::{Error, Result};
use wiseft::merge::{Alpha, ModelPair};
use wiseft::pipeline::WiseFt;
use wiseft::session::{clean_labels, export, resolve_templates};

use crate::checkpoints::{load, load_file, load_pair, load_recorded, print_report};
use crate::{BenchArgs, ClassifyArgs, InspectArgs, MergeArgs, TokenizeArgs};

pub fn labels_of(labels: &Option<String>, labels_file: &Option<PathBuf>) -> Result<Vec<String>> {
    let raw = match (labels, labels_file) {
        (Some(l), _) => l.split(',').map(str::to_string).collect::<Vec<_>>(),
        (None, Some(f)) => std::fs::read_to_string(f).map_err(|e| Error::io(f, e))?.lines().map(str::to_string).collect(),
        (None, None) => Vec::new(),
    };
    Ok(clean_labels(raw))
}

fn labels(args: &ClassifyArgs) -> Result<Vec<String>> {
    let labels = labels_of(&args.labels, &args.labels_file)?;
    if labels.is_empty() {
        return Err(Error::Invalid("no labels: give --labels \"a,b,c\" or --labels-file with one label per line".into()));
    }
    Ok(labels)
}

/// Photos read and classified at a time by `classify` (the GPU engine's largest image batch).
const IMAGE_BATCH: usize = 32;

pub fn classify(args: ClassifyArgs) -> Result<ExitCode> {
    let built_in = args.zero_shot.is_none() && args.recipe.recipe.is_none();
    let labels = if built_in && args.labels.is_none() && args.labels_file.is_none() {
        crate::embedded::labels()?
    } else {
        labels(&args)?
    };
    let templates = resolve_templates(args.templates, &args.template);

    let (mut wiseft, prep, setting) = if crate::recipes::wanted(&args.recipe, args.fine_tuned.len()) {
        crate::recipes::model(&args)?
    } else {
        two_model(&args)?
    };
    eprintln!("device: {} ({})", wiseft.engine().describe(), wiseft.reason());

    // A photo that cannot be read is reported and skipped; the others are still classified. Photos
    // are read, classified and printed a batch at a time, so that memory stays flat however many
    // there are (only the probabilities are kept, for --json).
    let mut failures = Vec::new();
    let mut results = Vec::new();
    for batch in args.images.chunks(IMAGE_BATCH) {
        let mut names = Vec::new();
        let mut images = Vec::new();
        for path in batch {
            let name = path.display().to_string();
            let result = std::fs::read(path)
                .map_err(|e| Error::io(path, e))
                .and_then(|bytes| preprocess::preprocess(&bytes, &name, &prep));
            match result {
                Ok(p) => {
                    names.push(name);
                    images.push(p);
                }
                Err(e) => failures.push((name, e.to_string())),
            }
        }
        let probs = pollster::block_on(wiseft.classify(&images, &labels, &templates))?;
        for (name, p) in names.into_iter().zip(probs) {
            if args.json {
                results.push(json!({"image": name, "probs": p, "top": labels[argmax(&p)]}));
                continue;
            }
            println!("{name}");
            let mut order: Vec<usize> = (0..labels.len()).collect();
            order.sort_by(|&a, &b| p[b].total_cmp(&p[a]));
            for &i in order.iter().take(5) {
                println!("  {:6.2}%  {}", p[i] * 100.0, labels[i]);
            }
        }
    }
    if args.json {
        results.extend(failures.iter().map(|(name, e)| json!({"image": name, "error": e})));
        let mut out = json!({"labels": labels, "results": results});
        out.as_object_mut().expect("an object").extend(setting.as_object().cloned().unwrap_or_default());
        println!("{out}");
    }
    for (name, e) in &failures {
        eprintln!("error: {name}: {e}");
    }
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::from(2) })
}

/// Today's model: the zero-shot checkpoint (or the built-in pair) and at most one fine-tune at α.
fn two_model(args: &ClassifyArgs) -> Result<(WiseFt, preprocess::PreprocessConfig, serde_json::Value)> {
    let (zero_shot, fine_tuned) = load_pair(args.zero_shot.as_deref(), args.fine_tuned.first().map(String::as_str))?;
    let alpha = match (&fine_tuned, args.alpha) {
        (Some(_), a) => a.unwrap_or(Alpha::HALF),
        (None, None) => Alpha::ZERO_SHOT,
        (None, Some(_)) => return Err(Error::Invalid("--alpha needs --fine-tuned".into())),
    };
    let pair = ModelPair::new(zero_shot, fine_tuned)?;
    if pair.fine_tuned.is_some() {
        print_report(&pair.plan.report);
    }
    let prep = pair.preprocess();
    let wiseft = pollster::block_on(WiseFt::new(pair, alpha, args.device))?;
    Ok((wiseft, prep, json!({"alpha": alpha})))
}

pub fn merge(args: MergeArgs) -> Result<ExitCode> {
    if crate::recipes::wanted(&args.recipe, args.fine_tuned.len()) {
        let (merged, zero_shot, provenance) = crate::recipes::merged(&args)?;
        return write_merged(&args.output, &merged, &zero_shot, &provenance);
    }
    let need = |flag: &str| Error::Invalid(format!("merge: {flag} is required (or give --recipe FILE)"));
    let zs_source = args.zero_shot.as_deref().ok_or_else(|| need("--zero-shot"))?;
    let ft_source = args.fine_tuned.first().ok_or_else(|| need("--fine-tuned"))?;
    let alpha = args.alpha.ok_or_else(|| need("--alpha"))?;
    let (zero_shot, fine_tuned, sources) = load_recorded(zs_source, std::slice::from_ref(ft_source))?;
    let fine_tuned = &fine_tuned[0];
    let plan = wiseft::merge::MergePlan::new(&zero_shot, Some(fine_tuned))?;
    print_report(&plan.report);
    let merged = plan.merge(&zero_shot, Some(fine_tuned), alpha)?;
    let provenance = export::provenance(&export::wise_ft(alpha), sources, args.dtype);
    write_merged(&args.output, &merged, &zero_shot, &provenance)
}

/// Whether `--output` names a folder for transformers rather than one .safetensors file (see
/// `MergeArgs::output`).
fn is_folder(output: &Path) -> bool {
    output.is_dir()
        || output.as_os_str().to_string_lossy().ends_with(['/', std::path::MAIN_SEPARATOR])
        || output.extension().is_none_or(|e| !e.eq_ignore_ascii_case("safetensors"))
}

/// The merged tensors as safetensors with their provenance, the zero-shot model's config beside
/// them; for a folder, also its preprocessing config (always) and a model card.
pub fn write_merged(
    output: &Path,
    merged: &std::collections::BTreeMap<String, wiseft::checkpoint::HostTensor>,
    zero_shot: &Checkpoint,
    provenance: &Provenance,
) -> Result<ExitCode> {
    let bytes = export::merged_bytes(merged, provenance)?;
    let folder = is_folder(output);
    let (dir, weights) = if folder {
        (output.to_path_buf(), output.join("model.safetensors"))
    } else {
        let dir = output.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        (dir.to_path_buf(), output.to_path_buf())
    };
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    std::fs::write(&weights, &bytes).map_err(|e| Error::io(&weights, e))?;
    eprintln!("wrote {} ({:.1} MB, {})", weights.display(), bytes.len() as f64 / 1e6, provenance.dtype);
    // The zero-shot configuration goes beside the weights so that transformers loads the result;
    // an inferred one is written out too.
    if zero_shot.config_json.is_none() {
        eprintln!("note: the zero-shot checkpoint has no config.json; writing the inferred configuration");
    }
    let preprocessor = match folder {
        true => Some(export::merged_preprocessor_json(zero_shot)),
        false => zero_shot.preprocessor_json.clone(),
    };
    let side = [
        ("config.json", Some(export::merged_config_json(zero_shot, provenance.dtype))),
        ("preprocessor_config.json", preprocessor),
        ("README.md", folder.then(|| provenance.model_card())),
    ];
    for (file, text) in side {
        if let Some(text) = text {
            let path = dir.join(file);
            std::fs::write(&path, text).map_err(|e| Error::io(&path, e))?;
            eprintln!("wrote {}", path.display());
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn tokenize(args: TokenizeArgs) -> Result<ExitCode> {
    let tokenizer = Tokenizer::shared();
    let rows: Vec<(String, Vec<u32>)> = args.text.iter().map(|t| (t.clone(), tokenizer.tokenize(t, CONTEXT_LENGTH))).collect();
    if args.json {
        let list: Vec<_> = rows.iter().map(|(t, ids)| json!({"text": t, "ids": ids})).collect();
        println!("{}", serde_json::Value::Array(list));
    } else {
        for (text, ids) in rows {
            let end = ids.iter().position(|&i| i == tokenizer.end_of_text()).map_or(ids.len(), |p| p + 1);
            let shown: Vec<String> = ids[..end].iter().map(|i| i.to_string()).collect();
            println!("{text:?}: {}", shown.join(" "));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn inspect(args: InspectArgs) -> Result<ExitCode> {
    let zero_shot = args.zero_shot.as_deref().map(load).transpose()?;
    for (i, path) in args.path.iter().enumerate() {
        if i > 0 {
            println!();
        }
        let (ckpt, weights) = load_file(path)?;
        describe(&ckpt);
        describe_provenance(crate::checkpoints::provenance_of(&weights)?.as_ref());
        if let Some(zs) = &zero_shot {
            crate::recipes::compare(zs, &ckpt, args.all)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// How a merged file was made, as its metadata says.
fn describe_provenance(provenance: Option<&Provenance>) {
    let Some(p) = provenance else {
        println!("provenance:  no provenance (not a merge written by wiseft)");
        return;
    };
    println!("provenance:  merged by {}, floats written as {}", p.tool, p.dtype);
    println!("  recipe:    {}", p.recipe);
    for s in &p.sources {
        println!("  {:<10} {} (sha256 {})", format!("{}:", s.role), s.name, s.sha256);
    }
}

fn describe(ckpt: &Checkpoint) {
    println!("file:        {}", ckpt.name);
    println!("format:      {:?}", ckpt.format);
    println!("layout:      {}", ckpt.layout.class_name());
    let dtypes: Vec<String> = ckpt.dtypes().iter().map(|(d, n)| format!("{d} ({n} tensors)")).collect();
    println!("dtypes:      {}", dtypes.join(", "));
    println!("tensors:     {}", ckpt.tensors.len());
    println!("parameters:  {} ({:.1} M)", ckpt.parameter_count(), ckpt.parameter_count() as f64 / 1e6);
    match &ckpt.config_source {
        ConfigSource::File(f) => println!("config:      {f}"),
        ConfigSource::Inferred { assumptions } => println!("config:      inferred from shapes; assumed {}", assumptions.join("; ")),
    }
    if let Some(v) = &ckpt.config.vision {
        let e = &v.encoder;
        println!(
            "vision:      {} px, patch {}, width {}, {} layers, {} heads, mlp {}, {}",
            v.image_size, v.patch_size, e.hidden_size, e.num_hidden_layers, e.num_attention_heads, e.intermediate_size, e.hidden_act.name()
        );
    }
    if let Some(t) = &ckpt.config.text {
        let e = &t.encoder;
        println!(
            "text:        vocab {}, context {}, width {}, {} layers, {} heads, mlp {}, {}",
            t.vocab_size, t.max_position_embeddings, e.hidden_size, e.num_hidden_layers, e.num_attention_heads, e.intermediate_size, e.hidden_act.name()
        );
    }
    if let Some(p) = ckpt.config.projection_dim {
        println!("projection:  {p}");
    }
    if let Some(s) = ckpt.logit_scale() {
        println!("logit_scale: {s} (temperature {:.2})", s.exp());
    }
    let count = |prefix: &str| ckpt.tensors.keys().filter(|n| n.starts_with(prefix)).count();
    let (vision, text) = (count("vision_model.") + count("visual_projection"), count("text_model.") + count("text_projection"));
    println!("as a zero-shot model: {}", if ckpt.config.vision.is_some() && ckpt.config.text.is_some() {
        "usable (both towers)".to_string()
    } else {
        format!("not usable alone ({} has one tower)", ckpt.layout.class_name())
    });
    println!(
        "as a fine-tuned model: a merge with a same-architecture CLIPModel would interpolate {vision} vision and {text} text tensors{}",
        match (vision, text) {
            (_, 0) => "; the text tower and anything else absent would be kept from the zero-shot model",
            (0, _) => "; the vision tower would be kept from the zero-shot model",
            _ => "",
        }
    );
    let known = vision + text + count("logit_scale");
    if known < ckpt.tensors.len() {
        println!("               {} other tensors (e.g. a classification head) would be reported as extra", ckpt.tensors.len() - known);
    }
}

pub fn bench(args: BenchArgs) -> Result<ExitCode> {
    let devices = match args.device.as_str() {
        "cpu" => vec![Device::Cpu],
        "gpu" => vec![Device::Gpu],
        "all" => match wiseft::engine::gpu::probe_blocking() {
            Some(_) => vec![Device::Cpu, Device::Gpu],
            None => {
                eprintln!("bench: no GPU adapter found; timing the CPU only");
                vec![Device::Cpu]
            }
        },
        other => return Err(Error::Invalid(format!("--device {other}: cpu, gpu or all"))),
    };
    if args.recipes {
        return crate::recipes::bench(&args, &devices);
    }
    let mut reports = Vec::new();
    for device in devices {
        eprintln!("bench: {device:?}: random ViT-B/32 pair, {} runs per step …", args.runs.max(1));
        let report = pollster::block_on(wiseft::bench::run(device, args.runs.max(1)))?;
        if !args.json {
            println!("{}", report.backend);
            println!("  checkpoints        {:8.1} MB, parsed at {:.0} MB/s", report.checkpoint_mb, report.parse_mb_per_s);
            println!("  load (merge+setup) {:8.3} s", report.load_s);
            println!("  merge (α change)   {:8.3} s", report.merge_s);
            println!("  image, batch 1     {:8.3} s", report.image_batch1_s);
            println!("  image, batch 8     {:8.3} s  ({:.1} GFLOP/s)", report.image_batch8_s, report.image_gflops_per_s);
            println!("  text, 10×80 prompts{:8.3} s  ({:.1} GFLOP/s)", report.text_800_prompts_s, report.text_gflops_per_s);
            if let Some(mb) = report.peak_memory_mb {
                println!("  peak memory        {mb:8.0} MB (process, so far)");
            }
        }
        reports.push(report);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&reports).expect("serialisable"));
    }
    Ok(ExitCode::SUCCESS)
}
