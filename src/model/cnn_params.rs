//! The CNN's shape and training settings, and what training records: the types
//! that both the network ([`crate::model::cnn`]) and its training
//! ([`crate::model::cnn_train`]) need, kept below both.

use crate::error::{FerError, Result};
use serde::{Deserialize, Serialize};

/// The shape of the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CnnArch {
    /// Input side in pixels (square, grey).
    pub input_size: usize,
    /// Channels of each stage; each stage halves the side.
    pub channels: Vec<usize>,
    /// GroupNorm groups (must divide every stage's channels).
    pub groups: usize,
}

impl Default for CnnArch {
    fn default() -> Self {
        CnnArch {
            input_size: 48,
            channels: vec![16, 32, 64],
            groups: 8,
        }
    }
}

impl CnnArch {
    /// Validate the shape.
    pub fn check(&self) -> Result<()> {
        if self.channels.is_empty() || self.channels.contains(&0) {
            return Err(FerError::param(
                "cnn.channels",
                "give one or more stages of >= 1 channels",
            ));
        }
        if self.groups == 0 || self.channels.iter().any(|c| c % self.groups != 0) {
            return Err(FerError::param(
                "cnn.groups",
                format!(
                    "{} groups must divide every stage's channels {:?}",
                    self.groups, self.channels
                ),
            ));
        }
        let smallest = 1usize << self.channels.len();
        if self.input_size < smallest || self.input_size > 512 {
            return Err(FerError::param(
                "cnn.input_size",
                format!(
                    "must be in {smallest}..=512 for {} stages",
                    self.channels.len()
                ),
            ));
        }
        Ok(())
    }
}

/// The batch size the learning rate is given for (linear scaling rule).
pub const LR_REFERENCE_BATCH: f64 = 256.0;

/// Git loss weights.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GitLoss {
    /// Weight of the center term (mean of half the squared distance to the own centre).
    pub center: f64,
    /// Weight of the push term (mean over samples of the sum over other centres of `1 / (1 + d^2)`).
    pub push: f64,
}

impl Default for GitLoss {
    fn default() -> Self {
        GitLoss {
            center: 0.01,
            push: 0.01,
        }
    }
}

/// Training settings, validated by [`CnnParams::check`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CnnParams {
    pub arch: CnnArch,
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate for a batch of 256; scaled linearly to `batch_size`.
    pub lr_per_256: f64,
    /// Epochs of linear warmup from 0 to the peak.
    pub warmup_epochs: usize,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Label smoothing epsilon: targets are `(1 - eps) * one_hot + eps / classes`.
    pub label_smoothing: f32,
    /// Mixup's Beta(alpha, alpha) parameter, in (0, 1]; 0 turns mixup off.
    pub mixup_alpha: f32,
    /// Git loss, or plain (smoothed, mixed) cross-entropy.
    pub git_loss: Option<GitLoss>,
    /// Flip half the crops of each batch left to right.
    pub mirror: bool,
    pub seed: u64,
    /// Weigh each crop's loss by `crops / (classes * crops of its class)`, so that every
    /// class weighs the same in total (as `fer train` does by default). Off by default
    /// here, and left out of the settings' JSON when off, so that the fingerprints of
    /// checkpoints written before it existed still match.
    #[serde(default, skip_serializing_if = "is_false")]
    pub class_balanced: bool,
}

/// For `skip_serializing_if`.
fn is_false(b: &bool) -> bool {
    !*b
}

impl Default for CnnParams {
    fn default() -> Self {
        CnnParams {
            arch: CnnArch::default(),
            epochs: 60,
            batch_size: 64,
            lr_per_256: 1e-2,
            warmup_epochs: 3,
            weight_decay: 5e-4,
            label_smoothing: 0.1,
            mixup_alpha: 0.2,
            git_loss: None,
            mirror: true,
            seed: 42,
            class_balanced: false,
        }
    }
}

/// Settings that passed [`CnnParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidCnnParams(CnnParams);

impl std::ops::Deref for ValidCnnParams {
    type Target = CnnParams;
    fn deref(&self) -> &CnnParams {
        &self.0
    }
}

impl CnnParams {
    /// Validate once, before training.
    pub fn check(self) -> Result<ValidCnnParams> {
        self.arch.check()?;
        if self.epochs == 0 || self.batch_size == 0 {
            return Err(FerError::param("cnn.epochs / batch_size", "must be >= 1"));
        }
        if !(self.lr_per_256 > 0.0 && self.lr_per_256.is_finite()) {
            return Err(FerError::param("cnn.lr", "must be > 0"));
        }
        if self.warmup_epochs >= self.epochs {
            return Err(FerError::param(
                "cnn.warmup_epochs",
                format!("must be fewer than the {} epochs", self.epochs),
            ));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(FerError::param("cnn.label_smoothing", "must be in [0, 1)"));
        }
        if !(0.0..=1.0).contains(&self.mixup_alpha) {
            return Err(FerError::param(
                "cnn.mixup_alpha",
                "must be in [0, 1] (0: no mixup)",
            ));
        }
        if self.weight_decay.is_nan() || self.weight_decay < 0.0 {
            return Err(FerError::param("cnn.weight_decay", "must be >= 0"));
        }
        if let Some(g) = self.git_loss {
            if !(g.center >= 0.0 && g.push >= 0.0) {
                return Err(FerError::param("cnn.git_loss", "weights must be >= 0"));
            }
        }
        Ok(ValidCnnParams(self))
    }
}

impl ValidCnnParams {
    /// The learning rate at optimiser step `step` of `total`: linear warmup over
    /// `warmup` steps to the batch-scaled peak, then cosine decay to 0.
    pub fn learning_rate(&self, step: usize, warmup: usize, total: usize) -> f64 {
        let peak = self.lr_per_256 * self.batch_size as f64 / LR_REFERENCE_BATCH;
        if step < warmup {
            return peak * (step + 1) as f64 / warmup as f64;
        }
        let t = (step - warmup) as f64 / (total - warmup).max(1) as f64;
        peak * 0.5 * (1.0 + (std::f64::consts::PI * t.min(1.0)).cos())
    }
}

/// What training reports, stored in the CNN file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CnnTrainingSummary {
    pub params: CnnParams,
    /// Training crops used, and images skipped (unreadable or without a face).
    pub samples: usize,
    pub skipped: usize,
    /// Where the crops came from.
    pub sources: Vec<String>,
    /// Mean training loss per epoch.
    pub loss: Vec<f32>,
    /// Accuracy on the (mixed, flipped) training batches per epoch, against the dominant label.
    pub train_accuracy: Vec<f32>,
    /// Accuracy on the validation crops (`train-cnn --validation-split`) per epoch;
    /// empty when the run had none. Validation never steers training.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation_accuracy: Vec<f32>,
    /// Where the validation crops came from, and how many there were.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub validation_sources: Vec<String>,
    #[serde(default)]
    pub validation_samples: usize,
    /// The vote file whose distributions were the targets (`train-cnn --votes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub votes: Option<String>,
}

/// A run's per-epoch curves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CnnCurves {
    /// Mean training loss.
    pub loss: Vec<f32>,
    /// Accuracy on the (mixed, flipped) training batches.
    pub train_accuracy: Vec<f32>,
    /// Accuracy on the validation crops; empty without them.
    pub validation_accuracy: Vec<f32>,
}
