//! What every network trained by gradient shares: the [`Net`] trait (class
//! log-probabilities for a batch, and an optional regulariser), seeded
//! initialisation, and one training loop (AdamW, mini-batches, early stopping on
//! a validation split) used by the MLP, the soft decision tree, the deep neural
//! decision forest and the deep neural decision tree, with one of three
//! [`Objective`]s:
//!
//! - cross-entropy against the label (class-balanced when asked) or against soft
//!   targets (a teacher's probabilities, or crowd votes);
//! - partial labels (Durand et al., CVPR 2019): the binary cross-entropy of the
//!   sigmoid of each class's score, summed over the classes that the row's source
//!   annotates and divided by how many it annotates, so a class the source never
//!   names is *unknown*, not absent. The MLP's scores are its logits, independent
//!   outputs as in the paper; the trees end in class distributions (their leaves
//!   are distributions, not logits), so their scores are log-probabilities and the
//!   classes stay coupled through the distribution. Prediction is unchanged: the
//!   softmax of the logits ranks the classes as their sigmoids do;
//! - latent truth (Zeng et al., ECCV 2018, IPA2LT): the network's distribution is
//!   the latent true expression `p(z|x)`, and each source `s` sees its labels
//!   through a learned transition matrix `T_s[z, y] = p(y_s = y | z)` (rows are
//!   softmaxes of free parameters, started near the identity); the loss is
//!   `-log sum_z p(z|x) T_s[z, y]`. Prediction uses `p(z|x)` alone.
//!
//! Longer than 500 lines because the one training loop holds the three objectives
//! side by side: what differs between them is a few lines inside the loop.

use crate::error::{FerError, Result};
pub use crate::model::net_params::Objective;
use crate::model::net_params::ValidMlpParams;
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::Rng;
use rand::SeedableRng;
use serde::{Deserialize, Serialize};

/// The name of the latent-truth transition parameters `[sources, classes, classes]`
/// (row-wise softmax gives `T_s[z, y]`) in the weights and the bundle.
pub const LATENT_TENSOR: &str = "latent.transition";
/// Diagonal parameter a transition matrix starts from (others 0): each row puts
/// `e^d / (e^d + K - 1)` on the diagonal, 0.90 for 7 classes.
pub const LATENT_INIT_DIAGONAL: f32 = 4.0;
/// The transitions learn at this many times the network's learning rate: they
/// are few parameters, and from near the identity a confusion of 40% is a move of
/// about 4 in their logits.
pub const LATENT_LEARNING_RATE_SCALE: f64 = 10.0;

