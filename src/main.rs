//! The `fer` command line. Arguments are turned into validated library configs
//! here; nothing below this file sees clap types.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use fer::batch::{self, BatchConfig, OutputFormat};
use fer::dataset::{self, DataFilter};
use fer::metrics::Report;
use fer::model::mlp::MlpParams;
use fer::model::Model;
use fer::pipeline::PipelineConfig;
use fer::train::{self, FitOptions, LabelledRows, PipelinePool};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

/// The shipped default model, relative to the repository.
const DEFAULT_MODEL: &str = "models/fer-default.safetensors";

#[derive(Parser)]
#[command(name = "fer", version, about = "Facial expression recognition: every face in images and folders, trained and evaluated on your own data.")]
#[command(long_about = "Facial expression recognition with a staged pipeline: decode -> Gaussian denoise -> Haar face and eye detection -> alignment -> CLAHE of the face -> 21 fiducial points (Sobel + Shi-Tomasi) -> scale-free distances + HOG -> MLP.\n\nRows go to stdout (or --out), logs and progress to stderr. Set RUST_LOG=debug for more logging.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read the expression of every face in files and folders (recursive), one row per face.
    Batch(BatchArgs),
    /// Train a model on labelled folders or manifests and save it as one bundle.
    Train(TrainArgs),
    /// Evaluate a model on labelled data, or cross-validate training with --cv.
    Eval(EvalArgs),
    /// Time every stage on your images: per-stage p50/p95/max, throughput per thread count, bare Haar reference.
    Bench(BenchArgs),
}

#[derive(Args)]
struct BenchArgs {
    /// Image files and folders (searched recursively), decoded once before timing.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Model bundle (classification is part of the pipeline timed).
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: PathBuf,
    /// Thread counts to measure throughput with, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
    /// Passes over the images for each measurement.
    #[arg(long, default_value_t = 3)]
    repeat: usize,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    detect: DetectArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Csv,
    Jsonl,
}

#[derive(Args)]
struct BatchArgs {
    /// Image files and folders; folders are searched recursively for image files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Model bundle.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// Write rows to this file (atomically, at the end) instead of stdout.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Keep the rows of an interrupted run (OUT.partial or OUT) and skip the files they cover.
    #[arg(long, requires = "out")]
    resume: bool,
    /// Write each image with boxes, points and labels drawn into this folder.
    #[arg(long, value_name = "DIR")]
    annotate: Option<PathBuf>,
    /// Add the 21 fiducial points (image coordinates) to each row.
    #[arg(long)]
    landmarks: bool,
    #[command(flatten)]
    detect: DetectArgs,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

/// Detection options; for `batch` and `eval` they override the model's.
#[derive(Args, Clone)]
struct DetectArgs {
    /// Treat each whole image as one face (pre-cropped faces such as CK+48 or FER2013).
    #[arg(long)]
    no_detect: bool,
    /// Smallest face side in pixels.
    #[arg(long)]
    min_face: Option<i32>,
    /// Largest face side in pixels (0: no limit).
    #[arg(long)]
    max_face: Option<i32>,
    /// Haar pyramid scale step.
    #[arg(long)]
    scale_factor: Option<f64>,
    /// Haar neighbours needed to keep a face.
    #[arg(long)]
    min_neighbors: Option<i32>,
    /// Detect on a copy downscaled to at most this many pixels on its longer side (0: full size).
    #[arg(long)]
    detect_max_side: Option<i32>,
    /// Do not look for eyes; align faces from their boxes.
    #[arg(long)]
    no_eyes: bool,
    /// Refuse images with more pixels than this (checked from the header).
    #[arg(long)]
    max_pixels: Option<u64>,
}

impl DetectArgs {
    fn apply(&self, cfg: &mut PipelineConfig) {
        let d = &mut cfg.detect;
        // Per run, not per model: a model trained on pre-cropped faces reads full frames too.
        d.whole_image = self.no_detect;
        d.eyes = !self.no_eyes;
        if let Some(v) = self.min_face {
            d.min_size = v;
        }
        if let Some(v) = self.max_face {
            d.max_size = v;
        }
        if let Some(v) = self.scale_factor {
            d.scale_factor = v;
        }
        if let Some(v) = self.min_neighbors {
            d.min_neighbors = v;
        }
        if let Some(v) = self.detect_max_side {
            d.max_side = v;
        }
        if let Some(v) = self.max_pixels {
            cfg.decode.max_pixels = v;
        }
    }
}

/// Stage options fixed at training time and stored in the model.
#[derive(Args, Clone)]
struct StageArgs {
    /// Gaussian kernel side (odd; 1 disables denoising).
    #[arg(long, default_value_t = 3)]
    blur_kernel: i32,
    /// Gaussian sigma (0: from the kernel).
    #[arg(long, default_value_t = 0.0)]
    blur_sigma: f64,
    /// CLAHE clip limit (0 disables CLAHE).
    #[arg(long, default_value_t = 2.0)]
    clahe_clip: f64,
    /// CLAHE tiles per side.
    #[arg(long, default_value_t = 8)]
    clahe_grid: i32,
    /// Side of the aligned face crop in pixels.
    #[arg(long, default_value_t = 96)]
    crop_size: i32,
    /// Geometric features only (no HOG appearance features).
    #[arg(long)]
    no_hog: bool,
    /// HOG cell side in pixels (must divide the crop size).
    #[arg(long, default_value_t = 12)]
    hog_cell: i32,
}

impl StageArgs {
    fn config(&self, detect: &DetectArgs) -> PipelineConfig {
        let mut cfg = PipelineConfig::default();
        cfg.denoise.kernel = self.blur_kernel;
        cfg.denoise.sigma = self.blur_sigma;
        cfg.clahe.clip_limit = self.clahe_clip;
        cfg.clahe.grid = self.clahe_grid;
        cfg.align.size = self.crop_size;
        cfg.features.hog = !self.no_hog;
        cfg.features.hog_cell = self.hog_cell;
        detect.apply(&mut cfg);
        cfg
    }
}

#[derive(Args, Clone)]
struct MlpArgs {
    /// Hidden layer sizes, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "256")]
    hidden: Vec<usize>,
    /// Dropout probability.
    #[arg(long, default_value_t = 0.5)]
    dropout: f32,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 1e-3)]
    lr: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 1e-2)]
    weight_decay: f64,
    /// Maximum epochs.
    #[arg(long, default_value_t = 80)]
    epochs: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Early-stopping patience in epochs.
    #[arg(long, default_value_t = 12)]
    patience: usize,
    /// Share of the training data (whole subjects when known) held out for early stopping.
    #[arg(long, default_value_t = 0.1)]
    val_fraction: f32,
    /// Plain (not class-balanced) cross-entropy.
    #[arg(long)]
    no_class_balance: bool,
    /// Random seed.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// Do not add left-right mirrored copies of the training images.
    #[arg(long)]
    no_mirror: bool,
}

