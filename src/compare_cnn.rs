//! Our CNN as a row of `fer compare` (`--cnn`): trained from scratch on every fold's
//! training images, as `fer train-cnn` would on them, and tested on that fold's test
//! images, so its figures stand on the same folds as the feature models'.
//!
//! Each image is cropped once (its largest face, or the whole image with
//! `--no-detect`: the crop `train-cnn` learns from and the CNN reads at inference);
//! a fold trains on the crops of its training images (never their mirrored feature
//! rows: the CNN flips crops itself) and is scored on its test images'. An image
//! without a crop is skipped and counted, as a deep row's are.

use crate::compare::{CompareRow, FoldCosts, TIMED_FACES};
use crate::cross_validation::{accuracy_of, Fold};
use crate::dataset::Sample;
use crate::error::Result;
use crate::metrics::{argmax, Report};
use crate::model::cnn::CnnArch;
use crate::model::cnn::CnnModel;
use crate::model::cnn_checkpoint::Checkpoints;
use crate::model::cnn_crops::crop_each;
use crate::model::cnn_train::{self, CnnParams, CropOrigin, CropSet, ValidCnnParams};
use crate::model::learner::mean_probabilities;
use crate::pipeline::PipelineConfig;
use crate::rows::LabelledRows;
use std::time::Instant;

/// The CNN row's settings: `fer train-cnn`'s defaults with `epochs` (the warmup
/// shortened to fit), the stages' `channels`, and random flips unless `mirror` is off.
pub fn row_params(epochs: usize, channels: Vec<usize>, mirror: bool) -> Result<ValidCnnParams> {
    let defaults = CnnParams::default();
    CnnParams {
        arch: CnnArch {
            channels,
            ..defaults.arch.clone()
        },
        epochs,
        warmup_epochs: defaults.warmup_epochs.min(epochs.saturating_sub(1)),
        mirror,
        ..defaults
    }
    .check()
}

/// The CNN's row: trained and tested on every fold of `rows` (made from `samples`).
/// `on_fold(fold, accuracy)` reports progress.
#[allow(clippy::too_many_arguments)]
pub fn cnn_row(
    name: &str,
    params: &ValidCnnParams,
    samples: &[Sample],
    rows: &LabelledRows,
    folds: &[Fold],
    pipeline: &PipelineConfig,
    protocol: &str,
    on_fold: &mut dyn FnMut(usize, f64),
) -> Result<CompareRow> {
    let side = params.arch.input_size;
    let all: Vec<&Sample> = samples.iter().collect();
    let crops = crop_each(&all, pipeline, side, &|| {})?;
    let (mut truth, mut pred, mut set_truth, mut set_pred) = (vec![], vec![], vec![], vec![]);
    let (mut fold_accuracy, mut skipped) = (Vec::new(), 0usize);
    let mut costs = FoldCosts::default();
    for (f, (train, test)) in folds.iter().enumerate() {
        let (train_crops, train_skipped) = crop_set(rows, train, &crops, side);
        let started = Instant::now();
        let cnn = cnn_train::train(
            &train_crops,
            CropOrigin {
                classes: rows.classes.clone(),
                pipeline: *pipeline,
                sources: vec![format!("fold {} of {protocol}", f + 1)],
                skipped: train_skipped,
                votes: None,
            },
            None,
            params,
            &Checkpoints::default(),
            &mut |_, _, _, _| {},
        )?;
        costs.seconds += started.elapsed().as_secs_f64();
        // Each test row's probabilities, or None where its image gave no crop.
        let test_crops: Vec<Option<&[u8]>> = test
            .iter()
            .map(|&r| crops[rows.sample[r]].as_deref())
            .collect();
        let readable: Vec<u8> = test_crops
            .iter()
            .flatten()
            .flat_map(|c| c.iter())
            .copied()
            .collect();
        let mut probs = cnn
            .probabilities(&readable, test_crops.iter().flatten().count())?
            .into_iter();
        let probs: Vec<Option<Vec<f32>>> = test_crops
            .iter()
            .map(|c| c.and_then(|_| probs.next()))
            .collect();
        let (mut t, mut p) = (Vec::new(), Vec::new());
        for (&r, prob) in test.iter().zip(&probs) {
            match prob {
                Some(prob) => {
                    t.push(rows.y[r] as usize);
                    p.push(argmax(prob, None));
                }
                None => skipped += 1,
            }
        }
        if let Some(keys) = &rows.sets {
            let by_row: std::collections::HashMap<usize, &Vec<f32>> = test
                .iter()
                .zip(&probs)
                .filter_map(|(&r, p)| Some((r, p.as_ref()?)))
                .collect();
            for set in crate::sets::group(keys, test) {
                let frames: Vec<Vec<f32>> = set
                    .iter()
                    .filter_map(|r| by_row.get(r).map(|p| (*p).clone()))
                    .collect();
                if let Some(mean) = mean_probabilities(&frames) {
                    set_truth.push(rows.y[set[0]] as usize);
                    set_pred.push(argmax(&mean, None));
                }
            }
        }
        let acc = accuracy_of(&t, &p);
        on_fold(f, acc);
        fold_accuracy.push(acc);
        truth.extend(t);
        pred.extend(p);
        costs.micros += micros_per_crop(&cnn, test_crops.iter().flatten().copied())?;
        costs.bytes += cnn.to_bytes()?.len() as u64;
    }
    let report = Report::new(
        format!("{protocol}; our CNN trained from scratch on each fold ({name})"),
        rows.classes.clone(),
        &truth,
        &pred,
        rows.skipped + skipped,
    );
    let set_accuracy = rows
        .sets
        .is_some()
        .then(|| accuracy_of(&set_truth, &set_pred));
    Ok(CompareRow::averaged(
        name,
        "cnn",
        report,
        fold_accuracy,
        &costs,
        set_accuracy,
    ))
}

/// The crops of the original (not mirrored) rows `of`, labelled by class index, and
/// how many of those rows' images gave no crop.
fn crop_set(
    rows: &LabelledRows,
    of: &[usize],
    crops: &[Option<Vec<u8>>],
    side: usize,
) -> (CropSet, usize) {
    let mut set = CropSet {
        pixels: Vec::new(),
        labels: Vec::new(),
        side,
        targets: None,
    };
    let mut skipped = 0;
    for &r in of.iter().filter(|&&r| !rows.mirrored[r]) {
        match &crops[rows.sample[r]] {
            Some(c) => {
                set.pixels.extend_from_slice(c);
                set.labels.push(rows.y[r]);
            }
            None => skipped += 1,
        }
    }
    (set, skipped)
}

/// Mean microseconds for the CNN alone on one crop already cut, over up to
/// [`TIMED_FACES`] crops read one at a time (after one warm-up call).
fn micros_per_crop<'a>(cnn: &CnnModel, crops: impl Iterator<Item = &'a [u8]>) -> Result<f64> {
    let timed: Vec<&[u8]> = crops.take(TIMED_FACES).collect();
    let Some(first) = timed.first() else {
        return Ok(0.0);
    };
    cnn.probabilities(first, 1)?;
    let started = Instant::now();
    for c in &timed {
        cnn.probabilities(c, 1)?;
    }
    Ok(started.elapsed().as_secs_f64() * 1e6 / timed.len() as f64)
}
