//! The hyperparameters of the tree models, validated once
//! ([`TreeParams::check`]) before training. The networks trained by gradient
//! (soft tree, forest of soft trees, DNDT) also use the optimiser settings of
//! [`crate::model::mlp::MlpParams`].

use crate::error::{FerError, Result};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The model a soft tree is distilled from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Teacher {
    /// The MLP, trained on the same rows first.
    Mlp,
    /// The soft-voting ensemble, trained on the same rows first.
    Ensemble,
    /// A deep model's probabilities carried by the rows ([`crate::rows::LabelledRows::teacher`]);
    /// with it every network (MLP, soft tree, ndf, dndt) learns from them.
    Deep,
}

impl FromStr for Teacher {
    type Err = FerError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mlp" => Ok(Teacher::Mlp),
            "ensemble" => Ok(Teacher::Ensemble),
            "deep" => Ok(Teacher::Deep),
            _ => Err(FerError::param(
                "distill",
                format!("teacher `{s}` is not one of mlp, ensemble, deep"),
            )),
        }
    }
}

/// Most leaves a deep neural decision tree may have ((cuts + 1) ^ features).
pub const MAX_DNDT_LEAVES: usize = 4096;
/// Deepest soft tree (2^depth leaves).
pub const MAX_TREE_DEPTH: usize = 10;

/// Most principal components `--pca` may ask for.
pub const MAX_PCA_COMPONENTS: usize = 4096;

/// Hyperparameters of the tree models, before validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TreeParams {
    /// Random forest: number of trees.
    pub forest_trees: usize,
    /// Random forest: deepest a tree may grow (0: no limit).
    pub forest_max_depth: u16,
    /// Random forest: fewest training rows in a leaf.
    pub forest_min_leaf: usize,
    /// Boosting: perpetual's `budget` (higher fits harder and takes longer).
    pub boost_budget: f32,
    /// Boosting: histogram bins per feature (fewer is faster).
    pub boost_max_bin: u16,
    /// Soft tree: depth (2^depth leaves).
    pub depth: usize,
    /// Soft tree: strength of the balanced-split penalty (Frosst & Hinton's lambda).
    pub penalty: f32,
    /// Soft tree: distil from this teacher instead of training on labels.
    pub distill: Option<Teacher>,
    /// Distillation temperature T: targets are the teacher's softmax(logits / T).
    pub temperature: f32,
    /// Neural decision forest: number of trees.
    pub ndf_trees: usize,
    /// Neural decision forest: depth of each tree.
    pub ndf_depth: usize,
    /// DNDT: how many features are binned (chosen by ANOVA F-score).
    pub dndt_features: usize,
    /// DNDT: cut points per feature.
    pub dndt_cuts: usize,
    /// DNDT: softmax temperature of the soft binning (smaller is closer to hard bins).
    pub dndt_tau: f32,
    /// Logistic regression and svm: principal components the features are
    /// projected onto first (linfa's PCA; 0: none).
    pub pca: usize,
}

impl Default for TreeParams {
    fn default() -> Self {
        TreeParams {
            forest_trees: 100,
            forest_max_depth: 0,
            forest_min_leaf: 1,
            boost_budget: 0.3,
            // 32 bins instead of perpetual's 256: 89 s instead of 370 s on CK+ (1,974 features).
            boost_max_bin: 32,
            depth: 5,
            penalty: 0.01,
            distill: None,
            temperature: 4.0,
            ndf_trees: 5,
            ndf_depth: 4,
            dndt_features: 8,
            dndt_cuts: 1,
            dndt_tau: 0.1,
            pca: 0,
        }
    }
}

/// Tree hyperparameters that passed [`TreeParams::check`].
#[derive(Debug, Clone, PartialEq)]
pub struct ValidTreeParams(TreeParams);

impl std::ops::Deref for ValidTreeParams {
    type Target = TreeParams;
    fn deref(&self) -> &TreeParams {
        &self.0
    }
}

