//! `train-cnn` checkpoints: everything a run needs to go on from the end of an epoch
//! as if it had never stopped — the weights (Git centres included), AdamW's moments
//! and step count, the position of the random stream, the batch order (shuffled in
//! place each epoch, so it carries from one to the next) and the curves so far.
//!
//! One safetensors file, written atomically: tensors `weight.NAME`, `adam_m.NAME` and
//! `adam_v.NAME`, and a JSON header under [`CHECKPOINT_KEY`]. The header's
//! fingerprint hashes the training settings, the classes and every crop, so a
//! checkpoint of another run is refused instead of being continued on other data.

use crate::atomic_file::write_atomic;
use crate::error::{FerError, Result};
use crate::model::adamw::Moments;
use crate::model::bundle::read_capped;
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The safetensors metadata key of a checkpoint's header.
pub const CHECKPOINT_KEY: &str = "fer-cnn-checkpoint";
/// The header's format name and version.
pub const CHECKPOINT_FORMAT: &str = "fer-cnn-checkpoint";
pub const CHECKPOINT_VERSION: u32 = 1;
/// The largest checkpoint read (three copies of the weights, which are far smaller).
const MAX_CHECKPOINT_BYTES: u64 = 2 << 30;

const WEIGHT: &str = "weight.";
const FIRST_MOMENT: &str = "adam_m.";
const SECOND_MOMENT: &str = "adam_v.";

/// Where a training run keeps its checkpoints.
#[derive(Debug, Clone, Default)]
pub struct Checkpoints {
    /// Written atomically at the end of every epoch; `None`: no checkpoints.
    pub save_to: Option<PathBuf>,
    /// Go on from this checkpoint instead of starting afresh.
    pub resume_from: Option<PathBuf>,
}

/// The run's position at the end of an epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointHeader {
    pub format: String,
    pub version: u32,
    /// `cnn_train::run_fingerprint` of the run that wrote it.
    pub fingerprint: String,
    /// Epochs finished, and optimiser steps taken.
    pub epochs_done: usize,
    pub steps: usize,
    /// The random stream's word position (a u128, in decimal).
    pub rng_word_pos: String,
    /// The batch order after the last epoch's shuffle.
    pub order: Vec<u32>,
    /// Per-epoch loss and training accuracy so far.
    pub losses: Vec<f32>,
    pub accuracies: Vec<f32>,
    /// Per-epoch validation accuracy so far; empty for a run without validation
    /// crops (whose fingerprint says so).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation_accuracies: Vec<f32>,
}

/// A checkpoint read back: its header, the weights by name and the optimiser state.
pub struct Checkpoint {
    pub header: CheckpointHeader,
    pub weights: HashMap<String, Tensor>,
    pub moments: Vec<Moments>,
    /// The random stream's word position (the header's, parsed).
    pub rng_word_pos: u128,
}

impl Checkpoint {
    /// The header of the checkpoint at `path` (for its curves: `fer plot`), checked
    /// for format and version but not for which run it belongs to.
    pub fn read_header(path: &Path) -> Result<CheckpointHeader> {
        header_of(&read_capped(path, MAX_CHECKPOINT_BYTES)?, path)
    }

    /// Write `header`, the `weights` and the optimiser's `moments` to `path` atomically.
    pub fn save(
        path: &Path,
        header: &CheckpointHeader,
        weights: &[(String, Tensor)],
        moments: &[Moments],
    ) -> Result<()> {
        let json =
            serde_json::to_string(header).map_err(|e| FerError::model(path, e.to_string()))?;
        let mut tensors: Vec<(String, &Tensor)> = Vec::new();
        for (name, t) in weights {
            tensors.push((format!("{WEIGHT}{name}"), t));
        }
        for m in moments {
            tensors.push((format!("{FIRST_MOMENT}{}", m.name), &m.first));
            tensors.push((format!("{SECOND_MOMENT}{}", m.name), &m.second));
        }
        let bytes = safetensors::serialize(
            tensors.iter().map(|(n, t)| (n.as_str(), *t)),
            Some(HashMap::from([(CHECKPOINT_KEY.to_string(), json)])),
        )
        .map_err(|e| FerError::model(path, e.to_string()))?;
        write_atomic(path, &bytes)
    }