/// The transition matrices `T_s[z][y]` from their parameters `[sources, classes, classes]`.
pub fn transitions(params: &Tensor) -> Result<Vec<Vec<Vec<f32>>>> {
    Ok(candle_nn::ops::softmax(params, 2)?.to_vec3::<f32>()?)
}

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

    /// Per-class scores `[n, classes]` whose sigmoids the partial BCE reads: the
    /// log-probabilities, unless the network has independent logits.
    fn scores(&self, x: &Tensor, rng: Option<&mut StdRng>) -> Result<Tensor> {
        self.log_probs(x, rng)
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
    /// Classes each row's source annotates `[n, classes]` (1 or 0), for
    /// [`Objective::PartialLabels`].
    pub known: Option<&'a [f32]>,
    /// Each row's annotation source, and how many sources there are, for
    /// [`Objective::LatentTruth`].
    pub sources: Option<(&'a [u32], usize)>,
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

    fn rows_tensor(
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
    let weights = class_weights(
        train_rows.iter().map(|&r| set.y[r]),
        classes,
        params.class_balanced,
    );
    let class_w = Tensor::from_vec(weights, classes, &dev)?;
    let latent = match (params.objective, set.sources) {
        (Objective::LatentTruth, Some((_, n))) => Some(latent_parameters(varmap, n, classes)?),
        (Objective::LatentTruth, None) => {
            return Err(FerError::Training(
                "--latent-truth needs each row's annotation source".into(),
            ))
        }
        _ => None,
    };
    if params.objective == Objective::PartialLabels && set.known.is_none() {
        return Err(FerError::Training(
            "--partial-labels needs the classes each source annotates".into(),
        ));
    }
    let net_vars: Vec<candle_core::Var> = named_vars(varmap, |n| !n.starts_with("latent."))?;
    let mut opt = AdamW::new(
        net_vars,
        ParamsAdamW {
            lr: params.learning_rate,
            weight_decay: params.weight_decay,
            ..Default::default()
        },
    )?;
    // The transitions get no weight decay: it would pull them towards uniform rows.
    let mut latent_opt = match &latent {
        Some(w) => Some(AdamW::new(
            vec![w.clone()],
            ParamsAdamW {
                lr: params.learning_rate * LATENT_LEARNING_RATE_SCALE,
                weight_decay: 0.0,
                ..Default::default()
            },
        )?),
        None => None,
    };
    let mut order = train_rows.to_vec();
    let mut stopping = EarlyStopping::new(varmap, params.patience, !val_rows.is_empty());
    for epoch in 1..=params.epochs {
        order.shuffle(rng);
        let mut loss_sum = 0.0f32;
        let mut batches = 0usize;
        for chunk in order.chunks(params.batch_size) {
            let (x, y) = set.tensors(chunk, &dev)?;
            let mut loss = match (params.objective, set.soft, &latent) {
                (Objective::PartialLabels, _, _) => {
                    partial_bce(&net.scores(&x, Some(rng))?, set, chunk, classes)?
                }
                (Objective::LatentTruth, _, Some(w)) => latent_loss(
                    &net.log_probs(&x, Some(rng))?,
                    w.as_tensor(),
                    set,
                    chunk,
                    classes,
                )?,
                (_, Some(soft), _) => {
                    let logp = net.log_probs(&x, Some(rng))?;
                    let t = set.rows_tensor(soft, chunk, classes, &dev)?;
                    ((logp * t)?.sum_all()?.neg()? / chunk.len() as f64)?
                }
                (_, None, _) => {
                    let logp = net.log_probs(&x, Some(rng))?;
                    let picked = logp.gather(&y.unsqueeze(1)?, 1)?.squeeze(1)?;
                    let w = class_w.index_select(&y, 0)?;
                    ((picked * &w)?.sum_all()?.neg()? / w.sum_all()?.to_scalar::<f32>()? as f64)?
                }
            };
            if let Some(p) = net.penalty(&x)? {
                loss = (loss + p)?;
            }
            let grads = loss.backward()?;
            opt.step(&grads)?;
            if let Some(o) = latent_opt.as_mut() {
                o.step(&grads)?;
            }
            loss_sum += loss.to_scalar::<f32>()?;
            batches += 1;
        }
        let train_loss = finite_loss(epoch, loss_sum / batches.max(1) as f32)?;
        let val_acc = if val_rows.is_empty() {
            accuracy(net, set, train_rows, &dev)?
        } else {
            accuracy(net, set, val_rows, &dev)?
        };
        on_epoch(epoch, params.epochs, train_loss, val_acc);
        if stopping.epoch_ended(epoch, train_loss, val_acc)? {
            break;
        }
    }
    stopping.finish()
}

/// Per-class loss weights for examples with `labels`: `examples / (classes *
/// examples of the class)` when `balanced` (each class weighs the same in
/// total), else 1.
pub fn class_weights(
    labels: impl Iterator<Item = u32>,
    classes: usize,
    balanced: bool,
) -> Vec<f32> {
    let mut counts = vec![0usize; classes];
    let mut total = 0usize;
    for y in labels {
        counts[y as usize] += 1;
        total += 1;
    }
    counts
        .iter()
        .map(|&c| {
            if balanced && c > 0 {
                total as f32 / (classes as f32 * c as f32)
            } else {
                1.0
            }
        })
        .collect()
}

/// An epoch's mean training loss, or the error that training diverged.
pub fn finite_loss(epoch: usize, loss: f32) -> Result<f32> {
    if loss.is_finite() {
        Ok(loss)
    } else {
        Err(FerError::Training(format!(
            "training diverged at epoch {epoch} (loss {loss}): lower the learning rate"
        )))
    }
}

/// The epoch bookkeeping of a training loop: the curves, the best epoch's
/// weights, when to stop, and the report. With validation the best epoch's
/// weights are kept and training stops after `patience` epochs without
/// improvement; without, the last epoch is kept.
pub struct EarlyStopping<'a> {
    varmap: &'a VarMap,
    patience: usize,
    validating: bool,
    /// (validation accuracy, epoch, weights) of the best epoch so far.
    best: Option<(f32, usize, Snapshot)>,
    report: TrainReport,
}

impl<'a> EarlyStopping<'a> {
    /// For the weights in `varmap`; `validating` when there is a validation split.
    pub fn new(varmap: &'a VarMap, patience: usize, validating: bool) -> Self {
        EarlyStopping {
            varmap,
            patience,
            validating,
            best: None,
            report: TrainReport {
                epochs_run: 0,
                best_epoch: 0,
                val_accuracy: 0.0,
                train_loss: vec![],
                val_accuracy_curve: vec![],
            },
        }
    }

    /// Record epoch `epoch`'s loss and accuracy; true when training should stop.
    pub fn epoch_ended(&mut self, epoch: usize, loss: f32, accuracy: f32) -> Result<bool> {
        self.report.epochs_run = epoch;
        self.report.train_loss.push(loss);
        self.report.val_accuracy_curve.push(accuracy);
        if !self.validating {
            return Ok(false);
        }
        if self.best.as_ref().is_none_or(|b| accuracy > b.0) {
            self.best = Some((accuracy, epoch, snapshot(self.varmap)?));
            Ok(false)
        } else {
            Ok(epoch - self.best.as_ref().map_or(0, |b| b.1) >= self.patience)
        }
    }

    /// Put the kept epoch's weights back and report.
    pub fn finish(self) -> Result<TrainReport> {
        let mut report = self.report;
        match self.best {
            Some((acc, epoch, weights)) => {
                restore(self.varmap, &weights)?;
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
}

/// The variables of `varmap` whose names pass `keep`, in name order.
fn named_vars(varmap: &VarMap, keep: impl Fn(&str) -> bool) -> Result<Vec<candle_core::Var>> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| FerError::Training("weight store poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().filter(|n| keep(n)).collect();
    names.sort();
    Ok(names.into_iter().map(|n| data[n].clone()).collect())
}

/// The latent-truth transition parameters in `varmap`, started near the identity.
fn latent_parameters(varmap: &VarMap, sources: usize, classes: usize) -> Result<candle_core::Var> {
    let init: Vec<f32> = (0..sources * classes * classes)
        .map(|i| {
            let (z, y) = ((i / classes) % classes, i % classes);
            if z == y {
                LATENT_INIT_DIAGONAL
            } else {
                0.0
            }
        })
        .collect();
    varmap.get(
        (sources, classes, classes),
        LATENT_TENSOR,
        candle_nn::Init::Const(0.0),
        DType::F32,
        &Device::Cpu,
    )?;
    set_weight(
        varmap,
        LATENT_TENSOR,
        &Tensor::from_vec(init, (sources, classes, classes), &Device::Cpu)?,
    )?;
    let data = varmap
        .data()
        .lock()
        .map_err(|_| FerError::Training("weight store poisoned".into()))?;
    Ok(data[LATENT_TENSOR].clone())
}

/// `-mean log sum_z p(z|x) T_s[z, y]` over the rows of `chunk`.
fn latent_loss(
    logp: &Tensor,
    params: &Tensor,
    set: &TrainSet,
    chunk: &[usize],
    classes: usize,
) -> Result<Tensor> {
    let (source, n) = set
        .sources
        .ok_or_else(|| FerError::Training("latent truth without sources".into()))?;
    // log T_s[z, y], rearranged so that row s * K + y holds log T_s[., y] over z.
    let log_t = candle_nn::ops::log_softmax(params, 2)?;
    let by_label = log_t
        .transpose(1, 2)?
        .contiguous()?
        .reshape((n * classes, classes))?;
    let idx: Vec<u32> = chunk
        .iter()
        .map(|&r| source[r] * classes as u32 + set.y[r])
        .collect();
    let idx = Tensor::from_vec(idx, chunk.len(), logp.device())?;
    let joint = (logp + by_label.index_select(&idx, 0)?)?;
    Ok(joint.log_sum_exp(1)?.mean_all()?.neg()?)
}

/// `log(1 + e^x)`, computed without overflow as `max(x, 0) + log(1 + e^-|x|)`.
fn softplus(x: &Tensor) -> Result<Tensor> {
    Ok((x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?)
}

/// The partial binary cross-entropy (Durand et al. 2019) of the sigmoids of
/// `scores`: summed over the classes the row's source annotates, divided by
/// their number, averaged over the rows. Targets are the soft targets when there
/// are some, else the one-hot label.
fn partial_bce(scores: &Tensor, set: &TrainSet, chunk: &[usize], classes: usize) -> Result<Tensor> {
    let dev = scores.device();
    let known = set
        .known
        .ok_or_else(|| FerError::Training("partial labels without known classes".into()))?;
    let m = set.rows_tensor(known, chunk, classes, dev)?;
    let t = match set.soft {
        Some(soft) => set.rows_tensor(soft, chunk, classes, dev)?,
        None => {
            let mut one_hot = vec![0f32; chunk.len() * classes];
            for (i, &r) in chunk.iter().enumerate() {
                one_hot[i * classes + set.y[r] as usize] = 1.0;
            }
            Tensor::from_vec(one_hot, (chunk.len(), classes), dev)?
        }
    };
    // -log sigmoid(s) = softplus(-s); -log(1 - sigmoid(s)) = softplus(s).
    let bce = ((&t * softplus(&scores.neg()?)?)? + (t.affine(-1.0, 1.0)? * softplus(scores)?)?)?;
    let per_row = (bce * &m)?.sum(1)?.div(&m.sum(1)?.clamp(1.0, f64::MAX)?)?;
    Ok(per_row.mean_all()?)
}

/// A copy of every named weight.
type Snapshot = Vec<(String, Tensor)>;

/// Copy every weight of `varmap` (the best epoch so far).
fn snapshot(varmap: &VarMap) -> Result<Snapshot> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| FerError::Training("weight store poisoned".into()))?;
    data.iter()
        .map(|(k, v)| Ok((k.clone(), v.as_tensor().copy()?)))
        .collect()
}

/// Put back the weights of a [`snapshot`].
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

/// A varmap and the seeded generator that initialises it and then drives training.
pub fn start(seed: u64) -> (VarMap, StdRng) {
    (VarMap::new(), StdRng::seed_from_u64(seed))
}

/// A builder of `f32` CPU weights in `varmap`.
pub fn builder(varmap: &VarMap) -> VarBuilder<'_> {
    VarBuilder::from_varmap(varmap, DType::F32, &Device::Cpu)
}
