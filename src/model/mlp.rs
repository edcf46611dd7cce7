//! The MLP classifier in candle: `Linear -> ReLU -> Dropout` per hidden layer, then a
//! linear layer to class logits. Trained by [`crate::model::net::fit_net`]: AdamW on a
//! (by default class-balanced) cross-entropy, with early stopping on a validation
//! split (the best epoch's weights are kept). Its hyperparameters also drive the
//! other networks trained by gradient.

use crate::error::{FerError, Result};
use crate::model::net::{self, dropout, seeded_init, Net};
pub use crate::model::net::{EpochCallback, Objective, TrainReport, TrainSet};
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{Linear, Module, VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

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

/// The network. Weights are named `fc{i}.weight` / `fc{i}.bias` under the builder's path.
pub struct Mlp {
    layers: Vec<Linear>,
    dropout: f32,
}

impl Mlp {
    /// Build (or load) the layers from `vb`.
    pub fn new(
        vb: VarBuilder,
        input: usize,
        hidden: &[usize],
        classes: usize,
        dropout: f32,
    ) -> Result<Self> {
        let mut layers = Vec::with_capacity(hidden.len() + 1);
        let mut prev = input;
        for (i, &h) in hidden.iter().chain(std::iter::once(&classes)).enumerate() {
            layers.push(candle_nn::linear(prev, h, vb.pp(format!("fc{i}")))?);
            prev = h;
        }
        Ok(Mlp { layers, dropout })
    }

    /// Class logits for a batch `[n, input]`; with `dropout_rng`, in training mode
    /// (dropout masks drawn from that generator, so training is reproducible).
    pub fn forward_t(&self, x: &Tensor, mut dropout_rng: Option<&mut StdRng>) -> Result<Tensor> {
        let mut h = match dropout_rng.as_deref_mut() {
            Some(rng) if self.dropout > 0.0 => dropout(x, self.dropout / 2.0, rng)?,
            _ => x.clone(),
        };
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            h = layer.forward(&h)?;
            if i < last {
                h = h.relu()?;
                if let Some(rng) = dropout_rng.as_deref_mut() {
                    if self.dropout > 0.0 {
                        h = dropout(&h, self.dropout, rng)?;
                    }
                }
            }
        }
        Ok(h)
    }
}

impl Net for Mlp {
    fn log_probs(&self, x: &Tensor, rng: Option<&mut StdRng>) -> Result<Tensor> {
        Ok(candle_nn::ops::log_softmax(
            &self.forward_t(x, rng)?,
            D::Minus1,
        )?)
    }

    fn probabilities(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::softmax(
            &self.forward_t(x, None)?,
            D::Minus1,
        )?)
    }

    /// The logits: independent per-class scores, as the partial BCE wants them.
    fn scores(&self, x: &Tensor, rng: Option<&mut StdRng>) -> Result<Tensor> {
        self.forward_t(x, rng)
    }
}

/// Train an MLP into `varmap` (weights under `mlp.`). `train_rows` and `val_rows`
/// index into `set`; with no validation rows the last epoch is kept.
pub fn train(
    varmap: &VarMap,
    params: &ValidMlpParams,
    set: &TrainSet,
    classes: usize,
    train_rows: &[usize],
    val_rows: &[usize],
    on_epoch: &mut EpochCallback,
) -> Result<(Mlp, TrainReport)> {
    let mut rng = StdRng::seed_from_u64(params.seed);
    let vb = VarBuilder::from_varmap(varmap, DType::F32, &Device::Cpu);
    let mlp = Mlp::new(
        vb.pp("mlp"),
        set.dim,
        &params.hidden,
        classes,
        params.dropout,
    )?;
    seeded_init(varmap, &mut rng)?;
    let report = net::fit_net(
        &mlp, varmap, params, set, classes, train_rows, val_rows, &mut rng, on_epoch,
    )?;
    Ok((mlp, report))
}
