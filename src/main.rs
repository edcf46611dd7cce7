//! The `fer` command line. Arguments are turned into validated library configs
//! here; nothing below this file sees clap types.

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use fer::batch::{self, BatchConfig, OutputFormat};
use fer::dataset::{self, DataFilter};
use fer::metrics::{Report, SourceTransition};
use fer::model::cnn::{CnnArch, CnnHeader, CnnModel, CNN_FORMAT, CNN_SCHEMA_VERSION};
use fer::model::cnn_train::{self, CnnParams, CnnTrainingSummary, GitLoss, ValidCnnParams};
use fer::model::load::{resolve_model, LoadOptions, DEFAULT_MODEL};
use fer::model::mlp::{MlpParams, Objective};
use fer::model::{FaceModel, Model, ModelKind, Teacher, TreeParams};
use fer::pipeline::PipelineConfig;
use fer::stages::detect::Search;
use fer::train::{self, FitOptions, LabelledRows, PipelinePool};
use fer::votes::Votes;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "fer",
    version,
    about = "Facial expression recognition: every face in images and folders, trained and evaluated on your own data."
)]
#[command(
    long_about = "Facial expression recognition with a staged pipeline: decode -> Gaussian denoise -> Haar face and eye detection -> alignment -> CLAHE of the face -> 21 fiducial points (Sobel + Shi-Tomasi) -> scale-free distances + HOG -> MLP.\n\nRows go to stdout (or --out), logs and progress to stderr. Set RUST_LOG=debug for more logging."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Read the expression of every face in image and video files and folders (recursive), one row per face.
    Batch(BatchArgs),
    /// Train a model on labelled folders or manifests and save it as one bundle.
    Train(TrainArgs),
    /// Train our own CNN from scratch on face crops (GroupNorm, warmup + cosine, label smoothing, mixup, optional Git loss).
    TrainCnn(TrainCnnArgs),
    /// Evaluate a model on labelled data, or cross-validate training with --cv.
    Eval(EvalArgs),
    /// Time every stage on your images: per-stage p50/p95/max, throughput per thread count, bare Haar reference.
    Bench(BenchArgs),
    /// Train and evaluate every model kind on the same folds (or train/test split) and print one table.
    Compare(CompareArgs),
    /// Explain a tree model's reading of every face in an image: the path through the tree, and a picture of it.
    Explain(ExplainArgs),
    /// Live expression readout from a camera, video file, image sequence or stream (faces from 96 px unless --min-face).
    Live(LiveArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum PoolingArg {
    Mean,
    Max,
}

#[derive(Args)]
struct LiveArgs {
    /// Camera index (0), device path, video file, image sequence pattern (frames/%04d.png) or stream URL.
    #[arg(long)]
    source: String,
    /// Model: a bundle, a CNN from train-cnn, an ONNX or ensemble sidecar (.json), a shipped model's name (mini-xception, faceapi-expression, deep-ensemble), or a weighted ensemble A@0.9+B@0.1.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: PathBuf,
    /// Frames pooled per face track for its readout.
    #[arg(long, default_value_t = 15)]
    pool: usize,
    /// How a track's frames are pooled.
    #[arg(long, value_enum, default_value = "mean")]
    pooling: PoolingArg,
    /// Smallest box overlap (IoU) that continues a track.
    #[arg(long, default_value_t = 0.3)]
    min_iou: f64,
    /// Frames a track survives without its face.
    #[arg(long, default_value_t = 15)]
    max_missed: u32,
    /// Write the timeline here (JSONL: one line per face per frame).
    #[arg(long, value_name = "FILE")]
    jsonl: Option<PathBuf>,
    /// Write the annotated video here (.avi: MJPG, .mp4: mp4v).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Stop after this many frames.
    #[arg(long)]
    max_frames: Option<u64>,
    /// Reopen attempts when a camera or stream stops delivering frames.
    #[arg(long, default_value_t = 3)]
    reconnects: u32,
    /// Print the end summary as JSON.
    #[arg(long)]
    json: bool,
    /// Status lines on stderr instead of the terminal UI (the default when stderr is not a terminal).
    #[arg(long)]
    plain: bool,
    /// Show the annotated frames in a window (q or Esc stops; needs a build with --features window).
    #[arg(long)]
    window: bool,
    #[command(flatten)]
    detect: DetectArgs,
    #[command(flatten)]
    device: DeviceArgs,
}

#[derive(Args)]
struct ExplainArgs {
    /// Image file.
    image: PathBuf,
    /// A soft-tree or dndt model bundle.
    #[arg(long)]
    model: PathBuf,
    /// Print the explanations as JSON.
    #[arg(long)]
    json: bool,
    /// Write the picture (SVG) here; further faces get -face2, -face3, ... before the extension.
    #[arg(long, default_value = "explain.svg")]
    picture: PathBuf,
    #[command(flatten)]
    detect: DetectArgs,
}

#[derive(Args)]
struct CompareArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Cross-validate with K folds grouped by subject.
    #[arg(long, value_name = "K", conflicts_with = "test")]
    cv: Option<usize>,
    /// Grouping for --cv folds.
    #[arg(long, value_enum, default_value = "subject")]
    group_by: GroupBy,
    /// Test on these sources instead of cross-validating (folders or manifests).
    #[arg(long, num_args = 1..)]
    test: Vec<PathBuf>,
    /// Manifest rows of the --test sources: keep only these splits (e.g. PrivateTest).
    #[arg(long, value_delimiter = ',', requires = "test")]
    test_split: Vec<String>,
    /// Models to compare, comma separated (soft-tree-distilled is the soft tree distilled from the MLP).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "mlp,forest,boost,soft-tree,soft-tree-distilled,ndf,dndt,ensemble"
    )]
    models: Vec<String>,
    /// Pre-trained deep models to add as rows, run on the same test images: ONNX or ensemble sidecars, shipped names (mini-xception, faceapi-expression, deep-ensemble), or weighted ensembles A@0.9+B@0.1.
    #[arg(long, num_args = 1..)]
    deep: Vec<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
    /// Write the table as JSON here.
    #[arg(long, default_value = "compare.json")]
    json: PathBuf,
    /// Save the bar chart here.
    #[arg(long, default_value = "compare.png")]
    plot: PathBuf,
    #[command(flatten)]
    recipe: RecipeArgs,
}

