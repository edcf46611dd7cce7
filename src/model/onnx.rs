//! The deep-model stage: any ONNX expression classifier run by OpenCV's `dnn`,
//! described by a small JSON sidecar (input size, normalisation, class order).
//! It classifies the face *box* of the decoded (not denoised) grey frame,
//! resized bilinearly to the network's input, as the reference models were
//! trained; the faces of one image go through the network as one blob of up to
//! `max_batch` faces.
//!
//! Devices: `cpu` uses OpenCV's own backend; `cuda` and `auto` use
//! `DNN_BACKEND_CUDA` with `DNN_TARGET_CUDA` (or `DNN_TARGET_CUDA_FP16` with
//! `fp16`) when OpenCV was built with CUDA and sees a device, and otherwise say
//! in one log line that they run on the CPU. Debian's OpenCV 4.6 has no CUDA.

use crate::error::{FerError, Result};
use crate::gray::GrayImage;
use crate::model::bundle::read_capped;
use crate::model::FaceModel;
use crate::pipeline::{ImageReading, PipelineConfig};
use crate::workers::WorkerPool;
use opencv::core::{Mat, Rect, Scalar, Size, Vector, CV_32F};
use opencv::dnn::{self, Net};
use opencv::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Component, Path, PathBuf};

/// The `format` field of every sidecar.
pub const ONNX_FORMAT: &str = "fer-onnx";
/// Sidecars and networks larger than this are refused before reading.
pub const MAX_ONNX_BYTES: u64 = 512 << 20;
/// How far above 1 a network's output may round and still count as a probability.
const PROBABILITY_SLACK: f32 = 1e-4;
/// Largest network input side accepted.
pub const MAX_INPUT_SIDE: i32 = 1024;

/// The sidecar: what the network expects and what it outputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OnnxSpec {
    /// Always [`ONNX_FORMAT`].
    pub format: String,
    /// The ONNX file, relative to the sidecar.
    pub onnx: String,
    /// Input side in pixels (square input).
    pub input_size: i32,
    /// Input channels: 1 (grey), or 3 (the grey face replicated to three
    /// channels, for networks trained on colour; channel order does not matter then).
    pub channels: i32,
    /// Pixel normalisation: `(x - mean) * scale`.
    pub mean: f64,
    pub scale: f64,
    /// Output classes, in output order (canonical names).
    pub classes: Vec<String>,
    /// Most faces per forward pass. Networks exported with a fixed batch of one
    /// (like the shipped mini-Xception, whose graph reshapes to `[1, 7]`) need 1.
    #[serde(default = "one")]
    pub max_batch: usize,
    /// Where the weights come from, for `--help`-level descriptions and model cards.
    #[serde(default)]
    pub description: String,
}

/// Which device runs the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DnnDevice {
    Cpu,
    Cuda,
    /// CUDA when available, the CPU otherwise.
    Auto,
}

impl std::str::FromStr for DnnDevice {
    type Err = FerError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(DnnDevice::Cpu),
            "cuda" => Ok(DnnDevice::Cuda),
            "auto" => Ok(DnnDevice::Auto),
            _ => Err(FerError::param(
                "device",
                format!("`{s}` is not one of cpu, cuda, auto"),
            )),
        }
    }
}

/// Whether OpenCV's `dnn` can run networks on a CUDA device.
pub fn cuda_available() -> bool {
    dnn::get_available_targets(dnn::Backend::DNN_BACKEND_CUDA)
        .is_ok_and(|t| t.iter().any(|x| x == dnn::Target::DNN_TARGET_CUDA))
}

fn one() -> usize {
    1
}

/// Largest `max_batch` accepted.
pub const MAX_BATCH: usize = 1024;

/// The part of `frame` inside the face box `[x, y, w, h]` (clipped to the frame), copied.
pub fn crop_box(frame: &GrayImage, b: [i32; 4]) -> Result<Mat> {
    let full = Rect::new(0, 0, frame.width() as i32, frame.height() as i32);
    let r = Rect::new(b[0], b[1], b[2], b[3]) & full;
    if r.width <= 0 || r.height <= 0 {
        return Err(FerError::param(
            "face box",
            format!(
                "{b:?} lies outside the {}x{} frame",
                full.width, full.height
            ),
        ));
    }
    Ok(Mat::roi(frame.mat(), r)?.try_clone()?)
}

/// `crop` resized bilinearly to `side` x `side`, as networks take their input.
pub fn resize_square(crop: &Mat, side: i32) -> Result<Mat> {
    let mut r = Mat::default();
    opencv::imgproc::resize(
        crop,
        &mut r,
        Size::new(side, side),
        0.0,
        0.0,
        opencv::imgproc::INTER_LINEAR,
    )?;
    Ok(r)
}

