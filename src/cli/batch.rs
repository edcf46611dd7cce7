//! `fer batch`: every face in image and video files and folders, one row each.

use super::detect_args::{DetectArgs, DeviceArgs};
use super::{load_face_model, pool_for, progress, set_threads};
use anyhow::Result;
use clap::{Args, ValueEnum};
use fer::batch::shard::VIDEO_CHUNK_FRAMES;
use fer::batch::{self, BatchConfig, OutputFormat, Shard, ShardChoice};
use fer::model::load::DEFAULT_MODEL;
use std::path::PathBuf;

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Csv,
    Jsonl,
    /// Typed columns (needs --out); read with pandas, polars or DuckDB.
    Parquet,
}

#[derive(Args)]
pub struct BatchArgs {
    /// Image and video files and folders; folders are searched recursively for image and video files.
    #[arg(required_unless_present = "files_from")]
    paths: Vec<PathBuf>,
    /// Also read the paths listed in this file: one per line, or a manifest CSV with a `path` column (relative to the manifest).
    #[arg(long, value_name = "LIST")]
    files_from: Option<PathBuf>,
    /// Process only shard I of N (from 0) and write OUT.shard-I-of-N; gather the shards with `fer merge OUT`. Inside a Slurm array job it is read from SLURM_ARRAY_TASK_ID and its siblings.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    shard: Option<Shard>,
    /// Sharded runs: cut videos into ranges of this many frames, so that one long video is shared by several tasks.
    #[arg(long, value_name = "FRAMES", default_value_t = VIDEO_CHUNK_FRAMES)]
    video_chunk: u64,
    /// Model: a bundle, a CNN from train-cnn, an ONNX or ensemble sidecar (.json), a shipped model's name (cnn-ferplus, mini-xception, faceapi-expression, deep-ensemble, deep-ensemble-fer; models/fer-default.safetensors is the feature model), or a weighted ensemble A@0.9+B@0.1.
    #[arg(long, default_value = DEFAULT_MODEL)]
    model: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    format: Format,
    /// Write rows to this file (atomically, at the end) instead of stdout.
    #[arg(long, short)]
    out: Option<PathBuf>,
    /// Keep the rows of an interrupted run (OUT.partial or OUT; per shard when sharded) and skip the files they cover.
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
    /// Video files: search the whole frame for faces once every K frames, on the frame after a face is lost, and while no face is in view; in between, search only near the faces of the frame before. 1: the whole frame every frame.
    #[arg(long, value_name = "K", default_value_t = fer::tracked::DEFAULT_SEARCH_EVERY)]
    search_every: u64,
    #[command(flatten)]
    detect: DetectArgs,
    #[command(flatten)]
    device: DeviceArgs,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

fn parse_shard(text: &str) -> std::result::Result<Shard, String> {
    Shard::parse(text).map_err(|e| e.to_string())
}

pub fn run(args: BatchArgs) -> Result<i32> {
    let shard = match args.shard {
        Some(shard) => Some(ShardChoice {
            shard,
            from_slurm: false,
        }),
        None => Shard::from_slurm(|k| std::env::var(k).ok())?.map(|shard| ShardChoice {
            shard,
            from_slurm: true,
        }),
    };
    set_threads(args.threads)?;
    let model = load_face_model(&args.model, &args.device)?;
    let pool = pool_for(model.as_ref(), &args.detect)?;
    let job = BatchConfig {
        inputs: args.paths,
        format: match args.format {
            Format::Csv => OutputFormat::Csv,
            Format::Jsonl => OutputFormat::Jsonl,
            Format::Parquet => OutputFormat::Parquet,
        },
        out: args.out,
        resume: args.resume,
        annotate: args.annotate,
        landmarks: args.landmarks,
        every: args.every,
        search_every: args.search_every,
        files_from: args.files_from,
        shard,
        video_chunk: args.video_chunk,
        model: args.model,
    };
    let pb = progress(0, "batch");
    let summary = batch::run(&job, &pool, model.as_ref(), &|| pb.inc(1), &|n| {
        pb.set_length(n as u64)
    })?;
    pb.finish_and_clear();
    eprintln!("{}", summary.to_text());
    Ok(if summary.errors > 0 { 1 } else { 0 })
}
