//! A linear support vector machine from linfa (`linfa-svm`): the "HOG + SVM"
//! baseline papers quote. One machine per class against the rest, each trained by
//! linfa's SMO on the standardised features (C = 1) and calibrated by Platt
//! scaling; the class probabilities are the calibrated scores, normalised to sum
//! to one.
//!
//! Why linear, and why at most [`SVM_MAX_ROWS`] rows: linfa's SMO holds the whole
//! kernel matrix, n² entries (FER2013's 28,709 training rows would need 6.6 GB in
//! f64), so the machines learn from an even share of each class's rows up to that
//! cap; and a linear machine is one weight vector, while linfa stores an RBF
//! machine with every support vector in its serde form (hundreds of megabytes of
//! JSON for CK+'s 7 classes), too big for a bundle.
//!
//! Stored in the bundle as linfa's fitted machines, serde JSON in a `u8` tensor
//! `svm.json`.

use crate::error::{FerError, Result};
use crate::model::learner::{guard, Classify, FitJob, Fitted, Learner, LoadJob, Trained};
use crate::model::linfa_input::rows_matrix;
use crate::model::net::EpochCallback;
use crate::model::reduction::{fit_reduced, load_reduced};
use linfa::prelude::*;
use linfa_svm::Svm;
use ndarray::Array1;
use rayon::prelude::*;
use std::any::Any;

/// The penalty on margin violations, the same for both sides (linfa's and libsvm's default).
pub const SVM_C: f64 = 1.0;
/// SMO stops when the most violating pair's gradient gap falls below this (libsvm's default).
pub const SVM_TOLERANCE: f64 = 1e-3;
/// Most training rows the machines learn from (see the module docs).
pub const SVM_MAX_ROWS: usize = 4000;

/// Bundle tensor holding the fitted machines (serde JSON bytes).
pub const SVM_TENSOR: &str = "svm.json";

/// One calibrated machine per class (`None` for a class the fit never saw).
pub struct LinearSvm {
    machines: Vec<Option<Svm<f64, Pr>>>,
}

/// At most `max` of `rows`, each class keeping its share, taken evenly through its
/// rows (so the choice is the same in every run).
pub fn even_share(rows: &[usize], y: &[u32], classes: usize, max: usize) -> Vec<usize> {
    if rows.len() <= max {
        return rows.to_vec();
    }
    let mut chosen = Vec::with_capacity(max);
    for c in 0..classes as u32 {
        let of_class: Vec<usize> = rows.iter().copied().filter(|&r| y[r] == c).collect();
        let keep = (of_class.len() * max)
            .div_ceil(rows.len())
            .min(of_class.len());
        chosen.extend((0..keep).map(|i| of_class[i * of_class.len() / keep]));
    }
    chosen.sort_unstable();
    chosen
}