impl MlpArgs {
    fn params(&self) -> MlpParams {
        MlpParams {
            hidden: self.hidden.clone(),
            dropout: self.dropout,
            learning_rate: self.lr,
            weight_decay: self.weight_decay,
            epochs: self.epochs,
            batch_size: self.batch_size,
            patience: self.patience,
            class_balanced: !self.no_class_balance,
            seed: self.seed,
        }
    }
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Folder-per-class datasets or manifest CSVs (like ../shared/data/MANIFEST.csv); repeatable.
    #[arg(long, required = true, num_args = 1..)]
    data: Vec<PathBuf>,
    /// Manifest rows: keep only these datasets (comma separated).
    #[arg(long, value_delimiter = ',')]
    dataset: Vec<String>,
    /// Manifest rows: keep only these splits (comma separated), e.g. Training or PrivateTest.
    #[arg(long, value_delimiter = ',')]
    split: Vec<String>,
    /// Keep only samples of these classes (comma separated); eval also predicts among them only.
    #[arg(long, value_delimiter = ',')]
    classes: Vec<String>,
}

impl DataArgs {
    fn filter(&self) -> Result<DataFilter> {
        let classes = self
            .classes
            .iter()
            .map(|c| dataset::normalise_label(c).map(str::to_string).with_context(|| format!("unknown class `{c}`")))
            .collect::<Result<Vec<_>>>()?;
        Ok(DataFilter { datasets: self.dataset.clone(), splits: self.split.clone(), classes })
    }

    fn describe(&self) -> Vec<String> {
        let mut v: Vec<String> = self.data.iter().map(|p| p.display().to_string()).collect();
        if !self.dataset.is_empty() {
            v.push(format!("dataset={}", self.dataset.join(",")));
        }
        if !self.split.is_empty() {
            v.push(format!("split={}", self.split.join(",")));
        }
        if !self.classes.is_empty() {
            v.push(format!("classes={}", self.classes.join(",")));
        }
        v
    }
}

#[derive(Args)]
struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Where to write the model bundle (.safetensors).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    recipe: RecipeArgs,
}