impl OnnxSpec {
    /// Validate a sidecar read from `path`.
    pub fn check(&self, path: &Path) -> Result<()> {
        if self.format != ONNX_FORMAT {
            return Err(FerError::model(
                path,
                format!(
                    "sidecar format is `{}`, expected `{ONNX_FORMAT}`",
                    self.format
                ),
            ));
        }
        if !in_own_folder(&self.onnx) {
            return Err(FerError::model(
                path,
                format!(
                    "`onnx` must name a file in the sidecar's own folder, not `{}`",
                    self.onnx
                ),
            ));
        }
        if !(8..=MAX_INPUT_SIDE).contains(&self.input_size) {
            return Err(FerError::model(
                path,
                format!(
                    "input_size {} outside 8..={MAX_INPUT_SIDE}",
                    self.input_size
                ),
            ));
        }
        if self.channels != 1 && self.channels != 3 {
            return Err(FerError::model(
                path,
                format!(
                    "{} input channels; the pipeline feeds grey faces (1 channel, or 3 with the grey replicated)",
                    self.channels
                ),
            ));
        }
        if !(self.scale.is_finite() && self.scale != 0.0 && self.mean.is_finite()) {
            return Err(FerError::model(
                path,
                "mean and scale must be finite, scale non-zero",
            ));
        }
        if !(1..=MAX_BATCH).contains(&self.max_batch) {
            return Err(FerError::model(
                path,
                format!("max_batch {} outside 1..={MAX_BATCH}", self.max_batch),
            ));
        }
        if self.classes.len() < 2 {
            return Err(FerError::model(path, "fewer than 2 classes"));
        }
        for c in &self.classes {
            if crate::dataset::normalise_label(c) != Some(c.as_str()) {
                return Err(FerError::model(
                    path,
                    format!("class `{c}` is not a canonical class name"),
                ));
            }
        }
        Ok(())
    }
}

