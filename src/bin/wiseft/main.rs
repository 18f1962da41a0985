//! `wiseft`: the command line over the library. It parses arguments, calls the library and prints.

mod checkpoints;
mod commands;
mod embedded;
mod layerwise;
mod progress;
mod recipes;
mod sweep;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use wiseft::checkpoint::provenance::OutputDtype;
use wiseft::engine::Device;
use wiseft::merge::Alpha;
use wiseft::session::TemplateSet;

#[derive(Parser)]
#[command(name = "wiseft", version, about = "WiSE-FT: merge a zero-shot and a fine-tuned CLIP and classify images zero-shot")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Classify images zero-shot with the model merged at α.
    Classify(ClassifyArgs),
    /// Write the merged checkpoint θ(α) = (1−α)·θ_zero-shot + α·θ_fine-tuned as safetensors, with
    /// its provenance (recipe, sources with SHA-256, tool) in the header's metadata.
    Merge(MergeArgs),
    /// Print CLIP token ids (open_clip's tokenize, context 77).
    Tokenize(TokenizeArgs),
    /// Describe a checkpoint: layout, dtypes, parameters, config, what a merge with it would do, and
    /// how it was made when this tool merged it (recipe, sources with SHA-256, tool, dtype).
    Inspect(InspectArgs),
    /// Time a ViT-B/32-shaped pair with random weights on each back end.
    Bench(BenchArgs),
    /// Sweep α over labelled photo folders (DIR/<label>/*.png) and say what each rule for choosing
    /// α picks: α = 0.5, best on the task set, lowest entropy, agreement-on-the-line, the oracle.
    Sweep(SweepArgs),
}

#[derive(Args)]
pub struct ClassifyArgs {
    /// Zero-shot CLIPModel: a folder, a weights file, an http(s) URL or a hub id (openai/clip-vit-base-patch32).
    /// Without it, the built-in generated-world pair (www/models/toy) and its labels are used.
    #[arg(long, value_name = "PATH")]
    pub zero_shot: Option<String>,
    /// Fine-tuned checkpoint of the same architecture (may be vision-only); repeat to merge
    /// several with --method.
    #[arg(long, value_name = "PATH")]
    pub fine_tuned: Vec<String>,
    /// Mixing weight α in [0, 1]; 0.5 by default when --fine-tuned is given.
    #[arg(long)]
    pub alpha: Option<Alpha>,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Comma-separated class names.
    #[arg(long, conflicts_with = "labels_file")]
    pub labels: Option<String>,
    /// A file with one class name per line.
    #[arg(long, value_name = "F")]
    pub labels_file: Option<std::path::PathBuf>,
    /// A prompt template with {} for the class name; repeat for an ensemble. Default "a photo of a {}.".
    #[arg(long = "template", value_name = "T")]
    pub template: Vec<String>,
    /// A built-in template set: single or imagenet80 (CLIP's 80 ImageNet templates).
    #[arg(long, value_name = "SET")]
    pub templates: Option<TemplateSet>,
    /// auto (the GPU on a hardware adapter, else the CPU: a software rasteriser is slower than the
    /// CPU), cpu or gpu.
    #[arg(long, default_value = "auto", value_name = "auto|cpu|gpu")]
    pub device: Device,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Images to classify (PNG, JPEG, GIF, BMP, WebP).
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<std::path::PathBuf>,
}

/// A merge recipe, as a file or as flags.
#[derive(Args, Clone)]
pub struct RecipeArgs {
    /// A recipe JSON file ({"version":1,"method":"ties","fine_tuned":[…],"lambda":0.3,"top_k":20});
    /// --zero-shot / --fine-tuned override its checkpoints.
    #[arg(long, value_name = "FILE")]
    pub recipe: Option<std::path::PathBuf>,
    /// wise-ft (one fine-tune, --alpha), task-arithmetic (--lambda), average, ties (--lambda, --top-k).
    #[arg(long, value_name = "METHOD")]
    pub method: Option<String>,
    /// Task arithmetic's and TIES's λ (default 0.3; above 1 extrapolates).
    #[arg(long, value_name = "L", allow_negative_numbers = true)]
    pub lambda: Option<f64>,
    /// TIES's k: the percentage of each task vector's entries kept (default 20).
    #[arg(long, value_name = "PERCENT")]
    pub top_k: Option<f64>,
}

#[derive(Args)]
pub struct MergeArgs {
    #[arg(long, value_name = "PATH")]
    pub zero_shot: Option<String>,
    /// Repeat to merge several with --method.
    #[arg(long, value_name = "PATH")]
    pub fine_tuned: Vec<String>,
    #[arg(long)]
    pub alpha: Option<Alpha>,
    #[command(flatten)]
    pub recipe: RecipeArgs,
    /// Where to write. A path ending in .safetensors is that file, with config.json (and
    /// preprocessor_config.json when the zero-shot model has one) beside it. Any other path — a
    /// folder, existing or not, e.g. `merged/` — becomes a folder that transformers'
    /// from_pretrained loads as it is: model.safetensors, config.json, preprocessor_config.json
    /// and a model card (README.md). One flag, told apart by the name, since a merged model is
    /// either one file for this tool or a folder for transformers.
    #[arg(long, value_name = "FILE|DIR")]
    pub output: std::path::PathBuf,
    /// The floats' type in the output: f32 (exactly the merged values), f16 or bf16 (half the
    /// size, rounded to nearest even as torch's .half() / .bfloat16()). Integers stay i64.
    #[arg(long, default_value = "f32", value_name = "f32|f16|bf16")]
    pub dtype: OutputDtype,
}