/// Everything that decides how a model is trained: stages, detection, network.
#[derive(Args)]
struct RecipeArgs {
    #[command(flatten)]
    stages: StageArgs,
    #[command(flatten)]
    detect: DetectArgs,
    #[command(flatten)]
    mlp: MlpArgs,
}

impl RecipeArgs {
    /// Validated pipeline and training options.
    fn options(&self, data: &DataArgs) -> Result<FitOptions> {
        let cfg = self.stages.config(&self.detect);
        cfg.check()?;
        Ok(FitOptions { params: self.mlp.params().check()?, val_fraction: self.mlp.val_fraction, pipeline: cfg, sources: data.describe() })
    }
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum GroupBy {
    Subject,
}

#[derive(Args)]
struct EvalArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Model bundle to evaluate.
    #[arg(long, conflicts_with = "cv")]
    model: Option<PathBuf>,
    /// Cross-validate instead: K folds, each training a model with the training options below.
    #[arg(long, value_name = "K")]
    cv: Option<usize>,
    /// Grouping for --cv folds (subjects from the manifest or CK+/Yale file names; images without one are their own group).
    #[arg(long, value_enum, default_value = "subject")]
    group_by: GroupBy,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Save the confusion matrix picture here.
    #[arg(long, default_value = "confusion.png")]
    plot: PathBuf,
    #[command(flatten)]
    recipe: RecipeArgs,
}

fn progress(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{msg:12} [{bar:40}] {pos}/{len} {per_sec} eta {eta} {prefix}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    pb.set_style(style);
    pb.set_message(what.to_string());
    pb
}

