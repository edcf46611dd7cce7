//! Training on labelled rows ([`crate::rows`]): the subject-grouped validation
//! split, and fitting a bundle of any model kind (distilling a soft tree from a
//! teacher when asked). Cross-validation is in [`crate::cross_validation`].

use crate::dataset::count_per_class;
use crate::error::{FerError, Result};
use crate::model::bundle::{
    ModelHeader, TrainingSummary, MIN_STD, MODEL_FORMAT, MODEL_SCHEMA_VERSION,
};
use crate::model::learner::{fit_kind, soften, FitJob};
pub use crate::model::learner::{Fitted, Split, Trained};
use crate::model::mlp::{self, Objective, TrainSet, ValidMlpParams};
use crate::model::params::{Teacher, ValidTreeParams};
use crate::model::{Model, ModelKind};
use crate::pipeline::PipelineConfig;
use crate::rows::LabelledRows;
use crate::stages::features::FEATURE_SCHEMA_VERSION;
use candle_core::{Device, Tensor};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::{BTreeSet, HashMap};

/// Split row indices into training and validation, whole groups at a time.
pub fn grouped_split(
    groups: &[String],
    rows: &[usize],
    val_fraction: f32,
    seed: u64,
) -> (Vec<usize>, Vec<usize>) {
    if val_fraction <= 0.0 {
        return (rows.to_vec(), Vec::new());
    }
    let mut unique: Vec<&str> = rows
        .iter()
        .map(|&r| groups[r].as_str())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
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
    rows.iter()
        .partition(|&&r| !val_groups.contains(groups[r].as_str()))
}

/// Everything `fit` needs besides the rows.
#[derive(Clone)]
pub struct FitOptions {
    /// Which classifier to train.
    pub kind: ModelKind,
    /// Network and optimiser settings.
    pub params: ValidMlpParams,
    /// Tree model settings.
    pub trees: ValidTreeParams,
    /// Share of the rows held out (by group) for early stopping of the kinds
    /// trained by gradient; forest and boosting learn from these rows too.
    pub val_fraction: f32,
    pub pipeline: PipelineConfig,
    pub sources: Vec<String>,
}

impl FitOptions {
    /// Validated options for a model of `kind`: the point features are turned on
    /// for a kind that reads them, and the pipeline and both parameter sets are checked.
    pub fn new(
        kind: ModelKind,
        mut pipeline: PipelineConfig,
        params: crate::model::mlp::MlpParams,
        trees: crate::model::TreeParams,
        val_fraction: f32,
        sources: Vec<String>,
    ) -> Result<Self> {
        pipeline.features.points |= kind.reads_points();
        pipeline.check()?;
        Ok(FitOptions {
            kind,
            params: params.check()?,
            trees: trees.check()?,
            val_fraction,
            pipeline,
            sources,
        })
    }
}

/// Sets of frames (`--set-by`) are for the set models: refuse them with a per-frame
/// `kind`, which would learn exactly what it learns without them.
pub fn check_set_by(kind: ModelKind, set_by: bool) -> Result<()> {
    if set_by && !kind.needs_sets() {
        return Err(FerError::param(
            "set-by",
            format!(
                "sets of frames train the set models (set-max, set-mean or set-attention); a {kind} model learns frame by frame (fer eval --set-by scores any model on whole sets)"
            ),
        ));
    }
    Ok(())
}

/// Train a bundle of `opts.kind` on `rows` (restricted to `subset`).
pub fn fit(
    rows: &LabelledRows,
    subset: &[usize],
    opts: &FitOptions,
    on_epoch: &mut mlp::EpochCallback,
) -> Result<Model> {
    Ok(fit_reusing(rows, subset, opts, &mut Trained::new(), on_epoch)?.0)
}

