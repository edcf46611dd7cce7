//! Random forest from smartcore's CART trees. smartcore's
//! `RandomForestClassifier` only returns the majority class, so each tree is
//! grown as a one-tree smartcore forest (class-stratified bootstrap sample,
//! `sqrt(dim)` candidate features per split, Gini impurity, its own seed) and the
//! class probabilities are the vote fractions over the trees. Growing trees one
//! by one also lets them grow in parallel.
//!
//! Stored in the bundle as the trees' serde JSON in a `u8` tensor `forest.json`.

use crate::error::{FerError, Result};
use crate::model::learner::{
    bytes_tensor, guard, Classify, FitJob, Fitted, Learner, LoadJob, Trained,
};
use crate::model::net::{EpochCallback, TrainReport};
use crate::model::params::ValidTreeParams;
use rayon::prelude::*;
use smartcore::ensemble::random_forest_classifier::{
    RandomForestClassifier, RandomForestClassifierParameters,
};
use smartcore::linalg::basic::matrix::DenseMatrix;
use std::any::Any;
use std::time::Instant;

type OneTree = RandomForestClassifier<f32, u32, DenseMatrix<f32>, Vec<u32>>;

/// A trained random forest.
pub struct Forest {
    trees: Vec<OneTree>,
    classes: usize,
}

fn matrix(x: &[f32], n: usize, dim: usize) -> Result<DenseMatrix<f32>> {
    DenseMatrix::new(n, dim, x.to_vec(), false)
        .map_err(|e| FerError::Training(format!("forest input: {e}")))
}

impl Forest {
    /// Grow `params.forest_trees` trees on `rows` of the row-major `x` `[*, dim]`.
    pub fn fit(
        x: &[f32],
        y: &[u32],
        rows: &[usize],
        dim: usize,
        classes: usize,
        params: &ValidTreeParams,
        seed: u64,
    ) -> Result<Self> {
        let mut xs = Vec::with_capacity(rows.len() * dim);
        for &r in rows {
            xs.extend_from_slice(&x[r * dim..(r + 1) * dim]);
        }
        let ys: Vec<u32> = rows.iter().map(|&r| y[r]).collect();
        let xm = matrix(&xs, rows.len(), dim)?;
        drop(xs);
        let base = RandomForestClassifierParameters::default()
            .with_n_trees(1)
            .with_min_samples_leaf(params.forest_min_leaf);
        let base = if params.forest_max_depth > 0 {
            base.with_max_depth(params.forest_max_depth)
        } else {
            base
        };
        let trees = (0..params.forest_trees as u64)
            .into_par_iter()
            .map(|t| {
                OneTree::fit(&xm, &ys, base.clone().with_seed(seed.wrapping_add(t)))
                    .map_err(|e| FerError::Training(format!("random forest: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Forest { trees, classes })
    }

    /// Vote fractions `[n][classes]` for the row-major `x` `[n, dim]`.
    pub fn probabilities(&self, x: &[f32], n: usize, dim: usize) -> Result<Vec<Vec<f32>>> {
        let xm = matrix(x, n, dim)?;
        let mut votes = vec![vec![0f32; self.classes]; n];
        for tree in &self.trees {
            let pred = tree
                .predict(&xm)
                .map_err(|e| FerError::Training(format!("random forest: {e}")))?;
            for (v, &c) in votes.iter_mut().zip(&pred) {
                if let Some(slot) = v.get_mut(c as usize) {
                    *slot += 1.0;
                }
            }
        }
        let n_trees = self.trees.len().max(1) as f32;
        votes
            .iter_mut()
            .for_each(|v| v.iter_mut().for_each(|p| *p /= n_trees));
        Ok(votes)
    }

    /// Number of trees.
    pub fn len(&self) -> usize {
        self.trees.len()
    }

    /// Whether the forest has no trees.
    pub fn is_empty(&self) -> bool {
        self.trees.is_empty()
    }

    /// Serialise the trees.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(&self.trees)
            .map_err(|e| FerError::Training(format!("saving the forest: {e}")))
    }

    /// Read trees written by [`Forest::to_bytes`].
    pub fn from_bytes(bytes: &[u8], classes: usize) -> Result<Self> {
        let trees: Vec<OneTree> = serde_json::from_slice(bytes)
            .map_err(|e| FerError::Training(format!("forest unreadable: {e}")))?;
        if trees.is_empty() {
            return Err(FerError::Training("forest has no trees".into()));
        }
        Ok(Forest { trees, classes })
    }
}

/// Bundle tensor holding the forest's trees (serde JSON bytes).
pub const FOREST_TENSOR: &str = "forest.json";

/// The `forest` kind.
pub struct ForestKind;

impl Classify for Forest {
    fn probabilities(&self, x: &[f32], n: usize, dim: usize) -> Result<Vec<Vec<f32>>> {
        guard("forest", || Forest::probabilities(self, x, n, dim))
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Learner for ForestKind {
    fn name(&self) -> &'static str {
        "forest"
    }
    fn is_network(&self) -> bool {
        false
    }
    fn fit(&self, job: &FitJob, _: &mut Trained, _: &mut EpochCallback) -> Result<Fitted> {
        let started = Instant::now();
        let (set, split) = (job.set, job.split);
        let f = Forest::fit(
            set.x,
            set.y,
            &split.all,
            set.dim,
            job.classes,
            job.trees,
            job.params.seed,
        )?;
        let tensors = vec![(FOREST_TENSOR.to_string(), bytes_tensor(f.to_bytes()?)?)];
        Ok(Fitted::new(f, tensors, TrainReport::single_pass(), started))
    }
    fn load(&self, job: &LoadJob) -> Result<Box<dyn Classify>> {
        Ok(Box::new(Forest::from_bytes(
            &job.bytes(FOREST_TENSOR)?,
            job.classes,
        )?))
    }
}
