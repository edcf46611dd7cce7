//! `fer eval` of a trained model: the largest face of every labelled sample
//! through the model, scored against its label in one [`Report`].

use crate::dataset::Sample;
use crate::error::Result;
use crate::metrics::{argmax, Report};
use crate::model::FaceModel;
use crate::rows::classify_samples;
use crate::workers::PipelinePool;

/// True class and model probabilities of the largest face of every labelled
/// sample, and how many were skipped (a class the model lacks, or no face; the
/// first failure is logged).
pub fn labelled_probabilities(
    samples: &[Sample],
    pool: &PipelinePool,
    model: &dyn FaceModel,
    on_image: &(dyn Fn() + Sync),
) -> (Vec<usize>, Vec<Vec<f32>>, usize) {
    let results = classify_samples(samples, pool, model, on_image);
    let (mut truth, mut probs, mut skipped) = (Vec::new(), Vec::new(), 0);
    let mut first_failure = None;
    for (s, r) in samples.iter().zip(results) {
        match (r, model.classes().iter().position(|c| *c == s.label)) {
            (Ok(p), Some(c)) => {
                truth.push(c);
                probs.push(p);
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
    (truth, probs, skipped)
}

/// The report of `model` on `samples`. With `only` classes (names), each face is
/// given the most probable of those the model knows, and the protocol says so.
pub fn evaluate(
    samples: &[Sample],
    pool: &PipelinePool,
    model: &dyn FaceModel,
    only: &[String],
    protocol: String,
    on_image: &(dyn Fn() + Sync),
) -> Result<Report> {
    let classes = model.classes().to_vec();
    let (truth, probs, skipped) = labelled_probabilities(samples, pool, model, on_image);
    let allowed: Option<Vec<usize>> = (!only.is_empty()).then(|| {
        only.iter()
            .filter_map(|c| classes.iter().position(|m| m == c))
            .collect()
    });
    let pred: Vec<usize> = probs
        .iter()
        .map(|p| argmax(p, allowed.as_deref()))
        .collect();
    let protocol = if allowed.is_some() {
        format!("{protocol} (predictions restricted to these classes)")
    } else {
        protocol
    };
    Ok(Report::new(protocol, classes, &truth, &pred, skipped))
}
