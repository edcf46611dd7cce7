//! `fer eval` of a trained model: the largest face of every labelled sample
//! through the model, scored against its label in one [`Report`], and, when
//! the samples have sets of frames, each whole set scored too.

use crate::dataset::Sample;
use crate::error::Result;
use crate::metrics::{argmax, Report, SetScore};
use crate::model::learner::mean_probabilities;
use crate::model::FaceModel;
use crate::rows::{classify_samples, FaceOutput};
use crate::sets;
use crate::workers::PipelinePool;

/// True class and model output of the largest face of every labelled sample
/// that has one, the index of that sample, and how many were skipped (a class
/// the model lacks, or no face; the first failure is logged).
pub fn labelled_outputs(
    samples: &[Sample],
    pool: &PipelinePool,
    model: &dyn FaceModel,
    on_image: &(dyn Fn() + Sync),
) -> (Vec<usize>, Vec<FaceOutput>, Vec<usize>, usize) {
    let results = classify_samples(samples, pool, model, on_image);
    let (mut truth, mut outputs, mut kept, mut skipped) = (Vec::new(), Vec::new(), Vec::new(), 0);
    let mut first_failure = None;
    for (i, (s, r)) in samples.iter().zip(results).enumerate() {
        match (r, model.classes().iter().position(|c| *c == s.label)) {
            (Ok(o), Some(c)) => {
                truth.push(c);
                outputs.push(o);
                kept.push(i);
            }
            (r, _) => {
                skipped += 1;
                if let Err(e) = r {
                    first_failure.get_or_insert(e);
                }
            }
        }
    }
    if let Some(e) = first_failure {
        tracing::warn!(
            "{skipped} of {} images skipped; first failure: {e}",
            samples.len()
        );
    }
    (truth, outputs, kept, skipped)
}

/// The report of `model` on `samples`. With `only` classes (names), each face is
/// given the most probable of those the model knows, and the protocol says so.
/// When the samples have sets (`--set-by`), the report also scores whole sets
/// ([`set_score`]).
pub fn evaluate(
    samples: &[Sample],
    pool: &PipelinePool,
    model: &dyn FaceModel,
    only: &[String],
    protocol: String,
    on_image: &(dyn Fn() + Sync),
) -> Result<Report> {
    let classes = model.classes().to_vec();
    let (truth, outputs, kept, skipped) = labelled_outputs(samples, pool, model, on_image);
    let allowed: Option<Vec<usize>> = (!only.is_empty()).then(|| {
        only.iter()
            .filter_map(|c| classes.iter().position(|m| m == c))
            .collect()
    });
    let pred: Vec<usize> = outputs
        .iter()
        .map(|o| argmax(&o.probabilities, allowed.as_deref()))
        .collect();
    let protocol = if allowed.is_some() {
        format!("{protocol} (predictions restricted to these classes)")
    } else {
        protocol
    };
    let mut report = Report::new(protocol, classes.clone(), &truth, &pred, skipped);
    if samples.iter().any(|s| s.set.is_some()) {
        let keys: Vec<String> = kept
            .iter()
            .zip(&truth)
            .map(|(&i, &c)| {
                let s = &samples[i];
                sets::row_key(s.set.as_deref(), &s.path, c as u32, false)
            })
            .collect();
        let members = sets::group(&keys, &(0..keys.len()).collect::<Vec<_>>());
        let (mut set_truth, mut set_pred) = (Vec::new(), Vec::new());
        for m in &members {
            let probs = if model.pools_sets() {
                let features: Vec<Vec<f32>> = m
                    .iter()
                    .filter_map(|&j| outputs[j].features.clone())
                    .collect();
                model.set_probabilities(&features)?
            } else {
                let probs: Vec<Vec<f32>> = m
                    .iter()
                    .map(|&j| outputs[j].probabilities.clone())
                    .collect();
                mean_probabilities(&probs).unwrap_or_default()
            };
            set_truth.push(truth[m[0]]);
            set_pred.push(argmax(&probs, allowed.as_deref()));
        }
        report.per_set = Some(SetScore::new(
            set_pooling(model.pools_sets()),
            classes,
            &set_truth,
            &set_pred,
        ));
    }
    Ok(report)
}

/// How a model's sets are pooled, as the report says it.
pub fn set_pooling(learned: bool) -> String {
    if learned {
        "the set model's learned pooling of the frames' features".into()
    } else {
        "the mean of the frames' probabilities".into()
    }
}
