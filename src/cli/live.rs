//! `fer live`: a live expression readout from a camera, video file, image sequence or stream.

use super::detect_args::{DetectArgs, DeviceArgs};
use super::{load_face_model, pool_for};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use fer::live::track::Pooling;
use fer::live::tui::Screen;
use fer::model::load::DEFAULT_MODEL;
use std::path::PathBuf;

/// `fer live`'s smallest face side unless --min-face says otherwise: a face near a
/// camera is large, and detection from 30 px made 640x480 frames run at 14 instead of
/// 34 frames per second on one core.
const LIVE_MIN_FACE: i32 = 96;

/// Terminal UI redraws per second.
const READOUT_HZ: f64 = 10.0;

/// Status lines per second when stderr is not a terminal (or with --plain).
const STATUS_LINES_HZ: f64 = 1.0;

#[derive(Clone, Copy, ValueEnum)]
pub enum PoolingArg {
    /// The mean of the frames' probabilities.
    Mean,
    /// The element-wise maximum of the frames' probabilities, renormalised.
    Max,
    /// A set model (fer train --model set-max, set-mean or set-attention) reads the frames' features as one set.
    Learned,
}

#[derive(Args)]
pub struct LiveArgs {
    /// Camera index (0), device path, video file, image sequence pattern (frames/%04d.png) or stream URL.
    #[arg(long)]
    source: String,
    /// Model: a bundle, a CNN from train-cnn, an ONNX or ensemble sidecar (.json), a shipped model's name (cnn-ferplus, mini-xception, faceapi-expression, deep-ensemble, deep-ensemble-fer; models/fer-default.safetensors is the feature model), or a weighted ensemble A@0.9+B@0.1.
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
    /// Write the timeline here (JSONL: one line per face per frame; draw it with `fer plot`).
    #[arg(long, value_name = "FILE")]
    jsonl: Option<PathBuf>,
    /// Write the same timeline as Parquet columns (t, frame, track, box, labels, raw_<class>, pooled_<class>).
    #[arg(long, value_name = "FILE")]
    parquet: Option<PathBuf>,
    /// Write the annotated video here (.avi: MJPG, .mp4: mp4v).
    #[arg(long, value_name = "FILE")]
    record: Option<PathBuf>,
    /// Stop after this many frames.
    #[arg(long)]
    max_frames: Option<u64>,
    /// Search the whole frame for faces once every K frames, on the frame after a face is lost, and while no face is in view; in between, search only near the faces of the frame before, so a face joining others shows within K frames. 1: the whole frame every frame.
    #[arg(long, value_name = "K", default_value_t = fer::tracked::DEFAULT_SEARCH_EVERY)]
    search_every: u64,
    /// Reopen attempts when a camera or stream stops delivering frames.
    #[arg(long, default_value_t = 3)]
    reconnects: u32,
    /// Seconds to wait for the source to open and for each frame before giving up (a FIFO no one writes, a stalled stream).
    #[arg(long, value_name = "SECS", default_value_t = fer::live::capture::DEFAULT_STALL_TIMEOUT.as_secs_f64())]
    stall_timeout: f64,
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

pub fn run(args: LiveArgs) -> Result<i32> {
    // One core: the pipeline runs frame after frame; capture has its own thread.
    opencv::core::set_num_threads(1)?;
    let model = load_face_model(&args.model, &args.device)?;
    let mut detect = args.detect.clone();
    detect.min_face = detect.min_face.or(Some(LIVE_MIN_FACE));
    let pool = pool_for(model.as_ref(), &detect)?;
    if args.pool == 0 || !(0.0..=1.0).contains(&args.min_iou) {
        bail!("--pool must be at least 1 and --min-iou within 0..1");
    }
    if args.search_every == 0 {
        bail!("--search-every must be at least 1 (1: the whole frame on every frame)");
    }
    let cfg = fer::live::LiveConfig {
        source: fer::live::capture::Source::parse(&args.source),
        tracker: fer::live::track::TrackerConfig {
            min_iou: args.min_iou,
            max_missed: args.max_missed,
            window: args.pool,
            pooling: match args.pooling {
                PoolingArg::Mean => Pooling::Mean,
                PoolingArg::Max => Pooling::Max,
                PoolingArg::Learned => Pooling::Learned,
            },
        },
        jsonl: args.jsonl,
        parquet: args.parquet,
        record: args.record,
        max_frames: args.max_frames,
        search_every: args.search_every,
        reconnects: args.reconnects,
        stall_timeout: stall_timeout(args.stall_timeout)?,
        window: args.window,
    };
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, std::sync::atomic::Ordering::Relaxed))
        .context("installing the Ctrl-C handler")?;
    let source = args.source.clone();
    let tui = !args.plain && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut screen = if tui { Some(Screen::open()?) } else { None };
    let every = 1.0 / if tui { READOUT_HZ } else { STATUS_LINES_HZ };
    let mut last_draw: Option<std::time::Instant> = None;
    let result = fer::live::run(&cfg, &pool, model.as_ref(), &stop, &mut |r| {
        if last_draw.is_some_and(|t| t.elapsed().as_secs_f64() < every) {
            return;
        }
        last_draw = Some(std::time::Instant::now());
        match &mut screen {
            Some(s) => s.draw(r, &source),
            None => eprintln!("{}", r.status_line()),
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

fn stall_timeout(secs: f64) -> Result<std::time::Duration> {
    if !(secs.is_finite() && secs > 0.0) {
        bail!("--stall-timeout must be a positive number of seconds, not {secs}");
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}
