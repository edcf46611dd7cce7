//! Training the CNN of [`crate::model::cnn`] from scratch, with the "bag of tricks"
//! (He et al. 2019): a learning rate scaled linearly with the batch size
//! (`lr_per_256 * batch / 256`), linear warmup, cosine decay, label smoothing and
//! mixup; optionally Git loss (Calefati et al. 2018: softmax loss + a center term
//! pulling each embedding to its class centre + a push term `1 / (1 + d^2)` driving it
//! away from the other centres; centres learned with the network). The optimiser is
//! AdamW (candle-nn's update, in [`crate::model::adamw`] so that checkpoints can hold
//! its state), not the papers' SGD with momentum. Random horizontal flips augment the
//! crops. Optionally the loss is class-balanced (`class_balanced`: each crop weighted
//! by [`crate::model::net::class_weights`] of its mixed classes, the weights summing to
//! one per batch), as `fer train`'s networks are by default. The crops themselves are
//! cut in [`crate::model::cnn_crops`].

use crate::error::{FerError, Result};
use crate::fingerprint::Fnv;
use crate::metrics::argmax;
use crate::model::adamw::AdamW;
use crate::model::cnn::{to_input, Cnn, CnnHeader, CnnModel, CNN_FORMAT, CNN_SCHEMA_VERSION};
use crate::model::cnn_checkpoint::{
    Checkpoint, CheckpointHeader, Checkpoints, CHECKPOINT_FORMAT, CHECKPOINT_VERSION,
};
pub use crate::model::cnn_crops::{classes_to_learn, crops_from_samples, CropOrigin, CropSet};
pub use crate::model::cnn_params::{
    CnnCurves, CnnParams, CnnTrainingSummary, GitLoss, ValidCnnParams, LR_REFERENCE_BATCH,
};
pub use crate::model::cnn_targets::{beta_sample, git_terms, smoothed_rows, smoothed_targets};
use crate::model::net::class_weights;
use candle_core::Var;
use candle_core::{DType, Device, Tensor, D};
use candle_nn::{Optimizer, ParamsAdamW, VarBuilder, VarMap};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
// The same generator as `rand::rngs::StdRng` (so seeds give the runs they gave),
// used directly because its stream position can be read and set for checkpoints.
use rand_chacha::ChaCha12Rng;

/// He (Kaiming normal, fan-in) initialisation of every convolution from `rng`, in name
/// order, so that the seed fixes the run; GroupNorm starts at identity, the head at
/// PyTorch's uniform +-1/sqrt(fan_in), the Git centres at zero.
fn seeded_he_init(varmap: &VarMap, rng: &mut ChaCha12Rng) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| FerError::Training("weight store poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let values: Vec<f32> = if name.contains(".conv") {
            let fan_in: usize = dims[1..].iter().product();
            let std = (2.0 / fan_in as f32).sqrt();
            (0..var.elem_count())
                .map(|_| std * standard_normal(rng))
                .collect()
        } else if name.contains(".head.") {
            let fan_in = if name.ends_with(".bias") {
                data.get("cnn.head.weight")
                    .map(|w| w.dims()[1])
                    .unwrap_or(1)
            } else {
                dims[1]
            };
            let bound = 1.0 / (fan_in as f32).sqrt();
            (0..var.elem_count())
                .map(|_| rng.random_range(-bound..bound))
                .collect()
        } else {
            continue; // GroupNorm (1 and 0) and the centres (0) keep candle's constant init
        };
        var.set(&Tensor::from_vec(values, dims, var.device())?)?;
    }
    Ok(())
}

/// A standard normal draw (Box-Muller).
fn standard_normal(rng: &mut ChaCha12Rng) -> f32 {
    let u: f32 = rng.random_range(f32::EPSILON..1.0);
    let v: f32 = rng.random();
    (-2.0 * u.ln()).sqrt() * (2.0 * std::f32::consts::PI * v).cos()
}

/// Per-epoch progress `(epoch, epochs, loss, training accuracy)`.
pub type CnnEpochCallback<'a> = dyn FnMut(usize, usize, f32, f32) + 'a;

/// Train a CNN from scratch on `data` for `classes` classes. Returns the network, its
/// weights, and the per-epoch curves.
pub fn fit_cnn(
    data: &CropSet,
    classes: usize,
    params: &ValidCnnParams,
    on_epoch: &mut CnnEpochCallback,
) -> Result<(Cnn, VarMap, CnnCurves)> {
    fit_cnn_with_checkpoints(
        data,
        None,
        classes,
        params,
        &Checkpoints::default(),
        on_epoch,
    )
}

