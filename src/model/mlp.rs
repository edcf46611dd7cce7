//! The MLP classifier in candle: `Linear -> ReLU -> Dropout` per hidden layer, then a
//! linear layer to class logits. Trained with AdamW on a class-balanced
//! cross-entropy, with early stopping on a validation split (the best epoch's
//! weights are kept).

use crate::error::{FerError, Result};
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{AdamW, Linear, Module, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
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

impl MlpParams {
    /// Validate once, before training.
    pub fn check(self) -> Result<ValidMlpParams> {
        if self.hidden.is_empty() || self.hidden.iter().any(|&h| h == 0 || h > 65_536) {
            return Err(FerError::param("mlp.hidden", "needs 1 or more layers of 1..=65536 units"));
        }
        if !(0.0..0.95).contains(&self.dropout) {
            return Err(FerError::param("mlp.dropout", format!("must be in [0, 0.95), got {}", self.dropout)));
        }
        if !(self.learning_rate > 0.0 && self.learning_rate < 1.0) {
            return Err(FerError::param("mlp.learning_rate", "must be in (0, 1)"));
        }
        if !(self.weight_decay >= 0.0 && self.weight_decay.is_finite()) {
            return Err(FerError::param("mlp.weight_decay", "must be >= 0"));
        }
        if self.epochs == 0 || self.batch_size == 0 || self.patience == 0 {
            return Err(FerError::param("mlp.epochs", "epochs, batch size and patience must be positive"));
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
    pub fn new(vb: VarBuilder, input: usize, hidden: &[usize], classes: usize, dropout: f32) -> Result<Self> {
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

    /// Class probabilities for a batch `[n, input]`.
    pub fn probabilities(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::softmax(&self.forward_t(x, None)?, D::Minus1)?)
    }
}

/// What training reports.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Epochs run.
    pub epochs_run: usize,
    /// Epoch whose weights were kept (1-based).
    pub best_epoch: usize,
    /// Validation accuracy of the kept weights (training accuracy when there is no validation set).
    pub val_accuracy: f32,
    /// Training loss per epoch.
    pub train_loss: Vec<f32>,
    /// Validation accuracy per epoch.
    pub val_accuracy_curve: Vec<f32>,
}

/// Per-epoch progress, for a progress bar.
pub type EpochCallback<'a> = dyn FnMut(usize, usize, f32, f32) + 'a;

/// Normalised training matrices.
pub struct TrainSet<'a> {
    /// Row-major features `[n, dim]`, already normalised.
    pub x: &'a [f32],
    /// Class index per row.
    pub y: &'a [u32],
    /// Feature dimension.
    pub dim: usize,
}

fn to_tensor(set: &TrainSet, rows: &[usize], dev: &Device) -> Result<(Tensor, Tensor)> {
    let mut xs = Vec::with_capacity(rows.len() * set.dim);
    let mut ys = Vec::with_capacity(rows.len());
    for &r in rows {
        xs.extend_from_slice(&set.x[r * set.dim..(r + 1) * set.dim]);
        ys.push(set.y[r]);
    }
    Ok((Tensor::from_vec(xs, (rows.len(), set.dim), dev)?, Tensor::from_vec(ys, rows.len(), dev)?))
}

fn accuracy(mlp: &Mlp, set: &TrainSet, rows: &[usize], dev: &Device) -> Result<f32> {
    if rows.is_empty() {
        return Ok(0.0);
    }
    let (x, y) = to_tensor(set, rows, dev)?;
    let pred = mlp.forward_t(&x, None)?.argmax(D::Minus1)?;
    let correct = pred.eq(&y)?.to_dtype(DType::F32)?.sum_all()?.to_scalar::<f32>()?;
    Ok(correct / rows.len() as f32)
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
    if train_rows.is_empty() {
        return Err(FerError::Training("no training samples".into()));
    }
    let dev = Device::Cpu;
    let mut rng = StdRng::seed_from_u64(params.seed);
    let vb = VarBuilder::from_varmap(varmap, DType::F32, &dev);
    let mlp = Mlp::new(vb.pp("mlp"), set.dim, &params.hidden, classes, params.dropout)?;
    seeded_init(varmap, &mut rng)?;
    let mut counts = vec![0usize; classes];
    for &r in train_rows {
        counts[set.y[r] as usize] += 1;
    }
    let weights: Vec<f32> = counts
        .iter()
        .map(|&c| if params.class_balanced && c > 0 { train_rows.len() as f32 / (classes as f32 * c as f32) } else { 1.0 })
        .collect();
    let class_w = Tensor::from_vec(weights, classes, &dev)?;
    let mut opt = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW { lr: params.learning_rate, weight_decay: params.weight_decay, ..Default::default() },
    )?;
    let mut order = train_rows.to_vec();
    // (validation accuracy, epoch, weights) of the best epoch so far.
    let mut best: Option<(f32, usize, Snapshot)> = None;
    let mut report = TrainReport { epochs_run: 0, best_epoch: 0, val_accuracy: 0.0, train_loss: vec![], val_accuracy_curve: vec![] };
    for epoch in 1..=params.epochs {
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0f32;
        let mut batches = 0usize;
        for chunk in order.chunks(params.batch_size) {
            let (x, y) = to_tensor(set, chunk, &dev)?;
            let logits = mlp.forward_t(&x, Some(&mut rng))?;
            let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
            let picked = logp.gather(&y.unsqueeze(1)?, 1)?.squeeze(1)?;
            let w = class_w.index_select(&y, 0)?;
            let loss = ((picked * &w)?.sum_all()?.neg()? / w.sum_all()?.to_scalar::<f32>()? as f64)?;
            opt.backward_step(&loss)?;
            loss_sum += loss.to_scalar::<f32>()?;
            batches += 1;
        }
        let train_loss = loss_sum / batches.max(1) as f32;
        let val_acc = if val_rows.is_empty() { accuracy(&mlp, set, train_rows, &dev)? } else { accuracy(&mlp, set, val_rows, &dev)? };
        report.epochs_run = epoch;
        report.train_loss.push(train_loss);
        report.val_accuracy_curve.push(val_acc);
        on_epoch(epoch, params.epochs, train_loss, val_acc);
        if val_rows.is_empty() {
            continue; // no early stopping: the last epoch is kept
        }
        if best.as_ref().is_none_or(|b| val_acc > b.0) {
            best = Some((val_acc, epoch, snapshot(varmap)?));
        } else if epoch - best.as_ref().map_or(0, |b| b.1) >= params.patience {
            break;
        }
    }
    match best {
        Some((acc, epoch, weights)) => {
            restore(varmap, &weights)?;
            report.best_epoch = epoch;
            report.val_accuracy = acc;
        }
        None => {
            report.best_epoch = report.epochs_run;
            report.val_accuracy = report.val_accuracy_curve.last().copied().unwrap_or(0.0);
        }
    }
    Ok((mlp, report))
}

