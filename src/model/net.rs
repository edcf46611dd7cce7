//! What every network trained by gradient shares: the [`Net`] trait (class
//! log-probabilities for a batch, and an optional regulariser), seeded
//! initialisation, and one training loop (AdamW, mini-batches, early stopping on
//! a validation split) used by the MLP, the soft decision tree, the deep neural
//! decision forest and the deep neural decision tree.

use crate::error::{FerError, Result};
use crate::model::mlp::ValidMlpParams;
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarMap};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// A network trained by gradient, like candle's `Module`.
pub trait Net {
    /// Class log-probabilities `[n, classes]` for a batch `[n, dim]`; with `rng`,
    /// in training mode (dropout masks drawn from it).
    fn log_probs(&self, x: &Tensor, rng: Option<&mut StdRng>) -> Result<Tensor>;

    /// A regularisation term added to the training loss for this batch.
    fn penalty(&self, _x: &Tensor) -> Result<Option<Tensor>> {
        Ok(None)
    }

    /// Class probabilities `[n, classes]`.
    fn probabilities(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.log_probs(x, None)?.exp()?)
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

impl TrainReport {
    /// The report of a model not trained by epochs (forest, boosting).
    pub fn single_pass() -> Self {
        TrainReport {
            epochs_run: 1,
            best_epoch: 1,
            val_accuracy: 0.0,
            train_loss: vec![],
            val_accuracy_curve: vec![],
        }
    }
}

/// Per-epoch progress `(epoch, epochs, loss, validation accuracy)`, for a progress bar.
pub type EpochCallback<'a> = dyn FnMut(usize, usize, f32, f32) + 'a;

/// Normalised training matrices.
pub struct TrainSet<'a> {
    /// Row-major features `[n, dim]`, already normalised.
    pub x: &'a [f32],
    /// Class index per row.
    pub y: &'a [u32],
    /// Soft targets `[n, classes]` (a teacher's softened probabilities); when
    /// present the loss is the cross-entropy against them instead of `y`.
    pub soft: Option<&'a [f32]>,
    /// Feature dimension.
    pub dim: usize,
}

impl TrainSet<'_> {
    /// Features and hard labels of `rows` as tensors.
    pub fn tensors(&self, rows: &[usize], dev: &Device) -> Result<(Tensor, Tensor)> {
        let mut xs = Vec::with_capacity(rows.len() * self.dim);
        let mut ys = Vec::with_capacity(rows.len());
        for &r in rows {
            xs.extend_from_slice(&self.x[r * self.dim..(r + 1) * self.dim]);
            ys.push(self.y[r]);
        }
        Ok((
            Tensor::from_vec(xs, (rows.len(), self.dim), dev)?,
            Tensor::from_vec(ys, rows.len(), dev)?,
        ))
    }

    fn soft_tensor(
        &self,
        soft: &[f32],
        rows: &[usize],
        classes: usize,
        dev: &Device,
    ) -> Result<Tensor> {
        let mut t = Vec::with_capacity(rows.len() * classes);
        for &r in rows {
            t.extend_from_slice(&soft[r * classes..(r + 1) * classes]);
        }
        Ok(Tensor::from_vec(t, (rows.len(), classes), dev)?)
    }
}