/// [`fit`], reusing (and adding to) models already trained on the same rows
/// with the same options; also returns the training seconds.
pub fn fit_reusing(
    rows: &LabelledRows,
    subset: &[usize],
    opts: &FitOptions,
    trained: &mut Trained,
    on_epoch: &mut mlp::EpochCallback,
) -> Result<(Model, f64)> {
    if subset.is_empty() {
        return Err(FerError::Training(
            "no training samples with features".into(),
        ));
    }
    let present: BTreeSet<u32> = subset.iter().map(|&r| rows.y[r]).collect();
    if present.len() < 2 {
        return Err(FerError::Training(format!(
            "only {} class in the training data; need at least 2",
            present.len()
        )));
    }
    if opts.kind.needs_sets() && rows.sets.is_none() {
        return Err(FerError::Training(format!(
            "a {} model learns from sets of frames: give --set-by sequence (or a manifest column whose value names each frame's set)",
            opts.kind
        )));
    }
    let full = rows.x[subset[0]].len();
    if subset.iter().any(|&r| rows.x[r].len() != full) {
        return Err(FerError::Training(
            "feature vectors differ in length".into(),
        ));
    }
    let dim = columns_read(opts, full);
    let (train_rows, held_out) =
        grouped_split(&rows.groups, subset, opts.val_fraction, opts.params.seed);
    let val_rows: Vec<usize> = held_out
        .iter()
        .copied()
        .filter(|&r| !rows.mirrored[r])
        .collect();
    let split = Split {
        all: subset.to_vec(),
        train: train_rows,
        val: val_rows,
    };
    let (mean, std) = mean_std(&rows.x, &split.train, dim);
    let mut flat = Vec::with_capacity(rows.x.len() * dim);
    for v in &rows.x {
        flat.extend(
            v[..dim]
                .iter()
                .enumerate()
                .map(|(j, x)| (x - mean[j]) / std[j]),
        );
    }
    let deep = match (opts.trees.distill, &rows.teacher, &rows.votes) {
        (Some(Teacher::Deep), Some(_), Some(_)) => {
            return Err(FerError::Training(
                "--votes and --distill deep both give the training targets; choose one".into(),
            ))
        }
        (Some(Teacher::Deep), Some(t), None) => Some(soften(t, opts.trees.temperature)),
        (Some(Teacher::Deep), None, _) => {
            return Err(FerError::Training(
                "--distill deep needs a deep teacher's probabilities (--teacher MODEL)".into(),
            ))
        }
        // Votes are already a distribution: no temperature.
        (_, _, Some(v)) => Some(v.concat()),
        _ => None,
    };
    let (known, sources) = objective_inputs(rows, subset, opts)?;
    if opts.params.objective == Objective::LatentTruth && deep.is_some() {
        return Err(FerError::Training(
            "--latent-truth learns from each source's labels; it does not take --votes or --distill deep (give the vote majority as a source instead, e.g. dataset ferplus)".into(),
        ));
    }
    let set = TrainSet {
        x: &flat,
        y: &rows.y,
        soft: deep.as_deref(),
        dim,
        known: known.as_deref(),
        sources: sources.as_ref().map(|(s, n)| (s.as_slice(), *n)),
    };
    let job = FitJob {
        params: &opts.params,
        trees: &opts.trees,
        set: &set,
        classes: rows.classes.len(),
        split: &split,
        layout: &opts.pipeline.features.layout(opts.pipeline.align.size),
        sets: rows.sets.as_deref(),
    };
    let fitted = fit_kind(opts.kind.learner(), &job, trained, on_epoch)?;
    let seconds = fitted.seconds;
    let report = fitted.report;
    let mut tensors: HashMap<String, Tensor> = fitted.tensors.into_iter().collect();
    tensors.insert(
        "norm.mean".into(),
        Tensor::from_vec(mean, dim, &Device::Cpu)?,
    );
    tensors.insert("norm.std".into(), Tensor::from_vec(std, dim, &Device::Cpu)?);
    let originals: Vec<usize> = subset
        .iter()
        .copied()
        .filter(|&r| !rows.mirrored[r])
        .collect();
    let distinct_groups = originals
        .iter()
        .map(|&r| &rows.groups[r])
        .collect::<BTreeSet<_>>()
        .len();
    let (train, validation) = if opts.kind.uses_validation() {
        (&split.train, split.val.len())
    } else {
        (&split.all, 0)
    };
    let header = ModelHeader {
        format: MODEL_FORMAT.into(),
        schema_version: MODEL_SCHEMA_VERSION,
        kind: opts.kind.name().into(),
        classes: rows.classes.clone(),
        feature_schema_version: FEATURE_SCHEMA_VERSION,
        feature_dim: dim,
        pipeline: opts.pipeline,
        mlp: (*opts.params).clone(),
        trees: (*opts.trees).clone(),
        latent_sources: if opts.params.objective == Objective::LatentTruth {
            latent_source_names(rows, subset)
        } else {
            vec![]
        },
        training: TrainingSummary {
            sources: opts.sources.clone(),
            per_class: count_per_class(
                originals
                    .iter()
                    .map(|&r| rows.classes[rows.y[r] as usize].clone()),
            ),
            skipped: rows.skipped,
            train: train.len(),
            validation,
            validation_split: if distinct_groups < originals.len() {
                "by subject".into()
            } else {
                "by image".into()
            },
            mirrored: train.iter().filter(|&&r| rows.mirrored[r]).count(),
            report,
        },
        written_by: format!("fer {}", env!("CARGO_PKG_VERSION")),
    };
    Ok((Model::from_tensors(header, tensors)?, seconds))
}

