//! Training and evaluation on labelled datasets: parallel feature extraction, the
//! subject-grouped validation split, fitting an MLP bundle, and grouped k-fold
//! cross-validation.

use crate::dataset::{count_per_class, Sample};
use crate::gray::GrayImage;
use crate::stages::decode::decode_file;
use crate::error::{FerError, Result};
use crate::metrics::{group_kfold, Report};
use crate::model::bundle::{ModelHeader, TrainingSummary, MIN_STD, MODEL_FORMAT, MODEL_SCHEMA_VERSION};
use crate::model::mlp::{self, TrainSet, ValidMlpParams};
use crate::model::Model;
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::stages::features::FEATURE_SCHEMA_VERSION;
use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

/// Per-worker state (cascades and the like) for parallel work: each task borrows
/// one value, so at most one exists per concurrently running worker.
pub struct WorkerPool<T> {
    idle: Mutex<Vec<T>>,
}

impl<T> Default for WorkerPool<T> {
    fn default() -> Self {
        WorkerPool { idle: Mutex::new(Vec::new()) }
    }
}

impl<T> WorkerPool<T> {
    /// Run `f` with a value borrowed from the pool, built by `make` when none is idle.
    pub fn with<R>(&self, make: impl FnOnce() -> Result<T>, f: impl FnOnce(&mut T) -> R) -> Result<R> {
        let taken = self.idle.lock().ok().and_then(|mut v| v.pop());
        let mut value = match taken {
            Some(v) => v,
            None => make()?,
        };
        let r = f(&mut value);
        if let Ok(mut v) = self.idle.lock() {
            v.push(value);
        }
        Ok(r)
    }
}

/// Pipelines for worker threads (one set of cascades per worker).
pub struct PipelinePool {
    cfg: PipelineConfig,
    workers: WorkerPool<Pipeline>,
}

impl PipelinePool {
    /// Validate `cfg` once; pipelines are built on first use.
    pub fn new(cfg: PipelineConfig) -> Result<Self> {
        cfg.check()?;
        Ok(PipelinePool { cfg, workers: WorkerPool::default() })
    }

    /// The configuration every pipeline uses.
    pub fn config(&self) -> &PipelineConfig {
        &self.cfg
    }

    /// Run `f` with a pipeline borrowed from the pool.
    pub fn with<R>(&self, f: impl FnOnce(&mut Pipeline) -> R) -> Result<R> {
        self.workers.with(|| Pipeline::new(self.cfg), f)
    }
}

/// Features of one sample's largest face, and of its left-right mirror image when asked.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleFeatures {
    /// The image as it is.
    pub original: Vec<f32>,
    /// The mirrored image (training augmentation).
    pub mirrored: Option<Vec<f32>>,
}

/// Features of the largest face of each sample, or why there are none. With
/// `mirror`, each image is also read mirrored (a second face for training).
pub fn extract_features(
    samples: &[Sample],
    pool: &PipelinePool,
    mirror: bool,
    on_done: &(dyn Fn() + Sync),
) -> Vec<std::result::Result<SampleFeatures, String>> {
    let largest = |p: &mut Pipeline, img: &GrayImage, path: &std::path::Path| -> std::result::Result<Vec<f32>, String> {
        let reading = p.read_image(img).map_err(|e| format!("{}: {e}", path.display()))?;
        reading.faces.into_iter().next().map(|f| f.features).ok_or_else(|| format!("{}: no face found", path.display()))
    };
    samples
        .par_iter()
        .map(|s| {
            let r = decode_file(&s.path, &pool.config().decode).map_err(|e| e.to_string()).and_then(|img| {
                pool.with(|p| {
                    let original = largest(p, &img, &s.path)?;
                    let mirrored = if mirror {
                        let flipped = img.mirrored().map_err(|e| e.to_string())?;
                        largest(p, &flipped, &s.path).ok()
                    } else {
                        None
                    };
                    Ok(SampleFeatures { original, mirrored })
                })
                .map_err(|e| e.to_string())?
            });
            on_done();
            r
        })
        .collect()
}

/// Feature rows with labels and groups, ready to fit.
pub struct LabelledRows {
    /// Feature vectors.
    pub x: Vec<Vec<f32>>,
    /// Class index into `classes`.
    pub y: Vec<u32>,
    /// Group of each row (subject, or the file itself when unknown).
    pub groups: Vec<String>,
    /// Whether a row comes from a mirrored image (used for training only, never scored).
    pub mirrored: Vec<bool>,
    /// Class names.
    pub classes: Vec<String>,
    /// Samples dropped because no features could be made.
    pub skipped: usize,
}

