//! `fer compare`: every model kind trained and evaluated on the same folds (or
//! the same train/test split), reported side by side: accuracy, macro-F1,
//! training seconds, microseconds per face at inference, bundle size.
//!
//! A pre-trained deep model can join as one more row ([`deep_row`]): it is not
//! retrained, only run on the same test images.
//!
//! Within a fold, models are trained once and reused: the ensemble is the soft
//! vote of that fold's MLP, forest and booster, and the distilled soft tree
//! learns from that fold's MLP. Their training seconds include what they reuse,
//! so every row says what training it from scratch costs.

use crate::cross_validation::{accuracy_of, predict_rows, predict_sets, Fold};
use crate::dataset::Sample;
use crate::error::{FerError, Result};
use crate::metrics::argmax;
use crate::metrics::Report;
use crate::model::params::Teacher;
use crate::model::FaceModel;
use crate::model::ModelKind;
use crate::rows::{classify_samples, LabelledRows};
use crate::stages::decode::decode_file;
use crate::train::{self, FitOptions, Trained};
use crate::workers::PipelinePool;
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Test faces classified one at a time to measure inference cost.
pub const TIMED_FACES: usize = 200;

/// One model to compare: a kind, for soft trees the teacher, and for the linfa
/// baselines whether the features go through PCA first.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// Row name in the table.
    pub name: String,
    pub kind: ModelKind,
    pub distill: Option<Teacher>,
    /// Principal components first (`logistic-pca`, `svm-pca`): `--pca N`, or
    /// [`DEFAULT_PCA_COMPONENTS`] when that is 0.
    pub pca: bool,
}

/// Components of the `-pca` rows when `--pca` is not given: the best of 64, 128
/// and 256 for logistic regression on FER2013's PublicTest (validation) split
/// (42.21%, 44.94%, 46.28%; 45.36% without PCA; README, "Model kinds").
pub const DEFAULT_PCA_COMPONENTS: usize = 256;

/// Every kind, with the soft tree both on labels and distilled from the MLP;
/// the set models only `with_sets` (the data has sets of frames, `--set-by`).
pub fn all_variants(with_sets: bool) -> Vec<Variant> {
    let mut v = Vec::new();
    for kind in ModelKind::all().filter(|k| with_sets || !k.needs_sets()) {
        v.push(Variant {
            name: kind.name().to_string(),
            kind,
            distill: None,
            pca: false,
        });
        if kind == ModelKind::SOFT_TREE {
            v.push(Variant {
                name: "soft-tree-distilled".into(),
                kind,
                distill: Some(Teacher::Mlp),
                pca: false,
            });
        }
    }
    v
}

/// Variants run only when named: the linfa baselines behind PCA.
fn named_only_variants() -> Vec<Variant> {
    [ModelKind::LOGISTIC, ModelKind::SVM]
        .into_iter()
        .map(|kind| Variant {
            name: format!("{}-pca", kind.name()),
            kind,
            distill: None,
            pca: true,
        })
        .collect()
}