impl LinearSvm {
    /// Fit one machine per class on (an even share of) `rows` of the row-major `x` `[*, dim]`.
    pub fn fit(x: &[f32], y: &[u32], rows: &[usize], dim: usize, classes: usize) -> Result<Self> {
        let rows = even_share(rows, y, classes, SVM_MAX_ROWS);
        let records = rows_matrix(x, &rows, dim)?;
        let labels: Vec<u32> = rows.iter().map(|&r| y[r]).collect();
        let machines = (0..classes as u32)
            .into_par_iter()
            .map(|c| {
                let positives = labels.iter().filter(|&&l| l == c).count();
                if positives == 0 || positives == labels.len() {
                    return Ok(None);
                }
                let targets: Array1<bool> = labels.iter().map(|&l| l == c).collect();
                // Views: every class's machine reads the one matrix, no copy of it.
                let data = linfa::DatasetBase::new(records.view(), targets.view());
                guard("svm", || {
                    Svm::<f64, Pr>::params()
                        .linear_kernel()
                        .pos_neg_weights(SVM_C, SVM_C)
                        .eps(SVM_TOLERANCE)
                        .fit(&data)
                        .map(Some)
                        .map_err(|e| FerError::Training(format!("svm for class {c}: {e}")))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(LinearSvm { machines })
    }

    /// Probabilities `[n][classes]` of the row-major `x` `[n, dim]`.
    pub fn probabilities(&self, x: &[f32], n: usize, dim: usize) -> Result<Vec<Vec<f32>>> {
        let all: Vec<usize> = (0..n).collect();
        let records = rows_matrix(x, &all, dim)?;
        let scores: Vec<Option<Array1<Pr>>> = self
            .machines
            .iter()
            .map(|m| m.as_ref().map(|m| m.predict(&records)))
            .collect();
        Ok((0..n)
            .map(|i| {
                let mut p: Vec<f32> = scores
                    .iter()
                    .map(|s| s.as_ref().map_or(0.0, |s| *s[i]))
                    .collect();
                let sum: f32 = p.iter().sum();
                if sum > 0.0 && sum.is_finite() {
                    p.iter_mut().for_each(|v| *v /= sum);
                }
                p
            })
            .collect())
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.machines)
            .map_err(|e| FerError::Training(format!("saving the svm: {e}")))
    }

    pub fn from_bytes(bytes: &[u8], classes: usize) -> Result<Self> {
        let machines: Vec<Option<Svm<f64, Pr>>> = serde_json::from_slice(bytes)
            .map_err(|e| FerError::Training(format!("svm unreadable: {e}")))?;
        if machines.len() != classes {
            return Err(FerError::Training(format!(
                "the svm has {} machines for {classes} classes",
                machines.len()
            )));
        }
        Ok(LinearSvm { machines })
    }
}

impl Classify for LinearSvm {
    fn probabilities(&self, x: &[f32], n: usize, dim: usize) -> Result<Vec<Vec<f32>>> {
        guard("svm", || LinearSvm::probabilities(self, x, n, dim))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The `svm` kind.
pub struct SvmKind;

impl Learner for SvmKind {
    fn name(&self) -> &'static str {
        "svm"
    }
    fn is_network(&self) -> bool {
        false
    }
    /// What it learns depends on its PCA setting, not on the rows alone.
    fn reusable(&self) -> bool {
        false
    }
    fn fit(&self, job: &FitJob, _: &mut Trained, _: &mut EpochCallback) -> Result<Fitted> {
        let (y, rows) = (job.set.y, &job.split.all);
        fit_reduced(
            job,
            SVM_TENSOR,
            |x, dim| LinearSvm::fit(x, y, rows, dim, job.classes),
            LinearSvm::to_bytes,
        )
    }
    fn load(&self, job: &LoadJob) -> Result<Box<dyn Classify>> {
        let m = LinearSvm::from_bytes(&job.bytes(SVM_TENSOR)?, job.classes)?;
        load_reduced(job, Box::new(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separates_three_shifted_blobs() {
        let (dim, per) = (5, 40);
        let (x, y) = crate::model::linfa_input::shifted_blobs(dim, per);
        let rows: Vec<usize> = (0..y.len()).collect();
        let m = LinearSvm::fit(&x, &y, &rows, dim, 4).unwrap();
        let p = m.probabilities(&x, y.len(), dim).unwrap();
        let right = crate::model::linfa_input::share_right(&p, &y);
        assert!(right > 0.95, "{right}");
        assert_eq!(p[0][3], 0.0, "an unseen class");
        assert!(p.iter().all(|p| (p.iter().sum::<f32>() - 1.0).abs() < 1e-4));
        // Through the bundle bytes.
        let back = LinearSvm::from_bytes(&m.to_bytes().unwrap(), 4).unwrap();
        assert_eq!(back.probabilities(&x, y.len(), dim).unwrap(), p);
        assert!(LinearSvm::from_bytes(&m.to_bytes().unwrap(), 3).is_err());
    }

    #[test]
    fn an_even_share_keeps_each_class_in_proportion() {
        let y: Vec<u32> = (0..1000).map(|i| if i < 800 { 0 } else { 1 }).collect();
        let rows: Vec<usize> = (0..1000).collect();
        let share = even_share(&rows, &y, 2, 100);
        assert_eq!(share.iter().filter(|&&r| y[r] == 0).count(), 80);
        assert_eq!(share.iter().filter(|&&r| y[r] == 1).count(), 20);
        assert!(share.windows(2).all(|w| w[0] < w[1]), "distinct and sorted");
        assert_eq!(even_share(&rows[..50], &y, 2, 100), rows[..50].to_vec());
    }
}
