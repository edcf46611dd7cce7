//! The `fer` command line: parses the arguments and hands each command to its
//! file under `src/cli/`. Rows go to stdout, logs and progress to stderr.

mod cli;

use clap::{Parser, Subcommand};

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
    Batch(cli::batch::BatchArgs),
    /// Gather the shards of a sharded batch (--shard, or a Slurm array job) into one output, refusing missing, incomplete or doubled shards.
    Merge(cli::merge::MergeArgs),
    /// Train a model on labelled folders or manifests and save it as one bundle.
    Train(cli::train::TrainArgs),
    /// Train our own CNN from scratch on face crops (GroupNorm, warmup + cosine, label smoothing, mixup, optional Git loss).
    TrainCnn(cli::train_cnn::TrainCnnArgs),
    /// Evaluate a model on labelled data (the shipped model unless --model), or cross-validate training with --cv.
    Eval(cli::eval::EvalArgs),
    /// Time every stage on your images: per-stage p50/p95/max, throughput per thread count, bare Haar reference.
    Bench(cli::bench::BenchArgs),
    /// Train and evaluate every model kind on the same folds (or train/test split) and print one table.
    Compare(cli::compare::CompareArgs),
    /// Explain a tree model's or the graph network's reading of every face in an image: the path through the tree or the weight of each point, and a picture of it.
    Explain(cli::explain::ExplainArgs),
    /// Draw what fer wrote: a model's training curves, a video's expression timeline, or a comparison chart.
    Plot(cli::plot::PlotArgs),
    /// Live expression readout from a camera, video file, image sequence or stream (faces from 96 px unless --min-face).
    Live(cli::live::LiveArgs),
}

fn main() {
    // Past a file-size limit (`ulimit -f`) a write raises SIGXFSZ, which would kill fer
    // without a word; ignored, the write fails (EFBIG) and fer names the file.
    // SAFETY: sets a signal's disposition to "ignore" before any thread starts.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,perpetual=warn".into()),
        )
        .with_target(false)
        .init();
    let result = match Cli::parse().command {
        Command::Batch(a) => cli::batch::run(a),
        Command::Merge(a) => cli::merge::run(a),
        Command::Train(a) => cli::train::run(a),
        Command::TrainCnn(a) => cli::train_cnn::run(a),
        Command::Eval(a) => cli::eval::run(a),
        Command::Bench(a) => cli::bench::run(a),
        Command::Compare(a) => cli::compare::run(a),
        Command::Explain(a) => cli::explain::run(a),
        Command::Live(a) => cli::live::run(a),
        Command::Plot(a) => cli::plot::run(a),
    };
    match result {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(2);
        }
    }
}
