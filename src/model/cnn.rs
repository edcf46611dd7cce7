//! A small CNN of our own, trained from scratch (no pre-training) on grey face
//! crops: stages of two 3x3 convolutions, each followed by GroupNorm (which, unlike
//! BatchNorm, behaves the same for any batch size, as He et al., "Rethinking
//! ImageNet Pre-training", recommend for training from scratch) and ReLU, then 2x2
//! max pooling; global average pooling gives the embedding, and one linear layer the
//! class scores. Weights start from He (Kaiming normal, fan-in) initialisation,
//! drawn from the run's seed. On the CPU the convolutions and GroupNorm are our own
//! candle ops ([`crate::model::conv3x3`], [`crate::model::group_norm`]): the same
//! arithmetic as candle's, trained 2.4 times as fast (`BENCHMARKS.md`).
//!
//! Like the ONNX stage it reads the face *box* of the decoded grey frame, resized
//! bilinearly to the input side, scaled to `x / 127.5 - 1`. Training is in
//! [`crate::model::cnn_train`]. The network runs on the CPU: this build has no
//! candle `cuda` feature.

use crate::atomic_file::write_atomic;
use crate::error::{FerError, Result};
use crate::gray::GrayImage;
use crate::model::bundle::read_capped;
pub use crate::model::cnn_params::{CnnArch, CnnTrainingSummary};
use crate::model::conv3x3::Conv3x3;
use crate::model::group_norm::GroupNorm;
use crate::model::onnx::{crop_box, resize_square};
use crate::model::FaceModel;
use crate::pipeline::{ImageReading, PipelineConfig};
use candle_core::{DType, Device, Module, Tensor, D};
use candle_nn::{Linear, VarBuilder, VarMap};
use opencv::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// The `format` of a CNN file's header.
pub const CNN_FORMAT: &str = "fer-cnn";
/// Header layout version.
pub const CNN_SCHEMA_VERSION: u32 = 1;
/// The safetensors metadata key holding the header (the same key as bundles).
pub const HEADER_KEY: &str = "fer";
/// Files larger than this are refused before reading.
pub const MAX_CNN_BYTES: u64 = 512 << 20;
/// GroupNorm's epsilon (PyTorch's default).
const GROUP_NORM_EPS: f64 = 1e-5;
/// Pixels are scaled to `x / PIXEL_HALF - 1`, into [-1, 1].
pub const PIXEL_HALF: f32 = 127.5;

/// One stage: two convolutions with GroupNorm and ReLU, then 2x2 max pooling.
struct Stage {
    convs: [(Conv3x3, GroupNorm); 2],
}