/// What partial labels and latent truth need besides the rows: for partial
/// labels, the classes each row's source annotates (`[rows, classes]`, 1 or 0: the
/// classes its training rows have); for latent truth, each row's source index
/// (renumbered over the sources of `subset`) and their count.
#[allow(clippy::type_complexity)]
fn objective_inputs(
    rows: &LabelledRows,
    subset: &[usize],
    opts: &FitOptions,
) -> Result<(Option<Vec<f32>>, Option<(Vec<u32>, usize)>)> {
    let objective = opts.params.objective;
    if objective == Objective::CrossEntropy {
        return Ok((None, None));
    }
    if !opts.kind.is_network() {
        return Err(FerError::Training(format!(
            "{} trains the networks (mlp, soft-tree, ndf, dndt); {} learns from the labels alone",
            objective.flag(),
            opts.kind
        )));
    }
    if opts.trees.distill.is_some_and(|t| t != Teacher::Deep) {
        return Err(FerError::Training(format!(
            "{} and --distill {} do not go together: the student learns the teacher's probabilities, not the sources' labels",
            objective.flag(),
            opts.trees
                .distill
                .map_or(String::new(), |t| format!("{t:?}").to_lowercase())
        )));
    }
    let k = rows.classes.len();
    let source_of = |r: usize| rows.source_of(r);
    let name_of = |s: usize| rows.source_name(s);
    let used: BTreeSet<usize> = subset.iter().map(|&r| source_of(r)).collect();
    match objective {
        Objective::PartialLabels => {
            let mut annotates: HashMap<usize, Vec<f32>> = HashMap::new();
            for &r in subset {
                annotates
                    .entry(source_of(r))
                    .or_insert_with(|| vec![0.0; k])[rows.y[r] as usize] = 1.0;
            }
            for (s, known) in &annotates {
                let missing: Vec<&str> = (0..k)
                    .filter(|&c| known[c] == 0.0)
                    .map(|c| rows.classes[c].as_str())
                    .collect();
                tracing::info!(
                    "partial labels: source {} annotates {} of {} classes{}",
                    name_of(*s),
                    k - missing.len(),
                    k,
                    if missing.is_empty() {
                        String::new()
                    } else {
                        format!(" (unknown: {})", missing.join(", "))
                    }
                );
            }
            let mut mask = vec![0f32; rows.x.len() * k];
            for &r in subset {
                mask[r * k..(r + 1) * k].copy_from_slice(&annotates[&source_of(r)]);
            }
            Ok((Some(mask), None))
        }
        Objective::LatentTruth => {
            if used.len() < 2 {
                return Err(FerError::Training(format!(
                    "--latent-truth needs two or more annotated sources; the training data has one ({}). Give several, e.g. --dataset fer2013,ferplus, or name them with --data NAME=PATH",
                    name_of(used.iter().next().copied().unwrap_or(0))
                )));
            }
            let order: Vec<usize> = used.into_iter().collect();
            let index: Vec<u32> = (0..rows.x.len())
                .map(|r| order.iter().position(|&s| s == source_of(r)).unwrap_or(0) as u32)
                .collect();
            Ok((None, Some((index, order.len()))))
        }
        Objective::CrossEntropy => Ok((None, None)),
    }
}

/// The names of the sources of `subset`'s rows, in the order latent truth numbers them.
pub fn latent_source_names(rows: &LabelledRows, subset: &[usize]) -> Vec<String> {
    subset
        .iter()
        .map(|&r| rows.source_of(r))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .map(|s| rows.source_name(s))
        .collect()
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
    let std = var
        .iter()
        .map(|s| ((s / n).sqrt() as f32).max(MIN_STD))
        .collect();
    (mean.into_iter().map(|m| m as f32).collect(), std)
}

/// How many leading columns of rows `full` long a model trained with `opts`
/// reads: all of them, unless the rows carry a point part that `opts` leaves out.
/// That happens in `fer compare`, where one extraction with the point part (for
/// gnn) serves every row; the point part is last, so the others read a prefix
/// and train as they would on their own.
fn columns_read(opts: &FitOptions, full: usize) -> usize {
    let (features, size) = (opts.pipeline.features, opts.pipeline.align.size);
    let with_points = features.len(size) + features.with_points().points_len();
    if !features.points && full == with_points {
        features.len(size)
    } else {
        full
    }
}

/// The columns of feature row `x` that `model` reads (see [`columns_read`]).
pub fn row_for<'a>(model: &Model, x: &'a [f32]) -> &'a [f32] {
    &x[..model.header().feature_dim.min(x.len())]
}