impl LabelledRows {
    /// Pair samples with their extracted features; drops failures. A mirrored
    /// copy shares its original's group, so it never lands on the other side of a split.
    pub fn new(samples: &[Sample], features: Vec<std::result::Result<SampleFeatures, String>>, classes: Vec<String>) -> Self {
        let mut rows = LabelledRows { x: vec![], y: vec![], groups: vec![], mirrored: vec![], classes, skipped: 0 };
        for (s, f) in samples.iter().zip(features) {
            let (Ok(f), Some(c)) = (f, rows.classes.iter().position(|c| *c == s.label)) else {
                rows.skipped += 1;
                continue;
            };
            let group = s.subject.clone().unwrap_or_else(|| s.path.to_string_lossy().into_owned());
            for (x, mirrored) in std::iter::once((f.original, false)).chain(f.mirrored.map(|m| (m, true))) {
                rows.x.push(x);
                rows.y.push(c as u32);
                rows.groups.push(group.clone());
                rows.mirrored.push(mirrored);
            }
        }
        rows
    }

    /// Rows from original (not mirrored) images.
    pub fn originals(&self) -> usize {
        self.mirrored.iter().filter(|m| !**m).count()
    }
}

/// Split row indices into training and validation, whole groups at a time.
pub fn grouped_split(groups: &[String], rows: &[usize], val_fraction: f32, seed: u64) -> (Vec<usize>, Vec<usize>) {
    if val_fraction <= 0.0 {
        return (rows.to_vec(), Vec::new());
    }
    let mut unique: Vec<&str> = rows.iter().map(|&r| groups[r].as_str()).collect::<BTreeSet<_>>().into_iter().collect();
    unique.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
    let target = (rows.len() as f32 * val_fraction).round() as usize;
    let mut val_groups = BTreeSet::new();
    let mut taken = 0usize;
    let size: HashMap<&str, usize> = rows.iter().fold(HashMap::new(), |mut m, &r| {
        *m.entry(groups[r].as_str()).or_insert(0) += 1;
        m
    });
    for g in unique {
        if taken >= target {
            break;
        }
        taken += size[g];
        val_groups.insert(g);
    }
    rows.iter().partition(|&&r| !val_groups.contains(groups[r].as_str()))
}

/// Everything `fit` needs besides the rows.
pub struct FitOptions {
    pub params: ValidMlpParams,
    pub val_fraction: f32,
    pub pipeline: PipelineConfig,
    pub sources: Vec<String>,
}

/// Train an MLP bundle on `rows` (restricted to `subset`).
pub fn fit(rows: &LabelledRows, subset: &[usize], opts: &FitOptions, on_epoch: &mut mlp::EpochCallback) -> Result<Model> {
    if subset.is_empty() {
        return Err(FerError::Training("no training samples with features".into()));
    }
    let present: BTreeSet<u32> = subset.iter().map(|&r| rows.y[r]).collect();
    if present.len() < 2 {
        return Err(FerError::Training(format!("only {} class in the training data; need at least 2", present.len())));
    }
    let dim = rows.x[subset[0]].len();
    if subset.iter().any(|&r| rows.x[r].len() != dim) {
        return Err(FerError::Training("feature vectors differ in length".into()));
    }
    let (train_rows, mut val_rows) = grouped_split(&rows.groups, subset, opts.val_fraction, opts.params.seed);
    val_rows.retain(|&r| !rows.mirrored[r]);
    let (mean, std) = mean_std(&rows.x, &train_rows, dim);
    let mut flat = Vec::with_capacity(rows.x.len() * dim);
    for v in &rows.x {
        flat.extend(v.iter().enumerate().map(|(j, x)| (x - mean[j]) / std[j]));
    }
    let set = TrainSet { x: &flat, y: &rows.y, dim };
    let varmap = VarMap::new();
    let (_, report) = mlp::train(&varmap, &opts.params, &set, rows.classes.len(), &train_rows, &val_rows, on_epoch)?;
    let mut tensors: HashMap<String, Tensor> = varmap
        .data()
        .lock()
        .map_err(|_| FerError::Training("weight store poisoned".into()))?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    tensors.insert("norm.mean".into(), Tensor::from_vec(mean, dim, &Device::Cpu)?);
    tensors.insert("norm.std".into(), Tensor::from_vec(std, dim, &Device::Cpu)?);
    let originals: Vec<usize> = subset.iter().copied().filter(|&r| !rows.mirrored[r]).collect();
    let distinct_groups = originals.iter().map(|&r| &rows.groups[r]).collect::<BTreeSet<_>>().len();
    let header = ModelHeader {
        format: MODEL_FORMAT.into(),
        schema_version: MODEL_SCHEMA_VERSION,
        kind: "mlp".into(),
        classes: rows.classes.clone(),
        feature_schema_version: FEATURE_SCHEMA_VERSION,
        feature_dim: dim,
        pipeline: opts.pipeline,
        mlp: (*opts.params).clone(),
        training: TrainingSummary {
            sources: opts.sources.clone(),
            per_class: count_per_class(originals.iter().map(|&r| rows.classes[rows.y[r] as usize].clone())),
            skipped: rows.skipped,
            train: train_rows.len(),
            validation: val_rows.len(),
            validation_split: if distinct_groups < originals.len() { "by subject".into() } else { "by image".into() },
            mirrored: train_rows.iter().filter(|&&r| rows.mirrored[r]).count(),
            report,
        },
        written_by: format!("fer {}", env!("CARGO_PKG_VERSION")),
    };
    Model::from_tensors(header, tensors)
}

