//! The settings of every network trained by gradient (named after the MLP, whose
//! options they first were) and what the networks minimise: kept below both the
//! training loop ([`crate::model::net`]) and the networks, so neither imports the other.

use crate::error::{FerError, Result};
use serde::{Deserialize, Serialize};

/// What a network minimises; see the module doc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Objective {
    #[default]
    CrossEntropy,
    PartialLabels,
    LatentTruth,
}

impl Objective {
    /// The option that asks for it.
    pub fn flag(self) -> &'static str {
        match self {
            Objective::CrossEntropy => "(cross-entropy)",
            Objective::PartialLabels => "--partial-labels",
            Objective::LatentTruth => "--latent-truth",
        }
    }
}

/// MLP hyperparameters, before validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpParams {
    /// Hidden layer sizes.
    pub hidden: Vec<usize>,
    /// Dropout probability on each hidden layer's output (and on the input, halved).
    pub dropout: f32,
    /// AdamW learning rate.
    pub learning_rate: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Maximum epochs.
    pub epochs: usize,
    /// Mini-batch size.
    pub batch_size: usize,
    /// Stop after this many epochs without a better validation accuracy.
    pub patience: usize,
    /// Weight each class by the inverse of its frequency.
    pub class_balanced: bool,
    /// Seed for initialisation, shuffling and dropout.
    pub seed: u64,
    /// What the networks minimise (bundles written before it existed used cross-entropy).
    #[serde(default)]
    pub objective: Objective,
}

impl Default for MlpParams {
    fn default() -> Self {
        MlpParams {
            hidden: vec![256],
            dropout: 0.5,
            learning_rate: 1e-3,
            weight_decay: 1e-2,
            epochs: 80,
            batch_size: 64,
            patience: 12,
            class_balanced: true,
            seed: 7,
            objective: Objective::CrossEntropy,
        }
    }
}

/// Hyperparameters that passed [`MlpParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidMlpParams(MlpParams);

impl std::ops::Deref for ValidMlpParams {
    type Target = MlpParams;
    fn deref(&self) -> &MlpParams {
        &self.0
    }
}

impl ValidMlpParams {
    /// The same settings at `scale` times the learning rate (kept below 1).
    pub fn with_learning_rate_scale(&self, scale: f64) -> ValidMlpParams {
        ValidMlpParams(MlpParams {
            learning_rate: (self.learning_rate * scale).min(0.5),
            ..self.0.clone()
        })
    }
}

impl MlpParams {
    /// Validate once, before training.
    pub fn check(self) -> Result<ValidMlpParams> {
        if self.hidden.is_empty() || self.hidden.iter().any(|&h| h == 0 || h > 65_536) {
            return Err(FerError::param(
                "mlp.hidden",
                "needs 1 or more layers of 1..=65536 units",
            ));
        }
        if !(0.0..0.95).contains(&self.dropout) {
            return Err(FerError::param(
                "mlp.dropout",
                format!("must be in [0, 0.95), got {}", self.dropout),
            ));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate < 1.0) {
            return Err(FerError::param("mlp.learning_rate", "must be in (0, 1)"));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(FerError::param("mlp.weight_decay", "must be >= 0"));
        }
        if self.epochs == 0 || self.batch_size == 0 || self.patience == 0 {
            return Err(FerError::param(
                "mlp.epochs",
                "epochs, batch size and patience must be positive",
            ));
        }
        Ok(ValidMlpParams(self))
    }
}
