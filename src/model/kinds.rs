//! The registry of model kinds. Each kind is one file that implements
//! [`Learner`] (and [`crate::model::learner::Classify`] for its model); listing it
//! in [`REGISTRY`] makes it a `--model` of `fer train`, a row of `fer compare` and
//! a kind a bundle can hold. A [`ModelKind`] is a handle to a registered learner.

use crate::error::{FerError, Result};
use crate::model::boost::BoostKind;
use crate::model::dndt::DndtKind;
use crate::model::ensemble::EnsembleKind;
use crate::model::forest::ForestKind;
use crate::model::gnn::GnnKind;
use crate::model::learner::Learner;
use crate::model::logistic::LogisticKind;
use crate::model::mlp::MlpKind;
use crate::model::ndf::NdfKind;
use crate::model::set_kind::SetKind;
use crate::model::set_net::SetPool;
use crate::model::soft_tree::SoftTreeKind;
use crate::model::svm::SvmKind;
use std::fmt;
use std::str::FromStr;

/// Every kind, in the order `fer compare` lists them.
static REGISTRY: [&dyn Learner; 13] = [
    &MlpKind,
    &ForestKind,
    &BoostKind,
    &SoftTreeKind,
    &NdfKind,
    &DndtKind,
    &EnsembleKind,
    &LogisticKind,
    &SvmKind,
    &GnnKind,
    &SetKind(SetPool::Max),
    &SetKind(SetPool::Mean),
    &SetKind(SetPool::Attention),
];

/// Which classifier a bundle holds: a registered [`Learner`]. Equal when the names are.
#[derive(Clone, Copy)]
pub struct ModelKind(&'static dyn Learner);

impl ModelKind {
    /// Multi-layer perceptron.
    pub const MLP: ModelKind = ModelKind(&MlpKind);
    /// Random forest (smartcore trees), probabilities from vote fractions.
    pub const FOREST: ModelKind = ModelKind(&ForestKind);
    /// Gradient boosting (perpetual), one-vs-rest with coupled probabilities.
    pub const BOOST: ModelKind = ModelKind(&BoostKind);
    /// Soft binary decision tree (Frosst & Hinton 2017), on labels or distilled.
    pub const SOFT_TREE: ModelKind = ModelKind(&SoftTreeKind);
    /// Deep neural decision forest (Kontschieder et al. 2015).
    pub const NDF: ModelKind = ModelKind(&NdfKind);
    /// Deep neural decision tree (Yang et al. 2018).
    pub const DNDT: ModelKind = ModelKind(&DndtKind);
    /// Soft voting of MLP, forest and boosting.
    pub const ENSEMBLE: ModelKind = ModelKind(&EnsembleKind);
    /// Multinomial logistic regression (linfa), the classical baseline.
    pub const LOGISTIC: ModelKind = ModelKind(&LogisticKind);
    /// One-vs-rest linear SVMs (linfa), Platt-calibrated: the other classical baseline.
    pub const SVM: ModelKind = ModelKind(&SvmKind);
    /// Graph convolutional network over the fiducial points.
    pub const GNN: ModelKind = ModelKind(&GnnKind);

    /// Every registered kind, in registry order.
    pub fn all() -> impl Iterator<Item = ModelKind> {
        REGISTRY.iter().map(|l| ModelKind(*l))
    }

    /// The registered names, as written on the command line and in bundle headers.
    pub fn names() -> Vec<&'static str> {
        REGISTRY.iter().map(|l| l.name()).collect()
    }

    /// The kind's learner.
    pub fn learner(self) -> &'static dyn Learner {
        self.0
    }

    /// The name of this kind.
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// Whether the model is one network trained by gradient (what partial labels
    /// and latent truth change).
    pub fn is_network(self) -> bool {
        self.0.is_network()
    }

    /// Whether the model reads the point features, which training turns on.
    pub fn reads_points(self) -> bool {
        self.0.reads_points()
    }

    /// Whether the model learns from sets of frames (`--set-by`).
    pub fn needs_sets(self) -> bool {
        self.0.needs_sets()
    }

    /// Whether the model is trained with early stopping on a validation split.
    pub fn uses_validation(self) -> bool {
        self.0.uses_validation()
    }
}

impl PartialEq for ModelKind {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for ModelKind {}

impl std::hash::Hash for ModelKind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state)
    }
}

impl fmt::Debug for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ModelKind {
    type Err = FerError;
    fn from_str(s: &str) -> Result<Self> {
        ModelKind::all().find(|k| k.name() == s).ok_or_else(|| {
            FerError::param(
                "model kind",
                format!("`{s}` is not one of {}", ModelKind::names().join(", ")),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let names = ModelKind::names();
        for k in ModelKind::all() {
            assert_eq!(k.name().parse::<ModelKind>().unwrap(), k);
        }
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        assert!("tree".parse::<ModelKind>().is_err());
    }
}