impl Stage {
    fn new(c_in: usize, c_out: usize, groups: usize, vb: VarBuilder) -> Result<Self> {
        let layer = |i: usize, c_in: usize| -> Result<(Conv3x3, GroupNorm)> {
            let conv = Conv3x3::new(c_in, c_out, vb.pp(format!("conv{i}")))?;
            let norm = GroupNorm::new(groups, c_out, GROUP_NORM_EPS, vb.pp(format!("norm{i}")))?;
            Ok((conv, norm))
        };
        Ok(Stage {
            convs: [layer(1, c_in)?, layer(2, c_out)?],
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for (conv, norm) in &self.convs {
            x = norm.forward_relu(&conv.forward(&x)?)?;
        }
        Ok(x.max_pool2d(2)?)
    }
}

/// The network. Weights are named `cnn.stage{i}.conv{1,2}.weight`,
/// `cnn.stage{i}.norm{1,2}.{weight,bias}` and `cnn.head.{weight,bias}`.
pub struct Cnn {
    stages: Vec<Stage>,
    head: Linear,
}

impl Cnn {
    /// Build (or load, depending on `vb`) a network for `classes` outputs.
    pub fn new(arch: &CnnArch, classes: usize, vb: VarBuilder) -> Result<Self> {
        arch.check()?;
        let vb = vb.pp("cnn");
        let mut stages = Vec::with_capacity(arch.channels.len());
        let mut c_in = 1;
        for (i, &c) in arch.channels.iter().enumerate() {
            stages.push(Stage::new(
                c_in,
                c,
                arch.groups,
                vb.pp(format!("stage{i}")),
            )?);
            c_in = c;
        }
        let head = candle_nn::linear(c_in, classes, vb.pp("head"))?;
        Ok(Cnn { stages, head })
    }

    /// The embedding `[n, channels]` (global average pool of the last stage) of a batch `[n, 1, side, side]`.
    pub fn embed(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = x.clone();
        for s in &self.stages {
            x = s.forward(&x)?;
        }
        Ok(x.mean(D::Minus1)?.mean(D::Minus1)?)
    }

    /// Class scores `[n, classes]` of embeddings.
    pub fn logits(&self, embedding: &Tensor) -> Result<Tensor> {
        Ok(self.head.forward(embedding)?)
    }
}

/// What a CNN file says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CnnHeader {
    /// Always [`CNN_FORMAT`].
    pub format: String,
    /// [`CNN_SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Output classes, in output order.
    pub classes: Vec<String>,
    pub arch: CnnArch,
    /// The pipeline that found the faces it was trained on (detection settings).
    pub pipeline: PipelineConfig,
    /// Training settings and curves.
    pub training: CnnTrainingSummary,
}

/// A trained CNN ready to classify faces.
pub struct CnnModel {
    header: CnnHeader,
    net: Cnn,
    varmap: VarMap,
}

/// Crops per forward pass when reading many (a fold's test crops in `fer compare
/// --cnn`): bounds the activations to a few tens of megabytes, whatever the count.
pub const INFERENCE_BATCH: usize = 256;

/// The most bytes of safetensors JSON header [`is_cnn_file`] reads.
const MAX_HEADER_BYTES: u64 = 16 << 20;

/// The `format` field of the JSON kept under `key` in the safetensors metadata of
/// `path`, if it has one. Reads only the file's JSON header (its length comes first,
/// as 8 little-endian bytes), so asking is cheap for any file.
pub(crate) fn metadata_format(path: &Path, key: &str) -> Option<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).ok()?;
    let len = u64::from_le_bytes(len);
    if len > MAX_HEADER_BYTES {
        return None;
    }
    let mut json = vec![0u8; len as usize];
    file.read_exact(&mut json).ok()?;
    let header: serde_json::Value = serde_json::from_slice(&json).ok()?;
    let ours = header.get("__metadata__")?.get(key)?.as_str()?;
    let ours: serde_json::Value = serde_json::from_str(ours).ok()?;
    Some(ours.get("format")?.as_str()?.to_string())
}

/// Whether `path` is a safetensors file whose `fer` header is of the CNN format.
pub fn is_cnn_file(path: &Path) -> bool {
    metadata_format(path, HEADER_KEY).is_some_and(|f| f == CNN_FORMAT)
}

impl CnnModel {
    /// Wrap a trained network.
    pub fn new(header: CnnHeader, net: Cnn, varmap: VarMap) -> Self {
        CnnModel {
            header,
            net,
            varmap,
        }
    }

    /// The header.
    pub fn header(&self) -> &CnnHeader {
        &self.header
    }