    /// Read a checkpoint and check that it belongs to the run of `fingerprint` and
    /// that its header is whole; shapes are checked when it is applied.
    pub fn load(path: &Path, fingerprint: &str) -> Result<Checkpoint> {
        let bytes = read_capped(path, MAX_CHECKPOINT_BYTES)?;
        let header = header_of(&bytes, path)?;
        if header.fingerprint != fingerprint {
            return Err(FerError::model(
                path,
                format!(
                    "it was written by a run with other settings or data (fingerprint {}, this run {fingerprint}); \
                     give the same options and data, or start afresh without --resume",
                    header.fingerprint
                ),
            ));
        }
        let rng_word_pos = header
            .rng_word_pos
            .parse::<u128>()
            .map_err(|_| FerError::model(path, "the random stream's position is not a number"))?;
        let mut tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| FerError::model(path, format!("tensors unreadable ({e})")))?;
        let mut weights = HashMap::new();
        let mut firsts = HashMap::new();
        let mut seconds = HashMap::new();
        for (name, t) in tensors.drain() {
            let t = t.to_dtype(DType::F32)?;
            if let Some(n) = name.strip_prefix(WEIGHT) {
                weights.insert(n.to_string(), t);
            } else if let Some(n) = name.strip_prefix(FIRST_MOMENT) {
                firsts.insert(n.to_string(), t);
            } else if let Some(n) = name.strip_prefix(SECOND_MOMENT) {
                seconds.insert(n.to_string(), t);
            } else {
                return Err(FerError::model(path, format!("unexpected tensor `{name}`")));
            }
        }
        let mut moments = Vec::new();
        for (name, first) in firsts {
            let second = seconds.remove(&name).ok_or_else(|| {
                FerError::model(path, format!("`{name}` has a first moment but no second"))
            })?;
            moments.push(Moments {
                name,
                first,
                second,
            });
        }
        if let Some(name) = seconds.keys().next() {
            return Err(FerError::model(
                path,
                format!("`{name}` has a second moment but no first"),
            ));
        }
        Ok(Checkpoint {
            header,
            weights,
            moments,
            rng_word_pos,
        })
    }
}

/// The header of checkpoint `bytes` (read from `path`), checked for format, version
/// and curves as long as the epochs done.
fn header_of(bytes: &[u8], path: &Path) -> Result<CheckpointHeader> {
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| FerError::model(path, format!("not a valid safetensors file ({e})")))?;
    let json = meta
        .metadata()
        .as_ref()
        .and_then(|m| m.get(CHECKPOINT_KEY))
        .ok_or_else(|| FerError::model(path, "no checkpoint header: not a train-cnn checkpoint"))?;
    let header: CheckpointHeader = serde_json::from_str(json)
        .map_err(|e| FerError::model(path, format!("checkpoint header unreadable ({e})")))?;
    if header.format != CHECKPOINT_FORMAT || header.version != CHECKPOINT_VERSION {
        return Err(FerError::model(
            path,
            format!(
                "header is {} version {}, expected {CHECKPOINT_FORMAT} version {CHECKPOINT_VERSION}",
                header.format, header.version
            ),
        ));
    }
    if header.losses.len() != header.epochs_done
        || header.accuracies.len() != header.epochs_done
        || !(header.validation_accuracies.is_empty()
            || header.validation_accuracies.len() == header.epochs_done)
    {
        return Err(FerError::model(
            path,
            "the curves do not match the epochs done",
        ));
    }
    Ok(header)
}

/// Whether `path` is a `train-cnn` checkpoint (reads only its JSON header).
pub fn is_checkpoint_file(path: &Path) -> bool {
    crate::model::cnn::metadata_format(path, CHECKPOINT_KEY).is_some_and(|f| f == CHECKPOINT_FORMAT)
}