#[derive(Args)]
struct BenchArgs {
    /// Image files and folders (searched recursively), decoded once before timing.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Model: a bundle, a CNN from train-cnn, an ONNX or ensemble sidecar (.json), a shipped model's name (mini-xception, faceapi-expression, deep-ensemble), or a weighted ensemble A@0.9+B@0.1 (classification is part of the pipeline timed).
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
    #[command(flatten)]
    device: DeviceArgs,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Csv,
    Jsonl,
}

#[derive(Args)]
struct BatchArgs {
    /// Image and video files and folders; folders are searched recursively for image and video files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Model: a bundle, a CNN from train-cnn, an ONNX or ensemble sidecar (.json), a shipped model's name (mini-xception, faceapi-expression, deep-ensemble), or a weighted ensemble A@0.9+B@0.1.
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
    /// Video files: read every N-th frame (rows carry the frame number and time).
    #[arg(long, value_name = "N", default_value_t = 1)]
    every: u64,
    #[command(flatten)]
    detect: DetectArgs,
    #[command(flatten)]
    device: DeviceArgs,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

/// Where deep (ONNX) models run, and how they read a face.
#[derive(Args, Clone)]
struct DeviceArgs {
    /// Device for deep (ONNX) models: cpu, cuda, or auto (CUDA when OpenCV has it).
    #[arg(long, default_value = "auto", value_parser = ["cpu", "cuda", "auto"])]
    device: String,
    /// Half precision on CUDA (DNN_TARGET_CUDA_FP16).
    #[arg(long)]
    fp16: bool,
    /// Test-time augmentation of deep models: flip averages each face with its mirror image (default: the model's own, none for most).
    #[arg(long, value_parser = ["none", "flip"])]
    tta: Option<String>,
}

impl DeviceArgs {
    fn options(&self) -> Result<LoadOptions> {
        Ok(LoadOptions {
            device: self.device.parse()?,
            fp16: self.fp16,
            tta: self.tta.as_deref().map(str::parse).transpose()?,
        })
    }
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
    /// Face search: `proposal` (a coarse pass proposes, the configured search confirms
    /// around each proposal; 1.6 to 2 times faster on this project's photos) or `full`
    /// (one search of the whole frame).
    #[arg(long, value_parser = Search::NAMES)]
    search: Option<String>,
    /// Do not look for eyes; align faces from their boxes.
    #[arg(long)]
    no_eyes: bool,
    /// Refuse images with more pixels than this (checked from the header).
    #[arg(long)]
    max_pixels: Option<u64>,
}

impl DetectArgs {
    fn apply(&self, cfg: &mut PipelineConfig) -> Result<()> {
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
        if let Some(v) = &self.search {
            d.search = v.parse()?;
        }
        if let Some(v) = self.max_pixels {
            cfg.decode.max_pixels = v;
        }
        Ok(())
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
    fn config(&self, detect: &DetectArgs) -> Result<PipelineConfig> {
        let mut cfg = PipelineConfig::default();
        cfg.denoise.kernel = self.blur_kernel;
        cfg.denoise.sigma = self.blur_sigma;
        cfg.clahe.clip_limit = self.clahe_clip;
        cfg.clahe.grid = self.clahe_grid;
        cfg.align.size = self.crop_size;
        cfg.features.hog = !self.no_hog;
        cfg.features.hog_cell = self.hog_cell;
        detect.apply(&mut cfg)?;
        Ok(cfg)
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
    /// Partial labels (Durand et al. 2019): a class that a sample's source does not annotate is unknown, not absent (binary cross-entropy over the known classes). Sources: --data NAME=PATH, a manifest's dataset column, or each folder.
    #[arg(long, conflicts_with = "latent_truth")]
    partial_labels: bool,
    /// Latent truth (IPA2LT, Zeng et al. 2018): with two or more annotated sources, learn the true expression and one transition matrix per source (saved in the bundle; fer eval prints and draws them).
    #[arg(long)]
    latent_truth: bool,
    /// Crowd votes per image (CSV: `path` and one count column per class, like ../shared/data/ferplus/votes.csv): the networks learn each image's vote distribution instead of its label (unknown/not-a-face votes left out; images without votes keep their label).
    #[arg(long, value_name = "FILE")]
    votes: Option<PathBuf>,
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
            objective: if self.latent_truth {
                Objective::LatentTruth
            } else if self.partial_labels {
                Objective::PartialLabels
            } else {
                Objective::CrossEntropy
            },
        }
    }
}

#[derive(Args, Clone)]
struct DataArgs {
    /// Folder-per-class datasets or manifest CSVs (like ../shared/data/MANIFEST.csv); repeatable. NAME=PATH names the annotation source (for --partial-labels and --latent-truth; default: a manifest row's dataset, or the folder).
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
            .map(|c| {
                dataset::normalise_label(c)
                    .map(str::to_string)
                    .with_context(|| format!("unknown class `{c}`"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DataFilter {
            datasets: self.dataset.clone(),
            splits: self.split.clone(),
            classes,
        })
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
    /// Model kind.
    #[arg(long = "model", default_value = "mlp", value_parser = ModelKind::NAMES)]
    kind: String,
    #[command(flatten)]
    recipe: RecipeArgs,
}

#[derive(Args)]
struct TrainCnnArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Where to write the CNN (.safetensors).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    detect: DetectArgs,
    /// Input side in pixels.
    #[arg(long, default_value_t = 48)]
    input_size: usize,
    /// Channels of each stage (comma separated); each stage halves the side.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64")]
    channels: Vec<usize>,
    /// GroupNorm groups (must divide every stage's channels).
    #[arg(long, default_value_t = 8)]
    groups: usize,
    /// Passes over the training crops.
    #[arg(long, default_value_t = 60)]
    epochs: usize,
    /// Crops per optimiser step.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Peak AdamW learning rate for a batch of 256, scaled linearly to --batch-size.
    #[arg(long, default_value_t = 1e-2)]
    lr: f64,
    /// Epochs of linear warmup before the cosine decay.
    #[arg(long, default_value_t = 3)]
    warmup_epochs: usize,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 5e-4)]
    weight_decay: f64,
    /// Label smoothing epsilon (0: hard targets).
    #[arg(long, default_value_t = 0.1)]
    label_smoothing: f32,
    /// Mixup Beta(alpha, alpha), alpha in (0, 1]; 0 turns mixup off.
    #[arg(long, default_value_t = 0.2)]
    mixup: f32,
    /// Add Git loss (center and push terms) with these weights, e.g. 0.01,0.01.
    #[arg(long, value_delimiter = ',')]
    git_loss: Option<Vec<f64>>,
    /// Do not flip crops left to right at random.
    #[arg(long)]
    no_mirror: bool,
    /// Seed of the initial weights, batch order, flips and mixup draws.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

impl TrainCnnArgs {
    fn params(&self) -> Result<ValidCnnParams> {
        let git_loss = match self.git_loss.as_deref() {
            None => None,
            Some(&[center, push]) => Some(GitLoss { center, push }),
            Some(w) => bail!("--git-loss takes two weights, center,push (got {w:?})"),
        };
        Ok(CnnParams {
            arch: CnnArch {
                input_size: self.input_size,
                channels: self.channels.clone(),
                groups: self.groups,
            },
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr_per_256: self.lr,
            warmup_epochs: self.warmup_epochs,
            weight_decay: self.weight_decay,
            label_smoothing: self.label_smoothing,
            mixup_alpha: self.mixup,
            git_loss,
            mirror: !self.no_mirror,
            seed: self.seed,
        }
        .check()?)
    }
}

/// Tree model options (forest, boost, soft-tree, ndf, dndt, ensemble).
#[derive(Args, Clone)]
struct TreeArgs {
    /// Random forest: number of trees.
    #[arg(long, default_value_t = 100)]
    forest_trees: usize,
    /// Random forest: deepest a tree may grow (0: no limit).
    #[arg(long, default_value_t = 0)]
    forest_max_depth: u16,
    /// Random forest: fewest training rows in a leaf.
    #[arg(long, default_value_t = 1)]
    forest_min_leaf: usize,
    /// Boosting: perpetual's budget (higher fits harder, slower).
    #[arg(long, default_value_t = 0.3)]
    boost_budget: f32,
    /// Boosting: histogram bins per feature (fewer is faster).
    #[arg(long, default_value_t = 32)]
    boost_max_bin: u16,
    /// Soft tree: depth (2^depth leaves).
    #[arg(long, default_value_t = 5)]
    depth: usize,
    /// Soft tree: strength of the balanced-split penalty.
    #[arg(long, default_value_t = 0.01)]
    tree_penalty: f32,
    /// Soft tree: distil from this teacher (trained first on the same rows) instead of training on labels;
    /// `deep`: every network learns from the --teacher model's probabilities.
    #[arg(long, value_parser = ["mlp", "ensemble", "deep"])]
    distill: Option<String>,
    /// The deep teacher for --distill deep: an ONNX sidecar, a shipped name (mini-xception), or a CNN from train-cnn.
    #[arg(long, value_name = "MODEL")]
    teacher: Option<PathBuf>,
    /// Distillation temperature.
    #[arg(long, default_value_t = 4.0)]
    temperature: f32,
    /// Neural decision forest: number of trees.
    #[arg(long, default_value_t = 5)]
    ndf_trees: usize,
    /// Neural decision forest: depth of each tree.
    #[arg(long, default_value_t = 4)]
    ndf_depth: usize,
    /// DNDT: how many features to bin (leaves grow as (cuts+1)^features).
    #[arg(long, default_value_t = 8)]
    dndt_features: usize,
    /// DNDT: cut points per feature.
    #[arg(long, default_value_t = 1)]
    dndt_cuts: usize,
    /// DNDT: soft binning temperature.
    #[arg(long, default_value_t = 0.1)]
    dndt_tau: f32,
}

impl TreeArgs {
    fn params(&self) -> Result<TreeParams> {
        Ok(TreeParams {
            forest_trees: self.forest_trees,
            forest_max_depth: self.forest_max_depth,
            forest_min_leaf: self.forest_min_leaf,
            boost_budget: self.boost_budget,
            boost_max_bin: self.boost_max_bin,
            depth: self.depth,
            penalty: self.tree_penalty,
            distill: self
                .distill
                .as_deref()
                .map(str::parse::<Teacher>)
                .transpose()?,
            temperature: self.temperature,
            ndf_trees: self.ndf_trees,
            ndf_depth: self.ndf_depth,
            dndt_features: self.dndt_features,
            dndt_cuts: self.dndt_cuts,
            dndt_tau: self.dndt_tau,
        })
    }
}

/// Everything that decides how a model is trained: stages, detection, network, trees.
#[derive(Args)]
struct RecipeArgs {
    #[command(flatten)]
    stages: StageArgs,
    #[command(flatten)]
    detect: DetectArgs,
    #[command(flatten)]
    mlp: MlpArgs,
    #[command(flatten)]
    trees: TreeArgs,
}

impl RecipeArgs {
    /// The options for a model of `kind` and its labelled rows: the samples' features
    /// (with mirrored copies unless --no-mirror) and, with --distill deep, the teacher's
    /// probabilities.
    fn training_rows(&self, data: &DataArgs, kind: &str) -> Result<(FitOptions, LabelledRows)> {
        let opts = self.options(data, kind.parse()?)?;
        let votes = self.votes()?;
        let samples = dataset::load(&data.data, &data.filter()?)?;
        let mut rows = rows_of(samples.clone(), opts.pipeline, None, !self.mlp.no_mirror)?;
        attach_teacher(&mut rows, &samples, &self.trees, &self.detect)?;
        attach_votes(&mut rows, &samples, votes.as_ref())?;
        Ok((opts, rows))
    }