/// A copy of every named weight.
type Snapshot = Vec<(String, Tensor)>;

fn snapshot(varmap: &VarMap) -> Result<Snapshot> {
    let data = varmap.data().lock().map_err(|_| FerError::Training("weight store poisoned".into()))?;
    data.iter().map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?))).collect()
}

fn restore(varmap: &VarMap, weights: &[(String, Tensor)]) -> Result<()> {
    let data = varmap.data().lock().map_err(|_| FerError::Training("weight store poisoned".into()))?;
    for (k, t) in weights {
        if let Some(var) = data.get(k) {
            var.set(t)?;
        }
    }
    Ok(())
}

/// Inverted dropout with a mask drawn from `rng`.
fn dropout(x: &Tensor, p: f32, rng: &mut StdRng) -> Result<Tensor> {
    let keep = 1.0 - p;
    let mask: Vec<f32> = (0..x.elem_count()).map(|_| if rng.random::<f32>() < keep { 1.0 / keep } else { 0.0 }).collect();
    Ok((x * Tensor::from_vec(mask, x.shape(), x.device())?)?)
}

/// PyTorch's default `Linear` initialisation (uniform in +-1/sqrt(fan_in)) from a
/// seeded generator, in name order, so that a seed fixes the whole run.
fn seeded_init(varmap: &VarMap, rng: &mut StdRng) -> Result<()> {
    let data = varmap.data().lock().map_err(|_| FerError::Training("weight store poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let fan_in = if name.ends_with(".bias") {
            let weight = name.trim_end_matches(".bias").to_string() + ".weight";
            data.get(&weight).map(|w| w.dims()[1]).unwrap_or(1)
        } else {
            var.dims().get(1).copied().unwrap_or(1)
        };
        let bound = 1.0 / (fan_in as f32).sqrt();
        let values: Vec<f32> = (0..var.elem_count()).map(|_| rng.random_range(-bound..bound)).collect();
        var.set(&Tensor::from_vec(values, var.shape(), var.device())?)?;
    }
    Ok(())
}