/// Accuracy of `net` on `rows` of `set`.
pub fn accuracy(net: &dyn Net, set: &TrainSet, rows: &[usize], dev: &Device) -> Result<f32> {
    if rows.is_empty() {
        return Ok(0.0);
    }
    let (x, y) = set.tensors(rows, dev)?;
    let pred = net.log_probs(&x, None)?.argmax(D::Minus1)?;
    let correct = pred
        .eq(&y)?
        .to_dtype(DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()?;
    Ok(correct / rows.len() as f32)
}

/// Train `net`, whose weights live in `varmap`, with AdamW. `rng` continues the
/// generator that initialised the weights (so a seed fixes the whole run). With
/// validation rows the best epoch's weights are kept and training stops after
/// `patience` epochs without improvement; without, the last epoch is kept.
#[allow(clippy::too_many_arguments)]
pub fn fit_net(
    net: &dyn Net,
    varmap: &VarMap,
    params: &ValidMlpParams,
    set: &TrainSet,
    classes: usize,
    train_rows: &[usize],
    val_rows: &[usize],
    rng: &mut StdRng,
    on_epoch: &mut EpochCallback,
) -> Result<TrainReport> {
    if train_rows.is_empty() {
        return Err(FerError::Training("no training samples".into()));
    }
    let dev = Device::Cpu;
    let mut counts = vec![0usize; classes];
    for &r in train_rows {
        counts[set.y[r] as usize] += 1;
    }
    let weights: Vec<f32> = counts
        .iter()
        .map(|&c| {
            if params.class_balanced && c > 0 {
                train_rows.len() as f32 / (classes as f32 * c as f32)
            } else {
                1.0
            }
        })
        .collect();
    let class_w = Tensor::from_vec(weights, classes, &dev)?;
    let mut opt = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr: params.learning_rate,
            weight_decay: params.weight_decay,
            ..Default::default()
        },
    )?;
    let mut order = train_rows.to_vec();
    // (validation accuracy, epoch, weights) of the best epoch so far.
    let mut best: Option<(f32, usize, Snapshot)> = None;
    let mut report = TrainReport {
        epochs_run: 0,
        best_epoch: 0,
        val_accuracy: 0.0,
        train_loss: vec![],
        val_accuracy_curve: vec![],
    };
    for epoch in 1..=params.epochs {
        order.shuffle(rng);
        let mut loss_sum = 0.0f32;
        let mut batches = 0usize;
        for chunk in order.chunks(params.batch_size) {
            let (x, y) = set.tensors(chunk, &dev)?;
            let logp = net.log_probs(&x, Some(rng))?;
            let mut loss = match set.soft {
                Some(soft) => {
                    let t = set.soft_tensor(soft, chunk, classes, &dev)?;
                    ((logp * t)?.sum_all()?.neg()? / chunk.len() as f64)?
                }
                None => {
                    let picked = logp.gather(&y.unsqueeze(1)?, 1)?.squeeze(1)?;
                    let w = class_w.index_select(&y, 0)?;
                    ((picked * &w)?.sum_all()?.neg()? / w.sum_all()?.to_scalar::<f32>()? as f64)?
                }
            };
            if let Some(p) = net.penalty(&x)? {
                loss = (loss + p)?;
            }
            opt.backward_step(&loss)?;
            loss_sum += loss.to_scalar::<f32>()?;
            batches += 1;
        }
        let train_loss = loss_sum / batches.max(1) as f32;
        if !train_loss.is_finite() {
            return Err(FerError::Training(format!(
                "training diverged at epoch {epoch} (loss {train_loss}): lower the learning rate"
            )));
        }
        let val_acc = if val_rows.is_empty() {
            accuracy(net, set, train_rows, &dev)?
        } else {
            accuracy(net, set, val_rows, &dev)?
        };
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
    Ok(report)
}

/// A copy of every named weight.
type Snapshot = Vec<(String, Tensor)>;

fn snapshot(varmap: &VarMap) -> Result<Snapshot> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| FerError::Training("weight store poisoned".into()))?;
    data.iter()
        .map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?)))
        .collect()
}

fn restore(varmap: &VarMap, weights: &[(String, Tensor)]) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| FerError::Training("weight store poisoned".into()))?;
    for (k, t) in weights {
        if let Some(var) = data.get(k) {
            var.set(t)?;
        }
    }
    Ok(())
}

/// Every weight in `varmap`, by name (what a bundle stores).
pub fn weights(varmap: &VarMap) -> Result<Vec<(String, Tensor)>> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| FerError::Training("weight store poisoned".into()))?;
    Ok(data
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect())
}

/// Set the weight `name` in `varmap` (after [`seeded_init`], for weights that
/// need a data-dependent start such as cut points).
pub fn set_weight(varmap: &VarMap, name: &str, value: &Tensor) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| FerError::Training("weight store poisoned".into()))?;
    let var = data
        .get(name)
        .ok_or_else(|| FerError::Training(format!("weight {name} missing")))?;
    var.set(value)?;
    Ok(())
}

/// Inverted dropout with a mask drawn from `rng`.
pub fn dropout(x: &Tensor, p: f32, rng: &mut StdRng) -> Result<Tensor> {
    let keep = 1.0 - p;
    let mask: Vec<f32> = (0..x.elem_count())
        .map(|_| {
            if rng.random::<f32>() < keep {
                1.0 / keep
            } else {
                0.0
            }
        })
        .collect();
    Ok((x * Tensor::from_vec(mask, x.shape(), x.device())?)?)
}

/// PyTorch's default `Linear` initialisation (uniform in +-1/sqrt(fan_in), the
/// fan-in being a weight's second dimension) from a seeded generator, in name
/// order, so that a seed fixes the whole run.
pub fn seeded_init(varmap: &VarMap, rng: &mut StdRng) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| FerError::Training("weight store poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let fan_in = if name.ends_with(".bias") {
            let weight = name.trim_end_matches(".bias").to_string() + ".weight";
            data.get(&weight).map(|w| w.dims()[1]).unwrap_or(1)
        } else {
            var.dims().last().copied().unwrap_or(1)
        };
        let bound = 1.0 / (fan_in as f32).sqrt();
        let values: Vec<f32> = (0..var.elem_count())
            .map(|_| rng.random_range(-bound..bound))
            .collect();
        var.set(&Tensor::from_vec(values, var.shape(), var.device())?)?;
    }
    Ok(())
}