/// Crops per forward pass when scoring validation crops (no gradients are kept, so
/// the batch only bounds the activations' memory).
const VALIDATION_BATCH: usize = 256;

/// [`fit_cnn`], writing a checkpoint at the end of every epoch to
/// `checkpoints.save_to` and, with `checkpoints.resume_from`, going on from one. A
/// run killed and resumed ends with the same weights as one never stopped. With
/// `validation`, the accuracy on those crops is measured after every epoch and kept
/// in the curves; it is only recorded, never used to steer training.
pub fn fit_cnn_with_checkpoints(
    data: &CropSet,
    validation: Option<&CropSet>,
    classes: usize,
    params: &ValidCnnParams,
    checkpoints: &Checkpoints,
    on_epoch: &mut CnnEpochCallback,
) -> Result<(Cnn, VarMap, CnnCurves)> {
    if data.is_empty() {
        return Err(FerError::Training("no training crops".into()));
    }
    for (set, what) in [(Some(data), "training"), (validation, "validation")] {
        let Some(set) = set else { continue };
        if classes < 2 || set.labels.iter().any(|&y| y as usize >= classes) {
            return Err(FerError::Training(format!(
                "{what} labels must be below {classes} classes, and there must be at least 2"
            )));
        }
        if set.side != params.arch.input_size {
            return Err(FerError::Training(format!(
                "{what} crops are {} px, the network takes {}",
                set.side, params.arch.input_size
            )));
        }
        set.check(classes)?;
    }
    if validation.is_some_and(|v| v.is_empty()) {
        return Err(FerError::Training("no validation crops".into()));
    }
    let dev = Device::Cpu;
    let mut rng = ChaCha12Rng::seed_from_u64(params.seed);
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
    let net = Cnn::new(&params.arch, classes, vb.clone())?;
    let last = *params.arch.channels.last().unwrap_or(&1);
    let centres = match params.git_loss {
        Some(_) => {
            Some(vb.get_with_hints((classes, last), "git.centres", candle_nn::Init::Const(0.0))?)
        }
        None => None,
    };
    seeded_he_init(&varmap, &mut rng)?;
    let named_vars = named_vars(&varmap)?;
    let mut opt = AdamW::new(
        named_vars.clone(),
        ParamsAdamW {
            lr: 0.0,
            weight_decay: params.weight_decay,
            ..Default::default()
        },
    )?;
    let class_w = if params.class_balanced {
        let weights = class_weights(data.labels.iter().copied(), classes, true);
        Some(Tensor::from_vec(weights, classes, &dev)?)
    } else {
        None
    };
    let per_epoch = data.len().div_ceil(params.batch_size);
    let (total, warmup) = (per_epoch * params.epochs, per_epoch * params.warmup_epochs);
    let side = data.side;
    let mut order: Vec<usize> = (0..data.len()).collect();
    let mut curves = CnnCurves::default();
    let mut step = 0;
    let fingerprint = run_fingerprint(params, classes, data, validation);
    if let Some(path) = &checkpoints.resume_from {
        let ckpt = Checkpoint::load(path, &fingerprint)?;
        resume_from(
            &ckpt,
            path,
            &named_vars,
            &mut opt,
            data.len(),
            params.epochs,
        )?;
        rng.set_word_pos(ckpt.rng_word_pos);
        order = ckpt.header.order.iter().map(|&i| i as usize).collect();
        step = ckpt.header.steps;
        curves = CnnCurves {
            loss: ckpt.header.losses,
            train_accuracy: ckpt.header.accuracies,
            validation_accuracy: ckpt.header.validation_accuracies,
        };
        tracing::info!(
            "resuming from {} after epoch {} of {}",
            path.display(),
            curves.loss.len(),
            params.epochs
        );
    }
    for epoch in curves.loss.len()..params.epochs {
        order.shuffle(&mut rng);
        let (mut loss_sum, mut correct) = (0.0f64, 0usize);
        for batch in order.chunks(params.batch_size) {
            let n = batch.len();
            let mut pixels = Vec::with_capacity(n * side * side);
            for &i in batch {
                let crop = data.crop(i);
                if params.mirror && rng.random::<bool>() {
                    for row in crop.chunks(side) {
                        pixels.extend(row.iter().rev());
                    }
                } else {
                    pixels.extend_from_slice(crop);
                }
            }
            let labels: Vec<u32> = batch.iter().map(|&i| data.labels[i]).collect();
            let mut x = to_input(&pixels, n, side, &dev)?;
            let targets = match &data.targets {
                Some(all) => smoothed_rows(all, batch, classes, params.label_smoothing),
                None => smoothed_targets(&labels, classes, params.label_smoothing),
            };
            let mut t = Tensor::from_vec(targets, (n, classes), &dev)?;
            let mut w =
                Tensor::from_vec(smoothed_targets(&labels, classes, 0.0), (n, classes), &dev)?;
            if params.mixup_alpha > 0.0 && n > 1 {
                let lam = beta_sample(params.mixup_alpha, &mut rng) as f64;
                let mut perm: Vec<u32> = (0..n as u32).collect();
                perm.shuffle(&mut rng);
                let perm = Tensor::from_vec(perm, n, &dev)?;
                let mix = |a: &Tensor| -> Result<Tensor> {
                    Ok(((a * lam)? + (a.index_select(&perm, 0)? * (1.0 - lam))?)?)
                };
                x = mix(&x)?;
                t = mix(&t)?;
                w = mix(&w)?;
            }
            let embedding = net.embed(&x)?;
            let logits = net.logits(&embedding)?;
            let log_p = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
            let per_crop = log_p.mul(&t)?.sum(1)?;
            let mut loss = match &class_w {
                // Each crop weighted by its (mixed) classes' weights, normalised by the
                // batch's total weight as `fer train`'s networks do.
                Some(cw) => {
                    let sw = w.matmul(&cw.unsqueeze(1)?)?.squeeze(1)?;
                    let total = sw.sum_all()?.to_scalar::<f32>()? as f64;
                    (per_crop.mul(&sw)?.sum_all()? * (-1.0 / total.max(f64::MIN_POSITIVE)))?
                }
                None => (per_crop.mean_all()? * -1.0)?,
            };
            if let (Some(g), Some(c)) = (params.git_loss, &centres) {
                let (center, push) = git_terms(&embedding, &w, c)?;
                loss = ((loss + (center * g.center)?)? + (push * g.push)?)?;
            }
            opt.set_learning_rate(params.learning_rate(step, warmup, total));
            opt.backward_step(&loss)?;
            step += 1;
            loss_sum += loss.to_scalar::<f32>()? as f64 * n as f64;
            let scores = logits.to_vec2::<f32>()?;
            let dominant = w.to_vec2::<f32>()?;
            correct += scores
                .iter()
                .zip(&dominant)
                .filter(|(s, d)| argmax(s, None) == argmax(d, None))
                .count();
        }
        let (loss, acc) = (
            (loss_sum / data.len() as f64) as f32,
            correct as f32 / data.len() as f32,
        );
        if !loss.is_finite() {
            return Err(FerError::Training(format!(
                "loss diverged at epoch {}: lower the learning rate",
                epoch + 1
            )));
        }
        curves.loss.push(loss);
        curves.train_accuracy.push(acc);
        let mut line = format!(
            "epoch {}: loss {loss:.4}, training accuracy {:.2}%",
            epoch + 1,
            100.0 * acc
        );
        if let Some(v) = validation {
            let accuracy = crop_accuracy(&net, v)?;
            line += &format!(", validation accuracy {:.2}%", 100.0 * accuracy);
            curves.validation_accuracy.push(accuracy);
        }
        tracing::info!("{line}");
        if let Some(path) = &checkpoints.save_to {
            let header = CheckpointHeader {
                format: CHECKPOINT_FORMAT.into(),
                version: CHECKPOINT_VERSION,
                fingerprint: fingerprint.clone(),
                epochs_done: epoch + 1,
                steps: step,
                rng_word_pos: rng.get_word_pos().to_string(),
                order: order.iter().map(|&i| i as u32).collect(),
                losses: curves.loss.clone(),
                accuracies: curves.train_accuracy.clone(),
                validation_accuracies: curves.validation_accuracy.clone(),
            };
            let weights: Vec<(String, Tensor)> = named_vars
                .iter()
                .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
                .collect();
            Checkpoint::save(path, &header, &weights, &opt.state())?;
        }
        on_epoch(epoch + 1, params.epochs, loss, acc);
    }
    Ok((net, varmap, curves))
}

