//! Grouped k-fold cross-validation of training: folds that keep each subject on
//! one side, one model trained per fold, and its predictions on the fold's test
//! rows, frame by frame and, when the rows have sets (`--set-by`), set by set.

use crate::error::{FerError, Result};
use crate::metrics::{argmax, group_kfold, Report, SetScore};
use crate::model::Model;
use crate::rows::LabelledRows;
use crate::train::{fit, row_for, FitOptions};
use std::collections::BTreeSet;

/// Training and test rows of one evaluation fold.
pub type Fold = (Vec<usize>, Vec<usize>);

/// Grouped k-fold: each fold tests on its groups' original (not mirrored) rows
/// and trains on every row of the other groups.
pub fn cv_folds(rows: &LabelledRows, k: usize) -> Result<Vec<Fold>> {
    if k < 2 {
        return Err(FerError::param("cv", "needs at least 2 folds"));
    }
    let distinct = rows.groups.iter().collect::<BTreeSet<_>>().len();
    if distinct < k {
        return Err(FerError::Training(format!(
            "{distinct} groups cannot make {k} folds"
        )));
    }
    let fold = group_kfold(&rows.groups, k);
    Ok((0..k)
        .map(|f| {
            let train = (0..rows.x.len()).filter(|&r| fold[r] != f).collect();
            let test = (0..rows.x.len())
                .filter(|&r| fold[r] == f && !rows.mirrored[r])
                .collect();
            (train, test)
        })
        .collect())
}

/// True and predicted classes of `test` rows under `model`.
pub fn predict_rows(
    model: &Model,
    rows: &LabelledRows,
    test: &[usize],
) -> Result<(Vec<usize>, Vec<usize>)> {
    let test_x: Vec<Vec<f32>> = test
        .iter()
        .map(|&r| row_for(model, &rows.x[r]).to_vec())
        .collect();
    let probs = model.predict(&test_x)?;
    let truth = test.iter().map(|&r| rows.y[r] as usize).collect();
    let pred = probs.iter().map(|p| argmax(p, None)).collect();
    Ok((truth, pred))
}

/// Share of equal entries.
pub fn accuracy_of(truth: &[usize], pred: &[usize]) -> f64 {
    truth.iter().zip(pred).filter(|(t, p)| t == p).count() as f64 / truth.len().max(1) as f64
}

/// Grouped k-fold cross-validation: each fold's model is trained (with its own
/// grouped validation split for early stopping) on the other folds and predicts
/// this one; predictions from all folds make one report. When the rows have
/// sets (`--set-by`), each fold's test sets are also read whole
/// ([`Model::predict_set`]) and scored in the report's `per_set`.
pub fn cross_validate(
    rows: &LabelledRows,
    k: usize,
    opts: &FitOptions,
    on_fold: &mut dyn FnMut(usize, f64),
) -> Result<Report> {
    let mut truth = Vec::new();
    let mut pred = Vec::new();
    let mut fold_accuracy = Vec::new();
    let (mut set_truth, mut set_pred, mut set_fold_accuracy) = (Vec::new(), Vec::new(), Vec::new());
    let mut learned = false;
    for (f, (train, test)) in cv_folds(rows, k)?.iter().enumerate() {
        let model = fit(rows, train, opts, &mut |_, _, _, _| {})?;
        let (t, p) = predict_rows(&model, rows, test)?;
        let acc = accuracy_of(&t, &p);
        truth.extend(t);
        pred.extend(p);
        fold_accuracy.push(acc);
        if let Some(keys) = &rows.sets {
            let (t, p) = predict_sets(&model, rows, &crate::sets::group(keys, test))?;
            set_fold_accuracy.push(accuracy_of(&t, &p));
            set_truth.extend(t);
            set_pred.extend(p);
            learned = model.classifier().pools_sets();
        }
        on_fold(f, acc);
    }
    let mut report = Report::new(
        format!("{k}-fold cross-validation grouped by subject (no subject in two folds); each fold trains its own {} model", opts.kind),
        rows.classes.clone(),
        &truth,
        &pred,
        rows.skipped,
    );
    report.fold_accuracy = fold_accuracy;
    if rows.sets.is_some() {
        let mut score = SetScore::new(
            crate::evaluate::set_pooling(learned),
            rows.classes.clone(),
            &set_truth,
            &set_pred,
        );
        score.fold_accuracy = set_fold_accuracy;
        report.per_set = Some(score);
    }
    Ok(report)
}

/// True and predicted classes of whole `sets` of rows under `model`.
pub fn predict_sets(
    model: &Model,
    rows: &LabelledRows,
    sets: &[Vec<usize>],
) -> Result<(Vec<usize>, Vec<usize>)> {
    let (mut truth, mut pred) = (
        Vec::with_capacity(sets.len()),
        Vec::with_capacity(sets.len()),
    );
    for set in sets {
        let x: Vec<Vec<f32>> = set
            .iter()
            .map(|&r| row_for(model, &rows.x[r]).to_vec())
            .collect();
        truth.push(rows.y[set[0]] as usize);
        pred.push(argmax(&model.predict_set(&x)?, None));
    }
    Ok((truth, pred))
}
