//! The MLP classifier in candle: `Linear -> ReLU -> Dropout` per hidden layer, then a
//! linear layer to class logits. Trained by [`crate::model::net::fit_net`]: AdamW on a
//! (by default class-balanced) cross-entropy, with early stopping on a validation
//! split (the best epoch's weights are kept). Its hyperparameters also drive the
//! other networks trained by gradient.

use crate::error::Result;
use crate::model::learner::{Classify, FitJob, Fitted, Learner, LoadJob, Trained};
use crate::model::net::{self, dropout, seeded_init, Net};
pub use crate::model::net::{EpochCallback, TrainReport, TrainSet};
pub use crate::model::net_params::{MlpParams, Objective, ValidMlpParams};
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{Linear, Module, VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::time::Instant;

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

/// The `mlp` kind.
pub struct MlpKind;

impl Learner for MlpKind {
    fn name(&self) -> &'static str {
        "mlp"
    }
    fn is_network(&self) -> bool {
        true
    }
    fn fit(&self, job: &FitJob, _: &mut Trained, on_epoch: &mut EpochCallback) -> Result<Fitted> {
        let started = Instant::now();
        let varmap = VarMap::new();
        let (m, report) = train(
            &varmap,
            job.params,
            job.set,
            job.classes,
            &job.split.train,
            &job.split.val,
            on_epoch,
        )?;
        Ok(Fitted::new(m, net::weights(&varmap)?, report, started))
    }
    fn load(&self, job: &LoadJob) -> Result<Box<dyn Classify>> {
        Ok(Box::new(Mlp::new(
            job.vars().pp("mlp"),
            job.dim,
            &job.mlp.hidden,
            job.classes,
            job.mlp.dropout,
        )?))
    }
}
