//! Gradient boosting with perpetual: one-vs-rest, one log-loss `PerpetualBooster`
//! per class, the class probabilities being the boosters' probabilities
//! normalised to sum to one. perpetual needs no learning rate or tree count:
//! its `budget` sets how hard it fits.
//!
//! Not perpetual's `MultiOutputBooster`: with more than 96 features it always
//! takes its shared-logit multiclass path, which sizes its histogram arena by
//! rows x features x bins without a memory limit (on CK+, 3,112 rows of 1,974
//! features, it asked for 224 GB and aborted). The single booster sizes its
//! arena by [`BOOST_MEMORY_GB`].
//!
//! Stored in the bundle as the boosters' JSON in a `u8` tensor `boost.json`.

use crate::error::{FerError, Result};
use crate::model::learner::{
    bytes_tensor, guard, Classify, FitJob, Fitted, Learner, LoadJob, Trained,
};
use crate::model::net::{EpochCallback, TrainReport};
use crate::model::params::ValidTreeParams;
use perpetual::booster::config::BoosterIO;
use perpetual::objective::Objective;
use perpetual::{Matrix, PerpetualBooster};
use std::any::Any;
use std::time::Instant;

/// Memory perpetual may plan its histograms for, per booster, in GB.
pub const BOOST_MEMORY_GB: f32 = 2.0;

/// Trained boosters, one per class.
pub struct Boost {
    boosters: Vec<PerpetualBooster>,
}

/// Column-major f64 copy of `rows` of the row-major `x` `[*, dim]`, as perpetual wants.
fn column_major(x: &[f32], rows: &[usize], dim: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(rows.len() * dim);
    for j in 0..dim {
        out.extend(rows.iter().map(|&r| x[r * dim + j] as f64));
    }
    out
}

impl Boost {
    /// Fit on `rows` of the row-major `x` `[*, dim]`.
    pub fn fit(
        x: &[f32],
        y: &[u32],
        rows: &[usize],
        dim: usize,
        classes: usize,
        params: &ValidTreeParams,
        seed: u64,
    ) -> Result<Self> {
        let data = column_major(x, rows, dim);
        let matrix = Matrix::new(&data, rows.len(), dim);
        let mut boosters = Vec::with_capacity(classes);
        for c in 0..classes {
            let target: Vec<f64> = rows
                .iter()
                .map(|&r| if y[r] as usize == c { 1.0 } else { 0.0 })
                .collect();
            let mut b = PerpetualBooster::default()
                .set_objective(Objective::LogLoss)
                .set_budget(params.boost_budget)
                .set_memory_limit(Some(BOOST_MEMORY_GB))
                .set_max_bin(params.boost_max_bin)
                .set_seed(seed);
            if target.iter().any(|&t| t > 0.0) {
                b.fit(&matrix, &target, None, None)
                    .map_err(|e| FerError::Training(format!("boosting class {c}: {e}")))?;
            }
            // A class absent from the rows keeps an unfitted booster; its output is masked below.
            boosters.push(b);
        }
        Ok(Boost { boosters })
    }

    /// Class probabilities `[n][classes]` for the row-major `x` `[n, dim]`.
    pub fn probabilities(&self, x: &[f32], n: usize, dim: usize) -> Result<Vec<Vec<f32>>> {
        let rows: Vec<usize> = (0..n).collect();
        let data = column_major(x, &rows, dim);
        let matrix = Matrix::new(&data, n, dim);
        let mut out = vec![vec![0f32; self.boosters.len()]; n];
        for (c, b) in self.boosters.iter().enumerate() {
            if b.get_prediction_trees().is_empty() {
                continue; // class never seen in training
            }
            let p = b.predict_proba(&matrix, false, false);
            if p.len() != n {
                return Err(FerError::Training(format!(
                    "booster {c} gave {} outputs for {n} rows",
                    p.len()
                )));
            }
            for (row, v) in out.iter_mut().zip(p) {
                row[c] = v as f32;
            }
        }
        for row in &mut out {
            let sum: f32 = row.iter().sum();
            if sum > 0.0 {
                row.iter_mut().for_each(|v| *v /= sum);
            }
        }
        Ok(out)
    }

    /// Serialise the boosters (a JSON array of perpetual's own JSON).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let parts = self
            .boosters
            .iter()
            .map(|b| {
                b.json_dump()
                    .map_err(|e| FerError::Training(format!("saving the booster: {e}")))
            })
            .collect::<Result<Vec<String>>>()?;
        serde_json::to_vec(&parts)
            .map_err(|e| FerError::Training(format!("saving the booster: {e}")))
    }

    /// Read boosters written by [`Boost::to_bytes`].
    pub fn from_bytes(bytes: &[u8], classes: usize) -> Result<Self> {
        let parts: Vec<String> = serde_json::from_slice(bytes)
            .map_err(|e| FerError::Training(format!("booster unreadable: {e}")))?;
        if parts.len() != classes {
            return Err(FerError::Training(format!(
                "{} boosters for {classes} classes",
                parts.len()
            )));
        }
        let boosters = parts
            .iter()
            .map(|p| {
                PerpetualBooster::from_json(p)
                    .map_err(|e| FerError::Training(format!("booster unreadable: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Boost { boosters })
    }
}

/// Bundle tensor holding the booster (perpetual JSON bytes).
pub const BOOST_TENSOR: &str = "boost.json";

/// The `boost` kind.
pub struct BoostKind;

impl Classify for Boost {
    fn probabilities(&self, x: &[f32], n: usize, dim: usize) -> Result<Vec<Vec<f32>>> {
        guard("booster", || Boost::probabilities(self, x, n, dim))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Learner for BoostKind {
    fn name(&self) -> &'static str {
        "boost"
    }
    fn is_network(&self) -> bool {
        false
    }
    fn fit(&self, job: &FitJob, _: &mut Trained, _: &mut EpochCallback) -> Result<Fitted> {
        let started = Instant::now();
        let (set, split) = (job.set, job.split);
        let b = Boost::fit(
            set.x,
            set.y,
            &split.all,
            set.dim,
            job.classes,
            job.trees,
            job.params.seed,
        )?;
        let tensors = vec![(BOOST_TENSOR.to_string(), bytes_tensor(b.to_bytes()?)?)];
        Ok(Fitted::new(b, tensors, TrainReport::single_pass(), started))
    }
    fn load(&self, job: &LoadJob) -> Result<Box<dyn Classify>> {
        Ok(Box::new(Boost::from_bytes(
            &job.bytes(BOOST_TENSOR)?,
            job.classes,
        )?))
    }
}