#[derive(Args)]
pub struct TokenizeArgs {
    #[arg(long)]
    pub json: bool,
    #[arg(required = true)]
    pub text: Vec<String>,
}

#[derive(Args)]
pub struct BenchArgs {
    /// Back ends to time: cpu, gpu, or all that are available.
    #[arg(long, default_value = "all")]
    pub device: String,
    /// Timed repetitions of each step (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    #[arg(long)]
    pub json: bool,
    /// Time merge recipes instead: a coefficient change with each number of fine-tunes.
    #[arg(long)]
    pub recipes: bool,
    /// With --recipes: the numbers of fine-tunes.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8")]
    pub fine_tunes: Vec<usize>,
    /// With --recipes: task-arithmetic (N inputs per change) or ties (as the page loads it: the N
    /// fine-tunes' own vectors and the merged one; a change reads the merged one; k's work at load).
    #[arg(long, default_value = "task-arithmetic")]
    pub method: String,
}

#[derive(Args)]
pub struct SweepArgs {
    /// Zero-shot CLIPModel (as for classify); without it, the built-in generated-world pair.
    #[arg(long, value_name = "PATH")]
    pub zero_shot: Option<String>,
    /// Fine-tuned checkpoint (needed with --zero-shot).
    #[arg(long, value_name = "PATH")]
    pub fine_tuned: Option<String>,
    /// Comma-separated class names; default: the built-in pair's, or the folder names.
    #[arg(long, conflicts_with = "labels_file")]
    pub labels: Option<String>,
    #[arg(long, value_name = "F")]
    pub labels_file: Option<std::path::PathBuf>,
    #[arg(long = "template", value_name = "T")]
    pub template: Vec<String>,
    #[arg(long, value_name = "SET")]
    pub templates: Option<TemplateSet>,
    /// The fine-tuning task's photos, one folder per label: DIR/<label>/*.png.
    #[arg(long, value_name = "DIR")]
    pub task: std::path::PathBuf,
    /// The shifted photos: label folders, or photos directly in DIR (no labels).
    #[arg(long, value_name = "DIR")]
    pub shift: Option<std::path::PathBuf>,
    /// Photos without labels for the label-free rules (folder names ignored).
    #[arg(long, value_name = "DIR")]
    pub unlabeled: Option<std::path::PathBuf>,
    /// start:end:step or a comma-separated list.
    #[arg(long, default_value = "0:1:0.05")]
    pub alphas: String,
    #[arg(long, default_value = "auto", value_name = "auto|cpu|gpu")]
    pub device: Device,
    /// Print one JSON object (sweep points and rules).
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    /// Print the sweep's CSV (the page's export).
    #[arg(long)]
    pub csv: bool,
    /// Then search a per-depth α schedule that minimises the entropy on the label-free set
    /// (forward passes only; says how long before starting).
    #[arg(long)]
    pub layerwise: bool,
    /// Knots of that schedule over depth (2 or more).
    #[arg(long, default_value_t = 3, requires = "layerwise")]
    pub knots: usize,
}

#[derive(Args)]
pub struct InspectArgs {
    /// Checkpoints to describe.
    #[arg(required = true)]
    pub path: Vec<String>,
    /// Compare each with this zero-shot model: same shapes? which tensors change? how far?
    #[arg(long, value_name = "PATH")]
    pub zero_shot: Option<String>,
    /// With --zero-shot: list every changed tensor (else the first few).
    #[arg(long)]
    pub all: bool,
}

/// Mesa's Vulkan drivers print "XDG_RUNTIME_DIR is invalid or not set" when they look for a display
/// on a headless machine; a private runtime directory keeps the CLI's stderr to what it says.
fn quiet_headless_vulkan() {
    #[cfg(target_os = "linux")]
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        use std::os::unix::fs::DirBuilderExt;
        let dir = std::env::temp_dir().join("wiseft-runtime");
        let made = std::fs::DirBuilder::new().mode(0o700).create(&dir);
        if made.is_ok() || dir.is_dir() {
            // Before any thread exists.
            std::env::set_var("XDG_RUNTIME_DIR", dir);
        }
    }
}

fn main() -> ExitCode {
    quiet_headless_vulkan();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Classify(args) => commands::classify(args),
        Command::Merge(args) => commands::merge(args),
        Command::Tokenize(args) => commands::tokenize(args),
        Command::Inspect(args) => commands::inspect(args),
        Command::Bench(args) => commands::bench(args),
        Command::Sweep(args) => sweep::sweep(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
