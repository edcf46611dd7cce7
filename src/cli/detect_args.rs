//! Arguments shared by the commands that read faces: detection (`DetectArgs`)
//! and where deep models run (`DeviceArgs`).

use anyhow::Result;
use clap::Args;
use fer::model::load::LoadOptions;
use fer::pipeline::PipelineConfig;
use fer::run_options::DetectOptions;
use fer::stages::detect::{EyeFinder, Search};

/// Where deep (ONNX) models run, and how they read a face.
#[derive(Args, Clone)]
pub struct DeviceArgs {
    /// Device for deep (ONNX) models: cpu, cuda, or auto (CUDA when OpenCV has it).
    #[arg(long, default_value = "auto", value_parser = ["cpu", "cuda", "auto"])]
    pub device: String,
    /// Half precision on CUDA (DNN_TARGET_CUDA_FP16).
    #[arg(long)]
    pub fp16: bool,
    /// Test-time augmentation of deep models: flip averages each face with its mirror image (default: the model's own, none for most).
    #[arg(long, value_parser = ["none", "flip"])]
    pub tta: Option<String>,
}

impl DeviceArgs {
    pub fn options(&self) -> Result<LoadOptions> {
        Ok(LoadOptions {
            device: self.device.parse()?,
            fp16: self.fp16,
            tta: self.tta.as_deref().map(str::parse).transpose()?,
        })
    }
}

/// Detection options; for `batch` and `eval` they override the model's.
#[derive(Args, Clone)]
pub struct DetectArgs {
    /// Treat each whole image as one face (pre-cropped faces such as CK+48 or FER2013).
    #[arg(long)]
    pub no_detect: bool,
    /// Smallest face side in pixels.
    #[arg(long)]
    pub min_face: Option<i32>,
    /// Largest face side in pixels (0: no limit).
    #[arg(long)]
    pub max_face: Option<i32>,
    /// Haar pyramid scale step.
    #[arg(long)]
    pub scale_factor: Option<f64>,
    /// Haar neighbours needed to keep a face.
    #[arg(long)]
    pub min_neighbors: Option<i32>,
    /// Detect on a copy downscaled to at most this many pixels on its longer side (0: full size).
    #[arg(long)]
    pub detect_max_side: Option<i32>,
    /// Face search: `proposal` (a coarse pass proposes, the configured search confirms
    /// around each proposal; 1.6 to 2 times faster on this project's photos) or `full`
    /// (one search of the whole frame).
    #[arg(long, value_parser = Search::NAMES)]
    pub search: Option<String>,
    /// Do not look for eyes; align faces from their boxes.
    #[arg(long)]
    pub no_eyes: bool,
    /// How eyes are found: `cascade` (OpenCV's Haar eye cascade, about 5 ms a face)
    /// or `gradients` (where image gradients converge around each expected eye, about
    /// 0.3 ms, but less accurate: BENCHMARKS.md). Default: what the model was trained with.
    #[arg(long, value_parser = EyeFinder::NAMES, conflicts_with = "no_eyes")]
    pub eye_finder: Option<String>,
    /// Refuse images with more pixels than this (checked from the header).
    #[arg(long)]
    pub max_pixels: Option<u64>,
}

impl DetectArgs {
    /// The library's detection options these flags give.
    pub fn options(&self) -> DetectOptions {
        DetectOptions {
            no_detect: self.no_detect,
            min_face: self.min_face,
            max_face: self.max_face,
            scale_factor: self.scale_factor,
            min_neighbors: self.min_neighbors,
            detect_max_side: self.detect_max_side,
            search: self.search.clone(),
            no_eyes: self.no_eyes,
            eye_finder: self.eye_finder.clone(),
            max_pixels: self.max_pixels,
        }
    }

    /// Write the options given into `cfg`; the others keep `cfg`'s values.
    pub fn apply(&self, cfg: &mut PipelineConfig) -> Result<()> {
        Ok(self.options().apply(cfg)?)
    }
}
