//! Multinomial logistic regression from linfa (`linfa-logistic`), the classical
//! baseline papers quote beside their networks: one linear map of the
//! standardised features to the classes, softmax, fitted with L-BFGS under an
//! L2 penalty. Features go to linfa as an `ndarray::Array2<f64>` ([`crate::model::linfa_input`]).
//!
//! Stored in the bundle as linfa's fitted model, serde JSON in a `u8` tensor
//! `logistic.json`.

use crate::error::{FerError, Result};
use crate::model::learner::{guard, Classify, FitJob, Fitted, Learner, LoadJob, Trained};
use crate::model::linfa_input::rows_matrix;
use crate::model::net::EpochCallback;
use crate::model::reduction::{fit_reduced, load_reduced};
use linfa::prelude::*;
use linfa_logistic::{MultiFittedLogisticRegression, MultiLogisticRegression};
use ndarray::Array1;
use std::any::Any;

/// L2 penalty (linfa's `alpha`, its default).
pub const LOGISTIC_ALPHA: f64 = 1.0;
/// L-BFGS iterations at most.
pub const LOGISTIC_MAX_ITERATIONS: u64 = 200;

/// Bundle tensor holding the fitted model (serde JSON bytes).
pub const LOGISTIC_TENSOR: &str = "logistic.json";

/// A fitted multinomial logistic regression over `classes` classes.
pub struct Logistic {
    model: MultiFittedLogisticRegression<f64, u32>,
    classes: usize,
}

impl Logistic {
    /// Fit on `rows` of the row-major `x` `[*, dim]`.
    pub fn fit(x: &[f32], y: &[u32], rows: &[usize], dim: usize, classes: usize) -> Result<Self> {
        let records = rows_matrix(x, rows, dim)?;
        let targets: Array1<u32> = rows.iter().map(|&r| y[r]).collect();
        let model = MultiLogisticRegression::default()
            .alpha(LOGISTIC_ALPHA)
            .max_iterations(LOGISTIC_MAX_ITERATIONS)
            .fit(&Dataset::new(records, targets))
            .map_err(|e| FerError::Training(format!("logistic regression: {e}")))?;
        Ok(Logistic { model, classes })
    }

    /// Probabilities `[n][classes]` of the row-major `x` `[n, dim]`; a class the
    /// fit never saw gets 0.
    pub fn probabilities(&self, x: &[f32], n: usize, dim: usize) -> Result<Vec<Vec<f32>>> {
        let all: Vec<usize> = (0..n).collect();
        let p = self
            .model
            .predict_probabilities(&rows_matrix(x, &all, dim)?);
        let seen = self.model.classes();
        Ok(p.outer_iter()
            .map(|row| {
                let mut out = vec![0f32; self.classes];
                for (&c, &v) in seen.iter().zip(row.iter()) {
                    if let Some(slot) = out.get_mut(c as usize) {
                        *slot = v as f32;
                    }
                }
                out
            })
            .collect())
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.model)
            .map_err(|e| FerError::Training(format!("saving the logistic regression: {e}")))
    }

    pub fn from_bytes(bytes: &[u8], classes: usize) -> Result<Self> {
        let model = serde_json::from_slice(bytes)
            .map_err(|e| FerError::Training(format!("logistic regression unreadable: {e}")))?;
        Ok(Logistic { model, classes })
    }
}

impl Classify for Logistic {
    fn probabilities(&self, x: &[f32], n: usize, dim: usize) -> Result<Vec<Vec<f32>>> {
        guard("logistic", || Logistic::probabilities(self, x, n, dim))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The `logistic` kind.
pub struct LogisticKind;

impl Learner for LogisticKind {
    fn name(&self) -> &'static str {
        "logistic"
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
            LOGISTIC_TENSOR,
            |x, dim| Logistic::fit(x, y, rows, dim, job.classes),
            Logistic::to_bytes,
        )
    }
    fn load(&self, job: &LoadJob) -> Result<Box<dyn Classify>> {
        let m = Logistic::from_bytes(&job.bytes(LOGISTIC_TENSOR)?, job.classes)?;
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
        let m = Logistic::fit(&x, &y, &rows, dim, 4).unwrap();
        let p = m.probabilities(&x, y.len(), dim).unwrap();
        let right = crate::model::linfa_input::share_right(&p, &y);
        assert!(right > 0.95, "{right}");
        assert_eq!(p[0][3], 0.0, "an unseen class");
        // Through the bundle bytes.
        let back = Logistic::from_bytes(&m.to_bytes().unwrap(), 4).unwrap();
        assert_eq!(back.probabilities(&x, y.len(), dim).unwrap(), p);
    }
}