/// The share of `crops` whose most probable class under `net` is their label.
fn crop_accuracy(net: &Cnn, crops: &CropSet) -> Result<f32> {
    let side = crops.side * crops.side;
    let mut right = 0usize;
    for (b, labels) in crops.labels.chunks(VALIDATION_BATCH).enumerate() {
        let start = b * VALIDATION_BATCH * side;
        let pixels = &crops.pixels[start..start + labels.len() * side];
        let x = to_input(pixels, labels.len(), crops.side, &Device::Cpu)?;
        let scores = net.logits(&net.embed(&x)?)?.to_vec2::<f32>()?;
        right += scores
            .iter()
            .zip(labels)
            .filter(|(s, &y)| argmax(s, None) == y as usize)
            .count();
    }
    Ok(right as f32 / crops.len().max(1) as f32)
}

/// A hash of what a run's result depends on: its settings, the number of classes and
/// every crop and label, in order, and the validation crops when there are some
/// (their curve is part of the result).
pub fn run_fingerprint(
    params: &ValidCnnParams,
    classes: usize,
    data: &CropSet,
    validation: Option<&CropSet>,
) -> String {
    let mut h = Fnv::new();
    let settings = serde_json::to_string(&**params).unwrap_or_default();
    h.write(settings.as_bytes());
    h.write(&(classes as u64).to_le_bytes());
    for set in std::iter::once(data).chain(validation) {
        h.write(&(set.side as u64).to_le_bytes());
        for label in &set.labels {
            h.write(&label.to_le_bytes());
        }
        h.write(&set.pixels);
        // Absent targets add nothing, so runs from before votes keep their fingerprint.
        for t in set.targets.iter().flatten() {
            h.write(&t.to_le_bytes());
        }
    }
    format!("{:016x}", h.finish())
}

