//! Principal components before the linfa baselines (`--pca N` for `logistic` and
//! `svm`; the `logistic-pca` and `svm-pca` rows of `fer compare`): linfa's own
//! `linfa-reduction` PCA, fitted on the standardised training rows, projects every
//! row onto its first N components before the learner sees it. This is the check
//! the design card asks for of linfa's reduction on the HOG features. It did not
//! pay on FER2013 (README, "Model kinds": 0.16 points of accuracy, less macro-F1,
//! 30 times the time a face), so it is off unless asked for.
//!
//! Stored in the bundle as linfa's fitted PCA, serde JSON in a `u8` tensor
//! `pca.json`, present only when the model was trained with it.

use crate::error::{FerError, Result};
use crate::model::learner::{bytes_tensor, guard, Classify, FitJob, Fitted, LoadJob};
use crate::model::linfa_input::rows_matrix;
use crate::model::net::TrainReport;
use linfa::prelude::*;
use linfa_reduction::Pca;
use ndarray::Array2;
use std::any::Any;
use std::time::Instant;

/// Bundle tensor holding the fitted PCA (serde JSON bytes).
pub const PCA_TENSOR: &str = "pca.json";

/// A fitted projection onto the first principal components.
pub struct Reduction {
    pca: Pca<f64>,
}

impl Reduction {
    /// Fit `components` principal components on `records` (one row per sample).
    pub fn fit(records: &Array2<f64>, components: usize) -> Result<Self> {
        let most = records.nrows().min(records.ncols());
        if components == 0 || components > most {
            return Err(FerError::param(
                "pca",
                format!(
                    "{components} components asked of {} rows of {} features (at most {most})",
                    records.nrows(),
                    records.ncols()
                ),
            ));
        }
        let pca = Pca::params(components)
            .fit(&DatasetBase::from(records.view()))
            .map_err(|e| FerError::Training(format!("PCA: {e}")))?;
        Ok(Reduction { pca })
    }

    /// `records` projected onto the components.
    pub fn apply(&self, records: Array2<f64>) -> Array2<f64> {
        self.pca.predict(&records)
    }

    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.pca)
            .map_err(|e| FerError::Training(format!("saving the PCA: {e}")))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let pca = serde_json::from_slice(bytes)
            .map_err(|e| FerError::Training(format!("PCA unreadable: {e}")))?;
        Ok(Reduction { pca })
    }
}

/// A classifier that reads rows projected by a [`Reduction`].
pub struct Reduced {
    reduction: Reduction,
    inner: Box<dyn Classify>,
}

impl Reduced {
    /// The rows of the row-major `x` `[n, dim]`, projected: row-major `[n, components]`.
    fn project(
        reduction: &Reduction,
        x: &[f32],
        n: usize,
        dim: usize,
    ) -> Result<(Vec<f32>, usize)> {
        let all: Vec<usize> = (0..n).collect();
        let projected = reduction.apply(rows_matrix(x, &all, dim)?);
        let components = projected.ncols();
        Ok((projected.iter().map(|&v| v as f32).collect(), components))
    }
}

impl Classify for Reduced {
    fn probabilities(&self, x: &[f32], n: usize, dim: usize) -> Result<Vec<Vec<f32>>> {
        // A tampered `pca.json` of another shape makes ndarray panic: an error instead.
        let (projected, components) =
            guard("PCA", || Reduced::project(&self.reduction, x, n, dim))?;
        self.inner.probabilities(&projected, n, components)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Fit a linfa learner on the job's rows, first projected onto `job.trees.pca`
/// principal components (fitted on the training rows) when that is not 0. `fit`
/// gets the row-major rows and their dimension; `to_bytes` gives what the bundle
/// keeps of it, as tensor `tensor`, beside the PCA's.
pub fn fit_reduced<C: Classify + 'static>(
    job: &FitJob,
    tensor: &str,
    fit: impl FnOnce(&[f32], usize) -> Result<C>,
    to_bytes: impl FnOnce(&C) -> Result<Vec<u8>>,
) -> Result<Fitted> {
    let started = Instant::now();
    let set = job.set;
    let reduction = match job.trees.pca {
        0 => None,
        components => Some(Reduction::fit(
            &rows_matrix(set.x, &job.split.all, set.dim)?,
            components,
        )?),
    };
    let n = set.x.len() / set.dim.max(1);
    let projected = match &reduction {
        Some(r) => Some(Reduced::project(r, set.x, n, set.dim)?),
        None => None,
    };
    let (x, dim) = projected
        .as_ref()
        .map_or((set.x, set.dim), |(x, dim)| (x.as_slice(), *dim));
    let inner = fit(x, dim)?;
    let mut tensors = vec![(tensor.to_string(), bytes_tensor(to_bytes(&inner)?)?)];
    let classifier: Box<dyn Classify> = match reduction {
        Some(reduction) => {
            tensors.push((PCA_TENSOR.to_string(), bytes_tensor(reduction.to_bytes()?)?));
            Box::new(Reduced {
                reduction,
                inner: Box::new(inner),
            })
        }
        None => Box::new(inner),
    };
    Ok(Fitted::boxed(
        classifier,
        tensors,
        TrainReport::single_pass(),
        started,
    ))
}

/// `inner` behind the bundle's PCA, when it was trained with one.
pub fn load_reduced(job: &LoadJob, inner: Box<dyn Classify>) -> Result<Box<dyn Classify>> {
    if !job.tensors.contains_key(PCA_TENSOR) {
        return Ok(inner);
    }
    let reduction = Reduction::from_bytes(&job.bytes(PCA_TENSOR)?)?;
    Ok(Box::new(Reduced { reduction, inner }))
}