/// The model path: as given, or the shipped default found from the working
/// directory or the source tree this binary was built from.
fn resolve_model(path: &Path) -> PathBuf {
    if path.exists() || path != Path::new(DEFAULT_MODEL) {
        return path.to_path_buf();
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join(DEFAULT_MODEL);
    if built_from.exists() {
        built_from
    } else {
        path.to_path_buf()
    }
}

fn load_model(path: &Path) -> Result<Model> {
    let path = resolve_model(path);
    Ok(Model::load(&path)?)
}

/// The model, and pipelines with its configuration and the run's detection options.
fn model_and_pool(path: &Path, detect: &DetectArgs) -> Result<(Model, PipelinePool)> {
    let model = load_model(path)?;
    let mut cfg = model.header().pipeline;
    detect.apply(&mut cfg);
    let pool = PipelinePool::new(cfg)?;
    Ok((model, pool))
}

fn set_threads(threads: usize) -> Result<()> {
    rayon::ThreadPoolBuilder::new().num_threads(threads).build_global().context("starting worker threads")?;
    // Parallelism comes from rayon across images; OpenCV's own threads would oversubscribe.
    opencv::core::set_num_threads(1)?;
    Ok(())
}

fn cmd_batch(args: BatchArgs) -> Result<i32> {
    set_threads(args.threads)?;
    let (model, pool) = model_and_pool(&args.model, &args.detect)?;
    let job = BatchConfig {
        inputs: args.paths,
        format: match args.format {
            Format::Csv => OutputFormat::Csv,
            Format::Jsonl => OutputFormat::Jsonl,
        },
        out: args.out,
        resume: args.resume,
        annotate: args.annotate,
        landmarks: args.landmarks,
    };
    let pb = progress(0, "batch");
    let summary = batch::run(&job, &pool, &model, &|| pb.inc(1), &|n| pb.set_length(n as u64))?;
    pb.finish_and_clear();
    eprintln!(
        "{} files ({} resumed): {} faces, {} without a face, {} failed",
        summary.files + summary.resumed,
        summary.resumed,
        summary.faces,
        summary.no_face,
        summary.errors
    );
    Ok(if summary.errors > 0 { 1 } else { 0 })
}

/// Load samples and extract their features with a progress bar.
fn labelled_rows(data: &DataArgs, cfg: PipelineConfig, classes: Option<Vec<String>>, mirror: bool) -> Result<LabelledRows> {
    let samples = dataset::load(&data.data, &data.filter()?)?;
    let classes = classes.unwrap_or_else(|| dataset::classes_of(&samples));
    let pool = PipelinePool::new(cfg)?;
    let pb = progress(samples.len() as u64, "features");
    let feats = train::extract_features(&samples, &pool, mirror, &|| pb.inc(1));
    pb.finish_and_clear();
    let failures: Vec<&String> = feats.iter().filter_map(|f| f.as_ref().err()).collect();
    if !failures.is_empty() {
        tracing::warn!("{} of {} images gave no features; first: {}", failures.len(), samples.len(), failures[0]);
    }
    let rows = LabelledRows::new(&samples, feats, classes);
    tracing::info!(
        "{} images with features ({} rows with mirrored copies), {} classes: {}",
        rows.originals(),
        rows.x.len(),
        rows.classes.len(),
        rows.classes.join(", ")
    );
    Ok(rows)
}

fn cmd_train(args: TrainArgs) -> Result<i32> {
    set_threads(0)?;
    let opts = args.recipe.options(&args.data)?;
    let rows = labelled_rows(&args.data, opts.pipeline, None, !args.recipe.mlp.no_mirror)?;
    let pb = progress(args.recipe.mlp.epochs as u64, "training");
    let all: Vec<usize> = (0..rows.x.len()).collect();
    let model = train::fit(&rows, &all, &opts, &mut |epoch, _, loss, acc| {
        pb.set_position(epoch as u64);
        pb.set_prefix(format!("loss {loss:.3} val acc {:.1}%", 100.0 * acc));
    })?;
    pb.finish_and_clear();
    if let Some(dir) = args.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    model.save(&args.out)?;
    let t = &model.header().training;
    eprintln!(
        "saved {}: {} classes, {} train ({} mirrored) / {} validation ({}), best epoch {} of {}, validation accuracy {:.1}%",
        args.out.display(),
        model.classes().len(),
        t.train,
        t.mirrored,
        t.validation,
        t.validation_split,
        t.report.best_epoch,
        t.report.epochs_run,
        100.0 * t.report.val_accuracy
    );
    Ok(0)
}

fn cmd_eval(args: EvalArgs) -> Result<i32> {
    set_threads(0)?;
    let report = match (&args.model, args.cv) {
        (Some(path), None) => {
            let model = load_model(path)?;
            let mut cfg = model.header().pipeline;
            args.recipe.detect.apply(&mut cfg);
            let filter = args.data.filter()?;
            let rows = labelled_rows(&args.data, cfg, Some(model.classes().to_vec()), false)?;
            let allowed: Option<Vec<usize>> = (!filter.classes.is_empty())
                .then(|| filter.classes.iter().filter_map(|c| model.classes().iter().position(|m| m == c)).collect());
            let probs = model.predict(&rows.x)?;
            let truth: Vec<usize> = rows.y.iter().map(|&y| y as usize).collect();
            let pred: Vec<usize> = probs.iter().map(|p| train::argmax(p, allowed.as_deref())).collect();
            let protocol = format!(
                "model {} evaluated on {}{}",
                resolve_model(path).display(),
                args.data.describe().join(" "),
                if allowed.is_some() { " (predictions restricted to these classes)" } else { "" }
            );
            Report::new(protocol, rows.classes.clone(), &truth, &pred, rows.skipped)
        }
        (None, Some(k)) => {
            if args.group_by != GroupBy::Subject {
                bail!("--cv groups by subject only");
            }
            let opts = args.recipe.options(&args.data)?;
            let rows = labelled_rows(&args.data, opts.pipeline, None, !args.recipe.mlp.no_mirror)?;
            let pb = progress(k as u64, "folds");
            let mut report = train::cross_validate(&rows, k, &opts, &mut |f, acc| {
                pb.set_position(f as u64 + 1);
                pb.set_prefix(format!("fold {} accuracy {:.1}%", f + 1, 100.0 * acc));
            })?;
            pb.finish_and_clear();
            report.protocol = format!("{} on {}", report.protocol, args.data.describe().join(" "));
            report
        }
        _ => bail!("give either --model MODEL or --cv K"),
    };
    fer::plot::confusion_png(&report, &args.plot)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    eprintln!("confusion matrix picture: {}", args.plot.display());
    Ok(0)
}

fn cmd_bench(args: BenchArgs) -> Result<i32> {
    opencv::core::set_num_threads(1)?;
    let (model, pool) = model_and_pool(&args.model, &args.detect)?;
    let inputs: Vec<PathBuf> = batch::collect_inputs(&args.paths).into_iter().filter_map(|i| i.ok()).collect();
    let job = fer::bench::BenchConfig { inputs, threads: args.threads, repeat: args.repeat };
    eprintln!("benchmarking {} files...", job.inputs.len());
    let report = fer::bench::run(&job, &pool, &model)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(0)
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Batch(a) => cmd_batch(a),
        Command::Train(a) => cmd_train(a),
        Command::Eval(a) => cmd_eval(a),
        Command::Bench(a) => cmd_bench(a),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