/// Every variable of `varmap` with its name.
fn named_vars(varmap: &VarMap) -> Result<Vec<(String, Var)>> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| FerError::Training("weight store poisoned".into()))?;
    let mut vars: Vec<(String, Var)> = data.iter().map(|(n, v)| (n.clone(), v.clone())).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(vars)
}

/// Put a checkpoint's weights and optimiser state into the run, after checking
/// that they fit it: every weight there and of its shape, the batch order a
/// permutation of the `crops`, and no more epochs done than the run has.
fn resume_from(
    ckpt: &Checkpoint,
    path: &std::path::Path,
    vars: &[(String, Var)],
    opt: &mut AdamW,
    crops: usize,
    epochs: usize,
) -> Result<()> {
    let bad = |reason: String| FerError::model(path, reason);
    if ckpt.header.epochs_done > epochs {
        return Err(bad(format!(
            "{} epochs done, the run has {epochs}",
            ckpt.header.epochs_done
        )));
    }
    let mut seen = vec![false; crops];
    let permutation = ckpt.header.order.len() == crops
        && ckpt.header.order.iter().all(|&i| {
            seen.get_mut(i as usize)
                .is_some_and(|s| !std::mem::replace(s, true))
        });
    if !permutation {
        return Err(bad(
            "the batch order is not a permutation of the crops".into()
        ));
    }
    if ckpt.weights.len() != vars.len() {
        return Err(bad(format!(
            "{} weights saved, the network has {}",
            ckpt.weights.len(),
            vars.len()
        )));
    }
    for (name, var) in vars {
        let saved = ckpt
            .weights
            .get(name)
            .ok_or_else(|| bad(format!("weight `{name}` is missing")))?;
        if saved.dims() != var.dims() {
            return Err(bad(format!(
                "weight `{name}` has shape {:?}, expected {:?}",
                saved.dims(),
                var.dims()
            )));
        }
        var.set(saved)?;
    }
    opt.restore(ckpt.header.steps, &ckpt.moments).map_err(bad)
}

/// Validation crops for [`train`], and where they came from (for the header).
pub struct ValidationCrops {
    pub crops: CropSet,
    pub sources: Vec<String>,
}

/// Train a CNN on `crops` (from `origin`) and return it with its header: the
/// settings, the crops' origin, and the per-epoch curves (each epoch is also
/// logged), checkpointed as `checkpoints` says.
pub fn train(
    crops: &CropSet,
    origin: CropOrigin,
    validation: Option<&ValidationCrops>,
    params: &ValidCnnParams,
    checkpoints: &Checkpoints,
    on_epoch: &mut CnnEpochCallback,
) -> Result<CnnModel> {
    let CropOrigin {
        classes,
        pipeline,
        sources,
        skipped,
        votes,
    } = origin;
    let (net, varmap, curves) = fit_cnn_with_checkpoints(
        crops,
        validation.map(|v| &v.crops),
        classes.len(),
        params,
        checkpoints,
        on_epoch,
    )?;
    let header = CnnHeader {
        format: CNN_FORMAT.into(),
        schema_version: CNN_SCHEMA_VERSION,
        classes,
        arch: params.arch.clone(),
        pipeline,
        training: CnnTrainingSummary {
            params: (**params).clone(),
            samples: crops.len(),
            skipped,
            sources,
            loss: curves.loss,
            train_accuracy: curves.train_accuracy,
            validation_accuracy: curves.validation_accuracy,
            validation_sources: validation.map(|v| v.sources.clone()).unwrap_or_default(),
            validation_samples: validation.map_or(0, |v| v.crops.len()),
            votes,
        },
    };
    Ok(CnnModel::new(header, net, varmap))
}