fn mean_std(x: &[Vec<f32>], rows: &[usize], dim: usize) -> (Vec<f32>, Vec<f32>) {
    let n = rows.len().max(1) as f64;
    let mut mean = vec![0f64; dim];
    for &r in rows {
        for (m, v) in mean.iter_mut().zip(&x[r]) {
            *m += *v as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n);
    let mut var = vec![0f64; dim];
    for &r in rows {
        for ((s, v), m) in var.iter_mut().zip(&x[r]).zip(&mean) {
            *s += (*v as f64 - m).powi(2);
        }
    }
    let std = var.iter().map(|s| ((s / n).sqrt() as f32).max(MIN_STD)).collect();
    (mean.into_iter().map(|m| m as f32).collect(), std)
}

/// Index of the largest probability among `allowed` classes (all when `None`).
pub fn argmax(probs: &[f32], allowed: Option<&[usize]>) -> usize {
    let candidates: Vec<usize> = match allowed {
        Some(a) => a.to_vec(),
        None => (0..probs.len()).collect(),
    };
    candidates.into_iter().max_by(|&a, &b| probs[a].total_cmp(&probs[b])).unwrap_or(0)
}

/// Grouped k-fold cross-validation: each fold's model is trained (with its own
/// grouped validation split for early stopping) on the other folds and predicts
/// this one; predictions from all folds make one report.
pub fn cross_validate(rows: &LabelledRows, k: usize, opts: &FitOptions, on_fold: &mut dyn FnMut(usize, f64)) -> Result<Report> {
    if k < 2 {
        return Err(FerError::param("cv", "needs at least 2 folds"));
    }
    let distinct = rows.groups.iter().collect::<BTreeSet<_>>().len();
    if distinct < k {
        return Err(FerError::Training(format!("{distinct} groups cannot make {k} folds")));
    }
    let fold = group_kfold(&rows.groups, k);
    let mut truth = Vec::new();
    let mut pred = Vec::new();
    let mut fold_accuracy = Vec::new();
    for f in 0..k {
        let train: Vec<usize> = (0..rows.x.len()).filter(|&r| fold[r] != f).collect();
        let test: Vec<usize> = (0..rows.x.len()).filter(|&r| fold[r] == f && !rows.mirrored[r]).collect();
        let model = fit(rows, &train, opts, &mut |_, _, _, _| {})?;
        let test_x: Vec<Vec<f32>> = test.iter().map(|&r| rows.x[r].clone()).collect();
        let probs = model.predict(&test_x)?;
        let mut correct = 0usize;
        for (&r, p) in test.iter().zip(&probs) {
            let (t, q) = (rows.y[r] as usize, argmax(p, None));
            correct += (t == q) as usize;
            truth.push(t);
            pred.push(q);
        }
        let acc = correct as f64 / test.len().max(1) as f64;
        fold_accuracy.push(acc);
        on_fold(f, acc);
    }
    let mut report = Report::new(
        format!("{k}-fold cross-validation grouped by subject (no subject in two folds); each fold trains its own model"),
        rows.classes.clone(),
        &truth,
        &pred,
        rows.skipped,
    );
    report.fold_accuracy = fold_accuracy;
    Ok(report)
}