/// The variants of `names` (as in [`all_variants`], plus `logistic-pca` and
/// `svm-pca`), in that order; an unknown name is an error that lists the known ones.
pub fn variants_named(names: &[String]) -> Result<Vec<Variant>> {
    let mut all = all_variants(true);
    all.extend(named_only_variants());
    names
        .iter()
        .map(|m| {
            all.iter().find(|v| v.name == *m).cloned().ok_or_else(|| {
                FerError::param(
                    "models",
                    format!(
                        "unknown model `{m}`; choose from {}",
                        all.iter()
                            .map(|v| v.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })
        })
        .collect()
}

/// One fold that trains on the rows of the first `n_train` samples (mirrored copies
/// included) and tests on the original rows of the others.
pub fn held_out_fold(rows: &LabelledRows, n_train: usize) -> Fold {
    let train = (0..rows.x.len())
        .filter(|&r| rows.sample[r] < n_train)
        .collect();
    let test = (0..rows.x.len())
        .filter(|&r| rows.sample[r] >= n_train && !rows.mirrored[r])
        .collect();
    (train, test)
}

/// A deep model's row name: an inline ensemble as given, a file by its stem, and
/// the test-time augmentation when one is asked for.
pub fn deep_label(name: &str, tta: Option<&str>) -> String {
    let label = if crate::model::load::is_inline_ensemble(name) {
        name.to_string()
    } else {
        std::path::Path::new(name)
            .file_stem()
            .map_or_else(|| name.to_string(), |s| s.to_string_lossy().into_owned())
    };
    match tta {
        Some(t) if t != "none" => format!("{label} (tta {t})"),
        _ => label,
    }
}

/// One row of the comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompareRow {
    pub name: String,
    /// Model kind, or `onnx` for a pre-trained deep model.
    pub kind: String,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Accuracy of each fold.
    pub fold_accuracy: Vec<f64>,
    /// Mean training seconds per fold (from scratch: members and teachers included).
    pub train_seconds: f64,
    /// Mean microseconds to classify one face's features (standardisation included).
    pub us_per_face: f64,
    /// Mean bundle size in bytes.
    pub size_bytes: u64,
    /// Accuracy over whole sets of frames (`--set-by`): a set model pools their
    /// features, the others average their probabilities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_accuracy: Option<f64>,
    /// The full evaluation.
    pub report: Report,
}

/// What a row's model cost, summed over the folds: training seconds, microseconds
/// per face, bytes on disk.
#[derive(Debug, Clone, Default)]
pub struct FoldCosts {
    pub seconds: f64,
    pub micros: f64,
    pub bytes: u64,
}

impl CompareRow {
    /// A row scored by `report` (its accuracy and macro-F1 are the report's), with
    /// the costs averaged over its folds.
    pub fn averaged(
        name: &str,
        kind: &str,
        report: Report,
        fold_accuracy: Vec<f64>,
        costs: &FoldCosts,
        set_accuracy: Option<f64>,
    ) -> Self {
        let k = fold_accuracy.len().max(1) as f64;
        CompareRow {
            name: name.to_string(),
            kind: kind.to_string(),
            accuracy: report.accuracy,
            macro_f1: report.macro_f1,
            fold_accuracy,
            train_seconds: costs.seconds / k,
            us_per_face: costs.micros / k,
            size_bytes: (costs.bytes as f64 / k).round() as u64,
            set_accuracy,
            report,
        }
    }
}

/// The comparison table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Comparison {
    pub protocol: String,
    pub rows: Vec<CompareRow>,
}

/// Train and evaluate every variant on every fold. `on_step(fold, variant, accuracy)` reports progress.
pub fn run(
    rows: &LabelledRows,
    folds: &[Fold],
    base: &FitOptions,
    variants: &[Variant],
    protocol: String,
    on_step: &mut dyn FnMut(usize, &str, f64),
) -> Result<Comparison> {
    if variants.is_empty() || folds.is_empty() {
        return Err(FerError::param(
            "compare",
            "needs at least one model and one fold",
        ));
    }
    struct Acc {
        truth: Vec<usize>,
        pred: Vec<usize>,
        set_truth: Vec<usize>,
        set_pred: Vec<usize>,
        folds: Vec<f64>,
        costs: FoldCosts,
    }
    let mut acc: Vec<Acc> = variants
        .iter()
        .map(|_| Acc {
            truth: vec![],
            pred: vec![],
            set_truth: vec![],
            set_pred: vec![],
            folds: vec![],
            costs: FoldCosts::default(),
        })
        .collect();
    for (f, (train, test)) in folds.iter().enumerate() {
        let mut trained = Trained::new();
        for (v, a) in variants.iter().zip(&mut acc) {
            let mut opts = base.clone();
            opts.kind = v.kind;
            opts.trees = opts.trees.with_distill(v.distill);
            opts.trees = opts.trees.with_pca(match (v.pca, base.trees.pca) {
                (false, _) => 0,
                (true, 0) => DEFAULT_PCA_COMPONENTS,
                (true, n) => n,
            });
            opts.pipeline.features.points |= v.kind.reads_points();
            let (model, seconds) =
                train::fit_reusing(rows, train, &opts, &mut trained, &mut |_, _, _, _| {})?;
            let (t, p) = predict_rows(&model, rows, test)?;
            let fold_acc = accuracy_of(&t, &p);
            a.truth.extend(t);
            a.pred.extend(p);
            if let Some(keys) = &rows.sets {
                let (t, p) = predict_sets(&model, rows, &crate::sets::group(keys, test))?;
                a.set_truth.extend(t);
                a.set_pred.extend(p);
            }
            a.folds.push(fold_acc);
            a.costs.seconds += seconds;
            a.costs.micros += micros_per_face(&model, rows, test)?;
            a.costs.bytes += model.size_on_disk()?;
            on_step(f, &v.name, fold_acc);
        }
    }
    let rows_out = variants
        .iter()
        .zip(acc)
        .map(|(v, a)| {
            let report = Report::new(
                format!("{protocol}; model {}", v.name),
                rows.classes.clone(),
                &a.truth,
                &a.pred,
                rows.skipped,
            );
            let set_accuracy = rows
                .sets
                .is_some()
                .then(|| accuracy_of(&a.set_truth, &a.set_pred));
            CompareRow::averaged(
                &v.name,
                v.kind.name(),
                report,
                a.folds,
                &a.costs,
                set_accuracy,
            )
        })
        .collect();
    Ok(Comparison {
        protocol,
        rows: rows_out,
    })
}

/// Mean microseconds to classify one face, over up to [`TIMED_FACES`] test rows
/// classified one at a time (after one warm-up call).
fn micros_per_face(
    model: &crate::model::Model,
    rows: &LabelledRows,
    test: &[usize],
) -> Result<f64> {
    let timed: Vec<Vec<f32>> = test
        .iter()
        .take(TIMED_FACES)
        .map(|&r| train::row_for(model, &rows.x[r]).to_vec())
        .collect();
    let Some(first) = timed.first() else {
        return Ok(0.0);
    };
    model.predict(std::slice::from_ref(first))?;
    let started = Instant::now();
    for x in &timed {
        model.predict(std::slice::from_ref(x))?;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / timed.len() as f64)
}

/// A pre-trained deep model (not retrained per fold) on every fold's test images,
/// the images behind the test rows of `rows` (`samples` are the samples `rows`
/// were made from). Its predictions are restricted to the data's classes.
#[allow(clippy::too_many_arguments)]
pub fn deep_row(
    name: &str,
    model: &dyn FaceModel,
    size_bytes: u64,
    samples: &[Sample],
    rows: &LabelledRows,
    folds: &[Fold],
    pool: &PipelinePool,
    protocol: &str,
) -> Result<CompareRow> {
    let to_data: Vec<Option<usize>> = model
        .classes()
        .iter()
        .map(|c| rows.classes.iter().position(|d| d == c))
        .collect();
    let known: Vec<usize> = (0..to_data.len())
        .filter(|&i| to_data[i].is_some())
        .collect();
    let (mut truth, mut pred, mut fold_accuracy, mut skipped) =
        (Vec::new(), Vec::new(), Vec::new(), 0usize);
    let mut timed = Vec::new();
    for (_, test) in folds {
        let fold_samples: Vec<Sample> = test
            .iter()
            .map(|&r| samples[rows.sample[r]].clone())
            .collect();
        let probs = classify_samples(&fold_samples, pool, model, &|| {});
        let (mut t, mut p) = (Vec::new(), Vec::new());
        for (&r, result) in test.iter().zip(probs) {
            let Ok(probs) = result.map(|o| o.probabilities) else {
                skipped += 1;
                continue;
            };
            t.push(rows.y[r] as usize);
            p.push(
                to_data
                    .get(argmax(&probs, Some(&known)))
                    .copied()
                    .flatten()
                    .unwrap_or(0),
            );
        }
        fold_accuracy.push(accuracy_of(&t, &p));
        truth.extend(t);
        pred.extend(p);
        timed.extend(
            fold_samples
                .into_iter()
                .take(TIMED_FACES.saturating_sub(timed.len())),
        );
    }
    let report = Report::new(
        format!("{protocol}; pre-trained model {name}, not retrained per fold"),
        rows.classes.clone(),
        &truth,
        &pred,
        rows.skipped + skipped,
    );
    Ok(CompareRow {
        name: name.to_string(),
        kind: "onnx".into(),
        accuracy: report.accuracy,
        macro_f1: report.macro_f1,
        fold_accuracy,
        train_seconds: 0.0,
        us_per_face: deep_micros_per_face(model, pool, &timed)?,
        size_bytes,
        set_accuracy: None,
        report,
    })
}

/// Mean microseconds for the deep model alone on one face, over up to
/// [`TIMED_FACES`] images read beforehand (after one warm-up call).
fn deep_micros_per_face(
    model: &dyn FaceModel,
    pool: &PipelinePool,
    samples: &[Sample],
) -> Result<f64> {
    let mut ready = Vec::new();
    for s in samples {
        let Ok(img) = decode_file(&s.path, &pool.config().decode) else {
            continue;
        };
        let mut reading = pool.with(|p| p.read_image(&img))??;
        reading.faces.truncate(1);
        if !reading.faces.is_empty() {
            ready.push((img, reading));
        }
    }
    let Some((img, reading)) = ready.first() else {
        return Ok(0.0);
    };
    model.classify_faces(img, reading)?;
    let started = Instant::now();
    for (img, reading) in &ready {
        model.classify_faces(img, reading)?;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / ready.len() as f64)
}

impl Comparison {
    /// The table as text.
    pub fn to_text(&self) -> String {
        let mut s = format!("protocol: {}\n\n", self.protocol);
        let sets = self.rows.iter().any(|r| r.set_accuracy.is_some());
        s += &format!(
            "{:<20} {:>9} {:>9} {:>10} {:>10} {:>11}{}\n",
            "model",
            "accuracy",
            "macro-F1",
            "train s",
            "us/face",
            "size KiB",
            if sets { "   per set" } else { "" }
        );
        for r in &self.rows {
            let per_set = match (sets, r.set_accuracy) {
                (false, _) => String::new(),
                (true, Some(a)) => format!(" {:>8.2}%", 100.0 * a),
                (true, None) => format!(" {:>9}", "-"),
            };
            s += &format!(
                "{:<20} {:>8.2}% {:>9.4} {:>10.1} {:>10.1} {:>11.1}{per_set}\n",
                r.name,
                100.0 * r.accuracy,
                r.macro_f1,
                r.train_seconds,
                r.us_per_face,
                r.size_bytes as f64 / 1024.0
            );
        }
        if sets {
            s += "\nper set: each set of frames (--set-by) read whole: a set model pools the frames' features, the others average their probabilities\n";
        }
        s
    }

    /// The row called `name`.
    pub fn row(&self, name: &str) -> Option<&CompareRow> {
        self.rows.iter().find(|r| r.name == name)
    }
}