/// Whether `name`, as a sidecar writes it, names a file in the sidecar's own folder
/// (or below it): not empty, not absolute, no `..`. A sidecar handed over with a
/// model must not make fer read files elsewhere.
pub fn in_own_folder(name: &str) -> bool {
    !name.is_empty()
        && Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// An ONNX expression classifier. Each worker thread gets its own OpenCV `Net`.
pub struct OnnxModel {
    spec: OnnxSpec,
    sidecar_path: PathBuf,
    onnx_path: PathBuf,
    /// The network's bytes, as read and checked at load.
    network: Vec<u8>,
    device: DnnDevice,
    fp16: bool,
    nets: WorkerPool<Net>,
    /// The device actually used ("cpu" or "cuda").
    pub runs_on: &'static str,
}

impl OnnxModel {
    /// Read the sidecar at `path` and load its network once (to fail early).
    pub fn load(path: &Path, device: DnnDevice, fp16: bool) -> Result<Self> {
        let meta = std::fs::metadata(path).map_err(|e| FerError::model(path, e.to_string()))?;
        if meta.len() > MAX_ONNX_BYTES {
            return Err(FerError::model(path, "sidecar too large"));
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| FerError::model(path, e.to_string()))?;
        let spec: OnnxSpec = serde_json::from_str(&text)
            .map_err(|e| FerError::model(path, format!("not a fer-onnx sidecar ({e})")))?;
        spec.check(path)?;
        let onnx_path = path.parent().unwrap_or(Path::new(".")).join(&spec.onnx);
        // Read once and checked, since OpenCV's importer crashes on some malformed
        // graphs; every worker's network is built from these same bytes, so a file
        // changed after the check is never read.
        let network = read_capped(&onnx_path, MAX_ONNX_BYTES)?;
        super::onnx_check::check_network(&network, &onnx_path)?;
        let cuda = device != DnnDevice::Cpu && cuda_available();
        let runs_on = if cuda { "cuda" } else { "cpu" };
        if device != DnnDevice::Cpu && !cuda {
            tracing::info!("deep model runs on the CPU: this OpenCV offers no CUDA target (built without CUDA, or no device)");
        }
        let model = OnnxModel {
            spec,
            sidecar_path: path.to_path_buf(),
            onnx_path,
            network,
            device,
            fp16,
            nets: WorkerPool::default(),
            runs_on,
        };
        let net = model.open()?;
        model.nets.with(|| Ok(net), |_| ())?;
        Ok(model)
    }

    fn open(&self) -> Result<Net> {
        let mut net =
            dnn::read_net_from_onnx_buffer(&Vector::from_slice(&self.network)).map_err(|e| {
                FerError::model(&self.onnx_path, format!("OpenCV cannot read it ({e})"))
            })?;
        if self.runs_on == "cuda" {
            net.set_preferable_backend(dnn::DNN_BACKEND_CUDA)?;
            net.set_preferable_target(if self.fp16 {
                dnn::DNN_TARGET_CUDA_FP16
            } else {
                dnn::DNN_TARGET_CUDA
            })?;
        } else {
            net.set_preferable_backend(dnn::DNN_BACKEND_OPENCV)?;
            net.set_preferable_target(dnn::DNN_TARGET_CPU)?;
        }
        Ok(net)
    }

    /// The sidecar.
    pub fn spec(&self) -> &OnnxSpec {
        &self.spec
    }

    /// Bytes of the sidecar and the network on disk.
    pub fn size_on_disk(&self) -> u64 {
        [self.sidecar_path.as_path(), self.onnx_path.as_path()]
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum()
    }

    /// The device asked for.
    pub fn device(&self) -> DnnDevice {
        self.device
    }

    /// Class probabilities for face boxes `[x, y, w, h]` of the grey `frame`, in one batch.
    pub fn classify_boxes(&self, frame: &GrayImage, boxes: &[[i32; 4]]) -> Result<Vec<Vec<f32>>> {
        if boxes.is_empty() {
            return Ok(Vec::new());
        }
        let mut crops = Vector::<Mat>::new();
        for b in boxes {
            crops.push(crop_box(frame, *b)?);
        }
        self.classify_crops(&crops)
    }

    /// Class probabilities for grey face crops of any size (resized bilinearly),
    /// `max_batch` faces per forward pass.
    pub fn classify_crops(&self, crops: &Vector<Mat>) -> Result<Vec<Vec<f32>>> {
        let side = self.spec.input_size;
        let mut resized = Vec::with_capacity(crops.len());
        for c in crops.iter() {
            let grey = resize_square(&c, side)?;
            resized.push(if self.spec.channels == 3 {
                let mut three = Mat::default();
                opencv::imgproc::cvt_color_def(&grey, &mut three, opencv::imgproc::COLOR_GRAY2BGR)?;
                three
            } else {
                grey
            });
        }
        let mut out = Vec::with_capacity(resized.len());
        for chunk in resized.chunks(self.spec.max_batch) {
            out.extend(self.forward(&Vector::from_iter(chunk.iter().cloned()))?);
        }
        Ok(out)
    }

    /// One forward pass over already resized crops.
    fn forward(&self, resized: &Vector<Mat>) -> Result<Vec<Vec<f32>>> {
        let side = self.spec.input_size;
        let m = self.spec.mean;
        let blob = dnn::blob_from_images(
            resized,
            self.spec.scale,
            Size::new(side, side),
            Scalar::new(m, m, m, 0.0),
            false,
            false,
            CV_32F,
        )?;
        let flat = self.nets.with(
            || self.open(),
            |net| -> Result<Vec<f32>> {
                net.set_input(&blob, "", 1.0, Scalar::default())?;
                let out = net.forward_single("")?;
                // The output shares memory with the network (OpenCV returns its own
                // blob; tests/deep.rs shows the next pass overwriting it), so it is
                // copied before the network goes back to the pool, where another
                // worker's pass could overwrite it while it is read.
                Ok(out.data_typed::<f32>()?.to_vec())
            },
        )??;
        let k = self.spec.classes.len();
        let n = resized.len();
        if flat.len() != n * k {
            return Err(FerError::model(
                &self.onnx_path,
                format!(
                    "network gave {} outputs for {n} faces of {k} classes",
                    flat.len()
                ),
            ));
        }
        // A damaged network, or a sidecar whose scale overflows the input, gives
        // NaN or values that are no probabilities: an error, never a row.
        if let Some(v) = flat
            .iter()
            .find(|v| !(v.is_finite() && (0.0..=1.0 + PROBABILITY_SLACK).contains(*v)))
        {
            return Err(FerError::model(
                &self.onnx_path,
                format!(
                    "network gave {v}, not a probability (sidecar {})",
                    self.sidecar_path.display()
                ),
            ));
        }
        Ok(flat.chunks(k).map(|c| c.to_vec()).collect())
    }
}

impl FaceModel for OnnxModel {
    fn classes(&self) -> &[String] {
        &self.spec.classes
    }

    fn pipeline(&self) -> PipelineConfig {
        PipelineConfig::default()
    }

    fn classify_faces(&self, frame: &GrayImage, reading: &ImageReading) -> Result<Vec<Vec<f32>>> {
        let boxes: Vec<[i32; 4]> = reading.faces.iter().map(|f| f.bbox).collect();
        self.classify_boxes(frame, &boxes)
    }

    fn reads_pixels(&self) -> bool {
        true
    }

    fn bytes_on_disk(&self) -> u64 {
        self.size_on_disk()
    }
}