impl ValidTreeParams {
    /// The same parameters with another distillation teacher (which cannot make them invalid).
    pub fn with_distill(&self, distill: Option<Teacher>) -> ValidTreeParams {
        ValidTreeParams(TreeParams {
            distill,
            ..self.0.clone()
        })
    }

    /// The same parameters with another number of principal components (at most
    /// the checked limit, so still valid).
    pub fn with_pca(&self, pca: usize) -> ValidTreeParams {
        ValidTreeParams(TreeParams {
            pca: pca.min(MAX_PCA_COMPONENTS),
            ..self.0.clone()
        })
    }
}

impl TreeParams {
    /// Validate once, before training.
    pub fn check(self) -> Result<ValidTreeParams> {
        if !(1..=10_000).contains(&self.forest_trees) {
            return Err(FerError::param(
                "forest_trees",
                format!("must be 1..=10000, got {}", self.forest_trees),
            ));
        }
        if self.forest_min_leaf == 0 {
            return Err(FerError::param("forest_min_leaf", "must be at least 1"));
        }
        if !(self.boost_budget > 0.0 && self.boost_budget <= 10.0) {
            return Err(FerError::param(
                "boost_budget",
                format!("must be in (0, 10], got {}", self.boost_budget),
            ));
        }
        if !(2..=1024).contains(&self.boost_max_bin) {
            return Err(FerError::param(
                "boost_max_bin",
                format!("must be 2..=1024, got {}", self.boost_max_bin),
            ));
        }
        for (name, depth) in [("depth", self.depth), ("ndf_depth", self.ndf_depth)] {
            if !(1..=MAX_TREE_DEPTH).contains(&depth) {
                return Err(FerError::param(
                    name,
                    format!("must be 1..={MAX_TREE_DEPTH}, got {depth}"),
                ));
            }
        }
        if !(self.penalty >= 0.0 && self.penalty.is_finite()) {
            return Err(FerError::param("penalty", "must be >= 0"));
        }
        if !(self.temperature >= 1.0 && self.temperature <= 100.0) {
            return Err(FerError::param(
                "temperature",
                format!("must be in [1, 100], got {}", self.temperature),
            ));
        }
        if !(1..=100).contains(&self.ndf_trees) {
            return Err(FerError::param(
                "ndf_trees",
                format!("must be 1..=100, got {}", self.ndf_trees),
            ));
        }
        if self.dndt_features == 0 || self.dndt_cuts == 0 {
            return Err(FerError::param(
                "dndt_features",
                "features and cuts must be at least 1",
            ));
        }
        let leaves = (self.dndt_cuts + 1).checked_pow(self.dndt_features as u32);
        if leaves.is_none_or(|l| l > MAX_DNDT_LEAVES) {
            return Err(FerError::param(
                "dndt_features",
                format!(
                    "(cuts + 1)^features = ({} + 1)^{} leaves is over {MAX_DNDT_LEAVES}",
                    self.dndt_cuts, self.dndt_features
                ),
            ));
        }
        if !(self.dndt_tau > 0.0 && self.dndt_tau <= 10.0) {
            return Err(FerError::param(
                "dndt_tau",
                format!("must be in (0, 10], got {}", self.dndt_tau),
            ));
        }
        if self.pca > MAX_PCA_COMPONENTS {
            return Err(FerError::param(
                "pca",
                format!("must be 0..={MAX_PCA_COMPONENTS}, got {}", self.pca),
            ));
        }
        Ok(ValidTreeParams(self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_many_dndt_leaves_are_refused() {
        assert!(TreeParams {
            dndt_features: 13,
            dndt_cuts: 1,
            ..Default::default()
        }
        .check()
        .is_err());
        assert!(TreeParams {
            dndt_features: 12,
            dndt_cuts: 1,
            ..Default::default()
        }
        .check()
        .is_ok());
        assert!(TreeParams {
            depth: 0,
            ..Default::default()
        }
        .check()
        .is_err());
    }
}