    /// Write the weights and header atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes()?)
    }

    /// The file [`CnnModel::save`] writes, as bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let unwritable = |e: String| FerError::Training(format!("CNN not serialisable: {e}"));
        let header = serde_json::to_string(&self.header).map_err(|e| unwritable(e.to_string()))?;
        let data = self
            .varmap
            .data()
            .lock()
            .map_err(|_| FerError::Training("weight store poisoned".into()))?;
        let mut names: Vec<&String> = data.keys().filter(|n| n.starts_with("cnn.")).collect();
        names.sort();
        let tensors: Vec<(&str, &Tensor)> = names
            .iter()
            .map(|n| (n.as_str(), data[*n].as_tensor()))
            .collect();
        safetensors::serialize(
            tensors,
            Some(HashMap::from([(HEADER_KEY.to_string(), header)])),
        )
        .map_err(|e| unwritable(e.to_string()))
    }

    /// Read and validate a CNN file.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = read_capped(path, MAX_CNN_BYTES)?;
        let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| FerError::model(path, format!("not a valid safetensors file ({e})")))?;
        let json = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get(HEADER_KEY))
            .ok_or_else(|| FerError::model(path, "no `fer` header: not a fer CNN"))?;
        let header: CnnHeader = serde_json::from_str(json).map_err(|e| {
            FerError::model(path, format!("header does not match the CNN schema ({e})"))
        })?;
        if header.format != CNN_FORMAT || header.schema_version != CNN_SCHEMA_VERSION {
            return Err(FerError::model(
                path,
                format!(
                    "header is {} version {}, expected {CNN_FORMAT} version {CNN_SCHEMA_VERSION}",
                    header.format, header.schema_version
                ),
            ));
        }
        if header.classes.len() < 2 {
            return Err(FerError::model(path, "fewer than 2 classes"));
        }
        header
            .arch
            .check()
            .map_err(|e| FerError::model(path, e.to_string()))?;
        header
            .pipeline
            .check()
            .map_err(|e| FerError::model(path, format!("pipeline config in header: {e}")))?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| FerError::model(path, format!("weights unreadable ({e})")))?;
        let varmap = VarMap::new();
        let net = {
            let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
            Cnn::new(&header.arch, header.classes.len(), vb)
                .map_err(|e| FerError::model(path, e.to_string()))?
        };
        {
            let data = varmap
                .data()
                .lock()
                .map_err(|_| FerError::Training("weight store poisoned".into()))?;
            for (name, var) in data.iter() {
                let t = tensors
                    .get(name)
                    .ok_or_else(|| FerError::model(path, format!("weight `{name}` is missing")))?;
                if t.dims() != var.dims() {
                    return Err(FerError::model(
                        path,
                        format!(
                            "weight `{name}` has shape {:?}, expected {:?}",
                            t.dims(),
                            var.dims()
                        ),
                    ));
                }
                var.set(&t.to_dtype(DType::F32)?)
                    .map_err(|e| FerError::model(path, e.to_string()))?;
            }
        }
        Ok(CnnModel {
            header,
            net,
            varmap,
        })
    }

    /// Class probabilities of `n` grey crops already resized to the input side,
    /// row-major, run through the network [`INFERENCE_BATCH`] at a time.
    pub fn probabilities(&self, pixels: &[u8], n: usize) -> Result<Vec<Vec<f32>>> {
        let side = self.header.arch.input_size;
        if pixels.len() != n * side * side {
            return Err(FerError::param(
                "crops",
                format!("{} bytes are not {n} crops of {side}x{side}", pixels.len()),
            ));
        }
        let mut out = Vec::with_capacity(n);
        for chunk in pixels.chunks(INFERENCE_BATCH * side * side) {
            let x = to_input(chunk, chunk.len() / (side * side), side, &Device::Cpu)?;
            let p = candle_nn::ops::softmax_last_dim(&self.net.logits(&self.net.embed(&x)?)?)?;
            out.extend(p.to_vec2::<f32>()?);
        }
        Ok(out)
    }
}

/// A batch of `n` grey crops of `side` x `side` bytes as the network's input `[n, 1, side, side]`.
pub fn to_input(pixels: &[u8], n: usize, side: usize, dev: &Device) -> Result<Tensor> {
    let x: Vec<f32> = pixels
        .iter()
        .map(|&p| p as f32 / PIXEL_HALF - 1.0)
        .collect();
    Ok(Tensor::from_vec(x, (n, 1, side, side), dev)?)
}

/// The face box `bbox` of `frame`, resized bilinearly to `side` x `side`, row-major bytes.
pub fn box_pixels(frame: &GrayImage, bbox: [i32; 4], side: usize) -> Result<Vec<u8>> {
    let resized = resize_square(&crop_box(frame, bbox)?, side as i32)?;
    Ok(resized.data_bytes()?.to_vec())
}

impl FaceModel for CnnModel {
    fn classes(&self) -> &[String] {
        &self.header.classes
    }

    fn pipeline(&self) -> PipelineConfig {
        self.header.pipeline
    }

    fn classify_faces(&self, frame: &GrayImage, reading: &ImageReading) -> Result<Vec<Vec<f32>>> {
        let side = self.header.arch.input_size;
        let mut pixels = Vec::with_capacity(reading.faces.len() * side * side);
        for f in &reading.faces {
            pixels.extend(box_pixels(frame, f.bbox, side)?);
        }
        self.probabilities(&pixels, reading.faces.len())
    }

    fn reads_pixels(&self) -> bool {
        true
    }
}