    /// The --votes file, read (and checked) before any image is.
    fn votes(&self) -> Result<Option<Votes>> {
        if self.mlp.votes.is_some() && self.trees.distill.as_deref() == Some("deep") {
            bail!("--votes and --distill deep both give the training targets; choose one");
        }
        Ok(self.mlp.votes.as_deref().map(Votes::load).transpose()?)
    }

    /// Validated pipeline and training options for a model of `kind`.
    fn options(&self, data: &DataArgs, kind: ModelKind) -> Result<FitOptions> {
        let cfg = self.stages.config(&self.detect)?;
        cfg.check()?;
        Ok(FitOptions {
            kind,
            params: self.mlp.params().check()?,
            trees: self.trees.params()?.check()?,
            val_fraction: self.mlp.val_fraction,
            pipeline: cfg,
            sources: data
                .describe()
                .into_iter()
                .chain(
                    self.mlp
                        .votes
                        .iter()
                        .map(|v| format!("votes={}", v.display())),
                )
                .collect(),
        })
    }
}

/// With --votes, every row's vote distribution as its training target.
fn attach_votes(
    rows: &mut LabelledRows,
    samples: &[dataset::Sample],
    votes: Option<&Votes>,
) -> Result<()> {
    let Some(votes) = votes else {
        return Ok(());
    };
    let c = rows.attach_votes(samples, votes)?;
    tracing::info!(
        "votes from {}: {} images learn their vote distribution, {} keep their label ({} not listed, {} without a vote on these classes)",
        votes.file().display(),
        c.voted,
        c.unlisted + c.empty,
        c.unlisted,
        c.empty
    );
    Ok(())
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum GroupBy {
    Subject,
}

#[derive(Args)]
struct EvalArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Model to evaluate: a bundle, a CNN from train-cnn, an ONNX or ensemble sidecar (.json), a shipped model's name (mini-xception, faceapi-expression, deep-ensemble), or a weighted ensemble A@0.9+B@0.1.
    #[arg(long, conflicts_with = "cv")]
    model: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
    /// Cross-validate instead: K folds, each training a model with the training options below.
    #[arg(long, value_name = "K")]
    cv: Option<usize>,
    /// Model kind to cross-validate.
    #[arg(long, default_value = "mlp", value_parser = ModelKind::NAMES, requires = "cv")]
    kind: String,
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
    let style = ProgressStyle::with_template(
        "{msg:12} [{bar:40}] {pos}/{len} {per_sec} eta {eta} {prefix}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    pb.set_style(style);
    pb.set_message(what.to_string());
    pb
}

fn load_model(path: &Path) -> Result<Model> {
    Ok(Model::load(&resolve_model(path))?)
}

/// Any face model `--model` names (see `fer::model::load`), read with the run's device and `--tta`.
fn load_face_model(path: &Path, device: &DeviceArgs) -> Result<Box<dyn FaceModel>> {
    Ok(fer::model::load::load_face_model(
        &path.to_string_lossy(),
        &device.options()?,
    )?)
}

/// The model, and pipelines with its configuration and the run's detection options.
fn model_and_pool(path: &Path, detect: &DetectArgs) -> Result<(Model, PipelinePool)> {
    let model = load_model(path)?;
    let pool = pool_for(&model, detect)?;
    Ok((model, pool))
}

/// Pipelines with the model's configuration and the run's detection options.
fn pool_for(model: &dyn FaceModel, detect: &DetectArgs) -> Result<PipelinePool> {
    let mut cfg = model.pipeline();
    detect.apply(&mut cfg)?;
    Ok(PipelinePool::new(cfg)?)
}

fn set_threads(threads: usize) -> Result<()> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("starting worker threads")?;
    // Parallelism comes from rayon across images; OpenCV's own threads would oversubscribe.
    opencv::core::set_num_threads(1)?;
    Ok(())
}

fn cmd_batch(args: BatchArgs) -> Result<i32> {
    set_threads(args.threads)?;
    let model = load_face_model(&args.model, &args.device)?;
    let pool = pool_for(model.as_ref(), &args.detect)?;
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
        every: args.every,
    };
    let pb = progress(0, "batch");
    let summary = batch::run(&job, &pool, model.as_ref(), &|| pb.inc(1), &|n| {
        pb.set_length(n as u64)
    })?;
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

/// For `--distill deep`: the teacher's probabilities for every row (mirrored rows
/// take their original's), in the rows' class order. A sample the teacher cannot
/// read keeps its label as a one-hot target.
fn attach_teacher(
    rows: &mut LabelledRows,
    samples: &[dataset::Sample],
    trees: &TreeArgs,
    detect: &DetectArgs,
) -> Result<()> {
    let deep = trees.distill.as_deref() == Some("deep");
    let Some(path) = trees.teacher.as_ref().filter(|_| deep) else {
        if deep || trees.teacher.is_some() {
            bail!("--distill deep and --teacher MODEL go together");
        }
        return Ok(());
    };
    let model =
        fer::model::load::load_face_model(&path.to_string_lossy(), &LoadOptions::default())?;
    if !model.reads_pixels() {
        bail!(
            "--teacher {}: a feature bundle cannot teach here (use --distill mlp or ensemble); give an ONNX sidecar, a shipped deep model, an ensemble of them, or a CNN from train-cnn",
            path.display()
        );
    }
    let pool = pool_for(model.as_ref(), detect)?;
    let pb = progress(samples.len() as u64, "teacher");
    let probs = train::classify_samples(samples, &pool, model.as_ref(), &|| pb.inc(1));
    pb.finish_and_clear();
    let to_rows: Vec<Option<usize>> = model
        .classes()
        .iter()
        .map(|c| rows.classes.iter().position(|d| d == c))
        .collect();
    let per_sample: Vec<Option<Vec<f32>>> = probs
        .into_iter()
        .map(|p| {
            let p = p.ok()?;
            let mut out = vec![0f32; rows.classes.len()];
            for (i, v) in p.iter().enumerate() {
                if let Some(Some(j)) = to_rows.get(i) {
                    out[*j] += v;
                }
            }
            let sum: f32 = out.iter().sum();
            (sum > 0.0).then(|| out.iter().map(|v| v / sum).collect())
        })
        .collect();
    let missing = per_sample.iter().filter(|p| p.is_none()).count();
    if missing > 0 {
        tracing::warn!("the teacher gave no probabilities for {missing} of {} images; they keep one-hot targets", samples.len());
    }
    let teacher = (0..rows.x.len())
        .map(|r| {
            per_sample[rows.sample[r]].clone().unwrap_or_else(|| {
                let mut one_hot = vec![0f32; rows.classes.len()];
                one_hot[rows.y[r] as usize] = 1.0;
                one_hot
            })
        })
        .collect();
    rows.teacher = Some(teacher);
    Ok(())
}

/// Extract the features of `samples` with a progress bar.
fn rows_of(
    samples: Vec<dataset::Sample>,
    cfg: PipelineConfig,
    classes: Option<Vec<String>>,
    mirror: bool,
) -> Result<LabelledRows> {
    let classes = classes.unwrap_or_else(|| dataset::classes_of(&samples));
    let pool = PipelinePool::new(cfg)?;
    let pb = progress(samples.len() as u64, "features");
    let feats = train::extract_features(&samples, &pool, mirror, &|| pb.inc(1));
    pb.finish_and_clear();
    let failures: Vec<&String> = feats.iter().filter_map(|f| f.as_ref().err()).collect();
    if !failures.is_empty() {
        tracing::warn!(
            "{} of {} images gave no features; first: {}",
            failures.len(),
            samples.len(),
            failures[0]
        );
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

/// True class and model probabilities of the largest face of every labelled
/// sample (samples of classes the model lacks, or without a face, are skipped).
fn labelled_probabilities(
    data: &DataArgs,
    pool: &PipelinePool,
    model: &dyn FaceModel,
) -> Result<(Vec<usize>, Vec<Vec<f32>>, usize)> {
    let samples = dataset::load(&data.data, &data.filter()?)?;
    let pb = progress(samples.len() as u64, "faces");
    let results = train::classify_samples(&samples, pool, model, &|| pb.inc(1));
    pb.finish_and_clear();
    let (mut truth, mut probs, mut skipped) = (Vec::new(), Vec::new(), 0);
    let mut first_failure = None;
    for (s, r) in samples.iter().zip(results) {
        match (r, model.classes().iter().position(|c| *c == s.label)) {
            (Ok(p), Some(c)) => {
                truth.push(c);
                probs.push(p);
            }
            (r, _) => {
                skipped += 1;
                if let Err(e) = r {
                    first_failure.get_or_insert(e);
                }
            }
        }
    }
    if let Some(e) = first_failure {
        tracing::warn!(
            "{skipped} of {} images skipped; first failure: {e}",
            samples.len()
        );
    }
    Ok((truth, probs, skipped))
}

/// Create the folder `path` will be written into, when it names one.
fn create_parent_dir(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}

fn cmd_train(args: TrainArgs) -> Result<i32> {
    set_threads(0)?;
    let (opts, rows) = args.recipe.training_rows(&args.data, &args.kind)?;
    let pb = progress(args.recipe.mlp.epochs as u64, "training");
    let all: Vec<usize> = (0..rows.x.len()).collect();
    let model = train::fit(&rows, &all, &opts, &mut |epoch, _, loss, acc| {
        pb.set_position(epoch as u64);
        pb.set_prefix(format!("loss {loss:.3} val acc {:.1}%", 100.0 * acc));
    })?;
    pb.finish_and_clear();
    create_parent_dir(&args.out)?;
    model.save(&args.out)?;
    let t = &model.header().training;
    let how = if t.validation > 0 {
        format!(
            "{} validation ({}), best epoch {} of {}, validation accuracy {:.1}%",
            t.validation,
            t.validation_split,
            t.report.best_epoch,
            t.report.epochs_run,
            100.0 * t.report.val_accuracy
        )
    } else {
        "no validation split".to_string()
    };
    eprintln!(
        "saved {} ({} model): {} classes, {} train ({} mirrored) / {how}",
        args.out.display(),
        model.kind(),
        model.classes().len(),
        t.train,
        t.mirrored,
    );
    Ok(0)
}

fn cmd_train_cnn(args: TrainCnnArgs) -> Result<i32> {
    set_threads(0)?;
    let params = args.params()?;
    let mut pipeline = PipelineConfig::default();
    args.detect.apply(&mut pipeline)?;
    let samples = dataset::load(&args.data.data, &args.data.filter()?)?;
    let classes = dataset::classes_of(&samples);
    if classes.len() < 2 {
        bail!(
            "the training data has {} class(es); give at least 2",
            classes.len()
        );
    }
    let pb = progress(samples.len() as u64, "cropping faces");
    let (crops, skipped) = cnn_train::crops_from_samples(
        &samples,
        &classes,
        &pipeline,
        params.arch.input_size,
        &|| pb.inc(1),
    )?;
    pb.finish_and_clear();
    eprintln!(
        "{} crops of {} classes ({skipped} images skipped: unreadable or no face)",
        crops.len(),
        classes.len()
    );
    let pb = progress(params.epochs as u64, "training");
    let (net, varmap, loss, train_accuracy) = cnn_train::fit_cnn(
        &crops,
        classes.len(),
        &params,
        &mut |epoch, _, loss, acc| {
            pb.set_position(epoch as u64);
            pb.set_prefix(format!("loss {loss:.3} train acc {:.1}%", 100.0 * acc));
            tracing::info!(
                "epoch {epoch}: loss {loss:.4}, training accuracy {:.2}%",
                100.0 * acc
            );
        },
    )?;
    pb.finish_and_clear();
    let header = CnnHeader {
        format: CNN_FORMAT.into(),
        schema_version: CNN_SCHEMA_VERSION,
        classes,
        arch: params.arch.clone(),
        pipeline,
        training: CnnTrainingSummary {
            params: (*params).clone(),
            samples: crops.len(),
            skipped,
            sources: args.data.describe(),
            loss,
            train_accuracy,
        },
    };
    create_parent_dir(&args.out)?;
    CnnModel::new(header, net, varmap).save(&args.out)?;
    eprintln!("saved {}", args.out.display());
    Ok(0)
}

fn cmd_eval(args: EvalArgs) -> Result<i32> {
    set_threads(0)?;
    let report = match (&args.model, args.cv) {
        (Some(path), None) => {
            let model = load_face_model(path, &args.device)?;
            let pool = pool_for(model.as_ref(), &args.recipe.detect)?;
            let filter = args.data.filter()?;
            let classes = model.classes().to_vec();
            let (truth, probs, skipped) =
                labelled_probabilities(&args.data, &pool, model.as_ref())?;
            let allowed: Option<Vec<usize>> = (!filter.classes.is_empty()).then(|| {
                filter
                    .classes
                    .iter()
                    .filter_map(|c| classes.iter().position(|m| m == c))
                    .collect()
            });
            let pred: Vec<usize> = probs
                .iter()
                .map(|p| train::argmax(p, allowed.as_deref()))
                .collect();
            let protocol = format!(
                "model {} evaluated on {}{}",
                resolve_model(path).display(),
                args.data.describe().join(" "),
                if allowed.is_some() {
                    " (predictions restricted to these classes)"
                } else {
                    ""
                }
            );
            let mut report = Report::new(protocol, classes, &truth, &pred, skipped);
            report.latent_transitions = latent_transitions_of(path)?;
            report
        }
        (None, Some(k)) => {
            if args.group_by != GroupBy::Subject {
                bail!("--cv groups by subject only");
            }
            let (opts, rows) = args.recipe.training_rows(&args.data, &args.kind)?;
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
    for t in &report.latent_transitions {
        let picture = transition_picture_path(&args.plot, &t.source);
        fer::plot::transition_png(t, &picture)?;
        eprintln!(
            "transition matrix of source {}: {}",
            t.source,
            picture.display()
        );
    }
    Ok(0)
}

/// A latent-truth bundle's transition matrices, by source (none for other models).
fn latent_transitions_of(path: &Path) -> Result<Vec<SourceTransition>> {
    let path = resolve_model(path);
    let bundle = path.is_file()
        && path.extension().is_none_or(|e| e != "json")
        && !fer::model::cnn::is_cnn_file(&path);
    if !bundle {
        return Ok(vec![]);
    }
    let model = Model::load(&path)?;
    Ok(model
        .transitions()?
        .into_iter()
        .map(|(source, matrix)| SourceTransition {
            source,
            classes: model.classes().to_vec(),
            matrix,
        })
        .collect())
}

/// `confusion.png` and source `fer2013` give `confusion-transition-fer2013.png`
/// (characters other than letters, digits, `-`, `_` and `.` become `_`).
fn transition_picture_path(plot: &Path, source: &str) -> PathBuf {
    let safe = batch::safe_file_name(source);
    let stem = plot.file_stem().map_or_else(
        || "confusion".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    let ext = plot
        .extension()
        .map_or_else(|| "png".to_string(), |e| e.to_string_lossy().into_owned());
    plot.with_file_name(format!("{stem}-transition-{safe}.{ext}"))
}

fn cmd_bench(args: BenchArgs) -> Result<i32> {
    opencv::core::set_num_threads(1)?;
    let model = load_face_model(&args.model, &args.device)?;
    let pool = pool_for(model.as_ref(), &args.detect)?;
    let inputs: Vec<PathBuf> = batch::collect_inputs(&args.paths)
        .into_iter()
        .filter_map(|i| i.ok())
        .collect();
    let job = fer::bench::BenchConfig {
        inputs,
        threads: args.threads,
        repeat: args.repeat,
    };
    eprintln!("benchmarking {} files...", job.inputs.len());
    let report = fer::bench::run(&job, &pool, model.as_ref())?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    Ok(0)
}

fn cmd_compare(args: CompareArgs) -> Result<i32> {
    set_threads(0)?;
    if args.group_by != GroupBy::Subject {
        bail!("--cv groups by subject only");
    }
    if args.recipe.trees.distill.is_some() || args.recipe.trees.teacher.is_some() {
        bail!("fer compare sets distillation per row (soft-tree-distilled learns from the MLP); --distill and --teacher are for train and eval");
    }
    let all = fer::compare::all_variants();
    let variants = args
        .models
        .iter()
        .map(|m| {
            all.iter().find(|v| v.name == *m).cloned().with_context(|| {
                format!(
                    "unknown model `{m}`; choose from {}",
                    all.iter()
                        .map(|v| v.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let opts = args.recipe.options(&args.data, ModelKind::Mlp)?;
    let votes = args.recipe.votes()?;
    let mirror = !args.recipe.mlp.no_mirror;
    let (samples, rows, folds, protocol) = match (args.cv, args.test.is_empty()) {
        (Some(k), true) => {
            let samples = dataset::load(&args.data.data, &args.data.filter()?)?;
            let mut rows = rows_of(samples.clone(), opts.pipeline, None, mirror)?;
            attach_votes(&mut rows, &samples, votes.as_ref())?;
            let folds = train::cv_folds(&rows, k)?;
            (
                samples,
                rows,
                folds,
                format!(
                    "{k}-fold cross-validation grouped by subject on {}",
                    args.data.describe().join(" ")
                ),
            )
        }
        (None, false) => {
            let test = DataArgs {
                data: args.test.clone(),
                split: args.test_split.clone(),
                ..args.data.clone()
            };
            let train_samples = dataset::load(&args.data.data, &args.data.filter()?)?;
            let test_samples = dataset::load(&test.data, &test.filter()?)?;
            let n_train = train_samples.len();
            let samples: Vec<_> = train_samples.into_iter().chain(test_samples).collect();
            let mut rows = rows_of(samples.clone(), opts.pipeline, None, mirror)?;
            attach_votes(&mut rows, &samples, votes.as_ref())?;
            let train: Vec<usize> = (0..rows.x.len())
                .filter(|&r| rows.sample[r] < n_train)
                .collect();
            let test_rows: Vec<usize> = (0..rows.x.len())
                .filter(|&r| rows.sample[r] >= n_train && !rows.mirrored[r])
                .collect();
            let protocol = format!(
                "trained on {}; tested on {}",
                args.data.describe().join(" "),
                test.describe().join(" ")
            );
            (samples, rows, vec![(train, test_rows)], protocol)
        }
        _ => bail!("give either --cv K or --test PATH..."),
    };
    let pb = progress((folds.len() * variants.len()) as u64, "compare");
    let mut cmp = fer::compare::run(
        &rows,
        &folds,
        &opts,
        &variants,
        protocol.clone(),
        &mut |f, name, acc| {
            pb.inc(1);
            pb.set_prefix(format!("fold {} {name} {:.1}%", f + 1, 100.0 * acc));
        },
    )?;
    pb.finish_and_clear();
    for name in &args.deep {
        let model = load_face_model(name, &args.device)?;
        let pool = pool_for(model.as_ref(), &args.recipe.detect)?;
        let label = if fer::model::load::is_inline_ensemble(&name.to_string_lossy()) {
            name.display().to_string()
        } else {
            name.file_stem().map_or_else(
                || name.display().to_string(),
                |s| s.to_string_lossy().into_owned(),
            )
        };
        let label = match &args.device.tta {
            Some(t) if t != "none" => format!("{label} (tta {t})"),
            _ => label,
        };
        cmp.rows.push(fer::compare::deep_row(
            &label,
            model.as_ref(),
            model.bytes_on_disk(),
            &samples,
            &rows,
            &folds,
            &pool,
            &protocol,
        )?);
    }
    fer::model::bundle::write_atomic(&args.json, serde_json::to_string_pretty(&cmp)?.as_bytes())?;
    fer::plot::comparison_png(&cmp, &args.plot)?;
    print!("{}", cmp.to_text());
    eprintln!(
        "JSON: {}   bar chart: {}",
        args.json.display(),
        args.plot.display()
    );
    Ok(0)
}

fn cmd_explain(args: ExplainArgs) -> Result<i32> {
    let (model, pool) = model_and_pool(&args.model, &args.detect)?;
    let reading = pool.with(|p| p.read_file(&args.image))??;
    if reading.faces.is_empty() {
        bail!("{}: no face found", args.image.display());
    }
    let mut all = Vec::new();
    for (i, face) in reading.faces.iter().enumerate() {
        let e = fer::explain::explain(&model, &face.features)?;
        let picture = if i == 0 {
            args.picture.clone()
        } else {
            let stem = args
                .picture
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            args.picture
                .with_file_name(format!("{stem}-face{}.svg", i + 1))
        };
        fer::model::bundle::write_atomic(
            &picture,
            fer::explain::picture_svg(&model, &e)?.as_bytes(),
        )?;
        if !args.json {
            println!("face {} at {:?}:\n{}", i + 1, face.bbox, e.to_text());
        }
        eprintln!("picture: {}", picture.display());
        all.push(serde_json::json!({ "face": i + 1, "bbox": face.bbox, "explanation": e }));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(0)
}

/// `fer live`'s smallest face side unless --min-face says otherwise: a face near a
/// camera is large, and detection from 30 px made 640x480 frames run at 14 instead of
/// 34 frames per second on one core.
const LIVE_MIN_FACE: i32 = 96;

/// Terminal UI redraws per second.
const READOUT_HZ: f64 = 10.0;

/// The ratatui readout on stderr's alternate screen (left on drop). Raw mode stays
/// off, so that Ctrl-C still ends the run.
struct LiveScreen {
    term: ratatui::Terminal<ratatui::backend::CrosstermBackend<std::io::Stderr>>,
}

impl LiveScreen {
    fn open() -> Result<Self> {
        ratatui::crossterm::execute!(
            std::io::stderr(),
            ratatui::crossterm::terminal::EnterAlternateScreen
        )?;
        Ok(LiveScreen {
            term: ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(
                std::io::stderr(),
            ))?,
        })
    }

    fn draw(&mut self, r: &fer::live::FrameReport, source: &str) {
        if let Err(e) = self.term.draw(|f| fer::live::tui::render(f, r, source)) {
            tracing::warn!("terminal readout: {e}");
        }
    }
}

impl Drop for LiveScreen {
    fn drop(&mut self) {
        let _ = ratatui::crossterm::execute!(
            std::io::stderr(),
            ratatui::crossterm::terminal::LeaveAlternateScreen
        );
    }
}

/// The readout as one log line.
fn status_line(r: &fer::live::FrameReport) -> String {
    let faces: Vec<String> = r
        .faces
        .iter()
        .map(|f| {
            let p = f.pooled.iter().cloned().fold(0.0f32, f32::max);
            format!(
                "#{} {} {:.0}% (frame: {})",
                f.track,
                f.pooled_label,
                100.0 * p,
                f.label
            )
        })
        .collect();
    let t = r.times;
    format!(
        "frame {} | {:.1} fps | detect {:.1} ms, face stages {:.1} ms, classify {:.1} ms | {}",
        r.frame,
        r.fps,
        t.denoise_ms + t.detect_ms,
        t.align_ms + t.clahe_ms + t.landmarks_ms + t.features_ms,
        t.classify_ms,
        if faces.is_empty() {
            "no face".to_string()
        } else {
            faces.join("  ")
        }
    )
}

fn cmd_live(args: LiveArgs) -> Result<i32> {
    // One core: the pipeline runs frame after frame; capture has its own thread.
    opencv::core::set_num_threads(1)?;
    let model = load_face_model(&args.model, &args.device)?;
    let mut detect = args.detect.clone();
    detect.min_face = detect.min_face.or(Some(LIVE_MIN_FACE));
    let pool = pool_for(model.as_ref(), &detect)?;
    if args.pool == 0 || !(0.0..=1.0).contains(&args.min_iou) {
        bail!("--pool must be at least 1 and --min-iou within 0..1");
    }
    let cfg = fer::live::LiveConfig {
        source: fer::live::capture::Source::parse(&args.source),
        tracker: fer::live::track::TrackerConfig {
            min_iou: args.min_iou,
            max_missed: args.max_missed,
            window: args.pool,
            pooling: match args.pooling {
                PoolingArg::Mean => fer::live::track::Pooling::Mean,
                PoolingArg::Max => fer::live::track::Pooling::Max,
            },
        },
        jsonl: args.jsonl,
        record: args.record,
        max_frames: args.max_frames,
        reconnects: args.reconnects,
        window: args.window,
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::Relaxed))
        .context("installing the Ctrl-C handler")?;
    let source = args.source.clone();
    let tui = !args.plain && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut screen = if tui { Some(LiveScreen::open()?) } else { None };
    let mut last_draw: Option<std::time::Instant> = None;
    let result = fer::live::run(&cfg, &pool, model.as_ref(), &stop, &mut |r| {
        // Redraw at most READOUT_HZ times a second: a terminal UI, or a status line in a log.
        let every = if tui { 1.0 / READOUT_HZ } else { 1.0 };
        if last_draw.is_some_and(|t| t.elapsed().as_secs_f64() < every) {
            return;
        }
        last_draw = Some(std::time::Instant::now());
        match &mut screen {
            Some(s) => s.draw(r, &source),
            None => eprintln!("{}", status_line(r)),
        }
    });
    drop(screen); // leave the alternate screen before printing
    let summary = result?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
    } else {
        print!("{}", summary.to_text());
    }
    Ok(0)
}

fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,perpetual=warn".into()),
        )
        .with_target(false)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Batch(a) => cmd_batch(a),
        Command::Train(a) => cmd_train(a),
        Command::TrainCnn(a) => cmd_train_cnn(a),
        Command::Eval(a) => cmd_eval(a),
        Command::Bench(a) => cmd_bench(a),
        Command::Compare(a) => cmd_compare(a),
        Command::Explain(a) => cmd_explain(a),
        Command::Live(a) => cmd_live(a),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Parser)]
    struct Defaults {
        #[command(flatten)]
        mlp: MlpArgs,
        #[command(flatten)]
        trees: TreeArgs,
    }

    /// The defaults shown in `--help` are the library's defaults.
    #[test]
    fn cli_defaults_match_the_library_defaults() {
        let d = Defaults::try_parse_from(["fer"]).expect("no arguments needed");
        assert_eq!(d.mlp.params(), MlpParams::default());
        assert_eq!(d.trees.params().expect("valid"), TreeParams::default());
    }
}
