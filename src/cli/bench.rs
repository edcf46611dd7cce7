//! `fer bench`: what every stage costs on your images.

use super::detect_args::{DetectArgs, DeviceArgs};
use super::{load_face_model, pool_for};
use anyhow::Result;
use clap::Args;
use fer::model::load::DEFAULT_MODEL;
use std::path::PathBuf;

#[derive(Args)]
pub struct BenchArgs {
    /// Image files and folders (searched recursively), decoded once before timing.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Model: a bundle, a CNN from train-cnn, an ONNX or ensemble sidecar (.json), a shipped model's name (cnn-ferplus, mini-xception, faceapi-expression, deep-ensemble, deep-ensemble-fer; models/fer-default.safetensors is the feature model), or a weighted ensemble A@0.9+B@0.1 (classification is part of the pipeline timed).
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

pub fn run(args: BenchArgs) -> Result<i32> {
    opencv::core::set_num_threads(1)?;
    let model = load_face_model(&args.model, &args.device)?;
    let pool = pool_for(model.as_ref(), &args.detect)?;
    let inputs: Vec<PathBuf> = fer::batch::collect_inputs(&args.paths)
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
